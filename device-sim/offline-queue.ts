/** Readings waiting for a connection: bounded; overflow drops the oldest and counts them. */
export class OfflineQueue<T> {
  private items: T[] = [];
  private head = 0;
  dropped = 0;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`Queue limit must be a positive integer, got ${limit}`);
  }

  get size(): number {
    return this.items.length - this.head;
  }

  /** Appends newest items. Returns how many of the oldest were dropped to make room. */
  push(...items: T[]): number {
    this.items.push(...items);
    return this.trim();
  }

  /** Puts items back in front (they are older than what is queued), e.g. after a failed publish. */
  requeue(items: T[]): number {
    this.items = [...items, ...this.items.slice(this.head)];
    this.head = 0;
    return this.trim();
  }

  /** Removes and returns up to `n` of the oldest items. */
  take(n: number): T[] {
    const taken = this.items.slice(this.head, this.head + n);
    this.head += taken.length;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return taken;
  }

  private trim(): number {
    const over = this.size - this.limit;
    if (over <= 0) return 0;
    this.head += over;
    this.dropped += over;
    this.items = this.items.slice(this.head);
    this.head = 0;
    return over;
  }
}
