/**
 * The monthly cost of running vigia in one AWS region, from the list prices in `prices.ts`, for a fleet and a
 * dashboard audience. Pure: the same fleet always gives the same figures.
 *
 * Request counts follow the code (lambdas/core/store-telemetry.ts, broadcast-telemetry.ts, rollups.ts and the DynamoDB adapters) and the
 * figures of bench/results.md; durations and item sizes are estimates, named below with their reasons.
 */
import { type IngestMode, SENSORS_PAGE_MAX } from '../lambdas/shared/contract.js';
import { ALERT_RULES_TTL_DEFAULT_SECONDS, FUNCTION_MEMORY_MB, RETENTION_DEFAULTS, STREAM_BATCHES } from '../lambdas/shared/names.js';
import { PING_EVERY_MS } from '../frontend/src/live.js';
import { HISTORY_LIMIT } from '../frontend/src/sensor-series.js';
import type { PriceName } from './prices.js';
import { PRICES, priced } from './prices.js';

export type Design = 'vigia' | 'naive';
export type Ingest = IngestMode;

/**
 * The ingest mode vigia deploys unless told otherwise (lib/telemetry.ts INGEST_DEFAULTS): stream, because at
 * both reference fleets (100 and 1,000 sensors every 5 s, 5 dashboards) it costs a fraction of direct, whose
 * per-reading invocations, roll-up writes and frames grow with the fleet (README, "Which ingest mode").
 */
export const DEFAULT_INGEST: Ingest = 'stream';

export interface Fleet {
  sensors: number;
  /** Seconds between two readings of one sensor; each reading is one MQTT message. */
  intervalS: number;
  /** Dashboards open at the same time, each on the fleet view (subscribed to the cards on its screen). */
  dashboards: number;
  /** Hours a day the dashboards are open. @default 24 (a monitoring screen left on) */
  dashboardHoursPerDay?: number;
  /** Metrics in one reading. @default 2 (the simulator sends temperature and humidity) */
  metricsPerReading?: number;
  design: Design;
  /**
   * How telemetry reaches the functions: `stream`, one rule onto a Kinesis stream read in batches; `direct`,
   * a rule per function invoking it once per message.
   * @default DEFAULT_INGEST
   */
  ingest?: Ingest;
  /**
   * Stream ingest: devices publish by Basic Ingest (`$aws/rules/<rule>/…`), which IoT Core does not bill as
   * messaging. Direct ingest has two telemetry rules, and a Basic Ingest message reaches one rule only.
   * @default true in stream mode (contract §2 tells devices to), false in direct mode
   */
  basicIngest?: boolean;
  /** Stream ingest: provisioned shards, or on-demand. @default streamShardsFor(fleet) */
  shards?: number | 'on-demand';
  /** Stream ingest: the history writer's batching window (context historyBatchWindowSeconds). @default 30 */
  historyWindowS?: number;
  /** Stream ingest: the broadcaster's batching window. @default 1 */
  liveWindowS?: number;
  /** Sensors each dashboard subscribes to: the fleet view's cards on screen. @default 30 */
  cardsOnScreen?: number;
  /**
   * Stream ingest: alert rules apply to the fleet, so the history writer reads each sensor's alert states per
   * batch (with no rule it reads nothing: lambdas/core/evaluate-alerts.ts). @default true
   */
  alertRules?: boolean;
}

export type Service =
  | 'IoT Core'
  | 'Kinesis'
  | 'Lambda'
  | 'DynamoDB'
  | 'API Gateway WebSocket'
  | 'HTTP API'
  | 'Cognito'
  | 'CloudFront'
  | 'SQS'
  | 'CloudWatch';

export const SERVICES: readonly Service[] = [
  'IoT Core',
  'Kinesis',
  'Lambda',
  'DynamoDB',
  'API Gateway WebSocket',
  'HTTP API',
  'Cognito',
  'CloudFront',
  'SQS',
  'CloudWatch',
];

export interface CostLine {
  service: Service;
  item: string;
  /** Billed units a month. */
  quantity: number;
  unit: string;
  usd: number;
}

/** Billable units that telemetry causes (the ingest path), as the local runtime also measures them. */
export interface TelemetryUnits {
  iotMessages: number;
  iotRulesTriggered: number;
  iotActions: number;
  kinesisPutUnits: number;
  lambdaInvocations: number;
  lambdaGbSeconds: number;
  dynamoWriteUnits: number;
  dynamoReadUnits: number;
  wsMessages: number;
}

export interface Estimate {
  fleet: NormalizedFleet;
  lines: CostLine[];
  total: number;
  biggest: CostLine;
  /** Limits the fleet runs into, which no price shows. */
  warnings: string[];
  /** Stream ingest: the provisioned shards priced (sized or given); undefined in direct mode or on demand. */
  shards?: number;
  /** Units the readings cause in the ingest path, per reading (dashboard overhead, storage, fixed items excluded). */
  perReading: TelemetryUnits;
}

export type NormalizedFleet = Required<Omit<Fleet, 'shards'>> & { shards: number | 'on-demand' | undefined };

// ---- Time ----------------------------------------------------------------------------------------------
export const DAYS_PER_MONTH = 30;
export const SECONDS_PER_MONTH = 86_400 * DAYS_PER_MONTH;
export const MINUTES_PER_MONTH = 1_440 * DAYS_PER_MONTH;

// ---- Devices -------------------------------------------------------------------------------------------
/** Every sensor stays connected around the clock. */
export const SENSOR_CONNECTED_FRACTION = 1;
/** A reconnect a day per sensor: a connected and a disconnected lifecycle event. */
export const PRESENCE_EVENTS_PER_SENSOR_PER_DAY = 2;
/** A one-reading message is well under IoT Core's 5 KB metering increment. */
export const MESSAGE_BYTES = (metrics: number) => 60 + 30 * metrics;
export const IOT_MESSAGE_INCREMENT_BYTES = 5 * 1024;
/** Telemetry rules per message: direct, StoreTelemetry and BroadcastTelemetry; stream, IngestTelemetry. */
export const TELEMETRY_RULES: Record<Ingest, number> = { direct: 2, stream: 1 };
/** IoT Core's default inbound publish rate per account (us-east-1; adjustable). */
export const IOT_INBOUND_PUBLISH_RPS = 20_000;

// ---- Kinesis -------------------------------------------------------------------------------------------
/**
 * A stream record is the rule's SELECT output as JSON: the payload in base64, the sensorId and receivedAt
 * (lambdas/shared/rules.ts TELEMETRY_STREAM_RULE).
 */
