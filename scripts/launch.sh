#!/usr/bin/env bash
# Runs src/cmd/<name>.ts: the compiled dist/ copy when it is up to date with src/ (npm run build),
# otherwise straight from the TypeScript source through tsx.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name="$1"; shift
stamp="$here/dist/.stamp"
if [ -f "$stamp" ] && [ -z "$(find "$here/src" -name '*.ts' -newer "$stamp" -print -quit)" ]; then
  exec node --enable-source-maps "$here/dist/src/cmd/$name.js" "$@"
fi
exec node --import "$here/node_modules/tsx/dist/esm/index.mjs" "$here/src/cmd/$name.ts" "$@"
