/**
 * The simulator end to end against Debian's mosquitto with mutual TLS and certificates made here:
 * the CLI at MQTT 5 and at 3.1.1, and offline buffering across a broker restart. A watcher subscribed
 * to every sensor's telemetry validates each payload against contract §3 and counts every reading.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PAYLOAD_BYTES, METRIC_NAME_PATTERN, SENSOR_ID_PATTERN } from '../../lambdas/shared/names.js';
import { startSimulation } from '../../device-sim/index.js';
import { writeTestCertificates } from '../../device-sim/testing/certs.js';
import { freePort, startMosquitto, type Mosquitto } from '../../device-sim/testing/mosquitto.js';

const SENSORS = ['sim-1', 'sim-2', 'sim-3'];

/** Contract §3 forms 1 and 2 as the simulator sends them; returns the readings or throws the broken rule. */
function validateTelemetry(topic: string, payload: Buffer): Array<{ sensorId: string; ts: number }> {
  const sensorId = /^sensors\/([^/]+)\/telemetry$/.exec(topic)?.[1];
  if (!sensorId || !SENSOR_ID_PATTERN.test(sensorId)) throw new Error(`bad topic ${topic}`);
  if (payload.length > MAX_PAYLOAD_BYTES) throw new Error(`payload of ${payload.length} bytes`);
  const body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload)) as unknown;
  const readings = Array.isArray(body) ? body : [body];
  if (Array.isArray(body) && (body.length < 1 || body.length > 500)) throw new Error(`batch of ${body.length}`);
  return readings.map((reading: unknown) => {
    if (typeof reading !== 'object' || reading === null || Array.isArray(reading)) throw new Error('reading not an object');
    const { ts, values, units, ...rest } = reading as Record<string, unknown>;
    if (Object.keys(rest).length > 0) throw new Error(`unknown keys ${Object.keys(rest)}`);
    if (!Number.isInteger(ts)) throw new Error(`ts ${String(ts)}`);
    if (typeof values !== 'object' || values === null || Array.isArray(values)) throw new Error('values not an object');
    const metrics = Object.entries(values as Record<string, unknown>);
    if (metrics.length < 1 || metrics.length > 32) throw new Error(`${metrics.length} metrics`);
    for (const [name, value] of metrics) {
      if (!METRIC_NAME_PATTERN.test(name) || ['ts', 'values', 'units'].includes(name)) throw new Error(`metric name ${name}`);
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`${name} = ${String(value)}`);
    }
    if (units !== undefined) {
      for (const [name, unit] of Object.entries(units as Record<string, unknown>)) {
        if (typeof unit !== 'string' || [...unit].length < 1 || [...unit].length > 16) throw new Error(`unit of ${name}`);
      }
      if ((units as Record<string, string>).temperature !== '°C') throw new Error('temperature not in °C');
    }
    return { sensorId, ts: ts as number };
  });
}

interface Watcher {
  /** Readings per `${sensorId}@${ts}`, counting first deliveries only (not the broker's own DUP redeliveries). */
  counts: Map<string, number>;
  batches: number;
  invalid: string[];
  waitFor(predicate: () => boolean): Promise<void>;
  reset(): void;
  publish(topic: string, body: unknown): Promise<void>;
  close(): Promise<void>;
}

