import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { hostClient, resetWiring } from '../../lambdas/handlers/wiring.js';
import { AwsCallLog, iamCalls, readAwsCalls } from '../../local/aws-calls.js';
import { asLambdaInvocation } from '../../local/lambda-context.js';

// Checked when the first client is built: this machine's Node is older than Lambda's, the SDK's notice is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

describe('iamCalls: an SDK request as IAM names it', () => {
  it('a DynamoDB request: its table, and its index when it names one', () => {
    expect(iamCalls('DynamoDBClient', 'QueryCommand', { TableName: 't', IndexName: 'byTs' }, 'HttpApi')).toEqual([
      { function: 'HttpApi', action: 'dynamodb:Query', resource: { table: 't', index: 'byTs' } },
    ]);
  });

  it('a batch over two tables is one call on each', () => {
    const calls = iamCalls('DynamoDBClient', 'BatchWriteItemCommand', { RequestItems: { a: [], b: [] } }, 'HistoryWriter');
    expect(calls.map((c) => c.resource)).toEqual([{ table: 'a' }, { table: 'b' }]);
    expect(new Set(calls.map((c) => c.action))).toEqual(new Set(['dynamodb:BatchWriteItem']));
  });

  it('SQS, SNS, the IoT data plane and the management API', () => {
    expect(iamCalls('SQSClient', 'SendMessageCommand', { QueueUrl: 'q' }, 'F')[0]).toMatchObject({
      action: 'sqs:SendMessage',
      resource: { queueUrl: 'q' },
    });
    expect(iamCalls('SNSClient', 'PublishCommand', { TopicArn: 'arn' }, 'F')[0]).toMatchObject({
      action: 'sns:Publish',
      resource: { topicArn: 'arn' },
    });
    expect(iamCalls('IoTDataPlaneClient', 'PublishCommand', { topic: 'sensors/a/commands' }, 'F')[0]).toMatchObject({
      action: 'iot:Publish',
      resource: { iotTopic: 'sensors/a/commands' },
    });
    expect(iamCalls('ApiGatewayManagementApiClient', 'DeleteConnectionCommand', { ConnectionId: 'c' }, 'F')[0]).toMatchObject({
      action: 'execute-api:ManageConnections',
      resource: { connectionId: 'c', method: 'DELETE' },
    });
  });

  it('a client it cannot name is an unknown action, which no role allows', () => {
    expect(iamCalls('S3Client', 'GetObjectCommand', { Bucket: 'b' }, 'F')[0].action).toBe('unknown:S3Client.GetObjectCommand');
  });
});

describe('AwsCallLog', () => {
  const dirs: string[] = [];
  const newFile = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vigia-aws-calls-'));
    dirs.push(dir);
    return path.join(dir, 'calls.jsonl');
  };
  afterEach(() => {
    resetWiring();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("records a wiring client's request with the invoking function, once however often it is made", async () => {
    const file = newFile();
    resetWiring(new AwsCallLog(file).bind({}));
    const client = hostClient(
      new DynamoDBClient({ region: 'local', endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }),
    );
    // Answered before it leaves: the recorder runs first (initialize step), the request is never sent.
    client.middlewareStack.add(() => async () => ({ output: { $metadata: {} } as never, response: {} }), { step: 'build', name: 'answer' });
    const doc = DynamoDBDocumentClient.from(client);
    const get = () => doc.send(new GetCommand({ TableName: 'vigia-sensors', Key: { sensorId: 'a' } }));
    await asLambdaInvocation('HttpApi', async () => {
      await get();
      await get();
    })(undefined);
    await get();
    expect(readAwsCalls(file)).toEqual([
      { function: 'HttpApi', action: 'dynamodb:GetItem', resource: { table: 'vigia-sensors' } },
      { function: null, action: 'dynamodb:GetItem', resource: { table: 'vigia-sensors' } },
    ]);
  });

  it("records each frame of the host's live sender as the PostToConnection it is in the cloud", async () => {
    const file = newFile();
    const sent: string[] = [];
    const bindings = new AwsCallLog(file).bind({ liveSender: () => ({ send: async (id) => (sent.push(id), 'sent') }) });
    const live = bindings.liveSender!();
    await asLambdaInvocation('Presence', async () => live.send('c1', { type: 'pong' }))(undefined);
    expect(sent).toEqual(['c1']);
    expect(readAwsCalls(file)).toEqual([
      { function: 'Presence', action: 'execute-api:ManageConnections', resource: { connectionId: 'c1', method: 'POST' } },
    ]);
  });

  it('reads an absent file as no calls', () => {
    expect(readAwsCalls(path.join(tmpdir(), 'vigia-no-such-file.jsonl'))).toEqual([]);
  });
});
