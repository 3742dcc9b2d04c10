/*
 * api_accounts.c -- accounts and extensions of the HTTP API.
 *
 *   GET    /api/v1/accounts[?q=&type=&status=&plan_id=&after=&limit=]  viewer
 *   GET    /api/v1/accounts/{id}              viewer: with its extensions
 *   POST   /api/v1/accounts                   operator
 *   PATCH  /api/v1/accounts/{id}              operator
 *   DELETE /api/v1/accounts/{id}              operator: status closed
 *   GET    /api/v1/extensions[?account_id=&q=&after=&limit=]            viewer
 *   GET    /api/v1/extensions/{id}            viewer
 *   POST   /api/v1/extensions                 operator
 *   PATCH  /api/v1/extensions/{id}            operator
 *   DELETE /api/v1/extensions/{id}            operator: active false
 *   PUT    /api/v1/extensions/{id}/pin        operator
 *   POST   /api/v1/extensions/{id}/pin/verify operator
 *
 * A change is one transaction: validate, write, audit (http_audit, same
 * transaction), COMMIT; any failure rolls back. PostgreSQL is the source of
 * truth: after the COMMIT the handler asks the supervisor to republish the
 * region (admin_reload) so that the workers and the answer's "live" block
 * see the change. A failed reload does not undo the committed change: the
 * answer is still 2xx, with "live": null and a "warning"; the next reload
 * (SIGHUP, `apolod ctl reload`, the next change) publishes it.
 *
 * Money: accounts open with balance 0. Money only ever enters or leaves
 * through recharges, adjustments and calls, which are journaled
 * (shm/journal.h) and land in the ledger; this module never writes
 * accounts.balance, and a body that names "balance" is refused (400).
 * Nothing is deleted: DELETE closes an account or deactivates an
 * extension, since CDRs and the ledger refer to them.
 *
 * Lists use keyset pagination: rows with id > after, in id order, at most
 * limit (1..500, default 100); "next" is the last id when there may be
 * more, else null. q= is a case-insensitive substring (position(), not
 * LIKE: no wildcard to escape), always passed as a parameter.
 *
 * PIN: 4 to 12 digits, hashed with argon2id (admin/auth_hash.h, like
 * passwords); the hash is never returned ("has_pin" says whether there is
 * one), the PIN never logged nor audited. Verification allows
 * PIN_MAX_FAILURES (5) wrong PINs, then answers 429 for PIN_LOCK_SECONDS
 * (15 min), counted in PostgreSQL (sql/009) so that neither concurrent
 * guesses nor a restart reset it; a right PIN or a new one does.
 *
 * NOTES
 * - QSBR: http.c makes the thread's reader online for the handler. These
 *   handlers go offline at once (http_pg_start) and come online only inside
 *   acc_live_read, for the few lookups that copy balance slots out of the
 *   region; PostgreSQL queries and the reload wait always run offline.
 * - "live" is the region's view: balance (money the account has, negative
 *   when a postpaid account owes), reserved (held by calls in progress),
 *   available (balance + credit_limit - reserved). The PostgreSQL
 *   "balance" lags it by what the flusher has not drained yet.
 * - Account codes and extension numbers are keys of the region's catalog
 *   (CAT_KEY bytes with the NUL): longer ones would make every reload fail,
 *   so they are refused here (422).
 * - The identity columns are BY DEFAULT: rows inserted by hand with
 *   explicit ids leave the sequence behind and an API insert then collides
 *   on the primary key (answered 500, logged).
 */
#include "admin/api.h"
#include "admin/auth_hash.h"
#include "admin/http.h"
#include "admin/reload.h"

#include "shm/account.h"
#include "shm/catalog.h"
#include "shm/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACC_LIMIT_DEF    100
#define ACC_LIMIT_MAX    500
#define ACC_PARAM_CAP    256
#define ACC_NAME_MAX     200
#define ACC_AMOUNT_MAX   ((money_t)1 << 50)   /* account.h's bound */
#define ACC_PIN_MIN      4
#define ACC_PIN_MAX      12
#define ACC_NUMBER_MAX   31                    /* extensions_number_check */

#define ACC_COLS "id, code, name, type, status, currency, plan_id, " \
                 "credit_limit, low_balance_threshold, balance, notify_email"
#define ACC_EMAIL_MAX    254                   /* RFC 5321's path limit */
#define EXT_COLS "id, number, account_id, user_name, department, active, " \
                 "monthly_limit, authorization_level, pin_hash IS NOT NULL"

/* ---- small helpers ------------------------------------------------------ */

static int acc_begin(http_req_t *r)
{
    PGresult *res = PQexec(r->db, "BEGIN");
    if (!http_res_ok(res))
        return http_db_fail(r, res, "begin");
    PQclear(res);
    return 0;
}

static int64_t acc_i64(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static void j_money(json_t *o, const char *key, money_t m)
{
    char b[MONEY_STRLEN];
    money_format(m, b);
    json_object_set_new(o, key, json_string(b));
}

/* A money column (micro-units) as a decimal string, or null. */
static void j_money_col(json_t *o, const char *key, const PGresult *res,
                        int row, int col)
{
    if (PQgetisnull(res, row, col))
        json_object_set_new(o, key, json_null());
    else
        j_money(o, key, acc_i64(res, row, col));
}

static void j_text_col(json_t *o, const char *key, const PGresult *res,
                       int row, int col)
{
    json_object_set_new(o, key, PQgetisnull(res, row, col) ? json_null()
                        : json_string(PQgetvalue(res, row, col)));
}

/* ---- query parameters -------------------------------------------------- */

/* Text parameter into buf[ACC_PARAM_CAP]: 0 with *out = buf or NULL
 * (absent or empty), or the status sent (400: too long). */
static int acc_param_text(http_req_t *r, const char *name, char *buf,
                          const char **out)
{
    *out = NULL;
    if (http_query(r, name, buf, ACC_PARAM_CAP) == NULL) {
        if (http_query_named(r, name))
            return http_error(r, 400, "validation", "%s: at most %d "
                              "characters", name, ACC_PARAM_CAP - 1);
        return 0;
    }
    if (buf[0] != '\0')
        *out = buf;
    return 0;
}

/* One of the words of set (NULL-terminated): 0, or 400 sent. */
static int acc_param_word(http_req_t *r, const char *name,
                          const char *const *set, char *buf,
                          const char **out)
{
    int st = acc_param_text(r, name, buf, out);
    if (st != 0 || *out == NULL)
        return st;
    for (int i = 0; set[i] != NULL; i++)
        if (strcmp(*out, set[i]) == 0)
            return 0;
    return http_error(r, 400, "validation", "%s: not a known value", name);
}

static const char *const acc_types[] = { "prepaid", "postpaid", NULL };
static const char *const acc_statuses[] = { "active", "blocked", "closed",
                                            NULL };

static int acc_in(const char *s, const char *const *set)
{
    for (int i = 0; set[i] != NULL; i++)
        if (strcmp(s, set[i]) == 0)
            return 1;
    return 0;
}

/* ---- body fields ------------------------------------------------------- */

/* Refuses keys outside allowed (NULL-terminated), "balance" with its own
 * message: 0, or 400 sent. */
static int acc_keys(http_req_t *r, json_t *body, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        if (strcmp(key, "balance") == 0)
            return http_error(r, 400, "validation", "balance cannot be set: "
                              "balances change only through recharges and "
                              "adjustments");
        if (!acc_in(key, allowed))
            return http_error(r, 400, "validation", "unknown field \"%s\"",
                              key);
    }
    return 0;
}

