import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { retentionFromContext } from '../lib/history.js';
import { VigiaStack } from '../lib/vigia-stack.js';

const app = new App();

new VigiaStack(app, 'VigiaStack', {
  description: 'vigia: real-time sensor monitoring (IoT Core, Lambda, DynamoDB, API Gateway, CloudFront)',
  retention: retentionFromContext(app),
});

// AWS Solutions checks run at every synth; an unacknowledged error fails it.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
