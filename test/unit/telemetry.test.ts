import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MS_PER_DAY } from '../../lambdas/core/model.js';
import type { TelemetryContext, TelemetryResult } from '../../lambdas/core/telemetry.js';
import { REJECTION_CODES, parseTelemetry } from '../../lambdas/core/telemetry.js';

const RECEIVED = 1_764_160_000_000;
const CTX: TelemetryContext = { sensorId: 'greenhouse-1', receivedAt: RECEIVED, rawRetentionDays: 30 };

const bytes = (text: string) => new TextEncoder().encode(text);
const parse = (payload: unknown, ctx: Partial<TelemetryContext> = {}) =>
  parseTelemetry(bytes(typeof payload === 'string' ? payload : JSON.stringify(payload)), { ...CTX, ...ctx });
const codeOf = (result: TelemetryResult) => (result.ok ? 'ok' : result.code);

function accepted(result: TelemetryResult) {
  if (!result.ok) throw new Error(`expected acceptance, got ${result.code}: ${result.message}`);
  return result.readings;
}

const metrics = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`m${i}`, i]));

describe('parseTelemetry: accepted forms', () => {
  it('form 1: one reading with ts, values and units', () => {
    const readings = accepted(
      parse({ ts: RECEIVED - 1000, values: { temperature: 21.4, humidity: 48 }, units: { temperature: '°C', humidity: '%' } }),
    );
    expect(readings).toEqual([
      {
        sensorId: 'greenhouse-1',
        ts: RECEIVED - 1000,
        values: { temperature: 21.4, humidity: 48 },
        units: { temperature: '°C', humidity: '%' },
        receivedAt: RECEIVED,
      },
    ]);
  });

  it('form 1 without ts takes the receive time, and without units has none', () => {
    const [reading] = accepted(parse({ values: { temperature: -3 } }));
    expect(reading.ts).toBe(RECEIVED);
    expect(reading.units).toEqual({});
  });

  it('form 2: a batch, each reading with its own ts, in order', () => {
    const readings = accepted(
      parse([
        { ts: RECEIVED - 3000, values: { t: 1 } },
        { ts: RECEIVED - 2000, values: { t: 2 }, units: { t: 'K' } },
        { ts: RECEIVED - 1000, values: { t: 3 } },
      ]),
    );
    expect(readings.map((r) => [r.ts, r.values.t])).toEqual([
      [RECEIVED - 3000, 1],
      [RECEIVED - 2000, 2],
      [RECEIVED - 1000, 3],
    ]);
    expect(readings[1].units).toEqual({ t: 'K' });
    expect(readings.every((r) => r.receivedAt === RECEIVED && r.sensorId === 'greenhouse-1')).toBe(true);
  });

  it('form 2: a batch of exactly 500 readings is accepted', () => {
    const batch = Array.from({ length: 500 }, (_, i) => ({ ts: RECEIVED - i, values: { t: i } }));
    expect(accepted(parse(batch))).toHaveLength(500);
  });

  it('form 3: flat metrics, ts absent → receive time', () => {
    const [reading] = accepted(parse({ temperature: 21.4, humidity: 48 }));
    expect(reading).toEqual({
      sensorId: 'greenhouse-1',
      ts: RECEIVED,
      values: { temperature: 21.4, humidity: 48 },
      units: {},
      receivedAt: RECEIVED,
    });
  });

  it('form 3: flat metrics with ts and units (neither is a metric)', () => {
    const [reading] = accepted(parse({ ts: RECEIVED - 5, units: { temperature: '°C' }, temperature: 21.4 }));
    expect(reading.ts).toBe(RECEIVED - 5);
    expect(reading.values).toEqual({ temperature: 21.4 });
    expect(reading.units).toEqual({ temperature: '°C' });
  });

  it('keeps units only for metrics present in values, even an invalid unit of an absent metric', () => {
    const [reading] = accepted(parse({ values: { a: 1 }, units: { a: 'C', b: '%', c: 5, d: '' } }));
    expect(reading.units).toEqual({ a: 'C' });
  });

  it('accepts 32 metrics, 64-character metric names, and numbers in every JSON spelling', () => {
    expect(accepted(parse({ values: metrics(32) }))[0].values).toEqual(metrics(32));
    const long = `a${'b'.repeat(63)}`;
    expect(accepted(parse({ values: { [long]: 1 } }))[0].values).toEqual({ [long]: 1 });
    expect(accepted(parse('{"values":{"a":-0.5e2,"b":1E3,"c.d_e-f":0}}'))[0].values).toEqual({ a: -50, b: 1000, 'c.d_e-f': 0 });
  });

  it('accepts a unit of 16 code points even when it is 32 UTF-16 units (emoji)', () => {
    const unit = '😀'.repeat(16);
    expect(unit.length).toBe(32);
    expect(accepted(parse({ values: { mood: 1 }, units: { mood: unit } }))[0].units).toEqual({ mood: unit });
  });

  it('a duplicate ts inside one batch: the first reading wins', () => {
    const readings = accepted(
      parse([
        { ts: RECEIVED - 10, values: { t: 1 } },
        { ts: RECEIVED - 20, values: { t: 2 } },
        { ts: RECEIVED - 10, values: { t: 3 } },
      ]),
    );
    expect(readings.map((r) => [r.ts, r.values.t])).toEqual([
      [RECEIVED - 10, 1],
      [RECEIVED - 20, 2],
    ]);
  });

  it('accepts a payload of exactly 128 KiB', () => {
    const head = '{"t":1}';
    const payload = head + ' '.repeat(128 * 1024 - head.length);
    expect(bytes(payload).byteLength).toBe(128 * 1024);
    expect(codeOf(parse(payload))).toBe('ok');
  });
});

