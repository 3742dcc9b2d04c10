#!/usr/bin/env bash
# t_api_bulk.sh -- bulk recharges from CSV and XLSX files
# (admin/api_bulk.c) over real HTTP, with apolod and the private
# PostgreSQL of tests/run.sh:
#
#   - CSV (',' and ';' with decimal commas, BOM, CRLF, quotes, blank lines,
#     numeric ids) and XLSX (openpyxl files of tests/fixtures/xlsx; numeric
#     cells rounded half-up) uploads; replay with the same key (200,
#     Idempotent-Replayed), the key with another file 422
#   - dry run changes nothing; one bad row: mode=all 422 and nothing moved
#     (live balances, ledger, batches), mode=valid the rest applied and the
#     bad row reported with its line
#   - refusals: unknown account, negative, zero, 7 decimals, overflow,
#     empty file, no header, garbage bytes, a fake and a broken XLSX, no
#     key, too large; viewer 403, no session 401; GET list and one batch
#   - 8 concurrent identical uploads: one batch, one credit per row
#   - crashes (APOLO_TEST_CRASH_BULK=after_row:N, APOLO_TEST_CRASH_MONEY=
#     after_claim|after_move): the batch is rolled forward by the retry, or
#     at the restart by the admin process itself, also after the
#     housekeeping deleted its rows' done keys; each row credited exactly
#     once; a row whose account was closed meanwhile is "failed", the batch
#     "partial"
#   - after the stop, in PostgreSQL: one ledger row per applied row,
#     opening + sum(ledger) = balance for every account, = live balance
#
# KEEP=1 keeps the temp folder.
. "$(dirname "$0")/lib.sh"
t_init bulk
t_conf <<EOF
admin.max_body_kb = 64
EOF
t_migrate
sql "
INSERT INTO rate_plans (id, name, currency, time_zone, rounding, number_rules)
  VALUES (1, 'Bulk test', 'ARS', 'America/Argentina/Buenos_Aires', 'up', '');
INSERT INTO accounts (id, code, name, type, status, balance, credit_limit,
                      currency, plan_id)
  VALUES (1, 'B1', 'One', 'prepaid', 'active', 1000000, 0, 'ARS', 1),
         (2, 'B2', 'Two', 'postpaid', 'active', -2000000, 100000000, 'ARS', 1),
         (3, 'B3', 'Closed', 'prepaid', 'closed', 0, 0, 'ARS', 1),
         (4, 'B4', 'Four', 'prepaid', 'blocked', 0, 0, 'ARS', 1),
         (5, '77', 'Code like an id', 'prepaid', 'active', 0, 0, 'ARS', 1);
CREATE TABLE t_opening AS SELECT id, balance FROM accounts;" ||
  { fail "seeding the database"; exit 1; }
t_user operator operator 'operator-secret-Pw2'
t_user viewer viewer 'viewer-secret-Pw3'
fx=$top/tests/fixtures/xlsx
XLSX=application/vnd.openxmlformats-officedocument.spreadsheetml.sheet

auth() {
  tok=$(login operator 'operator-secret-Pw2')
  vtok=$(login viewer 'viewer-secret-Pw3')
  [ -n "$tok" ] && [ -n "$vtok" ] || { fail "login"; exit 1; }
  A=(-H "Authorization: Bearer $tok")
}
# post KEY QUERY FILE [CONTENT-TYPE]: KEY "" sends none
post() {
  local key=$1 q=$2 f=$3 ct=${4:-text/csv} h=()
  [ -n "$key" ] && h=(-H "Idempotency-Key: $key")
  req POST "/api/v1/recharges/bulk?$q" "${A[@]}" "${h[@]}" \
    -H "Content-Type: $ct" --data-binary "@$f"
}
# file NAME: writes stdin (printf escapes interpreted) to $work/NAME
file() { local t; t=$(cat); printf "$t" >"$work/$1"; echo "$work/$1"; }
balances() { echo "$(live 1) $(live 2) $(live 5)"; }
nbatches() { sql "SELECT count(*) FROM bulk_batches"; }
row() { jbody ".rows[$1].$2"; }        # row INDEX FIELD of the last body

t_start
auth

