#!/usr/bin/env bash
# Install, configure and start the real services the tests use, all bound to
# 127.0.0.1, then write var/services.env (shell exports the tests source).
#
#   scripts/setup-services.sh [postgres] [mariadb] [rabbitmq] [keystone] [clients] [docker] [chromium]
#   (no argument = all of them)
#
# Idempotent: every step checks first and skips what is already installed,
# configured and running, so a second run takes a few seconds. Runs as root on
# Debian bookworm without systemd. Noisy output goes to var/log/setup-<step>.log
# (apt: var/log/setup-apt.log); on failure the tail of that log is printed.
#
#   postgres  postgresql://magnum:magnum@127.0.0.1:5432/<db>   (role magnum: SUPERUSER, CREATEDB)
#   mariadb   mysql://magnum:magnum@127.0.0.1:3306/<db>        (ALL PRIVILEGES ON *.* WITH GRANT OPTION)
#   rabbitmq  amqp://magnum:magnum@127.0.0.1:5672              (administrator, full rights on vhost /)
#   keystone  http://127.0.0.1:5000/v3 (uwsgi, SQLite db, fernet tokens), admin/admin-secret,
#             service user magnum/magnum-secret (admin in project service), demo/demo-secret
#             (member of demo), alt/alt-secret (member of alt), service magnum (container-infra).
#             Endpoints: scripts/keystone-endpoint.sh URL.
#   clients   python3-openstackclient + python3-magnumclient (`openstack coe ...`)
#   docker    Docker Engine (Debian's docker.io) on unix:///var/run/docker.sock, dockerd
#             started in the background (log /var/log/dockerd.log, pid /var/run/docker.pid),
#             and debootstrap for the node image (bin/magnum-node-image build).
#   chromium  Debian's chromium (/usr/bin/chromium), driven headless by playwright-core in the
#             dashboard's browser tests (test/dashboard/).
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPTS="$ROOT/scripts"
VAR_DIR="$ROOT/var"
LOG_DIR="$VAR_DIR/log"
ENV_FILE="$VAR_DIR/services.env"
ALL_STEPS=(postgres mariadb rabbitmq keystone clients docker chromium)

export DEBIAN_FRONTEND=noninteractive
# A fresh machine often runs its own apt job when it boots: wait for the package manager's
# locks (apt prints "Waiting for cache lock ...") instead of failing at once.
APT_WAIT=(-o DPkg::Lock::Timeout=900)
export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}" NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

# ---- credentials (also written to var/services.env) --------------------------
PG_URL=postgresql://magnum:magnum@127.0.0.1:5432
MYSQL_URL=mysql://magnum:magnum@127.0.0.1:3306
AMQP_URL=amqp://magnum:magnum@127.0.0.1:5672
KS_URL=http://127.0.0.1:5000/v3
KS_REGION=RegionOne
KS_ADMIN_PASSWORD=admin-secret
MAGNUM_SERVICE_PASSWORD=magnum-secret
DEMO_PASSWORD=demo-secret
ALT_PASSWORD=alt-secret

# ---- plumbing ---------------------------------------------------------------
STEP=setup
STEP_LOG="$LOG_DIR/setup-main.log"
POLICY_RC_CREATED=0
APT_UPDATED=0
FAILED_CMD=
SELECTED_STEPS=()

log() { printf '[setup] %s: %s\n' "$STEP" "$*"; }
die() { FAILED_CMD="$*"; log "ERROR: $*" >&2; exit 1; }

step_begin() {
  STEP=$1
  STEP_LOG="$LOG_DIR/setup-$1.log"
  printf '\n===== %s %s\n' "$(date '+%F %T')" "$1" >>"$STEP_LOG"
}

# apt-get update, waiting for another apt job's lock on the package lists (dpkg's own locks are
# waited for by DPkg::Lock::Timeout, which does not cover the lists lock).
apt_update() {
  local waited=0
  while :; do
    local mark
    mark=$(wc -l <"$STEP_LOG" 2>/dev/null || echo 0)
    run apt-get "${APT_WAIT[@]}" update && return 0
    tail -n +"$((mark + 1))" "$STEP_LOG" | grep -q 'Could not get lock' || return 1
    [ "$waited" -ge 900 ] && return 1
    [ $((waited % 30)) = 0 ] && log "another apt job holds the package lists lock: waiting (${waited} s)"
    sleep 5
    waited=$((waited + 5))
  done
}

