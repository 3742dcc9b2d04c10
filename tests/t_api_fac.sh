#!/usr/bin/env bash
# t_api_fac.sh -- Forced Authorization Codes (admin/api_fac.c) and their
# push to CUCM by AXL (admin/axl.c), against a local AXL endpoint
# (tests/axl_sink.py) that checks every SOAP envelope's shape:
#
#   - roles: no session 401, viewer reads but may not write (403)
#   - create -> addFacInfo {name, code, authorizationLevel}; patch ->
#     updateFacInfo (newName, code only when changed); delete ->
#     removeFacInfo; SOAPAction, basic auth, namespace checked by the sink
#   - the code is in the envelope, but never in PostgreSQL (code_hash =
#     HMAC-SHA256(fac.secret, code), recomputed here), in the answers, in
#     the audit or in the log
#   - name taken (any case) 409; bad code / level 422; no fac.secret 422
#   - AXL failing (fault) and down (no listener): the local change stands,
#     axl.state failed with the error; POST .../push succeeds later and
#     carries the code
#   - a CUCM fault (name taken in CUCM) reported; import from listFacInfo
#     (created / updated by name, a code CUCM did not return -> has_code
#     false)
#   - the report: per FAC calls, seconds, minutes, cost of cdrs rows
#     inserted here, sums worked out by hand; the 31-day limit
#
# Uses /usr/bin/python3. KEEP=1 keeps the temp folder.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
t_init fac

