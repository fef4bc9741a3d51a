/** The LiveSender port through API Gateway's management API (POST /@connections/{id}). */
import type { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { GoneException, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import type { LiveSender, SendResult } from '../core/ports.js';
import type { ServerFrame } from '../shared/contract.js';

export class ApiGatewayLiveSender implements LiveSender {
  constructor(private readonly client: ApiGatewayManagementApiClient) {}

  async send(connectionId: string, frame: ServerFrame): Promise<SendResult> {
    try {
      await this.client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(JSON.stringify(frame)) }));
      return 'sent';
    } catch (err) {
      if (err instanceof GoneException || (err as { name?: string }).name === 'GoneException') return 'gone';
      throw err;
    }
  }
}
