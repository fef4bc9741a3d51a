import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { MAX_LIMIT, readingsCsv } from '../../lambdas/shared/contract.js';
import { ApiError, type Api, type SensorInfo } from './api';
import { useAlertOverlay } from './alert-chart';
import { ErrorState, Loading, StatusBadge } from './badges';
import { MetricChart } from './chart';
import { CommandPanel } from './command-panel';
import { RANGE_MS, formatAgo, metricsOf, readingRate, type RangeKey, type Reading } from './data';
import { precision } from './fleet';
import { STALE_AFTER_MS } from './fleet-view';
import { useNow, useStore } from './hooks';
import type { ConnectionState, LiveConnection } from './live';
import { own } from './own';
import { HISTORY_LIMIT, SensorSeriesStore } from './sensor-series';

const RANGES: Array<{ key: RangeKey; label: string }> = [
  { key: 'live', label: 'Live' },
  { key: '1h', label: '1 h' },
  { key: '24h', label: '24 h' },
  { key: '7d', label: '7 d' },
  { key: '30d', label: '30 d' },
  { key: 'custom', label: 'Custom' },
];

function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

export function SensorView({
  sensorId,
  api,
  live,
  connection,
  commandBlock = null,
}: {
  sensorId: string;
  api: Api;
  live: LiveConnection;
  connection: ConnectionState;
  /** Why this user may not send commands (sign-in on, not an operator); null when they may. */
  commandBlock?: string | null;
}) {
  const alertOverlay = useAlertOverlay(api, sensorId);
  const [info, setInfo] = useState<SensorInfo | null>(null);
  const [range, setRange] = useState<RangeKey>('live');
  const [custom, setCustom] = useState(() => ({ from: toLocalInput(Date.now() - 3_600_000), to: toLocalInput(Date.now()) }));
  const [customApplied, setCustomApplied] = useState(custom);
  const liveTs = useRef<number[]>([]);
  const now = useNow(1000);
  const store = useMemo(
    () =>
      new SensorSeriesStore(sensorId, {
        readings: async (id, query, signal, maxPages) => {
          const series = await api.readings(id, query, signal, maxPages);
          // The history sets a metric's decimals too: a latest value of 21 must not show 20.84 as "21".
          if (series.resolution === 'raw')
            for (const r of series.points) for (const [m, v] of Object.entries(r.values)) precision.see(m, v);
          return series;
        },
        isLive: () => live.state === 'live',
        now: Date.now,
        setTimeout: (run, ms) => setTimeout(run, ms),
        isNotFound: (err) => err instanceof ApiError && err.status === 404,
      }),
    [sensorId, api, live],
  );
  useStore(store);
  useEffect(() => () => store.close(), [store]);

  // On screen: this sensor only.
  useEffect(() => {
    live.setSubscriptions([sensorId]);
    const controller = new AbortController();
    setInfo(null);
    api.sensor(sensorId, controller.signal).then(
      (got) => {
        for (const [m, v] of Object.entries(got.latest?.values ?? {})) precision.see(m, v);
        setInfo(got);
      },
      (err: Error) => {
        if (err instanceof ApiError && err.status === 404) store.notFound();
      },
    );
    const offReadings = live.on('readings', (readings) => {
      const mine: Reading[] = [];
      for (const r of readings) if (r.sensorId === sensorId) mine.push({ ts: r.ts, values: r.values });
      if (mine.length === 0) return;
      for (const r of mine) for (const [m, v] of Object.entries(r.values)) precision.see(m, v);
      for (const r of mine) liveTs.current.push(r.ts);
      if (liveTs.current.length > 64) liveTs.current = liveTs.current.slice(-32);
      setInfo((old) =>
        old
          ? {
              ...old,
              online: true,
              lastSeen: Date.now(),
              latest: mine[mine.length - 1],
              metrics: [...new Set([...old.metrics, ...Object.keys(mine[0].values)])].sort(),
            }
          : old,
      );
      store.absorb(mine);
    });
    const offStatus = live.on('status', (s) => {
      if (s.sensorId === sensorId)
        setInfo((old) => (old ? { ...old, online: s.online, lastSeen: Math.max(old.lastSeen ?? 0, s.ts) } : old));
    });
    const offState = live.on('state', (state) => {
      if (state !== 'live') store.dropped();
    });
    const offReconnected = live.on('reconnected', () => store.reconnected());
    return () => {
      controller.abort();
      offReadings();
      offStatus();
      offReconnected();
      offState();
    };
  }, [sensorId, api, live, store]);

  // The range on screen: loaded whole, then live readings let in.
  useEffect(() => {
    if (range === 'custom') {
      const from = new Date(customApplied.from).getTime();
      const to = new Date(customApplied.to).getTime();
      if (!(from < to)) return store.refuse('The custom range must start before it ends.');
      store.show({ from, to, follows: false, resolution: 'auto', limit: HISTORY_LIMIT });
    } else {
      const to = Date.now() + 1;
      const live = range === 'live';
      store.show({
        from: to - RANGE_MS[range],
        to,
        follows: true,
        resolution: live ? 'raw' : 'auto',
        limit: live ? MAX_LIMIT : HISTORY_LIMIT,
      });
    }
  }, [store, range, customApplied]);

  // The end-to-end tests and the benchmark read what the charts hold.
  useEffect(() => {
    (window as unknown as { __vigiaView?: unknown }).__vigiaView = { sensorId, shown: () => store.shown };
  }, [sensorId, store]);

  const load = store.load;
  const revision = store.revision;
  const s = store.shown;
  const metrics = s ? [...new Set([...metricsOf(s.series), ...(info?.metrics ?? [])])].sort() : (info?.metrics ?? []);
  const silentFor = info?.lastSeen ? now - info.lastSeen : Infinity;
  const stale = connection !== 'live' || !info?.online || silentFor > STALE_AFTER_MS;

  const download = () => {
    if (!s) return;
    const blob = new Blob([readingsCsv(s.series, metrics)], { type: 'text/csv' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${sensorId}_${new Date(s.from).toISOString()}_${new Date(s.follows ? Date.now() : s.to).toISOString()}.csv`.replace(
      /:/g,
      '-',
    );
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  };

  if (load.kind === 'not-found') {
    return (
      <section class="state">
        <h1>No sensor “{sensorId}”</h1>
        <p class="muted">It has never connected nor sent a reading.</p>
        <a href="#/">Back to the fleet</a>
      </section>
    );
  }

  return (
    <section aria-labelledby="sensor-title" class="sensor">
      <nav class="crumbs">
        <a href="#/">← Fleet</a>
      </nav>
      <div class="toolbar">
        <h1 id="sensor-title">
          {sensorId} {info ? <StatusBadge online={info.online} /> : null}
        </h1>
        <p class="muted seen">
          {info?.lastSeen ? <>last seen {formatAgo(Math.max(0, silentFor))}</> : null}
          {info?.latest && stale ? <span class="stale-tag">stale</span> : null}
        </p>
      </div>
      {info?.latest ? (
        <dl class={`values wide${stale ? ' stale' : ''}`} aria-label="Latest values">
          {Object.entries(info.latest.values)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([m, v]) => (
              <div key={m}>
                <dt>{m}</dt>
                <dd>
                  {precision.format(m, v)}
                  {own(info.units, m) ? <span class="unit"> {own(info.units, m)}</span> : null}
                </dd>
              </div>
            ))}
        </dl>
      ) : null}

      <div class="range-bar">
        {/* biome-ignore lint/a11y/noNoninteractiveElementToInteractiveRole: radio buttons shown as a segmented control */}
        <fieldset class="segmented" role="radiogroup">
          <legend class="sr-only">Time range</legend>
          {RANGES.map((r) => (
            <label key={r.key} class={range === r.key ? 'checked' : ''}>
              <input type="radio" name="range" value={r.key} checked={range === r.key} onChange={() => setRange(r.key)} />
              {r.label}
            </label>
          ))}
        </fieldset>
        {range === 'custom' ? (
          <form
            class="custom-range"
            onSubmit={(e) => {
              e.preventDefault();
              setCustomApplied({ ...custom });
            }}
          >
            {(['from', 'to'] as const).map((end) => (
              <label class="field" key={end}>
                <span>{end === 'from' ? 'From' : 'To'}</span>
                <input
                  type="datetime-local"
                  value={custom[end]}
                  required
                  onInput={(e) => setCustom({ ...custom, [end]: e.currentTarget.value })}
                />
              </label>
            ))}
            <button type="submit">Show</button>
          </form>
        ) : null}
        <button type="button" class="secondary" onClick={download} disabled={!s || s.series.points.length === 0}>
          Download CSV
        </button>
      </div>
      <p class="muted range-note" aria-live="polite">
        {s
          ? `${s.series.points.length} ${s.series.resolution === 'raw' ? 'readings' : `${s.series.resolution} buckets (min–max band, average line)`}${s.follows ? ', streaming' : ''}`
          : ''}
      </p>

      <div class="sensor-body">
        <div class="charts">
          {load.kind === 'loading' ? <Loading what="readings" /> : null}
          {load.kind === 'error' ? (
            <ErrorState
              title="The readings could not be loaded"
              message={load.message}
              retry={() => setCustomApplied({ ...customApplied })}
            />
          ) : null}
          {load.kind === 'ready' && s && metrics.length === 0 ? <p class="empty-inline">No readings in this range.</p> : null}
          {load.kind === 'ready' && s
            ? metrics.map((m) => (
                <figure key={`${m}-${s.series.resolution}`} class="chart-card">
                  <figcaption>
                    {m}
                    {own(info?.units, m) ? <span class="muted"> ({own(info?.units, m)})</span> : null}
                  </figcaption>
                  <MetricChart
                    series={s.series}
                    metric={m}
                    unit={own(info?.units, m)}
                    revision={revision}
                    range={s.follows ? { from: now - s.windowMs, to: now } : { from: s.from, to: s.to }}
                    decimals={precision.decimals(m)}
                    plugins={[alertOverlay.plugin(m)]}
                  />
                </figure>
              ))
            : null}
        </div>
        <CommandPanel sensorId={sensorId} live={live} connection={connection} rate={readingRate(liveTs.current)} block={commandBlock} />
      </div>
    </section>
  );
}
