#!/usr/bin/env bash
# bench_cps_ramp.sh -- the most calls a second the FreeSWITCH path sustains
# end to end: simulator (tests/fssim) -> ESL worker -> journal -> flusher
# -> PostgreSQL. Run by bench/run.sh (private PostgreSQL: DATABASE_URL,
# APOLO_TOP, APOLO_BUILD); release build.
#
# Two engines, each with its own database (bench_esl.sh's: a 10,000-prefix
# deck, 1000 prepaid accounts with an extension each), journal and calls
# table, both up for the whole run, take turns on the same ramp:
#   charged     outbound calls of the extensions: payer, rating,
#               reservation, metering, debit and CDR
#   baseline    inbound calls to the extensions, free: the same protocol,
#               journal records and CDRs, no rating and no money
# A step offers RATE calls a second for RAMP_STEP_SEC seconds (each call
# rings 50 ms and talks 1 s; at most RATE*1.3+500 live, so an engine slow
# to give its verdicts shows as fewer calls started). It holds when
#   - the simulator started at least RAMP_MIN_PCT % of the offered rate,
#   - park-to-verdict p99 (as the simulator timed it) <= RAMP_P99_US,
#   - the journal lag (records appended, not yet drained into PostgreSQL:
#     /metrics apolo_journal_depth) did not grow during the step: median
#     of the last third of the steady part minus median of the first third
#     <= max(RAMP_LAG_SLACK, RATE/4) records,
#   - no call went without a verdict.
# A step that fails is run once more (RAMP_RETRIES) before a ramp stops,
# and a step waits (at most RAMP_QUIET_WAIT s) for a second in which the
# machine was busy less than RAMP_QUIET_CORES: other benchmarks share it.
# The table says how many cores the machine and the step's own processes
# (simulator, apolod, their PostgreSQL backends) used during each step.
# After every step, every call's CDR must be in PostgreSQL, once (the
# simulator's report against cdrs.call_id), or the script exits 1.
# KEEP=1 keeps the folder (logs, /metrics samples, reports).
# Prints
#   BENCH max_sustained_cps                       last rate that held, charged
#   BENCH max_sustained_cps_uncharged_baseline    the same, baseline
#   BENCH cps_ramp_step_<rate>_p99_us             each charged step (last try)
#   BENCH cps_ramp_step_<rate>_engine_p99_us      the same, the engine's share:
#                                                 the ESL worker's own verdict
#                                                 latency (/metrics
#                                                 apolo_esl_verdict_seconds,
#                                                 a bucket bound)
# and a table of every step on stderr. A ramp that never failed prints its
# last rate and says so on stderr ("not reached").
set -uo pipefail
top=${APOLO_TOP:?run through bench/run.sh}
build=${APOLO_BUILD:?run through bench/run.sh}
: "${DATABASE_URL:?run through bench/run.sh}"
case $build in /*) ;; *) build=$top/$build ;; esac
bin=$build/apolod
fssim=$build/fssim
for x in "$bin" "$fssim"; do
  [ -x "$x" ] || { echo "bench_cps_ramp: $x missing (make BUILD=release)" >&2; exit 1; }
done
if [ -n "${BENCH_QUICK:-}" ]; then
  STEPS=${RAMP_STEPS:-"3000 6000 9000 12000 15000 18000 21000 24000"}
  SECS=${RAMP_STEP_SEC:-6}
else
  STEPS=${RAMP_STEPS:-"2000 4000 6000 8000 10000 12000 14000 16000 18000 20000 22000 24000 26000 28000 30000"}
  SECS=${RAMP_STEP_SEC:-12}
fi
P99_MAX=${RAMP_P99_US:-10000}
MIN_PCT=${RAMP_MIN_PCT:-95}
LAG_SLACK=${RAMP_LAG_SLACK:-2000}
RETRIES=${RAMP_RETRIES:-1}
QUIET=${RAMP_QUIET_CORES:-0.5}
if [ -n "${BENCH_QUICK:-}" ]; then QUIET_WAIT=${RAMP_QUIET_WAIT:-10}; else QUIET_WAIT=${RAMP_QUIET_WAIT:-30}; fi
maxrate=0
for r in $STEPS; do [ "$r" -gt "$maxrate" ] && maxrate=$r; done
conc_of() { echo $(($1 * 13 / 10 + 500)); }

work=$(mktemp -d /tmp/apolo-bramp.XXXXXX)
pids=()
dbs=()
# shellcheck disable=SC2317  # (called by the trap)
cleanup() {
  local p d
  exec 4>&2 2>/dev/null          # no "Killed" notices from the shell
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  for d in "${dbs[@]}"; do
    psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1
  done
  if [ -n "${KEEP:-}" ]; then echo "kept $work" >&4; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 143' INT TERM
# A process waited for leaves the list: its pid may be reused by then.
forget() {
  local p keep=()
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  pids=("${keep[@]}")
}
say() { echo "# cps_ramp: $*" >&2; }
die() { echo "bench_cps_ramp: $*" >&2; exit 1; }

dburl_of() {
  if [[ $DATABASE_URL =~ ^(postgres(ql)?://[^/?]*)/([^?]*)(\?.*)?$ ]]; then
    echo "${BASH_REMATCH[1]}/$1${BASH_REMATCH[4]}"
  else
    echo "$DATABASE_URL dbname=$1"
  fi
}
# A TCP port nobody listens on now (other benchmarks run on this machine).
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 12000))
    [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return; }
  done
  echo "$p"
}

seq 20001 21000 | paste -sd, >"$work/exts"
for i in $(seq 0 199); do echo "$((100000 + i * 50))$((1000 + i))"; done |
  paste -sd, >"$work/dests"
seq 5550001 5550200 | paste -sd, >"$work/outside"

# Per engine (baseline, charged): database, ports, folder, pid.
declare -A DBURL ADMIN NODE SUP CUM MAXOK STOPPED CALLERS DESTS

# start_engine NAME CALLERS DESTS: database as bench_esl.sh, then apolod.
start_engine() {
  local name=$1 db=apolo_bench_ramp_${1}_$$ dir=$work/$1 url
  mkdir -p "$dir"
  url=$(dburl_of "$db")
  DBURL[$name]=$url ADMIN[$name]=$(free_port) NODE[$name]=$(free_port)
  CALLERS[$name]=$2 DESTS[$name]=$3 CUM[$name]=0 MAXOK[$name]=0 STOPPED[$name]=
  dbs+=("$db")
  cat >"$dir/apolod.conf" <<EOF
log_level = info
sql_dir = "$top/sql"
journal.path = "$dir/journal"
journal.rings = 4
journal.slots = 262144
region.heap_mb = 64
calls.path = "$dir/calls"
calls.max = $(($(conc_of "$maxrate") + 4096))
admin.listen = "127.0.0.1:${ADMIN[$name]}"
ctl.socket = "$dir/apolod.sock"
supervisor.notify = 0
flush.batch = 20000
${FLUSH_LINGER_MS:+flush.linger_ms = $FLUSH_LINGER_MS}
esl.nodes = "ClueCon@127.0.0.1:${NODE[$name]}"
esl.reconnect_max_ms = 200
EOF
  psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  psql "$DATABASE_URL" -qc "CREATE DATABASE $db" || return 1
  APOLO_DATABASE_URL="$url" "$bin" -c "$dir/apolod.conf" migrate \
    >"$dir/migrate.log" 2>&1 || { cat "$dir/migrate.log" >&2; return 1; }
  psql "$url" -v ON_ERROR_STOP=1 -qAtc "
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
  SELECT (20000 + g)::text, g FROM generate_series(1, 1000) g;" >/dev/null || return 1
  APOLO_DATABASE_URL="$url" "$bin" -c "$dir/apolod.conf" >"$dir/apolod.log" 2>&1 &
  SUP[$name]=$!; pids+=("$!")
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:${ADMIN[$name]}/healthz" >/dev/null 2>&1 && return 0
    kill -0 "${SUP[$name]}" 2>/dev/null || break
    sleep 0.1
  done
  tail -20 "$dir/apolod.log" >&2
  return 1
}

# One line of figures from /metrics: journal depth (all rings), records
# appended, records drained, calls live.
metrics() {
  local m
  m=$(curl -sf --max-time 2 "http://127.0.0.1:${ADMIN[$1]}/metrics") || return 1
  echo "$m" | awk '
    /^apolo_journal_depth\{/ { d += $2 }
    /^apolo_journal_records_total / { r = $2 }
    /^apolo_flusher_records_total / { f = $2 }
    /^apolo_calls_active / { c = $2 }
    END { printf "%d %d %d %d\n", d, r, f, c }'
}

# The worker's verdict latency histogram (/metrics
# apolo_esl_verdict_seconds, cumulative): "bound_us:count ..." in order.
verdicts() {
  curl -sf --max-time 2 "http://127.0.0.1:${ADMIN[$1]}/metrics" | awk '
    /^apolo_esl_verdict_seconds_bucket\{worker="esl-1",/ {
      le = $1; sub(/.*le="/, "", le); sub(/".*/, "", le)
      us = le == "+Inf" ? "inf" : sprintf("%d", le * 1000000 + 0.5)
      printf "%s%s:%s", n++ ? " " : "", us, $2 }
    END { printf "\n" }'
}
# engine_p99 BEFORE AFTER: the bucket bound (us) under which 99% of the
# verdicts between the two histograms fell ("inf": past the last bound).
engine_p99() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    n = split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= n; i++) { split(x[i], p, ":"); split(y[i], q, ":")
      bound[i] = q[1]; d[i] = q[2] - p[2] }
    if (d[n] <= 0) { print "-"; exit }
    for (i = 1; i <= n; i++) if (d[i] >= 0.99 * d[n]) { print bound[i]; exit } }'
}

