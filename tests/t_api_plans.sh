#!/usr/bin/env bash
# t_api_plans.sh -- accounts and extensions of the HTTP API
# (admin/api_accounts.c, admin/reload.c) on a real apolod with a fresh
# database, through an operator's and a viewer's bearer tokens:
#
#   - plans and zones: create, patch, validation errors (400/409/422),
#     a time zone the region refuses (422, nothing saved), roles
#   - deck import: 5 bad rows among 100 -> 422 listing exactly those lines,
#     nothing changed; dry run changes nothing; a clean deck -> 201 and
#     quote uses it; export then re-import into another plan: same rates;
#     100k rows (time printed); SQL in a zone name is only text
#   - time-of-day periods: create (a window across midnight split in two),
#     overlap 422, roles; a deck naming periods, quotes at night and at
#     noon, (prefix, period) twice and an unknown period 422, the export's
#     period column re-imports unchanged, delete refused while used
#
# KEEP=1 keeps the temp folder.
. "$(dirname "$0")/lib.sh"
t_init api_plans
# admin.threads: apolod's default (8), not t_conf's 4
t_conf <<EOC
journal.rings = 4
region.heap_mb = 64
admin.threads = 8
esl.max_call_sec = 3600
EOC

t_migrate
# Plan 1 (ARS) with one rate; plan 2 in USD. No account yet: all through
# the API.
sql "
INSERT INTO rate_plans (id, name, currency) VALUES (1, 'ARS plan', 'ARS');
INSERT INTO zones (id, code, name) VALUES (1, 'AR', 'Argentina'),
  (2, 'AR-MOB', 'Argentina mobile');
SELECT setval(pg_get_serial_sequence('zones', 'id'), 2);
SELECT setval(pg_get_serial_sequence('rate_plans', 'id'), 1);" >/dev/null ||
  { fail "seeding the database"; exit 1; }
pw_adm='admin-secret-1'; pw_view='viewer-secret-1'
t_user adm admin "$pw_adm"
t_user view viewer "$pw_view"

t_start
# login USER PASSWORD: the token (a body without Content-Type; lib.sh's
# login sends one, and req below is this test's own)
login() {
  curl -s -X POST -d "{\"username\": \"$1\", \"password\": \"$2\"}" \
    "$base/api/v1/login" | jq -r '.token // empty'
}
tadm=$(login adm "$pw_adm"); tview=$(login view "$pw_view")
[ -n "$tadm" ] && [ -n "$tview" ] && ok "admin and viewer logged in" ||
  { fail "login"; tail -20 "$work/apolod.log"; exit 1; }
