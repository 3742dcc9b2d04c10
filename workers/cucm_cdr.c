/*
 * cucm_cdr.c -- CUCM CDR flat files: header mapping and record decoding.
 *
 * Design: the file is one read-only buffer. cucm_cdr_open reads the two
 * header lines once and builds the column map: for each of the ~24 fields
 * the billing needs, its column, kept sorted by column so that a record is
 * decoded left to right. cucm_cdr_next takes one line (memchr to '\n'),
 * splits ALL of it into field offsets (the field count must match the
 * header's: that is how a truncated line is caught), then decodes only the
 * mapped fields: integers in place, strings copied (unquoted) into the
 * record's fixed arrays. Nothing is allocated after the caller's reader.
 *
 * Splitting is the cost that matters (a CUCM 14 record has 133 fields,
 * most of them a few bytes long). With SSE2 a line is cut in 64-byte
 * blocks into bitmaps of commas and quotes, quoted regions come from a
 * prefix XOR of the quote bits, and the field offsets are the set bits of
 * what remains (see cc_split_line): no branch per field. Lines with
 * unusual quoting take the byte-wise cc_split, which defines the
 * semantics; debug builds assert that both agree on every line they both
 * handle. Strings are checked eight bytes a step and copied with one
 * memcpy unless they hold a quote, a control or a non-ASCII byte.
 * Release build, one core: 1.2M records/s with cc_split alone, 2.3M to
 * 3.2M with the bitmaps.
 *
 * NOTES (traps):
 * - The buffer is not NUL-terminated (an mmap of a file): every scan is
 *   bounded by the line's end; only length-bounded libc calls (memchr,
 *   strncasecmp with the name's length) touch it.
 * - The SSE2 loads read whole 16-byte groups: the last block of a line
 *   is copied into a zeroed 64-byte buffer first, so nothing is read past
 *   the line (and so past the mapping).
 * - A quoted file cut right after a comma leaves a last line with the
 *   right field count; it is caught by its empty unquoted last string
 *   (quoted_tail), which CUCM never writes.
 * - Offsets are uint32_t: safe because a line longer than
 *   CUCM_CDR_LINE_MAX is rejected before it is split.
 * - A CMR record in a CDR file has fewer fields: cdrRecordType is looked
 *   at before the field count, so it is skipped and not an error.
 * - Integers are unsigned 32-bit in the file for every field we take
 *   (cause codes above INT32_MAX are real); the IP fields, which are
 *   signed, are not taken.
 * - The types line is checked only for the integer columns we map: a
 *   file whose names were shifted against its values would show there.
 */
#include "workers/cucm_cdr.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- The fields we take ---- */

typedef enum { F_U32, F_TIME, F_STR } fkind_t;

typedef struct {
    const char *name;          /* as CUCM writes it */
    const char *alias;         /* another spelling seen in docs, or NULL */
    fkind_t     kind;
    size_t      off;           /* in cucm_cdr_t */
    size_t      max;           /* F_STR: bytes without the NUL */
    unsigned    have;          /* CUCM_CDR_HAVE_* bit; 0: required */
    int         nonempty;      /* the value must not be empty */
} field_t;

#define U32(n, a, m, h, ne) { n, a, F_U32, offsetof(cucm_cdr_t, m), 0, h, ne }
#define TIM(n, m, ne) { n, NULL, F_TIME, offsetof(cucm_cdr_t, m), 0, 0, ne }
#define STR(n, m, h) { n, NULL, F_STR, offsetof(cucm_cdr_t, m),              \
                       sizeof(((cucm_cdr_t *)0)->m) - 1, h, 0 }

/* Indexes of fields[] the code names. */
enum { ID_TYPE = 0, ID_ORIGINATION = 5 };

/* cc_record's "skip this line" (not a public return code). */
#define CC_SKIP 3

