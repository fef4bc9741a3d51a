import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ApiDeps, ApiResponse } from '../../lambdas/core/api.js';
import { OFFLINE_AFTER_MS, handleApiRequest, sensorView } from '../../lambdas/core/api.js';
import type { Reading, SensorRecord } from '../../lambdas/core/model.js';
import { refreshRollups } from '../../lambdas/core/rollups.js';
import { FakeReadingStore, FakeRollupStore, FakeSensorRegistry } from './fakes.js';
import { openApiChecker } from '../support/openapi.js';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const MINUTE = 60_000;
const HOUR = 3_600_000;

let deps: ApiDeps & { readings: FakeReadingStore; rollups: FakeRollupStore; sensors: FakeSensorRegistry };

beforeEach(() => {
  deps = { readings: new FakeReadingStore(), rollups: new FakeRollupStore(), sensors: new FakeSensorRegistry(), now: () => NOW };
});

async function seed(sensorId: string, points: Array<[number, Record<string, number>]>, units: Record<string, string> = {}) {
  const readings: Reading[] = points.map(([ts, values]) => ({
    sensorId,
    ts,
    values,
    units: Object.fromEntries(Object.entries(units).filter(([m]) => m in values)),
    receivedAt: ts,
  }));
  const stored = await deps.readings.insertNew(readings);
  await refreshRollups(sensorId, stored, deps);
  await deps.sensors.recordReadings(sensorId, stored);
}

/** Every answer is also checked against the OpenAPI document (docs/openapi.json). */
async function get(path: string, query: Record<string, string> = {}, headers: Record<string, string> = {}) {
  const res = await handleApiRequest({ method: 'GET', path, query, headers }, deps);
  openApiChecker().check({ method: 'GET', path, status: res.status, contentType: res.headers['content-type'] ?? null, body: res.body });
  return res;
}

const body = (res: ApiResponse) => JSON.parse(res.body);

function expectError(res: ApiResponse, status: number, code: string) {
  expect(res.status).toBe(status);
  const b = body(res);
  expect(Object.keys(b)).toEqual(['error']);
  expect(b.error.code).toBe(code);
  expect(typeof b.error.message).toBe('string');
}

/** A reading every `step` ms from `start` (inclusive) to `end` (exclusive), temperature = its index. */
function series(start: number, end: number, step: number): Array<[number, Record<string, number>]> {
  const out: Array<[number, Record<string, number>]> = [];
  for (let ts = start, i = 0; ts < end; ts += step, i++) out.push([ts, { temperature: i, humidity: 40 + (i % 7) }]);
  return out;
}

describe('routes', () => {
  it('GET /health answers {"status":"ok"}', async () => {
    const res = await get('/health');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toBe('{"status":"ok"}');
  });

  it('an unknown path is 404 and another method 405, both in the error shape', async () => {
    expectError(await get('/nothing'), 404, 'NOT_FOUND');
    expectError(await get('/sensors/a/history'), 404, 'NOT_FOUND');
    // Unknown whatever its sensorId segment holds, even one that is not URL encoding.
    expectError(await get('/sensors/%ZZ/history'), 404, 'NOT_FOUND');
    expectError(await handleApiRequest({ method: 'POST', path: '/sensors', query: {}, headers: {} }, deps), 405, 'METHOD_NOT_ALLOWED');
  });
});

