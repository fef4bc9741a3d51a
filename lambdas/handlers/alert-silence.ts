/** EventBridge, once a minute → silence rules: fires for sensors silent too long, resolves those that spoke. */
import { checkSilence } from '../core/alert-silence.js';
import { alertDeps, logger, sensorActivity, withMetrics } from '../shared/clients.js';

export const handler = async () =>
  withMetrics(async (metrics) => {
    const { newest: _unused, ...deps } = alertDeps(metrics);
    return checkSilence({ ...deps, activity: sensorActivity(), now: Date.now, log: logger });
  });
