#!/usr/bin/env bash
# Start / stop / restart the local RabbitMQ broker that scripts/setup-services.sh
# configured (node rabbit@localhost, AMQP on 127.0.0.1:5672 only).
#   scripts/rabbitmq-ctl.sh start|stop|restart|status
# `restart` is what the AMQP reconnection test uses (about 6-9 s). Needs root.
# start/stop/restart hold a lock, so concurrent callers (parallel tests,
# setup-services.sh) never interleave; setup-services.sh holds the same lock
# itself and sets RABBITMQ_CTL_LOCKED=1. Log: /var/log/rabbitmq/ctl.log.
set -euo pipefail

PID_FILE=/var/lib/rabbitmq/mnesia/rabbit@localhost.pid   # PID_FILE in rabbitmq-env.conf
LOG=/var/log/rabbitmq/ctl.log
LOCK=/run/magnum-rabbitmq-ctl.lock

# The broker's VM (the CLI tools run `-run escript`, the server `-s rabbit boot`).
server_pid() { pgrep -u rabbitmq -f -- '-s rabbit boot' | head -n 1 || true; }
say() { echo "$(date '+%F %T') $*" >>"$LOG"; }

# Launch the broker and print its VM's pid. It runs in the foreground mode, in
# the background and in its own session: unlike `-detached`, early boot errors
# reach $LOG; it inherits none of the caller's stdio or lock fds.
launch() {
  local launcher pid= i
  rm -f "$PID_FILE"
  say "starting rabbitmq-server"
  setsid rabbitmq-server </dev/null >>"$LOG" 2>&1 8>&- 9>&- &
  launcher=$!
  for i in $(seq 100); do
    pid=$(server_pid)
    [ -z "$pid" ] || break
    kill -0 "$launcher" 2>/dev/null || break
    sleep 0.2
  done
  [ -n "$pid" ] && echo "$pid"
}

start() {
  local pid attempt
  for attempt in 1 2; do
    pid=$(server_pid)
    [ -n "$pid" ] || pid=$(launch) || { say "attempt $attempt: no broker VM appeared"; sleep 1; continue; }
    # Returns once the rabbit application runs; fails at once if the VM exits.
    if rabbitmqctl -q wait --pid "$pid" --timeout 90 </dev/null >>"$LOG" 2>&1 8>&- 9>&-; then
      say "running (pid $pid)"
      return 0
    fi
    say "attempt $attempt: broker (pid $pid) did not start"
    sleep 1
  done
  echo "rabbitmq-ctl: the broker did not start; last lines of $LOG:" >&2
  tail -n 25 "$LOG" >&2
  return 1
}

stop() {
  local pid i
  pid=$(server_pid)
  if [ -n "$pid" ]; then
    say "stopping (pid $pid)"
    # `shutdown` returns once the VM has exited; a VM that does not answer gets SIGTERM.
    rabbitmqctl -q shutdown </dev/null >>"$LOG" 2>&1 8>&- 9>&- || kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 150); do
      [ -n "$(server_pid)" ] || break
      sleep 0.2
    done
    [ -z "$(server_pid)" ] || { say "pid $pid still there: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; sleep 1; }
  fi
  rm -f "$PID_FILE"
}

lock() {
  [ "${RABBITMQ_CTL_LOCKED:-}" = 1 ] && return 0
  exec 8>>"$LOCK"
  flock -w 300 8 || { echo "rabbitmq-ctl: lock $LOCK busy" >&2; exit 1; }
}

case "${1:-}" in
  start) lock; start ;;
  stop) lock; stop ;;
  restart) lock; stop; start ;;
  status) if [ -n "$(server_pid)" ]; then echo running; else echo stopped; exit 3; fi ;;
  *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
