/**
 * The dashboard under the outside audit (issue 16), in Debian's Chromium: truthful charts (a 10-minute hole
 * breaks the line, the x-axis spans the range asked), a layout that holds still (CLS, a frozen sort), access
 * for every user (axe-core WCAG 2.1 AA in both schemes at desktop and phone width, visible focus, keyboard
 * chart inspection, 12 px text) and the windowed fleet (visible-only subscriptions, batched sparklines).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import mqtt from 'mqtt';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFrontendIfStale, launchChromium, startStack, type Stack } from './harness.js';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const SIM_INTERVAL_MS = 500;
const SEEDED = 150;
const GAP_SENSOR = 'gap-1';
const STEP_MS = 5000;
const MINUTE = 60_000;

let stack: Stack;
let browser: Browser;
/** The hole in gap-1's history: no reading in [holeFrom, holeTo). */
let holeFrom: number;
let holeTo: number;

/** Publishes one MQTT payload as `sensorId` (the client id must be the sensor's). */
async function publishAs(sensorId: string, payload: unknown): Promise<void> {
  const client = await mqtt.connectAsync(stack.runtime.urls.mqtt!, { clientId: sensorId, protocolVersion: 5, reconnectPeriod: 0 });
  await client.publishAsync(`sensors/${sensorId}/telemetry`, JSON.stringify(payload), { qos: 1 });
  await client.endAsync();
}

/** gap-1: a reading every 5 s over the last hour, but none for 10 minutes from 40 minutes ago. */
async function seedGapSensor(): Promise<void> {
  const end = Date.now() - 2 * STEP_MS;
  holeFrom = end - 40 * MINUTE;
  holeTo = holeFrom + 10 * MINUTE;
  const readings = [];
  for (let ts = end - 60 * MINUTE; ts <= end; ts += STEP_MS) {
    if (ts >= holeFrom && ts < holeTo) continue;
    readings.push({ ts, values: { temperature: Number((20 + Math.sin(ts / 300_000)).toFixed(2)) }, units: { temperature: '°C' } });
  }
  for (let i = 0; i < readings.length; i += 500) await publishAs(GAP_SENSOR, readings.slice(i, i + 500));
}

