/** IoT rule (or its queue) → live: pushes readings to the WebSocket connections subscribed to their sensor. */
import { broadcastTelemetryBatch } from '../core/broadcast-telemetry.js';
import { connectionRegistry, liveSender, logger, retention, withMetrics } from '../shared/clients.js';
import { ruleEvents } from '../shared/rule-events.js';

export const handler = async (event: unknown) =>
  withMetrics((metrics) =>
    broadcastTelemetryBatch(ruleEvents(event), {
      connections: connectionRegistry(),
      live: liveSender(),
      log: logger,
      metrics,
      now: Date.now,
      rawRetentionDays: retention().rawDays,
    }),
  );