describe('parseTelemetry: INVALID_JSON', () => {
  it.each([
    ['not JSON', 'temperature=21'],
    ['truncated JSON', '{"values":{"a":1}'],
    ['empty payload', ''],
    ['JSON with a trailing comma', '{"a":1,}'],
  ])('%s', (_, text) => {
    expect(codeOf(parse(text))).toBe('INVALID_JSON');
  });

  it.each([
    ['a lone continuation byte', [0x7b, 0x80, 0x7d]],
    ['0xFF', [0xff, 0xfe]],
    ['an encoded surrogate', [0x22, 0xed, 0xa0, 0x80, 0x22]],
    ['an overlong encoding', [0xc0, 0xaf]],
  ])('bytes that are not UTF-8: %s', (_, raw) => {
    expect(codeOf(parseTelemetry(Uint8Array.from(raw), CTX))).toBe('INVALID_JSON');
  });

  it('a valid JSON object behind invalid UTF-8 in a string is still INVALID_JSON', () => {
    const payload = Uint8Array.from([...bytes('{"values":{"a":1},"units":{"a":"'), 0xff, ...bytes('"}}')]);
    expect(codeOf(parseTelemetry(payload, CTX))).toBe('INVALID_JSON');
  });
});

describe('parseTelemetry: INVALID_SHAPE', () => {
  it.each([
    ['a number', '42'],
    ['a string', '"hello"'],
    ['true', 'true'],
    ['null', 'null'],
    ['an empty batch', '[]'],
    ['an unknown key in form 1', { values: { a: 1 }, extra: 1 }],
    ['a metric next to values in form 1', { ts: RECEIVED, values: { a: 1 }, temperature: 2 }],
    ['a batch element without values', [{ ts: RECEIVED, a: 1 }]],
    ['a batch element without ts', [{ ts: RECEIVED, values: { a: 1 } }, { values: { a: 2 } }]],
    ['a batch element that is not an object', [{ ts: RECEIVED, values: { a: 1 } }, 7]],
    ['a nested batch', [[{ ts: RECEIVED, values: { a: 1 } }]]],
    ['empty values', { values: {} }],
    ['a flat object without metrics', {}],
    ['a flat object with only ts and units', { ts: RECEIVED, units: {} }],
    ['values that is an array', { values: [1, 2] }],
    ['values that is a number', { values: 5 }],
    ['values that is null', { values: null }],
    ['values that is a string', { values: 'a' }],
    ['units that is a string', { values: { a: 1 }, units: 'C' }],
    ['units that is an array', { values: { a: 1 }, units: ['C'] }],
    ['units that is null', { values: { a: 1 }, units: null }],
    ['units that is not an object in the flat form', { a: 1, units: 3 }],
    ['a unit that is not a string', { values: { a: 1 }, units: { a: 1 } }],
    ['an empty unit', { values: { a: 1 }, units: { a: '' } }],
    ['a unit of 17 characters', { values: { a: 1 }, units: { a: 'x'.repeat(17) } }],
    ['a unit of 17 code points (emoji)', { values: { a: 1 }, units: { a: '😀'.repeat(17) } }],
  ])('%s', (_, payload) => {
    expect(codeOf(parse(payload))).toBe('INVALID_SHAPE');
  });
});