# Run a noisy command with its output appended to the step's log. fds 8 and 9
# (locks) are closed so that daemons started from here never hold them.
run() {
  printf '+ %s\n' "$*" >>"$STEP_LOG"
  "$@" </dev/null >>"$STEP_LOG" 2>&1 8>&- 9>&- || {
    local rc=$?
    printf '! exit %s: %s\n' "$rc" "$*" >>"$STEP_LOG"
    return "$rc"
  }
}

policy_rc_off() {
  if [ "$POLICY_RC_CREATED" = 1 ]; then rm -f /usr/sbin/policy-rc.d; POLICY_RC_CREATED=0; fi
}

on_exit() {
  local rc=$?
  set +e
  policy_rc_off
  if [ "$rc" -ne 0 ]; then
    printf '[setup] %s: FAILED (exit %s)%s\n' "$STEP" "$rc" "${FAILED_CMD:+: $FAILED_CMD}" >&2
    if [ -s "$STEP_LOG" ]; then
      printf '[setup] %s: last lines of %s:\n' "$STEP" "${STEP_LOG#"$ROOT"/}" >&2
      tail -n 40 "$STEP_LOG" | sed 's/^/    /' >&2
    fi
  fi
}
trap on_exit EXIT
trap 'FAILED_CMD="line $LINENO: $BASH_COMMAND"' ERR

# wait_for SECONDS WHAT CMD...: poll CMD until it succeeds.
wait_for() {
  local secs=$1 what=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$end" ] || die "timed out after ${secs}s waiting for $what"
    sleep 0.3
  done
}

# write_file PATH [MODE [OWNER]] < content: replace PATH only when the content
# differs; sets WROTE=1 when it did.
WROTE=0
write_file() {
  local path=$1 mode=${2:-0644} owner=${3:-root:root} tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then rm -f "$tmp"; WROTE=0; return 0; fi
  mkdir -p "$(dirname "$path")"
  install -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$tmp" "$path"
  rm -f "$tmp"
  WROTE=1
  log "wrote $path"
}

pkg_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# ensure_packages PKG...: apt-get install whatever is missing (update once).
ensure_packages() {
  local missing=() p installed
  installed=" $(dpkg-query -W -f='${Package}=${db:Status-Status} ' "$@" 2>/dev/null || true) "
  for p in "$@"; do
    [[ $installed == *" $p=installed "* || " ${missing[*]} " == *" $p "* ]] || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  local step_log=$STEP_LOG
  log "installing ${missing[*]} (output: var/log/setup-apt.log)"
  STEP_LOG="$LOG_DIR/setup-apt.log"
  printf '\n===== %s install %s\n' "$(date '+%F %T')" "${missing[*]}" >>"$STEP_LOG"
  # No init system here: policy-rc.d exit 101 keeps maintainer scripts from
  # starting daemons. Leave an existing one alone; remove ours afterwards.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=1
  fi
  if [[ " ${missing[*]} " == *" keystone "* ]]; then
    # Keystone's package must neither touch a database nor register endpoints.
    printf '%s\n' \
      'keystone keystone/configure_db boolean false' \
      'keystone keystone/create-admin-tenant boolean false' \
      'keystone keystone/register-endpoint boolean false' | debconf-set-selections
  fi
  if [ "$APT_UPDATED" = 0 ]; then
    APT_UPDATED=1
    # Third-party sources that are unreachable here make update exit non-zero;
    # the Debian lists still get refreshed, so carry on.
    apt_update || log "apt-get update reported errors (continuing; see var/log/setup-apt.log)"
  fi
  run apt-get "${APT_WAIT[@]}" install -y --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
  policy_rc_off
  STEP_LOG=$step_log
}

step_packages() {
  case "$1" in
    postgres) echo postgresql ;;
    mariadb) echo mariadb-server ;;
    rabbitmq) echo rabbitmq-server procps ;;
    keystone) echo keystone uwsgi-core uwsgi-plugin-python3 crudini sqlite3 curl jq python3-openstackclient ;;
    clients) echo python3-openstackclient python3-magnumclient openssl tmux zsh ;;
    docker) echo docker.io debootstrap ;;
    chromium) echo chromium ;;
  esac
}

# ---- postgres ---------------------------------------------------------------
pg_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }

pg_probe() {
  command -v psql >/dev/null || return 1
  PGPASSWORD=magnum PGCONNECT_TIMEOUT=3 psql -h 127.0.0.1 -p 5432 -U magnum -d postgres -tAc \
    "select rolsuper and rolcreatedb from pg_roles where rolname = current_user" 2>/dev/null | grep -qx t
}