async function waitForStored(count: number): Promise<void> {
  const until = Date.now() + 60_000;
  for (;;) {
    const list = (await (await fetch(`${stack.runtime.urls.api}/sensors`)).json()) as { sensors: unknown[] };
    if (list.sensors.length >= count) return;
    if (Date.now() > until) throw new Error(`only ${list.sensors.length} of ${count} sensors stored after 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

beforeAll(async () => {
  buildFrontendIfStale();
  stack = await startStack({ sensors: ['sim-1', 'sim-2', 'sim-3'], intervalMs: SIM_INTERVAL_MS });
  await seedGapSensor();
  // A fleet larger than a screen: seed-001 … seed-150, one reading each (two decimals, so widths are tested).
  for (let i = 1; i <= SEEDED; i++) {
    const id = `seed-${String(i).padStart(3, '0')}`;
    await publishAs(id, {
      values: { temperature: Number((20 + i / 100).toFixed(2)), humidity: 40 + (i % 10) },
      units: { temperature: '°C', humidity: '%' },
    });
  }
  await waitForStored(SEEDED + 4);
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

async function open(options: {
  width: number;
  height: number;
  dark?: boolean;
  mobile?: boolean;
}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    viewport: { width: options.width, height: options.height },
    colorScheme: options.dark ? 'dark' : 'light',
    isMobile: options.mobile ?? false,
    hasTouch: options.mobile ?? false,
    deviceScaleFactor: options.mobile ? 2 : 1,
  });
  const page = await context.newPage();
  return { context, page };
}

/** The fleet view, live; with `filter` typed in (the simulated sensors sort last by name, off the first screen). */
async function openFleet(page: Page, filter = 'sim-'): Promise<void> {
  await page.goto(stack.runtime.urls.dashboard);
  await page.locator('.conn[data-state="live"]').waitFor();
  await page.locator('.card').first().waitFor();
  if (filter) await page.getByLabel('Filter by name').fill(filter);
  if (!filter.startsWith('sim')) return;
  await page.locator('.card[data-sensor="sim-1"] dd[data-metric="temperature"]').waitFor();
  await expect
    .poll(() => page.locator('.card[data-sensor="sim-1"] svg.spark').getAttribute('data-points').then(Number), { timeout: 10_000 })
    .toBeGreaterThan(2);
}

async function openSensor(page: Page, sensorId: string): Promise<void> {
  await page.goto(`${stack.runtime.urls.dashboard}#/sensors/${sensorId}`);
  await page.locator('.conn[data-state="live"]').waitFor();
  await expect
    .poll(() => page.locator('.chart[data-metric="temperature"]').getAttribute('data-points').then(Number), { timeout: 15_000 })
    .toBeGreaterThan(2);
}

/** axe-core's WCAG 2.1 A and AA rules on the page as it is; the violations, summarised. */
async function axeViolations(page: Page): Promise<string[]> {
  // Evaluated, not added as a <script>: the dashboard's CSP forbids inline scripts, and rightly so.
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: {
          run(
            ctx: Document,
            opts: object,
          ): Promise<{
            passes: Array<{ id: string }>;
            violations: Array<{ id: string; nodes: Array<{ target: string[]; failureSummary?: string }> }>;
          }>;
        };
      }
    ).axe;
    return axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
  });
  // axe ran its rules on this page (colour contrast among them), not on an empty document.
  expect(result.passes.map((p) => p.id)).toContain('color-contrast');
  return result.violations.flatMap((v) => v.nodes.map((n) => `${v.id} ${n.target.join(' ')}: ${n.failureSummary ?? ''}`));
}

/** Text rendered smaller than 12 CSS px (visible elements holding text of their own). */
async function smallText(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const found: string[] = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement;
      if (!el || !node.textContent?.trim() || el.closest('.sr-only')) continue;
      const rect = el.getBoundingClientRect();
      if (rect.width === 0 || rect.height === 0) continue;
      const size = parseFloat(getComputedStyle(el).fontSize);
      if (size < 12) found.push(`${el.tagName.toLowerCase()}.${el.className} ${size}px "${node.textContent.trim().slice(0, 20)}"`);
    }
    return [...new Set(found)];
  });
}

interface Colour {
  r: number;
  g: number;
  b: number;
  /** How far (per channel) a pixel may be from it: anti-aliasing blends edges. */
  tolerance: number;
}
/** The light scheme's chart line (#0a6fc2) and focus ring (--focus, #7c3aed). */
const LINE_BLUE: Colour = { r: 10, g: 111, b: 194, tolerance: 45 };
const FOCUS_PURPLE: Colour = { r: 124, g: 58, b: 237, tolerance: 30 };

/** Pixels of a colour in a screenshot of `clip`, decoded by the browser itself (no eval: the CSP forbids it). */
async function countPixels(page: Page, clip: { x: number; y: number; width: number; height: number }, colour: Colour): Promise<number> {
  const png = (await page.screenshot({ clip })).toString('base64');
  return page.evaluate(
    async ([data, c]) => {
      const img = new Image();
      img.src = `data:image/png;base64,${data}`;
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = img.width;
      canvas.height = img.height;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(img, 0, 0);
      const px = ctx.getImageData(0, 0, img.width, img.height).data;
      let n = 0;
      for (let i = 0; i < px.length; i += 4) {
        if (Math.abs(px[i] - c.r) <= c.tolerance && Math.abs(px[i + 1] - c.g) <= c.tolerance && Math.abs(px[i + 2] - c.b) <= c.tolerance)
          n++;
      }
      return n;
    },
    [png, colour] as const,
  );
}

