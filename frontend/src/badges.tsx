/** Small pieces every page shows: a sensor's status badge, and the loading and error states of a page. */

export function StatusBadge({ online }: { online: boolean }) {
  return <span class={`badge ${online ? 'online' : 'offline'}`}>{online ? 'online' : 'offline'}</span>;
}

export function Loading({ what }: { what: string }) {
  return (
    <div class="state" role="status" aria-live="polite">
      <div class="spinner" aria-hidden="true" />
      <p>Loading {what}…</p>
    </div>
  );
}

export function ErrorState({ title, message, retry }: { title: string; message: string; retry?: () => void }) {
  return (
    <div class="state error" role="alert">
      <h2>{title}</h2>
      <p class="muted">{message}</p>
      {retry ? (
        <button type="button" onClick={retry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}
