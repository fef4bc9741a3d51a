import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import {
  AccountRecovery,
  CfnManagedLoginBranding,
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

  constructor(scope: Construct, id: string, props: AuthProps) {
    super(scope, id);
    const stack = Stack.of(this);

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
      // Plus: threat protection blocks risky sign-ins and compromised passwords.
      featurePlan: FeaturePlan.PLUS,
      standardThreatProtectionMode: StandardThreatProtectionMode.FULL_FUNCTION,
      deletionProtection: (props.removalPolicy ?? RemovalPolicy.RETAIN) === RemovalPolicy.RETAIN,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    Validations.of(this.userPool).acknowledge({
      id: 'AwsSolutions-COG2',
      reason:
        'MFA is optional (TOTP): users are invited by an administrator, threat protection (Plus) blocks risky ' +
        'sign-ins, and the dashboard reads sensor data; require it with mfa: Mfa.REQUIRED where policy says so.',
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
