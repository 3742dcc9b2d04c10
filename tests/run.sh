#!/usr/bin/env bash
# Runs every test program of a build against a private PostgreSQL and ends
# with the line "N passed, M failed". Usage: tests/run.sh build/debug
#
# A test is a program build/*/tests/test_* or a script tests/t_*.sh. It passes
# when it exits 0 and, on the sanitizer build (build/asan), when no process
# it started wrote an AddressSanitizer, LeakSanitizer or UBSan report:
# reports go to build/asan/tests/logs/sanitizer/ (log_path), whatever
# process wrote them (a worker the supervisor restarted included), and one
# report fails the test. Each gets its own time limit (TEST_TIMEOUT, seconds), its
# output goes to build/*/tests/logs/NAME.log and is shown when it fails.
set -uo pipefail
out=${1:?build folder}
top=$(cd "$(dirname "$0")/.." && pwd)
logs="$out/tests/logs"; mkdir -p "$logs"
pgdir=$(mktemp -d /tmp/apolo-pg.XXXXXX)
export APOLO_PGPORT=${APOLO_PGPORT:-$((20000 + RANDOM % 20000))}

cleanup() { "$top/tests/pg.sh" stop "$pgdir" || true; rm -rf "$pgdir"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

eval "$("$top/tests/pg.sh" start "$pgdir")" || { echo "0 passed, 1 failed"; exit 1; }
export APOLO_TOP=$top APOLO_BUILD=$out
san=""
case $out in
  */asan|asan)
    san=$(cd "$logs" && pwd)/sanitizer; mkdir -p "$san"
    export ASAN_OPTIONS="log_path=$san/asan:detect_leaks=1:abort_on_error=0"
    export UBSAN_OPTIONS="log_path=$san/ubsan:print_stacktrace=1"
    export LSAN_OPTIONS="suppressions=$top/tests/lsan.supp"
    ;;
esac

passed=0; failed=0; failures=()
for t in "$out"/tests/test_* "$top"/tests/t_*.sh; do
  [ -x "$t" ] && [ -f "$t" ] || continue
  case $t in *.o|*.d) continue ;; esac
  name=$(basename "$t")
  start=$(date +%s.%N)
  [ -n "$san" ] && rm -f "$san"/*
  timeout -k 5 "${TEST_TIMEOUT:-300}" "$t" >"$logs/$name.log" 2>&1
  rc=$?
  if [ -n "$san" ] && [ -n "$(ls -A "$san")" ]; then
    { echo "--- sanitizer reports:"; head -n 60 "$san"/*; } >>"$logs/$name.log"
    [ $rc -eq 0 ] && rc=99
    mkdir -p "$logs/sanitizer-$name" && mv "$san"/* "$logs/sanitizer-$name/"
  fi
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1)); printf 'ok    %-32s %6ss\n' "$name" "$secs"
  else
    failed=$((failed + 1)); failures+=("$name")
    printf 'FAIL  %-32s %6ss (exit %d)\n' "$name" "$secs" "$rc"
    tail -n 40 "$logs/$name.log" | sed 's/^/      /'
  fi
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
