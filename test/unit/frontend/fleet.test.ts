import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Api, SensorInfo } from '../../../frontend/src/api.js';
import { FleetStore } from '../../../frontend/src/fleet.js';
import type { LiveConnection } from '../../../frontend/src/live.js';

const sensor = (sensorId: string): SensorInfo =>
  ({ sensorId, online: true, lastSeen: 1, metrics: ['temperature'], units: { temperature: '°C' }, latest: null }) as SensorInfo;

/** A list API whose pages are answered by the test, one `release()` at a time. */
function pagedApi(pages: SensorInfo[][]) {
  const calls: number[] = [];
  let release: () => void = () => undefined;
  const api = {
    async sensors(_signal?: AbortSignal, _maxPages?: number, progress?: { firstPage: number; onPage: (soFar: SensorInfo[]) => void }) {
      calls.push(calls.length);
      const all: SensorInfo[] = [];
      for (let i = 0; i < pages.length; i++) {
        await new Promise<void>((resolve) => (release = resolve));
        all.push(...pages[i]);
        if (i < pages.length - 1) progress?.onPage([...all]);
      }
      return all;
    },
    async readingsOfMany() {
      return [];
    },
  };
  return { api: api as unknown as Api, calls, next: () => release() };
}

const live = { on: () => () => undefined, setSubscriptions: () => undefined } as unknown as LiveConnection;
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('the fleet store', () => {
  it('joins a refresh asked for while the first list is coming: one read, listing until its last page', async () => {
    const { api, calls, next } = pagedApi([[sensor('a'), sensor('c')], [sensor('b')]]);
    const store = new FleetStore(api, live);
    const first = store.refresh();
    next();
    await settle();
    // The first page is shown, the rest still coming.
    expect([...store.sensors.keys()]).toEqual(['a', 'c']);
    expect(store.listing).toBe(true);
    const second = store.refresh();
    await settle();
    expect(store.listing).toBe(true);
    next();
    await Promise.all([first, second]);
    expect(calls).toHaveLength(1);
    expect(store.listing).toBe(false);
    expect([...store.sensors.keys()].sort()).toEqual(['a', 'b', 'c']);
  });

  it('reads the list again after one is done', async () => {
    const { api, calls, next } = pagedApi([[sensor('a')]]);
    const store = new FleetStore(api, live);
    const first = store.refresh();
    next();
    await first;
    const again = store.refresh();
    next();
    await again;
    expect(calls).toHaveLength(2);
  });

  describe('a sensor seen live before its history is written', () => {
    afterEach(() => vi.useRealTimers());

    /** A list API answering whatever `listed` holds at the time of the call. */
    function listApi(listed: SensorInfo[]) {
      let calls = 0;
      const api = {
        async sensors() {
          calls++;
          return [...listed];
        },
        async readingsOfMany() {
          return [];
        },
      };
      return { api: api as unknown as Api, calls: () => calls };
    }

    it('keeps its card through lists that lack it, and takes its units from the first list that has it', async () => {
      vi.useFakeTimers();
      const listed = [sensor('a')];
      const { api, calls } = listApi(listed);
      const store = new FleetStore(api, live);
      await store.refresh();
      store.applyReadings([{ sensorId: 'new', ts: Date.now(), values: { temperature: 21.5 } }]);
      await vi.advanceTimersByTimeAsync(0);
      // The list read at once does not hold it yet: the card stays, without units.
      expect(store.sensors.get('new')?.units).toEqual({});
      // History lands several seconds later (a history window, a cold writer): a later look finds it.
      await vi.advanceTimersByTimeAsync(4_000);
      listed.push({ ...sensor('new'), units: { temperature: '°C' } });
      await vi.advanceTimersByTimeAsync(10_000);
      expect(store.sensors.get('new')?.units).toEqual({ temperature: '°C' });
      expect(store.sensors.get('new')?.unlistedSince).toBeUndefined();
      // Once listed, no more looks.
      const after = calls();
      await vi.advanceTimersByTimeAsync(60_000);
      expect(calls()).toBe(after);
    });

    it('looks a bounded number of times, and drops a card whose sensor is never listed', async () => {
      vi.useFakeTimers();
      const { api, calls } = listApi([sensor('a')]);
      const store = new FleetStore(api, live);
      await store.refresh();
      store.applyReadings([{ sensorId: 'ghost', ts: Date.now(), values: { temperature: 1 } }]);
      await vi.advanceTimersByTimeAsync(100_000);
      const looks = calls();
      expect(looks).toBeLessThanOrEqual(1 + 1 + 5);
      expect(store.sensors.has('ghost')).toBe(true);
      // Past the keep time, the next list drops it.
      await vi.advanceTimersByTimeAsync(30_000);
      await store.refresh();
      expect(store.sensors.has('ghost')).toBe(false);
    });
  });
});
