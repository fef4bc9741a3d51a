/**
 * The rules engine stand-in: the same rule definitions as the cloud's IoT topic rules, evaluated on every
 * message. `direct` invokes the target handlers once per message, asynchronously, with Lambda's asynchronous
 * retry policy (two retries) and an on-failure destination (a JSON-lines file in the data folder). `stream`
 * mirrors the cloud's Kinesis ingest: each telemetry message becomes one stream record (base64 data, partition
 * key = sensorId, an increasing sequence number) that the history writer and the broadcaster each consume in
 * order, one batch in flight each (one shard), per window, with ReportBatchItemFailures: a batch is retried
 * from the first record its function reports failed. Presence stays direct, as in the cloud.
 *
 * A matched message is first appended to a journal in the data folder, and only then does the broker
 * acknowledge it: an acknowledged reading survives a crash or a Ctrl-C and is replayed at the next start.
 */
import type { IngestMode } from '../lambdas/shared/contract.js';
import { randomUUID } from 'node:crypto';
import { type FileHandle, appendFile, open, readFile, rename, writeFile } from 'node:fs/promises';
import type { RuleDefinition, RuleTarget } from '../lambdas/shared/rules.js';
import { RULES, TELEMETRY_STREAM_RULE, parseBasicIngestTopic, projectRuleEvent, topicMatches } from '../lambdas/shared/rules.js';
import { STREAM_BATCHES } from '../lambdas/shared/names.js';
import type { MessageMeta } from './broker.js';
import { FailedInvocationFile, type FailedInvocationLimits } from './failed-invocations.js';

export type RuleHandler = (event: Record<string, unknown>) => Promise<unknown>;

export interface RuleRunnerOptions {
  handlers: Record<RuleTarget, () => Promise<RuleHandler>>;
  journalFile: string;
  failedFile: string;
  /** Bounds of the on-failure file (size, rotation). @default FailedInvocationFile's */
  failedFileLimits?: FailedInvocationLimits;
  log: (entry: Record<string, unknown>) => void;
  /** Delays before the retries of a failed invocation or batch. @default [1000, 2000] (Lambda: about 1 and 2 minutes) */
  retryDelaysMs?: number[];
  /** @default stream */
  mode?: IngestMode;
  /** Direct mode: invocations of one function in flight at once. @default 32 */
  concurrency?: number;
  /** Stream mode: records per batch at most, per consumer. @default {historyWriter: 10000, broadcaster: 1000} */
  maxBatch?: Partial<Record<StreamConsumer, number>>;
  /**
   * Stream mode: how long the first waiting record may wait for others to join its batch (the event source
   * mapping's batching window), per consumer. The history window is long, so a batch holds several readings of a
   * sensor. The live window is none: a batch goes as soon as the consumer is free, holding every record that came
   * while it was busy (and those that came in the same turn of the event loop), so batches grow with the load
   * and a reading on a quiet shard is not held back.
   * @default {historyWriter: 1000, broadcaster: 0}
   */
  windowMs?: Partial<Record<StreamConsumer, number>>;
  rules?: readonly RuleDefinition[];
}

interface Invocation {
  id: string;
  rule: string;
  target: RuleTarget;
  event: Record<string, unknown>;
  /** Stream mode: the record's sequence number (kept in the journal, so a replay keeps its place). */
  seq?: string;
}

/** The functions that read the telemetry stream, each through its own event source mapping. */
export type StreamConsumer = 'historyWriter' | 'broadcaster';
const STREAM_CONSUMERS: readonly RuleTarget[] = ['historyWriter', 'broadcaster'];
export const STREAM_DEFAULTS = {
  maxBatch: { historyWriter: STREAM_BATCHES.historyWriter.maxRecords, broadcaster: STREAM_BATCHES.broadcaster.maxRecords },
  windowMs: { historyWriter: 1_000, broadcaster: 0 },
} as const;

/** Each event's JSON, made once: the journal line and the stream record's data both hold it. */
const eventJson = new WeakMap<Record<string, unknown>, string>();
function jsonOf(event: Record<string, unknown>): string {
  let json = eventJson.get(event);
  if (json === undefined) eventJson.set(event, (json = JSON.stringify(event)));
  return json;
}

