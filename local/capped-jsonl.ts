/**
 * What the local runtime keeps of what it could not deliver (dead letters, invocations whose retries ran out): one
 * JSON line per entry in the data folder, bounded so that hostile input cannot fill the disk. Each entry's bulky
 * field is kept up to a cap (cut as text, then marked `{field}Truncated: true` with its whole length); any other
 * string is cut at 1,024 characters; the file rotates at its size cap (local/rotating-file.ts).
 */
import { prometheusFamily, prometheusText } from './prometheus.js';
import { RotatingJsonlFile } from './rotating-file.js';

const MAX_FIELD_CHARS = 1024;
const DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024;

/** The entry field that may be large: characters kept, and the field where a cut entry records its whole length. */
export interface BulkyField {
  name: string;
  maxChars: number;
  lengthField: string;
}

/**
 * What the file's counters are named after: `{metric}s_total` (entries written), `{metric}_{bulky}s_truncated_total`,
 * `{metric}_rotations_total`; `entries` says what an entry is in their help, in the plural.
 */
export interface CappedFileCounters {
  metric: string;
  entries: string;
}

export class CappedJsonlFile {
  /** Entries whose bulky field was cut. */
  truncated = 0;
  private readonly out: RotatingJsonlFile;

  constructor(
    readonly file: string,
    private readonly bulky: BulkyField,
    private readonly counters: CappedFileCounters,
    maxFileBytes = DEFAULT_MAX_FILE_BYTES,
  ) {
    this.out = new RotatingJsonlFile(file, maxFileBytes);
  }

  get written(): number {
    return this.out.written;
  }

  get rotations(): number {
    return this.out.rotations;
  }

  /** The rotated file (the previous generation). */
  get previousFile(): string {
    return this.out.previousFile;
  }

  /** Appends entries, one line each, after every entry appended before them. */
  protected appendCapped(entries: readonly object[]): Promise<void> {
    return this.out.append(entries.map((entry) => this.capped(entry)));
  }

  private capped(entry: object): Record<string, unknown> {
    const bounded: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(entry)) {
      if (key === this.bulky.name) {
        const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? 'null');
        if (text.length <= this.bulky.maxChars) {
          bounded[key] = value;
          continue;
        }
        // Cut as text: an operator still sees its start, and how large it was.
        bounded[key] = text.slice(0, this.bulky.maxChars);
        bounded[`${key}Truncated`] = true;
        bounded[this.bulky.lengthField] = text.length;
        this.truncated += 1;
      } else if (typeof value === 'string' && value.length > MAX_FIELD_CHARS) {
        bounded[key] = `${value.slice(0, MAX_FIELD_CHARS)}…`;
      } else bounded[key] = value;
    }
    return bounded;
  }

  /** The counts in the Prometheus text format, for `GET /api/metrics`. */
  toPrometheus(): string {
    const { metric, entries } = this.counters;
    const counter = (name: string, help: string, value: number) => prometheusFamily(name, 'counter', help, [['', value]]);
    return prometheusText([
      counter(`${metric}s_total`, `${entries} written to the local file.`, this.written),
      counter(`${metric}_${this.bulky.name}s_truncated_total`, `${entries} whose ${this.bulky.name} was cut to its cap.`, this.truncated),
      counter(`${metric}_rotations_total`, `Times the file of ${entries.toLowerCase()} was rotated at its size cap.`, this.rotations),
    ]);
  }
}
