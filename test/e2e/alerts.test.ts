/**
 * Alerts end to end (contract §8) with sign-in on: an operator creates a rule on the rules page, a device
 * publishes a hot reading, the bar shows the alert within 2 s and the operator acknowledges it; a viewer
 * sees the alert but can neither acknowledge it nor edit rules.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalRuntime, type LocalRuntime } from '../../local/runtime.js';
import { DIST, buildFrontendIfStale, launchChromium, signIn as signInAs } from './harness.js';

let dataDir: string;
let runtime: LocalRuntime;
let browser: Browser;
let device: MqttClient;

beforeAll(async () => {
  buildFrontendIfStale();
  dataDir = mkdtempSync(path.join(tmpdir(), 'vigia-e2e-alerts-'));
  runtime = await startLocalRuntime({ port: 0, mqttPort: 0, mqttsPort: 0, dataDir, staticDir: DIST, auth: true, log: () => undefined });
  device = await mqtt.connectAsync(runtime.urls.mqtt!, { clientId: 'e2e-hot', protocolVersion: 5, reconnectPeriod: 0 });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await device?.endAsync(true).catch(() => undefined);
  await runtime?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function signIn(email: string): Promise<Page> {
  const page = await signInAs(browser, runtime.urls.dashboard, email);
  await page.locator('.conn[data-state="live"]').waitFor({ timeout: 20_000 });
  return page;
}

const publish = (temperature: number) =>
  device.publishAsync('sensors/e2e-hot/telemetry', JSON.stringify({ values: { temperature }, units: { temperature: '°C' } }), { qos: 1 });

describe('alerts on the dashboard', () => {
  it('operator creates a rule, the bar shows the hot reading within 2 s, the operator acknowledges; a viewer only looks', async () => {
    const operator = await signIn('operator@local');
    await publish(21);
    await operator.goto(`${runtime.urls.dashboard}#/alerts/rules`);
    await operator.getByRole('heading', { name: 'Alert rules' }).waitFor();
    await operator.getByRole('button', { name: 'New rule' }).click();
    const form = operator.getByRole('form', { name: 'New rule' });
    await form.locator('input[name="name"]').fill('Hot e2e');
    await form.locator('input[name="sensorIds"]').fill('e2e-hot');
    await form.locator('input[name="metric"]').fill('temperature');
    // Validation: no threshold yet.
    await form.getByRole('button', { name: 'Create rule' }).click();
    await expect.poll(() => form.locator('.problem').getAttribute('data-field')).toBe('value');
    await form.locator('input[name="value"]').fill('30');
    await form.locator('select[name="severity"]').selectOption('critical');
    await form.getByRole('button', { name: 'Create rule' }).click();
    await operator.locator('table.rules tr', { hasText: 'Hot e2e' }).waitFor();
    expect(await operator.locator('table.rules tr', { hasText: 'Hot e2e' }).textContent()).toContain('temperature > 30');
    expect(await operator.locator('.alert-bar').getAttribute('data-count')).toBe('0');

    await publish(35);
    const published = Date.now();
    await operator.locator('.alert-bar[data-count="1"]').waitFor({ timeout: 2000 });
    expect(Date.now() - published).toBeLessThan(2000);
    expect(await operator.locator('.alert-summary').textContent()).toMatch(/1 firing.*1 critical/);

    // The viewer sees it, may not acknowledge, and has no way to change rules.
    const viewer = await signIn('viewer@local');
    await viewer.locator('.alert-bar[data-count="1"]').waitFor({ timeout: 10_000 });
    await viewer.getByRole('button', { name: 'Show' }).click();
    const viewerAck = viewer.locator('.alert-item').getByRole('button', { name: 'Acknowledge' });
    expect(await viewerAck.isDisabled()).toBe(true);
    await viewer.locator('.alert-links a', { hasText: 'Rules' }).click();
    await viewer.locator('table.rules tr', { hasText: 'Hot e2e' }).waitFor();
    expect(await viewer.getByRole('button', { name: 'New rule' }).count()).toBe(0);
    expect(await viewer.getByRole('button', { name: 'Edit' }).count()).toBe(0);
    expect(await viewer.locator('.alert-page').textContent()).toMatch(/operators only/i);

    // The operator acknowledges; both dashboards show it.
    await operator.getByRole('button', { name: 'Show' }).click();
    await operator.locator('.alert-item').getByRole('button', { name: 'Acknowledge' }).click();
    await operator.locator('.alert-item .acked').waitFor({ timeout: 5000 });
    expect(await operator.locator('.alert-item .acked').textContent()).toBe('acknowledged by operator@local');
    await viewer.locator('.alert-item .acked').waitFor({ timeout: 5000 });

    // The fleet card carries the badge.
    await operator.locator('.brand').click();
    await operator.locator('.card[data-sensor="e2e-hot"] .alert-badge').waitFor({ timeout: 10_000 });
    expect(await operator.locator('.card[data-sensor="e2e-hot"] .alert-badge').getAttribute('data-severity')).toBe('critical');

    // The history view lists the fired and acknowledged events.
    await operator.locator('.alert-links a', { hasText: 'History' }).click();
    await operator.locator('table.alert-history tr[data-kind="fired"]').waitFor();
    expect(await operator.locator('table.alert-history tr[data-kind="acknowledged"]').count()).toBe(1);
    await operator.context().close();
    await viewer.context().close();
  });
});
