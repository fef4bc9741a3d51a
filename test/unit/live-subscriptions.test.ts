/**
 * The live path's subscriber sets, cached per container and revalidated by the subscriptions' version: what each
 * live batch reads, and that a subscribe, an unsubscribe and a disconnect are seen by the next batch.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { broadcastTelemetryStream } from '../../lambdas/core/broadcast-telemetry.js';
import type { Caller, FrameDeps } from '../../lambdas/core/frames.js';
import { routeWebSocket } from '../../lambdas/core/frames.js';
import { applyPresenceEvent } from '../../lambdas/core/presence.js';
import { SavedShardStates } from '../../lambdas/core/live-shard.js';
import { LiveSubscriptions, MAX_SUBSCRIPTIONS_AGE_MS } from '../../lambdas/core/live-subscriptions.js';
import type { SequencedEvent } from '../../lambdas/core/sequence.js';
import {
  FakeConnectionRegistry,
  FakeDevicePublisher,
  FakeLiveSender,
  FakeMetrics,
  FakeSensorRegistry,
  silentLog,
  fakeBroadcastDeps,
} from './fakes.js';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const SHARD = 'shardId-000000000000';

describe('LiveSubscriptions', () => {
  let registry: FakeConnectionRegistry;
  let subscriptions: LiveSubscriptions;
  beforeEach(async () => {
    registry = new FakeConnectionRegistry();
    subscriptions = new LiveSubscriptions(registry);
    await registry.setSubscriptions('by-name', ['a', 'b'], NOW);
    await registry.setSubscriptions('everything', ['*'], NOW);
    await registry.setSubscriptions('a-and-all', ['a', '*'], NOW);
  });

  it('reads the sets once, then only the version while it stays; each connection once per sensor', async () => {
    const first = await subscriptions.read(['a', 'c'], NOW);
    expect(first.subscribers).toEqual(
      new Map([
        ['a', ['by-name', 'a-and-all', 'everything']],
        ['c', ['everything', 'a-and-all']],
      ]),
    );
    for (let i = 1; i <= 5; i++) await subscriptions.read(['b'], NOW + i);
    expect(registry.liveReads).toEqual({ version: 6, withShard: 0, snapshots: 1 });
    expect((await subscriptions.read(['b'], NOW + 10)).subscribers.get('b')!.sort()).toEqual(['a-and-all', 'by-name', 'everything']);
  });

  it('a subscribe, an unsubscribe and a close move the version on: the next read sees each', async () => {
    const sensor = async (id: string) => ((await subscriptions.read([id], NOW)).subscribers.get(id) ?? []).sort();
    expect(await sensor('z')).toEqual(['a-and-all', 'everything']);
    await registry.setSubscriptions('z-only', ['z'], NOW);
    expect(await sensor('z')).toEqual(['a-and-all', 'everything', 'z-only']);
    await registry.setSubscriptions('everything', [], NOW);
    expect(await sensor('z')).toEqual(['a-and-all', 'z-only']);
    await registry.close('a-and-all');
    expect(await sensor('z')).toEqual(['z-only']);
    expect(registry.liveReads.snapshots).toBe(4);
  });

  it('a connection closed without subscriptions leaves the version, and the cache, as they were', async () => {
    await subscriptions.read(['a'], NOW);
    await registry.open('idle');
    await registry.close('idle');
    await subscriptions.read(['a'], NOW);
    expect(registry.liveReads.snapshots).toBe(1);
  });

  it('with a shard: the state is read with the version when someone may follow, not when no one does', async () => {
    const only = new FakeConnectionRegistry();
    const live = new LiveSubscriptions(only);
    await only.setSubscriptions('dash', ['a'], NOW);
    // Nothing cached yet: the shard is read with the version.
    expect((await live.read(['a'], NOW, SHARD)).shard).toEqual({ seq: null, sensors: new Map() });
    // Cached and nobody follows `b`: the version alone.
    expect(await live.read(['b'], NOW, SHARD)).toEqual({ subscribers: new Map() });
    expect(only.liveReads).toEqual({ version: 2, withShard: 1, snapshots: 1 });
    // `b` newly followed: the version says so, the sets are read again, and the shard's state after them.
    await only.setSubscriptions('dash', ['a', 'b'], NOW);
    const read = await live.read(['b'], NOW, SHARD);
    expect(read.subscribers).toEqual(new Map([['b', ['dash']]]));
    expect(read.shard).toBeDefined();
    expect(only.liveReads).toEqual({ version: 4, withShard: 2, snapshots: 2 });
  });

  it('a change landing while the sets are read is seen by the next batch (the cache keeps the version read before)', async () => {
    const racing = Object.assign(Object.create(registry) as FakeConnectionRegistry, {
      liveVersion: registry.liveVersion.bind(registry),
      allSubscriptions: async () => {
        const sets = await registry.allSubscriptions();
        await registry.setSubscriptions('late', ['a'], NOW); // after the sets were read
        return sets;
      },
    });
    const live = new LiveSubscriptions(racing);
    expect((await live.read(['a'], NOW)).subscribers.get('a')).not.toContain('late');
    expect((await live.read(['a'], NOW)).subscribers.get('a')).toContain('late');
  });

  it(`reads the sets again after ${MAX_SUBSCRIPTIONS_AGE_MS / 1000} s even if the version did not move (a change whose version move failed)`, async () => {
    await subscriptions.read(['a'], NOW);
    registry.subs.set('unversioned', ['a']); // written, but the version move after it failed
    expect((await subscriptions.read(['a'], NOW + MAX_SUBSCRIPTIONS_AGE_MS - 1)).subscribers.get('a')).not.toContain('unversioned');
    expect((await subscriptions.read(['a'], NOW + MAX_SUBSCRIPTIONS_AGE_MS)).subscribers.get('a')).toContain('unversioned');
  });

  it('batches at once that find the same version stale share one read of the sets; a failed read is not kept', async () => {
    await Promise.all([subscriptions.read(['a'], NOW), subscriptions.read(['b'], NOW), subscriptions.read(['c'], NOW)]);
    expect(registry.liveReads.snapshots).toBe(1);

    let down = true;
    const failing = Object.assign(Object.create(registry) as FakeConnectionRegistry, {
      liveVersion: registry.liveVersion.bind(registry),
      allSubscriptions: async () => {
        if (down) throw new Error('throttled');
        return registry.allSubscriptions();
      },
    });
    const live = new LiveSubscriptions(failing);
    await expect(live.read(['a'], NOW)).rejects.toThrow('throttled');
    down = false;
    expect((await live.read(['a'], NOW)).subscribers.get('a')).toContain('by-name');
  });
});

describe('the live broadcaster with cached subscriptions, driven by WebSocket frames', () => {
  let registry: FakeConnectionRegistry;
  let live: FakeLiveSender;
  let frameDeps: FrameDeps;
  let next: number;
  /** One container's broadcaster: its subscription cache and shard states live across batches. */
  let subscriptions: LiveSubscriptions;
  let shardStates: SavedShardStates;

  beforeEach(async () => {
    registry = new FakeConnectionRegistry();
    live = new FakeLiveSender();
    subscriptions = new LiveSubscriptions(registry);
    shardStates = new SavedShardStates();
    next = 0;
    const sensors = new FakeSensorRegistry();
    frameDeps = {
      connections: registry,
      subscriptions: registry,
      commandBudget: registry,
      sensors,
      live,
      devices: new FakeDevicePublisher(),
      metrics: new FakeMetrics(),
      now: () => NOW,
      newId: () => 'id',
    };
    for (const id of ['dash-1', 'dash-2']) await routeWebSocket('$connect', caller(id), null, frameDeps);
    await frame('dash-1', { action: 'subscribe', sensorIds: ['a'] });
  });

  const caller = (connectionId: string): Caller => ({ connectionId, mayCommand: false });
  const frame = (connectionId: string, body: unknown) => routeWebSocket('MESSAGE', caller(connectionId), JSON.stringify(body), frameDeps);
  /** A live batch of one reading of `sensorId` per record, each with a new ts. */
  const batch = async (sensorId: string | string[], count = 1) => {
    const records: SequencedEvent[] = [sensorId].flat().flatMap((id) =>
      Array.from({ length: count }, () => {
        next += 1;
        const ts = NOW - 30_000 + next;
        return {
          sequenceNumber: String(1000 + next),
          partitionKey: id,
          shardId: SHARD,
          event: { payload: Buffer.from(JSON.stringify({ ts, values: { v: next } })).toString('base64'), sensorId: id, receivedAt: NOW },
        };
      }),
    );
    const result = await broadcastTelemetryStream(
      records,
      fakeBroadcastDeps(registry, live, { subscriptions, shardStates, now: () => NOW }),
    );
    expect(result.firstFailure).toBeNull();
  };
  const readingsTo = (connectionId: string) =>
    live
      .framesTo(connectionId)
      .filter((f: { type: string }) => f.type === 'readings')
      .flatMap((f: { readings: unknown[] }) => f.readings).length;

  it('a dashboard gets the readings after its subscribe is acked, and none after its unsubscribe is acked', async () => {
    await batch('a');
    await batch('b');
    expect([readingsTo('dash-1'), readingsTo('dash-2')]).toEqual([1, 0]);

    await frame('dash-2', { action: 'subscribe', sensorIds: ['b'] });
    expect(live.framesTo('dash-2').at(-1)).toEqual({ type: 'subscribed', sensorIds: ['b'] });
    await batch('b', 2);
    expect(readingsTo('dash-2')).toBe(2);

    await frame('dash-2', { action: 'unsubscribe', sensorIds: ['b'] });
    expect(live.framesTo('dash-2').at(-1)).toEqual({ type: 'subscribed', sensorIds: [] });
    await batch('b');
    expect(readingsTo('dash-2')).toBe(2);
  });

  it('a disconnected dashboard is dropped from the sets; a `*` dashboard gets every sensor from its ack on', async () => {
    await routeWebSocket('$disconnect', caller('dash-1'), null, frameDeps);
    await frame('dash-2', { action: 'subscribe', sensorIds: ['*'] });
    await batch('a');
    expect(live.framesTo('dash-1').filter((f: { type: string }) => f.type === 'readings')).toEqual([]);
    expect(readingsTo('dash-2')).toBe(1);
  });

  it('presence tells the sensor’s subscribers from the same cached sets: a version read per event', async () => {
    const presence = (versionNumber: number) =>
      applyPresenceEvent(
        {
          clientId: 'a',
          eventType: 'connected',
          timestamp: NOW + versionNumber,
          versionNumber,
          sessionIdentifier: 's',
          principalIdentifier: 'p',
        },
        { ...frameDeps, sensors: new FakeSensorRegistry(), subscriptions, log: silentLog },
      );
    await presence(1);
    const before = { ...registry.liveReads };
    await presence(2);
    await presence(3);
    expect(registry.liveReads.snapshots - before.snapshots).toBe(0);
    expect(registry.liveReads.version - before.version).toBe(2);
    expect(live.framesTo('dash-1').filter((f: { type: string }) => f.type === 'status')).toHaveLength(3);
    expect(live.framesTo('dash-2').filter((f: { type: string }) => f.type === 'status')).toEqual([]);
  });

  it('steady batches read the version and save the shard’s state, at once; neither the state nor the sets are read again', async () => {
    await batch('a');
    const before = { ...registry.liveReads, shardReads: registry.shardReads, saves: registry.shardSaves };
    let inFlight = 0;
    let most = 0;
    const at = (read: () => Promise<unknown>) => async () => {
      most = Math.max(most, ++inFlight);
      await Promise.resolve();
      return read().finally(() => inFlight--);
    };
    registry.liveVersion = at(registry.liveVersion.bind(registry, undefined)) as typeof registry.liveVersion;
    const save = registry.saveLiveShard.bind(registry);
    registry.saveLiveShard = async (...args) => at(() => save(...args))() as Promise<boolean>;
    for (let i = 0; i < 10; i++) await batch('a', 3);
    expect(registry.liveReads.snapshots - before.snapshots).toBe(0);
    expect(registry.liveReads.version - before.version).toBe(10);
    expect(registry.liveReads.withShard - before.withShard).toBe(0);
    expect(registry.shardReads - before.shardReads).toBe(0);
    expect(registry.shardSaves - before.saves).toBe(10);
    expect(most).toBe(2);
    expect(readingsTo('dash-1')).toBe(31);
  });

  it('a batch after a subscribe pushes the newly followed sensor’s readings too, once, beside those claimed ahead', async () => {
    await batch('a');
    await frame('dash-2', { action: 'subscribe', sensorIds: ['b'] });
    await batch(['a', 'b'], 2);
    expect([readingsTo('dash-1'), readingsTo('dash-2')]).toEqual([3, 2]);
    // Redelivered: nothing again.
    next -= 4;
    await batch(['a', 'b'], 2);
    expect([readingsTo('dash-1'), readingsTo('dash-2')]).toEqual([3, 2]);
  });

  it('a version read that fails after the claim was saved pushes to the cached sets; with nothing claimed, the batch fails', async () => {
    await batch('a');
    const liveVersion = registry.liveVersion.bind(registry);
    registry.liveVersion = async () => {
      throw new Error('throttled');
    };
    await batch('a');
    expect(readingsTo('dash-1')).toBe(2);
    next += 1;
    const unfollowed: SequencedEvent = {
      sequenceNumber: String(1000 + next),
      partitionKey: 'b',
      shardId: SHARD,
      event: {
        payload: Buffer.from(JSON.stringify({ ts: NOW - 1000, values: { v: 1 } })).toString('base64'),
        sensorId: 'b',
        receivedAt: NOW,
      },
    };
    const deps = fakeBroadcastDeps(registry, live, { subscriptions, shardStates, now: () => NOW });
    expect((await broadcastTelemetryStream([unfollowed], deps)).firstFailure).toBe(unfollowed.sequenceNumber);
    registry.liveVersion = liveVersion;
    expect((await broadcastTelemetryStream([unfollowed], deps)).firstFailure).toBeNull();
  });

  it('a container whose last save another consumer overtook claims on the state as read, never twice', async () => {
    await batch('a');
    // Another container took the shard's next batch.
    const other = fakeBroadcastDeps(registry, live, { now: () => NOW });
    next += 1;
    const ts = NOW - 30_000 + next;
    const record = (seq: number, t: number) => ({
      sequenceNumber: String(1000 + seq),
      partitionKey: 'a',
      shardId: SHARD,
      event: { payload: Buffer.from(JSON.stringify({ ts: t, values: { v: 1 } })).toString('base64'), sensorId: 'a', receivedAt: NOW },
    });
    expect((await broadcastTelemetryStream([record(next, ts)], other)).firstFailure).toBeNull();
    // Here again: the same reading redelivered in a later record (QoS 1), and a new one.
    const saves = registry.shardSaves;
    await batch('a');
    const withShard = registry.liveReads.withShard;
    const dupe = await broadcastTelemetryStream(
      [record(next + 1, ts)],
      fakeBroadcastDeps(registry, live, { subscriptions, shardStates, now: () => NOW }),
    );
    expect(dupe.firstFailure).toBeNull();
    expect(readingsTo('dash-1')).toBe(3);
    // One save lost to the other container; for a while this one then reads the state before claiming.
    expect(registry.shardSaves - saves).toBe(3);
    expect(registry.liveReads.withShard - withShard).toBe(1);
  });
});