# CPU, in clock ticks: "busy pid:ticks ..." -- the whole machine's busy
# time (/proc/stat: all but idle and iowait), then utime+stime of each of
# the given pids still alive.
cpu_ticks() {
  local p files=()
  for p in "$@"; do [ -r "/proc/$p/stat" ] && files+=("/proc/$p/stat"); done
  awk 'FNR == 1 && NR == 1 { printf "%d", $2 + $3 + $4 + $7 + $8 + $9; nextfile }
       { pid = $1; sub(/^.*\) /, ""); printf " %s:%d", pid, $12 + $13 }
       END { printf "\n" }' /proc/stat "${files[@]}" 2>/dev/null
}
# The processes of a step: the simulator, apolod and its children, and
# the PostgreSQL backends connected to the engine's database.
own_pids() {
  echo "$1 ${SUP[$2]} $(ps -o pid= --ppid "${SUP[$2]}" | tr '\n' ' ')" \
       "$(psql "${DBURL[$2]}" -qAtc "SELECT pid FROM pg_stat_activity
           WHERE datname = current_database() AND pid <> pg_backend_pid()" |
          tr '\n' ' ')"
}

# The journal lag's growth over the steady part of a step, from the
# samples "t depth appended drained live": the part runs from 1 s after
# the first record of the step was appended to the last sample before its
# last record; growth = median of its last third - median of its first
# third. Prints "growth max_depth samples".
lag_growth() {
  awk -v r0="$2" -v n="$3" '
    function median(lo, hi,   k, m, i, j, t, a) {
      m = 0
      for (k = lo; k <= hi; k++) a[++m] = d[k]
      for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    }
    { t[NR] = $1; dep[NR] = $2; rec[NR] = $3
      if (tA == "" && $3 > r0) tA = $1
      if ($2 > mx) mx = $2 }
    END {
      k = 0
      for (i = 1; i <= NR; i++)
        if (tA != "" && t[i] >= tA + 1 && rec[i] < r0 + n) d[++k] = dep[i]
      if (k < 6) { printf "0 %d %d\n", mx, k; exit }
      third = int(k / 3)
      printf "%d %d %d\n", median(k - third + 1, k) - median(1, third), mx, k
    }' "$1"
}

