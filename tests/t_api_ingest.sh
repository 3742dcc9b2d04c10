#!/usr/bin/env bash
# t_api_ingest.sh -- CDRs posted over HTTP (admin/api_ingest.c), exactly
# once by call id, over real HTTP (curl), with apolod and the private
# PostgreSQL of tests/run.sh (DATABASE_URL, APOLO_TOP, APOLO_BUILD).
#
#   - a FreeSWITCH mod_json_cdr body: 201, the cost computed by hand, the
#     live balance moved once; posted again: duplicate, nothing moves
#   - 10 parallel posts of one new call id: one 201, one charge
#   - mod_xml_cdr bodies in every `encode` form (cdr= percent-encoded,
#     base64, plain; the document as is), duplicates across formats, bad
#     XML (not well-formed, wrong root, no variables, a DOCTYPE) 400
#   - a plain JSON CDR (ISO 8601 times); an unanswered call (cost 0, the
#     CDR written); an inbound call (not charged); unknown payer 422
#     no_payer; malformed JSON 400; a viewer 403
#   - the simulator (tests/fssim, tests/esl/ingest.fss): a call the ESL
#     worker recorded, posted again: duplicate; a call whose hangup was
#     lost (recorded estimated), then its exact CDR: corrected once, the
#     balance = the exact cost
#   - after the stop, in PostgreSQL: one CDR per call id, opening + ledger
#     = balance for every account
#
# KEEP=1 keeps the temp folder.
. "$(dirname "$0")/lib.sh"
fssim=$build/fssim
sim=""
t_on_exit() { [ -n "$sim" ] && kill -9 "$sim" 2>/dev/null; }
t_init ingest

# 4 HTTP threads + 1 ESL worker <= 8 rings
t_conf <<EOF
esl.debit_interval_sec = 5
esl.ring_allowance_sec = 2
esl.reconnect_max_ms = 400
EOF

t_migrate
# 5491 costs 1.000000 a second (60/min, 1/1); 54 costs 6.000000 a started
# minute (60/60).
sql "
INSERT INTO rate_plans (id, name, currency, time_zone, rounding, number_rules)
  VALUES (1, 'Ingest test', 'ARS', 'UTC', 'up', '');
INSERT INTO zones (id, code, name) VALUES (1, 'AR', 'Argentina'),
  (2, 'AR-MOB', 'Argentina mobile');
INSERT INTO deck_versions (plan_id, version, actor) VALUES (1, 1, 't_ingest');
INSERT INTO rates (plan_id, prefix, zone_id, rate_per_minute, connection_fee,
                   first_increment, next_increment, effective_from, deck_version)
  VALUES (1, '54', 1, 6000000, 0, 60, 60, '2024-01-01', 1),
         (1, '5491', 2, 60000000, 0, 1, 1, '2024-01-01', 1);
INSERT INTO accounts (id, code, name, type, status, balance, credit_limit,
                      currency, plan_id) VALUES
  (1, 'I1', 'FreeSWITCH JSON', 'prepaid', 'active', 100000000, 0, 'ARS', 1),
  (2, 'I2', 'parallel',        'prepaid', 'active', 100000000, 0, 'ARS', 1),
  (3, 'I3', 'plain JSON',      'prepaid', 'active', 100000000, 0, 'ARS', 1),
  (4, 'I4', 'ESL recorded',    'prepaid', 'active', 100000000, 0, 'ARS', 1),
  (5, 'I5', 'ESL estimated',   'prepaid', 'active',   4000000, 0, 'ARS', 1);
INSERT INTO extensions (number, account_id) VALUES
  ('2001', 1), ('2002', 2), ('2003', 3), ('2004', 4), ('2005', 5);
CREATE TABLE t_opening AS SELECT id, balance FROM accounts;" ||
  { fail "seeding the database"; exit 1; }

pw_oper='operator-secret-Pw2'
pw_view='viewer-secret-Pw3'
t_user operator operator "$pw_oper"
t_user viewer viewer "$pw_view"

