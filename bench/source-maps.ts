/**
 * `npx tsx bench/source-maps.ts [runs]`: module init of each Lambda bundle with and without
 * `--enable-source-maps`. The bundles are built as lib/function-defaults.ts has NodejsFunction build them
 * (esbuild, ESM, minified, node22, linked source map); each run is a fresh node process timing `import()`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { lambdaEsbuildOptions } from '../lib/bundling.js';
import { ROOT, isHandlerFile } from './support.js';

const runs = Number(process.argv[2] ?? 15);
const handlers = readdirSync(path.join(ROOT, 'lambdas/handlers'))
  .filter(isHandlerFile)
  .map((f) => f.slice(0, -3));
const out = mkdtempSync(path.join(os.tmpdir(), 'vigia-sourcemaps-'));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function initMs(file: string, sourceMaps: boolean): number {
  const probe = `const t = performance.now(); await import(${JSON.stringify(file)}); console.log(performance.now() - t);`;
  const args = [...(sourceMaps ? ['--enable-source-maps'] : []), '--input-type=module', '-e', probe];
  // The handlers read their settings lazily, so importing needs no environment.
  const run = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, AWS_REGION: 'eu-west-1' } });
  if (run.status !== 0) throw new Error(run.stderr);
  return Number(run.stdout.trim().split('\n').at(-1));
}

try {
  const rows: string[] = [];
  for (const handler of handlers) {
    const file = path.join(out, handler, 'index.mjs');
    await build({
      entryPoints: [path.join(ROOT, 'lambdas/handlers', `${handler}.ts`)],
      outfile: file,
      ...lambdaEsbuildOptions(),
      sourcemap: true,
      logLevel: 'warning',
    });
    const without: number[] = [];
    const withMaps: number[] = [];
    // Alternated, so load on the machine weighs on both alike.
    for (let i = 0; i < runs; i++) {
      without.push(initMs(file, false));
      withMaps.push(initMs(file, true));
    }
    const kib = (f: string) => Math.round(statSync(f).size / 1024);
    rows.push(
      `| ${handler} | ${kib(file)} | ${kib(`${file}.map`)} | ${median(without).toFixed(1)} | ${median(withMaps).toFixed(1)} | +${(median(withMaps) - median(without)).toFixed(1)} |`,
    );
  }
  console.log(
    `Module init (median of ${runs} fresh processes each, Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'})\n`,
  );
  console.log('| handler | bundle KiB | map KiB | init ms | init ms, --enable-source-maps | cost of the maps |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const row of rows) console.log(row);
} finally {
  rmSync(out, { recursive: true, force: true });
}