describe('truthful charts', () => {
  it('a sensor with a 10-minute hole shows a broken line and an x-axis covering the range asked', async () => {
    const { context, page } = await open({ width: 1280, height: 900 });
    await openSensor(page, GAP_SENSOR);
    const asked = Date.now();
    await page.getByText('1 h', { exact: true }).click();
    const chart = page.locator('.chart[data-metric="temperature"]');
    // One hour of readings every 5 s, less the hole: ~600 readings, all raw (fewer as the hour slides on).
    await expect.poll(() => chart.getAttribute('data-points').then(Number), { timeout: 15_000 }).toBeGreaterThan(520);
    await expect.poll(() => chart.getAttribute('data-from').then(Number), { timeout: 5000 }).toBeGreaterThan(asked - 3_600_000 - 5000);

    // The x-axis spans the hour asked (it follows the clock), not only the span that has data.
    const from = Number(await chart.getAttribute('data-from'));
    const to = Number(await chart.getAttribute('data-to'));
    expect(to - from).toBeGreaterThan(3_600_000 - 2000);
    expect(to - from).toBeLessThan(3_600_000 + 2000);
    expect(Math.abs(to - Date.now())).toBeLessThan(10_000);

    // The line is broken in the hole: no pixel of the line's colour in the middle of it, some on either side.
    await chart.scrollIntoViewIfNeeded();
    const box = (await chart.boundingBox())!;
    const [left, top, width, height] = (await chart.getAttribute('data-plot'))!.split(',').map(Number);
    const xOf = (ts: number) => box.x + left + ((ts - from) / (to - from)) * width;
    const column = (ts: number) => ({ x: Math.round(xOf(ts)) - 1, y: Math.round(box.y + top), width: 3, height });
    expect(await countPixels(page, column((holeFrom + holeTo) / 2), LINE_BLUE)).toBe(0);
    expect(await countPixels(page, column(holeFrom - 5 * MINUTE), LINE_BLUE)).toBeGreaterThan(0);
    expect(await countPixels(page, column(holeTo + 5 * MINUTE), LINE_BLUE)).toBeGreaterThan(0);

    // A tooltip in the hole says there is no reading, never the next value after it.
    await page.mouse.move(xOf((holeFrom + holeTo) / 2), box.y + top + height / 2);
    await expect.poll(() => chart.locator('.chart-tip').textContent(), { timeout: 5000 }).toMatch(/no reading/);
    // Beside a reading, it shows that reading at its own time (to the second).
    await page.mouse.move(xOf(holeTo + 5 * MINUTE), box.y + top + height / 2);
    await expect.poll(() => chart.locator('.chart-tip').textContent(), { timeout: 5000 }).toMatch(/temperature\s*\d+\.\d+ °C/);
    await context.close();
  });

  it('24 h spans the whole day even though only the last hour holds data', async () => {
    const { context, page } = await open({ width: 1280, height: 900 });
    await openSensor(page, GAP_SENSOR);
    await page.getByText('24 h', { exact: true }).click();
    const chart = page.locator('.chart[data-metric="temperature"]');
    await expect.poll(() => page.locator('.range-note').textContent(), { timeout: 15_000 }).toMatch(/readings|buckets/);
    await expect
      .poll(async () => Number(await chart.getAttribute('data-to')) - Number(await chart.getAttribute('data-from')), { timeout: 10_000 })
      .toBeGreaterThan(86_400_000 - 5000);
    await context.close();
  });

  it('the chart is read by keyboard: arrow keys step through readings and are announced', async () => {
    const { context, page } = await open({ width: 1280, height: 900 });
    await openSensor(page, GAP_SENSOR);
    await page.getByText('1 h', { exact: true }).click();
    const chart = page.locator('.chart[data-metric="temperature"]');
    await expect.poll(() => chart.getAttribute('data-points').then(Number), { timeout: 15_000 }).toBeGreaterThan(520);
    // Tab reaches the chart (it is in the tab order, not only clickable).
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.classList.contains('chart') ?? false);
    }
    expect(reached).toBe(true);
    const announced = page.locator('.chart-wrap [aria-live]').first();
    await page.keyboard.press('End');
    await expect.poll(() => announced.textContent()).toMatch(/\d+\.\d+ °C/);
    const last = await announced.textContent();
    await page.keyboard.press('ArrowLeft');
    await expect.poll(() => announced.textContent()).not.toBe(last);
    expect(await chart.locator('.chart-tip').isVisible()).toBe(true);
    await page.keyboard.press('Home');
    await expect.poll(() => announced.textContent()).toMatch(/\d+\.\d+ °C/);
    await context.close();
  });
});

