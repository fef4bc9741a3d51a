/** Commands of contract §4, received on `sensors/{sensorId}/commands`. */
import { intervalProblem } from './publish-rate.js';

export type Command = { kind: 'setInterval'; id?: string; intervalMs: number } | { kind: 'ignored'; reason: string };

export function parseCommand(payload: Buffer | string, maxPublishesPerSecond?: number): Command {
  let body: unknown;
  try {
    body = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch {
    return { kind: 'ignored', reason: 'not JSON' };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { kind: 'ignored', reason: 'not a JSON object' };
  const { id, name, args } = body as { id?: unknown; name?: unknown; args?: unknown };
  const idPart = typeof id === 'string' ? id : undefined;
  if (name !== 'setInterval') return { kind: 'ignored', reason: `unknown command ${JSON.stringify(name)}` };
  const intervalMs = typeof args === 'object' && args !== null ? (args as { intervalMs?: unknown }).intervalMs : undefined;
  const problem = intervalProblem(intervalMs, maxPublishesPerSecond);
  if (problem) return { kind: 'ignored', reason: `setInterval with invalid args: ${problem}` };
  return { kind: 'setInterval', id: idPart, intervalMs: intervalMs as number };
}
