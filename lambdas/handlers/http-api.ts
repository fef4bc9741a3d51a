/** HTTP API (payload format 2.0) → the readings and sensors API of contract §5. */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { errorResponse, handleApiRequest } from '../core/api.js';
import { roleFromClaims } from '../core/auth.js';
import { randomUUID } from 'node:crypto';
import type { AlertCaller } from '../core/alerts-api.js';
import { alertsEnabled, logger, signInRequired, withContext } from './wiring.js';
import { alertBroadcaster } from './wiring/alerts.js';
import { alertRuleStore, alertRules, alertStateStore, readingStore, rollupStore, sensorRegistry } from './wiring/dynamo.js';
import type { Metrics } from '../core/ports.js';

/** The JWT authorizer validated the token; a user in neither group may still not read (403). */
function claimsOf(event: APIGatewayProxyEventV2): Record<string, unknown> | undefined {
  return (event.requestContext as { authorizer?: { jwt?: { claims?: Record<string, unknown> } } }).authorizer?.jwt?.claims;
}

function forbidden(event: APIGatewayProxyEventV2): boolean {
  if (!signInRequired() || event.rawPath === '/health') return false;
  return roleFromClaims(claimsOf(event)) === null;
}

/** Operators change alert rules and acknowledge; with sign-in off, everyone may. */
function alertCaller(event: APIGatewayProxyEventV2): AlertCaller {
  if (!signInRequired()) return { mayChange: true, name: null };
  const claims = claimsOf(event);
  const name = [claims?.email, claims?.['cognito:username'], claims?.sub].find((v): v is string => typeof v === 'string' && v !== '');
  return { mayChange: roleFromClaims(claims) === 'operator', name: name?.slice(0, 256) ?? null };
}

/** Frames are counted nowhere from this function: its requests are the HTTP API's metrics. */
const uncounted: Metrics = { count: () => undefined, observe: () => undefined, flush: () => undefined };

function alertApi() {
  if (!alertsEnabled()) return undefined;
  return {
    rules: alertRuleStore(),
    states: alertStateStore(),
    frames: alertBroadcaster(uncounted),
    rulesChanged: () => alertRules().invalidate(),
    newId: randomUUID,
    now: Date.now,
    log: logger,
  };
}

function bodyOf(event: APIGatewayProxyEventV2): string | undefined {
  if (event.body === undefined) return undefined;
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}

export const handler = async (event: APIGatewayProxyEventV2, context?: Context): Promise<APIGatewayProxyStructuredResultV2> => {
  withContext(context);
  if (forbidden(event)) {
    const res = errorResponse(403, 'FORBIDDEN', 'the user is in neither the operator nor the viewer group');
    return { statusCode: res.status, headers: res.headers, body: res.body };
  }
  try {
    const res = await handleApiRequest(
      {
        method: event.requestContext.http.method,
        path: event.rawPath,
        query: event.queryStringParameters ?? {},
        headers: event.headers ?? {},
        body: bodyOf(event),
        caller: alertCaller(event),
      },
      { readings: readingStore(), rollups: rollupStore(), sensors: sensorRegistry(), now: Date.now, alerts: alertApi() },
    );
    return { statusCode: res.status, headers: res.headers, body: res.body };
  } catch (err) {
    logger.error('request failed', { error: err as Error, path: event.rawPath });
    const res = errorResponse(500, 'INTERNAL', 'the request could not be answered; try again');
    return { statusCode: res.status, headers: res.headers, body: res.body };
  }
};
