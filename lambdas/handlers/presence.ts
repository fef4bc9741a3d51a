/** IoT lifecycle events → sensors registry, and a status frame to the sensor's subscribers. */
import type { Context } from 'aws-lambda';
import { applyPresenceEvent } from '../core/presence.js';
import { logger, withMetrics } from './wiring.js';
import { connectionRegistry, liveSubscriptions, sensorRegistry } from './wiring/dynamo.js';
import { liveSender } from './wiring/live.js';

// Presence is always a direct rule: one lifecycle event per invocation, so `applied` is 0 or 1.
export const handler = async (event: unknown, context?: Context) =>
  withMetrics(context, async (metrics) => {
    const outcome = await applyPresenceEvent(event, {
      sensors: sensorRegistry(),
      connections: connectionRegistry(),
      subscriptions: liveSubscriptions(),
      live: liveSender(),
      log: logger,
      metrics,
      now: Date.now,
    });
    return { applied: outcome.applied ? 1 : 0 };
  });
