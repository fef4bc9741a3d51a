import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { arnOf, ref, type SynthesizedVigia, synthVigia } from './synth.js';

let vigia: SynthesizedVigia;
let resources: Record<string, any>;
beforeAll(() => {
  vigia = synthVigia();
  resources = vigia.template.toJSON().Resources;
});

describe('Realtime (WebSocket API)', () => {
  it("logs every WebSocket request to its own log group, after the account's API Gateway CloudWatch role is set", () => {
    const stageId = vigia.logicalId(vigia.stack.realtime.stage);
    const stage = resources[stageId];
    const logGroupId = vigia.logicalId(vigia.stack.realtime.accessLogGroup);
    expect(stage.Properties.AccessLogSettings.DestinationArn).toEqual({ 'Fn::GetAtt': [logGroupId, 'Arn'] });
    const format = JSON.parse(stage.Properties.AccessLogSettings.Format);
    expect(format).toMatchObject({ requestId: '$context.requestId', routeKey: '$context.routeKey', status: '$context.status' });
    expect(resources[logGroupId].Properties.RetentionInDays).toEqual(expect.any(Number));

    const [accountId, account] = Object.entries(resources).find(([, r]) => r.Type === 'AWS::ApiGateway::Account')!;
    expect(stage.DependsOn).toContain(accountId);
    const role = resources[account.Properties.CloudWatchRoleArn['Fn::GetAtt'][0]];
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toContainEqual(
      expect.objectContaining({ Principal: { Service: 'apigateway.amazonaws.com' }, Action: 'sts:AssumeRole' }),
    );
    expect(JSON.stringify(role.Properties.ManagedPolicyArns)).toContain('AmazonAPIGatewayPushToCloudWatchLogs');
  });

  it('routes on the action field of the body', () => {
    vigia.template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.action',
    });
  });

  it('sends every route, $connect to ping, to the one websocket function', () => {
    const apiId = vigia.logicalId(vigia.stack.realtime.webSocketApi);
    const fnId = vigia.logicalId(vigia.stack.realtime.webSocketFunction);
    const routes = Object.values(
      vigia.template.findResources('AWS::ApiGatewayV2::Route', {
        Properties: { ApiId: ref(apiId) },
      }),
    );
    const keys = routes.map((r) => r.Properties.RouteKey).sort();
    expect(keys).toEqual(['$connect', '$default', '$disconnect', 'command', 'ping', 'subscribe', 'unsubscribe'].sort());
    for (const route of routes) {
      const integrationId = route.Properties.Target['Fn::Join'][1][1].Ref;
      const integration = resources[integrationId].Properties;
      expect(integration.IntegrationType).toBe('AWS_PROXY');
      expect(JSON.stringify(integration.IntegrationUri)).toContain(JSON.stringify(arnOf(fnId)));
    }
  });

  it('deploys its stage automatically, throttled', () => {
    const apiId = vigia.logicalId(vigia.stack.realtime.webSocketApi);
    vigia.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      ApiId: ref(apiId),
      StageName: vigia.stack.realtime.stage.stageName,
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: Match.anyValue(), ThrottlingBurstLimit: Match.anyValue() },
    });
  });

  it('keeps connections in a table with a TTL', () => {
    const table = resources[vigia.logicalId(vigia.stack.realtime.connectionsTable)].Properties;
    expect(table.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
  });
});

describe('Api (HTTP API)', () => {
  it('answers the routes of the contract (§5 GETs, §8 alerts, the batched /readings) with the http-api function', () => {
    const apiId = vigia.logicalId(vigia.stack.api.httpApi);
    const fnId = vigia.logicalId(vigia.stack.api.handler);
    const routes = Object.values(
      vigia.template.findResources('AWS::ApiGatewayV2::Route', {
        Properties: { ApiId: ref(apiId) },
      }),
    );
    expect(routes.map((r) => r.Properties.RouteKey).sort()).toEqual(
      [
        'GET /health',
        'GET /sensors',
        'GET /sensors/{sensorId}',
        'GET /sensors/{sensorId}/readings',
        'GET /readings',
        'GET /alert-rules',
        'POST /alert-rules',
        'GET /alert-rules/{ruleId}',
        'PUT /alert-rules/{ruleId}',
        'DELETE /alert-rules/{ruleId}',
        'GET /alerts',
        'GET /alerts/history',
        'POST /alerts/{alertId}/ack',
      ].sort(),
    );
    for (const route of routes) {
      const integration = resources[route.Properties.Target['Fn::Join'][1][1].Ref].Properties;
      expect(integration.IntegrationUri).toEqual(arnOf(fnId));
    }
  });

  it("allows CORS only from the dashboard's CloudFront origin, for GET and the alert routes' methods", () => {
    const distributionId = vigia.logicalId(vigia.stack.dashboard.distribution);
    vigia.template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'HTTP',
      CorsConfiguration: Match.objectLike({
        AllowOrigins: [{ 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distributionId, 'DomainName'] }]] }],
        AllowMethods: ['GET', 'POST', 'PUT', 'DELETE'],
      }),
    });
  });

  it('throttles its $default stage (rate 50, burst 100) and keeps access logs', () => {
    vigia.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      ApiId: ref(vigia.logicalId(vigia.stack.api.httpApi)),
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      AccessLogSettings: { DestinationArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] }, Format: Match.anyValue() },
    });
  });

  it('access logs are one JSON object per request, of HTTP API $context variables only', () => {
    const [stage] = Object.values(vigia.template.findResources('AWS::ApiGatewayV2::Stage', { Properties: { StageName: '$default' } }));
    const format = JSON.parse(stage.Properties.AccessLogSettings.Format) as Record<string, string>;
    expect(format).toMatchObject({ requestId: '$context.requestId', status: '$context.status', routeKey: '$context.routeKey' });
    // Variables of REST APIs only, which an HTTP API logs as "-".
    for (const restOnly of ['$context.resourcePath', '$context.identity.caller', '$context.identity.user']) {
      expect(Object.values(format)).not.toContain(restOnly);
    }
    for (const value of Object.values(format)) expect(value).toMatch(/^\$context\.[A-Za-z.]+$/);
  });
});
