/**
 * The pipeline's benchmark (issues 3 and 11): the broker's QoS 1 ceiling, sustained ingest with every reading
 * stored and pushed exactly once, publish → WebSocket latency at 1,000 readings/s across 100 sensors, one
 * reading to 1,000 WebSocket clients, and history freshness (PUBACK → visible in the readings API).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import mqtt, { type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { DynamoReadingStore, DynamoRollupStore } from '../lambdas/adapters/dynamo-history.js';
import { DynamoSensorRegistry } from '../lambdas/adapters/dynamo-sensors.js';
import { packMinute } from '../lambdas/core/reading-pack.js';
import { storeTelemetryStream } from '../lambdas/core/store-telemetry-stream.js';
import type { StoreDeps } from '../lambdas/core/store-telemetry.js';
import { RETENTION_DEFAULTS } from '../lambdas/shared/names.js';
import { startBroker } from '../local/broker.js';
import { portClientConfig } from '../local/dynamo-port.js';
import { LOCAL_TABLES, startDynamo } from '../local/dynamo.js';
import { cpuPerReading, threadCpu } from './cpu.js';
import { percentile, sleep, startRuntimeProcess } from './support.js';

async function connectDevices(port: number, ids: string[]): Promise<MqttClient[]> {
  return Promise.all(
    ids.map(
      (id) =>
        new Promise<MqttClient>((resolve, reject) => {
          const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: id, protocolVersion: 5, reconnectPeriod: 0 });
          c.once('connect', () => resolve(c));
          c.once('error', reject);
        }),
    ),
  );
}

/** Publishes `total` QoS 1 messages spread over the clients with `window` in flight; returns msgs/s. */
async function floodQos1(clients: MqttClient[], ids: string[], total: number, window: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  const workers = Array.from({ length: window }, async () => {
    while (next < total) {
      const i = next++;
      const k = i % clients.length;
      await clients[k].publishAsync(`sensors/${ids[k]}/telemetry`, JSON.stringify({ values: { v: i } }), { qos: 1 });
    }
  });
  await Promise.all(workers);
  return total / ((performance.now() - started) / 1000);
}

export async function brokerCeiling(): Promise<{ qos1PerSecond: number }> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'vigia-bench-broker-'));
  const broker = await startBroker({ host: '127.0.0.1', mqttPort: 0, mqttsPort: 0, dataDir, log: () => undefined });
  let received = 0;
  broker.onMessage(() => {
    received += 1;
  });
  const ids = Array.from({ length: 10 }, (_, i) => `ceiling-${i}`);
  const clients = await connectDevices(broker.mqttPort, ids);
  await floodQos1(clients, ids, 2_000, 100); // warm-up
  const rate = await floodQos1(clients, ids, 30_000, 200);
  await Promise.all(clients.map((c) => c.endAsync()));
  await broker.close();
  await rm(dataDir, { recursive: true, force: true });
  if (received < 32_000) throw new Error(`broker ceiling run lost messages: ${received}`);
  return { qos1PerSecond: Math.round(rate) };
}

interface LiveCollector {
  received: Map<string, number>;
  latencies: number[];
  /** When each reading was first received (ms epoch), in order. */
  arrivals: number[];
  count(): number;
  /** Forgets what was received so far (a warm-up's readings). */
  reset(): void;
  close(): void;
}

async function subscribeAll(port: number): Promise<LiveCollector> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const received = new Map<string, number>();
  const latencies: number[] = [];
  const arrivals: number[] = [];
  let total = 0;
  const subscribed = new Promise<void>((resolve) => {
    ws.on('message', (data: Buffer) => {
      const now = Date.now();
      const frame = JSON.parse(data.toString()) as {
        type: string;
        readings?: Array<{ sensorId: string; ts: number; values: { sent?: number } }>;
      };
      if (frame.type === 'subscribed') resolve();
      if (frame.type !== 'readings') return;
      for (const r of frame.readings!) {
        const key = `${r.sensorId}/${r.ts}`;
        const times = received.get(key) ?? 0;
        received.set(key, times + 1);
        if (times === 0) arrivals.push(now);
        total += 1;
        if (typeof r.values.sent === 'number') latencies.push(now - r.values.sent);
      }
    });
  });
  ws.send(JSON.stringify({ action: 'subscribe', sensorIds: ['*'] }));
  await subscribed;
  const reset = () => {
    received.clear();
    latencies.length = 0;
    arrivals.length = 0;
    total = 0;
  };
  return { received, latencies, arrivals, count: () => total, reset, close: () => ws.close() };
}

