// magnum-conductor: consumes the conductor topic; run as many as you like.
import { lowerCpuPriority } from '../common/cpu-priority.ts';
import { createTransport } from '../rpc/index.ts';
import { boot, fatal, onSignals, openStorage } from './common.ts';
import { buildConductor } from './conductor-wiring.ts';

const { conf, logger } = boot('magnum-conductor', process.argv.slice(2));
// First, so that the threads made from here on start at this value ([conductor] nice).
const priority = lowerCpuPriority(conf.conductor.nice);
if (priority.failed) logger.warn({ nice: conf.conductor.nice, ...priority }, 'could not lower the CPU priority of every thread');

try {
  const storage = await openStorage(conf, { migrate: false, logger });
  const transport = createTransport(conf.DEFAULT.transport_url, logger);
  const conductor = buildConductor({ conf, storage, transport, logger });
  await conductor.start();
  onSignals(async () => {
    await conductor.stop();
    await transport.close();
    await storage.close();
  });
} catch (err) {
  fatal(logger, err);
}
