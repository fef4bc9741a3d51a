/**
 * The dashboard's data transforms: pure functions over readings and buckets, no DOM, no network.
 * Timestamps are epoch milliseconds throughout; the charts convert to seconds at the edge.
 */
import { own } from './own.js';

export interface Reading {
  ts: number;
  values: Record<string, number>;
}

export interface Aggregate {
  min: number;
  max: number;
  avg: number;
  count: number;
}

export interface Bucket {
  ts: number;
  values: Record<string, Aggregate>;
}

export type Resolution = 'raw' | '1m' | '1h';

export type Series =
  | { resolution: 'raw'; points: Reading[] }
  | { resolution: '1m' | '1h'; points: Bucket[] };

export const BUCKET_MS: Record<'1m' | '1h', number> = { '1m': 60_000, '1h': 3_600_000 };

/** Index of the first point whose ts is ≥ `ts` (points ascending). */
export function lowerBound(points: ReadonlyArray<{ ts: number }>, ts: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid].ts < ts) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Merges readings (live frames or a backfill page, in any order) into ascending history. A reading whose ts
 * is already present is dropped: the first write of a key wins, as in the store. Returns `history` itself,
 * appended in place, when everything is newer (the streaming case); a new array otherwise.
 */
export function mergeReadings(history: Reading[], incoming: ReadonlyArray<Reading>): Reading[] {
  if (incoming.length === 0) return history;
  const sorted = isAscending(incoming) ? incoming : [...incoming].sort((a, b) => a.ts - b.ts);
  let last = history.length > 0 ? history[history.length - 1].ts : -Infinity;
  if (sorted[0].ts > last) {
    for (const r of sorted) {
      if (r.ts > last) {
        history.push(r);
        last = r.ts;
      }
    }
    return history;
  }
  const out: Reading[] = [];
  let i = 0;
  let j = 0;
  while (i < history.length || j < sorted.length) {
    const next = j >= sorted.length || (i < history.length && history[i].ts <= sorted[j].ts) ? history[i++] : sorted[j++];
    if (out.length > 0 && out[out.length - 1].ts === next.ts) continue;
    out.push(next);
  }
  return out;
}

function isAscending(points: ReadonlyArray<{ ts: number }>): boolean {
  for (let i = 1; i < points.length; i++) if (points[i].ts < points[i - 1].ts) return false;
  return true;
}

/** Drops points older than `fromTs` (the live window sliding on). */
export function trimBefore<T extends { ts: number }>(points: T[], fromTs: number): T[] {
  const cut = lowerBound(points, fromTs);
  return cut === 0 ? points : points.slice(cut);
}

/**
 * The span to ask the API for after a reconnect: from just after the newest reading held to the moment the
 * connection came back (exclusive `to`, as the API takes it). Readings that arrive live meanwhile overlap
 * its end and are deduplicated by the merge. With nothing held, the span starts `windowMs` before `to`.
 * `null` when there is nothing to fetch.
 */
export function backfillSpan(
  newestHeld: number | null,
  reconnectedAt: number,
  windowMs: number,
): { from: number; to: number } | null {
  const to = reconnectedAt + 1;
  const floor = to - windowMs;
  const from = newestHeld === null ? floor : Math.max(newestHeld + 1, floor);
  return from < to ? { from, to } : null;
}

/**
 * Folds one live reading into aggregated buckets (UTC-aligned, `bucketMs` long), so a streaming aggregated
 * chart stays right: count, min, max and the running average of its bucket.
 */
export function foldIntoBuckets(buckets: Bucket[], reading: Reading, bucketMs: number): Bucket[] {
  const start = Math.floor(reading.ts / bucketMs) * bucketMs;
  let i = lowerBound(buckets, start);
  if (i >= buckets.length || buckets[i].ts !== start) {
    buckets.splice(i, 0, { ts: start, values: {} });
  }
  const bucket = buckets[i];
  for (const [metric, value] of Object.entries(reading.values)) {
    const agg = own(bucket.values, metric);
    if (!agg) bucket.values[metric] = { min: value, max: value, avg: value, count: 1 };
    else {
      const count = agg.count + 1;
      bucket.values[metric] = {
        min: Math.min(agg.min, value),
        max: Math.max(agg.max, value),
        avg: agg.avg + (value - agg.avg) / count,
        count,
      };
    }
  }
  return buckets;
}

