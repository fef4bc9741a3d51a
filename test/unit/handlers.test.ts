/**
 * Contract tests of the Lambda handlers: AWS-shaped events (test/fixtures) in, SDK commands and answers out.
 */
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  BatchGetCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import './aws-matchers.js';
// Sets the handlers' environment: imported before the handlers are.
import { DLQ, fixture } from './handler-env.js';

const ddb = mockClient(DynamoDBDocumentClient);
const apigw = mockClient(ApiGatewayManagementApiClient);
const iot = mockClient(IoTDataPlaneClient);
const sqs = mockClient(SQSClient);

// The handlers read the environment when first used; they are imported once it is set.
const historyWriter = (await import('../../lambdas/handlers/history-writer.js')).handler;
const broadcaster = (await import('../../lambdas/handlers/broadcaster.js')).handler;
const presence = (await import('../../lambdas/handlers/presence.js')).handler;
const websocket = (await import('../../lambdas/handlers/websocket.js')).handler;
const httpApi = (await import('../../lambdas/handlers/http-api.js')).handler;
const { resetWiring } = await import('../../lambdas/handlers/wiring.js');

const conditionFailed = () => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
const posted = () =>
  apigw.commandCalls(PostToConnectionCommand).map((c) => ({
    connectionId: c.args[0].input.ConnectionId,
    frame: JSON.parse(Buffer.from(c.args[0].input.Data as Uint8Array).toString('utf8')),
  }));

const SENSOR = 'greenhouse-1';
const READING_TS = 1764159999000;
const RECEIVED_AT = 1764160000000;

beforeEach(() => {
  // Each test a fresh container: nothing cached (the broadcaster's subscriber sets) from the one before.
  resetWiring();
  ddb.reset();
  apigw.reset();
  iot.reset();
  sqs.reset();
  apigw.on(PostToConnectionCommand).resolves({});
});

/** Subscriptions in the connections table: each connection's set in the `conns` partition, and the subscriptions' version. */
function subscribers(bySensor: Record<string, string[]>) {
  const byConnection = new Map<string, string[]>();
  for (const [sensorId, ids] of Object.entries(bySensor))
    for (const id of ids) byConnection.set(id, [...(byConnection.get(id) ?? []), sensorId]);
  ddb.on(QueryCommand, { TableName: 'connections' }).callsFake((input) => {
    const pk = input.ExpressionAttributeValues[':pk'] as string;
    return { Items: pk === 'conns' ? [...byConnection].map(([sk, subs]) => ({ sk, subs })) : [] };
  });
  ddb
    .on(GetCommand, { TableName: 'connections', Key: { pk: 'subs', sk: 'version' } })
    .resolves({ Item: { pk: 'subs', sk: 'version', v: 3 } });
}

