/**
 * One simulated device: a timer drawing readings from its signal model, a publisher over its own MQTT
 * connection (client id = sensorId), a bounded offline buffer flushed as contract batches on reconnect,
 * and a handler for its commands topic.
 */
import { TOPICS } from '../lambdas/shared/names.js';
import { basicIngestTopic } from '../lambdas/shared/rules.js';
import { parseCommand } from './commands.js';
import { OfflineQueue } from './offline-queue.js';
import { batchPayloads, MAX_BATCH_READINGS, readingPayload, type Reading } from './payload.js';
import { PublishWindow } from './publish-rate.js';
import { initialSignalState, nextSignals, UNITS, type SignalState } from './signals.js';
import { PublishRefusedError, type DeviceTransport, type TransportEvents } from './transport.js';

/** The counters a sensor keeps, which a simulation sums over its sensors. */
export const SENSOR_COUNTERS = ['generated', 'sent', 'acknowledged', 'queued', 'dropped', 'errors'] as const;
export type SensorCounter = (typeof SENSOR_COUNTERS)[number];

export interface SensorStats {
  sensorId: string;
  connected: boolean;
  /** Readings drawn from the signal model. */
  generated: number;
  /** Readings put on the wire (a re-sent reading counts again). */
  sent: number;
  /** Readings whose PUBLISH was acknowledged. */
  acknowledged: number;
  /** Readings waiting in the offline buffer. */
  queued: number;
  /** Readings dropped because the offline buffer was full. */
  dropped: number;
  /** Failed connection attempts, lost connections, refused publishes. */
  errors: number;
  intervalMs: number;
  lastError?: string;
}

export interface SensorOptions {
  sensorId: string;
  seed: number;
  intervalMs: number;
  /** Stop drawing readings after this many. */
  count?: number;
  bufferLimit: number;
  maxPublishesPerSecond: number;
  log: (line: string) => void;
  now?: () => number;
  /** Basic Ingest: the rule to publish telemetry through instead of the plain topic (contract §2). */
  basicIngestRule?: string;
}

export type ConnectOutcome = { ok: true } | { ok: false; reason: string };

export class SimulatedSensor {
  readonly sensorId: string;
  private readonly telemetryTopic: string;
  private readonly stats: SensorStats;
  private readonly queue: OfflineQueue<Reading>;
  private readonly window: PublishWindow;
  private readonly now: () => number;
  private signals: SignalState;
  private transport: DeviceTransport | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pacing: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private flushing = false;
  private ticking = false;
  private settled = false;
  private waiters: Array<() => void> = [];
  private resolveFirst!: (outcome: ConnectOutcome) => void;
  /** The result of the first connection attempt. */
  readonly firstConnection: Promise<ConnectOutcome>;

  constructor(private readonly options: SensorOptions) {
    this.sensorId = options.sensorId;
    this.telemetryTopic = options.basicIngestRule
      ? basicIngestTopic(options.basicIngestRule, TOPICS.telemetry(options.sensorId))
      : TOPICS.telemetry(options.sensorId);
    this.now = options.now ?? Date.now;
    this.queue = new OfflineQueue(options.bufferLimit);
    this.window = new PublishWindow(options.maxPublishesPerSecond, this.now);
    this.signals = initialSignalState(options.seed, options.sensorId);
    this.stats = {
      sensorId: options.sensorId,
      connected: false,
      generated: 0,
      sent: 0,
      acknowledged: 0,
      queued: 0,
      dropped: 0,
      errors: 0,
      intervalMs: options.intervalMs,
    };
    this.firstConnection = new Promise((resolve) => (this.resolveFirst = resolve));
  }

  /** The callbacks its transport reports to. */
  readonly events: TransportEvents = {
    connected: () => {
      this.stats.connected = true;
      this.settleFirst({ ok: true });
      this.options.log(`${this.sensorId}: connected`);
      this.pump();
    },
    disconnected: (reason) => {
      this.stats.connected = false;
      this.stats.errors += 1;
      this.stats.lastError = reason;
      this.options.log(`${this.sensorId}: connection lost (${reason}); buffering readings`);
    },
    connectionFailed: (reason) => {
      this.stats.errors += 1;
      this.stats.lastError = reason;
      this.settleFirst({ ok: false, reason });
    },
    message: (_topic, payload) => this.onCommand(payload),
  };

  /** Subscribes to its commands and starts connecting and drawing readings. */
  start(transport: DeviceTransport): void {
    this.transport = transport;
    transport.subscribe(TOPICS.commands(this.sensorId));
    transport.start();
    this.ticking = true;
    this.schedule(0);
  }

