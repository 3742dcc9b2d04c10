#!/usr/bin/env bash
# t_api_metrics.sh -- GET /metrics and GET /api/v1/openapi.json
# (admin/api_metrics.c) with apolod, the FreeSWITCH simulator
# (tests/esl/metrics.fss: 3 calls authorized, 1 refused) and the private
# PostgreSQL of tests/run.sh.
#
#   - /metrics needs no session; text/plain; version=0.0.4; every line is
#     a # HELP / # TYPE line or a sample `name{labels} value`, each family's
#     TYPE before its samples, a family's samples together
#   - apolo_esl_calls_authorized_total{worker="esl-1"} 3, refused 1, CDRs 4;
#     the journal's depth back to 0 once the flusher drained; calls_active 0;
#     the flusher's records_total counted the 4 CDRs
#   - the ESL worker killed (kill -9) and restarted: no counter went back
#   - /api/v1/openapi.json needs no session, is JSON (jq when installed,
#     else a shape check) and lists /api/v1/authorize
#
# KEEP=1 keeps the temp folder.
. "$(dirname "$0")/lib.sh"
fssim=$build/fssim
pids=()
t_on_exit() {
  local p
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
}
t_init metrics
t_conf <<EOC
admin.threads = 2
esl.reconnect_max_ms = 400
EOC

t_migrate
sql "
INSERT INTO rate_plans (id, name, currency, time_zone, rounding, number_rules)
  VALUES (1, 'metrics', 'ARS', 'UTC', 'up', '');
INSERT INTO zones (id, code, name) VALUES (1, 'AR-MOB', 'Argentina mobile');
INSERT INTO deck_versions (plan_id, version, actor) VALUES (1, 1, 't_api_metrics');
INSERT INTO rates (plan_id, prefix, zone_id, rate_per_minute, connection_fee,
                   first_increment, next_increment, effective_from, deck_version)
  VALUES (1, '5491', 1, 60000000, 0, 1, 1, '2024-01-01', 1);
INSERT INTO accounts (id, code, name, type, balance, credit_limit, currency,
                      plan_id, status) VALUES
  (1, 'RICH', 'pays', 'prepaid', 1000000000, 0, 'ARS', 1, 'active'),
  (2, 'POOR', 'cannot pay', 'prepaid', 500000, 0, 'ARS', 1, 'active');
INSERT INTO extensions (number, account_id) VALUES ('1001', 1), ('1002', 2);" ||
  { fail "seeding the database"; exit 1; }

"$fssim" --listen 127.0.0.1:0 --quiet --script "$top/tests/esl/metrics.fss" \
  --report "$work/report.jsonl" >"$work/sim.out" 2>"$work/sim.err" &
sim=$!; pids+=("$sim")
simport=""
for _ in $(seq 1 50); do
  simport=$(grep -o 'FSSIM listening [0-9]*' "$work/sim.out" | grep -o '[0-9]*$')
  [ -n "$simport" ] && break
  sleep 0.1
done
[ -n "$simport" ] || { fail "fssim did not start"; cat "$work/sim.err"; exit 1; }
t_start APOLO_ESL_NODES="ClueCon@127.0.0.1:$simport"

metrics() { curl -s --max-time 5 "$base/metrics"; }
# value NAME_WITH_LABELS: the sample's value from $work/m
value() { awk -v n="$1" '$1 == n { print $2 }' "$work/m"; }

wait "$sim"; simrc=$?
[ $simrc -eq 0 ] && ok "the simulator's expectations held" ||
  { fail "the simulator saw the engine miss (exit $simrc)"; sed 's/^/      /' "$work/sim.err" | head -20; }

# The counters, once the 4 CDRs are journaled and drained.
drained=0
for _ in $(seq 1 100); do
  metrics >"$work/m"
  depth=$(awk '/^apolo_journal_depth\{/ { s += $2 } END { print s + 0 }' "$work/m")
  if [ "$(value 'apolo_esl_cdrs_total{worker="esl-1"}')" = 4 ] && [ "$depth" = 0 ]; then
    drained=1; break
  fi
  sleep 0.1
