/*
 * jrec.c -- msgpack payloads of journal records (see jrec.h).
 *
 * Encode: msgpack_packer over a fixed buffer (jrec_buf_write refuses to go
 * past cap), so the rating path never allocates. Every field is checked
 * before anything is packed.
 *
 * Decode: jrec_scan() walks the bytes first and accepts only what our
 * shapes can contain (one top-level array of at most JREC_SCAN_MAX
 * elements whose elements are integers, nil, booleans or str with their
 * lengths inside the buffer); only then does msgpack_unpack() build the
 * objects, into a stack zone, and each element is checked for type, range
 * and length.
 *
 * NOTES
 * - The scan is what makes garbage harmless: msgpack-c allocates an
 *   array's element table as soon as it reads the header, so five bytes
 *   "dd ff ff ff ff" would ask the zone for 96 GB. Keep the scan in front
 *   of msgpack_unpack.
 * - msgpack str objects point into the input buffer; they are copied out
 *   (with a NUL) before the zone is destroyed, and they are not
 *   NUL-terminated in the buffer.
 * - A non-negative value packed with msgpack_pack_int64 comes back as
 *   POSITIVE_INTEGER; both integer types are accepted wherever the range
 *   allows.
 */
#include "shm/jrec.h"

#include <msgpack.h>
#include <string.h>

#define JREC_SCAN_MAX 64        /* elements of the top-level array */
#define JREC_MOVE_N   4
#define JREC_CDR_N    30

/* ---- helpers shared by both directions -------------------------------- */

/* Valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF) without NUL:
 * what PostgreSQL's text input accepts in a UTF8 database. */
static int jrec_utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* Length of a C string stored in a char[max + 1]; -1 if no NUL within it
 * or if it is not valid UTF-8. */
static long jrec_str_len(const char *s, size_t max)
{
    const char *nul = memchr(s, '\0', max + 1);
    if (nul == NULL)
        return -1;
    size_t n = (size_t)(nul - s);
    return jrec_utf8_ok((const uint8_t *)s, n) ? (long)n : -1;
}

const char *jrec_source_name(unsigned source)
{
    static const char *const names[] = { "freeswitch", "cucm" };
    return source < 2 ? names[source] : NULL;
}

const char *jrec_direction_name(unsigned direction)
{
    static const char *const names[] = { "outbound", "inbound", "internal" };
    return direction < 3 ? names[direction] : NULL;
}

const char *jrec_rounding_name(unsigned rounding)
{
    static const char *const names[] = { NULL, "up", "down", "half_up" };
    return rounding < 4 ? names[rounding] : NULL;
}

/* ---- encode ----------------------------------------------------------- */

typedef struct jrec_buf {
    uint8_t *p;
    size_t   cap, len;
} jrec_buf_t;

static int jrec_buf_write(void *data, const char *buf, size_t len)
{
    jrec_buf_t *b = data;
    if (len > b->cap - b->len)
        return -1;
    memcpy(b->p + b->len, buf, len);
    b->len += len;
    return 0;
}

/* rc accumulates packer results: any failure leaves it non-zero. */
static void jrec_pack_str(msgpack_packer *pk, int *rc, const char *s,
                          size_t n)
{
    *rc |= msgpack_pack_str(pk, n);
    *rc |= msgpack_pack_str_body(pk, s, n);
}

static int jrec_finish(int rc, const jrec_buf_t *b, size_t *len)
{
    if (rc != 0)
        return JREC_ETOOBIG;
    *len = b->len;
    return JREC_OK;
}

int jrec_encode_move(const jrec_move_t *m, uint8_t *buf, size_t cap,
                     size_t *len)
{
    long lref = jrec_str_len(m->reference, JREC_REFERENCE_MAX);
    long lact = jrec_str_len(m->actor, JREC_ACTOR_MAX);
    long lrea = jrec_str_len(m->reason, JREC_REASON_MAX);
    if (lref < 0 || lact <= 0 || lrea < 0)
        return JREC_EINVAL;

    jrec_buf_t b = { buf, cap, 0 };
    msgpack_packer pk;
    int rc = 0;
    msgpack_packer_init(&pk, &b, jrec_buf_write);
    rc |= msgpack_pack_array(&pk, JREC_MOVE_N);
    rc |= msgpack_pack_uint8(&pk, JREC_TAG_MOVE_V1);
    jrec_pack_str(&pk, &rc, m->reference, (size_t)lref);
    jrec_pack_str(&pk, &rc, m->actor, (size_t)lact);
    jrec_pack_str(&pk, &rc, m->reason, (size_t)lrea);
    return jrec_finish(rc, &b, len);
}