# ---- a CSV, applied ------------------------------------------------------------
ok_csv=$(file ok.csv <<'EOF'
\xef\xbb\xbfAccount,Amount,Reason\r\n\r\nB1,10.50,"cash, at the desk"\r\n2,"0.000001",\r\n77,3,"code 77 is account 5, not id 77"\r\n
EOF
)
b0=($(balances))
s=$(post k-csv-1 mode=all "$ok_csv")
expect "CSV upload, mode=all" 201 "$s"
[ "$(jbody .batch.state)" = done ] && [ "$(jbody .batch.format)" = csv ] &&
  [ "$(jbody .batch.rows_applied)" = 3 ] && [ "$(jbody .batch.total_amount)" = 13.500001 ] &&
  [ "$(jbody .batch.key)" = k-csv-1 ] && [ -n "$(jbody .batch.id)" ] &&
  [ -n "$(jbody .batch.created_at)" ] &&
  ok "batch: done, 3 applied, total 13.500001" || fail "batch: $(body)"
[ "$(row 0 line)" = 3 ] && [ "$(row 0 status)" = applied ] && [ "$(row 0 account_id)" = 1 ] &&
  [ "$(row 0 reason)" = "cash, at the desk" ] && [ "$(row 0 balance_after)" = 11.500000 ] &&
  [ "$(row 1 line)" = 4 ] && [ "$(row 1 amount)" = 0.000001 ] && [ "$(row 1 account_id)" = 2 ] &&
  [ "$(row 2 account_id)" = 5 ] && [ "$(jq '.rows[0] | has("error")' "$work/body")" = false ] &&
  ok "rows: file lines (BOM, CRLF, blank line), quoted reason, id and code" || fail "rows: $(body)"
first_id=$(jbody .batch.id)
b1=($(balances))
[ "${b1[0]}" = $((b0[0] + 10500000)) ] && [ "${b1[1]}" = $((b0[1] + 1)) ] && [ "${b1[2]}" = $((b0[2] + 3000000)) ] &&
  ok "live balances moved once" || fail "live balances ${b1[*]}, were ${b0[*]}"

s=$(post k-csv-1 mode=all "$ok_csv")
expect "same key, same file" 200 "$s"
grep -qi '^Idempotent-Replayed: true' "$work/hdr" && ok "Idempotent-Replayed: true" || fail "no Idempotent-Replayed header"
[ "$(jbody .batch.id)" = "$first_id" ] && [ "$(row 0 status)" = applied ] || fail "replayed body: $(body)"
[ "$(balances)" = "${b1[*]}" ] && ok "replay: nothing moved" || fail "replay moved money: $(balances)"
other=$(file other.csv <<'EOF'
account,amount\nB1,1\n
EOF
)
s=$(post k-csv-1 mode=all "$other")
expect "same key, another file" 422 "$s"
grep -q reused "$work/body" || fail "422 body: $(body)"
s=$(post k-csv-1 mode=valid "$ok_csv")
expect "same key, same file, another mode" 422 "$s"

# ---- concurrent duplicates: one batch, one credit per row ------------------------
conc=$(file conc.csv <<'EOF'
account,amount\nB1,0.5\nB4,0.25\n
EOF
)
pids=()
for i in $(seq 1 8); do
  curl -s -o /dev/null -w '%{http_code}\n' -X POST "${A[@]}" -H 'Idempotency-Key: k-conc' \
    --data-binary "@$conc" "$base/api/v1/recharges/bulk?mode=all" >"$work/code.$i" &
  pids+=($!)
done
wait "${pids[@]}"
cat "$work"/code.* >"$work/codes"
c201=$(grep -c '^201$' "$work/codes"); c200=$(grep -c '^200$' "$work/codes"); c409=$(grep -c '^409$' "$work/codes")
[ "$c201" = 1 ] && [ $((c201 + c200 + c409)) = 8 ] &&
  ok "8 concurrent with one key: 1 created, $c200 replayed, $c409 in progress" ||
  fail "8 concurrent with one key: $(sort "$work/codes" | uniq -c | tr '\n' ' ')"
[ "$(live 1)" = $((b1[0] + 500000)) ] && [ "$(live 4)" = 250000 ] &&
  ok "one credit per row; a blocked account may be recharged" || fail "concurrent: $(live 1) $(live 4)"
