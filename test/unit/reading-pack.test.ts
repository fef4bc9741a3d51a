import { describe, expect, it } from 'vitest';
import { PACK_MAX_BYTES, numberBytes, packItemBytes } from '../../lambdas/core/reading-pack.js';
import type { SequencedEvent } from '../../lambdas/core/sequence.js';
import { storeTelemetryStream } from '../../lambdas/core/store-telemetry-stream.js';
import { FakeMetrics, FakeReadingStore, FakeRejectionSink, FakeRollupStore, FakeSensorRegistry, silentLog } from './fakes.js';

const MINUTE_START = Date.UTC(2026, 0, 15, 12, 0, 0);

function setup() {
  const readings = new FakeReadingStore();
  const rollups = new FakeRollupStore();
  const sensors = new FakeSensorRegistry();
  const deps = {
    readings,
    rollups,
    sensors,
    rejections: new FakeRejectionSink(),
    rawRetentionDays: 30,
    log: silentLog,
    metrics: new FakeMetrics(),
  };
  return { readings, rollups, sensors, deps };
}

let nextSeq = 1_000_000;
const record = (sensorId: string, doc: unknown): SequencedEvent => ({
  sequenceNumber: String(nextSeq++),
  partitionKey: sensorId,
  event: { payload: Buffer.from(JSON.stringify(doc)).toString('base64'), sensorId, receivedAt: MINUTE_START },
});
const metrics32 = (base: number) => Object.fromEntries(Array.from({ length: 32 }, (_, m) => [`metric_number_${m}`, base + m / 7]));

describe('item size as DynamoDB counts it', () => {
  it('a number is 1 byte per two significant digits plus 1; a pack adds names, offsets and values', () => {
    expect(numberBytes(0)).toBe(2);
    expect(numberBytes(21.5)).toBe(3);
    expect(numberBytes(123456789)).toBe(6);
    expect(numberBytes(0.1 + 0.2)).toBe(10);
    const one = {
      sensorId: 's1',
      minute: MINUTE_START,
      readings: new Map([[MINUTE_START + 5000, { temperature: 21.5 }]]),
      seqs: new Map(),
    };
    // sensorId + "s1#m", ts + minute, expiresAt + seconds, r + map, "5000" + member + map + "temperature" + member + 21.5
    const expected = 8 + 4 + 2 + numberBytes(MINUTE_START) + 9 + numberBytes(MINUTE_START / 1000) + 1 + 3 + (1 + 4 + 3 + 1 + 11 + 3);
    expect(packItemBytes(one)).toBe(expected);
    const marked = { ...one, seqs: new Map([[MINUTE_START + 5000, '49000000000000000001']]) };
    expect(packItemBytes(marked)).toBe(expected + 1 + 3 + 1 + 4 + 20);
  });
});

