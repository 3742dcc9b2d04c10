/*
 * alert_detect.c -- the detector thread of the notifications (alert.h):
 * live balances against low-balance thresholds, edge triggered.
 *
 * Every alert.poll_ms:
 *
 *   qsbr_online
 *     catalog -> every account (id, code, slot, plan currency)
 *     slot    -> headroom (what it can spend), balance, credit limit,
 *                threshold, status
 *     compare with the account's entry (level, funds, threshold): the
 *     changes are copied out, nothing else is written
 *   qsbr_offline
 *   BEGIN; per change: alert_enqueue (if an event fires) + UPSERT
 *   alert_state; COMMIT; then the entries take the new state
 *
 * Levels: 0 above the threshold, 1 below it (low_balance), 2 nothing left
 * (headroom <= 0: balance_exhausted). An event fires when the level goes
 * up; a jump from 0 to 2 sends only balance_exhausted. The level comes
 * down (re-armed) only when the account's funds (balance + credit limit,
 * reservations not counted) have risen above the least seen since the last
 * change (money came in), or the threshold was changed.
 *
 * NOTES
 * - Why funds and not the headroom for re-arming: a call's reservation
 *   lowers the headroom and its release raises it again. Re-arming on the
 *   headroom would fire again at every call of an account hovering at its
 *   threshold; calls only ever lower the funds, credits raise them.
 * - An account first seen (no alert_state row: a new account, or this
 *   feature just deployed) gets its level recorded without an event: a new
 *   account opens at 0, and a burst of mails at deployment helps nobody.
 *   It fires after it has once been seen above its threshold.
 * - Events and state commit in one transaction: a restart neither resends
 *   nor loses an event (the outbox row is the promise to send it). A failed
 *   transaction changes no entry; the next scan finds the same changes.
 * - Watched: accounts of the catalog with a threshold > 0 that are not
 *   closed (blocked accounts can still be recharged, so they are watched).
 * - The entries are indexed by slot: slots are handed out in order and
 *   never reused, so the array is as long as the accounts ever loaded.
 */
#include "admin/alert_int.h"

#include "admin/money_common.h"
#include "shm/account.h"
#include "shm/catalog.h"
#include "shm/log.h"
#include "shm/qsbr.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DET_MAX_CHANGES 1000     /* per scan and transaction; the rest next */
#define DET_BACKOFF_MAX_MS 60000 /* longest pause after failures */

typedef struct det_change {
    alert_edge_t next;           /* the entry once committed */
    uint32_t     slot;
    int          fire;           /* 0, ALERT_LVL_LOW, ALERT_LVL_EMPTY */
    money_t      balance, available;
    char         code[CAT_KEY];
    char         currency[4];
} det_change_t;

typedef struct det {
    alert_t       *a;
    PGconn        *db;
    int            down;
    qsbr_reader_t  rd;
    alert_edge_t  *e;            /* by slot */
    uint32_t       ne;
    alert_edge_t  *saved;        /* alert_state rows by id, loaded at
                                    (re)connection, until every entry used
                                    them */
    size_t         nsaved;
    det_change_t   ch[DET_MAX_CHANGES];
    size_t         nch;
} det_t;

/* ---- the state in PostgreSQL ------------------------------------------- */

static void det_disconnect(det_t *d)
{
    PQfinish(d->db);
    d->db = NULL;
    free(d->saved);
    d->saved = NULL;
    d->nsaved = 0;
}

/* Connects and loads alert_state; every entry is re-read from it at the
 * next scan. 0, or -1 (logged; the caller retries at the next period). */
static int det_connect(det_t *d)
{
    d->db = alert_connect("apolo-alert-detector", &d->down);
    if (d->db == NULL)
        return -1;
    PGresult *res = PQexec(d->db, "SELECT account_id, level, low_funds, "
                           "threshold FROM alert_state ORDER BY account_id");
    size_t n = PQresultStatus(res) == PGRES_TUPLES_OK
               ? (size_t)PQntuples(res) : 0;
    d->saved = PQresultStatus(res) == PGRES_TUPLES_OK
               ? calloc(n + 1, sizeof *d->saved) : NULL;
    if (d->saved == NULL) {
        LOG_ERROR("alert", 0, "loading alert_state: %s",
                  PQresultStatus(res) == PGRES_TUPLES_OK ? "out of memory"
                  : PQerrorMessage(d->db));
        PQclear(res);
        det_disconnect(d);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        alert_edge_t *s = &d->saved[i];
        s->id = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
        s->level = atoi(PQgetvalue(res, (int)i, 1));
        s->low_funds = strtoll(PQgetvalue(res, (int)i, 2), NULL, 10);
        s->threshold = strtoll(PQgetvalue(res, (int)i, 3), NULL, 10);
    }
    d->nsaved = n;
    PQclear(res);
    for (uint32_t i = 0; i < d->ne; i++)
        d->e[i].id = 0;
    return 0;
}

