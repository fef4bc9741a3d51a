import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { CorsHttpMethod, HttpApi, HttpMethod, type HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { Construct } from 'constructs';
import { ENV } from '../lambdas/shared/names.js';
import type { Auth } from './auth.js';
import type { FunctionDefaults, VigiaFunction } from './function-defaults.js';
import type { HistoryTables } from './history.js';

/** Contract §5: every route is a GET answered by the one HTTP API function; all but /health need sign-in. */
const ROUTES = ['/health', '/sensors', '/sensors/{sensorId}', '/sensors/{sensorId}/readings', '/readings'] as const;
const OPEN_ROUTES: readonly string[] = ['/health'];
/** Contract §8: alert rules, current alerts, their history and acknowledgement; the function checks the role. */
const ALERT_ROUTES: ReadonlyArray<{ path: string; methods: HttpMethod[] }> = [
  { path: '/alert-rules', methods: [HttpMethod.GET, HttpMethod.POST] },
  { path: '/alert-rules/{ruleId}', methods: [HttpMethod.GET, HttpMethod.PUT, HttpMethod.DELETE] },
  { path: '/alerts', methods: [HttpMethod.GET] },
  { path: '/alerts/history', methods: [HttpMethod.GET] },
  { path: '/alerts/{alertId}/ack', methods: [HttpMethod.POST] },
];

/**
 * One JSON line per request, of HTTP API $context variables only (the CLF default names REST-only ones that an
 * HTTP API logs as "-"): https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-logging-variables.html
 */
export const HTTP_API_ACCESS_LOG = {
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  requestTime: '$context.requestTime',
  httpMethod: '$context.httpMethod',
  routeKey: '$context.routeKey',
  path: '$context.path',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integrationStatus',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  authorizerError: '$context.authorizer.error',
  errorMessage: '$context.error.message',
  userAgent: '$context.identity.userAgent',
} as const;

export interface ApiProps {
  readonly functions: FunctionDefaults;
  /** History tables (readings, roll-ups, sensors registry) and their retention. */
  readonly history: HistoryTables;
  /** The only origin browsers may call the API from: the dashboard's, e.g. `https://d123.cloudfront.net`. */
  readonly allowedOrigin: string;
  /** Dashboard sign-in: every route but /health needs the user pool's ID token (`Authorization: Bearer`). */
  readonly auth: Auth;
  /**
   * Stage throttling across all clients. 50 requests per second with bursts of 100 covers a few
   * dashboards polling history (each view is a handful of GETs) and keeps a runaway client from
   * running up the bill; raise it for more viewers.
   * @default rate 50, burst 100
   */
  readonly throttle?: { readonly rateLimit: number; readonly burstLimit: number };
}

/** The HTTP API of contract §5: sensors and their history, read-only. */
export class Api extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly handler: VigiaFunction;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const { history } = props;

    this.handler = props.functions
      .createFunction(this, 'HttpApiFunction', {
        handler: 'http-api',
        description: 'Answers the HTTP API: sensors, their latest state and their readings history',
      })
      .useTable(ENV.readingsTable, history.readingsTable, 'dynamodb:Query')
      .useTable(ENV.rollupsTable, history.rollupsTable, 'dynamodb:Query')
      .useTable(ENV.sensorsTable, history.sensorsTable, 'dynamodb:GetItem', 'dynamodb:Scan');

    this.httpApi = new HttpApi(this, 'HttpApi', {
      apiName: `${Stack.of(this).stackName}-http`,
      description: 'vigia sensors and readings history',
      createDefaultStage: false,
      corsPreflight: {
        allowOrigins: [props.allowedOrigin],
        allowMethods: [CorsHttpMethod.GET, CorsHttpMethod.POST, CorsHttpMethod.PUT, CorsHttpMethod.DELETE],
        allowHeaders: ['content-type', 'accept', 'authorization'],
        exposeHeaders: ['x-next-cursor'],
        maxAge: Duration.hours(1),
      },
    });
    props.auth.configureVerifier(this.handler);
    // API Gateway checks the token's signature, issuer, audience and expiry; the function checks the role (403).
    const authorizer = new HttpJwtAuthorizer('DashboardSignIn', props.auth.issuer, {
      jwtAudience: [props.auth.client.userPoolClientId],
      identitySource: ['$request.header.Authorization'],
    });
    const integration = new HttpLambdaIntegration('HttpApiHandler', this.handler);
    for (const path of ROUTES) {
      const open = OPEN_ROUTES.includes(path);
      const routes = this.httpApi.addRoutes({ path, methods: [HttpMethod.GET], integration, authorizer: open ? undefined : authorizer });
      if (open) {
        for (const route of routes) {
          Validations.of(route).acknowledge({
            id: 'AwsSolutions-APIG4',
            reason: 'GET /health is the liveness probe of contract §5: it answers {"status":"ok"} and reads nothing.',
          });
        }
      }
    }

    for (const { path, methods } of ALERT_ROUTES) this.httpApi.addRoutes({ path, methods, integration, authorizer });

    const throttle = props.throttle ?? { rateLimit: 50, burstLimit: 100 };
    this.stage = this.httpApi.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(new LogGroup(this, 'AccessLogs', { retention: props.functions.logRetention })),
        format: AccessLogFormat.custom(JSON.stringify(HTTP_API_ACCESS_LOG)),
      },
    });
  }

  /** The API's base URL, without trailing slash (the `$default` stage has no path segment). */
  get url(): string {
    return this.httpApi.apiEndpoint;
  }
}
