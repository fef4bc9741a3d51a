/**
 * What an outsider can send the local runtime without credentials (issue 15): client ids that are
 * Object.prototype names, over MQTT 3.1.1 and 5 on both ports, sent by a raw client, after which HTTP, the
 * WebSocket and MQTT must all still answer and the hostile-named sensor's valid reading must be kept.
 */
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { issueDeviceCert } from '../../local/ca.js';
import { startDynamo } from '../../local/dynamo.js';
import {
  HOST,
  WsClient,
  closeDevices,
  closeSockets,
  connectDevice,
  eventually,
  getJson,
  listedSensor,
  makeDataDir,
  publishInternally,
  readDeadLetters,
  removeDataDir,
  runtimeLogs,
  startTestRuntime,
  telemetryTopic,
  upgradeStatus,
} from '../support/runtime.js';
import { connackCode, openRawSession, rawPackets, type ProtocolLevel, type RawTarget } from '../support/raw-mqtt.js';
import { setTimeout as sleep } from 'node:timers/promises';

/** Short broker limits, so stalled connections are seen closing within a test. */
const HANDSHAKE_TIMEOUT_MS = 1000;
const CONNECT_TIMEOUT_MS = 1500;
const MAX_PENDING = 40;
/** Small dead-letter caps, so rotation is seen with a few rejected payloads. */
const DEAD_LETTER_FILE_BYTES = 16 * 1024;
const DEAD_LETTER_PAYLOAD_CHARS = 4096;

/** Valid sensorIds (contract §1) that name Object.prototype members. */
const PROTOTYPE_NAMES = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__'];

let dataDir: string;
let runtime: LocalRuntime;
let ca: string;
const certs = new Map<string, { key: string; cert: string }>();

beforeAll(async () => {
  dataDir = await makeDataDir('vigia-hostile-');
  runtime = await startTestRuntime(dataDir, {
    deadLetterLimits: { maxFileBytes: DEAD_LETTER_FILE_BYTES, maxPayloadChars: DEAD_LETTER_PAYLOAD_CHARS },
    brokerLimits: { tlsHandshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS, connectTimeoutMs: CONNECT_TIMEOUT_MS, maxPendingConnections: MAX_PENDING },
  });
  ca = await readFile(`${dataDir}/certs/ca.crt`, 'utf8');
  for (const id of PROTOTYPE_NAMES) {
    const files = await issueDeviceCert(dataDir, id);
    certs.set(id, { key: await readFile(files.keyPath, 'utf8'), cert: await readFile(files.certPath, 'utf8') });
  }
}, 60_000);

afterEach(async () => {
  await closeDevices();
  await closeSockets();
});

afterAll(async () => {
  await runtime?.close();
  await removeDataDir(dataDir);
});

let nextSensor = 0;
/** HTTP, the WebSocket and MQTT each answer a fresh request. */
async function expectRuntimeAnswers(): Promise<void> {
  const health = await getJson(`${runtime.urls.api}/health`);
  expect(health.body).toEqual({ status: 'ok' });
  const ws = await WsClient.open(runtime.urls.ws);
  expect((await ws.request({ action: 'ping' })).type).toBe('pong');
  await ws.close();
  nextSensor += 1;
  const device = await connectDevice(runtime.urls.mqtt!, `after-hostile-${nextSensor}`);
  await device.publishAsync(telemetryTopic(`after-hostile-${nextSensor}`), JSON.stringify({ temperature: 1 }), { qos: 1 });
}

