import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'vigia-decode-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('decoding a deployed stack trace offline with the shipped source map', () => {
  it('maps a minified index.mjs position back to the TypeScript line that threw', async () => {
    const source = path.join(dir, 'thrower.ts');
    writeFileSync(
      source,
      [
        'export function ok(): number {',
        '  return 1;',
        '}',
        'export function fails(): never {',
        "  throw new Error('boom');",
        '}',
        '',
      ].join('\n'),
    );
    const bundle = path.join(dir, 'out', 'index.mjs');
    await build({ entryPoints: [source], outfile: bundle, bundle: true, format: 'esm', platform: 'node', minify: true, sourcemap: true });
    // The minified file's own stack trace (no --enable-source-maps), as CloudWatch Logs would show it.
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', `import(${JSON.stringify(bundle)}).then((m) => m.fails())`], {
      encoding: 'utf8',
    });
    expect(run.stderr).toMatch(/index\.mjs:1:\d+/);
    const decoded = spawnSync(process.execPath, ['scripts/decode-stack.mjs', `${bundle}.map`], {
      cwd: ROOT,
      input: run.stderr,
      encoding: 'utf8',
    });
    expect(decoded.status).toBe(0);
    expect(decoded.stdout).toMatch(/thrower\.ts:5:\d+/);
  });
});
