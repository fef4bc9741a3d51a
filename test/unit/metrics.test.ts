/** The operations metrics: what the use cases record (with a fake), and the EMF and Prometheus adapters. */
import { Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EmfMetrics } from '../../lambdas/adapters/emf-metrics.js';
import { MetricsRegistry } from '../../local/memory-metrics.js';
import { routeWebSocket } from '../../lambdas/core/frames.js';
import { broadcastTelemetryBatch } from '../../lambdas/core/broadcast-telemetry.js';
import { pushToConnections } from '../../lambdas/core/push.js';
import { storeTelemetryBatch } from '../../lambdas/core/store-telemetry.js';
import { METRICS } from '../../lambdas/shared/names.js';
import {
  FakeConnectionRegistry,
  FakeDevicePublisher,
  FakeLiveSender,
  FakeMetrics,
  FakeReadingStore,
  FakeRejectionSink,
  FakeRollupStore,
  FakeSensorRegistry,
  silentLog,
  fakeBroadcastDeps,
} from './fakes.js';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const event = (payload: unknown, receivedAt = NOW, sensorId = 's1') => ({
  payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)).toString('base64'),
  sensorId,
  receivedAt,
});

describe('the use cases record', () => {
  let metrics: FakeMetrics;
  beforeEach(() => {
    metrics = new FakeMetrics();
  });

  it('storeTelemetryBatch: readings accepted, payloads rejected by reason, the batch size', async () => {
    await storeTelemetryBatch(
      [
        event([
          { ts: NOW - 2000, values: { t: 1 } },
          { ts: NOW - 1000, values: { t: 2 } },
        ]),
        event('not json'),
        event({ ts: NOW - 500, values: { t: 3 } }),
        { nothing: true },
      ],
      {
        readings: new FakeReadingStore(),
        rollups: new FakeRollupStore(),
        sensors: new FakeSensorRegistry(),
        rejections: new FakeRejectionSink(),
        rawRetentionDays: 30,
        log: silentLog,
        metrics,
      },
    );
    expect(metrics.total(METRICS.readingsAccepted)).toBe(3);
    expect(metrics.total(METRICS.readingsRejected)).toBe(2);
    expect(metrics.total(METRICS.readingsRejected, { Reason: 'INVALID_JSON' })).toBe(1);
    expect(metrics.total(METRICS.readingsRejected, { Reason: 'INVALID_EVENT' })).toBe(1);
    expect(metrics.observed(METRICS.batchSize)).toEqual([4]);
  });

  it('broadcastTelemetryBatch: frames pushed, gone connections, receive-to-push latency per pushed reading', async () => {
    const connections = new FakeConnectionRegistry();
    const live = new FakeLiveSender();
    for (const id of ['c1', 'c2']) {
      await connections.open(id);
      await connections.setSubscriptions(id, ['s1'], NOW);
    }
    live.gone.add('c2');
    await broadcastTelemetryBatch(
      [event({ ts: NOW - 100, values: { t: 1 } }, NOW - 40), event({ ts: NOW - 50, values: { t: 2 } }, NOW - 10)],
      fakeBroadcastDeps(connections, live, { metrics, now: () => NOW }),
    );
    expect(metrics.total(METRICS.livePushes)).toBe(1);
    expect(metrics.total(METRICS.goneConnectionsRemoved)).toBe(1);
    expect(metrics.observed(METRICS.receiveToPushLatency)).toEqual([40, 10]);
  });

  it('pushToConnections counts each delivered frame', async () => {
    const connections = new FakeConnectionRegistry();
    await pushToConnections(
      ['a', 'b', 'c'],
      { type: 'pong' },
      { connections, live: new FakeLiveSender(), log: silentLog, metrics, now: () => NOW },
    );
    expect(metrics.total(METRICS.livePushes)).toBe(3);
  });

  it('routeWebSocket: a reply is a push; a gone caller is a removed connection', async () => {
    const live = new FakeLiveSender();
    const connections = new FakeConnectionRegistry();
    const deps = {
      connections,
      subscriptions: connections,
      commandBudget: connections,
      sensors: new FakeSensorRegistry(),
      live,
      devices: new FakeDevicePublisher(),
      metrics,
      now: () => NOW,
      newId: () => 'id',
    };
    await routeWebSocket('$default', { connectionId: 'c1', mayCommand: true }, '{"action":"ping"}', deps);
    live.gone.add('c2');
    await routeWebSocket('$default', { connectionId: 'c2', mayCommand: true }, '{"action":"ping"}', deps);
    expect(metrics.total(METRICS.livePushes)).toBe(1);
    expect(metrics.total(METRICS.goneConnectionsRemoved)).toBe(1);
  });
});

