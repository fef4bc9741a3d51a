/**
 * Alert rules (contract §8): their validation, and the pure state machine that moves one (rule, sensor)
 * through `ok → pending → firing → ok` reading by reading. No I/O here: the use cases
 * (evaluate-alerts.ts, alert-silence.ts, alerts-api.ts) load and store what this computes.
 */
import {
  COMPARISONS,
  type Condition,
  MAX_FOR_SECONDS,
  MAX_RULE_NAME,
  MAX_RULE_SENSORS,
  MAX_SILENT_MINUTES,
  SEVERITIES,
  type Severity,
  WILDCARD,
  isRuleMetric,
  ruleSensorIdsFault,
} from '../shared/contract.js';

export {
  COMPARISONS,
  MAX_FOR_SECONDS,
  MAX_RULE_NAME,
  MAX_RULE_SENSORS,
  MAX_RULES,
  MAX_SILENT_MINUTES,
  RULE_ID_PATTERN,
  SEVERITIES,
} from '../shared/contract.js';
export type { Condition, Severity } from '../shared/contract.js';
export const ALL_SENSORS = WILDCARD;
export type Comparison = (typeof COMPARISONS)[number];

export interface ThresholdRuleSpec {
  name: string;
  sensorIds: string[];
  metric: string;
  condition: Condition;
  hysteresis: number;
  forSeconds: number;
  severity: Severity;
}

export interface SilenceRuleSpec {
  name: string;
  sensorIds: string[];
  silentMinutes: number;
  severity: Severity;
}

export type RuleSpec = ThresholdRuleSpec | SilenceRuleSpec;
export type ThresholdRule = ThresholdRuleSpec & { id: string };
export type SilenceRule = SilenceRuleSpec & { id: string };
export type AlertRule = ThresholdRule | SilenceRule;

export const isSilenceRule = (rule: RuleSpec): rule is SilenceRuleSpec => 'silentMinutes' in rule;

export function covers(rule: Pick<RuleSpec, 'sensorIds'>, sensorId: string): boolean {
  return rule.sensorIds[0] === ALL_SENSORS || rule.sensorIds.includes(sensorId);
}

export class InvalidRule extends Error {
  readonly code = 'INVALID_RULE';
}

const THRESHOLD_KEYS = new Set(['id', 'name', 'sensorIds', 'metric', 'condition', 'hysteresis', 'forSeconds', 'severity']);
const SILENCE_KEYS = new Set(['id', 'name', 'sensorIds', 'silentMinutes', 'severity']);

