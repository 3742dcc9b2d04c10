/*
 * load.c -- PostgreSQL to shared region (see load.h).
 *
 * Order of work, chosen so that a failure at any step publishes nothing:
 *   1. snapshot transaction; read plans, periods, windows, zones, versions
 *   2. per plan: stream its rates through a cursor into a deck builder,
 *      copy the finished deck into the heap (not yet visible)
 *   3. accounts: new ones get a slot and their opening balance (a slot no
 *      catalog names is invisible); extensions
 *   4. publish one catalog naming all of it; retire the previous decks
 *   5. apply configuration changes to accounts already live
 *
 * NOTES
 * - Period ids are bigint in SQL but small per plan in the region: each
 *   plan's periods are numbered 1..n in id order here, and windows and
 *   rates are translated with the same map.
 * - If a reload fails after step 3, the slots given to new accounts stay
 *   allocated but unnamed (64 bytes each); the next load gives those
 *   accounts new slots. Balances are never touched by a failed load.
 * - Epoch seconds come from floor(extract(epoch ...)): rates take effect on
 *   whole seconds, and floor keeps a fractional boundary on the same side
 *   for effective_from and effective_to.
 */
#include "engine/load.h"
#include "engine/db.h"
#include "shm/account.h"
#include "shm/catalog.h"
#include "shm/deck.h"
#include "shm/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LOAD_FETCH 50000

typedef struct load_period {
    int64_t  id;
    int64_t  plan_id;
    uint16_t local;          /* 1..n within its plan */
} load_period_t;

typedef struct load_plan {
    cat_plan_in_t  in;
    char          *name, *currency, *tz, *rules;
    rate_window_t  windows[CAT_MAX_WINDOWS];
    uint64_t       deck_off;
} load_plan_t;

typedef struct load_ctx {
    PGconn        *conn;
    region_t      *r;
    pub_t         *pub;
    load_plan_t   *plans;
    uint32_t       nplans;
    load_period_t *periods;
    uint32_t       nperiods;
    PGresult      *zones;
    load_stats_t  *stats;
} load_ctx_t;

static int load_i64(PGresult *res, int row, int col, int64_t *out)
{
    const char *s = PQgetvalue(res, row, col);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return LOAD_ERROR;
    *out = v;
    return LOAD_OK;
}

/* Reads columns [first, first+n) of a row as int64; logs the bad one. */
static int load_row_i64(PGresult *res, int row, int first, int n,
                        int64_t *out, const char *what)
{
    for (int i = 0; i < n; i++)
        if (load_i64(res, row, first + i, &out[i]) != LOAD_OK) {
            LOG_ERROR("load", 0, "%s row %d: column %s is not an integer: "
                      "\"%s\"", what, row, PQfname(res, first + i),
                      PQgetvalue(res, row, first + i));
            return LOAD_ERROR;
        }
    return LOAD_OK;
}

static int load_u32_field(int64_t v, uint32_t *out)
{
    if (v < 0 || v > (int64_t)RATE_SEC_MAX)
        return LOAD_ERROR;
    *out = (uint32_t)v;
    return LOAD_OK;
}

static uint16_t load_period_local(const load_ctx_t *x, int64_t period_id)
{
    for (uint32_t i = 0; i < x->nperiods; i++)
        if (x->periods[i].id == period_id)
            return x->periods[i].local;
    return 0;
}

static int load_periods(load_ctx_t *x)
{
    PGresult *res = db_query(x->conn, "load periods",
                             "SELECT id, plan_id FROM rate_periods "
                             "ORDER BY plan_id, id", 0, NULL);
    if (res == NULL)
        return LOAD_ERROR;
    x->nperiods = (uint32_t)PQntuples(res);
    x->periods = calloc(x->nperiods + 1, sizeof *x->periods);
    int rc = x->periods ? LOAD_OK : LOAD_ERROR;
    for (uint32_t i = 0; rc == LOAD_OK && i < x->nperiods; i++) {
        int64_t v[2];
        rc = load_row_i64(res, (int)i, 0, 2, v, "rate_periods");
        load_period_t *p = &x->periods[i];
        p->id = v[0];
        p->plan_id = v[1];
        p->local = (uint16_t)(i > 0 && x->periods[i - 1].plan_id == p->plan_id
                              ? x->periods[i - 1].local + 1 : 1);
        if (p->local == UINT16_MAX)
            rc = LOAD_ERROR;
    }
    PQclear(res);
    return rc;
}

