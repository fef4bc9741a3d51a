/** Alert rules, states and history in the alerts table (lambdas/shared/tables.ts: ALERTS_TABLE). */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type {
  ActivitySource,
  AlertEvent,
  AlertRuleStore,
  AlertStateStore,
  EventRange,
  NewestReadings,
  RuleSource,
  SensorActivity,
  StoredAlert,
} from '../core/alert-ports.js';
import type { AlertRule } from '../core/alerts.js';
import { ALERT_EVENT_TTL_DAYS, ALERT_OK_STATE_TTL_DAYS } from '../shared/tables.js';
import { batchGetAll, batchWriteAll, epochSeconds, isConditionFailure } from './dynamo-util.js';

const RULES = 'rules';
const STATES = 'alerts';
const EVENTS = 'events';
const DAY_MS = 86_400_000;
const stateKey = (ruleId: string, sensorId: string) => ({ pk: STATES, sk: `${sensorId}#${ruleId}` });
const pad = (ts: number) => String(Math.max(0, Math.trunc(ts))).padStart(15, '0');
const eventKey = (e: AlertEvent) => ({ pk: EVENTS, sk: `${pad(e.ts)}#${e.alertId}#${e.kind}` });

async function queryAll(
  doc: DynamoDBDocumentClient,
  input: ConstructorParameters<typeof QueryCommand>[0],
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const out = await doc.send(new QueryCommand({ ...input, ExclusiveStartKey: startKey }));
    items.push(...((out.Items as Record<string, unknown>[] | undefined) ?? []));
    startKey = out.LastEvaluatedKey;
  } while (startKey);
  return items;
}

export class DynamoAlertRuleStore implements AlertRuleStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async list(): Promise<AlertRule[]> {
    const items = await queryAll(this.doc, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': RULES },
      ConsistentRead: true,
    });
    return items.map((i) => i.rule as AlertRule);
  }

  async get(id: string): Promise<AlertRule | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk: RULES, sk: id }, ConsistentRead: true }));
    return out.Item?.rule as AlertRule | undefined;
  }

  async create(rule: AlertRule, limit: number): Promise<boolean> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': RULES },
        Select: 'COUNT',
        ConsistentRead: true,
      }),
    );
    if ((out.Count ?? 0) >= limit) return false;
    await this.doc.send(
      new PutCommand({ TableName: this.tableName, Item: { pk: RULES, sk: rule.id, rule }, ConditionExpression: 'attribute_not_exists(pk)' }),
    );
    return true;
  }

  async replace(rule: AlertRule): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({ TableName: this.tableName, Item: { pk: RULES, sk: rule.id, rule }, ConditionExpression: 'attribute_exists(pk)' }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async delete(id: string): Promise<boolean> {
    try {
      await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: { pk: RULES, sk: id }, ConditionExpression: 'attribute_exists(pk)' }));
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }
}

/** Rules read at most once per `ttlMs` per process; `invalidate` (the API changed one) drops the copy. */
export class CachedRuleSource implements RuleSource {
  private cached: { rules: AlertRule[]; at: number } | undefined;
  private loading: Promise<AlertRule[]> | undefined;

