import { ArnFormat, Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  Dashboard as CloudWatchDashboard,
  GraphWidget,
  MathExpression,
  Metric,
  SingleValueWidget,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { CfnTopicRule } from 'aws-cdk-lib/aws-iot';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IStream } from 'aws-cdk-lib/aws-kinesis';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { type CounterMetric, METRICS, type ObservedMetric } from '../lambdas/shared/names.js';

export interface OperationsProps {
  /** The functions watched (errors, throttles, duration), by the name the dashboard shows. */
  readonly functions: Record<string, IFunction>;
  /**
   * Errors that are answers, not failures, by function name (the WebSocket authorizer's 401s): left out of that
   * function's error rate.
   * @default - none
   */
  readonly expectedErrors?: Record<string, Metric>;
  /** The dead-letter queue: any message in it is an alarm. */
  readonly deadLetterQueue: IQueue;
  /** The HTTP API whose 4xx and 5xx the dashboard shows. */
  readonly httpApi: IHttpApi;
  /**
   * Stream ingest: the telemetry stream, whose read lag (`GetRecords.IteratorAgeMilliseconds`) is alarmed and shown.
   * @default - none (direct ingest)
   */
  readonly telemetryStream?: IStream;
  /**
   * How old the stream's oldest unread record may get, sustained for 3 minutes, before the lag alarm fires.
   * @default 1 minute (the broadcaster's maximum record age: older records are no longer pushed live)
   */
  readonly streamIteratorAgeLimit?: Duration;
  /** The IoT topic rules, by id: their matches, failed actions and throttled messages. */
  readonly topicRules: Record<string, CfnTopicRule>;
  /**
   * Where alarm notifications are e-mailed (context key `alarmEmail`); the address confirms the subscription.
   * @default - no subscription: the topic is there to subscribe to
   */
  readonly alarmEmail?: string;
  /**
   * Minutes without an accepted reading after which the "no telemetry" alarm fires (two periods of half).
   * @default 10
   */
  readonly silenceMinutes?: number;
}

const FIVE_MINUTES = Duration.minutes(5);

/** A vigia metric of the handlers (EMF, namespace Vigia, dimension service). */
export function vigiaMetric(name: CounterMetric | ObservedMetric, statistic = 'Sum', period = FIVE_MINUTES): Metric {
  return new Metric({
    namespace: METRICS.namespace,
    metricName: name,
    dimensionsMap: { service: METRICS.service },
    statistic,
    period,
  });
}

/**
 * Operations: a CloudWatch dashboard of the custom metrics beside the functions, the dead-letter queue, the
 * IoT rules and the HTTP API; and alarms into an encrypted SNS topic.
 */
export class Operations extends Construct {
  readonly alarmTopic: Topic;
  readonly dashboard: CloudWatchDashboard;
  readonly deadLetterAlarm: Alarm;
  readonly noTelemetryAlarm: Alarm;
  /** Stream ingest only: the telemetry stream's consumers fall behind. */
  readonly streamLagAlarm?: Alarm;
  /** By function name: error rate above 1 % over 5 minutes. */
  readonly errorRateAlarms: Record<string, Alarm> = {};
  /** By function name: any throttled invocation. */
  readonly throttleAlarms: Record<string, Alarm> = {};

