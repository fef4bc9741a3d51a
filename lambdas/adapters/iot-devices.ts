/** The DevicePublisher port through the IoT data plane (commands to a sensor's topic). */
import type { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { PublishCommand } from '@aws-sdk/client-iot-data-plane';
import type { DevicePublisher } from '../core/ports.js';

export class IotDevicePublisher implements DevicePublisher {
  constructor(private readonly client: IoTDataPlaneClient) {}

  async publish(topic: string, message: unknown): Promise<void> {
    await this.client.send(new PublishCommand({ topic, qos: 1, payload: Buffer.from(JSON.stringify(message)) }));
  }
}
