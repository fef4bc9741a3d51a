/** Plain in-memory implementations of the core's ports, for tests of the core. */
import type { AggregateResolution, Bucket, PresenceState, RawPoint, Reading, SensorRecord } from '../../lambdas/core/model.js';
import type {
  BucketKey,
  BucketRange,
  CommandBudget,
  ConnectionStore,
  SubscriptionSnapshots,
  DevicePublisher,
  LiveMark,
  LiveMarks,
  LiveSender,
  LiveShardState,
  LiveShardStore,
  Metrics,
  RawRange,
  PackRange,
  ReadingKey,
  ReadingPack,
  ReadingStore,
  RejectedPayload,
  RejectionSink,
  RollupStore,
  SendResult,
  SensorRegistry,
  StoredReading,
  SubscriptionStore,
  StreamProgress,
} from '../../lambdas/core/ports.js';
import type { BroadcastDeps } from '../../lambdas/core/broadcast-telemetry.js';
import { SavedShardStates } from '../../lambdas/core/live-shard.js';
import { LiveSubscriptions } from '../../lambdas/core/live-subscriptions.js';
import type { Logger } from '../../lambdas/core/ports.js';
import { presenceSupersedes } from '../../lambdas/core/presence.js';
import type { CounterMetric, ObservedMetric } from '../../lambdas/shared/names.js';
import { packMinute } from '../../lambdas/core/reading-pack.js';

const inRange = (ts: number, r: RawRange) => ts >= r.from && ts < r.to && (r.after === undefined || ts > r.after);

export class FakeReadingStore implements ReadingStore {
  /** Single items (direct ingest, late readings of stream ingest). */
  readonly rows = new Map<string, Map<number, Reading & { seq?: string }>>();
  /** Packs by sensor, then key (their oldest reading's ts). */
  readonly packed = new Map<string, Map<number, ReadingPack>>();
  readonly packWrites: ReadingPack[] = [];
  /** The packs of each putPacks call. */
  readonly packCalls: ReadingPack[][] = [];

  /** Every stored reading of a sensor, packed or single, by ts; throws when one ts holds two different values. */
  storedOf(sensorId: string): Map<number, Record<string, number>> {
    const out = new Map<number, Record<string, number>>();
    for (const r of this.rows.get(sensorId)?.values() ?? []) out.set(r.ts, r.values);
    for (const pack of this.packed.get(sensorId)?.values() ?? []) {
      if ([...pack.readings.keys()].some((ts) => packMinute(ts) !== packMinute(pack.start) || ts < pack.start)) {
        throw new Error(`${sensorId} pack ${pack.start}: a reading before its key or outside its minute`);
      }
      for (const [ts, values] of pack.readings) {
        const seen = out.get(ts);
        if (seen && JSON.stringify(seen) !== JSON.stringify(values)) throw new Error(`${sensorId} ${ts}: stored twice, differently`);
        out.set(ts, values);
      }
    }
    return out;
  }

  async packsIn(ranges: PackRange[]): Promise<ReadingPack[]> {
    const found: ReadingPack[] = [];
    for (const r of ranges) {
      for (const pack of this.packed.get(r.sensorId)?.values() ?? []) {
        if (pack.start >= r.from && pack.start <= r.to) found.push(structuredClone(pack));
      }
    }
    return found;
  }

  async putPacks(packs: ReadingPack[]): Promise<void> {
    this.packCalls.push(structuredClone(packs));
    for (const pack of packs) {
      let series = this.packed.get(pack.sensorId);
      if (!series) this.packed.set(pack.sensorId, (series = new Map()));
      series.set(pack.start, structuredClone(pack));
      this.packWrites.push(structuredClone(pack));
    }
  }

  async existing(keys: ReadingKey[]): Promise<StoredReading[]> {
    const found: StoredReading[] = [];
    for (const k of keys) {
      const r = this.rows.get(k.sensorId)?.get(k.ts);
      if (r) found.push({ sensorId: r.sensorId, ts: r.ts, values: { ...r.values }, ...(r.seq !== undefined ? { seq: r.seq } : {}) });
    }
    return found;
  }

  async putAll(readings: Array<Reading & { seq: string }>): Promise<void> {
    for (const r of readings) {
      let series = this.rows.get(r.sensorId);
      if (!series) this.rows.set(r.sensorId, (series = new Map()));
      series.set(r.ts, structuredClone(r));
    }
  }

