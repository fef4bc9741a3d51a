/**
 * `npm run bench`: every benchmark in one run on this machine; figures into bench/results.md.
 *   npm run bench -- [--quick]    (--quick: shorter runs, for a smoke check)
 *   npm run bench -- soak [--minutes 30] [--sensors 100]   (memory and disk over a long run)
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { historyBench } from './history.js';
import { initBench } from './init.js';
import { brokerCeiling, historyBatchCost, ingestModesBench, pipelineBench } from './pipeline.js';
import { soakMain } from './soak.js';
import { ROOT } from './support.js';
import { STREAM_DEFAULTS } from '../local/rules.js';
import type { FrameFigures } from './dashboard.js';

const quick = process.argv.includes('--quick');
/** `--only pipeline|init|history|dashboard` runs one part (its section alone is written). */
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt >= 0 ? process.argv[onlyAt + 1] : undefined;
const runs = (part: string) => only === undefined || only === part;
const mark = (ok: boolean) => (ok ? 'met' : '**not met**');

async function main(): Promise<void> {
  // `npm run bench -- soak [--minutes N]`: the long-run memory/disk soak alone, into bench/results-soak.md.
  if (process.argv[2] === 'soak') {
    return soakMain(process.argv.slice(3), async (soakLines) => {
      await writeFile(path.join(ROOT, 'bench/results-soak.md'), `${['# Soak benchmark', '', ...soakLines].join('\n')}\n`);
      console.log(soakLines.join('\n'));
    });
  }
  const lines: string[] = [];
  const started = new Date();
  lines.push('# Benchmark results', '');
  lines.push(
    `Run ${started.toISOString()} with \`npm run bench${quick ? ' -- --quick' : ''}\` on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, ` +
      `${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average ${os.loadavg()[0].toFixed(1)} at the start (figures taken on a shared machine are slower). Local mode: every figure is the local runtime ` +
      '(aedes, the rules engine, dynalite on LevelDB, the WebSocket gateway) on this one machine, with the load generator beside it.',
    '',
  );

  if (runs('pipeline')) await pipelineSection(lines);
  if (runs('init')) await initSection(lines);
  if (runs('history')) await historySection(lines);
  if (runs('dashboard')) await dashboardSection(lines);
  if (runs('alerts')) await (await import('./alerts.js')).alertsSection(lines, quick);

  const file = path.join(ROOT, only ? `bench/results-${only}.md` : 'bench/results.md');
  await writeFile(file, `${lines.join('\n')}\n`);
  console.log(lines.join('\n'));
  console.log(`\nWritten to ${path.relative(process.cwd(), file)}`);
}

/** The live window as the rules engine takes it: none means a batch goes as soon as the broadcaster is free. */
const liveWindow = (ms: string) => (Number(ms) > 0 ? `${ms} ms` : 'none (a batch goes when the broadcaster is free)');

