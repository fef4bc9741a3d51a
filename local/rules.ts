/**
 * The rules engine stand-in: the same rule definitions as the cloud's IoT topic rules, evaluated on every
 * message, invoking the target handlers asynchronously, with Lambda's asynchronous retry policy (two
 * retries) and an on-failure destination (a JSON-lines file in the data folder). `direct` invokes once per
 * message, as IoT does; `queued` hands a function what gathered while it was busy, as an SQS batch.
 *
 * A matched message is first appended to a journal in the data folder, and only then does the broker
 * acknowledge it: an acknowledged reading survives a crash or a Ctrl-C and is replayed at the next start.
 */
import { randomUUID } from 'node:crypto';
import { appendFile, readFile, rename, writeFile } from 'node:fs/promises';
import type { RuleDefinition, RuleTarget } from '../lambdas/shared/rules.js';
import { RULES, parseBasicIngestTopic, projectRuleEvent, topicMatches } from '../lambdas/shared/rules.js';
import type { MessageMeta } from './broker.js';

export type RuleHandler = (event: Record<string, unknown>) => Promise<unknown>;

export interface RuleRunnerOptions {
  handlers: Record<RuleTarget, () => Promise<RuleHandler>>;
  journalFile: string;
  failedFile: string;
  log: (entry: Record<string, unknown>) => void;
  /** Delays before the retries of a failed invocation. @default [1000, 2000] (Lambda: about 1 and 2 minutes) */
  retryDelaysMs?: number[];
  /** @default queued */
  mode?: IngestMode;
  /** Direct mode: invocations of one function in flight at once. @default 32 */
  concurrency?: number;
  /** Queued mode: rule events per invocation at most. @default 2000 */
  maxBatch?: number;
  /**
   * Queued mode: how long the first waiting event may wait for others to join its batch, as the cloud's
   * queue event source does (maxBatchingWindow 1 s). 0 hands over at once what gathered while the function
   * was busy, which keeps the local dashboard live. @default 0
   */
  batchWindowMs?: number;
  rules?: readonly RuleDefinition[];
}

interface Invocation {
  id: string;
  rule: string;
  target: RuleTarget;
  event: Record<string, unknown>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Journal size past which it is rewritten holding only the open invocations. */
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
        if (this.written > COMPACT_AFTER_BYTES) await this.compact();
        const text = lines.join('');
        await appendFile(this.file, text);
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
    const tmp = `${this.file}.tmp`;
    const text = this.snapshot();
    await writeFile(tmp, text);
    await rename(tmp, this.file);
    this.written = text.length;
  }

  async idle(): Promise<void> {
    while (this.writing) await this.writing;
  }
}

/**
 * How rules reach their functions, as the cloud's `ingest` setting: `direct`, the rule invokes the function
 * once per message; `queued`, the rule sends to a queue and the function takes what has gathered (up to
 * `maxBatch`) in one invocation, as an SQS batch event.
 */
export type IngestMode = 'direct' | 'queued';

export class RuleRunner {
  private readonly rules: readonly RuleDefinition[];
  private readonly journal: GroupWriter;
  private readonly queues = new Map<RuleTarget, Invocation[]>();
  private readonly active = new Map<RuleTarget, number>();
  /** Journaled and not finished: what a compaction keeps. */
  private readonly open = new Map<string, Invocation>();
  private stopped = false;
  private idleWaiters: Array<() => void> = [];
  private readonly retryDelaysMs: number[];
  /** When each waiting event was queued (queued mode's batching window). */
  private readonly queuedAt = new Map<string, number>();
  private readonly windowTimers = new Map<RuleTarget, NodeJS.Timeout>();
  readonly mode: IngestMode;

  constructor(private readonly options: RuleRunnerOptions) {
    this.rules = options.rules ?? RULES;
    this.journal = new GroupWriter(options.journalFile, () =>
      [...this.open.values()].map((i) => `${JSON.stringify(i)}\n`).join(''),
    );
    this.retryDelaysMs = options.retryDelaysMs ?? [1000, 2000];
    this.mode = options.mode ?? 'queued';
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
    if (this.stopped) throw new Error('rules engine is stopping');
    const invocations: Invocation[] = [];
    const route = this.route(topic);
    for (const rule of route.rules) {
      if (!topicMatches(rule.topicFilter, route.topic)) continue;
      const event = projectRuleEvent(rule, route.topic, payload, meta.receivedAt);
      if (!event) continue;
      invocations.push({ id: randomUUID(), rule: rule.id, target: rule.target, event });
    }
    if (invocations.length === 0) return;
    for (const invocation of invocations) this.open.set(invocation.id, invocation);
    await this.journal.append(invocations.map((i) => `${JSON.stringify(i)}\n`).join(''));
    for (const invocation of invocations) this.enqueue(invocation);
  };

