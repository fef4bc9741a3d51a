/**
 * The dashboard's one WebSocket (contract §6): subscriptions that follow the screen, reconnection with
 * capped exponential backoff and jitter, and a `reconnected` event so views can backfill what they missed.
 */
import { MAX_IDS_PER_FRAME, type ServerFrame } from '../../lambdas/shared/contract.js';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting';

/** The server's frame of one type (contract §6). */
type FrameOf<T extends ServerFrame['type']> = Extract<ServerFrame, { type: T }>;

export type LiveReading = FrameOf<'readings'>['readings'][number];

export interface LiveEvents {
  readings: LiveReading[];
  status: FrameOf<'status'>;
  commandSent: FrameOf<'commandSent'>;
  error: FrameOf<'error'>;
  state: ConnectionState;
  /** The socket is open again after a drop; the argument is when (epoch ms). */
  reconnected: number;
  /** An alert fired, resolved or was acknowledged (contract §8); every connection gets it. */
  alert: Record<string, unknown>;
}

type Listener<T> = (value: T) => void;

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30_000;
export const PING_EVERY_MS = 60_000;

export function backoffDelay(attempt: number, random = Math.random): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return Math.round(ceiling * (0.5 + random() * 0.5));
}

export class LiveConnection {
  state: ConnectionState = 'connecting';
  /** When the next attempt is due, while reconnecting. */
  retryAt: number | null = null;
  /** How many frames of readings arrived (tests and the benchmark read it). */
  framesReceived = 0;

  private socket: WebSocket | null = null;
  private wanted = new Set<string>();
  private attempt = 0;
  private everOpened = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  private readonly listeners = new Map<keyof LiveEvents, Set<Listener<never>>>();

  /** `url` is read at every attempt, so a reconnection carries the current token. */
  constructor(private readonly url: string | (() => string)) {}

  start(): void {
    this.open();
  }

  on<K extends keyof LiveEvents>(event: K, listener: Listener<LiveEvents[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  private emit<K extends keyof LiveEvents>(event: K, value: LiveEvents[K]): void {
    for (const l of this.listeners.get(event) ?? []) (l as Listener<LiveEvents[K]>)(value);
  }

  /** Makes the subscriptions exactly `ids` (`['*']` for every sensor), sending only the difference. */
  setSubscriptions(ids: string[]): void {
    const next = new Set(ids);
    const removed = [...this.wanted].filter((id) => !next.has(id));
    const added = [...next].filter((id) => !this.wanted.has(id));
    this.wanted = next;
    // Subscribe first: a reading between the two frames would otherwise reach neither screen.
    this.subscribe(added);
    if (removed.length) this.send({ action: 'unsubscribe', sensorIds: removed });
  }

  command(sensorId: string, name: string, args: Record<string, unknown>): boolean {
    return this.send({ action: 'command', sensorId, command: { name, args } });
  }

  /** Closes the socket as a network failure would (used by drills; the server-side drop is the real test). */
  drop(): void {
    this.socket?.close();
  }

  stop(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.socket?.close();
  }

  /** `subscribe` frames of at most the contract's ids per frame. */
  private subscribe(ids: string[]): void {
    for (let i = 0; i < ids.length; i += MAX_IDS_PER_FRAME)
      this.send({ action: 'subscribe', sensorIds: ids.slice(i, i + MAX_IDS_PER_FRAME) });
  }

  private send(frame: unknown): boolean {
    if (this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  private open(): void {
    if (this.closed) return;
    this.retryAt = null;
    const socket = new WebSocket(typeof this.url === 'function' ? this.url() : this.url);
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      const wasDropped = this.everOpened;
      this.everOpened = true;
      this.subscribe([...this.wanted]);
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.send({ action: 'ping' }), PING_EVERY_MS);
      this.setState('live');
      if (wasDropped) this.emit('reconnected', Date.now());
    };
    socket.onmessage = (event) => this.receive(event.data);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      clearInterval(this.pingTimer);
      if (this.closed) return;
      const delay = backoffDelay(this.attempt++);
      this.retryAt = Date.now() + delay;
      this.setState(this.everOpened ? 'reconnecting' : 'connecting');
      this.retryTimer = setTimeout(() => this.open(), delay);
    };
  }

  private receive(data: unknown): void {
    if (typeof data !== 'string') return;
    let frame: { type?: string } & Record<string, unknown>;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    switch (frame.type) {
      case 'readings':
        this.framesReceived++;
        this.emit('readings', frame.readings as LiveReading[]);
        break;
      case 'status':
        this.emit('status', frame as unknown as LiveEvents['status']);
        break;
      case 'commandSent':
        this.emit('commandSent', frame as unknown as LiveEvents['commandSent']);
        break;
      case 'error':
        this.emit('error', frame as unknown as LiveEvents['error']);
        break;
      case 'alert':
        if (frame.alert && typeof frame.alert === 'object') this.emit('alert', frame.alert as Record<string, unknown>);
        break;
    }
  }
}
