/** The presence use case: applies IoT lifecycle events to the registry and tells subscribers. */
import { SENSOR_ID_PATTERN } from '../shared/names.js';
import type { PresenceState } from './model.js';
import type { LiveSubscriptions } from './live-subscriptions.js';
import type { SensorRegistry } from './ports.js';
import { type PushDeps, pushToConnections } from './push.js';

export interface PresenceDeps extends PushDeps {
  sensors: SensorRegistry;
  /** The sensor's subscribers: the sets cached per container, one version read per event while they stay. */
  subscriptions: LiveSubscriptions;
}

/** An AWS IoT lifecycle event (connected / disconnected). */
export interface PresenceEvent {
  clientId: string;
  timestamp: number;
  eventType: 'connected' | 'disconnected';
  versionNumber: number;
  sessionIdentifier?: string;
  principalIdentifier?: string;
  disconnectReason?: string;
}

/**
 * A lower versionNumber is a restarted version (not a stale event) only when its timestamp is this much later
 * than the applied event's: a stale event of an older connection predates the newer connect, give or take the
 * approximate timestamps (an old connection kicked by a quick reconnect reports its disconnect just after the
 * new connect).
 */
export const VERSION_RESTART_AFTER_MS = 5 * 60_000;

/**
 * Contract §6: whether `next` replaces the applied presence `current`. A higher versionNumber wins; at an equal
 * one (a connect and its disconnect share it) only a disconnect after a connect; the timestamp decides only when
 * the version restarted. Duplicates never apply twice.
 */
export function presenceSupersedes(current: PresenceState | null, next: PresenceState): boolean {
  if (!current) return true;
  if (next.versionNumber > current.versionNumber) return true;
  if (next.versionNumber === current.versionNumber) return current.online && !next.online;
  return next.ts > current.ts + VERSION_RESTART_AFTER_MS;
}

function isLifecycleEvent(e: Partial<PresenceEvent> | null): e is PresenceEvent {
  return (
    !!e &&
    typeof e.clientId === 'string' &&
    SENSOR_ID_PATTERN.test(e.clientId) &&
    (e.eventType === 'connected' || e.eventType === 'disconnected') &&
    typeof e.timestamp === 'number' &&
    Number.isFinite(e.timestamp) &&
    // AWS's versionNumber is a non-negative long; without it an event cannot be ordered (contract §6).
    Number.isSafeInteger(e.versionNumber) &&
    (e.versionNumber as number) >= 0
  );
}

/** Applies a lifecycle event unless a newer one was applied, then tells the sensor's subscribers. */
export async function applyPresenceEvent(event: unknown, deps: PresenceDeps): Promise<{ applied: boolean }> {
  const e = event as Partial<PresenceEvent> | null;
  if (!isLifecycleEvent(e)) {
    deps.log.warn('presence event ignored: not a lifecycle event of a sensor', { event: e as unknown });
    return { applied: false };
  }
  const state: PresenceState = { online: e.eventType === 'connected', ts: e.timestamp, versionNumber: e.versionNumber };
  const applied = await deps.sensors.applyPresence(e.clientId, state);
  if (!applied) {
    deps.log.info('presence event ignored: stale or duplicate (contract §6 ordering)', { sensorId: e.clientId, ...state });
    return { applied: false };
  }
  const subscribers = (await deps.subscriptions.read([e.clientId], deps.now())).subscribers.get(e.clientId) ?? [];
  if (subscribers.length > 0) {
    await pushToConnections(subscribers, { type: 'status', sensorId: e.clientId, online: state.online, ts: state.ts }, deps);
  }
  return { applied: true };
}
