/** The sensor page's command panel: `setInterval` to the device (operators), and the reading rate before and after. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { MAX_INTERVAL_MS, MIN_INTERVAL_MS } from '../../lambdas/shared/contract.js';
import type { ConnectionState, LiveConnection } from './live';

export function CommandPanel({
  sensorId,
  live,
  connection,
  rate,
  block,
}: {
  sensorId: string;
  live: LiveConnection;
  connection: ConnectionState;
  rate: number | null;
  block: string | null;
}) {
  const [intervalMs, setIntervalMs] = useState('1000');
  const [sent, setSent] = useState<{ id: string; at: number; intervalMs: number; rateBefore: number | null } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const rateBefore = useRef<number | null>(null);
  const asked = useRef<number | null>(null);

  useEffect(() => {
    const offSent = live.on('commandSent', (c) => {
      if (c.sensorId !== sensorId || asked.current === null) return;
      setSent({ id: c.id, at: Date.now(), intervalMs: asked.current, rateBefore: rateBefore.current });
      setProblem(null);
    });
    const offError = live.on('error', (e) =>
      setProblem(e.code === 'FORBIDDEN' ? `FORBIDDEN: ${e.message || 'commands are for operators only'}` : `${e.code}: ${e.message}`),
    );
    return () => {
      offSent();
      offError();
    };
  }, [live, sensorId]);

  const fmtRate = (r: number | null) =>
    r === null ? '–' : `${r >= 10 ? r.toFixed(0) : r.toFixed(1)} /s (every ${Math.round(1000 / r)} ms)`;

  return (
    <aside class={`panel${block ? ' blocked' : ''}`} aria-labelledby="command-title" data-blocked={block ? 'true' : 'false'}>
      <h2 id="command-title">Command</h2>
      {block ? (
        <p class="command-block" id="command-block">
          {block}
        </p>
      ) : null}
      <form
        aria-describedby={block ? 'command-block' : undefined}
        onSubmit={(e) => {
          e.preventDefault();
          if (block) return;
          const value = Number(intervalMs);
          if (!Number.isInteger(value) || value < MIN_INTERVAL_MS || value > MAX_INTERVAL_MS) {
            setProblem(
              `The interval is a whole number of milliseconds from ${MIN_INTERVAL_MS} to ${MAX_INTERVAL_MS.toLocaleString('en').replace(/,/g, ' ')}.`,
            );
            return;
          }
          rateBefore.current = rate;
          asked.current = value;
          if (!live.command(sensorId, 'setInterval', { intervalMs: value })) setProblem('Not connected; try again once live.');
        }}
      >
        <label class="field" for="interval-ms">
          <span>Reading interval (ms)</span>
        </label>
        <div class="row">
          <input
            id="interval-ms"
            type="number"
            inputMode="numeric"
            min={MIN_INTERVAL_MS}
            max={MAX_INTERVAL_MS}
            step={1}
            required
            disabled={block !== null}
            value={intervalMs}
            onInput={(e) => setIntervalMs(e.currentTarget.value)}
          />
          <button type="submit" disabled={connection !== 'live' || block !== null}>
            Send setInterval
          </button>
        </div>
      </form>
      <div role="status" aria-live="polite" class="command-result">
        {problem ? <p class="problem">{problem}</p> : null}
        {sent ? (
          <p>
            <b>commandSent</b> <code class="id">{sent.id}</code>
            <br />
            setInterval {sent.intervalMs} ms at {new Date(sent.at).toLocaleTimeString()}
          </p>
        ) : null}
      </div>
      <dl class="rate">
        <div>
          <dt>Reading rate</dt>
          <dd data-rate={rate ?? ''}>{fmtRate(rate)}</dd>
        </div>
        {sent ? (
          <div>
            <dt>Before the command</dt>
            <dd>{fmtRate(sent.rateBefore)}</dd>
          </div>
        ) : null}
      </dl>
    </aside>
  );
}