# req METHOD PATH [curl args...]: status; body in $work/body (no headers)
req() {
  local m=$1 p=$2; shift 2
  curl -s -X "$m" -o "$work/body" -w '%{http_code}' "$@" "$base$p"
}
# fscdr UUID CALLER DEST BILLMSEC [ANSWERED=1]: a mod_json_cdr body
# (values percent-encoded as mod_json_cdr does by default)
fscdr() {
  local u=$1 from=$2 to=$3 ms=$4 answered=${5:-1} s=1767261600
  local ans=0; [ "$answered" = 1 ] && ans=$(( (s + 2) * 1000000 ))
  printf '{"core-uuid":"x","switchname":"fs1","channel_data":{"state":"CS_REPORTING"},"variables":{"uuid":"%s","caller_id_name":"Extension%%20%s","caller_id_number":"%s","destination_number":"%s","start_epoch":"%s","start_uepoch":"%s","answer_uepoch":"%s","end_uepoch":"%s","billmsec":"%s","billsec":"%s","hangup_cause":"NORMAL_CLEARING"},"callflow":[{"caller_profile":{"caller_id_number":"%s","destination_number":"%s"}}]}' \
    "$u" "$from" "$from" "$to" "$s" "$((s * 1000000))" "$ans" \
    "$(( (s + 2) * 1000000 + ms * 1000 + 1000 ))" "$ms" "$((ms / 1000))" "$from" "$to"
}
post_fs() { req POST /api/v1/cdrs/ingest/freeswitch-json "${A[@]}" -d "$1"; }
post_js() { req POST /api/v1/cdrs/ingest/json "${A[@]}" -d "$1"; }
post_xml() { local b=$1; shift; req POST /api/v1/cdrs/ingest/freeswitch-xml -H "Authorization: Bearer $tok" --data-binary "$b" "$@"; }
# fsxml UUID CALLER DEST BILLMSEC: a mod_xml_cdr document (values
# percent-encoded, as mod_xml_cdr writes them)
fsxml() {
  local u=$1 from=$2 to=$3 ms=$4 s=1767261600
  printf '<?xml version="1.0"?>\n<cdr core-uuid="x" switchname="fs1">\n  <channel_data><state>CS_REPORTING</state></channel_data>\n  <variables>\n    <uuid>%s</uuid>\n    <caller_id_name>A%%20%%26amp%%3B+B &amp; C</caller_id_name>\n    <caller_id_number>%s</caller_id_number>\n    <destination_number>%s</destination_number>\n    <start_uepoch>%s</start_uepoch>\n    <answer_uepoch>%s</answer_uepoch>\n    <end_uepoch>%s</end_uepoch>\n    <billmsec>%s</billmsec>\n    <hangup_cause>NORMAL_CLEARING</hangup_cause>\n  </variables>\n  <app_log><application app_name="park" app_data=""/></app_log>\n  <callflow dialplan="XML" profile_index="1">\n    <caller_profile>\n      <caller_id_number>%s</caller_id_number>\n      <destination_number>%s</destination_number>\n      <originatee><originatee_caller_profile><destination_number>999</destination_number></originatee_caller_profile></originatee>\n    </caller_profile>\n  </callflow>\n  <callflow dialplan="XML" profile_index="2"><caller_profile><destination_number>888</destination_number></caller_profile></callflow>\n</cdr>\n' \
    "$u" "$from" "$to" "$((s * 1000000))" "$(( (s + 2) * 1000000 ))" \
    "$(( (s + 2) * 1000000 + ms * 1000 + 1000 ))" "$ms" "$from" "$to"
}

# ---- run 1: HTTP only ---------------------------------------------------------
t_start
tok=$(login operator "$pw_oper")
vtok=$(login viewer "$pw_view")
[ -n "$tok" ] && [ -n "$vtok" ] || { fail "login"; exit 1; }
A=(-H "Authorization: Bearer $tok" -H 'Content-Type: application/json')

# 3499 ms -> 3 s (half up) -> 3.000000
st=$(post_fs "$(fscdr aaaaaaaa-0000-4000-8000-000000000001 2001 5491100000001 3499)")
expect "FreeSWITCH JSON CDR: 201" 201 "$st"
expect "its cost (3499 ms -> 3 s at 1.000000/s)" 3.000000 "$(jfield '["cost"]')"
expect "charged" True "$(jfield '["charged"]')"
expect "account" 1 "$(jfield '["account_id"]')"
expect "live balance of account 1 moved once" 97000000 "$(live 1)"
st=$(post_fs "$(fscdr aaaaaaaa-0000-4000-8000-000000000001 2001 5491100000001 3499)")
expect "the same CDR again: 200" 200 "$st"
expect "duplicate" duplicate "$(jfield '["status"]')"
expect "not charged again" False "$(jfield '["charged"]')"
expect "live balance of account 1 unchanged" 97000000 "$(live 1)"