static int det_saved_cmp(const void *k, const void *s)
{
    int64_t a = *(const int64_t *)k, b = ((const alert_edge_t *)s)->id;
    return (a > b) - (a < b);
}

/* The entry of slot for account id, (re)initialised from alert_state when
 * it was about nobody yet. NULL when the array cannot grow. */
static alert_edge_t *det_entry(det_t *d, uint32_t slot, int64_t id)
{
    if (slot >= d->ne) {
        uint32_t n = slot + 1 > d->ne * 2 ? slot + 1 : d->ne * 2;
        alert_edge_t *e = realloc(d->e, (size_t)n * sizeof *e);
        if (e == NULL)
            return NULL;
        memset(e + d->ne, 0, (size_t)(n - d->ne) * sizeof *e);
        d->e = e;
        d->ne = n;
    }
    alert_edge_t *e = &d->e[slot];
    if (e->id == id)
        return e;
    const alert_edge_t *s = d->saved == NULL ? NULL
        : bsearch(&id, d->saved, d->nsaved, sizeof *s, det_saved_cmp);
    *e = s != NULL ? *s : (alert_edge_t){ id, 0, 0, -1 };
    return e;
}

/* ---- the decision ------------------------------------------------------ */

int alert_level(money_t available, money_t threshold)
{
    if (available <= 0)
        return ALERT_LVL_EMPTY;
    return available < threshold ? ALERT_LVL_LOW : ALERT_LVL_OK;
}

int alert_decide(const alert_edge_t *e, int now, money_t funds,
                 money_t threshold, int *fire)
{
    *fire = 0;
    if (e->level < 0)
        return 1;                        /* first sight: recorded, silent */
    if (now > e->level) {
        *fire = now;
        return 1;
    }
    if (threshold != e->threshold)
        return 1;
    return now < e->level && funds > e->low_funds;   /* money came in */
}

/* Looks at one account of catalog c; a change is queued in d->ch. */
static void det_account(det_t *d, const cat_hdr_t *c, const cat_acct_t *ca)
{
    const acct_shm_t *as = region_area(d->a->ctx->region,
                                       REGION_AREA_ACCOUNTS);
    acct_view_t v;
    if (acct_view(as, ca->slot, &v) != ACCT_OK || v.id != ca->id
        || v.status == ACCT_CLOSED || v.low_balance <= 0)
        return;
    alert_edge_t *e = det_entry(d, ca->slot, ca->id);
    if (e == NULL)
        return;
    money_t funds = v.balance + v.credit_limit;    /* both within 2^62 */
    int fire, now = alert_level(v.headroom, v.low_balance);
    if (!alert_decide(e, now, funds, v.low_balance, &fire)) {
        if (funds < e->low_funds)
            e->low_funds = funds;                   /* memory only */
        return;
    }
    det_change_t *x = &d->ch[d->nch++];
    x->next = (alert_edge_t){ ca->id, funds, v.low_balance, now };
    x->slot = ca->slot;
    x->fire = fire;
    x->balance = v.balance;
    x->available = v.headroom;
    snprintf(x->code, sizeof x->code, "%.*s", CAT_KEY - 1, ca->code);
    const cat_plan_t *p = cat_plan(c, v.plan_id);
    snprintf(x->currency, sizeof x->currency, "%s", p ? p->currency : "");
}

/* One pass over the catalog, online only inside. */
static void det_scan(det_t *d)
{
    int whole = 0;
    d->nch = 0;
    qsbr_online(&d->rd);
    const cat_hdr_t *c = cat_current(d->a->ctx->region);
    if (c != NULL) {
        const cat_acct_t *accts = (const cat_acct_t *)((const uint8_t *)c
                                                       + c->accts_off);
        uint32_t i = 0;
        for (; i < c->naccts && d->nch < DET_MAX_CHANGES; i++)
            det_account(d, c, &accts[i]);
        whole = i == c->naccts;
    }
    qsbr_offline(&d->rd);
    if (whole && d->saved != NULL) {      /* every entry has been seeded */
        free(d->saved);
        d->saved = NULL;
        d->nsaved = 0;
    }
}

/* ---- committing the changes -------------------------------------------- */

static const char *det_kind(int level)
{
    return level == ALERT_LVL_EMPTY ? "balance_exhausted" : "low_balance";
}

static void det_now_iso(char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The event's payload (the account's name from PostgreSQL). NULL on a
 * failed query (logged). */
static json_t *det_payload(det_t *d, const det_change_t *x)
{
    char id[24], at[32];
    snprintf(id, sizeof id, "%" PRId64, x->next.id);
    const char *p[1] = { id };
    PGresult *res = PQexecParams(d->db, "SELECT name FROM accounts "
                                 "WHERE id = $1", 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        LOG_ERROR("alert", 0, "account %s name: %s", id,
                  PQerrorMessage(d->db));
        PQclear(res);
        return NULL;
    }
    json_t *name = PQntuples(res) == 1 ? json_string(PQgetvalue(res, 0, 0))
                                       : json_null();
    PQclear(res);
    det_now_iso(at, sizeof at);
    return json_pack("{s:s,s:{s:I,s:s,s:o},s:o,s:o,s:o,s:s,s:s}",
        "kind", det_kind(x->fire),
        "account", "id", (json_int_t)x->next.id, "code", x->code,
        "name", name,
        "balance", money_amount_json(x->balance),
        "available", money_amount_json(x->available),
        "threshold", money_amount_json(x->next.threshold),
        "currency", x->currency, "at", at);
}

