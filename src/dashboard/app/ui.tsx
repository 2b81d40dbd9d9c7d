// Small shared pieces: polling, badges, errors, the one-time confirmation, pagination, forms.
import { Fragment, type ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type Page } from './api.ts';

export function navigate(hash: string): void {
  location.hash = hash;
}

/** Runs `load` now and every `intervalMs` (when given) while mounted and the tab is visible. */
export function usePoll<T>(load: () => Promise<T>, deps: unknown[], intervalMs?: number) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [loading, setLoading] = useState(true);
  const gen = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const refresh = useCallback(async () => {
    const mine = ++gen.current;
    try {
      const v = await loadRef.current();
      if (mine !== gen.current) return;
      setData(v);
      setError(null);
    } catch (err) {
      if (mine === gen.current) setError(err as Error);
    } finally {
      if (mine === gen.current) setLoading(false);
    }
  }, []);
  useEffect(() => {
    setLoading(true);
    setData(null);
    void refresh();
    if (!intervalMs) return () => { gen.current++; };
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void refresh();
    }, intervalMs);
    return () => {
      clearInterval(timer);
      gen.current++;
    };
  }, deps);
  return { data, error, loading, refresh };
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  const status = error instanceof ApiError && error.status ? ` (${error.status})` : '';
  return <div class="error" role="alert">{message}{status}</div>;
}

function tone(status: string | null | undefined): string {
  const s = status ?? '';
  if (s.endsWith('_COMPLETE') || s === 'HEALTHY' || s === 'Running' || s === 'Succeeded' || s === 'up' || s === 'running') return 'ok';
  if (s.endsWith('_FAILED') || s === 'UNHEALTHY' || s === 'Error' || s === 'Failed' || s === 'down' || s === 'Stopped') return 'bad';
  if (s.endsWith('_IN_PROGRESS') || s === 'Creating' || s === 'Pending') return 'busy';
  return 'neutral';
}

export function Badge({ status, title }: { status: string | null | undefined; title?: string | null }) {
  return <span class={`badge ${tone(status)}`} title={title ?? undefined} data-status={status ?? ''}>{status ?? '—'}</span>;
}

/** A destructive action that asks once, inline. */
export function Confirm({ label, question, onConfirm, disabled }: { label: string; question: string; onConfirm: () => Promise<void> | void; disabled?: boolean }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const yes = useRef<HTMLButtonElement>(null);
  useEffect(() => { if (asking) yes.current?.focus(); }, [asking]);
  if (!asking) return <><button type="button" class="danger" disabled={disabled} onClick={() => { setError(null); setAsking(true); }}>{label}</button><ErrorBox error={error} /></>;
  return (
    <span class="confirm" role="group" aria-label={question} onKeyDown={(e) => { if (e.key === 'Escape') setAsking(false); }}>
      <span>{question}</span>
      <button type="button" class="danger" ref={yes} disabled={busy} onClick={async () => {
        setBusy(true);
        try {
          await onConfirm();
          setAsking(false);
        } catch (err) {
          setError(err);
          setAsking(false);
        } finally {
          setBusy(false);
        }
      }}>Yes, {label.toLowerCase()}</button>
      <button type="button" onClick={() => setAsking(false)}>Cancel</button>
    </span>
  );
}

/** Marker-based paging as the API pages: a stack of markers for "previous". */
export function usePager() {
  const [markers, setMarkers] = useState<(string | null)[]>([null]);
  const marker = markers[markers.length - 1];
  return {
    marker,
    pageNumber: markers.length,
    next: (m: string) => setMarkers([...markers, m]),
    prev: () => setMarkers(markers.slice(0, -1)),
    reset: () => setMarkers([null]),
  };
}

export function Pager({ pager, next }: { pager: ReturnType<typeof usePager>; next: string | null | undefined }) {
  if (pager.pageNumber === 1 && !next) return null;
  return (
    <nav class="pager" aria-label="pages">
      <button type="button" disabled={pager.pageNumber === 1} onClick={pager.prev}>← Previous</button>
      <span>page {pager.pageNumber}</span>
      <button type="button" disabled={!next} onClick={() => next && pager.next(next)}>Next →</button>
    </nav>
  );
}

/** A labelled form field; the control inside must have id `f-<name>` (or the id given). */
export function Field({ label, name, id, error, hint, children }: { label: string; name: string; id?: string; error?: string | null; hint?: string; children: ComponentChildren }) {
  return (
    <div class={`field${error ? ' invalid' : ''}`} data-field={name}>
      <label for={id ?? `f-${name}`}>{label}</label>
      {children}
      {hint && <small class="hint">{hint}</small>}
      {error && <small class="field-error" role="alert" id={`e-${name}`}>{error}</small>}
    </div>
  );
}

/** A form's values by name (text inputs, selects, checkboxes as booleans). */
export function formValues(form: HTMLFormElement): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (const el of Array.from(form.elements) as HTMLInputElement[]) {
    if (!el.name) continue;
    out[el.name] = el.type === 'checkbox' ? el.checked : el.value;
  }
  return out;
}

/** Submit handling shared by forms: busy state, Magnum's error, the field it names. */
export function useSubmit<T>(action: (values: Record<string, string | boolean>) => Promise<T>, done?: (result: T) => void) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const onSubmit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await action(formValues(e.currentTarget as HTMLFormElement));
      done?.(r);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const fieldError = (name: string) => (error instanceof ApiError && error.field === name ? error.message : null);
  return { busy, error, onSubmit, fieldError, setError };
}

export function download(name: string, data: BlobPart, type = 'application/octet-stream'): void {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

export function KeyValues({ obj, keys }: { obj: Record<string, unknown>; keys: string[] }) {
  return (
    <dl class="kv">
      {keys.map((k) => {
        const v = obj[k];
        const shown = v === null || v === undefined || v === '' ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v);
        return <Fragment key={k}><dt>{k}</dt><dd data-key={k}>{shown}</dd></Fragment>;
      })}
    </dl>
  );
}

/** A page of a collection as a table: loading, error, empty text, rows, pager. */
export function Listing<T>({ label, columns, result, rows, empty, pager }: {
  label: string; columns: string[]; result: { data: Page<T> | null; error: Error | null; loading: boolean };
  rows: (items: T[]) => ComponentChildren; empty: ComponentChildren; pager: ReturnType<typeof usePager>;
}) {
  const { data, error, loading } = result;
  return (
    <>
      <ErrorBox error={error} />
      {loading && !data && <p class="muted">Loading…</p>}
      {/* The API links a next page whenever a page is full: that page may be empty. */}
      {data && data.items.length === 0 && <p class="muted">{pager.pageNumber > 1 ? 'No more.' : empty}</p>}
      {data && data.items.length > 0 && (
        <div class="table-wrap">
          <table class="list" aria-label={label}>
            <thead><tr>{columns.map((c) => <th key={c} class={c.startsWith('#') ? 'num' : undefined}>{c.replace(/^#/, '')}</th>)}</tr></thead>
            <tbody>{rows(data.items)}</tbody>
          </table>
        </div>
      )}
      <Pager pager={pager} next={data?.next} />
    </>
  );
}