/** The journal line of an invocation, as `JSON.stringify(invocation)` would write it, its event serialized once. */
function journalLine(i: Invocation): string {
  const seq = i.seq === undefined ? '' : `,"seq":${JSON.stringify(i.seq)}`;
  return `{"id":${JSON.stringify(i.id)},"rule":${JSON.stringify(i.rule)},"target":${JSON.stringify(i.target)},"event":${jsonOf(i.event)}${seq}}\n`;
}

/**
 * Bytes appended since the last compaction past which the journal is rewritten holding only the open
 * invocations: at least this, and at least twice what the last rewrite kept, so a large backlog is not
 * re-serialized again and again (each byte appended pays for a bounded share of the rewrites).
 */
const COMPACT_AFTER_BYTES = 8 * 1024 * 1024;

/**
 * Appends lines in groups: every waiter of one group shares one write. Writes are serialized, so the
 * journal can be compacted between two of them.
 */
class GroupWriter {
  private pending: string[] = [];
  private waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private writing: Promise<void> | null = null;
  private written = 0;
  /** What the last compaction kept (the open invocations then). */
  private kept = 0;
  private handle: FileHandle | undefined;
  /** After close, a late write (an invocation finishing after stop) opens the file for itself. */
  private closed = false;

  constructor(
    private readonly file: string,
    private readonly snapshot: () => string,
  ) {}

  append(line: string): Promise<void> {
    this.pending.push(line);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.writing ??= this.flush();
    return done;
  }

  private async flush(): Promise<void> {
    await Promise.resolve();
    while (this.pending.length > 0) {
      const lines = this.pending.splice(0);
      const waiters = this.waiters.splice(0);
      try {
        if (this.written - this.kept > Math.max(COMPACT_AFTER_BYTES, 2 * this.kept)) await this.compact();
        const text = lines.join('');
        // One handle kept open: opening and closing the file per group was a good share of the broker's thread.
        if (this.closed) await appendFile(this.file, text);
        else await (this.handle ??= await open(this.file, 'a')).appendFile(text);
        this.written += text.length;
        for (const w of waiters) w.resolve();
      } catch (err) {
        for (const w of waiters) w.reject(err as Error);
      }
    }
    this.writing = null;
  }

  /** Rewrites the journal as the open invocations alone (atomically: a crash keeps one or the other). */
  private async compact(): Promise<void> {
    await this.closeHandle();
    const tmp = `${this.file}.tmp`;
    const text = this.snapshot();
    await writeFile(tmp, text);
    await rename(tmp, this.file);
    this.written = text.length;
    this.kept = text.length;
  }

  async idle(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }

  /** Waits for the pending writes, then closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
    await this.closeHandle();
  }
}

/**
 * How rules reach their functions, as the cloud's `ingest` setting: `direct`, the rule invokes the function
 * once per message; `stream`, the telemetry rule writes to a stream the functions read in batches, as
 * Kinesis events.
 */
export type { IngestMode };

export class RuleRunner {
  private readonly rules: readonly RuleDefinition[];
  private readonly journal: GroupWriter;
  private readonly queues = new Map<RuleTarget, Invocation[]>();
  private readonly active = new Map<RuleTarget, number>();
  /** Journaled and not finished: what a compaction keeps. */
  private readonly open = new Map<string, Invocation>();
  /** Set by stop(): no new batch starts, and a retry's wait ends at once (its events stay journaled). */
  private stopping = false;
  private readonly stopSignal = new AbortController();
  /** The batches being run now: what a stop waits for. */
  private readonly running = new Set<Promise<void>>();
  private idleWaiters: Array<() => void> = [];
  private readonly retryDelaysMs: number[];
  /** When each waiting event was queued (stream mode's batching window). */
  private readonly queuedAt = new Map<string, number>();
  /** Per consumer, the cancel of its pending window (a timer, or the end of this turn of the event loop). */
  private readonly windowTimers = new Map<RuleTarget, () => void>();
  /** Consumers without a window whose records' turn of the event loop has ended: their batch may go. */
  private readonly turnEnded = new Set<RuleTarget>();
  /** Sequence numbers: this start's time, then a counter, so they keep increasing across restarts. */
  private readonly seqBase = BigInt(Date.now()) * 1_000_000_000n;
  private seqNext = 0n;
  readonly mode: IngestMode;
  /** The on-failure destination, bounded (its counts are in /api/metrics). */
  readonly failedInvocations: FailedInvocationFile;

