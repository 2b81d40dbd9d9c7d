// Containers on swarm clusters: list, create, start/stop, logs that follow, exec, delete.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, page } from '../api.ts';
import { Badge, Confirm, ErrorBox, Field, KeyValues, Listing, navigate, usePager, usePoll, useSubmit } from '../ui.tsx';
import { PAGE_SIZE, type ClusterBrief } from './clusters.tsx';

interface Container { uuid: string; name: string | null; image: string; status: string; cluster_uuid?: string; bay_uuid?: string; command?: unknown; status_reason?: string | null }

export function useClusters() {
  return usePoll(() => page<ClusterBrief>('/v1/clusters', 'clusters', 1000, null), []);
}

function ContainerCreate({ onDone }: { onDone: (uuid: string) => void }) {
  const clusters = useClusters();
  const form = useSubmit(async (v) => {
    const body: Record<string, unknown> = { image: v.image, cluster_uuid: v.cluster_uuid };
    if (v.name) body.name = v.name;
    if (v.command) body.command = v.command;
    if (v.memory) body.memory = v.memory;
    if (v.ports) body.ports = String(v.ports).split(',').map((p) => p.trim()).filter(Boolean);
    if (v.environment) {
      const env: Record<string, string> = {};
      for (const line of String(v.environment).split('\n').map((l) => l.trim()).filter(Boolean)) {
        const eq = line.indexOf('=');
        if (eq <= 0) throw new ApiError(400, `Invalid input for field/attribute environment. Value: '${line}'. Lines are NAME=value`);
        env[line.slice(0, eq)] = line.slice(eq + 1);
      }
      body.environment = env;
    }
    return api<Container>('POST', '/v1/containers', body);
  }, (c) => onDone(c.uuid));
  return (
    <form class="form" onSubmit={form.onSubmit} aria-label="create container">
      <div class="row">
        <Field label="Cluster" name="cluster_uuid" error={form.fieldError('cluster_uuid') ?? form.fieldError('bay_uuid')}>
          <select id="f-cluster_uuid" name="cluster_uuid" required>
            {(clusters.data?.items ?? []).map((c) => <option key={c.uuid} value={c.uuid}>{c.name ?? c.uuid}</option>)}
          </select>
        </Field>
        <Field label="Name" name="name" error={form.fieldError('name')}><input id="f-name" name="name" /></Field>
      </div>
      <Field label="Image" name="image" error={form.fieldError('image')}><input id="f-image" name="image" required /></Field>
      <Field label="Command" name="command" error={form.fieldError('command')} hint="a command line (split as a shell would)"><input id="f-command" name="command" /></Field>
      <div class="row">
        <Field label="Ports" name="ports" error={form.fieldError('ports')} hint="published:container, comma-separated (8080:80)"><input id="f-ports" name="ports" /></Field>
        <Field label="Memory" name="memory" error={form.fieldError('memory')} hint="e.g. 64m"><input id="f-memory" name="memory" /></Field>
      </div>
      <Field label="Environment" name="environment" error={form.fieldError('environment')} hint="NAME=value, one a line"><textarea id="f-environment" name="environment" rows={2} /></Field>
      <ErrorBox error={form.error} />
      <div class="actions"><button type="submit" class="primary" disabled={form.busy}>{form.busy ? 'Creating…' : 'Create container'}</button></div>
    </form>
  );
}

export function ContainerList() {
  const pager = usePager();
  const [creating, setCreating] = useState(false);
  const result = usePoll(() => page<Container>('/v1/containers', 'containers', PAGE_SIZE, pager.marker), [pager.marker], 5000);
  return (
    <section>
      <header class="page-head"><h1>Containers</h1><button type="button" class="primary" aria-expanded={creating} onClick={() => setCreating(!creating)}>Create container</button></header>
      {creating && <ContainerCreate onDone={(uuid) => navigate(`#/containers/${uuid}`)} />}
      <Listing label="containers" columns={['Name', 'Image', 'Status']} result={result} pager={pager} empty="No containers."
        rows={(items) => items.map((c) => (
          <tr key={c.uuid} data-container={c.name ?? c.uuid}><td><a href={`#/containers/${c.uuid}`}>{c.name ?? c.uuid}</a></td><td>{c.image}</td><td><Badge status={c.status} /></td></tr>
        ))} />
    </section>
  );
}