/* A string field: 0 with *out (NULL when absent; when null and nullable,
 * *out NULL and *is_null 1), or the status sent: 400 wrong type or missing
 * when required, 422 empty (when not allowed) or longer than max. */
static int acc_f_str(http_req_t *r, json_t *body, const char *k, size_t max,
                     int required, int nullable, const char **out,
                     int *is_null)
{
    json_t *v = json_object_get(body, k);
    *out = NULL;
    if (is_null != NULL)
        *is_null = 0;
    if (v == NULL) {
        if (required)
            return http_error(r, 400, "validation", "%s is required", k);
        return 0;
    }
    if (json_is_null(v) && nullable) {
        *is_null = 1;
        return 0;
    }
    if (!json_is_string(v))
        return http_error(r, 400, "validation", "%s: a string", k);
    size_t n = json_string_length(v);
    if ((n == 0 && !nullable) || n > max)
        return http_error(r, 422, "validation", "%s: 1 to %zu characters",
                          k, max);
    const char *s = json_string_value(v);
    if (strlen(s) != n)
        return http_error(r, 422, "validation", "%s: no NUL characters", k);
    *out = s;
    return 0;
}

/* An amount field (decimal string, >= 0, <= ACC_AMOUNT_MAX) into buf as
 * micro-units: 0 with *out = buf, NULL (absent), or *is_null when null is
 * allowed; else the status sent (400 not a string, 422 refused). */
static int acc_f_money(http_req_t *r, json_t *body, const char *k,
                       int nullable, char buf[24], const char **out,
                       int *is_null)
{
    json_t *v = json_object_get(body, k);
    money_t m;
    *out = NULL;
    if (is_null != NULL)
        *is_null = 0;
    if (v == NULL)
        return 0;
    if (json_is_null(v) && nullable) {
        *is_null = 1;
        return 0;
    }
    if (!json_is_string(v))
        return http_error(r, 400, "validation", "%s: an amount as a decimal "
                          "string (\"12.50\"), not a number", k);
    if (http_money(v, &m) != 0)
        return http_error(r, 422, "validation", "%s: not a valid amount", k);
    if (m < 0)
        return http_error(r, 422, "validation", "%s: never negative", k);
    if (m > ACC_AMOUNT_MAX)
        return http_error(r, 422, "validation", "%s: too large", k);
    snprintf(buf, 24, "%" PRId64, (int64_t)m);
    *out = buf;
    return 0;
}

/* A positive integer id field into buf: 0 with *out = buf or NULL, or 400
 * sent. */
static int acc_f_id(http_req_t *r, json_t *body, const char *k, int required,
                    char buf[24], const char **out)
{
    json_t *v = json_object_get(body, k);
    *out = NULL;
    if (v == NULL) {
        if (required)
            return http_error(r, 400, "validation", "%s is required", k);
        return 0;
    }
    if (!json_is_integer(v))
        return http_error(r, 400, "validation", "%s: an integer", k);
    if (json_integer_value(v) <= 0)
        return http_error(r, 422, "validation", "%s: a positive id", k);
    snprintf(buf, 24, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    *out = buf;
    return 0;
}

static int acc_f_bool(http_req_t *r, json_t *body, const char *k,
                      const char **out)
{
    json_t *v = json_object_get(body, k);
    *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return http_error(r, 400, "validation", "%s: true or false", k);
    *out = json_is_true(v) ? "true" : "false";
    return 0;
}

/* Account codes: printable, no blank, shorter than CAT_KEY. */
static int acc_code_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= CAT_KEY)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

