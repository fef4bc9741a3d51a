import { Capture, Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { RULES, TELEMETRY_STREAM_RULE, ruleSql } from '../../lambdas/shared/rules.js';
import { DEFAULT_INGEST, HISTORY_BATCH_SIZE, HISTORY_WINDOW_S, LIVE_BATCH_SIZE, LIVE_WINDOW_S } from '../../cost/model.js';
import { INGEST_DEFAULTS, STREAM_CONSUMERS } from '../../lib/telemetry.js';
import { actionsOn, arnOf, ref, roleStatements, type SynthesizedVigia, synthVigia } from './synth.js';

const functionOf = (v: SynthesizedVigia, target: 'historyWriter' | 'broadcaster' | 'presence') => v.stack.telemetry[target];
const nagFindings = (v: SynthesizedVigia) =>
  new AwsSolutionsChecks()
    .validateScope(v.app)
    .violations.map((x) => `${x.ruleName} @ ${x.violatingResources.map((r) => r.constructPath).join(', ')}`);

describe('ingest: stream (the default)', () => {
  let vigia: SynthesizedVigia;
  let streamId: string;
  beforeAll(() => {
    vigia = synthVigia();
    streamId = vigia.logicalId(vigia.stack.telemetry.stream!);
  });

  it('is what a deploy without context gets', () => {
    expect(vigia.stack.telemetry.ingest).toBe('stream');
  });

  it('the telemetry stream is encrypted with the aws/kinesis key, keeps 24 h and has 1 provisioned shard', () => {
    vigia.template.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
      RetentionPeriodHours: 24,
      ShardCount: 1,
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
    });
  });

  it('one telemetry rule puts each message on the stream keyed by sensorId, failures to the dead-letter queue', () => {
    const roleArn = new Capture();
    vigia.template.hasResourceProperties('AWS::IoT::TopicRule', {
      TopicRulePayload: {
        Sql: ruleSql(TELEMETRY_STREAM_RULE),
        AwsIotSqlVersion: '2016-03-23',
        Actions: [{ Kinesis: { StreamName: ref(streamId), PartitionKey: '${topic(2)}', RoleArn: roleArn } }],
        ErrorAction: { Sqs: { QueueUrl: ref(vigia.logicalId(vigia.stack.telemetry.deadLetterQueue)), RoleArn: Match.anyValue() } },
      },
    });
    expect(roleArn.asObject()).toEqual(arnOf(vigia.logicalId(vigia.stack.telemetry.streamActionRole!)));
    expect(TELEMETRY_STREAM_RULE.select.find((p) => p.kind === 'topicSegment')).toMatchObject({ index: 2, as: 'sensorId' });
  });

  it('no rule invokes the history writer or the broadcaster; presence stays a direct rule', () => {
    const sqls = Object.values(vigia.template.findResources('AWS::IoT::TopicRule')).map((r) => r.Properties.TopicRulePayload.Sql);
    expect(sqls.filter((sql) => sql === ruleSql(TELEMETRY_STREAM_RULE))).toHaveLength(1);
    const permissions = vigia.template.findResources('AWS::Lambda::Permission', { Properties: { Principal: 'iot.amazonaws.com' } });
    const invoked = Object.values(permissions).map((p) => JSON.stringify(p.Properties.FunctionName));
    for (const target of ['historyWriter', 'broadcaster'] as const) {
      expect(invoked).not.toContain(JSON.stringify(arnOf(vigia.logicalId(functionOf(vigia, target)))));
    }
    const presence = RULES.find((r) => r.target === 'presence')!;
    vigia.template.hasResourceProperties('AWS::IoT::TopicRule', {
      TopicRulePayload: {
        Sql: ruleSql(presence),
        Actions: [{ Lambda: { FunctionArn: arnOf(vigia.logicalId(functionOf(vigia, 'presence'))) } }],
      },
    });
  });

  it("the rule's Kinesis role is assumable by IoT of this account and may only put records on the stream", () => {
    const roleId = vigia.logicalId(vigia.stack.telemetry.streamActionRole!);
    vigia.template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Principal: { Service: 'iot.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId') } },
          }),
        ],
      },
    });
    const statements = roleStatements(vigia.template, roleId);
    expect(statements.map((s) => [s.Effect, s.Action, s.Resource])).toEqual([['Allow', 'kinesis:PutRecord', arnOf(streamId)]]);
  });

  it('the broadcaster reads the stream live: 1 s window, 2 retries, records older than a minute dropped', () => {
    vigia.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: ref(vigia.logicalId(functionOf(vigia, 'broadcaster'))),
      EventSourceArn: arnOf(streamId),
      StartingPosition: 'TRIM_HORIZON',
      MaximumBatchingWindowInSeconds: 1,
      BatchSize: 1000,
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 2,
      MaximumRecordAgeInSeconds: 60,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: arnOf(vigia.logicalId(vigia.stack.telemetry.deadLetterQueue)) } },
    });
  });

  it('the broadcaster reads each shard one batch at a time (its live claims are per shard: lambdas/core/live-shard.ts)', () => {
    const mappings = Object.values(vigia.template.findResources('AWS::Lambda::EventSourceMapping')).filter(
      (m) => JSON.stringify(m.Properties.FunctionName) === JSON.stringify(ref(vigia.logicalId(functionOf(vigia, 'broadcaster')))),
    );
    expect(mappings).toHaveLength(1);
    expect(mappings[0].Properties.ParallelizationFactor ?? 1).toBe(1);
  });

  it('the history writer reads the stream in its own, longer window: 30 s, 10 retries within 24 h', () => {
    vigia.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: ref(vigia.logicalId(functionOf(vigia, 'historyWriter'))),
      EventSourceArn: arnOf(streamId),
      StartingPosition: 'TRIM_HORIZON',
      MaximumBatchingWindowInSeconds: 30,
      BatchSize: 10000,
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 10,
      MaximumRecordAgeInSeconds: 86400,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: arnOf(vigia.logicalId(vigia.stack.telemetry.deadLetterQueue)) } },
    });
  });

  it.each(['historyWriter', 'broadcaster'] as const)(
    'the %s may read the stream and send its failed batches to the dead-letter queue',
    (target) => {
      const statements = roleStatements(vigia.template, vigia.logicalId(functionOf(vigia, target).role!));
      const onStream = actionsOn(statements, arnOf(streamId));
      expect(onStream).toEqual(expect.arrayContaining(['kinesis:GetRecords', 'kinesis:GetShardIterator']));
      expect(onStream.filter((a) => /Put|Delete|Create|Merge|Split/.test(a))).toEqual([]);
      expect(actionsOn(statements, arnOf(vigia.logicalId(vigia.stack.telemetry.deadLetterQueue)))).toContain('sqs:SendMessage');
    },
  );

  it('queues are gone: the dead-letter queue is the only SQS queue', () => {
    const queues = Object.keys(vigia.template.findResources('AWS::SQS::Queue'));
    expect(queues).toEqual([vigia.logicalId(vigia.stack.telemetry.deadLetterQueue)]);
  });

  it('devices may publish their own telemetry through Basic Ingest to the telemetry rule only; its topic is an output', () => {
    vigia.template.hasOutput('BasicIngestTopic', {
      Value: {
        'Fn::Join': ['', ['$aws/rules/', ref(vigia.logicalId(vigia.stack.telemetry.basicIngestRule!)), '/sensors/{sensorId}/telemetry']],
      },
    });
    const ruleId = vigia.logicalId(vigia.stack.telemetry.basicIngestRule!);
    vigia.template.hasResourceProperties('AWS::IoT::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Effect: 'Allow',
            Action: 'iot:Publish',
            Resource: {
              'Fn::Join': [
                '',
                Match.arrayWith([
                  Match.stringLikeRegexp(':topic/\\$aws/rules/$'),
                  ref(ruleId),
                  '/sensors/${iot:Connection.Thing.ThingName}/telemetry',
                ]),
              ],
            },
          },
        ]),
      },
    });
  });

  it('cdk-nag finds nothing in stream mode', () => {
    expect(nagFindings(vigia)).toEqual([]);
  });
});

