/**
 * The fleet as the dashboard knows it: the API's sensor list kept current by live frames. Frames are applied
 * at once to plain objects; views are told at most every `NOTIFY_MS`, so 200 readings a second cost a few
 * renders, not 200.
 */
import { BATCH_MAX_SENSORS, type Api, type SensorInfo } from './api.js';
import { MetricPrecision, mergeReadings, trimBefore, type Reading } from './data.js';
import type { LiveConnection, LiveReading } from './live.js';

export const SPARK_WINDOW_MS = 5 * 60_000;
/** Points per sparkline asked for: more than its pixels; beyond it `auto` answers minute buckets. */
const SPARK_POINTS = 400;
const SPARK_SETTLE_MS = 150;
/** Contract §6: at most 100 subscriptions per connection. */
export const MAX_SUBSCRIPTIONS = 100;
const NOTIFY_MS = 250;
/** The first page of the first list: a few screens of cards, shown while the rest of a big fleet loads. */
const FIRST_PAGE = 100;

/** Decimal places per metric, shared by every view so a metric reads the same everywhere. */
export const precision = new MetricPrecision();

export interface FleetSensor extends SensorInfo {
  /** The metric the sparkline draws. */
  sparkMetric: string | null;
  spark: Reading[];
  /** When the sparkline's history was asked for while on screen; null when it must be read (again). */
  sparkLoadedAt: number | null;
  /** Bumped on every change, so a card can skip work when it has none. */
  revision: number;
  /**
   * Since when a live reading showed this sensor (or a metric of it) that the list does not hold yet: its
   * history write lands up to a history window after the live push, so the list is read again until it does.
   */
  unlistedSince?: number;
}

/** Looks at the list again this long after a live reading showed what it lacked, doubling up to the last. */
const UNLISTED_RETRY_MS = [1_500, 3_000, 6_000, 12_000, 24_000];
/** A sensor seen live but never listed is dropped after this long (the history writer refused or lost it). */
const UNLISTED_KEEP_MS = 2 * 60_000;

export type LoadState = { kind: 'loading' } | { kind: 'ready' } | { kind: 'error'; message: string };

export function pickSparkMetric(metrics: string[]): string | null {
  if (metrics.includes('temperature')) return 'temperature';
  return [...metrics].sort()[0] ?? null;
}

