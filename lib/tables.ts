import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import type { KeyAttribute, TableDefinition } from '../lambdas/shared/tables.js';

export interface TableSettings {
  /**
   * What happens to the table's data when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** Every item action a function that keeps a table's items needs: read, query, write, change, delete, in batches. */
export const ITEM_READ_WRITE = [
  'dynamodb:Query',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
] as const;

/** DynamoDB item actions by operation name: `dynamodbActions('GetItem', 'Query')`. */
export const dynamodbActions = (...operations: string[]): string[] => operations.map((operation) => `dynamodb:${operation}`);

function attribute(key: KeyAttribute) {
  return { name: key.name, type: key.type === 'S' ? AttributeType.STRING : AttributeType.NUMBER };
}

/**
 * A table from its shared definition (lambdas/shared/tables.ts): on-demand, point-in-time recovery,
 * encrypted with an AWS managed key, TTL on the definition's attribute; its name is generated.
 */
export function tableFromDefinition(scope: Construct, id: string, definition: TableDefinition, settings: TableSettings = {}): Table {
  return new Table(scope, id, {
    partitionKey: attribute(definition.partitionKey),
    sortKey: definition.sortKey ? attribute(definition.sortKey) : undefined,
    timeToLiveAttribute: definition.timeToLiveAttribute,
    billingMode: BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    encryption: TableEncryption.AWS_MANAGED,
    removalPolicy: settings.removalPolicy ?? RemovalPolicy.RETAIN,
  });
}
