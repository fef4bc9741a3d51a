import { GoneException, PostToConnectionCommand, ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiGatewayLiveSender } from '../../lambdas/adapters/api-gateway-live.js';
import { IotDevicePublisher } from '../../lambdas/adapters/iot-devices.js';
import { sqsRejectionSink } from '../../lambdas/adapters/sqs-rejections.js';
import { DynamoConnectionRegistry } from '../../lambdas/adapters/dynamo-connections.js';
import { DynamoReadingStore, DynamoRollupStore } from '../../lambdas/adapters/dynamo-history.js';
import { DynamoSensorRegistry } from '../../lambdas/adapters/dynamo-sensors.js';
import type { Reading } from '../../lambdas/core/model.js';
import { pushToConnections } from '../../lambdas/core/push.js';
import './aws-matchers.js';
import { FakeMetrics, silentLog } from './fakes.js';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const TABLE = 'readings-table';
const doc = DynamoDBDocumentClient.from(
  new DynamoDBClient({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } }),
);
const ddb = mockClient(DynamoDBDocumentClient);
const apigw = mockClient(ApiGatewayManagementApiClient);
const iot = mockClient(IoTDataPlaneClient);
const sqs = mockClient(SQSClient);

const conditionFailed = () => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });

beforeEach(() => {
  ddb.reset();
  apigw.reset();
  iot.reset();
  sqs.reset();
  // No backoff waits: retries happen at once.
  vi.spyOn(Math, 'random').mockReturnValue(0);
});
afterEach(() => {
  vi.restoreAllMocks();
});

const reading = (ts: number, t = ts % 100): Reading => ({ sensorId: 's1', ts, values: { t }, units: { t: 'K' }, receivedAt: NOW });

type WriteRequests = Array<{ PutRequest?: { Item: Record<string, unknown> }; DeleteRequest?: { Key: Record<string, unknown> } }>;
const writeCalls = () => ddb.commandCalls(BatchWriteCommand).map((c) => c.args[0].input.RequestItems![TABLE] as WriteRequests);

describe('DynamoReadingStore: stream writes (putAll, existing)', () => {
  const store = new DynamoReadingStore(doc, TABLE, 30);

  it('putAll: 500 readings in BatchWrites of 25, each item with its record’s sequence number, retrying unprocessed items', async () => {
    const batch = Array.from({ length: 500 }, (_, i) => ({ ...reading(NOW - 500_000 + i * 1000), seq: `${1000 + i}` }));
    let firstWrite = true;
    ddb.on(BatchWriteCommand).callsFake((input) => {
      const requests = input.RequestItems[TABLE] as WriteRequests;
      if (firstWrite) {
        firstWrite = false;
        return { UnprocessedItems: { [TABLE]: requests.slice(0, 5) } };
      }
      return { UnprocessedItems: {} };
    });

    await store.putAll(batch);

    // 20 chunks of 25; the first chunk's 5 unprocessed items are retried before the next chunk.
    const calls = writeCalls();
    expect(calls.map((c) => c.length)).toEqual([25, 5, ...Array(19).fill(25)]);
    expect(calls[1]).toEqual(calls[0].slice(0, 5));
    const written = calls.flat().map((w) => w.PutRequest!.Item.ts as number);
    expect(new Set(written)).toEqual(new Set(batch.map((r) => r.ts)));
    expect(calls[0][0].PutRequest!.Item).toEqual({
      sensorId: 's1',
      ts: batch[0].ts,
      values: batch[0].values,
      receivedAt: NOW,
      seq: '1000',
      expiresAt: Math.floor((batch[0].ts + 30 * 86_400_000) / 1000),
    });
  });

  it('existing: strongly consistent BatchGets of 100 keys, retrying unprocessed keys, answering values and seq', async () => {
    const keys = Array.from({ length: 150 }, (_, i) => ({ sensorId: 's1', ts: NOW - i }));
    ddb
      .on(BatchGetCommand)
      .resolvesOnce({ Responses: { [TABLE]: [] }, UnprocessedKeys: { [TABLE]: { Keys: [{ sensorId: 's1', ts: NOW }] } } })
      .resolves({ Responses: { [TABLE]: [{ sensorId: 's1', ts: NOW, values: { t: 1 }, seq: '7' }] } });
    const found = await store.existing(keys);
    expect(found).toContainEqual({ sensorId: 's1', ts: NOW, values: { t: 1 }, seq: '7' });
    expect(ddb.commandCalls(BatchGetCommand).map((c) => c.args[0].input.RequestItems![TABLE].Keys!.length)).toEqual([100, 1, 50]);
    expect(ddb).toHaveReceivedCommandWith(BatchGetCommand, {
      RequestItems: { [TABLE]: expect.objectContaining({ ConsistentRead: true }) },
    });
  });

  it('gives up with an error when items stay unprocessed', async () => {
    ddb.on(BatchWriteCommand).callsFake((input) => ({ UnprocessedItems: input.RequestItems }));
    await expect(
      store.putAll([
        { ...reading(NOW), seq: '1' },
        { ...reading(NOW - 1), seq: '2' },
      ]),
    ).rejects.toThrow(/unprocessed/);
    expect(ddb).toHaveReceivedCommandTimes(BatchWriteCommand, 8);
  });
});

