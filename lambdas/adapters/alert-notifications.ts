/** Where alerts go out: the alerts SNS topic (people) and every open WebSocket connection (dashboards). */
import type { SNSClient } from '@aws-sdk/client-sns';
import { PublishCommand } from '@aws-sdk/client-sns';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { AlertBroadcaster, AlertNotice, AlertNotifier, AlertView } from '../core/alert-ports.js';
import type { PushDeps } from '../core/push.js';
import { pushToConnections } from '../core/push.js';

export class SnsAlertNotifier implements AlertNotifier {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  async notify(notice: AlertNotice): Promise<void> {
    await this.client.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Subject: notice.subject,
        // E-mail subscribers read the subject; machines read the same JSON a local webhook gets.
        Message: JSON.stringify({ kind: notice.kind, alert: notice.alert }),
        MessageAttributes: {
          kind: { DataType: 'String', StringValue: notice.kind },
          severity: { DataType: 'String', StringValue: notice.alert.severity },
        },
      }),
    );
  }
}

/** Every connection of the connections table (its `conns` partition, as dynamo-connections.ts keeps it). */
export class WebSocketAlertBroadcaster implements AlertBroadcaster {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly connectionsTable: string,
    private readonly push: PushDeps,
  ) {}

  async broadcast(alert: AlertView): Promise<void> {
    const ids: string[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.connectionsTable,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
          ExpressionAttributeValues: { ':pk': 'conns' },
          ProjectionExpression: '#sk',
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) ids.push(item.sk as string);
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    // Pending is not pushed (contract §8): only fired, resolved and acknowledged reach here.
    await pushToConnections(ids, { type: 'alert', alert: { ...alert, state: alert.state === 'ok' ? 'ok' : 'firing' } }, this.push);
  }
}