static const field_t fields[CUCM_CDR_NWANT] = {
    U32("cdrRecordType", NULL, record_type, 0, 1),
    U32("globalCallID_callManagerId", NULL, cm_id, 0, 1),
    U32("globalCallID_callId", NULL, call_id, 0, 1),
    U32("origLegCallIdentifier", NULL, orig_leg, 0, 0),
    U32("destLegIdentifier", "destLegCallIdentifier", dest_leg, 0, 0),
    TIM("dateTimeOrigination", t_origination, 1),
    TIM("dateTimeConnect", t_connect, 0),
    TIM("dateTimeDisconnect", t_disconnect, 0),
    U32("duration", NULL, duration, 0, 0),
    U32("origCause_value", NULL, orig_cause, 0, 0),
    U32("destCause_value", NULL, dest_cause, 0, 0),
    U32("authorizationLevel", NULL, auth_level, CUCM_CDR_HAVE_FAC, 0),
    STR("globalCallId_ClusterID", cluster_id, 0),
    STR("pkid", pkid, 0),
    STR("callingPartyNumber", calling, 0),
    STR("originalCalledPartyNumber", orig_called, 0),
    STR("finalCalledPartyNumber", final_called, 0),
    STR("lastRedirectDn", last_redirect, CUCM_CDR_HAVE_LAST_REDIRECT),
    STR("origDeviceName", orig_device, CUCM_CDR_HAVE_DEVICES),
    STR("destDeviceName", dest_device, CUCM_CDR_HAVE_DEVICES),
    STR("authCodeDescription", auth_desc, CUCM_CDR_HAVE_FAC),
    STR("clientMatterCode", client_matter, CUCM_CDR_HAVE_CLIENT_MATTER),
    STR("authorizationCodeValue", auth_code, CUCM_CDR_HAVE_AUTH_CODE),
    STR("huntPilotDN", hunt_pilot, CUCM_CDR_HAVE_HUNT_PILOT),
};

/* ---- Errors ---- */

__attribute__((format(printf, 4, 5)))
static int cc_fail(cucm_cdr_reader_t *r, int rc, const field_t *f,
                   const char *fmt, ...)
{
    char why[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    r->err_line = r->line;
    r->err_field = f != NULL ? f->name : NULL;
    if (r->line == 0)
        snprintf(r->err, sizeof r->err, "%s", why);
    else if (f != NULL)
        snprintf(r->err, sizeof r->err, "line %llu: %s: %s",
                 (unsigned long long)r->line, f->name, why);
    else
        snprintf(r->err, sizeof r->err, "line %llu: %s",
                 (unsigned long long)r->line, why);
    return rc;
}

/* A printable excerpt of untrusted bytes for an error message. */
static const char *cc_quote(const char *s, size_t n, char *out, size_t cap)
{
    size_t i, k = 0, keep = n < cap - 4 ? n : cap - 4;

    for (i = 0; i < keep; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    if (keep < n) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
    return out;
}

/* ---- Lines and fields ---- */

/* The next line from r->pos: [*b, *b + *n) without its LF or CRLF;
 * advances r->pos and r->line. 0 at the end of the buffer. */
static int cc_line(cucm_cdr_reader_t *r, const char **b, size_t *n)
{
    const char *s, *nl;
    size_t left = r->len - r->pos;

    if (left == 0)
        return 0;                  /* r->buf may be NULL: no arithmetic */
    s = r->buf + r->pos;
    nl = memchr(s, '\n', left);
    *n = nl != NULL ? (size_t)(nl - s) : left;
    r->pos += nl != NULL ? *n + 1 : *n;
    r->line++;
    r->eol = nl != NULL;
    *b = s;
    if (*n > 0 && s[*n - 1] == '\r')
        (*n)--;
    return 1;
}

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* The first byte `ch` in s[i..n), or n: eight bytes a step, inline
 * (fields are short: a call to memchr costs more than the search). */
static inline size_t cc_find(const char *s, size_t i, size_t n, char ch)
{
    const uint64_t pat = ONES * (uint8_t)ch;

    while (i + 8 <= n) {
        uint64_t x, m;
        memcpy(&x, s + i, 8);
        x ^= pat;
        m = (x - ONES) & ~x & HIGHS;
        if (m != 0)
            return i + (size_t)(__builtin_ctzll(m) >> 3);
        i += 8;
    }
    while (i < n && s[i] != ch)
        i++;
    return i;
}

/* The end of the quoted field opening at s[i] == '"': the index just after
 * its closing quote (a '"' followed by ',' or the end), or SIZE_MAX. */
static size_t cc_quoted(const char *s, size_t i, size_t n)
{
    for (i++; i < n;) {
        i = cc_find(s, i, n, '"');
        if (i == n)
            return SIZE_MAX;
        i++;
        if (i == n || s[i] == ',')
            return i;
        if (s[i] == '"')
            i++;                          /* "" inside: one quote */
    }
    return SIZE_MAX;
}

/* Splits s[0..n) (n <= CUCM_CDR_LINE_MAX) into fields: field k is
 * s[off[k] .. off[k + 1] - 1). Returns the count (<= max), 0 for more
 * than max fields, or -1 for an unterminated quoted string. Writes at
 * most off[0..max]: off must have max + 1 entries. */
static long cc_split(const char *s, size_t n, uint32_t *off, unsigned max)
{
    size_t i = 0;
    unsigned k = 0;

    for (;;) {
        if (k == max)
            return 0;
        off[k++] = (uint32_t)i;
        if (i < n && s[i] == '"') {
            i = cc_quoted(s, i, n);
            if (i == SIZE_MAX)
                return -1;
        } else {
            i = cc_find(s, i, n, ',');
        }
        if (i >= n)
            break;
        i++;
    }
    off[k] = (uint32_t)n + 1;
    return (long)k;
}

/*
 * The fast splitter (SSE2, every x86-64): the line in 64-byte blocks, a
 * bit per byte for ',' and for '"'; the bytes inside quotes are the
 * prefix XOR of the quote bits (carried from block to block), and the
 * separators are the commas outside. It agrees with cc_split whenever
 * every quote of the line opens or closes a field (it follows a separator
 * or the line start, or precedes a separator or the line end) and the
 * line ends outside quotes: then each quoted field holds exactly its two
 * quotes and both splitters end it at the same comma. CUCM writes only
 * such lines; any other ("" inside, a stray quote, an unterminated
 * string) goes to cc_split. Debug builds run both and assert they agree.
 */
#ifdef __SSE2__
/* Bits of ',' and '"' among the 64 bytes at s. */
static inline void cc_masks(const char *s, uint64_t *comma, uint64_t *quote)
{
    const __m128i c = _mm_set1_epi8(','), q = _mm_set1_epi8('"');
    uint64_t mc = 0, mq = 0;
    int j;

    for (j = 0; j < 4; j++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)
                                    (s + 16 * j));
        mc |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, c))
              << (16 * j);
        mq |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, q))
              << (16 * j);
    }
    *comma = mc;
    *quote = mq;
}

