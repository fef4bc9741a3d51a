/** The RejectionSink port on the dead-letter SQS queue. */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { RejectedPayload, RejectionSink } from '../core/ports.js';

export class SqsRejectionSink implements RejectionSink {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async reject(rejected: RejectedPayload): Promise<void> {
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify({ kind: 'rejected-telemetry', ...rejected }),
        MessageAttributes: { code: { DataType: 'String', StringValue: rejected.code } },
      }),
    );
  }
}
