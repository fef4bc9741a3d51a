/**
 * Dashboard sign-in: roles from groups, the JWT verifier adapter against a JWKS served over http by a test
 * server (keys made with jose), and the WebSocket $connect authorizer's Allow / Deny / 401.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import { type CryptoKey, type JWK, SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { JwtTokenVerifier } from '../../lambdas/adapters/jwt-verifier.js';
import { authorize, bearerToken, roleFromClaims } from '../../lambdas/core/auth.js';
import { ENV } from '../../lambdas/shared/names.js';

describe('roleFromClaims', () => {
  it('reads cognito:groups as an array', () => {
    expect(roleFromClaims({ 'cognito:groups': ['operator'] })).toBe('operator');
    expect(roleFromClaims({ 'cognito:groups': ['viewer'] })).toBe('viewer');
  });

  it('gives operator when the user is in both groups', () => {
    expect(roleFromClaims({ 'cognito:groups': ['viewer', 'operator'] })).toBe('operator');
  });

  it('reads a space-separated string, and the bracketed string API Gateway JWT authorizers hand on', () => {
    expect(roleFromClaims({ 'cognito:groups': 'admins viewer' })).toBe('viewer');
    expect(roleFromClaims({ 'cognito:groups': '[operator viewer]' })).toBe('operator');
    expect(roleFromClaims({ 'cognito:groups': '[viewer]' })).toBe('viewer');
  });

  it('is null without a known group', () => {
    expect(roleFromClaims({})).toBeNull();
    expect(roleFromClaims({ 'cognito:groups': [] })).toBeNull();
    expect(roleFromClaims({ 'cognito:groups': ['admins', 'operators'] })).toBeNull();
    expect(roleFromClaims({ 'cognito:groups': 42 })).toBeNull();
    expect(roleFromClaims(null)).toBeNull();
  });
});

describe('bearerToken', () => {
  it('takes the token of a Bearer header only', () => {
    expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerToken('bearer abc')).toBe('abc');
    expect(bearerToken('Basic dXNlcg==')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
    expect(bearerToken('Bearer ')).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------------------
// The verifier adapter against a real JWKS over http

const AUDIENCE = 'client-123';
let server: http.Server;
let issuer: string;
let jwksUri: string;
let privateKey: CryptoKey;
let publicJwk: JWK;
let otherKey: CryptoKey;
let jwksRequests = 0;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  privateKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
  otherKey = (await generateKeyPair('RS256')).privateKey;
  server = http.createServer((req, res) => {
    if (req.url === '/pool/.well-known/jwks.json') {
      jwksRequests++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [publicJwk] }));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  issuer = `${origin}/pool`;
  jwksUri = `${issuer}/.well-known/jwks.json`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

interface TokenOptions {
  iss?: string;
  aud?: string;
  exp?: number;
  groups?: string[];
  key?: CryptoKey;
  kid?: string;
}

async function token(options: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ 'cognito:groups': options.groups ?? ['viewer'], email: 'v@example.com', token_use: 'id' })
    .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? 'key-1' })
    .setIssuer(options.iss ?? issuer)
    .setAudience(options.aud ?? AUDIENCE)
    .setSubject('user-1')
    .setIssuedAt(now - 10)
    .setExpirationTime(options.exp ?? now + 3600)
    .sign(options.key ?? privateKey);
}

const verifier = () => new JwtTokenVerifier({ issuer, audience: AUDIENCE, jwksUri });

describe('JwtTokenVerifier (aws-jwt-verify)', () => {
  it('gives the claims of a valid token, fetching the JWKS over http', async () => {
    const before = jwksRequests;
    const claims = await verifier().verify(await token({ groups: ['operator'] }));
    expect(claims).toMatchObject({ sub: 'user-1', iss: issuer, aud: AUDIENCE, 'cognito:groups': ['operator'] });
    expect(jwksRequests).toBeGreaterThan(before);
  });

  it('refuses an expired token', async () => {
    expect(await verifier().verify(await token({ exp: Math.floor(Date.now() / 1000) - 60 }))).toBeNull();
  });

  it('refuses a token for another audience', async () => {
    expect(await verifier().verify(await token({ aud: 'someone-else' }))).toBeNull();
  });

  it('refuses a tampered token (payload changed after signing)', async () => {
    const [header, payload, signature] = (await token({ groups: ['viewer'] })).split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    claims['cognito:groups'] = ['operator'];
    const forged = [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
    expect(await verifier().verify(forged)).toBeNull();
  });

  it('refuses a token signed with another key under the same kid', async () => {
    expect(await verifier().verify(await token({ key: otherKey }))).toBeNull();
  });

  it('refuses a token of another issuer', async () => {
    expect(await verifier().verify(await token({ iss: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_other' }))).toBeNull();
  });

  it('refuses what is not a JWT at all', async () => {
    expect(await verifier().verify('not-a-token')).toBeNull();
  });

  it('throws, rather than calling the token bad, when the JWKS cannot be fetched', async () => {
    const broken = new JwtTokenVerifier({ issuer, audience: AUDIENCE, jwksUri: `${issuer}/missing.json` });
    await expect(broken.verify(await token())).rejects.toThrow(/missing\.json/);
  });
});

describe('authorize', () => {
  it('is 401 without a token or with a bad one, 403 without a role, else the role', async () => {
    const v = verifier();
    expect(await authorize(undefined, v)).toMatchObject({ ok: false, status: 401, code: 'UNAUTHORIZED' });
    expect(await authorize(await token({ aud: 'x' }), v)).toMatchObject({ ok: false, status: 401 });
    expect(await authorize(await token({ groups: [] }), v)).toMatchObject({ ok: false, status: 403, code: 'FORBIDDEN' });
    expect(await authorize(await token({ groups: ['viewer'] }), v)).toMatchObject({ ok: true, role: 'viewer', sub: 'user-1' });
  });
});

// ---------------------------------------------------------------------------------------------------------
// The $connect authorizer handler

const METHOD_ARN = 'arn:aws:execute-api:eu-west-1:123456789012:abcdef123/live/$connect';

function connectEvent(query: Record<string, string> | null): APIGatewayRequestAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: METHOD_ARN,
    headers: { Host: 'abcdef123.execute-api.eu-west-1.amazonaws.com' },
    queryStringParameters: query,
    requestContext: { routeKey: '$connect', eventType: 'CONNECT', stage: 'live', apiId: 'abcdef123', connectionId: 'c1' },
  } as unknown as APIGatewayRequestAuthorizerEvent;
}

describe('ws-authorizer handler', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const name of [ENV.authIssuer, ENV.authAudience, ENV.authJwksUri]) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });
  // The wiring keeps its verifier until reset, as a Lambda container keeps its environment: each test resets it.
  const signInOn = async () => {
    Object.assign(process.env, { [ENV.authIssuer]: issuer, [ENV.authAudience]: AUDIENCE, [ENV.authJwksUri]: jwksUri });
    (await import('../../lambdas/handlers/wiring.js')).resetWiring();
  };
  const load = async () => (await import('../../lambdas/handlers/ws-authorizer.js')).handler;

  it('allows an operator on the method ARN, with its role and sub as context', async () => {
    await signInOn();
    const result = await (await load())(connectEvent({ token: await token({ groups: ['operator'] }) }));
    expect(result).toEqual({
      principalId: 'user-1',
      policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: METHOD_ARN }] },
      context: { role: 'operator', sub: 'user-1' },
    });
  });

  it('allows a viewer, as a viewer', async () => {
    await signInOn();
    const result = await (await load())(connectEvent({ token: await token({ groups: ['viewer'] }) }));
    expect(result.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow' });
    expect(result.context).toEqual({ role: 'viewer', sub: 'user-1' });
  });

  it('denies a signed-in user in neither group', async () => {
    await signInOn();
    const result = await (await load())(connectEvent({ token: await token({ groups: ['admins'] }) }));
    expect(result.policyDocument.Statement).toEqual([{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: METHOD_ARN }]);
    expect(result.context).toBeUndefined();
  });

  it('fails closed without its settings: no policy, whatever the token, naming the missing setting', async () => {
    for (const name of [ENV.authIssuer, ENV.authAudience, ENV.authJwksUri]) delete process.env[name];
    (await import('../../lambdas/handlers/wiring.js')).resetWiring();
    const handler = await load();
    await expect(handler(connectEvent(null))).rejects.toThrow(/Missing required environment variable AUTH_ISSUER/);
    await expect(handler(connectEvent({ token: await token({ groups: ['operator'] }) }))).rejects.toThrow(/AUTH_ISSUER/);
  });

  it("answers 'Unauthorized' (401) without a token, or with an expired or foreign one", async () => {
    await signInOn();
    const handler = await load();
    await expect(handler(connectEvent(null))).rejects.toThrow(/^Unauthorized$/);
    await expect(handler(connectEvent({ token: await token({ exp: Math.floor(Date.now() / 1000) - 5 }) }))).rejects.toThrow(
      /^Unauthorized$/,
    );
    await expect(handler(connectEvent({ token: await token({ aud: 'other' }) }))).rejects.toThrow(/^Unauthorized$/);
  });

  it('counts each 401 as ConnectUnauthorized (EMF), so the error-rate alarm can leave them out', async () => {
    await signInOn();
    const lines: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      await expect((await load())(connectEvent(null))).rejects.toThrow(/^Unauthorized$/);
    } finally {
      write.mockRestore();
    }
    const emf = lines
      .flatMap((l) => l.split('\n'))
      .filter((l) => l.includes('"_aws"'))
      .map((l) => JSON.parse(l))[0];
    expect(emf).toMatchObject({ ConnectUnauthorized: 1, service: 'vigia' });
  });

  it("tags its log lines with the invocation's Lambda context: request id, function, cold start", async () => {
    await signInOn();
    const context = {
      awsRequestId: 'request-7',
      functionName: 'vigia-ConnectAuthorizer',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:vigia-ConnectAuthorizer',
      memoryLimitInMB: '256',
    } as unknown as Context;
    const lines: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      await expect((await load())(connectEvent(null), context)).rejects.toThrow(/^Unauthorized$/);
    } finally {
      write.mockRestore();
    }
    const refused = lines
      .flatMap((l) => l.split('\n'))
      .filter((l) => l.includes('websocket connect refused'))
      .map((l) => JSON.parse(l))[0];
    expect(refused).toMatchObject({
      function_request_id: 'request-7',
      function_name: 'vigia-ConnectAuthorizer',
      cold_start: expect.any(Boolean),
    });
  });
});
