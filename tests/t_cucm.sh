#!/usr/bin/env bash
# t_cucm.sh -- the CUCM worker (workers/cucm.h) end to end: a real apolod
# with cucm.dirs, files dropped the way CUCM's SFTP push drops them, CDRs
# and balances checked in a real PostgreSQL.
#
#   1. every fixture of tests/fixtures/cucm: done/, the right number of
#      CDRs, values checked by hand (cost, payer, FAC, flags, call id);
#      the FAC files: billed to the FAC's account, the level below the
#      zone's minimum flagged, an unanswered call free, an internal one
#      free; a CMR file bills nothing
#   2. bad input: garbage and a wrong header -> quarantine/ with a report
#      naming the line; a truncated file and a bad line in the middle ->
#      the rest billed, the report names the line; a '_' file is left
#      alone until renamed
#   3. a file delivered twice (same name, another name): nothing twice
#   4. kill -9 of the worker in the middle of a 200k-record (127 MB) file:
#      restarted, every call billed exactly once
#   5. kill -9 of apolod, start again, the same file once more: the set of
#      billed calls is rebuilt from PostgreSQL, nothing twice
#   and throughout: conservation (opening - CDR costs = balance) for every
#   account, one ledger debit per charged CDR, no journal reject.
#
# KEEP=1 keeps the temp folder.
. "$(dirname "$0")/lib.sh"
t_init cucm
fx=$top/tests/fixtures/cucm
drop=$work/drop
mkdir -p "$drop"
secret='t-cucm-fac-secret'

t_conf <<EOF
journal.slots = 1024
cucm.dirs = "$drop"
cucm.rescan_ms = 300
cucm.stable_ms = 500
cucm.dedupe_days = 36500
cucm.dedupe_entries = 1048576
fac.secret = "$secret"
EOF
t_migrate

hash() {
  /usr/bin/python3 -c 'import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())' "$secret" "$1"
}
# Money in micro-units. 9011: 0.60 a minute by the second (10000/s),
# zone INTL needs authorization level 20; 900: 1.20 a started minute;
# 2999: 0.06 a minute by the second (1000/s).
sql "
INSERT INTO rate_plans (id, name, currency, time_zone, rounding, number_rules)
  VALUES (1, 'CUCM test', 'USD', 'UTC', 'up', '');
INSERT INTO zones (id, code, name, min_authorization_level) VALUES
  (1, 'INTL', 'International', 20), (2, 'PREM', 'Premium', 0),
  (3, 'LOCAL', 'Local', 0);
INSERT INTO deck_versions (plan_id, version, actor) VALUES (1, 1, 't_cucm');
INSERT INTO rates (plan_id, prefix, zone_id, rate_per_minute, connection_fee,
                   first_increment, next_increment, effective_from,
                   deck_version)
  VALUES (1, '9011', 1, 600000, 0, 1, 1, '2010-01-01', 1),
         (1, '900', 2, 1200000, 0, 60, 60, '2010-01-01', 1),
         (1, '2999', 3, 60000, 0, 1, 1, '2010-01-01', 1);
INSERT INTO accounts (id, code, name, type, balance, credit_limit, currency,
                      plan_id, status) VALUES
  (1, 'LEGAL',  'FAC Legal pays',   'prepaid',  100000000, 0, 'USD', 1, 'active'),
  (2, 'E1001',  'extension 1001',   'prepaid',  100000000, 0, 'USD', 1, 'active'),
  (3, 'E1002',  'extension 1002',   'prepaid',  100000000, 0, 'USD', 1, 'active'),
  (4, 'SALES',  'FAC Sales, 2001-2', 'postpaid',         0, 500000000, 'USD', 1, 'active'),
  (5, 'REMOTE', 'RemoteCluster',    'prepaid',  100000000, 0, 'USD', 1, 'active'),
  (6, 'BAD',    'bad files',        'prepaid',  100000000, 0, 'USD', 1, 'active'),
  (7, 'KILL',   'killed mid-file',  'prepaid', 5000000000, 0, 'USD', 1, 'active');
INSERT INTO extensions (number, account_id) VALUES
  ('1001', 2), ('1002', 3), ('2001', 4), ('2002', 4), ('4925010000', 5),
  ('4925010006', 6), ('4925010007', 7);
