/** Runs N simulated sensors, each over its own connection. See index.ts for the public API. */
import { type KeyObject, X509Certificate, createPrivateKey, randomInt } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SENSOR_ID_PATTERN } from '../lambdas/shared/names.js';
import { IOT_CORE_MAX_PUBLISHES_PER_SECOND, intervalProblem, publishRateProblem } from './publish-rate.js';
import { SENSOR_COUNTERS, SimulatedSensor, type SensorCounter, type SensorStats } from './sensor.js';
import { createTransport, releaseNativeMemory, type Protocol, type TransportTls } from './transport.js';

export interface SimulationOptions {
  /** A number N for `${prefix}1` … `${prefix}N`, or the sensor ids themselves. */
  sensors: number | string[];
  /** @default 'sim-' */
  prefix?: string;
  /** Broker host: the AWS IoT data ATS endpoint, or the local broker (127.0.0.1). */
  host: string;
  port: number;
  /** @default 'mqtt5' */
  protocol?: Protocol;
  /**
   * Mutual TLS: each device's `<certDir>/<sensorId>.crt` and `.key`; `caPath` the broker's CA
   * (absent → the system trust store, which holds Amazon's root CA). Plain TCP when absent.
   */
  tls?: { caPath?: string; certDir: string };
  /** Period between readings, 100 … 3 600 000. @default 1000 */
  intervalMs?: number;
  /** Seed of the signal models; random when absent (the chosen one is in {@link Simulation.seed}). */
  seed?: number;
  /** Readings per sensor, after which it stops drawing. @default unlimited */
  count?: number;
  /** Offline buffer per sensor; overflow drops the oldest. @default 10000 */
  bufferLimit?: number;
  /** Publish ceiling per connection, at most AWS IoT Core's 100. @default 100 */
  maxPublishesPerSecond?: number;
  /** Reconnect backoff (exponential with jitter) bounds. @default 1000 and 30000 ms */
  minReconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /**
   * Wait for every sensor's first connection attempt and reject, with the reason, if one fails
   * (bad certificate, key, endpoint). Otherwise resolve at once and keep retrying in the background.
   * @default false
   */
  failFast?: boolean;
  /** Send the AWS IoT SDK metrics in the CONNECT username (for AWS IoT Core). @default false */
  sdkMetrics?: boolean;
  /** Log lines (connection changes, commands, drops). @default discarded */
  log?: (line: string) => void;
  /**
   * Publish telemetry by Basic Ingest to this rule (`$aws/rules/<rule>/sensors/<id>/telemetry`): the cloud's
   * BasicIngestTopic output names it; locally, stream ingest's `IngestTelemetry`. @default the plain topic
   */
  basicIngestRule?: string;
}

/** The sensors' counters summed (see {@link SensorStats} for each), with how many are connected now. */
export type SimulationStats = Record<SensorCounter, number> & {
  sensors: number;
  /** Sensors whose connection is up now. */
  connected: number;
  perSensor: SensorStats[];
};

export interface Simulation {
  readonly sensorIds: string[];
  readonly seed: number;
  stats(): SimulationStats;
  /** Resolves when every sensor has drawn `count` readings and each is acknowledged or dropped (never without `count`). */
  done(): Promise<void>;
  /**
   * Stops drawing readings, waits up to `drainMs` for queued and in-flight readings to be acknowledged,
   * then disconnects every sensor and frees its native resources. Safe to call more than once.
   */
  stop(options?: { drainMs?: number }): Promise<void>;
}

export class SimulationConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulationConfigError';
  }
}

export function sensorIdsFor(sensors: number | string[], prefix = 'sim-'): string[] {
  const ids = typeof sensors === 'number' ? sensorRange(sensors, prefix) : [...sensors];
  if (ids.length === 0) throw new SimulationConfigError('No sensors to simulate');
  for (const id of ids) {
    if (!SENSOR_ID_PATTERN.test(id)) throw new SimulationConfigError(`Invalid sensorId "${id}": it must match ${SENSOR_ID_PATTERN}`);
  }
  if (new Set(ids).size !== ids.length) throw new SimulationConfigError('Duplicate sensor ids');
  return ids;
}

