/** API Gateway WebSocket: $connect, $disconnect, and every action of contract §6. */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyResultV2, APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { routeWebSocket } from '../core/frames.js';
import { connectionRegistry, devicePublisher, liveSender, logger, sensorRegistry, withMetrics } from '../shared/clients.js';

export const handler = async (event: APIGatewayProxyWebsocketEventV2): Promise<APIGatewayProxyResultV2> => {
  const { routeKey, connectionId } = event.requestContext;
  await withMetrics((metrics) =>
    routeWebSocket(routeKey, { connectionId, mayCommand: true }, event.body, {
      connections: connectionRegistry(),
      sensors: sensorRegistry(),
      live: liveSender(),
      devices: devicePublisher(),
      metrics,
      now: Date.now,
      newId: randomUUID,
    }),
  );
  logger.debug('websocket event handled', { routeKey, connectionId });
  return { statusCode: 200 };
};
