/**
 * Cost measured, not assumed: runs a fleet against the local runtime (the same handlers Lambda runs), reads
 * the billable units it caused (local/billing.ts) and sets them per reading beside the model's figures for the
 * same fleet. `npm run cost -- --measure [--sensors 20 --interval 1s --dashboards 2 --duration 10s
 * --ingest stream|direct]`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import type { BillingSnapshot } from '../local/billing.js';
import { startLocalRuntime } from '../local/runtime.js';
import { type Ingest, monthlyCost, type TelemetryUnits } from './model.js';

export interface MeasureOptions {
  sensors: number;
  intervalS: number;
  dashboards: number;
  /** How long the fleet publishes. */
  durationS: number;
  ingest: Ingest;
  /** Sensors each dashboard subscribes to. @default 30 (the fleet view's cards on screen) */
  cardsOnScreen?: number;
  /**
   * Stream ingest: the local engine's batching windows, given to it and to the model. @default 1 live (the
   * cloud's), 5 history: long enough that the handlers' local run time does not set the batch size.
   */
  liveWindowS?: number;
  historyWindowS?: number;
  /**
   * One alert rule on every sensor (`*`) that never fires, so the history writer evaluates alerts on each
   * batch, and the model prices that. @default false
   */
  alertRule?: boolean;
}

/** The units compared with the model; GB-seconds are shown only (local durations are not Lambda's). */
export const COMPARED_UNITS = [
  'iotMessages',
  'iotRulesTriggered',
  'iotActions',
  'kinesisPutUnits',
  'lambdaInvocations',
  'dynamoWriteUnits',
  'dynamoReadUnits',
  'wsMessages',
] as const satisfies ReadonlyArray<keyof TelemetryUnits>;

