import { useEffect, useMemo, useState } from 'preact/hooks';
import { Api, loadConfig, type DashboardConfig } from './api';
import {
  NO_ROLE_MESSAGE,
  clearSession,
  completeSignIn,
  isAuthConfig,
  isExpired,
  isSignInReturn,
  loadSession,
  logoutUrl,
  prepareSignIn,
  redirectUri,
  withToken,
  EXPIRY_MARGIN_MS,
  type AuthConfig,
  type Role,
  type Session,
} from './auth';
import { AlertBar } from './alert-bar';
import { AlertsContext } from './alert-chart';
import type { AlertHistoryPage as AlertHistoryPageType, RulesPage as RulesPageType } from './alert-pages';
import { AlertStore } from './alerts';
import { FleetStore } from './fleet';
import { ErrorState, Loading } from './badges';
import { FleetView } from './fleet-view';
import { useHashRoute, useNow } from './hooks';
import { LiveConnection, type ConnectionState } from './live';
import type { SensorView as SensorViewType } from './sensor-view';

/**
 * A view whose module loads on first use: the fleet view, where most sessions start, parses only its own
 * script. A module chunk, so no inline script or eval is needed (CSP).
 */
function lazyView<P extends object>(load: () => Promise<(props: P) => preact.JSX.Element>, what: string) {
  let module: Promise<(props: P) => preact.JSX.Element> | null = null;
  return function LazyView(props: P) {
    const [View, setView] = useState<((props: P) => preact.JSX.Element) | null>(null);
    useEffect(() => {
      let live = true;
      void (module ??= load()).then((v) => live && setView(() => v));
      return () => {
        live = false;
      };
    }, []);
    return View ? <View {...props} /> : <Loading what={what} />;
  };
}

/** The sensor view brings uPlot; the alert pages their forms and tables. */
const LazySensorView = lazyView<Parameters<typeof SensorViewType>[0]>(
  () => import('./sensor-view').then((m) => m.SensorView),
  'the sensor',
);
const LazyRulesPage = lazyView<Parameters<typeof RulesPageType>[0]>(
  () => import('./alert-pages').then((m) => m.RulesPage),
  'the alert rules',
);
const LazyAlertHistoryPage = lazyView<Parameters<typeof AlertHistoryPageType>[0]>(
  () => import('./alert-pages').then((m) => m.AlertHistoryPage),
  'the alert history',
);

type Boot =
  | { kind: 'loading' }
  | { kind: 'redirecting' }
  | { kind: 'error'; message: string }
  | { kind: 'signed-out'; auth: AuthConfig; message: string | null }
  | { kind: 'ready'; config: DashboardConfig; auth: AuthConfig | null; session: Session | null };

/** A 401 this soon after signing in is not an expired token: show it rather than loop through the issuer. */
const FRESH_SIGN_IN_MS = 30_000;
let signingIn = false;

