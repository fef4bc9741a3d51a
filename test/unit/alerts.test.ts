import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AlertRule, Condition, ThresholdRule } from '../../lambdas/core/alerts.js';
import { InvalidRule, OK_STATE, notificationSubject, parseRuleSpec, stepThreshold } from '../../lambdas/core/alerts.js';
import { evaluateAlerts } from '../../lambdas/core/evaluate-alerts.js';
import type { Reading } from '../../lambdas/core/model.js';
import { alertFakes } from './alert-fakes.js';

const HOT: ThresholdRule = {
  id: 'rule-1',
  name: 'Hot room',
  sensorIds: ['lab-1'],
  metric: 'temperature',
  condition: { op: '>', value: 30 },
  hysteresis: 0.5,
  forSeconds: 120,
  severity: 'critical',
};

function invalidField(body: unknown): string {
  try {
    parseRuleSpec(body);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRule);
    return (err as Error).message.split(':')[0];
  }
  throw new Error('the rule was accepted');
}

describe('alert rule validation', () => {
  it('accepts the contract example threshold rule and fills defaults', () => {
    const { id: _id, ...spec } = HOT;
    expect(parseRuleSpec(spec)).toEqual(spec);
    expect(parseRuleSpec({ name: 'x', sensorIds: ['*'], metric: 'rh', condition: { op: '<=', value: 2 } })).toEqual({
      name: 'x',
      sensorIds: ['*'],
      metric: 'rh',
      condition: { op: '<=', value: 2 },
      hysteresis: 0,
      forSeconds: 0,
      severity: 'warning',
    });
  });

  it('accepts a silence rule and an outside band', () => {
    expect(parseRuleSpec({ name: 'Quiet', sensorIds: ['*'], silentMinutes: 10, severity: 'warning' })).toEqual({
      name: 'Quiet',
      sensorIds: ['*'],
      silentMinutes: 10,
      severity: 'warning',
    });
    expect(parseRuleSpec({ name: 'b', sensorIds: ['a'], metric: 'm', condition: { op: 'outside', low: 1, high: 5 } })).toMatchObject({
      condition: { op: 'outside', low: 1, high: 5 },
    });
  });

  it('names the bad field of a bad rule', () => {
    const base = { name: 'n', sensorIds: ['a'], metric: 'm', condition: { op: '>', value: 1 } };
    expect(invalidField('[]')).toBe('rule');
    expect(invalidField([base])).toBe('rule');
    expect(invalidField({ ...base, name: '' })).toBe('name');
    expect(invalidField({ ...base, name: 'x'.repeat(101) })).toBe('name');
    expect(invalidField({ ...base, sensorIds: [] })).toBe('sensorIds');
    expect(invalidField({ ...base, sensorIds: ['*', 'a'] })).toBe('sensorIds');
    expect(invalidField({ ...base, sensorIds: ['bad id'] })).toBe('sensorIds');
    expect(invalidField({ ...base, sensorIds: Array.from({ length: 101 }, (_, i) => `s${i}`) })).toBe('sensorIds');
    expect(invalidField({ ...base, metric: 'ts' })).toBe('metric');
    expect(invalidField({ ...base, metric: '<b>' })).toBe('metric');
    expect(invalidField({ ...base, condition: { op: '!=', value: 1 } })).toBe('condition.op');
    expect(invalidField({ ...base, condition: { op: '>', value: '1' } })).toBe('condition.value');
    expect(invalidField({ ...base, condition: { op: 'outside', low: 5, high: 5 } })).toBe('condition.low');
    expect(invalidField({ ...base, hysteresis: -1 })).toBe('hysteresis');
    expect(invalidField({ ...base, forSeconds: 86_401 })).toBe('forSeconds');
    expect(invalidField({ ...base, forSeconds: 1.5 })).toBe('forSeconds');
    expect(invalidField({ ...base, severity: 'fatal' })).toBe('severity');
    expect(invalidField({ ...base, constructor: 1 })).toBe('constructor');
    expect(invalidField(JSON.parse('{"__proto__":{"x":1},"name":"n"}'))).toBe('__proto__');
    expect(invalidField({ name: 'q', sensorIds: ['*'], silentMinutes: 0 })).toBe('silentMinutes');
    expect(invalidField({ name: 'q', sensorIds: ['*'], silentMinutes: 1441 })).toBe('silentMinutes');
    expect(invalidField({ name: 'q', sensorIds: ['*'], silentMinutes: 5, metric: 'm' })).toBe('metric');
  });
});

