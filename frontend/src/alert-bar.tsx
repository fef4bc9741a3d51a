/** The firing-alerts bar on every page (contract §8): counts by severity, newest first, acknowledge. */
import { useContext, useState } from 'preact/hooks';
import { AlertsContext } from './alert-chart';
import { type AlertStore, type AlertView, SEVERITIES } from './alerts';
import { useStore } from './hooks';

/** Re-renders on every change of the store. */
export function useAlerts(store: AlertStore): AlertView[] {
  useStore(store);
  return store.alerts();
}

const when = (ts: number | null) => (ts === null ? '' : new Date(ts).toLocaleTimeString());

export function AlertBar({ store, canChange }: { store: AlertStore; canChange: boolean }) {
  const alerts = useAlerts(store).filter((a) => a.state === 'firing');
  const [open, setOpen] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const counts = SEVERITIES.map((s) => [s, alerts.filter((a) => a.severity === s).length] as const).filter(([, n]) => n > 0);
  const ack = (a: AlertView) => {
    setProblem(null);
    store.acknowledge(a.id).catch((err: Error) => setProblem(`Could not acknowledge: ${err.message}`));
  };
  return (
    <section class={`alert-bar ${alerts.length ? 'firing' : 'quiet'}`} aria-label="Firing alerts" data-count={alerts.length}>
      <div class="alert-bar-head">
        <p class="alert-summary" role="status" aria-live="polite">
          {alerts.length === 0 ? (
            'No alerts firing'
          ) : (
            <>
              <strong>{alerts.length} firing</strong>
              {counts.map(([s, n]) => (
                <span key={s} class={`sev ${s}`} data-severity={s}>
                  {n} {s}
                </span>
              ))}
            </>
          )}
        </p>
        <nav class="alert-links" aria-label="Alerts">
          {alerts.length ? (
            <button type="button" class="secondary" aria-expanded={open} onClick={() => setOpen(!open)}>
              {open ? 'Hide' : 'Show'}
            </button>
          ) : null}
          <a href="#/alerts/rules">Rules</a>
          <a href="#/alerts/history">History</a>
        </nav>
      </div>
      {problem ? (
        <p class="problem" role="alert">
          {problem}
        </p>
      ) : null}
      {open && alerts.length ? (
        <ul class="alert-list">
          {alerts.map((a) => (
            <li key={a.id} class={`alert-item sev-${a.severity}`} data-alert-id={a.id}>
              <span class={`sev ${a.severity}`}>{a.severity}</span>
              <a href={`#/sensors/${encodeURIComponent(a.sensorId)}`}>{a.sensorId}</a>
              <span class="rule-name">{a.ruleName}</span>
              <span class="muted">
                {a.metric ? `${a.metric} ${a.value}` : 'silent'} · since {when(a.since)}
              </span>
              {a.acknowledged ? (
                <span class="acked">acknowledged{a.acknowledgedBy ? ` by ${a.acknowledgedBy}` : ''}</span>
              ) : (
                <button
                  type="button"
                  class="secondary ack"
                  disabled={!canChange}
                  title={canChange ? 'Acknowledge this alert' : 'Operators only'}
                  onClick={() => ack(a)}
                >
                  Acknowledge
                </button>
              )}
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}

/** The badge on a fleet card: how many alerts fire on the sensor, coloured by the worst. */
export function AlertBadge({ store, sensorId }: { store: AlertStore; sensorId: string }) {
  useAlerts(store);
  const firing = store.firingOf(sensorId);
  if (firing.length === 0) return null;
  const worst = firing[0].severity;
  return (
    <span class={`badge alert-badge sev ${worst}`} data-severity={worst} title={firing.map((a) => a.ruleName).join(', ')}>
      {firing.length} alert{firing.length > 1 ? 's' : ''}
    </span>
  );
}

/** The fleet card's badge, from the dashboard's alert store (nothing without one). */
export function CardAlertBadge({ sensorId }: { sensorId: string }) {
  const store = useContext(AlertsContext);
  return store ? <AlertBadge store={store} sensorId={sensorId} /> : null;
}
