import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { BatchGetCommand, BatchWriteCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';

export const BATCH_WRITE_SIZE = 25;
export const BATCH_GET_SIZE = 100;
const MAX_ATTEMPTS = 8;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Exponential backoff with full jitter: 50 ms, 100 ms, … capped at 2 s. */
export function backoffMs(attempt: number): number {
  return Math.random() * Math.min(2000, 50 * 2 ** attempt);
}

export function chunk<T>(items: T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

export function isConditionFailure(err: unknown): boolean {
  return (err as { name?: string })?.name === 'ConditionalCheckFailedException';
}

/** Whether a conditional write went through: false when its condition did not hold; any other error is thrown. */
export async function conditionHeld(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (err) {
    if (isConditionFailure(err)) return false;
    throw err;
  }
}

type WriteRequest = NonNullable<NonNullable<ConstructorParameters<typeof BatchWriteCommand>[0]['RequestItems']>[string]>[number];

/**
 * Sends `part`, then again with backoff whatever DynamoDB left unprocessed, until nothing is left; fails after
 * MAX_ATTEMPTS. `send` answers what was left.
 */
async function untilProcessed<T>(operation: string, table: string, part: T[], send: (pending: T[]) => Promise<T[]>): Promise<void> {
  let pending = part;
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt >= MAX_ATTEMPTS) {
      throw new Error(`${operation} on ${table}: ${pending.length} still unprocessed after ${MAX_ATTEMPTS} attempts`);
    }
    if (attempt > 0) await sleep(backoffMs(attempt));
    pending = await send(pending);
  }
}

/** Writes every request, in chunks of 25, retrying unprocessed items with backoff until all are written. */
export async function batchWriteAll(doc: DynamoDBDocumentClient, table: string, requests: WriteRequest[]): Promise<void> {
  for (const part of chunk(requests, BATCH_WRITE_SIZE)) {
    await untilProcessed('BatchWriteItem', table, part, async (pending) => {
      const out = await doc.send(new BatchWriteCommand({ RequestItems: { [table]: pending } }));
      return (out.UnprocessedItems?.[table] as WriteRequest[] | undefined) ?? [];
    });
  }
}

/** Reads items by key, in chunks of 100, retrying unprocessed keys with backoff. */
export async function batchGetAll(
  doc: DynamoDBDocumentClient,
  table: string,
  keys: Record<string, unknown>[],
  projection: { expression: string; names?: Record<string, string> },
): Promise<Record<string, unknown>[]> {
  const found: Record<string, unknown>[] = [];
  for (const part of chunk(keys, BATCH_GET_SIZE)) {
    await untilProcessed('BatchGetItem', table, part, async (pending) => {
      const out = await doc.send(
        new BatchGetCommand({
          RequestItems: {
            [table]: {
              Keys: pending,
              ConsistentRead: true,
              ProjectionExpression: projection.expression,
              ExpressionAttributeNames: projection.names,
            },
          },
        }),
      );
      found.push(...((out.Responses?.[table] as Record<string, unknown>[] | undefined) ?? []));
      return (out.UnprocessedKeys?.[table]?.Keys as Record<string, unknown>[] | undefined) ?? [];
    });
  }
  return found;
}

export const epochSeconds = (ms: number) => Math.floor(ms / 1000);

/** Every item a query matches, page after page. */
export async function queryAll(
  doc: DynamoDBDocumentClient,
  input: ConstructorParameters<typeof QueryCommand>[0],
): Promise<Record<string, unknown>[]> {
  return allPages((startKey) => doc.send(new QueryCommand({ ...input, ExclusiveStartKey: startKey })));
}

/** Every item of a scan, page after page. */
export async function scanAll(
  doc: DynamoDBDocumentClient,
  input: ConstructorParameters<typeof ScanCommand>[0],
): Promise<Record<string, unknown>[]> {
  return allPages((startKey) => doc.send(new ScanCommand({ ...input, ExclusiveStartKey: startKey })));
}

async function allPages(
  page: (
    startKey: Record<string, unknown> | undefined,
  ) => Promise<{ Items?: Record<string, unknown>[]; LastEvaluatedKey?: Record<string, unknown> }>,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const out = await page(startKey);
    items.push(...(out.Items ?? []));
    startKey = out.LastEvaluatedKey;
  } while (startKey);
  return items;
}
