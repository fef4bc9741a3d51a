/**
 * One metric's chart: uPlot, raw as a line, aggregated as the min–max band with the average line. It tells
 * no untruths: the line breaks across gaps, the x-axis spans the range asked (the empty part shaded as
 * such), and the tooltip shows a real reading with its own time, never a neighbour's value at a missing time.
 * Keyboard: the chart is focusable; ←/→ step through readings, Home/End jump to the ends, Esc hides.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { bucketsToBand, formatValue, gapThreshold, pointAt, readingsToColumns, type Series } from './data';
import { usePrefersDark } from './hooks';

/** A horizontal line across the chart (e.g. an alert threshold), drawn over the data. */
export interface ChartThreshold {
  value: number;
  label: string;
  color?: string;
}

interface Props {
  series: Series;
  metric: string;
  unit?: string;
  /** Changes whenever `series` changed in place. */
  revision: number;
  /** The range asked (epoch ms, `to` exclusive): the x-axis spans it whole, data or not. */
  range: { from: number; to: number };
  /** Decimal places for this metric's values. */
  decimals?: number;
  height?: number;
  thresholds?: ChartThreshold[];
  /** More uPlot plugins (overlays, bands); the chart's own tooltip and shading come first. */
  plugins?: uPlot.Plugin[];
}

function palette(dark: boolean) {
  return dark
    ? {
        axis: '#9aa4b2',
        grid: 'rgba(255,255,255,0.07)',
        line: '#4cc2ff',
        band: 'rgba(76,194,255,0.22)',
        edge: 'rgba(76,194,255,0.55)',
        empty: 'rgba(255,255,255,0.05)',
        threshold: '#ff8a80',
      }
    : {
        axis: '#4b5563',
        grid: 'rgba(0,0,0,0.07)',
        line: '#0a6fc2',
        band: 'rgba(10,111,194,0.16)',
        edge: 'rgba(10,111,194,0.45)',
        empty: 'rgba(0,0,0,0.045)',
        threshold: '#b42318',
      };
}

interface Columns {
  data: uPlot.AlignedData;
  /** Longest spacing (s) still drawn as a line; beyond it is a gap. */
  gap: number;
}

function columns(series: Series, metric: string): Columns {
  const gap = gapThreshold(series.points as ReadonlyArray<{ ts: number }>) / 1000;
  if (series.resolution === 'raw') {
    const { x, y } = readingsToColumns(series.points, metric);
    return { data: [x, y], gap };
  }
  const { x, min, max, avg } = bucketsToBand(series.points, metric);
  return { data: [x, min, max, avg], gap };
}

const timeFormat = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

interface ChartState {
  gap: number;
  /** The index shown by the keyboard, or null when the pointer leads. */
  keyIdx: number | null;
  /** Where the pointer is over the plot (CSS px), so new data does not move the tooltip off it. */
  pointer: { left: number; top: number } | null;
}

function row(label: string, value: string): HTMLDivElement {
  const div = document.createElement('div');
  const b = document.createElement('b');
  b.textContent = label;
  div.append(b, ` ${value}`);
  return div;
}

/**
 * The tooltip: built with textContent only (device text is never HTML). It shows the reading nearest the
 * pointer when one lies within half a gap of it, at that reading's own time; over a gap it says so.
 */
function tooltipPlugin(
  metric: string,
  unit: string,
  aggregated: boolean,
  decimals: () => number,
  state: ChartState,
  live: HTMLElement,
): uPlot.Plugin {
  let tip: HTMLDivElement;
  const fmt = (v: number | null | undefined) =>
    v === null || v === undefined ? '–' : `${formatValue(v, decimals())}${unit ? ` ${unit}` : ''}`;
  const valueSeries = aggregated ? 3 : 1;
  return {
    hooks: {
      init: (u) => {
        u.over.addEventListener('mousemove', (e) => {
          const rect = u.over.getBoundingClientRect();
          state.pointer = { left: e.clientX - rect.left, top: e.clientY - rect.top };
          state.keyIdx = null;
        });
        u.over.addEventListener('mouseleave', () => (state.pointer = null));
        tip = document.createElement('div');
        tip.className = 'chart-tip';
        tip.hidden = true;
        u.over.appendChild(tip);
      },
      setCursor: (u) => {
        const left = u.cursor.left;
        if (left === undefined || left === null || left < 0) {
          tip.hidden = true;
          return;
        }
        const t = u.posToVal(left, 'x');
        const xs = u.data[0];
        const idx = state.keyIdx ?? pointAt(xs, u.data[valueSeries] as ArrayLike<number | null>, t, state.gap / 2);
        tip.replaceChildren();
        const when = document.createElement('div');
        when.className = 'chart-tip-time';
        let text: string;
        if (idx === null) {
          when.textContent = timeFormat.format(new Date(t * 1000));
          tip.append(when, row(metric, 'no reading'));
          text = `${when.textContent}: no reading`;
        } else {
          when.textContent = timeFormat.format(new Date(xs[idx] * 1000));
          if (aggregated) {
            tip.append(when, row('avg', fmt(u.data[3][idx])), row('min', fmt(u.data[1][idx])), row('max', fmt(u.data[2][idx])));
            text = `${when.textContent}: average ${fmt(u.data[3][idx])}, min ${fmt(u.data[1][idx])}, max ${fmt(u.data[2][idx])}`;
          } else {
            tip.append(when, row(metric, fmt(u.data[1][idx])));
            text = `${when.textContent}: ${fmt(u.data[1][idx])}`;
          }
        }
        tip.hidden = false;
        const at = idx === null ? left : u.valToPos(xs[idx], 'x');
        const flip = at > u.over.clientWidth / 2;
        tip.style.transform = `translate(${flip ? `calc(${at}px - 100% - 12px)` : `${at + 12}px`}, 8px)`;
        // Keyboard users hear the reading they stepped to (the pointer's would be chatter).
        if (state.keyIdx !== null) live.textContent = text;
      },
    },
  };
}

