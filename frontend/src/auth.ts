/**
 * Dashboard sign-in: the OAuth 2.0 authorization code flow with PKCE (RFC 7636, S256) against the issuer
 * that `/config.json`'s `auth` names (Cognito managed login in the cloud, the local issuer under
 * `AUTH=on npm start`). The ID token is what the API and the WebSocket take; it is kept in sessionStorage
 * and read, not verified, here (the API verifies it). No refresh token: near expiry, or on a 401, the user
 * signs in again.
 */
import type { DashboardAuthConfig } from '../../lambdas/shared/contract.js';

export type AuthConfig = DashboardAuthConfig;

/** `operator` may send commands, `viewer` may look; `null` is a signed-in account in neither group. */
export type Role = 'operator' | 'viewer' | null;

export interface Session {
  idToken: string;
  accessToken: string | null;
  /** When the ID token expires (epoch ms). */
  expiresAt: number;
  email: string | null;
  role: Role;
  /** When the tokens were obtained (epoch ms). */
  signedInAt: number;
}

/** Signing in again starts this long before the ID token expires, so no request goes out with a dead one. */
export const EXPIRY_MARGIN_MS = 60_000;
export const NO_ROLE_MESSAGE = 'your account has no role: ask an admin to add you to the viewer or operator group';

const KEY_SESSION = 'vigia.auth.session';
const KEY_PENDING = 'vigia.auth.pending';

export class SignInError extends Error {}