static load_plan_t *load_find_plan(load_ctx_t *x, int64_t id)
{
    for (uint32_t i = 0; i < x->nplans; i++)
        if (x->plans[i].in.id == id)
            return &x->plans[i];
    return NULL;
}

static int load_windows(load_ctx_t *x)
{
    PGresult *res = db_query(x->conn, "load period windows",
        "SELECT p.plan_id, p.id, w.wday_mask, w.start_min, w.end_min "
        "FROM rate_periods p JOIN rate_period_windows w ON w.period_id = p.id "
        "ORDER BY p.plan_id, w.start_min, w.id", 0, NULL);
    if (res == NULL)
        return LOAD_ERROR;
    int rc = LOAD_OK;
    for (int i = 0; rc == LOAD_OK && i < PQntuples(res); i++) {
        int64_t v[5];
        if ((rc = load_row_i64(res, i, 0, 5, v, "rate_period_windows")))
            break;
        load_plan_t *p = load_find_plan(x, v[0]);
        if (p == NULL || p->in.nwindows >= CAT_MAX_WINDOWS) {
            LOG_ERROR("load", 0, "plan %lld: more than %d period windows",
                      (long long)v[0], CAT_MAX_WINDOWS);
            rc = LOAD_ERROR;
            break;
        }
        p->windows[p->in.nwindows++] = (rate_window_t){
            .wday_mask = (uint8_t)v[2], .start_min = (uint16_t)v[3],
            .end_min = (uint16_t)v[4], .period = load_period_local(x, v[1]) };
    }
    PQclear(res);
    return rc;
}

static char *load_dup(PGresult *res, int row, int col)
{
    return strdup(PQgetvalue(res, row, col));
}

static int load_plans(load_ctx_t *x)
{
    PGresult *res = db_query(x->conn, "load plans",
        "SELECT p.id, p.name, p.currency, p.time_zone, p.rounding, "
        "p.number_rules, coalesce(max(v.version), 0) FROM rate_plans p "
        "LEFT JOIN deck_versions v ON v.plan_id = p.id GROUP BY p.id "
        "ORDER BY p.id", 0, NULL);
    if (res == NULL)
        return LOAD_ERROR;
    x->nplans = (uint32_t)PQntuples(res);
    x->plans = calloc(x->nplans + 1, sizeof *x->plans);
    int rc = x->plans ? LOAD_OK : LOAD_ERROR;
    for (uint32_t i = 0; rc == LOAD_OK && i < x->nplans; i++) {
        load_plan_t *p = &x->plans[i];
        int64_t id, version;
        money_round_t mode;
        if (load_i64(res, (int)i, 0, &id) || load_i64(res, (int)i, 6, &version)
            || money_round_parse(PQgetvalue(res, (int)i, 4), &mode)) {
            LOG_ERROR("load", 0, "rate_plans row %u is malformed", i);
            rc = LOAD_ERROR;
            break;
        }
        p->name = load_dup(res, (int)i, 1);
        p->currency = load_dup(res, (int)i, 2);
        p->tz = load_dup(res, (int)i, 3);
        p->rules = load_dup(res, (int)i, 5);
        p->in = (cat_plan_in_t){ .id = id, .name = p->name,
            .currency = p->currency, .time_zone = p->tz,
            .number_rules = p->rules, .rounding = mode,
            .windows = p->windows, .deck_version = (uint64_t)version };
        if (!p->name || !p->currency || !p->tz || !p->rules)
            rc = LOAD_ERROR;
    }
    PQclear(res);
    return rc;
}

static int load_zones(load_ctx_t *x, deck_builder_t *b)
{
    for (int i = 0; i < PQntuples(x->zones); i++) {
        int64_t v[2];
        if (load_i64(x->zones, i, 0, &v[0]) || load_i64(x->zones, i, 2, &v[1])
            || deck_builder_zone(b, v[0], PQgetvalue(x->zones, i, 1),
                                 (int32_t)v[1]) != DECK_OK) {
            LOG_ERROR("load", 0, "zones row %d is malformed", i);
            return LOAD_ERROR;
        }
    }
    return LOAD_OK;
}

