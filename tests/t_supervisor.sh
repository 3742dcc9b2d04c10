#!/usr/bin/env bash
# t_supervisor.sh -- apolod's supervisor as real processes against the
# private PostgreSQL of tests/run.sh (DATABASE_URL, APOLO_TOP, APOLO_BUILD).
#
#   1. start: ready (ctl status) with admin + 2 load generators
#   2. reload: a deck committed in PostgreSQL + `apolod ctl reload` is seen
#      by every load generator within 100 ms; movements flow
#   3. SIGHUP: live key applied (log_level), restart keys reported; a bad
#      file is refused and the running configuration stays
#   4. SIGTERM: exit 0 within 15 s, no child left, and the final drain put
#      every movement the generators made into the ledger
#   5. kill -9 of the supervisor: every child exits within 2 s; kill -9 of
#      the supervisor and the admin together: a new apolod replays what
#      was left undrained; every movement lands once, balances add up
#   6. a child that fails at start is restarted with growing delays, one
#      that exits 2 is not, and the supervisor's CPU over 5 s stays low;
#      SIGINT stops like SIGTERM
#   7. a reader stopped inside a critical section while a reload retires
#      its catalog is killed after supervisor.stuck_reader_ms, restarted
#
# Prints what it measures; exits 1 if any check failed.
set -uo pipefail
top=${APOLO_TOP:?run through tests/run.sh}
build=${APOLO_BUILD:?run through tests/run.sh}
: "${DATABASE_URL:?run through tests/run.sh}"
case $build in /*) ;; *) build=$top/$build ;; esac
bin=$build/apolod
work=$(mktemp -d /tmp/apolo-tsup.XXXXXX)
db=apolo_t_sup_$$
conf=$work/apolod.conf
port=$((20000 + RANDOM % 12000))
fails=0
pids=()

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok:   $*"; }
now_ms() { date +%s%3N; }
# Alive and not a zombie (a reparented zombie may linger under some inits).
alive() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
ts_ms() { date -d "$1" +%s%3N; }           # log timestamp -> epoch ms
children_of() { pgrep -P "$1" | tr '\n' ' '; }

cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  for p in $(pgrep -f "$conf"); do kill -9 "$p" 2>/dev/null; done
  psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
    >/dev/null 2>&1
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

# A database of our own on the same server.
if [[ $DATABASE_URL =~ ^(postgres(ql)?://[^/?]*)/([^?]*)(\?.*)?$ ]]; then
  dburl="${BASH_REMATCH[1]}/$db${BASH_REMATCH[4]}"
else
  dburl="$DATABASE_URL dbname=$db"
fi
psql "$DATABASE_URL" -qc "CREATE DATABASE $db" || exit 1
sql() { psql "$dburl" -qAtc "$1"; }

write_conf() {   # extra lines on stdin; log_level from $LEVEL (info)
  cat >"$conf" <<EOF
log_level = ${LEVEL:-info}
sql_dir = "$top/sql"
journal.path = "$work/journal"
calls.path = "$work/calls"
journal.rings = 8
journal.slots = 8192
region.heap_mb = 64
region.max_accounts = 1000
admin.listen = "127.0.0.1:$port"
ctl.socket = "$work/apolod.sock"
supervisor.restart_backoff_max_ms = 1600
EOF
  cat >>"$conf"
}

# start NAME [VAR=value ...]: apolod in the background, $sup = its pid.
start() {
  local name=$1; shift
  env APOLO_DATABASE_URL="$dburl" "$@" "$bin" -c "$conf" \
    >>"$work/$name.log" 2>&1 &
  sup=$!
  pids+=("$sup")
}

ctl() { "$bin" -c "${CTL_CONF:-$conf}" ctl -t 10000 "$@" 2>/dev/null; }

wait_ready() {   # NAME: waits up to 30 s for ready=1
  local t0; t0=$(now_ms)
  for _ in $(seq 1 300); do
    if [[ $(ctl status) == *"ready=1"* ]]; then
      echo "      $1 ready in $(($(now_ms) - t0)) ms (pid $sup)"
      return 0
    fi
    alive "$sup" || break
    sleep 0.1
  done
  fail "$1 did not become ready"; tail -20 "$work/$1.log"; return 1
}

wait_log() {     # FILE PATTERN SECONDS
  for _ in $(seq 1 $(($3 * 20))); do
    grep -q -- "$2" "$1" && return 0
    sleep 0.05
  done
  return 1
}

# stop_sup NAME [SIG]: SIGTERM (or SIG), exit 0 within 15 s, no child left.
stop_sup() {
  local kids t0 rc sig=${2:-TERM}
  kids=$(children_of "$sup")
  t0=$(now_ms)
  kill -"$sig" "$sup"
  for _ in $(seq 1 300); do alive "$sup" || break; sleep 0.05; done
  if alive "$sup"; then fail "$1: still running 15 s after SIG$sig"; return; fi
  wait "$sup"; rc=$?
  local left=""
  for k in $kids; do alive "$k" && left="$left $k"; done
  echo "      $1 stopped in $(($(now_ms) - t0)) ms, exit $rc"
  [ "$rc" = 0 ] && ok "$1: SIG$sig -> exit 0" || fail "$1: exit $rc"
  [ -z "$left" ] && ok "$1: no child left (had: $kids)" ||
    fail "$1: children still alive:$left"
}

conservation() { # every account: balance in PostgreSQL == sum of its ledger
  local bad
  bad=$(sql "SELECT count(*) FROM accounts a WHERE a.balance <>
             (SELECT coalesce(sum(amount), 0) FROM ledger l
               WHERE l.account_id = a.id)")
  [ "$bad" = 0 ] && ok "$1: balance = sum(ledger) for every account" ||
    fail "$1: $bad account(s) whose balance is not the sum of their ledger"
}

# ---- 1. start ------------------------------------------------------------
printf 'loadgen.count = 2\nloadgen.rate = 500\n' | write_conf
start main
wait_ready main || exit 1
kids=$(children_of "$sup")
nkids=$(echo "$kids" | wc -w)
[ "$nkids" = 3 ] && ok "3 children (admin, loadgen-1, loadgen-2): $kids" ||
  fail "expected 3 children, found $nkids: $kids"

# ---- 2. reload visibility -------------------------------------------------
psql "$dburl" -v ON_ERROR_STOP=1 -1 -q -f "$top/engine/demo.sql" ||
  fail "demo.sql"
t0=$(now_ms)
reply=$(ctl reload)
t1=$(now_ms)
if [[ $reply =~ ^ok\ ([0-9]+)$ ]]; then
  ver=${BASH_REMATCH[1]}
  line=$(grep 'reload requested' "$work/main.log" | tail -1)
  req=$(ts_ms "${line%% *}")
  line=$(grep "reload done in .*catalog $ver" "$work/main.log")
  echo "      ctl reload -> \"$reply\": $((t1 - t0)) ms for the command" \
    "(process start included), $(($(ts_ms "${line%% *}") - req)) ms from" \
    "the request reaching the supervisor to the reply"
  for g in 1 2; do
    if wait_log "$work/main.log" "proc=loadgen-$g .*catalog $ver seen: 4 accounts" 5
    then
      line=$(grep "proc=loadgen-$g .*catalog $ver seen" "$work/main.log")
      seen=$(ts_ms "${line%% *}")
      d=$((seen - req))
      echo "      loadgen-$g saw catalog $ver $d ms after the supervisor got" \
        "the request ($((seen - t0)) ms after \`apolod ctl\` started)"
      [ "$d" -le 100 ] && ok "loadgen-$g: change visible within 100 ms" ||
        fail "loadgen-$g: change visible only after $d ms"
    else
      fail "loadgen-$g never saw catalog $ver"
    fi
  done
else
  fail "ctl reload replied \"$reply\""
fi
for _ in $(seq 1 100); do
  n=$(sql "SELECT count(*) FROM ledger WHERE reference LIKE 'lg%'")
  [ "$n" -gt 0 ] && break
  sleep 0.1
done
[ "${n:-0}" -gt 0 ] && ok "movements flow: $n ledger rows so far" ||
  fail "no movement reached the ledger"

# ---- 3. SIGHUP -----------------------------------------------------------
printf 'loadgen.count = 2\nloadgen.rate = 500\nflush.batch = 100\n' |
  LEVEL=debug write_conf
kill -HUP "$sup"
wait_log "$work/main.log" 'SIGHUP: configuration re-read (log_level debug)' 5 &&
  ok "SIGHUP applied log_level = debug" || fail "SIGHUP: no re-read logged"
wait_log "$work/main.log" 'next restart of apolod: flush.batch' 5 &&
  ok "SIGHUP reported flush.batch as needing a restart" ||
  fail "SIGHUP: flush.batch change not reported"
wait_log "$work/main.log" 'reload done in .*catalog '"$((ver + 1))" 5 &&
  ok "SIGHUP reloaded from PostgreSQL (catalog $((ver + 1)))" ||
  fail "SIGHUP: no reload"
ctl status >/dev/null
wait_log "$work/main.log" 'level=debug .*request \\"status\\"' 5 &&
  ok "supervisor logs at debug level now" || fail "no debug line after SIGHUP"

cp "$conf" "$work/good.conf"     # `apolod ctl` itself refuses a bad file
echo "journal.sinc_ms = 5" >>"$conf"
before=$(grep -c 'request \\"status\\"' "$work/main.log")
kill -HUP "$sup"
wait_log "$work/main.log" 'configuration refused, the running one stays: .*unknown key \\"journal.sinc_ms\\"' 5 &&
  ok "bad file on SIGHUP refused, naming the key and line" ||
  fail "bad file on SIGHUP not refused"
[[ $(CTL_CONF=$work/good.conf ctl status) == ok\ ready=1* ]] &&
  ok "still serving after the bad SIGHUP" ||
  fail "not serving after the bad SIGHUP"
after=$(grep -c 'request \\"status\\"' "$work/main.log")
[ "$after" -gt "$before" ] && ok "old configuration kept (still at debug)" ||
  fail "log level changed by a refused file"

# ---- 4. SIGTERM ------------------------------------------------------------
stop_sup main
made=$(grep -o 'proc=loadgen-[0-9] mod=loadgen msg="stopped: [0-9]*' \
         "$work/main.log" | awk -F': ' '{s += $2} END {print s + 0}')
inpg=$(sql "SELECT count(*) FROM ledger WHERE reference LIKE 'lg%'")
echo "      generators made $made movements, ledger holds $inpg"
[ "$made" -gt 0 ] && [ "$made" = "$inpg" ] &&
  ok "final drain: every movement is in the ledger exactly once" ||
  fail "movements made ($made) != ledger rows ($inpg)"
conservation "after SIGTERM"

# ---- 5. kill -9 of the supervisor ----------------------------------------
printf 'loadgen.count = 2\nloadgen.rate = 2000\n' | write_conf
start kill9
wait_ready kill9 || exit 1
sleep 1
kids=$(children_of "$sup")
t0=$(now_ms)
kill -9 "$sup"
wait "$sup" 2>/dev/null
left=$kids
while [ -n "$left" ] && [ $(($(now_ms) - t0)) -lt 2000 ]; do
  sleep 0.02
  next=""
  for k in $left; do alive "$k" && next="$next $k"; done
  left=$next
done
if [ -z "$left" ]; then
  ok "kill -9 supervisor: children ($kids) gone in $(($(now_ms) - t0)) ms"
else
  fail "children alive 2 s after the supervisor's death:$left"
fi

# Now the supervisor and the admin process (the flusher) die together: the
# generators' last movements stay undrained in the journal, and the next
# start must replay them onto the balances it loads from PostgreSQL.
start crashall
wait_ready crashall || exit 1
sleep 1
admin=$(pgrep -P "$sup" | head -1)
kids=$(children_of "$sup")
kill -9 "$sup" "$admin"
wait "$sup" 2>/dev/null
for _ in $(seq 1 100); do
  left=""
  for k in $kids; do alive "$k" && left="$left $k"; done
  [ -z "$left" ] && break
  sleep 0.02
done
start restart
wait_ready restart
replayed=$(grep -o 'journal .*: [0-9]* undrained' "$work/restart.log" |
           grep -o '[0-9]* undrained' | cut -d' ' -f1)
echo "      after kill -9 of supervisor + admin: ${replayed:-?} undrained" \
  "movement(s) replayed on restart"
[ "${replayed:-0}" -gt 0 ] && ok "undrained movements replayed on start" ||
  echo "      (nothing was undrained this time: replay not exercised)"
stop_sup restart
made=$(cat "$work"/*.log | grep -o 'proc=loadgen-[0-9] mod=loadgen msg="stopped: [0-9]*' |
       awk -F': ' '{s += $2} END {print s + 0}')
inpg=$(sql "SELECT count(*) FROM ledger WHERE reference LIKE 'lg%'")
echo "      all runs: generators made $made movements, ledger holds $inpg"
[ "$made" = "$inpg" ] &&
  ok "exactly once across kill -9 and restarts ($inpg movements)" ||
  fail "movements made ($made) != ledger rows ($inpg) after the crashes"
conservation "after kill -9 and restart"

# ---- 6. crash at start ----------------------------------------------------
printf 'loadgen.count = 2\n' | write_conf
start crash APOLO_TEST_CRASH=loadgen-1,loadgen-2:2
wait_ready crash || exit 1
tck=$(getconf CLK_TCK)
c0=$(cpu_ticks "$sup")
sleep 5
c1=$(cpu_ticks "$sup")
cpu_ms=$(((c1 - c0) * 1000 / tck))
starts=$(grep -c 'loadgen-1 started' "$work/crash.log")
times=$(grep 'loadgen-1 started' "$work/crash.log" | cut -d' ' -f1)
gaps="" prev="" first_gap=0 last_gap=0 grows=1
for t in $times; do
  m=$(ts_ms "$t")
  if [ -n "$prev" ]; then
    g=$((m - prev)); gaps="$gaps $g"
    [ "$first_gap" = 0 ] && first_gap=$g
    [ "$g" -lt $((last_gap * 8 / 10)) ] && grows=0
    last_gap=$g
  fi
  prev=$m
done
echo "      loadgen-1 started $starts times; gaps (ms):$gaps"
echo "      supervisor CPU over 5 s: ${cpu_ms} ms"
[ "$starts" -ge 4 ] && [ "$starts" -le 12 ] &&
  ok "crashing child restarted ($starts starts in ~5 s)" ||
  fail "crashing child started $starts times in ~5 s"
[ "$grows" = 1 ] && [ "$last_gap" -ge $((first_gap * 4)) ] &&
  ok "restart delays grow ($first_gap -> $last_gap ms)" ||
  fail "restart delays do not grow:$gaps"
[ "$cpu_ms" -lt 500 ] && ok "supervisor CPU ${cpu_ms} ms < 500 ms" ||
  fail "supervisor used ${cpu_ms} ms of CPU in 5 s"
n2=$(grep -c 'loadgen-2 started' "$work/crash.log")
[ "$n2" = 1 ] && grep -q 'loadgen-2 .*NOT RESTARTED' "$work/crash.log" &&
  ok "exit 2 is not restarted" || fail "loadgen-2 (exit 2) started $n2 times"
stop_sup crash INT

# ---- 7. a stuck reader -------------------------------------------------------
# A generator running flat out is inside a QSBR critical section nearly all
# the time; SIGSTOP it there, retire the catalog it holds (a reload), and
# the supervisor must kill it after stuck_reader_ms and restart it.
printf 'loadgen.count = 1\nloadgen.rate = 0\nsupervisor.stuck_reader_ms = 1000\n' |
  write_conf
start stuck
wait_ready stuck || exit 1
killed=0
for attempt in 1 2 3; do
  lg=$(grep -o 'loadgen-1 started, pid [0-9]*' "$work/stuck.log" | tail -1 |
       grep -o '[0-9]*$')
  kill -STOP "$lg"
  t0=$(now_ms)
  ctl reload >/dev/null
  if wait_log "$work/stuck.log" "loadgen-1 (pid $lg) has held a retired version" 4
  then
    line=$(grep "pid $lg) has held a retired version" "$work/stuck.log")
    echo "      stopped reader killed $(($(ts_ms "${line%% *}") - t0)) ms" \
      "after the reload (stuck_reader_ms = 1000)"
    killed=1
    break
  fi
  kill -CONT "$lg"                    # it was offline: try again
done
[ "$killed" = 1 ] && ok "a stuck reader is killed" ||
  fail "a stopped reader was never killed"
wait_log "$work/stuck.log" "loadgen-1 (pid $lg) crashed with signal SIGKILL" 3 &&
  wait_log "$work/stuck.log" "loadgen-1 started, pid [0-9]* (restart)" 3 &&
  ok "and restarted after it was reaped" || fail "stuck reader not restarted"
stop_sup stuck

echo "t_supervisor: $fails failure(s)"
[ "$fails" = 0 ]
