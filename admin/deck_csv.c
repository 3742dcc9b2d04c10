/*
 * deck_csv.c -- the rate deck CSV parser (see deck_csv.h).
 *
 * One pass, line by line, as the body arrives: each line is split into
 * fields in place (quotes handled), the known columns are validated and a
 * dcsv_row_t appended. Zone values are interned in an open-addressing
 * hash (a deck names a few thousand zones for a million prefixes), so the
 * importer resolves each distinct value once. Duplicates are found at the
 * end by sorting row indexes by prefix (stable: the first line wins).
 *
 * NOTES
 * - Amounts go through money_parse only: "1,5", "1e3", " 1" are refused,
 *   never guessed. A negative amount is refused (rates are >= 0 in SQL).
 * - Errors beyond DCSV_ERRS_KEPT are counted, not stored: a deck of a
 *   million bad lines must not make a million messages.
 */
#include "admin/deck_csv.h"
#include "shm/rate.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum { C_PREFIX, C_ZONE, C_RATE, C_FEE, C_FIRST, C_NEXT, C_INC, C_FROM,
       C_TO, C_CLOSED, C_PERIOD, C_N };

static const char *const dcsv_names[C_N] = {
    "prefix", "zone", "rate_per_minute", "connection_fee", "first_increment",
    "next_increment", "increment", "effective_from", "effective_to",
    "closed", "period" };
_Static_assert(C_N <= sizeof ((dcsv_t *)0)->col / sizeof (int),
               "dcsv_t.col must hold every column");

dcsv_t *dcsv_new(void)
{
    dcsv_t *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->zhash_cap = 1024;
    d->zhash = calloc(d->zhash_cap, sizeof *d->zhash);   /* 0 = empty */
    d->carry = malloc(DCSV_LINE_MAX + 1);
    if (d->zhash == NULL || d->carry == NULL) {
        dcsv_free(d);
        return NULL;
    }
    for (int i = 0; i < C_N; i++)
        d->col[i] = -1;
    return d;
}

void dcsv_free(dcsv_t *d)
{
    if (d == NULL)
        return;
    for (uint32_t i = 0; i < d->nzones; i++)
        free(d->zones[i]);
    for (uint32_t i = 0; i < d->nperiods; i++)
        free(d->periods[i]);
    free(d->zones);
    free(d->zone_line);
    free(d->zhash);
    free(d->rows);
    free(d->errs);
    free(d->carry);
    free(d);
}

void dcsv_error(dcsv_t *d, uint32_t line, const char *fmt, ...)
{
    d->nbad++;
    if (d->nerrs >= DCSV_ERRS_KEPT)
        return;
    if (d->nerrs == d->caperrs) {
        size_t cap = d->caperrs ? d->caperrs * 2 : 64;
        dcsv_err_t *e = realloc(d->errs, cap * sizeof *e);
        if (e == NULL) {
            d->fatal = 1;
            return;
        }
        d->errs = e;
        d->caperrs = cap;
    }
    dcsv_err_t *e = &d->errs[d->nerrs++];
    e->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

/* ---- fields --------------------------------------------------------------- */

static char *dcsv_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* Splits line in place into at most cap fields: the count, or -1 for an
 * unterminated quote. */
static int dcsv_split(char *line, char **f, int cap)
{
    int n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        char *out = p, *start = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0')
                    return -1;
                if (*p == '"') {
                    if (p[1] == '"') {
                        *out++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *out++ = *p++;
            }
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p != ',' && *p != '\0')
                return -1;
        } else {
            while (*p != ',' && *p != '\0')
                out = ++p;
        }
        char end = *p;
        *out = '\0';
        if (n < cap)
            f[n++] = *start == '"' ? start : dcsv_trim(start);
        if (end == '\0')
            return n;
        p++;
    }
}

