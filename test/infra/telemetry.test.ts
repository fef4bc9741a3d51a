import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { RULES, ruleSql } from '../../lambdas/shared/rules.js';
import { arnOf, ref, type SynthesizedVigia, synthVigia } from './synth.js';

let vigia: SynthesizedVigia;
beforeAll(() => {
  // One rule per function is direct ingest's layout; stream ingest has its own tests (ingest-modes.test.ts).
  vigia = synthVigia({ ingest: 'direct' });
});

const targetOf = (v: SynthesizedVigia, target: string) => {
  const t = v.stack.telemetry;
  return { historyWriter: t.historyWriter, broadcaster: t.broadcaster, presence: t.presence }[target]!;
};

describe('Telemetry rules', () => {
  it.each(RULES.map((r) => [r.id, r] as const))('%s selects with the shared SQL and invokes its handler', (_id, rule) => {
    const fnId = vigia.logicalId(targetOf(vigia, rule.target));
    const queueId = vigia.logicalId(vigia.stack.telemetry.deadLetterQueue);
    vigia.template.hasResourceProperties('AWS::IoT::TopicRule', {
      TopicRulePayload: {
        Sql: ruleSql(rule),
        AwsIotSqlVersion: '2016-03-23',
        RuleDisabled: false,
        Actions: [{ Lambda: { FunctionArn: arnOf(fnId) } }],
        ErrorAction: { Sqs: { QueueUrl: ref(queueId), RoleArn: Match.anyValue() } },
      },
    });
  });

  it('TrackPresence passes only connect/disconnect events of certificate-authenticated clients (contract §6)', () => {
    const sql = vigia.stack.telemetry.rules.TrackPresence!.topicRulePayload as { sql: string };
    expect(sql.sql).toBe(
      "SELECT * FROM '$aws/events/presence/+/+' WHERE (eventType = 'connected' OR eventType = 'disconnected') " +
        "AND regexp_matches(principalIdentifier, '^[0-9a-f]{64}$')",
    );
  });

  it('each rule may invoke its function, and only that rule (source ARN and account)', () => {
    for (const rule of RULES) {
      const fnId = vigia.logicalId(targetOf(vigia, rule.target));
      const ruleId = vigia.logicalId(vigia.stack.telemetry.rules[rule.id]!);
      vigia.template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'iot.amazonaws.com',
        FunctionName: arnOf(fnId),
        SourceArn: arnOf(ruleId),
        SourceAccount: ref('AWS::AccountId'),
      });
    }
  });

  it("the rules' error action role is assumable by IoT and may only send to the dead-letter queue", () => {
    const queueId = vigia.logicalId(vigia.stack.telemetry.deadLetterQueue);
    const roleId = vigia.logicalId(vigia.stack.telemetry.errorActionRole);
    vigia.template.resourcePropertiesCountIs(
      'AWS::IoT::TopicRule',
      { TopicRulePayload: { ErrorAction: { Sqs: { RoleArn: arnOf(roleId) } } } },
      RULES.length,
    );
    expect(vigia.template.toJSON().Resources[roleId].Properties).toMatchObject({
      AssumeRolePolicyDocument: {
        Statement: [expect.objectContaining({ Principal: { Service: 'iot.amazonaws.com' }, Action: 'sts:AssumeRole' })],
      },
    });
    vigia.template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [ref(roleId)],
      PolicyDocument: {
        Statement: [{ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: arnOf(queueId) }],
      },
    });
  });
});

describe('Dead-letter queue', () => {
  it('is encrypted, keeps messages 14 days and refuses plain HTTP', () => {
    const queueId = vigia.logicalId(vigia.stack.telemetry.deadLetterQueue);
    expect(vigia.template.toJSON().Resources[queueId].Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    vigia.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [ref(queueId)],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
  });

  it.each(['historyWriter', 'broadcaster', 'presence'])(
    'receives the failed asynchronous invocations of the %s after 2 retries',
    (target) => {
      const fnId = vigia.logicalId(targetOf(vigia, target));
      const queueId = vigia.logicalId(vigia.stack.telemetry.deadLetterQueue);
      vigia.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: ref(fnId),
        MaximumRetryAttempts: 2,
        DestinationConfig: { OnFailure: { Destination: arnOf(queueId) } },
      });
    },
  );
});