describe('DynamoReadingStore.insertNew (direct ingest)', () => {
  const store = new DynamoReadingStore(doc, TABLE, 30);

  it('many readings: one conditional Put each, so the first write wins even against a concurrent invocation', async () => {
    const batch = Array.from({ length: 40 }, (_, i) => reading(NOW - i));
    const taken = new Set(batch.slice(0, 10).map((r) => r.ts));
    ddb.on(PutCommand).callsFake((input) => {
      if (taken.has(input.Item.ts)) throw conditionFailed();
      return {};
    });
    expect(await store.insertNew(batch)).toEqual(batch.slice(10));
    expect(ddb).toHaveReceivedCommandTimes(PutCommand, 40);
    expect(ddb).toHaveReceivedCommandTimes(BatchWriteCommand, 0);
  });

  it('a single reading is a conditional Put', async () => {
    ddb.on(PutCommand).resolves({});
    const r = reading(NOW);
    expect(await store.insertNew([r])).toEqual([r]);
    expect(ddb).toHaveReceivedCommandWith(PutCommand, {
      TableName: TABLE,
      Item: expect.objectContaining({ sensorId: 's1', ts: NOW, values: { t: r.values.t } }),
      ConditionExpression: 'attribute_not_exists(#ts)',
      ExpressionAttributeNames: { '#ts': 'ts' },
    });
    expect(ddb).toHaveReceivedCommandTimes(BatchGetCommand, 0);
  });

  it('a single reading already stored answers [] on ConditionalCheckFailedException', async () => {
    ddb.on(PutCommand).rejects(conditionFailed());
    expect(await store.insertNew([reading(NOW)])).toEqual([]);
  });

  it('any other Put error propagates', async () => {
    ddb.on(PutCommand).rejects(Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }));
    await expect(store.insertNew([reading(NOW)])).rejects.toThrow('throttled');
  });

  it('nothing to insert sends nothing', async () => {
    expect(await store.insertNew([])).toEqual([]);
    expect(ddb.calls()).toHaveLength(0);
  });
});

describe('DynamoReadingStore: packs (stream ingest)', () => {
  const store = new DynamoReadingStore(doc, TABLE, 30);
  const M = 60_000 * 29_000_000;

  it("putPacks: one item per pack in the sensor's pack partition, keyed by its oldest reading, offsets from it as keys", async () => {
    ddb.on(BatchWriteCommand).resolves({});
    await store.putPacks([
      {
        sensorId: 's1',
        start: M + 5000,
        readings: new Map([
          [M + 5000, { t: 1 }],
          [M + 10_000, { t: 2 }],
        ]),
      },
      { sensorId: 's2', start: M, readings: new Map([[M, { t: 3 }]]) },
    ]);
    const expiresAt = Math.floor((M + 60_000 + 30 * 86_400_000) / 1000);
    expect(writeCalls()).toEqual([
      [
        { PutRequest: { Item: { sensorId: 's1#m', ts: M + 5000, r: { 0: { t: 1 }, 5000: { t: 2 } }, expiresAt } } },
        { PutRequest: { Item: { sensorId: 's2#m', ts: M, r: { 0: { t: 3 } }, expiresAt } } },
      ],
    ]);
  });

  it("packsIn: a strongly consistent Query of each range's keys, both ends in, answered as maps by ts", async () => {
    ddb
      .on(QueryCommand, { ExpressionAttributeValues: { ':p': 's1#m', ':low': M, ':high': M + 20_000 } })
      .resolves({ Items: [{ ts: M + 5000, r: { 0: { t: 1 }, 7000: { t: 2 } } }], Count: 1 });
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':p': 's2#m', ':low': M, ':high': M } }).resolves({ Items: [], Count: 0 });
    const found = await store.packsIn([
      { sensorId: 's1', from: M, to: M + 20_000 },
      { sensorId: 's2', from: M, to: M },
    ]);
    expect(found).toEqual([
      {
        sensorId: 's1',
        start: M + 5000,
        readings: new Map([
          [M + 5000, { t: 1 }],
          [M + 12_000, { t: 2 }],
        ]),
      },
    ]);
    expect(ddb.commandCalls(QueryCommand).every((c) => c.args[0].input.ConsistentRead === true)).toBe(true);
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(2);
  });
});

