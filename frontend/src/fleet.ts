/**
 * The fleet as the dashboard knows it: the API's sensor list kept current by live frames. Frames are applied
 * at once to plain objects; views are told at most every `NOTIFY_MS`, so 200 readings a second cost a few
 * renders, not 200.
 */
import type { Api, SensorInfo } from './api';
import { backfillSpan, mergeReadings, trimBefore, type Reading } from './data';
import type { LiveConnection, LiveReading } from './live';

export const SPARK_WINDOW_MS = 5 * 60_000;
const NOTIFY_MS = 250;

export interface FleetSensor extends SensorInfo {
  /** The metric the sparkline draws. */
  sparkMetric: string | null;
  spark: Reading[];
  /** Bumped on every change, so a card can skip work when it has none. */
  revision: number;
}

export type LoadState = { kind: 'loading' } | { kind: 'ready' } | { kind: 'error'; message: string };

export function pickSparkMetric(metrics: string[]): string | null {
  if (metrics.includes('temperature')) return 'temperature';
  return [...metrics].sort()[0] ?? null;
}

export class FleetStore {
  sensors = new Map<string, FleetSensor>();
  load: LoadState = { kind: 'loading' };
  version = 0;
  private listeners = new Set<() => void>();
  private notifyTimer: ReturnType<typeof setTimeout> | undefined;
  private fetchingUnknown = false;
  private fetchAgain = false;

  constructor(
    private readonly api: Api,
    private readonly live: LiveConnection,
  ) {
    live.on('readings', (readings) => this.applyReadings(readings));
    live.on('status', (s) => {
      const sensor = this.sensors.get(s.sensorId);
      if (!sensor) return void this.refreshSoon();
      sensor.online = s.online;
      sensor.lastSeen = Math.max(sensor.lastSeen ?? 0, s.ts);
      sensor.revision++;
      this.changed();
    });
    live.on('reconnected', (at) => void this.backfill(at));
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    if (this.notifyTimer !== undefined) return;
    this.notifyTimer = setTimeout(() => {
      this.notifyTimer = undefined;
      this.version++;
      for (const l of this.listeners) l();
    }, NOTIFY_MS);
  }

  /** Loads the list and each sensor's recent sparkline history. */
  async refresh(): Promise<void> {
    try {
      const list = await this.api.sensors();
      const next = new Map<string, FleetSensor>();
      for (const info of list) {
        const old = this.sensors.get(info.sensorId);
        // A live frame may be newer than the list, which was read a moment ago.
        const latest = old?.latest && (!info.latest || old.latest.ts > info.latest.ts) ? old.latest : info.latest;
        next.set(info.sensorId, {
          ...info,
          latest,
          lastSeen: Math.max(info.lastSeen ?? 0, old?.lastSeen ?? 0) || null,
          sparkMetric: pickSparkMetric(info.metrics),
          spark: old?.spark ?? [],
          revision: (old?.revision ?? 0) + 1,
        });
      }
      this.sensors = next;
      this.load = { kind: 'ready' };
      this.changed();
      await Promise.all([...next.values()].map((s) => this.loadSpark(s, Date.now())));
    } catch (err) {
      if (this.load.kind !== 'ready') this.load = { kind: 'error', message: (err as Error).message };
      this.changed();
    }
  }

  private async loadSpark(sensor: FleetSensor, now: number): Promise<void> {
    if (!sensor.sparkMetric) return;
    const held = sensor.spark.length ? sensor.spark[sensor.spark.length - 1].ts : null;
    const span = backfillSpan(held, now, SPARK_WINDOW_MS);
    if (!span) return;
    try {
      const series = await this.api.readings(sensor.sensorId, { ...span, metrics: [sensor.sparkMetric], resolution: 'auto', limit: 1000 }, undefined, 1);
      const points: Reading[] =
        series.resolution === 'raw'
          ? series.points
          : series.points.map((b) => ({ ts: b.ts, values: Object.fromEntries(Object.entries(b.values).map(([m, a]) => [m, a.avg])) }));
      sensor.spark = trimBefore(mergeReadings(sensor.spark, points), Date.now() - SPARK_WINDOW_MS);
      sensor.revision++;
      this.changed();
    } catch {
      // A sparkline without history still fills from live frames.
    }
  }

  private async backfill(reconnectedAt: number): Promise<void> {
    // Let readings made just before the reconnection reach the store first.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await this.refresh();
    await Promise.all([...this.sensors.values()].map((s) => this.loadSpark(s, Math.max(reconnectedAt, Date.now()))));
  }

  applyReadings(readings: LiveReading[]): void {
    const now = Date.now();
    let unknown = false;
    for (const r of readings) {
      let sensor = this.sensors.get(r.sensorId);
      if (!sensor) {
        // Shown at once; the list fetched next brings its units.
        unknown = true;
        const metrics = Object.keys(r.values).sort();
        sensor = { sensorId: r.sensorId, online: true, lastSeen: now, metrics, units: {}, latest: null, sparkMetric: pickSparkMetric(metrics), spark: [], revision: 0 };
        this.sensors.set(r.sensorId, sensor);
      }
      if (!sensor.latest || r.ts >= sensor.latest.ts) sensor.latest = { ts: r.ts, values: r.values };
      sensor.lastSeen = Math.max(sensor.lastSeen ?? 0, now);
      sensor.online = true;
      for (const m of Object.keys(r.values)) {
        if (sensor.metrics.includes(m)) continue;
        // A metric new to the list: its unit comes with the next list.
        sensor.metrics = [...sensor.metrics, m].sort();
        unknown = true;
      }
      sensor.sparkMetric ??= pickSparkMetric(sensor.metrics);
      if (sensor.sparkMetric && r.values[sensor.sparkMetric] !== undefined) {
        sensor.spark = mergeReadings(sensor.spark, [{ ts: r.ts, values: r.values }]);
        if (sensor.spark.length > 0 && sensor.spark[0].ts < now - SPARK_WINDOW_MS - 10_000) {
          sensor.spark = trimBefore(sensor.spark, now - SPARK_WINDOW_MS);
        }
      }
      sensor.revision++;
    }
    if (unknown) {
      this.refreshSoon();
      // The live push can beat the history write; a second look brings the units the first one missed.
      setTimeout(() => this.refreshSoon(), 1500);
    }
    this.changed();
  }

  /** A sensor the list does not hold yet spoke: fetch the list again, once at a time. */
  private refreshSoon(): void {
    if (this.fetchingUnknown) {
      this.fetchAgain = true;
      return;
    }
    this.fetchingUnknown = true;
    void this.refresh().finally(() => {
      this.fetchingUnknown = false;
      if (this.fetchAgain) {
        this.fetchAgain = false;
        this.refreshSoon();
      }
    });
  }

  /** The fleet view is on screen: every sensor, `*` counting as one subscription. */
  watch(): void {
    this.live.setSubscriptions(['*']);
  }
}
