/**
 * The dashboard under its Content-Security-Policy, in Chromium: the app works with no violation at all,
 * an injected inline script is blocked and reported, and hostile units from a device are shown as text
 * (no request to the URL they name, no element they describe), as is a metric named `constructor`.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFrontendIfStale, launchChromium, startStack, type Stack } from './harness.js';

const SENSOR = 'hostile-units';
const HOSTILE_UNITS = { temperature: '<img src=/xss>', humidity: '<style onload=a>' };

let browser: Browser;
let stack: Stack;
let device: MqttClient;
let timer: NodeJS.Timeout;

beforeAll(async () => {
  buildFrontendIfStale();
  stack = await startStack({ sensors: 0 });
  browser = await launchChromium();
  device = await mqtt.connectAsync(stack.runtime.urls.mqtt!, { clientId: SENSOR, protocolVersion: 5 });
  let i = 0;
  const publish = () =>
    device.publishAsync(
      `sensors/${SENSOR}/telemetry`,
      JSON.stringify({ values: { temperature: 21 + (i++ % 5) / 10, humidity: 40, constructor: 7 }, units: HOSTILE_UNITS }),
      { qos: 1 },
    );
  await publish();
  timer = setInterval(() => void publish().catch(() => undefined), 500);
}, 60_000);

afterAll(async () => {
  clearInterval(timer);
  await device?.endAsync();
  await browser?.close();
  await stack?.close();
});

describe('dashboard Content-Security-Policy', () => {
  it('is sent with the dashboard, allows no inline script, and the app runs without a single violation', async () => {
    const res = await fetch(stack.runtime.urls.dashboard);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');

    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { __violations: string[] }).__violations = seen;
      document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.effectiveDirective} ${e.blockedURI}`));
    });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('request', (req) => requests.push(req.url()));
    await page.goto(stack.runtime.urls.dashboard);
    const card = page.locator(`.card[data-sensor="${SENSOR}"]`);
    await card.waitFor({ timeout: 20_000 });

    // A metric named constructor shows its value, never Object's native function as a unit.
    await expect.poll(() => card.locator('dd[data-metric="constructor"]').textContent(), { timeout: 10_000 }).toBe('7');
    // The hostile unit is text in the card.
    await expect
      .poll(() => card.locator('dd[data-metric="temperature"] .unit').textContent(), { timeout: 10_000 })
      .toBe(` ${HOSTILE_UNITS.temperature}`);

    await page.locator(`a[href="#/sensors/${SENSOR}"]`).click();
    const chart = page.locator('.chart[data-metric="temperature"]');
    await chart.waitFor({ timeout: 15_000 });
    await expect.poll(async () => (await chart.locator('.u-over').boundingBox())?.width ?? 0, { timeout: 10_000 }).toBeGreaterThan(0);
    await expect.poll(() => chart.getAttribute('data-points').then(Number), { timeout: 10_000 }).toBeGreaterThan(0);
    await chart.scrollIntoViewIfNeeded();
    const tip = chart.locator('.chart-tip');
    // The axis spans the whole range asked and readings are only at its end: the keyboard's End shows the
    // newest reading's tooltip wherever it is drawn.
    await chart.focus();
    await expect
      .poll(
        async () => {
          await page.keyboard.press('End');
          return tip.textContent();
        },
        { timeout: 15_000 },
      )
      .toContain(HOSTILE_UNITS.temperature);
    expect(await tip.locator('img, style').count()).toBe(0);
    const humidityCaption = page.locator('.chart-card figcaption', { hasText: 'humidity' });
    expect(await humidityCaption.textContent()).toContain(HOSTILE_UNITS.humidity);
    expect(await page.locator('.chart-card figcaption style, .card img').count()).toBe(0);

    expect(requests.filter((url) => new URL(url).pathname === '/xss')).toEqual([]);
    expect(await page.evaluate(() => (window as unknown as { __violations: string[] }).__violations)).toEqual([]);
    expect(errors).toEqual([]);

    // An inline script put into the page (as an HTML injection would) does not run, and is reported.
    const outcome = await page.evaluate(async () => {
      const script = document.createElement('script');
      script.textContent = 'window.__inlineRan = true';
      document.body.appendChild(script);
      await new Promise((resolve) => setTimeout(resolve, 200));
      return {
        ran: (window as unknown as { __inlineRan?: boolean }).__inlineRan === true,
        violations: (window as unknown as { __violations: string[] }).__violations,
      };
    });
    expect(outcome.ran).toBe(false);
    expect(outcome.violations.some((v) => v.startsWith('script-src'))).toBe(true);
    await page.close();
  });
});
