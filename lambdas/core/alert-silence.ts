/**
 * Silence rules (contract §8), checked on a schedule (EventBridge once a minute in the cloud, a timer
 * locally): a covered sensor with no accepted reading for `silentMinutes` fires; one that spoke again
 * since resolves (the ingest path resolves it at once; this is the backstop).
 */
import type { ActivitySource, StoredAlert } from './alert-ports.js';
import type { AlertState, SilenceRule, Transition } from './alerts.js';
import { OK_STATE, covers, isSilenceRule } from './alerts.js';
import type { AlertDeps } from './evaluate-alerts.js';
import { commitTransitions, unstored } from './evaluate-alerts.js';

export interface SilenceDeps extends Omit<AlertDeps, 'newest'> {
  activity: ActivitySource;
  now: () => number;
}

export async function checkSilence(deps: SilenceDeps): Promise<{ fired: number; resolved: number }> {
  const rules = (await deps.rules.rules()).filter(isSilenceRule) as SilenceRule[];
  const counts = { fired: 0, resolved: 0 };
  if (rules.length === 0) return counts;
  const now = deps.now();
  const [activity, active] = await Promise.all([deps.activity.activity(), deps.states.active()]);
  const firing = new Map(active.map((s) => [`${s.ruleId}\u0000${s.sensorId}`, s]));
  for (const rule of rules) {
    for (const sensor of activity) {
      if (!covers(rule, sensor.sensorId)) continue;
      const silent = now - sensor.lastReadingAt >= rule.silentMinutes * 60_000;
      const before = firing.get(`${rule.id}\u0000${sensor.sensorId}`);
      let move: { state: AlertState; transition: Transition } | undefined;
      if (silent && before?.state !== 'firing') {
        // lastTs: the sensor's newest reading, so only a later one resolves it.
        const state: AlertState = { ...OK_STATE, state: 'firing', since: now, episode: now, lastTs: sensor.latestTs };
        move = { state, transition: { kind: 'fired', to: state } };
      } else if (!silent && before?.state === 'firing' && sensor.latestTs > before.lastTs) {
        const state: AlertState = { ...OK_STATE, lastTs: sensor.latestTs };
        move = { state, transition: { kind: 'resolved', to: { ...state, since: null } } };
      }
      if (!move) continue;
      const current: StoredAlert = before ?? (await deps.states.get(rule.id, sensor.sensorId)) ?? unstored(rule.id, sensor.sensorId);
      // The ingest path evaluated a reading the registry does not show yet: the sensor is not silent.
      if (move.transition.kind === 'fired' && current.lastTs > sensor.latestTs) continue;
      // A concurrent ingest moved it: the next check sees the new state.
      if (await commitTransitions(rule, current, move.state, [move.transition], deps))
        counts[move.transition.kind === 'fired' ? 'fired' : 'resolved'] += 1;
    }
  }
  return counts;
}
