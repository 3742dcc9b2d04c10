/*
 * test_jrec.c -- journal payloads: round trips, the worst case of each
 * shape fits a slot, every field's rules are enforced both ways, and
 * truncated, mistyped, oversized or random payloads are refused without a
 * crash.
 */
#include "shm/jrec.h"
#include "shm/journal.h"
#include "tests/testhelp.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

static void fill_str(char *dst, size_t n, char c)
{
    memset(dst, c, n);
    dst[n] = '\0';
}

static jrec_cdr_t typical_cdr(void)
{
    jrec_cdr_t c;
    memset(&c, 0, sizeof c);
    strcpy(c.call_id, "0f3c9a7e-5b1d-4c2e-9a8f-1d2e3f4a5b6c");
    strcpy(c.extension, "2001");
    strcpy(c.caller, "2001");
    strcpy(c.callee, "5491155554444");
    strcpy(c.dialed, "0 9 11-5555 4444");
    strcpy(c.prefix, "549");
    strcpy(c.hangup_cause, "NORMAL_CLEARING");
    c.source = JREC_SRC_FREESWITCH;
    c.direction = JREC_DIR_OUTBOUND;
    c.rounding = JREC_ROUND_UP;
    c.account_id = 42;
    c.start_us = 1772643600000000LL;
    c.answer_us = c.start_us + 4500000;
    c.end_us = c.answer_us + 45000000;
    c.duration = 50;
    c.billsec = 45;
    c.cost = 192000;
    c.zone_id = 2;
    c.plan_id = 1;
    c.deck_version = 2;
    c.period_id = 10;
    c.rate_per_minute = 240000;
    c.connection_fee = 0;
    c.first_inc = 30;
    c.next_inc = 6;
    c.flags = 5;
    return c;
}

/* Every field at its largest encoding. */
static jrec_cdr_t worst_cdr(void)
{
    jrec_cdr_t c;
    memset(&c, 0, sizeof c);
    fill_str(c.call_id, JREC_CALL_ID_MAX, 'c');
    fill_str(c.extension, JREC_EXT_MAX, '1');
    fill_str(c.caller, JREC_NUMBER_MAX, '2');
    fill_str(c.callee, JREC_NUMBER_MAX, '3');
    fill_str(c.dialed, JREC_NUMBER_MAX, '4');
    fill_str(c.prefix, JREC_PREFIX_MAX, '5');
    fill_str(c.hangup_cause, JREC_CAUSE_MAX, 'H');
    c.source = JREC_SRC_CUCM;
    c.direction = JREC_DIR_INTERNAL;
    c.rounding = JREC_ROUND_HALF_UP;
    c.account_id = c.start_us = c.answer_us = c.end_us = INT64_MAX;
    c.cost = c.zone_id = c.plan_id = c.deck_version = c.period_id = INT64_MAX;
    c.fac_id = c.rate_per_minute = c.connection_fee = INT64_MAX;
    c.duration = c.billsec = c.first_inc = c.next_inc = INT32_MAX;
    c.min_sec = c.grace_sec = c.flags = INT32_MAX;
    return c;
}

static void test_round_trips(void)
{
    uint8_t buf[JRN_PAYLOAD_MAX];
    size_t len = 0;
    jrec_cdr_t c = typical_cdr(), d;
    const char *why = "unset";

    TEST_EQ_I64(jrec_encode_cdr(&c, buf, sizeof buf, &len), JREC_OK);
    TEST_CHECK(len > 0 && len < 200);
    TEST_EQ_I64(jrec_decode_cdr(buf, len, &d, &why), JREC_OK);
    TEST_CHECK(why == NULL);
    TEST_CHECK(memcmp(&c, &d, sizeof c) == 0);

    /* unanswered, unrated, UTF-8 names, zeros everywhere allowed */
    memset(&c, 0, sizeof c);
    strcpy(c.call_id, "cluster1:4711");
    strcpy(c.caller, "Jos\xc3\xa9 \xe2\x82\xac");      /* "José €" */
    c.source = JREC_SRC_CUCM;
    c.direction = JREC_DIR_INBOUND;
    TEST_EQ_I64(jrec_encode_cdr(&c, buf, sizeof buf, &len), JREC_OK);
    TEST_EQ_I64(jrec_decode_cdr(buf, len, &d, NULL), JREC_OK);
    TEST_CHECK(memcmp(&c, &d, sizeof c) == 0);
    TEST_EQ_STR(d.caller, "Jos\xc3\xa9 \xe2\x82\xac");

    jrec_move_t m, n;
    memset(&m, 0, sizeof m);
    strcpy(m.reference, "rcpt-2026-000123");
    strcpy(m.actor, "admin:alice");
    strcpy(m.reason, "monthly top-up");
    TEST_EQ_I64(jrec_encode_move(&m, buf, sizeof buf, &len), JREC_OK);
    TEST_EQ_I64(jrec_decode_move(buf, len, &n, NULL), JREC_OK);
    TEST_CHECK(memcmp(&m, &n, sizeof m) == 0);
    /* empty reference and reason are fine */
    memset(&m, 0, sizeof m);
    strcpy(m.actor, "x");
    TEST_EQ_I64(jrec_encode_move(&m, buf, sizeof buf, &len), JREC_OK);
    TEST_EQ_I64(len, 6);
    TEST_EQ_I64(jrec_decode_move(buf, len, &n, NULL), JREC_OK);
    TEST_CHECK(memcmp(&m, &n, sizeof m) == 0);

    TEST_EQ_STR(jrec_source_name(JREC_SRC_CUCM), "cucm");
    TEST_EQ_STR(jrec_direction_name(JREC_DIR_INTERNAL), "internal");
    TEST_EQ_STR(jrec_rounding_name(JREC_ROUND_HALF_UP), "half_up");
    TEST_CHECK(jrec_rounding_name(JREC_ROUND_NONE) == NULL);
    TEST_CHECK(jrec_source_name(2) == NULL);
}

