/** Sending frames to WebSocket connections, shared by the live broadcaster and presence. */
import type { ServerFrame } from '../shared/contract.js';
import { METRICS } from '../shared/names.js';
import type { ConnectionStore, LiveSender, Logger, Metrics } from './ports.js';

export interface PushDeps {
  connections: ConnectionStore;
  live: LiveSender;
  log: Logger;
  metrics: Metrics;
  now: () => number;
}

/** Sends one frame to each connection; a gone connection is forgotten with its subscriptions. */
export async function pushToConnections(connectionIds: string[], frame: ServerFrame, deps: PushDeps): Promise<number> {
  return (await pushToEach(connectionIds, frame, deps)).length;
}

/** The same, answering the connections that got the frame. */
export async function pushToEach(connectionIds: string[], frame: ServerFrame, deps: PushDeps): Promise<string[]> {
  const sent: string[] = [];
  await Promise.all(
    connectionIds.map(async (connectionId) => {
      try {
        if ((await deps.live.send(connectionId, frame)) === 'gone') {
          await deps.connections.close(connectionId);
          deps.metrics.count(METRICS.goneConnectionsRemoved, 1);
          deps.log.info('gone connection removed', { connectionId });
        } else {
          sent.push(connectionId);
          deps.metrics.count(METRICS.livePushes, 1);
        }
      } catch (err) {
        // One failing connection must not keep the others from their frame.
        deps.log.error('push failed', { connectionId, error: (err as Error).message });
      }
    }),
  );
  return sent;
}
