/**
 * Lighthouse (mobile, its default config: simulated slow 4G and 4× CPU slowdown) on the fleet view with 20
 * simulated sensors, in Debian's Chromium through chrome-launcher. Targets (issue 16): performance ≥ 90 (the median of three runs),
 * accessibility 100, CLS ≤ 0.05. Run alone: npx tsx bench/lighthouse.ts (LIGHTHOUSE_REPORT=file.json keeps the report)
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as chromeLauncher from 'chrome-launcher';
import lighthouse from 'lighthouse';
import { CHROMIUM, CHROMIUM_FLAGS, buildFrontendIfStale, startStack } from '../test/e2e/harness.js';

export interface LighthouseResult {
  sensors: number;
  performance: number;
  accessibility: number;
  cls: number;
  lcpMs: number;
  tbtMs: number;
  fcpMs: number;
  /** Audits of the accessibility category that failed (empty at 100). */
  accessibilityFailures: string[];
  /** Lighthouse's measure of this machine's speed at the time (under 1,000: too slow or too loaded to trust). */
  benchmarkIndex: number;
  /** Every run's performance score; the figures above are the median run's. */
  performanceRuns: number[];
  targets: { performance: number; accessibility: number; cls: number };
  pass: boolean;
}

export async function runLighthouse(sensors = 20, runs = 3): Promise<LighthouseResult> {
  buildFrontendIfStale();
  const stack = await startStack({ sensors, intervalMs: 1000 });
  const chrome = await chromeLauncher.launch({ chromePath: CHROMIUM, chromeFlags: CHROMIUM_FLAGS });
  try {
    // Let every sensor be listed with some history, as a user opening a running fleet sees it.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    // Several runs, the median reported: one run swings by ten points on a shared machine.
    const results: LighthouseResult[] = [];
    for (let i = 0; i < runs; i++) results.push(await lighthouseOnce(stack.runtime.urls.dashboard, chrome.port, sensors));
    const sorted = [...results].sort((a, b) => a.performance - b.performance);
    return { ...sorted[sorted.length >> 1], performanceRuns: results.map((r) => r.performance) };
  } finally {
    chrome.kill();
    await stack.close();
  }
}

async function lighthouseOnce(url: string, port: number, sensors: number): Promise<LighthouseResult> {
  const run = await lighthouse(url, {
    port,
    output: 'json',
    logLevel: 'error',
    onlyCategories: ['performance', 'accessibility'],
  });
  if (!run) throw new Error('lighthouse returned nothing');
  const lhr = run.lhr;
  // The whole report, to find what costs the score (its opportunities and diagnostics).
  if (process.env.LIGHTHOUSE_REPORT) writeFileSync(process.env.LIGHTHOUSE_REPORT, JSON.stringify(lhr));
  if (lhr.runtimeError) throw new Error(`lighthouse: ${lhr.runtimeError.code} ${lhr.runtimeError.message}`);
  const score = (id: string) => Math.round((lhr.categories[id]?.score ?? 0) * 100);
  const metric = (id: string) => Number(lhr.audits[id]?.numericValue ?? NaN);
  const accessibilityFailures = (lhr.categories.accessibility?.auditRefs ?? [])
    .filter((ref) => ref.weight > 0 && lhr.audits[ref.id]?.score !== null && (lhr.audits[ref.id]?.score ?? 1) < 1)
    .map((ref) => ref.id);
  const result: LighthouseResult = {
    sensors,
    performance: score('performance'),
    accessibility: score('accessibility'),
    cls: Number(metric('cumulative-layout-shift').toFixed(3)),
    lcpMs: Math.round(metric('largest-contentful-paint')),
    tbtMs: Math.round(metric('total-blocking-time')),
    fcpMs: Math.round(metric('first-contentful-paint')),
    accessibilityFailures,
    benchmarkIndex: Math.round(lhr.environment.benchmarkIndex),
    performanceRuns: [],
    targets: { performance: 90, accessibility: 100, cls: 0.05 },
    pass: false,
  };
  result.pass = result.performance >= 90 && result.accessibility === 100 && result.cls <= 0.05;
  return result;
}

export function describeLighthouse(r: LighthouseResult): string {
  return (
    `Lighthouse mobile, fleet view with ${r.sensors} sensors: performance ${r.performance} (≥ ${r.targets.performance}), ` +
    `accessibility ${r.accessibility} (${r.targets.accessibility})${r.accessibilityFailures.length ? ` [${r.accessibilityFailures.join(', ')}]` : ''}, ` +
    `CLS ${r.cls} (≤ ${r.targets.cls}); FCP ${r.fcpMs} ms, LCP ${r.lcpMs} ms, TBT ${r.tbtMs} ms; median of runs [${r.performanceRuns.join(', ')}], ` +
    `benchmarkIndex ${r.benchmarkIndex}  ${r.pass ? 'PASS' : 'FAIL'}`
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const result = await runLighthouse();
  console.log(describeLighthouse(result));
  console.log(JSON.stringify(result));
  process.exit(0);
}
