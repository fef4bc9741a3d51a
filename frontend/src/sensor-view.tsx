import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type Api, type SensorInfo } from './api';
import { useAlertOverlay } from './alert-chart';
import { MetricChart } from './chart';
import {
  BUCKET_MS,
  RANGE_MS,
  backfillSpan,
  foldIntoBuckets,
  formatAgo,
  mergeReadings,
  metricsOf,
  readingRate,
  seriesToCsv,
  trimBefore,
  type RangeKey,
  type Reading,
  type Series,
} from './data';
import { precision } from './fleet';
import { ErrorState, Loading, STALE_AFTER_MS, StatusBadge } from './fleet-view';
import { useNow } from './hooks';
import type { ConnectionState, LiveConnection } from './live';
import { own } from './own';

const RANGES: Array<{ key: RangeKey; label: string }> = [
  { key: 'live', label: 'Live' },
  { key: '1h', label: '1 h' },
  { key: '24h', label: '24 h' },
  { key: '7d', label: '7 d' },
  { key: '30d', label: '30 d' },
  { key: 'custom', label: 'Custom' },
];

/** Points per history query: beyond this a chart has more points than pixels, so `auto` aggregates. */
const HISTORY_LIMIT = 2000;
/** How long after a reconnection the missed span is asked for (see the `reconnected` handler). */
export const BACKFILL_SETTLE_MS = [1500, 5000];

type ViewLoad = { kind: 'loading' } | { kind: 'ready' } | { kind: 'error'; message: string } | { kind: 'not-found' };

interface Shown {
  series: Series;
  from: number;
  to: number;
  /** The range ends at now and takes live readings. */
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
  const [load, setLoad] = useState<ViewLoad>({ kind: 'loading' });
  const [revision, setRevision] = useState(0);
  const shown = useRef<Shown | null>(null);
  const pending = useRef<Reading[]>([]);
  const liveTs = useRef<number[]>([]);
  const bump = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const now = useNow(1000);

  const changed = useCallback(() => {
    if (bump.current !== undefined) return;
    bump.current = setTimeout(() => {
      bump.current = undefined;
      setRevision((r) => r + 1);
    }, 50);
  }, []);

  const absorb = useCallback(
    (readings: Reading[]) => {
      const s = shown.current;
      if (!s?.follows) return;
      if (s.series.resolution === 'raw') {
        s.series = { resolution: 'raw', points: trimBefore(mergeReadings(s.series.points, readings), Date.now() - s.windowMs) };
      } else {
        const bucketMs = BUCKET_MS[s.series.resolution];
        for (const r of readings) {
          if (s.folded.has(r.ts) || r.ts <= s.to - 1) continue;
          s.folded.add(r.ts);
          foldIntoBuckets(s.series.points, r, bucketMs);
        }
      }
      for (const r of readings) if (r.ts > s.coveredUntil) s.coveredUntil = r.ts;
      changed();
    },
    [changed],
  );

  /**
   * Asks the store for the span from `gapFrom` on. It waits a moment, twice: a reading made just before a
   * (re)subscription may be pushed before the subscription is in place and stored after the first query.
   */
  const fillGap = useCallback(
    (s: Shown) => {
      // The query waits a moment: a reading made just before the reconnection may be pushed before the
      // subscription is back and stored after it, and only the store can give it back.
      // Twice: the second pass catches a reading whose write was still queued behind the first.
      for (const delay of BACKFILL_SETTLE_MS) {
        setTimeout(() => {
          if (shown.current !== s || s.gapFrom === null || live.state !== 'live') return;
          const drops = s.drops;
          const last = delay === BACKFILL_SETTLE_MS[BACKFILL_SETTLE_MS.length - 1];
          const span = backfillSpan(s.gapFrom, Date.now(), s.windowMs);
          if (!span) return void (s.gapFrom = null);
          void api.readings(sensorId, { ...span, resolution: 'raw', limit: 10_000 }, undefined, 5).then(
            (page) => {
              if (shown.current !== s || page.resolution !== 'raw') return;
              absorb(page.points);
              if (last && s.drops === drops) s.gapFrom = null;
            },
            () => undefined,
          );
        }, delay);
      }
    },
    [api, live, sensorId, absorb],
  );

