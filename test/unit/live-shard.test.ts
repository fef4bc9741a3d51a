/**
 * Live claims on stream ingest (lambdas/core/live-shard.ts): one shard state read and saved per batch, and no
 * reading pushed twice, whatever the batching, Kinesis redelivery, crash between writes, QoS 1 duplicate or late
 * reading.
 */
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { broadcastTelemetryStream } from '../../lambdas/core/broadcast-telemetry.js';
import { LiveSubscriptions } from '../../lambdas/core/live-subscriptions.js';
import { claimOnShard, IDLE_SENSOR_MS, MAX_STATE_BYTES, shardOf, stateBytes } from '../../lambdas/core/live-shard.js';
import type { ReadingKey } from '../../lambdas/core/ports.js';
import type { SequencedEvent } from '../../lambdas/core/sequence.js';
import { FakeConnectionRegistry, FakeLiveSender, fakeBroadcastDeps } from './fakes.js';

const MINUTE = 60_000;
const NOW = Math.floor(1764160000000 / MINUTE) * MINUTE + 30_000;
const SHARD = 'shardId-000000000000';
const seq = (n: number) => String(49_590_000_000 + n);
const items = (from: number, keys: ReadingKey[]) => keys.map((reading, i) => ({ seq: seq(from + i), reading }));

describe('shardOf', () => {
  it('reads the shard from a Kinesis eventID; anything else has none', () => {
    expect(shardOf('shardId-000000000003:49590338271490256608559692538361571095921575989136588898')).toBe('shardId-000000000003');
    expect(shardOf('49590338271490256608559692538361571095921575989136588898')).toBeUndefined();
    expect(shardOf(undefined)).toBeUndefined();
    expect(shardOf(':1')).toBeUndefined();
  });
});

