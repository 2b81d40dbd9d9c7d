// An in-process control plane for tests: API (Fastify inject or a real port) + conductor with the
// fake driver, on a temporary database of the given kind, noauth.
import { pino, type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../../src/conf/index.ts';
import type { ConductorService } from '../../src/conductor/service.ts';
import { SqlStorage } from '../../src/db/sql/storage.ts';
import { InProcessTransport } from '../../src/rpc/in-process.ts';
import { buildConductor } from '../../src/cmd/conductor-wiring.ts';
import { buildApi } from '../../src/cmd/wiring.ts';
import { createTempDatabase, type DbKind, type TempDatabase } from './databases.ts';

export interface TestStack {
  conf: Config;
  app: FastifyInstance;
  storage: SqlStorage;
  conductor: ConductorService;
  db: TempDatabase;
  close(): Promise<void>;
}

export async function startStack(
  kind: DbKind = 'sqlite',
  overrides: Record<string, Record<string, string>> = {},
  opts: { logger?: Logger } = {},
): Promise<TestStack> {
  const db = await createTempDatabase(kind);
  const conf = loadConfig({
    env: {},
    overrides: {
      DEFAULT: { auth_strategy: 'noauth', transport_url: 'inprocess://', ...overrides.DEFAULT },
      database: { connection: db.url },
      drivers: { test_drivers: 'fake' },
      fake_driver: { step_delay_ms: '5', ...overrides.fake_driver },
      conductor: { sweep_interval: '1', operation_lease: '3', ...overrides.conductor },
      oslo_policy: { policy_file: '/nonexistent/policy.yaml' },
      // Every create makes the cluster's CAs: the smallest allowed RSA keys keep tests that make
      // many clusters fast (a test may ask for more).
      x509: { rsa_key_size: '1024', ...overrides.x509 },
      ...Object.fromEntries(Object.entries(overrides).filter(([k]) => !['DEFAULT', 'fake_driver', 'conductor', 'x509'].includes(k))),
    },
  });
  const storage = SqlStorage.open(conf.database.connection, { poolSize: 5 });
  await storage.migrate();
  const transport = new InProcessTransport();
  const logger = opts.logger ?? pino({ level: process.env.MAGNUM_TEST_LOG ?? 'silent' });
  const conductor = buildConductor({ conf, storage, transport, logger });
  await conductor.start();
  const app = buildApi({ conf, storage, transport, logger, configDir: process.cwd() });
  await app.ready();
  return {
    conf, app, storage, conductor, db,
    close: async () => {
      await app.close();
      await conductor.stop();
      await transport.close();
      await storage.close();
      await db.drop();
    },
  };
}

/** Headers of a noauth caller. */
export function as(project: string, opts: { roles?: string[]; user?: string; mv?: string } = {}): Record<string, string> {
  return {
    'x-project-id': project,
    'x-user-id': opts.user ?? `${project}-user`,
    'x-roles': (opts.roles ?? ['member']).join(','),
    'openstack-api-version': `container-infra ${opts.mv ?? 'latest'}`,
    'content-type': 'application/json',
  };
}

/** Poll until `check` returns a value (not undefined), or fail after `ms`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
