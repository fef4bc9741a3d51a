/**
 * Queued ingest: the telemetry rule sends rule events to SQS and the history writer and broadcaster read them
 * in batches. Core with fakes, and the handlers with an SQS event of the shape AWS documents.
 */
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { BatchGetCommand, BatchWriteCommand, DynamoDBDocumentClient, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { broadcastTelemetryBatch, readingsFrames } from '../../lambdas/core/broadcast-telemetry.js';
import './aws-matchers.js';
// Sets the handlers' environment: imported before the handlers are.
import { DLQ, fixture } from './handler-env.js';
import { FakeConnectionRegistry, FakeLiveSender, FakeMetrics, silentLog } from './fakes.js';

const NOW = 1764160000000;

const ddb = mockClient(DynamoDBDocumentClient);
const apigw = mockClient(ApiGatewayManagementApiClient);
const sqs = mockClient(SQSClient);
const historyWriter = (await import('../../lambdas/handlers/history-writer.js')).handler;
const broadcaster = (await import('../../lambdas/handlers/broadcaster.js')).handler;

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
    await connections.setSubscriptions('all', ['*'], ['*'], [], NOW);
    await connections.setSubscriptions('a-only', ['a'], ['a'], [], NOW);
  });

  it('each reading once, only to its subscribers; readings of one batch share a frame per connection', async () => {
    const events = [
      event('a', { ts: NOW - 2, values: { t: 1 } }),
      event('b', { ts: NOW - 1, values: { t: 2 } }),
      event('a', { ts: NOW - 2, values: { t: 1 } }), // a redelivery inside the batch
      event('a', { values: { t: 'bad' } }),
    ];
    const result = await broadcastTelemetryBatch(events, { connections, live, log: silentLog, metrics: new FakeMetrics(), now: () => NOW, rawRetentionDays: 30 });
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
    // The same batch again (an SQS redelivery) pushes nothing.
    expect(await broadcastTelemetryBatch(events, { connections, live, log: silentLog, metrics: new FakeMetrics(), now: () => NOW, rawRetentionDays: 30 })).toEqual({
      pushed: 0,
      connections: 0,
    });
  });
});

describe('handlers ← SQS batch of rule events', () => {
  beforeEach(() => {
    ddb.reset();
    apigw.reset();
    sqs.reset();
  });

  it('the history writer stores the valid events’ readings in one batch and dead-letters the rejected one', async () => {
    ddb.on(BatchGetCommand).resolves({ Responses: { readings: [] } });
    ddb.on(BatchWriteCommand).resolves({});
    ddb.on(QueryCommand).resolves({ Items: [], Count: 0 });
    ddb.on(PutCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm' });

    const answer = (await historyWriter(fixture('sqs-telemetry-batch'))) as { outcomes: unknown[] };

    expect(answer.outcomes).toEqual([
      { accepted: true, stored: 1, duplicates: 0 },
      { accepted: true, stored: 2, duplicates: 0 },
      { accepted: false, code: 'INVALID_VALUE', message: expect.any(String) },
    ]);
    const written = ddb
      .commandCalls(BatchWriteCommand)
      .flatMap((c) => (c.args[0].input.RequestItems!.readings ?? []).map((w) => [w.PutRequest!.Item!.sensorId, w.PutRequest!.Item!.ts]));
    expect(written).toEqual([
      ['greenhouse-1', 1764159999000],
      ['cellar-2', 1764159998000],
      ['cellar-2', 1764159999500],
    ]);
    expect(sqs).toHaveReceivedCommandTimes(SendMessageCommand, 1);
    expect(sqs).toHaveReceivedCommandWith(SendMessageCommand, {
      QueueUrl: DLQ,
      MessageAttributes: { code: { DataType: 'String', StringValue: 'INVALID_VALUE' } },
    });
    expect(JSON.parse(sqs.commandCalls(SendMessageCommand)[0].args[0].input.MessageBody!)).toMatchObject({
      topic: 'sensors/attic-3/telemetry',
      sensorId: 'attic-3',
    });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, { TableName: 'sensors', Key: { sensorId: 'greenhouse-1' } });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, { TableName: 'sensors', Key: { sensorId: 'cellar-2' } });
  });

  it('the broadcaster posts one frame per subscribed connection with all its readings of the batch', async () => {
    ddb.on(QueryCommand, { TableName: 'connections' }).callsFake((input) => ({
      Items: input.ExpressionAttributeValues[':pk'] === 'sub#*' ? [{ sk: 'dash-1' }] : [],
    }));
    ddb.on(BatchGetCommand).resolves({ Responses: { connections: [] } });
    ddb.on(BatchWriteCommand).resolves({});
    apigw.on(PostToConnectionCommand).resolves({});

    expect(await broadcaster(fixture('sqs-telemetry-batch'))).toEqual({ pushed: 3, connections: 1 });
    // The three readings are marked pushed with one read and one write, whatever their sensors.
    expect(ddb).toHaveReceivedCommandTimes(BatchGetCommand, 1);
    expect(ddb).toHaveReceivedCommandTimes(BatchWriteCommand, 1);

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
});