INSERT INTO fac_codes (name, code_hash, authorization_level, account_id) VALUES
  ('Legal', '$(hash 4711)', 10, 1),
  ('Gerencia Técnica', '$(hash 90210)', 20, NULL),
  ('Sales Intl', '$(hash 5150)', 30, 4);
CREATE TABLE t_opening AS SELECT id, balance FROM accounts;" ||
  { fail "seeding the database"; exit 1; }

t_start

# drop SRC NAME: as the SFTP push does: written under '_NAME', renamed.
drop_file() {
  cp "$1" "$drop/_$2" && mv "$drop/_$2" "$drop/$2"
}
ncdr() { sql "SELECT count(*) FROM cdrs WHERE source = 'cucm' ${1:+AND $1}"; }
# wait_for SECONDS SQL-CONDITION-EXPECTED...: polls until `sql $2` = $3.
wait_sql() {
  local secs=$1 q=$2 want=$3 got
  for _ in $(seq 1 $((secs * 10))); do
    got=$(sql "$q"); [ "$got" = "$want" ] && return 0; sleep 0.1
  done
  echo "      (waited $secs s for [$q] = $want, last $got)"; return 1
}
wait_file() {
  for _ in $(seq 1 $(($1 * 10))); do [ -e "$2" ] && return 0; sleep 0.1; done
  return 1
}
row() { sql "SELECT $1 FROM cdrs WHERE call_id = '$2'"; }
check() {
  if [ "$2" = "$3" ]; then ok "$1 ($3)"; else fail "$1: expected [$2], got [$3]"; fi
}
conservation() {
  local bad
  bad=$(sql "SELECT string_agg(a.code || ': ' || o.balance || ' - ' ||
              coalesce(c.spent, 0) || ' <> ' || a.balance, '; ')
             FROM accounts a JOIN t_opening o USING (id)
             LEFT JOIN (SELECT account_id, sum(cost) AS spent FROM cdrs
                        GROUP BY 1) c ON c.account_id = a.id
             WHERE o.balance - coalesce(c.spent, 0) <> a.balance")
  check "$1: conservation, every account" "" "$bad"
  check "$1: one ledger debit per charged CDR" \
    "$(sql "SELECT count(*) FROM cdrs WHERE cost > 0")" \
    "$(sql "SELECT count(*) FROM ledger WHERE kind = 'call_debit'")"
  check "$1: no journal reject" 0 "$(sql "SELECT count(*) FROM journal_rejects")"
  check "$1: no call id twice" 0 \
    "$(sql "SELECT count(*) FROM (SELECT call_id FROM cdrs GROUP BY 1 HAVING count(*) > 1) d")"
}

# ---- 1. the fixtures ---------------------------------------------------------
for f in cdr.txt cdr_RemoteCluster_02_202306030358_120 \
         cdr_StandAloneCluster_02_201510091036_254831 \
         cdr_fac_ApoloLab_01_202511251830_1 cdr_fac_ApoloLab_01_202511251840_2 \
         cmr.txt; do
  drop_file "$fx/$f" "$f"
done
wait_sql 20 "SELECT count(*) FROM cdrs" 29 || fail "29 CDRs from the fixtures"
for _ in $(seq 1 50); do [ -z "$(ls "$drop" | grep -v '^done$\|^quarantine$')" ] && break; sleep 0.1; done
check "every fixture moved to done/" \
  "cdr.txt cdr_RemoteCluster_02_202306030358_120 cdr_StandAloneCluster_02_201510091036_254831 cdr_fac_ApoloLab_01_202511251830_1 cdr_fac_ApoloLab_01_202511251840_2 cmr.txt" \
  "$(cd "$drop/done" && ls | grep -v '\.report$' | sort | tr '\n' ' ' | sed 's/ $//')"
check "no report for clean files" "" "$(ls "$drop/done" | grep '\.report$')"
check "CDRs per cluster: cdr.txt, Remote, StandAlone, ApoloLab" "3 18 3 5" \
  "$(ncdr "call_id LIKE 'cucm:cucmOHSUtest:%'") $(ncdr "call_id LIKE 'cucm:RemoteCluster:%'") $(ncdr "call_id LIKE 'cucm:StandAloneCluster:%'") $(ncdr "call_id LIKE 'cucm:ApoloLab:%'")"

