/**
 * Test support for the local runtime: starts it in-process on free ports in a temp data folder, and gives
 * real clients to drive it (mqtt.js devices, WebSocket dashboards, HTTP JSON calls).
 *
 * Every wait here has a generous deadline after which it rejects with what it saw, so a missing event fails
 * the test with a useful message instead of hanging it.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { startLocalRuntime, type LocalRuntime, type RuntimeOptions } from '../../local/runtime.js';
import { checkedFetch } from './openapi.js';
import { setTimeout as sleep } from 'node:timers/promises';

export const HOST = '127.0.0.1';
/** How long a wait for an event may take before the test fails. */
export const WAIT_MS = 20_000;

/** A temp data folder, removed by `removeDataDir`. */
export function makeDataDir(prefix = 'vigia-runtime-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDataDir(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

/** Runtime log entries, kept for a failure's diagnosis (printed with VIGIA_TEST_LOGS=1). */
export const runtimeLogs: Array<Record<string, unknown>> = [];

/** Starts the runtime on free ports (HTTP, MQTT, MQTTS) in `dataDir`, with fast retries. */
export async function startTestRuntime(dataDir: string, options: RuntimeOptions = {}): Promise<LocalRuntime> {
  // The handlers' expected warnings (rejected telemetry) are noise in a test run; VIGIA_TEST_LOGS shows them.
  if (!process.env.VIGIA_TEST_LOGS) process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  return startLocalRuntime({
    host: HOST,
    port: 0,
    mqttPort: 0,
    mqttsPort: 0,
    dataDir,
    retryDelaysMs: [50, 100],
    log: (entry) => {
      runtimeLogs.push(entry);
      if (process.env.VIGIA_TEST_LOGS) console.log(JSON.stringify(entry));
    },
    ...options,
  });
}

/**
 * `count` distinct TCP ports free on HOST, for a process that must get the same ports back after a restart.
 * They are drawn from below the kernel's ephemeral range, so no other process's outgoing connection or
 * `listen(0)` can take one while the process is down. A port from `freePort` can be taken that way, and was
 * ("MQTTS port … is already in use" on a restart in CI).
 */
export async function restartablePorts(count: number): Promise<number[]> {
  const low = await ephemeralLow();
  const floor = 10_000;
  const ports = new Set<number>();
  for (let attempt = 0; attempt < 50 * count && ports.size < count; attempt++) {
    const port = floor + Math.floor(Math.random() * (low - floor));
    if (!ports.has(port) && (await canListen(port))) ports.add(port);
  }
  if (ports.size < count) throw new Error(`Found only ${ports.size} of ${count} free TCP ports on ${HOST} between ${floor} and ${low - 1}`);
  return [...ports];
}

/** The lowest port the kernel hands out for `listen(0)` and outgoing connections (Linux; 32768 elsewhere). */
async function ephemeralLow(): Promise<number> {
  const range = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '');
  const low = Number(range.trim().split(/\s+/)[0]);
  return Number.isInteger(low) && low > 10_001 ? low : 32_768;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

/** A TCP port free on HOST right now, from the ephemeral range (see `restartablePorts` for a restart). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// Generic waiting

/** Polls `probe` until it returns a value other than undefined; fails after `timeoutMs` naming `what`. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    }
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------------------
// MQTT devices

const openDevices = new Set<MqttClient>();

export interface DeviceOptions extends IClientOptions {
  /** @default protocolVersion 5 */
  protocolVersion?: 3 | 4 | 5;
}

type ConnectOutcome =
  | { kind: 'connected'; client: MqttClient }
  | { kind: 'refused'; code: number; error: Error }
  | { kind: 'failed'; error: Error | undefined };

/** One connection attempt, no reconnects: connected, refused with a CONNACK code, or dropped. */
export function attemptDevice(url: string, options: DeviceOptions): Promise<ConnectOutcome> {
  const client = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: WAIT_MS, ...options });
  openDevices.add(client);
  return new Promise((resolve) => {
    let lastError: Error | undefined;
    client.once('connect', () => resolve({ kind: 'connected', client }));
    client.on('error', (err: Error & { code?: unknown }) => {
      lastError = err;
      if (typeof err.code === 'number') resolve({ kind: 'refused', code: err.code, error: err });
    });
    client.once('close', () => resolve({ kind: 'failed', error: lastError }));
  });
}