async function startWatcher(port: number, certDir: string): Promise<Watcher> {
  const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
    ca: await readFile(join(certDir, 'ca.crt')),
    cert: await readFile(join(certDir, 'watcher.crt')),
    key: await readFile(join(certDir, 'watcher.key')),
    clientId: 'watcher',
    protocolVersion: 4,
    // A persistent session: the broker keeps (and, with persistence, saves) what arrives while it is away.
    clean: false,
    reconnectPeriod: 200,
  });
  await client.subscribeAsync('sensors/+/telemetry', { qos: 1 });
  let waiters: Array<{ predicate: () => boolean; resolve: () => void }> = [];
  const watcher: Watcher = {
    counts: new Map(),
    batches: 0,
    invalid: [],
    async waitFor(predicate) {
      if (predicate()) return;
      await new Promise<void>((resolve) => waiters.push({ predicate, resolve }));
    },
    reset() {
      watcher.counts.clear();
      watcher.batches = 0;
      watcher.invalid = [];
    },
    async publish(topic, body) {
      await client.publishAsync(topic, JSON.stringify(body), { qos: 1 });
    },
    async close() {
      await client.endAsync();
    },
  };
  client.on('message', (topic, payload, packet) => {
    try {
      const readings = validateTelemetry(topic, payload);
      if (payload[0] === 0x5b) watcher.batches += 1;
      for (const r of readings) {
        const key = `${r.sensorId}@${r.ts}`;
        if (packet.dup && watcher.counts.has(key)) continue;
        watcher.counts.set(key, (watcher.counts.get(key) ?? 0) + 1);
      }
    } catch (error) {
      watcher.invalid.push(`${topic}: ${(error as Error).message}: ${payload.toString().slice(0, 200)}`);
    }
    waiters = waiters.filter((w) => {
      if (!w.predicate()) return true;
      w.resolve();
      return false;
    });
  });
  return watcher;
}

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'device-sim/cli.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

let certDir: string;
let broker: Mosquitto;
let watcher: Watcher;

beforeAll(async () => {
  certDir = await mkdtemp(join(tmpdir(), 'vigia-sim-certs-'));
  await writeTestCertificates(certDir, [...SENSORS, 'watcher']);
  broker = await startMosquitto({
    port: await freePort(),
    tls: { caFile: join(certDir, 'ca.crt'), certFile: join(certDir, 'server.crt'), keyFile: join(certDir, 'server.key') },
    persistenceDir: await mkdtemp(join(tmpdir(), 'vigia-sim-mosquitto-')),
  });
  watcher = await startWatcher(broker.port, certDir);
});

afterAll(async () => {
  await watcher?.close();
  await broker?.stop();
});