/* ^\+?[0-9]{1,31}$ */
static int acc_number_ok(const char *s)
{
    size_t i = s[0] == '+', n = strlen(s);
    if (n == i || n - i > ACC_NUMBER_MAX)
        return 0;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* ---- the region ---------------------------------------------------------- */

typedef struct acc_live {
    int     found;
    money_t balance, reserved, headroom;
} acc_live_t;

/* The region's view of accounts ids[n]: goes online, copies the slots out,
 * goes offline. out[i].found 0 when the current catalog does not name
 * ids[i] (or the thread has no reader). */
static void acc_live_read(http_req_t *r, const int64_t *ids, int n,
                          acc_live_t *out)
{
    memset(out, 0, (size_t)n * sizeof *out);
    if (r->rd == NULL || n == 0)
        return;
    qsbr_online(r->rd);
    const cat_hdr_t *c = cat_current(r->ctx->region);
    const acct_shm_t *as = region_area(r->ctx->region, REGION_AREA_ACCOUNTS);
    for (int i = 0; c != NULL && i < n; i++) {
        const cat_acct_t *ca = cat_account(c, ids[i]);
        acct_view_t v;
        if (ca != NULL && acct_view(as, ca->slot, &v) == ACCT_OK
            && v.id == ids[i]) {
            out[i].found = 1;
            out[i].balance = v.balance;
            out[i].reserved = v.reserved;
            out[i].headroom = v.headroom;
        }
    }
    c = NULL;                          /* nothing of it past this point */
    qsbr_offline(r->rd);
}

static json_t *acc_live_json(const acc_live_t *l)
{
    if (!l->found)
        return json_null();
    json_t *o = json_object();
    j_money(o, "balance", l->balance);
    j_money(o, "reserved", l->reserved);
    j_money(o, "available", l->headroom);
    return o;
}

/* Republishes the region after a committed change; on failure sets
 * "warning" in o and returns -1. */
static int acc_reload(http_req_t *r, json_t *o)
{
    char err[160];
    uint64_t v;
    if (r->rd != NULL)
        qsbr_offline(r->rd);
    if (admin_reload(r->ctx, &v, err, sizeof err) == 0)
        return 0;
    char msg[256];
    snprintf(msg, sizeof msg, "saved in PostgreSQL, but not yet live in "
             "the region (%s); the next reload publishes it", err);
    json_object_set_new(o, "warning", json_string(msg));
    return -1;
}

/* ---- JSON of rows ------------------------------------------------------- */

/* A row of ACC_COLS. */
static json_t *acc_json(const PGresult *res, int i)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(acc_i64(res, i, 0)));
    j_text_col(o, "code", res, i, 1);
    j_text_col(o, "name", res, i, 2);
    j_text_col(o, "type", res, i, 3);
    j_text_col(o, "status", res, i, 4);
    j_text_col(o, "currency", res, i, 5);
    json_object_set_new(o, "plan_id", json_integer(acc_i64(res, i, 6)));
    j_money_col(o, "credit_limit", res, i, 7);
    j_money_col(o, "low_balance_threshold", res, i, 8);
    j_money_col(o, "balance", res, i, 9);
    j_text_col(o, "notify_email", res, i, 10);
    return o;
}

/* A row of EXT_COLS (never the PIN hash). */
static json_t *ext_json(const PGresult *res, int i)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(acc_i64(res, i, 0)));
    j_text_col(o, "number", res, i, 1);
    json_object_set_new(o, "account_id", json_integer(acc_i64(res, i, 2)));
    j_text_col(o, "user_name", res, i, 3);
    j_text_col(o, "department", res, i, 4);
    json_object_set_new(o, "active",
                        json_boolean(PQgetvalue(res, i, 5)[0] == 't'));
    j_money_col(o, "monthly_limit", res, i, 6);
    json_object_set_new(o, "authorization_level",
                        json_integer(acc_i64(res, i, 7)));
    json_object_set_new(o, "has_pin",
                        json_boolean(PQgetvalue(res, i, 8)[0] == 't'));
    return o;
}

/* The answer of a list: rows as JSON (fn), "next" = the last id when the
 * query found more than limit rows. */
static json_t *acc_page(const PGresult *res, int64_t limit, const char *key,
                        json_t *(*fn)(const PGresult *, int), json_t **arr)
{
    int n = PQntuples(res);
    int more = n > limit;
    if (more)
        n = (int)limit;
    *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(*arr, fn(res, i));
    json_t *o = json_object();
    json_object_set(o, key, *arr);
    json_object_set_new(o, "next", more && n > 0
                        ? json_integer(acc_i64(res, n - 1, 0)) : json_null());
    json_decref(*arr);                 /* o holds it */
    return o;
}

/* ---- accounts ------------------------------------------------------------ */

/* Sets "live" in each account object of arr[n] (ids from their "id"). */
static void acc_add_live(http_req_t *r, json_t *arr)
{
    size_t n = json_array_size(arr);
    if (n == 0)
        return;
    int64_t *ids = calloc(n, sizeof *ids);
    acc_live_t *live = calloc(n, sizeof *live);
    if (ids == NULL || live == NULL) {
        free(ids);
        free(live);
        return;
    }
    for (size_t i = 0; i < n; i++)
        ids[i] = json_integer_value(json_object_get(json_array_get(arr, i),
                                                    "id"));
    acc_live_read(r, ids, (int)n, live);
    for (size_t i = 0; i < n; i++)
        json_object_set_new(json_array_get(arr, i), "live",
                            acc_live_json(&live[i]));
    free(ids);
    free(live);
}

static int accounts_list(http_req_t *r)
{
    char qb[ACC_PARAM_CAP], tb[ACC_PARAM_CAP], sb[ACC_PARAM_CAP];
    char pb[24], ab[24], lb[24];
    const char *q, *type, *status, *plan = NULL;
    int64_t plan_id, after, limit;
    int st;

    if ((st = http_pg_start(r)) != 0
        || (st = acc_param_text(r, "q", qb, &q)) != 0
        || (st = acc_param_word(r, "type", acc_types, tb, &type)) != 0
        || (st = acc_param_word(r, "status", acc_statuses, sb, &status)) != 0
        || (st = http_query_int(r, "plan_id", 1, INT64_MAX, 0, &plan_id)) != 0
        || (st = http_query_int(r, "after", 0, INT64_MAX, 0, &after)) != 0
        || (st = http_query_int(r, "limit", 1, ACC_LIMIT_MAX, ACC_LIMIT_DEF,
                               &limit)) != 0)
        return st;
    if (plan_id > 0) {
        snprintf(pb, sizeof pb, "%" PRId64, plan_id);
        plan = pb;
    }
    snprintf(ab, sizeof ab, "%" PRId64, after);
    snprintf(lb, sizeof lb, "%" PRId64, limit + 1);
    const char *p[6] = { q, type, status, plan, ab, lb };
    PGresult *res = http_exec(r,
        "SELECT " ACC_COLS " FROM accounts "
        "WHERE ($1::text IS NULL OR position(lower($1) IN lower(code)) > 0 "
        "       OR position(lower($1) IN lower(name)) > 0) "
        "AND ($2::text IS NULL OR type = $2) "
        "AND ($3::text IS NULL OR status = $3) "
        "AND ($4::bigint IS NULL OR plan_id = $4) "
        "AND id > $5::bigint ORDER BY id LIMIT $6::bigint", 6, p);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "account list");
    json_t *arr;
    json_t *o = acc_page(res, limit, "accounts", acc_json, &arr);
    PQclear(res);
    acc_add_live(r, arr);
    return http_json(r, 200, o);
}

/* One account by id as JSON (without "live"), or NULL with *st: 404 sent
 * or a database failure sent. lock: FOR UPDATE (inside a transaction). */
