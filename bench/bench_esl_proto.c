/*
 * bench_esl_proto.c -- Event Socket decoding throughput, one thread: the
 * frame reader plus esl_event_parse, against a naive parser measured in
 * the same run.
 *
 * Input: the real capture tests/fixtures/freeswitch/fs_events_plain.raw
 * (73 events of ~2.5 KB among 88 frames, ~100 header lines per event),
 * fed again and again into one reader in 64 KiB chunks, as read() would
 * (the copy into the reader's buffer is part of the cost). Every
 * text/event-plain frame is parsed against the 25 names the ESL worker
 * needs. The baseline takes the same frames from the same reader and does
 * what a generic ESL library does: decode every header into a malloc'd
 * name/value list, then find each wanted name with strcmp along the list.
 * Both sum what they found into a checksum; the program exits 1 if the two
 * sums differ (the fast parser would then be wrong, not fast).
 *
 * Each figure is the best of `passes` passes over `copies` repetitions of
 * the capture. Output: lines "BENCH <name> <value> <unit>" on stdout.
 * About 2 s; BENCH_QUICK=1: fewer repetitions and passes (about 0.3 s).
 */
#include "workers/esl_proto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK 65536                  /* bytes per simulated read() */

static const char *const want_names[] = {
    "Event-Name", "Unique-ID", "Call-Direction", "Answer-State",
    "Caller-Caller-ID-Number", "Caller-Orig-Caller-ID-Number",
    "Caller-Destination-Number", "Caller-Context",
    "Caller-Channel-Created-Time", "Caller-Channel-Answered-Time",
    "Caller-Channel-Hangup-Time", "Hangup-Cause", "variable_billsec",
    "variable_billmsec", "variable_duration", "Event-Date-Timestamp",
    "Event-Sequence", "Job-UUID", "Other-Leg-Unique-ID",
    "variable_apolo_account", "variable_apolo_pin",
    "variable_sip_hangup_disposition", "Channel-Call-State", "Core-UUID",
    "Event-Subclass",
};
#define NWANT (sizeof want_names / sizeof want_names[0])

typedef struct {
    size_t   events;                 /* event-plain frames parsed */
    size_t   lines;                  /* header lines in them */
    uint64_t sum;                    /* checksum of what was found */
    int      errors;
} tally_t;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "bench_esl_proto: malloc(%zu) failed\n", n);
        exit(2);
    }
    return p;
}

static void bench(const char *name, double value, const char *unit)
{
    printf("BENCH %s %.*f %s\n", name, value >= 100 ? 0 : 3, value, unit);
    fflush(stdout);
}

/* What one found value adds to the checksum: its length and bytes at
 * both ends, position-dependent, so that both parsers must agree on every
 * value of every wanted name. */
static uint64_t mix(size_t i, const char *v, size_t len)
{
    uint64_t x = (uint64_t)len * 31 + i;
    if (len > 0)
        x = x * 131 + (unsigned char)v[0] * 7 + (unsigned char)v[len - 1];
    return x * 0x9e3779b97f4a7c15ULL;
}

/* ---- The baseline: a generic decode-everything parser ---- */

typedef struct naive_hdr {
    char             *name, *value;
    struct naive_hdr *next;
} naive_hdr_t;

static int naive_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static char *naive_decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1), *w = out;
    size_t i = 0;

    while (i < n) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = naive_hex(s[i + 1])) >= 0 &&
            (lo = naive_hex(s[i + 2])) >= 0) {
            *w++ = (char)(hi << 4 | lo);
            i += 3;
        } else {
            *w++ = s[i++];
        }
    }
    *w = '\0';
    return out;
}

/* Every header of the body into a list, in order; the inner body after
 * the first empty line. */
static naive_hdr_t *naive_parse(const char *body, size_t len,
                                const char **inner, size_t *lines)
{
    naive_hdr_t *head = NULL, **tail = &head;
    const char *p = body, *end = body + len;

    *inner = NULL;
    while (p < end && *p != '\n') {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *colon, *v;
        if (nl == NULL)
            nl = end;
        colon = memchr(p, ':', (size_t)(nl - p));
        if (colon != NULL) {
            naive_hdr_t *h = xmalloc(sizeof *h);
            h->name = xmalloc((size_t)(colon - p) + 1);
            memcpy(h->name, p, (size_t)(colon - p));
            h->name[colon - p] = '\0';
            for (v = colon + 1; v < nl && *v == ' '; v++)
                ;
            h->value = naive_decode(v, (size_t)(nl - v));
            h->next = NULL;
            *tail = h;
            tail = &h->next;
            (*lines)++;
        }
        p = nl + 1;
    }
    if (p < end)
        *inner = p + 1;
    return head;
}

static const char *naive_get(const naive_hdr_t *h, const char *name)
{
    for (; h != NULL; h = h->next)
        if (strcmp(h->name, name) == 0)
            return h->value;
    return NULL;
}

static void naive_free(naive_hdr_t *h)
{
    while (h != NULL) {
        naive_hdr_t *next = h->next;
        free(h->name);
        free(h->value);
        free(h);
        h = next;
    }
}

