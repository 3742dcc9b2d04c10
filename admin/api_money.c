/*
 * api_money.c -- recharges, adjustments and refunds through the API,
 * exactly once, and an account's ledger (see admin/README.md).
 *
 *   POST /api/v1/accounts/{id}/recharges    amount > 0, reason optional
 *   POST /api/v1/accounts/{id}/adjustments  amount != 0, reason required
 *   POST /api/v1/accounts/{id}/refunds      amount > 0, reason required,
 *                                           call_id optional
 *   GET  /api/v1/ledger?account=<id>[&before=<ledger id>][&limit=]
 *
 * The money moves in the region and the journal together (jrn_move); the
 * journal record's reference is the request's Idempotency-Key, which is
 * what makes the movement findable after a crash. One request on a key:
 *
 *   catalog: account -> slot (QSBR online), then offline
 *   pg_try_advisory_lock(hashtextextended(key, 0))   busy 5 s -> 409
 *   SELECT the key's row
 *     done, same request      -> 200 the stored response, replayed
 *     other request           -> 422
 *     pending, same request   -> abandoned (its session, and its lock, are
 *                                gone): look for the reference in the
 *                                journal, then ledger, then journal_rejects;
 *                                found -> done, 200 replayed; else move
 *     none                    -> INSERT pending (committed)
 *   jrn_move                  (refused: the claim is deleted, nothing moved)
 *   UPDATE done + response, audit_log            -> 201
 *   pg_advisory_unlock
 *
 * Why a session advisory lock rather than the claimer's pid: a lock dies
 * with the session that holds it, so "somebody is working on this key" is
 * exact. A pid is not: a restarted admin process may get the dead one's
 * pid back, and a request of this very process that failed after its
 * claim (PostgreSQL lost while marking done) would leave its key "ours"
 * and answer 409 for ever. owner_pid is kept as information only.
 *
 * Order of the recovery search: journal first, then PostgreSQL. The flusher
 * commits a record's ledger row (or its journal_rejects row) before it
 * releases the slot, so a record gone from the journal when the scan
 * passes is already committed when the SELECT runs; the other order could
 * miss a record drained between the two looks.
 *
 * Each civetweb thread appends with its own journal writer (one ring),
 * opened by its first movement and closed by a pthread key destructor when
 * the thread ends: journal.rings must cover admin.threads plus the workers.
 * The writer, the key lock and the statement helpers are shared with
 * api_ingest.c (money_common.h): one ring per thread whatever it posts.
 * Everything between the lock and the unlock above is money_apply_locked
 * (money_common.c), which answers with a result code and no HTTP: this
 * file parses the request, takes the lock and turns the code into the
 * response; api_bulk.c runs the same core for every row of a batch.
 *
 * NOTES
 * - APOLO_TEST_CRASH_MONEY=after_claim|after_move (money_common.c) makes
 *   the core _exit(137) right after the claim is committed or right after
 *   the money moved: the tests' way to prove exactly-once across a crash.
 * - The journal's actor holds at most JREC_ACTOR_MAX (32) bytes: a longer
 *   user name is cut at a character boundary there (audit_log keeps it
 *   whole).
 * - A record that is still PENDING during the search belongs to a process
 *   the supervisor is recovering: 409, retry.
 */
#include "admin/api.h"

#include "admin/http.h"
#include "admin/money_common.h"
#include "shm/account.h"
#include "shm/catalog.h"
#include "shm/journal.h"
#include "shm/jrec.h"
#include "shm/log.h"
#include "shm/money.h"

#include <civetweb.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MONEY_LEDGER_LIMIT  50
#define MONEY_LEDGER_MAX    500

typedef struct money_kind {
    const char *path;       /* subpath after "{id}/" */
    const char *name;       /* ledger.kind, idempotency_keys.kind */
    jrn_kind_t  jkind;
    int         sign;       /* 1: > 0, 0: != 0 */
    int         need_reason;
    int         call_id;    /* accepts call_id */
} money_kind_t;