describe('accessibility', () => {
  const layouts = [
    { name: 'desktop light', width: 1280, height: 900 },
    { name: 'desktop dark', width: 1280, height: 900, dark: true },
    { name: 'phone light', width: 390, height: 844, mobile: true },
    { name: 'phone dark', width: 390, height: 844, mobile: true, dark: true },
  ];
  for (const layout of layouts) {
    it(`axe-core WCAG 2.1 AA finds nothing on the fleet and sensor views, ${layout.name}; no text under 12 px`, async () => {
      const { context, page } = await open(layout);
      await openFleet(page, '');
      expect(await axeViolations(page)).toEqual([]);
      expect(await smallText(page)).toEqual([]);
      await openFleet(page);
      expect(await axeViolations(page)).toEqual([]);
      await openSensor(page, 'sim-1');
      expect(await axeViolations(page)).toEqual([]);
      expect(await smallText(page)).toEqual([]);
      await context.close();
    });
  }

  it("a card's name is its visible text, and keyboard focus on it is plainly visible", async () => {
    const { context, page } = await open({ width: 1280, height: 900 });
    await openFleet(page);
    const link = page.locator('.card[data-sensor="sim-1"] .card-link');
    expect(await link.getAttribute('aria-label')).toBeNull();
    const name = await page.evaluate(() => (document.querySelector('.card[data-sensor="sim-1"] .card-link') as HTMLElement).innerText);
    expect(name).toMatch(/sim-1/);
    expect(name).toMatch(/°C/);
    // Tab to the first card; its focus ring (the focus colour) shows around it.
    let onCard = false;
    for (let i = 0; i < 30 && !onCard; i++) {
      await page.keyboard.press('Tab');
      onCard = await page.evaluate(() => document.activeElement?.classList.contains('card-link') ?? false);
    }
    expect(onCard).toBe(true);
    const card = await page.evaluate(() => {
      const r = (document.activeElement as HTMLElement).closest('.card')!.getBoundingClientRect();
      return { x: r.x, y: r.y, width: r.width, height: r.height };
    });
    expect(await countPixels(page, card, FOCUS_PURPLE)).toBeGreaterThan(200);
    // Opening it by keyboard moves focus to the page's main column, without a ring around the whole of it.
    await page.keyboard.press('Enter');
    await page.locator('#sensor-title').waitFor();
    await page.waitForTimeout(300);
    const main = (await page.locator('main').boundingBox())!;
    const ring = await countPixels(page, { x: main.x, y: main.y, width: main.width, height: 6 }, FOCUS_PURPLE);
    expect(ring).toBe(0);
    await context.close();
  });
});

