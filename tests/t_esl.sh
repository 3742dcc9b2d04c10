#!/usr/bin/env bash
# t_esl.sh -- acceptance test of the FreeSWITCH worker (workers/esl*.c)
# against the simulator (tests/fssim), with apolod, its journal and the
# private PostgreSQL of tests/run.sh.
#
# One apolod, one simulated node, one script of calls (tests/esl/calls.fss),
# each scenario on accounts of its own so that its money can be checked
# alone. The simulator checks what the engine told FreeSWITCH (verdict,
# hangup cause, when the call was cut) and exits 1 on any miss; then this
# script checks PostgreSQL after apolod stopped (the flusher drained
# everything):
#   - one CDR per call, by Unique-ID, none doubled (duplicate and reordered
#     events included), the cost of each as the deck says, zero for
#     unanswered, refused and inbound calls
#   - every account's balance: opening + ledger = balance, and the exact
#     closing balance of each scenario
#   - 50 concurrent calls of one prepaid account: spent <= its balance
#   - the region agrees at the end: no reservation left (apolod ctl)
# A second short run with a wrong password checks the log line and that
# the worker neither crashes nor moves money.
#
# KEEP=1 keeps the temp folder.
set -uo pipefail
top=${APOLO_TOP:?run through tests/run.sh}
build=${APOLO_BUILD:?run through tests/run.sh}
: "${DATABASE_URL:?run through tests/run.sh}"
case $build in /*) ;; *) build=$top/$build ;; esac
bin=$build/apolod
fssim=$build/fssim
work=$(mktemp -d /tmp/apolo-tesl.XXXXXX)
db=apolo_t_esl_$$
conf=$work/apolod.conf
fails=0
pids=()

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok:   $*"; }
now_ms() { date +%s%3N; }

cleanup() {
  local p
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  for p in $(pgrep -f -- "-c $conf" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
    >/dev/null 2>&1
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'echo "t_esl: interrupted"; exit 143' INT TERM

if [[ $DATABASE_URL =~ ^(postgres(ql)?://[^/?]*)/([^?]*)(\?.*)?$ ]]; then
  dburl="${BASH_REMATCH[1]}/$db${BASH_REMATCH[4]}"
else
  dburl="$DATABASE_URL dbname=$db"
fi
psql "$DATABASE_URL" -qc "CREATE DATABASE $db" || exit 1
sql() { psql "$dburl" -v ON_ERROR_STOP=1 -qAtc "$1"; }
balance() { sql "SELECT balance FROM accounts WHERE id = $1"; }

cat >"$conf" <<EOF
log_level = info
sql_dir = "$top/sql"
journal.path = "$work/journal"
journal.rings = 4
journal.slots = 4096
region.heap_mb = 64
region.max_accounts = 1000
calls.path = "$work/calls"
calls.max = 1024
admin.listen = "127.0.0.1:$((20000 + RANDOM % 12000))"
ctl.socket = "$work/apolod.sock"
supervisor.notify = 0
esl.debit_interval_sec = 5
esl.ring_allowance_sec = 2
esl.reconnect_max_ms = 400
esl.max_resync_kills = 2
esl.low_balance_sound = "tone_stream://%(500,0,800)"
esl.max_frame_kb = 1024
EOF

# ---- the database: plan, deck, accounts, extensions -------------------------
APOLO_DATABASE_URL="$dburl" "$bin" -c "$conf" migrate >"$work/migrate.log" 2>&1 ||
  { cat "$work/migrate.log"; fail "apolod migrate"; exit 1; }
# Money in micro-units. 5491 costs 1.000000 a second (60/min, 1/1); 54
# costs 6.000000 a started minute (60/60).
sql "
INSERT INTO rate_plans (id, name, currency, time_zone, rounding, number_rules)
  VALUES (1, 'ESL test', 'ARS', 'UTC', 'up', '');
INSERT INTO zones (id, code, name) VALUES (1, 'AR', 'Argentina'),
  (2, 'AR-MOB', 'Argentina mobile');
INSERT INTO deck_versions (plan_id, version, actor) VALUES (1, 1, 't_esl');
INSERT INTO rates (plan_id, prefix, zone_id, rate_per_minute, connection_fee,
                   first_increment, next_increment, effective_from,
                   deck_version)
  VALUES (1, '54', 1, 6000000, 0, 60, 60, '2024-01-01', 1),
         (1, '5491', 2, 60000000, 0, 1, 1, '2024-01-01', 1);
INSERT INTO accounts (id, code, name, type, balance, credit_limit, currency,
                      plan_id, status, low_balance_threshold) VALUES
  (1, 'NORMAL',  'normal calls',       'prepaid',  1000000000, 0, 'ARS', 1, 'active', NULL),
  (2, 'POOR',    'not enough credit',  'prepaid',      500000, 0, 'ARS', 1, 'active', NULL),
  (3, 'CUT',     'cut mid-call',       'prepaid',    12000000, 0, 'ARS', 1, 'active', 5000000),
  (4, 'SHARED',  '50 concurrent',      'prepaid',   100000000, 0, 'ARS', 1, 'active', NULL),
  (5, 'POST',    'postpaid',           'postpaid',          0, 8000000, 'ARS', 1, 'active', NULL),
  (6, 'BLOCKED', 'blocked',            'prepaid',  1000000000, 0, 'ARS', 1, 'blocked', NULL),
  (7, 'RESYNC',  'connection cut',     'prepaid',  1000000000, 0, 'ARS', 1, 'active', NULL),
  (8, 'BADNET',  'malformed frames',   'prepaid',  1000000000, 0, 'ARS', 1, 'active', NULL),
  (9, 'CRASH',   'worker killed',      'prepaid',  1000000000, 0, 'ARS', 1, 'active', NULL),
  (10, 'UNSEEN', 'ended unseen',       'prepaid',  1000000000, 0, 'ARS', 1, 'active', NULL),
  (11, 'SUPER',  'apolod killed',      'prepaid',  1000000000, 0, 'ARS', 1, 'active', NULL),
  (12, 'LOSTCUT', 'hangup event lost', 'prepaid',     4000000, 0, 'ARS', 1, 'active', NULL),
  (13, 'LOSTRING', 'never answered, lost', 'prepaid', 1000000000, 0, 'ARS', 1, 'active', NULL),
  (14, 'BUDGET', 'resync kill budget', 'prepaid',    20000000, 0, 'ARS', 1, 'active', NULL),
  (15, 'NODEA',  'node 1',             'prepaid',  1000000000, 0, 'ARS', 1, 'active', NULL),
  (16, 'NODEB',  'node 2',             'prepaid',  1000000000, 0, 'ARS', 1, 'active', NULL),
  (17, 'IDLE',   'silent node',        'prepaid',  1000000000, 0, 'ARS', 1, 'active', NULL),
  (18, 'REFUSE', 'debit refused',      'prepaid',  1000000000, 0, 'ARS', 1, 'active', NULL),
  (19, 'LOSTANS', 'answer event lost, cut', 'prepaid',  4000000, 0, 'ARS', 1, 'active', NULL),
  (20, 'LOSTANSOK', 'answer event lost', 'prepaid', 1000000000, 0, 'ARS', 1, 'active', NULL),
  (21, 'ORPHAN', 'parked while away',  'prepaid',  1000000000, 0, 'ARS', 1, 'active', NULL),
  (22, 'STALE',  're-arm lost',        'prepaid',  1000000000, 0, 'ARS', 1, 'active', NULL);
INSERT INTO extensions (number, account_id) VALUES
  ('1001', 1), ('1002', 2), ('1003', 3), ('1004', 4), ('1005', 5),
  ('1006', 6), ('1007', 7), ('1008', 8), ('1009', 9),
  ('1010', 10), ('1011', 11), ('1012', 12), ('1013', 13),
  ('1014', 14), ('1015', 15), ('1016', 16), ('1017', 17), ('1018', 18),
  ('1019', 19), ('1020', 20), ('1021', 21), ('1022', 22);
CREATE TABLE t_esl_opening AS SELECT id, balance FROM accounts;" ||
  { fail "seeding the database"; exit 1; }

# ---- the script -------------------------------------------------------------
script=$work/calls.fss
{
  cat "$top/tests/esl/calls.fss"
  # 50 concurrent calls of account 4 (100.000000): 20 s each at 1/s would
  # cost 1000; the account pays for 100 seconds in all.
  for i in $(seq 1 50); do
    echo "call name=shared$i at=200 caller=1004 dest=549110000$((1000 + i)) ring=100 talk=20000"
  done
} >"$script"
ncalls=$(grep -c '^call ' "$script")

# start_sim LOG ARGS...: fssim on an ephemeral port; $simport, $sim
start_sim() {
  local log=$1; shift
  "$fssim" --listen 127.0.0.1:0 --quiet "$@" >"$work/$log.out" 2>"$work/$log.err" &
  sim=$!; pids+=("$sim")
  simport=""
  for _ in $(seq 1 50); do
    simport=$(grep -o 'FSSIM listening [0-9]*' "$work/$log.out" | grep -o '[0-9]*$')
    [ -n "$simport" ] && return 0
    sleep 0.1
  done
  fail "fssim did not start"; cat "$work/$log.err"; exit 1
}
start_apolod() {   # LOG NODES [VAR=VALUE...]
  local log=$1 nodes=$2; shift 2
  env APOLO_DATABASE_URL="$dburl" APOLO_ESL_NODES="$nodes" "$@" "$bin" -c "$conf" \
    >>"$work/$log.log" 2>&1 &
  sup=$!; pids+=("$sup")
}
ctl() { "$bin" -c "$conf" ctl -t 10000 "$@" 2>/dev/null; }
stop_apolod() {
  kill -TERM "$sup" 2>/dev/null
  for _ in $(seq 1 150); do kill -0 "$sup" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$sup" 2>/dev/null; then fail "apolod did not stop within 15 s"; fi
  wait "$sup"; local rc=$?
  [ $rc -eq 0 ] || fail "apolod exited $rc"
}

# ---- run 1: the calls ----------------------------------------------------------
start_sim sim --script "$script" --report "$work/report.jsonl"
t0=$(now_ms)
start_apolod main "ClueCon@127.0.0.1:$simport"
# The script's clock starts when the worker subscribes; the call "crash"
# talks from 16.6 s to 22.6 s: kill -9 its worker at 18.5 s.
for _ in $(seq 1 100); do
  grep -q 'connected to 127.0.0.1' "$work/main.log" && break; sleep 0.1
done
t_sub=$(now_ms)
sleep 18.5
esl_pid=$(grep -o 'esl-1 started, pid [0-9]*' "$work/main.log" | tail -1 | grep -o '[0-9]*$')
kill -9 "$esl_pid" 2>/dev/null && echo "      killed esl-1 (pid $esl_pid) $(($(now_ms) - t_sub)) ms after it subscribed"
wait "$sim"; simrc=$?
echo "      the simulator ran $ncalls calls in $(($(now_ms) - t0)) ms"
if [ $simrc -eq 0 ]; then
  ok "every expectation of the script held (verdicts, causes, cut times)"
else
  fail "the simulator saw the engine miss (exit $simrc):"
  sed 's/^/      /' "$work/sim.err" | grep -v '^ *$' | head -40
fi
# The region at the end, before apolod stops: nothing reserved any more.
for id in 1 3 4 5 7 9 10 12 13 19 20 21; do
  r=$(ctl "account $id")
  [[ $r == *" reserved=0 "* ]] || fail "account $id still holds a reservation: $r"
done
stop_apolod

# ---- PostgreSQL ------------------------------------------------------------------
cdrs=$(sql "SELECT count(*) FROM cdrs")
dups=$(sql "SELECT count(*) FROM (SELECT call_id FROM cdrs GROUP BY 1 HAVING count(*) > 1) d")
[ "$cdrs" = "$ncalls" ] && ok "$cdrs CDRs for $ncalls calls" ||
  fail "$cdrs CDRs for $ncalls calls"
[ "$dups" = 0 ] || fail "$dups call ids with more than one CDR"
bad=$(sql "SELECT string_agg(a.id || ': ' || o.balance || ' + ' ||
                  coalesce(l.s, 0) || ' <> ' || a.balance, ', ')
             FROM accounts a JOIN t_esl_opening o USING (id)
             LEFT JOIN (SELECT account_id, sum(amount) s FROM ledger
                         GROUP BY 1) l ON l.account_id = a.id
            WHERE o.balance + coalesce(l.s, 0) <> a.balance")
[ -z "$bad" ] && ok "conservation: opening + ledger = balance, every account" ||
  fail "conservation broken: $bad"
debits=$(sql "SELECT count(*) FROM ledger WHERE kind = 'call_debit'")
costly=$(sql "SELECT count(*) FROM cdrs WHERE cost > 0")
[ "$debits" = "$costly" ] || fail "$debits call debits for $costly CDRs with a cost"

# expect_cdr NAME_PATTERN_CALLID COST BILLSEC: via the report's uuid
uuid_of() { grep "\"name\": *\"$1\"" "$work/report.jsonl" | grep -o '"uuid": *"[^"]*"' | cut -d'"' -f4; }
expect_cdr() {
  local u got; u=$(uuid_of "$1")
  [ -n "$u" ] || { fail "no call $1 in the report"; return; }
  got=$(sql "SELECT cost || ' ' || billsec || ' ' || direction FROM cdrs WHERE call_id = '$u'")
  [ "$got" = "$2 $3 $4" ] && ok "CDR of $1: cost $2, billsec $3, $4" ||
    fail "CDR of $1: got '$got', expected '$2 $3 $4'"
}
expect_cdr normal 3000000 3 outbound
expect_cdr unanswered 0 0 outbound
expect_cdr fixed 6000000 2 outbound
expect_cdr poor 0 0 outbound
expect_cdr norate 0 0 outbound
expect_cdr cut 12000000 12 outbound
expect_cdr post 8000000 8 outbound
expect_cdr blocked 0 0 outbound
expect_cdr inbound 0 4 inbound
expect_cdr dup 2000000 2 outbound
expect_cdr reorder 2000000 2 outbound
expect_cdr resync 8000000 8 outbound
expect_cdr afterbad 1000000 1 outbound
expect_cdr crash 6000000 6 outbound
expect_cdr tail 1000000 1 outbound
expect_cdr lostans 4000000 4 outbound
expect_cdr lostansok 9000000 9 outbound
n=$(grep -c 'CHANNEL_ANSWER never came' "$work/main.log")
[ "$n" = 2 ] && ok "the two dropped answers were found by the ring poll" ||
  fail "$n answers found by the ring poll, expected 2"
expect_cdr orphan 2000000 2 outbound
grep -q "call $(uuid_of orphan) was parked while the connection was down" "$work/main.log" &&
  ok "the call parked while the connection was down was authorized at the resync" ||
  fail "no log of the orphan's authorization"
u=$(uuid_of unseen)
got=$(sql "SELECT cost || ' ' || (flags & 8) FROM cdrs WHERE call_id = '$u'")
cost=${got% *}
if [ "${got#* }" = 8 ] && [ "$cost" -ge 3000000 ] && [ "$cost" -le 10000000 ]; then
  ok "CDR of unseen: estimated, cost $cost (talked 3 s, paid for at most 10)"
else
  fail "CDR of unseen: got '$got' (cost, estimated flag)"
fi
# expect_estimated NAME COST BILLSEC: a CDR flagged estimated (bit 3)
expect_estimated() {
  local u got; u=$(uuid_of "$1")
  got=$(sql "SELECT cost || ' ' || billsec || ' ' || (flags & 8) FROM cdrs WHERE call_id = '$u'")
  [ "$got" = "$2 $3 8" ] && ok "CDR of $1 (hangup event lost): cost $2, billsec $3, estimated" ||
    fail "CDR of $1: got '$got', expected '$2 $3 8' (cost, billsec, estimated)"
}
expect_estimated lostcut 4000000 4
expect_estimated lostring 0 0
# The resync kill budget: hangups of budget1..4 in two rounds, 2 + 2.
hs=$(for n in 1 2 3 4; do grep "\"name\": *\"budget$n\"" "$work/report.jsonl" |
       grep -o '"hangup_us": *[0-9]*' | grep -o '[0-9]*$'; done | sort -n | paste -sd' ')
read -r h1 h2 h3 h4 <<<"$hs"
if [ -n "${h4:-}" ] && [ $((h2 - h1)) -lt 500000 ] && [ $((h3 - h2)) -ge 700000 ] &&
   [ $((h4 - h3)) -lt 500000 ]; then
  ok "resync kill budget: 4 calls past their paid time cut 2 + 2, $(((h3 - h2) / 1000)) ms apart"
else
  fail "resync kill budget: hangups at '$hs' (expected two pairs about 1 s apart)"
fi
got=$(sql "SELECT count(*) || ' ' || min(billsec) FROM cdrs WHERE account_id = 14")
spent=$(sql "SELECT sum(cost) FROM cdrs WHERE account_id = 14")
[ "${got% *}" = 4 ] && [ "${got#* }" -ge 5 ] && [ $((20000000 - $(balance 14))) = "$spent" ] &&
  ok "the 4 calls are billed what they talked ($spent), balance $(balance 14)" ||
  fail "budget calls: CDRs/min billsec '$got', spent $spent, balance $(balance 14)"
# Low balance: account 3 falls under its threshold (5.000000) at its first
# extension: the warning is logged and the sound played to the caller.
b=$(grep '"name": *"cut"' "$work/report.jsonl" | grep -o '"broadcasts": *[0-9]*' | grep -o '[0-9]*$')
grep -q 'low balance: account 3 ' "$work/main.log" && [ "${b:-0}" -ge 1 ] &&
  ok "low balance: warned and uuid_broadcast to the caller ($b)" ||
  fail "low balance: no warning or no broadcast (broadcasts=${b:-none})"
grep -q 'adopted 1 calls' "$work/main.log" && ok "the restarted worker adopted the live call" ||
  fail "no adoption after the worker was killed"

expect_balance() {
  local got; got=$(balance "$1")
  [ "$got" = "$2" ] && ok "account $1 ($3): balance $2" ||
    fail "account $1 ($3): balance $got, expected $2"
}
expect_balance 1 $((1000000000 - 3000000 - 6000000 - 2000000 - 2000000 - 1000000)) "normal, fixed, dup, reorder, tail"
expect_balance 2 500000 "refused: nothing moved"
expect_balance 3 0 "cut when the money ended"
expect_balance 5 -8000000 "postpaid to its credit limit"
expect_balance 6 1000000000 "blocked: nothing moved"
expect_balance 7 $((1000000000 - 8000000)) "resync after a lost connection"
expect_balance 8 $((1000000000 - 1000000)) "malformed frames: nothing but the call"
expect_balance 9 $((1000000000 - 6000000)) "worker killed mid-call"
expect_balance 12 0 "cut, hangup event lost"
expect_balance 13 1000000000 "never answered, hangup event lost"
expect_balance 19 0 "answer event lost, cut when the money ended"
expect_balance 20 $((1000000000 - 9000000)) "answer event lost, metered"
expect_balance 21 $((1000000000 - 2000000)) "parked while the connection was down"
b10=$(balance 10)
[ $((1000000000 - b10)) = "$cost" ] && ok "account 10 paid the estimate, once" ||
  fail "account 10: balance $b10 for an estimate of $cost"
spent=$(sql "SELECT coalesce(sum(cost), 0) FROM cdrs WHERE account_id = 4")
b4=$(balance 4)
if [ "$b4" -ge 0 ] && [ $((100000000 - b4)) = "$spent" ] && [ "$spent" -le 100000000 ]; then
  ok "50 concurrent calls of one prepaid account spent $spent of 100000000, balance $b4"
else
  fail "50 concurrent calls: spent $spent, balance $b4 (overspent or lost)"
fi
grep -q 'malformed frame' "$work/main.log" && ok "the malformed frame was logged" ||
  fail "no log line for the malformed frame"
grep -q 'exceeds' "$work/main.log" && ok "the huge Content-Length was logged" ||
  fail "no log line for the huge Content-Length"
grep -q 'sip_auth_password\|s3cr3t' "$work/main.log" && fail "a channel secret reached the log"

# ---- run 3: apolod killed mid-call ------------------------------------------------
start_sim super --script "$top/tests/esl/super.fss" --report "$work/super.jsonl"
start_apolod super "ClueCon@127.0.0.1:$simport"
for _ in $(seq 1 100); do
  grep -q 'connected to 127.0.0.1' "$work/super.log" && break; sleep 0.1
done
sleep 3.5
kill -9 "$sup"; wait "$sup" 2>/dev/null
for _ in $(seq 1 50); do pgrep -f -- "-c $conf" >/dev/null || break; sleep 0.1; done
pgrep -f -- "-c $conf" >/dev/null && fail "children of the killed apolod still run"
start_apolod super "ClueCon@127.0.0.1:$simport"
wait "$sim"; simrc=$?
[ $simrc -eq 0 ] || { fail "run 3: the simulator saw the engine miss"; sed 's/^/      /' "$work/super.err" | head; }
r=$(ctl "account 11")
[[ $r == *" reserved=0 "* ]] || fail "account 11 still holds a reservation: $r"
stop_apolod
grep -q 'call(s) of the previous apolod kept' "$work/super.log" &&
  ok "the new apolod kept the live call and restored its reservation" ||
  fail "the new apolod did not restore the live call"
u=$(grep -o '"uuid": *"[^"]*"' "$work/super.jsonl" | cut -d'"' -f4)
got=$(sql "SELECT count(*) || ' ' || sum(cost) || ' ' || max(billsec) FROM cdrs WHERE call_id = '$u'")
[ "$got" = "1 9000000 9" ] && ok "apolod killed mid-call: one CDR, 9 s billed in full" ||
  fail "apolod killed mid-call: CDRs/cost/billsec '$got', expected '1 9000000 9'"
expect_balance 11 $((1000000000 - 9000000)) "apolod killed mid-call"
bad=$(sql "SELECT count(*) FROM accounts a JOIN t_esl_opening o USING (id)
             LEFT JOIN (SELECT account_id, sum(amount) s FROM ledger GROUP BY 1) l
                    ON l.account_id = a.id
            WHERE o.balance + coalesce(l.s, 0) <> a.balance")
[ "$bad" = 0 ] || fail "conservation broken after run 3 ($bad accounts)"

# ---- run 4: two nodes, one worker each ----------------------------------------------
start_sim node_a --script "$top/tests/esl/node_a.fss" --report "$work/node_a.jsonl"
sim_a=$sim port_a=$simport
start_sim node_b --script "$top/tests/esl/node_b.fss" --report "$work/node_b.jsonl"
start_apolod nodes "ClueCon@127.0.0.1:$port_a, ClueCon@127.0.0.1:$simport"
wait "$sim_a"; rca=$?
wait "$sim"; rcb=$?
stop_apolod
[ $rca = 0 ] && [ $rcb = 0 ] || fail "two nodes: a simulator saw the engine miss ($rca, $rcb)"
grep -q 'esl-2 started' "$work/nodes.log" && ok "two nodes: two ESL workers" ||
  fail "two nodes: no second ESL worker"
got=$(sql "SELECT string_agg(account_id || ':' || cost, ' ' ORDER BY account_id)
             FROM cdrs WHERE account_id IN (15, 16)")
[ "$got" = "15:2000000 16:3000000" ] && ok "two nodes: each call billed once ($got)" ||
  fail "two nodes: CDRs '$got', expected '15:2000000 16:3000000'"

# ---- run 5: a silent node ------------------------------------------------------------
start_sim idle --heartbeat-sec 0 --script "$top/tests/esl/idle.fss"
start_apolod idle "ClueCon@127.0.0.1:$simport" APOLO_ESL_IDLE_TIMEOUT_SEC=2
wait "$sim"; rc=$?
stop_apolod
[ $rc = 0 ] || fail "silent node: the simulator saw the engine miss"
grep -q 'no data, not even a HEARTBEAT' "$work/idle.log" &&
  ok "silent node: presumed dead after esl.idle_timeout_sec and reconnected" ||
  fail "silent node: no idle-timeout drop in the log"
[ "$(sql "SELECT cost FROM cdrs WHERE account_id = 17")" = 1000000 ] &&
  ok "silent node: the call after the reconnection billed once" ||
  fail "silent node: CDR of account 17 missing or wrong"

# ---- run 6: a debit the journal refuses for good ---------------------------------
# APOLO_TEST_REFUSE_DEBIT (test-only, workers/esl_call.c) makes the call's
# debit fail as a balance bound would: the call record must not be lost.
start_sim refuse --script "$top/tests/esl/refuse.fss"
start_apolod refuse "ClueCon@127.0.0.1:$simport" APOLO_TEST_REFUSE_DEBIT=1
wait "$sim"; rc=$?
for _ in $(seq 1 50); do
  [[ $(ctl "account 18") == *" reserved=0 "* ]] && break; sleep 0.1
done
r=$(ctl "account 18")
stop_apolod
[ $rc = 0 ] || fail "refused debit: the simulator saw the engine miss"
[[ $r == *"balance=1000000000 reserved=0 "* ]] &&
  ok "refused debit: nothing charged, the reservation released ($r)" ||
  fail "refused debit: account 18 in the region: $r"
expect_cdr_unbilled=$(sql "SELECT count(*) || ' ' || min(cost) || ' ' || min(billsec) || ' ' || min(flags & 64) FROM cdrs WHERE account_id = 18")
[ "$expect_cdr_unbilled" = "1 0 2 64" ] &&
  ok "refused debit: its CDR is written, unbilled (flags & 64), cost 0, billsec 2" ||
  fail "refused debit: CDRs of account 18 (count cost billsec flag): $expect_cdr_unbilled"
grep -q 'recorded UNBILLED' "$work/refuse.log" && ok "refused debit: logged as an error" ||
  fail "refused debit: no log line"
expect_balance 18 1000000000 "its debit refused"

# ---- run 7: a re-arm lost with the connection ----------------------------------
# tests/esl/stale.fss: the call is billed what FreeSWITCH's acknowledged
# fail-safe let it talk (5 s), not what its reservation covered by the time
# the engine was back (8 s since the answer).
start_sim stale --script "$top/tests/esl/stale.fss" --report "$work/stale.jsonl"
start_apolod stale "ClueCon@127.0.0.1:$simport"
wait "$sim"; rc=$?
stop_apolod
[ $rc = 0 ] || { fail "re-arm lost: the simulator saw the engine miss:"; sed 's/^/      /' "$work/stale.err" | head -10; }
u=$(grep '"name": *"stale"' "$work/stale.jsonl" | grep -o '"uuid": *"[^"]*"' | cut -d'"' -f4)
got=$(sql "SELECT cost || ' ' || billsec || ' ' || (flags & 8) FROM cdrs WHERE call_id = '$u'")
[ "$got" = "5000000 5 8" ] &&
  ok "re-arm lost: billed the 5 s of the fail-safe FreeSWITCH held, estimated" ||
  fail "re-arm lost: CDR (cost billsec estimated) '$got', expected '5000000 5 8'"
expect_balance 22 $((1000000000 - 5000000 - 1000000)) "re-arm lost, then a 0.5 s call"

# ---- run 2: a wrong password -----------------------------------------------------
before=$(sql "SELECT count(*) FROM ledger")
start_sim wrongpw --password Other --script "$top/tests/esl/wrongpw.fss"
start_apolod wrongpw "ClueCon@127.0.0.1:$simport"
found=0
for _ in $(seq 1 50); do
  grep -q 'refused our password' "$work/wrongpw.log" && { found=1; break; }
  sleep 0.1
done
[ $found = 1 ] && ok "a wrong password is logged clearly" ||
  fail "no log line for the wrong password"
sleep 1
if pgrep -f -- "-c $conf" >/dev/null && [[ $(ctl status) == *"ready=1"* ]]; then
  grep -q 'esl-1.*exited\|esl-1.*signal' "$work/wrongpw.log" &&
    fail "the ESL worker died on a wrong password"
else
  fail "apolod is not running after a wrong password"
fi
kill -TERM "$sim" 2>/dev/null; wait "$sim" 2>/dev/null
stop_apolod
after=$(sql "SELECT count(*) FROM ledger")
[ "$before" = "$after" ] && ok "no money moved with a wrong password" ||
  fail "$((after - before)) ledger rows with a wrong password"

if [ $fails -gt 0 ]; then
  echo "t_esl: $fails failure(s); logs:"; tail -30 "$work/main.log"
  exit 1
fi
echo "t_esl: all passed"
