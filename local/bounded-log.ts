/**
 * Log entries carry what clients sent (client ids, topics, Host headers): each field is cut to a bounded
 * size before it is written, so one refused CONNECT with a 64 KB client id writes a short line, not 131 KB.
 */
export const MAX_LOG_FIELD_CHARS = 256;

/** `entry` with every string over the cap cut (noting how long it was) and large non-strings summarized. */
export function boundLogEntry<T extends Record<string, unknown>>(entry: T, maxChars = MAX_LOG_FIELD_CHARS): T {
  let bounded: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(entry)) {
    let replacement: unknown = value;
    if (typeof value === 'string' && value.length > maxChars) {
      replacement = cut(value, maxChars);
    } else if (value !== null && typeof value === 'object' && !(value instanceof Error)) {
      const text = safeJson(value);
      if (text.length > maxChars * 4) replacement = cut(text, maxChars);
    }
    if (replacement !== value) {
      bounded ??= { ...entry };
      bounded[key] = replacement;
    }
  }
  return (bounded ?? entry) as T;
}

/** A log sink whose entries are bounded first. */
export function boundedLog<T extends Record<string, unknown>>(sink: (entry: T) => void): (entry: T) => void {
  return (entry) => sink(boundLogEntry(entry));
}

/** At most `maxChars` characters, saying how long the whole was (so bounding twice changes nothing). */
function cut(text: string, maxChars: number): string {
  const suffix = `…(${text.length} chars)`;
  return `${text.slice(0, Math.max(0, maxChars - suffix.length))}${suffix}`;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return String(value);
  }
}
