/**
 * Each Lambda's module init on its built bundle: the handler bundled as CDK's NodejsFunction bundles it (esbuild,
 * ESM, minified, SDK included: lib/bundling.ts), then imported in a fresh Node process with the function's environment; the
 * figure is the import's wall time, the median of a few cold processes.
 */
import { execFileSync } from 'node:child_process';
import { isBuiltin } from 'node:module';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build, type Metafile } from 'esbuild';
import { lambdaEsbuildOptions } from '../lib/bundling.js';
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
  /** Wall time of the import, median of the runs. */
  initMs: number;
  /** CPU time of the import (process.cpuUsage), median of the runs: less bent by other processes' load. */
  initCpuMs: number;
}

/**
 * What a bundle must never hold: local mode's code (nothing in lambdas/ may reach local/), and a static import of a
 * module left out of it (Lambda would fail to load it at init).
 */
export function bundleFaults(metafile: Metafile): string[] {
  const faults: string[] = [];
  for (const input of Object.keys(metafile.inputs)) if (/^local\//.test(input)) faults.push(`bundles ${input}`);
  for (const output of Object.values(metafile.outputs)) {
    for (const imported of output.imports) {
      if (imported.external && imported.kind !== 'dynamic-import' && !isBuiltin(imported.path)) {
        faults.push(`imports ${imported.path} statically, but it is left out of the bundle`);
      }
    }
  }
  return faults;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export async function initBench(runs = 5): Promise<InitFigure[]> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'vigia-init-'));
  try {
    const handlers = (await readdir(path.join(ROOT, 'lambdas/handlers'))).filter(isHandlerFile);
    const figures: InitFigure[] = [];
    for (const file of handlers) {
      const name = file.replace(/\.ts$/, '');
      const outfile = path.join(out, `${name}.mjs`);
      const { metafile } = await build({
        ...lambdaEsbuildOptions(),
        entryPoints: [path.join(ROOT, 'lambdas/handlers', file)],
        outfile,
        metafile: true,
        logLevel: 'silent',
      });
      const faults = bundleFaults(metafile);
      if (faults.length > 0) throw new Error(`the ${name} bundle ${faults.join('; ')}`);
      const probe = path.join(out, `${name}.probe.mjs`);
      await writeFile(
        probe,
        `const c = process.cpuUsage(); const t = performance.now(); await import(${JSON.stringify(outfile)});\n` +
          'const u = process.cpuUsage(c); console.log(JSON.stringify({ wall: performance.now() - t, cpu: (u.user + u.system) / 1000 }));\n',
      );
      const wall: number[] = [];
      const cpu: number[] = [];
      for (let i = 0; i < runs; i++) {
        const text = execFileSync(process.execPath, [probe], { env: { ...process.env, ...ENVIRONMENT }, encoding: 'utf8' });
        const figure = JSON.parse(text.trim().split('\n').pop() ?? '{}') as { wall: number; cpu: number };
        wall.push(figure.wall);
        cpu.push(figure.cpu);
      }
      figures.push({
        handler: name,
        bundleKb: Math.round((await stat(outfile)).size / 1024),
        initMs: Math.round(median(wall)),
        initCpuMs: Math.round(median(cpu)),
      });
    }
    return figures;
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}
