#!/usr/bin/env bash
# t_ws.sh -- GET /ws (admin/ws.c) with apolod, the FreeSWITCH simulator
# (tests/esl/ws.fss: one normal call, one refused, one cut by money) and
# the WebSocket client build/*/wsclient, on the private PostgreSQL of
# tests/run.sh.
#
#   - an upgrade without a session, or with a bad token, is refused 401
#   - with a viewer's bearer token (and with the cookie): 101, then a
#     snapshot first
#   - call_start, call_answer, call_end of each answered call, in order;
#     the cut call shows low_balance and cut_scheduled before its end;
#     the refused call's start and end when a scan saw it (its slot lives
#     a few ms: reported, not asserted)
#   - ticks arrive (about one a second) and the last says active 0
#   - detection latency (receive time - the event's "at"): printed, p99
#     asserted under 1000 ms only (the target is well under 50 ms)
#
# KEEP=1 keeps the temp folder.
. "$(dirname "$0")/lib.sh"
fssim=$build/fssim
wsc=$build/wsclient
pids=()
t_on_exit() {
  local p
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
}
[ -x "$wsc" ] || { fail "no $wsc (make all)"; exit 1; }
t_init ws
t_conf <<EOC
esl.reconnect_max_ms = 400
# 2 s: the cut call's last extension fails 1 s (the lead) before its cut,
# so cut_scheduled is in the table for 1 s. With 1 s it was there 0.5 s
# and an admin process starved that long (ASan, tests side by side in CI)
# missed it once: /ws is a view sampled every 20 ms, not a log.
esl.debit_interval_sec = 2
EOC

t_migrate
sql "
INSERT INTO rate_plans (id, name, currency, time_zone, rounding, number_rules)
  VALUES (1, 'ws', 'ARS', 'UTC', 'up', '');
INSERT INTO zones (id, code, name) VALUES (1, 'AR-MOB', 'Argentina mobile');
INSERT INTO deck_versions (plan_id, version, actor) VALUES (1, 1, 't_ws');
INSERT INTO rates (plan_id, prefix, zone_id, rate_per_minute, connection_fee,
                   first_increment, next_increment, effective_from, deck_version)
  VALUES (1, '5491', 1, 60000000, 0, 1, 1, '2024-01-01', 1);
INSERT INTO accounts (id, code, name, type, balance, credit_limit, currency,
                      plan_id, status, low_balance_threshold) VALUES
  (1, 'RICH', 'pays', 'prepaid', 1000000000, 0, 'ARS', 1, 'active', NULL),
  (2, 'POOR', 'cannot pay', 'prepaid', 500000, 0, 'ARS', 1, 'active', NULL),
  (3, 'CUT', 'cut by money', 'prepaid', 4000000, 0, 'ARS', 1, 'active', 2000000);
INSERT INTO extensions (number, account_id) VALUES ('1001', 1), ('1002', 2),
  ('1003', 3);" || { fail "seeding the database"; exit 1; }
pw='viewer-password-1'
t_user watcher viewer "$pw"

"$fssim" --listen 127.0.0.1:0 --quiet --script "$top/tests/esl/ws.fss" \
  --report "$work/report.jsonl" >"$work/sim.out" 2>"$work/sim.err" &
sim=$!; pids+=("$sim")
simport=""
for _ in $(seq 1 50); do
  simport=$(grep -o 'FSSIM listening [0-9]*' "$work/sim.out" | grep -o '[0-9]*$')
  [ -n "$simport" ] && break
  sleep 0.1
done
[ -n "$simport" ] || { fail "fssim did not start"; cat "$work/sim.err"; exit 1; }
t_start APOLO_ESL_NODES="ClueCon@127.0.0.1:$simport"

# ---- refused upgrades --------------------------------------------------------
out=$("$wsc" --port "$port" --seconds 3 2>&1); rc=$?
[ $rc = 1 ] && [ "$(head -1 <<<"$out")" = "HTTP 401" ] &&
  ok "no session: upgrade refused 401" || fail "no session: rc $rc, '$out'"
out=$("$wsc" --port "$port" --seconds 3 --token "$(printf '%064d' 7)" 2>&1); rc=$?
[ $rc = 1 ] && [ "$(head -1 <<<"$out")" = "HTTP 401" ] &&
  ok "unknown token: upgrade refused 401" || fail "unknown token: rc $rc, '$out'"

token=$(login watcher "$pw")
[[ $token =~ ^[0-9a-f]{64}$ ]] || { fail "login"; exit 1; }

# ---- the live client ------------------------------------------------------------
"$wsc" --port "$port" --token "$token" --seconds 13 >"$work/ws.out" 2>"$work/ws.err" &
wsp=$!; pids+=("$wsp")
"$wsc" --port "$port" --cookie "$token" --seconds 2 >"$work/ws2.out" 2>&1 &
ws2=$!; pids+=("$ws2")
wait "$sim"; simrc=$?
[ $simrc -eq 0 ] && ok "the simulator's expectations held" ||
  { fail "the simulator saw the engine miss (exit $simrc)"; sed 's/^/      /' "$work/sim.err" | head -20; }
