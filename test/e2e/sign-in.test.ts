/**
 * Sign-in end to end: the local runtime with its local issuer (`auth: true`, as `AUTH=on npm start`), Debian's
 * Chromium signing in through the issuer's page. An operator sees the fleet and sends a command; a viewer
 * sees the command panel disabled, and a command frame sent anyway comes back FORBIDDEN.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulation, type Simulation } from '../../device-sim/index.js';
import { startLocalRuntime, type LocalRuntime } from '../../local/runtime.js';
import { DIST, buildFrontendIfStale, launchChromium, signIn as signInAs } from './harness.js';

let dataDir: string;
let runtime: LocalRuntime;
let sim: Simulation;
let browser: Browser;

beforeAll(async () => {
  buildFrontendIfStale();
  dataDir = mkdtempSync(path.join(tmpdir(), 'vigia-e2e-auth-'));
  runtime = await startLocalRuntime({ port: 0, mqttPort: 0, mqttsPort: 0, dataDir, staticDir: DIST, auth: true, log: () => undefined });
  sim = await startSimulation({
    sensors: ['auth-1'],
    host: runtime.host,
    port: runtime.mqttPort!,
    protocol: 'mqtt5',
    intervalMs: 1000,
    seed: 3,
    log: () => undefined,
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await sim?.stop().catch(() => undefined);
  await runtime?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** Signed in as `email`, having checked that the dashboard asked for PKCE (S256) and cleaned up its address. */
async function signIn(email: string): Promise<Page> {
  const page = await signInAs(browser, runtime.urls.dashboard, email, (atIssuer) => {
    const asked = new URL(atIssuer.url()).searchParams;
    expect(asked.get('code_challenge_method')).toBe('S256');
  });
  expect(await page.locator('.account .email').textContent()).toBe(email);
  // Back on the dashboard's root with the code and state gone from the address bar.
  expect(new URL(page.url()).search).toBe('');
  return page;
}

describe('dashboard with sign-in', () => {
  it('asks to sign in first; the API refuses a call without a token', async () => {
    const res = await fetch(`${runtime.urls.api}/sensors`);
    expect(res.status).toBe(401);
    const page = await browser.newPage();
    await page.goto(runtime.urls.dashboard);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(await page.locator('.auth-badge').count()).toBe(0);
    await page.close();
  });

  it('an operator sees the fleet and sends a command', async () => {
    const page = await signIn('operator@local');
    expect(await page.locator('.account .role-tag').textContent()).toBe('operator');
    await page.locator('.conn[data-state="live"]').waitFor({ timeout: 20_000 });
    await page.locator('.card[data-sensor="auth-1"]').waitFor({ timeout: 20_000 });
    await page.locator('a[href="#/sensors/auth-1"]').click();
    await page.locator('.panel[data-blocked="false"]').waitFor();
    await page.getByLabel('Reading interval (ms)').fill('500');
    const send = page.getByRole('button', { name: 'Send setInterval' });
    await expect.poll(() => send.isEnabled(), { timeout: 15_000 }).toBe(true);
    await send.click();
    await expect.poll(() => page.locator('.command-result').textContent(), { timeout: 10_000 }).toMatch(/commandSent\s+[0-9a-f-]{36}/);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await page.context().close();
  });

  it('a viewer sees the fleet, the command panel disabled, and FORBIDDEN for a command sent anyway', async () => {
    const page = await signIn('viewer@local');
    expect(await page.locator('.account .role-tag').textContent()).toBe('viewer');
    await page.locator('.card[data-sensor="auth-1"]').waitFor({ timeout: 20_000 });
    await page.locator('a[href="#/sensors/auth-1"]').click();
    await page.locator('.panel[data-blocked="true"]').waitFor();
    expect(await page.locator('.command-block').textContent()).toMatch(/operators only/i);
    expect(await page.getByRole('button', { name: 'Send setInterval' }).isDisabled()).toBe(true);
    expect(await page.getByLabel('Reading interval (ms)').isDisabled()).toBe(true);

    await page.locator('.conn[data-state="live"]').waitFor({ timeout: 20_000 });
    await page.evaluate(() => {
      const w = window as unknown as { __vigia: { live: { command(id: string, name: string, args: unknown): boolean } } };
      w.__vigia.live.command('auth-1', 'setInterval', { intervalMs: 500 });
    });
    await expect.poll(() => page.locator('.command-result').textContent(), { timeout: 10_000 }).toMatch(/FORBIDDEN/);
    await page.context().close();
  });
});
