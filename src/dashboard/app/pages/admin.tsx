// For admins: quotas of every project, stats, and the conductor service list.
import { api, page } from '../api.ts';
import { Badge, Confirm, ErrorBox, Field, Pager, usePager, usePoll, useSubmit, when } from '../ui.tsx';
import { PAGE_SIZE } from './clusters.tsx';

interface Quota { id: number; project_id: string; resource: string; hard_limit: number }
interface MService { id: number; host: string; binary: string; state: string; disabled: boolean; disabled_reason: string | null; updated_at: string | null; created_at: string }

export function Admin() {
  const pager = usePager();
  const quotas = usePoll(() => page<Quota>('/v1/quotas', 'quotas', PAGE_SIZE, pager.marker, { all_tenants: 'True' }), [pager.marker]);
  const stats = usePoll(() => api<{ clusters: number; nodes: number }>('GET', '/v1/stats'), [], 10_000);
  const services = usePoll(() => api<{ mservices: MService[] }>('GET', '/v1/mservices'), [], 10_000);
  const form = useSubmit(async (v) => api('POST', '/v1/quotas', { project_id: v.project_id, resource: v.resource, hard_limit: Number(v.hard_limit) }), () => void quotas.refresh());
  return (
    <section>
      <header class="page-head"><h1>Administration</h1></header>
      <h2>Stats</h2>
      <ErrorBox error={stats.error} />
      {stats.data && <p data-testid="stats">{stats.data.clusters} clusters, {stats.data.nodes} nodes in all projects.</p>}
      <h2>Conductor services</h2>
      <ErrorBox error={services.error} />
      <div class="table-wrap">
        <table class="list" aria-label="services">
          <thead><tr><th>Host</th><th>Binary</th><th>State</th><th>Disabled</th><th>Last report</th></tr></thead>
          <tbody>{(services.data?.mservices ?? []).map((s) => (
            <tr key={s.id}><td>{s.host}</td><td>{s.binary}</td><td><Badge status={s.state} /></td><td>{s.disabled ? s.disabled_reason ?? 'yes' : 'no'}</td><td>{when(s.updated_at ?? s.created_at)}</td></tr>
          ))}</tbody>
        </table>
      </div>
      <h2>Quotas</h2>
      <ErrorBox error={quotas.error} />
      <div class="table-wrap">
        <table class="list" aria-label="quotas">
          <thead><tr><th>Project</th><th>Resource</th><th class="num">Hard limit</th><th /></tr></thead>
          <tbody>{(quotas.data?.items ?? []).map((q) => (
            <tr key={q.id} data-quota={q.project_id}><td>{q.project_id}</td><td>{q.resource}</td><td class="num">{q.hard_limit}</td>
              <td><Confirm label="Delete" question={`Delete the ${q.resource} quota of ${q.project_id}?`} onConfirm={async () => { await api('DELETE', `/v1/quotas/${q.project_id}/${q.resource}`); void quotas.refresh(); }} /></td></tr>
          ))}</tbody>
        </table>
      </div>
      <Pager pager={pager} next={quotas.data?.next} />
      <form class="inline-form" onSubmit={form.onSubmit} aria-label="create quota">
        <Field label="Project ID" name="project_id" error={form.fieldError('project_id')}><input id="f-project_id" name="project_id" required /></Field>
        <Field label="Resource" name="resource" error={form.fieldError('resource')}><input id="f-resource" name="resource" defaultValue="Cluster" required /></Field>
        <Field label="Hard limit" name="hard_limit" error={form.fieldError('hard_limit')}><input id="f-hard_limit" name="hard_limit" type="number" min={0} defaultValue="10" required /></Field>
        <button type="submit" disabled={form.busy}>Set quota</button>
        <ErrorBox error={form.error} />
      </form>
    </section>
  );
}