describe('DynamoReadingStore.queryRaw and DynamoRollupStore', () => {
  it('queries [from, to) after the cursor, following pages up to maxItems', async () => {
    const store = new DynamoReadingStore(doc, TABLE, 30);
    ddb
      .on(QueryCommand, { ExpressionAttributeValues: { ':p': 's1' } })
      .resolvesOnce({ Items: [{ ts: 11, values: { t: 1 } }], Count: 1, LastEvaluatedKey: { sensorId: 's1', ts: 11 } })
      .resolvesOnce({ Items: [{ ts: 12, values: { t: 2 } }], Count: 1 });
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':p': 's1#m' } }).resolves({ Items: [], Count: 0 });
    const out = await store.queryRaw({ sensorId: 's1', from: 0, to: 100, after: 10, maxItems: 5 });
    expect(out).toEqual({
      points: [
        { ts: 11, values: { t: 1 } },
        { ts: 12, values: { t: 2 } },
      ],
      itemsRead: 2,
    });
    expect(ddb).toHaveReceivedNthCommandWith(QueryCommand, 1, {
      TableName: TABLE,
      KeyConditionExpression: '#pk = :p AND #ts BETWEEN :low AND :high',
      ExpressionAttributeValues: { ':p': 's1', ':low': 11, ':high': 99 },
      Limit: 5,
    });
    expect(ddb).toHaveReceivedNthCommandWith(QueryCommand, 3, { ExclusiveStartKey: { sensorId: 's1', ts: 11 }, Limit: 4 });
  });

  it('merges packs and single items in ts order: the range, the cursor and maxItems apply to points, a ts in both counts once', async () => {
    const store = new DynamoReadingStore(doc, TABLE, 30);
    const M = 60_000 * 29_000_000;
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':p': 's1' } }).resolves({
      Items: [
        { ts: M + 1500, values: { t: 99 } },
        { ts: M + 70_000, values: { t: 7 } },
      ],
      Count: 2,
      ScannedCount: 2,
    });
    ddb
      .on(QueryCommand, { ExpressionAttributeValues: { ':p': 's1#m' } })
      .resolvesOnce({
        Items: [{ ts: M, r: { 0: { t: 0 }, 1000: { t: 1 }, 1500: { t: 99 }, 2000: { t: 2 } } }],
        Count: 1,
        ScannedCount: 1,
        LastEvaluatedKey: { sensorId: 's1#m', ts: M },
      })
      .resolvesOnce({ Items: [{ ts: M + 60_000, r: { 5000: { t: 5 }, 20000: { t: 6 } } }], Count: 1, ScannedCount: 1 });
    const out = await store.queryRaw({ sensorId: 's1', from: M, to: M + 2 * 60_000, after: M + 500, maxItems: 5 });
    expect(out.points).toEqual([
      { ts: M + 1000, values: { t: 1 } },
      { ts: M + 1500, values: { t: 99 } },
      { ts: M + 2000, values: { t: 2 } },
      { ts: M + 65_000, values: { t: 5 } },
      { ts: M + 70_000, values: { t: 7 } },
    ]);
    expect(out.itemsRead).toBe(4);
    // Packs from the cursor's minute on; single items from just after the cursor.
    expect(ddb).toHaveReceivedCommandWith(QueryCommand, {
      ExpressionAttributeValues: { ':p': 's1#m', ':low': M, ':high': M + 2 * 60_000 - 1 },
      ProjectionExpression: '#ts, #v',
      ExpressionAttributeNames: expect.objectContaining({ '#v': 'r' }),
    });
    expect(ddb).toHaveReceivedCommandWith(QueryCommand, {
      ExpressionAttributeValues: { ':p': 's1', ':low': M + 501, ':high': M + 2 * 60_000 - 1 },
    });
    // The second pack page was needed: after the first, fewer than 5 points were known below both partitions' reach.
    expect(ddb).toHaveReceivedCommandWith(QueryCommand, { ExclusiveStartKey: { sensorId: 's1#m', ts: M } });
  });

  it('a pack item without readings (written by hand, cut by a projection) reads as none, not as an error', async () => {
    const store = new DynamoReadingStore(doc, TABLE, 30);
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':p': 's1' } }).resolves({ Items: [{ ts: 5, values: { t: 1 } }], Count: 1 });
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':p': 's1#m' } }).resolves({ Items: [{ ts: 0 }], Count: 1 });
    expect((await store.queryRaw({ sensorId: 's1', from: 0, to: 100 })).points).toEqual([{ ts: 5, values: { t: 1 } }]);
  });

  it('stops reading packs once maxItems points are known, however many readings a pack holds', async () => {
    const store = new DynamoReadingStore(doc, TABLE, 30);
    const M = 60_000 * 29_000_000;
    const full = () => Object.fromEntries(Array.from({ length: 60 }, (_, i) => [String(i * 1000), { t: i }]));
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':p': 's1' } }).resolves({ Items: [], Count: 0 });
    ddb.on(QueryCommand, { ExpressionAttributeValues: { ':p': 's1#m' } }).callsFake((input) => {
      const first = input.ExclusiveStartKey ? input.ExclusiveStartKey.ts + 60_000 : input.ExpressionAttributeValues[':low'];
      const items = Array.from({ length: input.Limit }, (_, i) => ({ ts: first + i * 60_000, r: full() }));
      return { Items: items, Count: items.length, LastEvaluatedKey: { sensorId: 's1#m', ts: items[items.length - 1].ts } };
    });
    const out = await store.queryRaw({ sensorId: 's1', from: M, to: M + 3_600_000, maxItems: 101 });
    expect(out.points).toHaveLength(101);
    expect(out.points[100].ts).toBe(M + 100_000);
    // 101 points from 60-reading packs: the first page asks ceil(101 / 12) + 1 packs, not 101.
    expect(ddb).toHaveReceivedNthCommandWith(QueryCommand, 2, { Limit: 10 });
    expect(ddb).toHaveReceivedCommandTimes(QueryCommand, 2);
    expect(out.itemsRead).toBe(10);
  });

  it('reads strongly consistent only when asked (roll-up recomputation), for raw readings and buckets', async () => {
    const store = new DynamoReadingStore(doc, TABLE, 30);
    const rollups = new DynamoRollupStore(doc, 'rollups', { minuteDays: 180, hourDays: 1825 });
    ddb.on(QueryCommand).resolves({ Items: [], Count: 0 });
    await store.queryRaw({ sensorId: 's1', from: 0, to: 100, consistent: true });
    await rollups.queryBuckets({ sensorId: 's1', resolution: '1m', from: 0, to: 100, consistent: true });
    await store.queryRaw({ sensorId: 's1', from: 0, to: 100 });
    const consistency = ddb.commandCalls(QueryCommand).map((c) => c.args[0].input.ConsistentRead);
    expect(consistency).toEqual([true, true, true, undefined, undefined]);
    expect(ddb).toHaveReceivedNthCommandWith(QueryCommand, 3, {
      TableName: 'rollups',
      ExpressionAttributeValues: { ':p': 's1#1m', ':low': 0, ':high': 99 },
    });
  });

  it('putBucket writes only over the bucket it read, and says when another writer came first', async () => {
    const rollups = new DynamoRollupStore(doc, 'rollups', { minuteDays: 180, hourDays: 1825 });
    ddb.on(PutCommand).rejects(conditionFailed());
    const bucket = { ts: NOW, stats: { t: { min: 1, max: 1, sum: 1, count: 1 } }, readings: 3, lastTs: NOW + 5 };
    expect(await rollups.putBucket('s1', '1m', bucket, 2)).toBe(false);
    expect(ddb).toHaveReceivedCommandWith(PutCommand, {
      TableName: 'rollups',
      Item: expect.objectContaining({
        series: 's1#1m',
        ts: NOW,
        readings: 3,
        lastTs: NOW + 5,
        expiresAt: Math.floor((NOW + 180 * 86_400_000) / 1000),
      }),
      ConditionExpression: '#n = :n',
      ExpressionAttributeValues: { ':n': 2 },
    });
    ddb.reset();
    ddb.on(PutCommand).resolves({});
    expect(await rollups.putBucket('s1', '1h', bucket, null)).toBe(true);
    expect(ddb).toHaveReceivedCommandWith(PutCommand, {
      ConditionExpression: 'attribute_not_exists(#n)',
      Item: expect.objectContaining({ series: 's1#1h', expiresAt: Math.floor((NOW + 1825 * 86_400_000) / 1000) }),
    });
  });
});

