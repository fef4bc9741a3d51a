/**
 * The DynamoDB stand-in's in-process way in (local/dynamo-port.ts): the runtime's own SDK clients reach it over a
 * MessagePort instead of loopback HTTP, with requests that name the runtime's credential unsigned, and get the
 * answers, errors, checks and metering an HTTP caller gets.
 */
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type DynamoDBClientConfig,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoPortHandler, portClientConfig } from '../../local/dynamo-port.js';
import { LOCAL_TABLES, startDynamo, type LocalDynamo } from '../../local/dynamo.js';
import { makeDataDir, removeDataDir } from '../support/runtime.js';

const table = LOCAL_TABLES.sensors.name;
let dataDir: string;
let dynamo: LocalDynamo;
let overHttp: DynamoDBClient;
let overPort: DynamoDBClient;

const client = (config: DynamoDBClientConfig) => new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'local', ...config });

beforeAll(async () => {
  dataDir = await makeDataDir('vigia-dynamo-port-');
  dynamo = await startDynamo(dataDir);
  overHttp = client({ credentials: dynamo.credentials });
  overPort = client({ credentials: dynamo.credentials, ...portClientConfig(dynamo.connect()) });
}, 60_000);

afterAll(async () => {
  overHttp?.destroy();
  overPort?.destroy();
  await dynamo?.close();
  await removeDataDir(dataDir);
});

describe('DynamoDB stand-in over a MessagePort', () => {
  it('stores what it is sent and answers as over HTTP', async () => {
    await overPort.send(new PutItemCommand({ TableName: table, Item: { sensorId: { S: 'port-1' }, note: { S: 'ünïcode ✓' } } }));
    const key = { sensorId: { S: 'port-1' } };
    const viaPort = await overPort.send(new GetItemCommand({ TableName: table, Key: key }));
    const viaHttp = await overHttp.send(new GetItemCommand({ TableName: table, Key: key }));
    expect(viaPort.Item).toEqual({ sensorId: { S: 'port-1' }, note: { S: 'ünïcode ✓' } });
    expect(viaPort.Item).toEqual(viaHttp.Item);
  });

  it('answers DynamoDB errors as the SDK knows them: a failed condition, a bad request', async () => {
    const put = new PutItemCommand({
      TableName: table,
      Item: { sensorId: { S: 'port-2' } },
      ConditionExpression: 'attribute_not_exists(sensorId)',
    });
    await overPort.send(put);
    await expect(overPort.send(put)).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    await expect(
      overPort.send(
        new QueryCommand({ TableName: table, KeyConditionExpression: 'nope = :x', ExpressionAttributeValues: { ':x': { S: 'a' } } }),
      ),
    ).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('meters its requests as it does HTTP ones', async () => {
    const before = await dynamo.capacity();
    const requestsBefore = dynamo.requests[table]?.PutItem ?? 0;
    for (let i = 0; i < 3; i++) {
      await overPort.send(new PutItemCommand({ TableName: table, Item: { sensorId: { S: `metered-${i}` } } }));
    }
    const after = await dynamo.capacity();
    expect(after[table].write - (before[table]?.write ?? 0)).toBe(3);
    expect((dynamo.requests[table]?.PutItem ?? 0) - requestsBefore).toBe(3);
  });

  it('fails a request once the stand-in has stopped, instead of leaving it unanswered', async () => {
    const ownDir = await makeDataDir('vigia-dynamo-port-stop-');
    const own = await startDynamo(ownDir);
    const stopped = client({ credentials: own.credentials, requestHandler: new DynamoPortHandler(own.connect()) });
    try {
      await stopped.send(new GetItemCommand({ TableName: table, Key: { sensorId: { S: 'any' } } }));
      await own.close();
      await expect(stopped.send(new GetItemCommand({ TableName: table, Key: { sensorId: { S: 'any' } } }))).rejects.toThrow(
        /closed its port/,
      );
    } finally {
      stopped.destroy();
      await removeDataDir(ownDir);
    }
  });

  it('closes only after the requests already sent are answered, and refuses those sent while it closes', async () => {
    const ownDir = await makeDataDir('vigia-dynamo-port-closing-');
    const own = await startDynamo(ownDir);
    // No SDK retries: a refused request shows as refused, not as a later "closed its port".
    const closing = client({ credentials: own.credentials, requestHandler: new DynamoPortHandler(own.connect()), maxAttempts: 1 });
    try {
      // Each outcome caught as it comes: a refusal must show in the assertions, not as an unhandled rejection.
      const outcome = (sent: Promise<unknown>) =>
        sent.then(
          () => 'answered',
          (err: { $metadata?: { httpStatusCode?: number } }) => `refused ${err.$metadata?.httpStatusCode}`,
        );
      const written = Array.from({ length: 50 }, (_, i) =>
        outcome(closing.send(new PutItemCommand({ TableName: table, Item: { sensorId: { S: `closing-${i}` }, n: { N: String(i) } } }))),
      );
      // One answer back means all 50 were posted (the SDK sends them side by side); most are still in the stand-in.
      await Promise.race(written);
      // Before, a request still running there when the database closed killed the stand-in's thread, and the close
      // waited for its answer forever.
      const closed = own.close();
      const late = outcome(closing.send(new GetItemCommand({ TableName: table, Key: { sensorId: { S: 'closing-0' } } })));
      expect(new Set(await Promise.all(written))).toEqual(new Set(['answered']));
      expect(await late).toBe('refused 503');
      await closed;
    } finally {
      closing.destroy();
      await removeDataDir(ownDir);
    }
  });

  it('still refuses a request that names other credentials than the runtime own, signed or not', async () => {
    const stranger = { accessKeyId: 'AKIDSTRANGER', secretAccessKey: 'x' };
    const signed = client({ credentials: stranger, requestHandler: new DynamoPortHandler(dynamo.connect()) });
    const unsigned = client({ credentials: stranger, ...portClientConfig(dynamo.connect()) });
    try {
      for (const c of [signed, unsigned]) {
        await expect(c.send(new GetItemCommand({ TableName: table, Key: { sensorId: { S: 'port-1' } } }))).rejects.toMatchObject({
          name: 'UnrecognizedClientException',
        });
      }
    } finally {
      signed.destroy();
      unsigned.destroy();
    }
  });
});