describe('alert state machine', () => {
  it('waits forSeconds in pending before firing, and a reading below the line cancels the pending', () => {
    const p = stepThreshold(HOT, OK_STATE, 0, 31);
    expect(p?.kind).toBe('pending');
    expect(stepThreshold(HOT, p!.to, 119_999, 31)).toBeUndefined();
    expect(stepThreshold(HOT, p!.to, 60_000, 29)?.kind).toBe('cancelled');
    const f = stepThreshold(HOT, p!.to, 120_000, 32);
    expect(f).toMatchObject({ kind: 'fired', to: { state: 'firing', since: 120_000, episode: 0, value: 32 } });
  });

  it('resolves only past the clear line: a value hovering at the threshold does not flap', () => {
    const firing = stepThreshold({ ...HOT, forSeconds: 0 }, OK_STATE, 0, 31)!.to;
    expect(firing.state).toBe('firing');
    expect(stepThreshold(HOT, firing, 1000, 29.8)).toBeUndefined();
    expect(stepThreshold(HOT, firing, 2000, 29.5)).toBeUndefined();
    expect(stepThreshold(HOT, firing, 3000, 29.4)?.kind).toBe('resolved');
  });

  it('fires an outside band on either side and clears inside the narrowed band', () => {
    const band: ThresholdRule = { ...HOT, condition: { op: 'outside', low: 10, high: 20 }, hysteresis: 1, forSeconds: 0 };
    const low = stepThreshold(band, OK_STATE, 0, 9)!.to;
    expect(low.state).toBe('firing');
    expect(stepThreshold(band, OK_STATE, 0, 21)?.kind).toBe('fired');
    expect(stepThreshold(band, low, 1, 10.5)).toBeUndefined();
    expect(stepThreshold(band, low, 2, 11)?.kind).toBe('resolved');
  });

  it('writes the subject the issue asks for, under 100 characters', () => {
    expect(notificationSubject('fired', HOT, 'sensor-7', '°C')).toBe('[critical] sensor-7 temperature > 30 °C for 2 min');
    expect(notificationSubject('resolved', HOT, 'sensor-7', '°C')).toBe('[critical] resolved: sensor-7 temperature > 30 °C for 2 min');
    const long = notificationSubject('fired', { ...HOT, metric: 'm'.repeat(64) }, 's'.repeat(64), 'x\ny'.repeat(5));
    expect([...long].length).toBeLessThan(100);
    expect(long).not.toMatch(/\n/);
  });
});

// --- Property: batch evaluation equals a reference evaluation of the sorted, de-duplicated readings ---

const SENSORS = ['s1', 's2'];
type Expected = { events: Array<{ kind: string; ts: number; value: number }>; state: string; since: number | null };

/** Contract §8 read literally, one reading at a time: an independent model of the state machine. */
function reference(rule: ThresholdRule, readings: Array<{ ts: number; value: number }>): Expected {
  const c = rule.condition;
  const meets = (v: number) =>
    c.op === 'outside'
      ? v < c.low || v > c.high
      : c.op === '>'
        ? v > c.value
        : c.op === '>='
          ? v >= c.value
          : c.op === '<'
            ? v < c.value
            : v <= c.value;
  const clears = (v: number) =>
    c.op === 'outside'
      ? v >= c.low + rule.hysteresis && v <= c.high - rule.hysteresis
      : c.op === '>' || c.op === '>='
        ? v < c.value - rule.hysteresis
        : v > c.value + rule.hysteresis;
  let state = 'ok';
  let since: number | null = null;
  const events: Expected['events'] = [];
  for (const r of readings) {
    if (state === 'ok' && meets(r.value)) {
      state = rule.forSeconds === 0 ? 'firing' : 'pending';
      since = r.ts;
      if (state === 'firing') events.push({ kind: 'fired', ts: r.ts, value: r.value });
    } else if (state === 'pending') {
      if (!meets(r.value)) {
        state = 'ok';
        since = null;
      } else if (r.ts - since! >= rule.forSeconds * 1000) {
        state = 'firing';
        since = r.ts;
        events.push({ kind: 'fired', ts: r.ts, value: r.value });
      }
    } else if (state === 'firing' && clears(r.value)) {
      state = 'ok';
      since = null;
      events.push({ kind: 'resolved', ts: r.ts, value: r.value });
    }
  }
  return { events, state, since };
}

