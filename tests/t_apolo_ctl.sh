#!/usr/bin/env bash
# t_apolo_ctl.sh -- apolo-ctl (admin/cli/) against a real apolod with a
# fresh database (a plan, a deck, 2 accounts, extensions; an operator and
# an admin made with `apolod user add`), through its exit codes:
#
#   - login with the password on stdin; token file 0600; whoami
#   - accounts: the table holds both accounts; --json parses
#   - recharge moves the live balance once; a retry with the printed
#     Idempotency-Key is replayed and moves nothing
#   - bad amount: exit 2, no request (no access line in the log)
#   - unknown account: exit 1 with the API's message; no token: exit 4;
#     wrong URL: exit 3
#   - quote prints the cost; deck import with a bad row: exit 1 and the
#     line number; deck export and cdrs export write their files
#
# KEEP=1 keeps the temp folder.
. "$(dirname "$0")/lib.sh"
ctl_bin=$build/apolo-ctl
[ -x "$ctl_bin" ] || { echo "FAIL: no $ctl_bin (make all)"; exit 1; }
t_init ctl
t_conf <<EOC
journal.rings = 4
admin.threads = 2
EOC

t_migrate
sql "
INSERT INTO rate_plans (id, name, currency, time_zone, rounding, number_rules)
  VALUES (1, 'Ctl test', 'ARS', 'America/Argentina/Buenos_Aires', 'up', '');
INSERT INTO zones (id, code, name) VALUES (1, 'AR', 'Argentina');
INSERT INTO deck_versions (plan_id, version, actor) VALUES (1, 1, 't_ctl');
INSERT INTO rates (plan_id, prefix, zone_id, rate_per_minute, connection_fee,
                   first_increment, next_increment, effective_from, deck_version)
  VALUES (1, '54', 1, 12000000, 0, 60, 60, '2024-01-01', 1);
INSERT INTO accounts (id, code, name, type, status, balance, credit_limit,
                      currency, plan_id)
  VALUES (1, 'CTL-PRE', 'Prepaid Ctl', 'prepaid', 'active', 5000000, 0, 'ARS', 1),
         (2, 'CTL-POST', 'Postpaid Ctl', 'postpaid', 'active', 0, 100000000, 'ARS', 1);
INSERT INTO extensions (number, account_id) VALUES ('1001', 1), ('1002', 2);" ||
  { fail "seeding the database"; exit 1; }

pw_oper='operator-secret-Pw2'
pw_adm='admin-secret-Pw9xx'
t_user ops operator "$pw_oper"
t_user boss admin "$pw_adm"

t_start

# Every run: its own HOME (the token file), no APOLO_* from outside.
export HOME=$work/home
mkdir -p "$HOME"
unset XDG_CONFIG_HOME APOLO_TOKEN
export APOLO_URL=http://127.0.0.1:$port
# run ARGS...: stdout in $work/out, stderr in $work/err, exit code in $rc
run() { "$ctl_bin" --timeout 10 "$@" >"$work/out" 2>"$work/err"; rc=$?; }
expect_rc() {   # WHAT WANT
  if [ "$rc" = "$2" ]; then ok "$1 (exit $rc)"
  else fail "$1: exit $rc, expected $2: $(head -c 300 "$work/out") $(head -c 300 "$work/err")"; fi
}

# ---- no token, login, whoami ---------------------------------------------------
run whoami
expect_rc "whoami before login" 4
grep -q 'not logged in' "$work/err" || fail "no 'not logged in' message: $(cat "$work/err")"

echo "wrong-password-x" | "$ctl_bin" login ops >"$work/out" 2>"$work/err"; rc=$?
expect_rc "login with a wrong password" 4
echo "$pw_oper" | "$ctl_bin" login ops >"$work/out" 2>"$work/err"; rc=$?
expect_rc "login, password on stdin" 0
tokfile=$HOME/.config/apolo/token
[ "$(stat -c %a "$tokfile" 2>/dev/null)" = 600 ] && ok "token file mode 0600" ||
  fail "token file: $(ls -l "$tokfile" 2>&1)"
