/**
 * The readings query of contract §5: validation in the contract's order, cursors, and the plan.
 * Pure: the clock comes in as `now`.
 */
import {
  ApiError,
  DEFAULT_LIMIT,
  DEFAULT_RANGE_MS,
  MAX_LIMIT,
  MAX_QUERY_METRICS,
  MAX_RANGE_DAYS,
  MAX_RANGE_MS,
} from '../shared/contract.js';
import { SENSOR_ID_PATTERN } from '../shared/names.js';
import type { Resolution } from './model.js';
import { isMetricName } from './telemetry.js';

export type RequestedResolution = Resolution | 'auto';
const RESOLUTIONS: readonly RequestedResolution[] = ['raw', '1m', '1h', 'auto'];

export { ApiError };

const invalidParameter = (message: string) => new ApiError(400, 'INVALID_PARAMETER', message);
const invalidRange = (message: string) => new ApiError(400, 'INVALID_RANGE', message);

export interface ReadingsQuery {
  sensorId: string;
  from: number;
  to: number;
  /** Metrics asked for, in the order asked; null for all. */
  metrics: string[] | null;
  requested: RequestedResolution;
  /** Fixed by the cursor of a later page; absent on a first page of `auto`. */
  resolution: Resolution | null;
  limit: number;
  /** Points with ts greater than this only (from the cursor). */
  after: number | null;
  format: 'json' | 'csv';
}

interface CursorState {
  s: string;
  f: number;
  t: number;
  m: string[] | null;
  q: RequestedResolution;
  r: Resolution;
  a: number;
}

export function assertSensorId(sensorId: string): void {
  if (!SENSOR_ID_PATTERN.test(sensorId)) {
    throw invalidParameter(`sensorId must match ${SENSOR_ID_PATTERN.source}`);
  }
}

const ISO_PATTERN = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** Epoch ms (an integer) or ISO-8601, UTC when no offset is given. Undefined when unparseable. */
export function parseInstant(text: string): number | undefined {
  if (/^-?\d{1,16}$/.test(text)) return Number(text);
  const m = ISO_PATTERN.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone] = m;
  const ms = Number(frac.padEnd(3, '0').slice(0, 3));
  const base = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  const check = new Date(base);
  // Reject dates that Date.UTC would roll over (2026-02-30, 25:00).
  if (
    check.getUTCFullYear() !== Number(y) ||
    check.getUTCMonth() !== Number(mo) - 1 ||
    check.getUTCDate() !== Number(d) ||
    check.getUTCHours() !== Number(h) ||
    check.getUTCMinutes() !== Number(mi) ||
    check.getUTCSeconds() !== Number(s)
  ) {
    return undefined;
  }
  let offsetMin = 0;
  if (zone && zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (oh > 23 || om > 59) return undefined;
    offsetMin = sign * (oh * 60 + om);
  }
  return base - offsetMin * 60_000;
}

export function encodeCursor(state: CursorState): string {
  return Buffer.from(JSON.stringify(state), 'utf8').toString('base64url');
}

function decodeCursor(text: string): CursorState {
  let state: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(text)) throw new Error('not base64url');
    state = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw invalidParameter('cursor is not one this API issued');
  }
  const c = state as Partial<CursorState>;
  const ok =
    typeof c === 'object' &&
    c !== null &&
    typeof c.s === 'string' &&
    Number.isSafeInteger(c.f) &&
    Number.isSafeInteger(c.t) &&
    Number.isSafeInteger(c.a) &&
    (c.m === null || (Array.isArray(c.m) && c.m.every((x) => typeof x === 'string' && isMetricName(x)))) &&
    RESOLUTIONS.includes(c.q as RequestedResolution) &&
    (c.r === 'raw' || c.r === '1m' || c.r === '1h');
  if (!ok) throw invalidParameter('cursor is not one this API issued');
  return c as CursorState;
}

function parseMetrics(text: string): string[] {
  const names = text.split(',');
  if (names.length > MAX_QUERY_METRICS) {
    throw invalidParameter(`metrics lists at most ${MAX_QUERY_METRICS} names`);
  }
  for (const name of names) {
    if (!isMetricName(name)) throw invalidParameter(`metrics: "${name}" is not a valid metric name`);
  }
  return [...new Set(names)];
}

