/**
 * What the telemetry rules deliver, decoded and parsed once: the writer and the broadcaster both start from
 * `acceptedReadings`, so a payload is judged the same way on both paths.
 */
import type { Reading } from './model.js';
import type { RejectionCode } from './telemetry.js';
import { parseTelemetry } from './telemetry.js';

/** The event the telemetry rules send: `SELECT encode(*, 'base64') AS payload, topic(2) AS sensorId, timestamp() AS receivedAt`. */
export interface TelemetryEvent {
  payload: string;
  sensorId: string;
  receivedAt: number;
}

export interface DecodedEvent {
  payload: Buffer;
  sensorId: string;
  receivedAt: number;
}

export function decodeEvent(event: unknown): DecodedEvent | undefined {
  const e = event as Partial<TelemetryEvent> | null;
  if (!e || typeof e.payload !== 'string' || typeof e.receivedAt !== 'number') return undefined;
  return { payload: Buffer.from(e.payload, 'base64'), sensorId: String(e.sensorId ?? ''), receivedAt: e.receivedAt };
}

/** How one event of a batch was judged. */
export type EventVerdict =
  | { index: number; ok: true; readings: Reading[] }
  | { index: number; ok: false; code: 'INVALID_EVENT'; message: string }
  | { index: number; ok: false; code: RejectionCode; message: string; event: DecodedEvent };

export const readingKey = (r: Pick<Reading, 'sensorId' | 'ts'>) => `${r.sensorId}\u0000${r.ts}`;

/**
 * Judges every event of a batch and collects the valid readings once each: one key, one reading, across
 * the batch too (the first one wins).
 */
export function acceptedReadings(events: unknown[], rawRetentionDays: number): { verdicts: EventVerdict[]; unique: Reading[] } {
  const verdicts: EventVerdict[] = [];
  const seen = new Set<string>();
  const unique: Reading[] = [];
  events.forEach((event, index) => {
    const decoded = decodeEvent(event);
    if (!decoded) {
      verdicts.push({ index, ok: false, code: 'INVALID_EVENT', message: 'telemetry event without payload or receivedAt' });
      return;
    }
    const result = parseTelemetry(decoded.payload, { sensorId: decoded.sensorId, receivedAt: decoded.receivedAt, rawRetentionDays });
    if (!result.ok) {
      verdicts.push({ index, ok: false, code: result.code, message: result.message, event: decoded });
      return;
    }
    verdicts.push({ index, ok: true, readings: result.readings });
    for (const r of result.readings) {
      const key = readingKey(r);
      if (!seen.has(key)) {
        seen.add(key);
        unique.push(r);
      }
    }
  });
  return { verdicts, unique };
}

export function groupBySensor(readings: Reading[]): Map<string, Reading[]> {
  const groups = new Map<string, Reading[]>();
  for (const r of readings) {
    const group = groups.get(r.sensorId);
    if (group) group.push(r);
    else groups.set(r.sensorId, [r]);
  }
  return groups;
}
