// Test environment: the service URLs and credentials that scripts/setup-services.sh wrote to
// var/services.env. Tests never skip: a missing service is a failure with a clear message.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let cached: Record<string, string> | null = null;

export function servicesEnv(): Record<string, string> {
  if (cached) return cached;
  const file = `${ROOT}/var/services.env`;
  const out: Record<string, string> = {};
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
      if (m) out[m[1]] = m[2].replace(/^['"]|['"]$/g, '');
    }
  }
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && /^(MAGNUM_TEST_|KEYSTONE_|DEMO_|ALT_|MAGNUM_SERVICE_)/.test(k)) out[k] = v;
  cached = out;
  return out;
}

export function need(name: string): string {
  const v = servicesEnv()[name];
  if (!v) throw new Error(`${name} is not set: run scripts/setup-services.sh first (it writes var/services.env)`);
  return v;
}
