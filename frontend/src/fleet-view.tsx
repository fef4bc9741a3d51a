import { CardAlertBadge } from './alert-bar';
import { ErrorState, Loading, StatusBadge } from './badges';
import { Component } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { formatAgo, gapThreshold, keepOrder, orderFleet, sortByName, type Reading, type SortKey } from './data';
import { SPARK_WINDOW_MS, precision, type FleetSensor, type FleetStore } from './fleet';
import { useNow, useStore } from './hooks';
import type { ConnectionState } from './live';
import { own } from './own';

/** A sensor silent this long is shown with stale values even before the 10-minute offline rule. */
export const STALE_AFTER_MS = 60_000;

/** Every card has this size (CSS agrees: `.card`), so the grid can be windowed and never shifts. */
export const CARD_HEIGHT = 216;
export const CARD_GAP = 14;
export const CARD_MIN_WIDTH = 250;
/** Rows rendered above and below the screen, so a scroll shows cards, not blanks. */
const OVERSCAN_ROWS = 2;
/** A card's border and horizontal padding (CSS px; `.card`, `.card-link`). */
const CARD_CHROME_PX = 2 + 30;
/** How long the window must rest before the subscriptions follow it. */
const SUBSCRIBE_SETTLE_MS = 200;
/** Values a card shows (the first by name); the sensor view shows all. */
const CARD_METRICS = 4;

interface Window {
  /** The list's inner width (CSS px). */
  width: number;
  columns: number;
  firstRow: number;
  lastRow: number;
}

/** Which rows of the grid are on screen (plus overscan), from the list's place in the viewport. */
export function visibleRows(listTop: number, listWidth: number, viewportHeight: number, count: number, overscan = OVERSCAN_ROWS): Window {
  const columns = Math.max(1, Math.floor((listWidth + CARD_GAP) / (CARD_MIN_WIDTH + CARD_GAP)));
  const rows = Math.ceil(count / columns);
  const rowHeight = CARD_HEIGHT + CARD_GAP;
  const firstRow = Math.max(0, Math.floor(-listTop / rowHeight) - overscan);
  const lastRow = Math.min(rows - 1, Math.ceil((viewportHeight - listTop) / rowHeight) + overscan);
  return { width: listWidth, columns, firstRow, lastRow: Math.max(firstRow - 1, lastRow) };
}

/** Where the list was last seen: its top in the viewport, its inner width and the viewport's height (CSS px). */
interface ListGeometry {
  top: number;
  width: number;
  viewportHeight: number;
}

/** The geometry before the list is measured: from the viewport alone, so the first render reads no layout. */
function estimatedGeometry(): ListGeometry {
  const padding = innerWidth <= 520 ? 26 : 40;
  return { top: 0, width: Math.min(innerWidth, 1280) - padding, viewportHeight: innerHeight };
}

/**
 * The rows on screen. The list's geometry is measured in an animation frame, where the layout it reads is the
 * one about to be painted (reading it right after a render would force a layout inside the render's task); the
 * window follows from it and the count in the same render, so a key in the filter shows the right cards in its
 * own frame, not a frame later.
 */
function useGridWindow(list: { current: HTMLElement | null }, count: number): Window {
  // The latest measure, and a render only when it moves the window's rows.
  const geometry = useRef<ListGeometry | null>(null);
  geometry.current ??= estimatedGeometry();
  const measured = useRef(false);
  const [, setMoved] = useState(0);
  useEffect(() => {
    let frame: number | null = null;
    const measure = () => {
      frame = null;
      const el = list.current;
      if (!el || !geometry.current) return;
      const next = { top: el.getBoundingClientRect().top, width: el.clientWidth, viewportHeight: innerHeight };
      const before = visibleRows(geometry.current.top, geometry.current.width, geometry.current.viewportHeight, count);
      const after = visibleRows(next.top, next.width, next.viewportHeight, count);
      geometry.current = next;
      if (!measured.current) {
        measured.current = true;
        return setMoved((n) => n + 1);
      }
      if (
        before.width !== after.width ||
        before.columns !== after.columns ||
        before.firstRow !== after.firstRow ||
        before.lastRow !== after.lastRow
      )
        setMoved((n) => n + 1);
    };
    const schedule = () => {
      if (frame === null) frame = requestAnimationFrame(measure);
    };
    schedule();
    addEventListener('scroll', schedule, { passive: true });
    addEventListener('resize', schedule);
    return () => {
      removeEventListener('scroll', schedule);
      removeEventListener('resize', schedule);
      if (frame !== null) cancelAnimationFrame(frame);
    };
  }, [count, list.current]);
  const { top, width, viewportHeight } = geometry.current;
  // Before the first measure nothing scrolls yet: the rows on screen alone keep the first cards' task short.
  return visibleRows(top, width, viewportHeight, count, measured.current ? OVERSCAN_ROWS : 0);
}