describe('history writer ← IoT rule event', () => {
  it('stores the reading with a conditional Put, refreshes both roll-ups and the sensor record', async () => {
    const event = fixture('iot-telemetry-rule-event');
    ddb.on(PutCommand).resolves({});
    ddb.on(UpdateCommand).resolves({});
    ddb.on(BatchGetCommand).resolves({ Responses: { rollups: [] } });
    ddb.on(QueryCommand, { TableName: 'readings' }).resolves({
      Items: [{ ts: READING_TS, values: { temperature: 21.4, humidity: 48 } }],
      Count: 1,
    });
    ddb.on(QueryCommand, { TableName: 'readings', ExpressionAttributeValues: { ':p': `${SENSOR}#m` } }).resolves({ Items: [], Count: 0 });
    ddb.on(QueryCommand, { TableName: 'rollups' }).callsFake((input) => ({
      Items: [
        {
          ts: Math.floor(READING_TS / 60_000) * 60_000,
          stats: { temperature: { min: 21.4, max: 21.4, sum: 21.4, count: 1 }, humidity: { min: 48, max: 48, sum: 48, count: 1 } },
          readings: 1,
        },
      ].filter(() => input.ExpressionAttributeValues[':p'] === `${SENSOR}#1m`),
      Count: 1,
    }));

    expect(await historyWriter(event)).toEqual({ accepted: true, stored: 1, duplicates: 0 });

    expect(ddb).toHaveReceivedCommandWith(PutCommand, {
      TableName: 'readings',
      Item: {
        sensorId: SENSOR,
        ts: READING_TS,
        values: { temperature: 21.4, humidity: 48 },
        receivedAt: RECEIVED_AT,
        expiresAt: Math.floor((READING_TS + 30 * 86_400_000) / 1000),
      },
      ConditionExpression: 'attribute_not_exists(#ts)',
    });
    expect(ddb).toHaveReceivedCommandWith(PutCommand, {
      TableName: 'rollups',
      Item: expect.objectContaining({ series: `${SENSOR}#1m`, ts: Math.floor(READING_TS / 60_000) * 60_000, readings: 1 }),
    });
    expect(ddb).toHaveReceivedCommandWith(PutCommand, {
      TableName: 'rollups',
      Item: expect.objectContaining({
        series: `${SENSOR}#1h`,
        ts: Math.floor(READING_TS / 3_600_000) * 3_600_000,
        stats: { temperature: { min: 21.4, max: 21.4, sum: 21.4, count: 1 }, humidity: { min: 48, max: 48, sum: 48, count: 1 } },
      }),
    });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: 'sensors',
      Key: { sensorId: SENSOR },
      ExpressionAttributeValues: expect.objectContaining({ ':rt': RECEIVED_AT, ':lts': READING_TS }),
    });
    // Roll-ups are recomputed from what was just written (single items and packs, as a stream may have
    // written the minute before a switch of ingest mode): the reads must see it.
    expect(
      ddb
        .commandCalls(QueryCommand)
        .map((c) => [c.args[0].input.TableName, c.args[0].input.ExpressionAttributeValues![':p'], c.args[0].input.ConsistentRead]),
    ).toEqual([
      ['readings', SENSOR, true],
      ['readings', `${SENSOR}#m`, true],
      ['rollups', `${SENSOR}#1m`, true],
    ]);
    expect(sqs).toHaveReceivedCommandTimes(SendMessageCommand, 0);
  });

  it('a redelivery (the Put’s condition fails) is not stored again; roll-ups are recomputed, not incremented', async () => {
    ddb.on(PutCommand, { TableName: 'readings' }).rejects(conditionFailed());
    ddb.on(PutCommand, { TableName: 'rollups' }).resolves({});
    ddb.on(UpdateCommand).resolves({});
    ddb.on(BatchGetCommand).resolves({ Responses: { rollups: [] } });
    ddb.on(QueryCommand, { TableName: 'readings' }).resolves({ Items: [{ ts: READING_TS, values: { temperature: 21.4 } }], Count: 1 });
    ddb.on(QueryCommand, { TableName: 'readings', ExpressionAttributeValues: { ':p': `${SENSOR}#m` } }).resolves({ Items: [], Count: 0 });
    ddb.on(QueryCommand, { TableName: 'rollups' }).resolves({ Items: [], Count: 0 });
    expect(await historyWriter(fixture('iot-telemetry-rule-event'))).toEqual({ accepted: true, stored: 0, duplicates: 1 });
    expect(ddb.commandCalls(PutCommand, { TableName: 'readings' })).toHaveLength(1);
    expect(ddb).toHaveReceivedCommandWith(PutCommand, {
      TableName: 'rollups',
      Item: expect.objectContaining({
        series: `${SENSOR}#1m`,
        readings: 1,
        stats: { temperature: { min: 21.4, max: 21.4, sum: 21.4, count: 1 } },
      }),
    });
  });

  it('dead-letters a rejected payload to SQS with its topic and code, and touches no table', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
    const event = { ...fixture('iot-telemetry-rule-event'), payload: Buffer.from('{"values":{"temperature":"hot"}}').toString('base64') };
    expect(await historyWriter(event)).toMatchObject({ accepted: false, code: 'INVALID_VALUE' });
    expect(sqs).toHaveReceivedCommandWith(SendMessageCommand, {
      QueueUrl: DLQ,
      MessageAttributes: { code: { DataType: 'String', StringValue: 'INVALID_VALUE' } },
    });
    const body = JSON.parse(sqs.commandCalls(SendMessageCommand)[0].args[0].input.MessageBody!);
    expect(body).toMatchObject({
      topic: `sensors/${SENSOR}/telemetry`,
      code: 'INVALID_VALUE',
      payload: event.payload,
      receivedAt: RECEIVED_AT,
    });
    expect(ddb.calls()).toHaveLength(0);
  });

  it('publishes its metrics as one EMF line per dimension set at the end of the invocation', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
    const lines: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      await historyWriter({ ...fixture('iot-telemetry-rule-event'), payload: Buffer.from('{"values":').toString('base64') });
    } finally {
      write.mockRestore();
    }
    const blobs = lines
      .flatMap((l) => l.split('\n'))
      .filter((l) => l.includes('"_aws"'))
      .map((l) => JSON.parse(l));
    expect(blobs).toContainEqual(expect.objectContaining({ service: 'vigia', Reason: 'INVALID_JSON', ReadingsRejected: 1 }));
    expect(blobs).toContainEqual(expect.objectContaining({ service: 'vigia', BatchSize: 1 }));
    for (const blob of blobs) expect(blob._aws.CloudWatchMetrics[0].Namespace).toBe('Vigia');
  });
});

