#!/usr/bin/env bash
# t_api_money.sh -- money through the API (admin/api_money.c), exactly once,
# over real HTTP (curl), with apolod and the private PostgreSQL of
# tests/run.sh (DATABASE_URL, APOLO_TOP, APOLO_BUILD).
#
#   - recharge 201, the live balance (`apolod ctl account`) moves once; the
#     same key again is replayed (200, Idempotent-Replayed), another amount
#     under the same key 422; no key 400; amount as a number 400; zero,
#     negative, 7 decimals, overflow 422; unknown account 404; viewer 403
#   - 20 concurrent requests with one key: one credit; with 20 keys: 20
#   - adjustment (negative, reason required), refund, the ledger endpoint
#     (newest first, keyset pagination)
#   - crashes (APOLO_TEST_CRASH_MONEY=after_claim|after_move on a first run
#     of apolod, the retry on a second run without it): exactly once
#   - housekeeping at start: done keys past admin.idempotency_days and
#     expired sessions deleted, pending keys kept
#   - after the stop, in PostgreSQL: one ledger row per movement, and
#     opening + sum(ledger) = balance = live balance for every account
#
# KEEP=1 keeps the temp folder.
. "$(dirname "$0")/lib.sh"
t_init money

# 4 HTTP threads + no workers <= 8 rings: t_conf's defaults
t_conf </dev/null
t_migrate
sql "
INSERT INTO rate_plans (id, name, currency, time_zone, rounding, number_rules)
  VALUES (1, 'Money test', 'ARS', 'America/Argentina/Buenos_Aires', 'up', '');
INSERT INTO zones (id, code, name) VALUES (1, 'AR', 'Argentina');
INSERT INTO deck_versions (plan_id, version, actor) VALUES (1, 1, 't_money');
INSERT INTO rates (plan_id, prefix, zone_id, rate_per_minute, connection_fee,
                   first_increment, next_increment, effective_from, deck_version)
  VALUES (1, '54', 1, 12000000, 0, 60, 60, '2024-01-01', 1);
INSERT INTO accounts (id, code, name, type, status, balance, credit_limit,
                      currency, plan_id)
  VALUES (1, 'M1', 'Prepaid', 'prepaid', 'active', 5000000, 0, 'ARS', 1),
         (2, 'M2', 'Postpaid', 'postpaid', 'active', -2000000, 100000000, 'ARS', 1),
         (3, 'M3', 'Closed', 'prepaid', 'closed', 0, 0, 'ARS', 1);
CREATE TABLE t_opening AS SELECT id, balance FROM accounts;" ||
  { fail "seeding the database"; exit 1; }

pw_oper='operator-secret-Pw2'
pw_view='viewer-secret-Pw3'
t_user operator operator "$pw_oper"
t_user viewer viewer "$pw_view"

money() {   # KIND ACCT KEY BODY [curl args]
  local k=$1 a=$2 key=$3 b=$4; shift 4
  req POST "/api/v1/accounts/$a/$k" "${A[@]}" -H "Idempotency-Key: $key" -d "$b" "$@"
}

# ---- first run: the rules --------------------------------------------------
t_start
tok=$(login operator "$pw_oper")
vtok=$(login viewer "$pw_view")
[ -n "$tok" ] && [ -n "$vtok" ] || { fail "login"; exit 1; }
A=(-H "Authorization: Bearer $tok" -H 'Content-Type: application/json')

b0=$(live 1)
s=$(money recharges 1 rc-1 '{"amount":"10.50","reason":"cash"}')
expect "recharge" 201 "$s"
[ "$(jfield '["amount"]')" = 10.500000 ] && [ "$(jfield '["reference"]')" = rc-1 ] &&
  [ "$(jfield '["kind"]')" = recharge ] && [ "$(jfield '["balance_after"]')" = 15.500000 ] &&
  [ -n "$(jfield '["journal"]["seq"]')" ] && ok "recharge body: $(body)" || fail "recharge body: $(body)"
