#!/usr/bin/env bash
# A private, throwaway PostgreSQL server for the warehouse tests (and for trying target-postgres locally).
#
#   eval "$(scripts/postgres.sh start)"   # installs the Debian package if missing (root only), starts a cluster on
#                                         # 127.0.0.1 on a free port in a temp dir, prints the TARGET_POSTGRES_* exports
#   scripts/postgres.sh stop              # stops it and deletes its data directory
#
# Loopback only (listen_addresses=127.0.0.1, no Unix socket outside the data dir), password auth (scram-sha-256).
# Runs as the `postgres` user when started as root (the server refuses to run as root), else as the caller.
# Everything but the exports goes to stderr, so `eval` sees only the exports.
set -euo pipefail

# /tmp, not $TMPDIR: the `postgres` user must be able to reach the data directory when started as root.
PG_ROOT="${CREATORSOCIAL_PG_ROOT:-/tmp}"
STATE_FILE="${CREATORSOCIAL_PG_STATE:-$PG_ROOT/creatorsocial-postgres.state}"
DB_NAME=creatorsocial
DB_USER=creatorsocial

log() { echo "postgres.sh: $*" >&2; }

pg_bindir() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [[ -x "$dir/initdb" ]] && { echo "$dir"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

install_server() {
  if pg_bindir >/dev/null; then return 0; fi
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    log "no PostgreSQL server binaries (initdb) found; install PostgreSQL (Debian: apt-get install postgresql)"
    return 1
  fi
  log "installing the Debian postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
}

# Run a command as the server's OS user.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  if [[ -f "$STATE_FILE" ]]; then
    log "a server from an earlier start is recorded in $STATE_FILE; stopping it first"
    stop
  fi
  install_server
  local bindir dir port password
  bindir=$(pg_bindir)
  dir=$(mktemp -d "$PG_ROOT/creatorsocial-pg.XXXXXX")
  chmod 0755 "$dir"
  port=$(free_port)
  password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
  printf '%s\n' "$password" > "$dir/pwfile"
  if [[ $(id -u) -eq 0 ]]; then chown -R postgres:postgres "$dir"; fi
  chmod 0600 "$dir/pwfile"

  as_owner "$bindir/initdb" -D "$dir/data" -U "$DB_USER" --pwfile="$dir/pwfile" --auth=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
  rm -f "$dir/pwfile"
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir' -c fsync=off" >&2
  PGPASSWORD="$password" "$bindir/psql" -h 127.0.0.1 -p "$port" -U "$DB_USER" -d postgres -qAt \
    -c "create database $DB_NAME" >&2

  {
    echo "PG_DIR=$dir"
    echo "PG_BINDIR=$bindir"
  } > "$STATE_FILE"
  log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data: $dir/data)"
  cat <<EOF
export TARGET_POSTGRES_HOST=127.0.0.1
export TARGET_POSTGRES_PORT=$port
export TARGET_POSTGRES_USER=$DB_USER
export TARGET_POSTGRES_PASSWORD=$password
export TARGET_POSTGRES_DATABASE=$DB_NAME
EOF
}

stop() {
  [[ -f "$STATE_FILE" ]] || { log "nothing to stop ($STATE_FILE not found)"; return 0; }
  local PG_DIR PG_BINDIR
  # shellcheck disable=SC1090
  source "$STATE_FILE"
  if [[ -d "$PG_DIR/data" ]]; then
    as_owner "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >&2 || true
  fi
  rm -rf "$PG_DIR" "$STATE_FILE"
  log "stopped and removed $PG_DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  install) install_server ;;
  *) echo "usage: $0 start|stop|install" >&2; exit 2 ;;
esac
