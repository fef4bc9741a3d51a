/** IoT lifecycle events → sensors registry, and a status frame to the sensor's subscribers. */
import { applyPresenceEvent } from '../core/ingest.js';
import { connectionRegistry, liveSender, logger, sensorRegistry } from '../shared/clients.js';

export const handler = async (event: unknown) =>
  applyPresenceEvent(event, {
    sensors: sensorRegistry(),
    connections: connectionRegistry(),
    live: liveSender(),
    log: logger,
    now: Date.now,
  });
