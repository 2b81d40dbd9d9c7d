// Services and pods made from a manifest (Compose-style on swarm-mode, Kubernetes manifests on
// kubernetes); the API's validation error is shown at the manifest field, naming the path.
import { useState } from 'preact/hooks';
import { api, page } from '../api.ts';
import { Badge, Confirm, ErrorBox, Field, Listing, usePager, usePoll, useSubmit } from '../ui.tsx';
import { useClusters } from './containers.tsx';
import { PAGE_SIZE } from './clusters.tsx';

interface Workload { uuid: string; name: string; status?: string; cluster_uuid?: string; bay_uuid?: string; replicas?: number; image?: string }

const EXAMPLE = 'name: web\nimage: magnum-test/busybox:latest\nreplicas: 1\n';

function Create({ kind, onDone }: { kind: 'services' | 'pods'; onDone: () => void }) {
  const clusters = useClusters();
  const form = useSubmit(async (v) => api('POST', `/v1/${kind}`, { cluster_uuid: v.cluster_uuid, manifest: v.manifest }), onDone);
  const e = form.error as { manifestPath?: string | null; message?: string } | null;
  const manifestError = e?.manifestPath ? `${e.manifestPath}: ${String(e.message).replace(/^Invalid manifest: [^:]+: /, '')}` : (form.fieldError('manifest') ?? (e?.message?.startsWith('Invalid manifest') ? e.message : null));
  return (
    <form class="form" onSubmit={form.onSubmit} aria-label={`create ${kind}`}>
      <Field label="Cluster" name="cluster_uuid" error={form.fieldError('cluster_uuid')}>
        <select id="f-cluster_uuid" name="cluster_uuid" required>{(clusters.data?.items ?? []).map((c) => <option key={c.uuid} value={c.uuid}>{c.name ?? c.uuid}</option>)}</select>
      </Field>
      <Field label="Manifest (YAML or JSON)" name="manifest" error={manifestError}>
        <textarea id="f-manifest" name="manifest" rows={10} class="code" required defaultValue={kind === 'services' ? EXAMPLE : ''} aria-invalid={manifestError ? 'true' : undefined} aria-describedby={manifestError ? 'e-manifest' : undefined} />
      </Field>
      {!manifestError && <ErrorBox error={form.error} />}
      <div class="actions"><button type="submit" class="primary" disabled={form.busy}>{form.busy ? 'Creating…' : `Create ${kind === 'services' ? 'service' : 'pod'}`}</button></div>
    </form>
  );
}

export function Workloads() {
  const [kind, setKind] = useState<'services' | 'pods'>('services');
  const [creating, setCreating] = useState(false);
  const pager = usePager();
  const list = usePoll(() => page<Workload>(`/v1/${kind}`, kind, PAGE_SIZE, pager.marker), [kind, pager.marker], 5000);
  return (
    <section>
      <header class="page-head">
        <h1>Services and pods</h1>
        <div role="tablist" class="tabs">
          {(['services', 'pods'] as const).map((k) => <button key={k} type="button" role="tab" aria-selected={kind === k} onClick={() => { setKind(k); pager.reset(); }}>{k}</button>)}
        </div>
        <button type="button" class="primary" aria-expanded={creating} onClick={() => setCreating(!creating)}>Create from a manifest</button>
      </header>
      {creating && <Create kind={kind} onDone={() => { setCreating(false); void list.refresh(); }} />}
      <Listing label={kind} columns={['Name', 'Cluster', 'Status', '']} result={list} pager={pager} empty={`No ${kind}.`}
        rows={(items) => items.map((w) => (
          <tr key={w.uuid}><td>{w.name}</td><td>{w.cluster_uuid ?? w.bay_uuid}</td><td><Badge status={w.status} /></td>
            <td><Confirm label="Delete" question={`Delete ${w.name}?`} onConfirm={async () => { await api('DELETE', `/v1/${kind}/${w.uuid}`); void list.refresh(); }} /></td></tr>
        ))} />
    </section>
  );
}
