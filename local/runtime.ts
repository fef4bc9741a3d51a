/**
 * The whole system on one machine: broker, rules, DynamoDB, WebSocket gateway, AWS endpoints and the HTTP
 * front door, running the very handler modules Lambda runs.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENV, FUNCTIONS, RETENTION_DEFAULTS } from '../lambdas/shared/names.js';
import { RULES, type RuleTarget, TELEMETRY_STREAM_RULE } from '../lambdas/shared/rules.js';
import { authorize, bearerToken } from '../lambdas/core/auth.js';
import { LocalAuthIssuer } from './auth-issuer.js';
import { recordedInto } from './aws-calls.js';
import { startAwsStandIns, type AwsStandIns } from './aws-standins.js';
import { startBroker, type BrokerOptions, type LocalBroker } from './broker.js';
import { connectExternalBroker, type MessageBus } from './bus.js';
import { BillingMeter, type BillingSnapshot } from './billing.js';
import { boundedLog } from './bounded-log.js';
import { DeadLetterFile, type DeadLetterLimits } from './dead-letters.js';
import { portClientConfig } from './dynamo-port.js';
import { LOCAL_TABLES, requestsToPrometheus, startDynamo, type LocalDynamo, type RequestCounts } from './dynamo.js';
import { startTtlSweeper } from './ttl-sweeper.js';
import { newStandInCredentials, type StandInCredentials } from './standin-credentials.js';
import { GatewayLiveSender, WebSocketGateway } from './gateway.js';
import { MemoryMetrics, localMetricsRegistry, memoryGauges, NO_THREAD_MEMORY, threadMemory } from './memory-metrics.js';
import { AlertWebhook } from './alert-webhook.js';
import { createHttpServer } from './http-server.js';
import { EventLoopDelay } from './event-loop-delay.js';
import { asLambdaInvocation, prepareLambdaHost } from './lambda-context.js';
import { RuleRunner, type IngestMode, type RuleHandler } from './rules.js';
import { HandlerThread } from './handler-thread.js';
import { BACKGROUND_NICE } from './thread-priority.mjs';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface RuntimeOptions {
  /** @default 127.0.0.1 */
  host?: string;
  /** HTTP port (dashboard, /api, /ws); 0 picks a free one. @default 3000 */
  port?: number;
  /** @default 1883 */
  mqttPort?: number;
  /** @default 8883 */
  mqttsPort?: number;
  /** @default .data */
  dataDir?: string;
  /** An external broker (mqtt://host:port) instead of the embedded one. */
  mqttUrl?: string;
  /** Where the dashboard is served from. @default frontend/dist, else frontend/placeholder */
  staticDir?: string;
  /**
   * How rules reach the functions: `stream`, the telemetry rule writes to a stream the history writer and
   * the broadcaster read in batches (the cloud's stream ingest); `direct`, the rules invoke them once per
   * message. @default stream
   */
  ingest?: IngestMode;
  /** Stream ingest: the broadcaster's batching window. @default 5 ms */
  liveWindowMs?: number;
  /** Stream ingest: the history writer's batching window. @default 1000 ms */
  historyWindowMs?: number;
  /** Retries of a failed rule invocation. @default [1000, 2000] ms */
  retryDelaysMs?: number[];
  /**
   * The history writer on a worker thread of its own (local/handler-thread.ts), as a Lambda runs in a container of
   * its own; false runs it on the main thread beside the broker and the live path. @default true
   */
  historyWriterThread?: boolean;
  /**
   * Dashboard sign-in: a local issuer under `/auth` (users operator@local and viewer@local), bearer tokens
   * on `/api` (but `/api/health`) and a `?token=` on `/ws`, verified as in the cloud. @default false
   */
  auth?: boolean;
  /** Alert notifications are also POSTed here as JSON (contract §8). @default none: log lines only */
  alertWebhookUrl?: string;
  /** How often silence rules are checked (the cloud: once a minute). @default 60000 ms */
  alertSilenceCheckMs?: number;
  log?: (entry: Record<string, unknown>) => void;
  /**
   * Origins besides the runtime's own whose pages may use `/ws` and whose Host is answered (e.g. the Vite
   * dev server, `http://localhost:5173`). @default none
   */
  allowedOrigins?: string[];
  /** Time between the starts of two passes of the local TTL sweeper. @default 60 000 ms */
  ttlSweepIntervalMs?: number;
  /** Caps of the dead-letter file (size before rotation, payload kept per entry). */
  deadLetterLimits?: DeadLetterLimits;
  /** The embedded broker's limits on connections not yet accepted (handshake and CONNECT timeouts, cap). */
  brokerLimits?: Pick<BrokerOptions, 'tlsHandshakeTimeoutMs' | 'connectTimeoutMs' | 'maxPendingConnections'>;
  /**
   * Records each distinct AWS call of the handlers (function, IAM action, resource) into this file as JSON lines
   * (local/aws-calls.ts), for the IAM test. @default none: nothing is recorded
   */
  awsCallsFile?: string;
}

