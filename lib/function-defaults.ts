import { fileURLToPath } from 'node:url';
import { Duration, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, type IDestination, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { type EnvName, FUNCTION_MEMORY_MB, FUNCTION_TIMEOUT_SECONDS } from '../lambdas/shared/names.js';
import { LAMBDA_BUNDLING } from './bundling.js';

/** Repository root: bundling resolves handlers and the lock file from here, whatever the cwd. */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Absolute path of a handler file under lambdas/handlers/. */
export function handlerEntry(name: string): string {
  return fileURLToPath(new URL(`../lambdas/handlers/${name}.ts`, import.meta.url));
}

/** Settings every function of the app shares. */
export interface FunctionDefaultsProps {
  /**
   * Days the functions' logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * X-Ray active tracing. Off by default: the handlers do not use a tracer, and the X-Ray write
   * actions need `Resource: *`, which least privilege would rather not grant for nothing.
   * @default Tracing.DISABLED
   */
  readonly tracing?: Tracing;
  /**
   * Memory of each function, in MiB.
   * @default 256
   */
  readonly memorySize?: number;
}

export interface VigiaFunctionProps {
  /** Handler file name under lambdas/handlers/, without extension (e.g. `history-writer`). */
  readonly handler: string;
  readonly description: string;
  /**
   * Extra environment, merged over the shared one (POWERTOOLS_SERVICE_NAME, NODE_OPTIONS). Resource-bound
   * variables are better set with `useTable`/`addEnvironment` by the construct that owns the resource.
   * @default - none
   */
  readonly environment?: Record<string, string>;
  /**
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;
  /**
   * Where an asynchronous invocation goes once its retries are spent (IoT rules invoke asynchronously).
   * @default - none (synchronously invoked functions)
   */
  readonly onFailure?: IDestination;
  /**
   * How old an asynchronous event may get (throttled, retried) before Lambda drops it to `onFailure`.
   * @default - the Lambda default, 6 hours
   */
  readonly maxEventAge?: Duration;
  /**
   * Retries of a failed asynchronous invocation.
   * @default 2 when `onFailure` is set, else the Lambda default (2)
   */
  readonly retryAttempts?: number;
}

/**
 * Shared NodejsFunction defaults: Node.js 22 on arm64, minified ESM bundles with source maps (shipped, not loaded), an own
 * log group with a retention, and an own role holding only what each function is granted (no managed
 * policy: the role may write to its log group and nothing else until a construct grants more).
 */
export class FunctionDefaults extends Construct {
  readonly logRetention: RetentionDays;
  readonly tracing: Tracing;
  readonly memorySize: number;
  /**
   * One log group, with the same retention, for the functions aws-cdk-lib provides (BucketDeployment,
   * AwsCustomResource): theirs would otherwise be created on first run and kept forever.
   */
  readonly providerLogGroup: LogGroup;

  constructor(scope: Construct, id: string, props: FunctionDefaultsProps = {}) {
    super(scope, id);
    this.logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    this.providerLogGroup = new LogGroup(this, 'ProviderLogs', { retention: this.logRetention });
    this.tracing = props.tracing ?? Tracing.DISABLED;
    this.memorySize = props.memorySize ?? FUNCTION_MEMORY_MB;
  }

  /** A function of the app, created in `scope` with these defaults. */
  createFunction(scope: Construct, id: string, props: VigiaFunctionProps): VigiaFunction {
    return new VigiaFunction(scope, id, { ...props, defaults: this });
  }
}

/** A NodejsFunction with the app's defaults; see FunctionDefaults. */
export class VigiaFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: VigiaFunctionProps & { defaults: FunctionDefaults }) {
    const logGroup = new LogGroup(scope, `${id}Logs`, { retention: props.defaults.logRetention });
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs the ${props.handler} function`,
    });
    logGroup.grantWrite(role);
    super(scope, id, {
      entry: handlerEntry(props.handler),
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.defaults.memorySize,
      timeout: props.timeout ?? Duration.seconds(FUNCTION_TIMEOUT_SECONDS),
      tracing: props.defaults.tracing,
      role,
      logGroup,
      onFailure: props.onFailure,
      maxEventAge: props.maxEventAge,
      retryAttempts: props.retryAttempts ?? (props.onFailure ? 2 : undefined),
      projectRoot: REPO_ROOT,
      depsLockFilePath: fileURLToPath(new URL('../package-lock.json', import.meta.url)),
      environment: {
        POWERTOOLS_SERVICE_NAME: 'vigia',
        // No --enable-source-maps: parsing the ~2 MB map added ~200-260 ms to every cold start (bench/source-maps.ts).
        // The map ships beside the bundle for decoding a stack trace offline (README, Operations).
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: LAMBDA_BUNDLING.target,
        minify: LAMBDA_BUNDLING.minify,
        sourceMap: true,
        externalModules: [...LAMBDA_BUNDLING.external],
        mainFields: [...LAMBDA_BUNDLING.mainFields],
        banner: LAMBDA_BUNDLING.banner,
      },
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is the pinned runtime of the project (its tooling and local mode run the same handlers; ' +
        'Lambda supports it until 2027-04); moving to Node.js 24 is a deliberate upgrade, not a side effect.',
    });
  }

  /** Sets `envName` to the table's name and grants exactly `actions` on it. */
  useTable(envName: EnvName, table: ITable, ...actions: string[]): this {
    this.addEnvironment(envName, table.tableName);
    table.grant(this, ...actions);
    return this;
  }
}