static json_t *acc_fetch(http_req_t *r, const char *ids, int lock, int *st)
{
    return http_fetch_row(r, lock
        ? "SELECT " ACC_COLS " FROM accounts WHERE id = $1 FOR UPDATE"
        : "SELECT " ACC_COLS " FROM accounts WHERE id = $1", ids, acc_json,
        "account", st);
}

static void acc_set_live(http_req_t *r, json_t *o)
{
    acc_live_t l;
    int64_t id = json_integer_value(json_object_get(o, "id"));
    acc_live_read(r, &id, 1, &l);
    json_object_set_new(o, "live", acc_live_json(&l));
}

static int accounts_get(http_req_t *r)
{
    int st;
    int64_t id = http_subpath_id(r, "");
    char ids[24];

    if ((st = http_pg_start(r)) != 0)
        return st;
    if (id == 0)
        return http_error(r, 404, "not_found", "no such account");
    snprintf(ids, sizeof ids, "%" PRId64, id);
    json_t *o = acc_fetch(r, ids, 0, &st);
    if (o == NULL)
        return st;
    const char *p[1] = { ids };
    PGresult *res = http_exec(r, "SELECT " EXT_COLS " FROM extensions "
                             "WHERE account_id = $1 ORDER BY id", 1, p);
    if (!http_res_ok(res)) {
        json_decref(o);
        return http_db_fail(r, res, "account extensions");
    }
    json_t *exts = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(exts, ext_json(res, i));
    PQclear(res);
    json_object_set_new(o, "extensions", exts);
    acc_set_live(r, o);
    return http_json(r, 200, o);
}

/* The plan's currency into cur[4]: 0, 1 (no such plan), or -1 (database
 * failure sent). */
