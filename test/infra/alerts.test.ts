import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/shared/names.js';
import { actionsOf, actionsOn, arnOf, ref, roleStatements, type SynthesizedVigia, synthVigia } from './synth.js';

let vigia: SynthesizedVigia;
beforeAll(() => {
  vigia = synthVigia();
});

type Fn = SynthesizedVigia['stack']['api']['handler'];
const statementsOf = (fn: Fn) => roleStatements(vigia.template, vigia.logicalId(fn.role!));
const envOf = (fn: Fn) =>
  vigia.template.toJSON().Resources[vigia.logicalId(fn)].Properties.Environment.Variables as Record<string, unknown>;
const dynamoOn = (fn: Fn, table: Parameters<SynthesizedVigia['logicalId']>[0]) =>
  actionsOn(statementsOf(fn), arnOf(vigia.logicalId(table))).filter((a) => a.startsWith('dynamodb:'));

describe('Alerts: topic', () => {
  it('is its own topic, apart from the alarm topic, encrypted with its own rotated key and TLS-only', () => {
    const topicId = vigia.logicalId(vigia.stack.alerts.topic);
    expect(topicId).not.toBe(vigia.logicalId(vigia.stack.operations.alarmTopic));
    const topic = vigia.template.toJSON().Resources[topicId];
    const keyId = topic.Properties.KmsMasterKeyId['Fn::GetAtt'][0] as string;
    expect(vigia.template.toJSON().Resources[keyId]).toMatchObject({ Type: 'AWS::KMS::Key', Properties: { EnableKeyRotation: true } });
    const alarmKey = vigia.template.toJSON().Resources[vigia.logicalId(vigia.stack.operations.alarmTopic)].Properties.KmsMasterKeyId;
    expect(alarmKey['Fn::GetAtt'][0]).not.toBe(keyId);
    vigia.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [ref(topicId)],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
  });

  it('lets exactly the history writer and the silence function publish, by topic policy and role', () => {
    const topicId = vigia.logicalId(vigia.stack.alerts.topic);
    const policies = Object.values(vigia.template.findResources('AWS::SNS::TopicPolicy')).filter(
      (p) => JSON.stringify(p.Properties.Topics) === JSON.stringify([ref(topicId)]),
    );
    const allows = policies.flatMap((p) => p.Properties.PolicyDocument.Statement).filter((s: { Effect: string }) => s.Effect === 'Allow');
    const principals = allows.map((s: { Principal: { AWS: unknown } }) => JSON.stringify(s.Principal.AWS)).sort();
    const publishers = [vigia.stack.telemetry.historyWriter, vigia.stack.alerts.silenceFunction];
    expect(principals).toEqual(publishers.map((fn) => JSON.stringify(arnOf(vigia.logicalId(fn.role!)))).sort());
    for (const fn of publishers) {
      expect(actionsOn(statementsOf(fn), ref(topicId))).toEqual(['sns:Publish']);
      expect(envOf(fn)[ENV.alertTopicArn]).toEqual(ref(topicId));
    }
    for (const fn of [vigia.stack.api.handler, vigia.stack.telemetry.broadcaster, vigia.stack.telemetry.presence]) {
      expect(statementsOf(fn).flatMap(actionsOf)).not.toContain('sns:Publish');
    }
  });

  it('has an e-mail subscription only with the context key alertEmail', () => {
    const topicOf = (v: SynthesizedVigia) => ref(v.logicalId(v.stack.alerts.topic));
    expect(
      Object.values(vigia.template.findResources('AWS::SNS::Subscription', { Properties: { TopicArn: topicOf(vigia) } })),
    ).toHaveLength(0);
    const withEmail = synthVigia({ alertEmail: 'oncall@example.com' });
    withEmail.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: topicOf(withEmail),
    });
  });
});

describe('Alerts: silence schedule', () => {
  it('invokes the silence function once a minute, without retries', () => {
    const fnId = vigia.logicalId(vigia.stack.alerts.silenceFunction);
    vigia.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: arnOf(fnId), RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 0 }) })],
    });
    vigia.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: arnOf(fnId),
      Principal: 'events.amazonaws.com',
    });
  });
});

describe('Alerts: grants equal the calls made', () => {
  it('history writer: alert states and events, the rules (Query), no rule changes', () => {
    const fn = vigia.stack.telemetry.historyWriter;
    expect(dynamoOn(fn, vigia.stack.alerts.table)).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:BatchWriteItem',
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
    expect(envOf(fn)[ENV.alertsTable]).toEqual(ref(vigia.logicalId(vigia.stack.alerts.table)));
    expect(statementsOf(fn).flatMap(actionsOf)).toContain('execute-api:ManageConnections');
  });

  it('http api: rules, states, events and acknowledgement frames', () => {
    const fn = vigia.stack.api.handler;
    expect(dynamoOn(fn, vigia.stack.alerts.table)).toEqual([
      'dynamodb:BatchWriteItem',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
    expect(statementsOf(fn).flatMap(actionsOf)).toContain('execute-api:ManageConnections');
  });

  it('silence function: the registry by Scan, alert states and events, frames', () => {
    const fn = vigia.stack.alerts.silenceFunction;
    expect(dynamoOn(fn, vigia.stack.alerts.table)).toEqual([
      'dynamodb:BatchWriteItem',
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
    expect(dynamoOn(fn, vigia.stack.history.sensorsTable)).toEqual(['dynamodb:Scan']);
    expect(dynamoOn(fn, vigia.stack.history.readingsTable)).toEqual([]);
    // Every connection by Query; a gone one closed (DeleteItem) and the subscriptions' version moved on (UpdateItem).
    expect(dynamoOn(fn, vigia.stack.realtime.connectionsTable)).toEqual(['dynamodb:DeleteItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
  });

  it('the alerts table keeps history with TTL and point-in-time recovery', () => {
    vigia.template.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      }),
      DeletionPolicy: 'Retain',
    });
    expect(vigia.template.toJSON().Resources[vigia.logicalId(vigia.stack.alerts.table)].Properties.TimeToLiveSpecification).toEqual({
      AttributeName: 'expiresAt',
      Enabled: true,
    });
  });
});
