import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import {
  AccountRecovery,
  CfnManagedLoginBranding,
  CfnUserPoolRiskConfigurationAttachment,
  CfnUserPoolGroup,
  FeaturePlan,
  ManagedLoginVersion,
  Mfa,
  OAuthScope,
  StandardThreatProtectionMode,
  UserPool,
  type UserPoolClient,
  UserPoolClientIdentityProvider,
  type UserPoolDomain,
} from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';
import { ENV, ROLES } from '../lambdas/shared/names.js';
import type { DashboardAuthConfig } from '../lambdas/shared/names.js';
import type { VigiaFunction } from './function-defaults.js';

export const AUTH_SCOPE = 'openid email profile';

/** What threat protection does at each account-takeover risk level (in enforce mode), notifying no one. */
const TAKEOVER_ACTIONS = { high: 'BLOCK', medium: 'MFA_IF_CONFIGURED', low: 'NO_ACTION' } as const;

export interface AuthProps {
  /** The dashboard's origin (`https://…cloudfront.net`): the only sign-in callback and sign-out target. */
  readonly dashboardUrl: string;
  /**
   * Prefix of the managed login domain `https://{prefix}.auth.{region}.amazoncognito.com`, unique in the region.
   * @default the stack name in lower case and the account id, e.g. `vigiastack-123456789012`
   */
  readonly domainPrefix?: string;
  /**
   * What happens to the user pool (the users) when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Threat protection (Plus plan): `audit` scores and logs every sign-in's risk without acting, `enforce` applies
   * the risk configuration below. Run `audit` first, read the risk metrics (AWS/Cognito, e.g.
   * AccountTakeoverRisk, CompromisedCredentialsRisk) for a while, then deploy `enforce`. Context key
   * `threatProtection`.
   * @default 'audit'
   */
  readonly threatProtection?: ThreatProtection;
}

export type ThreatProtection = 'audit' | 'enforce';

/** The `threatProtection` context value, checked. */
export function threatProtectionFromContext(scope: Construct): ThreatProtection {
  const value = (scope.node.tryGetContext('threatProtection') as string | undefined) ?? 'audit';
  if (value !== 'audit' && value !== 'enforce') throw new Error(`Context key threatProtection must be audit or enforce, got "${value}"`);
  return value;
}

/**
 * Dashboard sign-in: a Cognito user pool whose users an administrator invites (no self sign-up), the groups
 * `operator` (read, subscribe, command) and `viewer` (read, subscribe), a public app client for the
 * dashboard (authorization code grant with PKCE) and the managed login pages.
 */
export class Auth extends Construct {
  readonly userPool: UserPool;
  readonly client: UserPoolClient;
  readonly domain: UserPoolDomain;
  readonly threatProtection: ThreatProtection;
  readonly riskConfiguration: CfnUserPoolRiskConfigurationAttachment;

