/** The runtime's event-loop delay gauges: a blocked main thread shows in the window it happened in and in the run's max, then ages out. */
import { afterEach, describe, expect, it } from 'vitest';
import { EventLoopDelay } from '../../local/event-loop-delay.js';
import { setTimeout as sleep } from 'node:timers/promises';

function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the main thread does nothing else meanwhile
  }
}

function gauge(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`${series} missing from:\n${text}`);
  return Number(line.slice(series.length + 1));
}

let delay: EventLoopDelay | undefined;
afterEach(() => delay?.stop());

describe('EventLoopDelay', () => {
  it('reports a 500 ms block as the window max and the run max, and drops it from a later window', async () => {
    // Windows end at about 1 s, 2 s, 3 s: the block falls in the first, read during the second.
    delay = new EventLoopDelay(1000);
    await sleep(50);
    block(500);
    await sleep(900);
    const during = delay.toPrometheus();
    expect(gauge(during, 'vigia_local_event_loop_delay_seconds{quantile="1"}')).toBeGreaterThanOrEqual(0.45);
    expect(gauge(during, 'vigia_local_event_loop_delay_max_seconds')).toBeGreaterThanOrEqual(0.45);
    // Two more windows without a block: the window no longer holds it, the run max still does.
    await sleep(2000);
    const after = delay.toPrometheus();
    expect(gauge(after, 'vigia_local_event_loop_delay_seconds{quantile="1"}')).toBeLessThan(0.45);
    expect(gauge(after, 'vigia_local_event_loop_delay_max_seconds')).toBeGreaterThanOrEqual(0.45);
    expect(gauge(after, 'vigia_local_event_loop_delay_seconds{quantile="0.5"}')).toBeLessThanOrEqual(
      gauge(after, 'vigia_local_event_loop_delay_seconds{quantile="1"}'),
    );
  });

  it('sums the main thread garbage-collection pauses of the window', async () => {
    delay = new EventLoopDelay(1000);
    // Garbage the collector must reclaim: a scavenge at least, each one a pause.
    let keep: number[][] = [];
    for (let i = 0; i < 200; i++) keep = [...keep.slice(-50), Array.from({ length: 10_000 }, (_, j) => j)];
    expect(keep.length).toBe(51);
    await sleep(1100);
    const text = delay.toPrometheus();
    expect(gauge(text, 'vigia_local_gc_pause_seconds{stat="sum"}')).toBeGreaterThan(0);
    expect(gauge(text, 'vigia_local_gc_pause_seconds{stat="max"}')).toBeLessThanOrEqual(
      gauge(text, 'vigia_local_gc_pause_seconds{stat="sum"}'),
    );
    expect(gauge(text, 'vigia_local_gc_pause_seconds{stat="max_major"}')).toBeLessThanOrEqual(
      gauge(text, 'vigia_local_gc_pause_seconds{stat="max"}'),
    );
  });
});
