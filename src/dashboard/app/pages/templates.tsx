// Cluster templates: list, show, create (the fields that matter per COE), public/hidden for
// admins, delete.
import { useState } from 'preact/hooks';
import { ApiError, api, isAdmin, page } from '../api.ts';
import { Confirm, ErrorBox, Field, KeyValues, Listing, navigate, usePager, usePoll, useSubmit } from '../ui.tsx';
import { PAGE_SIZE, parseLabels } from './clusters.tsx';

interface TemplateBrief { uuid: string; name: string; coe: string; image_id: string; public: boolean; hidden: boolean; tags?: string | null }

export function TemplateList() {
  const pager = usePager();
  const result = usePoll(() => page<TemplateBrief>('/v1/clustertemplates', 'clustertemplates', PAGE_SIZE, pager.marker), [pager.marker]);
  return (
    <section>
      <header class="page-head"><h1>Cluster templates</h1><a class="button primary" href="#/templates/new">Create template</a></header>
      <Listing label="cluster templates" columns={['Name', 'COE', 'Image', 'Visibility']} result={result} pager={pager} empty="No templates yet."
        rows={(items) => items.map((t) => (
          <tr key={t.uuid} data-template={t.name}>
            <td><a href={`#/templates/${t.uuid}`}>{t.name}</a></td><td>{t.coe}</td><td>{t.image_id}</td>
            <td>{t.public ? 'public' : 'project'}{t.hidden ? ', hidden' : ''}</td>
          </tr>
        ))} />
    </section>
  );
}

const SHOWN = ['uuid', 'name', 'coe', 'image_id', 'cluster_distro', 'external_network_id', 'flavor_id', 'master_flavor_id', 'dns_nameserver',
  'docker_volume_size', 'network_driver', 'volume_driver', 'tls_disabled', 'master_lb_enabled', 'labels', 'public', 'hidden', 'project_id', 'created_at', 'updated_at'];

