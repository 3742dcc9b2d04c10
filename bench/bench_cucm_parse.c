/*
 * bench_cucm_parse.c -- CUCM CDR flat-file parsing throughput, one thread,
 * against the cheapest possible pass over the same bytes in the same run.
 *
 * Input: a file of 1M records built in memory (200k with BENCH_QUICK=1)
 * from the header, the types line and the first record of the real sample
 * tests/fixtures/cucm/cdr_RemoteCluster_02_202306030358_120 (CUCM 14, 133
 * fields, quoted strings, ~640 bytes a record), with callId and the two
 * leg ids counting up so that no two records are equal. The buffer is
 * malloc'd and touched once before timing (the page cache side of an
 * mmap is not what is measured).
 *
 * Figures (best of `passes` passes):
 *   cucm_parse_records_per_sec          cucm_cdr_open + cucm_cdr_next over
 *                                       the whole buffer: every line split
 *                                       and field-counted, 24 fields
 *                                       decoded, strings copied
 *   cucm_parse_mb_per_sec               the same, in MB of input per second
 *   cucm_parse_baseline_lines_per_sec   memchr('\n') over the same buffer:
 *                                       finding the records, nothing else
 * The parser's checksum (callIds, durations, string lengths) must match
 * what the generator wrote, and no record may be bad: otherwise exit 1.
 * Output: lines "BENCH <name> <value> <unit>" on stdout.
 */
#include "workers/cucm_cdr.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void bench(const char *name, double value, const char *unit)
{
    printf("BENCH %s %.*f %s\n", name, value >= 100 ? 0 : 3, value, unit);
    fflush(stdout);
}

static char *load_sample(size_t *len)
{
    const char *top = getenv("APOLO_TOP");
    char path[4096];
    cucm_cdr_map_t m;
    char *d;

    snprintf(path, sizeof path,
             "%s/tests/fixtures/cucm/cdr_RemoteCluster_02_202306030358_120",
             top && *top ? top : ".");
    if (cucm_cdr_map(path, &m) != CUCM_CDR_OK || m.len == 0) {
        fprintf(stderr, "bench_cucm_parse: cannot read %s (set APOLO_TOP)\n",
                path);
        exit(2);
    }
    d = malloc(m.len + 1);
    if (d == NULL)
        exit(2);
    memcpy(d, m.data, m.len);
    d[m.len] = '\0';
    *len = m.len;
    cucm_cdr_unmap(&m);
    return d;
}

/* The generated file: the two header lines, then `records` copies of
 * the first record with callId, origLeg and destLeg counting up. */
typedef struct {
    char    *data;
    size_t   len, records;
    uint64_t want_sum;           /* sum of callIds */
} gen_t;

/* The k-th ',' of s (1-based); the record has more than k. */
static const char *nth_comma(const char *s, int k)
{
    for (; k > 0; s++)
        k -= *s == ',';
    return s - 1;
}

static void generate(gen_t *g, size_t records)
{
    size_t slen, head, mid, tail, k, cap;
    char *s = load_sample(&slen);
    const char *l3, *c4, *c26, *end;

    l3 = strchr(strchr(s, '\n') + 1, '\n') + 1;          /* first record */
    end = strchr(l3, '\n') + 1;
    head = (size_t)(l3 - s);
    c4 = nth_comma(l3, 4);                 /* before dateTimeOrigination */
    c26 = nth_comma(l3, 26);               /* after destLegIdentifier */
    mid = (size_t)(nth_comma(l3, 25) + 1 - c4);
    tail = (size_t)(end - c26);
    cap = head + records * (mid + tail + 40);
    g->data = malloc(cap);
    if (g->data == NULL) {
        fprintf(stderr, "bench_cucm_parse: malloc(%zu) failed\n", cap);
        exit(2);
    }
    memcpy(g->data, s, head);
    g->len = head;
    g->want_sum = 0;
    for (k = 0; k < records; k++) {
        /* 1,2,<callId>,<origLeg> ... ,<destLeg>, ... */
        g->len += (size_t)sprintf(g->data + g->len, "1,2,%zu,%zu",
                                  1000000 + k, 40000000 + 2 * k);
        memcpy(g->data + g->len, c4, mid);
        g->len += mid;
        g->len += (size_t)sprintf(g->data + g->len, "%zu",
                                  40000001 + 2 * k);
        memcpy(g->data + g->len, c26, tail);
        g->len += tail;
        g->want_sum += 1000000 + k;
    }
    g->records = records;
    free(s);
}

typedef struct {
    size_t   records, bad;
    uint64_t sum_call_id, sum_other;
} tally_t;

static double run_parser(const gen_t *g, tally_t *t)
{
    static cucm_cdr_reader_t r;
    cucm_cdr_t c;
    double t0 = now();
    int rc;

    memset(t, 0, sizeof *t);
    if (cucm_cdr_open(&r, g->data, g->len) != CUCM_CDR_OK) {
        fprintf(stderr, "bench_cucm_parse: %s\n", r.err);
        exit(1);
    }
    while ((rc = cucm_cdr_next(&r, &c)) != CUCM_CDR_EOF) {
        if (rc != CUCM_CDR_OK) {
            if (t->bad++ == 0)
                fprintf(stderr, "bench_cucm_parse: %s\n", r.err);
            continue;
        }
        t->records++;
        t->sum_call_id += c.call_id;
        t->sum_other += c.duration + c.dest_leg + strlen(c.calling) +
                        strlen(c.pkid) + (uint64_t)c.t_connect;
    }
    return now() - t0;
}

static double run_baseline(const gen_t *g, size_t *lines)
{
    const char *p = g->data, *end = g->data + g->len;
    double t0 = now();

    *lines = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            break;
        (*lines)++;
        p = nl + 1;
    }
    return now() - t0;
}

int main(void)
{
    const char *q = getenv("BENCH_QUICK");
    int quick = q != NULL && q[0] == '1', passes = quick ? 2 : 5;
    size_t records = quick ? 200000 : 1000000, lines = 0;
    double pbest = 1e30, bbest = 1e30;
    tally_t t;
    gen_t g;

    generate(&g, records);
    for (int p = 0; p < passes; p++) {
        double tp = run_parser(&g, &t), tb = run_baseline(&g, &lines);
        pbest = tp < pbest ? tp : pbest;
        bbest = tb < bbest ? tb : bbest;
        if (t.records != g.records || t.bad != 0 ||
            t.sum_call_id != g.want_sum || lines != g.records + 2) {
            fprintf(stderr, "bench_cucm_parse: wrong result: %zu records "
                    "(%zu written), %zu bad, %zu lines\n", t.records,
                    g.records, t.bad, lines);
            return 1;
        }
    }
    bench("cucm_parse_records_per_sec", (double)t.records / pbest,
          "records/s");
    bench("cucm_parse_mb_per_sec", (double)g.len / pbest / 1e6, "MB/s");
    bench("cucm_parse_baseline_lines_per_sec", (double)lines / bbest,
          "lines/s");
    fprintf(stderr, "bench_cucm_parse: %zu records, %zu bytes (%.0f a "
            "record); checksum %016llx\n", t.records, g.len,
            (double)g.len / (double)t.records,
            (unsigned long long)(t.sum_call_id ^ t.sum_other));
    free(g.data);
    return 0;
}