  // On screen: this sensor only.
  useEffect(() => {
    live.setSubscriptions([sensorId]);
    const controller = new AbortController();
    setInfo(null);
    api.sensor(sensorId, controller.signal).then((got) => {
      for (const [m, v] of Object.entries(got.latest?.values ?? {})) precision.see(m, v);
      setInfo(got);
    }, (err: Error) => {
      if (err instanceof ApiError && err.status === 404) setLoad({ kind: 'not-found' });
    });
    const offReadings = live.on('readings', (readings) => {
      const mine: Reading[] = [];
      for (const r of readings) if (r.sensorId === sensorId) mine.push({ ts: r.ts, values: r.values });
      if (mine.length === 0) return;
      for (const r of mine) for (const [m, v] of Object.entries(r.values)) precision.see(m, v);
      for (const r of mine) liveTs.current.push(r.ts);
      if (liveTs.current.length > 64) liveTs.current = liveTs.current.slice(-32);
      setInfo((old) =>
        old ? { ...old, online: true, lastSeen: Date.now(), latest: mine[mine.length - 1], metrics: [...new Set([...old.metrics, ...Object.keys(mine[0].values)])].sort() } : old,
      );
      if (shown.current) absorb(mine);
      else pending.current.push(...mine);
    });
    const offStatus = live.on('status', (s) => {
      if (s.sensorId === sensorId) setInfo((old) => (old ? { ...old, online: s.online, lastSeen: Math.max(old.lastSeen ?? 0, s.ts) } : old));
    });
    // A drop opens a gap at the newest reading held; it stays open until a backfill made after the last
    // reconnection succeeds, however many drops come in between.
    const offState = live.on('state', (state) => {
      const s = shown.current;
      if (!s || state === 'live') return;
      s.drops++;
      s.gapFrom ??= s.coveredUntil;
    });
    const offReconnected = live.on('reconnected', () => {
      const s = shown.current;
      if (!s?.follows) return;
      fillGap(s);
    });
    return () => {
      controller.abort();
      offReadings();
      offStatus();
      offReconnected();
      offState();
    };
  }, [sensorId, api, live, absorb, fillGap]);

