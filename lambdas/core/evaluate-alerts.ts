/**
 * Alert evaluation in the ingest path (contract §8): the history writer hands each batch's stored readings
 * here (StoreDeps.onStored). Per sensor: one read of its alert states; per (rule, sensor) that moved: one
 * state write, plus a history event, a notification and a frame when it fired or resolved.
 */
import { groupBySensor } from './accepted-readings.js';
import type {
  AlertBroadcaster,
  AlertEvent,
  AlertNotifier,
  AlertStateStore,
  AlertView,
  NewestReadings,
  RuleSource,
  StoredAlert,
} from './alert-ports.js';
import type { AlertRule, AlertState, ThresholdRule, Transition } from './alerts.js';
import { OK_STATE, covers, evaluateSeries, isSilenceRule, notificationSubject } from './alerts.js';
import { inParallel } from './concurrency.js';
import type { Reading } from './model.js';
import type { Logger } from './ports.js';

export interface AlertDeps {
  rules: RuleSource;
  states: AlertStateStore;
  newest: NewestReadings;
  notifier: AlertNotifier;
  frames: AlertBroadcaster;
  log: Logger;
}

const SENSOR_CONCURRENCY = 8;
/** A state write that lost a race is evaluated again from the winner's state, this many times. */
const MAX_ATTEMPTS = 4;

export const alertId = (ruleId: string, sensorId: string, episode: number | null) => `${ruleId}.${sensorId}.${episode ?? 0}`;

/** `{ruleId}.{sensorId}.{episode}`: rule ids and sensor ids hold no dot. */
export function parseAlertId(id: string): { ruleId: string; sensorId: string; episode: number } | undefined {
  const m = /^([A-Za-z0-9-]{1,64})\.([A-Za-z0-9_-]{1,64})\.(-?\d{1,16})$/.exec(id);
  return m ? { ruleId: m[1], sensorId: m[2], episode: Number(m[3]) } : undefined;
}

export function alertView(rule: AlertRule, s: StoredAlert | (AlertState & { ruleId: string; sensorId: string })): AlertView {
  return {
    id: alertId(rule.id, s.sensorId, s.episode),
    ruleId: rule.id,
    ruleName: rule.name,
    sensorId: s.sensorId,
    metric: isSilenceRule(rule) ? null : rule.metric,
    severity: rule.severity,
    state: s.state,
    since: s.since,
    value: s.value,
    acknowledged: s.acknowledged,
    acknowledgedBy: s.acknowledgedBy,
  };
}

export function unstored(ruleId: string, sensorId: string): StoredAlert {
  return { ...OK_STATE, ruleId, sensorId, version: 0 };
}

/** The history events of a run of transitions: fired and resolved only (pending is not an event). */
export function eventsOf(rule: AlertRule, sensorId: string, before: AlertState, transitions: Transition[]): AlertEvent[] {
  const events: AlertEvent[] = [];
  let episode = before.episode;
  for (const t of transitions) {
    if (t.kind === 'fired' || t.kind === 'resolved') {
      const ep = t.kind === 'fired' ? t.to.episode : episode;
      events.push({
        ts: t.to.since ?? t.to.lastTs,
        alertId: alertId(rule.id, sensorId, ep),
        ruleId: rule.id,
        sensorId,
        kind: t.kind,
        severity: rule.severity,
        value: t.to.value,
        by: null,
      });
    }
    if (t.to.episode !== null) episode = t.to.episode;
  }
  return events;
}

/** A fired or resolved alert to tell dashboards and people about, once its state is written. */
export interface Announcement {
  kind: 'fired' | 'resolved';
  rule: AlertRule;
  alert: AlertView;
  units?: Record<string, string>;
}

/**
 * Writes one (rule, sensor)'s new state with its events (events first, so a crash between the two leaves
 * the state unmoved and the retried batch writes the same events again). False when another writer moved
 * the state first: the caller evaluates again from the winner's state. What fired or resolved is announced at
 * once, or, given `announced`, added to it for the caller to announce with the rest of its batch.
 */
export async function commitTransitions(
  rule: AlertRule,
  before: StoredAlert,
  after: AlertState,
  transitions: Transition[],
  deps: Pick<AlertDeps, 'states' | 'notifier' | 'frames' | 'log'>,
  units?: Record<string, string>,
  forget?: string[],
  announced?: Announcement[],
): Promise<boolean> {
  const events = eventsOf(rule, before.sensorId, before, transitions);
  if (events.length > 0) await deps.states.addEvents(events);
  const saved = await deps.states.save({ ...after, ruleId: rule.id, sensorId: before.sensorId, version: before.version + 1 }, forget);
  if (!saved) {
    if (events.length > 0) await deps.states.removeEvents(events);
    return false;
  }
  const moved: Announcement[] = [];
  let episode = before.episode;
  for (const t of transitions) {
    if (t.kind === 'fired' || t.kind === 'resolved') {
      const shown = t.kind === 'resolved' ? { ...t.to, episode, since: t.to.lastTs } : t.to;
      moved.push({ kind: t.kind, rule, alert: alertView(rule, { ...shown, ruleId: rule.id, sensorId: before.sensorId }), units });
    }
    if (t.to.episode !== null) episode = t.to.episode;
  }
  if (announced) announced.push(...moved);
  else await announce(moved, deps);
  return true;
}

