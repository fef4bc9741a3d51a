/**
 * Alerts on the dashboard (contract §8): the open alerts, kept current from `alert` frames and a slow poll
 * (pending is never pushed), and the rules. State lives here, outside the views, as FleetStore's does.
 */
import {
  type AlertEvent,
  type AlertView,
  type Condition,
  MAX_FOR_SECONDS,
  MAX_RULE_NAME,
  MAX_RULE_SENSORS,
  MAX_SILENT_MINUTES,
  type Severity,
  WILDCARD,
  isRuleMetric,
  ruleSensorIdsFault,
} from '../../lambdas/shared/contract.js';

/** What the store needs of the API client (Api.request) and of the live connection (LiveConnection.on). */
export interface RequestApi {
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
}
export interface AlertFrameSource {
  on(event: 'alert', listener: (alert: Record<string, unknown>) => void): () => void;
  on(event: 'reconnected', listener: (at: number) => void): () => void;
}

export type { AlertEvent, AlertView, Condition, Severity };
/** Strongest first, as the dashboard lists them. */
export const SEVERITIES: Severity[] = ['critical', 'warning', 'info'];

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
    private readonly api: RequestApi,
    private readonly live: AlertFrameSource,
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

// --- The rules page's form: text fields in, the rule the API takes out ---

export interface Draft {
  kind: 'threshold' | 'silence';
  name: string;
  sensorIds: string;
  metric: string;
  op: Condition['op'];
  value: string;
  low: string;
  high: string;
  hysteresis: string;
  forSeconds: string;
  silentMinutes: string;
  severity: Severity;
}

export const EMPTY_DRAFT: Draft = {
  kind: 'threshold',
  name: '',
  sensorIds: WILDCARD,
  metric: 'temperature',
  op: '>',
  value: '',
  low: '',
  high: '',
  hysteresis: '0',
  forSeconds: '0',
  silentMinutes: '10',
  severity: 'warning',
};

export function draftOf(rule: AlertRule): Draft {
  const c = rule.condition;
  return {
    ...EMPTY_DRAFT,
    kind: rule.silentMinutes !== undefined ? 'silence' : 'threshold',
    name: rule.name,
    sensorIds: rule.sensorIds.join(', '),
    metric: rule.metric ?? EMPTY_DRAFT.metric,
    op: c?.op ?? '>',
    value: c && c.op !== 'outside' ? String(c.value) : '',
    low: c && c.op === 'outside' ? String(c.low) : '',
    high: c && c.op === 'outside' ? String(c.high) : '',
    hysteresis: String(rule.hysteresis ?? 0),
    forSeconds: String(rule.forSeconds ?? 0),
    silentMinutes: String(rule.silentMinutes ?? 10),
    severity: rule.severity,
  };
}

const num = (text: string) => (text.trim() === '' ? Number.NaN : Number(text));

/** The rule the API gets, or the first problem as `[field, message]` (the server checks again). */
export function ruleFromDraft(d: Draft): { rule: Omit<AlertRule, 'id'> } | { field: string; message: string } {
  const name = d.name.trim();
  if (!name || [...name].length > MAX_RULE_NAME) return { field: 'name', message: `A name of 1 to ${MAX_RULE_NAME} characters` };
  const ids = [...new Set(d.sensorIds.split(/[\s,]+/).filter((s) => s !== ''))];
  const fault = ruleSensorIdsFault(ids);
  if (fault === 'count') return { field: 'sensorIds', message: `1 to ${MAX_RULE_SENSORS} sensor ids, or *` };
  if (fault) return { field: 'sensorIds', message: 'Sensor ids are letters, digits, _ and - (or * alone)' };
  if (d.kind === 'silence') {
    const minutes = num(d.silentMinutes);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_SILENT_MINUTES)
      return { field: 'silentMinutes', message: `Whole minutes, 1 to ${MAX_SILENT_MINUTES}` };
    return { rule: { name, sensorIds: ids, silentMinutes: minutes, severity: d.severity } };
  }
  if (!isRuleMetric(d.metric)) return { field: 'metric', message: 'A metric name' };
  let condition: Condition;
  if (d.op === 'outside') {
    const low = num(d.low);
    const high = num(d.high);
    if (!Number.isFinite(low)) return { field: 'low', message: 'A number' };
    if (!Number.isFinite(high)) return { field: 'high', message: 'A number' };
    if (!(low < high)) return { field: 'low', message: 'Low must be below high' };
    condition = { op: 'outside', low, high };
  } else {
    const value = num(d.value);
    if (!Number.isFinite(value)) return { field: 'value', message: 'A number' };
    condition = { op: d.op, value };
  }
  const hysteresis = num(d.hysteresis);
  if (!Number.isFinite(hysteresis) || hysteresis < 0) return { field: 'hysteresis', message: 'A number ≥ 0' };
  const forSeconds = num(d.forSeconds);
  if (!Number.isInteger(forSeconds) || forSeconds < 0 || forSeconds > MAX_FOR_SECONDS)
    return { field: 'forSeconds', message: `Whole seconds, 0 to ${MAX_FOR_SECONDS}` };
  return { rule: { name, sensorIds: ids, metric: d.metric, condition, hysteresis, forSeconds, severity: d.severity } };
}
