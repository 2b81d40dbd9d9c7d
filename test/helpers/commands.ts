// Commands for acceptance tests, with a minimal environment (PATH and HOME, plus what the caller
// adds): `sh` gives the result whatever the exit code, `must` asserts exit 0 and gives stdout.
import assert from 'node:assert/strict';
import { runCommand, type RunResult } from './processes.ts';

const BASE_ENV = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };

export interface CommandOptions {
  env?: Record<string, string>;
  timeoutMs?: number;
}

export function sh(cmd: string, args: string[], opts: CommandOptions = {}): Promise<RunResult> {
  return runCommand(cmd, args, { env: { ...BASE_ENV, ...opts.env }, timeoutMs: opts.timeoutMs ?? 120_000 });
}

export async function must(cmd: string, args: string[], opts: CommandOptions = {}): Promise<string> {
  const r = await sh(cmd, args, opts);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed: ${r.stderr}\n${r.stdout}`);
  return r.stdout;
}
