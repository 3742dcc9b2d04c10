#!/usr/bin/env bash
# A private PostgreSQL for the tests and for `make run`.
#
#   tests/pg.sh start DIR   initdb into DIR (if empty) and start a server that
#                           listens only on a unix socket in DIR; prints the
#                           environment to use it (eval "$(tests/pg.sh start d)")
#   tests/pg.sh stop DIR    stop it (fast shutdown)
#
# PostgreSQL refuses to run as root, so when we are root the cluster is owned
# by and run as the postgres user. The Debian cluster on port 5432 is never
# touched.
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?folder}
bin=$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || true)
[ -n "$bin" ] || { echo "pg.sh: PostgreSQL 15 server binaries not found" >&2; exit 1; }
port=${APOLO_PGPORT:-54329}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case $cmd in
start)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ "$(id -u)" = 0 ] && chown postgres: "$dir" && chmod 700 "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
      --no-locale >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-k $dir -c listen_addresses='' -p $port -c fsync=off \
          -c synchronous_commit=off -c full_page_writes=off \
          -c max_connections=200 -c shared_buffers=256MB" start >/dev/null ||
      { cat "$dir/server.log" >&2; exit 1; }
  fi
  as_owner "$bin/psql" -h "$dir" -p "$port" -U postgres -qAt \
    -c "SELECT 1 FROM pg_database WHERE datname='apolo'" | grep -q 1 ||
    as_owner "$bin/createdb" -h "$dir" -p "$port" -U postgres apolo
  echo "export PGHOST='$dir' PGPORT=$port PGUSER=postgres PGDATABASE=apolo"
  echo "export DATABASE_URL='postgresql:///apolo?host=$dir&port=$port&user=postgres'"
  ;;
stop)
  [ -f "$dir/data/postmaster.pid" ] || exit 0
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