function sameList(a: string[] | null, b: string[] | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * `from` and `to` of a paged query (epoch ms or ISO-8601): a bound left out of a later page is the cursor's,
 * never a fresh default, since `now` has moved on. A bad cursor is handed back, for the caller to throw after
 * the checks the contract puts before it.
 */
export function parsePagedRange<C extends { f: number; t: number }>(
  params: Record<string, string | undefined>,
  now: number,
  decode: (text: string) => C,
): { from: number; to: number; cursor: C | undefined; cursorError: ApiError | undefined } {
  const parseBound = (name: 'from' | 'to'): number | undefined => {
    const text = params[name];
    if (text === undefined) return undefined;
    const value = parseInstant(text.trim());
    if (value === undefined) throw invalidRange(`${name} must be epoch milliseconds or an ISO-8601 date-time`);
    return value;
  };
  let from = parseBound('from');
  let to = parseBound('to');
  let cursor: C | undefined;
  let cursorError: ApiError | undefined;
  if (params.cursor !== undefined) {
    try {
      cursor = decode(params.cursor);
    } catch (err) {
      cursorError = err as ApiError;
    }
  }
  to ??= cursor ? cursor.t : now;
  from ??= cursor ? cursor.f : to - DEFAULT_RANGE_MS;
  if (from >= to) throw invalidRange('from must be before to');
  if (to - from > MAX_RANGE_MS) throw invalidRange(`the range may span at most ${MAX_RANGE_DAYS} days`);
  return { from, to, cursor, cursorError };
}

/** `limit`: 1 to MAX_LIMIT, DEFAULT_LIMIT when absent; never clamped. */
export function parseLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_LIMIT;
  const limit = /^\d{1,6}$/.test(text) ? Number(text) : 0;
  if (limit < 1 || limit > MAX_LIMIT) throw invalidParameter(`limit must be an integer from 1 to ${MAX_LIMIT}`);
  return limit;
}

/**
 * Validates a readings query. Checked in the contract's order: range, then the other parameters; the
 * sensor's existence is the caller's next check.
 */
export function parseReadingsQuery(
  sensorId: string,
  params: Record<string, string | undefined>,
  accept: string | undefined,
  now: number,
): ReadingsQuery {
  assertSensorId(sensorId);

  // A later page may leave out the range: it is the cursor's.
  const { from, to, cursor, cursorError } = parsePagedRange(params, now, decodeCursor);
  const limit = parseLimit(params.limit);

  let requested: RequestedResolution | undefined;
  if (params.resolution !== undefined) {
    if (!RESOLUTIONS.includes(params.resolution as RequestedResolution)) {
      throw invalidParameter('resolution must be raw, 1m, 1h or auto');
    }
    requested = params.resolution as RequestedResolution;
  }

  const metrics = params.metrics !== undefined ? parseMetrics(params.metrics) : undefined;

  let format: 'json' | 'csv' = accept?.toLowerCase().includes('text/csv') ? 'csv' : 'json';
  if (params.format !== undefined) {
    if (params.format !== 'json' && params.format !== 'csv') throw invalidParameter('format must be json or csv');
    format = params.format;
  }

  if (cursorError) throw cursorError;
  if (cursor) {
    const bound =
      cursor.s === sensorId &&
      cursor.f === from &&
      cursor.t === to &&
      (metrics === undefined || sameList(metrics, cursor.m)) &&
      (requested === undefined || requested === cursor.q || requested === cursor.r);
    if (!bound) throw invalidParameter('cursor belongs to another query (sensor, from, to, metrics or resolution)');
    return {
      sensorId,
      from,
      to,
      metrics: cursor.m,
      requested: cursor.q,
      resolution: cursor.r,
      limit,
      after: cursor.a,
      format,
    };
  }
  return {
    sensorId,
    from,
    to,
    metrics: metrics ?? null,
    requested: requested ?? 'auto',
    resolution: requested === undefined || requested === 'auto' ? null : requested,
    limit,
    after: null,
    format,
  };
}

/** The cursor of the page after one that ended at `lastTs`. */
export function nextCursor(q: ReadingsQuery, resolution: Resolution, lastTs: number): string {
  return encodeCursor({ s: q.sensorId, f: q.from, t: q.to, m: q.metrics, q: q.requested, r: resolution, a: lastTs });
}
