/*
 * test_rate.c -- rate.h: the cost rules, their inverse, time periods.
 *
 * Hand-computed cases first (the arithmetic is in the comments), then
 * seeded random properties (APOLO_SEED=n replays a run):
 *   - rate_max_seconds: cost(max) <= m < cost(max + 1), and equal to a
 *     linear scan on small caps;
 *   - rate_cost_at against a second-by-second reference that asks glibc's
 *     localtime_r for each second's local time (independent of tz.c and of
 *     the segment walk);
 *   - rate_max_seconds_at: the same property with periods.
 */
#include "shm/rate.h"
#include "tests/testhelp.h"

#include <stdlib.h>
#include <time.h>

#define UP   MONEY_ROUND_UP
#define DOWN MONEY_ROUND_DOWN
#define HALF MONEY_ROUND_HALF_UP

static rate_tariff_t T(money_t pm, money_t fee, uint32_t first,
                       uint32_t next, uint32_t min, uint32_t grace)
{
    rate_tariff_t t = { pm, fee, first, next, min, grace };
    return t;
}

static rate_period_tariff_t PT(uint16_t period, rate_tariff_t t)
{
    rate_period_tariff_t p;

    memset(&p, 0, sizeof p);
    p.period = period;
    p.t = t;
    return p;
}

/* Cost or a visible error value (errors are small negatives). */
static money_t cost(rate_tariff_t t, uint32_t billsec, money_round_t mode)
{
    money_t c = 777;
    int rc = rate_cost(&t, billsec, mode, &c);

    return rc == RATE_OK ? c : rc;
}

static uint64_t rng_state;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static uint64_t rnd(uint64_t n)          /* 0..n-1 */
{
    return n ? rng() % n : 0;
}