static inline uint64_t cc_prefix_xor(uint64_t x)
{
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}

/* r->sep / r->quo for s[0..n); *words of them. 0 if the line ends inside
 * quotes. */
static int cc_bitmaps(cucm_cdr_reader_t *r, const char *s, size_t n,
                      size_t *words)
{
    uint64_t carry = 0;
    size_t w, nw = (n + 63) / 64;

    for (w = 0; w < nw; w++) {
        uint64_t c, q, in;
        if ((w + 1) * 64 <= n) {
            cc_masks(s + 64 * w, &c, &q);
        } else {
            char tail[64] = { 0 };
            memcpy(tail, s + 64 * w, n - 64 * w);
            cc_masks(tail, &c, &q);
        }
        in = cc_prefix_xor(q) ^ carry;
        carry = (uint64_t)0 - (in >> 63);
        r->sep[w] = c & ~in;
        r->quo[w] = q;
    }
    *words = nw;
    return carry == 0;
}

/* Every quote opens or closes a field (see above). */
static int cc_quotes_plain(const cucm_cdr_reader_t *r, size_t n,
                           size_t words)
{
    size_t w;

    for (w = 0; w < words; w++) {
        uint64_t q = r->quo[w], sp = r->sep[w], f, e;
        if (q == 0)
            continue;
        f = sp << 1 | (w > 0 ? r->sep[w - 1] >> 63 : 1);
        e = sp >> 1 | (w + 1 < words ? r->sep[w + 1] << 63 : 0);
        if (w == (n - 1) / 64)
            e |= (uint64_t)1 << ((n - 1) % 64);
        if (q & ~(f | e))
            return 0;
    }
    return 1;
}

/* Field offsets from r->sep, as cc_split writes them. */
static long cc_offsets(cucm_cdr_reader_t *r, size_t n, size_t words,
                       unsigned max)
{
    unsigned k = 1;
    size_t w;

    r->off[0] = 0;
    for (w = 0; w < words; w++)
        for (uint64_t m = r->sep[w]; m != 0; m &= m - 1) {
            if (k == max)
                return 0;
            r->off[k++] = (uint32_t)(64 * w + (size_t)__builtin_ctzll(m) +
                                     1);
        }
    r->off[k] = (uint32_t)n + 1;
    return (long)k;
}
#endif

