import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Caller, FrameDeps } from '../../lambdas/core/frames.js';
import { answerFrame, routeWebSocket } from '../../lambdas/core/frames.js';
import { broadcastTelemetry } from '../../lambdas/core/broadcast-telemetry.js';
import { LiveSubscriptions } from '../../lambdas/core/live-subscriptions.js';
import { VERSION_RESTART_AFTER_MS, applyPresenceEvent } from '../../lambdas/core/presence.js';
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

/** The connections following a sensor, by name or through `*`, as the live path reads the sets. */
const followersOf = async (registry: FakeConnectionRegistry, sensorId: string) =>
  (await registry.allSubscriptions()).filter((c) => c.sensorIds.includes(sensorId) || c.sensorIds.includes('*')).map((c) => c.connectionId);
const HOUR = 3_600_000;
const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`../fixtures/${name}.json`, import.meta.url), 'utf8'));
const caller: Caller = { connectionId: 'conn-1', mayCommand: true };

let clock: number;
let ids: number;
let deps: FrameDeps & {
  connections: FakeConnectionRegistry;
  sensors: FakeSensorRegistry;
  live: FakeLiveSender;
  devices: FakeDevicePublisher;
  metrics: FakeMetrics;
};

beforeEach(async () => {
  clock = NOW;
  ids = 0;
  const connections = new FakeConnectionRegistry();
  deps = {
    connections,
    subscriptions: connections,
    commandBudget: connections,
    sensors: new FakeSensorRegistry(),
    live: new FakeLiveSender(),
    devices: new FakeDevicePublisher(),
    metrics: new FakeMetrics(),
    now: () => clock,
    newId: () => `cmd-${++ids}`,
  };
  await deps.connections.open('conn-1');
  deps.sensors.seed({ sensorId: 's1' });
});

const send = (frame: unknown, who: Caller = caller) =>
  answerFrame(who, typeof frame === 'string' ? frame : JSON.stringify(frame), deps) as Promise<any>;
const subs = () => deps.connections.subscriptions('conn-1');
const range = (n: number, prefix = 'x') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const command = (args: unknown, sensorId: unknown = 's1', name: unknown = 'setInterval') => ({
  action: 'command',
  sensorId,
  command: { name, args },
});

describe('subscribe and unsubscribe', () => {
  it('answer the full current set after each change', async () => {
    expect(await send({ action: 'subscribe', sensorIds: ['a', 'b'] })).toEqual({ type: 'subscribed', sensorIds: ['a', 'b'] });
    expect(await send({ action: 'subscribe', sensorIds: ['b', 'c'] })).toEqual({ type: 'subscribed', sensorIds: ['a', 'b', 'c'] });
    expect(await send({ action: 'unsubscribe', sensorIds: ['a', 'zz'] })).toEqual({ type: 'subscribed', sensorIds: ['b', 'c'] });
    expect(await send({ action: 'unsubscribe', sensorIds: ['q'] })).toEqual({ type: 'subscribed', sensorIds: ['b', 'c'] });
    expect(await subs()).toEqual(['b', 'c']);
  });

  it('accepts "*" for every sensor, counting as one subscription', async () => {
    expect(await send({ action: 'subscribe', sensorIds: ['*'] })).toEqual({ type: 'subscribed', sensorIds: ['*'] });
    const reply = await send({ action: 'subscribe', sensorIds: range(99) });
    expect(reply.type).toBe('subscribed');
    expect(reply.sensorIds).toHaveLength(100);
  });

  it('over 100 subscriptions is LIMIT_EXCEEDED and nothing changes', async () => {
    await send({ action: 'subscribe', sensorIds: range(60) });
    expect(await send({ action: 'subscribe', sensorIds: range(41, 'y') })).toMatchObject({ type: 'error', code: 'LIMIT_EXCEEDED' });
    expect(await subs()).toEqual(range(60));
    await send({ action: 'subscribe', sensorIds: range(40, 'y') });
    expect(await send({ action: 'subscribe', sensorIds: ['*'] })).toMatchObject({ type: 'error', code: 'LIMIT_EXCEEDED' });
    // Already subscribed ids add nothing, so they are not over the limit.
    expect(await send({ action: 'subscribe', sensorIds: ['x0', 'y0'] })).toMatchObject({ type: 'subscribed' });
    expect(await subs()).toHaveLength(100);
  });

  it('100 ids in one frame are accepted', async () => {
    expect((await send({ action: 'subscribe', sensorIds: range(100) })).sensorIds).toHaveLength(100);
  });
});

