import { MAX_INTERVAL_MS, MIN_INTERVAL_MS } from '../lambdas/shared/contract.js';

export { MAX_INTERVAL_MS, MIN_INTERVAL_MS };

/**
 * AWS IoT Core allows at most 100 publishes per second per connection. The simulator never exceeds it:
 * settings that would are refused up front, and a flush of the offline buffer is paced by a sliding window.
 */
export const IOT_CORE_MAX_PUBLISHES_PER_SECOND = 100;

/** Why an interval is refused, or undefined when it is allowed. */
export function intervalProblem(intervalMs: unknown, maxPublishesPerSecond = IOT_CORE_MAX_PUBLISHES_PER_SECOND): string | undefined {
  if (typeof intervalMs !== 'number' || !Number.isInteger(intervalMs))
    return `intervalMs must be an integer, got ${JSON.stringify(intervalMs)}`;
  if (intervalMs < MIN_INTERVAL_MS || intervalMs > MAX_INTERVAL_MS) {
    return `intervalMs must be between ${MIN_INTERVAL_MS} and ${MAX_INTERVAL_MS}, got ${intervalMs}`;
  }
  if (1000 / intervalMs > maxPublishesPerSecond) {
    return `intervalMs ${intervalMs} would exceed ${maxPublishesPerSecond} publishes per second per connection`;
  }
  return undefined;
}

export function publishRateProblem(maxPublishesPerSecond: unknown): string | undefined {
  if (typeof maxPublishesPerSecond !== 'number' || !Number.isInteger(maxPublishesPerSecond) || maxPublishesPerSecond < 1) {
    return `maxPublishesPerSecond must be a positive integer, got ${JSON.stringify(maxPublishesPerSecond)}`;
  }
  if (maxPublishesPerSecond > IOT_CORE_MAX_PUBLISHES_PER_SECOND) {
    return `maxPublishesPerSecond ${maxPublishesPerSecond} exceeds AWS IoT Core's ${IOT_CORE_MAX_PUBLISHES_PER_SECOND} publishes per second per connection`;
  }
  return undefined;
}

/** A sliding one-second window: at most `limit` publishes start in any 1000 ms. */
export class PublishWindow {
  private starts: number[] = [];

  constructor(
    readonly limit: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds to wait before the next publish may start (0 when it may start now). */
  delay(): number {
    const now = this.now();
    while (this.starts.length > 0 && now - this.starts[0] >= 1000) this.starts.shift();
    if (this.starts.length < this.limit) return 0;
    return 1000 - (now - this.starts[0]);
  }

  /** Records a publish starting now. */
  record(): void {
    this.starts.push(this.now());
  }
}
