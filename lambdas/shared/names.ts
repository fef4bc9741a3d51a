/**
 * Names that the cloud app (lib/), the local runtime (local/) and the handlers must agree on.
 * Nothing here may import from lib/ or local/.
 */

/** Environment variables read by the handlers. CDK sets them; the local runtime sets them too. */
export const ENV = {
  readingsTable: 'READINGS_TABLE',
  rollupsTable: 'ROLLUPS_TABLE',
  sensorsTable: 'SENSORS_TABLE',
  connectionsTable: 'CONNECTIONS_TABLE',
  /** https://{api}.execute-api.{region}.amazonaws.com/{stage} in the cloud; the local gateway locally. */
  wsManagementEndpoint: 'WS_MANAGEMENT_ENDPOINT',
  /** https://{prefix}-ats.iot.{region}.amazonaws.com in the cloud; the local data-plane stand-in locally. */
  iotDataEndpoint: 'IOT_DATA_ENDPOINT',
  deadLetterQueueUrl: 'DEAD_LETTER_QUEUE_URL',
  rawRetentionDays: 'RAW_RETENTION_DAYS',
  minuteRetentionDays: 'MINUTE_RETENTION_DAYS',
  hourRetentionDays: 'HOUR_RETENTION_DAYS',
  /** Dashboard sign-in: the token issuer (Cognito user pool URL, or the local issuer); unset = sign-in off. */
  authIssuer: 'AUTH_ISSUER',
  /** The `aud` of accepted ID tokens: the app client id. */
  authAudience: 'AUTH_AUDIENCE',
  authJwksUri: 'AUTH_JWKS_URI',
  /** Alert rules, states and history (contract §8); unset, the history writer evaluates no alerts. */
  alertsTable: 'ALERTS_TABLE',
  /** The alerts SNS topic: fired and resolved alerts are published there. */
  alertTopicArn: 'ALERT_TOPIC_ARN',
  /** How long a function keeps the alert rules before reading them again. @default 10 */
  alertRulesTtlSeconds: 'ALERT_RULES_TTL_SECONDS',
} as const;

export type EnvName = (typeof ENV)[keyof typeof ENV];

/** Reads a required setting; throws naming it when it is missing, so a miswired function fails at once. */
export function requireEnv(name: EnvName, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new Error(`Missing required environment variable ${name}`);
  }
  return value;
}

/** Reads a positive integer setting, with its documented default. */
export function intEnv(name: EnvName, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`Environment variable ${name} must be a positive integer, got "${raw}"`);
  }
  return value;
}

/** Retention defaults in days (CDK context keys of the same meaning: rawRetentionDays, …). */
export const RETENTION_DEFAULTS = { rawDays: 30, minuteDays: 180, hourDays: 5 * 365 } as const;

/** How long a container keeps the alert rules it read (ALERT_RULES_TTL_SECONDS) unless the stack says otherwise. */
export const ALERT_RULES_TTL_DEFAULT_SECONDS = 10;

/**
 * The stream consumers' event source mappings in the cloud (lib/telemetry.ts): records per batch and the batching
 * window; the history writer's window is the default of the context key `historyBatchWindowSeconds`.
 */
export const STREAM_BATCHES = {
  historyWriter: { maxRecords: 10_000, windowSeconds: 30 },
  broadcaster: { maxRecords: 1_000, windowSeconds: 1 },
} as const;

/** Dashboard roles, strongest first: the Cognito group names (contract §5, §6). */
export const ROLES = ['operator', 'viewer'] as const;

export { METRIC_NAME_PATTERN, SENSOR_ID_PATTERN } from './contract.js';

export const TOPICS = {
  telemetryFilter: 'sensors/+/telemetry',
  telemetry: (sensorId: string) => `sensors/${sensorId}/telemetry`,
  commands: (sensorId: string) => `sensors/${sensorId}/commands`,
  commandsFilter: 'sensors/+/commands',
  presenceFilter: '$aws/events/presence/+/+',
  presence: (eventType: 'connected' | 'disconnected', clientId: string) => `$aws/events/presence/${eventType}/${clientId}`,
} as const;

/**
 * Every function of the app by one name: the key of VigiaStack.functions (lib/), the `functionName` of its local
 * invocations and of billing (local/), and the name the operations dashboard shows.
 */
export const FUNCTIONS = {
  historyWriter: 'HistoryWriter',
  broadcaster: 'Broadcaster',
  presence: 'Presence',
  webSocket: 'WebSocket',
  connectAuthorizer: 'ConnectAuthorizer',
  httpApi: 'HttpApi',
  alertSilence: 'AlertSilence',
} as const;

export type FunctionName = (typeof FUNCTIONS)[keyof typeof FUNCTIONS];

/** Memory of every function (lib/function-defaults.ts); the local runtime bills its GB-seconds at this size. */
export const FUNCTION_MEMORY_MB = 256;
/** Timeout of a function that sets none (lib/function-defaults.ts); local invocation contexts count down from it. */
export const FUNCTION_TIMEOUT_SECONDS = 10;

export { MAX_PAYLOAD_BYTES } from './contract.js';

/**
 * The operations metrics: CloudWatch namespace and service dimension (EMF in Lambda), and their names as
 * the dashboards and alarms (lib/operations.ts) and the local `/api/metrics` read them.
 */
export const METRICS = {
  namespace: 'Vigia',
  service: 'vigia',
  /** Readings in accepted payloads (redeliveries included). */
  readingsAccepted: 'ReadingsAccepted',
  /** Rejected payloads, dimension `Reason` = the contract's reason code. */
  readingsRejected: 'ReadingsRejected',
  /** Rule events per history-writer invocation. */
  batchSize: 'BatchSize',
  /** Frames delivered to WebSocket connections. */
  livePushes: 'LivePushes',
  goneConnectionsRemoved: 'GoneConnectionsRemoved',
  /** Milliseconds from the rule's receivedAt to the push of the reading. */
  receiveToPushLatency: 'ReceiveToPushLatency',
  /**
   * WebSocket $connects the authorizer answered 401 (no, expired or foreign token): each is a Lambda error by
   * API Gateway's contract (it must throw 'Unauthorized'), so the error-rate alarm leaves them out.
   */
  connectUnauthorized: 'ConnectUnauthorized',
} as const;

export type CounterMetric =
  | typeof METRICS.readingsAccepted
  | typeof METRICS.readingsRejected
  | typeof METRICS.livePushes
  | typeof METRICS.goneConnectionsRemoved
  | typeof METRICS.connectUnauthorized;
export type ObservedMetric = typeof METRICS.batchSize | typeof METRICS.receiveToPushLatency;

export type { DashboardAuthConfig } from './contract.js';