id=cucm:ApoloLab:1:310001:51000001:51000002
check "310001: FAC Legal's account pays 125 s at 0.60/min, level 10 < 20 flagged" \
  "1250000|1|1001|1001|9011541155551234|125|9011|1|outbound|128|Legal|16" \
  "$(row "cost, account_id, extension, caller, callee, billsec, prefix, zone_id, direction, flags, (SELECT name FROM fac_codes WHERE id = fac_id), hangup_cause" $id)"
check "310001: times from the file (UTC)" "2025-11-25 18:30:00+00|2025-11-25 18:30:12+00" \
  "$(sql "SET TIME ZONE 'UTC'; SELECT start_at, answer_at FROM cdrs WHERE call_id = '$id'" | tail -1)"
check "310002: FAC without account, the caller 1002 pays a started minute" \
  "1200000|3|0|Gerencia Técnica" \
  "$(row "cost, account_id, flags, (SELECT name FROM fac_codes WHERE id = fac_id)" cucm:ApoloLab:1:310002:51000003:51000004)"
check "310003: unanswered: free, flagged all the same" "0|1|0|128" \
  "$(row "cost, account_id, billsec, flags" cucm:ApoloLab:1:310003:51000005:51000006)"
check "310010: FAC Sales Intl by name (no code in the CDR), 300 s" \
  "3000000|4|0|Sales Intl" \
  "$(row "cost, account_id, flags, (SELECT name FROM fac_codes WHERE id = fac_id)" cucm:ApoloLab:1:310010:51000020:51000021)"
check "310011: internal 2002 -> 2001: free (uncharged)" "0|4|internal|1" \
  "$(row "cost, account_id, direction, flags" cucm:ApoloLab:1:310011:51000022:51000023)"
want=$(/usr/bin/python3 - "$fx/cdr_RemoteCluster_02_202306030358_120" <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], encoding="utf-8")))
h = rows[0]
d = [dict(zip(h, r)) for r in rows[2:] if len(r) == len(h)]
print(sum(int(r["duration"]) * 1000 for r in d if r["dateTimeConnect"] != "0"),
      sum(1 for r in d if r["dateTimeConnect"] == "0"))
EOF
)
check "RemoteCluster: 1000/s of every answered second; unanswered free" "$want" \
  "$(sql "SELECT sum(cost) || ' ' || count(*) FILTER (WHERE answer_at IS NULL) FROM cdrs WHERE account_id = 5")"
check "no payer (numbers not extensions): recorded, free, no account" "6|0" \
  "$(sql "SELECT count(*), sum(cost) FROM cdrs WHERE account_id IS NULL")"
req GET "/api/v1/facs/report?from=2025-11-01&to=2025-11-30" \
  -H "Authorization: Bearer $(t_user rep viewer 'rep-pw-12345678' && login rep 'rep-pw-12345678')" >/dev/null
check "FAC report: Legal 2 calls, 1.250000" "2 1.250000" \
  "$(jq -r '.rows[] | select(.name == "Legal") | "\(.calls) \(.cost)"' "$work/body" 2>/dev/null)"
tok=$(login rep 'rep-pw-12345678')
req GET "/api/v1/cdrs?from=2025-11-25T00:00:00Z&to=2025-11-26T00:00:00Z&account=1" \
  -H "Authorization: Bearer $tok" >/dev/null
check "CDR API: 310001 flagged fac_level_low, not unbilled nor fac_unknown" \
  "true false false cucm" \
  "$(jq -r '.cdrs[] | select(.call_id | endswith(":310001:51000001:51000002")) | "\(.fac_level_low) \(.unbilled) \(.fac_unknown) \(.source)"' "$work/body" 2>/dev/null)"
req GET /metrics -H "Authorization: Bearer $tok" >/dev/null
check "metrics: apolo_cucm_cdrs_total of cucm-1" 29 \
  "$(grep '^apolo_cucm_cdrs_total{worker="cucm-1"}' "$work/body" | awk '{print $2}')"
