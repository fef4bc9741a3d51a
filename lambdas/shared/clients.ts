/**
 * SDK clients and adapters built from the environment, once per module scope (per Lambda container, or
 * once in the local runtime). Each is created on first use, so a handler only needs the settings of the
 * clients it uses.
 */
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import { SnsAlertNotifier, WebSocketAlertBroadcaster } from '../adapters/alert-notifications.js';
import { CachedRuleSource, DynamoAlertRuleStore, DynamoAlertStateStore, DynamoSensorActivity } from '../adapters/dynamo-alerts.js';
import { ApiGatewayLiveSender, IotDevicePublisher, SqsRejectionSink } from '../adapters/aws-services.js';
import { DynamoConnectionRegistry } from '../adapters/dynamo-connections.js';
import { DynamoReadingStore, DynamoRollupStore } from '../adapters/dynamo-history.js';
import { DynamoSensorRegistry } from '../adapters/dynamo-sensors.js';
import { EmfMetrics } from '../adapters/emf-metrics.js';
import { JwtTokenVerifier } from '../adapters/jwt-verifier.js';
import { MemoryMetrics, localMetricsRegistry } from '../adapters/memory-metrics.js';
import type { TokenVerifier } from '../core/auth.js';
import type { AlertNotifier } from '../core/alert-ports.js';
import type { AlertDeps } from '../core/evaluate-alerts.js';
import type { LiveSender, Metrics } from '../core/ports.js';
import { ENV, METRICS, METRICS_MODE_ENV, RETENTION_DEFAULTS, intEnv, requireEnv } from './names.js';

/**
 * Builds a value once per distinct setting: in Lambda the environment never changes, so this is once per
 * container; the local runtime, restarted in one process on new ports, gets clients for the new ports.
 */
function once<T>(make: () => T): () => T {
  let value: T | undefined;
  let key: string | undefined;
  return () => {
    const now = SETTINGS.map((name) => process.env[name] ?? '').join('\n');
    if (value === undefined || key !== now) {
      value = make();
      key = now;
    }
    return value;
  };
}

const SETTINGS = [
  ...Object.values(ENV),
  METRICS_MODE_ENV,
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_DYNAMODB',
  'AWS_ENDPOINT_URL_SQS',
  'AWS_ENDPOINT_URL_SNS',
  'AWS_REGION',
];

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'vigia' });

const documentClient = /* @__PURE__ */ once(() =>
  DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    // convertClassInstanceToMap: a reading's values may hold a metric named `constructor`, which hides the
    // object's own constructor from the marshaller; without it such an item cannot be written at all.
    marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false, convertClassInstanceToMap: true },
  }),
);

export const retention = /* @__PURE__ */ once(() => ({
  rawDays: intEnv(ENV.rawRetentionDays, RETENTION_DEFAULTS.rawDays),
  minuteDays: intEnv(ENV.minuteRetentionDays, RETENTION_DEFAULTS.minuteDays),
  hourDays: intEnv(ENV.hourRetentionDays, RETENTION_DEFAULTS.hourDays),
}));

export const readingStore = /* @__PURE__ */ once(
  () => new DynamoReadingStore(documentClient(), requireEnv(ENV.readingsTable), retention().rawDays),
);
export const rollupStore = /* @__PURE__ */ once(
  () =>
    new DynamoRollupStore(documentClient(), requireEnv(ENV.rollupsTable), {
      minuteDays: retention().minuteDays,
      hourDays: retention().hourDays,
    }),
);
export const sensorRegistry = /* @__PURE__ */ once(() => new DynamoSensorRegistry(documentClient(), requireEnv(ENV.sensorsTable)));
export const connectionRegistry = /* @__PURE__ */ once(
  () => new DynamoConnectionRegistry(documentClient(), requireEnv(ENV.connectionsTable)),
);
/**
 * A host's own way to frames, in place of the management API client: the local runtime hands them straight to
 * its WebSocket gateway (a reading to a thousand dashboards is then a thousand socket writes, not a thousand
 * signed HTTP requests). Nothing sets it in Lambda.
 */
