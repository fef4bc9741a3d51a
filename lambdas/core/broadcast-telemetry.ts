/** The live broadcaster's use case: pushes valid readings to their sensors' subscribers, once each. */
import { METRICS } from '../shared/names.js';
import { acceptedReadings, readingKey } from './accepted-readings.js';
import { inParallel } from './concurrency.js';
import { claimOnSavedState, claimOnShard, type SavedShardStates } from './live-shard.js';
import type { LiveSubscriptions } from './live-subscriptions.js';
import type { Reading } from './model.js';
import type { LiveMarks, LiveShardState, LiveShardStore, ReadingKey } from './ports.js';
import { type PushDeps, pushToEach } from './push.js';
import type { SequencedEvent } from './sequence.js';

export interface BroadcastDeps extends PushDeps {
  /** Which readings were pushed before: per-reading marks (direct ingest), per-shard state (stream ingest). */
  liveClaims: LiveMarks & LiveShardStore;
  rawRetentionDays: number;
  /** Who follows which sensor, kept per container and revalidated each batch (one read with the shard's claims). */
  subscriptions: LiveSubscriptions;
  /** Each shard's live state as this container saved it last (stream ingest). */
  shardStates: SavedShardStates;
  /** The shard state's size bound. @default MAX_STATE_BYTES (tests pass a small one, to meet it often) */
  liveStateBytes?: number;
}

type LiveReading = { sensorId: string; ts: number; values: Record<string, number> };

/** Frames stay well under API Gateway's 32 KB WebSocket frame size. */
const MAX_FRAME_CHARS = 30_000;

/** Splits readings into `readings` frames of at most MAX_FRAME_CHARS each. */
export function readingsFrames(readings: LiveReading[]) {
  const frames: Array<{ type: 'readings'; readings: LiveReading[] }> = [];
  let current: LiveReading[] = [];
  let size = 0;
  for (const r of readings) {
    const length = JSON.stringify(r).length + 1;
    if (current.length > 0 && size + length > MAX_FRAME_CHARS) {
      frames.push({ type: 'readings', readings: current });
      current = [];
      size = 0;
    }
    current.push(r);
    size += length;
  }
  if (current.length > 0) frames.push({ type: 'readings', readings: current });
  return frames;
}

type ValidReading = Reading & { event: number };

/** Who follows the batch's sensors, and which of their readings were never pushed before. */
interface Claim {
  followedFresh(valid: ValidReading[], sensorIds: string[]): Promise<{ subscribers: Map<string, string[]>; fresh: ReadingKey[] }>;
}

const followedBy = (readings: ValidReading[], subscribers: Map<string, string[]>) => readings.filter((r) => subscribers.has(r.sensorId));

/** Direct ingest: the subscribers, then each sensor-minute's mark claimed atomically (invocations run at once). */
const claimEach = (deps: BroadcastDeps): Claim => ({
  async followedFresh(valid, sensorIds) {
    const { subscribers } = await deps.subscriptions.read(sensorIds, deps.now());
    const followed = followedBy(valid, subscribers).map(({ sensorId, ts }) => ({ sensorId, ts }));
    return { subscribers, fresh: followed.length === 0 ? [] : await deps.liveClaims.markPushed(followed, deps.now()) };
  },
});

/**
 * Stream ingest, one shard: claims on the shard's state (lambdas/core/live-shard.ts). A steady batch claims on this
 * container's last save of it while the subscriptions' version is read, both at once (one round trip); a first
 * batch, one after a change of the sets, or one whose claim needs the shard's current state reads before claiming.
 */
function claimOnStream(shardId: string, records: SequencedEvent[], deps: BroadcastDeps): Claim {
  const lastSeq = records[records.length - 1].sequenceNumber;
  const itemsOf = (readings: ValidReading[]) => readings.map((r) => ({ seq: records[r.event].sequenceNumber, reading: r }));
  const claimRead = (readings: ValidReading[], now: number, read?: LiveShardState) =>
    claimOnShard(shardId, itemsOf(readings), lastSeq, deps.liveClaims, now, {
      read,
      saved: deps.shardStates,
      maxStateBytes: deps.liveStateBytes,
    });
  return {
    async followedFresh(valid, sensorIds) {
      const now = deps.now();
      const peeked = deps.subscriptions.peek(sensorIds, now);
      const savedState = peeked && deps.shardStates.get(shardId, now);
      if (!peeked || !savedState) {
        const { subscribers, shard } = await deps.subscriptions.read(sensorIds, now, shardId);
        return { subscribers, fresh: await claimRead(followedBy(valid, subscribers), now, shard) };
      }
      const guessed = followedBy(valid, peeked.subscribers);
      const [confirmed, claimed] = await Promise.allSettled([
        deps.subscriptions.confirm(peeked, sensorIds, now),
        claimOnSavedState(shardId, itemsOf(guessed), lastSeq, deps.liveClaims, now, deps.shardStates, deps.liveStateBytes),
      ]);
      if (claimed.status === 'rejected') throw claimed.reason;
      let subscribers = peeked.subscribers;
      if (confirmed.status === 'fulfilled') subscribers = confirmed.value;
      else if (claimed.value === undefined || claimed.value.length === 0) throw confirmed.reason;
      else {
        // The readings are claimed: a retry would skip them. Pushed to the sets as cached rather than to no one.
        deps.log.warn('subscriptions version unread; pushed to the cached sets', { error: (confirmed.reason as Error).message });
      }
      const followed = followedBy(valid, subscribers);
      // The state was needed (a mark to claim) or another consumer moved the shard on: read it and claim again.
      if (claimed.value === undefined) return { subscribers, fresh: await claimRead(followed, now) };
      const guessedSet = new Set(guessed);
      const missed = followed.filter((r) => !guessedSet.has(r));
      if (missed.length === 0) return { subscribers, fresh: claimed.value };
      // The sets changed: readings of sensors followed since are claimed too, on the state this batch saved (records
      // after the one the batch started from), else on the state as read now.
      const savedNow = deps.shardStates.get(shardId, now);
      const more =
        savedNow !== undefined && savedNow !== savedState
          ? await claimOnShard(shardId, itemsOf(missed), lastSeq, deps.liveClaims, now, {
              read: savedNow,
              claimedUpTo: savedState.seq,
              saved: deps.shardStates,
              maxStateBytes: deps.liveStateBytes,
            })
          : await claimRead(missed, now);
      return { subscribers, fresh: [...claimed.value, ...more] };
    },
  };
}

