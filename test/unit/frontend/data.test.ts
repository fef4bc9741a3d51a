import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  backfillSpan,
  bucketsToBand,
  filterAndSort,
  orderFleet,
  sortByName,
  foldIntoBuckets,
  formatAgo,
  formatValue,
  gapThreshold,
  keepOrder,
  MetricPrecision,
  mergeReadings,
  pointAt,
  readingRate,
  readingsToColumns,
  seriesToCsv,
  trimBefore,
  type Bucket,
  type Reading,
} from '../../../frontend/src/data.js';
import { backoffDelay } from '../../../frontend/src/live.js';
import { own } from '../../../frontend/src/own.js';

const r = (ts: number, temperature = ts / 1000): Reading => ({ ts, values: { temperature } });

describe('mergeReadings (live readings into history)', () => {
  it('appends newer readings in place, the streaming case', () => {
    const history = [r(1000), r(2000)];
    const merged = mergeReadings(history, [r(3000), r(4000)]);
    expect(merged).toBe(history);
    expect(merged.map((p) => p.ts)).toEqual([1000, 2000, 3000, 4000]);
  });

  it('keeps the first write of a timestamp: a redelivered or backfilled duplicate is dropped', () => {
    const history = [r(1000, 1), r(2000, 2)];
    const merged = mergeReadings(history, [r(2000, 99), r(3000, 3), r(3000, 98)]);
    expect(merged.map((p) => [p.ts, p.values.temperature])).toEqual([
      [1000, 1],
      [2000, 2],
      [3000, 3],
    ]);
  });

  it('slots an out-of-order page (a backfill) into the middle', () => {
    const history = [r(1000), r(5000), r(6000)];
    const merged = mergeReadings(history, [r(4000), r(2000), r(3000)]);
    expect(merged.map((p) => p.ts)).toEqual([1000, 2000, 3000, 4000, 5000, 6000]);
  });

  it('is ascending, duplicate-free and loses nothing, whatever the order of arrival', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 500 })), fc.array(fc.integer({ min: 0, max: 500 })), (a, b) => {
        const history = mergeReadings(
          [],
          a.map((ts) => r(ts)),
        );
        const merged = mergeReadings(
          history,
          b.map((ts) => r(ts)),
        );
        const ts = merged.map((p) => p.ts);
        expect(ts).toEqual([...new Set([...a, ...b])].sort((x, y) => x - y));
      }),
    );
  });
});

describe('backfillSpan (gap after a reconnection)', () => {
  it('asks from just after the newest reading held to the reconnection, `to` exclusive', () => {
    expect(backfillSpan(10_000, 25_000, 300_000)).toEqual({ from: 10_001, to: 25_001 });
  });

  it('never reaches further back than the window on screen', () => {
    expect(backfillSpan(0, 1_000_000, 300_000)).toEqual({ from: 700_001, to: 1_000_001 });
  });

  it('covers the whole window when nothing is held', () => {
    expect(backfillSpan(null, 1_000_000, 60_000)).toEqual({ from: 940_001, to: 1_000_001 });
  });

  it('asks for nothing when the series already reaches the reconnection', () => {
    expect(backfillSpan(1_000_000, 1_000_000, 60_000)).toBeNull();
  });

  it('with the merge, closes the hole the drop left', () => {
    const stored = Array.from({ length: 30 }, (_, i) => r(1000 * (i + 1)));
    const beforeDrop = stored.slice(0, 10);
    const afterReconnect = stored.slice(22);
    let shown = mergeReadings([...beforeDrop], afterReconnect);
    const span = backfillSpan(beforeDrop.at(-1)!.ts, 23_500, 300_000)!;
    shown = mergeReadings(
      shown,
      stored.filter((p) => p.ts >= span.from && p.ts < span.to),
    );
    expect(shown.map((p) => p.ts)).toEqual(stored.map((p) => p.ts));
  });
});

describe('trimBefore (the live window slides)', () => {
  it('drops what is older than the window start, keeps the rest', () => {
    expect(trimBefore([r(1), r(2), r(3), r(4)], 3).map((p) => p.ts)).toEqual([3, 4]);
    const all = [r(5)];
    expect(trimBefore(all, 1)).toBe(all);
  });
});

