#!/usr/bin/env bash
# t_alerts.sh -- notifications (admin/alert.h) with apolod, a real SMTP
# server (Debian's aiosmtpd, Maildir) and a real webhook receiver
# (tests/webhook_sink.py), over real HTTP and SMTP:
#
#   - an account with a threshold, seen first at 0: nothing sent; recharge
#     above, debit below -> exactly one low_balance webhook (HMAC checked)
#     and one email (From, To = the account's notify_email, Subject, body,
#     Message-ID = the outbox id); to zero -> one balance_exhausted; a
#     recharge re-arms, crossing again -> a second low_balance; an account
#     without threshold -> nothing
#   - restart of apolod -> nothing resent; a row left pending is sent
#   - receiver failing twice -> delivered on the 3rd try, attempts = 3,
#     the same X-Apolo-Delivery each time
#   - receiver gone -> failed after alert.max_attempts, last_error set;
#     the email of the same test still sent
#   - the admin process killed (-9) while a POST is in flight -> the
#     restarted one sends it again with the same X-Apolo-Delivery
#   - GET /api/v1/notifications (filters, keyset, payload, no secret),
#     roles (viewer 403, no session 401), POST .../test (admin, audited)
#
# Uses /usr/bin/python3 (Debian's, which has aiosmtpd). KEEP=1 keeps the
# temp folder.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
t_init alerts

