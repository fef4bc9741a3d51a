import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { OPENAPI_DOCUMENT } from '../../lambdas/shared/openapi.js';
import { ref, type SynthesizedVigia, synthVigia } from './synth.js';

let vigia: SynthesizedVigia;
let resources: Record<string, any>;
beforeAll(() => {
  vigia = synthVigia();
  resources = vigia.template.toJSON().Resources;
});

const bucketPolicyOf = (bucketId: string) =>
  Object.values(resources).find((r) => r.Type === 'AWS::S3::BucketPolicy' && r.Properties.Bucket.Ref === bucketId)!.Properties
    .PolicyDocument.Statement as any[];

describe('Dashboard', () => {
  it('keeps the site bucket private: public access blocked, SSL enforced, encrypted, access-logged', () => {
    const bucket = resources[vigia.logicalId(vigia.stack.dashboard.siteBucket)].Properties;
    expect(bucket.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(bucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBeDefined();
    expect(bucket.LoggingConfiguration.DestinationBucketName).toEqual(ref(vigia.logicalId(vigia.stack.dashboard.logsBucket)));
    expect(bucket.WebsiteConfiguration).toBeUndefined();
  });

  it('lets only this distribution read (and list) the site bucket, and nobody in without TLS', () => {
    const bucketId = vigia.logicalId(vigia.stack.dashboard.siteBucket);
    const distributionId = vigia.logicalId(vigia.stack.dashboard.distribution);
    const statements = bucketPolicyOf(bucketId);
    for (const s of statements.filter((st) => st.Effect === 'Allow')) {
      expect(s.Principal).toEqual({ Service: 'cloudfront.amazonaws.com' });
      expect(JSON.stringify(s.Condition.StringEquals['AWS:SourceArn'])).toContain(`{"Ref":"${distributionId}"}`);
    }
    const allowed = statements.filter((s) => s.Effect === 'Allow').flatMap((s) => [s.Action].flat());
    expect(allowed.sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
    expect(statements).toContainEqual(expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
  });

  it('answers every dashboard path with a Content-Security-Policy that allows no inline script', () => {
    const config = resources[vigia.logicalId(vigia.stack.dashboard.distribution)].Properties.DistributionConfig;
    const policyIds = [config.DefaultCacheBehavior, ...config.CacheBehaviors].map((b: any) => b.ResponseHeadersPolicyId);
    for (const id of policyIds) {
      expect(id).toEqual({ Ref: expect.any(String) });
      const policy = resources[id.Ref];
      expect(policy.Type).toBe('AWS::CloudFront::ResponseHeadersPolicy');
      const headers = policy.Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig;
      const csp = JSON.stringify(headers.ContentSecurityPolicy.ContentSecurityPolicy);
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("object-src 'none'");
      expect(csp).toContain('wss://*.execute-api.');
      expect(csp).not.toContain('unsafe-inline');
      expect(headers.ContentSecurityPolicy.Override).toBe(true);
      expect(headers.StrictTransportSecurity).toMatchObject({ Override: true, IncludeSubdomains: true });
      expect(headers.ContentTypeOptions).toEqual({ Override: true });
      expect(headers.FrameOptions).toEqual({ FrameOption: 'DENY', Override: true });
    }
  });

  it('serves through CloudFront with origin access control, HTTPS only, security headers, index.html at the root', () => {
    const config = resources[vigia.logicalId(vigia.stack.dashboard.distribution)].Properties.DistributionConfig;
    expect(config.DefaultRootObject).toBe('index.html');
    expect(config.DefaultCacheBehavior.ViewerProtocolPolicy).toBe('redirect-to-https');
    expect(config.DefaultCacheBehavior.ResponseHeadersPolicyId).toBeDefined();
    for (const b of config.CacheBehaviors) expect(b.ViewerProtocolPolicy).toBe('redirect-to-https');
    const [origin] = config.Origins;
    expect(origin.DomainName).toEqual({
      'Fn::GetAtt': [vigia.logicalId(vigia.stack.dashboard.siteBucket), 'RegionalDomainName'],
    });
    expect(origin.OriginAccessControlId).toEqual({ 'Fn::GetAtt': [expect.any(String), 'Id'] });
    const oac = resources[origin.OriginAccessControlId['Fn::GetAtt'][0]];
    expect(oac.Type).toBe('AWS::CloudFront::OriginAccessControl');
    expect(oac.Properties.OriginAccessControlConfig).toMatchObject({ OriginAccessControlOriginType: 's3', SigningBehavior: 'always' });
    expect(origin.S3OriginConfig?.OriginAccessIdentity ?? '').toBe('');
  });

  it('falls back to index.html for 404 only (SPA routes), never for 403', () => {
    const config = resources[vigia.logicalId(vigia.stack.dashboard.distribution)].Properties.DistributionConfig;
    expect(config.CustomErrorResponses).toEqual([
      expect.objectContaining({ ErrorCode: 404, ResponseCode: 200, ResponsePagePath: '/index.html' }),
    ]);
  });

  it('compresses the dashboard files: Compress on, under a cache policy that keys on gzip and brotli', () => {
    const config = resources[vigia.logicalId(vigia.stack.dashboard.distribution)].Properties.DistributionConfig;
    expect(config.DefaultCacheBehavior.Compress).toBe(true);
    // Managed-CachingOptimized: EnableAcceptEncodingGzip and EnableAcceptEncodingBrotli are on, which
    // CloudFront needs before it compresses (a policy without them gets the uncompressed copy cached).
    expect(config.DefaultCacheBehavior.CachePolicyId).toBe('658327ea-f89d-4fab-a63d-7e88639e58f6');
  });

  it('never caches /config.json', () => {
    const config = resources[vigia.logicalId(vigia.stack.dashboard.distribution)].Properties.DistributionConfig;
    expect(config.CacheBehaviors).toContainEqual(
      expect.objectContaining({ PathPattern: '/config.json', CachePolicyId: '4135ea2d-6df8-44a3-9df3-4b5a84be39ad' }),
    );
  });

  const deploymentsOf = (v: SynthesizedVigia) => {
    const bucketRef = ref(v.logicalId(v.stack.dashboard.siteBucket));
    const all = v.template.findResources('Custom::CDKBucketDeployment', { Properties: { DestinationBucketName: bucketRef } });
    const of = (d: { node: { findChild(id: string): unknown } }) => {
      const id = v.logicalId(d.node.findChild('CustomResource') as never);
      return { id, ...(all[id] as { Properties: Record<string, any>; DependsOn?: string[] }) };
    };
    return {
      site: of(v.stack.dashboard.siteDeployment),
      assets: of(v.stack.dashboard.assetsDeployment),
      config: of(v.stack.dashboardConfig.deployment),
    };
  };

  it('deploys the site without pruning config.json, and config.json after it with the deploy-time URLs', () => {
    const { site, config } = deploymentsOf(vigia);
    expect(site.Properties.Exclude).toContain('config.json');
    expect(site.Properties.Prune).toBe(true);
    expect(config.Properties.Prune).toBe(false);
    expect(config.DependsOn).toEqual(expect.arrayContaining([site.id]));

    // Source.jsonData renders the file with its deploy-time values as markers.
    const markers = JSON.stringify(config.Properties.SourceMarkers);
    expect(markers).toContain(JSON.stringify({ 'Fn::GetAtt': [vigia.logicalId(vigia.stack.api.httpApi), 'ApiEndpoint'] }));
    expect(markers).toContain(`{"Ref":"${vigia.logicalId(vigia.stack.realtime.webSocketApi)}"}`);
  });

  it('deploys the OpenAPI document as /openapi.json beside config.json, its server the deployed API, kept out of the site prune', () => {
    const { site, config } = deploymentsOf(vigia);
    expect(site.Properties.Exclude).toContain('openapi.json');
    // Source.jsonData with a deploy-time value: a marker in the file stands for the API's endpoint.
    const markers = config.Properties.SourceMarkers as Array<Record<string, unknown>>;
    expect(markers).toHaveLength(2);
    expect(JSON.stringify(markers[1])).toContain(
      JSON.stringify({ 'Fn::GetAtt': [vigia.logicalId(vigia.stack.api.httpApi), 'ApiEndpoint'] }),
    );
    // The staged file is the repository's document, its server the endpoint's marker.
    const staged = readdirSync(vigia.outdir, { recursive: true, encoding: 'utf8' }).filter((f) => basename(f) === 'openapi.json');
    expect(staged).toHaveLength(1);
    const deployed = JSON.parse(readFileSync(join(vigia.outdir, staged[0]), 'utf8'));
    expect(deployed).toEqual({
      ...OPENAPI_DOCUMENT,
      servers: [{ url: expect.stringMatching(/^<<marker:0xbaba:\d+>>$/), description: 'This deployment.' }],
    });
  });

  it('index.html and config.json are never cached; hashed assets are, for a year, kept across deploys and uploaded first', () => {
    const { site, assets, config } = deploymentsOf(vigia);
    expect(site.Properties.SystemMetadata).toEqual({ 'cache-control': 'no-cache' });
    expect(config.Properties.SystemMetadata).toEqual({ 'cache-control': 'no-cache' });
    expect(site.Properties.Exclude).toContain('assets/*');
    expect(assets.Properties).toMatchObject({
      Exclude: ['*'],
      Include: ['assets/*'],
      Prune: false,
      SystemMetadata: { 'cache-control': 'public, max-age=31536000, immutable' },
    });
    expect(assets.Properties.SourceObjectKeys).toEqual(site.Properties.SourceObjectKeys);
    expect(site.DependsOn).toEqual(expect.arrayContaining([assets.id]));
  });

  it("aws-cdk-lib's provider functions (BucketDeployment, AwsCustomResource) log to a group with a retention", () => {
    const functions = Object.values(resources).filter((r: any) => r.Type === 'AWS::Lambda::Function') as any[];
    for (const fn of functions) {
      const group = resources[fn.Properties.LoggingConfig?.LogGroup?.Ref];
      expect(group?.Type, JSON.stringify(fn.Properties.Handler)).toBe('AWS::Logs::LogGroup');
      expect(group.Properties.RetentionInDays).toBe(30);
    }
    expect(functions.length).toBeGreaterThanOrEqual(8);
  });
});

describe('Outputs', () => {
  it.each(['DashboardUrl', 'ApiUrl', 'WebSocketUrl', 'IotDataEndpoint', 'DevicePolicyName', 'DeadLetterQueueUrl'])(
    '%s is an output',
    (name) => {
      vigia.template.hasOutput(name, { Value: Match.anyValue() });
    },
  );

  it('ApiUrl is the HTTP API endpoint (no trailing slash) and WebSocketUrl the wss stage URL', () => {
    const outputs = vigia.template.toJSON().Outputs;
    expect(outputs.ApiUrl.Value).toEqual({ 'Fn::GetAtt': [vigia.logicalId(vigia.stack.api.httpApi), 'ApiEndpoint'] });
    const ws = JSON.stringify(outputs.WebSocketUrl.Value);
    expect(ws).toMatch(/"wss:\/\/"/);
    expect(ws).toContain(`/${vigia.stack.realtime.stage.stageName}"`);
    expect(outputs.DeadLetterQueueUrl.Value).toEqual(ref(vigia.logicalId(vigia.stack.telemetry.deadLetterQueue)));
    expect(outputs.DevicePolicyName.Value).toEqual(ref(vigia.logicalId(vigia.stack.devices.devicePolicy)));
  });
});