export interface LocalRuntime {
  host: string;
  port: number;
  mqttPort: number | null;
  mqttsPort: number | null;
  dataDir: string;
  urls: { dashboard: string; api: string; ws: string; mqtt: string | null; mqtts: string | null; config: string };
  deadLetterFile: string;
  failedInvocationsFile: string;
  gateway: WebSocketGateway;
  rules: RuleRunner;
  /** The history writer's own thread; null when it runs on the main thread (`historyWriterThread: false`). */
  historyThread: HandlerThread | null;
  /** The local token issuer when sign-in is on, else null. */
  authIssuer: LocalAuthIssuer | null;
  /** The billable units caused so far (also in `GET /api/metrics`). */
  billing: BillingMeter;
  /** The billable units up to now, DynamoDB's capacity included without delay. */
  billed(): Promise<BillingSnapshot>;
  /** DynamoDB requests per table and operation up to now (also in `GET /api/metrics`). */
  dynamoRequests(): Promise<RequestCounts>;
  close(): Promise<void>;
}

function defaultLog(entry: Record<string, unknown>): void {
  const line = JSON.stringify({ time: new Date().toISOString(), ...entry });
  if (entry.level === 'error' || entry.level === 'warn') console.error(line);
  // Every alert notice is a log line (contract §8), as the cloud's would be an SNS message.
  else if (process.env.VIGIA_VERBOSE || entry.component === 'alerts') console.log(line);
}

/** The settings the handlers read, pointed at the local stand-ins. */
function configureHandlerEnvironment(dynamoEndpoint: string, awsEndpoint: string, credentials: StandInCredentials): void {
  Object.assign(process.env, {
    [ENV.readingsTable]: LOCAL_TABLES.readings.name,
    [ENV.rollupsTable]: LOCAL_TABLES.rollups.name,
    [ENV.sensorsTable]: LOCAL_TABLES.sensors.name,
    [ENV.connectionsTable]: LOCAL_TABLES.connections.name,
    [ENV.alertsTable]: LOCAL_TABLES.alerts.name,
    [ENV.alertTopicArn]: LOCAL_ALERT_TOPIC_ARN,
    AWS_ENDPOINT_URL_SNS: awsEndpoint,
    [ENV.wsManagementEndpoint]: awsEndpoint,
    [ENV.iotDataEndpoint]: awsEndpoint,
    [ENV.deadLetterQueueUrl]: `${awsEndpoint}/000000000000/vigia-dead-letters`,
    AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint,
    AWS_ENDPOINT_URL_SQS: awsEndpoint,
    // The stand-ins answer only this runtime's own credentials (never real ones: they are made up per start).
    AWS_REGION: 'local',
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_SESSION_TOKEN: '',
    AWS_PROFILE: '',
    AWS_EC2_METADATA_DISABLED: 'true',
  });
  process.env[ENV.rawRetentionDays] ??= String(RETENTION_DEFAULTS.rawDays);
  // Sign-in is off until a runtime with `auth` binds its issuer.
  for (const name of [ENV.authIssuer, ENV.authAudience, ENV.authJwksUri]) delete process.env[name];
  process.env.POWERTOOLS_LOG_LEVEL ??= 'WARN';
  // This machine's Node is older than Lambda's runtime; the SDK's notice about it is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  process.env.POWERTOOLS_SERVICE_NAME ??= 'vigia-local';
}

/** The alerts topic's local name: the SNS stand-in logs what is published there and hands it to the webhook. */
const LOCAL_ALERT_TOPIC_ARN = 'arn:aws:sns:local:000000000000:vigia-alerts';

