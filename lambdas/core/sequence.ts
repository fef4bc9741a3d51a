/** Stream records and their order. */

/** A stream record's rule event with its sequence number (Kinesis: a decimal string, increasing per shard). */
export interface SequencedEvent {
  sequenceNumber: string;
  partitionKey: string;
  /** The Kinesis shard the record comes from (its eventID's part before `:`); absent when unknown. */
  shardId?: string;
  event: unknown;
}

/** Orders two sequence numbers: decimal strings without leading zeros, so the longer one is later. */
export function compareSequence(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** True when `seq` comes after `mark` (a null mark: nothing before). */
export const isAfter = (seq: string, mark: string | null | undefined): boolean =>
  mark === null || mark === undefined || compareSequence(seq, mark) > 0;
