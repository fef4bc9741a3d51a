import { CardAlertBadge } from './alert-bar';
import { ErrorState, Loading, StatusBadge } from './badges';
import { memo } from 'preact/compat';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { filterAndSort, formatAgo, gapThreshold, keepOrder, type Reading, type SortKey } from './data';
import { SPARK_WINDOW_MS, precision, type FleetSensor, type FleetStore } from './fleet';
import { useNow, usePrefersDark, useStore } from './hooks';
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
export function visibleRows(listTop: number, listWidth: number, viewportHeight: number, count: number): Window {
  const columns = Math.max(1, Math.floor((listWidth + CARD_GAP) / (CARD_MIN_WIDTH + CARD_GAP)));
  const rows = Math.ceil(count / columns);
  const rowHeight = CARD_HEIGHT + CARD_GAP;
  const firstRow = Math.max(0, Math.floor(-listTop / rowHeight) - OVERSCAN_ROWS);
  const lastRow = Math.min(rows - 1, Math.ceil((viewportHeight - listTop) / rowHeight) + OVERSCAN_ROWS);
  return { width: listWidth, columns, firstRow, lastRow: Math.max(firstRow - 1, lastRow) };
}

function useGridWindow(list: { current: HTMLElement | null }, count: number): Window {
  const [win, setWin] = useState<Window>({ width: 0, columns: 1, firstRow: 0, lastRow: 5 });
  useLayoutEffect(() => {
    let frame: number | null = null;
    const measure = () => {
      frame = null;
      const el = list.current;
      if (!el) return;
      const rect = el.getBoundingClientRect();
      const next = visibleRows(rect.top, el.clientWidth, innerHeight, count);
      setWin((old) => (old.width === next.width && old.columns === next.columns && old.firstRow === next.firstRow && old.lastRow === next.lastRow ? old : next));
    };
    const schedule = () => {
      if (frame === null) frame = requestAnimationFrame(measure);
    };
    measure();
    addEventListener('scroll', schedule, { passive: true });
    addEventListener('resize', schedule);
    return () => {
      removeEventListener('scroll', schedule);
      removeEventListener('resize', schedule);
      if (frame !== null) cancelAnimationFrame(frame);
    };
  }, [count, list.current]);
  return win;
}

export function FleetView({ store, connection }: { store: FleetStore; connection: ConnectionState }) {
  useStore(store.subscribe.bind(store) as never);
  const [filter, setFilter] = useState(() => sessionStorage.getItem('vigia.filter') ?? '');
  const [sort, setSort] = useState<SortKey>(() => (sessionStorage.getItem('vigia.sort') as SortKey) || 'name');
  // The order on screen holds still (cards never move under the pointer) until a re-sort is asked for.
  const held = useRef<{ key: string; order: string[] }>({ key: '', order: [] });
  const list = useRef<HTMLUListElement>(null);
  const now = useNow(1000);
  const dark = usePrefersDark();

  useEffect(() => {
    void store.refresh();
    // Live frames carry readings and presence of the cards on screen; the list itself is re-read now and then.
    const every = setInterval(() => void store.refresh(), 30_000);
    return () => clearInterval(every);
  }, [store]);
  useEffect(() => sessionStorage.setItem('vigia.filter', filter), [filter]);
  useEffect(() => sessionStorage.setItem('vigia.sort', sort), [sort]);

  const all = useMemo(() => [...store.sensors.values()], [store.version, store.sensors]);
  // Sorted again when the data, the filter or the sort changes; not when the window moves with a scroll.
  const sorted = useMemo(() => filterAndSort(all, filter, sort).map((s) => s.sensorId), [all, filter, sort]);
  const key = `${sort}\u0000${filter.trim().toLowerCase()}`;
  if (held.current.key !== key) held.current = { key, order: sorted };
  const { order, moved } = useMemo(() => keepOrder(held.current.order, sorted), [sorted, held.current]);
  held.current.order = order;
  const win = useGridWindow(list, order.length);
  const first = win.firstRow * win.columns;
  const shownIds = order.slice(first, (win.lastRow + 1) * win.columns);
  // An empty fleet listens to every sensor (`*`, one subscription, nothing to send yet), so the first one
  // to speak shows at once; otherwise only the cards on screen.
  const subscribeTo = store.load.kind === 'ready' && all.length === 0 ? ['*'] : shownIds;
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
    return (
      <ErrorState title="The sensor list could not be loaded" message={store.load.message} retry={() => void store.refresh()} />
    );
  }
  if (all.length === 0) return <EmptyFleet />;
  let online = 0;
  let matchingOnline = 0;
  for (const s of all) if (s.online) online++;
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
              ? `${order.length} of ${all.length} sensors match, ${matchingOnline} online`
              : `${online} of ${all.length} online`}
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
                now={now}
                connectionLive={connection === 'live'}
                position={first + i + 1}
                total={order.length}
                precisionVersion={precision.version}
                dark={dark}
                sparkWidth={sparkWidth}
              />
            );
          })}
        </ul>
      )}
    </section>
  );
}

