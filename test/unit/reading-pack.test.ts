import { describe, expect, it, vi } from 'vitest';
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
      start: MINUTE_START,
      readings: new Map([
        [MINUTE_START, { temperature: 21.5 }],
        [MINUTE_START + 5000, { temperature: 21.5 }],
      ]),
    };
    // sensorId + "s1#m", ts + start, expiresAt + seconds, r + map, per reading: offset + member + map + "temperature" + member + 21.5
    const reading = (offset: string) => 1 + offset.length + 3 + 1 + 11 + 3;
    const expected = 8 + 4 + 2 + numberBytes(MINUTE_START) + 9 + numberBytes(MINUTE_START / 1000) + 1 + 3 + reading('0') + reading('5000');
    expect(packItemBytes(one)).toBe(expected);
  });
});

describe('raw readings packed through storeTelemetryStream', () => {
  it('one new pack per sensor-minute per batch, whatever the number of records and readings; nothing read to write it', async () => {
    const { readings, deps } = setup();
    const records = [0, 1, 2].map((r) =>
      record(
        'p1',
        [0, 1, 2, 3].map((i) => ({ ts: MINUTE_START + (r * 4 + i) * 5000, values: { t: r * 4 + i } })),
      ),
    );
    records.push(record('p1', { ts: MINUTE_START + 60_000, values: { t: 12 } }));
    const packsIn = vi.spyOn(readings, 'packsIn');
    expect((await storeTelemetryStream(records, deps)).firstFailure).toBeNull();
    expect(readings.packWrites.map((p) => [p.start, p.readings.size])).toEqual([
      [MINUTE_START, 12],
      [MINUTE_START + 60_000, 1],
    ]);
    // The next batch's readings of the same minute go into a pack of their own, keyed by the oldest.
    await storeTelemetryStream(
      [
        record('p1', [
          { ts: MINUTE_START + 61_000, values: { t: 13 } },
          { ts: MINUTE_START + 62_000, values: { t: 14 } },
        ]),
      ],
      deps,
    );
    expect(readings.packWrites.slice(2).map((p) => [p.start, p.readings.size])).toEqual([[MINUTE_START + 61_000, 2]]);
    expect(packsIn).not.toHaveBeenCalled();
    expect(readings.rows.size).toBe(0);
    expect(readings.storedOf('p1').size).toBe(15);
  });

  it('a 500-reading batch of 32 metrics: split into packs under the cap, each reading stored and rolled up once', async () => {
    const { readings, rollups, deps } = setup();
    const batch = Array.from({ length: 500 }, (_, i) => ({ ts: MINUTE_START + i, values: metrics32(i) }));
    // Five records of 100 readings (a payload is at most 128 KB).
    const out = await storeTelemetryStream(
      [0, 1, 2, 3, 4].map((r) => record('big', batch.slice(r * 100, r * 100 + 100))),
      deps,
    );
    expect(out.firstFailure).toBeNull();
    expect(out.outcomes.map((o) => (o.accepted ? o.stored : -1))).toEqual([100, 100, 100, 100, 100]);
    expect(readings.packWrites.length).toBeGreaterThan(1);
    for (const pack of readings.packWrites) expect(packItemBytes(pack)).toBeLessThanOrEqual(PACK_MAX_BYTES);
    expect(readings.rows.size).toBe(0);
    const stored = readings.storedOf('big');
    expect(stored.size).toBe(500);
    for (const r of batch) expect(stored.get(r.ts)).toEqual(r.values);
    expect(rollups.bucketsOf('big', '1m')[0].readings).toBe(500);

    // The same keys again, with other values, late now: found in the packs, never stored twice.
    const again = batch.map((r) => ({ ts: r.ts, values: { other: 1 } }));
    const redo = await storeTelemetryStream(
      [0, 1, 2, 3, 4].map((r) => record('big', again.slice(r * 100, r * 100 + 100))),
      deps,
    );
    expect(redo.outcomes.every((o) => o.accepted && o.stored === 0 && o.duplicates === 100)).toBe(true);
    expect(readings.storedOf('big').get(MINUTE_START + 499)).toEqual(batch[499].values);
    expect(rollups.bucketsOf('big', '1m')[0].readings).toBe(500);
  });

  it("a late reading is looked up in its minute's packs up to its ts, then stored as a single item with its record's seq", async () => {
    const { readings, rollups, deps } = setup();
    await storeTelemetryStream([record('l1', { ts: MINUTE_START + 30_000, values: { t: 1 } })], deps);
    const packsIn = vi.spyOn(readings, 'packsIn');
    const late = record('l1', { ts: MINUTE_START + 10_000, values: { t: 2 } });
    await storeTelemetryStream([late], deps);
    expect(packsIn).toHaveBeenCalledWith([{ sensorId: 'l1', from: MINUTE_START, to: MINUTE_START + 10_000 }]);
    expect(readings.rows.get('l1')!.get(MINUTE_START + 10_000)).toMatchObject({ values: { t: 2 }, seq: late.sequenceNumber });
    expect([...readings.storedOf('l1').keys()].sort()).toEqual([MINUTE_START + 10_000, MINUTE_START + 30_000]);
    expect(rollups.bucketsOf('l1', '1m')[0].readings).toBe(2);
    // Both again, late: one found in a pack, one as a single item; neither counts twice.
    const redo = await storeTelemetryStream(
      [record('l1', { ts: MINUTE_START + 30_000, values: { t: 9 } }), record('l1', { ts: MINUTE_START + 10_000, values: { t: 9 } })],
      deps,
    );
    expect(redo.outcomes.map((o) => o.accepted && o.duplicates)).toEqual([1, 1]);
    expect(rollups.bucketsOf('l1', '1m')[0].readings).toBe(2);
  });

  it('a replayed offline buffer is looked up with one pack range per sensor; readings far apart with one each', async () => {
    const { readings, deps } = setup();
    const DAY = 86_400_000;
    const now = MINUTE_START + 7 * DAY;
    const at = (sensorId: string, doc: unknown): SequencedEvent => {
      const r = record(sensorId, doc);
      return { ...r, event: { ...(r.event as object), receivedAt: now } };
    };
    // Records of at most 100 readings (a payload's limit).
    const records = (sensorId: string, list: Array<{ ts: number; values: Record<string, number> }>) =>
      Array.from({ length: Math.ceil(list.length / 100) }, (_, i) => at(sensorId, list.slice(i * 100, i * 100 + 100)));
    await storeTelemetryStream([at('o1', { ts: now, values: { t: 0 } }), at('o2', { ts: now, values: { t: 0 } })], deps);
    // A day of o1's buffer at a reading a minute, half of it already stored (a first replay cut short).
    const buffer = Array.from({ length: 1440 }, (_, i) => ({ ts: MINUTE_START + i * 60_000 + 1000, values: { t: i } }));
    await storeTelemetryStream(records('o1', buffer.slice(0, 700)), deps);
    const packsIn = vi.spyOn(readings, 'packsIn');
    const replay = await storeTelemetryStream(
      [
        ...records('o1', buffer),
        at('o2', { ts: MINUTE_START + 5000, values: { t: 1 } }),
        at('o2', { ts: MINUTE_START + 6 * DAY + 5000, values: { t: 2 } }),
      ],
      deps,
    );
    const outcomes = replay.outcomes.map((o) => (o.accepted ? [o.stored, o.duplicates] : [-1, -1]));
    expect(outcomes.slice(0, 15).reduce((a, [s, d]) => [a[0] + s, a[1] + d], [0, 0])).toEqual([740, 700]);
    expect(outcomes.slice(15)).toEqual([
      [1, 0],
      [1, 0],
    ]);
    expect(packsIn).toHaveBeenCalledTimes(1);
    expect(packsIn.mock.calls[0][0]).toEqual([
      { sensorId: 'o1', from: MINUTE_START, to: buffer[1439].ts },
      { sensorId: 'o2', from: MINUTE_START, to: MINUTE_START + 5000 },
      { sensorId: 'o2', from: MINUTE_START + 6 * DAY, to: MINUTE_START + 6 * DAY + 5000 },
    ]);
    expect(readings.storedOf('o1').size).toBe(1441);
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
