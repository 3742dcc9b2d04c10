/*
 * test_load.c -- a deck, periods, accounts and extensions inserted with SQL
 * come back identical from the region after load_all(), and rate through
 * it the way the rules say. A reload keeps live balances; a bad row makes
 * the load fail and leaves the previous catalog current.
 */
#include "engine/load.h"
#include "shm/account.h"
#include "shm/catalog.h"
#include "shm/log.h"
#include "shm/publish.h"
#include "shm/rating.h"
#include "tests/testdb.h"
#include "tests/testhelp.h"

#include <inttypes.h>

#define NRATES 3000
#define NACCTS 200

static region_t region;

static const char *setup_sql =
    "INSERT INTO rate_plans (id, name, currency, time_zone, number_rules) "
    "  VALUES (1, 'Retail', 'ARS', 'America/Argentina/Buenos_Aires', "
    "          '00=>,0=>54'), (2, 'Wholesale', 'USD', 'UTC', '');"
    "INSERT INTO rate_periods (id, plan_id, name) VALUES (10, 1, 'peak');"
    "INSERT INTO rate_period_windows (period_id, wday_mask, start_min, end_min)"
    "  VALUES (10, 62, 480, 1200);"                 /* Mon-Fri 08:00-20:00 */
    "INSERT INTO zones (id, code, name) VALUES (1, 'AR', 'Argentina'), "
    "  (2, 'AR-MOB', 'Argentina Mobile'), (3, 'US', 'United States');"
    "INSERT INTO deck_versions (plan_id, version, actor) VALUES (1, 1, 't'),"
    "  (1, 2, 't'), (2, 1, 't');"
    /* random deck for plan 2: prefixes 1..8 digits, tariffs from the id */
    "INSERT INTO rates (plan_id, prefix, zone_id, rate_per_minute, "
    "  connection_fee, first_increment, next_increment, min_seconds, "
    "  grace_seconds, effective_from, deck_version) "
    "SELECT DISTINCT ON (p) 2, p, 1 + g % 3, (g * 7919) % 500000, g % 3 * 1000,"
    "  (ARRAY[60, 30, 1, 6])[1 + g % 4], (ARRAY[60, 6, 1, 6])[1 + g % 4], "
    "  g % 2 * 30, g % 5, '2020-01-01', 1 "
    "FROM (SELECT g, substr(lpad(((g::bigint * 2654435761) % 9999999967)"
    "      ::text, 10, '0'), 1, 1 + g % 8) AS p "
    "      FROM generate_series(1, 3000) g) s ORDER BY p, g;"
    /* plan 1: Buenos Aires, peak and default rows, a closed prefix and a
     * future change */
    "INSERT INTO rates (plan_id, prefix, zone_id, period_id, rate_per_minute,"
    "  first_increment, next_increment, effective_from, effective_to, "
    "  deck_version) VALUES "
    "  (1, '54', 1, NULL, 60000, 60, 6, '2020-01-01', NULL, 1),"
    "  (1, '549', 2, NULL, 120000, 30, 6, '2020-01-01', NULL, 1),"
    "  (1, '549', 2, 10, 240000, 30, 6, '2020-01-01', NULL, 1),"
    "  (1, '5411', 1, NULL, 30000, 1, 1, '2020-01-01', '2026-01-01', 1),"
    "  (1, '5411', 1, NULL, 45000, 1, 1, '2026-01-01', NULL, 2),"
    "  (1, '54351', 1, NULL, 90000, 60, 60, '2020-01-01', '2024-01-01', 1);"
    "INSERT INTO accounts (id, code, name, type, balance, credit_limit, "
    "  currency, plan_id, low_balance_threshold, status) "
    "SELECT g, 'ACC' || g, 'Account ' || g, "
    "  CASE WHEN g % 3 = 0 THEN 'postpaid' ELSE 'prepaid' END, "
    "  g * 1234567 - 5000000, CASE WHEN g % 3 = 0 THEN g * 1000000 ELSE 0 END,"
    "  'USD', 2, g * 1000, CASE WHEN g % 7 = 0 THEN 'blocked' ELSE 'active' END"
    "  FROM generate_series(1, 200) g;"
    "INSERT INTO accounts (id, code, name, type, balance, currency, plan_id) "
    "  VALUES (1000, 'BA1', 'Buenos Aires', 'prepaid', 10000000, 'ARS', 1);"
    "INSERT INTO extensions (number, account_id, active) "
    "SELECT (2000 + g)::text, 1 + g % 200, g % 10 <> 0 "
    "  FROM generate_series(1, 400) g;"
    /* FACs: one billing account 1000, one without a code (an import from
     * CUCM) nor account, one inactive */
    "INSERT INTO fac_codes (id, name, code_hash, authorization_level, "
    "  account_id, active) VALUES "
    "  (1, 'Sales-Intl', repeat('ab', 32), 3, 1000, true),"
    "  (2, 'Legal', NULL, 5, NULL, true),"
    "  (3, 'Old Team', repeat('cd', 32), 1, 7, false);";

