import { describe, expect, it } from 'vitest';
import { BillingMeter } from '../../local/billing.js';

const reading = Buffer.from(JSON.stringify({ values: { temperature: 21 } }));
const meter = (ingest: 'direct' | 'stream', now = () => 0) =>
  new BillingMeter({ ingest, dynamo: () => ({ t: { read: 1.5, write: 2 } }), now });

describe('local billing meter', () => {
  it('direct ingest: a device reading is one message, two rules, two Lambda actions, no Kinesis record', () => {
    const m = meter('direct');
    m.onMessage('sensors/a/telemetry', reading, true, 1);
    expect(m.snapshot()).toMatchObject({ iotMessages: 1, iotRulesTriggered: 2, iotActions: 2, kinesisPutUnits: 0 });
  });

  it('stream ingest: one rule, one Kinesis action and one 25 KB PUT payload unit; a 60 KB payload is 12 messages and 4 units', () => {
    const m = meter('stream');
    m.onMessage('sensors/a/telemetry', reading, true, 1);
    expect(m.snapshot()).toMatchObject({ iotMessages: 1, iotRulesTriggered: 1, iotActions: 1, kinesisPutUnits: 1 });
    m.onMessage('sensors/a/telemetry', Buffer.alloc(60 * 1024, 'x'), true, 1);
    // 60 KB in base64 is 80 KB of record: 4 units of 25 KB.
    expect(m.snapshot()).toMatchObject({ iotMessages: 13, kinesisPutUnits: 5 });
  });

  it('Basic Ingest: not billed as messaging, and only the named rule runs', () => {
    const m = meter('stream');
    m.onMessage('$aws/rules/IngestTelemetry/sensors/a/telemetry', reading, true, 1);
    expect(m.snapshot()).toMatchObject({ iotMessages: 0, iotRulesTriggered: 1, kinesisPutUnits: 1 });
    m.onMessage('$aws/rules/TrackPresence/sensors/a/telemetry', reading, true, 1);
    m.onMessage('$aws/rules/NoSuchRule/sensors/a/telemetry', reading, true, 1);
    expect(m.snapshot()).toMatchObject({ iotMessages: 0, iotRulesTriggered: 2 });
  });

  it('presence events the broker publishes are not device messages but trigger the presence rule', () => {
    const m = meter('stream');
    m.onMessage('$aws/events/presence/connected/a', Buffer.from(JSON.stringify({ clientId: 'a', eventType: 'connected' })), false, 1);
    expect(m.snapshot()).toMatchObject({ iotMessages: 0, iotRulesTriggered: 1, iotActions: 1, kinesisPutUnits: 0 });
  });

  it('bills invocations at 256 MB, each rounded up to the millisecond', async () => {
    const m = meter('direct');
    m.onInvocation('HistoryWriter', 0.2);
    m.onInvocation('HistoryWriter', 999.1);
    const f = m.metered('Broadcaster', async (x: number) => x * 2);
    expect(await f(2)).toBe(4);
    const s = m.snapshot();
    expect(s.lambda.HistoryWriter).toEqual({ invocations: 2, gbSeconds: (0.001 + 1) * 0.25 });
    expect(s.lambda.Broadcaster.invocations).toBe(1);
    expect(s.lambdaInvocations).toBe(3);
  });

  it('WebSocket: 32 KB increments either way, connection minutes of closed and open connections', () => {
    let now = 0;
    const m = meter('direct', () => now);
    m.onWebSocketFrame(10);
    m.onWebSocketFrame(32 * 1024 + 1);
    m.onWebSocketOpen('c1');
    m.onWebSocketOpen('c2');
    now = 60_000;
    m.onWebSocketClose('c1');
    now = 90_000;
    expect(m.snapshot()).toMatchObject({ wsMessages: 3, wsConnectionMinutes: 1 + 1.5 });
  });

  it('renders Prometheus counters with the DynamoDB capacity of the stand-in', () => {
    const m = meter('direct');
    m.onInvocation('HttpApi', 3);
    const text = m.toPrometheus();
    expect(text).toContain('vigia_billed_dynamodb_read_units_total{table="t"} 1.5');
    expect(text).toContain('vigia_billed_dynamodb_write_units_total{table="t"} 2');
    expect(text).toContain('vigia_billed_lambda_invocations_total{function="HttpApi"} 1');
    expect(text).toMatch(/^# TYPE vigia_billed_iot_messages_total counter$/m);
  });
});
