import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { arnOf, ref, type SynthesizedVigia, synthVigia } from './synth.js';

let vigia: SynthesizedVigia;
let resources: Record<string, any>;
let poolId: string;
let clientId: string;
beforeAll(() => {
  vigia = synthVigia();
  resources = vigia.template.toJSON().Resources;
  poolId = vigia.logicalId(vigia.stack.auth.userPool);
  clientId = vigia.logicalId(vigia.stack.auth.client);
});

const routesOf = (apiLogicalId: string) =>
  Object.values(vigia.template.findResources('AWS::ApiGatewayV2::Route', { Properties: { ApiId: ref(apiLogicalId) } })) as Array<{
    Properties: { RouteKey: string; AuthorizationType?: string; AuthorizerId?: { Ref: string } };
  }>;

describe('Auth (Cognito)', () => {
  it('has a user pool whose users only an administrator creates, with a strong password policy and threat protection', () => {
    vigia.template.hasResourceProperties('AWS::Cognito::UserPool', {
      AdminCreateUserConfig: Match.objectLike({ AllowAdminCreateUserOnly: true }),
      Policies: {
        PasswordPolicy: Match.objectLike({
          MinimumLength: Match.anyValue(),
          RequireUppercase: true,
          RequireLowercase: true,
          RequireNumbers: true,
          RequireSymbols: true,
        }),
      },
      UserPoolTier: 'PLUS',
      MfaConfiguration: 'OPTIONAL',
    });
    expect(resources[poolId].Properties.Policies.PasswordPolicy.MinimumLength).toBeGreaterThanOrEqual(8);
  });

  it('threat protection audits first (context threatProtection), then enforces, with its risk actions stated', () => {
    expect(resources[poolId].Properties.UserPoolAddOns).toEqual({ AdvancedSecurityMode: 'AUDIT' });
    const enforced = synthVigia({ threatProtection: 'enforce' });
    enforced.template.hasResourceProperties('AWS::Cognito::UserPool', { UserPoolAddOns: { AdvancedSecurityMode: 'ENFORCED' } });
    for (const v of [vigia, enforced]) {
      v.template.hasResourceProperties('AWS::Cognito::UserPoolRiskConfigurationAttachment', {
        UserPoolId: ref(v.logicalId(v.stack.auth.userPool)),
        ClientId: 'ALL',
        AccountTakeoverRiskConfiguration: {
          Actions: {
            HighAction: { EventAction: 'BLOCK', Notify: false },
            MediumAction: { EventAction: 'MFA_IF_CONFIGURED', Notify: false },
            LowAction: { EventAction: 'NO_ACTION', Notify: false },
          },
        },
        CompromisedCredentialsRiskConfiguration: { Actions: { EventAction: 'BLOCK' }, EventFilter: ['SIGN_IN', 'PASSWORD_CHANGE'] },
      });
    }
    expect(() => synthVigia({ threatProtection: 'block' })).toThrow(/threatProtection must be audit or enforce/);
  });

  it('has the groups operator and viewer in that pool', () => {
    const groups = Object.values(vigia.template.findResources('AWS::Cognito::UserPoolGroup', { Properties: { UserPoolId: ref(poolId) } }));
    expect(groups.map((g) => g.Properties.GroupName).sort()).toEqual(['operator', 'viewer']);
  });

  it('has a public app client for the dashboard: code grant (PKCE), no secret, openid email profile, callbacks to the dashboard', () => {
    const distributionId = vigia.logicalId(vigia.stack.dashboard.distribution);
    const dashboardUrl = { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distributionId, 'DomainName'] }]] };
    vigia.template.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      UserPoolId: ref(poolId),
      GenerateSecret: false,
      AllowedOAuthFlowsUserPoolClient: true,
      AllowedOAuthFlows: ['code'],
      AllowedOAuthScopes: Match.arrayEquals(['openid', 'email', 'profile']),
      CallbackURLs: Match.arrayWith([dashboardUrl]),
      LogoutURLs: Match.arrayWith([dashboardUrl]),
      SupportedIdentityProviders: ['COGNITO'],
      PreventUserExistenceErrors: 'ENABLED',
    });
    const client = resources[clientId].Properties;
    expect(client.AllowedOAuthFlows).not.toContain('implicit');
    expect(client.ExplicitAuthFlows ?? []).not.toContain('ALLOW_USER_PASSWORD_AUTH');
  });

  it('has a managed login domain and a style for the client', () => {
    vigia.template.hasResourceProperties('AWS::Cognito::UserPoolDomain', {
      UserPoolId: ref(poolId),
      ManagedLoginVersion: 2,
      Domain: Match.anyValue(),
    });
    vigia.template.hasResourceProperties('AWS::Cognito::ManagedLoginBranding', {
      UserPoolId: ref(poolId),
      ClientId: ref(clientId),
      UseCognitoProvidedValues: true,
    });
  });
});

