/**
 * The telemetry and presence use cases behind the IoT rules: keep history, push live, track presence.
 */
import { METRICS, SENSOR_ID_PATTERN, TOPICS } from '../shared/names.js';
import type { PresenceState, Reading } from './model.js';
import type {
  ConnectionRegistry,
  LiveSender,
  Metrics,
  ReadingStore,
  RejectionSink,
  RollupStore,
  SensorRegistry,
} from './ports.js';
import { refreshRollupsOf } from './rollups.js';
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
  metrics: Metrics;
}

/** Runs tasks with at most `limit` in flight. */
export async function inParallel<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await task(items[next++]);
    }),
  );
}

function groupBySensor(readings: Reading[]): Map<string, Reading[]> {
  const groups = new Map<string, Reading[]>();
  for (const r of readings) {
    const group = groups.get(r.sensorId);
    if (group) group.push(r);
    else groups.set(r.sensorId, [r]);
  }
  return groups;
}

const readingKey = (r: Pick<Reading, 'sensorId' | 'ts'>) => `${r.sensorId}\u0000${r.ts}`;

/** Sensors whose roll-ups and registry entry are refreshed at once. */
const SENSOR_CONCURRENCY = 8;

/**
 * The history writer, for one rule event (direct ingest) or a batch of them (queued ingest): stores new
 * readings, keeps roll-ups and the registry current, dead-letters rejected payloads. Work per sensor is
 * done once per batch, however many of its readings the batch holds.
 */
export async function storeTelemetryBatch(events: unknown[], deps: StoreDeps): Promise<StoreOutcome[]> {
  const outcomes: StoreOutcome[] = [];
  const accepted: Array<{ index: number; readings: Reading[] }> = [];
  const rejections: Promise<void>[] = [];
  deps.metrics.observe(METRICS.batchSize, events.length);
  events.forEach((event, index) => {
    const decoded = decodeEvent(event);
    if (!decoded) {
      deps.log.error('telemetry event without payload or receivedAt', { code: 'INVALID_EVENT' });
      deps.metrics.count(METRICS.readingsRejected, 1, { Reason: 'INVALID_EVENT' });
      outcomes[index] = { accepted: false, code: 'INVALID_EVENT', message: 'telemetry event without payload or receivedAt' };
      return;
    }
    const { payload, sensorId, receivedAt } = decoded;
    const result = parseTelemetry(payload, { sensorId, receivedAt, rawRetentionDays: deps.rawRetentionDays });
    if (!result.ok) {
      const topic = TOPICS.telemetry(sensorId);
      deps.log.warn('telemetry rejected', { code: result.code, reason: result.message, topic, bytes: payload.length });
      deps.metrics.count(METRICS.readingsRejected, 1, { Reason: result.code });
      rejections.push(
        deps.rejections.reject({
          topic,
          sensorId,
          code: result.code,
          message: result.message,
          payload: payload.toString('base64'),
          receivedAt,
        }),
      );
      outcomes[index] = { accepted: false, code: result.code, message: result.message };
      return;
    }
    accepted.push({ index, readings: result.readings });
    deps.metrics.count(METRICS.readingsAccepted, result.readings.length);
  });
  await Promise.all(rejections);
  if (accepted.length === 0) return outcomes;

  // One key, one reading: across the batch too, the first one wins.
  const seen = new Set<string>();
  const unique: Reading[] = [];
  for (const { readings } of accepted) {
    for (const r of readings) {
      const key = readingKey(r);
      if (!seen.has(key)) {
        seen.add(key);
        unique.push(r);
      }
    }
  }
  const stored = await deps.readings.insertNew(unique);
  const storedKeys = new Set(stored.map(readingKey));

  // Every valid reading, not only the new ones: an invocation retried after its readings were stored but
  // before roll-ups or the registry were written must still complete them. Both updates are idempotent.
  await refreshRollupsOf(unique, deps);
  await inParallel([...groupBySensor(unique)], SENSOR_CONCURRENCY, async ([sensorId, readings]) => {
    await deps.sensors.recordReadings(sensorId, readings);
  });

  for (const { index, readings } of accepted) {
    let fresh = 0;
    for (const r of readings) {
      if (storedKeys.delete(readingKey(r))) fresh += 1;
    }
    outcomes[index] = { accepted: true, stored: fresh, duplicates: readings.length - fresh };
  }
  return outcomes;
}

/** The history writer for one rule event. */
export async function storeTelemetry(event: unknown, deps: StoreDeps): Promise<StoreOutcome> {
  return (await storeTelemetryBatch([event], deps))[0];
}

