/**
 * Just enough IAM to answer "does this function's role allow this call?" from a synthesized template: each
 * intrinsic (`Ref`, `Fn::GetAtt`, `Fn::Join`, ...) is rendered to the string CloudFormation would make of it, with a
 * resource's logical id standing for its physical id, and actions and ARNs are matched with IAM's wildcards. A call
 * recorded locally (local/aws-calls.ts) names its resource as the handler's environment gave it (a table name, a
 * queue URL, ...); the environment variable holding that value locally leads to the same variable of the function in
 * the template, and so to the logical resource it points at.
 */
import type { AwsCall } from '../../local/aws-calls.js';
import { ENV } from '../../lambdas/shared/names.js';

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;

interface Statement {
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: unknown;
  NotResource?: unknown;
  Condition?: unknown;
}

const REGION = 'region-1';
const ACCOUNT = '123456789012';
const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': REGION,
  'AWS::AccountId': ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'VigiaStack',
  'AWS::NoValue': '',
};

const arn = (service: string, resource: string) => `arn:aws:${service}:${REGION}:${ACCOUNT}:${resource}`;

/** What `Ref` answers for a resource of each type, its logical id standing for the generated name. */
function refOf(id: string, type: string): string {
  switch (type) {
    case 'AWS::SQS::Queue':
      return `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${id}`;
    case 'AWS::SNS::Topic':
      return arn('sns', id);
    default:
      return id;
  }
}

/** What `Fn::GetAtt [id, Arn]` answers for a resource of each type. */
function arnOf(id: string, type: string): string {
  switch (type) {
    case 'AWS::DynamoDB::Table':
      return arn('dynamodb', `table/${id}`);
    case 'AWS::SQS::Queue':
      return arn('sqs', id);
    case 'AWS::SNS::Topic':
      return arn('sns', id);
    case 'AWS::KMS::Key':
      return arn('kms', `key/${id}`);
    case 'AWS::Kinesis::Stream':
      return arn('kinesis', `stream/${id}`);
    case 'AWS::Logs::LogGroup':
      return arn('logs', `log-group:${id}:*`);
    case 'AWS::Lambda::Function':
      return arn('lambda', `function:${id}`);
    default:
      return `arn:aws:unknown:${REGION}:${ACCOUNT}:${type}/${id}`;
  }
}

/** The template, readable as IAM reads the deployed stack. */
export class RenderedTemplate {
  constructor(readonly resources: Resources) {}

  /** The string CloudFormation makes of an expression. */
  render(expr: unknown): string {
    if (typeof expr === 'string') return expr;
    if (typeof expr === 'number' || typeof expr === 'boolean') return String(expr);
    if (expr && typeof expr === 'object' && !Array.isArray(expr)) {
      const [[fn, arg]] = Object.entries(expr as Record<string, unknown>);
      if (fn === 'Ref') {
        const name = arg as string;
        if (name in PSEUDO) return PSEUDO[name];
        return refOf(name, this.typeOf(name));
      }
      if (fn === 'Fn::GetAtt') {
        const [id, attribute] = (typeof arg === 'string' ? arg.split('.') : arg) as [string, string];
        if (attribute === 'Arn' || attribute === 'TopicArn') return arnOf(id, this.typeOf(id));
        if (attribute === 'ApiEndpoint') return `wss://${id}.execute-api.${REGION}.amazonaws.com`;
        return `${id}.${attribute}`;
      }
      if (fn === 'Fn::Join') {
        const [separator, parts] = arg as [string, unknown[]];
        return parts.map((p) => this.render(p)).join(separator);
      }
      if (fn === 'Fn::Select') {
        const [index, list] = arg as [number, unknown];
        return this.renderList(list)[Number(index)];
      }
      if (fn === 'Fn::Sub' && typeof arg === 'string') {
        return arg.replace(/\$\{([^}]+)\}/g, (_, name: string) =>
          this.render(name.includes('.') ? { 'Fn::GetAtt': name.split('.') } : { Ref: name }),
        );
      }
    }
    throw new Error(`cannot render ${JSON.stringify(expr)}`);
  }

  private renderList(expr: unknown): string[] {
    if (Array.isArray(expr)) return expr.map((e) => this.render(e));
    const split = (expr as Record<string, unknown>)['Fn::Split'] as [string, unknown] | undefined;
    if (split) return this.render(split[1]).split(split[0]);
    throw new Error(`cannot render a list from ${JSON.stringify(expr)}`);
  }

  private typeOf(id: string): string {
    const resource = this.resources[id];
    if (!resource) throw new Error(`the template has no resource ${id}`);
    return resource.Type;
  }

  /** Every statement of the identity policies on a role (inline and attached AWS::IAM::Policy resources). */
  roleStatements(roleId: string): Statement[] {
    const statements: Statement[] = [];
    for (const resource of Object.values(this.resources)) {
      if (resource.Type !== 'AWS::IAM::Policy') continue;
      const roles = (resource.Properties?.Roles ?? []) as Array<{ Ref?: string }>;
      if (roles.some((r) => r.Ref === roleId)) {
        statements.push(...(resource.Properties!.PolicyDocument as { Statement: Statement[] }).Statement);
      }
    }
    const inline = (this.resources[roleId]?.Properties?.Policies ?? []) as Array<{ PolicyDocument: { Statement: Statement[] } }>;
    for (const policy of inline) statements.push(...policy.PolicyDocument.Statement);
    return statements;
  }

  /** A function's environment, rendered (the values its handler reads in the cloud). */
  environmentOf(functionId: string): Record<string, string> {
    const env =
      (this.resources[functionId]?.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
    return Object.fromEntries(Object.entries(env).map(([name, value]) => [name, this.render(value)]));
  }
}

