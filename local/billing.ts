/**
 * The billable units the local runtime causes as it runs, counted the way AWS meters them: IoT Core messages
 * (5 KB increments; Basic Ingest none), rules triggered and actions executed, Kinesis PUT payload units (25 KB),
 * Lambda invocations and GB-seconds (each handler call timed, at the stack's memory size, rounded up to the
 * millisecond), DynamoDB capacity units (from the stand-in's ReturnConsumedCapacity answers), WebSocket
 * messages (32 KB increments, both directions) and connection minutes. `GET /api/metrics` shows them;
 * `npm run cost -- --measure` divides them by the readings a fleet sent.
 */
import type { IngestMode } from '../lambdas/shared/contract.js';
import { FUNCTION_MEMORY_MB } from '../lambdas/shared/names.js';
import {
  parseBasicIngestTopic,
  projectRuleEvent,
  RULES,
  type RuleDefinition,
  TELEMETRY_STREAM_RULE,
  topicMatches,
} from '../lambdas/shared/rules.js';
import type { ConsumedCapacity } from './dynamo.js';
import { prometheusFamily, prometheusText } from './prometheus.js';
// The metering increments are the cost model's: one home for what AWS bills by.
import { IOT_MESSAGE_INCREMENT_BYTES, KINESIS_PUT_UNIT_BYTES, WS_INCREMENT_BYTES } from '../cost/model.js';

/** Ingest as the local rules engine runs it: `direct` invokes per rule; anything else is stream ingest. */
export type MeteredIngest = IngestMode;

export interface BillingSnapshot {
  iotMessages: number;
  iotRulesTriggered: number;
  iotActions: number;
  kinesisPutUnits: number;
  lambda: Record<string, { invocations: number; gbSeconds: number }>;
  lambdaInvocations: number;
  lambdaGbSeconds: number;
  dynamo: ConsumedCapacity;
  dynamoReadUnits: number;
  dynamoWriteUnits: number;
  wsMessages: number;
  wsConnectionMinutes: number;
}

interface StreamRule {
  rule: Omit<RuleDefinition, 'target'>;
  /** The rule's action writes a Kinesis record (stream ingest) rather than invoking a function. */
  kinesis: boolean;
}

/** The rules a topic triggers in a mode, as IoT Core would run them (Basic Ingest: the named rule only). */
function rulesFor(topic: string, ingest: MeteredIngest): { rules: StreamRule[]; topic: string; basicIngest: boolean } {
  const all: StreamRule[] =
    ingest === 'direct'
      ? RULES.map((rule) => ({ rule, kinesis: false }))
      : [
          { rule: TELEMETRY_STREAM_RULE, kinesis: true },
          ...RULES.filter((r) => r.target === 'presence').map((rule) => ({ rule, kinesis: false })),
        ];
  const basic = parseBasicIngestTopic(topic);
  if (basic) return { rules: all.filter((r) => r.rule.id === basic.ruleName), topic: basic.topic, basicIngest: true };
  return { rules: all.filter((r) => topicMatches(r.rule.topicFilter, topic)), topic, basicIngest: false };
}

export class BillingMeter {
  private iotMessages = 0;
  private iotRulesTriggered = 0;
  private iotActions = 0;
  private kinesisPutUnits = 0;
  private readonly lambda = new Map<string, { invocations: number; gbSeconds: number }>();
  private wsMessages = 0;
  private wsClosedMs = 0;
  private readonly wsOpenSince = new Map<string, number>();

  constructor(
    private readonly options: {
      ingest: MeteredIngest;
      /** The DynamoDB stand-in's consumed capacity. */
      dynamo: () => ConsumedCapacity;
      memoryMb?: number;
      now?: () => number;
    },
  ) {}

  private get now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** A message the broker accepted: a device's publish is billed (unless Basic Ingest), the rules it triggers too. */
  onMessage(topic: string, payload: Buffer, fromDevice: boolean, receivedAt: number): void {
    const matched = rulesFor(topic, this.options.ingest);
    if (fromDevice && !matched.basicIngest) {
      this.iotMessages += Math.max(1, Math.ceil(payload.length / IOT_MESSAGE_INCREMENT_BYTES));
    }
    for (const { rule, kinesis } of matched.rules) {
      const event = projectRuleEvent(rule, matched.topic, payload, receivedAt);
      if (!event) continue;
      this.iotRulesTriggered += 1;
      this.iotActions += 1;
      if (kinesis) this.kinesisPutUnits += Math.max(1, Math.ceil(Buffer.byteLength(JSON.stringify(event)) / KINESIS_PUT_UNIT_BYTES));
    }
  }