  constructor(scope: Construct, id: string, props: AuthProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const threatProtection = (this.threatProtection = props.threatProtection ?? 'audit');

    this.userPool = new UserPool(this, 'Users', {
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      signInCaseSensitive: false,
      autoVerify: { email: true },
      userInvitation: {
        emailSubject: 'Your vigia dashboard account',
        emailBody: `Sign in to the vigia dashboard (${props.dashboardUrl}) as {username} with the temporary password {####}.`,
      },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      mfa: Mfa.OPTIONAL,
      mfaSecondFactor: { otp: true, sms: false },
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      // Plus (threat protection): $0.02 per monthly active user, no free tier (us-east-1 list price, 2025).
      featurePlan: FeaturePlan.PLUS,
      standardThreatProtectionMode:
        threatProtection === 'enforce' ? StandardThreatProtectionMode.FULL_FUNCTION : StandardThreatProtectionMode.AUDIT_ONLY,
      deletionProtection: (props.removalPolicy ?? RemovalPolicy.RETAIN) === RemovalPolicy.RETAIN,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    Validations.of(this.userPool).acknowledge({
      id: 'AwsSolutions-COG2',
      reason:
        'MFA is optional (TOTP): users are invited by an administrator, threat protection (Plus) blocks risky ' +
        'sign-ins, and the dashboard reads sensor data; require it with mfa: Mfa.REQUIRED where policy says so.',
    });
    if (threatProtection === 'audit') {
      Validations.of(this.userPool).acknowledge({
        id: 'AwsSolutions-COG3',
        reason:
          'Threat protection runs in audit mode first (risk scored and logged, no action) so the risk configuration ' +
          'can be checked against real sign-ins; deploy with -c threatProtection=enforce to enforce it.',
      });
    }
    // The actions, stated rather than left to Cognito's defaults; they act only in enforce mode.
    this.riskConfiguration = new CfnUserPoolRiskConfigurationAttachment(this, 'RiskConfiguration', {
      userPoolId: this.userPool.userPoolId,
      clientId: 'ALL',
      accountTakeoverRiskConfiguration: {
        actions: Object.fromEntries(
          Object.entries(TAKEOVER_ACTIONS).map(([level, eventAction]) => [`${level}Action`, { eventAction, notify: false }]),
        ),
      },
      compromisedCredentialsRiskConfiguration: {
        actions: { eventAction: 'BLOCK' },
        eventFilter: ['SIGN_IN', 'PASSWORD_CHANGE'],
      },
    });

    for (const role of ROLES) {
      new CfnUserPoolGroup(this, `${role}Group`, {
        userPoolId: this.userPool.userPoolId,
        groupName: role,
        description: role === 'operator' ? 'Reads, subscribes and sends commands to devices' : 'Reads and subscribes',
      });
    }

    const dashboard = props.dashboardUrl;
    this.client = this.userPool.addClient('Dashboard', {
      userPoolClientName: 'dashboard',
      generateSecret: false,
      authFlows: { userSrp: true },
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: [OAuthScope.OPENID, OAuthScope.EMAIL, OAuthScope.PROFILE],
        callbackUrls: [dashboard, `${dashboard}/`],
        logoutUrls: [dashboard, `${dashboard}/`],
      },
      supportedIdentityProviders: [UserPoolClientIdentityProvider.COGNITO],
      preventUserExistenceErrors: true,
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(30),
      enableTokenRevocation: true,
    });

    this.domain = this.userPool.addDomain('Login', {
      cognitoDomain: { domainPrefix: props.domainPrefix ?? `${stack.stackName.toLowerCase()}-${Aws.ACCOUNT_ID}` },
      managedLoginVersion: ManagedLoginVersion.NEWER_MANAGED_LOGIN,
    });
    // Managed login pages need a style for the client; Cognito's own is enough.
    new CfnManagedLoginBranding(this, 'LoginBranding', {
      userPoolId: this.userPool.userPoolId,
      clientId: this.client.userPoolClientId,
      useCognitoProvidedValues: true,
    });
  }

  /** `https://cognito-idp.{region}.amazonaws.com/{userPoolId}`: the `iss` of the pool's tokens. */
  get issuer(): string {
    return `https://cognito-idp.${Stack.of(this).region}.${Stack.of(this).urlSuffix}/${this.userPool.userPoolId}`;
  }

  get jwksUri(): string {
    return `${this.issuer}/.well-known/jwks.json`;
  }

  /** The `/config.json` auth block the dashboard signs in with. */
  get dashboardConfig(): DashboardAuthConfig {
    const base = this.domain.baseUrl();
    return {
      issuer: this.issuer,
      clientId: this.client.userPoolClientId,
      authorizeUrl: `${base}/oauth2/authorize`,
      tokenUrl: `${base}/oauth2/token`,
      logoutUrl: `${base}/logout`,
      scope: AUTH_SCOPE,
    };
  }

  /** Tells a function how to verify the dashboard's ID tokens (AUTH_ISSUER, AUTH_AUDIENCE, AUTH_JWKS_URI). */
  configureVerifier(fn: VigiaFunction): void {
    fn.addEnvironment(ENV.authIssuer, this.issuer);
    fn.addEnvironment(ENV.authAudience, this.client.userPoolClientId);
    fn.addEnvironment(ENV.authJwksUri, this.jwksUri);
  }
}