int jrec_encode_cdr(const jrec_cdr_t *c, uint8_t *buf, size_t cap,
                    size_t *len)
{
    long lcid = jrec_str_len(c->call_id, JREC_CALL_ID_MAX);
    long lext = jrec_str_len(c->extension, JREC_EXT_MAX);
    long lcgr = jrec_str_len(c->caller, JREC_NUMBER_MAX);
    long lcge = jrec_str_len(c->callee, JREC_NUMBER_MAX);
    long ldia = jrec_str_len(c->dialed, JREC_NUMBER_MAX);
    long lpfx = jrec_str_len(c->prefix, JREC_PREFIX_MAX);
    long lcau = jrec_str_len(c->hangup_cause, JREC_CAUSE_MAX);
    if (lcid <= 0 || lext < 0 || lcgr < 0 || lcge < 0 || ldia < 0 ||
        lpfx < 0 || lcau < 0)
        return JREC_EINVAL;
    if (c->source > JREC_SRC_CUCM || c->direction > JREC_DIR_INTERNAL ||
        c->rounding > JREC_ROUND_HALF_UP)
        return JREC_EINVAL;
    if (c->account_id < 0 || c->start_us < 0 || c->answer_us < 0 ||
        c->end_us < 0 || c->cost < 0 || c->zone_id < 0 || c->plan_id < 0 ||
        c->deck_version < 0 || c->period_id < 0 || c->fac_id < 0 ||
        c->rate_per_minute < 0 || c->connection_fee < 0)
        return JREC_EINVAL;
    if (c->duration > INT32_MAX || c->billsec > INT32_MAX ||
        c->first_inc > INT32_MAX || c->next_inc > INT32_MAX ||
        c->min_sec > INT32_MAX || c->grace_sec > INT32_MAX ||
        c->flags > INT32_MAX)
        return JREC_EINVAL;

    jrec_buf_t b = { buf, cap, 0 };
    msgpack_packer pk;
    int rc = 0;
    msgpack_packer_init(&pk, &b, jrec_buf_write);
    rc |= msgpack_pack_array(&pk, JREC_CDR_N);
    rc |= msgpack_pack_uint8(&pk, JREC_TAG_CDR_V1);
    jrec_pack_str(&pk, &rc, c->call_id, (size_t)lcid);
    rc |= msgpack_pack_uint8(&pk, c->source);
    rc |= msgpack_pack_int64(&pk, c->account_id);
    jrec_pack_str(&pk, &rc, c->extension, (size_t)lext);
    jrec_pack_str(&pk, &rc, c->caller, (size_t)lcgr);
    jrec_pack_str(&pk, &rc, c->callee, (size_t)lcge);
    jrec_pack_str(&pk, &rc, c->dialed, (size_t)ldia);
    rc |= msgpack_pack_uint8(&pk, c->direction);
    rc |= msgpack_pack_int64(&pk, c->start_us);
    rc |= msgpack_pack_int64(&pk, c->answer_us);
    rc |= msgpack_pack_int64(&pk, c->end_us);
    rc |= msgpack_pack_uint32(&pk, c->duration);
    rc |= msgpack_pack_uint32(&pk, c->billsec);
    rc |= msgpack_pack_int64(&pk, c->cost);
    rc |= msgpack_pack_int64(&pk, c->zone_id);
    jrec_pack_str(&pk, &rc, c->prefix, (size_t)lpfx);
    rc |= msgpack_pack_int64(&pk, c->plan_id);
    rc |= msgpack_pack_int64(&pk, c->deck_version);
    rc |= msgpack_pack_int64(&pk, c->period_id);
    rc |= msgpack_pack_int64(&pk, c->rate_per_minute);
    rc |= msgpack_pack_int64(&pk, c->connection_fee);
    rc |= msgpack_pack_uint32(&pk, c->first_inc);
    rc |= msgpack_pack_uint32(&pk, c->next_inc);
    rc |= msgpack_pack_uint32(&pk, c->min_sec);
    rc |= msgpack_pack_uint32(&pk, c->grace_sec);
    rc |= msgpack_pack_uint8(&pk, c->rounding);
    jrec_pack_str(&pk, &rc, c->hangup_cause, (size_t)lcau);
    rc |= msgpack_pack_int64(&pk, c->fac_id);
    rc |= msgpack_pack_uint32(&pk, c->flags);
    return jrec_finish(rc, &b, len);
}

/* ---- decode ----------------------------------------------------------- */

/* Big-endian unsigned of n bytes. */
static uint64_t jrec_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/*
 * Accepts exactly: an array header (fixarray, array16) of count elements
 * (1..JREC_SCAN_MAX), then count scalars (positive/negative fixint,
 * nil, false, true, uint8..64, int8..64, fixstr, str8/16/32 whose bytes
 * are inside the buffer), then nothing. *count receives the count.
 */
