/**
 * The SDK side of the DynamoDB stand-in's in-process way in (local/dynamo-worker.mjs `servePort`): a request
 * handler for the runtime's own, unchanged DynamoDB clients that hands each request to the stand-in's thread
 * over a MessagePort and takes the answer back, instead of a loopback HTTP round trip (socket writes, HTTP
 * parsing on both threads). The request is the one the SDK built, so the stand-in checks, meters and answers
 * it exactly as it does one over HTTP; the HTTP endpoint stays for every other caller.
 */
import type { MessagePort } from 'node:worker_threads';
import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import type { AwsCredentialIdentity, HttpAuthScheme, HttpRequest, IdentityProviderConfig } from '@smithy/types';
import type { DynamoPorts } from './dynamo.js';

/** A request as the SDK hands it to its handler (`@smithy/protocol-http` HttpRequest), as far as it is used here. */
interface SdkRequest {
  method: string;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: unknown;
}

interface PortAnswer {
  id: number;
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

function bodyText(body: unknown): string {
  if (body == null) return '';
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  throw new Error('the DynamoDB port carries only string or byte bodies');
}

/** One port into one store's thread: the calls sent on it and waiting for their answers. */
class PortChannel {
  private next = 0;
  /** The stand-in's end is gone (it stopped): a message posted now would be dropped without a word. */
  private closed = false;
  private readonly waiting = new Map<number, { resolve: (answer: PortAnswer) => void; reject: (err: Error) => void }>();

  constructor(private readonly port: MessagePort) {
    port.on('message', (answer: PortAnswer) => {
      const call = this.waiting.get(answer.id);
      this.waiting.delete(answer.id);
      if (this.waiting.size === 0) port.unref();
      call?.resolve(answer);
    });
    port.on('close', () => {
      this.closed = true;
      for (const call of this.waiting.values()) call.reject(new Error('the DynamoDB stand-in closed its port'));
      this.waiting.clear();
    });
    port.unref();
  }

  call(message: Omit<PortAnswer, 'id' | 'statusCode'> & { method: string; path: string }): Promise<PortAnswer> {
    if (this.closed) return Promise.reject(new Error('the DynamoDB stand-in closed its port'));
    const id = this.next++;
    return new Promise<PortAnswer>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.port.ref();
      this.port.postMessage({ id, ...message });
    });
  }
}

/**
 * The ports of one thread's clients, one per store; it keeps the thread alive only while a request is out. A
 * request on one of the live store's tables goes straight there (the SDK writes a single-table request's
 * TableName first); any other, a batch among them, goes to the first store, which sends a live table's on.
 */
export class DynamoPortHandler {
  private readonly main: PortChannel;
  private readonly live: PortChannel;
  /** How a request on a live table begins: `{"TableName":"<name>"`, then `,` or `}`. */
  private readonly livePrefixes: string[];

  constructor(ports: DynamoPorts) {
    this.main = new PortChannel(ports.main);
    this.live = new PortChannel(ports.live);
    this.livePrefixes = ports.liveTables.map((name) => `{"TableName":${JSON.stringify(name)}`);
  }

  private channelFor(body: string): PortChannel {
    for (const prefix of this.livePrefixes) {
      const next = body.charCodeAt(prefix.length);
      // 44 ',' and 125 '}': the name ends there (not a longer name that starts the same).
      if (body.startsWith(prefix) && (next === 44 || next === 125)) return this.live;
    }
    return this.main;
  }

  async handle(request: SdkRequest, options: { abortSignal?: { aborted: boolean } } = {}) {
    if (options.abortSignal?.aborted) throw Object.assign(new Error('Request aborted'), { name: 'AbortError' });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
    const body = bodyText(request.body);
    const answer = await this.channelFor(body).call({ method: request.method, path: request.path, headers, body });
    return { response: { statusCode: answer.statusCode, headers: answer.headers, body: Buffer.from(answer.body, 'utf8') } };
  }

  updateHttpClientConfig(): void {}

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  destroy(): void {}
}

/**
 * Names the request's credential the way a SigV4 signature does, without computing one. A signature is a cost of
 * the wire (its canonical request and HMAC chain were ~15 % of a small request's CPU here): the stand-in checks
 * whose credential a request names, never a signature, and a port can only be had from the runtime itself.
 */
const credentialOnly = {
  async sign(request: HttpRequest, identity: AwsCredentialIdentity): Promise<HttpRequest> {
    const at = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
    request.headers['x-amz-date'] = at;
    request.headers.authorization =
      `AWS4-HMAC-SHA256 Credential=${identity.accessKeyId}/${at.slice(0, 8)}/local/dynamodb/aws4_request, ` +
      'SignedHeaders=host;x-amz-date, Signature=unsigned';
    return request;
  },
};

/**
 * An SDK DynamoDB client's way to the stand-in over `ports` (`LocalDynamo.connect()`): a handler of its own for
 * the ports (two on one port would take each other's answers), and unsigned requests.
 */
export function portClientConfig(ports: DynamoPorts): Pick<DynamoDBClientConfig, 'requestHandler' | 'httpAuthSchemes'> {
  const scheme: HttpAuthScheme = {
    schemeId: 'aws.auth#sigv4',
    identityProvider: (config: IdentityProviderConfig) => config.getIdentityProvider('aws.auth#sigv4'),
    signer: credentialOnly,
  };
  return { requestHandler: new DynamoPortHandler(ports), httpAuthSchemes: [scheme] };
}