describe('raw readings packed per sensor-minute through storeTelemetryStream', () => {
  it('one pack write per sensor-minute per batch, whatever the number of records and readings', async () => {
    const { readings, deps } = setup();
    const records = [0, 1, 2].map((r) =>
      record(
        'p1',
        [0, 1, 2, 3].map((i) => ({ ts: MINUTE_START + (r * 4 + i) * 5000, values: { t: r * 4 + i } })),
      ),
    );
    records.push(record('p1', { ts: MINUTE_START + 60_000, values: { t: 12 } }));
    expect((await storeTelemetryStream(records, deps)).firstFailure).toBeNull();
    expect(readings.packWrites.map((p) => [p.minute, p.readings.size, p.seqs.size])).toEqual([
      [MINUTE_START, 12, 0],
      [MINUTE_START + 60_000, 1, 0],
    ]);
    expect(readings.rows.size).toBe(0);
  });

  it('a 500-reading batch of 32 metrics: packs stay under the cap, the rest are single items, each reading stored and rolled up once', async () => {
    const { readings, rollups, deps } = setup();
    const batch = Array.from({ length: 500 }, (_, i) => ({ ts: MINUTE_START + i, values: metrics32(i) }));
    // Five records of 100 readings (a payload is at most 128 KB).
    const out = await storeTelemetryStream(
      [0, 1, 2, 3, 4].map((r) => record('big', batch.slice(r * 100, r * 100 + 100))),
      deps,
    );
    expect(out.firstFailure).toBeNull();
    expect(out.outcomes.map((o) => (o.accepted ? o.stored : -1))).toEqual([100, 100, 100, 100, 100]);
    for (const pack of readings.packWrites) expect(packItemBytes(pack)).toBeLessThanOrEqual(PACK_MAX_BYTES);
    const singles = readings.rows.get('big')!;
    expect(singles.size).toBeGreaterThan(0);
    expect(readings.packWrites[0].readings.size + singles.size).toBe(500);
    const stored = readings.storedOf('big');
    expect(stored.size).toBe(500);
    for (const r of batch) expect(stored.get(r.ts)).toEqual(r.values);
    expect(rollups.bucketsOf('big', '1m')[0].readings).toBe(500);

    // The same keys again, with other values, late now: found in the pack or as single items, never stored twice.
    const again = batch.map((r) => ({ ts: r.ts, values: { other: 1 } }));
    const redo = await storeTelemetryStream(
      [0, 1, 2, 3, 4].map((r) => record('big', again.slice(r * 100, r * 100 + 100))),
      deps,
    );
    expect(redo.outcomes.every((o) => o.accepted && o.stored === 0 && o.duplicates === 100)).toBe(true);
    expect(readings.storedOf('big').get(MINUTE_START + 499)).toEqual(batch[499].values);
    expect(rollups.bucketsOf('big', '1m')[0].readings).toBe(500);
  });

  it('a late reading in an already packed minute joins its pack with its record’s seq; the mark goes once its record is done', async () => {
    const { readings, rollups, deps } = setup();
    await storeTelemetryStream([record('l1', { ts: MINUTE_START + 30_000, values: { t: 1 } })], deps);
    const late = record('l1', { ts: MINUTE_START + 10_000, values: { t: 2 } });
    await storeTelemetryStream([late], deps);
    const pack = readings.packed.get('l1')!.get(MINUTE_START)!;
    expect([...pack.readings.keys()].sort()).toEqual([MINUTE_START + 10_000, MINUTE_START + 30_000]);
    expect(pack.seqs).toEqual(new Map([[MINUTE_START + 10_000, late.sequenceNumber]]));
    expect(rollups.bucketsOf('l1', '1m')[0].readings).toBe(2);
    // The next write of the pack drops the mark: its record is within the sensor's progress now.
    await storeTelemetryStream([record('l1', { ts: MINUTE_START + 40_000, values: { t: 3 } })], deps);
    expect(readings.packed.get('l1')!.get(MINUTE_START)!.seqs.size).toBe(0);
    expect(rollups.bucketsOf('l1', '1m')[0].readings).toBe(3);
  });

  it('a crash after the pack write and before the buckets: the retry, split differently, rolls up each reading once', async () => {
    const { readings, rollups, sensors, deps } = setup();
    // Out of order in the stream: the second reading is older than the first.
    const records = [
      record('c1', { ts: MINUTE_START + 20_000, values: { t: 1 } }),
      record('c1', { ts: MINUTE_START + 5000, values: { t: 2 } }),
    ];
    const failing = {
      ...deps,
      rollups: Object.assign(Object.create(rollups), { putBuckets: async () => Promise.reject(new Error('down')) }),
    };
    expect((await storeTelemetryStream(records, failing)).firstFailure).toBe(records[0].sequenceNumber);
    expect(readings.storedOf('c1').size).toBe(2);
    // Kinesis retries the first record alone, then the second.
    expect((await storeTelemetryStream(records.slice(0, 1), deps)).firstFailure).toBeNull();
    expect((await storeTelemetryStream(records.slice(1), deps)).firstFailure).toBeNull();
    expect(rollups.bucketsOf('c1', '1m')[0]).toMatchObject({ readings: 2, stats: { t: { min: 1, max: 2, sum: 3, count: 2 } } });
    expect(sensors.records.get('c1')!.latest).toEqual({ ts: MINUTE_START + 20_000, values: { t: 1 } });
  });
});
