/** WebSocket connections, subscriptions and live-push marks in one DynamoDB table. */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type {
  CommandBudget,
  ConnectionStore,
  LiveMark,
  LiveMarks,
  LiveShardState,
  LiveShardStore,
  ReadingKey,
  SubscriptionSnapshots,
  SubscriptionStore,
} from '../core/ports.js';
import { CONNECTION_TTL_SECONDS } from '../shared/tables.js';
import { inParallel } from '../core/concurrency.js';
import { batchGetAll, conditionHeld, epochSeconds, queryAll } from './dynamo-util.js';

/** Every connection's item (with its subscription set) in one partition: the live path reads it whole when the version moves. */
const CONNECTIONS_PARTITION = 'conns';
const connKey = (connectionId: string) => ({ pk: CONNECTIONS_PARTITION, sk: connectionId });
/** A reading's live mark outlives any QoS 1 redelivery window. */
const PUSHED_TTL_SECONDS = 24 * 60 * 60;
/** Live marks are grouped per sensor per minute of reading ts. */
const MARK_BUCKET_MS = 60_000;
const CLAIMS_IN_FLIGHT = 16;
/**
 * The subscriptions' version: a counter moved on after every change of a subscription set. No TTL: were it to
 * vanish and count again from zero, a cache could take an old set for a current one.
 */
const VERSION_KEY = { pk: 'subs', sk: 'version' };

/** One table, so one class: it implements every port of the connections table. */
export class DynamoConnectionRegistry
  implements ConnectionStore, SubscriptionStore, SubscriptionSnapshots, CommandBudget, LiveMarks, LiveShardStore
{
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async open(connectionId: string, now: number): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...connKey(connectionId), subs: [], connectedAt: now, expiresAt: epochSeconds(now) + CONNECTION_TTL_SECONDS },
      }),
    );
  }

  async close(connectionId: string): Promise<void> {
    const out = await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: connKey(connectionId), ReturnValues: 'ALL_OLD' }));
    if (((out.Attributes?.subs as string[] | undefined) ?? []).length > 0) await this.moveVersionOn();
  }

  /** After the writes it follows: a reader that sees the new version then reads every write before it. */
  private async moveVersionOn(): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: VERSION_KEY,
        UpdateExpression: 'ADD #v :one',
        ExpressionAttributeNames: { '#v': 'v' },
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
  }

  async liveVersion(shardId?: string): Promise<{ version: number | null; shard?: LiveShardState }> {
    if (shardId === undefined) {
      const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: VERSION_KEY, ConsistentRead: true }));
      return { version: (out.Item?.v as number | undefined) ?? null };
    }
    const items = await batchGetAll(this.doc, this.tableName, [VERSION_KEY, shardKey(shardId)], {
      expression: '#pk, #v, #seq, #sensors',
      names: { '#pk': 'pk', '#v': 'v', '#seq': 'seq', '#sensors': 'sensors' },
    });
    const version = items.find((item) => item.pk === VERSION_KEY.pk);
    return { version: (version?.v as number | undefined) ?? null, shard: shardState(items.find((item) => item.pk !== VERSION_KEY.pk)) };
  }

  async allSubscriptions(): Promise<Array<{ connectionId: string; sensorIds: string[] }>> {
    const items = await queryAll(this.doc, {
      TableName: this.tableName,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk', '#subs': 'subs' },
      ExpressionAttributeValues: { ':pk': CONNECTIONS_PARTITION },
      ProjectionExpression: '#sk, #subs',
      ConsistentRead: true,
    });
    return items
      .map((item) => ({ connectionId: item.sk as string, sensorIds: (item.subs as string[] | undefined) ?? [] }))
      .filter((c) => c.sensorIds.length > 0);
  }

  async subscriptions(connectionId: string): Promise<string[]> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: connKey(connectionId), ConsistentRead: true }));
    return (out.Item?.subs as string[] | undefined) ?? [];
  }

  async setSubscriptions(connectionId: string, next: string[], now: number): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: connKey(connectionId),
        UpdateExpression: 'SET #subs = :subs, #exp = :exp',
        ExpressionAttributeNames: { '#subs': 'subs', '#exp': 'expiresAt' },
        ExpressionAttributeValues: { ':subs': next, ':exp': epochSeconds(now) + CONNECTION_TTL_SECONDS },
      }),
    );
    await this.moveVersionOn();
  }

  async takeCommandToken(connectionId: string, now: number, perSecond: number): Promise<boolean> {
    const second = Math.floor(now / 1000);
    const budget = (update: string, condition: string, values: Record<string, number>) =>
      conditionHeld(
        this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: connKey(connectionId),
            UpdateExpression: update,
            ConditionExpression: condition,
            ExpressionAttributeNames: { '#sec': 'cmdSecond', '#cnt': 'cmdCount' },
            ExpressionAttributeValues: values,
          }),
        ),
      );
    // A new second starts the budget again; within one, a token while fewer than `perSecond` were taken.
    return (
      (await budget('SET #sec = :sec, #cnt = :one', 'attribute_not_exists(#sec) OR #sec <> :sec', { ':sec': second, ':one': 1 })) ||
      budget('ADD #cnt :one', '#sec = :sec AND #cnt < :max', { ':sec': second, ':one': 1, ':max': perSecond })
    );
  }

  /** Direct ingest: each reading's sensor-minute mark gets its ts atomically; those not there before are claimed. */
  async markPushed(readings: ReadingKey[], now: number): Promise<ReadingKey[]> {
    const groups = new Map<string, LiveMark>();
    for (const r of readings) {
      const minute = Math.floor(r.ts / MARK_BUCKET_MS) * MARK_BUCKET_MS;
      const id = `${r.sensorId}\u0000${minute}`;
      const group = groups.get(id);
      if (group) group.ts.push(r.ts);
      else groups.set(id, { sensorId: r.sensorId, minute, ts: [r.ts] });
    }
    const marks = [...groups.values()];
    const before = await this.addLiveMarks(marks, now);
    const claimed = new Set<string>();
    marks.forEach(({ sensorId, ts }, i) => {
      for (const t of ts) if (!before[i].has(t)) claimed.add(`${sensorId}\u0000${t}`);
    });
    return readings.filter((r) => claimed.delete(`${r.sensorId}\u0000${r.ts}`));
  }

  /**
   * One item per sensor per minute of reading ts holds the pushed readings' ts as a number set. `ADD` is atomic
   * and returns the set as it was, so a claim holds between invocations running at once; it is one write per
   * sensor and minute, however many readings.
   */
  async addLiveMarks(marks: LiveMark[], now: number): Promise<Array<Set<number>>> {
    const expiresAt = epochSeconds(now) + PUSHED_TTL_SECONDS;
    const before: Array<Set<number>> = marks.map(() => new Set());
    await inParallel(
      marks.map((mark, i) => ({ mark, i })),
      CLAIMS_IN_FLIGHT,
      async ({ mark: { sensorId, minute, ts, before: wanted }, i }) => {
        if (ts.length === 0) return;
        const out = await this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { pk: `live#${sensorId}`, sk: `m#${minute}` },
            UpdateExpression: 'ADD #ts :ts SET #exp = :exp',
            ExpressionAttributeNames: { '#ts': 'ts', '#exp': 'expiresAt' },
            ExpressionAttributeValues: { ':ts': new Set(ts), ':exp': expiresAt },
            // The old set only when asked: a busy sensor's mark holds thousands of ts.
            ReturnValues: wanted === 'none' ? 'NONE' : 'UPDATED_OLD',
          }),
        );
        before[i] = new Set((out.Attributes?.ts as Set<number> | undefined) ?? []);
      },
    );
    return before;
  }

  async liveShard(shardId: string): Promise<LiveShardState> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: shardKey(shardId), ConsistentRead: true }));
    return shardState(out.Item);
  }

  async saveLiveShard(shardId: string, previousSeq: string | null, next: LiveShardState, now: number): Promise<boolean> {
    const sensors = Object.fromEntries([...next.sensors].map(([sensorId, s]) => [sensorId, packPushed(s)]));
    return conditionHeld(
      this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...shardKey(shardId), seq: next.seq, sensors, expiresAt: epochSeconds(now) + PUSHED_TTL_SECONDS },
          ConditionExpression: previousSeq === null ? 'attribute_not_exists(#seq)' : '#seq = :prev',
          ExpressionAttributeNames: { '#seq': 'seq' },
          ...(previousSeq === null ? {} : { ExpressionAttributeValues: { ':prev': previousSeq } }),
        }),
      ),
    );
  }
}

