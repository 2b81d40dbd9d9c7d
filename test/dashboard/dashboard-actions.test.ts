// The dashboard's other actions in a real headless Chromium, fast: an in-process stack under noauth
// (the [noauth] default project, admin) with the fake driver, listening on a port. A failed create
// shows its failing step and reason in the timeline; a Kubernetes cluster's kubeconfig; upgrade,
// nodegroup add and remove, CA rotation; templates made public and hidden; lists page like the API
// (limit and marker); the keyboard reaches the navigation and the forms. And the clusters page
// with 1,000 clusters.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { parse } from 'yaml';
import { ROOT } from '../helpers/env.ts';
import { runCommand, tempDir } from '../helpers/processes.ts';
import { startStack, type TestStack } from '../helpers/stack.ts';

describe('dashboard actions (noauth, fake driver)', { timeout: 5 * 60_000 }, () => {
  let stack: TestStack;
  let browser: Browser;
  let page: Page;
  let base: string;
  const problems: string[] = [];

  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { 'openstack-api-version': 'container-infra latest', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.text();
    assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };

  before(async () => {
    mkdirSync(join(ROOT, 'var', 'screenshots'), { recursive: true });
    stack = await startStack('sqlite', { dashboard: { enabled: 'true' }, fake_driver: { step_delay_ms: '200' } });
    base = await stack.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true })).newPage();
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (e) => problems.push(e.message));
    await api('POST', '/v1/clustertemplates', { name: 'fake-t', coe: 'swarm-mode', image_id: 'fake-image', external_network_id: 'public', flavor_id: 'm1.small', master_flavor_id: 'm1.small' });
    await api('POST', '/v1/clustertemplates', { name: 'fake-t2', coe: 'swarm-mode', image_id: 'fake-image', external_network_id: 'public', flavor_id: 'm1.small', master_flavor_id: 'm1.small' });
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
    assert.deepEqual(problems, [], 'errors in the page');
  });

  const createCluster = async (name: string, labels = '') => {
    await page.goto(`${base}/dashboard/#/clusters/new`);
    await page.getByLabel('Name').fill(name);
    await page.getByLabel('Cluster template').selectOption({ label: 'fake-t (swarm-mode)' });
    if (labels) await page.getByLabel('Labels', { exact: true }).fill(labels);
    await page.getByRole('button', { name: 'Create cluster' }).click();
    await page.locator('.timeline').waitFor();
  };

  test('a failed create shows the failing step and its reason in the timeline', async () => {
    await createCluster('broken', 'fake_fail_step=boot workers');
    await page.locator('header.page-head [data-status="CREATE_FAILED"]').waitFor();
    const failed = page.locator('.timeline > li.failed tr.step[data-outcome="failed"]').first();
    await failed.waitFor();
    assert.equal(await failed.getAttribute('data-step'), 'boot workers');
    assert.match(await failed.locator('.reason').innerText(), /injected failure at step "boot workers"/);
    assert.match(await page.locator('[data-key="status_reason"]').innerText(), /boot workers/);
  });

  test('upgrade, nodegroup add and remove, CA rotation, each in the timeline', async () => {
    await createCluster('ok');
    await page.locator('header.page-head [data-status="CREATE_COMPLETE"]').waitFor();

    await page.getByRole('button', { name: 'Upgrade' }).click();
    await page.getByLabel('Upgrade to template').selectOption({ label: 'fake-t2' });
    await page.getByRole('form', { name: 'upgrade' }).getByRole('button', { name: 'Upgrade' }).click();
    await page.locator('.timeline > li[data-operation="cluster_upgrade"]').waitFor();
    await page.locator('header.page-head [data-status="UPDATE_COMPLETE"]').waitFor();
    const template = await api('GET', '/v1/clustertemplates/fake-t2');
    await page.locator('dd[data-key="cluster_template_id"]').filter({ hasText: template.uuid }).waitFor();

    await page.getByRole('button', { name: 'Add nodegroup' }).click();
    const ng = page.getByRole('form', { name: 'add nodegroup' });
    await ng.getByLabel('Name').fill('extra');
    await ng.getByLabel('Nodes').fill('2');
    await ng.getByRole('button', { name: 'Add nodegroup' }).click();
    const row = page.locator('tr[data-nodegroup="extra"]');
    await row.locator('[data-status="CREATE_COMPLETE"]').waitFor();
    await row.getByRole('button', { name: 'Remove' }).click();
    await row.getByRole('button', { name: 'Yes, remove' }).click();
    await row.waitFor({ state: 'detached' });

    await page.getByRole('button', { name: 'Rotate CA' }).click();
    await page.getByRole('button', { name: 'Yes, rotate ca' }).click();
    await page.locator('.timeline > li[data-operation="rotate_ca"]').waitFor();
    await page.locator('header.page-head [data-status="UPDATE_COMPLETE"]').waitFor();

    // On a phone the page is no wider than the screen (wide tables scroll inside their box).
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `the cluster page is ${overflow} px wider than a phone screen`);
    await page.screenshot({ path: join(ROOT, 'var', 'screenshots', 'cluster-phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test('an admin makes a template public and hidden; errors show Magnum\'s message at the field', async () => {
    await page.goto(`${base}/dashboard/#/templates`);
    await page.locator('tr[data-template="fake-t"] a').click();
    await page.getByRole('button', { name: 'Make public' }).click();
    await page.locator('dd[data-key="public"]').filter({ hasText: 'true' }).waitFor();
    await page.getByRole('button', { name: 'Hide' }).click();
    await page.locator('dd[data-key="hidden"]').filter({ hasText: 'true' }).waitFor();
    // The API validates, the form shows its message: at the field it names, or above the buttons.
    await page.goto(`${base}/dashboard/#/clusters/new`);
    await page.getByLabel('Name').fill('bad');
    await page.getByLabel('Cluster template').selectOption({ label: 'fake-t2 (swarm-mode)' });
    await page.getByLabel('Masters').fill('0');
    await page.getByRole('button', { name: 'Create cluster' }).click();
    const atField = page.locator('[data-field="master_count"] .field-error');
    await atField.waitFor();
    assert.match(await atField.innerText(), /Invalid input for field\/attribute master_count/);
    await page.getByLabel('Masters').fill('1');
    await page.getByLabel('Worker flavor').fill('no-such-flavor');
    await page.getByRole('button', { name: 'Create cluster' }).click();
    await page.getByRole('alert').filter({ hasText: 'Unable to find flavor no-such-flavor.' }).waitFor();
    assert.equal(await atField.count(), 0);
  });

  test('a Kubernetes cluster\'s access bundle is a kubeconfig with a certificate the cluster\'s CA signed for a key made in the browser', async () => {
    await api('POST', '/v1/clustertemplates', { name: 'fake-k8s', coe: 'kubernetes', image_id: 'fake-image', external_network_id: 'public' });
    const { uuid } = await api('POST', '/v1/clusters', { name: 'kube', cluster_template_id: 'fake-k8s', master_count: 1, node_count: 1 });
    await page.goto(`${base}/dashboard/#/clusters/${uuid}`);
    await page.locator('header.page-head [data-status="CREATE_COMPLETE"]').waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download access bundle' }).click()]);
    assert.equal(download.suggestedFilename(), 'kube.kubeconfig');
    const dir = tempDir('magnum-dashboard-kube-');
    const file = join(dir, 'config');
    await download.saveAs(file);
    const config = parse(readFileSync(file, 'utf8'));
    assert.equal(config.kind, 'Config');
    assert.equal(config['current-context'], 'default');
    assert.equal(config.clusters[0].cluster.server, 'https://192.0.2.250:6443');
    const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
    const ca = b64(config.clusters[0].cluster['certificate-authority-data']);
    assert.equal(ca.trim(), String((await api('GET', `/v1/certificates/${uuid}`)).pem).trim());
    writeFileSync(join(dir, 'ca.pem'), ca);
    writeFileSync(join(dir, 'cert.pem'), b64(config.users[0].user['client-certificate-data']));
    writeFileSync(join(dir, 'key.pem'), b64(config.users[0].user['client-key-data']), { mode: 0o600 });
    const openssl = async (script: string) => {
      const r = await runCommand('bash', ['-c', script], { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
      assert.equal(r.code, 0, `${script}: ${r.stderr}`);
      return r.stdout;
    };
    assert.match(await openssl('openssl verify -CAfile ca.pem cert.pem'), /cert.pem: OK/);
    await openssl('diff <(openssl x509 -noout -pubkey -in cert.pem) <(openssl pkey -pubout -in key.pem)');
    assert.match(await openssl('openssl x509 -noout -subject -in cert.pem'), /O ?= ?system:masters, ?CN ?= ?admin|CN ?= ?admin, ?O ?= ?system:masters/);
    rmSync(dir, { recursive: true, force: true });
  });

  test('lists page like the API, and the keyboard reaches the navigation and forms', async () => {
    for (let i = 0; i < 52; i++) await api('POST', '/v1/clustertemplates', { name: `page-t-${String(i).padStart(2, '0')}`, coe: 'swarm-mode', image_id: 'fake-image', external_network_id: 'public' });
    await page.goto(`${base}/dashboard/#/templates`);
    const rows = page.locator('table[aria-label="cluster templates"] tbody tr');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 50);
    const firstPage = await rows.first().innerText();
    await page.getByRole('button', { name: 'Next →' }).click();
    await page.getByText('page 2').waitFor();
    const total = (await api('GET', '/v1/clustertemplates?limit=1000')).clustertemplates.length;
    assert.ok(total > 50 && total < 100, `${total} templates`);
    await page.waitForFunction((n) => document.querySelectorAll('table[aria-label="cluster templates"] tbody tr').length === n, total - 50);
    await page.getByRole('button', { name: '← Previous' }).click();
    await page.getByText('page 1').waitFor();
    assert.equal(await rows.first().innerText(), firstPage);

    // Keyboard: from the top of the page, Tab reaches the skip link, then the sections.
    await page.goto(`${base}/dashboard/#/clusters`);
    await page.reload();
    await page.getByRole('heading', { name: 'Clusters' }).waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    for (let i = 0; i < 8 && (await page.evaluate(() => document.activeElement?.textContent)) !== 'Templates'; i++) await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Cluster templates' }).waitFor();
  });
});

describe('the clusters page at 1,000 clusters', { timeout: 5 * 60_000 }, () => {
  const CLUSTERS = 1000;
  let stack: TestStack;
  let browser: Browser;
  let base: string;

  before(async () => {
    // No sweep or health poll during the test: the seeded clusters are rows only, as the list needs.
    stack = await startStack('sqlite', { dashboard: { enabled: 'true' }, conductor: { sweep_interval: '3600' }, kubernetes: { health_polling_interval: '3600' } });
    base = await stack.app.listen({ host: '127.0.0.1', port: 0 });
    const { storage } = stack;
    const project = stack.conf.noauth.default_project_id;
    const t = await storage.createClusterTemplate({ uuid: randomUUID(), name: 'scale', coe: 'swarm-mode', image_id: 'fake-image', cluster_distro: 'fake-os', server_type: 'vm', network_driver: 'docker', labels: {}, project_id: project, user_id: 'scale' });
    for (let i = 0; i < CLUSTERS; i++) {
      const uuid = randomUUID();
      const ng = (name: string, role: string, count: number) => ({ uuid: randomUUID(), name, cluster_id: uuid, project_id: project, labels: {}, image_id: 'fake-image', node_addresses: [], node_count: count, role, min_node_count: 0, is_default: true, status: 'CREATE_COMPLETE' as const });
      await storage.createClusterWithOperation(
        { uuid, name: `scale-${String(i).padStart(4, '0')}`, project_id: project, user_id: 'scale', cluster_template_id: t.uuid, labels: {}, status: 'CREATE_COMPLETE', health_status: 'HEALTHY', create_timeout: 60, api_address: 'tcp://192.0.2.250:2376', health_status_reason: {} },
        [ng('default-master', 'master', 1), ng('default-worker', 'worker', 1)],
        { uuid: randomUUID(), cluster_id: uuid, nodegroup_id: null, kind: 'cluster_create', params: {}, deadline_at: new Date(Date.now() + 3600_000), request_id: null },
      );
    }
    // The seeded creates stand for clusters that exist already.
    await storage.conn.db.updateTable('operation').set({ state: 'complete' }).execute();
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  test('pages of 50 from the API, the last one reached by Next, no long task while it polls', async () => {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(30_000);
    await page.addInitScript(() => {
      (window as any).longTasks = [];
      new PerformanceObserver((l) => { for (const e of l.getEntries()) (window as any).longTasks.push(e.duration); }).observe({ type: 'longtask', buffered: true });
    });
    const started = Date.now();
    await page.goto(`${base}/dashboard/#/clusters`);
    const rows = page.locator('table[aria-label="clusters"] tbody tr');
    await rows.nth(49).waitFor();
    const firstRender = Date.now() - started;
    assert.equal(await rows.count(), 50);
    for (let p = 2; p <= CLUSTERS / 50; p++) {
      await page.getByRole('button', { name: 'Next →' }).click();
      await page.getByText(`page ${p}`, { exact: true }).waitFor();
    }
    await page.locator('tr[data-cluster="scale-0999"]').waitFor();
    assert.equal(await rows.count(), 50);
    // A full page has a next link in the API; the page after the last one is empty.
    await page.getByRole('button', { name: 'Next →' }).click();
    await page.getByText('No more.').waitFor();
    assert.ok(await page.getByRole('button', { name: 'Next →' }).isDisabled(), 'Next after the last page');
    // Two polls of the page (every 3 s) with the main thread free.
    await page.waitForTimeout(6500);
    const longTasks: number[] = await page.evaluate(() => (window as any).longTasks);
    process.stdout.write(`# 1,000 clusters: first page in ${firstRender} ms; long tasks ${JSON.stringify(longTasks.map(Math.round))}\n`);
    assert.ok(longTasks.every((d) => d < 250), `long tasks of ${longTasks.join(', ')} ms`);
  });
});
