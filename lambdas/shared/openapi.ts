/**
 * The OpenAPI 3.1 document of the HTTP API (contract §5 and §8): the one source of truth.
 * docs/openapi.json is written from it (`npm run openapi`), the local server answers it at `/api/openapi.json`,
 * the stack deploys it beside `/config.json`, and the integration tests check every `/api` answer against it.
 * Plain data only: no Node APIs, so the dashboard or a Lambda could import it too.
 */
import { AlertEventSchema, AlertSchema, ConditionSchema, RawPointSchema, SensorSchema, SeveritySchema } from './contract-schemas.js';
import {
  BATCH_DEFAULT_POINTS,
  BATCH_MAX_POINTS,
  BATCH_MAX_SENSORS,
  DEFAULT_LIMIT,
  MAX_LIMIT,
  MAX_QUERY_METRICS,
  MAX_RANGE_DAYS,
  MAX_RULE_NAME,
  MAX_RULE_SENSORS,
  SENSORS_PAGE_MAX,
} from './contract.js';
import { METRIC_NAME_PATTERN, SENSOR_ID_PATTERN } from './names.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Schema = { [key: string]: Json };

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
/** A contract shape (contract-schemas.ts) as plain JSON Schema. */
const fromContract = (schema: object): Schema => JSON.parse(JSON.stringify(schema)) as Schema;
const nullable = (schema: Schema): Schema => ({ anyOf: [schema, { type: 'null' }] });
/** An object whose every listed property is required and nothing else is allowed: answers are exact. */
const exact = (properties: Record<string, Schema>, description?: string): Schema => ({
  type: 'object',
  ...(description ? { description } : {}),
  required: Object.keys(properties),
  properties,
  additionalProperties: false,
});

const JSON_TYPE = 'application/json';
const CSV_TYPE = 'text/csv';

const jsonContent = (schema: Schema): Schema => ({ [JSON_TYPE]: { schema } });

/** An error answer whose `code` is one of `codes`. */
function errorAnswer(description: string, codes: string[]): Schema {
  return {
    description,
    content: jsonContent({
      allOf: [ref('Error'), { properties: { error: { properties: { code: { enum: codes } } } } }],
    }),
  };
}

/** The 404 of a route under `/sensors/{sensorId}`. */
const unknownSensor = errorAnswer('A sensor never seen.', ['SENSOR_NOT_FOUND']);

const sensorId: Schema = { type: 'string', pattern: SENSOR_ID_PATTERN.source };
const metricName: Schema = { type: 'string', pattern: METRIC_NAME_PATTERN.source };
const cursor: Schema = nullable({ type: 'string', description: 'Opaque: pass it as `cursor` for the next page.' });

/** Answers every route may give besides its own: sign-in refusals and an unexpected failure. */
const signedIn: Record<string, Schema> = {
  '401': { $ref: '#/components/responses/Unauthorized' },
  '403': { $ref: '#/components/responses/Forbidden' },
  '500': { $ref: '#/components/responses/Internal' },
};

/** Changing routes (rules, acknowledgements): a viewer is refused with 403 `FORBIDDEN`; locally a body over 256 KiB is 413. */
const changing: Record<string, Schema> = {
  ...signedIn,
  '413': errorAnswer('Local mode: the request body is over 256 KiB.', ['PAYLOAD_TOO_LARGE']),
};

type Operation = { operationId: string; summary?: string; parameters?: Schema[]; requestBody?: Schema; responses: Record<string, Schema> };
/** An operation of `tag` behind sign-in, with the refusals its routes may give besides its own answers (`signedIn`, `changing`). */
function operation(tag: string, refusals: Record<string, Schema>, { operationId, ...op }: Operation): Schema {
  return { operationId, tags: [tag], ...op, responses: { ...op.responses, ...refusals } };
}

const query = (name: string, description: string, schema: Schema = { type: 'string' }): Schema => ({
  name,
  in: 'query',
  required: false,
  description,
  schema,
});

