/**
 * The JavaScript heap limits of the runtime's worker threads (the DynamoDB stand-in, the history writer).
 * Their live heaps are small (10–17 MiB in a soak of 100 sensors, from heap snapshots), but V8 lets each one's young
 * generation grow to 48 MiB (three 16 MiB semi-spaces) and shrink again: what they committed swung by tens of MiB
 * between samples and made most of the saw in the process's RSS. Capped, a worker scavenges more often, each
 * scavenge as short (few live objects to copy); in a 12-minute soak RSS was ≈ 40 MiB lower and sawed less.
 */
import type { ResourceLimits } from 'node:worker_threads';

export const WORKER_RESOURCE_LIMITS: ResourceLimits = { maxYoungGenerationSizeMb: 16 };