first=$(body)
[ "$(live 1)" = $((b0 + 10500000)) ] && ok "live balance moved by 10.50" || fail "live balance $(live 1), was $b0"
s=$(money recharges 1 rc-1 '{"amount":"10.5","reason":"cash"}')
expect "same key, same request (10.5 = 10.50)" 200 "$s"
grep -qi '^Idempotent-Replayed: true' "$work/hdr" && ok "Idempotent-Replayed: true" || fail "no Idempotent-Replayed header"
[ "$(jfield '["journal"]["seq"]')" = "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["journal"]["seq"])' "$first")" ] ||
  fail "replayed body differs: $(body) / $first"
[ "$(live 1)" = $((b0 + 10500000)) ] && ok "replay: balance unchanged" || fail "replay moved money: $(live 1)"
s=$(money recharges 1 rc-1 '{"amount":"11.00","reason":"cash"}')
expect "same key, another amount" 422 "$s"
grep -q 'reused' "$work/body" || fail "422 body: $(body)"
s=$(money adjustments 1 rc-1 '{"amount":"10.50","reason":"cash"}')
expect "same key, another kind" 422 "$s"
s=$(req POST /api/v1/accounts/1/recharges "${A[@]}" -d '{"amount":"1.00"}')
expect "no Idempotency-Key" 400 "$s"
s=$(money recharges 1 'bad key!' '{"amount":"1.00"}')
expect "Idempotency-Key with a bad character" 400 "$s"
s=$(money recharges 1 rc-num '{"amount":10.5}')
expect "amount as a JSON number" 400 "$s"
s=$(money recharges 1 rc-neg '{"amount":"-1.00"}')
expect "negative recharge" 422 "$s"
s=$(money recharges 1 rc-zero '{"amount":"0"}')
expect "zero recharge" 422 "$s"
s=$(money recharges 1 rc-dec '{"amount":"1.0000001"}')
expect "7 decimals" 422 "$s"
s=$(money recharges 1 rc-dec0 '{"amount":"1.0000000"}')
expect "7 decimals, zeros" 422 "$s"
s=$(money recharges 1 rc-ovf '{"amount":"999999999999999999"}')
expect "overflow" 422 "$s"
s=$(money recharges 1 rc-big '{"amount":"9999999999"}')
expect "beyond the journal's bound (2^50 micro-units)" 422 "$s"
s=$(money recharges 1 rc-txt '{"amount":"ten"}')
expect "amount not a decimal" 422 "$s"
s=$(money recharges 999 rc-404 '{"amount":"1.00"}')
expect "unknown account" 404 "$s"
s=$(money recharges 3 rc-closed '{"amount":"1.00"}')
expect "closed account" 422 "$s"
s=$(req POST /api/v1/accounts/1/recharges -H "Authorization: Bearer $vtok" \
      -H 'Idempotency-Key: rc-view' -d '{"amount":"1.00"}')
expect "viewer" 403 "$s"
s=$(req POST /api/v1/accounts/1/recharges -H 'Idempotency-Key: rc-anon' -d '{"amount":"1.00"}')
expect "no session" 401 "$s"
s=$(money adjustments 1 adj-noreason '{"amount":"-1.00"}')
expect "adjustment without a reason" 422 "$s"
s=$(money adjustments 1 adj-zero '{"amount":"0.00","reason":"x"}')
expect "adjustment of 0" 422 "$s"
n=$(sql "SELECT count(*) FROM idempotency_keys")
[ "$n" = 1 ] && ok "refused requests claim no key" || fail "$n keys claimed"

# ---- concurrency -------------------------------------------------------------
b1=$(live 2)
pids=()
for i in $(seq 1 20); do
  curl -s -o /dev/null -w '%{http_code}\n' -X POST "${A[@]}" -H 'Idempotency-Key: same-20' \
    -d '{"amount":"1.000001","reason":"burst"}' "$base/api/v1/accounts/2/recharges" >"$work/code.$i" &
  pids+=($!)
done
wait "${pids[@]}"
cat "$work"/code.* >"$work/codes"
c201=$(grep -c '^201$' "$work/codes"); c200=$(grep -c '^200$' "$work/codes"); c409=$(grep -c '^409$' "$work/codes")
[ "$c201" = 1 ] && [ $((c201 + c200 + c409)) = 20 ] &&
  ok "20 concurrent with one key: 1 created, $c200 replayed, $c409 in progress" ||
  fail "20 concurrent with one key: $(sort "$work/codes" | uniq -c | tr '\n' ' ')"