const rangeParameters: Schema[] = [
  query('from', 'Inclusive start: epoch ms or ISO-8601 (UTC when no offset is given). Default `to` − 1 h.'),
  query(
    'to',
    `Exclusive end: epoch ms or ISO-8601. Default now. \`from\` ≥ \`to\` or a range over ${MAX_RANGE_DAYS} days is \`INVALID_RANGE\`.`,
  ),
];
const metricsParameter = query('metrics', `A comma list of at most ${MAX_QUERY_METRICS} metric names (default: all).`);
/** `limit`: 1 to `max` of `what`, `byDefault` when absent; out of bounds is 400, never clamped. */
const limitParameter = (what: string, max: number, byDefault: number) =>
  query('limit', `${what}, 1 to ${max.toLocaleString('en-US')} (default ${byDefault.toLocaleString('en-US')}); never clamped.`, {
    type: 'integer',
    minimum: 1,
    maximum: max,
  });
const resolutionParameter = query('resolution', '`raw`, `1m`, `1h` or `auto` (default).', {
  type: 'string',
  enum: ['raw', '1m', '1h', 'auto'],
});
const cursorParameter = query('cursor', 'The `nextCursor` of the previous page; it binds the whole query.');

const thresholdFields: Record<string, Schema> = {
  name: { type: 'string', minLength: 1, maxLength: MAX_RULE_NAME },
  sensorIds: ref('RuleSensorIds'),
  metric: metricName,
  condition: ref('Condition'),
  hysteresis: { type: 'number', minimum: 0 },
  forSeconds: { type: 'integer', minimum: 0, maximum: 86_400 },
  severity: ref('Severity'),
};
const silenceFields: Record<string, Schema> = {
  name: thresholdFields.name,
  sensorIds: ref('RuleSensorIds'),
  silentMinutes: { type: 'integer', minimum: 1, maximum: 1_440 },
  severity: ref('Severity'),
};
const ruleId: Schema = { type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$' };

const ruleIdParameter: Schema = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
/** A rule route's answers: the rule itself, or a 404 for an id no rule has. */
const theRule: Schema = { description: 'The rule.', content: jsonContent(ref('AlertRule')) };
const unknownRule = errorAnswer('An unknown id.', ['RULE_NOT_FOUND']);
const ruleBody: Schema = {
  required: true,
  content: jsonContent({ oneOf: [ref('ThresholdRuleInput'), ref('SilenceRuleInput')] }),
};

export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'vigia HTTP API',
    version: '1.0.0',
    summary: 'History, sensors and alerts of vigia (contract §5 and §8).',
    description:
      "Served under `apiUrl` from the dashboard origin's `/config.json`. Every answer is JSON unless a CSV is asked for. " +
      'A path listed nowhere here answers 404 `NOT_FOUND`; a method a path does not list answers 405 `METHOD_NOT_ALLOWED` ' +
      '(both with the error shape). With sign-in on, every route but `GET /health` needs `Authorization: Bearer <ID token>`.',
  },
  servers: [
    { url: '{apiUrl}', description: 'The `apiUrl` of `/config.json`.', variables: { apiUrl: { default: 'http://127.0.0.1:3000/api' } } },
  ],
  security: [{}, { idToken: [] }],
  tags: [
    { name: 'sensors', description: 'Sensors and their history (§5).' },
    { name: 'alerts', description: 'Alert rules and alerts (§8).' },
    { name: 'local', description: 'Local mode only (`npm start`).' },
  ],
  paths: {
    '/health': {
      get: {
        operationId: 'getHealth',
        summary: 'Liveness; never needs sign-in.',
        security: [{}],
        responses: {
          '200': { description: 'Up.', content: jsonContent(exact({ status: { const: 'ok' } })) },
          '503': {
            description: 'Local mode: a listener or the external broker is not ready yet.',
            content: jsonContent(exact({ status: { const: 'starting' } })),
          },
          '500': { $ref: '#/components/responses/Internal' },
        },
      },
    },
    '/sensors': {
      get: operation('sensors', signedIn, {
        operationId: 'listSensors',
        summary: 'One page of the sensors, sorted by sensorId.',
        parameters: [
          limitParameter('Sensors per page', SENSORS_PAGE_MAX, SENSORS_PAGE_MAX),
          query('cursor', 'The `nextCursor` of the previous page.'),
        ],
        responses: {
          '200': {
            description: 'A page; `nextCursor` is null on the last one (which may be empty).',
            content: jsonContent(exact({ sensors: { type: 'array', items: ref('Sensor') }, nextCursor: cursor })),
          },
          '400': errorAnswer('A bad `limit` or `cursor`.', ['INVALID_PARAMETER']),
        },
      }),
    },
    '/sensors/{sensorId}': {
      get: operation('sensors', signedIn, {
        operationId: 'getSensor',
        parameters: [{ $ref: '#/components/parameters/SensorIdPath' }],
        responses: {
          '200': { description: 'The sensor.', content: jsonContent(ref('Sensor')) },
          '400': errorAnswer('The sensorId breaks the identity rule.', ['INVALID_PARAMETER']),
          '404': unknownSensor,
        },
      }),
    },
    '/sensors/{sensorId}/readings': {
      get: operation('sensors', signedIn, {
        operationId: 'getReadings',
        summary: "A page of one sensor's readings, raw or rolled up, in ascending `ts`.",
        parameters: [
          { $ref: '#/components/parameters/SensorIdPath' },
          ...rangeParameters,
          metricsParameter,
          resolutionParameter,
          limitParameter('Points per page', MAX_LIMIT, DEFAULT_LIMIT),
          cursorParameter,
          query('format', '`csv` answers CSV (as does `Accept: text/csv`).', { type: 'string', enum: ['json', 'csv'] }),
        ],
        responses: {
          '200': {
            description:
              'A page. CSV: a header row (`ts,<metric>,…`, or `ts,<metric>_min,<metric>_max,<metric>_avg,<metric>_count,…`), ' +
              '`ts` in ISO-8601 UTC, an empty cell for a missing value, lines ending in `\\n`.',
            headers: {
              'X-Next-Cursor': { description: "CSV only: the next page's cursor; absent on the last page.", schema: { type: 'string' } },
            },
            content: {
              [JSON_TYPE]: { schema: ref('ReadingsPage') },
              [CSV_TYPE]: { schema: { type: 'string' } },
            },
          },
          '400': errorAnswer('A bad sensorId or parameter (`INVALID_PARAMETER`), or a bad range (`INVALID_RANGE`).', [
            'INVALID_PARAMETER',
            'INVALID_RANGE',
          ]),
          '404': unknownSensor,
        },
      }),
    },
    '/readings': {
      get: operation('sensors', signedIn, {
        operationId: 'getManyReadings',
        summary: "The first page of many sensors' readings at once.",
        parameters: [
          {
            name: 'sensorIds',
            in: 'query',
            required: true,
            description: `A comma list of 1 to ${BATCH_MAX_SENSORS} sensorIds (duplicates folded).`,
            schema: { type: 'string' },
          },
          ...rangeParameters,
          metricsParameter,
          resolutionParameter,
          limitParameter('Points per sensor', BATCH_MAX_POINTS, BATCH_DEFAULT_POINTS),
        ],
        responses: {
          '200': {
            description: 'One series per sensor seen, in the order asked; the others in `notFound`.',
            content: jsonContent(
              exact({
                series: { type: 'array', items: ref('ReadingsPage') },
                notFound: { type: 'array', items: sensorId, uniqueItems: true },
              }),
            ),
          },
          '400': errorAnswer('Bad sensorIds or parameter (`INVALID_PARAMETER`), or a bad range (`INVALID_RANGE`).', [
            'INVALID_PARAMETER',
            'INVALID_RANGE',
          ]),
        },
      }),
    },
    '/alert-rules': {
      get: operation('alerts', signedIn, {
        operationId: 'listAlertRules',
        responses: {
          '200': { description: 'Every rule.', content: jsonContent(exact({ rules: { type: 'array', items: ref('AlertRule') } })) },
        },
      }),
      post: operation('alerts', changing, {
        operationId: 'createAlertRule',
        summary: 'Operators only when sign-in is on.',
        requestBody: ruleBody,
        responses: {
          '201': { description: 'The rule, its `id` assigned, defaults filled in.', content: jsonContent(ref('AlertRule')) },
          '400': errorAnswer('A bad rule (the message starts with the field), or more than 200 rules.', ['INVALID_RULE', 'LIMIT_EXCEEDED']),
        },
      }),
    },
    '/alert-rules/{id}': {
      parameters: [ruleIdParameter],
      get: operation('alerts', signedIn, {
        operationId: 'getAlertRule',
        responses: {
          '200': theRule,
          '404': unknownRule,
        },
      }),
      put: operation('alerts', changing, {
        operationId: 'replaceAlertRule',
        summary: 'The whole rule; an `id` in the body is ignored. Operators only when sign-in is on.',
        requestBody: ruleBody,
        responses: {
          '200': theRule,
          '400': errorAnswer('A bad rule.', ['INVALID_RULE']),
          '404': unknownRule,
        },
      }),
      delete: operation('alerts', changing, {
        operationId: 'deleteAlertRule',
        summary: 'Operators only when sign-in is on.',
        responses: {
          '204': { description: 'Deleted; its alerts are no longer listed.' },
          '404': unknownRule,
        },
      }),
    },
    '/alerts': {
      get: operation('alerts', signedIn, {
        operationId: 'listAlerts',
        responses: {
          '200': {
            description: 'The alerts not `ok`, newest `since` first.',
            content: jsonContent(exact({ alerts: { type: 'array', items: ref('Alert') } })),
          },
        },
      }),
    },
    '/alerts/history': {
      get: operation('alerts', signedIn, {
        operationId: 'getAlertHistory',
        parameters: [...rangeParameters, limitParameter('Events per page', MAX_LIMIT, DEFAULT_LIMIT), cursorParameter],
        responses: {
          '200': {
            description: 'Events newest `ts` first.',
            content: jsonContent(exact({ events: { type: 'array', items: ref('AlertEvent') }, nextCursor: cursor })),
          },
          '400': errorAnswer('A bad range or parameter.', ['INVALID_RANGE', 'INVALID_PARAMETER']),
        },
      }),
    },
    '/alerts/{id}/ack': {
      post: operation('alerts', changing, {
        operationId: 'acknowledgeAlert',
        summary: 'Operators only when sign-in is on; acknowledging again gives the same answer.',
        parameters: [
          { name: 'id', in: 'path', required: true, description: '`{ruleId}.{sensorId}.{episode}`', schema: { type: 'string' } },
        ],
        responses: {
          '200': { description: 'The alert, `acknowledged: true`.', content: jsonContent(ref('Alert')) },
          '404': errorAnswer('An id naming no alert.', ['ALERT_NOT_FOUND']),
          '409': errorAnswer('The alert is pending or resolved.', ['NOT_FIRING']),
        },
      }),
    },
    '/metrics': {
      get: {
        operationId: 'getLocalMetrics',
        tags: ['local'],
        summary: 'Local mode only: operations metrics and billable-unit counters, Prometheus text format; never needs sign-in.',
        security: [{}],
        responses: { '200': { description: 'Prometheus text.', content: { 'text/plain': { schema: { type: 'string' } } } } },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'getOpenApiDocument',
        tags: ['local'],
        summary: 'Local mode only: this document (the cloud serves it as `/openapi.json` at the dashboard origin); never needs sign-in.',
        security: [{}],
        responses: { '200': { description: 'This document.', content: jsonContent({ type: 'object', required: ['openapi'] }) } },
      },
    },
  },
  components: {
    securitySchemes: {
      idToken: {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description: "The ID token of the dashboard's sign-in (groups `operator` or `viewer`); required when sign-in is on.",
      },
    },
    parameters: {
      SensorIdPath: {
        name: 'sensorId',
        in: 'path',
        required: true,
        description: 'A sensorId (`^[A-Za-z0-9_-]{1,64}$`); another answers 400 `INVALID_PARAMETER`.',
        schema: { type: 'string' },
      },
    },
    responses: {
      Unauthorized: {
        description:
          'Sign-in on: no, malformed, expired or foreign token. Locally `{"error":{"code":"UNAUTHORIZED"}}`; in the cloud API Gateway\'s own `{"message":"Unauthorized"}`.',
        content: jsonContent({
          anyOf: [
            { allOf: [ref('Error'), { properties: { error: { properties: { code: { const: 'UNAUTHORIZED' } } } } }] },
            exact({ message: { type: 'string' } }),
          ],
        }),
      },
      Forbidden: errorAnswer('Sign-in on: a user in neither group, or a viewer asking to change.', ['FORBIDDEN']),
      Internal: errorAnswer('An unexpected failure; try again.', ['INTERNAL']),
      NotFound: errorAnswer('A path listed nowhere in this document.', ['NOT_FOUND']),
      MethodNotAllowed: errorAnswer('A method the path does not list.', ['METHOD_NOT_ALLOWED']),
    },
    schemas: {
      Error: exact({ error: exact({ code: { type: 'string', pattern: '^[A-Z_]+$' }, message: { type: 'string' } }) }),
      Sensor: fromContract(SensorSchema),
      RawPoint: fromContract(RawPointSchema),
      AggregatedPoint: exact({
        ts: { type: 'integer', description: 'The UTC-aligned bucket start, epoch ms.' },
        values: {
          type: 'object',
          propertyNames: metricName,
          additionalProperties: exact({
            min: { type: 'number' },
            max: { type: 'number' },
            avg: { type: 'number' },
            count: { type: 'integer', minimum: 1 },
          }),
        },
      }),
      ReadingsPage: {
        oneOf: [
          exact({ sensorId, resolution: { const: 'raw' }, points: { type: 'array', items: ref('RawPoint') }, nextCursor: cursor }),
          exact({
            sensorId,
            resolution: { enum: ['1m', '1h'] },
            points: { type: 'array', items: ref('AggregatedPoint') },
            nextCursor: cursor,
          }),
        ],
      },
      Severity: fromContract(SeveritySchema),
      RuleSensorIds: {
        oneOf: [
          { type: 'array', items: { const: '*' }, minItems: 1, maxItems: 1 },
          { type: 'array', items: sensorId, minItems: 1, maxItems: MAX_RULE_SENSORS, uniqueItems: true },
        ],
      },
      Condition: fromContract(ConditionSchema),
      ThresholdRuleInput: {
        type: 'object',
        required: ['name', 'sensorIds', 'metric', 'condition'],
        properties: { id: { description: 'Ignored.' }, ...thresholdFields },
        additionalProperties: false,
      },
      SilenceRuleInput: {
        type: 'object',
        required: ['name', 'sensorIds', 'silentMinutes'],
        properties: { id: { description: 'Ignored.' }, ...silenceFields },
        additionalProperties: false,
      },
      AlertRule: {
        oneOf: [exact({ id: ruleId, ...thresholdFields }), exact({ id: ruleId, ...silenceFields })],
      },
      Alert: fromContract(AlertSchema),
      AlertEvent: fromContract(AlertEventSchema),
    },
  },
} satisfies Schema;

/** The document as served and written to docs/openapi.json (two-space indent, a final newline). */
export function openApiJson(): string {
  return `${JSON.stringify(OPENAPI_DOCUMENT, null, 2)}\n`;
}
