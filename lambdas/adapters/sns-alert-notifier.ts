/** Alerts to people: the AlertNotifier port on the alerts SNS topic (e-mail subscribers read the subject). */
import type { SNSClient } from '@aws-sdk/client-sns';
import { PublishCommand } from '@aws-sdk/client-sns';
import type { AlertNotice, AlertNotifier } from '../core/alert-ports.js';

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
