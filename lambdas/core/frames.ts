/**
 * WebSocket frame routing (contract §6). Replies go back through the LiveSender, as API Gateway's
 * management API delivers them in the cloud.
 */
import {
  COMMANDS_PER_SECOND,
  type FrameErrorCode,
  MAX_IDS_PER_FRAME,
  MAX_INTERVAL_MS,
  MAX_SUBSCRIPTIONS,
  MIN_INTERVAL_MS,
  SENSOR_ID_PATTERN,
  type ServerFrame,
  WILDCARD,
} from '../shared/contract.js';
import { METRICS, TOPICS } from '../shared/names.js';
import type { CommandBudget, ConnectionStore, DevicePublisher, LiveSender, Metrics, SensorRegistry, SubscriptionStore } from './ports.js';

export { COMMANDS_PER_SECOND, MAX_IDS_PER_FRAME, MAX_SUBSCRIPTIONS, WILDCARD } from '../shared/contract.js';

export interface CommandSpec {
  validate(args: unknown): string | undefined;
}

/** Commands a device understands (contract §4): name → argument check (a message when invalid). */
export const COMMANDS: Record<string, CommandSpec> = {
  setInterval: {
    validate(args) {
      const a = args as { intervalMs?: unknown } | null;
      if (typeof a !== 'object' || a === null || Array.isArray(a)) return 'setInterval needs args {"intervalMs"}';
      const ms = a.intervalMs;
      if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < MIN_INTERVAL_MS || ms > MAX_INTERVAL_MS) {
        return `intervalMs must be an integer from ${MIN_INTERVAL_MS} to ${MAX_INTERVAL_MS}`;
      }
      return undefined;
    },
  },
};

export type ErrorCode = FrameErrorCode;

export interface Caller {
  connectionId: string;
  /** False only when sign-in is on and the caller lacks the operator role. */
  mayCommand: boolean;
}

export interface FrameDeps {
  connections: ConnectionStore;
  subscriptions: SubscriptionStore;
  commandBudget: CommandBudget;
  sensors: Pick<SensorRegistry, 'get'>;
  live: LiveSender;
  devices: DevicePublisher;
  metrics: Metrics;
  now: () => number;
  newId: () => string;
}

class FrameError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function badRequest(message: string): FrameError {
  return new FrameError('BAD_REQUEST', message);
}

function parseSensorIds(frame: Record<string, unknown>): string[] {
  const ids = frame.sensorIds;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_IDS_PER_FRAME) {
    throw badRequest(`sensorIds must be an array of 1 to ${MAX_IDS_PER_FRAME} sensor ids`);
  }
  for (const id of ids) {
    if (typeof id !== 'string' || (id !== WILDCARD && !SENSOR_ID_PATTERN.test(id))) {
      throw badRequest(`sensorIds: ${JSON.stringify(id)} is not a sensor id or "*"`);
    }
  }
  return [...new Set(ids as string[])];
}

/** Parses a client frame's text; throws a FrameError for anything that is not an object with an action. */
function parseFrame(body: string | undefined | null): Record<string, unknown> {
  let frame: unknown;
  try {
    frame = JSON.parse(body ?? '');
  } catch {
    throw badRequest('a frame must be a JSON object');
  }
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) throw badRequest('a frame must be a JSON object');
  const action = (frame as Record<string, unknown>).action;
  if (typeof action !== 'string') throw badRequest('a frame needs an "action" string');
  return frame as Record<string, unknown>;
}

async function subscribe(caller: Caller, frame: Record<string, unknown>, deps: FrameDeps, adding: boolean) {
  const ids = parseSensorIds(frame);
  const current = await deps.subscriptions.subscriptions(caller.connectionId);
  let next: string[];
  if (adding) {
    next = [...current, ...ids.filter((id) => !current.includes(id))];
    if (next.length > MAX_SUBSCRIPTIONS) {
      throw new FrameError('LIMIT_EXCEEDED', `at most ${MAX_SUBSCRIPTIONS} subscriptions per connection ("*" counts as one)`);
    }
  } else {
    next = current.filter((id) => !ids.includes(id));
  }
  if (next.length !== current.length) await deps.subscriptions.setSubscriptions(caller.connectionId, next, deps.now());
  return { type: 'subscribed', sensorIds: next } as const;
}

async function command(caller: Caller, frame: Record<string, unknown>, deps: FrameDeps) {
  const sensorId = frame.sensorId;
  if (typeof sensorId !== 'string' || !SENSOR_ID_PATTERN.test(sensorId)) {
    throw badRequest('command needs a valid "sensorId"');
  }
  const cmd = frame.command as { name?: unknown; args?: unknown } | null | undefined;
  if (typeof cmd !== 'object' || cmd === null || Array.isArray(cmd) || typeof cmd.name !== 'string') {
    throw badRequest('command needs {"name","args"}');
  }
  const spec = Object.hasOwn(COMMANDS, cmd.name) ? COMMANDS[cmd.name] : undefined;
  if (!spec) throw badRequest(`unknown command "${cmd.name}"`);
  const invalid = spec.validate(cmd.args);
  if (invalid) throw badRequest(invalid);
  if (!caller.mayCommand) throw new FrameError('FORBIDDEN', 'sending commands needs the operator role');
  if (!(await deps.commandBudget.takeCommandToken(caller.connectionId, deps.now(), COMMANDS_PER_SECOND))) {
    throw new FrameError('LIMIT_EXCEEDED', `at most ${COMMANDS_PER_SECOND} commands per second per connection`);
  }
  if (!(await deps.sensors.get(sensorId))) throw new FrameError('SENSOR_NOT_FOUND', `sensor ${sensorId} has never been seen`);
  const id = deps.newId();
  await deps.devices.publish(TOPICS.commands(sensorId), { id, name: cmd.name, args: cmd.args, issuedAt: deps.now() });
  return { type: 'commandSent', id, sensorId } as const;
}

/** Answers one client frame: the reply frame (an error frame for a bad one; nothing changes then). */
export async function answerFrame(caller: Caller, body: string | undefined | null, deps: FrameDeps): Promise<ServerFrame> {
  try {
    const frame = parseFrame(body);
    switch (frame.action) {
      case 'subscribe':
        return await subscribe(caller, frame, deps, true);
      case 'unsubscribe':
        return await subscribe(caller, frame, deps, false);
      case 'command':
        return await command(caller, frame, deps);
      case 'ping':
        return { type: 'pong' } as const;
      default:
        throw new FrameError('UNKNOWN_ACTION', `unknown action ${JSON.stringify(frame.action).slice(0, 80)}`);
    }
  } catch (err) {
    if (err instanceof FrameError) return { type: 'error', code: err.code, message: err.message } as const;
    throw err;
  }
}

/** Routes an API Gateway WebSocket event by route key; replies through the management API. */
export async function routeWebSocket(routeKey: string, caller: Caller, body: string | undefined | null, deps: FrameDeps): Promise<void> {
  if (routeKey === '$connect') return deps.connections.open(caller.connectionId, deps.now());
  if (routeKey === '$disconnect') return deps.connections.close(caller.connectionId);
  const reply = await answerFrame(caller, body, deps);
  if ((await deps.live.send(caller.connectionId, reply)) === 'gone') {
    await deps.connections.close(caller.connectionId);
    deps.metrics.count(METRICS.goneConnectionsRemoved, 1);
  } else {
    deps.metrics.count(METRICS.livePushes, 1);
  }
}
