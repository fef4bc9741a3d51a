/** The sensors registry in DynamoDB: one item per sensor. */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { PresenceState, Reading, SensorRecord } from '../core/model.js';
import type { SensorRegistry, StreamProgress } from '../core/ports.js';
import { VERSION_RESTART_AFTER_MS } from '../core/presence.js';
import { SENSORS_TABLE } from '../shared/tables.js';
import { batchGetAll, isConditionFailure } from './dynamo-util.js';

const PK = SENSORS_TABLE.partitionKey.name;
const TTL = SENSORS_TABLE.timeToLiveAttribute!;
/** Contract §5: a sensor never heard from but by presence is forgotten this long after its last disconnect. */
export const FORGET_NEVER_READ_AFTER_MS = 24 * 60 * 60_000;
/** Units are kept as one attribute per metric, so a reading's units are set without reading the item. */
const UNIT_PREFIX = 'unit:';

export function toSensorRecord(item: Record<string, unknown>): SensorRecord {
  const units: Record<string, string> = {};
  for (const [key, value] of Object.entries(item)) {
    if (key.startsWith(UNIT_PREFIX) && typeof value === 'string') units[key.slice(UNIT_PREFIX.length)] = value;
  }
  const metrics = item.metrics instanceof Set ? [...(item.metrics as Set<string>)] : [];
  const latest = item.latest as { ts: number; values: Record<string, number> } | undefined;
  return {
    sensorId: item[PK] as string,
    metrics: metrics.sort(),
    units,
    latest: latest ? { ts: latest.ts, values: latest.values } : null,
    lastReadingAt: typeof item.lastReadingAt === 'number' ? item.lastReadingAt : null,
    presence:
      typeof item.presenceTs === 'number'
        ? { online: item.online === true, ts: item.presenceTs, versionNumber: (item.presenceVersion as number) ?? 0 }
        : null,
  };
}

export class DynamoSensorRegistry implements SensorRegistry {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Past its TTL (epoch seconds), whether or not DynamoDB has deleted it yet. */
  private isForgotten(item: Record<string, unknown>): boolean {
    return typeof item[TTL] === 'number' && (item[TTL] as number) <= Math.floor(this.now() / 1000);
  }

