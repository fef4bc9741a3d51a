/** IoT rule (or its queue) → history: stores readings, keeps roll-ups and the registry, dead-letters rejects. */
import { evaluateAlerts } from '../core/evaluate-alerts.js';
import { storeTelemetryBatch } from '../core/store-telemetry.js';
import { alertDeps, alertsEnabled, logger, readingStore, rejectionSink, retention, rollupStore, sensorRegistry, withMetrics } from '../shared/clients.js';
import { ruleEvents } from '../shared/rule-events.js';

export const handler = async (event: unknown) =>
  withMetrics(async (metrics) => {
    const outcomes = await storeTelemetryBatch(ruleEvents(event), {
      readings: readingStore(),
      rollups: rollupStore(),
      sensors: sensorRegistry(),
      rejections: rejectionSink(),
      rawRetentionDays: retention().rawDays,
      log: logger,
      metrics,
      onStored: alertsEnabled() ? (readings) => evaluateAlerts(readings, alertDeps(metrics)) : undefined,
    });
    return outcomes.length === 1 ? outcomes[0] : { outcomes };
  });