describe('broadcaster ← IoT rule event', () => {
  it('marks the reading pushed and posts a readings frame to each subscriber (direct and *)', async () => {
    subscribers({ [SENSOR]: ['conn-a'], '*': ['conn-b'] });
    ddb.on(UpdateCommand).resolves({});
    expect(await broadcaster(fixture('iot-telemetry-rule-event'))).toEqual({ pushed: 1, connections: 2 });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: 'connections',
      Key: { pk: `live#${SENSOR}`, sk: `m#${Math.floor(READING_TS / 60_000) * 60_000}` },
      ExpressionAttributeValues: expect.objectContaining({ ':ts': new Set([READING_TS]) }),
      ReturnValues: 'UPDATED_OLD',
    });
    const frame = { type: 'readings', readings: [{ sensorId: SENSOR, ts: READING_TS, values: { temperature: 21.4, humidity: 48 } }] };
    expect(posted().sort((a, b) => a.connectionId!.localeCompare(b.connectionId!))).toEqual([
      { connectionId: 'conn-a', frame },
      { connectionId: 'conn-b', frame },
    ]);
  });

  it('the same event delivered again is not pushed again', async () => {
    subscribers({ [SENSOR]: ['conn-a'] });
    ddb.on(UpdateCommand).resolves({ Attributes: { ts: new Set([READING_TS]) } });
    expect(await broadcaster(fixture('iot-telemetry-rule-event'))).toEqual({ pushed: 0, connections: 0 });
    expect(apigw).toHaveReceivedCommandTimes(PostToConnectionCommand, 0);
  });
});

describe('presence ← AWS IoT lifecycle events', () => {
  it('a connected event sets online and posts a status frame to subscribers', async () => {
    const event = fixture('iot-presence-connected');
    ddb.on(UpdateCommand).resolves({});
    subscribers({ [SENSOR]: ['conn-a'] });
    expect(await presence(event)).toEqual({ applied: 1 });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: 'sensors',
      Key: { sensorId: SENSOR },
      ExpressionAttributeValues: expect.objectContaining({ ':online': true, ':ts': event.timestamp, ':v': event.versionNumber }),
    });
    expect(posted()).toEqual([{ connectionId: 'conn-a', frame: { type: 'status', sensorId: SENSOR, online: true, ts: event.timestamp } }]);
  });

  it('a disconnected event sets offline', async () => {
    const event = fixture('iot-presence-disconnected');
    ddb.on(UpdateCommand).resolves({});
    subscribers({ [SENSOR]: ['conn-a'] });
    expect(await presence(event)).toEqual({ applied: 1 });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, { ExpressionAttributeValues: expect.objectContaining({ ':online': false }) });
    expect(posted()[0].frame).toEqual({ type: 'status', sensorId: SENSOR, online: false, ts: event.timestamp });
  });

  it('an event older than the applied one changes nothing and is not pushed', async () => {
    ddb.on(UpdateCommand).rejects(conditionFailed());
    subscribers({ [SENSOR]: ['conn-a'] });
    expect(await presence(fixture('iot-presence-connected'))).toEqual({ applied: 0 });
    expect(apigw).toHaveReceivedCommandTimes(PostToConnectionCommand, 0);
  });
});