const SensorCard = memo(function SensorCard({
  sensor,
  now,
  connectionLive,
  position,
  total,
  dark,
  sparkWidth,
}: {
  sensor: FleetSensor;
  revision: number;
  now: number;
  connectionLive: boolean;
  position: number;
  total: number;
  precisionVersion: number;
  dark: boolean;
  sparkWidth: number;
}) {
  const silentFor = sensor.lastSeen === null ? Infinity : now - sensor.lastSeen;
  const stale = !connectionLive || !sensor.online || silentFor > STALE_AFTER_MS;
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
        <Sparkline points={sensor.spark} metric={sensor.sparkMetric} now={now} dark={dark} width={sparkWidth} />
        <p class="seen">
          {sensor.lastSeen === null ? 'never seen' : <>last seen <time dateTime={new Date(sensor.lastSeen).toISOString()}>{formatAgo(Math.max(0, silentFor))}</time></>}
          {more > 0 ? <span class="more"> · {more} more</span> : null}
          {stale && values.length > 0 ? <span class="stale-tag">stale</span> : null}
        </p>
      </a>
    </li>
  );
});

const SPARK_HEIGHT = 40;

/** A plain canvas line of the last minutes: far cheaper than a chart per card. */
/** Redrawn once a second with the clock (a pixel of it spans over a second), not on every reading. */
function Sparkline({ points, metric, now, dark, width }: { points: Reading[]; metric: string | null; now: number; dark: boolean; width: number }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useLayoutEffect(() => {
    const el = canvas.current;
    if (!el) return;
    const dpr = devicePixelRatio || 1;
    const height = SPARK_HEIGHT;
    // Sized in render (attributes below), never by reading layout here.
    const ctx = el.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    if (!metric || points.length < 2) return;
    const end = Date.now();
    // The line spans the whole window: a sensor that has been up a minute fills only the right fifth.
    const start = end - SPARK_WINDOW_MS;
    const gap = gapThreshold(points);
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of points) {
      const v = own(p.values, metric);
      if (v === undefined || p.ts < start) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo === Infinity) return;
    const pad = hi === lo ? 1 : (hi - lo) * 0.1;
    lo -= pad;
    hi += pad;
    ctx.beginPath();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = dark ? '#4cc2ff' : '#0a6fc2';
    let prevTs: number | null = null;
    // More points than pixels draw nothing more: at most two per pixel column.
    const stride = Math.max(1, Math.floor(points.length / (width * 2)));
    for (let i = 0; i < points.length; i += stride) {
      const p = points[i];
      const v = own(p.values, metric);
      if (v === undefined || p.ts < start) continue;
      const x = ((p.ts - start) / SPARK_WINDOW_MS) * width;
      const y = height - ((v - lo) / (hi - lo)) * height;
      // A gap breaks the line, as on the sensor's chart.
      if (prevTs === null || p.ts - prevTs > gap * stride) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
      prevTs = p.ts;
    }
    ctx.stroke();
  }, [points.length > 0 && points[0], dark, metric, now, width, points.length < 3 ? points.length : 0]);
  return (
    <canvas
      ref={canvas}
      width={Math.round(width * (devicePixelRatio || 1))}
      height={Math.round(SPARK_HEIGHT * (devicePixelRatio || 1))}
      class="spark"
      role="img"
      aria-label={metric ? `${metric}, last ${SPARK_WINDOW_MS / 60_000} minutes` : 'no data'}
      data-points={points.length}
    />
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
        A sensor appears here as soon as it connects or sends its first reading. Publish one reading over MQTT; the client id
        must equal the sensor id:
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
        In local mode <code>npm start</code> also runs simulated sensors (<code>--sensors N</code>). In the cloud, a device
        connects to AWS IoT Core with its certificate (<code>npm run provision</code>) and publishes to the same topic.
      </p>
    </section>
  );
}
