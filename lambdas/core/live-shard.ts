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
 * - A busy sensor (thousands of readings a minute) would outgrow the state: past its size bound, the largest
 *   sensors' ts move to their minute marks, and the state keeps each one's floor, the newest ts moved. A reading
 *   above the floor is looked up in the state as before; one at or below it (a duplicate, a late reading) is claimed
 *   in the mark. A sensor's readings come in order, so a busy sensor costs a mark write per half state's worth of
 *   readings, not one per batch.
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

/** The state's size as the adapter stores it: per sensor its id, a 4-byte minute, 2 bytes per ts and 4 for a floor. */
export function stateBytes(sensors: Map<string, { ts: { size: number } | { length: number }; floor?: number }>): number {
  let bytes = 0;
  for (const [sensorId, s] of sensors) bytes += sensorBytes(sensorId, s);
  return bytes;
}

function sensorBytes(sensorId: string, s: { ts: { size: number } | { length: number }; floor?: number }): number {
  const floor = s.floor !== undefined && Number.isFinite(s.floor) ? FLOOR_BYTES : 0;
  return Buffer.byteLength(sensorId) + 4 + 2 * ('size' in s.ts ? s.ts.size : s.ts.length) + floor + 3;
}

const FLOOR_BYTES = 4;

/** How long a container claims on a shard's state only after reading it, once its own last save was found stale. */
export const DISTRUST_SAVED_MS = MINUTE_MS;
/** Shards whose last save a container keeps (a consumer reads a few; resharding closes old ones). */
const MAX_SAVED_SHARDS = 256;

/**
 * The live state this container saved last, per shard: the shard's next batch here claims on it without reading it
 * first, its conditional save telling whether another consumer moved the shard on meanwhile (then the batch reads
 * the state and claims again). Where a shard's batches keep changing containers, a container that found its save
 * stale reads first for a while instead of losing a save each batch.
 */
export class SavedShardStates {
  private readonly states = new Map<string, LiveShardState>();
  private readonly distrustedUntil = new Map<string, number>();

  /** The state saved last here, unless it was found stale lately. */
  get(shardId: string, now: number): LiveShardState | undefined {
    const until = this.distrustedUntil.get(shardId);
    if (until !== undefined && until > now) return undefined;
    return this.states.get(shardId);
  }

  remember(shardId: string, state: LiveShardState): void {
    this.states.delete(shardId);
    this.states.set(shardId, state);
    if (this.states.size > MAX_SAVED_SHARDS) this.states.delete(this.states.keys().next().value!);
  }

  /** Another consumer saved after this container did (or a save's outcome is unknown): read before the next claim. */
  forget(shardId: string, now: number, distrust: boolean): void {
    this.states.delete(shardId);
    if (!distrust) return;
    this.distrustedUntil.set(shardId, now + DISTRUST_SAVED_MS);
    for (const [id, until] of this.distrustedUntil) if (until <= now) this.distrustedUntil.delete(id);
  }
}

/**
 * A sensor's pushed ts in its open minute while a batch claims: the ascending list as saved, looked up by binary
 * search, and the ts the batch adds in a second ascending list (a sensor's readings come in order, so an add is
 * nearly always a push at its end). Saved again as the same list when nothing was added: most sensors of a shard
 * are not in a given batch, and those that are cost a lookup per reading, not a copy of their minute.
 */
class PushedInMinute {
  private saved: readonly number[];
  private checked = false;
  private readonly added: number[] = [];

  constructor(saved: readonly number[]) {
    this.saved = saved;
  }

  has(ts: number): boolean {
    return indexOf(this.ascendingSaved(), ts) >= 0 || indexOf(this.added, ts) >= 0;
  }

  /** Adds a ts not held yet. */
  add(ts: number): void {
    const last = this.added.length - 1;
    if (last < 0 || this.added[last] < ts) this.added.push(ts);
    else this.added.splice(insertionPoint(this.added, ts), 0, ts);
  }

  get size(): number {
    return this.saved.length + this.added.length;
  }

  [Symbol.iterator](): Iterator<number> {
    return this.list()[Symbol.iterator]();
  }

  /** In ascending order, as saved. */
  list(): readonly number[] {
    const saved = this.ascendingSaved();
    if (this.added.length === 0) return saved;
    if (saved.length === 0 || saved[saved.length - 1] < this.added[0]) return saved.concat(this.added);
    const merged: number[] = [];
    let i = 0;
    let j = 0;
    while (i < saved.length || j < this.added.length) {
      if (j >= this.added.length || (i < saved.length && saved[i] < this.added[j])) merged.push(saved[i++]);
      else merged.push(this.added[j++]);
    }
    return merged;
  }

  /** The saved list, sorted once if it came unsorted (a state is saved ascending; a foreign one may not be). */
  private ascendingSaved(): readonly number[] {
    if (!this.checked) {
      this.checked = true;
      for (let i = 1; i < this.saved.length; i++) {
        if (!(this.saved[i - 1] < this.saved[i])) {
          this.saved = [...new Set(this.saved)].sort((a, b) => a - b);
          break;
        }
      }
    }
    return this.saved;
  }
}

