// The web dashboard in a real headless Chromium (Debian's chromium, driven by playwright-core),
// against bin/magnum-all-in-one with auth_strategy=keystone and real swarm-mode clusters of
// Docker-engine nodes. A member logs in through Keystone (the same-origin pass-through), makes a
// template and a cluster, watches the timeline reach CREATE_COMPLETE, downloads the access bundle
// and uses it with `docker node ls`, loads an image, runs a container and reads its logs, resizes,
// switches to another project of theirs (which sees none of it), comes back and deletes
// everything; an admin sees quotas, stats and the conductor services. Screenshots of the main
// pages go to var/screenshots/ (light and dark, laptop and phone sizes).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { removeLabelled } from '../helpers/cluster-leftovers.ts';
import { ROOT, need, servicesEnv } from '../helpers/env.ts';
import { KeystoneAdmin, type KeystoneUser } from '../helpers/keystone-admin.ts';
import { freePort, runCommand, spawnProcess, tempDir, type ManagedProcess } from '../helpers/processes.ts';
import { waitFor } from '../helpers/stack.ts';

const NODE_IMAGE = process.env.MAGNUM_TEST_NODE_IMAGE ?? 'magnum-node:bookworm';
const WORKLOAD = 'magnum-test/busybox:latest';
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, 'var', 'screenshots');
const tag = `dash-${randomBytes(3).toString('hex')}`;
const PATH_ENV = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };

