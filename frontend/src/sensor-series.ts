/**
 * One sensor's chart data, outside the view (as FleetStore keeps the fleet's): the series of the range on screen,
 * live readings merged or folded into it, and the gap a dropped connection leaves until a backfill fills it.
 * The view subscribes and renders; the store holds no DOM and takes its API, clock and timers injected.
 */
import { MAX_LIMIT } from '../../lambdas/shared/contract.js';
import { BUCKET_MS, backfillSpan, foldIntoBuckets, mergeReadings, trimBefore, type Reading, type Series } from './data.js';

/** Points per history query: beyond this a chart has more points than pixels, so `auto` aggregates. */
export const HISTORY_LIMIT = 2000;

/** How long after a reconnection the missed span is asked for (see `reconnected`). */
export const BACKFILL_SETTLE_MS = [1500, 5000];
/** Live readings within this many ms make one render, not one each. */
const NOTIFY_AFTER_MS = 50;

export type SeriesLoad = { kind: 'loading' } | { kind: 'ready' } | { kind: 'error'; message: string } | { kind: 'not-found' };

/** The range to show: `follows` when it ends at now and takes live readings. */
export interface SeriesWindow {
  from: number;
  to: number;
  follows: boolean;
  resolution: 'raw' | 'auto';
  limit: number;
}

export interface Shown {
  series: Series;
  from: number;
  to: number;
  follows: boolean;
  windowMs: number;
  /** Newest instant the series is known complete up to (for backfill after a drop). */
  coveredUntil: number;
  /** Live readings folded into buckets, so a backfill never counts one twice. */
  folded: Set<number>;
  /** Start of the span missed while the connection was down, until a backfill fills it. */
  gapFrom: number | null;
  drops: number;
}

export interface SeriesStoreDeps {
  /** Api.readings: a range's readings or buckets, all pages. */
  readings(
    sensorId: string,
    query: { from: number; to: number; resolution: 'raw' | 'auto'; limit: number },
    signal?: AbortSignal,
    maxPages?: number,
  ): Promise<Series>;
  /** True while the live connection is up (a backfill waits for it). */
  isLive(): boolean;
  now(): number;
  setTimeout(run: () => void, ms: number): unknown;
  /** Thrown by `readings` for an unknown sensor. */
  isNotFound(err: unknown): boolean;
}

export class SensorSeriesStore {
  load: SeriesLoad = { kind: 'loading' };
  /** Bumped on every change of the series: the charts redraw on it. */
  revision = 0;
  private current: Shown | null = null;
  /** Live readings that came before the range's first answer. */
  private early: Reading[] = [];
  private loading: AbortController | null = null;
  private notifyPending = false;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly sensorId: string,
    private readonly deps: SeriesStoreDeps,
  ) {}

  get shown(): Shown | null {
    return this.current;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Loads a range whole, then lets live readings in (when it follows now). */
  show(window: SeriesWindow): void {
    this.close();
    const controller = new AbortController();
    this.loading = controller;
    this.current = null;
    this.early = [];
    if (this.load.kind !== 'not-found') this.setLoad({ kind: 'loading' });
    const { from, to, follows } = window;
    this.deps.readings(this.sensorId, { from, to, resolution: window.resolution, limit: window.limit }, controller.signal).then(
      (series) => {
        if (controller.signal.aborted) return;
        const coveredUntil = series.resolution === 'raw' && series.points.length ? series.points[series.points.length - 1].ts : to - 1;
        const shown: Shown = {
          series: { resolution: series.resolution, points: series.points } as Series,
          from,
          to,
          follows,
          windowMs: to - from,
          coveredUntil: Math.max(coveredUntil, series.resolution === 'raw' ? 0 : to - 1),
          folded: new Set(),
          gapFrom: coveredUntil,
          drops: 0,
        };
        this.current = shown;
        if (follows) this.fillGap(shown);
        const early = this.early;
        this.early = [];
        if (early.length) this.absorb(early);
        this.revision++;
        this.setLoad({ kind: 'ready' });
      },
      (err: Error) => {
        if (controller.signal.aborted) return;
        this.setLoad(this.deps.isNotFound(err) ? { kind: 'not-found' } : { kind: 'error', message: err.message });
      },
    );
  }

  /** A range that cannot be asked for (a custom one ending before it starts). */
  refuse(message: string): void {
    this.close();
    this.setLoad({ kind: 'error', message });
  }

  /** The sensor was never seen. */
  notFound(): void {
    this.setLoad({ kind: 'not-found' });
  }

  /** Stops waiting for the range being loaded. */
  close(): void {
    this.loading?.abort();
    this.loading = null;
  }

  /** This sensor's live readings: merged (raw) or folded (buckets) when the range follows now. */
  absorb(readings: Reading[]): void {
    const s = this.current;
    if (!s) {
      this.early.push(...readings);
      return;
    }
    if (!s.follows) return;
    if (s.series.resolution === 'raw') {
      s.series = { resolution: 'raw', points: trimBefore(mergeReadings(s.series.points, readings), this.deps.now() - s.windowMs) };
    } else {
      const bucketMs = BUCKET_MS[s.series.resolution];
      for (const r of readings) {
        if (s.folded.has(r.ts) || r.ts <= s.to - 1) continue;
        s.folded.add(r.ts);
        foldIntoBuckets(s.series.points, r, bucketMs);
      }
    }
    for (const r of readings) if (r.ts > s.coveredUntil) s.coveredUntil = r.ts;
    this.changed();
  }

  /**
   * The connection dropped: a gap opens at the newest reading held, and stays open until a backfill made after
   * the last reconnection succeeds, however many drops come in between.
   */
  dropped(): void {
    const s = this.current;
    if (!s) return;
    s.drops++;
    s.gapFrom ??= s.coveredUntil;
  }

  reconnected(): void {
    const s = this.current;
    if (s?.follows) this.fillGap(s);
  }

  /**
   * Asks the store for the span from `gapFrom` on. It waits a moment, twice: a reading made just before a
   * (re)subscription may be pushed before the subscription is in place and stored after the first query, and
   * the second pass catches a reading whose write was still queued behind the first.
   */
  private fillGap(s: Shown): void {
    for (const delay of BACKFILL_SETTLE_MS) {
      this.deps.setTimeout(() => {
        if (this.current !== s || s.gapFrom === null || !this.deps.isLive()) return;
        const drops = s.drops;
        const last = delay === BACKFILL_SETTLE_MS[BACKFILL_SETTLE_MS.length - 1];
        const span = backfillSpan(s.gapFrom, this.deps.now(), s.windowMs);
        if (!span) {
          s.gapFrom = null;
          return;
        }
        void this.deps.readings(this.sensorId, { ...span, resolution: 'raw', limit: MAX_LIMIT }, undefined, 5).then(
          (page) => {
            if (this.current !== s || page.resolution !== 'raw') return;
            this.absorb(page.points);
            if (last && s.drops === drops) s.gapFrom = null;
          },
          () => undefined,
        );
      }, delay);
    }
  }

  private setLoad(load: SeriesLoad): void {
    this.load = load;
    this.notify();
  }

  /** Many live readings within a few ms make one render. */
  private changed(): void {
    this.revision++;
    if (this.notifyPending) return;
    this.notifyPending = true;
    this.deps.setTimeout(() => {
      this.notifyPending = false;
      this.notify();
    }, NOTIFY_AFTER_MS);
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