/** A shard's live state: one item per Kinesis shard (a closed shard's expires with its marks' TTL). */
const shardKey = (shardId: string) => ({ pk: `liveshard#${shardId}`, sk: 'state' });

/** A shard's state item as read (none yet: no `seq`, no sensors). */
function shardState(item: Record<string, unknown> | undefined): LiveShardState {
  const sensors = new Map<string, { minute: number; ts: number[] }>();
  for (const [sensorId, packed] of Object.entries((item?.sensors as Record<string, Uint8Array> | undefined) ?? {})) {
    sensors.set(sensorId, unpackPushed(packed));
  }
  return { seq: (item?.seq as string | undefined) ?? null, sensors };
}

/**
 * Each list of pushed ts as last packed: a shard's state is saved whole each live batch, and a sensor without
 * readings in the batch comes back with the very list it was saved with (lambdas/core/live-shard.ts).
 */
const packedLists = new WeakMap<number[], { minute: number; floor: number | undefined; bytes: Uint8Array }>();

/** Before a floor's 2-byte offset: no ts offset is this large (a minute has 60,000 ms). */
const FLOOR_MARKER = 0xffff;

/**
 * A sensor's open minute (4 bytes, in minutes), then its floor if it has one (the marker and a 2-byte offset into
 * the minute), then its pushed ts as 2-byte offsets into the minute: 2 bytes a reading.
 */
function packPushed({ minute, ts, floor }: { minute: number; ts: number[]; floor?: number }): Uint8Array {
  const packed = packedLists.get(ts);
  if (packed?.minute === minute && packed.floor === floor) return packed.bytes;
  const head = floor === undefined ? 4 : 8;
  const bytes = Buffer.alloc(head + 2 * ts.length);
  bytes.writeUInt32BE(minute / MARK_BUCKET_MS, 0);
  if (floor !== undefined) {
    bytes.writeUInt16BE(FLOOR_MARKER, 4);
    bytes.writeUInt16BE(floor - minute, 6);
  }
  ts.forEach((t, i) => {
    bytes.writeUInt16BE(t - minute, head + 2 * i);
  });
  const out = new Uint8Array(bytes);
  packedLists.set(ts, { minute, floor, bytes: out });
  return out;
}

function unpackPushed(packed: Uint8Array): { minute: number; ts: number[]; floor?: number } {
  const bytes = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
  const minute = bytes.readUInt32BE(0) * MARK_BUCKET_MS;
  const hasFloor = bytes.length >= 8 && bytes.readUInt16BE(4) === FLOOR_MARKER;
  const ts: number[] = [];
  for (let at = hasFloor ? 8 : 4; at + 1 < bytes.length; at += 2) ts.push(minute + bytes.readUInt16BE(at));
  return hasFloor ? { minute, ts, floor: minute + bytes.readUInt16BE(6) } : { minute, ts };
}
