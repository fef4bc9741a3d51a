/** API Gateway WebSocket: $connect, $disconnect, and every action of contract §6. */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyResultV2, APIGatewayProxyWebsocketEventV2, Context } from 'aws-lambda';
import { routeWebSocket } from '../core/frames.js';
import { logger, signInRequired, withMetrics } from './wiring.js';
import { devicePublisher } from './wiring/devices.js';
import { connectionRegistry, sensorRegistry } from './wiring/dynamo.js';
import { liveSender } from './wiring/live.js';

export const handler = async (event: APIGatewayProxyWebsocketEventV2, context?: Context): Promise<APIGatewayProxyResultV2> => {
  const { routeKey, connectionId } = event.requestContext;
  // The $connect authorizer's context comes with every event of the connection (aws-lambda's type omits it).
  const authorizer = (event.requestContext as { authorizer?: { role?: unknown } }).authorizer;
  // An authorizer's role decides whenever there is one, so a function missing AUTH_ISSUER does not fail open.
  const mayCommand = authorizer ? authorizer.role === 'operator' : !signInRequired();
  const connections = connectionRegistry();
  await withMetrics(context, (metrics) =>
    routeWebSocket(routeKey, { connectionId, mayCommand }, event.body, {
      connections,
      subscriptions: connections,
      commandBudget: connections,
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