export const liveSenderSeam: { make?: () => LiveSender } = {};

export const liveSender = /* @__PURE__ */ once(
  (): LiveSender =>
    liveSenderSeam.make?.() ??
    new ApiGatewayLiveSender(new ApiGatewayManagementApiClient({ endpoint: requireEnv(ENV.wsManagementEndpoint) })),
);
export const devicePublisher = /* @__PURE__ */ once(
  () => new IotDevicePublisher(new IoTDataPlaneClient({ endpoint: requireEnv(ENV.iotDataEndpoint) })),
);
export const rejectionSink = /* @__PURE__ */ once(
  () => new SqsRejectionSink(new SQSClient({}), requireEnv(ENV.deadLetterQueueUrl)),
);
/** Sign-in tokens' verifier; null when sign-in is off (AUTH_ISSUER unset). */
export const tokenVerifier = /* @__PURE__ */ once((): TokenVerifier | null =>
  process.env[ENV.authIssuer]
    ? new JwtTokenVerifier({
        issuer: requireEnv(ENV.authIssuer),
        audience: requireEnv(ENV.authAudience),
        jwksUri: requireEnv(ENV.authJwksUri),
      })
    : null,
);
/** True when dashboard sign-in is on. */
export const signInRequired = (): boolean => Boolean(process.env[ENV.authIssuer]);
/** EMF log lines in Lambda; the process's in-memory registry under the local runtime (VIGIA_METRICS=local). */
export const metrics = /* @__PURE__ */ once(
  (): Metrics =>
    process.env[METRICS_MODE_ENV] === 'local'
      ? new MemoryMetrics(localMetricsRegistry)
      : new EmfMetrics(new PowertoolsMetrics({ namespace: METRICS.namespace, serviceName: METRICS.service })),
);

/** Runs one invocation and publishes its metrics at the end, whether it succeeded or threw. */
export async function withMetrics<T>(invocation: (metrics: Metrics) => Promise<T>): Promise<T> {
  const m = metrics();
  try {
    return await invocation(m);
  } finally {
    m.flush();
  }
}

/** True where the alerts table is wired: the history writer then evaluates alerts (contract §8). */
export const alertsEnabled = (): boolean => Boolean(process.env[ENV.alertsTable]);
export const alertRuleStore = /* @__PURE__ */ once(() => new DynamoAlertRuleStore(documentClient(), requireEnv(ENV.alertsTable)));
export const alertStateStore = /* @__PURE__ */ once(() => new DynamoAlertStateStore(documentClient(), requireEnv(ENV.alertsTable)));
/** One rules cache per process: the API's changes drop it at once here, other containers within the TTL. */
export const alertRules = /* @__PURE__ */ once(
  () => new CachedRuleSource(alertRuleStore(), intEnv(ENV.alertRulesTtlSeconds, 10) * 1000),
);
export const sensorActivity = /* @__PURE__ */ once(() => new DynamoSensorActivity(documentClient(), requireEnv(ENV.sensorsTable)));
/** The alerts topic; without one (a function not wired to it) notices are only logged. */
export const alertNotifier = /* @__PURE__ */ once(
  (): AlertNotifier =>
    process.env[ENV.alertTopicArn]
      ? new SnsAlertNotifier(new SNSClient({}), requireEnv(ENV.alertTopicArn))
      : { notify: async (n) => logger.info('alert notice (no topic)', { kind: n.kind, subject: n.subject }) },
);

export function alertBroadcaster(metrics: Metrics): WebSocketAlertBroadcaster {
  return new WebSocketAlertBroadcaster(documentClient(), requireEnv(ENV.connectionsTable), {
    connections: connectionRegistry(),
    live: liveSender(),
    log: logger,
    metrics,
    now: Date.now,
  });
}

/** What alert evaluation needs, for one invocation's metrics. */
export function alertDeps(metrics: Metrics): AlertDeps {
  return {
    rules: alertRules(),
    states: alertStateStore(),
    newest: sensorActivity(),
    notifier: alertNotifier(),
    frames: alertBroadcaster(metrics),
    log: logger,
  };
}