secret='whk-secret-7f3a9c'
sink_pid=""
smtp_pid=""
t_on_exit() {
  [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null
  [ -n "$smtp_pid" ] && kill "$smtp_pid" 2>/dev/null
}

free_port() {
  $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# sink_start DIR [args...]: the webhook receiver on $sink_port (0: any).
sink_start() {
  local dir=$1; shift
  $PY "$top/tests/webhook_sink.py" "$dir" --port "${sink_port:-0}" "$@" &
  sink_pid=$!
  for _ in $(seq 1 50); do [ -s "$dir/port" ] && break; sleep 0.1; done
  sink_port=$(cat "$dir/port")
}
sink_stop() { kill "$sink_pid" 2>/dev/null; wait "$sink_pid" 2>/dev/null; sink_pid=""; }

# waitfor SECONDS COMMAND...: until the command succeeds.
waitfor() {
  local n=$(( $1 * 10 )); shift
  for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.1; done
  return 1
}

# hooks DIR [EVENT [STATUS]]: how many requests the sink recorded.
hooks() {
  $PY - "$@" <<'EOF'
import glob, json, sys
d = sys.argv[1]; ev = sys.argv[2] if len(sys.argv) > 2 else None
st = int(sys.argv[3]) if len(sys.argv) > 3 else None
n = 0
for f in glob.glob(d + "/*.json"):
    m = json.load(open(f))
    if ev and m["headers"].get("X-Apolo-Event") != ev: continue
    if st and m["status"] != st: continue
    n += 1
print(n)
EOF
}
hooks_are() { [ "$(hooks "$1" "$2" 200)" = "$3" ]; }

# hook_check DIR EVENT N SECRET: request N of the sink is EVENT, signed
# with SECRET over its body, its body "id" = X-Apolo-Delivery; prints the
# body's JSON on success, "BAD ..." otherwise.
hook_check() {
  $PY - "$@" <<'EOF'
import hashlib, hmac, json, sys
d, ev, n, key = sys.argv[1:5]
m = json.load(open(f"{d}/{n}.json")); raw = open(f"{d}/{n}.body", "rb").read()
h = m["headers"]
want = "sha256=" + hmac.new(key.encode(), raw, hashlib.sha256).hexdigest()
body = json.loads(raw)
if h.get("X-Apolo-Signature") != want: print("BAD signature"); sys.exit()
if h.get("X-Apolo-Event") != ev or body.get("kind") != ev: print("BAD event"); sys.exit()
if str(body.get("id")) != h.get("X-Apolo-Delivery"): print("BAD id"); sys.exit()
if h.get("Content-Type") != "application/json": print("BAD type"); sys.exit()
print(json.dumps(body, sort_keys=True))
EOF
}

# mails SUBSTRING: how many emails whose Subject contains it.
# mail_check SUBSTRING: the first such email as one JSON line.
mail_py='
import email, email.header, glob, json, sys
want = sys.argv[2]
out = []
for f in sorted(glob.glob(sys.argv[1] + "/new/*")):
    raw = open(f, "rb").read()
    m = email.message_from_bytes(raw)
    subj = str(email.header.make_header(email.header.decode_header(m["Subject"])))
    if want not in subj: continue
    out.append({"subject": subj, "from": m["From"], "to": m["To"],
                "rcpt": m["X-RcptTo"], "mailfrom": m["X-MailFrom"],
                "msgid": m["Message-ID"], "date": m["Date"],
                "ctype": m["Content-Type"],
                "body": m.get_payload(decode=True).decode("utf-8")})
if sys.argv[3] == "count": print(len(out))
else: print(json.dumps(out[0]) if out else "{}")
'
mails() { $PY -c "$mail_py" "$work/mail" "$1" count; }
mails_are() { [ "$(mails "$1")" = "$2" ]; }
mail_check() { $PY -c "$mail_py" "$work/mail" "$1" first; }

state_is() {   # ACCOUNT LEVEL
  [ "$(sql "SELECT level FROM alert_state WHERE account_id = $1")" = "$2" ]
}
row_is() {     # ID STATE
  [ "$(sql "SELECT state FROM alert_outbox WHERE id = $1")" = "$2" ]
}

# ---- the servers -----------------------------------------------------------
mkdir -p "$work/sink1"   # not mail/: aiosmtpd makes the Maildir only when absent
sink_port=0
sink_start "$work/sink1"
smtp_port=$(free_port)
$PY -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox \
  "$work/mail" >"$work/smtp.log" 2>&1 &
smtp_pid=$!
waitfor 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$smtp_port" 2>/dev/null ||
  { fail "the SMTP server did not start"; cat "$work/smtp.log"; exit 1; }
ok "webhook receiver on $sink_port, SMTP server on $smtp_port"

t_conf <<EOF
alert.webhook_url = "http://127.0.0.1:$sink_port/hook"
alert.webhook_secret = "$secret"
alert.smtp_url = "smtp://127.0.0.1:$smtp_port"
alert.smtp_from = "billing@apolo.test"
alert.smtp_to = "ops@apolo.test, noc@apolo.test"
alert.poll_ms = 100
alert.max_attempts = 4
alert.retry_base_ms = 200
alert.retry_max_ms = 400
alert.timeout_ms = 3000
EOF
t_migrate
sql "
INSERT INTO rate_plans (id, name, currency, time_zone, rounding, number_rules)
  VALUES (1, 'Alerts', 'ARS', 'America/Argentina/Buenos_Aires', 'up', '');
INSERT INTO accounts (id, code, name, type, status, balance, credit_limit,
                      currency, plan_id, low_balance_threshold, notify_email)
  VALUES (1, 'A1', 'Ñandú SRL', 'prepaid', 'active', 0, 0, 'ARS', 1,
          10000000, 'cliente@apolo.test'),
         (2, 'A2', 'No threshold', 'prepaid', 'active', 0, 0, 'ARS', 1,
          NULL, NULL);" || { fail "seeding the database"; exit 1; }
t_user admin admin 'admin-secret-Pw1'
t_user operator operator 'operator-secret-Pw2'
t_user viewer viewer 'viewer-secret-Pw3'

t_start
tok=$(login operator 'operator-secret-Pw2')
atok=$(login admin 'admin-secret-Pw1')
vtok=$(login viewer 'viewer-secret-Pw3')
[ -n "$tok" ] && [ -n "$atok" ] && [ -n "$vtok" ] || { fail "login"; exit 1; }
A=(-H "Authorization: Bearer $tok" -H 'Content-Type: application/json')
AD=(-H "Authorization: Bearer $atok" -H 'Content-Type: application/json')
V=(-H "Authorization: Bearer $vtok")

move() {   # KIND ACCOUNT KEY AMOUNT
  req POST "/api/v1/accounts/$2/$1" "${A[@]}" -H "Idempotency-Key: $3" \
    -d "{\"amount\":\"$4\",\"reason\":\"t_alerts\"}"
}

# ---- crossing the threshold ----------------------------------------------------
waitfor 5 state_is 1 2 && ok "first sight at 0: level 2 recorded" ||
  fail "no alert_state row for account 1"
expect "first sight sends nothing" 0 "$(sql 'SELECT count(*) FROM alert_outbox')"

expect "recharge 20" 201 "$(move recharges 1 r1 20.00)"
waitfor 5 state_is 1 0 && ok "re-armed above the threshold" ||
  fail "not re-armed after the recharge"
expect "nothing sent for a recharge" 0 "$(sql 'SELECT count(*) FROM alert_outbox')"

expect "debit to 8.00" 201 "$(move adjustments 1 d1 -12.00)"
waitfor 10 hooks_are "$work/sink1" low_balance 1 &&
  ok "low_balance webhook received" || fail "no low_balance webhook"
b=$(hook_check "$work/sink1" low_balance 1 "$secret")
case $b in BAD*|"") fail "webhook 1: $b" ;; *) ok "webhook 1 signed, id = X-Apolo-Delivery" ;; esac
expect "webhook payload" \
  "A1|Ñandú SRL|8.000000|8.000000|10.000000|ARS|1" \
  "$(jq -r '[.account.code, .account.name, .available, .balance, .threshold, .currency, .account.id] | join("|")' <<<"$b")"
