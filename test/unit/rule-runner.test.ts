/** The local rules engine: journaling, stream batches and their failures, one bad record never taking its batch with it. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RuleRunner, type RuleHandler } from '../../local/rules.js';

const telemetry = (value: unknown) => Buffer.from(JSON.stringify({ values: { v: value } }), 'utf8');

interface KinesisEvent {
  Records: Array<{ eventSource: string; kinesis: { data: string; partitionKey: string; sequenceNumber: string } }>;
}
const records = (event: unknown) =>
  (event as KinesisEvent).Records.map((r) => ({
    seq: r.kinesis.sequenceNumber,
    key: r.kinesis.partitionKey,
    event: JSON.parse(Buffer.from(r.kinesis.data, 'base64').toString('utf8')) as { sensorId: string; payload: string; receivedAt: number },
  }));

describe('RuleRunner', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vigia-rules-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function runner(
    historyWriter: RuleHandler,
    options: {
      mode?: 'direct' | 'stream';
      historyWindowMs?: number;
      broadcaster?: RuleHandler;
      presence?: RuleHandler;
      retryDelaysMs?: number[];
    } = {},
  ) {
    const ok: RuleHandler = async () => undefined;
    return new RuleRunner({
      handlers: {
        historyWriter: async () => historyWriter,
        broadcaster: async () => options.broadcaster ?? ok,
        presence: async () => options.presence ?? ok,
      },
      journalFile: path.join(dir, 'journal.jsonl'),
      failedFile: path.join(dir, 'failed.jsonl'),
      retryDelaysMs: options.retryDelaysMs ?? [1, 1],
      mode: options.mode ?? 'stream',
      windowMs: { historyWriter: options.historyWindowMs ?? 0, broadcaster: 0 },
      log: () => undefined,
    });
  }
  const meta = () => ({ clientId: null, receivedAt: Date.now() });

  it('hands both consumers the same Kinesis records: base64 rule event, partition key = sensorId, increasing sequence numbers', async () => {
    const seen: Record<string, Array<ReturnType<typeof records>[number]>> = { history: [], live: [] };
    const rules = runner(async (e) => void seen.history.push(...records(e)), {
      broadcaster: async (e) => void seen.live.push(...records(e)),
    });
    await rules.recover();
    for (const id of ['a', 'b', 'a']) await rules.accept(`sensors/${id}/telemetry`, telemetry(1), meta());
    await rules.idle();
    expect(seen.history.map((r) => r.key)).toEqual(['a', 'b', 'a']);
    expect(seen.history.map((r) => r.event.sensorId)).toEqual(['a', 'b', 'a']);
    expect(Buffer.from(seen.history[0].event.payload, 'base64').toString()).toBe('{"values":{"v":1}}');
    const seqs = seen.history.map((r) => BigInt(r.seq));
    expect([...seqs].sort((x, y) => (x < y ? -1 : 1))).toEqual(seqs);
    expect(new Set(seqs).size).toBe(3);
    expect(seen.live.map((r) => r.seq)).toEqual(seen.history.map((r) => r.seq));
  });

  it('with a batching window, records that arrive within it go to the function together', async () => {
    const batches: number[] = [];
    const rules = runner(async (event) => void batches.push((event as unknown as KinesisEvent).Records.length), { historyWindowMs: 300 });
    await rules.recover();
    for (let i = 0; i < 5; i++) await rules.accept(`sensors/w${i}/telemetry`, telemetry(i), meta());
    await rules.idle();
    expect(batches).toEqual([5]);
  });

  it('without a window, a batch goes once the consumer is free: one turn’s records together, those that came while it ran next', async () => {
    const batches: string[][] = [];
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    const rules = runner(async () => undefined, {
      broadcaster: async (e) => {
        batches.push(records(e).map((r) => r.event.sensorId));
        if (batches.length === 1) await blocked;
      },
    });
    await rules.recover();
    const accepted = ['a', 'b', 'c'].map((id) => rules.accept(`sensors/${id}/telemetry`, telemetry(1), meta()));
    await Promise.all(accepted);
    await vi.waitFor(() => expect(batches).toHaveLength(1));
    await Promise.all(['d', 'e'].map((id) => rules.accept(`sensors/${id}/telemetry`, telemetry(1), meta())));
    expect(batches).toEqual([['a', 'b', 'c']]);
    release();
    await rules.idle();
    expect(batches).toEqual([
      ['a', 'b', 'c'],
      ['d', 'e'],
    ]);
  });

  it('a reported batch item failure retries from that record on; the records before it are done', async () => {
    const calls: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const rules = runner(async (event) => {
      const rs = records(event);
      calls.push(rs.map((r) => r.event.sensorId));
      if (rs[0].event.sensorId === 'first') {
        await gate; // hold the first so the rest gather in one batch
        return { batchItemFailures: [] };
      }
      if (calls.length === 2) return { batchItemFailures: [{ itemIdentifier: rs[1].seq }] };
      return { batchItemFailures: [] };
    });
    await rules.recover();
    await rules.accept('sensors/first/telemetry', telemetry(0), meta());
    for (const id of ['a', 'b', 'c']) await rules.accept(`sensors/${id}/telemetry`, telemetry(1), meta());
    release();
    await rules.idle();
    expect(calls).toEqual([['first'], ['a', 'b', 'c'], ['b', 'c']]);
  });

  it('a record that keeps failing is retried alone and then dead-lettered; the others are stored', async () => {
    const stored: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const writer: RuleHandler = async (event) => {
      const rs = records(event);
      if (rs.some((r) => r.event.sensorId === 'first')) await gate;
      const poison = rs.findIndex((r) => r.event.sensorId === 'poison');
      const done = poison < 0 ? rs : rs.slice(0, poison);
      for (const r of done) stored.push(r.event.sensorId);
      return { batchItemFailures: poison < 0 ? [] : [{ itemIdentifier: rs[poison].seq }] };
    };
    const rules = runner(writer);
    await rules.recover();
    await rules.accept('sensors/first/telemetry', telemetry(1), meta());
    for (const id of ['a', 'poison', 'b', 'c']) await rules.accept(`sensors/${id}/telemetry`, telemetry(1), meta());
    release();
    await rules.idle();
    expect(stored).toEqual(['first', 'a', 'b', 'c']);
    const failed = (await readFile(path.join(dir, 'failed.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(failed.map((f) => f.event.sensorId)).toEqual(['poison']);
    expect(failed[0]).toMatchObject({ rule: 'StoreTelemetry', condition: 'RetriesExhausted', sequenceNumber: expect.any(String) });
    // Counted for /api/metrics.
    expect(rules.failedInvocations.toPrometheus()).toMatch(/^vigia_local_failed_invocations_total 1$/m);
  });

  it('a function that throws fails its whole batch; an unknown item identifier too', async () => {
    const calls: number[] = [];
    const rules = runner(
      async (event) => {
        calls.push(records(event).length);
        if (calls.length === 1) throw new Error('crashed');
        if (calls.length === 2) return { batchItemFailures: [{ itemIdentifier: 'not-a-record' }] };
        return { batchItemFailures: [] };
      },
      { historyWindowMs: 200 },
    );
    await rules.recover();
    for (let i = 0; i < 3; i++) await rules.accept(`sensors/x${i}/telemetry`, telemetry(i), meta());
    await rules.idle();
    expect(calls).toEqual([3, 3, 3]);
  });

  it('direct mode invokes once per message with the rule event itself', async () => {
    const events: unknown[] = [];
    const rules = runner(async (e) => void events.push(e), { mode: 'direct' });
    await rules.recover();
    await rules.accept('sensors/d/telemetry', telemetry(1), meta());
    await rules.idle();
    expect(events).toEqual([expect.objectContaining({ sensorId: 'd', payload: telemetry(1).toString('base64') })]);
  });

  it('a backlog past the journal compaction size is kept whole through its rewrites and replayed', async () => {
    const backlog = 20_000;
    let live = 0;
    const first = runner(async () => new Promise(() => undefined), {
      // the history writer never finishes; the broadcaster does
      broadcaster: async (e) => void (live += records(e).length),
    });
    await first.recover();
    const padding = 'x'.repeat(400); // ~20 MB of journal lines for the backlog: past the 8 MB rewrite size
    for (let i = 0; i < backlog; i += 1000) {
      await Promise.all(
        Array.from({ length: 1000 }, (_, k) =>
          first.accept(`sensors/b${(i + k) % 100}/telemetry`, Buffer.from(JSON.stringify({ values: { v: i + k }, note: padding })), meta()),
        ),
      );
    }
    // A stop leaves queued batches journaled too: let the broadcaster's drain, so only the writer's backlog is left.
    await vi.waitFor(() => expect(live).toBe(backlog));
    await first.stop(10);
    const replayed = new Set<number>();
    const second = runner(async (event) => {
      for (const r of records(event))
        replayed.add((JSON.parse(Buffer.from(r.event.payload, 'base64').toString()) as { values: { v: number } }).values.v);
    });
    expect(await second.recover()).toBe(backlog);
    await second.idle();
    expect(replayed.size).toBe(backlog);
  }, 30_000);

  it('replays what was journaled but not finished, with its sequence number', async () => {
    const seen: string[] = [];
    const first = runner(async () => new Promise(() => undefined)); // never finishes, as a crash mid-invocation
    await first.recover();
    await first.accept('sensors/left/telemetry', telemetry(1), { clientId: 'left', receivedAt: Date.now() });
    await first.stop(10);
    const journal = (await readFile(path.join(dir, 'journal.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const seq = journal.find((j) => j.target === 'historyWriter').seq;
    const second = runner(async (event) => {
      for (const r of records(event)) seen.push(`${r.event.sensorId}@${r.seq}`);
    });
    expect(await second.recover()).toBe(1); // the history writer's; the broadcaster's had finished
    await second.idle();
    expect(seen).toEqual([`left@${seq}`]);
  });

  it('a stop waits for the running invocation only: the queue behind it stays journaled and is replayed', async () => {
    let release!: () => void;
    const started: string[] = [];
    const first = runner(async () => undefined, {
      presence: async (event) => {
        started.push(String(event.clientId));
        // The first presence event holds the function until released; the others queue behind it (one at a time).
        await new Promise<void>((resolve) => {
          release = resolve;
        });
      },
    });
    await first.recover();
    const presence = (id: string) =>
      Buffer.from(JSON.stringify({ clientId: id, timestamp: Date.now(), eventType: 'disconnected', versionNumber: 1 }));
    for (const id of ['p0', 'p1', 'p2', 'p3']) await first.accept(`$aws/events/presence/disconnected/${id}`, presence(id), meta());
    expect(started).toEqual(['p0']);
    // A grace far past the test's timeout: the stop must end when the running invocation does, not after the queue.
    const stopped = first.stop(60_000);
    release();
    await stopped;
    expect(started).toEqual(['p0']);
    await expect(first.accept('sensors/late/telemetry', telemetry(1), meta())).rejects.toThrow(/stopping/);

    const replayed: string[] = [];
    const second = runner(async () => undefined, { presence: async (event) => void replayed.push(String(event.clientId)) });
    expect(await second.recover()).toBe(3);
    await second.idle();
    expect(replayed).toEqual(['p1', 'p2', 'p3']);
  });

  it("a stop cuts a retry's wait short and leaves the failed batch journaled for the next start", async () => {
    let calls = 0;
    const first = runner(
      async () => {
        calls += 1;
        throw new Error('store down');
      },
      { retryDelaysMs: [60_000, 60_000] },
    );
    await first.recover();
    await first.accept('sensors/r/telemetry', telemetry(7), meta());
    await vi.waitFor(() => expect(calls).toBe(1));
    await first.stop(60_000);
    expect(calls).toBe(1);
    const second = runner(async () => undefined);
    expect(await second.recover()).toBe(1);
    await second.idle();
  });
});