TOK=$tadm

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
# deck PLAN FILE [QUERY]: POST a CSV; status in $code, body in $work/body
deck() {
  code=$(curl -s -o "$work/body" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $TOK" -H 'Content-Type: text/csv' -H 'Expect:' \
    --data-binary "@$2" "$base/api/v1/plans/$1/deck${3:+?$3}")
}

# ---- plans ------------------------------------------------------------------------
check "create plan" POST plans '{"name": "Retail", "currency": "ARS", "time_zone": "America/Argentina/Buenos_Aires", "rounding": "half_up", "number_rules": "00=>"}' \
  201 '.name == "Retail" and .rounding == "half_up" and .periods == [] and .deck_versions == []'
p2=$(jq -r .id "$work/body")
check "duplicate plan name" POST plans '{"name": "Retail", "currency": "ARS"}' 409 '.error.code == "conflict"'
check "bad currency" POST plans '{"name": "X1", "currency": "ars"}' 422 '.error.code == "validation"'
check "bad rounding" POST plans '{"name": "X1", "currency": "ARS", "rounding": "nearest"}' 422
check "unknown field" POST plans '{"name": "X1", "currency": "ARS", "balance": "1"}' 400
check "name as a number" POST plans '{"name": 5, "currency": "ARS"}' 400
check "bad number rules" POST plans '{"name": "X1", "currency": "ARS", "number_rules": "a=>b"}' 422
check "unknown time zone" POST plans '{"name": "X1", "currency": "ARS", "time_zone": "Mars/Olympus"}' 422
[ "$(sql "SELECT count(*) FROM rate_plans WHERE name = 'X1'")" = 0 ] &&
  ok "refused plans left nothing" || fail "a refused plan was saved"
check "patch plan" PATCH "plans/$p2" '{"rounding": "up", "name": "Retail 2"}' 200 '.rounding == "up" and .name == "Retail 2"'
check "patch currency refused" PATCH "plans/$p2" '{"currency": "USD"}' 400
check "patch unknown plan" PATCH "plans/999" '{"name": "z"}' 404
check "list plans" GET plans '' 200 '(.plans | length) == 2'
TOK=$tview
check "viewer may list" GET plans '' 200
check "viewer may not create" POST plans '{"name": "V", "currency": "ARS"}' 403
TOK=$tadm

# ---- zones -------------------------------------------------------------------------
check "create zone" POST zones '{"code": "BR", "name": "Brazil"}' 201 '.code == "BR" and .parent_id == null'
zbr=$(jq -r .id "$work/body")
check "child zone" POST zones "{\"code\": \"BR-MOB\", \"name\": \"Brazil mobile\", \"parent_id\": $zbr}" 201 ".parent_id == $zbr"
zbm=$(jq -r .id "$work/body")
check "duplicate zone code" POST zones '{"code": "BR", "name": "x"}' 409
check "unknown parent" POST zones '{"code": "Q1", "name": "x", "parent_id": 999}' 422
check "cycle refused" PATCH "zones/$zbr" "{\"parent_id\": $zbm}" 422
check "zone name too long" POST zones "{\"code\": \"Q2\", \"name\": \"$(printf 'n%.0s' $(seq 1 60))\"}" 422
check "patch zone" PATCH "zones/$zbm" '{"name": "Brasil movil"}' 200 '.name == "Brasil movil"'
check "zones tree" GET zones '' 200 "[.zones[] | select(.parent_id == $zbr)] | length == 1"
check "zones in tree order, depth and path" GET 'zones?tree=1' '' 200 \
  '[.zones[] | .code] == ["AR", "AR-MOB", "BR", "BR-MOB"] and .zones[3].depth == 1 and .zones[3].path == "Brazil > Brasil movil" and .zones[0].depth == 0'


# ---- deck: 5 bad rows among 100 ------------------------------------------------------
{
  echo "prefix,destination,rate_per_minute,connection_fee,increment"
  for i in $(seq 1 100); do
    ln=$((i + 1))
    case $ln in
      12) echo "54a11,AR,0.5,0,60/6" ;;
      30) echo "5430,AR,-0.25,0,60/6" ;;
      47) echo "5447,AR,\"1,5\",0,60/6" ;;
      63) echo "5463,,0.5,0,60/6" ;;
      88) echo "5411,AR,0.7,0,60/6" ;;           # duplicate of line 11
      *)  echo "54$ln,AR,0.$ln,0,60/6" ;;
    esac
  done
} >"$work/bad.csv"
nr0=$(sql "SELECT count(*) FROM rates"); nv0=$(sql "SELECT count(*) FROM deck_versions")
deck 1 "$work/bad.csv"
lines=$(jq -c '[.error.rows[].line]' "$work/body" 2>/dev/null)
[ "$code" = 422 ] && [ "$lines" = "[12,30,47,63,88]" ] &&
  ok "5 bad rows -> 422 lines $lines ($(jq -r .error.message "$work/body"))" ||
  fail "bad deck: $code $lines $(head -c 600 "$work/body")"
[ "$(sql "SELECT count(*) FROM rates")" = "$nr0" ] &&
[ "$(sql "SELECT count(*) FROM deck_versions")" = "$nv0" ] &&
  ok "bad deck changed nothing" || fail "bad deck changed the tables"