describe('DynamoSensorRegistry.applyPresence', () => {
  const registry = new DynamoSensorRegistry(doc, 'sensors', () => NOW);

  it('a connect applies on a higher version, or a lower one stamped 5 minutes past the applied event, and clears the forget time', async () => {
    ddb.on(UpdateCommand).resolves({});
    expect(await registry.applyPresence('s1', { online: true, ts: NOW, versionNumber: 3 })).toBe(true);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { sensorId: 's1' },
      UpdateExpression: 'SET #on = :online, #pts = :ts, #pv = :v REMOVE #exp',
      ConditionExpression: 'attribute_not_exists(#pv) OR #pv < :v OR (#pv > :v AND #pts < :restartBefore)',
      ExpressionAttributeValues: { ':online': true, ':ts': NOW, ':v': 3, ':restartBefore': NOW - 5 * 60_000 },
    });
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 1);
  });

  it('a disconnect also applies over the connect of its own version', async () => {
    ddb.on(UpdateCommand).resolves({ Attributes: { sensorId: 's1', lastReadingAt: NOW - 10 } });
    expect(await registry.applyPresence('s1', { online: false, ts: NOW, versionNumber: 3 })).toBe(true);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      ConditionExpression: 'attribute_not_exists(#pv) OR #pv < :v OR (#pv = :v AND #on = :true) OR (#pv > :v AND #pts < :restartBefore)',
    });
    // A sensor that sent readings is never forgotten: no second write.
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 1);
  });

  it('answers false when the condition fails (a stale or duplicate event)', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    expect(await registry.applyPresence('s1', { online: false, ts: NOW - 1, versionNumber: 1 })).toBe(false);
  });

  it('the disconnect of a sensor that never sent a reading sets its TTL to 24 h after the disconnect, in epoch seconds', async () => {
    ddb
      .on(UpdateCommand)
      .resolvesOnce({ Attributes: { sensorId: 's1', online: false } })
      .resolves({});
    expect(await registry.applyPresence('s1', { online: false, ts: NOW, versionNumber: 4 })).toBe(true);
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 2);
    const second = ddb.commandCalls(UpdateCommand)[1].args[0].input;
    expect(second.UpdateExpression).toBe('SET #exp = :exp');
    expect(second.ExpressionAttributeNames).toMatchObject({ '#exp': 'expiresAt', '#rt': 'lastReadingAt' });
    expect(second.ConditionExpression).toContain('attribute_not_exists(#rt)');
    expect(second.ExpressionAttributeValues).toMatchObject({ ':exp': (NOW + 86_400_000) / 1000, ':v': 4, ':ts': NOW });
  });
});

