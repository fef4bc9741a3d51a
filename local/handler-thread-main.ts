/**
 * Inside a handler thread: the very Lambda handler module, wired as a container of its own (its own SDK clients,
 * caches and module state, as `resetWiring` builds them in this thread), with the host's two bindings carried over
 * the thread's port: live frames go to the main thread's WebSocket gateway, metrics to its registry.
 * Messages: local/handler-thread.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { DynamoPorts } from './dynamo.js';
import type { Context } from 'aws-lambda';
import type { CounterMetric, LiveSender, Metrics, ObservedMetric, SendResult } from '../lambdas/core/ports.js';
import type { ServerFrame } from '../lambdas/shared/contract.js';
import type { FromThread, HandlerName, ToThread } from './handler-thread.js';

const port = parentPort!;
const post = (message: FromThread) => port.postMessage(message);

/** Frames through the main thread's gateway; each answer comes back by id. */
class PortLiveSender implements LiveSender {
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (result: SendResult) => void; reject: (err: Error) => void }>();

  send(connectionId: string, frame: ServerFrame): Promise<SendResult> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      post({ type: 'send', id, connectionId, frame });
    });
  }

  answered(message: Extract<ToThread, { type: 'sent' }>): void {
    const call = this.waiting.get(message.id);
    this.waiting.delete(message.id);
    if (!call) return;
    if ('error' in message) call.reject(new Error(message.error));
    else call.resolve(message.result);
  }
}

/** Records an invocation's metrics and hands them to the main thread's registry at its flush. */
class ForwardedMetrics implements Metrics {
  private calls: Array<['count', CounterMetric, number, Record<string, string>?] | ['observe', ObservedMetric, number]> = [];

  count(name: CounterMetric, value: number, dimensions?: Record<string, string>): void {
    this.calls.push(['count', name, value, dimensions]);
  }

  observe(name: ObservedMetric, value: number): void {
    this.calls.push(['observe', name, value]);
  }

  flush(): void {
    if (this.calls.length === 0) return;
    post({ type: 'metrics', calls: this.calls.splice(0) });
  }
}

const sender = new PortLiveSender();
const metrics = new ForwardedMetrics();
const {
  handler: handlerName,
  functionName,
  dynamoPorts,
  awsCallsFile,
} = workerData as {
  handler: HandlerName;
  functionName: string;
  dynamoPorts?: DynamoPorts;
  awsCallsFile?: string;
};
const { resetWiring } = await import('../lambdas/handlers/wiring.js');
const { recordedInto } = await import('./aws-calls.js');
const { portClientConfig } = await import('./dynamo-port.js');
// One handler for the thread's ports: two listening on one port would each take the other's answers.
const dynamoClient = dynamoPorts ? portClientConfig(dynamoPorts) : undefined;
resetWiring(
  recordedInto(awsCallsFile, {
    liveSender: () => sender,
    metrics: () => metrics,
    dynamoClientConfig: dynamoClient ? () => dynamoClient : undefined,
  }),
);

const modules: Record<HandlerName, () => Promise<{ handler: (event: never, context: Context) => Promise<unknown> }>> = {
  'history-writer': () => import('../lambdas/handlers/history-writer.js'),
};
const { handler: lambdaHandler } = await modules[handlerName]();
// Each call an invocation with its own Lambda context and request id, as on the main thread (local/lambda-context.ts).
const { asLambdaInvocation } = await import('./lambda-context.js');
const handler = asLambdaInvocation(functionName, lambdaHandler);
const { alertRules } = await import('../lambdas/handlers/wiring/dynamo.js');

port.on('message', (message: ToThread) => {
  switch (message.type) {
    case 'invoke':
      handler(message.event as never).then(
        (value) => post({ type: 'result', id: message.id, value }),
        (err: Error) =>
          post({ type: 'result', id: message.id, error: { name: err?.name ?? 'Error', message: String(err?.message ?? err) } }),
      );
      break;
    case 'sent':
      sender.answered(message);
      break;
    case 'rules-changed':
      // The API changed the alert rules in the main thread: this container's cache goes too, as it did in one thread.
      alertRules().invalidate();
      break;
  }
});
post({ type: 'ready' });
// The thread's heap, for the runtime's memory gauges (its RSS is the process's, shared with the main thread).
const { threadMemory } = await import('./memory-metrics.js');
post({ type: 'memory', memory: threadMemory() });
setInterval(() => post({ type: 'memory', memory: threadMemory() }), 5000).unref();
