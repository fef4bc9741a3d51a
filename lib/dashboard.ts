import {
  BOOTSTRAP_QUALIFIER_CONTEXT,
  type CfnElement,
  DefaultStackSynthesizer,
  Duration,
  RemovalPolicy,
  Stack,
  Validations,
} from 'aws-cdk-lib';
import {
  AccessLevel,
  AllowedMethods,
  CachePolicy,
  Distribution,
  HeadersFrameOption,
  HeadersReferrerPolicy,
  HttpVersion,
  PriceClass,
  ResponseHeadersPolicy,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, CacheControl, Source } from 'aws-cdk-lib/aws-s3-deployment';
import type { ILogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { dashboardContentSecurityPolicy } from '../lambdas/shared/csp.js';
import { OPENAPI_DOCUMENT } from '../lambdas/shared/openapi.js';
import type { DashboardAuthConfig } from '../lambdas/shared/names.js';
import { dashboardSource } from './dashboard-build.js';

const CONFIG_FILE = 'config.json';
/** The HTTP API's OpenAPI document, written beside config.json with the deployed apiUrl as its server. */
const OPENAPI_FILE = 'openapi.json';
/** Vite's build.assetsDir: file names carry a content hash. */
const HASHED_ASSETS_DIR = 'assets';

export interface DashboardProps {
  /**
   * Folder whose files are served as the dashboard, as they are.
   * @default the dashboard built by Vite from frontend/ at asset bundling (see dashboard-build.ts)
   */
  readonly siteDir?: string;
  /**
   * CloudFront price class (edge locations used).
   * @default PriceClass.PRICE_CLASS_100
   */
  readonly priceClass?: PriceClass;
  /**
   * Days access logs (S3 server access logs and CloudFront logs) are kept.
   * @default 90
   */
  readonly accessLogDays?: number;
  /**
   * What happens to the buckets when they leave the stack. The site bucket only holds deployed
   * files, so it is emptied and destroyed with DESTROY.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Log group of the BucketDeployment provider function (aws-cdk-lib's), so its logs have a retention.
   * @default - the provider's own, kept forever
   */
  readonly deploymentLogGroup?: ILogGroup;
}

/**
 * The dashboard's web origin: a private bucket served only through CloudFront (origin access
 * control), HTTPS only, with security headers; unknown paths fall back to index.html (SPA routes).
 */
export class Dashboard extends Construct {
  readonly siteBucket: Bucket;
  readonly logsBucket: Bucket;
  readonly distribution: Distribution;
  /** index.html and the other unhashed files (Cache-Control: no-cache). */
  readonly siteDeployment: BucketDeployment;
  /** The hashed scripts and styles (cached a year, kept across deploys). */
  readonly assetsDeployment: BucketDeployment;

  constructor(scope: Construct, id: string, props: DashboardProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const autoDeleteObjects = removalPolicy === RemovalPolicy.DESTROY;

    // CloudFront standard logs are written with ACLs, hence BUCKET_OWNER_PREFERRED on this bucket only.
    this.logsBucket = new Bucket(this, 'AccessLogs', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(props.accessLogDays ?? 90) }],
      removalPolicy,
      autoDeleteObjects,
    });
    Validations.of(this.logsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access-log bucket itself; logging it into itself would loop.',
    });

    this.siteBucket = new Bucket(this, 'Site', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.logsBucket,
      serverAccessLogsPrefix: 's3/',
      removalPolicy,
      autoDeleteObjects,
    });

    // LIST lets S3 answer 404 (not 403) for a missing key, so only a real 404 becomes index.html.
    const origin = S3BucketOrigin.withOriginAccessControl(this.siteBucket, {
      originAccessLevels: [AccessLevel.READ, AccessLevel.LIST],
    });
    // The managed SECURITY_HEADERS set plus a Content-Security-Policy: no inline script, and connections only
    // to this region's API Gateway endpoints and the Cognito managed login (token endpoint).
    const region = Stack.of(this).region;
    const securityHeaders = new ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: 'vigia dashboard: security headers and Content-Security-Policy',
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          contentSecurityPolicy: dashboardContentSecurityPolicy([
            `https://*.execute-api.${region}.amazonaws.com`,
            `wss://*.execute-api.${region}.amazonaws.com`,
            `https://*.auth.${region}.amazoncognito.com`,
          ]),
          override: true,
        },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override: true },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), includeSubdomains: true, override: true },
        xssProtection: { protection: true, modeBlock: true, override: true },
      },
    });
    this.distribution = new Distribution(this, 'Distribution', {
      comment: 'vigia dashboard',
      defaultRootObject: 'index.html',
      httpVersion: HttpVersion.HTTP2_AND_3,
      priceClass: props.priceClass ?? PriceClass.PRICE_CLASS_100,
      enableLogging: true,
      logBucket: this.logsBucket,
      logFilePrefix: 'cloudfront/',
      defaultBehavior: {
        origin,
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: securityHeaders,
        compress: true,
      },
      additionalBehaviors: {
        // Endpoints change with each deployment; the dashboard must never read a stale copy.
        [`/${CONFIG_FILE}`]: {
          origin,
          viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
          allowedMethods: AllowedMethods.ALLOW_GET_HEAD,
          cachePolicy: CachePolicy.CACHING_DISABLED,
          responseHeadersPolicy: securityHeaders,
        },
      },
      errorResponses: [{ httpStatus: 404, responseHttpStatus: 200, responsePagePath: '/index.html', ttl: Duration.seconds(0) }],
    });
    Validations.of(this.distribution).acknowledge(
      {
        id: 'AwsSolutions-CFR4',
        reason: 'No custom domain yet: the default *.cloudfront.net certificate cannot pin a minimum TLS version.',
      },
      {
        id: 'Annotation::@aws-cdk/aws-cloudfront-origins:listBucketSecurityRisk',
        reason: 'defaultRootObject is index.html, so the root never answers a bucket listing.',
      },
      { id: 'AwsSolutions-CFR1', reason: 'Sensors and operators may be anywhere; no country is to be refused.' },
      {
        id: 'AwsSolutions-CFR2',
        reason:
          'Static files only: every data request goes to the HTTP and WebSocket APIs, which verify Cognito tokens ' +
          '(managed login, threat protection enforced) and are throttled per stage. A CloudFront web ACL must live in ' +
          'us-east-1 (a second stack) and costs from $5 a month, so it is left to deployments that need IP or bot rules.',
      },
    );

    const site = props.siteDir ? Source.asset(props.siteDir, { exclude: [CONFIG_FILE] }) : dashboardSource({ exclude: [CONFIG_FILE] });
    // Hashed assets first, cached for a year and never pruned, so a tab still holding the previous index.html
    // loads its scripts after a deploy; then index.html and the rest, revalidated on every load.
    this.assetsDeployment = new BucketDeployment(this, 'AssetsDeployment', {
      sources: [site],
      destinationBucket: this.siteBucket,
      exclude: ['*'],
      include: [`${HASHED_ASSETS_DIR}/*`],
      prune: false,
      cacheControl: [CacheControl.fromString('public, max-age=31536000, immutable')],
      logGroup: props.deploymentLogGroup,
    });
    this.siteDeployment = new BucketDeployment(this, 'SiteDeployment', {
      sources: [site],
      destinationBucket: this.siteBucket,
      // config.json and openapi.json are written by DashboardConfig and the hashed assets above; keep them out of this prune.
      exclude: [CONFIG_FILE, OPENAPI_FILE, `${HASHED_ASSETS_DIR}/*`],
      cacheControl: [CacheControl.noCache()],
      distribution: this.distribution,
      distributionPaths: ['/*'],
      logGroup: props.deploymentLogGroup,
    });
    this.siteDeployment.node.addDependency(this.assetsDeployment);
    this.acknowledgeDeploymentProvider();
  }

  /** cdk-nag findings on aws-cdk-lib's BucketDeployment provider: its code, runtime and role are the library's. */
  private acknowledgeDeploymentProvider(): void {
    const stack = Stack.of(this);
    const provider = stack.node.children.find((c) => c.node.id.startsWith('Custom::CDKBucketDeployment'));
    if (!provider) throw new Error('BucketDeployment provider not found; update the acknowledgements');
    const siteBucketId = stack.getLogicalId(this.siteBucket.node.defaultChild as CfnElement);
    const reason = (what: string) => `aws-cdk-lib BucketDeployment provider: ${what}`;
    Validations.of(provider).acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: reason('its role carries the basic execution policy, which only lets it write its own logs.'),
      },
      { id: 'AwsSolutions-L1', reason: reason('its Python runtime is chosen and upgraded by aws-cdk-lib.') },
      ...['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:Abort*'].map((action) => ({
        id: `AwsSolutions-IAM5[Action::${action}]`,
        reason: reason('it syncs files into the dashboard bucket (read, list, delete stale files, abort uploads).'),
      })),
      {
        id: `AwsSolutions-IAM5[Resource::<${siteBucketId}.Arn>/*]`,
        reason: reason('it writes the dashboard files, whose keys are known only at deploy time, into the site bucket.'),
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-${bootstrapQualifier(stack)}-assets-<AWS::AccountId>-<AWS::Region>/*]`,
        reason: reason('it reads the deployment archives from the CDK assets bucket; their keys are content hashes.'),
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: reason(
          'the library grants cloudfront:CreateInvalidation/GetInvalidation on "*" to refresh the dashboard after a deployment.',
        ),
      },
    );
  }

  /** `https://{distribution domain}`, the dashboard's origin. */
  get url(): string {
    return `https://${this.distribution.distributionDomainName}`;
  }
}

