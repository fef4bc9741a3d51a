/**
 * The dashboard end to end: Debian's Chromium, driven by playwright-core, against the local runtime on random
 * ports with simulated sensors. Each screen is saved to test-results/screenshots/ (`npm run screenshots`: docs/screenshots/).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCREENSHOTS, buildFrontendIfStale, launchChromium, startStack, type Stack } from './harness.js';

const SIM_INTERVAL_MS = 500;
const HISTORY_READINGS = 2500;
const HISTORY_SPAN_MS = 2 * 3_600_000;

let stack: Stack;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

async function shot(name: string, target: Page = page): Promise<void> {
  await target.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

async function api<T>(pathAndQuery: string): Promise<T> {
  const res = await fetch(stack.runtime.urls.api + pathAndQuery);
  expect(res.status, pathAndQuery).toBe(200);
  return (await res.json()) as T;
}

/** Older history for one more sensor: 2 500 readings over the last two hours, in contract batches. */
async function seedHistory(sensorId: string): Promise<number> {
  const client = await mqtt.connectAsync(stack.runtime.urls.mqtt!, { clientId: sensorId, protocolVersion: 5, reconnectPeriod: 0 });
  const end = Date.now() - 60_000;
  const step = Math.floor(HISTORY_SPAN_MS / HISTORY_READINGS);
  for (let first = 0; first < HISTORY_READINGS; first += 500) {
    const batch = [];
    for (let i = first; i < Math.min(HISTORY_READINGS, first + 500); i++) {
      batch.push({
        ts: end - (HISTORY_READINGS - i) * step,
        values: {
          temperature: Number((20 + 3 * Math.sin(i / 150) + Math.random()).toFixed(2)),
          humidity: Number((50 + 8 * Math.cos(i / 230) + 3 * Math.random()).toFixed(1)),
        },
        units: { temperature: '°C', humidity: '%' },
      });
    }
    await client.publishAsync(`sensors/${sensorId}/telemetry`, JSON.stringify(batch), { qos: 1 });
  }
  await client.endAsync();
  return end;
}