/* The header: known columns by name. */
static int dcsv_header(dcsv_t *d, char *line)
{
    char *f[64];
    int n = dcsv_split(line, f, 64);
    if (n < 0) {
        dcsv_error(d, d->line, "header: unterminated quote");
        d->fatal = 1;
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char *name = f[i];
        if (i == 0 && (unsigned char)name[0] == 0xEF
            && (unsigned char)name[1] == 0xBB && (unsigned char)name[2] == 0xBF)
            name += 3;                              /* a UTF-8 BOM */
        int c = -1;
        if (strcasecmp(name, "destination") == 0)
            c = C_ZONE;
        else if (strcasecmp(name, "rate") == 0)
            c = C_RATE;
        for (int k = 0; c < 0 && k < C_N; k++)
            if (strcasecmp(name, dcsv_names[k]) == 0)
                c = k;
        if (c < 0)
            continue;                               /* not ours */
        if (d->col[c] >= 0) {
            dcsv_error(d, d->line, "header: column %s given twice",
                       dcsv_names[c]);
            d->fatal = 1;
        }
        d->col[c] = i;
    }
    d->ncols = n;
    static const int need[] = { C_PREFIX, C_ZONE, C_RATE };
    for (size_t k = 0; k < sizeof need / sizeof need[0]; k++)
        if (d->col[need[k]] < 0) {
            dcsv_error(d, d->line, "header: no column %s%s",
                       dcsv_names[need[k]], need[k] == C_ZONE
                       ? " (or destination)" : need[k] == C_RATE
                       ? " (or rate)" : "");
            d->fatal = 1;
        }
    if ((d->col[C_FIRST] >= 0) != (d->col[C_NEXT] >= 0)
        || (d->col[C_INC] >= 0 && d->col[C_FIRST] >= 0)) {
        dcsv_error(d, d->line, "header: give first_increment with "
                   "next_increment, or increment, not both");
        d->fatal = 1;
    }
    return d->fatal ? -1 : 0;
}

static uint32_t dcsv_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int dcsv_zhash_put(dcsv_t *d, const char *s, uint32_t idx1)
{
    uint32_t m = d->zhash_cap - 1;
    for (uint32_t i = dcsv_hash(s) & m;; i = (i + 1) & m)
        if (d->zhash[i] == 0) {
            d->zhash[i] = idx1;
            return 0;
        }
}

/* The index of zone value s, interned on first sight. */
static int dcsv_zone(dcsv_t *d, const char *s, uint32_t *out)
{
    uint32_t m = d->zhash_cap - 1;
    for (uint32_t i = dcsv_hash(s) & m; d->zhash[i] != 0; i = (i + 1) & m)
        if (strcmp(d->zones[d->zhash[i] - 1], s) == 0) {
            *out = d->zhash[i] - 1;
            return 0;
        }
    if (d->nzones == d->capzones) {
        uint32_t cap = d->capzones ? d->capzones * 2 : 64;
        char **z = realloc(d->zones, cap * sizeof *z);
        if (z == NULL)
            return -1;
        d->zones = z;
        uint32_t *l = realloc(d->zone_line, cap * sizeof *l);
        if (l == NULL)
            return -1;
        d->zone_line = l;
        d->capzones = cap;
    }
    if ((d->nzones + 1) * 2 > d->zhash_cap) {
        uint32_t cap = d->zhash_cap * 2;
        uint32_t *h = calloc(cap, sizeof *h);
        if (h == NULL)
            return -1;
        free(d->zhash);
        d->zhash = h;
        d->zhash_cap = cap;
        for (uint32_t k = 0; k < d->nzones; k++)
            dcsv_zhash_put(d, d->zones[k], k + 1);
    }
    if ((d->zones[d->nzones] = strdup(s)) == NULL)
        return -1;
    d->zone_line[d->nzones] = d->line;
    dcsv_zhash_put(d, s, d->nzones + 1);
    *out = d->nzones++;
    return 0;
}

int dcsv_parse_time(const char *s, int64_t *out)
{
    int y, mo, da, h = 0, mi = 0, se = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &da, &n) != 3 || n != 10)
        return -1;
    const char *p = s + 10;
    if (*p == ' ' || *p == 'T') {
        int k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &k) != 2 || k != 5)
            return -1;
        p += 6;
        if (*p == ':') {
            if (sscanf(p + 1, "%2d%n", &se, &k) != 1 || k != 2)
                return -1;
            p += 3;
        }
    }
    if (*p == 'Z')
        p++;
    if (*p != '\0' || y < 1970 || y > 9999 || mo < 1 || mo > 12 || da < 1
        || da > 31 || h > 23 || mi > 59 || se > 59 || h < 0 || mi < 0
        || se < 0)
        return -1;
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = da,
                     .tm_hour = h, .tm_min = mi, .tm_sec = se };
    time_t t = timegm(&tm);
    struct tm back;
    if (gmtime_r(&t, &back) == NULL || back.tm_mday != da)
        return -1;                                  /* 2025-02-30 */
    *out = (int64_t)t;
    return 0;
}

