/**
 * A Lambda handler on a worker thread of its own, as a function runs in a container of its own: the history writer's
 * batches (SDK marshalling, roll-ups, alert evaluation) then take a core of their own instead of the main thread's,
 * where the broker, the rules, the broadcaster and the WebSocket gateway run. The thread builds its own wiring
 * (local/handler-thread-main.ts); its live frames come back to the gateway here and its metrics to the process's
 * registry. A thread that dies fails its invocations in flight (the rules retry them from the journal) and the next
 * invocation starts a new one.
 */
import { Worker } from 'node:worker_threads';
import type { DynamoPorts } from './dynamo.js';
import type { LiveSender, Metrics } from '../lambdas/core/ports.js';
import type { ServerFrame } from '../lambdas/shared/contract.js';
import type { ThreadMemory } from './memory-metrics.js';
import { WORKER_RESOURCE_LIMITS } from './worker-heap.js';
import type { RuleHandler } from './rules.js';

/** The handlers that may run on a thread of their own. */
export type HandlerName = 'history-writer';

export type ToThread =
  | { type: 'invoke'; id: number; event: unknown }
  | { type: 'sent'; id: number; result: 'sent' | 'gone' }
  | { type: 'sent'; id: number; error: string }
  | { type: 'rules-changed' };

export type FromThread =
  | { type: 'ready' }
  | { type: 'memory'; memory: ThreadMemory }
  | { type: 'result'; id: number; value?: unknown; error?: { name: string; message: string } }
  | { type: 'send'; id: number; connectionId: string; frame: ServerFrame }
  | {
      type: 'metrics';
      calls: Array<
        ['count', Parameters<Metrics['count']>[0], number, Record<string, string>?] | ['observe', Parameters<Metrics['observe']>[0], number]
      >;
    };

export interface HandlerThreadOptions {
  handler: HandlerName;
  /** The function it is, in its invocations' Lambda context (as the main thread names it in billing). */
  functionName: string;
  /** Where the thread's live frames go (the gateway). */
  live: LiveSender;
  /** Where the thread's metrics go (the process's registry). */
  metrics: Metrics;
  /** New in-process ways to the DynamoDB stand-in's stores for each thread started (local/dynamo-port.ts); HTTP without them. */
  dynamoPorts?: () => DynamoPorts;
  /** Where the thread records its AWS calls too (local/aws-calls.ts); nothing is recorded without it. */
  awsCallsFile?: string;
  /** The thread's nice value on Linux (local/thread-priority.mjs): background work yields the cores to the live path. @default 0 */
  nice?: number;
  log: (entry: Record<string, unknown>) => void;
}

interface Running {
  worker: Worker;
  ready: Promise<void>;
  pending: Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>;
}

export class HandlerThread {
  private running: Running | undefined;
  private next = 0;
  private closed = false;
  private lastMemory: ThreadMemory | undefined;

  constructor(private readonly options: HandlerThreadOptions) {}

  /** The handler as the rules call it: each call an invocation on the thread. */
  readonly invoke: RuleHandler = async (event) => {
    if (this.closed) throw new Error(`the ${this.options.handler} thread is closed`);
    const running = this.start();
    await running.ready;
    const id = this.next++;
    return new Promise((resolve, reject) => {
      running.pending.set(id, { resolve, reject });
      running.worker.postMessage({ type: 'invoke', id, event } satisfies ToThread);
    });
  };

  /** Starts the thread ahead of its first invocation, so that one does not wait for the handler to load. */
  async warm(): Promise<void> {
    if (this.closed) return;
    await this.start().ready.catch(() => undefined);
  }

  /** The alert rules changed (the HTTP API, on the main thread): the thread's cache of them is dropped. */
  rulesChanged(): void {
    this.running?.worker.postMessage({ type: 'rules-changed' } satisfies ToThread);
  }

  /** The running thread's memory as it last reported it (every few seconds); undefined before its first report. */
  memory(): ThreadMemory | undefined {
    return this.running ? this.lastMemory : undefined;
  }

  /** The thread's id, for per-thread CPU figures; null before its first invocation. */
  get threadId(): number | null {
    return this.running?.worker.threadId ?? null;
  }

  private start(): Running {
    if (this.running) return this.running;
    const dynamoPorts = this.options.dynamoPorts?.();
    const worker = new Worker(new URL('./handler-worker.mjs', import.meta.url), {
      workerData: {
        handler: this.options.handler,
        functionName: this.options.functionName,
        dynamoPorts,
        awsCallsFile: this.options.awsCallsFile,
        nice: this.options.nice,
      },
      transferList: dynamoPorts ? [dynamoPorts.main, dynamoPorts.live] : [],
      name: this.options.handler,
      resourceLimits: WORKER_RESOURCE_LIMITS,
    });
    const pending: Running['pending'] = new Map();
    let ready!: () => void;
    let failed!: (err: Error) => void;
    const running: Running = {
      worker,
      pending,
      ready: new Promise<void>((resolve, reject) => {
        ready = resolve;
        failed = reject;
      }),
    };
    running.ready.catch(() => undefined);
    worker.on('message', (message: FromThread) => this.onMessage(worker, pending, message, ready));
    const down = (err: Error) => {
      if (this.running === running) this.running = undefined;
      failed(err);
      for (const call of pending.values()) call.reject(err);
      pending.clear();
    };
    worker.on('error', (err) => {
      this.options.log({ level: 'error', message: 'handler thread failed', handler: this.options.handler, error: err.message });
      down(err);
    });
    worker.on('exit', (code) => down(new Error(`the ${this.options.handler} thread exited (${code})`)));
    this.running = running;
    return running;
  }

  private onMessage(worker: Worker, pending: Running['pending'], message: FromThread, ready: () => void): void {
    switch (message.type) {
      case 'ready':
        ready();
        break;
      case 'memory':
        this.lastMemory = message.memory;
        break;
      case 'result': {
        const call = pending.get(message.id);
        pending.delete(message.id);
        if (!call) break;
        if (message.error) call.reject(Object.assign(new Error(message.error.message), { name: message.error.name }));
        else call.resolve(message.value);
        break;
      }
      case 'send':
        this.options.live.send(message.connectionId, message.frame).then(
          (result) => worker.postMessage({ type: 'sent', id: message.id, result } satisfies ToThread),
          (err: Error) => worker.postMessage({ type: 'sent', id: message.id, error: String(err?.message ?? err) } satisfies ToThread),
        );
        break;
      case 'metrics':
        for (const call of message.calls) {
          if (call[0] === 'count') this.options.metrics.count(call[1], call[2], call[3]);
          else this.options.metrics.observe(call[1], call[2]);
        }
        this.options.metrics.flush();
        break;
    }
  }

  /** Ends the running thread as a crash would: its invocations in flight fail; the next invocation starts a new one. */
  async terminate(): Promise<void> {
    await this.running?.worker.terminate();
  }

  /** Ends the thread for good; invocations still in flight fail (their events stay journaled). */
  async close(): Promise<void> {
    this.closed = true;
    const running = this.running;
    this.running = undefined;
    await running?.worker.terminate();
  }
}
