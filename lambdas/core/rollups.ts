/**
 * Roll-ups: 1-minute buckets recomputed from the raw readings of their minute, 1-hour buckets from the
 * 1-minute buckets of their hour. Recomputing from stored data (rather than adding each reading) makes the
 * maintenance idempotent: a redelivered reading or a retried invocation can never count twice.
 */
import type { AggregateResolution, Bucket, MetricStats, RawPoint, Reading } from './model.js';
import { BUCKET_MS } from './model.js';
import type { ReadingStore, RollupStore } from './ports.js';

export function bucketStart(ts: number, resolution: AggregateResolution): number {
  const size = BUCKET_MS[resolution];
  return Math.floor(ts / size) * size;
}

function addValue(stats: Record<string, MetricStats>, metric: string, value: number): void {
  const s = stats[metric];
  if (s === undefined) {
    stats[metric] = { min: value, max: value, sum: value, count: 1 };
  } else {
    if (value < s.min) s.min = value;
    if (value > s.max) s.max = value;
    s.sum += value;
    s.count += 1;
  }
}

function mergeStats(stats: Record<string, MetricStats>, metric: string, other: MetricStats): void {
  const s = stats[metric];
  if (s === undefined) {
    stats[metric] = { ...other };
  } else {
    if (other.min < s.min) s.min = other.min;
    if (other.max > s.max) s.max = other.max;
    s.sum += other.sum;
    s.count += other.count;
  }
}

/** Aggregates points (ascending ts) into buckets of the given size; empty buckets are left out. */
export function aggregatePoints(points: RawPoint[], resolution: AggregateResolution): Bucket[] {
  const buckets = new Map<number, Bucket>();
  for (const p of points) {
    const start = bucketStart(p.ts, resolution);
    let b = buckets.get(start);
    if (!b) buckets.set(start, (b = { ts: start, stats: {}, readings: 0 }));
    b.readings += 1;
    for (const [metric, value] of Object.entries(p.values)) addValue(b.stats, metric, value);
  }
  return [...buckets.values()].sort((a, b) => a.ts - b.ts);
}

/** Merges finer buckets into coarser ones. */
export function mergeBuckets(buckets: Bucket[], resolution: AggregateResolution): Bucket[] {
  const merged = new Map<number, Bucket>();
  for (const b of buckets) {
    const start = bucketStart(b.ts, resolution);
    let m = merged.get(start);
    if (!m) merged.set(start, (m = { ts: start, stats: {}, readings: 0 }));
    m.readings += b.readings;
    for (const [metric, s] of Object.entries(b.stats)) mergeStats(m.stats, metric, s);
  }
  return [...merged.values()].sort((a, b) => a.ts - b.ts);
}

/**
 * Brings the 1-minute and 1-hour buckets touched by these (newly stored) readings of one sensor up to
 * date. Reads each touched minute's raw readings and each touched hour's minute buckets once.
 */
export async function refreshRollups(
  sensorId: string,
  readings: Reading[],
  store: { readings: ReadingStore; rollups: RollupStore },
): Promise<void> {
  if (readings.length === 0) return;
  const minutes = [...new Set(readings.map((r) => bucketStart(r.ts, '1m')))].sort((a, b) => a - b);
  const minuteBuckets: Bucket[] = [];
  // Adjacent touched minutes are read with one query.
  for (const [from, to] of contiguousRanges(minutes, BUCKET_MS['1m'])) {
    const { points } = await store.readings.queryRaw({ sensorId, from, to, consistent: true });
    minuteBuckets.push(...aggregatePoints(points, '1m'));
  }
  await store.rollups.putBuckets(sensorId, '1m', minuteBuckets);

  const hours = [...new Set(minutes.map((m) => bucketStart(m, '1h')))].sort((a, b) => a - b);
  const hourBuckets: Bucket[] = [];
  for (const [from, to] of contiguousRanges(hours, BUCKET_MS['1h'])) {
    const { buckets } = await store.rollups.queryBuckets({ sensorId, resolution: '1m', from, to, consistent: true });
    hourBuckets.push(...mergeBuckets(buckets, '1h'));
  }
  await store.rollups.putBuckets(sensorId, '1h', hourBuckets);
}

/** Groups sorted bucket starts into [from, to) ranges of adjacent buckets. */
export function contiguousRanges(starts: number[], size: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  for (const start of starts) {
    const last = ranges[ranges.length - 1];
    if (last && last[1] === start) last[1] = start + size;
    else ranges.push([start, start + size]);
  }
  return ranges;
}
