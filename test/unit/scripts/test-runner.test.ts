import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** npm test's runner with a PATH that has node and npx but not cfn-lint (it lives under ~/.pyenv or ~/.local). */
const runWithoutCfnLint = (...args: string[]) =>
  spawnSync(process.execPath, ['scripts/test.mjs', ...args], {
    cwd: ROOT,
    env: { ...process.env, PATH: '/usr/bin:/bin' },
    encoding: 'utf8',
    timeout: 60_000,
  });

describe('npm test prerequisites', () => {
  it('stops at once naming `pip install cfn-lint` when the infra project would run without it', () => {
    // A file filter that matches nothing: were the check missing, vitest would start (and find no file).
    const result = runWithoutCfnLint('--project', 'infra', 'no-such-test-file');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('pip install cfn-lint');
    expect(result.stdout).not.toContain('RUN');
  });

  it('does not ask for cfn-lint when only other projects run', () => {
    const result = runWithoutCfnLint('--project', 'unit', 'no-such-test-file');
    expect(result.stderr).not.toContain('cfn-lint');
  });
});