describe('parseTelemetry: INVALID_VALUE', () => {
  it.each([
    ['a string value', { values: { a: '21.4' } }],
    ['a null value', { values: { a: null } }],
    ['a boolean value', { values: { a: true } }],
    ['an object value', { values: { a: { v: 1 } } }],
    ['an array value', { values: { a: [1] } }],
    ['a string value in the flat form', { a: '1' }],
    ['a name starting with a digit', { values: { '1abc': 1 } }],
    ['a name with a space', { values: { 'a b': 1 } }],
    ['an empty name', { values: { '': 1 } }],
    ['a name of 65 characters', { values: { [`a${'b'.repeat(64)}`]: 1 } }],
    ['the reserved name ts inside values', { values: { ts: 1 } }],
    ['the reserved name units inside values', { values: { units: 1 } }],
    ['the reserved name values inside values', { values: { values: 1 } }],
    ['a bad name in the flat form', { 'temp/c': 1 }],
  ])('%s', (_, payload) => {
    expect(codeOf(parse(payload))).toBe('INVALID_VALUE');
  });

  it.each([
    ['next to a valid metric', '{"temperature":21,"__proto__":5}'],
    ['alone', '{"__proto__":5}'],
    ['holding an object', '{"__proto__":{"a":1}}'],
    ['inside values', '{"values":{"__proto__":1}}'],
  ])('the name __proto__ in the flat form is a bad metric name, not a prototype (%s)', (_, text) => {
    expect(codeOf(parse(text))).toBe('INVALID_VALUE');
  });

  it('a number too large to be finite (1e400)', () => {
    expect(codeOf(parse('{"values":{"a":1e400}}'))).toBe('INVALID_VALUE');
  });
});

describe('parseTelemetry: TOO_MANY_METRICS and TOO_LARGE', () => {
  it('33 metrics in one reading', () => {
    expect(codeOf(parse({ values: metrics(33) }))).toBe('TOO_MANY_METRICS');
    expect(codeOf(parse(metrics(33)))).toBe('TOO_MANY_METRICS');
    expect(
      codeOf(
        parse([
          { ts: RECEIVED, values: metrics(1) },
          { ts: RECEIVED - 1, values: metrics(33) },
        ]),
      ),
    ).toBe('TOO_MANY_METRICS');
  });

  it('a batch of 501 readings', () => {
    const batch = Array.from({ length: 501 }, (_, i) => ({ ts: RECEIVED - i, values: { t: i } }));
    expect(codeOf(parse(batch))).toBe('TOO_LARGE');
  });

  it('a payload over 128 KiB, even when otherwise valid', () => {
    const head = '{"t":1}';
    const payload = head + ' '.repeat(128 * 1024 - head.length + 1);
    expect(codeOf(parse(payload))).toBe('TOO_LARGE');
  });
});