/** Shades the parts of the range with no data (before the first, after the last reading, and gaps). */
function emptyShadePlugin(fill: () => string, state: ChartState, valueSeries: number): uPlot.Plugin {
  return {
    hooks: {
      drawClear: (u) => {
        const xs = u.data[0];
        const ys = u.data[valueSeries];
        const { left, top, height } = u.bbox;
        const min = u.scales.x.min ?? 0;
        const max = u.scales.x.max ?? 0;
        const ctx = u.ctx;
        ctx.save();
        ctx.fillStyle = fill();
        const shade = (a: number, b: number) => {
          const x0 = Math.max(left, u.valToPos(a, 'x', true));
          const x1 = Math.min(left + u.bbox.width, u.valToPos(b, 'x', true));
          if (x1 > x0) ctx.fillRect(x0, top, x1 - x0, height);
        };
        let prev: number | null = null;
        for (let i = 0; i < xs.length; i++) {
          if (ys[i] === null || ys[i] === undefined) continue;
          if (prev === null) shade(min, xs[i] - state.gap / 2);
          else if (xs[i] - prev > state.gap) shade(prev, xs[i]);
          prev = xs[i];
        }
        if (prev === null) shade(min, max);
        else shade(prev + state.gap / 2, max);
        ctx.restore();
      },
    },
  };
}

function thresholdPlugin(thresholds: () => ChartThreshold[], color: string): uPlot.Plugin {
  return {
    hooks: {
      draw: (u) => {
        const ctx = u.ctx;
        const { left, width } = u.bbox;
        for (const t of thresholds()) {
          const y = u.valToPos(t.value, 'y', true);
          ctx.save();
          ctx.strokeStyle = t.color ?? color;
          ctx.setLineDash([6, 4]);
          ctx.lineWidth = 1.5 * devicePixelRatio;
          ctx.beginPath();
          ctx.moveTo(left, y);
          ctx.lineTo(left + width, y);
          ctx.stroke();
          ctx.restore();
        }
      },
    },
  };
}

