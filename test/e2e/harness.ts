/**
 * What the dashboard's end-to-end tests and benchmark share: a fresh frontend build when the sources are
 * newer, the local runtime on random ports with simulated sensors, and Debian's Chromium.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { startSimulation, type Simulation } from '../../device-sim/index.js';
import { PROJECT_ROOT, startLocalRuntime, type LocalRuntime } from '../../local/runtime.js';

export const FRONTEND = path.join(PROJECT_ROOT, 'frontend');
export const DIST = path.join(FRONTEND, 'dist');
export const SCREENSHOTS = path.join(PROJECT_ROOT, 'docs/screenshots');
export const CHROMIUM = '/usr/bin/chromium';

function newestMtime(target: string): number {
  const info = statSync(target, { throwIfNoEntry: false });
  if (!info) return 0;
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const entry of readdirSync(target)) newest = Math.max(newest, newestMtime(path.join(target, entry)));
  return newest;
}

/** Builds frontend/dist unless it is newer than every source of it. */
export function buildFrontendIfStale(): void {
  const built = statSync(path.join(DIST, 'index.html'), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const sources = Math.max(
    newestMtime(path.join(FRONTEND, 'src')),
    newestMtime(path.join(FRONTEND, 'index.html')),
    newestMtime(path.join(FRONTEND, 'vite.config.ts')),
    newestMtime(path.join(PROJECT_ROOT, 'package-lock.json')),
  );
  if (built > sources) return;
  const run = spawnSync('npx', ['vite', 'build', 'frontend', '--logLevel', 'warn'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
  if (run.status !== 0) throw new Error('vite build frontend failed');
}

export interface Stack {
  runtime: LocalRuntime;
  sim: Simulation | null;
  dataDir: string;
  close(): Promise<void>;
}

/** The local runtime on random ports, serving frontend/dist, with `sensors` simulated sensors. */
export async function startStack(options: { sensors: number | string[]; intervalMs?: number; seed?: number }): Promise<Stack> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'vigia-e2e-'));
  const runtime = await startLocalRuntime({ port: 0, mqttPort: 0, mqttsPort: 0, dataDir, staticDir: DIST, log: () => undefined });
  let sim: Simulation | null = null;
  try {
    const count = Array.isArray(options.sensors) ? options.sensors.length : options.sensors;
    if (count > 0) {
      sim = await startSimulation({
        sensors: options.sensors,
        host: runtime.host,
        port: runtime.mqttPort!,
        protocol: 'mqtt5',
        intervalMs: options.intervalMs ?? 1000,
        seed: options.seed ?? 7,
        log: () => undefined,
      });
    }
  } catch (err) {
    await runtime.close();
    throw err;
  }
  return {
    runtime,
    sim,
    dataDir,
    async close() {
      await sim?.stop().catch(() => undefined);
      await runtime.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