static const money_kind_t money_kinds[] = {
    { "recharges", "recharge", JRN_RECHARGE, 1, 0, 0 },
    { "adjustments", "adjustment", JRN_ADJUSTMENT, 0, 1, 0 },
    { "refunds", "refund", JRN_REFUND, 1, 1, 1 },
};

/* ---- helpers ------------------------------------------------------------ */

/* "/api/v1/accounts/" subpath "<id>/<what>": the id (> 0) and what, or 0. */
static int64_t money_path(const http_req_t *r, const char **what)
{
    const char *s = r->subpath, *slash = strchr(s, '/');
    if (slash == NULL || slash == s || slash - s > 18)
        return 0;
    int64_t id = 0;
    for (const char *p = s; p < slash; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        id = id * 10 + (*p - '0');
    }
    *what = slash + 1;
    return id;
}

/* The key: 1..64 of [A-Za-z0-9_.:-]. */
static int money_key_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MONEY_KEY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':'
              || c == '-'))
            return 0;
    }
    return 1;
}

/* At most MONEY_DECIMALS digits after the point (money_parse would also
 * accept trailing zeros beyond them). */
static int money_decimals_ok(const char *s)
{
    const char *dot = strchr(s, '.');
    return dot == NULL || strlen(dot + 1) <= MONEY_DECIMALS;
}

/* Answers a stored or recovered response as a replay (body stolen). */
static int money_replay(http_req_t *r, json_t *body)
{
    http_header(r, "Idempotent-Replayed", "true");
    return http_json(r, 200, body);
}

/* The core's result as the HTTP response. */
static int money_answer(http_req_t *r, const money_req_t *q, int rc,
                        money_done_t *d)
{
    switch (rc) {
    case MONEY_R_MOVED:
        return http_json(r, 201, d->body);
    case MONEY_R_REPLAYED:
    case MONEY_R_RECOVERED:
        return money_replay(r, d->body);
    case MONEY_R_EREUSED:
        return http_error(r, 422, "validation", "idempotency key reused for "
                          "another request");
    case MONEY_R_EINPROGRESS:
        return http_error(r, 409, "conflict", "idempotency key in "
                          "progress; retry");
    case MONEY_R_ERECOVERING:
        return http_error(r, 409, "conflict", "the movement is being "
                          "recovered; retry");
    case MONEY_R_ECLOSED:
        return http_error(r, 422, "validation", "account %" PRId64
                          " is closed", q->acct_id);
    case MONEY_R_ENORING:
        return http_error(r, 503, "unavailable", "no journal ring for "
                          "this thread");
    case MONEY_R_EFULL:
        return http_error(r, 503, "unavailable", "the journal is full; "
                          "retry");
    case MONEY_R_EACCTBUSY:
        return http_error(r, 409, "conflict", "the account is busy; "
                          "retry");
    case MONEY_R_ERANGE:
        return http_error(r, 422, "validation", "the balance would leave "
                          "its bounds");
    default:
        if (PQstatus(r->db) != CONNECTION_OK)
            return http_unavailable(r);
        return http_error(r, 500, "internal", "%s failed",
                          d->what != NULL ? d->what : "the movement");
    }
}