export const STREAM_RECORD_BYTES = (metrics: number) => Math.ceil(MESSAGE_BYTES(metrics) / 3) * 4 + 70;
export const KINESIS_PUT_UNIT_BYTES = 25 * 1024;
/** A shard's write capacity; the two standard consumers share its 2 MB/s of reads, the same bound. */
export const SHARD_RECORDS_PER_S = 1_000;
export const SHARD_BYTES_PER_S = 1024 * 1024;
/** Shards are sized to run at most this full, for bursts and uneven partition keys. */
export const SHARD_TARGET_UTILIZATION = 0.8;
/** The event source mappings' batch sizes and windows (the history writer's is a deploy setting; this its default). */
export const HISTORY_BATCH_SIZE = STREAM_BATCHES.historyWriter.maxRecords;
export const LIVE_BATCH_SIZE = STREAM_BATCHES.broadcaster.maxRecords;
export const HISTORY_WINDOW_S = STREAM_BATCHES.historyWriter.windowSeconds;
export const LIVE_WINDOW_S = STREAM_BATCHES.broadcaster.windowSeconds;
/** The lowest default shard quota of a region (us-east-1, us-west-2 and eu-west-1 allow 500). */
export const KINESIS_SHARD_QUOTA = 200;
const HOURS_PER_MONTH = 24 * DAYS_PER_MONTH;

// ---- Lambda --------------------------------------------------------------------------------------------
/** lib/function-defaults.ts: the same memory (arm64) for every function. */
export const LAMBDA_MEMORY_GB = FUNCTION_MEMORY_MB / 1024;
/**
 * Billed milliseconds per warm invocation. Estimates from the calls each handler makes at ~6 ms per
 * DynamoDB or API Gateway call in-region (cold starts, well under 1% of invocations at these rates, left out).
 */
export const DURATION_MS = {
  /** Conditional put, bucket batch-get, one raw query, two bucket puts, registry update: ~6 calls in a row. */
  writerDirect: 40,
  /** A stream batch: decode, one batch get of buckets and registry entries, raw batch writes… */
  writerBatch: 40,
  /** …each sensor's buckets and registry entry written, 8 sensors at a time (~30 ms each)… */
  writerPerSensorInBatch: 4,
  /** …and decoding, validating and batching each record. */
  writerPerRecord: 0.05,
  /** The two subscriber queries, in parallel. */
  broadcasterLookup: 12,
  /** The live marks, then PostToConnection to up to 16 connections at once. */
  broadcasterPushBase: 8,
  broadcasterPerWaveOf16: 10,
  broadcasterPerRecord: 0.02,
  /** The naive writer: one put and one registry update. */
  naiveWriter: 15,
  /** The naive pusher: one query of the connections, then the posts. */
  naivePusherBase: 10,
  /** GET /sensors: a base plus ~20 ms per MB scanned (a page of 1,000 is well under 1 MB). */
  httpBase: 30,
  httpPerMbScanned: 20,
  /** A WebSocket ping, or a subscribe. */
  websocket: 10,
  /** The $connect authorizer: a JWT verified against cached keys. */
  authorizer: 15,
  /** A presence event: one conditional registry update and the subscribers told. */
  presence: 30,
  /** The alert silence check (i12): rules, alert states and a registry scan. */
  alertSilence: 100,
} as const;
/** Concurrent executions a region allows by default. */
export const DEFAULT_CONCURRENCY_LIMIT = 1_000;
/** The largest answer a synchronously invoked function may return. */
export const LAMBDA_RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024;
/** API Gateway's default steady-state throttle per account and region (PostToConnection calls count too). */
export const API_GATEWAY_ACCOUNT_RPS = 10_000;
/** START, END and REPORT lines: the handlers log nothing else on the happy path. */
export const LOG_BYTES_PER_INVOCATION = 350;
/**
 * The operations metrics' EMF log line per invocation (Powertools Metrics, measured): the history writer's
 * BatchSize and ReadingsAccepted; the broadcaster's LivePushes and ReceiveToPushLatency, whose line grows by
 * one value per reading pushed; the WebSocket function's when it sends a frame.
 */
export const EMF_BYTES = { writer: 250, broadcaster: 270, perPushedReading: 5.5, websocket: 250 } as const;
/** Metrics published in the Vigia namespace: ReadingsAccepted, BatchSize, LivePushes, GoneConnectionsRemoved,
 * ReceiveToPushLatency (ReadingsRejected only in a month with rejections, assumed none). */
export const CUSTOM_METRICS = 5;
/** The functions lib/operations.ts watches (history writer, broadcaster, presence, WebSocket, authorizer, HTTP API). */
export const WATCHED_FUNCTIONS = 6;
/** Dead-letter and no-telemetry alarms; per function an error-rate alarm on errors ÷ invocations (2 metrics) and a throttle alarm. */
export const ALARM_METRICS = 2 + WATCHED_FUNCTIONS * (2 + 1);
/** Stream ingest adds the stream's read-lag alarm (GetRecords.IteratorAgeMilliseconds, lib/operations.ts). */
export const STREAM_ALARM_METRICS = 1;
/** The operations dashboard. */
export const CLOUDWATCH_DASHBOARDS = 1;
/** The alert silence check (i12) runs once a minute; its registry scan runs when a silence rule exists (assumed). */
export const ALERT_SILENCE_RUNS_PER_MONTH = MINUTES_PER_MONTH;
/** The history writer re-reads the alert rules once per container this often (ALERT_RULES_TTL_SECONDS). */
export const ALERT_RULES_REFRESH_S = ALERT_RULES_TTL_DEFAULT_SECONDS;

