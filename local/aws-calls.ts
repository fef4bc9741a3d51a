/**
 * The AWS calls each function really makes, as IAM names them, recorded while the local runtime runs the handlers:
 * every SDK request of the wiring's clients (a middleware added through its host seam, so it sees the request
 * whatever transport carries it) and every frame of the live sender the runtime binds in place of API Gateway's
 * management client (a PostToConnection in the cloud), each tagged with the function of the invocation it runs in
 * (local/lambda-context.ts). test/integration/iam-grants.test.ts checks them against each function's role.
 *
 * Kept as JSON lines, each distinct call once per thread, appended synchronously: a handler thread's calls are on
 * disk before its invocation returns, and stay there when the thread dies.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import type { Pluggable } from '@smithy/types';
import type { HostBindings } from '../lambdas/handlers/wiring.js';
import { invokingFunction } from './lambda-context.js';

/** What a call touches, in the handler's own terms (the names its environment gave it). */
export type AwsResource =
  | { table: string; index?: string }
  | { queueUrl: string }
  | { topicArn: string }
  | { iotTopic: string }
  | { connectionId: string; method: 'POST' | 'GET' | 'DELETE' }
  | { unknown: string };

export interface AwsCall {
  /** The invoked function, or null for a call made outside any invocation. */
  function: string | null;
  /** The IAM action, e.g. `dynamodb:GetItem`; `unknown:<client>.<command>` for a client this file cannot name. */
  action: string;
  resource: AwsResource;
}

/** Distinct calls recorded per thread at most: the file stays bounded however many sensors and connections come. */
const MAX_DISTINCT_CALLS = 10_000;

/** The IAM service prefix of each SDK client the wiring builds. */
const SERVICES: Record<string, string> = {
  DynamoDBClient: 'dynamodb',
  SQSClient: 'sqs',
  SNSClient: 'sns',
  IoTDataPlaneClient: 'iot',
  ApiGatewayManagementApiClient: 'execute-api',
};
const CONNECTION_METHODS: Record<string, 'POST' | 'GET' | 'DELETE'> = {
  PostToConnectionCommand: 'POST',
  GetConnectionCommand: 'GET',
  DeleteConnectionCommand: 'DELETE',
};

type Input = Record<string, unknown>;

/** The tables a DynamoDB request names: its TableName, each key of RequestItems, each item of a transaction. */
function tablesOf(input: Input): AwsResource[] {
  if (typeof input.TableName === 'string') {
    return [{ table: input.TableName, ...(typeof input.IndexName === 'string' && { index: input.IndexName }) }];
  }
  if (input.RequestItems && typeof input.RequestItems === 'object') return Object.keys(input.RequestItems).map((table) => ({ table }));
  if (Array.isArray(input.TransactItems)) {
    return (input.TransactItems as Array<Record<string, { TableName?: string }>>).flatMap((item) =>
      Object.values(item).flatMap((op) => (op?.TableName ? [{ table: op.TableName }] : [])),
    );
  }
  return [{ unknown: JSON.stringify(Object.keys(input)) }];
}

/** One SDK request as IAM sees it: one call per resource it names. */
export function iamCalls(clientName: string, commandName: string, input: Input, fn: string | null): AwsCall[] {
  const service = SERVICES[clientName];
  const operation = commandName.replace(/Command$/, '');
  switch (service) {
    case 'dynamodb':
      return tablesOf(input).map((resource) => ({ function: fn, action: `dynamodb:${operation}`, resource }));
    case 'sqs':
      return [{ function: fn, action: `sqs:${operation}`, resource: { queueUrl: String(input.QueueUrl) } }];
    case 'sns':
      // PublishBatch is authorized as sns:Publish (there is no sns:PublishBatch action).
      return [
        {
          function: fn,
          action: `sns:${operation === 'PublishBatch' ? 'Publish' : operation}`,
          resource: { topicArn: String(input.TopicArn ?? input.TargetArn) },
        },
      ];
    case 'iot':
      return [{ function: fn, action: `iot:${operation}`, resource: { iotTopic: String(input.topic) } }];
    case 'execute-api': {
      const method = CONNECTION_METHODS[commandName];
      if (method) {
        return [{ function: fn, action: 'execute-api:ManageConnections', resource: { connectionId: String(input.ConnectionId), method } }];
      }
    }
  }
  return [{ function: fn, action: `unknown:${clientName}.${commandName}`, resource: { unknown: JSON.stringify(Object.keys(input)) } }];
}

export class AwsCallLog {
  private readonly seen = new Set<string>();

  constructor(readonly file: string) {}

  record(call: AwsCall): void {
    const line = JSON.stringify(call);
    if (this.seen.has(line) || this.seen.size >= MAX_DISTINCT_CALLS) return;
    this.seen.add(line);
    appendFileSync(this.file, `${line}\n`);
  }

  /** The host's bindings, with every SDK client's requests and every live frame recorded. */
  bind(host: HostBindings): HostBindings {
    const plugin: Pluggable<object, object> = {
      applyToStack: (stack) =>
        stack.add(
          (next, context) => async (args) => {
            const calls = iamCalls(
              String(context.clientName),
              String(context.commandName),
              args.input as Input,
              invokingFunction() ?? null,
            );
            for (const call of calls) this.record(call);
            return next(args);
          },
          { step: 'initialize', name: 'vigiaRecordAwsCalls' },
        ),
    };
    const live = host.liveSender;
    return {
      ...host,
      sdkPlugins: () => [...(host.sdkPlugins?.() ?? []), plugin],
      liveSender: live
        ? () => {
            const sender = live();
            return {
              send: (connectionId, frame) => {
                // What ApiGatewayLiveSender sends for this frame in the cloud.
                for (const call of iamCalls(
                  'ApiGatewayManagementApiClient',
                  'PostToConnectionCommand',
                  { ConnectionId: connectionId },
                  invokingFunction() ?? null,
                )) {
                  this.record(call);
                }
                return sender.send(connectionId, frame);
              },
            };
          }
        : undefined,
    };
  }
}

/** The host's bindings, recorded into `file` when one is given (the runtime's `awsCallsFile` option), else as they are. */
export function recordedInto(file: string | undefined, host: HostBindings): HostBindings {
  return file ? new AwsCallLog(file).bind(host) : host;
}

/** Every call recorded in `file`, once each. */
export function readAwsCalls(file: string): AwsCall[] {
  if (!existsSync(file)) return [];
  const lines = new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean));
  return [...lines].map((line) => JSON.parse(line) as AwsCall);
}
