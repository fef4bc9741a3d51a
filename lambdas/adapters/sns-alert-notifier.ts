/** Alerts to people: the AlertNotifier port on the alerts SNS topic (e-mail subscribers read the subject). */
import type { SNSClient } from '@aws-sdk/client-sns';
import { PublishBatchCommand, PublishCommand } from '@aws-sdk/client-sns';
import type { AlertNotice, AlertNotifier } from '../core/alert-ports.js';

/** SNS's most messages in one PublishBatch request. */
const BATCH_ENTRIES = 10;

export class SnsAlertNotifier implements AlertNotifier {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  /** One Publish for a single notice, else a PublishBatch per ten; a notice SNS refused fails the call, named. */
  async notify(notices: AlertNotice[]): Promise<void> {
    if (notices.length === 1) {
      await this.client.send(new PublishCommand({ TopicArn: this.topicArn, ...message(notices[0]) }));
      return;
    }
    const refused: string[] = [];
    for (let at = 0; at < notices.length; at += BATCH_ENTRIES) {
      const group = notices.slice(at, at + BATCH_ENTRIES);
      const out = await this.client.send(
        new PublishBatchCommand({
          TopicArn: this.topicArn,
          PublishBatchRequestEntries: group.map((notice, i) => ({ Id: String(i), ...message(notice) })),
        }),
      );
      for (const failed of out.Failed ?? []) {
        const notice = group[Number(failed.Id)];
        refused.push(`${notice?.alert.id ?? failed.Id}: ${failed.Code ?? 'failed'} ${failed.Message ?? ''}`.trim());
      }
    }
    if (refused.length > 0) throw new Error(`SNS refused ${refused.length} of ${notices.length} alert notices: ${refused.join('; ')}`);
  }
}

/** E-mail subscribers read the subject; machines read the same JSON a local webhook gets. */
function message(notice: AlertNotice) {
  return {
    Subject: notice.subject,
    Message: JSON.stringify({ kind: notice.kind, alert: notice.alert }),
    MessageAttributes: {
      kind: { DataType: 'String', StringValue: notice.kind },
      severity: { DataType: 'String', StringValue: notice.alert.severity },
    },
  };
}
