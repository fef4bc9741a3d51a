import { readFile } from 'node:fs/promises';
import SwaggerParser from '@apidevtools/swagger-parser';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { handleApiRequest } from '../../lambdas/core/api.js';
import type { Reading } from '../../lambdas/core/model.js';
import { refreshRollups } from '../../lambdas/core/rollups.js';
import { OPENAPI_DOCUMENT, openApiJson } from '../../lambdas/shared/openapi.js';
import { type ApiAnswer, OpenApiChecker, apiPathOf } from '../support/openapi.js';
import { FakeRuleStore, FakeStateStore, RecordingFrames, quietLog } from './alert-fakes.js';
import { FakeReadingStore, FakeRollupStore, FakeSensorRegistry } from './fakes.js';

const JSON_TYPE = 'application/json; charset=utf-8';
const answer = (path: string, status: number, body: unknown, extra: Partial<ApiAnswer> = {}): ApiAnswer => ({
  method: 'GET',
  path,
  status,
  contentType: JSON_TYPE,
  body: typeof body === 'string' ? body : JSON.stringify(body),
  ...extra,
});

const sensor = {
  sensorId: 'lab-1',
  online: true,
  lastSeen: 1_764_160_000_500,
  metrics: ['humidity', 'temperature'],
  units: { temperature: '°C' },
  latest: { ts: 1_764_160_000_000, values: { temperature: 21.4, humidity: 48 } },
};
const rule = {
  id: 'r-1',
  name: 'Hot room',
  sensorIds: ['lab-1'],
  metric: 'temperature',
  condition: { op: '>', value: 30 },
  hysteresis: 0.5,
  forSeconds: 120,
  severity: 'critical',
};
const alert = {
  id: 'r-1.lab-1.1764160000000',
  ruleId: 'r-1',
  ruleName: 'Hot room',
  sensorId: 'lab-1',
  metric: 'temperature',
  severity: 'critical',
  state: 'firing',
  since: 1_764_160_000_000,
  value: 31,
  acknowledged: false,
  acknowledgedBy: null,
};

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1 (schema and $refs)', async () => {
    const copy = structuredClone(OPENAPI_DOCUMENT);
    await expect(SwaggerParser.validate(copy as never)).resolves.toMatchObject({ openapi: '3.1.0' });
  });

  it('would be refused by that validation when broken (a response without its required description)', async () => {
    const broken = structuredClone(OPENAPI_DOCUMENT);
    const ok: { description?: string } = broken.paths['/health'].get.responses['200'];
    delete ok.description;
    await expect(SwaggerParser.validate(broken as never)).rejects.toThrow();
  });

  it('is what docs/openapi.json holds (run `npm run openapi` after changing lambdas/shared/openapi.ts)', async () => {
    const file = await readFile(new URL('../../docs/openapi.json', import.meta.url), 'utf8');
    expect(file).toBe(openApiJson());
  });

  it('describes every route of the contract', () => {
    const operations = Object.entries(OPENAPI_DOCUMENT.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((k) => k !== 'parameters')
        .map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(operations).toEqual(
      expect.arrayContaining([
        'GET /health',
        'GET /sensors',
        'GET /sensors/{sensorId}',
        'GET /sensors/{sensorId}/readings',
        'GET /readings',
        'GET /alert-rules',
        'POST /alert-rules',
        'GET /alert-rules/{id}',
        'PUT /alert-rules/{id}',
        'DELETE /alert-rules/{id}',
        'GET /alerts',
        'GET /alerts/history',
        'POST /alerts/{id}/ack',
      ]),
    );
  });
});

