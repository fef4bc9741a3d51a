/**
 * `npm run sim -- [options]`: plays N sensors against AWS IoT Core or the local broker, with a live
 * status line, and prints a summary at the end. `--help` lists the options (see cli-args.ts).
 */
import { planFromArgs, statusLine, USAGE, type CliPlan } from './cli-args.js';
import { startSimulation, type Simulation } from './simulation.js';

async function main(argv: string[]): Promise<number> {
  let plan: CliPlan | 'help';
  try {
    plan = planFromArgs(argv);
  } catch (error) {
    process.stderr.write(`sim: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return 2;
  }
  if (plan === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const { quiet, json, durationMs, drainMs } = plan;
  const tty = process.stderr.isTTY === true && !quiet;
  let statusShown = false;
  const clearStatus = (): void => {
    if (statusShown) process.stderr.write('\r\x1b[2K');
    statusShown = false;
  };
  const log = (line: string): void => {
    if (quiet) return;
    clearStatus();
    process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  };
  process.on('unhandledRejection', (error) => log(`unexpected: ${error instanceof Error ? error.message : String(error)}`));

  const started = Date.now();
  let simulation: Simulation;
  try {
    simulation = await startSimulation({ ...plan.simulation, log });
  } catch (error) {
    clearStatus();
    process.stderr.write(`sim: error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  const target = `${plan.simulation.host}:${plan.simulation.port} (${plan.simulation.protocol}, ${plan.simulation.tls ? 'mutual TLS' : 'TCP'})`;
  log(`${simulation.sensorIds.length} sensor(s) connected to ${target}, seed ${simulation.seed}`);

  const status = setInterval(() => {
    if (quiet) return;
    const line = statusLine(simulation.stats(), Date.now() - started);
    if (tty) {
      process.stderr.write(`\r\x1b[2K${line}`);
      statusShown = true;
    } else if (Math.round((Date.now() - started) / 1000) % 10 === 0) {
      process.stderr.write(`${line}\n`);
    }
  }, 1000);

  let durationTimer: NodeJS.Timeout | undefined;
  let interrupted = false;
  await new Promise<void>((resolve) => {
    if (durationMs !== undefined) durationTimer = setTimeout(resolve, durationMs);
    if (plan.simulation.count !== undefined) void simulation.done().then(resolve);
    const onSignal = (): void => {
      interrupted = true;
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  clearTimeout(durationTimer);
  await simulation.stop({ drainMs: interrupted ? Math.min(drainMs, 2000) : drainMs });
  clearInterval(status);
  clearStatus();

  const stats = simulation.stats();
  const elapsedMs = Date.now() - started;
  const summary = {
    sensors: stats.sensors,
    generated: stats.generated,
    sent: stats.sent,
    acknowledged: stats.acknowledged,
    undelivered: stats.generated - stats.dropped - stats.acknowledged,
    dropped: stats.dropped,
    errors: stats.errors,
    seed: simulation.seed,
    elapsedMs,
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    process.stdout.write(
      `summary: ${summary.sensors} sensor(s), ${summary.generated} readings generated, ${summary.sent} sent, ` +
        `${summary.acknowledged} acknowledged, ${summary.undelivered} undelivered, ${summary.dropped} dropped, ` +
        `${summary.errors} errors, seed ${summary.seed}, ${(elapsedMs / 1000).toFixed(1)} s\n`,
    );
  }
  return 0;
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Native handles are freed by stop(); this only guards against a stray one keeping the process alive.
setTimeout(() => process.exit(code), 3000).unref();
