#!/usr/bin/env bash
# t_api_rating.sh -- acceptance test of the rating endpoints of the HTTP API
# (admin/api_rating.c): GET /api/v1/authorize and GET /api/v1/quote, on a
# real apolod with a fresh database, through a viewer's bearer token.
#
# The deck (plan 1, UTC, number rule "00=>", a peak period Monday to
# Friday 08:00-20:00):
#   54    Argentina         6.000000/min, 60/60
#   5491  Argentina mobile 60.000000/min, 1/1; at peak 120.000000/min
#   55    Brazil           12.000000/min, 30/6, fee 1.000000, grace 3 s
# Plan 2 has no rate. Every expected figure below is computed by hand in
# the comment next to it. esl.max_call_sec = 3600 caps authorizations.
#
# KEEP=1 keeps the temp folder.
. "$(dirname "$0")/lib.sh"
t_init api_rating
# admin.threads: apolod's default (8), not t_conf's 4
t_conf <<EOF
journal.rings = 4
admin.threads = 8
esl.max_call_sec = 3600
EOF

# ---- the database -------------------------------------------------------------
t_migrate
sql "
INSERT INTO rate_plans (id, name, currency, time_zone, rounding, number_rules)
  VALUES (1, 'API test', 'ARS', 'UTC', 'up', '00=>'),
         (2, 'Empty', 'ARS', 'UTC', 'up', '');
INSERT INTO rate_periods (id, plan_id, name) VALUES (1, 1, 'peak');
INSERT INTO rate_period_windows (period_id, wday_mask, start_min, end_min)
  VALUES (1, 62, 480, 1200);
INSERT INTO zones (id, code, name) VALUES (1, 'AR', 'Argentina'),
  (2, 'AR-MOB', 'Argentina mobile'), (3, 'BR', 'Brazil');
INSERT INTO deck_versions (plan_id, version, actor) VALUES (1, 1, 't_api_rating');
INSERT INTO rates (plan_id, prefix, zone_id, period_id, rate_per_minute,
                   connection_fee, first_increment, next_increment,
                   min_seconds, grace_seconds, effective_from, deck_version)
  VALUES (1, '54',   1, NULL,   6000000,       0, 60, 60, 0, 0, '2024-01-01', 1),
         (1, '5491', 2, NULL,  60000000,       0,  1,  1, 0, 0, '2024-01-01', 1),
         (1, '5491', 2, 1,    120000000,       0,  1,  1, 0, 0, '2024-01-01', 1),
         (1, '55',   3, NULL,  12000000, 1000000, 30,  6, 0, 3, '2024-01-01', 1);
INSERT INTO accounts (id, code, name, type, balance, credit_limit, currency,
                      plan_id, status) VALUES
  (1, 'RICH',    'prepaid 100',   'prepaid',        100000000,       0, 'ARS', 1, 'active'),
  (2, 'POOR',    'prepaid 0.5',   'prepaid',           500000,       0, 'ARS', 1, 'active'),
  (3, 'BLOCKED', 'blocked',       'prepaid',       1000000000,       0, 'ARS', 1, 'blocked'),
  (4, 'POST',    'postpaid 8',    'postpaid',               0, 8000000, 'ARS', 1, 'active'),
  (5, 'INACT',   'inactive ext',  'prepaid',       1000000000,       0, 'ARS', 1, 'active'),
  (6, 'WHALE',   'past the cap',  'prepaid',    1000000000000,       0, 'ARS', 1, 'active'),
  (7, 'NODECK',  'plan w/o deck', 'prepaid',       1000000000,       0, 'ARS', 2, 'active');
INSERT INTO extensions (number, account_id, active) VALUES
  ('1001', 1, true), ('1002', 2, true), ('1003', 3, true), ('1004', 4, true),
  ('1005', 5, false), ('1006', 6, true), ('1007', 7, true);" >/dev/null ||
  { fail "seeding the database"; exit 1; }

t_user rview viewer 'viewer-secret-1'

# ---- apolod ---------------------------------------------------------------------
t_start
tok=$(login rview viewer-secret-1)
[ -n "$tok" ] && ok "viewer logged in" ||
  { fail "no token from POST /api/v1/login"; tail -20 "$work/apolod.log"; exit 1; }

