/*
 * fuzz_bulk_csv.c -- the RFC 4180 reader of bulk recharge files
 * (admin/bulk_csv.h), over a buffer of exactly the input's size.
 *
 * Beyond "no crash":
 *   - the result: 0 (or -1 with a message "line N: ..."), the separator
 *     ',' or ';'; records of 1..BCSV_MAX_FIELDS fields, starting on lines
 *     that increase from 1; every field strict UTF-8 (the input was
 *     checked) and within the input's size;
 *   - bcsv_utf8_ok agrees with an independent strict UTF-8 check;
 *   - round trip: the records written back as CSV (fields quoted when
 *     they hold a separator, a quote or a line break; "" for a quote;
 *     CRLF; first a BOM and a line holding only the separator, so that
 *     the guess finds it) parse to the same records;
 *   - stopping: a callback that returns 7 at record k makes bcsv_parse
 *     return 7 after exactly the first k records.
 */
#include "fuzz.h"

#include "admin/bulk_csv.h"

typedef struct recs {
    size_t    n, cap;
    uint32_t *line, *nf;
    char    **flat;          /* each record: its fields, each with its NUL */
    size_t   *flen;
    size_t    stop_at;       /* 0: never stop */
    size_t    input_len;
} recs_t;

static int on_record(void *arg, uint32_t line, char **fields, uint32_t n)
{
    recs_t *r = arg;
    FUZZ_CHECK(n >= 1 && n <= BCSV_MAX_FIELDS, "%u fields", n);
    FUZZ_CHECK(line >= 1, "line %u", line);
    FUZZ_CHECK(r->n == 0 || line > r->line[r->n - 1], "line %u after %u",
               line, r->line[r->n - 1]);
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->line = realloc(r->line, r->cap * sizeof *r->line);
        r->nf = realloc(r->nf, r->cap * sizeof *r->nf);
        r->flat = realloc(r->flat, r->cap * sizeof *r->flat);
        r->flen = realloc(r->flen, r->cap * sizeof *r->flen);
        if (!r->line || !r->nf || !r->flat || !r->flen)
            abort();
    }
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        size_t l = strlen(fields[i]);
        FUZZ_CHECK(l <= r->input_len, "a field longer than the file");
        FUZZ_CHECK(fuzz_utf8_ok((const uint8_t *)fields[i], l),
                   "field %u of line %u is not UTF-8", i, line);
        total += l + 1;
    }
    char *f = fuzz_dup("", 0, total), *p = f;
    for (uint32_t i = 0; i < n; i++) {
        size_t l = strlen(fields[i]) + 1;
        memcpy(p, fields[i], l);
        p += l;
    }
    r->line[r->n] = line;
    r->nf[r->n] = n;
    r->flat[r->n] = f;
    r->flen[r->n] = total;
    r->n++;
    return r->stop_at != 0 && r->n == r->stop_at ? 7 : 0;
}

static void recs_free(recs_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->flat[i]);
    free(r->line);
    free(r->nf);
    free(r->flat);
    free(r->flen);
    memset(r, 0, sizeof *r);
}

static int parse(const char *buf, size_t len, recs_t *r, size_t stop_at,
                 char *sep, char *err)
{
    memset(r, 0, sizeof *r);
    r->stop_at = stop_at;
    r->input_len = len;
    *sep = 0;
    err[0] = '\0';
    return bcsv_parse(buf, len, on_record, r, sep, err, BCSV_ERR_MAX);
}

/* The records as CSV, CRLF after each; a field is quoted when it holds a
 * separator of either kind, a quote or a line break. The separator guess
 * reads the first line its own way (it toggles on every quote, even one
 * inside an unquoted field), so a first line holding only sep is written
 * to make it find sep again. */
static char *write_back(const recs_t *r, char sep, size_t *len)
{
    size_t cap = 6;
    for (size_t i = 0; i < r->n; i++)
        cap += 2 * r->flen[i] + 3 * r->nf[i] + 2;
    char *out = fuzz_dup("", 0, cap), *o = out;
    /* one BOM, which bcsv_parse takes off: a first field that starts with
     * one (the input had two) keeps it */
    memcpy(o, "\xef\xbb\xbf", 3);
    o += 3;
    /* then a record of two empty fields, so that the separator guess
     * (made on the first line, its own way) finds sep again */
    *o++ = sep;
    *o++ = '\r';
    *o++ = '\n';
    for (size_t i = 0; i < r->n; i++) {
        const char *f = r->flat[i];
        for (uint32_t k = 0; k < r->nf[i]; k++) {
            int q = strpbrk(f, ",;\"\r\n") != NULL;
            if (k > 0)
                *o++ = sep;
            if (q)
                *o++ = '"';
            for (; *f; f++) {
                if (*f == '"')
                    *o++ = '"';
                *o++ = *f;
            }
            if (q)
                *o++ = '"';
            f++;
        }
        *o++ = '\r';
        *o++ = '\n';
    }
    *len = (size_t)(o - out);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_dup(data, size, 0);
    char err[BCSV_ERR_MAX], sep;
    recs_t a, b;
    size_t bad = SIZE_MAX;

    int ok = bcsv_utf8_ok(buf, size, &bad);
    FUZZ_CHECK(ok == fuzz_utf8_ok(data, size), "bcsv_utf8_ok says %d", ok);
    FUZZ_CHECK(ok || (bad < size && fuzz_utf8_ok(data, bad)),
               "first bad byte at %zu", bad);

    int rc = parse(buf, size, &a, 0, &sep, err);
    FUZZ_CHECK(rc == 0 || rc == -1, "bcsv_parse = %d", rc);
    if (rc == -1) {
        FUZZ_CHECK(strncmp(err, "line ", 5) == 0, "error \"%s\"", err);
        recs_free(&a);
        free(buf);
        return 0;
    }
    FUZZ_CHECK(sep == ',' || sep == ';', "separator 0x%02x", sep);

    /* write back, parse again */
    size_t wlen = 0;
    char *w = write_back(&a, sep, &wlen);
    char sep2;
    int rc2 = parse(w, wlen, &b, 0, &sep2, err);
    FUZZ_CHECK(rc2 == 0, "the written-back file fails: %s", err);
    FUZZ_CHECK(sep2 == sep, "separator '%c', '%c' after the round trip",
               sep, sep2);
    FUZZ_CHECK(b.n == a.n + 1 && b.nf[0] == 2, "%zu records, %zu after the "
               "round trip", a.n, b.n);
    for (size_t i = 0; i < a.n; i++)
        FUZZ_CHECK(a.nf[i] == b.nf[i + 1] && a.flen[i] == b.flen[i + 1]
                   && memcmp(a.flat[i], b.flat[i + 1], a.flen[i]) == 0,
                   "record %zu differs after the round trip", i);
    recs_free(&b);
    free(w);

    /* stop at record k */
    if (a.n > 0) {
        size_t k = 1 + (size_t)(fuzz_hash(data, size) % a.n);
        int rc3 = parse(buf, size, &b, k, &sep2, err);
        FUZZ_CHECK(rc3 == 7 && b.n == k, "stop at %zu: rc %d after %zu",
                   k, rc3, b.n);
        for (size_t i = 0; i < k; i++)
            FUZZ_CHECK(b.line[i] == a.line[i] && b.flen[i] == a.flen[i]
                       && memcmp(a.flat[i], b.flat[i], a.flen[i]) == 0,
                       "record %zu differs when stopping", i);
        recs_free(&b);
    }
    recs_free(&a);
    free(buf);
    return 0;
}
