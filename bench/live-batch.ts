/**
 * The live path's cost per batch, without the rest of the pipeline: the broadcaster handler (the one Lambda runs)
 * against the local DynamoDB stand-in, fed small Kinesis batches one after another as a 5 ms live window makes
 * them at 1,000 readings/s over 100 sensors (~5 readings a batch), one dashboard on `*`. Reports the process's CPU
 * time per batch (every thread, from process.cpuUsage: what other processes' load hardly moves) and the DynamoDB
 * requests per batch (counted by a middleware on the handlers' client).
 *
 *   npx tsx bench/live-batch.ts [batches]        (default 3,000)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LOCAL_TABLES, startDynamo } from '../local/dynamo.js';
import { portClientConfig } from '../local/dynamo-port.js';
import { newStandInCredentials } from '../local/standin-credentials.js';
import { ENV } from '../lambdas/shared/names.js';
import type { LiveSender } from '../lambdas/core/ports.js';

const BATCHES = Number(process.argv[2] ?? 3000);
const SENSORS = 100;
const PER_BATCH = 5;

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'vigia-live-batch-'));
const credentials = newStandInCredentials();
const dynamo = await startDynamo(dataDir, credentials);
Object.assign(process.env, {
  [ENV.connectionsTable]: LOCAL_TABLES.connections.name,
  [ENV.wsManagementEndpoint]: 'http://127.0.0.1:1',
  AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
  AWS_REGION: 'local',
  AWS_ACCESS_KEY_ID: credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  AWS_SESSION_TOKEN: '',
  POWERTOOLS_LOG_LEVEL: 'ERROR',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
});

let pushed = 0;
const sender: LiveSender = {
  send: async (_connectionId, frame) => {
    if (frame.type === 'readings') pushed += frame.readings.length;
    return 'sent';
  },
};
const noMetrics = { count: () => undefined, observe: () => undefined, flush: () => undefined };
const { resetWiring } = await import('../lambdas/handlers/wiring.js');
// The runtime's own way to the stand-in: its ports, as local/runtime.ts binds them.
const dynamoClient = portClientConfig(dynamo.connect());
resetWiring({ liveSender: () => sender, metrics: () => noMetrics, dynamoClientConfig: () => dynamoClient });
const { documentClient, connectionRegistry } = await import('../lambdas/handlers/wiring/dynamo.js');
const requests = new Map<string, number>();
documentClient().middlewareStack.add(
  (next, context) => async (args) => {
    requests.set(context.commandName as string, (requests.get(context.commandName as string) ?? 0) + 1);
    return next(args);
  },
  { step: 'initialize', name: 'countRequests' },
);
const { handler } = await import('../lambdas/handlers/broadcaster.js');

// One dashboard on `*`, as the pipeline bench's.
await connectionRegistry().open('dash', Date.now());
await connectionRegistry().setSubscriptions('dash', ['*'], Date.now());

let seq = 10n ** 20n;
let reading = 0;
const start = Date.now() - 30_000;
const batch = () => ({
  Records: Array.from({ length: PER_BATCH }, () => {
    const i = reading++;
    const sensorId = `lb-${i % SENSORS}`;
    const event = {
      payload: Buffer.from(JSON.stringify({ ts: start + Math.floor(i / SENSORS), values: { v: i } })).toString('base64'),
      sensorId,
      receivedAt: Date.now(),
    };
    seq += 1n;
    return {
      kinesis: { partitionKey: sensorId, sequenceNumber: String(seq), data: Buffer.from(JSON.stringify(event)).toString('base64') },
      eventSource: 'aws:kinesis',
      eventID: `shardId-000000000000:${seq}`,
    };
  }),
});

// Warm-up: every sensor enters the shard's state (its first claim is in its minute's mark).
for (let b = 0; b < (2 * SENSORS) / PER_BATCH; b++) await handler(batch());
requests.clear();
pushed = 0;
const cpu = process.cpuUsage();
const wall = performance.now();
for (let b = 0; b < BATCHES; b++) await handler(batch());
const used = process.cpuUsage(cpu);
const ms = performance.now() - wall;
const perBatch = Object.fromEntries([...requests].map(([name, n]) => [name, Math.round((n / BATCHES) * 100) / 100]));
console.log(
  JSON.stringify({
    batches: BATCHES,
    readingsPerBatch: PER_BATCH,
    pushed,
    cpuUsPerBatch: Math.round((used.user + used.system) / BATCHES),
    wallMsPerBatch: Math.round((ms / BATCHES) * 100) / 100,
    requestsPerBatch: perBatch,
    loadAverage: os.loadavg()[0].toFixed(1),
  }),
);
await dynamo.close();
await rm(dataDir, { recursive: true, force: true });
