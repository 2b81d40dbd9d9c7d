#!/usr/bin/env bash
# Build the local images that real (Docker-in-Docker) clusters use. Nothing is
# pulled: no registry is reachable here, so every image comes from Debian
# packages via the machine's configured Debian mirror.
#
#   bin/magnum-node-image build [--name NAME] [--os-distro DISTRO] [--label K=V]... [--rebuild]
#       The node image (default magnum-node:bookworm): a Debian minbase root file
#       system with Docker Engine (debootstrap), `docker import`ed with the labels
#       os_distro=DISTRO (default debian; like a Glance image property),
#       magnum.node-image=1 and magnum.node-image.name=NAME, and
#       ENTRYPOINT tini -> /usr/local/bin/magnum-node-entrypoint (execs dockerd "$@").
#       The root file system is cached as $CACHE_ROOT/node-image/rootfs-*.tar, so
#       another NAME (e.g. magnum-node:v2 for upgrade tests: a distinct image id,
#       env MAGNUM_NODE_IMAGE=NAME inside) or a rebuild after `docker rmi` only
#       re-imports it (seconds). --rebuild replaces an existing NAME; --label adds
#       an image label (e.g. magnum.test=RUN, so a test's cleanup finds it).
#   bin/magnum-node-image build --coe kubernetes [--kube-tag TAG] [--name NAME] [--os-distro DISTRO]
#                               [--label K=V]... [--rebuild]
#       The Kubernetes node image (default magnum-kube-node:TAG, TAG default v1.34.4): a Debian
#       root file system with containerd, runc, CNI plugins, etcd; the Kubernetes binaries of
#       TAG built from the Go module proxy (about 15 min cold on 2 cores, then cached); CoreDNS
#       and pause images preloaded; ENTRYPOINT tini -> magnum-kube-node (runs a master or a
#       worker; see scripts/kube-node/magnum-kube-node). Labels os_distro, kube_tag,
#       magnum.node-image.coe=kubernetes. See scripts/node-image-kubernetes.sh.
#   bin/magnum-node-image artifacts [--kube-tag TAG]
#       Only the cached Kubernetes binaries, CoreDNS and pause (no image); prints the bin dir.
#   bin/magnum-node-image kubectl-path [--kube-tag TAG]
#       The path of the kubectl built here for TAG (fails when it is not built yet).
#   bin/magnum-node-image workload [--name NAME]
#       A tiny workload image (default magnum-test/busybox:latest) from Debian's
#       busybox-static: /bin/busybox plus a symlink per applet (sh, httpd, sleep,
#       wget, nc, ...), /www/index.html, /www/cgi-bin/hostname; CMD ["sh"].
#   bin/magnum-node-image save NAME FILE
#       `docker save NAME` to FILE (for `docker load` inside a node).
#   bin/magnum-node-image mirror
#       Print the Debian mirror URI this machine is configured with.
#
# build and workload print the image name, and only that, on stdout (progress on
# stderr; noisy output in var/log/node-image.log). Both are idempotent: an
# existing image is reported at once. Needs root and a running Docker Engine
# (scripts/setup-services.sh docker). Settings (environment):
#   MAGNUM_CACHE_DIR    where built things are cached (default $XDG_CACHE_HOME/magnum-ts,
#                       i.e. ~/.cache/magnum-ts): root file systems, Kubernetes binaries, and
#                       the Go module and build caches (GOPATH, GOCACHE) used to build them
#   MAGNUM_NODE_SUITE   Debian suite of the node image (default bookworm)
#   MAGNUM_DEBIAN_MIRROR  mirror URI (default: read from the apt sources)
#   DOCKER_HOST         the Docker Engine to build into (default: docker's own)
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Outside the repository: a fresh clone on the same machine reuses it, and nothing built is
# ever in the work tree.
CACHE_ROOT=${MAGNUM_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/magnum-ts}
CACHE_DIR="$CACHE_ROOT/node-image"
LOG_DIR="$ROOT/var/log"
LOG="$LOG_DIR/node-image.log"
SUITE=${MAGNUM_NODE_SUITE:-bookworm}
DEFAULT_NODE_NAME="magnum-node:$SUITE"
DEFAULT_WORKLOAD_NAME="magnum-test/busybox:latest"
DEFAULT_OS_DISTRO=debian
# Packages of the node image (debootstrap --include; minbase has no Recommends).
#   docker.io      dockerd, containerd, runc, tini (PID 1), iptables (dependency)
#   iptables       NAT/filter rules of the nested bridge and overlay networks
#   iproute2       `ip` (dockerd's netlink needs nothing, people debugging do)
#   procps kmod    ps/pkill; modprobe (dockerd calls it; modules are built in here)
#   netbase        /etc/protocols, /etc/services
#   xz-utils       `docker load` of xz-compressed image archives
#   ca-certificates TLS to anything outside (registries, when there are some)
NODE_PACKAGES=docker.io,iptables,iproute2,ca-certificates,procps,kmod,netbase,xz-utils
# Bump when the customisation below changes: a new cached root file system.
NODE_FLAVOUR=2

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

