// One cluster: its state (live), nodegroups, the event timeline as it happens, and its actions:
// access bundle, resize, nodegroup add/remove, upgrade, CA rotation, delete.
import { useRef, useState } from 'preact/hooks';
import { ApiError, api, page } from '../api.ts';
import { downloadAccessBundle } from '../bundle.ts';
import { Badge, Confirm, ErrorBox, Field, KeyValues, duration, navigate, usePoll, useSubmit, when } from '../ui.tsx';

const POLL_MS = 2000;

interface ClusterEvent { id: number; operation_id: string | null; step: string; outcome: 'started' | 'succeeded' | 'failed' | 'info'; message: string | null; created_at: string }
interface Nodegroup { uuid: string; name: string; role: string; node_count: number; status: string; is_default: boolean; flavor_id: string | null; status_reason?: string | null }

const seg = (s: string) => encodeURIComponent(s);

/** The cluster's events, fetched incrementally (marker = the last id seen). */
function useEvents(uuid: string | null) {
  const seen = useRef<{ uuid: string | null; events: ClusterEvent[] }>({ uuid: null, events: [] });
  return usePoll(async () => {
    if (!uuid) return [];
    if (seen.current.uuid !== uuid) seen.current = { uuid, events: [] };
    for (;;) {
      const last = seen.current.events[seen.current.events.length - 1];
      const q = new URLSearchParams({ limit: '1000' });
      if (last) q.set('marker', String(last.id));
      const body = await api<{ events: ClusterEvent[]; next?: string }>('GET', `/v1/clusters/${uuid}/events?${q}`);
      seen.current.events = [...seen.current.events, ...body.events];
      if (!body.next || body.events.length === 0) break;
    }
    return seen.current.events;
  }, [uuid], POLL_MS);
}

interface StepRow { step: string; started: string | null; ended: string | null; outcome: string; message: string | null }
interface OperationRow { id: string; title: string; at: string; steps: StepRow[]; infos: ClusterEvent[]; failed: boolean; done: boolean; last: string }

/** Events grouped by operation; each step's start paired with its end (duration, outcome, reason). */
function operations(events: ClusterEvent[]): OperationRow[] {
  const ops = new Map<string, OperationRow>();
  for (const e of events) {
    const id = e.operation_id ?? `info-${e.id}`;
    let op = ops.get(id);
    if (!op) {
      op = { id, title: e.operation_id ? e.step : e.step, at: e.created_at, steps: [], infos: [], failed: false, done: false, last: e.created_at };
      ops.set(id, op);
    }
    op.last = e.created_at;
    if (e.outcome === 'info') {
      op.infos.push(e);
      continue;
    }
    let row = [...op.steps].reverse().find((s) => s.step === e.step && s.ended === null);
    if (!row || e.outcome === 'started') {
      row = { step: e.step, started: null, ended: null, outcome: 'running', message: null };
      op.steps.push(row);
    }
    if (e.outcome === 'started') row.started = e.created_at;
    else {
      row.ended = e.created_at;
      row.outcome = e.outcome;
      row.message = e.message;
      if (e.outcome === 'failed') op.failed = true;
    }
    if (e.step === op.title && e.outcome !== 'started') op.done = true;
  }
  return [...ops.values()].reverse();
}

