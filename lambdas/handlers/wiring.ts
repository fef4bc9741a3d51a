/**
 * The composition root of every Lambda: what each handler needs, built from the environment once per module scope
 * (per Lambda container), each piece on first use, so a handler only needs the settings of what it uses. This file
 * holds what every function shares (logging, metrics, settings); wiring/ holds one file per outside service, so a
 * bundle carries only the SDK clients its handler imports. Nothing here knows of local mode: another host passes
 * its own live sender and metrics to `resetWiring`.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import type { Pluggable } from '@smithy/types';
import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { EmfMetrics } from '../adapters/emf-metrics.js';
import type { LiveSender, Metrics } from '../core/ports.js';
import { ENV, METRICS, RETENTION_DEFAULTS, intEnv } from '../shared/names.js';

/** What a host other than Lambda puts in place of the cloud's own adapters. Lambda passes none. */
export interface HostBindings {
  /** Frames straight to the host's WebSocket gateway, in place of signed management API requests. */
  liveSender?: () => LiveSender;
  /** The host's metrics, in place of EMF log lines. */
  metrics?: () => Metrics;
  /** Middleware added to every SDK client the wiring builds (the local runtime records each function's calls). */
  sdkPlugins?: () => Array<Pluggable<object, object>>;
  /** How the DynamoDB client reaches the host's stand-in, in place of signed HTTPS (its transport and auth). */
  dynamoClientConfig?: () => Pick<DynamoDBClientConfig, 'requestHandler' | 'httpAuthSchemes'>;
}

let bindings: HostBindings = {};
const forgetters: Array<() => void> = [];

/** The host's bindings, as the last `resetWiring` gave them. */
export const hostBindings = (): HostBindings => bindings;

/** An SDK client of the wiring, with the host's plugins added; Lambda passes none, so it is the client as built. */
export function hostClient<C extends { middlewareStack: { use(plugin: never): void } }>(client: C): C {
  type ClientPlugin = Parameters<C['middlewareStack']['use']>[0];
  for (const plugin of bindings.sdkPlugins?.() ?? []) client.middlewareStack.use(plugin as ClientPlugin);
  return client;
}

/** Builds a value on first use and keeps it until `resetWiring`. */
export function once<T>(make: () => T): () => T {
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
export function resetWiring(host: HostBindings = {}): void {
  bindings = host;
  for (const forget of forgetters) forget();
}

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'vigia' });

export const retention = /* @__PURE__ */ once(() => ({
  rawDays: intEnv(ENV.rawRetentionDays, RETENTION_DEFAULTS.rawDays),
  minuteDays: intEnv(ENV.minuteRetentionDays, RETENTION_DEFAULTS.minuteDays),
  hourDays: intEnv(ENV.hourRetentionDays, RETENTION_DEFAULTS.hourDays),
}));

/** True when dashboard sign-in is on. */
export const signInRequired = (): boolean => Boolean(process.env[ENV.authIssuer]);

/** True where the alerts table is wired: the history writer then evaluates alerts (contract §8). */
export const alertsEnabled = (): boolean => Boolean(process.env[ENV.alertsTable]);

/** EMF log lines in Lambda, unless the host binds its own. */
export const metrics = /* @__PURE__ */ once(
  (): Metrics =>
    bindings.metrics?.() ?? new EmfMetrics(new PowertoolsMetrics({ namespace: METRICS.namespace, serviceName: METRICS.service })),
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
