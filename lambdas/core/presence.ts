/** The presence use case: applies IoT lifecycle events to the registry and tells subscribers. */
import { SENSOR_ID_PATTERN } from '../shared/names.js';
import type { PresenceState } from './model.js';
import type { SensorRegistry } from './ports.js';
import { type PushDeps, pushToConnections } from './push.js';

export interface PresenceDeps extends PushDeps {
  sensors: SensorRegistry;
}

/** An AWS IoT lifecycle event (connected / disconnected). */
export interface PresenceEvent {
  clientId: string;
  timestamp: number;
  eventType: 'connected' | 'disconnected';
  versionNumber?: number;
  sessionIdentifier?: string;
  principalIdentifier?: string;
  disconnectReason?: string;
}

/** Applies a lifecycle event unless a newer one was applied, then tells the sensor's subscribers. */
export async function applyPresenceEvent(event: unknown, deps: PresenceDeps): Promise<{ applied: boolean }> {
  const e = event as Partial<PresenceEvent> | null;
  if (
    !e ||
    typeof e.clientId !== 'string' ||
    !SENSOR_ID_PATTERN.test(e.clientId) ||
    (e.eventType !== 'connected' && e.eventType !== 'disconnected') ||
    typeof e.timestamp !== 'number' ||
    !Number.isFinite(e.timestamp)
  ) {
    deps.log.warn('presence event ignored: not a lifecycle event of a sensor', { event: e as unknown });
    return { applied: false };
  }
  const state: PresenceState = {
    online: e.eventType === 'connected',
    ts: e.timestamp,
    versionNumber: typeof e.versionNumber === 'number' && Number.isFinite(e.versionNumber) ? e.versionNumber : 0,
  };
  const applied = await deps.sensors.applyPresence(e.clientId, state);
  if (!applied) {
    deps.log.info('presence event older than the applied one', { sensorId: e.clientId, ...state });
    return { applied: false };
  }
  const subscribers = (await deps.connections.subscribersOf([e.clientId])).get(e.clientId) ?? [];
  if (subscribers.length > 0) {
    await pushToConnections(subscribers, { type: 'status', sensorId: e.clientId, online: state.online, ts: state.ts }, deps);
  }
  return { applied: true };
}