describe.each([
  { port: 'MQTT (1883)', secure: false },
  { port: 'MQTTS (8883, certificate CN = client id)', secure: true },
])('$port', ({ secure }) => {
  describe.each([{ level: 4 as ProtocolLevel }, { level: 5 as ProtocolLevel }])('MQTT protocol level $level', ({ level }) => {
    it.each(PROTOTYPE_NAMES)(
      'a device with client id %s connects, is refused foreign topics, has its reading kept, and the runtime keeps answering',
      async (clientId) => {
        const target: RawTarget = secure
          ? { host: HOST, port: runtime.mqttsPort!, tls: { ...certs.get(clientId)!, ca } }
          : { host: HOST, port: runtime.mqttPort! };
        const session = await openRawSession(target);
        session.write(rawPackets.connect(clientId, level));
        await session.waitForBytes(4);
        expect(connackCode(session.received), `CONNACK for ${clientId}`).toBe(0);

        // Topic filters that are prototype names too, subscribed and unsubscribed: refused, nothing crashes.
        let id = 1;
        for (const topic of PROTOTYPE_NAMES) {
          session.write(rawPackets.subscribe(topic, level, id++));
          session.write(rawPackets.unsubscribe(topic, level, id++));
        }
        const ts = Date.now() - 1000 * (PROTOTYPE_NAMES.indexOf(clientId) + 1) - (secure ? 10_000 : 0) - level * 100_000;
        session.write(rawPackets.publish(telemetryTopic(clientId), JSON.stringify({ ts, values: { temperature: 20.5 } }), level, id++));
        // Two SUBACK/UNSUBACK per name then the PUBACK: at least 4 bytes each.
        await session.waitForBytes(4 + 4 * (2 * PROTOTYPE_NAMES.length + 1));
        expect(session.closed, 'the broker closed the session').toBe(false);
        session.write(rawPackets.disconnect(level));
        await session.end();

        await expectRuntimeAnswers();
        const sensor = await eventually(`${clientId} listed with its reading at ${ts}`, async () => {
          const listed = await listedSensor(runtime, clientId);
          return listed && listed.latest !== null ? listed : undefined;
        });
        expect(sensor.sensorId).toBe(clientId);
        expect(sensor.metrics).toEqual(['temperature']);
        // The sensor may be listed from an earlier run already; its history shows this reading within the
        // history writer's batching window.
        const points = await eventually(`${clientId}'s reading at ${ts} in its history`, async () => {
          const readings = await getJson(`${runtime.urls.api}/sensors/${clientId}/readings?from=${ts}&to=${ts + 1}&resolution=raw`);
          return readings.body.points?.length ? readings.body.points : undefined;
        });
        expect(points).toEqual([{ ts, values: { temperature: 20.5 } }]);
      },
    );
  });
});

describe('connections that never finish their TLS handshake or CONNECT', () => {
  /** Raw TCP sockets that send nothing; each records when it was closed by the server. */
  async function openStalled(port: number, count: number): Promise<Array<{ socket: net.Socket; closedAt: Promise<number> }>> {
    return Promise.all(
      Array.from({ length: count }, () => {
        const socket = net.connect(port, HOST);
        socket.on('error', () => undefined);
        const closedAt = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
        return new Promise<{ socket: net.Socket; closedAt: Promise<number> }>((resolve) =>
          socket.once('connect', () => resolve({ socket, closedAt })),
        );
      }),
    );
  }

  it('closes a stalled TLS handshake on 8883 after the handshake timeout, and a stalled CONNECT on 1883 after the connect timeout', async () => {
    const started = Date.now();
    const [tlsStalled, tcpStalled] = await Promise.all([openStalled(runtime.mqttsPort!, 10), openStalled(runtime.mqttPort!, 10)]);
    const tlsClosed = await Promise.all(tlsStalled.map((s) => s.closedAt));
    const tcpClosed = await Promise.all(tcpStalled.map((s) => s.closedAt));
    for (const at of tlsClosed) expect(at - started).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 100);
    expect(Math.max(...tlsClosed) - started).toBeLessThan(HANDSHAKE_TIMEOUT_MS + 4000);
    for (const at of tcpClosed) expect(at - started).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 100);
    expect(Math.max(...tcpClosed) - started).toBeLessThan(CONNECT_TIMEOUT_MS + 4000);
  });

  it('closes sockets over the cap of not-yet-connected ones at once, keeps HTTP answering, and lets a device in once they are gone', async () => {
    const started = Date.now();
    const stalled = await openStalled(runtime.mqttsPort!, MAX_PENDING + 30);
    const health = await getJson(`${runtime.urls.api}/health`);
    expect(health.body).toEqual({ status: 'ok' });
    const closedEarly = await Promise.all(
      stalled.map((s) =>
        Promise.race([
          s.closedAt.then((at) => at - started < HANDSHAKE_TIMEOUT_MS - 100),
          sleep(HANDSHAKE_TIMEOUT_MS - 100).then(() => false),
        ]),
      ),
    );
    expect(closedEarly.filter(Boolean).length).toBeGreaterThanOrEqual(30);
    await Promise.all(stalled.map((s) => s.closedAt));

    const files = await issueDeviceCert(dataDir, 'after-stall');
    const device = await connectDevice(runtime.urls.mqtts!, 'after-stall', {
      ca: await readFile(`${dataDir}/certs/ca.crt`, 'utf8'),
      key: await readFile(files.keyPath, 'utf8'),
      cert: await readFile(files.certPath, 'utf8'),
    });
    expect(device.connected).toBe(true);
  });
});