export class FleetStore {
  sensors = new Map<string, FleetSensor>();
  load: LoadState = { kind: 'loading' };
  version = 0;
  /** Bumped when a sensor joins or leaves the list (not when one changes): the name order follows it. */
  membership = 0;
  /** The first list is still coming page by page (its pages are in the registry's order, not by name). */
  listing = false;
  private listeners = new Set<() => void>();
  private notifyTimer: ReturnType<typeof setTimeout> | undefined;
  private fetchingUnknown = false;
  private visible = new Set<string>();
  private sparkTimer: ReturnType<typeof setTimeout> | undefined;
  /** Batched sparkline requests made (tests and the benchmark read it). */
  sparkRequests = 0;
  private fetchAgain = false;
  private reading: Promise<void> | null = null;
  private unlistedTimer: ReturnType<typeof setTimeout> | undefined;
  private unlistedTries = 0;

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
    live.on('reconnected', () => void this.backfill());
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tells the views now (a change of the view's own, such as a re-sort asked for). */
  notify(): void {
    this.version++;
    for (const l of this.listeners) l();
  }

  private changed(): void {
    if (this.notifyTimer !== undefined) return;
    this.notifyTimer = setTimeout(() => {
      this.notifyTimer = undefined;
      this.version++;
      for (const l of this.listeners) l();
    }, NOTIFY_MS);
  }

  /**
   * Loads the list (every page); sparklines load for the cards on screen only (`show`). One read at a time: a
   * second one started while the first list's pages come would end `listing` early, and the rest of the
   * fleet would be appended after an order taken from the first page.
   */
  refresh(): Promise<void> {
    this.reading ??= this.readList().finally(() => (this.reading = null));
    return this.reading;
  }

  private async readList(): Promise<void> {
    try {
      // The first time, the first page shows at once: a thousand sensors are listed while the first cards draw.
      const progress =
        this.load.kind === 'ready' ? undefined : { firstPage: FIRST_PAGE, onPage: (soFar: SensorInfo[]) => this.takeList(soFar, true) };
      this.listing = progress !== undefined;
      const list = await this.api.sensors(undefined, 1000, progress).finally(() => (this.listing = false));
      this.takeList(list, false);
    } catch (err) {
      if (this.load.kind !== 'ready') this.load = { kind: 'error', message: (err as Error).message };
      this.changed();
    }
  }

  /** The list read (or its pages so far, `partial`: sensors not in it yet are kept). */
  private takeList(list: SensorInfo[], partial: boolean): void {
    const next = new Map<string, FleetSensor>();
    const now = Date.now();
    for (const info of list) {
      const old = this.sensors.get(info.sensorId);
      // A metric the live readings showed and the list does not have yet: its unit is still to come.
      const awaited = old?.metrics.some((m) => !info.metrics.includes(m)) ? (old.unlistedSince ?? now) : undefined;
      // A live frame may be newer than the list, which was read a moment ago.
      const latest = old?.latest && (!info.latest || old.latest.ts > info.latest.ts) ? old.latest : info.latest;
      for (const [m, v] of Object.entries(latest?.values ?? {})) precision.see(m, v);
      next.set(info.sensorId, {
        ...info,
        latest,
        lastSeen: Math.max(info.lastSeen ?? 0, old?.lastSeen ?? 0) || null,
        sparkMetric: pickSparkMetric(info.metrics),
        spark: old?.spark ?? [],
        sparkLoadedAt: old?.sparkLoadedAt ?? null,
        revision: (old?.revision ?? 0) + 1,
        ...(awaited !== undefined ? { unlistedSince: awaited } : {}),
      });
    }
    for (const [id, s] of this.sensors) {
      if (next.has(id)) continue;
      // A list read so far (`partial`) lacks the rest; a whole one lacks a sensor seen live before its history.
      if (partial || (s.unlistedSince !== undefined && now - s.unlistedSince < UNLISTED_KEEP_MS)) next.set(id, s);
    }
    if (next.size !== this.sensors.size || [...next.keys()].some((id) => !this.sensors.has(id))) this.membership++;
    const first = this.load.kind !== 'ready';
    this.sensors = next;
    this.load = { kind: 'ready' };
    // The first cards are not held back by the batching of live frames.
    if (first) this.notify();
    else this.changed();
    this.loadSparksSoon();
    if (!partial) this.awaitUnlisted();
  }

  /** While a sensor or metric seen live is not listed, reads the list again, less and less often. */
  private awaitUnlisted(): void {
    const waiting = [...this.sensors.values()].some((s) => s.unlistedSince !== undefined);
    if (!waiting) {
      this.unlistedTries = 0;
      return;
    }
    if (this.unlistedTimer !== undefined || this.unlistedTries >= UNLISTED_RETRY_MS.length) return;
    this.unlistedTimer = setTimeout(
      () => {
        this.unlistedTimer = undefined;
        this.refreshSoon();
      },
      UNLISTED_RETRY_MS[this.unlistedTries++],
    );
  }

  /**
   * The cards on screen: only these are subscribed to (at most `MAX_SUBSCRIPTIONS`, contract §6) and only
   * their sparklines are loaded, in one batched request per metric.
   */
  show(sensorIds: string[]): void {
    const ids = sensorIds.slice(0, MAX_SUBSCRIPTIONS);
    const next = new Set(ids);
    // A card that leaves the screen stops getting live readings: its sparkline must be read again on return.
    for (const id of this.visible)
      if (!next.has(id)) {
        const s = this.sensors.get(id);
        if (s) s.sparkLoadedAt = null;
      }
    this.visible = next;
    this.live.setSubscriptions(ids);
    this.loadSparksSoon();
  }

  /** Whether live readings reach this sensor now (tests and the benchmark read it). */
  isShown(sensorId: string): boolean {
    return this.visible.has(sensorId);
  }

  private loadSparksSoon(): void {
    clearTimeout(this.sparkTimer);
    // Scrolling moves the window many times a second: load where it comes to rest.
    this.sparkTimer = setTimeout(() => void this.loadSparks(), SPARK_SETTLE_MS);
  }

  private async loadSparks(): Promise<void> {
    const now = Date.now();
    const byMetric = new Map<string, FleetSensor[]>();
    for (const id of this.visible) {
      const s = this.sensors.get(id);
      if (!s?.sparkMetric || s.sparkLoadedAt !== null) continue;
      let group = byMetric.get(s.sparkMetric);
      if (!group) byMetric.set(s.sparkMetric, (group = []));
      group.push(s);
    }
    for (const [metric, group] of byMetric) {
      for (let i = 0; i < group.length; i += BATCH_MAX_SENSORS) {
        const chunk = group.slice(i, i + BATCH_MAX_SENSORS);
        for (const s of chunk) s.sparkLoadedAt = now;
        this.sparkRequests++;
        try {
          const answer = await this.api.readingsOfMany(
            chunk.map((s) => s.sensorId),
            { from: now - SPARK_WINDOW_MS, to: now + 1, metrics: [metric], resolution: 'auto', limit: SPARK_POINTS },
          );
          for (const series of answer) {
            const sensor = this.sensors.get(series.sensorId);
            if (!sensor) continue;
            const points: Reading[] =
              series.resolution === 'raw'
                ? series.points
                : series.points.map((b) => ({
                    ts: b.ts,
                    values: Object.fromEntries(Object.entries(b.values).map(([m, a]) => [m, a.avg])),
                  }));
            sensor.spark = trimBefore(mergeReadings(sensor.spark, points), Date.now() - SPARK_WINDOW_MS);
            sensor.revision++;
          }
          this.changed();
        } catch {
          // A sparkline without history still fills from live frames; the next window move asks again.
          for (const s of chunk) s.sparkLoadedAt = null;
        }
      }
    }
  }

  private async backfill(): Promise<void> {
    // Let readings made just before the reconnection reach the store first.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    for (const id of this.visible) {
      const s = this.sensors.get(id);
      if (s) s.sparkLoadedAt = null;
    }
    await this.refresh();
  }

