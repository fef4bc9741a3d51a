/** Adapters for API Gateway's management API, the IoT data plane and SQS. */
import type { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { GoneException, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import type { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { PublishCommand } from '@aws-sdk/client-iot-data-plane';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { DevicePublisher, LiveSender, RejectedPayload, RejectionSink, SendResult } from '../core/ports.js';

export class ApiGatewayLiveSender implements LiveSender {
  constructor(private readonly client: ApiGatewayManagementApiClient) {}

  async send(connectionId: string, frame: unknown): Promise<SendResult> {
    try {
      await this.client.send(
        new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(JSON.stringify(frame)) }),
      );
      return 'sent';
    } catch (err) {
      if (err instanceof GoneException || (err as { name?: string }).name === 'GoneException') return 'gone';
      throw err;
    }
  }
}

export class IotDevicePublisher implements DevicePublisher {
  constructor(private readonly client: IoTDataPlaneClient) {}

  async publish(topic: string, message: unknown): Promise<void> {
    await this.client.send(new PublishCommand({ topic, qos: 1, payload: Buffer.from(JSON.stringify(message)) }));
  }
}

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
