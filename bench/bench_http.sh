#!/usr/bin/env bash
# bench_http.sh -- the HTTP API under load: GET /api/v1/authorize (session
# check, payer, account, rating against the headroom, JSON answer) against
# GET /healthz (the near-empty handler: what civetweb, the routing and the
# connection cost alone) on the same server, in the same run.
# Run by bench/run.sh (private PostgreSQL: DATABASE_URL, APOLO_TOP,
# APOLO_BUILD).
#
# A release apolod with a fresh database: a plan whose deck has 10,000
# prefixes (as bench_esl.sh), 1000 prepaid accounts with an extension each,
# a viewer's bearer token. wrk on keep-alive connections (HTTP_THREADS
# threads, HTTP_CONNS connections, HTTP_SECS seconds; BENCH_QUICK=1: 3 s),
# one run per endpoint; authorize varies caller and callee on every
# request (bench/bench_http.lua). Prints
#   BENCH http_authorize_per_sec      requests a second answered 200
#   BENCH http_authorize_p99_ms       99th percentile of the latency
#   BENCH http_empty_per_sec          the same for GET /healthz
#   BENCH http_empty_p99_ms
#   BENCH http_authorize_vs_empty     the ratio of the two rates
# Exits 1 if any answer is not 200 or a socket error happens.
set -uo pipefail
top=${APOLO_TOP:?run through bench/run.sh}
build=${APOLO_BUILD:?run through bench/run.sh}
: "${DATABASE_URL:?run through bench/run.sh}"
case $build in /*) ;; *) build=$top/$build ;; esac
bin=$build/apolod
if [ -n "${BENCH_QUICK:-}" ]; then SECS=${HTTP_SECS:-3}; else SECS=${HTTP_SECS:-10}; fi
THREADS=${HTTP_THREADS:-2}
CONNS=${HTTP_CONNS:-32}

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "# bench_http: installing wrk" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null 2>&1
  fi
  command -v wrk >/dev/null ||
    { echo "bench_http: wrk is not installed (Debian: apt-get install wrk)" >&2; exit 1; }
fi

work=$(mktemp -d /tmp/apolo-bhttp.XXXXXX)
db=apolo_bench_http_$$
conf=$work/apolod.conf
port=$((20000 + RANDOM % 12000))
base=http://127.0.0.1:$port
sup=""
cleanup() {
  if [ -n "$sup" ]; then
    kill -TERM "$sup" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$sup" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$sup" 2>/dev/null
  fi
  psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' INT TERM
if [[ $DATABASE_URL =~ ^(postgres(ql)?://[^/?]*)/([^?]*)(\?.*)?$ ]]; then
  dburl="${BASH_REMATCH[1]}/$db${BASH_REMATCH[4]}"
else
  dburl="$DATABASE_URL dbname=$db"
fi
export APOLO_DATABASE_URL=$dburl
sql() { psql "$dburl" -v ON_ERROR_STOP=1 -qAtc "$1"; }

cat >"$conf" <<EOF
log_level = warn
sql_dir = "$top/sql"
journal.path = "$work/journal"
journal.rings = 4
journal.slots = 4096
region.heap_mb = 64
calls.path = "$work/calls"
calls.max = 1024
admin.listen = "127.0.0.1:$port"
ctl.socket = "$work/apolod.sock"
supervisor.notify = 0
EOF

psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
psql "$DATABASE_URL" -qc "CREATE DATABASE $db" || exit 1
"$bin" -c "$conf" migrate >"$work/migrate.log" 2>&1 ||
  { cat "$work/migrate.log" >&2; echo "bench_http: migrate failed" >&2; exit 1; }
sql "
INSERT INTO rate_plans (id, name, currency, time_zone, rounding, number_rules)
  VALUES (1, 'bench', 'USD', 'UTC', 'up', '');
INSERT INTO zones (id, code, name) VALUES (1, 'Z', 'Zone');
INSERT INTO deck_versions (plan_id, version, actor) VALUES (1, 1, 'bench');
INSERT INTO rates (plan_id, prefix, zone_id, rate_per_minute, connection_fee,
                   first_increment, next_increment, effective_from, deck_version)
SELECT 1, (100000 + g)::text, 1, 10000 + g, 0, 1, 1, '2024-01-01', 1
  FROM generate_series(0, 9999) g;
INSERT INTO accounts (id, code, name, type, balance, credit_limit, currency, plan_id)
SELECT g, 'B' || g, 'bench ' || g, 'prepaid', 1000000000000, 0, 'USD', 1
  FROM generate_series(1, 1000) g;
INSERT INTO extensions (number, account_id)
SELECT (20000 + g)::text, g FROM generate_series(1, 1000) g;" >/dev/null ||
  { echo "bench_http: database setup failed" >&2; exit 1; }
printf 'bench-viewer-pw\n' | "$bin" -c "$conf" user add benchview viewer \
  >"$work/user.log" 2>&1 ||
  { cat "$work/user.log" >&2; echo "bench_http: user add failed" >&2; exit 1; }

"$bin" -c "$conf" >"$work/apolod.log" 2>&1 &
sup=$!
for _ in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz")" = 200 ] && break
  sleep 0.1
done
token=$(curl -s -X POST -H 'Content-Type: application/json' \
          -d '{"username": "benchview", "password": "bench-viewer-pw"}' \
          "$base/api/v1/login" | jq -r '.token // empty')
[ -n "$token" ] || { echo "bench_http: login failed" >&2; tail -20 "$work/apolod.log" >&2; exit 1; }
# One request by hand: the endpoint answers and authorizes.
ans=$(curl -s -H "Authorization: Bearer $token" \
        "$base/api/v1/authorize?caller=20001&callee=10000012345")
[ "$(echo "$ans" | jq -r .can_call)" = true ] ||
  { echo "bench_http: authorize answers $ans" >&2; exit 1; }

# wrk_run NAME PATH: one measured run; sets $rps and $p99_ms
wrk_run() {
  local name=$1 path=$2 line
  APOLO_TOKEN=$token APOLO_WRK_MODE=$name \
    wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency -s "$top/bench/bench_http.lua" \
      "$base$path" >"$work/$name.wrk" 2>&1
  line=$(grep '^WRK ' "$work/$name.wrk")
  [ -n "$line" ] || { cat "$work/$name.wrk" >&2; return 1; }
  echo "# $name: $line" >&2
  local bad
  bad=$(echo "$line" | awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "=");
          if ((kv[1] == "non2xx" || kv[1] ~ /^err_/) && kv[2] > 0) print $i } }')
  [ -z "$bad" ] || { echo "bench_http: $name: $bad" >&2; return 1; }
  rps=$(echo "$line" | grep -o 'rps=[0-9.]*' | cut -d= -f2)
  p99_ms=$(echo "$line" | grep -o 'p99_us=[0-9.]*' | cut -d= -f2 |
           awk '{ printf "%.2f", $1 / 1000 }')
}

status=0
wrk_run empty /healthz || status=1
empty_rps=$rps empty_p99=$p99_ms
wrk_run authorize /api/v1/authorize || status=1
[ $status -eq 0 ] || exit 1
echo "BENCH http_authorize_per_sec $rps req/s"
echo "BENCH http_authorize_p99_ms $p99_ms ms"
echo "BENCH http_empty_per_sec $empty_rps req/s"
echo "BENCH http_empty_p99_ms $empty_p99 ms"
awk -v a="$rps" -v e="$empty_rps" \
  'BEGIN { if (e > 0) printf "BENCH http_authorize_vs_empty %.2f x\n", a / e }'
