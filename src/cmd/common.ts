// Shared start-up of every process: configuration from --config-file (repeatable, later wins) and
// MAGNUM__SECTION__OPTION variables, a logger, the storage, the drivers. Only src/cmd builds concrete
// things; everything below it receives them in one options object.
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import type { Catalog } from '../api/app.ts';
import { ConfigError, configFilesFromArgv, loadConfig, type Config } from '../conf/index.ts';
import { DriverRegistry } from '../drivers/registry.ts';
import { SqlStorage } from '../db/sql/storage.ts';
import { connect } from '../db/sql/connection.ts';
import { isDatabaseUnavailable, redactCredentials, unavailableReason } from '../db/errors.ts';
import { HEAD } from '../db/sql/migrations/index.ts';
import { FAKE_OS } from '../drivers/fake/driver.ts';
import type { InfraProvider } from '../infra/provider.ts';

export interface Boot {
  conf: Config;
  logger: Logger;
  configDir: string;
}

export function boot(name: string, argv: string[], defaults?: Record<string, Record<string, string>>): Boot {
  const files = configFilesFromArgv(argv);
  let conf: Config;
  try {
    conf = loadConfig({ files, defaults });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = pino({ name, level: conf.DEFAULT.debug ? 'debug' : 'info' });
  // Node 20 ends the process on a promise rejection nobody handles. Every path that can reject
  // (database, broker) handles its errors; should one be missed, a running API or conductor logs
  // it (the fault tests look for this line) rather than dropping every request and operation it holds.
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason }, 'unhandled promise rejection (a bug; the process goes on)');
  });
  return { conf, logger, configDir: files.length ? dirname(files[files.length - 1]) : process.cwd() };
}

/** The SQL storage with the [database] bounds (pool_timeout, statement_timeout, connection_recycle_time). */
export function storageFromConfig(conf: Config, opts: { logger?: Logger; statementTimeout?: number; poolSize?: number } = {}): SqlStorage {
  const d = conf.database;
  return new SqlStorage(connect(d.connection, {
    poolSize: opts.poolSize ?? d.max_pool_size,
    poolTimeout: d.pool_timeout,
    statementTimeout: opts.statementTimeout ?? d.statement_timeout,
    recycleTime: d.connection_recycle_time,
    onConnectionError: (reason) => opts.logger?.warn({ reason }, 'database connection lost; it is replaced on next use'),
  }));
}

/**
 * Opens the storage and checks (or migrates) the schema. A database that cannot be reached is
 * tried again [database] max_retries times, retry_interval seconds apart, before giving up.
 */
export async function openStorage(conf: Config, opts: { migrate: boolean; logger?: Logger }): Promise<SqlStorage> {
  const storage = storageFromConfig(conf, { logger: opts.logger });
  const { max_retries: retries, retry_interval: interval } = conf.database;
  for (let attempt = 1; ; attempt++) {
    try {
      if (opts.migrate) {
        await storage.migrate();
      } else {
        const version = await storage.version();
        if (version !== HEAD) throw new Error(`database schema is at ${version ?? 'nothing'}, expected ${HEAD}: run magnum-db-manage upgrade`);
      }
      return storage;
    } catch (err) {
      if (!isDatabaseUnavailable(err) || (retries >= 0 && attempt > retries)) {
        await storage.close().catch(() => undefined);
        throw err;
      }
      opts.logger?.warn({ reason: unavailableReason(err), attempt, retryInSeconds: interval }, 'database unavailable at start; trying again');
      await sleep(interval * 1000);
    }
  }
}

/** Images, flavors, networks and drivers as the API sees them: the static [infra] images (the fake
 * driver's) first, then the infrastructure provider. */
export function catalog(conf: Config, drivers: DriverRegistry, provider: InfraProvider): Catalog {
  const images = new Map<string, string | null>();
  for (const entry of conf.infra.images) {
    const [name, os] = entry.split(':');
    images.set(name, os || null);
  }
  if (conf.drivers.test_drivers.includes('fake') && !images.has('fake-image')) images.set('fake-image', FAKE_OS);
  return {
    driverSupports: (serverType, os, coe) => drivers.supports(serverType, os, coe),
    imageOsDistro: async (image) => {
      if (images.has(image)) return images.get(image)!;
      const info = await provider.image(image);
      return info ? info.osDistro : undefined;
    },
    flavorExists: (name) => provider.flavor(name) !== null,
    externalNetworkExists: (name) => provider.externalNetworkAddress(name) !== null,
  };
}

export function fatal(logger: Logger, err: unknown): never {
  // What reaches here may quote a configuration value: no URL password goes to the log.
  const e = err instanceof Error ? err : new Error(String(err));
  const safe = Object.assign(new Error(redactCredentials(e.message)), { code: (e as { code?: unknown }).code });
  safe.name = e.name;
  safe.stack = redactCredentials(e.stack ?? '');
  logger.fatal({ err: safe }, safe.message);
  process.exit(1);
}

export function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (stopping) process.exit(1);
      stopping = true;
      void stop().finally(() => process.exit(0));
    });
  }
}