  /** One Lambda invocation of `fn` that ran `ms` milliseconds. */
  onInvocation(fn: string, ms: number): void {
    let entry = this.lambda.get(fn);
    if (!entry) this.lambda.set(fn, (entry = { invocations: 0, gbSeconds: 0 }));
    entry.invocations += 1;
    entry.gbSeconds += (Math.max(1, Math.ceil(ms)) / 1000) * ((this.options.memoryMb ?? FUNCTION_MEMORY_MB) / 1024);
  }

  /** Wraps a handler so each call is counted and timed as an invocation of `fn`. */
  metered<A extends unknown[], R>(fn: string, handler: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
    return async (...args: A) => {
      const start = performance.now();
      try {
        return await handler(...args);
      } finally {
        this.onInvocation(fn, performance.now() - start);
      }
    };
  }

  /** A WebSocket frame either way. */
  onWebSocketFrame(bytes: number): void {
    this.wsMessages += Math.max(1, Math.ceil(bytes / WS_INCREMENT_BYTES));
  }

  onWebSocketOpen(connectionId: string): void {
    this.wsOpenSince.set(connectionId, this.now);
  }

  onWebSocketClose(connectionId: string): void {
    const since = this.wsOpenSince.get(connectionId);
    if (since === undefined) return;
    this.wsOpenSince.delete(connectionId);
    this.wsClosedMs += this.now - since;
  }

  snapshot(): BillingSnapshot {
    const now = this.now;
    let openMs = 0;
    for (const since of this.wsOpenSince.values()) openMs += now - since;
    const dynamo = this.options.dynamo();
    const lambda = Object.fromEntries([...this.lambda].map(([fn, v]) => [fn, { ...v }]));
    const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
    return {
      iotMessages: this.iotMessages,
      iotRulesTriggered: this.iotRulesTriggered,
      iotActions: this.iotActions,
      kinesisPutUnits: this.kinesisPutUnits,
      lambda,
      lambdaInvocations: sum(Object.values(lambda).map((v) => v.invocations)),
      lambdaGbSeconds: sum(Object.values(lambda).map((v) => v.gbSeconds)),
      dynamo,
      dynamoReadUnits: sum(Object.values(dynamo).map((v) => v.read)),
      dynamoWriteUnits: sum(Object.values(dynamo).map((v) => v.write)),
      wsMessages: this.wsMessages,
      wsConnectionMinutes: (this.wsClosedMs + openMs) / 60_000,
    };
  }

  /** The counters in the Prometheus text format, after the operations metrics of `/api/metrics`. */
  toPrometheus(): string {
    const s = this.snapshot();
    const families: string[][] = [];
    const counter = (name: string, help: string, series: Array<[string, number]>) => {
      families.push(prometheusFamily(name, 'counter', help, series));
    };
    counter('vigia_billed_iot_messages_total', 'IoT Core messages billed (5 KB increments; Basic Ingest is not billed)', [
      ['', s.iotMessages],
    ]);
    counter('vigia_billed_iot_rules_triggered_total', 'IoT rules triggered', [['', s.iotRulesTriggered]]);
    counter('vigia_billed_iot_actions_total', 'IoT rule actions executed', [['', s.iotActions]]);
    counter('vigia_billed_kinesis_put_units_total', 'Kinesis PUT payload units (25 KB)', [['', s.kinesisPutUnits]]);
    /** One series per function or table, in name order. */
    const by = <V>(label: string, entries: Record<string, V>, value: (v: V) => number): Array<[string, number]> =>
      Object.entries(entries)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, v]) => [`{${label}="${key}"}`, value(v)]);
    counter(
      'vigia_billed_lambda_invocations_total',
      'Lambda invocations by function',
      by('function', s.lambda, (v) => v.invocations),
    );
    counter(
      'vigia_billed_lambda_gb_seconds_total',
      `Lambda GB-seconds by function (${FUNCTION_MEMORY_MB} MB, local durations)`,
      by('function', s.lambda, (v) => v.gbSeconds),
    );
    counter(
      'vigia_billed_dynamodb_read_units_total',
      'DynamoDB read request units by table',
      by('table', s.dynamo, (v) => v.read),
    );
    counter(
      'vigia_billed_dynamodb_write_units_total',
      'DynamoDB write request units by table',
      by('table', s.dynamo, (v) => v.write),
    );
    counter('vigia_billed_websocket_messages_total', 'API Gateway WebSocket messages (32 KB increments, both directions)', [
      ['', s.wsMessages],
    ]);
    counter('vigia_billed_websocket_connection_minutes_total', 'API Gateway WebSocket connection minutes', [['', s.wsConnectionMinutes]]);
    return prometheusText(families);
  }
}
