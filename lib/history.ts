import type { RemovalPolicy } from 'aws-cdk-lib';
import type { ITable, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { RETENTION_DEFAULTS } from '../lambdas/shared/names.js';
import { READINGS_TABLE, ROLLUPS_TABLE, SENSORS_TABLE } from '../lambdas/shared/tables.js';
import { tableFromDefinition } from './tables.js';

/** How long each resolution of history is kept, in days. */
export interface Retention {
  /** @default 30 (RETENTION_DEFAULTS.rawDays) */
  readonly rawDays: number;
  /** @default 180 (RETENTION_DEFAULTS.minuteDays) */
  readonly minuteDays: number;
  /** @default 1825 (RETENTION_DEFAULTS.hourDays) */
  readonly hourDays: number;
}

/** What the functions that read or write history are given: the tables and their retention. */
export interface HistoryTables {
  readonly readingsTable: ITable;
  readonly rollupsTable: ITable;
  readonly sensorsTable: ITable;
  readonly retention: Retention;
}

export interface HistoryProps {
  /**
   * Retention of raw readings and of the 1-minute and 1-hour roll-ups; the writer stamps each item's
   * TTL from it and the API bounds its queries by it.
   * @default RETENTION_DEFAULTS (30, 180 and 1825 days)
   */
  readonly retention?: Retention;
  /**
   * What happens to the history when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Retention from the context keys rawRetentionDays, minuteRetentionDays and hourRetentionDays
 * (cdk.json or `-c key=value`), each a positive integer of days; a missing key takes its documented
 * default (RETENTION_DEFAULTS), a malformed one stops the synth.
 */
export function retentionFromContext(scope: Construct): Retention {
  const days = (key: string, fallback: number): number => {
    const raw: unknown = scope.node.tryGetContext(key);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value <= 0) {
      throw new Error(`Context ${key} must be a positive integer number of days, got ${JSON.stringify(raw)}`);
    }
    return value;
  };
  return {
    rawDays: days('rawRetentionDays', RETENTION_DEFAULTS.rawDays),
    minuteDays: days('minuteRetentionDays', RETENTION_DEFAULTS.minuteDays),
    hourDays: days('hourRetentionDays', RETENTION_DEFAULTS.hourDays),
  };
}

/** The sensors' history: raw readings, roll-ups and the sensors registry. */
export class History extends Construct {
  readonly readingsTable: Table;
  readonly rollupsTable: Table;
  readonly sensorsTable: Table;
  readonly retention: Retention;

  constructor(scope: Construct, id: string, props: HistoryProps = {}) {
    super(scope, id);
    this.retention = props.retention ?? {
      rawDays: RETENTION_DEFAULTS.rawDays,
      minuteDays: RETENTION_DEFAULTS.minuteDays,
      hourDays: RETENTION_DEFAULTS.hourDays,
    };
    const settings = { removalPolicy: props.removalPolicy };
    this.readingsTable = tableFromDefinition(this, 'Readings', READINGS_TABLE, settings);
    this.rollupsTable = tableFromDefinition(this, 'Rollups', ROLLUPS_TABLE, settings);
    this.sensorsTable = tableFromDefinition(this, 'Sensors', SENSORS_TABLE, settings);
  }
}