describe('a steady layout', () => {
  it('the fleet on a phone shifts less than CLS 0.05 over 10 s of live updates', async () => {
    const { context, page } = await open({ width: 390, height: 844, mobile: true });
    await page.addInitScript(() => {
      const w = window as unknown as { __cls: number };
      w.__cls = 0;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries() as Array<PerformanceEntry & { value: number; hadRecentInput: boolean }>)
          if (!e.hadRecentInput) w.__cls += e.value;
      }).observe({ type: 'layout-shift', buffered: true });
    });
    await openFleet(page);
    const start = await page.evaluate(() => (window as unknown as { __cls: number }).__cls);
    // 10 s of live updates, sampled: a value can come back by chance (noise at 0.01 °C steps), so any change counts.
    const shown = new Set<string | null>();
    for (let i = 0; i < 20; i++) {
      shown.add(await page.locator('.card[data-sensor="sim-1"] dd[data-metric="temperature"]').textContent());
      await page.waitForTimeout(500);
    }
    expect(shown.size).toBeGreaterThan(1);
    const cls = await page.evaluate(() => (window as unknown as { __cls: number }).__cls);
    // The whole load counts too (Lighthouse's CLS): under 0.05 from the first paint.
    expect(cls).toBeLessThan(0.05);
    expect(cls - start).toBeLessThan(0.01);
    // Every card has the same size, whatever its values.
    const sizes = await page
      .locator('.card')
      .evaluateAll((cards) => [...new Set(cards.map((c) => `${c.getBoundingClientRect().width}x${c.getBoundingClientRect().height}`))]);
    expect(sizes).toHaveLength(1);
    await context.close();
  });

  it('values keep a fixed number of decimals per metric, in tabular figures', async () => {
    const { context, page } = await open({ width: 1280, height: 900 });
    await openFleet(page, 'seed-');
    const values = await page
      .locator('.card dd[data-metric="temperature"]')
      .evaluateAll((dds) => dds.map((d) => ({ text: d.firstChild?.textContent ?? '', figures: getComputedStyle(d).fontVariantNumeric })));
    expect(values.length).toBeGreaterThan(4);
    // seed-010 sends 20.1, seed-011 20.11: both shown with two decimals (the most any temperature has).
    for (const v of values) expect(v.text).toMatch(/^\d+\.\d\d$/);
    expect(values[0].figures).toMatch(/tabular-nums/);
    await context.close();
  });

  it('sorting by last seen does not move cards under the pointer; Re-sort applies the new order', async () => {
    const { context, page } = await open({ width: 1280, height: 900 });
    // The whole fleet: the simulated sensors on top send all the time, the seeded ones below are quiet.
    await openFleet(page, '');
    await page.getByLabel('Sort by').selectOption('lastSeen');
    const ids = () => page.locator('.card').evaluateAll((cards) => cards.slice(0, 12).map((c) => c.getAttribute('data-sensor')));
    const first = await ids();
    // The simulated sensors land in the same live frames (equal last seen), so their fresh order may equal the
    // held one: a reading from a quiet card low in the order makes the fresh sort differ for sure.
    const low = first[first.length - 1]!;
    expect(low).toMatch(/^seed-/);
    await expect
      .poll(
        async () => {
          await publishAs(low, { values: { temperature: 21.5, humidity: 40 } });
          return page.locator('[data-moved]').getAttribute('data-moved').then(Number);
        },
        { timeout: 20_000, interval: 1000 },
      )
      .toBeGreaterThan(0);
    await page.waitForTimeout(3000);
    expect(await ids()).toEqual(first);
    // Another reading from the low card: the order still drifts from the held one, and the hint says so.
    await expect
      .poll(
        async () => {
          await publishAs(low, { values: { temperature: 21.6, humidity: 40 } });
          return page.locator('[data-moved]').textContent();
        },
        { timeout: 20_000, interval: 1000 },
      )
      .toMatch(/\d+ out of order/);
    await page.getByRole('button', { name: 'Re-sort' }).click();
    // Right after a re-sort the order is a fresh sort by last seen: newest first.
    const seen = await page.evaluate(() => {
      const fleet = (window as unknown as { __vigia: { fleet: { sensors: Map<string, { lastSeen: number | null }> } } }).__vigia.fleet;
      return [...document.querySelectorAll('.card')]
        .slice(0, 6)
        .map((c) => fleet.sensors.get(c.getAttribute('data-sensor')!)!.lastSeen ?? 0);
    });
    for (let i = 1; i < seen.length; i++) expect(seen[i - 1] + 1000).toBeGreaterThanOrEqual(seen[i]);
    await context.close();
  });
});

