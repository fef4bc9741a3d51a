/** Telemetry (an IoT rule event, or a Kinesis batch of them) → live: one frame per subscribed connection. */
import type { Context } from 'aws-lambda';
import { broadcastTelemetry, broadcastTelemetryStream } from '../core/broadcast-telemetry.js';
import { logger, retention, withMetrics } from './wiring.js';
import { connectionRegistry, liveSubscriptions, savedShardStates } from './wiring/dynamo.js';
import { liveSender } from './wiring/live.js';
import { batchItemFailures, streamRecords } from '../shared/rule-events.js';

export const handler = async (event: unknown, context?: Context) =>
  withMetrics(context, async (metrics) => {
    const connections = connectionRegistry();
    const deps = {
      connections,
      liveClaims: connections,
      subscriptions: liveSubscriptions(),
      shardStates: savedShardStates(),
      live: liveSender(),
      log: logger,
      metrics,
      now: Date.now,
      rawRetentionDays: retention().rawDays,
    };
    const records = streamRecords(event);
    if (records) return batchItemFailures((await broadcastTelemetryStream(records, deps)).firstFailure);
    return broadcastTelemetry(event, deps);
  });
