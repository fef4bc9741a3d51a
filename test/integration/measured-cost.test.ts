/**
 * Cost measured, not assumed: a small fleet runs against the local runtime and the billable units it causes
 * (local/billing.ts) must agree with the cost model's per-reading figures within 10 %.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { COMPARED_UNITS, disagreements, measureFleet } from '../../cost/measure.js';
import { startLocalRuntime } from '../../local/runtime.js';

/**
 * A fleet per case, long enough that a run's first and last partial batches weigh little; reading timestamps
 * start on a minute (cost/measure.ts), so the stream runs fill exactly one minute's packs and buckets.
 */
const CASES = [
  { name: 'direct ingest', ingest: 'direct', sensors: 5, intervalS: 2, dashboards: 2, durationS: 12, readings: 30, alertRule: false },
  { name: 'stream ingest', ingest: 'stream', sensors: 20, intervalS: 1, dashboards: 2, durationS: 60, readings: 1200, alertRule: false },
  {
    name: 'stream ingest, one alert rule on every sensor',
    ingest: 'stream',
    sensors: 20,
    intervalS: 1,
    dashboards: 2,
    durationS: 60,
    readings: 1200,
    alertRule: true,
  },
] as const;

describe.each(CASES)('$name: measured units a reading against the model', ({ name: _, readings, ...fleet }) => {
  it(`${fleet.sensors} sensors every ${fleet.intervalS} s for ${fleet.durationS} s, ${fleet.dashboards} dashboards: every compared unit within 10 %`, async () => {
    const m = await measureFleet(fleet);
    expect(m.readings).toBe(readings);
    // The fleet really ran: it was billed for messages, invocations, writes and frames.
    for (const unit of ['iotMessages', 'lambdaInvocations', 'dynamoWriteUnits', 'dynamoReadUnits', 'wsMessages'] as const) {
      expect(m.measured[unit], unit).toBeGreaterThan(0);
    }
    expect(disagreements(m), JSON.stringify({ measured: m.measured, model: m.model, detail: m.detail.dynamo })).toEqual([]);
    expect(COMPARED_UNITS).toContain('dynamoWriteUnits');
  });
});

it('the comparison fails a unit more than 10 % off, either way', () => {
  const model = {
    iotMessages: 1,
    iotRulesTriggered: 2,
    iotActions: 2,
    kinesisPutUnits: 0,
    lambdaInvocations: 2,
    lambdaGbSeconds: 0.01,
    dynamoWriteUnits: 4,
    dynamoReadUnits: 4,
    wsMessages: 1,
  };
  expect(disagreements({ model, measured: { ...model, dynamoWriteUnits: 4.39 } })).toEqual([]);
  expect(disagreements({ model, measured: { ...model, dynamoWriteUnits: 4.41 } })).toEqual([expect.stringMatching(/^dynamoWriteUnits/)]);
  expect(disagreements({ model, measured: { ...model, wsMessages: 0.85 } })).toEqual([expect.stringMatching(/^wsMessages/)]);
  expect(disagreements({ model, measured: { ...model, kinesisPutUnits: 1 } })).toEqual([expect.stringMatching(/^kinesisPutUnits/)]);
  // GB-seconds are local durations: shown, never compared.
  expect(disagreements({ model, measured: { ...model, lambdaGbSeconds: 5 } })).toEqual([]);
});

it('GET /api/metrics shows the billed units: DynamoDB capacity by table, invocations by function, IoT messages', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'vigia-billing-'));
  const runtime = await startLocalRuntime({ port: 0, mqttPort: 0, mqttsPort: 0, dataDir, ingest: 'direct', log: () => undefined });
  try {
    const client = await mqtt.connectAsync(runtime.urls.mqtt!, { clientId: 'billed-1', reconnectPeriod: 0 });
    await client.publishAsync('sensors/billed-1/telemetry', JSON.stringify({ values: { temperature: 21 } }), { qos: 1 });
    await client.endAsync();
    let text = '';
    const done = (t: string) =>
      /vigia_billed_dynamodb_write_units_total\{table="vigia-readings"\} [1-9]/.test(t) && /function="HistoryWriter"\} 1$/m.test(t);
    for (let i = 0; i < 80 && !done(text); i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      text = await (await fetch(`${runtime.urls.api}/metrics`)).text();
    }
    expect(text).toMatch(/^vigia_billed_iot_messages_total 1$/m);
    expect(text).toMatch(/^vigia_billed_lambda_invocations_total\{function="HistoryWriter"\} 1$/m);
    expect(text).toMatch(/^vigia_billed_dynamodb_write_units_total\{table="vigia-readings"\} [1-9]/m);
    expect(text).toMatch(/^vigia_billed_dynamodb_read_units_total\{table="vigia-rollups"\} [\d.]+$/m);
    expect(text).toMatch(/^# TYPE vigia_billed_websocket_connection_minutes_total counter$/m);
  } finally {
    await runtime.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
