/**
 * `npm run cost -- --sensors 100 --interval 5s --dashboards 5 [--ingest stream|direct] [--no-basic-ingest]
 * [--shards N|on-demand] [--history-window 30s] [--hours 24] [--metrics 2] [--json]`: vigia's monthly AWS
 * bill beside the naive design's, line by line, and the stream shards the fleet needs.
 */
import { pathToFileURL } from 'node:url';
import type { CostLine, Estimate, Fleet, Ingest } from './model.js';
import { byService, DEFAULT_INGEST, monthlyCost, SERVICES, streamShardsFor } from './model.js';
import type { MeasureOptions } from './measure.js';
import { PRICES } from './prices.js';

export class UsageError extends Error {}

export const USAGE =
  'usage: npm run cost -- --sensors N --interval 5s|1m|500ms|1h --dashboards D ' +
  '[--ingest stream|direct] [--no-basic-ingest] [--shards N|on-demand] [--history-window 30s] [--hours H] [--metrics M] [--json]';

export interface CostArgs {
  fleet: Omit<Fleet, 'design'>;
  json: boolean;
}

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3_600 };

/** `500ms`, `5s`, `1m`, `1h` (a bare number is seconds) → seconds. */
export function parseInterval(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  const seconds = m ? Number(m[1]) * UNIT_SECONDS[m[2] ?? 's'] : NaN;
  if (!m || !(seconds > 0)) throw new UsageError(`--interval: '${text}' is not a duration like 500ms, 5s, 1m or 1h`);
  return seconds;
}

function wholeNumber(flag: string, text: string, min: number): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag}: '${text}' is not a whole number of at least ${min}`);
  return n;
}

export function parseArgs(argv: string[]): CostArgs {
  const values = new Map<string, string>();
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--json' || arg === '--no-basic-ingest') {
      if (arg === '--json') json = true;
      else values.set(arg, 'true');
      continue;
    }
    const [flag, inline] = arg.split(/=(.*)/s, 2);
    if (!['--sensors', '--interval', '--dashboards', '--ingest', '--shards', '--history-window', '--hours', '--metrics'].includes(flag)) {
      throw new UsageError(`unknown argument '${arg}'`);
    }
    const value = inline ?? argv[++i];
    if (value === undefined || value.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    if (values.has(flag)) throw new UsageError(`${flag} is given twice`);
    values.set(flag, value);
  }
  for (const required of ['--sensors', '--interval', '--dashboards']) {
    if (!values.has(required)) throw new UsageError(`${required} is required`);
  }
  const ingest = values.get('--ingest') ?? DEFAULT_INGEST;
  if (ingest !== 'direct' && ingest !== 'stream') throw new UsageError(`--ingest: '${ingest}' is neither stream nor direct`);
  const fleet: Omit<Fleet, 'design'> = {
    sensors: wholeNumber('--sensors', values.get('--sensors')!, 1),
    intervalS: parseInterval(values.get('--interval')!),
    dashboards: wholeNumber('--dashboards', values.get('--dashboards')!, 0),
    ingest: ingest as Ingest,
  };
  if (values.has('--no-basic-ingest')) fleet.basicIngest = false;
  if (values.has('--shards') || values.has('--history-window')) {
    if (ingest !== 'stream') throw new UsageError('--shards and --history-window apply to --ingest stream only');
  }
  if (values.has('--shards')) {
    const shards = values.get('--shards')!;
    fleet.shards = shards === 'on-demand' ? 'on-demand' : wholeNumber('--shards', shards, 1);
  }
  if (values.has('--history-window')) {
    const window = parseInterval(values.get('--history-window')!);
    if (window > 300) throw new UsageError(`--history-window: '${values.get('--history-window')}' is over 300 s`);
    fleet.historyWindowS = window;
  }
  if (values.has('--hours')) {
    const hours = Number(values.get('--hours'));
    if (!/^\d+(\.\d+)?$/.test(values.get('--hours')!) || hours > 24) {
      throw new UsageError(`--hours: '${values.get('--hours')}' is not a number of hours from 0 to 24`);
    }
    fleet.dashboardHoursPerDay = hours;
  }
  if (values.has('--metrics')) {
    const metrics = wholeNumber('--metrics', values.get('--metrics')!, 1);
    if (metrics > 32) throw new UsageError(`--metrics: ${metrics} is over the contract's 32 metrics a reading`);
    fleet.metricsPerReading = metrics;
  }
  return { fleet, json };
}

