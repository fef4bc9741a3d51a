/**
 * The history writer's use case: stores new readings, keeps roll-ups and the registry current, and
 * dead-letters rejected payloads. This file is direct ingest (one rule event per invocation, invocations
 * running at once); store-telemetry-stream.ts is stream ingest.
 */
import { METRICS, TOPICS } from '../shared/names.js';
import { type EventVerdict, acceptedReadings, groupBySensor, readingKey } from './accepted-readings.js';
import { inParallel } from './concurrency.js';
import type { Reading } from './model.js';
import type { Logger, Metrics, ReadingStore, RejectionSink, RollupStore, SensorRegistry } from './ports.js';
import { refreshRollupsOf } from './rollups.js';
import type { RejectionCode } from './telemetry.js';

export type StoreOutcome =
  | { accepted: true; stored: number; duplicates: number }
  | { accepted: false; code: RejectionCode | 'INVALID_EVENT'; message: string };

export interface StoreDeps {
  readings: ReadingStore;
  rollups: RollupStore;
  sensors: SensorRegistry;
  rejections: RejectionSink;
  rawRetentionDays: number;
  log: Logger;
  metrics: Metrics;
  /**
   * Called once per batch with its unique accepted readings once they are stored (retries included), before
   * the registry records them: alert evaluation reads the registry's latest as "newest before this batch".
   */
  onStored?: (readings: Reading[]) => Promise<void>;
  /** Stream ingest: a raw-reading pack's size cap in bytes (default PACK_MAX_BYTES; tests lower it to overflow). */
  packMaxBytes?: number;
}

/** Sensors whose roll-ups and registry entry are refreshed at once. */
export const SENSOR_CONCURRENCY = 8;

/**
 * Counts the verdicts and dead-letters the rejected payloads; each verdict's promise settles when its
 * rejection is kept (an event that is not a telemetry event at all is only logged). Fills `outcomes` for the
 * rejected ones.
 */
export function rejectInvalid(verdicts: EventVerdict[], outcomes: StoreOutcome[], deps: StoreDeps): Array<Promise<void> | undefined> {
  const kept: Array<Promise<void> | undefined> = [];
  for (const v of verdicts) {
    if (v.ok) {
      deps.metrics.count(METRICS.readingsAccepted, v.readings.length);
      continue;
    }
    outcomes[v.index] = { accepted: false, code: v.code, message: v.message };
    deps.metrics.count(METRICS.readingsRejected, 1, { Reason: v.code });
    if (!('event' in v)) {
      deps.log.error(v.message, { code: v.code });
      continue;
    }
    const { payload, sensorId, receivedAt } = v.event;
    const topic = TOPICS.telemetry(sensorId);
    deps.log.warn('telemetry rejected', { code: v.code, reason: v.message, topic, bytes: payload.length });
    kept[v.index] = deps.rejections.reject({
      topic,
      sensorId,
      code: v.code,
      message: v.message,
      payload: payload.toString('base64'),
      receivedAt,
    });
  }
  return kept;
}

/**
 * The history writer for rule events delivered directly: work per sensor is done once per call, however
 * many of its readings the events hold; correct while other invocations store the same keys at once.
 */
export async function storeTelemetryBatch(events: unknown[], deps: StoreDeps): Promise<StoreOutcome[]> {
  deps.metrics.observe(METRICS.batchSize, events.length);
  const { verdicts, unique } = acceptedReadings(events, deps.rawRetentionDays);
  const outcomes: StoreOutcome[] = [];
  await Promise.all(rejectInvalid(verdicts, outcomes, deps));
  if (unique.length === 0) return outcomes;

  const stored = await deps.readings.insertNew(unique);
  const storedKeys = new Set(stored.map(readingKey));

  // Every valid reading, not only the new ones: an invocation retried after its readings were stored but
  // before roll-ups or the registry were written must still complete them. Both updates are idempotent.
  // Alert evaluation beside the roll-ups, both before the registry moves `latest`.
  await Promise.all([refreshRollupsOf(unique, deps), deps.onStored?.(unique)]);
  await inParallel([...groupBySensor(unique)], SENSOR_CONCURRENCY, async ([sensorId, readings]) => {
    await deps.sensors.recordReadings(sensorId, readings);
  });

  for (const v of verdicts) {
    if (!v.ok) continue;
    let fresh = 0;
    for (const r of v.readings) {
      if (storedKeys.delete(readingKey(r))) fresh += 1;
    }
    outcomes[v.index] = { accepted: true, stored: fresh, duplicates: v.readings.length - fresh };
  }
  return outcomes;
}

/** The history writer for one rule event. */
export async function storeTelemetry(event: unknown, deps: StoreDeps): Promise<StoreOutcome> {
  return (await storeTelemetryBatch([event], deps))[0];
}
