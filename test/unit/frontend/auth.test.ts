import { describe, expect, it } from 'vitest';
import {
  authorizeUrl,
  completeSignIn,
  decodeJwtPayload,
  isExpired,
  loadSession,
  logoutUrl,
  pkceChallenge,
  prepareSignIn,
  randomToken,
  roleFromGroups,
  sessionFromTokens,
  withToken,
  EXPIRY_MARGIN_MS,
  SignInError,
  type AuthConfig,
} from '../../../frontend/src/auth.js';

const config: AuthConfig = {
  issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc',
  clientId: 'client-123',
  authorizeUrl: 'https://vigia.auth.eu-west-1.amazoncognito.com/oauth2/authorize',
  tokenUrl: 'https://vigia.auth.eu-west-1.amazoncognito.com/oauth2/token',
  logoutUrl: 'https://vigia.auth.eu-west-1.amazoncognito.com/logout',
  scope: 'openid email profile',
};
const ORIGIN = 'https://d111.cloudfront.net';

/** sessionStorage as the browser has it, in memory. */
class MemoryStorage implements Storage {
  private items = new Map<string, string>();
  get length() {
    return this.items.size;
  }
  clear() {
    this.items.clear();
  }
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  key(i: number) {
    return [...this.items.keys()][i] ?? null;
  }
  removeItem(key: string) {
    this.items.delete(key);
  }
  setItem(key: string, value: string) {
    this.items.set(key, String(value));
  }
}