# verify NAME REPORT CALLS: every call of the report has exactly one CDR,
# and the database holds no other CDR than the calls offered so far.
verify() {
  local name=$1 rep=$2 calls=$3 out
  grep -o '"uuid":"[^"]*"' "$rep" | cut -d'"' -f4 >"$rep.uuids"
  out=$(psql "${DBURL[$name]}" -v ON_ERROR_STOP=1 -qAt 2>&1 <<EOF
CREATE TEMP TABLE step_calls (id text COLLATE "C");
\copy step_calls FROM '$rep.uuids'
SELECT (SELECT count(*) FROM step_calls),
       (SELECT count(*) FROM step_calls s WHERE NOT EXISTS
          (SELECT 1 FROM cdrs c WHERE c.call_id = s.id)),
       (SELECT count(*) FROM cdrs c JOIN step_calls s ON c.call_id = s.id),
       (SELECT count(*) FROM cdrs);
EOF
)
  local offered missing matched total
  IFS='|' read -r offered missing matched total <<<"$out"
  if [ "$offered" != "$calls" ] || [ "$missing" != 0 ] ||
     [ "$matched" != "$calls" ] || [ "$total" != "${CUM[$name]}" ]; then
    echo "bench_cps_ramp: $name: CDRs do not match the calls: report $offered" \
         "calls (expected $calls), $missing without CDR, $matched CDRs for them," \
         "$total in cdrs (expected ${CUM[$name]}): $out" >&2
    return 1
  fi
}

