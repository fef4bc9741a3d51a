/**
 * Alerts on the sensor chart: each covering threshold rule's line(s), and the spans its alerts fired
 * (from the history, and the open ones up to now) shaded. A uPlot plugin whose data arrive later: it reads
 * them at each draw and redraws its plots when they change.
 */
import { createContext } from 'preact';
import { useContext, useEffect, useMemo } from 'preact/hooks';
import type uPlot from 'uplot';
import type { AlertEvent, AlertRule, AlertStore, RequestApi } from './alerts.js';

/** The dashboard's alert store, for components deep in others' views (fleet cards, the sensor chart). */
export const AlertsContext = createContext<AlertStore | null>(null);

interface MetricOverlay {
  lines: number[];
  /** [start, end] in epoch ms; end null = still firing. */
  spans: Array<[number, number | null]>;
}

const covers = (rule: AlertRule, sensorId: string) => rule.sensorIds[0] === '*' || rule.sensorIds.includes(sensorId);

export class AlertOverlay {
  private byMetric = new Map<string, MetricOverlay>();
  private readonly plots = new Set<uPlot>();
  private readonly plugins = new Map<string, uPlot.Plugin>();

  set(rules: AlertRule[], events: AlertEvent[], firing: Array<{ ruleId: string; since: number | null }>, sensorId: string): void {
    const next = new Map<string, MetricOverlay>();
    const metricOf = new Map<string, string>();
    for (const r of rules) {
      if (!r.metric || !r.condition || !covers(r, sensorId)) continue;
      metricOf.set(r.id, r.metric);
      const o = next.get(r.metric) ?? { lines: [], spans: [] };
      if (r.condition.op === 'outside') o.lines.push(r.condition.low, r.condition.high);
      else o.lines.push(r.condition.value);
      next.set(r.metric, o);
    }
    // Oldest first: a fired opens a span, the resolved of the same alert closes it.
    const openSpans = new Map<string, number>();
    for (const e of [...events].sort((a, b) => a.ts - b.ts)) {
      const metric = metricOf.get(e.ruleId);
      if (!metric || e.sensorId !== sensorId) continue;
      if (e.kind === 'fired') openSpans.set(e.alertId, e.ts);
      if (e.kind === 'resolved' && openSpans.has(e.alertId)) {
        next.get(metric)!.spans.push([openSpans.get(e.alertId)!, e.ts]);
        openSpans.delete(e.alertId);
      }
    }
    for (const f of firing) {
      const metric = metricOf.get(f.ruleId);
      if (metric && f.since !== null) next.get(metric)!.spans.push([f.since, null]);
    }
    this.byMetric = next;
    for (const u of this.plots) u.redraw(true);
  }

  /** One stable plugin per metric (the chart reads plugins only when it is created). */
  plugin(metric: string): uPlot.Plugin {
    let p = this.plugins.get(metric);
    if (p) return p;
    const overlay = () => this.byMetric.get(metric);
    p = {
      opts: (_u, opts) => {
        const y = { ...(opts.scales?.y ?? {}) };
        // The thresholds stay in view even when the readings are far from them.
        y.range = (_self, min, max) => {
          const lines = overlay()?.lines ?? [];
          const lo = Math.min(min ?? Infinity, ...lines);
          const hi = Math.max(max ?? -Infinity, ...lines);
          if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
          const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.1 || 1;
          return [lo - pad, hi + pad];
        };
        return { ...opts, scales: { ...opts.scales, y } };
      },
      hooks: {
        init: (u) => void this.plots.add(u),
        destroy: (u) => void this.plots.delete(u),
        draw: (u) => {
          const o = overlay();
          if (!o) return;
          const { ctx } = u;
          const { left, top, width, height } = u.bbox;
          ctx.save();
          ctx.beginPath();
          ctx.rect(left, top, width, height);
          ctx.clip();
          ctx.fillStyle = 'rgba(220, 38, 38, 0.14)';
          for (const [start, end] of o.spans) {
            const x0 = u.valToPos(start / 1000, 'x', true);
            const x1 = u.valToPos((end ?? Date.now()) / 1000, 'x', true);
            ctx.fillRect(Math.max(left, x0), top, Math.max(1, Math.min(left + width, x1) - Math.max(left, x0)), height);
          }
          ctx.strokeStyle = 'rgba(220, 38, 38, 0.9)';
          ctx.lineWidth = 1.5 * devicePixelRatio;
          ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
          for (const v of o.lines) {
            const y = u.valToPos(v, 'y', true);
            ctx.beginPath();
            ctx.moveTo(left, y);
            ctx.lineTo(left + width, y);
            ctx.stroke();
          }
          ctx.restore();
        },
      },
    };
    this.plugins.set(metric, p);
    return p;
  }

  /** What is drawn for a metric (tests and the e2e read it). */
  describe(metric: string): MetricOverlay | undefined {
    return this.byMetric.get(metric);
  }
}

/** The overlay of one sensor view: rules and 7 days of events, refreshed when its alerts change. */
export function useAlertOverlay(api: RequestApi, sensorId: string): AlertOverlay {
  const store = useContext(AlertsContext);
  const overlay = useMemo(() => new AlertOverlay(), [sensorId]);
  useEffect(() => {
    let cancelled = false;
    const load = async () => {
      const [{ rules }, history] = await Promise.all([
        api.request<{ rules: AlertRule[] }>('GET', '/alert-rules'),
        api.request<{ events: AlertEvent[] }>(
          'GET',
          `/alerts/history?from=${Date.now() - 7 * 86_400_000}&to=${Date.now() + 60_000}&limit=1000`,
        ),
      ]);
      if (cancelled) return;
      const firing = (store?.firing() ?? []).filter((a) => a.sensorId === sensorId);
      overlay.set(rules, history.events, firing, sensorId);
    };
    const reload = () => void load().catch(() => undefined);
    reload();
    let seen = '';
    const off = store?.subscribe(() => {
      const key = (store.firing() ?? [])
        .filter((a) => a.sensorId === sensorId)
        .map((a) => a.id)
        .join();
      if (key !== seen) {
        seen = key;
        reload();
      }
    });
    return () => {
      cancelled = true;
      off?.();
    };
  }, [overlay, api, store]);
  return overlay;
}
