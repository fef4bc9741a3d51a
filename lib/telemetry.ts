import { Aws, Duration, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { CfnTopicRule } from 'aws-cdk-lib/aws-iot';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../lambdas/shared/names.js';
import { RULES, type RuleTarget, ruleSql } from '../lambdas/shared/rules.js';
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
   * How the telemetry rules reach their functions: `direct`, the rule invokes the function once per message;
   * `queued`, the rule sends to a queue per function (each with its own dead-letter queue) that the function
   * reads in batches of up to 100 messages or 1 second. Presence is always direct. Context key `ingest`.
   * @default 'direct'
   */
  readonly ingest?: IngestMode;
}

export type IngestMode = 'direct' | 'queued';

/** The `ingest` context value, checked. */
export function ingestFromContext(scope: Construct): IngestMode {
  const value = (scope.node.tryGetContext('ingest') as string | undefined) ?? 'direct';
  if (value !== 'direct' && value !== 'queued') throw new Error(`Context key ingest must be direct or queued, got "${value}"`);
  return value;
}

/** A queue a telemetry rule sends to (queued ingest), and where the messages its function keeps failing go. */
export interface IngestQueue {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
}

/** Telemetry rule targets that queued ingest puts a queue in front of. */
const QUEUED_TARGETS: readonly RuleTarget[] = ['historyWriter', 'broadcaster'];

/**
 * From devices to the system: one IoT topic rule per entry of RULES, each invoking its function,
 * and the dead-letter queue that keeps whatever could not be handled (rejected payloads, failed
 * invocations, failed rule actions).
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
  /** Queued ingest: the queue in front of each telemetry function, by rule target; empty in direct mode. */
  readonly ingestQueues: Partial<Record<RuleTarget, IngestQueue>> = {};

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
      .useTable(ENV.rollupsTable, history.rollupsTable, 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:BatchGetItem')
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
      .useTable(
        ENV.connectionsTable,
        realtime.connectionsTable,
        'dynamodb:Query',
        'dynamodb:PutItem',
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:BatchWriteItem',
        'dynamodb:BatchGetItem',
      );
    realtime.grantPush(this.broadcaster);

    this.presence = functions
      .createFunction(this, 'Presence', {
        handler: 'presence',
        description: 'Applies device connect and disconnect events and tells subscribed dashboards',
        ...asyncInvocation,
      })
      .useTable(ENV.sensorsTable, history.sensorsTable, 'dynamodb:UpdateItem')
      .useTable(
        ENV.connectionsTable,
        realtime.connectionsTable,
        'dynamodb:Query',
        'dynamodb:DeleteItem',
        'dynamodb:BatchWriteItem',
        'dynamodb:GetItem',
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
    this.ingest = props.ingest ?? 'direct';
    let queueActionRole: Role | undefined;
    if (this.ingest === 'queued') {
      queueActionRole = new Role(this, 'RuleQueueActionRole', {
        assumedBy: new ServicePrincipal('iot.amazonaws.com', {
          conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
        }),
        description: 'Lets the telemetry rules send to the ingest queues',
      });
      for (const target of QUEUED_TARGETS) {
        const fn = targets[target];
        const name = target.charAt(0).toUpperCase() + target.slice(1);
        const deadLetterQueue = new Queue(this, `${name}DeadLetterQueue`, {
          encryption: QueueEncryption.SQS_MANAGED,
          enforceSSL: true,
          retentionPeriod: Duration.days(14),
        });
        Validations.of(deadLetterQueue).acknowledge({
          id: 'AwsSolutions-SQS3',
          reason: `This queue is itself the dead-letter queue of the ${target} ingest queue.`,
        });
        const queue = new Queue(this, `${name}Queue`, {
          encryption: QueueEncryption.SQS_MANAGED,
          enforceSSL: true,
          // Lambda's advice: six times the function timeout, so a retried batch is not delivered twice at once.
          visibilityTimeout: fn.timeout ? Duration.seconds(fn.timeout.toSeconds() * 6) : Duration.minutes(1),
          deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: 3 },
        });
        queue.grant(queueActionRole, 'sqs:SendMessage');
        // The handlers take the whole batch or fail it whole: their work is idempotent per reading.
        fn.addEventSource(
          new SqsEventSource(queue, { batchSize: 100, maxBatchingWindow: Duration.seconds(1), reportBatchItemFailures: false }),
        );
        this.ingestQueues[target] = { queue, deadLetterQueue };
      }
    }

    for (const rule of RULES) {
      const target = targets[rule.target];
      const ingestQueue = this.ingestQueues[rule.target];
      const action: CfnTopicRule.ActionProperty = ingestQueue
        ? { sqs: { queueUrl: ingestQueue.queue.queueUrl, roleArn: queueActionRole!.roleArn, useBase64: false } }
        : { lambda: { functionArn: target.functionArn } };
      const topicRule = new CfnTopicRule(this, rule.id, {
        topicRulePayload: {
          description: rule.description,
          sql: ruleSql(rule),
          awsIotSqlVersion: '2016-03-23',
          ruleDisabled: false,
          actions: [action],
          errorAction: {
            sqs: { queueUrl: this.deadLetterQueue.queueUrl, roleArn: errorActionRole.roleArn, useBase64: false },
          },
        },
      });
      if (!ingestQueue) {
        target.addPermission(`InvokedBy${rule.id}`, {
          principal: new ServicePrincipal('iot.amazonaws.com'),
          sourceArn: topicRule.attrArn,
          sourceAccount: Aws.ACCOUNT_ID,
        });
      }
      this.rules[rule.id] = topicRule;
    }
  }
}