/* Turns one result row of the rates cursor into a deck row. */
static int load_rate_row(load_ctx_t *x, PGresult *res, int i, deck_row_t *row)
{
    int64_t v[11];
    if (load_row_i64(res, i, 1, 11, v, "rates") != LOAD_OK)
        return LOAD_ERROR;
    row->prefix = PQgetvalue(res, i, 0);
    row->rate_id = v[0];
    row->zone_id = v[1];
    row->period = v[2] == 0 ? 0 : load_period_local(x, v[2]);
    row->tariff.per_minute = v[3];
    row->tariff.connect_fee = v[4];
    row->eff_from = v[9];
    row->eff_to = v[10];
    if (load_u32_field(v[5], &row->tariff.first_inc)
        || load_u32_field(v[6], &row->tariff.next_inc)
        || load_u32_field(v[7], &row->tariff.min_sec)
        || load_u32_field(v[8], &row->tariff.grace_sec)
        || (v[2] != 0 && row->period == 0))
        return LOAD_ERROR;
    return LOAD_OK;
}

static int load_rates(load_ctx_t *x, load_plan_t *p, deck_builder_t *b)
{
    char id[24];
    const char *params[1] = { id };
    snprintf(id, sizeof id, "%lld", (long long)p->in.id);
    if (db_exec(x->conn, "declare rates cursor",
        "DECLARE apolo_rates NO SCROLL CURSOR FOR "
        "SELECT prefix, id, zone_id, coalesce(period_id, 0), rate_per_minute, "
        "connection_fee, first_increment, next_increment, min_seconds, "
        "grace_seconds, floor(extract(epoch FROM effective_from))::bigint, "
        "coalesce(floor(extract(epoch FROM effective_to))::bigint, "
        "9223372036854775807) FROM rates WHERE plan_id = $1", 1, params))
        return LOAD_ERROR;
    for (;;) {
        PGresult *res = db_query(x->conn, "fetch rates",
                                 "FETCH " "50000" " FROM apolo_rates", 0, NULL);
        if (res == NULL)
            return LOAD_ERROR;
        int n = PQntuples(res);
        for (int i = 0; i < n; i++) {
            deck_row_t row;
            int rc = load_rate_row(x, res, i, &row);
            if (rc == LOAD_OK)
                rc = deck_builder_row(b, &row);
            if (rc != LOAD_OK) {
                LOG_ERROR("load", 0, "plan %lld: rate id %s (prefix %s) "
                          "refused by the deck builder", (long long)p->in.id,
                          PQgetvalue(res, i, 1), PQgetvalue(res, i, 0));
                PQclear(res);
                return LOAD_ERROR;
            }
        }
        x->stats->rates += (uint64_t)n;
        PQclear(res);
        if (n < LOAD_FETCH)
            break;
    }
    return db_exec(x->conn, "close rates cursor", "CLOSE apolo_rates", 0, NULL);
}

static int load_deck(load_ctx_t *x, load_plan_t *p)
{
    deck_builder_t *b = deck_builder_new(p->in.id, p->in.deck_version);
    int rc = b ? load_zones(x, b) : LOAD_ERROR;
    if (rc == LOAD_OK)
        rc = load_rates(x, p, b);
    if (rc == LOAD_OK && (rc = deck_builder_finish(b)) != DECK_OK)
        LOG_ERROR("load", 0, "plan %lld: deck refused (%s)",
                  (long long)p->in.id, rc == DECK_EOVERLAP
                  ? "two rates of a prefix and period overlap in time"
                  : "invalid rows or out of memory");
    if (rc == LOAD_OK && pub_deck(x->pub, b, &p->deck_off) != PUB_OK)
        rc = LOAD_ERROR;
    p->in.deck_off = p->deck_off;
    deck_builder_free(b);
    return rc == LOAD_OK ? LOAD_OK : LOAD_ERROR;
}

typedef struct load_acct {
    int64_t  id, plan_id;
    money_t  balance, credit, low;
    uint8_t  type, status;
    uint32_t slot;
    int      is_new;
} load_acct_t;

