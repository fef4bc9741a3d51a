/**
 * Local alert notifications (contract §8): what the cloud publishes to the alerts SNS topic is logged and,
 * with ALERT_WEBHOOK_URL, POSTed there as JSON. Delivery runs beside ingest: `enqueue` never waits, the
 * queue is bounded (the oldest notice is dropped when full), and a failed POST is retried with backoff.
 */
export interface AlertWebhookOptions {
  url: string;
  log: (entry: Record<string, unknown>) => void;
  /** @default 1000 notices */
  maxQueue?: number;
  /** Waits before each retry. @default [500, 1000, 2000, 4000, 8000] ms */
  retryDelaysMs?: number[];
  /** Per attempt. @default 5000 ms */
  timeoutMs?: number;
}

export class AlertWebhook {
  private readonly queue: string[] = [];
  private running = false;
  private closed = false;
  private wake: (() => void) | undefined;
  private idle: Promise<void> = Promise.resolve();
  readonly stats = { delivered: 0, failed: 0, dropped: 0 };

  constructor(private readonly options: AlertWebhookOptions) {}

  /** Queues one JSON body; returns at once. */
  enqueue(body: string): void {
    if (this.closed) return;
    if (this.queue.length >= (this.options.maxQueue ?? 1000)) {
      this.queue.shift();
      this.stats.dropped += 1;
      this.options.log({ level: 'warn', message: 'alert webhook queue full: oldest notice dropped' });
    }
    this.queue.push(body);
    if (!this.running) this.idle = this.drain();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (!this.closed && this.queue.length > 0) {
        const body = this.queue.shift()!;
        await this.deliver(body);
      }
    } finally {
      this.running = false;
    }
  }

  private async deliver(body: string): Promise<void> {
    const delays = this.options.retryDelaysMs ?? [500, 1000, 2000, 4000, 8000];
    for (let attempt = 0; attempt <= delays.length && !this.closed; attempt++) {
      if (attempt > 0) await this.sleep(delays[attempt - 1] * (0.5 + Math.random() / 2));
      if (this.closed) break;
      try {
        const res = await fetch(this.options.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          this.stats.delivered += 1;
          return;
        }
        this.options.log({ level: 'warn', message: 'alert webhook refused', status: res.status, attempt: attempt + 1 });
      } catch (err) {
        this.options.log({ level: 'warn', message: 'alert webhook failed', error: (err as Error).message, attempt: attempt + 1 });
      }
    }
    this.stats.failed += 1;
    this.options.log({ level: 'error', message: 'alert webhook gave up on a notice' });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    await this.idle;
  }
}
