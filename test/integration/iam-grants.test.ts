/**
 * Each function's role in the cloud allows every AWS call its code really makes. The local runtime runs the very
 * handlers and records each distinct call (function, IAM action, resource) as it is made (local/aws-calls.ts); this
 * file drives every flow through it, in both ingest modes, and checks each call against the synthesized role
 * policy of the function it was made in (test/support/iam.ts). A grant that lags behind the code fails here.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { MqttClient } from 'mqtt';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DynamoConnectionRegistry } from '../../lambdas/adapters/dynamo-connections.js';
import { FUNCTIONS, type FunctionName } from '../../lambdas/shared/names.js';
import { type AwsCall, readAwsCalls } from '../../local/aws-calls.js';
import { LOCAL_TABLES } from '../../local/dynamo.js';
import { PROJECT_ROOT, type LocalRuntime, type RuntimeOptions } from '../../local/runtime.js';
import { type SynthesizedVigia, synthVigia } from '../infra/synth.js';
import { RenderedTemplate, allows, cloudResourceOf, impliedCalls } from '../support/iam.js';
import { checkedFetch } from '../support/openapi.js';
import {
  WsClient,
  closeDevices,
  closeSockets,
  connectDevice,
  eventually,
  getJson,
  getText,
  makeDataDir,
  readDeadLetters,
  removeDataDir,
  startTestRuntime,
  telemetryTopic,
} from '../support/runtime.js';

const SENSOR = 'iam-1';

async function send(method: string, url: string, body?: unknown) {
  const res = await checkedFetch(url, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const reading = (ts: number, temperature: number) => JSON.stringify({ ts, values: { temperature }, units: { temperature: '°C' } });

/** Publishes and waits until the registry shows the reading, so each step's calls are made before the next. */
async function publishStored(runtime: LocalRuntime, device: MqttClient, ts: number, temperature: number): Promise<void> {
  await device.publishAsync(telemetryTopic(SENSOR), reading(ts, temperature), { qos: 1 });
  await eventually(`${SENSOR} at ${ts} stored`, async () => {
    const { status, body } = await getJson(`${runtime.urls.api}/sensors/${SENSOR}`);
    return status === 200 && body.latest?.ts >= ts ? true : undefined;
  });
}

/**
 * A connection the table still lists, with subscriptions, whose socket is gone (as after API Gateway dropped it): the
 * next push to it finds it gone and the pushing function closes it. Alert frames go to every connection: a gone one
 * subscribed only to a sensor that never speaks is closed by the function pushing an alert, and by no other.
 */
async function goneConnection(id: string, sensorIds: string[] = ['*']): Promise<void> {
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB }));
  const registry = new DynamoConnectionRegistry(doc, LOCAL_TABLES.connections.name);
  await registry.open(id, Date.now());
  await registry.setSubscriptions(id, sensorIds, Date.now());
  doc.destroy();
}
const ALERTS_ONLY = ['never-speaks'];

/** Until the gone connection is closed: the function that pushed to it made every call of closing it. */
async function goneClosed(id: string, what: string): Promise<void> {
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB }));
  const registry = new DynamoConnectionRegistry(doc, LOCAL_TABLES.connections.name);
  try {
    await eventually(`${what} closing the gone connection ${id}`, async () =>
      (await registry.allSubscriptions()).some((c) => c.connectionId === id) ? undefined : true,
    );
  } finally {
    doc.destroy();
  }
}

/** Moves the sensor's last reading back, so a silence rule finds it silent without waiting minutes. */
async function silenceFor(ms: number): Promise<void> {
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB }));
  await doc.send(
    new UpdateCommand({
      TableName: LOCAL_TABLES.sensors.name,
      Key: { sensorId: SENSOR },
      UpdateExpression: 'SET lastReadingAt = :t',
      ExpressionAttributeValues: { ':t': Date.now() - ms },
    }),
  );
  doc.destroy();
}

/** The calls of one runtime, with the environment its handlers read (each runtime has its own ports). */
interface Recorded {
  calls: AwsCall[];
  env: NodeJS.ProcessEnv;
}

/** Runs the runtime with its calls recorded; returns them once it has closed. */
async function recorded(options: RuntimeOptions, flows: (runtime: LocalRuntime) => Promise<void>): Promise<Recorded> {
  const dataDir = await makeDataDir('vigia-iam-');
  const file = path.join(dataDir, 'aws-calls.jsonl');
  try {
    const runtime = await startTestRuntime(dataDir, { ...options, awsCallsFile: file });
    const env = { ...process.env };
    try {
      await flows(runtime);
    } finally {
      await closeSockets();
      await closeDevices();
      await runtime.close();
    }
    return { calls: readAwsCalls(file), env };
  } finally {
    await removeDataDir(dataDir);
  }
}

