#!/usr/bin/env bash
# bench_deck_import.sh -- a rate deck imported through the API
# (POST /api/v1/plans/{id}/deck, admin/api_plans.c) against a plain
# `psql \copy` of the same rows into a scratch table, in the same run.
# Run by bench/run.sh (private PostgreSQL: DATABASE_URL, APOLO_TOP,
# APOLO_BUILD).
#
# A release apolod with a fresh database, one plan, one zone; a generated
# CSV of 1M rows (BENCH_QUICK=1: 100k; figures then named _100k_) in the
# carriers' shape (prefix, zone, rate_per_minute, increment). Prints
#   BENCH deck_import_1m_rows_sec       wall time of the POST: read, parse,
#                                       validate, COPY + classify + insert,
#                                       COMMIT and the reload that makes the
#                                       deck live in the region
#   BENCH deck_import_psql_copy_1m_sec  \copy of the same file into an
#                                       unindexed scratch table (the floor)
# Exits 1 if the import is not answered 201.
set -uo pipefail
top=${APOLO_TOP:?run through bench/run.sh}
build=${APOLO_BUILD:?run through bench/run.sh}
: "${DATABASE_URL:?run through bench/run.sh}"
case $build in /*) ;; *) build=$top/$build ;; esac
bin=$build/apolod
if [ -n "${BENCH_QUICK:-}" ]; then N=100000; tag=100k; else N=1000000; tag=1m; fi

work=$(mktemp -d /tmp/apolo-bdeck.XXXXXX)
db=apolo_bench_deck_$$
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
psql "$DATABASE_URL" -qc "CREATE DATABASE $db" || exit 1
sql() { psql "$dburl" -v ON_ERROR_STOP=1 -qAtc "$1"; }

cat >"$conf" <<EOC
log_level = warn
sql_dir = "$top/sql"
journal.path = "$work/journal"
journal.rings = 4
journal.slots = 1024
region.heap_mb = 512
region.max_accounts = 100
calls.path = "$work/calls"
calls.max = 64
admin.listen = "127.0.0.1:$port"
admin.threads = 2
ctl.socket = "$work/apolod.sock"
supervisor.notify = 0
EOC
"$bin" -c "$conf" migrate >"$work/migrate.log" 2>&1 ||
  { cat "$work/migrate.log" >&2; exit 1; }
sql "INSERT INTO rate_plans (id, name, currency) VALUES (1, 'bench', 'USD');
     INSERT INTO zones (id, code, name) VALUES (1, 'WORLD', 'World');" >/dev/null || exit 1
pw='bench-admin-secret'
printf '%s\n' "$pw" | "$bin" -c "$conf" user add adm admin >/dev/null 2>&1 || exit 1

awk -v n="$N" 'BEGIN { print "prefix,zone,rate_per_minute,increment";
  for (i = 0; i < n; i++) printf "%d,WORLD,0.%06d,60/6\n", 10000000 + i, i % 999983 }' \
  >"$work/deck.csv"
echo "# bench_deck_import: $N rows, $(($(stat -c %s "$work/deck.csv") / 1048576)) MB" >&2

"$bin" -c "$conf" >"$work/apolod.log" 2>&1 &
sup=$!
for _ in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz")" = 200 ] && break
  sleep 0.1
done
tok=$(curl -s -X POST -d "{\"username\": \"adm\", \"password\": \"$pw\"}" \
  "$base/api/v1/login" | jq -r '.token // empty')
[ -n "$tok" ] || { echo "bench_deck_import: login failed" >&2; exit 1; }

t0=$(date +%s.%N)
code=$(curl -s -o "$work/body" -w '%{http_code}' -X POST \
  -H "Authorization: Bearer $tok" -H 'Content-Type: text/csv' -H 'Expect:' \
  --data-binary "@$work/deck.csv" "$base/api/v1/plans/1/deck")
t1=$(date +%s.%N)
[ "$code" = 201 ] ||
  { echo "bench_deck_import: $code $(head -c 300 "$work/body")" >&2; exit 1; }
echo "# $(jq -c '{rows, seconds_parse, seconds_copy, seconds_reload}' "$work/body")" >&2

sql "CREATE TABLE scratch (prefix text, zone text, rate text, inc text)" || exit 1
t2=$(date +%s.%N)
psql "$dburl" -qc "\\copy scratch FROM '$work/deck.csv' WITH (FORMAT csv, HEADER)" || exit 1
t3=$(date +%s.%N)

printf 'BENCH deck_import_%s_rows_sec %.2f s\n' "$tag" "$(echo "$t1 - $t0" | bc)"
printf 'BENCH deck_import_psql_copy_%s_sec %.2f s\n' "$tag" "$(echo "$t3 - $t2" | bc)"
