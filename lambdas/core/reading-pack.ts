/**
 * Raw readings packed per sensor-minute (stream ingest): one item holds a sensor's readings of one UTC minute,
 * so a history batch writes one item per sensor-minute instead of one per reading.
 */
import type { ReadingPack } from './ports.js';

export const PACK_MINUTE_MS = 60_000;
/** A pack grows to at most this estimated item size; readings that do not fit are stored as single items. */
export const PACK_MAX_BYTES = 64 * 1024;

export const packMinute = (ts: number) => Math.floor(ts / PACK_MINUTE_MS) * PACK_MINUTE_MS;

/** DynamoDB's size of a number: about 1 byte per two significant digits, plus 1. */
export function numberBytes(n: number): number {
  const digits = Math.abs(n).toExponential().replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').length;
  return Math.ceil(Math.max(1, digits) / 2) + 1;
}

const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** The map of one reading's values as DynamoDB sizes it (3 bytes a map, 1 a member, names, values). */
export function valuesBytes(values: Record<string, number>): number {
  let bytes = 3;
  for (const [metric, v] of Object.entries(values)) bytes += 1 + utf8Bytes(metric) + numberBytes(v);
  return bytes;
}

/** One reading's share of a pack: its offset key, the member byte and its values map. */
export function packEntryBytes(offset: number, values: Record<string, number>): number {
  return 1 + String(offset).length + valuesBytes(values);
}

/** A pack's late-reading mark: offset key, member byte, the sequence number string. */
export function packSeqBytes(offset: number, seq: string): number {
  return 1 + String(offset).length + utf8Bytes(seq);
}

/**
 * The pack item's size as DynamoDB counts it (attribute names included): `sensorId` = `<id>#m`, `ts`, `r`,
 * `s` (when not empty), `expiresAt`.
 */
export function packItemBytes(pack: ReadingPack): number {
  let bytes = 'sensorId'.length + utf8Bytes(pack.sensorId) + 2 + 'ts'.length + numberBytes(pack.minute);
  bytes += 'expiresAt'.length + numberBytes(Math.floor(pack.minute / 1000));
  bytes += 'r'.length + 3;
  for (const [ts, values] of pack.readings) bytes += packEntryBytes(ts - pack.minute, values);
  if (pack.seqs.size > 0) {
    bytes += 's'.length + 3;
    for (const [ts, seq] of pack.seqs) bytes += packSeqBytes(ts - pack.minute, seq);
  }
  return bytes;
}