describe('claimOnShard', () => {
  let registry: FakeConnectionRegistry;
  beforeEach(() => {
    registry = new FakeConnectionRegistry();
  });

  it('a steady sensor costs one state read and one save a batch: no mark written until its minute closes', async () => {
    const a = (ts: number) => ({ sensorId: 'a', ts });
    // First sight of the sensor: claimed in its minute's mark (it may have been pushed before the state knew it).
    expect(await claimOnShard(SHARD, items(1, [a(NOW - 2000)]), seq(1), registry, NOW)).toEqual([a(NOW - 2000)]);
    expect(registry.markWrites).toBe(1);
    for (let i = 1; i <= 5; i += 1) {
      expect(await claimOnShard(SHARD, items(1 + i, [a(NOW - 2000 + i * 1000)]), seq(1 + i), registry, NOW + i * 1000)).toEqual([
        a(NOW - 2000 + i * 1000),
      ]);
    }
    expect(registry.markWrites).toBe(1);
    expect(registry.shards.get(SHARD)!.seq).toBe(seq(6));
    // The next minute: the closed minute's ts move to its mark, once.
    expect(await claimOnShard(SHARD, items(7, [a(NOW + 40_000)]), seq(7), registry, NOW + 40_000)).toEqual([a(NOW + 40_000)]);
    expect(registry.markWrites).toBe(2);
    expect(registry.pushed.has(`a#${NOW + 3000}`)).toBe(true);
  });

  it('a redelivered batch (records at or below the shard’s seq) claims nothing and writes nothing', async () => {
    const keys = [
      { sensorId: 'a', ts: NOW },
      { sensorId: 'b', ts: NOW },
    ];
    expect(await claimOnShard(SHARD, items(1, keys), seq(2), registry, NOW)).toEqual(keys);
    const writes = registry.markWrites;
    expect(await claimOnShard(SHARD, items(1, keys), seq(2), registry, NOW)).toEqual([]);
    expect(registry.markWrites).toBe(writes);
  });

  it('a QoS 1 duplicate in a later record is not claimed again: of the newest reading, of an older one, of a late one', async () => {
    const a = (ts: number) => ({ sensorId: 'a', ts });
    await claimOnShard(SHARD, items(1, [a(NOW - 3000), a(NOW - 2000)]), seq(2), registry, NOW);
    // x, y, then x again: x is no longer the newest.
    expect(await claimOnShard(SHARD, items(3, [a(NOW - 1000), a(NOW - 3000), a(NOW - 2000)]), seq(5), registry, NOW)).toEqual([
      a(NOW - 1000),
    ]);
    // A late reading, minutes old: pushed once, then a duplicate of it is not.
    const late = a(NOW - 10 * MINUTE);
    expect(await claimOnShard(SHARD, items(6, [late]), seq(6), registry, NOW)).toEqual([late]);
    expect(await claimOnShard(SHARD, items(7, [late]), seq(7), registry, NOW)).toEqual([]);
  });

  it('a save that loses to another consumer throws: the batch is retried and claims nothing twice', async () => {
    const keys = [{ sensorId: 'a', ts: NOW }];
    await claimOnShard(SHARD, items(1, keys), seq(1), registry, NOW);
    const racing = Object.assign(Object.create(registry), {
      saveLiveShard: async () => false,
      liveShard: registry.liveShard.bind(registry),
      addLiveMarks: registry.addLiveMarks.bind(registry),
    });
    await expect(claimOnShard(SHARD, items(2, [{ sensorId: 'a', ts: NOW + 1 }]), seq(2), racing, NOW)).rejects.toThrow(/another consumer/);
    expect(registry.shards.get(SHARD)!.seq).toBe(seq(1));
  });

  it('past the size bound, sensors the batch does not touch leave first, the longest quiet first; a busy one stays whole', async () => {
    const minute = NOW - 30_000;
    // 30 quiet sensors, 1,000 ts each in the open minute: the state just under its bound. q-0 sent last the earliest.
    const quiet = Array.from({ length: 30 }, (_, i) =>
      Array.from({ length: 1000 }, (_, k) => ({ sensorId: `q-${i}`, ts: minute + i + 30 * k })),
    );
    await claimOnShard(SHARD, items(1, [{ sensorId: 'busy', ts: minute }, ...quiet.flat()]), seq(30_001), registry, NOW);
    expect(stateBytes(registry.shards.get(SHARD)!.sensors)).toBeLessThanOrEqual(MAX_STATE_BYTES);
    // The busy sensor's next 3,000 readings take the state past the bound.
    const busy = Array.from({ length: 3000 }, (_, k) => ({ sensorId: 'busy', ts: NOW + k }));
    expect(await claimOnShard(SHARD, items(30_002, busy), seq(33_001), registry, NOW + 3000)).toHaveLength(3000);
    const state = registry.shards.get(SHARD)!.sensors;
    expect(stateBytes(state)).toBeLessThanOrEqual(MAX_STATE_BYTES);
    expect(state.get('busy')!.ts).toHaveLength(3001);
    const left = quiet.map((_, i) => `q-${i}`).filter((id) => !state.has(id));
    expect(left.length).toBeGreaterThan(0);
    expect(left).toEqual(quiet.slice(0, left.length).map((_, i) => `q-${i}`));
    // What left is in its marks: none of it is claimed again.
    expect(registry.pushed.has(`q-0#${minute + 30 * 999}`)).toBe(true);
    expect(await claimOnShard(SHARD, items(33_002, quiet[0]), seq(34_001), registry, NOW + 4000)).toEqual([]);
  });

  it('a busy sensor past the bound moves its ts to its mark and keeps a floor: later readings cost no mark write, none is pushed twice', async () => {
    const minute = NOW - 30_000;
    const busy = (...ts: number[]) => ts.map((t) => ({ sensorId: 'busy', ts: minute + t }));
    await claimOnShard(SHARD, items(1, busy(0)), seq(1), registry, NOW);
    // 39,998 readings in one minute (all of its first 40 s but +100 ms): far past the bound. The state keeps no ts
    // of the sensor, only its floor.
    const many = busy(...Array.from({ length: 39_999 }, (_, k) => k + 1).filter((t) => t !== 100));
    expect(await claimOnShard(SHARD, items(2, many), seq(39_999), registry, NOW)).toHaveLength(39_998);
    expect(registry.shards.get(SHARD)!.sensors.get('busy')).toEqual({ minute, ts: [], floor: minute + 39_999 });
    expect(registry.pushed.has(`busy#${minute + 39_999}`)).toBe(true);
    // Above the floor: looked up in the state, no mark written.
    const writes = registry.markWrites;
    const above = busy(...Array.from({ length: 10 }, (_, k) => 40_000 + k));
    expect(await claimOnShard(SHARD, items(40_000, above), seq(40_009), registry, NOW + 1000)).toEqual(above);
    expect(registry.markWrites).toBe(writes);
    // Duplicates at or below the floor (found in the mark) and above it (in the state): none pushed again.
    expect(await claimOnShard(SHARD, items(40_010, busy(5, 39_999, 40_005)), seq(40_012), registry, NOW + 1000)).toEqual([]);
    // A late reading below the floor, never pushed: once.
    expect(await claimOnShard(SHARD, items(40_013, busy(100)), seq(40_013), registry, NOW + 1000)).toEqual(busy(100));
    expect(await claimOnShard(SHARD, items(40_014, busy(100)), seq(40_014), registry, NOW + 1000)).toEqual([]);
  });

  it('an idle sensor leaves the state; the state stays under its size bound with thousands of sensors', async () => {
    await claimOnShard(SHARD, items(1, [{ sensorId: 'idle', ts: NOW }]), seq(1), registry, NOW);
    await claimOnShard(
      SHARD,
      items(2, [{ sensorId: 'busy', ts: NOW + IDLE_SENSOR_MS + MINUTE }]),
      seq(2),
      registry,
      NOW + IDLE_SENSOR_MS + MINUTE,
    );
    expect([...registry.shards.get(SHARD)!.sensors.keys()]).toEqual(['busy']);
    expect(registry.pushed.has(`idle#${NOW}`)).toBe(true);

    const t = NOW + 10 * MINUTE;
    const many = Array.from({ length: 3000 }, (_, i) => ({ sensorId: `sensor-with-a-long-name-${i}`, ts: t }));
    await claimOnShard(SHARD, items(3, many), seq(3002), registry, t);
    const next = many.map((r) => ({ ...r, ts: t + 1000 }));
    expect(await claimOnShard(SHARD, items(3003, next), seq(6002), registry, t + 1000)).toHaveLength(3000);
    expect(stateBytes(registry.shards.get(SHARD)!.sensors)).toBeLessThanOrEqual(MAX_STATE_BYTES);
    // Spilled sensors are still never claimed twice.
    expect(await claimOnShard(SHARD, items(6003, [...many, ...next]), seq(12002), registry, t + 2000)).toEqual([]);
  });
});

