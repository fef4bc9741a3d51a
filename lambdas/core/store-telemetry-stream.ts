/**
 * The history writer on stream ingest. Kinesis hands one shard's records in order, one batch at a time, and a
 * sensor's records all go to one shard (partition key = sensorId): so one invocation at a time works on a
 * sensor, and it can keep its progress on the sensor's registry entry instead of re-reading what it wrote.
 *
 * Per sensor per batch, the registry entry and the touched buckets are read once (one round for all); the
 * readings newer than every one before them go into new packs (lambdas/core/reading-pack.ts), written
 * unconditionally and never read back to be written; buckets are merged and written back whole; the registry
 * once, conditional on the progress read. Readings are written only for what the batch adds, so a batch costs
 * the same whether its minute already holds 10 readings or 3,000.
 *
 * What holds, and why:
 * - First write wins: a reading newer than the sensor's newest stored one (`storedMaxTs`) cannot have been
 *   stored by an earlier record (an unfinished earlier attempt at these very records may have written it, with
 *   the same first value: writing it again is harmless). An older ("late") one is looked up, in the packs of
 *   its minute up to its ts and as a single item, in one extra round taken only when a batch has late readings.
 * - A pack holds only readings newer than every reading before them in the stream. Whatever split a retry
 *   has, the progress it meets covers only records before such a reading, so the reading is never late there:
 *   a reading found in a pack was stored by a record already done, and the one looked up is a duplicate.
 * - Every other reading stored is a single item with the sequence number of its record (`seq`): found later
 *   with a seq after the sensor's `streamSeq`, it was stored by an unfinished attempt at these very records,
 *   so it still counts as new (with its stored values) for roll-ups and alerts.
 * - Exact roll-ups: a bucket remembers the newest record merged into it (`seq`); a record is merged only
 *   into buckets that have not seen it, so a batch retried after a crash (whole, or from its first failed
 *   record, split differently) never counts a reading twice nor misses one.
 * - A redelivered batch: records at or before the sensor's `streamSeq` were wholly done and are skipped.
 * Two writers on one sensor at once (which Kinesis does not do) would make one registry write fail, and that
 * batch be retried; their bucket writes could overwrite each other, so this path relies on Kinesis' one
 * consumer per shard.
 */
import { METRICS } from '../shared/names.js';
import { acceptedReadings } from './accepted-readings.js';
import { inParallel } from './concurrency.js';
import type { AggregateResolution, Bucket, Reading } from './model.js';
import type { BucketKey, PackRange, ReadingPack, StoredReading, StreamProgress } from './ports.js';
import { PACK_MAX_BYTES, packEntryBytes, packItemBytes, packMinute } from './reading-pack.js';
import { aggregatePoints, bucketId, bucketStart, mergeBuckets } from './rollups.js';
import { type SequencedEvent, compareSequence, isAfter } from './sequence.js';
import { SENSOR_CONCURRENCY, type StoreDeps, type StoreOutcome, rejectInvalid } from './store-telemetry.js';

export interface StreamStoreResult {
  outcomes: StoreOutcome[];
  /** The first record not wholly stored: the stream retries from it (later records are idempotent). */
  firstFailure: string | null;
}

interface Entry {
  reading: Reading;
  seq: string;
  index: number;
  /** Not newer than every reading before it (stored, or earlier in the stream): a single item with its seq. */
  late?: boolean;
}

/** One sensor's share of the batch. */
interface SensorWork {
  sensorId: string;
  previous: StreamProgress;
  /** Records after `previous.streamSeq`, one reading per key (the first in stream order). */
  pending: Entry[];
  /** Of those, the first stored ones: by this batch, or by an earlier attempt at the same records. */
  fresh: Entry[];
  toWrite: Entry[];
  failed: boolean;
}

/** Late readings closer than this share one pack lookup (a Query reads the packs between them too). */
const LATE_RANGE_GAP_MS = 10 * 60_000;
const NO_PROGRESS: StreamProgress = { streamSeq: null, storedMaxTs: null, latestTs: null };
const RESOLUTIONS: AggregateResolution[] = ['1m', '1h'];
const keyOf = (sensorId: string, ts: number) => `${sensorId}\u0000${ts}`;
const maxSeq = (a: string | undefined, b: string) => (a === undefined || compareSequence(b, a) > 0 ? b : a);

