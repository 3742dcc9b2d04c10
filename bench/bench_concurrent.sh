#!/usr/bin/env bash
# bench_concurrent.sh -- many calls live at once (issue 8): 100,000
# concurrent ANSWERED calls, metered with a 30 s debit interval
# (esl.debit_interval_sec = 30), held together for at least 2 minutes.
# Real processes: the simulator (tests/fssim) plays one FreeSWITCH node,
# apolod runs its ESL worker, journal, flusher and the private PostgreSQL
# of bench/run.sh (DATABASE_URL, APOLO_TOP, APOLO_BUILD).
#
# Load: CALLS calls started at CPS a second (a ramp of CALLS/CPS s), each
# ringing 50 ms and talking long enough that all of them are live together
# for PLATEAU s, then hanging up (NORMAL_CLEARING, by the simulator) in
# the order they started. CALLS/10 prepaid accounts, one extension each,
# each funded for FUND_CALLS (40, 4x the mean of 10) calls of the whole
# duration; a calls table of calls.max = 131072 slots.
#
# Prints
#   BENCH bytes_per_active_call            structural, per slot of the calls
#        table: calls_shm_size / calls.max (call_slot_t and its share of the
#        header) + the worker's esl_call_t, uuid index and one timer heap
#        entry + the admin's /ws copy of the slot (ws_seen_t)
#   BENCH bytes_per_active_call_measured   the same, measured: the engine's
#        PSS (supervisor + admin + worker, shared pages counted once) idle
#        with calls.max slots minus idle with 16, per slot, plus its growth
#        per live call from a tenth of the calls to all of them
#   BENCH bytes_per_active_call_rss_growth / _pss_growth   the ESL worker's
#        RSS / PSS growth between idle (connected) and CALLS live, / CALLS
#   BENCH bytes_per_active_call_baseline   the simulator's own memory per
#        live call (its malloc heap: call_t and its buffers), not counted
#   BENCH reresv_per_sec                   reservation extensions a second
#        during the plateau: no counter exists, so the sum of covered_sec
#        over the answered slots of the calls table is sampled; each
#        extension adds exactly one interval
#   BENCH reresv_expected_per_sec          CALLS / interval
#   BENCH concurrent_plateau_sec           all CALLS live together (the
#        simulator's report: first hangup - last answer)
# and checks (exit 1): every call transferred, answered and ended
# NORMAL_CLEARING by the simulator (none cut, killed or timed out); no
# cut or refusal counted by the worker; one CDR per call in PostgreSQL,
# none flagged cut/estimated/unbilled; billsec as the simulator's billmsec;
# sum of CDR costs = sum of balance decreases = sum of call debits in the
# ledger; the plateau lasted PLATEAU s; re-reservations within 10% of
# CALLS / interval a second; no call slot left.
#
# BENCH_QUICK=1: 20,000 calls, plateau 40 s. CONC_CALLS, CONC_CPS,
# CONC_PLATEAU, CONC_SLOTS override; KEEP=1 keeps the work folder.
set -uo pipefail
top=${APOLO_TOP:?run through bench/run.sh}
build=${APOLO_BUILD:?run through bench/run.sh}
: "${DATABASE_URL:?run through bench/run.sh}"
case $build in /*) ;; *) build=$top/$build ;; esac
bin=$build/apolod
fssim=$build/fssim
command -v python3 >/dev/null || { echo "bench_concurrent: python3 needed" >&2; exit 1; }
if [ -n "${BENCH_QUICK:-}" ]; then
  CALLS=${CONC_CALLS:-20000} PLATEAU=${CONC_PLATEAU:-40} MARGIN=20
else
  CALLS=${CONC_CALLS:-100000} PLATEAU=${CONC_PLATEAU:-120} MARGIN=15
fi
CPS=${CONC_CPS:-4000}
SLOTS=${CONC_SLOTS:-131072}
INTERVAL=30
ACCTS=$(( (CALLS + 9) / 10 ))
FUND_CALLS=40
RING_MS=50
RAMP_S=$(( (CALLS + CPS - 1) / CPS ))
# Talk: the ramp twice (a loaded machine stretches it), the plateau, a
# margin; the simulator's report checks that the plateau was held.
TALK_MIN=$(( (2 * RAMP_S + PLATEAU + MARGIN) * 1000 ))
TALK_MAX=$(( TALK_MIN + 2000 ))
MAX_RATE=19999                       # micro-units a minute (prefix 109999)
# Each account: FUND_CALLS calls of the longest talk plus one interval
# reserved ahead, at the highest rate of the deck.
BALANCE=$(( FUND_CALLS * ((TALK_MAX / 1000 + INTERVAL + 1) * MAX_RATE + 59) / 60 ))

work=$(mktemp -d /tmp/apolo-bconc.XXXXXX)
db=apolo_bench_conc_$$
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
say() { echo "# bench_concurrent: $*" >&2; }
failed=0
fail() { echo "FAIL bench_concurrent: $*" >&2; failed=1; }

admin_port=$((20000 + RANDOM % 12000))
cat >"$conf" <<EOF
log_level = info
sql_dir = "$top/sql"
journal.rings = 4
journal.slots = 262144
region.heap_mb = 64
admin.listen = "127.0.0.1:$admin_port"
ctl.socket = "$work/apolod.sock"
supervisor.notify = 0
flush.batch = 20000
esl.debit_interval_sec = $INTERVAL
esl.reconnect_max_ms = 1000
EOF

# The database: the deck of bench_esl.sh (10,000 prefixes, 10000..19999
# micro-units a minute, per second billing, rounding up), ACCTS prepaid
# accounts with an extension each.
psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
psql "$DATABASE_URL" -qc "CREATE DATABASE $db" || exit 1
APOLO_DATABASE_URL="$dburl" "$bin" -c "$conf" migrate >"$work/migrate.log" 2>&1 ||
  { cat "$work/migrate.log" >&2; exit 1; }
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
SELECT g, 'C' || g, 'conc ' || g, 'prepaid', $BALANCE, 0, 'USD', 1
  FROM generate_series(1, $ACCTS) g;
INSERT INTO extensions (number, account_id)
SELECT (200000 + g)::text, g FROM generate_series(1, $ACCTS) g;" >/dev/null || exit 1
seq 200001 $((200000 + ACCTS)) >"$work/exts"
for i in $(seq 0 199); do echo "$((100000 + i * 50))$((1000 + i))"; done >"$work/dests"
say "$CALLS calls at $CPS/s (ramp ${RAMP_S} s), talk $((TALK_MIN / 1000))-$((TALK_MAX / 1000)) s," \
    "interval $INTERVAL s, $ACCTS accounts of $BALANCE micro-units, calls.max $SLOTS"

# Structural sizes, from the headers this build was compiled with.
cat >"$work/probe.c" <<'EOF'
#include "workers/esl_int.h"
#include <stdio.h>
int main(void)
{
    printf("%zu %zu %zu %zu %zu %zu\n", sizeof(call_slot_t), sizeof(jrec_cdr_t),
           sizeof(calls_shm_t), sizeof(esl_call_t), sizeof(esl_timer_t),
           sizeof(esl_pending_t));
    return 0;
}
EOF
if ${CC:-cc} -std=c11 -D_GNU_SOURCE -D_LGPL_SOURCE -I"$top" -o "$work/probe" \
     "$work/probe.c" 2>"$work/probe.err"; then
  read -r SZ_SLOT SZ_CDR SZ_HDR SZ_CALL SZ_TIMER _ < <("$work/probe")
else
  # No figure rather than an assumed one: the sizes are what is measured.
  say "size probe did not compile:"
  cat "$work/probe.err" >&2
  exit 1
fi

# The sampler: every CONC_SAMPLE_S (2 s), from outside the engine: the
# calls table (a file, read with pread: calls by state, sum of covered_sec
# over the answered ones, sum of reserved), and for each process
# /proc/<pid>/smaps_rollup (RSS, PSS, anonymous), its mapping of the calls
# table (/proc/<pid>/smaps) and its CPU time (/proc/<pid>/stat).
cat >"$work/sampler.py" <<'EOF'
import os, shutil, struct, sys, time
calls, out, stop, period, count, want = sys.argv[1:7]
procs = [a.split('=') for a in sys.argv[7:]]
period, count, want = float(period), int(count), int(want)
tck = os.sysconf('SC_CLK_TCK')
fd = os.open(calls, os.O_RDONLY)
hdr = os.pread(fd, 64, 0)
nslots, slot_size = struct.unpack_from('<II', hdr, 12)[0], struct.unpack_from('<I', hdr, 16)[0]
# call_slot_t: owner at byte 4, state at 8, covered_sec at 24, reserved
# at 32 (shm/calls.h); strided views, no Python object per slot.
assert slot_size % 8 == 0
buf = bytearray(nslots * slot_size)     # reused: no page faults per sample
mv = memoryview(buf)

def rollup(pid):
    d = {}
    try:
        with open('/proc/%s/smaps_rollup' % pid) as f:
            for line in f:
                p = line.split()
                if len(p) >= 2 and p[0].endswith(':') and p[1].isdigit():
                    d[p[0][:-1]] = int(p[1]) * 1024
    except OSError:
        pass
    return d

def mapping(pid):
    """RSS and PSS of the calls table mapping, RSS of the malloc heap."""
    rss = pss = heap = 0
    try:
        with open('/proc/%s/smaps' % pid) as f:
            inside = None
            for line in f:
                p = line.split()
                if not p[0].endswith(':'):
                    e = line.rstrip()
                    inside = 'c' if e.endswith(calls) else 'h' if e.endswith('[heap]') else None
                elif inside == 'c' and p[0] == 'Rss:':
                    rss += int(p[1]) * 1024
                elif inside == 'c' and p[0] == 'Pss:':
                    pss += int(p[1]) * 1024
                elif inside == 'h' and p[0] == 'Rss:':
                    heap += int(p[1]) * 1024
    except OSError:
        pass
    return rss, pss, heap

def cpu(pid):
    try:
        with open('/proc/%s/stat' % pid) as f:
            p = f.read().rsplit(')', 1)[1].split()
        return (int(p[11]) + int(p[12])) / tck
    except (OSError, IndexError, ValueError):
        return 0.0

cols = ['t', 'answered', 'authorized', 'final', 'covered', 'reserved']
for name, _ in procs:
    cols += [name + k for k in ('_rss', '_pss', '_anon', '_panon', '_pshmem', '_crss',
                                '_cpss', '_heap', '_cpu')]
with open(out, 'w') as o:
    o.write(' '.join(cols) + '\n')
    while not os.path.exists(stop) and count != 0:
        count -= 1
        t0 = time.time()
        os.preadv(fd, [buf], 64)
        states = bytes(mv[8::slot_size])
        covered = mv.cast('I')[6::slot_size // 4]
        owners = mv.cast('I')[1::slot_size // 4]
        res = sum(r for o, r in zip(owners, mv.cast('q')[4::slot_size // 8]) if o)
        cov = sum(c for s, c in zip(states, covered) if s == 2)
        answered = states.count(2)
        row = ['%.3f' % t0, answered, states.count(1), states.count(3), cov, res]
        for name, pid in procs:
            r = rollup(pid)
            row += [r.get('Rss', 0), r.get('Pss', 0), r.get('Anonymous', 0),
                    r.get('Pss_Anon', 0), r.get('Pss_Shmem', 0)]
            row += list(mapping(pid)) + ['%.2f' % cpu(pid)]
        o.write(' '.join(map(str, row)) + '\n')
        o.flush()
        if answered == want:           # for KEEP=1: where the memory is
            for name, pid in procs:
                try:
                    shutil.copyfile('/proc/%s/smaps' % pid, '%s.%s.smaps' % (out, name))
                except OSError:
                    pass
        if count != 0:
            time.sleep(max(0.0, period - (time.time() - t0)))
EOF
# start_engine NAME SLOTS: apolod with SLOTS call slots, connected to a
# simulator with no load: the engine idle (calls table mapped and scanned,
# the worker's private tables allocated and its connection up: the first
# resynchronisation writes every esl_call_t). Sets sup, esl, adm and
# idlesim (pids); stop_idle_sim ends that simulator.
start_engine() {
  local name=$1 slots=$2
  env APOLO_DATABASE_URL="$dburl" APOLO_ESL_NODES="ClueCon@127.0.0.1:$port" \
    APOLO_CALLS_MAX="$slots" APOLO_CALLS_PATH="$work/$name.calls" \
    APOLO_JOURNAL_PATH="$work/$name.journal" \
    "$bin" -c "$conf" >"$work/$name.log" 2>&1 &
  sup=$!; pids+=("$sup")
  esl='' adm=''
  for _ in $(seq 1 100); do
    esl=$(grep -o 'esl-1 started, pid [0-9]*' "$work/$name.log" | grep -o '[0-9]*$')
    adm=$(grep -o 'admin started, pid [0-9]*' "$work/$name.log" | grep -o '[0-9]*$')
    [ -n "$esl" ] && [ -n "$adm" ] && break; sleep 0.1
  done
  [ -n "$esl" ] && [ -n "$adm" ] ||
    { echo "bench_concurrent: apolod did not start" >&2; cat "$work/$name.log" >&2; exit 1; }
  "$fssim" --listen "127.0.0.1:$port" --quiet >"$work/$name.idlesim" 2>&1 &
  idlesim=$!; pids+=("$idlesim")
  for _ in $(seq 1 100); do
    grep -q 'connected to' "$work/$name.log" && break; sleep 0.1
  done
  grep -q 'connected to' "$work/$name.log" ||
    { echo "bench_concurrent: the worker did not connect" >&2; cat "$work/$name.log" >&2; exit 1; }
  sleep 1
}
stop_idle_sim() { kill -TERM "$idlesim"; wait "$idlesim"; }
port=
for _ in 1 2 3 4 5 6 7 8; do
  p=$((33000 + RANDOM % 20000))
  ss -Hltn "sport = :$p" 2>/dev/null | grep -q . || { port=$p; break; }
done
[ -n "$port" ] || { echo "bench_concurrent: no free port" >&2; exit 1; }

# The same engine with 16 call slots, idle: what the engine costs without
# the table-sized structures (the reference of the per-slot measure).
start_engine small 16
python3 "$work/sampler.py" "$work/small.calls" "$work/small" "$work/sampler.stop" 2 2 -1 \
  u="$sup" w="$esl" a="$adm" || { echo "bench_concurrent: sampler failed" >&2; exit 1; }
stop_idle_sim
kill -TERM "$sup"; wait "$sup"

start_engine apolod "$SLOTS"
[ -z "$SZ_SLOT" ] && SZ_SLOT=$(od -An -tu4 -j16 -N4 "$work/apolod.calls" | tr -d ' ')
calls_bytes=$(stat -c %s "$work/apolod.calls")

# The idle engine: two samples 3 s apart (memory, and the CPU it burns
# with no call: the admin's /ws scan of the table).
python3 "$work/sampler.py" "$work/apolod.calls" "$work/idle" "$work/sampler.stop" 3 2 -1 \
  u="$sup" w="$esl" a="$adm" || { echo "bench_concurrent: sampler failed" >&2; exit 1; }
stop_idle_sim

# The simulator on the node's port; its idle memory as soon as it listens
# (the worker reconnects within esl.reconnect_max_ms).
t_start=$(date +%s)
"$fssim" --listen "127.0.0.1:$port" --quiet --calls "$CALLS" --cps "$CPS" \
  --concurrency $((CALLS + 1000)) --ring-ms $RING_MS --talk-ms "$TALK_MIN:$TALK_MAX" \
  --answer-pct 100 --callers "@$work/exts" --dests "@$work/dests" --seed 11 \
  --park-timeout 30000 --report "$work/report.jsonl" \
  >"$work/fssim.out" 2>"$work/fssim.err" &
sim=$!; pids+=("$sim")
for _ in $(seq 1 500); do
  ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && break
  kill -0 "$sim" 2>/dev/null || break; sleep 0.01
done
kill -0 "$sim" 2>/dev/null || { echo "bench_concurrent: fssim did not start" >&2; cat "$work/fssim.err" >&2; exit 1; }
sim_idle=$(awk '$1 == "Rss:" { r = $2 } $1 == "Pss:" { p = $2 } END { print r * 1024, p * 1024 }' \
  "/proc/$sim/smaps_rollup")
python3 "$work/sampler.py" "$work/apolod.calls" "$work/samples" "$work/sampler.stop" \
  "${CONC_SAMPLE_S:-2}" -1 "$CALLS" u="$sup" w="$esl" a="$adm" s="$sim" 2>"$work/sampler.err" &
smp=$!; pids+=("$smp")
wait "$sim"; sim_rc=$?
touch "$work/sampler.stop"; wait "$smp"
t_sim=$(date +%s)
[ "$sim_rc" = 0 ] || fail "fssim exited $sim_rc: $(tail -3 "$work/fssim.err" | tr '\n' ' ')"
grep '^FSSIM' "$work/fssim.out" | sed 's/^/# /' >&2

# Everything in PostgreSQL (the flusher drains in batches).
t0=$(date +%s)
while [ "$(sql "SELECT count(*) FROM cdrs")" -lt "$CALLS" ] &&
      [ $(($(date +%s) - t0)) -lt 180 ]; do sleep 1; done
t_pg=$(date +%s)
sleep 1
metrics=$(curl -s "http://127.0.0.1:$admin_port/metrics")
metric() { echo "$metrics" | awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { print s + 0 }'; }
cut=$(metric apolo_esl_calls_cut_total)
refused=$(metric apolo_esl_calls_refused_total)
active=$(metric apolo_calls_active)
kill -TERM "$sup"; wait "$sup"
[ "$cut" = 0 ] || fail "the worker cut $cut calls (apolo_esl_calls_cut_total)"
[ "$refused" = 0 ] || fail "the worker refused $refused calls"
[ "$active" = 0 ] || fail "$active call slots still claimed after the run"

# The simulator's report and the samples.
sql "SELECT billsec FROM cdrs" >"$work/pg_billsec"
python3 - "$work/report.jsonl" "$work/samples" "$work/idle" "$work/small" "$work/pg_billsec" \
  "$CALLS" "$INTERVAL" "$calls_bytes" "$SLOTS" $sim_idle >"$work/analysis" <<'EOF' || fail "analysis failed"
import json, sys
rep, samples, idlef, smallf, pgb = sys.argv[1:6]
N, interval, calls_bytes, nslots, s_idle_rss, s_idle_pss = map(int, sys.argv[6:12])
out = []
def kv(k, v): out.append('%s=%s' % (k, v))

# The simulator's report: one line per call.
n = bad = ext = exp_ext = billsec_sum = max_answer = 0
min_hangup = None
causes, ended, verdicts, per_caller = {}, {}, {}, {}
def count(d, k): d[k] = d.get(k, 0) + 1
for line in open(rep):
    c = json.loads(line)
    n += 1
    count(causes, c['cause']); count(ended, c['ended_by'])
    count(verdicts, c['verdict']); count(per_caller, c['caller'])
    if not (c['verdict'] == 'transfer' and c['cause'] == 'NORMAL_CLEARING'
            and c['ended_by'] == 'script' and c['kill_cause'] is None
            and c['answered_us'] > 0):
        bad += 1
    # One sched_hangup at park, then one per reservation extension (the
    # fail-safe re-armed): a count the simulator saw arrive.
    ext += max(0, len(c['sched_hangups']) - 1)
    if c['answered_us'] > 0 and c['hangup_us'] > 0:
        talk = (c['hangup_us'] - c['answered_us']) / 1e6
        k = 0       # first interval from the answer, each extended 5 s early
        while interval - 5 + k * interval < talk:
            k += 1
        exp_ext += k
        max_answer = max(max_answer, c['answered_us'])
        min_hangup = c['hangup_us'] if min_hangup is None else min(min_hangup, c['hangup_us'])
        billsec_sum += (c['billmsec'] + 500) // 1000
js = lambda d: json.dumps(d, separators=(',', ':'), sort_keys=True)
kv('report_calls', n); kv('report_bad', bad)
kv('causes', js(causes)); kv('ended_by', js(ended)); kv('verdicts', js(verdicts))
kv('reresv_total_seen_by_sim', ext); kv('reresv_total_expected', exp_ext)
kv('report_billsec', billsec_sum)
kv('pg_billsec', sum(int(x) for x in open(pgb) if x.strip()))
kv('max_calls_per_account', max(per_caller.values()) if per_caller else 0)
kv('plateau_sec', '%.1f' % ((min_hangup - max_answer) / 1e6 if min_hangup else 0))

def table(path):
    rows = [l.split() for l in open(path)]
    return [dict(zip(rows[0], map(float, r))) for r in rows[1:]]
rows, idles, small = table(samples), table(idlef), table(smallf)[-1]
idle = dict(idles[-1])
idle['s_rss'], idle['s_pss'] = s_idle_rss, s_idle_pss
kv('samples', len(rows))
def pct(a, b, name):
    return 100.0 * (b[name + '_cpu'] - a[name + '_cpu']) / (b['t'] - a['t'])
kv('idle_cpu_pct', 'worker %.0f%% admin %.0f%%' % (pct(idles[0], idles[-1], 'w'),
                                                   pct(idles[0], idles[-1], 'a')))
plat = [r for r in rows if r['answered'] == N]
kv('plateau_samples', len(plat))
if len(plat) >= 2:
    # Re-reservations: each adds exactly one interval to covered_sec. The
    # window is a whole number of intervals (each call then extends the
    # same number of times in it), as near as the samples allow.
    a = plat[0]
    k = int((plat[-1]['t'] - a['t']) // interval)
    b = min(plat, key=lambda r: abs(r['t'] - a['t'] - k * interval)) if k else plat[-1]
    dt = b['t'] - a['t']
    kv('reresv_window_sec', '%.1f' % dt)
    kv('reresv_in_window', '%.0f' % ((b['covered'] - a['covered']) / interval))
    kv('reresv_per_sec', '%.0f' % ((b['covered'] - a['covered']) / interval / dt))
    kv('reserved_growth_per_sec', '%.0f' % ((b['reserved'] - a['reserved']) / dt))
    n_ext = (b['covered'] - a['covered']) / interval
    kv('worker_cpu_us_per_reresv', '%.1f' % ((b['w_cpu'] - a['w_cpu']) * 1e6 / n_ext if n_ext else 0))
    last = plat[-1]
    kv('plateau_cpu_pct', 'worker %.0f%% admin %.0f%% simulator %.0f%%' % (
        pct(plat[0], last, 'w'), pct(plat[0], last, 'a'), pct(plat[0], last, 's')))
    # Memory of a process without its mapping of the calls table (shared,
    # resident from the start: the supervisor zeroes it, the worker's
    # adoption scan and the admin's /ws scan read every page).
    priv = lambda r, p, m: r[p + '_' + m] - r[p + '_c' + m]
    for p in ('w', 'a'):
        for m in ('rss', 'pss'):
            kv('%s_%s_growth_per_call' % (p, m), '%.1f' % ((priv(last, p, m) - priv(idle, p, m)) / N))
    # Marginal: from the first sample with a tenth of the calls live (the
    # connection's buffers are allocated by then) to the plateau.
    live = lambda r: r['answered'] + r['authorized']
    r0 = next(r for r in rows if live(r) >= N / 10)
    for p in ('w', 'a'):
        kv('%s_pss_marginal_per_call' % p,
           '%.1f' % ((priv(last, p, 'pss') - priv(r0, p, 'pss')) / (live(last) - live(r0))))
    kv('worker_rss', '%d -> %d' % (idle['w_rss'], last['w_rss']))
    kv('worker_calls_map_rss', '%d -> %d' % (idle['w_crss'], last['w_crss']))
    kv('admin_rss', '%d -> %d' % (idle['a_rss'], last['a_rss']))
    kv('table_resident_per_slot', '%.1f' % (last['w_crss'] / nslots))
    kv('table_resident_per_live_call', '%.1f' % (last['w_crss'] / N))
    kv('sim_rss', '%d -> %d' % (idle['s_rss'], last['s_rss']))
    kv('sim_rss_growth_per_call', '%.0f' % ((last['s_rss'] - idle['s_rss']) / N))
    kv('sim_rss_marginal_per_call', '%.0f' % ((last['s_rss'] - r0['s_rss']) / (live(last) - live(r0))))
    # Its calls live in its malloc heap (call_t, 1792 bytes, and their
    # variable buffers); the output queued for a slow client is one large
    # buffer mapped apart, left out here.
    kv('sim_heap_marginal_per_call', '%.0f' % ((last['s_heap'] - r0['s_heap']) / (live(last) - live(r0))))
    # The whole engine: PSS of supervisor, admin and worker add up to
    # their memory with every shared page counted once; anonymous memory,
    # the region (shmem) and the calls table only: shared libraries (whose
    # PSS moves with every process the machine starts) and the journal
    # (untouched before the first hangup) are left out. Per slot: the idle
    # engine with calls.max slots against the same with 16. Per live call:
    # the growth from a tenth of the calls to all of them.
    tot = lambda r: sum(r[p + '_panon'] + r[p + '_pshmem'] + r[p + '_cpss'] for p in 'uwa')
    per_slot = (tot(idle) - tot(small)) / (nslots - 16)
    marginal = (tot(last) - tot(r0)) / (live(last) - live(r0))
    kv('engine_pss', 'small %d, idle %d, live %d' % (tot(small), tot(idle), tot(last)))
    kv('engine_per_slot_idle', '%.1f' % per_slot)
    kv('engine_marginal_per_call', '%.1f' % marginal)
    kv('engine_per_live_call', '%.0f' % ((tot(last) - tot(small)) / N))
    kv('measured', '%.0f' % (per_slot + marginal))
print('\n'.join(out))
EOF
get() { grep "^$1=" "$work/analysis" | head -1 | cut -d= -f2-; }
sed 's/^/# /' "$work/analysis" >&2

# Checks on the simulator's side.
[ "$(get report_calls)" = "$CALLS" ] || fail "the report has $(get report_calls) calls, not $CALLS"
[ "$(get report_bad)" = 0 ] || fail "$(get report_bad) calls not transferred, answered and ended NORMAL_CLEARING by the simulator: causes $(get causes), ended_by $(get ended_by)"
awk -v p="$(get plateau_sec)" -v w="$PLATEAU" 'BEGIN { exit !(p >= w) }' ||
  fail "all $CALLS calls were live together $(get plateau_sec) s, not $PLATEAU (ramp too slow?)"
[ "$(get max_calls_per_account)" -le "$FUND_CALLS" ] 2>/dev/null ||
  fail "an account had $(get max_calls_per_account) calls, funded for $FUND_CALLS (the setup, not the engine)"
[ "$(get plateau_samples)" -ge 2 ] 2>/dev/null ||
  fail "the calls table never showed $CALLS answered calls twice"
# Metering on time: every live call extended once an interval (the window
# is a whole number of intervals; 2 s samples, hence 10%).
awk -v r="$(get reresv_per_sec)" -v e="$CALLS" -v i="$INTERVAL" \
  'BEGIN { x = e / i; exit !(r >= 0.9 * x && r <= 1.1 * x) }' ||
  fail "$(get reresv_per_sec) re-reservations a second, $((CALLS / INTERVAL)) expected"

# Checks in PostgreSQL.
read -r n_cdr n_ok cost_sum <<<"$(sql "SELECT count(*), count(*) FILTER (WHERE
    hangup_cause = 'NORMAL_CLEARING' AND flags & (4 | 8 | 16 | 64) = 0 AND cost > 0),
    coalesce(sum(cost), 0) FROM cdrs" | tr '|' ' ')"
read -r n_debit debit_sum <<<"$(sql "SELECT count(*), coalesce(-sum(amount), 0)
    FROM ledger WHERE kind = 'call_debit'" | tr '|' ' ')"
read -r decrease negative <<<"$(sql "SELECT sum($BALANCE - balance),
    count(*) FILTER (WHERE balance < 0) FROM accounts" | tr '|' ' ')"
[ "$n_cdr" = "$CALLS" ] || fail "$n_cdr CDRs in PostgreSQL for $CALLS calls"
[ "$n_ok" = "$CALLS" ] || fail "$((CALLS - n_ok)) CDRs not NORMAL_CLEARING, flagged or free"
[ "$n_debit" = "$CALLS" ] || fail "$n_debit call debits in the ledger for $CALLS calls"
[ "$cost_sum" = "$decrease" ] && [ "$cost_sum" = "$debit_sum" ] ||
  fail "conservation: CDR costs $cost_sum, balance decreases $decrease, ledger debits $debit_sum"
[ "$negative" = 0 ] || fail "$negative accounts below zero"
[ "$(get report_billsec)" = "$(get pg_billsec)" ] ||
  fail "billsec: $(get pg_billsec) in PostgreSQL, $(get report_billsec) from the simulator's billmsec"
say "CDRs $n_cdr, costs $cost_sum = balance decreases $decrease = ledger debits $debit_sum"
say "run: simulator $((t_sim - t_start)) s, flush after it $((t_pg - t_sim)) s"

# Structural bytes per slot: the shared table (calls_shm_size / calls.max),
# the worker's esl_call_t, its uuid index (a power of two >= 2 x calls.max
# buckets of 4 bytes, esl_calls_init), one timer heap entry per call, and
# the admin's /ws copy of each slot (ws_seen_t: 96 bytes, admin/ws.c).
WS_SEEN=96
buckets=1024; while [ "$buckets" -lt $((2 * SLOTS)) ]; do buckets=$((buckets * 2)); done
struct=$(awk -v f="$calls_bytes" -v n="$SLOTS" -v c="$SZ_CALL" -v b="$buckets" -v t="$SZ_TIMER" \
  -v w="$WS_SEEN" 'BEGIN { printf "%.0f", f / n + c + b * 4 / n + t + w }')
say "structural per slot: call_slot_t $SZ_SLOT (jrec_cdr_t $SZ_CDR of it) + header $SZ_HDR/$SLOTS" \
    "+ esl_call_t $SZ_CALL + uuid index $((buckets * 4 / SLOTS)) + timer $SZ_TIMER" \
    "+ admin ws_seen_t $WS_SEEN = $struct bytes (goal < 256); per live call with $CALLS" \
    "of $SLOTS slots in use: $(awk -v s="$struct" -v n="$SLOTS" -v c="$CALLS" 'BEGIN { printf "%.0f", s * n / c }')"
echo "BENCH bytes_per_active_call $struct bytes"
echo "BENCH bytes_per_active_call_measured $(get measured) bytes"
echo "BENCH bytes_per_active_call_rss_growth $(get w_rss_growth_per_call) bytes"
echo "BENCH bytes_per_active_call_pss_growth $(get w_pss_growth_per_call) bytes"
echo "BENCH bytes_per_active_call_baseline $(get sim_heap_marginal_per_call) bytes"
echo "BENCH reresv_per_sec $(get reresv_per_sec) /s"
echo "BENCH reresv_expected_per_sec $(awk -v n="$CALLS" -v i="$INTERVAL" 'BEGIN { printf "%.0f", n / i }') /s"
echo "BENCH concurrent_plateau_sec $(get plateau_sec) s"
exit $failed
