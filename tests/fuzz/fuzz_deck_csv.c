/*
 * fuzz_deck_csv.c -- the rate deck CSV parser (admin/deck_csv.h), fed as
 * an HTTP body arrives: dcsv_feed in pieces, then dcsv_finish.
 *
 * Beyond "no crash":
 *   - chunk invariance: the body fed whole and fed in pseudo-random pieces
 *     (1 byte to 4 KiB) gives the same rows, zones, periods, errors and
 *     fatal flag;
 *   - every row: prefix 1..20 digits, a zone index and a period index
 *     that exist, increments 1..RATE_SEC_MAX, amounts >= 0 whose canonical
 *     text parses back to the same amount, effective_to after
 *     effective_from, dates that print and parse back; rows in line
 *     order; errors sorted by line, at most DCSV_ERRS_KEPT kept, nbad
 *     counting all;
 *   - nothing is lost: every non-blank line after the header (the first
 *     non-blank line without a NUL byte) yields a row or an error naming
 *     its line (when the parse is not fatal and no
 *     error was dropped), and every (prefix, period) given twice has an
 *     error on its later line.
 */
#include "fuzz.h"

#include "admin/deck_csv.h"
#include "shm/money.h"
#include "shm/rate.h"

#include <time.h>

static dcsv_t *parse(const uint8_t *data, size_t size, size_t piece,
                     uint64_t *seed)
{
    dcsv_t *d = dcsv_new();
    FUZZ_CHECK(d != NULL, "dcsv_new");
    size_t off = 0;
    int rc = 0;
    while (off < size && rc == 0) {
        size_t n = piece ? piece : fuzz_chunk(seed, 4096);
        if (n > size - off)
            n = size - off;
        /* each piece in its own exact block: no read past it */
        char *p = fuzz_dup(data + off, n, 0);
        rc = dcsv_feed(d, p, n);
        free(p);
        FUZZ_CHECK(rc == 0 || (rc == -1 && d->fatal), "feed = %d", rc);
        off += n;
    }
    int frc = dcsv_finish(d);
    FUZZ_CHECK((frc == -1) == (d->fatal != 0), "finish = %d, fatal %d", frc,
               d->fatal);
    return d;
}

static void same(const dcsv_t *a, const dcsv_t *b)
{
    FUZZ_CHECK(a->fatal == b->fatal && a->nrows == b->nrows
               && a->nzones == b->nzones && a->nperiods == b->nperiods
               && a->nerrs == b->nerrs && a->nbad == b->nbad,
               "whole: fatal %d rows %zu zones %u errs %zu; pieces: fatal "
               "%d rows %zu zones %u errs %zu", a->fatal, a->nrows,
               a->nzones, a->nerrs, b->fatal, b->nrows, b->nzones, b->nerrs);
    for (size_t i = 0; i < a->nrows; i++) {
        const dcsv_row_t *x = &a->rows[i], *y = &b->rows[i];
        FUZZ_CHECK(!strcmp(x->prefix, y->prefix) && x->closed == y->closed
                   && x->period == y->period && x->zone == y->zone
                   && x->line == y->line && x->first == y->first
                   && x->next == y->next && x->rate == y->rate
                   && x->fee == y->fee && x->from == y->from
                   && x->to == y->to, "row %zu differs", i);
    }
    for (uint32_t i = 0; i < a->nzones; i++)
        FUZZ_CHECK(!strcmp(a->zones[i], b->zones[i])
                   && a->zone_line[i] == b->zone_line[i], "zone %u", i);
    for (uint32_t i = 0; i < a->nperiods; i++)
        FUZZ_CHECK(!strcmp(a->periods[i], b->periods[i]), "period %u", i);
    for (size_t i = 0; i < a->nerrs; i++)
        FUZZ_CHECK(a->errs[i].line == b->errs[i].line
                   && !strcmp(a->errs[i].msg, b->errs[i].msg),
                   "error %zu: %u %s / %u %s", i, a->errs[i].line,
                   a->errs[i].msg, b->errs[i].line, b->errs[i].msg);
}

static void money_back(money_t m, const char *what)
{
    char buf[MONEY_STRLEN];
    money_t back = -1;
    size_t n = money_format(m, buf);
    FUZZ_CHECK(money_parse(buf, n, &back) == MONEY_OK && back == m,
               "%s %lld prints as %s", what, (long long)m, buf);
}

static void time_back(int64_t t, const char *what)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char buf[40];
    int64_t back = 0;
    FUZZ_CHECK(gmtime_r(&tt, &tm) != NULL, "%s %lld", what, (long long)t);
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    FUZZ_CHECK(dcsv_parse_time(buf, &back) == 0 && back == t,
               "%s %lld prints as %s", what, (long long)t, buf);
}

