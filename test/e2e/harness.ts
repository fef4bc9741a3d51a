/**
 * What the dashboard's end-to-end tests and benchmark share: a fresh frontend build when the sources are
 * newer, the local runtime on random ports with simulated sensors, and Debian's Chromium.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startSimulation, type Simulation } from '../../device-sim/index.js';
import { FRONTEND_DIST } from '../../local/frontend.js';
import { PROJECT_ROOT, startLocalRuntime, type LocalRuntime } from '../../local/runtime.js';

export { buildFrontendIfStale } from '../../local/frontend.js';
export const DIST = FRONTEND_DIST;
/** Where e2e screens are saved: a git-ignored folder; `npm run screenshots` points it at docs/screenshots. */
export const SCREENSHOTS = path.resolve(PROJECT_ROOT, process.env.SCREENSHOTS_DIR ?? 'test-results/screenshots');
export const CHROMIUM = '/usr/bin/chromium';

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

/** Debian Chromium headless on this closed network: no sandbox (root), no GPU, no calls home. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
}

/**
 * A fresh browser context (its own sessionStorage), signed in as `email` through the local issuer's page;
 * `atIssuer` sees the issuer's page before the user is picked (the PKCE test reads its address there).
 */
export async function signIn(browser: Browser, dashboardUrl: string, email: string, atIssuer?: (page: Page) => void): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(dashboardUrl);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/auth\/authorize\?/);
  atIssuer?.(page);
  await page.getByRole('button', { name: new RegExp(email.replace('.', '\\.')) }).click();
  await page.locator('.account .email').waitFor();
  return page;
}
