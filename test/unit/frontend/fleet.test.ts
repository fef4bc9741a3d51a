import { describe, expect, it } from 'vitest';
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
});
