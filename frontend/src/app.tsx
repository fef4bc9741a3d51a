import { useEffect, useMemo, useState } from 'preact/hooks';
import { Api, loadConfig, type DashboardConfig } from './api';
import { FleetStore } from './fleet';
import { ErrorState, FleetView, Loading } from './fleet-view';
import { useHashRoute, useNow } from './hooks';
import { LiveConnection, type ConnectionState } from './live';
import { SensorView } from './sensor-view';

type Boot = { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'ready'; config: DashboardConfig };

export function App() {
  const [boot, setBoot] = useState<Boot>({ kind: 'loading' });
  const start = () => {
    setBoot({ kind: 'loading' });
    loadConfig().then(
      (config) => setBoot({ kind: 'ready', config }),
      (err: Error) => setBoot({ kind: 'error', message: err.message }),
    );
  };
  useEffect(start, []);

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      {boot.kind === 'ready' ? (
        <Dashboard config={boot.config} />
      ) : (
        <>
          <Header connection={null} retryAt={null} />
          <main id="main">
            {boot.kind === 'loading' ? <Loading what="the dashboard" /> : <ErrorState title="The dashboard could not start" message={boot.message} retry={start} />}
          </main>
        </>
      )}
    </>
  );
}

function Dashboard({ config }: { config: DashboardConfig }) {
  const { api, live, fleet } = useMemo(() => {
    const api = new Api(config.apiUrl);
    const live = new LiveConnection(config.wsUrl);
    const fleet = new FleetStore(api, live);
    (window as unknown as { __vigia?: unknown }).__vigia = { live, fleet };
    return { api, live, fleet };
  }, [config]);
  const [connection, setConnection] = useState<ConnectionState>(live.state);
  useEffect(() => {
    const off = live.on('state', setConnection);
    live.start();
    return () => {
      off();
      live.stop();
    };
  }, [live]);
  const hash = useHashRoute();
  const match = /^#\/sensors\/([^/?]+)/.exec(hash);
  const sensorId = match ? decodeURIComponent(match[1]) : null;

  useEffect(() => {
    document.title = sensorId ? `${sensorId} · vigia` : 'vigia';
    document.getElementById('main')?.focus({ preventScroll: true });
  }, [sensorId]);

  return (
    <>
      <Header connection={connection} retryAt={live.retryAt} />
      <main id="main" tabIndex={-1}>
        {sensorId ? (
          <SensorView key={sensorId} sensorId={sensorId} api={api} live={live} connection={connection} />
        ) : (
          <FleetView store={fleet} connection={connection} />
        )}
      </main>
    </>
  );
}

function Header({ connection, retryAt }: { connection: ConnectionState | null; retryAt: number | null }) {
  return (
    <header class="top">
      <a class="brand" href="#/">
        <svg viewBox="0 0 16 16" width="18" height="18" aria-hidden="true">
          <circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" stroke-width="2" />
          <circle cx="8" cy="8" r="2.5" fill="currentColor" />
        </svg>
        vigia
      </a>
      {connection ? <ConnectionIndicator state={connection} retryAt={retryAt} /> : null}
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
