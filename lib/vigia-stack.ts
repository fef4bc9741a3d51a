import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { Alerts } from './alerts.js';
import { Api } from './api.js';
import { Auth, threatProtectionFromContext } from './auth.js';
import { Dashboard, DashboardConfig } from './dashboard.js';
import { Devices } from './devices.js';
import { FunctionDefaults, type VigiaFunction } from './function-defaults.js';
import { History, type Retention } from './history.js';
import { FUNCTIONS, type FunctionName, METRICS } from '../lambdas/shared/names.js';
import { Operations, vigiaMetric } from './operations.js';
import { Realtime } from './realtime.js';
import { type IngestSettings, STREAM_CONSUMERS, Telemetry, ingestFromContext } from './telemetry.js';

export interface VigiaStackProps extends StackProps {
  /**
   * History retention, from the context keys rawRetentionDays, minuteRetentionDays, hourRetentionDays.
   * @default RETENTION_DEFAULTS (30, 180 and 1825 days)
   */
  readonly retention?: Retention;
  /**
   * Where alarms are e-mailed.
   * @default the context key `alarmEmail`, else no subscription
   */
  readonly alarmEmail?: string;
  /**
   * How telemetry reaches its functions, and the stream's settings (see TelemetryProps).
   * @default the context keys `ingest`, `streamShards`, `historyBatchWindowSeconds`, else stream ingest on 1 shard
   */
  readonly ingest?: IngestSettings;
  /**
   * Where fired and resolved alerts are e-mailed.
   * @default the context key `alertEmail`, else no subscription
   */
  readonly alertEmail?: string;
}

/** The whole cloud side of vigia. Wiring only: each construct hands its resources to the next. */
export class VigiaStack extends Stack {
  readonly history: History;
  readonly devices: Devices;
  readonly realtime: Realtime;
  readonly telemetry: Telemetry;
  readonly dashboard: Dashboard;
  readonly auth: Auth;
  readonly api: Api;
  readonly dashboardConfig: DashboardConfig;
  readonly operations: Operations;
  readonly alerts: Alerts;
  /** Every function of the app, by the name the local runtime gives its invocations (FUNCTIONS). */
  readonly functions: Record<FunctionName, VigiaFunction>;

  constructor(scope: Construct, id: string, props: VigiaStackProps = {}) {
    super(scope, id, props);

    const functions = new FunctionDefaults(this, 'FunctionDefaults');
    const history = (this.history = new History(this, 'History', { retention: props.retention }));
    const devices = (this.devices = new Devices(this, 'Devices', { providerLogGroup: functions.providerLogGroup }));
    // The distribution comes first: its origin is the sign-in callback and the API's only CORS origin.
    const dashboard = (this.dashboard = new Dashboard(this, 'Dashboard', { deploymentLogGroup: functions.providerLogGroup }));
    const auth = (this.auth = new Auth(this, 'Auth', {
      dashboardUrl: dashboard.url,
      domainPrefix: (this.node.tryGetContext('authDomainPrefix') as string | undefined) || undefined,
      threatProtection: threatProtectionFromContext(this),
    }));
    const realtime = (this.realtime = new Realtime(this, 'Realtime', {
      functions,
      sensorsTable: history.sensorsTable,
      devices,
      auth,
    }));
    const telemetry = (this.telemetry = new Telemetry(this, 'Telemetry', {
      functions,
      history,
      realtime,
      ...(props.ingest ?? ingestFromContext(this)),
    }));
    const basicIngestRule = telemetry.basicIngestRule;
    if (basicIngestRule) devices.allowBasicIngest(basicIngestRule.ref);
    const api = (this.api = new Api(this, 'Api', { functions, history, allowedOrigin: dashboard.url, auth }));
    // config.json needs both URLs, so it is written by a deployment of its own, after both exist.
    this.dashboardConfig = new DashboardConfig(this, 'DashboardConfig', {
      dashboard,
      apiUrl: api.url,
      wsUrl: realtime.url,
      auth: auth.dashboardConfig,
      deploymentLogGroup: functions.providerLogGroup,
    });
    const alertEmail = props.alertEmail ?? (this.node.tryGetContext('alertEmail') as string | undefined);
    const alerts = (this.alerts = new Alerts(this, 'Alerts', {
      functions,
      history,
      realtime,
      evaluators: [telemetry.historyWriter],
      api: api.handler,
      alertEmail: alertEmail || undefined,
    }));
    this.functions = {
      [FUNCTIONS.historyWriter]: telemetry.historyWriter,
      [FUNCTIONS.broadcaster]: telemetry.broadcaster,
      [FUNCTIONS.presence]: telemetry.presence,
      [FUNCTIONS.webSocket]: realtime.webSocketFunction,
      [FUNCTIONS.connectAuthorizer]: realtime.authorizerFunction,
      [FUNCTIONS.httpApi]: api.handler,
      [FUNCTIONS.alertSilence]: alerts.silenceFunction,
    };
    const alarmEmail = props.alarmEmail ?? (this.node.tryGetContext('alarmEmail') as string | undefined);
    this.operations = new Operations(this, 'Operations', {
      functions: this.functions,
      expectedErrors: { [FUNCTIONS.connectAuthorizer]: vigiaMetric(METRICS.connectUnauthorized) },
      deadLetterQueue: telemetry.deadLetterQueue,
      httpApi: api.httpApi,
      topicRules: telemetry.rules,
      telemetryStream: telemetry.stream,
      streamIteratorAgeLimit: STREAM_CONSUMERS.broadcaster.maxRecordAge,
      alarmEmail: alarmEmail || undefined,
    });

    new CfnOutput(this, 'DashboardUrl', { value: dashboard.url, description: 'The dashboard' });
    new CfnOutput(this, 'UserPoolId', {
      value: auth.userPool.userPoolId,
      description: 'Dashboard users: invite with admin-create-user, then admin-add-user-to-group operator or viewer',
    });
    new CfnOutput(this, 'ApiUrl', { value: api.url, description: 'HTTP API base URL (contract §5)' });
    new CfnOutput(this, 'WebSocketUrl', { value: realtime.url, description: 'WebSocket URL (contract §6)' });
    new CfnOutput(this, 'IotDataEndpoint', {
      value: devices.dataEndpoint,
      description: 'IoT data endpoint; devices connect to its host with MQTT over mutual TLS (port 8883)',
    });
    new CfnOutput(this, 'DevicePolicyName', {
      value: devices.devicePolicy.ref,
      description: 'IoT policy to attach to each device certificate',
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.operations.alarmTopic.topicArn,
      description: 'Alarm notifications (SNS); subscribe to it, or set the context key alarmEmail',
    });
    if (basicIngestRule) {
      new CfnOutput(this, 'BasicIngestTopic', {
        value: `$aws/rules/${basicIngestRule.ref}/sensors/{sensorId}/telemetry`,
        description: 'Basic Ingest: the telemetry topic IoT Core does not bill as messaging (contract §2)',
      });
    }
    new CfnOutput(this, 'AlertTopicArn', {
      value: alerts.topic.topicArn,
      description: 'Alert notifications (SNS): fired and resolved alerts; or set the context key alertEmail',
    });
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      value: telemetry.deadLetterQueue.queueUrl,
      description: 'Rejected payloads and failed deliveries',
    });
  }
}
