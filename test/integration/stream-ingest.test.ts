/**
 * Stream ingest locally (the default): live frames bounded per connection (at most one `readings` frame per
 * live window, holding all its subscriptions' readings), every reading stored and pushed once, a QoS 1
 * redelivery neither stored nor pushed again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import {
  WsClient,
  closeDevices,
  closeSockets,
  connectDevice,
  eventually,
  makeDataDir,
  rawReadings,
  removeDataDir,
  startTestRuntime,
  telemetryTopic,
} from '../support/runtime.js';

const LIVE_WINDOW_MS = 400;

describe('stream ingest with a 400 ms live window', () => {
  let dataDir: string;
  let runtime: LocalRuntime;

  beforeAll(async () => {
    dataDir = await makeDataDir('vigia-stream-');
    runtime = await startTestRuntime(dataDir, { ingest: 'stream', liveWindowMs: LIVE_WINDOW_MS, historyWindowMs: 200 });
  });

  afterAll(async () => {
    await closeSockets();
    await closeDevices();
    await runtime?.close();
    await removeDataDir(dataDir);
  });

  it('runs in stream mode by default', () => {
    expect(runtime.rules.mode).toBe('stream');
  });

  it('5 sensors × 20 readings in a burst: each connection gets one frame per window with all its readings; all stored once', async () => {
    const sensorIds = Array.from({ length: 5 }, (_, i) => `burst-${i}`);
    const devices = await Promise.all(sensorIds.map((id) => connectDevice(runtime.urls.mqtt!, id)));
    const everything = await WsClient.open(runtime.urls.ws);
    everything.send({ action: 'subscribe', sensorIds: ['*'] });
    const two = await WsClient.open(runtime.urls.ws);
    two.send({ action: 'subscribe', sensorIds: sensorIds.slice(0, 2) });
    await everything.waitFor((f) => f.type === 'subscribed');
    await two.waitFor((f) => f.type === 'subscribed');

    const base = Date.now() - 5_000;
    const started = Date.now();
    await Promise.all(
      devices.flatMap((device, d) =>
        Array.from({ length: 20 }, (_, i) =>
          device.publishAsync(telemetryTopic(sensorIds[d]), JSON.stringify({ ts: base + i * 10, values: { v: i } }), { qos: 1 }),
        ),
      ),
    );
    type Frame = { type: string; readings: Array<{ sensorId: string; ts: number }> };
    const frames = (ws: WsClient) => ws.frames.filter((f) => f.type === 'readings') as Frame[];
    await eventually('100 readings pushed to *', async () =>
      frames(everything).flatMap((f) => f.readings).length >= 100 ? true : undefined,
    );
    await eventually('40 readings pushed to two', async () => (frames(two).flatMap((f) => f.readings).length >= 40 ? true : undefined));
    const windows = Math.ceil((Date.now() - started) / LIVE_WINDOW_MS) + 1;

    const keys = (ws: WsClient) => frames(ws).flatMap((f) => f.readings.map((r) => `${r.sensorId}@${r.ts}`));
    expect(new Set(keys(everything)).size).toBe(100);
    expect(keys(everything)).toHaveLength(100);
    expect(keys(two)).toHaveLength(40);
    expect(frames(two).every((f) => f.readings.every((r) => sensorIds.slice(0, 2).includes(r.sensorId)))).toBe(true);
    // Bounded by windows, not by readings: 100 readings came in a handful of frames.
    expect(frames(everything).length).toBeLessThanOrEqual(Math.min(windows, 4));
    expect(frames(two).length).toBeLessThanOrEqual(Math.min(windows, 4));

    for (const id of sensorIds) {
      const stored = await eventually(`${id} stored`, async () => {
        const points = await rawReadings(runtime, id, base, base + 1_000);
        return points.length === 20 ? points : undefined;
      });
      expect(stored.map((p) => p.values.v)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    }
  });

  it('a redelivered reading (same sensor and ts, other values) is neither stored again nor pushed again', async () => {
    const sensorId = 'redelivered';
    const device = await connectDevice(runtime.urls.mqtt!, sensorId);
    const ws = await WsClient.open(runtime.urls.ws);
    ws.send({ action: 'subscribe', sensorIds: [sensorId] });
    await ws.waitFor((f) => f.type === 'subscribed');
    const ts = Date.now() - 60_000;
    await device.publishAsync(telemetryTopic(sensorId), JSON.stringify({ ts, values: { v: 1 } }), { qos: 1 });
    await eventually('stored', async () => ((await rawReadings(runtime, sensorId, ts, ts + 1)).length === 1 ? true : undefined));
    // Later, in another window and another batch: the same key again, then a newer reading as a marker.
    await device.publishAsync(telemetryTopic(sensorId), JSON.stringify({ ts, values: { v: 2 } }), { qos: 1 });
    await device.publishAsync(telemetryTopic(sensorId), JSON.stringify({ ts: ts + 1, values: { v: 3 } }), { qos: 1 });
    const pushed = () =>
      ws.frames
        .filter((f) => f.type === 'readings')
        .flatMap((f) => (f as { readings: Array<{ ts: number; values: { v: number } }> }).readings);
    await eventually('the marker pushed', async () => (pushed().some((r) => r.ts === ts + 1) ? true : undefined));
    expect(pushed().map((r) => r.values.v)).toEqual([1, 3]);
    const stored = await eventually('the marker stored', async () => {
      const points = await rawReadings(runtime, sensorId, ts, ts + 2);
      return points.length === 2 ? points : undefined;
    });
    expect(stored.map((p) => p.values.v)).toEqual([1, 3]);
  });
});