# 10 parallel posts of one new call id: 3500 ms -> 4 s -> 4.000000
body=$(fscdr aaaaaaaa-0000-4000-8000-000000000002 2002 5491100000002 3500)
par=()
for i in $(seq 1 10); do
  curl -s -o /dev/null -w '%{http_code}\n' "${A[@]}" -d "$body" \
    "$base/api/v1/cdrs/ingest/freeswitch-json" >"$work/par.$i" &
  par+=($!)
done
wait "${par[@]}"
codes=$(cat "$work"/par.* | sort | uniq -c | tr -s ' ' | tr '\n' ',')
n201=$(cat "$work"/par.* | grep -c 201)
n200=$(cat "$work"/par.* | grep -c 200)
expect "10 parallel posts: one 201, nine 200 [$codes]" "1 9" "$n201 $n200"
expect "live balance of account 2: one charge of 4.000000" 96000000 "$(live 2)"

# a plain JSON CDR: 54 at 6.000000 a started minute, 61 s -> 12.000000
st=$(post_js '{"call_id":"pbx-7-1","caller":"2003","callee":"541100000003","start":"2026-01-01T10:00:00Z","answer":"2026-01-01T07:00:05-03:00","end":1767261666,"billsec":61}')
expect "plain JSON CDR: 201" 201 "$st"
expect "its cost (61 s, 60/60 at 6.000000)" 12.000000 "$(jfield '["cost"]')"
expect "live balance of account 3" 88000000 "$(live 3)"
st=$(post_js '{"call_id":"pbx-7-1","caller":"2003","callee":"541100000003","start":"2026-01-01T10:00:00Z","answer":"2026-01-01T10:00:05Z","end":1767261666,"billsec":61}')
expect "plain JSON CDR again: duplicate" "200 duplicate" "$st $(jfield '["status"]')"

# unanswered: cost 0, CDR written
st=$(post_fs "$(fscdr aaaaaaaa-0000-4000-8000-000000000003 2001 5491100000003 0 0)")
expect "unanswered: 201, cost 0, not charged" "201 0.000000 False" "$st $(jfield '["cost"]') $(jfield '["charged"]')"
# inbound to an extension: not charged (esl.charge_inbound = 0)
st=$(post_fs "$(fscdr aaaaaaaa-0000-4000-8000-000000000004 5491155550000 2001 5000)")
expect "inbound: 201, not charged" "201 False" "$st $(jfield '["charged"]')"
expect "live balance of account 1 still" 97000000 "$(live 1)"

# mod_xml_cdr, in the forms of its `encode` setting (admin/xml_cdr.h); the
# caller profile carries a nested <originatee> (not a value) and a '+' and
# an '&' that must survive: 2000 ms, 1000 ms, 500 ms (half up: 1 s), 1499 ms
# -> 2 + 1 + 1 + 1 = 5.000000 of account 1
st=$(post_xml "$(fsxml aaaaaaaa-0000-4000-8000-000000000006 2001 5491100000006 2000 | jq -sRr @uri | sed 's/^/cdr=/')" \
  -H 'Content-Type: application/x-www-form-urlencoded')
expect "XML CDR, cdr= percent-encoded: 201 2.000000" "201 2.000000" "$st $(jfield '["cost"]')"
st=$(post_xml "cdr=$(fsxml aaaaaaaa-0000-4000-8000-000000000007 2001 5491100000007 1000 | base64 -w 76)" \
  -H 'Content-Type: application/x-www-form-base64-encoded')
expect "XML CDR, cdr= base64: 201 1.000000" "201 1.000000" "$st $(jfield '["cost"]')"
st=$(post_xml "$(fsxml aaaaaaaa-0000-4000-8000-000000000008 2001 5491100000008 500)" -H 'Content-Type: text/xml')
expect "XML CDR as is (textxml): 201 1.000000" "201 1.000000" "$st $(jfield '["cost"]')"
st=$(post_xml "cdr=$(fsxml aaaaaaaa-0000-4000-8000-000000000009 2001 5491100000009 1499)" \
  -H 'Content-Type: application/x-www-form-plaintext')