secret='fac-secret-5b1e77'
axl_user='axladmin'
axl_pw='axl-pw-91c3'
sink_pid=""
sink=$work/sink
t_on_exit() { [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null; }

free_port() {
  $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
sink_port=$(free_port)

sink_start() {
  rm -f "$sink/port"
  $PY "$top/tests/axl_sink.py" "$sink" --port "$sink_port" \
    --user "$axl_user" --password "$axl_pw" --version 14.0 &
  sink_pid=$!
  for _ in $(seq 1 50); do [ -s "$sink/port" ] && break; sleep 0.1; done
}
sink_stop() { kill "$sink_pid" 2>/dev/null; wait "$sink_pid" 2>/dev/null; sink_pid=""; }

# last_axl FIELD: a field of the sink's last recorded request (Python
# subscript on its JSON, e.g. '["fields"]["code"]').
last_axl() {
  $PY - "$sink" "$1" <<'EOF'
import glob, json, os, sys
d = sys.argv[1]
fs = sorted(glob.glob(d + "/[0-9]*.json"), key=lambda f: int(os.path.basename(f).split(".")[0]))
m = json.load(open(fs[-1])) if fs else {}
try: print(eval("m" + sys.argv[2]))
except Exception: print("")
EOF
}
axl_count() { ls "$sink"/[0-9]*.json 2>/dev/null | wc -l; }
hmac_of() { $PY -c 'import hmac, hashlib, sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())' "$secret" "$1"; }

sink_start
t_conf <<EOF
axl.url = "http://127.0.0.1:$sink_port/axl/"
axl.user = $axl_user
axl.password = "$axl_pw"
axl.version = 14.0
axl.timeout_ms = 3000
fac.secret = "$secret"
EOF
t_migrate
sql "
INSERT INTO rate_plans (id, name, currency) VALUES (1, 'ARS plan', 'ARS');
INSERT INTO accounts (id, code, name, type, status, balance, currency, plan_id)
VALUES (7, 'LEGAL', 'Legal department', 'postpaid', 'active', 0, 'ARS', 1);" ||
  { fail "seed"; t_done; }
t_user admin admin 'admin password 1'
t_user viewer viewer 'viewer password 1'
t_start
tok=$(login admin 'admin password 1')
vtok=$(login viewer 'viewer password 1')
A=(-H "Authorization: Bearer $tok" -H 'Content-Type: application/json')
V=(-H "Authorization: Bearer $vtok" -H 'Content-Type: application/json')
bodies=$work/all_bodies
: >"$bodies"
keep() { cat "$work/body" >>"$bodies"; echo >>"$bodies"; }

# ---- roles --------------------------------------------------------------------
expect "GET /facs without a session" 401 "$(req GET /api/v1/facs)"
expect "POST /facs as viewer" 403 "$(req POST /api/v1/facs "${V[@]}" \
  -d '{"name":"X","code":"1234","authorization_level":1}')"
expect "POST /facs/import as viewer" 403 "$(req POST /api/v1/facs/import "${V[@]}")"
expect "GET /facs as viewer" 200 "$(req GET /api/v1/facs "${V[@]}")"

# ---- create -> addFacInfo ---------------------------------------------------------
code1=918273645
s=$(req POST /api/v1/facs "${A[@]}" -d "{\"name\":\"Legal Dept\",\"code\":\"$code1\",\"authorization_level\":30,\"account_id\":7}")
keep
expect "create FAC" 201 "$s"
fac1=$(jbody .id)
expect "create: axl.state" synced "$(jbody .axl.state)"
grep -q 'catalog [0-9]* published: .*, 1 FACs' "$work/apolod.log" &&
  ok "create: the region's catalog follows (1 FAC)" || fail "no republication with the FAC"
expect "create: has_code" true "$(jbody .has_code)"
expect "create: account_id" 7 "$(jbody .account_id)"
[ -n "$(jbody .axl.uuid)" ] && ok "create: CUCM's uuid kept" || fail "create: no uuid"
expect "create: no code in the answer" "" "$(jbody .code)$(jbody .code_hash)"
expect "AXL op" addFacInfo "$(last_axl '["op"]')"
expect "AXL shape" True "$(last_axl '["shape_ok"]')"
expect "AXL basic auth" True "$(last_axl '["auth_ok"]')"
expect "AXL SOAPAction" '"CUCM:DB ver=14.0 addFacInfo"' "$(last_axl '["soapaction"]')"
expect "AXL name" "Legal Dept" "$(last_axl '["fields"]["name"]')"
expect "AXL code (CUCM needs it)" "$code1" "$(last_axl '["fields"]["code"]')"
expect "AXL authorizationLevel" 30 "$(last_axl '["fields"]["authorizationLevel"]')"
expect "code_hash = HMAC-SHA256(fac.secret, code)" "$(hmac_of $code1)" \
  "$(sql "SELECT code_hash FROM fac_codes WHERE id = $fac1")"
expect "no pending code once pushed" t \
  "$(sql "SELECT pending_code IS NULL FROM fac_codes WHERE id = $fac1")"

# XML escaping: the sink parses the envelope, so what it reads back is what
# was meant
s=$(req POST /api/v1/facs "${A[@]}" -d '{"name":"R&D <Lab> \"Q\" '"'"'s","code":"31337","authorization_level":0}')
keep
expect "create a name with & < > quotes" 201 "$s"
expect "AXL name unescaped by the sink" "R&D <Lab> \"Q\" 's" "$(last_axl '["fields"]["name"]')"
expect "AXL shape (escaped name)" True "$(last_axl '["shape_ok"]')"

n_valid=$(axl_count)
# ---- validation ----------------------------------------------------------------------
expect "name taken (other case)" 409 "$(req POST /api/v1/facs "${A[@]}" \
  -d '{"name":"LEGAL dept","code":"5550001","authorization_level":1}')"
expect "code taken" 409 "$(req POST /api/v1/facs "${A[@]}" \
  -d "{\"name\":\"Other\",\"code\":\"$code1\",\"authorization_level\":1}")"
expect "code with a letter" 422 "$(req POST /api/v1/facs "${A[@]}" \
  -d '{"name":"Bad1","code":"12a4","authorization_level":1}')"
expect "code of 17 digits" 422 "$(req POST /api/v1/facs "${A[@]}" \
  -d '{"name":"Bad2","code":"12345678901234567","authorization_level":1}')"
expect "empty code" 422 "$(req POST /api/v1/facs "${A[@]}" \
  -d '{"name":"Bad3","code":"","authorization_level":1}')"
expect "level 256" 422 "$(req POST /api/v1/facs "${A[@]}" \
  -d '{"name":"Bad4","code":"4321","authorization_level":256}')"
expect "level -1" 422 "$(req POST /api/v1/facs "${A[@]}" \
  -d '{"name":"Bad5","code":"4321","authorization_level":-1}')"
expect "level as a string" 400 "$(req POST /api/v1/facs "${A[@]}" \
  -d '{"name":"Bad6","code":"4321","authorization_level":"3"}')"
expect "name of 51 characters" 422 "$(req POST /api/v1/facs "${A[@]}" \
  -d "{\"name\":\"$(printf 'n%.0s' $(seq 1 51))\",\"code\":\"4321\"}")"
expect "unknown account" 422 "$(req POST /api/v1/facs "${A[@]}" \
  -d '{"name":"Bad7","code":"4321","account_id":999}')"
expect "unknown field" 400 "$(req POST /api/v1/facs "${A[@]}" \
  -d '{"name":"Bad8","code":"4321","code_hash":"x"}')"
expect "nothing pushed for refused requests" "$n_valid" "$(axl_count)"
expect "refused requests left no row" 2 "$(sql 'SELECT count(*) FROM fac_codes')"

# ---- patch -> updateFacInfo ----------------------------------------------------------
s=$(req PATCH "/api/v1/facs/$fac1" "${A[@]}" -d '{"name":"Legal Team","authorization_level":40}')
keep
expect "rename + level" 200 "$s"
expect "patch: axl.state" synced "$(jbody .axl.state)"
expect "AXL op" updateFacInfo "$(last_axl '["op"]')"
expect "updateFacInfo name (CUCM's)" "Legal Dept" "$(last_axl '["fields"]["name"]')"
expect "updateFacInfo newName" "Legal Team" "$(last_axl '["fields"]["newName"]')"
expect "updateFacInfo level" 40 "$(last_axl '["fields"]["authorizationLevel"]')"
expect "updateFacInfo without a code" "" "$(last_axl '["fields"].get("code","")')"
code2=5566778899
s=$(req PATCH "/api/v1/facs/$fac1" "${A[@]}" -d "{\"code\":\"$code2\"}")
keep
expect "new code" 200 "$s"
expect "updateFacInfo code" "$code2" "$(last_axl '["fields"]["code"]')"
expect "updateFacInfo name" "Legal Team" "$(last_axl '["fields"]["name"]')"
expect "new code re-hashed" "$(hmac_of $code2)" \
  "$(sql "SELECT code_hash FROM fac_codes WHERE id = $fac1")"
n_before=$(axl_count)
s=$(req PATCH "/api/v1/facs/$fac1" "${A[@]}" -d '{"account_id":null}')
expect "account cleared" 200 "$s"
expect "account_id null" "null" "$(jfield '["account_id"] is None and "null"')"
expect "an account change is not pushed" "$n_before" "$(axl_count)"
expect "PATCH bad code" 422 "$(req PATCH "/api/v1/facs/$fac1" "${A[@]}" -d '{"code":"x1"}')"
expect "PATCH unknown FAC" 404 "$(req PATCH /api/v1/facs/9999 "${A[@]}" -d '{"authorization_level":1}')"
expect "PATCH as viewer" 403 "$(req PATCH "/api/v1/facs/$fac1" "${V[@]}" -d '{"authorization_level":1}')"

# ---- AXL failing: the change stands, then the retry ----------------------------------
touch "$sink/fail"
code3=24680
s=$(req POST /api/v1/facs "${A[@]}" -d "{\"name\":\"Ops\",\"code\":\"$code3\",\"authorization_level\":5}")
keep
expect "create while CUCM faults" 201 "$s"
fac2=$(jbody .id)
expect "axl.state failed" failed "$(jbody .axl.state)"
[[ $(jbody .axl.error) == *"told to fail"* ]] && ok "axl.error has CUCM's faultstring" ||
  fail "axl.error: $(jbody .axl.error)"
expect "the FAC is saved" "Ops|failed|t" \
  "$(sql "SELECT name, axl_state, pending_code IS NOT NULL FROM fac_codes WHERE id = $fac2")"
rm -f "$sink/fail"
s=$(req POST "/api/v1/facs/$fac2/push" "${A[@]}")
keep
expect "push again" 200 "$s"
expect "push: synced" synced "$(jbody .axl.state)"
expect "push: error cleared" "" "$(jbody .axl.error)"
expect "retried addFacInfo" addFacInfo "$(last_axl '["op"]')"
expect "retried with the code" "$code3" "$(last_axl '["fields"]["code"]')"
expect "pending code wiped" t "$(sql "SELECT pending_code IS NULL FROM fac_codes WHERE id = $fac2")"
expect "push as viewer" 403 "$(req POST "/api/v1/facs/$fac2/push" "${V[@]}")"

# AXL down (nobody listening)
sink_stop
s=$(req PATCH "/api/v1/facs/$fac2" "${A[@]}" -d '{"authorization_level":9}')
keep
expect "patch while CUCM is down" 200 "$s"
expect "down: state failed" failed "$(jbody .axl.state)"
expect "down: the level is saved" 9 "$(jbody .authorization_level)"
[ -n "$(jbody .axl.error)" ] && ok "down: error ($(jbody .axl.error))" || fail "down: no error"
code4=11223
s=$(req POST /api/v1/facs "${A[@]}" -d "{\"name\":\"Field Team\",\"code\":\"$code4\",\"authorization_level\":2}")
keep
expect "create while CUCM is down" 201 "$s"
fac4=$(jbody .id)
expect "down: created, failed" failed "$(jbody .axl.state)"
s=$(req POST /api/v1/facs/push "${A[@]}")
keep
expect "push all while down" 200 "$s"
expect "push all: stops at the first unreachable" "1|0|true" \
  "$(jq -r '"\(.attempted)|\(.synced)|\(.stopped)"' "$work/body")"
sink_start
n0=$(axl_count)
s=$(req POST /api/v1/facs/push "${A[@]}")
keep
expect "push all after CUCM is back" "2|2|0|false" \
  "$(jq -r '"\(.attempted)|\(.synced)|\(.failed)|\(.stopped)"' "$work/body")"
expect "push all: both synced" "synced synced" "$(jq -r '[.facs[].axl.state] | join(" ")' "$work/body")"
expect "push all: two AXL requests" $((n0 + 2)) "$(axl_count)"
expect "pushed add carries the code" "$code4" "$(last_axl '["fields"]["code"]')"
expect "pushed level of the other" 9 \
  "$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["fields"]["authorizationLevel"])' "$sink/$((n0 + 1)).json")"
expect "push all as viewer" 403 "$(req POST /api/v1/facs/push "${V[@]}")"

# ---- a CUCM fault: the name is taken there --------------------------------------------
s=$(req POST /api/v1/facs "${A[@]}" -d '{"name":"Sales Team","code":"999000","authorization_level":3}')
keep
fac3=$(jbody .id)
expect "create a name CUCM has" 201 "$s"
expect "CUCM's duplicate fault" failed "$(jbody .axl.state)"
[[ $(jbody .axl.error) == *"duplicate value"* ]] && ok "fault reported" ||
  fail "fault: $(jbody .axl.error)"

# ---- import from listFacInfo ---------------------------------------------------------
s=$(req POST /api/v1/facs/import "${A[@]}")
keep
expect "import" 200 "$s"
expect "import: listed" 6 "$(jbody .listed)"
expect "import: created (Night Shift)" 1 "$(jbody .created)"
expect "import: updated (Legal Team, R&D, Ops, Field Team, Sales Team)" 5 "$(jbody .updated)"
expect "import: without code" 1 "$(jbody .without_code)"
expect "AXL op" listFacInfo "$(last_axl '["op"]')"
expect "listFacInfo asks for the codes" "name,code,authorizationLevel" \
  "$(last_axl '["fields"]["returnedTags"]')"
expect "Sales Team: CUCM's level and code" "10|$(hmac_of 4455)|synced" \
  "$(sql "SELECT authorization_level, code_hash, axl_state FROM fac_codes WHERE id = $fac3")"
expect "Night Shift: no code returned" "5|t|t" \
  "$(sql "SELECT authorization_level, code_hash IS NULL, cucm_uuid IS NOT NULL FROM fac_codes WHERE name = 'Night Shift'")"
s=$(req GET "/api/v1/facs?q=night" "${V[@]}")
expect "list q=night" "Night Shift" "$(jbody '.facs[0].name')"
expect "has_code false" false "$(jq -r '.facs[0].has_code' "$work/body")"

# ---- list, get --------------------------------------------------------------------------
s=$(req GET "/api/v1/facs?limit=3" "${V[@]}")
keep
expect "list limit 3" 3 "$(jbody '.facs | length')"
next=$(jbody .next)
s=$(req GET "/api/v1/facs?limit=3&after=$next" "${V[@]}")
expect "list page 2" 3 "$(jbody '.facs | length')"
expect "list last page" "" "$(jbody .next)"
expect "get" 200 "$(req GET "/api/v1/facs/$fac1" "${V[@]}")"
keep
expect "get: name" "Legal Team" "$(jbody .name)"
expect "get unknown" 404 "$(req GET /api/v1/facs/4242 "${V[@]}")"

# ---- delete -> removeFacInfo ------------------------------------------------------------
s=$(req DELETE "/api/v1/facs/$fac1" "${A[@]}")
keep
expect "delete" 200 "$s"
expect "delete: inactive" false "$(jq -r .active "$work/body")"
expect "delete: synced" synced "$(jbody .axl.state)"
expect "AXL op" removeFacInfo "$(last_axl '["op"]')"
expect "removeFacInfo name" "Legal Team" "$(last_axl '["fields"]["name"]')"
s=$(req GET "/api/v1/facs?active=false" "${V[@]}")
expect "list active=false" "$fac1" "$(jbody '.facs[0].id')"
expect "no request of a bad shape reached the sink" "" \
  "$(grep -l '"shape_ok": false' "$sink"/[0-9]*.json 2>/dev/null)"

# ---- the report --------------------------------------------------------------------------
sql "
INSERT INTO cdrs (call_id, source, direction, start_at, answer_at, end_at,
  duration, billsec, cost, fac_id) VALUES
 ('fac-1', 'cucm', 'outbound', '2026-03-02 10:00:00+00', '2026-03-02 10:00:05+00', '2026-03-02 10:02:05+00', 125, 120, 1500000, $fac1),
 ('fac-2', 'cucm', 'outbound', '2026-03-03 11:00:00+00', '2026-03-03 11:00:02+00', '2026-03-03 11:00:47+00', 47, 45, 250000, $fac1),
 ('fac-3', 'cucm', 'outbound', '2026-03-04 12:00:00+00', NULL, '2026-03-04 12:00:30+00', 30, 0, 0, $fac1),
 ('fac-4', 'cucm', 'outbound', '2026-03-05 09:00:00+00', '2026-03-05 09:00:01+00', '2026-03-05 09:10:01+00', 601, 600, 7000000, $fac2),
 ('fac-5', 'cucm', 'outbound', '2026-04-20 09:00:00+00', '2026-04-20 09:00:01+00', '2026-04-20 09:01:01+00', 61, 60, 900000, $fac2),
 ('nofac', 'cucm', 'outbound', '2026-03-05 09:00:00+00', '2026-03-05 09:00:01+00', '2026-03-05 09:01:01+00', 61, 60, 100000, NULL);" ||
  fail "cdrs seed"
s=$(req GET "/api/v1/facs/report?from=2026-03-01&to=2026-03-31" "${V[@]}")
keep
expect "report" 200 "$s"
expect "report rows (FACs with calls)" 2 "$(jbody '.rows | length')"
# Ops: 1 call, 600 s = 10.0000 min, 7.000000; Legal: 3 calls (2 answered),
# 165 s = 2.7500 min, 1.500000 + 0.250000 = 1.750000 (dearest first)
expect "report Ops" "$fac2|1|1|600|10.0000|7.000000" \
  "$(jq -r '.rows[0] | "\(.fac_id)|\(.calls)|\(.answered)|\(.seconds)|\(.minutes)|\(.cost)"' "$work/body")"
expect "report Legal" "$fac1|Legal Team|3|2|165|2.7500|1.750000" \
  "$(jq -r '.rows[1] | "\(.fac_id)|\(.name)|\(.calls)|\(.answered)|\(.seconds)|\(.minutes)|\(.cost)"' "$work/body")"
expect "report over 31 days" 400 "$(req GET "/api/v1/facs/report?from=2026-03-01&to=2026-04-21" "${V[@]}")"
expect "report bad from" 400 "$(req GET "/api/v1/facs/report?from=yesterday" "${V[@]}")"
expect "report without a session" 401 "$(req GET "/api/v1/facs/report")"

# ---- the audit ------------------------------------------------------------------------------
expect "audited" "fac_create fac_deactivate fac_import fac_push fac_update" \
  "$(sql "SELECT string_agg(DISTINCT action, ' ' ORDER BY action) FROM audit_log WHERE action LIKE 'fac%'")"

# ---- the code is nowhere but in CUCM's envelopes ------------------------------------------
pg_dump "$dburl" >"$work/dump.sql" 2>/dev/null || fail "pg_dump"
for c in $code1 $code2 $code3 $code4; do
  # As a value of its own: not inside a hex hash, a number or a timestamp's
  # fraction (a 5-digit code matched one of those by chance in a CI run).
  grep -qE "(^|[^0-9a-fA-F.])$c([^0-9a-fA-F]|\$)" "$work/dump.sql" &&
    fail "code $c found in PostgreSQL" || ok "code $c not in PostgreSQL"
  grep -q "$c" "$work/apolod.log" && fail "code $c found in the log" || ok "code $c not in the log"
  grep -q "$c" "$bodies" && fail "code $c found in an answer" || ok "code $c not in the answers"
  grep -lq "$c" "$sink"/[0-9]*.xml && ok "code $c was sent to CUCM" || fail "code $c never sent"
done

# ---- no fac.secret: no code can be stored -------------------------------------------------
t_stop
t_start APOLO_FAC_SECRET=
tok=$(login admin 'admin password 1')
A=(-H "Authorization: Bearer $tok" -H 'Content-Type: application/json')
s=$(req POST /api/v1/facs "${A[@]}" -d '{"name":"No Secret","code":"1357","authorization_level":1}')
expect "create without fac.secret" 422 "$s"
[[ $(jbody .error.message) == *fac.secret* ]] && ok "the message names fac.secret" ||
  fail "message: $(jbody .error.message)"
s=$(req PATCH "/api/v1/facs/$fac2" "${A[@]}" -d '{"authorization_level":11}')
expect "a change without a code needs no secret" 200 "$s"

t_done
