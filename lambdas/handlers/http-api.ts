/** HTTP API (payload format 2.0) → the readings and sensors API of contract §5. */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { errorResponse, handleApiRequest } from '../core/api.js';
import { roleFromClaims } from '../core/auth.js';
import { logger, readingStore, rollupStore, sensorRegistry, signInRequired } from '../shared/clients.js';

/** The JWT authorizer validated the token; a user in neither group may still not read (403). */
function forbidden(event: APIGatewayProxyEventV2): boolean {
  if (!signInRequired() || event.rawPath === '/health') return false;
  const claims = (event.requestContext as { authorizer?: { jwt?: { claims?: Record<string, unknown> } } }).authorizer?.jwt?.claims;
  return roleFromClaims(claims) === null;
}

export const handler = async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
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
      },
      { readings: readingStore(), rollups: rollupStore(), sensors: sensorRegistry(), now: Date.now },
    );
    return { statusCode: res.status, headers: res.headers, body: res.body };
  } catch (err) {
    logger.error('request failed', { error: err as Error, path: event.rawPath });
    const res = errorResponse(500, 'INTERNAL', 'the request could not be answered; try again');
    return { statusCode: res.status, headers: res.headers, body: res.body };
  }
};
