/**
 * The local MQTT broker against real mqtt.js clients (MQTT 5 and 3.1.1), on free ports in a temp data folder:
 * the IoT policy rules of contract §1/§2, presence events, the mutual-TLS identity and the local CA.
 */
import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type IDisconnectPacket, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PAYLOAD_BYTES, TOPICS } from '../../lambdas/shared/names.js';
import { startBroker, type BrokerLogEntry, type LocalBroker, type MessageMeta } from '../../local/broker.js';
import { issueDeviceCert } from '../../local/ca.js';

const HOST = '127.0.0.1';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Received {
  topic: string;
  payload: Buffer;
  meta: MessageMeta;
}

/** Every message the broker hands to onMessage, with promises for ones still to come (no timers). */
class MessageLog {
  readonly all: Received[] = [];
  private waiters: { match: (m: Received) => boolean; resolve: (m: Received) => void }[] = [];

  add(message: Received): void {
    this.all.push(message);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(message)) return true;
      w.resolve(message);
      return false;
    });
  }

  /** The first matching message, looking only at those recorded from index `from` on. */
  waitFor(match: (m: Received) => boolean, from = 0): Promise<Received> {
    const seen = this.all.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  waitForTopic(topic: string): Promise<Received> {
    return this.waitFor((m) => m.topic === topic);
  }

  waitForPresence(eventType: 'connected' | 'disconnected', clientId: string, sessionIdentifier?: string) {
    return this.waitFor((m) => {
      if (m.topic !== TOPICS.presence(eventType, clientId)) return false;
      return sessionIdentifier === undefined || json(m.payload).sessionIdentifier === sessionIdentifier;
    }).then((m) => json(m.payload));
  }
}

function json(payload: Buffer): Record<string, unknown> {
  return JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
}

let idCounter = 0;
/** A fresh valid sensor id per use, so tests never see each other's presence events. */
function newSensorId(prefix = 'sensor'): string {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

const openClients = new Set<MqttClient>();

type Outcome = { kind: 'connected'; client: MqttClient } | { kind: 'refused'; code: number } | { kind: 'failed'; error: Error | undefined };

/** Connects once (no reconnect) and reports whether the broker accepted, refused with a CONNACK code, or dropped it. */
function attempt(url: string, options: IClientOptions): Promise<Outcome> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 20_000, ...options });
  openClients.add(client);
  return new Promise((resolve) => {
    let lastError: Error | undefined;
    client.once('connect', () => resolve({ kind: 'connected', client }));
    client.on('error', (err: Error & { code?: unknown }) => {
      lastError = err;
      if (typeof err.code === 'number') resolve({ kind: 'refused', code: err.code });
    });
    client.once('close', () => resolve({ kind: 'failed', error: lastError }));
  });
}

async function connect(url: string, options: IClientOptions): Promise<MqttClient> {
  const outcome = await attempt(url, options);
  if (outcome.kind !== 'connected') throw new Error(`expected ${String(options.clientId)} to connect, got ${JSON.stringify(outcome)}`);
  return outcome.client;
}

function closed(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()));
}

function received(client: MqttClient, topic: string): Promise<Buffer> {
  return new Promise((resolve) => {
    const onMessage = (t: string, payload: Buffer) => {
      if (t !== topic) return;
      client.off('message', onMessage);
      resolve(payload);
    };
    client.on('message', onMessage);
  });
}

const reading = (temperature: number) => Buffer.from(JSON.stringify({ values: { temperature } }));

let dataDir: string;
let broker: LocalBroker;
let messages: MessageLog;
const logs: BrokerLogEntry[] = [];
let mqttUrl: string;
let mqttsUrl: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vigia-broker-'));
  broker = await startBroker({ host: HOST, mqttPort: 0, mqttsPort: 0, dataDir, log: (entry) => logs.push(entry) });
  messages = new MessageLog();
  broker.onMessage((topic, payload, meta) => messages.add({ topic, payload, meta }));
  mqttUrl = `mqtt://${HOST}:${broker.mqttPort}`;
  mqttsUrl = `mqtts://${HOST}:${broker.mqttsPort}`;
});

