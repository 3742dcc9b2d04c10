/*
 * test_deck.c -- a deck block's rules: effective dates pick the row in
 * force, a closed or future prefix falls back to the next shorter one,
 * overlapping rows and bad rows are refused, the block survives a copy to
 * another address, and a corrupted block fails its check.
 */
#include "shm/deck.h"
#include "tests/testhelp.h"

#include <stdlib.h>

#define T2020 1577836800LL   /* 2020-01-01 UTC */
#define T2025 1735689600LL
#define T2026 1767225600LL

static deck_row_t row(const char *prefix, int64_t id, money_t rate,
                      int64_t from, int64_t to, uint16_t period)
{
    deck_row_t r = { .prefix = prefix, .rate_id = id, .zone_id = 7,
                     .period = period,
                     .tariff = { .per_minute = rate, .first_inc = 60,
                                 .next_inc = 60 },
                     .eff_from = from, .eff_to = to };
    return r;
}

static deck_hdr_t *emit(deck_builder_t *b)
{
    size_t size = deck_builder_size(b);
    deck_hdr_t *d = aligned_alloc(64, (size + 63) & ~(size_t)63);
    TEST_EQ_I64(deck_builder_emit(b, d, size), DECK_OK);
    return d;
}

static int64_t rate_at(const deck_hdr_t *d, const char *num, int64_t at,
                       const char **prefix)
{
    deck_match_t m;
    if (deck_lookup(d, num, strlen(num), at, &m) != DECK_OK)
        return -1;
    *prefix = m.group->prefix;
    return m.rows[0]->tariff.per_minute;
}

static void test_dates_and_fallback(void)
{
    deck_builder_t *b = deck_builder_new(1, 3);
    deck_row_t rows[] = {
        row("1", 1, 100, T2020, DECK_EFF_OPEN, 0),
        row("1212", 2, 200, T2020, T2025, 0),          /* closed in 2025 */
        row("1212", 3, 250, T2026, DECK_EFF_OPEN, 0),  /* reopens in 2026 */
        row("12125", 4, 300, T2026, DECK_EFF_OPEN, 0), /* future prefix */
    };
    const char *p;
    TEST_EQ_I64(deck_builder_zone(b, 7, "USA", 0), DECK_OK);
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        TEST_EQ_I64(deck_builder_row(b, &rows[i]), DECK_OK);
    TEST_EQ_I64(deck_builder_finish(b), DECK_OK);
    deck_hdr_t *d = emit(b);
    TEST_EQ_I64(deck_check(d, d->size), DECK_OK);
    TEST_EQ_I64(rate_at(d, "12125550000", T2020 + 10, &p), 200);
    TEST_EQ_STR(p, "1212");
    TEST_EQ_I64(rate_at(d, "12125550000", T2025 + 10, &p), 100);   /* closed */
    TEST_EQ_STR(p, "1");
    TEST_EQ_I64(rate_at(d, "12125550000", T2026, &p), 300);        /* new */
    TEST_EQ_STR(p, "12125");
    TEST_EQ_I64(rate_at(d, "12124440000", T2026, &p), 250);
    TEST_EQ_I64(rate_at(d, "2125550000", T2026, &p), -1);
    TEST_EQ_I64(rate_at(d, "12125550000", T2020 - 1, &p), -1);     /* before */

    /* the block answers the same at another address, and a flipped byte
     * is caught by the check */
    deck_hdr_t *copy = aligned_alloc(64, (d->size + 63) & ~(size_t)63);
    memcpy(copy, d, d->size);
    memset(d, 0xdb, d->size);
    TEST_EQ_I64(rate_at(copy, "12125550000", T2020 + 10, &p), 200);
    deck_match_t m;
    TEST_EQ_I64(deck_lookup(copy, "12125550000", 11, T2020 + 10, &m),
                DECK_OK);
    deck_entry_t *e = (deck_entry_t *)m.rows[0];
    e->tariff.per_minute++;
    TEST_CHECK(!deck_entry_verify(copy, e));
    TEST_EQ_I64(deck_check(copy, copy->size), DECK_ECORRUPT);
    free(d);
    free(copy);
    deck_builder_free(b);
}

static void test_refusals(void)
{
    deck_builder_t *b = deck_builder_new(1, 1);
    deck_builder_zone(b, 7, "USA", 0);
    deck_row_t bad_prefix = row("12a", 1, 1, T2020, DECK_EFF_OPEN, 0);
    deck_row_t long_prefix = row("123456789012345678901", 1, 1, T2020,
                                 DECK_EFF_OPEN, 0);
    deck_row_t bad_dates = row("1", 1, 1, T2026, T2020, 0);
    deck_row_t bad_zone = row("1", 1, 1, T2020, DECK_EFF_OPEN, 0);
    deck_row_t bad_inc = row("1", 1, 1, T2020, DECK_EFF_OPEN, 0);
    deck_row_t neg_rate = row("1", 1, -5, T2020, DECK_EFF_OPEN, 0);
    bad_zone.zone_id = 99;
    bad_inc.tariff.next_inc = 0;
    TEST_EQ_I64(deck_builder_row(b, &bad_prefix), DECK_EINVAL);
    TEST_EQ_I64(deck_builder_row(b, &long_prefix), DECK_EINVAL);
    TEST_EQ_I64(deck_builder_row(b, &bad_dates), DECK_EINVAL);
    TEST_EQ_I64(deck_builder_row(b, &bad_zone), DECK_EINVAL);
    TEST_EQ_I64(deck_builder_row(b, &bad_inc), DECK_EINVAL);
    TEST_EQ_I64(deck_builder_row(b, &neg_rate), DECK_EINVAL);

    /* two rows of one prefix and period in force at once */
    deck_row_t a = row("44", 1, 1, T2020, T2026, 0);
    deck_row_t o = row("44", 2, 2, T2025, DECK_EFF_OPEN, 0);
    deck_row_t peak = row("44", 3, 3, T2020, DECK_EFF_OPEN, 5);
    TEST_EQ_I64(deck_builder_row(b, &a), DECK_OK);
    TEST_EQ_I64(deck_builder_row(b, &peak), DECK_OK);   /* other period: ok */
    TEST_EQ_I64(deck_builder_row(b, &o), DECK_OK);
    TEST_EQ_I64(deck_builder_finish(b), DECK_EOVERLAP);
    deck_builder_free(b);

    /* a prefix with a row per period: all rows in force come back */
    b = deck_builder_new(1, 1);
    deck_builder_zone(b, 7, "USA", 0);
    deck_row_t p0 = row("44", 1, 10, T2020, DECK_EFF_OPEN, 0);
    deck_row_t p1 = row("44", 2, 20, T2020, DECK_EFF_OPEN, 1);
    deck_row_t p2 = row("44", 3, 30, T2020, DECK_EFF_OPEN, 2);
    deck_builder_row(b, &p0);
    deck_builder_row(b, &p1);
    deck_builder_row(b, &p2);
    TEST_EQ_I64(deck_builder_finish(b), DECK_OK);
    deck_hdr_t *d = emit(b);
    deck_match_t m;
    TEST_EQ_I64(deck_lookup(d, "4420", 4, T2025, &m), DECK_OK);
    TEST_EQ_I64(m.nrows, 3);
    TEST_EQ_I64(m.rows[0]->period + m.rows[1]->period + m.rows[2]->period, 3);
    TEST_EQ_STR(m.zone->name, "USA");
    free(d);
    deck_builder_free(b);
}

int main(void)
{
    test_dates_and_fallback();
    test_refusals();
    return TEST_REPORT();
}