const handlers = {
  historyWriter: async () => (await import('../lambdas/handlers/history-writer.js')).handler as RuleHandler,
  broadcaster: async () => (await import('../lambdas/handlers/broadcaster.js')).handler as RuleHandler,
  presence: async () => (await import('../lambdas/handlers/presence.js')).handler as RuleHandler,
};

/** Each loaded handler wrapped so each call is an invocation of the named function: with its context, billed. */
function meteredLoaders<K extends string, H extends (...args: never[]) => Promise<unknown>>(
  billing: BillingMeter,
  loaders: Record<K, () => Promise<H>>,
  names: Record<K, string>,
): Record<K, () => Promise<H>> {
  return Object.fromEntries(
    Object.entries<() => Promise<H>>(loaders).map(([key, load]) => {
      let wrapped: Promise<H> | undefined;
      const name = names[key as K];
      return [key, () => (wrapped ??= load().then((h) => billing.metered(name, asLambdaInvocation(name, h as never)) as unknown as H))];
    }),
  ) as Record<K, () => Promise<H>>;
}

async function listen(server: import('node:http').Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`HTTP port ${port} on ${host} is already in use: stop the other process or set PORT (0 picks a free port)`)
          : err,
      );
    });
    server.listen(port, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

export async function startLocalRuntime(options: RuntimeOptions = {}): Promise<LocalRuntime> {
  const host = options.host ?? '127.0.0.1';
  const dataDir = path.resolve(options.dataDir ?? '.data');
  const log = boundedLog(options.log ?? defaultLog);
  // Set before the first SDK client (the DynamoDB stand-in's) is built: the SDK checks it then, once.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  prepareLambdaHost();
  const staticDir =
    options.staticDir ??
    (existsSync(path.join(PROJECT_ROOT, 'frontend/dist/index.html'))
      ? path.join(PROJECT_ROOT, 'frontend/dist')
      : path.join(PROJECT_ROOT, 'frontend/placeholder'));
  await mkdir(dataDir, { recursive: true });
  const deadLetterFile = path.join(dataDir, 'dead-letters.jsonl');
  const failedInvocationsFile = path.join(dataDir, 'failed-invocations.jsonl');
  const deadLetters = new DeadLetterFile(deadLetterFile, options.deadLetterLimits);

  const cleanups: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch((err: Error) => log({ level: 'warn', message: 'shutdown step failed', error: err.message }));
    }
  };

  try {
    // Internal stand-ins: on loopback whatever `host` is, and answering only this runtime's credentials.
    const credentials = newStandInCredentials();
    const dynamo: LocalDynamo = await startDynamo(dataDir, credentials);
    cleanups.push(() => dynamo.close());
    const ingest = options.ingest ?? 'stream';
    // Stream ingest bills one rule and a Kinesis record per message; direct ingest a rule per function.
    const billing = new BillingMeter({ ingest, dynamo: () => dynamo.consumed });
    // Retention as DynamoDB TTL does it, on each table's TTL attribute (dynalite has none).
    const ttlSweeper = startTtlSweeper({
      endpoint: dynamo.endpoint,
      credentials,
      tables: Object.values(LOCAL_TABLES),
      intervalMs: options.ttlSweepIntervalMs,
      log,
    });
    cleanups.push(() => ttlSweeper.stop());
    const eventLoopDelay = new EventLoopDelay();
    cleanups.push(async () => eventLoopDelay.stop());

    let bus: MessageBus | undefined;
    const authIssuer = options.auth ? await LocalAuthIssuer.create(dataDir) : null;
    const websocketHandler = meteredLoaders(
      billing,
      { ws: async () => (await import('../lambdas/handlers/websocket.js')).handler },
      { ws: FUNCTIONS.webSocket },
    ).ws;
    const authorizerHandler = meteredLoaders(
      billing,
      { auth: async () => (await import('../lambdas/handlers/ws-authorizer.js')).handler },
      { auth: FUNCTIONS.connectAuthorizer },
    ).auth;
    const gateway = new WebSocketGateway({
      handler: websocketHandler,
      authorizer: authIssuer ? authorizerHandler : null,
      meter: billing,
      domainName: `${host}`,
      stage: 'ws',
      log,
    });
    const webhook = options.alertWebhookUrl
      ? new AlertWebhook({ url: options.alertWebhookUrl, log: (e) => log({ component: 'alerts', ...e }) })
      : null;
    if (webhook) cleanups.push(() => webhook.close());
    const aws: AwsStandIns = await startAwsStandIns({
      credentials,
      gateway,
      bus: {
        publish: (topic, payload, qos) => {
          if (!bus) throw new Error('the broker is not up yet');
          return bus.publish(topic, payload, qos);
        },
        onMessage: () => undefined,
        close: async () => undefined,
      },
      deadLetters,
      onAlert: ({ subject, message }) => {
        log({ level: 'info', component: 'alerts', message: subject, notice: safeJson(message) });
        webhook?.enqueue(message);
      },
      log,
    });
    cleanups.push(() => aws.close());
    configureHandlerEnvironment(dynamo.endpoint, aws.endpoint, credentials);
    // The handlers' wiring is the one Lambda runs, rebuilt for this runtime's ports and credentials; frames reach
    // this runtime's gateway in-process, and metrics this process's registry, served at GET /api/metrics.
    const { resetWiring } = await import('../lambdas/handlers/wiring.js');
    const bindings = {
      liveSender: () => new GatewayLiveSender(gateway),
      metrics: () => new MemoryMetrics(localMetricsRegistry),
      dynamoClientConfig: () => portClientConfig(dynamo.connect()),
    };
    resetWiring(recordedInto(options.awsCallsFile, bindings));
    // Counts start at zero with each runtime, as a process's would.
    localMetricsRegistry.reset();

    // Built after the handler environment is set: the thread copies it when it starts.
    const historyThread =
      options.historyWriterThread === false
        ? null
        : new HandlerThread({
            handler: 'history-writer',
            functionName: FUNCTIONS.historyWriter,
            live: new GatewayLiveSender(gateway),
            metrics: new MemoryMetrics(localMetricsRegistry),
            dynamoPorts: () => dynamo.connect(),
            awsCallsFile: options.awsCallsFile,
            // Each of its batches is seconds of readings at once: the live path goes first when cores are short.
            nice: BACKGROUND_NICE,
            log,
          });
    // Closed after the rules have stopped (cleanups run in reverse): a batch still running there is journaled.
    if (historyThread) {
      cleanups.push(() => historyThread.close());
      // Loading the handler in a thread takes a moment: the first readings should not wait for it.
      void historyThread.warm();
    }
    const ruleHandlers = historyThread ? { ...handlers, historyWriter: async () => historyThread.invoke } : handlers;
    const rules = new RuleRunner({
      // Each rule target is a key of FUNCTIONS: billing and the Lambda context name its invocations by it.
      handlers: meteredLoaders<RuleTarget, RuleHandler>(billing, ruleHandlers, FUNCTIONS),
      journalFile: path.join(dataDir, 'rules-journal.jsonl'),
      failedFile: failedInvocationsFile,
      retryDelaysMs: options.retryDelaysMs,
      mode: ingest,
      windowMs: { broadcaster: options.liveWindowMs, historyWriter: options.historyWindowMs },
      log,
    });
    await rules.recover();
    cleanups.push(() => rules.stop());
    const silence = startSilenceChecks(options.alertSilenceCheckMs ?? 60_000, log);
    cleanups.push(silence.stop);

    let broker: LocalBroker | undefined;
    let external: Awaited<ReturnType<typeof connectExternalBroker>> | undefined;
    if (options.mqttUrl) {
      external = await connectExternalBroker(options.mqttUrl, [...new Set(RULES.map((r) => r.topicFilter))], log);
      bus = external;
    } else {
      broker = await startBroker({
        // Basic Ingest reaches one rule: only stream ingest has a single telemetry rule to send it to.
        basicIngestRules: ingest === 'stream' ? [TELEMETRY_STREAM_RULE.id] : [],
        host,
        mqttPort: options.mqttPort ?? 1883,
        mqttsPort: options.mqttsPort ?? 8883,
        dataDir,
        ...options.brokerLimits,
        log: (entry) => log({ component: 'broker', ...entry }),
      });
      bus = broker;
    }
    bus.onMessage((topic, payload, meta) => {
      billing.onMessage(topic, payload, meta.clientId !== null, meta.receivedAt);
      return rules.accept(topic, payload, meta);
    });
    // The broker closes first, so nothing new arrives while the rules drain.
    cleanups.push(() => bus!.close());

    const server = createHttpServer({
      host,
      allowedOrigins: options.allowedOrigins,
      staticDir,
      gateway,
      handler: meteredLoaders(
        billing,
        {
          api: async () => {
            const { handler } = await import('../lambdas/handlers/http-api.js');
            if (!historyThread) return handler;
            // A change of the alert rules drops the history writer's cache of them at once, as it did in one thread.
            return async (event: Parameters<typeof handler>[0]) => {
              const res = await handler(event);
              const method = event.requestContext.http.method;
              if (method !== 'GET' && method !== 'HEAD' && event.rawPath.includes('/alert-rules') && (res.statusCode ?? 500) < 400) {
                historyThread.rulesChanged();
              }
              return res;
            };
          },
        },
        { api: FUNCTIONS.httpApi },
      ).api,
      ready: () => (external ? external.connected : true),
      authIssuer,
      authorizeApi: authIssuer
        ? async (authorization) => {
            // The handlers' verifier, built from the AUTH_* settings below, as Lambda builds it.
            const { tokenVerifier } = await import('../lambdas/handlers/wiring/auth.js');
            const verifier = tokenVerifier();
            if (!verifier) throw new Error('sign-in is on but AUTH_ISSUER is not set');
            return authorize(bearerToken(authorization), verifier);
          }
        : null,
      metrics: () =>
        localMetricsRegistry.toPrometheus() +
        deadLetters.toPrometheus() +
        rules.failedInvocations.toPrometheus() +
        billing.toPrometheus() +
        ttlSweeper.toPrometheus() +
        memoryGauges(
          {
            main: threadMemory(),
            dynamodb: dynamo.memory(),
            'dynamodb-live': dynamo.liveMemory(),
            ...(historyThread ? { 'history-writer': historyThread.memory() ?? NO_THREAD_MEMORY } : {}),
          },
          dynamo.memory().openResources + dynamo.liveMemory().openResources,
        ) +
        requestsToPrometheus(dynamo.requests) +
        eventLoopDelay.toPrometheus(),
      log,
    });
    const port = await listen(server, options.port ?? 3000, host);
    // Closed in reverse: connections (and their $disconnect) first, then the broker, the rules, the stores.
    cleanups.push(async () => {
      await gateway.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    const base = `http://${host}:${port}`;
    if (authIssuer) {
      authIssuer.bind(base);
      Object.assign(process.env, {
        [ENV.authIssuer]: authIssuer.issuer,
        [ENV.authAudience]: authIssuer.audience,
        [ENV.authJwksUri]: authIssuer.jwksUri,
      });
    }
    return {
      host,
      port,
      mqttPort: broker?.mqttPort ?? null,
      mqttsPort: broker?.mqttsPort ?? null,
      dataDir,
      deadLetterFile,
      failedInvocationsFile,
      gateway,
      rules,
      historyThread,
      authIssuer,
      billing,
      billed: async () => {
        await dynamo.capacity();
        return billing.snapshot();
      },
      dynamoRequests: async () => {
        await dynamo.capacity();
        return dynamo.requests;
      },
      urls: {
        dashboard: `${base}/`,
        api: `${base}/api`,
        ws: `ws://${host}:${port}/ws`,
        config: `${base}/config.json`,
        mqtt: broker ? `mqtt://${host}:${broker.mqttPort}` : (options.mqttUrl ?? null),
        mqtts: broker ? `mqtts://${host}:${broker.mqttsPort}` : null,
      },
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The cloud's once-a-minute schedule of the silence function: one run at a time, stopped with the runtime. */
function startSilenceChecks(intervalMs: number, log: (entry: Record<string, unknown>) => void): { stop: () => Promise<void> } {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = (async () => {
      const { handler } = await import('../lambdas/handlers/alert-silence.js');
      await asLambdaInvocation(FUNCTIONS.alertSilence, handler)(undefined);
    })()
      .catch((err: Error) => log({ level: 'error', component: 'alerts', message: 'silence check failed', error: err.message }))
      .finally(() => {
        running = undefined;
      });
  }, intervalMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
