/**
 * The DynamoDB stand-in closes every LevelDB iterator it opens: a Query or Scan that stops at its Limit, one
 * that reads to the end and a table listing each leave no iterator (and the snapshot it pins) behind, so a
 * long run's memory stays bounded (issue 15). Answers stay those of DynamoDB: pages, order, LastEvaluatedKey.
 */
import {
  BatchWriteItemCommand,
  DynamoDBClient,
  ListTablesCommand,
  QueryCommand,
  ScanCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TABLES, startDynamo, type LocalDynamo } from '../../local/dynamo.js';
import { eventually, makeDataDir, removeDataDir } from '../support/runtime.js';

const table = LOCAL_TABLES.readings.name;
const READINGS = 60;
let dataDir: string;
let dynamo: LocalDynamo;
let client: DynamoDBClient;

beforeAll(async () => {
  dataDir = await makeDataDir('vigia-dynamo-');
  dynamo = await startDynamo(dataDir);
  client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'local', credentials: dynamo.credentials });
  for (let batch = 0; batch < READINGS / 20; batch++) {
    const items = Array.from({ length: 20 }, (_, i) => ({
      PutRequest: { Item: { sensorId: { S: 'soak-1' }, ts: { N: String(1000 + batch * 20 + i) }, value: { N: '21.5' } } },
    }));
    await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: items } }));
  }
}, 60_000);

afterAll(async () => {
  client?.destroy();
  await dynamo?.close();
  await removeDataDir(dataDir);
});

function newestFirst(limit: number, exclusiveStartKey?: Record<string, AttributeValue>) {
  return new QueryCommand({
    TableName: table,
    KeyConditionExpression: 'sensorId = :s AND ts >= :from',
    ExpressionAttributeValues: { ':s': { S: 'soak-1' }, ':from': { N: '1010' } },
    ScanIndexForward: false,
    Limit: limit,
    ExclusiveStartKey: exclusiveStartKey,
  });
}

/** Every iterator is closed a moment after its answer (the close is asynchronous). */
async function allClosed(): Promise<number> {
  return eventually('every LevelDB iterator closed', async () => ((await dynamo.openResources()) === 0 ? 0 : undefined), 5000);
}

describe('DynamoDB stand-in: LevelDB iterators', () => {
  it('a Query that stops at its Limit answers one page and leaves no iterator open', async () => {
    for (let i = 0; i < 40; i++) {
      const page = await client.send(newestFirst(5));
      expect(page.Items?.map((item) => Number(item.ts.N))).toEqual([1059, 1058, 1057, 1056, 1055]);
      expect(page.LastEvaluatedKey).toEqual({ sensorId: { S: 'soak-1' }, ts: { N: '1055' } });
    }
    expect(await allClosed()).toBe(0);
  });

  it('Queries paged to the end, in parallel, return every item once and leave no iterator open', async () => {
    const pageThrough = async () => {
      const seen: number[] = [];
      let start: Record<string, AttributeValue> | undefined;
      do {
        const page = await client.send(newestFirst(7, start));
        seen.push(...(page.Items ?? []).map((item) => Number(item.ts.N)));
        start = page.LastEvaluatedKey;
      } while (start);
      return seen;
    };
    const runs = await Promise.all(Array.from({ length: 8 }, pageThrough));
    const expected = Array.from({ length: READINGS - 10 }, (_, i) => 1059 - i);
    for (const seen of runs) expect(seen).toEqual(expected);
    expect(await allClosed()).toBe(0);
  });

  it('Scans (limited and whole) and ListTables leave no iterator open', async () => {
    for (let i = 0; i < 20; i++) {
      const page = await client.send(new ScanCommand({ TableName: table, Limit: 3 }));
      expect(page.Count).toBe(3);
      expect(page.LastEvaluatedKey).toBeDefined();
    }
    const whole = await client.send(new ScanCommand({ TableName: table }));
    expect(whole.Count).toBe(READINGS);
    const tables = await client.send(new ListTablesCommand({}));
    expect(tables.TableNames).toEqual(expect.arrayContaining(Object.values(LOCAL_TABLES).map((t) => t.name)));
    expect(await allClosed()).toBe(0);
  });
});