waitfor 10 mails_are "Low balance: A1" 1 && ok "low_balance email received" ||
  fail "no low_balance email"
m=$(mail_check "Low balance: A1")
wid=$(sql "SELECT id FROM alert_outbox WHERE kind = 'low_balance' AND channel = 'email'")
expect "email From" "ApoloBilling <billing@apolo.test>" "$(jq -r .from <<<"$m")"
expect "email To (notify_email)" "cliente@apolo.test" "$(jq -r .to <<<"$m")"
expect "email envelope" "billing@apolo.test|cliente@apolo.test" \
  "$(jq -r '.mailfrom + "|" + .rcpt' <<<"$m")"
expect "email Subject (RFC 2047, UTF-8)" "[ApoloBilling] Low balance: A1 (Ñandú SRL)" \
  "$(jq -r .subject <<<"$m")"
expect "email Message-ID" "<apolo-alert-$wid@apolo.test>" "$(jq -r .msgid <<<"$m")"
expect "email Content-Type" "text/plain; charset=UTF-8" "$(jq -r .ctype <<<"$m")"
[[ $(jq -r .date <<<"$m") =~ ^[A-Z][a-z]{2},\ [0-9]{2}\ [A-Z][a-z]{2}\ 20[0-9]{2}\ [0-9:]{8}\ \+0000$ ]] &&
  ok "email Date (RFC 5322)" || fail "email Date: $(jq -r .date <<<"$m")"
jq -r .body <<<"$m" | grep -q 'The account A1 (Ñandú SRL) is below' &&
  jq -r .body <<<"$m" | grep -q 'Available:  8.000000 ARS' &&
  ok "email body names the account and the amounts" || fail "email body: $(jq -r .body <<<"$m")"
sleep 1
expect "exactly one low_balance webhook" 1 "$(hooks "$work/sink1" low_balance)"
expect "exactly one low_balance email" 1 "$(mails "Low balance: A1")"

expect "debit to 0" 201 "$(move adjustments 1 d2 -8.00)"
waitfor 10 hooks_are "$work/sink1" balance_exhausted 1 &&
  ok "balance_exhausted webhook" || fail "no balance_exhausted webhook"