describe('GET /sensors and /sensors/{id}', () => {
  beforeEach(async () => {
    await seed(
      'b-sensor',
      [
        [NOW - 2000, { temperature: 20, humidity: 40 }],
        [NOW - 1000, { temperature: 21, co2: 400 }],
      ],
      {
        temperature: '°C',
        humidity: '%',
      },
    );
    await deps.sensors.applyPresence('b-sensor', { online: true, ts: NOW - HOUR, versionNumber: 1 });
    await deps.sensors.applyPresence('a-sensor', { online: true, ts: NOW - 5000, versionNumber: 0 });
  });

  it('lists every seen sensor by id with exactly the contract fields', async () => {
    const res = await get('/sensors');
    expect(res.status).toBe(200);
    const { sensors } = body(res);
    // Paged (shared decision of issue 11): the one page of a small fleet ends with nextCursor null.
    expect(Object.keys(body(res))).toEqual(['sensors', 'nextCursor']);
    expect(body(res).nextCursor).toBeNull();
    expect(sensors).toEqual([
      { sensorId: 'a-sensor', online: true, lastSeen: NOW - 5000, metrics: [], units: {}, latest: null },
      {
        sensorId: 'b-sensor',
        online: true,
        lastSeen: NOW - 1000,
        metrics: ['co2', 'humidity', 'temperature'],
        units: { temperature: '°C', humidity: '%' },
        latest: { ts: NOW - 1000, values: { temperature: 21, co2: 400 } },
      },
    ]);
    for (const s of sensors) {
      expect(Object.keys(s).sort()).toEqual(['lastSeen', 'latest', 'metrics', 'online', 'sensorId', 'units']);
    }
  });

  it('an empty registry lists no sensors', async () => {
    deps.sensors.records.clear();
    expect(body(await get('/sensors'))).toEqual({ sensors: [], nextCursor: null });
  });

  it('pages with ?limit= and ?cursor=: every sensor once across the pages, the last page’s nextCursor null', async () => {
    deps.sensors.records.clear();
    const ids = Array.from({ length: 7 }, (_, i) => `p-${i}`);
    for (const id of ids) await deps.sensors.applyPresence(id, { online: true, ts: NOW - 1000, versionNumber: 1 });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await get('/sensors', { limit: '3', ...(cursor ? { cursor } : {}) });
      expect(res.status).toBe(200);
      const page = body(res) as { sensors: Array<{ sensorId: string }>; nextCursor: string | null };
      expect(page.sensors.length).toBeLessThanOrEqual(3);
      seen.push(...page.sensors.map((x) => x.sensorId));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(seen.sort()).toEqual(ids);
  });

  it('a limit outside 1–1000 or a cursor not from GET /sensors is 400 INVALID_PARAMETER, never clamped', async () => {
    for (const limit of ['0', '1001', '-1', '2.5', 'ten', '']) expectError(await get('/sensors', { limit }), 400, 'INVALID_PARAMETER');
    for (const cursor of ['', '!!!', Buffer.from('{"after":"bad id"}').toString('base64url'), Buffer.from('[1]').toString('base64url')]) {
      expectError(await get('/sensors', { cursor }), 400, 'INVALID_PARAMETER');
    }
    expect((await get('/sensors', { limit: '1000' })).status).toBe(200);
  });

  it('GET /sensors/{id} answers one of those objects', async () => {
    const res = await get('/sensors/b-sensor');
    expect(res.status).toBe(200);
    expect(body(res)).toEqual(body(await get('/sensors')).sensors[1]);
  });

  it('a sensor never seen is 404 SENSOR_NOT_FOUND; an invalid id is 400 INVALID_PARAMETER', async () => {
    expectError(await get('/sensors/ghost'), 404, 'SENSOR_NOT_FOUND');
    expectError(await get('/sensors/bad%20id'), 400, 'INVALID_PARAMETER');
    expectError(await get(`/sensors/${'x'.repeat(65)}`), 400, 'INVALID_PARAMETER');
    expectError(await get('/sensors/a.b'), 400, 'INVALID_PARAMETER');
    expectError(await get('/sensors/%E0%A4%A'), 400, 'INVALID_PARAMETER');
  });

  it('readings of an invalid id are 400; of a sensor never seen 404, but only after the range and parameters', async () => {
    expectError(await get('/sensors/bad%20id/readings', { from: 'nope' }), 400, 'INVALID_PARAMETER');
    expectError(await get('/sensors/ghost/readings'), 404, 'SENSOR_NOT_FOUND');
    expectError(await get('/sensors/ghost/readings', { from: 'nope' }), 400, 'INVALID_RANGE');
    expectError(await get('/sensors/ghost/readings', { limit: '0' }), 400, 'INVALID_PARAMETER');
  });
});

