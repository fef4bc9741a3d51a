/**
 * The ports the core owns. Adapters implement them (DynamoDB, API Gateway management API, IoT data plane,
 * SQS); tests pass plain fakes.
 */
import type { ServerFrame } from '../shared/contract.js';
import type { CounterMetric, ObservedMetric } from '../shared/names.js';
import type { AggregateResolution, Bucket, PresenceState, RawPoint, Reading, SensorRecord } from './model.js';

export type { CounterMetric, ObservedMetric };

export interface RawRange {
  sensorId: string;
  /** Inclusive. */
  from: number;
  /** Exclusive. */
  to: number;
  /** Only points with ts greater than this (the page cursor). */
  after?: number;
  /** At most this many items are read; absent reads the whole range. */
  maxItems?: number;
  /** Sees every write completed before the read (roll-ups recomputed right after their readings are stored). */
  consistent?: boolean;
}

/** A stored raw reading as the stream path reads it back: `seq` is the stream record that wrote it. */
export interface StoredReading {
  sensorId: string;
  ts: number;
  values: Record<string, number>;
  seq?: string;
}

/**
 * A run of a sensor's raw readings within one UTC minute, kept in one item (stream ingest:
 * lambdas/core/reading-pack.ts). Its key is its oldest reading's ts. A history batch writes a new pack for the
 * readings it adds, so a pack is never read to be written, and a write costs what the batch adds.
 */
export interface ReadingPack {
  sensorId: string;
  /** Its oldest reading's ts, the item's sort key; all its readings are of the same UTC minute. */
  start: number;
  /** ts → values, one entry per stored reading. */
  readings: Map<number, Record<string, number>>;
}

/** A sensor's packs whose key is in [from, to]. */
export interface PackRange {
  sensorId: string;
  from: number;
  to: number;
}

export interface ReadingStore {
  /**
   * Stores the readings whose key (sensorId, ts) is new and returns exactly those: the first write wins, also
   * between concurrent callers (direct ingest).
   */
  insertNew(readings: Reading[]): Promise<Reading[]>;
  /** The stored readings at these keys (strongly consistent); missing keys are left out. */
  existing(keys: ReadingKey[]): Promise<StoredReading[]>;
  /**
   * Writes readings unconditionally, each with the sequence number of the stream record it came from (stream
   * ingest: the caller has already ruled out keys stored by earlier records).
   */
  putAll(readings: Array<Reading & { seq: string }>): Promise<void>;
  /** The packs whose key is in one of these ranges (strongly consistent). */
  packsIn(ranges: PackRange[]): Promise<ReadingPack[]>;
  /** Writes packs, unconditionally, in batches (stream ingest: the caller owns their sensors). */
  putPacks(packs: ReadingPack[]): Promise<void>;
  /** Raw points (single items and packs alike) in ascending ts, and how many items were read. */
  queryRaw(range: RawRange): Promise<{ points: RawPoint[]; itemsRead: number }>;
}

export interface BucketRange extends RawRange {
  resolution: AggregateResolution;
}

export interface BucketKey {
  sensorId: string;
  resolution: AggregateResolution;
  /** The bucket's start. */
  ts: number;
}

export interface RollupStore {
  /** The stored buckets at these keys (strongly consistent); keys without a bucket are left out. */
  getBuckets(keys: BucketKey[]): Promise<Array<BucketKey & { bucket: Bucket }>>;
  /**
   * Writes a bucket if the stored one still aggregates `expectedReadings` readings (null: if there is none
   * yet); false when another writer changed it first.
   */
  putBucket(sensorId: string, resolution: AggregateResolution, bucket: Bucket, expectedReadings: number | null): Promise<boolean>;
  /** Writes buckets unconditionally, in batches (stream ingest: the caller is the only writer of their sensors). */
  putBuckets(buckets: Array<{ sensorId: string; resolution: AggregateResolution; bucket: Bucket }>): Promise<void>;
  queryBuckets(range: BucketRange): Promise<{ buckets: Bucket[]; itemsRead: number }>;
}

/** Where the stream path has got to for one sensor, kept on its registry entry. */
export interface StreamProgress {
  /** The newest stream record whose readings are wholly stored, rolled up and registered (null: none yet). */
  streamSeq: string | null;
  /** The newest reading ts stored by those records: a later reading cannot have been stored before. */
  storedMaxTs: number | null;
  /** The ts of the registry's `latest` reading. */
  latestTs: number | null;
}

export interface SensorRegistry {
  /**
   * Records newly stored readings of one sensor: metrics, units, receive time, and the latest reading. With
   * `progress` (stream ingest) it also moves the sensor's progress to `next`, only if it still is `previous`.
   */
  recordReadings(
    sensorId: string,
    readings: Reading[],
    progress?: { previous: StreamProgress; next: { streamSeq: string; storedMaxTs: number | null } },
  ): Promise<void>;
  /** The stream progress of these sensors (strongly consistent); a sensor never recorded is absent. */
  streamProgress(sensorIds: string[]): Promise<Map<string, StreamProgress>>;
  /**
   * Applies a presence event when it supersedes the applied one (presenceSupersedes, contract §6), atomically;
   * true when applied. A disconnect of a sensor without readings also starts its 24 h forgetting (contract §5).
   */
  applyPresence(sensorId: string, state: PresenceState): Promise<boolean>;
  /** The sensor, unless never seen or forgotten (past its forget time, even before the store deletes it). */
  get(sensorId: string): Promise<SensorRecord | undefined>;
  /** Every sensor seen and not forgotten. */
  list(): Promise<SensorRecord[]>;
  /**
   * One page of the registry, in the store's order: at most `limit` records after the sensor `after`, and the
   * sensor to continue after (null on the last page).
   */
  listPage(limit: number, after?: string): Promise<{ records: SensorRecord[]; lastKey: string | null }>;
}

