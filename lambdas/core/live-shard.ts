/**
 * Live claims on stream ingest, one shard at a time: which readings of a Kinesis batch have not been pushed
 * live before, at about one read and one write of the shard's state per batch instead of a write per watched
 * sensor. Relies on the event source mapping handing one shard's records, in order, to one invocation at a
 * time (ParallelizationFactor 1, lib/telemetry.ts); a second consumer of the shard at once (a zombie retry)
 * loses the conditional save and its batch is retried.
 *
 * - A redelivered or retried batch: its records at or below the shard's `seq` were claimed and are skipped.
 * - A QoS 1 duplicate (a later record, same sensorId and ts): the shard's state holds, per recently active
 *   sensor, the ts pushed in its open minute; an earlier minute's pushed ts are in that sensor-minute's live
 *   mark (flushed there when the sensor's open minute moves on, or when the sensor goes idle), and a late
 *   reading is claimed there atomically. So every pushed key is in exactly one of the two, and none is pushed
 *   twice.
 */
import type { LiveMark, LiveMarks, LiveShardState, LiveShardStore, ReadingKey } from './ports.js';
import { isAfter } from './sequence.js';

export const MINUTE_MS = 60_000;
/** A sensor without readings for this long leaves the shard's state (its ts flushed to its minute's mark). */
export const IDLE_SENSOR_MS = 2 * MINUTE_MS;
/**
 * The shard's state stays under this many bytes (a write costs a unit per KB): past it, the sensors holding the
 * most ts are flushed to their minute marks and leave the state. Also keeps the item far from DynamoDB's 400 KB.
 */
export const MAX_STATE_BYTES = 64 * 1024;

export const minuteOf = (ts: number) => Math.floor(ts / MINUTE_MS) * MINUTE_MS;

/** The state's size as the adapter stores it: per sensor its id, a 4-byte minute and 2 bytes per ts. */
export function stateBytes(sensors: Map<string, { ts: { size: number } | { length: number } }>): number {
  let bytes = 0;
  for (const [sensorId, s] of sensors) bytes += Buffer.byteLength(sensorId) + 4 + 2 * ('size' in s.ts ? s.ts.size : s.ts.length) + 3;
  return bytes;
}

export interface ClaimItem {
  /** The stream record holding the reading. */
  seq: string;
  reading: ReadingKey;
}

/**
 * Claims readings for a live push on one shard and answers those never pushed before, in the order given.
 * `items` are the batch's followed readings in record order; `lastSeq` the batch's last record (the shard's new
 * `seq`); `read`, the shard's state when the caller read it already (with the subscriptions: one request), else
 * it is read here. Throws when the state cannot be read or saved: nothing is pushed, and the batch is retried.
 */