describe('EmfMetrics', () => {
  let lines: string[];
  beforeEach(() => {
    lines = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
  });
  afterEach(() => vi.restoreAllMocks());

  const blobs = () =>
    lines
      .flatMap((l) => l.split('\n'))
      .filter((l) => l.includes('_aws'))
      .map((l) => JSON.parse(l));

  it('publishes summed counters in namespace Vigia with the service dimension; Reason in its own blob', () => {
    const emf = new EmfMetrics(new PowertoolsMetrics({ namespace: METRICS.namespace, serviceName: METRICS.service }));
    emf.count(METRICS.readingsAccepted, 2);
    emf.count(METRICS.readingsAccepted, 3);
    emf.count(METRICS.readingsRejected, 1, { Reason: 'INVALID_JSON' });
    emf.count(METRICS.readingsRejected, 1, { Reason: 'INVALID_JSON' });
    emf.observe(METRICS.receiveToPushLatency, 12);
    emf.flush();
    const out = blobs();
    const accepted = out.find((b) => METRICS.readingsAccepted in b);
    expect(accepted).toMatchObject({ ReadingsAccepted: 5, ReceiveToPushLatency: 12, service: 'vigia' });
    expect(accepted._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'Vigia',
      Dimensions: [['service']],
      Metrics: expect.arrayContaining([{ Name: 'ReceiveToPushLatency', Unit: 'Milliseconds' }]),
    });
    const rejected = out.find((b) => METRICS.readingsRejected in b);
    expect(rejected).toMatchObject({ ReadingsRejected: 2, Reason: 'INVALID_JSON', service: 'vigia' });
    expect(rejected._aws.CloudWatchMetrics[0].Dimensions[0]).toEqual(expect.arrayContaining(['service', 'Reason']));
  });

  it('an invocation that recorded nothing publishes nothing', () => {
    new EmfMetrics(new PowertoolsMetrics({ namespace: METRICS.namespace, serviceName: METRICS.service })).flush();
    expect(blobs()).toEqual([]);
  });
});

describe('MetricsRegistry (Prometheus text)', () => {
  it('renders counters with a reason label and histograms with cumulative buckets', () => {
    const registry = new MetricsRegistry();
    registry.count(METRICS.readingsAccepted, 4);
    registry.count(METRICS.readingsRejected, 1, { Reason: 'INVALID_JSON' });
    registry.count(METRICS.readingsRejected, 2, { Reason: 'INVALID_JSON' });
    registry.observe(METRICS.receiveToPushLatency, 7);
    registry.observe(METRICS.receiveToPushLatency, 30);
    const text = registry.toPrometheus();
    expect(text).toContain('# TYPE vigia_readings_accepted_total counter\nvigia_readings_accepted_total 4\n');
    expect(text).toContain('vigia_readings_rejected_total{reason="INVALID_JSON"} 3\n');
    expect(text).toContain('# TYPE vigia_receive_to_push_latency_ms histogram');
    expect(text).toContain('vigia_receive_to_push_latency_ms_bucket{le="5"} 0\n');
    expect(text).toContain('vigia_receive_to_push_latency_ms_bucket{le="10"} 1\n');
    expect(text).toContain('vigia_receive_to_push_latency_ms_bucket{le="50"} 2\n');
    expect(text).toContain(
      'vigia_receive_to_push_latency_ms_bucket{le="+Inf"} 2\nvigia_receive_to_push_latency_ms_sum 37\nvigia_receive_to_push_latency_ms_count 2\n',
    );
    expect(text).toContain('vigia_live_pushes_total 0\n');
  });
});