export async function storeTelemetryStream(records: SequencedEvent[], deps: StoreDeps): Promise<StreamStoreResult> {
  deps.metrics.observe(METRICS.batchSize, records.length);
  const { verdicts } = acceptedReadings(
    records.map((r) => r.event),
    deps.rawRetentionDays,
  );
  const outcomes: StoreOutcome[] = [];
  const failedRecords = new Set<number>();
  const rejections = Promise.all(
    rejectInvalid(verdicts, outcomes, deps).map((kept, index) =>
      kept?.catch((err: Error) => {
        deps.log.error('dead-letter failed', { error: err.message, sequenceNumber: records[index].sequenceNumber });
        failedRecords.add(index);
      }),
    ),
  );

  const entries = new Map<string, Entry[]>();
  for (const v of verdicts) {
    if (!v.ok) continue;
    for (const reading of v.readings) {
      const list = entries.get(reading.sensorId);
      const entry = { reading, seq: records[v.index].sequenceNumber, index: v.index };
      if (list) list.push(entry);
      else entries.set(reading.sensorId, [entry]);
    }
  }
  const work = await storeSensors(entries, deps);
  await rejections;

  const storedPerRecord = new Map<number, number>();
  for (const w of work) {
    for (const e of w.fresh) storedPerRecord.set(e.index, (storedPerRecord.get(e.index) ?? 0) + 1);
    if (w.failed && w.pending.length > 0) failedRecords.add(w.pending[0].index);
  }
  for (const v of verdicts) {
    if (!v.ok) continue;
    const stored = storedPerRecord.get(v.index) ?? 0;
    outcomes[v.index] = { accepted: true, stored, duplicates: v.readings.length - stored };
  }
  const first = failedRecords.size > 0 ? Math.min(...failedRecords) : null;
  return { outcomes, firstFailure: first === null ? null : records[first].sequenceNumber };
}

