/** GET /alerts/history's parameters: the readings query's range, limit and cursor rules (contract §5, §8). */
import { ApiError, DEFAULT_LIMIT, DEFAULT_RANGE_MS, MAX_LIMIT, MAX_RANGE_MS, parseInstant } from './query.js';

export { ApiError };

export interface EventsQuery {
  from: number;
  to: number;
  limit: number;
  before: string | undefined;
  cursorFor(position: string): string;
}

interface EventsCursor {
  k: 'alert-events';
  f: number;
  t: number;
  b: string;
}

const invalidParameter = (message: string) => new ApiError(400, 'INVALID_PARAMETER', message);
const invalidRange = (message: string) => new ApiError(400, 'INVALID_RANGE', message);

function decodeCursor(text: string): EventsCursor {
  try {
    if (!/^[A-Za-z0-9_-]{1,2048}$/.test(text)) throw new Error('not base64url');
    const c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Partial<EventsCursor>;
    if (c?.k === 'alert-events' && Number.isSafeInteger(c.f) && Number.isSafeInteger(c.t) && typeof c.b === 'string' && c.b.length <= 512) {
      return c as EventsCursor;
    }
  } catch {
    // falls through to the error below
  }
  throw invalidParameter('cursor is not one this API issued');
}

export function parseEventsQuery(params: Record<string, string | undefined>, now: number): EventsQuery {
  const bound = (name: 'from' | 'to'): number | undefined => {
    const text = params[name];
    if (text === undefined) return undefined;
    const value = parseInstant(text.trim());
    if (value === undefined) throw invalidRange(`${name} must be epoch milliseconds or an ISO-8601 date-time`);
    return value;
  };
  let from = bound('from');
  let to = bound('to');
  let cursor: EventsCursor | undefined;
  let cursorError: ApiError | undefined;
  if (params.cursor !== undefined) {
    try {
      cursor = decodeCursor(params.cursor);
    } catch (err) {
      cursorError = err as ApiError;
    }
  }
  to ??= cursor ? cursor.t : now;
  from ??= cursor ? cursor.f : to - DEFAULT_RANGE_MS;
  if (from >= to) throw invalidRange('from must be before to');
  if (to - from > MAX_RANGE_MS) throw invalidRange('the range may span at most 366 days');
  let limit = DEFAULT_LIMIT;
  if (params.limit !== undefined) {
    if (!/^\d{1,6}$/.test(params.limit) || Number(params.limit) < 1 || Number(params.limit) > MAX_LIMIT) {
      throw invalidParameter(`limit must be an integer from 1 to ${MAX_LIMIT}`);
    }
    limit = Number(params.limit);
  }
  if (cursorError) throw cursorError;
  if (cursor && (cursor.f !== from || cursor.t !== to)) throw invalidParameter('cursor belongs to another query (from or to)');
  const [f, t] = [from, to];
  return {
    from: f,
    to: t,
    limit,
    before: cursor?.b,
    cursorFor: (position) => Buffer.from(JSON.stringify({ k: 'alert-events', f, t, b: position } satisfies EventsCursor)).toString('base64url'),
  };
}