static int dcsv_amount(dcsv_t *d, const char *name, const char *s,
                       int required, money_t *out)
{
    *out = 0;
    if (*s == '\0') {
        if (required)
            dcsv_error(d, d->line, "%s: missing", name);
        return required ? -1 : 0;
    }
    money_t m;
    int rc = money_parse(s, strlen(s), &m);
    if (rc == MONEY_ERANGE) {
        dcsv_error(d, d->line, "%s: more than 6 decimals or too large",
                   name);
        return -1;
    }
    if (rc != MONEY_OK) {
        dcsv_error(d, d->line, "%s: not a decimal", name);
        return -1;
    }
    if (m < 0) {
        dcsv_error(d, d->line, "%s: negative", name);
        return -1;
    }
    *out = m;
    return 0;
}

static int dcsv_secs(const char *s, uint32_t *out)
{
    char *end;
    if (*s < '1' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || v < 1 || v > RATE_SEC_MAX)
        return -1;
    *out = (uint32_t)v;
    return (int)(end - s);
}

/* Validates one data line into a row (appended only when valid). */
/* A period name of the file as its row value (1 + index into periods,
 * added when new): 0 with *out, or -1 (too long, too many: a row error
 * written; out of memory: fatal). An empty name is no period (*out 0). */
static int dcsv_period(dcsv_t *d, const char *s, uint8_t *out)
{
    *out = 0;
    if (*s == '\0')
        return 0;
    if (strlen(s) > DCSV_PERIOD_MAX) {
        dcsv_error(d, d->line, "period: at most %d characters",
                   DCSV_PERIOD_MAX);
        return -1;
    }
    for (uint32_t i = 0; i < d->nperiods; i++)
        if (strcmp(d->periods[i], s) == 0) {
            *out = (uint8_t)(i + 1);
            return 0;
        }
    if (d->nperiods == DCSV_PERIODS) {
        dcsv_error(d, d->line, "period: more than %d different periods in "
                   "one file", DCSV_PERIODS);
        return -1;
    }
    if ((d->periods[d->nperiods] = strdup(s)) == NULL) {
        d->fatal = 1;
        return -1;
    }
    d->period_line[d->nperiods] = d->line;
    *out = (uint8_t)++d->nperiods;
    return 0;
}