/**
 * The filter and sort live in this history entry's state, so going back from a sensor restores them. Not
 * sessionStorage: its first read in a page waits on the browser process (tens of ms on a loaded phone).
 */
interface FleetViewState {
  filter: string;
  sort: SortKey;
}
const SORT_KEYS: readonly SortKey[] = ['name', 'lastSeen', 'status'];

function savedViewState(): FleetViewState {
  const saved = (history.state as { fleet?: Partial<FleetViewState> } | null)?.fleet;
  return {
    filter: typeof saved?.filter === 'string' ? saved.filter : '',
    sort: SORT_KEYS.includes(saved?.sort as SortKey) ? (saved?.sort as SortKey) : 'name',
  };
}

function saveViewState(state: FleetViewState): void {
  const current = history.state as Record<string, unknown> | null;
  history.replaceState({ ...current, fleet: state }, '');
}

export function FleetView({ store, connection }: { store: FleetStore; connection: ConnectionState }) {
  const subscribe = useMemo(() => store.subscribe.bind(store), [store]);
  useStore(subscribe);
  const [filter, setFilter] = useState(() => savedViewState().filter);
  const [sort, setSort] = useState<SortKey>(() => savedViewState().sort);
  // The order on screen holds still (cards never move under the pointer) until a re-sort is asked for.
  const held = useRef<{ key: string; order: string[]; provisional?: boolean }>({ key: '', order: [] });
  const list = useRef<HTMLUListElement>(null);
  const now = useNow(1000);

  useEffect(() => {
    void store.refresh();
    // Live frames carry readings and presence of the cards on screen; the list itself is re-read now and then.
    const every = setInterval(() => void store.refresh(), 30_000);
    return () => clearInterval(every);
  }, [store]);
  useEffect(() => saveViewState({ filter, sort }), [filter, sort]);

  // The collator's sort runs when sensors join or leave; a key in the filter or a live frame only scans.
  const byName = useMemo(() => sortByName([...store.sensors.values()]), [store.membership]);
  // Name order does not change with live data, so it is not redone per frame; the other sorts are.
  const dataVersion = sort === 'name' ? 0 : store.version;
  const sorted = useMemo(
    () =>
      orderFleet(
        byName.map((s) => store.sensors.get(s.sensorId) ?? s),
        filter,
        sort,
      ).map((s) => s.sensorId),
    [byName, filter, sort, dataVersion],
  );
  const key = `${sort}\u0000${filter.trim().toLowerCase()}`;
  // An order taken while the first list was still coming is not held: its pages arrive in the registry's order.
  if (held.current.key !== key || held.current.provisional)
    held.current = { key, order: sorted, provisional: store.listing || store.load.kind !== 'ready' };
  const { order, moved } = useMemo(() => keepOrder(held.current.order, sorted), [sorted, held.current]);
  held.current.order = order;
  const win = useGridWindow(list, order.length);
  const first = win.firstRow * win.columns;
  const shownIds = order.slice(first, (win.lastRow + 1) * win.columns);
  // An empty fleet listens to every sensor (`*`, one subscription, nothing to send yet), so the first one
  // to speak shows at once; otherwise only the cards on screen.
  const subscribeTo = store.load.kind === 'ready' && store.sensors.size === 0 ? ['*'] : shownIds;
  const shownKey = subscribeTo.join(',');
  // While the window moves (a scroll), subscriptions and sparkline loads wait for it to rest: the cards
  // flying past would be subscribed and unsubscribed within a frame or two.
  const settled = useRef(false);
  useEffect(() => {
    if (!settled.current) {
      settled.current = subscribeTo.length > 0;
      store.show(subscribeTo);
      return;
    }
    const timer = setTimeout(() => store.show(subscribeTo), SUBSCRIBE_SETTLE_MS);
    return () => clearTimeout(timer);
  }, [shownKey, store]);
  useEffect(() => () => store.show([]), [store]);

  if (store.load.kind === 'loading') return <Loading what="sensors" />;
  if (store.load.kind === 'error') {
    return <ErrorState title="The sensor list could not be loaded" message={store.load.message} retry={() => void store.refresh()} />;
  }
  if (store.sensors.size === 0) return <EmptyFleet />;
  let online = 0;
  let matchingOnline = 0;
  for (const s of store.sensors.values()) if (s.online) online++;
  for (const id of order) if (store.sensors.get(id)?.online) matchingOnline++;
  const filtered = filter.trim() !== '';
  const rows = Math.ceil(order.length / win.columns);
  const rowHeight = CARD_HEIGHT + CARD_GAP;
  // The sparkline's width from the grid's own arithmetic: reading it from the DOM would force a layout per
  // card mounted (a dozen per scroll step).
  const sparkWidth = Math.max(100, Math.floor((win.width - (win.columns - 1) * CARD_GAP) / win.columns) - CARD_CHROME_PX);

  return (
    <section aria-labelledby="fleet-title">
      <div class="toolbar">
        <h1 id="fleet-title">
          Fleet{' '}
          <span class="muted" data-count={order.length} aria-live="polite">
            {filtered
              ? `${order.length} of ${store.sensors.size} sensors match, ${matchingOnline} online`
              : `${online} of ${store.sensors.size} online`}
          </span>
        </h1>
        <div class="controls">
          <label class="field">
            <span>Filter by name</span>
            <input type="search" value={filter} placeholder="sensor name" onInput={(e) => setFilter(e.currentTarget.value)} />
          </label>
          <label class="field">
            <span>Sort by</span>
            <select value={sort} onChange={(e) => setSort(e.currentTarget.value as SortKey)}>
              <option value="name">Name</option>
              <option value="lastSeen">Last seen</option>
              <option value="status">Status</option>
            </select>
          </label>
          <div class="field resort">
            <span data-moved={moved}>{moved > 0 ? `${moved} out of order` : 'In order'}</span>
            <button
              type="button"
              class="secondary"
              disabled={moved === 0}
              onClick={() => {
                held.current = { key, order: sorted };
                store.notify();
              }}
            >
              Re-sort
            </button>
          </div>
        </div>
      </div>
      {order.length === 0 ? (
        <p class="empty-inline">No sensor name contains “{filter}”.</p>
      ) : (
        <ul
          class="cards"
          ref={list}
          aria-label="Sensors"
          data-total={order.length}
          style={{
            gridTemplateColumns: `repeat(${win.columns}, minmax(0, 1fr))`,
            paddingTop: `${win.firstRow * rowHeight}px`,
            height: `${rows * rowHeight - CARD_GAP}px`,
          }}
        >
          {shownIds.map((id, i) => {
            const s = store.sensors.get(id)!;
            return (
              <SensorCard
                key={id}
                sensor={s}
                revision={s.revision}
                stale={connection !== 'live' || !s.online || s.lastSeen === null || now - s.lastSeen > STALE_AFTER_MS}
                position={first + i + 1}
                total={order.length}
                precisionVersion={precision.version}
                sparkWidth={sparkWidth}
              />
            );
          })}
        </ul>
      )}
    </section>
  );
}