b1=($(balances))

# ---- dry run ---------------------------------------------------------------------
n0=$(nbatches)
s=$(post "" "mode=all&dry_run=true" "$ok_csv")
expect "dry run without a key" 200 "$s"
[ "$(jbody .batch.state)" = preview ] && [ "$(jq .batch.id "$work/body")" = null ] &&
  [ "$(row 0 status)" = valid ] && [ "$(jbody .batch.rows_valid)" = 3 ] &&
  ok "preview: id null, rows valid" || fail "preview: $(body)"
[ "$(balances)" = "${b1[*]}" ] && [ "$(nbatches)" = "$n0" ] &&
  ok "dry run: nothing moved, nothing stored" || fail "dry run changed something"

# ---- one bad row: all or nothing, or the valid ones ------------------------------
bad=$(file bad.csv <<'EOF'
account,amount,reason\nB1,1.00,ok\nB2,2.00,ok\nNOPE,3.00,unknown\nB1,-4,negative\n
EOF
)
s=$(post k-bad-all mode=all "$bad")
expect "one bad row, mode=all" 422 "$s"
[ "$(jbody .batch.state)" = rejected ] && [ "$(jbody .batch.rows_invalid)" = 2 ] &&
  [ "$(row 2 line)" = 4 ] && [ "$(row 2 status)" = invalid ] &&
  [ "$(row 2 error)" = "account: no account with this code or id" ] &&
  [ "$(row 3 error)" = "amount: must be > 0" ] && [ "$(row 0 status)" = skipped ] &&
  ok "rejected: the bad rows with their lines and errors, the others skipped" || fail "rejected: $(body)"
[ "$(balances)" = "${b1[*]}" ] && [ "$(nbatches)" = "$n0" ] &&
  ok "mode=all: nothing moved, nothing stored" || fail "mode=all moved something: $(balances)"
s=$(post k-bad-all mode=valid "$bad")
expect "the refused key is free: mode=valid" 201 "$s"
[ "$(jbody .batch.state)" = done ] && [ "$(jbody .batch.rows_applied)" = 2 ] &&
  [ "$(jbody .batch.rows_invalid)" = 2 ] && [ "$(row 2 status)" = invalid ] &&
  [ "$(row 2 line)" = 4 ] && [ "$(row 0 status)" = applied ] && [ "$(row 1 status)" = applied ] &&
  ok "mode=valid: 2 applied, the bad rows reported" || fail "mode=valid: $(body)"
b2=($(balances))
[ "${b2[0]}" = $((b1[0] + 1000000)) ] && [ "${b2[1]}" = $((b1[1] + 2000000)) ] &&
  ok "mode=valid moved the valid rows" || fail "balances ${b2[*]}, were ${b1[*]}"

# ---- ';' and decimal commas, Spanish headers ----------------------------------------
semi=$(file semi.csv <<'EOF'
motivo;CUENTA;Importe\n"uno; dos";B1;1,25\nx;B2;2\n
EOF
)
s=$(post k-semi mode=all "$semi")
expect "';' separated, decimal comma, Spanish headers" 201 "$s"
[ "$(row 0 amount)" = 1.250000 ] && [ "$(row 0 reason)" = "uno; dos" ] &&
  ok "1,25 is 1.25 with ';'" || fail "semi: $(body)"
comma=$(file comma.csv <<'EOF'
account,amount\nB1,"1,25"\n
EOF
)
s=$(post k-comma mode=all "$comma")
expect "a comma in an amount with ',' as separator" 422 "$s"

# ---- XLSX ------------------------------------------------------------------------------
b3=($(balances))
s=$(post k-xlsx mode=all "$fx/bulk_ok.xlsx" "$XLSX")
expect "XLSX upload" 201 "$s"
[ "$(jbody .batch.format)" = xlsx ] && [ "$(jbody .batch.rows_applied)" = 3 ] &&
  [ "$(row 0 line)" = 2 ] && [ "$(row 0 amount)" = 12.500000 ] && [ "$(row 0 reason)" = "xlsx one" ] &&
  [ "$(row 1 amount)" = 7.250000 ] && [ "$(row 2 line)" = 4 ] &&
  ok "XLSX rows: sheet row numbers, numbers and text amounts" || fail "xlsx: $(body)"