export function MetricChart({ series, metric, unit = '', revision, range, decimals, height = 220, thresholds = [], plugins = [] }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const announce = useRef<HTMLParagraphElement>(null);
  const plot = useRef<uPlot | null>(null);
  const frame = useRef<number | null>(null);
  const state = useRef<ChartState>({ gap: Infinity, keyIdx: null, pointer: null });
  // What the plot's callbacks and the pending animation frame read: always this render's props, never a
  // closure's older ones (a frame asked for by one render may run after the next one).
  const latest = useRef({ range, decimals: decimals ?? 2, thresholds, series, metric });
  latest.current = { range, decimals: decimals ?? 2, thresholds, series, metric };
  const dark = usePrefersDark();
  const aggregated = series.resolution !== 'raw';

  // (Re)create when the kind of chart or the colour scheme changes.
  useEffect(() => {
    const el = host.current!;
    const c = palette(dark);
    const axis: uPlot.Axis = { stroke: c.axis, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid, width: 1 } };
    const valueSeries = aggregated ? 3 : 1;
    const yThresholds = (): number[] => latest.current.thresholds.map((t) => t.value);
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: false },
      cursor: { drag: { x: true, y: false }, points: { size: 6 } },
      scales: {
        // The range asked, whatever the data covers: an empty stretch is shown empty, not cropped away.
        x: { time: true, range: () => [latest.current.range.from / 1000, latest.current.range.to / 1000] },
        y: {
          range: (u, lo, hi) => {
            const all = [lo, hi, ...yThresholds()].filter((v) => v !== null && Number.isFinite(v));
            if (all.length === 0) return [0, 1];
            return uPlot.rangeNum(Math.min(...all), Math.max(...all), 0.1, true);
          },
        },
      },
      axes: [
        axis,
        {
          ...axis,
          // Wide enough for the longest tick label (the unit is in the caption).
          size: (_u, values) => Math.max(40, 14 + 7.5 * Math.max(0, ...(values ?? []).map((v) => String(v).length))),
        },
      ],
      series: aggregated
        ? [
            {},
            { label: `${metric} min`, stroke: c.edge, width: 1 },
            { label: `${metric} max`, stroke: c.edge, width: 1 },
            { label: `${metric} avg`, stroke: c.line, width: 2 },
          ]
        : [{}, { label: metric, stroke: c.line, width: 1.5, points: { show: false } }],
      bands: aggregated ? [{ series: [2, 1], fill: c.band }] : undefined,
      plugins: [
        emptyShadePlugin(() => c.empty, state.current, valueSeries),
        tooltipPlugin(metric, unit, aggregated, () => latest.current.decimals, state.current, announce.current!),
        thresholdPlugin(() => latest.current.thresholds, c.threshold),
        ...plugins,
      ],
    };
    const cols = columns(series, metric);
    state.current.gap = cols.gap;
    const u = new uPlot(opts, cols.data, el);
    plot.current = u;
    el.dataset.points = String(u.data[0].length);
    const resize = new ResizeObserver(() => {
      const width = Math.max(200, el.clientWidth);
      if (width !== u.width) u.setSize({ width, height });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      if (frame.current !== null) cancelAnimationFrame(frame.current);
      frame.current = null;
      u.destroy();
      plot.current = null;
    };
  }, [aggregated, dark, metric, unit, height]);

  // New data (or a range that moved on with the clock): at most one redraw per animation frame.
  useEffect(() => {
    if (frame.current !== null) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = null;
      const u = plot.current;
      if (!u || !host.current) return;
      const cols = columns(latest.current.series, latest.current.metric);
      state.current.gap = cols.gap;
      u.setData(cols.data);
      const s = state.current;
      if (s.keyIdx !== null) s.keyIdx = Math.min(s.keyIdx, cols.data[0].length - 1);
      if (s.keyIdx !== null && s.keyIdx >= 0) u.setCursor({ left: u.valToPos(cols.data[0][s.keyIdx], 'x'), top: 10 });
      else if (s.pointer) u.setCursor(s.pointer);
      host.current.dataset.points = String(cols.data[0].length);
      host.current.dataset.from = String(u.scales.x.min! * 1000);
      host.current.dataset.to = String(u.scales.x.max! * 1000);
      // Where the plot area is (CSS px within the chart), for the tests that look at its pixels.
      host.current.dataset.plot = [u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height]
        .map((v) => Math.round(v / devicePixelRatio))
        .join(',');
    });
  }, [series, revision, range.from, range.to]);

  /** Arrow keys step from reading to reading (gaps' null rows are skipped). */
  const onKeyDown = (e: KeyboardEvent) => {
    const u = plot.current;
    if (!u) return;
    const xs = u.data[0];
    const ys = u.data[aggregated ? 3 : 1];
    const real = (i: number) => ys[i] !== null && ys[i] !== undefined;
    const s = state.current;
    let i = s.keyIdx;
    const step = (from: number, dir: 1 | -1) => {
      for (let j = from; j >= 0 && j < xs.length; j += dir) if (real(j)) return j;
      return null;
    };
    if (e.key === 'ArrowRight') i = i === null ? step(xs.length - 1, -1) : (step(i + 1, 1) ?? i);
    else if (e.key === 'ArrowLeft') i = i === null ? step(xs.length - 1, -1) : (step(i - 1, -1) ?? i);
    else if (e.key === 'Home') i = step(0, 1);
    else if (e.key === 'End') i = step(xs.length - 1, -1);
    else if (e.key === 'Escape') {
      s.keyIdx = null;
      u.setCursor({ left: -10, top: -10 });
      return;
    } else return;
    e.preventDefault();
    if (i === null) {
      if (announce.current) announce.current.textContent = 'No readings in this range.';
      return;
    }
    s.keyIdx = i;
    u.setCursor({ left: u.valToPos(xs[i], 'x'), top: 10 });
  };

  return (
    <div class="chart-wrap">
      <div
        class="chart"
        ref={host}
        data-metric={metric}
        role="img"
        // biome-ignore lint/a11y/noNoninteractiveTabindex: focusable so the keyboard can step through the readings (arrow keys)
        tabIndex={0}
        aria-label={`${metric} chart, ${new Date(range.from).toLocaleString()} to ${new Date(range.to).toLocaleString()}. Use the arrow keys to read values.`}
        onKeyDown={onKeyDown}
        onBlur={() => {
          state.current.keyIdx = null;
          plot.current?.setCursor({ left: -10, top: -10 });
        }}
      />
      <p class="sr-only" aria-live="polite" ref={announce} />
    </div>
  );
}
