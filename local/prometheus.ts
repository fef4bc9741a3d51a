/**
 * The Prometheus text format of `GET /api/metrics`, for every local source (the operations metrics, billing,
 * memory, the event loop, the TTL sweeper, the bounded files): one family is its HELP and TYPE lines, then a
 * line per series.
 */
export type PrometheusType = 'counter' | 'gauge' | 'histogram';
/** A series: its label text (`{table="x"}`, or '' for none) and its value as written. */
export type PrometheusSeries = ReadonlyArray<readonly [labels: string, value: number | string]>;

/** One family's lines. */
export function prometheusFamily(name: string, type: PrometheusType, help: string, series: PrometheusSeries): string[] {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...series.map(([labels, value]) => `${name}${labels} ${value}`)];
}

/** Families joined into one exposition, ending in a newline. */
export function prometheusText(families: ReadonlyArray<ReadonlyArray<string>>): string {
  return `${families.flat().join('\n')}\n`;
}