b4=($(balances))
want1=$(( b3[0] + 12500000 + $(jq -r '.rows[2].amount | sub("\\.";"") | tonumber' "$work/body") ))
[ "${b4[0]}" = "$want1" ] && [ "${b4[1]}" = $((b3[1] + 7250000)) ] &&
  ok "XLSX moved the money" || fail "balances ${b4[*]}, were ${b3[*]}"
s=$(post "" "mode=valid&dry_run=true" "$fx/bulk_round.xlsx" text/csv)
expect "XLSX found by its magic whatever the type (dry run)" 200 "$s"
[ "$(jbody .batch.format)" = xlsx ] && [ "$(row 0 amount)" = 0.300000 ] &&
  [ "$(row 1 amount)" = 0.010000 ] && [ "$(row 2 amount)" = 2.000001 ] &&
  [ "$(row 3 status)" = invalid ] && [ "$(row 3 error)" = "amount: must be > 0" ] &&
  [ "$(row 4 error)" = "amount: must be > 0" ] && [ "$(row 5 amount)" = 1500.000000 ] &&
  [ "$(row 6 amount)" = 12.500000 ] && [ "$(row 7 error)" = "amount: out of bounds" ] &&
  [ "$(row 8 error)" = "amount: must be > 0" ] && [ "$(row 8 line)" = 10 ] &&
  ok "numeric cells rounded half-up to 6 decimals" || fail "rounding: $(body)"
s=$(post k-xbad mode=all "$fx/bulk_bad.xlsx" "$XLSX")
expect "XLSX with bad rows, mode=all" 422 "$s"
[ "$(row 1 line)" = 3 ] && [ "$(row 1 status)" = invalid ] && [ "$(row 2 line)" = 4 ] ||
  fail "xlsx bad rows: $(body)"
[ "$(balances)" = "${b4[*]}" ] && ok "nothing moved" || fail "moved: $(balances)"

# ---- refusals: nothing moves -------------------------------------------------------------
n0=$(nbatches)
refuse() {   # WHAT STATUS KEY QUERY FILE [TYPE] [WORDS]
  local what=$1 want=$2; shift 2
  local words=${5:-}
  s=$(post "$1" "$2" "$3" "${4:-text/csv}")
  expect "$what" "$want" "$s"
  [ -z "$words" ] || grep -q "$words" "$work/body" || fail "$what: $(body)"
}
one() { printf "account,amount\n%s,%s\n" "$1" "$2" >"$work/one.csv"; echo "$work/one.csv"; }
refuse "unknown account" 422 k-r1 mode=all "$(one ZZ 1)" "" "no account"
refuse "closed account" 422 k-r2 mode=all "$(one B3 1)" "" "account: closed"
refuse "negative" 422 k-r3 mode=all "$(one B1 -1)" "" "must be > 0"
refuse "zero" 422 k-r4 mode=all "$(one B1 0.000)" "" "must be > 0"
refuse "7 decimals" 422 k-r5 mode=all "$(one B1 1.0000001)" "" "at most 6 decimals"
refuse "7 decimals, zeros" 422 k-r5b mode=all "$(one B1 1.0000000)" "" "at most 6 decimals"
refuse "overflow" 422 k-r6 mode=all "$(one B1 999999999999999999)" "" "out of bounds"
refuse "beyond 2^50 micro-units" 422 k-r7 mode=all "$(one B1 9999999999)" "" "out of bounds"
refuse "not a number" 422 k-r8 mode=all "$(one B1 ten)" "" "not a decimal"
refuse "all bad, mode=valid" 422 k-r9 mode=valid "$(one ZZ 1)" "" "rejected"
: >"$work/empty.csv"
refuse "empty file" 400 k-r10 mode=all "$work/empty.csv" "" "empty"
printf 'B1,10\nB2,20\n' >"$work/nohead.csv"
refuse "header missing" 400 k-r11 mode=all "$work/nohead.csv" "" "header"
printf 'account,amount\n' >"$work/headonly.csv"
refuse "header only" 422 k-r12 mode=all "$work/headonly.csv" "" "no rows"
head -c 3000 /dev/urandom >"$work/garbage.bin"
printf '\xff' >>"$work/garbage.bin"
refuse "garbage bytes" 400 k-r13 mode=all "$work/garbage.bin" application/octet-stream "not a readable CSV"
printf 'account,amount\nB1,1\n' >"$work/fake.xlsx"
refuse "a CSV sent as XLSX" 400 k-r14 mode=all "$work/fake.xlsx" "$XLSX" "not a zip"
refuse "a truncated XLSX" 400 k-r15 mode=all "$fx/truncated.xlsx" "$XLSX" "damaged"
refuse "a zip that is no XLSX" 400 k-r16 mode=all "$fx/not_xlsx.xlsx" "$XLSX" "not an XLSX"
refuse "broken XML in the sheet" 400 k-r17 mode=all "$fx/broken_xml.xlsx" "$XLSX" "mismatched tag"
printf 'account,amount\nB1,"1\n' >"$work/open.csv"
refuse "an unclosed quote" 400 k-r18 mode=all "$work/open.csv" "" "line 2: a quoted field is not closed"
refuse "no Idempotency-Key" 400 "" mode=all "$ok_csv" "" "Idempotency-Key"
refuse "a key of 49 characters" 400 "$(printf 'k%.0s' $(seq 1 49))" mode=all "$ok_csv"
refuse "a bad mode" 400 k-r19 mode=some "$ok_csv"
head -c 70000 /dev/zero | tr '\0' 'a' >"$work/big.csv"
refuse "over admin.max_body_kb" 413 k-r20 mode=all "$work/big.csv" "" "too_large"
{ echo "account,amount"; for _ in $(seq 1 100001); do echo "1,1"; done; } >"$work/many.csv"
s=$(curl -s -o "$work/body" -w '%{http_code}' -X POST "${A[@]}" -H 'Idempotency-Key: k-many' \
      --data-binary "@$work/many.csv" "$base/api/v1/recharges/bulk?mode=all")