/** An mqtt.js device (MQTT 5, clientId = sensorId) connected to `url`. */
export async function connectDevice(url: string, sensorId: string, options: DeviceOptions = {}): Promise<MqttClient> {
  const outcome = await attemptDevice(url, { clientId: sensorId, ...options });
  if (outcome.kind !== 'connected') {
    throw new Error(`device ${sensorId} could not connect to ${url}: ${outcome.kind} ${String(outcome.error?.message ?? '')}`);
  }
  return outcome.client;
}

/** Ends every device opened by these helpers (afterEach). */
export async function closeDevices(): Promise<void> {
  const all = [...openDevices];
  openDevices.clear();
  await Promise.all(all.map((client) => client.endAsync(true).catch(() => undefined)));
}

/** Resolves with the next message the device receives on `topic`. */
export function nextMessage(client: MqttClient, topic: string, timeoutMs = WAIT_MS): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`Timed out after ${timeoutMs} ms waiting for a message on ${topic}`));
    }, timeoutMs);
    const onMessage = (t: string, payload: Buffer) => {
      if (t !== topic) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve(payload);
    };
    client.on('message', onMessage);
  });
}

export const telemetryTopic = (sensorId: string) => `sensors/${sensorId}/telemetry`;

// ---------------------------------------------------------------------------------------------------------
// WebSocket dashboards

export type Frame = Record<string, unknown> & { type?: string };

export class WsClient {
  readonly frames: Frame[] = [];
  private waiters: Array<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  private closedPromise: Promise<void>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      let frame: Frame;
      try {
        frame = JSON.parse(data.toString()) as Frame;
      } catch {
        frame = { type: '<not JSON>', text: data.toString() };
      }
      this.frames.push(frame);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(frame)) return true;
        w.resolve(frame);
        return false;
      });
    });
    this.closedPromise = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async open(url: string): Promise<WsClient> {
    const socket = new WebSocket(url);
    openSockets.add(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return new WsClient(socket);
  }

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The first frame matching `match`, received from index `from` on (default: any received so far or later). */
  waitFor(match: (f: Frame) => boolean, what = 'a matching frame', from = 0, timeoutMs = WAIT_MS): Promise<Frame> {
    const seen = this.frames.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve: (f: Frame) => (clearTimeout(timer), resolve(f)) };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new Error(`Timed out after ${timeoutMs} ms waiting for ${what}; frames received: ${JSON.stringify(this.frames).slice(0, 2000)}`),
        );
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Sends a frame and waits for the next reply of one of `types` received after it. */
  async request(frame: unknown, types: string[] = ['subscribed', 'error', 'pong', 'commandSent']): Promise<Frame> {
    const from = this.frames.length;
    this.send(frame);
    return this.waitFor((f) => types.includes(String(f.type)), `a reply (${types.join('/')}) to ${JSON.stringify(frame)}`, from);
  }

  async subscribe(sensorIds: string[]): Promise<Frame> {
    const reply = await this.request({ action: 'subscribe', sensorIds }, ['subscribed', 'error']);
    if (reply.type !== 'subscribed') throw new Error(`subscribe ${JSON.stringify(sensorIds)} failed: ${JSON.stringify(reply)}`);
    return reply;
  }

  /** Every reading pushed for `sensorId` so far. */
  readingsOf(sensorId: string): Array<{ sensorId: string; ts: number; values: Record<string, number> }> {
    return this.frames
      .filter((f) => f.type === 'readings')
      .flatMap((f) => f.readings as Array<{ sensorId: string; ts: number; values: Record<string, number> }>)
      .filter((r) => r.sensorId === sensorId);
  }

  /** Waits for a `readings` frame carrying a reading of `sensorId` at `ts`. */
  waitForReading(sensorId: string, ts: number): Promise<Frame> {
    return this.waitFor(
      (f) =>
        f.type === 'readings' &&
        (f.readings as Array<{ sensorId: string; ts: number }>).some((r) => r.sensorId === sensorId && r.ts === ts),
      `a reading of ${sensorId} at ${ts}`,
    );
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    this.socket.close();
    await Promise.race([this.closedPromise, sleep(2000).then(() => this.socket.terminate())]);
  }
}