// ---- DynamoDB ------------------------------------------------------------------------------------------
/** A sensorId as a fleet names them (`greenhouse-12`, the simulator's `sim-0042`). */
export const SENSOR_ID_BYTES = 12;
/** Item sizes (attribute names and values) as the adapters write them. */
export const ITEM_BYTES = {
  /** sensorId, ts, receivedAt, expiresAt, seq, and the values map. */
  raw: (metrics: number) => 70 + 20 * metrics,
  /**
   * A stream-ingest pack, a sensor's readings of one minute in one history batch (lambdas/core/reading-pack.ts
   * sizes it the same way): `<id>#m`, ts, expiresAt and the `r` map, then per reading its offset key (≤ 5
   * digits) and its values map (a metric name ~11 bytes, a value ~4).
   */
  packBase: 60,
  packEntry: (metrics: number) => 9 + 16 * metrics,
  /** series, ts, readings, lastTs, expiresAt, seq, and min/max/sum/count per metric. */
  bucket: (metrics: number) => 80 + 45 * metrics,
  /** The registry entry: metrics set, one unit attribute per metric, latest reading, presence, stream position. */
  sensor: (metrics: number) => 150 + 40 * metrics,
  /** A live mark: one per sensor and minute, the pushed timestamps in a number set (~10 bytes each, added below). */
  liveMark: 50,
  /**
   * A stream shard's live state (lambdas/adapters/dynamo-connections.ts): key, sequence number and TTL, then per
   * active sensor its id, a 4-byte minute and 2 bytes per ts pushed in that minute so far.
   */
  liveShardState: (sensors: number, ts: number) => 130 + sensors * (SENSOR_ID_BYTES + 7) + 2 * ts,
  /** A connection item of the connections table. */
  connection: 100,
  /** A sensor id in a connection item's subscription set. */
  subscriptionEntry: SENSOR_ID_BYTES + 3,
  /** The subscriptions' version item (pk `subs`, sk `version`). */
  subscriptionsVersion: 30,
} as const;
/**
 * Requests per reading and per sensor of a batch, as lambdas/core writes them (see /work/notes/i11b.md; keep
 * these in step with store-telemetry.ts, rollups.ts, broadcast-telemetry.ts and the DynamoDB adapters).
 */
export const DYNAMO_REQUESTS = {
  direct: {
    /** The raw item (conditional put), the 1-minute and 1-hour buckets, the registry entry. */
    writesPerReading: { raw: 1, buckets: 2, registry: 1 },
    /** Both buckets (one consistent batch get). */
    bucketReadsPerReading: 2,
    /** One raw query (a reading opening a minute re-reads it); each queries two partitions, single items and packs. */
    rawQueriesPerReading: 1,
    partitionsPerRawQuery: 2,
    /**
     * The subscriptions' version (a strongly consistent GetItem) per invocation; the sets themselves are read only
     * when it moved (lambdas/core/live-subscriptions.ts).
     */
    versionReadsPerReading: 1,
    /** A watched reading is claimed in its sensor's live mark (UpdateItem ADD). */
    markWritesPerWatchedReading: 1,
  },
  stream: {
    /**
     * Per sensor per batch, per minute its readings touch: one new pack of the readings the batch adds, never
     * read to be written (lambdas/core/store-telemetry-stream.ts; a late reading is looked up, none assumed).
     */
    packWritesPerSensorMinuteInBatch: 1,
    /**
     * Per sensor per batch: the touched 1-minute and 1-hour buckets (one more for each minute or hour boundary
     * the batch spans) and the registry entry are read in one consistent batch get, then each written once.
     */
    bucketsPerSensorInBatch: 2,
    registryWritesPerSensorInBatch: 1,
    registryReadsPerSensorInBatch: 1,
    /** Per live batch: the subscriptions' version, one strongly consistent read. */
    versionReadsPerBatch: 1,
    /**
     * Per live batch with watched readings: the shard's live state saved once, whatever the batch holds
     * (lambdas/core/live-shard.ts), and read (strongly consistent). The container that saved it last claims on its
     * own copy without the read, but Lambda does not keep a shard's batches on one container: priced as read.
     */
    liveStateReadsPerBatch: 1,
    liveStateWritesPerBatch: 1,
    /** Per watched sensor per minute: the closed minute's pushed ts added to its live mark (one UpdateItem ADD). */
    markWritesPerWatchedSensorMinute: 1,
    /**
     * Alerts (i12), per sensor per batch with a rule covering it (lambdas/core/evaluate-alerts.ts): its alert
     * states item and its registry entry's newest ts, each in a strongly consistent batch get (1 unit a key).
     */
    alertReadsPerSensorInBatch: 2,
  },
} as const;
/** DynamoDB bills 100 bytes of index overhead per stored item. */
export const STORAGE_OVERHEAD_BYTES = 100;
/** Retention (the deploy defaults) of raw readings and 1-minute and 1-hour buckets; live marks 24 h. */
export const RETENTION_DAYS = {
  raw: RETENTION_DEFAULTS.rawDays,
  minute: RETENTION_DEFAULTS.minuteDays,
  hour: RETENTION_DEFAULTS.hourDays,
  liveMark: 1,
} as const;
const WRITE_UNIT_BYTES = 1024;
const READ_UNIT_BYTES = 4096;
const writeUnits = (bytes: number) => Math.ceil(bytes / WRITE_UNIT_BYTES);
/** Read units of one request reading `bytes` in all: strongly consistent 1 per 4 KB, eventually 0.5. */
const readUnits = (bytes: number, consistent: boolean) => Math.max(1, Math.ceil(bytes / READ_UNIT_BYTES)) * (consistent ? 1 : 0.5);

// ---- Dashboards ----------------------------------------------------------------------------------------
/** The fleet view refreshes GET /sensors every 30 s (frontend/src/fleet-view.tsx). */
export const FLEET_REFRESH_S = 30;
/** GET /sensors answers this many sensors a page by default (contract §5). */
export const SENSORS_PAGE = SENSORS_PAGE_MAX;
/** The fleet view subscribes to the cards on screen, not `*`. */
export const CARDS_ON_SCREEN = 30;
/** One sensor of GET /sensors in JSON. */
export const SENSOR_JSON_BYTES = (metrics: number) => 140 + 40 * metrics;
/** Each open dashboard loads 24 h of one sensor once an hour (`resolution=auto`, the sensor view's limit). */
export const HISTORY_LOADS_PER_DASHBOARD_HOUR = 1;
export const HISTORY_RANGE_S = 86_400;
/** The dashboard's pings (frontend/src/live.ts); each ping is answered by a pong. */
export const PINGS_PER_MINUTE = 60_000 / PING_EVERY_MS;
/** API Gateway closes a WebSocket after 2 h; the dashboard reconnects and subscribes again. */
export const WS_MAX_CONNECTION_H = 2;
/** Each dashboard is opened once a day: index.html, the script, the style sheet, config.json. */
export const DASHBOARD_LOADS_PER_DAY = 1;
export const DASHBOARD_LOAD_REQUESTS = 4;
export const DASHBOARD_LOAD_BYTES = 120 * 1024;
/** One signed-in user (a Cognito monthly active user) per dashboard; the naive design has no sign-in. */
export const USERS_PER_DASHBOARD = 1;
/** A reading inside a `readings` frame, as JSON. */
export const READING_FRAME_BYTES = (metrics: number) => 60 + 25 * metrics;
export const WS_INCREMENT_BYTES = 32 * 1024;
const HTTP_INCREMENT_BYTES = 512 * 1024;
const GB = 1024 ** 3;
const MB = 1024 ** 2;

