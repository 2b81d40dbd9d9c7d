// Shared start-up of every process: configuration from --config-file (repeatable, later wins) and
// MAGNUM__SECTION__OPTION variables, a logger, the storage, the drivers. Only src/cmd builds concrete
// things; everything below it receives them in one options object.
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';
import type { Catalog } from '../api/app.ts';
import { ConfigError, configFilesFromArgv, loadConfig, type Config } from '../conf/index.ts';
import { DriverRegistry } from '../drivers/registry.ts';
import { SqlStorage } from '../db/sql/storage.ts';
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
  return { conf, logger, configDir: files.length ? dirname(files[files.length - 1]) : process.cwd() };
}

export async function openStorage(conf: Config, opts: { migrate: boolean }): Promise<SqlStorage> {
  const storage = SqlStorage.open(conf.database.connection, { poolSize: conf.database.max_pool_size });
  if (opts.migrate) {
    await storage.migrate();
  } else {
    const version = await storage.version();
    if (version !== HEAD) {
      await storage.close();
      throw new Error(`database schema is at ${version ?? 'nothing'}, expected ${HEAD}: run magnum-db-manage upgrade`);
    }
  }
  return storage;
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
  logger.fatal({ err }, (err as Error).message);
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
