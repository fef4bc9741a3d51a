/** IoT lifecycle events → sensors registry, and a status frame to the sensor's subscribers. */
import { applyPresenceEvent } from '../core/presence.js';
import { connectionRegistry, liveSender, logger, sensorRegistry, withMetrics } from '../shared/clients.js';
import { ruleEvents } from '../shared/rule-events.js';

export const handler = async (event: unknown) =>
  withMetrics(async (metrics) => {
    const deps = { sensors: sensorRegistry(), connections: connectionRegistry(), live: liveSender(), log: logger, metrics, now: Date.now };
    let applied = 0;
    // In order: an older event of the same sensor must meet the newer one's state.
    for (const e of ruleEvents(event)) if ((await applyPresenceEvent(e, deps)).applied) applied += 1;
    return { applied };
  });
