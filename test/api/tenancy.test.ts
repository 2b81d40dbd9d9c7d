// Tenancy under noauth, on every database (issue 8): every route under /v1, by name and by uuid,
// asked by a member of another project and by a caller without X-Project-Id (who acts in
// [noauth] default_project_id, never in "all projects"). Each answer is the status and message
// Magnum gives, in Magnum's error format with the header's request id; no answer carries another
// project's uuids or names; no refused request changes a row of any table. Admins keep Magnum's
// all-projects views where its policy grants them. The Keystone side (unscoped, domain-scoped,
// reader, expired and revoked tokens) is test/acceptance/tenancy-keystone.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { databaseKinds } from '../helpers/databases.ts';
import { startStack } from '../helpers/stack.ts';
import {
  API_HEADERS, adminCases, assertClean, injectSender, makeProject, otherProjectCases, runCases, summary, uncovered, v1Routes,
  type Caller,
} from '../helpers/tenancy.ts';

const id = randomBytes(3).toString('hex');
const P1 = `proj-one-${id}`;
const P2 = `proj-two-${id}`;
const DEFAULT_PROJECT = `proj-default-${id}`;
const DEFAULT_USER = `user-default-${id}`;

const caller = (label: string, project: string | null, user: string, roles: string): Caller => ({
  label,
  headers: { ...API_HEADERS, ...(project === null ? {} : { 'x-project-id': project }), 'x-user-id': user, 'x-roles': roles },
});

for (const kind of databaseKinds()) {
  test(`tenancy under noauth: other projects see nothing of a project (${kind})`, async (t) => {
    const started = Date.now();
    const s = await startStack(kind, {
      kubernetes: { health_polling_interval: '86400' },
      noauth: { default_project_id: DEFAULT_PROJECT, default_user_id: DEFAULT_USER, default_roles: 'admin' },
    });
    t.after(() => s.close());
    const send = injectSender(s.app);
    const p1Admin = caller('admin of P1', P1, `admin-one-${id}`, 'admin');
    const p2Member = caller('member of P2', P2, `user-two-${id}`, 'member');
    const p2Admin = caller('admin of P2', P2, `admin-two-${id}`, 'admin');
    // X-User-Id and X-Roles without X-Project-Id: acts in [noauth] default_project_id.
    const defaultMember = caller('member without X-Project-Id', null, `user-nop-${id}`, 'member');
    // No identity header at all: [noauth] default_project_id with default_roles (admin).
    const noIdentity: Caller = { label: 'no identity headers', headers: { ...API_HEADERS } };

    const p1 = await makeProject({ send, storage: s.storage, project: P1, user: `user-one-${id}`, owner: caller('member of P1', P1, `user-one-${id}`, 'member'), admin: p1Admin, publisher: p1Admin });
    const p2 = await makeProject({ send, storage: s.storage, project: P2, user: p2Member.headers['x-user-id'], owner: p2Member, admin: p1Admin });
    const dflt = await makeProject({ send, storage: s.storage, project: DEFAULT_PROJECT, user: `user-dflt-${id}`, owner: caller('member of the default project', DEFAULT_PROJECT, `user-dflt-${id}`, 'member'), admin: p1Admin });
    await s.conductor.pollHealth();
    t.diagnostic(`fixtures made in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const p2Cases = otherProjectCases(p1, p2, [p1.pub!]);
    let total = 0;

    await t.test('every route under /v1 has cases, by name and by uuid', () => {
      assert.deepEqual(uncovered(v1Routes(s.conf), p2Cases), []);
    });

    await t.test('a member of another project sees and changes nothing of P1', async (tt) => {
      const r = await runCases(p2Cases, { send, caller: p2Member, storage: s.storage, secrets: [...p1.secrets, ...dflt.secrets] });
      total += r.cases;
      tt.diagnostic(summary(r));
      assertClean(r, p2Member.label);
    });

    await t.test('a member without X-Project-Id acts in the default project, not in all projects', async (tt) => {
      const r = await runCases(otherProjectCases(p1, dflt, [p1.pub!]), { send, caller: defaultMember, storage: s.storage, secrets: [...p1.secrets, ...p2.secrets] });
      total += r.cases;
      tt.diagnostic(summary(r));
      assertClean(r, defaultMember.label);
    });

    for (const who of [p2Admin, noIdentity]) {
      await t.test(`${who.label}: Magnum's all-projects views, and 404 where Magnum never goes all-projects`, async (tt) => {
        const r = await runCases(adminCases(p1), { send, caller: who, storage: s.storage, secrets: [] });
        total += r.cases;
        tt.diagnostic(summary(r));
        assertClean(r, who.label);
      });
    }

    await t.test('what a caller without X-Project-Id makes belongs to the default project', async () => {
      for (const who of [defaultMember, noIdentity]) {
        const r = await send('POST', '/v1/clustertemplates', who.headers, { name: `made-${who === noIdentity ? 'anon' : 'nop'}-${id}`, coe: 'swarm-mode', image_id: 'fake-image' });
        assert.equal(r.status, 201, `${who.label}: ${r.text}`);
        const tpl = JSON.parse(r.text);
        assert.equal(tpl.project_id, DEFAULT_PROJECT, who.label);
        assert.equal(tpl.user_id, who === noIdentity ? DEFAULT_USER : who.headers['x-user-id'], who.label);
      }
      for (const table of ['cluster_template', 'cluster', 'nodegroup', 'container', 'cluster_workload', 'quotas']) {
        const orphans = await s.storage.conn.db.selectFrom(table).select('id').where('project_id', 'is', null).execute();
        assert.equal(orphans.length, 0, `${table} has rows without a project`);
      }
    });
    t.diagnostic(`${kind}: ${total} tenancy cases in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
}