/* cc_split into r->off, the fast way when it can be. */
static long cc_split_line(cucm_cdr_reader_t *r, const char *s, size_t n,
                          unsigned max)
{
#ifdef __SSE2__
    size_t words;

    if (n > 0 && cc_bitmaps(r, s, n, &words) &&
        cc_quotes_plain(r, n, words)) {
        long k = cc_offsets(r, n, words, max);
#ifndef NDEBUG
        uint32_t chk[CUCM_CDR_FIELDS_MAX + 2];
        long k2 = cc_split(s, n, chk, max);
        assert(k2 == k);
        assert(k <= 0 || memcmp(chk, r->off, sizeof chk[0] * (size_t)(k + 1))
               == 0);
#endif
        return k;
    }
#endif
    return cc_split(s, n, r->off, max);
}

/* Field k of the current line, its quotes taken off (quoted: *q = 1, and
 * the value may still hold "" pairs). */
static void cc_field(const char *s, const uint32_t *off, unsigned k,
                     const char **v, size_t *vn, int *q)
{
    size_t b = off[k], e = off[k + 1] - 1;

    *q = e - b >= 2 && s[b] == '"';
    if (*q) {
        b++;
        e--;
    }
    *v = s + b;
    *vn = e - b;
}

/* ---- Values ---- */

/* Digits only, 0..UINT32_MAX; empty is 0. -1 if not. */
static int cc_u32(const char *v, size_t n, uint32_t *out)
{
    uint64_t x = 0;
    size_t i = 0;

    while (n - i > 10 && v[i] == '0')   /* leading zeros, if any */
        i++;
    if (n - i > 10)
        return -1;
    for (; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)v[i] - '0';
        if (d > 9)
            return -1;
        x = x * 10 + d;
    }
    if (x > UINT32_MAX)
        return -1;
    *out = (uint32_t)x;
    return 0;
}

/* Length of the valid UTF-8 sequence at s[0..n) (n >= 1), or 0. */
static size_t cc_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len, i;
    uint32_t cp;

    if (c < 0xc2 || c > 0xf4)
        return 0;
    len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if (len > n)
        return 0;
    cp = c & (0x3f >> (len - 1));
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* Why a string value is refused (cc_copy). */
enum { CC_STR_OK, CC_STR_CTRL, CC_STR_UTF8, CC_STR_LONG };

/* The byte-by-byte copy of cc_copy. */
static int cc_copy_slow(const char *v, size_t n, int quoted, char *out,
                        size_t max)
{
    const unsigned char *s = (const unsigned char *)v;
    size_t i = 0, k = 0;

    while (i < n) {
        size_t step = 1;
        if (s[i] < 0x20 || s[i] == 0x7f)
            return CC_STR_CTRL;
        if (s[i] >= 0x80 && (step = cc_utf8_seq(s + i, n - i)) == 0)
            return CC_STR_UTF8;
        if (k + step > max)
            return CC_STR_LONG;
        memcpy(out + k, s + i, step);
        k += step;
        if (quoted && s[i] == '"' && i + 1 < n && s[i + 1] == '"')
            step = 2;
        i += step;
    }
    out[k] = '\0';
    return CC_STR_OK;
}

/* 1 if v[0..n) holds a byte the slow copy must look at: a control byte,
 * 0x7f, a non-ASCII byte or '"'. Eight bytes a step; as a yes/no answer
 * the SWAR tests are exact. */
static int cc_needs_care(const char *v, size_t n)
{
    const uint64_t q = ONES * (uint8_t)'"', del = ONES * 0x7f;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t x, a, b;
        memcpy(&x, v + i, 8);
        a = x ^ q;
        b = x ^ del;
        if ((((x - ONES * 0x20) & ~x) | x | ((a - ONES) & ~a) |
             ((b - ONES) & ~b)) & HIGHS)
            return 1;
    }
    for (; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch < 0x20 || ch >= 0x7f || ch == '"')
            return 1;
    }
    return 0;
}

/* Copies v[0..n) into out (max bytes and a NUL), "" -> " when quoted.
 * CC_STR_OK, or why not (out is then unspecified). Plain ASCII (nearly
 * every value) is one check and one memcpy. */
static int cc_copy(const char *v, size_t n, int quoted, char *out,
                   size_t max)
{
    if (!cc_needs_care(v, n)) {
        if (n > max)
            return CC_STR_LONG;
        memcpy(out, v, n);
        out[n] = '\0';
        return CC_STR_OK;
    }
    return cc_copy_slow(v, n, quoted, out, max);
}