describe('checking answers against the document', () => {
  const checker = new OpenApiChecker();

  it('accepts answers shaped as the contract says', () => {
    const accepted: ApiAnswer[] = [
      answer('/health', 200, { status: 'ok' }),
      answer('/sensors', 200, {
        sensors: [sensor, { ...sensor, sensorId: 'new', lastSeen: null, metrics: [], units: {}, latest: null }],
        nextCursor: 'abc',
      }),
      answer('/sensors/lab-1', 200, sensor),
      answer('/sensors/lab-1/readings', 200, {
        sensorId: 'lab-1',
        resolution: 'raw',
        points: [{ ts: 1, values: { temperature: 21.4 } }],
        nextCursor: null,
      }),
      answer('/sensors/lab-1/readings', 200, {
        sensorId: 'lab-1',
        resolution: '1h',
        points: [{ ts: 3_600_000, values: { temperature: { min: 1, max: 2, avg: 1.5, count: 2 } } }],
        nextCursor: null,
      }),
      answer('/sensors/lab-1/readings', 200, 'ts,temperature\n2026-11-26T10:00:00.000Z,21.4\n', { contentType: 'text/csv; charset=utf-8' }),
      answer('/sensors/lab-1/readings', 400, { error: { code: 'INVALID_RANGE', message: 'from is after to' } }),
      answer('/sensors/bad.id/readings', 400, { error: { code: 'INVALID_PARAMETER', message: 'bad sensorId' } }),
      answer('/readings', 200, { series: [], notFound: ['ghost'] }),
      answer('/alert-rules', 201, rule, { method: 'POST' }),
      answer('/alert-rules', 200, {
        rules: [rule, { id: 'r-2', name: 'Quiet', sensorIds: ['*'], silentMinutes: 10, severity: 'warning' }],
      }),
      answer('/alert-rules/r-1', 204, '', { method: 'DELETE', contentType: null }),
      answer('/alerts', 200, { alerts: [alert, { ...alert, metric: null, value: null, state: 'pending' }] }),
      answer('/alerts/history', 200, {
        events: [
          { ts: 1, alertId: alert.id, ruleId: 'r-1', sensorId: 'lab-1', kind: 'acknowledged', severity: 'critical', value: 31, by: 'op@x' },
        ],
        nextCursor: null,
      }),
      answer(`/alerts/${alert.id}/ack`, 409, { error: { code: 'NOT_FIRING', message: 'not firing' } }, { method: 'POST' }),
      answer('/sensors', 401, { message: 'Unauthorized' }),
      answer('/sensors', 401, { error: { code: 'UNAUTHORIZED', message: 'sign in' } }),
      answer('/no/such/route', 404, { error: { code: 'NOT_FOUND', message: 'no route' } }),
      answer('/sensors', 405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'only GET' } }, { method: 'POST' }),
      answer('/sensors/', 200, { sensors: [], nextCursor: null }),
      answer('//sensors//lab-1', 200, sensor),
      answer('/sensors/lab-1', 200, '', { method: 'HEAD' }),
    ];
    for (const a of accepted) expect(checker.problems(a), `${a.method} ${a.path} ${a.status}`).toEqual([]);
  });

  // Negative controls: each answer breaks the document in one way, and the check must say so.
  it.each<[string, ApiAnswer, RegExp]>([
    ['an unlisted status', answer('/health', 201, { status: 'ok' }), /status 201 is not listed/],
    ['a field too many', answer('/sensors/lab-1', 200, { ...sensor, extra: 1 }), /additional properties/],
    ['a field missing', answer('/sensors', 200, { sensors: [sensor] }), /must have required property 'nextCursor'/],
    ['a wrong type', answer('/sensors/lab-1', 200, { ...sensor, lastSeen: '2026-11-26' }), /lastSeen/],
    [
      'an error code the route does not give',
      answer('/sensors/lab-1', 404, { error: { code: 'RULE_NOT_FOUND', message: 'x' } }),
      /allowed values/,
    ],
    [
      'an error without the error shape',
      answer('/sensors/lab-1', 400, { code: 'INVALID_PARAMETER' }),
      /must have required property 'error'/,
    ],
    ['an unlisted content type', answer('/sensors/lab-1', 200, JSON.stringify(sensor), { contentType: 'text/plain' }), /content type/],
    ['a body that is not JSON', answer('/health', 200, 'ok'), /not JSON/],
    ['a body where none is listed', answer('/alert-rules/r-1', 204, 'gone', { method: 'DELETE' }), /lists no body/],
    ['a 200 for an unknown path', answer('/nowhere', 200, { status: 'ok' }), /status 200 is not listed/],
    [
      'aggregated values in a raw page',
      answer('/sensors/lab-1/readings', 200, {
        sensorId: 'lab-1',
        resolution: 'raw',
        points: [{ ts: 1, values: { t: { min: 1, max: 1, avg: 1, count: 1 } } }],
        nextCursor: null,
      }),
      /points/,
    ],
    ['an alert state the list never shows', answer('/alerts', 200, { alerts: [{ ...alert, state: 'ok' }] }), /state/],
  ])('refuses %s', (_what, bad, message) => {
    const found = checker.problems(bad);
    expect(found.join('\n')).toMatch(message);
    expect(() => checker.check(bad)).toThrow(/breaks docs\/openapi.json/);
  });

  it('checks only addresses under /api', () => {
    expect(apiPathOf('http://127.0.0.1:3000/api/sensors?limit=1')).toBe('/sensors');
    expect(apiPathOf('http://127.0.0.1:3000/api')).toBe('/');
    expect(apiPathOf('http://127.0.0.1:3000/config.json')).toBeNull();
    expect(apiPathOf('http://127.0.0.1:3000/apiary')).toBeNull();
  });
});

