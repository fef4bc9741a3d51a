import { useEffect, useRef, useState } from 'preact/hooks';

/** The current time, refreshed every `everyMs` (one shared timer per interval). */
const clocks = new Map<number, { now: number; listeners: Set<(n: number) => void>; timer?: ReturnType<typeof setInterval> }>();

export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    let clock = clocks.get(everyMs);
    if (!clock) {
      clock = { now: Date.now(), listeners: new Set() };
      clocks.set(everyMs, clock);
    }
    const c = clock;
    c.listeners.add(setNow);
    c.timer ??= setInterval(() => {
      c.now = Date.now();
      for (const l of c.listeners) l(c.now);
    }, everyMs);
    return () => {
      c.listeners.delete(setNow);
      if (c.listeners.size === 0) {
        clearInterval(c.timer);
        c.timer = undefined;
      }
    };
  }, [everyMs]);
  return now;
}

export function usePrefersDark(): boolean {
  const query = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null;
  const [dark, setDark] = useState(query?.matches ?? false);
  useEffect(() => {
    if (!query) return;
    const onChange = () => setDark(query.matches);
    query.addEventListener('change', onChange);
    return () => query.removeEventListener('change', onChange);
  }, []);
  return dark;
}

/** Something that tells its listeners when it changed (FleetStore, SensorSeriesStore, AlertStore). */
export interface Subscribable {
  subscribe(listener: () => void): () => void;
}

/**
 * Renders again whenever `source` says it changed. Subscribes once per store, not per render: a store is
 * subscribed to by identity; a bare subscribe function (a new one each render, as `store.subscribe.bind(store)`)
 * is subscribed to once, on mount.
 */
export function useStore(source: Subscribable | ((listener: () => void) => () => void)): void {
  const [, setTick] = useState(0);
  const latest = useRef(source);
  latest.current = source;
  const identity = typeof source === 'function' ? null : source;
  useEffect(() => {
    const listener = () => setTick((t) => t + 1);
    const current = latest.current;
    return typeof current === 'function' ? current(listener) : current.subscribe(listener);
  }, [identity]);
}

export function useHashRoute(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const onChange = () => setHash(location.hash);
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return hash;
}