# get PATH [CURL ARGS...]: body in $work/body, status in $code
get() {
  local p=$1; shift
  code=$(curl -s -o "$work/body" -w '%{http_code}' "$@" "$base/api/v1/$p")
}
# expect PATH STATUS JQ_PROJECTION EXPECTED_JSON
expect() {
  local p=$1 st=$2 proj=$3 exp=$4
  get "$p" -H "Authorization: Bearer $tok"
  if [ "$code" != "$st" ]; then
    fail "GET $p: status $code, expected $st: $(head -c 300 "$work/body")"
  elif jq -e --argjson e "$exp" "($proj) == \$e" "$work/body" >/dev/null 2>&1; then
    ok "GET $p -> $st $exp"
  else
    fail "GET $p: $(jq -c "$proj" "$work/body" 2>&1), expected $exp"
  fi
}
# Every money field of the last body is a string.
amounts_are_strings() {
  local bad
  bad=$(jq -c '[.. | objects | to_entries[]
               | select(.key | test("balance|available|reserved|credit_limit|rate_per_minute|connection_fee|cost"))
               | select(.value | type != "string") | .key]' "$work/body")
  [ "$bad" = "[]" ] || fail "$1: amounts that are not strings: $bad"
}

SUN=1717329600      # Sunday 2024-06-02 12:00 UTC: off peak
MON=1717408800      # Monday 2024-06-03 10:00 UTC: peak
EDGE=1717444740     # Monday 2024-06-03 19:59 UTC: one minute of peak left
MOB=5491155550000
FIX=541143210000
BR=5511987650000
A='{can_call, reason, max_seconds, direction, charged}'

# ---- authorize ------------------------------------------------------------------
# 100.000000 at 60.000000/min on 1/1 = 1.000000 a second: 100 s, costing 100.
expect "authorize?caller=1001&callee=$MOB&at=$SUN" 200 \
  '{can_call, max_seconds, direction, charged, account_id, balance, available, zone, prefix, rate_per_minute, connection_fee, first_increment, next_increment, plan_id, deck_version, max_cost}' \
  '{"can_call": true, "max_seconds": 100, "direction": "outbound", "charged": true, "account_id": 1, "balance": "100.000000", "available": "100.000000", "zone": "Argentina mobile", "prefix": "5491", "rate_per_minute": "60.000000", "connection_fee": "0.000000", "first_increment": 1, "next_increment": 1, "plan_id": 1, "deck_version": 1, "max_cost": "100.000000"}'
amounts_are_strings authorize
[ "$(jq -r 'has("reason")' "$work/body")" = false ] || fail "authorize: a reason on an authorized call"
# At peak 120.000000/min = 2 a second: 50 s.
expect "authorize?caller=1001&callee=$MOB&at=$MON" 200 \
  '{max_seconds, rate_per_minute, max_cost}' \
  '{"max_seconds": 50, "rate_per_minute": "120.000000", "max_cost": "100.000000"}'
# 6.000000 a started minute (60/60): 16 minutes = 960 s for 96.000000.
expect "authorize?caller=1001&callee=$FIX&at=$SUN" 200 \
  '{can_call, max_seconds, prefix, zone, first_increment, next_increment, max_cost}' \
  '{"can_call": true, "max_seconds": 960, "prefix": "54", "zone": "Argentina", "first_increment": 60, "next_increment": 60, "max_cost": "96.000000"}'
# 0.500000 does not pay the first block (6.000000, or 1.000000 for 1 s).
expect "authorize?caller=1002&callee=$FIX&at=$SUN" 200 "$A + {balance}" \
  '{"can_call": false, "reason": "no_credit", "max_seconds": 0, "direction": "outbound", "charged": true, "balance": "0.500000"}'
expect "authorize?caller=1002&callee=$MOB&at=$SUN" 200 '{can_call, reason}' \
  '{"can_call": false, "reason": "no_credit"}'
# Postpaid, balance 0, credit limit 8.000000: 8 s at 1 a second.
expect "authorize?caller=1004&callee=$MOB&at=$SUN" 200 \
  '{can_call, max_seconds, balance, available, credit_limit, account_type}' \
  '{"can_call": true, "max_seconds": 8, "balance": "0.000000", "available": "8.000000", "credit_limit": "8.000000", "account_type": "postpaid"}'
# Brazil: 1.000000 + 0.2 a second in 30/6 blocks: 30 s cost 7.000000, the
# next block (36 s) 8.200000 > 8: 30 s.
expect "authorize?caller=1004&callee=$BR&at=$SUN" 200 \
  '{max_seconds, max_cost, connection_fee, first_increment, next_increment, grace_seconds}' \
  '{"max_seconds": 30, "max_cost": "7.000000", "connection_fee": "1.000000", "first_increment": 30, "next_increment": 6, "grace_seconds": 3}'
# The cap: 1,000,000.000000 would pay 1,000,000 s; esl.max_call_sec = 3600.
expect "authorize?caller=1006&callee=$MOB&at=$SUN" 200 '{can_call, max_seconds}' \
  '{"can_call": true, "max_seconds": 3600}'
