/**
 * Roll-ups: 1-minute and 1-hour buckets kept current from the stored raw readings, so that maintenance is
 * idempotent: a redelivered reading or a retried invocation can never count twice.
 */
import type { AggregateResolution, Bucket, MetricStats, RawPoint, Reading } from './model.js';
import { inParallel } from './concurrency.js';
import { BUCKET_MS } from './model.js';
import type { BucketKey, ReadingStore, RollupStore } from './ports.js';

export function bucketStart(ts: number, resolution: AggregateResolution): number {
  const size = BUCKET_MS[resolution];
  return Math.floor(ts / size) * size;
}

/** A metric's stats; own properties only, so a metric named like an Object.prototype member (`constructor`) works. */
function own(stats: Record<string, MetricStats>, metric: string): MetricStats | undefined {
  return Object.hasOwn(stats, metric) ? stats[metric] : undefined;
}

function addValue(stats: Record<string, MetricStats>, metric: string, value: number): void {
  const s = own(stats, metric);
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
  const s = own(stats, metric);
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
/** Sensors whose buckets are refreshed at once. */
const SENSOR_CONCURRENCY = 8;

export const bucketId = (k: BucketKey) => `${k.sensorId}\u0000${k.resolution}\u0000${k.ts}`;

/**
 * Raw reads of one sensor's refresh. A minute's and its hour's incremental reads both run to the end of
 * the hour, so when both buckets end at the same reading (the usual case) they share one query.
 */
class RawReads {
  private readonly cache = new Map<string, Promise<RawPoint[]>>();
  constructor(
    private readonly sensorId: string,
    private readonly store: ReadingStore,
  ) {}

  after(lastTs: number, hourEnd: number, fresh: boolean): Promise<RawPoint[]> {
    const key = `${lastTs}:${hourEnd}`;
    const cached = fresh ? undefined : this.cache.get(key);
    if (cached) return cached;
    const read = this.store.queryRaw({ sensorId: this.sensorId, from: lastTs + 1, to: hourEnd, consistent: true }).then((r) => r.points);
    this.cache.set(key, read);
    return read;
  }
}

/**
 * Brings one bucket up to date with readings just stored in it. When they are all later than the bucket's
 * newest reading, only the raw readings after that one are read and merged in; otherwise (a late reading,
 * a redelivery, a retried invocation) the bucket is recomputed whole: from the raw readings for a minute,
 * from the minute buckets for an hour. Writes are conditional on the bucket read, and a lost race starts
 * over, so concurrent writers never lose or double-count a reading.
 */
async function refreshBucket(key: BucketKey, earliestNew: number, known: Bucket | undefined, raw: RawReads, store: Stores): Promise<void> {
  const { sensorId, resolution, ts: start } = key;
  const end = start + BUCKET_MS[resolution];
  let current = known;
  for (let attempt = 0; attempt < MAX_BUCKET_ATTEMPTS; attempt++) {
    if (attempt > 0) current = (await store.rollups.getBuckets([key]))[0]?.bucket;
    let next: Bucket | undefined;
    if (current?.lastTs !== undefined && earliestNew > current.lastTs) {
      const points = (await raw.after(current.lastTs, bucketStart(start, '1h') + BUCKET_MS['1h'], attempt > 0)).filter((p) => p.ts < end);
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
 * Brings the 1-minute and then the 1-hour buckets touched by these (stored) readings up to date, for any
 * number of sensors: the touched buckets are read with one batch, then each sensor's are refreshed.
 * Idempotent: refreshing again with the same readings changes nothing.
 */
export async function refreshRollupsOf(readings: Reading[], store: Stores): Promise<void> {
  if (readings.length === 0) return;
  const touched = new Map<string, { key: BucketKey; earliest: number }>();
  for (const r of readings) {
    for (const resolution of ['1m', '1h'] as const) {
      const key: BucketKey = { sensorId: r.sensorId, resolution, ts: bucketStart(r.ts, resolution) };
      const id = bucketId(key);
      const entry = touched.get(id);
      if (!entry) touched.set(id, { key, earliest: r.ts });
      else if (r.ts < entry.earliest) entry.earliest = r.ts;
    }
  }
  const stored = new Map((await store.rollups.getBuckets([...touched.values()].map((t) => t.key))).map((b) => [bucketId(b), b.bucket]));
  const bySensor = new Map<string, Array<{ key: BucketKey; earliest: number }>>();
  for (const t of touched.values()) {
    const list = bySensor.get(t.key.sensorId);
    if (list) list.push(t);
    else bySensor.set(t.key.sensorId, [t]);
  }
  await inParallel([...bySensor], SENSOR_CONCURRENCY, async ([sensorId, buckets]) => {
    const raw = new RawReads(sensorId, store.readings);
    // Minutes first: an hour recomputed whole is merged from its minutes.
    buckets.sort((a, b) => (a.key.resolution === b.key.resolution ? a.key.ts - b.key.ts : a.key.resolution === '1m' ? -1 : 1));
    for (const { key, earliest } of buckets) {
      await refreshBucket(key, earliest, stored.get(bucketId(key)), raw, store);
    }
  });
}

/** The same, for readings of one sensor. */
export async function refreshRollups(sensorId: string, readings: Reading[], store: Stores): Promise<void> {
  await refreshRollupsOf(
    readings.filter((r) => r.sensorId === sensorId),
    store,
  );
}