static int acc_plan_currency(http_req_t *r, const char *plan, char cur[4],
                             int *st)
{
    const char *p[1] = { plan };
    PGresult *res = http_exec(r, "SELECT currency FROM rate_plans "
                             "WHERE id = $1", 1, p);
    if (!http_res_ok(res)) {
        *st = http_db_fail(r, res, "plan lookup");
        return -1;
    }
    int found = PQntuples(res) == 1;
    if (found)
        snprintf(cur, 4, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return found ? 0 : 1;
}

/* notify_email (alert.h sends the account's notifications there): one
 * '@' between two non-empty parts, none of blanks < > , ; " ( ) (what
 * accounts_notify_email_check refuses: a header or a second recipient
 * cannot be smuggled in). NULL (absent or null) is fine. */
static int acc_email_ok(const char *e)
{
    if (e == NULL)
        return 1;
    const char *at = strchr(e, '@');
    if (at == NULL || at == e || at[1] == '\0' || strchr(at + 1, '@'))
        return 0;
    for (const char *c = e; *c != '\0'; c++)
        if ((unsigned char)*c <= ' ' || strchr("<>,;\"()", *c) != NULL)
            return 0;
    return 1;
}

static const char *const acc_create_keys[] = { "code", "name", "type",
    "currency", "plan_id", "credit_limit", "low_balance_threshold", "status",
    "notify_email", NULL };

static int accounts_create(http_req_t *r)
{
    json_t *body;
    const char *code, *name, *type, *cur, *status, *plan, *credit, *low;
    const char *email;
    char planb[24], creditb[24], lowb[24], plancur[4];
    int st, low_null, email_null;

    if ((st = http_pg_start(r)) != 0)
        return st;
    if (http_read_json(r, 0, &body) != 0)
        return r->status;
    if ((st = acc_keys(r, body, acc_create_keys)) != 0
        || (st = acc_f_str(r, body, "code", CAT_KEY - 1, 1, 0, &code,
                           NULL)) != 0
        || (st = acc_f_str(r, body, "name", ACC_NAME_MAX, 1, 0, &name,
                           NULL)) != 0
        || (st = acc_f_str(r, body, "type", 16, 1, 0, &type, NULL)) != 0
        || (st = acc_f_str(r, body, "currency", 3, 0, 0, &cur, NULL)) != 0
        || (st = acc_f_str(r, body, "status", 16, 0, 0, &status, NULL)) != 0
        || (st = acc_f_id(r, body, "plan_id", 1, planb, &plan)) != 0
        || (st = acc_f_money(r, body, "credit_limit", 0, creditb, &credit,
                             NULL)) != 0
        || (st = acc_f_money(r, body, "low_balance_threshold", 1, lowb, &low,
                             &low_null)) != 0
        || (st = acc_f_str(r, body, "notify_email", ACC_EMAIL_MAX, 0, 1,
                           &email, &email_null)) != 0)
        goto out;
    if (!acc_email_ok(email))
        st = http_error(r, 422, "validation", "notify_email: one address, "
                        "name@domain");
    else if (!acc_code_ok(code))
        st = http_error(r, 422, "validation", "code: 1 to %d characters, no "
                        "blanks", CAT_KEY - 1);
    else if (!acc_in(type, acc_types))
        st = http_error(r, 422, "validation", "type: prepaid or postpaid");
    else if (status != NULL && !acc_in(status, acc_statuses))
        st = http_error(r, 422, "validation", "status: active, blocked or "
                        "closed");
    if (st != 0)
        goto out;
    if ((st = acc_begin(r)) != 0)
        goto out;
    int found = acc_plan_currency(r, plan, plancur, &st);
    if (found < 0)
        goto out;
    if (found == 1) {
        http_rollback(r);
        st = http_error(r, 422, "validation", "plan_id: no rate plan %s",
                        plan);
        goto out;
    }
    if (cur == NULL)
        cur = plancur;
    else if (strcmp(cur, plancur) != 0) {
        http_rollback(r);
        st = http_error(r, 422, "validation", "currency: plan %s is priced "
                        "in %s", plan, plancur);
        goto out;
    }
    /* The opening balance is 0: money enters only through recharges. */
    const char *p[9] = { code, name, type, cur, plan, credit ? credit : "0",
                         low, status ? status : "active", email };
    PGresult *res = http_exec(r,
        "INSERT INTO accounts (code, name, type, balance, currency, plan_id, "
        "credit_limit, low_balance_threshold, status, notify_email) "
        "VALUES ($1, $2, $3, 0, $4, $5, $6, $7, $8, $9) RETURNING " ACC_COLS,
        9, p);
    if (!http_res_ok(res)) {
        if (http_sqlstate_is(res, "23505")
            && http_constraint_is(res, "accounts_code_key")) {
            PQclear(res);
            http_rollback(r);
            st = http_error(r, 409, "conflict", "account code %s is taken",
                            code);
        } else if (http_sqlstate_is(res, "23514")
                   || http_sqlstate_is(res, "23503")) {
            LOG_INFO("api", "account insert refused: %s",
                     PQresultErrorMessage(res));
            PQclear(res);
            http_rollback(r);
            st = http_error(r, 422, "validation", "account refused by the "
                            "database's checks");
        } else {
            st = http_db_fail(r, res, "account insert");
        }
        goto out;
    }
    json_t *o = acc_json(res, 0);
    PQclear(res);
    char object[40];
    snprintf(object, sizeof object, "account:%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(o, "id")));
    if ((st = http_audit_commit(r, "account_create", object,
                               json_deep_copy(o))) != 0) {
        json_decref(o);
        goto out;
    }
    if (acc_reload(r, o) == 0)
        acc_set_live(r, o);
    else
        json_object_set_new(o, "live", json_null());
    json_decref(body);
    return http_json(r, 201, o);
out:
    json_decref(body);
    return st;
}

static const char *const acc_patch_keys[] = { "name", "status",
    "credit_limit", "low_balance_threshold", "plan_id", "notify_email",
    NULL };

/* The changes of one account: NULL leaves a field as it is; low_set and
 * email_set write low and email even when NULL (a JSON null clears). */
typedef struct acc_change {
    const char *name, *status, *credit, *low, *plan, *email;
    int         low_set, email_set;
} acc_change_t;

/* Applies the changes of an account, audits with before/after, commits,
 * reloads, answers 200. */
static int accounts_apply(http_req_t *r, int64_t id, const acc_change_t *c,
                          const char *action)
{
    char ids[24], plancur[4];
    int st;
    snprintf(ids, sizeof ids, "%" PRId64, id);
    if ((st = acc_begin(r)) != 0)
        return st;
    json_t *before = acc_fetch(r, ids, 1, &st);
    if (before == NULL)
        return st;
    if (c->plan != NULL) {
        int found = acc_plan_currency(r, c->plan, plancur, &st);
        if (found != 0 || strcmp(plancur, json_string_value(
                json_object_get(before, "currency"))) != 0) {
            json_decref(before);
            if (found < 0)
                return st;
            http_rollback(r);
            return http_error(r, 422, "validation", found == 1
                              ? "plan_id: no such rate plan"
                              : "plan_id: the plan is priced in another "
                                "currency than the account");
        }
    }
    const char *p[9] = { ids, c->name, c->status, c->credit, c->low,
                         c->low_set ? "true" : "false", c->plan, c->email,
                         c->email_set ? "true" : "false" };
    PGresult *res = http_exec(r,
        "UPDATE accounts SET name = coalesce($2, name), "
        "status = coalesce($3, status), "
        "credit_limit = coalesce($4::bigint, credit_limit), "
        "low_balance_threshold = CASE WHEN $6::boolean THEN $5::bigint "
        "ELSE low_balance_threshold END, "
        "plan_id = coalesce($7::bigint, plan_id), "
        "notify_email = CASE WHEN $9::boolean THEN $8 ELSE notify_email END "
        "WHERE id = $1 RETURNING " ACC_COLS, 9, p);
    if (!http_res_ok(res)) {
        json_decref(before);
        if (http_sqlstate_is(res, "23514") || http_sqlstate_is(res, "23503")) {
            PQclear(res);
            http_rollback(r);
            return http_error(r, 422, "validation", "change refused by the "
                              "database's checks");
        }
        return http_db_fail(r, res, "account update");
    }
    json_t *o = acc_json(res, 0);
    PQclear(res);
    json_t *details = http_diff(before, o, NULL);
    json_decref(before);
    char object[40];
    snprintf(object, sizeof object, "account:%s", ids);
    if ((st = http_audit_commit(r, action, object, details)) != 0) {
        json_decref(o);
        return st;
    }
    if (acc_reload(r, o) == 0)
        acc_set_live(r, o);
    else
        json_object_set_new(o, "live", json_null());
    return http_json(r, 200, o);
}

static int accounts_patch(http_req_t *r)
{
    json_t *body;
    acc_change_t c = { 0 };
    char creditb[24], lowb[24], planb[24];
    int st, low_null, email_null;
    int64_t id = http_subpath_id(r, "");

    if ((st = http_pg_start(r)) != 0)
        return st;
    if (id == 0)
        return http_error(r, 404, "not_found", "no such account");
    if (http_read_json(r, 0, &body) != 0)
        return r->status;
    if ((st = acc_keys(r, body, acc_patch_keys)) != 0
        || (st = acc_f_str(r, body, "name", ACC_NAME_MAX, 0, 0, &c.name,
                           NULL)) != 0
        || (st = acc_f_str(r, body, "status", 16, 0, 0, &c.status,
                           NULL)) != 0
        || (st = acc_f_money(r, body, "credit_limit", 0, creditb, &c.credit,
                             NULL)) != 0
        || (st = acc_f_money(r, body, "low_balance_threshold", 1, lowb,
                             &c.low, &low_null)) != 0
        || (st = acc_f_id(r, body, "plan_id", 0, planb, &c.plan)) != 0
        || (st = acc_f_str(r, body, "notify_email", ACC_EMAIL_MAX, 0, 1,
                           &c.email, &email_null)) != 0)
        goto out;
    c.low_set = c.low != NULL || low_null;
    c.email_set = c.email != NULL || email_null;
    if (json_object_size(body) == 0)
        st = http_error(r, 400, "validation", "nothing to change");
    else if (c.status != NULL && !acc_in(c.status, acc_statuses))
        st = http_error(r, 422, "validation", "status: active, blocked or "
                        "closed");
    else if (!acc_email_ok(c.email))
        st = http_error(r, 422, "validation", "notify_email: one address, "
                        "name@domain");
    else
        st = accounts_apply(r, id, &c, "account_update");
out:
    json_decref(body);
    return st;
}

static int accounts_delete(http_req_t *r)
{
    int st;
    int64_t id = http_subpath_id(r, "");
    if ((st = http_pg_start(r)) != 0)
        return st;
    if (id == 0)
        return http_error(r, 404, "not_found", "no such account");
    acc_change_t c = { .status = "closed" };
    return accounts_apply(r, id, &c, "account_close");
}

/* ---- extensions ---------------------------------------------------------- */

static int extensions_list(http_req_t *r)
{
    char qb[ACC_PARAM_CAP], accb[24], ab[24], lb[24];
    const char *q, *acc = NULL;
    int64_t acc_id, after, limit;
    int st;

    if ((st = http_pg_start(r)) != 0
        || (st = acc_param_text(r, "q", qb, &q)) != 0
        || (st = http_query_int(r, "account_id", 1, INT64_MAX, 0,
                               &acc_id)) != 0
        || (st = http_query_int(r, "after", 0, INT64_MAX, 0, &after)) != 0
        || (st = http_query_int(r, "limit", 1, ACC_LIMIT_MAX, ACC_LIMIT_DEF,
                               &limit)) != 0)
        return st;
    if (acc_id > 0) {
        snprintf(accb, sizeof accb, "%" PRId64, acc_id);
        acc = accb;
    }
    snprintf(ab, sizeof ab, "%" PRId64, after);
    snprintf(lb, sizeof lb, "%" PRId64, limit + 1);
    const char *p[4] = { acc, q, ab, lb };
    PGresult *res = http_exec(r,
        "SELECT " EXT_COLS " FROM extensions "
        "WHERE ($1::bigint IS NULL OR account_id = $1) "
        "AND ($2::text IS NULL OR position(lower($2) IN lower(number)) > 0 "
        "     OR position(lower($2) IN lower(coalesce(user_name, ''))) > 0 "
        "     OR position(lower($2) IN lower(coalesce(department, ''))) > 0) "
        "AND id > $3::bigint ORDER BY id LIMIT $4::bigint", 4, p);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "extension list");
    json_t *arr;
    json_t *o = acc_page(res, limit, "extensions", ext_json, &arr);
    PQclear(res);
    return http_json(r, 200, o);
}

/* One extension as JSON, or NULL with *st (404 or failure sent). */
static json_t *ext_fetch(http_req_t *r, const char *ids, int lock, int *st)
{
    return http_fetch_row(r, lock
        ? "SELECT " EXT_COLS " FROM extensions WHERE id = $1 FOR UPDATE"
        : "SELECT " EXT_COLS " FROM extensions WHERE id = $1", ids, ext_json,
        "extension", st);
}

static int extensions_get(http_req_t *r)
{
    int st;
    char ids[24];
    int64_t id = http_subpath_id(r, "");
    if ((st = http_pg_start(r)) != 0)
        return st;
    if (id == 0)
        return http_error(r, 404, "not_found", "no such extension");
    snprintf(ids, sizeof ids, "%" PRId64, id);
    json_t *o = ext_fetch(r, ids, 0, &st);
    return o != NULL ? http_json(r, 200, o) : st;
}

/* The body fields of an extension (create and patch). */
typedef struct ext_in {
    const char *number, *account, *user, *dept, *active, *limit, *level;
    int user_null, dept_null, limit_null;
    char accb[24], limitb[24], levelb[24];
} ext_in_t;

static const char *const ext_keys[] = { "number", "account_id", "user_name",
    "department", "active", "monthly_limit", "authorization_level", NULL };

/* Reads and validates an extension body: 0, or the status sent. */
static int ext_read(http_req_t *r, json_t *body, int create, ext_in_t *e)
{
    int st;
    memset(e, 0, sizeof *e);
    if ((st = acc_keys(r, body, ext_keys)) != 0
        || (st = acc_f_str(r, body, "number", 64, create, 0, &e->number,
                           NULL)) != 0
        || (st = acc_f_id(r, body, "account_id", create, e->accb,
                          &e->account)) != 0
        || (st = acc_f_str(r, body, "user_name", ACC_NAME_MAX, 0, 1,
                           &e->user, &e->user_null)) != 0
        || (st = acc_f_str(r, body, "department", ACC_NAME_MAX, 0, 1,
                           &e->dept, &e->dept_null)) != 0
        || (st = acc_f_bool(r, body, "active", &e->active)) != 0
        || (st = acc_f_money(r, body, "monthly_limit", 1, e->limitb,
                             &e->limit, &e->limit_null)) != 0)
        return st;
    json_t *lv = json_object_get(body, "authorization_level");
    if (lv != NULL) {
        if (!json_is_integer(lv))
            return http_error(r, 400, "validation", "authorization_level: "
                              "an integer");
        if (json_integer_value(lv) < 0 || json_integer_value(lv) > INT32_MAX)
            return http_error(r, 422, "validation", "authorization_level: "
                              "0 or more");
        snprintf(e->levelb, sizeof e->levelb, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(lv));
        e->level = e->levelb;
    }
    if (e->number != NULL && !acc_number_ok(e->number))
        return http_error(r, 422, "validation", "number: 1 to %d digits, "
                          "with an optional leading '+'", ACC_NUMBER_MAX);
    if (!create && json_object_size(body) == 0)
        return http_error(r, 400, "validation", "nothing to change");
    return 0;
}

/* 422 for an unknown account, 409 for a taken number; else the database
 * failure. Consumes res. */
static int ext_write_fail(http_req_t *r, PGresult *res, const char *what)
{
    if (http_sqlstate_is(res, "23505")
        && http_constraint_is(res, "extensions_number_key")) {
        PQclear(res);
        http_rollback(r);
        return http_error(r, 409, "conflict", "the number is taken");
    }
    if (http_sqlstate_is(res, "23503")) {
        PQclear(res);
        http_rollback(r);
        return http_error(r, 422, "validation", "account_id: no such "
                          "account");
    }
    if (http_sqlstate_is(res, "23514")) {
        PQclear(res);
        http_rollback(r);
        return http_error(r, 422, "validation", "refused by the database's "
                          "checks");
    }
    return http_db_fail(r, res, what);
}

static int extensions_create(http_req_t *r)
{
    json_t *body;
    ext_in_t e;
    int st;

    if ((st = http_pg_start(r)) != 0)
        return st;
    if (http_read_json(r, 0, &body) != 0)
        return r->status;
    if ((st = ext_read(r, body, 1, &e)) != 0 || (st = acc_begin(r)) != 0) {
        json_decref(body);
        return st;
    }
    const char *p[7] = { e.number, e.account, e.user, e.dept,
                         e.active ? e.active : "true", e.limit,
                         e.level ? e.level : "0" };
    PGresult *res = http_exec(r,
        "INSERT INTO extensions (number, account_id, user_name, department, "
        "active, monthly_limit, authorization_level) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING " EXT_COLS, 7, p);
    if (!http_res_ok(res)) {
        st = ext_write_fail(r, res, "extension insert");
        json_decref(body);
        return st;
    }
    json_t *o = ext_json(res, 0);
    PQclear(res);
    json_decref(body);
    char object[40];
    snprintf(object, sizeof object, "extension:%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(o, "id")));
    if ((st = http_audit_commit(r, "extension_create", object,
                               json_deep_copy(o))) != 0) {
        json_decref(o);
        return st;
    }
    acc_reload(r, o);
    return http_json(r, 201, o);
}

/* Applies an extension change (NULL: unchanged; *_set: write even NULL),
 * audits before/after, commits, reloads when the region needs it. */
static int extensions_apply(http_req_t *r, int64_t id, const ext_in_t *e,
                            const char *action)
{
    char ids[24];
    int st;
    snprintf(ids, sizeof ids, "%" PRId64, id);
    if ((st = acc_begin(r)) != 0)
        return st;
    json_t *before = ext_fetch(r, ids, 1, &st);
    if (before == NULL)
        return st;
    const char *p[11] = { ids, e->number, e->account,
        e->user, (e->user || e->user_null) ? "true" : "false",
        e->dept, (e->dept || e->dept_null) ? "true" : "false",
        e->active, e->limit, (e->limit || e->limit_null) ? "true" : "false",
        e->level };
    PGresult *res = http_exec(r,
        "UPDATE extensions SET number = coalesce($2, number), "
        "account_id = coalesce($3::bigint, account_id), "
        "user_name = CASE WHEN $5::boolean THEN $4 ELSE user_name END, "
        "department = CASE WHEN $7::boolean THEN $6 ELSE department END, "
        "active = coalesce($8::boolean, active), "
        "monthly_limit = CASE WHEN $10::boolean THEN $9::bigint "
        "ELSE monthly_limit END, "
        "authorization_level = coalesce($11::int, authorization_level) "
        "WHERE id = $1 RETURNING " EXT_COLS, 11, p);
    if (!http_res_ok(res)) {
        json_decref(before);
        return ext_write_fail(r, res, "extension update");
    }
    json_t *o = ext_json(res, 0);
    PQclear(res);
    json_t *details = http_diff(before, o, NULL);
    json_t *changed = json_object_get(details, "after");
    int region = json_object_get(changed, "number") != NULL
              || json_object_get(changed, "account_id") != NULL
              || json_object_get(changed, "active") != NULL;
    json_decref(before);
    char object[40];
    snprintf(object, sizeof object, "extension:%s", ids);
    if ((st = http_audit_commit(r, action, object, details)) != 0) {
        json_decref(o);
        return st;
    }
    if (region)
        acc_reload(r, o);
    return http_json(r, 200, o);
}

static int extensions_patch(http_req_t *r)
{
    json_t *body;
    ext_in_t e;
    int st;
    int64_t id = http_subpath_id(r, "");

    if ((st = http_pg_start(r)) != 0)
        return st;
    if (id == 0)
        return http_error(r, 404, "not_found", "no such extension");
    if (http_read_json(r, 0, &body) != 0)
        return r->status;
    if ((st = ext_read(r, body, 0, &e)) == 0)
        st = extensions_apply(r, id, &e, "extension_update");
    json_decref(body);
    return st;
}

static int extensions_delete(http_req_t *r)
{
    ext_in_t e;
    int st;
    int64_t id = http_subpath_id(r, "");
    if ((st = http_pg_start(r)) != 0)
        return st;
    if (id == 0)
        return http_error(r, 404, "not_found", "no such extension");
    memset(&e, 0, sizeof e);
    e.active = "false";
    return extensions_apply(r, id, &e, "extension_deactivate");
}

/* The "pin" of a body: 0 with *pin, or the status sent (400 type, 422 not
 * 4..12 digits). */
static int ext_pin_field(http_req_t *r, json_t *body, const char **pin)
{
    json_t *v = json_object_get(body, "pin");
    if (json_object_size(body) != 1 || !json_is_string(v))
        return http_error(r, 400, "validation", "{\"pin\": \"digits\"} "
                          "expected");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    int ok = n >= ACC_PIN_MIN && n <= ACC_PIN_MAX && strlen(s) == n;
    for (size_t i = 0; ok && i < n; i++)
        ok = s[i] >= '0' && s[i] <= '9';
    if (!ok)
        return http_error(r, 422, "validation", "pin: %d to %d digits",
                          ACC_PIN_MIN, ACC_PIN_MAX);
    *pin = s;
    return 0;
}

/* PUT /api/v1/extensions/{id}/pin */
static int extensions_pin_set(http_req_t *r)
{
    json_t *body;
    const char *pin;
    char hash[AUTH_HASH_MAX], ids[24];
    int st;
    int64_t id = http_subpath_id(r, "/pin");

    if ((st = http_pg_start(r)) != 0)
        return st;
    if (id == 0)
        return http_error(r, 404, "not_found", "no such extension");
    if (http_read_json(r, 0, &body) != 0)
        return r->status;
    st = ext_pin_field(r, body, &pin);
    if (st == 0 && auth_hash_password(pin, hash) != 0)
        st = http_error(r, 500, "internal", "PIN hashing failed");
    json_decref(body);                 /* the PIN goes with it */
    if (st != 0)
        return st;
    snprintf(ids, sizeof ids, "%" PRId64, id);
    if ((st = acc_begin(r)) != 0)
        return st;
    const char *p[2] = { ids, hash };
    PGresult *res = http_exec(r, "UPDATE extensions SET pin_hash = $2 "
                             "WHERE id = $1", 2, p);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "PIN update");
    int found = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    if (!found) {
        http_rollback(r);
        return http_error(r, 404, "not_found", "no extension %s", ids);
    }
    /* a new PIN starts a clean count (and lifts a lock) */
    res = http_exec(r, "DELETE FROM pin_attempts WHERE extension_id = $1", 1,
                   p);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "PIN attempts reset");
    PQclear(res);
    char object[40];
    snprintf(object, sizeof object, "extension:%s", ids);
    if ((st = http_audit_commit(r, "extension_pin_set", object, NULL)) != 0)
        return st;
    return http_json(r, 200, json_pack("{s:I,s:b}", "id", (json_int_t)id,
                                       "has_pin", 1));
}

