#!/usr/bin/env bash
# run.sh -- `make run`: ApoloBilling in the foreground, for a demo or for
# development. Usage: engine/run.sh [build/debug]
#
#   1. PostgreSQL: $DATABASE_URL if set, else a private server under
#      var/pg (tests/pg.sh; port $APOLO_PGPORT, default 54329), stopped
#      again when this script ends
#   2. var/apolod.conf written on first run (journal and ctl socket in var/)
#   3. migrations (apolod migrate), then engine/demo.sql if the database
#      has no rate plan yet
#   3b. a first user "admin" with a random password (var/admin-password)
#   4. no FreeSWITCH configured (esl.nodes neither in var/apolod.conf nor
#      in APOLO_ESL_NODES): the simulator (tests/fssim) plays one, with a
#      few random calls a second from the demo extensions, so that calls
#      flow through the ESL worker (its report: var/fssim.log)
#   5. apolod in the foreground; Ctrl-C stops it cleanly (the supervisor
#      stops its children and exits 0), then the simulator and the private
#      PostgreSQL stop
#
# While it runs, from another terminal:
#   build/debug/apolod -c var/apolod.conf ctl status
#   build/debug/apolod -c var/apolod.conf ctl reload
#   APOLO_LOADGEN_COUNT=1 APOLO_LOADGEN_RATE=20 make run   # synthetic calls
set -euo pipefail
out=${1:-build/debug}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bin=$top/$out/apolod
var=$top/var
mkdir -p "$var"

pg_started=0
sim=""
cleanup() {
  if [ -n "$sim" ]; then kill "$sim" 2>/dev/null; wait "$sim" 2>/dev/null; fi
  if [ "$pg_started" = 1 ]; then
    tests/pg.sh stop "$var/pg" && echo "run.sh: PostgreSQL (var/pg) stopped"
  fi
}
trap cleanup EXIT

if [ -z "${DATABASE_URL:-}" ]; then
  export APOLO_PGPORT=${APOLO_PGPORT:-54329}
  eval "$(tests/pg.sh start "$var/pg")"
  pg_started=1
  echo "run.sh: PostgreSQL under var/pg, $DATABASE_URL"
fi

conf=$var/apolod.conf
if [ ! -f "$conf" ]; then
  cat >"$conf" <<EOF
# Written by engine/run.sh for \`make run\`; edit freely (apolod --keys).
# database_url comes from the environment (DATABASE_URL).
log_level = info
sql_dir = "$top/sql"
journal.path = "$var/journal"
calls.path = "$var/calls"
ctl.socket = "$var/apolod.sock"
admin.listen = 127.0.0.1:8080
region.heap_mb = 256
journal.slots = 16384
loadgen.count = 0
EOF
  echo "run.sh: wrote $conf"
fi

"$bin" -c "$conf" migrate
plans=$(psql "$DATABASE_URL" -qAtc "SELECT count(*) FROM rate_plans")
if [ "$plans" = 0 ]; then
  psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -1 -q -f engine/demo.sql
  echo "run.sh: demo deck loaded (engine/demo.sql)"
fi

# A first user for the dashboard and the API, once: "admin" with a random
# password, written to var/admin-password (mode 0600) and shown here.
users=$(psql "$DATABASE_URL" -qAtc "SELECT count(*) FROM users")
if [ "$users" = 0 ]; then
  pw=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
  (umask 077; printf '%s\n' "$pw" >"$var/admin-password")
  printf '%s\n' "$pw" | "$bin" -c "$conf" user add admin admin >/dev/null &&
    echo "run.sh: created user admin, password $pw (also in $var/admin-password)"
fi

if [ -z "${APOLO_ESL_NODES:-}" ] && ! grep -q '^ *esl\.nodes' "$conf"; then
  port=${APOLO_FSSIM_PORT:-8021}
  "$top/$out/fssim" --listen "127.0.0.1:$port" --quiet --calls 100000000 \
    --cps "${APOLO_FSSIM_CPS:-2}" --concurrency 50 --ring-ms 2000 \
    --talk-ms 5000:90000 --answer-pct 80 \
    --callers 1001,1002,1003,2001,3001 \
    --dests 541143210000,5491155551234,542214567890,5511987654321,34912345678,15551234567 \
    >"$var/fssim.log" 2>&1 &
  sim=$!
  export APOLO_ESL_NODES="ClueCon@127.0.0.1:$port"
  echo "run.sh: no FreeSWITCH configured: the simulator plays one on" \
       "127.0.0.1:$port (${APOLO_FSSIM_CPS:-2} calls/s; var/fssim.log)"
fi

echo "run.sh: starting $bin -c $conf (Ctrl-C stops it)"
echo "run.sh: the dashboard: http://127.0.0.1:8080/ui/ (user admin;" \
     "password in $var/admin-password)"
set +e
"$bin" -c "$conf"
rc=$?
echo "run.sh: apolod exited with $rc"
exit $rc
