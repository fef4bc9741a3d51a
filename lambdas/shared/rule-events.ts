/**
 * A rule's events as a handler receives them: one IoT rule event (direct ingest: the rule invokes the
 * function), or an SQS batch whose message bodies are rule events (queued ingest: the rule sends to a
 * queue the function reads).
 */
interface SqsRecord {
  messageId: string;
  body: string;
  eventSource?: string;
}

export function isSqsBatch(event: unknown): event is { Records: SqsRecord[] } {
  const records = (event as { Records?: unknown } | null)?.Records;
  return Array.isArray(records) && records.every((r) => typeof (r as SqsRecord)?.body === 'string');
}

/** The rule events an invocation carries. A body that is not JSON is passed on as it is, to be rejected. */
export function ruleEvents(event: unknown): unknown[] {
  if (!isSqsBatch(event)) return [event];
  return event.Records.map((record) => {
    try {
      return JSON.parse(record.body) as unknown;
    } catch {
      return record.body;
    }
  });
}