describe('websocket ← API Gateway WebSocket events', () => {
  const connectionId = 'TWIt_d8HIAMCJcw=';

  it('CONNECT stores the connection and answers 200', async () => {
    ddb.on(PutCommand).resolves({});
    expect(await websocket(fixture('ws-connect'))).toEqual({ statusCode: 200 });
    expect(ddb).toHaveReceivedCommandWith(PutCommand, {
      TableName: 'connections',
      Item: expect.objectContaining({ pk: 'conns', sk: connectionId, subs: [] }),
    });
    expect(apigw).toHaveReceivedCommandTimes(PostToConnectionCommand, 0);
  });

  it('MESSAGE subscribe writes the subscription and posts a subscribed frame', async () => {
    ddb.on(GetCommand, { TableName: 'connections' }).resolves({ Item: { pk: 'conns', sk: connectionId, subs: [] } });
    ddb.on(UpdateCommand).resolves({});
    expect(await websocket(fixture('ws-message-subscribe'))).toEqual({ statusCode: 200 });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { pk: 'conns', sk: connectionId },
      ExpressionAttributeValues: expect.objectContaining({ ':subs': [SENSOR] }),
    });
    expect(apigw).toHaveReceivedCommandWith(PostToConnectionCommand, { ConnectionId: connectionId });
    expect(posted()).toEqual([{ connectionId, frame: { type: 'subscribed', sensorIds: [SENSOR] } }]);
  });

  it('MESSAGE command publishes to the device topic at QoS 1 and posts commandSent', async () => {
    ddb.on(GetCommand, { TableName: 'sensors' }).resolves({ Item: { sensorId: SENSOR, lastReadingAt: RECEIVED_AT } });
    ddb.on(UpdateCommand).resolves({});
    iot.on(PublishCommand).resolves({});
    expect(await websocket(fixture('ws-message-command'))).toEqual({ statusCode: 200 });
    expect(iot).toHaveReceivedCommandWith(PublishCommand, { topic: `sensors/${SENSOR}/commands`, qos: 1 });
    const message = JSON.parse(Buffer.from(iot.commandCalls(PublishCommand)[0].args[0].input.payload as Uint8Array).toString('utf8'));
    expect(message).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'setInterval',
      args: { intervalMs: 1000 },
      issuedAt: expect.any(Number),
    });
    expect(posted()).toEqual([{ connectionId, frame: { type: 'commandSent', id: message.id, sensorId: SENSOR } }]);
  });

  it("a viewer's command is FORBIDDEN by the authorizer's role even if the function lacks AUTH_ISSUER (fails closed)", async () => {
    expect(process.env.AUTH_ISSUER).toBeUndefined();
    const event = fixture('ws-message-command');
    event.requestContext.authorizer = { principalId: 'user-2', role: 'viewer', sub: 'user-2' };
    expect(await websocket(event)).toEqual({ statusCode: 200 });
    expect(iot).toHaveReceivedCommandTimes(PublishCommand, 0);
    expect(posted()).toEqual([{ connectionId, frame: { type: 'error', code: 'FORBIDDEN', message: expect.any(String) } }]);
  });

  it('MESSAGE on $default with a bad body posts a BAD_REQUEST error frame and answers 200', async () => {
    expect(await websocket(fixture('ws-message-default'))).toEqual({ statusCode: 200 });
    expect(posted()).toEqual([{ connectionId, frame: { type: 'error', code: 'BAD_REQUEST', message: expect.any(String) } }]);
    expect(ddb.calls()).toHaveLength(0);
  });

  it('DISCONNECT deletes the connection with its subscriptions and moves the subscriptions’ version on', async () => {
    ddb.on(DeleteCommand, { TableName: 'connections' }).resolves({ Attributes: { pk: 'conns', sk: connectionId, subs: [SENSOR] } });
    ddb.on(UpdateCommand).resolves({});
    expect(await websocket(fixture('ws-disconnect'))).toEqual({ statusCode: 200 });
    expect(ddb).toHaveReceivedCommandWith(DeleteCommand, { Key: { pk: 'conns', sk: connectionId }, ReturnValues: 'ALL_OLD' });
    expect(ddb).toHaveReceivedCommandWith(UpdateCommand, { Key: { pk: 'subs', sk: 'version' } });
    expect(apigw).toHaveReceivedCommandTimes(PostToConnectionCommand, 0);
  });
});

