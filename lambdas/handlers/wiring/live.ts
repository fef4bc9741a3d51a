/** Frames to WebSocket connections: API Gateway's management API, unless the host binds its own sender. */
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { ApiGatewayLiveSender } from '../../adapters/api-gateway-live.js';
import type { LiveSender } from '../../core/ports.js';
import { ENV, requireEnv } from '../../shared/names.js';
import { hostBindings, hostClient, once } from '../wiring.js';

export const liveSender = /* @__PURE__ */ once(
  (): LiveSender =>
    hostBindings().liveSender?.() ??
    new ApiGatewayLiveSender(hostClient(new ApiGatewayManagementApiClient({ endpoint: requireEnv(ENV.wsManagementEndpoint) }))),
);
