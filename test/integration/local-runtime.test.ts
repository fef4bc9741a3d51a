/**
 * The local runtime (`npm start`) against the public contract, black-box, through real clients: mqtt.js
 * devices on the embedded broker (TCP and mutual TLS) or on Debian's mosquitto, WebSocket dashboards on
 * /ws, and the HTTP API under /api. Each runtime runs in-process on free ports in a temp data folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { issueDeviceCert } from '../../local/ca.js';
import type { LocalRuntime } from '../../local/runtime.js';
import { PROJECT_ROOT, startLocalRuntime } from '../../local/runtime.js';
import { checkedFetch } from '../support/openapi.js';
import { OPENAPI_DOCUMENT } from '../../lambdas/shared/openapi.js';
import {
  freePort,
  killChildren,
  HOST,
  WsClient,
  attemptDevice,
  closeDevices,
  closeSockets,
  connectDevice,
  eventually,
  getJson,
  getText,
  listedSensor,
  makeDataDir,
  nextMessage,
  publishInternally,
  rawReadings,
  readDeadLetters,
  removeDataDir,
  startTestRuntime,
  telemetryTopic,
} from '../support/runtime.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MINUTE = 60_000;
const json = (value: unknown) => JSON.stringify(value);

afterEach(async () => {
  await closeSockets();
  await closeDevices();
});

describe.sequential('local runtime (embedded broker)', () => {
  let dataDir: string;
  let runtime: LocalRuntime;

  beforeAll(async () => {
    dataDir = await makeDataDir();
    runtime = await startTestRuntime(dataDir);
  });

  afterAll(async () => {
    await closeSockets();
    await closeDevices();
    await runtime?.close();
    await removeDataDir(dataDir);
  });

  it('stores a published reading, lists the sensor, and pushes it live only to its subscribers', async () => {
    const sensorId = 'flow-a';
    const other = 'flow-other';
    const mine = await WsClient.open(runtime.urls.ws);
    const others = await WsClient.open(runtime.urls.ws);
    const everything = await WsClient.open(runtime.urls.ws);
    expect(await mine.subscribe([sensorId])).toEqual({ type: 'subscribed', sensorIds: [sensorId] });
    expect(await others.subscribe([other])).toEqual({ type: 'subscribed', sensorIds: [other] });
    expect(await everything.subscribe(['*'])).toEqual({ type: 'subscribed', sensorIds: ['*'] });

    const device = await connectDevice(runtime.urls.mqtt!, sensorId);
    await mine.waitFor((f) => f.type === 'status' && f.sensorId === sensorId && f.online === true, 'online status');
    await everything.waitFor((f) => f.type === 'status' && f.sensorId === sensorId && f.online === true, 'online status on *');

    const ts = Date.now() - 1000;
    const values = { temperature: 21.4, humidity: 48 };
    await device.publishAsync(telemetryTopic(sensorId), json({ ts, values, units: { temperature: '°C', humidity: '%' } }), { qos: 1 });
    await runtime.rules.idle();

    const frame = await mine.waitForReading(sensorId, ts);
    expect(frame).toEqual({ type: 'readings', readings: [{ sensorId, ts, values }] });
    expect(await everything.waitForReading(sensorId, ts)).toEqual(frame);

    const history = await getJson(`${runtime.urls.api}/sensors/${sensorId}/readings?resolution=raw&from=${ts - MINUTE}&to=${ts + MINUTE}`);
    expect(history.status).toBe(200);
    expect(history.body).toEqual({ sensorId, resolution: 'raw', points: [{ ts, values }], nextCursor: null });

    const listed = await listedSensor(runtime, sensorId);
    expect(listed).toMatchObject({
      sensorId,
      online: true,
      metrics: ['humidity', 'temperature'],
      units: { temperature: '°C', humidity: '%' },
      latest: { ts, values },
    });
    expect(typeof listed.lastSeen).toBe('number');
    const single = await getJson(`${runtime.urls.api}/sensors/${sensorId}`);
    expect(single.status).toBe(200);
    expect(single.body).toEqual(listed);

    // A reading of the other sensor, pushed after the first one finished: the connection subscribed only to
    // the other sensor sees it and never saw flow-a's.
    const otherDevice = await connectDevice(runtime.urls.mqtt!, other);
    const otherTs = Date.now() - 500;
    await otherDevice.publishAsync(telemetryTopic(other), json({ ts: otherTs, values: { temperature: 5 } }), { qos: 1 });
    await runtime.rules.idle();
    await others.waitForReading(other, otherTs);
    await everything.waitForReading(other, otherTs);
    expect(others.readingsOf(sensorId)).toEqual([]);
    expect(mine.readingsOf(other)).toEqual([]);
  });

  it('stores a 500-reading batch whole, and a QoS 1 redelivery once (history, roll-ups, live)', async () => {
    const sensorId = 'batch-a';
    const ws = await WsClient.open(runtime.urls.ws);
    await ws.subscribe([sensorId]);
    const device = await connectDevice(runtime.urls.mqtt!, sensorId);

    const base = Math.floor((Date.now() - 30 * MINUTE) / MINUTE) * MINUTE;
    const batch = Array.from({ length: 500 }, (_, i) => ({ ts: base + i * 1000, values: { temperature: i, humidity: 50 } }));
    await device.publishAsync(telemetryTopic(sensorId), json(batch), { qos: 1 });
    await runtime.rules.idle();

    const from = base;
    const to = base + 500 * 1000;
    const all = await getJson(`${runtime.urls.api}/sensors/${sensorId}/readings?resolution=raw&limit=1000&from=${from}&to=${to}`);
    expect(all.status).toBe(200);
    expect(all.body.points).toHaveLength(500);
    expect(all.body.nextCursor).toBeNull();
    expect(all.body.points).toEqual(batch);
    const paged = await rawReadings(runtime, sensorId, from, to, 120);
    expect(paged).toEqual(batch);
    await eventually('all 500 readings pushed live', async () => (ws.readingsOf(sensorId).length >= 500 ? true : undefined));
    expect(
      ws
        .readingsOf(sensorId)
        .map((r) => r.ts)
        .sort((a, b) => a - b),
    ).toEqual(batch.map((r) => r.ts));

    // The same payload twice (a QoS 1 redelivery), in a minute of its own.
    const dupTs = base - 5 * MINUTE + 7000;
    const payload = json({ ts: dupTs, values: { temperature: 99 } });
    await device.publishAsync(telemetryTopic(sensorId), payload, { qos: 1 });
    await device.publishAsync(telemetryTopic(sensorId), payload, { qos: 1 });
    await runtime.rules.idle();
    const dupWindow = `from=${dupTs - 7000}&to=${dupTs - 7000 + MINUTE}`;
    const stored = await getJson(`${runtime.urls.api}/sensors/${sensorId}/readings?resolution=raw&${dupWindow}`);
    expect(stored.body.points).toEqual([{ ts: dupTs, values: { temperature: 99 } }]);
    const rolled = await getJson(`${runtime.urls.api}/sensors/${sensorId}/readings?resolution=1m&${dupWindow}`);
    expect(rolled.body.points).toEqual([{ ts: dupTs - 7000, values: { temperature: { min: 99, max: 99, avg: 99, count: 1 } } }]);
    // Every push of the two copies has been sent by now; a later marker reading arrives after any of them.
    const marker = Date.now() - 100;
    await device.publishAsync(telemetryTopic(sensorId), json({ ts: marker, values: { temperature: 1 } }), { qos: 1 });
    await runtime.rules.idle();
    await ws.waitForReading(sensorId, marker);
    expect(ws.readingsOf(sensorId).filter((r) => r.ts === dupTs)).toHaveLength(1);
  });

  it('dead-letters every rejected payload with its reason code, and keeps the valid ones around them', async () => {
    const sensorId = 'dl-a';
    const topic = telemetryTopic(sensorId);
    const ws = await WsClient.open(runtime.urls.ws);
    await ws.subscribe([sensorId]);
    const device = await connectDevice(runtime.urls.mqtt!, sensorId);
    const before = (await readDeadLetters(runtime)).length;

    const now = Date.now();
    const tooManyMetrics = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`m${i}`, i]));
    const oversizedBatch = Array.from({ length: 501 }, (_, i) => ({ ts: now - 10 * MINUTE + i, values: { temperature: 1 } }));
    const invalid: Array<{ code: string; payload: string }> = [
      { code: 'INVALID_JSON', payload: '{"values": {"temperature": 1' },
      { code: 'INVALID_SHAPE', payload: json({ ts: now - 2000, values: { temperature: 1 }, extra: true }) },
      { code: 'INVALID_VALUE', payload: json({ ts: now - 2000, values: { temperature: 'hot' } }) },
      { code: 'TOO_MANY_METRICS', payload: json({ ts: now - 2000, values: tooManyMetrics }) },
      { code: 'TOO_LARGE', payload: json(oversizedBatch) },
      { code: 'TS_OUT_OF_RANGE', payload: json({ ts: now + 10 * MINUTE, values: { temperature: 1 } }) },
    ];
    const validTs: number[] = [];
    const publishValid = async () => {
      const ts = now - 60_000 + validTs.length * 1000;
      validTs.push(ts);
      await device.publishAsync(topic, json({ ts, values: { temperature: validTs.length } }), { qos: 1 });
    };
    await publishValid();
    for (const { payload } of invalid) {
      await device.publishAsync(topic, payload, { qos: 1 });
      await publishValid();
    }
    // A topic whose sensorId segment breaks the pattern: no device may connect as it, so it comes in through
    // the runtime's internal publish path (the IoT data-plane stand-in).
    await publishInternally(telemetryTopic('bad.id'), json({ ts: now - 2000, values: { temperature: 1 } }));
    await publishValid();
    await runtime.rules.idle();

    const letters = (await readDeadLetters(runtime)).slice(before);
    expect(
      letters
        .filter((l) => l.topic === topic)
        .map((l) => l.code)
        .sort(),
    ).toEqual(invalid.map((i) => i.code).sort());
    expect(letters.filter((l) => l.topic === telemetryTopic('bad.id')).map((l) => l.code)).toEqual(['INVALID_SENSOR_ID']);
    expect(letters).toHaveLength(invalid.length + 1);
    for (const letter of letters) expect(typeof letter.message).toBe('string');

    const stored = await rawReadings(runtime, sensorId, now - 20 * MINUTE, now + 20 * MINUTE);
    expect(stored.map((p) => p.ts)).toEqual(validTs);
    expect(stored.map((p) => p.values)).toEqual(validTs.map((_, i) => ({ temperature: i + 1 })));
    await ws.waitForReading(sensorId, validTs[validTs.length - 1]);
    await eventually('every valid reading pushed live', async () => (ws.readingsOf(sensorId).length >= validTs.length ? true : undefined));
    expect(
      ws
        .readingsOf(sensorId)
        .map((r) => r.ts)
        .sort((a, b) => a - b),
    ).toEqual(validTs);
    expect((await getJson(`${runtime.urls.api}/sensors/bad.id`)).status).toBe(400);
  });

  it('counts accepted readings, rejections by reason and push latency at GET /api/metrics (Prometheus text)', async () => {
    const sensorId = 'metrics-a';
    const samples = async () => {
      const res = await getText(`${runtime.urls.api}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const values = new Map<string, number>();
      for (const line of res.text.split('\n')) {
        const match = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
        if (match) values.set(match[1], Number(match[2]));
      }
      return values;
    };
    const ws = await WsClient.open(runtime.urls.ws);
    await ws.subscribe([sensorId]);
    const device = await connectDevice(runtime.urls.mqtt!, sensorId);
    const before = await samples();
    const now = Date.now();
    await device.publishAsync(
      telemetryTopic(sensorId),
      json([
        { ts: now - 2000, values: { t: 1 } },
        { ts: now - 1000, values: { t: 2 } },
      ]),
      { qos: 1 },
    );
    await device.publishAsync(telemetryTopic(sensorId), '{"values": {"t": 1', { qos: 1 });
    await device.publishAsync(telemetryTopic(sensorId), json({ ts: now - 500, values: { t: 'hot' } }), { qos: 1 });
    await runtime.rules.idle();
    await ws.waitForReading(sensorId, now - 1000);

    const after = await samples();
    const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    expect(delta('vigia_readings_accepted_total')).toBe(2);
    expect(delta('vigia_readings_rejected_total{reason="INVALID_JSON"}')).toBe(1);
    expect(delta('vigia_readings_rejected_total{reason="INVALID_VALUE"}')).toBe(1);
    expect(delta('vigia_live_pushes_total')).toBeGreaterThanOrEqual(1);
    expect(delta('vigia_receive_to_push_latency_ms_count')).toBe(2);
    expect(delta('vigia_batch_size_count')).toBeGreaterThanOrEqual(1);
  });

  it('refuses a publish to another sensor’s topic, by client id on MQTT and by certificate on MQTTS', async () => {
    // Plain MQTT: identity = client id.
    const a = await connectDevice(runtime.urls.mqtt!, 'auth-a');
    await expect(a.publishAsync(telemetryTopic('auth-b'), json({ values: { temperature: 1 } }), { qos: 1 })).rejects.toMatchObject({
      code: 0x87,
    });
    const ownTs = Date.now() - 1000;
    await a.publishAsync(telemetryTopic('auth-a'), json({ ts: ownTs, values: { temperature: 2 } }), { qos: 1 });
    await runtime.rules.idle();
    expect((await getJson(`${runtime.urls.api}/sensors/auth-b`)).body.error.code).toBe('SENSOR_NOT_FOUND');
    expect((await getJson(`${runtime.urls.api}/sensors/auth-b/readings`)).status).toBe(404);
    expect((await rawReadings(runtime, 'auth-a', ownTs - MINUTE, ownTs + MINUTE)).map((p) => p.ts)).toEqual([ownTs]);

    // Nor subscribe to another sensor's commands: SUBACK failure code.
    await expect(a.subscribeAsync('sensors/auth-b/commands', { qos: 1 })).rejects.toMatchObject({ packet: { granted: [0x87] } });
    expect(a.connected).toBe(true);

    // Mutual TLS: identity = certificate CN.
    const files = await issueDeviceCert(dataDir, 'dev-a');
    const tlsOptions = {
      key: await readFile(files.keyPath),
      cert: await readFile(files.certPath),
      ca: await readFile(join(dataDir, 'certs', 'ca.crt')),
    };
    const tlsDevice = await connectDevice(runtime.urls.mqtts!, 'dev-a', tlsOptions);
    await expect(tlsDevice.publishAsync(telemetryTopic('dev-b'), json({ values: { temperature: 1 } }), { qos: 1 })).rejects.toMatchObject({
      code: 0x87,
    });
    const tlsTs = Date.now() - 1000;
    await tlsDevice.publishAsync(telemetryTopic('dev-a'), json({ ts: tlsTs, values: { temperature: 3 } }), { qos: 1 });
    await runtime.rules.idle();
    expect((await getJson(`${runtime.urls.api}/sensors/dev-b`)).status).toBe(404);
    expect((await rawReadings(runtime, 'dev-a', tlsTs - MINUTE, tlsTs + MINUTE)).map((p) => p.ts)).toEqual([tlsTs]);

    // dev-a's certificate cannot claim to be dev-b.
    const impostor = await attemptDevice(runtime.urls.mqtts!, { clientId: 'dev-b', ...tlsOptions });
    expect(impostor).toMatchObject({ kind: 'refused', code: 0x87 });

    // No client certificate: the TLS handshake is refused.
    const anonymous = await attemptDevice(runtime.urls.mqtts!, { clientId: 'dev-c', ca: tlsOptions.ca });
    expect(anonymous.kind).not.toBe('connected');
    expect((await getJson(`${runtime.urls.api}/sensors/dev-c`)).status).toBe(404);
  });

  it('sends a command to the device and answers bad frames with errors, keeping the connection open', async () => {
    const sensorId = 'cmd-x';
    const ws = await WsClient.open(runtime.urls.ws);
    await ws.subscribe([sensorId]);
    const device = await connectDevice(runtime.urls.mqtt!, sensorId);
    await device.subscribeAsync(`sensors/${sensorId}/commands`, { qos: 1 });
    await ws.waitFor((f) => f.type === 'status' && f.sensorId === sensorId && f.online === true, 'online status');

    const received = nextMessage(device, `sensors/${sensorId}/commands`);
    const before = Date.now();
    const sent = await ws.request({ action: 'command', sensorId, command: { name: 'setInterval', args: { intervalMs: 1000 } } });
    expect(sent).toEqual({ type: 'commandSent', id: expect.stringMatching(UUID), sensorId });
    const command = JSON.parse((await received).toString('utf8'));
    expect(command).toEqual({ id: sent.id, name: 'setInterval', args: { intervalMs: 1000 }, issuedAt: expect.any(Number) });
    expect(command.issuedAt).toBeGreaterThanOrEqual(before - 1000);
    expect(command.issuedAt).toBeLessThanOrEqual(Date.now() + 1000);

    const neverSeen = await ws.request({
      action: 'command',
      sensorId: 'never-seen-1',
      command: { name: 'setInterval', args: { intervalMs: 1000 } },
    });
    expect(neverSeen).toMatchObject({ type: 'error', code: 'SENSOR_NOT_FOUND', message: expect.any(String) });

    const bad: Array<[unknown, string]> = [
      ['this is not JSON', 'BAD_REQUEST'],
      [{ action: 'dance' }, 'UNKNOWN_ACTION'],
      [{ action: 'command', sensorId, command: { name: 'setInterval', args: { intervalMs: 5 } } }, 'BAD_REQUEST'],
      [{ action: 'command', sensorId, command: { name: 'selfDestruct', args: {} } }, 'BAD_REQUEST'],
      [{ action: 'command', sensorId: 'bad.id', command: { name: 'setInterval', args: { intervalMs: 1000 } } }, 'BAD_REQUEST'],
      [{ action: 'subscribe', sensorIds: [] }, 'BAD_REQUEST'],
    ];
    for (const [frame, code] of bad) {
      const reply = await ws.request(frame);
      expect(reply, json(frame)).toMatchObject({ type: 'error', code, message: expect.any(String) });
    }
    expect(await ws.request({ action: 'ping' })).toEqual({ type: 'pong' });
    expect(ws.isOpen).toBe(true);
    // Nothing changed: still subscribed to the sensor only.
    expect(await ws.request({ action: 'unsubscribe', sensorIds: ['nobody'] })).toEqual({ type: 'subscribed', sensorIds: [sensorId] });

    // Limits: 100 subscriptions per connection ('*' counting as one); 10 commands per second per connection.
    const limits = await WsClient.open(runtime.urls.ws);
    const hundred = Array.from({ length: 100 }, (_, i) => `lim-${i}`);
    expect((await limits.request({ action: 'subscribe', sensorIds: [...hundred, 'lim-100'] })).code).toBe('BAD_REQUEST');
    expect((await limits.request({ action: 'subscribe', sensorIds: hundred.slice(0, 99) })).sensorIds).toHaveLength(99);
    expect((await limits.request({ action: 'subscribe', sensorIds: ['*'] })).sensorIds).toHaveLength(100);
    expect(await limits.request({ action: 'subscribe', sensorIds: ['lim-99'] })).toMatchObject({ type: 'error', code: 'LIMIT_EXCEEDED' });
    expect((await limits.request({ action: 'unsubscribe', sensorIds: ['*'] })).sensorIds).toHaveLength(99);
    const burst = Array.from({ length: 11 }, () => ({
      action: 'command',
      sensorId,
      command: { name: 'setInterval', args: { intervalMs: 1000 } },
    }));
    // The budget is per wall-clock second: start the burst just after a second begins.
    while (Date.now() % 1000 > 100) await new Promise((resolve) => setTimeout(resolve, 10));
    const from = limits.frames.length;
    const started = Date.now();
    for (const frame of burst) limits.send(frame);
    await limits.waitFor(() => limits.frames.length - from >= 11, '11 replies to a burst of 11 commands', from);
    const ended = Date.now();
    const replies = limits.frames.slice(from);
    expect(replies.every((f) => f.type === 'commandSent' || (f.type === 'error' && f.code === 'LIMIT_EXCEEDED'))).toBe(true);
    const accepted = replies.filter((f) => f.type === 'commandSent').length;
    const seconds = Math.floor(ended / 1000) - Math.floor(started / 1000) + 1;
    expect(accepted).toBeGreaterThanOrEqual(1);
    expect(accepted).toBeLessThanOrEqual(10 * seconds);
    // Answered within one second (the usual case here): exactly the 11th is refused.
    if (seconds === 1) expect(replies.map((f) => f.type)).toEqual([...Array(10).fill('commandSent'), 'error']);
  });

  it('pushes presence to subscribers and shows it in GET /api/sensors', async () => {
    const sensorId = 'pres-a';
    const ws = await WsClient.open(runtime.urls.ws);
    await ws.subscribe([sensorId]);
    const device = await connectDevice(runtime.urls.mqtt!, sensorId);
    const online = await ws.waitFor((f) => f.type === 'status' && f.sensorId === sensorId && f.online === true, 'online status');
    expect(online).toEqual({ type: 'status', sensorId, online: true, ts: expect.any(Number) });
    expect(await listedSensor(runtime, sensorId)).toMatchObject({ sensorId, online: true, latest: null, metrics: [] });

    await device.endAsync();
    const offline = await ws.waitFor((f) => f.type === 'status' && f.sensorId === sensorId && f.online === false, 'offline status');
    expect(offline).toEqual({ type: 'status', sensorId, online: false, ts: expect.any(Number) });
    expect(offline.ts as number).toBeGreaterThanOrEqual(online.ts as number);
    expect(await listedSensor(runtime, sensorId)).toMatchObject({ sensorId, online: false });
  });

  it('answers the HTTP API contract: health, errors, aggregates, CSV, config.json', async () => {
    expect(await getJson(`${runtime.urls.api}/health`)).toMatchObject({ status: 200, body: { status: 'ok' } });

    const notFound = await getJson(`${runtime.urls.api}/sensors/nobody-here`);
    expect(notFound.status).toBe(404);
    expect(notFound.body).toEqual({ error: { code: 'SENSOR_NOT_FOUND', message: expect.any(String) } });
    expect((await getJson(`${runtime.urls.api}/sensors/nobody-here/readings`)).body.error.code).toBe('SENSOR_NOT_FOUND');

    const badId = await getJson(`${runtime.urls.api}/sensors/bad.id/readings`);
    expect(badId.status).toBe(400);
    expect(badId.body).toEqual({ error: { code: 'INVALID_PARAMETER', message: expect.any(String) } });

    // Readings in one minute bucket, plus one in the next.
    const sensorId = 'api-a';
    const device = await connectDevice(runtime.urls.mqtt!, sensorId);
    const bucket = Math.floor((Date.now() - 10 * MINUTE) / MINUTE) * MINUTE;
    const batch = [
      { ts: bucket + 1000, values: { temperature: 10, humidity: 40 }, units: { temperature: '°C' } },
      { ts: bucket + 2000, values: { temperature: 20 } },
      { ts: bucket + 3000, values: { temperature: 30, humidity: 60 } },
      { ts: bucket + MINUTE + 500, values: { temperature: 5 } },
    ];
    await device.publishAsync(telemetryTopic(sensorId), json(batch), { qos: 1 });
    await runtime.rules.idle();
    const readings = `${runtime.urls.api}/sensors/${sensorId}/readings`;

    const range = await getJson(`${readings}?from=${bucket}&to=${bucket}`);
    expect(range.status).toBe(400);
    expect(range.body.error.code).toBe('INVALID_RANGE');
    expect((await getJson(`${readings}?from=yesterday`)).body.error.code).toBe('INVALID_RANGE');
    expect((await getJson(`${readings}?limit=0`)).body.error.code).toBe('INVALID_PARAMETER');
    expect((await getJson(`${readings}?resolution=5m`)).body.error.code).toBe('INVALID_PARAMETER');

    const window = `from=${bucket}&to=${bucket + 2 * MINUTE}`;
    const minutes = await getJson(`${readings}?resolution=1m&${window}`);
    expect(minutes.status).toBe(200);
    expect(minutes.body).toEqual({
      sensorId,
      resolution: '1m',
      points: [
        {
          ts: bucket,
          values: {
            temperature: { min: 10, max: 30, avg: 20, count: 3 },
            humidity: { min: 40, max: 60, avg: 50, count: 2 },
          },
        },
        { ts: bucket + MINUTE, values: { temperature: { min: 5, max: 5, avg: 5, count: 1 } } },
      ],
      nextCursor: null,
    });

    const first = await getText(`${readings}?resolution=raw&format=csv&limit=2&${window}`);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^text\/csv/);
    const cursor = first.headers.get('x-next-cursor');
    expect(cursor).toBeTruthy();
    expect(first.text.trim().split('\n')).toEqual([
      'ts,humidity,temperature',
      `${new Date(bucket + 1000).toISOString()},40,10`,
      `${new Date(bucket + 2000).toISOString()},,20`,
    ]);
    const second = await getText(`${readings}?resolution=raw&format=csv&limit=2&${window}&cursor=${encodeURIComponent(cursor!)}`);
    expect(second.status).toBe(200);
    expect(second.headers.get('x-next-cursor')).toBeNull();
    expect(second.text.trim().split('\n')).toEqual([
      'ts,humidity,temperature',
      `${new Date(bucket + 3000).toISOString()},60,30`,
      `${new Date(bucket + MINUTE + 500).toISOString()},,5`,
    ]);
    const aggregatedCsv = await getText(`${readings}?resolution=1m&metrics=temperature&${window}`, { headers: { accept: 'text/csv' } });
    expect(aggregatedCsv.text.trim().split('\n')[0]).toBe('ts,temperature_min,temperature_max,temperature_avg,temperature_count');
    expect(aggregatedCsv.text.trim().split('\n')[1]).toBe(`${new Date(bucket).toISOString()},10,30,20,3`);

    const config = await getJson(runtime.urls.config);
    expect(config.status).toBe(200);
    expect(config.body).toEqual({ apiUrl: runtime.urls.api, wsUrl: runtime.urls.ws, auth: null });
    expect((await getJson(`${config.body.apiUrl}/health`)).body).toEqual({ status: 'ok' });

    // The API's own description, the very document every answer above was checked against.
    const described = await getJson(`${config.body.apiUrl}/openapi.json`);
    expect(described.status).toBe(200);
    expect(described.body).toEqual(OPENAPI_DOCUMENT);
  });
});

describe.sequential('local runtime restart', () => {
  let dataDir: string;
  let runtime: LocalRuntime | undefined;

  beforeAll(async () => {
    dataDir = await makeDataDir();
  });
  afterAll(async () => {
    await closeDevices();
    await runtime?.close();
    await removeDataDir(dataDir);
  });

  it('keeps history across a stop and start on the same data folder, including a reading acked just before stop', async () => {
    const sensorId = 'keep-a';
    runtime = await startTestRuntime(dataDir);
    const device = await connectDevice(runtime.urls.mqtt!, sensorId);
    const t1 = Date.now() - 5000;
    await device.publishAsync(telemetryTopic(sensorId), json({ ts: t1, values: { temperature: 1 } }), { qos: 1 });
    await runtime.rules.idle();
    const t2 = t1 + 1000;
    await device.publishAsync(telemetryTopic(sensorId), json({ ts: t2, values: { temperature: 2 } }), { qos: 1 });
    // Stopped right after the PUBACK, without waiting for the pipeline.
    await runtime.close();
    runtime = undefined;
    await closeDevices();

    runtime = await startTestRuntime(dataDir);
    await runtime.rules.idle();
    const points = await rawReadings(runtime, sensorId, t1 - MINUTE, t2 + MINUTE);
    expect(points).toEqual([
      { ts: t1, values: { temperature: 1 } },
      { ts: t2, values: { temperature: 2 } },
    ]);
    expect(await listedSensor(runtime, sensorId)).toMatchObject({ sensorId, latest: { ts: t2, values: { temperature: 2 } } });
  });

  it('shows a device that reconnects after a restart online: presence versions keep increasing across restarts', async () => {
    const sensorId = 'keep-b';
    runtime ??= await startTestRuntime(dataDir);
    const device = await connectDevice(runtime.urls.mqtt!, sensorId);
    await eventually('online before the restart', async () => ((await listedSensor(runtime!, sensorId))?.online ? true : undefined));
    await device.endAsync();
    await eventually('offline after the disconnect', async () =>
      (await listedSensor(runtime!, sensorId))?.online === false ? true : undefined,
    );
    await runtime.close();
    runtime = undefined;
    await closeDevices();

    runtime = await startTestRuntime(dataDir);
    await connectDevice(runtime.urls.mqtt!, sensorId);
    await eventually('online after the restart', async () => ((await listedSensor(runtime!, sensorId))?.online ? true : undefined));
  });
});

describe.sequential('npm start (local/main.ts) as a process', () => {
  let dataDir: string;
  const children = new Set<ChildProcess>();

  afterAll(async () => {
    await closeDevices();
    await killChildren(children);
    await removeDataDir(dataDir);
  });

  /** Starts `local/main.ts --no-sim` (what `npm start` runs) on free ports and reads its URLs from the banner. */
  async function startMain(): Promise<{ child: ChildProcess; api: string; mqtt: string; output: () => string }> {
    // Node itself with tsx's loader, not the tsx CLI: the CLI runs the program in a child process that a
    // SIGKILL of the CLI would leave running.
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts', '--no-sim'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, HOST, PORT: '0', MQTT_PORT: '0', MQTTS_PORT: '0', DATA_DIR: dataDir, MQTT_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const banner = await eventually(
      'the banner of npm start',
      async () => {
        if (child.exitCode !== null) throw new Error(`npm start exited ${child.exitCode}: ${output}`);
        const api = /HTTP API\s+(http:\/\/\S+)/.exec(output)?.[1];
        const mqtt = /MQTT\s+(mqtt:\/\/\S+)/.exec(output)?.[1];
        return api && mqtt ? { api, mqtt } : undefined;
      },
      60_000,
    );
    return { child, ...banner, output: () => output };
  }

  it('replays, at the next start, a batch acknowledged just before a crash (SIGKILL)', async () => {
    dataDir = await makeDataDir();
    const sensorId = 'crash-a';
    const first = await startMain();
    expect((await getJson(`${first.api}/health`)).body).toEqual({ status: 'ok' });
    const device = await connectDevice(first.mqtt, sensorId, { reconnectPeriod: 0 });
    device.on('error', () => undefined);
    const base = Math.floor((Date.now() - 20 * MINUTE) / 1000) * 1000;
    const batch = Array.from({ length: 500 }, (_, i) => ({ ts: base + i * 1000, values: { temperature: i } }));
    await device.publishAsync(telemetryTopic(sensorId), json(batch), { qos: 1 });
    const killed = new Promise((resolve) => first.child.once('exit', resolve));
    first.child.kill('SIGKILL');
    await killed;
    await closeDevices();

    const second = await startMain();
    const points = await eventually('the 500 acknowledged readings after the restart', async () => {
      const res = await getJson(`${second.api}/sensors/${sensorId}/readings?resolution=raw&limit=1000&from=${base}&to=${base + 500_000}`);
      return res.status === 200 && res.body.points.length === 500 ? res.body.points : undefined;
    });
    expect(points).toEqual(batch);

    // Ctrl-C / SIGTERM stops it cleanly.
    const exit = new Promise<number | null>((resolve) => second.child.once('exit', (code) => resolve(code)));
    second.child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(second.output()).toContain('Stopped');
  });
});

