import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { storeTelemetry, storeTelemetryBatch } from '../../lambdas/core/store-telemetry.js';
import type { Bucket } from '../../lambdas/core/model.js';
import type { SequencedEvent } from '../../lambdas/core/sequence.js';
import { packItemBytes, packMinute } from '../../lambdas/core/reading-pack.js';
import { storeTelemetryStream } from '../../lambdas/core/store-telemetry-stream.js';
import { aggregatePoints, bucketStart, mergeBuckets } from '../../lambdas/core/rollups.js';
import { FakeMetrics, FakeReadingStore, FakeRejectionSink, FakeRollupStore, FakeSensorRegistry, silentLog } from './fakes.js';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const MINUTE = 60_000;
const HOUR = 3_600_000;

describe('bucket arithmetic', () => {
  it('buckets are UTC-aligned; a bucket’s ts is its start', () => {
    expect(bucketStart(NOW + 59_999, '1m')).toBe(NOW);
    expect(bucketStart(NOW + MINUTE, '1m')).toBe(NOW + MINUTE);
    expect(bucketStart(NOW + HOUR - 1, '1h')).toBe(NOW);
    expect(bucketStart(Date.UTC(2026, 0, 15, 12, 34, 56, 789), '1h')).toBe(Date.UTC(2026, 0, 15, 12));
  });

  it('aggregatePoints and mergeBuckets leave empty buckets out and count readings', () => {
    const minutes = aggregatePoints(
      [
        { ts: NOW + 1, values: { a: 1 } },
        { ts: NOW + 2, values: { a: 3, b: 5 } },
        { ts: NOW + 3 * MINUTE, values: { b: 7 } },
      ],
      '1m',
    );
    expect(minutes).toEqual([
      {
        ts: NOW,
        readings: 2,
        lastTs: NOW + 2,
        stats: { a: { min: 1, max: 3, sum: 4, count: 2 }, b: { min: 5, max: 5, sum: 5, count: 1 } },
      },
      { ts: NOW + 3 * MINUTE, readings: 1, lastTs: NOW + 3 * MINUTE, stats: { b: { min: 7, max: 7, sum: 7, count: 1 } } },
    ]);
    expect(mergeBuckets(minutes, '1h')).toEqual([
      {
        ts: NOW,
        readings: 3,
        lastTs: NOW + 3 * MINUTE,
        stats: { a: { min: 1, max: 3, sum: 4, count: 2 }, b: { min: 5, max: 7, sum: 12, count: 2 } },
      },
    ]);
  });
});

interface Sample {
  ts: number;
  values: Record<string, number>;
}

/** The expected buckets, aggregated straight from the distinct raw points. */
function expectedBuckets(points: Sample[], size: number) {
  const out = new Map<number, { readings: number; stats: Record<string, { min: number; max: number; sum: number; count: number }> }>();
  for (const p of points) {
    const start = Math.floor(p.ts / size) * size;
    let b = out.get(start);
    if (!b) out.set(start, (b = { readings: 0, stats: {} }));
    b.readings += 1;
    for (const [m, v] of Object.entries(p.values)) {
      const s = (b.stats[m] ??= { min: v, max: v, sum: 0, count: 0 });
      s.min = Math.min(s.min, v);
      s.max = Math.max(s.max, v);
      s.sum += v;
      s.count += 1;
    }
  }
  return out;
}

function expectSameBuckets(actual: Bucket[], points: Sample[], size: number) {
  const expected = expectedBuckets(points, size);
  expect(actual.map((b) => b.ts)).toEqual([...expected.keys()].sort((a, b) => a - b));
  for (const b of actual) {
    const e = expected.get(b.ts)!;
    expect(b.readings).toBe(e.readings);
    expect(Object.keys(b.stats).sort()).toEqual(Object.keys(e.stats).sort());
    for (const [m, s] of Object.entries(e.stats)) {
      const got = b.stats[m];
      expect(got.min).toBe(s.min);
      expect(got.max).toBe(s.max);
      expect(got.count).toBe(s.count);
      expect(Math.abs(got.sum - s.sum)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(s.sum)));
      expect(Math.abs(got.sum / got.count - s.sum / s.count)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(s.sum / s.count)));
    }
  }
}