beforeAll(async () => {
  buildFrontendIfStale();
  mkdirSync(SCREENSHOTS, { recursive: true });
  stack = await startStack({ sensors: ['sim-1', 'sim-2', 'sim-3'], intervalMs: SIM_INTERVAL_MS });
  await seedHistory('hist-1');
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 860 }, colorScheme: 'light' });
  page.on('pageerror', (err) => pageErrors.push(err.message));
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('dashboard', () => {
  it('shows every sensor on the fleet and their values change', async () => {
    await page.goto(stack.runtime.urls.dashboard);
    await page.locator('.conn[data-state="live"]').waitFor();
    for (const id of ['sim-1', 'sim-2', 'sim-3', 'hist-1']) await page.locator(`.card[data-sensor="${id}"]`).waitFor();
    const temperature = page.locator('.card[data-sensor="sim-1"] dd[data-metric="temperature"]');
    await expect.poll(() => temperature.textContent(), { timeout: 10_000 }).toMatch(/°C/);
    const first = await temperature.textContent();
    await expect.poll(() => temperature.textContent(), { timeout: 15_000 }).not.toBe(first);
    await expect.poll(() => page.locator('.card[data-sensor="sim-1"] .seen').textContent(), { timeout: 10_000 }).toMatch(/last seen/);
    await expect
      .poll(() => page.locator('.card[data-sensor="sim-1"] svg.spark').getAttribute('data-points').then(Number), { timeout: 10_000 })
      .toBeGreaterThan(2);

    await page.getByLabel('Filter by name').fill('sim-2');
    await expect.poll(() => page.locator('.card').count(), { timeout: 10_000 }).toBe(1);
    await page.getByLabel('Filter by name').fill('');
    await page.getByLabel('Sort by').selectOption('status');
    await expect.poll(() => page.locator('.card').count(), { timeout: 10_000 }).toBe(4);
    await page.waitForTimeout(1500);
    await shot('fleet');
  });

  it('opens a sensor whose live chart grows', async () => {
    await page.locator('a[href="#/sensors/sim-1"]').click();
    const chart = page.locator('.chart[data-metric="temperature"]');
    await chart.waitFor();
    await expect.poll(() => chart.getAttribute('data-points').then(Number), { timeout: 10_000 }).toBeGreaterThan(0);
    const before = Number(await chart.getAttribute('data-points'));
    await expect.poll(() => chart.getAttribute('data-points').then(Number), { timeout: 15_000 }).toBeGreaterThan(before + 3);
    await chart.scrollIntoViewIfNeeded();
    const box = (await chart.boundingBox())!;
    // Near the right edge of the plot: the live chart spans 5 minutes, and the stack has run for less (the rest is empty).
    const [left, , width] = (await chart.getAttribute('data-plot'))!.split(',').map(Number);
    await page.mouse.move(box.x + left + width * 0.95, box.y + box.height / 2);
    await expect
      .poll(() => page.locator('.chart[data-metric="temperature"] .chart-tip').textContent(), { timeout: 10_000 })
      .toMatch(/temperature\s*-?\d+(\.\d+)?\s+°C/);
    await shot('sensor-live');
    await page.mouse.move(0, 0);
  });

  it('reconnects after the server drops the WebSocket and backfills the missed span', async () => {
    await page.evaluate(() => {
      const w = window as unknown as { __vigia: { live: { on(e: string, l: (s: string) => void): void } }; __states: string[] };
      w.__states = [];
      w.__vigia.live.on('state', (s) => w.__states.push(s));
    });
    // Keep the connection down about three seconds: every attempt to come back is cut at once.
    const downUntil = Date.now() + 3000;
    let sawReconnecting = false;
    while (Date.now() < downUntil) {
      for (const id of stack.runtime.gateway.connectionIds()) stack.runtime.gateway.terminate(id);
      if (!sawReconnecting && (await page.locator('.conn').getAttribute('data-state')) === 'reconnecting') {
        sawReconnecting = true;
        await shot('sensor-reconnecting');
      }
      await new Promise((r) => setTimeout(r, 40));
    }
    await page.locator('.conn[data-state="live"]').waitFor({ timeout: 40_000 });
    const states = await page.evaluate(() => (window as unknown as { __states: string[] }).__states);
    expect(states[0]).toBe('reconnecting');
    expect(states.at(-1)).toBe('live');
    expect(await page.locator('.conn').textContent()).toBe('Live');

    // A few readings after the reconnection (and the backfill), every stored reading of the span is on the chart.
    const from = downUntil - 10_000;
    const chartTimestamps = () =>
      page.evaluate(() => {
        const view = (window as unknown as { __vigiaView: { shown(): { series: { points: Array<{ ts: number }> } } } }).__vigiaView;
        return view.shown().series.points.map((p) => p.ts);
      });
    let shown: number[] = [];
    let stored: Array<{ ts: number }> = [];
    await expect
      .poll(
        async () => {
          shown = await chartTimestamps();
          const to = shown.at(-1)! - 2 * SIM_INTERVAL_MS;
          if (to < downUntil + 2 * SIM_INTERVAL_MS) return ['not yet past the outage'];
          stored = (
            await api<{ points: Array<{ ts: number }> }>(`/sensors/sim-1/readings?from=${from}&to=${to}&resolution=raw&limit=10000`)
          ).points;
          const onChart = new Set(shown);
          // Relative to the end of the outage, so a failure says where the hole is.
          return stored.filter((p) => !onChart.has(p.ts)).map((p) => p.ts - downUntil);
        },
        { timeout: 15_000, interval: 500 },
      )
      .toEqual([]);
    expect(stored.length).toBeGreaterThan(10);
    const span = shown.filter((ts) => ts >= from && ts <= stored.at(-1)!.ts);
    const widest = Math.max(...span.slice(1).map((ts, i) => ts - span[i]));
    expect(widest).toBeLessThan(SIM_INTERVAL_MS * 3);
  });

  it('sends setInterval, shows commandSent and the reading rate changes', async () => {
    const rate = page.locator('.rate dd[data-rate]');
    await expect.poll(() => rate.getAttribute('data-rate').then(Number), { timeout: 15_000 }).toBeGreaterThan(1.5);
    const before = Number(await rate.getAttribute('data-rate'));
    expect(before).toBeLessThan(2.6);
    await page.getByLabel('Reading interval (ms)').fill('200');
    await page.getByRole('button', { name: 'Send setInterval' }).click();
    await expect.poll(() => page.locator('.command-result').textContent(), { timeout: 10_000 }).toMatch(/commandSent\s+[0-9a-f-]{36}/);
    await expect.poll(() => rate.getAttribute('data-rate').then(Number), { timeout: 15_000 }).toBeGreaterThan(4);
    await shot('sensor-command');
  });

  it('loads 1 h of history, and 24 h as a min–max band', async () => {
    await page.goto(`${stack.runtime.urls.dashboard}#/sensors/hist-1`);
    await page.getByText('1 h', { exact: true }).click();
    const from = Date.now() - 3_600_000;
    const stored = await api<{ resolution: string; points: unknown[] }>(`/sensors/hist-1/readings?from=${from}&resolution=raw&limit=10000`);
    const chart = page.locator('.chart[data-metric="temperature"]');
    await expect.poll(() => chart.getAttribute('data-points').then(Number), { timeout: 15_000 }).toBeGreaterThan(stored.points.length - 30);
    expect(await page.locator('.range-note').textContent()).toMatch(/readings/);
    await shot('sensor-1h');

    await page.getByText('24 h', { exact: true }).click();
    await expect.poll(() => page.locator('.range-note').textContent(), { timeout: 15_000 }).toMatch(/1m buckets/);
    const aggregated = await api<{ resolution: string; points: unknown[] }>(
      `/sensors/hist-1/readings?from=${Date.now() - 86_400_000}&limit=2000`,
    );
    expect(aggregated.resolution).toBe('1m');
    await expect.poll(() => chart.getAttribute('data-points').then(Number), { timeout: 10_000 }).toBe(aggregated.points.length);
    await chart.scrollIntoViewIfNeeded();
    const box = (await chart.boundingBox())!;
    // Within the last two hours (the history seeded), near the right edge of the 24 h axis.
    await page.mouse.move(box.x + box.width * 0.97, box.y + box.height / 2);
    await expect
      .poll(() => page.locator('.chart[data-metric="temperature"] .chart-tip').textContent(), { timeout: 10_000 })
      .toMatch(/avg.*min.*max/s);

    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Download CSV' }).click();
    const file = await download;
    const csv = await (await file.createReadStream()).toArray();
    const text = Buffer.concat(csv as Buffer[]).toString('utf8');
    expect(text.split('\n')[0]).toBe(
      'ts,humidity_min,humidity_max,humidity_avg,humidity_count,temperature_min,temperature_max,temperature_avg,temperature_count',
    );
    expect(text.trim().split('\n').length).toBe(aggregated.points.length + 1);
    await shot('sensor-24h-band');
  });

  it('fits a phone in the dark', async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', deviceScaleFactor: 2 });
    await phone.goto(stack.runtime.urls.dashboard);
    await phone.locator('.card[data-sensor="sim-1"]').waitFor();
    await phone.waitForTimeout(1000);
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await shot('fleet-phone-dark', phone);
    await phone.goto(`${stack.runtime.urls.dashboard}#/sensors/sim-2`);
    await phone.locator('.chart[data-metric="temperature"]').waitFor();
    await phone.waitForTimeout(1500);
    expect(await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0);
    await shot('sensor-phone-dark', phone);
    await phone.close();
  });

  it('reaches every control from the keyboard, each with a label', async () => {
    await page.goto(`${stack.runtime.urls.dashboard}#/sensors/sim-3`);
    await page.locator('.chart[data-metric="temperature"]').waitFor();
    const unlabeled = await page.evaluate(() =>
      [...document.querySelectorAll('input, select, button')]
        .filter((el) => {
          const e = el as HTMLInputElement;
          return (
            !(e.labels && e.labels.length > 0) && !e.getAttribute('aria-label') && !(el.tagName === 'BUTTON' && el.textContent?.trim())
          );
        })
        .map((el) => el.outerHTML),
    );
    expect(unlabeled).toEqual([]);
    const reached = new Set<string>();
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      reached.add(
        await page.evaluate(() => {
          const el = document.activeElement as HTMLElement;
          return (
            el.getAttribute('aria-label') ||
            (el as HTMLInputElement).labels?.[0]?.textContent?.trim() ||
            el.textContent?.trim() ||
            el.tagName
          );
        }),
      );
    }
    for (const name of ['← Fleet', 'Live', 'Download CSV', 'Reading interval (ms)', 'Send setInterval']) expect(reached).toContain(name);
    expect(pageErrors).toEqual([]);
  });
});