export function App() {
  const [boot, setBoot] = useState<Boot>({ kind: 'loading' });

  const signIn = (auth: AuthConfig) => {
    // Many requests may fail at once; the first starts the one sign-in (a second would replace its state).
    if (signingIn) return;
    signingIn = true;
    setBoot({ kind: 'redirecting' });
    prepareSignIn(auth, location.origin, location.hash, sessionStorage).then(
      (url) => location.assign(url),
      (err: Error) => {
        signingIn = false;
        setBoot({ kind: 'signed-out', auth, message: `Sign-in could not start: ${err.message}` });
      },
    );
  };

  /** The token is refused or about to expire: sign in again, unless it was just issued. */
  const signInAgain = (auth: AuthConfig, session: Session, why: string) => {
    if (signingIn) return;
    clearSession(sessionStorage);
    if (Date.now() - session.signedInAt < FRESH_SIGN_IN_MS) setBoot({ kind: 'signed-out', auth, message: why });
    else signIn(auth);
  };

  const start = () => {
    setBoot({ kind: 'loading' });
    loadConfig()
      .then(async (config) => {
        if (config.auth === null || config.auth === undefined) return setBoot({ kind: 'ready', config, auth: null, session: null });
        if (!isAuthConfig(config.auth))
          throw new Error('/config.json names sign-in without clientId, authorizeUrl, tokenUrl and logoutUrl');
        const auth = config.auth;
        const query = new URLSearchParams(location.search);
        if (isSignInReturn(query)) {
          try {
            const { session, hash } = await completeSignIn(auth, query, location.origin, sessionStorage);
            history.replaceState(null, '', `/${location.hash || hash}`);
            if (isExpired(session)) {
              clearSession(sessionStorage);
              return setBoot({ kind: 'signed-out', auth, message: 'The new ID token is already expired: is this computer’s clock right?' });
            }
            return setBoot({ kind: 'ready', config, auth, session });
          } catch (err) {
            history.replaceState(null, '', `/${location.hash}`);
            return setBoot({ kind: 'signed-out', auth, message: (err as Error).message });
          }
        }
        const session = loadSession(sessionStorage);
        if (session && !isExpired(session)) return setBoot({ kind: 'ready', config, auth, session });
        if (session) {
          // It expired while the tab was away: straight back through the issuer.
          clearSession(sessionStorage);
          return signIn(auth);
        }
        setBoot({ kind: 'signed-out', auth, message: null });
      })
      .catch((err: Error) => setBoot({ kind: 'error', message: err.message }));
  };
  useEffect(start, []);

  let body: preact.JSX.Element;
  if (boot.kind === 'ready') {
    const { auth, session } = boot;
    return (
      <>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <Dashboard
          config={boot.config}
          session={session}
          onSignOut={
            auth
              ? () => {
                  clearSession(sessionStorage);
                  setBoot({ kind: 'redirecting' });
                  location.assign(logoutUrl(auth, redirectUri(location.origin)));
                }
              : null
          }
          onUnauthorized={auth && session ? (why) => signInAgain(auth, session, why) : null}
        />
      </>
    );
  } else if (boot.kind === 'signed-out') {
    body = <SignedOut message={boot.message} signIn={() => signIn(boot.auth)} />;
  } else if (boot.kind === 'error') {
    body = <ErrorState title="The dashboard could not start" message={boot.message} retry={start} />;
  } else {
    body = <Loading what={boot.kind === 'redirecting' ? 'the sign-in page' : 'the dashboard'} />;
  }
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <Header connection={null} retryAt={null} />
      <main id="main">{body}</main>
    </>
  );
}

function SignedOut({ message, signIn }: { message: string | null; signIn: () => void }) {
  return (
    <section class="state signed-out" aria-labelledby="signin-title">
      <h1 id="signin-title">Sign in to vigia</h1>
      <p class="muted">The fleet is shown to signed-in operators and viewers.</p>
      {message ? (
        <p class="problem" role="alert">
          {message}
        </p>
      ) : null}
      <button type="button" onClick={signIn}>
        Sign in
      </button>
    </section>
  );
}

