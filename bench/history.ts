/**
 * Issue 5's benchmark: 30 days of one sensor at one reading every 10 s (259,200 readings, 3 metrics)
 * written through the history writer into the local DynamoDB stand-in, then `auto` queries with
 * limit=1000 over 30 days, 1 day and 1 hour. A counting proxy in front of the stand-in measures the
 * items each query reads and the write units the writes cost (every item here is under 1 KB, so one
 * written item is one write unit, as DynamoDB bills it).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ENV } from '../lambdas/shared/names.js';
import { LOCAL_TABLES, startDynamo } from '../local/dynamo.js';
import { MemoryMetrics, MetricsRegistry } from '../local/memory-metrics.js';
import { percentile } from './support.js';

interface Counters {
  requests: number;
  itemsWritten: number;
  itemsRead: number;
}

/** Forwards to DynamoDB, counting written items (Put, Update, BatchWrite) and read items (Query, Get, BatchGet). */
async function countingProxy(target: string, counters: Counters) {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const op = String(req.headers['x-amz-target'] ?? '').split('.')[1];
      const input = JSON.parse(body.toString() || '{}') as Record<string, any>;
      const forward = http.request(
        { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers, agent },
        (up) => {
          const out: Buffer[] = [];
          up.on('data', (c: Buffer) => out.push(c));
          up.on('end', () => {
            const text = Buffer.concat(out).toString();
            counters.requests += 1;
            if (up.statusCode === 200 || (op && /ConditionalCheckFailed/.test(text))) {
              const output = up.statusCode === 200 ? (JSON.parse(text) as Record<string, any>) : {};
              if (op === 'PutItem' || op === 'UpdateItem' || op === 'DeleteItem') counters.itemsWritten += 1;
              if (op === 'BatchWriteItem') {
                for (const [table, requests] of Object.entries(input.RequestItems ?? {})) {
                  const unprocessed = (output.UnprocessedItems?.[table] ?? []).length;
                  counters.itemsWritten += (requests as unknown[]).length - unprocessed;
                }
              }
              if (op === 'Query' || op === 'Scan') counters.itemsRead += output.ScannedCount ?? output.Count ?? 0;
              if (op === 'GetItem') counters.itemsRead += output.Item ? 1 : 0;
              if (op === 'BatchGetItem') {
                for (const items of Object.values(output.Responses ?? {})) counters.itemsRead += (items as unknown[]).length;
              }
            }
            res.writeHead(up.statusCode ?? 500, up.headers);
            res.end(text);
          });
        },
      );
      forward.on('error', (err) => {
        res.writeHead(502);
        res.end(err.message);
      });
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface HistoryBenchResult {
  readings: number;
  loadSeconds: number;
  /** Loading in batches of 500 (a device flushing its buffer). */
  writeUnitsPerReading: number;
  /** One reading per message, in order (a device online). */
  writeUnitsPerSingleReading: number;
  requestsPerReading: number;
  queries: Array<{ range: string; resolution: string; points: number; itemsRead: number; p50Ms: number; p95Ms: number }>;
}

export async function historyBench(options: { days?: number; intervalS?: number; runs?: number } = {}): Promise<HistoryBenchResult> {
  const days = options.days ?? 30;
  const intervalMs = (options.intervalS ?? 10) * 1000;
  const runs = options.runs ?? 20;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'vigia-bench-history-'));
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const dynamo = await startDynamo(dataDir);
  const counters: Counters = { requests: 0, itemsWritten: 0, itemsRead: 0 };
  const proxy = await countingProxy(dynamo.endpoint, counters);
  Object.assign(process.env, {
    [ENV.readingsTable]: LOCAL_TABLES.readings.name,
    [ENV.rollupsTable]: LOCAL_TABLES.rollups.name,
    [ENV.sensorsTable]: LOCAL_TABLES.sensors.name,
    [ENV.deadLetterQueueUrl]: 'http://127.0.0.1:9/none',
    AWS_ENDPOINT_URL_DYNAMODB: proxy.endpoint,
    AWS_REGION: 'local',
    AWS_ACCESS_KEY_ID: dynamo.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: dynamo.credentials.secretAccessKey,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  });
  // Metrics stay in memory, as in local mode, rather than printed as EMF lines.
  const { resetWiring } = await import('../lambdas/handlers/wiring.js');
  resetWiring({ metrics: () => new MemoryMetrics(new MetricsRegistry()) });
  const { handler: historyWriter } = await import('../lambdas/handlers/history-writer.js');
  const { handler: httpApi } = await import('../lambdas/handlers/http-api.js');
  try {
    const sensorId = 'bench-history';
    const now = Date.now();
    const first = now - days * 86_400_000 + 60_000; // inside the accepted window at receive time
    const total = Math.floor((now - first) / intervalMs);
    const started = performance.now();
    let batch: unknown[] = [];
    // Stream ingest, as the default deployment runs: each message one Kinesis record.
    let seq = 10n ** 20n;
    const kinesis = (payloads: string[], receivedAt: number) => ({
      Records: payloads.map((payload) => {
        seq += 1n;
        const data = Buffer.from(JSON.stringify({ payload, sensorId, receivedAt })).toString('base64');
        return { kinesis: { data, partitionKey: sensorId, sequenceNumber: String(seq) }, eventSource: 'aws:kinesis' };
      }),
    });
    const flush = async () => {
      if (batch.length === 0) return;
      const payload = Buffer.from(JSON.stringify(batch)).toString('base64');
      const answer = (await historyWriter(kinesis([payload], Date.now()))) as { batchItemFailures: unknown[] };
      if (answer.batchItemFailures.length > 0) throw new Error(`batch not stored: ${JSON.stringify(answer)}`);
      batch = [];
    };
    for (let i = 0; i < total; i++) {
      const ts = first + i * intervalMs;
      const hourOfDay = (ts / 3_600_000) % 24;
      batch.push({
        ts,
        values: {
          temperature: Math.round((20 + 5 * Math.sin((hourOfDay / 24) * 2 * Math.PI) + Math.random()) * 100) / 100,
          humidity: Math.round((50 - 10 * Math.sin((hourOfDay / 24) * 2 * Math.PI) + Math.random() * 2) * 10) / 10,
          pressure: Math.round((1013 + Math.random() * 5) * 100) / 100,
        },
      });
      if (batch.length === 500) await flush();
    }
    await flush();
    const loadSeconds = (performance.now() - started) / 1000;
    const writeUnitsPerReading = counters.itemsWritten / total;
    const requestsPerReading = counters.requests / total;

    // A device online sends one reading per message; the history window gathers 10 of its messages a batch.
    const single = 360;
    const writtenBefore = counters.itemsWritten;
    for (let i = 0; i < single; i += 10) {
      const payloads = Array.from({ length: 10 }, (_, k) =>
        Buffer.from(JSON.stringify({ ts: now + 1 + (i + k) * 10, values: { temperature: 21, humidity: 50, pressure: 1013 } })).toString(
          'base64',
        ),
      );
      await historyWriter(kinesis(payloads, Date.now() + 5_000));
    }
    const writeUnitsPerSingleReading = (counters.itemsWritten - writtenBefore) / single;

    const queries: HistoryBenchResult['queries'] = [];
    for (const [range, spanMs] of [
      ['30 days', days * 86_400_000],
      ['1 day', 86_400_000],
      ['1 hour', 3_600_000],
    ] as const) {
      const to = now;
      const from = to - spanMs;
      const latencies: number[] = [];
      let itemsRead = 0;
      let points = 0;
      let resolution = '';
      for (let r = 0; r < runs; r++) {
        const readBefore = counters.itemsRead;
        const t = performance.now();
        const res = (await httpApi({
          version: '2.0',
          routeKey: '$default',
          rawPath: `/sensors/${sensorId}/readings`,
          rawQueryString: `from=${from}&to=${to}&limit=1000`,
          headers: {},
          queryStringParameters: { from: String(from), to: String(to), limit: '1000' },
          requestContext: { http: { method: 'GET', path: `/sensors/${sensorId}/readings` } },
          isBase64Encoded: false,
        } as never)) as { statusCode: number; body: string };
        latencies.push(performance.now() - t);
        if (res.statusCode !== 200) throw new Error(`query failed: ${res.body}`);
        const page = JSON.parse(res.body) as { resolution: string; points: unknown[] };
        itemsRead = counters.itemsRead - readBefore;
        points = page.points.length;
        resolution = page.resolution;
      }
      latencies.sort((a, b) => a - b);
      queries.push({
        range,
        resolution,
        points,
        itemsRead,
        p50Ms: Math.round(percentile(latencies, 50) * 10) / 10,
        p95Ms: Math.round(percentile(latencies, 95) * 10) / 10,
      });
    }
    return {
      readings: total,
      loadSeconds: Math.round(loadSeconds),
      writeUnitsPerReading: Math.round(writeUnitsPerReading * 1000) / 1000,
      writeUnitsPerSingleReading: Math.round(writeUnitsPerSingleReading * 1000) / 1000,
      requestsPerReading: Math.round(requestsPerReading * 1000) / 1000,
      queries,
    };
  } finally {
    await proxy.close();
    await dynamo.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}
