/**
 * The contract module: free of Node APIs and runtime dependencies (the dashboard imports it), its CSV layout
 * (contract §5), and the frame schema the server's frames must match (contract §6, §8).
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { readingsCsv } from '../../lambdas/shared/contract.js';
import { ServerFrameSchema } from '../../lambdas/shared/contract-schemas.js';

describe('contract module', () => {
  it('imports nothing at run time: types only, so the dashboard and device-sim can take it whole', () => {
    const text = readFileSync(new URL('../../lambdas/shared/contract.ts', import.meta.url), 'utf8');
    const imports = text.match(/^(import|export)\b[^;]*?\bfrom\s+'[^']+';/gms) ?? [];
    expect(imports.length).toBeGreaterThan(0);
    for (const line of imports) expect(line).toMatch(/^(import|export) type /);
    expect(text).not.toMatch(/\b(process|Buffer|require)\b|node:/);
  });

  it('lays raw readings out as ts then one column per metric, empty where a metric is missing', () => {
    const csv = readingsCsv(
      {
        resolution: 'raw',
        points: [
          { ts: 0, values: { t: 1.5 } },
          { ts: 60_000, values: { h: 40, toString: 2 } },
        ],
      },
      ['h', 't', 'toString'],
    );
    expect(csv).toBe('ts,h,t,toString\n1970-01-01T00:00:00.000Z,,1.5,\n1970-01-01T00:01:00.000Z,40,,2\n');
  });

  it('lays roll-ups out as min, max, avg and count per metric', () => {
    const csv = readingsCsv({ resolution: '1m', points: [{ ts: 0, values: { t: { min: 1, max: 3, avg: 2, count: 4 } } }] }, ['t', 'h']);
    expect(csv).toBe('ts,t_min,t_max,t_avg,t_count,h_min,h_max,h_avg,h_count\n1970-01-01T00:00:00.000Z,1,3,2,4,,,,\n');
  });

  it("the frame schema accepts each of the server's frames and refuses one the contract does not name", () => {
    const valid = new Ajv({ strict: false }).compile(ServerFrameSchema);
    const alert = {
      id: 'r1.s-1.5',
      ruleId: 'r1',
      ruleName: 'hot',
      sensorId: 's-1',
      metric: 'temperature',
      severity: 'critical',
      state: 'firing',
      since: 5,
      value: 31,
      acknowledged: false,
      acknowledgedBy: null,
    };
    for (const frame of [
      { type: 'readings', readings: [{ sensorId: 's-1', ts: 1, values: { t: 1 } }] },
      { type: 'status', sensorId: 's-1', online: true, ts: 1 },
      { type: 'subscribed', sensorIds: ['*'] },
      { type: 'commandSent', id: 'c', sensorId: 's-1' },
      { type: 'pong' },
      { type: 'error', code: 'BAD_REQUEST', message: 'no' },
      { type: 'alert', alert },
    ]) {
      expect(valid(frame), JSON.stringify(frame)).toBe(true);
    }
    expect(valid({ type: 'reading', readings: [] })).toBe(false);
    expect(valid({ type: 'error', code: 'TEAPOT', message: 'no' })).toBe(false);
    expect(valid({ type: 'alert', alert: { ...alert, extra: 1 } })).toBe(false);
  });
});