[ "$s" = 413 ] || [ "$s" = 422 ] && ok "100001 rows refused ($s)" || fail "100001 rows: $s"
s=$(req POST "/api/v1/recharges/bulk?mode=all" -H "Authorization: Bearer $vtok" \
      -H 'Idempotency-Key: k-view' --data-binary "@$ok_csv")
expect "viewer" 403 "$s"
s=$(req POST "/api/v1/recharges/bulk?mode=all" -H 'Idempotency-Key: k-anon' --data-binary "@$ok_csv")
expect "no session" 401 "$s"
[ "$(balances)" = "${b4[*]}" ] && [ "$(nbatches)" = "$n0" ] &&
  ok "refusals: nothing moved, nothing stored" || fail "a refusal moved money: $(balances)"

# ---- GET ------------------------------------------------------------------------------------
V=(-H "Authorization: Bearer $vtok")
s=$(req GET "/api/v1/recharges/bulk?limit=2" "${V[@]}")
expect "list (viewer)" 200 "$s"
nb=$(jbody .next_before)
[ "$(jq '.batches | length' "$work/body")" = 2 ] && [ "$(jbody '.batches[0].key')" = k-xlsx ] &&
  [ -n "$nb" ] && ok "list: newest first, next_before" || fail "list: $(body)"
s=$(req GET "/api/v1/recharges/bulk?limit=50&before=$nb" "${V[@]}")
[ "$s" = 200 ] && [ "$(jbody '.batches[-1].key')" = k-csv-1 ] && [ "$(jq .next_before "$work/body")" = null ] &&
  ok "list: the next page ends with the first batch" || fail "list page 2 ($s): $(body)"
s=$(req GET "/api/v1/recharges/bulk/$first_id" "${V[@]}")
expect "one batch" 200 "$s"
[ "$(jbody .batch.key)" = k-csv-1 ] && [ "$(jq '.rows | length' "$work/body")" = 3 ] &&
  [ "$(row 0 balance_after)" = 11.500000 ] && ok "one batch: the POST's shape" || fail "batch: $(body)"
s=$(req GET "/api/v1/recharges/bulk/99999" "${V[@]}")
expect "unknown batch" 404 "$s"
s=$(req GET "/api/v1/recharges/bulk?limit=0" "${V[@]}")
expect "limit 0" 422 "$s"
s=$(req GET "/api/v1/recharges/bulk")
expect "list without a session" 401 "$s"
t_stop || fail "first stop"

