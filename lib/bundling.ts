/**
 * How each Lambda is bundled: one source for CDK's NodejsFunction (lib/function-defaults.ts) and the benches that
 * build the bundles as CDK does (bench/init.ts, bench/source-maps.ts). Plain data: no aws-cdk-lib here.
 */

/**
 * Left out of every bundle: the SDK's other credential sources (SSO, ini files, credential processes, web identity,
 * container and instance metadata) and the STS/SSO clients they carry, about 100 KB that every cold start parsed.
 * Lambda always sets AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, so the default chain stops at its
 * first link (environment variables) and never reaches these; it loads each with `import()`, so none is loaded at
 * init. bench/init.ts fails if one of them is ever imported statically.
 */
export const UNUSED_IN_LAMBDA = [
  '@aws-sdk/credential-provider-sso',
  '@aws-sdk/credential-provider-ini',
  '@aws-sdk/credential-provider-process',
  '@aws-sdk/credential-provider-web-identity',
  '@aws-sdk/credential-provider-http',
  '@smithy/credential-provider-imds',
];

/** The esbuild settings every function shares (the rest of the SDK is bundled: the versions the tests ran). */
export const LAMBDA_BUNDLING = {
  format: 'esm',
  target: 'node22',
  minify: true,
  mainFields: ['module', 'main'],
  external: UNUSED_IN_LAMBDA,
  // CommonJS dependencies inside an ESM bundle still call require().
  banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
} as const;

/** The same settings as esbuild's own build options, for the benches that bundle as CDK does. */
export function lambdaEsbuildOptions() {
  return {
    bundle: true,
    platform: 'node' as const,
    format: LAMBDA_BUNDLING.format,
    target: LAMBDA_BUNDLING.target,
    minify: LAMBDA_BUNDLING.minify,
    mainFields: [...LAMBDA_BUNDLING.mainFields],
    external: [...LAMBDA_BUNDLING.external],
    banner: { js: LAMBDA_BUNDLING.banner },
  };
}
