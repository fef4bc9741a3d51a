/**
 * Alerts on the dashboard (contract §8): the open alerts, kept current from `alert` frames and a slow poll
 * (pending is never pushed), and the rules. State lives here, outside the views, as FleetStore's does.
 */
import type { Api } from './api';
import type { LiveConnection } from './live';

export type Severity = 'info' | 'warning' | 'critical';
export const SEVERITIES: Severity[] = ['critical', 'warning', 'info'];

export interface AlertView {
  id: string;
  ruleId: string;
  ruleName: string;
  sensorId: string;
  metric: string | null;
  severity: Severity;
  state: 'pending' | 'firing' | 'ok';
  since: number | null;
  value: number | null;
  acknowledged: boolean;
  acknowledgedBy: string | null;
}

export type Condition = { op: '>' | '>=' | '<' | '<='; value: number } | { op: 'outside'; low: number; high: number };

export interface AlertRule {
  id: string;
  name: string;
  sensorIds: string[];
  severity: Severity;
  metric?: string;
  condition?: Condition;
  hysteresis?: number;
  forSeconds?: number;
  silentMinutes?: number;
}

export interface AlertEvent {
  ts: number;
  alertId: string;
  ruleId: string;
  sensorId: string;
  kind: 'fired' | 'resolved' | 'acknowledged';
  severity: Severity;
  value: number | null;
  by: string | null;
}

const POLL_MS = 30_000;

function isAlert(a: Record<string, unknown>): a is Record<string, unknown> & AlertView {
  return typeof a.id === 'string' && typeof a.sensorId === 'string' && typeof a.state === 'string' && typeof a.severity === 'string';
}

export class AlertStore {
  /** Open alerts by id. */
  private readonly open = new Map<string, AlertView>();
  private readonly listeners = new Set<() => void>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private offs: Array<() => void> = [];
  error: string | null = null;
  loaded = false;

  constructor(
    private readonly api: Api,
    private readonly live: LiveConnection,
  ) {}

  start(): void {
    this.offs.push(
      this.live.on('alert', (a) => {
        if (!isAlert(a)) return;
        if (a.state === 'ok') this.open.delete(a.id);
        else this.open.set(a.id, a);
        this.changed();
      }),
      // Frames sent while the socket was down are gone: read the list again.
      this.live.on('reconnected', () => void this.refresh()),
    );
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), POLL_MS);
  }

  stop(): void {
    clearInterval(this.timer);
    for (const off of this.offs.splice(0)) off();
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  async refresh(): Promise<void> {
    try {
      const { alerts } = await this.api.request<{ alerts: AlertView[] }>('GET', '/alerts');
      this.open.clear();
      for (const a of alerts) this.open.set(a.id, a);
      this.error = null;
      this.loaded = true;
    } catch (err) {
      this.error = (err as Error).message;
    }
    this.changed();
  }

  /** Open alerts, newest first. */
  alerts(): AlertView[] {
    return [...this.open.values()].sort((a, b) => (b.since ?? 0) - (a.since ?? 0));
  }

  firing(): AlertView[] {
    return this.alerts().filter((a) => a.state === 'firing');
  }

  /** The firing alerts of one sensor, worst first. */
  firingOf(sensorId: string): AlertView[] {
    return this.firing()
      .filter((a) => a.sensorId === sensorId)
      .sort((a, b) => SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity));
  }

  async acknowledge(id: string): Promise<void> {
    const alert = await this.api.request<AlertView>('POST', `/alerts/${encodeURIComponent(id)}/ack`);
    if (isAlert(alert as unknown as Record<string, unknown>)) this.open.set(alert.id, alert);
    this.changed();
  }
}

/** The condition in words, as the notification subject says it: `temperature > 30 for 2 min`. */
export function describeRule(rule: Omit<AlertRule, 'id'>): string {
  if (rule.silentMinutes !== undefined) return `no reading for ${rule.silentMinutes} min`;
  const c = rule.condition;
  if (!c) return '';
  const cond = c.op === 'outside' ? `${rule.metric} outside ${c.low}–${c.high}` : `${rule.metric} ${c.op} ${c.value}`;
  const s = rule.forSeconds ?? 0;
  return s > 0 ? `${cond} for ${s % 60 === 0 ? `${s / 60} min` : `${s} s`}` : cond;
}
