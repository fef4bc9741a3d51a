/**
 * `npx tsx bench/dynamo-queries.ts [query|scan] [count]`: the DynamoDB stand-in alone (no pipeline) answering
 * many small Queries (Limit 5, a sort-key condition: the pattern that stops early) or Scans, printing the
 * process's RSS and the LevelDB resources left open as it goes. Issue 15's repro: before the worker closed
 * dynalite's iterators, RSS grew about 14 KB a Query and never came back.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BatchWriteItemCommand, DynamoDBClient, QueryCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { LOCAL_TABLES, startDynamo } from '../local/dynamo.js';

const SENSORS = 10;
const READINGS_PER_SENSOR = 250;

async function main(): Promise<void> {
  const operation = process.argv[2] === 'scan' ? 'scan' : 'query';
  const count = Number(process.argv[3] ?? 16_000);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vigia-dynamo-bench-'));
  const dynamo = await startDynamo(dir);
  const client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'local', credentials: dynamo.credentials });
  const table = LOCAL_TABLES.readings.name;
  try {
    for (let s = 0; s < SENSORS; s++) {
      for (let from = 0; from < READINGS_PER_SENSOR; from += 25) {
        const puts = Array.from({ length: 25 }, (_, i) => ({
          PutRequest: { Item: { sensorId: { S: `s${s}` }, ts: { N: String(from + i) }, value: { N: '1.5' } } },
        }));
        await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: puts } }));
      }
    }
    const mib = () => Math.round(process.memoryUsage().rss / 2 ** 20);
    console.log(`${operation} × ${count} against the DynamoDB stand-in (RSS covers its worker thread too)`);
    console.log(`before: RSS ${mib()} MiB`);
    const cpuBefore = process.cpuUsage();
    const step = Math.max(1, Math.round(count / 8));
    for (let i = 1; i <= count; i++) {
      if (operation === 'query') {
        await client.send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: 'sensorId = :s AND ts >= :from',
            ExpressionAttributeValues: { ':s': { S: `s${i % SENSORS}` }, ':from': { N: '10' } },
            Limit: 5,
          }),
        );
      } else {
        await client.send(new ScanCommand({ TableName: table, Limit: 5 }));
      }
      if (i % step === 0 || i === count) {
        console.log(`after ${i}: RSS ${mib()} MiB, open LevelDB resources ${await dynamo.openResources()}`);
      }
    }
    const cpu = process.cpuUsage(cpuBefore);
    console.log(`CPU ${Math.round((cpu.user + cpu.system) / count)} µs per ${operation} (both threads, client included)`);
  } finally {
    client.destroy();
    await dynamo.close();
    await rm(dir, { recursive: true, force: true });
  }
}

void main();
