import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RETENTION_DEFAULTS } from '../lambdas/shared/names.js';
import { VigiaStack } from '../lib/vigia-stack.js';

const app = new App();

/** A retention context key (e.g. `-c rawRetentionDays=60`): a positive integer, or its documented default. */
function retentionDays(key: string, fallback: number): number {
  const raw: unknown = app.node.tryGetContext(key);
  if (raw === undefined) return fallback;
  const days = Number(raw);
  if (!Number.isInteger(days) || days <= 0) {
    throw new Error(`Context ${key} must be a positive integer number of days, got ${JSON.stringify(raw)}`);
  }
  return days;
}

new VigiaStack(app, 'VigiaStack', {
  description: 'vigia: real-time sensor monitoring (IoT Core, Lambda, DynamoDB, API Gateway, CloudFront)',
  retention: {
    rawDays: retentionDays('rawRetentionDays', RETENTION_DEFAULTS.rawDays),
    minuteDays: retentionDays('minuteRetentionDays', RETENTION_DEFAULTS.minuteDays),
    hourDays: retentionDays('hourRetentionDays', RETENTION_DEFAULTS.hourDays),
  },
});

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
