import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MS_PER_DAY } from '../../lambdas/core/model.js';
import type { ReadingsQuery } from '../../lambdas/core/query.js';
import { ApiError, nextCursor, parseReadingsQuery } from '../../lambdas/core/query.js';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const HOUR = 3_600_000;

type Params = Record<string, string | undefined>;
const query = (params: Params = {}, accept?: string, sensorId = 's1', now = NOW) => parseReadingsQuery(sensorId, params, accept, now);

/** The ApiError a query is refused with (fails the test when it is accepted or throws anything else). */
function refusal(params: Params, accept?: string, sensorId = 's1', now = NOW): { status: number; code: string } {
  let thrown: unknown;
  let answer: ReadingsQuery | undefined;
  try {
    answer = parseReadingsQuery(sensorId, params, accept, now);
  } catch (err) {
    thrown = err;
  }
  expect(answer).toBeUndefined();
  expect(thrown).toBeInstanceOf(ApiError);
  const e = thrown as ApiError;
  return { status: e.status, code: e.code };
}

const INVALID_RANGE = { status: 400, code: 'INVALID_RANGE' };
const INVALID_PARAMETER = { status: 400, code: 'INVALID_PARAMETER' };

describe('parseReadingsQuery: defaults', () => {
  it('to = now, from = to − 1 h, all metrics, limit 1000, auto, JSON', () => {
    expect(query()).toEqual({
      sensorId: 's1',
      from: NOW - HOUR,
      to: NOW,
      metrics: null,
      requested: 'auto',
      resolution: null,
      limit: 1000,
      after: null,
      format: 'json',
    });
  });

  it('only to given: from is an hour before it; only from given: to is now', () => {
    expect(query({ to: String(NOW - 5 * HOUR) })).toMatchObject({ from: NOW - 6 * HOUR, to: NOW - 5 * HOUR });
    expect(query({ from: String(NOW - 5 * HOUR) })).toMatchObject({ from: NOW - 5 * HOUR, to: NOW });
  });

  it('ignores unknown query parameters', () => {
    expect(query({ foo: 'bar', page: '2' })).toEqual(query());
  });

  it('an explicit resolution is kept and fixes the resolution', () => {
    expect(query({ resolution: 'raw' })).toMatchObject({ requested: 'raw', resolution: 'raw' });
    expect(query({ resolution: '1m' })).toMatchObject({ requested: '1m', resolution: '1m' });
    expect(query({ resolution: '1h' })).toMatchObject({ requested: '1h', resolution: '1h' });
    expect(query({ resolution: 'auto' })).toMatchObject({ requested: 'auto', resolution: null });
  });

  it('limit bounds 1 and 10 000 are accepted', () => {
    expect(query({ limit: '1' }).limit).toBe(1);
    expect(query({ limit: '10000' }).limit).toBe(10_000);
  });
});