describe('DynamoSensorRegistry: a forgotten sensor is hidden at once', () => {
  const registry = new DynamoSensorRegistry(doc, 'sensors', () => NOW);
  const item = { sensorId: 's1', online: false, presenceTs: NOW - 86_400_000, presenceVersion: 1 };

  it('get answers undefined for an item past its TTL, and the item before it', async () => {
    ddb
      .on(GetCommand)
      .resolvesOnce({ Item: { ...item, expiresAt: NOW / 1000 } })
      .resolves({ Item: { ...item, expiresAt: NOW / 1000 + 1 } });
    expect(await registry.get('s1')).toBeUndefined();
    expect((await registry.get('s1'))?.sensorId).toBe('s1');
  });

  it('list filters items past their TTL in the scan', async () => {
    ddb.on(ScanCommand).resolves({ Items: [] });
    await registry.list();
    expect(ddb).toHaveReceivedCommandWith(ScanCommand, {
      FilterExpression: 'attribute_not_exists(#exp) OR #exp > :nowSeconds',
      ExpressionAttributeNames: { '#exp': 'expiresAt' },
      ExpressionAttributeValues: { ':nowSeconds': NOW / 1000 },
    });
  });
});

describe('DynamoSensorRegistry.recordReadings and get', () => {
  const registry = new DynamoSensorRegistry(doc, 'sensors');
  const readings: Reading[] = [
    { sensorId: 's1', ts: NOW - 2000, values: { t: 1, h: 40 }, units: { t: '°C' }, receivedAt: NOW - 10 },
    { sensorId: 's1', ts: NOW - 1000, values: { t: 2 }, units: {}, receivedAt: NOW },
  ];

  it('adds metrics, sets units and the receive time, and the newest reading only when newer than the stored one', async () => {
    ddb.on(UpdateCommand).resolves({});
    await registry.recordReadings('s1', readings);
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 1);
    const input = ddb.commandCalls(UpdateCommand)[0].args[0].input;
    expect(input.ConditionExpression).toBe('attribute_not_exists(#lts) OR #lts < :lts');
    expect(input.ExpressionAttributeValues).toMatchObject({
      ':metrics': new Set(['t', 'h']),
      ':rt': NOW,
      ':latest': { ts: NOW - 1000, values: { t: 2 } },
      ':lts': NOW - 1000,
    });
    expect(Object.values(input.ExpressionAttributeNames!)).toContain('unit:t');
  });

  it('an older reading (offline buffer) updates everything but latest', async () => {
    ddb.on(UpdateCommand).rejectsOnce(conditionFailed()).resolves({});
    await registry.recordReadings('s1', readings);
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 2);
    const second = ddb.commandCalls(UpdateCommand)[1].args[0].input;
    expect(second.ConditionExpression).toBeUndefined();
    expect(second.UpdateExpression).not.toContain('#l =');
    expect(second.ExpressionAttributeValues).toMatchObject({ ':rt': NOW });
  });

  it('reads an item back into a sensor record', async () => {
    ddb.on(GetCommand).resolves({
      Item: {
        sensorId: 's1',
        metrics: new Set(['t', 'h']),
        'unit:t': '°C',
        latest: { ts: NOW - 1000, values: { t: 2 } },
        latestTs: NOW - 1000,
        lastReadingAt: NOW,
        online: true,
        presenceTs: NOW - 5000,
        presenceVersion: 2,
      },
    });
    expect(await registry.get('s1')).toEqual({
      sensorId: 's1',
      metrics: ['h', 't'],
      units: { t: '°C' },
      latest: { ts: NOW - 1000, values: { t: 2 } },
      lastReadingAt: NOW,
      presence: { online: true, ts: NOW - 5000, versionNumber: 2 },
    });
    expect(ddb).toHaveReceivedCommandWith(GetCommand, { TableName: 'sensors', Key: { sensorId: 's1' }, ConsistentRead: true });
  });
});

