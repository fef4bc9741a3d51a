/** One metric's chart: uPlot, raw as a line, aggregated as the min–max band with the average line. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { bucketsToBand, readingsToColumns, type Series } from './data';
import { usePrefersDark } from './hooks';

interface Props {
  series: Series;
  metric: string;
  unit?: string;
  /** Changes whenever `series` changed in place. */
  revision: number;
  height?: number;
  /** More uPlot plugins (alert thresholds and spans); read when the chart is created. */
  plugins?: uPlot.Plugin[];
}

function palette(dark: boolean) {
  return dark
    ? { axis: '#9aa4b2', grid: 'rgba(255,255,255,0.07)', line: '#4cc2ff', band: 'rgba(76,194,255,0.22)', edge: 'rgba(76,194,255,0.55)' }
    : { axis: '#4b5563', grid: 'rgba(0,0,0,0.07)', line: '#0a6fc2', band: 'rgba(10,111,194,0.16)', edge: 'rgba(10,111,194,0.45)' };
}

function columns(series: Series, metric: string): uPlot.AlignedData {
  if (series.resolution === 'raw') {
    const { x, y } = readingsToColumns(series.points, metric);
    return [x, y];
  }
  const { x, min, max, avg } = bucketsToBand(series.points, metric);
  return [x, min, max, avg];
}

const timeFormat = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

const pointer = new WeakMap<uPlot, { left: number; top: number }>();

/** One tooltip line: a bold label, then the value, both as text. */
function tipRow(label: string, value: string): HTMLDivElement {
  const row = document.createElement('div');
  const name = document.createElement('b');
  name.textContent = label;
  row.append(name, ` ${value}`);
  return row;
}

/** A tooltip that follows the cursor: local time and exact values. */
function tooltipPlugin(metric: string, unit: string, aggregated: boolean): uPlot.Plugin {
  let tip: HTMLDivElement;
  const fmt = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${v}${unit ? ` ${unit}` : ''}`);
  return {
    hooks: {
      init: (u) => {
        // New data moves the points under a still pointer: put the cursor back where the pointer is.
        u.over.addEventListener('mousemove', (e) => {
          const rect = u.over.getBoundingClientRect();
          pointer.set(u, { left: e.clientX - rect.left, top: e.clientY - rect.top });
        });
        u.over.addEventListener('mouseleave', () => pointer.delete(u));
        tip = document.createElement('div');
        tip.className = 'chart-tip';
        tip.setAttribute('role', 'status');
        tip.hidden = true;
        u.over.appendChild(tip);
      },
      setCursor: (u) => {
        const idx = u.cursor.idx;
        if (idx === null || idx === undefined || u.cursor.left === undefined || u.cursor.left < 0) {
          tip.hidden = true;
          return;
        }
        const x = u.data[0][idx];
        const when = timeFormat.format(new Date(x * 1000));
        // Text nodes only: the unit and metric name come from devices (a unit may be `<img src=x>`).
        const rows = aggregated
          ? [tipRow('avg', fmt(u.data[3][idx])), tipRow('min', fmt(u.data[1][idx])), tipRow('max', fmt(u.data[2][idx]))]
          : [tipRow(metric, fmt(u.data[1][idx]))];
        const time = document.createElement('div');
        time.className = 'chart-tip-time';
        time.textContent = when;
        tip.replaceChildren(time, ...rows);
        tip.hidden = false;
        const left = u.valToPos(x, 'x');
        const flip = left > u.over.clientWidth / 2;
        tip.style.transform = `translate(${flip ? `calc(${left}px - 100% - 12px)` : `${left + 12}px`}, 8px)`;
      },
    },
  };
}

export function MetricChart({ series, metric, unit = '', revision, height = 220, plugins = [] }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const frame = useRef<number | null>(null);
  const dark = usePrefersDark();
  const aggregated = series.resolution !== 'raw';

  // (Re)create when the kind of chart or the colour scheme changes.
  useEffect(() => {
    const el = host.current!;
    const c = palette(dark);
    const axis: uPlot.Axis = { stroke: c.axis, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid, width: 1 } };
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: false },
      cursor: { drag: { x: true, y: false }, points: { size: 6 } },
      scales: { x: { time: true } },
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
      plugins: [tooltipPlugin(metric, unit, aggregated), ...plugins],
    };
    const u = new uPlot(opts, columns(series, metric), el);
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

  // New data: at most one redraw per animation frame.
  useEffect(() => {
    if (frame.current !== null) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = null;
      const u = plot.current;
      if (!u || !host.current) return;
      const data = columns(series, metric);
      u.setData(data);
      const at = pointer.get(u);
      if (at) u.setCursor(at);
      host.current.dataset.points = String(data[0].length);
    });
  }, [series, revision]);

  return <div class="chart" ref={host} data-metric={metric} aria-label={`${metric} chart`} role="img" />;
}
