/**
 * The Metrics port in memory, rendered in the Prometheus text format: the local runtime's `GET /api/metrics`.
 * One registry per process, shared by every handler the local runtime runs.
 */
import { readFileSync } from 'node:fs';
import type { CounterMetric, Metrics, ObservedMetric } from '../lambdas/core/ports.js';
import { METRICS } from '../lambdas/shared/names.js';
import { prometheusFamily, prometheusText } from './prometheus.js';

interface Histogram {
  buckets: number[];
  counts: number[];
  sum: number;
  count: number;
}

const PROMETHEUS: Record<CounterMetric | ObservedMetric, { name: string; help: string; buckets?: number[] }> = {
  [METRICS.readingsAccepted]: { name: 'vigia_readings_accepted_total', help: 'Readings in accepted payloads.' },
  [METRICS.readingsRejected]: { name: 'vigia_readings_rejected_total', help: 'Rejected payloads, by reason code.' },
  [METRICS.livePushes]: { name: 'vigia_live_pushes_total', help: 'Frames delivered to WebSocket connections.' },
  [METRICS.goneConnectionsRemoved]: { name: 'vigia_gone_connections_removed_total', help: 'Gone WebSocket connections forgotten.' },
  [METRICS.connectUnauthorized]: { name: 'vigia_connect_unauthorized_total', help: 'WebSocket connects refused 401 by the authorizer.' },
  [METRICS.batchSize]: {
    name: 'vigia_batch_size',
    help: 'Rule events per history-writer invocation.',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000],
  },
  [METRICS.receiveToPushLatency]: {
    name: 'vigia_receive_to_push_latency_ms',
    help: 'Milliseconds from receipt by the rules to the live push.',
    buckets: [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
  },
};

const labelText = (labels: Record<string, string>) => {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
};

export class MetricsRegistry {
  private readonly counters = new Map<CounterMetric, Map<string, { labels: Record<string, string>; value: number }>>();
  private readonly histograms = new Map<ObservedMetric, Histogram>();

  count(name: CounterMetric, value: number, dimensions: Record<string, string> = {}): void {
    // Prometheus labels are lower case by convention: the Reason dimension is the `reason` label.
    const labels = Object.fromEntries(Object.entries(dimensions).map(([k, v]) => [k.toLowerCase(), v]));
    const key = JSON.stringify(Object.entries(labels).sort());
    let series = this.counters.get(name);
    if (!series) this.counters.set(name, (series = new Map()));
    const counter = series.get(key);
    if (counter) counter.value += value;
    else series.set(key, { labels, value });
  }

  observe(name: ObservedMetric, value: number): void {
    let histogram = this.histograms.get(name);
    if (!histogram) {
      const buckets = PROMETHEUS[name].buckets!;
      this.histograms.set(name, (histogram = { buckets, counts: buckets.map(() => 0), sum: 0, count: 0 }));
    }
    histogram.buckets.forEach((le, i) => {
      if (value <= le) histogram.counts[i] += 1;
    });
    histogram.sum += value;
    histogram.count += 1;
  }

  reset(): void {
    this.counters.clear();
    this.histograms.clear();
  }

