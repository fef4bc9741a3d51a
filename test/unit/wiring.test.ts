/**
 * The handlers' composition root: clients built once until reset, and a host's bindings (the local runtime's
 * gateway and metrics registry) in place of the cloud adapters.
 */
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import type { LiveSender, Metrics } from '../../lambdas/core/ports.js';
import { METRICS } from '../../lambdas/shared/names.js';
import { ENDPOINT } from './handler-env.js';

const { metrics, resetWiring, withMetrics } = await import('../../lambdas/handlers/wiring.js');
const { readingStore } = await import('../../lambdas/handlers/wiring/dynamo.js');
const { liveSender } = await import('../../lambdas/handlers/wiring/live.js');
const apigw = mockClient(ApiGatewayManagementApiClient);

afterEach(() => {
  resetWiring();
  apigw.reset();
});

describe('handler wiring', () => {
  it('builds each adapter once and keeps it until reset', () => {
    const first = readingStore();
    expect(readingStore()).toBe(first);
    resetWiring();
    expect(readingStore()).not.toBe(first);
  });

  it('reads the environment again after a reset, and names a missing setting', () => {
    const saved = process.env.READINGS_TABLE;
    delete process.env.READINGS_TABLE;
    try {
      resetWiring();
      expect(() => readingStore()).toThrow(/Missing required environment variable READINGS_TABLE/);
    } finally {
      process.env.READINGS_TABLE = saved;
    }
  });

  it('without host bindings, frames go through the management API at WS_MANAGEMENT_ENDPOINT', async () => {
    apigw.on(PostToConnectionCommand).resolves({});
    expect(await liveSender().send('c1', { type: 'pong' })).toBe('sent');
    expect(apigw.commandCalls(PostToConnectionCommand)).toHaveLength(1);
    expect(await apigw.call(0).thisValue.config.endpoint?.()).toMatchObject({ hostname: new URL(ENDPOINT).hostname });
  });

  it("a host's bindings replace the live sender and the metrics, and a reset without them restores the cloud's", async () => {
    const sent: string[] = [];
    const hostSender: LiveSender = { send: async (id) => (sent.push(id), 'sent') };
    const counted: string[] = [];
    const hostMetrics: Metrics = { count: (name) => void counted.push(name), observe: () => undefined, flush: () => undefined };
    resetWiring({ liveSender: () => hostSender, metrics: () => hostMetrics });
    expect(liveSender()).toBe(hostSender);
    await withMetrics(undefined, async (m) => m.count(METRICS.livePushes, 1));
    expect(counted).toEqual([METRICS.livePushes]);
    expect(apigw.commandCalls(PostToConnectionCommand)).toHaveLength(0);
    resetWiring();
    expect(liveSender()).not.toBe(hostSender);
    expect(metrics()).not.toBe(hostMetrics);
  });
});