describe('ingest: stream on demand, history window from context', () => {
  it('streamShards=on-demand makes an on-demand stream; historyBatchWindowSeconds sets the history window only', () => {
    const vigia = synthVigia({ streamShards: 'on-demand', historyBatchWindowSeconds: '120' });
    vigia.template.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamModeDetails: { StreamMode: 'ON_DEMAND' },
      ShardCount: Match.absent(),
    });
    vigia.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: ref(vigia.logicalId(functionOf(vigia, 'historyWriter'))),
      MaximumBatchingWindowInSeconds: 120,
    });
    vigia.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: ref(vigia.logicalId(functionOf(vigia, 'broadcaster'))),
      MaximumBatchingWindowInSeconds: 1,
    });
  });

  it('streamShards=4 provisions 4 shards', () => {
    synthVigia({ streamShards: 4 }).template.hasResourceProperties('AWS::Kinesis::Stream', { ShardCount: 4 });
  });
});

describe('ingest: direct (context ingest=direct)', () => {
  let vigia: SynthesizedVigia;
  beforeAll(() => {
    vigia = synthVigia({ ingest: 'direct' });
  });

  it('every rule invokes its function; there is no stream and no event source mapping', () => {
    expect(vigia.stack.telemetry.ingest).toBe('direct');
    expect(vigia.stack.telemetry.stream).toBeUndefined();
    for (const rule of RULES) {
      vigia.template.hasResourceProperties('AWS::IoT::TopicRule', {
        TopicRulePayload: {
          Sql: ruleSql(rule),
          Actions: [{ Lambda: { FunctionArn: arnOf(vigia.logicalId(functionOf(vigia, rule.target))) } }],
        },
      });
    }
    expect(vigia.template.findResources('AWS::Kinesis::Stream')).toEqual({});
    expect(vigia.template.findResources('AWS::Lambda::EventSourceMapping')).toEqual({});
  });

  it('devices may not use Basic Ingest: it would reach one of the two telemetry rules only', () => {
    expect(vigia.stack.telemetry.basicIngestRule).toBeUndefined();
    const policy = Object.values(vigia.template.findResources('AWS::IoT::Policy'))[0]!;
    expect(JSON.stringify(policy.Properties.PolicyDocument)).not.toContain('$aws/rules/');
    expect(vigia.template.findOutputs('BasicIngestTopic')).toEqual({});
  });

  it('cdk-nag finds nothing in direct mode either', () => {
    expect(nagFindings(vigia)).toEqual([]);
  });
});

it('the cost model prices the stack as it is deployed: default mode, history window, batch sizes', () => {
  expect(DEFAULT_INGEST).toBe(INGEST_DEFAULTS.ingest);
  expect(HISTORY_WINDOW_S).toBe(INGEST_DEFAULTS.historyBatchWindowSeconds);
  expect(HISTORY_BATCH_SIZE).toBe(STREAM_CONSUMERS.historyWriter.batchSize);
  expect(LIVE_BATCH_SIZE).toBe(STREAM_CONSUMERS.broadcaster.batchSize);
  expect(LIVE_WINDOW_S).toBe(STREAM_CONSUMERS.broadcaster.maxBatchingWindow.toSeconds());
});

it.each([
  [{ ingest: 'queued' }, /ingest must be stream or direct, got "queued"/],
  [{ streamShards: '0' }, /streamShards must be a number of shards from 1 to 500 or on-demand/],
  [{ streamShards: 'lots' }, /streamShards must be/],
  [{ historyBatchWindowSeconds: '301' }, /historyBatchWindowSeconds must be a whole number of seconds from 0 to 300/],
])('a bad ingest context value (%o) fails the synth, naming the key', (context, message) => {
  expect(() => synthVigia(context)).toThrow(message);
});
