/** Alerts to dashboards: an `alert` frame to every open WebSocket connection (sns-alert-notifier.ts tells people). */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AlertBroadcaster, AlertView } from '../core/alert-ports.js';
import type { PushDeps } from '../core/push.js';
import { pushToConnections } from '../core/push.js';
import { queryAll } from './dynamo-util.js';

/** Every connection of the connections table (its `conns` partition, as dynamo-connections.ts keeps it). */
export class WebSocketAlertBroadcaster implements AlertBroadcaster {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly connectionsTable: string,
    private readonly push: PushDeps,
  ) {}

  async broadcast(alerts: AlertView[]): Promise<void> {
    if (alerts.length === 0) return;
    const items = await queryAll(this.doc, {
      TableName: this.connectionsTable,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
      ExpressionAttributeValues: { ':pk': 'conns' },
      ProjectionExpression: '#sk',
    });
    const ids = items.map((item) => item.sk as string);
    // Pending is not pushed (contract §8): only fired, resolved and acknowledged reach here.
    for (const alert of alerts) {
      await pushToConnections(ids, { type: 'alert', alert: { ...alert, state: alert.state === 'ok' ? 'ok' : 'firing' } }, this.push);
    }
  }
}