describe('parseReadingsQuery: instants', () => {
  it.each([
    ['epoch ms', String(Date.UTC(2026, 0, 15, 10)), Date.UTC(2026, 0, 15, 10)],
    ['ISO with Z', '2026-01-15T10:00:00Z', Date.UTC(2026, 0, 15, 10)],
    ['ISO with milliseconds', '2026-01-15T10:00:00.250Z', Date.UTC(2026, 0, 15, 10, 0, 0, 250)],
    ['ISO with a positive offset', '2026-01-15T12:00:00+02:00', Date.UTC(2026, 0, 15, 10)],
    ['ISO with a negative offset without colon', '2026-01-15T04:30:00-0530', Date.UTC(2026, 0, 15, 10)],
    ['ISO without offset is UTC', '2026-01-15T10:00:00', Date.UTC(2026, 0, 15, 10)],
    ['ISO without seconds is UTC', '2026-01-15T10:00', Date.UTC(2026, 0, 15, 10)],
    ['an ISO date alone is its UTC midnight', '2026-01-15', Date.UTC(2026, 0, 15)],
    ['a leap day', '2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
  ])('from as %s', (_, text, expected) => {
    const q = query({ from: text, to: String(expected + HOUR) });
    expect(q.from).toBe(expected);
  });

  it('to accepts the same forms', () => {
    expect(query({ to: '2026-01-15T11:00:00+01:00' }).to).toBe(Date.UTC(2026, 0, 15, 10));
  });

  it.each([
    ['February 30th', '2026-02-30'],
    ['February 29th of a common year', '2026-02-29T00:00:00Z'],
    ['month 13', '2026-13-01'],
    ['hour 25', '2026-01-15T25:00:00Z'],
    ['minute 60', '2026-01-15T10:60:00Z'],
    ['an offset of 24 hours', '2026-01-15T10:00:00+24:00'],
    ['a word', 'yesterday'],
    ['an empty value', ''],
    ['a float of epoch ms', '1764160000000.5'],
    ['an RFC 2822 date', 'Thu, 15 Jan 2026 10:00:00 GMT'],
  ])('%s is INVALID_RANGE', (_, text) => {
    expect(refusal({ from: text })).toEqual(INVALID_RANGE);
    expect(refusal({ to: text })).toEqual(INVALID_RANGE);
  });

  it('from ≥ to is INVALID_RANGE', () => {
    expect(refusal({ from: String(NOW), to: String(NOW) })).toEqual(INVALID_RANGE);
    expect(refusal({ from: String(NOW + 1), to: String(NOW) })).toEqual(INVALID_RANGE);
    expect(query({ from: String(NOW - 1), to: String(NOW) })).toMatchObject({ from: NOW - 1, to: NOW });
  });

  it('a range over 366 days is INVALID_RANGE; exactly 366 days is accepted', () => {
    expect(refusal({ from: String(NOW - 366 * MS_PER_DAY - 1), to: String(NOW) })).toEqual(INVALID_RANGE);
    expect(query({ from: String(NOW - 366 * MS_PER_DAY), to: String(NOW) }).from).toBe(NOW - 366 * MS_PER_DAY);
  });
});

describe('parseReadingsQuery: other parameters', () => {
  it.each(['0', '10001', '1.5', 'abc', '-1', '', ' 5', '1e3', '100000000'])('limit %j is INVALID_PARAMETER', (limit) => {
    expect(refusal({ limit })).toEqual(INVALID_PARAMETER);
  });

  it.each(['5m', 'RAW', 'daily', '', '1d'])('resolution %j is INVALID_PARAMETER', (resolution) => {
    expect(refusal({ resolution })).toEqual(INVALID_PARAMETER);
  });

  it('metrics: the names asked, in order; at most 32', () => {
    expect(query({ metrics: 'humidity,temperature' }).metrics).toEqual(['humidity', 'temperature']);
    expect(query({ metrics: 'temperature,humidity' }).metrics).toEqual(['temperature', 'humidity']);
    const names = Array.from({ length: 32 }, (_, i) => `m${i}`);
    expect(query({ metrics: names.join(',') }).metrics).toEqual(names);
    expect(refusal({ metrics: [...names, 'm32'].join(',') })).toEqual(INVALID_PARAMETER);
  });

  it.each(['1abc', '', 'a,,b', 'ts', 'a b', 'temp,values'])('metrics %j is INVALID_PARAMETER', (metrics) => {
    expect(refusal({ metrics })).toEqual(INVALID_PARAMETER);
  });

  it('format=csv or Accept: text/csv answers CSV; an explicit format wins; another format is refused', () => {
    expect(query().format).toBe('json');
    expect(query({ format: 'csv' }).format).toBe('csv');
    expect(query({}, 'text/csv').format).toBe('csv');
    expect(query({}, 'text/csv;q=0.9, application/json;q=0.5').format).toBe('csv');
    expect(query({}, 'application/json').format).toBe('json');
    expect(query({ format: 'json' }, 'text/csv').format).toBe('json');
    expect(refusal({ format: 'xml' })).toEqual(INVALID_PARAMETER);
  });

  it.each(['a b', '', 'x'.repeat(65), 'a/b'])('sensorId %j is INVALID_PARAMETER', (sensorId) => {
    expect(refusal({}, undefined, sensorId)).toEqual(INVALID_PARAMETER);
  });
});

describe('parseReadingsQuery: check order', () => {
  it('a bad sensor id comes before a bad range', () => {
    expect(refusal({ from: 'nope', limit: '0' }, undefined, 'bad id')).toEqual(INVALID_PARAMETER);
  });
  it('a bad range comes before a bad limit, resolution, metrics, format or cursor', () => {
    expect(refusal({ from: 'nope', limit: '0' })).toEqual(INVALID_RANGE);
    expect(refusal({ from: String(NOW), to: String(NOW - 1), resolution: 'x' })).toEqual(INVALID_RANGE);
    expect(refusal({ from: String(NOW - 400 * MS_PER_DAY), metrics: '1' })).toEqual(INVALID_RANGE);
    expect(refusal({ from: '2026-02-30', format: 'xml', cursor: '!!' })).toEqual(INVALID_RANGE);
  });
});

describe('parseReadingsQuery: cursors', () => {
  const first = { from: String(NOW - 2 * HOUR), to: String(NOW), metrics: 'temperature,humidity', resolution: 'raw' };

  it('round-trips: a cursor alone gives back the whole query and where the page ended', () => {
    const q = query(first);
    const cursor = nextCursor(q, 'raw', NOW - HOUR);
    // Later, the clock has moved on: the cursor still fixes the range.
    const later = query({ cursor }, undefined, 's1', NOW + 10 * 60_000);
    expect(later).toEqual({ ...q, after: NOW - HOUR });
    expect(query({ ...first, cursor })).toEqual({ ...q, after: NOW - HOUR });
  });

  it('a bound left out of a later page is the cursor’s, not a new default from the moved clock', () => {
    const onlyFrom = { from: String(NOW - 2 * HOUR), resolution: 'raw' };
    const q = query(onlyFrom);
    const cursor = nextCursor(q, 'raw', NOW - HOUR);
    expect(query({ ...onlyFrom, cursor }, undefined, 's1', NOW + 5 * 60_000)).toEqual({ ...q, after: NOW - HOUR });
    const both = query(first);
    const next = nextCursor(both, 'raw', NOW - HOUR);
    expect(query({ to: first.to, cursor: next }, undefined, 's1', NOW + 5 * 60_000)).toEqual({ ...both, after: NOW - HOUR });
  });

  it('fixes the resolution that auto chose; the same or the original request is accepted', () => {
    const q = query({ from: String(NOW - 2 * HOUR), to: String(NOW) });
    const cursor = nextCursor(q, '1m', NOW - HOUR);
    expect(query({ cursor })).toMatchObject({ requested: 'auto', resolution: '1m', after: NOW - HOUR });
    expect(query({ cursor, resolution: 'auto' }).resolution).toBe('1m');
    expect(query({ cursor, resolution: '1m' }).resolution).toBe('1m');
    expect(refusal({ cursor, resolution: '1h' })).toEqual(INVALID_PARAMETER);
    expect(refusal({ cursor, resolution: 'raw' })).toEqual(INVALID_PARAMETER);
  });

  it.each([
    ['another from', { from: String(NOW - 3 * HOUR) }],
    ['another to', { to: String(NOW - 1) }],
    ['other metrics', { metrics: 'temperature' }],
    ['metrics in another order', { metrics: 'humidity,temperature' }],
    ['another resolution', { resolution: '1h' }],
  ])('a cursor sent with %s is INVALID_PARAMETER', (_, change) => {
    const cursor = nextCursor(query(first), 'raw', NOW - HOUR);
    expect(refusal({ ...first, ...change, cursor })).toEqual(INVALID_PARAMETER);
  });

  it('a cursor of another sensor is INVALID_PARAMETER', () => {
    const cursor = nextCursor(query(first), 'raw', NOW - HOUR);
    expect(refusal({ cursor }, undefined, 's2')).toEqual(INVALID_PARAMETER);
  });

  it('a cursor of an all-metrics query sent with a metric list is INVALID_PARAMETER', () => {
    const q = query({ from: String(NOW - 2 * HOUR), to: String(NOW), resolution: 'raw' });
    expect(refusal({ cursor: nextCursor(q, 'raw', NOW - HOUR), metrics: 'a' })).toEqual(INVALID_PARAMETER);
  });

  it.each([
    ['not base64url', 'abc!def'],
    ['empty', ''],
    ['base64 of text', Buffer.from('hello').toString('base64url')],
    ['base64 of JSON of the wrong shape', Buffer.from('{"s":1}').toString('base64url')],
    ['base64 of null', Buffer.from('null').toString('base64url')],
    [
      'a forged resolution',
      Buffer.from(JSON.stringify({ s: 's1', f: NOW - HOUR, t: NOW, m: null, q: 'auto', r: '5m', a: NOW - 1 })).toString('base64url'),
    ],
    [
      'a forged metric name',
      Buffer.from(JSON.stringify({ s: 's1', f: NOW - HOUR, t: NOW, m: ['1x'], q: 'raw', r: 'raw', a: NOW - 1 })).toString('base64url'),
    ],
  ])('a garbage cursor (%s) is INVALID_PARAMETER', (_, cursor) => {
    expect(refusal({ cursor })).toEqual(INVALID_PARAMETER);
  });
});

describe('parseReadingsQuery: fuzz', () => {
  const text = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.integer({ min: -1, max: 20_000 }).map(String),
    fc.integer({ min: NOW - 400 * MS_PER_DAY, max: NOW + MS_PER_DAY }).map(String),
    fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    fc.constantFrom('raw', '1m', '1h', 'auto', 'csv', 'json', 'a,b', '', 'temperature'),
    fc.base64String({ maxLength: 40 }),
  );
  const params = fc.record(
    {
      from: text,
      to: text,
      limit: text,
      resolution: text,
      metrics: text,
      cursor: fc.oneof(text, fc.constant(nextCursor(query(), 'raw', NOW - 1))),
      format: text,
      other: text,
    },
    { requiredKeys: [] },
  );

  it('never throws anything but an ApiError of 400, and what it accepts is within bounds', () => {
    fc.assert(
      fc.property(fc.oneof(fc.constant('s1'), fc.string({ maxLength: 70 })), params, fc.option(fc.string()), (sensorId, p, accept) => {
        let q: ReadingsQuery;
        try {
          q = parseReadingsQuery(sensorId, p, accept ?? undefined, NOW);
        } catch (err) {
          expect(err).toBeInstanceOf(ApiError);
          expect((err as ApiError).status).toBe(400);
          expect(['INVALID_RANGE', 'INVALID_PARAMETER']).toContain((err as ApiError).code);
          return;
        }
        expect(q.from).toBeLessThan(q.to);
        expect(q.to - q.from).toBeLessThanOrEqual(366 * MS_PER_DAY);
        expect(Number.isInteger(q.limit) && q.limit >= 1 && q.limit <= 10_000).toBe(true);
        expect(['raw', '1m', '1h', 'auto']).toContain(q.requested);
        expect(q.metrics === null || q.metrics.length <= 32).toBe(true);
      }),
      { numRuns: 10_000 },
    );
  });
});