static int64_t epoch(PGconn *c, const char *ts)
{
    const char *p[1] = { ts };
    PGresult *r = db_query(c, "epoch", "SELECT extract(epoch FROM "
                           "$1::timestamptz)::bigint", 1, p);
    int64_t v = r ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return v;
}

/* Every rate row of plan 2 is found, exactly, in the region. */
static void check_deck(PGconn *c, const cat_hdr_t *cat)
{
    PGresult *r = db_query(c, "rates", "SELECT prefix, id, zone_id, "
        "rate_per_minute, connection_fee, first_increment, next_increment, "
        "min_seconds, grace_seconds FROM rates WHERE plan_id = 2", 0, NULL);
    const cat_plan_t *p = cat_plan(cat, 2);
    TEST_CHECK(r != NULL && p != NULL);
    const deck_hdr_t *d = cat_deck(&region, p);
    TEST_EQ_I64(d->nentries, PQntuples(r));
    TEST_EQ_I64(d->version, 1);
    TEST_EQ_I64(deck_check(d, d->size), DECK_OK);
    TEST_CHECK(PQntuples(r) > 1000);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *prefix = PQgetvalue(r, i, 0);
        deck_match_t m;
        int64_t v[8];
        for (int k = 0; k < 8; k++)
            v[k] = strtoll(PQgetvalue(r, i, 1 + k), NULL, 10);
        TEST_EQ_I64(deck_lookup(d, prefix, strlen(prefix), 1700000000, &m),
                    DECK_OK);
        TEST_EQ_STR(m.group->prefix, prefix);
        TEST_EQ_I64(m.nrows, 1);
        const deck_entry_t *e = m.rows[0];
        TEST_EQ_I64(e->rate_id, v[0]);
        TEST_EQ_I64(m.zone->id, v[1]);
        TEST_EQ_I64(e->tariff.per_minute, v[2]);
        TEST_EQ_I64(e->tariff.connect_fee, v[3]);
        TEST_EQ_I64(e->tariff.first_inc, v[4]);
        TEST_EQ_I64(e->tariff.next_inc, v[5]);
        TEST_EQ_I64(e->tariff.min_sec, v[6]);
        TEST_EQ_I64(e->tariff.grace_sec, v[7]);
    }
    PQclear(r);
}

static void check_accounts(PGconn *c, const cat_hdr_t *cat)
{
    acct_shm_t *as = region_area(&region, REGION_AREA_ACCOUNTS);
    PGresult *r = db_query(c, "accounts", "SELECT id, code, balance, "
        "credit_limit, type = 'postpaid', status, plan_id, "
        "coalesce(low_balance_threshold, 0) FROM accounts", 0, NULL);
    TEST_EQ_I64(PQntuples(r), NACCTS + 1);
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        const cat_acct_t *a = cat_account(cat, id);
        const cat_acct_t *b = cat_account_by_code(cat, PQgetvalue(r, i, 1));
        acct_view_t v;
        TEST_CHECK(a != NULL && a == b);
        if (a == NULL)
            continue;
        TEST_EQ_I64(acct_view(as, a->slot, &v), ACCT_OK);
        TEST_EQ_I64(v.id, id);
        TEST_EQ_I64(v.balance, strtoll(PQgetvalue(r, i, 2), NULL, 10));
        TEST_EQ_I64(v.credit_limit, strtoll(PQgetvalue(r, i, 3), NULL, 10));
        TEST_EQ_I64(v.type, PQgetvalue(r, i, 4)[0] == 't' ? ACCT_POSTPAID
                                                            : ACCT_PREPAID);
        TEST_EQ_I64(v.status, strcmp(PQgetvalue(r, i, 5), "blocked") == 0
                              ? ACCT_BLOCKED : ACCT_ACTIVE);
        TEST_EQ_I64(v.plan_id, strtoll(PQgetvalue(r, i, 6), NULL, 10));
        TEST_EQ_I64(v.low_balance, strtoll(PQgetvalue(r, i, 7), NULL, 10));
        TEST_EQ_I64(v.headroom, v.balance + v.credit_limit);
    }
    PQclear(r);
    r = db_query(c, "extensions", "SELECT number, id, account_id, active "
                 "FROM extensions", 0, NULL);
    TEST_EQ_I64(PQntuples(r), 400);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *num = PQgetvalue(r, i, 0);
        const cat_ext_t *e = cat_extension(cat, num, strlen(num));
        acct_view_t v;
        TEST_CHECK(e != NULL);
        if (e == NULL)
            continue;
        TEST_EQ_I64(e->id, strtoll(PQgetvalue(r, i, 1), NULL, 10));
        TEST_EQ_I64(e->active, PQgetvalue(r, i, 3)[0] == 't');
        acct_view(as, e->acct_slot, &v);
        TEST_EQ_I64(v.id, strtoll(PQgetvalue(r, i, 2), NULL, 10));
    }
    TEST_CHECK(cat_extension(cat, "9999", 4) == NULL);
    PQclear(r);
}

