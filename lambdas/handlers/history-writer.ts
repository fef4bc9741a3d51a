/** IoT rule → history: stores readings, keeps roll-ups and the registry, dead-letters rejects. */
import { storeTelemetry } from '../core/ingest.js';
import { logger, readingStore, rejectionSink, retention, rollupStore, sensorRegistry } from '../shared/clients.js';

export const handler = async (event: unknown) =>
  storeTelemetry(event, {
    readings: readingStore(),
    rollups: rollupStore(),
    sensors: sensorRegistry(),
    rejections: rejectionSink(),
    rawRetentionDays: retention().rawDays,
    log: logger,
  });
