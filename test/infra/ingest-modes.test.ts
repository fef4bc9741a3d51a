import { Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { RULES, ruleSql } from '../../lambdas/shared/rules.js';
import { arnOf, ref, type SynthesizedVigia, synthVigia } from './synth.js';

const QUEUED = [
  { ruleId: 'StoreTelemetry', target: 'historyWriter' },
  { ruleId: 'BroadcastTelemetry', target: 'broadcaster' },
] as const;

const functionOf = (v: SynthesizedVigia, target: 'historyWriter' | 'broadcaster' | 'presence') => v.stack.telemetry[target];

describe('ingest: direct (the default)', () => {
  let vigia: SynthesizedVigia;
  beforeAll(() => {
    vigia = synthVigia();
  });

  it('every rule invokes its function; no function reads a queue', () => {
    expect(vigia.stack.telemetry.ingest).toBe('direct');
    expect(vigia.stack.telemetry.ingestQueues).toEqual({});
    for (const rule of RULES) {
      vigia.template.hasResourceProperties('AWS::IoT::TopicRule', {
        TopicRulePayload: { Sql: ruleSql(rule), Actions: [{ Lambda: { FunctionArn: arnOf(vigia.logicalId(functionOf(vigia, rule.target))) } }] },
      });
    }
    vigia.template.resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
  });
});

describe('ingest: queued (context ingest=queued)', () => {
  let vigia: SynthesizedVigia;
  beforeAll(() => {
    vigia = synthVigia({ ingest: 'queued' });
  });

  it.each(QUEUED)('$ruleId sends to its own queue with the same SQL and the queue action role', ({ ruleId, target }) => {
    const ingestQueue = vigia.stack.telemetry.ingestQueues[target]!;
    const rule = RULES.find((r) => r.id === ruleId)!;
    vigia.template.hasResourceProperties('AWS::IoT::TopicRule', {
      TopicRulePayload: {
        Sql: ruleSql(rule),
        Actions: [{ Sqs: { QueueUrl: ref(vigia.logicalId(ingestQueue.queue)), RoleArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('RuleQueueActionRole'), 'Arn'] }, UseBase64: false } }],
        ErrorAction: { Sqs: { QueueUrl: ref(vigia.logicalId(vigia.stack.telemetry.deadLetterQueue)) } },
      },
    });
  });

  it.each(QUEUED)('the $target function reads its queue in batches of 100 or 1 s, without partial batch responses', ({ target }) => {
    const ingestQueue = vigia.stack.telemetry.ingestQueues[target]!;
    vigia.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: ref(vigia.logicalId(functionOf(vigia, target))),
      EventSourceArn: arnOf(vigia.logicalId(ingestQueue.queue)),
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 1,
      FunctionResponseTypes: Match.absent(),
    });
  });

  it.each(QUEUED)('the $target queue has a dead-letter queue of its own, alarmed into the alarm topic', ({ target }) => {
    const { queue, deadLetterQueue } = vigia.stack.telemetry.ingestQueues[target]!;
    const dlqId = vigia.logicalId(deadLetterQueue);
    expect(dlqId).not.toBe(vigia.logicalId(vigia.stack.telemetry.deadLetterQueue));
    expect(vigia.template.toJSON().Resources[vigia.logicalId(queue)].Properties).toMatchObject({
      RedrivePolicy: { deadLetterTargetArn: arnOf(dlqId), maxReceiveCount: 3 },
      SqsManagedSseEnabled: true,
    });
    vigia.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId, 'QueueName'] } }],
      Threshold: 1,
      AlarmActions: [ref(vigia.logicalId(vigia.stack.operations.alarmTopic))],
    });
  });

  it('the queued functions may no longer be invoked by IoT; presence still is, directly', () => {
    const permissions = vigia.template.findResources('AWS::Lambda::Permission', { Properties: { Principal: 'iot.amazonaws.com' } });
    const invoked = Object.values(permissions).map((p) => JSON.stringify(p.Properties.FunctionName));
    for (const { target } of QUEUED) expect(invoked).not.toContain(JSON.stringify(arnOf(vigia.logicalId(functionOf(vigia, target)))));
    expect(invoked).toContain(JSON.stringify(arnOf(vigia.logicalId(functionOf(vigia, 'presence')))));
    vigia.template.hasResourceProperties('AWS::IoT::TopicRule', {
      TopicRulePayload: { Actions: [{ Lambda: { FunctionArn: arnOf(vigia.logicalId(functionOf(vigia, 'presence'))) } }] },
    });
  });

  it('the queue action role is assumable by IoT of this account and may only send to the two ingest queues', () => {
    const roles = vigia.template.findResources('AWS::IAM::Role', {
      Properties: { Description: 'Lets the telemetry rules send to the ingest queues' },
    });
    const [roleId] = Object.keys(roles);
    expect(roles[roleId].Properties.AssumeRolePolicyDocument.Statement[0]).toMatchObject({
      Principal: { Service: 'iot.amazonaws.com' },
      Condition: { StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId') } },
    });
    const policies = vigia.template.findResources('AWS::IAM::Policy', { Properties: { Roles: [ref(roleId)] } });
    const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement);
    expect(statements.map((s) => s.Action)).toEqual(['sqs:SendMessage', 'sqs:SendMessage']);
    expect(statements.map((s) => s.Resource).sort()).toEqual(
      QUEUED.map(({ target }) => arnOf(vigia.logicalId(vigia.stack.telemetry.ingestQueues[target]!.queue))).sort(),
    );
  });

  it('cdk-nag finds nothing in queued mode either', () => {
    const report = new AwsSolutionsChecks().validateScope(vigia.app);
    expect(report.violations.map((v) => `${v.ruleName} @ ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)).toEqual([]);
  });
});

it('an ingest context value other than direct or queued fails the synth, naming the key', () => {
  expect(() => synthVigia({ ingest: 'sometimes' })).toThrow(/ingest must be direct or queued/);
});
