/*
 * bulk_csv.c -- RFC 4180 records from a file in memory (see bulk_csv.h).
 *
 * One pass, a small state machine per byte. A record's fields are copied,
 * unquoted, into one growing buffer (each NUL-terminated) and their
 * offsets kept; the pointers are made when the record ends, because the
 * buffer may move while it grows.
 *
 * NOTES
 * - The whole file is checked for UTF-8 first: a binary file (an XLSX sent
 *   as text/csv, garbage) fails there with its offset, before anything is
 *   parsed.
 * - A lone CR ends a record like LF (old Mac files); CRLF is one end.
 */
#include "admin/bulk_csv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bcsv {
    char     *buf;              /* the record's fields, each NUL-ended */
    size_t    len, cap;
    size_t    off[BCSV_MAX_FIELDS];
    uint32_t  n;                /* fields ended so far */
    uint32_t  line;             /* the current file line */
    uint32_t  start;            /* the line the record started on */
    int       quoted;           /* the current field started with '"' */
    char     *err;
    size_t    errcap;
} bcsv_t;

static int bcsv_fail(bcsv_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int bcsv_fail(bcsv_t *c, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(c->err, c->errcap, "line %u: ", c->line);
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < c->errcap)
        vsnprintf(c->err + n, c->errcap - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static int bcsv_put(bcsv_t *c, char ch)
{
    if (c->len == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        char *p = realloc(c->buf, cap);
        if (p == NULL)
            return bcsv_fail(c, "out of memory");
        c->buf = p;
        c->cap = cap;
    }
    c->buf[c->len++] = ch;
    return 0;
}

/* Ends the current field. */
static int bcsv_field_end(bcsv_t *c, size_t field_start)
{
    if (c->n == BCSV_MAX_FIELDS)
        return bcsv_fail(c, "more than %d fields", BCSV_MAX_FIELDS);
    if (bcsv_put(c, '\0') != 0)
        return -1;
    c->off[c->n++] = field_start;
    c->quoted = 0;
    return 0;
}

/* Hands the record to fn and starts the next one. */
static int bcsv_record_end(bcsv_t *c, bcsv_record_fn fn, void *arg)
{
    char *fields[BCSV_MAX_FIELDS];
    for (uint32_t i = 0; i < c->n; i++)
        fields[i] = c->buf + c->off[i];
    int rc = fn(arg, c->start, fields, c->n);
    c->len = 0;
    c->n = 0;
    return rc;
}

int bcsv_utf8_ok(const char *buf, size_t len, size_t *bad)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i], need, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) { need = 1; min = 0x80; }
        else if (c >= 0xe0 && c <= 0xef) { need = 2; min = 0x800; }
        else if (c >= 0xf0 && c <= 0xf4) { need = 3; min = 0x10000; }
        else break;
        if (len - i <= need)
            break;
        unsigned cp = c & (0x3f >> need);
        size_t k;
        for (k = 1; k <= need && (s[i + k] & 0xc0) == 0x80; k++)
            cp = cp << 6 | (s[i + k] & 0x3f);
        if (k <= need || cp < min || cp > 0x10ffff
            || (cp >= 0xd800 && cp <= 0xdfff))
            break;
        i += need + 1;
    }
    if (i < len && bad != NULL)
        *bad = i;
    return i == len;
}

/* The separator of the first non-blank line: ';' when it has more of
 * them than of ',' outside quotes. */
static char bcsv_guess_sep(const char *s, size_t len)
{
    size_t commas = 0, semis = 0, i = 0;
    int q = 0, seen = 0;
    for (; i < len; i++) {
        char ch = s[i];
        if (ch == '"')
            q = !q;
        else if (!q && (ch == '\n' || ch == '\r')) {
            if (seen)
                break;
        } else if (!q && ch == ',')
            commas++;
        else if (!q && ch == ';')
            semis++;
        if (ch != '\n' && ch != '\r' && ch != ' ' && ch != '\t')
            seen = 1;
    }
    return semis > commas ? ';' : ',';
}

/* The state machine over s[0..len). */
static int bcsv_run(bcsv_t *c, const char *s, size_t len, char sep,
                    bcsv_record_fn fn, void *arg)
{
    enum { FIELD_START, UNQUOTED, QUOTED, QUOTE_IN_QUOTED } st = FIELD_START;
    size_t fstart = 0;
    int rc;
    c->line = c->start = 1;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        int eol = ch == '\n' || ch == '\r';
        if (ch == '\0')
            return bcsv_fail(c, "a NUL byte: this is not a text file");
        if (st == QUOTED) {
            if (ch == '"')
                st = QUOTE_IN_QUOTED;
            else if (bcsv_put(c, ch) != 0)
                return -1;
            if (ch == '\n'
                || (ch == '\r' && (i + 1 == len || s[i + 1] != '\n')))
                c->line++;
            continue;
        }
        if (st == QUOTE_IN_QUOTED && ch == '"') {
            if (bcsv_put(c, '"') != 0)
                return -1;
            st = QUOTED;
            continue;
        }
        if (st == QUOTE_IN_QUOTED && ch != sep && !eol)
            return bcsv_fail(c, "text after a closing quote (a field is "
                             "quoted whole: \"a \"\"b\"\" c\")");
        if (st == FIELD_START && ch == '"') {
            st = QUOTED;
            c->quoted = 1;
            fstart = c->len;
            continue;
        }
        if (st == FIELD_START)
            fstart = c->len;
        if (ch == sep || eol) {
            if (bcsv_field_end(c, fstart) != 0)
                return -1;
            st = FIELD_START;
            if (!eol)
                continue;
            if (ch == '\r' && i + 1 < len && s[i + 1] == '\n')
                i++;
            if ((rc = bcsv_record_end(c, fn, arg)) != 0)
                return rc;
            c->start = ++c->line;
            continue;
        }
        if (bcsv_put(c, ch) != 0)
            return -1;
        st = UNQUOTED;
    }
    if (st == QUOTED) {
        c->line = c->start;             /* where the field started */
        return bcsv_fail(c, "a quoted field is not closed");
    }
    if (st == FIELD_START && c->n == 0)
        return 0;                       /* the file ended with its line */
    if (bcsv_field_end(c, st == FIELD_START ? c->len : fstart) != 0)
        return -1;
    return bcsv_record_end(c, fn, arg);
}

int bcsv_parse(const char *buf, size_t len, bcsv_record_fn fn, void *arg,
               char *sep, char *err, size_t cap)
{
    bcsv_t c;
    size_t bad = 0;
    memset(&c, 0, sizeof c);
    c.err = err;
    c.errcap = cap;
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
        buf += 3;                           /* the BOM */
        len -= 3;
    }
    if (!bcsv_utf8_ok(buf, len, &bad)) {
        uint32_t line = 1;
        for (size_t i = 0; i < bad; i++)
            line += buf[i] == '\n';
        snprintf(err, cap, "line %u: not UTF-8 text (byte %zu); save the "
                 "file as \"CSV UTF-8\"", line, bad + 1);
        return -1;
    }
    char s = bcsv_guess_sep(buf, len);
    if (sep != NULL)
        *sep = s;
    int rc = bcsv_run(&c, buf, len, s, fn, arg);
    free(c.buf);
    return rc;
}