  constructor(private readonly options: RuleRunnerOptions) {
    this.rules = options.rules ?? RULES;
    this.failedInvocations = new FailedInvocationFile(options.failedFile, options.failedFileLimits);
    this.journal = new GroupWriter(options.journalFile, () => [...this.open.values()].map(journalLine).join(''));
    this.retryDelaysMs = options.retryDelaysMs ?? [1000, 2000];
    this.mode = options.mode ?? 'stream';
  }

  /** Replays what an earlier run accepted but did not finish, then starts afresh. */
  async recover(): Promise<number> {
    let text = '';
    try {
      text = await readFile(this.options.journalFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const open = new Map<string, Invocation>();
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const entry = JSON.parse(line) as Invocation | { done: string };
        if ('done' in entry) open.delete(entry.done);
        else open.set(entry.id, entry);
      } catch {
        // a torn last line from a crash: that message was never acknowledged
      }
    }
    // Start a new journal holding only the unfinished invocations.
    const tmp = `${this.options.journalFile}.tmp`;
    await writeFile(tmp, [...open.values()].map((i) => `${JSON.stringify(i)}\n`).join(''));
    await rename(tmp, this.options.journalFile);
    for (const invocation of open.values()) {
      this.open.set(invocation.id, invocation);
      this.enqueue(invocation);
    }
    if (open.size > 0) this.options.log({ level: 'info', message: 'replaying unfinished rule invocations', count: open.size });
    return open.size;
  }

  /** The broker's listener: journals every rule invocation the message triggers, then returns. */
  readonly accept = async (topic: string, payload: Buffer, meta: MessageMeta): Promise<void> => {
    if (this.stopping) throw new Error('rules engine is stopping');
    const invocations: Invocation[] = [];
    // One stream record per message, read by each consumer.
    let seq: string | undefined;
    let streamedEvent: Record<string, unknown> | undefined;
    for (const { rule, topic: ruleTopic } of this.rulesFor(topic)) {
      const streamed = this.isStreamed(rule.target);
      // The stream's consumers read one record: the telemetry rule's projection, made once.
      const event = streamed && streamedEvent ? streamedEvent : projectRuleEvent(rule, ruleTopic, payload, meta.receivedAt);
      if (!event) continue;
      if (streamed) {
        streamedEvent = event;
        seq ??= String(this.seqBase + this.seqNext++);
      }
      invocations.push({ id: randomUUID(), rule: rule.id, target: rule.target, event, ...(streamed ? { seq } : {}) });
    }
    if (invocations.length === 0) return;
    for (const invocation of invocations) this.open.set(invocation.id, invocation);
    // The functions may start at once; only the PUBACK waits for the journal. The journal keeps its lines in
    // order, so a `done` can never precede its record, and a record lost with a crash was never acknowledged
    // (the device sends it again, and the first write wins).
    const journaled = this.journal.append(invocations.map(journalLine).join(''));
    for (const invocation of invocations) this.enqueue(invocation);
    await journaled;
  };

  /**
   * The rules a message on this topic triggers, each with the topic its SQL sees. The one place a topic meets
   * the rules: a Basic Ingest message (`$aws/rules/<rule>/<topic>`) goes to the named rule only, which sees
   * `<topic>` (AWS IoT developer guide, "Reducing messaging costs with Basic Ingest"); any other message to
   * every rule its topic matches.
   */
  rulesFor(topic: string): Array<{ rule: RuleDefinition; topic: string }> {
    const basic = parseBasicIngestTopic(topic);
    // Locally, stream ingest's one telemetry rule is its two consumers' rules.
    const named = (r: RuleDefinition) =>
      r.id === basic?.ruleName || (basic?.ruleName === TELEMETRY_STREAM_RULE.id && this.isStreamed(r.target));
    const rules = basic ? this.rules.filter(named) : this.rules;
    const seen = basic ? basic.topic : topic;
    return rules.filter((rule) => topicMatches(rule.topicFilter, seen)).map((rule) => ({ rule, topic: seen }));
  }

