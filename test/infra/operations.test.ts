import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { METRICS } from '../../lambdas/shared/names.js';
import { ref, type SynthesizedVigia, synthVigia } from './synth.js';

let vigia: SynthesizedVigia;
beforeAll(() => {
  vigia = synthVigia();
});

const FUNCTION_NAMES = ['HistoryWriter', 'Broadcaster', 'Presence', 'WebSocket', 'HttpApi'] as const;

const functionsOf = (v: SynthesizedVigia) => ({
  HistoryWriter: v.stack.telemetry.historyWriter,
  Broadcaster: v.stack.telemetry.broadcaster,
  Presence: v.stack.telemetry.presence,
  WebSocket: v.stack.realtime.webSocketFunction,
  HttpApi: v.stack.api.handler,
});

describe('Operations: alarm topic', () => {
  it('is encrypted with a rotated customer managed key that CloudWatch may use, and refuses plain HTTP', () => {
    const topicId = vigia.logicalId(vigia.stack.operations.alarmTopic);
    // The alarm topic's own key (the alerts topic, lib/alerts.ts, has another).
    const keyId = (vigia.template.toJSON().Resources[topicId].Properties.KmsMasterKeyId['Fn::GetAtt'] as string[])[0];
    expect(vigia.template.toJSON().Resources[keyId]).toMatchObject({
      Type: 'AWS::KMS::Key',
      Properties: {
        EnableKeyRotation: true,
        KeyPolicy: {
          Statement: expect.arrayContaining([
            expect.objectContaining({
              Principal: { Service: 'cloudwatch.amazonaws.com' },
              Action: expect.arrayContaining(['kms:Decrypt', 'kms:GenerateDataKey*']),
            }),
          ]),
        },
      },
    });
    vigia.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [ref(topicId)],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
  });

  it("lets this account's CloudWatch alarms publish (the SSL-only topic policy replaces the default one)", () => {
    const topicId = vigia.logicalId(vigia.stack.operations.alarmTopic);
    vigia.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [ref(topicId)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'AllowCloudWatchAlarms',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: ref(topicId),
            Condition: {
              StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId') },
              ArnLike: {
                'aws:SourceArn': {
                  'Fn::Join': [
                    '',
                    ['arn:', ref('AWS::Partition'), ':cloudwatch:', ref('AWS::Region'), ':', ref('AWS::AccountId'), ':alarm:*'],
                  ],
                },
              },
            },
          },
        ]),
      },
    });
  });

  it('has no subscription without the context key alarmEmail, and an e-mail one with it', () => {
    vigia.template.resourceCountIs('AWS::SNS::Subscription', 0);
    const withEmail = synthVigia({ alarmEmail: 'ops@example.com' });
    withEmail.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: ref(withEmail.logicalId(withEmail.stack.operations.alarmTopic)),
    });
  });
});

describe('Operations: alarms', () => {
  const topic = () => ref(vigia.logicalId(vigia.stack.operations.alarmTopic));

  it('every alarm notifies the alarm topic, on alarm and back to OK', () => {
    const alarms = vigia.template.findResources('AWS::CloudWatch::Alarm');
    expect(Object.keys(alarms).length).toBeGreaterThan(0);
    for (const [id, alarm] of Object.entries(alarms)) {
      expect(alarm.Properties.AlarmActions, id).toEqual([topic()]);
      expect(alarm.Properties.OKActions, id).toEqual([topic()]);
    }
  });

  it('any message in the dead-letter queue', () => {
    const queueId = vigia.logicalId(vigia.stack.telemetry.deadLetterQueue);
    vigia.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      AlarmActions: [topic()],
    });
  });

  it('no telemetry for 10 minutes: ReadingsAccepted sum < 1 over two 5-minute periods, missing data breaching', () => {
    vigia.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: METRICS.namespace,
      MetricName: METRICS.readingsAccepted,
      Dimensions: [{ Name: 'service', Value: METRICS.service }],
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 2,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      AlarmActions: [topic()],
    });
  });

  it.each(FUNCTION_NAMES)('%s: error rate above 1 %% over 5 minutes (errors / invocations) and any throttle', (name) => {
    const fnRef = ref(vigia.logicalId(functionsOf(vigia)[name]));
    const fnDimension = [{ Name: 'FunctionName', Value: fnRef }];
    vigia.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 1,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
      AlarmActions: [topic()],
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'IF(invocations > 0, 100 * errors / invocations, 0)', ReturnData: true }),
        Match.objectLike({
          Id: 'errors',
          MetricStat: { Metric: { Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: fnDimension }, Period: 300, Stat: 'Sum' },
        }),
        Match.objectLike({
          Id: 'invocations',
          MetricStat: { Metric: { Namespace: 'AWS/Lambda', MetricName: 'Invocations', Dimensions: fnDimension }, Period: 300, Stat: 'Sum' },
        }),
      ]),
    });
    vigia.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Throttles',
      Dimensions: fnDimension,
      Statistic: 'Sum',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: [topic()],
    });
  });
});

