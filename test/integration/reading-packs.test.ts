/**
 * Raw readings packed per sensor-minute, against the DynamoDB stand-in: packs and single items (a full pack's
 * overflow, history from direct ingest) written side by side read back as one series, page after page, with
 * no point lost or repeated, and a pack read back as written.
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
    // Three minutes packed every 5 s; the middle one's second half as single items (overflow).
    for (let m = 0; m < 3; m++) {
      const minute = START + m * MINUTE;
      const pack: ReadingPack = { sensorId: 'pk-1', minute, readings: new Map(), seqs: new Map() };
      for (let i = 0; i < 12; i++) {
        const ts = minute + i * 5000;
        const values = { temperature: 20 + m + i / 100, humidity: 40 + i };
        expected.set(ts, values);
        if (m === 1 && i >= 6) await store.putAll([{ sensorId: 'pk-1', ts, values, units: {}, receivedAt: ts, seq: '1' }]);
        else pack.readings.set(ts, values);
      }
      packs.push(pack);
    }
    // A late reading kept with its record's sequence number, and a ts written both ways (a retry's overflow).
    packs[2].seqs.set(START + 2 * MINUTE, '49590338271490256608559692538361571095921575989136588898');
    await store.putAll([{ sensorId: 'pk-1', ts: START + 5000, values: expected.get(START + 5000)!, units: {}, receivedAt: 0, seq: '1' }]);
    await store.putPacks(packs);
    // Another sensor's readings never show up in pk-1's series.
    await store.putPacks([{ sensorId: 'pk-10', minute: START, readings: new Map([[START + 1, { t: 1 }]]), seqs: new Map() }]);

    const read = await store.packs([
      { sensorId: 'pk-1', minute: START + 2 * MINUTE },
      { sensorId: 'pk-1', minute: START + 9 * MINUTE },
    ]);
    expect(read).toEqual([packs[2]]);

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