describe('property: never pushed twice on a shard', () => {
  const sensors = ['a', 'b', 'c'];
  /** Records: each a few readings of one sensor, ts spread over ~5 minutes, with duplicates and late readings. */
  const record = fc.record({
    sensor: fc.constantFrom(...sensors),
    ts: fc.array(
      fc.integer({ min: 0, max: 300 }).map((s) => NOW + s * 1000 - 4 * MINUTE),
      { minLength: 1, maxLength: 4 },
    ),
  });
  const plan = fc
    .record({
      records: fc.array(record, { minLength: 1, maxLength: 40 }),
      cuts: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 40 }),
      /** Per batch: 0 fine; 1 retried after a crash between the marks and the save; 2 redelivered after success. */
      faults: fc.array(fc.constantFrom(0, 0, 0, 1, 2), { minLength: 1, maxLength: 40 }),
      watched: fc.subarray(sensors, { minLength: 1 }),
      /** Per batch, the container that runs it (each with its own cached sets and saved shard state). */
      containers: fc.array(fc.constantFrom(0, 0, 1), { minLength: 1, maxLength: 40 }),
      /** A second dashboard's subscription, changed before some batches (undefined: unchanged). */
      resubscribe: fc.array(fc.option(fc.subarray(sensors), { freq: 3 }), { minLength: 1, maxLength: 40 }),
      /** The state's size bound: small ones make sensors leave it, or move their ts to their marks, all the time. */
      stateBytes: fc.constantFrom(12, 24, 40, 80, MAX_STATE_BYTES),
      /** Every ts in the 20 s before NOW, so a sensor's records meet again in its open minute (and past its floor). */
      near: fc.boolean(),
    })
    .map(({ near, ...p }) => {
      const inOpenMinute = (ts: number) => NOW - 20_000 + (Math.round((ts - NOW + 4 * MINUTE) / 1000) % 20) * 1000;
      return near ? { ...p, records: p.records.map((r) => ({ ...r, ts: r.ts.map(inOpenMinute) })) } : p;
    });

  it('each reading is pushed at most once; with no crash, every followed reading exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(plan, async ({ records, cuts, faults, watched, containers, resubscribe, stateBytes: liveStateBytes }) => {
        const connections = new FakeConnectionRegistry();
        const live = new FakeLiveSender();
        await connections.setSubscriptions('dash', watched, NOW);
        let crash = false;
        const registry = Object.assign(Object.create(connections) as FakeConnectionRegistry, {
          addLiveMarks: connections.addLiveMarks.bind(connections),
          liveShard: connections.liveShard.bind(connections),
          saveLiveShard: async (...args: Parameters<FakeConnectionRegistry['saveLiveShard']>) => {
            if (crash) throw new Error('crash');
            return connections.saveLiveShard(...args);
          },
        });
        const stream: SequencedEvent[] = records.map((r, i) => ({
          sequenceNumber: seq(i),
          partitionKey: r.sensor,
          shardId: SHARD,
          event: {
            payload: Buffer.from(JSON.stringify(r.ts.map((ts) => ({ ts, values: { v: 1 } })))).toString('base64'),
            sensorId: r.sensor,
            receivedAt: NOW,
          },
        }));
        // The claims through the crashing registry; the subscription sets read from the table itself.
        const deps = [0, 1].map(() => ({
          ...fakeBroadcastDeps(registry, live, { subscriptions: new LiveSubscriptions(connections) }),
          liveStateBytes,
        }));
        /** What the second dashboard follows when each record comes: those readings it must get. */
        const followedBySecond: string[][] = [];
        /**
         * What it follows whenever a batch holding each record runs (its first run, a retry, a redelivery): it may get
         * those readings. A redelivered record that was never pushed (nobody followed its sensor when it came) may be
         * pushed then, once: the contract forbids pushing a reading again, not pushing it late.
         */
        const followedWhenRun: Array<Set<string>> = records.map(() => new Set());
        const ran = (from: number, to: number) => {
          for (let i = from; i < to; i++) for (const sensor of second) followedWhenRun[i].add(sensor);
        };
        let second: string[] = [];
        let at = 0;
        let crashed = false;
        for (let b = 0; at < stream.length; b += 1) {
          const batch = stream.slice(at, at + cuts[b % cuts.length]);
          const change = resubscribe[b % resubscribe.length];
          if (change) {
            second = change;
            await connections.setSubscriptions('second', second, NOW);
          }
          for (let i = 0; i < batch.length; i++) followedBySecond.push(second);
          const container = deps[containers[b % containers.length]];
          const now = () => NOW + at * 1000;
          const fault = faults[b % faults.length];
          ran(at, at + batch.length);
          if (fault === 1) {
            crash = true;
            const failed = await broadcastTelemetryStream(batch, { ...container, now });
            crash = false;
            // Only a batch with followed readings touches the state (and so meets the crash).
            if (failed.firstFailure !== null) crashed = true;
            expect([null, batch[0].sequenceNumber]).toContain(failed.firstFailure);
          }
          expect((await broadcastTelemetryStream(batch, { ...container, now })).firstFailure).toBeNull();
          if (fault === 2) {
            ran(Math.max(0, at - 3), at + batch.length);
            await broadcastTelemetryStream(stream.slice(Math.max(0, at - 3), at + batch.length), { ...container, now });
          }
          at += batch.length;
        }
        const pushed = live
          .framesTo('dash')
          .flatMap((f: { readings: Array<{ sensorId: string; ts: number }> }) => f.readings.map((r) => `${r.sensorId}#${r.ts}`));
        expect(new Set(pushed).size).toBe(pushed.length);
        if (!crashed) {
          const expected = new Set(records.filter((r) => watched.includes(r.sensor)).flatMap((r) => r.ts.map((ts) => `${r.sensor}#${ts}`)));
          expect(new Set(pushed)).toEqual(expected);
        }
        // The second dashboard: never a reading twice, never one of a sensor it did not follow while a batch holding
        // its record ran.
        const toSecond = live
          .framesTo('second')
          .flatMap((f: { readings: Array<{ sensorId: string; ts: number }> }) => f.readings.map((r) => `${r.sensorId}#${r.ts}`));
        expect(new Set(toSecond).size).toBe(toSecond.length);
        const keysOf = (keep: (r: (typeof records)[number], i: number) => boolean) =>
          new Set(records.flatMap((r, i) => (keep(r, i) ? r.ts.map((ts) => `${r.sensor}#${ts}`) : [])));
        const allowed = keysOf((r, i) => followedWhenRun[i].has(r.sensor));
        for (const key of toSecond) expect(allowed).toContain(key);
        if (!crashed) {
          // A reading whose every record came while the second dashboard followed its sensor reached it.
          const followedAtCome = keysOf((r, i) => followedBySecond[i].includes(r.sensor));
          const unfollowedAt = keysOf((r, i) => !followedBySecond[i].includes(r.sensor));
          for (const key of followedAtCome) if (!unfollowedAt.has(key)) expect(toSecond).toContain(key);
        }
      }),
      {
        numRuns: 150,
        examples: [
          // A busy sensor's ts moved to its mark behind a floor; a duplicate below the floor comes later.
          [
            {
              records: [
                { sensor: 'a', ts: [NOW - 10_000, NOW - 9_000, NOW - 8_000] },
                { sensor: 'a', ts: [NOW - 7_000] },
                { sensor: 'a', ts: [NOW - 10_000] },
              ],
              cuts: [1],
              faults: [0],
              watched: ['a'],
              containers: [0],
              resubscribe: [null],
              stateBytes: 12,
            },
          ],
          // Found by earlier runs. A batch on a container's stale save put a late reading in a minute it then closed:
          // the mark took it as pushed before the save failed, and the claim on the state as read skipped it.
          [
            {
              records: [
                { sensor: 'c', ts: [NOW - 150_000, NOW - 240_000] },
                { sensor: 'c', ts: [NOW - 90_000, NOW - 240_000] },
                { sensor: 'c', ts: [NOW - 149_000, NOW - 90_000] },
              ],
              cuts: [1],
              faults: [0],
              watched: ['c'],
              containers: [1, 0],
              resubscribe: [null],
              stateBytes: MAX_STATE_BYTES,
            },
          ],
          // A record nobody followed, redelivered once a dashboard follows its sensor: pushed to it then, once.
          [
            {
              records: [
                ...Array.from({ length: 6 }, () => ({ sensor: 'a', ts: [NOW - 240_000] })),
                { sensor: 'c', ts: [NOW - 240_000] },
                { sensor: 'b', ts: [NOW - 240_000] },
              ],
              cuts: [1, 4, 1],
              faults: [0, 0, 0, 0, 2, 0],
              watched: ['a'],
              containers: [0],
              resubscribe: [null, null, null, null, ['c']],
              stateBytes: MAX_STATE_BYTES,
            },
          ],
        ],
      },
    );
  });
});