describe('bad frames', () => {
  it.each([
    ['not JSON', 'subscribe me'],
    ['an empty body', ''],
    ['a JSON array', '[{"action":"ping"}]'],
    ['a JSON string', '"ping"'],
    ['JSON null', 'null'],
    ['no action', { sensorIds: ['a'] }],
    ['a non-string action', { action: 7 }],
    ['sensorIds missing', { action: 'subscribe' }],
    ['sensorIds not an array', { action: 'subscribe', sensorIds: 'a' }],
    ['sensorIds empty', { action: 'subscribe', sensorIds: [] }],
    ['an invalid sensor id', { action: 'subscribe', sensorIds: ['a', 'bad id'] }],
    ['a non-string sensor id', { action: 'subscribe', sensorIds: [5] }],
    ['101 ids in one frame', { action: 'subscribe', sensorIds: range(101) }],
    ['unsubscribe with an invalid id', { action: 'unsubscribe', sensorIds: ['a/b'] }],
  ])('%s is BAD_REQUEST and nothing changes', async (_, frame) => {
    await send({ action: 'subscribe', sensorIds: ['keep'] });
    const reply = await send(frame);
    expect(reply).toEqual({ type: 'error', code: 'BAD_REQUEST', message: expect.any(String) });
    expect(await subs()).toEqual(['keep']);
  });

  it('a null body (API Gateway sends none) is BAD_REQUEST', async () => {
    expect(await answerFrame(caller, null, deps)).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
  });

  it('an unknown action is UNKNOWN_ACTION', async () => {
    expect(await send({ action: 'dance' })).toEqual({ type: 'error', code: 'UNKNOWN_ACTION', message: expect.any(String) });
  });

  it('shape is checked before limits: 101 ids on a full connection is BAD_REQUEST', async () => {
    await send({ action: 'subscribe', sensorIds: range(100) });
    expect(await send({ action: 'subscribe', sensorIds: range(101, 'y') })).toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('ping answers pong', async () => {
    expect(await send({ action: 'ping' })).toEqual({ type: 'pong' });
  });
});

describe('command', () => {
  it('publishes {id,name,args,issuedAt} to sensors/{id}/commands and answers commandSent, without a subscription', async () => {
    const reply = await send(command({ intervalMs: 1000 }));
    expect(reply).toEqual({ type: 'commandSent', id: 'cmd-1', sensorId: 's1' });
    expect(deps.devices.published).toEqual([
      { topic: 'sensors/s1/commands', message: { id: 'cmd-1', name: 'setInterval', args: { intervalMs: 1000 }, issuedAt: NOW } },
    ]);
  });

  it('accepts the bounds 100 and 3 600 000', async () => {
    expect(await send(command({ intervalMs: 100 }))).toMatchObject({ type: 'commandSent' });
    expect(await send(command({ intervalMs: 3_600_000 }))).toMatchObject({ type: 'commandSent' });
  });

  it.each([
    ['intervalMs 99', { intervalMs: 99 }],
    ['intervalMs 3600001', { intervalMs: 3_600_001 }],
    ['intervalMs 1.5', { intervalMs: 1.5 }],
    ['intervalMs as a string', { intervalMs: '1000' }],
    ['intervalMs missing', {}],
    ['args missing', undefined],
    ['args null', null],
    ['args an array', [1000]],
  ])('bad args (%s) are BAD_REQUEST and nothing is published', async (_, args) => {
    expect(await send(command(args))).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    expect(deps.devices.published).toEqual([]);
  });

  it.each([
    ['an unknown command', command({ intervalMs: 1000 }, 's1', 'reboot')],
    ['an inherited property name', command({ intervalMs: 1000 }, 's1', 'toString')],
    ['a command without a name', { action: 'command', sensorId: 's1', command: { args: { intervalMs: 1000 } } }],
    ['no command', { action: 'command', sensorId: 's1' }],
    ['an invalid sensorId', command({ intervalMs: 1000 }, 'bad id')],
    ['no sensorId', { action: 'command', command: { name: 'setInterval', args: { intervalMs: 1000 } } }],
  ])('%s is BAD_REQUEST', async (_, frame) => {
    expect(await send(frame)).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    expect(deps.devices.published).toEqual([]);
  });

  it('a sensor never seen is SENSOR_NOT_FOUND', async () => {
    expect(await send(command({ intervalMs: 1000 }, 'ghost'))).toMatchObject({ type: 'error', code: 'SENSOR_NOT_FOUND' });
    expect(deps.devices.published).toEqual([]);
  });

  it('the 11th command within a second is LIMIT_EXCEEDED; the next second has a new budget', async () => {
    for (let i = 0; i < 10; i++) expect(await send(command({ intervalMs: 1000 }))).toMatchObject({ type: 'commandSent' });
    clock = NOW + 999;
    expect(await send(command({ intervalMs: 1000 }))).toMatchObject({ type: 'error', code: 'LIMIT_EXCEEDED' });
    expect(deps.devices.published).toHaveLength(10);
    clock = NOW + 1000;
    expect(await send(command({ intervalMs: 1000 }))).toMatchObject({ type: 'commandSent' });
  });

  it('the rate is per connection', async () => {
    for (let i = 0; i < 10; i++) await send(command({ intervalMs: 1000 }));
    expect(await send(command({ intervalMs: 1000 }), { connectionId: 'conn-2', mayCommand: true })).toMatchObject({ type: 'commandSent' });
  });

  it('checks shape, then role, then limits, then existence', async () => {
    const viewer: Caller = { connectionId: 'conn-1', mayCommand: false };
    // shape before role
    expect(await send(command({ intervalMs: 5 }, 'ghost'), viewer)).toMatchObject({ code: 'BAD_REQUEST' });
    // role before limits and existence
    expect(await send(command({ intervalMs: 1000 }, 'ghost'), viewer)).toMatchObject({ code: 'FORBIDDEN' });
    for (let i = 0; i < 10; i++) await send(command({ intervalMs: 1000 }));
    expect(await send(command({ intervalMs: 1000 }), viewer)).toMatchObject({ code: 'FORBIDDEN' });
    // limits before existence
    expect(await send(command({ intervalMs: 1000 }, 'ghost'))).toMatchObject({ code: 'LIMIT_EXCEEDED' });
    // shape before limits
    expect(await send(command({ intervalMs: 99 }, 'ghost'))).toMatchObject({ code: 'BAD_REQUEST' });
  });
});

describe('routeWebSocket', () => {
  it('$connect opens, a message is answered through the live sender, $disconnect closes', async () => {
    await routeWebSocket('$connect', { connectionId: 'c9', mayCommand: true }, undefined, deps);
    expect(await deps.connections.subscriptions('c9')).toEqual([]);
    await routeWebSocket('subscribe', { connectionId: 'c9', mayCommand: true }, '{"action":"subscribe","sensorIds":["s1"]}', deps);
    await routeWebSocket('$default', { connectionId: 'c9', mayCommand: true }, '{"action":"ping"}', deps);
    expect(deps.live.framesTo('c9')).toEqual([{ type: 'subscribed', sensorIds: ['s1'] }, { type: 'pong' }]);
    await routeWebSocket('$disconnect', { connectionId: 'c9', mayCommand: true }, undefined, deps);
    expect(deps.connections.closed).toEqual(['c9']);
    expect(await followersOf(deps.connections, 's1')).toEqual([]);
  });

  it('an error frame goes back on the same connection, which stays open', async () => {
    await routeWebSocket('$default', caller, 'nope', deps);
    expect(deps.live.framesTo('conn-1')).toEqual([{ type: 'error', code: 'BAD_REQUEST', message: expect.any(String) }]);
    expect(deps.connections.closed).toEqual([]);
  });

  it('a connection gone before its reply is closed', async () => {
    deps.live.gone.add('conn-1');
    await routeWebSocket('$default', caller, '{"action":"subscribe","sensorIds":["s1"]}', deps);
    expect(deps.connections.closed).toEqual(['conn-1']);
    expect(await followersOf(deps.connections, 's1')).toEqual([]);
  });
});

describe('broadcastTelemetry', () => {
  const pushDeps = () => fakeBroadcastDeps(deps.connections, deps.live, { metrics: deps.metrics, now: () => clock });
  const event = (payload: unknown, sensorId = 's1') => ({
    payload: Buffer.from(JSON.stringify(payload)).toString('base64'),
    sensorId,
    receivedAt: NOW,
  });

  beforeEach(async () => {
    await deps.connections.open('conn-2');
    await deps.connections.open('conn-3');
    await deps.connections.setSubscriptions('conn-1', ['s1'], NOW);
    await deps.connections.setSubscriptions('conn-2', ['*'], NOW);
    await deps.connections.setSubscriptions('conn-3', ['s2'], NOW);
  });

  it('pushes a readings frame to the sensor’s subscribers (directly or through *), only them', async () => {
    const result = await broadcastTelemetry(event({ ts: NOW - 1000, values: { t: 1 }, units: { t: 'K' } }), pushDeps());
    const frame = { type: 'readings', readings: [{ sensorId: 's1', ts: NOW - 1000, values: { t: 1 } }] };
    expect(result).toEqual({ pushed: 1, connections: 2 });
    expect(deps.live.framesTo('conn-1')).toEqual([frame]);
    expect(deps.live.framesTo('conn-2')).toEqual([frame]);
    expect(deps.live.framesTo('conn-3')).toEqual([]);
  });

  it('pushes each reading once even when the same event is delivered twice', async () => {
    const e = event([
      { ts: NOW - 2000, values: { t: 1 } },
      { ts: NOW - 1000, values: { t: 2 } },
    ]);
    await broadcastTelemetry(e, pushDeps());
    expect(await broadcastTelemetry(e, pushDeps())).toEqual({ pushed: 0, connections: 0 });
    await broadcastTelemetry(
      event([
        { ts: NOW - 1000, values: { t: 2 } },
        { ts: NOW - 500, values: { t: 3 } },
      ]),
      pushDeps(),
    );
    const pushed = deps.live.framesTo('conn-1').flatMap((f) => f.readings.map((r: { ts: number }) => r.ts));
    expect(pushed).toEqual([NOW - 2000, NOW - 1000, NOW - 500]);
  });

  it('skips an invalid payload', async () => {
    expect(await broadcastTelemetry(event({ values: { t: 'hot' } }), pushDeps())).toEqual({ pushed: 0, connections: 0 });
    expect(deps.live.sent).toEqual([]);
  });

  it('closes a gone connection and still pushes to the others', async () => {
    deps.live.gone.add('conn-2');
    const result = await broadcastTelemetry(event({ values: { t: 1 } }), pushDeps());
    expect(result).toEqual({ pushed: 1, connections: 1 });
    expect(deps.connections.closed).toEqual(['conn-2']);
    expect(deps.live.framesTo('conn-1')).toHaveLength(1);
    expect(await followersOf(deps.connections, 's9')).toEqual([]);
  });
});

describe('applyPresenceEvent', () => {
  const presenceDeps = () => ({
    sensors: deps.sensors,
    connections: deps.connections,
    subscriptions: new LiveSubscriptions(deps.connections),
    live: deps.live,
    log: silentLog,
    metrics: deps.metrics,
    now: () => clock,
  });
  const lifecycle = (eventType: 'connected' | 'disconnected', timestamp: number, versionNumber: number, clientId = 's1') => ({
    clientId,
    timestamp,
    eventType,
    sessionIdentifier: '00000000-0000-0000-0000-000000000000',
    principalIdentifier: 'abc123',
    versionNumber,
    ...(eventType === 'disconnected' ? { disconnectReason: 'CLIENT_INITIATED_DISCONNECT' } : {}),
  });

  beforeEach(async () => {
    await deps.connections.setSubscriptions('conn-1', ['s1'], NOW);
    await deps.connections.open('conn-other');
    await deps.connections.setSubscriptions('conn-other', ['s2'], NOW);
  });

  it('applies a lifecycle event and pushes a status frame to subscribers only', async () => {
    expect(await applyPresenceEvent(lifecycle('connected', NOW, 1), presenceDeps())).toEqual({ applied: true });
    expect(deps.live.framesTo('conn-1')).toEqual([{ type: 'status', sensorId: 's1', online: true, ts: NOW }]);
    expect((await deps.sensors.get('s1'))!.presence).toEqual({ online: true, ts: NOW, versionNumber: 1 });
    await applyPresenceEvent(lifecycle('disconnected', NOW + 5000, 2), presenceDeps());
    expect(deps.live.framesTo('conn-1')[1]).toEqual({ type: 'status', sensorId: 's1', online: false, ts: NOW + 5000 });
    expect(deps.live.framesTo('conn-other')).toEqual([]);
  });

  it('orders by versionNumber, not by timestamp: a lower version is stale even when stamped later', async () => {
    await applyPresenceEvent(lifecycle('connected', NOW, 5), presenceDeps());
    expect(await applyPresenceEvent(lifecycle('disconnected', NOW + 1000, 4), presenceDeps())).toEqual({ applied: false });
    expect((await deps.sensors.get('s1'))!.presence).toEqual({ online: true, ts: NOW, versionNumber: 5 });
    expect(deps.live.framesTo('conn-1')).toHaveLength(1);
    // A higher version applies even with an earlier (approximate) timestamp.
    expect(await applyPresenceEvent(lifecycle('disconnected', NOW - 1, 6), presenceDeps())).toEqual({ applied: true });
    expect((await deps.sensors.get('s1'))!.presence!.online).toBe(false);
  });

  it('at an equal version only a disconnect after its connect applies; duplicates apply once', async () => {
    expect(await applyPresenceEvent(lifecycle('connected', NOW, 3), presenceDeps())).toEqual({ applied: true });
    expect(await applyPresenceEvent(lifecycle('connected', NOW, 3), presenceDeps())).toEqual({ applied: false });
    expect(await applyPresenceEvent(lifecycle('disconnected', NOW + 500, 3), presenceDeps())).toEqual({ applied: true });
    expect(await applyPresenceEvent(lifecycle('disconnected', NOW + 500, 3), presenceDeps())).toEqual({ applied: false });
    // The connect of that same connection, delivered late, does not bring it back online.
    expect(await applyPresenceEvent(lifecycle('connected', NOW, 3), presenceDeps())).toEqual({ applied: false });
    expect((await deps.sensors.get('s1'))!.presence).toEqual({ online: false, ts: NOW + 500, versionNumber: 3 });
    expect(deps.live.framesTo('conn-1').map((f) => (f as { online: boolean }).online)).toEqual([true, false]);
  });

  it('a quick reconnect delivered out of order (the old disconnect after the new connect) stays online', async () => {
    const delivered = fixture('iot-presence-quick-reconnect') as Array<{ clientId: string }>;
    await deps.connections.setSubscriptions('conn-1', ['greenhouse-1'], NOW);
    const applied = [];
    for (const e of delivered) applied.push((await applyPresenceEvent(e, presenceDeps())).applied);
    expect(applied).toEqual([true, true, false, false, false]);
    expect((await deps.sensors.get('greenhouse-1'))!.presence).toEqual({ online: true, ts: 1764160060000, versionNumber: 8 });
    expect(deps.live.framesTo('conn-1').map((f) => (f as { online: boolean }).online)).toEqual([true, true]);
  });

  it('a restarted version (lower, stamped well after the applied event) applies; one within minutes does not', async () => {
    await applyPresenceEvent(lifecycle('connected', NOW, 40), presenceDeps());
    await applyPresenceEvent(lifecycle('disconnected', NOW + 1000, 40), presenceDeps());
    expect(await applyPresenceEvent(lifecycle('connected', NOW + 1000 + VERSION_RESTART_AFTER_MS, 0), presenceDeps())).toEqual({
      applied: false,
    });
    expect(await applyPresenceEvent(lifecycle('connected', NOW + 2 * HOUR, 0), presenceDeps())).toEqual({ applied: true });
    expect((await deps.sensors.get('s1'))!.presence).toEqual({ online: true, ts: NOW + 2 * HOUR, versionNumber: 0 });
  });

  it('never lets delivery order change the outcome: every permutation of a session pair ends in the last state', async () => {
    const events = [lifecycle('connected', NOW, 1), lifecycle('disconnected', NOW + 10, 1), lifecycle('connected', NOW + 9, 2)];
    const permutations = (xs: typeof events): (typeof events)[] =>
      xs.length <= 1 ? [xs] : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
    for (const order of permutations(events)) {
      const sensors = new FakeSensorRegistry();
      for (const e of [...order, ...order]) await applyPresenceEvent(e, { ...presenceDeps(), sensors });
      expect((await sensors.get('s1'))!.presence).toEqual({ online: true, ts: NOW + 9, versionNumber: 2 });
    }
  });

  it('ignores an event without a versionNumber (it cannot be ordered)', async () => {
    const { versionNumber: _v, ...unversioned } = lifecycle('connected', NOW, 1);
    expect(await applyPresenceEvent(unversioned, presenceDeps())).toEqual({ applied: false });
    expect(await applyPresenceEvent({ ...unversioned, versionNumber: -1 }, presenceDeps())).toEqual({ applied: false });
    expect((await deps.sensors.get('s1'))?.presence ?? null).toBeNull();
  });

  it('out-of-order delivery of connect/disconnect never leaves a wrong online', async () => {
    await applyPresenceEvent(lifecycle('disconnected', NOW + 1000, 2), presenceDeps());
    await applyPresenceEvent(lifecycle('connected', NOW, 1), presenceDeps());
    expect((await deps.sensors.get('s1'))!.presence!.online).toBe(false);
  });

  it('ignores an event that is not a lifecycle event of a sensor', async () => {
    for (const e of [
      null,
      {},
      lifecycle('connected', NOW, 1, 'bad id'),
      { ...lifecycle('connected', NOW, 1), eventType: 'subscribed' },
      { ...lifecycle('connected', NOW, 1), timestamp: 'x' },
    ]) {
      expect(await applyPresenceEvent(e, presenceDeps())).toEqual({ applied: false });
    }
    expect(deps.live.sent).toEqual([]);
  });
});

describe('answerFrame: fuzz', () => {
  const anyFrame = fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc
      .record(
        {
          action: fc.oneof(fc.constantFrom('subscribe', 'unsubscribe', 'command', 'ping', 'dance'), fc.jsonValue({ maxDepth: 1 })),
          sensorIds: fc.oneof(
            fc.array(fc.oneof(fc.constantFrom('s1', '*', 'bad id', ''), fc.string({ maxLength: 5 })), { maxLength: 110 }),
            fc.jsonValue({ maxDepth: 1 }),
          ),
          sensorId: fc.oneof(fc.constantFrom('s1', 'ghost', 'bad id'), fc.jsonValue({ maxDepth: 1 })),
          command: fc.oneof(
            fc.record(
              {
                name: fc.oneof(fc.constantFrom('setInterval', 'reboot', 'toString'), fc.jsonValue({ maxDepth: 1 })),
                args: fc.oneof(
                  fc.record({ intervalMs: fc.oneof(fc.integer({ min: 0, max: 4_000_000 }), fc.double(), fc.jsonValue({ maxDepth: 1 })) }),
                  fc.jsonValue({ maxDepth: 1 }),
                ),
              },
              { requiredKeys: [] },
            ),
            fc.jsonValue({ maxDepth: 2 }),
          ),
        },
        { requiredKeys: [] },
      )
      .map((v) => JSON.stringify(v)),
  );
  const TYPES = ['subscribed', 'commandSent', 'pong', 'error'];
  const CODES = ['BAD_REQUEST', 'UNKNOWN_ACTION', 'LIMIT_EXCEEDED', 'SENSOR_NOT_FOUND', 'FORBIDDEN'];

  it('always answers one contract frame; an error frame changes nothing; never more than 100 subscriptions', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(anyFrame, { minLength: 1, maxLength: 6 }), async (frames) => {
        await deps.connections.setSubscriptions('conn-1', [], NOW);
        deps.devices.published.length = 0;
        for (const body of frames) {
          const before = await subs();
          const published = deps.devices.published.length;
          const reply = (await answerFrame(caller, body, deps)) as { type: string; code?: string; sensorIds?: string[] };
          expect(TYPES).toContain(reply.type);
          if (reply.type === 'error') {
            expect(CODES).toContain(reply.code);
            expect(await subs()).toEqual(before);
            expect(deps.devices.published).toHaveLength(published);
          }
          if (reply.type === 'subscribed') expect(reply.sensorIds).toEqual(await subs());
          expect((await subs()).length).toBeLessThanOrEqual(100);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