[ "$(live 2)" = $((b1 + 1000001)) ] && ok "one credit" || fail "balance $(live 2), expected $((b1 + 1000001))"
b1=$(live 2)
pids=()
for i in $(seq 1 20); do
  curl -s -o /dev/null -w '%{http_code}\n' -X POST "${A[@]}" -H "Idempotency-Key: many-$i" \
    -d '{"amount":"0.25"}' "$base/api/v1/accounts/2/recharges" >"$work/code.$i" &
  pids+=($!)
done
wait "${pids[@]}"
cat "$work"/code.* >"$work/codes"
c201=$(grep -c '^201$' "$work/codes")
expect "20 concurrent with 20 keys: created" 20 "$c201"
[ "$(live 2)" = $((b1 + 20 * 250000)) ] && ok "20 credits" || fail "balance $(live 2), expected $((b1 + 5000000))"

# ---- adjustment, refund, ledger ------------------------------------------------
b1=$(live 1)
s=$(money adjustments 1 adj-1 '{"amount":"-3.00","reason":"double charge fixed"}')
expect "negative adjustment" 201 "$s"
s=$(money refunds 1 ref-1 '{"amount":"0.40","reason":"dropped call","call_id":"abc-123"}')
expect "refund" 201 "$s"
s=$(money refunds 1 ref-2 '{"amount":"0.40"}')
expect "refund without a reason" 422 "$s"
s=$(money recharges 1 rc-call '{"amount":"0.40","call_id":"x"}')
expect "call_id on a recharge" 422 "$s"
[ "$(live 1)" = $((b1 - 3000000 + 400000)) ] && ok "adjustment and refund moved the balance" ||
  fail "balance $(live 1) after adjustment and refund (was $b1)"
