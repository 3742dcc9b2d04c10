#!/usr/bin/env bash
# Runs every test of a build against a private PostgreSQL and ends with the
# line "N passed, M failed". Usage: tests/run.sh build/debug [NAME...]
# (names: only those tests, e.g. test_seen t_cucm.sh; TEST_ONLY=programs:
# the C test programs only).
#
# A test is a program build/*/tests/test_* or a script tests/t_*.sh. It passes
# when it exits 0 and, on the sanitizer build (build/asan), when no process
# it started wrote an AddressSanitizer, LeakSanitizer or UBSan report: each
# test's processes write theirs to build/asan/tests/logs/sanitizer-NAME/
# (log_path), a worker the supervisor restarted included, and one report
# fails the test.
#
# TEST_JOBS tests run at once (default 2: most scripts spend their time
# waiting on processes, sockets and timers; every test has its own
# database, ports and temporary folder). Each has its own time limit
# (TEST_TIMEOUT, seconds); its output goes to build/*/tests/logs/NAME.log
# and is shown when it fails. The longest scripts start first.
set -uo pipefail
out=${1:?build folder}
shift
top=$(cd "$(dirname "$0")/.." && pwd)
logs="$out/tests/logs"; mkdir -p "$logs"
logs=$(cd "$logs" && pwd)
pgdir=$(mktemp -d /tmp/apolo-pg.XXXXXX)
export APOLO_PGPORT=${APOLO_PGPORT:-$((20000 + RANDOM % 12000))}

cleanup() {
  local p
  for p in $(jobs -p); do kill -TERM "$p" 2>/dev/null; done
  wait 2>/dev/null
  "$top/tests/pg.sh" stop "$pgdir" || true; rm -rf "$pgdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

eval "$("$top/tests/pg.sh" start "$pgdir")" || { echo "0 passed, 1 failed"; exit 1; }
export APOLO_TOP=$top APOLO_BUILD=$out
sanitized=0
case $out in */asan|asan) sanitized=1 ;; esac

# The order: long scripts first (they bound the total), then the rest.
long="t_esl.sh t_dashboard.sh t_api_bulk.sh t_fault.sh t_cucm.sh t_crash.sh
      t_supervisor.sh t_roles.sh t_alerts.sh"
tests=()
for n in $long; do [ -x "$top/tests/$n" ] && tests+=("$top/tests/$n"); done
for t in "$out"/tests/test_* "$top"/tests/t_*.sh; do
  [ -x "$t" ] && [ -f "$t" ] || continue
  case $t in *.o|*.d) continue ;; esac
  [[ " $(echo $long) " == *" $(basename "$t") "* ]] && continue
  tests+=("$t")
done
if [ "${TEST_ONLY:-}" = programs ]; then
  picked=()
  for t in "${tests[@]}"; do [[ $t == */tests/test_* ]] && picked+=("$t"); done
  tests=("${picked[@]}")
fi
if [ $# -gt 0 ]; then
  picked=()
  for t in "${tests[@]}"; do
    for n in "$@"; do [ "$(basename "$t")" = "$n" ] && picked+=("$t"); done
  done
  tests=("${picked[@]}")
fi

# run_one PATH: runs the test, writes NAME.rc and NAME.secs beside its log.
run_one() {
  local t=$1 name rc start san=""
  name=$(basename "$t")
  start=$(date +%s.%N)
  if [ $sanitized = 1 ]; then
    san=$logs/sanitizer-$name; rm -rf "$san"; mkdir -p "$san"
    ASAN_OPTIONS="log_path=$san/asan:detect_leaks=1" \
    UBSAN_OPTIONS="log_path=$san/ubsan:print_stacktrace=1" \
    LSAN_OPTIONS="suppressions=$top/tests/lsan.supp" \
      timeout -k 5 "${TEST_TIMEOUT:-300}" "$t" >"$logs/$name.log" 2>&1
    rc=$?
    if [ -n "$(ls -A "$san")" ]; then
      { echo "--- sanitizer reports:"; head -n 60 "$san"/*; } >>"$logs/$name.log"
      [ $rc -eq 0 ] && rc=99
    else
      rmdir "$san"
    fi
  else
    timeout -k 5 "${TEST_TIMEOUT:-300}" "$t" >"$logs/$name.log" 2>&1
    rc=$?
  fi
  awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}' \
    >"$logs/$name.secs"
  echo $rc >"$logs/$name.rc"
}

passed=0; failed=0
report() {
  local name=$1 rc secs
  rc=$(cat "$logs/$name.rc"); secs=$(cat "$logs/$name.secs")
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1)); printf 'ok    %-32s %6ss\n' "$name" "$secs"
  else
    failed=$((failed + 1))
    printf 'FAIL  %-32s %6ss (exit %d)\n' "$name" "$secs" "$rc"
    tail -n 40 "$logs/$name.log" | sed 's/^/      /'
  fi
}

declare -A running=()
for t in "${tests[@]}"; do
  while [ ${#running[@]} -ge "${TEST_JOBS:-2}" ]; do
    wait -n 2>/dev/null
    for p in "${!running[@]}"; do
      [ -f "$logs/${running[$p]}.rc" ] || continue
      report "${running[$p]}"; unset "running[$p]"
    done
  done
  name=$(basename "$t"); rm -f "$logs/$name.rc"
  run_one "$t" &
  running[$!]=$name
done
wait
for p in "${!running[@]}"; do report "${running[$p]}"; done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