#define DET_UPSERT_SQL \
    "INSERT INTO alert_state (account_id, level, low_funds, threshold) " \
    "VALUES ($1, $2, $3, $4) ON CONFLICT (account_id) DO UPDATE SET " \
    "level = EXCLUDED.level, low_funds = EXCLUDED.low_funds, " \
    "threshold = EXCLUDED.threshold, updated_at = now()"

/* One change inside the open transaction: 0, or -1 (logged). */
static int det_write(det_t *d, const det_change_t *x)
{
    if (x->fire) {
        json_t *payload = det_payload(d, x);
        int n = payload != NULL ? alert_enqueue(d->db, det_kind(x->fire),
                                                x->next.id, payload) : -1;
        json_decref(payload);
        if (n < 0)
            return -1;
    }
    char id[24], lvl[8], funds[24], thr[24];
    snprintf(id, sizeof id, "%" PRId64, x->next.id);
    snprintf(lvl, sizeof lvl, "%d", x->next.level);
    snprintf(funds, sizeof funds, "%" PRId64, x->next.low_funds);
    snprintf(thr, sizeof thr, "%" PRId64, x->next.threshold);
    const char *p[4] = { id, lvl, funds, thr };
    return alert_run(d->db, "alert_state upsert", DET_UPSERT_SQL, 4, p);
}

static void det_log_fired(const det_change_t *x)
{
    char avail[MONEY_STRLEN], thr[MONEY_STRLEN];
    money_format(x->available, avail);
    money_format(x->next.threshold, thr);
    LOG_INFO("alert", "%s: account %" PRId64 " (%s) available %s %s, "
             "threshold %s", det_kind(x->fire), x->next.id, x->code, avail,
             x->currency, thr);
}

/* Commits d->ch; on success the entries take their new state. 0, or -1
 * (logged, rolled back). */
static int det_commit(det_t *d)
{
    if (d->nch == 0)
        return 0;
    int ok = alert_run(d->db, "BEGIN", "BEGIN", 0, NULL) == 0;
    for (size_t i = 0; ok && i < d->nch; i++)
        ok = det_write(d, &d->ch[i]) == 0;
    if (ok)
        ok = alert_run(d->db, "COMMIT", "COMMIT", 0, NULL) == 0;
    if (!ok) {           /* nothing changed: the next scan tries again */
        if (PQstatus(d->db) != CONNECTION_OK)
            det_disconnect(d);
        else
            PQclear(PQexec(d->db, "ROLLBACK"));
        return -1;
    }
    int fired = 0;
    for (size_t i = 0; i < d->nch; i++) {
        const det_change_t *x = &d->ch[i];
        if (x->slot < d->ne && d->e[x->slot].id == x->next.id)
            d->e[x->slot] = x->next;
        if (x->fire) {
            det_log_fired(x);
            fired = 1;
        }
    }
    if (fired)
        alert_kick();
    return 0;
}

/* ---- the thread ---------------------------------------------------------- */

void *alert_detector_main(void *arg)
{
    det_t *d = calloc(1, sizeof *d);
    alert_t *a = arg;
    if (d == NULL) {
        LOG_ERROR("alert", 0, "out of memory: no low-balance detection");
        return NULL;
    }
    d->a = a;
    if (qsbr_register(region_area(a->ctx->region, REGION_AREA_QSBR), &d->rd)
        != QSBR_OK) {
        LOG_ERROR("alert", 0, "no free QSBR slot for the detector (raise "
                  "region.max_readers): no low-balance detection");
        free(d);
        return NULL;
    }
    int64_t poll = alert_cfg()->poll_ms, wait = poll;
    while (!alert_stopping()) {
        if (d->db != NULL && PQstatus(d->db) != CONNECTION_OK)
            det_disconnect(d);
        int failed = 1;
        if (d->db != NULL || det_connect(d) == 0) {
            det_scan(d);
            failed = det_commit(d) != 0;
        }
        /* a failing PostgreSQL is retried less and less often (and logged
         * less): up to DET_BACKOFF_MAX_MS */
        wait = !failed ? poll : wait * 2 < DET_BACKOFF_MAX_MS ? wait * 2
             : poll > DET_BACKOFF_MAX_MS ? poll : DET_BACKOFF_MAX_MS;
        alert_wait(wait, NULL);
    }
    qsbr_unregister(&d->rd);
    det_disconnect(d);
    free(d->e);
    free(d);
    return NULL;
}
