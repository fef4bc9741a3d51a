/**
 * The alert routes of contract §8: rules (operators change, everyone signed in reads), current alerts,
 * their history and acknowledgement. Called by api.ts for paths under /alert-rules and /alerts.
 */
import type { AlertBroadcaster, AlertRuleStore, AlertStateStore, AlertView } from './alert-ports.js';
import type { AlertRule } from './alerts.js';
import { InvalidRule, MAX_RULES, RULE_ID_PATTERN, parseRuleSpec, ruleView } from './alerts.js';
import { alertView, parseAlertId } from './evaluate-alerts.js';
import type { Logger } from './ports.js';
import { ApiError, parseEventsQuery } from './alerts-query.js';

export interface AlertApiDeps {
  rules: AlertRuleStore;
  states: AlertStateStore;
  frames: AlertBroadcaster;
  /** Tells the rules cache of this process that the rules changed. */
  rulesChanged: () => void;
  newId: () => string;
  now: () => number;
  log: Logger;
}

export interface AlertCaller {
  /** False only when sign-in is on and the caller is not an operator. */
  mayChange: boolean;
  /** Who acknowledges: the token's e-mail or subject; null when sign-in is off. */
  name: string | null;
}

export interface AlertRequest {
  method: string;
  segments: string[];
  query: Record<string, string | undefined>;
  body: string | undefined;
  caller: AlertCaller;
}

export interface JsonAnswer {
  status: number;
  body?: unknown;
}

/** The largest rule body read. */
export const MAX_RULE_BODY = 64 * 1024;

function parseBody(body: string | undefined): unknown {
  if (body === undefined || body === '') throw new InvalidRule('rule: the request has no JSON body');
  if (body.length > MAX_RULE_BODY) throw new InvalidRule(`rule: the body is over ${MAX_RULE_BODY} bytes`);
  try {
    return JSON.parse(body);
  } catch {
    throw new InvalidRule('rule: the body is not JSON');
  }
}

function ruleIdOf(segment: string): string {
  let id: string;
  try {
    id = decodeURIComponent(segment);
  } catch {
    id = '';
  }
  if (!RULE_ID_PATTERN.test(id)) throw new ApiError(404, 'RULE_NOT_FOUND', 'no rule has this id');
  return id;
}

const forbidden = () => new ApiError(403, 'FORBIDDEN', 'only an operator may change alert rules or acknowledge alerts');
const notAllowed = (allowed: string) => new ApiError(405, 'METHOD_NOT_ALLOWED', `this route answers ${allowed}`);

