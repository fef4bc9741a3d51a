/**
 * The main thread's event-loop delay for `/api/metrics`: how long a ready callback (an HTTP request such as
 * `/api/health`, an MQTT packet) waits behind the work already running on this thread. Reported over the last
 * complete window (the window so far before the first ends), so a long run shows its recent state.
 * Garbage-collection pauses of the same window beside it, to tell a collector pause from work.
 */
import { constants, monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram, type PerformanceEntry } from 'node:perf_hooks';
import { prometheusFamily, prometheusText } from './prometheus.js';

/** @default one minute, the soak bench's sampling interval */
const WINDOW_MS = 60_000;
/** Sampling resolution of the histogram: a delay shorter than this is not seen. */
const RESOLUTION_MS = 10;

type DelaySummary = Record<'p50' | 'p99' | 'max', number>;

interface GcPauses {
  totalMs: number;
  maxMs: number;
  /** The longest full (mark-compact) collection: a large one means the old generation holds too much. */
  maxMajorMs: number;
}

const NO_PAUSES: GcPauses = { totalMs: 0, maxMs: 0, maxMajorMs: 0 };

export class EventLoopDelay {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private lastWindow: DelaySummary | null = null;
  private worstMs = 0;
  private readonly timer: NodeJS.Timeout;
  private gc: GcPauses = { ...NO_PAUSES };
  private lastGc: GcPauses | null = null;
  private readonly gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      this.gc.totalMs += entry.duration;
      this.gc.maxMs = Math.max(this.gc.maxMs, entry.duration);
      if ((entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        this.gc.maxMajorMs = Math.max(this.gc.maxMajorMs, entry.duration);
      }
    }
  });

  constructor(windowMs = WINDOW_MS) {
    this.histogram.enable();
    this.gcObserver.observe({ entryTypes: ['gc'] });
    this.timer = setInterval(() => {
      this.lastWindow = this.summary();
      this.histogram.reset();
      this.lastGc = this.gc;
      this.gc = { ...NO_PAUSES };
    }, windowMs);
    this.timer.unref();
  }

  /** Delays in ms (the histogram counts nanoseconds, and includes the resolution itself). */
  private summary(): DelaySummary {
    const ms = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
    if (this.histogram.count === 0) return { p50: 0, p99: 0, max: 0 };
    const summary = { p50: ms(this.histogram.percentile(50)), p99: ms(this.histogram.percentile(99)), max: ms(this.histogram.max) };
    this.worstMs = Math.max(this.worstMs, summary.max);
    return summary;
  }

  toPrometheus(): string {
    const window = this.lastWindow ?? this.summary();
    const current = this.summary();
    const gc = this.lastGc ?? this.gc;
    /** A gauge in seconds, one series per value of `label` (none: one unlabelled series). */
    const seconds = (name: string, help: string, label: string, msByValue: Record<string, number>) =>
      prometheusFamily(
        name,
        'gauge',
        help,
        Object.entries(msByValue).map(([value, ms]) => [label ? `{${label}="${value}"}` : '', (ms / 1000).toFixed(4)]),
      );
    return prometheusText([
      seconds(
        'vigia_local_event_loop_delay_seconds',
        'Main thread event-loop delay over the last complete minute, by quantile (1 = max).',
        'quantile',
        { '0.5': window.p50, '0.99': window.p99, '1': window.max },
      ),
      seconds('vigia_local_event_loop_delay_max_seconds', 'Longest main thread event-loop delay since the runtime started.', '', {
        max: Math.max(this.worstMs, current.max),
      }),
      seconds(
        'vigia_local_gc_pause_seconds',
        'Main thread garbage-collection pauses over the last complete minute: their sum, the longest, the longest full collection.',
        'stat',
        { sum: gc.totalMs, max: gc.maxMs, max_major: gc.maxMajorMs },
      ),
    ]);
  }

  stop(): void {
    clearInterval(this.timer);
    this.histogram.disable();
    this.gcObserver.disconnect();
  }
}
