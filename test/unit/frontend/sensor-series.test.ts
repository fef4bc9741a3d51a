/**
 * SensorSeriesStore: the sensor page's series outside the view. Its API, clock and timers are fakes, so each
 * test says what reaches the store and reads what the charts would draw.
 */
import { describe, expect, it } from 'vitest';
import type { Reading, Series } from '../../../frontend/src/data.js';
import { BACKFILL_SETTLE_MS, SensorSeriesStore, type SeriesStoreDeps } from '../../../frontend/src/sensor-series.js';

type Query = Parameters<SeriesStoreDeps['readings']>[1];

/** Queries wait for the test to answer them; timers run when the test says. */
function harness(now = 100_000) {
  const queries: Array<{ query: Query; resolve: (s: Series) => void; reject: (e: Error) => void; signal?: AbortSignal }> = [];
  const timers: Array<{ at: number; run: () => void }> = [];
  const clock = { now, live: true };
  const deps: SeriesStoreDeps = {
    readings: (_id, query, signal) => new Promise((resolve, reject) => queries.push({ query, resolve, reject, signal })),
    isLive: () => clock.live,
    now: () => clock.now,
    setTimeout: (run, ms) => timers.push({ at: clock.now + ms, run }),
    isNotFound: (err) => (err as Error).message === 'not found',
  };
  const store = new SensorSeriesStore('s-1', deps);
  let notified = 0;
  store.subscribe(() => notified++);
  const advance = async (ms: number) => {
    clock.now += ms;
    for (const t of timers.splice(0).sort((a, b) => a.at - b.at)) {
      if (t.at <= clock.now) t.run();
      else timers.push(t);
    }
    await Promise.resolve();
  };
  return { store, queries, clock, advance, notifications: () => notified };
}

