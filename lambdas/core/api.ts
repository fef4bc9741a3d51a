/**
 * The HTTP API of contract §5, independent of how requests arrive (HTTP API v2 events in the cloud, the
 * local server's adapter of the same events).
 */
import {
  BATCH_DEFAULT_POINTS,
  BATCH_MAX_POINTS,
  BATCH_MAX_SENSORS,
  type ReadingsSeries,
  SENSORS_PAGE_MAX,
  type SensorView,
  readingsCsv,
} from '../shared/contract.js';
import type { Bucket, RawPoint, Resolution, SensorRecord } from './model.js';
import type { ReadingStore, RollupStore, SensorRegistry } from './ports.js';
import type { ReadingsQuery } from './query.js';
import { inParallel } from './concurrency.js';
import { ApiError, assertSensorId, nextCursor, parseReadingsQuery } from './query.js';
import { InvalidRule } from './alerts.js';
import { type AlertApiDeps, type AlertCaller, handleAlertRequest } from './alerts-api.js';

export const OFFLINE_AFTER_MS = 10 * 60_000;

export interface ApiRequest {
  method: string;
  /** Path below the API's base, e.g. `/sensors/a/readings`; still URL-encoded. */
  path: string;
  query: Record<string, string | undefined>;
  headers: Record<string, string | undefined>;
  /** The request body (alert rules); absent for GET. */
  body?: string;
  /** Who asks: absent when sign-in is off (everyone may change). */
  caller?: AlertCaller;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface ApiDeps {
  readings: ReadingStore;
  rollups: RollupStore;
  sensors: SensorRegistry;
  now: () => number;
  /** The alert routes of contract §8; absent, they answer 404. */
  alerts?: AlertApiDeps;
}

export type { SensorView };

/** How a sensor is shown: presence decides `online`, and silence for 10 minutes means offline. */
export function sensorView(record: SensorRecord, now: number): SensorView {
  const seen = [record.lastReadingAt, record.presence?.ts].filter((t): t is number => typeof t === 'number');
  const lastSeen = seen.length > 0 ? Math.max(...seen) : null;
  const silent = lastSeen === null || now - lastSeen >= OFFLINE_AFTER_MS;
  // Without any presence event (an external broker that emits none), recent readings mean online.
  const connected = record.presence ? record.presence.online : record.lastReadingAt !== null;
  return {
    sensorId: record.sensorId,
    online: connected && !silent,
    lastSeen,
    metrics: [...record.metrics].sort(),
    units: record.units,
    latest: record.latest,
  };
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

function json(status: number, body: unknown, headers: Record<string, string> = {}): ApiResponse {
  return { status, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

export function errorResponse(status: number, code: string, message: string): ApiResponse {
  return json(status, { error: { code, message } });
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ApiError(400, 'INVALID_PARAMETER', 'the path is not valid URL encoding');
  }
}

export async function handleApiRequest(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  try {
    const segments = req.path.split('/').filter((s) => s !== '');
    if (deps.alerts && (segments[0] === 'alert-rules' || segments[0] === 'alerts')) {
      const caller = req.caller ?? { mayChange: true, name: null };
      const answer = await handleAlertRequest({ method: req.method, segments, query: req.query, body: req.body, caller }, deps.alerts);
      if (answer?.status === 204) return { status: 204, headers: { 'cache-control': 'no-store' }, body: '' };
      if (answer) return json(answer.status, answer.body);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return errorResponse(405, 'METHOD_NOT_ALLOWED', 'only GET is supported');
    }
    if (segments.length === 1 && segments[0] === 'health') return json(200, { status: 'ok' });
    if (segments.length === 1 && segments[0] === 'readings') return await readingsOfMany(req, deps);
    if (segments[0] !== 'sensors' || segments.length > 3) {
      return errorResponse(404, 'NOT_FOUND', `no route for ${req.path}`);
    }
    if (segments.length === 1) return await listSensors(req.query, deps);
    // An unknown path is 404 whatever its sensorId segment holds (checked before decoding it).
    if (segments.length === 3 && segments[2] !== 'readings') return errorResponse(404, 'NOT_FOUND', `no route for ${req.path}`);
    const sensorId = decodeSegment(segments[1]);
    if (segments.length === 2) {
      assertSensorId(sensorId);
      const record = await deps.sensors.get(sensorId);
      if (!record) return notFound(sensorId);
      return json(200, sensorView(record, deps.now()));
    }
    const query = parseReadingsQuery(sensorId, req.query, headerValue(req.headers, 'accept'), deps.now());
    const record = await deps.sensors.get(sensorId);
    if (!record) return notFound(sensorId);
    const page = await readPage(query, deps);
    const { itemsRead: _read, ...body } = page;
    return query.format === 'csv' ? csvPage(query, record, body) : json(200, body);
  } catch (err) {
    if (err instanceof ApiError) return errorResponse(err.status, err.code, err.message);
    if (err instanceof InvalidRule) return errorResponse(400, err.code, err.message);
    throw err;
  }
}

/** `GET /sensors?limit=&cursor=`: one page of the registry, each page sorted by sensorId; `nextCursor` goes on. */
async function listSensors(query: Record<string, string | undefined>, deps: ApiDeps): Promise<ApiResponse> {
  const limitText = query.limit ?? String(SENSORS_PAGE_MAX);
  if (!/^\d{1,4}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > SENSORS_PAGE_MAX) {
    throw new ApiError(400, 'INVALID_PARAMETER', `limit must be an integer from 1 to ${SENSORS_PAGE_MAX}`);
  }
  const after = query.cursor === undefined ? undefined : decodeSensorsCursor(query.cursor);
  const now = deps.now();
  const page = await deps.sensors.listPage(Number(limitText), after);
  const sensors = page.records.map((r) => sensorView(r, now)).sort((a, b) => (a.sensorId < b.sensorId ? -1 : 1));
  const nextCursor = page.lastKey === null ? null : Buffer.from(JSON.stringify({ after: page.lastKey }), 'utf8').toString('base64url');
  return json(200, { sensors, nextCursor });
}

function decodeSensorsCursor(text: string): string {
  try {
    if (!/^[A-Za-z0-9_-]{1,200}$/.test(text)) throw new Error('not base64url');
    const state = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof state?.after !== 'string') throw new Error('no sensor');
    assertSensorId(state.after);
    return state.after;
  } catch {
    throw new ApiError(400, 'INVALID_PARAMETER', 'cursor is not a cursor of GET /sensors');
  }
}

/** Sensors read at once for one batched request. */
const BATCH_CONCURRENCY = 8;

/**
 * Recent readings of many sensors in one request (the fleet's sparklines): each sensor answered as its own
 * readings query would be, first page only; `nextCursor` continues on `/sensors/{id}/readings`. Checked in
 * the contract's order: the ids, the range, the other parameters. A sensor never seen is listed in `notFound`.
 */
async function readingsOfMany(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const text = req.query.sensorIds;
  if (text === undefined || text === '') throw new ApiError(400, 'INVALID_PARAMETER', 'sensorIds is required: a comma list of sensor ids');
  const ids = [...new Set(text.split(','))];
  if (ids.length > BATCH_MAX_SENSORS) {
    throw new ApiError(400, 'INVALID_PARAMETER', `sensorIds lists at most ${BATCH_MAX_SENSORS} sensors`);
  }
  for (const id of ids) assertSensorId(id);
  // The per-sensor rules for range, metrics and resolution; the limit is this route's own, and there is no cursor.
  const { limit: limitText, cursor: _cursor, format: _format, ...rest } = req.query;
  const base = parseReadingsQuery(ids[0], rest, undefined, deps.now());
  let limit = BATCH_DEFAULT_POINTS;
  if (limitText !== undefined) {
    limit = /^\d{1,5}$/.test(limitText) ? Number(limitText) : 0;
    if (limit < 1 || limit > BATCH_MAX_POINTS) {
      throw new ApiError(400, 'INVALID_PARAMETER', `limit must be an integer from 1 to ${BATCH_MAX_POINTS} (points per sensor)`);
    }
  }
  const answers = new Map<string, Omit<ReadingsPage, 'itemsRead'> | null>();
  await inParallel(ids, BATCH_CONCURRENCY, async (sensorId) => {
    const record = await deps.sensors.get(sensorId);
    if (!record) return void answers.set(sensorId, null);
    const { itemsRead: _read, ...page } = await readPage({ ...base, sensorId, limit, format: 'json' }, deps);
    answers.set(sensorId, page);
  });
  const series = ids.map((id) => answers.get(id)).filter((p): p is Omit<ReadingsPage, 'itemsRead'> => Boolean(p));
  const notFound = ids.filter((id) => answers.get(id) === null);
  return json(200, { series, notFound });
}

function notFound(sensorId: string): ApiResponse {
  return errorResponse(404, 'SENSOR_NOT_FOUND', `sensor ${sensorId} has never been seen`);
}

function headerValue(headers: Record<string, string | undefined>, name: string): string | undefined {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

export interface AggregatedPoint {
  ts: number;
  values: Record<string, { min: number; max: number; avg: number; count: number }>;
}

export interface ReadingsPage {
  sensorId: string;
  resolution: Resolution;
  points: RawPoint[] | AggregatedPoint[];
  nextCursor: string | null;
  /** DynamoDB items read to answer (not part of the JSON answer). */
  itemsRead?: number;
}

function pickValues<T>(values: Record<string, T>, metrics: string[] | null): Record<string, T> {
  if (metrics === null) return values;
  const picked: Record<string, T> = {};
  for (const m of metrics) if (Object.hasOwn(values, m)) picked[m] = values[m];
  return picked;
}

function toAggregated(bucket: Bucket, metrics: string[] | null): AggregatedPoint {
  const values: AggregatedPoint['values'] = {};
  for (const [metric, s] of Object.entries(pickValues(bucket.stats, metrics))) {
    values[metric] = { min: s.min, max: s.max, avg: s.sum / s.count, count: s.count };
  }
  return { ts: bucket.ts, values };
}

/** Reads one page. `auto` answers raw when the range holds at most `limit` readings. */
export async function readPage(q: ReadingsQuery, deps: Pick<ApiDeps, 'readings' | 'rollups'>): Promise<ReadingsPage> {
  let resolution = q.resolution;
  let itemsRead = 0;
  const range = { sensorId: q.sensorId, from: q.from, to: q.to, after: q.after ?? undefined, maxItems: q.limit + 1 };

  if (resolution === null || resolution === 'raw') {
    const { points, itemsRead: read } = await deps.readings.queryRaw(range);
    itemsRead += read;
    if (resolution === 'raw' || points.length <= q.limit) {
      const page = points.slice(0, q.limit);
      const more = points.length > q.limit;
      return {
        sensorId: q.sensorId,
        resolution: 'raw',
        points: page.map((p) => ({ ts: p.ts, values: pickValues(p.values, q.metrics) })).filter((p) => Object.keys(p.values).length > 0),
        nextCursor: more ? nextCursor(q, 'raw', page[page.length - 1].ts) : null,
        itemsRead,
      };
    }
    resolution = q.to - q.from <= q.limit * 60_000 ? '1m' : '1h';
  }

  const { buckets, itemsRead: read } = await deps.rollups.queryBuckets({ ...range, resolution });
  itemsRead += read;
  const page = buckets.slice(0, q.limit);
  const more = buckets.length > q.limit;
  return {
    sensorId: q.sensorId,
    resolution,
    points: page.map((b) => toAggregated(b, q.metrics)).filter((p) => Object.keys(p.values).length > 0),
    nextCursor: more ? nextCursor(q, resolution, page[page.length - 1].ts) : null,
    itemsRead,
  };
}

function csvPage(q: ReadingsQuery, record: SensorRecord, page: ReadingsPage): ApiResponse {
  const metrics = q.metrics ?? [...record.metrics].sort();
  const series: ReadingsSeries =
    page.resolution === 'raw'
      ? { resolution: 'raw', points: page.points as RawPoint[] }
      : { resolution: page.resolution, points: page.points as AggregatedPoint[] };
  const headers: Record<string, string> = {
    'content-type': 'text/csv; charset=utf-8',
    'cache-control': 'no-store',
    'content-disposition': `attachment; filename="${q.sensorId}-${page.resolution}.csv"`,
  };
  if (page.nextCursor) headers['x-next-cursor'] = page.nextCursor;
  return { status: 200, headers, body: readingsCsv(series, metrics) };
}
