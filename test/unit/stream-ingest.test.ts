/**
 * Stream ingest: the telemetry rule writes rule events to Kinesis and the history writer and broadcaster read
 * them in batches. Core with fakes, and the handlers with a Kinesis event of the shape AWS documents.
 */
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { broadcastTelemetryBatch, readingsFrames } from '../../lambdas/core/broadcast-telemetry.js';
import { batchItemFailures, streamRecords } from '../../lambdas/shared/rule-events.js';
import './aws-matchers.js';
// Sets the handlers' environment: imported before the handlers are.
import { DLQ, fixture } from './handler-env.js';
import { FakeConnectionRegistry, FakeLiveSender, fakeBroadcastDeps } from './fakes.js';

const NOW = 1764160000000;

const ddb = mockClient(DynamoDBDocumentClient);
const apigw = mockClient(ApiGatewayManagementApiClient);
const sqs = mockClient(SQSClient);
const historyWriter = (await import('../../lambdas/handlers/history-writer.js')).handler;
const broadcaster = (await import('../../lambdas/handlers/broadcaster.js')).handler;
const { resetWiring } = await import('../../lambdas/handlers/wiring.js');

describe('readingsFrames', () => {
  it('splits many readings into frames under API Gateway’s 32 KB frame size, keeping every reading once in order', () => {
    const values = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`metric_${i}`, 1234.5678 + i]));
    const readings = Array.from({ length: 500 }, (_, i) => ({ sensorId: 's1', ts: NOW - 500 + i, values }));
    const frames = readingsFrames(readings);
    expect(frames.length).toBeGreaterThan(1);
    for (const frame of frames) {
      expect(frame.type).toBe('readings');
      expect(Buffer.byteLength(JSON.stringify(frame))).toBeLessThanOrEqual(32 * 1024);
    }
    expect(frames.flatMap((f) => f.readings)).toEqual(readings);
  });

  it('a few readings make one frame', () => {
    const readings = [{ sensorId: 's1', ts: NOW, values: { t: 1 } }];
    expect(readingsFrames(readings)).toEqual([{ type: 'readings', readings }]);
  });
});

describe('broadcastTelemetryBatch with fakes', () => {
  const event = (sensorId: string, payload: unknown) => ({
    payload: Buffer.from(JSON.stringify(payload)).toString('base64'),
    sensorId,
    receivedAt: NOW,
  });
  let connections: FakeConnectionRegistry;
  let live: FakeLiveSender;
  beforeEach(async () => {
    connections = new FakeConnectionRegistry();
    live = new FakeLiveSender();
    await connections.setSubscriptions('all', ['*'], NOW);
    await connections.setSubscriptions('a-only', ['a'], NOW);
  });

  it('each reading once, only to its subscribers; readings of one batch share a frame per connection', async () => {
    const events = [
      event('a', { ts: NOW - 2, values: { t: 1 } }),
      event('b', { ts: NOW - 1, values: { t: 2 } }),
      event('a', { ts: NOW - 2, values: { t: 1 } }), // a redelivery inside the batch
      event('a', { values: { t: 'bad' } }),
    ];
    const result = await broadcastTelemetryBatch(events, fakeBroadcastDeps(connections, live, { now: () => NOW }));
    expect(result).toEqual({ pushed: 2, connections: 2 });
    expect(live.framesTo('all')).toEqual([
      {
        type: 'readings',
        readings: [
          { sensorId: 'a', ts: NOW - 2, values: { t: 1 } },
          { sensorId: 'b', ts: NOW - 1, values: { t: 2 } },
        ],
      },
    ]);
    expect(live.framesTo('a-only')).toEqual([{ type: 'readings', readings: [{ sensorId: 'a', ts: NOW - 2, values: { t: 1 } }] }]);
    // The same batch again (a redelivery) pushes nothing.
    expect(await broadcastTelemetryBatch(events, fakeBroadcastDeps(connections, live, { now: () => NOW }))).toEqual({
      pushed: 0,
      connections: 0,
    });
  });
});

const kinesis = () => fixture('kinesis-telemetry-batch') as { Records: Array<{ kinesis: { sequenceNumber: string; data: string } }> };
const seqOf = (i: number) => kinesis().Records[i].kinesis.sequenceNumber;