describe('bucketsToBand (bucket to band)', () => {
  const buckets: Bucket[] = [
    { ts: 60_000, values: { temperature: { min: 20, max: 22, avg: 21, count: 3 }, humidity: { min: 40, max: 41, avg: 40.5, count: 2 } } },
    { ts: 120_000, values: { humidity: { min: 42, max: 44, avg: 43, count: 2 } } },
    { ts: 180_000, values: { temperature: { min: 19.5, max: 23.25, avg: 21.125, count: 8 } } },
  ];

  it('gives uPlot columns in seconds: min and max for the band, avg for the line', () => {
    expect(bucketsToBand(buckets, 'temperature')).toEqual({
      x: [60, 120, 180],
      min: [20, null, 19.5],
      max: [22, null, 23.25],
      avg: [21, null, 21.125],
    });
  });

  it('leaves a gap (null), never a zero, where a bucket lacks the metric', () => {
    expect(bucketsToBand(buckets, 'humidity').avg).toEqual([40.5, 43, null]);
  });

  it('has the band enclose the average in every bucket', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 20 }), { maxLength: 30 }),
        (groups) => {
          let folded: Bucket[] = [];
          groups.forEach((values, i) => {
            values.forEach((v, j) => {
              folded = foldIntoBuckets(folded, { ts: i * 60_000 + j, values: { m: v } }, 60_000);
            });
          });
          const band = bucketsToBand(folded, 'm');
          band.x.forEach((_, i) => {
            expect(band.min[i]!).toBeLessThanOrEqual(band.avg[i]! + 1e-6);
            expect(band.avg[i]!).toBeLessThanOrEqual(band.max[i]! + 1e-6);
          });
        },
      ),
    );
  });
});

describe('foldIntoBuckets (live readings into aggregated history)', () => {
  it('updates count, min, max and the running average of the UTC-aligned bucket', () => {
    let buckets: Bucket[] = [{ ts: 60_000, values: { t: { min: 10, max: 20, avg: 15, count: 2 } } }];
    buckets = foldIntoBuckets(buckets, { ts: 119_999, values: { t: 30 } }, 60_000);
    expect(buckets).toEqual([{ ts: 60_000, values: { t: { min: 10, max: 30, avg: 20, count: 3 } } }]);
  });

  it('opens a new bucket in order, for a reading past the last one or in a hole', () => {
    let buckets: Bucket[] = [];
    for (const ts of [185_000, 61_000, 125_000]) buckets = foldIntoBuckets(buckets, { ts, values: { t: ts / 1000 } }, 60_000);
    expect(buckets.map((b) => b.ts)).toEqual([60_000, 120_000, 180_000]);
    expect(buckets[1].values.t).toEqual({ min: 125, max: 125, avg: 125, count: 1 });
  });
});

describe('readingsToColumns', () => {
  it('gives seconds and null where a reading lacks the metric', () => {
    expect(readingsToColumns([r(1000, 1), { ts: 2000, values: { other: 5 } }], 'temperature')).toEqual({ x: [1, 2], y: [1, null] });
  });
});

describe('seriesToCsv (the range on screen)', () => {
  it('writes raw readings as the API does: ts in ISO UTC, metrics in the order asked, empty cells', () => {
    const csv = seriesToCsv(
      {
        resolution: 'raw',
        points: [
          { ts: 0, values: { a: 1.5, b: 2 } },
          { ts: 1000, values: { b: 3 } },
        ],
      },
      ['a', 'b'],
    );
    expect(csv).toBe('ts,a,b\n1970-01-01T00:00:00.000Z,1.5,2\n1970-01-01T00:00:01.000Z,,3\n');
  });

  it('writes buckets as <metric>_min,_max,_avg,_count', () => {
    const csv = seriesToCsv({ resolution: '1m', points: [{ ts: 60_000, values: { a: { min: 1, max: 3, avg: 2, count: 4 } } }] }, [
      'a',
      'b',
    ]);
    expect(csv).toBe('ts,a_min,a_max,a_avg,a_count,b_min,b_max,b_avg,b_count\n1970-01-01T00:01:00.000Z,1,3,2,4,,,,\n');
  });
});