static void dcsv_row(dcsv_t *d, char *line)
{
    char *f[64];
    int n = dcsv_split(line, f, 64);
    if (n < 0) {
        dcsv_error(d, d->line, "unterminated quote");
        return;
    }
    const char *v[C_N];
    for (int c = 0; c < C_N; c++)
        v[c] = d->col[c] >= 0 && d->col[c] < n ? f[d->col[c]] : "";
    if (n != d->ncols) {
        dcsv_error(d, d->line, "%d fields, the header has %d", n, d->ncols);
        return;
    }
    dcsv_row_t row = { .line = d->line, .first = 60, .next = 60 };
    int bad = 0;
    size_t plen = strlen(v[C_PREFIX]);
    if (plen == 0) {
        dcsv_error(d, d->line, "prefix: missing");
        bad = 1;
    } else if (plen > DCSV_PREFIX_MAX
               || strspn(v[C_PREFIX], "0123456789") != plen) {
        dcsv_error(d, d->line, "prefix: 1 to %d digits", DCSV_PREFIX_MAX);
        bad = 1;
    } else {
        memcpy(row.prefix, v[C_PREFIX], plen + 1);
    }
    size_t zlen = strlen(v[C_ZONE]);
    if (zlen == 0) {
        dcsv_error(d, d->line, "%s: missing", dcsv_names[C_ZONE]);
        bad = 1;
    } else if (zlen > DCSV_ZONE_MAX) {
        dcsv_error(d, d->line, "zone: at most %d characters", DCSV_ZONE_MAX);
        bad = 1;
    }
    bad |= dcsv_amount(d, "rate_per_minute", v[C_RATE], 1, &row.rate) != 0;
    bad |= dcsv_amount(d, "connection_fee", v[C_FEE], 0, &row.fee) != 0;
    if (d->col[C_INC] >= 0) {
        int k = dcsv_secs(v[C_INC], &row.first);
        if (k < 0 || v[C_INC][k] != '/'
            || dcsv_secs(v[C_INC] + k + 1, &row.next) < 0
            || strlen(v[C_INC] + k + 1) != strspn(v[C_INC] + k + 1,
                                                   "0123456789")) {
            dcsv_error(d, d->line, "increment: \"first/next\" seconds, "
                       "e.g. 60/6");
            bad = 1;
        }
    } else if (d->col[C_FIRST] >= 0) {
        int k1 = dcsv_secs(v[C_FIRST], &row.first);
        int k2 = dcsv_secs(v[C_NEXT], &row.next);
        if (k1 < 0 || v[C_FIRST][k1] != '\0') {
            dcsv_error(d, d->line, "first_increment: 1 to %u seconds",
                       RATE_SEC_MAX);
            bad = 1;
        }
        if (k2 < 0 || v[C_NEXT][k2] != '\0') {
            dcsv_error(d, d->line, "next_increment: 1 to %u seconds",
                       RATE_SEC_MAX);
            bad = 1;
        }
    }
    if (*v[C_FROM] != '\0' && dcsv_parse_time(v[C_FROM], &row.from) != 0) {
        dcsv_error(d, d->line, "effective_from: a date YYYY-MM-DD "
                   "[HH:MM[:SS]] (UTC)");
        bad = 1;
    }
    if (*v[C_TO] != '\0' && dcsv_parse_time(v[C_TO], &row.to) != 0) {
        dcsv_error(d, d->line, "effective_to: a date YYYY-MM-DD "
                   "[HH:MM[:SS]] (UTC)");
        bad = 1;
    } else if (row.to != 0 && row.from != 0 && row.to <= row.from) {
        dcsv_error(d, d->line, "effective_to: not after effective_from");
        bad = 1;
    }
    const char *c = v[C_CLOSED];
    if (*c == '\0' || strcmp(c, "0") == 0 || strcasecmp(c, "false") == 0
        || strcasecmp(c, "no") == 0 || strcasecmp(c, "n") == 0)
        row.closed = 0;
    else if (strcmp(c, "1") == 0 || strcasecmp(c, "true") == 0
             || strcasecmp(c, "yes") == 0 || strcasecmp(c, "y") == 0)
        row.closed = 1;
    else {
        dcsv_error(d, d->line, "closed: 1/0, true/false or yes/no");
        bad = 1;
    }
    if (!bad && dcsv_period(d, v[C_PERIOD], &row.period) != 0)
        bad = 1;
    if (bad)
        return;
    if (dcsv_zone(d, v[C_ZONE], &row.zone) != 0) {
        d->fatal = 1;
        return;
    }
    if (d->nrows == d->caprows) {
        size_t cap = d->caprows ? d->caprows * 2 : 4096;
        dcsv_row_t *r = realloc(d->rows, cap * sizeof *r);
        if (r == NULL) {
            d->fatal = 1;
            dcsv_error(d, d->line, "out of memory");
            return;
        }
        d->rows = r;
        d->caprows = cap;
    }
    d->rows[d->nrows++] = row;
}

static void dcsv_line(dcsv_t *d, char *line, size_t len)
{
    d->line++;
    if (len > 0 && line[len - 1] == '\r')
        line[--len] = '\0';
    if (len == 0 || strspn(line, " \t") == len)
        return;
    if (strlen(line) != len) {
        dcsv_error(d, d->line, "a NUL byte");
        return;
    }
    if (d->ncols == 0)
        dcsv_header(d, line);
    else
        dcsv_row(d, line);
}

