/** Alert rules, states and history in the alerts table (lambdas/shared/tables.ts: ALERTS_TABLE). */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { BatchGetCommand, DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
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
import { ALERT_EVENT_TTL_DAYS } from '../shared/tables.js';
import {
  BATCH_GET_SIZE,
  backoffMs,
  batchGetAll,
  batchWriteAll,
  chunk,
  epochSeconds,
  isConditionFailure,
  queryAll,
  scanAll,
  sleep,
} from './dynamo-util.js';

const RULES = 'rules';
const STATES = 'alerts';
const EVENTS = 'events';
const DAY_MS = 86_400_000;
const pad = (ts: number) => String(Math.max(0, Math.trunc(ts))).padStart(15, '0');
const eventKey = (e: AlertEvent) => ({ pk: EVENTS, sk: `${pad(e.ts)}#${e.alertId}#${e.kind}` });
/** Every item of one partition (the rules, or the alert states), strongly consistent. */
const partitionItems = (doc: DynamoDBDocumentClient, tableName: string, pk: string) =>
  queryAll(doc, {
    TableName: tableName,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': pk },
    ConsistentRead: true,
  });

export class DynamoAlertRuleStore implements AlertRuleStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async list(): Promise<AlertRule[]> {
    return (await partitionItems(this.doc, this.tableName, RULES)).map((i) => i.rule as AlertRule);
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
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: RULES, sk: rule.id, rule },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
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
      await this.doc.send(
        new DeleteCommand({ TableName: this.tableName, Key: { pk: RULES, sk: id }, ConditionExpression: 'attribute_exists(pk)' }),
      );
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

/** A sensor's states: one item per sensor, one attribute per rule (`r:{ruleId}`), read for many sensors at once. */
const RULE_PREFIX = 'r:';
const sensorKey = (sensorId: string) => ({ pk: STATES, sk: sensorId });

function toStored(sensorId: string, ruleId: string, s: Record<string, unknown>): StoredAlert {
  return {
    ruleId,
    sensorId,
    state: s.state as StoredAlert['state'],
    since: (s.since as number | null) ?? null,
    episode: (s.episode as number | null) ?? null,
    value: (s.value as number | null) ?? null,
    lastTs: typeof s.lastTs === 'number' ? s.lastTs : Number.NEGATIVE_INFINITY,
    acknowledged: s.acknowledged === true,
    acknowledgedBy: (s.acknowledgedBy as string | null) ?? null,
    version: s.version as number,
  };
}

function statesOfItem(item: Record<string, unknown>): StoredAlert[] {
  const sensorId = item.sk as string;
  const states: StoredAlert[] = [];
  for (const [key, value] of Object.entries(item)) {
    if (key.startsWith(RULE_PREFIX) && value && typeof value === 'object') {
      states.push(toStored(sensorId, key.slice(RULE_PREFIX.length), value as Record<string, unknown>));
    }
  }
  return states;
}

export class DynamoAlertStateStore implements AlertStateStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  async statesOf(sensorId: string): Promise<StoredAlert[]> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: sensorKey(sensorId), ConsistentRead: true }));
    return out.Item ? statesOfItem(out.Item) : [];
  }

  async statesOfMany(sensorIds: string[]): Promise<Map<string, StoredAlert[]>> {
    const found = new Map<string, StoredAlert[]>();
    // Whole items (the rule attributes' names are not known in advance), 100 keys a request.
    for (const part of chunk(sensorIds.map(sensorKey), BATCH_GET_SIZE)) {
      let pending: Record<string, unknown>[] = part;
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt >= 8) throw new Error(`BatchGetItem on ${this.tableName}: ${pending.length} keys still unprocessed`);
        if (attempt > 0) await sleep(backoffMs(attempt));
        const out = await this.doc.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } } }),
        );
        for (const item of (out.Responses?.[this.tableName] as Record<string, unknown>[] | undefined) ?? []) {
          found.set(item.sk as string, statesOfItem(item));
        }
        pending = (out.UnprocessedKeys?.[this.tableName]?.Keys as Record<string, unknown>[] | undefined) ?? [];
      }
    }
    return found;
  }

  async get(ruleId: string, sensorId: string): Promise<StoredAlert | undefined> {
    return (await this.statesOf(sensorId)).find((s) => s.ruleId === ruleId);
  }

  async active(): Promise<StoredAlert[]> {
    return (await partitionItems(this.doc, this.tableName, STATES)).flatMap(statesOfItem).filter((s) => s.state !== 'ok');
  }

  async save(alert: StoredAlert, forget: string[] = []): Promise<boolean> {
    const { lastTs, ruleId: _r, sensorId: _s, ...rest } = alert;
    const state: Record<string, unknown> = { ...rest };
    if (Number.isFinite(lastTs)) state.lastTs = lastTs;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: sensorKey(alert.sensorId),
          UpdateExpression: `SET #r = :state${forget.length ? ` REMOVE ${forget.map((_, i) => `#f${i}`).join(', ')}` : ''}`,
          ConditionExpression: alert.version <= 1 ? 'attribute_not_exists(#r)' : '#r.#v = :prev',
          ExpressionAttributeNames: {
            '#r': `${RULE_PREFIX}${alert.ruleId}`,
            ...(alert.version <= 1 ? {} : { '#v': 'version' }),
            ...Object.fromEntries(forget.map((id, i) => [`#f${i}`, `${RULE_PREFIX}${id}`])),
          },
          ExpressionAttributeValues: { ':state': state, ...(alert.version <= 1 ? {} : { ':prev': alert.version - 1 }) },
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
    await batchWriteAll(
      this.doc,
      this.tableName,
      events.map((e) => ({ DeleteRequest: { Key: eventKey(e) } })),
    );
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
      for (const item of (out.Items as Record<string, unknown>[] | undefined) ?? [])
        found.push({ sk: item.sk as string, event: item.event as AlertEvent });
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
    const items = await scanAll(this.doc, {
      TableName: this.sensorsTable,
      ProjectionExpression: '#id, #rt, #lts',
      ExpressionAttributeNames: { '#id': 'sensorId', '#rt': 'lastReadingAt', '#lts': 'latestTs' },
    });
    const found: SensorActivity[] = [];
    for (const item of items) {
      if (typeof item.lastReadingAt === 'number' && typeof item.latestTs === 'number') {
        found.push({ sensorId: item.sensorId as string, lastReadingAt: item.lastReadingAt, latestTs: item.latestTs });
      }
    }
    return found;
  }
}