describe('readingRate (the command panel)', () => {
  it('is the median spacing of the newest readings, so one late frame does not swing it', () => {
    expect(readingRate([0, 1000, 2000, 3000, 4000])).toBe(1);
    expect(readingRate([0, 1000, 2000, 7000, 8000, 9000])).toBe(1);
    expect(readingRate([0, 1000, 2000, 3000, 3200, 3400, 3600, 3800, 4000, 4200, 4400, 4600])).toBe(5);
  });

  it('is unknown with fewer than three readings', () => {
    expect(readingRate([1000, 2000])).toBeNull();
  });
});

describe('filterAndSort (the fleet)', () => {
  const sensors = [
    { sensorId: 'sim-10', online: true, lastSeen: 500 },
    { sensorId: 'sim-2', online: false, lastSeen: 900 },
    { sensorId: 'Kitchen', online: true, lastSeen: 100 },
  ];
  it('filters by name, ignoring case', () => {
    expect(filterAndSort(sensors, 'KIT', 'name').map((s) => s.sensorId)).toEqual(['Kitchen']);
  });
  it('sorts by name (numbers as numbers), last seen (newest first) or status (online first)', () => {
    expect(filterAndSort(sensors, '', 'name').map((s) => s.sensorId)).toEqual(['Kitchen', 'sim-2', 'sim-10']);
    expect(filterAndSort(sensors, '', 'lastSeen').map((s) => s.sensorId)).toEqual(['sim-2', 'sim-10', 'Kitchen']);
    expect(filterAndSort(sensors, '', 'status').map((s) => s.sensorId)).toEqual(['Kitchen', 'sim-10', 'sim-2']);
  });
});

describe('formatAgo and backoffDelay', () => {
  it('says how long ago in words a person reads at a glance', () => {
    expect([900, 12_000, 180_000, 7_200_000, 5 * 86_400_000].map(formatAgo)).toEqual([
      'just now',
      '12 s ago',
      '3 min ago',
      '2 h ago',
      '5 d ago',
    ]);
  });
  it('backs off exponentially with jitter, capped at 30 s', () => {
    expect(backoffDelay(0, () => 0)).toBe(250);
    expect(backoffDelay(0, () => 1)).toBe(500);
    expect(backoffDelay(3, () => 1)).toBe(4000);
    expect(backoffDelay(20, () => 1)).toBe(30_000);
  });
});

describe('metrics named like Object.prototype members', () => {
  it('a metric a reading or bucket lacks is a gap, even when it is named constructor or toString', () => {
    const readings = [{ ts: 1000, values: { temperature: 1 } }];
    expect(readingsToColumns(readings, 'constructor').y).toEqual([null]);
    const buckets = [{ ts: 0, values: { temperature: { min: 1, max: 1, avg: 1, count: 1 } } }];
    expect(bucketsToBand(buckets, 'toString').avg).toEqual([null]);
    const folded = foldIntoBuckets([{ ts: 0, values: {} }], { ts: 10, values: { constructor: 5 } } as never, 60_000);
    expect(folded[0].values.constructor).toEqual({ min: 5, max: 5, avg: 5, count: 1 });
  });

  it('own() never answers a prototype member for a unit', () => {
    expect(own({ temperature: '°C' }, 'constructor')).toBeUndefined();
    expect(own({ constructor: 'V' }, 'constructor')).toBe('V');
    expect(own(undefined, 'temperature')).toBeUndefined();
  });
});

describe('gaps break the line (raw and aggregated)', () => {
  const everySecond = (from: number, to: number) => Array.from({ length: (to - from) / 1000 }, (_, i) => r(from + i * 1000));

  it('puts a null row inside a 10-minute hole in readings every second, and none elsewhere', () => {
    const readings = [...everySecond(0, 60_000), ...everySecond(660_000, 720_000)];
    const { x, y } = readingsToColumns(readings, 'temperature');
    expect(x).toHaveLength(readings.length + 1);
    const hole = y.indexOf(null);
    expect(hole).toBe(60);
    expect(x[hole]).toBeGreaterThan(59);
    expect(x[hole]).toBeLessThan(660);
    expect(y.filter((v) => v === null)).toHaveLength(1);
  });

  it("judges a gap by the sensor's own interval: a sensor reading every minute is not broken every minute", () => {
    const minutely = Array.from({ length: 30 }, (_, i) => r(i * 60_000));
    expect(readingsToColumns(minutely, 'temperature').y).not.toContain(null);
    expect(gapThreshold(minutely)).toBe(180_000);
  });

  it('breaks the band and the average line where minute buckets are missing', () => {
    const bucket = (ts: number): Bucket => ({ ts, values: { t: { min: 1, max: 3, avg: 2, count: 60 } } });
    const buckets = [
      ...Array.from({ length: 10 }, (_, i) => bucket(i * 60_000)),
      ...Array.from({ length: 10 }, (_, i) => bucket((30 + i) * 60_000)),
    ];
    const band = bucketsToBand(buckets, 't');
    expect(band.avg.filter((v) => v === null)).toHaveLength(1);
    expect(band.min[band.avg.indexOf(null)]).toBeNull();
    expect(band.max[band.avg.indexOf(null)]).toBeNull();
  });
});