/**
 * Offers `rate` readings/s for `seconds` across `sensors` devices (each reading's ts unique per sensor and
 * its publish time in a `sent` metric), then waits for every one to be delivered live.
 */
export async function offerLoad(
  port: number,
  mqttPort: number,
  sensors: number,
  rate: number,
  seconds: number,
  tag: string,
  /**
   * Called once the devices are connected and the dashboard subscribed, and once every reading is pushed. With
   * `warmUp`, each device first sends one reading and it is pushed (the live path's first claim of a sensor), so
   * what follows is the steady state. `ready` is told the devices' ids and the ts of their first measured reading.
   */
  hooks: { ready?: (run: { ids: string[]; base: number }) => Promise<void>; delivered?: () => Promise<void>; warmUp?: boolean } = {},
) {
  const ids = Array.from({ length: sensors }, (_, i) => `${tag}-${i}`);
  const clients = await connectDevices(mqttPort, ids);
  const live = await subscribeAll(port);
  await sleep(500);
  const base = Date.now() - 60_000; // distinct ts per reading, well inside the accepted window
  const warmedUp = hooks.warmUp ? sensors : 0;
  if (hooks.warmUp) {
    await Promise.all(
      clients.map((c, k) => c.publishAsync(`sensors/${ids[k]}/telemetry`, JSON.stringify({ ts: base - 1, values: { v: -1 } }), { qos: 1 })),
    );
    const deadline = Date.now() + 60_000;
    while (live.count() < sensors && Date.now() < deadline) await sleep(50);
    live.reset();
  }
  await hooks.ready?.({ ids, base });
  const total = rate * seconds;
  const perTick = rate / 100; // 10 ms ticks
  let published = 0;
  let acked = 0;
  let failed = 0;
  const lastTs = new Map<string, number>();
  const started = Date.now();
  const inflight: Promise<void>[] = [];
  for (let tick = 0; published < total; tick++) {
    const due = Math.min(total, Math.round((tick + 1) * perTick));
    while (published < due) {
      const i = published++;
      const k = i % sensors;
      const ts = base + Math.floor(i / sensors);
      lastTs.set(ids[k], ts);
      const payload = JSON.stringify({ ts, values: { sent: Date.now(), v: i } });
      inflight.push(
        clients[k].publishAsync(`sensors/${ids[k]}/telemetry`, payload, { qos: 1 }).then(
          () => void (acked += 1),
          () => void (failed += 1),
        ),
      );
    }
    const wait = started + (tick + 1) * 10 - Date.now();
    if (wait > 0) await sleep(wait);
  }
  const offeredSeconds = (Date.now() - started) / 1000;
  await Promise.all(inflight);
  const deadline = Date.now() + 120_000;
  while (live.count() < total && Date.now() < deadline) await sleep(100);
  const doneSeconds = (Date.now() - started) / 1000;
  await hooks.delivered?.();
  live.close();
  await Promise.all(clients.map((c) => c.endAsync()));
  const duplicates = [...live.received.values()].filter((n) => n > 1).length;
  const sorted = live.latencies.sort((a, b) => a - b);
  return {
    offered: total,
    acked,
    failed,
    delivered: live.received.size,
    duplicates,
    offeredSeconds,
    doneSeconds,
    latency: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] },
    /** When each reading was first pushed, in order. */
    arrivals: live.arrivals,
    ids,
    lastTs,
    started,
    /** Readings sent before the measured ones (stored too). */
    warmedUp,
  };
}

/**
 * Waits until `expected` readings are stored, or until progress stops for 30 s. Polls the registry (`GET /sensors`,
 * a page of a few hundred sensors: polling must not load the store it measures) until each sensor's `latest` is
 * its last reading, which the history writer records only once every reading before it is stored; then checks
 * the 1-hour roll-ups and counts the raw readings once.
 */