expect "authorize?caller=1003&callee=$MOB&at=$SUN" 200 "$A" \
  '{"can_call": false, "reason": "blocked", "max_seconds": 0, "direction": "outbound", "charged": true}'
expect "authorize?caller=9999&callee=8888&at=$SUN" 200 "$A" \
  '{"can_call": false, "reason": "unknown_caller", "max_seconds": 0, "direction": "unknown", "charged": false}'
expect "authorize?caller=1005&callee=$MOB&at=$SUN" 200 '{can_call, reason}' \
  '{"can_call": false, "reason": "inactive_extension"}'
expect "authorize?caller=1001&callee=99999&at=$SUN" 200 '{can_call, reason, max_seconds}' \
  '{"can_call": false, "reason": "no_rate", "max_seconds": 0}'
# Plan 2 has no rate at all (the loader gives it an empty deck).
expect "authorize?caller=1007&callee=$MOB&at=$SUN" 200 '{can_call, reason, plan_id}' \
  '{"can_call": false, "reason": "no_rate", "plan_id": 2}'
# Inbound and internal calls are free (esl.charge_inbound/internal = 0).
expect "authorize?caller=5550000&callee=1001&at=$SUN" 200 "$A + {account_id}" \
  '{"can_call": true, "reason": null, "max_seconds": 3600, "direction": "inbound", "charged": false, "account_id": 1}'
expect "authorize?caller=1001&callee=1002&at=$SUN" 200 "$A + {account_id}" \
  '{"can_call": true, "reason": null, "max_seconds": 3600, "direction": "internal", "charged": false, "account_id": 1}'
# '+' encoded, '+' raw (a space once decoded), and the plan's "00=>" rule.
for callee in "%2B$MOB" "+$MOB" "00$MOB"; do
  expect "authorize?caller=1001&callee=$callee&at=$SUN" 200 '{can_call, max_seconds, number}' \
    "{\"can_call\": true, \"max_seconds\": 100, \"number\": \"$MOB\"}"
done
# Without at: now; the answer says which second it used.
get "authorize?caller=1001&callee=$MOB" -H "Authorization: Bearer $tok"
now=$(date +%s); at=$(jq -r .at "$work/body")
[ "$code" = 200 ] && [ $((now - at)) -ge 0 ] && [ $((now - at)) -le 5 ] &&
  ok "authorize without at: rated at now ($at)" || fail "authorize without at: $code at=$at now=$now"

# ---- bad requests ---------------------------------------------------------------
d41=$(printf '1%.0s' $(seq 1 41))
for q in "callee=$MOB" "caller=1001" "caller=10a1&callee=$MOB" "caller=1001&callee=$d41" \
         "caller=1001&callee=" "caller=+&callee=$MOB" "caller=1001&callee=$MOB&at=abc" \
         "caller=1001&callee=$MOB&at=-5"; do
  expect "authorize?$q" 400 '.error.code' '"validation"'
done
get "authorize?caller=1001&callee=$MOB"
[ "$code" = 401 ] && ok "authorize without a token: 401" || fail "authorize without a token: $code"
get "authorize?caller=1001&callee=$MOB" -H "Authorization: Bearer x$tok"
[ "$code" = 401 ] && ok "authorize with a bad token: 401" || fail "authorize with a bad token: $code"
get "quote?number=$MOB&seconds=1&plan=1"
[ "$code" = 401 ] && ok "quote without a token: 401" || fail "quote without a token: $code"

# ---- quote -------------------------------------------------------------------------
# 61 s at 1.000000 a second, 1/1: 61 s, 61.000000, one segment off peak.
expect "quote?number=$MOB&seconds=61&plan=1&at=$SUN" 200 \
  '{plan_id, deck_version, number, prefix, zone, tariff, rounding, seconds, rounded_seconds, cost, answer_period, periods, segments, rest_seconds}' \
  '{"plan_id": 1, "deck_version": 1, "number": "5491155550000", "prefix": "5491", "zone": "Argentina mobile", "tariff": {"rate_per_minute": "60.000000", "connection_fee": "0.000000", "first_increment": 1, "next_increment": 1, "min_seconds": 0, "grace_seconds": 0}, "rounding": "up", "seconds": 61, "rounded_seconds": 61, "cost": "61.000000", "answer_period": 0, "periods": [{"seconds": 61, "rate_per_minute": "60.000000", "period": 0}], "segments": 1, "rest_seconds": 0}'
amounts_are_strings quote
jq -e '.rate_id > 0 and .zone_id == 2 and .plan_name == "API test" and .currency == "ARS"' \
  "$work/body" >/dev/null || fail "quote: rate_id, zone_id, plan_name, currency: $(cat "$work/body")"
