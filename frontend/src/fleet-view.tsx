import { CardAlertBadge } from './alert-bar';
import { memo } from 'preact/compat';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { filterAndSort, formatAgo, formatValue, type Reading, type SortKey } from './data';
import { SPARK_WINDOW_MS, type FleetSensor, type FleetStore } from './fleet';
import { useNow, usePrefersDark, useStore } from './hooks';
import type { ConnectionState } from './live';
import { own } from './own';

/** A sensor silent this long is shown with stale values even before the 10-minute offline rule. */
export const STALE_AFTER_MS = 60_000;

export function FleetView({ store, connection }: { store: FleetStore; connection: ConnectionState }) {
  useStore(store.subscribe.bind(store) as never);
  const [filter, setFilter] = useState(() => sessionStorage.getItem('vigia.filter') ?? '');
  const [sort, setSort] = useState<SortKey>(() => (sessionStorage.getItem('vigia.sort') as SortKey) || 'name');
  const now = useNow(1000);

  useEffect(() => {
    store.watch();
    void store.refresh();
    // Live frames carry readings and presence; the list itself (a quiet sensor's catch-up) is re-read now and then.
    const every = setInterval(() => void store.refresh(), 30_000);
    return () => clearInterval(every);
  }, [store]);
  useEffect(() => sessionStorage.setItem('vigia.filter', filter), [filter]);
  useEffect(() => sessionStorage.setItem('vigia.sort', sort), [sort]);

  if (store.load.kind === 'loading') return <Loading what="sensors" />;
  if (store.load.kind === 'error') {
    return (
      <ErrorState title="The sensor list could not be loaded" message={store.load.message} retry={() => void store.refresh()} />
    );
  }
  const all = [...store.sensors.values()];
  if (all.length === 0) return <EmptyFleet />;
  const shown = filterAndSort(all, filter, sort);
  const online = all.filter((s) => s.online).length;

  return (
    <section aria-labelledby="fleet-title">
      <div class="toolbar">
        <h1 id="fleet-title">
          Fleet <span class="muted">{online} of {all.length} online</span>
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
        </div>
      </div>
      {shown.length === 0 ? (
        <p class="empty-inline">No sensor name contains “{filter}”.</p>
      ) : (
        <ul class="cards" aria-label="Sensors">
          {shown.map((s) => (
            <SensorCard key={s.sensorId} sensor={s} revision={s.revision} now={now} connectionLive={connection === 'live'} />
          ))}
        </ul>
      )}
    </section>
  );
}

const SensorCard = memo(function SensorCard({
  sensor,
  now,
  connectionLive,
}: {
  sensor: FleetSensor;
  revision: number;
  now: number;
  connectionLive: boolean;
}) {
  const silentFor = sensor.lastSeen === null ? Infinity : now - sensor.lastSeen;
  const stale = !connectionLive || !sensor.online || silentFor > STALE_AFTER_MS;
  const values = sensor.latest ? Object.entries(sensor.latest.values).sort(([a], [b]) => a.localeCompare(b)) : [];
  return (
    <li class={`card${stale ? ' stale' : ''}`} data-sensor={sensor.sensorId}>
      <a class="card-link" href={`#/sensors/${encodeURIComponent(sensor.sensorId)}`} aria-label={`Open ${sensor.sensorId}`}>
        <div class="card-head">
          <h2>{sensor.sensorId}</h2>
          <StatusBadge online={sensor.online} />
          <CardAlertBadge sensorId={sensor.sensorId} />
        </div>
        {values.length > 0 ? (
          <dl class="values">
            {values.map(([metric, v]) => (
              <div key={metric}>
                <dt>{metric}</dt>
                <dd data-metric={metric}>
                  {formatValue(v)}
                  {own(sensor.units, metric) ? <span class="unit"> {own(sensor.units, metric)}</span> : null}
                </dd>
              </div>
            ))}
          </dl>
        ) : (
          <p class="muted">No reading yet</p>
        )}
        <Sparkline points={sensor.spark} metric={sensor.sparkMetric} now={now} />
        <p class="seen">
          {sensor.lastSeen === null ? 'never seen' : <>last seen <time dateTime={new Date(sensor.lastSeen).toISOString()}>{formatAgo(Math.max(0, silentFor))}</time></>}
          {stale && values.length > 0 ? <span class="stale-tag">stale</span> : null}
        </p>
      </a>
    </li>
  );
});

export function StatusBadge({ online }: { online: boolean }) {
  return <span class={`badge ${online ? 'online' : 'offline'}`}>{online ? 'online' : 'offline'}</span>;
}

/** A plain canvas line of the last minutes: far cheaper than a chart per card. */
/** Redrawn once a second with the clock (a pixel of it spans over a second), not on every reading. */
function Sparkline({ points, metric, now }: { points: Reading[]; metric: string | null; now: number }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const dark = usePrefersDark();
  useLayoutEffect(() => {
    const el = canvas.current;
    if (!el) return;
    const dpr = devicePixelRatio || 1;
    const width = el.clientWidth || 240;
    const height = el.clientHeight || 40;
    if (el.width !== Math.round(width * dpr) || el.height !== Math.round(height * dpr)) {
      el.width = Math.round(width * dpr);
      el.height = Math.round(height * dpr);
    }
    const ctx = el.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    if (!metric || points.length < 2) return;
    const end = Date.now();
    // The line spans the window, or what there is of it so far.
    const start = Math.max(end - SPARK_WINDOW_MS, points[0].ts);
    const span = Math.max(1, end - start);
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
    let first = true;
    // More points than pixels draw nothing more: at most two per pixel column.
    const stride = Math.max(1, Math.floor(points.length / (width * 2)));
    for (let i = 0; i < points.length; i += stride) {
      const p = points[i];
      const v = own(p.values, metric);
      if (v === undefined || p.ts < start) continue;
      const x = ((p.ts - start) / span) * width;
      const y = height - ((v - lo) / (hi - lo)) * height;
      if (first) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
      first = false;
    }
    ctx.stroke();
  }, [points.length > 0 && points[0], dark, metric, now, points.length < 3 ? points.length : 0]);
  return (
    <canvas
      ref={canvas}
      class="spark"
      role="img"
      aria-label={metric ? `${metric}, last ${SPARK_WINDOW_MS / 60_000} minutes` : 'no data'}
      data-points={points.length}
    />
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <div class="state" role="status" aria-live="polite">
      <div class="spinner" aria-hidden="true" />
      <p>Loading {what}…</p>
    </div>
  );
}

export function ErrorState({ title, message, retry }: { title: string; message: string; retry?: () => void }) {
  return (
    <div class="state error" role="alert">
      <h2>{title}</h2>
      <p class="muted">{message}</p>
      {retry ? (
        <button type="button" onClick={retry}>
          Try again
        </button>
      ) : null}
    </div>
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
