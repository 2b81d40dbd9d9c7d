#!/usr/bin/env bash
# Runs the all-in-one service (API + conductor, in-process RPC, SQLite file var/magnum.sqlite,
# noauth) on 127.0.0.1:9511, installing the npm dependencies first if they are missing.
# Extra arguments go to magnum-all-in-one (e.g. --config-file etc/magnum.conf).
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! cmp -s package-lock.json node_modules/.package-lock.json 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec bin/magnum-all-in-one "$@"
