/**
 * The local on-failure file (local/failed-invocations.ts): what a poisoned stream writes is bounded, by entry
 * and by file, and counted.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FailedInvocationFile } from '../../local/failed-invocations.js';

const entry = (n: number, event: unknown = { sensorId: `s${n}`, payload: 'eyJ0cyI6MX0=' }) => ({
  at: new Date(0).toISOString(),
  rule: 'StoreTelemetry',
  target: 'historyWriter',
  condition: 'RetriesExhausted' as const,
  error: 'boom',
  event,
  sequenceNumber: String(1000 + n),
});

describe('FailedInvocationFile', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vigia-failed-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('rotates to <name>.1 before passing its size: never more than twice the bound on disk, no line split or lost', async () => {
    const file = new FailedInvocationFile(path.join(dir, 'failed-invocations.jsonl'), { maxFileBytes: 4096 });
    for (let i = 0; i < 200; i += 1) await file.append([entry(i)]);
    const current = await stat(file.file);
    const previous = await stat(file.previousFile);
    expect(current.size).toBeLessThanOrEqual(4096);
    expect(previous.size).toBeLessThanOrEqual(4096);
    expect(file.previousFile).toBe(path.join(dir, 'failed-invocations.1.jsonl'));
    expect(file.counts.rotations).toBeGreaterThan(1);
    expect(file.counts.written).toBe(200);
    const lines = (await readFile(file.file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // The newest entries are kept whole and in order.
    expect(lines.at(-1)).toEqual(entry(199));
    expect(lines.map((l) => Number(l.sequenceNumber))).toEqual(lines.map((_, i) => 1000 + 200 - lines.length + i));
  });

  it('cuts an oversized event to its bound as text, saying how long it was, and counts it', async () => {
    const file = new FailedInvocationFile(path.join(dir, 'failed.jsonl'), { maxEventChars: 100 });
    const huge = { sensorId: 'big', payload: 'A'.repeat(10_000) };
    await file.append([entry(1, huge), { ...entry(2), error: 'e'.repeat(5000) }]);
    const [cut, long] = (await readFile(file.file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(cut.event).toBe(JSON.stringify(huge).slice(0, 100));
    expect(cut).toMatchObject({ eventTruncated: true, eventChars: JSON.stringify(huge).length, sequenceNumber: '1001' });
    expect(long.error.length).toBeLessThanOrEqual(1025);
    expect(file.counts).toEqual({ written: 2, eventsTruncated: 1, rotations: 0 });
    expect(file.toPrometheus()).toMatch(/^vigia_local_failed_invocation_events_truncated_total 1$/m);
  });

  it('appends that race never interleave: each lands whole', async () => {
    const file = new FailedInvocationFile(path.join(dir, 'failed.jsonl'), { maxFileBytes: 2048 });
    await Promise.all(Array.from({ length: 50 }, (_, i) => file.append([entry(i), entry(i + 100)])));
    const text = `${await readFile(file.previousFile, 'utf8')}${await readFile(file.file, 'utf8')}`;
    for (const line of text.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    expect(file.counts.written).toBe(100);
  });
});