# ---- crashes ------------------------------------------------------------------------------------
crash_file=$(file crash.csv <<'EOF'
account,amount,reason\nB1,1,r1\nB2,2,r2\nB1,3,r3\nB2,4,r4\n
EOF
)
# crash_run ENV KEY: a first run of apolod with ENV that dies in the batch
crash_run() {
  t_start "$1"
  auth
  cb0=($(balances))
  s=$(post "$2" mode=all "$crash_file")
  [ "$s" = 000 ] && ok "$1: the request died with the admin process" || fail "$1: status $s: $(body)"
  t_wait_up || fail "$1: the admin process did not come back"
  t_stop || fail "$1: stop"
  grep -q "${1%%=*}" "$work/apolod.log" || fail "$1: no crash line in the log"
}
check_once() {   # WHAT: the crash batch moved 1+3 on B1 and 2+4 on B2, once
  local b; b=($(balances))
  [ "${b[0]}" = $((cb0[0] + 4000000)) ] && [ "${b[1]}" = $((cb0[1] + 6000000)) ] &&
    ok "$1: every row credited exactly once" || fail "$1: balances ${b[*]}, were ${cb0[*]}"
}

# 1. dies after 2 rows; the retry of the POST rolls it forward
crash_run APOLO_TEST_CRASH_BULK=after_row:2 k-crash-1
[ "$(sql "SELECT state FROM bulk_batches WHERE key = 'k-crash-1'")" = applying ] &&
  ok "after_row:2: the batch is stored, unfinished" || fail "batch state after the crash"
t_start
auth
s=$(post k-crash-1 mode=all "$crash_file")
expect "after_row:2: the retry" 200 "$s"
[ "$(jbody .batch.state)" = done ] && [ "$(jbody .batch.rows_applied)" = 4 ] ||
  fail "after_row:2: retry body: $(body)"
check_once "after_row:2 + retry"
s=$(post k-crash-1 mode=all "$crash_file")
expect "after_row:2: replayed after" 200 "$s"
check_once "after_row:2 + replay"
t_stop || fail "stop"

# 2. dies after 1 row; the restarted admin process finishes it by itself
#    (on its first request to the bulk endpoints), before any retry
crash_run APOLO_TEST_CRASH_BULK=after_row:1 k-crash-2
t_start
auth
s=$(req GET "/api/v1/recharges/bulk?limit=1" "${V[@]}")
expect "after_row:1: the first GET after the restart" 200 "$s"
[ "$(sql "SELECT state FROM bulk_batches WHERE key = 'k-crash-2'")" = done ] &&
  ok "after_row:1: resumed by the admin process" || fail "after_row:1: not resumed"
check_once "after_row:1 + resume"
s=$(post k-crash-2 mode=all "$crash_file")
expect "after_row:1: the retry is a replay" 200 "$s"
check_once "after_row:1 + replay"
t_stop || fail "stop"

# 3. dies after the first row's claim, before its money moved
crash_run APOLO_TEST_CRASH_MONEY=after_claim k-crash-3
t_start
auth
s=$(post k-crash-3 mode=all "$crash_file")
expect "after_claim: the retry" 200 "$s"
check_once "after_claim + retry"
t_stop || fail "stop"

# 4. dies after the first row's money moved, before its key is done
crash_run APOLO_TEST_CRASH_MONEY=after_move k-crash-5
t_start
auth
s=$(post k-crash-5 mode=all "$crash_file")
expect "after_move: the retry" 200 "$s"
check_once "after_move + retry"
t_stop || fail "stop"

# 5. a batch resumed after its rows' done keys were deleted by the
#    housekeeping (admin.idempotency_days): the ledger still tells
crash_run APOLO_TEST_CRASH_BULK=after_row:2 k-crash-6
for _ in $(seq 1 50); do
  [ "$(sql "SELECT count(*) FROM ledger WHERE reference LIKE 'k-crash-6#%'")" = 2 ] && break; sleep 0.1
done
sql "DELETE FROM idempotency_keys WHERE key LIKE 'k-crash-6#%' AND state = 'done'" >/dev/null
t_start
auth
s=$(post k-crash-6 mode=all "$crash_file")
expect "keys deleted: the retry" 200 "$s"
check_once "keys deleted + retry"
t_stop || fail "stop"

