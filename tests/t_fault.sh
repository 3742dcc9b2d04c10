#!/usr/bin/env bash
# t_fault.sh -- fault injection under load (issue 9). One apolod with an
# ESL worker, a CUCM worker and its admin process bills a continuous load
# while faults are injected one after another; then every call, every cent
# and every process is accounted for and the figures are printed as
# `FAULT <name> <value>` lines. Exits 1 when any check failed.
#
# The load, running through every fault:
#   - tests/fssim (random mode) offers FAULT_CPS calls a second (4) from 11
#     extensions, 85 % answered, 1-25 s of talk; the ESL worker reaches it
#     through tests/fault_proxy.py, a TCP proxy the test can cut. Accounts:
#     7 solvent (6 prepaid with 1,000,000.00, 1 postpaid with that much
#     credit), 2 "medium" prepaid (30.00: far more than all their calls
#     cost, less than one hour of one call), 2 poor (0.30: out of money
#     within seconds, recharged now and then). Solvent and medium accounts
#     must never see a call refused or cut; only the poor ones may.
#     esl.debit_interval_sec 15 and esl.ring_allowance_sec 5 scale the
#     defaults (60, 30) down so that calls of a few seconds get their
#     reservation extended and a fail-safe that fires shows within the run.
#   - a CUCM CDR file of 20 records dropped every 2.5 s (tests/cucm_gen.py)
#   - an API recharge every 3 s (Idempotency-Key; the ones not answered
#     201/200 are retried with the same key at the end)
#
# The faults, in this order (short version; FAULT_LONG=1: more and longer):
#   1. kill -9 of the ESL worker, the CUCM worker and the admin process
#      (the flusher), 2 times each (long: 5); kill -9 of apolod itself, once
#      (long: 3), started again
#   2. PostgreSQL stopped 8 s (long: 60) and started again. The test runs a
#      cluster of its OWN (tests/pg.sh in its temp folder; DATABASE_URL is
#      not used), so stopping it disturbs nobody. Rating must go on (the
#      journal grows), the backlog drain once PostgreSQL is back
#   3. the Event Socket connection cut 3 times (long: 10), each time refused
#      for 1.5 s (the calls go on in the simulator meanwhile, their events
#      are lost, as with FreeSWITCH)
#   4. the disk of the journal full: journal.path, calls.path and the CUCM
#      folder live on a tmpfs of their own (mount -t tmpfs, 64 MiB; when the
#      mount is not permitted this fault alone is skipped with a SKIP line),
#      which is filled for 8 s (long: 30) while calls go on, 3 CUCM files
#      arrive (staged before, renamed in: a rename needs no space; one has
#      a bad line, so a report must be written) and recharges are made.
#      The journal and the calls table are mmapped files: a store (on tmpfs
#      even a load) into a page the file system never allocated is a page
#      fault that needs a free block, and with none it is SIGBUS, the death
#      of the process. What the engine promises (nothing lost, rating goes
#      on) needs both files allocated in full when they are created; checked:
#      both allocated (no hole), no process dead of SIGBUS, every call parked
#      during the fault given a verdict, the 3 files billed and in done/, the
#      bad line's report written or its failure logged, every recharge made
#      during the fault answered
#   5. the clock jumped: apolod is restarted cleanly (SIGTERM) under Debian's
#      libfaketime (package faketime; without it this fault alone is skipped
#      with a SKIP line): LD_PRELOAD, FAKETIME_TIMESTAMP_FILE re-read every
#      second, FAKETIME_DONT_FAKE_MONOTONIC=1, so that only CLOCK_REALTIME
#      jumps, as with an NTP step or an operator's `date -s`. Its clock goes
#      1 h ahead, then 1 h behind, then right, 6 s each (long: 20); the
#      simulator's (FreeSWITCH's, another host) stays right. Then the load
#      goes on 16 s (long: 30), so that what the last fault set up shows
#
# Then the load stops (fssim SIGTERM: live calls end SYSTEM_SHUTDOWN; an idle
# fssim takes its place as a restarted FreeSWITCH would, so the worker can
# settle what it did not see end), everything drains, and the checks, with
# fssim's --report as the truth about every call:
#   cdrs_lost = 0          every call the engine gave a verdict has exactly
#                          one CDR (never authorized: at most one); every CUCM
#                          record dropped has one
#   cdrs_doubled = 0, cdrs_unknown = 0 (a CDR of no call we made)
#   billsec_mismatch = 0   a CDR not flagged estimated bills the simulator's
#                          billmsec rounded half up (clock jumps included)
#   cost_mismatch = 0      its cost is billsec x the rate (0 when unbilled)
#   estimated_past_failsafe = 0   an estimated CDR of a call that its
#                          fail-safe hung up bills no more than it talked
#                          (+1 s): the bound the engine documents
#   conservation_pg = 0    accounts where opening + recharges - CDR costs, or
#                          opening + ledger, differs from the balance
#   conservation_live = 0  accounts whose live balance (`apolod ctl account`)
#                          differs from PostgreSQL's
#   reserved_left = 0, calls_left = 0 (`ctl status` calls=): nothing unmetered
#   recharges_lost = 0, recharges_doubled = 0: one ledger row per key
#   mass_hangup = 0        calls of solvent or medium accounts that the engine
#                          refused, cut (uuid_kill) or whose fail-safe
#                          (sched_hangup) fired; engine_hangups_out_of_money:
#                          the poor accounts' (allowed); mass_hangup_<fault>:
#                          the same by fault (the last one begun when the
#                          call was refused or hung up)
#   journal_rejects = 0, unexpected_child_deaths = 0 (other than our kill -9
#                          and the disk-full fault's SIGBUS), a clean stop
# For information: calls_never_authorized (parked while the worker could not
# see it: a call whose CHANNEL_PARK is lost is never learnt of, and waits
# for FreeSWITCH's park timeout, 10 s in fssim), estimated_cdrs and how far
# they are from the real talk, restart and drain times, and a table of the
# calls refused/cut, never authorized and estimated, by fault.
#
# Needs: root for the tmpfs, PostgreSQL 15, python3, jq, curl; faketime for
# the clock. Runs as tests/run.sh runs it (APOLO_TOP, APOLO_BUILD; about 130
# s here) or alone from the top folder (defaults: this tree, build/debug).
# Knobs: FAULT_LONG=1 (about 10 min), FAULT_CPS (4), FAULT_BUDGET_SEC (240,
# long 1500: the waits give up then), KEEP=1 (keep the temp folder, its
# logs: apolod.log, report.jsonl, phases).
set -uo pipefail
top=${APOLO_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
build=${APOLO_BUILD:-build/debug}
case $build in /*) ;; *) build=$top/$build ;; esac
bin=$build/apolod
fssim=$build/fssim
LONG=${FAULT_LONG:-0}
CPS=${FAULT_CPS:-4}
if [ "$LONG" = 1 ]; then
  KILLS=5 SUP_KILLS=3 PG_OUT=60 CUTS=10 FULL_SEC=30 CLOCK_HOLD=20 GAP=4 TAIL=30
  BUDGET=${FAULT_BUDGET_SEC:-1500}
else
  KILLS=2 SUP_KILLS=1 PG_OUT=8 CUTS=3 FULL_SEC=8 CLOCK_HOLD=6 GAP=1.5 TAIL=16
  BUDGET=${FAULT_BUDGET_SEC:-240}
fi
CUT_DOWN_MS=1500
RINGS=8 SLOTS=8192
FS_MB=64
RATE_PER_SEC=10000          # 0.60 a minute, 1/1 increments (micro-units)

for f in "$bin" "$fssim"; do
  [ -x "$f" ] || { echo "t_fault: $f not built (make)"; exit 1; }
done
pgbin=$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null) ||
  { echo "t_fault: PostgreSQL 15 binaries not found"; exit 1; }

work=$(mktemp -d /tmp/apolo-tfault.XXXXXX)
chmod 711 "$work"            # the postgres user reaches its cluster below
conf=$work/apolod.conf
log=$work/apolod.log
pgdir=$work/pg
pgport=$((20000 + RANDOM % 20000))
fs=$work/fs                  # the journal's file system (a tmpfs when we may)
drop=$fs/drop
mkdir -p "$fs" "$work/stage"
fails=0
sup="" sim="" idle_sim="" proxy="" bg_pids=() fk_pids=()
fs_mounted=0 pg_down=0
t_begin=$(date +%s%3N)
deadline=$((t_begin + BUDGET * 1000))

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok:   $*"; }
info() { echo "      $*"; }
fault() { echo "FAULT $*"; }
mark() { echo "      [$((($(date +%s%3N) - t_begin) / 1000)) s] $*"; }
now_ms() { date +%s%3N; }
now_us() { date +%s%6N; }
nap() { sleep "$1" & wait $!; }
fatal() { fail "$*"; echo "t_fault: $fails failure(s) (gave up)"; exit 1; }
alive() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}
# poll SECONDS CMD...: CMD every 0.2 s until it succeeds, or SECONDS or the
# whole test's budget run out (1).
poll() {
  local until=$(($(now_ms) + $1 * 1000)); shift
  [ "$until" -gt "$deadline" ] && until=$deadline
  while ! "$@"; do
    [ "$(now_ms)" -ge "$until" ] && return 1
    nap 0.2
  done
}

pg_stop() {
  pg_down=1
  "$top/tests/pg.sh" stop "$pgdir" >/dev/null 2>&1
}
# In a session of its own: a signal to this test's process group must not
# reach the postmaster.
pg_start() {
  setsid -w env APOLO_PGPORT="$pgport" "$top/tests/pg.sh" start "$pgdir" \
    >/dev/null 2>>"$work/pg.err" && pg_down=0
}

cleanup() {
  local p
  trap - EXIT INT TERM
  disown -a 2>/dev/null
  touch "$work/stop_load" 2>/dev/null
  for p in "${bg_pids[@]}" $sim $idle_sim $proxy $sup; do
    kill -9 "$p" 2>/dev/null
  done
  for p in $(pgrep -f -- "-c $conf" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  for p in "${fk_pids[@]}"; do
    rm -f "/dev/shm/faketime_shm_$p" "/dev/shm/sem.faketime_sem_$p"
  done
  "$top/tests/pg.sh" stop "$pgdir" >/dev/null 2>&1
  if [ "$fs_mounted" = 1 ]; then
    for _ in 1 2 3 4 5; do umount "$fs" 2>/dev/null && break; sleep 0.3; done
    mountpoint -q "$fs" && umount -l "$fs"
  fi
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'echo "t_fault: interrupted"; exit 143' INT TERM

# ---- the journal's file system -------------------------------------------------
if mount -t tmpfs -o "size=${FS_MB}m,mode=0755" apolo-tfault "$fs" 2>"$work/mount.err"; then
  fs_mounted=1
  info "journal, calls table and CUCM folder on a ${FS_MB} MiB tmpfs ($fs)"
else
  echo "SKIP disk_full: mount -t tmpfs not permitted ($(head -1 "$work/mount.err")); the journal stays on $(df --output=source "$fs" | tail -1)"
fi
mkdir -p "$drop"

# ---- PostgreSQL: a cluster of our own ----------------------------------------------
pg_start || { cat "$work/pg.err"; fatal "could not start a private PostgreSQL in $pgdir"; }
dburl="postgresql:///apolo?host=$pgdir&port=$pgport&user=postgres"
mark "PostgreSQL up"
export APOLO_DATABASE_URL=$dburl PGHOST=$pgdir PGPORT=$pgport PGUSER=postgres PGDATABASE=apolo
sql() { psql "$dburl" -v ON_ERROR_STOP=1 -qAtc "$1"; }

# ---- the simulator and the proxy in front of it -------------------------------------
# Callers weighted: 7 solvent extensions x10, 2 medium x6, 2 poor x6.
{
  for e in 1001 1002 1003 1004 1005 1006 1007; do for _ in $(seq 10); do echo $e; done; done
  for e in 1008 1009; do for _ in $(seq 6); do echo $e; done; done
  for e in 1010 1011; do for _ in $(seq 6); do echo $e; done; done
} >"$work/callers"
seq 549110000001 549110000009 >"$work/dests"
# wait_port FILE WORDS: the number after WORDS in FILE, within 10 s
wait_port() {
  local got=""
  for _ in $(seq 1 100); do
    got=$(grep -o "$2 [0-9]*" "$1" 2>/dev/null | head -1 | grep -o '[0-9]*$')
    [ -n "$got" ] && { echo "$got"; return 0; }
    sleep 0.1
  done
  return 1
}
"$fssim" --listen 127.0.0.1:0 --quiet --calls 10000000 --cps "$CPS" \
  --concurrency 1000 --ring-ms 300 --talk-ms 1000:25000 --answer-pct 85 \
  --callers "@$work/callers" --dests "@$work/dests" --seed $((RANDOM + 1)) \
  --report "$work/report.jsonl" >"$work/fssim.out" 2>"$work/fssim.err" &
sim=$!
simport=$(wait_port "$work/fssim.out" 'FSSIM listening') ||
  { cat "$work/fssim.err"; fatal "fssim did not start"; }
python3 "$top/tests/fault_proxy.py" --upstream "127.0.0.1:$simport" \
  --down-ms "$CUT_DOWN_MS" >"$work/proxy.out" 2>"$work/proxy.err" &
proxy=$!
proxyport=$(wait_port "$work/proxy.out" 'PROXY listening') ||
  { cat "$work/proxy.err"; fatal "fault_proxy.py did not start"; }

# ---- apolod's configuration, the database -------------------------------------------
# a port nobody listens on, below the ephemeral range (tests/lib.sh)
for _ in $(seq 1 50); do
  port=$((20000 + RANDOM % 12000))
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
done
base=http://127.0.0.1:$port
cat >"$conf" <<EOF
log_level = info
sql_dir = "$top/sql"
journal.path = "$fs/journal"
journal.rings = $RINGS
journal.slots = $SLOTS
region.heap_mb = 64
region.max_accounts = 1000
calls.path = "$fs/calls"
calls.max = 512
admin.listen = "127.0.0.1:$port"
admin.threads = 3
ctl.socket = "$work/apolod.sock"
supervisor.notify = 0
supervisor.restart_backoff_max_ms = 1600
esl.nodes = "ClueCon@127.0.0.1:$proxyport"
esl.debit_interval_sec = 15
esl.ring_allowance_sec = 5
esl.reconnect_max_ms = 500
cucm.dirs = "$drop"
cucm.rescan_ms = 500
cucm.stable_ms = 500
cucm.dedupe_days = 30
EOF
"$bin" -c "$conf" migrate >"$work/migrate.log" 2>&1 ||
  { cat "$work/migrate.log"; fatal "apolod migrate"; }
big=1000000000000
sql "
INSERT INTO rate_plans (id, name, currency, time_zone, rounding, number_rules)
  VALUES (1, 'Fault test', 'ARS', 'UTC', 'up', '');
INSERT INTO zones (id, code, name) VALUES (1, 'MOB', 'Mobile'), (2, 'LOC', 'CUCM local');
INSERT INTO deck_versions (plan_id, version, actor) VALUES (1, 1, 't_fault');
INSERT INTO rates (plan_id, prefix, zone_id, rate_per_minute, connection_fee,
                   first_increment, next_increment, effective_from, deck_version)
  VALUES (1, '5491', 1, $((RATE_PER_SEC * 60)), 0, 1, 1, '2020-01-01', 1),
         (1, '2999', 2, $((RATE_PER_SEC * 60)), 0, 1, 1, '2020-01-01', 1);
INSERT INTO accounts (id, code, name, type, balance, credit_limit, currency, plan_id) VALUES
  (1, 'S1', 'solvent 1', 'prepaid', $big, 0, 'ARS', 1),
  (2, 'S2', 'solvent 2', 'prepaid', $big, 0, 'ARS', 1),
  (3, 'S3', 'solvent 3', 'prepaid', $big, 0, 'ARS', 1),
  (4, 'S4', 'solvent 4', 'prepaid', $big, 0, 'ARS', 1),
  (5, 'S5', 'solvent 5', 'prepaid', $big, 0, 'ARS', 1),
  (6, 'S6', 'solvent 6', 'prepaid', $big, 0, 'ARS', 1),
  (7, 'P7', 'solvent postpaid', 'postpaid', 0, $big, 'ARS', 1),
  (8, 'M8', 'medium 8', 'prepaid', 30000000, 0, 'ARS', 1),
  (9, 'M9', 'medium 9', 'prepaid', 30000000, 0, 'ARS', 1),
  (10, 'X10', 'poor 10', 'prepaid', 300000, 0, 'ARS', 1),
  (11, 'X11', 'poor 11', 'prepaid', 300000, 0, 'ARS', 1),
  (12, 'C12', 'CUCM payer', 'prepaid', $big, 0, 'ARS', 1);
INSERT INTO extensions (number, account_id) VALUES
  ('1001', 1), ('1002', 2), ('1003', 3), ('1004', 4), ('1005', 5), ('1006', 6),
  ('1007', 7), ('1008', 8), ('1009', 9), ('1010', 10), ('1011', 11), ('2001', 12);
CREATE TABLE t_fault_opening AS SELECT id, balance FROM accounts;" >/dev/null ||
  fatal "seeding the database"
# class of each account: solvent, medium (both may never be refused nor
# cut), poor
printf '%s\n' "1 solvent" "2 solvent" "3 solvent" "4 solvent" "5 solvent" \
  "6 solvent" "7 solvent" "8 medium" "9 medium" "10 poor" "11 poor" \
  "12 solvent" >"$work/classes"
printf '%s\n' "1001 1" "1002 2" "1003 3" "1004 4" "1005 5" "1006 6" "1007 7" \
  "1008 8" "1009 9" "1010 10" "1011 11" >"$work/extensions"
echo 'fault-operator-pw-1' | "$bin" -c "$conf" user add operator operator \
  >/dev/null 2>"$work/user.err" || { cat "$work/user.err"; fatal "user add"; }
mark "database seeded"

# ---- apolod -------------------------------------------------------------------------
ctl() { "$bin" -c "$conf" ctl -t 5000 "$@" 2>/dev/null; }
start_apolod() {   # [VAR=VALUE...]
  echo "---- t_fault: apolod start $(date +%T.%3N) $*" >>"$log"
  env "$@" "$bin" -c "$conf" >>"$log" 2>&1 &
  sup=$!
}
is_ready() { [[ $(ctl status) == *"ready=1"* ]] || ! alive "$sup"; }
wait_ready() {
  local t0; t0=$(now_ms)
  if poll 60 is_ready && alive "$sup"; then
    ready_ms=$(($(now_ms) - t0)); return 0
  fi
  tail -20 "$log"; fatal "apolod did not become ready"
}
child_pid() { grep -o "$1 started, pid [0-9]*" "$log" | tail -1 | grep -o '[0-9]*$'; }
restarted() {   # NAME OLDPID: a new NAME runs; $new = its pid
  new=$(child_pid "$1")
  [ -n "$new" ] && [ "$new" != "$2" ] && alive "$new" && return 0
  new=""; return 1
}
no_children() { ! pgrep -f -- "-c $conf" >/dev/null; }
stop_apolod() {   # SIGTERM; returns its exit status
  kill -TERM "$sup" 2>/dev/null
  for _ in $(seq 1 300); do alive "$sup" || break; nap 0.1; done
  wait "$sup" 2>/dev/null; local rc=$?
  sup=""
  return $rc
}
ring_field() {   # RING OFFSET: a ring header field, as the flusher sees it
  od -An -t u8 -j $((4096 + $1 * (256 + SLOTS * 512) + $2)) -N 8 "$fs/journal" |
    tr -d ' '
}
heads() { local i s=0; for ((i = 0; i < RINGS; i++)); do s=$((s + $(ring_field $i 64))); done; echo $s; }
drained() { sql "SELECT coalesce(sum(drained_seq), 0) FROM journal_position
                 WHERE name LIKE 'ring:%'" 2>/dev/null; }
phase() {   # NAME: a fault begins (its calls are attributed to it)
  echo "$1 $(now_us)" >>"$work/phases"
  echo "---- t_fault: phase $1 $(date +%T.%3N)" >>"$log"
  mark "$1"
}

start_apolod
wait_ready
info "apolod ready in $ready_ms ms; fssim on $simport, proxy on $proxyport"
phase load

# ---- the background load: CUCM files, recharges ---------------------------------------
dropper() {
  local k=0
  while [ ! -e "$work/stop_load" ]; do
    if [ -e "$work/pause_drop" ]; then echo paused >"$work/dropper.state"; nap 0.2; continue; fi
    echo running >"$work/dropper.state"
    k=$((k + 1))
    if python3 "$top/tests/cucm_gen.py" "$work/stage/f" --records 20 \
         --cluster FaultCl --first-call-id $((k * 100)) --calling 2001 \
         --called 29990001 >/dev/null 2>&1 &&
       cp "$work/stage/f" "$drop/_cdr_FaultCl_01_$k" 2>/dev/null &&
       mv "$drop/_cdr_FaultCl_01_$k" "$drop/cdr_FaultCl_01_$k" 2>/dev/null; then
      echo "cdr_FaultCl_01_$k 20" >>"$work/dropped.list"
    else
      rm -f "$drop/_cdr_FaultCl_01_$k"
    fi
    nap 2.5
  done
  echo stopped >"$work/dropper.state"
}
login() {
  curl -s --max-time 10 -H 'Content-Type: application/json' \
    -d '{"username": "operator", "password": "fault-operator-pw-1"}' \
    "$base/api/v1/login" 2>/dev/null | jq -r '.token // empty' 2>/dev/null
}
# recharge KEY ACCOUNT AMOUNT TOKEN: the HTTP status (000: no answer)
recharge() {
  curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
    -H "Authorization: Bearer $4" -H 'Content-Type: application/json' \
    -H "Idempotency-Key: $1" -d "{\"amount\": \"$3\", \"reason\": \"t_fault\"}" \
    "$base/api/v1/accounts/$2/recharges" 2>/dev/null
}
recharger() {
  local n=0 tok="" acct st
  local accts=(10 11 10 11 1 8)
  while [ ! -e "$work/stop_load" ]; do
    [ -z "$tok" ] && tok=$(login)
    if [ -n "$tok" ]; then
      n=$((n + 1))
      acct=${accts[$((n % ${#accts[@]}))]}
      echo "fault-rc-$n $acct 0.250000" >>"$work/recharges.list"
      st=$(recharge "fault-rc-$n" "$acct" 0.250000 "$tok")
      echo "fault-rc-$n $st $(now_ms)" >>"$work/recharges.status"
      [ "$st" = 401 ] && tok=""
    fi
    nap 3
  done
}
dropper & bg_pids+=($!)
recharger & bg_pids+=($!)
nap 4

# ---- 1. kill -9 of each process kind ---------------------------------------------------
kill_kind() {   # NAME COUNT
  local name=$1 n=$2 i pid t0 max=0 done_n=0
  phase "kill_$name"
  for ((i = 1; i <= n; i++)); do
    pid=$(child_pid "$name")
    [ -n "$pid" ] && alive "$pid" || { fail "no live $name to kill"; return; }
    t0=$(now_ms)
    kill -9 "$pid"
    if poll 20 restarted "$name" "$pid"; then
      local ms=$(($(now_ms) - t0)); [ $ms -gt $max ] && max=$ms
      done_n=$((done_n + 1))
    else
      fail "$name (pid $pid) not restarted within 20 s"
    fi
    nap "$GAP"
  done
  fault "kill_${name}_count $done_n"
  fault "kill_${name}_restart_ms_max $max"
  [ "$done_n" = "$n" ] && ok "kill -9 $name x$n: restarted each time (at most $max ms)"
}
kill_kind esl-1 "$KILLS"
kill_kind cucm-1 "$KILLS"
kill_kind admin "$KILLS"

phase kill_apolod
max=0
for ((i = 1; i <= SUP_KILLS; i++)); do
  t0=$(now_ms)
  { kill -9 "$sup"; wait "$sup"; } 2>/dev/null
  poll 20 no_children || fail "children of the killed apolod still run after 20 s"
  start_apolod
  wait_ready
  ms=$(($(now_ms) - t0)); [ $ms -gt $max ] && max=$ms
  nap "$GAP"
done
fault "kill_apolod_count $SUP_KILLS"
fault "kill_apolod_restart_ms_max $max"
ok "kill -9 apolod x$SUP_KILLS: started again, ready (at most $max ms from the kill)"
nap "$GAP"

# ---- 2. PostgreSQL stopped ----------------------------------------------------------------
phase pg_down
pg_stop || fatal "pg_ctl stop"
t_stop=$(now_ms)
h1=$(heads)
nap 1
[[ $(ctl status) == "ok ready=1"* ]] && ok "ctl answers while PostgreSQL is down" ||
  fail "ctl status does not answer while PostgreSQL is down"
while [ $(($(now_ms) - t_stop)) -lt $((PG_OUT * 1000)) ]; do nap 0.2; done
h2=$(heads)
pg_start || fatal "PostgreSQL did not start again"
t_up=$(now_ms)
phase pg_back
fault "pg_outage_sec $(((t_up - t_stop) / 1000))"
fault "journal_growth_during_pg_outage $((h2 - h1))"
[ $((h2 - h1)) -gt 0 ] && ok "rating went on while PostgreSQL was down ($((h2 - h1)) records)" ||
  fail "nothing was journaled while PostgreSQL was down"
past_outage() { local d; d=$(drained); [ -n "$d" ] && [ "$d" -ge "$h2" ]; }
if poll 90 past_outage; then
  fault "pg_backlog_drained_ms $(($(now_ms) - t_up))"
  ok "the backlog of the outage drained $(($(now_ms) - t_up)) ms after PostgreSQL came back"
else
  fail "the backlog was not drained within 90 s of PostgreSQL's return (drained $(drained), heads then $h2)"
fi
nap "$GAP"

# ---- 3. the Event Socket connection cut ---------------------------------------------------
phase esl_cut
c0=$(grep -c 'connected to 127.0.0.1' "$log")
for ((i = 1; i <= CUTS; i++)); do
  kill -USR1 "$proxy"
  nap "$GAP"
  nap $((CUT_DOWN_MS / 1000))
done
reconnected() { [ $(($(grep -c 'connected to 127.0.0.1' "$log") - c0)) -ge "$CUTS" ]; }
poll 20 reconnected
fault "esl_cuts $CUTS"
fault "esl_reconnects $(($(grep -c 'connected to 127.0.0.1' "$log") - c0))"
reconnected && ok "the ESL worker reconnected after each of $CUTS cuts" ||
  fail "the ESL worker reconnected $(($(grep -c 'connected to 127.0.0.1' "$log") - c0)) times after $CUTS cuts"
nap "$GAP"

# ---- 4. the disk of the journal full -------------------------------------------------------
unalloc() {   # FILE: bytes of it that the file system never allocated
  local s; s=$(stat -c '%s %b %B' "$1" 2>/dev/null) || { echo "?"; return; }
  set -- $s
  local a=$(($2 * $3)); [ "$a" -ge "$1" ] && echo 0 || echo $(($1 - a))
}
if [ "$fs_mounted" = 1 ]; then
  touch "$work/pause_drop"
  paused() { [ "$(cat "$work/dropper.state" 2>/dev/null)" = paused ]; }
  poll 20 paused || fail "the CUCM dropper did not pause"
  # Staged before the disk fills (CUCM's own push could not write then);
  # renamed in during the fault. The third has a bad line: a report.
  for k in 1 2 3; do
    python3 "$top/tests/cucm_gen.py" "$drop/_cdr_FullCl_01_$k" --records 20 \
      --cluster FullCl --first-call-id $((k * 100)) --calling 2001 \
      --called 29990001 >/dev/null
  done
  sed -i '5s/^.*$/"garbage","line"/' "$drop/_cdr_FullCl_01_3"
  jsparse=$(unalloc "$fs/journal"); csparse=$(unalloc "$fs/calls")
  fault "journal_unallocated_bytes $jsparse"
  fault "calls_file_unallocated_bytes $csparse"
  [ "$jsparse" = 0 ] && [ "$csparse" = 0 ] &&
    ok "the journal and the calls table are allocated on disk in full" ||
    fail "not allocated on disk: $jsparse of the journal's $(stat -c %s "$fs/journal") bytes, $csparse of the calls table's $(stat -c %s "$fs/calls") (sparse files: a write into a hole on a full disk is SIGBUS)"
  phase disk_full
  log_mark=$(($(wc -l <"$log") + 1))
  t_full=$(now_ms)
  dd if=/dev/zero of="$fs/filler" bs=1M >/dev/null 2>&1
  dd if=/dev/zero of="$fs/filler2" bs=4k >/dev/null 2>&1
  fault "disk_full_free_bytes $(df -B1 --output=avail "$fs" | tail -1 | tr -d ' ')"
  hf1=$(heads)
  for k in 1 2 3; do
    while [ $(($(now_ms) - t_full)) -lt $((FULL_SEC * 200 * k)) ]; do nap 0.2; done
    mv "$drop/_cdr_FullCl_01_$k" "$drop/cdr_FullCl_01_$k"
  done
  while [ $(($(now_ms) - t_full)) -lt $((FULL_SEC * 1000)) ]; do nap 0.2; done
  full_done() { [ "$(ls "$drop/done" 2>/dev/null | grep -c '^cdr_FullCl_01_[0-9]*$')" = 3 ]; }
  poll 5 full_done         # a little longer, the disk still full
  hf2=$(heads)
  done_full=$(ls "$drop/done" 2>/dev/null | grep -c '^cdr_FullCl_01_[0-9]*$')
  report_ok=0
  [ -s "$drop/done/cdr_FullCl_01_3.report" ] && report_ok=1
  tail -n +"$log_mark" "$log" | grep -q 'cannot write the report' && report_ok=2
  sigbus=$(tail -n +"$log_mark" "$log" | grep -c 'SIGBUS')
  rc_bad=$(awk -v t="$t_full" '$3 >= t && $2 !~ /^20[01]$/' "$work/recharges.status" | wc -l)
  rc_all=$(awk -v t="$t_full" '$3 >= t' "$work/recharges.status" | wc -l)
  sup_alive=1; alive "$sup" || sup_alive=0
  rm -f "$fs/filler" "$fs/filler2"
  phase disk_freed
  fault "disk_full_journal_appended $((hf2 - hf1))"
  fault "disk_full_cucm_files_done $done_full"
  fault "disk_full_sigbus_crashes $sigbus"
  fault "disk_full_recharges_failed $rc_bad"
  [ "$sigbus" = 0 ] && ok "no process died of SIGBUS with the disk full" ||
    { fail "$sigbus process death(s) by SIGBUS with the journal's disk full, e.g.:";
      tail -n +"$log_mark" "$log" | grep 'SIGBUS' | head -3 | sed 's/^/      /'; }
  [ "$done_full" = 3 ] && ok "the 3 CUCM files renamed in during the fault were billed and moved to done/" ||
    fail "$done_full of the 3 CUCM files renamed in during the fault reached done/ within it"
  case $report_ok in
    1) ok "the report of the file with a bad line was written in done/" ;;
    2) ok "the report of the file with a bad line could not be written: logged as an error" ;;
    *) [ "$done_full" = 3 ] && fail "the bad line's report is neither in done/ nor logged as not written" ;;
  esac
  [ "$rc_bad" = 0 ] && ok "every recharge made with the disk full was answered ($rc_all)" ||
    fail "$rc_bad of $rc_all recharges made with the disk full failed (retried later)"
  [ "$sup_alive" = 1 ] || {
    fail "apolod itself died with the disk full"; tail -5 "$log" | sed 's/^/      /'
    poll 20 no_children; start_apolod; wait_ready; }
  rm -f "$work/pause_drop"
  nap "$GAP"
else
  echo "SKIP disk_full: no tmpfs (see above)"
fi

# ---- 5. the clock jumped ------------------------------------------------------------------
ftlib=""
for l in /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 \
         /usr/lib/*/faketime/libfaketimeMT.so.1; do
  [ -f "$l" ] && { ftlib=$l; break; }
done
ftenv=(FAKETIME_TIMESTAMP_FILE="$work/faketime.rc" FAKETIME_CACHE_DURATION=1
       FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_DONT_RESET=1)
if [ -n "$ftlib" ]; then
  # Does apolod run under it? (Not a sanitizer build: libfaketime's
  # constructor deadlocks in clang's statically linked ASan allocator.)
  echo "+0" >"$work/faketime.rc"
  env LD_PRELOAD="$ftlib" "${ftenv[@]}" "$bin" --keys >/dev/null 2>&1 &
  probe=$!
  for _ in $(seq 1 100); do alive "$probe" || break; nap 0.2; done
  if alive "$probe"; then
    kill -9 "$probe"; wait "$probe" 2>/dev/null
    rm -f "/dev/shm/faketime_shm_$probe" "/dev/shm/sem.faketime_sem_$probe"
    echo "SKIP clock_jump: $bin does not run under libfaketime (a sanitizer build?)"
    ftlib=""
  else
    wait "$probe" 2>/dev/null
  fi
fi
if [ -n "$ftlib" ]; then
  phase clock_restart
  stop_apolod || fail "apolod did not stop cleanly before the clock fault"
  echo "+0" >"$work/faketime.rc"
  start_apolod LD_PRELOAD="$ftlib" "${ftenv[@]}"
  fk_pids+=("$sup")
  wait_ready
  nap "$GAP"
  for step in ahead_1h:+3600 behind_1h:-3600 right:+0; do
    phase "clock_${step%%:*}"
    echo "${step#*:}" >"$work/faketime.rc"
    nap "$CLOCK_HOLD"
  done
  fault "clock_jumps 3"
elif [ -z "$ftlib" ] && ! ls /usr/lib/*/faketime/libfaketimeMT.so.1 >/dev/null 2>&1; then
  echo "SKIP clock_jump: libfaketime not installed (Debian package faketime)"
fi

# ---- the last fault's aftermath: the load goes on ---------------------------------------
# (a call answered during the last fault ends, or is cut, within this)
phase tail
nap "$TAIL"

# ---- the end of the load --------------------------------------------------------------------
phase end
touch "$work/stop_load"
for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null; done
bg_pids=()
kill -TERM "$sim"
for _ in $(seq 1 100); do alive "$sim" || break; nap 0.1; done
wait "$sim"; simrc=$?
[ "$simrc" = 0 ] || fail "fssim exited $simrc: $(head -3 "$work/fssim.err")"
info "$(grep '^FSSIM calls=' "$work/fssim.out")"
# A restarted FreeSWITCH with no call: the worker reconnects and settles
# whatever it did not see end.
"$fssim" --listen "127.0.0.1:$simport" --quiet >"$work/idle.out" 2>"$work/idle.err" &
idle_sim=$!
no_calls() { [[ $(ctl status) == *" calls=0 "* ]]; }
poll 60 no_calls
mark "no call left"
st=$(ctl status)
calls_left=$(grep -o 'calls=[0-9]*' <<<"$st" | cut -d= -f2)
fault "calls_left ${calls_left:-?}"
[ "${calls_left:-x}" = 0 ] && ok "no call slot left once all calls ended" ||
  fail "call slots still live after the end: $st"
cucm_idle() { [ -z "$(ls "$drop" | grep '^cdr_')" ]; }
poll 60 cucm_idle || fail "CUCM files still waiting: $(ls "$drop" | grep '^cdr_' | head -3)"
# every recharge answered: retried with its key until it is
rc_final() {
  local tok key acct amt st
  tok=$(login)
  [ -n "$tok" ] || return 1
  while read -r key acct amt; do
    grep -q "^$key 20[01] " "$work/recharges.status" 2>/dev/null && continue
    st=$(recharge "$key" "$acct" "$amt" "$tok")
    echo "$key $st $(now_ms)" >>"$work/recharges.status"
    case $st in 200|201) ;; *) return 1 ;; esac
  done <"$work/recharges.list"
}
poll 60 rc_final || fail "some recharges were never answered 200/201"
mark "recharges answered"
all_drained() { h=$(heads); d=$(drained); [ -n "$d" ] && [ "$d" = "$h" ]; }
poll 60 all_drained || fail "not drained: journal heads $h, journal_position ${d:-?}"
mark "drained"

# ---- the checks -------------------------------------------------------------------------------
for id in $(cut -d' ' -f1 "$work/classes"); do
  echo "$id $(ctl "account $id")"
done >"$work/live.txt"
sql "COPY (SELECT call_id, source, coalesce(account_id, 0), billsec, cost, flags,
              hangup_cause FROM cdrs) TO STDOUT WITH CSV" >"$work/cdrs.csv"
sql "SELECT a.id, o.balance, a.balance,
            coalesce((SELECT sum(amount) FROM ledger l WHERE l.account_id = a.id), 0),
            coalesce((SELECT sum(amount) FROM ledger l WHERE l.account_id = a.id
                       AND kind = 'recharge'), 0),
            coalesce((SELECT sum(cost) FROM cdrs c WHERE c.account_id = a.id), 0)
       FROM accounts a JOIN t_fault_opening o USING (id) ORDER BY a.id" |
  tr '|' ' ' >"$work/accounts.txt"
sql "SELECT reference, count(*), sum(amount) FROM ledger WHERE kind = 'recharge'
      GROUP BY 1" | tr '|' ' ' >"$work/ledger_recharges.txt"
rejects=$(sql "SELECT count(*) FROM journal_rejects")
fault "journal_rejects $rejects"
[ "$rejects" = 0 ] || fail "$rejects record(s) in journal_rejects"
# PostgreSQL refuses a second CDR of a call id: a call billed twice would
# show as a reject above, or as a second debit here.
read -r debits charged ddup <<<"$(sql "SELECT
    (SELECT count(*) FROM ledger WHERE kind = 'call_debit'),
    (SELECT count(*) FROM cdrs WHERE cost > 0),
    (SELECT count(*) FROM (SELECT reference FROM ledger WHERE kind = 'call_debit'
                            GROUP BY 1 HAVING count(*) > 1) d)" | tr '|' ' ')"
fault "debits_doubled $ddup"
[ "$debits" = "$charged" ] && [ "$ddup" = 0 ] &&
  ok "one ledger debit per CDR with a cost ($debits)" ||
  fail "$debits call debits in the ledger ($ddup references twice) for $charged CDRs with a cost"
sigbus=$(grep -c 'crashed with signal SIGBUS' "$log")
fault "sigbus_crashes $sigbus"
# Children that died of something else than our kill -9 or SIGBUS (those
# are the disk-full fault's, counted and checked there): none.
grep -E 'mod=children msg=".*(crashed with|failed with|exited cleanly without)' "$log" |
  grep -v -e 'signal SIGKILL' -e 'signal SIGBUS' >"$work/crashes"
fault "unexpected_child_deaths $(wc -l <"$work/crashes")"
[ -s "$work/crashes" ] && { fail "children died of something else than our kill -9:";
  head -5 "$work/crashes" | sed 's/^/      /'; }
printf '%s\n' "cdr_FullCl_01_1 20" "cdr_FullCl_01_2 20" "cdr_FullCl_01_3 19" \
  >"$work/dropped_full.list"
[ "$fs_mounted" = 1 ] || : >"$work/dropped_full.list"

python3 - "$work" "$RATE_PER_SEC" <<'EOF'
import csv, json, os, re, sys
work, rate = sys.argv[1], int(sys.argv[2])
P = lambda n: os.path.join(work, n)
fails = 0
def fault(name, v): print("FAULT %s %s" % (name, v))
def check(cond, okmsg, failmsg):
    global fails
    if cond: print("ok:   " + okmsg)
    else:
        print("FAIL: " + failmsg); fails += 1

cls = dict(l.split() for l in open(P("classes")))
ext = dict(l.split() for l in open(P("extensions")))
phases = [(l.split()[0], int(l.split()[1])) for l in open(P("phases"))]
def phase_of(us):
    name = "before"
    for n, t in phases:
        if t <= us: name = n
    return name

calls = [json.loads(l) for l in open(P("report.jsonl")) if l.strip()]
calls = [c for c in calls if c["created_us"] > 0]
cdrs = {}
for r in csv.reader(open(P("cdrs.csv"))):
    cdrs.setdefault(r[0], []).append(r)

lost = doubled = never = bs_bad = cost_bad = estimated = unbilled = 0
oom = mass = over = under = past_fs = 0
per_phase = {}
def pp(us):
    return per_phase.setdefault(phase_of(us), {"oom": 0, "mass": 0, "never": 0, "est": 0})
examples = {"lost": [], "mass": [], "billsec": [], "cost": []}
answered = 0
for c in calls:
    rows = cdrs.get(c["uuid"], [])
    acct = ext.get(c["caller"], "0")
    klass = cls.get(acct, "?")
    if c["answered_us"]: answered += 1
    if c["verdict"] == "none":
        never += 1
        if len(rows) > 1: doubled += 1
        pp(c["parked_us"])["never"] += 1
    elif len(rows) == 0:
        lost += 1; examples["lost"].append(c["name"])
    elif len(rows) > 1:
        doubled += 1
    engine = (c["verdict"] == "kill" or
              c["ended_by"] in ("uuid_kill", "sched_hangup"))
    if engine:
        when = c["verdict_us"] if c["verdict"] == "kill" else c["hangup_us"]
        if klass == "poor":
            oom += 1; pp(when)["oom"] += 1
        else:
            mass += 1; pp(when)["mass"] += 1
            examples["mass"].append("%s(acct %s, %s, %s, talked %d ms)" % (
                c["name"], acct, c["ended_by"] if c["verdict"] != "kill" else "refused",
                c["kill_cause"] or c["cause"], c["billmsec"]))
    want = (c["billmsec"] + 500) // 1000 if c["answered_us"] else 0
    for r in rows[:1]:
        billsec, cost, flags = int(r[3]), int(r[4]), int(r[5])
        if flags & 8:
            estimated += 1; pp(c["hangup_us"])["est"] += 1
            if billsec > want: over += billsec - want
            else: under += want - billsec
            # hung up by its fail-safe: the engine's own bound of the
            # estimate ("never past its paid time") is that moment
            if c["ended_by"] == "sched_hangup" and billsec > want + 1:
                past_fs += 1
                examples.setdefault("past_fs", []).append(
                    "%s(billed %d s, talked %d ms)" % (c["name"], billsec, c["billmsec"]))
            continue
        if billsec != want:
            bs_bad += 1
            examples["billsec"].append("%s(%d vs %d ms)" % (c["name"], billsec, c["billmsec"]))
        if flags & 0x40:
            unbilled += 1
            want_cost = 0
        else:
            want_cost = billsec * rate if c["verdict"] == "transfer" else 0
        if cost != want_cost:
            cost_bad += 1
            examples["cost"].append("%s(%d vs %d)" % (c["name"], cost, want_cost))

uuids = {c["uuid"] for c in calls}
unknown = sum(1 for k, v in cdrs.items() if v[0][1] == "freeswitch" and k not in uuids)

# CUCM: every record dropped has one CDR
cucm_expected = 0
for f in ("dropped.list", "dropped_full.list"):
    if os.path.exists(P(f)):
        cucm_expected += sum(int(l.split()[1]) for l in open(P(f)) if l.strip())
cucm_rows = [v for k, v in cdrs.items() if v[0][1] == "cucm"]
cucm_ids = len(cucm_rows)
cucm_doubled = sum(1 for v in cucm_rows if len(v) > 1)
cucm_cost_bad = sum(1 for v in cucm_rows
                    if int(v[0][4]) != int(v[0][3]) * rate and not int(v[0][5]) & 0x40)

fault("calls_offered", len(calls))
fault("calls_answered", answered)
fault("cucm_records", cucm_expected)
fault("cdrs_in_postgresql", sum(len(v) for v in cdrs.values()))
fault("cdrs_lost", lost + max(0, cucm_expected - cucm_ids))
fault("cdrs_doubled", doubled + cucm_doubled)
fault("cdrs_unknown", unknown + max(0, cucm_ids - cucm_expected))
fault("billsec_mismatch", bs_bad)
fault("cost_mismatch", cost_bad + cucm_cost_bad)
fault("estimated_cdrs", estimated)
fault("estimated_overbilled_sec", over)
fault("estimated_underbilled_sec", under)
fault("estimated_past_failsafe", past_fs)
fault("unbilled_cdrs", unbilled)
fault("calls_never_authorized", never)
fault("engine_hangups_out_of_money", oom)
fault("mass_hangup", mass)
print("      %-16s %8s %8s %8s %8s" % ("calls by phase", "poor cut", "solv cut", "no auth", "estim."))
for n, _ in phases:
    v = per_phase.get(n, {"oom": 0, "mass": 0, "never": 0, "est": 0})
    print("      %-16s %8d %8d %8d %8d" % (n, v["oom"], v["mass"], v["never"], v["est"]))
for n, _ in phases:
    if n not in ("load", "end"):
        fault("mass_hangup_" + n, per_phase.get(n, {}).get("mass", 0))
check(lost == 0, "every ESL call the engine gave a verdict has a CDR (%d calls)" % len(calls),
      "%d ESL call(s) without a CDR: %s" % (lost, " ".join(examples["lost"][:8])))
check(cucm_ids == cucm_expected, "every CUCM record dropped has a CDR (%d)" % cucm_expected,
      "%d CUCM call ids in PostgreSQL for %d records dropped" % (cucm_ids, cucm_expected))
check(doubled + cucm_doubled == 0, "no call has two CDRs",
      "%d call(s) with more than one CDR" % (doubled + cucm_doubled))
check(unknown == 0, "no CDR of a call the simulator did not make",
      "%d FreeSWITCH CDR(s) of unknown calls" % unknown)
check(bs_bad == 0, "every CDR not estimated bills the simulator's billmsec, rounded",
      "%d CDR(s) with a billsec other than the call's: %s" % (bs_bad, " ".join(examples["billsec"][:8])))
check(past_fs == 0, "no estimated CDR bills past the fail-safe that ended its call",
      "%d estimated CDR(s) of calls hung up by their fail-safe bill more than they talked: %s"
      % (past_fs, " ".join(examples.get("past_fs", [])[:6])))
check(cost_bad + cucm_cost_bad == 0, "every CDR costs billsec x the rate",
      "%d CDR(s) at another price: %s" % (cost_bad + cucm_cost_bad, " ".join(examples["cost"][:8])))
if "disk_full" in [n for n, _ in phases]:
    nv = per_phase.get("disk_full", {}).get("never", 0)
    check(nv == 0, "every call parked with the disk full was authorized or refused",
          "%d call(s) parked with the disk full never had a verdict (parked until FreeSWITCH's timeout)" % nv)
check(mass == 0, "the engine refused or cut only calls of accounts out of money (%d)" % oom,
      "%d call(s) of solvent accounts refused or cut by the engine or its fail-safe: %s"
      % (mass, " ".join(examples["mass"][:10])))

# money
live = {}
for l in open(P("live.txt")):
    m = re.match(r"(\d+) ok id=\d+ balance=(-?\d+) reserved=(-?\d+)", l)
    if m: live[m.group(1)] = (int(m.group(2)), int(m.group(3)))
cons_pg = cons_live = reserved = 0
for l in open(P("accounts.txt")):
    i, opening, bal, ledger, rech, spent = l.split()
    opening, bal, ledger, rech, spent = map(int, (opening, bal, ledger, rech, spent))
    if opening + rech - spent != bal or opening + ledger != bal:
        cons_pg += 1
        print("      account %s: opening %d + recharges %d - CDR costs %d = %d, ledger %d, balance %d"
              % (i, opening, rech, spent, opening + rech - spent, ledger, bal))
    lb = live.get(i)
    if lb is None or lb[0] != bal:
        cons_live += 1
        print("      account %s: live %s, PostgreSQL %d" % (i, lb, bal))
    elif lb[1] != 0:
        reserved += 1
        print("      account %s: %d still reserved" % (i, lb[1]))
fault("conservation_pg", cons_pg)
fault("conservation_live", cons_live)
fault("reserved_left", reserved)
check(cons_pg == 0, "opening + recharges - CDR costs = opening + ledger = balance, every account",
      "%d account(s) break conservation in PostgreSQL" % cons_pg)
check(cons_live == 0, "the live balance (ctl account) = PostgreSQL's, every account",
      "%d account(s) whose live balance differs" % cons_live)
check(reserved == 0, "no reservation left", "%d account(s) still hold a reservation" % reserved)

# recharges: one ledger row per key
keys = [l.split() for l in open(P("recharges.list"))] if os.path.exists(P("recharges.list")) else []
rows = {}
for l in open(P("ledger_recharges.txt")):
    if l.strip():
        ref, n, s = l.split(); rows[ref] = (int(n), int(s))
rl = sum(1 for k in keys if k[0] not in rows)
rd = sum(1 for k in keys if rows.get(k[0], (1, 0))[0] > 1)
fault("recharges", len(keys))
fault("recharges_lost", rl)
fault("recharges_doubled", rd)
check(rl == 0 and rd == 0 and len(rows) == len(keys),
      "%d recharges, each in the ledger once" % len(keys),
      "recharges: %d lost, %d doubled, %d ledger references for %d keys" % (rl, rd, len(rows), len(keys)))
sys.exit(1 if fails else 0)
EOF
[ $? = 0 ] || fails=$((fails + 1))

t0=$(now_ms)
stop_apolod; rc=$?
fault "stop_ms $(($(now_ms) - t0))"
[ "$rc" = 0 ] && ok "SIGTERM: apolod stopped cleanly" || fail "apolod exited $rc on SIGTERM"
no_children || fail "children still running after apolod stopped"
kill -TERM "$idle_sim" "$proxy" 2>/dev/null
fault "run_sec $((($(now_ms) - t_begin) / 1000))"
if [ $fails -gt 0 ]; then
  grep -E 'level=error' "$log" | tail -15
  echo "t_fault: $fails failure(s)"; exit 1
fi
echo "t_fault: all passed"
