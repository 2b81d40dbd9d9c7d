// magnum-db-manage upgrade|downgrade|version
import { redactCredentials } from '../db/errors.ts';
import { boot, storageFromConfig } from './common.ts';

const argv = process.argv.slice(2);
const { conf } = boot('magnum-db-manage', argv);
const command = argv.filter((a, i) => !a.startsWith('--config-file') && argv[i - 1] !== '--config-file')[0];
// Migrations may run long: no statement bound here.
const storage = storageFromConfig(conf, { statementTimeout: 0 });
try {
  if (command === 'upgrade') {
    const applied = await storage.migrate();
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'already at head\n');
  } else if (command === 'downgrade') {
    await storage.migrateDown(1);
    process.stdout.write(`now at ${(await storage.version()) ?? 'base'}\n`);
  } else if (command === 'version') {
    process.stdout.write(`${(await storage.version()) ?? 'base'}\n`);
  } else {
    process.stderr.write('usage: magnum-db-manage [--config-file PATH]... upgrade|downgrade|version\n');
    process.exitCode = 2;
  }
} catch (err) {
  process.stderr.write(`magnum-db-manage: ${redactCredentials((err as Error).message)}\n`);
  process.exitCode = 1;
} finally {
  await storage.close();
}