CLEANUP=()
BG_PIDS=()
LOG_START=0
log() { printf '[node-image] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
on_exit() {
  local rc=$? p
  set +e
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${CLEANUP[@]}"; do
    # A debootstrap that failed may leave /proc etc. mounted inside its target.
    if [ -d "$p" ]; then
      grep -o " $p/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
    fi
    rm -rf --one-file-system "$p"
  done
  # Show what this run added to the log, if anything.
  if [ "$rc" -ne 0 ] && [ "$(stat -c %s "$LOG" 2>/dev/null || echo 0)" -gt "$LOG_START" ]; then
    log "failed (exit $rc); last lines of ${LOG#"$ROOT"/}:"
    tail -c +"$((LOG_START + 1))" "$LOG" | tail -n 25 | sed 's/^/    /' >&2
  fi
}
trap on_exit EXIT

# run CMD...: noisy command, output appended to the log.
run() {
  printf '+ %s\n' "$*" >>"$LOG"
  "$@" </dev/null >>"$LOG" 2>&1 || {
    local rc=$?
    printf '! exit %s: %s\n' "$rc" "$*" >>"$LOG"
    return "$rc"
  }
}

now_ms() { date +%s%3N; }
BUILD_T0=$(now_ms)
since() {
  local t=$(( $(now_ms) - $1 ))
  if [ "$t" -ge 60000 ]; then printf '%dm%02ds' $((t / 60000)) $((t % 60000 / 1000))
  else printf '%d.%01ds' $((t / 1000)) $((t % 1000 / 100)); fi
}

# stage MESSAGE: a progress line with the time since this command started.
stage() { log "[$(since "$BUILD_T0")] $*"; }

# ticker LABEL: a "still building" line every minute until killed (the caller kills it).
# Its sleep holds no output open (a caller reading our stderr to its end would wait for it) and
# goes with it.
ticker() {
  local n=0 s=
  trap '[ -z "$s" ] || kill "$s" 2>/dev/null; exit 0' TERM
  while :; do
    sleep 60 </dev/null >/dev/null 2>&1 &
    s=$!
    wait "$s" || true
    kill -0 "$$" 2>/dev/null || exit 0
    n=$((n + 1)); log "[$(since "$BUILD_T0")]   still building $1 ($n min)"
  done
}
# with_ticker LABEL CMD...: CMD with a ticker beside it. CMD runs as a plain command, so errexit
# still applies inside it (a failure exits, and on_exit stops the ticker); the status is returned
# when the caller tests it (`with_ticker ... || die`).
with_ticker() {
  local label=$1 tpid rc
  shift
  ticker "$label" &
  tpid=$!
  BG_PIDS+=("$tpid")
  "$@"
  rc=$?
  kill "$tpid" 2>/dev/null; wait "$tpid" 2>/dev/null || true
  return "$rc"
}

need_docker() {
  command -v docker >/dev/null || die "no docker client (run scripts/setup-services.sh docker)"
  timeout 20 docker info --format '{{.ServerVersion}}' >/dev/null 2>&1 ||
    die "Docker Engine not answering${DOCKER_HOST:+ on $DOCKER_HOST} (run scripts/setup-services.sh docker)"
}

image_exists() { docker image inspect --format '{{.Id}}' "$1" >/dev/null 2>&1; }
image_label() {
  docker image inspect --format "{{with .Config}}{{with .Labels}}{{index . \"$2\"}}{{end}}{{end}}" "$1" 2>/dev/null
}

# One build at a time (parallel test runs may all call this).
lock() {
  mkdir -p "$CACHE_DIR" "$LOG_DIR"
  exec 9>"$CACHE_DIR/.lock"
  flock -w 900 9 || die "another node-image build still holds $CACHE_DIR/.lock"
}

# ---- the Debian mirror --------------------------------------------------------
# The first deb URI whose Suites include $SUITE, from the deb822 sources, else
# from one-line sources. Prints "URI KEYRING" (KEYRING may be empty).
debian_mirror() {
  if [ -n "${MAGNUM_DEBIAN_MIRROR:-}" ]; then printf '%s \n' "$MAGNUM_DEBIAN_MIRROR"; return 0; fi
  local f found=
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    found=$(awk -v suite="$SUITE" '
      BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; suites = ""; types = ""; key = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          line = $i
          if (line ~ /^[ \t]*#/) continue
          field = tolower(line); sub(/:.*/, "", field)
          sub(/^[^:]*:[ \t]*/, "", line)
          if (field == "uris") uris = line
          else if (field == "suites") suites = " " line " "
          else if (field == "types") types = " " line " "
          else if (field == "signed-by") key = line
          else if (field == "enabled") enabled = tolower(line)
        }
        if (enabled != "no" && index(types, " deb ") && index(suites, " " suite " ")) {
          split(uris, u, /[ \t]+/); print u[1] " " key; exit
        }
      }' "$f")
    [ -z "$found" ] || { printf '%s\n' "$found"; return 0; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    found=$(awk -v suite="$SUITE" '
      $1 == "deb" {
        i = 2; key = ""
        if ($2 ~ /^\[/) {
          for (; i <= NF; i++) {
            if ($i ~ /signed-by=/) { key = $i; sub(/.*signed-by=/, "", key); sub(/\].*$/, "", key) }
            if ($i ~ /\]$/) { i++; break }
          }
        }
        if ($(i + 1) == suite) { print $i " " key; exit }
      }' "$f")
    [ -z "$found" ] || { printf '%s\n' "$found"; return 0; }
  done
  return 1
}

# ---- the node's entrypoint ------------------------------------------------------
entrypoint_script() {
  cat <<'EOF'
#!/bin/sh
# magnum-node-entrypoint: runs under tini (PID 1) in a Magnum node container.
#   no arguments, or arguments that start with "-": exec dockerd with them, adding
#     --host unix:///var/run/docker.sock  when no unix:// host is given
#     --cgroup-parent OWN/magnum-nested   when no --cgroup-parent is given, where
#       OWN is this container's own cgroup (cgroup v1, --cgroupns host:
#       /docker/<node id>): nested containers then count against the node's
#       limits (docker run --memory/--cpus of the node) and `docker rm -f NODE`
#       removes their cgroups too. Elsewhere (cgroup v2, private cgroupns):
#       /magnum-node-HOSTNAME. Either way unique per node: with --cgroupns host
#       every node sees the host's hierarchy, so names must not collide.
#   anything else: exec it (e.g. `sleep infinity`, to start dockerd later with
#     `docker exec -d NODE magnum-node-entrypoint ARGS`).
# Before dockerd: stale pid files go, and iptables falls back to the legacy
# backend when nf_tables does not work in this kernel.
set -eu
case "${1:-}" in
  ""|-*) ;;
  *) exec "$@" ;;
esac

have_unix=0 have_cgroup_parent=0 prev=
for a in "$@"; do
  case "$prev:$a" in
    -H:unix://*|--host:unix://*|*:-H=unix://*|*:--host=unix://*) have_unix=1 ;;
  esac
  case "$a" in --cgroup-parent|--cgroup-parent=*) have_cgroup_parent=1 ;; esac
  prev=$a
