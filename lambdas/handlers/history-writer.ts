/** Telemetry (an IoT rule event, or a Kinesis batch of them) → history, roll-ups, registry, alerts; rejects dead-lettered. */
import type { Context } from 'aws-lambda';
import type { Reading } from '../core/model.js';
import { evaluateAlerts } from '../core/evaluate-alerts.js';
import { storeTelemetry } from '../core/store-telemetry.js';
import { storeTelemetryStream } from '../core/store-telemetry-stream.js';
import { alertsEnabled, logger, retention, withMetrics } from './wiring.js';
import { alertDeps } from './wiring/alerts.js';
import { readingStore, rollupStore, sensorRegistry } from './wiring/dynamo.js';
import { rejectionSink } from './wiring/rejections.js';
import { batchItemFailures, streamRecords } from '../shared/rule-events.js';

export const handler = async (event: unknown, context?: Context) =>
  withMetrics(context, async (metrics) => {
    const deps = {
      readings: readingStore(),
      rollups: rollupStore(),
      sensors: sensorRegistry(),
      rejections: rejectionSink(),
      rawRetentionDays: retention().rawDays,
      log: logger,
      metrics,
      onStored: alertsEnabled() ? (readings: Reading[]) => evaluateAlerts(readings, alertDeps(metrics)) : undefined,
    };
    const records = streamRecords(event);
    if (records) return batchItemFailures((await storeTelemetryStream(records, deps)).firstFailure);
    return storeTelemetry(event, deps);
  });