async function pipelineSection(lines: string[]): Promise<void> {
  console.log('broker ceiling…');
  const ceiling = await brokerCeiling();
  console.log('pipeline…');
  /** The target, and the load offered to show it: above the target, so the figure is what the pipeline holds. */
  const target = 5000;
  const rate = 6000;
  const jitWarmUpSeconds = 10;
  const pipeline = await pipelineBench({
    jitWarmUpSeconds,
    sustainRate: rate,
    sustainWarmUpSeconds: quick ? 10 : 20,
    sustainSeconds: quick ? 10 : 30,
    latencySeconds: quick ? 5 : 20,
    fanOutClients: 1000,
  });
  const s = pipeline.sustain;
  const l = pipeline.latency;
  const f = pipeline.fanOut;
  const exactlyOnce = s.delivered === s.offered && s.stored === s.offered && s.duplicates === 0;
  const sustainedOk = exactlyOnce && s.throughput >= target;
  lines.push('## Ingest pipeline (issues 3 and 11)', '');
  lines.push(
    `Stream ingest (the local default): live window ${liveWindow(process.env.LIVE_WINDOW_MS ?? String(STREAM_DEFAULTS.windowMs.broadcaster))}, history window ${process.env.HISTORY_WINDOW_MS ?? STREAM_DEFAULTS.windowMs.historyWriter} ms.`,
    '',
  );
  lines.push('| measure | figure | target | |', '| --- | --- | --- | --- |');
  lines.push(`| broker alone, QoS 1 publish → accepted (10 devices) | ${ceiling.qos1PerSecond} msg/s | the ceiling | |`);
  lines.push(
    `| sustained ingest: ${s.offered} readings offered at ${rate.toLocaleString('en')}/s over 100 sensors, QoS 1, after ${s.warmUpSeconds} s of it unmeasured; ` +
      `held from ${s.settledSeconds.toFixed(1)} s in (the pipeline full) until the last reading was pushed, and stored | **${s.throughput} readings/s** ` +
      `(${(s.throughput / ceiling.qos1PerSecond).toFixed(2)} × the broker alone): pushed ${s.pushedPerSecond}/s, stored ${s.storedPerSecond}/s; ` +
      `offered over ${s.offeredSeconds.toFixed(1)} s, all pushed after ${s.doneSeconds.toFixed(1)} s and stored after ${s.storedSeconds.toFixed(1)} s ` +
      `(${s.endToEnd}/s from the first publish to the last store, the history window's wait included); ` +
      `${s.acked} acknowledged, ${s.stored} stored, ${s.delivered} pushed, ${s.duplicates} pushed twice | ≥ ${target.toLocaleString('en')}/s, each stored and pushed exactly once | ${mark(sustainedOk)} |`,
  );
  lines.push(
    `| publish → WebSocket latency at 1,000 readings/s over 100 sensors (${l.offered} readings, after ${jitWarmUpSeconds} s of the same load unmeasured: the runtime has just started) | **p50 ${l.latency.p50} ms, p99 ${l.latency.p99} ms**, max ${l.latency.max} ms; ` +
      `${l.stored} stored, ${l.delivered} pushed | p50 ≤ 10 ms, p99 ≤ 50 ms | ${mark(l.latency.p50 <= 10 && l.latency.p99 <= 50)} |`,
  );
  const cpu = (c: typeof s.cpu) => `${c.totalUsPerReading} µs (main thread ${c.mainUsPerReading} µs)`;
  lines.push(
    `| runtime CPU per reading, all threads, first publish → all stored (bench polling included; load-independent) | sustained: **${cpu(s.cpu)}**; at 1,000/s: **${cpu(l.cpu)}**, of which first publish → last push ${cpu(l.cpu.toLastPush)} | | |`,
  );
  lines.push(
    `| DynamoDB requests at 1,000 readings/s (load-independent) | **${l.requests.perLiveBatch} per live batch** (${l.requests.liveBatches} batches: ${Object.entries(
      l.requests.byOperation,
    )
      .map(([operation, n]) => `${operation} ${n}`)
      .join(
        ', ',
      )}; ${l.requests.presenceEvents} presence events' version reads taken off), and ${l.requests.markUpdates} UpdateItem of live marks (a sensor-minute's pushed ts: written when its minute closes, its sensor goes idle, or the state passes its size bound and the largest sensors' ts move to their marks); ${l.requests.perReading} per reading in all, first publish → last push, after one reading per sensor (its first claim) | live batch ≤ 2 in the steady state | ${mark(l.requests.perLiveBatch <= 2)} |`,
  );
  lines.push(
    `| one reading to ${f.clients} WebSocket clients on \`*\` (publish → the last client's frame, ${f.rounds} rounds) | **p50 ${f.p50} ms**, max ${f.max} ms | ≤ 250 ms | ${mark(f.p50 <= 250)} |`,
  );
  lines.push(
    `| history freshness: PUBACK → visible in the readings API (${pipeline.freshness.rounds} readings) | **p50 ${pipeline.freshness.p50} ms**, max ${pipeline.freshness.max} ms | reported (≈ the history window) | |`,
  );
  lines.push('');

  console.log('history batches as the minute fills…');
  const perBatch = 50;
  const cost = await historyBatchCost({ sensors: 100, perBatch, minuteSizes: [50, 250, 1000, 2000], rounds: quick ? 2 : 5 });
  lines.push(
    `History batches at 50 readings/s per sensor (history window 1 s): the history writer's core and adapters store ${perBatch} new readings per sensor per batch into a minute that already holds N (100 sensors; CPU of all threads, load-independent). A batch writes new packs for what it adds, never reads or rewrites the minute's:`,
    '',
  );
  lines.push('| readings of the minute already stored | CPU per new reading |', '| --- | --- |');
  for (const p of cost) lines.push(`| ${p.minuteReadings} | ${p.usPerReading} µs |`);
  lines.push('');

  console.log('ingest modes…');
  const modes = await ingestModesBench({ sensors: 20, rate: 200, seconds: quick ? 5 : 10 });
  lines.push('Both ingest modes under the same load (200 readings/s over 20 sensors):', '');
  lines.push('| INGEST | latency p50 | p99 | all pushed after | all stored after | stored |', '| --- | --- | --- | --- | --- | --- |');
  for (const [mode, m] of Object.entries(modes)) {
    lines.push(
      `| ${mode} | ${m.p50} ms | ${m.p99} ms | ${m.pushedSeconds.toFixed(1)} s | ${m.storedSeconds.toFixed(1)} s | ${m.stored} of ${m.offered} |`,
    );
  }
  lines.push('');
}