function Timeline({ events }: { events: ClusterEvent[] }) {
  const ops = operations(events);
  if (!ops.length) return <p class="muted">No events yet.</p>;
  return (
    <ol class="timeline" aria-label="event timeline">
      {ops.map((op) => (
        <li key={op.id} class={op.failed ? 'failed' : ''} data-operation={op.title}>
          <div class="op-head"><strong>{op.title.replace(/_/g, ' ')}</strong> <time>{when(op.at)}</time>
            {op.steps.length > 0 && <span class="muted"> · {duration(Date.parse(op.last) - Date.parse(op.at))}</span>}</div>
          {op.infos.map((e) => <div key={e.id} class="info-line">{e.message}</div>)}
          {op.steps.length > 0 && (
            <table class="steps">
              <tbody>
                {op.steps.map((s, i) => (
                  <tr key={i} class={`step ${s.outcome}`} data-step={s.step} data-outcome={s.outcome}>
                    <td>{s.step}</td>
                    <td><span class={`outcome ${s.outcome}`}>{s.outcome}</span></td>
                    <td class="num">{s.started && s.ended ? duration(Date.parse(s.ended) - Date.parse(s.started)) : s.started ? 'running…' : ''}</td>
                    <td class="reason">{s.message}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </li>
      ))}
    </ol>
  );
}

function Resize({ cluster, nodegroups, onDone }: { cluster: any; nodegroups: Nodegroup[]; onDone: () => void }) {
  const workers = nodegroups.filter((n) => n.role !== 'master');
  const form = useSubmit(async (v) => {
    const body: Record<string, unknown> = { node_count: Number(v.node_count) };
    if (v.nodegroup) body.nodegroup = v.nodegroup;
    return api('POST', `/v1/clusters/${cluster.uuid}/actions/resize`, body);
  }, onDone);
  return (
    <form class="inline-form" onSubmit={form.onSubmit} aria-label="resize">
      <Field label="Nodegroup" name="nodegroup">
        <select id="f-nodegroup" name="nodegroup">{workers.map((n) => <option key={n.uuid} value={n.name}>{n.name}</option>)}</select>
      </Field>
      <Field label="Node count" name="node_count" error={form.fieldError('node_count')}>
        <input id="f-node_count" name="node_count" type="number" min={0} defaultValue={String(cluster.node_count)} required />
      </Field>
      <button type="submit" disabled={form.busy}>Resize</button>
      <ErrorBox error={form.error} />
    </form>
  );
}

function Upgrade({ cluster, onDone }: { cluster: any; onDone: () => void }) {
  const templates = usePoll(() => page<{ uuid: string; name: string; coe: string }>('/v1/clustertemplates', 'clustertemplates', 1000, null), []);
  const form = useSubmit(async (v) => api('POST', `/v1/clusters/${cluster.uuid}/actions/upgrade`, { cluster_template: v.cluster_template, max_batch_size: 1 }), onDone);
  return (
    <form class="inline-form" onSubmit={form.onSubmit} aria-label="upgrade">
      <Field label="Upgrade to template" name="cluster_template">
        <select id="f-cluster_template" name="cluster_template" required>
          {(templates.data?.items ?? []).filter((t) => t.uuid !== cluster.cluster_template_id).map((t) => <option key={t.uuid} value={t.uuid}>{t.name}</option>)}
        </select>
      </Field>
      <button type="submit" disabled={form.busy}>Upgrade</button>
      <ErrorBox error={form.error ?? templates.error} />
    </form>
  );
}

function AddNodegroup({ cluster, onDone }: { cluster: any; onDone: () => void }) {
  const form = useSubmit(async (v) => api('POST', `/v1/clusters/${cluster.uuid}/nodegroups`, {
    name: v.name, node_count: Number(v.node_count), role: v.role || 'worker', ...(v.flavor_id ? { flavor_id: v.flavor_id } : {}),
  }), onDone);
  return (
    <form class="inline-form" onSubmit={form.onSubmit} aria-label="add nodegroup">
      <Field label="Name" name="name" error={form.fieldError('name')}><input id="f-name" name="name" required /></Field>
      <Field label="Nodes" name="node_count" error={form.fieldError('node_count')}><input id="f-node_count" name="node_count" type="number" min={0} defaultValue="1" /></Field>
      <Field label="Role" name="role" error={form.fieldError('role')}><input id="f-role" name="role" defaultValue="worker" /></Field>
      <Field label="Flavor" name="flavor_id" error={form.fieldError('flavor_id')}><input id="f-flavor_id" name="flavor_id" placeholder="template's" /></Field>
      <button type="submit" disabled={form.busy}>Add nodegroup</button>
      <ErrorBox error={form.error} />
    </form>
  );
}

/** Loads an image archive of the conductor's image directory into every node (for containers). */
function LoadImage({ cluster }: { cluster: any }) {
  const [load, setLoad] = useState<string | null>(null);
  const form = useSubmit(async (v) => api<{ uuid: string }>('POST', `/v1/clusters/${cluster.uuid}/images`, { file: v.file }), (r) => setLoad(r.uuid));
  const status = usePoll(async () => (load ? api<{ status: string; status_reason: string | null }>('GET', `/v1/clusters/${cluster.uuid}/images/${load}`) : null), [load], 2000);
  return (
    <form class="inline-form" onSubmit={form.onSubmit} aria-label="load image">
      <Field label="Image archive" name="file" error={form.fieldError('file')} hint="a file of the conductor's image directory ([docker] image_dir)">
        <input id="f-file" name="file" required placeholder="busybox.tar" />
      </Field>
      <button type="submit" disabled={form.busy}>Load into every node</button>
      {status.data && <span data-testid="image-load"><Badge status={status.data.status === 'COMPLETE' ? 'LOAD_COMPLETE' : status.data.status === 'FAILED' ? 'LOAD_FAILED' : 'LOAD_IN_PROGRESS'} /> {status.data.status_reason}</span>}
      <ErrorBox error={form.error ?? status.error} />
    </form>
  );
}

export function ClusterShow({ ident }: { ident: string }) {
  const cluster = usePoll(() => api('GET', `/v1/clusters/${seg(ident)}`), [ident], POLL_MS);
  const c = cluster.data;
  const nodegroups = usePoll(async () => (c ? (await api<{ nodegroups: Nodegroup[] }>('GET', `/v1/clusters/${c.uuid}/nodegroups?limit=1000`)).nodegroups : []), [c?.uuid], POLL_MS);
  const events = useEvents(c?.uuid ?? null);
  const [bundle, setBundle] = useState<{ busy: boolean; error: unknown; file: string | null }>({ busy: false, error: null, file: null });
  const [panel, setPanel] = useState<'resize' | 'upgrade' | 'nodegroup' | 'image' | null>(null);

  if (cluster.error instanceof ApiError && cluster.error.status === 404) {
    return <section><h1>Cluster {ident}</h1><p class="muted" role="status">This cluster does not exist (any more). <a href="#/clusters">Back to the clusters</a>.</p></section>;
  }
  if (!c) return <section><ErrorBox error={cluster.error} />{cluster.loading && <p class="muted">Loading…</p>}</section>;
  const busy = String(c.status).endsWith('_IN_PROGRESS');
  const done = () => { setPanel(null); void cluster.refresh(); };
  return (
    <section>
      <header class="page-head">
        <h1>{c.name ?? c.uuid}</h1>
        <Badge status={c.status} title={c.status_reason} />
        <Badge status={c.health_status ?? 'UNKNOWN'} title={c.health_status_reason ? JSON.stringify(c.health_status_reason) : null} />
      </header>
      <ErrorBox error={cluster.error} />
      {c.status_reason && <p class={String(c.status).endsWith('FAILED') ? 'error' : 'muted'} data-key="status_reason">{c.status_reason}</p>}
      <div class="toolbar" role="toolbar" aria-label="cluster actions">
        <button type="button" class="primary" disabled={bundle.busy || !c.api_address} onClick={async () => {
          setBundle({ busy: true, error: null, file: null });
          try {
            setBundle({ busy: false, error: null, file: await downloadAccessBundle(c.uuid) });
          } catch (err) {
            setBundle({ busy: false, error: err, file: null });
          }
        }}>{bundle.busy ? 'Making the bundle…' : 'Download access bundle'}</button>
        <button type="button" aria-expanded={panel === 'resize'} onClick={() => setPanel(panel === 'resize' ? null : 'resize')} disabled={busy}>Resize</button>
        <button type="button" aria-expanded={panel === 'nodegroup'} onClick={() => setPanel(panel === 'nodegroup' ? null : 'nodegroup')} disabled={busy}>Add nodegroup</button>
        <button type="button" aria-expanded={panel === 'upgrade'} onClick={() => setPanel(panel === 'upgrade' ? null : 'upgrade')} disabled={busy}>Upgrade</button>
        <button type="button" aria-expanded={panel === 'image'} onClick={() => setPanel(panel === 'image' ? null : 'image')}>Load image</button>
        <Confirm label="Rotate CA" question="Rotate the CA? Certificates signed by the old CA stop working." disabled={busy}
          onConfirm={async () => { await api('PATCH', `/v1/certificates/${c.uuid}`); done(); }} />
        <Confirm label="Delete" question={`Delete cluster ${c.name ?? c.uuid}?`}
          onConfirm={async () => { await api('DELETE', `/v1/clusters/${c.uuid}`); done(); }} />
      </div>
      {bundle.file && <p class="ok-line" role="status">Downloaded {bundle.file}{bundle.file.endsWith('.tar') ? ': tar -xf it, then . ./env in its directory and use docker.' : ': export KUBECONFIG=<that file>.'} The private key was made in this browser and is only in that file.</p>}
      <ErrorBox error={bundle.error} />
      {panel === 'resize' && <Resize cluster={c} nodegroups={nodegroups.data ?? []} onDone={done} />}
      {panel === 'upgrade' && <Upgrade cluster={c} onDone={done} />}
      {panel === 'image' && <LoadImage cluster={c} />}
      {panel === 'nodegroup' && <AddNodegroup cluster={c} onDone={() => { done(); void nodegroups.refresh(); }} />}
      <div class="columns">
        <div>
          <h2>Details</h2>
          <KeyValues obj={c} keys={['uuid', 'cluster_template_id', 'api_address', 'master_count', 'node_count', 'master_addresses', 'node_addresses', 'coe_version', 'labels', 'created_at', 'updated_at', 'project_id']} />
          <h2>Nodegroups</h2>
          <ErrorBox error={nodegroups.error} />
          <div class="table-wrap">
            <table class="list" aria-label="nodegroups">
              <thead><tr><th>Name</th><th>Role</th><th class="num">Nodes</th><th>Status</th><th /></tr></thead>
              <tbody>
                {(nodegroups.data ?? []).map((n) => (
                  <tr key={n.uuid} data-nodegroup={n.name}>
                    <td>{n.name}</td><td>{n.role}</td><td class="num">{n.node_count}</td><td><Badge status={n.status} title={n.status_reason} /></td>
                    <td>{!n.is_default && <Confirm label="Remove" question={`Remove nodegroup ${n.name}?`} onConfirm={async () => { await api('DELETE', `/v1/clusters/${c.uuid}/nodegroups/${n.uuid}`); void nodegroups.refresh(); }} />}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
        <div>
          <h2>Timeline</h2>
          <ErrorBox error={events.error} />
          <Timeline events={events.data ?? []} />
        </div>
      </div>
      <p><a href="#/clusters" onClick={(e) => { e.preventDefault(); navigate('#/clusters'); }}>← All clusters</a></p>
    </section>
  );
}
