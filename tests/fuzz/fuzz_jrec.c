/*
 * fuzz_jrec.c -- the journal's msgpack records (shm/jrec.h), which come
 * back from a file that may be damaged.
 *
 * Beyond "no crash, no unbounded allocation":
 *   - decode: the input is tried as a CDR and as a movement. What decodes
 *     must encode again (JREC_OK, at most JREC_*_WORST bytes, which fit
 *     JRN_PAYLOAD_MAX), the encoding must decode to the same record, and
 *     encoding that is a fixed point (canonical bytes). What does not
 *     decode gives a static reason (*why != NULL).
 *   - encode: the input is also read as the fields of a record (strings of
 *     any bytes, lengths up to one past the maximum, maybe without their
 *     NUL; integers of any value). The encoder must accept it exactly when
 *     every rule of jrec.h holds (checked here independently: strict
 *     UTF-8, lengths, enums, ranges), and what it accepts must decode to
 *     the same record.
 */
#include "fuzz.h"

#include "shm/journal.h"
#include "shm/jrec.h"

#include <inttypes.h>

_Static_assert(JREC_CDR_WORST <= JRN_PAYLOAD_MAX, "worst CDR fits a slot");
_Static_assert(JREC_MOVE_WORST <= JRN_PAYLOAD_MAX, "worst move fits a slot");

/* ---- comparing records ---------------------------------------------------- */

#define SAME_STR(a, b, f) FUZZ_CHECK(strcmp((a)->f, (b)->f) == 0, \
                                     #f ": \"%s\" != \"%s\"", (a)->f, (b)->f)
#define SAME_INT(a, b, f) FUZZ_CHECK((a)->f == (b)->f, #f ": %" PRId64       \
                                     " != %" PRId64, (int64_t)(a)->f,        \
                                     (int64_t)(b)->f)

static void same_cdr(const jrec_cdr_t *a, const jrec_cdr_t *b)
{
    SAME_STR(a, b, call_id);
    SAME_STR(a, b, extension);
    SAME_STR(a, b, caller);
    SAME_STR(a, b, callee);
    SAME_STR(a, b, dialed);
    SAME_STR(a, b, prefix);
    SAME_STR(a, b, hangup_cause);
    SAME_INT(a, b, source);
    SAME_INT(a, b, direction);
    SAME_INT(a, b, rounding);
    SAME_INT(a, b, account_id);
    SAME_INT(a, b, start_us);
    SAME_INT(a, b, answer_us);
    SAME_INT(a, b, end_us);
    SAME_INT(a, b, duration);
    SAME_INT(a, b, billsec);
    SAME_INT(a, b, cost);
    SAME_INT(a, b, zone_id);
    SAME_INT(a, b, plan_id);
    SAME_INT(a, b, deck_version);
    SAME_INT(a, b, period_id);
    SAME_INT(a, b, fac_id);
    SAME_INT(a, b, rate_per_minute);
    SAME_INT(a, b, connection_fee);
    SAME_INT(a, b, first_inc);
    SAME_INT(a, b, next_inc);
    SAME_INT(a, b, min_sec);
    SAME_INT(a, b, grace_sec);
    SAME_INT(a, b, flags);
}

static void same_move(const jrec_move_t *a, const jrec_move_t *b)
{
    SAME_STR(a, b, reference);
    SAME_STR(a, b, actor);
    SAME_STR(a, b, reason);
}

/* ---- decode, then encode what decoded ---------------------------------------- */

