#!/usr/bin/env bash
# Runs the all-in-one service (API + conductor, in-process RPC, SQLite file var/magnum.sqlite,
# noauth) on 127.0.0.1:9511. First installs what it needs when missing: the npm dependencies, the
# Docker engine (started in the background) and the node image that real clusters run on; the
# Kubernetes node image is built in the background when missing (see below).
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
  # The Kubernetes node image takes about 15-30 min to build the first time (then seconds): it is
  # built beside the running service, so the API is up at once; until it is there, a kubernetes
  # template naming it is refused (ImageNotFound). MAGNUM_SKIP_KUBERNETES=1 skips it.
  if [ "${MAGNUM_SKIP_KUBERNETES:-0}" != 1 ]; then
    if docker image inspect magnum-kube-node:v1.34.4 >/dev/null 2>&1; then
      echo "kubernetes node image: magnum-kube-node:v1.34.4 (use it as --image of a kubernetes cluster template)"
    else
      mkdir -p var/log
      echo "kubernetes node image: building magnum-kube-node:v1.34.4 in the background (15-30 min the first time); progress: tail -f var/log/kube-node-image.log"
      nohup bin/magnum-node-image build --coe kubernetes > var/log/kube-node-image.log 2>&1 &
    fi
  fi
fi
exec bin/magnum-all-in-one "$@"
