/**
 * The composition root of every Lambda: SDK clients and adapters built from the environment, once per module
 * scope (per Lambda container). Each is created on first use, so a handler only needs the settings of the
 * clients it uses. Nothing here knows of local mode: a host other than Lambda passes its own live sender and
 * metrics to `resetWiring`.
 */
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { SnsAlertNotifier, WebSocketAlertBroadcaster } from '../adapters/alert-notifications.js';
import { ApiGatewayLiveSender, IotDevicePublisher, SqsRejectionSink } from '../adapters/aws-services.js';
import { CachedRuleSource, DynamoAlertRuleStore, DynamoAlertStateStore, DynamoSensorActivity } from '../adapters/dynamo-alerts.js';
import { DynamoConnectionRegistry } from '../adapters/dynamo-connections.js';
import { DynamoReadingStore, DynamoRollupStore } from '../adapters/dynamo-history.js';
import { DynamoSensorRegistry } from '../adapters/dynamo-sensors.js';
import { EmfMetrics } from '../adapters/emf-metrics.js';
import { JwtTokenVerifier } from '../adapters/jwt-verifier.js';
import type { AlertNotifier } from '../core/alert-ports.js';
import type { AlertDeps } from '../core/evaluate-alerts.js';
import type { LiveSender, Metrics, TokenVerifier } from '../core/ports.js';
import { ENV, METRICS, RETENTION_DEFAULTS, intEnv, requireEnv } from '../shared/names.js';

/** What a host other than Lambda puts in place of the cloud's own adapters. Lambda passes none. */
export interface HostBindings {
  /** Frames straight to the host's WebSocket gateway, in place of signed management API requests. */
  liveSender?: () => LiveSender;
  /** The host's metrics, in place of EMF log lines. */
  metrics?: () => Metrics;
}

let host: HostBindings = {};
const forgetters: Array<() => void> = [];

/** Builds a value on first use and keeps it until `resetWiring`. */
function once<T>(make: () => T): () => T {
  let built: { value: T } | undefined;
  forgetters.push(() => {
    built = undefined;
  });
  return () => {
    built ??= { value: make() };
    return built.value;
  };
}

/**
 * Forgets every client and adapter, so the next use builds them from the environment as it is now, with the
 * host's bindings. In Lambda the environment never changes and nothing calls this; the local runtime calls it
 * at each start (new ports, new credentials), and tests that change the environment call it too.
 */
export function resetWiring(bindings: HostBindings = {}): void {
  host = bindings;
  for (const forget of forgetters) forget();
}

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
export const liveSender = /* @__PURE__ */ once(
  (): LiveSender =>
    host.liveSender?.() ??
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
/** EMF log lines in Lambda, unless the host binds its own. */
export const metrics = /* @__PURE__ */ once(
  (): Metrics =>
    host.metrics?.() ?? new EmfMetrics(new PowertoolsMetrics({ namespace: METRICS.namespace, serviceName: METRICS.service })),
);

/** Tags the invocation's log lines with its request id, function and cold start; hosts without a context pass none. */
export function withContext(context: Context | undefined): void {
  if (context) logger.addContext(context);
}

/** Runs one invocation and publishes its metrics at the end, whether it succeeded or threw. */
export async function withMetrics<T>(context: Context | undefined, invocation: (metrics: Metrics) => Promise<T>): Promise<T> {
  withContext(context);
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