/** Each port call first yields a few turns of the event loop, so concurrent invocations really interleave. */
function withJitter<T extends object>(target: T, turns: () => number): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        for (let i = turns(); i > 0; i--) await new Promise((resolve) => setImmediate(resolve));
        return (value as (...a: unknown[]) => unknown).apply(obj, args);
      };
    },
  });
}

describe('roll-ups through storeTelemetry', () => {
  const metricValues = fc
    .dictionary(
      fc.constantFrom('temperature', 'humidity', 'co2'),
      fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }),
      { minKeys: 1 },
    )
    .map((values) => JSON.parse(JSON.stringify(values)) as Record<string, number>); // as a device sends them (-0 is 0 in JSON)
  // Distinct readings within 3 hours before NOW, so minute and hour boundaries are crossed.
  // Over 3 hours many minutes and hours are touched; over 3 minutes concurrent writers meet in one bucket.
  const distinct = fc.constantFrom(3 * HOUR, 3 * MINUTE).chain((span) =>
    fc.uniqueArray(fc.record({ ts: fc.integer({ min: NOW - span, max: NOW }), values: metricValues }), {
      minLength: 1,
      maxLength: 120,
      selector: (r) => r.ts,
    }),
  );
  const scenario = distinct.chain((readings) =>
    fc.record({
      readings: fc.constant(readings),
      // Redeliveries: indexes of readings sent again.
      duplicates: fc.array(fc.nat({ max: readings.length - 1 }), { maxLength: 40 }),
      order: fc.array(fc.nat(), { minLength: readings.length + 40, maxLength: readings.length + 40 }),
      chunkSizes: fc.array(fc.integer({ min: 1, max: 25 }), { minLength: 1, maxLength: 20 }),
      singleForm: fc.constantFrom('form1', 'form3'),
      // Queued ingest hands several rule events to one invocation.
      eventsPerInvocation: fc.integer({ min: 1, max: 4 }),
      // Invocations running at once (Lambda scales out): their reads and writes interleave.
      concurrency: fc.integer({ min: 1, max: 4 }),
      jitterSeed: fc.integer(),
    }),
  );

  it('every 1m and 1h bucket equals aggregating the distinct raw points directly', async () => {
    await fc.assert(
      fc.asyncProperty(
        scenario,
        async ({ readings, duplicates, order, chunkSizes, singleForm, eventsPerInvocation, concurrency, jitterSeed }) => {
          let seed = jitterSeed;
          const turns = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 4;
          const rollups = new FakeRollupStore();
          const deps = {
            readings: withJitter(new FakeReadingStore(), turns),
            rollups: withJitter(rollups, turns),
            sensors: new FakeSensorRegistry(),
            rejections: new FakeRejectionSink(),
            rawRetentionDays: 30,
            log: silentLog,
            metrics: new FakeMetrics(),
          };
          // Out-of-order arrival: a random permutation of the readings and their redeliveries.
          const arrivals = [...readings, ...duplicates.map((i) => readings[i])]
            .map((r, i) => ({ r, key: order[i] }))
            .sort((a, b) => a.key - b.key)
            .map(({ r }) => r);
          const events: unknown[] = [];
          let sent = 0;
          for (let c = 0; sent < arrivals.length; c++) {
            const chunk = arrivals.slice(sent, sent + chunkSizes[c % chunkSizes.length]);
            sent += chunk.length;
            const doc =
              chunk.length > 1
                ? chunk
                : singleForm === 'form1'
                  ? { ts: chunk[0].ts, values: chunk[0].values }
                  : { ts: chunk[0].ts, ...chunk[0].values };
            events.push({ payload: Buffer.from(JSON.stringify(doc)).toString('base64'), sensorId: 's1', receivedAt: NOW });
          }
          const invocations: unknown[][] = [];
          for (let i = 0; i < events.length; i += eventsPerInvocation) invocations.push(events.slice(i, i + eventsPerInvocation));
          for (let i = 0; i < invocations.length; i += concurrency) {
            const wave = await Promise.all(
              invocations
                .slice(i, i + concurrency)
                .map(async (group) =>
                  group.length === 1 ? [await storeTelemetry(group[0], deps)] : await storeTelemetryBatch(group, deps),
                ),
            );
            expect(wave.flat().every((o) => o.accepted)).toBe(true);
          }
          expect(deps.rejections.rejected).toEqual([]);
          expect(deps.readings.rows.get('s1')?.size).toBe(readings.length);
          expectSameBuckets(rollups.bucketsOf('s1', '1m'), readings, MINUTE);
          expectSameBuckets(rollups.bucketsOf('s1', '1h'), readings, HOUR);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('roll-ups and first write wins through storeTelemetryStream', () => {
  const metricValues = fc
    .dictionary(fc.constantFrom('temperature', 'humidity'), fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }), {
      minKeys: 1,
    })
    .map((values) => JSON.parse(JSON.stringify(values)) as Record<string, number>);
  // Two sensors (so batches mix them), readings spanning minutes and hours, arriving mostly in order with
  // late readings (an offline buffer) and redeliveries whose values differ (the first must win).
  const scenario = fc
    .record({
      count: fc.integer({ min: 1, max: 80 }),
      span: fc.constantFrom(3 * HOUR, 5 * MINUTE, MINUTE),
    })
    .chain(({ count, span }) =>
      fc.record({
        readings: fc.uniqueArray(
          fc.record({ sensorId: fc.constantFrom('s1', 's2'), ts: fc.integer({ min: NOW - span, max: NOW }), values: metricValues }),
          { minLength: 1, maxLength: count, selector: (r) => `${r.sensorId}:${r.ts}` },
        ),
        sortedShare: fc.double({ min: 0, max: 1, noNaN: true }),
        shuffle: fc.array(fc.nat(), { minLength: 200, maxLength: 200 }),
        duplicates: fc.array(fc.record({ at: fc.nat(), of: fc.nat(), values: metricValues }), { maxLength: 20 }),
        perRecord: fc.integer({ min: 1, max: 3 }),
        batchSizes: fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 10 }),
        faultSeed: fc.integer(),
        faultRate: fc.constantFrom(0, 0.05, 0.2),
        lostAnswers: fc.array(fc.boolean(), { minLength: 1, maxLength: 10 }),
        // Lambda's BisectBatchOnFunctionError: after a failure the next batch is half the failed one.
        bisect: fc.boolean(),
        // A pack cap small enough that a batch's readings of one minute need several packs (undefined: the real cap).
        packMaxBytes: fc.constantFrom(undefined, 120, 300),
      }),
    );

  it('any split into batches, redelivery of a batch, crash mid-batch or late reading: raw holds the first write and every bucket is exact', async () => {
    let splitSeen = false;
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        let seed = s.faultSeed;
        const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
        let faultsOn = true;
        const readingsStore = new FakeReadingStore();
        const rollups = new FakeRollupStore();
        const sensors = new FakeSensorRegistry();
        const stored: Array<{ sensorId: string; ts: number }> = [];
        // A call may fail before it writes, or after (the answer lost); a batch write may land half.
        const flaky = <T extends object>(target: T, writes: string[]): T =>
          new Proxy(target, {
            get(obj, prop, receiver) {
              const value = Reflect.get(obj, prop, receiver);
              if (typeof value !== 'function') return value;
              return async (...args: unknown[]) => {
                const roll = random();
                if (faultsOn && roll < s.faultRate / 2) throw new Error(`injected before ${String(prop)}`);
                if (faultsOn && (prop === 'putAll' || prop === 'putPacks' || prop === 'putBuckets') && roll < s.faultRate) {
                  const all = args[0] as unknown[];
                  await (value as (...a: unknown[]) => Promise<unknown>).call(obj, all.slice(0, Math.floor(all.length / 2)));
                  throw new Error('injected: half a batch write');
                }
                const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(obj, args);
                if (faultsOn && writes.includes(String(prop)) && roll < s.faultRate) throw new Error(`injected after ${String(prop)}`);
                return result;
              };
            },
          });
        const deps = {
          readings: flaky(readingsStore, ['putAll', 'putPacks']),
          rollups: flaky(rollups, ['putBuckets']),
          sensors: flaky(sensors, ['recordReadings']),
          rejections: new FakeRejectionSink(),
          rawRetentionDays: 30,
          log: silentLog,
          metrics: new FakeMetrics(),
          packMaxBytes: s.packMaxBytes,
          onStored: async (readings: Array<{ sensorId: string; ts: number }>) => {
            stored.push(...readings.map(({ sensorId, ts }) => ({ sensorId, ts })));
          },
        };

        // Arrival order: a share in ts order, the rest shuffled in (late readings), then redeliveries.
        const cut = Math.floor(s.readings.length * s.sortedShare);
        const inOrder = [...s.readings].sort((a, b) => a.ts - b.ts);
        const arrivals = [
          ...inOrder.slice(0, cut),
          ...inOrder
            .slice(cut)
            .map((r, i) => ({ r, k: s.shuffle[i % s.shuffle.length] }))
            .sort((a, b) => a.k - b.k)
            .map(({ r }) => r),
        ];
        for (const d of s.duplicates) {
          const original = arrivals[d.of % arrivals.length];
          arrivals.splice(d.at % (arrivals.length + 1), 0, { ...original, values: d.values });
        }
        // The first arrival of a key is what must be stored.
        const firsts = new Map<string, { sensorId: string; ts: number; values: Record<string, number> }>();
        for (const a of arrivals) if (!firsts.has(`${a.sensorId}:${a.ts}`)) firsts.set(`${a.sensorId}:${a.ts}`, a);

        // Stream records (one or more readings each, of one sensor), with increasing sequence numbers.
        const records: SequencedEvent[] = [];
        for (let i = 0; i < arrivals.length; ) {
          const group = [arrivals[i]];
          while (
            group.length < s.perRecord &&
            i + group.length < arrivals.length &&
            arrivals[i + group.length].sensorId === group[0].sensorId
          ) {
            group.push(arrivals[i + group.length]);
          }
          i += group.length;
          const doc = group.length > 1 ? group.map(({ ts, values }) => ({ ts, values })) : { ts: group[0].ts, values: group[0].values };
          const seq = String(1_000_000_000 + records.length * 7);
          records.push({
            sequenceNumber: seq,
            partitionKey: group[0].sensorId,
            event: { payload: Buffer.from(JSON.stringify(doc)).toString('base64'), sensorId: group[0].sensorId, receivedAt: NOW },
          });
        }

        // Kinesis: batches in order; after a failure, the next batch starts at the failed record; an answer
        // may be lost, and the same batch comes again.
        let at = 0;
        let bisected: number | null = null;
        for (let attempt = 0; at < records.length; attempt++) {
          if (attempt > 200) faultsOn = false;
          expect(attempt).toBeLessThan(400);
          const batch = records.slice(at, at + (bisected ?? s.batchSizes[attempt % s.batchSizes.length]));
          const { firstFailure } = await storeTelemetryStream(batch, deps);
          bisected = null;
          if (firstFailure !== null) {
            at = records.findIndex((r) => r.sequenceNumber === firstFailure);
            if (s.bisect) bisected = Math.max(1, Math.floor(batch.length / 2));
          } else if (!(faultsOn && s.lostAnswers[attempt % s.lostAnswers.length] && random() < 0.3)) at += batch.length;
        }
        if (s.packMaxBytes !== undefined) {
          for (const call of readingsStore.packCalls) {
            const minutes = call.map((p) => `${p.sensorId}:${packMinute(p.start)}`);
            splitSeen ||= new Set(minutes).size < minutes.length;
            for (const pack of call) if (pack.readings.size > 1) expect(packItemBytes(pack)).toBeLessThanOrEqual(s.packMaxBytes);
          }
        }

        for (const sensorId of ['s1', 's2']) {
          const expected = [...firsts.values()].filter((r) => r.sensorId === sensorId);
          const rows = readingsStore.storedOf(sensorId);
          expect(rows.size).toBe(expected.length);
          for (const e of expected) expect(rows.get(e.ts)).toEqual(e.values);
          expectSameBuckets(rollups.bucketsOf(sensorId, '1m'), expected, MINUTE);
          expectSameBuckets(rollups.bucketsOf(sensorId, '1h'), expected, HOUR);
          if (expected.length > 0) {
            const newest = expected.reduce((a, b) => (b.ts > a.ts ? b : a));
            expect(sensors.records.get(sensorId)!.latest).toEqual({ ts: newest.ts, values: newest.values });
          }
        }
        // Alerts saw every stored reading (at least once: retries included).
        expect(new Set(stored.map((r) => `${r.sensorId}:${r.ts}`))).toEqual(new Set(firsts.keys()));
      }),
      { numRuns: 300 },
    );
    // The small caps did split a minute's readings across packs, so that path was exercised.
    expect(splitSeen).toBe(true);
  });
});
