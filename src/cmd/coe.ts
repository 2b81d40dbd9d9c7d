// coe: the command-line client (src/cli). Exits with the command's status once its output is written.
import { main } from '../cli/main.ts';

process.exitCode = await main(process.argv.slice(2));
