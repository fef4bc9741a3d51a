/**
 * The contract (docs/contract.md) as code, for every side that speaks it: the Lambdas, the local runtime, the
 * simulator, the cost model and the dashboard. Constants, pure functions, types and the API's error: no Node APIs
 * and no runtime dependency, so the dashboard's bundle takes just the constants it uses. The shapes (types and JSON
 * Schema from one TypeBox definition) are in contract-schemas.ts; import their types from here.
 */
export type {
  AlertEvent,
  AlertView,
  Condition,
  FrameErrorCode,
  RawPoint,
  SensorView,
  ServerFrame,
  Severity,
} from './contract-schemas.js';

/** §2: sensor ids and metric names. */
export const SENSOR_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const METRIC_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/** §3: the broker refuses larger payloads, as AWS IoT Core does. */
export const MAX_PAYLOAD_BYTES = 128 * 1024;
/** §3: readings in one batch payload, metrics in one reading, and a unit's length in code points. */
export const MAX_BATCH_READINGS = 500;
export const MAX_METRICS_PER_READING = 32;
export const MAX_UNIT_CODE_POINTS = 16;

/** How telemetry reaches the functions: one Kinesis stream (the default), or a rule invoking each per message. */
export const INGEST_MODES = ['stream', 'direct'] as const;
export type IngestMode = (typeof INGEST_MODES)[number];

/** §4: the `setInterval` command's bounds. */
export const MIN_INTERVAL_MS = 100;
export const MAX_INTERVAL_MS = 3_600_000;

/** §6: the WebSocket API's action routes, and the limits of a connection. */
export const WS_ACTIONS = ['subscribe', 'unsubscribe', 'command', 'ping'] as const;
export type WsAction = (typeof WS_ACTIONS)[number];
export const MAX_SUBSCRIPTIONS = 100;
export const MAX_IDS_PER_FRAME = 100;
export const COMMANDS_PER_SECOND = 10;
/** Subscribes to every sensor; counts as one subscription. */
export const WILDCARD = '*';

/** §5: `GET /sensors` answers 1 to this many sensors a page (the default). */
export const SENSORS_PAGE_MAX = 1_000;

/** §5: the readings query: its default range, longest range, `limit` (default and most) and metrics per query. */
export const DEFAULT_RANGE_MS = 3_600_000;
export const MAX_RANGE_DAYS = 366;
export const MAX_RANGE_MS = MAX_RANGE_DAYS * 86_400_000;
export const DEFAULT_LIMIT = 1_000;
export const MAX_LIMIT = 10_000;
export const MAX_QUERY_METRICS = 32;

/** §5: `GET /readings?sensorIds=`: sensors per request, and points per sensor (the most and the default). */
export const BATCH_MAX_SENSORS = 100;
export const BATCH_MAX_POINTS = 1_000;
export const BATCH_DEFAULT_POINTS = 100;

/** §5: roll-up resolutions and their UTC-aligned bucket sizes. */
export type Resolution = 'raw' | '1m' | '1h';
export type AggregateResolution = Exclude<Resolution, 'raw'>;
export const BUCKET_MS: Record<AggregateResolution, number> = { '1m': 60_000, '1h': 3_600_000 };

/** §8: alert rules' limits, severities (weakest first) and comparisons. */
export const MAX_RULES = 200;
export const MAX_RULE_SENSORS = 100;
export const MAX_FOR_SECONDS = 86_400;
export const MAX_SILENT_MINUTES = 1_440;
export const MAX_RULE_NAME = 100;
export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export const COMPARISONS = ['>', '>=', '<', '<='] as const;
/** Rule ids are ours (UUIDs); a path id outside this shape can name no rule. */
export const RULE_ID_PATTERN = /^[A-Za-z0-9-]{1,64}$/;

/** §8: whether a threshold rule may watch this metric: a metric name, but none of a reading's own keys. */
export const isRuleMetric = (name: unknown): name is string =>
  typeof name === 'string' && METRIC_NAME_PATTERN.test(name) && !['ts', 'values', 'units'].includes(name);

/** §8: what is wrong with a rule's `sensorIds` (`["*"]`, or 1 to MAX_RULE_SENSORS sensor ids), if anything. */
export function ruleSensorIdsFault(ids: readonly unknown[]): 'count' | { notAnId: unknown } | null {
  if (ids.length === 0 || ids.length > MAX_RULE_SENSORS) return 'count';
  if (ids.length === 1 && ids[0] === WILDCARD) return null;
  const bad = ids.findIndex((id) => typeof id !== 'string' || !SENSOR_ID_PATTERN.test(id));
  return bad === -1 ? null : { notAnId: ids[bad] };
}

/** A metric's roll-up in one bucket, as the API answers it. */
export interface AggregateValue {
  min: number;
  max: number;
  avg: number;
  count: number;
}

/** A page or a series of readings, as `GET /sensors/{id}/readings` answers it and the dashboard keeps it. */
export type ReadingsSeries =
  | { resolution: 'raw'; points: ReadonlyArray<{ ts: number; values: Record<string, number> }> }
  | { resolution: AggregateResolution; points: ReadonlyArray<{ ts: number; values: Record<string, AggregateValue> }> };

/**
 * §5's CSV layout: a `ts` column (ISO-8601 UTC) then one column per metric (raw), or `{metric}_min`, `_max`, `_avg`,
 * `_count` per metric (roll-ups); a missing value is an empty cell. The API's download and the dashboard's export.
 */
export function readingsCsv(series: ReadingsSeries, metrics: string[]): string {
  const cell = (v: number | undefined) => (v === undefined ? '' : String(v));
  // Own properties only: a metric may be named like an Object.prototype member (`toString`).
  const own = <T>(values: Record<string, T>, m: string): T | undefined => (Object.hasOwn(values, m) ? values[m] : undefined);
  const iso = (ts: number) => new Date(ts).toISOString();
  const rows: string[] = [];
  if (series.resolution === 'raw') {
    rows.push(['ts', ...metrics].join(','));
    for (const p of series.points) rows.push([iso(p.ts), ...metrics.map((m) => cell(own(p.values, m)))].join(','));
  } else {
    rows.push(['ts', ...metrics.flatMap((m) => [`${m}_min`, `${m}_max`, `${m}_avg`, `${m}_count`])].join(','));
    for (const p of series.points) {
      const cells = metrics.flatMap((m) => {
        const a = own(p.values, m);
        return a ? [cell(a.min), cell(a.max), cell(a.avg), cell(a.count)] : ['', '', '', ''];
      });
      rows.push([iso(p.ts), ...cells].join(','));
    }
  }
  return `${rows.join('\n')}\n`;
}

/**
 * §5: the `auth` member of `/config.json`: where the dashboard signs users in. The cloud writes it
 * for Cognito's managed login; the local issuer answers the same shape.
 */
export interface DashboardAuthConfig {
  issuer: string;
  clientId: string;
  authorizeUrl: string;
  tokenUrl: string;
  logoutUrl: string;
  scope: string;
}

/** §5: an error answer of the HTTP API (`{"error":{"code","message"}}`), as the API throws it and the dashboard gets it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
