/**
 * The soak benchmark (issue 15): `npm start` in a child process fed by N simulated sensors for a long
 * while, to show that memory and disk stay bounded. Sampled each interval: the runtime process's RSS
 * (its DynamoDB and history-writer threads included) by kind (anonymous: heaps, malloc arenas, LevelDB caches;
 * file-backed: code), each thread's JavaScript heap, what the heaps commit and the memory bound to them natively
 * (`external`, buffers among it), and the data folder's size; throughout: `/api/health` latency.
 * At the end the data folder is measured again after a full LevelDB compaction, per stored reading.
 * Also from the runtime's `/api/metrics`: the main thread's event-loop delay over the last minute (what a
 * request such as `/api/health` waits behind), its garbage-collection pauses, and the DynamoDB stand-in's
 * open LevelDB iterators.
 *   npm run bench -- soak [--minutes 30] [--sensors 100] [--sample-seconds 60]
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ClassicLevel } from 'classic-level';
import { startSimulation } from '../device-sim/index.js';
import { percentile, sleep, startRuntimeProcess } from './support.js';

export interface SoakOptions {
  /** @default 100 */
  sensors?: number;
  /** @default 30 */
  minutes?: number;
  /** @default 60 */
  sampleSeconds?: number;
  /** Samples before this are warm-up: RSS growth is measured from its end. @default 1/6 of the run, at least one sample */
  warmupMinutes?: number;
}

/** RSS is read this often between samples: each sample's RSS is the median of its interval's reads. */
const RSS_PROBE_MS = 5000;

export interface SoakSample {
  minute: number;
  /**
   * RSS, the median of the reads since the previous sample (one every 5 s): a single read lands anywhere on the saw
   * of the threads' young generations filling and emptying (± 20 MiB), which hid the trend.
   */
  rssMiB: number;
  /** The lowest and highest of those reads. */
  rssLowMiB: number;
  rssHighMiB: number;
  /** Of RSS, anonymous memory (heaps, malloc arenas, LevelDB caches) and file-backed (code, mapped files), medians too. */
  rssAnonMiB: number;
  rssFileMiB: number;
  /** JavaScript heap in use, per thread: main, the DynamoDB stand-in's and the history writer's. */
  mainHeapMiB: number;
  dynamoHeapMiB: number;
  historyHeapMiB: number;
  /** The four heaps committed (what they hold of RSS, garbage included). */
  heapsCommittedMiB: number;
  /** Memory bound to the four heaps natively (`external`, Buffers included), summed. */
  externalMiB: number;
  dataMiB: number;
  acknowledged: number;
  healthP99Ms: number;
  /** Main thread event-loop delay, p99 and max over the runtime's last complete minute. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** Main thread garbage-collection pauses over the runtime's last complete minute: their sum and the longest. */
  gcPauseSumMs: number;
  gcPauseMaxMs: number;
  /** The longest full (mark-compact) collection of that minute. */
  gcMajorMaxMs: number;
  /** LevelDB iterators, snapshots and batches open in the DynamoDB stand-in at the sample. */
  openLevelResources: number;
}

export interface SoakResult {
  sensors: number;
  minutes: number;
  samples: SoakSample[];
  /** RSS growth from the end of warm-up to the last sample, in percent. */
  rssGrowthPercent: number;
  /** The same growth from a least-squares line through every sample after warm-up (RSS saws with the GC). */
  rssTrendPercent: number;
  acknowledged: number;
  dataBytesBeforeCompaction: number;
  dataBytesAfterCompaction: number;
  bytesPerReading: number;
  health: { count: number; failures: number; p50: number; p99: number; max: number };
  /** Longest main thread event-loop delay of the whole run, and the worst per-minute p99. */
  loopDelay: { worstP99Ms: number; maxMs: number };
  /** The machine's 1-minute load average at each sample: the run shares its cores. */
  loadAverage: { min: number; max: number };
  /** CPU time of the runtime process (every thread) per acknowledged reading after warm-up, in µs: what a setting costs, whatever the load. */
  cpuMicrosPerReading: number;
}