/* The FACs: by name in any case, by code hash; their accounts' slots. */
static void check_facs(const cat_hdr_t *cat)
{
    const acct_shm_t *as = region_area(&region, REGION_AREA_ACCOUNTS);
    char hex[65];
    acct_view_t v;
    TEST_EQ_I64(cat->nfacs, 3);
    const cat_fac_t *f = cat_fac_by_name(cat, "SALES-intl");
    TEST_CHECK(f != NULL);
    if (f != NULL) {
        TEST_EQ_I64(f->id, 1);
        TEST_EQ_I64(f->level, 3);
        TEST_EQ_I64(f->active, 1);
        acct_view(as, f->acct_slot, &v);
        TEST_EQ_I64(v.id, 1000);
    }
    for (int i = 0; i < 32; i++)
        memcpy(hex + 2 * i, "ab", 2);
    hex[64] = '\0';
    TEST_CHECK(cat_fac_by_code_hash(cat, hex) == f);
    f = cat_fac_by_name(cat, "legal");
    TEST_CHECK(f != NULL && f->id == 2 && f->code_hash[0] == '\0'
               && f->acct_slot == UINT32_MAX);
    f = cat_fac_by_name(cat, "old team");
    TEST_CHECK(f != NULL && f->active == 0);
    for (int i = 0; i < 32; i++)
        memcpy(hex + 2 * i, "cd", 2);
    TEST_CHECK(cat_fac_by_code_hash(cat, hex) == f);
    TEST_CHECK(cat_fac_by_name(cat, "Nobody") == NULL);
    TEST_CHECK(cat_fac_by_name(cat, "") == NULL);
    TEST_CHECK(cat_fac_by_code_hash(cat, "") == NULL);
    hex[0] = 'e';
    TEST_CHECK(cat_fac_by_code_hash(cat, hex) == NULL);
}

