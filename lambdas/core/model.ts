/** The domain's data, shared by the use cases and the ports. */

export interface Reading {
  sensorId: string;
  /** Epoch ms: the device's timestamp, or the broker's receive time when the device sent none. */
  ts: number;
  values: Record<string, number>;
  /** Units of metrics present in `values` only. */
  units: Record<string, string>;
  /** Epoch ms at which the broker received the message. */
  receivedAt: number;
}

export interface MetricStats {
  min: number;
  max: number;
  sum: number;
  count: number;
}

export type { AggregateResolution, Resolution } from '../shared/contract.js';

/** One roll-up bucket: `ts` is its UTC-aligned start. */
export interface Bucket {
  ts: number;
  stats: Record<string, MetricStats>;
  /**
   * How many raw readings the bucket aggregates. A recomputation that saw more readings is newer (readings
   * are only ever added), so a store keeps the bucket with the larger count when writes race.
   */
  readings: number;
  /**
   * The newest reading ts the bucket holds. A refresh whose new readings are all later reads only the raw
   * readings after it; an earlier one (late, or redelivered) recomputes the bucket whole.
   */
  lastTs?: number;
  /** Stream ingest: the newest stream record merged in; a record at or before it is never merged again. */
  seq?: string;
}

export interface RawPoint {
  ts: number;
  values: Record<string, number>;
}

export interface PresenceState {
  online: boolean;
  /** The lifecycle event's own timestamp, epoch ms. */
  ts: number;
  versionNumber: number;
}

export interface SensorRecord {
  sensorId: string;
  metrics: string[];
  units: Record<string, string>;
  latest: RawPoint | null;
  /** Receive time of the newest accepted reading. */
  lastReadingAt: number | null;
  /** Time of the newest applied presence event. */
  presence: PresenceState | null;
}

export { BUCKET_MS } from '../shared/contract.js';

export const MS_PER_DAY = 86_400_000;