/** CPU time (user + system) a process has used so far, in µs (Linux clock ticks of 10 ms). */
async function cpuMicros(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command (in parentheses, which may hold spaces): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** Resident set size of a process (Linux), in MiB: in all, anonymous and file-backed, read at one instant. */
async function residentMiB(pid: number): Promise<{ rss: number; anonymous: number; file: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const mib = (field: string) => Math.round(Number(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? 0) / 1024);
  return { rss: mib('VmRSS'), anonymous: mib('RssAnon'), file: mib('RssFile') };
}

interface RuntimeGauges {
  mainHeapMiB: number;
  dynamoHeapMiB: number;
  historyHeapMiB: number;
  heapsCommittedMiB: number;
  externalMiB: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  loopDelayRunMaxMs: number;
  gcPauseSumMs: number;
  gcPauseMaxMs: number;
  gcMajorMaxMs: number;
  openLevelResources: number;
}

/** The runtime's `/api/metrics` gauges the soak follows (heaps in MiB, delays in ms). */
async function runtimeGauges(port: number): Promise<RuntimeGauges> {
  const text = await fetch(`http://127.0.0.1:${port}/api/metrics`).then(
    (r) => r.text(),
    () => '',
  );
  const gauge = (series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line ? Number(line.slice(series.length + 1)) : 0;
  };
  const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
  const ms = (seconds: number) => Math.round(seconds * 10_000) / 10;
  const threads = ['main', 'dynamodb', 'dynamodb-live', 'history-writer'];
  const summed = (family: string) => threads.reduce((sum, t) => sum + gauge(`${family}{thread="${t}"}`), 0);
  return {
    mainHeapMiB: mib(gauge('vigia_local_heap_used_bytes{thread="main"}')),
    dynamoHeapMiB: mib(
      gauge('vigia_local_heap_used_bytes{thread="dynamodb"}') + gauge('vigia_local_heap_used_bytes{thread="dynamodb-live"}'),
    ),
    historyHeapMiB: mib(gauge('vigia_local_heap_used_bytes{thread="history-writer"}')),
    heapsCommittedMiB: mib(summed('vigia_local_heap_total_bytes')),
    externalMiB: mib(summed('vigia_local_external_bytes')),
    loopDelayP99Ms: ms(gauge('vigia_local_event_loop_delay_seconds{quantile="0.99"}')),
    loopDelayMaxMs: ms(gauge('vigia_local_event_loop_delay_seconds{quantile="1"}')),
    loopDelayRunMaxMs: ms(gauge('vigia_local_event_loop_delay_max_seconds')),
    gcPauseSumMs: ms(gauge('vigia_local_gc_pause_seconds{stat="sum"}')),
    gcPauseMaxMs: ms(gauge('vigia_local_gc_pause_seconds{stat="max"}')),
    gcMajorMaxMs: ms(gauge('vigia_local_gc_pause_seconds{stat="max_major"}')),
    openLevelResources: gauge('vigia_local_dynamodb_open_resources'),
  };
}

// The poller runs on a thread of its own: on the bench's main thread it would wait behind the simulated
// sensors' MQTT work, and the figure would be the bench's event-loop delay, not the runtime's answer time.
const HEALTH_POLLER = `
const { parentPort, workerData } = require('node:worker_threads');
let polling = true;
parentPort.on('message', () => { polling = false; });
(async () => {
  while (polling) {
    const started = performance.now();
    let ok = false;
    try {
      const res = await fetch(workerData.url);
      await res.text();
      ok = res.ok;
    } catch {}
    const ms = performance.now() - started;
    parentPort.postMessage({ ms, ok });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1000 - ms)));
  }
  process.exit(0);
})();
`;

/** Asks `url` once a second from a worker thread; `onAnswer` gets each round trip's time and whether it was 2xx. */
function startHealthPoller(url: string, onAnswer: (ms: number, ok: boolean) => void): { stop(): Promise<void> } {
  const worker = new Worker(HEALTH_POLLER, { eval: true, workerData: { url } });
  worker.on('message', (msg: { ms: number; ok: boolean }) => onAnswer(msg.ms, msg.ok));
  return {
    stop: async () => {
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage('stop');
      await exited;
    },
  };
}

function folderBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

export async function soakBench(options: SoakOptions = {}): Promise<SoakResult> {
  const sensors = options.sensors ?? 100;
  const minutes = options.minutes ?? 30;
  const sampleMs = (options.sampleSeconds ?? 60) * 1000;
  const warmupMs = (options.warmupMinutes ?? minutes / 6) * 60_000;
  const runtime = await startRuntimeProcess(undefined, { VIGIA_VERBOSE: '' });
  const pid = runtime.child.pid!;
  const sim = await startSimulation({
    sensors,
    host: '127.0.0.1',
    port: runtime.mqttPort,
    protocol: 'mqtt5',
    intervalMs: 1000,
    log: () => undefined,
  });

  const latencies: number[] = [];
  let healthFailures = 0;
  let windowLatencies: number[] = [];
  const poller = startHealthPoller(`http://127.0.0.1:${runtime.port}/api/health`, (ms, ok) => {
    latencies.push(ms);
    windowLatencies.push(ms);
    if (!ok) healthFailures += 1;
  });

  let windowResident: Array<{ rss: number; anonymous: number; file: number }> = [];
  const probe = setInterval(() => {
    residentMiB(pid).then(
      (r) => windowResident.push(r),
      () => undefined,
    );
  }, RSS_PROBE_MS);

  const samples: SoakSample[] = [];
  /** The process's CPU time at each sample, in µs. */
  const cpuAt: number[] = [];
  const loads: number[] = [];
  let loopDelayRunMaxMs = 0;
  const started = Date.now();
  const take = async () => {
    const sorted = windowLatencies.sort((a, b) => a - b);
    windowLatencies = [];
    const gauges = await runtimeGauges(runtime.port);
    loopDelayRunMaxMs = gauges.loopDelayRunMaxMs;
    loads.push(os.loadavg()[0]);
    cpuAt.push(await cpuMicros(pid));
    const reads = [...windowResident, await residentMiB(pid)];
    windowResident = [];
    const median = (field: 'rss' | 'anonymous' | 'file') => medianOf(reads.map((r) => r[field]));
    const sample: SoakSample = {
      minute: Math.round(((Date.now() - started) / 60_000) * 10) / 10,
      rssMiB: median('rss'),
      rssLowMiB: Math.min(...reads.map((r) => r.rss)),
      rssHighMiB: Math.max(...reads.map((r) => r.rss)),
      rssAnonMiB: median('anonymous'),
      rssFileMiB: median('file'),
      mainHeapMiB: gauges.mainHeapMiB,
      dynamoHeapMiB: gauges.dynamoHeapMiB,
      historyHeapMiB: gauges.historyHeapMiB,
      heapsCommittedMiB: gauges.heapsCommittedMiB,
      externalMiB: gauges.externalMiB,
      dataMiB: Math.round((folderBytes(runtime.dataDir) / 2 ** 20) * 10) / 10,
      acknowledged: sim.stats().acknowledged,
      healthP99Ms: sorted.length > 0 ? Math.round(percentile(sorted, 99) * 10) / 10 : 0,
      loopDelayP99Ms: gauges.loopDelayP99Ms,
      loopDelayMaxMs: gauges.loopDelayMaxMs,
      gcPauseSumMs: gauges.gcPauseSumMs,
      gcPauseMaxMs: gauges.gcPauseMaxMs,
      gcMajorMaxMs: gauges.gcMajorMaxMs,
      openLevelResources: gauges.openLevelResources,
    };
    samples.push(sample);
    console.log(`  ${JSON.stringify(sample)}`);
  };
  await take();
  while (Date.now() - started < minutes * 60_000) {
    await sleep(Math.min(sampleMs, minutes * 60_000 - (Date.now() - started)));
    await take();
  }
  clearInterval(probe);

  await sim.stop({ drainMs: 10_000 });
  await poller.stop();
  const acknowledged = sim.stats().acknowledged;
  // Let the history writer finish the last readings before the runtime stops.
  await sleep(3000);
  const dataDir = runtime.dataDir;
  const dataBytesBeforeCompaction = folderBytes(dataDir);
  // Keep the folder for the compaction below; stop() would remove it.
  runtime.child.kill('SIGINT');
  await new Promise<void>((resolve) => (runtime.child.exitCode !== null ? resolve() : runtime.child.once('exit', () => resolve())));
  for (const store of ['dynamodb', 'dynamodb-live']) {
    const db = new ClassicLevel(path.join(dataDir, store));
    await db.open();
    await db.compactRange('', '\xff\xff\xff\xff');
    await db.close();
  }
  const dataBytesAfterCompaction = folderBytes(dataDir);
  execFileSync('rm', ['-rf', dataDir]);

  const warm = samples.find((s) => s.minute * 60_000 >= warmupMs) ?? samples[0];
  const last = samples[samples.length - 1];
  const sorted = latencies.sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    sensors,
    minutes,
    samples,
    rssGrowthPercent: round(((last.rssMiB - warm.rssMiB) / warm.rssMiB) * 100),
    rssTrendPercent: round(trendPercent(samples.filter((s) => s.minute >= warm.minute))),
    acknowledged,
    dataBytesBeforeCompaction,
    dataBytesAfterCompaction,
    bytesPerReading: Math.round(dataBytesAfterCompaction / Math.max(1, acknowledged)),
    health: {
      count: sorted.length,
      failures: healthFailures,
      p50: round(percentile(sorted, 50)),
      p99: round(percentile(sorted, 99)),
      max: round(sorted[sorted.length - 1] ?? 0),
    },
    loopDelay: { worstP99Ms: Math.max(0, ...samples.map((s) => s.loopDelayP99Ms)), maxMs: loopDelayRunMaxMs },
    loadAverage: { min: round(Math.min(...loads)), max: round(Math.max(...loads)) },
    cpuMicrosPerReading: Math.round(
      (cpuAt[cpuAt.length - 1] - cpuAt[samples.indexOf(warm)]) / Math.max(1, last.acknowledged - warm.acknowledged),
    ),
  };
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : Math.round((sorted[mid - 1] + sorted[mid]) / 2);
}