describe('sensorView', () => {
  const record = (over: Partial<SensorRecord>): SensorRecord => ({
    sensorId: 's1',
    metrics: ['b', 'a'],
    units: {},
    latest: null,
    lastReadingAt: null,
    presence: null,
    ...over,
  });

  it('online follows presence while the sensor is heard from', () => {
    const view = sensorView(record({ presence: { online: true, ts: NOW - 60_000, versionNumber: 1 }, lastReadingAt: NOW - 1000 }), NOW);
    expect(view).toMatchObject({ online: true, lastSeen: NOW - 1000, metrics: ['a', 'b'] });
  });

  it('presence online but silent for 10 minutes is offline; just under 10 minutes is still online', () => {
    const presence = { online: true, ts: NOW - HOUR, versionNumber: 1 };
    expect(sensorView(record({ presence, lastReadingAt: NOW - OFFLINE_AFTER_MS }), NOW).online).toBe(false);
    expect(sensorView(record({ presence, lastReadingAt: NOW - 10 * MINUTE - 1 }), NOW).online).toBe(false);
    expect(sensorView(record({ presence, lastReadingAt: NOW - 10 * MINUTE + 1 }), NOW).online).toBe(true);
    expect(sensorView(record({ presence: { ...presence, ts: NOW - 11 * MINUTE } }), NOW).online).toBe(false);
  });

  it('a disconnect means offline even with a recent reading', () => {
    const view = sensorView(record({ presence: { online: false, ts: NOW - 1000, versionNumber: 2 }, lastReadingAt: NOW - 2000 }), NOW);
    expect(view).toMatchObject({ online: false, lastSeen: NOW - 1000 });
  });

  it('lastSeen is the newer of the last reading and the last presence event; null before either', () => {
    expect(
      sensorView(record({ presence: { online: true, ts: NOW - 100, versionNumber: 0 }, lastReadingAt: NOW - 200 }), NOW).lastSeen,
    ).toBe(NOW - 100);
    expect(sensorView(record({}), NOW)).toMatchObject({ lastSeen: null, online: false, latest: null });
  });
});

describe('GET /sensors/{id}/readings: raw', () => {
  it('pages through nextCursor, covering every point exactly once in ascending ts', async () => {
    const data = series(NOW - 25 * 1000, NOW, 1000);
    await seed('s1', [...data].reverse());
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: ApiResponse = await get('/sensors/s1/readings', { resolution: 'raw', limit: '10', ...(cursor ? { cursor } : {}) });
      expect(res.status).toBe(200);
      const page = body(res);
      expect(page.resolution).toBe('raw');
      expect(page.sensorId).toBe('s1');
      expect(page.points.length).toBeLessThanOrEqual(10);
      seen.push(...page.points.map((p: { ts: number }) => p.ts));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(data.map(([ts]) => ts));
  });

  it('the cursor keeps working with the first page’s parameters repeated, and after the clock moved', async () => {
    await seed('s1', series(NOW - 30 * 1000, NOW, 1000));
    const q = { from: String(NOW - 30 * 1000), to: String(NOW), resolution: 'raw', limit: '20' };
    const first = body(await get('/sensors/s1/readings', q));
    deps.now = () => NOW + 5 * MINUTE;
    const second = body(await get('/sensors/s1/readings', { ...q, cursor: first.nextCursor }));
    expect(second.points.map((p: { ts: number }) => p.ts)).toEqual(series(NOW - 10 * 1000, NOW, 1000).map(([ts]) => ts));
    expect(second.nextCursor).toBeNull();
  });

  it('answers {ts, values} points with only the metrics asked, in [from, to)', async () => {
    await seed('s1', [
      [NOW - 3000, { temperature: 1, humidity: 50 }],
      [NOW - 2000, { temperature: 2, humidity: 51 }],
      [NOW - 1000, { temperature: 3 }],
      [NOW, { temperature: 4 }],
    ]);
    const page = body(await get('/sensors/s1/readings', { from: String(NOW - 2000), to: String(NOW), metrics: 'humidity,temperature' }));
    expect(page).toEqual({
      sensorId: 's1',
      resolution: 'raw',
      points: [
        { ts: NOW - 2000, values: { humidity: 51, temperature: 2 } },
        { ts: NOW - 1000, values: { temperature: 3 } },
      ],
      nextCursor: null,
    });
  });
});

