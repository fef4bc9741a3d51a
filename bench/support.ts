/** Shared pieces of the benchmarks: free ports, a local runtime in a child process, statistics. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** A Lambda's entry file in lambdas/handlers/ (wiring.ts is their shared composition root, no function). */
export const isHandlerFile = (file: string): boolean => file.endsWith('.ts') && file !== 'wiring.ts';

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface RuntimeProcess {
  port: number;
  mqttPort: number;
  dataDir: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * `npm start -- --no-sim` in a child process, so the load generator does not share its event loop. A port taken
 * between `freePort()` and the child's listen (another process on a shared machine) is tried again with others.
 */
export async function startRuntimeProcess(dataDir?: string, env: Record<string, string> = {}): Promise<RuntimeProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRuntimeProcessOnce(dataDir, env);
    } catch (err) {
      if (attempt >= 3 || !/already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function startRuntimeProcessOnce(dataDir: string | undefined, env: Record<string, string>): Promise<RuntimeProcess> {
  const dir = dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'vigia-bench-')));
  const [port, mqttPort, mqttsPort] = [await freePort(), await freePort(), await freePort()];
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', path.join(ROOT, 'local/main.ts'), '--no-sim'], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), MQTT_PORT: String(mqttPort), MQTTS_PORT: String(mqttsPort), DATA_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      if (!dataDir) await rm(dir, { recursive: true, force: true });
      throw new Error(`local runtime exited: ${output}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/api/health`);
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`local runtime did not start in 60 s: ${output}`);
    await sleep(200);
  }
  return {
    port,
    mqttPort,
    dataDir: dir,
    child,
    async stop() {
      child.kill('SIGINT');
      await new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
      if (!dataDir) await rm(dir, { recursive: true, force: true });
    },
  };
}
