#!/usr/bin/env bash
# Start / stop / restart the local RabbitMQ broker that scripts/setup-services.sh
# configured (node rabbit@localhost, AMQP on 127.0.0.1:5672 only).
#   scripts/rabbitmq-ctl.sh start|stop|restart|status
# `restart` is what the AMQP reconnection test uses. Needs root (rabbitmqctl
# reads the Erlang cookie of user rabbitmq).
set -euo pipefail

PID_FILE=/var/lib/rabbitmq/mnesia/rabbit@localhost.pid   # PID_FILE in rabbitmq-env.conf
LOG=/var/log/rabbitmq/ctl.log

running() {
  local pid
  pid=$(cat "$PID_FILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && grep -qa beam "/proc/$pid/cmdline" 2>/dev/null
}

start() {
  running && return 0
  # setsid + closed stdio: the broker must not hold the caller's terminal,
  # pipes or lock files open.
  setsid rabbitmq-server -detached </dev/null >>"$LOG" 2>&1
  rabbitmqctl -q wait --timeout 90 "$PID_FILE" </dev/null >>"$LOG" 2>&1
}

stop() {
  running || return 0
  # `shutdown` blocks until the Erlang VM has exited.
  rabbitmqctl -q shutdown </dev/null >>"$LOG" 2>&1
  rm -f "$PID_FILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) if running; then echo running; else echo stopped; exit 3; fi ;;
  *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
