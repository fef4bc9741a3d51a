/**
 * The broadcaster's cached subscriber sets (lambdas/core/live-subscriptions.ts) against the local runtime and its
 * DynamoDB stand-in: a dashboard gets every reading published after its subscribe is acked and none after its
 * unsubscribe is acked, and a steady live batch costs at most two DynamoDB requests.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import {
  WsClient,
  closeDevices,
  closeSockets,
  connectDevice,
  eventually,
  makeDataDir,
  removeDataDir,
  startTestRuntime,
  telemetryTopic,
} from '../support/runtime.js';
import { setTimeout as sleep } from 'node:timers/promises';

const CONNECTIONS_TABLE = 'vigia-connections';

describe('live subscriptions cached per broadcaster, revalidated per batch', () => {
  let dataDir: string;
  let runtime: LocalRuntime;
  let devices: Record<string, MqttClient>;
  let next = 0;
  const minuteStart = Math.floor(Date.now() / 60_000) * 60_000;
  /** Publishes one reading of each sensor (a new ts each) and answers the ts. */
  const publish = async (...sensorIds: string[]) => {
    const ts = minuteStart + ++next;
    await Promise.all(
      sensorIds.map((id) => devices[id].publishAsync(telemetryTopic(id), JSON.stringify({ ts, values: { v: next } }), { qos: 1 })),
    );
    await runtime.rules.idle();
    return ts;
  };

  beforeAll(async () => {
    dataDir = await makeDataDir('vigia-live-subs-');
    runtime = await startTestRuntime(dataDir, { ingest: 'stream', historyWindowMs: 200 });
    devices = Object.fromEntries(
      await Promise.all(['sub-a', 'sub-b'].map(async (id) => [id, await connectDevice(runtime.urls.mqtt!, id)])),
    );
    await runtime.rules.idle(); // the devices' presence events
  });

  afterAll(async () => {
    await closeSockets();
    await closeDevices();
    await runtime?.close();
    await removeDataDir(dataDir);
  });

  it('a dashboard gets what is published after its subscribe’s ack, and nothing after its unsubscribe’s ack', async () => {
    const watcher = await WsClient.open(runtime.urls.ws);
    await watcher.subscribe(['sub-a']);
    const late = await WsClient.open(runtime.urls.ws);

    // The broadcaster has cached the sets: `late` follows nothing yet.
    const first = await publish('sub-a', 'sub-b');
    await watcher.waitForReading('sub-a', first);

    await late.subscribe(['sub-b']);
    const second = await publish('sub-a', 'sub-b');
    await late.waitForReading('sub-b', second);
    await watcher.waitForReading('sub-a', second);
    expect(late.readingsOf('sub-b').map((r) => r.ts)).toEqual([second]);

    expect(await late.request({ action: 'unsubscribe', sensorIds: ['sub-b'] })).toEqual({ type: 'subscribed', sensorIds: [] });
    const third = await publish('sub-a', 'sub-b');
    // `watcher` got the batch holding both readings: had `late` still been followed, its frame would be there too.
    await watcher.waitForReading('sub-a', third);
    await sleep(200);
    expect(late.readingsOf('sub-b').map((r) => r.ts)).toEqual([second]);
    expect(watcher.readingsOf('sub-b')).toEqual([]);
  });

  it('a steady live batch costs at most two DynamoDB requests (the version, the save of its claims), neither a state read', async () => {
    const ws = await WsClient.open(runtime.urls.ws);
    await ws.subscribe(['*']);
    // A first round: the sets are read again after the subscribe, and each sensor's open minute enters the shard's state.
    await ws.waitForReading('sub-b', await publish('sub-a', 'sub-b'));

    const requestsBefore = (await runtime.dynamoRequests())[CONNECTIONS_TABLE] ?? {};
    const before = await runtime.billed();
    const rounds = 10;
    for (let round = 0; round < rounds; round++) {
      const ts = await publish('sub-a', 'sub-b');
      await eventually(`round ${round} pushed`, async () =>
        ws.readingsOf('sub-a').some((r) => r.ts === ts) && ws.readingsOf('sub-b').some((r) => r.ts === ts) ? true : undefined,
      );
    }
    const requestsAfter = (await runtime.dynamoRequests())[CONNECTIONS_TABLE] ?? {};
    const after = await runtime.billed();
    const batches = after.lambda.Broadcaster.invocations - before.lambda.Broadcaster.invocations;
    const requests = Object.fromEntries(
      Object.entries(requestsAfter).map(([operation, count]) => [operation, count - (requestsBefore[operation] ?? 0)]),
    );
    const total = Object.values(requests).reduce((sum, n) => sum + n, 0);
    expect(batches).toBeGreaterThanOrEqual(rounds);
    expect(total, JSON.stringify(requests)).toBeLessThanOrEqual(2 * batches);
    // No Query of the sets nor of a sensor's subscribers while nothing changed; the shard's state is the one saved.
    expect(requests.Query ?? 0, JSON.stringify(requests)).toBe(0);
    expect(requests.BatchGetItem ?? 0, JSON.stringify(requests)).toBe(0);
    expect(requests.GetItem ?? 0, JSON.stringify(requests)).toBeLessThanOrEqual(batches);
  });
});
