/*
 * esl_proto.c -- FreeSWITCH Event Socket framing and event-plain parsing.
 *
 * Design: one buffer per connection, [start, end) holding committed bytes
 * not yet returned as frames. A frame is found in two steps: the header
 * scan looks for "\n\n" from where it stopped last time (r->scan), so a
 * frame trickling in a byte at a time is still scanned once; when the
 * block is complete its lines are parsed once (Content-Length,
 * Content-Type, Reply-Text, Job-UUID, remembered as offsets from start
 * because the buffer may move), and then only the byte count matters
 * until the body is in. Frames are handed out in place: header values are
 * NUL-terminated where their '\n' was, and the body by overwriting the
 * first byte of the next frame, which is saved and put back on the next
 * call (the frame is invalid by then).
 *
 * The event parser is a single pass over the lines of a body: memchr to
 * the end of the line, memchr to the ':' within it, one hash probe of the
 * name (three 8-byte loads, no per-byte loop), and only for wanted names a
 * decode of the value in place. An event of ~100 headers of which ~25 are
 * wanted costs ~100 probes and ~25 short decodes, no allocation.
 *
 * NOTES (traps):
 * - The buffer always keeps one spare byte after `end`, so a body that
 *   ends exactly at `end` can still be NUL-terminated.
 * - Compaction moves only the partial frame, and the buffer grows whenever
 *   that partial frame fills more than half of it: then at least as many
 *   bytes are read between two compactions as the last one moved, and the
 *   copying stays linear in the bytes received whatever the read sizes
 *   (a partial frame nearly filling the buffer would otherwise be moved
 *   again after every few bytes).
 * - A Content-Length is judged as soon as its header block is complete,
 *   before any body byte: a huge or bad one never makes the buffer grow.
 * - FreeSWITCH's url decoding leaves '+' alone (it is not form decoding);
 *   a value that decodes to a NUL byte would be silently cut by every C
 *   string function after us, so it is an error instead.
 * - Header names are case-insensitive in the outer block (cheap, a few
 *   lines) but exact in event bodies (the hash sees bytes).
 */
#include "workers/esl_proto.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ESL_NONE        SIZE_MAX     /* an absent offset */
#define ESL_INITIAL_CAP 65536

static const char esl_cl_name[] = "Content-Length";

/* ---- Errors ---- */

__attribute__((format(printf, 2, 3)))
static int esl_fail(esl_reader_t *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    r->failed = 1;
    return ESL_EPROTO;
}

/* A printable excerpt of untrusted bytes for an error message. */
static const char *esl_quote(const char *s, size_t n, char *out, size_t cap)
{
    size_t i, k = 0, keep = n < cap - 4 ? n : cap - 4;

    for (i = 0; i < keep; i++) {
        unsigned char c = (unsigned char)s[i];
        out[k++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (keep < n) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
    return out;
}

/* ---- The reader ---- */

const char *esl_type_name(esl_type_t t)
{
    switch (t) {
    case ESL_T_AUTH_REQUEST:      return "auth/request";
    case ESL_T_COMMAND_REPLY:     return "command/reply";
    case ESL_T_API_RESPONSE:      return "api/response";
    case ESL_T_EVENT_PLAIN:       return "text/event-plain";
    case ESL_T_EVENT_JSON:        return "text/event-json";
    case ESL_T_DISCONNECT_NOTICE: return "text/disconnect-notice";
    case ESL_T_UNKNOWN:           break;
    }
    return "unknown";
}

static esl_type_t esl_type_of(const char *ct)
{
    static const esl_type_t types[] = {
        ESL_T_AUTH_REQUEST, ESL_T_COMMAND_REPLY, ESL_T_API_RESPONSE,
        ESL_T_EVENT_PLAIN, ESL_T_EVENT_JSON, ESL_T_DISCONNECT_NOTICE,
    };
    size_t i;

    for (i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcasecmp(ct, esl_type_name(types[i])) == 0)
            return types[i];
    return ESL_T_UNKNOWN;
}

static void esl_frame_reset(esl_reader_t *r)
{
    r->scan = 0;
    r->hdr_len = 0;
    r->body_len = 0;
    r->ct_off = r->rt_off = r->job_off = ESL_NONE;
}

int esl_reader_init(esl_reader_t *r, size_t max_body)
{
    memset(r, 0, sizeof *r);
    esl_frame_reset(r);
    r->max_body = max_body ? max_body : ESL_BODY_MAX_DEFAULT;
    r->buf = malloc(ESL_INITIAL_CAP);
    if (r->buf == NULL) {
        snprintf(r->err, sizeof r->err, "out of memory (%d bytes)",
                 ESL_INITIAL_CAP);
        return ESL_ENOMEM;
    }
    r->cap = ESL_INITIAL_CAP;
    return ESL_OK;
}

void esl_reader_free(esl_reader_t *r)
{
    free(r->buf);
    r->buf = NULL;
    r->cap = r->start = r->end = 0;
}

/* Puts back the byte the last frame's NUL replaced. */
static void esl_restore(esl_reader_t *r)
{
    if (r->has_saved) {
        r->buf[r->saved_pos] = r->saved;
        r->has_saved = 0;
    }
}

/* Makes room for `want` more bytes after end (plus the spare byte). */
static int esl_make_room(esl_reader_t *r, size_t want)
{
    size_t used = r->end - r->start, need, ncap;
    char *nbuf;

    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, used);
        r->start = 0;
        r->end = used;
    }
    if (r->cap - r->end - 1 >= want && used <= r->cap / 2)
        return ESL_OK;
    if (want > SIZE_MAX / 4 - used) {
        snprintf(r->err, sizeof r->err, "cannot make room for %zu bytes",
                 want);
        return ESL_ENOMEM;
    }
    need = used + want + 1;
    for (ncap = r->cap * 2; ncap < need; ncap *= 2)
        ;
    nbuf = realloc(r->buf, ncap);
    if (nbuf == NULL) {
        snprintf(r->err, sizeof r->err,
                 "out of memory growing the buffer to %zu bytes", ncap);
        return ESL_ENOMEM;
    }
    r->buf = nbuf;
    r->cap = ncap;
    return ESL_OK;
}

