/**
 * `npm start`: the whole of vigia on this machine, with simulated sensors.
 *   npm start -- [--sensors N] [--no-sim]
 * Settings: HOST, PORT, MQTT_PORT, MQTTS_PORT, DATA_DIR, MQTT_URL, AUTH, ALLOWED_ORIGINS (see README).
 */
import { INGEST_MODES, type IngestMode } from '../lambdas/shared/contract.js';
import { startSimulation, type Simulation } from '../device-sim/index.js';
import { buildFrontendIfStale } from './frontend.js';
import { startLocalRuntime } from './runtime.js';

function usage(message: string): never {
  console.error(`${message}\nUsage: npm start -- [--sensors N] [--no-sim]`);
  process.exit(2);
}

function parseArgs(argv: string[]): { sensors: number } {
  let sensors = 5;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--no-sim') sensors = 0;
    else if (arg === '--sensors' || arg.startsWith('--sensors=')) {
      const text = arg.includes('=') ? arg.slice('--sensors='.length) : argv[++i];
      if (!text || !/^\d+$/.test(text) || Number(text) > 1000) usage('--sensors takes a whole number from 0 to 1000');
      sensors = Number(text);
    } else if (arg === '--help' || arg === '-h') usage('vigia local mode');
    else usage(`Unknown option ${arg}`);
  }
  return { sensors };
}

function portEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  if (!/^\d+$/.test(text) || Number(text) > 65535) usage(`${name} must be a port number (0 picks a free one), got "${text}"`);
  return Number(text);
}

function ingestEnv(): IngestMode {
  const text = process.env.INGEST || 'stream';
  if (!(INGEST_MODES as readonly string[]).includes(text)) usage(`INGEST must be direct or stream, got "${text}"`);
  return text as IngestMode;
}

function authEnv(): boolean {
  const text = (process.env.AUTH || 'off').toLowerCase();
  if (text !== 'on' && text !== 'off') usage(`AUTH must be on or off, got "${text}"`);
  return text === 'on';
}

/** HISTORY_THREAD: on (the default) runs the history writer on a thread of its own; off, on the main thread. */
function historyThreadEnv(): boolean {
  const text = (process.env.HISTORY_THREAD || 'on').toLowerCase();
  if (text !== 'on' && text !== 'off') usage(`HISTORY_THREAD must be on or off, got "${text}"`);
  return text === 'on';
}

function windowEnv(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  if (!/^\d+$/.test(text) || Number(text) > 300_000) usage(`${name} must be 0 to 300000 (ms), got "${text}"`);
  return Number(text);
}

/** ALLOWED_ORIGINS: a comma list of origins (scheme://host[:port]) trusted besides the runtime's own. */
function originsEnv(): string[] {
  const list = (process.env.ALLOWED_ORIGINS ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
  for (const origin of list) {
    let valid = false;
    try {
      const url = new URL(origin);
      valid = (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === origin.replace(/\/+$/, '');
    } catch {
      valid = false;
    }
    if (!valid) usage(`ALLOWED_ORIGINS takes origins such as http://localhost:5173, got "${origin}"`);
  }
  return list;
}

function webhookEnv(): string | undefined {
  const text = process.env.ALERT_WEBHOOK_URL;
  if (!text) return undefined;
  if (!URL.canParse(text) || !/^https?:$/.test(new URL(text).protocol)) usage(`ALERT_WEBHOOK_URL must be an http(s) URL, got "${text}"`);
  return text;
}

function silenceCheckEnv(): number {
  const text = process.env.ALERT_SILENCE_CHECK_MS || '60000';
  if (!/^\d+$/.test(text) || Number(text) < 100 || Number(text) > 3_600_000)
    usage(`ALERT_SILENCE_CHECK_MS must be 100 to 3600000, got "${text}"`);
  return Number(text);
}

async function main(): Promise<void> {
  const { sensors } = parseArgs(process.argv.slice(2));
  try {
    buildFrontendIfStale((line) => console.log(line));
  } catch (err) {
    console.error(`${(err as Error).message}: serving the placeholder page instead of the dashboard.`);
  }
  const runtime = await startLocalRuntime({
    host: process.env.HOST || '127.0.0.1',
    port: portEnv('PORT', 3000),
    mqttPort: portEnv('MQTT_PORT', 1883),
    mqttsPort: portEnv('MQTTS_PORT', 8883),
    dataDir: process.env.DATA_DIR || '.data',
    mqttUrl: process.env.MQTT_URL || undefined,
    ingest: ingestEnv(),
    liveWindowMs: windowEnv('LIVE_WINDOW_MS'),
    historyWindowMs: windowEnv('HISTORY_WINDOW_MS'),
    historyWriterThread: historyThreadEnv(),
    auth: authEnv(),
    allowedOrigins: originsEnv(),
    alertWebhookUrl: webhookEnv(),
    alertSilenceCheckMs: silenceCheckEnv(),
  });

  let sim: Simulation | undefined;
  if (sensors > 0) {
    const target = process.env.MQTT_URL ? new URL(process.env.MQTT_URL) : undefined;
    sim = await startSimulation({
      sensors,
      host: target ? target.hostname : runtime.host,
      port: target ? Number(target.port || 1883) : runtime.mqttPort!,
      protocol: 'mqtt5',
      log: (line) => {
        if (process.env.VIGIA_VERBOSE) console.log(`[sim] ${line}`);
      },
    });
  }

  const lines = [
    '',
    '  vigia is running locally',
    '',
    `  Dashboard   ${runtime.urls.dashboard}`,
    `  HTTP API    ${runtime.urls.api}   (try ${runtime.urls.api}/sensors)`,
    `  WebSocket   ${runtime.urls.ws}`,
    runtime.mqttPort !== null
      ? `  MQTT        ${runtime.urls.mqtt}   (client id = sensorId)`
      : `  MQTT        ${runtime.urls.mqtt}   (external broker)`,
    ...(runtime.mqttsPort !== null
      ? [`  MQTT + TLS  ${runtime.urls.mqtts}   (certificate CN = sensorId; npm run cert -- <sensorId>)`]
      : []),
    `  Data        ${runtime.dataDir}`,
    `  Ingest      ${runtime.rules.mode} (INGEST=direct|stream; LIVE_WINDOW_MS, HISTORY_WINDOW_MS)`,
    `  Rejected    ${runtime.deadLetterFile}`,
    runtime.authIssuer
      ? `  Sign-in     on (AUTH=on): local users operator@local, viewer@local; issuer ${runtime.authIssuer.issuer}`
      : '  Sign-in     off (AUTH=on turns it on)',
    `  Sensors     ${sensors > 0 ? `${sensors} simulated (sim-1 … sim-${sensors})` : 'none simulated (--no-sim)'}`,
    '',
    '  Ctrl-C stops it; the data stays for the next start.',
    '',
  ];
  console.log(lines.join('\n'));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping…`);
    const force = setTimeout(() => {
      console.error('Shutdown took over 15 s; exiting.');
      process.exit(1);
    }, 15_000);
    force.unref();
    await sim?.stop().catch(() => undefined);
    await runtime.close();
    console.log('Stopped. Data kept in', runtime.dataDir);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: Error) => {
  console.error(`vigia could not start: ${err.message}`);
  process.exit(1);
});