async function waitStored(port: number, run: { ids: string[]; lastTs: Map<string, number> }, expected: number) {
  let last = -1;
  let lastChange = Date.now();
  /** When the registry first showed every sensor's last reading: every reading was stored by then. */
  let caughtUpAt: number | undefined;
  for (;;) {
    const asked = Date.now();
    const registry = await registryProgress(port, run.lastTs);
    if (registry.caughtUp === run.lastTs.size) caughtUpAt ??= (asked + Date.now()) / 2;
    const rolledUp = registry.caughtUp === run.lastTs.size ? await rolledUpCount(port, run.ids) : 0;
    if (rolledUp >= expected) {
      const at = Date.now();
      return { stored: await storedCount(port, run.ids), at, caughtUpAt: caughtUpAt ?? at };
    }
    if (registry.newest + rolledUp !== last) {
      last = registry.newest + rolledUp;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > 30_000) {
      return { stored: await rolledUpCount(port, run.ids), at: lastChange, caughtUpAt: caughtUpAt ?? lastChange };
    }
    await sleep(registry.caughtUp === run.lastTs.size ? 500 : 100);
  }
}

/** Each sensor's registry `latest` ts (null before its first reading), from every page of `GET /sensors`. */
async function latestBySensor(port: number): Promise<Map<string, number | null>> {
  const latest = new Map<string, number | null>();
  let cursor: string | null = null;
  do {
    const url = new URL(`http://127.0.0.1:${port}/api/sensors`);
    if (cursor) url.searchParams.set('cursor', cursor);
    const page = (await (await fetch(url)).json()) as {
      sensors: Array<{ sensorId: string; latest: { ts: number } | null }>;
      nextCursor: string | null;
    };
    for (const s of page.sensors) latest.set(s.sensorId, s.latest?.ts ?? null);
    cursor = page.nextCursor;
  } while (cursor);
  return latest;
}

/**
 * How many of the sensors have their last reading as `latest`, and the sum of their `latest` timestamps (it grows
 * with each history batch: progress while the last readings are still due).
 */
async function registryProgress(port: number, lastTs: Map<string, number>): Promise<{ caughtUp: number; newest: number }> {
  let caughtUp = 0;
  let newest = 0;
  for (const [sensorId, ts] of await latestBySensor(port)) {
    const wanted = lastTs.get(sensorId);
    if (wanted === undefined || ts === null) continue;
    newest += ts - wanted;
    if (ts >= wanted) caughtUp++;
  }
  return { caughtUp, newest };
}

/**
 * Readings of a run stored so far: a sensor's registry `latest` is its newest reading once every one before it is
 * stored, and a run's readings of a sensor have the ts `base`, `base + 1`, … in the order sent.
 */
async function storedSoFar(port: number, ids: string[], base: number): Promise<number> {
  const latest = await latestBySensor(port);
  let stored = 0;
  for (const id of ids) stored += Math.max(0, (latest.get(id) ?? base - 1) - base + 1);
  return stored;
}

async function rolledUpCount(port: number, ids: string[]): Promise<number> {
  // From the start of the hour before: a bucket is answered when its start is in the range.
  const from = Math.floor((Date.now() - 10 * 60_000) / 3_600_000) * 3_600_000;
  let count = 0;
  for (const id of ids) {
    const url = `http://127.0.0.1:${port}/api/sensors/${id}/readings?from=${from}&resolution=1h&metrics=v`;
    const page = (await (await fetch(url)).json()) as { points?: Array<{ values: { v?: { count: number } } }> };
    for (const p of page.points ?? []) count += p.values.v?.count ?? 0;
  }
  return count;
}

async function storedCount(port: number, ids: string[]): Promise<number> {
  let stored = 0;
  const from = Date.now() - 10 * 60_000;
  for (const id of ids) {
    let cursor: string | null = null;
    do {
      const url = new URL(`http://127.0.0.1:${port}/api/sensors/${id}/readings`);
      url.searchParams.set('from', String(from));
      url.searchParams.set('resolution', 'raw');
      url.searchParams.set('limit', '10000');
      if (cursor) url.searchParams.set('cursor', cursor);
      const page = (await (await fetch(url)).json()) as { points: unknown[]; nextCursor: string | null };
      stored += page.points.length;
      cursor = page.nextCursor;
    } while (cursor);
  }
  return stored;
}

