/**
 * The history writer on a thread of its own (local/handler-thread.ts), against the local runtime: it stores each
 * reading once, its metrics reach the process's /api/metrics, and a thread that dies loses nothing (its batch is
 * retried from the journal on a new thread).
 */
import type { MqttClient } from 'mqtt';
import { readFileSync, readdirSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { BACKGROUND_NICE } from '../../local/thread-priority.mjs';
import {
  closeDevices,
  connectDevice,
  eventually,
  getJson,
  makeDataDir,
  removeDataDir,
  startTestRuntime,
  telemetryTopic,
} from '../support/runtime.js';

describe('the history writer on its own thread', () => {
  let dataDir: string;
  let runtime: LocalRuntime;
  let device: MqttClient;
  const base = Date.now() - 60_000;

  beforeAll(async () => {
    dataDir = await makeDataDir('vigia-history-thread-');
    runtime = await startTestRuntime(dataDir, { ingest: 'stream', historyWindowMs: 300 });
    device = await connectDevice(runtime.urls.mqtt!, 'ht-1');
  });

  afterAll(async () => {
    await closeDevices();
    await runtime?.close();
    await removeDataDir(dataDir);
  });

  const publish = (from: number, count: number) =>
    Promise.all(
      Array.from({ length: count }, (_, i) =>
        device.publishAsync(telemetryTopic('ht-1'), JSON.stringify({ ts: base + from + i, values: { v: from + i } }), { qos: 1 }),
      ),
    );
  const stored = async () => {
    const res = await getJson(`${runtime.urls.api}/sensors/ht-1/readings?resolution=raw&limit=10000&from=${base - 1000}`);
    return (res.body.points as Array<{ ts: number }>).map((p) => p.ts - base);
  };
  const metric = async (name: string) => {
    const text = await (await fetch(`${runtime.urls.api}/metrics`)).text();
    return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  };

  it('stores each reading once, off the main thread, and counts them in /api/metrics', async () => {
    await publish(0, 20);
    await eventually('20 readings stored', async () => ((await stored()).length === 20 ? true : undefined));
    expect(await stored()).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(runtime.historyThread?.threadId).toBeGreaterThan(0);
    expect(runtime.historyThread?.threadId).not.toBe(threadId);
    // Counted by the history writer in its thread, served by the main thread's registry.
    expect(await metric('vigia_readings_accepted_total')).toBe(20);
  });

  it("reports each thread's memory in /api/metrics: the history writer's beside the main thread's and the stand-in's", async () => {
    // One exposition read at once: each thread's figures are from one report.
    const exposition = async () => {
      const text = await (await fetch(`${runtime.urls.api}/metrics`)).text();
      return (series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    };
    await eventually('every thread reported', async () => {
      const gauge = await exposition();
      return ['main', 'dynamodb', 'dynamodb-live', 'history-writer'].every((t) => gauge(`vigia_local_heap_used_bytes{thread="${t}"}`) > 0)
        ? true
        : undefined;
    });
    const gauge = await exposition();
    for (const thread of ['main', 'dynamodb', 'dynamodb-live', 'history-writer']) {
      const used = gauge(`vigia_local_heap_used_bytes{thread="${thread}"}`);
      expect(gauge(`vigia_local_heap_total_bytes{thread="${thread}"}`)).toBeGreaterThanOrEqual(used);
      expect(gauge(`vigia_local_external_bytes{thread="${thread}"}`)).toBeGreaterThan(0);
    }
    if (process.platform === 'linux') {
      const anonymous = gauge('vigia_local_rss_kind_bytes{kind="anonymous"}');
      expect(anonymous).toBeGreaterThan(0);
      expect(anonymous).toBeLessThan(gauge('vigia_local_rss_bytes'));
    }
  });

  it.runIf(process.platform === 'linux')(
    'runs the history writer and its store in the background: a lower priority than the broker, the live path and its store',
    async () => {
      await eventually('the history thread started', async () => (runtime.historyThread!.threadId !== null ? true : undefined));
      // Each thread's nice value (field 19 of /proc/<pid>/task/<tid>/stat): the test process holds the runtime.
      const nices = readdirSync(`/proc/${process.pid}/task`).map((tid) => {
        const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8');
        return { tid: Number(tid), nice: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) };
      });
      expect(nices.find((t) => t.tid === process.pid)?.nice).toBe(0);
      // The history writer's thread (and its module loader's) and the first DynamoDB store's; the live store stays at 0.
      expect(nices.filter((t) => t.nice === BACKGROUND_NICE).length).toBeGreaterThanOrEqual(2);
      expect(nices.filter((t) => t.nice === 0).length).toBeGreaterThan(nices.length / 2);
    },
  );

  it('a thread that dies loses nothing: its batch is retried on a new thread, each reading stored once', async () => {
    const first = runtime.historyThread!.threadId;
    await publish(20, 30);
    await runtime.historyThread!.terminate();
    await runtime.rules.idle();
    await eventually('50 readings stored', async () => ((await stored()).length === 50 ? true : undefined));
    expect(await stored()).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(runtime.historyThread!.threadId).not.toBe(first);
    expect(await metric('vigia_readings_accepted_total')).toBeGreaterThanOrEqual(50);
  });
});