describe('DynamoConnectionRegistry', () => {
  const connections = new DynamoConnectionRegistry(doc, 'connections');

  it('markPushed claims a sensor’s minute with one atomic ADD to its set of pushed ts: a redelivery gets nothing back', async () => {
    ddb.on(UpdateCommand).resolves({});
    const minute = Math.floor(NOW / 60_000) * 60_000;
    expect(await connections.markPushed([{ sensorId: 's1', ts: NOW }], NOW)).toEqual([{ sensorId: 's1', ts: NOW }]);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: 'connections',
      Key: { pk: 'live#s1', sk: `m#${minute}` },
      UpdateExpression: 'ADD #ts :ts SET #exp = :exp',
      ExpressionAttributeValues: { ':ts': new Set([NOW]), ':exp': Math.floor(NOW / 1000) + 86_400 },
      ReturnValues: 'UPDATED_OLD',
    });
    ddb.reset();
    ddb.on(UpdateCommand).resolves({ Attributes: { ts: new Set([NOW]) } });
    expect(await connections.markPushed([{ sensorId: 's1', ts: NOW }], NOW)).toEqual([]);
  });

  it('markPushed for many readings of many sensors writes once per sensor and minute, and answers those no one claimed', async () => {
    const minute = Math.floor(NOW / 60_000) * 60_000;
    ddb.on(UpdateCommand, { Key: { pk: 'live#s1', sk: `m#${minute}` } }).resolves({ Attributes: { ts: new Set([minute + 1]) } });
    ddb.on(UpdateCommand, { Key: { pk: 'live#s2', sk: `m#${minute}` } }).resolves({});
    const keys = [
      { sensorId: 's1', ts: minute + 2 },
      { sensorId: 's1', ts: minute + 1 },
      { sensorId: 's2', ts: minute + 1 },
    ];
    expect(await connections.markPushed(keys, NOW)).toEqual([keys[0], keys[2]]);
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 2);
    expect(ddb).toHaveReceivedCommandTimes(BatchGetCommand, 0);
  });

  it('a shard’s live state: one strongly consistent read; saved only if its seq is still the one read', async () => {
    const minute = Math.floor(NOW / 60_000) * 60_000;
    ddb.on(GetCommand).resolves({});
    expect(await connections.liveShard('shardId-000000000001')).toEqual({ seq: null, sensors: new Map() });
    expect(ddb).toHaveReceivedCommandWith(GetCommand, { Key: { pk: 'liveshard#shardId-000000000001', sk: 'state' }, ConsistentRead: true });

    ddb.on(PutCommand).resolvesOnce({}).rejects(conditionFailed());
    const state = {
      seq: '42',
      sensors: new Map([
        ['s1', { minute, ts: [minute + 5, minute + 59_999] }],
        ['s2', { minute, ts: [] }],
        ['s3', { minute, ts: [minute + 40_001], floor: minute + 40_000 }],
        ['s4', { minute, ts: [], floor: minute }],
      ]),
    };
    expect(await connections.saveLiveShard('shardId-000000000001', null, state, NOW)).toBe(true);
    const saved = ddb.commandCalls(PutCommand)[0].args[0].input;
    expect(saved).toMatchObject({
      ConditionExpression: 'attribute_not_exists(#seq)',
      Item: { pk: 'liveshard#shardId-000000000001', sk: 'state', seq: '42' },
    });
    // 2 bytes a pushed reading, 4 for the minute: the item stays small however many sensors it holds.
    expect((saved.Item!.sensors as Record<string, Uint8Array>).s1.byteLength).toBe(8);
    // A floor takes 4 bytes more.
    expect((saved.Item!.sensors as Record<string, Uint8Array>).s3.byteLength).toBe(10);
    expect(await connections.saveLiveShard('shardId-000000000001', '41', state, NOW)).toBe(false);
    expect(ddb.commandCalls(PutCommand)[1].args[0].input).toMatchObject({
      ConditionExpression: '#seq = :prev',
      ExpressionAttributeValues: { ':prev': '41' },
    });

    ddb.on(GetCommand).resolves({ Item: saved.Item });
    expect(await connections.liveShard('shardId-000000000001')).toEqual(state);
  });

  it('addLiveMarks: one atomic ADD per sensor-minute, answering each mark’s ts as they were', async () => {
    const minute = Math.floor(NOW / 60_000) * 60_000;
    ddb.on(UpdateCommand, { Key: { pk: 'live#s1', sk: `m#${minute}` } }).resolves({ Attributes: { ts: new Set([minute + 1]) } });
    ddb.on(UpdateCommand, { Key: { pk: 'live#s2', sk: `m#${minute}` } }).resolves({});
    const before = await connections.addLiveMarks(
      [
        { sensorId: 's1', minute, ts: [minute + 1, minute + 2] },
        { sensorId: 's2', minute, ts: [minute + 3] },
      ],
      NOW,
    );
    expect(before).toEqual([new Set([minute + 1]), new Set()]);
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 2);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, { Key: { pk: 'live#s1', sk: `m#${minute}` }, ReturnValues: 'UPDATED_OLD' });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { pk: 'live#s1', sk: `m#${minute}` },
      ExpressionAttributeValues: { ':ts': new Set([minute + 1, minute + 2]), ':exp': Math.floor(NOW / 1000) + 86_400 },
    });
  });

  it('addLiveMarks: a mark whose old ts are not wanted asks for nothing back', async () => {
    const minute = Math.floor(NOW / 60_000) * 60_000;
    ddb.on(UpdateCommand).resolves({});
    expect(await connections.addLiveMarks([{ sensorId: 's1', minute, ts: [minute + 1], before: 'none' }], NOW)).toEqual([new Set()]);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, { Key: { pk: 'live#s1', sk: `m#${minute}` }, ReturnValues: 'NONE' });
  });

  it('takeCommandToken: a new second starts the budget; within a second it counts up to the limit', async () => {
    ddb.on(UpdateCommand).rejectsOnce(conditionFailed()).resolvesOnce({}).rejects(conditionFailed());
    expect(await connections.takeCommandToken('c1', NOW + 250, 10)).toBe(true);
    expect(ddb).toHaveReceivedNthCommandWith(UpdateCommand, 1, {
      ConditionExpression: 'attribute_not_exists(#sec) OR #sec <> :sec',
      ExpressionAttributeValues: { ':sec': NOW / 1000, ':one': 1 },
    });
    expect(ddb).toHaveReceivedNthCommandWith(UpdateCommand, 2, {
      ConditionExpression: '#sec = :sec AND #cnt < :max',
      ExpressionAttributeValues: { ':sec': NOW / 1000, ':one': 1, ':max': 10 },
    });
    expect(await connections.takeCommandToken('c1', NOW + 300, 10)).toBe(false);
  });

  it('setSubscriptions moves the subscriptions’ version on after its writes; close only when the connection had any', async () => {
    ddb.on(UpdateCommand).resolves({});
    await connections.setSubscriptions('c1', ['s1'], NOW);
    const order = ddb.calls().map((c) => (c.args[0].input as { Key?: { pk: string } }).Key?.pk ?? c.args[0].constructor.name);
    expect(order).toEqual(['conns', 'subs']);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { pk: 'subs', sk: 'version' },
      UpdateExpression: 'ADD #v :one',
      ExpressionAttributeValues: { ':one': 1 },
    });

    ddb.resetHistory();
    ddb.on(DeleteCommand).resolves({ Attributes: { subs: ['s1'] } });
    await connections.close('c1');
    expect(ddb.calls().map((c) => c.args[0].constructor.name)).toEqual(['DeleteCommand', 'UpdateCommand']);
    expect(ddb).toHaveReceivedCommandWith(DeleteCommand, { Key: { pk: 'conns', sk: 'c1' }, ReturnValues: 'ALL_OLD' });
    ddb.resetHistory();
    ddb.on(DeleteCommand).resolves({ Attributes: { subs: [] } });
    await connections.close('c2');
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 0);
  });

  it('liveVersion: the version alone, or with a shard’s state in one strongly consistent BatchGetItem', async () => {
    ddb.on(GetCommand, { Key: { pk: 'subs', sk: 'version' } }).resolves({ Item: { pk: 'subs', sk: 'version', v: 7 } });
    expect(await connections.liveVersion()).toEqual({ version: 7 });
    expect(ddb).toHaveReceivedCommandWith(GetCommand, { ConsistentRead: true });

    const state = { seq: '42', sensors: new Map([['s1', { minute: 0, ts: [1, 2] }]]) };
    ddb.on(PutCommand).resolves({});
    await connections.saveLiveShard('shardId-000000000001', null, state, NOW);
    const saved = ddb.commandCalls(PutCommand)[0].args[0].input.Item!;
    ddb.on(BatchGetCommand).resolves({ Responses: { connections: [saved, { pk: 'subs', v: 8 }] } });
    expect(await connections.liveVersion('shardId-000000000001')).toEqual({ version: 8, shard: state });
    expect(ddb).toHaveReceivedCommandWith(BatchGetCommand, {
      RequestItems: {
        connections: expect.objectContaining({
          Keys: [
            { pk: 'subs', sk: 'version' },
            { pk: 'liveshard#shardId-000000000001', sk: 'state' },
          ],
          ConsistentRead: true,
        }),
      },
    });
    // Neither item yet: no version, and a shard that claimed nothing.
    ddb.on(BatchGetCommand).resolves({ Responses: { connections: [] } });
    expect(await connections.liveVersion('shardId-000000000001')).toEqual({ version: null, shard: { seq: null, sensors: new Map() } });
  });

  it('allSubscriptions: every connection with a set, strongly consistent, page after page', async () => {
    ddb
      .on(QueryCommand, { ExpressionAttributeValues: { ':pk': 'conns' } })
      .resolvesOnce({ Items: [{ sk: 'all', subs: ['*'] }], LastEvaluatedKey: { pk: 'conns', sk: 'all' } })
      .resolvesOnce({
        Items: [
          { sk: 'idle', subs: [] },
          { sk: 'one', subs: ['s3'] },
        ],
      });
    expect(await connections.allSubscriptions()).toEqual([
      { connectionId: 'all', sensorIds: ['*'] },
      { connectionId: 'one', sensorIds: ['s3'] },
    ]);
    expect(ddb).toHaveReceivedCommandTimes(QueryCommand, 2);
    expect(ddb).toHaveReceivedCommandWith(QueryCommand, { ConsistentRead: true });
  });
});