const conditionArb: fc.Arbitrary<Condition> = fc.oneof(
  fc.record({ op: fc.constantFrom('>' as const, '>=' as const, '<' as const, '<=' as const), value: fc.integer({ min: 2, max: 8 }) }),
  fc.record({ op: fc.constant('outside' as const), low: fc.integer({ min: 1, max: 4 }), high: fc.integer({ min: 6, max: 9 }) }),
);
const ruleArb: fc.Arbitrary<ThresholdRule> = fc.record({
  id: fc.constant('r1'),
  name: fc.constant('rule'),
  sensorIds: fc.constant(['*']),
  metric: fc.constant('t'),
  condition: conditionArb,
  hysteresis: fc.constantFrom(0, 0.5, 1),
  forSeconds: fc.constantFrom(0, 1, 3),
  severity: fc.constant('warning' as const),
});
/** Per sensor: distinct timestamps (whole seconds) and a value each; a key's value never changes (redeliveries are copies). */
const seriesArb = fc
  .uniqueArray(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 30 })
  .chain((secs) =>
    fc.tuple(
      fc.constant(secs.map((s) => s * 1000)),
      fc.array(fc.integer({ min: 0, max: 10 }), { minLength: secs.length, maxLength: secs.length }),
    ),
  );

const readingOf = (sensorId: string, ts: number, value: number): Reading => ({
  sensorId,
  ts,
  values: { t: value, other: 1 },
  units: { t: '°C' },
  receivedAt: 1_000_000 + ts,
});

