/**
 * Roll-ups: 1-minute and 1-hour buckets kept current from the stored raw readings, so that maintenance is
 * idempotent: a redelivered reading or a retried invocation can never count twice.
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
    if (!b) buckets.set(start, (b = { ts: start, stats: {}, readings: 0, lastTs: p.ts }));
    b.readings += 1;
    if (p.ts > b.lastTs!) b.lastTs = p.ts;
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
    if (b.lastTs !== undefined && (m.lastTs === undefined || b.lastTs > m.lastTs)) m.lastTs = b.lastTs;
    for (const [metric, s] of Object.entries(b.stats)) mergeStats(m.stats, metric, s);
  }
  return [...merged.values()].sort((a, b) => a.ts - b.ts);
}

type Stores = { readings: ReadingStore; rollups: RollupStore };

/** Attempts at a bucket before giving up (each lost race re-reads it). */
const MAX_BUCKET_ATTEMPTS = 8;

/**
 * Brings one bucket up to date with readings just stored in it. When they are all later than the bucket's
 * newest reading, only the raw readings after that one are read and merged in; otherwise (a late reading,
 * a redelivery, a retried invocation) the bucket is recomputed whole: from the raw readings for a minute,
 * from the minute buckets for an hour. Writes are conditional on the bucket read, and a lost race starts
 * over, so concurrent writers never lose or double-count a reading.
 */
async function refreshBucket(
  sensorId: string,
  resolution: AggregateResolution,
  start: number,
  earliestNew: number,
  known: Bucket | undefined,
  store: Stores,
): Promise<void> {
  const end = start + BUCKET_MS[resolution];
  let current = known;
  for (let attempt = 0; attempt < MAX_BUCKET_ATTEMPTS; attempt++) {
    if (attempt > 0) current = (await store.rollups.getBuckets(sensorId, resolution, [start])).get(start);
    let next: Bucket | undefined;
    if (current?.lastTs !== undefined && earliestNew > current.lastTs) {
      const { points } = await store.readings.queryRaw({ sensorId, from: current.lastTs + 1, to: end, consistent: true });
      const delta = aggregatePoints(points, resolution)[0];
      if (!delta) return; // a concurrent writer has merged them already
      next = mergeBuckets([current, delta], resolution)[0];
    } else if (resolution === '1m') {
      const { points } = await store.readings.queryRaw({ sensorId, from: start, to: end, consistent: true });
      next = aggregatePoints(points, resolution)[0];
    } else {
      const { buckets } = await store.rollups.queryBuckets({ sensorId, resolution: '1m', from: start, to: end, consistent: true });
      next = mergeBuckets(buckets, resolution)[0];
    }
    if (!next || (current && next.readings === current.readings && next.lastTs === current.lastTs)) return;
    if (await store.rollups.putBucket(sensorId, resolution, next, current?.readings ?? null)) return;
  }
  throw new Error(`roll-up ${sensorId} ${resolution} ${start} kept changing under ${MAX_BUCKET_ATTEMPTS} attempts`);
}

/**
 * Brings the 1-minute and then the 1-hour buckets touched by these (stored) readings of one sensor up to
 * date. Idempotent: refreshing again with the same readings changes nothing.
 */
export async function refreshRollups(sensorId: string, readings: Reading[], store: Stores): Promise<void> {
  if (readings.length === 0) return;
  for (const resolution of ['1m', '1h'] as const) {
    const earliest = new Map<number, number>();
    for (const r of readings) {
      const start = bucketStart(r.ts, resolution);
      earliest.set(start, Math.min(earliest.get(start) ?? Infinity, r.ts));
    }
    const starts = [...earliest.keys()].sort((a, b) => a - b);
    const stored = await store.rollups.getBuckets(sensorId, resolution, starts);
    for (const start of starts) {
      await refreshBucket(sensorId, resolution, start, earliest.get(start)!, stored.get(start), store);
    }
  }
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