/* Counts one attempt on extension ids before its PIN is checked, in one
 * statement (the row lock is held for that statement only): an attempt is
 * a failure until it is proven right, so concurrent guesses cannot slip
 * past the limit between a check and an increment. The attempt that
 * reaches PIN_MAX_FAILURES is still checked (the lock starts with it).
 * The row: pin_hash; locked (t: it was locked already, refused unchecked);
 * the seconds the lock has left, NULL when there is none (not NULL and not
 * locked: this very attempt started it). No row: no such extension. */
#define PIN_MAX_FAILURES  5
#define PIN_LOCK_SECONDS  "900"
#define PIN_ATTEMPT_SQL \
    "WITH e AS (SELECT id, pin_hash FROM extensions WHERE id = $1), " \
    "old AS (SELECT p.locked_until > now() AS locked FROM pin_attempts p " \
    "  JOIN e ON p.extension_id = e.id FOR UPDATE OF p), " \
    "a AS (INSERT INTO pin_attempts AS p (extension_id, failures, " \
    "  locked_until, last_failure) SELECT id, 1, NULL, now() FROM e " \
    "  ON CONFLICT (extension_id) DO UPDATE SET " \
    "  failures = CASE WHEN p.locked_until > now() THEN p.failures " \
    "    WHEN p.failures + 1 >= $2 THEN 0 ELSE p.failures + 1 END, " \
    "  locked_until = CASE WHEN p.locked_until > now() THEN p.locked_until " \
    "    WHEN p.failures + 1 >= $2 THEN now() + $3 * interval '1 second' " \
    "    ELSE NULL END, " \
    "  last_failure = now() RETURNING locked_until) " \
    "SELECT e.pin_hash, coalesce((SELECT locked FROM old), false), " \
    "  ceil(extract(epoch FROM (SELECT locked_until FROM a) - now()))::bigint " \
    "FROM e"