/** The first index of an ascending list whose value is not below `ts`. */
function insertionPoint(list: readonly number[], ts: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid] < ts) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Where `ts` is in an ascending list, or -1. */
function indexOf(list: readonly number[], ts: number): number {
  const at = insertionPoint(list, ts);
  return at < list.length && list[at] === ts ? at : -1;
}

/**
 * A sensor's open minute as a batch claims in it: the ts pushed in it that the state holds, and its floor, at or
 * below which its ts are in the minute's mark (-Infinity: none are; Infinity: all are, a state saved before floors,
 * whose sensor then had no ts).
 */
interface OpenMinute {
  minute: number;
  ts: PushedInMinute;
  floor: number;
}

/** A sensor's newest pushed ts in the state (its floor when the state holds none), for which sensor is quiet longest. */
const newestOf = (s: OpenMinute) => {
  const list = s.ts.list();
  return Math.max(list.length > 0 ? list[list.length - 1] : s.minute, Number.isFinite(s.floor) ? s.floor : s.minute);
};

const ascending = (ts: Iterable<number>) => new PushedInMinute([...new Set(ts)].sort((a, b) => a - b));

export interface ClaimItem {
  /** The stream record holding the reading. */
  seq: string;
  reading: ReadingKey;
}

export interface ClaimOptions {
  /** The shard's state when the caller read it already (with the subscriptions: one request), else it is read here. */
  read?: LiveShardState;
  /**
   * Records at or below this were claimed before. @default the state's `seq`; a second claim in one batch, on the
   * state its first claim saved, passes the `seq` the batch started from.
   */
  claimedUpTo?: string | null;
  /** Told each state saved, for the shard's next batch. */
  saved?: SavedShardStates;
  /** The state's size bound. @default MAX_STATE_BYTES (tests pass a small one, to meet it often) */
  maxStateBytes?: number;
}

type ShardRegistry = LiveShardStore & Pick<LiveMarks, 'addLiveMarks'>;

/**
 * Claims readings for a live push on one shard and answers those never pushed before, in the order given.
 * `items` are the batch's followed readings in record order; `lastSeq` the batch's last record (the shard's new
 * `seq`). Throws when the state cannot be read or saved: nothing is pushed, and the batch is retried.
 */
export async function claimOnShard(
  shardId: string,
  items: ClaimItem[],
  lastSeq: string,
  registry: ShardRegistry,
  now: number,
  options: ClaimOptions = {},
): Promise<ReadingKey[]> {
  return (await claim(shardId, items, lastSeq, registry, now, options, false))!;
}

/**
 * The same on `saved`, this container's last save of the shard, which another consumer may have moved on since:
 * undefined, with nothing written, when a reading needs its minute's mark claimed (that needs the shard's current
 * state); undefined, with at most closed minutes flushed to their marks (harmless), when the save finds the shard
 * moved on. Either way the caller reads the state and claims again.
 */
export async function claimOnSavedState(
  shardId: string,
  items: ClaimItem[],
  lastSeq: string,
  registry: ShardRegistry,
  now: number,
  saved: SavedShardStates,
  maxStateBytes?: number,
): Promise<ReadingKey[] | undefined> {
  const read = saved.get(shardId, now);
  if (read === undefined) return undefined;
  return claim(shardId, items, lastSeq, registry, now, { read, saved, maxStateBytes }, true);
}