expect "XML CDR, cdr= plain text: 201 1.000000" "201 1.000000" "$st $(jfield '["cost"]')"
expect "live balance of account 1: 97 - 5" 92000000 "$(live 1)"
st=$(post_xml "$(fsxml aaaaaaaa-0000-4000-8000-000000000001 2001 5491100000001 3499)" -H 'Content-Type: text/xml')
expect "a call posted as JSON, again as XML: duplicate" "200 duplicate 92000000" "$st $(jfield '["status"]') $(live 1)"
st=$(req POST /api/v1/cdrs/ingest/freeswitch-json -H "Authorization: Bearer $tok" \
  -H 'Content-Type: application/x-www-form-urlencoded' \
  --data-binary "cdr=$(fscdr aaaaaaaa-0000-4000-8000-000000000008 2001 5491100000008 500 | jq -sRr @uri)")
expect "mod_json_cdr's cdr= form, a call posted as XML: duplicate" "200 duplicate" "$st $(jfield '["status"]')"
for bad in 'not xml at all' '<cdr><variables><uuid>x</uuid>' '<foo><variables><uuid>x</uuid></variables></foo>' \
           '<cdr><callflow/></cdr>' \
           '<?xml version="1.0"?><!DOCTYPE cdr [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><cdr><variables><uuid>&b;</uuid></variables></cdr>'; do
  st=$(post_xml "$bad" -H 'Content-Type: text/xml')
  expect "bad XML CDR: 400 invalid_xml [${bad:0:30}]" "400 invalid_xml" "$st $(jfield '["error"]["code"]')"
done
st=$(post_xml 'cdr=@@@not base64@@@' -H 'Content-Type: application/x-www-form-base64-encoded')
expect "bad base64: 400" 400 "$st"
st=$(post_xml 'cdr=%3Ccdr%ZZ' -H 'Content-Type: application/x-www-form-urlencoded')
expect "bad percent escape: 400" 400 "$st"
expect "live balance of account 1 after the bad ones" 92000000 "$(live 1)"

# refused, nothing recorded
st=$(post_fs "$(fscdr aaaaaaaa-0000-4000-8000-000000000005 5491155550000 5491100000005 5000)")
expect "unknown payer: 422 no_payer" "422 no_payer" "$st $(jfield '["error"]["code"]')"
st=$(post_fs '{"variables": {"uuid": ')
expect "malformed JSON: 400" 400 "$st"
st=$(post_fs '{"callflow": []}')
expect "no variables: 400" 400 "$st"
st=$(post_js '{"call_id":"pbx-7-2","caller":"2003","callee":"541100000003","start":"yesterday","end":1767261666}')
expect "bad time: 422" 422 "$st"
st=$(post_js '{"call_id":"pbx-7-3","caller":"2003","callee":"541100000003","start":1767261600,"end":1767261500}')
expect "end before start: 422" 422 "$st"
st=$(req POST /api/v1/cdrs/ingest/json -H "Authorization: Bearer $vtok" -d '{}')
expect "viewer: 403" 403 "$st"

# ---- run 2: with the ESL worker and the simulator ---------------------------------
stop_apolod() { t_stop; local rc=$?; [ $rc -eq 0 ] || fail "apolod exited $rc"; }
stop_apolod
"$fssim" --listen 127.0.0.1:0 --quiet --script "$top/tests/esl/ingest.fss" \
  --report "$work/report.jsonl" >"$work/sim.out" 2>"$work/sim.err" &
sim=$!
simport=""
for _ in $(seq 1 50); do
  simport=$(grep -o 'FSSIM listening [0-9]*' "$work/sim.out" | grep -o '[0-9]*$')
  [ -n "$simport" ] && break
  sleep 0.1
done
[ -n "$simport" ] || { fail "fssim did not start"; cat "$work/sim.err"; exit 1; }
t_start APOLO_ESL_NODES="ClueCon@127.0.0.1:$simport"
wait "$sim"; simrc=$?
sim=""
[ $simrc -eq 0 ] && ok "the simulator's expectations held (the ESL worker rated both calls)" ||
  { fail "the simulator saw the engine miss (exit $simrc)"; head -20 "$work/sim.err"; }
uuid_of() { grep "\"name\": *\"$1\"" "$work/report.jsonl" | grep -o '"uuid": *"[^"]*"' | cut -d'"' -f4; }
u_rec=$(uuid_of recorded)
u_lost=$(uuid_of lostcut)
[ -n "$u_rec" ] && [ -n "$u_lost" ] || fail "no uuids in the simulator's report"
st=$(post_fs "$(fscdr "$u_rec" 2004 5491100000011 2000)")
expect "a call the ESL worker recorded, posted: duplicate, not charged" "200 duplicate False" \
  "$st $(jfield '["status"]') $(jfield '["charged"]')"