describe("pages and names that are not the server's own", () => {
  /** One HTTP GET with a chosen Host header (fetch will not send a forged one). */
  function getWithHost(path: string, host: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.get({ host: HOST, port: runtime.port, path, headers: { host } }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });
  }

  it('/config.json gives the endpoints of the Host it was asked by when that is the server, and nothing to a forged Host', async () => {
    const own = await getWithHost('/config.json', `localhost:${runtime.port}`);
    expect(own.status).toBe(200);
    expect(JSON.parse(own.body)).toMatchObject({
      apiUrl: `http://localhost:${runtime.port}/api`,
      wsUrl: `ws://localhost:${runtime.port}/ws`,
    });

    for (const forged of ['evil.example', `evil.example:${runtime.port}`, `127.0.0.1:${runtime.port + 1}`, 'a@b', '']) {
      const answer = await getWithHost('/config.json', forged);
      if (forged === '') {
        // No Host at all: the server's own name.
        expect(JSON.parse(answer.body).apiUrl).toBe(`http://127.0.0.1:${runtime.port}/api`);
        continue;
      }
      expect(answer.status, `Host ${forged}`).toBe(421);
      expect(answer.body).not.toContain('evil.example');
      expect(JSON.parse(answer.body).error.code).toBe('MISDIRECTED_REQUEST');
    }
    // The API too: a DNS-rebinding page reads nothing.
    expect((await getWithHost('/api/sensors', `evil.example:${runtime.port}`)).status).toBe(421);
  });

  it('/ws refuses an upgrade from a page of another origin or with a forged Host, and accepts its own page and non-browser clients', async () => {
    expect(await upgradeStatus(runtime.urls.ws, { origin: 'http://evil.example' })).toBe(403);
    expect(await upgradeStatus(runtime.urls.ws, { origin: `http://127.0.0.1:${runtime.port + 1}` })).toBe(403);
    expect(await upgradeStatus(runtime.urls.ws, { origin: 'null' })).toBe(403);
    expect(await upgradeStatus(runtime.urls.ws, { origin: `http://127.0.0.1:${runtime.port}`, host: `evil.example:${runtime.port}` })).toBe(
      403,
    );
    expect(await upgradeStatus(runtime.urls.ws, { origin: `http://127.0.0.1:${runtime.port}` })).toBe(101);
    expect(await upgradeStatus(runtime.urls.ws, { origin: `http://localhost:${runtime.port}`, host: `localhost:${runtime.port}` })).toBe(
      101,
    );
    // The dashboard's own page subscribes as before.
    const ws = await WsClient.open(runtime.urls.ws);
    expect((await ws.subscribe(['*'])).sensorIds).toEqual(['*']);
  });
});