describe('ApiGatewayLiveSender', () => {
  const sender = new ApiGatewayLiveSender(
    new ApiGatewayManagementApiClient({ endpoint: 'https://example.execute-api.eu-west-1.amazonaws.com/prod', region: 'eu-west-1' }),
  );

  it('posts the frame as JSON to the connection', async () => {
    apigw.on(PostToConnectionCommand).resolves({});
    expect(await sender.send('abc=', { type: 'pong' })).toBe('sent');
    const input = apigw.commandCalls(PostToConnectionCommand)[0].args[0].input;
    expect(input.ConnectionId).toBe('abc=');
    expect(JSON.parse(Buffer.from(input.Data as Uint8Array).toString('utf8'))).toEqual({ type: 'pong' });
  });

  it('answers gone on GoneException (410)', async () => {
    apigw.on(PostToConnectionCommand).rejects(new GoneException({ message: 'gone', $metadata: { httpStatusCode: 410 } }));
    expect(await sender.send('abc=', { type: 'pong' })).toBe('gone');
  });

  it('other errors propagate', async () => {
    apigw.on(PostToConnectionCommand).rejects(Object.assign(new Error('limit'), { name: 'LimitExceededException' }));
    await expect(sender.send('abc=', { type: 'pong' })).rejects.toThrow('limit');
  });

  it('pushToConnections closes a gone connection, deleting its item with its subscriptions', async () => {
    const connections = new DynamoConnectionRegistry(doc, 'connections');
    apigw
      .on(PostToConnectionCommand, { ConnectionId: 'dead' })
      .rejects(new GoneException({ message: 'gone', $metadata: { httpStatusCode: 410 } }));
    apigw.on(PostToConnectionCommand, { ConnectionId: 'live' }).resolves({});
    ddb.on(DeleteCommand, { Key: { pk: 'conns', sk: 'dead' } }).resolves({ Attributes: { pk: 'conns', sk: 'dead', subs: ['s1', '*'] } });
    ddb.on(UpdateCommand).resolves({});

    const sent = await pushToConnections(
      ['dead', 'live'],
      { type: 'pong' },
      { connections, live: sender, log: silentLog, metrics: new FakeMetrics(), now: () => NOW },
    );

    expect(sent).toBe(1);
    expect(ddb).toHaveReceivedCommandWith(DeleteCommand, { TableName: 'connections', Key: { pk: 'conns', sk: 'dead' } });
    expect(ddb).toHaveReceivedCommandTimes(DeleteCommand, 1);
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, { Key: { pk: 'subs', sk: 'version' } });
  });
});

