#!/usr/bin/env bash
# bench_esl.sh -- the FreeSWITCH path end to end: simulator (tests/fssim)
# -> ESL worker -> journal -> flusher -> PostgreSQL CDRs and ledger.
# Run by bench/run.sh (private PostgreSQL: DATABASE_URL, APOLO_TOP,
# APOLO_BUILD).
#
# Two runs in the same conditions, offered the same load (ESL_CPS calls a
# second, at most ESL_CONC live, ESL_CALLS calls, 1 s of talk):
#   charged     outbound calls of 1000 prepaid extensions: payer, rating,
#               reservation, metering, debit and CDR
#   baseline    inbound calls to the same extensions, free: the same
#               protocol, journal and CDRs, no rating and no money
# and prints
#   BENCH esl_cps                       calls a second started and
#                                       authorized (charged run)
#   BENCH esl_cps_uncharged_baseline    the same for the baseline
#   BENCH esl_park_to_verdict_p50_us / _p99_us   as the simulator timed it
#   BENCH esl_events_per_sec            events the worker took in
#   BENCH hangup_to_cdr_in_pg_p99_ms    hangup (FreeSWITCH time) to the
#                                       flusher's commit (inserted_at)
set -uo pipefail
top=${APOLO_TOP:?run through bench/run.sh}
build=${APOLO_BUILD:?run through bench/run.sh}
: "${DATABASE_URL:?run through bench/run.sh}"
case $build in /*) ;; *) build=$top/$build ;; esac
bin=$build/apolod
fssim=$build/fssim
if [ -n "${BENCH_QUICK:-}" ]; then
  CALLS=${ESL_CALLS:-20000} CPS=${ESL_CPS:-5000}
else
  CALLS=${ESL_CALLS:-100000} CPS=${ESL_CPS:-10000}
fi
CONC=${ESL_CONC:-12000}
work=$(mktemp -d /tmp/apolo-besl.XXXXXX)
db=apolo_bench_esl_$$
conf=$work/apolod.conf
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
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
sql() { psql "$dburl" -v ON_ERROR_STOP=1 -qAtc "$1"; }

cat >"$conf" <<EOF
log_level = info
sql_dir = "$top/sql"
journal.path = "$work/journal"
journal.rings = 4
journal.slots = 262144
region.heap_mb = 64
calls.path = "$work/calls"
calls.max = $((CONC + 4096))
admin.listen = "127.0.0.1:$((20000 + RANDOM % 12000))"
ctl.socket = "$work/apolod.sock"
supervisor.notify = 0
flush.batch = 20000
EOF

# One database per run, the same content: a plan whose deck has 10,000
# prefixes, 1000 prepaid accounts with an extension each.
setup_db() {
  psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  psql "$DATABASE_URL" -qc "CREATE DATABASE $db" || return 1
  APOLO_DATABASE_URL="$dburl" "$bin" -c "$conf" migrate >"$work/migrate.log" 2>&1 || return 1
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
  SELECT (20000 + g)::text, g FROM generate_series(1, 1000) g;" >/dev/null
}

seq 20001 21000 | paste -sd, >"$work/exts"
for i in $(seq 0 199); do echo "$((100000 + i * 50))$((1000 + i))"; done |
  paste -sd, >"$work/dests"
seq 5550001 5550200 | paste -sd, >"$work/outside"

# run NAME CALLERS DESTS: one measured run; sets $summary and $lat_ms
run() {
  local name=$1 callers=$2 dests=$3 port t0
  setup_db || { echo "bench_esl: database setup failed" >&2; return 1; }
  "$fssim" --listen 127.0.0.1:0 --quiet --calls "$CALLS" --cps "$CPS" \
    --concurrency "$CONC" --ring-ms 50 --talk-ms 1000:1000 --answer-pct 100 \
    --callers "@$callers" --dests "@$dests" --seed 7 --park-timeout 30000 \
    >"$work/$name.sim" 2>"$work/$name.simerr" &
  local sim=$!; pids+=("$sim")
  for _ in $(seq 1 50); do
    port=$(grep -o 'FSSIM listening [0-9]*' "$work/$name.sim" | grep -o '[0-9]*$')
    [ -n "$port" ] && break; sleep 0.1
  done
  # A journal and a calls table per run: each run has its own database.
  env APOLO_DATABASE_URL="$dburl" APOLO_ESL_NODES="ClueCon@127.0.0.1:$port" \
    APOLO_JOURNAL_PATH="$work/$name.journal" APOLO_CALLS_PATH="$work/$name.calls" \
    "$bin" -c "$conf" >"$work/$name.log" 2>&1 &
  local sup=$!; pids+=("$sup")
  if [ -n "${ESL_PERF:-}" ] && [ "$name" = charged ]; then
    sleep 2
    esl=$(grep -o 'esl-1 started, pid [0-9]*' "$work/$name.log" | grep -o '[0-9]*$')
    perf record -g -o "$work/perf.data" -p "$esl" -- sleep 5 >/dev/null 2>&1 &
  fi
  wait "$sim"
  summary=$(grep '^FSSIM' "$work/$name.sim" | tr '\n' ' ')
  # Everything in PostgreSQL (the flusher drains in batches).
  t0=$(date +%s)
  while [ "$(sql "SELECT count(*) FROM cdrs")" -lt "$CALLS" ] &&
        [ $(($(date +%s) - t0)) -lt 120 ]; do sleep 0.5; done
  lat_ms=$(sql "SELECT round(percentile_cont(0.99) WITHIN GROUP (ORDER BY
                  extract(epoch FROM inserted_at - end_at) * 1000))::bigint FROM cdrs")
  events=$(grep -o '[0-9]* events' "$work/$name.log" | head -1 | grep -o '^[0-9]*')
  kill -TERM "$sup"; wait "$sup"
  grep -o 'stopping: .*' "$work/$name.log" | head -1 | sed "s/^/# $name: /" >&2
  echo "# $name: $summary" >&2
}
field() { echo "$summary" | grep -o "$1=[0-9.]*" | cut -d= -f2; }

run baseline "$work/outside" "$work/exts" || exit 1
base_cps=$(field cps_achieved)
run charged "$work/exts" "$work/dests" || exit 1
elapsed=$(field create_span_ms)
echo "BENCH esl_cps $(field cps_achieved) calls/s"
echo "BENCH esl_cps_uncharged_baseline $base_cps calls/s"
echo "BENCH esl_park_to_verdict_p50_us $(field park_to_verdict_p50_us) us"
echo "BENCH esl_peak_live_calls $(field peak_live) calls"
echo "BENCH esl_park_to_verdict_p99_us $(field p99_us) us"
echo "BENCH esl_events_per_sec $(awk -v e="$(field events_sent)" -v t="$(field elapsed_ms)" 'BEGIN { if (t > 0) printf "%.0f", e * 1000 / t }') events/s"
echo "BENCH hangup_to_cdr_in_pg_p99_ms $lat_ms ms"
: "$elapsed"