/** The flows every ingest mode shares: presence, telemetry and its rejects, live, a threshold alert. */
async function ingestFlows(runtime: LocalRuntime, dashboard: WsClient): Promise<MqttClient> {
  await goneConnection('gone-presence');
  const device = await connectDevice(runtime.urls.mqtt!, SENSOR);
  await dashboard.waitFor((f) => f.type === 'status' && f.sensorId === SENSOR && f.online === true, 'the connect status');
  await goneClosed('gone-presence', 'presence');

  const now = Date.now();
  await goneConnection('gone-live');
  await publishStored(runtime, device, now - 5000, 20);
  await dashboard.waitForReading(SENSOR, now - 5000);
  await goneClosed('gone-live', 'the broadcaster');
  // A QoS 1 redelivery (same key), a batch, a flat reading, and a rejected payload (dead-lettered).
  await device.publishAsync(telemetryTopic(SENSOR), reading(now - 5000, 20), { qos: 1 });
  await device.publishAsync(
    telemetryTopic(SENSOR),
    JSON.stringify([
      { ts: now - 4000, values: { temperature: 21 } },
      { ts: now - 3500, values: { temperature: 21.5 } },
    ]),
    { qos: 1 },
  );
  await device.publishAsync(telemetryTopic(SENSOR), JSON.stringify({ ts: now - 3200, temperature: 21.8 }), { qos: 1 });
  await device.publishAsync(telemetryTopic(SENSOR), '{not json', { qos: 1 });
  await eventually('the rejected payload dead-lettered', async () =>
    (await readDeadLetters(runtime)).some((d) => d.code === 'INVALID_JSON') ? true : undefined,
  );
  await publishStored(runtime, device, now - 3000, 22);

  const rule = await send('POST', `${runtime.urls.api}/alert-rules`, {
    name: 'Hot',
    sensorIds: [SENSOR],
    metric: 'temperature',
    condition: { op: '>', value: 30 },
    severity: 'critical',
  });
  expect(rule.status).toBe(201);
  await goneConnection('gone-alert', ALERTS_ONLY);
  await publishStored(runtime, device, now - 2000, 35);
  await dashboard.waitFor(
    (f) => f.type === 'alert' && (f.alert as { ruleId: string; state: string }).ruleId === rule.body.id,
    'the fired alert frame',
  );
  await goneClosed('gone-alert', 'the history writer');
  return device;
}

