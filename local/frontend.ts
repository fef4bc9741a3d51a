/** The dashboard build `npm start` serves: built on first start, and again when its sources changed. */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './runtime.js';

const FRONTEND = path.join(PROJECT_ROOT, 'frontend');
export const FRONTEND_DIST = path.join(FRONTEND, 'dist');

function newestMtime(target: string): number {
  const info = statSync(target, { throwIfNoEntry: false });
  if (!info) return 0;
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const entry of readdirSync(target)) newest = Math.max(newest, newestMtime(path.join(target, entry)));
  return newest;
}

/** True when frontend/dist is missing or older than the dashboard's sources. */
export function frontendIsStale(): boolean {
  const built = statSync(path.join(FRONTEND_DIST, 'index.html'), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const sources = Math.max(
    newestMtime(path.join(FRONTEND, 'src')),
    newestMtime(path.join(FRONTEND, 'index.html')),
    newestMtime(path.join(FRONTEND, 'vite.config.ts')),
    newestMtime(path.join(PROJECT_ROOT, 'package-lock.json')),
  );
  return built <= sources;
}

/** Builds the dashboard with Vite when it is stale; throws when the build fails. */
export function buildFrontendIfStale(log: (line: string) => void = () => undefined): void {
  if (!frontendIsStale()) return;
  log('Building the dashboard (frontend/dist)…');
  const run = spawnSync('npx', ['vite', 'build', 'frontend', '--logLevel', 'warn'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
  if (run.status !== 0) throw new Error('vite build frontend failed');
}