describe('parseTelemetry: TS_OUT_OF_RANGE', () => {
  const retention = 30 * MS_PER_DAY;
  it.each([
    ['a float', RECEIVED - 0.5],
    ['a string', String(RECEIVED)],
    ['null', null],
    ['a boolean', true],
    ['older than the raw retention', RECEIVED - retention - 1],
    ['more than 5 minutes in the future', RECEIVED + 5 * 60_000 + 1],
    ['seconds instead of milliseconds', Math.floor(RECEIVED / 1000)],
  ])('ts %s', (_, ts) => {
    expect(codeOf(parse({ ts, values: { a: 1 } }))).toBe('TS_OUT_OF_RANGE');
    expect(codeOf(parse({ ts, a: 1 }))).toBe('TS_OUT_OF_RANGE');
  });

  it('both window boundaries are inclusive', () => {
    expect(accepted(parse({ ts: RECEIVED - retention, values: { a: 1 } }))[0].ts).toBe(RECEIVED - retention);
    expect(accepted(parse({ ts: RECEIVED + 5 * 60_000, values: { a: 1 } }))[0].ts).toBe(RECEIVED + 5 * 60_000);
  });

  it('the window follows the configured raw retention', () => {
    expect(codeOf(parse({ ts: RECEIVED - 8 * MS_PER_DAY, values: { a: 1 } }, { rawRetentionDays: 7 }))).toBe('TS_OUT_OF_RANGE');
    expect(codeOf(parse({ ts: RECEIVED - 7 * MS_PER_DAY, values: { a: 1 } }, { rawRetentionDays: 7 }))).toBe('ok');
  });

  it('one reading out of range rejects the whole batch', () => {
    const batch = [
      { ts: RECEIVED - 1, values: { a: 1 } },
      { ts: RECEIVED + 3_600_000, values: { a: 2 } },
    ];
    expect(codeOf(parse(batch))).toBe('TS_OUT_OF_RANGE');
  });
});

describe('parseTelemetry: INVALID_SENSOR_ID', () => {
  it.each([
    ['empty', ''],
    ['with a space', 'green house'],
    ['with a slash', 'a/b'],
    ['of 65 characters', 'a'.repeat(65)],
    ['a wildcard', '+'],
  ])('a sensorId %s', (_, sensorId) => {
    expect(codeOf(parse({ values: { a: 1 } }, { sensorId }))).toBe('INVALID_SENSOR_ID');
  });

  it('accepts a sensorId of 64 characters of the allowed alphabet', () => {
    expect(codeOf(parse({ values: { a: 1 } }, { sensorId: `aZ0_-${'x'.repeat(59)}` }))).toBe('ok');
  });
});

describe('parseTelemetry: several broken rules give the first code in table order', () => {
  it.each([
    ['invalid JSON beats a bad sensor id', 'nope', 'bad id', 'INVALID_JSON'],
    ['shape beats value', { values: { a: 'x' }, extra: 1 }, 'ok-id', 'INVALID_SHAPE'],
    ['shape (bad units) beats value', { values: { a: 'x' }, units: 3 }, 'ok-id', 'INVALID_SHAPE'],
    ['value beats too many metrics', { values: { ...metrics(33), m0: 'x' } }, 'ok-id', 'INVALID_VALUE'],
    [
      'too many metrics beats too large',
      [...Array.from({ length: 501 }, (_, i) => ({ ts: RECEIVED - i, values: i === 0 ? metrics(33) : { a: 1 } }))],
      'ok-id',
      'TOO_MANY_METRICS',
    ],
    [
      'too large beats ts',
      Array.from({ length: 501 }, (_, i) => ({ ts: RECEIVED + 3_600_000 + i, values: { a: 1 } })),
      'ok-id',
      'TOO_LARGE',
    ],
    ['ts beats sensor id', { ts: 1.5, values: { a: 1 } }, 'bad id', 'TS_OUT_OF_RANGE'],
    [
      'shape of a later element beats value of an earlier one',
      [{ ts: RECEIVED, values: { a: 'x' } }, { values: { a: 1 } }],
      'ok-id',
      'INVALID_SHAPE',
    ],
    [
      'value of a later element beats ts of an earlier one',
      [
        { ts: 0, values: { a: 1 } },
        { ts: RECEIVED, values: { b: null } },
      ],
      'ok-id',
      'INVALID_VALUE',
    ],
    [
      'a batch of 501 with an element without ts is a shape error',
      [...Array.from({ length: 500 }, (_, i) => ({ ts: RECEIVED - i, values: { a: 1 } })), { values: { a: 1 } }],
      'ok-id',
      'INVALID_SHAPE',
    ],
  ])('%s', (_, payload, sensorId, code) => {
    expect(codeOf(parse(payload, { sensorId }))).toBe(code);
  });

  it('a payload over 128 KiB with 33 metrics is TOO_MANY_METRICS; with a bad sensor id it is TOO_LARGE', () => {
    const tooBig = (body: string) => `${body.slice(0, -1) + ' '.repeat(128 * 1024)}}`;
    expect(codeOf(parse(tooBig(JSON.stringify({ values: metrics(33) }))))).toBe('TOO_MANY_METRICS');
    expect(codeOf(parse(tooBig(JSON.stringify({ values: { a: 1 } })), { sensorId: 'bad id' }))).toBe('TOO_LARGE');
  });
});

