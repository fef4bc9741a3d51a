import { describe, expect, it } from 'vitest';
import { MAX_PAYLOAD_BYTES } from '../../../lambdas/shared/names.js';
import { parseCommand } from '../../../device-sim/commands.js';
import { OfflineQueue } from '../../../device-sim/offline-queue.js';
import { batchPayloads, readingPayload, type Reading } from '../../../device-sim/payload.js';
import { intervalProblem, publishRateProblem, PublishWindow } from '../../../device-sim/publish-rate.js';
import { UNITS } from '../../../device-sim/signals.js';

const reading = (ts: number): Reading => ({
  ts,
  values: { temperature: 21.5, humidity: 48.2 },
  units: { temperature: UNITS.temperature, humidity: '%' },
});

describe('telemetry payloads', () => {
  it('form 1 holds only ts, values and units', () => {
    expect(JSON.parse(readingPayload(reading(1)))).toEqual({
      ts: 1,
      values: { temperature: 21.5, humidity: 48.2 },
      units: { temperature: '°C', humidity: '%' },
    });
  });

  it('form 2 splits into arrays of at most 500 readings, in order, losing none', () => {
    const readings = Array.from({ length: 1234 }, (_, i) => reading(i));
    const batches = batchPayloads(readings);
    expect(batches.map((b) => b.readings.length)).toEqual([500, 500, 234]);
    const sent = batches.flatMap((b) => JSON.parse(b.payload) as Reading[]);
    expect(sent.map((r) => r.ts)).toEqual(readings.map((r) => r.ts));
  });

  it('form 2 stays within 128 KiB per payload, counting UTF-8 bytes', () => {
    const wide: Reading[] = Array.from({ length: 500 }, (_, i) => ({
      ts: i,
      values: Object.fromEntries(Array.from({ length: 32 }, (_, m) => [`metric_${m}`, 1234.5678])),
      units: Object.fromEntries(Array.from({ length: 32 }, (_, m) => [`metric_${m}`, '°C°C°C°C'])),
    }));
    const batches = batchPayloads(wide);
    expect(batches.length).toBeGreaterThan(1);
    for (const b of batches) expect(Buffer.byteLength(b.payload)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
    expect(batches.reduce((n, b) => n + b.readings.length, 0)).toBe(500);
  });
});

describe('offline queue', () => {
  it('drops the oldest beyond its limit and counts them', () => {
    const q = new OfflineQueue<number>(3);
    q.push(1, 2, 3, 4, 5);
    expect(q.size).toBe(3);
    expect(q.dropped).toBe(2);
    expect(q.take(10)).toEqual([3, 4, 5]);
  });

  it('puts failed readings back in front', () => {
    const q = new OfflineQueue<number>(10);
    q.push(1, 2, 3, 4);
    const taken = q.take(2);
    q.push(5);
    q.requeue(taken);
    expect(q.take(10)).toEqual([1, 2, 3, 4, 5]);
  });
});

describe('publish rate', () => {
  it('refuses intervals outside the contract and settings above 100 publishes per second', () => {
    expect(intervalProblem(1000)).toBeUndefined();
    expect(intervalProblem(99)).toMatch(/between 100/);
    expect(intervalProblem(3_600_001)).toMatch(/between 100/);
    expect(intervalProblem(150.5)).toMatch(/integer/);
    expect(intervalProblem(100, 5)).toMatch(/exceed 5 publishes/);
    expect(publishRateProblem(101)).toMatch(/100 publishes per second/);
    expect(publishRateProblem(100)).toBeUndefined();
  });

  it('lets at most the limit of publishes start in any second', () => {
    let now = 0;
    const w = new PublishWindow(3, () => now);
    for (let i = 0; i < 3; i++) {
      expect(w.delay()).toBe(0);
      w.record();
      now += 10;
    }
    expect(w.delay()).toBe(970);
    now = 1000;
    expect(w.delay()).toBe(0);
  });
});

describe('commands', () => {
  const cmd = (body: unknown) => parseCommand(Buffer.from(JSON.stringify(body)));

  it('accepts setInterval with an integer 100 … 3 600 000', () => {
    expect(cmd({ id: 'c1', name: 'setInterval', args: { intervalMs: 250 }, issuedAt: 1 })).toEqual({
      kind: 'setInterval',
      id: 'c1',
      intervalMs: 250,
    });
    expect(cmd({ name: 'setInterval', args: { intervalMs: 3_600_000 } })).toMatchObject({ kind: 'setInterval' });
  });

  it('ignores unknown commands, bad arguments and non-JSON', () => {
    expect(cmd({ name: 'reboot' })).toMatchObject({ kind: 'ignored', reason: expect.stringMatching(/unknown command/) });
    expect(cmd({ name: 'setInterval', args: { intervalMs: 50 } })).toMatchObject({ kind: 'ignored' });
    expect(cmd({ name: 'setInterval', args: { intervalMs: '1000' } })).toMatchObject({ kind: 'ignored' });
    expect(cmd({ name: 'setInterval' })).toMatchObject({ kind: 'ignored' });
    expect(cmd([1])).toMatchObject({ kind: 'ignored' });
    expect(parseCommand(Buffer.from('{'))).toMatchObject({ kind: 'ignored', reason: 'not JSON' });
  });
});
