#!/usr/bin/env bash
# t_dashboard.sh -- the embedded web dashboard (admin/www/, admin/www.c) in
# a real browser: Debian's chromium, headless, driven by playwright-core
# (tests/browser/dashboard.test.mjs; never a downloaded browser), against
# apolod with an ESL worker, the FreeSWITCH simulator and the private
# PostgreSQL of tests/run.sh.
#
#   - the static files: Content-Type, ETag and 304, security headers,
#     405 for other methods, 404 outside the embedded names (curl)
#   - the browser test (see its header): login, a live call appears then
#     disappears, recharge, notification email, bulk recharge preview with
#     a bad row, prefix search, deck validation, zone tree, time-of-day
#     periods (create, overlap, a deck rate with a period, delete refused),
#     CDR export and flags, statistics, notifications, audit, users,
#     FACs (create with a code never shown, edit the level, deactivate,
#     the per-FAC report of seeded CUCM CDRs: calls, minutes, cost),
#     Spanish, and a viewer who sees no recharge button, no FAC buttons
#     nor the notifications and is refused 403
#   - screenshots of every page: $APOLO_BUILD/tests/artifacts/dashboard/
#
# The simulator is started by the browser test once the live page is open
# (its scripted call must start while the page watches); the ESL worker
# reconnects to it within esl.reconnect_max_ms.
#
# KEEP=1 keeps the temp folder; HOLD=1 leaves apolod running after the
# test (for a look with a browser) until Enter is pressed.
. "$(dirname "$0")/lib.sh"
t_init dashboard