describe('the core API against the document, for any request', () => {
  const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);

  async function seededDeps() {
    const deps = {
      readings: new FakeReadingStore(),
      rollups: new FakeRollupStore(),
      sensors: new FakeSensorRegistry(),
      now: () => NOW,
      alerts: {
        rules: new FakeRuleStore(),
        states: new FakeStateStore(),
        frames: new RecordingFrames(),
        rulesChanged: () => undefined,
        newId: () => `rule-${Math.random().toString(36).slice(2, 10)}`,
        now: () => NOW,
        log: quietLog,
      },
    };
    const readings: Reading[] = Array.from({ length: 30 }, (_, i) => ({
      sensorId: 'lab-1',
      ts: NOW - 40 * 60_000 + i * 61_000,
      values: i % 3 === 0 ? { temperature: 20 + i } : ({ temperature: 20 + i, humidity: 40 } as Record<string, number>),
      units: { temperature: '°C' },
      receivedAt: NOW - 40 * 60_000 + i * 61_000,
    }));
    const stored = await deps.readings.insertNew(readings);
    await refreshRollups('lab-1', stored, deps);
    await deps.sensors.recordReadings('lab-1', stored);
    await deps.sensors.applyPresence('quiet', { online: false, ts: NOW - 5000, versionNumber: 1 });
    await deps.alerts.rules.create({ ...rule, id: 'r-1', sensorIds: ['*'] } as never, 200);
    return deps;
  }

  const segment = fc.constantFrom(
    'sensors',
    'lab-1',
    'quiet',
    'nobody',
    'readings',
    'alert-rules',
    'alerts',
    'history',
    'ack',
    'r-1',
    'health',
    'bad.id',
    '%ZZ',
    'r-1.lab-1.1',
    '',
  );
  const value = fc.constantFrom(
    '',
    '0',
    '1',
    '2',
    '1000',
    '10001',
    '-1',
    '1e3',
    'raw',
    '1m',
    '1h',
    'auto',
    '5m',
    'csv',
    'xml',
    'temperature',
    'humidity,temperature',
    '1bad',
    String(NOW - 3_600_000),
    String(NOW),
    '2026-01-15',
    '2026-02-30',
    'garbage',
    'lab-1,nobody,lab-1',
    'bad.id',
  );
  const request = fc.record({
    method: fc.constantFrom('GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
    segments: fc.array(segment, { minLength: 0, maxLength: 4 }),
    query: fc.dictionary(fc.constantFrom('from', 'to', 'limit', 'cursor', 'metrics', 'resolution', 'format', 'sensorIds', 'other'), value),
    accept: fc.constantFrom(undefined, 'text/csv', 'application/json'),
    body: fc.constantFrom(
      undefined,
      'not json',
      JSON.stringify(rule),
      JSON.stringify({ name: 'Quiet', sensorIds: ['*'], silentMinutes: 10 }),
      JSON.stringify({ ...rule, condition: { op: 'outside', low: 1, high: 0 } }),
    ),
  });

  it('answers only what the document lists (fast-check, 2,000 requests)', async () => {
    const checker = new OpenApiChecker();
    const deps = await seededDeps();
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const path = `/${r.segments.join('/')}`;
        const headers: Record<string, string> = r.accept ? { accept: r.accept } : {};
        const res = await handleApiRequest(
          { method: r.method, path, query: r.query, headers, body: r.method === 'GET' ? undefined : r.body },
          deps,
        );
        expect(
          checker.problems({
            method: r.method,
            path,
            status: res.status,
            contentType: res.headers['content-type'] ?? null,
            body: res.body,
          }),
        ).toEqual([]);
      }),
      { numRuns: 2000 },
    );
  });
});
