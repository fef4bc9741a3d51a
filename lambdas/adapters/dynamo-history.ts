/** Raw readings and roll-ups in DynamoDB. */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { AggregateResolution, Bucket, MetricStats, RawPoint, Reading } from '../core/model.js';
import { MS_PER_DAY } from '../core/model.js';
import { inParallel } from '../core/concurrency.js';
import type {
  BucketKey,
  BucketRange,
  PackRange,
  RawRange,
  ReadingKey,
  ReadingPack,
  ReadingStore,
  RollupStore,
  StoredReading,
} from '../core/ports.js';
import { PACK_MINUTE_MS, packMinute } from '../core/reading-pack.js';
import { READINGS_TABLE, ROLLUPS_TABLE } from '../shared/tables.js';
import { batchGetAll, batchWriteAll, epochSeconds, isConditionFailure } from './dynamo-util.js';

const PK = READINGS_TABLE.partitionKey.name;
const SK = READINGS_TABLE.sortKey!.name;
const TTL = READINGS_TABLE.timeToLiveAttribute!;
/** A sensor's packs live in their own partition: a `#` never occurs in a sensorId (contract §1). */
const packPartition = (sensorId: string) => `${sensorId}#m`;
/** Readings a pack holds on average at one reading every 5 s: the first guess of how many packs a page needs. */
const GUESSED_READINGS_PER_PACK = 12;
/** Requests of one call in flight at once (conditional puts, pack queries). */
const REQUESTS_IN_FLIGHT = 16;

/** A range of the ports' shape (RawRange, less its sensor) in one partition of one table. */
interface PageRequest extends Omit<RawRange, 'sensorId'> {
  table: string;
  partitionKey: string;
  partition: string;
  projection: string;
  names: Record<string, string>;
}

/** Queries a [from, to) range of a numeric sort key `ts`, following pages up to maxItems. */
async function queryRange(doc: DynamoDBDocumentClient, r: PageRequest) {
  const low = r.after !== undefined ? Math.max(r.from, r.after + 1) : r.from;
  const high = r.to - 1;
  const items: Record<string, unknown>[] = [];
  let itemsRead = 0;
  if (low > high) return { items, itemsRead };
  let startKey: Record<string, unknown> | undefined;
  do {
    const remaining = r.maxItems !== undefined ? r.maxItems - items.length : undefined;
    const out = await doc.send(
      new QueryCommand({
        TableName: r.table,
        KeyConditionExpression: '#pk = :p AND #ts BETWEEN :low AND :high',
        ExpressionAttributeNames: { '#pk': r.partitionKey, '#ts': 'ts', ...r.names },
        ExpressionAttributeValues: { ':p': r.partition, ':low': low, ':high': high },
        ProjectionExpression: r.projection,
        ExclusiveStartKey: startKey,
        Limit: remaining,
        ConsistentRead: r.consistent,
      }),
    );
    items.push(...((out.Items as Record<string, unknown>[] | undefined) ?? []));
    itemsRead += out.ScannedCount ?? out.Count ?? 0;
    startKey = out.LastEvaluatedKey;
  } while (startKey && (r.maxItems === undefined || items.length < r.maxItems));
  return { items, itemsRead };
}

/** A pack item's `r` map (offset from its key → values) as [ts, values] pairs. */
function packedReadings(start: number, r: unknown): Array<[number, Record<string, number>]> {
  return Object.entries((r ?? {}) as Record<string, Record<string, number>>).map(([offset, values]) => [start + Number(offset), values]);
}

