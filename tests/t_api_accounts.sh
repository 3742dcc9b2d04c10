#!/usr/bin/env bash
# t_api_accounts.sh -- accounts and extensions of the HTTP API
# (admin/api_accounts.c, admin/reload.c) on a real apolod with a fresh
# database, through an operator's and a viewer's bearer tokens:
#
#   - POST accounts: 201 with the live block from the region at once (and
#     `ctl account <id>` knows it); 409 duplicate code; 400 amount as a
#     number, balance given, wrong type; 422 negative credit, bad type,
#     unknown plan, wrong currency; viewer 403
#   - GET list: filters, keyset pagination (7 accounts, limit=3: 3 pages);
#     SQL in q= is only text
#   - PATCH: status blocked -> authorize answers "blocked" (the region got
#     it); credit_limit -> live available; balance -> 400 and nothing
#     changed; DELETE closes
#   - extensions: 201, 409, 422; PATCH active=false -> inactive_extension
#   - PIN: set, verify true/false, argon2id in the table, never in the log
#   - audit_log: every change with its actor, before/after on updates
#
# KEEP=1 keeps the temp folder.
. "$(dirname "$0")/lib.sh"
t_init api_accounts
# admin.threads: apolod's default (8), not t_conf's 4
t_conf <<EOC
journal.rings = 4
admin.threads = 8
esl.max_call_sec = 3600
EOC

t_migrate
# Plan 1 (ARS) with one rate; plan 2 in USD. No account yet: all through
# the API.
sql "
INSERT INTO rate_plans (id, name, currency) VALUES (1, 'ARS plan', 'ARS'),
                                                   (2, 'USD plan', 'USD');
INSERT INTO zones (id, code, name) VALUES (1, 'AR', 'Argentina');
INSERT INTO deck_versions (plan_id, version, actor) VALUES (1, 1, 't');
INSERT INTO rates (plan_id, prefix, zone_id, rate_per_minute, first_increment,
                   next_increment, effective_from, deck_version)
  VALUES (1, '54', 1, 60000000, 1, 1, '2024-01-01', 1);" >/dev/null ||
  { fail "seeding the database"; exit 1; }
pw_oper='operator-secret-1'
pw_view='viewer-secret-1'
t_user oper operator "$pw_oper"
t_user view viewer "$pw_view"

t_start
# login USER PASSWORD: the token (a body without Content-Type; lib.sh's
# login sends one, and req below is this test's own)
login() {
  curl -s -X POST -d "{\"username\": \"$1\", \"password\": \"$2\"}" \
    "$base/api/v1/login" | jq -r '.token // empty'
}
top_=$(login oper "$pw_oper"); tview=$(login view "$pw_view")
[ -n "$top_" ] && [ -n "$tview" ] && ok "operator and viewer logged in" ||
  { fail "login"; tail -20 "$work/apolod.log"; exit 1; }
TOK=$top_

