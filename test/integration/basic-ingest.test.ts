/**
 * Basic Ingest locally (contract §2): the broker authorizes `$aws/rules/<rule>/sensors/<own id>/telemetry`
 * for the rules it is told (as the cloud's device policy does for the telemetry rule of stream ingest), and
 * the rules engine hands such a message to the named rule only, which sees the topic without the prefix.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulation } from '../../device-sim/index.js';
import { basicIngestTopic, parseBasicIngestTopic } from '../../lambdas/shared/rules.js';
import { startBroker, type LocalBroker } from '../../local/broker.js';
import { RuleRunner } from '../../local/rules.js';

const HOST = '127.0.0.1';
const reading = Buffer.from(JSON.stringify({ values: { temperature: 21.5 } }));

describe('parseBasicIngestTopic', () => {
  it('splits the rule name from the topic the rule sees; anything else is no Basic Ingest topic', () => {
    expect(parseBasicIngestTopic('$aws/rules/IngestTelemetry/sensors/a/telemetry')).toEqual({
      ruleName: 'IngestTelemetry',
      topic: 'sensors/a/telemetry',
    });
    expect(basicIngestTopic('R', 'sensors/a/telemetry')).toBe('$aws/rules/R/sensors/a/telemetry');
    for (const topic of [
      'sensors/a/telemetry',
      '$aws/rules/',
      '$aws/rules/R',
      '$aws/rules/R/',
      '$aws/rules//x',
      '$aws/events/presence/connected/a',
    ]) {
      expect(parseBasicIngestTopic(topic), topic).toBeUndefined();
    }
  });
});

describe('the local broker and Basic Ingest', () => {
  let dataDir: string;
  let broker: LocalBroker;
  const seen: string[] = [];
  const clients: MqttClient[] = [];
  const connect = async (clientId: string, port: number) => {
    const client = await mqtt.connectAsync(`mqtt://${HOST}:${port}`, { clientId, protocolVersion: 5, reconnectPeriod: 0 });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'vigia-basic-ingest-'));
    broker = await startBroker({
      host: HOST,
      mqttPort: 0,
      mqttsPort: 0,
      dataDir,
      basicIngestRules: ['IngestTelemetry'],
      log: () => undefined,
    });
    broker.onMessage((topic) => {
      // Presence events of the test devices are not what these tests look at.
      if (!topic.startsWith('$aws/events/')) seen.push(topic);
    });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await broker?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("takes a device's own telemetry through the allowed rule and hands it on as published", async () => {
    const device = await connect('bi-1', broker.mqttPort);
    await device.publishAsync('$aws/rules/IngestTelemetry/sensors/bi-1/telemetry', reading, { qos: 1 });
    expect(seen).toContain('$aws/rules/IngestTelemetry/sensors/bi-1/telemetry');
  });

  it.each([
    ['another sensor', '$aws/rules/IngestTelemetry/sensors/bi-other/telemetry'],
    ['a rule not allowed', '$aws/rules/TrackPresence/sensors/bi-2/telemetry'],
    ['another topic of its own', '$aws/rules/IngestTelemetry/sensors/bi-2/commands'],
  ])('refuses Basic Ingest to %s (PUBACK 0x87) and hands nothing on', async (_what, topic) => {
    const device = await connect('bi-2', broker.mqttPort);
    const before = seen.length;
    await expect(device.publishAsync(topic, reading, { qos: 1 })).rejects.toThrow();
    expect(seen.slice(before)).toEqual([]);
  });

  it('the simulator with --basic-ingest publishes every reading through the rule, acknowledged', async () => {
    const sim = await startSimulation({
      sensors: ['bi-sim'],
      host: HOST,
      port: broker.mqttPort,
      protocol: 'mqtt5',
      intervalMs: 100,
      count: 3,
      seed: 1,
      failFast: true,
      basicIngestRule: 'IngestTelemetry',
    });
    try {
      await sim.done();
      expect(sim.stats()).toMatchObject({ acknowledged: 3 });
      expect(seen.filter((t) => t === '$aws/rules/IngestTelemetry/sensors/bi-sim/telemetry').length).toBeGreaterThanOrEqual(1);
      expect(seen).not.toContain('sensors/bi-sim/telemetry');
    } finally {
      await sim.stop({ drainMs: 0 });
    }
  });

  it('refuses every Basic Ingest topic when no rule is allowed (direct ingest)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vigia-basic-ingest-off-'));
    const plain = await startBroker({ host: HOST, mqttPort: 0, mqttsPort: 0, dataDir: dir, log: () => undefined });
    try {
      const device = await connect('bi-3', plain.mqttPort);
      await expect(device.publishAsync('$aws/rules/IngestTelemetry/sensors/bi-3/telemetry', reading, { qos: 1 })).rejects.toThrow();
    } finally {
      await plain.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the local rules engine and Basic Ingest', () => {
  it('hands a Basic Ingest message to the named rule only, with topic(2) the sensorId', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vigia-basic-ingest-rules-'));
    const calls: Array<{ target: string; event: unknown }> = [];
    const record = (target: string) => async () => async (event: unknown) => {
      calls.push({ target, event });
    };
    const rules = new RuleRunner({
      handlers: { historyWriter: record('historyWriter'), broadcaster: record('broadcaster'), presence: record('presence') },
      journalFile: join(dir, 'journal.jsonl'),
      failedFile: join(dir, 'failed.jsonl'),
      retryDelaysMs: [1],
      mode: 'direct',
      log: () => undefined,
    });
    try {
      await rules.recover();
      const meta = { clientId: 'bi-4', receivedAt: 1_764_000_000_000 };
      await rules.accept('$aws/rules/StoreTelemetry/sensors/bi-4/telemetry', reading, meta);
      // A Basic Ingest message to a rule that does not exist triggers nothing.
      await rules.accept('$aws/rules/NoSuchRule/sensors/bi-4/telemetry', reading, meta);
      await rules.idle();
      expect(calls).toEqual([
        { target: 'historyWriter', event: { payload: reading.toString('base64'), sensorId: 'bi-4', receivedAt: meta.receivedAt } },
      ]);
      // The same message on the ordinary topic reaches both telemetry rules.
      await rules.accept('sensors/bi-4/telemetry', reading, meta);
      await rules.idle();
      expect(calls.map((c) => c.target).sort()).toEqual(['broadcaster', 'historyWriter', 'historyWriter']);
    } finally {
      await rules.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
