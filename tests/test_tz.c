/*
 * test_tz.c -- tz.h: tables built from glibc, exact transition seconds,
 * lock-free lookups, unknown zones, TZ restored.
 *
 * Transition instants are hand-copied from `zdump -v` (tzdata 2025b);
 * a random cross-check compares every lookup with localtime_r.
 */
#include "shm/tz.h"
#include "tests/testhelp.h"

#include <stdlib.h>
#include <time.h>

#define NY_2026_DST_ON  1772953200   /* 2026-03-08 07:00:00 UTC */
#define NY_2026_DST_OFF 1793512800   /* 2026-11-01 06:00:00 UTC */

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = { 0 };

    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm);
}

/* Builds a table in malloc'd memory (the test frees it). */
static tz_table_t *build(const char *name, int from, int to)
{
    size_t need = 0, used = 0;
    void *buf;
    int rc;

    rc = tz_build_size(name, from, to, &need);
    if (rc != TZ_OK) {
        TEST_FAIL_AT("tz_build_size(%s): %s", name, tz_strerror(rc));
        return NULL;
    }
    buf = aligned_alloc(8, (need + 7) / 8 * 8);
    rc = tz_build(name, from, to, buf, need, &used);
    if (rc != TZ_OK || used != need) {
        TEST_FAIL_AT("tz_build(%s): %s", name, tz_strerror(rc));
        free(buf);
        return NULL;
    }
    return buf;
}

static void test_new_york_2026(void)
{
    tz_table_t *ny = build("America/New_York", 2026, 2026);

    if (ny == NULL)
        return;
    TEST_EQ_STR(ny->name, "America/New_York");
    TEST_EQ_I64(ny->count, 3);           /* span start, March, November */
    TEST_EQ_I64(ny->trans[0].offset_sec, -18000);
    TEST_EQ_I64(ny->trans[1].utc_from, NY_2026_DST_ON);
    TEST_EQ_I64(ny->trans[1].offset_sec, -14400);
    TEST_EQ_I64(ny->trans[2].utc_from, NY_2026_DST_OFF);
    TEST_EQ_I64(ny->trans[2].offset_sec, -18000);
    TEST_EQ_I64(tz_offset(ny, NY_2026_DST_ON - 1), -18000);
    TEST_EQ_I64(tz_offset(ny, NY_2026_DST_ON), -14400);
    TEST_EQ_I64(tz_offset(ny, NY_2026_DST_OFF - 1), -14400);
    TEST_EQ_I64(tz_offset(ny, NY_2026_DST_OFF), -18000);
    TEST_EQ_I64(tz_next_change(ny, utc(2026, 1, 1, 0, 0, 0)),
                NY_2026_DST_ON);
    TEST_EQ_I64(tz_next_change(ny, NY_2026_DST_ON - 1), NY_2026_DST_ON);
    TEST_EQ_I64(tz_next_change(ny, NY_2026_DST_ON), NY_2026_DST_OFF);
    TEST_EQ_I64(tz_next_change(ny, NY_2026_DST_OFF), INT64_MAX);
    /* span: 2025-12-31 00:00 UTC .. 2027-01-02 00:00 UTC */
    TEST_EQ_I64(ny->span_from, utc(2025, 12, 31, 0, 0, 0));
    TEST_EQ_I64(ny->span_to, utc(2027, 1, 2, 0, 0, 0));
    TEST_CHECK(tz_covers(ny, ny->span_from));
    TEST_CHECK(!tz_covers(ny, ny->span_from - 1));
    TEST_CHECK(!tz_covers(ny, ny->span_to));
    /* beyond the span the nearest offset is extrapolated */
    TEST_EQ_I64(tz_offset(ny, utc(2020, 7, 1, 0, 0, 0)), -18000);
    {
        tz_local_t l;
        /* 06:59:59 UTC = Sunday 01:59:59 EST; a second later 03:00 EDT */
        TEST_EQ_I64(tz_local(ny, NY_2026_DST_ON - 1, &l), TZ_OK);
        TEST_EQ_I64(l.wday, 0);
        TEST_EQ_I64(l.sec_of_day, 7199);
        TEST_EQ_I64(l.min_of_day, 119);
        TEST_EQ_I64(tz_local(ny, NY_2026_DST_ON, &l), TZ_OK);
        TEST_EQ_I64(l.min_of_day, 180);
        TEST_EQ_I64(l.offset_sec, -14400);
        /* fall back: 06:00:00 UTC is 01:00:00 EST again */
        TEST_EQ_I64(tz_local(ny, NY_2026_DST_OFF, &l), TZ_OK);
        TEST_EQ_I64(l.sec_of_day, 3600);
        TEST_EQ_I64(l.local_day, utc(2026, 11, 1, 0, 0, 0) / 86400);
    }
    free(ny);
}

