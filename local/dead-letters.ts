/**
 * The local dead-letter store (SQS in the cloud): one JSON line per rejected payload in the data folder,
 * bounded so that a device sending garbage cannot fill the disk. Each entry keeps its topic, code and
 * reason whole and at most `maxPayloadChars` of its payload; the file rotates at `maxFileBytes`
 * (local/capped-jsonl.ts).
 */
import { CappedJsonlFile } from './capped-jsonl.js';

export interface DeadLetterLimits {
  /** @default 10 MiB */
  maxFileBytes?: number;
  /** Base64 characters of the payload kept per entry. @default 180 000: a payload up to the 128 KiB limit whole */
  maxPayloadChars?: number;
}

export interface DeadLetterCounts {
  written: number;
  payloadsTruncated: number;
  rotations: number;
}

export class DeadLetterFile extends CappedJsonlFile {
  constructor(file: string, limits: DeadLetterLimits = {}) {
    const payload = { name: 'payload', maxChars: limits.maxPayloadChars ?? 180_000, lengthField: 'payloadBase64Chars' };
    super(file, payload, { metric: 'vigia_local_dead_letter', entries: 'Rejected payloads' }, limits.maxFileBytes);
  }

  get counts(): DeadLetterCounts {
    return { written: this.written, payloadsTruncated: this.truncated, rotations: this.rotations };
  }

  /** Appends one entry, after every entry appended before it. */
  append(entry: Record<string, unknown>): Promise<void> {
    return this.appendCapped([entry]);
  }
}