# 61 s on 60/60: 120 s at 6.000000 a minute = 12.000000; by account id,
# by account code, by extension.
for who in account=1 account=RICH caller=1001; do
  expect "quote?number=$FIX&seconds=61&$who&at=$SUN" 200 \
    '{account_id, rounded_seconds, cost, prefix}' \
    '{"account_id": 1, "rounded_seconds": 120, "cost": "12.000000", "prefix": "54"}'
done
# 31 s on 30/6 with a 1.000000 fee: 36 s, 1 + 36 * 0.2 = 8.200000.
expect "quote?number=$BR&seconds=31&plan=1&at=$SUN" 200 \
  '{rounded_seconds, cost, connection_fee_charged, periods}' \
  '{"rounded_seconds": 36, "cost": "8.200000", "connection_fee_charged": "1.000000", "periods": [{"seconds": 36, "rate_per_minute": "12.000000", "period": 0}]}'
# 2 s, under the 3 s of grace: free; 0 s: free.
for s in 2 0; do
  expect "quote?number=$BR&seconds=$s&plan=1&at=$SUN" 200 \
    '{rounded_seconds, cost, periods}' '{"rounded_seconds": 0, "cost": "0.000000", "periods": []}'
done
# Answered at 19:59 Monday: 60 s of peak at 2.000000, then 60 s off peak
# at 1.000000: 180.000000; the tariff at answer is the peak's.
expect "quote?number=$MOB&seconds=120&plan=1&at=$EDGE" 200 \
  '{cost, rounded_seconds, answer_period, segments, periods, rate: .tariff.rate_per_minute}' \
  '{"cost": "180.000000", "rounded_seconds": 120, "answer_period": 1, "segments": 2, "periods": [{"seconds": 60, "rate_per_minute": "120.000000", "period": 1}, {"seconds": 60, "rate_per_minute": "60.000000", "period": 0}], "rate": "120.000000"}'
# The plan's rule: 00 dropped.
expect "quote?number=00$MOB&seconds=10&plan=1&at=$SUN" 200 '{dialled, number, cost}' \
  "{\"dialled\": \"00$MOB\", \"number\": \"$MOB\", \"cost\": \"10.000000\"}"
expect "quote?number=$MOB&seconds=10&plan=99" 404 '.error.code' '"not_found"'
expect "quote?number=$MOB&seconds=10&account=777" 404 '.error.code' '"not_found"'
expect "quote?number=$MOB&seconds=10&caller=7777" 404 '.error.code' '"not_found"'
expect "quote?number=99999&seconds=10&plan=1" 422 '.error.code' '"no_rate"'
expect "quote?number=$MOB&seconds=10&plan=2" 422 '.error.code' '"no_rate"'
for q in "number=$MOB&seconds=86401&plan=1" "number=$MOB&seconds=-1&plan=1" \
         "number=$MOB&plan=1" "number=$MOB&seconds=1x&plan=1" "seconds=10&plan=1" \
         "number=$MOB&seconds=10" "number=$MOB&seconds=10&plan=1&account=1" \
         "number=$MOB&seconds=10&plan=0" "number=5491x&seconds=10&plan=1"; do
  expect "quote?$q" 400 '.error.code' '"validation"'
done
# A day from Sunday noon: 20 h off peak at 1.000000 a second (72000), then
# Monday 08:00-12:00 at peak, 14400 s at 2.000000 (28800): 100800.000000.
expect "quote?number=$MOB&seconds=86400&plan=1&at=$SUN" 200 '{cost, periods}' \
  '{"cost": "100800.000000", "periods": [{"seconds": 72000, "rate_per_minute": "60.000000", "period": 0}, {"seconds": 14400, "rate_per_minute": "120.000000", "period": 1}]}'

# ---- the live region: a change published by `apolod ctl reload` -----------------
sql "UPDATE accounts SET status = 'blocked' WHERE id = 6" >/dev/null
r=$("$bin" -c "$conf" ctl -t 10000 reload 2>&1)
[[ $r == ok* ]] || fail "ctl reload: $r"
expect "authorize?caller=1006&callee=$MOB&at=$SUN" 200 '{can_call, reason}' \
  '{"can_call": false, "reason": "blocked"}'

# The answers moved no money: nothing reserved anywhere.
for id in 1 4 6; do
  r=$("$bin" -c "$conf" ctl -t 10000 "account $id" 2>&1)
  [[ $r == *" reserved=0 "* ]] || fail "account $id holds a reservation: $r"
done

t_stop; rc=$?
[ $rc -eq 0 ] || fail "apolod exited $rc"
if grep -q 'ERROR' "$work/apolod.log"; then
  fail "errors in the log:"; grep 'ERROR' "$work/apolod.log" | head -5
fi
t_done