function jwt(claims: Record<string, unknown>): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'RS256', kid: 'k1' })}.${part(claims)}.c2lnbmF0dXJl`;
}

describe('PKCE', () => {
  it('derives the S256 challenge of RFC 7636 appendix B', async () => {
    expect(await pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });

  it('makes verifiers of 43 unreserved characters, different each time', () => {
    const a = randomToken(32);
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(randomToken(32)).not.toBe(a);
  });
});

describe('authorize URL', () => {
  it('asks for a code with PKCE S256, the client, the scope, the state and the root as redirect', () => {
    const url = new URL(authorizeUrl(config, { redirectUri: `${ORIGIN}/`, state: 'st-1', challenge: 'ch-1' }));
    expect(url.origin + url.pathname).toBe(config.authorizeUrl);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: 'client-123',
      redirect_uri: 'https://d111.cloudfront.net/',
      scope: 'openid email profile',
      state: 'st-1',
      code_challenge: 'ch-1',
      code_challenge_method: 'S256',
    });
  });

  it('stores the state and verifier whose challenge it sends', async () => {
    const storage = new MemoryStorage();
    const url = new URL(await prepareSignIn(config, ORIGIN, '#/sensors/a', storage));
    const pending = JSON.parse(storage.getItem('vigia.auth.pending')!) as { state: string; verifier: string; hash: string };
    expect(url.searchParams.get('state')).toBe(pending.state);
    expect(url.searchParams.get('code_challenge')).toBe(await pkceChallenge(pending.verifier));
    expect(pending.hash).toBe('#/sensors/a');
  });

  it("signs out with only what Cognito's logout endpoint documents: client_id and logout_uri", () => {
    const url = new URL(logoutUrl(config, `${ORIGIN}/`));
    expect(url.origin + url.pathname).toBe(config.logoutUrl);
    expect(Object.fromEntries(url.searchParams)).toEqual({ client_id: 'client-123', logout_uri: `${ORIGIN}/` });
  });

  it('puts the ID token on the WebSocket URL as token=', () => {
    expect(new URL(withToken('wss://ws.example.com/prod', 'a.b.c')).searchParams.get('token')).toBe('a.b.c');
  });
});

describe('the return from the issuer', () => {
  const idToken = jwt({ email: 'ana@example.com', 'cognito:groups': ['viewer'], exp: 2_000_000_000 });

  async function returnWith(query: string, storage: MemoryStorage) {
    const calls: Array<{ url: string; body: URLSearchParams }> = [];
    const fetchFn = (async (url: string, init: RequestInit) => {
      calls.push({ url, body: new URLSearchParams(init.body as string) });
      return new Response(JSON.stringify({ id_token: idToken, access_token: 'at', expires_in: 3600, token_type: 'Bearer' }), {
        status: 200,
      });
    }) as unknown as typeof fetch;
    const result = await completeSignIn(config, new URLSearchParams(query), ORIGIN, storage, fetchFn);
    return { result, calls };
  }

  it('refuses an answer whose state does not match, and posts nothing', async () => {
    const storage = new MemoryStorage();
    await prepareSignIn(config, ORIGIN, '', storage);
    const calls: unknown[] = [];
    const fetchFn = (async (...args: unknown[]) => {
      calls.push(args);
      return new Response('{}');
    }) as unknown as typeof fetch;
    await expect(completeSignIn(config, new URLSearchParams('code=c1&state=forged'), ORIGIN, storage, fetchFn)).rejects.toThrow(
      /state mismatch/,
    );
    expect(calls).toEqual([]);
    expect(loadSession(storage)).toBeNull();
  });

  it('refuses an answer when this tab made no request', async () => {
    await expect(returnWith('code=c1&state=s1', new MemoryStorage())).rejects.toBeInstanceOf(SignInError);
  });

  it('trades the code with the verifier, keeps the session and uses the state once', async () => {
    const storage = new MemoryStorage();
    const url = new URL(await prepareSignIn(config, ORIGIN, '#/sensors/b', storage));
    const { verifier } = JSON.parse(storage.getItem('vigia.auth.pending')!) as { verifier: string };
    const state = url.searchParams.get('state')!;
    const { result, calls } = await returnWith(`code=c1&state=${state}`, storage);
    expect(calls).toHaveLength(1);
    expect(calls[0].url).toBe(config.tokenUrl);
    expect(Object.fromEntries(calls[0].body)).toEqual({
      grant_type: 'authorization_code',
      client_id: 'client-123',
      code: 'c1',
      redirect_uri: `${ORIGIN}/`,
      code_verifier: verifier,
    });
    expect(result.hash).toBe('#/sensors/b');
    expect(result.session).toMatchObject({
      idToken,
      accessToken: 'at',
      email: 'ana@example.com',
      role: 'viewer',
      expiresAt: 2_000_000_000_000,
    });
    expect(loadSession(storage)?.idToken).toBe(idToken);
    // Replaying the same answer is refused.
    await expect(returnWith(`code=c1&state=${state}`, storage)).rejects.toThrow(/state mismatch/);
  });

  it('reports an error the issuer answered', async () => {
    const storage = new MemoryStorage();
    await prepareSignIn(config, ORIGIN, '', storage);
    await expect(returnWith('error=access_denied&state=x', storage)).rejects.toThrow(/access_denied/);
  });
});

describe('the ID token', () => {
  it('decodes a payload in base64url, UTF-8 included', () => {
    expect(decodeJwtPayload(jwt({ email: 'zoë@example.com', n: 1 }))).toEqual({ email: 'zoë@example.com', n: 1 });
  });

  it('maps cognito:groups to a role: operator wins, viewer next, else none', () => {
    expect(roleFromGroups(['operator'])).toBe('operator');
    expect(roleFromGroups(['viewer', 'operator'])).toBe('operator');
    expect(roleFromGroups(['viewer'])).toBe('viewer');
    expect(roleFromGroups(['admins'])).toBeNull();
    expect(roleFromGroups([])).toBeNull();
    expect(roleFromGroups(undefined)).toBeNull();
    expect(sessionFromTokens({ id_token: jwt({ email: 'o@example.com', 'cognito:groups': ['operator'], exp: 1 }) }).role).toBe('operator');
    expect(sessionFromTokens({ id_token: jwt({ email: 'n@example.com', exp: 1 }) }).role).toBeNull();
  });

  it('counts as expired from a minute before exp', () => {
    const session = sessionFromTokens({ id_token: jwt({ exp: 1_000_000 }) });
    expect(session.expiresAt).toBe(1_000_000_000);
    expect(isExpired(session, 1_000_000_000 - EXPIRY_MARGIN_MS - 1)).toBe(false);
    expect(isExpired(session, 1_000_000_000 - EXPIRY_MARGIN_MS)).toBe(true);
    expect(isExpired(session, 1_000_000_000 + 1)).toBe(true);
  });

  it('refuses an answer without an ID token', () => {
    expect(() => sessionFromTokens({ access_token: 'at' })).toThrow(SignInError);
  });
});
