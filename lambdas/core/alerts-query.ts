/** GET /alerts/history's parameters: the readings query's range, limit and cursor rules (contract §5, §8). */
import { ApiError, parseLimit, parsePagedRange } from './query.js';

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
  const { from, to, cursor, cursorError } = parsePagedRange(params, now, decodeCursor);
  const limit = parseLimit(params.limit);
  if (cursorError) throw cursorError;
  if (cursor && (cursor.f !== from || cursor.t !== to)) throw invalidParameter('cursor belongs to another query (from or to)');
  const [f, t] = [from, to];
  return {
    from: f,
    to: t,
    limit,
    before: cursor?.b,
    cursorFor: (position) =>
      Buffer.from(JSON.stringify({ k: 'alert-events', f, t, b: position } satisfies EventsCursor)).toString('base64url'),
  };
}