done
[ "$have_unix" = 1 ] || set -- "$@" --host unix:///var/run/docker.sock
if [ "$have_cgroup_parent" = 0 ]; then
  own=$(awk -F: '$2 == "memory" { print $3; exit }' /proc/self/cgroup 2>/dev/null || true)
  if [ -n "$own" ] && [ "$own" != / ] && [ -d "/sys/fs/cgroup/memory$own" ]; then
    set -- "$@" --cgroup-parent "${own%/}/magnum-nested"
  else
    set -- "$@" --cgroup-parent "/magnum-node-$(hostname)"
  fi
fi

rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
mkdir -p /var/lib/docker

if ! iptables -t nat -nL >/dev/null 2>&1 && iptables-legacy -t nat -nL >/dev/null 2>&1; then
  echo "magnum-node-entrypoint: nf_tables unusable, switching iptables to the legacy backend" >&2
  update-alternatives --set iptables /usr/sbin/iptables-legacy >/dev/null
  update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >/dev/null
fi

fs=$(stat -f -c %T /var/lib/docker 2>/dev/null || echo unknown)
case "$fs" in
  overlayfs|overlay) echo "magnum-node-entrypoint: WARNING: /var/lib/docker is on $fs (the" \
    "container's own root): overlay2 cannot nest, dockerd falls back to vfs (slow, big)." \
    "Mount a volume or tmpfs on /var/lib/docker." >&2 ;;