static int load_acct_fields(PGresult *res, int i, load_acct_t *a)
{
    int64_t v[5];
    const char *type = PQgetvalue(res, i, 2), *status = PQgetvalue(res, i, 7);
    if (load_i64(res, i, 0, &v[0]) || load_row_i64(res, i, 3, 4, &v[1],
                                                   "accounts"))
        return LOAD_ERROR;
    a->id = v[0];
    a->balance = v[1];
    a->credit = v[2];
    a->plan_id = v[3];
    a->low = v[4];
    a->type = strcmp(type, "postpaid") == 0 ? ACCT_POSTPAID : ACCT_PREPAID;
    a->status = strcmp(status, "active") == 0 ? ACCT_ACTIVE
              : strcmp(status, "blocked") == 0 ? ACCT_BLOCKED : ACCT_CLOSED;
    return LOAD_OK;
}

/* Gives every account a slot; new ones are configured at once (nothing
 * names them yet), live ones after the catalog is published. */
static int load_accounts(load_ctx_t *x, cat_builder_t *cb, PGresult *res,
                         load_acct_t *accts)
{
    acct_shm_t *as = region_area(x->r, REGION_AREA_ACCOUNTS);
    const cat_hdr_t *cur = cat_current(x->r);
    for (int i = 0; i < PQntuples(res); i++) {
        load_acct_t *a = &accts[i];
        if (load_acct_fields(res, i, a) != LOAD_OK) {
            LOG_ERROR("load", 0, "accounts row %d is malformed", i);
            return LOAD_ERROR;
        }
        const cat_acct_t *known = cur ? cat_account(cur, a->id) : NULL;
        a->is_new = known == NULL;
        if (known != NULL)
            a->slot = known->slot;
        else if (acct_alloc_slot(as, &a->slot) != ACCT_OK) {
            LOG_ERROR("load", 0, "no free account slot for account %lld: "
                      "raise max_accounts", (long long)a->id);
            return LOAD_ERROR;
        }
        if ((a->is_new && acct_configure(as, a->slot, a->id, a->type,
                                         a->status, a->credit, a->low,
                                         a->plan_id, a->balance) != ACCT_OK)
            || cat_builder_account(cb, a->id, PQgetvalue(res, i, 1),
                                   a->slot) != CAT_OK) {
            LOG_ERROR("load", 0, "account %lld (%s) refused by the region",
                      (long long)a->id, PQgetvalue(res, i, 1));
            return LOAD_ERROR;
        }
    }
    x->stats->accounts = (uint32_t)PQntuples(res);
    return LOAD_OK;
}

static int load_acct_cmp(const void *a, const void *b)
{
    int64_t x = ((const load_acct_t *)a)->id, y = ((const load_acct_t *)b)->id;
    return (x > y) - (x < y);
}

/* accts is sorted by id (the query orders it). */
static int load_extensions(load_ctx_t *x, cat_builder_t *cb,
                           const load_acct_t *accts, int naccts)
{
    PGresult *res = db_query(x->conn, "load extensions",
        "SELECT e.number, e.id, e.account_id, e.active FROM extensions e",
        0, NULL);
    if (res == NULL)
        return LOAD_ERROR;
    int rc = LOAD_OK;
    for (int i = 0; rc == LOAD_OK && i < PQntuples(res); i++) {
        int64_t v[2];
        const load_acct_t *a = NULL;
        rc = load_row_i64(res, i, 1, 2, v, "extensions");
        if (rc == LOAD_OK) {
            load_acct_t key = { .id = v[1] };
            a = bsearch(&key, accts, (size_t)naccts, sizeof key,
                        load_acct_cmp);
        }
        if (rc == LOAD_OK && (a == NULL
            || cat_builder_extension(cb, PQgetvalue(res, i, 0), v[0],
                   a->slot, PQgetvalue(res, i, 3)[0] == 't') != CAT_OK)) {
            LOG_ERROR("load", 0, "extension %s refused by the region",
                      PQgetvalue(res, i, 0));
            rc = LOAD_ERROR;
        }
    }
    x->stats->extensions = (uint32_t)PQntuples(res);
    PQclear(res);
    return rc;
}

/* The FACs: account_id NULL or unknown to the region -> UINT32_MAX (the
 * caller's account pays; a FAC of a closed account is kept as such). */
