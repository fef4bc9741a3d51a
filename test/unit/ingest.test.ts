import { beforeEach, describe, expect, it } from 'vitest';
import { storeTelemetry } from '../../lambdas/core/store-telemetry.js';
import { FakeMetrics, FakeReadingStore, FakeRejectionSink, FakeRollupStore, FakeSensorRegistry, silentLog } from './fakes.js';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const event = (payload: unknown, sensorId = 's1', receivedAt = NOW) => ({
  payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)).toString('base64'),
  sensorId,
  receivedAt,
});

let deps: {
  readings: FakeReadingStore;
  rollups: FakeRollupStore;
  sensors: FakeSensorRegistry;
  rejections: FakeRejectionSink;
  rawRetentionDays: number;
  log: typeof silentLog;
  metrics: FakeMetrics;
};

beforeEach(() => {
  deps = {
    readings: new FakeReadingStore(),
    rollups: new FakeRollupStore(),
    sensors: new FakeSensorRegistry(),
    rejections: new FakeRejectionSink(),
    rawRetentionDays: 30,
    log: silentLog,
    metrics: new FakeMetrics(),
  };
});

describe('storeTelemetry', () => {
  it('stores a valid reading, its roll-ups and the sensor record', async () => {
    const outcome = await storeTelemetry(event({ ts: NOW - 1000, values: { temperature: 21.4 }, units: { temperature: '°C' } }), deps);
    expect(outcome).toEqual({ accepted: true, stored: 1, duplicates: 0 });
    expect([...deps.readings.rows.get('s1')!.keys()]).toEqual([NOW - 1000]);
    expect(deps.rollups.bucketsOf('s1', '1m')).toHaveLength(1);
    expect(deps.rollups.bucketsOf('s1', '1h')).toHaveLength(1);
    expect(await deps.sensors.get('s1')).toMatchObject({
      metrics: ['temperature'],
      units: { temperature: '°C' },
      latest: { ts: NOW - 1000, values: { temperature: 21.4 } },
      lastReadingAt: NOW,
    });
  });

  it('a redelivery is neither stored again nor counted again in roll-ups', async () => {
    const payload = [
      { ts: NOW - 2000, values: { t: 1 } },
      { ts: NOW - 1000, values: { t: 2 } },
    ];
    await storeTelemetry(event(payload), deps);
    const again = await storeTelemetry(event([...payload, { ts: NOW - 500, values: { t: 3 } }], 's1', NOW + 10), deps);
    expect(again).toEqual({ accepted: true, stored: 1, duplicates: 2 });
    expect(deps.rollups.bucketsOf('s1', '1m').map((b) => b.stats.t.count)).toEqual([3]);
  });

  it('a second delivery keeps the first write of a key', async () => {
    await storeTelemetry(event({ ts: NOW - 1000, values: { t: 1 } }), deps);
    await storeTelemetry(event({ ts: NOW - 1000, values: { t: 99 } }), deps);
    expect(deps.readings.rows.get('s1')!.get(NOW - 1000)!.values).toEqual({ t: 1 });
    expect(deps.rollups.bucketsOf('s1', '1m')[0].stats.t).toEqual({ min: 1, max: 1, sum: 1, count: 1 });
  });

  it('a retried invocation completes roll-ups and the registry when the first one failed after storing', async () => {
    const putBucket = deps.rollups.putBucket.bind(deps.rollups);
    let failures = 1;
    deps.rollups.putBucket = async (...args) => {
      if (failures-- > 0) throw new Error('throttled');
      return putBucket(...args);
    };
    const e = event([
      { ts: NOW - 2000, values: { t: 1 } },
      { ts: NOW - 1000, values: { t: 3 } },
    ]);
    await expect(storeTelemetry(e, deps)).rejects.toThrow('throttled');
    expect(deps.readings.rows.get('s1')!.size).toBe(2);
    expect(await storeTelemetry(e, deps)).toEqual({ accepted: true, stored: 0, duplicates: 2 });
    expect(deps.rollups.bucketsOf('s1', '1m').map((b) => b.stats.t)).toEqual([{ min: 1, max: 3, sum: 4, count: 2 }]);
    expect(deps.rollups.bucketsOf('s1', '1h').map((b) => b.stats.t)).toEqual([{ min: 1, max: 3, sum: 4, count: 2 }]);
    expect(await deps.sensors.get('s1')).toMatchObject({ metrics: ['t'], latest: { ts: NOW - 1000, values: { t: 3 } } });
  });

  it('dead-letters a rejected payload whole with its topic, code and bytes, and stores nothing', async () => {
    const raw = JSON.stringify([
      { ts: NOW - 1000, values: { t: 1 } },
      { ts: NOW - 500, values: { t: 'warm' } },
    ]);
    const outcome = await storeTelemetry(event(raw), deps);
    expect(outcome).toMatchObject({ accepted: false, code: 'INVALID_VALUE' });
    expect(deps.rejections.rejected).toEqual([
      {
        topic: 'sensors/s1/telemetry',
        sensorId: 's1',
        code: 'INVALID_VALUE',
        message: expect.any(String),
        payload: Buffer.from(raw).toString('base64'),
        receivedAt: NOW,
      },
    ]);
    expect(deps.readings.rows.size).toBe(0);
    expect(deps.rollups.series.size).toBe(0);
    expect(deps.sensors.records.size).toBe(0);
  });

  it('dead-letters bytes that are not UTF-8 as INVALID_JSON, keeping them byte for byte', async () => {
    const bytes = Buffer.from([0xff, 0x00, 0x7b]);
    await storeTelemetry({ payload: bytes.toString('base64'), sensorId: 's1', receivedAt: NOW }, deps);
    expect(deps.rejections.rejected).toMatchObject([{ code: 'INVALID_JSON', payload: bytes.toString('base64') }]);
  });

  it('an event without payload or receivedAt is refused without touching any store', async () => {
    expect(await storeTelemetry({ sensorId: 's1' }, deps)).toMatchObject({ accepted: false, code: 'INVALID_EVENT' });
    expect(await storeTelemetry(null, deps)).toMatchObject({ accepted: false, code: 'INVALID_EVENT' });
    expect(deps.readings.rows.size + deps.rejections.rejected.length).toBe(0);
  });
});