describe('IotDevicePublisher', () => {
  it('publishes the JSON message to the topic at QoS 1', async () => {
    iot.on(PublishCommand).resolves({});
    const message = { id: 'c1', name: 'setInterval', args: { intervalMs: 1000 }, issuedAt: NOW };
    await new IotDevicePublisher(new IoTDataPlaneClient({ region: 'eu-west-1' })).publish('sensors/s1/commands', message);
    expect(iot).toHaveReceivedCommandWith(PublishCommand, { topic: 'sensors/s1/commands', qos: 1 });
    const payload = iot.commandCalls(PublishCommand)[0].args[0].input.payload as Uint8Array;
    expect(JSON.parse(Buffer.from(payload).toString('utf8'))).toEqual(message);
  });
});

describe('sqsRejectionSink', () => {
  it('sends the topic, code, reason and payload to the dead-letter queue', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm1' });
    const rejected = {
      topic: 'sensors/s1/telemetry',
      sensorId: 's1',
      code: 'INVALID_JSON',
      message: 'payload is not JSON',
      payload: Buffer.from('nope').toString('base64'),
      receivedAt: NOW,
    };
    await sqsRejectionSink(new SQSClient({ region: 'eu-west-1' }), 'https://sqs.eu-west-1.amazonaws.com/1/dlq').reject(rejected);
    expect(sqs).toHaveReceivedCommandWith(SendMessageCommand, {
      QueueUrl: 'https://sqs.eu-west-1.amazonaws.com/1/dlq',
      MessageAttributes: { code: { DataType: 'String', StringValue: 'INVALID_JSON' } },
    });
    const body = JSON.parse(sqs.commandCalls(SendMessageCommand)[0].args[0].input.MessageBody!);
    expect(body).toMatchObject(rejected);
  });
});