static int load_facs(load_ctx_t *x, cat_builder_t *cb,
                     const load_acct_t *accts, int naccts)
{
    PGresult *res = db_query(x->conn, "load FACs",
        "SELECT id, name, coalesce(code_hash, ''), authorization_level, "
        "coalesce(account_id, 0), active FROM fac_codes", 0, NULL);
    if (res == NULL)
        return LOAD_ERROR;
    int rc = LOAD_OK;
    for (int i = 0; rc == LOAD_OK && i < PQntuples(res); i++) {
        load_acct_t key = { .id = strtoll(PQgetvalue(res, i, 4), NULL, 10) };
        const load_acct_t *a = key.id == 0 ? NULL
            : bsearch(&key, accts, (size_t)naccts, sizeof key, load_acct_cmp);
        if (cat_builder_fac(cb, strtoll(PQgetvalue(res, i, 0), NULL, 10),
                            PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                            (int32_t)atoi(PQgetvalue(res, i, 3)),
                            a != NULL ? a->slot : UINT32_MAX,
                            PQgetvalue(res, i, 5)[0] == 't') != CAT_OK) {
            LOG_ERROR("load", 0, "FAC %s refused by the region",
                      PQgetvalue(res, i, 0));
            rc = LOAD_ERROR;
        }
    }
    x->stats->facs = (uint32_t)PQntuples(res);
    PQclear(res);
    return rc;
}

/* Step 5: configuration changes of accounts that were already live. */
static void load_reconfigure(load_ctx_t *x, const load_acct_t *accts, int n)
{
    acct_shm_t *as = region_area(x->r, REGION_AREA_ACCOUNTS);
    for (int i = 0; i < n; i++) {
        const load_acct_t *a = &accts[i];
        if (!a->is_new
            && acct_configure(as, a->slot, a->id, a->type, a->status,
                              a->credit, a->low, a->plan_id, 0) != ACCT_OK)
            LOG_ERROR("load", 0, "account %lld: new configuration refused",
                      (long long)a->id);
    }
}

/* Steps 3 and 4: accounts, extensions, FACs, then the catalog. */
static int load_publish(load_ctx_t *x)
{
    const cat_hdr_t *cur = cat_current(x->r);
    cat_builder_t *cb = cat_builder_new(cur ? cur->version + 1 : 1);
    load_acct_t *accts = NULL;
    PGresult *res = db_query(x->conn, "load accounts",
        "SELECT id, code, type, balance, credit_limit, plan_id, "
        "coalesce(low_balance_threshold, 0), status FROM accounts "
        "ORDER BY id", 0, NULL);
    int rc = cb && res ? LOAD_OK : LOAD_ERROR;
    int n = res ? PQntuples(res) : 0;
    if (rc == LOAD_OK && (accts = calloc((size_t)n + 1, sizeof *accts)) == NULL)
        rc = LOAD_ERROR;
    for (uint32_t i = 0; rc == LOAD_OK && i < x->nplans; i++)
        if (cat_builder_plan(cb, &x->plans[i].in) != CAT_OK) {
            LOG_ERROR("load", 0, "plan %lld (%s) refused: check its time zone "
                      "and number rules", (long long)x->plans[i].in.id,
                      x->plans[i].name);
            rc = LOAD_ERROR;
        }
    if (rc == LOAD_OK)
        rc = load_accounts(x, cb, res, accts);
    if (rc == LOAD_OK)
        rc = load_extensions(x, cb, accts, n);
    if (rc == LOAD_OK)
        rc = load_facs(x, cb, accts, n);
    uint64_t old_decks[x->nplans + 1];
    uint32_t nold = 0;
    for (uint32_t i = 0; cur != NULL && i < cur->nplans; i++) {
        const cat_plan_t *p = (const cat_plan_t *)((const uint8_t *)cur
                                                   + cur->plans_off) + i;
        if (p->deck_off != 0 && nold < x->nplans + 1)
            old_decks[nold++] = p->deck_off;
    }
    if (rc == LOAD_OK && pub_catalog(x->pub, cb) != PUB_OK)
        rc = LOAD_ERROR;
    if (rc == LOAD_OK) {
        for (uint32_t i = 0; i < nold; i++)
            pub_retire(x->pub, old_decks[i]);
        load_reconfigure(x, accts, n);
        x->stats->catalog_version = cat_current(x->r)->version;
    }
    free(accts);
    PQclear(res);
    cat_builder_free(cb);
    return rc;
}

