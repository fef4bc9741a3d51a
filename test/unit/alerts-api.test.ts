import { describe, expect, it } from 'vitest';
import type { ApiRequest } from '../../lambdas/core/api.js';
import { handleApiRequest } from '../../lambdas/core/api.js';
import { MAX_RULES } from '../../lambdas/core/alerts.js';
import { FakeReadingStore, FakeRollupStore, FakeSensorRegistry } from './fakes.js';
import { FakeRuleStore, FakeStateStore, RecordingFrames, quietLog } from './alert-fakes.js';
import { openApiChecker } from '../support/openapi.js';

const RULE = { name: 'Hot', sensorIds: ['a'], metric: 'temperature', condition: { op: '>', value: 30 } };

function api() {
  const rules = new FakeRuleStore();
  const states = new FakeStateStore();
  const frames = new RecordingFrames();
  let n = 0;
  let changed = 0;
  const deps = {
    readings: new FakeReadingStore(),
    rollups: new FakeRollupStore(),
    sensors: new FakeSensorRegistry(),
    now: () => 1_764_160_000_000,
    alerts: {
      rules,
      states,
      frames,
      rulesChanged: () => void (changed += 1),
      newId: () => `rule-${++n}`,
      now: () => 1_764_160_000_000,
      log: quietLog,
    },
  };
  const call = async (method: string, path: string, body?: unknown, caller?: ApiRequest['caller']) => {
    const res = await handleApiRequest(
      { method, path, query: {}, headers: {}, body: body === undefined ? undefined : JSON.stringify(body), caller },
      deps,
    );
    openApiChecker().check({ method, path, status: res.status, contentType: res.headers['content-type'] ?? null, body: res.body });
    return { status: res.status, body: res.body ? JSON.parse(res.body) : undefined };
  };
  return { call, rules, states, frames, changes: () => changed };
}

const viewer = { mayChange: false, name: 'viewer@local' };
const operator = { mayChange: true, name: 'operator@local' };