/* POST /api/v1/extensions/{id}/pin/verify (the only POST under
 * /api/v1/extensions/). At most PIN_MAX_FAILURES wrong PINs, then 429 for
 * PIN_LOCK_SECONDS (Retry-After), audited; a right PIN clears the count. */
static int extensions_pin_verify(http_req_t *r)
{
    json_t *body;
    const char *pin;
    char ids[24], maxf[8];
    int st;
    int64_t id = http_subpath_id(r, "/pin/verify");

    if ((st = http_pg_start(r)) != 0)
        return st;
    if (id == 0)
        return http_error(r, 404, "not_found", "no such path");
    if (http_read_json(r, 0, &body) != 0)
        return r->status;
    if ((st = ext_pin_field(r, body, &pin)) != 0) {
        json_decref(body);
        return st;
    }
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(maxf, sizeof maxf, "%d", PIN_MAX_FAILURES);
    const char *p[3] = { ids, maxf, PIN_LOCK_SECONDS };
    PGresult *res = http_exec(r, PIN_ATTEMPT_SQL, 3, p);
    if (!http_res_ok(res)) {
        json_decref(body);
        return http_db_fail(r, res, "PIN attempt");
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        json_decref(body);
        return http_error(r, 404, "not_found", "no extension %s", ids);
    }
    if (strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
        char secs[24];
        snprintf(secs, sizeof secs, "%s", PQgetvalue(res, 0, 2));
        PQclear(res);
        json_decref(body);
        http_header(r, "Retry-After", secs);
        return http_error(r, 429, "locked", "too many wrong PINs for "
                          "extension %s: locked for %s s", ids, secs);
    }
    /* No PIN set: verified against the dummy hash (same time), invalid. */
    int has = !PQgetisnull(res, 0, 0);
    int locks = !PQgetisnull(res, 0, 2);        /* this attempt locked it */
    const char *hash = has ? PQgetvalue(res, 0, 0) : auth_dummy_hash();
    int valid = hash != NULL && auth_verify_password(pin, hash) && has;
    PQclear(res);
    json_decref(body);
    if (valid) {
        const char *q[1] = { ids };
        res = http_exec(r, "DELETE FROM pin_attempts WHERE extension_id = $1",
                       1, q);
        if (!http_res_ok(res))
            return http_db_fail(r, res, "PIN attempts reset");
        PQclear(res);
    } else if (locks) {
        char object[40];
        snprintf(object, sizeof object, "extension:%s", ids);
        http_audit(r, "extension_pin_locked", object,
                   json_pack("{s:i,s:i}", "failures", PIN_MAX_FAILURES,
                             "seconds", atoi(PIN_LOCK_SECONDS)));
    }
    return http_json(r, 200, json_pack("{s:b}", "valid", valid));
}

