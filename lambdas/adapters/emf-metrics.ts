/** The Metrics port as CloudWatch embedded metric format (EMF) log lines, through Powertools Metrics. */
import type { Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { CounterMetric, Metrics, ObservedMetric } from '../core/ports.js';
import { METRICS } from '../shared/names.js';

const OBSERVED_UNITS: Record<ObservedMetric, (typeof MetricUnit)[keyof typeof MetricUnit]> = {
  [METRICS.batchSize]: MetricUnit.Count,
  [METRICS.receiveToPushLatency]: MetricUnit.Milliseconds,
};

export class EmfMetrics implements Metrics {
  /** Counters are summed until the flush: one value per name and dimensions, however many calls. */
  private readonly counters = new Map<string, { name: CounterMetric; value: number; dimensions: Record<string, string> }>();
  private observed = false;

  constructor(private readonly emf: PowertoolsMetrics) {}

  count(name: CounterMetric, value: number, dimensions: Record<string, string> = {}): void {
    const key = JSON.stringify([name, Object.entries(dimensions).sort()]);
    const counter = this.counters.get(key);
    if (counter) counter.value += value;
    else this.counters.set(key, { name, value, dimensions });
  }

  observe(name: ObservedMetric, value: number): void {
    this.emf.addMetric(name, OBSERVED_UNITS[name], value);
    this.observed = true;
  }

  flush(): void {
    for (const { name, value, dimensions } of this.counters.values()) {
      if (Object.keys(dimensions).length === 0) {
        this.emf.addMetric(name, MetricUnit.Count, value);
        this.observed = true;
        continue;
      }
      // Dimensions of their own: a single metric, published at once beside the shared blob.
      const single = this.emf.singleMetric();
      for (const [dimension, dimensionValue] of Object.entries(dimensions)) single.addDimension(dimension, dimensionValue);
      single.addMetric(name, MetricUnit.Count, value);
    }
    this.counters.clear();
    // Powertools warns about an empty publish; an invocation that recorded nothing publishes nothing.
    if (this.observed) this.emf.publishStoredMetrics();
    this.observed = false;
  }
}