async function initSection(lines: string[]): Promise<void> {
  console.log('module init…');
  const figures = await initBench(quick ? 3 : 7);
  lines.push('## Lambda module init on the built bundles (issue 11)', '');
  lines.push(
    "Each handler bundled as CDK bundles it (lib/bundling.ts: esbuild, ESM, minified, the SDK inside), imported in a fresh Node process with its environment; median of the runs. CPU is the import's process.cpuUsage(), less bent by load than wall time.",
    '',
  );
  lines.push(
    `Load average while timed: ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(', ')}.`,
    '',
  );
  lines.push('| function | bundle | module init | CPU | target | |', '| --- | --- | --- | --- | --- | --- |');
  for (const f of figures)
    lines.push(`| ${f.handler} | ${f.bundleKb} KB | ${f.initMs} ms | ${f.initCpuMs} ms | ≤ 100 ms | ${mark(f.initMs <= 100)} |`);
  lines.push('');
}

async function historySection(lines: string[]): Promise<void> {
  console.log('history…');
  const history = await historyBench({ days: quick ? 2 : 30 });
  lines.push('## History at any range (issue 5)', '');
  lines.push(
    `${history.readings} readings of one sensor (every 10 s, 3 metrics) written through the history writer (stream ingest: Kinesis events) in messages of 500 ` +
      `in ${history.loadSeconds} s; then \`resolution=auto&limit=1000\` queries through the REST handler, 20 runs each.`,
    '',
  );
  lines.push(
    '| range | answered as | points | DynamoDB items read (≤ 2,000) | p50 (≤ 100 ms) | p95 |',
    '| --- | --- | --- | --- | --- | --- |',
  );
  for (const q of history.queries) {
    lines.push(
      `| ${q.range} | ${q.resolution} | ${q.points} | ${q.itemsRead} ${mark(q.itemsRead <= 2000)} | ${q.p50Ms} ms ${mark(q.p50Ms <= 100)} | ${q.p95Ms} ms |`,
    );
  }
  lines.push('');
  lines.push(
    `Write cost including roll-up maintenance: **${history.writeUnitsPerReading} write units per reading** when readings arrive in messages of 500, ` +
      `**${history.writeUnitsPerSingleReading}** when each message holds one reading and a stream batch holds 10 of them (the raw items, then once per batch the 1-minute and 1-hour buckets and the sensor's registry entry; target ≈ 1). ` +
      `${history.requestsPerReading} DynamoDB requests per reading while loading.`,
    '',
  );
}