setup_postgres() {
  step_begin postgres
  ensure_packages postgresql
  local ver
  ver=$(pg_version)
  [ -n "$ver" ] || die "no PostgreSQL version under /etc/postgresql"
  if [ ! -f "/etc/postgresql/$ver/main/postgresql.conf" ]; then
    log "creating cluster $ver/main"
    run pg_createcluster "$ver" main
  fi
  write_file "/etc/postgresql/$ver/main/conf.d/90-magnum-test.conf" 0644 postgres:postgres <<'EOF'
# Written by scripts/setup-services.sh: loopback only, tuned for tests.
listen_addresses = '127.0.0.1'
port = 5432
max_connections = 300
synchronous_commit = off
EOF
  local changed=$WROTE
  install -d -o postgres -g postgres -m 2775 /run/postgresql
  if pg_ctlcluster "$ver" main status >/dev/null 2>&1; then
    if [ "$changed" = 1 ]; then
      log "configuration changed: restarting cluster $ver/main"
      run setsid -w pg_ctlcluster --skip-systemctl-redirect "$ver" main restart
    else
      log "already running (cluster $ver/main)"
    fi
  else
    log "starting cluster $ver/main"
    run setsid -w pg_ctlcluster --skip-systemctl-redirect "$ver" main start
  fi
  wait_for 60 "PostgreSQL on 127.0.0.1:5432" pg_isready -q -h 127.0.0.1 -p 5432
  if pg_probe; then
    log "role magnum ok"
  else
    log "creating/updating role magnum"
    (cd / && runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d postgres) >>"$STEP_LOG" 2>&1 <<'EOF'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'magnum') THEN CREATE ROLE magnum; END IF;
END $$;
ALTER ROLE magnum WITH LOGIN SUPERUSER CREATEDB PASSWORD 'magnum';
EOF
    pg_probe || die "cannot log in as magnum on 127.0.0.1:5432"
  fi
}

# ---- mariadb ----------------------------------------------------------------
my_running() { mariadb-admin --protocol=socket --connect-timeout=2 ping >/dev/null 2>&1; }

my_probe() {
  command -v mariadb >/dev/null || return 1
  mariadb --protocol=tcp -h 127.0.0.1 -P 3306 -u magnum -pmagnum --connect-timeout=3 -N \
    -e 'SHOW GRANTS' 2>/dev/null | grep -q 'GRANT ALL PRIVILEGES ON \*\.\* TO .* WITH GRANT OPTION'
}

my_start() {
  run start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  wait_for 60 "MariaDB to answer" my_running
}

setup_mariadb() {
  step_begin mariadb
  ensure_packages mariadb-server
  write_file /etc/mysql/mariadb.conf.d/99-magnum-test.cnf <<'EOF'
# Written by scripts/setup-services.sh: loopback only, tuned for tests.
[mysqld]
user                           = mysql
bind-address                   = 127.0.0.1
port                           = 3306
socket                         = /run/mysqld/mysqld.sock
pid-file                       = /run/mysqld/mysqld.pid
log_error                      = /var/log/mysql/error.log
max_connections                = 500
innodb_flush_log_at_trx_commit = 2
EOF
  local changed=$WROTE
  install -d -o mysql -g mysql -m 0755 /run/mysqld
  install -d -o mysql -g adm -m 2750 /var/log/mysql
  if [ ! -d /var/lib/mysql/mysql ]; then
    log "initialising /var/lib/mysql"
    run mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db
  fi
  if my_running; then
    if [ "$changed" = 1 ]; then
      log "configuration changed: restarting"
      run mariadb-admin --protocol=socket shutdown
      my_start
    else
      log "already running"
    fi
  else
    log "starting mariadbd"
    my_start
  fi
  if my_probe; then
    log "user magnum ok"
  else
    log "creating/updating user magnum"
    mariadb --protocol=socket -u root >>"$STEP_LOG" 2>&1 <<'EOF'
CREATE USER IF NOT EXISTS 'magnum'@'127.0.0.1' IDENTIFIED BY 'magnum';
CREATE USER IF NOT EXISTS 'magnum'@'localhost' IDENTIFIED BY 'magnum';
ALTER USER 'magnum'@'127.0.0.1' IDENTIFIED BY 'magnum';
ALTER USER 'magnum'@'localhost' IDENTIFIED BY 'magnum';
GRANT ALL PRIVILEGES ON *.* TO 'magnum'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'magnum'@'localhost' WITH GRANT OPTION;
FLUSH PRIVILEGES;
EOF
    my_probe || die "cannot log in as magnum on 127.0.0.1:3306"
  fi
}