int dcsv_feed(dcsv_t *d, const char *buf, size_t len)
{
    size_t i = 0;
    while (!d->fatal && i < len) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t take = nl ? (size_t)(nl - (buf + i)) : len - i;
        if (d->ncarry + take > DCSV_LINE_MAX) {
            if (nl == NULL) {        /* keep discarding until the newline */
                d->ncarry = DCSV_LINE_MAX + 1;
                return 0;
            }
            d->line++;
            if (d->ncols == 0) {
                d->fatal = 1;
                dcsv_error(d, d->line, "header: longer than %d bytes",
                           DCSV_LINE_MAX);
            } else {
                dcsv_error(d, d->line, "longer than %d bytes", DCSV_LINE_MAX);
            }
            d->ncarry = 0;
            i += take + 1;
            continue;
        }
        memcpy(d->carry + d->ncarry, buf + i, take);
        d->ncarry += take;
        if (nl == NULL)
            break;
        d->carry[d->ncarry] = '\0';
        dcsv_line(d, d->carry, d->ncarry);
        d->ncarry = 0;
        i += take + 1;
    }
    return d->fatal ? -1 : 0;
}

static int dcsv_by_prefix(const void *a, const void *b, void *arg)
{
    const dcsv_t *d = arg;
    const dcsv_row_t *x = &d->rows[*(const uint32_t *)a];
    const dcsv_row_t *y = &d->rows[*(const uint32_t *)b];
    int c = strcmp(x->prefix, y->prefix);
    if (c == 0)
        c = (x->period > y->period) - (x->period < y->period);
    return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

/* The same rate of the plan: one prefix, one period (or none). */
static int dcsv_same_rate(const dcsv_row_t *a, const dcsv_row_t *b)
{
    return a->period == b->period && strcmp(a->prefix, b->prefix) == 0;
}

static int dcsv_by_line(const void *a, const void *b)
{
    uint32_t x = ((const dcsv_err_t *)a)->line;
    uint32_t y = ((const dcsv_err_t *)b)->line;
    return (x > y) - (x < y);
}

int dcsv_finish(dcsv_t *d)
{
    if (!d->fatal && d->ncarry > 0 && d->ncarry <= DCSV_LINE_MAX) {
        d->carry[d->ncarry] = '\0';
        dcsv_line(d, d->carry, d->ncarry);
        d->ncarry = 0;
    } else if (!d->fatal && d->ncarry > DCSV_LINE_MAX) {
        /* An over-long last line without its newline: an error of that
         * line like any other, never a row silently gone. */
        d->line++;
        if (d->ncols == 0)
            d->fatal = 1;
        dcsv_error(d, d->line, "%slonger than %d bytes",
                   d->ncols == 0 ? "header: " : "", DCSV_LINE_MAX);
        d->ncarry = 0;
    }
    if (!d->fatal && d->ncols == 0) {
        dcsv_error(d, 1, "no header line");
        d->fatal = 1;
    }
    if (!d->fatal && d->nrows > 1) {
        uint32_t *ix = malloc(d->nrows * sizeof *ix);
        if (ix == NULL) {
            d->fatal = 1;
            return -1;
        }
        for (size_t i = 0; i < d->nrows; i++)
            ix[i] = (uint32_t)i;
        qsort_r(ix, d->nrows, sizeof *ix, dcsv_by_prefix, d);
        for (size_t i = 1; i < d->nrows; i++) {
            const dcsv_row_t *a = &d->rows[ix[i - 1]], *b = &d->rows[ix[i]];
            if (dcsv_same_rate(a, b)) {
                uint32_t first = a->line;
                for (size_t k = i; k > 0
                     && dcsv_same_rate(&d->rows[ix[k - 1]], b); k--)
                    first = d->rows[ix[k - 1]].line;
                if (b->period == 0)
                    dcsv_error(d, b->line, "prefix %s: already on line %u",
                               b->prefix, first);
                else
                    dcsv_error(d, b->line, "prefix %s, period %.64s: already "
                               "on line %u", b->prefix,
                               d->periods[b->period - 1], first);
            }
        }
        free(ix);
    }
    dcsv_sort_errors(d);
    return d->fatal ? -1 : 0;
}

void dcsv_sort_errors(dcsv_t *d)
{
    if (d->nerrs > 1)
        qsort(d->errs, d->nerrs, sizeof *d->errs, dcsv_by_line);
}
