#!/usr/bin/env bash
# Runs every benchmark of a build against a private PostgreSQL and prints
# the BENCH lines, then the ratios between figures measured in this run.
# Usage: bench/run.sh build/release   (BENCH_QUICK=1 for a short run)
set -uo pipefail
out=${1:?build folder}
top=$(cd "$(dirname "$0")/.." && pwd)
pgdir=$(mktemp -d /tmp/apolo-bench-pg.XXXXXX)
export APOLO_PGPORT=${APOLO_PGPORT:-$((20000 + RANDOM % 20000))}
cleanup() { "$top/tests/pg.sh" stop "$pgdir" || true; rm -rf "$pgdir"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
eval "$("$top/tests/pg.sh" start "$pgdir")" || exit 1
export APOLO_TOP=$top

results=$(mktemp)
status=0
for b in "$out"/bench/bench_*; do
  [ -x "$b" ] && [ -f "$b" ] || continue
  case $b in *.o|*.d) continue ;; esac
  echo "# $(basename "$b")" >&2
  "$b" | tee -a "$results" || status=1
done

# Ratios: name = numerator / denominator, both from this run.
ratio() {
  awk -v n="$2" -v d="$3" -v name="$1" '
    $1 == "BENCH" && $2 == n { a = $3 }
    $1 == "BENCH" && $2 == d { b = $3 }
    END { if (a != "" && b > 0) printf "BENCH %s %.2f x\n", name, a / b }' "$results"
}
{
  ratio lpm_ratio_vs_pg_prefix lpm_1m_per_sec pg_prefix_lpm_1m_per_sec
  ratio lpm_ratio_vs_pg_seed   lpm_1m_per_sec pg_seed_lpm_1m_per_sec
  ratio lpm_ratio_vs_pointer_trie lpm_1m_per_sec lpm_pointer_trie_1m_per_sec
} | tee -a "$results"
rm -f "$results"
exit $status