  async insertNew(readings: Reading[]): Promise<Reading[]> {
    const fresh: Reading[] = [];
    for (const r of readings) {
      let series = this.rows.get(r.sensorId);
      if (!series) this.rows.set(r.sensorId, (series = new Map()));
      if (series.has(r.ts)) continue;
      series.set(r.ts, structuredClone(r));
      fresh.push(r);
    }
    return fresh;
  }

  async queryRaw(range: RawRange): Promise<{ points: RawPoint[]; itemsRead: number }> {
    const all = [...this.storedOf(range.sensorId)]
      .filter(([ts]) => inRange(ts, range))
      .sort(([a], [b]) => a - b)
      .map(([ts, values]) => ({ ts, values: { ...values } }));
    const points = range.maxItems === undefined ? all : all.slice(0, range.maxItems);
    return { points, itemsRead: points.length };
  }
}

export class FakeRollupStore implements RollupStore {
  readonly series = new Map<string, Map<number, Bucket>>();

  async getBuckets(keys: BucketKey[]): Promise<Array<BucketKey & { bucket: Bucket }>> {
    const found: Array<BucketKey & { bucket: Bucket }> = [];
    for (const key of keys) {
      const b = this.series.get(`${key.sensorId}#${key.resolution}`)?.get(key.ts);
      if (b) found.push({ ...key, bucket: structuredClone(b) });
    }
    return found;
  }

  async putBucket(sensorId: string, resolution: AggregateResolution, bucket: Bucket, expectedReadings: number | null): Promise<boolean> {
    const key = `${sensorId}#${resolution}`;
    let series = this.series.get(key);
    if (!series) this.series.set(key, (series = new Map()));
    const stored = series.get(bucket.ts);
    if ((stored?.readings ?? null) !== expectedReadings) return false;
    series.set(bucket.ts, structuredClone(bucket));
    return true;
  }

  async putBuckets(buckets: Array<{ sensorId: string; resolution: AggregateResolution; bucket: Bucket }>): Promise<void> {
    for (const b of buckets) {
      const key = `${b.sensorId}#${b.resolution}`;
      let series = this.series.get(key);
      if (!series) this.series.set(key, (series = new Map()));
      series.set(b.bucket.ts, structuredClone(b.bucket));
    }
  }

  async queryBuckets(range: BucketRange): Promise<{ buckets: Bucket[]; itemsRead: number }> {
    const all = [...(this.series.get(`${range.sensorId}#${range.resolution}`)?.values() ?? [])]
      .filter((b) => inRange(b.ts, range))
      .sort((a, b) => a.ts - b.ts)
      .map((b) => structuredClone(b));
    const buckets = range.maxItems === undefined ? all : all.slice(0, range.maxItems);
    return { buckets, itemsRead: buckets.length };
  }

  bucketsOf(sensorId: string, resolution: AggregateResolution): Bucket[] {
    return [...(this.series.get(`${sensorId}#${resolution}`)?.values() ?? [])].sort((a, b) => a.ts - b.ts);
  }
}

export class FakeSensorRegistry implements SensorRegistry {
  readonly records = new Map<string, SensorRecord>();

  private record(sensorId: string): SensorRecord {
    let rec = this.records.get(sensorId);
    if (!rec) {
      rec = { sensorId, metrics: [], units: {}, latest: null, lastReadingAt: null, presence: null };
      this.records.set(sensorId, rec);
    }
    return rec;
  }

  /** Puts a record as it would be after some history, for API tests. */
  seed(record: Partial<SensorRecord> & { sensorId: string }): void {
    this.records.set(record.sensorId, {
      metrics: [],
      units: {},
      latest: null,
      lastReadingAt: null,
      presence: null,
      ...record,
    });
  }

  readonly progress = new Map<string, StreamProgress>();

  async streamProgress(sensorIds: string[]): Promise<Map<string, StreamProgress>> {
    const found = new Map<string, StreamProgress>();
    for (const id of sensorIds) {
      const p = this.progress.get(id);
      const latestTs = this.records.get(id)?.latest?.ts ?? null;
      if (p) found.set(id, { ...p, latestTs });
      else if (this.records.has(id)) found.set(id, { streamSeq: null, storedMaxTs: null, latestTs });
    }
    return found;
  }