describe.sequential('IAM grants cover every AWS call each function makes', () => {
  let vigia: SynthesizedVigia;
  let template: RenderedTemplate;
  const runs: Recorded[] = [];
  const calls = () => runs.flatMap((run) => run.calls);

  beforeAll(() => {
    vigia = synthVigia();
    template = new RenderedTemplate(vigia.template.toJSON().Resources);
  });

  afterEach(async () => {
    await closeSockets();
    await closeDevices();
  });

  it('stream ingest, history writer on its thread: every flow', async () => {
    const got = await recorded({ ingest: 'stream', liveWindowMs: 20, historyWindowMs: 50, alertSilenceCheckMs: 300 }, async (runtime) => {
      const api = runtime.urls.api;
      const dashboard = await WsClient.open(runtime.urls.ws);
      await dashboard.request({ action: 'ping' }, ['pong']);
      await dashboard.subscribe(['*']);
      const device = await ingestFlows(runtime, dashboard);

      // The HTTP API, every route.
      const alerts = await getJson(`${api}/alerts`);
      const firing = alerts.body.alerts.find((a: { sensorId: string; state: string }) => a.sensorId === SENSOR && a.state === 'firing');
      expect(firing).toBeDefined();
      await goneConnection('gone-ack', ALERTS_ONLY);
      expect((await send('POST', `${api}/alerts/${firing.id}/ack`)).status).toBe(200);
      await goneClosed('gone-ack', 'the HTTP API');
      const rules = await getJson(`${api}/alert-rules`);
      const rule = rules.body.rules[0];
      expect((await getJson(`${api}/alert-rules/${rule.id}`)).status).toBe(200);
      const { id: _id, ...body } = rule;
      expect((await send('PUT', `${api}/alert-rules/${rule.id}`, { ...body, name: 'Hotter' })).status).toBe(200);
      const to = Date.now() + 60_000;
      const from = to - 3_600_000;
      for (const url of [
        `${api}/health`,
        `${api}/sensors`,
        `${api}/sensors/${SENSOR}`,
        `${api}/sensors/never-seen`,
        `${api}/sensors/${SENSOR}/readings?from=${from}&to=${to}&resolution=raw`,
        `${api}/sensors/${SENSOR}/readings?from=${from}&to=${to}&resolution=1m`,
        `${api}/sensors/${SENSOR}/readings?from=${from}&to=${to}&resolution=1h`,
        `${api}/sensors/${SENSOR}/readings?from=${from}&to=${to}&limit=1`,
        `${api}/readings?sensorIds=${SENSOR}&from=${from}&to=${to}`,
        `${api}/alerts/history`,
      ]) {
        expect((await getJson(url)).status, url).toBeLessThan(500);
      }
      expect((await getText(`${api}/sensors/${SENSOR}/readings?from=${from}&to=${to}&format=csv`)).status).toBe(200);

      // Commands, and the subscription set changing.
      const sent = await dashboard.request({
        action: 'command',
        sensorId: SENSOR,
        command: { name: 'setInterval', args: { intervalMs: 1000 } },
      });
      expect(sent.type).toBe('commandSent');
      await dashboard.request({ action: 'unsubscribe', sensorIds: ['*'] });
      await dashboard.subscribe([SENSOR]);

      // The threshold alert resolves; a silence rule fires at the scheduled check, and resolves at the next reading.
      await publishStored(runtime, device, Date.now() - 1000, 20);
      const quiet = await send('POST', `${api}/alert-rules`, { name: 'Quiet', sensorIds: [SENSOR], silentMinutes: 1 });
      expect(quiet.status).toBe(201);
      await silenceFor(120_000);
      await goneConnection('gone-silence', ALERTS_ONLY);
      await dashboard.waitFor(
        (f) => f.type === 'alert' && (f.alert as { ruleId: string }).ruleId === quiet.body.id,
        'the silence alert frame',
      );
      await goneClosed('gone-silence', 'the silence check');
      await publishStored(runtime, device, Date.now(), 21);
      for (const r of [rule, quiet.body]) expect((await send('DELETE', `${api}/alert-rules/${r.id}`)).status).toBe(204);

      // Presence: the disconnect; the dashboard's close.
      await device.endAsync();
      await dashboard.waitFor((f) => f.type === 'status' && f.sensorId === SENSOR && f.online === false, 'the disconnect status');
      await dashboard.close();
      await sleep(200);
    });
    runs.push(got);
    expect(got.calls.length).toBeGreaterThan(0);
  });

  it('direct ingest, history writer on the main thread: presence, telemetry, rejects, live, alerts', async () => {
    const got = await recorded({ ingest: 'direct', historyWriterThread: false }, async (runtime) => {
      const dashboard = await WsClient.open(runtime.urls.ws);
      await dashboard.subscribe(['*']);
      const device = await ingestFlows(runtime, dashboard);
      await device.endAsync();
      await dashboard.waitFor((f) => f.type === 'status' && f.sensorId === SENSOR && f.online === false, 'the disconnect status');
    });
    runs.push(got);
    expect(got.calls.length).toBeGreaterThan(0);
  });

  it("every recorded call is allowed by its function's role in the template", () => {
    const functions = vigia.stack.functions as Record<string, SynthesizedVigia['stack']['functions'][FunctionName]>;
    // Both runs recorded (a run that failed records nothing to check).
    expect(runs.map((run) => run.calls.length > 0)).toEqual([true, true]);
    const refused = new Set<string>();
    for (const { call, env } of runs.flatMap((run) => run.calls.map((call) => ({ call, env: run.env })))) {
      const fn = call.function === null ? undefined : functions[call.function];
      if (!fn) {
        refused.add(`${call.action} on ${JSON.stringify(call.resource)} made outside any function of the stack (${call.function})`);
        continue;
      }
      const functionId = vigia.logicalId(fn);
      const target = cloudResourceOf(call, env, template.environmentOf(functionId));
      if ('missing' in target) {
        refused.add(`${call.function}: ${call.action} on ${JSON.stringify(call.resource)}: ${target.missing}`);
      } else {
        const statements = template.roleStatements(vigia.logicalId(fn.role!));
        for (const needed of [{ action: call.action, arn: target.arn }, ...impliedCalls(template, call.action, target.arn)]) {
          if (allows(template, statements, needed.action, needed.arn)) continue;
          // One line per action and resource kind, not per connection or sensor.
          const arn = needed.arn.replace(/@connections\/.+$/, '@connections/*').replace(/topic\/.+$/, 'topic/…');
          refused.add(`${call.function}: ${needed.action} on ${arn}${needed.action === call.action ? '' : ` (for ${call.action})`}`);
        }
      }
    }
    expect([...refused].sort(), 'calls the role does not allow').toEqual([]);
  });

  it('the flows reached every function with AWS calls, and every command the adapters send', () => {
    const made = new Set(calls().map((c) => c.action));
    const commandActions = adapterCommands();
    expect(commandActions.size).toBeGreaterThan(5);
    expect([...commandActions].filter((a) => !made.has(a)).sort(), 'adapter commands no flow reached').toEqual([]);
    const callers = new Set(calls().map((c) => c.function));
    // The $connect authorizer only verifies tokens (JWKS over HTTPS): it makes no AWS call.
    const withCalls = Object.values(FUNCTIONS).filter((f) => f !== FUNCTIONS.connectAuthorizer);
    expect(
      withCalls.filter((f) => !callers.has(f)),
      'functions no flow reached',
    ).toEqual([]);
  });

  it('refuses what a role lacks: the check can fail', () => {
    const writer = vigia.stack.functions[FUNCTIONS.historyWriter];
    const statements = template.roleStatements(vigia.logicalId(writer.role!));
    const readings = template.render({ 'Fn::GetAtt': [vigia.logicalId(vigia.stack.history.readingsTable), 'Arn'] });
    const alerts = template.render({ 'Fn::GetAtt': [vigia.logicalId(vigia.stack.alerts.table), 'Arn'] });
    expect(allows(template, statements, 'dynamodb:PutItem', readings)).toBe(true);
    expect(allows(template, statements, 'dynamodb:DeleteItem', readings)).toBe(false);
    expect(allows(template, statements, 'dynamodb:PutItem', `${readings}x`)).toBe(false);
    expect(allows(template, statements, 'dynamodb:Scan', alerts)).toBe(false);
    const api = vigia.stack.functions[FUNCTIONS.httpApi];
    const apiEnv = template.environmentOf(vigia.logicalId(api));
    // A publish to the alerts topic needs its key too: the writer's role has it, the HTTP API's has neither.
    const implied = impliedCalls(template, 'sns:Publish', template.render({ Ref: vigia.logicalId(vigia.stack.alerts.topic) }));
    expect(implied.map((c) => c.action)).toEqual(['kms:GenerateDataKey', 'kms:Decrypt']);
    expect(implied.every((c) => allows(template, statements, c.action, c.arn))).toBe(true);
    const apiStatements = template.roleStatements(vigia.logicalId(api.role!));
    expect(implied.some((c) => allows(template, apiStatements, c.action, c.arn))).toBe(false);
    const publish: AwsCall = { function: FUNCTIONS.httpApi, action: 'sqs:SendMessage', resource: { queueUrl: 'x' } };
    expect(cloudResourceOf(publish, { DEAD_LETTER_QUEUE_URL: 'x' }, apiEnv)).toMatchObject({
      missing: expect.stringContaining('DEAD_LETTER_QUEUE_URL'),
    });
  });
});

