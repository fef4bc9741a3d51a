/**
 * DynamoDB's Time to Live, emulated locally (dynalite has no UpdateTimeToLive): every table whose shared
 * definition names a TTL attribute is scanned in the background, page by page, and each item whose
 * attribute (epoch seconds) is in the past is deleted, on the condition that it is still expired (a sensor
 * that sent a reading meanwhile keeps its registry entry). Driven only by the table definitions, never by
 * item shapes, so any table added to LOCAL_TABLES with a TTL attribute is swept too.
 *
 * The scan is paced (a page, then a pause) so it never takes the DynamoDB worker from the ingest path; a
 * full pass starts every `intervalMs`. In the cloud TTL deletes within days; here, within a pass.
 */
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  ScanCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import type { TableDefinition } from '../lambdas/shared/tables.js';
import type { StandInCredentials } from './standin-credentials.js';
import { prometheusFamily, prometheusText } from './prometheus.js';

export interface SweptTable {
  name: string;
  definition: TableDefinition;
}

export interface TtlSweeperOptions {
  /** dynalite's own endpoint (TTL deletes are free in the cloud: they bypass any billing proxy). */
  endpoint: string;
  credentials: StandInCredentials;
  tables: readonly SweptTable[];
  /** Time between the starts of two passes. @default 60 000 ms */
  intervalMs?: number;
  /** Items scanned per page. @default 500 */
  pageSize?: number;
  /** Pause between pages. @default 100 ms */
  pageDelayMs?: number;
  log: (entry: Record<string, unknown>) => void;
}

export interface TtlSweeper {
  /** Items deleted so far, by table name. */
  readonly deleted: ReadonlyMap<string, number>;
  /** Runs one full pass now (after the one in progress, if any). */
  sweepNow(): Promise<void>;
  toPrometheus(): string;
  stop(): Promise<void>;
}

const DELETES_IN_PARALLEL = 8;

/** A request carrying this header is internal to the stand-in and left out of the billing meter. */
export const UNBILLED_HEADER = 'x-vigia-unbilled';

export function startTtlSweeper(options: TtlSweeperOptions): TtlSweeper {
  const client = new DynamoDBClient({ endpoint: options.endpoint, region: 'local', credentials: options.credentials });
  // DynamoDB's own TTL deletes for free: the stand-in's billing meter leaves these requests out.
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers[UNBILLED_HEADER] = 'ttl-sweeper';
      return next(args);
    },
    { step: 'build', name: 'unbilledTtlSweep' },
  );
  const tables = options.tables.filter((t) => t.definition.timeToLiveAttribute);
  const intervalMs = options.intervalMs ?? 60_000;
  const pageSize = options.pageSize ?? 500;
  const pageDelayMs = options.pageDelayMs ?? 100;
  const deleted = new Map<string, number>(tables.map((t) => [t.name, 0]));
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });

  async function sweepTable(table: SweptTable): Promise<void> {
    const ttl = table.definition.timeToLiveAttribute!;
    const keyNames = [table.definition.partitionKey.name, ...(table.definition.sortKey ? [table.definition.sortKey.name] : [])];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      if (stopped) return;
      const now = { N: String(Math.floor(Date.now() / 1000)) };
      const page = await client.send(
        new ScanCommand({
          TableName: table.name,
          Limit: pageSize,
          ExclusiveStartKey: startKey,
          FilterExpression: '#ttl < :now',
          ProjectionExpression: keyNames.map((_, i) => `#k${i}`).join(', '),
          ExpressionAttributeNames: { '#ttl': ttl, ...Object.fromEntries(keyNames.map((name, i) => [`#k${i}`, name])) },
          ExpressionAttributeValues: { ':now': now },
        }),
      );
      const keys = page.Items ?? [];
      for (let i = 0; i < keys.length && !stopped; i += DELETES_IN_PARALLEL) {
        await Promise.all(keys.slice(i, i + DELETES_IN_PARALLEL).map((key) => deleteIfExpired(table.name, ttl, key, now)));
      }
      startKey = page.LastEvaluatedKey;
      if (startKey) await pause(pageDelayMs);
    } while (startKey);
  }

  async function deleteIfExpired(tableName: string, ttl: string, key: Record<string, AttributeValue>, now: AttributeValue): Promise<void> {
    try {
      await client.send(
        new DeleteItemCommand({
          TableName: tableName,
          Key: key,
          ConditionExpression: '#ttl < :now',
          ExpressionAttributeNames: { '#ttl': ttl },
          ExpressionAttributeValues: { ':now': now },
        }),
      );
      deleted.set(tableName, (deleted.get(tableName) ?? 0) + 1);
    } catch (err) {
      // Renewed (or gone) since the scan: it is not expired any more, which is what TTL checks too.
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }

  async function pass(): Promise<void> {
    for (const table of tables) {
      try {
        await sweepTable(table);
      } catch (err) {
        if (!stopped)
          options.log({
            level: 'warn',
            message: 'TTL sweep of a table failed; retried next pass',
            table: table.name,
            error: (err as Error).message,
          });
      }
    }
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      running = running.then(pass).finally(schedule);
    }, intervalMs);
  }
  schedule();

  return {
    deleted,
    sweepNow() {
      running = running.then(pass);
      return running;
    },
    toPrometheus() {
      return prometheusText([
        prometheusFamily(
          'vigia_local_ttl_deleted_total',
          'counter',
          'Items the local TTL sweeper deleted because their TTL attribute had passed.',
          [...deleted].map(([table, count]) => [`{table="${table}"}`, count] as const),
        ),
      ]);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      wake?.();
      await running.catch(() => undefined);
      client.destroy();
    },
  };
}