  private isStreamed(target: RuleTarget): boolean {
    return this.mode === 'stream' && STREAM_CONSUMERS.includes(target);
  }

  private enqueue(invocation: Invocation): void {
    this.queuedAt.set(invocation.id, Date.now());
    let queue = this.queues.get(invocation.target);
    if (!queue) this.queues.set(invocation.target, (queue = []));
    queue.push(invocation);
    this.pump(invocation.target);
  }

  /** Invocations of one target in flight at once: a stream shard is read one batch at a time, in order. */
  private concurrency(target: RuleTarget): number {
    if (target === 'presence' || this.isStreamed(target)) return 1;
    return this.options.concurrency ?? 32;
  }

  private maxBatch(target: RuleTarget): number {
    if (!this.isStreamed(target)) return 1;
    const consumer = target as StreamConsumer;
    return this.options.maxBatch?.[consumer] ?? STREAM_DEFAULTS.maxBatch[consumer];
  }

  /**
   * Stream mode: how long to wait before the next batch of this consumer may go (0: now), or `turn`: once the
   * records arriving in this turn of the event loop are in (a consumer without a window).
   */
  private windowWait(target: RuleTarget, queue: Invocation[]): number | 'turn' {
    if (!this.isStreamed(target) || queue.length >= this.maxBatch(target)) return 0;
    const consumer = target as StreamConsumer;
    const windowMs = this.options.windowMs?.[consumer] ?? STREAM_DEFAULTS.windowMs[consumer];
    if (windowMs <= 0) return this.turnEnded.has(target) ? 0 : 'turn';
    return Math.max(0, (this.queuedAt.get(queue[0].id) ?? 0) + windowMs - Date.now());
  }

  private pump(target: RuleTarget): void {
    const queue = this.queues.get(target) ?? [];
    while ((this.active.get(target) ?? 0) < this.concurrency(target) && queue.length > 0 && !this.stopping) {
      const wait = this.windowWait(target, queue);
      if (wait === 'turn') {
        // Messages parsed from one read of a socket, or of several, come in one turn: they go in one batch.
        if (!this.windowTimers.has(target)) {
          const immediate = setImmediate(() => {
            this.windowTimers.delete(target);
            this.turnEnded.add(target);
            this.pump(target);
            this.turnEnded.delete(target);
          });
          this.windowTimers.set(target, () => clearImmediate(immediate));
        }
        return;
      }
      if (wait > 0) {
        if (!this.windowTimers.has(target)) {
          const timer = setTimeout(() => {
            this.windowTimers.delete(target);
            this.pump(target);
          }, wait);
          this.windowTimers.set(target, () => clearTimeout(timer));
        }
        return;
      }
      const batch = queue.splice(0, this.maxBatch(target));
      for (const i of batch) this.queuedAt.delete(i.id);
      this.active.set(target, (this.active.get(target) ?? 0) + 1);
      const running: Promise<void> = this.run(target, batch).finally(() => {
        this.running.delete(running);
        this.active.set(target, (this.active.get(target) ?? 1) - 1);
        if (this.open.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
        this.pump(target);
      });
      this.running.add(running);
    }
  }

  /** The event the function receives: the rule's own event, or a Kinesis batch of stream records. */
  private eventFor(target: RuleTarget, batch: Invocation[]): Record<string, unknown> {
    if (!this.isStreamed(target)) return batch[0].event;
    return {
      Records: batch.map((i) => ({
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: String(i.event.sensorId ?? ''),
          sequenceNumber: i.seq!,
          data: Buffer.from(jsonOf(i.event)).toString('base64'),
          approximateArrivalTimestamp: Number(i.event.receivedAt ?? Date.now()) / 1000,
        },
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        eventID: `shardId-000000000000:${i.seq}`,
        eventName: 'aws:kinesis:record',
        invokeIdentityArn: `arn:aws:iam::000000000000:role/vigia-${i.target}`,
        awsRegion: 'local',
        eventSourceARN: 'arn:aws:kinesis:local:000000000000:stream/vigia-telemetry',
      })),
    };
  }