describe('streamRecords', () => {
  it('decodes each Kinesis record’s data into its rule event, with its sequence number and partition key', () => {
    const records = streamRecords(kinesis())!;
    expect(records.map((r) => [r.sequenceNumber, r.partitionKey, (r.event as { sensorId: string }).sensorId])).toEqual([
      [seqOf(0), 'greenhouse-1', 'greenhouse-1'],
      [seqOf(1), 'cellar-2', 'cellar-2'],
      [seqOf(2), 'attic-3', 'attic-3'],
    ]);
  });

  it('a direct rule event is not a stream batch; data that is not base64 JSON is passed on to be rejected', () => {
    expect(streamRecords(fixture('iot-telemetry-rule-event'))).toBeUndefined();
    const [record] = streamRecords({ Records: [{ kinesis: { data: '%%%not base64 json', sequenceNumber: '1', partitionKey: 'x' } }] })!;
    expect(typeof record.event).toBe('string');
  });

  it('batchItemFailures names only the first failed record (Kinesis retries from it)', () => {
    expect(batchItemFailures(null)).toEqual({ batchItemFailures: [] });
    expect(batchItemFailures('42')).toEqual({ batchItemFailures: [{ itemIdentifier: '42' }] });
  });
});

describe('broadcastTelemetryBatch: dashboards that get the same readings share their frames', () => {
  it('500 connections on * and one gone: each open one gets the one frame, the gone one is forgotten', async () => {
    const connections = new FakeConnectionRegistry();
    const live = new FakeLiveSender();
    for (let i = 0; i < 500; i++) await connections.setSubscriptions(`c${i}`, ['*'], NOW);
    live.gone.add('c7');
    const events = [
      { payload: Buffer.from(JSON.stringify({ ts: NOW - 1, values: { t: 1 } })).toString('base64'), sensorId: 'x', receivedAt: NOW },
    ];
    const result = await broadcastTelemetryBatch(events, fakeBroadcastDeps(connections, live, { now: () => NOW }));
    expect(result).toEqual({ pushed: 1, connections: 499 });
    expect(live.sent).toHaveLength(499);
    expect(new Set(live.sent.map((s) => s.connectionId)).size).toBe(499);
    for (const s of live.sent) expect(s.frame).toEqual({ type: 'readings', readings: [{ sensorId: 'x', ts: NOW - 1, values: { t: 1 } }] });
    expect(connections.closed).toEqual(['c7']);
  });
});