/**
 * Batches an event source mapping invokes a second on one shard: it waits for a first record (1 / rate on
 * average), gathers for the window, then invokes; a full batch goes at once. The function's own run time is
 * left out (well under the window in the cloud).
 */
export function batchesPerSecond(windowS: number, recordsPerSecond: number, maxBatch: number): number {
  return Math.max(1 / (windowS + 1 / recordsPerSecond), recordsPerSecond / maxBatch);
}

/**
 * Share of batches a sensor (or a set of cards) has a reading in, from its expected readings per batch: sensors
 * report on a fixed interval, so one is in every batch spanning its interval, else in that share of them.
 */
const presentIn = (expectedReadings: number) => Math.min(1, expectedReadings);

/**
 * Provisioned shards a fleet needs: its records and bytes at 80 % of a shard, and enough shards that a
 * history window's records fit one 10,000-record batch per shard (fuller batches cost more writes per reading).
 */
export function streamShardsFor(fleet: Pick<Fleet, 'sensors' | 'intervalS' | 'metricsPerReading' | 'historyWindowS'>): number {
  const rps = fleet.sensors / fleet.intervalS;
  const bytes = rps * STREAM_RECORD_BYTES(fleet.metricsPerReading ?? 2);
  return Math.max(
    1,
    Math.ceil(rps / (SHARD_RECORDS_PER_S * SHARD_TARGET_UTILIZATION)),
    Math.ceil(bytes / (SHARD_BYTES_PER_S * SHARD_TARGET_UTILIZATION)),
    Math.ceil((rps * (fleet.historyWindowS ?? HISTORY_WINDOW_S)) / HISTORY_BATCH_SIZE),
  );
}

/** The fleet with every default filled in; throws on values that make no fleet. */
export function normalizeFleet(fleet: Fleet): NormalizedFleet {
  const ingest = fleet.design === 'naive' ? 'direct' : (fleet.ingest ?? DEFAULT_INGEST);
  const full: NormalizedFleet = {
    dashboardHoursPerDay: 24,
    metricsPerReading: 2,
    historyWindowS: HISTORY_WINDOW_S,
    liveWindowS: LIVE_WINDOW_S,
    cardsOnScreen: CARDS_ON_SCREEN,
    alertRules: true,
    ...fleet,
    ingest,
    basicIngest: fleet.basicIngest ?? (fleet.design === 'vigia' && ingest === 'stream'),
    shards: undefined,
  };
  const check = (ok: boolean, message: string) => {
    if (!ok) throw new RangeError(message);
  };
  check(Number.isInteger(full.sensors) && full.sensors >= 1, 'sensors must be a whole number of at least 1');
  check(Number.isFinite(full.intervalS) && full.intervalS > 0, 'intervalS must be a positive number of seconds');
  check(Number.isInteger(full.dashboards) && full.dashboards >= 0, 'dashboards must be a whole number of at least 0');
  check(full.dashboardHoursPerDay >= 0 && full.dashboardHoursPerDay <= 24, 'dashboardHoursPerDay must be from 0 to 24');
  check(
    Number.isInteger(full.metricsPerReading) && full.metricsPerReading >= 1 && full.metricsPerReading <= 32,
    'metricsPerReading must be 1 to 32',
  );
  check(full.design === 'vigia' || full.design === 'naive', "design must be 'vigia' or 'naive'");
  check(full.ingest === 'direct' || full.ingest === 'stream', "ingest must be 'direct' or 'stream'");
  check(
    !(full.basicIngest && full.ingest === 'direct'),
    'basicIngest needs stream ingest: in direct mode a Basic Ingest message reaches one of the two telemetry rules',
  );
  check(full.historyWindowS >= 0 && full.historyWindowS <= 300, 'historyWindowS must be from 0 to 300');
  check(full.liveWindowS > 0 && full.liveWindowS <= 1, 'liveWindowS must be above 0 and at most 1');
  check(Number.isInteger(full.cardsOnScreen) && full.cardsOnScreen >= 1, 'cardsOnScreen must be a whole number of at least 1');
  if (full.ingest === 'stream') {
    const shards = fleet.shards ?? streamShardsFor(full);
    check(
      shards === 'on-demand' || (Number.isInteger(shards) && shards >= 1),
      "shards must be a whole number of at least 1 or 'on-demand'",
    );
    full.shards = shards;
  }
  return full;
}

/** Accumulates quantities per priced item, then turns them into cost lines. */
class Bill {
  private readonly items = new Map<string, { service: Service; item: string; price: PriceName; quantity: number }>();

  add(service: Service, item: string, price: PriceName, quantity: number): void {
    const key = `${service}\u0000${item}`;
    const entry = this.items.get(key);
    if (entry) entry.quantity += quantity;
    else this.items.set(key, { service, item, price, quantity });
  }

  lines(): CostLine[] {
    return [...this.items.values()].map(({ service, item, price, quantity }) => ({
      service,
      item,
      quantity,
      unit: PRICES[price].unit,
      usd: priced(price, quantity),
    }));
  }
}