# 6. dies after 1 row; an account of a later row is closed before the
#    roll forward: that row fails, the batch is partial, the rest applied
crash_run APOLO_TEST_CRASH_BULK=after_row:1 k-crash-4
t_start
auth
s=$(req PATCH /api/v1/accounts/2 "${A[@]}" -H 'Content-Type: application/json' -d '{"status":"closed"}')
expect "close B2" 200 "$s"
sleep 0.3
s=$(post k-crash-4 mode=all "$crash_file")
expect "closed meanwhile: the retry" 200 "$s"
[ "$(jbody .batch.state)" = partial ] && [ "$(jbody .batch.rows_applied)" = 2 ] &&
  [ "$(row 1 status)" = failed ] && [ "$(row 1 line)" = 3 ] && [ -n "$(row 1 error)" ] &&
  [ "$(row 3 status)" = failed ] && [ "$(row 2 status)" = applied ] &&
  ok "partial: the rows of the closed account failed, named" || fail "partial: $(body)"
b=($(balances))
[ "${b[0]}" = $((cb0[0] + 4000000)) ] && [ "${b[1]}" = "${cb0[1]}" ] &&
  ok "partial: B1 credited once, B2 not at all" || fail "partial: balances ${b[*]}, were ${cb0[*]}"
t_stop || fail "stop"

# ---- PostgreSQL after the stop ----------------------------------------------------------------
n=$(sql "SELECT count(*) FROM bulk_rows WHERE status = 'applied'")
m=$(sql "SELECT count(*) FROM ledger l JOIN bulk_batches b ON l.reference LIKE b.key || '#%'
         WHERE l.kind = 'recharge'")
[ "$n" = "$m" ] && [ "$n" -gt 0 ] && ok "one ledger row per applied row ($n)" || fail "$n applied rows, $m ledger rows"
n=$(sql "SELECT count(*) FROM bulk_rows r JOIN bulk_batches b ON b.id = r.batch_id
         JOIN ledger l ON l.reference = b.key || '#' || r.line
         WHERE r.journal_seq = l.journal_seq AND r.journal = l.journal
           AND r.balance_after = l.balance_after AND l.amount = r.amount")
[ "$n" = "$m" ] && ok "the rows name their ledger rows" || fail "$n of $m rows match the ledger"
n=$(sql "SELECT count(*) FROM (SELECT reference FROM ledger GROUP BY reference HAVING count(*) > 1) d")
expect "no reference twice in the ledger" 0 "$n"
n=$(sql "SELECT count(*) FROM idempotency_keys WHERE state <> 'done'")
expect "every key done" 0 "$n"
n=$(sql "SELECT count(*) FROM bulk_batches WHERE state = 'applying'")
expect "no batch left unfinished" 0 "$n"
n=$(sql "SELECT count(*) FROM audit_log WHERE action = 'bulk.apply'")
m=$(sql "SELECT count(*) FROM bulk_batches")
[ "$n" -ge "$m" ] && ok "every batch audited ($n bulk.apply)" || fail "$n bulk.apply for $m batches"
n=$(sql "SELECT count(*) FROM audit_log WHERE action = 'recharge' AND details ? 'batch'")
m=$(sql "SELECT count(*) FROM bulk_rows WHERE status = 'applied'")
expect "every applied row audited as a recharge" "$m" "$n"
bad=$(sql "SELECT count(*) FROM accounts a JOIN t_opening o USING (id)
           WHERE o.balance + (SELECT coalesce(sum(amount), 0) FROM ledger l
                              WHERE l.account_id = a.id) <> a.balance")
expect "opening + sum(ledger) = balance, every account" 0 "$bad"
n=$(sql "SELECT count(*) FROM journal_rejects")
expect "no rejected record" 0 "$n"
t_start
reg=0
while IFS='|' read -r id bal; do
  [ "$(live "$id")" = "$bal" ] || { reg=$((reg + 1)); echo "      account $id: live $(live "$id"), PostgreSQL $bal"; }
done < <(sql "SELECT id, balance FROM accounts ORDER BY id")
expect "live balance = PostgreSQL balance, every account" 0 "$reg"
t_stop || fail "last stop"
t_done
