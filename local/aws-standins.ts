/**
 * The AWS service endpoints the handlers' unchanged SDK clients call locally, on an internal loopback
 * port: API Gateway's management API (`/@connections/{id}`), the IoT data plane (`/topics/{topic}`), SQS
 * `SendMessage` (into the dead-letter file) and SNS `Publish` and `PublishBatch` (alert notifications, to `onAlert`). Only requests
 * signed with the runtime's access key id are answered (403 otherwise), and it listens on loopback whatever
 * HOST is.
 */
import { createHash, randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MessageBus } from './bus.js';
import type { DeadLetterFile } from './dead-letters.js';
import type { WebSocketGateway } from './gateway.js';
import { STAND_IN_HOST, signedWith, type StandInCredentials } from './standin-credentials.js';

export interface AwsStandIns {
  endpoint: string;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024 * 8;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const escapeXml = (text: string) =>
  text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);

/** SNS speaks the query protocol: its answers are XML in this namespace. */
const SNS_XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/';

function sendXml(res: ServerResponse, status: number, xml: string) {
  res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(xml) });
  res.end(xml);
}

function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export async function startAwsStandIns(options: {
  credentials: StandInCredentials;
  gateway: WebSocketGateway;
  bus: MessageBus;
  deadLetters: DeadLetterFile;
  /** An SNS Publish to the alerts topic: its subject and message. */
  onAlert?: (notice: { subject: string; message: string }) => void;
  log: (entry: Record<string, unknown>) => void;
}): Promise<AwsStandIns> {
  const { gateway, bus, deadLetters, log } = options;

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    if (!signedWith(req.headers.authorization, options.credentials.accessKeyId)) {
      req.resume();
      return send(
        res,
        403,
        { message: 'The security token included in the request is invalid' },
        { 'x-amzn-errortype': 'UnrecognizedClientException' },
      );
    }
    const body = await readBody(req);

    const connection = /^\/@connections\/([^/]+)$/.exec(url.pathname);
    if (connection) {
      const connectionId = decodeURIComponent(connection[1]);
      if (req.method === 'POST') {
        return (await gateway.post(connectionId, body))
          ? send(res, 200)
          : send(res, 410, { message: 'GoneException' }, { 'x-amzn-errortype': 'GoneException' });
      }
      if (req.method === 'DELETE') {
        return gateway.disconnect(connectionId)
          ? send(res, 204)
          : send(res, 410, { message: 'GoneException' }, { 'x-amzn-errortype': 'GoneException' });
      }
      if (req.method === 'GET') {
        const info = gateway.info(connectionId);
        return info ? send(res, 200, info) : send(res, 410, { message: 'GoneException' }, { 'x-amzn-errortype': 'GoneException' });
      }
    }

    const topic = /^\/topics\/(.+)$/.exec(url.pathname);
    if (topic && req.method === 'POST') {
      const qos = url.searchParams.get('qos') === '0' ? 0 : 1;
      await bus.publish(decodeURIComponent(topic[1]), body, qos);
      return send(res, 200, {});
    }

    if (req.method === 'POST' && req.headers['x-amz-target'] === 'AmazonSQS.SendMessage') {
      const input = JSON.parse(body.toString('utf8')) as { MessageBody: string; QueueUrl: string };
      let message: unknown = input.MessageBody;
      try {
        message = JSON.parse(input.MessageBody);
      } catch {
        // kept as text
      }
      await deadLetters.append({
        at: new Date().toISOString(),
        ...(typeof message === 'object' && message !== null ? message : { message }),
      });
      const md5 = createHash('md5').update(input.MessageBody, 'utf8').digest('hex');
      return send(res, 200, { MessageId: randomUUID(), MD5OfMessageBody: md5 });
    }
    // SNS speaks the query protocol: a form body in, XML out.
    if (req.method === 'POST' && (req.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded')) {
      const form = new URLSearchParams(body.toString('utf8'));
      if (form.get('Action') === 'Publish') {
        options.onAlert?.({ subject: form.get('Subject') ?? '', message: form.get('Message') ?? '' });
        const xml = `<PublishResponse xmlns="${SNS_XMLNS}"><PublishResult><MessageId>${randomUUID()}</MessageId></PublishResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></PublishResponse>`;
        return sendXml(res, 200, xml);
      }
      if (form.get('Action') === 'PublishBatch') return void publishBatch(form, res);
    }
    send(res, 404, { message: `no local stand-in for ${req.method} ${url.pathname}` });
  }

  /** SNS `PublishBatch`: up to ten entries, each to `onAlert` as a Publish would be, in order. */
  function publishBatch(form: URLSearchParams, res: ServerResponse): void {
    const entries = new Map<number, { id?: string; subject?: string; message?: string }>();
    for (const [key, value] of form) {
      const m = /^PublishBatchRequestEntries\.member\.(\d{1,3})\.(Id|Subject|Message)$/.exec(key);
      if (!m) continue;
      const entry = entries.get(Number(m[1])) ?? {};
      if (m[2] === 'Id') entry.id = value;
      else if (m[2] === 'Subject') entry.subject = value;
      else entry.message = value;
      entries.set(Number(m[1]), entry);
    }
    const list = [...entries].sort(([a], [b]) => a - b).map(([, e]) => e);
    const refuse = (code: string, message: string) =>
      sendXml(
        res,
        400,
        `<ErrorResponse xmlns="${SNS_XMLNS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
      );
    if (list.length === 0) return void refuse('EmptyBatchRequest', 'The batch request does not contain any entries.');
    if (list.length > 10) return void refuse('TooManyEntriesInBatchRequest', 'The batch request contains more than 10 entries.');
    if (list.some((e) => !e.id || e.message === undefined)) return void refuse('InvalidParameter', 'Each entry needs an Id and a Message.');
    if (new Set(list.map((e) => e.id)).size !== list.length)
      return void refuse('BatchEntryIdsNotDistinct', 'Two or more entries have the same Id.');
    for (const e of list) options.onAlert?.({ subject: e.subject ?? '', message: e.message! });
    const members = list.map((e) => `<member><Id>${escapeXml(e.id!)}</Id><MessageId>${randomUUID()}</MessageId></member>`).join('');
    sendXml(
      res,
      200,
      `<PublishBatchResponse xmlns="${SNS_XMLNS}"><PublishBatchResult><Successful>${members}</Successful><Failed></Failed></PublishBatchResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></PublishBatchResponse>`,
    );
  }

  const server = http.createServer((req, res) => {
    route(req, res).catch((err: Error) => {
      log({ level: 'error', message: 'AWS stand-in request failed', url: req.url, error: err.message });
      if (!res.headersSent) send(res, 500, { message: err.message });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, STAND_IN_HOST, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${STAND_IN_HOST}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
