// The scheduling priority of the runtime's background threads (the history writer, the first DynamoDB store): in the
// cloud each function has a CPU of its own, here they share a machine's few cores with the live path. A history
// batch (hundreds of DynamoDB writes at once) made the busiest seconds of the live path wait for a core: a higher
// nice value lets the broker, the broadcaster and the live store go first when cores are short, and the background
// threads still take every idle cycle. Linux only: there the nice value is a thread's own (setpriority on the calling
// thread); elsewhere it would lower the whole process, so nothing changes.
import { setPriority } from 'node:os';

/** The nice value of the runtime's background threads (0 is the default, 19 the lowest priority). */
export const BACKGROUND_NICE = 10;

/** Lowers the calling thread's priority to `nice` (Linux); a refusal leaves it as it was. */
export function lowerPriority(nice) {
  if (process.platform !== 'linux' || !(nice > 0)) return false;
  try {
    setPriority(nice);
    return true;
  } catch {
    return false;
  }
}
