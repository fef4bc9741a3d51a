/**
 * A telemetry function's events as it receives them: one IoT rule event (direct ingest: the rule invokes the
 * function), or a Kinesis batch whose records' data are rule events (stream ingest: the rule's Kinesis action
 * writes the SELECT output as JSON, partition key = sensorId, and an event source mapping reads the stream).
 */
import { shardOf } from '../core/live-shard.js';
import type { SequencedEvent } from '../core/sequence.js';

interface KinesisRecord {
  /** `shardId-000000000000:<sequenceNumber>`: the shard and the record. */
  eventID?: string;
  kinesis: { data: string; partitionKey?: string; sequenceNumber: string };
}

function isKinesisRecord(record: unknown): record is KinesisRecord {
  const k = (record as { kinesis?: Partial<KinesisRecord['kinesis']> } | null)?.kinesis;
  return typeof k?.data === 'string' && typeof k.sequenceNumber === 'string';
}

/**
 * The records of a Kinesis event, each with its rule event decoded; undefined for a direct rule event. Data
 * that is not base64 JSON is passed on as it is, to be rejected (never a batch failure).
 */
export function streamRecords(event: unknown): SequencedEvent[] | undefined {
  const records = (event as { Records?: unknown } | null)?.Records;
  if (!Array.isArray(records) || records.length === 0 || !records.every(isKinesisRecord)) return undefined;
  return records.map(({ kinesis, eventID }) => {
    let decoded: unknown = kinesis.data;
    try {
      decoded = JSON.parse(Buffer.from(kinesis.data, 'base64').toString('utf8'));
    } catch {
      // not JSON: judged (and rejected) by the core as an invalid event
    }
    const shardId = shardOf(eventID);
    return {
      sequenceNumber: kinesis.sequenceNumber,
      partitionKey: kinesis.partitionKey ?? '',
      ...(shardId ? { shardId } : {}),
      event: decoded,
    };
  });
}

/** The answer a Kinesis event source mapping with ReportBatchItemFailures reads: retry from this record on. */
export function batchItemFailures(firstFailure: string | null): { batchItemFailures: Array<{ itemIdentifier: string }> } {
  return { batchItemFailures: firstFailure === null ? [] : [{ itemIdentifier: firstFailure }] };
}
