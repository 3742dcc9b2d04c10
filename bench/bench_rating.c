/*
 * bench_rating.c -- the whole rating step on one core, against a 1M-prefix
 * deck published in a real region: normalise the dialled number with the
 * plan's rules, find the longest prefix with a rate in force, price the
 * call, reserve the cost on an account and commit it.
 *
 * Baseline in the same run: the deck lookup alone (deck_lookup), so the
 * gap shows what normalising, pricing and the two atomic balance updates
 * cost on top of the trie.
 *
 * Figures:
 *   BENCH rating_deck_build_1m_sec build a 1M-row deck and copy it in (no reader load; bench_deck_swap measures deck_build_1m_sec under load)
 *   BENCH rating_lookup_1m_per_sec baseline: deck_lookup only
 *   BENCH rating_full_1m_per_sec   normalise+lookup+cost+reserve+commit
 */
#include "bench/lpm_gen.h"
#include "shm/account.h"
#include "shm/catalog.h"
#include "shm/publish.h"
#include "shm/rating.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t build_deck(pub_t *pub, char (*deck)[LPM_GEN_MAXLEN], size_t n)
{
    deck_builder_t *b = deck_builder_new(1, 1);
    uint64_t off;
    deck_builder_zone(b, 1, "World", 0);
    for (size_t i = 0; i < n; i++) {
        deck_row_t row = {
            .prefix = deck[i], .rate_id = (int64_t)i + 1, .zone_id = 1,
            .tariff = { .per_minute = 1000 + (money_t)(i % 50000),
                        .connect_fee = (money_t)(i % 3) * 100,
                        .first_inc = 30, .next_inc = 6 },
            .eff_from = 0, .eff_to = DECK_EFF_OPEN };
        if (deck_builder_row(b, &row) != DECK_OK)
            exit(1);
    }
    if (deck_builder_finish(b) != DECK_OK || pub_deck(pub, b, &off) != PUB_OK)
        exit(1);
    deck_builder_free(b);
    return off;
}

int main(void)
{
    int quick = getenv("BENCH_QUICK") != NULL;
    size_t ndeck = 1000000, nnum = 1 << 20;
    int reps = quick ? 2 : 6;
    region_t r;
    region_config_t cfg = { .max_readers = 4, .max_accounts = 16,
                            .heap_bytes = (uint64_t)1 << 30 };
    if (region_create(&r, &cfg) != REGION_OK)
        return 1;
    pub_t *pub = pub_new(&r, 0);
    char (*deck)[LPM_GEN_MAXLEN] = malloc(ndeck * LPM_GEN_MAXLEN);
    char (*nums)[LPM_GEN_MAXLEN] = malloc(nnum * LPM_GEN_MAXLEN);
    uint8_t *lens = malloc(nnum);
    if (!deck || !nums || !lens || lpm_gen_deck(deck, ndeck) != 0)
        return 1;
    lpm_gen_hits(nums, nnum, deck, ndeck, 42);
    for (size_t i = 0; i < nnum; i++)
        lens[i] = (uint8_t)strlen(nums[i]);

    double t0 = now();
    uint64_t off = build_deck(pub, deck, ndeck);
    printf("BENCH rating_deck_build_1m_sec %.2f s\n", now() - t0);

    cat_builder_t *cb = cat_builder_new(1);
    cat_plan_in_t plan = { .id = 1, .name = "bench", .currency = "USD",
                           .time_zone = "UTC", .number_rules = "00=>",
                           .rounding = MONEY_ROUND_UP, .deck_off = off,
                           .deck_version = 1 };
    uint32_t slot;
    acct_shm_t *as = region_area(&r, REGION_AREA_ACCOUNTS);
    acct_alloc_slot(as, &slot);
    acct_configure(as, slot, 1, ACCT_PREPAID, ACCT_ACTIVE, 0, 0, 1,
                   (money_t)1 << 49);
    if (cat_builder_plan(cb, &plan) != CAT_OK
        || cat_builder_account(cb, 1, "BENCH", slot) != CAT_OK
        || pub_catalog(pub, cb) != PUB_OK)
        return 1;
    cat_builder_free(cb);
    const cat_hdr_t *cat = cat_current(&r);
    const deck_hdr_t *d = cat_deck(&r, cat_plan(cat, 1));

    uint64_t sum = 0;
    double best = 0;
    for (int rep = 0; rep < reps; rep++) {
        t0 = now();
        for (size_t i = 0; i < nnum; i++) {
            deck_match_t m;
            if (deck_lookup(d, nums[i], lens[i], 1700000000, &m) == DECK_OK)
                sum += m.rows[0]->rate_id;
        }
        double rate = (double)nnum / (now() - t0);
        best = rate > best ? rate : best;
    }
    printf("BENCH rating_lookup_1m_per_sec %.0f lookups/s\n", best);

    best = 0;
    for (int rep = 0; rep < reps; rep++) {
        t0 = now();
        for (size_t i = 0; i < nnum; i++) {
            rating_quote_t q;
            uint32_t billsec = 1 + (uint32_t)(i % 600);
            if (rating_price(&r, cat, 1, nums[i], lens[i], 1700000000,
                             1700000000, billsec, &q) != RATING_OK
                || acct_reserve(as, slot, q.cost) != ACCT_OK
                || acct_commit(as, slot, q.cost, q.cost) != ACCT_OK)
                return 1;
            sum += (uint64_t)q.cost;
        }
        double rate = (double)nnum / (now() - t0);
        best = rate > best ? rate : best;
    }
    printf("BENCH rating_full_1m_per_sec %.0f ratings/s\n", best);
    fprintf(stderr, "checksum %llu\n", (unsigned long long)sum);
    pub_delete(pub);
    region_destroy(&r);
    return 0;
}