# req METHOD PATH [BODY]: as $TOK; body in $work/body, status in $code
req() {
  local m=$1 p=$2
  if [ $# -ge 3 ]; then
    code=$(curl -s -o "$work/body" -w '%{http_code}' -X "$m" \
      -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
      --data-binary "$3" "$base/api/v1/$p")
  else
    code=$(curl -s -o "$work/body" -w '%{http_code}' -X "$m" \
      -H "Authorization: Bearer $TOK" "$base/api/v1/$p")
  fi
}
# check DESC METHOD PATH BODY|'' STATUS [JQ_TEST]
check() {
  local d=$1 m=$2 p=$3 b=$4 st=$5 t=${6:-true}
  if [ -n "$b" ]; then req "$m" "$p" "$b"; else req "$m" "$p"; fi
  if [ "$code" != "$st" ]; then
    fail "$d: $m $p -> $code, expected $st: $(head -c 300 "$work/body")"
  elif ! jq -e "$t" "$work/body" >/dev/null 2>&1; then
    fail "$d: $m $p: $t is false on $(head -c 400 "$work/body")"
  else
    ok "$d ($st)"
  fi
}

# ---- create ----------------------------------------------------------------------
for i in 1 2 3 4 5 6 7; do
  type=prepaid; [ $((i % 3)) = 0 ] && type=postpaid
  check "create account A0$i" POST accounts \
    "{\"code\": \"A0$i\", \"name\": \"Account $i\", \"type\": \"$type\", \"currency\": \"ARS\", \"plan_id\": 1, \"credit_limit\": \"$i.5\", \"low_balance_threshold\": \"1.00\"}" \
    201 ".code == \"A0$i\" and .balance == \"0.000000\" and .credit_limit == \"$i.500000\" and .live.balance == \"0.000000\" and .live.available == \"$i.500000\" and .live.reserved == \"0.000000\" and (has(\"warning\") | not)"
done
id1=$(sql "SELECT id FROM accounts WHERE code = 'A01'")
r=$("$bin" -c "$conf" ctl -t 10000 "account $id1" 2>&1)
[[ $r == "ok id=$id1 balance=0 reserved=0 headroom=1500000" ]] &&
  ok "ctl account $id1: in the region ($r)" || fail "ctl account $id1: $r"

check "duplicate code" POST accounts '{"code": "A01", "name": "x", "type": "prepaid", "plan_id": 1}' \
  409 '.error.code == "conflict"'
check "bad type" POST accounts '{"code": "B1", "name": "x", "type": "gold", "plan_id": 1}' \
  422 '.error.code == "validation"'
check "type not a string" POST accounts '{"code": "B1", "name": "x", "type": 1, "plan_id": 1}' \
  400 '.error.code == "validation"'
check "amount as a number" POST accounts '{"code": "B1", "name": "x", "type": "prepaid", "plan_id": 1, "credit_limit": 10}' \
  400 '.error.code == "validation"'
check "negative credit limit" POST accounts '{"code": "B1", "name": "x", "type": "prepaid", "plan_id": 1, "credit_limit": "-1.00"}' \
  422 '.error.code == "validation"'
check "negative threshold" POST accounts '{"code": "B1", "name": "x", "type": "prepaid", "plan_id": 1, "low_balance_threshold": "-0.01"}' \
  422 '.error.code == "validation"'
check "bad amount" POST accounts '{"code": "B1", "name": "x", "type": "prepaid", "plan_id": 1, "credit_limit": "1,5"}' \
  422 '.error.code == "validation"'
check "unknown plan" POST accounts '{"code": "B1", "name": "x", "type": "prepaid", "plan_id": 99}' \
  422 '.error.message | test("plan")'
check "plan of another currency" POST accounts '{"code": "B1", "name": "x", "type": "prepaid", "plan_id": 2, "currency": "ARS"}' \
  422 '.error.message | test("USD")'
check "opening balance refused" POST accounts '{"code": "B1", "name": "x", "type": "prepaid", "plan_id": 1, "balance": "100.00"}' \
  400 '.error.message | test("recharges")'
check "missing name" POST accounts '{"code": "B1", "type": "prepaid", "plan_id": 1}' \
  400 '.error.code == "validation"'
check "code too long for the region" POST accounts "{\"code\": \"$(printf 'C%.0s' $(seq 1 40))\", \"name\": \"x\", \"type\": \"prepaid\", \"plan_id\": 1}" \
  422 '.error.code == "validation"'
for bad in '"a@b@c"' '"x y@z"' '"a@b,c@d"' '"<a@b>"' '"@b"' '"a@"' '""' '"a@b\r\nBcc: c@d"'; do
  check "notify_email $bad refused" POST accounts "{\"code\": \"B1\", \"name\": \"x\", \"type\": \"prepaid\", \"plan_id\": 1, \"notify_email\": $bad}" \
    422 '.error.message | test("notify_email")'
done
TOK=$tview
check "viewer cannot create" POST accounts '{"code": "B1", "name": "x", "type": "prepaid", "plan_id": 1}' \
  403 '.error.code == "forbidden"'
TOK=$top_
[ "$(sql "SELECT count(*) FROM accounts")" = 7 ] && ok "refused creations wrote nothing" ||
  fail "accounts: $(sql "SELECT count(*) FROM accounts") rows, expected 7"

# ---- list and pagination ----------------------------------------------------------
TOK=$tview
check "page 1" GET "accounts?limit=3" '' 200 \
  '(.accounts | length) == 3 and .next == .accounts[2].id and ([.accounts[].code] == ["A01","A02","A03"]) and (.accounts[0].live.available == "1.500000")'
n1=$(jq .next "$work/body")
check "page 2" GET "accounts?limit=3&after=$n1" '' 200 \
  '(.accounts | length) == 3 and ([.accounts[].code] == ["A04","A05","A06"]) and .next != null'
n2=$(jq .next "$work/body")
check "page 3" GET "accounts?limit=3&after=$n2" '' 200 \
  '(.accounts | length) == 1 and .accounts[0].code == "A07" and .next == null'
check "type=postpaid" GET "accounts?type=postpaid" '' 200 '[.accounts[].code] == ["A03","A06"]'
check "q=count 5 (name)" GET "accounts?q=count%205" '' 200 '[.accounts[].code] == ["A05"]'
check "q=a0 (code, any case)" GET "accounts?q=a0" '' 200 '(.accounts | length) == 7'
check "plan_id=2" GET "accounts?plan_id=2" '' 200 '.accounts == [] and .next == null'
check "bad limit" GET "accounts?limit=501" '' 400 '.error.code == "validation"'
check "bad status filter" GET "accounts?status=gone" '' 400 '.error.code == "validation"'
for q in "x'%20OR%20'1'%3D'1" "'%3B%20DROP%20TABLE%20accounts%3B%20--" "%25" "_"; do
  check "SQL in q= is text ($q)" GET "accounts?q=$q" '' 200 '.accounts == []'
done
[ "$(sql "SELECT count(*) FROM accounts")" = 7 ] && ok "accounts table intact" || fail "accounts table changed"
check "get one" GET "accounts/$id1" '' 200 \
  ".id == $id1 and .code == \"A01\" and .live.balance == \"0.000000\" and .extensions == [] and .low_balance_threshold == \"1.000000\" and .type == \"prepaid\" and .currency == \"ARS\""
TOK=$top_
check "notify_email set" PATCH "accounts/$id1" '{"notify_email": "saldo@cliente.test"}' 200 '.notify_email == "saldo@cliente.test"'
check "notify_email bad" PATCH "accounts/$id1" '{"notify_email": "a@b;c@d"}' 422 '.error.code == "validation"'
check "notify_email kept by another change" PATCH "accounts/$id1" '{"name": "Account 1"}' 200 '.notify_email == "saldo@cliente.test"'
check "notify_email cleared" PATCH "accounts/$id1" '{"notify_email": null}' 200 '.notify_email == null'
TOK=$tview
check "get unknown" GET "accounts/999999" '' 404 '.error.code == "not_found"'
check "get bad id" GET "accounts/abc" '' 404 '.error.code == "not_found"'

# ---- extensions ----------------------------------------------------------------------
TOK=$top_
check "create extension" POST extensions \
  "{\"number\": \"2001\", \"account_id\": $id1, \"user_name\": \"Ana\", \"department\": \"Sales\", \"monthly_limit\": \"50.00\"}" \
  201 ".number == \"2001\" and .account_id == $id1 and .active == true and .monthly_limit == \"50.000000\" and .has_pin == false and (has(\"pin_hash\") | not)"
ext1=$(jq .id "$work/body")
check "create extension +number" POST extensions "{\"number\": \"+5411000\", \"account_id\": $id1}" 201 '.number == "+5411000"'
check "duplicate number" POST extensions "{\"number\": \"2001\", \"account_id\": $id1}" 409 '.error.code == "conflict"'
check "unknown account" POST extensions '{"number": "2002", "account_id": 999999}' 422 '.error.code == "validation"'
check "bad number" POST extensions "{\"number\": \"20-01\", \"account_id\": $id1}" 422 '.error.code == "validation"'
check "number too long" POST extensions "{\"number\": \"$(printf '1%.0s' $(seq 1 32))\", \"account_id\": $id1}" 422 '.error.code == "validation"'
TOK=$tview
check "list extensions of A01" GET "extensions?account_id=$id1" '' 200 '[.extensions[].number] == ["2001","+5411000"]'
check "extensions q=sales" GET "extensions?q=sales" '' 200 '[.extensions[].number] == ["2001"]'
check "extensions limit=1" GET "extensions?limit=1" '' 200 '(.extensions | length) == 1 and .next != null'
check "account with its extensions" GET "accounts/$id1" '' 200 '(.extensions | length) == 2'

# ---- the region follows the changes --------------------------------------------------
AUTH="authorize?caller=2001&callee=541143210000"
check "authorize before: credit limit 1.5 pays 1 s" GET "$AUTH" '' 200 '.can_call == true and .max_seconds == 1'
TOK=$top_
check "block A01" PATCH "accounts/$id1" '{"status": "blocked"}' 200 '.status == "blocked"'
TOK=$tview
check "authorize after the block" GET "$AUTH" '' 200 '.can_call == false and .reason == "blocked"'
TOK=$top_
check "PATCH balance refused" PATCH "accounts/$id1" '{"balance": "1000.00", "status": "active"}' \
  400 '.error.message == "balance cannot be set: balances change only through recharges and adjustments"'
check "nothing changed" GET "accounts/$id1" '' 200 '.status == "blocked" and .balance == "0.000000" and .live.balance == "0.000000"'
check "PATCH unknown field" PATCH "accounts/$id1" '{"colour": "red"}' 400 '.error.code == "validation"'
check "PATCH unknown plan" PATCH "accounts/$id1" '{"plan_id": 77}' 422 '.error.code == "validation"'
check "PATCH bad status" PATCH "accounts/$id1" '{"status": "gone"}' 422 '.error.code == "validation"'
check "PATCH unknown account" PATCH "accounts/999999" '{"status": "active"}' 404 '.error.code == "not_found"'
check "unblock, credit 120.00" PATCH "accounts/$id1" '{"status": "active", "credit_limit": "120.00", "low_balance_threshold": null}' \
  200 '.status == "active" and .credit_limit == "120.000000" and .low_balance_threshold == null and .live.available == "120.000000"'
TOK=$tview
check "authorize: 120 s on the new limit" GET "$AUTH" '' 200 '.can_call == true and .max_seconds == 120'
TOK=$top_
check "deactivate 2001" PATCH "extensions/$ext1" '{"active": false}' 200 '.active == false'
TOK=$tview
check "authorize: inactive extension" GET "$AUTH" '' 200 '.can_call == false and .reason == "inactive_extension"'
TOK=$top_
check "reactivate 2001" PATCH "extensions/$ext1" '{"active": true, "department": null}' 200 '.active == true and .department == null'
id7=$(sql "SELECT id FROM accounts WHERE code = 'A07'")
check "DELETE closes A07" DELETE "accounts/$id7" '' 200 '.status == "closed"'
[ "$(sql "SELECT count(*) FROM accounts WHERE id = $id7")" = 1 ] && ok "A07 row kept" || fail "A07 deleted"
check "move 2001 to A07 (closed)" PATCH "extensions/$ext1" "{\"account_id\": $id7}" 200 ".account_id == $id7"
TOK=$tview
check "authorize: closed" GET "$AUTH" '' 200 '.can_call == false and .reason == "closed"'

# ---- PIN -----------------------------------------------------------------------------
TOK=$top_
PIN=918273
check "set PIN" PUT "extensions/$ext1/pin" "{\"pin\": \"$PIN\"}" 200 '.has_pin == true and (has("pin") | not)'
check "verify right PIN" POST "extensions/$ext1/pin/verify" "{\"pin\": \"$PIN\"}" 200 '.valid == true'
check "verify wrong PIN" POST "extensions/$ext1/pin/verify" '{"pin": "000000"}' 200 '.valid == false'
check "PIN too short" PUT "extensions/$ext1/pin" '{"pin": "123"}' 422 '.error.code == "validation"'
check "PIN not digits" PUT "extensions/$ext1/pin" '{"pin": "12a4"}' 422 '.error.code == "validation"'
check "PIN as a number" PUT "extensions/$ext1/pin" '{"pin": 1234}' 400 '.error.code == "validation"'
check "PIN of unknown extension" PUT "extensions/999999/pin" '{"pin": "1234"}' 404 '.error.code == "not_found"'
check "never returned" GET "extensions/$ext1" '' 200 '.has_pin == true and (tostring | test("argon") | not)'
# wrong PINs: 5 are checked, then 429 for 15 min, even for the right one;
# a right PIN clears the count, a new PIN lifts the lock
check "right PIN clears the count" POST "extensions/$ext1/pin/verify" "{\"pin\": \"$PIN\"}" 200 '.valid == true'
[ "$(sql "SELECT count(*) FROM pin_attempts WHERE extension_id = $ext1")" = 0 ] &&
  ok "no attempts row after a right PIN" || fail "pin_attempts not cleared"
for i in 1 2 3 4 5; do
  check "wrong PIN $i of 5" POST "extensions/$ext1/pin/verify" '{"pin": "1111"}' 200 '.valid == false'
done
retry=$(curl -s -o "$work/body" -D - -X POST -H "Authorization: Bearer $TOK" \
  -H 'Content-Type: application/json' --data-binary "{\"pin\": \"$PIN\"}" \
  "$base/api/v1/extensions/$ext1/pin/verify" | tr -d '\r' | awk -F': ' 'tolower($1) == "retry-after" {print $2}')
code=$(jq -r .error.code "$work/body")
[ "$code" = locked ] && [ -n "$retry" ] && [ "$retry" -gt 850 ] && [ "$retry" -le 900 ] &&
  ok "the right PIN after 5 wrong ones: 429 locked, Retry-After $retry" ||
  fail "lockout: code $code, Retry-After '$retry': $(cat "$work/body")"
[ "$(sql "SELECT count(*) FROM audit_log WHERE action = 'extension_pin_locked' AND object = 'extension:$ext1'")" = 1 ] &&
  ok "the lock is audited once" || fail "extension_pin_locked audit rows"
check "a new PIN lifts the lock" PUT "extensions/$ext1/pin" "{\"pin\": \"$PIN\"}" 200 '.has_pin == true'
check "verify after the new PIN" POST "extensions/$ext1/pin/verify" "{\"pin\": \"$PIN\"}" 200 '.valid == true'
# 12 concurrent wrong guesses: exactly 5 are checked, 7 refused unchecked
pins=()
for i in $(seq 1 12); do
  curl -s -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: Bearer $TOK" \
    -H 'Content-Type: application/json' --data-binary '{"pin": "2222"}' \
    "$base/api/v1/extensions/$ext1/pin/verify" >"$work/pin.$i" &
  pins+=($!)
done
wait "${pins[@]}"
got="$(cat "$work"/pin.* | grep -c 200) $(cat "$work"/pin.* | grep -c 429)"
[ "$got" = "5 7" ] && ok "12 concurrent wrong PINs: 5 checked, 7 refused" ||
  fail "12 concurrent wrong PINs: 200s and 429s = $got"
TOK=$tview
check "viewer cannot verify" POST "extensions/$ext1/pin/verify" "{\"pin\": \"$PIN\"}" 403 '.error.code == "forbidden"'
h=$(sql "SELECT pin_hash FROM extensions WHERE id = $ext1")
[[ $h == '$argon2id$'* ]] && ok "PIN stored as argon2id" || fail "pin_hash: $h"

# ---- audit ---------------------------------------------------------------------------
a=$(sql "SELECT count(*) FROM audit_log WHERE actor = 'oper' AND action = 'account_create'")
[ "$a" = 7 ] && ok "7 account_create rows by oper" || fail "account_create rows: $a"
a=$(sql "SELECT count(*) FROM audit_log WHERE actor = 'oper' AND action = 'account_update'
         AND object = 'account:$id1' AND details->'before'->>'status' = 'active'
         AND details->'after'->>'status' = 'blocked'")
[ "$a" = 1 ] && ok "account_update with before/after" || fail "account_update audit rows: $a"
for act in account_close extension_create extension_update extension_pin_set; do
  a=$(sql "SELECT count(*) FROM audit_log WHERE actor = 'oper' AND action = '$act'")
  [ "$a" -ge 1 ] && ok "audited: $act ($a)" || fail "no $act in audit_log"
done
grep -q "$PIN" "$work/apolod.log" && fail "the PIN is in the log"
[ "$(sql "SELECT count(*) FROM audit_log WHERE details::text LIKE '%$PIN%' OR details::text LIKE '%argon%'")" = 0 ] &&
  ok "no PIN nor hash in audit_log" || fail "PIN or its hash in audit_log"

t_stop; rc=$?
[ $rc -eq 0 ] || fail "apolod exited $rc"
if grep -q 'ERROR' "$work/apolod.log"; then
  fail "errors in the log:"; grep 'ERROR' "$work/apolod.log" | head -5
fi
t_done
