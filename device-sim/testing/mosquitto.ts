/**
 * Runs Debian's mosquitto for tests: a temp config with one listener on 127.0.0.1, mutual TLS
 * (identity = certificate CN) or plain TCP. Test support only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const MOSQUITTO = '/usr/sbin/mosquitto';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface MosquittoOptions {
  port: number;
  /** Mutual TLS with these files; plain TCP when absent. */
  tls?: { caFile: string; certFile: string; keyFile: string };
  /** Keeps persistent sessions (and their queued messages) across a restart, in this folder. */
  persistenceDir?: string;
}

export interface Mosquitto {
  port: number;
  /** Stops the broker (SIGTERM, so a persistent session is saved) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same config. */
  start(): Promise<void>;
  log(): string;
}

export async function startMosquitto(options: MosquittoOptions): Promise<Mosquitto> {
  const dir = await mkdtemp(join(tmpdir(), 'vigia-mosquitto-'));
  const lines = [
    `listener ${options.port} 127.0.0.1`,
    'allow_anonymous true',
    // As root, mosquitto would switch to its own user, which cannot read the test's private temp files.
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    // Debian's mosquitto drops QoS 1 messages to slow subscribers under load unless the queue is unbounded.
    'max_queued_messages 0',
    'max_inflight_messages 0',
  ];
  if (options.tls) {
    lines.push(
      `cafile ${options.tls.caFile}`,
      `certfile ${options.tls.certFile}`,
      `keyfile ${options.tls.keyFile}`,
      'require_certificate true',
      'use_identity_as_username true',
    );
  }
  if (options.persistenceDir) {
    lines.push('persistence true', `persistence_location ${options.persistenceDir}/`, 'autosave_interval 0');
  } else {
    lines.push('persistence false');
  }
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(conf, `${lines.join('\n')}\n`);

  let child: ChildProcess | undefined;
  let output = '';

  const start = async (): Promise<void> => {
    const proc = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    let exited = false;
    proc.once('exit', () => (exited = true));
    for (;;) {
      if (exited) throw new Error(`mosquitto exited at start:\n${output}`);
      // The port opens before the TLS files load, so wait for the "running" line too.
      if (/ running/.test(output) && (await accepts(options.port))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
  };

  await start();
  return { port: options.port, start, stop, log: () => output };
}