function fail(field: string, message: string): never {
  throw new InvalidRule(`${field}: ${message}`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function integerIn(field: string, v: unknown, min: number, max: number, fallback?: number): number {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(field, `must be an integer from ${min} to ${max}`);
  return v;
}

function parseSensorIds(v: unknown): string[] {
  const fault = Array.isArray(v) ? ruleSensorIdsFault(v) : 'count';
  if (fault === 'count') fail('sensorIds', `must be an array of 1 to ${MAX_RULE_SENSORS} sensor ids, or ["*"]`);
  if (fault) fail('sensorIds', `${JSON.stringify(fault.notAnId)?.slice(0, 80)} is not a sensor id ("*" must stand alone)`);
  return [...new Set(v as string[])];
}

function parseCondition(v: unknown): Condition {
  if (!isObject(v)) fail('condition', 'must be an object {"op","value"} or {"op":"outside","low","high"}');
  const { op } = v;
  if (op === 'outside') {
    for (const key of Object.keys(v))
      if (!['op', 'low', 'high'].includes(key)) fail(`condition.${key}`, 'is not a field of an outside condition');
    if (!isFiniteNumber(v.low)) fail('condition.low', 'must be a finite number');
    if (!isFiniteNumber(v.high)) fail('condition.high', 'must be a finite number');
    if (!(v.low < v.high)) fail('condition.low', 'must be less than condition.high');
    return { op, low: v.low, high: v.high };
  }
  if (typeof op !== 'string' || !(COMPARISONS as readonly string[]).includes(op)) {
    fail('condition.op', 'must be one of >, >=, <, <=, outside');
  }
  for (const key of Object.keys(v)) if (!['op', 'value'].includes(key)) fail(`condition.${key}`, 'is not a field of this condition');
  if (!isFiniteNumber(v.value)) fail('condition.value', 'must be a finite number');
  return { op: op as Comparison, value: v.value };
}

/** Validates a rule as sent to POST or PUT; throws InvalidRule naming the first bad field. */
export function parseRuleSpec(body: unknown): RuleSpec {
  if (!isObject(body)) fail('rule', 'must be a JSON object');
  const silence = Object.hasOwn(body, 'silentMinutes');
  const allowed = silence ? SILENCE_KEYS : THRESHOLD_KEYS;
  for (const key of Object.keys(body)) {
    if (!allowed.has(key)) fail(key.slice(0, 64), silence ? 'is not a field of a silence rule' : 'is not a field of a threshold rule');
  }
  const { name } = body;
  if (typeof name !== 'string' || name.trim() === '' || [...name].length > MAX_RULE_NAME) {
    fail('name', `must be a string of 1 to ${MAX_RULE_NAME} characters`);
  }
  const sensorIds = parseSensorIds(body.sensorIds);
  const severity = body.severity ?? 'warning';
  if (typeof severity !== 'string' || !(SEVERITIES as readonly string[]).includes(severity)) {
    fail('severity', 'must be info, warning or critical');
  }
  if (silence) {
    const silentMinutes = integerIn('silentMinutes', body.silentMinutes, 1, MAX_SILENT_MINUTES);
    return { name, sensorIds, silentMinutes, severity: severity as Severity };
  }
  if (!isRuleMetric(body.metric)) {
    fail('metric', 'must be a metric name (a letter, then up to 63 letters, digits, _ . -)');
  }
  const condition = parseCondition(body.condition);
  const hysteresis = body.hysteresis ?? 0;
  if (!isFiniteNumber(hysteresis) || hysteresis < 0) fail('hysteresis', 'must be a finite number ≥ 0');
  if (condition.op === 'outside' && condition.low + hysteresis > condition.high - hysteresis) {
    fail('hysteresis', 'leaves no clear band inside [low + hysteresis, high - hysteresis]');
  }
  const forSeconds = integerIn('forSeconds', body.forSeconds, 0, MAX_FOR_SECONDS, 0);
  return { name, sensorIds, metric: body.metric, condition, hysteresis, forSeconds, severity: severity as Severity };
}

/** The rule as the API answers it: fields in the contract's order. */
export function ruleView(rule: AlertRule): AlertRule {
  if (isSilenceRule(rule)) {
    return { id: rule.id, name: rule.name, sensorIds: rule.sensorIds, silentMinutes: rule.silentMinutes, severity: rule.severity };
  }
  return {
    id: rule.id,
    name: rule.name,
    sensorIds: rule.sensorIds,
    metric: rule.metric,
    condition: rule.condition,
    hysteresis: rule.hysteresis,
    forSeconds: rule.forSeconds,
    severity: rule.severity,
  };
}

export function meetsCondition(c: Condition, v: number): boolean {
  switch (c.op) {
    case '>':
      return v > c.value;
    case '>=':
      return v >= c.value;
    case '<':
      return v < c.value;
    case '<=':
      return v <= c.value;
    case 'outside':
      return v < c.low || v > c.high;
  }
}

/** Past the clear line: a firing alert resolves here (hysteresis keeps a value at the line from flapping). */
export function pastClearLine(c: Condition, hysteresis: number, v: number): boolean {
  switch (c.op) {
    case '>':
    case '>=':
      return v < c.value - hysteresis;
    case '<':
    case '<=':
      return v > c.value + hysteresis;
    case 'outside':
      return v >= c.low + hysteresis && v <= c.high - hysteresis;
  }
}

export type AlertStateName = 'ok' | 'pending' | 'firing';

/** Where one (rule, sensor) stands. */
export interface AlertState {
  state: AlertStateName;
  /** When it entered its current state (a reading's ts; the check time for silence). */
  since: number | null;
  /** When the current episode began (the pending start): part of the alert's id. */
  episode: number | null;
  /** The value of the reading that moved it; null for silence. */
  value: number | null;
  /** The ts of the reading that moved it last: a retried batch's readings up to here are not evaluated again. */
  lastTs: number;
  acknowledged: boolean;
  acknowledgedBy: string | null;
}

export const OK_STATE: AlertState = {
  state: 'ok',
  since: null,
  episode: null,
  value: null,
  lastTs: Number.NEGATIVE_INFINITY,
  acknowledged: false,
  acknowledgedBy: null,
};

export type TransitionKind = 'pending' | 'fired' | 'resolved' | 'cancelled';

export interface Transition {
  kind: TransitionKind;
  /** The state right after the transition. */
  to: AlertState;
}

/** One reading's step for a threshold rule; undefined when nothing changes. */
export function stepThreshold(rule: ThresholdRuleSpec, s: AlertState, ts: number, value: number): Transition | undefined {
  const meets = meetsCondition(rule.condition, value);
  const base = { lastTs: ts, value, acknowledged: false, acknowledgedBy: null };
  if (s.state === 'ok') {
    if (!meets) return undefined;
    if (rule.forSeconds === 0) return { kind: 'fired', to: { ...base, state: 'firing', since: ts, episode: ts } };
    return { kind: 'pending', to: { ...base, state: 'pending', since: ts, episode: ts } };
  }
  if (s.state === 'pending') {
    if (!meets) return { kind: 'cancelled', to: { ...OK_STATE, lastTs: ts, value } };
    if (ts - (s.since ?? ts) >= rule.forSeconds * 1000) {
      return { kind: 'fired', to: { ...base, state: 'firing', since: ts, episode: s.episode } };
    }
    return undefined;
  }
  if (pastClearLine(rule.condition, rule.hysteresis, value)) return { kind: 'resolved', to: { ...OK_STATE, lastTs: ts, value } };
  return undefined;
}

export interface SeriesReading {
  ts: number;
  value: number;
}

/**
 * Evaluates one (threshold rule, sensor) over a batch's readings of the metric: sorted by ts, those not
 * newer than `newestEvaluated` (late, redelivered) or than the state's own last move are skipped.
 */
export function evaluateSeries(
  rule: ThresholdRuleSpec,
  start: AlertState,
  readings: SeriesReading[],
  newestEvaluated: number,
): { state: AlertState; transitions: Transition[] } {
  let state = start;
  const transitions: Transition[] = [];
  let after = Math.max(newestEvaluated, start.lastTs);
  for (const r of ascendingByTs(readings)) {
    if (r.ts <= after) continue;
    after = r.ts;
    const t = stepThreshold(rule, state, r.ts, r.value);
    if (t) {
      transitions.push(t);
      state = t.to;
    }
  }
  return { state, transitions };
}

/** The readings in ts order: as given when they are (a batch's series, sorted once for all its rules), else a sorted copy. */
function ascendingByTs(readings: SeriesReading[]): SeriesReading[] {
  for (let i = 1; i < readings.length; i++) {
    if (readings[i - 1].ts > readings[i].ts) return [...readings].sort((a, b) => a.ts - b.ts);
  }
  return readings;
}

/** Seconds or minutes as an operator says them: `2 min`, `90 s`, `1 h`. */
export function humanDuration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** The condition in words: `temperature > 30 °C for 2 min`, `outside 10–20 %`, `silent for 10 min`. */
export function describeRule(rule: RuleSpec, unit?: string): string {
  if (isSilenceRule(rule)) return `silent for ${humanDuration(rule.silentMinutes * 60)}`;
  const u = unit ? ` ${unit}` : '';
  const c = rule.condition;
  const cond = c.op === 'outside' ? `${rule.metric} outside ${c.low}–${c.high}${u}` : `${rule.metric} ${c.op} ${c.value}${u}`;
  return rule.forSeconds > 0 ? `${cond} for ${humanDuration(rule.forSeconds)}` : cond;
}

/** SNS subjects must be under 100 characters. */
export const MAX_SUBJECT = 99;

/** `[critical] sensor-7 temperature > 30 °C for 2 min` (fired) or `[critical] resolved: sensor-7 …`. */
export function notificationSubject(kind: 'fired' | 'resolved', rule: RuleSpec, sensorId: string, unit?: string): string {
  const text = `[${rule.severity}] ${kind === 'resolved' ? 'resolved: ' : ''}${sensorId} ${describeRule(rule, unit)}`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what an e-mail subject must not carry
  const chars = [...text.replace(/[\u0000-\u001f\u007f]/g, ' ')];
  return chars.length <= MAX_SUBJECT ? chars.join('') : `${chars.slice(0, MAX_SUBJECT - 1).join('')}…`;
}
