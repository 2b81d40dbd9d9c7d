// Builds the dashboard (src/dashboard/app/, TSX + Preact) into var/dashboard/<hash>/ with esbuild,
// once per content: the hash covers every source file, package-lock.json and esbuild's version, so
// an API start after a change (or on a fresh clone) builds it again (about a second) and every
// other start reuses it. API workers that start together each build into a directory of their own
// and rename it into place: the first rename wins, the others drop theirs.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const APP_ENTRY = join('src', 'dashboard', 'app', 'main.tsx');
/** Builds of an older content are removed once this old (a running API may still serve one). */
const STALE_BUILD_MS = 60 * 60_000;

export class DashboardBuildError extends Error {}

/** The repository root: the nearest ancestor of this file holding the dashboard's sources (src/ or dist/src/). */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, APP_ENTRY)) && existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new DashboardBuildError(`the dashboard's sources (${APP_ENTRY}) are not in any parent directory of ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

async function loadEsbuild(): Promise<typeof import('esbuild')> {
  try {
    return await import('esbuild');
  } catch (err) {
    throw new DashboardBuildError(`esbuild is not installed (a devDependency: run npm ci without --omit=dev), so the dashboard cannot be built: ${(err as Error).message}`);
  }
}

function indexHtml(script: string, style: string | null): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="color-scheme" content="light dark">',
    '<title>Magnum dashboard</title>',
    '<link rel="icon" href="data:,">',
    style ? `<link rel="stylesheet" href="${style}">` : '',
    '</head>',
    '<body>',
    '<div id="app"><p class="boot">Loading the dashboard…</p></div>',
    `<script type="module" src="${script}"></script>`,
    '</body>',
    '</html>',
    '',
  ].filter((l) => l !== '').join('\n');
}

/**
 * The directory of the built dashboard (index.html and assets/), built first when missing or
 * stale. Throws DashboardBuildError with the reason when it cannot be built.
 */
export async function ensureDashboardBuilt(opts: { outRoot?: string } = {}): Promise<string> {
  const root = repositoryRoot();
  const appDir = join(root, 'src', 'dashboard', 'app');
  const esbuild = await loadEsbuild();
  const hash = createHash('sha256');
  hash.update(`esbuild ${esbuild.version}\n`);
  for (const f of [...filesUnder(appDir), join(root, 'package-lock.json')]) {
    hash.update(`${relative(root, f)}\n`);
    hash.update(readFileSync(f));
  }
  const key = hash.digest('hex').slice(0, 16);
  const outRoot = opts.outRoot ?? join(root, 'var', 'dashboard');
  const target = join(outRoot, key);
  if (existsSync(join(target, 'index.html'))) return target;

  mkdirSync(outRoot, { recursive: true });
  const tmp = join(outRoot, `.build-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const result = await esbuild.build({
      absWorkingDir: root,
      entryPoints: [join(appDir, 'main.tsx')],
      outdir: join(tmp, 'assets'),
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'browser',
      target: ['es2022'],
      jsx: 'automatic',
      jsxImportSource: 'preact',
      entryNames: '[name]-[hash]',
      chunkNames: 'chunk-[hash]',
      assetNames: '[name]-[hash]',
      minify: true,
      legalComments: 'none',
      metafile: true,
      logLevel: 'silent',
      define: { 'process.env.NODE_ENV': '"production"' },
    });
    const outputs = Object.entries(result.metafile.outputs);
    const entry = outputs.find(([, o]) => o.entryPoint?.endsWith('main.tsx'));
    if (!entry) throw new DashboardBuildError('esbuild produced no entry script');
    const asset = (file: string) => `assets/${relative(join(tmp, 'assets'), join(root, file))}`;
    const css = entry[1].cssBundle ? asset(entry[1].cssBundle) : null;
    writeFileSync(join(tmp, 'index.html'), indexHtml(asset(entry[0]), css));
    try {
      renameSync(tmp, target);
    } catch (err) {
      // Another process built the same content first: use its build.
      if (!existsSync(join(target, 'index.html'))) throw err;
    }
  } catch (err) {
    if (err instanceof DashboardBuildError) throw err;
    const errors = (err as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors;
    const detail = errors?.length ? errors.slice(0, 5).map((e) => `${e.location ? `${e.location.file}:${e.location.line}: ` : ''}${e.text}`).join('; ') : (err as Error).message;
    throw new DashboardBuildError(`the dashboard could not be built: ${detail}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  pruneOldBuilds(outRoot, key);
  return target;
}

function pruneOldBuilds(outRoot: string, keep: string): void {
  const now = Date.now();
  for (const name of readdirSync(outRoot)) {
    if (name === keep) continue;
    const p = join(outRoot, name);
    try {
      if (now - statSync(p).mtimeMs > STALE_BUILD_MS) rmSync(p, { recursive: true, force: true });
    } catch {
      // Removed meanwhile by another process.
    }
  }
}