esac

echo "magnum-node-entrypoint: exec dockerd $*" >&2
exec dockerd "$@"
EOF
}

# ---- build ---------------------------------------------------------------------
# The cached root file system depends on these only; the entrypoint and the
# build info are appended at import time (see import_node).
rootfs_key() {
  printf 'suite=%s\npackages=%s\nflavour=%s\narch=%s\n' "$SUITE" "$NODE_PACKAGES" "$NODE_FLAVOUR" \
    "$(dpkg --print-architecture)" | sha256sum | cut -c1-12
}

# make_rootfs TARBALL [PACKAGES]: debootstrap, customise, tar.
make_rootfs() {
  local tarball=$1 packages=${2:-$NODE_PACKAGES} mirror keyring dir t0
  read -r mirror keyring < <(debian_mirror) ||
    die "no Debian mirror for '$SUITE' in /etc/apt/sources.list.d/*.sources or sources.list"
  [ -n "$mirror" ] || die "no Debian mirror for '$SUITE' in the apt sources"
  command -v debootstrap >/dev/null || die "debootstrap missing (run scripts/setup-services.sh docker)"
  [ "$(id -u)" = 0 ] || die "debootstrap needs root"
  dir=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
  CLEANUP+=("$dir")
  local kopt=()
  [ -n "$keyring" ] && [ -r "$keyring" ] && kopt=(--keyring="$keyring")
  log "debootstrap $SUITE (minbase + $packages) from $mirror (a few minutes; log: ${LOG#"$ROOT"/})"
  t0=$(now_ms)
  run debootstrap --variant=minbase --components=main --include="$packages" \
    "${kopt[@]}" "$SUITE" "$dir" "$mirror" || die "debootstrap failed"
  log "debootstrap done in $(since "$t0")"

  # Nothing a node does not need.
  chroot "$dir" dpkg-query -W -f='${Package} ${Version}\n' >>"$LOG" 2>&1 || true
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* \
    "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
    "$dir"/usr/share/locale/* "$dir"/var/log/*.log "$dir"/var/log/apt/* "$dir"/tmp/* \
    "$dir"/etc/docker/key.json
  # Docker provides these at run time; never ship the build machine's.
  : >"$dir/etc/resolv.conf"; : >"$dir/etc/hostname"
  printf '127.0.0.1\tlocalhost\n' >"$dir/etc/hosts"
  printf 'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n' >"$dir/etc/apt/apt.conf.d/90magnum-node"

  t0=$(now_ms)
  # -b 1: no padding after the end-of-archive marker (exactly two zero blocks),
  # so import_node can cut it off and append more members.
  run tar -C "$dir" --numeric-owner --one-file-system -b 1 -cf "$tarball.part" . || die "tar failed"
  tar_ends_cleanly "$tarball.part" || die "unexpected end of $tarball.part"
  mv "$tarball.part" "$tarball"
  log "cached $(du -h "$tarball" | cut -f1) root file system as $tarball ($(since "$t0"))"
  rm -rf "$dir"
}

# The last 1024 bytes of TARBALL are its end-of-archive marker (two zero blocks).
tar_ends_cleanly() {
  local size
  size=$(stat -c %s "$1")
  [ $((size % 512)) = 0 ] && [ "$size" -ge 1536 ] &&
    [ "$(tail -c 1024 "$1" | tr -d '\0' | wc -c)" = 0 ]
}

# import_node TARBALL NAME OS_DISTRO KEY EXTRA_DIR [K=V...]: the cached root file system plus
# /usr/local/bin/magnum-node-entrypoint and /etc/magnum-node-image (name,
# os_distro, build time: every NAME gets its own image id), in one layer.
import_node() {
  local tarball=$1 name=$2 os_distro=$3 key=$4 extra=$5 id kv changes=()
  shift 5
  for kv in "$@"; do changes+=(-c "LABEL ${kv%%=*}=\"${kv#*=}\""); done
  tar_ends_cleanly "$tarball" || die "$tarball is damaged: remove it and build again"
  mkdir -p "$extra/usr/local/bin" "$extra/etc"
  entrypoint_script >"$extra/usr/local/bin/magnum-node-entrypoint"
  chmod 0755 "$extra/usr/local/bin/magnum-node-entrypoint"
  printf 'name=%s\nos_distro=%s\nsuite=%s\nrootfs=%s\npackages=%s\nbuilt=%s\n' "$name" "$os_distro" \
    "$SUITE" "$key" "$NODE_PACKAGES" "$(date -u +%FT%TZ)" >"$extra/etc/magnum-node-image"
  id=$( { head -c -1024 "$tarball"
          tar -C "$extra" --numeric-owner --owner=0 --group=0 -b 1 -c \
            ./usr/local/bin/magnum-node-entrypoint ./etc/magnum-node-image; } |
    docker import \
      -c 'ENTRYPOINT ["/usr/bin/tini", "-g", "--", "/usr/local/bin/magnum-node-entrypoint"]' \
      -c 'VOLUME ["/var/lib/docker"]' \
      -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      -c 'ENV DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1' \
      -c "ENV MAGNUM_NODE_IMAGE=$name" \
      -c "LABEL os_distro=\"$os_distro\"" \
      -c 'LABEL magnum.node-image="1"' \
      -c "LABEL magnum.node-image.name=\"$name\"" \
      -c "LABEL magnum.node-image.suite=\"$SUITE\"" \
      -c "LABEL magnum.node-image.rootfs=\"$key\"" \
      "${changes[@]}" \
      -m "magnum node image $name ($SUITE, rootfs $key)" \
      - "$name" 2>>"$LOG") || die "docker import failed"
  printf '%s\n' "${id#sha256:}"
}

cmd_build() {
  case "${1:-}:${2:-}" in
    --coe:kubernetes) shift 2; cmd_build_kubernetes "$@"; return ;;
    --coe=kubernetes:*) shift; cmd_build_kubernetes "$@"; return ;;
    --coe:swarm-mode|--coe:swarm) shift 2 ;;
    --coe=swarm-mode:*|--coe=swarm:*) shift ;;
    --coe:*|--coe=*) die "build: --coe must be swarm-mode (the default) or kubernetes" ;;
  esac
  local name=$DEFAULT_NODE_NAME os_distro=$DEFAULT_OS_DISTRO os_given=0 rebuild=0 labels=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --name) name=${2:?--name needs a value}; shift 2 ;;
      --name=*) name=${1#*=}; shift ;;
      --os-distro) os_distro=${2:?--os-distro needs a value}; os_given=1; shift 2 ;;
      --os-distro=*) os_distro=${1#*=}; os_given=1; shift ;;
      --label) [[ ${2:-} == ?*=* ]] || die "--label needs KEY=VALUE"; labels+=("$2"); shift 2 ;;
      --label=*) [[ $1 == --label=?*=* ]] || die "--label needs KEY=VALUE"; labels+=("${1#*=}"); shift ;;
      --rebuild) rebuild=1; shift ;;
      *) die "build: unknown argument '$1' (usage: build [--name NAME] [--os-distro DISTRO] [--label K=V]... [--rebuild])" ;;
    esac
  done
  [ -n "$name" ] || die "empty --name"
  [[ $name == *:* ]] || name="$name:latest"
  need_docker

  # Fast path: the image is there (with the os_distro asked for, when asked).
  up_to_date() {
    image_exists "$name" || return 1
    [ "$os_given" = 0 ] || [ "$(image_label "$name" os_distro)" = "$os_distro" ]
  }
  if [ "$rebuild" = 0 ] && up_to_date; then
    [ "$(image_label "$name" magnum.node-image)" = 1 ] ||
      log "warning: $name exists but has no label magnum.node-image=1 (not built here?)"
    printf '%s\n' "$name"; return 0
  fi
  lock
  if [ "$rebuild" = 0 ] && up_to_date; then printf '%s\n' "$name"; return 0; fi

  local key tarball t0
  key=$(rootfs_key)
  tarball="$CACHE_DIR/rootfs-$SUITE-$key.tar"
  if [ -s "$tarball" ]; then
    log "using cached root file system $tarball"
  else
    with_ticker "the root file system" make_rootfs "$tarball"
    # Older root file systems of this suite are of no further use.
    find "$CACHE_DIR" -maxdepth 1 -name "rootfs-$SUITE-*.tar" ! -name "$(basename "$tarball")" -delete
  fi

  log "docker import -> $name (os_distro=$os_distro)"
  t0=$(now_ms)
  local old id extra
  old=$(docker image inspect --format '{{.Id}}' "$name" 2>/dev/null || true)
  extra=$(mktemp -d "$CACHE_DIR/extra.XXXXXX"); CLEANUP+=("$extra")
  id=$(import_node "$tarball" "$name" "$os_distro" "$key" "$extra" ${labels[@]+"${labels[@]}"})
  if [ -n "$old" ] && [ "$old" != "sha256:$id" ]; then
    # The image NAME replaced (--rebuild, or another --os-distro): drop the old
    # one unless something (a container, another tag) still uses it.
    docker rmi "$old" >/dev/null 2>&1 || true
  fi
  log "imported $name ${id#sha256:} in $(since "$t0")"
  printf '%s\n' "$name"
}

# ---- workload ------------------------------------------------------------------
cmd_workload() {
  local name=$DEFAULT_WORKLOAD_NAME
  while [ $# -gt 0 ]; do
    case "$1" in
      --name) name=${2:?--name needs a value}; shift 2 ;;
      --name=*) name=${1#*=}; shift ;;
      *) die "workload: unknown argument '$1' (usage: workload [--name NAME])" ;;
    esac
  done
  [[ $name == *:* ]] || name="$name:latest"
  need_docker
  if image_exists "$name"; then printf '%s\n' "$name"; return 0; fi
  lock
  if image_exists "$name"; then printf '%s\n' "$name"; return 0; fi

  local deb dir t0
  t0=$(now_ms)
  deb=$(ls "$CACHE_DIR"/busybox-static_*.deb 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$deb" ]; then
    log "apt-get download busybox-static"
    dir=$(mktemp -d "$CACHE_DIR/deb.XXXXXX"); CLEANUP+=("$dir")
    # Needs package lists: on a machine that has none (or stale ones), update once.
    if ! (cd "$dir" && run apt-get -o DPkg::Lock::Timeout=900 download -o APT::Sandbox::User=root busybox-static); then
      log "apt-get update, then download again"
      run apt-get -o DPkg::Lock::Timeout=900 update || log "apt-get update reported errors (continuing)"
      (cd "$dir" && run apt-get -o DPkg::Lock::Timeout=900 download -o APT::Sandbox::User=root busybox-static) ||
        die "apt-get download busybox-static failed"
    fi
    deb=$(ls "$dir"/busybox-static_*.deb | head -n 1)
    mv "$deb" "$CACHE_DIR/"
    deb="$CACHE_DIR/$(basename "$deb")"
  fi
  dir=$(mktemp -d "$CACHE_DIR/workload.XXXXXX"); CLEANUP+=("$dir")
  run dpkg-deb -x "$deb" "$dir/deb" || die "cannot unpack $deb"
  local root=$dir/root applet
  mkdir -p "$root"/{bin,etc,tmp,root,www/cgi-bin,var/run,proc,sys,dev}
  chmod 1777 "$root/tmp"
  install -m 0755 "$dir/deb/bin/busybox" "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  ln -s bin "$root/sbin"
  mkdir -p "$root/usr"; ln -s ../bin "$root/usr/bin"; ln -s ../bin "$root/usr/sbin"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  printf 'magnum-test workload\n' >"$root/www/index.html"
  cat >"$root/www/cgi-bin/hostname" <<'EOF'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
hostname
EOF
  chmod 0755 "$root/www/cgi-bin/hostname"
  local id
  id=$(tar -C "$root" --numeric-owner -c . | docker import \
    -c 'CMD ["sh"]' -c 'ENV PATH=/bin' -c 'WORKDIR /' \
    -c 'LABEL magnum.test-image="1"' \
    -c "LABEL org.debian.package=\"busybox-static $(dpkg-deb -f "$deb" Version)\"" \
    -m "magnum test workload $name (busybox-static)" - "$name" 2>>"$LOG") ||
    die "docker import failed"
  log "imported $name ${id#sha256:} ($(du -sh "$root" | cut -f1)) in $(since "$t0")"
  printf '%s\n' "$name"
}

cmd_save() {
  [ $# -eq 2 ] || die "usage: save NAME FILE"
  need_docker
  image_exists "$1" || die "no image $1"
  docker save -o "$2.part" "$1" && mv "$2.part" "$2" || { rm -f "$2.part"; die "docker save $1 failed"; }
  log "saved $1 to $2 ($(du -h "$2" | cut -f1))"
}

cmd_mirror() { debian_mirror | cut -d' ' -f1; }

usage() { sed -n '2,/^set -E/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

# The root file system and the busybox package cached by older versions of this script in
# var/cache/node-image (inside the repository) move to CACHE_DIR once.
migrate_old_cache() {
  local old="$ROOT/var/cache/node-image" f
  [ -d "$old" ] && [ "$old" != "$CACHE_DIR" ] || return 0
  mkdir -p "$CACHE_DIR"
  for f in "$old"/rootfs-*.tar "$old"/busybox-static_*.deb; do
    [ -f "$f" ] && [ ! -e "$CACHE_DIR/$(basename "$f")" ] && mv "$f" "$CACHE_DIR/" 2>/dev/null
  done
  return 0
}

# shellcheck source=scripts/node-image-kubernetes.sh
. "$ROOT/scripts/node-image-kubernetes.sh"

mkdir -p "$LOG_DIR"
LOG_START=$(stat -c %s "$LOG" 2>/dev/null || echo 0)
migrate_old_cache
case "${1:-}" in
  build) shift; cmd_build "$@" ;;
  workload) shift; cmd_workload "$@" ;;
  save) shift; cmd_save "$@" ;;
  artifacts) shift; cmd_kube_artifacts "$@" ;;
  kubectl-path) shift; cmd_kubectl_path "$@" ;;
  mirror) shift; cmd_mirror ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