/* Plan 1 through the whole rating path: rules, periods, dates. */
static void check_rating(PGconn *c, const cat_hdr_t *cat)
{
    rating_quote_t q;
    /* Wednesday 2026-03-04 15:00 local (18:00 UTC): peak for 549 */
    int64_t peak = epoch(c, "2026-03-04 15:00:00-03");
    int64_t night = epoch(c, "2026-03-04 22:00:00-03");

    /* national 0 -> 54; 549 mobile peak 2.40/min on 30/6: 45 s -> 48 s */
    TEST_EQ_I64(rating_price(&region, cat, 1, "0 9 11-5555 4444", 16, peak,
                             peak, 45, &q), RATING_OK);
    TEST_EQ_STR(q.number, "5491155554444");
    TEST_EQ_STR(q.prefix, "549");
    TEST_EQ_STR(q.zone, "Argentina Mobile");
    TEST_EQ_I64(q.cost, 192000);                   /* 240000 * 48 / 60 */
    TEST_EQ_I64(q.deck_version, 2);
    TEST_EQ_I64(rating_price(&region, cat, 1, "+5491155554444", 14, night,
                             night, 45, &q), RATING_OK);
    TEST_EQ_I64(q.cost, 96000);                    /* off-peak 1.20/min */
    /* 5411 changed on 2026-01-01: the rate at the call's start applies */
    TEST_EQ_I64(rating_price(&region, cat, 1, "00541143210000", 14,
                             epoch(c, "2025-12-31 23:59:00-00"),
                             epoch(c, "2025-12-31 23:59:00-00"), 120, &q),
                RATING_OK);
    TEST_EQ_STR(q.prefix, "5411");
    TEST_EQ_I64(q.cost, 60000);                    /* 0.30/min, 2 min */
    TEST_EQ_I64(rating_price(&region, cat, 1, "00541143210000", 14, peak,
                             peak, 120, &q), RATING_OK);
    TEST_EQ_I64(q.cost, 90000);                    /* 0.45/min */
    /* 54351 closed in 2024: falls back to 54 */
    TEST_EQ_I64(rating_price(&region, cat, 1, "0351 4000000", 12, peak, peak,
                             60, &q), RATING_OK);
    TEST_EQ_STR(q.prefix, "54");
    TEST_EQ_I64(q.cost, 60000);
    TEST_EQ_I64(rating_price(&region, cat, 1, "1 212 555 0000", 14, peak,
                             peak, 60, &q), RATING_ENORATE);
    TEST_EQ_I64(rating_price(&region, cat, 3, "54", 2, peak, peak, 60, &q),
                RATING_ENOPLAN);
    uint32_t max;
    TEST_EQ_I64(rating_authorize(&region, cat, 1, "5491155554444", 13, peak,
                                 1000000, 36000, &max, &q), RATING_OK);
    /* 1.00 at 2.40/min on 30/6: 30 s cost 0.12, then 0.024 per 6 s: 36
     * blocks fit (0.984), so 246 s; the 247th second would round to 252 s
     * and cost 1.008 */
    TEST_EQ_I64(max, 246);
    TEST_EQ_I64(q.cost, 984000);
}

int main(void)
{
    region_config_t cfg = { .max_readers = 8, .max_accounts = 1024,
                            .heap_bytes = 64 << 20 };
    load_stats_t st;
    PGconn *c = testdb_open("load");
    TEST_CHECK(c != NULL);
    if (c == NULL)
        return TEST_REPORT();
    TEST_EQ_I64(testdb_exec(c, setup_sql), 0);
    TEST_EQ_I64(region_create(&region, &cfg), REGION_OK);
    pub_t *pub = pub_new(&region, PUB_POISON);

    TEST_EQ_I64(load_all(c, &region, pub, &st), LOAD_OK);
    TEST_EQ_I64(st.plans, 2);
    TEST_EQ_I64(st.accounts, NACCTS + 1);
    const cat_hdr_t *cat = cat_current(&region);
    TEST_CHECK(cat != NULL);
    check_deck(c, cat);
    check_accounts(c, cat);
    check_facs(cat);
    check_rating(c, cat);

    /* reload: live balances stay, configuration follows the database */
    acct_shm_t *as = region_area(&region, REGION_AREA_ACCOUNTS);
    const cat_acct_t *a = cat_account(cat, 5);
    uint32_t slot = a->slot;
    TEST_EQ_I64(acct_credit(as, slot, 777), ACCT_OK);
    TEST_EQ_I64(testdb_exec(c, "UPDATE accounts SET credit_limit = 4242, "
                            "status = 'blocked' WHERE id = 5"), 0);
    TEST_EQ_I64(load_all(c, &region, pub, &st), LOAD_OK);
    cat = cat_current(&region);
    TEST_EQ_I64(cat->version, 2);
    acct_view_t v;
    TEST_EQ_I64(cat_account(cat, 5)->slot, slot);
    acct_view(as, slot, &v);
    TEST_EQ_I64(v.balance, 5 * 1234567 - 5000000 + 777);
    TEST_EQ_I64(v.credit_limit, 4242);
    TEST_EQ_I64(v.status, ACCT_BLOCKED);

    /* a plan the region refuses (bad time zone) fails the whole load */
    TEST_EQ_I64(testdb_exec(c, "ALTER TABLE rate_plans DROP CONSTRAINT "
        "rate_plans_time_zone_check; UPDATE rate_plans SET time_zone = "
        "'Mars/Olympus' WHERE id = 2; UPDATE accounts SET credit_limit = 1 "
        "WHERE id = 5"), 0);
    TEST_EQ_I64(load_all(c, &region, pub, &st), LOAD_ERROR);
    TEST_CHECK(cat_current(&region) == cat);
    acct_view(as, slot, &v);
    TEST_EQ_I64(v.credit_limit, 4242);
    pub_reclaim(pub, NULL);
    pub_delete(pub);
    region_destroy(&region);
    testdb_close(c);
    return TEST_REPORT();
}
