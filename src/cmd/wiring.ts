// The API process's composition: it loads nothing the conductor alone needs (drivers' steps,
// certificates, the engines' clients), which keeps its memory down.
import type { Logger } from 'pino';
import { buildApp } from '../api/app.ts';
import { ReadCache } from '../api/read-cache.ts';
import { createAuthenticator, wwwAuthenticateHeader } from '../api/hooks/authenticator.ts';
import { KeystoneClient } from '../common/keystone.ts';
import { Policy } from '../common/policy.ts';
import type { Config } from '../conf/index.ts';
import { ConductorAPI } from '../conductor/api.ts';
import type { SqlStorage } from '../db/sql/storage.ts';
import { DriverRegistry } from '../drivers/registry.ts';
import type { RpcTransport } from '../rpc/transport.ts';
import { catalog } from './common.ts';
import { DockerProvider } from '../infra/docker/provider.ts';
import { collectWhenIdle } from '../common/idle-gc.ts';

/** The read cache of an API built here (tests look at its figures). */
export const readCacheOf = new WeakMap<object, ReadCache>();

export function buildApi(opts: { conf: Config; storage: SqlStorage; transport: RpcTransport; logger: Logger; configDir: string; drivers?: DriverRegistry }) {
  const { conf, storage, transport } = opts;
  const infra = new DockerProvider(conf);
  const drivers = opts.drivers ?? DriverRegistry.fromConfig(conf, infra);
  const policy = Policy.fromConfig(conf, { configDir: opts.configDir });
  const keystoneMode = conf.DEFAULT.auth_strategy === 'keystone';
  const keystone = keystoneMode ? KeystoneClient.fromConfig(conf) : undefined;
  const authenticator = createAuthenticator(conf, { keystone, policy });
  // PostgreSQL announces every change of a cluster, nodegroup or template to every process that
  // listens: the read cache of this process is emptied by them (src/api/read-cache.ts).
  const window = conf.api.read_cache_sync ? conf.api.read_cache_sync_window : 0;
  const feed = storage.openChangeFeed({ windowMs: window, onError: (reason) => opts.logger.warn({ reason }, 'read cache off until the database answers again') });
  const cache = feed ? new ReadCache(feed, { sync: conf.api.read_cache_sync }) : undefined;
  const app = buildApp({
    conf,
    storage,
    catalog: catalog(conf, drivers, infra),
    conductor: new ConductorAPI({ storage, transport, conf }),
    policy,
    authenticator,
    projects: keystone ? { exists: async (id) => (await keystone.getProject(id)) !== null } : undefined,
    wwwAuthenticate: keystoneMode ? wwwAuthenticateHeader(conf) : undefined,
    logger: opts.logger,
    cache,
    // Every API process on PostgreSQL holds its answers to changes for the window: another
    // process's read cache relies on it (src/api/read-cache.ts).
    answerHoldMs: feed ? conf.api.read_cache_sync_window : 0,
  });
  if (cache) readCacheOf.set(app, cache);
  // The garbage of a burst of requests is collected once the process is idle (with --expose-gc:
  // scripts/launch.sh; src/common/idle-gc.ts).
  const idleGc = collectWhenIdle();
  app.addHook('onClose', async () => {
    idleGc.stop();
    await authenticator.close();
    await keystone?.close();
    await feed?.close();
  });
  return app;
}