# ---- a clean deck ---------------------------------------------------------------------
{
  echo "Prefix,Zone,Rate,Connection_Fee,First_Increment,Next_Increment"
  echo "54,AR,0.0125,0,1,1"
  echo "549,AR-MOB,0.123456,0.05,30,6"
  for i in $(seq 100 197); do echo "5411$i,AR,0.0$((i % 9 + 1)),0,60,60"; done
} >"$work/clean.csv"
deck 1 "$work/clean.csv" "dry_run=1"
[ "$code" = 200 ] && jq -e '.dry_run and .new == 100 and .rows == 100' "$work/body" >/dev/null &&
[ "$(sql "SELECT count(*) FROM rates")" = "$nr0" ] &&
  ok "dry run: $(jq -c '{new,changed,closed}' "$work/body"), nothing written" ||
  fail "dry run: $code $(head -c 300 "$work/body")"
deck 1 "$work/clean.csv"
[ "$code" = 201 ] && jq -e '.deck_version == 1 and .rows == 100 and .new == 100 and (has("warning") | not)' "$work/body" >/dev/null &&
  ok "clean deck 201: $(jq -c . "$work/body")" || fail "clean deck: $code $(head -c 400 "$work/body")"
check "quote uses the new deck" GET "quote?number=5491155550000&seconds=60&plan=1" '' 200 \
  '.deck_version == 1 and .prefix == "549"'
[ "$(sql "SELECT rate_per_minute || '/' || connection_fee FROM rates WHERE plan_id = 1 AND prefix = '549'")" = "123456/50000" ] &&
  ok "amounts stored exactly" || fail "amounts stored wrong"
check "rates page" GET "plans/1/rates?prefix=5411&limit=10" '' 200 '(.rates | length) == 10 and .next != null'
nx=$(jq -r .next "$work/body")
check "rates next page" GET "plans/1/rates?prefix=5411&limit=10&after=$nx" '' 200 ".rates[0].prefix > \"$nx\""
check "plan with decks" GET plans/1 '' 200 '.deck_versions[0].version == 1 and .deck_version == 1'

# a changed rate
printf 'prefix,zone,rate\n549,AR-MOB,0.2\n' >"$work/change.csv"
deck 1 "$work/change.csv" "dry_run=1"
jq -e '.changed == 1 and .new == 0' "$work/body" >/dev/null && ok "dry run sees 1 changed" ||
  fail "dry run change: $(head -c 300 "$work/body")"
deck 1 "$work/change.csv"
[ "$code" = 201 ] && ok "change imported" || fail "change: $code $(head -c 300 "$work/body")"
check "quote: the changed rate" GET "quote?number=5491155550000&seconds=60&plan=1" '' 200 \
  '.deck_version == 2 and (.. | objects | select(has("rate_per_minute")) | .rate_per_minute) == "0.200000"'

# ---- export, re-import -----------------------------------------------------------------
code=$(curl -s -D "$work/hdr" -o "$work/export.csv" -w '%{http_code}' -H "Authorization: Bearer $tview" \
  "$base/api/v1/plans/1/deck.csv")
[ "$code" = 200 ] && grep -qi 'transfer-encoding: chunked' "$work/hdr" &&
[ "$(wc -l <"$work/export.csv")" = 101 ] && ok "export: 100 rates, chunked" ||
  fail "export: $code $(wc -l <"$work/export.csv") lines"
deck "$p2" "$work/export.csv"
[ "$code" = 201 ] && ok "export re-imported into plan $p2" || fail "re-import: $code $(head -c 300 "$work/body")"
cmpq="SELECT prefix, zone_id, rate_per_minute, connection_fee, first_increment, next_increment, effective_from, effective_to FROM rates WHERE plan_id = %s AND effective_from <= now() AND (effective_to IS NULL OR effective_to > now()) ORDER BY prefix"
a=$(sql "$(printf "$cmpq" 1)"); b=$(sql "$(printf "$cmpq" "$p2")")
[ -n "$a" ] && [ "$a" = "$b" ] && ok "re-imported rates are the same" || fail "re-import differs"
deck 1 "$work/export.csv" "dry_run=1"
jq -e '.unchanged == 100 and .new == 0 and .changed == 0' "$work/body" >/dev/null &&
  ok "export into its own plan: all unchanged" || fail "self re-import: $(head -c 300 "$work/body")"