/** uPlot-ready columns of one metric from aggregated buckets: x (seconds), min, max, avg; gaps as null. */
export function bucketsToBand(
  buckets: ReadonlyArray<Bucket>,
  metric: string,
): { x: number[]; min: (number | null)[]; max: (number | null)[]; avg: (number | null)[] } {
  const x: number[] = new Array(buckets.length);
  const min: (number | null)[] = new Array(buckets.length);
  const max: (number | null)[] = new Array(buckets.length);
  const avg: (number | null)[] = new Array(buckets.length);
  for (let i = 0; i < buckets.length; i++) {
    const agg = own(buckets[i].values, metric);
    x[i] = buckets[i].ts / 1000;
    min[i] = agg ? agg.min : null;
    max[i] = agg ? agg.max : null;
    avg[i] = agg ? agg.avg : null;
  }
  return { x, min, max, avg };
}

/** uPlot-ready columns of one metric from raw readings: x (seconds) and y, null where the metric is absent. */
export function readingsToColumns(readings: ReadonlyArray<Reading>, metric: string): { x: number[]; y: (number | null)[] } {
  const x: number[] = new Array(readings.length);
  const y: (number | null)[] = new Array(readings.length);
  for (let i = 0; i < readings.length; i++) {
    x[i] = readings[i].ts / 1000;
    const v = own(readings[i].values, metric);
    y[i] = v === undefined ? null : v;
  }
  return { x, y };
}

/** Every metric present in a series, sorted by name. */
export function metricsOf(series: Series): string[] {
  const names = new Set<string>();
  for (const p of series.points) for (const m of Object.keys(p.values)) names.add(m);
  return [...names].sort();
}

/** The series as CSV in the API's own layout (contract §5), for the range on screen. */
export function seriesToCsv(series: Series, metrics: string[]): string {
  const rows: string[] = [];
  const cell = (v: number | undefined) => (v === undefined ? '' : String(v));
  if (series.resolution === 'raw') {
    rows.push(['ts', ...metrics].join(','));
    for (const p of series.points) rows.push([new Date(p.ts).toISOString(), ...metrics.map((m) => cell(own(p.values, m)))].join(','));
  } else {
    rows.push(['ts', ...metrics.flatMap((m) => [`${m}_min`, `${m}_max`, `${m}_avg`, `${m}_count`])].join(','));
    for (const p of series.points) {
      const cells = metrics.flatMap((m) => {
        const a = own(p.values, m);
        return a ? [cell(a.min), cell(a.max), cell(a.avg), cell(a.count)] : ['', '', '', ''];
      });
      rows.push([new Date(p.ts).toISOString(), ...cells].join(','));
    }
  }
  return rows.join('\n') + '\n';
}

/**
 * Readings per second from the most recent timestamps: the median spacing of the last `window` readings,
 * so a single late frame does not swing it. `null` with fewer than three readings.
 */
export function readingRate(timestamps: ReadonlyArray<number>, window = 8): number | null {
  const recent = timestamps.slice(-window - 1);
  if (recent.length < 3) return null;
  const gaps: number[] = [];
  for (let i = 1; i < recent.length; i++) gaps.push(recent[i] - recent[i - 1]);
  gaps.sort((a, b) => a - b);
  const median = gaps[gaps.length >> 1];
  return median > 0 ? 1000 / median : null;
}

/** "12 s ago", "3 min ago", "2 h ago", "4 d ago"; "just now" under a second. */
export function formatAgo(ms: number): string {
  if (ms < 1000) return 'just now';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

/** A number shown on a card: at most 3 decimals, no trailing zeros. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 1 ? 2 : 3;
  return Number(v.toFixed(digits)).toString();
}

export type RangeKey = 'live' | '1h' | '24h' | '7d' | '30d' | 'custom';

export const RANGE_MS: Record<Exclude<RangeKey, 'custom'>, number> = {
  live: 5 * 60_000,
  '1h': 3_600_000,
  '24h': 86_400_000,
  '7d': 7 * 86_400_000,
  '30d': 30 * 86_400_000,
};

export type SortKey = 'name' | 'lastSeen' | 'status';

export interface SensorSummary {
  sensorId: string;
  online: boolean;
  lastSeen: number | null;
}

/** The fleet's filter and sort: case-insensitive substring of the name; online first for status. */
export function filterAndSort<T extends SensorSummary>(sensors: ReadonlyArray<T>, filter: string, sort: SortKey): T[] {
  const needle = filter.trim().toLowerCase();
  const list = needle ? sensors.filter((s) => s.sensorId.toLowerCase().includes(needle)) : [...sensors];
  const byName = (a: T, b: T) => a.sensorId.localeCompare(b.sensorId, undefined, { numeric: true });
  if (sort === 'name') list.sort(byName);
  else if (sort === 'lastSeen') list.sort((a, b) => (b.lastSeen ?? 0) - (a.lastSeen ?? 0) || byName(a, b));
  else list.sort((a, b) => Number(b.online) - Number(a.online) || byName(a, b));
  return list;
}
