import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { ArnPrincipal, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { ALERT_RULES_TTL_DEFAULT_SECONDS, ENV } from '../lambdas/shared/names.js';
import { ALERTS_TABLE } from '../lambdas/shared/tables.js';
import type { FunctionDefaults, VigiaFunction } from './function-defaults.js';
import type { HistoryTables } from './history.js';
import type { Realtime } from './realtime.js';
import { ITEM_READ_WRITE, tableFromDefinition } from './tables.js';

export interface AlertsProps {
  readonly functions: FunctionDefaults;
  readonly history: HistoryTables;
  /** Alert frames go to every WebSocket connection of this API. */
  readonly realtime: Realtime;
  /** The functions that evaluate readings in the ingest path (the history writer, whatever the ingest mode). */
  readonly evaluators: VigiaFunction[];
  /** The HTTP API function: rules, current alerts, history, acknowledgement. */
  readonly api: VigiaFunction;
  /**
   * Where fired and resolved alerts are e-mailed (context key `alertEmail`); the address confirms the
   * subscription.
   * @default - no subscription
   */
  readonly alertEmail?: string;
  /**
   * How long a function keeps the rules before reading them again.
   * @default Duration.seconds(10)
   */
  readonly rulesCacheTtl?: Duration;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Alerts (contract §8): the alerts table (rules, states, history), an SNS topic of its own for people
 * (separate from the operations alarms), the once-a-minute silence check, and what the history writer
 * and the HTTP API need to evaluate, answer and announce alerts.
 */
export class Alerts extends Construct {
  readonly table: Table;
  readonly topic: Topic;
  readonly silenceFunction: VigiaFunction;
  readonly silenceSchedule: Rule;

  constructor(scope: Construct, id: string, props: AlertsProps) {
    super(scope, id);
    const { history, realtime } = props;
    this.table = tableFromDefinition(this, 'Alerts', ALERTS_TABLE, { removalPolicy: props.removalPolicy });

    const key = new Key(this, 'AlertTopicKey', {
      description: 'Encrypts the vigia alerts topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    this.topic = new Topic(this, 'AlertTopic', { displayName: 'vigia alerts', masterKey: key, enforceSSL: true });
    if (props.alertEmail) this.topic.addSubscription(new EmailSubscription(props.alertEmail));

    this.silenceFunction = props.functions.createFunction(this, 'AlertSilence', {
      handler: 'alert-silence',
      description: 'Checks silence rules: fires for sensors with no reading for too long, resolves those that spoke',
      timeout: Duration.seconds(50),
    });
    this.silenceSchedule = new Rule(this, 'SilenceSchedule', {
      description: 'Runs the silence check once a minute (contract §8)',
      schedule: Schedule.rate(Duration.minutes(1)),
      // A missed minute is covered by the next one; retrying would only pile runs up.
      targets: [new LambdaFunction(this.silenceFunction, { retryAttempts: 0, maxEventAge: Duration.minutes(1) })],
    });

    const ttl = String((props.rulesCacheTtl ?? Duration.seconds(ALERT_RULES_TTL_DEFAULT_SECONDS)).toSeconds());
    // Each grant below is the calls its function makes: lambdas/adapters/dynamo-alerts.ts and
    // alert-broadcaster.ts (every connection by Query; a gone one closed by dynamo-connections.ts: DeleteItem, and
    // UpdateItem to move the subscriptions' version on).
    const pushFrames = (fn: VigiaFunction) => {
      fn.useTable(ENV.connectionsTable, realtime.connectionsTable, 'dynamodb:Query', 'dynamodb:DeleteItem', 'dynamodb:UpdateItem');
      realtime.grantPush(fn);
    };
    for (const fn of props.evaluators) {
      fn.useTable(
        ENV.alertsTable,
        this.table,
        'dynamodb:Query',
        'dynamodb:BatchGetItem',
        'dynamodb:GetItem',
        'dynamodb:UpdateItem',
        'dynamodb:BatchWriteItem',
      );
      fn.useTable(ENV.sensorsTable, history.sensorsTable, 'dynamodb:BatchGetItem');
      fn.addEnvironment(ENV.alertRulesTtlSeconds, ttl);
      pushFrames(fn);
      this.grantPublish(fn);
    }
    props.api.useTable(ENV.alertsTable, this.table, ...ITEM_READ_WRITE);
    pushFrames(props.api);

    this.silenceFunction
      .useTable(ENV.alertsTable, this.table, 'dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:BatchWriteItem')
      .useTable(ENV.sensorsTable, history.sensorsTable, 'dynamodb:Scan')
      .addEnvironment(ENV.alertRulesTtlSeconds, ttl);
    pushFrames(this.silenceFunction);
    this.grantPublish(this.silenceFunction);
  }

  /** sns:Publish through the topic policy and the role, and the key use SNS needs to encrypt. */
  private grantPublish(fn: VigiaFunction): void {
    fn.addEnvironment(ENV.alertTopicArn, this.topic.topicArn);
    this.topic.grantPublish(fn);
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: `Publish${fn.node.addr.slice(0, 8)}`,
        principals: [new ArnPrincipal(fn.role!.roleArn)],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
      }),
    );
    Validations.of(fn.role!).acknowledge({
      id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason: 'SNS encrypts each published message with a fresh data key of the alerts topic key; the grant is on that one key.',
    });
  }
}