# ---- rabbitmq ---------------------------------------------------------------
# User magnum is an administrator with full rights on vhost "/". Tests make
# their own vhosts as root with the CLI, e.g.
#   rabbitmqctl add_vhost t-123 && rabbitmqctl set_permissions -p t-123 magnum '.*' '.*' '.*'
# (and rabbitmqctl delete_vhost t-123 afterwards); any vhost can be granted to
# magnum this way.
# Tests restart the broker (scripts/rabbitmq-ctl.sh restart) while other runs
# may be setting up: everything here holds rabbitmq-ctl.sh's lock.
RMQ_LOCK=/run/magnum-rabbitmq-ctl.lock

rmq_probe() {
  command -v rabbitmqctl >/dev/null || return 1
  if [ "${RABBITMQ_CTL_LOCKED:-}" != 1 ]; then
    # Wait for a restart in progress to finish.
    (exec 8>>"$RMQ_LOCK"; flock -w 120 8 || exit 1; RABBITMQ_CTL_LOCKED=1 rmq_probe)
    return
  fi
  "$SCRIPTS/rabbitmq-ctl.sh" status >/dev/null 2>&1 || return 1
  (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null || return 1
  rabbitmqctl -s list_user_permissions magnum 2>/dev/null </dev/null 8>&- 9>&- |
    grep -qxP '/\t\.\*\t\.\*\t\.\*'
}

setup_rabbitmq() {
  step_begin rabbitmq
  ensure_packages rabbitmq-server procps
  local changed=0
  write_file /etc/rabbitmq/rabbitmq-env.conf 0644 rabbitmq:rabbitmq <<'EOF'
# Written by scripts/setup-services.sh (read by rabbitmq-server and rabbitmqctl).
# A fixed node name that does not depend on the host name resolving.
NODENAME=rabbit@localhost
PID_FILE=/var/lib/rabbitmq/mnesia/rabbit@localhost.pid
# Keep epmd and Erlang distribution (server and CLI) on the loopback interface.
export ERL_EPMD_ADDRESS=127.0.0.1
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF
  changed=$((changed | WROTE))
  write_file /etc/rabbitmq/rabbitmq.conf 0644 rabbitmq:rabbitmq <<'EOF'
# Written by scripts/setup-services.sh: AMQP on loopback only.
listeners.tcp.default = 127.0.0.1:5672
# No management or other plugin listeners (see enabled_plugins).
EOF
  changed=$((changed | WROTE))
  write_file /etc/rabbitmq/enabled_plugins 0644 rabbitmq:rabbitmq <<'EOF'
[].
EOF
  changed=$((changed | WROTE))

  exec 8>>"$RMQ_LOCK"
  flock -w 300 8 || die "lock $RMQ_LOCK busy (a broker restart hanging?)"
  export RABBITMQ_CTL_LOCKED=1
  if "$SCRIPTS/rabbitmq-ctl.sh" status >/dev/null 2>&1; then
    if [ "$changed" = 1 ]; then
      log "configuration changed: restarting"
      run "$SCRIPTS/rabbitmq-ctl.sh" restart
    elif rmq_probe; then
      log "already running, user magnum ok"
      unset RABBITMQ_CTL_LOCKED
      exec 8>&-
      return 0
    else
      run "$SCRIPTS/rabbitmq-ctl.sh" start   # may still be booting: wait for it
    fi
  else
    log "starting rabbitmq-server"
    run "$SCRIPTS/rabbitmq-ctl.sh" start
  fi
  wait_for 30 "AMQP on 127.0.0.1:5672" bash -c 'exec 3<>/dev/tcp/127.0.0.1/5672'
  if rmq_probe; then
    log "user magnum ok"
  else
    log "creating/updating user magnum"
    if rabbitmqctl -s list_users </dev/null 2>>"$STEP_LOG" 8>&- 9>&- | grep -qP '^magnum\t'; then
      run rabbitmqctl change_password magnum magnum
    else
      run rabbitmqctl add_user magnum magnum
    fi
    run rabbitmqctl set_user_tags magnum administrator
    run rabbitmqctl set_permissions -p / magnum '.*' '.*' '.*'
    rmq_probe || die "user magnum has no permissions on vhost /"
  fi
  unset RABBITMQ_CTL_LOCKED
  exec 8>&-
}

# ---- keystone ---------------------------------------------------------------
KS_CONF=/etc/keystone/keystone.conf
KS_DB=/var/lib/keystone/keystone.db
KS_UWSGI_INI=/etc/keystone/uwsgi-magnum-test.ini
KS_PID=/run/keystone/uwsgi.pid
KS_ADMIN_TOKEN=
DEMO_PROJECT_ID=
ALT_PROJECT_ID=

ks_up() { curl -sf -m 3 -o /dev/null "$KS_URL"; }

ks_uwsgi_running() {
  local pid
  pid=$(cat "$KS_PID" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# ks_token USER PASSWORD PROJECT: print the token id, a newline, the token body (JSON).
ks_token() {
  local body hdr tok
  body=$(jq -nc --arg u "$1" --arg p "$2" --arg pr "$3" \
    '{auth:{identity:{methods:["password"],password:{user:{name:$u,domain:{name:"Default"},password:$p}}},
           scope:{project:{name:$pr,domain:{name:"Default"}}}}}')
  hdr=$(mktemp)
  if ! body=$(curl -sS -f -m 15 -D "$hdr" -H 'Content-Type: application/json' -d "$body" \
      "$KS_URL/auth/tokens" 2>/dev/null); then
    rm -f "$hdr"; return 1
  fi
  tok=$(awk 'tolower($1) == "x-subject-token:" { sub(/\r$/, "", $2); print $2 }' "$hdr")
  rm -f "$hdr"
  printf '%s\n%s' "$tok" "$body"
}

# has_role ROLE < token body
has_role() { jq -e --arg r "$1" '[.token.roles[].name] | index($r) != null' >/dev/null; }

# Everything the tests rely on, checked over HTTP (about a second).
ks_probe() {
  command -v curl >/dev/null && command -v jq >/dev/null || return 1
  ks_up || return 1
  # The four logins in parallel (each takes a few hundred ms).
  local d b rc=0 pids=()
  d=$(mktemp -d)
  ks_token admin "$KS_ADMIN_PASSWORD" admin >"$d/admin" & pids+=($!)
  ks_token magnum "$MAGNUM_SERVICE_PASSWORD" service >"$d/magnum" & pids+=($!)
  ks_token demo "$DEMO_PASSWORD" demo >"$d/demo" & pids+=($!)
  ks_token alt "$ALT_PASSWORD" alt >"$d/alt" & pids+=($!)
  wait "${pids[@]}" || true   # only these four; the results are checked below
  {
    b=$(tail -n +2 "$d/admin") && has_role admin <<<"$b" &&
    KS_ADMIN_TOKEN=$(head -n 1 "$d/admin") &&
    b=$(tail -n +2 "$d/magnum") && has_role admin <<<"$b" &&
    b=$(tail -n +2 "$d/demo") && has_role member <<<"$b" &&
    DEMO_PROJECT_ID=$(jq -r .token.project.id <<<"$b") &&
    b=$(tail -n +2 "$d/alt") && has_role member <<<"$b" &&
    ALT_PROJECT_ID=$(jq -r .token.project.id <<<"$b") &&
    b=$(curl -sf -m 10 -H "X-Auth-Token: $KS_ADMIN_TOKEN" "$KS_URL/services?type=container-infra") &&
    jq -e '[.services[] | select(.name == "magnum" and .enabled)] | length == 1' >/dev/null <<<"$b"
  } || rc=1
  rm -rf "$d"
  return "$rc"
}

ks_manage() { (cd / && run runuser -u keystone -- keystone-manage "$@"); }

ks_start() {
  install -d -o keystone -g keystone -m 0755 /run/keystone
  install -d -o keystone -g adm -m 2750 /var/log/keystone
  # daemonize= in the ini: uwsgi detaches (new session, output to its log).
  run /usr/bin/uwsgi-core --ini "$KS_UWSGI_INI"
  wait_for 60 "Keystone on $KS_URL" ks_up
}

ks_stop() {
  local pid
  pid=$(cat "$KS_PID" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  local end=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    [ "$SECONDS" -lt "$end" ] || die "uwsgi (pid $pid) did not stop"
    sleep 0.2
  done
  rm -f "$KS_PID"
}

# openstack CLI as the bootstrap admin.
os_admin() {
  OS_AUTH_URL=$KS_URL OS_IDENTITY_API_VERSION=3 OS_REGION_NAME=$KS_REGION OS_INTERFACE=public \
  OS_USERNAME=admin OS_PASSWORD=$KS_ADMIN_PASSWORD OS_PROJECT_NAME=admin \
  OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default \
    run openstack "$@"
}

ks_set() { # SECTION KEY VALUE: set in keystone.conf if different; sets WROTE
  WROTE=0
  if [ "$(crudini --get "$KS_CONF" "$1" "$2" 2>/dev/null)" != "$3" ]; then
    crudini --set "$KS_CONF" "$1" "$2" "$3"
    WROTE=1
    log "set [$1] $2 in $KS_CONF"
  fi
}

setup_keystone() {
  step_begin keystone
  # The openstack CLI must not pick up credentials from the caller.
  local v
  for v in $(compgen -e | grep '^OS_' || true); do unset "$v"; done
  ensure_packages $(step_packages keystone)

  local changed=0
  ks_set database connection "sqlite:///$KS_DB"; changed=$((changed | WROTE))
  ks_set token provider fernet; changed=$((changed | WROTE))
  write_file "$KS_UWSGI_INI" <<EOF
# Written by scripts/setup-services.sh: Keystone public API on 127.0.0.1:5000.
[uwsgi]
plugins = python3
http-socket = 127.0.0.1:5000
wsgi-file = /usr/bin/keystone-wsgi-public
uid = keystone
gid = keystone
chdir = /var/lib/keystone
master = true
processes = 4
threads = 2
enable-threads = true
lazy-apps = true
thunder-lock = true
need-app = true
die-on-term = true
no-orphans = true
buffer-size = 65535
add-header = Connection: close
pidfile = $KS_PID
daemonize = /var/log/keystone/uwsgi.log
EOF
  changed=$((changed | WROTE))

  if ks_uwsgi_running && ks_up; then
    if [ "$changed" = 1 ]; then
      log "configuration changed: restarting uwsgi"
      ks_stop
    elif ks_probe; then
      log "already running and configured ($KS_URL)"
      return 0
    fi
  elif ks_uwsgi_running; then
    log "uwsgi running but not answering: restarting"
    ks_stop
  fi

  if ! ks_uwsgi_running; then
    log "db_sync ($KS_DB)"
    ks_manage db_sync
    # WAL: readers never wait for a writer (the setting is stored in the file).
    (cd / && runuser -u keystone -- sqlite3 "$KS_DB" 'PRAGMA journal_mode=WAL;') >>"$STEP_LOG" 2>&1
    if [ ! -s /etc/keystone/fernet-keys/0 ]; then
      log "fernet_setup"
      ks_manage fernet_setup --keystone-user keystone --keystone-group keystone
    fi
    if [ ! -s /etc/keystone/credential-keys/0 ]; then
      log "credential_setup"
      ks_manage credential_setup --keystone-user keystone --keystone-group keystone
    fi
    log "starting uwsgi on 127.0.0.1:5000"
    ks_start
  fi
  if ks_probe; then
    log "already configured"
    return 0
  fi

  log "bootstrap (admin user, admin project, RegionOne, identity endpoints)"
  ks_manage bootstrap --bootstrap-password "$KS_ADMIN_PASSWORD" \
    --bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
    --bootstrap-service-name keystone --bootstrap-region-id "$KS_REGION" \
    --bootstrap-admin-url "$KS_URL/" --bootstrap-internal-url "$KS_URL/" \
    --bootstrap-public-url "$KS_URL/"

  log "projects, users, roles and the container-infra service (openstack CLI)"
  os_admin role create --or-show member
  os_admin project create --or-show --domain default --description "Service project" service
  os_admin project create --or-show --domain default --description "Demo project" demo
  os_admin project create --or-show --domain default --description "Second tenant" alt
  local u p proj role
  for u in "magnum:$MAGNUM_SERVICE_PASSWORD:service:admin" "demo:$DEMO_PASSWORD:demo:member" \
           "alt:$ALT_PASSWORD:alt:member"; do
    IFS=: read -r u p proj role <<<"$u"
    os_admin user create --or-show --domain default --password "$p" "$u"
    os_admin user set --password "$p" "$u"
    os_admin role add --project "$proj" --project-domain default --user "$u" --user-domain default "$role"
  done
  if ! os_admin service show container-infra; then
    os_admin service create --name magnum --description "Container Infrastructure Management Service" \
      container-infra
  fi
  ks_probe || die "Keystone set-up incomplete (see var/log/setup-keystone.log)"
  log "configured ($KS_URL; endpoints: scripts/keystone-endpoint.sh URL)"
}

# ---- clients ----------------------------------------------------------------
setup_clients() {
  step_begin clients
  # openssl: the certificate tests check our CA and signed certificates with the real CLI;
  # tmux and zsh: the coe CLI tests capture its live progress in a pane and check zsh completion.
  if pkg_installed python3-openstackclient && pkg_installed python3-magnumclient && pkg_installed openssl && pkg_installed tmux && pkg_installed zsh; then
    log "already installed"
  else
    ensure_packages python3-openstackclient python3-magnumclient openssl tmux zsh
  fi
  local version vpid
  version=$(mktemp)
  openstack --version >"$version" 2>&1 &
  vpid=$!
  run openstack coe cluster list --help || die "'openstack coe cluster list --help' failed"
  wait "$vpid" || die "openstack --version failed: $(cat "$version")"
  version=$(cat "$version"; rm -f "$version")
  log "$version, python3-magnumclient $(dpkg-query -W -f='${Version}' python3-magnumclient); 'openstack coe' works"
}

# ---- docker -----------------------------------------------------------------
# The machine's Docker Engine, for real clusters (node containers that run their
# own dockerd; see scripts/node-image.sh). No init system: dockerd is started
# here in the background (it starts its own containerd) and keeps running.
DOCKER_HOST_URL=unix:///var/run/docker.sock
DOCKER_PID=/var/run/docker.pid
DOCKER_LOG=/var/log/dockerd.log

docker_probe() {
  command -v docker >/dev/null || return 1
  DOCKER_HOST=$DOCKER_HOST_URL timeout 10 docker info --format '{{.ServerVersion}}' \
    </dev/null >/dev/null 2>&1 8>&- 9>&-
}

dockerd_running() {
  local pid
  pid=$(cat "$DOCKER_PID" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -qa dockerd "/proc/$pid/cmdline" 2>/dev/null
}

setup_docker() {
  step_begin docker
  ensure_packages docker.io debootstrap
  if docker_probe; then
    log "already running ($DOCKER_HOST_URL)"
    return 0
  fi
  if dockerd_running; then
    log "dockerd (pid $(cat "$DOCKER_PID")) not answering yet: waiting"
  else
    rm -f "$DOCKER_PID"
    log "starting dockerd (log $DOCKER_LOG)"
    mkdir -p "$(dirname "$DOCKER_LOG")"
    printf '\n===== %s dockerd started by scripts/setup-services.sh\n' "$(date '+%F %T')" >>"$DOCKER_LOG"
    # setsid -f: a new session, not a child of this script (a bare `wait`, as in
    # ks_probe, would otherwise wait for dockerd); no lock fds: it outlives us.
    (cd / && setsid -f dockerd --host "$DOCKER_HOST_URL" --pidfile "$DOCKER_PID" \
      </dev/null >>"$DOCKER_LOG" 2>&1 8>&- 9>&-)
  fi
  local end=$((SECONDS + 90))
  until docker_probe; do
    if [ "$SECONDS" -ge "$end" ]; then
      printf '%s (last lines):\n' "$DOCKER_LOG" >>"$STEP_LOG"
      tail -n 20 "$DOCKER_LOG" >>"$STEP_LOG" 2>/dev/null || true
      die "timed out after 90s waiting for dockerd on $DOCKER_HOST_URL (see $DOCKER_LOG)"
    fi
    sleep 0.3
  done
  log "running: $(DOCKER_HOST=$DOCKER_HOST_URL docker info --format \
    'Docker {{.ServerVersion}}, storage {{.Driver}}, cgroup {{.CgroupDriver}} v{{.CgroupVersion}}' 2>/dev/null)"
}

# ---- chromium ---------------------------------------------------------------
setup_chromium() {
  step_begin chromium
  if pkg_installed chromium; then
    log "already installed"
  else
    ensure_packages chromium
  fi
  run /usr/bin/chromium --headless --no-sandbox --disable-gpu --dump-dom about:blank \
    || die "'chromium --headless --dump-dom about:blank' failed"
  log "$(/usr/bin/chromium --version 2>/dev/null </dev/null)"
}

# ---- var/services.env -------------------------------------------------------
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pg_env() { echo "export MAGNUM_TEST_PG_URL=$PG_URL"; }
my_env() { echo "export MAGNUM_TEST_MYSQL_URL=$MYSQL_URL"; }
rmq_env() { echo "export MAGNUM_TEST_AMQP_URL=$AMQP_URL"; }
docker_env() { echo "export MAGNUM_TEST_DOCKER_HOST=$DOCKER_HOST_URL"; }
ks_env() {
  cat <<EOF
export KEYSTONE_URL=$KS_URL
export KEYSTONE_REGION=$KS_REGION
export KEYSTONE_ADMIN_USER=admin
export KEYSTONE_ADMIN_PROJECT=admin
export KEYSTONE_ADMIN_PASSWORD=$KS_ADMIN_PASSWORD
export MAGNUM_SERVICE_USER=magnum
export MAGNUM_SERVICE_PROJECT=service
export MAGNUM_SERVICE_PASSWORD=$MAGNUM_SERVICE_PASSWORD
export DEMO_USER=demo
export DEMO_PROJECT=demo
export DEMO_PASSWORD=$DEMO_PASSWORD
export DEMO_PROJECT_ID=$DEMO_PROJECT_ID
export ALT_USER=alt
export ALT_PROJECT=alt
export ALT_PASSWORD=$ALT_PASSWORD
export ALT_PROJECT_ID=$ALT_PROJECT_ID
EOF
}

# env_section STEP PORT VARS PROBE PRINT: the lines of one service. A step of
# this invocation: fresh lines. Another one: its lines from the previous file
# while its port still answers (cheap, and immune to a slow moment or a broker
# restart by a test), else fresh lines if its probe passes, else nothing.
env_section() {
  local step=$1 port=$2 vars=$3 probe=$4 print=$5 old=
  if [[ " ${SELECTED_STEPS[*]} " == *" $step "* ]]; then "$print"; return; fi
  [ -f "$ENV_FILE" ] && old=$(grep -E "^export ($vars)=" "$ENV_FILE" || true)
  if [ -n "$old" ] && port_open "$port"; then
    printf '%s\n' "$old"
  elif "$probe"; then
    "$print"
  fi
}

write_env() {
  local out
  STEP=env
  out=$(mktemp "$VAR_DIR/.services.env.XXXXXX")
  {
    echo "# Written by scripts/setup-services.sh; source it: . var/services.env"
    env_section postgres 5432 'MAGNUM_TEST_PG_URL' pg_probe pg_env
    env_section mariadb 3306 'MAGNUM_TEST_MYSQL_URL' my_probe my_env
    env_section rabbitmq 5672 'MAGNUM_TEST_AMQP_URL' rmq_probe rmq_env
    env_section keystone 5000 'KEYSTONE_[A-Z_]+|MAGNUM_SERVICE_[A-Z_]+|DEMO_[A-Z_]+|ALT_[A-Z_]+' ks_probe ks_env
    # Docker listens on a unix socket, not a port: probe it (`docker info`, ~0.1 s).
    if [[ " ${SELECTED_STEPS[*]} " == *" docker "* ]] || docker_probe; then docker_env; fi
  } >"$out"
  if cmp -s "$out" "$ENV_FILE"; then
    rm -f "$out"
  else
    chmod 0644 "$out"
    mv "$out" "$ENV_FILE"
  fi
  log "$(grep -c '^export' "$ENV_FILE") variables in ${ENV_FILE#"$ROOT"/}"
}

# ---- main -------------------------------------------------------------------
main() {
  local steps=() s
  for s in "$@"; do
    case "$s" in
      postgres|mariadb|rabbitmq|keystone|clients|docker|chromium) [[ " ${steps[*]} " == *" $s "* ]] || steps+=("$s") ;;
      -h|--help) sed -n '2,/^set -E/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
      *) echo "usage: $0 [postgres] [mariadb] [rabbitmq] [keystone] [clients] [docker] [chromium]" >&2; exit 2 ;;
    esac
  done
  [ ${#steps[@]} -gt 0 ] || steps=("${ALL_STEPS[@]}")
  [ "$(id -u)" = 0 ] || { echo "[setup] must run as root" >&2; exit 1; }

  mkdir -p "$LOG_DIR"
  # One set-up at a time (parallel test runs may all call this script).
  exec 9>"$VAR_DIR/.setup-services.lock"
  flock -w 900 9 || die "another setup-services.sh is still running"

  # Install every missing package of the chosen steps in one apt-get run.
  local pkgs=()
  for s in "${steps[@]}"; do read -r -a p <<<"$(step_packages "$s")"; pkgs+=("${p[@]}"); done
  STEP=packages
  ensure_packages "${pkgs[@]}"

  for s in "${ALL_STEPS[@]}"; do
    if [[ " ${steps[*]} " == *" $s "* ]]; then "setup_$s"; fi
  done
  SELECTED_STEPS=("${steps[@]}")
  write_env
  STEP=setup
  log "done (${SECONDS}s)"
}

main "$@"