/** Answers a request under /alert-rules or /alerts; undefined for a path that is neither. */
export async function handleAlertRequest(req: AlertRequest, deps: AlertApiDeps): Promise<JsonAnswer | undefined> {
  const [root, id, action, ...rest] = req.segments;
  const reading = req.method === 'GET' || req.method === 'HEAD';
  if (root === 'alert-rules' && action === undefined) {
    if (!reading && !req.caller.mayChange) throw forbidden();
    if (id === undefined) {
      if (reading) return { status: 200, body: { rules: (await deps.rules.list()).map(ruleView) } };
      if (req.method !== 'POST') throw notAllowed('GET, POST');
      const spec = parseRuleSpec(parseBody(req.body));
      const rule = { ...spec, id: deps.newId() } as AlertRule;
      if (!(await deps.rules.create(rule, MAX_RULES))) {
        throw new ApiError(400, 'LIMIT_EXCEEDED', `at most ${MAX_RULES} alert rules; delete one first`);
      }
      deps.rulesChanged();
      return { status: 201, body: ruleView(rule) };
    }
    // A method this route does not serve is 405 whatever the id, as everywhere else in the API.
    if (!reading && req.method !== 'PUT' && req.method !== 'DELETE') throw notAllowed('GET, PUT, DELETE');
    const ruleId = ruleIdOf(id);
    if (reading) {
      const rule = await deps.rules.get(ruleId);
      if (!rule) throw new ApiError(404, 'RULE_NOT_FOUND', `no rule ${ruleId}`);
      return { status: 200, body: ruleView(rule) };
    }
    if (req.method === 'PUT') {
      const spec = parseRuleSpec(parseBody(req.body));
      const rule = { ...spec, id: ruleId } as AlertRule;
      if (!(await deps.rules.replace(rule))) throw new ApiError(404, 'RULE_NOT_FOUND', `no rule ${ruleId}`);
      deps.rulesChanged();
      return { status: 200, body: ruleView(rule) };
    }
    if (req.method === 'DELETE') {
      if (!(await deps.rules.delete(ruleId))) throw new ApiError(404, 'RULE_NOT_FOUND', `no rule ${ruleId}`);
      deps.rulesChanged();
      return { status: 204 };
    }
    throw notAllowed('GET, PUT, DELETE');
  }
  if (root !== 'alerts' || rest.length > 0) return undefined;
  if (id === undefined) {
    if (!reading) throw notAllowed('GET');
    return { status: 200, body: { alerts: await currentAlerts(deps) } };
  }
  if (id === 'history' && action === undefined) {
    if (!reading) throw notAllowed('GET');
    const q = parseEventsQuery(req.query, deps.now());
    const page = await deps.states.events({ from: q.from, to: q.to, limit: q.limit, before: q.before });
    return { status: 200, body: { events: page.events, nextCursor: page.next ? q.cursorFor(page.next) : null } };
  }
  if (action === 'ack') {
    if (req.method !== 'POST') throw notAllowed('POST');
    if (!req.caller.mayChange) throw forbidden();
    return { status: 200, body: await acknowledge(id, req.caller.name, deps) };
  }
  return undefined;
}

/** The alerts not ok, newest first; states of deleted rules are left out. */
async function currentAlerts(deps: Pick<AlertApiDeps, 'rules' | 'states'>): Promise<AlertView[]> {
  const [rules, active] = await Promise.all([deps.rules.list(), deps.states.active()]);
  const byId = new Map(rules.map((r) => [r.id, r]));
  const alerts: AlertView[] = [];
  for (const s of active) {
    const rule = byId.get(s.ruleId);
    if (rule && s.state !== 'ok') alerts.push(alertView(rule, s));
  }
  return alerts.sort((a, b) => (b.since ?? 0) - (a.since ?? 0) || (a.id < b.id ? -1 : 1));
}

async function acknowledge(rawId: string, by: string | null, deps: AlertApiDeps): Promise<AlertView> {
  let decoded = '';
  try {
    decoded = decodeURIComponent(rawId);
  } catch {
    // left empty: not an alert id
  }
  const parsed = parseAlertId(decoded);
  const notFound = () => new ApiError(404, 'ALERT_NOT_FOUND', 'no alert has this id');
  if (!parsed) throw notFound();
  for (let attempt = 0; attempt < 4; attempt++) {
    const [rule, state] = await Promise.all([deps.rules.get(parsed.ruleId), deps.states.get(parsed.ruleId, parsed.sensorId)]);
    if (!rule || !state) throw notFound();
    if (state.state !== 'firing' || state.episode !== parsed.episode) {
      throw new ApiError(409, 'NOT_FIRING', 'only a firing alert can be acknowledged; this one is not firing');
    }
    if (state.acknowledged) return alertView(rule, state);
    const next = { ...state, acknowledged: true, acknowledgedBy: by, version: state.version + 1 };
    if (!(await deps.states.save(next))) continue;
    const view = alertView(rule, next);
    await deps.states.addEvents([
      {
        ts: deps.now(),
        alertId: view.id,
        ruleId: rule.id,
        sensorId: state.sensorId,
        kind: 'acknowledged',
        severity: rule.severity,
        value: state.value,
        by,
      },
    ]);
    await deps.frames
      .broadcast([view])
      .catch((err: Error) => deps.log.error('alert frame failed', { alertId: view.id, error: err.message }));
    return view;
  }
  throw new ApiError(409, 'NOT_FIRING', 'the alert kept changing; try again');
}
