/**
 * The local stand-in for Cognito's managed login (`AUTH=on npm start`): an OAuth 2.0 authorization code flow
 * with PKCE (S256) under `/auth`, two local users to pick from, and RS256 ID tokens shaped like Cognito's
 * (`cognito:groups`, `aud` = the client id). Its signing key is kept in `<DATA_DIR>/auth/`, so tokens survive
 * a restart; its JWKS is what the handlers' verifier reads, as it reads Cognito's in the cloud.
 */
import type { DashboardAuthConfig } from '../lambdas/shared/names.js';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { type CryptoKey, type JWK, SignJWT, calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair, importPKCS8 } from 'jose';
import type { Role } from '../lambdas/core/auth.js';

export const LOCAL_CLIENT_ID = 'vigia-local';
export const AUTH_SCOPE = 'openid email profile';
/** A code must be redeemed within this time, once. */
const CODE_TTL_MS = 60_000;
const TOKEN_TTL_S = 3600;

export interface LocalUser {
  readonly email: string;
  readonly sub: string;
  readonly groups: readonly Role[];
}

/** The users to sign in as: one per role. */
export const LOCAL_USERS: readonly LocalUser[] = [
  { email: 'operator@local', sub: 'local-operator', groups: ['operator'] },
  { email: 'viewer@local', sub: 'local-viewer', groups: ['viewer'] },
];

interface PendingCode {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  user: LocalUser;
  expiresAt: number;
}

export interface IdTokenOptions {
  /** @default the local client id */
  audience?: string;
  /** @default 3600 */
  expiresInSeconds?: number;
  /** Epoch seconds of issue. @default now */
  issuedAt?: number;
  /** Replaces the user's groups. */
  groups?: readonly string[];
}

const base64url = (buf: Buffer) => buf.toString('base64url');
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...extra });
  res.end(JSON.stringify(body));
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 16 * 1024) throw new Error('form too large');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** A loaded or new RS256 key pair, kept as PKCS#8 in `dir`. */
async function loadSigningKey(dir: string): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const file = path.join(dir, 'signing-key.pem');
  await mkdir(dir, { recursive: true });
  let pem = await readFile(file, 'utf8').catch(() => undefined);
  if (!pem) {
    const pair = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
    pem = await exportPKCS8(pair.privateKey);
    await writeFile(file, pem, { mode: 0o600 });
  }
  const privateKey = await importPKCS8(pem, 'RS256', { extractable: true });
  const full = await exportJWK(privateKey);
  const jwk: JWK = { kty: full.kty, n: full.n, e: full.e };
  jwk.kid = await calculateJwkThumbprint(jwk);
  return { privateKey, jwk: { ...jwk, alg: 'RS256', use: 'sig' } };
}

export class LocalAuthIssuer {
  private readonly codes = new Map<string, PendingCode>();
  private baseUrl: string | undefined;

  private constructor(
    private readonly privateKey: CryptoKey,
    readonly publicJwk: JWK,
  ) {}

  /** Loads (or makes) the signing key in `<dataDir>/auth/`. */
  static async create(dataDir: string): Promise<LocalAuthIssuer> {
    const { privateKey, jwk } = await loadSigningKey(path.join(dataDir, 'auth'));
    return new LocalAuthIssuer(privateKey, jwk);
  }

  /** Sets where the issuer is served (`http://host:port`), known once the server listens. */
  bind(origin: string): void {
    this.baseUrl = `${origin}/auth`;
  }

  /** `http://host:port/auth`: the `iss` of its tokens. */
  get issuer(): string {
    if (!this.baseUrl) throw new Error('the local issuer is not bound to an origin yet');
    return this.baseUrl;
  }

  get jwksUri(): string {
    return `${this.issuer}/.well-known/jwks.json`;
  }

  readonly audience = LOCAL_CLIENT_ID;

  /** The `/config.json` auth block; the browser's URLs use the host it asked with. */
  config(host: string): DashboardAuthConfig {
    const base = `http://${host}/auth`;
    return {
      issuer: this.issuer,
      clientId: LOCAL_CLIENT_ID,
      authorizeUrl: `${base}/authorize`,
      tokenUrl: `${base}/token`,
      logoutUrl: `${base}/logout`,
      scope: AUTH_SCOPE,
    };
  }

