import { describe, expect, it } from 'vitest';
import { AlertOverlay } from '../../../frontend/src/alert-chart.js';
import { AlertStore, type AlertEvent, type AlertRule, type AlertView, ruleFromDraft } from '../../../frontend/src/alerts.js';
import type { LiveEvents } from '../../../frontend/src/live.js';

const RULES: AlertRule[] = [
  { id: 'hot', name: 'Hot', sensorIds: ['a'], metric: 'temperature', condition: { op: '>', value: 30 }, severity: 'critical' },
  { id: 'band', name: 'Band', sensorIds: ['*'], metric: 'humidity', condition: { op: 'outside', low: 20, high: 80 }, severity: 'info' },
  { id: 'other', name: 'Other', sensorIds: ['b'], metric: 'temperature', condition: { op: '<', value: 0 }, severity: 'info' },
  { id: 'quiet', name: 'Quiet', sensorIds: ['*'], silentMinutes: 5, severity: 'warning' },
];
const ev = (ts: number, kind: AlertEvent['kind'], alertId = 'hot.a.1', ruleId = 'hot'): AlertEvent => ({
  ts,
  alertId,
  ruleId,
  sensorId: 'a',
  kind,
  severity: 'critical',
  value: 31,
  by: null,
});

describe('alert overlay on the sensor chart', () => {
  it('draws the covering rules\u2019 thresholds and shades fired-to-resolved spans, open ones up to now', () => {
    const o = new AlertOverlay();
    o.set(
      RULES,
      [ev(3000, 'resolved'), ev(1000, 'fired'), ev(2000, 'acknowledged'), ev(5000, 'fired', 'hot.a.5')],
      [{ ruleId: 'hot', since: 5000 }],
      'a',
    );
    expect(o.describe('temperature')).toEqual({
      lines: [30],
      spans: [
        [1000, 3000],
        [5000, null],
      ],
    });
    expect(o.describe('humidity')).toEqual({ lines: [20, 80], spans: [] });
    expect(o.describe('pressure')).toBeUndefined();
  });
});

describe('rule form validation', () => {
  const draft = {
    kind: 'threshold' as const,
    name: 'Hot',
    sensorIds: 'a, b',
    metric: 'temperature',
    op: '>' as const,
    value: '30',
    low: '',
    high: '',
    hysteresis: '0.5',
    forSeconds: '120',
    silentMinutes: '10',
    severity: 'critical' as const,
  };
  it('builds the rule the API takes', () => {
    expect(ruleFromDraft(draft)).toEqual({
      rule: {
        name: 'Hot',
        sensorIds: ['a', 'b'],
        metric: 'temperature',
        condition: { op: '>', value: 30 },
        hysteresis: 0.5,
        forSeconds: 120,
        severity: 'critical',
      },
    });
    expect(ruleFromDraft({ ...draft, kind: 'silence', sensorIds: '*' })).toEqual({
      rule: { name: 'Hot', sensorIds: ['*'], silentMinutes: 10, severity: 'critical' },
    });
  });
  it('names the first bad field', () => {
    expect(ruleFromDraft({ ...draft, name: ' ' })).toMatchObject({ field: 'name' });
    expect(ruleFromDraft({ ...draft, sensorIds: '*, a' })).toMatchObject({ field: 'sensorIds' });
    expect(ruleFromDraft({ ...draft, value: '' })).toMatchObject({ field: 'value' });
    expect(ruleFromDraft({ ...draft, op: 'outside', low: '5', high: '5' })).toMatchObject({ field: 'low' });
    expect(ruleFromDraft({ ...draft, forSeconds: '1.5' })).toMatchObject({ field: 'forSeconds' });
    expect(ruleFromDraft({ ...draft, hysteresis: '-1' })).toMatchObject({ field: 'hysteresis' });
  });
});

describe('alert store', () => {
  it('keeps open alerts from the list and the alert frames: firing added, ok removed, newest first', async () => {
    const listeners = new Map<string, (v: unknown) => void>();
    const live = {
      on: <K extends keyof LiveEvents>(e: K, l: (v: LiveEvents[K]) => void) => (
        listeners.set(String(e), l as (v: unknown) => void), () => undefined
      ),
    };
    const listed: AlertView = {
      id: 'x.a.1',
      ruleId: 'x',
      ruleName: 'X',
      sensorId: 'a',
      metric: 'm',
      severity: 'info',
      state: 'pending',
      since: 1,
      value: 1,
      acknowledged: false,
      acknowledgedBy: null,
    };
    const api = { request: async () => ({ alerts: [listed] }) };
    const store = new AlertStore(api as never, live as never);
    store.start();
    await store.refresh();
    store.stop();
    const frame = { ...listed, id: 'y.a.2', ruleId: 'y', severity: 'critical', state: 'firing', since: 2 };
    listeners.get('alert')!(frame);
    expect(store.alerts().map((a: AlertView) => a.id)).toEqual(['y.a.2', 'x.a.1']);
    expect(store.firingOf('a').map((a: AlertView) => a.id)).toEqual(['y.a.2']);
    listeners.get('alert')!({ ...frame, state: 'ok' });
    expect(store.alerts().map((a: AlertView) => a.id)).toEqual(['x.a.1']);
    listeners.get('alert')!({ nonsense: true });
    expect(store.alerts()).toHaveLength(1);
  });
});