describe('parseTelemetry: properties', () => {
  const sensorIds = fc.oneof(fc.constantFrom('s1', 'greenhouse-1'), fc.string({ maxLength: 70 }));
  const nearValid = fc.oneof(
    fc.record(
      {
        ts: fc.oneof(fc.integer({ min: RECEIVED - 40 * MS_PER_DAY, max: RECEIVED + 600_000 }), fc.double(), fc.string()),
        values: fc.dictionary(
          fc.oneof(fc.constantFrom('ts', 'a', 'b.c', 'temperature'), fc.string({ maxLength: 5 })),
          fc.oneof(fc.double(), fc.integer(), fc.jsonValue({ maxDepth: 1 })),
          { maxKeys: 40 },
        ),
        units: fc.oneof(
          fc.dictionary(fc.string({ maxLength: 3 }), fc.oneof(fc.string({ maxLength: 20 }), fc.integer())),
          fc.jsonValue({ maxDepth: 1 }),
        ),
        extra: fc.jsonValue({ maxDepth: 1 }),
      },
      { requiredKeys: [] },
    ),
    fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.double(), fc.jsonValue({ maxDepth: 1 })), { maxKeys: 8 }),
  );
  const payloads = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.jsonValue({ maxDepth: 3 }).map((v) => bytes(JSON.stringify(v) ?? 'null')),
    nearValid.map((v) => bytes(JSON.stringify(v))),
    fc.array(nearValid, { maxLength: 4 }).map((v) => bytes(JSON.stringify(v))),
  );

  it('never throws, and answers either valid readings or a contract reason code', () => {
    fc.assert(
      fc.property(payloads, sensorIds, (payload, sensorId) => {
        const result = parseTelemetry(payload, { ...CTX, sensorId });
        if (!result.ok) {
          expect(REJECTION_CODES).toContain(result.code);
          expect(typeof result.message).toBe('string');
          return;
        }
        expect(result.readings.length).toBeGreaterThan(0);
        expect(new Set(result.readings.map((r) => r.ts)).size).toBe(result.readings.length);
        for (const r of result.readings) {
          expect(r.sensorId).toBe(sensorId);
          expect(Number.isSafeInteger(r.ts)).toBe(true);
          expect(r.ts).toBeGreaterThanOrEqual(RECEIVED - 30 * MS_PER_DAY);
          expect(r.ts).toBeLessThanOrEqual(RECEIVED + 5 * 60_000);
          const names = Object.keys(r.values);
          expect(names.length).toBeGreaterThan(0);
          expect(names.length).toBeLessThanOrEqual(32);
          for (const name of names) {
            expect(name).toMatch(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/);
            expect(Number.isFinite(r.values[name])).toBe(true);
          }
          for (const [name, unit] of Object.entries(r.units)) {
            expect(names).toContain(name);
            expect([...unit].length).toBeGreaterThanOrEqual(1);
            expect([...unit].length).toBeLessThanOrEqual(16);
          }
        }
      }),
      { numRuns: 10_000 },
    );
  });

  it('a well-formed reading of form 1 is accepted as sent', () => {
    const metricName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.-]{0,10}$/).filter((n) => !['ts', 'units', 'values'].includes(n));
    fc.assert(
      fc.property(
        fc.integer({ min: RECEIVED - 30 * MS_PER_DAY, max: RECEIVED + 5 * 60_000 }),
        fc.dictionary(metricName, fc.double({ noNaN: true, noDefaultInfinity: true }), { minKeys: 1, maxKeys: 32 }),
        (ts, values) => {
          const [reading] = accepted(parse({ ts, values }));
          expect(reading.ts).toBe(ts);
          expect(reading.values).toEqual(JSON.parse(JSON.stringify(values)));
        },
      ),
      { numRuns: 1000 },
    );
  });
});