const SensorCard = memoized(function SensorCard({
  sensor,
  stale,
  position,
  total,
  sparkWidth,
}: {
  sensor: FleetSensor;
  revision: number;
  /** Decided by the view, so a card re-renders when it turns stale, not with every tick of the clock. */
  stale: boolean;
  position: number;
  total: number;
  precisionVersion: number;
  sparkWidth: number;
}) {
  const values = sensor.latest ? Object.entries(sensor.latest.values).sort(([a], [b]) => a.localeCompare(b)) : [];
  const more = values.length - CARD_METRICS;
  return (
    <li class={`card${stale ? ' stale' : ''}`} data-sensor={sensor.sensorId} aria-setsize={total} aria-posinset={position}>
      <a class="card-link" href={`#/sensors/${encodeURIComponent(sensor.sensorId)}`}>
        <div class="card-head">
          <h2>{sensor.sensorId}</h2>
          <StatusBadge online={sensor.online} />
          <CardAlertBadge sensorId={sensor.sensorId} />
        </div>
        {values.length > 0 ? (
          <dl class="values">
            {values.slice(0, CARD_METRICS).map(([metric, v]) => (
              <div key={metric}>
                <dt>{metric}</dt>
                <dd data-metric={metric}>
                  {precision.format(metric, v)}
                  {own(sensor.units, metric) ? <span class="unit"> {own(sensor.units, metric)}</span> : null}
                </dd>
              </div>
            ))}
          </dl>
        ) : (
          <p class="values muted">No reading yet</p>
        )}
        <Sparkline points={sensor.spark} metric={sensor.sparkMetric} width={sparkWidth} />
        <p class="seen">
          {sensor.lastSeen === null ? (
            'never seen'
          ) : (
            <>
              last seen <SeenAgo lastSeen={sensor.lastSeen} />
            </>
          )}
          {more > 0 ? <span class="more"> · {more} more</span> : null}
          {stale && values.length > 0 ? <span class="stale-tag">stale</span> : null}
        </p>
      </a>
    </li>
  );
});

