// The dashboard: login (Keystone) or the noauth identity, the layout with the project switcher,
// and a hash router over the pages.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './style.css';
import {
  ApiError, applicationCredentialLogin, currentSession, isAdmin, myProjects, onSessionChange, passwordLogin, restoredSession, setSession, switchProject,
} from './api.ts';
import { Admin } from './pages/admin.tsx';
import { ClusterShow } from './pages/cluster.tsx';
import { ClusterCreate, ClusterList } from './pages/clusters.tsx';
import { ContainerList, ContainerShow } from './pages/containers.tsx';
import { TemplateCreate, TemplateList, TemplateShow } from './pages/templates.tsx';
import { Workloads } from './pages/workloads.tsx';
import { ErrorBox, Field, useSubmit } from './ui.tsx';

interface ServerConfig { auth_strategy: 'keystone' | 'noauth'; project_id?: string; user_id?: string; roles?: string[] }

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/clusters');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/clusters');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function Route({ hash }: { hash: string }) {
  const [path, query] = hash.slice(1).split('?');
  const params = new URLSearchParams(query ?? '');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const [section, id] = parts;
  switch (section) {
    case 'clusters':
      if (id === 'new') return <ClusterCreate template={params.get('template')} />;
      return id ? <ClusterShow ident={id} key={id} /> : <ClusterList />;
    case 'templates':
      if (id === 'new') return <TemplateCreate />;
      return id ? <TemplateShow ident={id} key={id} /> : <TemplateList />;
    case 'containers':
      return id ? <ContainerShow ident={id} key={id} /> : <ContainerList />;
    case 'workloads':
      return <Workloads />;
    case 'admin':
      return isAdmin() ? <Admin /> : <p class="muted">This page is for admins.</p>;
    default:
      return <ClusterList />;
  }
}

function Login() {
  const [kind, setKind] = useState<'password' | 'appcred'>('password');
  const form = useSubmit(async (v) => (kind === 'password'
    ? passwordLogin({ user: String(v.user), password: String(v.password), domain: String(v.domain), project: String(v.project) })
    : applicationCredentialLogin(String(v.credential_id), String(v.secret))), setSession);
  return (
    <main class="login">
      <h1>Magnum</h1>
      <div role="tablist" class="tabs">
        <button type="button" role="tab" aria-selected={kind === 'password'} onClick={() => setKind('password')}>Password</button>
        <button type="button" role="tab" aria-selected={kind === 'appcred'} onClick={() => setKind('appcred')}>Application credential</button>
      </div>
      <form class="form" onSubmit={form.onSubmit} aria-label="log in" key={kind}>
        {kind === 'password' ? <>
          <Field label="User" name="user"><input id="f-user" name="user" autoComplete="username" required autoFocus /></Field>
          <Field label="Password" name="password"><input id="f-password" name="password" type="password" autoComplete="current-password" required /></Field>
          <Field label="Domain" name="domain"><input id="f-domain" name="domain" defaultValue="Default" /></Field>
          <Field label="Project" name="project"><input id="f-project" name="project" required /></Field>
        </> : <>
          <Field label="Application credential ID" name="credential_id"><input id="f-credential_id" name="credential_id" required autoFocus /></Field>
          <Field label="Secret" name="secret"><input id="f-secret" name="secret" type="password" required /></Field>
        </>}
        <ErrorBox error={form.error} />
        <div class="actions"><button type="submit" class="primary" disabled={form.busy}>{form.busy ? 'Logging in…' : 'Log in'}</button></div>
      </form>
      <p class="muted small">Your token is kept in this tab only, until it expires or you log out.</p>
    </main>
  );
}

function ProjectSwitcher() {
  const s = currentSession()!;
  const [projects, setProjects] = useState<{ id: string; name: string }[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (s.mode !== 'keystone' || s.applicationCredential) return;
    myProjects().then(setProjects, setError);
  }, [s.token]);
  if (s.mode === 'noauth') return null;
  if (s.applicationCredential || !projects) return <><span class="project" title={s.projectId}>{s.projectName}</span><ErrorBox error={error} /></>;
  return (
    <>
      <label class="sr-only" for="project-switcher">Project</label>
      <select id="project-switcher" value={s.projectId} onChange={async (e) => {
        try {
          setSession(await switchProject((e.currentTarget as HTMLSelectElement).value));
          location.hash = '#/clusters';
        } catch (err) {
          setError(err);
        }
      }}>
        {projects.map((p) => <option key={p.id} value={p.id}>{p.name}</option>)}
      </select>
      <ErrorBox error={error} />
    </>
  );
}

function Shell() {
  const hash = useHash();
  const s = currentSession()!;
  const links: [string, string][] = [['#/clusters', 'Clusters'], ['#/templates', 'Templates'], ['#/containers', 'Containers'], ['#/workloads', 'Services & pods']];
  if (isAdmin()) links.push(['#/admin', 'Admin']);
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
      <header class="top">
        <a class="brand" href="#/clusters">Magnum</a>
        <nav aria-label="sections">
          {links.map(([href, label]) => <a key={href} href={href} aria-current={hash.startsWith(href) ? 'page' : undefined}>{label}</a>)}
        </nav>
        <div class="who">
          <ProjectSwitcher />
          <span class="user">{s.mode === 'noauth' ? `${s.userName} (noauth, project ${s.projectId})` : s.userName}</span>
          {s.mode === 'keystone' && <button type="button" onClick={() => setSession(null)}>Log out</button>}
        </div>
      </header>
      <main id="main" tabIndex={-1}><Route hash={hash} key={s.projectId} /></main>
    </>
  );
}

function App() {
  const [config, setConfig] = useState<ServerConfig | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [, setTick] = useState(0);
  useEffect(() => onSessionChange(() => setTick((t) => t + 1)), []);
  useEffect(() => {
    fetch('/dashboard/config.json').then(async (r) => {
      if (!r.ok) throw new ApiError(r.status, await r.text());
      const c = (await r.json()) as ServerConfig;
      if (c.auth_strategy === 'noauth') {
        setSession({
          mode: 'noauth', token: null, userId: c.user_id ?? '', userName: c.user_id ?? '', projectId: c.project_id ?? '', projectName: c.project_id ?? '',
          roles: c.roles ?? [], expiresAt: null, applicationCredential: false,
        });
      } else {
        const restored = restoredSession();
        if (restored) setSession(restored);
      }
      setConfig(c);
    }).catch(setError);
  }, []);
  if (error) return <main><ErrorBox error={error} /></main>;
  if (!config) return <p class="muted">Loading…</p>;
  if (!currentSession()) return <Login />;
  return <Shell />;
}

render(<App />, document.getElementById('app')!);