browser=$top/tests/browser
art=$build/tests/artifacts/dashboard
mkdir -p "$art"
rm -f "$art"/*.png

[ -x /usr/bin/chromium ] || { fail "no /usr/bin/chromium (apt-get install chromium; make deps)"; t_done; }
command -v node >/dev/null && command -v npm >/dev/null ||
  { fail "node and npm are needed (Node 18+)"; t_done; }
# npm ci only when node_modules is missing or older than the lock file
if [ ! -f "$browser/node_modules/.package-lock.json" ] ||
   [ "$browser/package-lock.json" -nt "$browser/node_modules/.package-lock.json" ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$browser" --no-audit --no-fund \
    >"$work/npm.log" 2>&1 || { cat "$work/npm.log"; fail "npm ci tests/browser"; t_done; }
fi

# the simulator's port: free now, and not apolod's
simport=$(t_free_port)
while [ "$simport" = "$port" ]; do simport=$(t_free_port); done
# fac.secret: the key of the FAC code hashes (a FAC cannot get a code
# without it); no axl.url: FACs stay local (push state "local")
printf '%s\n' 'esl.reconnect_max_ms = 300' \
  "esl.nodes = \"ClueCon@127.0.0.1:$simport\"" \
  'fac.secret = "t_dashboard-fac-secret"' | t_conf
t_migrate
# A plan in ARS: 54 fixed (60/60), 5491 mobile (1/1), 1 North America.
sql "
INSERT INTO rate_plans (id, name, currency, time_zone, rounding, number_rules)
  VALUES (1, 'Buenos Aires retail', 'ARS', 'America/Argentina/Buenos_Aires', 'up', '');
INSERT INTO zones (id, code, name) VALUES (1, 'AR-FIX', 'Argentina fixed'),
  (2, 'AR-MOB', 'Argentina mobile'), (3, 'US', 'United States'),
  (4, 'ES', 'Spain');
-- the zone tree: AR above AR-FIX, AR-MOB and AR-SAT (level 3, no rate)
INSERT INTO zones (id, code, name, parent_id, min_authorization_level) VALUES
  (5, 'AR', 'Argentina', NULL, 0), (6, 'AR-SAT', 'Argentina satellite', 5, 3);
UPDATE zones SET parent_id = 5 WHERE id IN (1, 2);
INSERT INTO deck_versions (plan_id, version, actor) VALUES (1, 1, 't_dashboard');
INSERT INTO rates (plan_id, prefix, zone_id, rate_per_minute, connection_fee,
                   first_increment, next_increment, effective_from, deck_version)
  VALUES (1, '54', 1, 6000000, 0, 60, 60, '2024-01-01', 1),
         (1, '5491', 2, 12500000, 0, 1, 1, '2024-01-01', 1),
         (1, '549115', 2, 11000000, 0, 1, 1, '2024-01-01', 1),
         (1, '1', 3, 9000000, 500000, 60, 6, '2024-01-01', 1),
         (1, '34', 4, 15000000, 0, 60, 6, '2024-01-01', 1);
INSERT INTO accounts (id, code, name, type, balance, credit_limit, currency,
                      plan_id, status, low_balance_threshold) VALUES
  (1, 'ACME', 'Acme Logistics SA', 'prepaid', 250000000000, 0, 'ARS', 1, 'active', 20000000000),
  (2, 'LOWCO', 'Low Balance SRL', 'prepaid', 5000000, 0, 'ARS', 1, 'active', 20000000),
  (3, 'BIGTEL', 'Bigtel Carrier', 'postpaid', 0, 500000000000, 'ARS', 1, 'active', NULL),
  (4, 'OLD', 'Closed Ltd', 'prepaid', 0, 0, 'ARS', 1, 'closed', NULL);
INSERT INTO extensions (number, account_id, user_name, department) VALUES
  ('1001', 1, 'María Gómez', 'Ventas'), ('1002', 2, 'Juan Pérez', 'Soporte'),
  ('1003', 3, 'NOC', 'Operaciones'), ('1004', 1, 'Recepción', 'Administración');
-- the notifications page: one pending test message, one failed email
INSERT INTO alert_outbox (kind, channel, payload) VALUES ('test', 'webhook', '{\"kind\":\"test\"}');
INSERT INTO alert_outbox (kind, channel, account_id, recipient, payload, state,
                          attempts, last_error)
  VALUES ('low_balance', 'email', 2, 'pagos@lowco.example',
          '{\"kind\":\"low_balance\"}', 'failed', 5, 'smtp: 550 mailbox unavailable');" ||
  { fail "seeding the database"; t_done; }
t_user admin admin 'admin-password-1'
t_user operator operator 'operator-password-1'
t_user viewer viewer 'viewer-password-1'
t_start

# ---- the static files (curl) --------------------------------------------------
s=$(req GET /ui/); expect "GET /ui/" 200 "$s"
grep -qi '^Content-Type: text/html; charset=utf-8' "$work/hdr" && ok "index.html is text/html" ||
  fail "index.html: $(grep -i content-type "$work/hdr")"
grep -qi "^Content-Security-Policy: default-src 'self'; connect-src 'self' ws: wss:" "$work/hdr" &&
  grep -qi '^X-Frame-Options: DENY' "$work/hdr" && grep -qi '^X-Content-Type-Options: nosniff' "$work/hdr" &&
  grep -qi '^Referrer-Policy:' "$work/hdr" && ok "security headers" || fail "security headers: $(cat "$work/hdr")"
etag=$(grep -i '^ETag:' "$work/hdr" | cut -d' ' -f2 | tr -d '\r')
s=$(req GET /ui/ -H "If-None-Match: $etag"); expect "If-None-Match: 304" 304 "$s"
s=$(req GET /ui/js/app.js); expect "GET /ui/js/app.js" 200 "$s"
grep -qi '^Content-Type: text/javascript' "$work/hdr" && ok "app.js is text/javascript" || fail "app.js type"
s=$(req HEAD /ui/css/app.css -I); expect "HEAD /ui/css/app.css" 200 "$s"
s=$(req POST /ui/ -d x); expect "POST /ui/: 405" 405 "$s"
s=$(req GET /ui/../admin/www.c --path-as-is); expect "traversal: 404" 404 "$s"
s=$(req GET /ui/nope.js); expect "unknown file: 404" 404 "$s"
s=$(req GET /api/v1/me); expect "the API is still there (401 without a session)" 401 "$s"
s=$(req GET /); expect "GET /: 302 to the dashboard" "302 /ui/" "$s $(grep -i '^Location:' "$work/hdr" | cut -d' ' -f2 | tr -d '\r')"

# ---- history for the statistics and CDR pages: posted CDRs ------------------------
tok=$(login operator 'operator-password-1')
now=$(date +%s)
i=0
for spec in "1001 5491155550001 95" "1001 541143210000 200" "1004 5491166660002 31" \
            "1003 12125550100 600" "1003 34915550000 180" "1002 5491177770003 0" \
            "1001 5491155550004 420" "1003 12125550101 75" "1004 541155550005 61" \
            "1003 5491188880006 240" "1001 34915550001 30" "1003 12125550102 0"; do
  read -r from to secs <<<"$spec"
  i=$((i + 1))
  st=$((now - (i % 6) * 86400 - 3600 - i * 60))
  ans=$st; [ "$secs" = 0 ] && ans=null
  req POST /api/v1/cdrs/ingest/json -H "Authorization: Bearer $tok" \
    -H 'Content-Type: application/json' \
    -d "{\"call_id\":\"hist-$i\",\"caller\":\"$from\",\"callee\":\"$to\",\"start\":$st,\"answer\":$ans,\"end\":$((st + secs + 5)),\"billsec\":$secs}" >/dev/null
  [ "$(jbody .status)" = recorded ] || fail "posting CDR hist-$i: $(body)"
done
# the CDR flags the page shows as badges: hist-3 unbilled (flags 0x40: the
# debit was refused, cost 0; a fixture: its ledger debit stays), hist-5
# estimated (flags 8)
for _ in $(seq 50); do
  [ "$(sql "SELECT count(*) FROM cdrs WHERE call_id IN ('hist-3', 'hist-5')")" = 2 ] && break
  sleep 0.1
done
sql "UPDATE cdrs SET flags = flags | 64, cost = 0 WHERE call_id = 'hist-3';
     UPDATE cdrs SET flags = flags | 8 WHERE call_id = 'hist-5';" ||
  fail "flagging CDRs"

# ---- a FAC with calls, for the FAC report ------------------------------------------
# "Gerencia" (level 3, billed to BIGTEL) made through the API, then three
# CUCM CDRs with its fac_id written straight into cdrs, 1 to 2 days ago:
# 125 s at 2.5125 ARS, 60 s at 1.20 ARS and an unanswered one. The report
# must say 3 calls, 2 answered, 185 s = 3.0833 minutes, 3.7125 ARS.
atok=$(login admin 'admin-password-1')
s=$(req POST /api/v1/facs -H "Authorization: Bearer $atok" -H 'Content-Type: application/json' \
  -d '{"name": "Gerencia", "code": "80417", "authorization_level": 3, "account_id": 3}')
expect "the FAC Gerencia (POST /api/v1/facs)" 201 "$s"
facid=$(jbody .id)
grep -q 80417 "$work/body" && fail "the FAC's code is in the API's answer: $(body)"
f1=$((now - 86400 - 7200)); f2=$((now - 2 * 86400 + 600)); f3=$((now - 86400 - 300))
sql "
INSERT INTO cdrs (call_id, source, account_id, extension, caller, callee, dialed,
                  direction, start_at, answer_at, end_at, duration, billsec,
                  cost, fac_id, hangup_cause) VALUES
  ('fac-1', 'cucm', 3, '1003', '1003', '5491155550011', '5491155550011', 'outbound',
   to_timestamp($f1), to_timestamp($f1 + 5), to_timestamp($f1 + 130), 130, 125,
   2512500, ${facid:-0}, 'NORMAL_CLEARING'),
  ('fac-2', 'cucm', 3, '1003', '1003', '541143210011', '541143210011', 'outbound',
   to_timestamp($f2), to_timestamp($f2 + 8), to_timestamp($f2 + 68), 68, 60,
   1200000, ${facid:-0}, 'NORMAL_CLEARING'),
  ('fac-3', 'cucm', 3, '1003', '1003', '12125550111', '12125550111', 'outbound',
   to_timestamp($f3), NULL, to_timestamp($f3 + 20), 20, 0,
   0, ${facid:-0}, 'NO_ANSWER');" || fail "seeding the FAC's CDRs"
s=$(req GET "/api/v1/facs/report?from=$((now - 7 * 86400))&to=$((now + 60))" -H "Authorization: Bearer $atok")
expect "the FAC report (API): Gerencia 3 calls, 3.0833 min, 3.7125" "200 3 2 3.0833 3.712500" \
  "$s $(jq -r '.rows[] | select(.name == "Gerencia") | "\(.calls) \(.answered) \(.minutes) \(.cost)"' "$work/body")"

# ---- the browser ---------------------------------------------------------------------
# One call watched on the live page: answered after 0.6 s, 4 s of talk,
# hung up by the far end.
echo 'call name=dash at=300 caller=1001 dest=5491155554444 ring=600 talk=4000 expect=transfer expect_cause=NORMAL_CLEARING' \
  >"$work/call.fss"
DASH_BASE=$base DASH_ART=$art DASH_WORK=$work DASH_FSSIM=$build/fssim \
DASH_FSS=$work/call.fss DASH_SIMPORT=$simport \
  timeout -k 5 150 node "$browser/dashboard.test.mjs" 2>&1 | tee "$work/browser.log"
rc=${PIPESTATUS[0]}
nf=$(grep -c '^FAIL' "$work/browser.log")
fails=$((fails + nf))
[ "$rc" = 0 ] || [ "$nf" -gt 0 ] || fail "the browser test exited $rc"
ls "$art"/*.png >/dev/null 2>&1 && ok "screenshots in $art: $(ls "$art" | wc -l)" || fail "no screenshot"

if [ -n "${HOLD:-}" ]; then echo "apolod at $base/ui/ (admin / admin-password-1); Enter stops"; read -r _; fi
t_stop || fail "apolod did not stop cleanly"
t_done
