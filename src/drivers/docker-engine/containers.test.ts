import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { MagnumError } from '../../common/errors.ts';
import { createArgs, envFileText, mergeLogs, withEnvFile } from './containers.ts';

describe('container logs', () => {
  it('merges the two log streams back by time', () => {
    const out = '2024-01-01T00:00:00.1Z a\n2024-01-01T00:00:00.300000000Z c\n';
    const err = '2024-01-01T00:00:00.25Z b\n';
    assert.equal(mergeLogs(out, err, false), 'a\nb\nc\n');
    assert.equal(mergeLogs(out, err, true), '2024-01-01T00:00:00.1Z a\n2024-01-01T00:00:00.25Z b\n2024-01-01T00:00:00.300000000Z c\n');
    assert.equal(mergeLogs('', '', false), '');
  });
});

describe('container environment: never on a command line', () => {
  const env = { SECRET_TOKEN: 's3cr3t value "quoted" $HOME', EMPTY: '', WITH_EQ: 'a=b=c' };

  it('the docker create arguments name an env file and carry no value', async () => {
    const spec = { uuid: '3f8e8b3c-0000-4000-8000-000000000001', image: 'busybox', environment: env, memory: '64m', ports: ['8080:80'], command: 'sleep 1' };
    let seen: string[] = [];
    let path = '';
    await withEnvFile(envFileText(env), async (p) => {
      path = p!;
      seen = createArgs(spec, '10.0.0.3', p);
      assert.equal(readFileSync(p!, 'utf8'), 'SECRET_TOKEN=s3cr3t value "quoted" $HOME\nEMPTY=\nWITH_EQ=a=b=c\n');
      assert.equal(statSync(p!).mode & 0o777, 0o600);
      assert.equal(statSync(join(p!, '..')).mode & 0o777, 0o700);
    });
    const argv = seen.join('\0');
    for (const v of Object.values(env).filter(Boolean)) assert.ok(!argv.includes(v), `argv holds no value: ${v}`);
    assert.ok(!argv.includes('SECRET_TOKEN') && !/--env=|(^|\0)-e(\0|$)/.test(argv));
    assert.ok(seen.includes(`--env-file=${path}`));
    assert.equal(existsSync(path), false, 'removed afterwards');
    assert.deepEqual(createArgs({ ...spec, environment: {} }, '10.0.0.3', null).filter((a) => a.startsWith('--env')), []);
  });

  it('the env file is removed when the create fails too; none is written without variables', async () => {
    let path = '';
    await assert.rejects(withEnvFile('A=1\n', async (p) => { path = p!; throw new Error('docker failed'); }), /docker failed/);
    assert.ok(path && !existsSync(path));
    assert.equal(await withEnvFile('', async (p) => p), null);
  });

  it('what an env file cannot carry is a 400, before anything is made', () => {
    assert.throws(() => envFileText({ A: 'line\nbreak' }), (e: MagnumError) => e.status === 400 && /line break/.test(e.message));
    assert.throws(() => envFileText({ A: 'cr\r' }), (e: MagnumError) => e.status === 400);
    assert.throws(() => envFileText({ 'A B': 'x' }), (e: MagnumError) => e.status === 400 && /white space/.test(e.message));
    assert.throws(() => envFileText({ '#A': 'x' }), (e: MagnumError) => e.status === 400);
  });
});
