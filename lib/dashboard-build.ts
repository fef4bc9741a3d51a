/**
 * The dashboard as a deploy asset: built by Vite from frontend/ during asset bundling, so `cdk deploy` always
 * ships what the sources say (never the placeholder, never a stale frontend/dist). Synths that skip bundling
 * (the infra tests: `aws:cdk:bundling-stacks` = []) skip the build too.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssetHashType, DockerImage } from 'aws-cdk-lib';
import type { AssetOptions } from 'aws-cdk-lib/aws-s3-assets';
import { type ISource, Source } from 'aws-cdk-lib/aws-s3-deployment';

export const FRONTEND_DIR = fileURLToPath(new URL('../frontend', import.meta.url));
const LOCK_FILE = fileURLToPath(new URL('../package-lock.json', import.meta.url));
/** Build output and the local fallback page are not sources of the build. */
const NOT_SOURCES = new Set(['dist', 'placeholder', 'node_modules']);

function sourceFiles(dir: string, rel = ''): string[] {
  return readdirSync(path.join(dir, rel), { withFileTypes: true })
    .filter((e) => !(rel === '' && NOT_SOURCES.has(e.name)))
    .flatMap((e) => {
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      return e.isDirectory() ? sourceFiles(dir, child) : e.isFile() ? [child] : [];
    })
    .sort();
}

/**
 * SHA-256 of everything the build reads: the dashboard's sources and the lock file (Vite, Preact, uPlot
 * versions). It is the asset's hash, so any change is a new asset and a new build.
 */
export function frontendSourceHash(frontendDir = FRONTEND_DIR, lockFile = LOCK_FILE): string {
  const hash = createHash('sha256');
  for (const file of sourceFiles(frontendDir)) {
    hash
      .update(`${file}\0`)
      .update(readFileSync(path.join(frontendDir, file)))
      .update('\0');
  }
  hash.update('package-lock.json\0').update(readFileSync(lockFile));
  return hash.digest('hex');
}

/** Runs `vite build` of the dashboard into `outputDir`; throws naming the command to run when it fails. */
export function buildDashboard(outputDir: string, frontendDir = FRONTEND_DIR): void {
  const args = ['vite', 'build', frontendDir, '--outDir', outputDir, '--emptyOutDir', '--logLevel', 'warn'];
  const run = spawnSync('npx', args, { cwd: path.dirname(frontendDir), stdio: ['ignore', 'inherit', 'inherit'] });
  if (run.status !== 0 || !existsSync(path.join(outputDir, 'index.html'))) {
    throw new Error(
      `The dashboard build failed (exit ${run.status ?? run.signal}); run \`npm ci && npm run build:frontend\` to see why, then deploy again.`,
    );
  }
}

/** How the dashboard asset is made: hashed over its sources, built by vite at bundling time. */
export function dashboardAssetOptions(frontendDir = FRONTEND_DIR, exclude: string[] = []): AssetOptions {
  return {
    assetHashType: AssetHashType.CUSTOM,
    assetHash: frontendSourceHash(frontendDir),
    exclude: [...NOT_SOURCES, ...exclude],
    bundling: {
      // Only used when the local build declines, which it never does: it builds or fails the synth.
      image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22'),
      local: {
        tryBundle(outputDir: string) {
          buildDashboard(outputDir, frontendDir);
          return true;
        },
      },
    },
  };
}

/** The dashboard's files for a BucketDeployment, built at bundling time. */
export function dashboardSource(options: { exclude?: string[]; frontendDir?: string } = {}): ISource {
  const frontendDir = options.frontendDir ?? FRONTEND_DIR;
  return Source.asset(frontendDir, dashboardAssetOptions(frontendDir, options.exclude));
}
