/** WebSocket connections, subscriptions and live-push marks in one DynamoDB table. */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ConnectionRegistry } from '../core/ports.js';
import { CONNECTION_TTL_SECONDS } from '../shared/tables.js';
import { BATCH_WRITE_SIZE, batchGetAll, batchWriteAll, epochSeconds, isConditionFailure, mapLimit } from './dynamo-util.js';

const META = 'meta';
const connKey = (connectionId: string) => ({ pk: `conn#${connectionId}`, sk: META });
const subKey = (sensorId: string, connectionId: string) => ({ pk: `sub#${sensorId}`, sk: connectionId });
/** A reading's live mark outlives any QoS 1 redelivery window. */
const PUSHED_TTL_SECONDS = 24 * 60 * 60;
const WILDCARD = '*';

export class DynamoConnectionRegistry implements ConnectionRegistry {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async open(connectionId: string, now: number): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...connKey(connectionId), subs: [], connectedAt: now, expiresAt: epochSeconds(now) + CONNECTION_TTL_SECONDS },
      }),
    );
  }

  async close(connectionId: string): Promise<void> {
    const subs = await this.subscriptions(connectionId);
    await batchWriteAll(this.doc, this.tableName, [
      ...subs.map((sensorId) => ({ DeleteRequest: { Key: subKey(sensorId, connectionId) } })),
      { DeleteRequest: { Key: connKey(connectionId) } },
    ]);
  }

  async subscriptions(connectionId: string): Promise<string[]> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: connKey(connectionId), ConsistentRead: true }),
    );
    return (out.Item?.subs as string[] | undefined) ?? [];
  }

  async setSubscriptions(connectionId: string, next: string[], added: string[], removed: string[], now: number): Promise<void> {
    const expiresAt = epochSeconds(now) + CONNECTION_TTL_SECONDS;
    await batchWriteAll(this.doc, this.tableName, [
      ...added.map((sensorId) => ({ PutRequest: { Item: { ...subKey(sensorId, connectionId), expiresAt } } })),
      ...removed.map((sensorId) => ({ DeleteRequest: { Key: subKey(sensorId, connectionId) } })),
    ]);
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: connKey(connectionId),
        UpdateExpression: 'SET #subs = :subs, #exp = :exp',
        ExpressionAttributeNames: { '#subs': 'subs', '#exp': 'expiresAt' },
        ExpressionAttributeValues: { ':subs': next, ':exp': expiresAt },
      }),
    );
  }

  private async connectionsOn(partition: string): Promise<string[]> {
    const ids: string[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
          ExpressionAttributeValues: { ':pk': partition },
          ProjectionExpression: '#sk',
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) ids.push(item.sk as string);
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return ids;
  }

  async subscribersOf(sensorId: string): Promise<string[]> {
    const [direct, all] = await Promise.all([this.connectionsOn(`sub#${sensorId}`), this.connectionsOn(`sub#${WILDCARD}`)]);
    return [...new Set([...direct, ...all])];
  }

  async takeCommandToken(connectionId: string, now: number, perSecond: number): Promise<boolean> {
    const second = Math.floor(now / 1000);
    const names = { '#sec': 'cmdSecond', '#cnt': 'cmdCount' };
    try {
      // A new second: the budget starts again.
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: connKey(connectionId),
          UpdateExpression: 'SET #sec = :sec, #cnt = :one',
          ConditionExpression: 'attribute_not_exists(#sec) OR #sec <> :sec',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ':sec': second, ':one': 1 },
        }),
      );
      return true;
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: connKey(connectionId),
          UpdateExpression: 'ADD #cnt :one',
          ConditionExpression: '#sec = :sec AND #cnt < :max',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ':sec': second, ':one': 1, ':max': perSecond },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  async markPushed(sensorId: string, ts: number[], now: number): Promise<number[]> {
    const expiresAt = epochSeconds(now) + PUSHED_TTL_SECONDS;
    if (ts.length > BATCH_WRITE_SIZE) {
      // Many readings (a queued batch, an offline buffer): read the marks, then write the missing ones.
      const existing = await batchGetAll(
        this.doc,
        this.tableName,
        ts.map((t) => ({ pk: `live#${sensorId}`, sk: String(t) })),
        { expression: '#sk', names: { '#sk': 'sk' } },
      );
      const marked = new Set(existing.map((item) => Number(item.sk)));
      const fresh = ts.filter((t) => !marked.has(t));
      await batchWriteAll(
        this.doc,
        this.tableName,
        fresh.map((t) => ({ PutRequest: { Item: { pk: `live#${sensorId}`, sk: String(t), expiresAt } } })),
      );
      return fresh;
    }
    const fresh = await mapLimit(ts, 25, async (t) => {
      try {
        await this.doc.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { pk: `live#${sensorId}`, sk: String(t), expiresAt },
            ConditionExpression: 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: { '#pk': 'pk' },
          }),
        );
        return t;
      } catch (err) {
        if (isConditionFailure(err)) return undefined;
        throw err;
      }
    });
    return fresh.filter((t): t is number => t !== undefined);
  }
}

