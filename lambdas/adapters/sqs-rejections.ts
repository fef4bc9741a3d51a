/** The RejectionSink port on the dead-letter SQS queue. */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { RejectedPayload, RejectionSink } from '../core/ports.js';

/** Each rejected payload is one message, its code an attribute so a consumer can filter without parsing. */
export const sqsRejectionSink = (client: SQSClient, queueUrl: string): RejectionSink => ({
  async reject(rejected: RejectedPayload): Promise<void> {
    await client.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: JSON.stringify({ kind: 'rejected-telemetry', ...rejected }),
        MessageAttributes: { code: { DataType: 'String', StringValue: rejected.code } },
      }),
    );
  },
});