  /**
   * The rules a message may trigger and the topic they see: a Basic Ingest message
   * (`$aws/rules/<rule>/<topic>`) goes to the named rule only, which sees `<topic>` (AWS IoT developer guide,
   * "Reducing messaging costs with Basic Ingest"); any other message to every rule.
   */
  private route(topic: string): { rules: readonly RuleDefinition[]; topic: string } {
    const basic = parseBasicIngestTopic(topic);
    if (!basic) return { rules: this.rules, topic };
    return { rules: this.rules.filter((r) => r.id === basic.ruleName), topic: basic.topic };
  }

  private enqueue(invocation: Invocation): void {
    this.queuedAt.set(invocation.id, Date.now());
    let queue = this.queues.get(invocation.target);
    if (!queue) this.queues.set(invocation.target, (queue = []));
    queue.push(invocation);
    this.pump(invocation.target);
  }

  /** Invocations of one target in flight at once. Presence keeps its events in order. */
  private concurrency(target: RuleTarget): number {
    if (target === 'presence') return 1;
    return this.mode === 'direct' ? (this.options.concurrency ?? 32) : 2;
  }

  /** Queued mode: how long to wait before the next batch of this target may go (0: now). */
  private windowWait(target: RuleTarget, queue: Invocation[]): number {
    const windowMs = this.options.batchWindowMs ?? 0;
    if (this.mode === 'direct' || target === 'presence' || windowMs <= 0) return 0;
    if (queue.length >= (this.options.maxBatch ?? 2000)) return 0;
    return (this.queuedAt.get(queue[0].id) ?? 0) + windowMs - Date.now();
  }

  private pump(target: RuleTarget): void {
    const queue = this.queues.get(target) ?? [];
    while ((this.active.get(target) ?? 0) < this.concurrency(target) && queue.length > 0 && !this.stopped) {
      const wait = this.windowWait(target, queue);
      if (wait > 0) {
        if (!this.windowTimers.has(target)) {
          this.windowTimers.set(
            target,
            setTimeout(() => {
              this.windowTimers.delete(target);
              this.pump(target);
            }, wait),
          );
        }
        return;
      }
      const batch = queue.splice(0, this.mode === 'direct' ? 1 : (this.options.maxBatch ?? 2000));
      for (const i of batch) this.queuedAt.delete(i.id);
      this.active.set(target, (this.active.get(target) ?? 0) + 1);
      void this.run(target, batch).finally(() => {
        this.active.set(target, (this.active.get(target) ?? 1) - 1);
        if (this.open.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
        this.pump(target);
      });
    }
  }

  /** The event the function receives: the rule's own event, or an SQS batch of them. */
  private eventFor(batch: Invocation[]): Record<string, unknown> {
    if (this.mode === 'direct') return batch[0].event;
    const now = Date.now();
    return {
      Records: batch.map((i) => ({
        messageId: i.id,
        receiptHandle: i.id,
        body: JSON.stringify(i.event),
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: String(now),
          SenderId: 'iot.amazonaws.com',
          ApproximateFirstReceiveTimestamp: String(now),
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: `arn:aws:sqs:local:000000000000:vigia-${i.target}`,
        awsRegion: 'local',
      })),
    };
  }

  private async run(target: RuleTarget, batch: Invocation[]): Promise<void> {
    const attempts = this.retryDelaysMs.length + 1;
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await sleep(this.retryDelaysMs[attempt - 1]);
      try {
        const handler = await this.options.handlers[target]();
        await handler(this.eventFor(batch));
        await this.finish(batch);
        return;
      } catch (err) {
        lastError = err as Error;
        if (this.stopped) return; // left in the journal: replayed at the next start
        this.options.log({
          level: 'warn',
          message: 'rule invocation failed',
          rules: [...new Set(batch.map((i) => i.rule))],
          events: batch.length,
          attempt: attempt + 1,
          error: lastError.message,
        });
      }
    }
    if (this.stopped) return;
    if (batch.length > 1) {
      // One bad event must not take its batch with it: each event gets its own invocations.
      this.options.log({ level: 'warn', message: 'batch failed; retrying its events one by one', events: batch.length });
      for (const invocation of batch) await this.run(target, [invocation]);
      return;
    }
    // Lambda's on-failure destination (the queue's dead-letter queue when queued): kept for an operator.
    const at = new Date().toISOString();
    await appendFile(
      this.options.failedFile,
      batch
        .map(
          (i) =>
            `${JSON.stringify({ at, rule: i.rule, target: i.target, condition: 'RetriesExhausted', error: lastError?.message, event: i.event })}\n`,
        )
        .join(''),
    );
    await this.finish(batch);
  }

  private async finish(batch: Invocation[]): Promise<void> {
    for (const i of batch) this.open.delete(i.id);
    await this.journal.append(batch.map((i) => `${JSON.stringify({ done: i.id })}\n`).join(''));
  }

  /** Resolves once every accepted invocation has finished (tests and benchmarks). */
  idle(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Lets in-flight invocations finish (up to `graceMs`); queued ones stay in the journal for the next start. */
  async stop(graceMs = 5000): Promise<void> {
    const drained = this.idle();
    await Promise.race([drained, sleep(graceMs)]);
    this.stopped = true;
    for (const timer of this.windowTimers.values()) clearTimeout(timer);
    this.windowTimers.clear();
    await this.journal.idle();
  }
}