static int jrec_scan(const uint8_t *p, size_t len, uint32_t *count,
                     const char **why)
{
    size_t i;
    uint64_t n;

    if (len == 0) {
        *why = "empty payload";
        return -1;
    }
    if ((p[0] & 0xf0) == 0x90) {
        n = p[0] & 0x0f;
        i = 1;
    } else if (p[0] == 0xdc && len >= 3) {
        n = jrec_be(p + 1, 2);
        i = 3;
    } else {
        *why = "not an array";
        return -1;
    }
    if (n == 0 || n > JREC_SCAN_MAX) {
        *why = "bad element count";
        return -1;
    }
    for (uint64_t e = 0; e < n; e++) {
        uint8_t t;
        size_t need = 0;        /* bytes after the type byte */
        uint64_t slen = 0;      /* str payload */
        if (i >= len) {
            *why = "truncated";
            return -1;
        }
        t = p[i++];
        if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
            continue;                           /* fixint, nil, bool */
        if ((t & 0xe0) == 0xa0) {
            slen = t & 0x1f;                    /* fixstr */
        } else {
            switch (t) {
            case 0xcc: case 0xd0: need = 1; break;
            case 0xcd: case 0xd1: need = 2; break;
            case 0xce: case 0xd2: need = 4; break;
            case 0xcf: case 0xd3: need = 8; break;
            case 0xd9: case 0xda: case 0xdb:
                need = (size_t)1 << (t - 0xd9);  /* str8/16/32 length */
                if (len - i < need) {
                    *why = "truncated";
                    return -1;
                }
                slen = jrec_be(p + i, need);
                i += need;
                need = 0;
                break;
            default:
                *why = "unexpected msgpack type";
                return -1;
            }
        }
        if (len - i < need || len - i - need < slen) {
            *why = "truncated";
            return -1;
        }
        i += need + (size_t)slen;
    }
    if (i != len) {
        *why = "trailing bytes";
        return -1;
    }
    *count = (uint32_t)n;
    return 0;
}

/* The decoding state: the element array and the first error. */
typedef struct jrec_dec {
    const msgpack_object *o;
    uint32_t              n, next;
    const char           *why;
} jrec_dec_t;

static const msgpack_object *jrec_next(jrec_dec_t *d)
{
    return d->next < d->n ? &d->o[d->next++] : NULL;
}

static int64_t jrec_int(jrec_dec_t *d, int64_t min, int64_t max,
                        const char *err)
{
    const msgpack_object *o = jrec_next(d);
    int64_t v;
    if (o == NULL)
        goto bad;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX)
            goto bad;
        v = (int64_t)o->via.u64;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        v = o->via.i64;
    } else {
        goto bad;
    }
    if (v < min || v > max)
        goto bad;
    return v;
bad:
    if (d->why == NULL)
        d->why = err;
    return 0;
}

/* Copies a str of 0..max bytes (min_len 1: non-empty) into dst[max + 1]. */
static void jrec_str(jrec_dec_t *d, char *dst, size_t max, size_t min_len,
                     const char *err)
{
    const msgpack_object *o = jrec_next(d);
    dst[0] = '\0';
    if (o == NULL || o->type != MSGPACK_OBJECT_STR ||
        o->via.str.size > max || o->via.str.size < min_len ||
        !jrec_utf8_ok((const uint8_t *)o->via.str.ptr, o->via.str.size)) {
        if (d->why == NULL)
            d->why = err;
        return;
    }
    if (o->via.str.size > 0)     /* an empty str may have a NULL ptr */
        memcpy(dst, o->via.str.ptr, o->via.str.size);
    dst[o->via.str.size] = '\0';
}

/*
 * Scans, unpacks, checks the tag and the element count; then calls fill.
 * Returns JREC_OK or JREC_EFORMAT with *why.
 */
static int jrec_decode(const void *buf, size_t len, uint8_t tag,
                       uint32_t nfields, void (*fill)(jrec_dec_t *, void *),
                       void *out, const char **why)
{
    const char *err = NULL;
    uint32_t count = 0;
    int rc = JREC_EFORMAT;

    if (buf == NULL || jrec_scan(buf, len, &count, &err) != 0)
        goto out;
    if (count != nfields) {
        err = "wrong number of fields for its tag";
        goto out;
    }

    msgpack_zone zone;
    msgpack_object obj;
    size_t off = 0;
    if (!msgpack_zone_init(&zone, 2048)) {
        err = "out of memory";
        goto out;
    }
    if (msgpack_unpack(buf, len, &off, &zone, &obj) != MSGPACK_UNPACK_SUCCESS
        || off != len || obj.type != MSGPACK_OBJECT_ARRAY ||
        obj.via.array.size != nfields) {
        err = "msgpack unpack failed";
    } else {
        jrec_dec_t d = { obj.via.array.ptr, obj.via.array.size, 0, NULL };
        if (jrec_int(&d, tag, tag, "unknown tag") == tag && d.why == NULL) {
            fill(&d, out);
            err = d.why;
            if (err == NULL)
                rc = JREC_OK;
        } else {
            err = "unknown tag";
        }
    }
    msgpack_zone_destroy(&zone);
out:
    if (why != NULL)
        *why = rc == JREC_OK ? NULL : err;
    return rc;
}