run whoami
expect_rc "whoami" 0
grep -q 'ops' "$work/out" && grep -q operator "$work/out" && ok "whoami: $(tr -s ' \n' ' ' <"$work/out")" ||
  fail "whoami output: $(cat "$work/out")"

# ---- accounts ------------------------------------------------------------------
run accounts
expect_rc "accounts" 0
head -1 "$work/out" | grep -q 'id *code *name *type *status *balance *available' &&
  grep -q 'CTL-PRE.*Prepaid Ctl.*prepaid.*active' "$work/out" &&
  grep -q 'CTL-POST.*Postpaid Ctl.*postpaid' "$work/out" &&
  ok "accounts table has both accounts" || fail "accounts table: $(cat "$work/out")"
run --json accounts --q pre
expect_rc "accounts --json --q pre" 0
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); a=d["accounts"]; assert len(a)==1 and a[0]["code"]=="CTL-PRE" and isinstance(a[0]["balance"], str)' "$work/out" 2>/dev/null &&
  ok "--json parses, filter applied, balance a string" || fail "--json: $(cat "$work/out")"
run account 1
expect_rc "account 1" 0
grep -q '^code  *CTL-PRE' "$work/out" && grep -q '1001' "$work/out" &&
  ok "account 1 with its extension" || fail "account 1: $(cat "$work/out")"

# ---- recharge exactly once --------------------------------------------------------
b0=$(live 1)
run recharge 1 10.50 --reason cash
expect_rc "recharge 1 10.50" 0
key=$(sed -n 's/^Idempotency-Key: //p' "$work/err")
[ -n "$key" ] && ok "printed the Idempotency-Key $key" || fail "no key on stderr: $(cat "$work/err")"
grep -q 'balance 15.500000' "$work/out" && ok "recharge: $(cat "$work/out")" || fail "recharge output: $(cat "$work/out")"
[ "$(live 1)" = $((b0 + 10500000)) ] && ok "live balance moved by 10.50" || fail "live $(live 1), was $b0"
run recharge 1 10.50 --reason cash --key "$key"
expect_rc "retry with the same key" 0
grep -q replayed "$work/out" && ok "retry says replayed" || fail "retry output: $(cat "$work/out")"
[ "$(live 1)" = $((b0 + 10500000)) ] && ok "retry moved nothing" || fail "retry moved money: $(live 1)"
run --json recharge 1 1.25 --key ctl-json-1
expect_rc "recharge --json with --key" 0
grep -q '"reference": *"ctl-json-1"' "$work/out" && ok "--json recharge body has the reference" ||
  fail "--json recharge: $(cat "$work/out")"

n0=$(grep -c 'accounts/1/recharges' "$work/apolod.log")
for bad in 10,50 abc 1.1234567 '' 1e3; do
  run recharge 1 "$bad"
  [ "$rc" = 2 ] || fail "amount '$bad': exit $rc"
done
run recharge 1 -5
[ "$rc" = 2 ] || fail "negative recharge: exit $rc"
sleep 0.2
n1=$(grep -c 'accounts/1/recharges' "$work/apolod.log")
[ "$n0" = "$n1" ] && ok "bad amounts: exit 2, no request sent" || fail "bad amounts reached the API ($n0 -> $n1)"
run adjust 1 -1.00
expect_rc "adjust without --reason" 2
run adjust 2 -3.00 --reason "fix"
expect_rc "adjust 2 -3.00" 0

# ---- errors --------------------------------------------------------------------------
run recharge 999 1.00
expect_rc "recharge an unknown account" 1
grep -q '404 not_found: no account 999' "$work/err" && ok "the API's code and message: $(grep HTTP "$work/err")" ||
  fail "unknown account stderr: $(cat "$work/err")"
