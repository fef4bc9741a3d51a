/**
 * The local dead-letter store (SQS in the cloud): one JSON line per rejected payload in the data folder,
 * bounded so that a device sending garbage cannot fill the disk. Each entry keeps its topic, code and
 * reason whole and at most `maxPayloadChars` of its payload; the file rotates at `maxFileBytes`
 * (local/rotating-file.ts).
 */
import { prometheusFamily, prometheusText } from './prometheus.js';
import { RotatingJsonlFile } from './rotating-file.js';

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

const MAX_FIELD_CHARS = 1024;

export class DeadLetterFile {
  private readonly out: RotatingJsonlFile;
  private payloadsTruncated = 0;
  private readonly maxPayloadChars: number;

  constructor(
    readonly file: string,
    limits: DeadLetterLimits = {},
  ) {
    this.out = new RotatingJsonlFile(file, limits.maxFileBytes ?? 10 * 1024 * 1024);
    this.maxPayloadChars = limits.maxPayloadChars ?? 180_000;
  }

  get counts(): DeadLetterCounts {
    return { written: this.out.written, payloadsTruncated: this.payloadsTruncated, rotations: this.out.rotations };
  }

  /** The rotated file (the previous generation). */
  get previousFile(): string {
    return this.out.previousFile;
  }

  /** Appends one entry, after every entry appended before it. */
  append(entry: Record<string, unknown>): Promise<void> {
    const bounded: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(entry)) {
      if (key === 'payload' && typeof value === 'string' && value.length > this.maxPayloadChars) {
        bounded.payload = value.slice(0, this.maxPayloadChars);
        bounded.payloadTruncated = true;
        bounded.payloadBase64Chars = value.length;
        this.payloadsTruncated += 1;
      } else if (typeof value === 'string' && value.length > MAX_FIELD_CHARS && key !== 'payload') {
        bounded[key] = `${value.slice(0, MAX_FIELD_CHARS)}…`;
      } else bounded[key] = value;
    }
    return this.out.append([bounded]);
  }

  /** The counts in the Prometheus text format, for `GET /api/metrics`. */
  toPrometheus(): string {
    const { written, payloadsTruncated, rotations } = this.counts;
    return prometheusText([
      prometheusFamily('vigia_local_dead_letters_total', 'counter', 'Rejected payloads written to the local dead-letter file.', [
        ['', written],
      ]),
      prometheusFamily(
        'vigia_local_dead_letter_payloads_truncated_total',
        'counter',
        'Dead letters whose payload was cut to the per-entry cap.',
        [['', payloadsTruncated]],
      ),
      prometheusFamily('vigia_local_dead_letter_rotations_total', 'counter', 'Times the dead-letter file was rotated at its size cap.', [
        ['', rotations],
      ]),
    ]);
  }
}