static void test_buenos_aires(void)
{
    tz_table_t *ba = build("America/Argentina/Buenos_Aires", 2007, 2010);
    tz_table_t *now = build("America/Argentina/Buenos_Aires", 2026, 2026);

    if (ba == NULL || now == NULL)
        goto out;
    /* -03 with summer time -02 in 2007-2008 and 2008-2009 only */
    TEST_EQ_I64(ba->count, 5);
    TEST_EQ_I64(ba->trans[0].offset_sec, -10800);
    TEST_EQ_I64(ba->trans[1].utc_from, utc(2007, 12, 30, 3, 0, 0));
    TEST_EQ_I64(ba->trans[1].offset_sec, -7200);
    TEST_EQ_I64(ba->trans[2].utc_from, utc(2008, 3, 16, 2, 0, 0));
    TEST_EQ_I64(ba->trans[2].offset_sec, -10800);
    TEST_EQ_I64(ba->trans[3].utc_from, utc(2008, 10, 19, 3, 0, 0));
    TEST_EQ_I64(ba->trans[4].utc_from, utc(2009, 3, 15, 2, 0, 0));
    TEST_EQ_I64(ba->trans[4].offset_sec, -10800);
    TEST_EQ_I64(now->count, 1);          /* no change in 2026 */
    TEST_EQ_I64(tz_offset(now, utc(2026, 1, 14, 22, 58, 30)), -10800);
    TEST_EQ_I64(tz_next_change(now, utc(2026, 6, 1, 0, 0, 0)), INT64_MAX);
out:
    free(ba);
    free(now);
}

static void test_utc_and_madrid(void)
{
    tz_table_t *u = build("UTC", 2000, 2100);
    tz_table_t *m = build("Europe/Madrid", 2026, 2026);
    tz_local_t l;

    if (u == NULL || m == NULL)
        goto out;
    TEST_EQ_I64(u->count, 1);
    TEST_EQ_I64(tz_offset(u, utc(2050, 7, 1, 12, 0, 0)), 0);
    TEST_EQ_I64(m->count, 3);
    TEST_EQ_I64(m->trans[0].offset_sec, 3600);
    TEST_EQ_I64(m->trans[1].utc_from, utc(2026, 3, 29, 1, 0, 0));
    TEST_EQ_I64(m->trans[1].offset_sec, 7200);
    TEST_EQ_I64(m->trans[2].utc_from, utc(2026, 10, 25, 1, 0, 0));
    TEST_EQ_I64(m->trans[2].offset_sec, 3600);
    /* Friday 2026-01-16 22:58 UTC is 23:58 in Madrid */
    TEST_EQ_I64(tz_local(m, utc(2026, 1, 16, 22, 58, 0), &l), TZ_OK);
    TEST_EQ_I64(l.wday, 5);
    TEST_EQ_I64(l.min_of_day, 23 * 60 + 58);
    /* and 2 minutes later Saturday 00:00 */
    TEST_EQ_I64(tz_local(m, utc(2026, 1, 16, 23, 0, 0), &l), TZ_OK);
    TEST_EQ_I64(l.wday, 6);
    TEST_EQ_I64(l.sec_of_day, 0);
out:
    free(u);
    free(m);
}

static void test_local_edges(void)
{
    tz_local_t l;

    /* NULL table = UTC; before 1970 uses floor division */
    TEST_EQ_I64(tz_local(NULL, -1, &l), TZ_OK);
    TEST_EQ_I64(l.local_day, -1);
    TEST_EQ_I64(l.sec_of_day, 86399);
    TEST_EQ_I64(l.min_of_day, 1439);
    TEST_EQ_I64(l.wday, 3);              /* 1969-12-31 was a Wednesday */
    TEST_EQ_I64(tz_local(NULL, 0, &l), TZ_OK);
    TEST_EQ_I64(l.wday, 4);              /* 1970-01-01 Thursday */
    TEST_EQ_I64(tz_local(NULL, 3 * 86400, &l), TZ_OK);
    TEST_EQ_I64(l.wday, 0);              /* 1970-01-04 Sunday */
    TEST_EQ_I64(tz_offset(NULL, 12345), 0);
    TEST_EQ_I64(tz_next_change(NULL, 12345), INT64_MAX);
    TEST_CHECK(tz_covers(NULL, INT64_MIN));
}

static void test_unknown_and_bad(void)
{
    static const char *const bad[] = {
        "Mars/Olympus_Mons", "America", "../../../etc/passwd",
        "/usr/share/zoneinfo/UTC", "", "America/New York",
        "America/New_York/", "zone.tab",
    };
    char buf[4096] __attribute__((aligned(8)));
    size_t need = 0, i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = tz_build_size(bad[i], 2026, 2026, &need);
        test_checks++;
        if (rc != TZ_ENOZONE)
            TEST_FAIL_AT("\"%s\": %d, expected TZ_ENOZONE", bad[i], rc);
    }
    TEST_EQ_I64(tz_build_size(NULL, 2026, 2026, &need), TZ_EINVAL);
    TEST_EQ_I64(tz_build_size("UTC", 2027, 2026, &need), TZ_EINVAL);
    TEST_EQ_I64(tz_build_size("UTC", 1800, 2026, &need), TZ_EINVAL);
    TEST_EQ_I64(tz_build_size("UTC", 2026, 2300, &need), TZ_EINVAL);
    TEST_EQ_I64(tz_build("America/New_York", 2026, 2026, buf,
                         sizeof(tz_table_t) + 2 * sizeof(tz_transition_t),
                         NULL), TZ_ENOSPC);
    TEST_EQ_I64(tz_build("America/New_York", 2026, 2026, buf + 4,
                         sizeof buf - 8, NULL), TZ_EINVAL);
    TEST_EQ_I64(tz_build("America/New_York", 2026, 2026, buf, 8, NULL),
                TZ_ENOSPC);
    TEST_EQ_I64(tz_build("America/New_York", 2026, 2026, buf, sizeof buf,
                         &need), TZ_OK);
    TEST_EQ_I64(need, sizeof(tz_table_t) + 3 * sizeof(tz_transition_t));
    TEST_EQ_STR(tz_strerror(TZ_ENOZONE), "unknown time zone");
}

