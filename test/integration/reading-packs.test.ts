/**
 * Raw readings in packs, against the DynamoDB stand-in: packs (several per minute, each keyed by its oldest
 * reading) and single items (late readings, history from direct ingest) written side by side read back as one
 * series, page after page, with no point lost or repeated, and packs found by key range as written.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoReadingStore } from '../../lambdas/adapters/dynamo-history.js';
import type { ReadingPack } from '../../lambdas/core/ports.js';
import { LOCAL_TABLES, type LocalDynamo, startDynamo } from '../../local/dynamo.js';
import { makeDataDir, removeDataDir } from '../support/runtime.js';

const MINUTE = 60_000;
const START = Math.floor(Date.now() / MINUTE) * MINUTE - 10 * MINUTE;
let dataDir: string;
let dynamo: LocalDynamo;
let client: DynamoDBClient;
let store: DynamoReadingStore;

beforeAll(async () => {
  dataDir = await makeDataDir('vigia-packs-');
  dynamo = await startDynamo(dataDir);
  client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'local', credentials: dynamo.credentials });
  store = new DynamoReadingStore(DynamoDBDocumentClient.from(client), LOCAL_TABLES.readings.name, 30);
}, 60_000);

afterAll(async () => {
  client?.destroy();
  await dynamo?.close();
  await removeDataDir(dataDir);
});

describe('packs and single items in the readings table', () => {
  it('pages through packs and single items in ts order: every point once, the cursor and the range honoured', async () => {
    const expected = new Map<number, Record<string, number>>();
    const packs: ReadingPack[] = [];
    // Three minutes of a reading every 5 s, each minute in packs of 2 (a batch's worth); the middle minute's
    // second half as single items.
    for (let m = 0; m < 3; m++) {
      const minute = START + m * MINUTE;
      for (let i = 0; i < 12; i++) {
        const ts = minute + i * 5000;
        const values = { temperature: 20 + m + i / 100, humidity: 40 + i };
        expected.set(ts, values);
        if (m === 1 && i >= 6) await store.putAll([{ sensorId: 'pk-1', ts, values, units: {}, receivedAt: ts, seq: '1' }]);
        else if (i % 2 === 0) packs.push({ sensorId: 'pk-1', start: ts, readings: new Map([[ts, values]]) });
        else packs[packs.length - 1].readings.set(ts, values);
      }
    }
    await store.putPacks(packs);
    // Another sensor's readings never show up in pk-1's series.
    await store.putPacks([{ sensorId: 'pk-10', start: START, readings: new Map([[START + 1, { t: 1 }]]) }]);

    // Packs by key range, both ends in: a minute's packs up to a ts.
    const found = await store.packsIn([{ sensorId: 'pk-1', from: START + 2 * MINUTE, to: START + 2 * MINUTE + 20_000 }]);
    expect(found).toEqual(packs.filter((p) => p.start >= START + 2 * MINUTE && p.start <= START + 2 * MINUTE + 20_000));
    expect(found.map((p) => p.start)).toEqual([0, 10_000, 20_000].map((s) => START + 2 * MINUTE + s));

    // One page of the middle minute: more packs than the first guess reads, single items later in the minute.
    const middle = await store.queryRaw({ sensorId: 'pk-1', from: START + MINUTE, to: START + 2 * MINUTE, maxItems: 8 });
    expect(middle.points.map((p) => p.ts)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => START + MINUTE + i * 5000));

    // Pages of 7 (the API asks limit + 1 and continues after the last point shown).
    const from = START + 2500;
    const to = START + 2 * MINUTE + 30_000;
    const want = [...expected.keys()].filter((ts) => ts >= from && ts < to).sort((a, b) => a - b);
    const seen: number[] = [];
    let after: number | undefined;
    for (let page = 0; page < 20; page++) {
      const { points, itemsRead } = await store.queryRaw({ sensorId: 'pk-1', from, to, after, maxItems: 8 });
      expect(itemsRead).toBeGreaterThan(0);
      for (const p of points.slice(0, 7)) expect(p.values).toEqual(expected.get(p.ts));
      seen.push(...points.slice(0, 7).map((p) => p.ts));
      if (points.length <= 7) break;
      after = points[6].ts;
    }
    expect(seen).toEqual(want);
  });
});