const usd = (n: number) => `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
const qty = (n: number) =>
  n >= 1e6
    ? `${(n / 1e6).toLocaleString('en-US', { maximumFractionDigits: 1 })} M`
    : n.toLocaleString('en-US', { maximumFractionDigits: n < 10 ? 2 : 0 });

function interval(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds % 3_600 === 0) return `${seconds / 3_600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

const describe = (l: CostLine | undefined) => (l ? `${l.service}, ${l.item}` : '');

/** The side-by-side report as Markdown-friendly text. */
export function formatReport(vigia: Estimate, naive: Estimate): string {
  const f = vigia.fleet;
  const out: string[] = [];
  out.push(
    `${f.sensors.toLocaleString('en-US')} sensors, one reading every ${interval(f.intervalS)} (${f.metricsPerReading} metrics), ` +
      `${f.dashboards} dashboards open ${f.dashboardHoursPerDay} h a day; vigia with ${f.ingest} ingest` +
      (f.ingest === 'stream'
        ? ` (${f.basicIngest ? 'devices on Basic Ingest' : 'devices on the message broker'}, ${
            f.shards === 'on-demand' ? 'an on-demand stream' : `${f.shards} shard${f.shards === 1 ? '' : 's'}`
          }, history window ${f.historyWindowS} s)`
        : '') +
      '. ' +
      `30-day month; us-east-1 list prices ${PRICES.iotMessages.asOf} (they may have changed since), no free tier.`,
  );
  out.push('');
  out.push(`| service | item | vigia quantity | vigia | naive quantity | naive |`);
  out.push(`| --- | --- | ---: | ---: | ---: | ---: |`);
  const key = (l: CostLine) => `${l.service}\u0000${l.item}`;
  const naiveLines = new Map(naive.lines.map((l) => [key(l), l]));
  const vigiaLines = new Map(vigia.lines.map((l) => [key(l), l]));
  const vigiaTotals = byService(vigia);
  const naiveTotals = byService(naive);
  SERVICES.forEach((service, i) => {
    const keys = [...new Set([...vigia.lines, ...naive.lines].filter((l) => l.service === service).map(key))];
    for (const k of keys) {
      const v = vigiaLines.get(k);
      const n = naiveLines.get(k);
      const item = (v ?? n)!.item;
      out.push(
        `| ${service} | ${item} | ${v ? qty(v.quantity) : '–'} | ${v ? usd(v.usd) : '–'} | ${n ? qty(n.quantity) : '–'} | ${n ? usd(n.usd) : '–'} |`,
      );
    }
    out.push(`| **${service}** | | | **${usd(vigiaTotals[i].usd)}** | | **${usd(naiveTotals[i].usd)}** |`);
  });
  out.push(`| **total a month** | | | **${usd(vigia.total)}** | | **${usd(naive.total)}** |`);
  out.push('');
  out.push(`vigia costs ${((100 * vigia.total) / naive.total).toFixed(0)} % of the naive design.`);
  if (f.ingest === 'stream') {
    const needed = streamShardsFor(f);
    out.push(`Stream shards this fleet needs: ${needed} (deploy with -c streamShards=${needed}, or -c streamShards=on-demand).`);
  }
  out.push(
    `Biggest line: vigia ${describe(vigia.biggest)} (${usd(vigia.biggest.usd)}); naive ${describe(naive.biggest)} (${usd(naive.biggest.usd)}).`,
  );
  for (const w of vigia.warnings) out.push(`Note${naive.warnings.includes(w) ? '' : ' (vigia)'}: ${w}`);
  for (const w of naive.warnings) if (!vigia.warnings.includes(w)) out.push(`Note (naive): ${w}`);
  return out.join('\n');
}

/** Runs the command; returns the exit code (2 for bad arguments). */
export function main(argv: string[], out: (text: string) => void, err: (text: string) => void): number {
  let args: CostArgs;
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`cost: ${e.message}\n${USAGE}`);
    return 2;
  }
  const vigia = monthlyCost({ ...args.fleet, design: 'vigia' });
  const naive = monthlyCost({ ...args.fleet, design: 'naive' });
  if (args.json) {
    out(JSON.stringify({ prices: PRICES, vigia, naive }, null, 2));
  } else {
    out(formatReport(vigia, naive));
  }
  return 0;
}

export const MEASURE_USAGE =
  'usage: npm run cost -- --measure [--sensors 20] [--interval 1s] [--dashboards 2] [--duration 10s] [--ingest stream|direct]';

/** `--measure` arguments: a small fleet by default, run on this machine. */
export function parseMeasureArgs(argv: string[]): MeasureOptions {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--measure' || arg === '--json') continue;
    const [flag, inline] = arg.split(/=(.*)/s, 2);
    if (!['--sensors', '--interval', '--dashboards', '--duration', '--ingest'].includes(flag)) {
      throw new UsageError(`unknown argument '${arg}' with --measure`);
    }
    const value = inline ?? argv[++i];
    if (value === undefined || value.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    values.set(flag, value);
  }
  const ingest = values.get('--ingest') ?? DEFAULT_INGEST;
  if (ingest !== 'direct' && ingest !== 'stream') throw new UsageError(`--ingest: '${ingest}' is neither stream nor direct`);
  const sensors = wholeNumber('--sensors', values.get('--sensors') ?? '20', 1);
  if (sensors > 2_000) throw new UsageError('--sensors: at most 2,000 on one machine');
  const durationS = parseInterval(values.get('--duration') ?? '10s');
  if (durationS > 600) throw new UsageError('--duration: at most 10 minutes');
  return {
    sensors,
    intervalS: parseInterval(values.get('--interval') ?? '1s'),
    dashboards: wholeNumber('--dashboards', values.get('--dashboards') ?? '2', 0),
    durationS,
    ingest: ingest as Ingest,
  };
}

async function measureMain(argv: string[]): Promise<number> {
  let options: MeasureOptions;
  try {
    options = parseMeasureArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`cost: ${e.message}\n${MEASURE_USAGE}`);
    return 2;
  }
  const { formatMeasurement, measureFleet } = await import('./measure.js');
  const measurement = await measureFleet(options);
  console.log(formatMeasurement(measurement));
  if (argv.includes('--json')) console.log(JSON.stringify(measurement.detail, null, 2));
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  if (argv.includes('--measure')) {
    measureMain(argv).then(
      (code) => {
        process.exitCode = code;
      },
      (err: Error) => {
        console.error(`cost --measure failed: ${err.stack ?? err.message}`);
        process.exitCode = 1;
      },
    );
  } else {
    process.exitCode = main(
      argv,
      (text) => console.log(text),
      (text) => console.error(text),
    );
  }
}