char *esl_reader_space(esl_reader_t *r, size_t want, size_t *avail)
{
    *avail = 0;
    if (r->failed || r->buf == NULL)
        return NULL;
    esl_restore(r);
    if (want == 0)
        want = 1;
    if (r->cap - r->end - 1 < want && esl_make_room(r, want) != ESL_OK)
        return NULL;
    *avail = r->cap - r->end - 1;
    return r->buf + r->end;
}

void esl_reader_commit(esl_reader_t *r, size_t n)
{
    assert(r->buf != NULL && n <= r->cap - r->end - 1);
    if (r->buf == NULL)
        return;
    if (n > r->cap - r->end - 1)
        n = r->cap - r->end - 1;
    r->end += n;
}

size_t esl_reader_pending(const esl_reader_t *r)
{
    return r->end - r->start;
}

/* Content-Length: digits only, at most max_body. */
static int esl_parse_length(esl_reader_t *r, const char *v, size_t n)
{
    char q[48];
    size_t i, val = 0;
    int big = 0;

    if (n == 0)
        return esl_fail(r, "bad Content-Length \"\"");
    for (i = 0; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)v[i] - '0';
        if (d > 9)
            return esl_fail(r, "bad Content-Length \"%s\"",
                            esl_quote(v, n, q, sizeof q));
        if (val > (SIZE_MAX - d) / 10)
            big = 1;
        else
            val = val * 10 + d;
    }
    if (big || val > r->max_body)
        return esl_fail(r, "Content-Length %s exceeds %zu",
                        esl_quote(v, n, q, sizeof q), r->max_body);
    r->body_len = val;
    return ESL_OK;
}

static int esl_name_is(const char *name, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(name, lit, n) == 0;
}

/* One "Name: value" line of the outer block, b[0..n) without its '\n'
 * (already replaced by a NUL). Offsets are from the frame start `base`. */
static int esl_outer_line(esl_reader_t *r, const char *base, const char *b,
                          size_t n, int *seen_cl)
{
    const char *colon = memchr(b, ':', n), *v;
    size_t nlen, vlen;

    if (colon == NULL)
        return esl_fail(r, "header line without ':'");
    nlen = (size_t)(colon - b);
    if (nlen == 0)
        return esl_fail(r, "header line with an empty name");
    for (v = colon + 1; v < b + n && *v == ' '; v++)
        ;
    vlen = (size_t)(b + n - v);
    if (esl_name_is(b, nlen, "Content-Length")) {
        if ((*seen_cl)++)
            return esl_fail(r, "bad Content-Length: repeated");
        return esl_parse_length(r, v, vlen);
    }
    if (esl_name_is(b, nlen, "Content-Type") && r->ct_off == ESL_NONE)
        r->ct_off = (size_t)(v - base);
    else if (esl_name_is(b, nlen, "Reply-Text") && r->rt_off == ESL_NONE)
        r->rt_off = (size_t)(v - base);
    else if (esl_name_is(b, nlen, "Job-UUID") && r->job_off == ESL_NONE)
        r->job_off = (size_t)(v - base);
    return ESL_OK;
}