describe('alert rules API', () => {
  it('creates, reads, replaces and deletes a rule, telling the rules cache each time', async () => {
    const { call, changes } = api();
    const created = await call('POST', '/alert-rules', RULE, operator);
    expect(created).toEqual({
      status: 201,
      body: { id: 'rule-1', ...RULE, hysteresis: 0, forSeconds: 0, severity: 'warning' },
    });
    expect((await call('GET', '/alert-rules')).body).toEqual({ rules: [created.body] });
    expect((await call('GET', '/alert-rules/rule-1')).body).toEqual(created.body);
    const replaced = await call('PUT', '/alert-rules/rule-1', { ...RULE, severity: 'critical' }, operator);
    expect(replaced).toMatchObject({ status: 200, body: { id: 'rule-1', severity: 'critical' } });
    expect((await call('DELETE', '/alert-rules/rule-1', undefined, operator)).status).toBe(204);
    expect((await call('GET', '/alert-rules/rule-1')).body.error.code).toBe('RULE_NOT_FOUND');
    expect((await call('PUT', '/alert-rules/rule-9', RULE, operator)).body.error.code).toBe('RULE_NOT_FOUND');
    expect((await call('DELETE', '/alert-rules/%E0', undefined, operator)).body.error.code).toBe('RULE_NOT_FOUND');
    // A method the route does not serve is 405 whatever the id, valid or not.
    expect(await call('POST', '/alert-rules/rule-9', RULE, operator)).toMatchObject({
      status: 405,
      body: { error: { code: 'METHOD_NOT_ALLOWED' } },
    });
    expect(await call('PATCH', '/alert-rules/not.an.id', RULE, operator)).toMatchObject({
      status: 405,
      body: { error: { code: 'METHOD_NOT_ALLOWED' } },
    });
    expect(changes()).toBe(3);
  });

  it('lets viewers read but not change (403 FORBIDDEN), and sign-in off lets anyone change', async () => {
    const { call } = api();
    expect((await call('POST', '/alert-rules', RULE, viewer)).body.error.code).toBe('FORBIDDEN');
    expect((await call('POST', '/alert-rules', RULE)).status).toBe(201);
    expect((await call('GET', '/alert-rules', undefined, viewer)).status).toBe(200);
    expect((await call('PUT', '/alert-rules/rule-1', RULE, viewer)).status).toBe(403);
    expect((await call('DELETE', '/alert-rules/rule-1', undefined, viewer)).status).toBe(403);
    expect((await call('POST', '/alerts/x.a.1/ack', undefined, viewer)).status).toBe(403);
    expect((await call('GET', '/alerts', undefined, viewer)).status).toBe(200);
  });

  it('answers 400 INVALID_RULE naming the field, and LIMIT_EXCEEDED past 200 rules', async () => {
    const { call } = api();
    const bad = await call('POST', '/alert-rules', { ...RULE, forSeconds: -1 }, operator);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'INVALID_RULE', message: expect.stringContaining('forSeconds') });
    for (let i = 0; i < MAX_RULES; i++) expect((await call('POST', '/alert-rules', RULE, operator)).status).toBe(201);
    const over = await call('POST', '/alert-rules', RULE, operator);
    expect(over.status).toBe(400);
    expect(over.body.error.code).toBe('LIMIT_EXCEEDED');
  });

  it('acknowledges only a firing alert: 409 NOT_FIRING for a pending one, 404 for an unknown id', async () => {
    const { call, states, frames } = api();
    await call('POST', '/alert-rules', RULE, operator);
    const base = {
      ruleId: 'rule-1',
      sensorId: 'a',
      episode: 5,
      since: 5,
      value: 31,
      lastTs: 5,
      acknowledged: false,
      acknowledgedBy: null,
      version: 1,
    };
    states.states.set('rule-1#a', { ...base, state: 'pending' });
    expect((await call('POST', '/alerts/rule-1.a.5/ack', undefined, operator)).body.error.code).toBe('NOT_FIRING');
    states.states.set('rule-1#a', { ...base, state: 'firing' });
    expect((await call('POST', '/alerts/rule-1.a.4/ack', undefined, operator)).body.error.code).toBe('NOT_FIRING');
    expect((await call('POST', '/alerts/nonsense/ack', undefined, operator)).body.error.code).toBe('ALERT_NOT_FOUND');
    const ack = await call('POST', '/alerts/rule-1.a.5/ack', undefined, operator);
    expect(ack).toMatchObject({
      status: 200,
      body: { id: 'rule-1.a.5', state: 'firing', acknowledged: true, acknowledgedBy: 'operator@local' },
    });
    expect(frames.frames).toEqual([ack.body]);
    expect((await call('GET', '/alerts')).body.alerts).toEqual([ack.body]);
    expect(states.history().map((e) => [e.kind, e.by])).toEqual([['acknowledged', 'operator@local']]);
  });

  it('pages the history newest first with a cursor bound to its range', async () => {
    const { states } = api();
    const ev = (ts: number) => ({
      ts,
      alertId: 'r.a.1',
      ruleId: 'r',
      sensorId: 'a',
      kind: 'fired' as const,
      severity: 'info' as const,
      value: 1,
      by: null,
    });
    await states.addEvents([ev(1000), ev(2000), ev(3000)]);
    const page1 = (await api2(states)({ from: '0', to: '5000', limit: '2' })).body;
    expect(page1.events.map((e: { ts: number }) => e.ts)).toEqual([3000, 2000]);
    const page2 = (await api2(states)({ from: '0', to: '5000', limit: '2', cursor: page1.nextCursor })).body;
    expect(page2).toEqual({ events: [ev(1000)], nextCursor: null });
    const mismatch = await api2(states)({ from: '1', to: '5000', cursor: page1.nextCursor });
    expect(mismatch.body.error.code).toBe('INVALID_PARAMETER');
    expect((await api2(states)({ from: '5000', to: '0' })).body.error.code).toBe('INVALID_RANGE');
  });
});

function api2(states: FakeStateStore) {
  return async (query: Record<string, string>) => {
    const res = await handleApiRequest(
      { method: 'GET', path: '/alerts/history', query, headers: {} },
      {
        readings: new FakeReadingStore(),
        rollups: new FakeRollupStore(),
        sensors: new FakeSensorRegistry(),
        now: () => 10_000,
        alerts: {
          rules: new FakeRuleStore(),
          states,
          frames: new RecordingFrames(),
          rulesChanged: () => undefined,
          newId: () => 'x',
          now: () => 10_000,
          log: quietLog,
        },
      },
    );
    openApiChecker().check({
      method: 'GET',
      path: '/alerts/history',
      status: res.status,
      contentType: res.headers['content-type'] ?? null,
      body: res.body,
    });
    return { status: res.status, body: JSON.parse(res.body) };
  };
}
