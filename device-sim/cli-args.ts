/** Command line of the simulator: options to {@link SimulationOptions}, the status line. */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { IOT_CORE_MAX_PUBLISHES_PER_SECOND, MAX_INTERVAL_MS, MIN_INTERVAL_MS } from './publish-rate.js';
import { SimulationConfigError, type SimulationOptions, type SimulationStats } from './simulation.js';

export const USAGE = `Usage: npm run sim -- [options]

Target (one of):
  --endpoint <host>     AWS IoT data ATS endpoint (xxxx-ats.iot.<region>.amazonaws.com), mutual TLS on
                        8883 with <cert-dir>/<sensorId>.crt/.key and Amazon's root CA from the system
                        trust store (see npm run provision)
  (default)             the local broker over mutual TLS: 127.0.0.1:$MQTTS_PORT (8883), certificates
                        and ca.crt from $DATA_DIR/certs (.data/certs; see npm run cert)
  --tcp                 the local broker over plain TCP: 127.0.0.1:$MQTT_PORT (1883), identity = client id
  --host <host> --port <n> --ca <file> --cert-dir <dir>   override any of the above

Sensors:
  --sensors <n>         number of sensors, ids <prefix>1 … <prefix>n (default 5)
  --prefix <p>          id prefix (default sim-)
  --ids <a,b,…>         explicit sensor ids instead
  --protocol <p>        mqtt5 (default) or mqtt311
  --interval <ms>       period between readings, ${MIN_INTERVAL_MS} … ${MAX_INTERVAL_MS} (default 1000)
  --seed <n>            seed of the signal models (default random, printed in the summary)
  --buffer <n>          offline buffer per sensor, oldest dropped beyond (default 10000)
  --max-rate <n>        publishes per second per connection, at most ${IOT_CORE_MAX_PUBLISHES_PER_SECOND} (default ${IOT_CORE_MAX_PUBLISHES_PER_SECOND})
  --basic-ingest <rule> publish telemetry by Basic Ingest to this IoT rule ($aws/rules/<rule>/sensors/<id>/telemetry),
                        not billed as messaging; stream ingest only: the cloud stack's BasicIngestTopic output
                        names the rule, locally it is IngestTelemetry (contract §2)

Run:
  --duration <t>        stop after this long (e.g. 90, 30s, 5m, 1h; plain number = seconds)
  --count <n>           stop each sensor after n readings
  --drain <t>           at the end, wait this long for queued readings to be acknowledged (default 10s)
  --json                print the summary as JSON on stdout
  --quiet               no status line and no log lines
  -h, --help
`;

export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new SimulationConfigError(`Invalid duration "${text}" (e.g. 90, 30s, 5m, 1h)`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 's'] ?? 1000;
  return Math.round(Number(match[1]) * factor);
}

function integer(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value)) throw new SimulationConfigError(`--${name} must be an integer, got "${text}"`);
  return value;
}

export interface CliPlan {
  simulation: SimulationOptions;
  durationMs?: number;
  drainMs: number;
  json: boolean;
  quiet: boolean;
}

/** Turns argv into the simulation's options; throws SimulationConfigError on a bad one. */
export function planFromArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): CliPlan | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      endpoint: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      tcp: { type: 'boolean', default: false },
      ca: { type: 'string' },
      'cert-dir': { type: 'string' },
      sensors: { type: 'string' },
      prefix: { type: 'string' },
      ids: { type: 'string' },
      protocol: { type: 'string' },
      interval: { type: 'string' },
      seed: { type: 'string' },
      buffer: { type: 'string' },
      'max-rate': { type: 'string' },
      'basic-ingest': { type: 'string' },
      duration: { type: 'string' },
      count: { type: 'string' },
      drain: { type: 'string' },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  if (values.endpoint && values.tcp) throw new SimulationConfigError('--endpoint (AWS IoT Core) needs mutual TLS; drop --tcp');
  const protocol = values.protocol ?? 'mqtt5';
  if (protocol !== 'mqtt5' && protocol !== 'mqtt311')
    throw new SimulationConfigError(`--protocol must be mqtt5 or mqtt311, got "${protocol}"`);

  const dataDir = env.DATA_DIR || '.data';
  let host: string;
  let port: number;
  let tls: SimulationOptions['tls'];
  if (values.endpoint) {
    host = values.endpoint;
    port = integer('port', values.port) ?? 8883;
    tls = { caPath: values.ca, certDir: values['cert-dir'] ?? 'certs' };
  } else if (values.tcp) {
    host = values.host ?? '127.0.0.1';
    port = integer('port', values.port) ?? integer('MQTT_PORT', env.MQTT_PORT) ?? 1883;
  } else {
    host = values.host ?? '127.0.0.1';
    port = integer('port', values.port) ?? integer('MQTTS_PORT', env.MQTTS_PORT) ?? 8883;
    const certDir = values['cert-dir'] ?? join(dataDir, 'certs');
    tls = { caPath: values.ca ?? join(certDir, 'ca.crt'), certDir };
  }

  const basicIngestRule = values['basic-ingest'];
  // IoT rule names: letters, digits and underscores, 1 to 128 (TopicRule API).
  if (basicIngestRule !== undefined && !/^[A-Za-z0-9_]{1,128}$/.test(basicIngestRule)) {
    throw new SimulationConfigError(`--basic-ingest must be an IoT rule name (letters, digits, _), got "${basicIngestRule}"`);
  }
  const sensors: number | string[] = values.ids
    ? values.ids
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : (integer('sensors', values.sensors) ?? 5);
  const durationMs = values.duration !== undefined ? parseDuration(values.duration) : undefined;
  if (durationMs !== undefined && durationMs <= 0) throw new SimulationConfigError('--duration must be positive');

  return {
    simulation: {
      sensors,
      prefix: values.prefix,
      host,
      port,
      protocol,
      tls,
      intervalMs: integer('interval', values.interval),
      seed: integer('seed', values.seed),
      count: integer('count', values.count),
      bufferLimit: integer('buffer', values.buffer),
      maxPublishesPerSecond: integer('max-rate', values['max-rate']),
      failFast: true,
      sdkMetrics: Boolean(values.endpoint),
      basicIngestRule,
    },
    durationMs,
    drainMs: values.drain !== undefined ? parseDuration(values.drain) : 10_000,
    json: values.json,
    quiet: values.quiet,
  };
}

export function statusLine(stats: SimulationStats, elapsedMs: number): string {
  return (
    `[${(elapsedMs / 1000).toFixed(0)}s] connected ${stats.connected}/${stats.sensors}  sent ${stats.sent}  ` +
    `acknowledged ${stats.acknowledged}  queued ${stats.queued}  dropped ${stats.dropped}  errors ${stats.errors}`
  );
}