describe('http api ← HTTP API payload format 2.0', () => {
  it('GET /health answers 200 {"status":"ok"} (an event without queryStringParameters)', async () => {
    const res = await httpApi(fixture('http-api-v2-health'));
    expect(res).toMatchObject({ statusCode: 200, body: '{"status":"ok"}' });
    expect(res.headers!['content-type']).toMatch(/^application\/json/);
  });

  it('GET /sensors scans one page of the registry (at most 1,000), following scan pages until it is full or the table ends', async () => {
    ddb
      .on(ScanCommand)
      .resolvesOnce({
        Items: [{ sensorId: SENSOR, metrics: new Set(['temperature']), 'unit:temperature': '°C' }],
        LastEvaluatedKey: { sensorId: SENSOR },
      })
      .resolves({ Items: [] });
    const event = { ...fixture('http-api-v2-health'), rawPath: '/sensors', routeKey: 'GET /sensors' };
    const res = await httpApi(event);
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body!)).toEqual({
      sensors: [{ sensorId: SENSOR, online: false, lastSeen: null, metrics: ['temperature'], units: { temperature: '°C' }, latest: null }],
      nextCursor: null,
    });
    expect(ddb).toHaveReceivedNthCommandWith(ScanCommand, 1, { TableName: 'sensors', Limit: 1000 });
    expect(ddb).toHaveReceivedNthCommandWith(ScanCommand, 2, { TableName: 'sensors', Limit: 999, ExclusiveStartKey: { sensorId: SENSOR } });
  });

  it('GET /sensors/{id}/readings answers the raw page with a next cursor', async () => {
    ddb.on(GetCommand, { TableName: 'sensors' }).resolves({ Item: { sensorId: SENSOR, metrics: new Set(['temperature']) } });
    ddb.on(QueryCommand, { TableName: 'readings' }).resolves({
      Items: [0, 1, 2].map((i) => ({ ts: 1764158400000 + i * 1000, values: { temperature: 20 + i } })),
      Count: 3,
    });
    ddb.on(QueryCommand, { TableName: 'readings', ExpressionAttributeValues: { ':p': `${SENSOR}#m` } }).resolves({ Items: [], Count: 0 });
    const res = await httpApi(fixture('http-api-v2-readings'));
    expect(res.statusCode).toBe(200);
    const body = JSON.parse(res.body!);
    expect(body).toEqual({
      sensorId: SENSOR,
      resolution: 'raw',
      points: [
        { ts: 1764158400000, values: { temperature: 20 } },
        { ts: 1764158401000, values: { temperature: 21 } },
      ],
      nextCursor: expect.any(String),
    });
    expect(ddb).toHaveReceivedCommandWith(QueryCommand, {
      TableName: 'readings',
      ExpressionAttributeValues: { ':p': SENSOR, ':low': Date.parse('2025-11-26T12:00:00Z'), ':high': RECEIVED_AT - 1 },
      Limit: 3,
    });
  });

  it('a sensor never seen answers 404 SENSOR_NOT_FOUND', async () => {
    ddb.on(GetCommand, { TableName: 'sensors' }).resolves({});
    const res = await httpApi(fixture('http-api-v2-readings'));
    expect(res.statusCode).toBe(404);
    expect(JSON.parse(res.body!)).toEqual({ error: { code: 'SENSOR_NOT_FOUND', message: expect.any(String) } });
  });

  it('a failing table answers 500 in the error shape', async () => {
    ddb.on(GetCommand).rejects(new Error('connection reset'));
    const res = await httpApi(fixture('http-api-v2-readings'));
    expect(res.statusCode).toBe(500);
    expect(JSON.parse(res.body!)).toEqual({ error: { code: 'INTERNAL', message: expect.any(String) } });
  });
});