  constructor(
    private readonly store: Pick<AlertRuleStore, 'list'>,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async rules(): Promise<AlertRule[]> {
    if (this.cached && this.now() - this.cached.at < this.ttlMs) return this.cached.rules;
    // Concurrent callers share one read.
    this.loading ??= this.store
      .list()
      .then((rules) => {
        this.cached = { rules, at: this.now() };
        return rules;
      })
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }

  invalidate(): void {
    this.cached = undefined;
  }
}

function toStored(item: Record<string, unknown>): StoredAlert {
  return {
    ruleId: item.ruleId as string,
    sensorId: item.sensorId as string,
    state: item.state as StoredAlert['state'],
    since: (item.since as number | null) ?? null,
    episode: (item.episode as number | null) ?? null,
    value: (item.value as number | null) ?? null,
    lastTs: typeof item.lastTs === 'number' ? item.lastTs : Number.NEGATIVE_INFINITY,
    acknowledged: item.acknowledged === true,
    acknowledgedBy: (item.acknowledgedBy as string | null) ?? null,
    version: item.version as number,
  };
}

export class DynamoAlertStateStore implements AlertStateStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  async statesOf(sensorId: string): Promise<StoredAlert[]> {
    const items = await queryAll(this.doc, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': STATES, ':prefix': `${sensorId}#` },
      ConsistentRead: true,
    });
    return items.map(toStored);
  }

  async get(ruleId: string, sensorId: string): Promise<StoredAlert | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: stateKey(ruleId, sensorId), ConsistentRead: true }));
    return out.Item ? toStored(out.Item) : undefined;
  }

  async active(): Promise<StoredAlert[]> {
    const items = await queryAll(this.doc, {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk',
      FilterExpression: '#state <> :ok',
      ExpressionAttributeNames: { '#state': 'state' },
      ExpressionAttributeValues: { ':pk': STATES, ':ok': 'ok' },
      ConsistentRead: true,
    });
    return items.map(toStored);
  }

  async save(alert: StoredAlert): Promise<boolean> {
    const { lastTs, ...rest } = alert;
    const item: Record<string, unknown> = { ...stateKey(alert.ruleId, alert.sensorId), ...rest };
    if (Number.isFinite(lastTs)) item.lastTs = lastTs;
    // Back at ok the item only guards retried batches: it expires; an open alert never does.
    if (alert.state === 'ok') item.expiresAt = epochSeconds(this.now() + ALERT_OK_STATE_TTL_DAYS * DAY_MS);
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: alert.version <= 1 ? 'attribute_not_exists(pk)' : '#v = :prev',
          ExpressionAttributeNames: alert.version <= 1 ? undefined : { '#v': 'version' },
          ExpressionAttributeValues: alert.version <= 1 ? undefined : { ':prev': alert.version - 1 },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async addEvents(events: AlertEvent[]): Promise<void> {
    const expiresAt = epochSeconds(this.now() + ALERT_EVENT_TTL_DAYS * DAY_MS);
    await batchWriteAll(
      this.doc,
      this.tableName,
      events.map((e) => ({ PutRequest: { Item: { ...eventKey(e), event: e, expiresAt } } })),
    );
  }

  async removeEvents(events: AlertEvent[]): Promise<void> {
    await batchWriteAll(this.doc, this.tableName, events.map((e) => ({ DeleteRequest: { Key: eventKey(e) } })));
  }

  async events(range: EventRange): Promise<{ events: AlertEvent[]; next: string | null }> {
    const found: Array<{ sk: string; event: AlertEvent }> = [];
    let startKey: Record<string, unknown> | undefined = range.before ? { pk: EVENTS, sk: range.before } : undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
          // '$' sorts after '#': every event of the last millisecond before `to` is inside.
          ExpressionAttributeValues: { ':pk': EVENTS, ':lo': pad(range.from), ':hi': `${pad(range.to - 1)}$` },
          ScanIndexForward: false,
          Limit: range.limit + 1 - found.length,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of (out.Items as Record<string, unknown>[] | undefined) ?? []) found.push({ sk: item.sk as string, event: item.event as AlertEvent });
      startKey = out.LastEvaluatedKey;
    } while (startKey && found.length <= range.limit);
    const page = found.slice(0, range.limit);
    return { events: page.map((f) => f.event), next: found.length > range.limit ? page[page.length - 1].sk : null };
  }
}

/** The sensors registry, read for alerts: newest reading ts and last receive time of each sensor. */
export class DynamoSensorActivity implements NewestReadings, ActivitySource {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly sensorsTable: string,
  ) {}

  async newestTs(sensorIds: string[]): Promise<Map<string, number>> {
    const items = await batchGetAll(
      this.doc,
      this.sensorsTable,
      sensorIds.map((sensorId) => ({ sensorId })),
      { expression: '#id, #lts', names: { '#id': 'sensorId', '#lts': 'latestTs' } },
    );
    const newest = new Map<string, number>();
    for (const item of items) if (typeof item.latestTs === 'number') newest.set(item.sensorId as string, item.latestTs);
    return newest;
  }

  async activity(): Promise<SensorActivity[]> {
    const found: SensorActivity[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new ScanCommand({
          TableName: this.sensorsTable,
          ProjectionExpression: '#id, #rt, #lts',
          ExpressionAttributeNames: { '#id': 'sensorId', '#rt': 'lastReadingAt', '#lts': 'latestTs' },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) {
        if (typeof item.lastReadingAt === 'number' && typeof item.latestTs === 'number') {
          found.push({ sensorId: item.sensorId as string, lastReadingAt: item.lastReadingAt, latestTs: item.latestTs });
        }
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return found;
  }
}