function Dashboard({
  config,
  session,
  onSignOut,
  onUnauthorized,
}: {
  config: DashboardConfig;
  session: Session | null;
  onSignOut: (() => void) | null;
  onUnauthorized: ((why: string) => void) | null;
}) {
  const [forbidden, setForbidden] = useState(false);
  const { api, live, fleet, alerts } = useMemo(() => {
    const api = new Api(
      config.apiUrl,
      session
        ? {
            token: () => session.idToken,
            onUnauthorized: () => onUnauthorized?.('The API refused the new sign-in (401).'),
            onForbidden: () => setForbidden(true),
          }
        : null,
    );
    const live = new LiveConnection(session ? () => withToken(config.wsUrl, session.idToken) : config.wsUrl);
    const fleet = new FleetStore(api, live);
    const alerts = new AlertStore(api, live);
    (window as unknown as { __vigia?: unknown }).__vigia = { live, fleet, alerts };
    return { api, live, fleet, alerts };
  }, [config, session]);
  const [connection, setConnection] = useState<ConnectionState>(live.state);
  useEffect(() => {
    const off = live.on('state', setConnection);
    live.start();
    alerts.start();
    return () => {
      off();
      alerts.stop();
      live.stop();
    };
  }, [live]);
  // Sign in again a minute before the ID token expires.
  useEffect(() => {
    if (!session || !onUnauthorized) return;
    const timer = setTimeout(() => onUnauthorized('The sign-in expired.'), Math.max(0, session.expiresAt - EXPIRY_MARGIN_MS - Date.now()));
    return () => clearTimeout(timer);
  }, [session]);
  const hash = useHashRoute();
  const match = /^#\/sensors\/([^/?]+)/.exec(hash);
  const sensorId = match ? decodeURIComponent(match[1]) : null;

  useEffect(() => {
    document.title = sensorId ? `${sensorId} · vigia` : 'vigia';
    document.getElementById('main')?.focus({ preventScroll: true });
  }, [sensorId]);

  const role: Role = session ? session.role : 'operator';
  const alertPage = hash.startsWith('#/alerts/rules') ? 'rules' : hash.startsWith('#/alerts/history') ? 'history' : null;
  const commandBlock =
    role === 'operator'
      ? null
      : role === 'viewer'
        ? 'Operators only: you are signed in as a viewer.'
        : 'Operators only: your account has no role.';

  return (
    <AlertsContext.Provider value={alerts}>
      <Header connection={connection} retryAt={live.retryAt} account={session ? { session, onSignOut } : 'local'} />
      <main id="main" tabIndex={-1}>
        {forbidden ? (
          <p class="banner problem" role="alert">
            {NO_ROLE_MESSAGE[0].toUpperCase() + NO_ROLE_MESSAGE.slice(1)}.
          </p>
        ) : null}
        <AlertBar store={alerts} canChange={role === 'operator'} />
        {alertPage === 'rules' ? (
          <LazyRulesPage api={api} canChange={role === 'operator'} />
        ) : alertPage === 'history' ? (
          <LazyAlertHistoryPage api={api} />
        ) : sensorId ? (
          <LazySensorView key={sensorId} sensorId={sensorId} api={api} live={live} connection={connection} commandBlock={commandBlock} />
        ) : (
          <FleetView store={fleet} connection={connection} />
        )}
      </main>
    </AlertsContext.Provider>
  );
}

type Account = 'local' | { session: Session; onSignOut: (() => void) | null };

function Header({
  connection,
  retryAt,
  account = null,
}: {
  connection: ConnectionState | null;
  retryAt: number | null;
  account?: Account | null;
}) {
  return (
    <header class="top">
      <a class="brand" href="#/">
        <svg viewBox="0 0 16 16" width="18" height="18" aria-hidden="true">
          <circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" stroke-width="2" />
          <circle cx="8" cy="8" r="2.5" fill="currentColor" />
        </svg>
        vigia
      </a>
      <div class="top-right">
        {connection ? <ConnectionIndicator state={connection} retryAt={retryAt} /> : null}
        {account === 'local' ? (
          <p class="auth-badge" title="/config.json names no sign-in: anyone who reaches this page may look and send commands">
            local, no sign-in
          </p>
        ) : account ? (
          <AccountMenu session={account.session} onSignOut={account.onSignOut} />
        ) : null}
      </div>
    </header>
  );
}

function ConnectionIndicator({ state, retryAt }: { state: ConnectionState; retryAt: number | null }) {
  const now = useNow(1000);
  const wait = retryAt && retryAt > now ? ` in ${Math.ceil((retryAt - now) / 1000)} s` : '…';
  const text = state === 'live' ? 'Live' : state === 'connecting' ? `Connecting${wait}` : `Reconnecting${wait}`;
  return (
    <p class={`conn ${state}`} role="status" aria-live="polite" data-state={state} title="Real-time connection">
      <span class="dot" aria-hidden="true" />
      {text}
    </p>
  );
}

function AccountMenu({ session, onSignOut }: { session: Session; onSignOut: (() => void) | null }) {
  return (
    <div class="account">
      <p class="who">
        <span class="email" data-email={session.email ?? ''}>
          {session.email ?? 'signed in'}
        </span>
        <span class={`role-tag ${session.role ?? 'none'}`} data-role={session.role ?? 'none'}>
          {session.role ?? 'no role'}
        </span>
      </p>
      {onSignOut ? (
        <button type="button" class="secondary" onClick={onSignOut}>
          Sign out
        </button>
      ) : null}
    </div>
  );
}