  /**
   * Where a batch must go on from after its function answered: the index of the first record it reported
   * failed (Kinesis retries from the lowest), or null when the whole batch is done. An identifier that names
   * no record of the batch fails the whole batch, as Lambda does.
   */
  private static firstFailed(batch: Invocation[], answer: unknown): number | null {
    const failures = (answer as { batchItemFailures?: Array<{ itemIdentifier?: unknown }> } | null)?.batchItemFailures;
    if (!Array.isArray(failures) || failures.length === 0) return null;
    let first: number | null = null;
    for (const f of failures) {
      const at = batch.findIndex((i) => i.seq === f?.itemIdentifier);
      if (at < 0) return 0;
      if (first === null || at < first) first = at;
    }
    return first;
  }

  private async run(target: RuleTarget, batch: Invocation[]): Promise<void> {
    const attempts = this.retryDelaysMs.length + 1;
    let lastError: Error | undefined;
    let remaining = batch;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await this.retryWait(this.retryDelaysMs[attempt - 1]);
      if (this.stopping) return; // left in the journal: replayed at the next start
      try {
        const handler = await this.options.handlers[target]();
        const answer = await handler(this.eventFor(target, remaining));
        const failedAt = this.isStreamed(target) ? RuleRunner.firstFailed(remaining, answer) : null;
        await this.finish(remaining.slice(0, failedAt ?? remaining.length));
        if (failedAt === null) return;
        remaining = remaining.slice(failedAt);
        lastError = new Error(`batch item failure at ${remaining[0].seq}`);
      } catch (err) {
        lastError = err as Error;
      }
      if (this.stopping) return; // left in the journal: replayed at the next start
      this.options.log({
        level: 'warn',
        message: 'rule invocation failed',
        rules: [...new Set(remaining.map((i) => i.rule))],
        events: remaining.length,
        attempt: attempt + 1,
        error: lastError.message,
      });
    }
    if (this.stopping) return;
    if (remaining.length > 1) {
      // One bad record must not take its batch with it: each is retried alone, in order (bisect on error).
      this.options.log({ level: 'warn', message: 'batch failed; retrying its records one by one', events: remaining.length });
      for (const invocation of remaining) await this.run(target, [invocation]);
      return;
    }
    // Lambda's on-failure destination (the stream mapping's, or the asynchronous invocation's): for an operator.
    const at = new Date().toISOString();
    await this.failedInvocations.append(
      remaining.map((i) => ({
        at,
        rule: i.rule,
        target: i.target,
        condition: 'RetriesExhausted',
        error: lastError?.message,
        event: i.event,
        ...(i.seq ? { sequenceNumber: i.seq } : {}),
      })),
    );
    await this.finish(remaining);
  }

  private async finish(batch: Invocation[]): Promise<void> {
    if (batch.length === 0) return;
    for (const i of batch) this.open.delete(i.id);
    await this.journal.append(batch.map((i) => `${JSON.stringify({ done: i.id })}\n`).join(''));
  }

  /** Resolves once every accepted invocation has finished (tests and benchmarks). */
  idle(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** A retry's delay, cut short by a stop. */
  private retryWait(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.stopSignal.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.stopSignal.signal.addEventListener('abort', done);
    });
  }

  /**
   * Lets the batches already running finish (up to `graceMs`); nothing new starts, and queued invocations (a
   * backlog, presence events of devices dropped by the broker's close) stay in the journal for the next start,
   * as a stream's unread records do. So a stop takes as long as the longest running batch, not the backlog.
   */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    for (const cancel of this.windowTimers.values()) cancel();
    this.windowTimers.clear();
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.running]),
      new Promise<void>((resolve) => {
        grace = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(grace);
    await this.journal.close();
  }
}