  // The range on screen: load it whole, then let live readings in.
  useEffect(() => {
    const controller = new AbortController();
    const started = Date.now();
    let from: number;
    let to: number;
    let follows = true;
    if (range === 'custom') {
      from = new Date(customApplied.from).getTime();
      to = new Date(customApplied.to).getTime();
      follows = false;
      if (!(from < to)) {
        setLoad({ kind: 'error', message: 'The custom range must start before it ends.' });
        return;
      }
    } else {
      to = started + 1;
      from = to - RANGE_MS[range];
    }
    shown.current = null;
    pending.current = [];
    setLoad((old) => (old.kind === 'not-found' ? old : { kind: 'loading' }));
    api
      .readings(sensorId, { from, to, resolution: range === 'live' ? 'raw' : 'auto', limit: range === 'live' ? 10_000 : HISTORY_LIMIT }, controller.signal)
      .then((series) => {
        const coveredUntil = series.resolution === 'raw' && series.points.length ? series.points[series.points.length - 1].ts : to - 1;
        shown.current = {
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
        if (follows) fillGap(shown.current);
        const early = pending.current;
        pending.current = [];
        if (early.length) absorb(early);
        setLoad({ kind: 'ready' });
        setRevision((r) => r + 1);
      })
      .catch((err: Error) => {
        if (controller.signal.aborted) return;
        if (err instanceof ApiError && err.status === 404) setLoad({ kind: 'not-found' });
        else setLoad({ kind: 'error', message: err.message });
      });
    return () => controller.abort();
  }, [sensorId, range, customApplied, api, absorb, fillGap]);

  // The end-to-end tests and the benchmark read what the charts hold.
  useEffect(() => {
    (window as unknown as { __vigiaView?: unknown }).__vigiaView = { sensorId, shown: () => shown.current };
  }, [sensorId]);

  const s = shown.current;
  const metrics = s ? [...new Set([...metricsOf(s.series), ...(info?.metrics ?? [])])].sort() : (info?.metrics ?? []);
  const silentFor = info?.lastSeen ? now - info.lastSeen : Infinity;
  const stale = connection !== 'live' || !info?.online || silentFor > STALE_AFTER_MS;

  const download = () => {
    if (!s) return;
    const blob = new Blob([seriesToCsv(s.series, metrics)], { type: 'text/csv' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `${sensorId}_${new Date(s.from).toISOString()}_${new Date(s.follows ? Date.now() : s.to).toISOString()}.csv`.replace(/:/g, '-');
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
            <label class="field">
              <span>From</span>
              <input type="datetime-local" value={custom.from} required onInput={(e) => setCustom({ ...custom, from: e.currentTarget.value })} />
            </label>
            <label class="field">
              <span>To</span>
              <input type="datetime-local" value={custom.to} required onInput={(e) => setCustom({ ...custom, to: e.currentTarget.value })} />
            </label>
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
          {load.kind === 'error' ? <ErrorState title="The readings could not be loaded" message={load.message} retry={() => setCustomApplied({ ...customApplied })} /> : null}
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

function CommandPanel({
  sensorId,
  live,
  connection,
  rate,
  block,
}: {
  sensorId: string;
  live: LiveConnection;
  connection: ConnectionState;
  rate: number | null;
  block: string | null;
}) {
  const [intervalMs, setIntervalMs] = useState('1000');
  const [sent, setSent] = useState<{ id: string; at: number; intervalMs: number; rateBefore: number | null } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const rateBefore = useRef<number | null>(null);
  const asked = useRef<number | null>(null);

  useEffect(() => {
    const offSent = live.on('commandSent', (c) => {
      if (c.sensorId !== sensorId || asked.current === null) return;
      setSent({ id: c.id, at: Date.now(), intervalMs: asked.current, rateBefore: rateBefore.current });
      setProblem(null);
    });
    const offError = live.on('error', (e) =>
      setProblem(e.code === 'FORBIDDEN' ? `FORBIDDEN: ${e.message || 'commands are for operators only'}` : `${e.code}: ${e.message}`),
    );
    return () => {
      offSent();
      offError();
    };
  }, [live, sensorId]);

  const fmtRate = (r: number | null) => (r === null ? '–' : `${r >= 10 ? r.toFixed(0) : r.toFixed(1)} /s (every ${Math.round(1000 / r)} ms)`);

  return (
    <aside class={`panel${block ? ' blocked' : ''}`} aria-labelledby="command-title" data-blocked={block ? 'true' : 'false'}>
      <h2 id="command-title">Command</h2>
      {block ? (
        <p class="command-block" id="command-block">
          {block}
        </p>
      ) : null}
      <form
        aria-describedby={block ? 'command-block' : undefined}
        onSubmit={(e) => {
          e.preventDefault();
          if (block) return;
          const value = Number(intervalMs);
          if (!Number.isInteger(value) || value < 100 || value > 3_600_000) {
            setProblem('The interval is a whole number of milliseconds from 100 to 3 600 000.');
            return;
          }
          rateBefore.current = rate;
          asked.current = value;
          if (!live.command(sensorId, 'setInterval', { intervalMs: value })) setProblem('Not connected; try again once live.');
        }}
      >
        <label class="field" for="interval-ms">
          <span>Reading interval (ms)</span>
        </label>
        <div class="row">
          <input
            id="interval-ms"
            type="number"
            inputMode="numeric"
            min={100}
            max={3_600_000}
            step={1}
            required
            disabled={block !== null}
            value={intervalMs}
            onInput={(e) => setIntervalMs(e.currentTarget.value)}
          />
          <button type="submit" disabled={connection !== 'live' || block !== null}>
            Send setInterval
          </button>
        </div>
      </form>
      <div role="status" aria-live="polite" class="command-result">
        {problem ? <p class="problem">{problem}</p> : null}
        {sent ? (
          <p>
            <b>commandSent</b> <code class="id">{sent.id}</code>
            <br />
            setInterval {sent.intervalMs} ms at {new Date(sent.at).toLocaleTimeString()}
          </p>
        ) : null}
      </div>
      <dl class="rate">
        <div>
          <dt>Reading rate</dt>
          <dd data-rate={rate ?? ''}>{fmtRate(rate)}</dd>
        </div>
        {sent ? (
          <div>
            <dt>Before the command</dt>
            <dd>{fmtRate(sent.rateBefore)}</dd>
          </div>
        ) : null}
      </dl>
    </aside>
  );
}