/** The CDK bootstrap qualifier the stack deploys with (context `@aws-cdk/core:bootstrapQualifier`, else the default). */
function bootstrapQualifier(stack: Stack): string {
  const synthesizer = stack.synthesizer;
  return (
    (synthesizer instanceof DefaultStackSynthesizer ? synthesizer.bootstrapQualifier : undefined) ??
    (stack.node.tryGetContext(BOOTSTRAP_QUALIFIER_CONTEXT) as string | undefined) ??
    DefaultStackSynthesizer.DEFAULT_QUALIFIER
  );
}

export interface DashboardConfigProps {
  readonly dashboard: Dashboard;
  /** HTTP API base URL, without trailing slash. */
  readonly apiUrl: string;
  /** WebSocket URL, `wss://…/{stage}`. */
  readonly wsUrl: string;
  /**
   * How the dashboard signs in (issuer, client id, managed login URLs, scope).
   * @default null: no sign-in
   */
  readonly auth?: DashboardAuthConfig | null;
  /** @default - the provider's own log group (see DashboardProps.deploymentLogGroup) */
  readonly deploymentLogGroup?: ILogGroup;
}

/**
 * Writes `/config.json` (contract §5) once the API URLs exist: a deployment of its own, so the site
 * bucket and distribution can be made before the APIs that need the dashboard's origin for CORS.
 */
export class DashboardConfig extends Construct {
  readonly deployment: BucketDeployment;

  constructor(scope: Construct, id: string, props: DashboardConfigProps) {
    super(scope, id);
    this.deployment = new BucketDeployment(this, 'Deployment', {
      sources: [
        Source.jsonData(CONFIG_FILE, { apiUrl: props.apiUrl, wsUrl: props.wsUrl, auth: props.auth ?? null }),
        Source.jsonData(OPENAPI_FILE, { ...OPENAPI_DOCUMENT, servers: [{ url: props.apiUrl, description: 'This deployment.' }] }),
      ],
      destinationBucket: props.dashboard.siteBucket,
      prune: false,
      cacheControl: [CacheControl.noCache()],
      logGroup: props.deploymentLogGroup,
    });
    this.deployment.node.addDependency(props.dashboard.siteDeployment);
  }
}