static void roundtrip_cdr(const uint8_t *data, size_t size)
{
    jrec_cdr_t c, c2, c3;
    const char *why = NULL;
    uint8_t buf[JRN_PAYLOAD_MAX], buf2[JRN_PAYLOAD_MAX];
    size_t n = 0, n2 = 0;

    if (jrec_decode_cdr(data, size, &c, &why) != JREC_OK) {
        FUZZ_CHECK(why != NULL && why[0] != '\0', "no reason given");
        return;
    }
    FUZZ_CHECK(why == NULL, "reason \"%s\" after JREC_OK", why);
    int rc = jrec_encode_cdr(&c, buf, sizeof buf, &n);
    FUZZ_CHECK(rc == JREC_OK, "a decoded CDR does not encode: %d", rc);
    FUZZ_CHECK(n > 0 && n <= JREC_CDR_WORST, "encoded CDR of %zu bytes", n);
    rc = jrec_decode_cdr(buf, n, &c2, &why);
    FUZZ_CHECK(rc == JREC_OK, "re-encoded CDR does not decode: %s", why);
    same_cdr(&c, &c2);
    FUZZ_CHECK(jrec_encode_cdr(&c2, buf2, sizeof buf2, &n2) == JREC_OK, "x");
    FUZZ_CHECK(n2 == n && memcmp(buf, buf2, n) == 0,
               "the encoding is not canonical (%zu vs %zu bytes)", n, n2);
    /* one byte short: ETOOBIG, never an overrun (ASan) */
    FUZZ_CHECK(jrec_encode_cdr(&c2, buf2, n - 1, &n2) == JREC_ETOOBIG,
               "encode into %zu bytes for %zu", n - 1, n);
    /* a truncated payload never decodes */
    FUZZ_CHECK(jrec_decode_cdr(buf, n - 1, &c3, &why) == JREC_EFORMAT,
               "a truncated payload decoded");
}

static void roundtrip_move(const uint8_t *data, size_t size)
{
    jrec_move_t m, m2;
    const char *why = NULL;
    uint8_t buf[JRN_PAYLOAD_MAX], buf2[JRN_PAYLOAD_MAX];
    size_t n = 0, n2 = 0;

    if (jrec_decode_move(data, size, &m, &why) != JREC_OK) {
        FUZZ_CHECK(why != NULL && why[0] != '\0', "no reason given");
        return;
    }
    FUZZ_CHECK(why == NULL, "reason \"%s\" after JREC_OK", why);
    int rc = jrec_encode_move(&m, buf, sizeof buf, &n);
    FUZZ_CHECK(rc == JREC_OK, "a decoded movement does not encode: %d", rc);
    FUZZ_CHECK(n > 0 && n <= JREC_MOVE_WORST, "encoded move of %zu bytes",
               n);
    FUZZ_CHECK(jrec_decode_move(buf, n, &m2, &why) == JREC_OK,
               "re-encoded movement does not decode: %s", why);
    same_move(&m, &m2);
    FUZZ_CHECK(jrec_encode_move(&m2, buf2, sizeof buf2, &n2) == JREC_OK
               && n2 == n && memcmp(buf, buf2, n) == 0,
               "the encoding is not canonical");
}

/* ---- fields from bytes, encode, decode -------------------------------------- */

typedef struct src {
    const uint8_t *p;
    size_t         n;
} src_t;

static uint8_t take8(src_t *s)
{
    if (s->n == 0)
        return 0;
    s->n--;
    return *s->p++;
}

static uint64_t take64(src_t *s)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | take8(s);
    return v;
}

/* An integer field: mostly small and valid, sometimes anything. */
static int64_t take_int(src_t *s)
{
    uint8_t k = take8(s);
    switch (k & 3) {
    case 0:  return k >> 2;
    case 1:  return (int64_t)(take64(s) >> (k >> 2));
    case 2:  return -(int64_t)(k >> 2) - 1;
    default: return (int64_t)take64(s);
    }
}

/* A string into dst[max + 1]: a length byte (0..max + 1: one past the
 * maximum means "no NUL inside the array"), then that many bytes.
 * Returns 1 when it obeys jrec.h (a NUL within the array, strict UTF-8,
 * non-empty when required). */
static int take_str(src_t *s, char *dst, size_t max, int nonempty)
{
    size_t len = take8(s) % (max + 2);
    for (size_t i = 0; i < len && i <= max; i++)
        dst[i] = (char)take8(s);
    if (len <= max)
        dst[len] = '\0';
    const char *nul = memchr(dst, '\0', max + 1);
    if (nul == NULL)
        return 0;
    size_t n = (size_t)(nul - dst);
    return fuzz_utf8_ok((const uint8_t *)dst, n) && (!nonempty || n > 0);
}