describe('sign-in on the APIs', () => {
  it('guards every HTTP API route but GET /health with a JWT authorizer for the pool and the dashboard client', () => {
    const apiId = vigia.logicalId(vigia.stack.api.httpApi);
    const routes = routesOf(apiId);
    // Every route of the contract (§5, §8 and the batched /readings) is here; only /health is public.
    expect(routes.map((r) => r.Properties.RouteKey)).toEqual(expect.arrayContaining(['GET /health', 'GET /sensors', 'POST /alert-rules']));
    expect(routes.filter((r) => (r.Properties.AuthorizationType ?? 'NONE') === 'NONE').map((r) => r.Properties.RouteKey)).toEqual([
      'GET /health',
    ]);
    for (const route of routes) {
      if (route.Properties.RouteKey === 'GET /health') {
        expect(route.Properties.AuthorizationType ?? 'NONE').toBe('NONE');
        continue;
      }
      expect(route.Properties.AuthorizationType, route.Properties.RouteKey).toBe('JWT');
      const authorizer = resources[route.Properties.AuthorizerId!.Ref].Properties;
      expect(authorizer.AuthorizerType).toBe('JWT');
      expect(authorizer.IdentitySource).toEqual(['$request.header.Authorization']);
      expect(authorizer.JwtConfiguration.Audience).toEqual([ref(clientId)]);
      const issuer = JSON.stringify(authorizer.JwtConfiguration.Issuer);
      expect(issuer).toContain('https://cognito-idp.');
      expect(issuer).toContain(JSON.stringify(ref(poolId)));
    }
  });

  it('authorizes WebSocket $connect with the ws-authorizer function on the token query parameter, and only $connect', () => {
    const apiId = vigia.logicalId(vigia.stack.realtime.webSocketApi);
    const fnId = vigia.logicalId(vigia.stack.realtime.authorizerFunction);
    for (const route of routesOf(apiId)) {
      if (route.Properties.RouteKey !== '$connect') {
        expect(route.Properties.AuthorizationType ?? 'NONE', route.Properties.RouteKey).toBe('NONE');
        continue;
      }
      expect(route.Properties.AuthorizationType).toBe('CUSTOM');
      const authorizer = resources[route.Properties.AuthorizerId!.Ref].Properties;
      expect(authorizer.AuthorizerType).toBe('REQUEST');
      expect(authorizer.IdentitySource).toEqual(['route.request.querystring.token']);
      expect(JSON.stringify(authorizer.AuthorizerUri)).toContain(JSON.stringify(arnOf(fnId)));
    }
    vigia.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: arnOf(fnId),
      Principal: 'apigateway.amazonaws.com',
    });
  });

  it('tells the authorizer, websocket and http-api functions the issuer, audience and JWKS of the pool', () => {
    for (const fn of [vigia.stack.realtime.authorizerFunction, vigia.stack.realtime.webSocketFunction, vigia.stack.api.handler]) {
      const env = resources[vigia.logicalId(fn)].Properties.Environment.Variables;
      expect(JSON.stringify(env.AUTH_ISSUER)).toContain(JSON.stringify(ref(poolId)));
      expect(env.AUTH_AUDIENCE).toEqual(ref(clientId));
      expect(JSON.stringify(env.AUTH_JWKS_URI)).toContain('/.well-known/jwks.json');
    }
  });

  it('writes the auth block into config.json: the client, the pool issuer and the managed login domain', () => {
    const config = resources[vigia.logicalId(vigia.stack.dashboardConfig.deployment.node.findChild('CustomResource'))];
    const markers = JSON.stringify(config.Properties.SourceMarkers);
    expect(markers).toContain(JSON.stringify(ref(clientId)));
    expect(markers).toContain(JSON.stringify(ref(poolId)));
    expect(markers).toContain(JSON.stringify(ref(vigia.logicalId(vigia.stack.auth.domain))));
    expect(vigia.stack.auth.dashboardConfig.scope).toBe('openid email profile');
    const auth = vigia.stack.resolve(vigia.stack.auth.dashboardConfig);
    expect(JSON.stringify(auth.authorizeUrl)).toContain('/oauth2/authorize');
    expect(JSON.stringify(auth.tokenUrl)).toContain('/oauth2/token');
    expect(JSON.stringify(auth.logoutUrl)).toContain('/logout');
  });
});
