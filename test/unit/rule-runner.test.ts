/** The local rules engine: journaling, batching, retries, and one bad event never taking its batch with it. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuleRunner, type RuleHandler } from '../../local/rules.js';

const telemetry = (sensorId: string, value: unknown) => Buffer.from(JSON.stringify({ values: { v: value } }), 'utf8');

describe('RuleRunner', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vigia-rules-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function runner(historyWriter: RuleHandler, mode: 'direct' | 'queued' = 'queued', batchWindowMs = 0) {
    const ok: RuleHandler = async () => undefined;
    return new RuleRunner({
      handlers: { historyWriter: async () => historyWriter, broadcaster: async () => ok, presence: async () => ok },
      journalFile: path.join(dir, 'journal.jsonl'),
      failedFile: path.join(dir, 'failed.jsonl'),
      retryDelaysMs: [1, 1],
      mode,
      batchWindowMs,
      log: () => undefined,
    });
  }

  it('a batch that keeps failing is retried event by event: only the bad event is dead-lettered', async () => {
    const stored: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const writer: RuleHandler = async (event) => {
      const events = (event as { Records?: Array<{ body: string }> }).Records?.map((r) => JSON.parse(r.body)) ?? [event];
      if (events.some((e) => e.sensorId === 'first')) await gate; // hold the first so the rest gather in one batch
      if (events.some((e) => e.sensorId === 'poison')) throw new Error('cannot store this one');
      for (const e of events) stored.push(e.sensorId as string);
    };
    const rules = runner(writer);
    await rules.recover();
    const meta = { clientId: null, receivedAt: Date.now() };
    await rules.accept('sensors/first/telemetry', telemetry('first', 1), meta);
    for (const id of ['a', 'poison', 'b', 'c']) await rules.accept(`sensors/${id}/telemetry`, telemetry(id, 1), meta);
    release();
    await rules.idle();
    expect(stored.sort()).toEqual(['a', 'b', 'c', 'first']);
    const failed = (await readFile(path.join(dir, 'failed.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(failed.map((f) => f.event.sensorId)).toEqual(['poison']);
    expect(failed[0]).toMatchObject({ rule: 'StoreTelemetry', condition: 'RetriesExhausted', error: 'cannot store this one' });
  });

  it('with a batching window, events that arrive within it go to the function together', async () => {
    const batches: number[] = [];
    const rules = runner(async (event) => {
      batches.push((event as { Records: unknown[] }).Records.length);
    }, 'queued', 300);
    await rules.recover();
    for (let i = 0; i < 5; i++) {
      await rules.accept(`sensors/w${i}/telemetry`, telemetry(`w${i}`, i), { clientId: null, receivedAt: Date.now() });
    }
    await rules.idle();
    expect(batches).toEqual([5]);
  });

  it('without a window, what gathers while the function is busy is the next batch', async () => {
    const batches: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const rules = runner(async (event) => {
      batches.push((event as { Records: unknown[] }).Records.length);
      if (batches.length === 1) await gate;
    });
    await rules.recover();
    for (let i = 0; i < 7; i++) {
      await rules.accept(`sensors/n${i}/telemetry`, telemetry(`n${i}`, i), { clientId: null, receivedAt: Date.now() });
    }
    release();
    await rules.idle();
    // The first invocation took the first event; what arrived while it was busy went in later batches.
    expect(batches.reduce((a, b) => a + b, 0)).toBe(7);
    expect(batches[0]).toBe(1);
  });

  it('replays what was journaled but not finished', async () => {
    const seen: string[] = [];
    const first = runner(async () => new Promise(() => undefined)); // never finishes, as a crash mid-invocation
    await first.recover();
    await first.accept('sensors/left/telemetry', telemetry('left', 1), { clientId: 'left', receivedAt: Date.now() });
    await first.stop(10);
    const second = runner(async (event) => {
      const events = (event as { Records?: Array<{ body: string }> }).Records?.map((r) => JSON.parse(r.body)) ?? [event];
      for (const e of events) seen.push(e.sensorId as string);
    });
    expect(await second.recover()).toBe(1); // the history writer's; the broadcaster's had finished
    await second.idle();
    expect(seen).toEqual(['left']);
  });
});