const r = (ts: number, t = ts / 1000): Reading => ({ ts, values: { t } });
/** The timestamps the chart holds. */
const tsOf = (store: SensorSeriesStore) => (store.shown?.series.points ?? []).map((p: { ts: number }) => p.ts);
const settled = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('SensorSeriesStore', () => {
  it('loads the range, then merges live readings into a raw series and drops those older than the window', async () => {
    const { store, queries, clock, advance } = harness();
    store.show({ from: 40_001, to: 100_001, follows: true, resolution: 'raw', limit: 10_000 });
    expect(store.load).toEqual({ kind: 'loading' });
    expect(queries[0].query).toEqual({ from: 40_001, to: 100_001, resolution: 'raw', limit: 10_000 });
    queries[0].resolve({ resolution: 'raw', points: [r(50_000), r(90_000)] });
    await settled();
    expect(store.load).toEqual({ kind: 'ready' });
    clock.now = 110_500;
    store.absorb([r(100_500), r(90_000, 99)]);
    await advance(50);
    expect((store.shown!.series.points as Reading[]).map((p) => [p.ts, p.values.t])).toEqual([
      [90_000, 90],
      [100_500, 100.5],
    ]);
  });

  it('keeps live readings that come before the first answer, and lets them in once it arrives', async () => {
    const { store, queries } = harness();
    store.show({ from: 40_001, to: 100_001, follows: true, resolution: 'raw', limit: 10_000 });
    store.absorb([r(100_200)]);
    queries[0].resolve({ resolution: 'raw', points: [r(99_000)] });
    await settled();
    expect(tsOf(store)).toEqual([99_000, 100_200]);
  });

  it('folds live readings into buckets once each, however often they are delivered', async () => {
    const { store, queries } = harness();
    store.show({ from: 0, to: 100_001, follows: true, resolution: 'auto', limit: 2000 });
    queries[0].resolve({ resolution: '1m', points: [{ ts: 60_000, values: { t: { min: 1, max: 1, avg: 1, count: 1 } } }] });
    await settled();
    store.absorb([r(120_000, 3), r(120_000, 3), r(130_000, 5)]);
    store.absorb([r(130_000, 5)]);
    expect(store.shown?.series.points).toEqual([
      { ts: 60_000, values: { t: { min: 1, max: 1, avg: 1, count: 1 } } },
      { ts: 120_000, values: { t: { min: 3, max: 5, avg: 4, count: 2 } } },
    ]);
  });

  it('takes no live readings into a range that does not follow now', async () => {
    const { store, queries } = harness();
    store.show({ from: 0, to: 50_000, follows: false, resolution: 'auto', limit: 2000 });
    queries[0].resolve({ resolution: 'raw', points: [r(10_000)] });
    await settled();
    store.absorb([r(40_000)]);
    expect(tsOf(store)).toEqual([10_000]);
  });

  it('after a drop, asks for the missed span twice after reconnecting, and closes the gap only after the last', async () => {
    const { store, queries, clock, advance } = harness();
    store.show({ from: 40_001, to: 100_001, follows: true, resolution: 'raw', limit: 10_000 });
    queries[0].resolve({ resolution: 'raw', points: [r(99_000)] });
    await settled();
    await advance(BACKFILL_SETTLE_MS[1]); // the first load's own backfill passes
    for (const q of queries.splice(1)) q.resolve({ resolution: 'raw', points: [] });
    await settled();
    expect(store.shown?.gapFrom).toBeNull();

    clock.live = false;
    store.dropped();
    expect(store.shown?.gapFrom).toBe(99_000);
    clock.live = true;
    store.reconnected();
    await advance(BACKFILL_SETTLE_MS[0]);
    expect(queries).toHaveLength(2);
    expect(queries[1].query).toMatchObject({ from: 99_001, resolution: 'raw' });
    queries[1].resolve({ resolution: 'raw', points: [r(104_000)] });
    await settled();
    expect(store.shown?.gapFrom).toBe(99_000);
    await advance(BACKFILL_SETTLE_MS[1] - BACKFILL_SETTLE_MS[0]);
    queries[2].resolve({ resolution: 'raw', points: [r(104_000), r(105_000)] });
    await settled();
    expect(tsOf(store)).toEqual([99_000, 104_000, 105_000]);
    expect(store.shown?.gapFrom).toBeNull();
  });

  it('keeps the gap open when the connection drops again during the backfill', async () => {
    const { store, queries, clock, advance } = harness();
    store.show({ from: 40_001, to: 100_001, follows: true, resolution: 'raw', limit: 10_000 });
    queries[0].resolve({ resolution: 'raw', points: [r(99_000)] });
    await settled();
    await advance(BACKFILL_SETTLE_MS[0]);
    expect(queries).toHaveLength(2);
    clock.live = false;
    store.dropped();
    await advance(BACKFILL_SETTLE_MS[1]);
    // The second pass found the connection down and asked nothing; the first one's answer arrives late.
    expect(queries).toHaveLength(2);
    queries[1].resolve({ resolution: 'raw', points: [r(100_000)] });
    await settled();
    expect(tsOf(store)).toEqual([99_000, 100_000]);
    expect(store.shown?.gapFrom).toBe(99_000);
  });

  it('says not-found for an unknown sensor, an error otherwise, and ignores an answer to a range replaced since', async () => {
    const { store, queries } = harness();
    store.show({ from: 0, to: 10, follows: false, resolution: 'auto', limit: 2000 });
    store.show({ from: 0, to: 20, follows: false, resolution: 'auto', limit: 2000 });
    expect(queries[0].signal?.aborted).toBe(true);
    queries[0].resolve({ resolution: 'raw', points: [r(5)] });
    queries[1].reject(new Error('network down'));
    await settled();
    expect(store.shown).toBeNull();
    expect(store.load).toEqual({ kind: 'error', message: 'network down' });
    store.show({ from: 0, to: 30, follows: false, resolution: 'auto', limit: 2000 });
    queries[2].reject(new Error('not found'));
    await settled();
    expect(store.load).toEqual({ kind: 'not-found' });
    store.refuse('The custom range must start before it ends.');
    expect(store.load).toEqual({ kind: 'error', message: 'The custom range must start before it ends.' });
  });

  it('tells its listeners once for a burst of live readings, and bumps the revision the charts redraw on', async () => {
    const { store, queries, advance, notifications } = harness();
    store.show({ from: 40_001, to: 100_001, follows: true, resolution: 'raw', limit: 10_000 });
    queries[0].resolve({ resolution: 'raw', points: [] });
    await settled();
    const before = notifications();
    const revision = store.revision;
    for (let i = 1; i <= 10; i++) store.absorb([r(100_000 + i)]);
    expect(notifications()).toBe(before);
    await advance(50);
    expect(notifications()).toBe(before + 1);
    expect(store.revision).toBe(revision + 10);
  });
});
