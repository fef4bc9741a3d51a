/**
 * Alerts on the local runtime (contract §8), black-box: a rule created through the API, readings from a
 * real MQTT device, `alert` frames on a real WebSocket, notifications POSTed to a real HTTP server.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TABLES } from '../../local/dynamo.js';
import type { LocalRuntime } from '../../local/runtime.js';
import {
  HOST,
  WsClient,
  closeDevices,
  closeSockets,
  connectDevice,
  eventually,
  getJson,
  makeDataDir,
  removeDataDir,
  startTestRuntime,
  telemetryTopic,
} from '../support/runtime.js';
import { checkedFetch } from '../support/openapi.js';
import { setTimeout as sleep } from 'node:timers/promises';

interface Received {
  contentType: string | undefined;
  body: { kind: string; alert: Record<string, unknown> };
}

/** A webhook receiver: a real HTTP server keeping every POST. */
async function startReceiver(): Promise<{ url: string; received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ contentType: req.headers['content-type'], body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${HOST}:${port}/hook`,
    received,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

/** Every answer is checked against the OpenAPI document on the way. */
async function send(method: string, url: string, body?: unknown) {
  const res = await checkedFetch(url, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const publish = (device: MqttClient, sensorId: string, ts: number, temperature: number) =>
  device.publishAsync(telemetryTopic(sensorId), JSON.stringify({ ts, values: { temperature }, units: { temperature: '°C' } }), { qos: 1 });

/**
 * Publishes and waits until the registry shows the reading: two batches of one sensor may otherwise be
 * evaluated at once (the local rules engine runs two), and then the later reading may be the one evaluated
 * first, which the contract allows but this test's exact expectations do not.
 */
async function publishInOrder(runtime: LocalRuntime, device: MqttClient, sensorId: string, ts: number, temperature: number) {
  await publish(device, sensorId, ts, temperature);
  await eventually(`${sensorId} at ${ts} stored`, async () => {
    const { status, body } = await getJson(`${runtime.urls.api}/sensors/${sensorId}`);
    return status === 200 && body.latest?.ts >= ts ? true : undefined;
  });
}

describe.sequential('alerts on the local runtime', () => {
  let dataDir: string;
  let runtime: LocalRuntime;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let dashboard: WsClient;

  beforeAll(async () => {
    receiver = await startReceiver();
    dataDir = await makeDataDir('vigia-alerts-');
    runtime = await startTestRuntime(dataDir, { alertWebhookUrl: receiver.url, alertSilenceCheckMs: 300 });
    dashboard = await WsClient.open(runtime.urls.ws);
    // A pong means $connect has registered the connection: alert frames go to every registered one.
    await dashboard.request({ action: 'ping' }, ['pong']);
  });

  afterAll(async () => {
    await closeSockets();
    await closeDevices();
    await runtime?.close();
    await receiver?.close();
    await removeDataDir(dataDir);
  });

  const alertFrames = () => dashboard.frames.filter((f) => f.type === 'alert').map((f) => f.alert as Record<string, unknown>);

  it('refuses a bad rule with INVALID_RULE naming the field', async () => {
    const res = await send('POST', `${runtime.urls.api}/alert-rules`, {
      name: 'x',
      sensorIds: ['a'],
      metric: 'temperature',
      condition: { op: '=>', value: 1 },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('INVALID_RULE');
    expect(res.body.error.message).toContain('condition.op');
    const notJson = await send('POST', `${runtime.urls.api}/alert-rules`, '{');
    expect(notJson.status).toBe(400);
    expect((await send('GET', `${runtime.urls.api}/alert-rules/nope`)).status).toBe(404);
  });

  it('fires once after the for duration, and resolves once past the clear line', async () => {
    const created = await send('POST', `${runtime.urls.api}/alert-rules`, {
      name: 'Hot room',
      sensorIds: ['hot-1'],
      metric: 'temperature',
      condition: { op: '>', value: 30 },
      hysteresis: 1,
      forSeconds: 2,
      severity: 'critical',
    });
    expect(created.status).toBe(201);
    const ruleId = created.body.id as string;
    expect((await getJson(`${runtime.urls.api}/alert-rules/${ruleId}`)).body).toEqual(created.body);

    const device = await connectDevice(runtime.urls.mqtt!, 'hot-1');
    const t0 = Date.now() - 60_000;
    await publishInOrder(runtime, device, 'hot-1', t0, 31);
    await publishInOrder(runtime, device, 'hot-1', t0 + 1000, 32);
    // Pending is not pushed, and nothing is sent before forSeconds have passed in reading time.
    const pending = await eventually('a pending alert', async () => {
      const { body } = await getJson(`${runtime.urls.api}/alerts`);
      return body.alerts.find((a: { state: string; ruleId: string }) => a.ruleId === ruleId && a.state === 'pending');
    });
    expect(pending).toMatchObject({ sensorId: 'hot-1', metric: 'temperature', severity: 'critical', since: t0, value: 31 });
    expect(alertFrames()).toEqual([]);

    await publishInOrder(runtime, device, 'hot-1', t0 + 2000, 33);
    const fired = await dashboard.waitFor((f) => f.type === 'alert', 'the fired alert frame');
    expect(fired.alert).toMatchObject({
      ruleId,
      ruleName: 'Hot room',
      sensorId: 'hot-1',
      state: 'firing',
      since: t0 + 2000,
      value: 33,
      acknowledged: false,
      acknowledgedBy: null,
    });
    // Still over, a QoS 1 redelivery of the reading that fired it, and one late reading: nothing more.
    await publishInOrder(runtime, device, 'hot-1', t0 + 3000, 34);
    await publish(device, 'hot-1', t0 + 2000, 33);
    await publish(device, 'hot-1', t0 + 500, 10);
    await publishInOrder(runtime, device, 'hot-1', t0 + 4000, 29.5);
    await eventually('the webhook POST of the fired alert', async () => (receiver.received.length >= 1 ? true : undefined));
    await sleep(500);
    expect(alertFrames()).toHaveLength(1);
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0].contentType).toMatch(/^application\/json/);
    expect(receiver.received[0].body).toEqual({ kind: 'fired', alert: fired.alert });
    const current = (await getJson(`${runtime.urls.api}/alerts`)).body.alerts;
    expect(current).toEqual([fired.alert]);

    await publishInOrder(runtime, device, 'hot-1', t0 + 5000, 28.9);
    const resolved = await dashboard.waitFor(
      (f) => f.type === 'alert' && (f.alert as { state: string }).state === 'ok',
      'the resolved frame',
    );
    expect(resolved.alert).toMatchObject({ id: (fired.alert as { id: string }).id, state: 'ok', value: 28.9 });
    await publishInOrder(runtime, device, 'hot-1', t0 + 6000, 20);
    await eventually('the webhook POST of the resolution', async () => (receiver.received.length >= 2 ? true : undefined));
    await sleep(500);
    expect(alertFrames().map((a) => a.state)).toEqual(['firing', 'ok']);
    expect(receiver.received.map((r) => r.body.kind)).toEqual(['fired', 'resolved']);
    expect((await getJson(`${runtime.urls.api}/alerts`)).body.alerts).toEqual([]);

    const history = (await getJson(`${runtime.urls.api}/alerts/history?from=${t0 - 1}&to=${Date.now() + 1}`)).body;
    expect(history.nextCursor).toBeNull();
    expect(history.events.map((e: { kind: string; ts: number; value: number }) => [e.kind, e.ts, e.value])).toEqual([
      ['resolved', t0 + 5000, 28.9],
      ['fired', t0 + 2000, 33],
    ]);
  });

  it('acknowledges a firing alert once, and refuses a resolved one with NOT_FIRING', async () => {
    const created = await send('POST', `${runtime.urls.api}/alert-rules`, {
      name: 'Cold',
      sensorIds: ['cold-1'],
      metric: 'temperature',
      condition: { op: '<', value: 0 },
    });
    const device = await connectDevice(runtime.urls.mqtt!, 'cold-1');
    const t0 = Date.now() - 30_000;
    await publish(device, 'cold-1', t0, -5);
    const fired = await dashboard.waitFor(
      (f) => f.type === 'alert' && (f.alert as { ruleId: string }).ruleId === created.body.id,
      'the cold alert frame',
    );
    const id = (fired.alert as { id: string }).id;
    const ack = await send('POST', `${runtime.urls.api}/alerts/${encodeURIComponent(id)}/ack`);
    expect(ack.status).toBe(200);
    expect(ack.body).toMatchObject({ id, state: 'firing', acknowledged: true });
    await dashboard.waitFor(
      (f) => f.type === 'alert' && (f.alert as { acknowledged: boolean }).acknowledged === true,
      'the acknowledged frame',
    );
    await publish(device, 'cold-1', t0 + 1000, 5);
    await dashboard.waitFor(
      (f) => f.type === 'alert' && (f.alert as { id: string; state: string }).id === id && (f.alert as { state: string }).state === 'ok',
      'the resolution',
    );
    const again = await send('POST', `${runtime.urls.api}/alerts/${encodeURIComponent(id)}/ack`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('NOT_FIRING');
    const kinds = (await getJson(`${runtime.urls.api}/alerts/history?from=${t0 - 1}`)).body.events
      .filter((e: { alertId: string }) => e.alertId === id)
      .map((e: { kind: string }) => e.kind);
    // Newest first by event time: fired and resolved at their readings' ts (30 s ago), the acknowledgement now.
    expect(kinds).toEqual(['acknowledged', 'resolved', 'fired']);
    expect((await send('DELETE', `${runtime.urls.api}/alert-rules/${created.body.id}`)).status).toBe(204);
    expect((await send('DELETE', `${runtime.urls.api}/alert-rules/${created.body.id}`)).body.error.code).toBe('RULE_NOT_FOUND');
  });

  it('fires a silence alert for a sensor that stopped sending, and resolves it at its next reading', async () => {
    const created = await send('POST', `${runtime.urls.api}/alert-rules`, {
      name: 'Quiet',
      sensorIds: ['quiet-1'],
      silentMinutes: 1,
      severity: 'warning',
    });
    expect(created.status).toBe(201);
    const device = await connectDevice(runtime.urls.mqtt!, 'quiet-1');
    await publish(device, 'quiet-1', Date.now() - 1000, 20);
    // Its reading registered (not only its connect): a history batch still in flight would write lastReadingAt
    // again after the test moves it back below.
    await eventually('quiet-1 registered with its reading', async () =>
      (await getJson(`${runtime.urls.api}/sensors/quiet-1`)).body?.latest ? true : undefined,
    );
    await sleep(1000);
    expect(alertFrames().some((a) => a.ruleId === created.body.id)).toBe(false);

    // Two minutes of silence, without waiting them: the registry's receive time is moved back.
    const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB }));
    await doc.send(
      new UpdateCommand({
        TableName: LOCAL_TABLES.sensors.name,
        Key: { sensorId: 'quiet-1' },
        UpdateExpression: 'SET lastReadingAt = :t',
        ExpressionAttributeValues: { ':t': Date.now() - 120_000 },
      }),
    );
    doc.destroy();
    const silent = await dashboard.waitFor(
      (f) => f.type === 'alert' && (f.alert as { ruleId: string }).ruleId === created.body.id,
      'the silence alert frame',
    );
    expect(silent.alert).toMatchObject({ sensorId: 'quiet-1', metric: null, value: null, state: 'firing', severity: 'warning' });
    await eventually('the silence webhook POST', async () =>
      receiver.received.find((r) => r.body.alert.ruleId === created.body.id && r.body.kind === 'fired'),
    );
    await sleep(1000);
    expect(alertFrames().filter((a) => a.ruleId === created.body.id)).toHaveLength(1);

    await publish(device, 'quiet-1', Date.now(), 21);
    await dashboard.waitFor(
      (f) =>
        f.type === 'alert' &&
        (f.alert as { ruleId: string; state: string }).ruleId === created.body.id &&
        (f.alert as { state: string }).state === 'ok',
      'the silence resolution',
    );
    await sleep(1000);
    expect(
      alertFrames()
        .filter((a) => a.ruleId === created.body.id)
        .map((a) => a.state),
    ).toEqual(['firing', 'ok']);
  });
});
