/** The alert rules page (create, edit, delete with validation) and the alert history (contract §8). */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Api } from './api';
import {
  type AlertEvent,
  type AlertRule,
  type Draft,
  EMPTY_DRAFT as EMPTY,
  SEVERITIES,
  describeRule,
  draftOf,
  ruleFromDraft,
} from './alerts';

export function RulesPage({ api, canChange }: { api: Api; canChange: boolean }) {
  const [rules, setRules] = useState<AlertRule[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<{ id: string | null; draft: Draft } | null>(null);
  const load = () =>
    api.request<{ rules: AlertRule[] }>('GET', '/alert-rules').then(
      (r) => setRules(r.rules),
      (err: Error) => setError(err.message),
    );
  useEffect(() => {
    document.title = 'Alert rules · vigia';
    void load();
  }, [api]);
  const remove = (rule: AlertRule) => {
    if (!confirm(`Delete the rule “${rule.name}”?`)) return;
    api.request('DELETE', `/alert-rules/${encodeURIComponent(rule.id)}`).then(load, (err: Error) => setError(err.message));
  };
  return (
    <section class="alert-page" aria-labelledby="rules-title">
      <div class="toolbar">
        <h1 id="rules-title">Alert rules</h1>
        {canChange ? (
          <button type="button" onClick={() => setEditing({ id: null, draft: EMPTY })} disabled={editing !== null}>
            New rule
          </button>
        ) : (
          <p class="muted">Operators only may change rules: you are signed in as a viewer.</p>
        )}
      </div>
      <Problem message={error} />
      {editing ? (
        <RuleForm
          api={api}
          id={editing.id}
          initial={editing.draft}
          onDone={() => {
            setEditing(null);
            void load();
          }}
        />
      ) : null}
      {rules === null ? (
        <p class="muted">Loading rules…</p>
      ) : rules.length === 0 ? (
        <p class="muted">No rules yet.</p>
      ) : (
        <Table class="rules" columns={['Name', 'Sensors', 'Condition', 'Severity', ...(canChange ? ['Actions'] : [])]}>
          {rules.map((r) => (
            <tr key={r.id} data-rule-id={r.id}>
              <td>{r.name}</td>
              <td>{r.sensorIds[0] === '*' ? 'every sensor' : r.sensorIds.join(', ')}</td>
              <td>{describeRule(r)}</td>
              <td>
                <span class={`sev ${r.severity}`}>{r.severity}</span>
              </td>
              {canChange ? (
                <td class="actions">
                  <button type="button" class="secondary" onClick={() => setEditing({ id: r.id, draft: draftOf(r) })}>
                    Edit
                  </button>
                  <button type="button" class="secondary" onClick={() => remove(r)}>
                    Delete
                  </button>
                </td>
              ) : null}
            </tr>
          ))}
        </Table>
      )}
    </section>
  );
}

/** A page's last failure, announced; nothing when there is none. */
function Problem({ message }: { message: string | null }) {
  return message ? (
    <p class="problem" role="alert">
      {message}
    </p>
  ) : null;
}

/** A table of rows with a header row of column names. */
function Table({ class: className, columns, children }: { class: string; columns: string[]; children: ComponentChildren }) {
  return (
    <table class={className}>
      <thead>
        <tr>
          {columns.map((name) => (
            <th key={name} scope="col">
              {name}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}

function RuleForm({ api, id, initial, onDone }: { api: Api; id: string | null; initial: Draft; onDone: () => void }) {
  const [d, setD] = useState<Draft>(initial);
  const [problem, setProblem] = useState<{ field: string; message: string } | null>(null);
  const [saving, setSaving] = useState(false);
  const set = (key: keyof Draft) => (e: Event) => setD({ ...d, [key]: (e.currentTarget as HTMLInputElement).value });
  const submit = (e: Event) => {
    e.preventDefault();
    const result = ruleFromDraft(d);
    if ('field' in result) return setProblem(result);
    setSaving(true);
    setProblem(null);
    const request = id
      ? api.request('PUT', `/alert-rules/${encodeURIComponent(id)}`, result.rule)
      : api.request('POST', '/alert-rules', result.rule);
    request.then(onDone, (err: Error) => {
      setSaving(false);
      setProblem({ field: err.message.split(':')[0], message: err.message });
    });
  };
  const field = (key: string, label: string, input: preact.JSX.Element) => (
    // biome-ignore lint/a11y/noLabelWithoutControl: the control is `input`, passed in and rendered inside the label
    <label class={`field ${problem?.field === key ? 'invalid' : ''}`}>
      {label}
      {input}
    </label>
  );
  const invalid = (key: string) => (problem?.field === key || problem?.field === `condition.${key}` ? true : undefined);
  type TextKey = Exclude<keyof Draft, 'kind' | 'op' | 'severity'>;
  /** A labelled text box for one of the draft's fields; `inputMode` picks the phone keyboard. */
  const text = (key: TextKey, label: string, inputMode?: 'numeric' | 'decimal', maxLength?: number) =>
    field(
      key,
      label,
      <input name={key} inputMode={inputMode} value={d[key]} onInput={set(key)} maxLength={maxLength} aria-invalid={invalid(key)} />,
    );
  return (
    <form class="rule-form" onSubmit={submit} aria-label={id ? 'Edit rule' : 'New rule'} noValidate>
      <div class="controls">
        {field(
          'kind',
          'Kind',
          <select value={d.kind} onChange={set('kind')} name="kind" disabled={id !== null}>
            <option value="threshold">threshold</option>
            <option value="silence">silence</option>
          </select>,
        )}
        {text('name', 'Name', undefined, 100)}
        {text('sensorIds', 'Sensors (ids, or *)')}
        {field(
          'severity',
          'Severity',
          <select name="severity" value={d.severity} onChange={set('severity')}>
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>,
        )}
      </div>
      {d.kind === 'silence' ? (
        <div class="controls">{text('silentMinutes', 'Silent for (minutes)', 'numeric')}</div>
      ) : (
        <div class="controls">
          {text('metric', 'Metric')}
          {field(
            'op',
            'Condition',
            <select name="op" value={d.op} onChange={set('op')}>
              {['>', '>=', '<', '<=', 'outside'].map((op) => (
                <option key={op} value={op}>
                  {op}
                </option>
              ))}
            </select>,
          )}
          {d.op === 'outside' ? (
            <>
              {text('low', 'Low', 'decimal')}
              {text('high', 'High', 'decimal')}
            </>
          ) : (
            text('value', 'Threshold', 'decimal')
          )}
          {text('hysteresis', 'Hysteresis', 'decimal')}
          {text('forSeconds', 'For (seconds)', 'numeric')}
        </div>
      )}
      {problem ? (
        <p class="problem" role="alert" data-field={problem.field}>
          {problem.message}
        </p>
      ) : null}
      <div class="controls">
        <button type="submit" disabled={saving}>
          {id ? 'Save rule' : 'Create rule'}
        </button>
        <button type="button" class="secondary" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function AlertHistoryPage({ api }: { api: Api }) {
  const [events, setEvents] = useState<AlertEvent[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [range] = useState(() => ({ from: Date.now() - 7 * 86_400_000, to: Date.now() + 60_000 }));
  const page = (after: string | null) => {
    const params = new URLSearchParams({ from: String(range.from), to: String(range.to), limit: '100' });
    if (after) params.set('cursor', after);
    api.request<{ events: AlertEvent[]; nextCursor: string | null }>('GET', `/alerts/history?${params}`).then(
      (r) => {
        setEvents((prev) => [...(after ? (prev ?? []) : []), ...r.events]);
        setCursor(r.nextCursor);
      },
      (err: Error) => setError(err.message),
    );
  };
  useEffect(() => {
    document.title = 'Alert history · vigia';
    page(null);
  }, [api]);
  return (
    <section class="alert-page" aria-labelledby="history-title">
      <div class="toolbar">
        <h1 id="history-title">Alert history</h1>
        <p class="muted">The last 7 days, newest first</p>
      </div>
      <Problem message={error} />
      {events === null ? (
        <p class="muted">Loading…</p>
      ) : events.length === 0 ? (
        <p class="muted">No alert events in the last 7 days.</p>
      ) : (
        <Table class="alert-history" columns={['When', 'Event', 'Sensor', 'Severity', 'Value', 'By']}>
          {events.map((e) => (
            <tr key={`${e.ts}${e.alertId}${e.kind}`} data-kind={e.kind}>
              <td>{new Date(e.ts).toLocaleString()}</td>
              <td>{e.kind}</td>
              <td>
                <a href={`#/sensors/${encodeURIComponent(e.sensorId)}`}>{e.sensorId}</a>
              </td>
              <td>
                <span class={`sev ${e.severity}`}>{e.severity}</span>
              </td>
              <td>{e.value ?? ''}</td>
              <td>{e.by ?? ''}</td>
            </tr>
          ))}
        </Table>
      )}
      {cursor ? (
        <button type="button" class="secondary" onClick={() => page(cursor)}>
          Older events
        </button>
      ) : null}
    </section>
  );
}