wait "$ws2"; rc2=$?
[ $rc2 = 0 ] && grep -q '^RECV [0-9]* {"type":"snapshot"' "$work/ws2.out" &&
  ok "cookie apolo_session: upgraded, snapshot received" ||
  fail "cookie client: rc $rc2: $(head -3 "$work/ws2.out")"
wait "$wsp"; rc=$?
[ $rc = 0 ] || fail "wsclient exit $rc: $(cat "$work/ws.err")"
[ "$(head -1 "$work/ws.out")" = "HTTP 101" ] && ok "bearer: upgraded (101)" ||
  fail "bearer: $(head -1 "$work/ws.out")"
first=$(sed -n 2p "$work/ws.out" | grep -o '"type":"[a-z_]*"')
[ "$first" = '"type":"snapshot"' ] && ok "the first message is the snapshot" ||
  fail "the first message is $first"

uuid_of() { grep "\"name\": *\"$1\"" "$work/report.jsonl" | grep -o '"uuid": *"[^"]*"' | cut -d'"' -f4; }
# seq_of UUID: the types of the call's events, in order
seq_of() { grep -F "\"$1\"" "$work/ws.out" | grep -o '^RECV [0-9]* {"type":"[a-z_]*"' |
           grep -o '"type":"[a-z_]*"' | cut -d'"' -f4 | grep -v '^snapshot$' | uniq | tr '\n' ' '; }
for name in ok cut; do
  u=$(uuid_of $name)
  s=$(seq_of "$u")
  s2=$(tr ' ' '\n' <<<"$s" | grep -v '^call_update$' | grep -v '^$' | tr '\n' ' ')
  [ "$s2" = "call_start call_answer call_end " ] &&
    ok "$name: $s" || fail "$name ($u): events '$s'"
done
u=$(uuid_of cut)
grep -F "\"$u\"" "$work/ws.out" | grep '"type":"call_update"' |
  grep -q '"low_balance":true' && ok "cut: a call_update with low_balance" ||
  fail "cut: no call_update with low_balance"
grep -F "\"$u\"" "$work/ws.out" | grep -v '"type":"call_end"' |
  grep -q '"cut_scheduled":true' && ok "cut: cut_scheduled shown before the end" ||
  fail "cut: cut_scheduled never shown"
grep -F "\"$u\"" "$work/ws.out" | grep '"type":"call_end"' |
  grep -q '"hangup_cause":"ALLOTTED_TIMEOUT"' && ok "cut: call_end with ALLOTTED_TIMEOUT" ||
  echo "      cut: call_end without the cause (the slot was freed between scans)"
u=$(uuid_of poor)
s=$(seq_of "$u")
if [ -n "$s" ]; then
  [[ $s == call_start*call_end* ]] && ok "refused: $s" || fail "refused: events '$s'"
else
  echo "      refused: not seen (its slot lived less than a 20 ms scan)"
fi
ticks=$(grep -c '^RECV [0-9]* {"type":"tick"' "$work/ws.out")
[ "$ticks" -ge 10 ] && ok "$ticks ticks in 13 s" || fail "$ticks ticks in 13 s"
last=$(grep '^RECV [0-9]* {"type":"tick"' "$work/ws.out" | tail -1)
[[ $last == *'"active":0'* ]] && ok "the last tick: active 0" || fail "the last tick: $last"
lat=$(grep '^WSCLIENT' "$work/ws.out")
echo "BENCH ws detection latency: $lat"
p99=$(grep -o 'p99_us=[0-9]*' <<<"$lat" | cut -d= -f2)
if [ -n "$p99" ] && [ "$p99" -lt 1000000 ]; then
  ok "latency p99 $((p99 / 1000)) ms (< 1000; the target is < 50)"
else
  fail "latency: '$lat'"
fi

# ---- stop: clean with a client connected -------------------------------------------
"$wsc" --port "$port" --token "$token" --seconds 20 >"$work/ws3.out" 2>&1 &
ws3=$!; pids+=("$ws3")
sleep 0.5
kill -TERM "$sup"
for _ in $(seq 1 100); do kill -0 "$sup" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$sup" 2>/dev/null; then fail "apolod did not stop within 10 s"; else
  wait "$sup"; rc=$?
  [ $rc = 0 ] && ok "apolod stopped cleanly with a client connected" || fail "apolod exited $rc"
fi
for _ in $(seq 1 50); do kill -0 "$ws3" 2>/dev/null || break; sleep 0.1; done
kill -0 "$ws3" 2>/dev/null && fail "the client was not disconnected at stop"
while read -r l; do fail "log: $l"; done < <(grep -E 'ERROR|FATAL|sanitizer' "$work/apolod.log" | grep -v 'refused' | head -5)

t_done