n=$(sql "SELECT count(*) FROM audit_log WHERE actor = 'operator' AND action = 'refund'
         AND object = 'account:1' AND details->>'call_id' = 'abc-123'")
[ "$n" = 1 ] && ok "audit_log has the refund with its call_id" || fail "audit_log: $n refunds"

for _ in $(seq 1 50); do   # the flusher drains within a second or so
  [ "$(sql "SELECT count(*) FROM ledger WHERE account_id = 1")" -ge 3 ] && break; sleep 0.1
done
s=$(req GET "/api/v1/ledger?account=1&limit=2" -H "Authorization: Bearer $vtok")
expect "ledger (viewer)" 200 "$s"
k0=$(jfield '["entries"][0]["kind"]'); k1=$(jfield '["entries"][1]["kind"]')
a0=$(jfield '["entries"][0]["amount"]'); nb=$(jfield '["next_before"]')
[ "$k0" = refund ] && [ "$k1" = adjustment ] && [ "$a0" = 0.400000 ] &&
  [ "$(jfield '["entries"][1]["reference"]')" = adj-1 ] && [ "$nb" != None ] &&
  ok "ledger newest first, amounts as strings" || fail "ledger: $(body)"
s=$(req GET "/api/v1/ledger?account=1&limit=2&before=$nb" -H "Authorization: Bearer $vtok")
[ "$s" = 200 ] && [ "$(jfield '["entries"][0]["reference"]')" = rc-1 ] &&
  [ "$(jfield '["entries"][0]["reason"]')" = cash ] && [ "$(jfield '["entries"][0]["actor"]')" = operator ] &&
  ok "ledger next page: the recharge" || fail "ledger page 2 ($s): $(body)"
s=$(req GET "/api/v1/ledger?account=999" -H "Authorization: Bearer $vtok")
expect "ledger of an unknown account" 404 "$s"
s=$(req GET "/api/v1/ledger?account=1&limit=0" -H "Authorization: Bearer $vtok")
expect "ledger limit 0" 422 "$s"
t_stop || fail "first stop"

# ---- crashes ---------------------------------------------------------------------
for point in after_move after_claim; do
  t_start APOLO_TEST_CRASH_MONEY=$point
  tok=$(login operator "$pw_oper")
  A=(-H "Authorization: Bearer $tok" -H 'Content-Type: application/json')
  b1=$(live 1)
  s=$(money recharges 1 "crash-$point" '{"amount":"7.00","reason":"crash"}')
  [ "$s" = 000 ] && ok "$point: the request died with the admin process" ||
    fail "$point: status $s: $(body)"
  moved=$(( $(live 1) - b1 ))
  if [ $point = after_move ]; then want=7000000; else want=0; fi
  [ "$moved" = $want ] && ok "$point: moved $moved before the retry" || fail "$point: moved $moved, expected $want"
  t_wait_up || fail "$point: the admin process did not come back"
  t_stop || fail "$point: stop"
  grep -q "APOLO_TEST_CRASH_MONEY: dying $point" "$work/apolod.log" || fail "$point: no crash line in the log"
  t_start
  tok=$(login operator "$pw_oper")
  A=(-H "Authorization: Bearer $tok" -H 'Content-Type: application/json')
  s=$(money recharges 1 "crash-$point" '{"amount":"7.00","reason":"crash"}')
  [ "$s" = 200 ] || [ "$s" = 201 ] && ok "$point: the retry succeeds ($s)" || fail "$point: retry $s: $(body)"
  s=$(money recharges 1 "crash-$point" '{"amount":"7.00","reason":"crash"}')
  expect "$point: and is replayed after" 200 "$s"
  [ $(( $(live 1) - b1 )) = 7000000 ] && ok "$point: moved exactly once" ||
    fail "$point: moved $(( $(live 1) - b1 ))"
  t_stop || fail "$point: second stop"
done

# ---- PostgreSQL after the stop ------------------------------------------------
n=$(sql "SELECT count(*) FROM ledger")
# 1 + 1 + 20 + adjustment + refund + 2 crash retries
expect "one ledger row per movement" 26 "$n"
n=$(sql "SELECT count(*) FROM (SELECT reference FROM ledger GROUP BY reference HAVING count(*) > 1) d")
expect "no reference twice in the ledger" 0 "$n"
n=$(sql "SELECT count(*) FROM idempotency_keys WHERE state <> 'done'")
expect "every key done" 0 "$n"
bad=$(sql "SELECT count(*) FROM accounts a JOIN t_opening o USING (id)
           WHERE o.balance + (SELECT coalesce(sum(amount), 0) FROM ledger l
                              WHERE l.account_id = a.id) <> a.balance")
expect "opening + sum(ledger) = balance, every account" 0 "$bad"
n=$(sql "SELECT count(*) FROM journal_rejects")
expect "no rejected record" 0 "$n"
# housekeeping at start (engine/sup_job.c): done keys older than
# admin.idempotency_days (30) go, pending ones stay (recovery claims),
# expired sessions go
sql "UPDATE idempotency_keys SET done_at = now() - interval '31 days' WHERE key = 'rc-1';
     INSERT INTO idempotency_keys (key, kind, account_id, amount, request_hash, state, actor, created_at)
       VALUES ('old-pending', 'recharge', 1, 1, 'x', 'pending', 't', now() - interval '90 days');
     UPDATE sessions SET created_at = now() - interval '2 days', expires_at = now() - interval '1 day'
      WHERE token_hash = (SELECT min(token_hash) FROM sessions);" || fail "aging keys"
nkeys=$(sql "SELECT count(*) FROM idempotency_keys")
nsess=$(sql "SELECT count(*) FROM sessions")
t_start
expect "housekeeping: the 31-day-old done key deleted, the rest kept" \
  "0 1 $((nkeys - 2))" \
  "$(sql "SELECT count(*) FILTER (WHERE key = 'rc-1') || ' ' || count(*) FILTER (WHERE key = 'old-pending') || ' ' || count(*) FILTER (WHERE key NOT IN ('rc-1', 'old-pending')) FROM idempotency_keys")"
expect "housekeeping: the expired session deleted" "$((nsess - 1))" "$(sql "SELECT count(*) FROM sessions")"
sql "DELETE FROM idempotency_keys WHERE key = 'old-pending'" >/dev/null
reg=0
while IFS='|' read -r id bal; do
  [ "$(live "$id")" = "$bal" ] || { reg=$((reg + 1)); echo "      account $id: live $(live "$id"), PostgreSQL $bal"; }
done < <(sql "SELECT id, balance FROM accounts ORDER BY id")
expect "live balance = PostgreSQL balance, every account" 0 "$reg"
t_stop || fail "last stop"

t_done
