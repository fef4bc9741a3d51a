/**
 * The dashboard is built from frontend/ at asset bundling, so `cdk deploy` ships what the sources say: not the
 * placeholder page, not a stale frontend/dist. Only this small app bundles; the stack's tests skip bundling.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { afterAll, describe, expect, it } from 'vitest';
import { FRONTEND_DIR, dashboardAssetOptions, frontendSourceHash } from '../../lib/dashboard-build.js';

const temps: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/**
 * Synthesizes the dashboard asset as the site deployment makes it (dashboardSource is Source.asset with these
 * options), without the BucketDeployment's own heavy assets; `bundle` false is how the stack's infra tests run.
 */
function synthSite(bundle: boolean, frontendDir = FRONTEND_DIR) {
  const outdir = tempDir('vigia-site-');
  const app = new App({ outdir, context: bundle ? {} : { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Site');
  const asset = new Asset(stack, 'Dashboard', { path: frontendDir, ...dashboardAssetOptions(frontendDir) });
  app.synth();
  return { outdir, assetHash: asset.assetHash };
}

describe('dashboard build at synth', () => {
  it('bundling runs vite: the asset is the built dashboard (index.html and its hashed script), fresh from the sources', () => {
    const { outdir, assetHash } = synthSite(true);
    const assetDir = path.join(outdir, `asset.${assetHash}`);
    const html = readFileSync(path.join(assetDir, 'index.html'), 'utf8');
    const script = /<script type="module" crossorigin src="\/assets\/(index-[\w-]+\.js)"/.exec(html)?.[1];
    expect(script, html).toBeDefined();
    expect(existsSync(path.join(assetDir, 'assets', script!))).toBe(true);
    expect(html).not.toContain('placeholder');
    // Sources are not shipped: only the build output.
    expect(readdirSync(assetDir).sort()).toEqual(['assets', 'index.html']);
  });

  it("the asset's hash follows the sources and the lock file, not a build folder lying around", () => {
    const copy = path.join(tempDir('vigia-frontend-'), 'frontend');
    cpSync(FRONTEND_DIR, copy, { recursive: true, filter: (src) => !src.includes(`${path.sep}dist`) });
    const before = frontendSourceHash(copy);
    const first = synthSite(false, copy).assetHash;
    mkdirSync(path.join(copy, 'dist'), { recursive: true });
    writeFileSync(path.join(copy, 'dist', 'index.html'), '<p>a stale build</p>');
    expect(frontendSourceHash(copy)).toBe(before);
    expect(synthSite(false, copy).assetHash).toBe(first);
    writeFileSync(path.join(copy, 'src', 'main.tsx'), `${readFileSync(path.join(copy, 'src', 'main.tsx'), 'utf8')}\n// changed\n`);
    expect(frontendSourceHash(copy)).not.toBe(before);
    expect(synthSite(false, copy).assetHash).not.toBe(first);
  });
});