describe('Operations: the telemetry stream', () => {
  it('stream ingest: an alarm when the stream’s oldest unread record is over a minute old for 3 minutes, and a dashboard graph', () => {
    const stream = vigia.stack.telemetry.stream!;
    vigia.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Kinesis',
      MetricName: 'GetRecords.IteratorAgeMilliseconds',
      Dimensions: [{ Name: 'StreamName', Value: ref(vigia.logicalId(stream)) }],
      Statistic: 'Maximum',
      Period: 60,
      // The broadcaster's maximum record age: past it, records are no longer pushed live.
      Threshold: 60_000,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      TreatMissingData: 'notBreaching',
      AlarmActions: [ref(vigia.logicalId(vigia.stack.operations.alarmTopic))],
    });
    const dashboard = JSON.stringify(Object.values(vigia.template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody);
    expect(dashboard).toContain('GetRecords.IteratorAgeMilliseconds');
  });

  it('direct ingest has no stream, so no such alarm', () => {
    const direct = synthVigia({ ingest: 'direct' });
    expect(direct.stack.operations.streamLagAlarm).toBeUndefined();
    direct.template.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { MetricName: 'GetRecords.IteratorAgeMilliseconds' }, 0);
  });
});

describe('Operations: the WebSocket authorizer', () => {
  it("leaves its 401s (counted as ConnectUnauthorized) out of its error rate: a stale tab's token is no failure", () => {
    const fnDimension = [{ Name: 'FunctionName', Value: ref(vigia.logicalId(vigia.stack.realtime.authorizerFunction)) }];
    vigia.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 1,
      Metrics: Match.arrayWith([
        Match.objectLike({
          Expression: 'IF(invocations > 0, 100 * IF(errors > FILL(expected, 0), errors - FILL(expected, 0), 0) / invocations, 0)',
        }),
        Match.objectLike({ Id: 'errors', MetricStat: Match.objectLike({ Metric: Match.objectLike({ Dimensions: fnDimension }) }) }),
        Match.objectLike({
          Id: 'expected',
          MetricStat: Match.objectLike({
            Metric: { Namespace: 'Vigia', MetricName: METRICS.connectUnauthorized, Dimensions: [{ Name: 'service', Value: 'vigia' }] },
          }),
        }),
      ]),
    });
  });
});

describe('Operations: dashboard', () => {
  const body = () => {
    const dashboards = vigia.template.findResources('AWS::CloudWatch::Dashboard');
    expect(Object.keys(dashboards)).toHaveLength(1);
    return JSON.stringify(Object.values(dashboards)[0].Properties.DashboardBody);
  };

  it('is named after the stack and the region (dashboard names are global to the account)', () => {
    vigia.template.hasResourceProperties('AWS::CloudWatch::Dashboard', {
      DashboardName: { 'Fn::Join': ['', ['VigiaStack-operations-', ref('AWS::Region')]] },
    });
  });

  it('shows each function (errors, throttles, duration)', () => {
    const text = body();
    for (const fn of Object.values(functionsOf(vigia))) {
      expect(text).toContain(JSON.stringify(ref(vigia.logicalId(fn))));
    }
    for (const metric of ['Errors', 'Throttles', 'Duration']) expect(text).toContain(`\\"AWS/Lambda\\",\\"${metric}\\"`);
  });

  it('shows the custom metrics, the dead-letter queue depth, each IoT rule and the HTTP API 4xx/5xx', () => {
    const text = body();
    for (const name of [
      METRICS.readingsAccepted,
      METRICS.readingsRejected,
      METRICS.receiveToPushLatency,
      METRICS.livePushes,
      METRICS.batchSize,
    ]) {
      expect(text).toContain(name);
    }
    expect(text).toContain('ApproximateNumberOfMessagesVisible');
    expect(text).toContain(JSON.stringify({ 'Fn::GetAtt': [vigia.logicalId(vigia.stack.telemetry.deadLetterQueue), 'QueueName'] }));
    for (const rule of Object.values(vigia.stack.telemetry.rules)) expect(text).toContain(JSON.stringify(ref(vigia.logicalId(rule))));
    for (const metric of ['TopicMatch', 'Failure', 'RuleMessageThrottled', '4xx', '5xx']) expect(text).toContain(metric);
    expect(text).toContain(JSON.stringify(ref(vigia.logicalId(vigia.stack.api.httpApi))));
  });
});