  snapshot(): SensorStats {
    return { ...this.stats, queued: this.queue.size, dropped: this.queue.dropped };
  }

  /** True when it will draw no more readings and every one drawn has been acknowledged or dropped. */
  get idle(): boolean {
    return !this.ticking && this.queue.size === 0 && this.inFlight === 0;
  }

  /** Resolves once {@link idle}. */
  whenIdle(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Stops drawing readings; what was drawn still gets delivered while connected. */
  stopReadings(): void {
    this.ticking = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.checkIdle();
  }

  /** Stops everything and closes the connection. */
  async close(): Promise<void> {
    this.stopReadings();
    if (this.pacing) clearTimeout(this.pacing);
    this.pacing = undefined;
    this.settleFirst({ ok: false, reason: 'stopped' });
    await this.transport?.stop();
    this.stats.connected = false;
    for (const resolve of this.waiters.splice(0)) resolve();
  }

  /** Changes the period; the next reading comes `intervalMs` from now. */
  setInterval(intervalMs: number): void {
    this.stats.intervalMs = intervalMs;
    if (this.ticking) this.schedule(intervalMs);
  }

  private settleFirst(outcome: ConnectOutcome): void {
    if (this.settled) return;
    this.settled = true;
    this.resolveFirst(outcome);
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), delayMs);
  }

  private tick(): void {
    this.timer = undefined;
    if (!this.ticking) return;
    const ts = this.now();
    const { values, state } = nextSignals(this.signals, ts);
    this.signals = state;
    this.stats.generated += 1;
    this.enqueue({ ts, values, units: { ...UNITS } });
    if (this.options.count !== undefined && this.stats.generated >= this.options.count) {
      this.stopReadings();
    } else {
      this.schedule(this.stats.intervalMs);
    }
  }

  private enqueue(reading: Reading): void {
    const dropped = this.queue.push(reading);
    if (dropped > 0) this.options.log(`${this.sensorId}: offline buffer full (${this.queue.limit}); dropped ${dropped} oldest reading(s)`);
    this.pump();
  }

  /** Sends what is queued, respecting the publish rate: one reading as form 1, more as form 2 batches. */
  private pump(): void {
    if (this.flushing || !this.stats.connected || !this.transport || this.queue.size === 0) return;
    const wait = this.window.delay();
    if (wait > 0) {
      if (!this.pacing) {
        this.pacing = setTimeout(() => {
          this.pacing = undefined;
          this.pump();
        }, wait);
      }
      return;
    }
    const readings = this.queue.take(MAX_BATCH_READINGS);
    const batches = readings.length === 1 ? [{ payload: readingPayload(readings[0]), readings }] : batchPayloads(readings);
    const [first, ...rest] = batches;
    if (rest.length > 0) this.queue.requeue(rest.flatMap((b) => b.readings));
    // A flush (more than one reading) waits for its PUBACK before the next; live readings go straight out.
    const isFlush = first.readings.length > 1 || this.queue.size > 0;
    if (isFlush) this.flushing = true;
    this.window.record();
    this.inFlight += 1;
    this.stats.sent += first.readings.length;
    this.transport
      .publish(this.telemetryTopic, first.payload)
      .then(
        () => {
          this.stats.acknowledged += first.readings.length;
        },
        (error: unknown) => {
          this.stats.errors += 1;
          const reason = error instanceof Error ? error.message : String(error);
          this.stats.lastError = reason;
          if (error instanceof PublishRefusedError) {
            this.options.log(`${this.sensorId}: broker refused a publish of ${first.readings.length} reading(s) (${reason})`);
          } else {
            // Not acknowledged because the connection went: send again once it is back.
            const dropped = this.queue.requeue(first.readings);
            if (dropped > 0) this.options.log(`${this.sensorId}: offline buffer full; dropped ${dropped} oldest reading(s)`);
          }
        },
      )
      .finally(() => {
        this.inFlight -= 1;
        if (isFlush) this.flushing = false;
        this.pump();
        this.checkIdle();
      });
    if (!isFlush) this.pump();
  }

  private onCommand(payload: Buffer): void {
    const command = parseCommand(payload, this.options.maxPublishesPerSecond);
    if (command.kind === 'ignored') {
      this.options.log(`${this.sensorId}: ignored command: ${command.reason}`);
      return;
    }
    this.options.log(`${this.sensorId}: setInterval ${command.intervalMs} ms${command.id ? ` (command ${command.id})` : ''}`);
    this.setInterval(command.intervalMs);
  }

  private checkIdle(): void {
    if (!this.idle) return;
    for (const resolve of this.waiters.splice(0)) resolve();
  }
}