/** The monthly cost of a fleet, line by line. */
export function monthlyCost(input: Fleet): Estimate {
  const fleet = normalizeFleet(input);
  const { sensors, intervalS, dashboards, metricsPerReading: metrics, design, ingest } = fleet;
  const bill = new Bill();
  const warnings: string[] = [];

  const messages = sensors * (SECONDS_PER_MONTH / intervalS);
  const readingsPerSecond = sensors / intervalS;
  /** Share of the month the dashboards are open (they are all open at the same hours). */
  const openFraction = dashboards > 0 ? fleet.dashboardHoursPerDay / 24 : 0;
  const openSeconds = openFraction * SECONDS_PER_MONTH;
  const openDashboardMinutes = dashboards * fleet.dashboardHoursPerDay * 60 * DAYS_PER_MONTH;
  /** Sensors one dashboard subscribes to (vigia: the cards on its screen; naive: `*`, every sensor). */
  const cardsPerDashboard = design === 'vigia' ? Math.min(sensors, fleet.cardsOnScreen) : sensors;
  /** Sensors at least one dashboard watches (each dashboard on a page of its own, the costlier case). */
  const watchedSensors = dashboards > 0 ? Math.min(sensors, cardsPerDashboard * dashboards) : 0;
  const watchedMessages = messages * openFraction * (watchedSensors / sensors);

  const telemetry: TelemetryUnits = {
    iotMessages: 0,
    iotRulesTriggered: 0,
    iotActions: 0,
    kinesisPutUnits: 0,
    lambdaInvocations: 0,
    lambdaGbSeconds: 0,
    dynamoWriteUnits: 0,
    dynamoReadUnits: 0,
    wsMessages: 0,
  };
  let invocations = 0;
  let gbSeconds = 0;
  let logBytes = 0;
  const invoke = (count: number, ms: number, emfBytes = 0, ofTelemetry = false) => {
    invocations += count;
    gbSeconds += count * (ms / 1000) * LAMBDA_MEMORY_GB;
    logBytes += count * (LOG_BYTES_PER_INVOCATION + emfBytes);
    if (ofTelemetry) {
      telemetry.lambdaInvocations += count;
      telemetry.lambdaGbSeconds += count * (ms / 1000) * LAMBDA_MEMORY_GB;
    }
  };
  let writeUnitsUsed = 0;
  let readUnitsUsed = 0;
  const write = (units: number, ofTelemetry = false) => {
    writeUnitsUsed += units;
    if (ofTelemetry) telemetry.dynamoWriteUnits += units;
  };
  const read = (units: number, ofTelemetry = false) => {
    readUnitsUsed += units;
    if (ofTelemetry) telemetry.dynamoReadUnits += units;
  };
  let liveFrames = 0;
  /** Raw readings a pack holds (stream ingest): a sensor's readings of one minute in one history batch. */
  let readingsPerPack = 1;
  const concurrency: number[] = [];

  // ---- IoT Core.
  const rules = TELEMETRY_RULES[ingest];
  const iotMessages = fleet.basicIngest ? 0 : messages * Math.ceil(MESSAGE_BYTES(metrics) / IOT_MESSAGE_INCREMENT_BYTES);
  telemetry.iotMessages = iotMessages;
  telemetry.iotRulesTriggered = messages * rules;
  telemetry.iotActions = messages * rules;
  bill.add('IoT Core', 'connectivity', 'iotConnectivity', sensors * MINUTES_PER_MONTH * SENSOR_CONNECTED_FRACTION);
  bill.add('IoT Core', fleet.basicIngest ? 'messages (Basic Ingest: none billed)' : 'messages', 'iotMessages', iotMessages);
  bill.add('IoT Core', 'rules triggered', 'iotRulesTriggered', telemetry.iotRulesTriggered);
  bill.add('IoT Core', ingest === 'stream' ? 'actions (Kinesis)' : 'actions (Lambda)', 'iotActions', telemetry.iotActions);
  if (readingsPerSecond > IOT_INBOUND_PUBLISH_RPS) {
    warnings.push(
      `~${Math.round(readingsPerSecond).toLocaleString('en-US')} publishes a second, over IoT Core's default ` +
        `${IOT_INBOUND_PUBLISH_RPS.toLocaleString('en-US')} inbound publishes a second per account: ask for a higher quota.`,
    );
  }

  const rawWrite = writeUnits(ITEM_BYTES.raw(metrics));
  const bucketWrite = writeUnits(ITEM_BYTES.bucket(metrics));
  const sensorWrite = writeUnits(ITEM_BYTES.sensor(metrics));
  const markWrite = writeUnits(ITEM_BYTES.liveMark);
  /** Dashboards each get this many PostToConnection calls per frame sent. */
  const pushWaves = Math.ceil(dashboards / 16);
  const frameMessages = (readingsInFrame: number) =>
    Math.max(1, Math.ceil((readingsInFrame * READING_FRAME_BYTES(metrics)) / WS_INCREMENT_BYTES));

  let shards: number | undefined;
  if (design === 'naive') {
    // One invocation per reading per consumer; no roll-ups, no exactly-once marks; every dashboard gets every
    // reading (subscribed to `*`).
    invoke(messages, DURATION_MS.naiveWriter, 0, true);
    write(messages * (rawWrite + sensorWrite), true);
    invoke(
      messages,
      DURATION_MS.naivePusherBase + (dashboards > 0 ? pushWaves * DURATION_MS.broadcasterPerWaveOf16 * openFraction : 0),
      0,
      true,
    );
    read(messages * readUnits(dashboards * ITEM_BYTES.connection, false), true); // who is connected: one query per reading
    liveFrames = dashboards * messages * openFraction * frameMessages(1);
    concurrency.push((readingsPerSecond * (DURATION_MS.naiveWriter + DURATION_MS.naivePusherBase)) / 1000);
  } else if (ingest === 'direct') {
    const d = DYNAMO_REQUESTS.direct;
    // History writer: per reading, the conditional put, two buckets, the registry entry; the buckets' reads,
    // the raw query, and for a reading that opens a minute, that minute recomputed from its raw readings.
    invoke(messages, DURATION_MS.writerDirect, EMF_BYTES.writer, true);
    write(
      messages * (d.writesPerReading.raw * rawWrite + d.writesPerReading.buckets * bucketWrite + d.writesPerReading.registry * sensorWrite),
      true,
    );
    read(messages * (d.bucketReadsPerReading + d.partitionsPerRawQuery * (d.rawQueriesPerReading + Math.min(1, intervalS / 60))), true);
    // Broadcaster: the subscriber lookup per reading; a watched reading claims its live mark and is pushed,
    // one frame to each dashboard showing its card.
    const pushMs = DURATION_MS.broadcasterPushBase + pushWaves * DURATION_MS.broadcasterPerWaveOf16;
    const watchedShare = sensors > 0 ? (openFraction * watchedSensors) / sensors : 0;
    invoke(messages, DURATION_MS.broadcasterLookup + pushMs * watchedShare, EMF_BYTES.broadcaster * watchedShare, true);
    read(messages * d.versionReadsPerReading * readUnits(ITEM_BYTES.subscriptionsVersion, true), true);
    write(watchedMessages * d.markWritesPerWatchedReading * markWrite, true);
    /** Dashboards showing a watched sensor's card. */
    const dashboardsPerWatched = watchedSensors > 0 ? (dashboards * cardsPerDashboard) / watchedSensors : 0;
    liveFrames = watchedMessages * dashboardsPerWatched * frameMessages(1);
    concurrency.push((readingsPerSecond * (DURATION_MS.writerDirect + DURATION_MS.broadcasterLookup + pushMs)) / 1000);
  } else {
    const st = DYNAMO_REQUESTS.stream;
    // ---- Kinesis: one record per message, keyed by sensorId.
    const recordBytes = STREAM_RECORD_BYTES(metrics);
    telemetry.kinesisPutUnits = messages * Math.ceil(recordBytes / KINESIS_PUT_UNIT_BYTES);
    const partitions = fleet.shards === 'on-demand' ? streamShardsFor(fleet) : fleet.shards!;
    if (fleet.shards === 'on-demand') {
      bill.add('Kinesis', 'on-demand stream-hours', 'kinesisOnDemandStreamHours', HOURS_PER_MONTH);
      bill.add('Kinesis', 'data written (on-demand)', 'kinesisOnDemandIngest', (messages * recordBytes) / GB);
      bill.add('Kinesis', 'data read by 2 consumers (on-demand)', 'kinesisOnDemandRetrieval', (2 * messages * recordBytes) / GB);
    } else {
      shards = partitions;
      bill.add('Kinesis', `shard-hours (${shards} shard${shards === 1 ? '' : 's'})`, 'kinesisShardHours', shards * HOURS_PER_MONTH);
      bill.add('Kinesis', 'PUT payload units', 'kinesisPutUnits', telemetry.kinesisPutUnits);
      const perShard = readingsPerSecond / shards;
      if (perShard > SHARD_RECORDS_PER_S || perShard * recordBytes > SHARD_BYTES_PER_S) {
        warnings.push(
          `${Math.round(perShard).toLocaleString('en-US')} records a second a shard, over a shard's 1,000 records or 1 MB a second: ` +
            `deploy with -c streamShards=${streamShardsFor(fleet)} (or on-demand).`,
        );
      }
      if (shards > KINESIS_SHARD_QUOTA) {
        warnings.push(`${shards} shards, over the default ${KINESIS_SHARD_QUOTA}-shard quota of most regions: ask for more.`);
      }
    }

    // ---- History writer: one batch per shard per window, of at most 10,000 records.
    const sensorsPerShard = sensors / partitions;
    const shardRate = readingsPerSecond / partitions;
    const historyBatches = SECONDS_PER_MONTH * partitions * batchesPerSecond(fleet.historyWindowS, shardRate, HISTORY_BATCH_SIZE);
    const historyBatchRecords = messages / historyBatches;
    /** Distinct sensors in a batch. */
    const sensorsPerHistoryBatch = Math.max(1, sensorsPerShard * presentIn(historyBatchRecords / sensorsPerShard));
    const writerMs =
      DURATION_MS.writerBatch +
      DURATION_MS.writerPerSensorInBatch * sensorsPerHistoryBatch +
      DURATION_MS.writerPerRecord * historyBatchRecords;
    invoke(historyBatches, writerMs, EMF_BYTES.writer, true);
    const sensorBatches = historyBatches * sensorsPerHistoryBatch;
    // Raw readings: per sensor per batch, a new pack for each minute its readings in the batch span (one more
    // for each minute boundary they cross), holding that minute's share of them.
    const sensorBatchReadings = historyBatchRecords / sensorsPerHistoryBatch;
    const packsPerSensorBatch = Math.min(sensorBatchReadings, 1 + (sensorBatchReadings * intervalS) / 60);
    readingsPerPack = sensorBatchReadings / packsPerSensorBatch;
    const packWrite = writeUnits(ITEM_BYTES.packBase + readingsPerPack * ITEM_BYTES.packEntry(metrics));
    write(sensorBatches * st.packWritesPerSensorMinuteInBatch * packsPerSensorBatch * packWrite, true);
    // A batch spanning a minute (or hour) boundary touches the next bucket too.
    const batchSpanS = historyBatchRecords / shardRate;
    const bucketsTouched = st.bucketsPerSensorInBatch + batchSpanS / 60 + batchSpanS / 3_600;
    write(sensorBatches * (bucketsTouched * bucketWrite + st.registryWritesPerSensorInBatch * sensorWrite), true);
    read(sensorBatches * (bucketsTouched + st.registryReadsPerSensorInBatch), true);
    // Alerts (i12): each sensor's states and registry entry per batch; the rules every 10 s per shard's container.
    if (fleet.alertRules) read(sensorBatches * st.alertReadsPerSensorInBatch, true);
    read(partitions * (SECONDS_PER_MONTH / ALERT_RULES_REFRESH_S) * 0.5);
    const historyFillS = historyBatchRecords / shardRate;
    if (writerMs / 1000 > historyFillS) {
      warnings.push(
        `the history writer needs ${(writerMs / 1000).toFixed(1)} s for a batch that fills in ${historyFillS.toFixed(1)} s: ` +
          `deploy with more shards (-c streamShards=${Math.ceil((partitions * writerMs) / 1000 / historyFillS)}).`,
      );
    }

    // ---- Broadcaster: one batch per shard per live window with records in it.
    const liveBatches = SECONDS_PER_MONTH * partitions * batchesPerSecond(fleet.liveWindowS, shardRate, LIVE_BATCH_SIZE);
    const liveBatchRecords = messages / liveBatches;
    const pushMs = DURATION_MS.broadcasterPushBase + pushWaves * DURATION_MS.broadcasterPerWaveOf16;
    invoke(
      liveBatches,
      DURATION_MS.broadcasterLookup + DURATION_MS.broadcasterPerRecord * liveBatchRecords + pushMs * openFraction,
      (EMF_BYTES.broadcaster + EMF_BYTES.perPushedReading * liveBatchRecords * (watchedSensors / sensors)) * openFraction,
      true,
    );
    read(liveBatches * st.versionReadsPerBatch * readUnits(ITEM_BYTES.subscriptionsVersion, true), true);
    // A live batch with watched readings: the shard's state read and saved once. It holds each watched sensor's
    // ts of its open minute, so its size (and the units of a save) grows through the minute: averaged over it.
    const watchedPerShard = watchedSensors / partitions;
    const watchedReadingsPerLiveBatch = watchedPerShard * (liveBatchRecords / sensorsPerShard);
    const claimingBatches = liveBatches * openFraction * presentIn(watchedReadingsPerLiveBatch);
    const perMinute = Math.min(60 / intervalS, 60);
    const STEPS = 12;
    let stateWrite = 0;
    let stateRead = 0;
    for (let k = 0; k < STEPS; k++) {
      const bytes = ITEM_BYTES.liveShardState(watchedPerShard, watchedPerShard * perMinute * ((k + 0.5) / STEPS));
      stateWrite += writeUnits(bytes) / STEPS;
      stateRead += readUnits(bytes, true) / STEPS;
    }
    write(claimingBatches * st.liveStateWritesPerBatch * stateWrite, true);
    read(claimingBatches * st.liveStateReadsPerBatch * stateRead, true);
    // Each watched sensor's minute, once closed, goes to its live mark.
    const closedMinuteWrite = writeUnits(ITEM_BYTES.liveMark + 10 * perMinute);
    write(watchedSensors * openFraction * MINUTES_PER_MONTH * st.markWritesPerWatchedSensorMinute * closedMinuteWrite, true);
    // One `readings` frame per dashboard per live batch holding its cards' readings, split at 32 KB.
    // A dashboard's cards spread over the shards; each card has liveBatchRecords / sensorsPerShard readings in a batch.
    const cardReadingsPerBatch = (cardsPerDashboard / partitions) * (liveBatchRecords / sensorsPerShard);
    liveFrames =
      dashboards * liveBatches * openFraction * presentIn(cardReadingsPerBatch) * frameMessages(Math.max(1, cardReadingsPerBatch));
    concurrency.push(2 * partitions);
  }
  telemetry.wsMessages = liveFrames;

  // ---- Presence: a connect and a disconnect per sensor a day (the same in every mode).
  const presenceEvents = sensors * PRESENCE_EVENTS_PER_SENSOR_PER_DAY * DAYS_PER_MONTH;
  if (design === 'vigia') {
    bill.add('IoT Core', 'rules triggered', 'iotRulesTriggered', presenceEvents);
    bill.add('IoT Core', 'actions (Lambda)', 'iotActions', presenceEvents);
    invoke(presenceEvents, DURATION_MS.presence);
    write(presenceEvents * sensorWrite);
    read(presenceEvents * readUnits(ITEM_BYTES.subscriptionsVersion, true));
  }

  // Rejected payloads and poisoned records only; a healthy fleet sends none.
  bill.add('SQS', 'dead letters (none assumed)', 'sqsRequests', 0);

  // ---- API Gateway WebSocket: frames of live readings, pings and pongs, reconnects every 2 h.
  bill.add('API Gateway WebSocket', 'messages: live readings', 'wsMessages', liveFrames);
  const pings = openDashboardMinutes * PINGS_PER_MINUTE;
  const reconnects = openDashboardMinutes / 60 / WS_MAX_CONNECTION_H;
  bill.add('API Gateway WebSocket', 'messages: pings, pongs, subscribes', 'wsMessages', 2 * pings + 2 * reconnects);
  bill.add('API Gateway WebSocket', 'connection minutes', 'wsConnectionMinutes', openDashboardMinutes);
  // A ping; $connect, subscribe and $disconnect at each reconnect; vigia authorizes each $connect.
  invoke(pings + reconnects * 3, DURATION_MS.websocket, design === 'vigia' ? EMF_BYTES.websocket : 0);
  if (design === 'vigia') invoke(reconnects, DURATION_MS.authorizer);
  if (design === 'vigia') {
    // $connect puts the connection item; subscribe reads it and writes it with its cards, $disconnect deletes it;
    // each change moves the subscriptions' version on, and every live container then reads the sets again.
    const connectionBytes = ITEM_BYTES.connection + cardsPerDashboard * ITEM_BYTES.subscriptionEntry;
    const changes = 2 * reconnects;
    write(reconnects * (1 + 2 * writeUnits(connectionBytes)) + changes * writeUnits(ITEM_BYTES.subscriptionsVersion));
    read(reconnects * readUnits(connectionBytes, true));
    // Stream: one broadcaster per shard; direct: about as many warm containers as invocations run at once.
    const liveContainers =
      ingest === 'stream' ? (shards ?? 1) : Math.max(1, Math.ceil((readingsPerSecond * DURATION_MS.broadcasterLookup) / 1000));
    read(changes * liveContainers * readUnits(dashboards * connectionBytes, true));
  } else {
    // The connection item and a `*` subscription, written and deleted.
    write(reconnects * 4);
  }

  // ---- HTTP API: the fleet list every 30 s (vigia pages 1,000 at a time) and one 24 h history load an hour.
  const fleetLists = ((dashboards * fleet.dashboardHoursPerDay * 3_600) / FLEET_REFRESH_S) * DAYS_PER_MONTH;
  const pageSensors = design === 'vigia' ? Math.min(sensors, SENSORS_PAGE) : sensors;
  const pages = Math.ceil(sensors / pageSensors);
  const pageBytes = pageSensors * SENSOR_JSON_BYTES(metrics);
  const pageRegistryBytes = pageSensors * ITEM_BYTES.sensor(metrics);
  const historyLoads = dashboards * fleet.dashboardHoursPerDay * HISTORY_LOADS_PER_DASHBOARD_HOUR * DAYS_PER_MONTH;
  const dayOfReadings = HISTORY_RANGE_S / intervalS;
  bill.add('HTTP API', 'requests: fleet list', 'httpRequests', fleetLists * pages * Math.ceil(pageBytes / HTTP_INCREMENT_BYTES));
  bill.add('HTTP API', 'requests: history', 'httpRequests', historyLoads);
  invoke(fleetLists * pages, DURATION_MS.httpBase + DURATION_MS.httpPerMbScanned * (pageRegistryBytes / MB));
  invoke(historyLoads, DURATION_MS.httpBase);
  read(fleetLists * pages * readUnits(pageRegistryBytes, false)); // a Scan page of the registry
  if (design === 'vigia') {
    // `auto`: up to limit + 1 raw points to choose the resolution; past the limit, the range's buckets, 1 m while
    // they fit the limit, else 1 h (lambdas/core/api.ts). Stream ingest reads raw points from packs (and queries
    // the single items' partition too, finding none).
    const rawRead = Math.min(dayOfReadings, HISTORY_LIMIT + 1);
    const rawBytes =
      ingest === 'stream'
        ? rawRead * ITEM_BYTES.packEntry(metrics) + (rawRead / readingsPerPack) * ITEM_BYTES.packBase
        : rawRead * ITEM_BYTES.raw(metrics);
    const bucketS = HISTORY_RANGE_S <= HISTORY_LIMIT * 60 ? 60 : 3_600;
    const bucketsRead = dayOfReadings > HISTORY_LIMIT ? HISTORY_RANGE_S / bucketS + 1 : 0;
    read(historyLoads * (readUnits(rawBytes, false) + readUnits(0, false) + readUnits(bucketsRead * ITEM_BYTES.bucket(metrics), false)));
  } else {
    // No roll-ups: every raw point of the day is read.
    read(historyLoads * readUnits(dayOfReadings * ITEM_BYTES.raw(metrics), false));
  }
  if (pageBytes > LAMBDA_RESPONSE_LIMIT_BYTES) {
    warnings.push(
      `GET /sensors would answer ${(pageBytes / MB).toFixed(0)} MB, over Lambda's 6 MB response limit: ` +
        'the fleet list needs paging at this size (priced here as if it worked).',
    );
  }

  // ---- Alerts (i12): the silence check once a minute: rules, alert states, a scan of the registry.
  if (design === 'vigia') {
    invoke(ALERT_SILENCE_RUNS_PER_MONTH, DURATION_MS.alertSilence);
    read(ALERT_SILENCE_RUNS_PER_MONTH * (0.5 + 0.5 + readUnits(sensors * ITEM_BYTES.sensor(metrics), false)));
    bill.add('Cognito', 'monthly active users (Plus)', 'cognitoPlusMau', dashboards * USERS_PER_DASHBOARD);
  }

  // ---- CloudFront: the dashboard's files.
  const dashboardLoads = dashboards * DASHBOARD_LOADS_PER_DAY * DAYS_PER_MONTH;
  bill.add('CloudFront', 'HTTPS requests', 'cloudFrontRequests', dashboardLoads * DASHBOARD_LOAD_REQUESTS);
  bill.add('CloudFront', 'data transfer out', 'cloudFrontTransfer', (dashboardLoads * DASHBOARD_LOAD_BYTES) / GB);

  // ---- DynamoDB storage at full retention, with point-in-time recovery on every table.
  const perSensor = (retentionDays: number, secondsApart: number) => (retentionDays * 86_400) / Math.max(secondsApart, intervalS);
  const stored = (items: number, bytes: number) => items * (bytes + STORAGE_OVERHEAD_BYTES);
  // Stream ingest keeps raw readings in packs: one item per sensor-minute per history batch with readings.
  const rawStored =
    design === 'vigia' && ingest === 'stream'
      ? stored(
          (sensors * perSensor(RETENTION_DAYS.raw, 0)) / readingsPerPack,
          ITEM_BYTES.packBase + readingsPerPack * ITEM_BYTES.packEntry(metrics),
        )
      : stored(sensors * perSensor(RETENTION_DAYS.raw, 0), ITEM_BYTES.raw(metrics));
  let storageBytes = rawStored + stored(sensors, ITEM_BYTES.sensor(metrics));
  if (design === 'vigia') {
    storageBytes += stored(sensors * perSensor(RETENTION_DAYS.minute, 60), ITEM_BYTES.bucket(metrics));
    storageBytes += stored(sensors * perSensor(RETENTION_DAYS.hour, 3_600), ITEM_BYTES.bucket(metrics));
    // One live mark per watched sensor per minute, kept 24 h.
    storageBytes += stored(
      watchedSensors * RETENTION_DAYS.liveMark * 1_440 * openFraction,
      ITEM_BYTES.liveMark + 10 * Math.min(60 / intervalS, 60),
    );
  }
  const storageGb = storageBytes / GB;

  bill.add('DynamoDB', 'write request units', 'dynamoWrites', writeUnitsUsed);
  bill.add('DynamoDB', 'read request units', 'dynamoReads', readUnitsUsed);
  bill.add('DynamoDB', 'storage (full retention)', 'dynamoStorage', storageGb);
  bill.add('DynamoDB', 'point-in-time recovery', 'dynamoPitr', storageGb);
  bill.add('Lambda', 'requests', 'lambdaRequests', invocations);
  bill.add('Lambda', 'compute (256 MB arm64)', 'lambdaCompute', gbSeconds);
  bill.add('CloudWatch', 'Lambda log ingestion', 'logsIngestion', logBytes / GB);
  if (design === 'vigia') {
    bill.add('CloudWatch', 'custom metrics (EMF)', 'cloudWatchMetrics', CUSTOM_METRICS);
    bill.add('CloudWatch', 'alarms', 'cloudWatchAlarms', ALARM_METRICS + (ingest === 'stream' ? STREAM_ALARM_METRICS : 0));
    bill.add('CloudWatch', 'operations dashboard', 'cloudWatchDashboards', CLOUDWATCH_DASHBOARDS);
  }

  const peakConcurrency = concurrency.reduce((a, b) => a + b, 0);
  if (peakConcurrency > DEFAULT_CONCURRENCY_LIMIT * 0.8) {
    warnings.push(
      `telemetry functions need ~${Math.round(peakConcurrency)} concurrent executions, near or over the default ` +
        `${DEFAULT_CONCURRENCY_LIMIT} of a region: ask for a higher limit${ingest === 'direct' && design === 'vigia' ? ' or use stream ingest' : ''}.`,
    );
  }
  const lines = bill.lines().sort((a, b) => SERVICES.indexOf(a.service) - SERVICES.indexOf(b.service));
  const quantityOf = (service: Service, prefix: string) =>
    lines.filter((l) => l.service === service && l.item.startsWith(prefix)).reduce((sum, l) => sum + l.quantity, 0);
  const tiered: Array<[string, number, number]> = [
    ['IoT Core messages', quantityOf('IoT Core', 'messages'), 1e9],
    ['WebSocket messages', quantityOf('API Gateway WebSocket', 'messages'), 1e9],
    ['HTTP API requests', quantityOf('HTTP API', 'requests'), 300e6],
  ];
  for (const [what, quantity, firstTier] of tiered) {
    if (quantity > firstTier) {
      const tier = firstTier >= 1e9 ? `${firstTier / 1e9} billion` : `${firstTier / 1e6} million`;
      warnings.push(`${what} pass the first price tier (${tier} a month): the later, cheaper tiers are not applied.`);
    }
  }
  const postsPerSecond = liveFrames / (openSeconds || 1);
  if (postsPerSecond > API_GATEWAY_ACCOUNT_RPS) {
    warnings.push(
      `~${Math.round(postsPerSecond).toLocaleString('en-US')} WebSocket posts a second, over API Gateway's default ` +
        `${API_GATEWAY_ACCOUNT_RPS.toLocaleString('en-US')} requests a second per account and region; and ` +
        `${Math.round(postsPerSecond / Math.max(dashboards, 1)).toLocaleString('en-US')} frames a second are more than one browser draws.`,
    );
  }

  const total = lines.reduce((sum, l) => sum + l.usd, 0);
  const biggest = lines.reduce((top, l) => (l.usd > top.usd ? l : top), lines[0]);
  const perReading = Object.fromEntries(Object.entries(telemetry).map(([k, v]) => [k, v / messages])) as unknown as TelemetryUnits;
  return { fleet, lines, total, biggest, warnings, shards, perReading };
}

/** Totals per service, in SERVICES order. */
export function byService(estimate: Estimate): Array<{ service: Service; usd: number }> {
  return SERVICES.map((service) => ({
    service,
    usd: estimate.lines.filter((l) => l.service === service).reduce((sum, l) => sum + l.usd, 0),
  }));
}