/** Stores every sensor's readings; a sensor whose work fails is marked `failed`, the others complete. */
async function storeSensors(entries: Map<string, Entry[]>, deps: StoreDeps): Promise<SensorWork[]> {
  if (entries.size === 0) return [];
  const sensorIds = [...entries.keys()];
  const work: SensorWork[] = [];
  const fail = (items: SensorWork[], err: unknown, step: string) => {
    const live = items.filter((w) => !w.failed && w.pending.length > 0);
    if (live.length > 0) deps.log.error(`stream batch: ${step} failed`, { error: (err as Error).message, sensors: live.length });
    for (const w of live) w.failed = true;
  };

  // 1. What is known: each sensor's progress and the buckets its readings touch, in one round.
  const touched = new Map<string, BucketKey>();
  for (const list of entries.values()) {
    for (const { reading } of list) {
      for (const resolution of RESOLUTIONS) {
        const key = { sensorId: reading.sensorId, resolution, ts: bucketStart(reading.ts, resolution) };
        touched.set(bucketId(key), key);
      }
    }
  }
  let progress: Map<string, StreamProgress>;
  let buckets: Map<string, Bucket>;
  try {
    const [p, b] = await Promise.all([deps.sensors.streamProgress(sensorIds), deps.rollups.getBuckets([...touched.values()])]);
    progress = p;
    buckets = new Map(b.map((found) => [bucketId(found), found.bucket]));
  } catch (err) {
    const all = sensorIds.map((sensorId) => ({
      sensorId,
      previous: NO_PROGRESS,
      pending: entries.get(sensorId)!,
      fresh: [],
      toWrite: [],
      failed: false,
    }));
    fail(all, err, 'reading progress');
    return all;
  }

  // 2. Per sensor, the records not done yet, one reading per key.
  for (const [sensorId, list] of entries) {
    const previous = progress.get(sensorId) ?? NO_PROGRESS;
    const seen = new Set<number>();
    const pending = list.filter((e) => isAfter(e.seq, previous.streamSeq) && !seen.has(e.reading.ts) && seen.add(e.reading.ts));
    work.push({ sensorId, previous, pending, fresh: [], toWrite: [], failed: false });
  }

  // 3. Which are new: a reading newer than everything stored is; an older one is looked up in the packs of
  // its minute and as a single item (what was stored late, or by direct ingest).
  const lookups: Entry[] = [];
  for (const w of work) {
    let newest = w.previous.storedMaxTs;
    for (const e of w.pending) {
      if (w.previous.storedMaxTs === null || e.reading.ts > w.previous.storedMaxTs) {
        w.fresh.push(e);
        // Older than a reading before it in the stream: a retry split after that one would find it late.
        w.toWrite.push(newest !== null && e.reading.ts < newest ? { ...e, late: true } : e);
        if (newest === null || e.reading.ts > newest) newest = e.reading.ts;
      } else lookups.push(e);
    }
  }
  let packed = new Set<string>();
  let stored = new Map<string, StoredReading>();
  try {
    if (lookups.length > 0) {
      const [packs, singles] = await Promise.all([
        deps.readings.packsIn(lateRanges(lookups)),
        deps.readings.existing(lookups.map((e) => ({ sensorId: e.reading.sensorId, ts: e.reading.ts }))),
      ]);
      packed = new Set(packs.flatMap((pack) => [...pack.readings.keys()].map((ts) => keyOf(pack.sensorId, ts))));
      stored = new Map(singles.map((found) => [keyOf(found.sensorId, found.ts), found]));
    }
  } catch (err) {
    fail(work, err, 'reading stored keys');
    return work;
  }
  const byId = new Map(work.map((w) => [w.sensorId, w]));
  for (const e of lookups) {
    const w = byId.get(e.reading.sensorId)!;
    const key = keyOf(w.sensorId, e.reading.ts);
    // In a pack: stored by a record already done (see the top).
    if (packed.has(key)) continue;
    const existing = stored.get(key);
    if (!existing) {
      w.fresh.push(e);
      w.toWrite.push({ ...e, late: true });
    } else if (existing.seq !== undefined && isAfter(existing.seq, w.previous.streamSeq)) {
      // Stored by an earlier attempt at these very records that did not finish: still to roll up, as stored.
      w.fresh.push({ reading: { ...e.reading, values: existing.values }, seq: existing.seq, index: e.index });
    }
  }

  // 4. Packs, single items (late readings) and buckets, all sensors' in shared requests, at once: any of them
  // may land without the others, and a retry still finds what it needs (see the top).
  const writing = work.filter((w) => w.toWrite.length > 0);
  const merging = work.filter((w) => w.fresh.length > 0);
  const nextPacks: ReadingPack[] = [];
  const singles: Array<Reading & { seq: string }> = [];
  for (const w of writing) packInto(w, deps.packMaxBytes ?? PACK_MAX_BYTES, nextPacks, singles);
  const [packsWritten, bucketsWritten] = await Promise.allSettled([
    Promise.all([
      nextPacks.length > 0 ? deps.readings.putPacks(nextPacks) : undefined,
      singles.length > 0 ? deps.readings.putAll(singles) : undefined,
    ]),
    (async () => {
      const next = merging.flatMap((w) => mergedBuckets(w, buckets));
      if (next.length > 0) await deps.rollups.putBuckets(next);
    })(),
  ]);
  if (packsWritten.status === 'rejected') fail(writing, packsWritten.reason, 'writing raw readings');
  if (bucketsWritten.status === 'rejected') fail(merging, bucketsWritten.reason, 'writing roll-ups');

  // 5. Alerts see the new readings before the registry's `latest` moves past them.
  const done = work.filter((w) => !w.failed && w.pending.length > 0);
  try {
    const fresh = done.flatMap((w) => w.fresh.map((e) => e.reading));
    if (fresh.length > 0) await deps.onStored?.(fresh);
  } catch (err) {
    fail(done, err, 'onStored');
  }

  // 6. The registry, with the sensor's progress: from here a redelivery of these records is skipped.
  await inParallel(
    work.filter((w) => !w.failed && w.pending.length > 0),
    SENSOR_CONCURRENCY,
    async (w) => {
      let storedMaxTs = w.previous.storedMaxTs;
      let streamSeq: string | undefined;
      for (const e of w.pending) streamSeq = maxSeq(streamSeq, e.seq);
      for (const e of w.fresh) if (storedMaxTs === null || e.reading.ts > storedMaxTs) storedMaxTs = e.reading.ts;
      try {
        await deps.sensors.recordReadings(
          w.sensorId,
          w.pending.map((e) => e.reading),
          { previous: w.previous, next: { streamSeq: streamSeq!, storedMaxTs } },
        );
      } catch (err) {
        fail([w], err, 'writing the registry');
      }
    },
  );
  return work;
}