static tz_table_t *build(const char *name, int from, int to)
{
    size_t need = 0;
    void *buf;

    if (tz_build_size(name, from, to, &need) != TZ_OK)
        return NULL;
    buf = aligned_alloc(8, (need + 7) / 8 * 8);
    if (tz_build(name, from, to, buf, need, NULL) != TZ_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- one tariff ------------------------------------------------------- */

static void test_check(void)
{
    rate_tariff_t ok = T(12500, 0, 60, 6, 0, 0);

    TEST_EQ_I64(rate_tariff_check(&ok), RATE_OK);
    TEST_EQ_I64(rate_tariff_check(NULL), RATE_EINVAL);
    ok = T(12500, 0, 0, 6, 0, 0);
    TEST_EQ_I64(rate_tariff_check(&ok), RATE_EINVAL);       /* first 0 */
    ok = T(12500, 0, 60, 0, 0, 0);
    TEST_EQ_I64(rate_tariff_check(&ok), RATE_EINVAL);       /* next 0 */
    ok = T(-1, 0, 60, 6, 0, 0);
    TEST_EQ_I64(rate_tariff_check(&ok), RATE_EINVAL);
    ok = T(1, -1, 60, 6, 0, 0);
    TEST_EQ_I64(rate_tariff_check(&ok), RATE_EINVAL);
    ok = T(1, 0, RATE_SEC_MAX + 1, 6, 0, 0);
    TEST_EQ_I64(rate_tariff_check(&ok), RATE_EINVAL);
    ok = T(1, 0, 1, 1, RATE_SEC_MAX + 1, 0);
    TEST_EQ_I64(rate_tariff_check(&ok), RATE_EINVAL);
    ok = T(1, 0, 1, 1, 0, RATE_SEC_MAX + 1);
    TEST_EQ_I64(rate_tariff_check(&ok), RATE_EINVAL);
    ok = T(0, 0, RATE_SEC_MAX, RATE_SEC_MAX, RATE_SEC_MAX, RATE_SEC_MAX);
    TEST_EQ_I64(rate_tariff_check(&ok), RATE_OK);
    TEST_EQ_STR(rate_strerror(RATE_ENORATE), "no tariff for this time period");
}

static uint32_t rounded(rate_tariff_t t, uint32_t billsec)
{
    return rate_rounded_seconds(&t, billsec);
}

static void test_rounded(void)
{
    TEST_EQ_I64(rounded(T(1, 0, 60, 60, 0, 0), 0), 0);     /* unanswered */
    TEST_EQ_I64(rounded(T(1, 0, 60, 60, 0, 0), 1), 60);
    TEST_EQ_I64(rounded(T(1, 0, 60, 60, 0, 0), 60), 60);
    TEST_EQ_I64(rounded(T(1, 0, 60, 60, 0, 0), 61), 120);
    TEST_EQ_I64(rounded(T(1, 0, 60, 6, 0, 0), 7), 60);
    TEST_EQ_I64(rounded(T(1, 0, 60, 6, 0, 0), 61), 66);
    TEST_EQ_I64(rounded(T(1, 0, 60, 6, 0, 0), 66), 66);
    TEST_EQ_I64(rounded(T(1, 0, 60, 6, 0, 0), 67), 72);
    TEST_EQ_I64(rounded(T(1, 0, 30, 6, 0, 0), 1), 30);
    TEST_EQ_I64(rounded(T(1, 0, 30, 6, 0, 0), 31), 36);
    TEST_EQ_I64(rounded(T(1, 0, 30, 6, 0, 0), 61), 66);     /* 30 + 6*6 */
    TEST_EQ_I64(rounded(T(1, 0, 1, 1, 0, 0), 61), 61);
    TEST_EQ_I64(rounded(T(1, 0, 6, 6, 0, 0), 1), 6);
    TEST_EQ_I64(rounded(T(1, 0, 6, 6, 0, 0), 7), 12);
    TEST_EQ_I64(rounded(T(1, 0, 6, 6, 0, 0), 12), 12);
    /* minimum: 60/6 with 120 s minimum */
    TEST_EQ_I64(rounded(T(1, 0, 60, 6, 120, 0), 7), 120);
    TEST_EQ_I64(rounded(T(1, 0, 60, 6, 120, 0), 121), 126);
    TEST_EQ_I64(rounded(T(1, 0, 1, 1, 30, 0), 5), 30);
    /* grace 5: 4 s free, 5 s billed */
    TEST_EQ_I64(rounded(T(1, 0, 1, 1, 0, 5), 4), 0);
    TEST_EQ_I64(rounded(T(1, 0, 1, 1, 0, 5), 5), 5);
    TEST_EQ_I64(rounded(T(1, 0, 60, 60, 0, 5), 5), 60);
    /* grace before minimum: below grace even a 30 s minimum is free */
    TEST_EQ_I64(rounded(T(1, 0, 1, 1, 30, 3), 2), 0);
    TEST_EQ_I64(rounded(T(1, 0, 1, 1, 30, 3), 3), 30);
    /* the largest result stays below 2^31 */
    TEST_EQ_I64(rounded(T(1, 0, 1, RATE_SEC_MAX, 0, 0), RATE_SEC_MAX),
                RATE_SEC_MAX + 1);
    TEST_EQ_I64(rounded(T(1, 0, 7, 1000, 0, 0), RATE_SEC_MAX),
                7 + 1000000 * 1000);
    TEST_EQ_I64(rounded(T(1, 0, 1, 1, 0, 0), RATE_SEC_MAX + 1),
                RATE_ROUNDED_INVALID);
    TEST_EQ_I64(rounded(T(1, 0, 0, 1, 0, 0), 10), RATE_ROUNDED_INVALID);
}

/* Reference rounding: add blocks one at a time. */
static uint32_t ref_rounded(rate_tariff_t t, uint32_t b)
{
    uint32_t r;

    if (b == 0 || b < t.grace_sec)
        return 0;
    if (b < t.min_sec)
        b = t.min_sec;
    for (r = t.first_inc; r < b; r += t.next_inc)
        ;
    return r;
}

static void test_rounded_random(void)
{
    long bad = 0;
    int i;

    for (i = 0; i < 200000; i++) {
        rate_tariff_t t = T(1, 0, 1 + (uint32_t)rnd(90), 1 + (uint32_t)rnd(90),
                            (uint32_t)rnd(4) ? 0 : (uint32_t)rnd(200),
                            (uint32_t)rnd(4) ? 0 : (uint32_t)rnd(20));
        uint32_t b = (uint32_t)rnd(1000);
        if (rounded(t, b) != ref_rounded(t, b) && bad++ < 5)
            TEST_FAIL_AT("rounded %u/%u min %u grace %u billsec %u: %u vs %u",
                         t.first_inc, t.next_inc, t.min_sec, t.grace_sec, b,
                         rounded(t, b), ref_rounded(t, b));
    }
    TEST_EQ_I64(bad, 0);
}

static void test_cost(void)
{
    money_t c = 777;
    rate_tariff_t t;

    /* 0.0125/min billed 1/1 for 1 s: 12500 / 60 = 208.33 */
    TEST_EQ_I64(cost(T(12500, 0, 1, 1, 0, 0), 1, UP), 209);
    TEST_EQ_I64(cost(T(12500, 0, 1, 1, 0, 0), 1, DOWN), 208);
    TEST_EQ_I64(cost(T(12500, 0, 1, 1, 0, 0), 1, HALF), 208);
    /* + connection fee 0.05 */
    TEST_EQ_I64(cost(T(12500, 50000, 1, 1, 0, 0), 1, UP), 50209);
    /* 0.60/min on 60/6: 7 s -> 60 s = 0.60; 61 s -> 66 s = 0.66 */
    TEST_EQ_I64(cost(T(600000, 0, 60, 6, 0, 0), 7, UP), 600000);
    TEST_EQ_I64(cost(T(600000, 0, 60, 6, 0, 0), 61, UP), 660000);
    /* 1.00/min on 60/60: 61 s -> 120 s */
    TEST_EQ_I64(cost(T(1000000, 0, 60, 60, 0, 0), 61, UP), 2000000);
    /* 0.0125/min on 30/6 for 61 s -> 66 s: 12500*66/60 = 13750 exactly */
    TEST_EQ_I64(cost(T(12500, 0, 30, 6, 0, 0), 61, UP), 13750);
    /* 6/6 for 7 s -> 12 s: 12500*12/60 = 2500 */
    TEST_EQ_I64(cost(T(12500, 0, 6, 6, 0, 0), 7, UP), 2500);
    /* 1/1 for 61 s at 0.0125: 762500/60 = 12708.33 */
    TEST_EQ_I64(cost(T(12500, 0, 1, 1, 0, 0), 61, UP), 12709);
    TEST_EQ_I64(cost(T(12500, 0, 1, 1, 0, 0), 61, DOWN), 12708);
    /* tie: 0.000030/min for 1 s = 0.5 micro */
    TEST_EQ_I64(cost(T(30, 0, 1, 1, 0, 0), 1, HALF), 1);
    TEST_EQ_I64(cost(T(30, 0, 1, 1, 0, 0), 1, DOWN), 0);
    /* minimum 120 on 60/6 for 7 s at 0.60: 1.20 + fee 0.10 */
    TEST_EQ_I64(cost(T(600000, 100000, 60, 6, 120, 0), 7, UP), 1300000);
    /* free: unanswered, below grace: no connection fee either */
    TEST_EQ_I64(cost(T(600000, 100000, 60, 6, 0, 0), 0, UP), 0);
    TEST_EQ_I64(cost(T(600000, 100000, 60, 6, 0, 5), 4, UP), 0);
    TEST_EQ_I64(cost(T(600000, 100000, 60, 6, 0, 5), 5, UP), 700000);
    /* overflow is an error, never a wrap */
    TEST_EQ_I64(cost(T(INT64_MAX, 0, 60, 60, 0, 0), 60, UP), INT64_MAX);
    TEST_EQ_I64(cost(T(INT64_MAX, 0, 60, 60, 0, 0), 61, UP), RATE_ERANGE);
    TEST_EQ_I64(cost(T(INT64_MAX, 1, 60, 60, 0, 0), 60, UP), RATE_ERANGE);
    TEST_EQ_I64(cost(T(0, INT64_MAX, 60, 60, 0, 0), 60, UP), INT64_MAX);
    TEST_EQ_I64(cost(T(1, INT64_MAX, 60, 60, 0, 0), 60, UP), RATE_ERANGE);
    TEST_EQ_I64(cost(T(60, INT64_MAX, 60, 60, 0, 0), 60, UP), RATE_ERANGE);
    TEST_EQ_I64(cost(T(1, 0, 1, 1, 0, 0), RATE_SEC_MAX + 1, UP), RATE_ERANGE);
    TEST_EQ_I64(cost(T(1, 0, 0, 1, 0, 0), 1, UP), RATE_EINVAL);
    TEST_EQ_I64(cost(T(1, 0, 1, 1, 0, 0), 1, (money_round_t)9), RATE_EINVAL);
    t = T(1, 0, 1, 1, 0, 0);
    TEST_EQ_I64(rate_cost(&t, 1, UP, NULL), RATE_EINVAL);
    t = T(INT64_MAX, 0, 60, 60, 0, 0);
    TEST_EQ_I64(rate_cost(&t, 61, UP, &c), RATE_ERANGE);
    TEST_EQ_I64(c, 777);                         /* untouched */
}

static uint32_t maxsec(rate_tariff_t t, money_t avail, money_round_t mode,
                       uint32_t cap)
{
    uint32_t s = 4242;
    int rc = rate_max_seconds(&t, avail, mode, cap, &s);

    return rc == RATE_OK ? s : 4000000000u;
}

static void test_max_seconds(void)
{
    rate_tariff_t t = T(600000, 0, 60, 6, 0, 0);

    /* 0.60/min on 60/6: cost(60) = 0.60, cost(61..66) = 0.66, 67 -> 0.72 */
    TEST_EQ_I64(maxsec(t, 660000, UP, 3600), 66);
    TEST_EQ_I64(maxsec(t, 719999, UP, 3600), 66);
    TEST_EQ_I64(maxsec(t, 659999, UP, 3600), 60);
    TEST_EQ_I64(maxsec(t, 599999, UP, 3600), 0);
    TEST_EQ_I64(maxsec(t, 0, UP, 3600), 0);
    TEST_EQ_I64(maxsec(t, -1, UP, 3600), 0);      /* negative: refuse */
    TEST_EQ_I64(maxsec(t, 660000, UP, 63), 63);   /* cap */
    TEST_EQ_I64(maxsec(t, 660000, UP, 0), 0);
    /* 0.0125/min on 1/1 with 1.00: 12500 d / 60 <= 10^6 -> d <= 4800 */
    TEST_EQ_I64(maxsec(T(12500, 0, 1, 1, 0, 0), 1000000, UP, 100000), 4800);
    /* DOWN: cost(4800) = 10^6, cost(4801) = floor(1000208.3) */
    TEST_EQ_I64(maxsec(T(12500, 0, 1, 1, 0, 0), 1000000, DOWN, 100000), 4800);
    /* 0.000030/min on 1/1: DOWN makes 1 s free, 2 s cost 1 micro */
    TEST_EQ_I64(maxsec(T(30, 0, 1, 1, 0, 0), 0, DOWN, 100000), 1);
    TEST_EQ_I64(maxsec(T(30, 0, 1, 1, 0, 0), 0, UP, 100000), 0);
    /* grace 10: 9 s are free even with no money; a negative balance
     * still gives 0 */
    TEST_EQ_I64(maxsec(T(600000, 50000, 60, 6, 0, 10), 0, UP, 3600), 9);
    TEST_EQ_I64(maxsec(T(600000, 50000, 60, 6, 0, 10), -5, UP, 3600), 0);
    /* fee 0.05 + 0.60 for the first block */
    TEST_EQ_I64(maxsec(T(600000, 50000, 60, 6, 0, 10), 650000, UP, 3600), 60);
    TEST_EQ_I64(maxsec(T(600000, 50000, 60, 6, 0, 10), 649999, UP, 3600), 9);
    /* free tariff: the cap, clamped to RATE_SEC_MAX */
    TEST_EQ_I64(maxsec(T(0, 0, 60, 6, 0, 0), 0, UP, 7200), 7200);
    TEST_EQ_I64(maxsec(T(0, 0, 60, 6, 0, 0), 0, UP, UINT32_MAX),
                RATE_SEC_MAX);
    TEST_EQ_I64(maxsec(T(0, 1, 60, 6, 0, 0), 0, UP, UINT32_MAX), 0);
    /* huge rates: overflow means unaffordable, not an error */
    TEST_EQ_I64(maxsec(T(INT64_MAX, 0, 60, 60, 0, 0), INT64_MAX, UP,
                       UINT32_MAX), 60);
    TEST_EQ_I64(maxsec(T(0, 0, 0, 6, 0, 0), 0, UP, 10), 4000000000u);
}

/* The property over random tariffs; a linear scan on small caps. */
static void test_max_seconds_property(void)
{
    long bad = 0, scanned = 0;
    int i;

    for (i = 0; i < 30000; i++) {
        rate_tariff_t t;
        money_round_t mode = (money_round_t)rnd(3);
        uint32_t cap, r, eff, d;
        money_t m, c1, c2;
        int rc1, rc2;
        static const uint32_t incs[] = { 1, 6, 30, 60 };

        switch (rnd(6)) {
        case 0:  t.per_minute = 0; break;
        case 1:  t.per_minute = (money_t)rnd(100); break;  /* sub-micro/s */
        case 2:  t.per_minute = (money_t)rnd(INT64_MAX / 1000); break;
        default: t.per_minute = (money_t)rnd(10000000); break;
        }
        t.connect_fee = rnd(2) ? 0 : (money_t)rnd(1000000);
        t.first_inc = rnd(2) ? incs[rnd(4)] : 1 + (uint32_t)rnd(600);
        t.next_inc = rnd(2) ? incs[rnd(4)] : 1 + (uint32_t)rnd(600);
        t.min_sec = rnd(2) ? 0 : (uint32_t)rnd(600);
        t.grace_sec = rnd(2) ? 0 : (uint32_t)rnd(30);
        cap = rnd(10) == 0 ? UINT32_MAX : (uint32_t)rnd(rnd(2) ? 3000 : 200000);
        if (rnd(2)) {
            m = (money_t)rnd(100000000);
        } else {                         /* right at a cost step */
            d = (uint32_t)rnd(20000);
            if (rate_cost(&t, d, mode, &m) != RATE_OK)
                m = INT64_MAX;
            m += (money_t)rnd(3) - 1;
            if (m < 0)
                m = 0;
        }
        if (rate_max_seconds(&t, m, mode, cap, &r) != RATE_OK) {
            if (bad++ < 5)
                TEST_FAIL_AT("rate_max_seconds failed");
            continue;
        }
        eff = cap > RATE_SEC_MAX ? RATE_SEC_MAX : cap;
        rc1 = rate_cost(&t, r, mode, &c1);
        rc2 = r < eff ? rate_cost(&t, r + 1, mode, &c2) : RATE_OK;
        if (r > eff || rc1 != RATE_OK || c1 > m ||
            (r < eff && rc2 == RATE_OK && c2 <= m) ||
            (r < eff && rc2 != RATE_OK && rc2 != RATE_ERANGE)) {
            if (bad++ < 5)
                TEST_FAIL_AT("max_seconds: pm %lld fee %lld %u/%u min %u "
                             "grace %u mode %d m %lld cap %u -> %u",
                             (long long)t.per_minute,
                             (long long)t.connect_fee, t.first_inc,
                             t.next_inc, t.min_sec, t.grace_sec, (int)mode,
                             (long long)m, cap, r);
            continue;
        }
        if (eff <= 3000 && rnd(4) == 0) {
            uint32_t best = 0;
            for (d = 0; d <= eff; d++)
                if (rate_cost(&t, d, mode, &c1) == RATE_OK && c1 <= m)
                    best = d;
            scanned++;
            if (best != r && bad++ < 5)
                TEST_FAIL_AT("linear scan %u, rate_max_seconds %u", best, r);
        }
    }
    fprintf(stderr, "test_rate: 30000 random inverses, %ld scanned\n",
            scanned);
    test_checks++;
    if (bad)
        TEST_FAIL_AT("%ld random inverse failures", bad);
}

/* ---- periods: hand-computed calls -------------------------------------- */

static tz_table_t *ba, *madrid, *ny;

#define MON_FRI 0x3E
#define SAT_SUN 0x41
#define ALL     0x7F

static money_t cost_at(const rate_schedule_t *s,
                       const rate_period_tariff_t *pt, uint32_t n,
                       int64_t answer, uint32_t billsec, money_round_t mode,
                       rate_trace_t *tr)
{
    money_t c = 777;
    int rc = rate_cost_at(s, pt, n, answer, billsec, mode, &c, tr);

    return rc == RATE_OK ? c : rc;
}

static void check_seg(const rate_trace_t *tr, int i, uint16_t period,
                      uint32_t secs, money_t pm)
{
    TEST_CHECK(tr->nrecorded > i);
    TEST_EQ_I64(tr->seg[i].period, period);
    TEST_EQ_I64(tr->seg[i].seconds, secs);
    TEST_EQ_I64(tr->seg[i].per_minute, pm);
}

/*
 * Buenos Aires (UTC-3), peak Mon-Fri 08:00-20:00 (period 1: 0.123457/min,
 * 60/6, fee 0.05), offpeak default (0.043211/min, 1/1, no fee).
 * Wednesday 2026-01-14 19:58:30 local = 22:58:30 UTC = 1768431510.
 */
static void test_peak_to_offpeak(void)
{
    rate_window_t w[] = { { MON_FRI, 480, 1200, 1 } };
    rate_schedule_t s = { w, 1, ba };
    rate_period_tariff_t pt[] = {
        PT(1, T(123457, 50000, 60, 6, 0, 0)),
        PT(0, T(43211, 0, 1, 1, 0, 0)),
    };
    const rate_period_tariff_t *at = NULL;
    int64_t ans = 1768431510;
    rate_trace_t tr;

    TEST_EQ_I64(rate_schedule_check(&s), RATE_OK);
    TEST_EQ_I64(rate_period_tariffs_check(&s, pt, 2), RATE_OK);
    TEST_EQ_I64(rate_tariff_at(&s, pt, 2, ans + 89, &at), RATE_OK);
    TEST_CHECK(at == &pt[0]);                    /* 19:59:59 peak */
    TEST_EQ_I64(rate_tariff_at(&s, pt, 2, ans + 90, &at), RATE_OK);
    TEST_CHECK(at == &pt[1]);                    /* 20:00:00 offpeak */
    /* 5 min: peak tariff at answer, 300 s on 60/6 = 300 s laid out:
     * 90 s peak + 210 s offpeak:
     * 123457*90 + 43211*210 = 11111130 + 9074310 = 20185440; /60 = 336424
     * exactly, + fee 50000 */
    TEST_EQ_I64(cost_at(&s, pt, 2, ans, 300, UP, &tr), 386424);
    /* 301 s -> 306 s: 90 peak + 216 offpeak = 11111130 + 9333576 =
     * 20444706; /60 = 340745.1 -> UP 340746, DOWN and HALF_UP 340745.
     * (Rounding each segment DOWN would give 185185 + 155559 = 340744.) */
    TEST_EQ_I64(cost_at(&s, pt, 2, ans, 301, UP, &tr), 390746);
    TEST_EQ_I64(cost_at(&s, pt, 2, ans, 301, HALF, NULL), 390745);
    TEST_EQ_I64(cost_at(&s, pt, 2, ans, 301, DOWN, NULL), 390745);
    TEST_EQ_I64(tr.connect_fee, 50000);
    TEST_EQ_I64(tr.rounded_sec, 306);
    TEST_EQ_I64(tr.answer_period, 1);
    TEST_EQ_I64(tr.nsegments, 2);
    TEST_EQ_I64(tr.nrecorded, 2);
    TEST_EQ_I64(tr.rest_seconds, 0);
    check_seg(&tr, 0, 1, 90, 123457);
    check_seg(&tr, 1, 0, 216, 43211);
    /* answered at 19:59:59, the last peak second: peak's 60/6 and fee
     * apply; 1 s peak + 59 s offpeak = 123457 + 2549449 = 2672906;
     * /60 = 44548.43 -> 44549, + 50000. One second later it is offpeak
     * 1/1 without fee: 43211*10/60 = 7201.83 -> 7202. */
    TEST_EQ_I64(cost_at(&s, pt, 2, ans + 89, 10, UP, &tr), 94549);
    TEST_EQ_I64(tr.answer_period, 1);
    TEST_EQ_I64(cost_at(&s, pt, 2, ans + 90, 10, UP, &tr), 7202);
    TEST_EQ_I64(tr.answer_period, 0);
    /* short call inside peak: one segment, 60 s minimum block */
    TEST_EQ_I64(cost_at(&s, pt, 2, ans, 10, UP, &tr), 50000 + 123457);
    TEST_EQ_I64(tr.nsegments, 1);
    /* unanswered: free, trace zero, no lookup needed */
    TEST_EQ_I64(cost_at(&s, pt, 2, ans, 0, UP, &tr), 0);
    TEST_EQ_I64(tr.nsegments + tr.rounded_sec + tr.answer_period, 0);
}

/*
 * Answered offpeak, running into peak: the offpeak tariff's increments
 * (1/1) and fee (none) apply to the whole call.
 * Monday 2026-01-12 07:59:00 local = 10:59:00 UTC.
 */
static void test_offpeak_to_peak(void)
{
    rate_window_t w[] = { { MON_FRI, 480, 1200, 1 } };
    rate_schedule_t s = { w, 1, ba };
    rate_period_tariff_t pt[] = {
        PT(1, T(123457, 50000, 60, 6, 0, 0)),
        PT(0, T(43211, 0, 1, 1, 0, 0)),
    };
    int64_t ans = 1768431510 - 2 * 86400 - 12 * 3600 + 30;  /* Mon 07:59 */
    rate_trace_t tr;

    /* 61 s: 60 offpeak + 1 peak = 2592660 + 123457 = 2716117;
     * /60 = 45268.62 -> UP 45269 */
    TEST_EQ_I64(cost_at(&s, pt, 2, ans, 61, UP, &tr), 45269);
    TEST_EQ_I64(tr.answer_period, 0);
    TEST_EQ_I64(tr.connect_fee, 0);
    check_seg(&tr, 0, 0, 60, 43211);
    check_seg(&tr, 1, 1, 1, 123457);
    /* 30 s, all offpeak: 43211*30/60 = 21605.5 */
    TEST_EQ_I64(cost_at(&s, pt, 2, ans, 30, UP, NULL), 21606);
    TEST_EQ_I64(cost_at(&s, pt, 2, ans, 30, HALF, NULL), 21606);
    TEST_EQ_I64(cost_at(&s, pt, 2, ans, 30, DOWN, NULL), 21605);
}

/*
 * Madrid (UTC+1 in January): night Mon-Fri 20:00-24:00 and 00:00-08:00
 * (period 2, 0.02/min), weekend (period 3, 0.010007/min), peak period 1;
 * no default. Friday 2026-01-16 23:58:00 local = 22:58:00 UTC.
 */
static void test_midnight_into_weekend(void)
{
    rate_window_t w[] = {
        { MON_FRI, 480, 1200, 1 },
        { MON_FRI, 1200, 1440, 2 },
        { MON_FRI, 0, 480, 2 },
        { SAT_SUN, 0, 1440, 3 },
    };
    rate_schedule_t s = { w, 4, madrid };
    rate_period_tariff_t pt[] = {
        PT(1, T(100000, 0, 1, 1, 0, 0)),
        PT(2, T(20000, 0, 1, 1, 0, 0)),
        PT(3, T(10007, 0, 1, 1, 0, 0)),
    };
    int64_t fri = 1768604280;
    uint32_t sec = 0;
    rate_trace_t tr;

    TEST_EQ_I64(rate_period_tariffs_check(&s, pt, 3), RATE_OK);
    /* 150 s: 120 night + 30 weekend = 2400000 + 300210 = 2700210;
     * /60 = 45003.5: the tie */
    TEST_EQ_I64(cost_at(&s, pt, 3, fri, 150, UP, &tr), 45004);
    TEST_EQ_I64(cost_at(&s, pt, 3, fri, 150, HALF, NULL), 45004);
    TEST_EQ_I64(cost_at(&s, pt, 3, fri, 150, DOWN, NULL), 45003);
    TEST_EQ_I64(tr.nsegments, 2);
    check_seg(&tr, 0, 2, 120, 20000);
    check_seg(&tr, 1, 3, 30, 10007);
    /* without a weekend tariff Saturday cannot be priced */
    TEST_EQ_I64(rate_period_tariffs_check(&s, pt, 2), RATE_ENORATE);
    TEST_EQ_I64(cost_at(&s, pt, 2, fri, 150, UP, &tr), RATE_ENORATE);
    TEST_EQ_I64(tr.nsegments, 0);                /* zeroed on error */
    TEST_EQ_I64(cost_at(&s, pt, 2, fri, 120, UP, NULL), 40000);
    /* ... and is never authorised: plenty of money stops at midnight */
    TEST_EQ_I64(rate_max_seconds_at(&s, pt, 2, fri, 100000000, UP, 3600,
                                    &sec), RATE_OK);
    TEST_EQ_I64(sec, 120);
    /* 0.02/min: 0.02 pays exactly 60 s */
    TEST_EQ_I64(rate_max_seconds_at(&s, pt, 2, fri, 20000, UP, 3600, &sec),
                RATE_OK);
    TEST_EQ_I64(sec, 60);
    /* answered on Saturday with no weekend tariff: nothing at all */
    TEST_EQ_I64(rate_max_seconds_at(&s, pt, 2, fri + 600, 100000, UP, 3600,
                                    &sec), RATE_ENORATE);
    TEST_EQ_I64(cost_at(&s, pt, 2, fri + 600, 0, UP, NULL), 0);
    /* duplicate periods and bad windows are refused at load */
    pt[1].period = 1;
    TEST_EQ_I64(rate_period_tariffs_check(&s, pt, 3), RATE_EINVAL);
    w[0].end_min = 480;
    TEST_EQ_I64(rate_schedule_check(&s), RATE_EINVAL);
    w[0].end_min = 1441;
    TEST_EQ_I64(rate_schedule_check(&s), RATE_EINVAL);
    w[0].end_min = 1200;
    w[0].period = 0;
    TEST_EQ_I64(rate_schedule_check(&s), RATE_EINVAL);
    w[0].period = 1;
    w[0].wday_mask = 0;
    TEST_EQ_I64(rate_schedule_check(&s), RATE_EINVAL);
    w[0].wday_mask = MON_FRI;
    TEST_EQ_I64(rate_schedule_check(&s), RATE_OK);
}

/*
 * New York, DST on 2026-03-08 07:00:00 UTC (02:00 EST -> 03:00 EDT).
 * Night 00:00-03:00 (period 2, 0.006001/min), day 03:00-24:00 (period 1,
 * 0.060001/min), 1/1. Answered 06:58:00 UTC = 01:58 EST, 241 s:
 * 120 s night, then 03:00 EDT: 121 s day (with a fixed EST offset it
 * would still be night). 6001*120 + 60001*121 = 720120 + 7260121 =
 * 7980241; /60 = 133004.02 -> UP 133005.
 */
static void test_dst_spring(void)
{
    rate_window_t w[] = { { ALL, 0, 180, 2 }, { ALL, 180, 1440, 1 } };
    rate_schedule_t s = { w, 2, ny };
    rate_period_tariff_t pt[] = {
        PT(1, T(60001, 0, 1, 1, 0, 0)),
        PT(2, T(6001, 0, 1, 1, 0, 0)),
    };
    rate_trace_t tr;

    TEST_EQ_I64(rate_period_tariffs_check(&s, pt, 2), RATE_OK);
    TEST_EQ_I64(cost_at(&s, pt, 2, 1772953080, 241, UP, &tr), 133005);
    TEST_EQ_I64(cost_at(&s, pt, 2, 1772953080, 241, DOWN, NULL), 133004);
    TEST_EQ_I64(tr.nsegments, 2);
    check_seg(&tr, 0, 2, 120, 6001);
    check_seg(&tr, 1, 1, 121, 60001);
}

/*
 * New York, DST off on 2026-11-01 06:00:00 UTC (01:59:59 EDT -> 01:00 EST):
 * the local hour 01:00-02:00 happens twice. Night 01:00-02:00 (period 2,
 * 0.006/min), default 0.06/min, 1/1. Answered 05:30:00 UTC = 01:30 EDT:
 * 05:30-07:00 UTC is all local 01:xx = 5400 s of night (one segment
 * across the offset change), then 60 s default:
 * 6000*5400 + 60000*60 = 32400000 + 3600000 = 36000000; /60 = 600000.
 */
static void test_dst_autumn(void)
{
    rate_window_t w[] = { { ALL, 60, 120, 2 } };
    rate_schedule_t s = { w, 1, ny };
    rate_period_tariff_t pt[] = {
        PT(2, T(6000, 0, 1, 1, 0, 0)),
        PT(0, T(60000, 0, 1, 1, 0, 0)),
    };
    rate_trace_t tr;
    uint32_t sec = 0;

    TEST_EQ_I64(cost_at(&s, pt, 2, 1793511000, 3600, UP, &tr), 360000);
    TEST_EQ_I64(tr.nsegments, 1);
    check_seg(&tr, 0, 2, 3600, 6000);
    TEST_EQ_I64(cost_at(&s, pt, 2, 1793511000, 5460, UP, &tr), 600000);
    TEST_EQ_I64(tr.nsegments, 2);
    check_seg(&tr, 0, 2, 5400, 6000);
    check_seg(&tr, 1, 0, 60, 60000);
    /* 0.54 = 5400 s of night; one more micro-unit buys nothing (the next
     * second costs 1000 micro at 0.06/min) */
    TEST_EQ_I64(rate_max_seconds_at(&s, pt, 2, 1793511000, 540000, UP,
                                    86400, &sec), RATE_OK);
    TEST_EQ_I64(sec, 5400);
    TEST_EQ_I64(rate_max_seconds_at(&s, pt, 2, 1793511000, 540999, UP,
                                    86400, &sec), RATE_OK);
    TEST_EQ_I64(sec, 5400);
    TEST_EQ_I64(rate_max_seconds_at(&s, pt, 2, 1793511000, 541000, UP,
                                    86400, &sec), RATE_OK);
    TEST_EQ_I64(sec, 5401);
}

/* Buenos Aires peak 1/1 at 0.60/min (10000/s), offpeak 0.06 (1000/s):
 * from Wed 19:58:30, 1.00 buys 90 s peak (0.90) + 100 s offpeak. */
static void test_max_seconds_at(void)
{
    rate_window_t w[] = { { MON_FRI, 480, 1200, 1 } };
    rate_schedule_t s = { w, 1, ba };
    rate_period_tariff_t pt[] = {
        PT(1, T(600000, 0, 1, 1, 0, 0)),
        PT(0, T(60000, 0, 1, 1, 0, 0)),
    };
    uint32_t sec = 0;

    TEST_EQ_I64(rate_max_seconds_at(&s, pt, 2, 1768431510, 1000000, UP,
                                    86400, &sec), RATE_OK);
    TEST_EQ_I64(sec, 190);
    TEST_EQ_I64(rate_max_seconds_at(&s, pt, 2, 1768431510, 999999, UP,
                                    86400, &sec), RATE_OK);
    TEST_EQ_I64(sec, 189);
    TEST_EQ_I64(rate_max_seconds_at(&s, pt, 2, 1768431510, 899999, UP,
                                    86400, &sec), RATE_OK);
    TEST_EQ_I64(sec, 89);
    TEST_EQ_I64(rate_max_seconds_at(&s, pt, 2, 1768431510, 1000000, UP, 100,
                                    &sec), RATE_OK);
    TEST_EQ_I64(sec, 100);                        /* cap */
    TEST_EQ_I64(rate_max_seconds_at(&s, pt, 2, 1768431510, -1, UP, 100,
                                    &sec), RATE_OK);
    TEST_EQ_I64(sec, 0);
    /* outside the table's span (2026 only): refused, not guessed */
    TEST_EQ_I64(rate_max_seconds_at(&s, pt, 2, 1768431510 + 5 * 31536000,
                                    1000000, UP, 100, &sec), RATE_ETZ);
    TEST_EQ_I64(cost_at(&s, pt, 2, ba->span_to - 10, 11, UP, NULL),
                RATE_ETZ);
    TEST_EQ_I64(cost_at(&s, pt, 2, ba->span_to - 10, 10, UP, NULL) > 0, 1);
}

/*
 * UTC, mornings (00:00-12:00, period 1, 60 micro/min) and default
 * afternoons (120 micro/min); 3 days from Monday 1970-01-05 00:00:
 * 6 segments of 43200 s, 4 recorded, 2 summed (86400 s).
 * 60*129600 + 120*129600 = 23328000; /60 = 388800.
 */
static void test_trace_overflow(void)
{
    rate_window_t w[] = { { ALL, 0, 720, 1 } };
    rate_schedule_t s = { w, 1, NULL };
    rate_period_tariff_t pt[] = {
        PT(1, T(60, 0, 1, 1, 0, 0)),
        PT(0, T(120, 0, 1, 1, 0, 0)),
    };
    rate_trace_t tr;

    TEST_EQ_I64(cost_at(&s, pt, 2, 4 * 86400, 3 * 86400, UP, &tr), 388800);
    TEST_EQ_I64(tr.nsegments, 6);
    TEST_EQ_I64(tr.nrecorded, RATE_TRACE_MAX);
    TEST_EQ_I64(tr.rest_seconds, 86400);
    TEST_EQ_I64(tr.rounded_sec, 3 * 86400);
    check_seg(&tr, 0, 1, 43200, 60);
    check_seg(&tr, 3, 0, 43200, 120);
}

/* A schedule without windows and a single default tariff must agree
 * with rate_cost exactly, in every mode (one rounding, same direction). */
static void test_flat_equivalence(void)
{
    rate_schedule_t s = { NULL, 0, ny };
    long bad = 0;
    int i;

    for (i = 0; i < 50000; i++) {
        rate_period_tariff_t pt = PT(0, T((money_t)rnd(50000000),
                                          (money_t)rnd(3) * 10000,
                                          1 + (uint32_t)rnd(60),
                                          1 + (uint32_t)rnd(60),
                                          (uint32_t)rnd(90),
                                          (uint32_t)rnd(10)));
        money_round_t mode = (money_round_t)rnd(3);
        uint32_t b = (uint32_t)rnd(20000);
        int64_t ans = ny->span_from + (int64_t)rnd(300 * 86400);
        money_t a = cost_at(&s, &pt, 1, ans, b, mode, NULL);
        money_t f = cost(pt.t, b, mode);
        if (a != f && bad++ < 5)
            TEST_FAIL_AT("flat %lld vs periods %lld", (long long)f,
                         (long long)a);
    }
    TEST_EQ_I64(bad, 0);
}

/* ---- periods: random, against a second-by-second glibc reference ------- */

typedef struct ref_plan {
    rate_window_t        w[4];
    uint32_t             nw;
    rate_period_tariff_t pt[4];
    uint32_t             npt;
} ref_plan_t;

/* The rule of rate.h, written again: first window, else default. */
static const rate_period_tariff_t *ref_tariff(const ref_plan_t *p, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    int minute, period = 0;
    uint32_t i;

    localtime_r(&tt, &tm);
    minute = tm.tm_hour * 60 + tm.tm_min;
    for (i = 0; i < p->nw; i++)
        if ((p->w[i].wday_mask & (1 << tm.tm_wday)) &&
            minute >= p->w[i].start_min && minute < p->w[i].end_min) {
            period = p->w[i].period;
            break;
        }
    for (i = 0; i < p->npt; i++)
        if (p->pt[i].period == period)
            return &p->pt[i];
    for (i = 0; i < p->npt; i++)
        if (p->pt[i].period == 0)
            return &p->pt[i];
    return NULL;
}

static money_t ref_cost(const ref_plan_t *p, int64_t ans, uint32_t billsec,
                        money_round_t mode)
{
    const rate_period_tariff_t *first, *cur;
    int64_t sum = 0;
    uint32_t r, i;
    money_t usage;

    if (billsec == 0)
        return 0;
    if ((first = ref_tariff(p, ans)) == NULL)
        return RATE_ENORATE;
    r = ref_rounded(first->t, billsec);
    if (r == 0)
        return 0;
    for (i = 0; i < r; i++) {
        if ((cur = ref_tariff(p, ans + i)) == NULL)
            return RATE_ENORATE;
        sum += cur->t.per_minute;
    }
    money_muldiv(sum, 1, 60, mode, &usage);
    return first->t.connect_fee + usage;
}

static void random_plan(ref_plan_t *p)
{
    static const uint16_t edges[] = { 0, 30, 420, 480, 481, 719, 720, 1020,
                                      1200, 1380, 1439, 1440 };
    uint32_t i;

    p->nw = (uint32_t)rnd(5);
    for (i = 0; i < p->nw; i++) {
        uint16_t a = edges[rnd(12)], b = edges[rnd(12)];
        if (a == b)
            b = (uint16_t)(a == 1440 ? 0 : 1440);
        p->w[i].wday_mask = (uint8_t)(1 + rnd(127));
        p->w[i].start_min = a < b ? a : b;
        p->w[i].end_min = a < b ? b : a;
        p->w[i].period = (uint16_t)(1 + rnd(3));
    }
    p->npt = 0;
    for (i = rnd(5) ? 0 : 1; i <= 3; i++) {      /* default 4 times in 5 */
        if (i > 0 && rnd(4) == 0)
            continue;
        p->pt[p->npt++] = PT((uint16_t)i,
            T((money_t)rnd(2000000), rnd(2) ? 0 : (money_t)rnd(100000),
              1 + (uint32_t)rnd(60), 1 + (uint32_t)rnd(60),
              rnd(2) ? 0 : (uint32_t)rnd(120), rnd(2) ? 0 : (uint32_t)rnd(10)));
    }
}

static int64_t random_answer(const tz_table_t *tab)
{
    /* near an offset change half of the time */
    if (tab->count > 1 && rnd(2)) {
        uint32_t k = 1 + (uint32_t)rnd(tab->count - 1);
        return tab->trans[k].utc_from - (int64_t)rnd(4000);
    }
    return tab->span_from + 86400 + (int64_t)rnd(360 * 86400);
}

static void test_random_periods(const char *zone, tz_table_t *tab)
{
    char tzv[128];
    long bad = 0, cases = 0, searched = 0;
    int i;

    snprintf(tzv, sizeof tzv, ":%s", zone);
    setenv("TZ", tzv, 1);                        /* for the reference only */
    tzset();
    for (i = 0; i < 1500; i++) {
        ref_plan_t p;
        rate_schedule_t s;
        money_round_t mode = (money_round_t)rnd(3);
        int64_t ans = random_answer(tab);
        uint32_t b = (uint32_t)rnd(rnd(2) ? 200 : 5000), r = 0;
        money_t got, want, m, c1, c2;
        rate_trace_t tr;
        int rc, rc2;

        random_plan(&p);
        s.windows = p.w;
        s.nwindows = p.nw;
        s.tz = tab;
        got = cost_at(&s, p.pt, p.npt, ans, b, mode, &tr);
        want = ref_cost(&p, ans, b, mode);
        cases++;
        if (got != want) {
            if (bad++ < 5)
                TEST_FAIL_AT("%s: answer %lld billsec %u: %lld, reference "
                             "%lld", zone, (long long)ans, b,
                             (long long)got, (long long)want);
            continue;
        }
        if (got >= 0 && tr.nsegments <= RATE_TRACE_MAX && got > 0) {
            /* the trace alone reproduces the cost */
            __int128 sum = 0;
            uint32_t k, secs = 0;
            for (k = 0; k < tr.nrecorded; k++) {
                sum += (__int128)tr.seg[k].per_minute * tr.seg[k].seconds;
                secs += tr.seg[k].seconds;
            }
            money_muldiv((int64_t)sum, 1, 60, mode, &c1);
            if (secs != tr.rounded_sec || c1 + tr.connect_fee != got) {
                if (bad++ < 5)
                    TEST_FAIL_AT("%s: trace does not add up", zone);
            }
        }
        /* the inverse, when the answer second has a tariff */
        m = (money_t)rnd(3000000);
        rc = rate_max_seconds_at(&s, p.pt, p.npt, ans, m, mode, 4000, &r);
        if (rc == RATE_ENORATE)
            continue;
        searched++;
        rc2 = r < 4000 ? rate_cost_at(&s, p.pt, p.npt, ans, r + 1, mode,
                                      &c2, NULL) : RATE_OK;
        if (rc != RATE_OK ||
            rate_cost_at(&s, p.pt, p.npt, ans, r, mode, &c1, NULL) != 0 ||
            c1 > m || (r < 4000 && rc2 == RATE_OK && c2 <= m)) {
            if (bad++ < 5)
                TEST_FAIL_AT("%s: max_seconds_at %u for %lld (rc %d)", zone,
                             r, (long long)m, rc);
        }
    }
    unsetenv("TZ");
    tzset();
    fprintf(stderr, "test_rate: %s: %ld calls vs reference, %ld inverses\n",
            zone, cases, searched);
    test_checks++;
    if (bad)
        TEST_FAIL_AT("%s: %ld random period failures", zone, bad);
}

int main(void)
{
    const char *seed = getenv("APOLO_SEED");

    rng_state = seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL);
    if (rng_state == 0)
        rng_state = 1;
    fprintf(stderr, "test_rate: seed %llu (APOLO_SEED to replay)\n",
            (unsigned long long)rng_state);
    ba = build("America/Argentina/Buenos_Aires", 2026, 2026);
    madrid = build("Europe/Madrid", 2026, 2026);
    ny = build("America/New_York", 2026, 2026);
    TEST_CHECK(ba != NULL && madrid != NULL && ny != NULL);
    if (ba == NULL || madrid == NULL || ny == NULL)
        return TEST_REPORT();

    test_check();
    test_rounded();
    test_rounded_random();
    test_cost();
    test_max_seconds();
    test_max_seconds_property();
    test_peak_to_offpeak();
    test_offpeak_to_peak();
    test_midnight_into_weekend();
    test_dst_spring();
    test_dst_autumn();
    test_max_seconds_at();
    test_trace_overflow();
    test_flat_equivalence();
    test_random_periods("America/New_York", ny);
    test_random_periods("Europe/Madrid", madrid);
    test_random_periods("America/Argentina/Buenos_Aires", ba);
    free(ba);
    free(madrid);
    free(ny);
    return TEST_REPORT();
}