/* The builder must leave TZ as it found it, set or unset. */
static void test_tz_restored(void)
{
    size_t need;
    struct tm tm;
    time_t t = 0;
    const char *v;

    setenv("TZ", "Asia/Tokyo", 1);
    tzset();
    TEST_EQ_I64(tz_build_size("America/New_York", 2026, 2026, &need), TZ_OK);
    v = getenv("TZ");
    TEST_EQ_STR(v, "Asia/Tokyo");
    localtime_r(&t, &tm);
    TEST_EQ_I64(tm.tm_gmtoff, 9 * 3600);
    TEST_EQ_I64(tz_build_size("Nowhere/Atlantis", 2026, 2026, &need),
                TZ_ENOZONE);
    TEST_EQ_STR(getenv("TZ"), "Asia/Tokyo");
    unsetenv("TZ");
    tzset();
    TEST_EQ_I64(tz_build_size("Europe/Madrid", 2026, 2026, &need), TZ_OK);
    TEST_CHECK(getenv("TZ") == NULL);
}

static uint64_t rng_state;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/*
 * Cross-check with glibc: random instants in the span and every transition
 * +-1 s; the table (copied elsewhere, as into shared memory) must agree
 * with localtime_r on offset, weekday and minute of day.
 */
static void cross_check(const char *name, int from, int to)
{
    tz_table_t *t = build(name, from, to), *copy;
    char tzv[128];
    long bad = 0;
    int i;
    uint32_t k;

    if (t == NULL)
        return;
    copy = malloc(tz_table_bytes(t));
    memcpy(copy, t, tz_table_bytes(t));
    memset(t, 0xa5, tz_table_bytes(t));      /* position-independent? */
    snprintf(tzv, sizeof tzv, ":%s", name);
    setenv("TZ", tzv, 1);
    tzset();
    for (i = 0; i < 20000 + 3 * (int)copy->count; i++) {
        int64_t x;
        time_t tt;
        struct tm tm;
        tz_local_t l;
        if (i < 20000) {
            x = copy->span_from +
                (int64_t)(rng() % (uint64_t)(copy->span_to - copy->span_from));
        } else {
            k = (uint32_t)(i - 20000) / 3;
            x = copy->trans[k].utc_from + (i - 20000) % 3 - 1;
        }
        tt = (time_t)x;
        localtime_r(&tt, &tm);
        tz_local(copy, x, &l);
        if (tz_offset(copy, x) != tm.tm_gmtoff || l.wday != tm.tm_wday ||
            l.min_of_day != tm.tm_hour * 60 + tm.tm_min ||
            l.sec_of_day != (uint32_t)(tm.tm_hour * 3600 + tm.tm_min * 60 +
                                       tm.tm_sec)) {
            if (bad++ < 5)
                TEST_FAIL_AT("%s at %lld: offset %d vs glibc %ld", name,
                             (long long)x, tz_offset(copy, x),
                             tm.tm_gmtoff);
        }
    }
    unsetenv("TZ");
    tzset();
    test_checks++;
    if (bad)
        TEST_FAIL_AT("%s: %ld mismatches with localtime_r", name, bad);
    free(t);
    free(copy);
}

int main(void)
{
    const char *s = getenv("APOLO_SEED");

    rng_state = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL);
    if (rng_state == 0)
        rng_state = 1;
    fprintf(stderr, "test_tz: seed %llu (APOLO_SEED to replay)\n",
            (unsigned long long)rng_state);
    test_new_york_2026();
    test_buenos_aires();
    test_utc_and_madrid();
    test_local_edges();
    test_unknown_and_bad();
    test_tz_restored();
    cross_check("America/New_York", 1970, 2040);
    cross_check("America/Argentina/Buenos_Aires", 1900, 2030);
    cross_check("Europe/Madrid", 1940, 2040);
    cross_check("Australia/Lord_Howe", 1990, 2040);   /* 30-minute DST */
    cross_check("Asia/Kathmandu", 1970, 2030);        /* +05:45 */
    cross_check("Pacific/Chatham", 2000, 2040);       /* +12:45/+13:45 */
    cross_check("UTC", 1970, 2100);
    return TEST_REPORT();
}
