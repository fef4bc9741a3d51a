/**
 * Telemetry payloads of contract §3: form 1 for a live reading, form 2 (arrays of at most 500 readings,
 * each with its `ts`, and at most 128 KiB) for a flush of the offline buffer.
 */
import { MAX_BATCH_READINGS } from '../lambdas/shared/contract.js';
import { MAX_PAYLOAD_BYTES } from '../lambdas/shared/names.js';

export { MAX_BATCH_READINGS };

export interface Reading {
  ts: number;
  values: Record<string, number>;
  units?: Record<string, string>;
}

/** Form 1: `{"ts","values","units"}`. */
export function readingPayload(reading: Reading): string {
  return JSON.stringify(
    reading.units ? { ts: reading.ts, values: reading.values, units: reading.units } : { ts: reading.ts, values: reading.values },
  );
}

export interface Batch {
  payload: string;
  readings: Reading[];
}

/**
 * Splits readings, in order, into form 2 payloads of at most `maxReadings` readings and `maxBytes`
 * bytes (UTF-8). A single reading that alone exceeds `maxBytes` throws: it could never be sent.
 */
export function batchPayloads(readings: Reading[], maxReadings = MAX_BATCH_READINGS, maxBytes = MAX_PAYLOAD_BYTES): Batch[] {
  const batches: Batch[] = [];
  let current: Reading[] = [];
  let parts: string[] = [];
  let bytes = 2; // "[" and "]"
  const close = (): void => {
    if (current.length === 0) return;
    batches.push({ payload: `[${parts.join(',')}]`, readings: current });
    current = [];
    parts = [];
    bytes = 2;
  };
  for (const reading of readings) {
    const part = readingPayload(reading);
    const partBytes = Buffer.byteLength(part, 'utf8');
    if (partBytes + 2 > maxBytes) throw new Error(`A reading of ${partBytes} bytes exceeds the ${maxBytes}-byte payload limit`);
    const extra = partBytes + (current.length > 0 ? 1 : 0);
    if (current.length >= maxReadings || bytes + extra > maxBytes) close();
    bytes += partBytes + (current.length > 0 ? 1 : 0);
    current.push(reading);
    parts.push(part);
  }
  close();
  return batches;
}