n=$(ls "$work/sink1"/*.json | wc -l)
b=$(hook_check "$work/sink1" balance_exhausted "$n" "$secret")
expect "balance_exhausted payload" "0.000000" "$(jq -r .available <<<"$b")"
waitfor 10 mails_are "Balance exhausted: A1" 1 && ok "balance_exhausted email" ||
  fail "no balance_exhausted email"

expect "recharge 30" 201 "$(move recharges 1 r2 30.00)"
waitfor 5 state_is 1 0 && ok "re-armed by the recharge" || fail "not re-armed"
expect "debit to 5.00" 201 "$(move adjustments 1 d3 -25.00)"
waitfor 10 hooks_are "$work/sink1" low_balance 2 &&
  ok "second low_balance after re-arming" || fail "no second low_balance"
waitfor 10 mails_are "Low balance: A1" 2 && ok "second low_balance email" ||
  fail "no second low_balance email"
expect "account without threshold: no rows" "0 0" \
  "$(sql 'SELECT count(*) FROM alert_outbox WHERE account_id = 2') $(sql 'SELECT count(*) FROM alert_state WHERE account_id = 2')"

# ---- restart: nothing resent ------------------------------------------------------
waitfor 5 bash -c "[ \"\$(psql '$dburl' -qAtc \"SELECT count(*) FROM alert_outbox WHERE state <> 'sent'\")\" = 0 ]" &&
  ok "every row sent before the restart" || fail "rows left unsent"
before_hooks=$(ls "$work/sink1"/*.json | wc -l)
before_mails=$(ls "$work/mail/new" | wc -l)
t_stop; expect "apolod stops cleanly" 0 "$?"
# a row a killed admin process left pending after one attempt
lid=$(sql "INSERT INTO alert_outbox (kind, channel, payload, attempts, last_error)
           VALUES ('bulk_report', 'webhook', '{\"kind\":\"bulk_report\",\"batch\":3}', 1,
                   'killed') RETURNING id")
t_start
waitfor 10 row_is "$lid" sent && ok "a row left pending is sent after the restart" ||
  fail "row $lid left pending"
expect "... on its 2nd attempt" 2 "$(sql "SELECT attempts FROM alert_outbox WHERE id = $lid")"
sleep 1
expect "nothing else sent after the restart" "$((before_hooks + 1)) $before_mails" \
  "$(ls "$work/sink1"/*.json | wc -l) $(ls "$work/mail/new" | wc -l)"
expect "outbox after the restart" "7" "$(sql "SELECT count(*) FROM alert_outbox WHERE state = 'sent'")"
tok=$(login operator 'operator-secret-Pw2'); atok=$(login admin 'admin-secret-Pw1')
A=(-H "Authorization: Bearer $tok" -H 'Content-Type: application/json')
AD=(-H "Authorization: Bearer $atok" -H 'Content-Type: application/json')

# ---- retries: the receiver fails twice ---------------------------------------------
sink_stop
mkdir -p "$work/sink2"
sink_start "$work/sink2" --fail-first 2
s=$(req POST /api/v1/notifications/test "${AD[@]}")
expect "POST /notifications/test as admin" 201 "$s"
expect "test: one row per channel" "webhook,email|2" \
  "$(jq -r '(.channels | join(",")) + "|" + (.ids | length | tostring)' "$work/body")"
tid=$(sql "SELECT id FROM alert_outbox WHERE kind = 'test' AND channel = 'webhook'")
waitfor 10 row_is "$tid" sent && ok "delivered after two 500s" || fail "test webhook not sent"
expect "attempts = 3" 3 "$(sql "SELECT attempts FROM alert_outbox WHERE id = $tid")"
expect "the receiver saw 500, 500, 200" "3 1" "$(hooks "$work/sink2") $(hooks "$work/sink2" test 200)"
expect "one X-Apolo-Delivery for the three tries" "$tid" \
  "$(jq -r '.headers["X-Apolo-Delivery"]' "$work/sink2"/*.json | sort -u | tr '\n' ' ' | xargs)"
waitfor 10 mails_are "Test notification" 1 && ok "test email" || fail "no test email"
expect "test email to alert.smtp_to (envelope)" "ops@apolo.test, noc@apolo.test" \
  "$(jq -r .rcpt <<<"$(mail_check "Test notification")")"

# ---- the receiver is gone: failed after max_attempts ---------------------------------
sink_stop
s=$(req POST /api/v1/notifications/test "${AD[@]}")
expect "second test" 201 "$s"
fid=$(jq -r '.ids[0]' "$work/body")
eid=$(jq -r '.ids[1]' "$work/body")
expect "first id is the webhook" webhook "$(sql "SELECT channel FROM alert_outbox WHERE id = $fid")"
waitfor 15 row_is "$fid" failed && ok "webhook failed for good" || fail "webhook not failed"
expect "attempts = max_attempts" 4 "$(sql "SELECT attempts FROM alert_outbox WHERE id = $fid")"
[ -n "$(sql "SELECT last_error FROM alert_outbox WHERE id = $fid")" ] &&
  ok "last_error: $(sql "SELECT last_error FROM alert_outbox WHERE id = $fid")" || fail "no last_error"
waitfor 10 row_is "$eid" sent && ok "its email still sent" || fail "test email $eid not sent"
grep -q "notification $fid (test) by webhook FAILED after 4 attempts" "$work/apolod.log" &&
  ok "the failure is logged" || fail "failure not logged"
expect "the failure is logged once" 1 "$(grep -c "notification $fid .*FAILED" "$work/apolod.log")"

# ---- the admin process killed during a delivery: sent again, same id ---------------
mkdir -p "$work/sink3"
sink_start "$work/sink3" --hang-first 1
s=$(req POST /api/v1/notifications/test "${AD[@]}")
expect "third test" 201 "$s"
kid=$(jq -r '.ids[0]' "$work/body")
waitfor 10 test -s "$work/sink3/1.json" && ok "delivery 1 of $kid in progress" ||
  fail "no delivery in progress"
admin_pid=$(pgrep -P "$sup" | head -1)
kill -9 "$admin_pid" && ok "admin process $admin_pid killed during the POST"
t_wait_up || fail "the admin process did not come back"
waitfor 15 row_is "$kid" sent && ok "sent by the restarted admin process" ||
  fail "row $kid not sent after the crash"
expect "attempts = 2 (the interrupted one counts)" 2 \
  "$(sql "SELECT attempts FROM alert_outbox WHERE id = $kid")"
expect "the receiver got it twice, with one X-Apolo-Delivery (at-least-once)" \
  "2 $kid" "$(hooks "$work/sink3") $(jq -r '.headers["X-Apolo-Delivery"]' "$work/sink3"/*.json | sort -u | xargs)"
waitfor 10 mails_are "Test notification" 3 && ok "its email sent once" ||
  fail "third test email: $(mails "Test notification")"

# ---- the listing and the roles -----------------------------------------------------
expect "GET /notifications (operator)" 200 "$(req GET /api/v1/notifications "${A[@]}")"
expect "all rows, newest first" "13|$((kid + 1))" \
  "$(jq -r '(.notifications | length | tostring) + "|" + (.notifications[0].id | tostring)' "$work/body")"
grep -q "$secret" "$work/body" && fail "the webhook secret in the listing" ||
  ok "no secret in the listing"
grep -q "127.0.0.1:$sink_port" "$work/body" && fail "the webhook URL in the listing" ||
  ok "no webhook URL in the listing"
expect "?state=failed" "1|$fid|4" "$(req GET "/api/v1/notifications?state=failed" "${A[@]}" >/dev/null
  jq -r '(.notifications | length | tostring) + "|" + (.notifications[0].id | tostring) + "|" + (.notifications[0].attempts | tostring)' "$work/body")"
req GET "/api/v1/notifications?kind=low_balance&account=1" "${A[@]}" >/dev/null
expect "?kind=low_balance&account=1" "4|A1|sent" \
  "$(jq -r '(.notifications | length | tostring) + "|" + .notifications[0].payload.account.code + "|" + (.notifications | map(.state) | unique | join(","))' "$work/body")"
req GET "/api/v1/notifications?limit=3" "${A[@]}" >/dev/null
nb=$(jbody .next_before)
expect "keyset: a full page has next_before" "3|$(jq -r '.notifications[2].id' "$work/body")" \
  "$(jq -r '.notifications | length' "$work/body")|$nb"
req GET "/api/v1/notifications?limit=3&before=$nb" "${A[@]}" >/dev/null
expect "keyset: the next page starts below" "$((nb - 1))" "$(jq -r '.notifications[0].id' "$work/body")"
expect "?state=bogus" 422 "$(req GET "/api/v1/notifications?state=bogus" "${A[@]}")"
expect "?account=x" 422 "$(req GET "/api/v1/notifications?account=x" "${A[@]}")"
expect "?limit=0" 422 "$(req GET "/api/v1/notifications?limit=0" "${A[@]}")"
expect "viewer: 403" 403 "$(req GET /api/v1/notifications "${V[@]}")"
expect "no session: 401" 401 "$(req GET /api/v1/notifications)"
expect "test as operator: 403" 403 "$(req POST /api/v1/notifications/test "${A[@]}")"
expect "test without session: 401" 401 "$(req POST /api/v1/notifications/test)"
expect "test posts audited" 3 "$(sql "SELECT count(*) FROM audit_log WHERE action = 'notification.test' AND actor = 'admin'")"

# ---- a bulk recharge's report (admin/api_bulk.c: queued with the batch) -------------
printf 'account,amount,reason\nA2,5.00,bulk\nNOSUCH,1.00,bad\n' >"$work/bulk.csv"
s=$(req POST "/api/v1/recharges/bulk?mode=valid" -H "Authorization: Bearer $tok" \
  -H 'Content-Type: text/csv' -H 'Idempotency-Key: bulk-alert-1' --data-binary "@$work/bulk.csv")
expect "bulk recharge (one valid row, one bad)" 201 "$s"
bid=$(jbody .batch.id)
waitfor 10 hooks_are "$work/sink3" bulk_report 1 && ok "bulk_report webhook" ||
  fail "no bulk_report webhook"
n=$(ls "$work/sink3"/*.json | wc -l)
b=$(hook_check "$work/sink3" bulk_report "$n" "$secret")
expect "bulk_report payload: batch, state, rows, total" "$bid|done|valid|2|1|0|5.000000|operator" \
  "$(jq -r '.batch | [.id, .state, .mode, .rows_total, .rows_applied, .rows_failed, .total_amount, .actor] | map(tostring) | join("|")' <<<"$b")"
waitfor 10 mails_are "Bulk recharge report" 1 && ok "bulk_report email (to alert.smtp_to)" ||
  fail "no bulk_report email"
s=$(req POST "/api/v1/recharges/bulk?mode=valid" -H "Authorization: Bearer $tok" \
  -H 'Content-Type: text/csv' -H 'Idempotency-Key: bulk-alert-1' --data-binary "@$work/bulk.csv")
expect "the same batch replayed" 200 "$s"
sleep 1
expect "a replay queues no second report" 1 \
  "$(sql "SELECT count(*) FROM alert_outbox WHERE kind = 'bulk_report' AND channel = 'webhook' AND payload->'batch'->>'id' = '$bid'")"

grep -q "$secret" "$work/apolod.log" && fail "the webhook secret in the log" ||
  ok "no secret in the log"
t_stop; expect "apolod stops cleanly" 0 "$?"
t_done
