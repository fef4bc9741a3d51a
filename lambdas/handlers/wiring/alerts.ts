/** What alert evaluation and the alerts API need: rules and states, SNS to tell people, frames to dashboards. */
import { SNSClient } from '@aws-sdk/client-sns';
import { WebSocketAlertBroadcaster } from '../../adapters/alert-broadcaster.js';
import { SnsAlertNotifier } from '../../adapters/sns-alert-notifier.js';
import type { AlertNotifier } from '../../core/alert-ports.js';
import type { AlertDeps } from '../../core/evaluate-alerts.js';
import type { Metrics } from '../../core/ports.js';
import { ENV, requireEnv } from '../../shared/names.js';
import { hostClient, logger, once } from '../wiring.js';
import { alertRules, alertStateStore, connectionRegistry, documentClient, sensorActivity } from './dynamo.js';
import { liveSender } from './live.js';

/** The alerts topic; without one (a function not wired to it) notices are only logged. */
export const alertNotifier = /* @__PURE__ */ once(
  (): AlertNotifier =>
    process.env[ENV.alertTopicArn]
      ? new SnsAlertNotifier(hostClient(new SNSClient({})), requireEnv(ENV.alertTopicArn))
      : {
          notify: async (notices) => {
            for (const n of notices) logger.info('alert notice (no topic)', { kind: n.kind, subject: n.subject });
          },
        },
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