async function openClients(port: number, count: number, sensorIds: string[]): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < count; i += 50) {
    const wave = await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
        await new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
        });
        const subscribed = new Promise<void>((resolve) =>
          ws.on('message', function first(data: Buffer) {
            if ((JSON.parse(data.toString()) as { type: string }).type === 'subscribed') {
              ws.off('message', first);
              resolve();
            }
          }),
        );
        ws.send(JSON.stringify({ action: 'subscribe', sensorIds }));
        await subscribed;
        return ws;
      }),
    );
    sockets.push(...wave);
  }
  return sockets;
}

/** One reading to `clients` dashboards on `*`: publish → the last client's frame, a few times. */
async function fanOut(port: number, mqttPort: number, clients: number, rounds: number) {
  const sockets = await openClients(port, clients, ['*']);
  const [device] = await connectDevices(mqttPort, ['fanout-1']);
  const times: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const ts = Date.now() - 1000 + round;
      let got = 0;
      const all = new Promise<number>((resolve) => {
        for (const ws of sockets) {
          const listener = (data: Buffer) => {
            const frame = JSON.parse(data.toString()) as { type: string; readings?: Array<{ ts: number }> };
            if (frame.type !== 'readings' || !frame.readings!.some((r) => r.ts === ts)) return;
            ws.off('message', listener);
            if (++got === sockets.length) resolve(performance.now());
          };
          ws.on('message', listener);
        }
      });
      const sent = performance.now();
      await device.publishAsync('sensors/fanout-1/telemetry', JSON.stringify({ ts, values: { v: round } }), { qos: 1 });
      const last = await Promise.race([all, sleep(30_000).then(() => NaN)]);
      times.push(Math.round(last - sent));
      await sleep(300);
    }
  } finally {
    for (const ws of sockets) ws.close();
    await device.endAsync();
  }
  const sorted = [...times].sort((a, b) => a - b);
  return { clients, rounds, p50: percentile(sorted, 50), max: sorted[sorted.length - 1] };
}

/** PUBACK → the reading in `GET /sensors/{id}/readings`, polled every 10 ms, a few times. */
async function freshness(port: number, mqttPort: number, rounds: number) {
  const [device] = await connectDevices(mqttPort, ['fresh-1']);
  const times: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const ts = Date.now() - 1000;
      await device.publishAsync('sensors/fresh-1/telemetry', JSON.stringify({ ts, values: { v: round } }), { qos: 1 });
      const acked = performance.now();
      const url = `http://127.0.0.1:${port}/api/sensors/fresh-1/readings?resolution=raw&from=${ts}&to=${ts + 1}`;
      for (;;) {
        const res = await fetch(url);
        if (res.ok && ((await res.json()) as { points: unknown[] }).points.length === 1) break;
        if (performance.now() - acked > 60_000) break;
        await sleep(10);
      }
      times.push(Math.round(performance.now() - acked));
      await sleep(Math.random() * 500);
    }
  } finally {
    await device.endAsync();
  }
  const sorted = [...times].sort((a, b) => a - b);
  return { rounds, p50: percentile(sorted, 50), max: sorted[sorted.length - 1] };
}