  applyReadings(readings: LiveReading[]): void {
    const now = Date.now();
    let unknown = false;
    for (const r of readings) {
      const known = this.sensors.get(r.sensorId);
      if (!known) unknown = true;
      const sensor = known ?? this.addUnlisted(r.sensorId, Object.keys(r.values).sort(), now);
      if (!sensor.latest || r.ts >= sensor.latest.ts) sensor.latest = { ts: r.ts, values: r.values };
      for (const [m, v] of Object.entries(r.values)) precision.see(m, v);
      sensor.lastSeen = Math.max(sensor.lastSeen ?? 0, now);
      sensor.online = true;
      for (const m of Object.keys(r.values)) {
        if (sensor.metrics.includes(m)) continue;
        // A metric new to the list: its unit comes with a next list.
        sensor.metrics = [...sensor.metrics, m].sort();
        sensor.unlistedSince ??= now;
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
      // The live push can beat the history write: the lists after this one look again (awaitUnlisted).
      this.unlistedTries = 0;
      this.refreshSoon();
    }
    this.changed();
  }

  /** A sensor the list does not hold yet: shown at once; the list fetched next brings its units. */
  private addUnlisted(sensorId: string, metrics: string[], now: number): FleetSensor {
    const sensor: FleetSensor = {
      sensorId,
      online: true,
      lastSeen: now,
      metrics,
      units: {},
      latest: null,
      sparkMetric: pickSparkMetric(metrics),
      spark: [],
      sparkLoadedAt: null,
      revision: 0,
      unlistedSince: now,
    };
    this.sensors.set(sensorId, sensor);
    this.membership++;
    return sensor;
  }

  /** A sensor the list does not hold yet spoke: fetch the list again, once at a time. */
  private refreshSoon(): void {
    if (this.fetchingUnknown) {
      this.fetchAgain = true;
      return;
    }
    this.fetchingUnknown = true;
    // A read already under way may have left before this sensor spoke: read again once it is done.
    const under = this.reading ?? Promise.resolve();
    void under
      .then(() => this.refresh())
      .finally(() => {
        this.fetchingUnknown = false;
        if (this.fetchAgain) {
          this.fetchAgain = false;
          this.refreshSoon();
        }
      });
  }
}
