// magnum-all-in-one: API and conductor in one process, in-process RPC, SQLite, noauth — the
// embedded default that runs on a fresh machine with nothing else installed.
import { createTransport } from '../rpc/index.ts';
import { boot, fatal, onSignals, openStorage } from './common.ts';
import { buildConductor } from './conductor-wiring.ts';
import { buildApi } from './wiring.ts';

const { conf, logger, configDir } = boot('magnum-all-in-one', process.argv.slice(2), {
  DEFAULT: { transport_url: 'inprocess://', auth_strategy: 'noauth' },
  database: { connection: 'sqlite:///var/magnum.sqlite' },
  dashboard: { enabled: 'true' },
});

try {
  const storage = await openStorage(conf, { migrate: true, logger });
  const transport = createTransport(conf.DEFAULT.transport_url, logger);
  const conductor = buildConductor({ conf, storage, transport, logger });
  await conductor.start();
  const app = buildApi({ conf, storage, transport, logger, configDir });
  const address = await app.listen({ host: conf.api.host, port: conf.api.port });
  logger.info({ address, auth: conf.DEFAULT.auth_strategy, database: conf.database.connection.split('://')[0] }, 'magnum all-in-one listening');
  process.stdout.write(`magnum-all-in-one listening on ${address}/v1\n`);
  onSignals(async () => {
    await app.close();
    await conductor.stop();
    await transport.close();
    await storage.close();
  });
} catch (err) {
  fatal(logger, err);
}