# Other benchmarks share the machine: before a step, wait (at most
# QUIET_WAIT s) for a second in which the machine was busy less than QUIET
# cores. Prints the busy cores of the last second measured.
quiet() {
  local a b ta tb busy waited=0 hz
  hz=$(getconf CLK_TCK)
  while :; do
    ta=$EPOCHREALTIME a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat)
    sleep 1
    tb=$EPOCHREALTIME b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat)
    busy=$(awk -v a="$a" -v b="$b" -v ta="$ta" -v tb="$tb" -v hz="$hz" \
      'BEGIN { printf "%.2f", (b - a) / hz / (tb - ta) }')
    waited=$((waited + 1))
    if awk -v x="$busy" -v q="$QUIET" 'BEGIN { exit !(x < q) }' ||
       [ "$waited" -ge "$QUIET_WAIT" ]; then
      echo "$busy"
      return
    fi
  done
}

# step NAME RATE: one step; sets HELD (1/0) and appends to the table.
declare -A STEP_P99 STEP_EP99
table=$work/table
step() {
  local name=$1 rate=$2 dir=$work/$1 calls conc sim r0 t0 t1 summary
  calls=$((rate * SECS)) conc=$(conc_of "$rate")
  local tag=$dir/step_$rate.$RANDOM before
  before=$(quiet)
  read -r _ r0 _ _ <<<"$(metrics "$name")"
  [ -n "$r0" ] || die "$name: /metrics did not answer"
  local v0; v0=$(verdicts "$name")
  "$fssim" --listen "127.0.0.1:${NODE[$name]}" --quiet --calls "$calls" \
    --cps "$rate" --concurrency "$conc" --ring-ms 50 --talk-ms 1000:1000 \
    --answer-pct 100 --callers "@${CALLERS[$name]}" --dests "@${DESTS[$name]}" \
    --seed "$rate" --park-timeout 30000 --report "$tag.report" \
    >"$tag.sim" 2>"$tag.simerr" &
  sim=$!; pids+=("$sim")
  # Sample the engine until the simulator is done.
  local m own c0 c1
  own=$(own_pids "$sim" "$name")
  # shellcheck disable=SC2086
  c0=$(cpu_ticks $own)
  t0=$EPOCHREALTIME
  while kill -0 "$sim" 2>/dev/null; do
    # shellcheck disable=SC2086
    m=$(metrics "$name") && c1=$(cpu_ticks $own) && echo "$EPOCHREALTIME $m $c1"
    sleep "${RAMP_SAMPLE_SEC:-1}"
  done >"$tag.samples"
  wait "$sim"
  local rc=$?
  forget "$sim"
  [ "$rc" = 0 ] || { cat "$tag.simerr" >&2; die "$name: fssim failed at $rate calls/s"; }
  summary=$(grep '^FSSIM' "$tag.sim" | tr '\n' ' ')
  field() { echo "$summary" | grep -o " $1=[0-9.]*" | cut -d= -f2; }
  local achieved p50 p99 none started
  achieved=$(field cps_achieved) p50=$(field park_to_verdict_p50_us)
  p99=$(field p99_us) none=$(field verdict_none) started=$(field calls)
  if [ -z "$achieved" ] || [ -z "$p99" ] || [ -z "$none" ]; then
    die "$name: no summary from fssim: $summary"
  fi
  # Every call's CDR in PostgreSQL: wait for the flusher, then compare.
  CUM[$name]=$((CUM[$name] + calls))
  t1=$(date +%s%N)
  local n=0
  while :; do
    n=$(psql "${DBURL[$name]}" -qAtc "SELECT count(*) FROM cdrs") || n=0
    [ "$n" -ge "${CUM[$name]}" ] && break
    [ $(($(date +%s%N) - t1)) -gt 180000000000 ] &&
      die "$name: $n CDRs in PostgreSQL 180 s after the step at $rate calls/s, expected ${CUM[$name]}"
    sleep 0.2
  done
  local drain_ms=$((($(date +%s%N) - t1) / 1000000))
  verify "$name" "$tag.report" "$calls" || exit 1
  [ -n "${KEEP:-}" ] || rm -f "$tag.report" "$tag.report.uuids"
  local growth maxd ns slack
  read -r growth maxd ns <<<"$(lag_growth "$tag.samples" "$r0" "$calls")"
  slack=$((rate / 4 > LAG_SLACK ? rate / 4 : LAG_SLACK))
  # Cores busy over the step: the machine, and this step's processes
  # (each one's last sample: the simulator is gone at the end).
  local cpu_all cpu_own
  read -r cpu_all cpu_own <<<"$(awk -v c0="$c0" -v t0="$t0" \
    -v hz="$(getconf CLK_TCK)" '
    BEGIN { n0 = split(c0, a, " ")
            for (i = 2; i <= n0; i++) { split(a[i], q, ":"); first[q[1]] = q[2] } }
    { t = $1; busy = $6; for (i = 7; i <= NF; i++) { split($i, q, ":"); last[q[1]] = q[2] } }
    END {
      dt = t - t0
      if (dt <= 0) { print "0 0"; exit }
      for (p in last) if (p in first) own += last[p] - first[p]
      printf "%.2f %.2f\n", (busy - a[1]) / hz / dt, own / hz / dt }' "$tag.samples")"
  local fail="" note=""
  [ "$started" = "$calls" ] || fail+=" started=$started"
  [ "$((achieved * 100))" -ge "$((rate * MIN_PCT))" ] || fail+=" cps<${MIN_PCT}%"
  [ "$p99" -le "$P99_MAX" ] || fail+=" p99>${P99_MAX}us"
  [ "$growth" -le "$slack" ] || fail+=" lag+$growth"
  [ "$none" = 0 ] || fail+=" no_verdict=$none"
  [ "$ns" -ge 6 ] || note+=" (lag from $ns samples only)"
  awk -v x="$before" -v q="$QUIET" 'BEGIN { exit !(x >= q) }' &&
    note+=" (machine busy before: $before cores)"
  HELD=1
  [ -n "$fail" ] && HELD=0
  STEP_P99[$name.$rate]=$p99
  local ep99; ep99=$(engine_p99 "$v0" "$(verdicts "$name")")
  STEP_EP99[$name.$rate]=$ep99
  printf '%-8s %7d %8s %7s %8s %7s %9s %8s %8s %6d %7s %7s  %s\n' "$name" "$rate" "$achieved" \
    "$p50" "$p99" "$ep99" "$growth" "$maxd" "$drain_ms" "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", b - a }')" \
    "$cpu_all" "$cpu_own" \
    "$([ $HELD = 1 ] && echo held || echo "failed:$fail")$note" >>"$table"
  tail -1 "$table" | sed 's/^/# cps_ramp: /' >&2
}

