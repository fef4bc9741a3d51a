/**
 * Queued ingest as the cloud runs it (batches gathered for up to 1 s): 50 readings of one sensor within a
 * second reach a subscribed dashboard in at most 2 frames, and are all stored.
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

describe('queued ingest with a 1 s batching window', () => {
  let dataDir: string;
  let runtime: LocalRuntime;

  beforeAll(async () => {
    dataDir = await makeDataDir('vigia-queued-');
    runtime = await startTestRuntime(dataDir, { ingest: 'queued', ingestWindowMs: 1000 });
  });

  afterAll(async () => {
    await closeSockets();
    await closeDevices();
    await runtime?.close();
    await removeDataDir(dataDir);
  });

  it('50 readings of one sensor within a second: at most 2 frames to a subscriber, all 50 stored', async () => {
    const sensorId = 'queued-burst';
    const device = await connectDevice(runtime.urls.mqtt!, sensorId);
    const ws = await WsClient.open(runtime.urls.ws);
    ws.send({ action: 'subscribe', sensorIds: [sensorId] });
    await ws.waitFor((f) => f.type === 'subscribed');

    // One burst: the 50 publishes leave together, well within a second.
    const base = Date.now() - 5_000;
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        device.publishAsync(telemetryTopic(sensorId), JSON.stringify({ ts: base + i * 10, values: { v: i } }), { qos: 1 }),
      ),
    );

    const frames = () => ws.frames.filter((f) => f.type === 'readings') as Array<{ readings: Array<{ ts: number }> }>;
    await eventually('50 readings pushed', async () => (frames().flatMap((f) => f.readings).length >= 50 ? true : undefined));
    expect(frames().flatMap((f) => f.readings.map((r) => r.ts)).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 50 }, (_, i) => base + i * 10),
    );
    expect(frames().length).toBeLessThanOrEqual(2);

    const stored = await eventually('50 readings stored', async () => {
      const points = await rawReadings(runtime, sensorId, base, base + 1_000);
      return points.length === 50 ? points : undefined;
    });
    expect(stored.map((p) => p.values.v)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});