/** The frames and the notifications of fired and resolved alerts, in order, together; neither may fail the batch. */
export async function announce(announcements: Announcement[], deps: Pick<AlertDeps, 'notifier' | 'frames' | 'log'>): Promise<void> {
  if (announcements.length === 0) return;
  for (const { kind, rule, alert } of announcements) {
    deps.log.info(`alert ${kind}`, {
      alertId: alert.id,
      ruleId: rule.id,
      sensorId: alert.sensorId,
      severity: rule.severity,
      value: alert.value,
    });
  }
  const ids = announcements.map((a) => a.alert.id);
  const notices = announcements.map(({ kind, rule, alert, units }) => {
    const unit = alert.metric && units && Object.hasOwn(units, alert.metric) ? units[alert.metric] : undefined;
    return { kind, alert, subject: notificationSubject(kind, rule, alert.sensorId, unit) };
  });
  await Promise.all([
    deps.frames
      .broadcast(announcements.map((a) => a.alert))
      .catch((err: Error) => deps.log.error('alert frames failed', { alertIds: ids, error: err.message })),
    deps.notifier
      .notify(notices)
      .catch((err: Error) => deps.log.error('alert notifications failed', { alertIds: ids, error: err.message })),
  ]);
}

/** The batch's readings against every rule that covers their sensors. */
export async function evaluateAlerts(readings: Reading[], deps: AlertDeps): Promise<void> {
  if (readings.length === 0) return;
  const rules = await deps.rules.rules();
  if (rules.length === 0) return;
  const bySensor = [...groupBySensor(readings)].filter(([sensorId]) => rules.some((r) => covers(r, sensorId)));
  if (bySensor.length === 0) return;
  const sensorIds = bySensor.map(([sensorId]) => sensorId);
  // Two batch reads per batch, whatever its size: the registry's newest readings and the sensors' states.
  const [newest, states] = await Promise.all([deps.newest.newestTs(sensorIds), deps.states.statesOfMany(sensorIds)]);
  // What fired or resolved, announced once every sensor is evaluated: one listing of the connections and one
  // notification request per ten alerts for the batch, not per alert.
  const announced: Announcement[] = [];
  let failure: { error: unknown } | undefined;
  await inParallel(bySensor, SENSOR_CONCURRENCY, async ([sensorId, sensorReadings]) => {
    const applicable = rules.filter((r) => covers(r, sensorId));
    const newestBefore = newest.get(sensorId) ?? Number.NEGATIVE_INFINITY;
    const known = new Set(rules.map((r) => r.id));
    try {
      await evaluateSensor(sensorId, sensorReadings, applicable, newestBefore, states.get(sensorId) ?? [], known, deps, announced);
    } catch (error) {
      failure ??= { error };
    }
  });
  // Every sensor has settled: what was written is announced even when another sensor's evaluation failed, since
  // the batch's retry finds those states moved and announces nothing again.
  await announce(announced, deps);
  if (failure) throw failure.error;
}

async function evaluateSensor(
  sensorId: string,
  readings: Reading[],
  rules: AlertRule[],
  newestBefore: number,
  prefetched: StoredAlert[],
  known: Set<string>,
  deps: AlertDeps,
  announced: Announcement[],
): Promise<void> {
  const units: Record<string, string> = {};
  for (const r of readings) Object.assign(units, r.units);
  // Each metric's series once, in ts order, whatever number of rules read it.
  const series = new Map<string, Array<{ ts: number; value: number }>>();
  const seriesFor = (rule: ThresholdRule) => {
    let s = series.get(rule.metric);
    if (!s) series.set(rule.metric, (s = seriesOf(rule, readings).sort((a, b) => a.ts - b.ts)));
    return s;
  };
  let pending = rules;
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt >= MAX_ATTEMPTS) throw new Error(`alert states of ${sensorId} kept changing under evaluation`);
    // A lost race reads the winner's states again.
    const current = attempt === 0 ? prefetched : await deps.states.statesOf(sensorId);
    const stored = new Map(current.map((s) => [s.ruleId, s]));
    const forget = current.filter((s) => !known.has(s.ruleId)).map((s) => s.ruleId);
    const lost: AlertRule[] = [];
    for (const rule of pending) {
      const before = stored.get(rule.id) ?? unstored(rule.id, sensorId);
      const { state, transitions } = isSilenceRule(rule)
        ? evaluateSilenceResolution(before, readings, newestBefore)
        : evaluateSeries(rule, before, seriesFor(rule), newestBefore);
      if (transitions.length === 0) continue;
      if (!(await commitTransitions(rule, before, state, transitions, deps, units, forget, announced))) lost.push(rule);
    }
    pending = lost;
  }
}

function seriesOf(rule: ThresholdRule, readings: Reading[]): Array<{ ts: number; value: number }> {
  const series: Array<{ ts: number; value: number }> = [];
  for (const r of readings) if (Object.hasOwn(r.values, rule.metric)) series.push({ ts: r.ts, value: r.values[rule.metric] });
  return series;
}

/** A firing silence alert resolves at the sensor's next reading (one newer than the silence's own mark). */
function evaluateSilenceResolution(
  before: StoredAlert,
  readings: Reading[],
  newestBefore: number,
): { state: AlertState; transitions: Transition[] } {
  if (before.state !== 'firing') return { state: before, transitions: [] };
  const after = Math.max(newestBefore, before.lastTs);
  const next = readings.filter((r) => r.ts > after).sort((a, b) => a.ts - b.ts)[0];
  if (!next) return { state: before, transitions: [] };
  const to: AlertState = { ...OK_STATE, lastTs: next.ts, since: null };
  return { state: to, transitions: [{ kind: 'resolved', to }] };
}
