import { type CfnElement, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat, CfnAccount } from 'aws-cdk-lib/aws-apigateway';
import { CfnRoute, LogGroupLogDestination, WebSocketApi, WebSocketStage } from 'aws-cdk-lib/aws-apigatewayv2';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { ITable, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { WS_ACTIONS } from '../lambdas/shared/contract.js';
import { ENV } from '../lambdas/shared/names.js';
import { CONNECTIONS_TABLE } from '../lambdas/shared/tables.js';
import type { Auth } from './auth.js';
import type { Devices } from './devices.js';
import type { FunctionDefaults, VigiaFunction } from './function-defaults.js';
import { dynamodbActions, tableFromDefinition } from './tables.js';

export interface RealtimeProps {
  readonly functions: FunctionDefaults;
  /** The sensors registry (History): a command is refused for a sensor never seen. */
  readonly sensorsTable: ITable;
  /** Where commands go: the IoT data endpoint and the right to publish on the commands topics. */
  readonly devices: Devices;
  /** Dashboard sign-in: `$connect` needs the user pool's ID token in `?token=`; the role decides commands. */
  readonly auth: Auth;
  /**
   * Name of the WebSocket stage, the last segment of `wsUrl`.
   * @default 'live'
   */
  readonly stageName?: string;
  /**
   * Stage throttling: steady requests (messages) per second and burst, across all connections.
   * @default rate 100, burst 200
   */
  readonly throttle?: { readonly rateLimit: number; readonly burstLimit: number };
  /**
   * What happens to the connections table when it leaves the stack (it holds only live state).
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** Live dashboards: the WebSocket API, its one function and the connections it keeps. */
export class Realtime extends Construct {
  readonly webSocketApi: WebSocketApi;
  readonly stage: WebSocketStage;
  /** The stage's access log (connects, messages, disconnects, with their status). */
  readonly accessLogGroup: LogGroup;
  readonly connectionsTable: Table;
  readonly webSocketFunction: VigiaFunction;
  readonly authorizerFunction: VigiaFunction;

  constructor(scope: Construct, id: string, props: RealtimeProps) {
    super(scope, id);
    this.connectionsTable = tableFromDefinition(this, 'Connections', CONNECTIONS_TABLE, {
      removalPolicy: props.removalPolicy,
    });

    this.webSocketFunction = props.functions
      .createFunction(this, 'WebSocketFunction', {
        handler: 'websocket',
        description: 'Connects dashboards, keeps their subscriptions and sends their commands to devices',
      })
      // Opened (PutItem), subscriptions read and set (GetItem, UpdateItem), command budget (UpdateItem), closed (DeleteItem).
      .useTable(ENV.connectionsTable, this.connectionsTable, ...dynamodbActions('GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'))
      .useTable(ENV.sensorsTable, props.sensorsTable, 'dynamodb:GetItem');
    this.webSocketFunction.addEnvironment(ENV.iotDataEndpoint, props.devices.dataEndpoint);
    props.devices.grantCommandPublish(this.webSocketFunction);
    Validations.of(this.webSocketFunction.role!).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:topic/sensors/*/commands]',
      reason: 'A dashboard may command any sensor; the wildcard spans sensor ids only, on the commands topics only.',
    });

    // Sign-in is on: the function gives the command right to the operator role only.
    props.auth.configureVerifier(this.webSocketFunction);
    this.authorizerFunction = props.functions.createFunction(this, 'ConnectAuthorizerFunction', {
      handler: 'ws-authorizer',
      description: 'Lets a dashboard connect with a valid ID token of the operator or viewer group',
    });
    props.auth.configureVerifier(this.authorizerFunction);
    const authorizer = new WebSocketLambdaAuthorizer('DashboardSignIn', this.authorizerFunction, {
      identitySource: ['route.request.querystring.token'],
    });

    // One integration object for every route: it binds once per API, so all routes share it.
    const integration = new WebSocketLambdaIntegration('WebSocketHandler', this.webSocketFunction);
    this.webSocketApi = new WebSocketApi(this, 'Api', {
      apiName: `${Stack.of(this).stackName}-live`,
      description: 'vigia live readings, presence and commands',
      routeSelectionExpression: '$request.body.action',
      connectRouteOptions: { integration, authorizer },
      disconnectRouteOptions: { integration },
      defaultRouteOptions: { integration },
    });
    // Client → server actions of contract §6, each a route of its own.
    for (const action of WS_ACTIONS) {
      this.webSocketApi.addRoute(action, { integration });
    }

    const throttle = props.throttle ?? { rateLimit: 100, burstLimit: 200 };
    // WebSocket stages log through the account's API Gateway CloudWatch role; set it as RestApi's
    // cloudWatchRole does (kept on stack deletion: other APIs of the account may rely on it).
    const cloudWatchRole = new Role(this, 'ApiGatewayCloudWatchRole', {
      assumedBy: new ServicePrincipal('apigateway.amazonaws.com'),
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs')],
    });
    cloudWatchRole.applyRemovalPolicy(RemovalPolicy.RETAIN);
    Validations.of(cloudWatchRole).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason: "AWS's own policy for API Gateway's account-level logging role, as CDK's RestApi uses it.",
    });
    const account = new CfnAccount(this, 'ApiGatewayAccount', { cloudWatchRoleArn: cloudWatchRole.roleArn });
    account.applyRemovalPolicy(RemovalPolicy.RETAIN);
    this.accessLogGroup = new LogGroup(this, 'AccessLogs', { retention: props.functions.logRetention });
    this.stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: this.webSocketApi,
      stageName: props.stageName ?? 'live',
      autoDeploy: true,
      throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogGroup),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            eventType: '$context.eventType',
            routeKey: '$context.routeKey',
            status: '$context.status',
            connectionId: '$context.connectionId',
            error: '$context.error.message',
          }),
        ),
      },
    });
    this.stage.node.addDependency(account);
    this.acknowledgeOpenRoutes();

    this.grantPush(this.webSocketFunction);
  }

  /** `https://{api}.execute-api.{region}.amazonaws.com/{stage}`: where functions push frames. */
  get managementEndpoint(): string {
    return this.stage.callbackUrl;
  }

  /** `wss://{api}.execute-api.{region}.amazonaws.com/{stage}`: what dashboards connect to. */
  get url(): string {
    return this.stage.url;
  }

  /** Lets `fn` push frames to (and close) connections of this stage, and tells it where. */
  grantPush(fn: VigiaFunction): void {
    fn.addEnvironment(ENV.wsManagementEndpoint, this.managementEndpoint);
    this.stage.grantManagementApiAccess(fn);
    const apiLogicalId = Stack.of(this).getLogicalId(this.webSocketApi.node.defaultChild as CfnElement);
    const connectionsArn = `arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${apiLogicalId}>/${this.stage.stageName}/*/@connections/*`;
    Validations.of(fn.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${connectionsArn}]`,
      reason: "Connection ids are made at run time; the grant is limited to this API stage's @connections.",
    });
  }

  /** API Gateway authorizes a WebSocket connection once, at $connect; its other routes cannot take an authorizer. */
  private acknowledgeOpenRoutes(): void {
    for (const route of this.webSocketApi.node.findAll()) {
      if (!(route instanceof CfnRoute) || route.routeKey === '$connect') continue;
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'WebSocket authorizers run on $connect only, which has the sign-in authorizer; every later frame ' +
          'belongs to an authorized connection, and commands are checked against its role.',
      });
    }
  }
}
