/**
 * The contract's payload and frame shapes, each defined once with TypeBox: the TypeScript type comes from
 * `Static<>` and the JSON Schema is the value itself (the OpenAPI document, lambdas/shared/openapi.ts, uses it).
 * Runtime code that only needs the types imports them with `import type` (from here or contract.ts), so neither a
 * Lambda nor the dashboard carries TypeBox: only the OpenAPI document and its checks run these values.
 */
import { type Static, type TSchema, Type } from 'typebox';
import { COMPARISONS, METRIC_NAME_PATTERN, RULE_ID_PATTERN, SENSOR_ID_PATTERN, SEVERITIES } from './contract.js';

const epochMs = Type.Integer({ description: 'Epoch milliseconds.' });
const sensorId = Type.String({ pattern: SENSOR_ID_PATTERN.source });
const metricName = Type.String({ pattern: METRIC_NAME_PATTERN.source });
const ruleId = Type.String({ pattern: RULE_ID_PATTERN.source });
/** `{ruleId}.{sensorId}.{episode}`, the episode being the ts its pending began. */
const alertId = Type.String({ pattern: '^[A-Za-z0-9-]{1,64}\\.[A-Za-z0-9_-]{1,64}\\.-?\\d{1,16}$' });
const nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

/** An object keyed by metric name (JSON Schema `propertyNames`, which the checks of every answer rely on). */
const byMetric = <T extends TSchema>(value: T) =>
  Type.Unsafe<Record<string, Static<T>>>({ type: 'object', propertyNames: metricName, additionalProperties: value });

/** One raw reading of a sensor, as the API and the registry's `latest` show it (contract §5). */
export const RawPointSchema = Type.Object({ ts: epochMs, values: byMetric(Type.Number()) }, { additionalProperties: false });
export type RawPoint = Static<typeof RawPointSchema>;

/** A sensor as `GET /sensors` and `GET /sensors/{id}` show it (contract §5). */
export const SensorSchema = Type.Object(
  {
    sensorId,
    online: Type.Boolean(),
    lastSeen: nullable(epochMs),
    metrics: Type.Array(metricName, { uniqueItems: true }),
    units: byMetric(Type.String({ minLength: 1, maxLength: 16 })),
    latest: nullable(RawPointSchema),
  },
  { additionalProperties: false },
);
export type SensorView = Static<typeof SensorSchema>;

export const SeveritySchema = Type.Enum([...SEVERITIES], { type: 'string' });
export type Severity = (typeof SEVERITIES)[number];

export const ConditionSchema = Type.Union([
  Type.Object({ op: Type.Enum([...COMPARISONS]), value: Type.Number() }, { additionalProperties: false }),
  Type.Object({ op: Type.Literal('outside'), low: Type.Number(), high: Type.Number() }, { additionalProperties: false }),
]);
export type Condition = Static<typeof ConditionSchema>;

/** What every view of an alert holds (contract §8). */
const alertFields = {
  id: alertId,
  ruleId,
  ruleName: Type.String(),
  sensorId,
  metric: nullable(metricName),
  severity: SeveritySchema,
};
const acknowledgement = {
  value: nullable(Type.Number()),
  acknowledged: Type.Boolean(),
  acknowledgedBy: nullable(Type.String()),
};

/** An open alert as `GET /alerts` lists it: pending or firing. */
export const AlertSchema = Type.Object(
  { ...alertFields, state: Type.Enum(['pending', 'firing']), since: epochMs, ...acknowledgement },
  { additionalProperties: false },
);

/** An alert as the core keeps it and the `alert` frame carries it: also `ok` (resolved), without a start then. */
export const AlertViewSchema = Type.Object(
  { ...alertFields, state: Type.Enum(['ok', 'pending', 'firing']), since: nullable(epochMs), ...acknowledgement },
  { additionalProperties: false },
);
export type AlertView = Static<typeof AlertViewSchema>;

export const AlertEventSchema = Type.Object(
  {
    ts: epochMs,
    alertId,
    ruleId,
    sensorId,
    kind: Type.Enum(['fired', 'resolved', 'acknowledged']),
    severity: SeveritySchema,
    value: nullable(Type.Number()),
    by: nullable(Type.String()),
  },
  { additionalProperties: false },
);
export type AlertEvent = Static<typeof AlertEventSchema>;

const values = Type.Record(Type.String(), Type.Number());

/** Every frame the server sends on the WebSocket (contract §6, §8). */
export const ServerFrameSchema = Type.Union([
  Type.Object({ type: Type.Literal('readings'), readings: Type.Array(Type.Object({ sensorId, ts: epochMs, values })) }),
  Type.Object({ type: Type.Literal('status'), sensorId, online: Type.Boolean(), ts: epochMs }),
  Type.Object({ type: Type.Literal('subscribed'), sensorIds: Type.Array(Type.String()) }),
  Type.Object({ type: Type.Literal('commandSent'), id: Type.String(), sensorId }),
  Type.Object({ type: Type.Literal('pong') }),
  Type.Object({
    type: Type.Literal('error'),
    code: Type.Enum(['BAD_REQUEST', 'UNKNOWN_ACTION', 'LIMIT_EXCEEDED', 'SENSOR_NOT_FOUND', 'FORBIDDEN']),
    message: Type.String(),
  }),
  Type.Object({ type: Type.Literal('alert'), alert: AlertViewSchema }),
]);
export type ServerFrame = Static<typeof ServerFrameSchema>;
export type FrameErrorCode = Extract<ServerFrame, { type: 'error' }>['code'];