# ---- zones in decks, injection ------------------------------------------------------------
printf 'prefix,zone,rate\n55,Nowhere,0.1\n' >"$work/unk.csv"
deck 1 "$work/unk.csv"
[ "$code" = 422 ] && jq -e '.error.rows[0].line == 2' "$work/body" >/dev/null &&
  ok "unknown zone refused" || fail "unknown zone: $code $(head -c 300 "$work/body")"
evil="x'); DROP TABLE rates; --"
printf 'prefix,zone,rate\n56,"%s",0.1\n' "$evil" >"$work/evil.csv"
deck 1 "$work/evil.csv" "create_zones=1"
[ "$code" = 201 ] && [ "$(sql "SELECT count(*) FROM zones WHERE code = \$\$$evil\$\$")" = 1 ] &&
[ "$(sql "SELECT count(*) FROM rates WHERE plan_id = 1 AND prefix = '56'")" = 1 ] &&
  ok "an injection in a zone name is only text" || fail "injection: $code $(head -c 300 "$work/body")"
TOK=$tview
deck 1 "$work/clean.csv"
[ "$code" = 403 ] && ok "viewer may not import" || fail "viewer import: $code"
TOK=$tadm

# ---- time-of-day periods (api_periods.c) and decks that name them ------------------------
check "create period night (crosses midnight)" POST periods \
  '{"plan_id": 1, "name": "night", "windows": [{"days": "all", "start": "22:00", "end": "07:00"}]}' \
  201 '.name == "night" and (.windows | map([.wday_mask, .start_min, .end_min])) == [[127,0,420],[127,1320,1440]]'
night=$(jq -r .id "$work/body")
check "a window overlapping night: 422" POST periods \
  '{"plan_id": 1, "name": "late", "windows": [{"days": "mon", "start": "23:00", "end": "23:30"}]}' 422 '.error.code == "validation"'
check "bad days: 422" POST periods '{"plan_id": 1, "name": "x", "windows": [{"days": "funday", "start": "08:00", "end": "09:00"}]}' 422
check "bad time: 422" POST periods '{"plan_id": 1, "name": "x", "windows": [{"days": "mon", "start": "08:00", "end": "25:00"}]}' 422
check "name taken: 409" POST periods '{"plan_id": 1, "name": "night", "windows": [{"days": "sun", "start": "12:00", "end": "13:00"}]}' 409
check "weekday lunch (mon-fri)" POST periods '{"plan_id": 1, "name": "lunch", "windows": [{"days": "mon-fri", "start": "12:00", "end": "14:00"}]}' \
  201 '.windows == [{"wday_mask": 62, "start_min": 720, "end_min": 840}]'
lunch=$(jq -r .id "$work/body")
check "periods of plan 1" GET "periods?plan_id=1" '' 200 '[.periods[].name] == ["lunch", "night"]'
TOK=$tview
check "viewer may not create a period" POST periods '{"plan_id": 1, "name": "v", "windows": [{"days": "sun", "start": "01:00", "end": "02:00"}]}' 403
TOK=$tadm
printf 'prefix,zone,rate,period\n5493,AR-MOB,0.30,\n5493,AR-MOB,0.05,night\n' >"$work/per.csv"
deck 1 "$work/per.csv"
[ "$code" = 201 ] && jq -e '.new == 2' "$work/body" >/dev/null && ok "a deck with a period column: 2 new rates" ||
  fail "period deck: $code $(head -c 300 "$work/body")"
expect "5493: one rate outside periods, one at night" "|0.300000 $night|0.050000" \
  "$(sql "SELECT string_agg(coalesce(period_id::text, '') || '|' || (rate_per_minute / 1e6)::numeric(12,6), ' ' ORDER BY period_id NULLS FIRST) FROM rates WHERE plan_id = 1 AND prefix = '5493' AND effective_to IS NULL")"