async function must(cmd: string, args: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await runCommand(cmd, args, { env: { ...PATH_ENV, ...opts.env }, cwd: opts.cwd, timeoutMs: opts.timeoutMs ?? 120_000 });
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed: ${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

describe('the web dashboard in a real browser', { timeout: 20 * 60_000 }, () => {
  const keystone = new KeystoneAdmin();
  let server: ManagedProcess;
  let base: string;
  let browser: Browser;
  let member: KeystoneUser;
  let admin: KeystoneUser;
  let p1: { id: string; name: string };
  let p2: { id: string; name: string };
  let ctx: BrowserContext;
  let page: Page;
  let clusterUuid: string | null = null;
  const work = tempDir('magnum-dashboard-');

  /** The v1 API as the member of p1, beside the browser (clean-up and cross-checks). */
  const memberApi = async (method: string, path: string, body?: unknown) => {
    const token = await keystone.token(member, p1.id);
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { 'x-auth-token': token, 'openstack-api-version': 'container-infra latest', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  };

  const shot = async (p: Page, name: string) => {
    await p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  };

  const newPage = async (opts: { colorScheme?: 'light' | 'dark'; phone?: boolean } = {}) => {
    const context = await browser.newContext({
      viewport: opts.phone ? { width: 390, height: 844 } : { width: 1366, height: 900 },
      colorScheme: opts.colorScheme ?? 'light',
      acceptDownloads: true,
    });
    const p = await context.newPage();
    p.setDefaultTimeout(60_000);
    const problems: string[] = [];
    p.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    p.on('console', (m) => { if (m.type() === 'error' && !/status of 40[34]/.test(m.text())) problems.push(`console: ${m.text()}`); });
    return { context, page: p, problems };
  };

  const login = async (p: Page, user: KeystoneUser, project: string) => {
    await p.goto(`${base}/dashboard/`);
    await p.getByLabel('User').fill(user.name);
    await p.getByLabel('Password').fill(user.password);
    await p.getByLabel('Domain').fill('Default');
    await p.getByLabel('Project').fill(project);
    await p.getByRole('button', { name: 'Log in' }).click();
    await p.getByRole('heading', { name: 'Clusters' }).waitFor();
  };

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    await must(`${ROOT}/bin/magnum-node-image`, ['build'], { timeoutMs: 15 * 60_000 });
    await must(`${ROOT}/bin/magnum-node-image`, ['workload'], { timeoutMs: 5 * 60_000 });
    const imageDir = join(work, 'images');
    mkdirSync(imageDir);
    await must(`${ROOT}/bin/magnum-node-image`, ['save', WORKLOAD, join(imageDir, 'busybox.tar')]);

    await keystone.login();
    p1 = await keystone.project(`${tag}-p1`);
    p2 = await keystone.project(`${tag}-p2`);
    member = await keystone.user(`${tag}-member`);
    admin = await keystone.user(`${tag}-admin`);
    await keystone.grant(member, 'member', p1.id);
    await keystone.grant(member, 'member', p2.id);
    await keystone.grant(admin, 'admin', p1.id);

    const env = servicesEnv();
    const port = await freePort();
    const conf = join(work, 'magnum.conf');
    writeFileSync(conf, [
      '[DEFAULT]', 'auth_strategy = keystone', 'transport_url = inprocess://', `host = ${tag}`,
      '[api]', 'host = 127.0.0.1', `port = ${port}`,
      '[database]', `connection = sqlite:///${join(work, 'magnum.sqlite')}`,
      '[certificates]', `encryption_key_file = ${join(work, 'cert.key')}`,
      '[conductor]', 'sweep_interval = 1', 'operation_lease = 5',
      '[kubernetes]', 'health_polling_interval = 3',
      '[docker]', `image_dir = ${imageDir}`,
      '[dashboard]', 'enabled = true',
      '[keystone_authtoken]', `auth_url = ${keystone.url}`, `www_authenticate_uri = ${keystone.url}`,
      `username = ${env.MAGNUM_SERVICE_USER ?? 'magnum'}`, `password = ${need('MAGNUM_SERVICE_PASSWORD')}`,
      `project_name = ${env.MAGNUM_SERVICE_PROJECT ?? 'service'}`, 'user_domain_name = Default', 'project_domain_name = Default',
      '[oslo_policy]', 'policy_file = /nonexistent/policy.yaml',
      '',
    ].join('\n'));
    server = await spawnProcess(`${ROOT}/bin/magnum-all-in-one`, { args: ['--config-file', conf], port, readyPath: '/', name: 'aio-dashboard', logDir: work });
    base = `http://127.0.0.1:${port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  });

  after(async () => {
    const left: string[] = [];
    if (server?.running && clusterUuid) {
      const gone = await memberApi('GET', `/v1/clusters/${clusterUuid}`).catch(() => ({ status: 0 }));
      if (gone.status !== 404) {
        await memberApi('DELETE', `/v1/clusters/${clusterUuid}`).catch(() => undefined);
        await waitFor('cluster deleted', async () => ((await memberApi('GET', `/v1/clusters/${clusterUuid}`)).status === 404 ? true : undefined), 180_000)
          .catch(() => left.push(`cluster ${clusterUuid}`));
      }
    }
    await browser?.close();
    await server?.stop();
    if (clusterUuid) await removeLabelled(clusterUuid);
    left.push(...await keystone.cleanup());
    assert.deepEqual(left, [], 'left behind');
  });

  test('the dashboard is served without a project, its assets hold no data, and only two Keystone calls pass through', async () => {
    const index = await fetch(`${base}/dashboard/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
    const html = await index.text();
    const script = /src="(assets\/main-[\w-]+\.js)"/.exec(html)?.[1];
    assert.ok(script, html);
    assert.equal((await fetch(`${base}/dashboard/${script}`)).status, 200);
    assert.deepEqual(await (await fetch(`${base}/dashboard/config.json`)).json(), { auth_strategy: 'keystone' });
    // Nothing of the API is reachable without a token through the dashboard's paths.
    for (const path of ['/dashboard/../v1/clusters', '/dashboard/assets/..%2f..%2fmagnum.conf', '/dashboard/keystone/v3/users', '/dashboard/keystone/v3/auth/tokens/x']) {
      const r = await fetch(`${base}${path}`);
      assert.ok([401, 404].includes(r.status), `${path}: ${r.status}`);
    }
    assert.equal((await fetch(`${base}/v1/clusters`)).status, 401);
    // Sent as is (fetch would resolve the dots): authentication first, as for any API path.
    for (const path of ['/dashboard/../v1/clusters', '/dashboard/%2e%2e/v1/clusters', '/dashboard//v1/clusters', '/dashboard/./config.json']) {
      const status = await new Promise<number>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: new URL(base).port, path }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
      });
      assert.equal(status, 401, path);
    }
    const bad = await fetch(`${base}/dashboard/keystone/v3/auth/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name: member.name, domain: { name: 'Default' }, password: 'wrong' } } } } }) });
    assert.equal(bad.status, 401);
  });

  test('a member logs in, makes a template and a swarm-mode cluster, and watches the timeline reach CREATE_COMPLETE', async () => {
    ({ context: ctx, page } = await newPage());
    await page.goto(`${base}/dashboard/`);
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    await shot(page, 'login');
    // A wrong password: Keystone's message, no session.
    await page.getByLabel('User').fill(member.name);
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByLabel('Project').fill(p1.name);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: /requires authentication|Unauthorized|not authorized/i }).waitFor();
    await login(page, member, p1.name);
    assert.equal(await page.locator('#project-switcher').inputValue(), p1.id);

    await page.getByRole('link', { name: 'Templates', exact: true }).click();
    await page.getByRole('link', { name: 'Create template' }).click();
    await page.getByLabel('Name').fill(`${tag}-t`);
    await page.getByLabel('Image').fill('no-such-image');
    await page.getByRole('button', { name: 'Create template' }).click();
    // Magnum's message, at the page.
    await page.getByRole('alert').filter({ hasText: 'Image no-such-image could not be found' }).waitFor();
    await page.getByLabel('Image').fill(NODE_IMAGE);
    await page.getByLabel('DNS server').fill('127.0.0.1');
    await page.getByRole('button', { name: 'Create template' }).click();
    await page.getByRole('link', { name: 'Create a cluster from it' }).waitFor();
    assert.equal(await page.locator('dd[data-key="coe"]').innerText(), 'swarm-mode');
    await shot(page, 'template');

    await page.getByRole('link', { name: 'Create a cluster from it' }).click();
    await page.getByLabel('Name').fill(`${tag}-c`);
    await page.getByLabel('Worker nodes').fill('1');
    await page.getByRole('button', { name: 'Create cluster' }).click();
    await page.locator('.timeline').waitFor();
    clusterUuid = decodeURIComponent(new URL(page.url()).hash.split('/')[2]);
    await page.locator('header.page-head [data-status="CREATE_IN_PROGRESS"]').waitFor({ timeout: 30_000 }).catch(() => undefined);
    await shot(page, 'cluster-creating');
    const started = Date.now();
    await page.locator('header.page-head [data-status="CREATE_COMPLETE"]').waitFor({ timeout: 300_000 });
    // The timeline shows the operation's steps with durations, and its end.
    const create = page.locator('.timeline > li[data-operation="cluster_create"]');
    await create.locator('tr[data-step="cluster_create"][data-outcome="succeeded"]').waitFor();
    const steps = await create.locator('tr.step').count();
    assert.ok(steps >= 3, `only ${steps} steps in the timeline`);
    assert.equal(await create.locator('tr.step[data-outcome="failed"]').count(), 0);
    assert.match(await create.locator('tr.step').first().innerText(), /succeeded\s+[\d.]+ (ms|s)/);
    await page.locator('header.page-head [data-status="HEALTHY"]').waitFor({ timeout: 60_000 });
    await shot(page, 'cluster');
    process.stdout.write(`# cluster CREATE_COMPLETE seen in the browser ${Math.round((Date.now() - started) / 1000)} s after the create page\n`);

    // The list shows it with live badges.
    await page.getByRole('link', { name: 'Clusters', exact: true }).click();
    const row = page.locator(`tr[data-cluster="${tag}-c"]`);
    await row.locator('[data-status="CREATE_COMPLETE"]').waitFor();
    await row.locator('[data-status="HEALTHY"]').waitFor();
    await shot(page, 'clusters');
  });

  test('the access bundle works with docker node ls', async () => {
    await page.goto(`${base}/dashboard/#/clusters/${clusterUuid}`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download access bundle' }).click()]);
    const file = join(work, download.suggestedFilename());
    await download.saveAs(file);
    assert.equal(download.suggestedFilename(), `${tag}-c.tar`);
    const dir = join(work, 'bundle');
    mkdirSync(dir);
    await must('tar', ['-xf', file, '-C', dir]);
    const bundle = join(dir, `${tag}-c`);
    assert.match(readFileSync(join(bundle, 'key.pem'), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
    const env = readFileSync(join(bundle, 'env'), 'utf8');
    assert.match(env, /^export DOCKER_HOST=tcp:\/\/127\.0\.0\.1:\d+$/m);
    assert.match(env, /^export DOCKER_TLS_VERIFY=1$/m);
    // As a user would: source env in the bundle's directory, then docker.
    const out = await must('bash', ['-c', '. ./env && docker node ls --format "{{.Hostname}} {{.Status}} {{.ManagerStatus}}"'], { cwd: bundle, env: { DOCKER_CONFIG: dir } });
    const nodes = out.trim().split('\n');
    assert.equal(nodes.length, 2, out);
    assert.ok(nodes.every((n) => / Ready/.test(n)), out);
    assert.ok(nodes.some((n) => /Leader/.test(n)), out);
    // The key was made in the browser: the server never saw it (it signed a CSR).
    const cert = readFileSync(join(bundle, 'cert.pem'), 'utf8');
    const check = await must('bash', ['-c', 'diff <(openssl x509 -noout -pubkey -in cert.pem) <(openssl pkey -pubout -in key.pem) && openssl x509 -noout -subject -in cert.pem'], { cwd: bundle });
    assert.match(check, /CN ?= ?admin/);
    assert.ok(cert.includes('BEGIN CERTIFICATE'));
  });

  test('an image is loaded, a container runs, its logs follow and a command executes', async () => {
    await page.goto(`${base}/dashboard/#/clusters/${clusterUuid}`);
    await page.getByRole('button', { name: 'Load image' }).click();
    await page.getByLabel('Image archive').fill('busybox.tar');
    await page.getByRole('button', { name: 'Load into every node' }).click();
    await page.locator('[data-testid="image-load"] [data-status="LOAD_COMPLETE"]').waitFor({ timeout: 120_000 });

    await page.getByRole('link', { name: 'Containers', exact: true }).click();
    await page.getByRole('button', { name: 'Create container' }).first().click();
    const form = page.getByRole('form', { name: 'create container' });
    await form.getByLabel('Cluster').selectOption(clusterUuid!);
    await form.getByLabel('Name').fill('web');
    await form.getByLabel('Image').fill(WORKLOAD);
    await form.getByLabel('Command').fill('sh -c "echo hello $GREETING; i=0; while true; do i=$((i+1)); echo tick $i; sleep 1; done"');
    await form.getByLabel('Environment').fill('GREETING=from the dashboard');
    await form.getByRole('button', { name: 'Create container' }).click();
    await page.locator('header.page-head [data-status="Stopped"]').waitFor({ timeout: 120_000 });
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.locator('header.page-head [data-status="Running"]').waitFor({ timeout: 60_000 });
    const logs = page.getByTestId('logs');
    await waitFor('the greeting in the logs', async () => ((await logs.innerText()).includes('hello from the dashboard') ? true : undefined), 30_000);
    // The logs follow: later lines appear without a reload.
    const ticks = async () => Number(/tick (\d+)\s*$/.exec(await logs.innerText())?.[1] ?? 0);
    const first = await waitFor('a tick', async () => ((await ticks()) > 0 ? ticks() : undefined), 20_000);
    await waitFor('a later tick', async () => ((await ticks()) > first + 1 ? true : undefined), 20_000);
    await page.getByLabel('Command', { exact: true }).last().fill('echo exec works');
    await page.getByRole('button', { name: 'Run' }).click();
    await page.getByTestId('exec-output').filter({ hasText: 'exec works' }).waitFor({ timeout: 60_000 });
    await shot(page, 'container');
    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    await page.locator('header.page-head [data-status="Stopped"]').waitFor({ timeout: 60_000 });
    await page.getByRole('link', { name: 'Containers', exact: true }).click();
    await page.locator('tr[data-container="web"]').waitFor();
    await shot(page, 'containers');
  });

  test('a Swarm service from a manifest: the validation error at the field, then created, listed and deleted', async () => {
    await page.getByRole('link', { name: 'Services & pods' }).click();
    await page.getByRole('button', { name: 'Create from a manifest' }).click();
    const form = page.getByRole('form', { name: 'create services' });
    await form.getByLabel('Cluster').selectOption(clusterUuid!);
    const manifest = form.getByLabel('Manifest (YAML or JSON)');
    await manifest.fill(`name: web2\nimage: ${WORKLOAD}\nreplicas: many\n`);
    await form.getByRole('button', { name: 'Create service' }).click();
    const fieldError = form.locator('[data-field="manifest"] .field-error');
    await fieldError.filter({ hasText: /^replicas: / }).waitFor();
    assert.equal(await manifest.getAttribute('aria-invalid'), 'true');
    await shot(page, 'service-error');
    await manifest.fill(`name: web2\nimage: ${WORKLOAD}\ncommand: [sleep, "3600"]\nreplicas: 1\n`);
    await form.getByRole('button', { name: 'Create service' }).click();
    const row = page.locator('table[aria-label="services"] tr').filter({ hasText: 'web2' });
    await row.waitFor({ timeout: 120_000 });
    await row.getByRole('button', { name: 'Delete' }).click();
    await row.getByRole('button', { name: 'Yes, delete' }).click();
    await page.getByText('No services.').waitFor({ timeout: 60_000 });
  });

  test('resize from the cluster page: UPDATE_COMPLETE with two workers, in the timeline', async () => {
    await page.goto(`${base}/dashboard/#/clusters/${clusterUuid}`);
    await page.getByRole('button', { name: 'Resize' }).click();
    const form = page.getByRole('form', { name: 'resize' });
    await form.getByLabel('Node count').fill('2');
    await form.getByRole('button', { name: 'Resize' }).click();
    await page.locator('.timeline > li[data-operation="cluster_resize"]').waitFor({ timeout: 30_000 });
    await page.locator('header.page-head [data-status="UPDATE_COMPLETE"]').waitFor({ timeout: 300_000 });
    await page.locator('dd[data-key="node_count"]').filter({ hasText: /^2$/ }).waitFor();
    await page.locator('tr[data-nodegroup="default-worker"] td.num').filter({ hasText: /^2$/ }).waitFor();
    await shot(page, 'cluster-resized');
  });

  test('another project of the same user sees none of it', async () => {
    await page.goto(`${base}/dashboard/#/clusters`);
    await page.locator('#project-switcher').selectOption(p2.id);
    await page.getByText('No clusters in this project').waitFor();
    await shot(page, 'other-project');
    await page.getByRole('link', { name: 'Templates', exact: true }).click();
    await page.getByText('No templates yet.').waitFor();
    await page.getByRole('link', { name: 'Containers', exact: true }).click();
    await page.getByText('No containers.').waitFor();
    await page.goto(`${base}/dashboard/#/clusters/${clusterUuid}`);
    await page.getByText('This cluster does not exist').waitFor();
    await page.goto(`${base}/dashboard/#/clusters`);
    await page.locator('#project-switcher').selectOption(p1.id);
    await page.locator(`tr[data-cluster="${tag}-c"]`).waitFor();
  });

  test('an application credential logs in to its own project, with no project switcher', async () => {
    const token = await keystone.token(member, p1.id);
    const made = await keystone.request('POST', `/users/${member.id}/application_credentials`, { application_credential: { name: `${tag}-cred` } }, token);
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const { id, secret } = made.body.application_credential;
    const a = await newPage();
    try {
      await a.page.goto(`${base}/dashboard/`);
      await a.page.getByRole('tab', { name: 'Application credential' }).click();
      await a.page.getByLabel('Application credential ID').fill(id);
      await a.page.getByLabel('Secret').fill(secret);
      await a.page.getByRole('button', { name: 'Log in' }).click();
      await a.page.locator(`tr[data-cluster="${tag}-c"]`).waitFor();
      assert.equal(await a.page.locator('#project-switcher').count(), 0);
      // Logging out forgets the token: the login form again, also after a reload.
      await a.page.getByRole('button', { name: 'Log out' }).click();
      await a.page.reload();
      await a.page.getByRole('button', { name: 'Log in' }).waitFor();
      assert.deepEqual(a.problems, []);
    } finally {
      await a.context.close();
    }
  });

  test('an admin sees quotas, stats and the conductor services; the dashboard reads well dark and on a phone', async () => {
    const a = await newPage({ colorScheme: 'dark' });
    try {
      await login(a.page, admin, p1.name);
      await a.page.getByRole('link', { name: 'Admin' }).click();
      await a.page.getByTestId('stats').filter({ hasText: /\d+ clusters, \d+ nodes/ }).waitFor();
      await a.page.locator('table[aria-label="services"] tr').filter({ hasText: 'magnum-conductor' }).locator('[data-status="up"]').waitFor();
      const q = a.page.getByRole('form', { name: 'create quota' });
      await q.getByLabel('Project ID').fill(p2.id);
      await q.getByLabel('Hard limit').fill('3');
      await q.getByRole('button', { name: 'Set quota' }).click();
      await a.page.locator(`tr[data-quota="${p2.id}"]`).filter({ hasText: '3' }).waitFor();
      await shot(a.page, 'admin-dark');
      assert.deepEqual(a.problems, []);
    } finally {
      await a.context.close();
    }
    // A member has no admin page.
    assert.equal(await page.getByRole('link', { name: 'Admin' }).count(), 0);
    const phone = await newPage({ phone: true });
    try {
      await login(phone.page, member, p1.name);
      await phone.page.locator(`tr[data-cluster="${tag}-c"]`).waitFor();
      const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 1, `the page is ${overflow} px wider than a phone screen`);
      await shot(phone.page, 'clusters-phone');
    } finally {
      await phone.context.close();
    }
  });

  test('deletes ask once, then the container, the cluster and the template are gone', async () => {
    await page.goto(`${base}/dashboard/#/containers`);
    await page.locator('tr[data-container="web"] a').click();
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('button', { name: 'Yes, delete' }).click();
    await page.getByText('No containers.').waitFor();

    await page.goto(`${base}/dashboard/#/clusters/${clusterUuid}`);
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    // Cancel leaves it; the keyboard reaches the confirmation.
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('button', { name: 'Delete', exact: true }).focus();
    await page.keyboard.press('Enter');
    // The confirmation takes the focus: Enter again confirms.
    await page.waitForFunction(() => document.activeElement?.textContent === 'Yes, delete');
    await page.keyboard.press('Enter');
    await page.locator('header.page-head [data-status="DELETE_IN_PROGRESS"]').waitFor({ timeout: 30_000 }).catch(() => undefined);
    await page.getByText('This cluster does not exist').waitFor({ timeout: 240_000 });
    const left = (await runCommand('docker', ['ps', '-aq', '--filter', `label=magnum.cluster=${clusterUuid}`], { env: PATH_ENV })).stdout.trim();
    assert.equal(left, '', 'node containers left after the delete');

    await page.goto(`${base}/dashboard/#/templates`);
    await page.locator(`tr[data-template="${tag}-t"] a`).click();
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('button', { name: 'Yes, delete' }).click();
    await page.getByText('No templates yet.').waitFor();
    await ctx.close();
  });
});