export class DynamoReadingStore implements ReadingStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly rawRetentionDays: number,
  ) {}

  private item(r: Reading) {
    return {
      [PK]: r.sensorId,
      [SK]: r.ts,
      values: r.values,
      receivedAt: r.receivedAt,
      [TTL]: epochSeconds(r.ts + this.rawRetentionDays * MS_PER_DAY),
    };
  }

  /** One conditional put per reading: the first write wins even between invocations running at once. */
  async insertNew(readings: Reading[]): Promise<Reading[]> {
    const fresh: Reading[] = [];
    await inParallel(readings, REQUESTS_IN_FLIGHT, async (r) => {
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: this.item(r),
            ConditionExpression: 'attribute_not_exists(#ts)',
            ExpressionAttributeNames: { '#ts': SK },
          }),
        );
        fresh.push(r);
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
      }
    });
    // In the order given, as callers match them back to their events.
    const order = new Map(readings.map((r, i) => [r, i]));
    return fresh.sort((a, b) => order.get(a)! - order.get(b)!);
  }

  async existing(keys: ReadingKey[]): Promise<StoredReading[]> {
    if (keys.length === 0) return [];
    const items = await batchGetAll(
      this.doc,
      this.tableName,
      keys.map((k) => ({ [PK]: k.sensorId, [SK]: k.ts })),
      { expression: '#pk, #ts, #v, #seq', names: { '#pk': PK, '#ts': SK, '#v': 'values', '#seq': 'seq' } },
    );
    return items.map((i) => ({
      sensorId: i[PK] as string,
      ts: i[SK] as number,
      values: i.values as Record<string, number>,
      ...(typeof i.seq === 'string' ? { seq: i.seq } : {}),
    }));
  }

  async putAll(readings: Array<Reading & { seq: string }>): Promise<void> {
    await batchWriteAll(
      this.doc,
      this.tableName,
      readings.map((r) => ({ PutRequest: { Item: { ...this.item(r), seq: r.seq } } })),
    );
  }

  async packsIn(ranges: PackRange[]): Promise<ReadingPack[]> {
    const found: ReadingPack[] = [];
    await inParallel(ranges, REQUESTS_IN_FLIGHT, async (range) => {
      const { items } = await queryRange(this.doc, {
        table: this.tableName,
        partitionKey: PK,
        partition: packPartition(range.sensorId),
        from: range.from,
        to: range.to + 1,
        consistent: true,
        projection: '#ts, #r',
        names: { '#r': 'r' },
      });
      for (const item of items) {
        const start = item[SK] as number;
        found.push({ sensorId: range.sensorId, start, readings: new Map(packedReadings(start, item.r)) });
      }
    });
    return found;
  }

  async putPacks(packs: ReadingPack[]): Promise<void> {
    await batchWriteAll(
      this.doc,
      this.tableName,
      packs.map((pack) => {
        const r: Record<string, Record<string, number>> = {};
        for (const [ts, values] of pack.readings) r[ts - pack.start] = values;
        const item = {
          [PK]: packPartition(pack.sensorId),
          [SK]: pack.start,
          r,
          [TTL]: epochSeconds(packMinute(pack.start) + PACK_MINUTE_MS + this.rawRetentionDays * MS_PER_DAY),
        };
        return { PutRequest: { Item: item } };
      }),
    );
  }

  /**
   * Reads single items and packs of the range side by side, a page at a time from whichever is behind, until
   * `maxItems` points are known below both partitions' reach (or both are exhausted); a ts in both (which
   * the writer never does) would count once.
   */
  async queryRaw(range: RawRange): Promise<{ points: RawPoint[]; itemsRead: number }> {
    const low = range.after !== undefined ? Math.max(range.from, range.after + 1) : range.from;
    const high = range.to - 1;
    if (low > high) return { points: [], itemsRead: 0 };
    const need = range.maxItems ?? Number.POSITIVE_INFINITY;
    const found = new Map<number, { values: Record<string, number>; single: boolean }>();
    let itemsRead = 0;
    let packsRead = 0;
    let packedPoints = 0;
    const cursor = (partition: string, from: number) => ({
      partition,
      from,
      startKey: undefined as Record<string, unknown> | undefined,
      done: false,
      reach: Number.NEGATIVE_INFINITY,
    });
    const singles = cursor(range.sensorId, low);
    const packs = cursor(packPartition(range.sensorId), packMinute(low));
    const page = async (c: ReturnType<typeof cursor>, limit: number | undefined) => {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :p AND #ts BETWEEN :low AND :high',
          ExpressionAttributeNames: { '#pk': PK, '#ts': SK, '#v': c === singles ? 'values' : 'r' },
          ExpressionAttributeValues: { ':p': c.partition, ':low': c.from, ':high': high },
          ProjectionExpression: '#ts, #v',
          ExclusiveStartKey: c.startKey,
          Limit: limit,
          ConsistentRead: range.consistent,
        }),
      );
      itemsRead += out.ScannedCount ?? out.Count ?? 0;
      c.startKey = out.LastEvaluatedKey;
      c.done = c.startKey === undefined;
      for (const item of (out.Items as Record<string, unknown>[] | undefined) ?? []) {
        const ts = item[SK] as number;
        if (c === singles) {
          found.set(ts, { values: item.values as Record<string, number>, single: true });
          c.reach = ts;
          continue;
        }
        // A pack holds readings from its key on: those of packs not read yet are all past this one's key.
        packsRead++;
        c.reach = ts;
        for (const [at, values] of packedReadings(ts, item.r)) {
          if (at < low || at > high) continue;
          packedPoints++;
          if (!found.get(at)?.single) found.set(at, { values, single: false });
        }
      }
    };
    const known = () => {
      const reach = Math.min(singles.done ? Number.POSITIVE_INFINITY : singles.reach, packs.done ? Number.POSITIVE_INFINITY : packs.reach);
      let n = 0;
      for (const ts of found.keys()) if (ts <= reach) n++;
      return n;
    };
    const packLimit = (missing: number) => {
      if (!Number.isFinite(missing)) return undefined;
      const perPack = packsRead > 0 ? Math.max(1, packedPoints / packsRead) : GUESSED_READINGS_PER_PACK;
      return Math.min(missing, Math.ceil(missing / perPack) + 1);
    };
    await Promise.all([page(singles, Number.isFinite(need) ? need : undefined), page(packs, packLimit(need))]);
    for (let n = known(); n < need && !(singles.done && packs.done); n = known()) {
      const behind = packs.done || (!singles.done && singles.reach <= packs.reach) ? singles : packs;
      await page(behind, behind === singles ? (Number.isFinite(need) ? need - n : undefined) : packLimit(need - n));
    }
    const points = [...found]
      .sort(([a], [b]) => a - b)
      .slice(0, Number.isFinite(need) ? need : undefined)
      .map(([ts, p]) => ({ ts, values: p.values }));
    return { points, itemsRead };
  }
}