  constructor(scope: Construct, id: string, props: OperationsProps) {
    super(scope, id);

    // CloudWatch may publish to an encrypted topic only with a customer managed key that lets it.
    const key = new Key(this, 'AlarmTopicKey', {
      description: 'Encrypts the vigia alarm topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    key.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.alarmTopic = new Topic(this, 'AlarmTopic', {
      displayName: 'vigia alarms',
      masterKey: key,
      enforceSSL: true,
    });
    // enforceSSL makes a topic policy, which replaces SNS's default one: without this statement CloudWatch may not
    // publish and no alarm is ever delivered. Only this account's alarms, in this region.
    this.alarmTopic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarms',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: {
            'aws:SourceArn': Stack.of(this).formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    if (props.alarmEmail) this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));
    const notify = new SnsAction(this.alarmTopic);
    const withActions = (alarm: Alarm) => {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
      return alarm;
    };

    const dlqDepth = props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: FIVE_MINUTES });
    this.deadLetterAlarm = withActions(
      new Alarm(this, 'DeadLetterAlarm', {
        alarmDescription: 'A message is in the dead-letter queue: a rejected payload or a failed invocation',
        metric: dlqDepth,
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );

    const silence = props.silenceMinutes ?? 10;
    const accepted = vigiaMetric(METRICS.readingsAccepted);
    this.noTelemetryAlarm = withActions(
      new Alarm(this, 'NoTelemetryAlarm', {
        alarmDescription: `No reading accepted for ${silence} minutes`,
        metric: vigiaMetric(METRICS.readingsAccepted, 'Sum', Duration.minutes(silence / 2)),
        threshold: 1,
        comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 2,
        // No data points at all is exactly the silence this alarm is for.
        treatMissingData: TreatMissingData.BREACHING,
      }),
    );

    const iteratorAge = props.telemetryStream?.metricGetRecordsIteratorAgeMilliseconds({
      statistic: 'Maximum',
      period: Duration.minutes(1),
    });
    if (iteratorAge) {
      const limit = props.streamIteratorAgeLimit ?? Duration.minutes(1);
      this.streamLagAlarm = withActions(
        new Alarm(this, 'StreamLagAlarm', {
          alarmDescription: `Telemetry waits over ${limit.toHumanString()} in the stream: its consumers fall behind (history lags, live pushes are dropped)`,
          metric: iteratorAge,
          threshold: limit.toMilliseconds(),
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 3,
          // An idle stream reports nothing: no lag.
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    for (const [name, fn] of Object.entries(props.functions)) {
      const expected = props.expectedErrors?.[name];
      const errorRate = new MathExpression({
        expression: expected
          ? 'IF(invocations > 0, 100 * IF(errors > FILL(expected, 0), errors - FILL(expected, 0), 0) / invocations, 0)'
          : 'IF(invocations > 0, 100 * errors / invocations, 0)',
        usingMetrics: {
          errors: fn.metricErrors({ statistic: 'Sum', period: FIVE_MINUTES }),
          invocations: fn.metricInvocations({ statistic: 'Sum', period: FIVE_MINUTES }),
          ...(expected ? { expected: expected.with({ statistic: 'Sum', period: FIVE_MINUTES }) } : {}),
        },
        label: `${name} error rate (%)`,
        period: FIVE_MINUTES,
      });
      this.errorRateAlarms[name] = withActions(
        new Alarm(this, `${name}ErrorRateAlarm`, {
          alarmDescription: `${name}: more than 1 % of invocations failed over 5 minutes`,
          metric: errorRate,
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
      this.throttleAlarms[name] = withActions(
        new Alarm(this, `${name}ThrottleAlarm`, {
          alarmDescription: `${name}: invocations were throttled`,
          metric: fn.metricThrottles({ statistic: 'Sum', period: FIVE_MINUTES }),
          threshold: 0,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }

    const rejectedByReason = new MathExpression({
      expression: `SEARCH('{${METRICS.namespace},Reason,service} MetricName="${METRICS.readingsRejected}"', 'Sum', 300)`,
      usingMetrics: {},
      label: 'Rejected',
      period: FIVE_MINUTES,
    });
    const functionEntries = Object.entries(props.functions);
    const ruleEntries = Object.entries(props.topicRules);
    const iotMetric = (metricName: string, rule: CfnTopicRule, extra: Record<string, string> = {}, label = metricName) =>
      new Metric({
        namespace: 'AWS/IoT',
        metricName,
        dimensionsMap: { RuleName: rule.ref, ...extra },
        statistic: 'Sum',
        period: FIVE_MINUTES,
        label,
      });

    this.dashboard = new CloudWatchDashboard(this, 'Dashboard', {
      // Dashboard names are global to the account: the region keeps a second region's deployment apart.
      dashboardName: `${Stack.of(this).stackName}-operations-${Aws.REGION}`,
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new TextWidget({ markdown: '# vigia operations\nTelemetry in and out, then the parts that carry it.', width: 24, height: 2 }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'Readings accepted', left: [accepted], width: 8 }),
      new GraphWidget({ title: 'Payloads rejected, by reason', left: [rejectedByReason], width: 8 }),
      new SingleValueWidget({ title: 'Dead-letter queue depth', metrics: [dlqDepth], width: 8 }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Receive to push latency (ms)',
        left: ['p50', 'p99', 'Maximum'].map((s) => vigiaMetric(METRICS.receiveToPushLatency, s).with({ label: s })),
        width: 8,
      }),
      new GraphWidget({
        title: 'Live pushes and gone connections',
        left: [vigiaMetric(METRICS.livePushes)],
        right: [vigiaMetric(METRICS.goneConnectionsRemoved)],
        width: 8,
      }),
      new GraphWidget({
        title: 'Batch size (rule events per invocation)',
        left: ['Average', 'Maximum'].map((s) => vigiaMetric(METRICS.batchSize, s).with({ label: s })),
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Function errors',
        left: functionEntries.map(([name, fn]) => fn.metricErrors({ statistic: 'Sum', period: FIVE_MINUTES, label: name })),
        width: 8,
      }),
      new GraphWidget({
        title: 'Function throttles',
        left: functionEntries.map(([name, fn]) => fn.metricThrottles({ statistic: 'Sum', period: FIVE_MINUTES, label: name })),
        width: 8,
      }),
      new GraphWidget({
        title: 'Function duration p99 (ms)',
        left: functionEntries.map(([name, fn]) => fn.metricDuration({ statistic: 'p99', period: FIVE_MINUTES, label: name })),
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'IoT rules: matched messages',
        left: ruleEntries.map(([name, rule]) => iotMetric('TopicMatch', rule, {}, name)),
        width: 8,
      }),
      new GraphWidget({
        title: 'IoT rules: failed actions and throttled messages',
        left: ruleEntries.map(([name, rule]) => iotMetric('Failure', rule, { ActionType: 'Lambda' }, `${name} failures`)),
        right: ruleEntries.map(([name, rule]) => iotMetric('RuleMessageThrottled', rule, {}, `${name} throttled`)),
        width: 8,
      }),
      new GraphWidget({
        title: 'HTTP API 4xx / 5xx',
        left: [
          props.httpApi.metricClientError({ statistic: 'Sum', period: FIVE_MINUTES, label: '4xx' }),
          props.httpApi.metricServerError({ statistic: 'Sum', period: FIVE_MINUTES, label: '5xx' }),
        ],
        width: 8,
      }),
    );
    if (iteratorAge) {
      this.dashboard.addWidgets(
        new GraphWidget({
          title: 'Telemetry stream: oldest unread record (ms)',
          left: [iteratorAge.with({ label: 'iterator age, max' })],
          width: 8,
        }),
      );
    }
  }
}