  /** An ID token for `user`, shaped like Cognito's. */
  async idToken(user: LocalUser, options: IdTokenOptions = {}): Promise<string> {
    const iat = options.issuedAt ?? Math.floor(Date.now() / 1000);
    return new SignJWT({
      email: user.email,
      email_verified: true,
      'cognito:username': user.email,
      'cognito:groups': [...(options.groups ?? user.groups)],
      token_use: 'id',
      auth_time: iat,
    })
      .setProtectedHeader({ alg: 'RS256', kid: this.publicJwk.kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(options.audience ?? LOCAL_CLIENT_ID)
      .setSubject(user.sub)
      .setIssuedAt(iat)
      .setExpirationTime(iat + (options.expiresInSeconds ?? TOKEN_TTL_S))
      .setJti(randomUUID())
      .sign(this.privateKey);
  }

  /** An access token as Cognito makes them: `client_id`, no `aud`, so the API refuses it in place of the ID token. */
  private async accessToken(user: LocalUser): Promise<string> {
    const iat = Math.floor(Date.now() / 1000);
    return new SignJWT({ client_id: LOCAL_CLIENT_ID, scope: AUTH_SCOPE, token_use: 'access', 'cognito:groups': [...user.groups] })
      .setProtectedHeader({ alg: 'RS256', kid: this.publicJwk.kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setSubject(user.sub)
      .setIssuedAt(iat)
      .setExpirationTime(iat + TOKEN_TTL_S)
      .sign(this.privateKey);
  }

  /** Answers a request under `/auth`; false when the path is not one of its own. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const route = url.pathname.slice('/auth'.length);
    if (route === '/.well-known/jwks.json' && req.method === 'GET') {
      sendJson(res, 200, { keys: [this.publicJwk] }, { 'access-control-allow-origin': '*' });
    } else if (route === '/authorize' && req.method === 'GET') {
      this.authorize(url, res);
    } else if (route === '/token' && req.method === 'OPTIONS') {
      res.writeHead(204, {
        'access-control-allow-origin': '*',
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers': 'content-type',
      });
      res.end();
    } else if (route === '/token' && req.method === 'POST') {
      await this.token(req, res);
    } else if (route === '/logout' && req.method === 'GET') {
      // Cognito's logout: `logout_uri` is where to return (`redirect_uri` kept for older dashboards).
      const target = url.searchParams.get('logout_uri') ?? url.searchParams.get('redirect_uri');
      if (target && /^https?:\/\//.test(target)) {
        res.writeHead(302, { location: target, 'cache-control': 'no-store' });
        res.end();
      } else {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<!doctype html><title>vigia</title><p>Signed out.</p>');
      }
    } else {
      return false;
    }
    return true;
  }

  private authorize(url: URL, res: ServerResponse): void {
    const q = url.searchParams;
    const redirectUri = q.get('redirect_uri') ?? '';
    const problem =
      q.get('response_type') !== 'code'
        ? 'response_type must be code'
        : q.get('client_id') !== LOCAL_CLIENT_ID
          ? `client_id must be ${LOCAL_CLIENT_ID}`
          : !/^https?:\/\//.test(redirectUri)
            ? 'redirect_uri must be an http(s) URL'
            : !q.get('code_challenge') || q.get('code_challenge_method') !== 'S256'
              ? 'PKCE is required: code_challenge with code_challenge_method=S256'
              : undefined;
    if (problem) {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`invalid_request: ${problem}`);
      return;
    }
    const user = LOCAL_USERS.find((u) => u.email === q.get('user'));
    if (!user) {
      // The sign-in page: pick a user; the choice comes back here with the same parameters plus `user`.
      const hidden = [...q.entries()]
        .filter(([key]) => key !== 'user')
        .map(([key, value]) => `<input type="hidden" name="${escapeHtml(key)}" value="${escapeHtml(value)}">`)
        .join('');
      const buttons = LOCAL_USERS.map(
        (u) => `<button name="user" value="${escapeHtml(u.email)}">${escapeHtml(u.email)} (${u.groups.join(', ')})</button>`,
      ).join(' ');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(
        `<!doctype html><html><head><meta charset="utf-8"><title>vigia local sign-in</title></head><body>` +
          `<h1>vigia: local sign-in</h1><p>Pick a local user.</p><form method="get" action="authorize">${hidden}${buttons}</form>` +
          `</body></html>`,
      );
      return;
    }
    const code = base64url(randomBytes(24));
    this.codes.set(code, {
      clientId: LOCAL_CLIENT_ID,
      redirectUri,
      codeChallenge: q.get('code_challenge')!,
      user,
      expiresAt: Date.now() + CODE_TTL_MS,
    });
    const target = new URL(redirectUri);
    target.searchParams.set('code', code);
    const state = q.get('state');
    if (state !== null) target.searchParams.set('state', state);
    res.writeHead(302, { location: target.toString(), 'cache-control': 'no-store' });
    res.end();
  }

  private async token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const cors = { 'access-control-allow-origin': '*' };
    const form = await readForm(req);
    const code = form.get('code') ?? '';
    const pending = this.codes.get(code);
    // A code is good once, whatever happens next.
    this.codes.delete(code);
    if (form.get('grant_type') !== 'authorization_code') {
      return sendJson(res, 400, { error: 'unsupported_grant_type' }, cors);
    }
    const verifier = form.get('code_verifier') ?? '';
    const challenge = base64url(createHash('sha256').update(verifier).digest());
    if (
      !pending ||
      pending.expiresAt < Date.now() ||
      form.get('client_id') !== pending.clientId ||
      form.get('redirect_uri') !== pending.redirectUri ||
      challenge !== pending.codeChallenge
    ) {
      return sendJson(res, 400, { error: 'invalid_grant' }, cors);
    }
    sendJson(
      res,
      200,
      {
        id_token: await this.idToken(pending.user),
        access_token: await this.accessToken(pending.user),
        token_type: 'Bearer',
        expires_in: TOKEN_TTL_S,
      },
      cors,
    );
  }
}
