import { Aws, Duration, Validations } from 'aws-cdk-lib';
import { INGEST_MODES, type IngestMode } from '../lambdas/shared/contract.js';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { CfnTopicRule } from 'aws-cdk-lib/aws-iot';
import { Stream, StreamEncryption, StreamMode } from 'aws-cdk-lib/aws-kinesis';
import { StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { KinesisEventSource, type KinesisEventSourceProps, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV, STREAM_BATCHES } from '../lambdas/shared/names.js';
import { RULES, type RuleTarget, TELEMETRY_STREAM_RULE, ruleSql } from '../lambdas/shared/rules.js';
import type { FunctionDefaults, VigiaFunction } from './function-defaults.js';
import type { HistoryTables } from './history.js';
import type { Realtime } from './realtime.js';

export interface TelemetryProps {
  readonly functions: FunctionDefaults;
  /** History tables (readings, roll-ups, sensors registry) and their retention. */
  readonly history: HistoryTables;
  /** The WebSocket side: its connections table and the stage readings and presence are pushed to. */
  readonly realtime: Realtime;
  /**
   * Retries of a failed asynchronous invocation before it goes to the dead-letter queue.
   * @default 2
   */
  readonly retryAttempts?: number;
  /**
   * How telemetry reaches its functions: `stream`, one rule puts every message on a Kinesis data stream
   * (partition key = sensorId) that the history writer and the broadcaster each read in batches; `direct`,
   * a rule per function invokes it once per message (the original design; cheapest for a handful of
   * sensors). Presence is always direct. Context key `ingest`.
   * @default 'stream'
   */
  readonly ingest?: IngestMode;
  /**
   * Stream ingest: the stream's capacity, a number of provisioned shards (1 MB/s and 1,000 records/s of
   * writes each; `npm run cost` prints what a fleet needs) or `'on-demand'`. Context key `streamShards`.
   * @default 1
   */
  readonly streamShards?: StreamShards;
  /**
   * Stream ingest: how long the history writer's event source mapping gathers records before it invokes
   * (up to 10,000 records): the longer, the fewer roll-up and registry writes per reading, the later history
   * shows a reading. Context key `historyBatchWindowSeconds`.
   * @default Duration.seconds(30)
   */
  readonly historyBatchWindow?: Duration;
}

export type { IngestMode };
export type StreamShards = number | 'on-demand';

/** The settings of stream ingest, as the context gives them (see TelemetryProps). */
export interface IngestSettings {
  readonly ingest: IngestMode;
  readonly streamShards: StreamShards;
  readonly historyBatchWindow: Duration;
}

export const INGEST_DEFAULTS = {
  ingest: 'stream',
  streamShards: 1,
  historyBatchWindowSeconds: STREAM_BATCHES.historyWriter.windowSeconds,
} as const;

/** The context keys `ingest`, `streamShards` and `historyBatchWindowSeconds`, checked. */
export function ingestFromContext(scope: Construct): IngestSettings {
  const context = (key: string) => {
    const value = scope.node.tryGetContext(key) as unknown;
    return value === undefined || value === '' ? undefined : String(value);
  };
  const ingest = context('ingest') ?? INGEST_DEFAULTS.ingest;
  if (!(INGEST_MODES as readonly string[]).includes(ingest)) {
    throw new Error(`Context key ingest must be stream or direct, got "${ingest}"`);
  }
  const shards = context('streamShards') ?? String(INGEST_DEFAULTS.streamShards);
  if (shards !== 'on-demand' && !(/^\d+$/.test(shards) && Number(shards) >= 1 && Number(shards) <= 500)) {
    throw new Error(`Context key streamShards must be a number of shards from 1 to 500 or on-demand, got "${shards}"`);
  }
  const window = context('historyBatchWindowSeconds') ?? String(INGEST_DEFAULTS.historyBatchWindowSeconds);
  if (!/^\d+$/.test(window) || Number(window) > 300) {
    throw new Error(`Context key historyBatchWindowSeconds must be a whole number of seconds from 0 to 300, got "${window}"`);
  }
  return {
    ingest: ingest as IngestMode,
    streamShards: shards === 'on-demand' ? 'on-demand' : Number(shards),
    historyBatchWindow: Duration.seconds(Number(window)),
  };
}

/**
 * The event source mappings of stream ingest. Live: at most a second late, a failed record retried twice
 * and dropped after a minute (a reading that old is no longer live). History: one batch per window, a
 * failed record retried ten times while it is younger than the stream's 24 h retention. Both bisect a
 * failing batch and report the records they could not handle, so only a poisoned record is dead-lettered.
 */
export const STREAM_CONSUMERS = {
  broadcaster: {
    batchSize: STREAM_BATCHES.broadcaster.maxRecords,
    maxBatchingWindow: Duration.seconds(STREAM_BATCHES.broadcaster.windowSeconds),
    retryAttempts: 2,
    maxRecordAge: Duration.minutes(1),
  },
  historyWriter: { batchSize: STREAM_BATCHES.historyWriter.maxRecords, retryAttempts: 10, maxRecordAge: Duration.hours(24) },
} as const;

/**
 * From devices to the system. Direct ingest: one IoT topic rule per entry of RULES, each invoking its
 * function. Stream ingest: one telemetry rule onto a Kinesis data stream that the history writer and the
 * broadcaster read through their own event source mappings, and the presence rule as in direct mode.
 * The dead-letter queue keeps whatever could not be handled (rejected payloads, failed invocations,
 * poisoned stream records, failed rule actions).
 */
export class Telemetry extends Construct {
  readonly deadLetterQueue: Queue;
  readonly historyWriter: VigiaFunction;
  readonly broadcaster: VigiaFunction;
  readonly presence: VigiaFunction;
  readonly rules: Record<string, CfnTopicRule> = {};
  /** Role the rules' error action assumes to send to the dead-letter queue. */
  readonly errorActionRole: Role;
  readonly ingest: IngestMode;
  /** Stream ingest: the data stream the telemetry rule writes to; undefined in direct mode. */
  readonly stream?: Stream;
  /** Stream ingest: the role the telemetry rule's Kinesis action assumes; undefined in direct mode. */
  readonly streamActionRole?: Role;

  constructor(scope: Construct, id: string, props: TelemetryProps) {
    super(scope, id);
    const { history, realtime, functions } = props;

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the telemetry pipeline.',
    });

    // IoT invokes asynchronously (presence, and direct ingest); stream consumers are invoked synchronously.
    const asyncInvocation = {
      onFailure: new SqsDestination(this.deadLetterQueue),
      retryAttempts: props.retryAttempts ?? 2,
    };

    this.historyWriter = functions
      .createFunction(this, 'HistoryWriter', {
        handler: 'history-writer',
        description: 'Validates telemetry, stores readings and roll-ups, dead-letters rejected payloads',
        timeout: Duration.seconds(30),
        environment: {
          [ENV.rawRetentionDays]: String(history.retention.rawDays),
          [ENV.minuteRetentionDays]: String(history.retention.minuteDays),
          [ENV.hourRetentionDays]: String(history.retention.hourDays),
        },
        ...asyncInvocation,
      })
      .useTable(
        ENV.readingsTable,
        history.readingsTable,
        'dynamodb:PutItem',
        'dynamodb:BatchWriteItem',
        'dynamodb:BatchGetItem',
        'dynamodb:Query',
      )
      // Roll-up buckets are put one by one where a bucket may already be there (PutItem with a condition), in batches
      // where none can be (BatchWriteItem: DynamoRollupStore.putBuckets).
      .useTable(
        ENV.rollupsTable,
        history.rollupsTable,
        'dynamodb:Query',
        'dynamodb:PutItem',
        'dynamodb:BatchGetItem',
        'dynamodb:BatchWriteItem',
      )
      .useTable(ENV.sensorsTable, history.sensorsTable, 'dynamodb:UpdateItem');
    this.historyWriter.addEnvironment(ENV.deadLetterQueueUrl, this.deadLetterQueue.queueUrl);
    this.deadLetterQueue.grant(this.historyWriter, 'sqs:SendMessage');

    this.broadcaster = functions
      .createFunction(this, 'Broadcaster', {
        handler: 'broadcaster',
        description: 'Pushes each new reading to the dashboards subscribed to its sensor',
        // The same accepted ts window as the writer, so nothing is pushed live that history refuses.
        environment: { [ENV.rawRetentionDays]: String(history.retention.rawDays) },
        ...asyncInvocation,
        // A live reading minutes late is noise (history has it): not the 6 h Lambda keeps retrying by default.
        maxEventAge: Duration.seconds(60),
      })
      // Subscribers read (Query), the subscriptions' version read (GetItem; with the shard's state in one BatchGetItem
      // when this container holds no save of it), live marks added to in place (UpdateItem), shard states put, gone
      // connections deleted and the version moved on.
      .useTable(
        ENV.connectionsTable,
        realtime.connectionsTable,
        'dynamodb:Query',
        'dynamodb:GetItem',
        'dynamodb:BatchGetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
      );
    realtime.grantPush(this.broadcaster);

    this.presence = functions
      .createFunction(this, 'Presence', {
        handler: 'presence',
        description: 'Applies device connect and disconnect events and tells subscribed dashboards',
        ...asyncInvocation,
      })
      .useTable(ENV.sensorsTable, history.sensorsTable, 'dynamodb:UpdateItem')
      // The subscriptions' version read (GetItem), the sets read again when it moved (Query); a gone connection is
      // deleted (DeleteItem) and the version moved on (UpdateItem).
      .useTable(
        ENV.connectionsTable,
        realtime.connectionsTable,
        'dynamodb:Query',
        'dynamodb:GetItem',
        'dynamodb:DeleteItem',
        'dynamodb:UpdateItem',
      );
    realtime.grantPush(this.presence);

    // IoT delivers a rule's failed action (e.g. Lambda throttled) to the error action with this role.
    const errorActionRole = (this.errorActionRole = new Role(this, 'RuleErrorActionRole', {
      assumedBy: new ServicePrincipal('iot.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'Lets the telemetry rules send failed actions to the dead-letter queue',
    }));
    this.deadLetterQueue.grant(errorActionRole, 'sqs:SendMessage');

    const targets: Record<RuleTarget, VigiaFunction> = {
      historyWriter: this.historyWriter,
      broadcaster: this.broadcaster,
      presence: this.presence,
    };
    this.ingest = props.ingest ?? INGEST_DEFAULTS.ingest;
    const errorAction: CfnTopicRule.ActionProperty = {
      sqs: { queueUrl: this.deadLetterQueue.queueUrl, roleArn: errorActionRole.roleArn, useBase64: false },
    };

    if (this.ingest === 'stream') {
      const shards = props.streamShards ?? INGEST_DEFAULTS.streamShards;
      const stream = (this.stream = new Stream(this, 'TelemetryStream', {
        // The aws/kinesis key: encrypted at rest, no key policy to keep, no KMS charge per call.
        encryption: StreamEncryption.MANAGED,
        retentionPeriod: Duration.hours(24),
        ...(shards === 'on-demand' ? { streamMode: StreamMode.ON_DEMAND } : { streamMode: StreamMode.PROVISIONED, shardCount: shards }),
      }));
      const streamActionRole = (this.streamActionRole = new Role(this, 'RuleStreamActionRole', {
        assumedBy: new ServicePrincipal('iot.amazonaws.com', {
          conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
        }),
        description: 'Lets the telemetry rule put records on the telemetry stream',
      }));
      stream.grant(streamActionRole, 'kinesis:PutRecord');

      const rule = TELEMETRY_STREAM_RULE;
      this.rules[rule.id] = new CfnTopicRule(this, rule.id, {
        topicRulePayload: {
          description: rule.description,
          sql: ruleSql(rule),
          awsIotSqlVersion: '2016-03-23',
          ruleDisabled: false,
          actions: [{ kinesis: { streamName: stream.streamName, partitionKey: rule.partitionKey, roleArn: streamActionRole.roleArn } }],
          errorAction,
        },
      });

      const consume = (fn: VigiaFunction, settings: KinesisConsumerSettings) =>
        fn.addEventSource(
          new KinesisEventSource(stream, {
            // A new stream is empty: from its start, so nothing put before the mapping exists is skipped.
            startingPosition: StartingPosition.TRIM_HORIZON,
            bisectBatchOnError: true,
            reportBatchItemFailures: true,
            onFailure: new SqsDlq(this.deadLetterQueue),
            ...settings,
          }),
        );
      consume(this.broadcaster, STREAM_CONSUMERS.broadcaster);
      consume(this.historyWriter, {
        ...STREAM_CONSUMERS.historyWriter,
        maxBatchingWindow: props.historyBatchWindow ?? Duration.seconds(INGEST_DEFAULTS.historyBatchWindowSeconds),
      });
    }

    for (const rule of RULES) {
      // Stream ingest: the stream rule above stands for the telemetry rules; presence stays a direct rule.
      if (this.ingest === 'stream' && rule.target !== 'presence') continue;
      const target = targets[rule.target];
      const topicRule = new CfnTopicRule(this, rule.id, {
        topicRulePayload: {
          description: rule.description,
          sql: ruleSql(rule),
          awsIotSqlVersion: '2016-03-23',
          ruleDisabled: false,
          actions: [{ lambda: { functionArn: target.functionArn } }],
          errorAction,
        },
      });
      target.addPermission(`InvokedBy${rule.id}`, {
        principal: new ServicePrincipal('iot.amazonaws.com'),
        sourceArn: topicRule.attrArn,
        sourceAccount: Aws.ACCOUNT_ID,
      });
      this.rules[rule.id] = topicRule;
    }
  }

  /**
   * Stream ingest: the one telemetry rule, which devices may also reach by Basic Ingest
   * (`$aws/rules/<its name>/sensors/<id>/telemetry`). Undefined in direct mode, where a Basic Ingest message
   * would reach one of the two telemetry rules only.
   */
  get basicIngestRule(): CfnTopicRule | undefined {
    return this.ingest === 'stream' ? this.rules[TELEMETRY_STREAM_RULE.id] : undefined;
  }
}

type KinesisConsumerSettings = Pick<KinesisEventSourceProps, 'batchSize' | 'maxBatchingWindow' | 'retryAttempts' | 'maxRecordAge'>;
