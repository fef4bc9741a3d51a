/**
 * The sensors registry adapter against the DynamoDB stand-in (real conditional writes): contract §6 presence
 * ordering, and §5's forgetting of a sensor that never sent an accepted reading (the table's TTL attribute,
 * hidden from reads at once).
 */
import { readFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoSensorRegistry } from '../../lambdas/adapters/dynamo-sensors.js';
import { handleApiRequest } from '../../lambdas/core/api.js';
import { applyPresenceEvent } from '../../lambdas/core/presence.js';
import { type LocalDynamo, LOCAL_TABLES, startDynamo } from '../../local/dynamo.js';
import { LiveSubscriptions } from '../../lambdas/core/live-subscriptions.js';
import { FakeConnectionRegistry, FakeLiveSender, FakeMetrics, FakeReadingStore, FakeRollupStore, silentLog } from '../unit/fakes.js';
import { makeDataDir, removeDataDir } from '../support/runtime.js';

const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
const DAY = 86_400_000;
const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/${name}.json`, import.meta.url), 'utf8'));

describe('DynamoSensorRegistry on the DynamoDB stand-in', () => {
  let dataDir: string;
  let dynamo: LocalDynamo;
  let doc: DynamoDBDocumentClient;
  let clock = T0;
  let registry: DynamoSensorRegistry;
  const table = LOCAL_TABLES.sensors.name;

  beforeAll(async () => {
    dataDir = await makeDataDir('vigia-registry-');
    dynamo = await startDynamo(dataDir);
    doc = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'local', credentials: dynamo.credentials }));
    registry = new DynamoSensorRegistry(doc, table, () => clock);
  });

  afterAll(async () => {
    doc?.destroy();
    await dynamo?.close();
    await removeDataDir(dataDir);
  });

  const deps = () => {
    const connections = new FakeConnectionRegistry();
    return {
      sensors: registry,
      connections,
      subscriptions: new LiveSubscriptions(connections),
      live: new FakeLiveSender(),
      log: silentLog,
      metrics: new FakeMetrics(),
      now: () => clock,
    };
  };
  const lifecycle = (clientId: string, eventType: 'connected' | 'disconnected', timestamp: number, versionNumber: number) => ({
    clientId,
    eventType,
    timestamp,
    versionNumber,
    sessionIdentifier: 's',
    principalIdentifier: 'a'.repeat(64),
  });
  const reading = (sensorId: string, ts: number) => ({ sensorId, ts, values: { t: 1 }, units: {}, receivedAt: ts });
  const item = async (sensorId: string) => (await doc.send(new GetCommand({ TableName: table, Key: { sensorId } }))).Item;

  it('a quick reconnect delivered out of order, with duplicates, leaves the sensor online', async () => {
    const applied = [];
    for (const e of fixture('iot-presence-quick-reconnect')) applied.push((await applyPresenceEvent(e, deps())).applied);
    expect(applied).toEqual([true, true, false, false, false]);
    expect((await registry.get('greenhouse-1'))!.presence).toEqual({ online: true, ts: 1764160060000, versionNumber: 8 });
  });

  it('every delivery order of connect v1, disconnect v1, connect v2 (each twice) ends online at v2', async () => {
    const events = [lifecycle('x', 'connected', T0, 1), lifecycle('x', 'disconnected', T0 + 10, 1), lifecycle('x', 'connected', T0 + 9, 2)];
    const orders = [
      [0, 1, 2],
      [0, 2, 1],
      [1, 0, 2],
      [1, 2, 0],
      [2, 0, 1],
      [2, 1, 0],
    ];
    for (const [n, order] of orders.entries()) {
      const sensorId = `perm-${n}`;
      for (const i of [...order, ...order]) await applyPresenceEvent({ ...events[i], clientId: sensorId }, deps());
      expect((await registry.get(sensorId))!.presence).toEqual({ online: true, ts: T0 + 9, versionNumber: 2 });
    }
  });

  it('a restarted version applies only when stamped more than 5 minutes after the applied event', async () => {
    await applyPresenceEvent(lifecycle('restart', 'disconnected', T0, 30), deps());
    expect((await applyPresenceEvent(lifecycle('restart', 'connected', T0 + 60_000, 0), deps())).applied).toBe(false);
    expect((await applyPresenceEvent(lifecycle('restart', 'connected', T0 + 3_600_000, 0), deps())).applied).toBe(true);
    expect((await registry.get('restart'))!.presence!.online).toBe(true);
  });

  it('a sensor that only connected and disconnected is forgotten 24 h after the disconnect; a reading keeps it', async () => {
    await applyPresenceEvent(lifecycle('scan-1', 'connected', T0, 1), deps());
    expect((await item('scan-1'))!.expiresAt).toBeUndefined();
    await applyPresenceEvent(lifecycle('scan-1', 'disconnected', T0 + 1000, 1), deps());
    expect((await item('scan-1'))!.expiresAt).toBe((T0 + 1000 + DAY) / 1000);

    clock = T0 + 1000 + DAY - 1000;
    expect(await registry.get('scan-1')).toBeDefined();
    expect((await registry.list()).map((s) => s.sensorId)).toContain('scan-1');
    clock = T0 + 1000 + DAY;
    expect(await registry.get('scan-1')).toBeUndefined();
    expect((await registry.list()).map((s) => s.sensorId)).not.toContain('scan-1');

    // Reconnecting before the sweep brings it back (the connect clears the time) …
    await applyPresenceEvent(lifecycle('scan-1', 'connected', clock, 2), deps());
    expect(await registry.get('scan-1')).toBeDefined();
    // … and after its first accepted reading it is never forgotten, even after another disconnect.
    await registry.recordReadings('scan-1', [reading('scan-1', clock)]);
    await applyPresenceEvent(lifecycle('scan-1', 'disconnected', clock + 1, 2), deps());
    expect((await item('scan-1'))!.expiresAt).toBeUndefined();
    clock += 30 * DAY;
    expect((await registry.get('scan-1'))?.presence?.online).toBe(false);
    clock = T0;
  });

  it('a reading after the disconnect of a never-read sensor removes its forget time', async () => {
    await applyPresenceEvent(lifecycle('late-reader', 'connected', T0, 1), deps());
    await applyPresenceEvent(lifecycle('late-reader', 'disconnected', T0 + 5, 1), deps());
    expect((await item('late-reader'))!.expiresAt).toBeTypeOf('number');
    await registry.recordReadings('late-reader', [reading('late-reader', T0 + 1)]);
    expect((await item('late-reader'))!.expiresAt).toBeUndefined();
  });

  it('GET /sensors and GET /sensors/{id} hide a forgotten sensor at once, before any TTL sweep', async () => {
    await applyPresenceEvent(lifecycle('scan-2', 'connected', T0, 1), deps());
    await applyPresenceEvent(lifecycle('scan-2', 'disconnected', T0 + 1, 1), deps());
    const api = (path: string) =>
      handleApiRequest(
        { method: 'GET', path, query: {}, headers: {} },
        { sensors: registry, readings: new FakeReadingStore(), rollups: new FakeRollupStore(), now: () => clock },
      );
    clock = T0 + 2 * DAY;
    const list = JSON.parse((await api('/sensors')).body) as { sensors: Array<{ sensorId: string }> };
    expect(list.sensors.map((s) => s.sensorId)).not.toContain('scan-2');
    expect(list.sensors.map((s) => s.sensorId)).toContain('greenhouse-1');
    expect((await api('/sensors/scan-2')).status).toBe(404);
    expect((await api('/sensors/scan-2/readings')).status).toBe(404);
    expect(await item('scan-2')).toBeDefined();
    clock = T0;
  });
});