describe.sequential('local runtime with an external broker (mosquitto)', () => {
  const MOSQUITTO = '/usr/sbin/mosquitto';
  let dataDir: string;
  let runtime: LocalRuntime | undefined;
  let mosquitto: ChildProcess | undefined;
  let mosquittoOutput = '';

  afterAll(async () => {
    await closeSockets();
    await closeDevices();
    await runtime?.close();
    if (mosquitto && mosquitto.exitCode === null) {
      const exited = new Promise((resolve) => mosquitto!.once('exit', resolve));
      mosquitto.kill('SIGTERM');
      await exited;
    }
    await removeDataDir(dataDir);
  });

  it('carries a reading from a device on mosquitto to history and to a WebSocket subscriber', async () => {
    if (!existsSync(MOSQUITTO)) {
      throw new Error(
        `${MOSQUITTO} is missing: install it with "sudo apt-get update && sudo apt-get install -y --no-install-recommends mosquitto" (npm test does this)`,
      );
    }
    dataDir = await makeDataDir();
    const port = await freePort();
    const conf = join(dataDir, 'mosquitto.conf');
    await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\npersistence false\n`);
    mosquitto = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    mosquitto.stdout!.on('data', (d) => (mosquittoOutput += d));
    mosquitto.stderr!.on('data', (d) => (mosquittoOutput += d));
    await eventually(`mosquitto listening on ${port}`, async () => {
      if (mosquitto!.exitCode !== null) throw new Error(`mosquitto exited ${mosquitto!.exitCode}: ${mosquittoOutput}`);
      return (await canConnect(port)) ? true : undefined;
    });

    const mqttUrl = `mqtt://127.0.0.1:${port}`;
    runtime = await startTestRuntime(dataDir, { mqttUrl });
    expect(runtime.urls.mqtt).toBe(mqttUrl);
    expect(await getJson(`${runtime.urls.api}/health`)).toMatchObject({ status: 200, body: { status: 'ok' } });

    const sensorId = 'mosq-a';
    const ws = await WsClient.open(runtime.urls.ws);
    await ws.subscribe([sensorId]);
    const device = await connectDevice(mqttUrl, sensorId);
    const ts = Date.now() - 1000;
    const values = { temperature: 19.5, humidity: 55 };
    await device.publishAsync(telemetryTopic(sensorId), json({ ts, values, units: { temperature: '°C' } }), { qos: 1 });

    // An external broker cannot hold the PUBACK back, so wait for the live frame before the pipeline.
    expect(await ws.waitForReading(sensorId, ts)).toEqual({ type: 'readings', readings: [{ sensorId, ts, values }] });
    await runtime.rules.idle();
    expect(await rawReadings(runtime, sensorId, ts - MINUTE, ts + MINUTE)).toEqual([{ ts, values }]);
    // mosquitto emits no presence events: a sensor with recent readings is shown online.
    expect(await listedSensor(runtime, sensorId)).toMatchObject({
      sensorId,
      online: true,
      metrics: ['humidity', 'temperature'],
      units: { temperature: '°C' },
      latest: { ts, values },
    });

    // A command reaches the device through the external broker.
    await device.subscribeAsync(`sensors/${sensorId}/commands`, { qos: 1 });
    const received = nextMessage(device, `sensors/${sensorId}/commands`);
    const sent = await ws.request({ action: 'command', sensorId, command: { name: 'setInterval', args: { intervalMs: 2000 } } });
    expect(sent).toEqual({ type: 'commandSent', id: expect.stringMatching(UUID), sensorId });
    expect(JSON.parse((await received).toString('utf8'))).toEqual({
      id: sent.id,
      name: 'setInterval',
      args: { intervalMs: 2000 },
      issuedAt: expect.any(Number),
    });

    // mosquitto lets a payload over 128 KiB through: it is dead-lettered TOO_LARGE, and nothing is stored.
    // Otherwise valid (a full batch of 32-metric readings), so TOO_LARGE is the first code that applies.
    const wide = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`metric_${String(i).padStart(5, '0')}`, 1.5]));
    const big = json(Array.from({ length: 500 }, (_, i) => ({ ts: ts - 2 * MINUTE + i, values: wide })));
    expect(Buffer.byteLength(big)).toBeGreaterThan(128 * 1024);
    const lettersBefore = (await readDeadLetters(runtime)).length;
    await device.publishAsync(telemetryTopic(sensorId), big, { qos: 1 });
    const letters = await eventually('the oversized payload dead-lettered', async () => {
      const all = (await readDeadLetters(runtime!)).slice(lettersBefore);
      return all.length > 0 ? all : undefined;
    });
    expect(letters.map((l) => [l.topic, l.code])).toEqual([[telemetryTopic(sensorId), 'TOO_LARGE']]);
    await runtime.rules.idle();
    expect(await rawReadings(runtime, sensorId, ts - MINUTE, ts + MINUTE)).toEqual([{ ts, values }]);

    // Without its broker, the runtime is not healthy.
    const exited = new Promise((resolve) => mosquitto!.once('exit', resolve));
    mosquitto.kill('SIGTERM');
    await exited;
    await eventually('health to report the lost broker', async () => {
      const res = await checkedFetch(`${runtime!.urls.api}/health`);
      await res.arrayBuffer();
      return res.status === 503 ? true : undefined;
    });
  });
});

describe.sequential('local runtime start-up', () => {
  let dataDir: string;
  let blocker: net.Server | undefined;

  afterAll(async () => {
    if (blocker) await new Promise<void>((resolve) => blocker!.close(() => resolve()));
    await removeDataDir(dataDir);
  });

  it('rejects with a message naming the HTTP port when it is taken', async () => {
    dataDir = await makeDataDir();
    blocker = net.createServer();
    await new Promise<void>((resolve) => blocker!.listen(0, HOST, () => resolve()));
    const port = (blocker.address() as net.AddressInfo).port;
    await expect(startLocalRuntime({ host: HOST, port, mqttPort: 0, mqttsPort: 0, dataDir, log: () => undefined })).rejects.toThrow(
      new RegExp(`\\b${port}\\b`),
    );
  });
});

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, HOST);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