/** Growth of RSS along the least-squares line through the samples, from the first to the last, in percent of its start. */
function trendPercent(samples: SoakSample[]): number {
  if (samples.length < 2) return 0;
  const n = samples.length;
  const meanX = samples.reduce((a, s) => a + s.minute, 0) / n;
  const meanY = samples.reduce((a, s) => a + s.rssMiB, 0) / n;
  const sxy = samples.reduce((a, s) => a + (s.minute - meanX) * (s.rssMiB - meanY), 0);
  const sxx = samples.reduce((a, s) => a + (s.minute - meanX) ** 2, 0);
  const slope = sxx > 0 ? sxy / sxx : 0;
  const first = samples[0].minute;
  const start = meanY + slope * (first - meanX);
  return ((slope * (samples[n - 1].minute - first)) / start) * 100;
}

/** The result as a markdown section with the targets. */
export function soakReport(r: SoakResult): string[] {
  const mark = (ok: boolean) => (ok ? 'met' : '**not met**');
  return [
    `## Soak: ${r.sensors} sensors at 1 Hz for ${r.minutes} min (issue 15)`,
    '',
    '| measure | figure | target | |',
    '| --- | --- | --- | --- |',
    `| RSS of the runtime process, after warm-up to the end | ${r.rssGrowthPercent} % | ≤ 10 % | ${mark(r.rssGrowthPercent <= 10)} |`,
    `| the same, from a least-squares line through every sample after warm-up | ${r.rssTrendPercent} % | ≤ 10 % | ${mark(r.rssTrendPercent <= 10)} |`,
    `| data folder after compaction, per stored reading (${r.acknowledged} acknowledged) | ${r.bytesPerReading} B (${(r.dataBytesAfterCompaction / 2 ** 20).toFixed(1)} MiB; ${(r.dataBytesBeforeCompaction / 2 ** 20).toFixed(1)} MiB before) | ≤ 1 KB | ${mark(r.bytesPerReading <= 1024)} |`,
    `| \`/api/health\` latency, once a second throughout (${r.health.count} requests, ${r.health.failures} failed) | p50 ${r.health.p50} ms, p99 ${r.health.p99} ms, max ${r.health.max} ms | p99 ≤ 50 ms | ${mark(r.health.p99 <= 50 && r.health.failures === 0)} |`,
    `| CPU time of the runtime process per acknowledged reading, after warm-up | ${r.cpuMicrosPerReading} µs | | |`,
    `| main thread event-loop delay (what \`/api/health\` waits behind) | worst minute p99 ${r.loopDelay.worstP99Ms} ms, max ${r.loopDelay.maxMs} ms | | |`,
    '',
    `Machine load average (1 min) during the run: ${r.loadAverage.min}–${r.loadAverage.max} on ${os.cpus().length} cores, shared with other work.`,
    '',
    `RSS is the median of the interval's reads (one every ${RSS_PROBE_MS / 1000} s), with their range: anonymous (heaps, malloc arenas, LevelDB caches) plus file-backed memory. Heaps in use per thread: main / DynamoDB stand-in (its two stores) / history writer; committed: the four heaps as they hold RSS; external: native memory bound to them (buffers among it).`,
    '',
    '| minute | RSS MiB (low–high) | anon / file MiB | heaps in use MiB | heaps committed MiB | external MiB | data MiB | acknowledged | health p99 ms | loop delay p99 / max ms | GC pauses sum / max / longest full ms | open LevelDB resources |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.samples.map(
      (s) =>
        `| ${s.minute} | ${s.rssMiB} (${s.rssLowMiB}–${s.rssHighMiB}) | ${s.rssAnonMiB} / ${s.rssFileMiB} | ${s.mainHeapMiB} / ${s.dynamoHeapMiB} / ${s.historyHeapMiB} | ${s.heapsCommittedMiB} | ${s.externalMiB} | ${s.dataMiB} | ${s.acknowledged} | ${s.healthP99Ms} | ${s.loopDelayP99Ms} / ${s.loopDelayMaxMs} | ${s.gcPauseSumMs} / ${s.gcPauseMaxMs} / ${s.gcMajorMaxMs} | ${s.openLevelResources} |`,
    ),
    '',
  ];
}

/** `npm run bench -- soak [--minutes N] [--sensors N] [--sample-seconds N]`: writes bench/results-soak.md. */
export async function soakMain(argv: string[], write: (lines: string[]) => Promise<void>): Promise<void> {
  const arg = (name: string) => {
    const at = argv.indexOf(`--${name}`);
    return at >= 0 ? Number(argv[at + 1]) : undefined;
  };
  const result = await soakBench({ minutes: arg('minutes'), sensors: arg('sensors'), sampleSeconds: arg('sample-seconds') });
  await write(soakReport(result));
}
