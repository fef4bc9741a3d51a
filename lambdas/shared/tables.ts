/**
 * Table definitions shared by CDK (lib/History, lib/Realtime) and the local DynamoDB stand-in.
 */
export interface KeyAttribute {
  name: string;
  type: 'S' | 'N';
}

export interface TableDefinition {
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  /** TTL attribute, epoch seconds. */
  timeToLiveAttribute?: string;
}

const text = (name: string): KeyAttribute => ({ name, type: 'S' });
const number = (name: string): KeyAttribute => ({ name, type: 'N' });
/** A table with these keys; every one of ours lets an item expire at its `expiresAt`. */
const table = (partitionKey: KeyAttribute, sortKey?: KeyAttribute): TableDefinition => ({
  partitionKey,
  ...(sortKey && { sortKey }),
  timeToLiveAttribute: 'expiresAt',
});

/** Raw readings: one item per (sensorId, ts). */
export const READINGS_TABLE = table(text('sensorId'), number('ts'));

/** Roll-ups: series = `${sensorId}#1m` or `${sensorId}#1h`, ts = bucket start. */
export const ROLLUPS_TABLE = table(text('series'), number('ts'));

/**
 * Sensors registry: one item per sensor. `expiresAt` is set only on a sensor that never sent an accepted
 * reading, at its disconnect (contract §5: forgotten 24 h later), and removed by its first reading.
 */
export const SENSORS_TABLE = table(text('sensorId'));

/**
 * WebSocket connections, single-table:
 * - pk `conns`, sk `{connectionId}`: the connection and its subscription set (one partition, so the live
 *   path reads every connection's set in one Query, and only when the version below has moved);
 * - pk `subs`, sk `version`: the subscriptions' version, moved on after every change of a set;
 * - pk `liveshard#{shardId}`, sk `state`: a Kinesis shard's live claims (stream ingest);
 * - pk `live#{sensorId}`, sk `m#{minute start}`: the ts of the readings of that minute pushed live (a number
 *   set), so a redelivery is not pushed again.
 */
export const CONNECTIONS_TABLE = table(text('pk'), text('sk'));

/** Connections and subscriptions live about as long as an API Gateway WebSocket connection (2 h). */
export const CONNECTION_TTL_SECONDS = 2 * 60 * 60 + 5 * 60;

/**
 * Alerts (contract §8), single-table:
 * - pk `rules`, sk `{ruleId}`: the rules (at most 200: one Query reads them all);
 * - pk `alerts`, sk `{sensorId}`: the sensor's alert states, one attribute `r:{ruleId}` per rule (a batch's
 *   sensors are one BatchGetItem; a transition is one UpdateItem);
 * - pk `events`, sk `{ts, 15 digits}#{alertId}#{kind}`: the history, newest first by a reverse Query.
 */
export const ALERTS_TABLE = table(text('pk'), text('sk'));

/** Alert history is kept this long. */
export const ALERT_EVENT_TTL_DAYS = 90;