const openSockets = new Set<WebSocket>();

/** Closes every WebSocket opened by these helpers (afterEach). */
export async function closeSockets(): Promise<void> {
  const all = [...openSockets];
  openSockets.clear();
  await Promise.all(
    all.map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.readyState === WebSocket.CLOSED) return resolve();
          socket.once('close', () => resolve());
          socket.terminate();
        }),
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------
// HTTP

export interface JsonResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** Every `/api` answer is checked against the OpenAPI document on the way (./openapi.ts). */
export async function getJson<T = any>(url: string, init?: RequestInit): Promise<JsonResponse<T>> {
  const res = await checkedFetch(url, init);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`GET ${url} answered ${res.status} with non-JSON: ${text.slice(0, 300)}`);
  }
  return { status: res.status, headers: res.headers, body: body as T };
}

export async function getText(url: string, init?: RequestInit): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await checkedFetch(url, init);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** The raw readings of a sensor in [from, to), all pages followed. */
export async function rawReadings(
  runtime: LocalRuntime,
  sensorId: string,
  from: number,
  to: number,
  limit = 1000,
): Promise<Array<{ ts: number; values: Record<string, number> }>> {
  const points: Array<{ ts: number; values: Record<string, number> }> = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const params = new URLSearchParams({ from: String(from), to: String(to), resolution: 'raw', limit: String(limit) });
    if (cursor) params.set('cursor', cursor);
    const res = await getJson(`${runtime.urls.api}/sensors/${sensorId}/readings?${params}`);
    if (res.status !== 200) throw new Error(`readings of ${sensorId}: ${res.status} ${JSON.stringify(res.body)}`);
    points.push(...res.body.points);
    cursor = res.body.nextCursor;
    if (!cursor) return points;
  }
  throw new Error('more than 100 pages of readings');
}

/** The sensor as `GET /api/sensors` lists it, or undefined. */
export async function listedSensor(runtime: LocalRuntime, sensorId: string): Promise<any | undefined> {
  const res = await getJson<{ sensors: Array<{ sensorId: string }> }>(`${runtime.urls.api}/sensors`);
  if (res.status !== 200) throw new Error(`GET /api/sensors: ${res.status}`);
  return res.body.sensors.find((s) => s.sensorId === sensorId);
}

// ---------------------------------------------------------------------------------------------------------
// Dead letters and the internal publish path

export interface DeadLetter {
  topic: string;
  code: string;
  sensorId?: string;
  message?: string;
  [key: string]: unknown;
}

export async function readDeadLetters(runtime: LocalRuntime): Promise<DeadLetter[]> {
  let text = '';
  try {
    text = await readFile(runtime.deadLetterFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as DeadLetter);
}

/**
 * Publishes as the system through the runtime's IoT data-plane stand-in (the path commands take), e.g. to a
 * topic no device could publish to. Its address and the credentials it answers are set in the environment
 * (IOT_DATA_ENDPOINT, AWS_ACCESS_KEY_ID) when the runtime starts; the SDK client signs with them.
 */
export async function publishInternally(topic: string, payload: string | Buffer, qos: 0 | 1 = 1): Promise<void> {
  const endpoint = process.env.IOT_DATA_ENDPOINT;
  if (!endpoint) throw new Error('IOT_DATA_ENDPOINT is not set: start the runtime first');
  const client = new IoTDataPlaneClient({ endpoint });
  try {
    await client.send(new PublishCommand({ topic, qos, payload: typeof payload === 'string' ? Buffer.from(payload) : payload }));
  } finally {
    client.destroy();
  }
}

/** Ends child processes a test started (SIGKILL) and waits for them to exit. */
export async function killChildren(children: Iterable<import('node:child_process').ChildProcess>): Promise<void> {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }
}

/** The HTTP status the server answers a WebSocket upgrade with (101 when it opens). */
export function upgradeStatus(url: string, headers: { origin?: string; host?: string } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { origin: headers.origin, headers: headers.host ? { host: headers.host } : {} });
    socket.once('open', () => {
      socket.terminate();
      resolve(101);
    });
    socket.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      socket.terminate();
    });
    socket.once('error', (err) => reject(err));
  });
}