static void test_worst_case(void)
{
    uint8_t buf[JRN_PAYLOAD_MAX];
    size_t len = 0;
    jrec_cdr_t c = worst_cdr(), d;

    TEST_EQ_I64(jrec_encode_cdr(&c, buf, sizeof buf, &len), JREC_OK);
    TEST_EQ_I64(len, JREC_CDR_WORST);
    TEST_CHECK(len <= JRN_PAYLOAD_MAX);
    TEST_EQ_I64(jrec_decode_cdr(buf, len, &d, NULL), JREC_OK);
    TEST_CHECK(memcmp(&c, &d, sizeof c) == 0);
    /* every smaller buffer is refused, never overrun */
    for (size_t cap = 0; cap < len; cap++) {
        uint8_t small[JRN_PAYLOAD_MAX + 16];
        size_t got = 12345;
        memset(small, 0xab, sizeof small);
        TEST_EQ_I64(jrec_encode_cdr(&c, small, cap, &got), JREC_ETOOBIG);
        TEST_EQ_I64(got, 12345);
        TEST_EQ_I64(small[cap], 0xab);
    }
    /* multi-byte characters count in bytes: 20 x "é" = 40 bytes fits */
    memset(c.caller, 0, sizeof c.caller);
    for (int i = 0; i < JREC_NUMBER_MAX / 2; i++)
        memcpy(c.caller + 2 * i, "\xc3\xa9", 2);
    TEST_EQ_I64(jrec_encode_cdr(&c, buf, sizeof buf, &len), JREC_OK);
    TEST_EQ_I64(len, JREC_CDR_WORST);

    jrec_move_t m, n;
    memset(&m, 0, sizeof m);
    fill_str(m.reference, JREC_REFERENCE_MAX, 'r');
    fill_str(m.actor, JREC_ACTOR_MAX, 'a');
    fill_str(m.reason, JREC_REASON_MAX, 'w');
    TEST_EQ_I64(jrec_encode_move(&m, buf, sizeof buf, &len), JREC_OK);
    TEST_EQ_I64(len, JREC_MOVE_WORST);
    TEST_EQ_I64(jrec_decode_move(buf, len, &n, NULL), JREC_OK);
    TEST_CHECK(memcmp(&m, &n, sizeof m) == 0);
    TEST_EQ_I64(jrec_encode_move(&m, buf, len - 1, &len), JREC_ETOOBIG);
}

static void test_encode_refuses(void)
{
    uint8_t buf[JRN_PAYLOAD_MAX];
    size_t len = 0;
    jrec_cdr_t c;

#define REFUSED(stmt)                                                         \
    do {                                                                      \
        c = typical_cdr();                                                    \
        stmt;                                                                 \
        TEST_EQ_I64(jrec_encode_cdr(&c, buf, sizeof buf, &len), JREC_EINVAL); \
    } while (0)
    REFUSED(c.call_id[0] = '\0');
    REFUSED(memset(c.caller, '7', sizeof c.caller));   /* no NUL: too long */
    REFUSED(memset(c.call_id, 'x', sizeof c.call_id));
    REFUSED(strcpy(c.callee, "\xc3("));                 /* bad UTF-8 */
    REFUSED(strcpy(c.dialed, "\xed\xa0\x80"));          /* surrogate */
    REFUSED(strcpy(c.prefix, "\xc0\xaf"));              /* overlong */
    REFUSED(c.source = 2);
    REFUSED(c.direction = 3);
    REFUSED(c.rounding = 4);
    REFUSED(c.cost = -1);
    REFUSED(c.account_id = -5);
    REFUSED(c.start_us = -1);
    REFUSED(c.rate_per_minute = -1);
    REFUSED(c.duration = (uint32_t)INT32_MAX + 1);
    REFUSED(c.flags = 0x80000000u);
#undef REFUSED

    jrec_move_t m;
    memset(&m, 0, sizeof m);
    TEST_EQ_I64(jrec_encode_move(&m, buf, sizeof buf, &len), JREC_EINVAL);
    strcpy(m.actor, "ok");
    memset(m.reason, 'x', sizeof m.reason);
    TEST_EQ_I64(jrec_encode_move(&m, buf, sizeof buf, &len), JREC_EINVAL);
}