const http_route_t api_accounts_routes[] = {
    { "GET", "/api/v1/accounts", HTTP_ROLE_VIEWER, accounts_list },
    { "POST", "/api/v1/accounts", HTTP_ROLE_OPERATOR, accounts_create },
    { "GET", "/api/v1/accounts/", HTTP_ROLE_VIEWER, accounts_get },
    { "PATCH", "/api/v1/accounts/", HTTP_ROLE_OPERATOR, accounts_patch },
    { "DELETE", "/api/v1/accounts/", HTTP_ROLE_OPERATOR, accounts_delete },
    { "GET", "/api/v1/extensions", HTTP_ROLE_VIEWER, extensions_list },
    { "POST", "/api/v1/extensions", HTTP_ROLE_OPERATOR, extensions_create },
    { "GET", "/api/v1/extensions/", HTTP_ROLE_VIEWER, extensions_get },
    { "PATCH", "/api/v1/extensions/", HTTP_ROLE_OPERATOR, extensions_patch },
    { "DELETE", "/api/v1/extensions/", HTTP_ROLE_OPERATOR,
      extensions_delete },
    { "PUT", "/api/v1/extensions/", HTTP_ROLE_OPERATOR, extensions_pin_set },
    { "POST", "/api/v1/extensions/", HTTP_ROLE_OPERATOR,
      extensions_pin_verify },
    { NULL, NULL, HTTP_ROLE_NONE, NULL }
};