describe('the internal AWS stand-ins', () => {
  it('refuse an unsigned publish to the IoT data plane: nobody injects a reading as a sensor', async () => {
    const ts = Date.now() - 5000;
    const res = await fetch(`${process.env.IOT_DATA_ENDPOINT}/topics/${encodeURIComponent(telemetryTopic('injected'))}?qos=1`, {
      method: 'POST',
      body: JSON.stringify({ ts, values: { temperature: 99 } }),
    });
    expect(res.status).toBe(403);
    // Signed with made-up credentials: refused too.
    const forged = new IoTDataPlaneClient({
      endpoint: process.env.IOT_DATA_ENDPOINT,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    await expect(
      forged.send(new PublishCommand({ topic: telemetryTopic('injected'), payload: Buffer.from('{"temperature":1}') })),
    ).rejects.toThrow();
    forged.destroy();
    // The runtime's own clients still publish (a command's path).
    await publishInternally('sensors/injected/commands', '{}');
    expect(await listedSensor(runtime, 'injected')).toBeUndefined();
  });

  it('DynamoDB refuses any credentials but the runtime’s', async () => {
    const forged = new DynamoDBClient({
      endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    await expect(forged.send(new ListTablesCommand({}))).rejects.toMatchObject({ name: 'UnrecognizedClientException' });
    forged.destroy();
    const own = new DynamoDBClient({ endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB, region: 'local' });
    expect((await own.send(new ListTablesCommand({}))).TableNames).toContain('vigia-readings');
    own.destroy();
  });

  it('listen on loopback only, whatever HOST the public listeners use', async () => {
    const standInsDir = await makeDataDir('vigia-standins-');
    const dynamo = await startDynamo(standInsDir);
    try {
      const endpoints = [new URL(dynamo.endpoint), new URL(process.env.IOT_DATA_ENDPOINT!)];
      const external = Object.values(os.networkInterfaces())
        .flat()
        .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
      for (const endpoint of endpoints) {
        expect(endpoint.hostname).toBe('127.0.0.1');
        if (external) await expect(connectOnce(external, Number(endpoint.port))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      }
    } finally {
      await dynamo.close();
      await removeDataDir(standInsDir);
    }
  });
});

function connectOnce(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host, () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

describe('what a refused or rejected client leaves on disk', () => {
  it('a refused CONNECT with a 64 KB client id writes a log line of bounded size', async () => {
    const hugeId = 'x'.repeat(65_000);
    const from = runtimeLogs.length;
    for (const level of [4, 5] as const) {
      const session = await openRawSession({ host: HOST, port: runtime.mqttPort! });
      session.write(rawPackets.connect(hugeId, level));
      await session.waitForBytes(4);
      expect(connackCode(session.received)).toBe(level === 5 ? 0x85 : 0x02);
      await session.end();
    }
    const refusals = runtimeLogs.slice(from).filter((e) => e.message === 'connection refused');
    expect(refusals).toHaveLength(2);
    for (const entry of refusals) {
      expect(JSON.stringify(entry).length).toBeLessThan(2048);
      expect(String(entry.clientId)).toContain('(65000 chars)');
    }
  });

  it('dead letters keep a bounded part of each payload, rotate at the size cap, and are counted in /api/metrics', async () => {
    const device = await connectDevice(runtime.urls.mqtt!, 'garbage-sender');
    const garbage = Array.from({ length: 12 }, (_, i) => `${i}:${'not json '.repeat(11_000)}`);
    for (const payload of garbage) await device.publishAsync(telemetryTopic('garbage-sender'), payload, { qos: 1 });

    const counted = await eventually('12 dead letters counted', async () => {
      const text = await (await fetch(`${runtime.urls.api}/metrics`)).text();
      const value = Number(/^vigia_local_dead_letters_total (\d+)$/m.exec(text)?.[1] ?? 0);
      return value >= 12 ? text : undefined;
    });
    expect(Number(/^vigia_local_dead_letter_payloads_truncated_total (\d+)$/m.exec(counted)?.[1])).toBeGreaterThanOrEqual(12);
    expect(Number(/^vigia_local_dead_letter_rotations_total (\d+)$/m.exec(counted)?.[1])).toBeGreaterThanOrEqual(1);

    const current = await stat(runtime.deadLetterFile);
    const previous = await stat(runtime.deadLetterFile.replace(/\.jsonl$/, '.1.jsonl'));
    expect(current.size).toBeLessThanOrEqual(DEAD_LETTER_FILE_BYTES);
    expect(previous.size).toBeLessThanOrEqual(DEAD_LETTER_FILE_BYTES);
    const newest = (await readDeadLetters(runtime)).filter((l) => l.sensorId === 'garbage-sender').at(-1)!;
    expect(newest).toMatchObject({ code: 'INVALID_JSON', topic: telemetryTopic('garbage-sender'), payloadTruncated: true });
    expect(String(newest.payload)).toHaveLength(DEAD_LETTER_PAYLOAD_CHARS);
    expect(newest.payloadBase64Chars).toBe(Buffer.from(garbage[11]).toString('base64').length);
  });
});
