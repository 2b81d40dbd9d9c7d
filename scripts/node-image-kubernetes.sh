# shellcheck shell=bash
# The Kubernetes part of scripts/node-image.sh (sourced by it; not run on its own).
#
# `build --coe kubernetes [--kube-tag TAG] [--name NAME] [--os-distro D] [--label K=V]... [--rebuild]`
# assembles, each stage cached under $CACHE_ROOT (outside the repository) and keyed by its
# version and a hash of its inputs:
#   1. the Kubernetes binaries of TAG (kube-apiserver, kube-controller-manager, kube-scheduler,
#      kubelet, kube-proxy, kubectl), built from the Go module proxy through a wrapper module:
#      k8s.io/kubernetes@TAG with one `replace k8s.io/X => k8s.io/X v0.MINOR.PATCH` per staging
#      module of the tag's own go.mod (CGO_ENABLED=0, -trimpath, -s -w, version -X flags);
#      15-30 min cold on 2 cores (by the machine's load), seconds once cached (GOPATH/GOCACHE
#      live in the cache too)
#   2. CoreDNS ($KUBE_COREDNS_VERSION, `go install`, about 5 min cold)
#   3. a pause binary (a few lines of Go, static)
#   4. a Debian root file system (debootstrap) with containerd, runc, the CNI plugins, etcd,
#      iptables, conntrack, tini
#   5. the node image NAME (default magnum-kube-node:TAG): all of it in one `docker import`,
#      the pause and CoreDNS images as `docker save` archives in /opt/magnum-kube/images
#      (imported into the node's containerd at start), ENTRYPOINT tini -> magnum-kube-node
#      (scripts/kube-node/magnum-kube-node), labels os_distro, kube_tag, coredns_tag,
#      magnum.node-image=1, magnum.node-image.coe=kubernetes, magnum.node-image.key=<hash>.
# An image NAME whose key label matches the inputs is reported at once; a different key (another
# entrypoint, recipe, Go or package list) rebuilds only what changed.

KUBE_DEFAULT_TAG=v1.34.4
KUBE_COREDNS_VERSION=${MAGNUM_KUBE_COREDNS_VERSION:-v1.14.7}
KUBE_PAUSE_TAG=3.10
KUBE_COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
# Packages of the Kubernetes node root file system (debootstrap --include, minbase):
#   containerd runc containernetworking-plugins   the CRI runtime and the CNI plugins (/usr/lib/cni)
#   etcd-server etcd-client   etcd 3.4 and etcdctl (masters)
#   iptables conntrack   kube-proxy (iptables mode), the pod masquerade rule
#   iproute2 procps kmod netbase util-linux mount   ip, ps, modprobe, /etc/services, nsenter, mount
#   tini   PID 1: reaps the shims containerd leaves behind
#   iputils-ping   for people debugging a node
KUBE_NODE_PACKAGES=containerd,runc,containernetworking-plugins,etcd-server,etcd-client,iptables,conntrack,iproute2,procps,kmod,netbase,util-linux,mount,tini,iputils-ping
# Bump when a recipe below changes (a new cache key for that stage).
KUBE_BIN_FLAVOUR=1
KUBE_COREDNS_FLAVOUR=1
KUBE_PAUSE_FLAVOUR=1
KUBE_ROOTFS_FLAVOUR=1

KUBE_CACHE="$CACHE_ROOT/kubernetes"
KUBE_ENTRYPOINT="$ROOT/scripts/kube-node/magnum-kube-node"

kube_check_tag() {
  [[ $1 =~ ^v1\.[0-9]+\.[0-9]+(-(alpha|beta|rc)\.[0-9]+)?$ ]] ||
    die "--kube-tag '$1' is not a Kubernetes release tag (vMAJOR.MINOR.PATCH, e.g. $KUBE_DEFAULT_TAG)"
}

