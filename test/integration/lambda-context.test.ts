/**
 * The local runtime hands each handler call a Lambda context, as the cloud does: the handlers' log lines carry the
 * function's name, a request id of their own invocation and the cold start flag. Checked on the WebSocket function,
 * whose every event the local gateway turns into one invocation.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { WsClient, closeSockets, eventually, makeDataDir, removeDataDir, startTestRuntime } from '../support/runtime.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('local handler logs', () => {
  let dataDir: string;
  let runtime: LocalRuntime;

  beforeAll(async () => {
    dataDir = await makeDataDir();
    runtime = await startTestRuntime(dataDir);
  });

  afterAll(async () => {
    await closeSockets();
    await runtime?.close();
    await removeDataDir(dataDir);
  });

  it('carry the function name, one request id per invocation and the cold start flag', async () => {
    // The handlers' own logger, as the runtime loaded it; its debug line closes every WebSocket event.
    const { logger } = await import('../../lambdas/handlers/wiring.js');
    const level = logger.getLevelName();
    logger.setLogLevel('DEBUG');
    const written: string[] = [];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const handledLines = () =>
      written
        .join('')
        .split('\n')
        .filter((line) => line.includes('"websocket event handled"'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    let handled: Array<Record<string, unknown>>;
    try {
      const ws = await WsClient.open(runtime.urls.ws);
      ws.send({ action: 'ping' });
      await ws.waitFor((f) => f.type === 'pong', 'pong');
      handled = await eventually('two handled events logged', async () => {
        const lines = handledLines();
        return lines.length >= 2 ? lines : undefined;
      });
    } finally {
      stdout.mockRestore();
      logger.setLogLevel(level);
    }
    expect(handled.map((l) => l.routeKey)).toEqual(['$connect', 'ping']);
    for (const line of handled) {
      expect(line).toMatchObject({
        function_name: 'WebSocket',
        function_arn: expect.stringMatching(/:function:WebSocket$/),
        function_request_id: expect.stringMatching(UUID),
        cold_start: expect.any(Boolean),
      });
    }
    expect(handled[0].function_request_id).not.toBe(handled[1].function_request_id);
  });
});
