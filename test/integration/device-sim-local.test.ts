/**
 * The device simulator against the local runtime: readings it publishes appear through the HTTP API, over
 * mutual TLS with certificates from the local CA (MQTT 5) and over TCP (MQTT 3.1.1).
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulation, type Simulation } from '../../device-sim/index.js';
import { issueDeviceCert } from '../../local/ca.js';
import type { LocalRuntime } from '../../local/runtime.js';
import { HOST, eventually, getJson, makeDataDir, rawReadings, removeDataDir, startTestRuntime } from '../support/runtime.js';

describe('device simulator → local runtime', () => {
  let dataDir: string;
  let runtime: LocalRuntime;
  const sims: Simulation[] = [];

  beforeAll(async () => {
    dataDir = await makeDataDir('vigia-sim-local-');
    runtime = await startTestRuntime(dataDir);
  });

  afterAll(async () => {
    for (const sim of sims) await sim.stop({ drainMs: 1000 });
    await runtime?.close();
    await removeDataDir(dataDir);
  });

  it('over mutual TLS at MQTT 5, every reading of each sensor is in its history with units', async () => {
    const ids = ['tls-sim-a', 'tls-sim-b'];
    for (const id of ids) await issueDeviceCert(dataDir, id);
    const sim = await startSimulation({
      sensors: ids,
      host: HOST,
      port: runtime.mqttsPort!,
      protocol: 'mqtt5',
      tls: { caPath: path.join(dataDir, 'certs/ca.crt'), certDir: path.join(dataDir, 'certs') },
      intervalMs: 200,
      count: 5,
      seed: 7,
      failFast: true,
    });
    sims.push(sim);
    for (const id of ids) {
      // A 404 before the first reading is stored is the answer "not yet".
      const points = await eventually(`5 readings of ${id}`, async () => {
        const got = await rawReadings(runtime, id, Date.now() - 600_000, Date.now() + 60_000);
        return got.length === 5 ? got : undefined;
      });
      expect(points.every((p: { values: Record<string, number> }) => typeof p.values.temperature === 'number')).toBe(true);
      // The registry entry is written after the readings, in the same batch.
      const sensor = await eventually(`${id} registered with its metrics`, async () => {
        const body = (await getJson(`${runtime.urls.api}/sensors/${id}`)).body;
        return body.metrics?.length === 4 ? body : undefined;
      });
      expect(sensor).toMatchObject({ sensorId: id, online: true, units: { temperature: '°C', humidity: '%' } });
      expect(sensor.metrics).toEqual(['battery', 'humidity', 'pressure', 'temperature']);
    }
  });

  it('over TCP at MQTT 3.1.1, the readings arrive too', async () => {
    const sim = await startSimulation({
      sensors: ['tcp-sim-311'],
      host: HOST,
      port: runtime.mqttPort!,
      protocol: 'mqtt311',
      intervalMs: 200,
      count: 3,
      seed: 3,
      failFast: true,
    });
    sims.push(sim);
    const points = await eventually('3 readings of tcp-sim-311', async () => {
      const got = await rawReadings(runtime, 'tcp-sim-311', Date.now() - 600_000, Date.now() + 60_000);
      return got.length === 3 ? got : undefined;
    });
    expect(points.map((p: { ts: number }) => p.ts)).toEqual([...points.map((p: { ts: number }) => p.ts)].sort((a, b) => a - b));
  });
});