/* The complete outer block b[0..len), len counting the final "\n\n". */
static int esl_parse_outer(esl_reader_t *r, char *b, size_t len)
{
    char *p = b, *stop = b + len - 1;   /* the blank line's '\n' */
    int seen_cl = 0;

    if (memchr(b, '\0', len) != NULL)
        return esl_fail(r, "NUL byte in a header block");
    while (p < stop) {
        char *nl = memchr(p, '\n', (size_t)(stop - p) + 1);
        int rc;

        *nl = '\0';
        rc = esl_outer_line(r, b, p, (size_t)(nl - p), &seen_cl);
        if (rc != ESL_OK)
            return rc;
        p = nl + 1;
    }
    *stop = '\0';
    r->hdr_len = len;
    return ESL_OK;
}

/* Looks for the end of the outer block from where the last call stopped.
 * ESL_OK once the block is parsed (r->hdr_len > 0), else EAGAIN/EPROTO. */
static int esl_scan_headers(esl_reader_t *r)
{
    char *b = r->buf + r->start;
    size_t avail = r->end - r->start, i = r->scan;

    if (avail == 0)
        return ESL_EAGAIN;
    if (b[0] == '\n')
        return esl_fail(r, "empty header block (a blank line where a frame "
                        "should start)");
    while (i < avail) {
        char *nl = memchr(b + i, '\n', avail - i);
        size_t k;

        if (nl == NULL) {
            i = avail;
            break;
        }
        k = (size_t)(nl - b);
        if (k + 1 == avail) {            /* "\n" last: wait for one more */
            i = k;
            break;
        }
        if (b[k + 1] == '\n') {
            if (k + 2 > ESL_HEADER_MAX)
                break;
            return esl_parse_outer(r, b, k + 2);
        }
        i = k + 1;
    }
    r->scan = i;
    if (avail >= ESL_HEADER_MAX)
        return esl_fail(r, "header block exceeds %u bytes", ESL_HEADER_MAX);
    return ESL_EAGAIN;
}

int esl_reader_next(esl_reader_t *r, esl_frame_t *f)
{
    char *b;
    size_t total;
    int rc;

    if (r->failed)
        return ESL_EPROTO;
    if (r->buf == NULL)
        return ESL_EAGAIN;
    esl_restore(r);
    if (r->hdr_len == 0 && (rc = esl_scan_headers(r)) != ESL_OK)
        return rc;
    total = r->hdr_len + r->body_len;
    if (r->end - r->start < total)
        return ESL_EAGAIN;

    b = r->buf + r->start;
    f->content_type = r->ct_off == ESL_NONE ? "" : b + r->ct_off;
    f->type = esl_type_of(f->content_type);
    f->reply_text = r->rt_off == ESL_NONE ? NULL : b + r->rt_off;
    f->job_uuid = r->job_off == ESL_NONE ? NULL : b + r->job_off;
    f->body = b + r->hdr_len;
    f->body_len = r->body_len;

    r->start += total;
    if (r->start < r->end) {             /* the next frame's first byte */
        r->saved_pos = r->start;
        r->saved = r->buf[r->start];
        r->has_saved = 1;
    }
    r->buf[r->start] = '\0';             /* start <= end < cap */
    esl_frame_reset(r);
    return ESL_OK;
}

/* ---- The wanted-names table ---- */

static inline uint64_t esl_load8(const char *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return v;
}

/* A hash of a header name from at most three 8-byte loads (first, middle,
 * last), the length and one multiply: O(1) whatever the length, and cheap,
 * since it runs for every header line of every event. Names that share all
 * three windows hash alike; the probe compares the bytes anyway. */
static inline uint64_t esl_hash(const char *s, size_t n)
{
    uint64_t a = 0, b = 0, c = 0;

    if (n >= 8) {
        a = esl_load8(s);
        b = esl_load8(s + n / 2 - 4);
        c = esl_load8(s + n - 8);
    } else {
        memcpy(&a, s, n);
    }
    return (a ^ (b << 21 | b >> 43) ^ (c << 42 | c >> 22) ^ n) *
           0x9e3779b97f4a7c15ULL;
}

static const char *esl_want_name(const esl_want_t *w, unsigned idx)
{
    return idx < w->n ? w->names[idx] : esl_cl_name;
}

/* Index of name s[0..n) in w, or -1. */
static inline int esl_want_find(const esl_want_t *w, const char *s,
                                size_t n)
{
    uint64_t h = esl_hash(s, n);
    unsigned i = (unsigned)(h >> 56) & (ESL_WANT_SLOTS - 1);

    for (;; i = (i + 1) & (ESL_WANT_SLOTS - 1)) {
        unsigned sl = w->slot[i];
        if (sl == 0)
            return -1;
        if (w->key[i] == h && w->len[sl - 1] == n &&
            memcmp(esl_want_name(w, sl - 1), s, n) == 0)
            return (int)(sl - 1);
    }
}