noon=$(sql "SELECT extract(epoch FROM date_trunc('day', now()) + interval '1 day 12 hours')::bigint")
late=$(sql "SELECT extract(epoch FROM date_trunc('day', now()) + interval '1 day 23 hours')::bigint")
check "quote at 23:00 (UTC plan): the night rate" GET "quote?number=5493000&seconds=60&plan=1&at=$late" '' 200 \
  '.tariff.rate_per_minute == "0.050000" and .cost == "0.050000"'
check "quote at 12:00: the rate outside periods" GET "quote?number=5493000&seconds=60&plan=1&at=$noon" '' 200 \
  '.tariff.rate_per_minute == "0.300000"'
printf 'prefix,zone,rate,period\n5494,AR-MOB,0.1,night\n5494,AR-MOB,0.2,night\n5495,AR-MOB,0.1,noon\n' >"$work/perbad.csv"
deck 1 "$work/perbad.csv"
[ "$code" = 422 ] && jq -e '[.error.rows[].line] == [3, 4] and (.error.rows[0].error | test("period night")) and (.error.rows[1].error | test("noon"))' "$work/body" >/dev/null &&
  ok "(prefix, period) twice and an unknown period: the two lines, nothing imported" ||
  fail "bad period deck: $code $(head -c 400 "$work/body")"
curl -s -o "$work/export2.csv" -H "Authorization: Bearer $tview" "$base/api/v1/plans/1/deck.csv"
head -1 "$work/export2.csv" | grep -q ',period$' && grep -q '^5493,AR-MOB,0\.050000,.*,night$' "$work/export2.csv" &&
  ok "the export writes the period column" || fail "export with periods: $(grep 5493 "$work/export2.csv")"
deck 1 "$work/export2.csv" "dry_run=1"
jq -e '.new == 0 and .changed == 0 and .unchanged > 100' "$work/body" >/dev/null &&
  ok "the export with periods re-imports unchanged" || fail "period re-import: $(head -c 300 "$work/body")"
check "a period rates use cannot go: 409" DELETE "periods/$night" '' 409 '.error.code == "conflict"'
check "new windows for lunch" PUT "periods/$lunch" '{"windows": [{"days": ["mon", "wed"], "start": "13:00", "end": "15:00"}]}' \
  200 '.windows == [{"wday_mask": 10, "start_min": 780, "end_min": 900}]'
check "an unused period goes" DELETE "periods/$lunch" '' 204
check "... and is gone" GET "periods?plan_id=1" '' 200 '[.periods[].name] == ["night"]'
[ "$(sql "SELECT count(*) FROM audit_log WHERE action LIKE 'period_%'")" = 4 ] &&
  ok "period changes audited" || fail "period audit rows: $(sql "SELECT count(*) FROM audit_log WHERE action LIKE 'period_%'")"

# ---- 100k rows -----------------------------------------------------------------------------
awk 'BEGIN { print "prefix,zone,rate_per_minute,increment";
  for (i = 0; i < 100000; i++) printf "7%07d,AR,0.%06d,60/6\n", i, i % 999983 }' >"$work/big.csv"
t0=$(date +%s.%N)
deck 1 "$work/big.csv"
t1=$(date +%s.%N)
[ "$code" = 201 ] && jq -e '.new == 100000' "$work/body" >/dev/null &&
  ok "100k-row deck imported in $(echo "$t1 - $t0" | bc) s ($(jq -c '{seconds_parse,seconds_copy,seconds_reload}' "$work/body"))" ||
  fail "100k deck: $code $(head -c 300 "$work/body")"
check "quote in the big deck" GET "quote?number=70012345&seconds=60&plan=1" '' 200 '.prefix == "70012345"'

[ "$(sql "SELECT count(*) FROM audit_log WHERE action = 'deck.import'")" -ge 4 ] &&
  ok "imports audited" || fail "imports not audited"
if grep -q 'ERROR.*api_plans\|AddressSanitizer' "$work/apolod.log"; then fail "errors in the log"; fi
t_stop   # SIGTERM, its exit status not checked (t_cleanup would kill -9)
t_done
