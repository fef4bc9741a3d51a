/**
 * The monthly cost of running vigia in one AWS region, from the list prices in `prices.ts`, for a fleet and a
 * dashboard audience. Pure: the same fleet always gives the same figures.
 *
 * Request counts follow the code (lambdas/core/store-telemetry.ts, broadcast-telemetry.ts, rollups.ts and the DynamoDB adapters) and the
 * figures of bench/results.md; durations and item sizes are estimates, named below with their reasons.
 */
import type { PriceName } from './prices.js';
import { PRICES, priced } from './prices.js';

export type Design = 'vigia' | 'naive';
export type Ingest = 'direct' | 'queued';

export interface Fleet {
  sensors: number;
  /** Seconds between two readings of one sensor; each reading is one MQTT message. */
  intervalS: number;
  /** Dashboards open at the same time, each on the fleet view (subscribed to `*`). */
  dashboards: number;
  /** Hours a day the dashboards are open. @default 24 (a monitoring screen left on) */
  dashboardHoursPerDay?: number;
  /** Metrics in one reading. @default 2 (the simulator sends temperature and humidity) */
  metricsPerReading?: number;
  design: Design;
  /**
   * How IoT rules hand messages to the functions: `direct` invokes each function once per message (what the
   * cloud stack deploys today); `queued` sends them to SQS and each function takes batches.
   * @default 'direct'
   */
  ingest?: Ingest;
}

export type Service =
  | 'IoT Core'
  | 'Lambda'
  | 'DynamoDB'
  | 'API Gateway WebSocket'
  | 'HTTP API'
  | 'CloudFront'
  | 'SQS'
  | 'CloudWatch';

