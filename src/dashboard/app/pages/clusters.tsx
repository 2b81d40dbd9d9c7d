// Clusters: the list (status and health update live), create from a template.
import { useState } from 'preact/hooks';
import { api, page } from '../api.ts';
import { Badge, ErrorBox, Field, Listing, navigate, usePager, usePoll, useSubmit } from '../ui.tsx';

export const PAGE_SIZE = 50;
const POLL_MS = 3000;

export interface ClusterBrief {
  uuid: string; name: string | null; status: string; health_status: string | null; health_status_reason?: unknown;
  master_count: number; node_count: number; status_reason?: string | null; cluster_template_id?: string;
}

export function ClusterList() {
  const pager = usePager();
  const result = usePoll(() => page<ClusterBrief>('/v1/clusters', 'clusters', PAGE_SIZE, pager.marker), [pager.marker], POLL_MS);
  return (
    <section>
      <header class="page-head">
        <h1>Clusters</h1>
        <a class="button primary" href="#/clusters/new">Create cluster</a>
      </header>
      <Listing label="clusters" columns={['Name', 'Status', 'Health', '#Masters', '#Nodes']} result={result} pager={pager}
        empty={<>No clusters in this project. <a href="#/clusters/new">Create one</a> from a template.</>}
        rows={(items) => items.map((c) => (
          <tr key={c.uuid} data-cluster={c.name ?? c.uuid}>
            <td><a href={`#/clusters/${c.uuid}`}>{c.name ?? c.uuid}</a></td>
            <td><Badge status={c.status} title={c.status_reason} /></td>
            <td><Badge status={c.health_status ?? 'UNKNOWN'} /></td>
            <td class="num">{c.master_count}</td>
            <td class="num">{c.node_count}</td>
          </tr>
        ))} />
    </section>
  );
}

export function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(/[,\n]/).map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`Labels are key=value pairs: "${part}" is not one.`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

export function ClusterCreate({ template }: { template: string | null }) {
  const templates = usePoll(() => page<{ uuid: string; name: string; coe: string }>('/v1/clustertemplates', 'clustertemplates', 1000, null), []);
  const [chosen, setChosen] = useState<string | null>(template);
  const form = useSubmit(async (v) => {
    const body: Record<string, unknown> = {
      name: v.name || null,
      cluster_template_id: v.cluster_template_id,
      master_count: Number(v.master_count),
      node_count: Number(v.node_count),
      create_timeout: Number(v.create_timeout),
    };
    if (v.flavor_id) body.flavor_id = v.flavor_id;
    if (v.master_flavor_id) body.master_flavor_id = v.master_flavor_id;
    if (v.labels) {
      body.labels = parseLabels(String(v.labels));
      body.merge_labels = Boolean(v.merge_labels);
    }
    if (v.master_count !== '1') body.master_lb_enabled = true;
    return api<{ uuid: string }>('POST', '/v1/clusters', body);
  }, (r) => navigate(`#/clusters/${r.uuid}`));
  const list = templates.data?.items ?? [];
  return (
    <section>
      <header class="page-head"><h1>Create a cluster</h1></header>
      <ErrorBox error={templates.error} />
      {templates.data && list.length === 0 && <p class="muted">There is no cluster template yet: <a href="#/templates/new">create one</a> first.</p>}
      <form class="form" onSubmit={form.onSubmit} aria-label="create cluster">
        <Field label="Name" name="name" error={form.fieldError('name')}><input id="f-name" name="name" required maxLength={255} autoFocus /></Field>
        <Field label="Cluster template" name="cluster_template_id" error={form.fieldError('cluster_template_id')}>
          <select id="f-cluster_template_id" name="cluster_template_id" required value={chosen ?? ''} onChange={(e) => setChosen((e.currentTarget as HTMLSelectElement).value)}>
            <option value="" disabled>Choose a template</option>
            {list.map((t) => <option key={t.uuid} value={t.uuid}>{t.name} ({t.coe})</option>)}
          </select>
        </Field>
        <div class="row">
          <Field label="Masters" name="master_count" error={form.fieldError('master_count')} hint="1, or 3 or 5 for a highly available control plane">
            <input id="f-master_count" name="master_count" type="number" defaultValue="1" required />
          </Field>
          <Field label="Worker nodes" name="node_count" error={form.fieldError('node_count')}>
            <input id="f-node_count" name="node_count" type="number" min={0} defaultValue="1" required />
          </Field>
          <Field label="Timeout (min)" name="create_timeout" error={form.fieldError('create_timeout')}>
            <input id="f-create_timeout" name="create_timeout" type="number" min={1} defaultValue="60" required />
          </Field>
        </div>
        <div class="row">
          <Field label="Worker flavor" name="flavor_id" error={form.fieldError('flavor_id')} hint="empty: the template's"><input id="f-flavor_id" name="flavor_id" /></Field>
          <Field label="Master flavor" name="master_flavor_id" error={form.fieldError('master_flavor_id')} hint="empty: the template's"><input id="f-master_flavor_id" name="master_flavor_id" /></Field>
        </div>
        <Field label="Labels" name="labels" error={form.fieldError('labels')} hint="key=value, comma-separated">
          <input id="f-labels" name="labels" placeholder="auto_healing_enabled=true" />
        </Field>
        <label class="check"><input type="checkbox" name="merge_labels" defaultChecked /> merge with the template's labels</label>
        <ErrorBox error={form.error} />
        <div class="actions">
          <button type="submit" class="primary" disabled={form.busy}>{form.busy ? 'Creating…' : 'Create cluster'}</button>
          <a class="button" href="#/clusters">Cancel</a>
        </div>
      </form>
    </section>
  );
}
