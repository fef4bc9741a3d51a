/** In-memory alert ports, with behaviour: versioned state writes, idempotent events, injectable failures. */
import type {
  ActivitySource,
  AlertBroadcaster,
  AlertEvent,
  AlertNotice,
  AlertNotifier,
  AlertRuleStore,
  AlertStateStore,
  AlertView,
  EventRange,
  NewestReadings,
  RuleSource,
  SensorActivity,
  StoredAlert,
} from '../../lambdas/core/alert-ports.js';
import type { AlertRule } from '../../lambdas/core/alerts.js';
import type { AlertDeps } from '../../lambdas/core/evaluate-alerts.js';
import type { Logger } from '../../lambdas/core/ports.js';

export class FakeRuleStore implements AlertRuleStore, RuleSource {
  readonly byId = new Map<string, AlertRule>();
  constructor(rules: AlertRule[] = []) {
    for (const r of rules) this.byId.set(r.id, r);
  }
  async rules() {
    return [...this.byId.values()];
  }
  async list() {
    return [...this.byId.values()];
  }
  async get(id: string) {
    return this.byId.get(id);
  }
  async create(rule: AlertRule, limit: number) {
    if (this.byId.size >= limit) return false;
    this.byId.set(rule.id, rule);
    return true;
  }
  async replace(rule: AlertRule) {
    if (!this.byId.has(rule.id)) return false;
    this.byId.set(rule.id, rule);
    return true;
  }
  async delete(id: string) {
    return this.byId.delete(id);
  }
}

const eventKey = (e: AlertEvent) => `${String(e.ts).padStart(15, '0')}#${e.alertId}#${e.kind}`;

export class FakeStateStore implements AlertStateStore {
  readonly states = new Map<string, StoredAlert>();
  readonly eventLog = new Map<string, AlertEvent>();
  saves = 0;
  /** Throws (before writing) on the save or event write with this 1-based number. */
  failOnWrite: number | undefined;
  private writes = 0;

  private maybeFail() {
    this.writes += 1;
    if (this.failOnWrite === this.writes) throw new Error('injected DynamoDB failure');
  }
  async statesOf(sensorId: string) {
    return [...this.states.values()].filter((s) => s.sensorId === sensorId).map((s) => ({ ...s }));
  }
  async statesOfMany(sensorIds: string[]) {
    const m = new Map<string, StoredAlert[]>();
    for (const id of sensorIds) {
      const found = await this.statesOf(id);
      if (found.length > 0) m.set(id, found);
    }
    return m;
  }
  async get(ruleId: string, sensorId: string) {
    const s = this.states.get(`${ruleId}#${sensorId}`);
    return s ? { ...s } : undefined;
  }
  async active() {
    return [...this.states.values()].filter((s) => s.state !== 'ok').map((s) => ({ ...s }));
  }
  async save(alert: StoredAlert, forget: string[] = []) {
    this.maybeFail();
    const key = `${alert.ruleId}#${alert.sensorId}`;
    if ((this.states.get(key)?.version ?? 0) !== alert.version - 1) return false;
    this.states.set(key, { ...alert });
    for (const ruleId of forget) this.states.delete(`${ruleId}#${alert.sensorId}`);
    this.saves += 1;
    return true;
  }
  async addEvents(events: AlertEvent[]) {
    this.maybeFail();
    for (const e of events) this.eventLog.set(eventKey(e), e);
  }
  async removeEvents(events: AlertEvent[]) {
    for (const e of events) this.eventLog.delete(eventKey(e));
  }
  async events(range: EventRange) {
    const all = [...this.eventLog.entries()]
      .filter(([, e]) => e.ts >= range.from && e.ts < range.to)
      .sort(([a], [b]) => (a < b ? 1 : -1))
      .filter(([k]) => range.before === undefined || k < range.before);
    const page = all.slice(0, range.limit);
    return { events: page.map(([, e]) => e), next: all.length > range.limit ? page[page.length - 1][0] : null };
  }
  /** Events in the order they happened. */
  history(): AlertEvent[] {
    return [...this.eventLog.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, e]) => e);
  }
}

/** The registry's newest reading per sensor, moved by the test after each batch (as recordReadings would). */
export class FakeNewest implements NewestReadings, ActivitySource {
  readonly latest = new Map<string, { ts: number; receivedAt: number }>();
  async newestTs(sensorIds: string[]) {
    const m = new Map<string, number>();
    for (const id of sensorIds) {
      const l = this.latest.get(id);
      if (l) m.set(id, l.ts);
    }
    return m;
  }
  record(sensorId: string, ts: number, receivedAt: number) {
    const l = this.latest.get(sensorId);
    this.latest.set(sensorId, { ts: Math.max(l?.ts ?? -Infinity, ts), receivedAt: Math.max(l?.receivedAt ?? 0, receivedAt) });
  }
  async activity(): Promise<SensorActivity[]> {
    return [...this.latest].map(([sensorId, l]) => ({ sensorId, lastReadingAt: l.receivedAt, latestTs: l.ts }));
  }
}

export class RecordingNotifier implements AlertNotifier {
  readonly notices: AlertNotice[] = [];
  calls = 0;
  async notify(notices: AlertNotice[]) {
    this.calls += 1;
    this.notices.push(...notices);
  }
}

export class RecordingFrames implements AlertBroadcaster {
  readonly frames: AlertView[] = [];
  calls = 0;
  async broadcast(alerts: AlertView[]) {
    this.calls += 1;
    this.frames.push(...alerts);
  }
}

export const quietLog: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export function alertFakes(rules: AlertRule[]) {
  const ruleStore = new FakeRuleStore(rules);
  const states = new FakeStateStore();
  const newest = new FakeNewest();
  const notifier = new RecordingNotifier();
  const frames = new RecordingFrames();
  const deps: AlertDeps = { rules: ruleStore, states, newest, notifier, frames, log: quietLog };
  return { deps, ruleStore, states, newest, notifier, frames };
}