static int has_error(const dcsv_t *d, uint32_t line)
{
    for (size_t i = 0; i < d->nerrs; i++)
        if (d->errs[i].line == line)
            return 1;
    return 0;
}

static void check(const dcsv_t *d, const uint8_t *data, size_t size)
{
    FUZZ_CHECK(d->nerrs <= DCSV_ERRS_KEPT && d->nbad >= d->nerrs,
               "%zu errors kept of %zu", d->nerrs, d->nbad);
    for (size_t i = 1; i < d->nerrs; i++)
        FUZZ_CHECK(d->errs[i - 1].line <= d->errs[i].line, "errors unsorted");
    for (size_t i = 0; i < d->nerrs; i++)
        FUZZ_CHECK(d->errs[i].msg[0] != '\0', "an empty message");
    for (size_t i = 0; i < d->nrows; i++) {
        const dcsv_row_t *r = &d->rows[i];
        size_t pl = strlen(r->prefix);
        FUZZ_CHECK(pl >= 1 && pl <= DCSV_PREFIX_MAX
                   && strspn(r->prefix, "0123456789") == pl,
                   "prefix \"%s\"", r->prefix);
        FUZZ_CHECK(r->zone < d->nzones, "zone %u of %u", r->zone, d->nzones);
        size_t zl = strlen(d->zones[r->zone]);
        FUZZ_CHECK(zl >= 1 && zl <= DCSV_ZONE_MAX, "zone of %zu bytes", zl);
        FUZZ_CHECK(r->period <= d->nperiods, "period %u of %u", r->period,
                   d->nperiods);
        FUZZ_CHECK(r->first >= 1 && r->first <= RATE_SEC_MAX && r->next >= 1
                   && r->next <= RATE_SEC_MAX, "increments %u/%u", r->first,
                   r->next);
        FUZZ_CHECK(r->rate >= 0 && r->fee >= 0, "negative amount");
        FUZZ_CHECK(r->closed <= 1, "closed %u", r->closed);
        FUZZ_CHECK(r->to == 0 || r->from == 0 || r->to > r->from,
                   "to %lld <= from %lld", (long long)r->to,
                   (long long)r->from);
        FUZZ_CHECK(r->line >= 2, "a row on line %u", r->line);
        FUZZ_CHECK(i == 0 || d->rows[i - 1].line < r->line, "rows unsorted");
        money_back(r->rate, "rate");
        money_back(r->fee, "fee");
        if (r->from != 0)
            time_back(r->from, "effective_from");
        if (r->to != 0)
            time_back(r->to, "effective_to");
    }
    for (uint32_t i = 0; i < d->nperiods; i++)
        FUZZ_CHECK(strlen(d->periods[i]) >= 1
                   && strlen(d->periods[i]) <= DCSV_PERIOD_MAX, "period name");
    if (d->fatal || d->nbad > d->nerrs)
        return;

    /* every line: blank, the header, a row or an error */
    uint32_t line = 0;
    int header = 0;
    size_t row = 0;
    for (size_t i = 0; i < size;) {
        const uint8_t *nl = memchr(data + i, '\n', size - i);
        size_t n = nl != NULL ? (size_t)(nl - (data + i)) : size - i;
        const uint8_t *s = data + i;
        line++;
        i += n + 1;
        if (n > 0 && s[n - 1] == '\r')
            n--;
        size_t k = 0;
        while (k < n && (s[k] == ' ' || s[k] == '\t'))
            k++;
        if (k == n)
            continue;                                   /* blank */
        if (memchr(s, '\0', n) != NULL) {
            /* refused before anything else: not even a header */
            FUZZ_CHECK(has_error(d, line), "line %u holds a NUL byte but "
                       "has no error", line);
            continue;
        }
        if (!header) {
            header = 1;
            continue;
        }
        while (row < d->nrows && d->rows[row].line < line)
            row++;
        int is_row = row < d->nrows && d->rows[row].line == line;
        FUZZ_CHECK(is_row || has_error(d, line), "line %u (%zu bytes) gave "
                   "neither a row nor an error", line, n);
    }
    /* a (prefix, period) twice: an error on each later line */
    for (size_t i = 0; i < d->nrows; i++)
        for (size_t j = 0; j < i; j++)
            if (d->rows[j].period == d->rows[i].period
                && !strcmp(d->rows[j].prefix, d->rows[i].prefix)) {
                FUZZ_CHECK(has_error(d, d->rows[i].line), "prefix %s twice "
                           "(lines %u, %u) without an error",
                           d->rows[i].prefix, d->rows[j].line,
                           d->rows[i].line);
                break;
            }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t seed = fuzz_hash(data, size);
    dcsv_t *a = parse(data, size, size ? size : 1, &seed);
    dcsv_t *b = parse(data, size, 0, &seed);
    same(a, b);
    check(a, data, size);
    dcsv_free(a);
    dcsv_free(b);
    return 0;
}