static void jrec_fill_move(jrec_dec_t *d, void *out)
{
    jrec_move_t *m = out;
    memset(m, 0, sizeof *m);
    jrec_str(d, m->reference, JREC_REFERENCE_MAX, 0, "reference: bad str");
    jrec_str(d, m->actor, JREC_ACTOR_MAX, 1, "actor: bad str");
    jrec_str(d, m->reason, JREC_REASON_MAX, 0, "reason: bad str");
}

static void jrec_fill_cdr(jrec_dec_t *d, void *out)
{
    jrec_cdr_t *c = out;
    memset(c, 0, sizeof *c);
    jrec_str(d, c->call_id, JREC_CALL_ID_MAX, 1, "call_id: bad str");
    c->source = (uint8_t)jrec_int(d, 0, JREC_SRC_CUCM, "source: bad enum");
    c->account_id = jrec_int(d, 0, INT64_MAX, "account_id: bad int");
    jrec_str(d, c->extension, JREC_EXT_MAX, 0, "extension: bad str");
    jrec_str(d, c->caller, JREC_NUMBER_MAX, 0, "caller: bad str");
    jrec_str(d, c->callee, JREC_NUMBER_MAX, 0, "callee: bad str");
    jrec_str(d, c->dialed, JREC_NUMBER_MAX, 0, "dialed: bad str");
    c->direction = (uint8_t)jrec_int(d, 0, JREC_DIR_INTERNAL,
                                     "direction: bad enum");
    c->start_us = jrec_int(d, 0, INT64_MAX, "start_us: bad int");
    c->answer_us = jrec_int(d, 0, INT64_MAX, "answer_us: bad int");
    c->end_us = jrec_int(d, 0, INT64_MAX, "end_us: bad int");
    c->duration = (uint32_t)jrec_int(d, 0, INT32_MAX, "duration: bad int");
    c->billsec = (uint32_t)jrec_int(d, 0, INT32_MAX, "billsec: bad int");
    c->cost = jrec_int(d, 0, INT64_MAX, "cost: bad int");
    c->zone_id = jrec_int(d, 0, INT64_MAX, "zone_id: bad int");
    jrec_str(d, c->prefix, JREC_PREFIX_MAX, 0, "prefix: bad str");
    c->plan_id = jrec_int(d, 0, INT64_MAX, "plan_id: bad int");
    c->deck_version = jrec_int(d, 0, INT64_MAX, "deck_version: bad int");
    c->period_id = jrec_int(d, 0, INT64_MAX, "period_id: bad int");
    c->rate_per_minute = jrec_int(d, 0, INT64_MAX, "rate_per_minute: bad int");
    c->connection_fee = jrec_int(d, 0, INT64_MAX, "connection_fee: bad int");
    c->first_inc = (uint32_t)jrec_int(d, 0, INT32_MAX, "first_inc: bad int");
    c->next_inc = (uint32_t)jrec_int(d, 0, INT32_MAX, "next_inc: bad int");
    c->min_sec = (uint32_t)jrec_int(d, 0, INT32_MAX, "min_sec: bad int");
    c->grace_sec = (uint32_t)jrec_int(d, 0, INT32_MAX, "grace_sec: bad int");
    c->rounding = (uint8_t)jrec_int(d, 0, JREC_ROUND_HALF_UP,
                                    "rounding: bad enum");
    jrec_str(d, c->hangup_cause, JREC_CAUSE_MAX, 0, "hangup_cause: bad str");
    c->fac_id = jrec_int(d, 0, INT64_MAX, "fac_id: bad int");
    c->flags = (uint32_t)jrec_int(d, 0, INT32_MAX, "flags: bad int");
}

int jrec_decode_move(const void *buf, size_t len, jrec_move_t *out,
                     const char **why)
{
    return jrec_decode(buf, len, JREC_TAG_MOVE_V1, JREC_MOVE_N,
                       jrec_fill_move, out, why);
}

int jrec_decode_cdr(const void *buf, size_t len, jrec_cdr_t *out,
                    const char **why)
{
    return jrec_decode(buf, len, JREC_TAG_CDR_V1, JREC_CDR_N, jrec_fill_cdr,
                       out, why);
}
