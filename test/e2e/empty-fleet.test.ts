/**
 * The dashboard before any sensor exists: it says how to connect one, and the command it shows works.
 * Its own file, so its runtime gets fresh handler modules (they keep their SDK clients per module).
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCREENSHOTS, buildFrontendIfStale, launchChromium, startStack, type Stack } from './harness.js';

let browser: Browser;
let empty: Stack;

beforeAll(async () => {
  buildFrontendIfStale();
  mkdirSync(SCREENSHOTS, { recursive: true });
  empty = await startStack({ sensors: 0 });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await empty?.close();
});

describe('dashboard with no sensor yet', () => {
  it('shows how to connect one, and the command it shows works', async () => {
    const p = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await p.goto(empty.runtime.urls.dashboard);
    const command = await p.locator('pre.command').textContent();
    expect(command).toBe(
      `npx mqtt pub -h 127.0.0.1 -p 1883 -i my-sensor -t sensors/my-sensor/telemetry -m '{"values":{"temperature":21.5},"units":{"temperature":"°C"}}'`,
    );
    await p.screenshot({ path: path.join(SCREENSHOTS, 'fleet-empty.png') });
    // The same command, pointed at this runtime's random MQTT port.
    await promisify(execFile)('sh', ['-c', command!.replace('-p 1883', `-p ${empty.runtime.mqttPort}`)], { timeout: 60_000 });
    await p.locator('.card[data-sensor="my-sensor"]').waitFor({ timeout: 20_000 });
    await expect
      .poll(() => p.locator('.card[data-sensor="my-sensor"] dd[data-metric="temperature"]').textContent(), { timeout: 10_000 })
      .toBe('21.5 °C');
    await p.close();
  });
});