static void naive_event(char *body, size_t len, tally_t *t)
{
    const char *inner;
    naive_hdr_t *list = naive_parse(body, len, &inner, &t->lines);
    const char *cl = naive_get(list, "Content-Length");

    for (size_t i = 0; i < NWANT; i++) {
        const char *v = naive_get(list, want_names[i]);
        if (v != NULL)
            t->sum += mix(i, v, strlen(v));
    }
    if (cl != NULL && inner != NULL)
        t->sum += (uint64_t)strtoul(cl, NULL, 10) * 977;
    naive_free(list);
}

/* ---- The parser under test ---- */

static void fast_event(const esl_want_t *w, char *body, size_t len,
                       tally_t *t)
{
    esl_event_t ev;

    if (esl_event_parse(w, body, len, &ev) != ESL_OK) {
        t->errors++;
        return;
    }
    for (size_t i = 0; i < NWANT; i++)
        if (ev.val[i] != NULL)
            t->sum += mix(i, ev.val[i], ev.len[i]);
    if (ev.body != NULL)
        t->sum += (uint64_t)ev.body_len * 977;
}

/* One pass: `copies` times the capture through a fresh reader, every
 * event-plain frame to the fast parser (w != NULL) or the baseline. */
static double run(const char *data, size_t len, size_t copies,
                  const esl_want_t *w, tally_t *t)
{
    esl_reader_t r;
    esl_frame_t f;
    double t0;
    int rc;

    memset(t, 0, sizeof *t);
    if (esl_reader_init(&r, 0) != ESL_OK)
        exit(2);
    t0 = now();
    for (size_t c = 0; c < copies; c++) {
        for (size_t pos = 0; pos < len;) {
            size_t avail, n = len - pos < CHUNK ? len - pos : CHUNK;
            char *dst = esl_reader_space(&r, n, &avail);
            if (dst == NULL)
                exit(2);
            memcpy(dst, data + pos, n);
            esl_reader_commit(&r, n);
            pos += n;
            while ((rc = esl_reader_next(&r, &f)) == ESL_OK) {
                if (f.type != ESL_T_EVENT_PLAIN)
                    continue;
                t->events++;
                if (w != NULL)
                    fast_event(w, f.body, f.body_len, t);
                else
                    naive_event(f.body, f.body_len, t);
            }
            if (rc != ESL_EAGAIN) {
                fprintf(stderr, "bench_esl_proto: %s\n", r.err);
                exit(1);
            }
        }
    }
    t0 = now() - t0;
    esl_reader_free(&r);
    return t0;
}

static char *load(size_t *len)
{
    const char *top = getenv("APOLO_TOP");
    char path[4096];
    FILE *fp;
    long n;
    char *d;

    snprintf(path, sizeof path,
             "%s/tests/fixtures/freeswitch/fs_events_plain.raw",
             top && *top ? top : ".");
    fp = fopen(path, "rb");
    if (fp == NULL || fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) <= 0 ||
        fseek(fp, 0, SEEK_SET) != 0) {
        fprintf(stderr, "bench_esl_proto: cannot read %s (set APOLO_TOP)\n",
                path);
        exit(2);
    }
    d = xmalloc((size_t)n);
    *len = fread(d, 1, (size_t)n, fp);
    fclose(fp);
    return d;
}

int main(void)
{
    const char *q = getenv("BENCH_QUICK");
    int quick = q != NULL && q[0] == '1';
    size_t copies = quick ? 300 : 2000, ncopies = copies / 8, len;
    int passes = quick ? 2 : 5;
    char *data = load(&len);
    esl_want_t w;
    tally_t ft, nt, once_fast, once_naive;
    double fbest = 1e30, nbest = 1e30;

    if (esl_want_init(&w, want_names, NWANT) != ESL_OK) {
        fprintf(stderr, "bench_esl_proto: esl_want_init failed\n");
        return 2;
    }
    /* The same bytes through both parsers: they must find the same. */
    run(data, len, 1, &w, &once_fast);
    run(data, len, 1, NULL, &once_naive);
    if (once_fast.sum != once_naive.sum || once_fast.errors != 0 ||
        once_fast.events == 0) {
        fprintf(stderr, "bench_esl_proto: the parsers disagree (%016llx vs "
                "%016llx, %d errors)\n", (unsigned long long)once_fast.sum,
                (unsigned long long)once_naive.sum, once_fast.errors);
        return 1;
    }
    for (int p = 0; p < passes; p++) {
        double tf = run(data, len, copies, &w, &ft);
        double tn = run(data, len, ncopies, NULL, &nt) / (double)nt.events;
        fbest = tf < fbest ? tf : fbest;
        nbest = tn < nbest ? tn : nbest;
    }
    bench("esl_parse_events_per_sec", (double)ft.events / fbest, "events/s");
    bench("esl_parse_naive_events_per_sec", 1.0 / nbest, "events/s");
    bench("esl_parse_mb_per_sec", (double)len * (double)copies / fbest / 1e6,
          "MB/s");
    bench("esl_parse_header_lines_per_sec",
          (double)once_naive.lines * (double)copies / fbest, "lines/s");
    fprintf(stderr, "bench_esl_proto: %zu events, %zu header lines, %zu "
            "bytes per pass; checksum %016llx\n", ft.events,
            once_naive.lines * copies, len * copies,
            (unsigned long long)ft.sum);
    esl_want_free(&w);
    free(data);
    return 0;
}
