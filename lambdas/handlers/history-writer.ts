/** Telemetry (an IoT rule event, or a Kinesis batch of them) → history, roll-ups, registry; rejects dead-lettered. */
import { storeTelemetry } from '../core/store-telemetry.js';
import { storeTelemetryStream } from '../core/store-telemetry-stream.js';
import { logger, readingStore, rejectionSink, retention, rollupStore, sensorRegistry, withMetrics } from '../shared/clients.js';
import { batchItemFailures, streamRecords } from '../shared/rule-events.js';

export const handler = async (event: unknown) =>
  withMetrics(async (metrics) => {
    const deps = {
      readings: readingStore(),
      rollups: rollupStore(),
      sensors: sensorRegistry(),
      rejections: rejectionSink(),
      rawRetentionDays: retention().rawDays,
      log: logger,
      metrics,
    };
    const records = streamRecords(event);
    if (records) return batchItemFailures((await storeTelemetryStream(records, deps)).firstFailure);
    return storeTelemetry(event, deps);
  });
