/**
 * The bad-input gauntlet: one local runtime (in-process, free ports) takes malformed input on every door it
 * has (MQTT payloads, MQTT topics and identities, the HTTP API, the WebSocket) and gives each one its
 * contract answer, while valid readings from the same and other sensors go in between. After each group
 * every listener must still answer; at the end every valid reading must be stored, and nothing else.
 */
import { readFile } from 'node:fs/promises';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { LocalRuntime } from '../../local/runtime.js';
import { REJECTION_CODES } from '../../lambdas/core/telemetry.js';
import {
  WsClient,
  attemptDevice,
  closeDevices,
  closeSockets,
  connectDevice,
  getJson,
  getText,
  listedSensor,
  makeDataDir,
  rawReadings,
  readDeadLetters,
  removeDataDir,
  startTestRuntime,
  telemetryTopic,
} from '../support/runtime.js';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const json = (value: unknown) => JSON.stringify(value);

/** The device that sends the bad payloads (and valid ones between them), and two well-behaved ones. */
const BAD = 'g-bad';
const GOOD = ['g-good-1', 'g-good-2'];

describe.sequential('bad-input gauntlet against one local runtime', () => {
  let dataDir: string;
  let runtime: LocalRuntime;
  const devices = new Map<string, MqttClient>();
  /** Every valid reading published and acknowledged: sensorId → ts → values. */
  const sent = new Map<string, Map<number, Record<string, number>>>();
  let base = 0;
  let counter = 0;
  let probes = 0;
  let letterCount = 0;

  /** One valid reading from `sensorId`, at a ts of its own; waits for the PUBACK. */
  async function valid(sensorId: string, extra: Record<string, unknown> = {}): Promise<void> {
    counter += 1;
    const ts = base + counter * 100;
    const values = { temperature: counter, humidity: counter % 100 };
    await devices.get(sensorId)!.publishAsync(telemetryTopic(sensorId), json({ ts, values, ...extra }), { qos: 1 });
    if (!sent.has(sensorId)) sent.set(sensorId, new Map());
    sent.get(sensorId)!.set(ts, values);
  }

  /** Valid readings between two bad inputs: one from the bad device, one from a good one (alternating). */
  async function validBetween(): Promise<void> {
    await valid(BAD);
    await valid(GOOD[counter % 2]);
  }

  /** Health 200, a fresh MQTT connection, and a WebSocket ping answered. */
  async function listenersAnswer(): Promise<void> {
    expect(await getJson(`${runtime.urls.api}/health`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    probes += 1;
    const probe = await connectDevice(runtime.urls.mqtt!, `g-probe-${probes}`);
    expect(probe.connected).toBe(true);
    await probe.endAsync();
    const ws = await WsClient.open(runtime.urls.ws);
    expect(await ws.request({ action: 'ping' })).toEqual({ type: 'pong' });
    await ws.close();
  }

  beforeAll(async () => {
    dataDir = await makeDataDir('vigia-gauntlet-');
    runtime = await startTestRuntime(dataDir);
    base = Date.now() - 20 * MINUTE;
    for (const id of [BAD, ...GOOD]) devices.set(id, await connectDevice(runtime.urls.mqtt!, id));
  });

  afterAll(async () => {
    await closeSockets();
    await closeDevices();
    await runtime?.close();
    await removeDataDir(dataDir);
  });

  it('dead-letters every malformed MQTT payload with its contract code, storing the valid ones between them', async () => {
    const now = Date.now();
    const ts = now - 3 * MINUTE;
    const thirtyThree = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`m${i}`, i]));
    const nested = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
    const cases: Array<{ name: string; payload: string | Buffer; code: string | string[] }> = [
      { name: 'not UTF-8', payload: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]), code: 'INVALID_JSON' },
      { name: 'truncated JSON', payload: '{"ts": 1, "values": {"temperature": 2', code: 'INVALID_JSON' },
      { name: 'null', payload: 'null', code: 'INVALID_SHAPE' },
      { name: '42', payload: '42', code: 'INVALID_SHAPE' },
      { name: 'a string', payload: '"str"', code: 'INVALID_SHAPE' },
      { name: 'an empty batch', payload: '[]', code: 'INVALID_SHAPE' },
      {
        name: 'a 501-reading batch',
        payload: json(Array.from({ length: 501 }, (_, i) => ({ ts: now - 10 * MINUTE + i, values: { temperature: 1 } }))),
        code: 'TOO_LARGE',
      },
      { name: 'an unknown key in form 1', payload: json({ ts, values: { temperature: 1 }, extra: 1 }), code: 'INVALID_SHAPE' },
      {
        name: 'a batch element without values',
        payload: json([{ ts, values: { temperature: 1 } }, { ts: ts + 1 }]),
        code: 'INVALID_SHAPE',
      },
      { name: 'values []', payload: json({ ts, values: [] }), code: 'INVALID_SHAPE' },
      { name: 'values {}', payload: json({ ts, values: {} }), code: 'INVALID_SHAPE' },
      { name: 'a value of 1e400', payload: `{"ts": ${ts}, "values": {"temperature": 1e400}}`, code: 'INVALID_VALUE' },
      { name: 'a string value', payload: json({ ts, values: { temperature: '21.4' } }), code: 'INVALID_VALUE' },
      { name: 'a metric name starting with a digit', payload: json({ ts, values: { '1temperature': 1 } }), code: 'INVALID_VALUE' },
      { name: 'a __proto__ metric (flat)', payload: `{"ts": ${ts}, "__proto__": 1}`, code: 'INVALID_VALUE' },
      { name: 'a __proto__ metric (form 1)', payload: `{"ts": ${ts}, "values": {"__proto__": 1}}`, code: 'INVALID_VALUE' },
      { name: '33 metrics', payload: json({ ts, values: thirtyThree }), code: 'TOO_MANY_METRICS' },
      {
        name: 'a 17-character unit',
        payload: json({ ts, values: { temperature: 1 }, units: { temperature: 'abcdefghijklmnopq' } }),
        code: 'INVALID_SHAPE',
      },
      {
        name: 'a unit that is a number',
        payload: json({ ts, values: { temperature: 1 }, units: { temperature: 7 } }),
        code: 'INVALID_SHAPE',
      },
      { name: 'ts a float', payload: json({ ts: ts + 0.5, values: { temperature: 1 } }), code: 'TS_OUT_OF_RANGE' },
      { name: 'ts a string', payload: json({ ts: String(ts), values: { temperature: 1 } }), code: 'TS_OUT_OF_RANGE' },
      { name: 'ts 31 days old', payload: json({ ts: now - 31 * DAY, values: { temperature: 1 } }), code: 'TS_OUT_OF_RANGE' },
      { name: 'ts 6 minutes ahead', payload: json({ ts: now + 6 * MINUTE, values: { temperature: 1 } }), code: 'TS_OUT_OF_RANGE' },
      { name: 'an emoji in a metric name', payload: json({ ts, values: { 'temp🌡': 1 } }), code: 'INVALID_VALUE' },
      {
        name: 'a 17-emoji unit',
        payload: json({ ts, values: { temperature: 1 }, units: { temperature: '🌡'.repeat(17) } }),
        code: 'INVALID_SHAPE',
      },
      { name: 'a flat object with no metric', payload: json({ ts }), code: 'INVALID_SHAPE' },
      { name: 'units a string (flat)', payload: json({ ts, temperature: 1, units: 'C' }), code: 'INVALID_SHAPE' },
      // V8 parses deep nesting without recursion; whichever code the parser leads to, it is a contract code.
      { name: '10,000 levels of nesting', payload: nested, code: [...REJECTION_CODES] },
    ];

    await validBetween();
    for (const c of cases) {
      await devices.get(BAD)!.publishAsync(telemetryTopic(BAD), c.payload, { qos: 1 });
      await validBetween();
    }
    // A unit of 16 emoji is 16 code points (32 UTF-16 units): accepted.
    await valid(BAD, { units: { temperature: '🌡'.repeat(16), humidity: '💧' } });
    await validBetween();

    // Valid, if odd: metric names that are Object.prototype members, and a ts written as 1.0 (an integer).
    const proto = await connectDevice(runtime.urls.mqtt!, 'g-proto');
    devices.set('g-proto', proto);
    const minute = Math.floor((now - 8 * MINUTE) / MINUTE) * MINUTE;
    const protoValues = [
      { constructor: 1, toString: 2, hasOwnProperty: 3, valueOf: 4 },
      { constructor: 5, toString: 6, hasOwnProperty: 7, valueOf: 8 },
    ];
    await proto.publishAsync(
      telemetryTopic('g-proto'),
      json({ ts: minute + 1000, values: protoValues[0], units: { constructor: 'c', toString: 's' } }),
      { qos: 1 },
    );
    await proto.publishAsync(telemetryTopic('g-proto'), `{"ts": ${minute + 2000}.0, "values": ${json(protoValues[1])}}`, { qos: 1 });
    sent.set(
      'g-proto',
      new Map([
        [minute + 1000, protoValues[0]],
        [minute + 2000, protoValues[1]],
      ]),
    );
    await validBetween();
    await runtime.rules.idle();
    const protoMinute = await getJson(`${runtime.urls.api}/sensors/g-proto/readings?resolution=1m&from=${minute}&to=${minute + MINUTE}`);
    expect(protoMinute.status).toBe(200);
    expect(protoMinute.body.points).toEqual([
      {
        ts: minute,
        values: {
          constructor: { min: 1, max: 5, avg: 3, count: 2 },
          toString: { min: 2, max: 6, avg: 4, count: 2 },
          hasOwnProperty: { min: 3, max: 7, avg: 5, count: 2 },
          valueOf: { min: 4, max: 8, avg: 6, count: 2 },
        },
      },
    ]);
    expect(await listedSensor(runtime, 'g-proto')).toMatchObject({
      metrics: ['constructor', 'hasOwnProperty', 'toString', 'valueOf'],
      units: { constructor: 'c', toString: 's' },
      latest: { ts: minute + 2000, values: protoValues[1] },
    });

    const letters = await readDeadLetters(runtime);
    const summary: string[] = [];
    for (const c of cases) {
      const bytes = Buffer.isBuffer(c.payload) ? c.payload : Buffer.from(c.payload, 'utf8');
      const mine = letters.filter((l) => l.payload === bytes.toString('base64'));
      expect(mine, c.name).toHaveLength(1);
      expect(mine[0], c.name).toMatchObject({ topic: telemetryTopic(BAD), sensorId: BAD, message: expect.any(String) });
      if (Array.isArray(c.code)) expect(c.code, c.name).toContain(mine[0].code);
      else expect(mine[0].code, c.name).toBe(c.code);
      summary.push(`${c.name} → ${mine[0].code}`);
    }
    console.log(`gauntlet MQTT payloads:\n  ${summary.join('\n  ')}`);
    expect(letters).toHaveLength(cases.length);
    letterCount = letters.length;
    expect(devices.get(BAD)!.connected).toBe(true);

    const listed = await listedSensor(runtime, BAD);
    expect(listed.units).toEqual({ temperature: '🌡'.repeat(16), humidity: '💧' });
    expect(listed.metrics).toEqual(['humidity', 'temperature']);

    // A payload of 128 KiB + 1 byte (valid JSON otherwise): the broker refuses it, DISCONNECT 0x95.
    const big = await connectDevice(runtime.urls.mqtt!, 'g-big');
    const disconnect = new Promise<number | undefined>((resolve) => big.once('disconnect', (packet) => resolve(packet.reasonCode)));
    const closed = new Promise<void>((resolve) => big.once('close', () => resolve()));
    const head = json({ ts, values: { temperature: 1 } });
    const oversize = head + ' '.repeat(128 * 1024 + 1 - head.length);
    expect(Buffer.byteLength(oversize)).toBe(128 * 1024 + 1);
    big.publish(telemetryTopic('g-big'), oversize, { qos: 1 }, () => undefined);
    expect(await disconnect).toBe(0x95);
    await closed;
    await big.endAsync(true);
    await runtime.rules.idle();
    expect(await rawReadings(runtime, 'g-big', now - DAY, now + DAY)).toEqual([]);
    expect((await listedSensor(runtime, 'g-big'))?.latest ?? null).toBeNull();
    expect(await readDeadLetters(runtime)).toHaveLength(letterCount);

    await validBetween();
    await listenersAnswer();
  });

  it('refuses publishes and subscribes outside the device’s own topics, and client ids breaking the rule', async () => {
    const device = devices.get(BAD)!;
    const topics = [
      telemetryTopic('g-good-1'),
      `${telemetryTopic(BAD)}/extra`,
      'sensors/g-bad',
      '$aws/events/presence/connected/g-bad',
      'sensors/g-bad/commands',
    ];
    for (const topic of topics) {
      await expect(device.publishAsync(topic, json({ values: { temperature: 1 } }), { qos: 1 }), topic).rejects.toMatchObject({
        code: 0x87,
      });
      expect(device.connected, topic).toBe(true);
      await validBetween();
    }
    for (const filter of ['#', 'sensors/+/commands', 'sensors/g-good-1/commands', `${telemetryTopic(BAD)}`]) {
      await expect(device.subscribeAsync(filter, { qos: 1 }), filter).rejects.toMatchObject({ packet: { granted: [0x87] } });
      expect(device.connected, filter).toBe(true);
      await validBetween();
    }

    const clientIds = ['a/b', 'a b', '../x', 'x'.repeat(65), "'; DROP TABLE sensors; --", '', 'sensor+1', 'émile'];
    for (const clientId of clientIds) {
      const outcome = await attemptDevice(runtime.urls.mqtt!, { clientId });
      expect(outcome, JSON.stringify(clientId)).toMatchObject({ kind: 'refused', code: 0x85 });
      await validBetween();
    }
    // MQTT 3.1.1: CONNACK 0x02, and a refused PUBLISH closes the connection.
    expect(await attemptDevice(runtime.urls.mqtt!, { clientId: 'a/b', protocolVersion: 4 })).toMatchObject({ kind: 'refused', code: 2 });
    const old = await connectDevice(runtime.urls.mqtt!, 'g-v4', { protocolVersion: 4 });
    const oldClosed = new Promise<void>((resolve) => old.once('close', () => resolve()));
    old.publish(telemetryTopic('g-good-1'), json({ values: { temperature: 1 } }), { qos: 1 }, () => undefined);
    await oldClosed;
    await old.endAsync(true);
    await runtime.rules.idle();
    // Refused by the broker: nothing reaches the rules, nothing is dead-lettered.
    expect(await readDeadLetters(runtime)).toHaveLength(letterCount);

    await validBetween();
    await listenersAnswer();
  });

  it('answers malformed HTTP API requests with their contract status and code', async () => {
    const api = runtime.urls.api;
    const sensor = 'g-good-1';
    const readings = `${api}/sensors/${sensor}/readings`;
    const now = Date.now();
    const first = await getJson(`${readings}?resolution=raw&limit=1&from=${base}&to=${now}`);
    expect(first.status).toBe(200);
    const cursor: string = first.body.nextCursor;
    expect(typeof cursor).toBe('string');

    const metric33 = Array.from({ length: 33 }, (_, i) => `m${i}`).join(',');
    const cases: Array<{ path: string; status: number; code?: string; init?: RequestInit }> = [
      { path: '/sensors/..%2F..%2Fetc', status: 400, code: 'INVALID_PARAMETER' },
      { path: '/sensors/..%2F..%2Fetc/readings', status: 400, code: 'INVALID_PARAMETER' },
      { path: '/sensors/%00', status: 400, code: 'INVALID_PARAMETER' },
      { path: '/sensors/%E0%A4%A', status: 400, code: 'INVALID_PARAMETER' },
      { path: "/sensors/x'OR'1'='1", status: 400, code: 'INVALID_PARAMETER' },
      { path: "/sensors/x'OR'1'='1/readings", status: 400, code: 'INVALID_PARAMETER' },
      { path: `/sensors/${'x'.repeat(65)}`, status: 400, code: 'INVALID_PARAMETER' },
      { path: `/sensors/${'x'.repeat(64)}`, status: 404, code: 'SENSOR_NOT_FOUND' },
      { path: '/sensors/never-seen/readings', status: 404, code: 'SENSOR_NOT_FOUND' },
      { path: `/sensors/${sensor}/readings?from=abc`, status: 400, code: 'INVALID_RANGE' },
      { path: `/sensors/${sensor}/readings?from=`, status: 400, code: 'INVALID_RANGE' },
      { path: `/sensors/${sensor}/readings?from=1e3`, status: 400, code: 'INVALID_RANGE' },
      { path: `/sensors/${sensor}/readings?to=${'9'.repeat(17)}`, status: 400, code: 'INVALID_RANGE' },
      { path: `/sensors/${sensor}/readings?from=2026-02-30`, status: 400, code: 'INVALID_RANGE' },
      { path: `/sensors/${sensor}/readings?to=2026-11-26T25:00`, status: 400, code: 'INVALID_RANGE' },
      { path: `/sensors/${sensor}/readings?from=${now}&to=${now - 1000}`, status: 400, code: 'INVALID_RANGE' },
      { path: `/sensors/${sensor}/readings?from=${now}&to=${now}`, status: 400, code: 'INVALID_RANGE' },
      { path: `/sensors/${sensor}/readings?from=${now - 367 * DAY}&to=${now}`, status: 400, code: 'INVALID_RANGE' },
      // Checked in order: the path's sensorId, then the range, then the other parameters, then existence.
      { path: '/sensors/a.b/readings?from=abc', status: 400, code: 'INVALID_PARAMETER' },
      { path: '/sensors/never-seen/readings?from=abc&limit=0', status: 400, code: 'INVALID_RANGE' },
      { path: '/sensors/never-seen/readings?limit=0', status: 400, code: 'INVALID_PARAMETER' },
      { path: `/sensors/${sensor}/readings?limit=0`, status: 400, code: 'INVALID_PARAMETER' },
      { path: `/sensors/${sensor}/readings?limit=10001`, status: 400, code: 'INVALID_PARAMETER' },
      { path: `/sensors/${sensor}/readings?limit=-1`, status: 400, code: 'INVALID_PARAMETER' },
      { path: `/sensors/${sensor}/readings?limit=1e3`, status: 400, code: 'INVALID_PARAMETER' },
      { path: `/sensors/${sensor}/readings?limit=`, status: 400, code: 'INVALID_PARAMETER' },
      { path: `/sensors/${sensor}/readings?resolution=5m`, status: 400, code: 'INVALID_PARAMETER' },
      { path: `/sensors/${sensor}/readings?metrics=1bad`, status: 400, code: 'INVALID_PARAMETER' },
      { path: `/sensors/${sensor}/readings?metrics=`, status: 400, code: 'INVALID_PARAMETER' },
      { path: `/sensors/${sensor}/readings?metrics=${metric33}`, status: 400, code: 'INVALID_PARAMETER' },
      { path: `/sensors/${sensor}/readings?cursor=garbage`, status: 400, code: 'INVALID_PARAMETER' },
      {
        path: `/sensors/${sensor}/readings?cursor=${Buffer.from('{"s":1}').toString('base64url')}`,
        status: 400,
        code: 'INVALID_PARAMETER',
      },
      {
        path: `/sensors/${sensor}/readings?resolution=raw&limit=1&from=${base + 1}&to=${now}&cursor=${encodeURIComponent(cursor)}`,
        status: 400,
        code: 'INVALID_PARAMETER',
      },
      { path: `/sensors/g-good-2/readings?cursor=${encodeURIComponent(cursor)}`, status: 400, code: 'INVALID_PARAMETER' },
      { path: `/sensors/${sensor}/readings?format=xml`, status: 400, code: 'INVALID_PARAMETER' },
      { path: `/sensors/${sensor}/readings?metrics=${'a'.repeat(10 * 1024)}`, status: 400, code: 'INVALID_PARAMETER' },
      // Unknown query parameters are ignored, however long.
      { path: `/sensors/${sensor}/readings?pad=${'a'.repeat(10 * 1024)}`, status: 200 },
      { path: '/sensors', status: 405, code: 'METHOD_NOT_ALLOWED', init: { method: 'POST', body: '{"sensorId":"x"}' } },
      { path: `/sensors/${sensor}/readings`, status: 405, code: 'METHOD_NOT_ALLOWED', init: { method: 'DELETE' } },
      { path: '/nothing-here', status: 404, code: 'NOT_FOUND' },
      { path: `/sensors/${sensor}/readings/extra`, status: 404, code: 'NOT_FOUND' },
    ];
    for (const c of cases) {
      const res = await getJson(`${api}${c.path}`, c.init);
      const label = `${c.init?.method ?? 'GET'} ${c.path.slice(0, 120)}`;
      expect(res.status, label).toBe(c.status);
      if (c.code) expect(res.body, label).toEqual({ error: { code: c.code, message: expect.any(String) } });
      await validBetween();
    }
    // A metric named like an Object.prototype member that a point lacks is an empty CSV cell.
    const csv = await getText(`${readings}?resolution=raw&format=csv&metrics=humidity,toString&from=${base}&to=${now}&limit=1`);
    expect(csv.status).toBe(200);
    expect(csv.text.split('\n').slice(0, 2)).toEqual(['ts,humidity,toString', expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+Z,\d+,$/)]);

    // The cursor still works for its own query.
    const second = await getJson(`${readings}?resolution=raw&limit=1&from=${base}&to=${now}&cursor=${encodeURIComponent(cursor)}`);
    expect(second.status).toBe(200);
    expect(second.body.points).toHaveLength(1);

    await validBetween();
    await listenersAnswer();
  });

  it('answers bad WebSocket frames with error frames, keeping the connection open, and closes an oversize one with 1009', async () => {
    const ws = await WsClient.open(runtime.urls.ws);
    expect(await ws.subscribe(['g-good-1'])).toEqual({ type: 'subscribed', sensorIds: ['g-good-1'] });
    const setInterval = (sensorId: string, intervalMs: unknown) => ({
      action: 'command',
      sensorId,
      command: { name: 'setInterval', args: { intervalMs } },
    });
    const hundredAndOne = Array.from({ length: 101 }, (_, i) => `w-${i}`);
    const cases: Array<{ name: string; frame: unknown; code: string }> = [
      { name: 'not JSON', frame: 'this is not JSON', code: 'BAD_REQUEST' },
      { name: 'an empty text', frame: '', code: 'BAD_REQUEST' },
      { name: '[]', frame: '[]', code: 'BAD_REQUEST' },
      { name: '{}', frame: '{}', code: 'BAD_REQUEST' },
      { name: 'null', frame: 'null', code: 'BAD_REQUEST' },
      { name: 'action 42', frame: { action: 42 }, code: 'BAD_REQUEST' },
      { name: 'an unknown action', frame: { action: 'dance' }, code: 'UNKNOWN_ACTION' },
      { name: 'sensorIds not an array', frame: { action: 'subscribe', sensorIds: 'g-good-2' }, code: 'BAD_REQUEST' },
      { name: 'no sensorIds', frame: { action: 'unsubscribe' }, code: 'BAD_REQUEST' },
      { name: 'sensorIds empty', frame: { action: 'subscribe', sensorIds: [] }, code: 'BAD_REQUEST' },
      { name: '101 ids', frame: { action: 'subscribe', sensorIds: hundredAndOne }, code: 'BAD_REQUEST' },
      { name: 'an invalid id a/b', frame: { action: 'subscribe', sensorIds: ['g-good-2', 'a/b'] }, code: 'BAD_REQUEST' },
      { name: 'an id that is a number', frame: { action: 'subscribe', sensorIds: [7] }, code: 'BAD_REQUEST' },
      { name: 'intervalMs 99', frame: setInterval('g-good-1', 99), code: 'BAD_REQUEST' },
      { name: 'intervalMs 3600001', frame: setInterval('g-good-1', 3_600_001), code: 'BAD_REQUEST' },
      { name: 'intervalMs "1000"', frame: setInterval('g-good-1', '1000'), code: 'BAD_REQUEST' },
      { name: 'intervalMs 1000.5', frame: setInterval('g-good-1', 1000.5), code: 'BAD_REQUEST' },
      {
        name: 'an unknown command',
        frame: { action: 'command', sensorId: 'g-good-1', command: { name: 'selfDestruct', args: {} } },
        code: 'BAD_REQUEST',
      },
      { name: 'a command without command', frame: { action: 'command', sensorId: 'g-good-1' }, code: 'BAD_REQUEST' },
      { name: 'a command for a/b', frame: setInterval('a/b', 1000), code: 'BAD_REQUEST' },
      { name: 'a command for a never-seen sensor', frame: setInterval('never-seen-ws', 1000), code: 'SENSOR_NOT_FOUND' },
      {
        name: 'a __proto__ command',
        frame: '{"action":"command","sensorId":"g-good-1","command":{"name":"__proto__","args":{}}}',
        code: 'BAD_REQUEST',
      },
    ];
    for (const c of cases) {
      const reply = await ws.request(c.frame);
      expect(reply, c.name).toEqual({ type: 'error', code: c.code, message: expect.any(String) });
      expect(ws.isOpen, c.name).toBe(true);
      await validBetween();
    }

    // A binary frame.
    const from = ws.frames.length;
    ws.socket.send(Buffer.from([0x00, 0xff, 0x7b, 0x80]), { binary: true });
    const binary = await ws.waitFor((f) => f.type === 'error' || f.type === 'pong', 'a reply to a binary frame', from);
    expect(binary).toEqual({ type: 'error', code: 'BAD_REQUEST', message: expect.any(String) });
    expect(ws.isOpen).toBe(true);
    await validBetween();

    // The 101st subscription ('*' counting as one), then back to where it was.
    const ninetyNine = hundredAndOne.slice(0, 99);
    expect((await ws.subscribe(ninetyNine)).sensorIds).toHaveLength(100);
    expect(await ws.request({ action: 'subscribe', sensorIds: ['*'] })).toMatchObject({ type: 'error', code: 'LIMIT_EXCEEDED' });
    expect(await ws.request({ action: 'subscribe', sensorIds: ['w-100'] })).toMatchObject({ type: 'error', code: 'LIMIT_EXCEEDED' });
    expect(ws.isOpen).toBe(true);
    expect(await ws.request({ action: 'unsubscribe', sensorIds: ninetyNine })).toEqual({ type: 'subscribed', sensorIds: ['g-good-1'] });
    await validBetween();

    // 11 commands in one second: the 11th is refused. The budget is per wall-clock second, so the burst
    // starts just after a second begins, and a later one than any command above (the never-seen sensor's took a
    // token: a burst in that same second had 9 left, and CI saw it).
    const lastSecond = Math.floor(Date.now() / 1000);
    while (Math.floor(Date.now() / 1000) === lastSecond || Date.now() % 1000 > 100) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const burstFrom = ws.frames.length;
    const started = Date.now();
    for (let i = 0; i < 11; i++) ws.send(setInterval('g-good-1', 1000 + i));
    const isReply = (f: { type?: string }) => f.type === 'commandSent' || f.type === 'error';
    await ws.waitFor(() => ws.frames.slice(burstFrom).filter(isReply).length >= 11, '11 replies to 11 commands', burstFrom);
    const ended = Date.now();
    const replies = ws.frames.slice(burstFrom).filter(isReply);
    expect(replies.every((f) => f.type === 'commandSent' || (f.type === 'error' && f.code === 'LIMIT_EXCEEDED'))).toBe(true);
    const seconds = Math.floor(ended / 1000) - Math.floor(started / 1000) + 1;
    if (seconds === 1) expect(replies.map((f) => f.code ?? f.type)).toEqual([...Array(10).fill('commandSent'), 'LIMIT_EXCEEDED']);
    else expect(replies.filter((f) => f.type === 'commandSent').length).toBeLessThanOrEqual(10 * seconds);
    expect(ws.isOpen).toBe(true);
    await validBetween();

    // Nothing changed: still subscribed to g-good-1 only, and it still gets its readings.
    expect(await ws.request({ action: 'unsubscribe', sensorIds: ['nobody'] })).toEqual({ type: 'subscribed', sensorIds: ['g-good-1'] });
    await valid('g-good-1');
    const lastTs = [...sent.get('g-good-1')!.keys()].at(-1)!;
    await runtime.rules.idle();
    await ws.waitForReading('g-good-1', lastTs);

    // A frame over 32 KB closes the connection with 1009; the server stays up.
    const closeCode = new Promise<number>((resolve) => ws.socket.once('close', (code: number) => resolve(code)));
    ws.send(json({ action: 'ping', pad: 'x'.repeat(33 * 1024) }));
    expect(await closeCode).toBe(1009);
    expect(ws.socket.readyState).toBe(WebSocket.CLOSED);
    await validBetween();
    await listenersAnswer();
  });

  it('stored every valid reading, and only those', async () => {
    await runtime.rules.idle();
    let expected = 0;
    let stored = 0;
    for (const [sensorId, readings] of sent) {
      const points = await rawReadings(runtime, sensorId, base, base + DAY);
      expected += readings.size;
      stored += points.length;
      expect(points, sensorId).toEqual([...readings].map(([ts, values]) => ({ ts, values })));
    }
    console.log(
      `gauntlet: ${expected} valid readings published, ${stored} stored, dead letters ${(await readDeadLetters(runtime)).length}`,
    );
    expect(stored).toBe(expected);
    expect(expected).toBeGreaterThan(200);
    const failed = await readFile(runtime.failedInvocationsFile, 'utf8').catch(() => '');
    expect(failed).toBe('');
  });
});
