#!/usr/bin/env bash
# The floor of a Kubernetes cluster create: 1 master + 2 workers from the Kubernetes node image
# (bin/magnum-node-image build --coe kubernetes), brought up by a plain script of openssl and
# docker commands, with nothing of Magnum in the way (no API, database, ledger or driver). It is
# what issue 10's benchmark compares the driver against, and the proof that the image works.
#
#   bench/kube-cluster-floor.sh [IMAGE]     (default magnum-kube-node:v1.34.4)
#
# Timed from the first docker command until every node is Ready and CoreDNS (a pod) is Running:
#   1. network      a bridge network with its own /24 (static node addresses: the node
#                   certificates name them), labelled
#   2. certificates openssl, RSA 2048: three CAs (cluster, etcd, front-proxy), the
#                   service-account key, the master's serving and client certificates (the
#                   controller-manager's in system:masters: it runs as Magnum's does, without a
#                   ServiceAccount per controller), one kubelet certificate per node
#                   (CN=system:node:NAME, SAN its IP)
#   3. containers   the three node containers at once (flags below; no --privileged), each with
#                   its own /etc/kubernetes bind-mounted read-only (pki/ and magnum-kube-node.env:
#                   role, name, address, pod CIDR, API URL); then the static pod-network routes
#                   between them (magnum-kube-node routes)
#   4. api          the master's kube-apiserver answers /readyz through 127.0.0.1:<published port>
#   5. coredns      the CoreDNS manifest applied (Deployment on the master, Service 10.254.0.10)
#   6. nodes Ready  all three Nodes Ready
#   7. pod Running  the CoreDNS pod Running and Ready
# Then, timed apart ("check"): the busybox workload image (bin/magnum-node-image workload) loaded
# into both workers (docker save | magnum-kube-node load-image), a web pod on one worker behind a
# ClusterIP Service, a client pod on the other: kubectl logs, kubectl exec, DNS of the Service
# name through CoreDNS, HTTP across nodes through the Service; the client pod deleted, and no
# zombie process left on its node.
#
# Uses the kubectl built for the image's kube_tag (bin/magnum-node-image kubectl-path), never
# another one. Everything it creates is named kube-floor-<random>-* and labelled
# magnum.bench=<that id>; an EXIT trap removes it (containers with their volumes, the network,
# the node containers' leftover cgroups, the certificates). Node containers get no CPU/memory
# limit unless FLOOR_CPUS / FLOOR_MEMORY are set (e.g. 1 and 2048m, to match a flavor).
# FLOOR_VERBOSE=1 prints the nodes' logs before the teardown (as a failure does).
# Prints `id=<id>`, `containers=<ids>`, `volumes=<names>`, `floor_ms=<ms>`, a line of steps, then
# `check: nodes_ready=3 pod=Running ...`; progress lines on stderr.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE=${1:-magnum-kube-node:v1.34.4}
WORKLOAD=${FLOOR_WORKLOAD:-magnum-test/busybox:latest}
ID="kube-floor-$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
NET="$ID-net"
LABEL="magnum.bench=$ID"
MASTER="$ID-master-0"
WORKERS=("$ID-worker-0" "$ID-worker-1")
NODES=("$MASTER" "${WORKERS[@]}")
CLUSTER_CIDR=10.100.0.0/16
SERVICE_CIDR=10.254.0.0/16
DIR=$(mktemp -d "/tmp/$ID.XXXXXX")
NODE_FLAGS=(
  --cap-add ALL --cap-drop SYS_RESOURCE
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined
  --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /tmp --device /dev/kmsg
)
[ -d /lib/modules ] && NODE_FLAGS+=(-v /lib/modules:/lib/modules:ro)
[ -n "${FLOOR_CPUS:-}" ] && NODE_FLAGS+=(--cpus "$FLOOR_CPUS")
[ -n "${FLOOR_MEMORY:-}" ] && NODE_FLAGS+=(--memory "$FLOOR_MEMORY")