/**
 * The pack ranges to look late readings up in: per sensor, from a late reading's minute to the newest late
 * reading, one range over late readings at most LATE_RANGE_GAP_MS apart, so a replayed offline buffer of a day
 * is one Query per sensor, not one per minute, and two late readings a week apart are two small ones.
 */
function lateRanges(late: Entry[]): PackRange[] {
  const bySensor = new Map<string, number[]>();
  for (const { reading } of late) {
    const list = bySensor.get(reading.sensorId);
    if (list) list.push(reading.ts);
    else bySensor.set(reading.sensorId, [reading.ts]);
  }
  const ranges: PackRange[] = [];
  for (const [sensorId, list] of bySensor) {
    let range: PackRange | undefined;
    for (const ts of list.sort((a, b) => a - b)) {
      if (range && packMinute(ts) - range.to <= LATE_RANGE_GAP_MS) range.to = ts;
      else ranges.push((range = { sensorId, from: packMinute(ts), to: ts }));
    }
  }
  return ranges;
}

/**
 * A sensor's readings to write: those newer than every one before them (in ts order, as the stream brought
 * them) in new packs, one per minute they span, the next begun where one would grow past the cap; late ones as
 * single items with their seq.
 */
function packInto(w: SensorWork, maxBytes: number, out: ReadingPack[], singles: Array<Reading & { seq: string }>) {
  let pack: ReadingPack | undefined;
  let bytes = 0;
  for (const e of w.toWrite) {
    if (e.late) {
      singles.push({ ...e.reading, seq: e.seq });
      continue;
    }
    const grows = pack ? packEntryBytes(e.reading.ts - pack.start, e.reading.values) : 0;
    if (!pack || packMinute(e.reading.ts) !== packMinute(pack.start) || bytes + grows > maxBytes) {
      pack = { sensorId: w.sensorId, start: e.reading.ts, readings: new Map([[e.reading.ts, e.reading.values]]) };
      bytes = packItemBytes(pack);
      out.push(pack);
      continue;
    }
    pack.readings.set(e.reading.ts, e.reading.values);
    bytes += grows;
  }
}

/** A sensor's fresh readings merged into each bucket they touch that has not seen their record. */
function mergedBuckets(w: SensorWork, known: Map<string, Bucket>) {
  const out: Array<{ sensorId: string; resolution: AggregateResolution; bucket: Bucket }> = [];
  for (const resolution of RESOLUTIONS) {
    const groups = new Map<number, Entry[]>();
    for (const e of w.fresh) {
      const start = bucketStart(e.reading.ts, resolution);
      const group = groups.get(start);
      if (group) group.push(e);
      else groups.set(start, [e]);
    }
    for (const [start, group] of groups) {
      const current = known.get(bucketId({ sensorId: w.sensorId, resolution, ts: start }));
      const add = group.filter((e) => isAfter(e.seq, current?.seq));
      if (add.length === 0) continue;
      const delta = aggregatePoints(
        add.map((e) => e.reading).sort((a, b) => a.ts - b.ts),
        resolution,
      )[0];
      const bucket: Bucket = current ? mergeBuckets([current, delta], resolution)[0] : delta;
      let seq = current?.seq;
      for (const e of add) seq = maxSeq(seq, e.seq);
      bucket.seq = seq;
      out.push({ sensorId: w.sensorId, resolution, bucket });
    }
  }
  return out;
}
