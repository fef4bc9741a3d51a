/** The ports the alert use cases own; the DynamoDB, SNS and WebSocket adapters implement them. */
import type { AlertView } from '../shared/contract.js';
import type { AlertRule, AlertState, Severity } from './alerts.js';

export interface AlertRuleStore {
  list(): Promise<AlertRule[]>;
  get(id: string): Promise<AlertRule | undefined>;
  /** Stores a new rule unless `limit` rules exist already; false when the limit is reached. */
  create(rule: AlertRule, limit: number): Promise<boolean>;
  /** Replaces an existing rule; false when there is none with that id. */
  replace(rule: AlertRule): Promise<boolean>;
  /** False when there was none with that id. */
  delete(id: string): Promise<boolean>;
}

/** The rules as evaluation sees them: cached between invocations, dropped when the API changes one. */
export interface RuleSource {
  rules(): Promise<AlertRule[]>;
}

/** One (rule, sensor)'s state as stored, with the version that guards concurrent writers. */
export interface StoredAlert extends AlertState {
  ruleId: string;
  sensorId: string;
  /** 0 before the first write. */
  version: number;
}

export type AlertEventKind = 'fired' | 'resolved' | 'acknowledged';

export interface AlertEvent {
  ts: number;
  alertId: string;
  ruleId: string;
  sensorId: string;
  kind: AlertEventKind;
  severity: Severity;
  value: number | null;
  by: string | null;
}

export interface EventRange {
  from: number;
  /** Exclusive. */
  to: number;
  limit: number;
  /** Continue below this position (the previous page's last event), newest first. */
  before?: string;
}

export interface AlertStateStore {
  /** Every stored (rule, sensor) state of one sensor. */
  statesOf(sensorId: string): Promise<StoredAlert[]>;
  /** The same for many sensors at once (one batch read per 100): a sensor without states is absent. */
  statesOfMany(sensorIds: string[]): Promise<Map<string, StoredAlert[]>>;
  get(ruleId: string, sensorId: string): Promise<StoredAlert | undefined>;
  /** The states that are not ok (pending or firing), of every sensor. */
  active(): Promise<StoredAlert[]>;
  /**
   * Writes the state if the stored version is still `alert.version - 1`; false when another writer came first.
   * `forget`: states of deleted rules on the same sensor, dropped in the same write (so a sensor's states stay
   * bounded by the rules that exist).
   */
  save(alert: StoredAlert, forget?: string[]): Promise<boolean>;
  /** Idempotent: the same event (ts, alert, kind) is stored once however often it is added. */
  addEvents(events: AlertEvent[]): Promise<void>;
  removeEvents(events: AlertEvent[]): Promise<void>;
  /** Newest first; `next` is the position to continue from, or null. */
  events(range: EventRange): Promise<{ events: AlertEvent[]; next: string | null }>;
}

/** The registry's view the evaluation needs: each sensor's newest stored reading before this batch. */
export interface NewestReadings {
  newestTs(sensorIds: string[]): Promise<Map<string, number>>;
}

/** A sensor's silence as the registry knows it: when its newest accepted reading was received. */
export interface SensorActivity {
  sensorId: string;
  lastReadingAt: number;
  /** ts of its newest reading. */
  latestTs: number;
}

export interface ActivitySource {
  activity(): Promise<SensorActivity[]>;
}

/** The alert as GET /alerts and the `alert` frame show it (contract §8). */
export type { AlertView } from '../shared/contract.js';

export interface AlertNotice {
  kind: 'fired' | 'resolved';
  alert: AlertView;
  /** `[critical] sensor-7 temperature > 30 °C for 2 min`, under SNS's 100 characters. */
  subject: string;
}

/** Fired and resolved events to people: SNS in the cloud, a log line and a webhook locally. */
export interface AlertNotifier {
  /** Each notice once, in order; a batch's notices go together (SNS takes ten a request). */
  notify(notices: AlertNotice[]): Promise<void>;
}

/** `alert` frames to every open dashboard connection. */
export interface AlertBroadcaster {
  /** A frame per alert, in order, to each connection: the connections are listed once for them all. */
  broadcast(alerts: AlertView[]): Promise<void>;
}