/* Decodes the value of wanted field f into c. */
static int cc_value(cucm_cdr_reader_t *r, const field_t *f, const char *v,
                    size_t n, int quoted, cucm_cdr_t *c)
{
    char *dst = (char *)c + f->off, q[40];
    uint32_t x;

    if (f->kind == F_STR) {
        switch (cc_copy(v, n, quoted, dst, f->max)) {
        case CC_STR_OK:
            return CUCM_CDR_OK;
        case CC_STR_CTRL:
            return cc_fail(r, CUCM_CDR_EREC, f, "control byte in a string");
        case CC_STR_UTF8:
            return cc_fail(r, CUCM_CDR_EREC, f, "invalid UTF-8");
        default:
            return cc_fail(r, CUCM_CDR_EREC, f, "longer than %zu bytes",
                           f->max);
        }
    }
    if (n == 0 && f->nonempty)
        return cc_fail(r, CUCM_CDR_EREC, f, "empty");
    if (cc_u32(v, n, &x) != 0)
        return cc_fail(r, CUCM_CDR_EREC, f, "\"%s\" is not an integer in "
                       "0..4294967295", cc_quote(v, n, q, sizeof q));
    if (f->kind == F_TIME)
        *(int64_t *)(void *)dst = (int64_t)x;
    else
        *(uint32_t *)(void *)dst = x;
    return CUCM_CDR_OK;
}

/* ---- Records ---- */

/* cdrRecordType of the split line: 1 go on (a bad or missing value is
 * reported by the checks that follow), 0 skip (CMR or start record), or
 * CUCM_CDR_EREC for an unknown type. */
static int cc_record_type(cucm_cdr_reader_t *r, const char *s, long nf)
{
    const char *v;
    size_t n;
    int q;
    uint32_t t;

    if ((long)r->type_col >= nf)
        return 1;
    cc_field(s, r->off, r->type_col, &v, &n, &q);
    if (n == 0 || cc_u32(v, n, &t) != 0)
        return 1;
    if (t == 0 || t == 2) {
        r->skipped++;
        return 0;
    }
    if (t != 1)
        return cc_fail(r, CUCM_CDR_EREC, &fields[ID_TYPE],
                       "unknown record type %u", t);
    return 1;
}

/* One data line s[0..n) into *c: OK, CC_SKIP (a CMR or start record) or
 * EREC. */
static int cc_record(cucm_cdr_reader_t *r, const char *s, size_t n,
                     cucm_cdr_t *c)
{
    long nf;
    int rc;
    unsigned i;

    if (n > CUCM_CDR_LINE_MAX)
        return cc_fail(r, CUCM_CDR_EREC, NULL, "longer than %u bytes",
                       CUCM_CDR_LINE_MAX);
    nf = cc_split_line(r, s, n, r->nfields + 1);
    if (nf < 0)
        return cc_fail(r, CUCM_CDR_EREC, NULL,
                       "quoted string without its closing quote");
    rc = cc_record_type(r, s, nf);
    if (rc != 1)
        return rc == 0 ? CC_SKIP : rc;
    if (nf == 0)
        return cc_fail(r, CUCM_CDR_EREC, NULL, "more fields than the "
                       "header's %u", r->nfields);
    if (nf != (long)r->nfields)
        return cc_fail(r, CUCM_CDR_EREC, NULL, "%ld fields, the header has "
                       "%u", nf, r->nfields);
    if (!r->eol && r->quoted_tail && r->off[nf] - 1 == r->off[nf - 1])
        return cc_fail(r, CUCM_CDR_EREC, NULL, "last line cut short (its "
                       "last string is neither quoted nor followed by a "
                       "newline)");
    memset(c, 0, sizeof *c);
    c->line = r->line;
    for (i = 0; i < r->nwant; i++) {
        const char *v;
        size_t vn;
        int q;
        cc_field(s, r->off, r->col[i], &v, &vn, &q);
        rc = cc_value(r, &fields[r->id[i]], v, vn, q, c);
        if (rc != CUCM_CDR_OK)
            return rc;
    }
    return CUCM_CDR_OK;
}