t_start=$(date +%s)
start_engine baseline "$work/outside" "$work/exts" || die "baseline engine did not start"
start_engine charged "$work/exts" "$work/dests" || die "charged engine did not start"
say "steps of $SECS s: $STEPS calls/s; hold: p99 <= $P99_MAX us, started >= $MIN_PCT %, journal lag not growing; $RETRIES retry; waits <= $QUIET_WAIT s for < $QUIET busy cores"
printf '%-8s %7s %8s %7s %8s %7s %9s %8s %8s %6s %7s %7s  %s\n' mode offered achieved p50_us \
  p99_us eng_p99 lag_grow lag_max drain_ms step_s cpu_all cpu_own verdict >"$table"
head -1 "$table" | sed 's/^/# cps_ramp: /' >&2

# The ramp: at each rate, the baseline's step, then the charged one; a
# ramp stops at its first rate that fails RETRIES+1 times in a row.
for rate in $STEPS; do
  for name in baseline charged; do
    [ -n "${STOPPED[$name]}" ] && continue
    tries=0
    while :; do
      step "$name" "$rate"
      [ "$HELD" = 1 ] && { MAXOK[$name]=$rate; break; }
      tries=$((tries + 1))
      [ "$tries" -gt "$RETRIES" ] && { STOPPED[$name]=1; break; }
    done
  done
  [ -n "${STOPPED[baseline]}" ] && [ -n "${STOPPED[charged]}" ] && break
done
for name in baseline charged; do
  [ -z "${STOPPED[$name]}" ] &&
    say "$name: held at every step up to $maxrate calls/s (maximum not reached; RAMP_STEPS goes higher)"
  kill -TERM "${SUP[$name]}" 2>/dev/null; wait "${SUP[$name]}" 2>/dev/null
  forget "${SUP[$name]}"
done
say "run time $(($(date +%s) - t_start)) s; other load during the steps (cpu_all - cpu_own): $(awk 'NR > 1 { s += $11 - $12; n++ } END { if (n) printf "%.2f", s / n }' "$table") cores on average"

echo "BENCH max_sustained_cps ${MAXOK[charged]} calls/s"
echo "BENCH max_sustained_cps_uncharged_baseline ${MAXOK[baseline]} calls/s"
for rate in $STEPS; do
  [ -n "${STEP_P99[charged.$rate]:-}" ] &&
    echo "BENCH cps_ramp_step_${rate}_p99_us ${STEP_P99[charged.$rate]} us"
  case ${STEP_EP99[charged.$rate]:-} in ''|-|inf) ;; *)
    echo "BENCH cps_ramp_step_${rate}_engine_p99_us ${STEP_EP99[charged.$rate]} us" ;;
  esac
done
exit 0
