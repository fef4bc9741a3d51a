/**
 * The local on-failure destination (the dead-letter queue in the cloud) for invocations whose retries are
 * exhausted: one JSON line each in the data folder, bounded like the dead letters so that a poisoned
 * stream cannot fill the disk. An entry's event is kept up to `maxEventChars` of its JSON and its error up to
 * 1,024 characters; the file rotates at `maxFileBytes` (local/rotating-file.ts).
 */
import { prometheusFamily, prometheusText } from './prometheus.js';
import { RotatingJsonlFile } from './rotating-file.js';

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

const MAX_ERROR_CHARS = 1024;

export class FailedInvocationFile {
  private readonly out: RotatingJsonlFile;
  private eventsTruncated = 0;
  private readonly maxEventChars: number;

  constructor(
    readonly file: string,
    limits: FailedInvocationLimits = {},
  ) {
    this.out = new RotatingJsonlFile(file, limits.maxFileBytes ?? 10 * 1024 * 1024);
    this.maxEventChars = limits.maxEventChars ?? 200_000;
  }

  get counts(): { written: number; eventsTruncated: number; rotations: number } {
    return { written: this.out.written, eventsTruncated: this.eventsTruncated, rotations: this.out.rotations };
  }

  /** The rotated file (the previous generation). */
  get previousFile(): string {
    return this.out.previousFile;
  }

  /** Appends entries, one line each, after every entry appended before them. */
  append(entries: FailedInvocation[]): Promise<void> {
    return this.out.append(entries.map((entry) => this.bounded(entry)));
  }

  private bounded(entry: FailedInvocation): Record<string, unknown> {
    const bounded: Record<string, unknown> = { ...entry };
    if (typeof entry.error === 'string' && entry.error.length > MAX_ERROR_CHARS)
      bounded.error = `${entry.error.slice(0, MAX_ERROR_CHARS)}…`;
    const event = JSON.stringify(entry.event) ?? 'null';
    if (event.length > this.maxEventChars) {
      // Cut as text: an operator still sees the record's start, its sensorId and how large it was.
      bounded.event = event.slice(0, this.maxEventChars);
      bounded.eventTruncated = true;
      bounded.eventChars = event.length;
      this.eventsTruncated += 1;
    }
    return bounded;
  }

  /** The counts in the Prometheus text format, for `GET /api/metrics`. */
  toPrometheus(): string {
    const { written, eventsTruncated, rotations } = this.counts;
    return prometheusText([
      prometheusFamily(
        'vigia_local_failed_invocations_total',
        'counter',
        'Invocations whose retries ran out, written to the local on-failure file.',
        [['', written]],
      ),
      prometheusFamily(
        'vigia_local_failed_invocation_events_truncated_total',
        'counter',
        'Failed invocations whose event was cut to the size bound.',
        [['', eventsTruncated]],
      ),
      prometheusFamily('vigia_local_failed_invocation_rotations_total', 'counter', 'Times the local on-failure file was rotated.', [
        ['', rotations],
      ]),
    ]);
  }
}
