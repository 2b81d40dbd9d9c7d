import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, configFilesFromArgv, loadConfig, renderSample } from './index.ts';

test('etc/magnum.conf.sample is generated from the schema (run bin/magnum-config-sample > etc/magnum.conf.sample)', () => {
  const committed = readFileSync(new URL('../../etc/magnum.conf.sample', import.meta.url), 'utf8');
  assert.equal(committed, renderSample());
});

test('files merge in order, environment overrides files, values are coerced', () => {
  const dir = mkdtempSync(join(tmpdir(), 'magnum-conf-'));
  const a = join(dir, 'a.conf');
  const b = join(dir, 'b.conf');
  writeFileSync(a, '[api]\nport = 1234\nworkers = 2\n[DEFAULT]\nauth_strategy = noauth\n[drivers]\ndisabled_drivers = x, y\n');
  writeFileSync(b, '[api]\nport = 2345\n');
  const conf = loadConfig({ files: configFilesFromArgv(['--config-file', a, `--config-file=${b}`]), env: { MAGNUM__API__WORKERS: '3' } });
  assert.equal(conf.api.port, 2345);
  assert.equal(conf.api.workers, 3);
  assert.equal(conf.DEFAULT.auth_strategy, 'noauth');
  assert.deepEqual(conf.drivers.disabled_drivers, ['x', 'y']);
  assert.equal(conf.api.max_limit, 1000);
  assert.ok(conf.DEFAULT.host);
});

test('bad values are refused with the option named', () => {
  assert.throws(() => loadConfig({ env: { MAGNUM__API__PORT: 'eighty' } }), (e: unknown) => e instanceof ConfigError && /\[api\] port/.test((e as Error).message));
  assert.throws(() => loadConfig({ env: { MAGNUM__DEFAULT__AUTH_STRATEGY: 'magic' } }), ConfigError);
  assert.throws(() => loadConfig({ files: ['/nonexistent/magnum.conf'] }), ConfigError);
});