done
[ $drained = 1 ] && ok "4 CDRs counted and the journal drained (depth 0)" ||
  fail "CDRs $(value 'apolo_esl_cdrs_total{worker="esl-1"}'), journal depth $depth after 10 s"

# check_format FILE: the text exposition format, version 0.0.4.
check_format() {
  awk '
    function fam_of(s) { sub(/\{.*/, "", s); return s }
    /^# HELP / { if ($3 in helped) { print "HELP twice: " $3; bad++ } helped[$3] = 1; next }
    /^# TYPE / {
      if ($3 in typed) { print "TYPE twice: " $3; bad++ }
      if ($4 !~ /^(counter|gauge|untyped|summary|histogram)$/) { print "bad type: " $0; bad++ }
      typed[$3] = 1; if ($3 in sampled) { print "TYPE after samples: " $3; bad++ }
      if ($4 == "histogram" || $4 == "summary") hist[$3] = 1
      next
    }
    /^#/ { next }
    /^$/ { print "empty line"; bad++; next }
    {
      if ($0 !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*\})? -?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/) {
        print "bad sample line: " $0; bad++; next
      }
      f = fam_of($1)
      # a histogram'"'"'s samples: <family>_bucket (with le), _sum, _count
      if (!(f in typed)) { g = f; if (sub(/_(bucket|sum|count)$/, "", g) && (g in hist)) f = g }
      if (!(f in typed)) { print "sample before its TYPE: " $0; bad++ }
      if (f != cur && (f in sampled)) { print "samples of " f " not together"; bad++ }
      cur = f; sampled[f] = 1; n++
    }
    END { if (n == 0) { print "no samples"; bad++ } exit bad > 0 }' "$1"
}
if out=$(check_format "$work/m"); then
  ok "exposition format: $(grep -vc '^#' "$work/m") samples, HELP/TYPE before each family"
else
  fail "exposition format: $out"
fi
ct=$(curl -s -o /dev/null -w '%{content_type} %{http_code}' "$base/metrics")
[[ $ct == "text/plain; version=0.0.4"*" 200" ]] && ok "/metrics without a session: 200 $ct" ||
  fail "/metrics answered '$ct'"

expect() {   # NAME_WITH_LABELS WANT
  local got; got=$(value "$1")
  [ "$got" = "$2" ] && ok "$1 = $2" || fail "$1 = '${got}', expected $2"
}
w='{worker="esl-1"}'
expect "apolo_esl_calls_authorized_total$w" 3
expect "apolo_esl_calls_refused_total$w" 1
expect "apolo_esl_cdrs_total$w" 4
expect "apolo_esl_bad_events_total$w" 0
expect "apolo_esl_answers_missed_total$w" 0
# the verdict latency histogram: one verdict a call (3 transfers, 1 kill),
# cumulative buckets ending at +Inf = _count, a positive sum
expect "apolo_esl_verdict_seconds_count$w" 4
expect 'apolo_esl_verdict_seconds_bucket{worker="esl-1",le="+Inf"}' 4
if awk '$1 ~ /^apolo_esl_verdict_seconds_bucket\{worker="esl-1",/ {
          if ($2 < last) bad = 1; last = $2; n++ }
        END { exit !(n == 17 && !bad) }' "$work/m"; then
  ok "apolo_esl_verdict_seconds: 17 buckets, cumulative"
else
  fail "apolo_esl_verdict_seconds buckets: $(grep -c 'verdict_seconds_bucket' "$work/m") lines, or not cumulative"
fi
sum=$(value "apolo_esl_verdict_seconds_sum$w")
awk -v s="${sum:-0}" 'BEGIN { exit !(s > 0) }' && ok "apolo_esl_verdict_seconds_sum = $sum s" ||
  fail "apolo_esl_verdict_seconds_sum = '$sum'"
