/**
 * Dashboard sign-in in local mode (`AUTH=on`): the local issuer's PKCE flow, bearer tokens on /api, the
 * `?token=` on /ws run through the $connect authorizer, and the roles: a viewer reads and subscribes, only an
 * operator's command reaches the device.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_USERS, type LocalAuthIssuer } from '../../local/auth-issuer.js';
import type { LocalRuntime } from '../../local/runtime.js';
import {
  WsClient,
  closeDevices,
  closeSockets,
  connectDevice,
  getJson,
  makeDataDir,
  removeDataDir,
  startTestRuntime,
  upgradeStatus,
} from '../support/runtime.js';

const operator = LOCAL_USERS.find((u) => u.email === 'operator@local')!;
const viewer = LOCAL_USERS.find((u) => u.email === 'viewer@local')!;
const SET_INTERVAL = { name: 'setInterval', args: { intervalMs: 1000 } };

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe.sequential('local runtime with sign-in (AUTH=on)', () => {
  let dataDir: string;
  let runtime: LocalRuntime;
  let issuer: LocalAuthIssuer;

  beforeAll(async () => {
    dataDir = await makeDataDir('vigia-auth-');
    runtime = await startTestRuntime(dataDir, { auth: true });
    issuer = runtime.authIssuer!;
  });

  afterEach(async () => {
    await closeSockets();
    await closeDevices();
  });

  afterAll(async () => {
    await runtime?.close();
    await removeDataDir(dataDir);
  });

  it('publishes the auth block in /config.json, pointing at the local issuer', async () => {
    const { body } = await getJson(runtime.urls.config);
    const origin = `http://${runtime.host}:${runtime.port}`;
    expect(body.auth).toEqual({
      issuer: `${origin}/auth`,
      clientId: 'vigia-local',
      authorizeUrl: `${origin}/auth/authorize`,
      tokenUrl: `${origin}/auth/token`,
      logoutUrl: `${origin}/auth/logout`,
      scope: 'openid email profile',
    });
    const jwks = await getJson(`${origin}/auth/.well-known/jwks.json`);
    expect(jwks.body.keys).toEqual([expect.objectContaining({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: expect.any(String) })]);
  });

  it('keeps /api/health and /api/openapi.json open and answers 401 UNAUTHORIZED on /api/sensors without a token', async () => {
    expect((await getJson(`${runtime.urls.api}/health`)).body).toEqual({ status: 'ok' });
    expect((await getJson(`${runtime.urls.api}/openapi.json`)).body.openapi).toBe('3.1.0');
    const res = await getJson(`${runtime.urls.api}/sensors`);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('UNAUTHORIZED');
    expect((await getJson(`${runtime.urls.api}/sensors`, { headers: { authorization: 'Basic b3A6b3A=' } })).status).toBe(401);
  });

  it('answers 401 for an expired, wrong-audience or tampered token, 403 FORBIDDEN for a user without a role', async () => {
    const url = `${runtime.urls.api}/sensors`;
    const expired = await issuer.idToken(viewer, { issuedAt: Math.floor(Date.now() / 1000) - 7200 });
    const wrongAudience = await issuer.idToken(viewer, { audience: 'another-client' });
    const [h, p, s] = (await issuer.idToken(viewer)).split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    claims['cognito:groups'] = ['operator'];
    const tampered = [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), s].join('.');
    for (const token of [expired, wrongAudience, tampered]) {
      const res = await getJson(url, bearer(token));
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('UNAUTHORIZED');
    }
    const noRole = await getJson(url, bearer(await issuer.idToken(viewer, { groups: [] })));
    expect(noRole.status).toBe(403);
    expect(noRole.body.error.code).toBe('FORBIDDEN');
  });

  it('refuses a WebSocket without a valid token (401) or without a role (403), and opens one with a token', async () => {
    expect(await upgradeStatus(runtime.urls.ws)).toBe(401);
    expect(await upgradeStatus(`${runtime.urls.ws}?token=not.a.token`)).toBe(401);
    const expired = await issuer.idToken(viewer, { issuedAt: Math.floor(Date.now() / 1000) - 7200 });
    expect(await upgradeStatus(`${runtime.urls.ws}?token=${expired}`)).toBe(401);
    expect(await upgradeStatus(`${runtime.urls.ws}?token=${await issuer.idToken(viewer, { groups: [] })}`)).toBe(403);
    expect(await upgradeStatus(`${runtime.urls.ws}?token=${await issuer.idToken(viewer)}`)).toBe(101);
  });

  it("lets a viewer read and subscribe but not command: FORBIDDEN, and nothing reaches the device; an operator's command does", async () => {
    const sensorId = 'auth-dev-1';
    const viewerToken = await issuer.idToken(viewer);
    const looking = await WsClient.open(`${runtime.urls.ws}?token=${viewerToken}`);
    expect(await looking.subscribe([sensorId])).toEqual({ type: 'subscribed', sensorIds: [sensorId] });

    const device = await connectDevice(runtime.urls.mqtt!, sensorId);
    await device.subscribeAsync(`sensors/${sensorId}/commands`, { qos: 1 });
    const commands: string[] = [];
    device.on('message', (topic, payload) => {
      if (topic === `sensors/${sensorId}/commands`) commands.push(payload.toString('utf8'));
    });
    // The viewer's subscription works: it is told the sensor came online.
    await looking.waitFor((f) => f.type === 'status' && f.sensorId === sensorId && f.online === true, 'online status');
    const list = await getJson(`${runtime.urls.api}/sensors`, bearer(viewerToken));
    expect(list.status).toBe(200);
    expect(list.body.sensors.map((s: { sensorId: string }) => s.sensorId)).toContain(sensorId);

    const refused = await looking.request({ action: 'command', sensorId, command: SET_INTERVAL });
    expect(refused).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    expect(looking.isOpen).toBe(true);

    const operating = await WsClient.open(`${runtime.urls.ws}?token=${await issuer.idToken(operator)}`);
    const sent = await operating.request({ action: 'command', sensorId, command: SET_INTERVAL });
    expect(sent).toMatchObject({ type: 'commandSent', sensorId });
    await expect.poll(() => commands.length, { timeout: 10_000 }).toBe(1);
    // Only the operator's command arrived: the viewer's never was published.
    expect(JSON.parse(commands[0])).toMatchObject({ id: sent.id, name: 'setInterval' });
  });

  it('signs in with the authorization code flow and PKCE; a wrong verifier is refused', async () => {
    const { body: config } = await getJson(runtime.urls.config);
    const redirectUri = `http://${runtime.host}:${runtime.port}/`;
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const authorizeUrl = new URL(config.auth.authorizeUrl);
    authorizeUrl.search = new URLSearchParams({
      response_type: 'code',
      client_id: config.auth.clientId,
      redirect_uri: redirectUri,
      state: 'xyz-state',
      scope: config.auth.scope,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();

    // The sign-in page offers both local users.
    const page = await fetch(authorizeUrl);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('operator@local');
    expect(html).toContain('viewer@local');

    const code = async () => {
      const pick = new URL(authorizeUrl);
      pick.searchParams.set('user', 'operator@local');
      const res = await fetch(pick, { redirect: 'manual' });
      expect(res.status).toBe(302);
      const back = new URL(res.headers.get('location')!);
      expect(`${back.origin}${back.pathname}`).toBe(redirectUri);
      expect(back.searchParams.get('state')).toBe('xyz-state');
      return back.searchParams.get('code')!;
    };
    const exchange = (c: string, codeVerifier: string) =>
      fetch(config.auth.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: c,
          redirect_uri: redirectUri,
          client_id: config.auth.clientId,
          code_verifier: codeVerifier,
        }),
      });

    const wrong = await exchange(await code(), randomBytes(32).toString('base64url'));
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toEqual({ error: 'invalid_grant' });

    const firstCode = await code();
    const good = await exchange(firstCode, verifier);
    expect(good.status).toBe(200);
    const tokens = (await good.json()) as { id_token: string; access_token: string; token_type: string; expires_in: number };
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 3600 });
    const claims = JSON.parse(Buffer.from(tokens.id_token.split('.')[1], 'base64url').toString('utf8'));
    expect(claims).toMatchObject({ iss: config.auth.issuer, aud: 'vigia-local', email: 'operator@local', 'cognito:groups': ['operator'] });
    expect(claims.exp - claims.iat).toBe(3600);
    // A code is good once.
    expect((await exchange(firstCode, verifier)).status).toBe(400);

    expect((await getJson(`${runtime.urls.api}/sensors`, bearer(tokens.id_token))).status).toBe(200);
    // The access token carries no audience: the API wants the ID token.
    expect((await getJson(`${runtime.urls.api}/sensors`, bearer(tokens.access_token))).status).toBe(401);

    // As the dashboard signs out (Cognito's documented parameters).
    const logout = await fetch(`${new URL(config.auth.logoutUrl)}?client_id=vigia-local&logout_uri=${encodeURIComponent(redirectUri)}`, {
      redirect: 'manual',
    });
    expect(logout.status).toBe(302);
    expect(logout.headers.get('location')).toBe(redirectUri);
  });
});
