/**
 * The DynamoDB stand-in's in-process way in (local/dynamo-port.ts): the runtime's own SDK clients reach it over a
 * MessagePort instead of loopback HTTP, with requests that name the runtime's credential unsigned, and get the
 * answers, errors, checks and metering an HTTP caller gets.
 */
import {
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type DynamoDBClientConfig,
} from '@aws-sdk/client-dynamodb';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { MessageChannel } from 'node:worker_threads';
import path from 'node:path';
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoPortHandler, portClientConfig } from '../../local/dynamo-port.js';
import { LIVE_STORE_TABLES, LOCAL_TABLES, startDynamo, type LocalDynamo } from '../../local/dynamo.js';
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

describe("the live path's tables in a store of their own", () => {
  const live = LOCAL_TABLES.connections.name;
  const key = (sk: string) => ({ pk: { S: 'live-store' }, sk: { S: sk } });

  it('keeps the connections table in a LevelDB folder of its own', () => {
    expect(LIVE_STORE_TABLES).toEqual([live]);
    expect(existsSync(path.join(dataDir, 'dynamodb-live'))).toBe(true);
  });

  it("sends a request on a live table straight to the live store's thread; any other, a batch too, to the first", async () => {
    const main = new MessageChannel();
    const liveChannel = new MessageChannel();
    const reached: Array<[string, string]> = [];
    for (const [name, channel] of [
      ['main', main],
      ['live', liveChannel],
    ] as const) {
      channel.port2.on('message', (m: { id: number; headers: Record<string, string> }) => {
        reached.push([name, m.headers['x-amz-target'].split('.')[1]]);
        channel.port2.postMessage({ id: m.id, statusCode: 200, headers: {}, body: '{}' });
      });
    }
    const routed = client({
      credentials: dynamo.credentials,
      ...portClientConfig({ main: main.port1, live: liveChannel.port1, liveTables: [live] }),
    });
    try {
      await routed.send(new GetItemCommand({ TableName: live, Key: key('a') }));
      await routed.send(new GetItemCommand({ TableName: `${live}-other`, Key: key('a') }));
      await routed.send(new GetItemCommand({ TableName: table, Key: { sensorId: { S: 'x' } } }));
      await routed.send(new BatchWriteItemCommand({ RequestItems: { [live]: [{ DeleteRequest: { Key: key('a') } }] } }));
      expect(reached).toEqual([
        ['live', 'GetItem'],
        ['main', 'GetItem'],
        ['main', 'GetItem'],
        ['main', 'BatchWriteItem'],
      ]);
    } finally {
      routed.destroy();
      for (const channel of [main, liveChannel]) channel.port2.close();
    }
  });

  it('serves an item written one way when read the other, whichever store each request reached first', async () => {
    await overPort.send(new PutItemCommand({ TableName: live, Item: { ...key('a'), n: { N: '1' } } }));
    await overHttp.send(new PutItemCommand({ TableName: live, Item: { ...key('b'), n: { N: '2' } } }));
    expect((await overHttp.send(new GetItemCommand({ TableName: live, Key: key('a'), ConsistentRead: true }))).Item?.n).toEqual({ N: '1' });
    expect((await overPort.send(new GetItemCommand({ TableName: live, Key: key('b'), ConsistentRead: true }))).Item?.n).toEqual({ N: '2' });
    // A batch goes to the first store, which sends it on whole.
    await overPort.send(
      new BatchWriteItemCommand({ RequestItems: { [live]: [{ PutRequest: { Item: { ...key('c'), n: { N: '3' } } } }] } }),
    );
    const all = await overPort.send(
      new QueryCommand({ TableName: live, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: 'live-store' } } }),
    );
    expect(all.Items?.map((item) => item.sk.S)).toEqual(['a', 'b', 'c']);
  });

  it('counts and meters each request once, in the store that answered it', async () => {
    const before = await dynamo.capacity();
    const putsBefore = dynamo.requests[live]?.PutItem ?? 0;
    await overPort.send(new PutItemCommand({ TableName: live, Item: key('metered-port') }));
    await overHttp.send(new PutItemCommand({ TableName: live, Item: key('metered-http') }));
    const after = await dynamo.capacity();
    expect((dynamo.requests[live]?.PutItem ?? 0) - putsBefore).toBe(2);
    expect(after[live].write - (before[live]?.write ?? 0)).toBe(2);
  });

  it('refuses, with the reason, a batch that names its tables beside others: one request cannot be split', async () => {
    const mixed = new BatchWriteItemCommand({
      RequestItems: {
        [table]: [{ PutRequest: { Item: { sensorId: { S: 'mixed' } } } }],
        [live]: [{ PutRequest: { Item: key('mixed') } }],
      },
    });
    for (const c of [overPort, overHttp]) {
      await expect(c.send(mixed)).rejects.toMatchObject({ name: 'ValidationException', message: expect.stringContaining(live) });
    }
    // Nothing of it was written.
    expect((await overHttp.send(new GetItemCommand({ TableName: table, Key: { sensorId: { S: 'mixed' } } }))).Item).toBeUndefined();
    expect((await overHttp.send(new GetItemCommand({ TableName: live, Key: key('mixed') }))).Item).toBeUndefined();
  });

  it('starts on a data folder from before the live store: its connections dropped, every other table kept', async () => {
    const ownDir = await makeDataDir('vigia-dynamo-upgrade-');
    const httpTo = (endpoint: string, credentials: DynamoDBClientConfig['credentials']) =>
      new DynamoDBClient({ endpoint, region: 'local', credentials });
    try {
      // The folder as an older vigia left it: every table, the connections table's items too, in `dynamodb/`.
      const plain = async () => {
        const server = dynalite({ path: path.join(ownDir, 'dynamodb'), createTableMs: 0 });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        const http = httpTo(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { accessKeyId: 'x', secretAccessKey: 'x' });
        return {
          http,
          close: async () => {
            http.destroy();
            await new Promise<void>((resolve) => server.close(() => resolve()));
          },
        };
      };
      const old = await plain();
      const oldHttp = old.http;
      for (const [name, keys] of [
        [table, ['sensorId']],
        [live, ['pk', 'sk']],
      ] as const) {
        await oldHttp.send(
          new CreateTableCommand({
            TableName: name,
            BillingMode: 'PAY_PER_REQUEST',
            AttributeDefinitions: keys.map((k) => ({ AttributeName: k, AttributeType: 'S' })),
            KeySchema: keys.map((k, i) => ({ AttributeName: k, KeyType: i === 0 ? 'HASH' : 'RANGE' })),
          }),
        );
      }
      await oldHttp.send(new PutItemCommand({ TableName: table, Item: { sensorId: { S: 'kept' } } }));
      await oldHttp.send(new PutItemCommand({ TableName: live, Item: key('left-behind') }));
      await old.close();

      const own = await startDynamo(ownDir);
      const http = httpTo(own.endpoint, own.credentials);
      try {
        expect((await http.send(new GetItemCommand({ TableName: table, Key: { sensorId: { S: 'kept' } } }))).Item).toBeDefined();
        expect((await http.send(new GetItemCommand({ TableName: live, Key: key('left-behind') }))).Item).toBeUndefined();
        await http.send(new PutItemCommand({ TableName: live, Item: key('new') }));
        expect((await http.send(new GetItemCommand({ TableName: live, Key: key('new') }))).Item).toBeDefined();
        await http.send(new DeleteItemCommand({ TableName: live, Key: key('new') }));
      } finally {
        http.destroy();
        await own.close();
      }
      // What nothing reads any more is gone from the folder too, not only out of sight.
      const after = await plain();
      try {
        expect((await after.http.send(new GetItemCommand({ TableName: live, Key: key('left-behind') }))).Item).toBeUndefined();
      } finally {
        await after.close();
      }
    } finally {
      await removeDataDir(ownDir);
    }
  });
});
