#!/usr/bin/env bash
# tests/fuzz/run.sh -- runs the libFuzzer targets (tests/fuzz/fuzz.mk calls
# it; the programs and the seed corpus must be built).
#
#   tests/fuzz/run.sh MODE SECONDS JOBS BUILD TARGET...
#
#   MODE fuzz   each target for SECONDS; new inputs are kept in
#               BUILD/corpus/<target>/ and used by the next runs
#   MODE check  each target for SECONDS from the seeds (and BUILD/corpus
#               when `make fuzz` made one) into a scratch corpus, then
#               every file of tests/fuzz/crashes/<target>/ replayed
#
# JOBS targets run at a time. Per target it prints the executions and the
# coverage reached:
#
#   FUZZ <target> <execs> execs
#        cov <edges> ft <features> corpus <inputs> exec/s <n>
#
# and, for a crash, the input saved under BUILD/artifacts/<target>/ with
# the report. Exit status 1 when anything crashed (fuzzing or replay).
# Logs: BUILD/logs/<target>.log, BUILD/logs/replay-<target>.log.
set -uo pipefail
mode=${1:?mode}; secs=${2:?seconds}; jobs=${3:?jobs}; out=${4:?build}
shift 4
targets=("$@")
top=$(cd "$(dirname "$0")/../.." && pwd)
logs=$out/logs
mkdir -p "$logs"
# UBSan's reports with their stacks (ASan's have them anyway)
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
start=$(date +%s)

# The largest input tried: the seeds' sizes (bigger is only slower).
max_len() {
    case $1 in
        esl) echo 16384 ;;
        cucm|xlsx|bulk_file) echo 20480 ;;
        *) echo 8192 ;;
    esac
}

fuzz_one() {
    local t=$1 bin=$out/fuzz_$1 corpus extra=() dict=()
    if [ "$mode" = fuzz ]; then
        corpus=$out/corpus/$t
    else
        corpus=$out/check/$t
        rm -rf "$corpus"
        [ -d "$out/corpus/$t" ] && extra=("$out/corpus/$t")
    fi
    mkdir -p "$corpus" "$out/artifacts/$t" "$out/seeds/$t"
    [ -f "$top/tests/fuzz/dict/$t.dict" ] &&
        dict=("-dict=$top/tests/fuzz/dict/$t.dict")
    # -timeout: one input running that long is a hang (the machine may be
    # loaded: generous); -rss_limit_mb: an input needing more is a leak or
    # an unbounded allocation
    "$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2560 \
        -max_len="$(max_len "$t")" -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$t/" "${dict[@]}" \
        "$corpus" "$out/seeds/$t" "${extra[@]}" >"$logs/$t.log" 2>&1
    echo $? >"$logs/$t.rc"
}

for t in "${targets[@]}"; do
    if [ ! -x "$out/fuzz_$t" ]; then
        echo "no program $out/fuzz_$t (make fuzz-build)" >&2
        exit 2
    fi
    rm -f "$logs/$t.rc"
done

# JOBS at a time
running=0
for t in "${targets[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    fuzz_one "$t" &
    running=$((running + 1))
done
wait

# The report of a crash: from the first line of the sanitizer's or the
# invariant's report, at most 40 lines, without libFuzzer's own frames.
show_report() {
    awk '/INVARIANT BROKEN|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|^==[0-9]+==/ {on=1} on' "$1" |
        grep -v -E 'in fuzzer::|libFuzzer has rudimentary|Combine libFuzzer|^MS: |^0x|^artifact_prefix|^Base64|^stat::' |
        grep -v -E '#[0-9]+ 0x[0-9a-f]+ +(in (__sanitizer_print_stack_trace|__pthread_kill_implementation|raise|abort|main|_start|__libc_start_call_main|__libc_start_main) |\(/lib/)' |
        head -n 40 | sed 's/^/      /'
}

failed=0
for t in "${targets[@]}"; do
    log=$logs/$t.log
    rc=$(cat "$logs/$t.rc" 2>/dev/null || echo 99)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
    edges=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$cov")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$cov")
    corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$cov")
    echo "FUZZ $t ${execs:-0} execs"
    echo "     cov ${edges:-?} ft ${ft:-?} corpus ${corp:-?} exec/s ${rate:-?}"
    if [ "$rc" != 0 ]; then
        failed=1
        art=$(sed -n "s/.*Test unit written to \(.*\)/\1/p" "$log" | tail -n 1)
        echo "  CRASH in $t (exit $rc): input ${art:-?} (log $log)"
        show_report "$log"
    fi
done

if [ "$mode" = check ]; then
    for t in "${targets[@]}"; do
        dir=$top/tests/fuzz/crashes/$t
        [ -d "$dir" ] || continue
        n=0; bad=0
        : >"$logs/replay-$t.log"
        for f in "$dir"/*; do
            [ -f "$f" ] || continue
            case $f in *.md|*.txt) continue ;; esac
            n=$((n + 1))
            if ! "$out/fuzz_$t" "$f" >>"$logs/replay-$t.log" 2>&1; then
                bad=$((bad + 1))
                failed=1
                echo "  REPLAY CRASH $t: ${f#"$top"/}"
                "$out/fuzz_$t" "$f" 2>&1 >/dev/null | cat >"$logs/one.log"
                show_report "$logs/one.log"
            fi
        done
        echo "REPLAY $t $n inputs, $bad crashed"
    done
fi

echo "fuzz $mode: ${#targets[@]} targets, $(( $(date +%s) - start )) s," \
     "$([ $failed = 0 ] && echo "no crash" || echo "CRASHES (see above)")"
exit $failed
