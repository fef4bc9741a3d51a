/**
 * The local dead-letter store (SQS in the cloud): one JSON line per rejected payload in the data folder,
 * bounded so that a device sending garbage cannot fill the disk. Each entry keeps its topic, code and
 * reason whole and at most `maxPayloadChars` of its payload; the file is rotated to `<name>.1` (replacing
 * the previous one) when it would pass `maxFileBytes`, so at most twice that is ever kept.
 */
import { rename, stat, appendFile } from 'node:fs/promises';

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
  readonly counts: DeadLetterCounts = { written: 0, payloadsTruncated: 0, rotations: 0 };
  private size: number | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly maxFileBytes: number;
  private readonly maxPayloadChars: number;

  constructor(
    readonly file: string,
    limits: DeadLetterLimits = {},
  ) {
    this.maxFileBytes = limits.maxFileBytes ?? 10 * 1024 * 1024;
    this.maxPayloadChars = limits.maxPayloadChars ?? 180_000;
  }

  /** The rotated file (the previous generation). */
  get previousFile(): string {
    return this.file.replace(/(\.jsonl)?$/, '.1$1');
  }

  /** Appends one entry; appends run one at a time, so rotation never splits or loses a line. */
  append(entry: Record<string, unknown>): Promise<void> {
    const run = this.chain.then(() => this.write(entry));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async write(entry: Record<string, unknown>): Promise<void> {
    const bounded: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(entry)) {
      if (key === 'payload' && typeof value === 'string' && value.length > this.maxPayloadChars) {
        bounded.payload = value.slice(0, this.maxPayloadChars);
        bounded.payloadTruncated = true;
        bounded.payloadBase64Chars = value.length;
        this.counts.payloadsTruncated += 1;
      } else if (typeof value === 'string' && value.length > MAX_FIELD_CHARS && key !== 'payload') {
        bounded[key] = `${value.slice(0, MAX_FIELD_CHARS)}…`;
      } else bounded[key] = value;
    }
    const line = `${JSON.stringify(bounded)}\n`;
    const bytes = Buffer.byteLength(line);
    this.size ??= await stat(this.file).then(
      (s) => s.size,
      () => 0,
    );
    if (this.size > 0 && this.size + bytes > this.maxFileBytes) {
      await rename(this.file, this.previousFile);
      this.size = 0;
      this.counts.rotations += 1;
    }
    await appendFile(this.file, line);
    this.size += bytes;
    this.counts.written += 1;
  }

  /** The counts in the Prometheus text format, for `GET /api/metrics`. */
  toPrometheus(): string {
    const counter = (name: string, help: string, value: number) => [`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`];
    return `${[
      ...counter('vigia_local_dead_letters_total', 'Rejected payloads written to the local dead-letter file.', this.counts.written),
      ...counter(
        'vigia_local_dead_letter_payloads_truncated_total',
        'Dead letters whose payload was cut to the per-entry cap.',
        this.counts.payloadsTruncated,
      ),
      ...counter(
        'vigia_local_dead_letter_rotations_total',
        'Times the dead-letter file was rotated at its size cap.',
        this.counts.rotations,
      ),
    ].join('\n')}\n`;
  }
}