export interface Measurement {
  options: Required<MeasureOptions>;
  readings: number;
  measured: TelemetryUnits;
  model: TelemetryUnits;
  /** By function and table, per reading, for the curious. */
  detail: { lambda: BillingSnapshot['lambda']; dynamo: BillingSnapshot['dynamo'] };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function difference(after: BillingSnapshot, before: BillingSnapshot): TelemetryUnits {
  return {
    iotMessages: after.iotMessages - before.iotMessages,
    iotRulesTriggered: after.iotRulesTriggered - before.iotRulesTriggered,
    iotActions: after.iotActions - before.iotActions,
    kinesisPutUnits: after.kinesisPutUnits - before.kinesisPutUnits,
    lambdaInvocations: after.lambdaInvocations - before.lambdaInvocations,
    lambdaGbSeconds: after.lambdaGbSeconds - before.lambdaGbSeconds,
    dynamoWriteUnits: after.dynamoWriteUnits - before.dynamoWriteUnits,
    dynamoReadUnits: after.dynamoReadUnits - before.dynamoReadUnits,
    wsMessages: after.wsMessages - before.wsMessages,
  };
}

/** Waits until the billed units stop moving (every invocation done, every frame sent). */
async function settled(billed: () => Promise<BillingSnapshot>, quietMs = 1_500, timeoutMs = 60_000): Promise<BillingSnapshot> {
  const deadline = Date.now() + timeoutMs;
  let last = JSON.stringify(await billed());
  let quietSince = Date.now();
  for (;;) {
    await sleep(250);
    const now = await billed();
    const text = JSON.stringify({ ...now, wsConnectionMinutes: 0 });
    if (text !== last) {
      last = text;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= quietMs) {
      return now;
    }
    if (Date.now() > deadline) throw new Error('the local runtime did not settle within 60 s');
  }
}

export async function measureFleet(input: MeasureOptions): Promise<Measurement> {
  const options: Required<MeasureOptions> = { cardsOnScreen: 30, liveWindowS: 1, historyWindowS: 5, alertRule: false, ...input };
  const { sensors, dashboards, ingest } = options;
  const dataDir = await mkdtemp(path.join(tmpdir(), 'vigia-measure-'));
  const runtime = await startLocalRuntime({
    port: 0,
    mqttPort: 0,
    mqttsPort: 0,
    dataDir,
    ingest: ingest as never,
    log: () => undefined,
    // The local stream engine's windows (RuntimeOptions of local/runtime.ts in stream mode).
    ...({ liveWindowMs: options.liveWindowS * 1000, historyWindowMs: options.historyWindowS * 1000 } as object),
  });
  const devices: mqtt.MqttClient[] = [];
  const sockets: WebSocket[] = [];
  try {
    const ids = Array.from({ length: sensors }, (_, i) => `measure-${String(i).padStart(5, '0')}`);
    // Dashboards on pages of their own where the fleet allows, as the model assumes.
    const cards = Math.min(sensors, options.cardsOnScreen);
    for (let d = 0; d < dashboards; d++) {
      const socket = new WebSocket(runtime.urls.ws);
      sockets.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
      const mine = Array.from({ length: cards }, (_, k) => ids[(d * cards + k) % sensors]);
      const subscribed = new Promise<void>((resolve) => {
        socket.on('message', (data) => {
          if (String(data).includes('"subscribed"')) resolve();
        });
      });
      for (let i = 0; i < mine.length; i += 100) socket.send(JSON.stringify({ action: 'subscribe', sensorIds: mine.slice(i, i + 100) }));
      await subscribed;
    }
    for (const id of ids) {
      const client = await mqtt.connectAsync(runtime.urls.mqtt!, { clientId: id, reconnectPeriod: 0 });
      devices.push(client);
    }
    if (options.alertRule) {
      const res = await fetch(`${runtime.urls.api}/alert-rules`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          name: 'Never',
          sensorIds: ['*'],
          metric: 'temperature',
          condition: { op: '>', value: 1_000_000 },
          hysteresis: 0,
          forSeconds: 0,
          severity: 'info',
        }),
      });
      if (res.status !== 201) throw new Error(`creating the alert rule answered ${res.status}: ${await res.text()}`);
    }
    // Reading timestamps start at a minute's start, so a run of whole minutes fills whole packs and buckets
    // (a run across a minute boundary would write one more pack and bucket per sensor: less deterministic).
    const tsStart = Math.floor(Date.now() / 60_000) * 60_000;
    // A first reading per sensor creates its registry entry and buckets: a once-in-a-lifetime cost the month
    // of the model does not see, so it is paid before the count starts.
    const warmUpTs = tsStart - options.intervalS * 1000;
    await Promise.all(
      devices.map((client, i) =>
        client.publishAsync(
          `sensors/${ids[i]}/telemetry`,
          JSON.stringify({ ts: warmUpTs + i, values: { temperature: 20, humidity: 40 } }),
          { qos: 1 },
        ),
      ),
    );
    const before = await settled(runtime.billed);

    const rounds = Math.max(1, Math.round(options.durationS / options.intervalS));
    let readings = 0;
    const start = Date.now();
    for (let round = 0; round < rounds; round++) {
      const ts = tsStart + round * options.intervalS * 1000;
      // Spread over the interval, as independent sensors are, rather than all at one instant.
      await Promise.all(
        devices.map(async (client, i) => {
          await sleep((i * options.intervalS * 1000) / devices.length);
          await client.publishAsync(
            `sensors/${ids[i]}/telemetry`,
            JSON.stringify({ ts: ts + i, values: { temperature: 20 + (i % 10), humidity: 40 + round } }),
            { qos: 1 },
          );
        }),
      );
      readings += devices.length;
      const next = start + (round + 1) * options.intervalS * 1000;
      await sleep(Math.max(0, next - Date.now()));
    }
    const after = await settled(runtime.billed);
    const total = difference(after, before);
    const measured = Object.fromEntries(Object.entries(total).map(([k, v]) => [k, v / readings])) as unknown as TelemetryUnits;
    const model = monthlyCost({
      sensors,
      intervalS: options.intervalS,
      dashboards,
      design: 'vigia',
      ingest,
      basicIngest: false,
      shards: ingest === 'stream' ? 1 : undefined,
      liveWindowS: options.liveWindowS,
      historyWindowS: options.historyWindowS,
      // Without a rule the history writer reads no alert states.
      alertRules: options.alertRule,
      cardsOnScreen: options.cardsOnScreen,
    }).perReading;
    const perReading = <T extends Record<string, { [k: string]: number }>>(rec: T) =>
      Object.fromEntries(
        Object.entries(rec).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([u, n]) => [u, n / readings]))]),
      ) as T;
    const delta = <T extends Record<string, Record<string, number>>>(a: T, b: T) =>
      Object.fromEntries(
        Object.entries(a).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([u, n]) => [u, n - (b[k]?.[u] ?? 0)]))]),
      ) as T;
    return {
      options,
      readings,
      measured,
      model,
      detail: { lambda: perReading(delta(after.lambda, before.lambda)), dynamo: perReading(delta(after.dynamo, before.dynamo)) },
    };
  } finally {
    await Promise.all(devices.map((c) => c.endAsync(true).catch(() => undefined)));
    for (const s of sockets) s.terminate();
    await runtime.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Units whose measurement and model differ by more than `tolerance` (a share of the model's figure). */
export function disagreements(m: Pick<Measurement, 'measured' | 'model'>, tolerance = 0.1): string[] {
  const out: string[] = [];
  for (const unit of COMPARED_UNITS) {
    const measured = m.measured[unit];
    const model = m.model[unit];
    const off = model === 0 ? measured : Math.abs(measured - model) / model;
    if (off > tolerance) out.push(`${unit}: measured ${measured.toFixed(4)} a reading, model ${model.toFixed(4)}`);
  }
  return out;
}

export function formatMeasurement(m: Measurement): string {
  const o = m.options;
  const out = [
    `Measured on the local runtime: ${o.sensors} sensors every ${o.intervalS} s for ${o.durationS} s (${m.readings} readings), ` +
      `${o.dashboards} dashboards of ${Math.min(o.sensors, o.cardsOnScreen)} cards, ${o.ingest} ingest.`,
    '',
    '| unit | measured a reading | model a reading | difference |',
    '| --- | ---: | ---: | ---: |',
  ];
  for (const unit of [...COMPARED_UNITS, 'lambdaGbSeconds'] as const) {
    const measured = m.measured[unit];
    const model = m.model[unit];
    const diff = model === 0 ? (measured === 0 ? '0 %' : 'n/a') : `${(((measured - model) / model) * 100).toFixed(1)} %`;
    out.push(
      `| ${unit}${unit === 'lambdaGbSeconds' ? ' (local durations, not compared)' : ''} | ${measured.toFixed(5)} | ${model.toFixed(5)} | ${diff} |`,
    );
  }
  const off = disagreements(m);
  out.push('', off.length === 0 ? 'Every compared unit is within 10 % of the model.' : `More than 10 % apart: ${off.join('; ')}`);
  return out.join('\n');
}