describe('handlers ← Kinesis batch of rule events', () => {
  beforeEach(() => {
    // Each test a fresh container: nothing cached (the broadcaster's subscriber sets) from the one before.
    resetWiring();
    ddb.reset();
    apigw.reset();
    sqs.reset();
  });

  function historyTables() {
    ddb.on(BatchGetCommand).resolves({ Responses: {} });
    ddb.on(BatchWriteCommand).resolves({});
    ddb.on(PutCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm' });
  }

  it('the history writer stores the batch with one pack batch write, one bucket batch write and one registry write per sensor, and dead-letters the rejected record', async () => {
    historyTables();
    expect(await historyWriter(kinesis())).toEqual({ batchItemFailures: [] });

    // Raw readings: one new pack per sensor-minute, keyed by its oldest reading, no item per reading.
    const minute = 1764159960000;
    const written = ddb
      .commandCalls(BatchWriteCommand)
      .flatMap((c) => (c.args[0].input.RequestItems!.readings ?? []).map((w) => w.PutRequest!.Item!));
    expect(written).toEqual([
      { sensorId: 'greenhouse-1#m', ts: minute + 39_000, r: { 0: expect.any(Object) }, expiresAt: expect.any(Number) },
      {
        sensorId: 'cellar-2#m',
        ts: minute + 38_000,
        r: { 0: expect.any(Object), 1500: expect.any(Object) },
        expiresAt: Math.floor((minute + 60_000) / 1000) + 30 * 86_400,
      },
    ]);
    // Nothing of the readings table was read to write them: the progress and the buckets only.
    for (const call of ddb.commandCalls(BatchGetCommand)) expect(Object.keys(call.args[0].input.RequestItems!)).not.toContain('readings');
    // Roll-ups: the 1m and the 1h bucket of each sensor, once each, in one batch write; no raw re-read.
    expect(ddb).toHaveReceivedCommandTimes(BatchWriteCommand, 2);
    expect(ddb).toHaveReceivedCommandTimes(PutCommand, 0);
    expect(ddb).toHaveReceivedCommandTimes(QueryCommand, 0);
    const buckets = ddb
      .commandCalls(BatchWriteCommand)
      .flatMap((c) => (c.args[0].input.RequestItems!.rollups ?? []).map((w) => w.PutRequest!.Item!));
    expect(buckets.map((b) => b.series).sort()).toEqual(['cellar-2#1h', 'cellar-2#1m', 'greenhouse-1#1h', 'greenhouse-1#1m']);
    expect(buckets).toContainEqual(expect.objectContaining({ series: 'cellar-2#1m', readings: 2, seq: seqOf(1) }));
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: 'sensors',
      Key: { sensorId: 'cellar-2' },
      ConditionExpression: 'attribute_not_exists(#seq)',
      ExpressionAttributeValues: expect.objectContaining({ ':seq': seqOf(1), ':smt': 1764159999500 }),
    });
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 2);
    expect(sqs).toHaveReceivedCommandTimes(SendMessageCommand, 1);
    expect(sqs).toHaveReceivedCommandWith(SendMessageCommand, {
      QueueUrl: DLQ,
      MessageAttributes: { code: { DataType: 'String', StringValue: 'INVALID_VALUE' } },
    });
  });

  it('a sensor whose write fails reports its first record; the records before it are done', async () => {
    historyTables();
    ddb
      .on(UpdateCommand, { Key: { sensorId: 'cellar-2' } })
      .rejects(Object.assign(new Error('throttled'), { name: 'ProvisionedThroughputExceededException' }));
    expect(await historyWriter(kinesis())).toEqual({ batchItemFailures: [{ itemIdentifier: seqOf(1) }] });
  });

  it('a dead letter that cannot be kept is a failure at its record, never the invalid payload itself', async () => {
    historyTables();
    sqs.on(SendMessageCommand).rejects(new Error('queue unavailable'));
    expect(await historyWriter(kinesis())).toEqual({ batchItemFailures: [{ itemIdentifier: seqOf(2) }] });
  });

  it('a redelivered batch (records at or before each sensor’s progress) writes nothing again', async () => {
    ddb.on(BatchGetCommand).callsFake((input) => ({
      Responses: {
        sensors: (input.RequestItems.sensors?.Keys ?? []).map((k: { sensorId: string }) => ({
          sensorId: k.sensorId,
          streamSeq: seqOf(2),
          storedMaxTs: 1764159999500,
          latestTs: 1764159999500,
        })),
      },
    }));
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm' });
    expect(await historyWriter(kinesis())).toEqual({ batchItemFailures: [] });
    expect(ddb).toHaveReceivedCommandTimes(BatchWriteCommand, 0);
    expect(ddb).toHaveReceivedCommandTimes(PutCommand, 0);
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 0);
  });

  /**
   * The connections table as the live path reads it: each connection's set in `conns`, the subscriptions' version
   * (alone, or with the shard's state), and the shard's state alone.
   */
  function liveTable(connections: Record<string, string[]>, version: number, shard?: Record<string, unknown>) {
    ddb.on(QueryCommand, { TableName: 'connections' }).callsFake((input) => ({
      Items: input.ExpressionAttributeValues[':pk'] === 'conns' ? Object.entries(connections).map(([sk, subs]) => ({ sk, subs })) : [],
    }));
    ddb.on(BatchGetCommand).resolves({
      Responses: {
        connections: [{ pk: 'subs', v: version }, ...(shard ? [{ pk: 'liveshard#shardId-000000000000', ...shard }] : [])],
      },
    });
    ddb
      .on(GetCommand, { TableName: 'connections', Key: { pk: 'subs', sk: 'version' } })
      .resolves({ Item: { pk: 'subs', sk: 'version', v: version } });
    ddb
      .on(GetCommand, { TableName: 'connections', Key: { pk: 'liveshard#shardId-000000000000', sk: 'state' } })
      .resolves({ Item: shard ? { pk: 'liveshard#shardId-000000000000', sk: 'state', ...shard } : undefined });
  }
  const versionAndShard = {
    RequestItems: {
      connections: expect.objectContaining({
        Keys: [
          { pk: 'subs', sk: 'version' },
          { pk: 'liveshard#shardId-000000000000', sk: 'state' },
        ],
        ConsistentRead: true,
      }),
    },
  };

  it('the broadcaster posts one frame per subscribed connection; the shard’s live state is read once and saved once', async () => {
    liveTable({ 'dash-1': ['*'] }, 1);
    ddb.on(UpdateCommand).resolves({});
    ddb.on(PutCommand).resolves({});
    apigw.on(PostToConnectionCommand).resolves({});

    expect(await broadcaster(kinesis())).toEqual({ batchItemFailures: [] });
    // The shard's state is read with the subscriptions' version, in one request; a new container reads the sets once.
    expect(ddb).toHaveReceivedCommandTimes(BatchGetCommand, 1);
    expect(ddb).toHaveReceivedCommandWith(BatchGetCommand, versionAndShard);
    expect(ddb).toHaveReceivedCommandTimes(GetCommand, 0);
    expect(ddb).toHaveReceivedCommandTimes(QueryCommand, 1);
    expect(ddb).toHaveReceivedCommandWith(QueryCommand, { ExpressionAttributeValues: { ':pk': 'conns' }, ConsistentRead: true });
    // The shard's state moves to the batch's last record, on the condition that no one moved it since the read.
    expect(ddb).toHaveReceivedCommandTimes(PutCommand, 1);
    expect(ddb.commandCalls(PutCommand)[0].args[0].input).toMatchObject({
      Item: { pk: 'liveshard#shardId-000000000000', sk: 'state', seq: seqOf(2) },
      ConditionExpression: 'attribute_not_exists(#seq)',
    });
    // Sensors the state does not hold yet (and readings older than it keeps) are claimed in their minutes' marks.
    const marks = ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(marks).toContainEqual(
      expect.objectContaining({ Key: { pk: 'live#cellar-2', sk: 'm#1764159960000' }, UpdateExpression: 'ADD #ts :ts SET #exp = :exp' }),
    );
    expect(marks.find((m) => m.Key?.pk === 'live#cellar-2')!.ExpressionAttributeValues![':ts']).toEqual(
      new Set([1764159998000, 1764159999500]),
    );
    expect(apigw).toHaveReceivedCommandTimes(PostToConnectionCommand, 1);
    const input = apigw.commandCalls(PostToConnectionCommand)[0].args[0].input;
    expect(input.ConnectionId).toBe('dash-1');
    expect(JSON.parse(Buffer.from(input.Data as Uint8Array).toString('utf8'))).toEqual({
      type: 'readings',
      readings: [
        { sensorId: 'cellar-2', ts: 1764159998000, values: { temperature: 19.5 } },
        { sensorId: 'greenhouse-1', ts: 1764159999000, values: { temperature: 21.4, humidity: 48 } },
        { sensorId: 'cellar-2', ts: 1764159999500, values: { temperature: 19.6 } },
      ],
    });
  });

  /** A Kinesis batch of one reading per record, received now (so the shard's state keeps their sensors' minute). */
  function recentBatch(firstSeq: number, readings: Array<{ sensorId: string; ts: number }>) {
    const template = kinesis().Records[0];
    return {
      Records: readings.map(({ sensorId, ts }, i) => {
        const seq = String(10n ** 20n + BigInt(firstSeq + i));
        const event = { payload: Buffer.from(JSON.stringify({ ts, values: { t: i } })).toString('base64'), sensorId, receivedAt: ts };
        return {
          ...template,
          eventID: `shardId-000000000000:${seq}`,
          kinesis: {
            ...template.kinesis,
            partitionKey: sensorId,
            sequenceNumber: seq,
            data: Buffer.from(JSON.stringify(event)).toString('base64'),
          },
        };
      }),
    };
  }

  it('a steady live batch is two requests at once: the version, and the conditional save of the state saved last', async () => {
    const t = Math.floor(Date.now() / 60_000) * 60_000;
    liveTable({ 'dash-1': ['*'] }, 1);
    ddb.on(UpdateCommand).resolves({});
    ddb.on(PutCommand).resolves({});
    expect(await broadcaster(recentBatch(0, [{ sensorId: 'a', ts: t }]))).toEqual({ batchItemFailures: [] });
    const saved = ddb.commandCalls(PutCommand)[0].args[0].input.Item!;
    ddb.resetHistory();
    apigw.resetHistory();

    // The next batch, subscriptions unchanged: the cached sets serve it; sensor `a` is in the state this container
    // saved, so the state is not read again: its save is conditional on the seq saved.
    liveTable({ 'dash-1': ['*'] }, 1, saved);
    const next = recentBatch(1, [
      { sensorId: 'a', ts: t + 1 },
      { sensorId: 'a', ts: t + 2 },
    ]);
    expect(await broadcaster(next)).toEqual({ batchItemFailures: [] });
    expect(ddb.calls()).toHaveLength(2);
    expect(ddb).toHaveReceivedCommandWith(GetCommand, { Key: { pk: 'subs', sk: 'version' }, ConsistentRead: true });
    expect(ddb).toHaveReceivedCommandTimes(PutCommand, 1);
    expect(ddb.commandCalls(PutCommand)[0].args[0].input).toMatchObject({
      ConditionExpression: '#seq = :prev',
      ExpressionAttributeValues: { ':prev': saved.seq },
    });
    expect(apigw).toHaveReceivedCommandTimes(PostToConnectionCommand, 1);
  });

  it('the broadcaster reads the sets again when their version moved: a new subscriber gets the next batch', async () => {
    liveTable({ 'dash-1': ['greenhouse-1'] }, 1);
    ddb.on(UpdateCommand).resolves({});
    ddb.on(PutCommand).resolves({});
    expect(await broadcaster(kinesis())).toEqual({ batchItemFailures: [] });
    const saved = ddb.commandCalls(PutCommand)[0].args[0].input.Item!;
    expect(apigw.commandCalls(PostToConnectionCommand).map((c) => c.args[0].input.ConnectionId)).toEqual(['dash-1']);
    ddb.resetHistory();
    apigw.resetHistory();

    const next = kinesis();
    next.Records = next.Records.map((r, i) => ({ ...r, kinesis: { ...r.kinesis, sequenceNumber: `${seqOf(2)}${i}` } }));
    liveTable({ 'dash-1': ['greenhouse-1'], 'dash-2': ['cellar-2'] }, 2, saved);
    expect(await broadcaster(next)).toEqual({ batchItemFailures: [] });
    expect(ddb).toHaveReceivedCommandTimes(QueryCommand, 1);
    expect(
      apigw
        .commandCalls(PostToConnectionCommand)
        .map((c) => c.args[0].input.ConnectionId)
        .sort(),
    ).toEqual(['dash-1', 'dash-2']);
  });

  it('the broadcaster pushes nothing claimed before (a redelivered batch), and reports a failed lookup from the first record', async () => {
    liveTable({ 'dash-1': ['*'] }, 1, { seq: seqOf(2), sensors: {} });
    apigw.on(PostToConnectionCommand).resolves({});
    expect(await broadcaster(kinesis())).toEqual({ batchItemFailures: [] });
    expect(apigw).toHaveReceivedCommandTimes(PostToConnectionCommand, 0);
    expect(ddb).toHaveReceivedCommandTimes(UpdateCommand, 0);
    expect(ddb).toHaveReceivedCommandTimes(PutCommand, 0);

    ddb.on(BatchGetCommand).rejects(new Error('throttled'));
    expect(await broadcaster(kinesis())).toEqual({ batchItemFailures: [{ itemIdentifier: seqOf(0) }] });
  });

  it('the broadcaster reports its batch failed, pushing nothing, when another consumer moved the shard’s state first', async () => {
    liveTable({ 'dash-1': ['*'] }, 1);
    ddb.on(UpdateCommand).resolves({});
    ddb.on(PutCommand).rejects(new ConditionalCheckFailedException({ message: 'moved', $metadata: {} }));
    apigw.on(PostToConnectionCommand).resolves({});
    expect(await broadcaster(kinesis())).toEqual({ batchItemFailures: [{ itemIdentifier: seqOf(0) }] });
    expect(apigw).toHaveReceivedCommandTimes(PostToConnectionCommand, 0);
  });
});