/** The runtime's DynamoDB requests per table and its Lambda invocations per function, from `/api/metrics`. */
async function requestSample(port: number): Promise<{ requests: Map<string, number>; invocations: Map<string, number> }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/api/metrics`)).text();
  const requests = new Map<string, number>();
  const invocations = new Map<string, number>();
  for (const m of text.matchAll(/^vigia_local_dynamodb_requests_total\{table="([^"]+)",operation="([^"]+)"\} (\d+)$/gm)) {
    requests.set(m[1], (requests.get(m[1]) ?? 0) + Number(m[3]));
    requests.set(`${m[1]} ${m[2]}`, Number(m[3]));
  }
  for (const m of text.matchAll(/^vigia_billed_lambda_invocations_total\{function="([^"]+)"\} (\d+)$/gm))
    invocations.set(m[1], Number(m[2]));
  return { requests, invocations };
}

/** Waits until the presence function has run `count` more times than in `since` (devices' connect events). */
async function presenceDone(port: number, since: Awaited<ReturnType<typeof requestSample>>, count: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const now = await requestSample(port);
    if ((now.invocations.get('Presence') ?? 0) - (since.invocations.get('Presence') ?? 0) >= count) return;
    await sleep(100);
  }
}

/** Waits until the presence function has not run for half a second (departed devices' disconnect events). */
async function presenceSettled(port: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  let last = -1;
  while (Date.now() < deadline) {
    const now = (await requestSample(port)).invocations.get('Presence') ?? 0;
    if (now === last) return;
    last = now;
    await sleep(500);
  }
}

/**
 * DynamoDB round trips between two samples: per live batch (the connections table over the broadcaster's
 * invocations: while readings flow only the live path touches it, but for a presence event's version read, a
 * GetItem each, taken off) and in all per reading. Load does not move them.
 */
function requestsPer(
  before: Awaited<ReturnType<typeof requestSample>>,
  after: Awaited<ReturnType<typeof requestSample>>,
  readings: number,
) {
  const delta = (m: 'requests' | 'invocations', key: string) => (after[m].get(key) ?? 0) - (before[m].get(key) ?? 0);
  const all = [...after.requests.keys()].filter((key) => !key.includes(' ')).reduce((sum, table) => sum + delta('requests', table), 0);
  const liveBatches = delta('invocations', 'Broadcaster');
  const perBatch = (n: number) => (liveBatches > 0 ? Math.round((n / liveBatches) * 100) / 100 : 0);
  const live = 'vigia-connections';
  // A device's connect or disconnect in the window (a reconnect under load): its version read is not the live path's.
  const presenceEvents = delta('invocations', 'Presence');
  const liveRequests = (key: string) => delta('requests', key) - (key === live || key === `${live} GetItem` ? presenceEvents : 0);
  // A sensor-minute's live mark is written when the minute closes, the sensor goes idle, or the state passes its size
  // bound: reported apart, with its count.
  const markUpdates = delta('requests', `${live} UpdateItem`);
  return {
    liveBatches,
    presenceEvents,
    markUpdates,
    perLiveBatch: perBatch(liveRequests(live) - markUpdates),
    /** Per live batch by operation: the steady ones (GetItem of the version, PutItem of the claims), and any other. */
    byOperation: Object.fromEntries(
      [...after.requests.keys()]
        .filter((key) => key.startsWith(`${live} `) && key !== `${live} UpdateItem`)
        .map((key) => [key.slice(live.length + 1), perBatch(liveRequests(key))]),
    ) as Record<string, number>,
    perReading: Math.round((all / readings) * 1000) / 1000,
  };
}

export async function pipelineBench(options: {
  /** Seconds of 1,000 readings/s before anything is measured (the runtime has just started). */
  jitWarmUpSeconds: number;
  /** Offered in the sustained run: above the target, so the rate the pipeline holds is what it can do. */
  sustainRate: number;
  /** Seconds of the sustained load before it is measured (its JIT tiers are not those of 1,000/s). */
  sustainWarmUpSeconds: number;
  sustainSeconds: number;
  latencySeconds: number;
  fanOutClients: number;
}) {
  const runtime = await startRuntimeProcess();
  const pid = runtime.child.pid!;
  try {
    // The JIT's first optimizations, unmeasured: the same load for a few seconds, stored, and its devices gone.
    const jit = await offerLoad(runtime.port, runtime.mqttPort, 100, 1000, options.jitWarmUpSeconds, 'jit', { warmUp: true });
    await waitStored(runtime.port, jit, jit.offered + jit.warmedUp);
    await presenceSettled(runtime.port);
    // CPU time of the runtime's threads from the first publish until every reading is stored (the bench's own
    // history polling included): per reading, a figure the machine's other load hardly moves.
    let cpuBefore = threadCpu(pid);
    const atStart = await requestSample(runtime.port);
    let requestsBefore = atStart;
    let requestsAfter = atStart;
    let cpuPushed = cpuBefore;
    const latency = await offerLoad(runtime.port, runtime.mqttPort, 100, 1000, options.latencySeconds, 'lat', {
      // From the first publish to the last push: the devices' presence events (their subscriber Queries) and each
      // sensor's first claim (the warm-up) left out.
      warmUp: true,
      ready: async () => {
        await presenceDone(runtime.port, atStart, 100);
        requestsBefore = await requestSample(runtime.port);
        cpuBefore = threadCpu(pid);
      },
      delivered: async () => {
        cpuPushed = threadCpu(pid);
        requestsAfter = await requestSample(runtime.port);
      },
    });
    const latencyStored = await waitStored(runtime.port, latency, latency.offered + latency.warmedUp);
    const latencyCpu = {
      ...cpuPerReading(cpuBefore, threadCpu(pid), latency.offered, pid),
      /** First publish → last push: the live path and the history writer's share so far, without the bench's polling. */
      toLastPush: cpuPerReading(cpuBefore, cpuPushed, latency.offered, pid),
    };
    const latencyRequests = requestsPer(requestsBefore, requestsAfter, latency.offered);
    // The sustained load first runs unmeasured, stored, and its devices gone.
    const sustainWarm = await offerLoad(runtime.port, runtime.mqttPort, 100, options.sustainRate, options.sustainWarmUpSeconds, 'susw');
    await waitStored(runtime.port, sustainWarm, sustainWarm.offered);
    await presenceSettled(runtime.port);
    let settled: Promise<{ at: number; stored: number }> | undefined;
    const sustain = await offerLoad(runtime.port, runtime.mqttPort, 100, options.sustainRate, options.sustainSeconds, 'sus', {
      warmUp: true,
      ready: async ({ ids, base }) => {
        cpuBefore = threadCpu(pid);
        // Once the pipeline is full (its first history batches stored), how far the history writer is.
        settled = sleep(SETTLE_MS).then(async () => {
          const asked = Date.now();
          const stored = await storedSoFar(runtime.port, ids, base);
          return { at: (asked + Date.now()) / 2, stored };
        });
      },
    });
    const sustainStored = await waitStored(runtime.port, sustain, sustain.offered + sustain.warmedUp);
    const sustainCpu = cpuPerReading(cpuBefore, threadCpu(pid), sustain.offered, pid);
    // End to end: until every reading is both pushed live and stored.
    const allDoneSeconds = Math.max(sustain.doneSeconds, (sustainStored.at - sustain.started) / 1000);
    const steady = steadyRates(sustain, await settled!, sustainStored.caughtUpAt);
    const fresh = await freshness(runtime.port, runtime.mqttPort, 10);
    const fan = await fanOut(runtime.port, runtime.mqttPort, options.fanOutClients, 5);
    return {
      latency: {
        ...latency,
        arrivals: undefined,
        ids: undefined,
        lastTs: undefined,
        stored: latencyStored.stored - latency.warmedUp,
        cpu: latencyCpu,
        requests: latencyRequests,
      },
      sustain: {
        ...sustain,
        ids: undefined,
        lastTs: undefined,
        arrivals: undefined,
        warmUpSeconds: options.sustainWarmUpSeconds,
        stored: sustainStored.stored - sustain.warmedUp,
        storedSeconds: (sustainStored.caughtUpAt - sustain.started) / 1000,
        endToEnd: Math.round(Math.min(sustain.delivered, sustainStored.stored - sustain.warmedUp) / allDoneSeconds),
        ...steady,
        throughput: Math.min(steady.pushedPerSecond, steady.storedPerSecond),
        cpu: sustainCpu,
      },
      freshness: fresh,
      fanOut: fan,
    };
  } finally {
    await runtime.stop();
  }
}

/** How long after the first publish the sustained run is measured from: its first history batches are stored. */
const SETTLE_MS = 3_000;

/**
 * The rates the pipeline held once full: from `settled` (SETTLE_MS into the run) until the last reading was pushed,
 * the readings pushed per second; until the last was stored, the readings stored per second. A window or a batch in
 * flight delays both ends alike, so neither rate counts it as slowness; a pipeline slower than the load offered
 * ends later, and both show its own rate.
 */
function steadyRates(
  run: { offered: number; arrivals: number[]; started: number },
  settled: { at: number; stored: number },
  storedAt: number,
) {
  let pushedSince = 0;
  let lastPush = settled.at;
  for (const at of run.arrivals) {
    if (at >= settled.at) pushedSince++;
    if (at > lastPush) lastPush = at;
  }
  const rate = (count: number, ms: number) => (ms > 0 ? Math.round((count * 1000) / ms) : 0);
  return {
    settledSeconds: (settled.at - run.started) / 1000,
    pushedPerSecond: rate(pushedSince, lastPush - settled.at),
    storedPerSecond: rate(run.offered - settled.stored, storedAt - settled.at),
  };
}

/** The same modest load through each ingest mode: what batching buys on one machine. */
export async function ingestModesBench(options: { sensors: number; rate: number; seconds: number }) {
  const results: Record<
    string,
    { p50: number; p99: number; pushedSeconds: number; storedSeconds: number; stored: number; offered: number }
  > = {};
  for (const mode of ['direct', 'stream'] as const) {
    const runtime = await startRuntimeProcess(undefined, { INGEST: mode });
    try {
      const run = await offerLoad(runtime.port, runtime.mqttPort, options.sensors, options.rate, options.seconds, `mode-${mode}`);
      const stored = await waitStored(runtime.port, run, run.offered);
      results[mode] = {
        p50: run.latency.p50,
        p99: run.latency.p99,
        pushedSeconds: run.doneSeconds,
        storedSeconds: (stored.at - run.started) / 1000,
        stored: stored.stored,
        offered: run.offered,
      };
    } finally {
      await runtime.stop();
    }
  }
  return results;
}

/**
 * What a history batch costs as a sensor's minute fills: the history writer's own core and adapters, over the
 * runtime's in-process way to the DynamoDB stand-in, storing `perBatch` new readings per sensor per batch into
 * a minute that already holds `minuteSizes` readings of it. CPU of every thread of this process per new reading:
 * a figure the machine's other load hardly moves. A batch writes only what it adds, so the figure stays flat as
 * the minute fills (at 50 readings/s a sensor's minute ends near 3,000).
 */
export async function historyBatchCost(options: { sensors: number; perBatch: number; minuteSizes: number[]; rounds: number }) {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'vigia-bench-packs-'));
  const dynamo = await startDynamo(dataDir);
  const client = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: 'local',
    credentials: dynamo.credentials,
    ...portClientConfig(dynamo.connect()),
  });
  const doc = DynamoDBDocumentClient.from(client);
  const deps: StoreDeps = {
    readings: new DynamoReadingStore(doc, LOCAL_TABLES.readings.name, RETENTION_DEFAULTS.rawDays),
    rollups: new DynamoRollupStore(doc, LOCAL_TABLES.rollups.name, RETENTION_DEFAULTS),
    sensors: new DynamoSensorRegistry(doc, LOCAL_TABLES.sensors.name),
    rejections: {
      reject: async (r) => {
        throw new Error(`bench reading rejected: ${r.message}`);
      },
    },
    rawRetentionDays: RETENTION_DEFAULTS.rawDays,
    log: { info: () => {}, warn: () => {}, error: (m, ...a) => console.error(m, ...a) },
    metrics: { count: () => {}, observe: () => {}, flush: () => {} },
  };
  const minute = packMinute(Date.now() - 10 * 60_000);
  let seq = 10n ** 20n;
  // One batch: `count` readings per sensor from the minute's `from`-th slot on, one record per sensor (10 ms apart).
  const batch = (prefix: string, from: number, count: number) =>
    Array.from({ length: options.sensors }, (_, s) => {
      const sensorId = `${prefix}-${s}`;
      const readings = Array.from({ length: count }, (_, i) => ({ ts: minute + (from + i) * 10, values: { v: from + i } }));
      seq += 1n;
      return {
        sequenceNumber: String(seq),
        partitionKey: sensorId,
        event: { payload: Buffer.from(JSON.stringify(readings)).toString('base64'), sensorId, receivedAt: minute },
      };
    });
  const store = async (records: ReturnType<typeof batch>) => {
    const out = await storeTelemetryStream(records, deps);
    if (out.firstFailure !== null) throw new Error('bench history batch failed');
  };
  const cpuUs = () => {
    const { user, system } = process.cpuUsage();
    return user + system;
  };
  const results: Array<{ minuteReadings: number; usPerReading: number }> = [];
  try {
    for (const size of options.minuteSizes) {
      const prefix = `fill${size}`;
      for (let filled = 0; filled < size; filled += 500) await store(batch(prefix, filled, Math.min(500, size - filled)));
      const before = cpuUs();
      for (let round = 0; round < options.rounds; round++) await store(batch(prefix, size + round * options.perBatch, options.perBatch));
      const perReading = (cpuUs() - before) / (options.rounds * options.sensors * options.perBatch);
      results.push({ minuteReadings: size, usPerReading: Math.round(perReading) });
    }
  } finally {
    client.destroy();
    await dynamo.close();
    await rm(dataDir, { recursive: true, force: true });
  }
  return results;
}
