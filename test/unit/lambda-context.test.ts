/**
 * The local runtime's Lambda invocations: each call of a handler gets its own Lambda-shaped context, and the handlers'
 * logger (the real one, through the wiring's `withMetrics`) tags each line with that invocation's request id, function
 * and cold start, even while invocations interleave in the one process.
 */
import type { Context } from 'aws-lambda';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { asLambdaInvocation, lambdaContext, prepareLambdaHost } from '../../local/lambda-context.js';
import { FUNCTION_MEMORY_MB, FUNCTION_TIMEOUT_SECONDS } from '../../lambdas/shared/names.js';

const savedEnv = { ...process.env };
// As the local runtime does, before the handlers' logger is built: it reads the initialization type then.
prepareLambdaHost();
process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
const { logger, resetWiring, withMetrics } = await import('../../lambdas/handlers/wiring.js');
resetWiring({ metrics: () => ({ count: () => undefined, observe: () => undefined, flush: () => undefined }) });

afterEach(() => {
  vi.restoreAllMocks();
});

afterAll(() => {
  process.env = savedEnv;
  resetWiring();
});

/** The JSON log lines the logger writes while `run` runs. */
async function logLines(run: () => Promise<unknown>): Promise<Array<Record<string, unknown>>> {
  const written: string[] = [];
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
  }
  await run();
  vi.restoreAllMocks();
  return written
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('local Lambda invocations', () => {
  it('a context per invocation: its own request id, the function, its memory and a clock from the default timeout', () => {
    const a = lambdaContext('HistoryWriter');
    const b = lambdaContext('HistoryWriter');
    expect(a.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(b.awsRequestId).not.toBe(a.awsRequestId);
    expect(a).toMatchObject({
      functionName: 'HistoryWriter',
      invokedFunctionArn: expect.stringMatching(/^arn:aws:lambda:[^:]+:\d{12}:function:HistoryWriter$/),
      memoryLimitInMB: String(FUNCTION_MEMORY_MB),
    });
    expect(a.getRemainingTimeInMillis()).toBeGreaterThan(0);
    expect(a.getRemainingTimeInMillis()).toBeLessThanOrEqual(FUNCTION_TIMEOUT_SECONDS * 1000);
    expect(() => a.succeed('done')).toThrow(/return a promise/);
  });

  it('interleaved invocations each log with their own request id and function; only the first is a cold start', async () => {
    const contexts: Context[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    // A handler as ours are written: the context to withMetrics, then work that awaits, then a log line.
    const handler = async (event: { name: string; wait: boolean }, context: Context) =>
      withMetrics(context, async () => {
        contexts.push(context);
        if (event.wait) await released;
        logger.warn('handled', { event: event.name });
      });
    const writer = asLambdaInvocation('HistoryWriter', handler);
    const broadcaster = asLambdaInvocation('Broadcaster', handler);

    const lines = await logLines(async () => {
      // The first invocation starts, the second runs to its end meanwhile, then the first logs.
      const first = writer({ name: 'first', wait: true });
      await broadcaster({ name: 'second', wait: false });
      release();
      await first;
    });
    expect(lines.map((l) => l.event)).toEqual(['second', 'first']);
    const [second, first] = lines;
    expect(first).toMatchObject({ function_request_id: contexts[0].awsRequestId, function_name: 'HistoryWriter', cold_start: true });
    expect(second).toMatchObject({ function_request_id: contexts[1].awsRequestId, function_name: 'Broadcaster', cold_start: false });
    expect(contexts[0].awsRequestId).not.toBe(contexts[1].awsRequestId);
  });
});
