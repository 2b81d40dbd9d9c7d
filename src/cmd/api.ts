// magnum-api: the REST server. `[api] workers` > 1 forks that many processes sharing the port.
import cluster from 'node:cluster';
import { createTransport } from '../rpc/index.ts';
import { boot, fatal, onSignals, openStorage } from './common.ts';
import { buildApi } from './wiring.ts';

const { conf, logger, configDir } = boot('magnum-api', process.argv.slice(2));

if (cluster.isPrimary && conf.api.workers > 1) {
  for (let i = 0; i < conf.api.workers; i++) cluster.fork();
  cluster.on('exit', (worker, code) => {
    logger.warn({ pid: worker.process.pid, code }, 'API worker exited; starting another');
    cluster.fork();
  });
  onSignals(async () => {
    cluster.removeAllListeners('exit');
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
  });
} else {
  try {
    const storage = await openStorage(conf, { migrate: false, logger });
    const transport = createTransport(conf.DEFAULT.transport_url, logger);
    const app = buildApi({ conf, storage, transport, logger, configDir });
    const address = await app.listen({ host: conf.api.host, port: conf.api.port });
    logger.info({ address }, 'magnum-api listening');
    onSignals(async () => {
      await app.close();
      await transport.close();
      await storage.close();
    });
  } catch (err) {
    fatal(logger, err);
  }
}