describe.each(['mqtt5', 'mqtt311'] as const)('npm run sim at %s over mutual TLS', (protocol) => {
  it('delivers every reading once, each payload valid, and ends with a summary and exit code 0', async () => {
    watcher.reset();
    const result = await runCli([
      ...['--host', '127.0.0.1', '--port', String(broker.port), '--ca', join(certDir, 'ca.crt'), '--cert-dir', certDir],
      ...['--protocol', protocol, '--sensors', '3', '--count', '5', '--interval', '100', '--seed', '7', '--json', '--quiet'],
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as Record<string, number>;
    expect(summary).toMatchObject({ sensors: 3, generated: 15, acknowledged: 15, undelivered: 0, dropped: 0, seed: 7 });

    await watcher.waitFor(() => watcher.counts.size >= 15);
    expect(watcher.invalid).toEqual([]);
    expect([...watcher.counts.keys()].map((k) => k.split('@')[0]).sort()).toEqual(SENSORS.flatMap((s) => Array(5).fill(s)).sort());
    expect([...watcher.counts.values()].every((n) => n === 1)).toBe(true);
  });
});

describe('npm run sim errors', () => {
  it('names a key that does not belong to the certificate', async () => {
    const result = await runCli([
      ...['--host', '127.0.0.1', '--port', String(broker.port), '--ca', join(certDir, 'ca.crt'), '--cert-dir', certDir],
      ...['--ids', 'watcher', '--count', '1', '--quiet'],
      ...[
        '--cert-dir',
        await (async () => {
          const dir = await mkdtemp(join(tmpdir(), 'vigia-sim-bad-'));
          const { copyFile } = await import('node:fs/promises');
          await copyFile(join(certDir, 'sim-1.crt'), join(dir, 'watcher.crt'));
          await copyFile(join(certDir, 'watcher.key'), join(dir, 'watcher.key'));
          return dir;
        })(),
      ],
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/does not belong to certificate/);
  });

  it('says when nothing listens at the endpoint', async () => {
    const result = await runCli(['--tcp', '--port', String(await freePort()), '--sensors', '1', '--count', '1', '--quiet']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/nothing accepts connections/);
  });
});

describe.each(['mqtt5', 'mqtt311'] as const)('offline buffering at %s', (protocol) => {
  it('queues readings while the broker is down and flushes them as batches: every reading arrives, none twice', async () => {
    watcher.reset();
    const lines: string[] = [];
    const sim = await startSimulation({
      sensors: ['sim-1', 'sim-2'],
      host: '127.0.0.1',
      port: broker.port,
      protocol,
      tls: { caPath: join(certDir, 'ca.crt'), certDir },
      intervalMs: 100,
      count: 60,
      seed: 3,
      minReconnectDelayMs: 100,
      maxReconnectDelayMs: 500,
      failFast: true,
      log: (line) => lines.push(line),
    });
    try {
      await watcher.waitFor(() => watcher.counts.size >= 10);
      await broker.stop();
      await until(() => sim.stats().queued >= 10);
      expect(sim.stats().connected).toBe(0);
      await broker.start();
      await sim.done();
      const stats = sim.stats();
      expect(stats).toMatchObject({ generated: 120, acknowledged: 120, queued: 0, dropped: 0 });

      await watcher.waitFor(() => watcher.counts.size >= 120);
      expect(watcher.invalid).toEqual([]);
      expect(watcher.batches).toBeGreaterThan(0);
      expect(watcher.counts.size).toBe(120);
      expect([...watcher.counts.entries()].filter(([, n]) => n !== 1)).toEqual([]);
      expect(lines.some((l) => /connection lost/.test(l))).toBe(true);
    } finally {
      await sim.stop({ drainMs: 0 });
    }
  });
});

describe('commands', () => {
  it('setInterval changes the period on receipt; an unknown command is logged and ignored', async () => {
    watcher.reset();
    const lines: string[] = [];
    const sim = await startSimulation({
      sensors: ['sim-1'],
      host: '127.0.0.1',
      port: broker.port,
      protocol: 'mqtt5',
      tls: { caPath: join(certDir, 'ca.crt'), certDir },
      intervalMs: 3_600_000,
      failFast: true,
      log: (line) => lines.push(line),
    });
    try {
      // One reading at start; the next would be an hour later.
      await watcher.waitFor(() => watcher.counts.size >= 1);
      // The commands subscription follows CONNACK asynchronously: repeat until one arrives.
      const ignoredUnknown = () => lines.some((l) => /ignored command: unknown command "selfDestruct"/.test(l));
      while (!ignoredUnknown()) {
        await watcher.publish('sensors/sim-1/commands', { id: 'c0', name: 'selfDestruct', args: {}, issuedAt: Date.now() });
        await new Promise((r) => setTimeout(r, 100));
      }
      await watcher.publish('sensors/sim-1/commands', { id: 'c1', name: 'setInterval', args: { intervalMs: 50 }, issuedAt: Date.now() });
      await until(() => lines.some((l) => /ignored command: setInterval with invalid args/.test(l)));
      expect(sim.stats().perSensor[0].intervalMs).toBe(3_600_000);

      await watcher.publish('sensors/sim-1/commands', { id: 'c2', name: 'setInterval', args: { intervalMs: 100 }, issuedAt: Date.now() });
      await watcher.waitFor(() => watcher.counts.size >= 4);
      expect(sim.stats().perSensor[0].intervalMs).toBe(100);
      expect(lines.some((l) => /sim-1: setInterval 100 ms \(command c2\)/.test(l))).toBe(true);
      expect(watcher.invalid).toEqual([]);
    } finally {
      await sim.stop({ drainMs: 0 });
    }
  });
});

/** Polls a condition of the simulator's own state (no event to wait on); the test timeout bounds it. */
async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((r) => setTimeout(r, 20));
}
