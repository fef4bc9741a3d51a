/** What the local runtime needs of a broker: every message in, and publishing as the system. */
import mqtt from 'mqtt';
import type { LocalBroker, MessageListener } from './broker.js';

export interface MessageBus {
  publish(topic: string, payload: Buffer, qos: 0 | 1): Promise<void>;
  onMessage(listener: MessageListener): void;
  close(): Promise<void>;
}

export type { LocalBroker };

/** The topics an external broker is asked for: the rules' topic filters. */
export interface ExternalBroker extends MessageBus {
  readonly connected: boolean;
}

/**
 * A client of an external broker (e.g. mosquitto), subscribed to the rules' topic filters. It cannot hold a
 * device's PUBACK back, so durability starts when the message reaches this client.
 */
export async function connectExternalBroker(
  url: string,
  topicFilters: string[],
  log: (entry: Record<string, unknown>) => void,
): Promise<ExternalBroker> {
  const listeners: MessageListener[] = [];
  const client = mqtt.connect(url, {
    clientId: `vigia-rules-${process.pid}`,
    protocolVersion: 4,
    clean: false,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
  });
  client.on('error', (err) => log({ level: 'error', message: 'external broker error', url, error: err.message }));
  client.on('offline', () => log({ level: 'warn', message: 'external broker offline; reconnecting', url }));
  client.on('message', (topic, payload) => {
    const receivedAt = Date.now();
    for (const listener of listeners) {
      Promise.resolve(listener(topic, payload, { clientId: null, receivedAt })).catch((err: Error) =>
        log({ level: 'error', message: 'message listener failed', topic, error: err.message }),
      );
    }
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.end(true);
      reject(new Error(`Could not connect to the external broker at ${url} within 10 s`));
    }, 10_000);
    client.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  await client.subscribeAsync(Object.fromEntries(topicFilters.map((topic) => [topic, { qos: 1 as const }])));
  return {
    get connected() {
      return client.connected;
    },
    async publish(topic, payload, qos) {
      await client.publishAsync(topic, payload, { qos });
    },
    onMessage(listener) {
      listeners.push(listener);
    },
    async close() {
      await client.endAsync();
    },
  };
}