# The Go toolchain and its caches (all under $CACHE_ROOT; nothing under the repository or ~/go).
kube_go_env() {
  if ! command -v go >/dev/null; then
    [ -x /usr/local/go/bin/go ] && PATH="$PATH:/usr/local/go/bin"
  fi
  command -v go >/dev/null || die "no Go toolchain on PATH (Kubernetes $1 needs Go >= 1.24 to build)"
  export GOPATH="$CACHE_ROOT/go" GOMODCACHE="$CACHE_ROOT/go/pkg/mod" GOCACHE="$CACHE_ROOT/go-build"
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
  GO_VERSION=$(go env GOVERSION)
  mkdir -p "$GOMODCACHE" "$GOCACHE" "$KUBE_CACHE"
}

hash12() { sha256sum | cut -c1-12; }

kube_bin_key() { # TAG
  printf 'tag=%s\ngo=%s\narch=%s\ncmds=%s\nflavour=%s\n' "$1" "$GO_VERSION" "$(go env GOARCH)" \
    "${KUBE_COMMANDS[*]}" "$KUBE_BIN_FLAVOUR" | hash12
}
kube_coredns_key() {
  printf 'coredns=%s\ngo=%s\narch=%s\nflavour=%s\n' "$KUBE_COREDNS_VERSION" "$GO_VERSION" "$(go env GOARCH)" \
    "$KUBE_COREDNS_FLAVOUR" | hash12
}
kube_pause_key() {
  { kube_pause_source; printf 'go=%s\nflavour=%s\n' "$GO_VERSION" "$KUBE_PAUSE_FLAVOUR"; } | hash12
}
kube_rootfs_key() {
  printf 'suite=%s\npackages=%s\nflavour=%s\narch=%s\n' "$SUITE" "$KUBE_NODE_PACKAGES" "$KUBE_ROOTFS_FLAVOUR" \
    "$(dpkg --print-architecture)" | hash12
}
# The node image's key: every input above plus the entrypoint and this file (the image recipe;
# an image costs only a docker import, so any edit here may rebuild it).
kube_image_key() { # TAG OS_DISTRO
  { printf 'bin=%s\ncoredns=%s\npause=%s\nrootfs=%s\nos_distro=%s\n' "$(kube_bin_key "$1")" \
      "$(kube_coredns_key)" "$(kube_pause_key)" "$(kube_rootfs_key)" "$2"
    cat "$KUBE_ENTRYPOINT" "${BASH_SOURCE[0]}"; } | hash12
}