/* Validates the body into q: 0, or the status answered. */
static int money_parse_body(http_req_t *r, const money_kind_t *k,
                            money_req_t *q)
{
    json_t *body;
    money_t m;
    if (http_read_json(r, 0, &body) != 0)
        return r->status;
    json_t *ja = json_object_get(body, "amount");
    json_t *jr = json_object_get(body, "reason");
    json_t *jc = json_object_get(body, "call_id");
    int bad = 0;
    if (!json_is_string(ja) || (jr != NULL && !json_is_string(jr))
        || (jc != NULL && !json_is_string(jc)))
        bad = http_error(r, 400, "validation", "amount is a decimal string "
                         "(\"10.50\"); reason and call_id are strings");
    else if (jc != NULL && !k->call_id)
        bad = http_error(r, 422, "validation", "call_id: only for refunds");
    else if (!money_decimals_ok(json_string_value(ja))
             || http_money(ja, &m) != 0)
        bad = http_error(r, 422, "validation", "amount: a decimal with at "
                         "most %d decimals", MONEY_DECIMALS);
    else if (m > MONEY_AMOUNT_MAX || m < -MONEY_AMOUNT_MAX)
        bad = http_error(r, 422, "validation", "amount: out of bounds");
    else if (k->sign ? m <= 0 : m == 0)
        bad = http_error(r, 422, "validation", "amount: must be %s",
                         k->sign ? "> 0" : "!= 0");
    else if (jr != NULL && (json_string_length(jr) > JREC_REASON_MAX
             || strlen(json_string_value(jr)) != json_string_length(jr)))
        bad = http_error(r, 422, "validation", "reason: at most %d bytes",
                         JREC_REASON_MAX);
    else if (k->need_reason && (jr == NULL || json_string_length(jr) == 0))
        bad = http_error(r, 422, "validation", "reason is required");
    else if (jc != NULL && (json_string_length(jc) == 0
             || json_string_length(jc) > JREC_CALL_ID_MAX
             || strlen(json_string_value(jc)) != json_string_length(jc)))
        bad = http_error(r, 422, "validation", "call_id: 1 to %d bytes",
                         JREC_CALL_ID_MAX);
    if (!bad) {
        q->amount = m;
        snprintf(q->reason, sizeof q->reason, "%s",
                 jr != NULL ? json_string_value(jr) : "");
        snprintf(q->call_id, sizeof q->call_id, "%s",
                 jc != NULL ? json_string_value(jc) : "");
    }
    json_decref(body);
    return bad;
}

static int money_post(http_req_t *r)
{
    money_req_t q;
    const money_kind_t *k = NULL;
    const char *what = NULL;

    memset(&q, 0, sizeof q);
    q.acct_id = money_path(r, &what);
    for (size_t i = 0; q.acct_id > 0
         && i < sizeof money_kinds / sizeof money_kinds[0]; i++)
        if (strcmp(what, money_kinds[i].path) == 0)
            k = &money_kinds[i];
    if (k == NULL)
        return http_error(r, 404, "not_found", "no such path");
    q.kind = k->name;
    q.jkind = k->jkind;
    const char *key = mg_get_header(r->conn, "Idempotency-Key");
    if (key == NULL || !money_key_ok(key))
        return http_error(r, 400, "validation", "header Idempotency-Key: 1 "
                          "to 64 of A-Z a-z 0-9 _ . : - is required");
    snprintf(q.key, sizeof q.key, "%s", key);
    snprintf(q.actor, sizeof q.actor, "%s", r->user);
    if (money_parse_body(r, k, &q) != 0)
        return r->status;

    /* the catalog, while online; the slot is never reused afterwards */
    const cat_hdr_t *c = r->rd != NULL ? cat_current(r->ctx->region) : NULL;
    const cat_acct_t *ca = c != NULL ? cat_account(c, q.acct_id) : NULL;
    if (ca != NULL)
        q.slot = ca->slot;
    if (r->rd != NULL)
        qsbr_offline(r->rd);
    if (ca == NULL)
        return http_error(r, 404, "not_found", "no account %" PRId64,
                          q.acct_id);
    const acct_shm_t *a = region_area(r->ctx->region, REGION_AREA_ACCOUNTS);
    if (__atomic_load_n(&a->slots[q.slot].status, __ATOMIC_RELAXED)
        == ACCT_CLOSED)
        return http_error(r, 422, "validation", "account %" PRId64
                          " is closed", q.acct_id);
    if (r->db == NULL)
        return http_unavailable(r);

    money_req_hash(&q);
    int locked = money_lock(r, q.key);
    if (locked < 0)
        return http_db_fail(r, NULL, "key lock");
    if (locked == 0)
        return http_error(r, 409, "conflict", "idempotency key in progress; "
                          "retry");
    money_done_t d;
    int rc = money_apply_locked(r, &q, &d);
    rc = money_answer(r, &q, rc, &d);
    money_unlock(r, q.key);
    return rc;
}

/* ---- the ledger ----------------------------------------------------------------- */