describe('the fleet at scale', () => {
  it('renders only the cards on screen, subscribes to those alone and loads their sparklines in one batched request', async () => {
    const { context, page } = await open({ width: 1280, height: 900 });
    const perSensorReadings: string[] = [];
    const batched: string[] = [];
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (/^\/api\/sensors\/[^/]+\/readings$/.test(url.pathname)) perSensorReadings.push(url.pathname);
      if (url.pathname === '/api/readings') batched.push(url.searchParams.get('sensorIds') ?? '');
    });
    const subscribed: string[][] = [];
    page.on('websocket', (ws) =>
      ws.on('framereceived', (frame) => {
        const data = JSON.parse(String(frame.payload)) as { type?: string; sensorIds?: string[] };
        if (data.type === 'subscribed') subscribed.push(data.sensorIds ?? []);
      }),
    );
    await openFleet(page, '');
    // The first page of the list draws first; the rest follows at once.
    await expect
      .poll(() => page.locator('ul.cards').getAttribute('data-total').then(Number), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(SEEDED + 4);
    const total = Number(await page.locator('ul.cards').getAttribute('data-total'));
    expect(total).toBeGreaterThanOrEqual(SEEDED + 4);
    const rendered = await page.locator('.card').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-sensor')!));
    expect(rendered.length).toBeLessThan(60);
    // The list is as tall as the whole fleet, so the scroll bar tells the truth.
    expect(await page.evaluate(() => document.documentElement.scrollHeight)).toBeGreaterThan((total / 4) * 200);

    await expect.poll(() => subscribed.at(-1)?.slice().sort(), { timeout: 10_000 }).toEqual([...rendered].sort());
    expect(subscribed.flat()).not.toContain('*');
    // Every card on screen gets its sparkline from a batch. The whole list re-orders the first page's cards,
    // and the newcomers' batch leaves 150 ms after their subscription: wait for it, or it would be taken for
    // the batch the scroll below causes.
    const askedFor = () => new Set(batched.flatMap((ids) => ids.split(',')));
    await expect.poll(() => rendered.filter((id) => !askedFor().has(id)), { timeout: 5000 }).toEqual([]);
    expect(perSensorReadings).toEqual([]);
    expect(batched.length).toBeGreaterThanOrEqual(1);
    for (const ids of batched) expect(ids.split(',').length).toBeLessThanOrEqual(100);

    // Scrolled to the bottom: the last cards render, get their sparklines in a batch and become the subscriptions.
    const batchesBefore = batched.length;
    await page.evaluate(() => scrollTo(0, document.documentElement.scrollHeight));
    await page.locator('.card[data-sensor="sim-3"], .card[data-sensor="seed-150"]').first().waitFor({ timeout: 5000 });
    const bottom = await page.locator('.card').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-sensor')!));
    expect(bottom).toContain('seed-150');
    await expect.poll(() => subscribed.at(-1)?.slice().sort(), { timeout: 10_000 }).toEqual([...bottom].sort());
    await expect.poll(() => batched.slice(batchesBefore).some((ids) => ids.split(',').includes('seed-150')), { timeout: 5000 }).toBe(true);
    for (const ids of batched.slice(batchesBefore)) expect(ids.split(',').filter((id) => !bottom.includes(id))).toEqual([]);
    expect(perSensorReadings).toEqual([]);
    await context.close();
  });

  it('the header counts the sensors a filter matches', async () => {
    const { context, page } = await open({ width: 1280, height: 900 });
    await openFleet(page, 'seed-01');
    // seed-010 … seed-019.
    await expect
      .poll(() => page.locator('#fleet-title .muted').textContent())
      .toMatch(new RegExp(`^10 of ${SEEDED + 4} sensors match, \\d+ online$`));
    expect(await page.locator('.card').count()).toBe(10);
    await page.getByLabel('Filter by name').fill('');
    await expect.poll(() => page.locator('#fleet-title .muted').textContent()).toMatch(new RegExp(`^\\d+ of ${SEEDED + 4} online$`));
    await context.close();
  });
});
