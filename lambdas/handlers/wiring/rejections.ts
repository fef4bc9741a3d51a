/** Rejected telemetry to the dead-letter queue. */
import { SQSClient } from '@aws-sdk/client-sqs';
import { sqsRejectionSink } from '../../adapters/sqs-rejections.js';
import { ENV, requireEnv } from '../../shared/names.js';
import { hostClient, once } from '../wiring.js';

export const rejectionSink = /* @__PURE__ */ once(() =>
  sqsRejectionSink(hostClient(new SQSClient({})), requireEnv(ENV.deadLetterQueueUrl)),
);