now_ms() { date +%s%3N; }
T0=$(now_ms)
say() { printf '[%7.2fs] %s\n' "$(( $(now_ms) - T0 ))e-3" "$*" >&2; }
fail() { say "kube-cluster-floor: $*"; exit 1; }

cleanup() {
  local rc=$? ids id d i
  set +e
  if { [ "$rc" != 0 ] || [ -n "${FLOOR_VERBOSE:-}" ]; } && [ -n "${MASTER_UP:-}" ]; then
    for n in "${NODES[@]}"; do
      say "--- $n: docker logs (tail)"; docker logs --tail 25 "$n" 2>&1 | sed 's/^/    /' >&2
    done
    say "--- events"
    K get events -A -o custom-columns=TIME:.metadata.creationTimestamp,NS:.metadata.namespace,OBJ:.involvedObject.name,REASON:.reason,MSG:.message \
      --sort-by=.metadata.creationTimestamp 2>&1 | cut -c1-160 | sed 's/^/    /' >&2
    say "--- $MASTER: kube-apiserver.log (tail)"
    docker exec "$MASTER" tail -n 10 /var/log/magnum-kube/kube-apiserver.log 2>&1 | sed 's/^/    /' >&2
  fi
  ids=$(docker ps -aq --no-trunc --filter "label=$LABEL")
  [ -z "$ids" ] || docker rm --force --volumes $ids >/dev/null 2>&1
  # cgroup v1, --cgroupns host: the kubelets' pod cgroups under /docker/<id> can outlive the
  # container for a moment (EBUSY while the last processes are reaped).
  for i in $(seq 1 25); do
    local left=0
    for id in $ids; do
      for d in /sys/fs/cgroup/*/docker/"$id"; do
        [ -d "$d" ] || continue
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
        [ -d "$d" ] && left=1
      done
    done
    [ "$left" = 0 ] && break
    sleep 0.2
  done
  docker network ls -q --filter "label=$LABEL" | xargs -r docker network rm >/dev/null 2>&1
  docker volume ls -q --filter "label=$LABEL" | xargs -r docker volume rm --force >/dev/null 2>&1
  rm -rf "$DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v openssl >/dev/null || fail "openssl is missing"
docker image inspect "$IMAGE" >/dev/null 2>&1 || fail "no image $IMAGE (bin/magnum-node-image build --coe kubernetes)"
KUBE_TAG=$(docker image inspect --format '{{index .Config.Labels "kube_tag"}}' "$IMAGE")
[ -n "$KUBE_TAG" ] || fail "$IMAGE has no kube_tag label: not a Kubernetes node image"
KUBECTL=$("$ROOT/bin/magnum-node-image" kubectl-path --kube-tag "$KUBE_TAG") || fail "no kubectl built for $KUBE_TAG"
docker image inspect "$WORKLOAD" >/dev/null 2>&1 || fail "no workload image $WORKLOAD (bin/magnum-node-image workload)"
K() { "$KUBECTL" --kubeconfig "$DIR/admin.kubeconfig" --request-timeout=10s "$@"; }
echo "id=$ID"
T0=$(now_ms)

# ---- 1. network ------------------------------------------------------------------------------------
# A /24 of 172.29.0.0/16 that no other Docker network uses (the engine refuses overlaps).
for try in $(seq 1 40); do
  SUBNET_PREFIX="172.29.$(( $(od -An -tu2 -N2 /dev/urandom) % 256 ))"
  docker network create --driver bridge --subnet "$SUBNET_PREFIX.0/24" --label "$LABEL" "$NET" >/dev/null 2>&1 && break
  SUBNET_PREFIX=
done
[ -n "$SUBNET_PREFIX" ] || fail "no free /24 in 172.29.0.0/16 for the network"
declare -A IP=([$MASTER]="$SUBNET_PREFIX.10" [${WORKERS[0]}]="$SUBNET_PREFIX.20" [${WORKERS[1]}]="$SUBNET_PREFIX.21")
declare -A POD_CIDR=([$MASTER]=10.100.0.0/24 [${WORKERS[0]}]=10.100.1.0/24 [${WORKERS[1]}]=10.100.2.0/24)
t_net=$(now_ms)
say "network $NET $SUBNET_PREFIX.0/24"

# ---- 2. certificates ---------------------------------------------------------------------------------
P=$DIR/pki
mkdir -p "$P/etcd"
ca() { # FILE CN
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$P/$1.key" -out "$P/$1.crt" -days 3650 -subj "/CN=$2" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
leaf() { # FILE CA SUBJECT EKU [SAN]
  openssl req -new -newkey rsa:2048 -nodes -keyout "$P/$1.key" -out "$P/$1.csr" -subj "$3" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"; echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$4"; [ -z "${5:-}" ] || echo "subjectAltName=$5"
  } >"$P/$1.ext"
  openssl x509 -req -in "$P/$1.csr" -CA "$P/$2.crt" -CAkey "$P/$2.key" -set_serial "0x$(openssl rand -hex 16)" -days 3650 \
    -extfile "$P/$1.ext" -out "$P/$1.crt" 2>/dev/null
  rm -f "$P/$1.csr" "$P/$1.ext"
}
ca ca kubernetes & ca etcd/ca etcd-ca & ca front-proxy-ca front-proxy-ca &
openssl genrsa -out "$P/sa.key" 2048 2>/dev/null && openssl rsa -in "$P/sa.key" -pubout -out "$P/sa.pub" 2>/dev/null &
wait
M=${IP[$MASTER]}
pids=()
leaf apiserver ca "/CN=kube-apiserver" serverAuth \
  "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:10.254.0.1,IP:$M" & pids+=($!)
leaf apiserver-kubelet-client ca "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth & pids+=($!)
leaf apiserver-etcd-client etcd/ca "/CN=kube-apiserver-etcd-client" clientAuth & pids+=($!)
leaf etcd/server etcd/ca "/CN=$MASTER" serverAuth,clientAuth "DNS:$MASTER,DNS:localhost,IP:127.0.0.1,IP:$M" & pids+=($!)
leaf front-proxy-client front-proxy-ca "/CN=front-proxy-client" clientAuth & pids+=($!)
leaf controller-manager ca "/O=system:masters/CN=system:kube-controller-manager" clientAuth & pids+=($!)
leaf scheduler ca "/CN=system:kube-scheduler" clientAuth & pids+=($!)
leaf admin ca "/O=system:masters/CN=admin" clientAuth & pids+=($!)
leaf kube-proxy ca "/CN=system:kube-proxy" clientAuth & pids+=($!)
for n in "${NODES[@]}"; do
  leaf "kubelet-$n" ca "/O=system:nodes/CN=system:node:$n" serverAuth,clientAuth "DNS:$n,IP:${IP[$n]}" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "openssl failed"; done
# One directory per node, with only what that node needs.
for n in "${NODES[@]}"; do
  d=$DIR/nodes/$n/pki
  mkdir -p "$d"
  cp "$P/ca.crt" "$P/kube-proxy.crt" "$P/kube-proxy.key" "$d/"
  cp "$P/kubelet-$n.crt" "$d/kubelet.crt"; cp "$P/kubelet-$n.key" "$d/kubelet.key"
  role=worker; [ "$n" = "$MASTER" ] && role=master
  # The node's settings (magnum-kube-node reads this file for what docker run -e does not set).
  cat >"$DIR/nodes/$n/magnum-kube-node.env" <<EOF
NODE_ROLE=$role
NODE_NAME=$n
NODE_IP=${IP[$n]}
POD_CIDR=${POD_CIDR[$n]}
CLUSTER_CIDR=$CLUSTER_CIDR
SERVICE_CIDR=$SERVICE_CIDR
API_SERVER=https://$M:6443
EOF
done
d=$DIR/nodes/$MASTER/pki
cp -r "$P/etcd" "$d/"; rm -f "$d/etcd/ca.key"
for f in ca.key sa.key sa.pub front-proxy-ca.crt apiserver apiserver-kubelet-client apiserver-etcd-client \
         front-proxy-client controller-manager scheduler admin; do
  case "$f" in *.*) cp "$P/$f" "$d/" ;; *) cp "$P/$f.crt" "$P/$f.key" "$d/" ;; esac
done
chmod -R go-rwx "$DIR/nodes"
t_pki=$(now_ms)
say "certificates (3 CAs, service-account key, $(( 9 + ${#NODES[@]} )) certificates)"

# ---- 3. containers -----------------------------------------------------------------------------------
run_node() { # NAME
  local n=$1 extra=()
  [ "$n" = "$MASTER" ] && extra=(-p 127.0.0.1::6443)
  docker run -d --name "$n" --hostname "$n" --network "$NET" --ip "${IP[$n]}" --label "$LABEL" \
    "${NODE_FLAGS[@]}" "${extra[@]}" -v "$DIR/nodes/$n:/etc/kubernetes:ro" "$IMAGE" >/dev/null
}
pids=()
for n in "${NODES[@]}"; do run_node "$n" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || fail "a node container did not start"; done
MASTER_UP=1
CIDS=$(docker ps -q --no-trunc --filter "label=$LABEL")
echo "containers=$(echo $CIDS)"
# The image's VOLUME (/var/lib/magnum-kube): an anonymous volume per node, removed with it.
echo "volumes=$(echo $(docker inspect -f '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}' $CIDS))"
pids=()
for n in "${NODES[@]}"; do
  routes=()
  for o in "${NODES[@]}"; do [ "$o" = "$n" ] || routes+=("${POD_CIDR[$o]}=${IP[$o]}"); done
  docker exec "$n" magnum-kube-node routes "${routes[@]}" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "setting the pod routes failed"; done
PORT=$(docker port "$MASTER" 6443/tcp | head -n1 | sed 's/.*://')
cat >"$DIR/admin.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $ID
  cluster: {server: "https://127.0.0.1:$PORT", certificate-authority-data: $(base64 -w0 <"$P/ca.crt")}
users:
- name: admin
  user: {client-certificate-data: $(base64 -w0 <"$P/admin.crt"), client-key-data: $(base64 -w0 <"$P/admin.key")}
contexts:
- name: $ID
  context: {cluster: $ID, user: admin}
current-context: $ID
EOF
t_run=$(now_ms)
say "3 node containers started, pod routes set (API on 127.0.0.1:$PORT)"

# ---- 4. api --------------------------------------------------------------------------------------------
wait_for() { # WHAT SECONDS CMD...
  local what=$1 until=$(( $(now_ms) + $2 * 1000 ))
  shift 2
  until "$@" >/dev/null 2>&1; do
    (( $(now_ms) < until )) || fail "timed out waiting for $what"
    sleep 0.2
  done
}
wait_for "kube-apiserver /readyz" 120 K get --raw /readyz
t_api=$(now_ms)
say "kube-apiserver ready"

# ---- 5. coredns ---------------------------------------------------------------------------------------
COREDNS_IMAGE=$(docker image inspect --format '{{index .Config.Labels "magnum.kube.coredns-image"}}' "$IMAGE")
K apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- {apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:53 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
        }
        cache 30
        loop
        reload
        loadbalance
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      priorityClassName: system-cluster-critical
      dnsPolicy: Default
      nodeSelector: {magnum.openstack.org/role: master}
      tolerations:
      - {key: node-role.kubernetes.io/master, effect: NoSchedule}
      - {key: node-role.kubernetes.io/control-plane, effect: NoSchedule}
      - {key: CriticalAddonsOnly, operator: Exists}
      containers:
      - name: coredns
        image: $COREDNS_IMAGE
        imagePullPolicy: Never
        args: ["-conf", "/etc/coredns/Corefile"]
        ports: [{containerPort: 53, protocol: UDP, name: dns}, {containerPort: 53, protocol: TCP, name: dns-tcp}]
        readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 1}
        volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: 10.254.0.10
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
EOF
t_dns_applied=$(now_ms)
say "CoreDNS applied"

# ---- 6. nodes Ready -----------------------------------------------------------------------------------
ready_count() {
  K get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$'
}
all_ready() { [ "$(ready_count 2>/dev/null)" = "${#NODES[@]}" ]; }
wait_for "${#NODES[@]} Ready nodes" 180 all_ready
t_ready=$(now_ms)
say "${#NODES[@]} nodes Ready"

# ---- 7. a pod Running ----------------------------------------------------------------------------------
coredns_ready() {
  [ "$(K -n kube-system get pods -l k8s-app=kube-dns -o jsonpath='{.items[0].status.conditions[?(@.type=="Ready")].status}')" = True ]
}
wait_for "the CoreDNS pod Running and Ready" 120 coredns_ready
t_end=$(now_ms)
say "CoreDNS pod Running and Ready"

echo "floor_ms=$(( t_end - T0 ))"
echo "steps: network $(( t_net - T0 )) ms, certificates $(( t_pki - t_net )) ms, start containers+routes $(( t_run - t_pki )) ms, api ready $(( t_api - t_run )) ms, coredns applied $(( t_dns_applied - t_api )) ms, ${#NODES[@]} nodes Ready $(( t_ready - t_dns_applied )) ms, coredns Running $(( t_end - t_ready )) ms"

# ---- check (not in floor_ms) -------------------------------------------------------------------------
c0=$(now_ms)
pids=()
for w in "${WORKERS[@]}"; do
  ( docker save "$WORKLOAD" | docker exec -i "$w" magnum-kube-node load-image >/dev/null ) & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "loading $WORKLOAD into a worker failed"; done
c_load=$(now_ms)
K apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  nodeName: ${WORKERS[1]}
  containers:
  - {name: web, image: $WORKLOAD, imagePullPolicy: Never, command: ["httpd", "-f", "-p", "8080", "-h", "/www"]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeName: ${WORKERS[0]}
  containers:
  - {name: client, image: $WORKLOAD, imagePullPolicy: Never, command: ["sh", "-c", "echo hello from \$(hostname); exec sleep 3600"]}
EOF
K wait --for=condition=Ready pod/web pod/client --timeout=90s >/dev/null || fail "the check pods did not become Ready"
pod=$(K get pod client -o jsonpath='{.status.phase}')
c_pods=$(now_ms)
logs=fail; K logs client 2>/dev/null | grep -q '^hello from client$' && logs=ok
exec_=fail; [ "$(K exec client -- sh -c 'echo exec-ok')" = exec-ok ] && exec_=ok
dns=fail
web_ip=$(K get svc web -o jsonpath='{.spec.clusterIP}')
for i in $(seq 1 20); do
  if K exec client -- nslookup web.default.svc.cluster.local 2>/dev/null | grep -q "$web_ip"; then dns=ok; break; fi
  sleep 0.5
done
http=fail
for i in $(seq 1 20); do
  if K exec client -- sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 web 80" 2>/dev/null | grep -q 'magnum-test workload'; then http=ok; break; fi
  sleep 0.5
done
# tini (the image's PID 1, a subreaper) reaps the shims of deleted pods: no zombies are left.
K delete pod client --grace-period=1 --wait=true >/dev/null
sleep 1
zombies=$(docker exec "${WORKERS[0]}" ps -eo stat= | grep -c '^Z' || true)
c_end=$(now_ms)
echo "check: nodes_ready=$(ready_count) pod=$pod logs=$logs exec=$exec_ dns=$dns service_http=$http zombies=$zombies" \
  "(load image $(( c_load - c0 )) ms, pods Ready $(( c_pods - c_load )) ms, checks $(( c_end - c_pods )) ms)"
[ "$logs$exec_$dns$http$zombies" = okokokok0 ] || fail "a check failed"
