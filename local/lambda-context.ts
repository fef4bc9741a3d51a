/**
 * Lambda's invocation context on this host. Lambda hands every handler a `Context` (a request id per invocation, the
 * function's name, ARN and memory) and the handlers tag their log lines with it (lambdas/handlers/wiring.ts
 * `withContext`); here each call gets one built the same way. All local functions share one process and their
 * invocations interleave, as in a Lambda environment that serves several at once (AWS_LAMBDA_MAX_CONCURRENCY): like
 * Lambda's runtime there, each invocation runs in its own InvokeStore scope, so Powertools keeps each one's context
 * apart and a log line never carries another invocation's request id.
 */
import { randomUUID } from 'node:crypto';
import { InvokeStore, InvokeStoreBase } from '@aws/lambda-invoke-store';
import type { Context } from 'aws-lambda';
import { FUNCTION_MEMORY_MB, FUNCTION_TIMEOUT_SECONDS } from '../lambdas/shared/names.js';

const LOCAL_REGION = 'local';
/** The invoked function's name in each invocation's InvokeStore scope (what the SDK call recorder reads). */
const FUNCTION_NAME = Symbol('vigia.functionName');
let invokeStore: InvokeStoreBase | undefined;
const LOCAL_ACCOUNT = '000000000000';

/**
 * Sets what Lambda's runtime sets before any handler code loads: invocations may run at once (so Powertools and the
 * SDK scope their state to the InvokeStore), and each environment starts cold on demand (so the logger's first
 * invocation reports `cold_start`). Call it before the first SDK client or handler module is built.
 */
export function prepareLambdaHost(): void {
  process.env.AWS_LAMBDA_MAX_CONCURRENCY ??= '64';
  process.env.AWS_LAMBDA_INITIALIZATION_TYPE ??= 'on-demand';
}

/** A Lambda-shaped context for one invocation of `functionName`, its clock started now. */
export function lambdaContext(functionName: string, timeoutSeconds = FUNCTION_TIMEOUT_SECONDS): Context {
  const deadline = Date.now() + timeoutSeconds * 1000;
  const unsupported = () => {
    throw new Error('callback-style completion is not supported: return a promise');
  };
  return {
    awsRequestId: randomUUID(),
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${functionName}`,
    memoryLimitInMB: String(FUNCTION_MEMORY_MB),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

/**
 * Wraps a handler so each call is one invocation of `functionName`: the event as given, a fresh context, inside its
 * own InvokeStore scope.
 */
export function asLambdaInvocation<E, R>(
  functionName: string,
  handler: (event: E, context: Context) => Promise<R>,
): (event: E) => Promise<R> {
  prepareLambdaHost();
  const store = InvokeStore.getInstanceAsync(true).then((s) => (invokeStore = s));
  return async (event) => {
    const context = lambdaContext(functionName);
    return (await store).run({ [InvokeStoreBase.PROTECTED_KEYS.REQUEST_ID]: context.awsRequestId, [FUNCTION_NAME]: functionName }, () =>
      handler(event, context),
    );
  };
}

/** The function whose invocation the caller runs in (its async context), or undefined outside any invocation. */
export function invokingFunction(): string | undefined {
  return invokeStore?.get<string>(FUNCTION_NAME);
}