/** What the history writer does around the hook: de-duplicate the batch, evaluate, then move the registry. */
async function deliver(fakes: ReturnType<typeof alertFakes>, batch: Reading[]) {
  const seen = new Set<string>();
  const unique = batch.filter((r) => {
    const k = `${r.sensorId}#${r.ts}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  await evaluateAlerts(unique, fakes.deps);
  for (const r of unique) fakes.newest.record(r.sensorId, r.ts, r.receivedAt);
}

function observed(fakes: ReturnType<typeof alertFakes>, rule: AlertRule, sensorId: string) {
  const events = fakes.states
    .history()
    .filter((e) => e.sensorId === sensorId)
    .map((e) => ({ kind: e.kind, ts: e.ts, value: e.value }));
  const notices = fakes.notifier.notices
    .filter((n) => n.alert.sensorId === sensorId)
    .map((n) => ({ kind: n.kind, ts: n.alert.since, value: n.alert.value }));
  const s = fakes.states.states.get(`${rule.id}#${sensorId}`);
  return { events, notices, state: s?.state ?? 'ok', since: s?.state === 'ok' ? null : (s?.since ?? null) };
}

/**
 * A delivery plan: every reading once in ts order, some redelivered later (QoS 1), cut into batches at
 * arbitrary points, each batch shuffled.
 */
const planArb = fc
  .tuple(ruleArb, seriesArb, seriesArb)
  .chain(([rule, a, b]) => {
    const all = [...a[0].map((ts, i) => readingOf('s1', ts, a[1][i])), ...b[0].map((ts, i) => readingOf('s2', ts, b[1][i]))].sort(
      (x, y) => x.ts - y.ts || (x.sensorId < y.sensorId ? -1 : 1),
    );
    return fc.tuple(
      fc.constant(rule),
      fc.constant(all),
      fc.array(fc.nat(), { minLength: all.length, maxLength: all.length }),
      fc.array(fc.boolean(), { minLength: all.length, maxLength: all.length }),
      fc.array(fc.nat(), { minLength: all.length * 2, maxLength: all.length * 2 }),
    );
  })
  .map(([rule, all, redeliverFrom, cuts, shuffle]) => {
    const stream: Reading[] = [];
    all.forEach((r, i) => {
      stream.push(r);
      if (redeliverFrom[i] % 3 === 0) stream.push({ ...all[redeliverFrom[i] % (i + 1)] });
    });
    const batches: Reading[][] = [[]];
    stream.forEach((r, i) => {
      batches[batches.length - 1].push(r);
      if (cuts[i % cuts.length]) batches.push([]);
    });
    const shuffled = batches
      .filter((batch) => batch.length > 0)
      .map((batch) =>
        batch
          .map((r, i) => ({ r, k: shuffle[i % shuffle.length] }))
          .sort((x, y) => x.k - y.k)
          .map((x) => x.r),
      );
    return { rule, all, batches: shuffled };
  });

function expectedFor(rule: ThresholdRule, readings: Reading[], sensorId: string): Expected {
  return reference(
    rule,
    readings.filter((r) => r.sensorId === sensorId).map((r) => ({ ts: r.ts, value: r.values.t })),
  );
}

describe('alert evaluation over batches (property)', () => {
  it('equals the reference evaluation of the sorted, de-duplicated readings, however they are batched and redelivered', async () => {
    await fc.assert(
      fc.asyncProperty(planArb, async ({ rule, all, batches }) => {
        const fakes = alertFakes([rule]);
        for (const batch of batches) await deliver(fakes, batch);
        for (const sensorId of SENSORS) {
          const want = expectedFor(rule, all, sensorId);
          const got = observed(fakes, rule, sensorId);
          expect(got.events).toEqual(want.events);
          expect(got.notices).toEqual(want.events);
          expect({ state: got.state, since: got.since }).toEqual({ state: want.state, since: want.since });
        }
      }),
      { numRuns: 300 },
    );
  });

  it('ignores readings older than the newest evaluated when batches arrive out of order', async () => {
    await fc.assert(
      fc.asyncProperty(planArb, fc.array(fc.nat(), { minLength: 1, maxLength: 100 }), async ({ rule, batches }, order) => {
        const shuffled = batches
          .map((b, i) => ({ b, k: order[i % order.length] }))
          .sort((x, y) => x.k - y.k)
          .map((x) => x.b);
        // The reference's input: per batch sorted and de-duplicated, only what is newer than every earlier batch.
        const evaluable: Reading[] = [];
        const newest = new Map<string, number>();
        for (const batch of shuffled) {
          const max = new Map<string, number>();
          const keys = new Set<string>();
          for (const r of [...batch].sort((x, y) => x.ts - y.ts)) {
            const k = `${r.sensorId}#${r.ts}`;
            if (!keys.has(k) && r.ts > (newest.get(r.sensorId) ?? -Infinity)) evaluable.push(r);
            keys.add(k);
            max.set(r.sensorId, Math.max(max.get(r.sensorId) ?? -Infinity, r.ts));
          }
          for (const [s, ts] of max) newest.set(s, Math.max(newest.get(s) ?? -Infinity, ts));
        }
        const fakes = alertFakes([rule]);
        for (const batch of shuffled) await deliver(fakes, batch);
        for (const sensorId of SENSORS) {
          const want = expectedFor(rule, evaluable, sensorId);
          const got = observed(fakes, rule, sensorId);
          expect(got.events).toEqual(want.events);
          expect(got.notices).toEqual(want.events);
          expect({ state: got.state, since: got.since }).toEqual({ state: want.state, since: want.since });
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never fires twice when a batch fails part-way and is retried', async () => {
    await fc.assert(
      fc.asyncProperty(planArb, fc.nat(), fc.integer({ min: 1, max: 6 }), async ({ rule, all, batches }, which, nth) => {
        const fakes = alertFakes([rule]);
        const failing = which % batches.length;
        for (const [i, batch] of batches.entries()) {
          if (i === failing) {
            fakes.states.failOnWrite = nth;
            // The writer's hook throws, the registry is not moved, the whole batch comes again.
            await deliver(fakes, batch).catch(() => undefined);
            fakes.states.failOnWrite = undefined;
          }
          await deliver(fakes, batch);
        }
        for (const sensorId of SENSORS) {
          const want = expectedFor(rule, all, sensorId);
          const got = observed(fakes, rule, sensorId);
          expect(got.events).toEqual(want.events);
          expect(got.notices).toEqual(want.events);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('drops the states of deleted rules with the next write on that sensor, so its states stay bounded', async () => {
    const rule: ThresholdRule = { ...HOT, sensorIds: ['*'], forSeconds: 0, hysteresis: 0 };
    const gone: ThresholdRule = { ...rule, id: 'gone' };
    const fakes = alertFakes([rule, gone]);
    await deliver(fakes, [{ ...readingOf('s1', 1000, 0), values: { temperature: 40 } }]);
    expect([...fakes.states.states.keys()].sort()).toEqual(['gone#s1', 'rule-1#s1']);
    fakes.ruleStore.byId.delete('gone');
    await deliver(fakes, [{ ...readingOf('s1', 2000, 0), values: { temperature: 10 } }]);
    expect([...fakes.states.states.keys()]).toEqual(['rule-1#s1']);
  });

  it('announces a batch’s alerts together: one frames call and one notify call, whatever fired on how many sensors', async () => {
    const rule: ThresholdRule = { ...HOT, sensorIds: ['*'], forSeconds: 0, hysteresis: 0 };
    const fakes = alertFakes([rule]);
    // Each of 12 sensors fires and resolves in one batch: 24 alerts.
    const batch = Array.from({ length: 12 }, (_, s) => [
      { ...readingOf(`s${s}`, 1000, 0), values: { temperature: 40 } },
      { ...readingOf(`s${s}`, 2000, 0), values: { temperature: 10 } },
    ]).flat();
    await deliver(fakes, batch);
    expect(fakes.frames.calls).toBe(1);
    expect(fakes.notifier.calls).toBe(1);
    expect(fakes.frames.frames).toHaveLength(24);
    // Each sensor's alerts in the order they happened.
    for (let s = 0; s < 12; s++) {
      expect(fakes.notifier.notices.filter((n) => n.alert.sensorId === `s${s}`).map((n) => n.kind)).toEqual(['fired', 'resolved']);
    }
    // A quiet batch announces nothing.
    await deliver(fakes, [{ ...readingOf('s0', 3000, 0), values: { temperature: 10 } }]);
    expect(fakes.frames.calls).toBe(1);
  });

  it('a batch whose evaluation fails on one sensor still announces what the others wrote, once all have settled', async () => {
    const rule: ThresholdRule = { ...HOT, sensorIds: ['*'], forSeconds: 0, hysteresis: 0 };
    const fakes = alertFakes([rule]);
    // Three sensors fire; the first write of the batch (s0's) fails while the others' saves are still on their way.
    fakes.states.failOnWrite = 1;
    const save = fakes.states.save.bind(fakes.states);
    fakes.states.save = async (alert, forget) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return save(alert, forget);
    };
    const batch = ['s0', 's1', 's2'].map((id) => ({ ...readingOf(id, 1000, 0), values: { temperature: 40 } }));
    await expect(deliver(fakes, batch)).rejects.toThrow('injected DynamoDB failure');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const written = [...fakes.states.states.values()].filter((s) => s.state === 'firing').map((s) => s.sensorId);
    expect(written.length).toBeGreaterThan(0);
    expect(fakes.notifier.notices.map((n) => n.alert.sensorId).sort()).toEqual(written.sort());
    // The retry announces only what had not been written.
    fakes.states.failOnWrite = undefined;
    await deliver(fakes, batch);
    expect(fakes.notifier.notices.map((n) => n.alert.sensorId).sort()).toEqual(['s0', 's1', 's2']);
  });

  it('writes state once per batch that moves it, never per reading', async () => {
    const rule: ThresholdRule = { ...HOT, sensorIds: ['*'], forSeconds: 0, hysteresis: 0 };
    const fakes = alertFakes([rule]);
    const cool = Array.from({ length: 50 }, (_, i) => readingOf('s1', (i + 1) * 1000, 20));
    await deliver(
      fakes,
      cool.map((r) => ({ ...r, values: { temperature: 20 } })),
    );
    expect(fakes.states.saves).toBe(0);
    const hot = Array.from({ length: 50 }, (_, i) => ({ ...readingOf('s1', (i + 100) * 1000, 0), values: { temperature: 40 } }));
    await deliver(fakes, hot);
    expect(fakes.states.saves).toBe(1);
    expect(fakes.frames.frames.map((f) => f.state)).toEqual(['firing']);
  });
});