/* Re-packs the elements of a valid payload, element k replaced by what
 * put() packs. Returns the length in out. */
static size_t repack(const uint8_t *src, size_t srclen, uint32_t k,
                     void (*put)(msgpack_packer *, const msgpack_object *),
                     uint8_t *out, size_t cap)
{
    msgpack_zone z;
    msgpack_object o;
    size_t off = 0;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_zone_init(&z, 2048);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_unpack((const char *)src, srclen, &off, &z, &o)
        != MSGPACK_UNPACK_SUCCESS)
        abort();
    msgpack_pack_array(&pk, o.via.array.size);
    for (uint32_t i = 0; i < o.via.array.size; i++) {
        if (i == k)
            put(&pk, &o.via.array.ptr[i]);
        else
            msgpack_pack_object(&pk, o.via.array.ptr[i]);
    }
    size_t n = sb.size < cap ? sb.size : cap;
    memcpy(out, sb.data, n);
    msgpack_sbuffer_destroy(&sb);
    msgpack_zone_destroy(&z);
    return n;
}

static void put_wrong_type(msgpack_packer *pk, const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_STR)
        msgpack_pack_uint8(pk, 1);
    else
        msgpack_pack_str_with_body(pk, "1", 1);
}

static void put_nil(msgpack_packer *pk, const msgpack_object *o)
{
    (void)o;
    msgpack_pack_nil(pk);
}

static void put_negative(msgpack_packer *pk, const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_STR)
        msgpack_pack_str_with_body(pk, "a\0b", 3);       /* embedded NUL */
    else
        msgpack_pack_int64(pk, -1);
}

static void put_huge(msgpack_packer *pk, const msgpack_object *o)
{
    static const char big[300] = { 'x' };
    if (o->type == MSGPACK_OBJECT_STR)
        msgpack_pack_str_with_body(pk, big, 99);          /* > any max */
    else
        msgpack_pack_uint64(pk, (uint64_t)INT64_MAX + 1);
}

static void put_float(msgpack_packer *pk, const msgpack_object *o)
{
    (void)o;
    msgpack_pack_double(pk, 1.5);
}

static void put_map(msgpack_packer *pk, const msgpack_object *o)
{
    (void)o;
    msgpack_pack_map(pk, 1);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_uint8(pk, 2);
}

