/**
 * Raw readings packed (stream ingest): one item holds a run of a sensor's readings within one UTC minute, the
 * readings one history batch adds, so a batch writes one item per sensor-minute instead of one per reading,
 * and never reads or rewrites what earlier batches wrote. A pack is keyed by its oldest reading's ts, and
 * every reading in it is of that ts's minute: a reader of a range starts at the range's minute.
 */
import type { ReadingPack } from './ports.js';

export const PACK_MINUTE_MS = 60_000;
/** A pack grows to at most this estimated item size; the readings that do not fit start the next pack. */
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

/**
 * The pack item's size as DynamoDB counts it (attribute names included): `sensorId` = `<id>#m`, `ts`, `r`,
 * `expiresAt`.
 */
export function packItemBytes(pack: ReadingPack): number {
  let bytes = 'sensorId'.length + utf8Bytes(pack.sensorId) + 2 + 'ts'.length + numberBytes(pack.start);
  bytes += 'expiresAt'.length + numberBytes(Math.floor(pack.start / 1000));
  bytes += 'r'.length + 3;
  for (const [ts, values] of pack.readings) bytes += packEntryBytes(ts - pack.start, values);
  return bytes;
}