static void load_free(load_ctx_t *x, int failed)
{
    for (uint32_t i = 0; i < x->nplans; i++) {
        load_plan_t *p = &x->plans[i];
        if (failed && p->deck_off != 0)
            pub_retire(x->pub, p->deck_off);   /* never published */
        free(p->name);
        free(p->currency);
        free(p->tz);
        free(p->rules);
    }
    free(x->plans);
    free(x->periods);
    PQclear(x->zones);
}

int load_all(PGconn *conn, region_t *r, pub_t *pub, load_stats_t *stats)
{
    load_ctx_t x = { .conn = conn, .r = r, .pub = pub, .stats = stats };
    memset(stats, 0, sizeof *stats);
    if (db_exec(conn, "begin load", "BEGIN ISOLATION LEVEL REPEATABLE READ "
                "READ ONLY", 0, NULL) != DB_OK)
        return LOAD_ERROR;
    int rc = load_plans(&x);
    if (rc == LOAD_OK)
        rc = load_periods(&x);
    if (rc == LOAD_OK)
        rc = load_windows(&x);
    if (rc == LOAD_OK && (x.zones = db_query(conn, "load zones",
            "SELECT id, name, min_authorization_level FROM zones", 0,
            NULL)) == NULL)
        rc = LOAD_ERROR;
    for (uint32_t i = 0; rc == LOAD_OK && i < x.nplans; i++)
        rc = load_deck(&x, &x.plans[i]);
    if (rc == LOAD_OK)
        rc = load_publish(&x);
    stats->plans = x.nplans;
    db_exec(conn, "end load", rc == LOAD_OK ? "COMMIT" : "ROLLBACK", 0, NULL);
    load_free(&x, rc != LOAD_OK);
    if (rc == LOAD_OK)
        LOG_INFO("load", "catalog %llu published: %u plans, %llu rates, "
                 "%u accounts, %u extensions, %u FACs",
                 (unsigned long long)stats->catalog_version, stats->plans,
                 (unsigned long long)stats->rates, stats->accounts,
                 stats->extensions, stats->facs);
    return rc;
}

/* ---- the CUCM calls billed ------------------------------------------------- */

/* One COPY line "call_id<TAB>epoch": the ids are CUCM's (cucm_cdr.h),
 * which COPY never escapes. */
static int load_seen_line(seen_shm_t *s, const char *line, int len,
                          int64_t horizon_s)
{
    const char *tab = memchr(line, '\t', (size_t)len);
    char *end;
    if (tab == NULL)
        return 0;
    long long start = strtoll(tab + 1, &end, 10);
    seen_key_t k;
    seen_key(line, (size_t)(tab - line), &k);
    return seen_load(s, &k, start, horizon_s);
}

int load_seen(PGconn *conn, seen_shm_t *s, int64_t horizon_s, uint64_t *n)
{
    char sql[256];
    char *buf;
    int len, rc = LOAD_OK;

    *n = 0;
    snprintf(sql, sizeof sql, "COPY (SELECT call_id, extract(epoch FROM "
             "start_at)::bigint FROM cdr_ids WHERE source = 'cucm' AND "
             "start_at >= to_timestamp(%lld)) TO STDOUT",
             (long long)horizon_s);
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COPY_OUT) {
        LOG_ERROR("load", 0, "CUCM calls billed: %s", PQerrorMessage(conn));
        PQclear(r);
        return LOAD_ERROR;
    }
    PQclear(r);
    while ((len = PQgetCopyData(conn, &buf, 0)) > 0) {
        if (rc == LOAD_OK && load_seen_line(s, buf, len, horizon_s) != 0) {
            LOG_ERROR("load", 0, "cucm.dedupe_entries is too small for the "
                      "CUCM calls of cucm.dedupe_days (%llu loaded)",
                      (unsigned long long)*n);
            rc = LOAD_ERROR;
        }
        (*n)++;
        PQfreemem(buf);
    }
    while ((r = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == LOAD_OK) {
            LOG_ERROR("load", 0, "CUCM calls billed: %s",
                      PQerrorMessage(conn));
            rc = LOAD_ERROR;
        }
        PQclear(r);
    }
    return len == -2 ? LOAD_ERROR : rc;
}