  async recordReadings(
    sensorId: string,
    readings: Reading[],
    progress?: { previous: StreamProgress; next: { streamSeq: string; storedMaxTs: number | null } },
  ): Promise<void> {
    if (readings.length === 0 && !progress) return;
    const metrics = new Set<string>();
    const units: Record<string, string> = {};
    let newest: Reading | undefined;
    let receivedAt = 0;
    for (const r of [...readings].sort((a, b) => a.ts - b.ts)) {
      for (const m of Object.keys(r.values)) metrics.add(m);
      Object.assign(units, r.units);
      if (!newest || r.ts >= newest.ts) newest = r;
      receivedAt = Math.max(receivedAt, r.receivedAt);
    }
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    const adds: string[] = [];
    const removes: string[] = [];
    if (newest) {
      // An accepted reading makes the sensor permanent: it is no longer forgotten (contract §5).
      Object.assign(names, { '#rt': 'lastReadingAt', '#m': 'metrics', '#exp': TTL });
      Object.assign(values, { ':metrics': metrics, ':rt': receivedAt });
      sets.push('#rt = :rt');
      adds.push('#m :metrics');
      removes.push('#exp');
    }
    Object.entries(units).forEach(([metric, unit], i) => {
      names[`#u${i}`] = `${UNIT_PREFIX}${metric}`;
      values[`:u${i}`] = unit;
      sets.push(`#u${i} = :u${i}`);
    });
    const expression = (extraSets: string[]) =>
      [
        `SET ${[...sets, ...extraSets].join(', ')}`,
        ...(adds.length > 0 ? [`ADD ${adds.join(', ')}`] : []),
        ...(removes.length > 0 ? [`REMOVE ${removes.join(', ')}`] : []),
      ].join(' ');
    const latest = newest ? { ':latest': { ts: newest.ts, values: newest.values }, ':lts': newest.ts } : {};

    if (progress) {
      // Stream ingest: one write, conditional on the progress this batch started from.
      const { previous, next } = progress;
      const extra = ['#seq = :seq'];
      const streamNames: Record<string, string> = { ...names, '#seq': 'streamSeq' };
      const streamValues: Record<string, unknown> = { ...values, ':seq': next.streamSeq };
      if (next.storedMaxTs !== null) {
        extra.push('#smt = :smt');
        streamNames['#smt'] = 'storedMaxTs';
        streamValues[':smt'] = next.storedMaxTs;
      }
      if (newest && (previous.latestTs === null || newest.ts > previous.latestTs)) {
        extra.push('#l = :latest', '#lts = :lts');
        Object.assign(streamNames, { '#l': 'latest', '#lts': 'latestTs' });
        Object.assign(streamValues, latest);
      }
      if (previous.streamSeq !== null) streamValues[':prev'] = previous.streamSeq;
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [PK]: sensorId },
          UpdateExpression: expression(extra),
          ConditionExpression: previous.streamSeq === null ? 'attribute_not_exists(#seq)' : '#seq = :prev',
          ExpressionAttributeNames: streamNames,
          ExpressionAttributeValues: streamValues,
        }),
      );
      return;
    }

    const update = (withLatest: boolean) =>
      new UpdateCommand({
        TableName: this.tableName,
        Key: { [PK]: sensorId },
        UpdateExpression: expression(withLatest ? ['#l = :latest', '#lts = :lts'] : []),
        ConditionExpression: withLatest ? 'attribute_not_exists(#lts) OR #lts < :lts' : undefined,
        ExpressionAttributeNames: withLatest ? { ...names, '#l': 'latest', '#lts': 'latestTs' } : names,
        ExpressionAttributeValues: withLatest ? { ...values, ...latest } : values,
      });
    try {
      await this.doc.send(update(true));
    } catch (err) {
      // An older reading (a device's offline buffer): everything but `latest`.
      if (!isConditionFailure(err)) throw err;
      await this.doc.send(update(false));
    }
  }

  async streamProgress(sensorIds: string[]): Promise<Map<string, StreamProgress>> {
    if (sensorIds.length === 0) return new Map();
    const items = await batchGetAll(
      this.doc,
      this.tableName,
      sensorIds.map((id) => ({ [PK]: id })),
      { expression: '#pk, #seq, #smt, #lts', names: { '#pk': PK, '#seq': 'streamSeq', '#smt': 'storedMaxTs', '#lts': 'latestTs' } },
    );
    return new Map(
      items.map((i) => [
        i[PK] as string,
        {
          streamSeq: typeof i.streamSeq === 'string' ? i.streamSeq : null,
          storedMaxTs: typeof i.storedMaxTs === 'number' ? i.storedMaxTs : null,
          latestTs: typeof i.latestTs === 'number' ? i.latestTs : null,
        },
      ]),
    );
  }

  /**
   * The conditional write of contract §6 (the same rule as presenceSupersedes): a higher versionNumber; an equal
   * one only for a disconnect over a connect; a lower one only when its timestamp is VERSION_RESTART_AFTER_MS
   * past the applied event's. A connect clears the forget-me time; see forgetIfNeverRead for a disconnect.
   */
  async applyPresence(sensorId: string, state: PresenceState): Promise<boolean> {
    const order = [
      'attribute_not_exists(#pv)',
      '#pv < :v',
      ...(state.online ? [] : ['(#pv = :v AND #on = :true)']),
      '(#pv > :v AND #pts < :restartBefore)',
    ].join(' OR ');
    let item: Record<string, unknown> | undefined;
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [PK]: sensorId },
          UpdateExpression: `SET #on = :online, #pts = :ts, #pv = :v${state.online ? ' REMOVE #exp' : ''}`,
          ConditionExpression: order,
          ExpressionAttributeNames: {
            '#on': 'online',
            '#pts': 'presenceTs',
            '#pv': 'presenceVersion',
            ...(state.online ? { '#exp': TTL } : {}),
          },
          ExpressionAttributeValues: {
            ':online': state.online,
            ':ts': state.ts,
            ':v': state.versionNumber,
            ':restartBefore': state.ts - VERSION_RESTART_AFTER_MS,
            ...(state.online ? {} : { ':true': true }),
          },
          ReturnValues: state.online ? 'NONE' : 'ALL_NEW',
        }),
      );
      item = out.Attributes;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
    if (!state.online && item && typeof item.lastReadingAt !== 'number') await this.forgetIfNeverRead(sensorId, state);
    return true;
  }

  /**
   * Contract §5: a sensor that never sent an accepted reading is forgotten 24 h after its last disconnect (the
   * table's TTL deletes it; reads hide it at once). Only while this disconnect is still the applied state and no
   * reading came in between; the first accepted reading removes the attribute (recordReadings).
   */
  private async forgetIfNeverRead(sensorId: string, state: PresenceState): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [PK]: sensorId },
          UpdateExpression: 'SET #exp = :exp',
          ConditionExpression: 'attribute_not_exists(#rt) AND #pv = :v AND #pts = :ts AND #on = :false',
          ExpressionAttributeNames: {
            '#exp': TTL,
            '#rt': 'lastReadingAt',
            '#pv': 'presenceVersion',
            '#pts': 'presenceTs',
            '#on': 'online',
          },
          ExpressionAttributeValues: {
            ':exp': Math.ceil((state.ts + FORGET_NEVER_READ_AFTER_MS) / 1000),
            ':v': state.versionNumber,
            ':ts': state.ts,
            ':false': false,
          },
        }),
      );
    } catch (err) {
      // A reading or a newer presence event came in between: nothing to forget.
      if (!isConditionFailure(err)) throw err;
    }
  }

  async get(sensorId: string): Promise<SensorRecord | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { [PK]: sensorId }, ConsistentRead: true }));
    return out.Item && !this.isForgotten(out.Item) ? toSensorRecord(out.Item) : undefined;
  }

  async listPage(limit: number, after?: string): Promise<{ records: SensorRecord[]; lastKey: string | null }> {
    const records: SensorRecord[] = [];
    let startKey: Record<string, unknown> | undefined = after === undefined ? undefined : { [PK]: after };
    do {
      // A scan page stops at 1 MB as well as at Limit: go on until the page is full or the table ends.
      // DynamoDB's TTL deletes an expired item up to days late: until then it is hidden here.
      const out = await this.doc.send(
        new ScanCommand({
          TableName: this.tableName,
          ExclusiveStartKey: startKey,
          Limit: limit - records.length,
          FilterExpression: 'attribute_not_exists(#exp) OR #exp > :nowSeconds',
          ExpressionAttributeNames: { '#exp': TTL },
          ExpressionAttributeValues: { ':nowSeconds': Math.floor(this.now() / 1000) },
        }),
      );
      for (const item of out.Items ?? []) records.push(toSensorRecord(item));
      startKey = out.LastEvaluatedKey;
    } while (startKey && records.length < limit);
    return { records, lastKey: startKey ? (startKey[PK] as string) : null };
  }

  async list(): Promise<SensorRecord[]> {
    const records: SensorRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      // DynamoDB's TTL deletes an expired item up to days late: until then it is hidden here.
      const out = await this.doc.send(
        new ScanCommand({
          TableName: this.tableName,
          ExclusiveStartKey: startKey,
          FilterExpression: 'attribute_not_exists(#exp) OR #exp > :nowSeconds',
          ExpressionAttributeNames: { '#exp': TTL },
          ExpressionAttributeValues: { ':nowSeconds': Math.floor(this.now() / 1000) },
        }),
      );
      for (const item of out.Items ?? []) records.push(toSensorRecord(item));
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return records;
  }
}
