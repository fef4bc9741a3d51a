import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { Api } from './api.js';
import { Dashboard, DashboardConfig } from './dashboard.js';
import { Devices } from './devices.js';
import { FunctionDefaults } from './function-defaults.js';
import { History, type Retention } from './history.js';
import { Realtime } from './realtime.js';
import { Telemetry } from './telemetry.js';

export interface VigiaStackProps extends StackProps {
  /**
   * History retention, from the context keys rawRetentionDays, minuteRetentionDays, hourRetentionDays.
   * @default RETENTION_DEFAULTS (30, 180 and 1825 days)
   */
  readonly retention?: Retention;
}

/** The whole cloud side of vigia. Wiring only: each construct hands its resources to the next. */
export class VigiaStack extends Stack {
  constructor(scope: Construct, id: string, props: VigiaStackProps = {}) {
    super(scope, id, props);

    const functions = new FunctionDefaults(this, 'FunctionDefaults');
    const history = new History(this, 'History', { retention: props.retention });
    const devices = new Devices(this, 'Devices');
    const realtime = new Realtime(this, 'Realtime', { functions, sensorsTable: history.sensorsTable, devices });
    const telemetry = new Telemetry(this, 'Telemetry', { functions, history, realtime });
    const dashboard = new Dashboard(this, 'Dashboard');
    const api = new Api(this, 'Api', { functions, history, allowedOrigin: dashboard.url });
    new DashboardConfig(this, 'DashboardConfig', { dashboard, apiUrl: api.url, wsUrl: realtime.url });

    new CfnOutput(this, 'DashboardUrl', { value: dashboard.url, description: 'The dashboard' });
    new CfnOutput(this, 'ApiUrl', { value: api.url, description: 'HTTP API base URL (contract §5)' });
    new CfnOutput(this, 'WebSocketUrl', { value: realtime.url, description: 'WebSocket URL (contract §6)' });
    new CfnOutput(this, 'IotDataEndpoint', { value: devices.dataEndpoint, description: 'Where devices connect (MQTT over TLS, port 8883)' });
    new CfnOutput(this, 'DevicePolicyName', { value: devices.devicePolicy.ref, description: 'IoT policy to attach to each device certificate' });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: telemetry.deadLetterQueue.queueUrl, description: 'Rejected payloads and failed deliveries' });
  }
}
