/** HTTP API (payload format 2.0) → the readings and sensors API of contract §5. */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { errorResponse, handleApiRequest } from '../core/api.js';
import { logger, readingStore, rollupStore, sensorRegistry } from '../shared/clients.js';

export const handler = async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
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
