#!/usr/bin/env bash
# Runs src/cmd/<name>.ts: the compiled dist/ copy when it is up to date with src/ (npm run build),
# otherwise straight from the TypeScript source through tsx.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name="$1"; shift
# V8's heap sizing: the defaults for both services. A small new space for the conductor
# (--max-semi-space-size=2 --heap-growing-percent=50) saved it ~25 MB resident but made it miss
# 3-second lease renewals with 64 operations at once (test/acceptance/multi-process.test.ts
# failed 2 of 4 runs with the flags, 0 of 3 without), and the API pays CPU on large list pages.
v8=()
# MAGNUM_DIST=DIR runs another compiled tree (bench/api.ts and bench/scale.ts --built DIR).
if [ -n "${MAGNUM_DIST:-}" ]; then
  exec node "${v8[@]}" --enable-source-maps "$MAGNUM_DIST/src/cmd/$name.js" "$@"
fi
stamp="$here/dist/.stamp"
if [ -f "$stamp" ] && [ -z "$(find "$here/src" -name '*.ts' -newer "$stamp" -print -quit)" ]; then
  exec node "${v8[@]}" --enable-source-maps "$here/dist/src/cmd/$name.js" "$@"
fi
exec node "${v8[@]}" --import "$here/node_modules/tsx/dist/esm/index.mjs" "$here/src/cmd/$name.ts" "$@"
