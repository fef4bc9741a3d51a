/**
 * A record's own entry, never Object.prototype's: metric names come from devices, and `units.constructor`
 * on a plain object is the native Object function when the sensor has no metric of that name.
 */
export function own<T>(record: Readonly<Record<string, T>> | null | undefined, key: string): T | undefined {
  return record && Object.hasOwn(record, key) ? record[key] : undefined;
}