describe('pointAt (tooltips never interpolate)', () => {
  const x = [10, 11, 12, 700, 701];
  const y = [1, 2, 3, 4, 5];
  it('shows the nearest real reading within reach', () => {
    expect(pointAt(x, y, 11.4, 1.5)).toBe(1);
    expect(pointAt(x, y, 699.5, 1.5)).toBe(3);
  });
  it('shows nothing over a gap, never the next reading after it', () => {
    expect(pointAt(x, y, 300, 1.5)).toBeNull();
    expect(pointAt(x, [1, 2, null, 4, 5], 12, 1.5)).toBe(1);
  });
});

describe('fixed decimals per metric', () => {
  it('gives every value of a metric the most decimals seen, so widths hold still', () => {
    const p = new MetricPrecision();
    p.see('humidity', 60.6);
    expect(p.format('humidity', 61)).toBe('61.0');
    expect(p.format('humidity', 60.6)).toBe('60.6');
    p.see('temperature', 21.25);
    expect(p.format('temperature', 21.5)).toBe('21.50');
    expect(p.format('temperature', 21)).toBe('21.00');
  });
  it('never drops decimals once seen, caps at three, and writes a true minus sign', () => {
    const p = new MetricPrecision();
    p.see('x', 1.23456);
    p.see('x', 2);
    expect(p.format('x', 2)).toBe('2.000');
    expect(formatValue(-1.5, 1)).toBe('\u22121.5');
  });
});

describe('keepOrder (cards do not move under the pointer)', () => {
  it('keeps the held order while a fresh sort differs, and counts the cards out of place', () => {
    const { order, moved } = keepOrder(['a', 'b', 'c'], ['c', 'a', 'b']);
    expect(order).toEqual(['a', 'b', 'c']);
    expect(moved).toBe(3);
  });
  it('drops sensors gone from the list and puts new ones at the end, in sorted order', () => {
    expect(keepOrder(['a', 'b', 'c'], ['d', 'c', 'a', 'e'])).toEqual({ order: ['a', 'c', 'd', 'e'], moved: 2 });
    expect(keepOrder(['a', 'b'], ['a', 'b'])).toEqual({ order: ['a', 'b'], moved: 0 });
  });
});

describe('orderFleet (filter and sort from name order)', () => {
  const byName = sortByName([
    { sensorId: 'b-3', online: false, lastSeen: 700 },
    { sensorId: 'a-10', online: true, lastSeen: 700 },
    { sensorId: 'a-2', online: false, lastSeen: 900 },
    { sensorId: 'c-1', online: true, lastSeen: null },
  ]);
  it('keeps name order among ties, without comparing names again', () => {
    expect(byName.map((s) => s.sensorId)).toEqual(['a-2', 'a-10', 'b-3', 'c-1']);
    expect(orderFleet(byName, '', 'lastSeen').map((s) => s.sensorId)).toEqual(['a-2', 'a-10', 'b-3', 'c-1']);
    expect(orderFleet(byName, '', 'status').map((s) => s.sensorId)).toEqual(['a-10', 'c-1', 'a-2', 'b-3']);
  });
  it('filters before sorting and never changes the list it was given', () => {
    expect(orderFleet(byName, ' A-', 'status').map((s) => s.sensorId)).toEqual(['a-10', 'a-2']);
    expect(orderFleet(byName, 'zzz', 'name')).toEqual([]);
    expect(byName.map((s) => s.sensorId)).toEqual(['a-2', 'a-10', 'b-3', 'c-1']);
  });
});