describe('GET /sensors/{id}/readings: auto', () => {
  it('answers raw while the range holds at most limit readings', async () => {
    await seed('s1', series(NOW - 10 * MINUTE, NOW, MINUTE));
    const page = body(await get('/sensors/s1/readings', { limit: '10' }));
    expect(page.resolution).toBe('raw');
    expect(page.points).toHaveLength(10);
    expect(page.nextCursor).toBeNull();
  });

  it('answers 1m when there are more readings than limit but the range spans at most limit minutes', async () => {
    await seed('s1', series(NOW - 10 * MINUTE, NOW, 30_000));
    const page = body(await get('/sensors/s1/readings', { from: String(NOW - 10 * MINUTE), limit: '10' }));
    expect(page.resolution).toBe('1m');
    expect(page.points).toHaveLength(10);
    expect(page.points.every((p: { values: { temperature: { count: number } } }) => p.values.temperature.count === 2)).toBe(true);
    expect(page.nextCursor).toBeNull();
  });

  it('answers 1h when the range spans more than limit minutes, paged when even that exceeds limit', async () => {
    await seed('s1', series(NOW - 5 * HOUR, NOW, 20 * MINUTE));
    const q = { from: String(NOW - 5 * HOUR), limit: '2' };
    const first = body(await get('/sensors/s1/readings', q));
    expect(first.resolution).toBe('1h');
    expect(first.points.map((p: { ts: number }) => p.ts)).toEqual([NOW - 5 * HOUR, NOW - 4 * HOUR]);
    expect(first.nextCursor).toEqual(expect.any(String));
    const all = [...first.points];
    let cursor = first.nextCursor;
    while (cursor) {
      const page = body(await get('/sensors/s1/readings', { ...q, cursor }));
      expect(page.resolution).toBe('1h');
      all.push(...page.points);
      cursor = page.nextCursor;
    }
    expect(all.map((p) => p.ts)).toEqual([5, 4, 3, 2, 1].map((h) => NOW - h * HOUR));
    expect(all.every((p) => p.values.temperature.count === 3)).toBe(true);
  });

  it('a range of exactly limit minutes with too many readings is still 1m; one more minute is 1h', async () => {
    await seed('s1', series(NOW - 11 * MINUTE, NOW, 20_000));
    expect(body(await get('/sensors/s1/readings', { from: String(NOW - 10 * MINUTE), limit: '10' })).resolution).toBe('1m');
    expect(body(await get('/sensors/s1/readings', { from: String(NOW - 11 * MINUTE), limit: '10' })).resolution).toBe('1h');
  });
});

describe('GET /sensors/{id}/readings: aggregated', () => {
  beforeEach(async () => {
    const m0 = NOW - 3 * MINUTE;
    await seed('s1', [
      [m0 + 1000, { temperature: 10, humidity: 40 }],
      [m0 + 2000, { temperature: 20 }],
      [m0 + 40_000, { temperature: 60, humidity: 50 }],
      [m0 + 2 * MINUTE + 5000, { humidity: 45 }],
    ]);
  });

  it('answers {min,max,avg,count} per metric for each non-empty bucket, ts its UTC-aligned start', async () => {
    const page = body(await get('/sensors/s1/readings', { from: String(NOW - 3 * MINUTE), resolution: '1m' }));
    expect(page).toEqual({
      sensorId: 's1',
      resolution: '1m',
      points: [
        {
          ts: NOW - 3 * MINUTE,
          values: { temperature: { min: 10, max: 60, avg: 30, count: 3 }, humidity: { min: 40, max: 50, avg: 45, count: 2 } },
        },
        { ts: NOW - MINUTE, values: { humidity: { min: 45, max: 45, avg: 45, count: 1 } } },
      ],
      nextCursor: null,
    });
    const hour = body(await get('/sensors/s1/readings', { from: String(NOW - HOUR), resolution: '1h', metrics: 'temperature' }));
    expect(hour.points).toEqual([{ ts: NOW - HOUR, values: { temperature: { min: 10, max: 60, avg: 30, count: 3 } } }]);
  });

  it('a bucket whose start is in [from, to) is answered whole; one starting before from is not', async () => {
    const m0 = NOW - 3 * MINUTE;
    const inside = body(await get('/sensors/s1/readings', { from: String(m0), to: String(m0 + 30_000), resolution: '1m' }));
    expect(inside.points).toHaveLength(1);
    expect(inside.points[0].values.temperature.count).toBe(3);
    const after = body(await get('/sensors/s1/readings', { from: String(m0 + 30_000), to: String(NOW), resolution: '1m' }));
    expect(after.points.map((p: { ts: number }) => p.ts)).toEqual([NOW - MINUTE]);
  });
});