export const SERVICES: readonly Service[] = [
  'IoT Core',
  'Lambda',
  'DynamoDB',
  'API Gateway WebSocket',
  'HTTP API',
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

export interface Estimate {
  fleet: Required<Fleet>;
  lines: CostLine[];
  total: number;
  biggest: CostLine;
  /** Limits the fleet runs into, which no price shows. */
  warnings: string[];
}

// ---- Time ----------------------------------------------------------------------------------------------
export const DAYS_PER_MONTH = 30;
export const SECONDS_PER_MONTH = 86_400 * DAYS_PER_MONTH;
export const MINUTES_PER_MONTH = 1_440 * DAYS_PER_MONTH;

// ---- Devices -------------------------------------------------------------------------------------------
/** Every sensor stays connected around the clock; presence events (a reconnect now and then) are left out. */
export const SENSOR_CONNECTED_FRACTION = 1;
/** A one-reading message is well under IoT Core's 5 KB metering increment. */
export const MESSAGE_BYTES = (metrics: number) => 60 + 30 * metrics;
export const IOT_MESSAGE_INCREMENT_BYTES = 5 * 1024;
/** Telemetry rules on `sensors/+/telemetry`: StoreTelemetry and BroadcastTelemetry, one action each. */
export const TELEMETRY_RULES = 2;

// ---- Lambda --------------------------------------------------------------------------------------------
/** lib/function-defaults.ts: 256 MiB, arm64, for every function. */
export const LAMBDA_MEMORY_GB = 256 / 1024;
/**
 * Billed milliseconds per warm invocation. Estimates from the calls each handler makes at ~6 ms per
 * DynamoDB or API Gateway call in-region (cold starts, well under 1% of invocations at these rates, left out).
 */
export const DURATION_MS = {
  /** Conditional put, bucket batch-get, one raw query, two bucket puts, registry update: ~6 calls in a row. */
  writerDirect: 40,
  /** A queued batch: raw batch-get and batch-write, bucket batch-get… */
  writerBatch: 40,
  /** …plus each sensor's roll-ups and registry entry, refreshed 8 sensors at a time (~30 ms each). */
  writerPerSensorInBatch: 4,
  /** The two subscriber queries, in parallel. */
  broadcasterLookup: 12,
  /** The live mark, then PostToConnection to up to 16 connections at once. */
  broadcasterPushBase: 8,
  broadcasterPerWaveOf16: 10,
  /** The naive writer: one put and one registry update. */
  naiveWriter: 15,
  /** The naive pusher: one query of the connections, then the posts. */
  naivePusherBase: 10,
  /** GET /sensors scans the registry: a base plus ~20 ms per MB scanned (1 MB pages). */
  httpBase: 30,
  httpPerMbScanned: 20,
  /** A WebSocket ping, or a subscribe. */
  websocket: 10,
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
/**
 * lib/operations.ts: dead-letter and no-telemetry alarms; per function (5) an error-rate alarm on errors ÷
 * invocations (2 metrics) and a throttle alarm; queued ingest adds one per ingest dead-letter queue (2).
 */
export const ALARM_METRICS = { direct: 2 + 5 * (2 + 1), queued: 2 + 5 * (2 + 1) + 2 } as const;
/** The operations dashboard. */
export const CLOUDWATCH_DASHBOARDS = 1;

// ---- DynamoDB ------------------------------------------------------------------------------------------
/** Item sizes (attribute names and values) as the adapters write them. */
export const ITEM_BYTES = {
  /** sensorId, ts, receivedAt, expiresAt, and the values map. */
  raw: (metrics: number) => 70 + 20 * metrics,
  /** series, ts, readings, lastTs, expiresAt, and min/max/sum/count per metric. */
  bucket: (metrics: number) => 80 + 45 * metrics,
  /** The registry entry: metrics set, one unit attribute per metric, latest reading, presence. */
  sensor: (metrics: number) => 150 + 40 * metrics,
  liveMark: 50,
  /** A connection item of the connections table (its subscription set: `*`). */
  connection: 100,
  /** A `sub#<sensorId>` subscription item. */
  subscription: 60,
} as const;
/** DynamoDB bills 100 bytes of index overhead per stored item. */
export const STORAGE_OVERHEAD_BYTES = 100;
/** Retention (cdk.json defaults): raw 30 days, 1-minute buckets 180 days, 1-hour buckets 5 years; live marks 24 h. */
export const RETENTION_DAYS = { raw: 30, minute: 180, hour: 1825, liveMark: 1 } as const;
const WRITE_UNIT_BYTES = 1024;
const READ_UNIT_BYTES = 4096;
const writeUnits = (bytes: number) => Math.ceil(bytes / WRITE_UNIT_BYTES);
/** Read units of one request reading `bytes` in all: strongly consistent 1 per 4 KB, eventually 0.5. */
const readUnits = (bytes: number, consistent: boolean) =>
  Math.max(1, Math.ceil(bytes / READ_UNIT_BYTES)) * (consistent ? 1 : 0.5);

// ---- Queued ingest -------------------------------------------------------------------------------------
/** The event source mapping's batch: up to 100 messages, or what 1 s gathers. */
export const QUEUED_BATCH_SIZE = 100;
export const QUEUED_BATCH_WINDOW_S = 1;
/** A ReceiveMessage or DeleteMessageBatch call handles up to 10 messages. */
const SQS_MESSAGES_PER_CALL = 10;
/** Lambda's pollers long-poll an idle queue: ~5 pollers × 3 receives a minute. */
export const SQS_IDLE_RECEIVES_PER_MONTH = 5 * 3 * MINUTES_PER_MONTH;

// ---- Dashboards ----------------------------------------------------------------------------------------
/** The fleet view refreshes GET /sensors every 30 s (frontend/src/fleet-view.tsx). */
export const FLEET_REFRESH_S = 30;
/** One sensor of GET /sensors in JSON. */
export const SENSOR_JSON_BYTES = (metrics: number) => 140 + 40 * metrics;
/** Each open dashboard loads 24 h of one sensor once an hour (`resolution=auto`, limit 1000). */
export const HISTORY_LOADS_PER_DASHBOARD_HOUR = 1;
export const HISTORY_RANGE_S = 86_400;
export const HISTORY_LIMIT = 1_000;
/** The dashboard pings every 60 s (frontend/src/live.ts); each ping is answered by a pong. */
export const PINGS_PER_MINUTE = 1;
/** API Gateway closes a WebSocket after 2 h; the dashboard reconnects and subscribes again. */
export const WS_MAX_CONNECTION_H = 2;
/** Each dashboard is opened once a day: index.html, the script, the style sheet, config.json. */
export const DASHBOARD_LOADS_PER_DAY = 1;
export const DASHBOARD_LOAD_REQUESTS = 4;
export const DASHBOARD_LOAD_BYTES = 120 * 1024;
/** A `readings` frame holds one reading as JSON. */
const READING_FRAME_BYTES = (metrics: number) => 60 + 25 * metrics;
const WS_INCREMENT_BYTES = 32 * 1024;
const HTTP_INCREMENT_BYTES = 512 * 1024;
const GB = 1024 ** 3;
const MB = 1024 ** 2;

/** The fleet with every default filled in; throws on values that make no fleet. */
export function normalizeFleet(fleet: Fleet): Required<Fleet> {
  const full: Required<Fleet> = {
    dashboardHoursPerDay: 24,
    metricsPerReading: 2,
    ingest: 'direct',
    ...fleet,
  };
  const check = (ok: boolean, message: string) => {
    if (!ok) throw new RangeError(message);
  };
  check(Number.isInteger(full.sensors) && full.sensors >= 1, 'sensors must be a whole number of at least 1');
  check(Number.isFinite(full.intervalS) && full.intervalS > 0, 'intervalS must be a positive number of seconds');
  check(Number.isInteger(full.dashboards) && full.dashboards >= 0, 'dashboards must be a whole number of at least 0');
  check(full.dashboardHoursPerDay >= 0 && full.dashboardHoursPerDay <= 24, 'dashboardHoursPerDay must be from 0 to 24');
  check(Number.isInteger(full.metricsPerReading) && full.metricsPerReading >= 1 && full.metricsPerReading <= 32, 'metricsPerReading must be 1 to 32');
  check(full.design === 'vigia' || full.design === 'naive', "design must be 'vigia' or 'naive'");
  check(full.ingest === 'direct' || full.ingest === 'queued', "ingest must be 'direct' or 'queued'");
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
  const { sensors, intervalS, dashboards, metricsPerReading: metrics, design } = fleet;
  const ingest = design === 'naive' ? 'direct' : fleet.ingest;
  const bill = new Bill();
  const warnings: string[] = [];

  const messages = sensors * (SECONDS_PER_MONTH / intervalS);
  const readingsPerSecond = sensors / intervalS;
  /** Share of the month the dashboards are open (they are all open at the same hours). */
  const openFraction = dashboards > 0 ? fleet.dashboardHoursPerDay / 24 : 0;
  /** Readings arriving while at least one dashboard watches. */
  const watchedMessages = messages * openFraction;
  const openDashboardMinutes = dashboards * fleet.dashboardHoursPerDay * 60 * DAYS_PER_MONTH;
  /** Queued ingest: messages per batch, up to 100 or what 1 s gathers. */
  const batch = Math.min(QUEUED_BATCH_SIZE, Math.max(1, readingsPerSecond * QUEUED_BATCH_WINDOW_S));

  let invocations = 0;
  let gbSeconds = 0;
  let logBytes = 0;
  const invoke = (count: number, ms: number, emfBytes = 0) => {
    invocations += count;
    gbSeconds += count * (ms / 1000) * LAMBDA_MEMORY_GB;
    logBytes += count * (LOG_BYTES_PER_INVOCATION + emfBytes);
  };
  let writeUnitsUsed = 0;
  let readUnitsUsed = 0;
  const concurrency: number[] = [];

  // ---- IoT Core: the same for both designs.
  bill.add('IoT Core', 'connectivity', 'iotConnectivity', sensors * MINUTES_PER_MONTH * SENSOR_CONNECTED_FRACTION);
  bill.add('IoT Core', 'messages', 'iotMessages', messages * Math.ceil(MESSAGE_BYTES(metrics) / IOT_MESSAGE_INCREMENT_BYTES));
  bill.add('IoT Core', 'rules triggered', 'iotRulesTriggered', messages * TELEMETRY_RULES);
  bill.add('IoT Core', ingest === 'queued' ? 'actions (SQS)' : 'actions (Lambda)', 'iotActions', messages * TELEMETRY_RULES);

  const rawWrite = writeUnits(ITEM_BYTES.raw(metrics));
  const bucketWrite = writeUnits(ITEM_BYTES.bucket(metrics));
  const sensorWrite = writeUnits(ITEM_BYTES.sensor(metrics));
  const markWrite = writeUnits(ITEM_BYTES.liveMark);
  /** Dashboards each get this many PostToConnection calls per frame sent. */
  const pushWaves = Math.ceil(dashboards / 16);

  if (design === 'naive') {
    // One invocation per reading per consumer; no roll-ups, no exactly-once marks.
    invoke(messages, DURATION_MS.naiveWriter);
    writeUnitsUsed += messages * (rawWrite + sensorWrite);
    invoke(messages, DURATION_MS.naivePusherBase + (dashboards > 0 ? pushWaves * DURATION_MS.broadcasterPerWaveOf16 * openFraction : 0));
    readUnitsUsed += messages * readUnits(dashboards * ITEM_BYTES.connection, false); // who is connected: one query per reading
    concurrency.push(readingsPerSecond * (DURATION_MS.naiveWriter + DURATION_MS.naivePusherBase) / 1000);
  } else if (ingest === 'direct') {
    // History writer (bench: 4 write units per one-reading message): the conditional put, the 1-minute and
    // 1-hour buckets, the registry entry. Reads (rollups.ts): the two buckets (one strongly consistent batch
    // get), the raw readings after the bucket's newest one (one query, shared by minute and hour), and, for a
    // reading that opens a minute, that minute recomputed from its raw readings.
    invoke(messages, DURATION_MS.writerDirect, EMF_BYTES.writer);
    writeUnitsUsed += messages * (rawWrite + 2 * bucketWrite + sensorWrite);
    readUnitsUsed += messages * (2 + 1 + Math.min(1, intervalS / 60));
    // Broadcaster: subscribersOf queries `sub#*` and `sub#<sensor>` (eventually consistent, 0.5 unit each);
    // while someone watches, one live mark per reading and one frame per dashboard.
    const pushMs = DURATION_MS.broadcasterPushBase + pushWaves * DURATION_MS.broadcasterPerWaveOf16;
    invoke(messages, DURATION_MS.broadcasterLookup + pushMs * openFraction, EMF_BYTES.broadcaster * openFraction);
    readUnitsUsed += messages * 2 * readUnits(dashboards * ITEM_BYTES.subscription, false);
    writeUnitsUsed += watchedMessages * markWrite;
    concurrency.push(readingsPerSecond * (DURATION_MS.writerDirect + DURATION_MS.broadcasterLookup + pushMs) / 1000);
  } else {
    // Queued: each rule's SQS action feeds a queue; each function takes batches of up to 100 messages or
    // what 1 s gathers. Per batch (ingest.ts): raw keys checked with one batch get and written with batch
    // writes; roll-ups and registry once per sensor in the batch; one subscriber lookup, one frame per
    // connection.
    const batches = messages / batch;
    /** Distinct sensors in a batch, and readings of each. */
    const sensorsPerBatch = Math.min(batch, sensors);
    const readingsPerSensorInBatch = batch / sensorsPerBatch;
    const sensorBatches = batches * sensorsPerBatch;

    const writerMs = DURATION_MS.writerBatch + DURATION_MS.writerPerSensorInBatch * sensorsPerBatch;
    invoke(batches, writerMs, EMF_BYTES.writer);
    if (batch > 1) {
      readUnitsUsed += messages; // existing keys: one strongly consistent unit per key
    }
    writeUnitsUsed += messages * rawWrite;
    writeUnitsUsed += sensorBatches * (2 * bucketWrite + sensorWrite);
    readUnitsUsed += sensorBatches * (2 + 1 + Math.min(1, (readingsPerSensorInBatch * intervalS) / 60));

    const pushMs = DURATION_MS.broadcasterPushBase + pushWaves * DURATION_MS.broadcasterPerWaveOf16;
    invoke(
      batches,
      DURATION_MS.broadcasterLookup + pushMs * openFraction,
      (EMF_BYTES.broadcaster + EMF_BYTES.perPushedReading * batch) * openFraction,
    );
    // More than 8 sensors: one query of every connection item; else one query per sensor and one for `*`.
    const lookupQueries = sensorsPerBatch > 8 ? 1 : 1 + sensorsPerBatch;
    readUnitsUsed += batches * lookupQueries * readUnits(dashboards * ITEM_BYTES.connection, false);
    if (batch > 1) {
      readUnitsUsed += watchedMessages; // marks checked with a batch get, then written
    }
    writeUnitsUsed += watchedMessages * markWrite;
    concurrency.push((batches / SECONDS_PER_MONTH) * (writerMs + DURATION_MS.broadcasterLookup + pushMs) / 1000);

    // Two queues: one SendMessage per message each, receives and deletes by tens, and idle long polls.
    const perQueueReceives = Math.max(batches * Math.ceil(batch / SQS_MESSAGES_PER_CALL), SQS_IDLE_RECEIVES_PER_MONTH);
    bill.add('SQS', 'telemetry queues: send', 'sqsRequests', TELEMETRY_RULES * messages);
    bill.add('SQS', 'telemetry queues: receive and delete', 'sqsRequests',
      TELEMETRY_RULES * (perQueueReceives + batches * Math.ceil(batch / SQS_MESSAGES_PER_CALL)));
  }
  // Rejected payloads only; a healthy fleet sends none.
  bill.add('SQS', 'dead letters (none assumed)', 'sqsRequests', 0);

  // ---- API Gateway WebSocket: frames of live readings, pings and pongs, reconnects every 2 h.
  // Direct: one frame per reading. Queued: one frame per connection per batch, in 32 KB increments.
  const framesPerConnection =
    ingest === 'queued'
      ? (watchedMessages / batch) * Math.ceil((batch * READING_FRAME_BYTES(metrics)) / WS_INCREMENT_BYTES)
      : watchedMessages * Math.ceil(READING_FRAME_BYTES(metrics) / WS_INCREMENT_BYTES);
  bill.add('API Gateway WebSocket', 'messages: live readings', 'wsMessages', dashboards * framesPerConnection);
  const pings = openDashboardMinutes * PINGS_PER_MINUTE;
  const reconnects = (openDashboardMinutes / 60) / WS_MAX_CONNECTION_H;
  bill.add('API Gateway WebSocket', 'messages: pings, pongs, subscribes', 'wsMessages', 2 * pings + 2 * reconnects);
  bill.add('API Gateway WebSocket', 'connection minutes', 'wsConnectionMinutes', openDashboardMinutes);
  // A ping; $connect, subscribe and $disconnect at each reconnect. Only vigia publishes operations metrics.
  invoke(pings + reconnects * 3, DURATION_MS.websocket, design === 'vigia' ? EMF_BYTES.websocket : 0);
  writeUnitsUsed += reconnects * 4; // connection item, subscription item, their deletes

  // ---- HTTP API: the fleet list every 30 s and one 24 h history load an hour, per open dashboard.
  const fleetLists = dashboards * fleet.dashboardHoursPerDay * 3_600 / FLEET_REFRESH_S * DAYS_PER_MONTH;
  const fleetListBytes = sensors * SENSOR_JSON_BYTES(metrics);
  const registryBytes = sensors * ITEM_BYTES.sensor(metrics);
  const historyLoads = dashboards * fleet.dashboardHoursPerDay * HISTORY_LOADS_PER_DASHBOARD_HOUR * DAYS_PER_MONTH;
  const dayOfReadings = HISTORY_RANGE_S / intervalS;
  bill.add('HTTP API', 'requests: fleet list', 'httpRequests', fleetLists * Math.ceil(fleetListBytes / HTTP_INCREMENT_BYTES));
  bill.add('HTTP API', 'requests: history', 'httpRequests', historyLoads);
  invoke(fleetLists, DURATION_MS.httpBase + DURATION_MS.httpPerMbScanned * (registryBytes / MB));
  invoke(historyLoads, DURATION_MS.httpBase);
  readUnitsUsed += fleetLists * readUnits(registryBytes, false); // a Scan of the registry
  if (design === 'vigia') {
    // `auto`: up to limit + 1 raw points to choose the resolution, then the range's 24 hour buckets.
    const rawRead = Math.min(dayOfReadings, HISTORY_LIMIT + 1);
    readUnitsUsed += historyLoads * (readUnits(rawRead * ITEM_BYTES.raw(metrics), false) + readUnits(25 * ITEM_BYTES.bucket(metrics), false));
  } else {
    // No roll-ups: every raw point of the day is read.
    readUnitsUsed += historyLoads * readUnits(dayOfReadings * ITEM_BYTES.raw(metrics), false);
  }
  if (fleetListBytes > LAMBDA_RESPONSE_LIMIT_BYTES) {
    warnings.push(
      `GET /sensors would answer ${(fleetListBytes / MB).toFixed(0)} MB, over Lambda's 6 MB response limit: ` +
        'the fleet list needs paging at this size (priced here as if it worked).',
    );
  }

  // ---- CloudFront: the dashboard's files.
  const dashboardLoads = dashboards * DASHBOARD_LOADS_PER_DAY * DAYS_PER_MONTH;
  bill.add('CloudFront', 'HTTPS requests', 'cloudFrontRequests', dashboardLoads * DASHBOARD_LOAD_REQUESTS);
  bill.add('CloudFront', 'data transfer out', 'cloudFrontTransfer', (dashboardLoads * DASHBOARD_LOAD_BYTES) / GB);

  // ---- DynamoDB storage at full retention, with point-in-time recovery on every table.
  const perSensor = (retentionDays: number, secondsApart: number) => (retentionDays * 86_400) / Math.max(secondsApart, intervalS);
  const stored = (items: number, bytes: number) => items * (bytes + STORAGE_OVERHEAD_BYTES);
  let storageBytes = stored(sensors * perSensor(RETENTION_DAYS.raw, 0), ITEM_BYTES.raw(metrics)) + stored(sensors, ITEM_BYTES.sensor(metrics));
  if (design === 'vigia') {
    storageBytes += stored(sensors * perSensor(RETENTION_DAYS.minute, 60), ITEM_BYTES.bucket(metrics));
    storageBytes += stored(sensors * perSensor(RETENTION_DAYS.hour, 3_600), ITEM_BYTES.bucket(metrics));
    storageBytes += stored(sensors * perSensor(RETENTION_DAYS.liveMark, 0) * openFraction, ITEM_BYTES.liveMark);
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
    bill.add('CloudWatch', 'alarms', 'cloudWatchAlarms', ALARM_METRICS[ingest]);
    bill.add('CloudWatch', 'operations dashboard', 'cloudWatchDashboards', CLOUDWATCH_DASHBOARDS);
  }

  const peakConcurrency = concurrency.reduce((a, b) => a + b, 0);
  if (peakConcurrency > DEFAULT_CONCURRENCY_LIMIT * 0.8) {
    warnings.push(
      `telemetry functions need ~${Math.round(peakConcurrency)} concurrent executions, near or over the default ` +
        `${DEFAULT_CONCURRENCY_LIMIT} of a region: ask for a higher limit${ingest === 'direct' && design === 'vigia' ? ' or use queued ingest' : ''}.`,
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
  const postsPerSecond = (dashboards * framesPerConnection) / (openFraction * SECONDS_PER_MONTH || 1);
  if (postsPerSecond > API_GATEWAY_ACCOUNT_RPS) {
    warnings.push(
      `~${Math.round(postsPerSecond).toLocaleString('en-US')} WebSocket posts a second, over API Gateway's default ` +
        `${API_GATEWAY_ACCOUNT_RPS.toLocaleString('en-US')} requests a second per account and region; and ` +
        `${Math.round(postsPerSecond / Math.max(dashboards, 1)).toLocaleString('en-US')} frames a second are more than one browser draws.`,
    );
  }

  const total = lines.reduce((sum, l) => sum + l.usd, 0);
  const biggest = lines.reduce((top, l) => (l.usd > top.usd ? l : top), lines[0]);
  return { fleet: { ...fleet, ingest }, lines, total, biggest, warnings };
}

/** Totals per service, in SERVICES order. */
export function byService(estimate: Estimate): Array<{ service: Service; usd: number }> {
  return SERVICES.map((service) => ({
    service,
    usd: estimate.lines.filter((l) => l.service === service).reduce((sum, l) => sum + l.usd, 0),
  }));
}