export async function claimOnShard(
  shardId: string,
  items: ClaimItem[],
  lastSeq: string,
  registry: LiveShardStore & Pick<LiveMarks, 'addLiveMarks'>,
  now: number,
  read?: LiveShardState,
): Promise<ReadingKey[]> {
  if (items.length === 0) return [];
  const state = read ?? (await registry.liveShard(shardId));
  const unclaimed = items.filter((i) => isAfter(i.seq, state.seq));
  if (unclaimed.length === 0) return [];

  const sensors = new Map([...state.sensors].map(([id, s]) => [id, { minute: s.minute, ts: new Set(s.ts), spilled: s.ts.length === 0 }]));
  /** Per sensor-minute mark: ts to flush into it (pushed before) and ts to claim in it (late or new sensors). */
  const marks = new Map<string, { sensorId: string; minute: number; flush: Set<number>; claim: ReadingKey[] }>();
  const markOf = (sensorId: string, minute: number) => {
    const id = `${sensorId}\u0000${minute}`;
    let mark = marks.get(id);
    if (!mark) marks.set(id, (mark = { sensorId, minute, flush: new Set(), claim: [] }));
    return mark;
  };
  const flush = (sensorId: string) => {
    const s = sensors.get(sensorId)!;
    // A spilled sensor's ts are in its mark already.
    for (const t of s.ts) markOf(sensorId, s.minute).flush.add(t);
    sensors.delete(sensorId);
  };
  const fresh = new Set<ReadingKey>();
  /** Sensors without state at the start: every reading is claimed in its minute's mark, then the state is rebuilt. */
  const rebuilt = new Map<string, number>();
  const touched = new Set<string>();

  const recent = minuteOf(now) - IDLE_SENSOR_MS;
  const claim = (reading: ReadingKey, minute: number) => {
    const mark = markOf(reading.sensorId, minute);
    if (!mark.flush.has(reading.ts) && !mark.claim.some((r) => r.ts === reading.ts)) mark.claim.push(reading);
  };
  for (const { reading } of unclaimed) {
    const { sensorId, ts } = reading;
    const minute = minuteOf(ts);
    touched.add(sensorId);
    const s = rebuilt.has(sensorId) ? undefined : sensors.get(sensorId);
    if (s && minute === s.minute && !s.spilled) {
      if (!s.ts.has(ts)) {
        s.ts.add(ts);
        fresh.add(reading);
      }
    } else if (s && minute > s.minute && minute >= recent) {
      flush(sensorId);
      sensors.set(sensorId, { minute, ts: new Set([ts]), spilled: false });
      fresh.add(reading);
    } else {
      // Late, older than the state keeps, or a sensor the state does not hold: its minute's mark decides.
      claim(reading, minute);
      if (!s && minute >= recent) rebuilt.set(sensorId, Math.max(rebuilt.get(sensorId) ?? minute, minute));
    }
  }
  for (const [sensorId, s] of sensors) {
    if (!touched.has(sensorId) && s.minute < recent) flush(sensorId);
  }
  // Past the size bound the largest sensors' ts move to their marks; the sensor stays, spilled: its open
  // minute's readings are then claimed in the mark. Still past it, the sensors of the oldest minutes leave.
  let bytes = stateBytes(sensors);
  if (bytes > MAX_STATE_BYTES) {
    for (const [id, s] of [...sensors].sort((x, y) => y[1].ts.size - x[1].ts.size)) {
      if (bytes <= MAX_STATE_BYTES || s.ts.size === 0) break;
      for (const t of s.ts) markOf(id, s.minute).flush.add(t);
      bytes -= 2 * s.ts.size;
      sensors.set(id, { minute: s.minute, ts: new Set(), spilled: true });
    }
    for (const [id] of [...sensors].sort((x, y) => x[1].minute - y[1].minute)) {
      if (bytes <= MAX_STATE_BYTES) break;
      bytes -= stateBytes(new Map([[id, sensors.get(id)!]]));
      flush(id);
    }
  }

  // Marks first: a crash after them and before the save makes the retry skip what they claimed (never twice).
  const written = [...marks.values()];
  const before = await registry.addLiveMarks(
    written.map(({ sensorId, minute, flush: f, claim }) => ({ sensorId, minute, ts: [...f, ...claim.map((r) => r.ts)] })),
    now,
  );
  written.forEach((mark, i) => {
    for (const r of mark.claim) if (!before[i].has(r.ts)) fresh.add(r);
    const open = rebuilt.get(mark.sensorId);
    if (open === mark.minute) {
      // The sensor's open minute again holds everything its mark held, so a later duplicate is found in the state.
      sensors.set(mark.sensorId, { minute: open, ts: new Set([...before[i], ...mark.claim.map((r) => r.ts)]), spilled: false });
    }
  });

  const saved = await registry.saveLiveShard(
    shardId,
    state.seq,
    { seq: lastSeq, sensors: new Map([...sensors].map(([id, s]) => [id, { minute: s.minute, ts: [...s.ts].sort((a, b) => a - b) }])) },
    now,
  );
  if (!saved) throw new Error(`shard ${shardId}: another consumer claimed its live batch first`);
  return unclaimed.map((i) => i.reading).filter((r) => fresh.has(r));
}

/** The shard a Kinesis record comes from: its eventID is `shardId-…:sequenceNumber`. */
export function shardOf(eventId: unknown): string | undefined {
  if (typeof eventId !== 'string') return undefined;
  const at = eventId.lastIndexOf(':');
  const shard = at > 0 ? eventId.slice(0, at) : '';
  return shard.startsWith('shardId-') ? shard : undefined;
}

export type { LiveMark, LiveShardState };
