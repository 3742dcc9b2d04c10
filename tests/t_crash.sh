#!/usr/bin/env bash
# t_crash.sh -- acceptance test of "every money movement lands exactly once,
# whatever crashes", with real processes against a PostgreSQL cluster of
# its own (it stops it; tests/pg.sh in its temporary folder).
#
# A fresh database (dropped at the end) with one plan and 20 accounts
# (prepaid with large balances, postpaid with credit); apolod with 2 load
# generators at 2000 movements/s each; a journal of 4 rings x 131072 slots
# (64 MiB a ring): one generator fills 70,000 slots in 35 s, so the whole
# outage below fits without back-pressure (with less room a generator gets
# JRN_EFULL after 100 ms and retries the same movement every ~1 ms: rating
# would stall until the flusher frees slots, nothing lost -- the test
# fails if any generator reports a retry).
#
#   1. movements flow; kill -9 the admin process (the flusher): restarted
#   2. kill -9 loadgen-1: restarted (jrn_recover_pid completes what it left)
#   3. PostgreSQL (a cluster of its own) stopped for 30 s (pg_ctl stop -m
#      fast): rating goes on
#      (journal heads grow, tails stay), ctl still answers; started again,
#      the same flusher retries and drains the whole backlog
#   4. PostgreSQL stopped again briefly and apolod's supervisor killed -9
#      while it is down -- with PostgreSQL up, the orphaned admin would get
#      SIGTERM (PR_SET_PDEATHSIG) and drain everything on its way out, so
#      nothing would be left to replay. The generators are first held
#      (SIGSTOP) right after a call debit, so that the undrained range ends
#      with a debit whose recharge never comes: the pairs cancel out per
#      account otherwise, and a replay that applied nothing would not show
#      in any balance. Every child must exit within 5 s; PostgreSQL back, a
#      new apolod on the same journal and database must replay exactly the
#      records PostgreSQL has not got (journal heads - journal_position)
#   5. the new generators make their total and stop; everything drains;
#      then the checks, printed as FAULT lines:
#        a. exactly once: no duplicate (journal, journal_seq) in ledger, no
#           duplicate call_id in cdrs; per ring the ledger holds seqs
#           0..drained-1 each once; ledger + journal_rejects = records the
#           journal holds (sum of heads = sum of journal_position, no
#           CDR-only record: cdrs = call_debit rows); no reject; every
#           generator instance's references lg<i>-<pid>-<t>-1..N without a
#           gap, N = what it reported when it reported
#        b. conservation in PostgreSQL: opening balance + sum(ledger) =
#           accounts.balance for every account
#        c. conservation in the region: `apolod ctl account <id>` (live
#           balance, no reservation left) = accounts.balance for every one
#        d. SIGTERM: exit 0 within 15 s, no child left
#
# Exits 1 if any check failed; gives up early (CRASH_BUDGET_SEC, 170) when
# waiting on makes no sense. Cleans up (processes, database, temp files, and
# restarts PostgreSQL if it stopped it) on any exit, SIGTERM included.
# About 60 s here. Knobs for trying it out: CRASH_OUTAGE_SEC (30),
# CRASH_TOTAL1, CRASH_TOTAL2 (movements per generator of each apolod), KEEP=1
# (keep the temp folder and its logs).
set -uo pipefail
top=${APOLO_TOP:?run through tests/run.sh}
build=${APOLO_BUILD:?run through tests/run.sh}
: "${DATABASE_URL:?run through tests/run.sh}"
case $build in /*) ;; *) build=$top/$build ;; esac
bin=$build/apolod
pgbin=$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null) ||
  { echo "t_crash: PostgreSQL 15 binaries not found"; exit 1; }
work=$(mktemp -d /tmp/apolo-tcrash.XXXXXX)
# It stops and starts PostgreSQL: a cluster of its own, so that the tests
# running beside it (tests/run.sh runs two at a time) keep theirs.
# (Beside $work, not in it: $work is root's 0700 and the server runs as
# postgres.)
own_pg=$(mktemp -d /tmp/apolo-tcrash-pg.XXXXXX)
pgenv=$(APOLO_PGPORT=$((20000 + RANDOM % 12000)) setsid -w \
        "$top/tests/pg.sh" start "$own_pg") && [ -n "$pgenv" ] ||
  { echo "t_crash: cannot start a PostgreSQL of its own"
    "$top/tests/pg.sh" stop "$own_pg" >/dev/null 2>&1; rm -rf "$work" "$own_pg"
    exit 1; }
eval "$pgenv"
db=apolo_t_crash_$$
conf=$work/apolod.conf
jfile=$work/journal
RINGS=4 SLOTS=131072 RATE=2000
TOTAL1=${CRASH_TOTAL1:-200000}   # per generator of the first apolod: it is
                                 # still running when its supervisor dies
TOTAL2=${CRASH_TOTAL2:-10000}    # per generator of the second one
OUTAGE=${CRASH_OUTAGE_SEC:-30}
NACCTS=20
fails=0
pids=()          # every apolod process we started or saw (kill on exit)
pg_down=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok:   $*"; }
fault() { echo "FAULT $*"; }
now_ms() { date +%s%3N; }
nap() { sleep "$1" & wait $!; }   # interruptible by the TERM trap
# A failure after which waiting on makes no sense (a flusher re-draining
# forever, say): stop here, cleanup kills the rest.
fatal() { fail "$*"; echo "t_crash: $fails failure(s) (gave up)"; exit 1; }
t_begin=$(now_ms)
deadline=$((t_begin + ${CRASH_BUDGET_SEC:-170} * 1000))
# poll SECONDS CMD...: runs CMD every 0.1 s until it succeeds (0), or
# SECONDS or the whole test's budget run out (1).
poll() {
  local until=$(($(now_ms) + $1 * 1000)); shift
  [ "$until" -gt "$deadline" ] && until=$deadline
  while ! "$@"; do
    [ "$(now_ms)" -ge "$until" ] && return 1
    nap 0.1
  done
}
alive() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_stop() {
  pg_down=1
  as_pg "$pgbin/pg_ctl" -D "$PGHOST/data" -m fast -w stop >/dev/null
}
# The same cluster, same options (tests/pg.sh), in a session of its own so
# that a signal to this test's process group never reaches the postmaster.
pg_start() {
  setsid -w env APOLO_PGPORT="$PGPORT" "$top/tests/pg.sh" start "$PGHOST" \
    >/dev/null && pg_down=0
}

cleanup() {
  local p
  trap - EXIT INT TERM
  disown -a 2>/dev/null      # no "Killed" notices for our own kill -9
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  for p in $(pgrep -f -- "-c $conf" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  if [ "$pg_down" = 1 ]; then
    pg_start || echo "t_crash: could not restart PostgreSQL in $PGHOST"
  fi
  "$top/tests/pg.sh" stop "$own_pg" >/dev/null 2>&1
  rm -rf "$own_pg"
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'echo "t_crash: interrupted"; exit 143' INT TERM

if [[ $DATABASE_URL =~ ^(postgres(ql)?://[^/?]*)/([^?]*)(\?.*)?$ ]]; then
  dburl="${BASH_REMATCH[1]}/$db${BASH_REMATCH[4]}"
else
  dburl="$DATABASE_URL dbname=$db"
fi
psql "$DATABASE_URL" -qc "CREATE DATABASE $db" || exit 1
sql() { psql "$dburl" -v ON_ERROR_STOP=1 -qAtc "$1"; }

cat >"$conf" <<EOF
log_level = info
sql_dir = "$top/sql"
journal.path = "$jfile"
calls.path = "$work/calls"
journal.rings = $RINGS
journal.slots = $SLOTS
region.heap_mb = 64
region.max_accounts = 1000
admin.listen = "127.0.0.1:$((20000 + RANDOM % 12000))"
ctl.socket = "$work/apolod.sock"
supervisor.restart_backoff_max_ms = 1600
supervisor.notify = 0
loadgen.count = 2
loadgen.rate = $RATE
EOF

# start NAME TOTAL: apolod in the background, $sup = its pid.
start() {
  env APOLO_DATABASE_URL="$dburl" APOLO_LOADGEN_TOTAL="$2" "$bin" -c "$conf" \
    >>"$work/$1.log" 2>&1 &
  sup=$!
  pids+=("$sup")
}
ctl() { "$bin" -c "$conf" ctl -t 10000 "$@" 2>/dev/null; }
is_ready() { [[ $(ctl status) == *"ready=1"* ]] || ! alive "$sup"; }
wait_ready() {   # NAME: up to 30 s for ready=1
  local t0; t0=$(now_ms)
  if poll 30 is_ready && alive "$sup"; then
    echo "      $1 ready in $(($(now_ms) - t0)) ms (pid $sup)"
    return 0
  fi
  tail -20 "$work/$1.log"; fatal "$1 did not become ready"
}
# child_pid LOG NAME: the pid of the last start of child NAME
child_pid() {
  grep -o "$2 started, pid [0-9]*" "$1" | tail -1 | grep -o '[0-9]*$'
}
# ring_of PID NAME: the journal ring that generator process took
ring_of() {
  grep -o "pid=$1 proc=$2 mod=loadgen msg=\"started: ring [0-9]*" \
    "$work/main.log" | grep -o '[0-9]*$'
}
proc_state() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1; }
track_children() { local k; for k in $(pgrep -P "$sup"); do pids+=("$k"); done; }

# The journal file, read as the flusher sees it (MAP_SHARED: the page
# cache): ring i's header is at 4096 + i * (256 + slots * 512); head at
# +64, tail at +128 (shm/journal.h, journal.c).
ring_field() {   # RING OFFSET
  od -An -t u8 -j $((4096 + $1 * (256 + SLOTS * 512) + $2)) -N 8 "$jfile" |
    tr -d ' '
}
heads() { local i s=0; for ((i = 0; i < RINGS; i++)); do s=$((s + $(ring_field $i 64))); done; echo $s; }
tails() { local i s=0; for ((i = 0; i < RINGS; i++)); do s=$((s + $(ring_field $i 128))); done; echo $s; }
last_kind() {    # RING: kind of its newest record (2 = call debit)
  local hd; hd=$(ring_field "$1" 64)
  od -An -t u1 -N 1 -j $((4096 + $1 * (256 + SLOTS * 512) + 256 +
    ((hd - 1) & (SLOTS - 1)) * 512 + 9)) "$jfile" | tr -d ' '
}
drained() { sql "SELECT coalesce(sum(drained_seq), 0) FROM journal_position
                 WHERE name LIKE 'ring:%'" 2>/dev/null; }

# ---- the database ---------------------------------------------------------
APOLO_DATABASE_URL="$dburl" "$bin" -c "$conf" migrate >"$work/migrate.log" 2>&1 ||
  { cat "$work/migrate.log"; fail "apolod migrate"; exit 1; }
sql "
INSERT INTO rate_plans (id, name, currency, time_zone, rounding, number_rules)
  VALUES (1, 'Crash test', 'ARS', 'America/Argentina/Buenos_Aires', 'up',
          '00=>,0=>54');
INSERT INTO zones (id, code, name) VALUES (1, 'AR', 'Argentina'),
  (2, 'AR-MOB', 'Argentina mobile');
INSERT INTO deck_versions (plan_id, version, actor) VALUES (1, 1, 't_crash');
INSERT INTO rates (plan_id, prefix, zone_id, rate_per_minute, connection_fee,
                   first_increment, next_increment, effective_from,
                   deck_version)
  VALUES (1, '54', 1, 12000000, 0, 60, 60, '2024-01-01', 1),
         (1, '54911', 2, 30000000, 0, 30, 6, '2024-01-01', 1);
-- 2 of 3 prepaid with about a million ARS, 1 of 3 postpaid owing a little
-- with 500,000 ARS of credit (micro-units).
INSERT INTO accounts (id, code, name, type, balance, credit_limit, currency,
                      plan_id)
SELECT g, 'CRASH' || g, 'Crash account ' || g,
       CASE WHEN g % 3 = 0 THEN 'postpaid' ELSE 'prepaid' END,
       CASE WHEN g % 3 = 0 THEN -g * 1000001 ELSE 1000000000000 + g * 7 END,
       CASE WHEN g % 3 = 0 THEN 500000000000 ELSE 0 END, 'ARS', 1
  FROM generate_series(1, $NACCTS) g;
CREATE TABLE t_crash_opening AS SELECT id, balance FROM accounts;" ||
  { fail "seeding the database"; exit 1; }

# ---- 1. start, kill -9 the admin process ------------------------------------
start main "$TOTAL1"
wait_ready main || exit 1
track_children
has_rows() { [ "$(sql "SELECT count(*) FROM ledger")" -gt 0 ]; }
poll 5 has_rows || fatal "no movement reached the ledger within 5 s"
echo "      movements flow: $(sql "SELECT count(*) FROM ledger") ledger rows"
admin=$(child_pid "$work/main.log" admin)
# restarted NAME OLDPID: a new NAME runs; $new = its pid
restarted() {
  new=$(child_pid "$work/main.log" "$1")
  [ -n "$new" ] && [ "$new" != "$2" ] && alive "$new" && return 0
  new=""; return 1
}
t0=$(now_ms)
kill -9 "$admin"
poll 5 restarted admin "$admin"
if [ -n "$new" ]; then
  fault "admin_restart_ms $(($(now_ms) - t0))"
  ok "kill -9 admin (pid $admin): restarted as pid $new"
  pids+=("$new")
else
  fail "admin (pid $admin) not restarted within 5 s"
fi
nap 1

# ---- 2. kill -9 a load generator ----------------------------------------------
lg=$(child_pid "$work/main.log" loadgen-1)
t0=$(now_ms)
kill -9 "$lg"
poll 5 restarted loadgen-1 "$lg"
if [ -n "$new" ]; then
  fault "loadgen_restart_ms $(($(now_ms) - t0))"
  ok "kill -9 loadgen-1 (pid $lg): restarted as pid $new"
  pids+=("$new")
  # jrn_recover_pid freed the dead one's ring, so the new one (which takes
  # the first free ring) is back on it, and owns it.
  has_ring() { [ -n "$(ring_of "$new" loadgen-1)" ]; }
  poll 2 has_ring
  r_old=$(ring_of "$lg" loadgen-1); r_new=$(ring_of "$new" loadgen-1)
  owner=$(( $(ring_field "${r_old:-0}" 0) >> 32 ))
  [ -n "$r_old" ] && [ "$r_old" = "$r_new" ] && [ "$owner" = "$new" ] &&
    ok "its ring $r_old was freed and taken again by the new one" ||
    fail "ring of the killed loadgen-1: ${r_old:-?}, of the new one: ${r_new:-?}, owner pid $owner"
else
  fail "loadgen-1 (pid $lg) not restarted within 5 s"
fi
nap 1

# ---- 3. PostgreSQL down for $OUTAGE s --------------------------------------------
pg_stop || { fail "pg_ctl stop"; exit 1; }
t_stop=$(now_ms)            # PostgreSQL is down from here
h1=$(heads)
nap 1
h2=$(heads); tl1=$(tails)
[[ $(ctl status) == "ok ready=1"* ]] && ok "ctl answers while PostgreSQL is down" ||
  fail "ctl status does not answer while PostgreSQL is down"
rest=$((OUTAGE - 2 - ($(now_ms) - t_stop) / 1000))
[ "$rest" -gt 0 ] && nap "$rest"
while [ $(($(now_ms) - t_stop)) -lt $((OUTAGE * 1000)) ]; do nap 0.05; done
h3=$(heads); tl3=$(tails)
outage_ms=$(($(now_ms) - t_stop))
pg_start || { fail "PostgreSQL did not start again"; exit 1; }
t_start=$(now_ms)           # and accepts connections again from here
fault "pg_outage_sec $((outage_ms / 1000))"
grew=$((h3 - h1))
fault "journal_growth_during_outage $grew"
fault "backlog_at_pg_restart $((h3 - tl3))"
[ "$grew" -ge $((RATE * 2 * OUTAGE / 2)) ] && [ "$h2" -gt "$h1" ] &&
  ok "rating went on during the outage ($grew records appended)" ||
  fail "rating stalled during the outage: $grew records appended in ${outage_ms} ms"
[ "$tl3" = "$tl1" ] && ok "nothing released while PostgreSQL was down" ||
  fail "journal tails moved while PostgreSQL was down ($tl1 -> $tl3)"
grep -q 'flusher.*failed, rolled back, will retry' "$work/main.log" &&
  ok "the flusher failed and retried" || fail "no flusher failure logged"

# The same flusher must drain everything appended before the restart.
past_outage() { d=$(drained); [ -n "$d" ] && [ "$d" -ge "$h3" ]; }
poll 60 past_outage ||
  fatal "the backlog was not drained within 60 s of PostgreSQL's return" \
        "(journal_position ${d:-?}, heads when it came back $h3)"
drained_ms=$(($(now_ms) - t_start))
fault "backlog_drained_ms $drained_ms"
ok "the backlog of the outage ($((h3 - tl3)) records) drained ${drained_ms} ms after PostgreSQL came back"
grep -q 'PostgreSQL writes resumed after' "$work/main.log" &&
  ok "the flusher logged its recovery" || fail "no recovery logged by the flusher"

# ---- 4. kill -9 the supervisor (with PostgreSQL down) ------------------------
pg_stop || { fail "pg_ctl stop (2)"; exit 1; }
nap 1
track_children
kids=$(pgrep -P "$sup" | tr '\n' ' ')
nkids=$(echo "$kids" | wc -w)
[ "$nkids" = 3 ] || fail "expected 3 children before the kill, found: $kids"
# The generators' debit/recharge pairs cancel out per account, so a replay
# that applied nothing would change no balance unless the undrained range
# cuts a pair. Make sure it does: hold each generator (SIGSTOP) at a moment
# its ring's last record is a call debit, whose recharge then never comes.
held=0
for g in loadgen-1 loadgen-2; do
  gp=$(child_pid "$work/main.log" "$g"); gr=$(ring_of "$gp" "$g")
  for _ in $(seq 1 100); do
    kill -STOP "$gp"
    for _ in $(seq 1 200); do [ "$(proc_state "$gp")" = T ] && break; done
    [ "$(last_kind "$gr")" = 2 ] && { held=$((held + 1)); break; }
    kill -CONT "$gp"
    nap "0.00$((RANDOM % 9 + 1))"
  done
done
echo "      generators held just after a call debit: $held of 2"
t0=$(now_ms)
{ kill -9 "$sup"; wait "$sup"; } 2>/dev/null
for k in $kids; do kill -CONT "$k" 2>/dev/null; done
left=$kids
while [ -n "$left" ] && [ $(($(now_ms) - t0)) -lt 5000 ]; do
  nap 0.02
  next=""
  for k in $left; do alive "$k" && next="$next $k"; done
  left=$next
done
left_n=$(echo "$left" | wc -w)
fault "orphans_after_supervisor_kill $left_n"
[ "$left_n" = 0 ] &&
  ok "kill -9 supervisor: children ($kids) gone in $(($(now_ms) - t0)) ms" ||
  fail "children alive 5 s after the supervisor's death:$left"
pg_start || { fail "PostgreSQL did not start again (2)"; exit 1; }
hk=$(heads)
dk=$(drained)
expect=$((hk - dk))
range=""          # the records the restart must replay, as SQL
for ((i = 0; i < RINGS; i++)); do
  range="$range OR (journal = 'ring:$i' AND journal_seq >= $(sql "SELECT
    coalesce(max(drained_seq), 0) FROM journal_position WHERE name = 'ring:$i'")
    AND journal_seq < $(ring_field $i 64))"
done
start restart "$TOTAL2"
wait_ready restart || exit 1
track_children
replayed=$(grep -o 'journal .*: [0-9]* undrained' "$work/restart.log" |
           grep -o '[0-9]* undrained' | cut -d' ' -f1)
fault "replayed_on_restart ${replayed:-?}"
[ -n "$replayed" ] && [ "$replayed" -gt 0 ] && [ "$replayed" = "$expect" ] &&
  ok "restart replayed $replayed movements = journal heads - positions in PostgreSQL" ||
  fail "replayed ${replayed:-?} movements, the journal had $expect undrained"

# ---- 5. the second generators finish, everything drains ------------------------
t0=$(now_ms)
gens_done() { [ "$(grep -c 'mod=loadgen msg="done: ' "$work/restart.log")" -ge 2 ]; }
poll 60 gens_done || fatal "the generators did not finish within 60 s"
all_drained() { h=$(heads); d=$(drained); [ -n "$d" ] && [ "$d" = "$h" ]; }
poll 30 all_drained ||
  fatal "not drained within 30 s: journal heads $h, journal_position ${d:-?}"
nap 0.3
h=$(heads); d=$(drained)
[ "$d" = "$h" ] && ok "drained: journal_position = journal heads = $h" ||
  fail "not drained: journal heads $h, journal_position $d"
echo "      second run done and drained $(($(now_ms) - t0)) ms after ready"

# ---- the checks ------------------------------------------------------------------
fault "recovered_half_done $(cat "$work"/main.log "$work"/restart.log |
  grep -o 'completed [0-9]* movement(s) left half done' |
  awk '{s += $2} END {print s + 0}')"
# a. exactly once
ledger=$(sql "SELECT count(*) FROM ledger")
rejects=$(sql "SELECT count(*) FROM journal_rejects")
dup_l=$(sql "SELECT count(*) FROM (SELECT 1 FROM ledger GROUP BY journal,
               journal_seq HAVING count(*) > 1) x")
dup_c=$(sql "SELECT count(*) FROM (SELECT 1 FROM cdrs GROUP BY call_id
               HAVING count(*) > 1) x")
nojrn=$(sql "SELECT count(*) FROM ledger WHERE journal IS NULL")
cdrs=$(sql "SELECT count(*) FROM cdrs")
debits=$(sql "SELECT count(*) FROM ledger WHERE kind = 'call_debit'")
fault "journal_records $h"
fault "ledger_rows $ledger"
fault "cdr_rows $cdrs"
fault "rejects $rejects"
fault "duplicates $((dup_l + dup_c))"
[ "$((dup_l + dup_c))" = 0 ] && ok "no duplicate (journal, journal_seq) nor call_id" ||
  fail "$dup_l duplicate (journal, journal_seq) in ledger, $dup_c duplicate call_id in cdrs"
[ "$rejects" = 0 ] && ok "journal_rejects is empty" ||
  { fail "$rejects record(s) in journal_rejects";
    sql "SELECT journal, journal_seq, kind, error FROM journal_rejects LIMIT 5"; }
[ "$cdrs" = "$debits" ] && [ "$nojrn" = 0 ] &&
  ok "no CDR-only record: $cdrs cdrs = $debits call debits; every ledger row names its record" ||
  fail "cdrs $cdrs vs call debits $debits, $nojrn ledger row(s) without a journal record"
[ $((ledger + rejects)) = "$h" ] && [ "$h" = "$d" ] &&
  ok "ledger + rejects = $((ledger + rejects)) = journal records = drained positions" ||
  fail "ledger $ledger + rejects $rejects != journal records $h (positions $d)"
for ((i = 0; i < RINGS; i++)); do
  rh=$(ring_field $i 64)
  row=$(sql "SELECT count(*), count(DISTINCT journal_seq),
                    coalesce(max(journal_seq) + 1, 0), coalesce(min(journal_seq), 0),
                    (SELECT coalesce(max(drained_seq), 0) FROM journal_position
                      WHERE name = 'ring:$i')
               FROM ledger WHERE journal = 'ring:$i'")
  IFS='|' read -r n nd top0 lo pos <<<"$row"
  echo "      ring:$i head $rh position $pos ledger rows $n (seqs $lo..$((top0 - 1)))"
  [ "$n" = "$nd" ] && [ "$n" = "$top0" ] && [ "$n" = "$pos" ] && [ "$n" = "$rh" ] &&
    [ "$lo" = 0 ] || fail "ring:$i: $n rows, $nd distinct seqs, max+1 $top0, position $pos, head $rh"
done
# Every generator instance: references 1..N, each once, N = its own count.
gaps=$(sql "SELECT count(*) FROM (
              SELECT substring(reference from '^(lg[0-9]+-[0-9]+-[0-9]+)-') AS inst,
                     count(*) AS n, count(DISTINCT reference) AS nd,
                     max(substring(reference from '-([0-9]+)\$')::bigint) AS top
                FROM ledger GROUP BY 1) x
             WHERE inst IS NULL OR n <> nd OR n <> top")
insts=$(sql "SELECT count(DISTINCT substring(reference from '^(lg[0-9]+-[0-9]+-[0-9]+)-'))
               FROM ledger")
fault "generator_instances $insts"
fault "gaps $gaps"
[ "$gaps" = 0 ] && ok "$insts generator instances, each with references 1..N and no gap" ||
  fail "$gaps generator instance(s) with a gap or a doubled reference"
badrep=0 retries=0
while read -r pid kind n r; do
  inpg=$(sql "SELECT count(*) FROM ledger WHERE reference LIKE 'lg_-$pid-%'")
  retries=$((retries + r))
  [ "$inpg" = "$n" ] || { badrep=$((badrep + 1));
    echo "      loadgen pid $pid said $kind $n movements, ledger has $inpg"; }
done < <(cat "$work"/main.log "$work"/restart.log |
  sed -n 's/.* pid=\([0-9]*\) proc=loadgen-[0-9]* mod=loadgen msg="\(stopped\|done\): \([0-9]*\) movements.* \([0-9]*\) retries.*/\1 \2 \3 \4/p' |
  awk '{last[$1] = $0} END {for (p in last) print last[p]}')
