/**
 * Stream ingest's live claims (lambdas/core/live-shard.ts) against the local runtime and its DynamoDB stand-in:
 * a live batch claims its readings with about one state save, whatever number of watched sensors it holds, and
 * every reading is still pushed exactly once, a QoS 1 duplicate never.
 */
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

const SENSORS = 30;
const ROUNDS = 5;

describe('live claims per stream shard', () => {
  let dataDir: string;
  let runtime: LocalRuntime;

  beforeAll(async () => {
    dataDir = await makeDataDir('vigia-live-claims-');
    runtime = await startTestRuntime(dataDir, { ingest: 'stream', liveWindowMs: 300, historyWindowMs: 200 });
  });

  afterAll(async () => {
    await closeSockets();
    await closeDevices();
    await runtime?.close();
    await removeDataDir(dataDir);
  });

  it(`${SENSORS} watched sensors a batch: the claims cost a few write units a batch, not one a sensor; each reading pushed once`, async () => {
    const ids = Array.from({ length: SENSORS }, (_, i) => `claim-${String(i).padStart(2, '0')}`);
    const devices = await Promise.all(ids.map((id) => connectDevice(runtime.urls.mqtt!, id)));
    const ws = await WsClient.open(runtime.urls.ws);
    ws.send({ action: 'subscribe', sensorIds: ['*'] });
    await ws.waitFor((f) => f.type === 'subscribed');
    // Readings inside the current minute, so the rounds share the sensors' open minute (no mark is flushed).
    const minuteStart = Math.floor(Date.now() / 60_000) * 60_000;
    const ts = (round: number, i: number) => minuteStart + round * 100 + i;
    const publishRound = async (round: number) => {
      await Promise.all(
        devices.map((d, i) =>
          d.publishAsync(telemetryTopic(ids[i]), JSON.stringify({ ts: ts(round, i), values: { v: round } }), { qos: 1 }),
        ),
      );
      await runtime.rules.idle();
      await eventually(`round ${round} pushed`, async () =>
        ids.every((id, i) => ws.readingsOf(id).some((r) => r.ts === ts(round, i))) ? true : undefined,
      );
    };

    // The first round puts the sensors into the shard's state (each claimed once in its minute's mark).
    await publishRound(0);
    const before = await runtime.billed();
    for (let round = 1; round <= ROUNDS; round += 1) await publishRound(round);
    // A QoS 1 duplicate of every sensor's first reading, then a marker round.
    await Promise.all(
      devices.map((d, i) => d.publishAsync(telemetryTopic(ids[i]), JSON.stringify({ ts: ts(0, i), values: { v: 99 } }), { qos: 1 })),
    );
    await runtime.rules.idle();
    await sleep(400);
    await publishRound(ROUNDS + 1);
    const after = await runtime.billed();

    for (const [i, id] of ids.entries()) {
      expect(ws.readingsOf(id).map((r) => r.ts)).toEqual(Array.from({ length: ROUNDS + 2 }, (_, round) => ts(round, i)));
    }
    const invocations = after.lambda.Broadcaster.invocations - before.lambda.Broadcaster.invocations;
    const writes = after.dynamo['vigia-connections'].write - (before.dynamo['vigia-connections']?.write ?? 0);
    expect(invocations).toBeGreaterThanOrEqual(ROUNDS + 2);
    // One save a live batch (~1 KB for 30 sensors, up to 2 units as it grows); a mark a watched sensor a batch
    // (the claims before) would be ≥ 30 a round.
    expect(writes).toBeLessThanOrEqual(3 * invocations);
    expect(writes).toBeLessThan(SENSORS * (ROUNDS + 2));
  });
});
