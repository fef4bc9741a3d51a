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
        {field('name', 'Name', <input name="name" value={d.name} onInput={set('name')} maxLength={100} aria-invalid={invalid('name')} />)}
        {field(
          'sensorIds',
          'Sensors (ids, or *)',
          <input name="sensorIds" value={d.sensorIds} onInput={set('sensorIds')} aria-invalid={invalid('sensorIds')} />,
        )}
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
        <div class="controls">
          {field(
            'silentMinutes',
            'Silent for (minutes)',
            <input
              name="silentMinutes"
              inputMode="numeric"
              value={d.silentMinutes}
              onInput={set('silentMinutes')}
              aria-invalid={invalid('silentMinutes')}
            />,
          )}
        </div>
      ) : (
        <div class="controls">
          {field('metric', 'Metric', <input name="metric" value={d.metric} onInput={set('metric')} aria-invalid={invalid('metric')} />)}
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
              {field(
                'low',
                'Low',
                <input name="low" inputMode="decimal" value={d.low} onInput={set('low')} aria-invalid={invalid('low')} />,
              )}
              {field(
                'high',
                'High',
                <input name="high" inputMode="decimal" value={d.high} onInput={set('high')} aria-invalid={invalid('high')} />,
              )}
            </>
          ) : (
            field(
              'value',
              'Threshold',
              <input name="value" inputMode="decimal" value={d.value} onInput={set('value')} aria-invalid={invalid('value')} />,
            )
          )}
          {field(
            'hysteresis',
            'Hysteresis',
            <input
              name="hysteresis"
              inputMode="decimal"
              value={d.hysteresis}
              onInput={set('hysteresis')}
              aria-invalid={invalid('hysteresis')}
            />,
          )}
          {field(
            'forSeconds',
            'For (seconds)',
            <input
              name="forSeconds"
              inputMode="numeric"
              value={d.forSeconds}
              onInput={set('forSeconds')}
              aria-invalid={invalid('forSeconds')}
            />,
          )}
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