/** The one part of a card that changes with the clock alone: it re-renders each second, the card does not. */
function SeenAgo({ lastSeen }: { lastSeen: number }) {
  const now = useNow(1000);
  return <time dateTime={new Date(lastSeen).toISOString()}>{formatAgo(Math.max(0, now - lastSeen))}</time>;
}

/**
 * Preact's `memo` without preact/compat: compat's vnode hook runs for every element of every render, and the
 * fleet was its only user. Re-renders when a prop differs (by identity).
 */
function memoized<P extends object>(view: (props: P) => preact.JSX.Element) {
  return class Memoized extends Component<P> {
    shouldComponentUpdate(next: P): boolean {
      const now = this.props as Record<string, unknown>;
      const then = next as Record<string, unknown>;
      for (const key in then) if (then[key] !== now[key]) return true;
      for (const key in now) if (!(key in then)) return true;
      return false;
    }
    render(props: P) {
      return view(props);
    }
  };
}

const SPARK_HEIGHT = 40;

/**
 * The sparkline's path: the last minutes of one metric, broken at gaps as on the sensor's chart, at most two
 * points per pixel column. Null when there is nothing to draw.
 */
export function sparkPath(
  points: ReadonlyArray<Reading>,
  metric: string | null,
  end: number,
  width: number,
  height = SPARK_HEIGHT,
): string | null {
  if (!metric || points.length < 2) return null;
  // The line spans the whole window: a sensor that has been up a minute fills only the right fifth.
  const start = end - SPARK_WINDOW_MS;
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of points) {
    const v = own(p.values, metric);
    if (v === undefined || p.ts < start) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) return null;
  const pad = hi === lo ? 1 : (hi - lo) * 0.1;
  lo -= pad;
  hi += pad;
  const gap = gapThreshold(points);
  const stride = Math.max(1, Math.floor(points.length / (width * 2)));
  let d = '';
  let prevTs: number | null = null;
  for (let i = 0; i < points.length; i += stride) {
    const p = points[i];
    const v = own(p.values, metric);
    if (v === undefined || p.ts < start) continue;
    const x = ((p.ts - start) / SPARK_WINDOW_MS) * width;
    const y = height - ((v - lo) / (hi - lo)) * height;
    d += `${prevTs === null || p.ts - prevTs > gap * stride ? 'M' : 'L'}${x.toFixed(1)} ${y.toFixed(1)}`;
    prevTs = p.ts;
  }
  return d;
}

/**
 * An SVG line of the last minutes: no canvas, so a card costs no 2D context or bitmap to create (a canvas
 * each was most of the time to first cards and of a scroll frame). Redrawn once a second with the clock (a
 * pixel of it spans over a second), not on every reading.
 */
function Sparkline({ points, metric, width }: { points: Reading[]; metric: string | null; width: number }) {
  const now = useNow(1000);
  const d = useMemo(() => sparkPath(points, metric, Date.now(), width), [points, points.length, metric, now, width]);
  return (
    <svg
      class="spark"
      viewBox={`0 0 ${width} ${SPARK_HEIGHT}`}
      preserveAspectRatio="none"
      role="img"
      aria-label={metric ? `${metric}, last ${SPARK_WINDOW_MS / 60_000} minutes` : 'no data'}
      data-points={points.length}
    >
      {d ? <path d={d} /> : null}
    </svg>
  );
}

export function connectCommand(host: string): string {
  return `npx mqtt pub -h ${host} -p 1883 -i my-sensor -t sensors/my-sensor/telemetry -m '{"values":{"temperature":21.5},"units":{"temperature":"°C"}}'`;
}

function EmptyFleet() {
  const host = location.hostname === 'localhost' || location.hostname === '' ? '127.0.0.1' : location.hostname;
  const command = connectCommand(host);
  const [copied, setCopied] = useState(false);
  return (
    <section class="state empty" aria-labelledby="empty-title">
      <h1 id="empty-title">No sensor yet</h1>
      <p>
        A sensor appears here as soon as it connects or sends its first reading. Publish one reading over MQTT; the client id must equal the
        sensor id:
      </p>
      <pre class="command">
        <code>{command}</code>
      </pre>
      <button
        type="button"
        onClick={() =>
          void navigator.clipboard?.writeText(command).then(
            () => setCopied(true),
            () => setCopied(false),
          )
        }
      >
        {copied ? 'Copied' : 'Copy command'}
      </button>
      <p class="muted">
        In local mode <code>npm start</code> also runs simulated sensors (<code>--sensors N</code>). In the cloud, a device connects to AWS
        IoT Core with its certificate (<code>npm run provision</code>) and publishes to the same topic.
      </p>
    </section>
  );
}
