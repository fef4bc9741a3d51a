/**
 * The real thing, as a developer or CI runs it: `npx cdk synth` with bin/app.ts (esbuild bundling,
 * cdk-nag plugin), offline, then cfn-lint on the template. cfn-lint is required, never skipped.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
let outdir: string;
let synth: ReturnType<typeof spawnSync>;
let template: any;

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'vigia-cdk-synth-'));
  synth = spawnSync('npx', ['cdk', 'synth', '--quiet', '--output', outdir], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, CDK_DISABLE_VERSION_CHECK: 'true' },
  });
  const templatePath = join(outdir, 'VigiaStack.template.json');
  if (existsSync(templatePath)) template = JSON.parse(readFileSync(templatePath, 'utf8'));
});

describe('npx cdk synth', () => {
  it('succeeds offline, nag included', () => {
    expect(synth.error, String(synth.error)).toBeUndefined();
    expect(synth.status, `cdk synth failed:\n${synth.stdout}\n${synth.stderr}`).toBe(0);
    expect(template, 'VigiaStack.template.json written').toBeDefined();
  });

  it('bundles every Node.js function with esbuild into an ESM file with its source map', () => {
    const assets = JSON.parse(readFileSync(join(outdir, 'VigiaStack.assets.json'), 'utf8')).files as Record<
      string,
      { source: { path: string } }
    >;
    const functions = Object.values(template.Resources as Record<string, any>).filter(
      (r) => r.Type === 'AWS::Lambda::Function' && String(r.Properties.Runtime).startsWith('nodejs22'),
    );
    expect(functions.length).toBeGreaterThan(0);
    for (const fn of functions) {
      const key = JSON.stringify(fn.Properties.Code.S3Key);
      const hash = Object.keys(assets).find((h) => key.includes(h));
      expect(hash, `asset of ${fn.Properties.Description}`).toBeDefined();
      const dir = join(outdir, assets[hash!]!.source.path);
      expect(existsSync(join(dir, 'index.mjs')), `${dir}/index.mjs`).toBe(true);
      expect(existsSync(join(dir, 'index.mjs.map')), `${dir}/index.mjs.map`).toBe(true);
    }
  });

  it('passes cfn-lint without errors (warnings allowed)', () => {
    const version = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
    if (version.error) {
      throw new Error(`cfn-lint is required on PATH for this test (${String(version.error)}). Install it with: pipx install cfn-lint`);
    }
    const lint = spawnSync('cfn-lint', ['--format', 'json', join(outdir, 'VigiaStack.template.json')], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(lint.error).toBeUndefined();
    let findings: { Level: string; Rule: { Id: string }; Message: string; Location: unknown }[];
    try {
      findings = JSON.parse(lint.stdout || '[]');
    } catch {
      throw new Error(`cfn-lint did not answer JSON (exit ${lint.status}):\n${lint.stdout}\n${lint.stderr}`);
    }
    const errors = findings.filter((f) => f.Level === 'Error').map((f) => `${f.Rule.Id} ${f.Message}`);
    expect(errors).toEqual([]);
    // Exit bit 2 means errors; 1 means cfn-lint itself failed.
    expect(lint.status === 1 || ((lint.status ?? 1) & 2) !== 0, `cfn-lint exit ${lint.status}: ${lint.stderr}`).toBe(false);
  });
});