async function claim(
  shardId: string,
  items: ClaimItem[],
  lastSeq: string,
  registry: ShardRegistry,
  now: number,
  { read, claimedUpTo, saved, maxStateBytes: bound = MAX_STATE_BYTES }: ClaimOptions,
  speculative: boolean,
): Promise<ReadingKey[] | undefined> {
  if (items.length === 0) return [];
  const state = read ?? (await registry.liveShard(shardId));
  const upTo = claimedUpTo === undefined ? state.seq : claimedUpTo;
  const unclaimed = items.filter((i) => isAfter(i.seq, upTo));
  if (unclaimed.length === 0) return [];

  const sensors = new Map<string, OpenMinute>(
    [...state.sensors].map(([id, s]) => [
      id,
      { minute: s.minute, ts: new PushedInMinute(s.ts), floor: s.floor ?? (s.ts.length === 0 ? Infinity : -Infinity) },
    ]),
  );
  /** Per sensor-minute mark: ts to flush into it (pushed before) and ts to claim in it (late or new sensors). */
  const marks = new Map<string, { sensorId: string; minute: number; flush: Set<number>; claim: ReadingKey[] }>();
  const markId = (sensorId: string, minute: number) => `${sensorId}\u0000${minute}`;
  const markOf = (sensorId: string, minute: number) => {
    const id = markId(sensorId, minute);
    let mark = marks.get(id);
    if (!mark) marks.set(id, (mark = { sensorId, minute, flush: new Set(), claim: [] }));
    return mark;
  };
  const flush = (sensorId: string) => {
    const s = sensors.get(sensorId)!;
    // The ts at or below its floor are in its mark already.
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
    if (s && minute === s.minute && ts > s.floor) {
      if (!s.ts.has(ts)) {
        s.ts.add(ts);
        fresh.add(reading);
      }
    } else if (s && minute > s.minute && minute >= recent) {
      flush(sensorId);
      sensors.set(sensorId, { minute, ts: new PushedInMinute([ts]), floor: -Infinity });
      fresh.add(reading);
    } else {
      // Late, at or below its floor, older than the state keeps, or a sensor the state does not hold: its minute's
      // mark decides.
      claim(reading, minute);
      if (!s && minute >= recent) rebuilt.set(sensorId, Math.max(rebuilt.get(sensorId) ?? minute, minute));
    }
  }
  for (const [sensorId, s] of sensors) {
    if (!touched.has(sensorId) && s.minute < recent) flush(sensorId);
  }
  // Past the size bound, first the sensors this batch did not touch leave, the longest quiet first: each costs
  // one mark write, once, and at most a claim in that mark when it sends again. Then the largest sensors' ts move
  // to their marks, down to half the bound, so this is not again at the next batch; each keeps its floor. Still
  // past it (a fleet of sensors more than the state holds), the sensors of the oldest minutes leave.
  let bytes = stateBytes(sensors);
  if (bytes > bound) {
    const quiet = [...sensors].filter(([id]) => !touched.has(id)).map(([id, s]) => ({ id, s, newest: newestOf(s) }));
    for (const { id, s } of quiet.sort((x, y) => x.newest - y.newest)) {
      if (bytes <= bound) break;
      bytes -= sensorBytes(id, s);
      flush(id);
    }
  }
  if (bytes > bound) {
    for (const [id, s] of [...sensors].sort((x, y) => y[1].ts.size - x[1].ts.size)) {
      if (bytes <= bound / 2 || s.ts.size === 0) break;
      const list = s.ts.list();
      for (const t of list) markOf(id, s.minute).flush.add(t);
      const moved: OpenMinute = { minute: s.minute, ts: new PushedInMinute([]), floor: Math.max(s.floor, list[list.length - 1]) };
      bytes += sensorBytes(id, moved) - sensorBytes(id, s);
      sensors.set(id, moved);
    }
    for (const [id, s] of [...sensors].sort((x, y) => x[1].minute - y[1].minute)) {
      if (bytes <= bound) break;
      bytes -= sensorBytes(id, s);
      flush(id);
    }
  }

  // Marks first: a crash after them and before the save makes the retry skip what they claimed (never twice).
  const written = [...marks.values()];
  // Claimed on a state maybe stale, a mark could take a reading as pushed that the shard's consumer never pushed:
  // one it claims, or one this batch put in a minute it then closed (so far `fresh` holds exactly those the batch
  // put in the state, flushed before the save could fail: to the mark of its own minute, as every ts of a state is).
  const flushedUnpushed = (r: ReadingKey) => marks.get(markId(r.sensorId, minuteOf(r.ts)))?.flush.has(r.ts) === true;
  if (speculative && (written.some((mark) => mark.claim.length > 0) || [...fresh].some(flushedUnpushed))) return undefined;
  const before = await registry.addLiveMarks(
    written.map(({ sensorId, minute, flush: f, claim }) => ({
      sensorId,
      minute,
      ts: [...f, ...claim.map((r) => r.ts)],
      // Only a claim, or a sensor whose open minute is rebuilt from its mark, needs the mark as it was.
      before: claim.length > 0 || rebuilt.get(sensorId) === minute ? 'all' : 'none',
    })),
    now,
  );
  written.forEach((mark, i) => {
    for (const r of mark.claim) if (!before[i].has(r.ts)) fresh.add(r);
    const open = rebuilt.get(mark.sensorId);
    if (open === mark.minute) {
      // The sensor's open minute again holds everything its mark held, so a later duplicate is found in the state.
      sensors.set(mark.sensorId, { minute: open, ts: ascending([...before[i], ...mark.claim.map((r) => r.ts)]), floor: -Infinity });
    }
  });

  const next: LiveShardState = {
    seq: lastSeq,
    sensors: new Map(
      [...sensors].map(([id, s]) => [
        id,
        { minute: s.minute, ts: s.ts.list() as number[], ...(Number.isFinite(s.floor) ? { floor: s.floor } : {}) },
      ]),
    ),
  };
  let stored: boolean;
  try {
    stored = await registry.saveLiveShard(shardId, state.seq, next, now);
  } catch (err) {
    // The save may have landed or not: the next batch reads the state.
    saved?.forget(shardId, now, false);
    throw err;
  }
  if (!stored) {
    saved?.forget(shardId, now, speculative);
    if (speculative) return undefined;
    throw new Error(`shard ${shardId}: another consumer claimed its live batch first`);
  }
  saved?.remember(shardId, next);
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