export function isAuthConfig(value: unknown): value is AuthConfig {
  if (!value || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return ['clientId', 'authorizeUrl', 'tokenUrl', 'logoutUrl'].every((k) => typeof v[k] === 'string' && v[k] !== '');
}

export function base64url(bytes: Uint8Array): string {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** `bytes` random bytes as base64url: 32 give a 43-character code verifier. */
export function randomToken(bytes = 32): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** The S256 code challenge of a verifier: base64url(SHA-256(ASCII(verifier))). */
export async function pkceChallenge(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** Where the issuer sends the browser back: the dashboard's root (routes live in the hash). */
export function redirectUri(origin: string): string {
  return `${origin.replace(/\/+$/, '')}/`;
}

export function authorizeUrl(config: AuthConfig, p: { redirectUri: string; state: string; challenge: string }): string {
  const url = new URL(config.authorizeUrl);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', config.clientId);
  url.searchParams.set('redirect_uri', p.redirectUri);
  url.searchParams.set('scope', config.scope || 'openid email profile');
  url.searchParams.set('state', p.state);
  url.searchParams.set('code_challenge', p.challenge);
  url.searchParams.set('code_challenge_method', 'S256');
  return url.toString();
}

/**
 * Only what Cognito's logout endpoint documents for "sign out and return": `client_id` and `logout_uri` (adding
 * `redirect_uri` asks for its other mode, sign out and sign in again). The local issuer reads the same.
 */
export function logoutUrl(config: AuthConfig, returnTo: string): string {
  const url = new URL(config.logoutUrl);
  url.searchParams.set('client_id', config.clientId);
  url.searchParams.set('logout_uri', returnTo);
  return url.toString();
}

/** A JWT's payload, decoded but not verified. */
export function decodeJwtPayload(token: string): Record<string, unknown> {
  const part = token.split('.')[1];
  if (!part) throw new SignInError('The ID token is not a JWT.');
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  const payload = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  if (!payload || typeof payload !== 'object') throw new SignInError('The ID token has no claims.');
  return payload as Record<string, unknown>;
}

/** `cognito:groups` → role: operator wins over viewer; neither is no role. */
export function roleFromGroups(groups: unknown): Role {
  const list = Array.isArray(groups) ? groups.map(String) : typeof groups === 'string' ? groups.split(/[\s,]+/) : [];
  if (list.includes('operator')) return 'operator';
  if (list.includes('viewer')) return 'viewer';
  return null;
}

export function sessionFromTokens(tokens: { id_token?: unknown; access_token?: unknown; expires_in?: unknown }, now = Date.now()): Session {
  if (typeof tokens.id_token !== 'string') throw new SignInError('The token endpoint answered no ID token.');
  const claims = decodeJwtPayload(tokens.id_token);
  const expiresAt =
    typeof claims.exp === 'number'
      ? claims.exp * 1000
      : typeof tokens.expires_in === 'number'
        ? now + tokens.expires_in * 1000
        : now + 3_600_000;
  return {
    idToken: tokens.id_token,
    accessToken: typeof tokens.access_token === 'string' ? tokens.access_token : null,
    expiresAt,
    email:
      typeof claims.email === 'string'
        ? claims.email
        : typeof claims['cognito:username'] === 'string'
          ? (claims['cognito:username'] as string)
          : null,
    role: roleFromGroups(claims['cognito:groups']),
    signedInAt: now,
  };
}

/** True once the session is within `marginMs` of its expiry: time to sign in again. */
export function isExpired(session: Pick<Session, 'expiresAt'>, now = Date.now(), marginMs = EXPIRY_MARGIN_MS): boolean {
  return now >= session.expiresAt - marginMs;
}

/** The WebSocket URL with the ID token as `token=`. */
export function withToken(wsUrl: string, idToken: string): string {
  const url = new URL(wsUrl);
  url.searchParams.set('token', idToken);
  return url.toString();
}

interface Pending {
  state: string;
  verifier: string;
  /** The route to come back to (the issuer returns to the root). */
  hash: string;
}

/** Stores a fresh state and verifier and answers the authorize URL to send the browser to. */
export async function prepareSignIn(config: AuthConfig, origin: string, hash: string, storage: Storage): Promise<string> {
  const verifier = randomToken(32);
  const state = randomToken(16);
  storage.setItem(KEY_PENDING, JSON.stringify({ state, verifier, hash } satisfies Pending));
  return authorizeUrl(config, { redirectUri: redirectUri(origin), state, challenge: await pkceChallenge(verifier) });
}

/**
 * Finishes a sign-in from the query the issuer returned with (`?code=&state=`): checks the state against
 * the one stored, trades the code for tokens, stores the session. Answers the session and the route to
 * restore. The pending state is used once, whatever happens.
 */
export async function completeSignIn(
  config: AuthConfig,
  query: URLSearchParams,
  origin: string,
  storage: Storage,
  fetchFn: typeof fetch = fetch,
): Promise<{ session: Session; hash: string }> {
  const raw = storage.getItem(KEY_PENDING);
  storage.removeItem(KEY_PENDING);
  const error = query.get('error');
  if (error)
    throw new SignInError(
      `The sign-in page answered ${error}${query.get('error_description') ? `: ${query.get('error_description')}` : ''}.`,
    );
  const code = query.get('code');
  const state = query.get('state');
  const pending = raw ? (JSON.parse(raw) as Pending) : null;
  if (!code || !state || !pending || pending.state !== state) {
    throw new SignInError('The sign-in answer does not match the request this page made (state mismatch); sign in again.');
  }
  const res = await fetchFn(config.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: config.clientId,
      code,
      redirect_uri: redirectUri(origin),
      code_verifier: pending.verifier,
    }).toString(),
  });
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { error?: string; error_description?: string } | null;
    throw new SignInError(
      `The token endpoint answered ${res.status}${body?.error ? ` ${body.error}` : ''}${body?.error_description ? `: ${body.error_description}` : ''}.`,
    );
  }
  const session = sessionFromTokens((await res.json()) as Record<string, unknown>);
  storage.setItem(KEY_SESSION, JSON.stringify(session));
  return { session, hash: pending.hash };
}

export function loadSession(storage: Storage): Session | null {
  try {
    const raw = storage.getItem(KEY_SESSION);
    const session = raw ? (JSON.parse(raw) as Session) : null;
    return session && typeof session.idToken === 'string' && typeof session.expiresAt === 'number' ? session : null;
  } catch {
    return null;
  }
}

export function clearSession(storage: Storage): void {
  storage.removeItem(KEY_SESSION);
}

/** True when the query is an issuer's answer to this page. */
export function isSignInReturn(query: URLSearchParams): boolean {
  return query.has('state') && (query.has('code') || query.has('error'));
}