function sensorRange(n: number, prefix: string): string[] {
  if (!Number.isInteger(n) || n < 1) throw new SimulationConfigError(`The number of sensors must be a positive integer, got ${n}`);
  return Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
}

/** Reads and checks a device's certificate and key, so a bad file fails with its name, before any connection. */
export function checkDeviceCredentials(sensorId: string, certPath: string, keyPath: string, log: (line: string) => void): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(certPath));
  } catch (error) {
    throw new SimulationConfigError(`Certificate of ${sensorId} unusable: ${certPath}: ${reason(error)}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(keyPath));
  } catch (error) {
    throw new SimulationConfigError(`Private key of ${sensorId} unusable: ${keyPath}: ${reason(error)}`);
  }
  if (!cert.checkPrivateKey(key)) {
    throw new SimulationConfigError(`Private key ${keyPath} does not belong to certificate ${certPath}`);
  }
  if (Date.parse(cert.validTo) < Date.now()) throw new SimulationConfigError(`Certificate ${certPath} expired on ${cert.validTo}`);
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  if (cn !== undefined && cn !== sensorId && !/AWS IoT Certificate/.test(cn)) {
    log(`${sensorId}: warning: certificate CN is "${cn}"; a broker that checks identity will refuse it`);
  }
}

function checkCa(caPath: string): void {
  try {
    new X509Certificate(readFileSync(caPath));
  } catch (error) {
    throw new SimulationConfigError(`CA certificate unusable: ${caPath}: ${reason(error)}`);
  }
}

function reason(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && (error as { code?: string }).code === 'ENOENT') return 'file not found';
  return error instanceof Error ? error.message : String(error);
}

/** A plain-language cause for a failed first connection, from the CRT error name. */
export function explainConnectionFailure(reasonText: string, host: string, port: number): string {
  if (/DNS/.test(reasonText)) return `cannot resolve ${host}: check the endpoint`;
  if (/CONNECTION_REFUSED/.test(reasonText)) return `nothing accepts connections at ${host}:${port}`;
  if (/TIMEOUT|TIMED_OUT|NO_ROUTE|NETWORK_DOWN/.test(reasonText))
    return `${host}:${port} did not answer: check the endpoint and the network`;
  if (/TLS|SSL|CERT|X509|PEM|PRIVATE_KEY|FILE_VALIDATION/.test(reasonText)) {
    return 'the TLS handshake failed: check the certificate, its key and the CA (and that the certificate is registered and active)';
  }
  if (/HANGUP|CLOSED|CONNACK/.test(reasonText)) {
    return 'the broker closed or refused the connection: check that the certificate is active and its policy allows this client id';
  }
  return 'connection failed';
}

export async function startSimulation(options: SimulationOptions): Promise<Simulation> {
  const log = options.log ?? (() => {});
  const protocol = options.protocol ?? 'mqtt5';
  if (protocol !== 'mqtt5' && protocol !== 'mqtt311') throw new SimulationConfigError(`Unknown protocol "${protocol}" (mqtt5 or mqtt311)`);
  const sensorIds = sensorIdsFor(options.sensors, options.prefix);
  const maxPublishesPerSecond = options.maxPublishesPerSecond ?? IOT_CORE_MAX_PUBLISHES_PER_SECOND;
  const rateProblem = publishRateProblem(maxPublishesPerSecond);
  if (rateProblem) throw new SimulationConfigError(rateProblem);
  const intervalMs = options.intervalMs ?? 1000;
  const problem = intervalProblem(intervalMs, maxPublishesPerSecond);
  if (problem) throw new SimulationConfigError(problem);
  if (options.count !== undefined && (!Number.isInteger(options.count) || options.count < 1)) {
    throw new SimulationConfigError(`count must be a positive integer, got ${options.count}`);
  }
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
    throw new SimulationConfigError(`Invalid port ${options.port}`);
  }
  const seed = options.seed ?? randomInt(0, 2 ** 31);
  if (!Number.isSafeInteger(seed)) throw new SimulationConfigError(`seed must be an integer, got ${seed}`);

  const tlsFor = new Map<string, TransportTls>();
  if (options.tls) {
    if (options.tls.caPath) checkCa(options.tls.caPath);
    for (const id of sensorIds) {
      const certPath = join(options.tls.certDir, `${id}.crt`);
      const keyPath = join(options.tls.certDir, `${id}.key`);
      checkDeviceCredentials(id, certPath, keyPath, log);
      tlsFor.set(id, { caPath: options.tls.caPath, certPath, keyPath });
    }
  }
  try {
    await lookup(options.host);
  } catch {
    throw new SimulationConfigError(`Cannot resolve endpoint "${options.host}": check --endpoint/--host`);
  }

  const sensors = sensorIds.map(
    (sensorId) =>
      new SimulatedSensor({
        sensorId,
        seed,
        intervalMs,
        count: options.count,
        bufferLimit: options.bufferLimit ?? 10_000,
        maxPublishesPerSecond,
        log,
        basicIngestRule: options.basicIngestRule,
      }),
  );
  for (const sensor of sensors) {
    try {
      const transport = createTransport(
        {
          clientId: sensor.sensorId,
          host: options.host,
          port: options.port,
          protocol,
          tls: tlsFor.get(sensor.sensorId),
          minReconnectDelayMs: options.minReconnectDelayMs,
          maxReconnectDelayMs: options.maxReconnectDelayMs,
          sdkMetrics: options.sdkMetrics,
        },
        sensor.events,
      );
      sensor.start(transport);
    } catch (error) {
      await Promise.all(sensors.map((s) => s.close()));
      throw new SimulationConfigError(`Cannot set up the connection of ${sensor.sensorId}: ${reason(error)}`);
    }
  }

  let stopping: Promise<void> | undefined;
  const simulation: Simulation = {
    sensorIds,
    seed,
    stats() {
      const perSensor = sensors.map((s) => s.snapshot());
      const totals = Object.fromEntries(SENSOR_COUNTERS.map((key) => [key, perSensor.reduce((total, s) => total + s[key], 0)])) as Record<
        SensorCounter,
        number
      >;
      return { sensors: sensors.length, connected: perSensor.filter((s) => s.connected).length, ...totals, perSensor };
    },
    async done() {
      if (options.count === undefined) return new Promise<void>(() => {});
      await Promise.all(sensors.map((s) => s.whenIdle()));
    },
    stop({ drainMs = 5000 } = {}) {
      stopping ??= (async () => {
        for (const s of sensors) s.stopReadings();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.all(sensors.map((s) => s.whenIdle())),
          new Promise<void>((resolve) => (timer = setTimeout(resolve, drainMs))),
        ]);
        clearTimeout(timer);
        await Promise.all(sensors.map((s) => s.close()));
        // Napi finalizers run after the collection, on a later turn: collect, yield, collect again.
        releaseNativeMemory();
        await new Promise((resolve) => setImmediate(resolve));
        releaseNativeMemory();
      })();
      return stopping;
    },
  };

  if (options.failFast) {
    const outcomes = await Promise.all(sensors.map((s) => s.firstConnection));
    const failed = outcomes.findIndex((o) => !o.ok);
    if (failed >= 0) {
      const outcome = outcomes[failed] as { ok: false; reason: string };
      await simulation.stop({ drainMs: 0 });
      throw new SimulationConfigError(
        `${sensorIds[failed]} could not connect to ${options.host}:${options.port}: ${explainConnectionFailure(outcome.reason, options.host, options.port)} (${outcome.reason})`,
      );
    }
  }
  return simulation;
}
