/** EventBridge, once a minute → silence rules: fires for sensors silent too long, resolves those that spoke. */
import type { Context } from 'aws-lambda';
import { checkSilence } from '../core/alert-silence.js';
import { logger, withMetrics } from './wiring.js';
import { alertDeps } from './wiring/alerts.js';
import { sensorActivity } from './wiring/dynamo.js';

export const handler = async (_event?: unknown, context?: Context) =>
  withMetrics(context, async (metrics) => {
    const { newest: _unused, ...deps } = alertDeps(metrics);
    return checkSilence({ ...deps, activity: sensorActivity(), now: Date.now, log: logger });
  });