afterEach(async () => {
  await Promise.all([...openClients].map((client) => client.endAsync(true)));
  openClients.clear();
});

afterAll(async () => {
  if (process.env.DEBUG_BROKER_LOGS) console.log(logs.map((e) => JSON.stringify(e)).join('\n'));
  await broker?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe.each([
  { protocolVersion: 5 as const, identifierRejected: 0x85, notAuthorized: 0x87, subackFailure: 0x87 },
  { protocolVersion: 4 as const, identifierRejected: 0x02, notAuthorized: 0x05, subackFailure: 0x80 },
])('MQTT protocol level $protocolVersion', ({ protocolVersion, identifierRejected, subackFailure }) => {
  const device = (clientId: string) => connect(mqttUrl, { protocolVersion, clientId });

  it('accepts a valid client id and publishes connected then disconnected presence events', async () => {
    const clientId = newSensorId();
    const client = await device(clientId);
    const connected = await messages.waitForPresence('connected', clientId);
    expect(connected).toEqual({
      clientId,
      timestamp: expect.any(Number),
      eventType: 'connected',
      sessionIdentifier: expect.stringMatching(UUID),
      principalIdentifier: clientId,
      ipAddress: HOST,
      versionNumber: expect.any(Number),
    });

    await client.endAsync();
    const disconnected = await messages.waitForPresence('disconnected', clientId);
    expect(disconnected).toEqual({
      clientId,
      timestamp: expect.any(Number),
      eventType: 'disconnected',
      clientInitiatedDisconnect: true,
      sessionIdentifier: connected.sessionIdentifier,
      principalIdentifier: clientId,
      disconnectReason: 'CLIENT_INITIATED_DISCONNECT',
      versionNumber: expect.any(Number),
    });
    // Contract §6, as AWS: a connect and its disconnect share one versionNumber.
    expect(disconnected.versionNumber).toBe(connected.versionNumber);
    expect(disconnected.timestamp as number).toBeGreaterThanOrEqual(connected.timestamp as number);
    const presence = messages.all.filter((m) => m.topic.startsWith('$aws/events/presence/'));
    expect(presence.every((m) => m.meta.clientId === null)).toBe(true);
  });

  it('reports a dropped connection as CONNECTION_LOST', async () => {
    const clientId = newSensorId();
    const client = await device(clientId);
    const connected = await messages.waitForPresence('connected', clientId);
    client.stream.destroy();
    const disconnected = await messages.waitForPresence('disconnected', clientId);
    expect(disconnected).toMatchObject({
      clientInitiatedDisconnect: false,
      disconnectReason: 'CONNECTION_LOST',
      sessionIdentifier: connected.sessionIdentifier,
    });
  });

  it.each([
    ['nothing (the broker would otherwise assign one)', ''],
    ['a space', 'bad id'],
    ['a slash', 'sensors/a'],
    ['65 characters', 'x'.repeat(65)],
    ['a non-ASCII letter', 'capteur-é'],
  ])('refuses a client id with %s (CONNACK identifier rejected)', async (_, clientId) => {
    const outcome = await attempt(mqttUrl, { protocolVersion, clientId });
    expect(outcome).toEqual({ kind: 'refused', code: identifierRejected });
    expect(messages.all.some((m) => m.topic === TOPICS.presence('connected', clientId))).toBe(false);
  });

  it("delivers a device's telemetry to onMessage with its client id, at QoS 1 and 0", async () => {
    const clientId = newSensorId();
    const client = await device(clientId);
    const topic = TOPICS.telemetry(clientId);
    const before = Date.now();
    await client.publishAsync(topic, reading(21.5), { qos: 1 });
    const message = await messages.waitForTopic(topic);
    expect(json(message.payload)).toEqual({ values: { temperature: 21.5 } });
    expect(message.meta.clientId).toBe(clientId);
    expect(message.meta.receivedAt).toBeGreaterThanOrEqual(before);

    const from = messages.all.length;
    await client.publishAsync(topic, reading(22.5), { qos: 0 });
    const qos0 = await messages.waitFor((m) => m.topic === topic, from);
    expect(json(qos0.payload)).toEqual({ values: { temperature: 22.5 } });
    expect(qos0.meta.clientId).toBe(clientId);
  });

  it("refuses a publish to another sensor's topic and never hands it on", async () => {
    const clientId = newSensorId();
    const victim = newSensorId('victim');
    const client = await device(clientId);
    const forbidden = [TOPICS.telemetry(victim), TOPICS.commands(clientId), 'other/topic'];

    if (protocolVersion === 5) {
      for (const topic of forbidden) {
        await expect(client.publishAsync(topic, reading(1), { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
      }
      // The connection stays up: the device's own telemetry still goes through.
      await client.publishAsync(TOPICS.telemetry(clientId), reading(2), { qos: 1 });
    } else {
      const whenClosed = closed(client);
      client.publishAsync(forbidden[0], reading(1), { qos: 1 }).catch(() => undefined);
      await whenClosed;
      const disconnected = await messages.waitForPresence('disconnected', clientId);
      expect(disconnected).toMatchObject({ disconnectReason: 'AUTH_ERROR', clientInitiatedDisconnect: false });
      const other = await device(newSensorId());
      await other.publishAsync(TOPICS.telemetry(other.options.clientId!), reading(2), { qos: 1 });
    }
    // Listeners are awaited before PUBACK, so anything accepted earlier is already recorded.
    expect(messages.all.filter((m) => forbidden.includes(m.topic))).toEqual([]);
  });

  it('lets a device subscribe only to its own commands topic', async () => {
    const clientId = newSensorId();
    const client = await device(clientId);
    const granted = await client.subscribeAsync(TOPICS.commands(clientId), { qos: 1 });
    expect(granted).toMatchObject([{ topic: TOPICS.commands(clientId), qos: 1 }]);

    for (const topic of [TOPICS.commands('someone-else'), TOPICS.commandsFilter, TOPICS.telemetry(clientId), '#', TOPICS.presenceFilter]) {
      await expect(client.subscribeAsync(topic, { qos: 1 })).rejects.toMatchObject({ packet: { granted: [subackFailure] } });
    }
  });

  it('delivers a command published by the system to the subscribed device only', async () => {
    const clientId = newSensorId();
    const bystanderId = newSensorId();
    const client = await device(clientId);
    const bystander = await device(bystanderId);
    await client.subscribeAsync(TOPICS.commands(clientId), { qos: 1 });
    await bystander.subscribeAsync(TOPICS.commands(bystanderId), { qos: 1 });
    const bystanderMessages: string[] = [];
    bystander.on('message', (topic) => bystanderMessages.push(topic));

    const command = Buffer.from(JSON.stringify({ id: 'c1', name: 'setInterval', args: { intervalMs: 1000 }, issuedAt: 1 }));
    const arrival = received(client, TOPICS.commands(clientId));
    await broker.publish(TOPICS.commands(clientId), command, 1);
    expect((await arrival).equals(command)).toBe(true);

    // A later command to the bystander arrives after any stray copy of the first would have.
    const own = received(bystander, TOPICS.commands(bystanderId));
    await broker.publish(TOPICS.commands(bystanderId), command, 1);
    await own;
    expect(bystanderMessages).toEqual([TOPICS.commands(bystanderId)]);
    expect((await messages.waitForTopic(TOPICS.commands(clientId))).meta.clientId).toBeNull();
  });

  it('accepts a payload of exactly 128 KiB and refuses one byte more by closing the connection', async () => {
    const clientId = newSensorId();
    const client = await device(clientId);
    const topic = TOPICS.telemetry(clientId);
    await client.publishAsync(topic, Buffer.alloc(MAX_PAYLOAD_BYTES, 0x20), { qos: 1 });
    expect((await messages.waitForTopic(topic)).payload.length).toBe(MAX_PAYLOAD_BYTES);

    const disconnectPackets: IDisconnectPacket[] = [];
    client.on('disconnect', (packet) => disconnectPackets.push(packet));
    const whenClosed = closed(client);
    client.publishAsync(topic, Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 0x20), { qos: 1 }).catch(() => undefined);
    await whenClosed;
    if (protocolVersion === 5) {
      expect(disconnectPackets.map((p) => p.reasonCode)).toEqual([0x95]);
    } else {
      expect(disconnectPackets).toEqual([]);
    }
    const disconnected = await messages.waitForPresence('disconnected', clientId);
    expect(disconnected).toMatchObject({ disconnectReason: 'CLIENT_ERROR' });
    expect(messages.all.filter((m) => m.topic === topic).map((m) => m.payload.length)).toEqual([MAX_PAYLOAD_BYTES]);
  });

  it('refuses a far larger packet too (aedes Maximum Packet Size)', async () => {
    const clientId = newSensorId();
    const client = await device(clientId);
    const disconnectPackets: IDisconnectPacket[] = [];
    client.on('disconnect', (packet) => disconnectPackets.push(packet));
    const whenClosed = closed(client);
    client.publishAsync(TOPICS.telemetry(clientId), Buffer.alloc(512 * 1024, 0x20), { qos: 1 }).catch(() => undefined);
    await whenClosed;
    if (protocolVersion === 5) expect(disconnectPackets.map((p) => p.reasonCode)).toEqual([0x95]);
    await messages.waitForPresence('disconnected', clientId);
    expect(messages.all.some((m) => m.topic === TOPICS.telemetry(clientId))).toBe(false);
  });

  it('kicks the older session when the same client id connects again (DUPLICATE_CLIENTID)', async () => {
    const clientId = newSensorId();
    const first = await device(clientId);
    const firstSession = (await messages.waitForPresence('connected', clientId)).sessionIdentifier as string;
    const firstClosed = closed(first);
    const second = await device(clientId);
    await firstClosed;
    const kicked = await messages.waitForPresence('disconnected', clientId, firstSession);
    expect(kicked).toMatchObject({ disconnectReason: 'DUPLICATE_CLIENTID', clientInitiatedDisconnect: false });
    const secondConnected = await messages.waitFor(
      (m) => m.topic === TOPICS.presence('connected', clientId) && json(m.payload).sessionIdentifier !== firstSession,
    );
    expect(json(secondConnected.payload).versionNumber as number).toBeGreaterThan(kicked.versionNumber as number);
    expect(second.connected).toBe(true);
  });
});

describe('onMessage listeners', () => {
  it('holds the PUBACK until every listener has finished', async () => {
    const clientId = newSensorId('gated');
    const topic = TOPICS.telemetry(clientId);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const listenerStarted = new Promise<void>((resolve) => (started = resolve));
    broker.onMessage(async (t) => {
      if (t !== topic) return;
      started();
      await gate;
    });

    const client = await connect(mqttUrl, { protocolVersion: 5, clientId });
    let acked = false;
    const publishing = client.publishAsync(topic, reading(3), { qos: 1 }).then(() => (acked = true));
    await listenerStarted;
    // A full round trip through the broker on another connection, while the listener is still held.
    const other = await connect(mqttUrl, { protocolVersion: 5, clientId: newSensorId() });
    await other.subscribeAsync(TOPICS.commands(other.options.clientId!), { qos: 1 });
    expect(acked).toBe(false);
    release();
    await publishing;
    expect(acked).toBe(true);
  });

  it("hands one client's messages over, and acknowledges them, in arrival order", async () => {
    const clientId = newSensorId('ordered');
    const topic = TOPICS.telemetry(clientId);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const firstStarted = new Promise<void>((resolve) => (started = resolve));
    const order: string[] = [];
    broker.onMessage(async (t, payload) => {
      if (t !== topic) return;
      const n = (json(payload).values as { temperature: number }).temperature;
      order.push(`start ${n}`);
      if (n === 1) {
        started();
        await gate;
      }
      order.push(`end ${n}`);
    });

    const client = await connect(mqttUrl, { protocolVersion: 5, clientId });
    const acks: number[] = [];
    const first = client.publishAsync(topic, reading(1), { qos: 1 }).then(() => acks.push(1));
    const second = client.publishAsync(topic, reading(2), { qos: 1 }).then(() => acks.push(2));
    await firstStarted;
    const other = await connect(mqttUrl, { protocolVersion: 5, clientId: newSensorId() });
    await other.subscribeAsync(TOPICS.commands(other.options.clientId!), { qos: 1 });
    expect(order).toEqual(['start 1']);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['start 1', 'end 1', 'start 2', 'end 2']);
    expect(acks).toEqual([1, 2]);
  });

  it('logs a failing listener and does not acknowledge: the connection closes, the broker serves on', async () => {
    const clientId = newSensorId('faulty');
    const topic = TOPICS.telemetry(clientId);
    let failures = 2;
    broker.onMessage((t) => {
      if (t === topic && failures-- > 0) throw new Error('listener exploded');
    });
    const client = await connect(mqttUrl, { protocolVersion: 5, clientId, reconnectPeriod: 0 });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    let acknowledged = false;
    client.publish(topic, reading(4), { qos: 1 }, (err) => {
      if (!err) acknowledged = true;
    });
    await closed;
    expect(acknowledged).toBe(false);
    expect(logs.filter((e) => e.message === 'message listener failed' && e.topic === topic).map((e) => e.error)).toEqual([
      'listener exploded',
    ]);
    client.end(true);

    // At 3.1.1 too; and once the listener takes messages again, the device's next one is acknowledged.
    const again = await connect(mqttUrl, { protocolVersion: 4, clientId, reconnectPeriod: 0 });
    const closedAgain = new Promise<void>((resolve) => again.once('close', () => resolve()));
    again.publish(topic, reading(5), { qos: 1 });
    await closedAgain;
    again.end(true);
    const third = await connect(mqttUrl, { protocolVersion: 5, clientId });
    await third.publishAsync(topic, reading(6), { qos: 1 });
  });

  it('receives what the system publishes, with a null client id', async () => {
    const topic = TOPICS.commands(newSensorId());
    await broker.publish(topic, Buffer.from('{}'), 0);
    const message = await messages.waitForTopic(topic);
    expect(message.meta.clientId).toBeNull();
    await expect(broker.publish('sensors/+/commands', Buffer.from('{}'), 1)).rejects.toThrow(/wildcard/);
  });
});

describe('robustness', () => {
  it('survives garbage bytes and a connection dropped mid-packet', async () => {
    for (const bytes of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01])]) {
      const socket = net.connect(broker.mqttPort, HOST);
      socket.on('error', () => undefined);
      socket.resume();
      const socketClosed = new Promise((resolve) => socket.once('close', resolve));
      socket.end(bytes);
      await socketClosed;
    }
    const half = net.connect(broker.mqttPort, HOST);
    half.on('error', () => undefined);
    await new Promise((resolve) => half.once('connect', resolve));
    half.destroy();

    const client = await connect(mqttUrl, { protocolVersion: 5, clientId: newSensorId() });
    expect(client.connected).toBe(true);
  });

  it('drops a client that stops sending within 1.5 keep-alive periods (MQTT_KEEP_ALIVE_TIMEOUT)', async () => {
    const clientId = newSensorId('silent');
    const id = Buffer.from(clientId);
    // MQTT 3.1.1 CONNECT, clean session, keep-alive 1 s; nothing is sent after it.
    const variableHeader = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x01]);
    const payload = Buffer.concat([Buffer.from([0x00, id.length]), id]);
    const connectPacket = Buffer.concat([Buffer.from([0x10, variableHeader.length + payload.length]), variableHeader, payload]);
    const socket = net.connect(broker.mqttPort, HOST);
    socket.on('error', () => undefined);
    socket.resume(); // read (and drop) the CONNACK, so the broker's close is seen
    const socketClosed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(connectPacket);
    const disconnected = await messages.waitForPresence('disconnected', clientId);
    expect(disconnected).toMatchObject({ disconnectReason: 'MQTT_KEEP_ALIVE_TIMEOUT', clientInitiatedDisconnect: false });
    await socketClosed;
  });

  it('rejects startBroker naming the port already in use', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, HOST, resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      await expect(startBroker({ host: HOST, mqttPort: port, mqttsPort: 0, dataDir, log: () => undefined })).rejects.toThrow(
        `MQTT port ${port} on ${HOST} is already in use`,
      );
      await expect(startBroker({ host: HOST, mqttPort: 0, mqttsPort: port, dataDir, log: () => undefined })).rejects.toThrow(
        `MQTTS port ${port} on ${HOST} is already in use`,
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describe('mutual TLS port', () => {
  let ca: string;
  const deviceA = 'tls-device-a';
  const deviceB = 'tls-device-b';
  let certA: { key: string; cert: string };

  beforeAll(async () => {
    ca = await readFile(join(dataDir, 'certs', 'ca.crt'), 'utf8');
    const files = await issueDeviceCert(dataDir, deviceA);
    await issueDeviceCert(dataDir, deviceB);
    certA = { key: await readFile(files.keyPath, 'utf8'), cert: await readFile(files.certPath, 'utf8') };
  });

  describe.each([
    { protocolVersion: 5 as const, notAuthorized: 0x87 },
    { protocolVersion: 4 as const, notAuthorized: 0x05 },
  ])('MQTT protocol level $protocolVersion', ({ protocolVersion, notAuthorized }) => {
    it('accepts a CA-issued certificate whose CN is the client id; the principal is the certificate', async () => {
      const from = messages.all.length;
      const client = await connect(mqttsUrl, { protocolVersion, clientId: deviceA, ca, ...certA });
      const connected = await messages.waitFor((m) => m.topic === TOPICS.presence('connected', deviceA), from);
      const fingerprint = new X509Certificate(certA.cert).fingerprint256.replaceAll(':', '').toLowerCase();
      expect(json(connected.payload).principalIdentifier).toBe(fingerprint);
      await client.publishAsync(TOPICS.telemetry(deviceA), reading(7), { qos: 1 });
      const message = await messages.waitFor((m) => m.topic === TOPICS.telemetry(deviceA), from);
      expect(message.meta.clientId).toBe(deviceA);
      await client.endAsync();
    });

    it("refuses a client id other than the certificate's CN", async () => {
      const outcome = await attempt(mqttsUrl, { protocolVersion, clientId: deviceB, ca, ...certA });
      expect(outcome).toEqual({ kind: 'refused', code: notAuthorized });
    });

    it("does not let sensor A's certificate publish to sensor B's topic", async () => {
      const client = await connect(mqttsUrl, { protocolVersion, clientId: deviceA, ca, ...certA });
      const topic = TOPICS.telemetry(deviceB);
      if (protocolVersion === 5) {
        await expect(client.publishAsync(topic, reading(8), { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
      } else {
        const whenClosed = closed(client);
        client.publishAsync(topic, reading(8), { qos: 1 }).catch(() => undefined);
        await whenClosed;
      }
      expect(messages.all.some((m) => m.topic === topic)).toBe(false);
    });
  });

  it('refuses a client without a certificate during the TLS handshake', async () => {
    const outcome = await attempt(mqttsUrl, { protocolVersion: 5, clientId: deviceA, ca });
    expect(outcome.kind).toBe('failed');
  });

  it('refuses a certificate from another CA', async () => {
    const otherDir = await mkdtemp(join(tmpdir(), 'vigia-other-ca-'));
    try {
      const files = await issueDeviceCert(otherDir, deviceA);
      const outcome = await attempt(mqttsUrl, {
        protocolVersion: 5,
        clientId: deviceA,
        ca,
        key: await readFile(files.keyPath, 'utf8'),
        cert: await readFile(files.certPath, 'utf8'),
      });
      expect(outcome.kind).toBe('failed');
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });
});

describe('local CA', () => {
  it('keeps the same CA across a broker restart, so issued certificates stay valid', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vigia-restart-'));
    try {
      const first = await startBroker({ host: HOST, mqttPort: 0, mqttsPort: 0, dataDir: dir, log: () => undefined });
      const firstMessages = new MessageLog();
      first.onMessage((topic, payload, meta) => firstMessages.add({ topic, payload, meta }));
      const caBefore = await readFile(join(dir, 'certs', 'ca.crt'), 'utf8');
      const files = await issueDeviceCert(dir, 'restart-device');
      const device = await connect(`mqtt://${HOST}:${first.mqttPort}`, { protocolVersion: 5, clientId: 'restart-device' });
      const deviceClosed = closed(device);
      await first.close();
      await deviceClosed;
      // close() resolves only once the listeners have heard the last presence events.
      const last = firstMessages.all.at(-1)!;
      expect(last.topic).toBe(TOPICS.presence('disconnected', 'restart-device'));
      expect(json(last.payload)).toMatchObject({ disconnectReason: 'SERVER_INITIATED_DISCONNECT' });

      const second = await startBroker({ host: HOST, mqttPort: 0, mqttsPort: 0, dataDir: dir, log: () => undefined });
      try {
        expect(await readFile(join(dir, 'certs', 'ca.crt'), 'utf8')).toBe(caBefore);
        const client = await connect(`mqtts://${HOST}:${second.mqttsPort}`, {
          protocolVersion: 5,
          clientId: 'restart-device',
          ca: caBefore,
          key: await readFile(files.keyPath, 'utf8'),
          cert: await readFile(files.certPath, 'utf8'),
        });
        expect(client.connected).toBe(true);
        await client.endAsync();
      } finally {
        await second.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('npm run cert issues device certificates into DATA_DIR and refuses an invalid id', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vigia-cert-cli-'));
    const run = (...args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          ['--import', 'tsx', 'local/cert-cli.ts', ...args],
          { env: { ...process.env, DATA_DIR: dir } },
          (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
        );
      });
    try {
      const refused = await run('good-one', 'bad/one');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('Invalid sensorId "bad/one"');
      await expect(readFile(join(dir, 'certs', 'good-one.crt'))).rejects.toMatchObject({ code: 'ENOENT' });

      const issued = await run('cli-a', 'cli-b');
      expect(issued.code).toBe(0);
      for (const id of ['cli-a', 'cli-b']) {
        expect(issued.stdout).toContain(join(dir, 'certs', `${id}.crt`));
        const cert = new X509Certificate(await readFile(join(dir, 'certs', `${id}.crt`)));
        expect(cert.subject).toBe(`CN=${id}`);
        expect(cert.checkIssued(new X509Certificate(await readFile(join(dir, 'certs', 'ca.crt'))))).toBe(true);
        expect((await stat(join(dir, 'certs', `${id}.key`))).mode & 0o777).toBe(0o600);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses to issue a certificate for an invalid sensor id', async () => {
    await expect(issueDeviceCert(dataDir, 'bad/id')).rejects.toThrow(/Invalid sensorId "bad\/id"/);
  });
});