/**
 * The live broadcaster, for one rule event or a batch: each connection gets one frame for all its
 * readings of the batch. Invalid payloads are the history writer's to dead-letter; here they are skipped.
 */
export async function broadcastTelemetryBatch(
  events: unknown[],
  deps: BroadcastDeps,
  claim: Claim = claimEach(deps),
): Promise<{ pushed: number; connections: number }> {
  const { verdicts } = acceptedReadings(events, deps.rawRetentionDays);
  const seen = new Set<string>();
  const valid: ValidReading[] = [];
  for (const v of verdicts) {
    if (!v.ok) continue;
    for (const r of v.readings) {
      const key = readingKey(r);
      if (seen.has(key)) continue;
      seen.add(key);
      valid.push({ ...r, event: v.index });
    }
  }
  if (valid.length === 0) return { pushed: 0, connections: 0 };

  // Only readings not pushed before: a QoS 1 redelivery or a retried batch is not shown twice.
  const { subscribers, fresh: freshKeys } = await claim.followedFresh(valid, [...new Set(valid.map((r) => r.sensorId))]);
  if (freshKeys.length === 0) return { pushed: 0, connections: 0 };
  const fresh = new Set(freshKeys.map(readingKey));
  const perConnection = new Map<string, LiveReading[]>();
  const pushedReadings: Reading[] = [];
  for (const r of valid) {
    const followers = subscribers.get(r.sensorId);
    if (!followers || !fresh.has(readingKey(r))) continue;
    pushedReadings.push(r);
    const item = { sensorId: r.sensorId, ts: r.ts, values: r.values };
    for (const connectionId of followers) {
      const list = perConnection.get(connectionId);
      if (list) list.push(item);
      else perConnection.set(connectionId, [item]);
    }
  }
  if (perConnection.size === 0) return { pushed: 0, connections: 0 };

  // Connections that get the same readings (every `*` dashboard, say) share their frames: built once, sent at once.
  const groups = new Map<string, { items: LiveReading[]; connectionIds: string[] }>();
  for (const [connectionId, items] of perConnection) {
    const signature = items.map((i) => i.sensorId).join('\u0000');
    const group = groups.get(signature);
    if (group) group.connectionIds.push(connectionId);
    else groups.set(signature, { items, connectionIds: [connectionId] });
  }
  let sent = 0;
  await inParallel([...groups.values()], 16, async ({ items, connectionIds }) => {
    items.sort((a, b) => a.ts - b.ts);
    let open = connectionIds;
    for (const frame of readingsFrames(items)) {
      open = await pushToEach(open, frame, deps);
      if (open.length === 0) return;
    }
    sent += open.length;
  });
  if (sent > 0) {
    const pushedAt = deps.now();
    for (const r of pushedReadings) deps.metrics.observe(METRICS.receiveToPushLatency, Math.max(0, pushedAt - r.receivedAt));
  }
  return { pushed: pushedReadings.length, connections: sent };
}

/**
 * The live broadcaster on stream ingest: the records' valid readings, each pushed once. One shard's claims are
 * its state's (lambdas/core/live-shard.ts): a redelivered batch or a QoS 1 duplicate pushes nothing again.
 * When the subscribers or the claims cannot be read or saved, nothing was pushed and the batch is reported
 * failed from its first record; an invalid payload is skipped, never a failure.
 */
export async function broadcastTelemetryStream(
  records: SequencedEvent[],
  deps: BroadcastDeps,
): Promise<{ pushed: number; connections: number; firstFailure: string | null }> {
  const shards = new Set(records.map((r) => r.shardId));
  const shardId = records[0]?.shardId;
  // An event source mapping's batch is one shard's; records without one (no eventID) are claimed one by one.
  const claim = shardId !== undefined && shards.size === 1 ? claimOnStream(shardId, records, deps) : undefined;
  try {
    return {
      ...(await broadcastTelemetryBatch(
        records.map((r) => r.event),
        deps,
        claim,
      )),
      firstFailure: null,
    };
  } catch (err) {
    deps.log.error('live batch failed', { error: (err as Error).message, records: records.length });
    return { pushed: 0, connections: 0, firstFailure: records[0]?.sequenceNumber ?? null };
  }
}

/** The live broadcaster for one rule event. */
export async function broadcastTelemetry(event: unknown, deps: BroadcastDeps): Promise<{ pushed: number; connections: number }> {
  return broadcastTelemetryBatch([event], deps);
}
