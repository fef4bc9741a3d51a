#!/usr/bin/env node
// `npm test`: makes sure the system programs the tests drive are present (installing them with apt-get
// when running as root), then runs every vitest project. It never skips a test for a missing program:
// it either installs it or stops at once naming the install command.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const prerequisites = [{ program: '/usr/sbin/mosquitto', pkg: 'mosquitto', why: 'external-broker and device-simulator tests' }];
if (existsSync('test/e2e')) {
  prerequisites.push({ program: '/usr/bin/chromium', pkg: 'chromium', why: 'dashboard end-to-end tests' });
}

// cfn-lint checks the synthesized template in the infra project. Debian has no package for it (PyPI only), so it
// is never installed here: the run stops at once, naming the command, before any test starts.
const args = process.argv.slice(2);
const projects = args.flatMap((a, i) => (a === '--project' ? [args[i + 1]] : a.startsWith('--project=') ? [a.slice(10)] : []));
if ((projects.length === 0 || projects.includes('infra')) && !onPath('cfn-lint')) {
  console.error('npm test needs cfn-lint on the PATH (the infra tests lint the synthesized CloudFormation template).');
  console.error('Install with: pip install cfn-lint');
  process.exit(1);
}

/** Whether an executable of this name is in one of the PATH's folders. */
function onPath(name) {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir !== '' && existsSync(path.join(dir, name)));
}

const missing = prerequisites.filter((p) => !existsSync(p.program));
if (missing.length > 0) {
  const pkgs = missing.map((p) => p.pkg).join(' ');
  const command = `apt-get update && apt-get install -y --no-install-recommends ${pkgs}`;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = existsSync('/usr/bin/apt-get');
  if (!isRoot || !hasApt) {
    console.error(`npm test needs ${pkgs} (${missing.map((p) => p.why).join('; ')}).`);
    console.error(`Install with: sudo sh -c '${command}'`);
    process.exit(1);
  }
  console.log(`Installing test prerequisites: ${pkgs}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const result = spawnSync('sh', ['-c', command], { stdio: 'inherit', env });
  const still = missing.filter((p) => !existsSync(p.program));
  if (result.status !== 0 || still.length > 0) {
    console.error(`Could not install ${still.map((p) => p.pkg).join(' ') || pkgs}; run: ${command}`);
    process.exit(1);
  }
}

// The runner's own summary, and the same counts as one plain closing line ("N passed, N failed") that any
// CI log reader understands.
const reportDir = mkdtempSync(path.join(tmpdir(), 'vigia-test-'));
const report = path.join(reportDir, 'results.json');
const run = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...args], {
  stdio: 'inherit',
});
try {
  const results = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = (results.numPendingTests ?? 0) + (results.numTodoTests ?? 0);
  console.log(`\ntests: ${results.numPassedTests} passed, ${results.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`);
} catch {
  console.log('\ntests: the runner wrote no results (see its output above)');
} finally {
  rmSync(reportDir, { recursive: true, force: true });
}
process.exit(run.status ?? 1);
