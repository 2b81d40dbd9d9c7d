#!/usr/bin/env bash
# The floor of bench/cluster-create.ts: the same three nodes (1 manager, 2 workers) brought up
# by a plain script of docker commands, the way a careful human would, with nothing of Magnum in
# the way (no API, no database, no ledger, no certificates).
#
#   bench/cluster-create-floor.sh [IMAGE]     (default magnum-node:bookworm)
#
# What it does, timed from the first docker command to `docker node ls` showing 3 Ready:
#   1. a bridge network (its own /24, picked by the engine's default address pools),
#   2. a named volume per node for /var/lib/docker,
#   3. three node containers in parallel with the flags of src/infra/docker/provider.ts
#      (NODE_FLAGS, the volume on /var/lib/docker, --cpus/--memory of flavor m1.small = 1 CPU,
#      1024 MB, --dns 127.0.0.1 like the acceptance templates, the manager publishing the engine
#      port on 127.0.0.1) running the node image's entrypoint (dockerd),
#   4. wait for each inner engine (`docker exec NODE docker version`, every 0.1 s),
#   5. `docker swarm init` on the manager, then `docker swarm join` of the two workers in turn,
#   6. wait until `docker node ls` on the manager shows 3 nodes, all Ready.
# Not done (Magnum does it, and it costs time there): TLS. Magnum makes a cluster CA, a client
# certificate and one server certificate per node (RSA keys), copies them into each node before
# it starts, and its engines serve the API on tcp://0.0.0.0:2376 with --tlsverify; here the inner
# engines listen on the unix socket only (an unauthenticated TCP engine API, even on 127.0.0.1,
# is not something a careful human publishes), so the published port has nothing behind it. Nor
# does the floor label Swarm nodes, read the engine version or record anything.
#
# Everything it creates is named bench-floor-<random>-* and labelled magnum.bench=<that id>;
# an EXIT trap removes it all (not timed). Prints `floor_ms=<milliseconds>`, then a line of phases.
set -Eeuo pipefail

IMAGE=${1:-magnum-node:bookworm}
ID="bench-floor-$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
NET="$ID-net"
NODES=("$ID-master-0" "$ID-worker-0" "$ID-worker-1")
LABEL="magnum.bench=$ID"
NODE_FLAGS=(
  --cap-add ALL --cap-drop SYS_RESOURCE
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined
  --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /tmp
)

cleanup() {
  local rc=$?
  set +e
  docker rm --force --volumes "${NODES[@]}" >/dev/null 2>&1
  for n in "${NODES[@]}"; do docker volume rm --force "$n-docker" >/dev/null 2>&1; done
  docker network rm "$NET" >/dev/null 2>&1
  # Anything else labelled for this run (there should be nothing).
  docker ps -aq --filter "label=$LABEL" | xargs -r docker rm --force --volumes >/dev/null 2>&1
  docker volume ls -q --filter "label=$LABEL" | xargs -r docker volume rm --force >/dev/null 2>&1
  docker network ls -q --filter "label=$LABEL" | xargs -r docker network rm >/dev/null 2>&1
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { date +%s%3N; }
fail() { echo "cluster-create-floor: $*" >&2; exit 1; }

t0=$(now_ms)

docker network create --driver bridge --label "$LABEL" "$NET" >/dev/null
t_net=$(now_ms)

start_node() {
  local name=$1 publish=()
  [[ $name == *-master-* ]] && publish=(-p 127.0.0.1::2376)
  docker volume create --label "$LABEL" "$name-docker" >/dev/null
  # (stderr kept for failures only: --dns 127.0.0.1 makes the CLI warn about localhost DNS)
  local out
  out=$(docker container create --name "$name" --hostname "$name" --network "$NET" \
    "${NODE_FLAGS[@]}" -v "$name-docker:/var/lib/docker" --label "$LABEL" \
    --cpus 1 --memory 1024m "${publish[@]}" --dns 127.0.0.1 \
    "$IMAGE" --host unix:///var/run/docker.sock 2>&1) || fail "creating $name: $out"
  docker container start "$name" >/dev/null
}
pids=()
for n in "${NODES[@]}"; do start_node "$n" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || fail "a node did not start"; done
t_nodes=$(now_ms)

wait_engine() {
  local name=$1 until=$(( $(now_ms) + 90000 ))
  until docker exec "$name" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; do
    (( $(now_ms) < until )) || fail "the engine of $name did not start within 90 s"
    sleep 0.1
  done
}
pids=()
for n in "${NODES[@]}"; do wait_engine "$n" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || exit 1; done
t_engines=$(now_ms)

addr() { docker inspect --format "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$1"; }
MASTER=${NODES[0]}
MASTER_IP=$(addr "$MASTER")
docker exec "$MASTER" docker swarm init --advertise-addr "$MASTER_IP" --listen-addr "$MASTER_IP:2377" >/dev/null
TOKEN=$(docker exec "$MASTER" docker swarm join-token -q worker)
for n in "${NODES[@]:1}"; do
  docker exec "$n" docker swarm join --token "$TOKEN" --advertise-addr "$(addr "$n")" "$MASTER_IP:2377" >/dev/null
done
t_swarm=$(now_ms)

until=$(( $(now_ms) + 60000 ))
while :; do
  ready=$(docker exec "$MASTER" docker node ls --format '{{.Status}}' 2>/dev/null | grep -c '^Ready$' || true)
  [ "$ready" = 3 ] && break
  (( $(now_ms) < until )) || fail "docker node ls shows $ready Ready nodes, not 3"
  sleep 0.1
done

t_end=$(now_ms)
echo "floor_ms=$(( t_end - t0 ))"
echo "phases: network $(( t_net - t0 )) ms, start nodes $(( t_nodes - t_net )) ms, wait for engines $(( t_engines - t_nodes )) ms, swarm init+joins $(( t_swarm - t_engines )) ms, until 3 Ready $(( t_end - t_swarm )) ms"
