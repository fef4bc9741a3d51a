/**
 * The local on-failure destination (the dead-letter queue in the cloud) for invocations whose retries are
 * exhausted: one JSON line each in the data folder, bounded like the dead letters so that a poisoned
 * stream cannot fill the disk. An entry's event is kept up to `maxEventChars` of its JSON and its error up to
 * 1,024 characters; the file rotates at `maxFileBytes` (local/capped-jsonl.ts).
 */
import { CappedJsonlFile } from './capped-jsonl.js';

export interface FailedInvocationLimits {
  /** @default 10 MiB */
  maxFileBytes?: number;
  /** Characters of an entry's event (as JSON) kept. @default 200 000: a 128 KiB payload's event whole */
  maxEventChars?: number;
}

export interface FailedInvocation {
  at: string;
  rule: string;
  target: string;
  condition: 'RetriesExhausted';
  error: string | undefined;
  event: unknown;
  sequenceNumber?: string;
}

export class FailedInvocationFile extends CappedJsonlFile {
  constructor(file: string, limits: FailedInvocationLimits = {}) {
    super(
      file,
      { name: 'event', maxChars: limits.maxEventChars ?? 200_000, lengthField: 'eventChars' },
      { metric: 'vigia_local_failed_invocation', entries: 'Invocations whose retries ran out' },
      limits.maxFileBytes,
    );
  }

  get counts(): { written: number; eventsTruncated: number; rotations: number } {
    return { written: this.written, eventsTruncated: this.truncated, rotations: this.rotations };
  }

  /** Appends entries, one line each, after every entry appended before them. */
  append(entries: FailedInvocation[]): Promise<void> {
    return this.appendCapped(entries);
  }
}