conservation "fixtures"

# ---- 2. bad input --------------------------------------------------------------
head -c 5000 /dev/urandom >"$work/garbage"
drop_file "$work/garbage" cdr_garbage_1
sed '1s/"cdrRecordType",//' "$fx/cdr_RemoteCluster_02_202306030358_120" >"$work/nohdr"
drop_file "$work/nohdr" cdr_noheader_1
/usr/bin/python3 "$top/tests/cucm_gen.py" "$work/trunc" --records 50 \
  --cluster TruncCluster --calling 4925010006 --duration 10 --truncate >/dev/null
drop_file "$work/trunc" cdr_TruncCluster_01_1
/usr/bin/python3 "$top/tests/cucm_gen.py" "$work/badline" --records 20 \
  --cluster BadLine --calling 4925010006 --duration 10 >/dev/null
# line 10 (record 8): duration "ten"
awk -F, 'BEGIN{OFS=","} NR==1{for(i=1;i<=NF;i++) if($i=="\"duration\"") d=i} NR==10{$d="ten"} {print}' \
  "$work/badline" >"$work/badline2"
drop_file "$work/badline2" cdr_BadLine_01_1
/usr/bin/python3 "$top/tests/cucm_gen.py" "$drop/_cdr_Partial_01_1" --records 5 \
  --cluster Partial --calling 4925010006 --duration 10 >/dev/null
wait_file 20 "$drop/quarantine/cdr_noheader_1.report" || fail "no quarantine report for the wrong header"
wait_file 20 "$drop/quarantine/cdr_garbage_1.report" || fail "no quarantine report for garbage"
wait_file 20 "$drop/done/cdr_BadLine_01_1.report" || fail "no report for the bad line"
wait_file 20 "$drop/done/cdr_TruncCluster_01_1.report" || fail "no report for the truncated file"
grep -q "line 1: not a CUCM CDR header (no cdrRecordType)" "$drop/quarantine/cdr_noheader_1.report" &&
  grep -q "result: quarantined" "$drop/quarantine/cdr_noheader_1.report" &&
  ok "wrong header: quarantined, the report says why" ||
  fail "wrong header report: $(cat "$drop/quarantine/cdr_noheader_1.report" 2>/dev/null)"
[ -e "$drop/quarantine/cdr_garbage_1" ] && ok "garbage: quarantined" || fail "garbage not in quarantine/"
grep -q '^line 10: duration: ' "$drop/done/cdr_BadLine_01_1.report" &&
  grep -q "19 billed" "$drop/done/cdr_BadLine_01_1.report" &&
  ok "bad line 10: named in the report, the other 19 billed" ||
  fail "bad line report: $(cat "$drop/done/cdr_BadLine_01_1.report")"
grep -q '^line 52: ' "$drop/done/cdr_TruncCluster_01_1.report" &&
  ok "truncated last line (52) named in the report" ||
  fail "truncated report: $(cat "$drop/done/cdr_TruncCluster_01_1.report")"
wait_sql 10 "SELECT count(*) FROM cdrs WHERE account_id = 6" 68 ||
  fail "bad files: 49 + 19 CDRs"
sleep 1
[ -e "$drop/_cdr_Partial_01_1" ] && [ "$(ncdr "call_id LIKE 'cucm:Partial:%'")" = 0 ] &&
  ok "a '_' file is left alone" || fail "the '_' file was taken"
mv "$drop/_cdr_Partial_01_1" "$drop/cdr_Partial_01_1"
wait_sql 10 "SELECT count(*) FROM cdrs WHERE call_id LIKE 'cucm:Partial:%'" 5 &&
  ok "renamed: billed" || fail "the renamed file was not billed"
conservation "bad input"