export interface ReadingKey {
  sensorId: string;
  ts: number;
}

/** WebSocket connections as they open and close (the table holds one item per open connection). */
export interface ConnectionStore {
  open(connectionId: string, now: number): Promise<void>;
  /** Forgets the connection and all its subscriptions; when it had any, then moves the subscriptions' version on. */
  close(connectionId: string): Promise<void>;
}

/** One connection's subscription set, as its `subscribe`/`unsubscribe` frames change it. */
export interface SubscriptionStore {
  subscriptions(connectionId: string): Promise<string[]>;
  /**
   * Replaces the subscription set, then moves the subscriptions' version on (SubscriptionSnapshots), so a reader
   * that sees the new version sees the new set.
   */
  setSubscriptions(connectionId: string, next: string[], now: number): Promise<void>;
}

/** Contract §6's per-connection command rate. */
export interface CommandBudget {
  /** Takes one command token from the connection's per-second budget; false when it is spent. */
  takeCommandToken(connectionId: string, now: number, perSecond: number): Promise<boolean>;
}

/** Sensor-minute marks of the readings pushed live, so none is pushed twice. */
export interface LiveMarks {
  /**
   * Claims readings for a live push, atomically (so concurrent callers never both claim one); returns those
   * no one claimed before (direct ingest).
   */
  markPushed(readings: ReadingKey[], now: number): Promise<ReadingKey[]>;
  /**
   * Adds ts to sensor-minute live marks, each atomically, and answers each mark's ts as they were before, in
   * the order given (none for a mark whose `before` is `none`).
   */
  addLiveMarks(marks: LiveMark[], now: number): Promise<Array<Set<number>>>;
}

/** Each stream shard's live state (lambdas/core/live-shard.ts). */
export interface LiveShardStore {
  /** A stream shard's live state (strongly consistent); `seq` null and no sensors when never saved. */
  liveShard(shardId: string): Promise<LiveShardState>;
  /** Saves a shard's live state if its `seq` still is `previousSeq`; false when another consumer moved it first. */
  saveLiveShard(shardId: string, previousSeq: string | null, next: LiveShardState, now: number): Promise<boolean>;
}

/**
 * The live path's reads of every subscription (lambdas/core/live-subscriptions.ts): the sets are read whole and
 * kept per container, and revalidated each live batch by a version that every change of a set moves on.
 */
export interface SubscriptionSnapshots {
  /**
   * One strongly consistent read: the subscriptions' version (null before the first change) and, given a shard,
   * that shard's live state (as `liveShard` answers it).
   */
  liveVersion(shardId?: string): Promise<{ version: number | null; shard?: LiveShardState }>;
  /** Every connection's subscription set (strongly consistent); connections without any may be left out. */
  allSubscriptions(): Promise<Array<{ connectionId: string; sensorIds: string[] }>>;
}

/** The pushed ts of one sensor in one minute of reading ts (the minute's start). */
export interface LiveMark {
  sensorId: string;
  minute: number;
  ts: number[];
  /** Whether the caller needs the mark's ts as they were (`all`, the default) or nothing back (`none`). */
  before?: 'all' | 'none';
}

/** What a stream shard's live broadcaster has claimed (lambdas/core/live-shard.ts). */
export interface LiveShardState {
  /** The last record claimed for live push; null: none yet. */
  seq: string | null;
  /**
   * Per recently active sensor: its open minute and the ts pushed in it the state holds. `floor`: those at or
   * below it are in the minute's mark instead (none: no ts is; no ts and no floor, from an older vigia: all are).
   */
  sensors: Map<string, { minute: number; ts: number[]; floor?: number }>;
}

export type SendResult = 'sent' | 'gone';

export interface LiveSender {
  send(connectionId: string, frame: ServerFrame): Promise<SendResult>;
}

export interface DevicePublisher {
  publish(topic: string, message: unknown): Promise<void>;
}

export interface RejectedPayload {
  topic: string;
  sensorId: string;
  code: string;
  message: string;
  /** The payload as received, base64. */
  payload: string;
  receivedAt: number;
}

export interface RejectionSink {
  reject(rejected: RejectedPayload): Promise<void>;
}

export interface Metrics {
  /** Adds `value` to a counter. */
  count(name: CounterMetric, value: number, dimensions?: Record<string, string>): void;
  /** Records one observation of a distribution (a batch's size, a latency in ms). */
  observe(name: ObservedMetric, value: number): void;
  /** Publishes what was recorded since the last flush; the handlers call it at the end of each invocation. */
  flush(): void;
}

/** Structured logging: a message and its attributes (Powertools Logger fits this). */
export interface Logger {
  info(message: string, ...attributes: Record<string, unknown>[]): void;
  warn(message: string, ...attributes: Record<string, unknown>[]): void;
  error(message: string, ...attributes: Record<string, unknown>[]): void;
}

export type Claims = Record<string, unknown>;

/** Checks a token's signature, issuer, audience and expiry; null when any of them is wrong. */
export interface TokenVerifier {
  verify(token: string): Promise<Claims | null>;
}