expect "live balance of account 4: charged once (2 s)" 98000000 "$(live 4)"
# the lost hangup: recorded estimated by the worker's audit (4 s paid,
# before the simulator's last call); while the worker still held it a post
# would be 409 in_progress (retried here). The exact CDR says 3.4 s -> 3 s:
# 1.000000 back.
for _ in $(seq 1 20); do
  st=$(post_fs "$(fscdr "$u_lost" 2005 5491100000012 3400)")
  [ "$st" = 409 ] || break
  sleep 0.5
done
expect "the exact CDR of an estimated call: corrected" "200 corrected 1.000000" \
  "$st $(jfield '["status"]') $(jfield '["delta"]')"
expect "live balance of account 5 = 4.000000 - the exact cost 3.000000" 1000000 "$(live 5)"
st=$(post_fs "$(fscdr "$u_lost" 2005 5491100000012 3400)")
expect "the exact CDR again: duplicate, nothing moves" "200 duplicate 1000000" \
  "$st $(jfield '["status"]') $(live 5)"

ncalls=12; bal4=98000000; bal5=1000000
# ---- the stop, and PostgreSQL ---------------------------------------------------
stop_apolod
expect "CDRs in PostgreSQL, one per call id" "$ncalls 0" \
  "$(sql "SELECT count(*) FROM cdrs") $(sql "SELECT count(*) FROM (SELECT call_id FROM cdrs GROUP BY 1 HAVING count(*) > 1) d")"
expect "CDR of the first call: cost, billsec, flags (posted)" "3000000 3 256 outbound freeswitch" \
  "$(sql "SELECT cost || ' ' || billsec || ' ' || flags || ' ' || direction || ' ' || source FROM cdrs WHERE call_id = 'aaaaaaaa-0000-4000-8000-000000000001'")"
expect "the CDR's zone name, filled when it was written (sql/010)" "2 Argentina mobile" \
  "$(sql "SELECT zone_id || ' ' || zone_name FROM cdrs WHERE call_id = 'aaaaaaaa-0000-4000-8000-000000000001'")"
expect "the unanswered CDR" "0 0" \
  "$(sql "SELECT cost || ' ' || billsec FROM cdrs WHERE call_id = 'aaaaaaaa-0000-4000-8000-000000000003'")"
expect "the inbound CDR (uncharged)" "0 5 inbound" \
  "$(sql "SELECT cost || ' ' || billsec || ' ' || direction FROM cdrs WHERE call_id = 'aaaaaaaa-0000-4000-8000-000000000004'")"
expect "no CDR for the refused ones" 0 \
  "$(sql "SELECT count(*) FROM cdrs WHERE call_id IN ('aaaaaaaa-0000-4000-8000-000000000005', 'pbx-7-2', 'pbx-7-3')")"
expect "ledger rows of account 2 (parallel posts)" "1 -4000000" \
  "$(sql "SELECT count(*) || ' ' || sum(amount) FROM ledger WHERE account_id = 2")"
bad=$(sql "SELECT string_agg(a.id || ': ' || o.balance || ' + ' ||
                  coalesce(l.s, 0) || ' <> ' || a.balance, ', ')
             FROM accounts a JOIN t_opening o USING (id)
             LEFT JOIN (SELECT account_id, sum(amount) s FROM ledger
                         GROUP BY 1) l ON l.account_id = a.id
            WHERE o.balance + coalesce(l.s, 0) <> a.balance")
expect "the correction in the ledger" "1 1000000 cdrfix:$u_lost" \
  "$(sql "SELECT count(*) || ' ' || sum(amount) || ' ' || min(reference) FROM ledger WHERE account_id = 5 AND kind = 'adjustment'")"
expect "the estimated CDR row stays as it was (append-only)" "4000000 4 8" \
  "$(sql "SELECT cost || ' ' || billsec || ' ' || (flags & 8) FROM cdrs WHERE call_id = '$u_lost'")"
[ -z "$bad" ] && ok "conservation: opening + ledger = balance, every account" ||
  fail "conservation broken: $bad"
expect "closing balances of accounts 1..5" "92000000 96000000 88000000 $bal4 $bal5" \
  "$(sql "SELECT string_agg(balance::text, ' ' ORDER BY id) FROM accounts")"

t_done
