// `npm run build`: each command of src/cmd (what bin/ runs) bundled with esbuild into
// dist/bundle/<name>.mjs, code they share in dist/bundle/chunks/. scripts/launch.sh runs these
// while they are newer than every source file and than package-lock.json.
//
// Why bundle: Node keeps every loaded module's source text, its compiled code and its module
// record. The API loads about 1,100 modules (typebox 373, kysely 263, ajv 86, yaml 73) and the
// conductor about 500; bundled, the libraries' code that is never imported is left out (tree
// shaking) and what remains is one module per chunk. Measured at start (PostgreSQL + RabbitMQ,
// the launcher's V8 flags): the API 88-92 MB resident instead of 103-105 (V8 heap in use 21-25 MB
// instead of 36), the conductor 66 instead of 72.
//
// What stays out (imported from node_modules at run time, as before):
// - native addons and what is loaded by a name chosen at run time: better-sqlite3, pg, mysql2
//   (src/db/sql picks its driver with createRequire; pg's optional pg-native is pg's own affair);
// - what is imported only on first use and is big: @kubernetes/client-node (the Kubernetes
//   driver), @peculiar/x509 and reflect-metadata (clients' CSRs), undici (the coe CLI's HTTP),
//   esbuild (the dashboard's build);
// - pino, which starts its transports from files by path.
// Every other dependency (fastify and its plugins, ajv, typebox, kysely, yaml, rabbitmq-client,
// commander, ini, rfc6902, ...) is bundled.
//
// Source maps are written beside each file (dist/bundle/*.map) but not loaded by default: with
// --enable-source-maps Node parses and keeps them, 3-4 MB more in the API. Stack traces name the
// functions at lines of the readable (not minified) bundle; NODE_OPTIONS=--enable-source-maps
// maps them to src/.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const COMMANDS = ['api', 'conductor', 'all-in-one', 'db-manage', 'config-sample', 'coe'];
const EXTERNAL = [
  'better-sqlite3', 'pg', 'mysql2',
  '@kubernetes/client-node', '@peculiar/x509', 'reflect-metadata', 'undici', 'esbuild',
  'pino',
];

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const deps = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies });
for (const name of EXTERNAL) {
  if (!deps.includes(name)) throw new Error(`scripts/bundle.mjs: ${name} is no longer a dependency; update EXTERNAL`);
}

await build({
  absWorkingDir: root,
  entryPoints: Object.fromEntries(COMMANDS.map((c) => [c, `src/cmd/${c}.ts`])),
  outdir: 'dist/bundle',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL.flatMap((name) => [name, `${name}/*`]),
  // No keepNames: it wraps every function and class in a __name() call where it is made, so a
  // closure made per request pays for it (a cluster's show, --pin: 70-83 us of API CPU per
  // request with it, 45-60 without, 47-83 for tsc's output). Names stay as written, except
  // where two bundled modules' top-level names collide (one becomes e.g. NotFound2).
  sourcemap: 'linked',
  sourcesContent: false,
  // Bundled CommonJS code calls require() for what stays external: give each file one.
  banner: { js: "import { createRequire as __magnumCreateRequire } from 'node:module';\nconst require = __magnumCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