async function dashboardSection(lines: string[]): Promise<void> {
  const dashboardBench = path.join(ROOT, 'bench/dashboard.ts');
  if (existsSync(dashboardBench)) {
    console.log('dashboard…');
    if (quick) process.env.BENCH_STREAM_SECONDS ??= '10';
    const { describeCpu, describeThreads, runDashboardBench } = await import('./dashboard.js');
    const d = await runDashboardBench();
    const c = d.chart100k;
    const f = d.fleetStream;
    lines.push('## Dashboard in Chromium (issue 6)', '');
    lines.push('| measure | figure | target | |', '| --- | --- | --- | --- |');
    lines.push(
      `| draw ${c.points} points in one chart | first ${c.firstDrawMs} ms, median ${c.medianDrawMs} ms | ≤ ${c.targetMs} ms | ${mark(c.pass)} |`,
    );
    lines.push(
      `| fleet view while ${f.sensors} sensors send ${f.readingsPerSecondPerSensor}/s for ${f.seconds} s | ${f.droppedFrames} of ${f.expectedFrames} frames dropped ` +
        `(${f.droppedPercent}%), longest frame ${f.longestFrameMs} ms, ${f.longTasks} long tasks; a blank page drops ${f.blankPageDroppedPercent}% | ≤ ${f.targetPercent}% | ${mark(f.pass)} |`,
    );
    lines.push('');
    const a = d.fleetAtScale;
    if (a) {
      lines.push(`## The fleet at ${a.sensors} sensors (issue 16)`, '');
      lines.push(
        `The first ${a.busySensors} sensors by name send every ${a.intervalMs} ms, the rest every ${a.quietMs} ms, fed straight into the local rules engine; the page subscribes only to the cards on screen. Figures taken while other work shares the machine are distorted by it.`,
        '',
      );
      lines.push('| measure | figure | target | |', '| --- | --- | --- | --- |');
      lines.push(
        `| navigation → first cards | ${a.firstCardsMs} ms (all listed ${a.allListedMs} ms, sparklines ${a.sparklinesMs} ms) | ≤ 1,000 ms | ${mark(a.firstCardsMs <= 1000)} |`,
      );
      lines.push(
        `| sparkline requests | ${a.sparklineRequests.batched} batched, ${a.sparklineRequests.perSensor} per sensor; ${a.cardsRendered} cards rendered, ${a.subscribed} subscribed | no N+1 | ${mark(a.sparklineRequests.perSensor === 0)} |`,
      );
      const frames = (x: FrameFigures) =>
        `${x.longestFrameMs} ms (median ${x.medianFrameMs} ms, ${x.framesOver100ms} of ${x.frames} frames over 100 ms)`;
      const cpuFrames = (x: FrameFigures) =>
        `the most ${x.longestFrameCpuMs} ms (${describeThreads(x.costliestFrameByThread)}; ${x.framesOver100msCpu} frames over 100 ms); ${x.longestGapCpuMs} ms within the longest frame`;
      const loaf = (x: FrameFigures) =>
        `${x.loaf.count}, the longest ${x.loaf.longestMs} ms (blocking ${x.loaf.blockingMs} ms); script ${x.loaf.scriptMs} ms, style and layout ${x.loaf.styleLayoutMs} ms in all`;
      for (const [what, f] of [
        [`${a.live.seconds} s of live updates`, a.live],
        ['a scroll to the bottom', a.scroll],
      ] as const) {
        lines.push(
          `| ${what}: the page's CPU per frame (its renderer and the display compositor; not inflated by the machine's load) | ${cpuFrames(f)} | ≤ 100 ms | ${mark(f.longestFrameCpuMs <= 100)} |`,
        );
        lines.push(
          `| the same: longest frame, wall time on this machine; a static page as tall, same load, same trace | ${frames(f)}; static page: ${frames(f.staticPage)}, CPU ${cpuFrames(f.staticPage)} | ≤ 100 ms | ${mark(f.longestFrameMs <= 100)} |`,
        );
        lines.push(`| the same: long animation frames (LoAF API); static page | ${loaf(f)}; static page: ${loaf(f.staticPage)} | | |`);
        lines.push(`| the same: main-thread CPU | ${describeCpu(f.cpu)} | | |`);
      }
      lines.push(
        `| the last sensor's card shown at the bottom | ${a.scroll.bottomCardsShown} | true | ${mark(a.scroll.bottomCardsShown)} |`,
      );
      lines.push(
        `| filter, main-thread CPU | ${describeCpu(a.filter.cpu)} | longest ≤ 50 ms | ${mark(a.filter.cpu.longestTaskCpuMs <= 50)} |`,
      );
      lines.push(
        `| filter, a key → the end of the frame that shows it (wall) | median ${a.filter.medianKeyMs} ms, max ${a.filter.maxKeyMs} ms (the slowest ${a.filter.slowestKey}); clearing ${a.filter.clearMs} ms (main-thread CPU ${a.filter.perKey.at(-1)?.cpuMs} ms); the most main-thread CPU a key took ${a.filter.maxKeyCpuMs} ms | ≤ 50 ms | ${mark(a.filter.maxKeyMs <= 50 && a.filter.clearMs <= 50)} |`,
      );
      lines.push('');
    }
    const { runLighthouse } = await import('./lighthouse.js');
    const l = await runLighthouse();
    lines.push('Lighthouse mobile (simulated slow 4G, 4× CPU slowdown) on the fleet view with 20 sensors:', '');
    lines.push('| measure | figure | target | |', '| --- | --- | --- | --- |');
    lines.push(
      `| performance, median of [${l.performanceRuns.join(', ')}] | ${l.performance} (FCP ${l.fcpMs} ms, LCP ${l.lcpMs} ms, TBT ${l.tbtMs} ms; benchmarkIndex ${l.benchmarkIndex}) | ≥ 90 | ${mark(l.performance >= 90)} |`,
    );
    lines.push(
      `| accessibility | ${l.accessibility}${l.accessibilityFailures.length ? ` (${l.accessibilityFailures.join(', ')})` : ''} | 100 | ${mark(l.accessibility === 100)} |`,
    );
    lines.push(`| CLS | ${l.cls} | ≤ 0.05 | ${mark(l.cls <= 0.05)} |`);
    lines.push('');
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