export function TemplateShow({ ident }: { ident: string }) {
  const t = usePoll(() => api('GET', `/v1/clustertemplates/${encodeURIComponent(ident)}`), [ident]);
  const [error, setError] = useState<unknown>(null);
  if (t.error instanceof ApiError && t.error.status === 404) return <section><p class="muted">This template does not exist (any more). <a href="#/templates">All templates</a></p></section>;
  const d = t.data;
  if (!d) return <section><ErrorBox error={t.error} /></section>;
  const flip = async (field: 'public' | 'hidden') => {
    setError(null);
    try {
      await api('PATCH', `/v1/clustertemplates/${d.uuid}`, [{ op: 'replace', path: `/${field}`, value: !d[field] }]);
      await t.refresh();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section>
      <header class="page-head"><h1>{d.name}</h1><span class="muted">{d.coe}</span></header>
      <div class="toolbar" role="toolbar" aria-label="template actions">
        <a class="button primary" href={`#/clusters/new?template=${d.uuid}`}>Create a cluster from it</a>
        {isAdmin() && <button type="button" onClick={() => flip('public')}>{d.public ? 'Make private' : 'Make public'}</button>}
        {isAdmin() && <button type="button" onClick={() => flip('hidden')}>{d.hidden ? 'Unhide' : 'Hide'}</button>}
        <Confirm label="Delete" question={`Delete template ${d.name}?`} onConfirm={async () => { await api('DELETE', `/v1/clustertemplates/${d.uuid}`); navigate('#/templates'); }} />
      </div>
      <ErrorBox error={error} />
      <KeyValues obj={d} keys={SHOWN} />
    </section>
  );
}

const COES = ['swarm-mode', 'kubernetes', 'swarm'];

export function TemplateCreate() {
  const [coe, setCoe] = useState('swarm-mode');
  const form = useSubmit(async (v) => {
    const body: Record<string, unknown> = {
      name: v.name, coe: v.coe, image_id: v.image_id, external_network_id: v.external_network_id || null,
      flavor_id: v.flavor_id || null, master_flavor_id: v.master_flavor_id || null, dns_nameserver: v.dns_nameserver || null,
      tls_disabled: Boolean(v.tls_disabled), master_lb_enabled: Boolean(v.master_lb_enabled),
    };
    if (v.docker_volume_size) body.docker_volume_size = Number(v.docker_volume_size);
    if (v.network_driver) body.network_driver = v.network_driver;
    if (v.labels) body.labels = parseLabels(String(v.labels));
    if (isAdmin()) {
      body.public = Boolean(v.public);
      if (v.hidden) body.hidden = true;
    }
    return api<{ uuid: string }>('POST', '/v1/clustertemplates', body);
  }, (r) => navigate(`#/templates/${r.uuid}`));
  const kube = coe === 'kubernetes';
  return (
    <section>
      <header class="page-head"><h1>Create a cluster template</h1></header>
      <form class="form" onSubmit={form.onSubmit} aria-label="create template">
        <Field label="Name" name="name" error={form.fieldError('name')}><input id="f-name" name="name" required maxLength={255} autoFocus /></Field>
        <Field label="COE" name="coe" error={form.fieldError('coe')}>
          <select id="f-coe" name="coe" value={coe} onChange={(e) => setCoe((e.currentTarget as HTMLSelectElement).value)}>
            {COES.map((c) => <option key={c} value={c}>{c}</option>)}
          </select>
        </Field>
        <Field label="Image" name="image_id" error={form.fieldError('image_id')} hint={kube ? 'a Kubernetes node image, e.g. magnum-kube-node:v1.34.4' : 'a node image, e.g. magnum-node:bookworm'}>
          <input id="f-image_id" name="image_id" required defaultValue={kube ? 'magnum-kube-node:v1.34.4' : 'magnum-node:bookworm'} key={coe} />
        </Field>
        <div class="row">
          <Field label="External network" name="external_network_id" error={form.fieldError('external_network_id')}><input id="f-external_network_id" name="external_network_id" defaultValue="public" /></Field>
          <Field label="DNS server" name="dns_nameserver" error={form.fieldError('dns_nameserver')}><input id="f-dns_nameserver" name="dns_nameserver" defaultValue="8.8.8.8" /></Field>
        </div>
        <div class="row">
          <Field label="Worker flavor" name="flavor_id" error={form.fieldError('flavor_id')}><input id="f-flavor_id" name="flavor_id" defaultValue="m1.small" /></Field>
          <Field label="Master flavor" name="master_flavor_id" error={form.fieldError('master_flavor_id')}><input id="f-master_flavor_id" name="master_flavor_id" defaultValue="m1.small" /></Field>
          <Field label="Volume size (GB)" name="docker_volume_size" error={form.fieldError('docker_volume_size')}><input id="f-docker_volume_size" name="docker_volume_size" type="number" min={1} /></Field>
        </div>
        {kube && (
          <Field label="Network driver" name="network_driver" error={form.fieldError('network_driver')}>
            <select id="f-network_driver" name="network_driver"><option value="flannel">flannel</option><option value="calico">calico</option></select>
          </Field>
        )}
        <Field label="Labels" name="labels" error={form.fieldError('labels')} hint={kube ? 'key=value, comma-separated (kube_tag=v1.34.4, ...)' : 'key=value, comma-separated (auto_healing_enabled=true, ...)'}>
          <input id="f-labels" name="labels" />
        </Field>
        <label class="check"><input type="checkbox" name="master_lb_enabled" /> master load balancer (needed for more than one master)</label>
        <label class="check"><input type="checkbox" name="tls_disabled" /> TLS disabled</label>
        {isAdmin() && <label class="check"><input type="checkbox" name="public" /> public (every project sees it)</label>}
        {isAdmin() && <label class="check"><input type="checkbox" name="hidden" /> hidden</label>}
        <ErrorBox error={form.error} />
        <div class="actions">
          <button type="submit" class="primary" disabled={form.busy}>{form.busy ? 'Creating…' : 'Create template'}</button>
          <a class="button" href="#/templates">Cancel</a>
        </div>
      </form>
    </section>
  );
}
