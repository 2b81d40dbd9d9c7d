#!/usr/bin/env bash
# Runs the all-in-one service (API + conductor, in-process RPC, SQLite file var/magnum.sqlite,
# noauth) on 127.0.0.1:9511. First installs what it needs when missing: the npm dependencies, the
# Docker engine (started in the background) and the node image that real clusters run on.
# MAGNUM_SKIP_DOCKER=1 skips the Docker part (the API then runs, but cannot make clusters).
# Extra arguments go to magnum-all-in-one (e.g. --config-file etc/magnum.conf).
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# npm ci only when package-lock.json changed since the last install (its hash is kept beside it).
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.magnum-lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  echo "[setup] installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.magnum-lock-hash
fi
if [ "${MAGNUM_SKIP_DOCKER:-0}" != 1 ]; then
  scripts/setup-services.sh docker
  image=$(bin/magnum-node-image build)
  echo "node image: $image (use it as --image of a swarm-mode cluster template)"
fi
exec bin/magnum-all-in-one "$@"