fault "backpressure_retries $retries"
[ "$badrep" = 0 ] && ok "every generator's own count is in the ledger" ||
  fail "$badrep generator(s) whose count differs from the ledger"
# The journal is sized so that the outage fits without back-pressure; on
# the sanitizer build (two to three times slower, beside another test) a
# generator may still meet a busy account lock or a full ring: a retry,
# which moves nothing twice (the counts above prove it), so it is reported
# there rather than failed.
if [ "$retries" = 0 ]; then ok "no back-pressure: no movement was retried"
elif [[ $build == */asan ]]; then
  echo "      $retries movement(s) retried (sanitizer build: reported only)"
else fail "$retries movement(s) retried for a full ring or a busy account"; fi

# b. conservation in PostgreSQL
cons=$(sql "SELECT count(*) FROM accounts a JOIN t_crash_opening o USING (id)
             WHERE o.balance + (SELECT coalesce(sum(amount), 0) FROM ledger l
                                 WHERE l.account_id = a.id) <> a.balance")
nacc=$(sql "SELECT count(*) FROM accounts")
fault "conservation_mismatches $cons"
[ "$cons" = 0 ] && [ "$nacc" = "$NACCTS" ] &&
  ok "opening + sum(ledger) = balance for all $nacc accounts" ||
  fail "$cons account(s) of $nacc where opening + sum(ledger) != balance"
moved=$(sql "SELECT sum(amount) FROM ledger")
echo "      net money moved: $moved micro-units (debits and recharges cancel per pair)"

# c. conservation in the region
reg_bad=0 reserved=0
while IFS='|' read -r id bal; do
  reply=$(ctl "account $id")
  if [[ $reply =~ ^ok\ id=$id\ balance=(-?[0-9]+)\ reserved=(-?[0-9]+)\ headroom=(-?[0-9]+)$ ]]; then
    rb=${BASH_REMATCH[1]}
    reserved=$((reserved + BASH_REMATCH[2]))
    [ "$rb" = "$bal" ] || { reg_bad=$((reg_bad + 1));
      echo "      account $id: region $rb, PostgreSQL $bal"; }
  else
    reg_bad=$((reg_bad + 1)); echo "      account $id: ctl replied \"$reply\""
  fi
done < <(sql "SELECT id, balance FROM accounts ORDER BY id")
uncut=$(sql "SELECT count(*) FROM (SELECT account_id FROM ledger
              WHERE false $range GROUP BY 1 HAVING sum(amount) <> 0) x")
fault "replay_net_accounts $uncut"
[ "$uncut" -gt 0 ] &&
  ok "the replayed movements change $uncut account balance(s): a replay that skipped them would show" ||
  fail "the replayed movements cancel out on every account: the region check cannot see the replay"
fault "region_mismatches $reg_bad"
fault "region_reserved $reserved"
[ "$reg_bad" = 0 ] && ok "region balance = PostgreSQL balance for every account" ||
  fail "$reg_bad account(s) whose region balance differs from PostgreSQL"
[ "$reserved" = 0 ] && ok "no reservation left in the region" ||
  fail "$reserved micro-units still reserved after the generators stopped"

# d. SIGTERM
kids=$(pgrep -P "$sup" | tr '\n' ' ')
t0=$(now_ms)
kill -TERM "$sup"
for _ in $(seq 1 300); do alive "$sup" || break; nap 0.05; done
stop_ms=$(($(now_ms) - t0))
if alive "$sup"; then
  fail "still running 15 s after SIGTERM"
else
  wait "$sup"; rc=$?
  left=""
  for k in $kids; do alive "$k" && left="$left $k"; done
  fault "stop_ms $stop_ms"
  [ "$rc" = 0 ] && ok "SIGTERM: exit 0 in $stop_ms ms" || fail "SIGTERM: exit $rc"
  [ -z "$left" ] && ok "no child left (had: $kids)" || fail "children alive:$left"
fi

echo "t_crash: $fails failure(s)"
[ "$fails" = 0 ]
