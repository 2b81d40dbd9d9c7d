#!/usr/bin/env bash
# Runs src/cmd/<name>.ts: the compiled dist/ copy when it is up to date with src/ (npm run build),
# otherwise straight from the TypeScript source through tsx.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name="$1"; shift
# V8's heap sizing, per service. The conductor's work is I/O-bound and allocates little per
# operation: a 2 MB semi-space (V8 grows it to 16 MB, i.e. 32 MB of new space, during start-up
# alone) and an old generation allowed to grow by half its live size before a full collection
# (V8's default allows up to 4x) keep it near 80-90 MB resident instead of 110-116 MB, with no
# measurable change in its CPU time per cluster create (bench/api). The API keeps V8's
# defaults: a small new space costs it CPU on large list pages (each allocates about 10 MB).
v8=()
[ "$name" = conductor ] && v8=(--max-semi-space-size=2 --heap-growing-percent=50)
# MAGNUM_DIST=DIR runs another compiled tree (bench/api.ts and bench/scale.ts --built DIR).
if [ -n "${MAGNUM_DIST:-}" ]; then
  exec node "${v8[@]}" --enable-source-maps "$MAGNUM_DIST/src/cmd/$name.js" "$@"
fi
stamp="$here/dist/.stamp"
if [ -f "$stamp" ] && [ -z "$(find "$here/src" -name '*.ts' -newer "$stamp" -print -quit)" ]; then
  exec node "${v8[@]}" --enable-source-maps "$here/dist/src/cmd/$name.js" "$@"
fi
exec node "${v8[@]}" --import "$here/node_modules/tsx/dist/esm/index.mjs" "$here/src/cmd/$name.ts" "$@"
