/**
 * Local retention: the TTL sweeper deletes, in every table with a TTL attribute in its shared definition,
 * the items whose attribute (epoch seconds) has passed, and nothing else, as DynamoDB TTL does in the cloud.
 */
import { DynamoDBClient, GetItemCommand, PutItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TABLES } from '../../local/dynamo.js';
import type { LocalRuntime } from '../../local/runtime.js';
import { eventually, getJson, makeDataDir, removeDataDir, startTestRuntime } from '../support/runtime.js';

let dataDir: string;
let runtime: LocalRuntime;
let client: DynamoDBClient;

beforeAll(async () => {
  dataDir = await makeDataDir('vigia-ttl-');
  runtime = await startTestRuntime(dataDir, { ttlSweepIntervalMs: 300 });
  // The runtime's own credentials, from the environment it set for the handlers.
  client = new DynamoDBClient({ endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB, region: 'local' });
}, 60_000);

afterAll(async () => {
  client?.destroy();
  await runtime?.close();
  await removeDataDir(dataDir);
});

/** A key for a table from its definition (the sweeper knows nothing else of the items either). */
function keyOf(definition: (typeof LOCAL_TABLES)[keyof typeof LOCAL_TABLES]['definition'], id: string): Record<string, AttributeValue> {
  const value = (type: 'S' | 'N'): AttributeValue => (type === 'S' ? { S: id } : { N: String(id.length * 1000 + id.charCodeAt(0)) });
  return {
    [definition.partitionKey.name]: value(definition.partitionKey.type),
    ...(definition.sortKey ? { [definition.sortKey.name]: value(definition.sortKey.type) } : {}),
  };
}

describe('local TTL sweeper', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const swept = Object.values(LOCAL_TABLES).filter((t) => t.definition.timeToLiveAttribute);

  it('sweeps every table whose definition names a TTL attribute (readings, roll-ups, connections and live marks)', () => {
    expect(swept.map((t) => t.name)).toEqual(expect.arrayContaining(['vigia-readings', 'vigia-rollups', 'vigia-connections']));
  });

  it.each(swept.map((t) => [t.name, t] as const))('%s: deletes items whose TTL has passed, keeps the rest', async (_name, table) => {
    const ttl = table.definition.timeToLiveAttribute!;
    const items = {
      expired: { ...keyOf(table.definition, 'expired-item'), [ttl]: { N: String(now() - 60) }, note: { S: 'x' } },
      future: { ...keyOf(table.definition, 'future-item'), [ttl]: { N: String(now() + 3600) } },
      noTtl: { ...keyOf(table.definition, 'no-ttl-item') },
    };
    for (const item of Object.values(items)) await client.send(new PutItemCommand({ TableName: table.name, Item: item }));
    const exists = async (id: string) =>
      (await client.send(new GetItemCommand({ TableName: table.name, Key: keyOf(table.definition, id), ConsistentRead: true }))).Item !==
      undefined;
    await eventually(`the expired item of ${table.name} deleted`, async () => ((await exists('expired-item')) ? undefined : true));
    expect(await exists('future-item')).toBe(true);
    expect(await exists('no-ttl-item')).toBe(true);
  });

  it('keeps an item whose TTL was renewed before the sweeper reached it, and counts deletions in /api/metrics', async () => {
    const table = LOCAL_TABLES.readings;
    const ttl = table.definition.timeToLiveAttribute!;
    await client.send(
      new PutItemCommand({ TableName: table.name, Item: { ...keyOf(table.definition, 'renewed'), [ttl]: { N: String(now() + 3600) } } }),
    );
    await client.send(
      new PutItemCommand({ TableName: table.name, Item: { ...keyOf(table.definition, 'gone'), [ttl]: { N: String(now() - 1) } } }),
    );
    await eventually('the expired reading deleted', async () =>
      (await client.send(new GetItemCommand({ TableName: table.name, Key: keyOf(table.definition, 'gone') }))).Item ? undefined : true,
    );
    expect((await client.send(new GetItemCommand({ TableName: table.name, Key: keyOf(table.definition, 'renewed') }))).Item).toBeDefined();
    const metrics = await fetch(`${runtime.urls.api}/metrics`).then((r) => r.text());
    expect(Number(/vigia_local_ttl_deleted_total\{table="vigia-readings"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2);
    expect((await getJson(`${runtime.urls.api}/health`)).body).toEqual({ status: 'ok' });
  });
});