export interface PushDeps {
  connections: ConnectionRegistry;
  live: LiveSender;
  log: Logger;
  metrics: Metrics;
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
          deps.metrics.count(METRICS.goneConnectionsRemoved, 1);
          deps.log.info('gone connection removed', { connectionId });
        } else {
          sent += 1;
          deps.metrics.count(METRICS.livePushes, 1);
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

/** Frames stay well under API Gateway's 32 KB WebSocket frame size. */
const MAX_FRAME_CHARS = 30_000;

/** Splits readings into `readings` frames of at most MAX_FRAME_CHARS each. */
export function readingsFrames(readings: Array<{ sensorId: string; ts: number; values: Record<string, number> }>) {
  const frames: Array<{ type: 'readings'; readings: typeof readings }> = [];
  let current: typeof readings = [];
  let size = 0;
  for (const r of readings) {
    const length = JSON.stringify(r).length + 1;
    if (current.length > 0 && size + length > MAX_FRAME_CHARS) {
      frames.push({ type: 'readings', readings: current });
      current = [];
      size = 0;
    }
    current.push(r);
    size += length;
  }
  if (current.length > 0) frames.push({ type: 'readings', readings: current });
  return frames;
}

/**
 * The live broadcaster, for one rule event or a batch: pushes valid readings to their sensors'
 * subscribers, once each, and each connection gets one frame for all its readings of the batch. Invalid
 * payloads are the history writer's to dead-letter; here they are only skipped.
 */
export async function broadcastTelemetryBatch(
  events: unknown[],
  deps: BroadcastDeps,
): Promise<{ pushed: number; connections: number }> {
  const seen = new Set<string>();
  const valid: Reading[] = [];
  for (const event of events) {
    const decoded = decodeEvent(event);
    if (!decoded) continue;
    const result = parseTelemetry(decoded.payload, {
      sensorId: decoded.sensorId,
      receivedAt: decoded.receivedAt,
      rawRetentionDays: deps.rawRetentionDays,
    });
    if (!result.ok) continue;
    for (const r of result.readings) {
      const key = readingKey(r);
      if (!seen.has(key)) {
        seen.add(key);
        valid.push(r);
      }
    }
  }
  if (valid.length === 0) return { pushed: 0, connections: 0 };

  const subscribers = await deps.connections.subscribersOf([...new Set(valid.map((r) => r.sensorId))]);
  const followed = valid.filter((r) => subscribers.has(r.sensorId));
  if (followed.length === 0) return { pushed: 0, connections: 0 };
  // Only readings not pushed before: a QoS 1 redelivery is not shown twice.
  const fresh = new Set(
    (await deps.connections.markPushed(followed.map(({ sensorId, ts }) => ({ sensorId, ts })), deps.now())).map(readingKey),
  );
  const perConnection = new Map<string, Array<{ sensorId: string; ts: number; values: Record<string, number> }>>();
  const pushedReadings: Reading[] = [];
  for (const r of followed) {
    if (!fresh.has(readingKey(r))) continue;
    pushedReadings.push(r);
    const item = { sensorId: r.sensorId, ts: r.ts, values: r.values };
    for (const connectionId of subscribers.get(r.sensorId)!) {
      const list = perConnection.get(connectionId);
      if (list) list.push(item);
      else perConnection.set(connectionId, [item]);
    }
  }
  if (perConnection.size === 0) return { pushed: 0, connections: 0 };

  let sent = 0;
  await inParallel([...perConnection], 16, async ([connectionId, items]) => {
    items.sort((a, b) => a.ts - b.ts);
    for (const frame of readingsFrames(items)) {
      if ((await pushToConnections([connectionId], frame, deps)) === 0) return;
    }
    sent += 1;
  });
  if (sent > 0) {
    const pushedAt = deps.now();
    for (const r of pushedReadings) deps.metrics.observe(METRICS.receiveToPushLatency, Math.max(0, pushedAt - r.receivedAt));
  }
  return { pushed: pushedReadings.length, connections: sent };
}

/** The live broadcaster for one rule event. */
export async function broadcastTelemetry(event: unknown, deps: BroadcastDeps): Promise<{ pushed: number; connections: number }> {
  return broadcastTelemetryBatch([event], deps);
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
  const subscribers = (await deps.connections.subscribersOf([e.clientId])).get(e.clientId) ?? [];
  if (subscribers.length > 0) {
    await pushToConnections(subscribers, { type: 'status', sensorId: e.clientId, online: state.online, ts: state.ts }, deps);
  }
  return { applied: true };
}
