import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PublishBatchCommand, PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { SnsAlertNotifier } from '../../lambdas/adapters/sns-alert-notifier.js';
import type { AlertView } from '../../lambdas/core/alert-ports.js';
import { AlertWebhook } from '../../local/alert-webhook.js';
import { startAwsStandIns } from '../../local/aws-standins.js';
import type { MessageBus } from '../../local/bus.js';
import type { DeadLetterFile } from '../../local/dead-letters.js';
import type { WebSocketGateway } from '../../local/gateway.js';
import { newStandInCredentials } from '../../local/standin-credentials.js';
import './aws-matchers.js';

const ALERT: AlertView = {
  id: 'r.sensor-7.1',
  ruleId: 'r',
  ruleName: 'Hot',
  sensorId: 'sensor-7',
  metric: 'temperature',
  severity: 'critical',
  state: 'firing',
  since: 1,
  value: 31,
  acknowledged: false,
  acknowledgedBy: null,
};

describe('SNS alert notifier', () => {
  it('publishes the subject and the {kind, alert} JSON to the topic', async () => {
    const sns = mockClient(SNSClient);
    sns.on(PublishCommand).resolves({ MessageId: 'm' });
    const subject = '[critical] sensor-7 temperature > 30 °C for 2 min';
    await new SnsAlertNotifier(new SNSClient({ region: 'us-east-1' }), 'arn:aws:sns:us-east-1:1:alerts').notify([
      { kind: 'fired', alert: ALERT, subject },
    ]);
    expect(sns).toHaveReceivedCommandWith(PublishCommand, {
      TopicArn: 'arn:aws:sns:us-east-1:1:alerts',
      Subject: subject,
      Message: JSON.stringify({ kind: 'fired', alert: ALERT }),
    });
    sns.restore();
  });
});

describe('SNS alert notifier, a batch of notices', () => {
  const notice = (i: number) => ({
    kind: 'fired' as const,
    alert: { ...ALERT, id: `r.sensor-${i}.1`, sensorId: `sensor-${i}` },
    subject: `[critical] sensor-${i}`,
  });

  it('sends ten a PublishBatch, each entry the message a Publish would send', async () => {
    const sns = mockClient(SNSClient);
    sns.on(PublishBatchCommand).resolves({ Successful: [], Failed: [] });
    await new SnsAlertNotifier(new SNSClient({ region: 'us-east-1' }), 'arn:aws:sns:us-east-1:1:alerts').notify(
      Array.from({ length: 12 }, (_, i) => notice(i)),
    );
    const calls = sns.commandCalls(PublishBatchCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => c.PublishBatchRequestEntries!.length)).toEqual([10, 2]);
    expect(calls[1]).toMatchObject({
      TopicArn: 'arn:aws:sns:us-east-1:1:alerts',
      PublishBatchRequestEntries: [
        { Id: '0', Subject: '[critical] sensor-10', Message: JSON.stringify({ kind: 'fired', alert: notice(10).alert }) },
        { Id: '1', Subject: '[critical] sensor-11' },
      ],
    });
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 0);
    sns.restore();
  });

  it('fails naming each notice SNS refused, after sending the rest', async () => {
    const sns = mockClient(SNSClient);
    sns.on(PublishBatchCommand).resolves({ Failed: [{ Id: '1', Code: 'InternalError', SenderFault: false, Message: 'try again' }] });
    const notifier = new SnsAlertNotifier(new SNSClient({ region: 'us-east-1' }), 'arn:aws:sns:us-east-1:1:alerts');
    await expect(notifier.notify([notice(0), notice(1)])).rejects.toThrow(
      'SNS refused 1 of 2 alert notices: r.sensor-1.1: InternalError try again',
    );
    sns.restore();
  });

  it('the local SNS stand-in takes a real PublishBatch: each entry reaches the webhook, in order', async () => {
    const credentials = newStandInCredentials();
    const seen: Array<{ subject: string; message: string }> = [];
    const standIns = await startAwsStandIns({
      credentials,
      gateway: {} as WebSocketGateway,
      bus: {} as MessageBus,
      deadLetters: {} as DeadLetterFile,
      onAlert: (n) => seen.push(n),
      log: () => undefined,
    });
    try {
      const client = new SNSClient({ region: 'local', endpoint: standIns.endpoint, credentials });
      const notices = Array.from({ length: 3 }, (_, i) => notice(i));
      await new SnsAlertNotifier(client, 'arn:aws:sns:local:000000000000:vigia-alerts').notify(notices);
      expect(seen).toEqual(notices.map((n) => ({ subject: n.subject, message: JSON.stringify({ kind: n.kind, alert: n.alert }) })));
      // More than ten entries is SNS's own error (its code TooManyEntriesInBatchRequest, as the SDK names it).
      const eleven = Array.from({ length: 11 }, (_, i) => ({ Id: String(i), Message: 'm' }));
      await expect(
        client.send(
          new PublishBatchCommand({ TopicArn: 'arn:aws:sns:local:000000000000:vigia-alerts', PublishBatchRequestEntries: eleven }),
        ),
      ).rejects.toMatchObject({ name: 'TooManyEntriesInBatchRequestException' });
    } finally {
      await standIns.close();
    }
  });
});

describe('local alert webhook', () => {
  const servers: http.Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise<void>((resolve) => (s.closeAllConnections(), s.close(() => resolve())));
  });

  /** A receiver that answers `statuses` in turn (then 204), keeping each body. */
  async function receiver(statuses: number[], delayMs = 0) {
    const bodies: Array<{ type: string | undefined; body: string }> = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push({ type: req.headers['content-type'], body: Buffer.concat(chunks).toString() });
        setTimeout(() => res.writeHead(statuses.shift() ?? 204).end(), delayMs);
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, bodies };
  }

  it('retries a refused POST with backoff until it is delivered, as JSON', async () => {
    const r = await receiver([500, 503]);
    const hook = new AlertWebhook({ url: r.url, log: () => undefined, retryDelaysMs: [20, 20, 20] });
    hook.enqueue('{"kind":"fired"}');
    await expect.poll(() => hook.stats.delivered, { timeout: 5000 }).toBe(1);
    expect(r.bodies.map((b) => b.body)).toEqual(['{"kind":"fired"}', '{"kind":"fired"}', '{"kind":"fired"}']);
    expect(r.bodies[0].type).toBe('application/json');
    await hook.close();
  });

  it('never blocks the caller and keeps at most maxQueue notices, dropping the oldest', async () => {
    const r = await receiver([], 200);
    const hook = new AlertWebhook({ url: r.url, log: () => undefined, maxQueue: 3, retryDelaysMs: [] });
    // enqueue returns nothing to wait for, and all ten are in before the receiver has seen any.
    for (let i = 0; i < 10; i++) expect(hook.enqueue(`{"n":${i}}`)).toBeUndefined();
    expect(r.bodies).toHaveLength(0);
    await expect.poll(() => hook.stats.delivered, { timeout: 5000 }).toBe(4);
    // The first went out at once; of the nine queued behind it the three newest were kept.
    expect(r.bodies.map((b) => JSON.parse(b.body).n)).toEqual([0, 7, 8, 9]);
    expect(hook.stats.dropped).toBe(6);
    await hook.close();
  });

  it('gives up after its retries when the receiver is down', async () => {
    const hook = new AlertWebhook({ url: 'http://127.0.0.1:9/', log: () => undefined, retryDelaysMs: [10, 10] });
    hook.enqueue('{}');
    await expect.poll(() => hook.stats.failed, { timeout: 5000 }).toBe(1);
    await hook.close();
  });
});