/** The IAM action of every SDK command the adapters construct (lambdas/adapters), read from their source. */
function adapterCommands(): Set<string> {
  const documentClient: Record<string, string> = {
    Get: 'GetItem',
    Put: 'PutItem',
    Update: 'UpdateItem',
    Delete: 'DeleteItem',
    BatchGet: 'BatchGetItem',
    BatchWrite: 'BatchWriteItem',
    TransactGet: 'TransactGetItems',
    TransactWrite: 'TransactWriteItems',
  };
  const services: Record<string, string> = {
    '@aws-sdk/lib-dynamodb': 'dynamodb',
    '@aws-sdk/client-dynamodb': 'dynamodb',
    '@aws-sdk/client-sqs': 'sqs',
    '@aws-sdk/client-sns': 'sns',
    '@aws-sdk/client-iot-data-plane': 'iot',
    '@aws-sdk/client-apigatewaymanagementapi': 'execute-api',
  };
  const dir = path.join(PROJECT_ROOT, 'lambdas/adapters');
  const actions = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(path.join(dir, file), 'utf8');
    for (const [, names, module] of source.matchAll(/import \{([^}]+)\} from '(@aws-sdk\/[^']+)'/g)) {
      const service = services[module];
      if (!service) throw new Error(`${file} imports ${module}: name its IAM service here and in local/aws-calls.ts`);
      for (const name of names.split(',').map((n) => n.trim().replace(/^type\s+/, ''))) {
        const command = /^(\w+)Command$/.exec(name)?.[1];
        if (!command || !new RegExp(`new ${name}\\(`).test(source)) continue;
        if (service === 'execute-api') actions.add('execute-api:ManageConnections');
        else if (module === '@aws-sdk/lib-dynamodb') actions.add(`${service}:${documentClient[command] ?? command}`);
        // PublishBatch is authorized as sns:Publish (local/aws-calls.ts says so of the calls it records).
        else actions.add(`${service}:${service === 'sns' && command === 'PublishBatch' ? 'Publish' : command}`);
      }
    }
  }
  return actions;
}