describe('GET /sensors/{id}/readings: CSV', () => {
  beforeEach(async () => {
    await seed('s1', [
      [NOW - 3000, { temperature: 21.5, humidity: 48 }],
      [NOW - 2000, { temperature: 22 }],
      [NOW - 1000, { humidity: 47, co2: 400 }],
    ]);
  });

  it('raw: header ts then the sensor’s metrics sorted by name; ISO-8601 UTC ts; empty cell for a missing value', async () => {
    const res = await get('/sensors/s1/readings', { format: 'csv' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    expect(res.body.trimEnd().split('\n')).toEqual([
      'ts,co2,humidity,temperature',
      `${new Date(NOW - 3000).toISOString()},,48,21.5`,
      `${new Date(NOW - 2000).toISOString()},,,22`,
      `${new Date(NOW - 1000).toISOString()},400,47,`,
    ]);
    expect(new Date(NOW - 3000).toISOString()).toBe('2026-01-15T11:59:57.000Z');
    expect(Object.keys(res.headers).map((h) => h.toLowerCase())).not.toContain('x-next-cursor');
  });

  it('Accept: text/csv answers CSV too, with the metrics in the order asked', async () => {
    const res = await get('/sensors/s1/readings', { metrics: 'temperature,humidity' }, { Accept: 'text/csv' });
    expect(res.body.split('\n')[0]).toBe('ts,temperature,humidity');
    expect(res.body.split('\n')[1]).toBe(`${new Date(NOW - 3000).toISOString()},21.5,48`);
  });

  it('aggregated: ts,<m>_min,<m>_max,<m>_avg,<m>_count per metric', async () => {
    const res = await get('/sensors/s1/readings', { format: 'csv', resolution: '1m', metrics: 'temperature,co2' });
    expect(res.body.trimEnd().split('\n')).toEqual([
      'ts,temperature_min,temperature_max,temperature_avg,temperature_count,co2_min,co2_max,co2_avg,co2_count',
      `${new Date(NOW - MINUTE).toISOString()},21.5,22,21.75,2,400,400,400,1`,
    ]);
  });

  it('aggregated with a metric missing from a bucket leaves its four cells empty', async () => {
    await seed('s1', [[NOW - 2 * MINUTE, { humidity: 30 }]]);
    const res = await get('/sensors/s1/readings', { format: 'csv', resolution: '1m', metrics: 'humidity,temperature' });
    expect(res.body.trimEnd().split('\n')).toEqual([
      'ts,humidity_min,humidity_max,humidity_avg,humidity_count,temperature_min,temperature_max,temperature_avg,temperature_count',
      `${new Date(NOW - 2 * MINUTE).toISOString()},30,30,30,1,,,,`,
      `${new Date(NOW - MINUTE).toISOString()},47,48,47.5,2,21.5,22,21.75,2`,
    ]);
  });

  it('the next cursor goes in X-Next-Cursor while more pages follow, and is absent on the last page', async () => {
    const first = await get('/sensors/s1/readings', { format: 'csv', resolution: 'raw', limit: '2' });
    const cursor = first.headers['x-next-cursor'];
    expect(cursor).toEqual(expect.any(String));
    expect(first.body.trimEnd().split('\n')).toHaveLength(3);
    const last = await get('/sensors/s1/readings', { format: 'csv', resolution: 'raw', limit: '2', cursor });
    expect(last.body.trimEnd().split('\n')).toEqual(['ts,co2,humidity,temperature', `${new Date(NOW - 1000).toISOString()},400,47,`]);
    expect(last.headers).not.toHaveProperty('x-next-cursor');
    // The CSV cursor is the same cursor the JSON answer gives.
    expect(body(await get('/sensors/s1/readings', { resolution: 'raw', limit: '2' })).nextCursor).toBe(cursor);
  });
});

describe('GET /sensors/{id}/readings: paging property', () => {
  it('following nextCursor answers every point (raw) or bucket (1m, 1h) in [from, to) once, ascending', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: NOW - 3 * HOUR, max: NOW - 1 }), { minLength: 0, maxLength: 80 }),
        fc.integer({ min: 1, max: 15 }),
        fc.constantFrom('raw', '1m', '1h'),
        fc.integer({ min: NOW - 3 * HOUR, max: NOW - 1 }),
        async (stamps, limit, resolution, from) => {
          deps = { readings: new FakeReadingStore(), rollups: new FakeRollupStore(), sensors: new FakeSensorRegistry(), now: () => NOW };
          await seed(
            's1',
            stamps.map((ts) => [ts, { temperature: ts % 97 }]),
          );
          deps.sensors.seed({ sensorId: 's1' });
          const size = resolution === '1m' ? MINUTE : HOUR;
          const expected =
            resolution === 'raw'
              ? stamps.filter((ts) => ts >= from).sort((a, b) => a - b)
              : [...new Set(stamps.map((ts) => Math.floor(ts / size) * size))].filter((b) => b >= from).sort((a, b) => a - b);
          const seen: number[] = [];
          let cursor: string | null = null;
          for (let pages = 0; pages <= expected.length + 1; pages++) {
            const res: ApiResponse = await get('/sensors/s1/readings', {
              from: String(from),
              resolution,
              limit: String(limit),
              ...(cursor ? { cursor } : {}),
            });
            expect(res.status).toBe(200);
            const page = body(res);
            expect(page.points.length).toBeLessThanOrEqual(limit);
            seen.push(...page.points.map((p: { ts: number }) => p.ts));
            cursor = page.nextCursor;
            if (cursor === null) break;
          }
          expect(cursor).toBeNull();
          expect(seen).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('GET /readings (many sensors at once)', () => {
  beforeEach(async () => {
    await seed('a', series(NOW - 10 * MINUTE, NOW, 10_000));
    await seed('b', series(NOW - 5 * MINUTE, NOW, 30_000));
  });

  it('answers each sensor as its own first page would, in the order asked, and lists sensors never seen', async () => {
    const q = { from: String(NOW - 10 * MINUTE), to: String(NOW), metrics: 'temperature', limit: '100' };
    const res = await get('/readings', { ...q, sensorIds: 'b,ghost,a,b' });
    expect(res.status).toBe(200);
    const answer = body(res);
    expect(answer.notFound).toEqual(['ghost']);
    expect(answer.series.map((s: { sensorId: string }) => s.sensorId)).toEqual(['b', 'a']);
    for (const s of answer.series) {
      const single = body(await get(`/sensors/${s.sensorId}/readings`, q));
      expect(s).toEqual(single);
    }
    expect(answer.series[1].points).toHaveLength(60);
  });

  it('bounds points per sensor by limit (1 to 1000) and continues with the per-sensor cursor', async () => {
    const q = { from: String(NOW - 10 * MINUTE), to: String(NOW), resolution: 'raw' };
    const first = body(await get('/readings', { ...q, sensorIds: 'a', limit: '25' })).series[0];
    expect(first.points).toHaveLength(25);
    const next = await get('/sensors/a/readings', { ...q, limit: '1000', cursor: first.nextCursor });
    expect(next.status).toBe(200);
    expect(body(next).points[0].ts).toBe(first.points[24].ts + 10_000);
    expectError(await get('/readings', { ...q, sensorIds: 'a', limit: '1001' }), 400, 'INVALID_PARAMETER');
    expectError(await get('/readings', { ...q, sensorIds: 'a', limit: '0' }), 400, 'INVALID_PARAMETER');
  });

  it('refuses a missing, invalid or over-long id list first, then a bad range, then other parameters', async () => {
    expectError(await get('/readings', {}), 400, 'INVALID_PARAMETER');
    expectError(await get('/readings', { sensorIds: '' }), 400, 'INVALID_PARAMETER');
    expectError(await get('/readings', { sensorIds: 'a,<b>', from: 'nonsense' }), 400, 'INVALID_PARAMETER');
    const many = Array.from({ length: 101 }, (_, i) => `s${i}`).join(',');
    expectError(await get('/readings', { sensorIds: many }), 400, 'INVALID_PARAMETER');
    expectError(await get('/readings', { sensorIds: 'a', from: 'nonsense', resolution: 'weekly' }), 400, 'INVALID_RANGE');
    expectError(await get('/readings', { sensorIds: 'a', resolution: 'weekly' }), 400, 'INVALID_PARAMETER');
    expectError(await get('/readings', { sensorIds: 'a', metrics: 'bad metric' }), 400, 'INVALID_PARAMETER');
  });

  it('takes 100 ids, and a sensor named like an Object.prototype member is just a sensor', async () => {
    const ids = ['constructor', ...Array.from({ length: 99 }, (_, i) => `s${i}`)];
    const answer = body(await get('/readings', { sensorIds: ids.join(',') }));
    expect(answer.series).toEqual([]);
    expect(answer.notFound).toEqual(ids);
  });
});
