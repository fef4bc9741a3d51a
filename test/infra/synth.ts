/**
 * Synthesizes the cloud app the way bin/app.ts does (same context from cdk.json, same stack, same
 * cdk-nag plugin), minus bundling, once per test file.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { retentionFromContext } from '../../lib/history.js';
import { VigiaStack } from '../../lib/vigia-stack.js';

export const CDK_JSON = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  app: string;
  context: Record<string, unknown>;
};

export interface SynthesizedVigia {
  app: App;
  stack: VigiaStack;
  template: Template;
  /** The cloud assembly directory (holds validation-report.json). */
  outdir: string;
  /** Logical id of a construct's CloudFormation resource (its default child when it is an L2). */
  logicalId(construct: IConstruct): string;
}

export function synthVigia(context: Record<string, unknown> = {}): SynthesizedVigia {
  const outdir = mkdtempSync(join(tmpdir(), 'vigia-infra-'));
  const app = new App({
    outdir,
    // cfn-lint checks the template in cdk-synth.test.ts; the built-in (wasm) validation would add seconds per synth.
    builtinCloudFormationValidation: false,
    context: { ...CDK_JSON.context, 'aws:cdk:bundling-stacks': [], ...context },
  });
  const stack = new VigiaStack(app, 'VigiaStack', { retention: retentionFromContext(app) });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  const template = Template.fromStack(stack);
  return {
    app,
    stack,
    template,
    outdir,
    logicalId(construct) {
      const element = (construct.node.defaultChild ?? construct) as CfnElement;
      return Stack.of(construct).getLogicalId(element);
    },
  };
}

/** A `{ Ref }` or `{ Fn::GetAtt: [id, Arn] }` pointing at the resource. */
export const ref = (logicalId: string) => ({ Ref: logicalId });
export const arnOf = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

/** Every statement of the identity policies attached to a role (by the role's logical id). */
export function roleStatements(template: Template, roleLogicalId: string): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy');
  const statements: Statement[] = [];
  for (const policy of Object.values(policies)) {
    const roles = (policy.Properties.Roles ?? []) as unknown[];
    if (roles.some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleLogicalId }))) {
      statements.push(...(policy.Properties.PolicyDocument.Statement as Statement[]));
    }
  }
  const role = template.toJSON().Resources[roleLogicalId];
  for (const inline of role?.Properties?.Policies ?? []) statements.push(...inline.PolicyDocument.Statement);
  return statements;
}

export const actionsOf = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);
export const resourcesOf = (s: Statement): unknown[] => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]);

/** Actions a role may perform on a resource, given as its ARN expression (e.g. arnOf(tableId)). */
export function actionsOn(statements: Statement[], resource: unknown): string[] {
  const key = JSON.stringify(resource);
  return statements
    .filter((s) => s.Effect === 'Allow' && resourcesOf(s).some((r) => JSON.stringify(r) === key))
    .flatMap(actionsOf)
    .sort();
}