static void esl_want_add(esl_want_t *w, unsigned idx, size_t n)
{
    const char *s = esl_want_name(w, idx);
    uint64_t h = esl_hash(s, n);
    unsigned i = (unsigned)(h >> 56) & (ESL_WANT_SLOTS - 1);

    while (w->slot[i] != 0)
        i = (i + 1) & (ESL_WANT_SLOTS - 1);
    w->key[i] = h;
    w->slot[i] = (uint8_t)(idx + 1);
    w->len[idx] = (uint16_t)n;
}

int esl_want_init(esl_want_t *w, const char *const *names, unsigned n)
{
    unsigned i;

    memset(w, 0, sizeof *w);
    if (n > ESL_WANT_MAX || (names == NULL && n > 0))
        return ESL_EINVAL;
    w->names = names;
    w->n = n;
    w->cl_index = n;                     /* the hidden entry, unless wanted */
    for (i = 0; i < n; i++) {
        size_t len = names[i] ? strlen(names[i]) : 0;
        if (len == 0 || len > UINT16_MAX || strpbrk(names[i], ":\n") ||
            esl_want_find(w, names[i], len) >= 0)
            return ESL_EINVAL;
        esl_want_add(w, i, len);
        if (strcmp(names[i], esl_cl_name) == 0)
            w->cl_index = i;
    }
    if (w->cl_index == n)
        esl_want_add(w, n, sizeof esl_cl_name - 1);
    return ESL_OK;
}

void esl_want_free(esl_want_t *w)
{
    w->names = NULL;
    w->n = 0;
}

/* ---- Event bodies ---- */

static const signed char esl_hex[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6,
    ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
    ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};                                       /* value + 1; 0: not a hex digit */

/* Decodes s[0..n) in place; the decoded length in *out. ESL_EPROTO when
 * the result would hold a NUL byte. */
static int esl_url_decode(char *s, size_t n, size_t *out)
{
    char *r = memchr(s, '%', n), *w, *e = s + n;

    if (memchr(s, '\0', n) != NULL)
        return ESL_EPROTO;
    if (r == NULL) {
        *out = n;
        return ESL_OK;
    }
    for (w = r; r < e; w++) {
        int hi, lo;
        if (*r == '%' && e - r >= 3 &&
            (hi = esl_hex[(unsigned char)r[1]]) != 0 &&
            (lo = esl_hex[(unsigned char)r[2]]) != 0) {
            *w = (char)((hi - 1) << 4 | (lo - 1));
            if (*w == '\0')
                return ESL_EPROTO;
            r += 3;
        } else {
            *w = *r++;
        }
    }
    *out = (size_t)(w - s);
    return ESL_OK;
}

/* The inner body: cl[0..n) digits, starting at p, within [p, end]. */
static int esl_inner_body(const char *cl, size_t n, char *p, char *end,
                          esl_event_t *ev)
{
    size_t i, val = 0, room = (size_t)(end - p);

    if (n == 0)
        return ESL_EPROTO;
    for (i = 0; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)cl[i] - '0';
        if (d > 9 || val > room / 10)
            return ESL_EPROTO;           /* not a number, or beyond `end` */
        val = val * 10 + d;
    }
    if (val > room)
        return ESL_EPROTO;
    p[val] = '\0';
    ev->body = p;
    ev->body_len = val;
    return ESL_OK;
}

int esl_event_parse(const esl_want_t *w, char *body, size_t len,
                    esl_event_t *ev)
{
    char *p = body, *end = body + len;
    const char *cl = NULL;
    size_t cl_len = 0;
    unsigned i;

    for (i = 0; i < w->n; i++) {
        ev->val[i] = NULL;
        ev->len[i] = 0;
    }
    ev->body = NULL;
    ev->body_len = 0;

    while (p < end && *p != '\n') {
        char *nl = memchr(p, '\n', (size_t)(end - p)), *colon, *v;
        int idx;
        size_t vlen;

        if (nl == NULL)
            nl = end;                    /* last line without its '\n' */
        colon = memchr(p, ':', (size_t)(nl - p));
        if (colon == NULL)
            return ESL_EPROTO;
        idx = esl_want_find(w, p, (size_t)(colon - p));
        p = nl < end ? nl + 1 : end;
        if (idx < 0)
            continue;
        for (v = colon + 1; v < nl && *v == ' '; v++)
            ;
        if ((unsigned)idx == w->cl_index && cl == NULL) {
            cl = v;
            cl_len = (size_t)(nl - v);
        }
        if ((unsigned)idx >= w->n || ev->val[idx] != NULL)
            continue;                    /* hidden entry, or a repeat */
        if (esl_url_decode(v, (size_t)(nl - v), &vlen) != ESL_OK)
            return ESL_EPROTO;
        v[vlen] = '\0';                  /* at most nl, at most body[len] */
        ev->val[idx] = v;
        ev->len[idx] = vlen;
    }
    if (p < end)
        p++;                             /* the empty line */
    return cl == NULL ? ESL_OK : esl_inner_body(cl, cl_len, p, end, ev);
}