  async recordReadings(
    sensorId: string,
    readings: Reading[],
    progress?: { previous: StreamProgress; next: { streamSeq: string; storedMaxTs: number | null } },
  ): Promise<void> {
    if (progress) {
      // As the adapter's conditional update: only from the progress the caller read.
      if ((this.progress.get(sensorId)?.streamSeq ?? null) !== progress.previous.streamSeq) {
        throw Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException' });
      }
      this.progress.set(sensorId, { ...progress.next, latestTs: null });
    }
    const rec = this.record(sensorId);
    for (const r of readings) {
      for (const m of Object.keys(r.values)) if (!rec.metrics.includes(m)) rec.metrics.push(m);
      Object.assign(rec.units, r.units);
      rec.lastReadingAt = Math.max(rec.lastReadingAt ?? 0, r.receivedAt);
      if (!rec.latest || r.ts > rec.latest.ts) rec.latest = { ts: r.ts, values: { ...r.values } };
    }
    rec.metrics.sort();
  }

  async applyPresence(sensorId: string, state: PresenceState): Promise<boolean> {
    const rec = this.record(sensorId);
    if (!presenceSupersedes(rec.presence, state)) return false;
    rec.presence = { ...state };
    return true;
  }

  async get(sensorId: string): Promise<SensorRecord | undefined> {
    const rec = this.records.get(sensorId);
    return rec ? structuredClone(rec) : undefined;
  }

  async list(): Promise<SensorRecord[]> {
    return [...this.records.values()].map((r) => structuredClone(r));
  }

  /** Pages in insertion order (a store's own order, not sorted). */
  async listPage(limit: number, after?: string): Promise<{ records: SensorRecord[]; lastKey: string | null }> {
    const all = [...this.records.values()];
    const start = after === undefined ? 0 : all.findIndex((r) => r.sensorId === after) + 1;
    const page = all.slice(start, start + limit);
    const more = start + limit < all.length;
    return { records: page.map((r) => structuredClone(r)), lastKey: more ? page[page.length - 1].sensorId : null };
  }
}

/** The connections table's ports in one fake, as the one DynamoDB adapter implements them all. */
export class FakeConnectionRegistry
  implements ConnectionStore, SubscriptionStore, SubscriptionSnapshots, CommandBudget, LiveMarks, LiveShardStore
{
  readonly subs = new Map<string, string[]>();
  readonly closed: string[] = [];
  readonly pushed = new Set<string>();
  private readonly tokens = new Map<string, { second: number; count: number }>();
  /** The subscriptions' version, as the table keeps it (null before the first change). */
  version: number | null = null;
  /** Reads of the live path: version reads (with or without a shard's state) and whole reads of the sets. */
  readonly liveReads = { version: 0, withShard: 0, snapshots: 0 };

  private moveVersionOn(): void {
    this.version = (this.version ?? 0) + 1;
  }

  async open(connectionId: string): Promise<void> {
    this.subs.set(connectionId, []);
  }

  async close(connectionId: string): Promise<void> {
    const had = this.subs.get(connectionId)?.length ?? 0;
    this.subs.delete(connectionId);
    this.closed.push(connectionId);
    if (had > 0) this.moveVersionOn();
  }

  async subscriptions(connectionId: string): Promise<string[]> {
    return [...(this.subs.get(connectionId) ?? [])];
  }

  async setSubscriptions(connectionId: string, next: string[], _now = 0): Promise<void> {
    this.subs.set(connectionId, [...next]);
    this.moveVersionOn();
  }

  async liveVersion(shardId?: string): Promise<{ version: number | null; shard?: LiveShardState }> {
    this.liveReads.version += 1;
    if (shardId === undefined) return { version: this.version };
    this.liveReads.withShard += 1;
    return { version: this.version, shard: this.stateOf(shardId) };
  }

  async allSubscriptions(): Promise<Array<{ connectionId: string; sensorIds: string[] }>> {
    this.liveReads.snapshots += 1;
    return [...this.subs].filter(([, ids]) => ids.length > 0).map(([connectionId, ids]) => ({ connectionId, sensorIds: [...ids] }));
  }

  async takeCommandToken(connectionId: string, now: number, perSecond: number): Promise<boolean> {
    const second = Math.floor(now / 1000);
    const t = this.tokens.get(connectionId);
    if (!t || t.second !== second) {
      this.tokens.set(connectionId, { second, count: 1 });
      return true;
    }
    if (t.count >= perSecond) return false;
    t.count += 1;
    return true;
  }

  async markPushed(readings: ReadingKey[]): Promise<ReadingKey[]> {
    const fresh: ReadingKey[] = [];
    for (const r of readings) {
      const key = `${r.sensorId}#${r.ts}`;
      if (this.pushed.has(key)) continue;
      this.pushed.add(key);
      fresh.push(r);
    }
    return fresh;
  }

  /** Sensor-minute live marks (`pushed` holds their keys too) and shards' live states, as stored. */
  readonly shards = new Map<string, LiveShardState>();
  markWrites = 0;

  private readonly marks = new Map<string, Set<number>>();

  async addLiveMarks(marks: LiveMark[]): Promise<Array<Set<number>>> {
    return marks.map(({ sensorId, minute, ts, before: wanted }) => {
      this.markWrites += 1;
      const id = `${sensorId}\u0000${minute}`;
      const before = new Set(this.marks.get(id) ?? []);
      this.marks.set(id, new Set([...before, ...ts]));
      for (const t of ts) this.pushed.add(`${sensorId}#${t}`);
      return wanted === 'none' ? new Set<number>() : before;
    });
  }

  /** Reads of a shard's state alone (not with the version), and saves tried (won or lost). */
  shardReads = 0;
  shardSaves = 0;

  async liveShard(shardId: string): Promise<LiveShardState> {
    this.shardReads += 1;
    return this.stateOf(shardId);
  }

  private stateOf(shardId: string): LiveShardState {
    return structuredClone(this.shards.get(shardId) ?? { seq: null, sensors: new Map() });
  }

  async saveLiveShard(shardId: string, previousSeq: string | null, next: LiveShardState): Promise<boolean> {
    this.shardSaves += 1;
    if ((this.shards.get(shardId)?.seq ?? null) !== previousSeq) return false;
    this.shards.set(shardId, structuredClone(next));
    return true;
  }
}