/** IAM's wildcard match: `*` any run of characters, `?` one; actions compare without regard to case. */
export function iamMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, ignoreCase ? 'i' : '').test(value);
}

const asList = (value: unknown): unknown[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** Whether the statements allow `action` on `resourceArn`: some Allow matches and no Deny does (conditions not evaluated). */
export function allows(template: RenderedTemplate, statements: Statement[], action: string, resourceArn: string): boolean {
  const matches = (s: Statement) => {
    const actionHit = s.Action
      ? asList(s.Action).some((a) => iamMatch(String(a), action, true))
      : !asList(s.NotAction).some((a) => iamMatch(String(a), action, true));
    const resourceHit = s.Resource
      ? asList(s.Resource).some((r) => iamMatch(template.render(r), resourceArn))
      : !asList(s.NotResource).some((r) => iamMatch(template.render(r), resourceArn));
    return actionHit && resourceHit;
  };
  return statements.some((s) => s.Effect === 'Allow' && matches(s)) && !statements.some((s) => s.Effect === 'Deny' && matches(s));
}

/** The cloud ARN a locally recorded call touches, for a function with `cloudEnv`; or why it has none. */
export function cloudResourceOf(
  call: AwsCall,
  localEnv: NodeJS.ProcessEnv,
  cloudEnv: Record<string, string>,
): { arn: string } | { missing: string } {
  const r = call.resource;
  /** The cloud value of the variable that holds `localValue` locally. */
  const viaEnv = (localValue: string): { value: string } | { missing: string } => {
    const names = Object.values(ENV).filter((name) => localEnv[name] === localValue);
    if (names.length === 0) return { missing: `no environment variable holds ${localValue} locally` };
    const name = names.find((n) => n in cloudEnv);
    return name ? { value: cloudEnv[name] } : { missing: `its function has none of ${names.join(', ')} in the cloud` };
  };
  const needs = (name: string): { missing: string } | undefined =>
    name in cloudEnv ? undefined : { missing: `its function has no ${name} in the cloud` };
  if ('table' in r) {
    const table = viaEnv(r.table);
    if ('missing' in table) return table;
    return { arn: arn('dynamodb', `table/${table.value}${r.index ? `/index/${r.index}` : ''}`) };
  }
  if ('queueUrl' in r) {
    const queue = viaEnv(r.queueUrl);
    if ('missing' in queue) return queue;
    const [, region, account, name] = /^https:\/\/sqs\.([^.]+)\.[^/]+\/(\d+)\/(.+)$/.exec(queue.value) ?? [];
    return name ? { arn: `arn:aws:sqs:${region}:${account}:${name}` } : { missing: `not a queue URL: ${queue.value}` };
  }
  if ('topicArn' in r) {
    const topic = viaEnv(r.topicArn);
    return 'missing' in topic ? topic : { arn: topic.value };
  }
  if ('iotTopic' in r) return needs(ENV.iotDataEndpoint) ?? { arn: arn('iot', `topic/${r.iotTopic}`) };
  if ('connectionId' in r) {
    const missing = needs(ENV.wsManagementEndpoint);
    if (missing) return missing;
    const endpoint = cloudEnv[ENV.wsManagementEndpoint];
    const [, apiId, stage] = /^https:\/\/([^.]+)\.execute-api\.[^/]+\/(.+)$/.exec(endpoint) ?? [];
    if (!apiId) return { missing: `not a management endpoint: ${endpoint}` };
    return { arn: arn('execute-api', `${apiId}/${stage}/${r.method}/@connections/${r.connectionId}`) };
  }
  return { missing: `an unknown resource ${JSON.stringify(r)}` };
}

/**
 * What IAM also checks on the caller's role for a call on `resourceArn`: a publish to an SNS topic encrypted with a
 * customer managed key needs that key too (SNS makes a data key for each message on the publisher's behalf).
 */
export function impliedCalls(template: RenderedTemplate, action: string, resourceArn: string): Array<{ action: string; arn: string }> {
  if (action !== 'sns:Publish') return [];
  const topic = Object.entries(template.resources).find(([id, r]) => r.Type === 'AWS::SNS::Topic' && arn('sns', id) === resourceArn);
  const key = topic?.[1].Properties?.KmsMasterKeyId;
  if (key === undefined) return [];
  const rendered = template.render(key);
  const keyArn = rendered.startsWith('arn:') ? rendered : arn('kms', `key/${rendered}`);
  return ['kms:GenerateDataKey', 'kms:Decrypt'].map((kms) => ({ action: kms, arn: keyArn }));
}