# ---- 1. the Kubernetes binaries ------------------------------------------------------------
# kube_binaries TAG: sets KUBE_BIN_DIR to the cached directory of the six binaries.
kube_binaries() {
  local tag=$1 key dir tmp gomod sv gover godebug bd ldf p minor t0 c
  key=$(kube_bin_key "$tag")
  dir="$KUBE_CACHE/bin-$tag-$key"
  KUBE_BIN_DIR="$dir/bin"
  if [ -f "$dir/.complete" ]; then
    stage "kubernetes $tag binaries: cached in $dir"
    return 0
  fi
  tmp="$dir.tmp"
  rm -rf "$tmp"; mkdir -p "$tmp/bin"; CLEANUP+=("$tmp")
  stage "kubernetes $tag binaries: not cached; fetching k8s.io/kubernetes@$tag from the Go module proxy"
  t0=$(now_ms)
  gomod=$(cd "$tmp" && go mod download -json "k8s.io/kubernetes@$tag" 2>>"$LOG" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p') || true
  [ -n "$gomod" ] && [ -r "$gomod" ] || die "go mod download k8s.io/kubernetes@$tag failed (is $tag on the proxy?)"
  # The staging modules (k8s.io/api, client-go, ...) are published as v0.MINOR.PATCH.
  sv="v0.${tag#v1.}"
  gover=$(awk '$1 == "go" { print $2; exit }' "$gomod")
  # The tool directive needs go >= 1.24 in the wrapper's go.mod.
  if [ "$(printf '%s\n1.24\n' "$gover" | sort -V | head -n1)" != 1.24 ]; then gover=1.24; fi
  godebug=$(grep -E '^godebug ' "$gomod" || true)
  {
    printf 'module local/magnum-kube-build\n\ngo %s\n' "$gover"
    [ -z "$godebug" ] || printf '\n%s\n' "$godebug"
    printf '\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$tag"
    grep -E '=>[[:space:]]*\./staging/src/' "$gomod" | awk -v sv="$sv" '{ print "\t" $1 " => " $1 " " sv }'
    printf ')\n\ntool (\n'
    for c in "${KUBE_COMMANDS[@]}"; do printf '\tk8s.io/kubernetes/cmd/%s\n' "$c"; done
    printf ')\n'
  } >"$tmp/go.mod"
  stage "kubernetes $tag binaries: go mod tidy ($(grep -c '=> ' "$tmp/go.mod") replaces)"
  (cd "$tmp" && with_ticker "go mod tidy" run nice -n 10 go mod tidy) || die "go mod tidy of the wrapper module failed"
  bd=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  minor=$(echo "$tag" | cut -d. -f2)
  ldf="-s -w"
  for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ldf="$ldf -X $p.gitVersion=$tag -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=$bd"
  done
  stage "kubernetes $tag binaries: go build of ${KUBE_COMMANDS[*]} (15-30 min cold on 2 cores; log: ${LOG#"$ROOT"/})"
  local pkgs=()
  for c in "${KUBE_COMMANDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  (cd "$tmp" && with_ticker "the kubernetes binaries" run nice -n 10 go build -trimpath -ldflags "$ldf" -o "$tmp/bin/" "${pkgs[@]}") ||
    die "go build of the kubernetes binaries failed"
  for c in "${KUBE_COMMANDS[@]}"; do [ -x "$tmp/bin/$c" ] || die "go build made no $c"; done
  "$tmp/bin/kubectl" version --client 2>/dev/null | grep -q "Client Version: $tag" ||
    die "the built kubectl does not report $tag"
  printf 'tag=%s\ngo=%s\nbuilt=%s\nseconds=%s\n' "$tag" "$GO_VERSION" "$bd" "$(( ($(now_ms) - t0) / 1000 ))" >"$tmp/.complete"
  rm -rf "$dir"; mv "$tmp" "$dir"
  # Other builds of this tag (older keys) are of no further use.
  find "$KUBE_CACHE" -maxdepth 1 -name "bin-$tag-*" ! -name "bin-$tag-$key" -exec rm -rf {} +
  stage "kubernetes $tag binaries: built in $(since "$t0") ($(du -sh "$KUBE_BIN_DIR" | cut -f1))"
}

# ---- 2. CoreDNS -----------------------------------------------------------------------------
kube_coredns() { # sets KUBE_COREDNS_BIN
  local key dir tmp t0
  key=$(kube_coredns_key)
  dir="$KUBE_CACHE/coredns-$KUBE_COREDNS_VERSION-$key"
  KUBE_COREDNS_BIN="$dir/coredns"
  if [ -f "$dir/.complete" ]; then stage "coredns $KUBE_COREDNS_VERSION: cached"; return 0; fi
  tmp="$dir.tmp"; rm -rf "$tmp"; mkdir -p "$tmp"; CLEANUP+=("$tmp")
  stage "coredns $KUBE_COREDNS_VERSION: go install (about 5 min cold)"
  t0=$(now_ms)
  (cd "$tmp" && GOBIN="$tmp" with_ticker "coredns" run nice -n 10 go install -trimpath -ldflags "-s -w" \
    "github.com/coredns/coredns@$KUBE_COREDNS_VERSION") || die "go install coredns@$KUBE_COREDNS_VERSION failed"
  "$tmp/coredns" -version >>"$LOG" 2>&1 || die "the built coredns does not run"
  : >"$tmp/.complete"
  rm -rf "$dir"; mv "$tmp" "$dir"
  find "$KUBE_CACHE" -maxdepth 1 -name "coredns-*" ! -name "coredns-$KUBE_COREDNS_VERSION-$key" -exec rm -rf {} +
  stage "coredns $KUBE_COREDNS_VERSION: built in $(since "$t0")"
}

# ---- 3. pause -------------------------------------------------------------------------------
# The pod sandbox's one process: sleeps until SIGINT/SIGTERM (then exits 0), reaping children.
kube_pause_source() {
  cat <<'EOF'
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
EOF
}

kube_pause() { # sets KUBE_PAUSE_BIN
  local key dir tmp
  key=$(kube_pause_key)
  dir="$KUBE_CACHE/pause-$key"
  KUBE_PAUSE_BIN="$dir/pause"
  if [ -f "$dir/.complete" ]; then stage "pause: cached"; return 0; fi
  tmp="$dir.tmp"; rm -rf "$tmp"; mkdir -p "$tmp"; CLEANUP+=("$tmp")
  kube_pause_source >"$tmp/main.go"
  printf 'module local/pause\n\ngo 1.22\n' >"$tmp/go.mod"
  (cd "$tmp" && run go build -trimpath -ldflags "-s -w" -o pause .) || die "go build of pause failed"
  : >"$tmp/.complete"
  rm -rf "$dir"; mv "$tmp" "$dir"
  find "$KUBE_CACHE" -maxdepth 1 -name "pause-*" ! -name "pause-$key" -exec rm -rf {} +
  stage "pause: built"
}

# ---- 4. the root file system ----------------------------------------------------------------
kube_rootfs() { # sets KUBE_ROOTFS_TAR
  local key
  key=$(kube_rootfs_key)
  KUBE_ROOTFS_TAR="$KUBE_CACHE/rootfs-$SUITE-$key.tar"
  if [ -s "$KUBE_ROOTFS_TAR" ]; then stage "root file system: cached"; return 0; fi
  stage "root file system: debootstrap $SUITE (a few minutes)"
  with_ticker "the root file system" make_rootfs "$KUBE_ROOTFS_TAR" "$KUBE_NODE_PACKAGES"
  find "$KUBE_CACHE" -maxdepth 1 -name "rootfs-$SUITE-*.tar" ! -name "$(basename "$KUBE_ROOTFS_TAR")" -delete
  stage "root file system: ready"
}

# ---- 5. images ------------------------------------------------------------------------------
# kube_single_file_image NAME FILE PATH_IN_IMAGE [docker import -c ...]: a FROM-scratch image of one
# static binary (pause, coredns), made unless it exists with the same content.
kube_single_file_image() {
  local name=$1 file=$2 path=$3 sum dir
  shift 3
  sum=$(sha256sum "$file" | cut -c1-12)
  if [ "$(image_label "$name" magnum.kube.content)" = "$sum" ]; then return 0; fi
  dir=$(mktemp -d "$KUBE_CACHE/img.XXXXXX"); CLEANUP+=("$dir")
  mkdir -p "$dir/$(dirname "$path")"
  install -m 0755 "$file" "$dir/$path"
  tar -C "$dir" --numeric-owner --owner=0 --group=0 -c . |
    docker import "$@" -c "LABEL magnum.kube.content=\"$sum\"" -c 'LABEL magnum.kube.image="1"' - "$name" >>"$LOG" 2>&1 ||
    die "docker import of $name failed"
  rm -rf "$dir"
}

kube_image() { # NAME TAG OS_DISTRO IMAGE_KEY [K=V...]
  local name=$1 tag=$2 os_distro=$3 key=$4 extra t0 c id kv changes=() old
  shift 4
  for kv in "$@"; do changes+=(-c "LABEL ${kv%%=*}=\"${kv#*=}\""); done
  local pause_img="magnum-kube/pause:$KUBE_PAUSE_TAG" coredns_img="magnum-kube/coredns:${KUBE_COREDNS_VERSION#v}"
  t0=$(now_ms)
  kube_single_file_image "$pause_img" "$KUBE_PAUSE_BIN" /pause -c 'ENTRYPOINT ["/pause"]' -c 'USER 65535:65535'
  kube_single_file_image "$coredns_img" "$KUBE_COREDNS_BIN" /coredns -c 'ENTRYPOINT ["/coredns"]'
  extra=$(mktemp -d "$KUBE_CACHE/extra.XXXXXX"); CLEANUP+=("$extra")
  mkdir -p "$extra/usr/local/bin" "$extra/opt/magnum-kube/images" "$extra/etc"
  for c in "${KUBE_COMMANDS[@]}"; do ln "$KUBE_BIN_DIR/$c" "$extra/usr/local/bin/$c" 2>/dev/null || cp "$KUBE_BIN_DIR/$c" "$extra/usr/local/bin/$c"; done
  install -m 0755 "$KUBE_ENTRYPOINT" "$extra/usr/local/bin/magnum-kube-node"
  docker save -o "$extra/opt/magnum-kube/images/pause.tar" "$pause_img" || die "docker save $pause_img failed"
  docker save -o "$extra/opt/magnum-kube/images/coredns.tar" "$coredns_img" || die "docker save $coredns_img failed"
  printf 'name=%s\nos_distro=%s\nkube_tag=%s\ncoredns=%s\npause_image=docker.io/%s\ncoredns_image=docker.io/%s\nsuite=%s\nkey=%s\nbuilt=%s\n' \
    "$name" "$os_distro" "$tag" "$KUBE_COREDNS_VERSION" "$pause_img" "$coredns_img" "$SUITE" "$key" "$(date -u +%FT%TZ)" \
    >"$extra/etc/magnum-node-image"
  stage "node image $name: docker import (rootfs + binaries + images)"
  tar_ends_cleanly "$KUBE_ROOTFS_TAR" || die "$KUBE_ROOTFS_TAR is damaged: remove it and build again"
  old=$(docker image inspect --format '{{.Id}}' "$name" 2>/dev/null || true)
  # Only entries the root file system lacks: the engine refuses duplicate paths (./usr/local/bin).
  local members=()
  for c in "${KUBE_COMMANDS[@]}" magnum-kube-node; do members+=("./usr/local/bin/$c"); done
  members+=(./opt/magnum-kube ./etc/magnum-node-image)
  id=$( { head -c -1024 "$KUBE_ROOTFS_TAR"
          tar -C "$extra" --numeric-owner --owner=0 --group=0 -b 1 -c "${members[@]}"; } |
    docker import \
      -c 'ENTRYPOINT ["/usr/bin/tini", "-s", "-g", "--", "/usr/local/bin/magnum-kube-node"]' \
      -c 'CMD ["run"]' \
      -c 'VOLUME ["/var/lib/magnum-kube"]' \
      -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      -c "ENV MAGNUM_NODE_IMAGE=$name" \
      -c "LABEL os_distro=\"$os_distro\"" \
      -c "LABEL kube_tag=\"$tag\"" \
      -c "LABEL coredns_tag=\"${KUBE_COREDNS_VERSION#v}\"" \
      -c 'LABEL magnum.node-image="1"' \
      -c 'LABEL magnum.node-image.coe="kubernetes"' \
      -c "LABEL magnum.node-image.name=\"$name\"" \
      -c "LABEL magnum.node-image.suite=\"$SUITE\"" \
      -c "LABEL magnum.node-image.key=\"$key\"" \
      -c "LABEL magnum.kube.pause-image=\"docker.io/$pause_img\"" \
      -c "LABEL magnum.kube.coredns-image=\"docker.io/$coredns_img\"" \
      "${changes[@]}" \
      -m "magnum kubernetes node image $name ($tag, $SUITE, key $key)" \
      - "$name" 2>>"$LOG") || die "docker import of $name failed"
  rm -rf "$extra"
  if [ -n "$old" ] && [ "$old" != "$id" ]; then docker rmi "$old" >/dev/null 2>&1 || true; fi
  stage "node image $name: imported ${id#sha256:} in $(since "$t0")"
}

# ---- commands -------------------------------------------------------------------------------
# build --coe kubernetes ... (the arguments after --coe kubernetes)
cmd_build_kubernetes() {
  local tag=$KUBE_DEFAULT_TAG name= os_distro=$DEFAULT_OS_DISTRO rebuild=0 labels=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --kube-tag) tag=${2:?--kube-tag needs a value}; shift 2 ;;
      --kube-tag=*) tag=${1#*=}; shift ;;
      --name) name=${2:?--name needs a value}; shift 2 ;;
      --name=*) name=${1#*=}; shift ;;
      --os-distro) os_distro=${2:?--os-distro needs a value}; shift 2 ;;
      --os-distro=*) os_distro=${1#*=}; shift ;;
      --label) [[ ${2:-} == ?*=* ]] || die "--label needs KEY=VALUE"; labels+=("$2"); shift 2 ;;
      --label=*) [[ $1 == --label=?*=* ]] || die "--label needs KEY=VALUE"; labels+=("${1#*=}"); shift ;;
      --rebuild) rebuild=1; shift ;;
      *) die "build --coe kubernetes: unknown argument '$1' (usage: build --coe kubernetes [--kube-tag TAG] [--name NAME] [--os-distro DISTRO] [--label K=V]... [--rebuild])" ;;
    esac
  done
  kube_check_tag "$tag"
  [ -n "$name" ] || name="magnum-kube-node:$tag"
  [[ $name == *:* ]] || name="$name:latest"
  need_docker
  kube_go_env "$tag"
  local key
  key=$(kube_image_key "$tag" "$os_distro")
  if [ "$rebuild" = 0 ] && [ "$(image_label "$name" magnum.node-image.key)" = "$key" ]; then
    printf '%s\n' "$name"; return 0
  fi
  kube_lock
  if [ "$rebuild" = 0 ] && [ "$(image_label "$name" magnum.node-image.key)" = "$key" ]; then
    printf '%s\n' "$name"; return 0
  fi
  stage "building $name (kubernetes $tag, os_distro=$os_distro; cache $CACHE_ROOT)"
  # The debootstrap (network and disk, mostly) runs beside the Go builds (CPU).
  local rootfs_pid=
  if [ ! -s "$KUBE_CACHE/rootfs-$SUITE-$(kube_rootfs_key).tar" ]; then
    ( trap on_exit EXIT; kube_rootfs ) &
    rootfs_pid=$!
    BG_PIDS+=("$rootfs_pid")
  fi
  kube_binaries "$tag"
  kube_coredns
  kube_pause
  if [ -n "$rootfs_pid" ]; then
    wait "$rootfs_pid" || die "building the root file system failed"
  fi
  kube_rootfs
  kube_image "$name" "$tag" "$os_distro" "$key" ${labels[@]+"${labels[@]}"}
  stage "done: $name"
  printf '%s\n' "$name"
}