static void test_decode_refuses(void)
{
    uint8_t good[JRN_PAYLOAD_MAX], bad[1024];
    size_t glen = 0, n;
    jrec_cdr_t c = worst_cdr(), d;
    jrec_move_t m;
    const char *why = NULL;

    TEST_EQ_I64(jrec_encode_cdr(&c, good, sizeof good, &glen), JREC_OK);
    /* every truncation */
    for (size_t l = 0; l < glen; l++) {
        TEST_EQ_I64(jrec_decode_cdr(good, l, &d, &why), JREC_EFORMAT);
        TEST_CHECK(why != NULL);
    }
    /* a trailing byte */
    memcpy(bad, good, glen);
    bad[glen] = 0;
    TEST_EQ_I64(jrec_decode_cdr(bad, glen + 1, &d, &why), JREC_EFORMAT);
    TEST_EQ_STR(why, "trailing bytes");
    /* the other shape */
    TEST_EQ_I64(jrec_decode_move(good, glen, &m, NULL), JREC_EFORMAT);
    TEST_EQ_I64(jrec_decode_cdr(NULL, 0, &d, NULL), JREC_EFORMAT);

    /* each field: wrong type, nil, negative/NUL, too big, float, map */
    void (*puts[])(msgpack_packer *, const msgpack_object *) = {
        put_wrong_type, put_nil, put_negative, put_huge, put_float, put_map };
    for (size_t p = 0; p < sizeof puts / sizeof puts[0]; p++) {
        for (uint32_t k = 0; k < 30; k++) {
            n = repack(good, glen, k, puts[p], bad, sizeof bad);
            why = NULL;
            int rc = jrec_decode_cdr(bad, n, &d, &why);
            if (rc != JREC_EFORMAT)
                fprintf(stderr, "field %u mutation %zu accepted\n", k, p);
            TEST_EQ_I64(rc, JREC_EFORMAT);
            TEST_CHECK(why != NULL);
        }
    }
    /* the tag */
    n = repack(good, glen, 0, put_negative, bad, sizeof bad);
    TEST_EQ_I64(jrec_decode_cdr(bad, n, &d, &why), JREC_EFORMAT);

    /* headers that would make msgpack-c allocate without bound */
    static const uint8_t arr32[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
    static const uint8_t arr16[] = { 0xdc, 0xff, 0xff, 0x01 };
    static const uint8_t nested[] = { 0x92, 0x21, 0xdd, 0xff, 0xff, 0xff,
                                      0xff };
    static const uint8_t str32[] = { 0x92, 0x11, 0xdb, 0xff, 0xff, 0xff,
                                     0xf0, 'a' };
    static const uint8_t map[] = { 0x81, 0x01, 0x02 };
    TEST_EQ_I64(jrec_decode_cdr(arr32, sizeof arr32, &d, NULL), JREC_EFORMAT);
    TEST_EQ_I64(jrec_decode_cdr(arr16, sizeof arr16, &d, NULL), JREC_EFORMAT);
    TEST_EQ_I64(jrec_decode_cdr(nested, sizeof nested, &d, NULL),
                JREC_EFORMAT);
    TEST_EQ_I64(jrec_decode_move(str32, sizeof str32, &m, NULL),
                JREC_EFORMAT);
    TEST_EQ_I64(jrec_decode_move(map, sizeof map, &m, NULL), JREC_EFORMAT);

    /* movement: empty actor, long reason */
    jrec_move_t mv;
    memset(&mv, 0, sizeof mv);
    strcpy(mv.actor, "a");
    TEST_EQ_I64(jrec_encode_move(&mv, good, sizeof good, &glen), JREC_OK);
    n = repack(good, glen, 2, put_huge, bad, sizeof bad);   /* actor */
    TEST_EQ_I64(jrec_decode_move(bad, n, &m, &why), JREC_EFORMAT);
    TEST_EQ_STR(why, "actor: bad str");
    static const uint8_t empty_actor[] = { 0x94, 0x11, 0xa0, 0xa0, 0xa0 };
    TEST_EQ_I64(jrec_decode_move(empty_actor, sizeof empty_actor, &m, NULL),
                JREC_EFORMAT);
    static const uint8_t v2[] = { 0x94, 0x12, 0xa0, 0xa1, 'a', 0xa0 };
    TEST_EQ_I64(jrec_decode_move(v2, sizeof v2, &m, &why), JREC_EFORMAT);
    TEST_EQ_STR(why, "unknown tag");
    static const uint8_t ok[] = { 0x94, 0x11, 0xa0, 0xa1, 'a', 0xa0 };
    TEST_EQ_I64(jrec_decode_move(ok, sizeof ok, &m, NULL), JREC_OK);
}

/* Random bytes and mutated payloads: no crash, and whatever decodes
 * re-encodes to something that decodes to the same. */
static void test_fuzz(void)
{
    uint8_t good[JRN_PAYLOAD_MAX], buf[JRN_PAYLOAD_MAX], again[JRN_PAYLOAD_MAX];
    size_t glen = 0, len;
    jrec_cdr_t c = typical_cdr(), d, e;
    long accepted = 0, mismatched = 0;
    unsigned seed = 12345;

    TEST_EQ_I64(jrec_encode_cdr(&c, good, sizeof good, &glen), JREC_OK);
    for (int iter = 0; iter < 300000; iter++) {
        size_t n;
        if (iter % 3 == 0) {
            n = (size_t)(rand_r(&seed) % 64);
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)rand_r(&seed);
        } else {
            n = glen;
            memcpy(buf, good, n);
            int flips = 1 + rand_r(&seed) % 4;
            for (int f = 0; f < flips; f++)
                buf[rand_r(&seed) % n] = (uint8_t)rand_r(&seed);
            if (rand_r(&seed) % 4 == 0)
                n = (size_t)(rand_r(&seed) % (n + 1));
        }
        jrec_move_t m;
        (void)jrec_decode_move(buf, n, &m, NULL);
        if (jrec_decode_cdr(buf, n, &d, NULL) != JREC_OK)
            continue;
        accepted++;
        if (jrec_encode_cdr(&d, again, sizeof again, &len) != JREC_OK
            || jrec_decode_cdr(again, len, &e, NULL) != JREC_OK
            || memcmp(&d, &e, sizeof d) != 0)
            mismatched++;
    }
    TEST_EQ_I64(mismatched, 0);
    TEST_CHECK(accepted > 0);              /* some mutations stay valid */
    fprintf(stderr, "fuzz: %ld of 300000 mutated payloads decoded\n",
            accepted);
}

int main(void)
{
    test_round_trips();
    test_worst_case();
    test_encode_refuses();
    test_decode_refuses();
    test_fuzz();
    return TEST_REPORT();
}
