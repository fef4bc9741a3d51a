/**
 * Telemetry parsing and validation (contract §3). Pure: no I/O, no clock of its own.
 */
import { MAX_BATCH_READINGS, MAX_METRICS_PER_READING, MAX_UNIT_CODE_POINTS } from '../shared/contract.js';
import { MAX_PAYLOAD_BYTES, METRIC_NAME_PATTERN, SENSOR_ID_PATTERN } from '../shared/names.js';
import type { Reading } from './model.js';
import { MS_PER_DAY } from './model.js';

/** Reason codes, in the contract's order of precedence. */
export const REJECTION_CODES = [
  'INVALID_JSON',
  'INVALID_SHAPE',
  'INVALID_VALUE',
  'TOO_MANY_METRICS',
  'TOO_LARGE',
  'TS_OUT_OF_RANGE',
  'INVALID_SENSOR_ID',
] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];

export const FUTURE_TOLERANCE_MS = 5 * 60_000;
const RESERVED_KEYS = new Set(['ts', 'values', 'units']);

export type TelemetryResult = { ok: true; readings: Reading[] } | { ok: false; code: RejectionCode; message: string };

export interface TelemetryContext {
  sensorId: string;
  receivedAt: number;
  rawRetentionDays: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function isMetricName(name: string): boolean {
  return METRIC_NAME_PATTERN.test(name) && !RESERVED_KEYS.has(name);
}

/** Collects every rule a payload breaks; the answer is the first in contract order. */
class Violations {
  private readonly found = new Map<RejectionCode, string>();
  add(code: RejectionCode, message: string): void {
    if (!this.found.has(code)) this.found.set(code, message);
  }
  first(): { code: RejectionCode; message: string } | undefined {
    for (const code of REJECTION_CODES) {
      const message = this.found.get(code);
      if (message !== undefined) return { code, message };
    }
    return undefined;
  }
}

/** A device-supplied name quoted in a rejection reason, cut short: reasons are logged and dead-lettered. */
function shown(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

interface ReadingParts {
  ts: unknown;
  hasTs: boolean;
  values: Record<string, unknown>;
  units: unknown;
}

/** Validates one reading's parts and returns it, or records why not. */
function checkReading(parts: ReadingParts, where: string, ctx: TelemetryContext, v: Violations): Reading | undefined {
  let ok = true;
  const names = Object.keys(parts.values);
  if (names.length === 0) {
    v.add('INVALID_SHAPE', `${where}: values must hold at least one metric`);
    ok = false;
  }
  const values: Record<string, number> = {};
  for (const name of names) {
    const value = parts.values[name];
    if (!isMetricName(name)) {
      v.add('INVALID_VALUE', `${where}: "${shown(name)}" is not a valid metric name`);
      ok = false;
    } else if (typeof value !== 'number' || !Number.isFinite(value)) {
      v.add('INVALID_VALUE', `${where}: metric "${shown(name)}" must be a finite number`);
      ok = false;
    } else {
      values[name] = value;
    }
  }
  if (names.length > MAX_METRICS_PER_READING) {
    v.add('TOO_MANY_METRICS', `${where}: ${names.length} metrics, at most ${MAX_METRICS_PER_READING}`);
    ok = false;
  }

  const units: Record<string, string> = {};
  if (parts.units !== undefined) {
    if (!isPlainObject(parts.units)) {
      v.add('INVALID_SHAPE', `${where}: units must be an object`);
      ok = false;
    } else {
      for (const [name, unit] of Object.entries(parts.units)) {
        // A unit for a metric absent from values is ignored.
        if (!Object.hasOwn(parts.values, name)) continue;
        if (typeof unit !== 'string' || codePoints(unit) < 1 || codePoints(unit) > MAX_UNIT_CODE_POINTS) {
          v.add('INVALID_SHAPE', `${where}: unit of "${shown(name)}" must be a string of 1 to ${MAX_UNIT_CODE_POINTS} characters`);
          ok = false;
        } else {
          units[name] = unit;
        }
      }
    }
  }

  let ts = ctx.receivedAt;
  if (parts.hasTs) {
    if (typeof parts.ts !== 'number' || !Number.isSafeInteger(parts.ts)) {
      v.add('TS_OUT_OF_RANGE', `${where}: ts must be an integer of epoch milliseconds`);
      ok = false;
    } else {
      const earliest = ctx.receivedAt - ctx.rawRetentionDays * MS_PER_DAY;
      const latest = ctx.receivedAt + FUTURE_TOLERANCE_MS;
      if (parts.ts < earliest || parts.ts > latest) {
        v.add('TS_OUT_OF_RANGE', `${where}: ts ${parts.ts} is outside [${earliest}, ${latest}]`);
        ok = false;
      } else {
        ts = parts.ts;
      }
    }
  }
  if (!ok) return undefined;
  return { sensorId: ctx.sensorId, ts, values, units, receivedAt: ctx.receivedAt };
}

/** Form 1 (`values` present) or form 3 (flat). `inBatch` requires form 1 with a ts. */
function checkObject(obj: Record<string, unknown>, where: string, inBatch: boolean, ctx: TelemetryContext, v: Violations) {
  const hasTs = Object.hasOwn(obj, 'ts');
  if (Object.hasOwn(obj, 'values')) {
    let ok = true;
    for (const key of Object.keys(obj)) {
      if (!RESERVED_KEYS.has(key)) {
        v.add('INVALID_SHAPE', `${where}: unknown key "${shown(key)}" (a reading has only ts, values, units)`);
        ok = false;
      }
    }
    if (inBatch && !hasTs) {
      v.add('INVALID_SHAPE', `${where}: a batch reading needs its own ts`);
      ok = false;
    }
    if (!isPlainObject(obj.values)) {
      v.add('INVALID_SHAPE', `${where}: values must be an object of metrics`);
      return undefined;
    }
    const reading = checkReading({ ts: obj.ts, hasTs, values: obj.values, units: obj.units }, where, ctx, v);
    return ok ? reading : undefined;
  }
  if (inBatch) {
    v.add('INVALID_SHAPE', `${where}: a batch reading needs values`);
    return undefined;
  }
  // fromEntries defines own properties, so a "__proto__" key stays a (bad) metric name instead of a prototype.
  const values: Record<string, unknown> = Object.fromEntries(Object.entries(obj).filter(([key]) => key !== 'ts' && key !== 'units'));
  return checkReading({ ts: obj.ts, hasTs, values, units: obj.units }, where, ctx, v);
}

/**
 * Parses a telemetry payload of any accepted form into readings of one sensor. A payload that breaks a
 * rule is rejected whole with the first reason code in contract order. Readings repeating a ts already
 * in the same payload are dropped: the first one wins.
 */
export function parseTelemetry(payload: Uint8Array, ctx: TelemetryContext): TelemetryResult {
  const v = new Violations();
  let text: string;
  let doc: unknown;
  try {
    text = utf8.decode(payload);
  } catch {
    return { ok: false, code: 'INVALID_JSON', message: 'payload is not valid UTF-8' };
  }
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { ok: false, code: 'INVALID_JSON', message: `payload is not JSON: ${(err as Error).message}` };
  }

  const readings: Reading[] = [];
  if (Array.isArray(doc)) {
    if (doc.length === 0) v.add('INVALID_SHAPE', 'a batch must hold at least one reading');
    if (doc.length > MAX_BATCH_READINGS) {
      v.add('TOO_LARGE', `a batch holds at most ${MAX_BATCH_READINGS} readings, got ${doc.length}`);
    }
    doc.forEach((element, i) => {
      const where = `reading ${i}`;
      if (!isPlainObject(element)) {
        v.add('INVALID_SHAPE', `${where}: a batch element must be a reading object`);
        return;
      }
      const reading = checkObject(element, where, true, ctx, v);
      if (reading) readings.push(reading);
    });
  } else if (isPlainObject(doc)) {
    const reading = checkObject(doc, 'reading', false, ctx, v);
    if (reading) readings.push(reading);
  } else {
    v.add('INVALID_SHAPE', 'payload must be a reading object or an array of readings');
  }

  if (payload.byteLength > MAX_PAYLOAD_BYTES) {
    v.add('TOO_LARGE', `payload of ${payload.byteLength} bytes is over ${MAX_PAYLOAD_BYTES}`);
  }
  if (!SENSOR_ID_PATTERN.test(ctx.sensorId)) {
    v.add('INVALID_SENSOR_ID', `sensorId "${shown(ctx.sensorId)}" must match ${SENSOR_ID_PATTERN.source}`);
  }

  const violation = v.first();
  if (violation) return { ok: false, ...violation };

  const seen = new Set<number>();
  return {
    ok: true,
    readings: readings.filter((r) => {
      if (seen.has(r.ts)) return false;
      seen.add(r.ts);
      return true;
    }),
  };
}