# ---- 3. delivered twice ------------------------------------------------------------
before=$(sql "SELECT count(*) || ' ' || (SELECT balance FROM accounts WHERE id = 5) FROM cdrs")
drop_file "$fx/cdr_RemoteCluster_02_202306030358_120" cdr_RemoteCluster_02_202306030358_120
drop_file "$fx/cdr_RemoteCluster_02_202306030358_120" cdr_RemoteCluster_02_resent_1
wait_file 20 "$drop/done/cdr_RemoteCluster_02_resent_1" || fail "resent file not done"
wait_file 20 "$drop/done/cdr_RemoteCluster_02_202306030358_120.1" || fail "same-name file not kept beside the first"
sleep 0.5
check "delivered twice: no CDR, no money" "$before" \
  "$(sql "SELECT count(*) || ' ' || (SELECT balance FROM accounts WHERE id = 5) FROM cdrs")"
grep -q "18 billed before" "$work/apolod.log" && ok "the log says: 18 billed before" ||
  fail "no 'billed before' in the log"

# ---- 4. kill -9 of the worker mid-file ------------------------------------------------
N=200000
gen=$(/usr/bin/python3 "$top/tests/cucm_gen.py" "$drop/_cdr_KillCluster_01_1" --records $N \
  --cluster KillCluster --calling 4925010007 --unanswered-every 7)
billsec=${gen##*billsec=}
echo "      generated $N records, $(du -m "$drop/_cdr_KillCluster_01_1" | cut -f1) MB"
mv "$drop/_cdr_KillCluster_01_1" "$drop/cdr_KillCluster_01_1"
wait_sql 60 "SELECT count(*) > 20000 FROM cdrs WHERE account_id = 7" t || fail "KillCluster billing did not start"
pid=$(grep -o 'cucm-1 started, pid [0-9]*' "$work/apolod.log" | tail -1 | grep -o '[0-9]*$')
kill -9 "$pid" && echo "      killed cucm-1 (pid $pid) at $(ncdr "account_id = 7") CDRs"
[ -e "$drop/cdr_KillCluster_01_1" ] && ok "the file stays while not done" || fail "file moved before the kill"
wait_file 120 "$drop/done/cdr_KillCluster_01_1" || fail "KillCluster not done after the restart"
wait_sql 60 "SELECT count(*) FROM cdrs WHERE account_id = 7" $N ||
  fail "KillCluster: $N CDRs"
check "KillCluster: $N CDRs, cost = 1000 x every answered second" "$N $((billsec * 1000))" \
  "$(sql "SELECT count(*) || ' ' || sum(cost) FROM cdrs WHERE account_id = 7")"
[ "$(grep -c 'cucm-1 started' "$work/apolod.log")" -ge 2 ] && ok "cucm-1 was restarted" ||
  fail "cucm-1 not restarted"
conservation "killed mid-file"

# ---- 5. apolod killed, started again: the set comes back from PostgreSQL ----------------
kill -9 "$sup"; wait "$sup" 2>/dev/null; sup=""
for _ in $(seq 1 50); do pgrep -f -- "-c $conf" >/dev/null || break; sleep 0.1; done
t_start
grep -q "CUCM calls billed: [1-9][0-9]* from PostgreSQL" "$work/apolod.log" &&
  ok "start: billed CUCM calls loaded from PostgreSQL" || fail "no load of billed calls in the log"
before=$(sql "SELECT count(*) || ' ' || sum(balance) FROM cdrs, (SELECT sum(balance) AS balance FROM accounts) b GROUP BY b.balance")
drop_file "$fx/cdr_fac_ApoloLab_01_202511251830_1" cdr_fac_again_1
drop_file "$fx/cdr_RemoteCluster_02_202306030358_120" cdr_Remote_again_1
wait_file 20 "$drop/done/cdr_Remote_again_1" && wait_file 20 "$drop/done/cdr_fac_again_1" ||
  fail "files after the restart not done"
sleep 0.5
check "after apolod's restart: the same calls again bill nothing" "$before" \
  "$(sql "SELECT count(*) || ' ' || sum(balance) FROM cdrs, (SELECT sum(balance) AS balance FROM accounts) b GROUP BY b.balance")"
conservation "after restart"
grep -E 'level=error' "$work/apolod.log" |
  grep -v -e 'quarantined' -e "cucm-1 (pid $pid) crashed with signal SIGKILL" |
  head -5 >"$work/errors"
check "no error logged but the quarantines and the kill" "" "$(cat "$work/errors")"
t_stop || fail "apolod did not stop cleanly"
t_done
