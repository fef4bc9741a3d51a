/** Commands to sensors through the IoT data plane. */
import { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { IotDevicePublisher } from '../../adapters/iot-devices.js';
import { ENV, requireEnv } from '../../shared/names.js';
import { hostClient, once } from '../wiring.js';

export const devicePublisher = /* @__PURE__ */ once(
  () => new IotDevicePublisher(hostClient(new IoTDataPlaneClient({ endpoint: requireEnv(ENV.iotDataEndpoint) }))),
);
