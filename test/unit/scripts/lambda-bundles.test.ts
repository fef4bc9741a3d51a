/**
 * What each Lambda bundle holds, read from esbuild's metafile on the bundle built as CDK builds it
 * (lib/bundling.ts): no local-mode code, no static import of a module left out, and only the SDK clients the
 * handler uses (each one parsed at every cold start).
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { type Metafile, build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { bundleFaults } from '../../../bench/init.js';
import { ROOT, isHandlerFile } from '../../../bench/support.js';
import { lambdaEsbuildOptions } from '../../../lib/bundling.js';

async function metafileOf(handler: string): Promise<Metafile> {
  const result = await build({
    ...lambdaEsbuildOptions(),
    entryPoints: [path.join(ROOT, 'lambdas/handlers', `${handler}.ts`)],
    outfile: `/virtual/${handler}.mjs`,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  return result.metafile;
}

/** The npm packages a bundle takes code from. */
const packagesIn = (metafile: Metafile): Set<string> =>
  new Set(
    Object.entries(Object.values(metafile.outputs)[0].inputs)
      .filter(([, input]) => input.bytesInOutput > 0)
      .map(([file]) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1])
      .filter((name): name is string => name !== undefined),
  );

const handlers = readdirSync(path.join(ROOT, 'lambdas/handlers'))
  .filter(isHandlerFile)
  .map((f) => f.replace(/\.ts$/, ''));

describe('Lambda bundles', () => {
  it.each(handlers)('%s: no local/ code, no static import of a module left out, no schema library', async (handler) => {
    const metafile = await metafileOf(handler);
    expect(bundleFaults(metafile)).toEqual([]);
    // The contract's types reach the handlers; TypeBox's runtime (the OpenAPI document's) must not.
    expect(packagesIn(metafile)).not.toContain('typebox');
  });

  it('names a bundle that holds local/ code or imports a left-out module statically (negative control)', () => {
    const faulty = {
      inputs: { 'local/memory-metrics.ts': { bytes: 1, imports: [] } },
      outputs: {
        'x.mjs': {
          bytes: 1,
          inputs: {},
          exports: [],
          imports: [{ path: '@aws-sdk/credential-provider-ini', kind: 'import-statement', external: true }],
        },
      },
    } as unknown as Metafile;
    expect(bundleFaults(faulty)).toEqual([
      'bundles local/memory-metrics.ts',
      'imports @aws-sdk/credential-provider-ini statically, but it is left out of the bundle',
    ]);
  });

  it('the authorizer carries no AWS SDK; the HTTP API neither SNS, SQS, the IoT data plane nor the JWT verifier', async () => {
    const authorizer = packagesIn(await metafileOf('ws-authorizer'));
    expect([...authorizer].filter((name) => name.startsWith('@aws-sdk/') || name.startsWith('@smithy/'))).toEqual([]);
    expect(authorizer).toContain('aws-jwt-verify');
    const api = packagesIn(await metafileOf('http-api'));
    expect(api).toContain('@aws-sdk/client-dynamodb');
    for (const unused of [
      '@aws-sdk/client-sns',
      '@aws-sdk/client-sqs',
      '@aws-sdk/client-iot-data-plane',
      'aws-jwt-verify',
      '@aws-sdk/nested-clients',
    ]) {
      expect(api).not.toContain(unused);
    }
  });
});
