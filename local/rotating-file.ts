/**
 * An append-only JSON-lines file in the data folder, bounded: rotated to `<name>.1` (replacing the previous
 * one) when a line would take it past `maxFileBytes`, so at most twice that is ever kept. Appends run one at a
 * time, so a rotation never splits or loses a line. The dead letters and the on-failure file are built on it.
 */
import { appendFile, rename, stat } from 'node:fs/promises';

export class RotatingJsonlFile {
  written = 0;
  rotations = 0;
  private size: number | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly maxFileBytes: number,
  ) {}

  /** The rotated file (the previous generation). */
  get previousFile(): string {
    return this.file.replace(/(\.jsonl)?$/, '.1$1');
  }

  /** Appends one line per record, in order, after every append asked before. */
  append(records: readonly unknown[]): Promise<void> {
    const run = this.chain.then(async () => {
      for (const record of records) await this.write(`${JSON.stringify(record)}\n`);
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async write(line: string): Promise<void> {
    const bytes = Buffer.byteLength(line);
    this.size ??= await stat(this.file).then(
      (s) => s.size,
      () => 0,
    );
    if (this.size > 0 && this.size + bytes > this.maxFileBytes) {
      await rename(this.file, this.previousFile);
      this.size = 0;
      this.rotations += 1;
    }
    await appendFile(this.file, line);
    this.size += bytes;
    this.written += 1;
  }
}
