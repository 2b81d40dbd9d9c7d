// Import boundaries that keep the layers honest (STYLE.md); checked by the test command.
// Only this rule set runs: formatting and style are not the linter's job here.
import tseslint from 'typescript-eslint';

const api = {
  patterns: [
    { group: ['**/drivers/**', '**/infra/**'], message: 'The API never imports drivers or infrastructure providers: ask through ApiDeps (Catalog) or the conductor.' },
    { group: ['**/db/sql/**'], message: 'The API uses the storage interface (src/db/api.ts), never the SQL implementation.' },
    { group: ['**/rpc/amqp*', '**/rpc/in-process*'], message: 'The API reaches the conductor only through src/conductor/api.ts.' },
    { group: ['**/conductor/**', '!**/conductor/api.ts'], message: 'The API reaches the conductor only through src/conductor/api.ts.' },
    { group: ['**/cmd/**'], message: 'Only src/cmd wires concrete dependencies.' },
  ],
};
const noDb = {
  patterns: [
    { group: ['**/db/**'], message: 'Drivers and infrastructure providers never touch the database: the conductor saves (as in Magnum).' },
    { group: ['**/infra/docker/**'], message: 'Drivers depend on the provider interface (src/infra/provider.ts), never on a provider; src/cmd builds it.' },
    { group: ['**/cmd/**'], message: 'Only src/cmd wires concrete dependencies.' },
  ],
};
const conductor = {
  patterns: [
    { group: ['**/db/sql/**'], message: 'The conductor uses the storage interface (src/db/api.ts), never the SQL implementation.' },
    { group: ['**/rpc/amqp*', '**/rpc/in-process*', '**/cmd/**'], message: 'Only src/cmd wires concrete dependencies (transports included).' },
    { group: ['**/api/**'], message: 'The conductor never imports the REST API.' },
    { group: ['**/infra/docker/**', '**/drivers/docker-engine/**', '**/drivers/swarm-mode/**', '**/drivers/kubernetes/**', '**/drivers/fake/**'], message: 'The conductor reaches COEs and infrastructure only through the driver interfaces (src/drivers/driver.ts, workloads.ts; src/drivers/registry.ts picks the driver).' },
  ],
  paths: [
    { name: 'node:child_process', message: 'The conductor runs no CLI of its own (no docker, no kubectl): that is the drivers\' and providers\' (src/drivers/docker-engine/engine.ts).' },
    { name: 'child_process', message: 'The conductor runs no CLI of its own (no docker, no kubectl): that is the drivers\' and providers\' (src/drivers/docker-engine/engine.ts).' },
  ],
};
const cli = {
  patterns: [
    { group: ['**/db/**'], message: 'The coe client talks to the REST API only.' },
    { group: ['**/conductor/**', '**/drivers/**', '**/infra/**', '**/rpc/**', '**/cmd/**'], message: 'The coe client talks to the REST API only.' },
  ],
};

const dashboardApp = {
  patterns: [
    { group: ['node:*', 'fs', 'path', 'child_process'], message: 'The dashboard runs in the browser: no Node modules.' },
    { group: ['**/api/**', '**/cert/**', '**/cli/**', '**/cmd/**', '**/common/**', '**/conductor/**', '**/conf/**', '**/db/**', '**/drivers/**', '**/infra/**', '**/objects/**', '**/rpc/**'], message: 'The dashboard talks to the REST API only: it imports nothing of the server.' },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'var/**'] },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/**/*.test.ts'],
    languageOptions: { parser: tseslint.parser },
    linterOptions: { reportUnusedDisableDirectives: 'off' },
  },
  { files: ['src/api/**/*.ts'], ignores: ['src/**/*.test.ts'], rules: { 'no-restricted-imports': ['error', api] } },
  { files: ['src/drivers/**/*.ts', 'src/infra/**/*.ts'], ignores: ['src/**/*.test.ts'], rules: { 'no-restricted-imports': ['error', noDb] } },
  { files: ['src/conductor/**/*.ts'], ignores: ['src/**/*.test.ts'], rules: { 'no-restricted-imports': ['error', conductor] } },
  { files: ['src/cli/**/*.ts'], ignores: ['src/**/*.test.ts'], rules: { 'no-restricted-imports': ['error', cli] } },
  { files: ['src/dashboard/app/**/*.ts', 'src/dashboard/app/**/*.tsx'], languageOptions: { parser: tseslint.parser }, rules: { 'no-restricted-imports': ['error', dashboardApp] } },
);