static int money_ledger(http_req_t *r)
{
    char before[24], limit[24], ids[24];
    int64_t id = 0;
    if (http_query(r, "account", ids, sizeof ids) != NULL) {
        char *e;
        errno = 0;
        id = strtoll(ids, &e, 10);
        if (errno != 0 || e == ids || *e != '\0' || id <= 0)
            id = 0;
    }
    if (id <= 0)
        return http_error(r, 422, "validation", "account: an account id");
    if (r->rd != NULL)
        qsbr_offline(r->rd);            /* PostgreSQL only */
    if (r->db == NULL)
        return http_unavailable(r);

    long long lim = MONEY_LEDGER_LIMIT, bef = 0;
    char *end;
    if (http_query(r, "limit", limit, sizeof limit) != NULL) {
        errno = 0;
        lim = strtoll(limit, &end, 10);
        if (errno != 0 || end == limit || *end != '\0' || lim < 1
            || lim > MONEY_LEDGER_MAX)
            return http_error(r, 422, "validation", "limit: 1 to %d",
                              MONEY_LEDGER_MAX);
    }
    if (http_query(r, "before", before, sizeof before) != NULL) {
        errno = 0;
        bef = strtoll(before, &end, 10);
        if (errno != 0 || end == before || *end != '\0' || bef < 1)
            return http_error(r, 422, "validation", "before: a ledger id");
    }
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(limit, sizeof limit, "%lld", lim);
    snprintf(before, sizeof before, "%lld", bef);

    const char *p1[1] = { ids };
    PGresult *res = http_exec(r, "SELECT 1 FROM accounts WHERE id = $1",
                               1, p1);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "account lookup");
    int known = PQntuples(res) == 1;
    PQclear(res);
    if (!known)
        return http_error(r, 404, "not_found", "no account %" PRId64, id);

    const char *p[3] = { ids, bef > 0 ? before : NULL, limit };
    res = http_exec(r,
        "SELECT id, kind, amount, balance_after, reference, extension, "
        "journal, journal_seq, to_char(at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), actor, reason FROM ledger "
        "WHERE account_id = $1 AND ($2::bigint IS NULL OR id < $2) "
        "ORDER BY id DESC LIMIT $3", 3, p);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "ledger list");
    json_t *arr = json_array();
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        json_t *e = json_pack("{s:I,s:s,s:o,s:o,s:s}",
            "id", (json_int_t)strtoll(PQgetvalue(res, i, 0), NULL, 10),
            "kind", PQgetvalue(res, i, 1),
            "amount", money_amount_json(strtoll(PQgetvalue(res, i, 2),
                                                NULL, 10)),
            "balance_after", money_amount_json(strtoll(PQgetvalue(res, i, 3),
                                                       NULL, 10)),
            "at", PQgetvalue(res, i, 8));
        static const struct { int col; const char *name; } opt[] = {
            { 4, "reference" }, { 5, "extension" }, { 6, "journal" },
            { 9, "actor" }, { 10, "reason" } };
        for (size_t o = 0; o < sizeof opt / sizeof opt[0]; o++)
            json_object_set_new(e, opt[o].name,
                                PQgetisnull(res, i, opt[o].col) ? json_null()
                                : json_string(PQgetvalue(res, i,
                                                         opt[o].col)));
        json_object_set_new(e, "journal_seq", PQgetisnull(res, i, 7)
                            ? json_null()
                            : json_integer(strtoll(PQgetvalue(res, i, 7),
                                                   NULL, 10)));
        json_array_append_new(arr, e);
    }
    json_t *next = n == lim ? json_integer(strtoll(PQgetvalue(res, n - 1, 0),
                                                   NULL, 10))
                            : json_null();
    PQclear(res);
    return http_json(r, 200, json_pack("{s:I,s:o,s:o}", "account_id",
                                       (json_int_t)id, "entries", arr,
                                       "next_before", next));
}

const http_route_t api_money_routes[] = {
    { "POST", "/api/v1/accounts/", HTTP_ROLE_OPERATOR, money_post },
    /* /api/v1/accounts/{id}/ledger is shadowed by api_accounts.c's GET
     * prefix (http.c routes on the prefix, then the first table): */
    { "GET", "/api/v1/ledger", HTTP_ROLE_VIEWER, money_ledger },
    { NULL, NULL, HTTP_ROLE_NONE, NULL }
};