expect "apolo_calls_active" 0
expect "apolo_journal_unsynced" 0
expect "apolo_accounts" 2
expect "apolo_flusher_rejected_total" 0
ev=$(value "apolo_esl_events_total$w")
[ "${ev:-0}" -ge 12 ] && ok "apolo_esl_events_total = $ev" || fail "apolo_esl_events_total = '$ev'"
rt=$(value "apolo_esl_ratings_total$w")
[ "${rt:-0}" -ge 3 ] && ok "apolo_esl_ratings_total = $rt" || fail "apolo_esl_ratings_total = '$rt'"
fr=$(value apolo_flusher_records_total)
jr=$(value apolo_journal_records_total)
[ -n "$fr" ] && [ "$fr" = "$jr" ] && [ "$fr" -ge 4 ] &&
  ok "the flusher drained every journal record ($fr of $jr)" ||
  fail "flusher records_total '$fr', journal records_total '$jr'"
[ "$(value apolo_catalog_version)" -ge 1 ] 2>/dev/null && ok "apolo_catalog_version = $(value apolo_catalog_version)" ||
  fail "apolo_catalog_version = '$(value apolo_catalog_version)'"

# The ESL worker killed: its successor goes on from the same counters.
cp "$work/m" "$work/m.before"
esl_pid=$(grep -o 'esl-1 started, pid [0-9]*' "$work/apolod.log" | tail -1 | grep -o '[0-9]*$')
nstarts=$(grep -c 'esl-1 started, pid' "$work/apolod.log")
if [ -n "$esl_pid" ] && kill -9 "$esl_pid" 2>/dev/null; then
  for _ in $(seq 1 100); do
    [ "$(grep -c 'esl-1 started, pid' "$work/apolod.log")" -gt "$nstarts" ] && break
    sleep 0.1
  done
  [ "$(grep -c 'esl-1 started, pid' "$work/apolod.log")" -gt "$nstarts" ] &&
    ok "esl-1 (pid $esl_pid) killed and restarted" || fail "esl-1 was not restarted"
  sleep 0.5
  metrics >"$work/m"
  back=$(awk 'NR == FNR { if ($1 ~ /_total/) before[$1] = $2; next }
              ($1 in before) && $2 + 0 < before[$1] + 0 { print $1 " " before[$1] " -> " $2 }' \
           "$work/m.before" "$work/m")
  n=$(grep -c '^apolo_esl_.*_total{worker="esl-1"}' "$work/m")
  [ -z "$back" ] && [ "$n" -ge 10 ] && ok "after the restart no counter went back ($n esl-1 counters)" ||
    fail "after the restart: ${back:-only $n esl-1 counters}"
  expect "apolo_esl_calls_authorized_total$w" 3
else
  fail "no esl-1 pid in the log"
fi

# The OpenAPI document.
code=$(curl -s -o "$work/openapi.json" -w '%{http_code} %{content_type}' "$base/api/v1/openapi.json")
[[ $code == "200 application/json"* ]] && ok "/api/v1/openapi.json without a session: $code" ||
  fail "/api/v1/openapi.json answered '$code'"
if command -v jq >/dev/null; then
  jq -e '.openapi and .paths["/api/v1/authorize"].get and .components.securitySchemes.bearer' \
    "$work/openapi.json" >/dev/null && ok "openapi.json parses (jq) and lists GET /api/v1/authorize" ||
    fail "openapi.json does not parse or lacks /api/v1/authorize"
else
  head -c 1 "$work/openapi.json" | grep -q '{' && tail -c 2 "$work/openapi.json" | grep -q '}' &&
    grep -q '"/api/v1/authorize"' "$work/openapi.json" &&
    ok "openapi.json is an object and lists /api/v1/authorize (no jq: tests/test_openapi.c parses it)" ||
    fail "openapi.json is not an object or lacks /api/v1/authorize"
fi

t_stop; rc=$?
[ $rc -eq 0 ] || fail "apolod exited $rc"
grep -q 'stopping: .* 3 authorized, 1 refused' "$work/apolod.log" &&
  ok "the worker's stop line has the region's counters" ||
  fail "no 'stopping: ... 3 authorized, 1 refused' line"

t_done
