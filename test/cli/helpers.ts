// Helpers of the `coe` tests: an all-in-one to talk to (fake driver or real Docker nodes, noauth
// or Keystone), `bin/coe` and `openstack` run with explicit environments (a private HOME, so no
// clouds.yaml or token cache of the developer is used), and the comparison of their -f json output.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/env.ts';
import { freePort, runCommand, runOpenstack, spawnProcess, tempDir, type ManagedProcess, type RunResult } from '../helpers/processes.ts';

export const COE = join(ROOT, 'bin/coe');

export interface Aio {
  proc: ManagedProcess;
  dir: string;
  /** http://127.0.0.1:PORT/v1 */
  endpoint: string;
}

export async function startAio(opts: { name: string; auth?: 'noauth' | 'keystone'; fake?: boolean; extra?: string[] }): Promise<Aio> {
  const dir = tempDir(`coe-${opts.name}-`);
  const port = await freePort();
  const conf = join(dir, 'magnum.conf');
  writeFileSync(conf, [
    '[DEFAULT]', `auth_strategy = ${opts.auth ?? 'noauth'}`, 'transport_url = inprocess://', `host = coe-${opts.name}-${process.pid}`,
    '[api]', 'host = 127.0.0.1', `port = ${port}`,
    '[database]', `connection = sqlite:///${join(dir, 'magnum.sqlite')}`,
    '[certificates]', `encryption_key_file = ${join(dir, 'cert.key')}`,
    '[conductor]', 'sweep_interval = 1', 'operation_lease = 5',
    '[kubernetes]', 'health_polling_interval = 2',
    '[oslo_policy]', `policy_file = ${join(dir, 'policy.yaml')}`,
    ...(opts.fake ? ['[drivers]', 'test_drivers = fake', '[fake_driver]', 'step_delay_ms = 150'] : []),
    ...(opts.extra ?? []),
    '',
  ].join('\n'));
  const proc = await spawnProcess(`${ROOT}/bin/magnum-all-in-one`, { args: ['--config-file', conf], port, logDir: dir, name: `aio-${opts.name}` });
  return { proc, dir, endpoint: `${proc.url}/v1` };
}

/** A minimal environment with its own HOME (no clouds.yaml, an empty token cache). */
export function cleanEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { HOME: home, SHELL: '/bin/bash', LANG: 'C.UTF-8', PYTHONWARNINGS: 'ignore' };
  for (const k of ['PATH', 'TMPDIR', 'TZ', 'USER']) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  env.no_proxy = env.NO_PROXY = ['127.0.0.1', 'localhost', process.env.no_proxy].filter(Boolean).join(',');
  return { ...env, ...extra };
}

export function newHome(prefix = 'coe-home-'): string {
  const home = tempDir(prefix);
  mkdirSync(join(home, '.config', 'openstack'), { recursive: true });
  return home;
}

export function runCoe(args: string[], env: Record<string, string>, opts: { timeoutMs?: number; cwd?: string; input?: string } = {}): Promise<RunResult> {
  const t0 = Date.now();
  return runCommand(COE, args, { env, timeoutMs: opts.timeoutMs ?? 60_000, cwd: opts.cwd, input: opts.input }).then((r) => {
    if (process.env.MAGNUM_TEST_TRACE_CLI) process.stderr.write(`[coe] ${((Date.now() - t0) / 1000).toFixed(2)}s exit ${r.code} ${args.join(' ')}\n`);
    return r;
  });
}

export function show(r: RunResult): string {
  return `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** Exit 0; the parsed JSON output, if any. */
export function ok(r: RunResult): any {
  assert.equal(r.code, 0, show(r));
  return r.json;
}

/** Exit 1 and the server's message on stderr. */
export function refused(r: RunResult, status: number, message: string | RegExp): void {
  assert.equal(r.code, 1, show(r));
  const line = r.stderr.trim().split('\n').pop() ?? '';
  if (typeof message === 'string') assert.ok(line.startsWith(`${message} (HTTP ${status}) (Request-ID: req-`), `expected "${message} (HTTP ${status})", got:\n${show(r)}`);
  else assert.match(line, message, show(r));
}

/** The `Property | Value` (or `Field | Value`) table the OpenStack client prints, as an object. */
export function propertyTable(stdout: string): Record<string, string> {
  const rows = stdout.split('\n').filter((l) => l.startsWith('|')).map((l) => l.slice(1, -1).split('|').map((c) => c.trim()));
  return Object.fromEntries(rows.slice(1).map(([k, v]) => [k, v]));
}

/**
 * `coe ARGS -f json` and `openstack coe ARGS -f json` give the same keys and values. Both read
 * the server at about the same time; a difference is retried a few times in case the record
 * changed in between (a health poll, a conductor heartbeat).
 */
export async function sameAsOpenstack(args: string[], coeEnv: Record<string, string>, osEnv: Record<string, string>): Promise<any> {
  let last: [any, any] = [undefined, undefined];
  for (let attempt = 0; attempt < 4; attempt++) {
    const [mine, theirs] = await Promise.all([runCoe([...args, '-f', 'json'], coeEnv), runOpenstack(['coe', ...args, '-f', 'json'], osEnv)]);
    assert.equal(theirs.code, 0, `openstack coe ${args.join(' ')}: ${show(theirs)}`);
    assert.equal(mine.code, 0, `coe ${args.join(' ')}: ${show(mine)}`);
    assert.notEqual(mine.json, undefined, `coe ${args.join(' ')} printed no JSON: ${show(mine)}`);
    last = [mine.json, theirs.json];
    try {
      assert.deepEqual(mine.json, theirs.json);
      return mine.json;
    } catch {
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  assert.deepEqual(last[0], last[1], `coe ${args.join(' ')} -f json differs from openstack coe's`);
  return last[0];
}

/** The same for commands the OpenStack client prints as a `Property | Value` table only (quotas, stats). */
export async function samePropertiesAsOpenstack(args: string[], coeEnv: Record<string, string>, osEnv: Record<string, string>): Promise<Record<string, unknown>> {
  const [mine, table, theirs] = await Promise.all([runCoe([...args, '-f', 'json'], coeEnv), runCoe(args, coeEnv), runOpenstack(['coe', ...args], osEnv)]);
  assert.equal(theirs.code, 0, show(theirs));
  const json = ok(mine);
  ok(table);
  const expected = propertyTable(theirs.stdout);
  assert.deepEqual(Object.keys(json), Object.keys(expected), `coe ${args.join(' ')}: keys differ from openstack's`);
  // print_dict shows None as '-' and everything else through str().
  const asPrinted = Object.fromEntries(Object.entries(json).map(([k, v]) => [k, v === null ? '-' : String(v)]));
  assert.deepEqual(asPrinted, expected);
  // and the table itself reads the same
  assert.deepEqual(propertyTable(table.stdout), expected);
  return json;
}
