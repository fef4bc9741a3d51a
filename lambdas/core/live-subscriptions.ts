/**
 * Who follows which sensor, for the live path: every subscription set is read whole once and kept per container
 * (per Lambda instance; per process locally), then revalidated on each live batch by the subscriptions' version,
 * read in the same request as the shard's claims. So a steady live batch costs one read, not a Query per sensor.
 *
 * Why it holds: `setSubscriptions` and `close` move the version on after their writes, and a subscribe is acked
 * only after that. A batch started after the ack reads the new version, finds its cache stale and reads the sets
 * again (strongly consistent), so it sees the new subscriber; an unsubscribed or closed connection is dropped the
 * same way. The cache is labelled with the version read before the sets: a change landing between the two reads
 * leaves a newer version than the label, so the next batch reads again. A set older than `maxAgeMs` is read again
 * whatever the version says (a change whose version move failed is not kept forever).
 */
import type { LiveShardState, SubscriptionSnapshots } from './ports.js';
import { WILDCARD } from '../shared/contract.js';

interface SubscriberIndex {
  version: number | null;
  readAt: number;
  /** sensorId → connections subscribed to it by name. */
  bySensor: Map<string, string[]>;
  /** Connections subscribed to `*`. */
  everything: string[];
}

export interface LiveRead {
  /** The connections following each sensor (directly or through `*`); a sensor nobody follows is absent. */
  subscribers: Map<string, string[]>;
  /** The shard's live state, when a shard was named and some sensor is followed. */
  shard?: LiveShardState;
}

/** Subscribers found in the cached sets, not yet checked against the version. */
export interface Peeked {
  index: SubscriberIndex;
  subscribers: Map<string, string[]>;
}

/** A cached set is read again after this long, whatever its version. */
export const MAX_SUBSCRIPTIONS_AGE_MS = 60_000;

export class LiveSubscriptions {
  private index: SubscriberIndex | undefined;
  /** A read of the sets in progress, shared by batches that found the same version stale. */
  private loading: { version: number | null; index: Promise<SubscriberIndex> } | undefined;

  constructor(
    private readonly source: SubscriptionSnapshots,
    private readonly maxAgeMs = MAX_SUBSCRIPTIONS_AGE_MS,
  ) {}

  /**
   * The subscribers of these sensors and, with a shard, the shard's live state: one read when the cached sets are
   * current; the sets are read again when the version moved. The shard is read with the version whenever the
   * cache says (or cannot tell whether) some sensor is followed, and otherwise only if the fresh sets say one is.
   */
  async read(sensorIds: string[], now: number, shardId?: string): Promise<LiveRead> {
    const cached = this.cached(now);
    const shardWanted = shardId !== undefined && (!cached || follows(cached, sensorIds));
    const first = await this.source.liveVersion(shardWanted ? shardId : undefined);
    const index = cached && cached.version === first.version ? cached : await this.load(first.version, now);
    const subscribers = lookup(index, sensorIds);
    if (shardId === undefined || subscribers.size === 0) return { subscribers };
    // A sensor newly followed: the version said so, and the shard's state is read now (only on a change).
    const shard = first.shard ?? (await this.source.liveVersion(shardId)).shard;
    return { subscribers, shard };
  }

  /**
   * The cached sets' subscribers of these sensors, to act on before the version is read: valid only once
   * `confirm` says the version has not moved. None when no set is cached, or it is too old.
   */
  peek(sensorIds: string[], now: number): Peeked | undefined {
    const cached = this.cached(now);
    return cached && { index: cached, subscribers: lookup(cached, sensorIds) };
  }

  /** The subscribers as of now (one read of the version): the peeked ones when it has not moved, else the sets read again. */
  async confirm(peeked: Peeked, sensorIds: string[], now: number): Promise<Map<string, string[]>> {
    const { version } = await this.source.liveVersion();
    if (version === peeked.index.version) return peeked.subscribers;
    return lookup(await this.load(version, now), sensorIds);
  }

  private cached(now: number): SubscriberIndex | undefined {
    return this.index && now - this.index.readAt < this.maxAgeMs ? this.index : undefined;
  }

  private async load(version: number | null, now: number): Promise<SubscriberIndex> {
    if (this.loading?.version !== version) {
      const index = this.source.allSubscriptions().then((connections) => {
        const built = indexOf(connections, version, now);
        // The newest label wins; an older load finishing late is only this batch's.
        if (this.loading?.index === index) {
          this.index = built;
          this.loading = undefined;
        }
        return built;
      });
      index.catch(() => {
        if (this.loading?.index === index) this.loading = undefined;
      });
      this.loading = { version, index };
    }
    return this.loading.index;
  }
}

function indexOf(connections: Array<{ connectionId: string; sensorIds: string[] }>, version: number | null, now: number): SubscriberIndex {
  const bySensor = new Map<string, string[]>();
  const everything: string[] = [];
  for (const { connectionId, sensorIds } of connections) {
    for (const sensorId of new Set(sensorIds)) {
      if (sensorId === WILDCARD) everything.push(connectionId);
      else {
        const list = bySensor.get(sensorId);
        if (list) list.push(connectionId);
        else bySensor.set(sensorId, [connectionId]);
      }
    }
  }
  return { version, readAt: now, bySensor, everything };
}

function follows(index: SubscriberIndex, sensorIds: string[]): boolean {
  return index.everything.length > 0 || sensorIds.some((id) => index.bySensor.has(id));
}

function lookup(index: SubscriberIndex, sensorIds: string[]): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const sensorId of new Set(sensorIds)) {
    const direct = index.bySensor.get(sensorId) ?? [];
    if (direct.length === 0 && index.everything.length === 0) continue;
    // A connection on both `*` and the sensor gets it once.
    found.set(sensorId, direct.length === 0 ? index.everything : [...new Set([...direct, ...index.everything])]);
  }
  return found;
}