int cucm_cdr_next(cucm_cdr_reader_t *r, cucm_cdr_t *c)
{
    const char *s;
    size_t n;

    if (r->kind != CUCM_CDR_KIND_CDR)
        return CUCM_CDR_EOF;
    while (cc_line(r, &s, &n)) {
        int rc;
        if (n == 0)
            continue;
        rc = cc_record(r, s, n, c);
        if (rc == CUCM_CDR_OK) {
            r->records++;
            return rc;
        }
        if (rc == CUCM_CDR_EREC) {
            r->bad++;
            return rc;
        }
        assert(rc == CC_SKIP);
    }
    return CUCM_CDR_EOF;
}

/* ---- The header ---- */

/* Names that only a CMR header has. */
static int cc_is_cmr_name(const char *v, size_t n)
{
    return (n == 17 && strncasecmp(v, "numberPacketsSent", n) == 0) ||
           (n == 12 && strncasecmp(v, "varVQMetrics", n) == 0);
}

static int cc_name_is(const char *v, size_t n, const char *name)
{
    return name != NULL && strlen(name) == n && strncasecmp(v, name, n) == 0;
}

/* The wanted field named v[0..n), or -1. */
static int cc_lookup(const char *v, size_t n)
{
    int i;

    for (i = 0; i < CUCM_CDR_NWANT; i++)
        if (cc_name_is(v, n, fields[i].name) ||
            cc_name_is(v, n, fields[i].alias))
            return i;
    return -1;
}

/* Fills r->col / r->id from found[] (columns, -1 absent), by column. */
static void cc_build_map(cucm_cdr_reader_t *r, const int *found)
{
    unsigned i, j, bits_all = 0, bits_missing = 0;

    r->nwant = 0;
    for (i = 0; i < CUCM_CDR_NWANT; i++) {
        bits_all |= fields[i].have;
        if (found[i] < 0) {
            bits_missing |= fields[i].have;
            continue;
        }
        for (j = r->nwant; j > 0 && r->col[j - 1] > found[i]; j--) {
            r->col[j] = r->col[j - 1];
            r->id[j] = r->id[j - 1];
        }
        r->col[j] = (uint16_t)found[i];
        r->id[j] = (uint8_t)i;
        r->nwant++;
    }
    r->have = bits_all & ~bits_missing;
    r->type_col = (uint16_t)found[ID_TYPE];
}

/* Which columns are which, from the names line. */
static int cc_names(cucm_cdr_reader_t *r, const char *s, size_t n)
{
    int found[CUCM_CDR_NWANT], cmr = 0, i;
    long nf, k;

    if (n > CUCM_CDR_LINE_MAX)
        return cc_fail(r, CUCM_CDR_EFILE, NULL, "header longer than %u "
                       "bytes", CUCM_CDR_LINE_MAX);
    nf = cc_split(s, n, r->off, CUCM_CDR_FIELDS_MAX);
    if (nf <= 0)
        return cc_fail(r, CUCM_CDR_EFILE, NULL, nf == 0 ? "more than 1024 "
                       "fields" : "quoted name without its closing quote");
    for (i = 0; i < CUCM_CDR_NWANT; i++)
        found[i] = -1;
    for (k = 0; k < nf; k++) {
        const char *v;
        size_t vn;
        int q, id;
        cc_field(s, r->off, (unsigned)k, &v, &vn, &q);
        cmr |= cc_is_cmr_name(v, vn);
        if ((id = cc_lookup(v, vn)) < 0)
            continue;
        if (found[id] >= 0)
            return cc_fail(r, CUCM_CDR_EFILE, &fields[id], "column given "
                           "twice");
        found[id] = (int)k;
    }
    r->nfields = (unsigned)nf;
    if (found[ID_TYPE] < 0)
        return cc_fail(r, CUCM_CDR_EFILE, NULL, "not a CUCM CDR header (no "
                       "cdrRecordType)");
    r->kind = CUCM_CDR_KIND_CDR;
    if (cmr && found[ID_ORIGINATION] < 0) {
        r->kind = CUCM_CDR_KIND_CMR;
        return CUCM_CDR_OK;
    }
    for (i = 0; i < CUCM_CDR_NWANT; i++)
        if (found[i] < 0 && fields[i].have == 0) {
            r->kind = 0;
            return cc_fail(r, CUCM_CDR_EFILE, &fields[i], "required column "
                           "missing");
        }
    cc_build_map(r, found);
    return CUCM_CDR_OK;
}

