/**
 * The telemetry and presence use cases behind the IoT rules: keep history, push live, track presence.
 */
import { SENSOR_ID_PATTERN, TOPICS } from '../shared/names.js';
import type { PresenceState, Reading } from './model.js';
import type {
  ConnectionRegistry,
  LiveSender,
  ReadingStore,
  RejectionSink,
  RollupStore,
  SensorRegistry,
} from './ports.js';
import { refreshRollups } from './rollups.js';
import type { RejectionCode } from './telemetry.js';
import { parseTelemetry } from './telemetry.js';

/** The event the telemetry rules send: `SELECT encode(*, 'base64') AS payload, topic(2) AS sensorId, timestamp() AS receivedAt`. */
export interface TelemetryEvent {
  payload: string;
  sensorId: string;
  receivedAt: number;
}

/** Structured logging: a message and its attributes (Powertools Logger fits this). */
export interface Logger {
  info(message: string, ...attributes: Record<string, unknown>[]): void;
  warn(message: string, ...attributes: Record<string, unknown>[]): void;
  error(message: string, ...attributes: Record<string, unknown>[]): void;
}

export type StoreOutcome =
  | { accepted: true; stored: number; duplicates: number }
  | { accepted: false; code: RejectionCode | 'INVALID_EVENT'; message: string };

function decodeEvent(event: unknown): { payload: Buffer; sensorId: string; receivedAt: number } | undefined {
  const e = event as Partial<TelemetryEvent> | null;
  if (!e || typeof e.payload !== 'string' || typeof e.receivedAt !== 'number') return undefined;
  return { payload: Buffer.from(e.payload, 'base64'), sensorId: String(e.sensorId ?? ''), receivedAt: e.receivedAt };
}

export interface StoreDeps {
  readings: ReadingStore;
  rollups: RollupStore;
  sensors: SensorRegistry;
  rejections: RejectionSink;
  rawRetentionDays: number;
  log: Logger;
}

/** The history writer: stores new readings, keeps roll-ups and the registry current, dead-letters the rest. */
export async function storeTelemetry(event: unknown, deps: StoreDeps): Promise<StoreOutcome> {
  const decoded = decodeEvent(event);
  if (!decoded) {
    deps.log.error('telemetry event without payload or receivedAt', { code: 'INVALID_EVENT' });
    return { accepted: false, code: 'INVALID_EVENT', message: 'telemetry event without payload or receivedAt' };
  }
  const { payload, sensorId, receivedAt } = decoded;
  const result = parseTelemetry(payload, { sensorId, receivedAt, rawRetentionDays: deps.rawRetentionDays });
  if (!result.ok) {
    const topic = TOPICS.telemetry(sensorId);
    deps.log.warn('telemetry rejected', { code: result.code, reason: result.message, topic, bytes: payload.length });
    await deps.rejections.reject({
      topic,
      sensorId,
      code: result.code,
      message: result.message,
      payload: payload.toString('base64'),
      receivedAt,
    });
    return { accepted: false, code: result.code, message: result.message };
  }
  const stored = await deps.readings.insertNew(result.readings);
  // Every reading of the payload, not only the new ones: an invocation retried after its readings were stored
  // but before roll-ups or the registry were written must still complete them. Both updates are idempotent.
  await refreshRollups(sensorId, result.readings, deps);
  await deps.sensors.recordReadings(sensorId, result.readings);
  const duplicates = result.readings.length - stored.length;
  return { accepted: true, stored: stored.length, duplicates };
}

export interface PushDeps {
  connections: ConnectionRegistry;
  live: LiveSender;
  log: Logger;
  now: () => number;
}

/** Sends one frame to each connection; a gone connection is forgotten with its subscriptions. */
export async function pushToConnections(connectionIds: string[], frame: unknown, deps: PushDeps): Promise<number> {
  let sent = 0;
  await Promise.all(
    connectionIds.map(async (connectionId) => {
      try {
        if ((await deps.live.send(connectionId, frame)) === 'gone') {
          await deps.connections.close(connectionId);
          deps.log.info('gone connection removed', { connectionId });
        } else {
          sent += 1;
        }
      } catch (err) {
        // One failing connection must not keep the others from their frame.
        deps.log.error('push failed', { connectionId, error: (err as Error).message });
      }
    }),
  );
  return sent;
}

export interface BroadcastDeps extends PushDeps {
  rawRetentionDays: number;
}

/**
 * The live broadcaster: pushes valid readings to the sensor's subscribers, once. Invalid payloads are the
 * history writer's to dead-letter; here they are only skipped.
 */
export async function broadcastTelemetry(event: unknown, deps: BroadcastDeps): Promise<{ pushed: number; connections: number }> {
  const decoded = decodeEvent(event);
  if (!decoded) return { pushed: 0, connections: 0 };
  const { payload, sensorId, receivedAt } = decoded;
  const result = parseTelemetry(payload, { sensorId, receivedAt, rawRetentionDays: deps.rawRetentionDays });
  if (!result.ok) return { pushed: 0, connections: 0 };
  const subscribers = await deps.connections.subscribersOf(sensorId);
  if (subscribers.length === 0) return { pushed: 0, connections: 0 };
  // Only readings not pushed before: a QoS 1 redelivery is not shown twice.
  const fresh = new Set(await deps.connections.markPushed(sensorId, result.readings.map((r) => r.ts), deps.now()));
  const readings = result.readings.filter((r: Reading) => fresh.has(r.ts));
  if (readings.length === 0) return { pushed: 0, connections: 0 };
  const frame = { type: 'readings', readings: readings.map((r) => ({ sensorId, ts: r.ts, values: r.values })) };
  const sent = await pushToConnections(subscribers, frame, deps);
  return { pushed: readings.length, connections: sent };
}

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
  const subscribers = await deps.connections.subscribersOf(e.clientId);
  if (subscribers.length > 0) {
    await pushToConnections(subscribers, { type: 'status', sensorId: e.clientId, online: state.online, ts: state.ts }, deps);
  }
  return { applied: true };
}
