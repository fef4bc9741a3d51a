/** IoT rule → live: pushes readings to the WebSocket connections subscribed to their sensor. */
import { broadcastTelemetry } from '../core/ingest.js';
import { connectionRegistry, liveSender, logger, retention } from '../shared/clients.js';

export const handler = async (event: unknown) =>
  broadcastTelemetry(event, {
    connections: connectionRegistry(),
    live: liveSender(),
    log: logger,
    now: Date.now,
    rawRetentionDays: retention().rawDays,
  });
