/**
 * CPU time the runtime process spends, by thread, read from /proc (Linux): a figure the machine's other load
 * does not distort, unlike wall-clock rates.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

export type ThreadCpu = Map<string, number>;

/** CPU ms per thread of `pid`, keyed by "<name>#<tid>" (the main thread's tid is the pid). */
export function threadCpu(pid: number): ThreadCpu {
  const out: ThreadCpu = new Map();
  if (!existsSync(`/proc/${pid}/task`)) return out; // not Linux: no figure
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // Fields after the parenthesised name: state is field 3; utime and stime are fields 14 and 15.
      const close = stat.lastIndexOf(')');
      const name = stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat.slice(close + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      out.set(`${name}#${tid}`, (ticks * 1000) / TICKS_PER_SECOND);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/**
 * CPU µs per reading between two samples: the total, the main thread, the busiest other thread (the DynamoDB
 * stand-in's worker when it runs), and every thread that used any, busiest first.
 */
export function cpuPerReading(before: ThreadCpu, after: ThreadCpu, readings: number, pid: number) {
  const threads: Array<{ thread: string; usPerReading: number }> = [];
  let total = 0;
  for (const [key, ms] of after) {
    const used = ms - (before.get(key) ?? 0);
    total += used;
    if (used <= 0) continue;
    const tid = Number(key.split('#').pop());
    const thread = tid === pid ? 'main' : key;
    threads.push({ thread, usPerReading: Math.round((used * 1000) / readings) });
  }
  threads.sort((a, b) => b.usPerReading - a.usPerReading);
  const main = threads.find((t) => t.thread === 'main')?.usPerReading ?? 0;
  return { totalUsPerReading: Math.round((total * 1000) / readings), mainUsPerReading: main, threads };
}
