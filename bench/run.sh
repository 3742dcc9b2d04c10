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
export APOLO_TOP=$top APOLO_BUILD=$out

results=$(mktemp)
status=0
# Programs (bench/bench_*.c), then end-to-end scripts (bench/bench_*.sh)
# that start apolod (and the FreeSWITCH simulator, or drop CUCM CDR files:
# bench_cucm.sh).
for b in "$out"/bench/bench_* "$top"/bench/bench_*.sh; do
  [ -x "$b" ] && [ -f "$b" ] || continue
  case $b in *.o|*.d) continue ;; esac
  echo "# $(basename "$b")" >&2
  "$b" | tee -a "$results" || status=1
done

# Ratios: name = numerator / denominator, both from this run.
# A denominator may be given as a|b: the first figure present is used
# (BENCH_QUICK runs the PostgreSQL side on a 100k deck).
ratio() {
  awk -v n="$2" -v d="$3" -v name="$1" '
    BEGIN { nd = split(d, ds, "|") }
    $1 == "BENCH" && $2 == n { a = $3 }
    $1 == "BENCH" { for (i = 1; i <= nd; i++) if ($2 == ds[i] && !(i in v)) v[i] = $3 }
    END {
      for (i = 1; i <= nd; i++) if (i in v) { b = v[i]; break }
      if (a != "" && b > 0) printf "BENCH %s %.2f x\n", name, a / b
    }' "$results"
}
{
  ratio lpm_ratio_vs_pg_prefix lpm_1m_per_sec \
    'pg_prefix_lpm_1m_per_sec|pg_prefix_lpm_100k_per_sec'
  ratio lpm_ratio_vs_pg_seed lpm_1m_per_sec \
    'pg_seed_lpm_1m_per_sec|pg_seed_lpm_100k_per_sec'
  ratio lpm_ratio_vs_pointer_trie lpm_1m_per_sec lpm_pointer_trie_1m_per_sec
  ratio rating_full_vs_lookup_only rating_full_1m_per_sec \
    rating_lookup_1m_per_sec
  ratio esl_parse_vs_naive esl_parse_events_per_sec \
    esl_parse_naive_events_per_sec
  ratio esl_cps_vs_uncharged esl_cps esl_cps_uncharged_baseline
  ratio cucm_parse_vs_line_scan cucm_parse_records_per_sec \
    cucm_parse_baseline_lines_per_sec
  ratio cucm_vs_copy_baseline cucm_records_per_sec \
    cucm_baseline_copy_rows_per_sec
  ratio cucm_vs_copy_cdrs_baseline cucm_records_per_sec \
    cucm_baseline_copy_cdrs_rows_per_sec
  ratio cucm_parse_only_vs_end_to_end cucm_parse_records_per_sec \
    cucm_records_per_sec
} | tee -a "$results"

# One readable table: every figure in the order measured, with the
# baseline it is compared with (measured in this same run) and the ratio.
# "figure baseline[|fallback]" pairs; a figure not listed has none.
baselines='
lpm_1m_per_sec pg_prefix_lpm_1m_per_sec|pg_prefix_lpm_100k_per_sec
lpm_pointer_trie_1m_per_sec lpm_1m_per_sec
rating_full_1m_per_sec rating_lookup_1m_per_sec
esl_parse_events_per_sec esl_parse_naive_events_per_sec
flush_rows_per_sec flush_naive_rows_per_sec
esl_cps esl_cps_uncharged_baseline
http_authorize_per_sec http_empty_per_sec
deck_import_1m_rows_sec deck_import_psql_copy_1m_sec
cucm_parse_records_per_sec cucm_parse_baseline_lines_per_sec
cucm_records_per_sec cucm_baseline_copy_rows_per_sec
max_sustained_cps max_sustained_cps_uncharged_baseline
bytes_per_active_call bytes_per_active_call_baseline
deck_swap_max_rating_latency_us deck_swap_baseline_max_rating_latency_us
deck_swap_p99_rating_latency_us deck_swap_baseline_p99_rating_latency_us
overspend_r1_funded_cps overspend_baseline_cps
'
echo
printf '%-44s %14s %-12s %-44s %14s %8s\n' figure value unit baseline value ratio
awk -v pairs="$baselines" '
  BEGIN { n = split(pairs, l, "\n")
          for (i = 1; i <= n; i++) if (split(l[i], f, " ") == 2) base[f[1]] = f[2] }
  $1 == "BENCH" { order[++k] = $2; v[$2] = $3; u[$2] = $4 }
  END {
    for (i = 1; i <= k; i++) {
      name = order[i]; b = "-"; bv = "-"; r = "-"
      if (name in base) {
        nb = split(base[name], c, "|")
        for (j = 1; j <= nb; j++) if (c[j] in v) { b = c[j]; bv = v[b]; break }
        if (bv != "-" && bv + 0 != 0) r = sprintf("%.2f", v[name] / bv)
      }
      printf "%-44s %14s %-12s %-44s %14s %8s\n", name, v[name], u[name], b, bv, r
    }
  }' "$results"
rm -f "$results"
exit $status
