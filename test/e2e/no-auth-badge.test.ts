/**
 * The dashboard without sign-in (`/config.json` says `"auth": null`, the local runtime's default): the header
 * says so, and there is no account, no sign-in screen and no lock on the command panel.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFrontendIfStale, launchChromium, startStack, type Stack } from './harness.js';

let browser: Browser;
let stack: Stack;

beforeAll(async () => {
  buildFrontendIfStale();
  stack = await startStack({ sensors: ['badge-1'] });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('dashboard without sign-in', () => {
  it('shows the "local, no sign-in" badge and an unlocked command panel', async () => {
    const config = (await (await fetch(stack.runtime.urls.config)).json()) as { auth: unknown };
    expect(config.auth).toBeNull();
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(stack.runtime.urls.dashboard);
    const badge = page.locator('header.top .auth-badge');
    await badge.waitFor({ state: 'visible' });
    expect(await badge.textContent()).toBe('local, no sign-in');
    expect(await page.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Sign in' }).count()).toBe(0);

    await page.locator('.card[data-sensor="badge-1"]').waitFor({ timeout: 20_000 });
    await page.locator('a[href="#/sensors/badge-1"]').click();
    await page.locator('.panel[data-blocked="false"]').waitFor();
    expect(await page.locator('.command-block').count()).toBe(0);
    await expect.poll(() => page.getByRole('button', { name: 'Send setInterval' }).isEnabled(), { timeout: 15_000 }).toBe(true);
    await expect(badge.isVisible()).resolves.toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  });
});
