/**
 * The dashboard's data transforms: pure functions over readings and buckets, no DOM, no network.
 * Timestamps are epoch milliseconds throughout; the charts convert to seconds at the edge.
 */
import { readingsCsv } from '../../lambdas/shared/contract.js';
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

export type Series = { resolution: 'raw'; points: Reading[] } | { resolution: '1m' | '1h'; points: Bucket[] };

export { BUCKET_MS } from '../../lambdas/shared/contract.js';

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
export function backfillSpan(newestHeld: number | null, reconnectedAt: number, windowMs: number): { from: number; to: number } | null {
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
  const i = lowerBound(buckets, start);
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

/**
 * uPlot-ready columns from points in ts order: x (seconds) and one column per `pick`, with a null row inside every
 * gap longer than `gapThreshold`: a null breaks the line (and the band), since nothing was measured in between.
 */
function gappedColumns<P extends { ts: number }, K extends string>(
  points: ReadonlyArray<P>,
  pick: Record<K, (point: P) => number | null>,
): { x: number[] } & Record<K, (number | null)[]> {
  const keys = Object.keys(pick) as K[];
  const x: number[] = [];
  const columns = Object.fromEntries(keys.map((k) => [k, [] as (number | null)[]])) as Record<K, (number | null)[]>;
  const limit = gapThreshold(points);
  for (let i = 0; i < points.length; i++) {
    if (i > 0 && points[i].ts - points[i - 1].ts > limit) {
      x.push((points[i - 1].ts + limit / 2) / 1000);
      for (const k of keys) columns[k].push(null);
    }
    x.push(points[i].ts / 1000);
    for (const k of keys) columns[k].push(pick[k](points[i]));
  }
  return { x, ...columns };
}

/** uPlot-ready columns of one metric from aggregated buckets: x (seconds), min, max, avg; gaps as null. */
export function bucketsToBand(
  buckets: ReadonlyArray<Bucket>,
  metric: string,
): { x: number[]; min: (number | null)[]; max: (number | null)[]; avg: (number | null)[] } {
  const agg = (b: Bucket) => (Object.hasOwn(b.values, metric) ? b.values[metric] : undefined);
  return gappedColumns(buckets, { min: (b) => agg(b)?.min ?? null, max: (b) => agg(b)?.max ?? null, avg: (b) => agg(b)?.avg ?? null });
}

/**
 * uPlot-ready columns of one metric from raw readings: x (seconds) and y, null where the metric is absent,
 * and a null row inside every gap longer than `gapThreshold`, so the line breaks there.
 */
export function readingsToColumns(readings: ReadonlyArray<Reading>, metric: string): { x: number[]; y: (number | null)[] } {
  return gappedColumns(readings, { y: (r) => (Object.hasOwn(r.values, metric) ? r.values[metric] : null) });
}

/** A gap is at least this many of the sensor's usual intervals (the median spacing of its points). */
export const GAP_INTERVALS = 3;

/**
 * The longest spacing (ms) still drawn as a continuous line: `GAP_INTERVALS` times the median spacing, and
 * never under 2 s (a sensor's jitter). Infinity with fewer than three points (no interval to judge by).
 */
export function gapThreshold(points: ReadonlyArray<{ ts: number }>): number {
  if (points.length < 3) return Infinity;
  // A sample of the spacings is enough for the median, and keeps 100 000 points cheap.
  const step = Math.max(1, Math.floor(points.length / 2000));
  const spacings: number[] = [];
  for (let i = step; i < points.length; i += step) spacings.push(points[i].ts - points[i - 1].ts);
  spacings.sort((a, b) => a - b);
  return Math.max(2000, GAP_INTERVALS * spacings[spacings.length >> 1]);
}

/**
 * The data point a tooltip at time `t` (seconds) may show: the nearest x whose value is not null, and only if
 * it lies within `maxDistance` seconds; else null (the pointer is over a gap: show no value, never a neighbour's).
 */
export function pointAt(x: ArrayLike<number>, y: ArrayLike<number | null | undefined>, t: number, maxDistance: number): number | null {
  let lo = 0;
  let hi = x.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  let best: number | null = null;
  for (const i of [lo - 1, lo]) {
    if (i < 0 || i >= x.length || y[i] === null || y[i] === undefined) continue;
    if (Math.abs(x[i] - t) > maxDistance) continue;
    if (best === null || Math.abs(x[i] - t) < Math.abs(x[best] - t)) best = i;
  }
  return best;
}

/** Every metric present in a series, sorted by name. */
export function metricsOf(series: Series): string[] {
  const names = new Set<string>();
  for (const p of series.points) for (const m of Object.keys(p.values)) names.add(m);
  return [...names].sort();
}

/** The series as CSV in the API's own layout (contract §5), for the range on screen. */
export function seriesToCsv(series: Series, metrics: string[]): string {
  return readingsCsv(series, metrics);
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

/** Decimal places of a number as written (at most `MAX_DECIMALS`): `21.40` → 1, `48` → 0. */
export function decimalsOf(v: number): number {
  if (!Number.isFinite(v) || Number.isInteger(v)) return 0;
  for (let d = 1; d < MAX_DECIMALS; d++) if (Number(v.toFixed(d)) === v) return d;
  return MAX_DECIMALS;
}

export const MAX_DECIMALS = 3;

/**
 * Decimal places per metric, the most seen so far (never fewer), so `61.0 %` stays beside `60.6 %` and a
 * value's width does not change as it updates.
 */
export class MetricPrecision {
  private readonly places = new Map<string, number>();
  /** Bumped when a metric needs more places than before. */
  version = 0;

  see(metric: string, v: number): void {
    const d = decimalsOf(v);
    if (d > (this.places.get(metric) ?? -1)) {
      this.places.set(metric, d);
      this.version++;
    }
  }

  format(metric: string, v: number): string {
    this.see(metric, v);
    return formatValue(v, this.places.get(metric)!);
  }

  decimals(metric: string): number {
    return this.places.get(metric) ?? 2;
  }
}

/** A number with exactly `decimals` places (a minus sign as U+2212, as wide as a digit in tabular figures). */
export function formatValue(v: number, decimals = decimalsOf(v)): string {
  if (!Number.isFinite(v)) return String(v);
  return v.toFixed(decimals).replace(/^-/, '\u2212');
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

/** One collator for every comparison: `localeCompare` with options builds one per call (1,000 sensors: ~10⁴ calls). */
const nameOrder = new Intl.Collator(undefined, { numeric: true });

/** The fleet's filter and sort: case-insensitive substring of the name; online first for status. */
export function filterAndSort<T extends SensorSummary>(sensors: ReadonlyArray<T>, filter: string, sort: SortKey): T[] {
  return orderFleet(sortByName(sensors), filter, sort);
}

/** The sensors by name (numbers as numbers): the one sort that needs the collator, redone only when the fleet's members change. */
export function sortByName<T extends SensorSummary>(sensors: ReadonlyArray<T>): T[] {
  return [...sensors].sort((a, b) => nameOrder.compare(a.sensorId, b.sensorId));
}

/**
 * Filter and sort from a list already in name order: a stable sort keeps name order among ties, so no sort
 * here compares names (1,000 sensors: a key typed in the filter costs a scan, not a collator sort).
 */
export function orderFleet<T extends SensorSummary>(byName: ReadonlyArray<T>, filter: string, sort: SortKey): T[] {
  const needle = filter.trim().toLowerCase();
  const list = needle ? byName.filter((s) => s.sensorId.toLowerCase().includes(needle)) : [...byName];
  if (sort === 'lastSeen') list.sort((a, b) => (b.lastSeen ?? 0) - (a.lastSeen ?? 0));
  else if (sort === 'status') {
    const online = list.filter((s) => s.online);
    for (const s of list) if (!s.online) online.push(s);
    return online;
  }
  return list;
}

/** Only the names filter, in the order held (a frozen order is re-filtered without re-sorting). */
export function matchesFilter(sensorId: string, filter: string): boolean {
  const needle = filter.trim().toLowerCase();
  return needle === '' || sensorId.toLowerCase().includes(needle);
}

/**
 * Keeps the order on screen while the data behind a sort changes, so a card never moves under the pointer:
 * the ids of `held` still present stay where they were, ids new to the list go at the end in sorted order.
 * `moved` counts the ids whose place differs from a fresh sort (the "n changed · Re-sort" hint).
 */
export function keepOrder(held: ReadonlyArray<string>, sorted: ReadonlyArray<string>): { order: string[]; moved: number } {
  const present = new Set(sorted);
  const order = held.filter((id) => present.has(id));
  const kept = new Set(order);
  for (const id of sorted) if (!kept.has(id)) order.push(id);
  let moved = 0;
  for (let i = 0; i < order.length; i++) if (order[i] !== sorted[i]) moved++;
  return { order, moved };
}