run account 999
expect_rc "account 999" 1
run --token 0000 whoami
expect_rc "a bad token" 4
APOLO_TOKEN= HOME=$work/nohome run accounts
expect_rc "no token at all" 4
run --url http://127.0.0.1:1 health
expect_rc "wrong URL" 3
grep -q 'cannot connect' "$work/err" || fail "wrong URL stderr: $(cat "$work/err")"
run frobnicate
expect_rc "unknown command" 2
run accounts --bogus
expect_rc "unknown option" 2

# ---- rating ----------------------------------------------------------------------------
run quote 541155551234 90 --account 1
expect_rc "quote" 0
grep -q "^cost  *24.000000" "$work/out" && ok "quote: cost 24.000000 (90 s -> 120 s at 12/min, 60/60)" ||
  fail "quote output: $(cat "$work/out")"
run quote 541155551234 90
expect_rc "quote without --caller/--account/--plan" 2
run authorize 1001 541155551234
expect_rc "authorize" 0
grep -q '^can_call  *true' "$work/out" && ok "authorize: can_call true" || fail "authorize: $(cat "$work/out")"
run health
expect_rc "health" 0
run calls
expect_rc "calls" 0
grep -q 'calls in progress: 0' "$work/out" || fail "calls: $(cat "$work/out")"

# ---- decks and exports (admin) -----------------------------------------------------------
printf 'prefix,zone,rate_per_minute\n5411,AR,0.10\n54x9,AR,0.20\n' >"$work/bad.csv"
run deck import 1 "$work/bad.csv"
expect_rc "deck import as an operator" 1
grep -q '403' "$work/err" || fail "operator deck import: $(cat "$work/err")"
echo "$pw_adm" | XDG_CONFIG_HOME=$work/adm "$ctl_bin" login boss >/dev/null 2>&1 ||
  fail "admin login"
adm() { XDG_CONFIG_HOME=$work/adm run "$@"; }
adm deck import 1 "$work/bad.csv"
expect_rc "deck import with a bad row" 1
grep -q 'line 3' "$work/err" && ok "the bad row's line: $(grep 'line 3' "$work/err")" ||
  fail "deck import stderr: $(cat "$work/err")"
printf 'prefix,zone,rate_per_minute\n5411,AR,0.10\n' >"$work/good.csv"
adm deck import 1 "$work/good.csv" --dry-run
expect_rc "deck import --dry-run" 0
adm deck import 1 "$work/good.csv"
expect_rc "deck import" 0
adm deck export 1 -o "$work/deck.csv"
expect_rc "deck export" 0
grep -q '^5411,' "$work/deck.csv" && [ ! -e "$work/deck.csv.part" ] && ok "deck export wrote the file" ||
  fail "deck.csv: $(head -5 "$work/deck.csv" 2>&1)"
adm deck export 99 -o "$work/none.csv"
expect_rc "deck export of an unknown plan" 1
[ ! -e "$work/none.csv" ] && [ ! -e "$work/none.csv.part" ] && ok "no file left for a refused export" ||
  fail "a refused export left a file"
run cdrs export --from "$(date -u -d '-1 day' +%Y-%m-%dT%H:%M:%S)" --to "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%S)" -o "$work/cdrs.csv"
expect_rc "cdrs export" 0
[ -s "$work/cdrs.csv" ] && head -1 "$work/cdrs.csv" | grep -q call_id && ok "cdrs export wrote the header" ||
  fail "cdrs.csv: $(head -c 300 "$work/cdrs.csv" 2>&1)"
run cdrs export --from 2024-01-01
expect_rc "cdrs export without --to" 2

# ---- logout --------------------------------------------------------------------------------
run logout
expect_rc "logout" 0
[ ! -e "$tokfile" ] && ok "token file removed" || fail "token file still there"
run whoami
expect_rc "whoami after logout" 4

t_stop   # SIGTERM, its exit status not checked (t_cleanup would kill -9)
t_done