  /** The Prometheus text exposition format (version 0.0.4). */
  toPrometheus(): string {
    const lines: string[] = [];
    const counters = [
      METRICS.readingsAccepted,
      METRICS.readingsRejected,
      METRICS.livePushes,
      METRICS.goneConnectionsRemoved,
      METRICS.connectUnauthorized,
    ] as const;
    for (const name of counters) {
      const { name: promName, help } = PROMETHEUS[name];
      lines.push(`# HELP ${promName} ${help}`, `# TYPE ${promName} counter`);
      const series = [...(this.counters.get(name)?.values() ?? [])];
      // A counter without labels reads 0 before its first event, so a scrape sees it from the start.
      if (series.length === 0 && name !== METRICS.readingsRejected) lines.push(`${promName} 0`);
      for (const { labels, value } of series) lines.push(`${promName}${labelText(labels)} ${value}`);
    }
    for (const name of [METRICS.batchSize, METRICS.receiveToPushLatency] as const) {
      const { name: promName, help, buckets } = PROMETHEUS[name];
      const h = this.histograms.get(name) ?? { buckets: buckets!, counts: buckets!.map(() => 0), sum: 0, count: 0 };
      lines.push(`# HELP ${promName} ${help}`, `# TYPE ${promName} histogram`);
      h.buckets.forEach((le, i) => {
        lines.push(`${promName}_bucket{le="${le}"} ${h.counts[i]}`);
      });
      lines.push(`${promName}_bucket{le="+Inf"} ${h.count}`, `${promName}_sum ${h.sum}`, `${promName}_count ${h.count}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

/** The process's registry: the handlers record into it (bound by the runtime), the local HTTP server renders it. */
export const localMetricsRegistry = /* @__PURE__ */ new MetricsRegistry();

/** Records straight into a registry; nothing to publish. */
export class MemoryMetrics implements Metrics {
  constructor(private readonly registry: MetricsRegistry) {}

  count(name: CounterMetric, value: number, dimensions?: Record<string, string>): void {
    this.registry.count(name, value, dimensions);
  }

  observe(name: ObservedMetric, value: number): void {
    this.registry.observe(name, value);
  }

  flush(): void {}
}

/** One thread's memory as that thread sees it, in bytes (`process.memoryUsage()` there; its `rss` is the process's). */
export interface ThreadMemory {
  /** JavaScript heap in use. */
  heapUsed: number;
  /** JavaScript heap committed: what the heap holds of RSS, live objects or not. */
  heapTotal: number;
  /** C++ objects bound to JavaScript, buffers included. */
  external: number;
  /** Of `external`, ArrayBuffers and Buffers. */
  arrayBuffers: number;
}

/** The calling thread's memory. */
export function threadMemory(): ThreadMemory {
  const { heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  return { heapUsed, heapTotal, external, arrayBuffers };
}

export const NO_THREAD_MEMORY: ThreadMemory = { heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 };

/**
 * The process's resident memory by kind, in bytes: anonymous (every thread's JavaScript heap, malloc arenas,
 * LevelDB's caches) apart from file-backed (code and mapped files). Linux reports them in `/proc/self/status`;
 * elsewhere only the total is known.
 */
export function residentMemory(): { rss: number; anonymous?: number; file?: number } {
  const rss = process.memoryUsage.rss();
  let status: string;
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return { rss };
  }
  const kib = (field: string) => {
    const found = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
    return found ? Number(found[1]) * 1024 : undefined;
  };
  return { rss, anonymous: kib('RssAnon'), file: kib('RssFile') };
}

/**
 * The process's memory and each thread's, for `/api/metrics` (the soak benchmark follows them): `threads` maps a
 * thread's name to its last report; `openLevelResources` is the DynamoDB stand-in's open iterators, snapshots and batches.
 */
export function memoryGauges(threads: Record<string, ThreadMemory>, openLevelResources: number): string {
  const resident = residentMemory();
  const byThread = (field: keyof ThreadMemory) => Object.entries(threads).map(([name, m]) => [`{thread="${name}"}`, m[field]] as const);
  const byKind = [
    ...(resident.anonymous === undefined ? [] : [['{kind="anonymous"}', resident.anonymous] as const]),
    ...(resident.file === undefined ? [] : [['{kind="file"}', resident.file] as const]),
  ];
  return prometheusText([
    prometheusFamily('vigia_local_rss_bytes', 'gauge', 'Resident memory of the runtime process (every thread).', [['', resident.rss]]),
    prometheusFamily(
      'vigia_local_rss_kind_bytes',
      'gauge',
      'Resident memory by kind: anonymous (heaps, malloc) or file-backed (Linux).',
      byKind,
    ),
    prometheusFamily('vigia_local_heap_used_bytes', 'gauge', 'JavaScript heap in use, by thread.', byThread('heapUsed')),
    prometheusFamily('vigia_local_heap_total_bytes', 'gauge', 'JavaScript heap committed, by thread.', byThread('heapTotal')),
    prometheusFamily(
      'vigia_local_external_bytes',
      'gauge',
      'Memory of C++ objects bound to JavaScript (buffers included), by thread.',
      byThread('external'),
    ),
    prometheusFamily('vigia_local_array_buffers_bytes', 'gauge', 'Of that, ArrayBuffers and Buffers, by thread.', byThread('arrayBuffers')),
    prometheusFamily(
      'vigia_local_dynamodb_open_resources',
      'gauge',
      'LevelDB iterators, snapshots and batches open in the DynamoDB stand-in (each pins native memory).',
      [['', openLevelResources]],
    ),
  ]);
}