function Logs({ uuid }: { uuid: string }) {
  const [follow, setFollow] = useState(true);
  const logs = usePoll(() => api<{ output: string }>('GET', `/v1/containers/${uuid}/logs?tail=500`), [uuid, follow], follow ? 2000 : undefined);
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => { if (follow && pre.current) pre.current.scrollTop = pre.current.scrollHeight; }, [logs.data, follow]);
  return (
    <div>
      <h2>Logs <label class="check small"><input type="checkbox" checked={follow} onChange={(e) => setFollow((e.currentTarget as HTMLInputElement).checked)} /> follow</label></h2>
      <ErrorBox error={logs.error} />
      <pre class="console" ref={pre} tabIndex={0} aria-label="container logs" data-testid="logs">{logs.data?.output ?? ''}</pre>
    </div>
  );
}

function Exec({ uuid }: { uuid: string }) {
  const [out, setOut] = useState<{ output?: string; exit_code?: number; stdout?: string; stderr?: string } | null>(null);
  const form = useSubmit(async (v) => api('POST', `/v1/containers/${uuid}/execute`, { command: v.command }), setOut);
  return (
    <div>
      <h2>Execute</h2>
      <form class="inline-form" onSubmit={form.onSubmit} aria-label="execute">
        <Field label="Command" name="command" id="f-exec" error={form.fieldError('command')}><input id="f-exec" name="command" required /></Field>
        <button type="submit" disabled={form.busy}>Run</button>
      </form>
      <ErrorBox error={form.error} />
      {out && <pre class="console" data-testid="exec-output">{out.output ?? `${out.stdout ?? ''}${out.stderr ?? ''}`}{out.exit_code !== undefined ? `\n[exit ${out.exit_code}]` : ''}</pre>}
    </div>
  );
}

export function ContainerShow({ ident }: { ident: string }) {
  const c = usePoll(() => api<Container>('GET', `/v1/containers/${encodeURIComponent(ident)}`), [ident], 5000);
  const [error, setError] = useState<unknown>(null);
  const act = async (action: string) => {
    setError(null);
    try {
      await api('PUT', `/v1/containers/${c.data!.uuid}/${action}`);
      await c.refresh();
    } catch (err) {
      setError(err);
    }
  };
  if (c.error instanceof ApiError && c.error.status === 404) return <section><p class="muted">This container does not exist (any more). <a href="#/containers">All containers</a></p></section>;
  const d = c.data;
  if (!d) return <section><ErrorBox error={c.error} /></section>;
  return (
    <section>
      <header class="page-head"><h1>{d.name ?? d.uuid}</h1><Badge status={d.status} title={d.status_reason} /></header>
      <div class="toolbar" role="toolbar" aria-label="container actions">
        <button type="button" onClick={() => act('start')}>Start</button>
        <button type="button" onClick={() => act('stop')}>Stop</button>
        <button type="button" onClick={() => act('reboot')}>Restart</button>
        <Confirm label="Delete" question={`Delete container ${d.name ?? d.uuid}?`} onConfirm={async () => { await api('DELETE', `/v1/containers/${d.uuid}?force=true`); navigate('#/containers'); }} />
      </div>
      <ErrorBox error={error} />
      <KeyValues obj={d as unknown as Record<string, unknown>} keys={['uuid', 'image', 'command', 'status', 'cluster_uuid', 'host', 'published_ports', 'created_at']} />
      <Logs uuid={d.uuid} />
      <Exec uuid={d.uuid} />
    </section>
  );
}
