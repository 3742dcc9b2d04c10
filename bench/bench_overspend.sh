#!/usr/bin/env bash
# bench_overspend.sh -- issue 8: 64 concurrent calls on ONE prepaid account,
# end to end (simulator tests/fssim -> ESL worker(s) -> journal -> flusher
# -> PostgreSQL), until its money runs out. Does the account ever spend a
# micro-unit more than it had? Run by bench/run.sh (private PostgreSQL:
# DATABASE_URL, APOLO_TOP, APOLO_BUILD).
#
# Rounds, each with a fresh database, journal and calls table, 64 calls
# live at most, calls offered far faster than they end (1 s / 1 s
# increments, esl.debit_interval_sec 1 or 2: the reservation is extended
# every second or two while a call talks):
#   r1        one node, one account, 64 extensions on it; the balance pays
#             for about half of the calls offered: funded, then cut, then
#             refused
#   r2        two nodes (two fssim, two ESL worker processes, 32 live
#             calls each) on the same account, so reservations race across
#             processes; a credit limit; a price per minute that is not a
#             multiple of 60 (every cost rounded up)
#   r3        one node, long calls (1-10 s) on a small balance topped up
#             through the HTTP API (0.02 a recharge, back to back 100 ms
#             apart, about 6 a second here; journaled by the admin process,
#             so credits race the worker's reservations) at a fifth of what
#             64 live calls burn: the balance hits zero again and again,
#             calls are cut and refused all through the run
#   baseline  r1's load on 64 accounts with plenty of money, one extension
#             each: no contention on one account, overspend impossible
# After each round: wait until every call has its CDR in PostgreSQL, stop
# apolod, then check in PostgreSQL (accounts, ledger, cdrs):
#   conservation   opening + recharges - final balance = sum of CDR costs
#                  = - sum of call_debit ledger rows; one CDR per call
#                  offered; no CDR flagged unbilled (0x40)
#   overspend      max(0, sum of CDR costs - (opening + recharges + credit
#                  limit)) and max(0, -credit_limit - lowest balance_after
#                  in the ledger), whichever is larger (the second catches a
#                  dip below the limit that a later recharge covered)
# and prints, per round and in total:
#   BENCH overspend_micro_units          must be 0 (exit 1 otherwise, or
#                                        when a conservation check fails)
#   BENCH overspend_calls_authorized / _refused / _cut   from the simulator
#                                        report (cut: answered, then ended
#                                        by our uuid_kill or the fail-safe
#                                        sched_hangup)
#   BENCH overspend_cut_late_max_ms      worst delay from the end of a cut
#                                        call's paid seconds to its hangup
#                                        (>= 500 ms bills one more second
#                                        than was reserved)
#   BENCH overspend_<round>_cps          calls started per second
#   BENCH overspend_r1_funded_cps        r1 until its first refusal
#   BENCH overspend_baseline_cps         the baseline, same load
#   BENCH overspend_funded_cps_vs_baseline   the two above
#   BENCH overspend_r1_/baseline_park_to_verdict_p50_us   simulator's timing
# BENCH_QUICK=1: a third of the calls, a sixth in r3 (about 55 s instead
# of 2 min 20 s).
# KEEP=1 keeps the work folder (logs, reports, per-call joins).
# OVERSPEND_PROBE=reorder|stall runs, instead of the rounds, one of the two
# scenarios that DO overspend (a call whose CHANNEL_ANSWER the worker does
# not see before its hangup; the ESL worker stopped for 4 s at the end of
# the money): see the probes below; they exit 1 with the overspend.
set -uo pipefail
top=${APOLO_TOP:?run through bench/run.sh}
build=${APOLO_BUILD:?run through bench/run.sh}
: "${DATABASE_URL:?run through bench/run.sh}"
case $build in /*) ;; *) build=$top/$build ;; esac
bin=$build/apolod
fssim=$build/fssim
for t in "$bin" "$fssim"; do
  [ -x "$t" ] || { echo "bench_overspend: $t missing (make BUILD=release)" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "bench_overspend: jq missing" >&2; exit 1; }
quick=${BENCH_QUICK:-}
work=$(mktemp -d /tmp/apolo-bovs.XXXXXX)
db=apolo_bench_ovs_$$
conf=$work/apolod.conf
port=$((20000 + RANDOM % 12000))
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
export APOLO_DATABASE_URL=$dburl
sql() { psql "$dburl" -v ON_ERROR_STOP=1 -qAtc "$1"; }
log() { echo "# $*" >&2; }
now_ms() { date +%s%3N; }

# Two admin threads (the recharges) and two ESL workers: 8 rings is room.
cat >"$conf" <<EOF
log_level = info
sql_dir = "$top/sql"
journal.path = "$work/journal"
journal.rings = 8
journal.slots = 65536
region.heap_mb = 64
calls.path = "$work/calls"
calls.max = 4096
admin.listen = "127.0.0.1:$port"
admin.threads = 2
ctl.socket = "$work/apolod.sock"
supervisor.notify = 0
flush.batch = 20000
EOF

seq 30001 30064 | paste -sd, >"$work/exts"
seq 4420500001 4420500200 | paste -sd, >"$work/dests"

# setup_db ACCOUNTS OPENING CREDIT RATE
#   ACCOUNTS 1: account 1 (prepaid, OPENING micro-units, credit limit
#   CREDIT) pays for the 64 extensions 30001..30064; 64: accounts 1..64
#   with 10^12 each, one extension each. The deck: 4420 at RATE a minute,
#   1 s / 1 s increments, rounding up; two neighbours that no call uses.
setup_db() {
  local naccts=$1 opening=$2 credit=$3 rate=$4
  psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  psql "$DATABASE_URL" -qc "CREATE DATABASE $db" || return 1
  "$bin" -c "$conf" migrate >"$work/migrate.log" 2>&1 ||
    { cat "$work/migrate.log" >&2; return 1; }
  local accts
  if [ "$naccts" = 1 ]; then
    accts="
    INSERT INTO accounts (id, code, name, type, balance, credit_limit, currency, plan_id)
      VALUES (1, 'OVS', 'overspend', 'prepaid', $opening, $credit, 'USD', 1);
    INSERT INTO extensions (number, account_id)
      SELECT (30000 + g)::text, 1 FROM generate_series(1, 64) g;"
  else
    accts="
    INSERT INTO accounts (id, code, name, type, balance, credit_limit, currency, plan_id)
      SELECT g, 'B' || g, 'bench ' || g, 'prepaid', 1000000000000, 0, 'USD', 1
        FROM generate_series(1, 64) g;
    INSERT INTO extensions (number, account_id)
      SELECT (30000 + g)::text, g FROM generate_series(1, 64) g;"
  fi
  sql "
  INSERT INTO rate_plans (id, name, currency, time_zone, rounding, number_rules)
    VALUES (1, 'overspend', 'USD', 'UTC', 'up', '');
  INSERT INTO zones (id, code, name) VALUES (1, 'Z', 'Zone');
  INSERT INTO deck_versions (plan_id, version, actor) VALUES (1, 1, 'bench');
  INSERT INTO rates (plan_id, prefix, zone_id, rate_per_minute, connection_fee,
                     first_increment, next_increment, effective_from, deck_version)
    VALUES (1, '4420', 1, $rate, 0, 1, 1, '2024-01-01', 1),
           (1, '442', 1, $((rate * 3)), 0, 60, 60, '2024-01-01', 1),
           (1, '44207', 1, $((rate * 5)), 0, 60, 60, '2024-01-01', 1);
  $accts" >/dev/null
}

# recharger AMOUNT_MICRO EVERY_MS: operator recharges of account 1 until
# $work/stop exists; one line per answer (HTTP code) in $work/recharges.
recharger() {
  local amount=$1 every=$2 i=0 token dec pause
  pause=$(awk -v m="$every" 'BEGIN { printf "%.3f", m / 1000 }')
  dec=$(printf '%d.%06d' $((amount / 1000000)) $((amount % 1000000)))
  token=$(curl -s -X POST -H 'Content-Type: application/json' \
            -d '{"username": "benchop", "password": "bench-operator-pw"}' \
            "http://127.0.0.1:$port/api/v1/login" | jq -r '.token // empty')
  [ -n "$token" ] || { echo "login-failed" >>"$work/recharges"; return; }
  while [ ! -e "$work/stop" ]; do
    i=$((i + 1))
    curl -s -o /dev/null -w '%{http_code}\n' -X POST \
      -H "Authorization: Bearer $token" -H "Idempotency-Key: ovs-$$-$i" \
      -H 'Content-Type: application/json' -d "{\"amount\": \"$dec\"}" \
      "http://127.0.0.1:$port/api/v1/accounts/1/recharges" >>"$work/recharges"
    sleep "$pause"
  done
}

# round NAME NODES CALLS CPS TALK INTERVAL ACCOUNTS OPENING CREDIT RATE
#       [RECHARGE_MICRO RECHARGE_MS]
# CALLS and CPS are per node; 64 calls live in all (64 / NODES per node).
# Sets the r_* results below.
round() {
  local name=$1 nodes=$2 calls=$3 cps=$4 talk=$5 interval=$6 naccts=$7
  local opening=$8 credit=$9 rate=${10} rch_amount=${11:-0} rch_ms=${12:-0}
  local conc=$((64 / nodes)) n p t0 sup esls="" rch=""
  local -a sims=() load=()
  r_over=0 r_fail=""
  setup_db "$naccts" "$opening" "$credit" "$rate" ||
    { echo "bench_overspend: database setup failed" >&2; return 1; }
  if [ "$rch_amount" -gt 0 ]; then
    printf 'bench-operator-pw\n' | "$bin" -c "$conf" user add benchop operator \
      >"$work/$name.user" 2>&1 || { cat "$work/$name.user" >&2; return 1; }
  fi
  rm -f "$work/stop" "$work/recharges" "$work/$name".*.report
  for n in $(seq 1 "$nodes"); do
    if [ -n "$sim_script" ]; then
      load=(--script "$sim_script")
    else
      load=(--calls "$calls" --cps "$cps" --concurrency "$conc" --ring-ms 20
            --talk-ms "$talk" --answer-pct 100 --callers "@$work/exts"
            --dests "@$work/dests" --seed $((7 + n)))
    fi
    "$fssim" --listen 127.0.0.1:0 --quiet "${load[@]}" --park-timeout 30000 \
      --report "$work/$name.$n.report" \
      >"$work/$name.$n.sim" 2>"$work/$name.$n.simerr" &
    sims+=("$!"); pids+=("$!")
  done
  for n in $(seq 1 "$nodes"); do
    p=""
    for _ in $(seq 1 50); do
      p=$(grep -o 'FSSIM listening [0-9]*' "$work/$name.$n.sim" | grep -o '[0-9]*$')
      [ -n "$p" ] && break; sleep 0.1
    done
    [ -n "$p" ] || { echo "bench_overspend: fssim $n did not start" >&2; return 1; }
    esls+="${esls:+,}ClueCon@127.0.0.1:$p"
  done
  env APOLO_ESL_NODES="$esls" APOLO_ESL_DEBIT_INTERVAL_SEC="$interval" \
    APOLO_JOURNAL_PATH="$work/$name.journal" APOLO_CALLS_PATH="$work/$name.calls" \
    "$bin" -c "$conf" >"$work/$name.log" 2>&1 &
  sup=$!; pids+=("$sup")
  if [ "$rch_amount" -gt 0 ]; then
    for _ in $(seq 1 100); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")" = 200 ] && break
      sleep 0.1
    done
    recharger "$rch_amount" "$rch_ms" &
    rch=$!; pids+=("$rch")
  fi
  t0=$(now_ms)
  if [ "$stall_sec" != 0 ]; then
    # The probe: the ESL worker stopped (SIGSTOP) for stall_sec, as a
    # worker descheduled, swapped out or stuck would be.
    for _ in $(seq 1 100); do
      grep -q 'msg="connected to' "$work/$name.log" && break; sleep 0.05
    done
    sleep "$stall_at"
    p=$(grep -o 'esl-1 started, pid [0-9]*' "$work/$name.log" | grep -o '[0-9]*$')
    log "$name: esl-1 (pid $p) stopped for ${stall_sec}s"
    pids+=("$p")                      # killed by cleanup if interrupted
    kill -STOP "$p"; sleep "$stall_sec"; kill -CONT "$p"
  fi
  for p in "${sims[@]}"; do wait "$p"; done
  r_secs=$(( ($(now_ms) - t0) / 1000 ))
  if [ -n "$rch" ]; then touch "$work/stop"; wait "$rch"; fi
  local created=0 c
  for n in $(seq 1 "$nodes"); do
    c=$(grep -o 'FSSIM calls=[0-9]*' "$work/$name.$n.sim" | grep -o '[0-9]*$')
    created=$((created + ${c:-0}))
  done
  # Every call offered has a CDR (refused ones too) once the flusher is done.
  t0=$(date +%s)
  while [ "$(sql "SELECT count(*) FROM cdrs")" -lt "$created" ] &&
        [ $(($(date +%s) - t0)) -lt 120 ]; do sleep 0.5; done
  kill -TERM "$sup"; wait "$sup"
  grep -o 'stopping: [^"]*' "$work/$name.log" | sed "s/^/$name: /" | while read -r l; do log "$l"; done

  # ---- the simulator's view
  cat "$work/$name".*.report >"$work/$name.report"
  read -r r_auth r_refused r_cut r_failsafe r_none r_funded_cps r_refusing_cps <<<"$(jq -rn '
    [inputs] as $c
    | ($c | map(select(.verdict == "kill")) | map(.created_us) | min) as $refuse1
    | ($c | map(select($refuse1 == null or .created_us < $refuse1)) | map(.created_us)) as $f
    | [ ($c | map(select(.verdict == "transfer")) | length),
        ($c | map(select(.verdict == "kill")) | length),
        ($c | map(select(.verdict == "transfer" and .answered_us > 0 and
                         (.ended_by == "uuid_kill" or .ended_by == "sched_hangup"))) | length),
        ($c | map(select(.ended_by == "sched_hangup")) | length),
        ($c | map(select(.verdict == "none")) | length),
        (if ($f | length) > 1 and ($f | max) > ($f | min)
         then (($f | length) - 1) * 1000000 / (($f | max) - ($f | min)) | floor
         else 0 end),
        ($c | map(select($refuse1 != null and .created_us >= $refuse1)) | map(.created_us)
         | if length > 1 and max > min then (length - 1) * 1000000 / (max - min) | floor
           else 0 end) ] | @tsv' "$work/$name.report")"
  r_cps=0
  for n in $(seq 1 "$nodes"); do
    c=$(grep -o 'cps_achieved=[0-9]*' "$work/$name.$n.sim" | cut -d= -f2)
    r_cps=$((r_cps + ${c:-0}))
  done
  r_p99=$(grep -ho 'p99_us=[0-9]*' "$work/$name".*.sim | cut -d= -f2 | sort -n | tail -1)
  r_p50=$(grep -ho 'park_to_verdict_p50_us=[0-9]*' "$work/$name".*.sim | cut -d= -f2 | sort -n | tail -1)

  # ---- cut calls: the paid seconds the worker logged against the
  # simulator's billmsec (the time from answer to hangup it billed)
  grep -ho 'call [0-9a-f-]* cut: its [0-9]* paid seconds' "$work/$name.log" |
    awk '{ print $2, $5 }' | sort >"$work/$name.paid"
  jq -r 'select(.answered_us > 0) | "\(.uuid) \(.billmsec)"' "$work/$name.report" |
    sort >"$work/$name.billmsec"
  join "$work/$name.paid" "$work/$name.billmsec" |
    awk '{ late = $3 - $2 * 1000; print $1, $2, $3, late }' >"$work/$name.cutlate"
  r_late_max=$(awk 'BEGIN { m = 0 } $4 > m { m = $4 } END { print m }' "$work/$name.cutlate")
  r_late_over=$(awk '$4 >= 500' "$work/$name.cutlate" | wc -l)

  # ---- PostgreSQL: conservation and overspend, account by account
  local q
  q=$(sql "
  WITH c AS (SELECT account_id, sum(cost) AS cost, count(*) FILTER (WHERE flags & 64 <> 0) AS unbilled
               FROM cdrs GROUP BY account_id),
       l AS (SELECT account_id,
                    coalesce(-sum(amount) FILTER (WHERE kind = 'call_debit'), 0) AS debited,
                    coalesce(sum(amount) FILTER (WHERE kind = 'recharge'), 0) AS recharged,
                    count(*) FILTER (WHERE kind = 'recharge') AS nrecharges,
                    min(balance_after) AS low
               FROM ledger GROUP BY account_id)
  SELECT sum(CASE WHEN $naccts = 1 THEN $opening ELSE 1000000000000 END)::bigint,
         sum(coalesce(l.recharged, 0))::bigint, sum(a.balance)::bigint,
         sum(coalesce(c.cost, 0))::bigint, sum(coalesce(l.debited, 0))::bigint,
         sum(coalesce(c.unbilled, 0))::bigint, sum(coalesce(l.nrecharges, 0))::bigint,
         -- conservation errors, account by account
         count(*) FILTER (WHERE (CASE WHEN $naccts = 1 THEN $opening ELSE 1000000000000 END)
                                + coalesce(l.recharged, 0) - a.balance
                                <> coalesce(c.cost, 0)
                             OR coalesce(c.cost, 0) <> coalesce(l.debited, 0)),
         -- overspend: beyond what it had, and below its limit at any time
         sum(greatest(0,
               coalesce(c.cost, 0) - ((CASE WHEN $naccts = 1 THEN $opening ELSE 1000000000000 END)
                                      + coalesce(l.recharged, 0) + a.credit_limit),
               -a.credit_limit - least(a.balance, coalesce(l.low, a.balance))))::bigint,
         min(least(a.balance, coalesce(l.low, a.balance)) + a.credit_limit)::bigint,
         (SELECT count(*) FROM cdrs),
         (SELECT count(*) FROM cdrs WHERE hangup_cause = 'ALLOTTED_TIMEOUT' AND billsec > 0)
    FROM accounts a LEFT JOIN c ON c.account_id = a.id LEFT JOIN l ON l.account_id = a.id
   WHERE a.id <= $naccts")
  local opening_sum recharged final cost debited unbilled nrch conserr over low ncdrs cdrcut
  IFS='|' read -r opening_sum recharged final cost debited unbilled nrch conserr over low \
    ncdrs cdrcut <<<"$q"
  r_over=${over:-x} r_nrch=${nrch:-0}
  local ok201=0
  [ -f "$work/recharges" ] && ok201=$(grep -c '^201$' "$work/recharges")
  [ "$conserr" = 0 ] || r_fail+=" conservation($conserr accounts)"
  [ "$r_over" = 0 ] || r_fail+=" overspend($r_over)"
  [ "${low:-0}" -ge 0 ] || r_fail+=" below-limit($low)"
  [ "$ncdrs" = "$created" ] || r_fail+=" cdrs($ncdrs of $created)"
  [ "$unbilled" = 0 ] || r_fail+=" unbilled($unbilled)"
  [ "$nrch" = "$ok201" ] || r_fail+=" recharges($nrch rows, $ok201 answered 201)"
  [ "$rch_amount" = 0 ] || [ "$ok201" -gt 0 ] || r_fail+=" no-recharge-succeeded"
  [ "$r_none" = 0 ] || r_fail+=" no-verdict($r_none)"
  log "$name: nodes=$nodes calls=$created cps=$r_cps funded_cps=$r_funded_cps" \
      "authorized=$r_auth refused=$r_refused cut=$r_cut (cdrs: $cdrcut) failsafe=$r_failsafe" \
      "park_to_verdict_p50/p99_us=${r_p50:-?}/${r_p99:-?} run=${r_secs}s"
  log "$name: opening=$opening_sum credit_limit=$credit recharged=$recharged ($nrch)" \
      "final=$final lowest_above_limit=$low cdr_costs=$cost ledger_debits=$debited unbilled=$unbilled" \
      "overspend=$r_over cut_late_max_ms=$r_late_max cuts_late_500ms=$r_late_over" \
      "${r_fail:+FAILED:$r_fail}"
}

if [ -n "$quick" ]; then S=1; else S=3; fi     # scale of the rounds
RATE=600000                     # 0.60 a minute: 10,000 micro-units a second
sim_script="" stall_sec=0 stall_at=0
status=0
total_over=0 total_auth=0 total_ref=0 total_cut=0 late_max=0 late_over=0
tally() {
  local name=$1
  [ -z "$r_fail" ] || { echo "bench_overspend: $name FAILED:$r_fail" >&2; status=1; }
  total_over=$((total_over + ${r_over//x/0}))
  total_auth=$((total_auth + r_auth)) total_ref=$((total_ref + r_refused))
  total_cut=$((total_cut + r_cut)) late_over=$((late_over + r_late_over))
  [ "$r_late_max" -gt "$late_max" ] && late_max=$r_late_max
  echo "BENCH overspend_${name}_micro_units $r_over micro-units"
  echo "BENCH overspend_${name}_calls_authorized $r_auth calls"
  echo "BENCH overspend_${name}_calls_refused $r_refused calls"
  echo "BENCH overspend_${name}_calls_cut $r_cut calls"
  echo "BENCH overspend_${name}_cps $r_cps calls/s"
}

# Probes (OVERSPEND_PROBE=reorder|stall): not benchmarks but the two ways
# found to make the account spend more than it has; each prints its
# overspend and exits 1 when there is one (see /work/frag/bench_overspend.md).
case ${OVERSPEND_PROBE:-} in
reorder)
  # 8 calls at once on an account holding 10 s; the CHANNEL_ANSWER of
  # four of them comes after their CHANNEL_HANGUP_COMPLETE (a listener
  # that FreeSWITCH dropped events for would not see it at all).
  for k in 1 2 3 4 5 6 7 8; do
    r=""; [ "$k" -le 4 ] && r=" reorder=1"
    echo "call name=p$k at=0 caller=$((30000 + k)) dest=4420500001 ring=100 talk=8000$r"
  done >"$work/probe.txt"
  sim_script=$work/probe.txt
  round probe_reorder 1 0 0 0 1 1 100000 0 "$RATE" || exit 1
  tally probe_reorder
  exit $status ;;
stall)
  # 64 calls at once, 10 s of talk, on an account holding 2 s for each;
  # the ESL worker is stopped (SIGSTOP) 1.2 s after it connected, for
  # 4 s: after the first extension (to 2 s), across the end of the money.
  stall_at=1.2 stall_sec=4
  round probe_stall 1 64 2000 10000 1 1 $((64 * 2 * 10000)) 0 "$RATE" || exit 1
  tally probe_stall
  echo "BENCH overspend_probe_stall_cut_late_max_ms $r_late_max ms"
  exit $status ;;
"") ;;
*) echo "bench_overspend: OVERSPEND_PROBE is reorder or stall" >&2; exit 2 ;;
esac

# r1: 1000 x S calls offered at 2000/s, talk 0-2 s (1 s billed on
# average: 10,000 micro-units); the balance pays for about half of them.
c1=$((1000 * S))
round r1 1 "$c1" 2000 0:2000 1 1 $((c1 / 2 * 10000)) 0 "$RATE" || exit 1
tally r1
r1_funded=$r_funded_cps r1_p50=$r_p50
echo "BENCH overspend_r1_funded_cps $r1_funded calls/s"
echo "BENCH overspend_r1_refusing_cps $r_refusing_cps calls/s"

# r2: two nodes, 300 x S calls each offered at 1000/s, talk 0.5-3 s (1.75
# s billed on average at 1,000,003 a minute: about 29,200 micro-units),
# interval 2 s; the balance plus a credit limit of 5.00 pay for about half.
c2=$((300 * S))
round r2 2 "$c2" 1000 500:3000 2 1 $((c2 * 29200 - 5000000)) 5000000 1000003 || exit 1
tally r2

# r3: 6000 calls (1000 quick) offered at 200/s, talk 1-10 s, interval 1 s; 2.00 to
# start with, then 0.02 (2 call-seconds) per recharge, 100 ms apart plus
# the time curl takes: a few call-seconds a second, against the 64 that
# 64 live calls would use.
c3=6000; [ -n "$quick" ] && c3=1000
round r3 1 "$c3" 200 1000:10000 1 1 2000000 0 "$RATE" 20000 100 || exit 1
tally r3
echo "BENCH overspend_r3_recharges $r_nrch recharges"

# The baseline: r1's load (half its calls: all of them are funded here) on
# 64 accounts with plenty of money, one extension each.
round baseline 1 $((c1 / 2)) 2000 0:2000 1 64 0 0 "$RATE" || exit 1
[ -z "$r_fail" ] || { echo "bench_overspend: baseline FAILED:$r_fail" >&2; status=1; }
base_cps=$r_cps

echo "BENCH overspend_micro_units $total_over micro-units"
echo "BENCH overspend_calls_authorized $total_auth calls"
echo "BENCH overspend_calls_refused $total_ref calls"
echo "BENCH overspend_calls_cut $total_cut calls"
echo "BENCH overspend_cut_late_max_ms $late_max ms"
echo "BENCH overspend_cuts_late_500ms $late_over calls"
echo "BENCH overspend_baseline_cps $base_cps calls/s"
awk -v a="$r1_funded" -v b="$base_cps" \
  'BEGIN { if (b > 0) printf "BENCH overspend_funded_cps_vs_baseline %.2f x\n", a / b }'
echo "BENCH overspend_r1_park_to_verdict_p50_us $r1_p50 us"
echo "BENCH overspend_baseline_park_to_verdict_p50_us $r_p50 us"
exit $status