static void encode_cdr_fields(const uint8_t *data, size_t size)
{
    src_t s = { data, size };
    jrec_cdr_t c, d;
    int ok = 1;
    memset(&c, 0x5a, sizeof c);
    ok &= take_str(&s, c.call_id, JREC_CALL_ID_MAX, 1);
    ok &= take_str(&s, c.extension, JREC_EXT_MAX, 0);
    ok &= take_str(&s, c.caller, JREC_NUMBER_MAX, 0);
    ok &= take_str(&s, c.callee, JREC_NUMBER_MAX, 0);
    ok &= take_str(&s, c.dialed, JREC_NUMBER_MAX, 0);
    ok &= take_str(&s, c.prefix, JREC_PREFIX_MAX, 0);
    ok &= take_str(&s, c.hangup_cause, JREC_CAUSE_MAX, 0);
    c.source = take8(&s) % 4;
    c.direction = take8(&s) % 5;
    c.rounding = take8(&s) % 6;
    ok &= c.source <= JREC_SRC_CUCM && c.direction <= JREC_DIR_INTERNAL
          && c.rounding <= JREC_ROUND_HALF_UP;
    int64_t *i64[] = { &c.account_id, &c.start_us, &c.answer_us, &c.end_us,
                       &c.cost, &c.zone_id, &c.plan_id, &c.deck_version,
                       &c.period_id, &c.fac_id, &c.rate_per_minute,
                       &c.connection_fee };
    for (size_t i = 0; i < sizeof i64 / sizeof i64[0]; i++) {
        *i64[i] = take_int(&s);
        ok &= *i64[i] >= 0;
    }
    uint32_t *u32[] = { &c.duration, &c.billsec, &c.first_inc, &c.next_inc,
                        &c.min_sec, &c.grace_sec, &c.flags };
    for (size_t i = 0; i < sizeof u32 / sizeof u32[0]; i++) {
        *u32[i] = (uint32_t)take_int(&s);
        ok &= *u32[i] <= INT32_MAX;
    }

    uint8_t buf[JRN_PAYLOAD_MAX];
    size_t n = 0;
    int rc = jrec_encode_cdr(&c, buf, sizeof buf, &n);
    FUZZ_CHECK((rc == JREC_OK) == ok, "encoder said %d for a record that "
               "is %s", rc, ok ? "valid" : "invalid");
    if (rc != JREC_OK)
        return;
    FUZZ_CHECK(n <= JREC_CDR_WORST, "%zu bytes > JREC_CDR_WORST", n);
    const char *why = NULL;
    FUZZ_CHECK(jrec_decode_cdr(buf, n, &d, &why) == JREC_OK,
               "an encoded CDR does not decode: %s", why);
    same_cdr(&c, &d);
    jrec_move_t m;
    FUZZ_CHECK(jrec_decode_move(buf, n, &m, &why) == JREC_EFORMAT,
               "a CDR decoded as a movement");
}

static void encode_move_fields(const uint8_t *data, size_t size)
{
    src_t s = { data, size };
    jrec_move_t m, d;
    int ok = 1;
    memset(&m, 0x5a, sizeof m);
    ok &= take_str(&s, m.reference, JREC_REFERENCE_MAX, 0);
    ok &= take_str(&s, m.actor, JREC_ACTOR_MAX, 1);
    ok &= take_str(&s, m.reason, JREC_REASON_MAX, 0);
    uint8_t buf[JRN_PAYLOAD_MAX];
    size_t n = 0;
    int rc = jrec_encode_move(&m, buf, sizeof buf, &n);
    FUZZ_CHECK((rc == JREC_OK) == ok, "encoder said %d for a movement "
               "that is %s", rc, ok ? "valid" : "invalid");
    if (rc != JREC_OK)
        return;
    FUZZ_CHECK(n <= JREC_MOVE_WORST, "%zu bytes > JREC_MOVE_WORST", n);
    const char *why = NULL;
    FUZZ_CHECK(jrec_decode_move(buf, n, &d, &why) == JREC_OK,
               "an encoded movement does not decode: %s", why);
    same_move(&m, &d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* exactly size bytes: any read past them is an ASan report */
    uint8_t *p = (uint8_t *)fuzz_dup(data, size, 0);
    roundtrip_cdr(p, size);
    roundtrip_move(p, size);
    if (size > 0 && (p[0] & 1))
        encode_cdr_fields(p + 1, size - 1);
    else if (size > 0)
        encode_move_fields(p + 1, size - 1);
    free(p);
    return 0;
}