/* The types line: as many as the names, INTEGER for our integers. */
static int cc_types(cucm_cdr_reader_t *r, const char *s, size_t n)
{
    const char *v;
    size_t vn;
    int q;
    char qb[40];
    long nf;
    unsigned i;

    nf = n > CUCM_CDR_LINE_MAX ? 0 : cc_split(s, n, r->off, r->nfields + 1);
    if (nf < 0 || (unsigned long)nf != r->nfields)
        return cc_fail(r, CUCM_CDR_EFILE, NULL, "not a types line for %u "
                       "names (%ld fields)", r->nfields, nf);
    cc_field(s, r->off, r->nfields - 1, &v, &vn, &q);
    r->quoted_tail = r->quoted_tail && !cc_name_is(v, vn, "INTEGER");
    for (i = 0; i < r->nwant; i++) {
        const field_t *f = &fields[r->id[i]];
        if (f->kind == F_STR)
            continue;
        cc_field(s, r->off, r->col[i], &v, &vn, &q);
        if (!cc_name_is(v, vn, "INTEGER"))
            return cc_fail(r, CUCM_CDR_EFILE, f, "declared \"%s\", not "
                           "INTEGER", cc_quote(v, vn, qb, sizeof qb));
    }
    return CUCM_CDR_OK;
}

int cucm_cdr_open(cucm_cdr_reader_t *r, const char *buf, size_t len)
{
    const char *s;
    size_t n;
    int rc;

    memset(r, 0, offsetof(cucm_cdr_reader_t, off));
    r->buf = buf;
    r->len = buf != NULL ? len : 0;
    if (r->len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        r->pos = 3;
    if (!cc_line(r, &s, &n) || n == 0)
        return cc_fail(r, CUCM_CDR_EFILE, NULL, r->line ? "empty header "
                       "line" : "empty file");
    r->quoted_tail = s[0] == '"';
    rc = cc_names(r, s, n);
    if (rc != CUCM_CDR_OK || r->kind == CUCM_CDR_KIND_CMR)
        return rc;
    if (!cc_line(r, &s, &n)) {
        r->line++;
        rc = cc_fail(r, CUCM_CDR_EFILE, NULL, "missing types line");
    } else {
        rc = cc_types(r, s, n);
    }
    if (rc != CUCM_CDR_OK)
        r->kind = 0;
    return rc;
}

/* ---- Call ids, file names, mapping ---- */

static int cc_plain_cluster(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
              *s == '-'))
            return 0;
    return 1;
}

int cucm_cdr_call_id(const cucm_cdr_t *c, char *out, size_t cap)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    const char *p;
    int n;

    if (cap < CUCM_CDR_CALL_ID_MAX + 1)
        return -1;
    if (cc_plain_cluster(c->cluster_id)) {
        n = snprintf(out, cap, "cucm:%s:%u:%u:%u:%u", c->cluster_id,
                     c->cm_id, c->call_id, c->orig_leg, c->dest_leg);
        if (n >= 0 && n <= CUCM_CDR_CALL_ID_MAX)
            return n;
    }
    for (p = c->cluster_id; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    n = snprintf(out, cap, "cucm:#%014llx:%u:%u:%u:%u",
                 (unsigned long long)(h >> 8), c->cm_id, c->call_id,
                 c->orig_leg, c->dest_leg);
    return n;
}

cucm_name_kind_t cucm_cdr_name_kind(const char *base)
{
    if (base[0] == '_' || base[0] == '.')
        return CUCM_NAME_PARTIAL;
    if (strncmp(base, "cdr", 3) == 0)
        return CUCM_NAME_CDR;
    if (strncmp(base, "cmr", 3) == 0)
        return CUCM_NAME_CMR;
    return CUCM_NAME_OTHER;
}

int cucm_cdr_map(const char *path, cucm_cdr_map_t *m)
{
    struct stat st;
    void *p;
    int fd, e;

    m->data = NULL;
    m->len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CUCM_CDR_ESYS;
    if (fstat(fd, &st) != 0)
        goto fail;
    if (st.st_size == 0) {
        close(fd);
        return CUCM_CDR_OK;
    }
    p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        goto fail;
    (void)madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
    close(fd);
    m->data = p;
    m->len = (size_t)st.st_size;
    return CUCM_CDR_OK;
fail:
    e = errno;
    close(fd);
    errno = e;
    return CUCM_CDR_ESYS;
}

void cucm_cdr_unmap(cucm_cdr_map_t *m)
{
    if (m->data != NULL)
        munmap((void *)(uintptr_t)m->data, m->len);
    m->data = NULL;
    m->len = 0;
}
