/**
 * The local on-failure destination (the dead-letter queue in the cloud) for invocations whose retries are
 * exhausted: one JSON line each in the data folder, bounded like the dead letters (local/dead-letters.ts) so
 * that a poisoned stream cannot fill the disk. An entry's event is kept up to `maxEventChars` of its JSON and
 * its error up to 1,024 characters; the file is rotated to `<name>.1` (replacing the previous one) when it would
 * pass `maxFileBytes`, so at most twice that is ever kept.
 */
import { appendFile, rename, stat } from 'node:fs/promises';

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
  readonly counts = { written: 0, eventsTruncated: 0, rotations: 0 };
  private size: number | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly maxFileBytes: number;
  private readonly maxEventChars: number;

  constructor(
    readonly file: string,
    limits: FailedInvocationLimits = {},
  ) {
    this.maxFileBytes = limits.maxFileBytes ?? 10 * 1024 * 1024;
    this.maxEventChars = limits.maxEventChars ?? 200_000;
  }

  /** The rotated file (the previous generation). */
  get previousFile(): string {
    return this.file.replace(/(\.jsonl)?$/, '.1$1');
  }

  /** Appends entries, one line each; appends run one at a time, so rotation never splits or loses a line. */
  append(entries: FailedInvocation[]): Promise<void> {
    const run = this.chain.then(async () => {
      for (const entry of entries) await this.write(entry);
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async write(entry: FailedInvocation): Promise<void> {
    const bounded: Record<string, unknown> = { ...entry };
    if (typeof entry.error === 'string' && entry.error.length > MAX_ERROR_CHARS)
      bounded.error = `${entry.error.slice(0, MAX_ERROR_CHARS)}…`;
    const event = JSON.stringify(entry.event) ?? 'null';
    if (event.length > this.maxEventChars) {
      // Cut as text: an operator still sees the record's start, its sensorId and how large it was.
      bounded.event = event.slice(0, this.maxEventChars);
      bounded.eventTruncated = true;
      bounded.eventChars = event.length;
      this.counts.eventsTruncated += 1;
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
      ...counter(
        'vigia_local_failed_invocations_total',
        'Invocations whose retries ran out, written to the local on-failure file.',
        this.counts.written,
      ),
      ...counter(
        'vigia_local_failed_invocation_events_truncated_total',
        'Failed invocations whose event was cut to the size bound.',
        this.counts.eventsTruncated,
      ),
      ...counter('vigia_local_failed_invocation_rotations_total', 'Times the local on-failure file was rotated.', this.counts.rotations),
    ].join('\n')}\n`;
  }
}
