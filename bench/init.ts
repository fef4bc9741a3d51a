/**
 * Each Lambda's module init on its built bundle: the handler bundled as CDK's NodejsFunction bundles it (esbuild,
 * ESM, minified, SDK included), then imported in a fresh Node process with the function's environment; the
 * figure is the import's wall time, the median of a few cold processes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { ROOT, isHandlerFile } from './support.js';

const ENVIRONMENT = {
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  READINGS_TABLE: 'readings',
  ROLLUPS_TABLE: 'rollups',
  SENSORS_TABLE: 'sensors',
  CONNECTIONS_TABLE: 'connections',
  WS_MANAGEMENT_ENDPOINT: 'https://abc.execute-api.eu-west-1.amazonaws.com/live',
  IOT_DATA_ENDPOINT: 'https://example-ats.iot.eu-west-1.amazonaws.com',
  DEAD_LETTER_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/dlq',
  POWERTOOLS_SERVICE_NAME: 'vigia',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

export interface InitFigure {
  handler: string;
  bundleKb: number;
  initMs: number;
}

export async function initBench(runs = 5): Promise<InitFigure[]> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'vigia-init-'));
  try {
    const handlers = (await readdir(path.join(ROOT, 'lambdas/handlers'))).filter(isHandlerFile);
    const figures: InitFigure[] = [];
    for (const file of handlers) {
      const name = file.replace(/\.ts$/, '');
      const outfile = path.join(out, `${name}.mjs`);
      await build({
        entryPoints: [path.join(ROOT, 'lambdas/handlers', file)],
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        minify: true,
        mainFields: ['module', 'main'],
        outfile,
        logLevel: 'silent',
        banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
      });
      const probe = path.join(out, `${name}.probe.mjs`);
      await writeFile(
        probe,
        `const t = performance.now(); await import(${JSON.stringify(outfile)}); console.log(performance.now() - t);\n`,
      );
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const text = execFileSync(process.execPath, [probe], { env: { ...process.env, ...ENVIRONMENT }, encoding: 'utf8' });
        times.push(Number(text.trim().split('\n').pop()));
      }
      times.sort((a, b) => a - b);
      figures.push({ handler: name, bundleKb: Math.round((await stat(outfile)).size / 1024), initMs: Math.round(times[Math.floor(times.length / 2)]) });
    }
    return figures;
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}