# tag_arg COMMAND ARGS...: the TAG of `COMMAND [--kube-tag TAG]` (checked), in TAG_ARG.
tag_arg() {
  local cmd=$1
  shift
  TAG_ARG=$KUBE_DEFAULT_TAG
  while [ $# -gt 0 ]; do
    case "$1" in
      --kube-tag) TAG_ARG=${2:?--kube-tag needs a value}; shift 2 ;;
      --kube-tag=*) TAG_ARG=${1#*=}; shift ;;
      *) die "$cmd: unknown argument '$1' (usage: $cmd [--kube-tag TAG])" ;;
    esac
  done
  kube_check_tag "$TAG_ARG"
  kube_go_env "$TAG_ARG"
}

# artifacts [--kube-tag TAG]: only the cached binaries (stages 1-3), no Docker needed.
cmd_kube_artifacts() {
  tag_arg artifacts "$@"
  kube_lock
  kube_binaries "$TAG_ARG"
  kube_coredns
  kube_pause
  printf '%s\n' "$KUBE_BIN_DIR"
}

# kubectl-path [--kube-tag TAG]: the kubectl built here for TAG (exit 1 when not built yet).
cmd_kubectl_path() {
  tag_arg kubectl-path "$@"
  local dir
  dir="$KUBE_CACHE/bin-$TAG_ARG-$(kube_bin_key "$TAG_ARG")"
  [ -f "$dir/.complete" ] ||
    die "kubectl $TAG_ARG is not built yet (run: bin/magnum-node-image build --coe kubernetes --kube-tag $TAG_ARG)"
  printf '%s\n' "$dir/bin/kubectl"
}

# One Kubernetes build at a time: a second caller waits (announced) for the first.
kube_lock() {
  mkdir -p "$KUBE_CACHE"
  exec 8>"$KUBE_CACHE/.lock"
  if ! flock -n 8; then
    stage "another Kubernetes image build is running; waiting for it (up to 60 min)"
    flock -w 3600 8 || die "another build still holds $KUBE_CACHE/.lock after 60 min"
  fi
}