export class FakeLiveSender implements LiveSender {
  readonly sent: Array<{ connectionId: string; frame: any }> = [];
  readonly gone = new Set<string>();

  async send(connectionId: string, frame: unknown): Promise<SendResult> {
    if (this.gone.has(connectionId)) return 'gone';
    this.sent.push({ connectionId, frame: structuredClone(frame) });
    return 'sent';
  }

  framesTo(connectionId: string): any[] {
    return this.sent.filter((s) => s.connectionId === connectionId).map((s) => s.frame);
  }
}

export class FakeDevicePublisher implements DevicePublisher {
  readonly published: Array<{ topic: string; message: any }> = [];
  async publish(topic: string, message: unknown): Promise<void> {
    this.published.push({ topic, message: structuredClone(message) });
  }
}

export class FakeRejectionSink implements RejectionSink {
  readonly rejected: RejectedPayload[] = [];
  async reject(rejected: RejectedPayload): Promise<void> {
    this.rejected.push(rejected);
  }
}

export const silentLog: Logger = { info() {}, warn() {}, error() {} };

export class FakeMetrics implements Metrics {
  readonly counts: Array<{ name: CounterMetric; value: number; dimensions?: Record<string, string> }> = [];
  readonly observations: Array<{ name: ObservedMetric; value: number }> = [];
  flushes = 0;

  count(name: CounterMetric, value: number, dimensions?: Record<string, string>): void {
    this.counts.push(dimensions ? { name, value, dimensions } : { name, value });
  }

  observe(name: ObservedMetric, value: number): void {
    this.observations.push({ name, value });
  }

  flush(): void {
    this.flushes += 1;
  }

  /** The sum of a counter, over every call whose dimensions include these. */
  total(name: CounterMetric, dimensions: Record<string, string> = {}): number {
    return this.counts
      .filter((c) => c.name === name && Object.entries(dimensions).every(([k, v]) => c.dimensions?.[k] === v))
      .reduce((sum, c) => sum + c.value, 0);
  }

  observed(name: ObservedMetric): number[] {
    return this.observations.filter((o) => o.name === name).map((o) => o.value);
  }
}

/**
 * The broadcaster's deps over one fake connections table: the table for every port it takes, a new container's
 * subscription cache and shard states, a 30-day accepted window; `overrides` replace any of them.
 */
export function fakeBroadcastDeps(
  registry: FakeConnectionRegistry,
  live: FakeLiveSender,
  overrides: Partial<BroadcastDeps> = {},
): BroadcastDeps {
  return {
    connections: registry,
    liveClaims: registry,
    subscriptions: new LiveSubscriptions(registry),
    shardStates: new SavedShardStates(),
    live,
    log: silentLog,
    metrics: new FakeMetrics(),
    now: Date.now,
    rawRetentionDays: 30,
    ...overrides,
  };
}