function toBucket(item: Record<string, unknown>): Bucket {
  return {
    ts: item.ts as number,
    stats: item.stats as Record<string, MetricStats>,
    readings: item.readings as number,
    lastTs: typeof item.lastTs === 'number' ? item.lastTs : undefined,
    ...(typeof item.seq === 'string' ? { seq: item.seq } : {}),
  };
}

export interface RollupRetention {
  minuteDays: number;
  hourDays: number;
}

export class DynamoRollupStore implements RollupStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly retention: RollupRetention,
  ) {}

  static series(sensorId: string, resolution: AggregateResolution): string {
    return `${sensorId}#${resolution}`;
  }

  private key(sensorId: string, resolution: AggregateResolution, ts: number) {
    return { [ROLLUPS_TABLE.partitionKey.name]: DynamoRollupStore.series(sensorId, resolution), [ROLLUPS_TABLE.sortKey!.name]: ts };
  }

  async getBuckets(keys: BucketKey[]): Promise<Array<BucketKey & { bucket: Bucket }>> {
    if (keys.length === 0) return [];
    const items = await batchGetAll(
      this.doc,
      this.tableName,
      keys.map((k) => this.key(k.sensorId, k.resolution, k.ts)),
      {
        expression: '#s, #ts, #st, #n, #l, #seq',
        names: { '#s': 'series', '#ts': 'ts', '#st': 'stats', '#n': 'readings', '#l': 'lastTs', '#seq': 'seq' },
      },
    );
    return items.map((item) => {
      const series = item.series as string;
      const cut = series.lastIndexOf('#');
      return {
        sensorId: series.slice(0, cut),
        resolution: series.slice(cut + 1) as AggregateResolution,
        ts: item.ts as number,
        bucket: toBucket(item),
      };
    });
  }

  private bucketItem(sensorId: string, resolution: AggregateResolution, b: Bucket) {
    const days = resolution === '1m' ? this.retention.minuteDays : this.retention.hourDays;
    return {
      ...this.key(sensorId, resolution, b.ts),
      stats: b.stats,
      readings: b.readings,
      lastTs: b.lastTs,
      seq: b.seq,
      [ROLLUPS_TABLE.timeToLiveAttribute!]: epochSeconds(b.ts + days * MS_PER_DAY),
    };
  }

  async putBuckets(buckets: Array<{ sensorId: string; resolution: AggregateResolution; bucket: Bucket }>): Promise<void> {
    await batchWriteAll(
      this.doc,
      this.tableName,
      buckets.map((b) => ({ PutRequest: { Item: this.bucketItem(b.sensorId, b.resolution, b.bucket) } })),
    );
  }

  async putBucket(sensorId: string, resolution: AggregateResolution, b: Bucket, expectedReadings: number | null): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: this.bucketItem(sensorId, resolution, b),
          ConditionExpression: expectedReadings === null ? 'attribute_not_exists(#n)' : '#n = :n',
          ExpressionAttributeNames: { '#n': 'readings' },
          ExpressionAttributeValues: expectedReadings === null ? undefined : { ':n': expectedReadings },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async queryBuckets(range: BucketRange): Promise<{ buckets: Bucket[]; itemsRead: number }> {
    const { items, itemsRead } = await queryRange(this.doc, {
      table: this.tableName,
      partitionKey: ROLLUPS_TABLE.partitionKey.name,
      partition: DynamoRollupStore.series(range.sensorId, range.resolution),
      from: range.from,
      to: range.to,
      after: range.after,
      maxItems: range.maxItems,
      consistent: range.consistent,
      projection: '#ts, #st, #n, #l',
      names: { '#st': 'stats', '#n': 'readings', '#l': 'lastTs' },
    });
    return { buckets: items.map(toBucket), itemsRead };
  }
}
