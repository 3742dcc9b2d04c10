/*
 * api_plans.c -- rate plans, zones, rates, deck import and export.
 *
 *   GET   /api/v1/plans                     viewer
 *   GET   /api/v1/plans/{id}                viewer: periods, windows, decks
 *   POST  /api/v1/plans                     admin
 *   PATCH /api/v1/plans/{id}                admin
 *   GET   /api/v1/plans/{id}/rates?prefix=&zone=&at=&after=&limit=  viewer
 *   POST  /api/v1/plans/{id}/deck[?dry_run=1][&create_zones=1]       admin
 *   GET   /api/v1/plans/{id}/deck.csv       viewer: streamed, chunked
 *   GET   /api/v1/zones[?tree=1]            viewer
 *   POST  /api/v1/zones                     admin
 *   PATCH /api/v1/zones/{id}                admin
 *
 * Plans: PostgreSQL first, then the reload. A plan the loader refuses
 * (time zone it cannot load, number rules it cannot use) is taken back
 * (a new plan deleted, a patched one restored) and answered 422 with the
 * loader's reason, so nothing is left half applied.
 *
 * Deck import, all or nothing:
 *   1. the body is read streaming (mg_read, 64 KiB at a time, at most
 *      admin.max_deck_mb) and parsed as it arrives (deck_csv.h);
 *   2. zone values are resolved (code first, then a unique name); unknown
 *      ones are errors unless ?create_zones=1 (refusing is the default: a
 *      typo in a carrier's file must not silently grow the zone tree);
 *   3. any bad row: 422 with every bad line (1000 listed, all counted);
 *   4. one transaction: lock the plan, COPY the rows into a temporary
 *      table, classify each against the rate in force now (new, changed,
 *      unchanged, closed), then set-based statements: delete the rates
 *      that were only scheduled (never applied), close the changed ones,
 *      INSERT ... SELECT the new ones with a new deck_versions row; audit;
 *      COMMIT; reload (the supervisor builds the new deck beside the old).
 *   ?dry_run=1 does 1-4 up to the classification and rolls back.
 *
 * When a change applies: a prefix the plan never rated keeps the file's
 * effective_from (even a past one); for a prefix with history the change
 * applies from max(effective_from, the import), never retroactively, so
 * CDRs already rated stay reproducible. A file row equal to the rate in
 * force (zone, amounts, increments, dates) changes nothing: re-importing
 * an export changes nothing.
 *
 * Time-of-day periods: a deck row may name one of the plan's periods
 * (column `period`); (prefix, period) is then what a row identifies, and
 * the history, the classification and the closing are per pair. A row
 * without a period is the prefix's rate outside every period. The export
 * writes the column, so an export re-imports unchanged (into a plan with
 * the same period names).
 *
 * NOTES
 * - QSBR: every handler goes offline at once; none reads the region.
 * - Zone names reach the region's decks (DECK_ZONE_NAME): longer than 47
 *   bytes would fail every reload, so they are refused here.
 */
#include "admin/api.h"
#include "admin/deck_csv.h"
#include "admin/http.h"
#include "admin/reload.h"

#include "shm/log.h"

#include <civetweb.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PL_LIMIT_DEF 100
#define PL_LIMIT_MAX 1000
#define PL_NAME_MAX  200
#define PL_ZNAME_MAX 47
#define PL_CHUNK     65536
#define PL_SAMPLE    20

/* ---- helpers ------------------------------------------------------------- */

/* A statement refused for its values (check, unique, foreign key,
 * exclusion): 409 unique, 422 others, with PostgreSQL's message; else
 * http_db_fail. */
static int pl_write_fail(http_req_t *r, PGresult *res, const char *what)
{
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (st != NULL && strncmp(st, "23", 2) == 0) {
        int status = strcmp(st, "23505") == 0 ? 409 : 422;
        char m[300];
        snprintf(m, sizeof m, "%s", msg ? msg : what);
        PQclear(res);
        http_rollback(r);
        return http_error(r, status, status == 409 ? "conflict"
                          : "validation", "%s", m);
    }
    return http_db_fail(r, res, what);
}

static int pl_run(http_req_t *r, const char *sql, const char *what)
{
    PGresult *res = PQexec(r->db, sql);
    if (!http_res_ok(res))
        return http_db_fail(r, res, what);
    PQclear(res);
    return 0;
}

static int pl_audit_commit(http_req_t *r, const char *action,
                           const char *object, json_t *details)
{
    if (http_audit(r, action, object, details) != 0) {
        http_rollback(r);
        return http_error(r, 500, "internal", "audit failed: nothing "
                          "changed");
    }
    return pl_run(r, "COMMIT", "commit");
}

static int64_t pl_i64(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static void j_money_col(json_t *o, const char *key, const PGresult *res,
                        int row, int col)
{
    char b[MONEY_STRLEN];
    money_format(pl_i64(res, row, col), b);
    json_object_set_new(o, key, json_string(b));
}

static void j_text(json_t *o, const char *key, const PGresult *res, int row,
                   int col)
{
    json_object_set_new(o, key, PQgetisnull(res, row, col) ? json_null()
                        : json_string(PQgetvalue(res, row, col)));
}

static void j_int(json_t *o, const char *key, const PGresult *res, int row,
                  int col)
{
    json_object_set_new(o, key, PQgetisnull(res, row, col) ? json_null()
                        : json_integer(pl_i64(res, row, col)));
}

/* 1 when the query has name=1 (or true). */
static int pl_flag(http_req_t *r, const char *name)
{
    char b[8];
    return http_query(r, name, b, sizeof b) != NULL
           && (strcmp(b, "1") == 0 || strcmp(b, "true") == 0);
}

/* Refuses keys outside allowed: 0, or 400 sent. */
static int pl_keys(http_req_t *r, json_t *body, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        int found = 0;
        for (int i = 0; allowed[i] != NULL; i++)
            found |= strcmp(key, allowed[i]) == 0;
        if (!found)
            return http_error(r, 400, "validation", "unknown field \"%s\"",
                              key);
    }
    return 0;
}

/* A string field: 0 with *out (NULL: absent), or 400/422 sent. */
static int pl_str(http_req_t *r, json_t *body, const char *k, size_t min,
                  size_t max, int required, const char **out)
{
    json_t *v = json_object_get(body, k);
    *out = NULL;
    if (v == NULL)
        return required ? http_error(r, 400, "validation", "%s is required",
                                     k) : 0;
    if (!json_is_string(v))
        return http_error(r, 400, "validation", "%s: a string", k);
    size_t n = json_string_length(v);
    if (n < min || n > max || strlen(json_string_value(v)) != n)
        return http_error(r, 422, "validation", "%s: %zu to %zu characters",
                          k, min, max);
    *out = json_string_value(v);
    return 0;
}

/* An optional id or null field: 0 with *out ("" null, NULL absent, else
 * the digits in buf), or 400 sent. */
static int pl_idf(http_req_t *r, json_t *body, const char *k, char buf[24],
                  const char **out)
{
    json_t *v = json_object_get(body, k);
    *out = NULL;
    if (v == NULL)
        return 0;
    if (json_is_null(v)) {
        *out = "";
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) <= 0)
        return http_error(r, 400, "validation", "%s: a positive integer or "
                          "null", k);
    snprintf(buf, 24, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    *out = buf;
    return 0;
}

/* Reloads; on failure err holds the reason. 0 or -1. */
static int pl_reload(http_req_t *r, char *err, size_t cap)
{
    if (r->rd != NULL)
        qsbr_offline(r->rd);
    return admin_reload(r->ctx, NULL, err, cap);
}

static double pl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- plans ------------------------------------------------------------------ */

#define PLAN_COLS "p.id, p.name, p.currency, p.time_zone, p.rounding, " \
    "p.number_rules, p.created_at, p.updated_at, (SELECT max(version) " \
    "FROM deck_versions v WHERE v.plan_id = p.id)"

static json_t *plan_json(const PGresult *res, int i)
{
    json_t *o = json_object();
    j_int(o, "id", res, i, 0);
    j_text(o, "name", res, i, 1);
    j_text(o, "currency", res, i, 2);
    j_text(o, "time_zone", res, i, 3);
    j_text(o, "rounding", res, i, 4);
    j_text(o, "number_rules", res, i, 5);
    j_text(o, "created_at", res, i, 6);
    j_text(o, "updated_at", res, i, 7);
    j_int(o, "deck_version", res, i, 8);
    return o;
}

static int plans_list(http_req_t *r)
{
    int st = http_pg_start(r);
    if (st)
        return st;
    PGresult *res = http_exec(r, "SELECT " PLAN_COLS " FROM rate_plans p "
                            "ORDER BY p.id", 0, NULL);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "list plans");
    json_t *a = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(a, plan_json(res, i));
    PQclear(res);
    return http_json(r, 200, json_pack("{s:o}", "plans", a));
}

/* The plan with its periods, windows and deck versions; NULL: 404/500
 * sent (*st). */
static json_t *plan_fetch(http_req_t *r, const char *ids, int *st)
{
    const char *p[1] = { ids };
    PGresult *res = http_exec(r, "SELECT " PLAN_COLS " FROM rate_plans p "
                            "WHERE p.id = $1", 1, p);
    if (!http_res_ok(res)) {
        *st = http_db_fail(r, res, "read plan");
        return NULL;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        *st = http_error(r, 404, "not_found", "no plan %s", ids);
        return NULL;
    }
    json_t *o = plan_json(res, 0);
    PQclear(res);
    res = http_exec(r, "SELECT p.id, p.name, w.id, w.wday_mask, w.start_min, "
                  "w.end_min FROM rate_periods p LEFT JOIN "
                  "rate_period_windows w ON w.period_id = p.id "
                  "WHERE p.plan_id = $1 ORDER BY p.id, w.start_min, w.id",
                  1, p);
    if (!http_res_ok(res)) {
        json_decref(o);
        *st = http_db_fail(r, res, "read periods");
        return NULL;
    }
    json_t *periods = json_array(), *cur = NULL;
    for (int i = 0; i < PQntuples(res); i++) {
        if (cur == NULL || json_integer_value(json_object_get(cur, "id"))
                               != pl_i64(res, i, 0)) {
            cur = json_object();
            j_int(cur, "id", res, i, 0);
            j_text(cur, "name", res, i, 1);
            json_object_set_new(cur, "windows", json_array());
            json_array_append_new(periods, cur);
        }
        if (PQgetisnull(res, i, 2))
            continue;
        json_t *w = json_object();
        j_int(w, "id", res, i, 2);
        j_int(w, "wday_mask", res, i, 3);
        j_int(w, "start_min", res, i, 4);
        j_int(w, "end_min", res, i, 5);
        json_array_append_new(json_object_get(cur, "windows"), w);
    }
    PQclear(res);
    json_object_set_new(o, "periods", periods);
    res = http_exec(r, "SELECT version, imported_at, actor, rows, note FROM "
                  "deck_versions WHERE plan_id = $1 ORDER BY version DESC "
                  "LIMIT 100", 1, p);
    if (!http_res_ok(res)) {
        json_decref(o);
        *st = http_db_fail(r, res, "read deck versions");
        return NULL;
    }
    json_t *decks = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *d = json_object();
        j_int(d, "version", res, i, 0);
        j_text(d, "imported_at", res, i, 1);
        j_text(d, "actor", res, i, 2);
        j_int(d, "rows", res, i, 3);
        j_text(d, "note", res, i, 4);
        json_array_append_new(decks, d);
    }
    PQclear(res);
    json_object_set_new(o, "deck_versions", decks);
    return o;
}

static const char *const plan_rounding[] = { "up", "down", "half_up", NULL };

typedef struct plan_in {
    const char *name, *currency, *tz, *rounding, *rules;
} plan_in_t;

static int plan_read(http_req_t *r, json_t *body, int create, plan_in_t *in)
{
    static const char *const keys_c[] = { "name", "currency", "time_zone",
        "rounding", "number_rules", NULL };
    static const char *const keys_p[] = { "name", "time_zone", "rounding",
        "number_rules", NULL };
    int st = pl_keys(r, body, create ? keys_c : keys_p);
    if (!st)
        st = pl_str(r, body, "name", 1, PL_NAME_MAX, create, &in->name);
    if (!st && create)
        st = pl_str(r, body, "currency", 3, 3, 1, &in->currency);
    if (!st)
        st = pl_str(r, body, "time_zone", 1, 64, 0, &in->tz);
    if (!st)
        st = pl_str(r, body, "rounding", 1, 16, 0, &in->rounding);
    if (!st)
        st = pl_str(r, body, "number_rules", 0, 1000, 0, &in->rules);
    if (st)
        return st;
    if (in->currency != NULL && strspn(in->currency,
                                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3)
        return http_error(r, 422, "validation", "currency: 3 capital "
                          "letters (ISO 4217)");
    if (in->rounding != NULL) {
        int found = 0;
        for (int i = 0; plan_rounding[i]; i++)
            found |= strcmp(in->rounding, plan_rounding[i]) == 0;
        if (!found)
            return http_error(r, 422, "validation", "rounding: up, down or "
                              "half_up");
    }
    return 0;
}

static int plans_create(http_req_t *r)
{
    int st = http_pg_start(r);
    if (st)
        return st;
    json_t *body;
    if (http_read_json(r, 0, &body) != 0)
        return r->status;
    plan_in_t in = { 0 };
    if ((st = plan_read(r, body, 1, &in)) != 0) {
        json_decref(body);
        return st;
    }
    const char *p[5] = { in.name, in.currency, in.tz ? in.tz : "UTC",
                         in.rounding ? in.rounding : "up",
                         in.rules ? in.rules : "" };
    if ((st = pl_run(r, "BEGIN", "begin")) != 0) {
        json_decref(body);
        return st;
    }
    PGresult *res = http_exec(r, "INSERT INTO rate_plans (name, currency, "
        "time_zone, rounding, number_rules) VALUES ($1, $2, $3, $4, $5) "
        "RETURNING id", 5, p);
    if (!http_res_ok(res)) {
        json_decref(body);
        return pl_write_fail(r, res, "insert plan");
    }
    char ids[24];
    snprintf(ids, sizeof ids, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    char obj[40];
    snprintf(obj, sizeof obj, "plan:%s", ids);
    st = pl_audit_commit(r, "plan.create", obj, json_deep_copy(body));
    json_decref(body);
    if (st)
        return st;
    char err[200];
    if (pl_reload(r, err, sizeof err) != 0) {
        /* Nothing refers to a plan created a moment ago but an account
         * created since; then the delete fails and the plan stays. */
        const char *q[1] = { ids };
        res = http_exec(r, "DELETE FROM rate_plans WHERE id = $1", 1, q);
        int undone = http_res_ok(res);
        PQclear(res);
        if (undone)
            http_audit(r, "plan.create_undone", obj,
                       json_pack("{s:s}", "reason", err));
        return http_error(r, 422, "validation", "the region refused the "
                          "plan (%s)%s", err, undone ? "; nothing was saved"
                          : "; it could not be removed again");
    }
    json_t *o = plan_fetch(r, ids, &st);
    return o ? http_json(r, 201, o) : st;
}

static int plans_patch(http_req_t *r, const char *ids)
{
    json_t *body;
    if (http_read_json(r, 0, &body) != 0)
        return r->status;
    plan_in_t in = { 0 };
    int st = plan_read(r, body, 0, &in);
    if (st) {
        json_decref(body);
        return st;
    }
    if ((st = pl_run(r, "BEGIN", "begin")) != 0) {
        json_decref(body);
        return st;
    }
    const char *q[1] = { ids };
    PGresult *res = http_exec(r, "SELECT name, time_zone, rounding, "
        "number_rules FROM rate_plans WHERE id = $1 FOR UPDATE", 1, q);
    if (!http_res_ok(res)) {
        json_decref(body);
        return http_db_fail(r, res, "read plan");
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        http_rollback(r);
        json_decref(body);
        return http_error(r, 404, "not_found", "no plan %s", ids);
    }
    char *old[4];
    for (int i = 0; i < 4; i++)
        old[i] = strdup(PQgetvalue(res, 0, i));
    PQclear(res);
    const char *p[5] = { ids, in.name, in.tz, in.rounding, in.rules };
    const char *set = "UPDATE rate_plans SET name = coalesce($2, name), "
        "time_zone = coalesce($3, time_zone), rounding = coalesce($4, "
        "rounding), number_rules = coalesce($5, number_rules) WHERE id = $1";
    res = http_exec(r, set, 5, p);
    if (!http_res_ok(res)) {
        json_decref(body);
        for (int i = 0; i < 4; i++)
            free(old[i]);
        return pl_write_fail(r, res, "update plan");
    }
    PQclear(res);
    char obj[40];
    snprintf(obj, sizeof obj, "plan:%s", ids);
    json_t *det = json_pack("{s:{s:s,s:s,s:s,s:s},s:O}", "before", "name",
        old[0], "time_zone", old[1], "rounding", old[2], "number_rules",
        old[3], "after", body);
    json_decref(body);
    if ((st = pl_audit_commit(r, "plan.update", obj, det)) != 0) {
        for (int i = 0; i < 4; i++)
            free(old[i]);
        return st;
    }
    char err[200];
    if (pl_reload(r, err, sizeof err) != 0) {
        const char *b[5] = { ids, old[0], old[1], old[2], old[3] };
        res = http_exec(r, set, 5, b);
        int undone = http_res_ok(res);
        PQclear(res);
        for (int i = 0; i < 4; i++)
            free(old[i]);
        if (undone)
            http_audit(r, "plan.update_undone", obj,
                       json_pack("{s:s}", "reason", err));
        return http_error(r, 422, "validation", "the region refused the "
                          "change (%s)%s", err, undone ? "; the plan is as "
                          "it was" : "; it could not be undone");
    }
    for (int i = 0; i < 4; i++)
        free(old[i]);
    json_t *o = plan_fetch(r, ids, &st);
    return o ? http_json(r, 200, o) : st;
}

/* ---- rates ------------------------------------------------------------------ */

static int rates_list(http_req_t *r, const char *ids)
{
    char prefix[32], zone[256], at[32], after[32], lim[16];
    const char *pp = http_query(r, "prefix", prefix, sizeof prefix);
    const char *pz = http_query(r, "zone", zone, sizeof zone);
    const char *pa = http_query(r, "at", at, sizeof at);
    const char *paf = http_query(r, "after", after, sizeof after);
    const char *pl = http_query(r, "limit", lim, sizeof lim);
    if (pp && *pp == '\0') pp = NULL;
    if (pz && *pz == '\0') pz = NULL;
    if (pa && *pa == '\0') pa = NULL;
    if (paf && *paf == '\0') paf = NULL;
    if ((pp && (strlen(pp) > 20 || strspn(pp, "0123456789") != strlen(pp)))
        || (paf && (strlen(paf) > 20
                    || strspn(paf, "0123456789") != strlen(paf))))
        return http_error(r, 400, "validation", "prefix and after: 1 to 20 "
                          "digits");
    if (pa && (strlen(pa) > 12 || strspn(pa, "0123456789") != strlen(pa)))
        return http_error(r, 400, "validation", "at: unix seconds");
    long limit = PL_LIMIT_DEF;
    if (pl != NULL) {
        char *end;
        limit = strtol(pl, &end, 10);
        if (*end != '\0' || limit < 1 || limit > PL_LIMIT_MAX)
            return http_error(r, 400, "validation", "limit: 1 to %d",
                              PL_LIMIT_MAX);
    }
    const char *q[1] = { ids };
    PGresult *res = http_exec(r, "SELECT 1 FROM rate_plans WHERE id = $1", 1,
                            q);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "read plan");
    int found = PQntuples(res) > 0;
    PQclear(res);
    if (!found)
        return http_error(r, 404, "not_found", "no plan %s", ids);
    char lims[16];
    snprintf(lims, sizeof lims, "%ld", limit + 1);
    const char *p[6] = { ids, pa, pp, pz, paf, lims };
    res = http_exec(r, "SELECT r.id, r.prefix, r.zone_id, z.code, z.name, "
        "r.period_id, pe.name, r.rate_per_minute, r.connection_fee, "
        "r.first_increment, r.next_increment, r.min_seconds, "
        "r.grace_seconds, r.effective_from, r.effective_to, r.deck_version "
        "FROM rates r JOIN zones z ON z.id = r.zone_id "
        "LEFT JOIN rate_periods pe ON pe.id = r.period_id "
        "WHERE r.plan_id = $1 "
        "AND r.effective_from <= coalesce(to_timestamp($2::bigint), now()) "
        "AND (r.effective_to IS NULL OR r.effective_to > "
        "coalesce(to_timestamp($2::bigint), now())) "
        "AND ($3::text IS NULL OR r.prefix LIKE $3 || '%') "
        "AND ($4::text IS NULL OR z.code = $4) "
        "AND ($5::text IS NULL OR r.prefix > $5 COLLATE \"C\") "
        "ORDER BY r.prefix, r.period_id NULLS FIRST LIMIT $6::int", 6, p);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "list rates");
    int n = PQntuples(res), more = n > limit;
    if (more) {
        /* Keyset by prefix: a page never splits one prefix's rows. */
        n = (int)limit;
        const char *cut = PQgetvalue(res, n, 1);
        int k = n;
        while (k > 0 && strcmp(PQgetvalue(res, k - 1, 1), cut) == 0)
            k--;
        if (k > 0)
            n = k;
    }
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        json_t *o = json_object();
        j_int(o, "id", res, i, 0);
        j_text(o, "prefix", res, i, 1);
        j_int(o, "zone_id", res, i, 2);
        j_text(o, "zone", res, i, 3);
        j_text(o, "zone_name", res, i, 4);
        j_int(o, "period_id", res, i, 5);
        j_text(o, "period", res, i, 6);
        j_money_col(o, "rate_per_minute", res, i, 7);
        j_money_col(o, "connection_fee", res, i, 8);
        j_int(o, "first_increment", res, i, 9);
        j_int(o, "next_increment", res, i, 10);
        j_int(o, "min_seconds", res, i, 11);
        j_int(o, "grace_seconds", res, i, 12);
        j_text(o, "effective_from", res, i, 13);
        j_text(o, "effective_to", res, i, 14);
        j_int(o, "deck_version", res, i, 15);
        json_array_append_new(a, o);
    }
    json_t *next = more && n > 0 ? json_string(PQgetvalue(res, n - 1, 1))
                                 : json_null();
    PQclear(res);
    return http_json(r, 200, json_pack("{s:I,s:o,s:o}", "plan_id",
                                       (json_int_t)strtoll(ids, NULL, 10),
                                       "rates", a, "next", next));
}

/* ---- zones -------------------------------------------------------------------- */

/* ?tree=1: the zones in tree order (each parent before its children,
 * siblings by code), with depth (0 for a root) and path ("Americas >
 * Argentina > Mobile"): what a tree view draws, indented by depth. The
 * path sorts by codes joined with a byte below any printable one, so that
 * "AR" and its children come before "ARX". */
#define ZONES_FLAT "SELECT id, code, name, parent_id, " \
    "min_authorization_level, NULL::int, NULL::text FROM zones ORDER BY id"
#define ZONES_TREE "WITH RECURSIVE t AS (" \
    "SELECT id, code, name, parent_id, min_authorization_level, 0 AS depth, " \
    "name AS path, code COLLATE \"C\" AS k FROM zones WHERE parent_id IS NULL " \
    "UNION ALL SELECT z.id, z.code, z.name, z.parent_id, " \
    "z.min_authorization_level, t.depth + 1, t.path || ' > ' || z.name, " \
    "t.k || chr(1) || z.code FROM zones z JOIN t ON z.parent_id = t.id) " \
    "SELECT id, code, name, parent_id, min_authorization_level, depth, path " \
    "FROM t ORDER BY k"

static int zones_list(http_req_t *r)
{
    char tree[8];
    int st = http_pg_start(r);
    if (st)
        return st;
    const char *tv = http_query(r, "tree", tree, sizeof tree);
    int as_tree = tv != NULL && (strcmp(tv, "1") == 0
                                 || strcmp(tv, "true") == 0);
    PGresult *res = http_exec(r, as_tree ? ZONES_TREE : ZONES_FLAT, 0, NULL);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "list zones");
    json_t *a = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *o = json_object();
        j_int(o, "id", res, i, 0);
        j_text(o, "code", res, i, 1);
        j_text(o, "name", res, i, 2);
        j_int(o, "parent_id", res, i, 3);
        j_int(o, "min_authorization_level", res, i, 4);
        if (as_tree) {
            j_int(o, "depth", res, i, 5);
            j_text(o, "path", res, i, 6);
        }
        json_array_append_new(a, o);
    }
    PQclear(res);
    return http_json(r, 200, json_pack("{s:o}", "zones", a));
}

static int zone_write(http_req_t *r, const char *ids)
{
    int st = http_pg_start(r);
    if (st)
        return st;
    json_t *body;
    if (http_read_json(r, 0, &body) != 0)
        return r->status;
    static const char *const keys_c[] = { "code", "name", "parent_id",
        "min_authorization_level", NULL };
    static const char *const keys_p[] = { "name", "parent_id",
        "min_authorization_level", NULL };
    const char *code = NULL, *name = NULL, *parent = NULL, *lvl = NULL;
    char pbuf[24], lbuf[24];
    st = pl_keys(r, body, ids ? keys_p : keys_c);
    if (!st && !ids)
        st = pl_str(r, body, "code", 1, 40, 1, &code);
    if (!st)
        st = pl_str(r, body, "name", 1, PL_ZNAME_MAX, !ids, &name);
    if (!st)
        st = pl_idf(r, body, "parent_id", pbuf, &parent);
    json_t *lv = json_object_get(body, "min_authorization_level");
    if (!st && lv != NULL) {
        if (!json_is_integer(lv) || json_integer_value(lv) < 0
            || json_integer_value(lv) > 1000000)
            st = http_error(r, 400, "validation", "min_authorization_level: "
                            "an integer >= 0");
        else {
            snprintf(lbuf, sizeof lbuf, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(lv));
            lvl = lbuf;
        }
    }
    if (st) {
        json_decref(body);
        return st;
    }
    if ((st = pl_run(r, "BEGIN", "begin")) != 0) {
        json_decref(body);
        return st;
    }
    PGresult *res;
    if (ids == NULL) {
        const char *p[4] = { code, name, parent && *parent ? parent : NULL,
                             lvl ? lvl : "0" };
        res = http_exec(r, "INSERT INTO zones (code, name, parent_id, "
            "min_authorization_level) VALUES ($1, $2, $3, $4) RETURNING id",
            4, p);
    } else {
        const char *p[5] = { ids, name, parent && *parent ? parent : NULL,
                             parent ? "1" : NULL, lvl };
        res = http_exec(r, "UPDATE zones SET name = coalesce($2, name), "
            "parent_id = CASE WHEN $4::int IS NULL THEN parent_id ELSE "
            "$3::bigint END, min_authorization_level = coalesce($5::int, "
            "min_authorization_level) WHERE id = $1 RETURNING id", 5, p);
    }
    if (!http_res_ok(res)) {
        json_decref(body);
        return pl_write_fail(r, res, ids ? "update zone" : "insert zone");
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        http_rollback(r);
        json_decref(body);
        return http_error(r, 404, "not_found", "no zone %s", ids);
    }
    char id[24], obj[40];
    snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    snprintf(obj, sizeof obj, "zone:%s", id);
    st = pl_audit_commit(r, ids ? "zone.update" : "zone.create", obj,
                         json_deep_copy(body));
    json_decref(body);
    if (st)
        return st;
    const char *q[1] = { id };
    res = http_exec(r, "SELECT id, code, name, parent_id, "
                  "min_authorization_level FROM zones WHERE id = $1", 1, q);
    if (!http_res_ok(res) || PQntuples(res) != 1)
        return http_db_fail(r, res, "read zone");
    json_t *o = json_object();
    j_int(o, "id", res, 0, 0);
    j_text(o, "code", res, 0, 1);
    j_text(o, "name", res, 0, 2);
    j_int(o, "parent_id", res, 0, 3);
    j_int(o, "min_authorization_level", res, 0, 4);
    PQclear(res);
    char err[200];
    if (pl_reload(r, err, sizeof err) != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "saved in PostgreSQL, but not yet live in "
                 "the region (%s)", err);
        json_object_set_new(o, "warning", json_string(msg));
    }
    return http_json(r, ids ? 200 : 201, o);
}

static int zones_create(http_req_t *r)
{
    return zone_write(r, NULL);
}

static int zones_patch(http_req_t *r)
{
    char ids[24];
    int64_t id = http_subpath_id(r, "");
    if (id == 0) {
        http_pg_start(r);
        return http_error(r, 404, "not_found", "no such zone");
    }
    snprintf(ids, sizeof ids, "%" PRId64, id);
    return zone_write(r, ids);
}

/* ---- deck import ----------------------------------------------------------- */

/* Appends s to an array literal {"..",".."} (quotes and backslashes
 * escaped). */
static int pl_arr_add(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t need = *len + strlen(s) * 2 + 4;
    if (need > *cap) {
        size_t c = need * 2;
        char *b = realloc(*buf, c);
        if (b == NULL)
            return -1;
        *buf = b;
        *cap = c;
    }
    char *o = *buf + *len;
    *o++ = *len > 1 ? ',' : '{';
    if (*len <= 1)
        o = *buf + 1;
    *o++ = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            *o++ = '\\';
        *o++ = *s;
    }
    *o++ = '"';
    *len = (size_t)(o - *buf);
    return 0;
}

/* Zone values to ids (code first, then a unique name); unknown ones are
 * row errors or, with create, zones to make (zid 0). 0, or status sent. */
static int dk_zones(http_req_t *r, dcsv_t *d, int64_t *zid, int create,
                      uint32_t *ncreate)
{
    char *arr = malloc(2);
    size_t len = 1, cap = 2;
    if (arr == NULL)
        return http_error(r, 500, "internal", "out of memory");
    arr[0] = '{';
    for (uint32_t i = 0; i < d->nzones; i++)
        if (pl_arr_add(&arr, &len, &cap, d->zones[i]) != 0) {
            free(arr);
            return http_error(r, 500, "internal", "out of memory");
        }
    if (d->nzones == 0)
        len = 1;
    char *a2 = realloc(arr, len + 2);
    if (a2 == NULL) {
        free(arr);
        return http_error(r, 500, "internal", "out of memory");
    }
    arr = a2;
    arr[len] = '}';
    arr[len + 1] = '\0';
    const char *p[1] = { arr };
    PGresult *res = http_exec(r, "SELECT u.i, z.id, (SELECT count(*) FROM "
        "zones n WHERE n.name = u.v), (SELECT min(id) FROM zones n WHERE "
        "n.name = u.v) FROM unnest($1::text[]) WITH ORDINALITY u(v, i) "
        "LEFT JOIN zones z ON z.code = u.v ORDER BY u.i", 1, p);
    free(arr);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "resolve zones");
    *ncreate = 0;
    for (int k = 0; k < PQntuples(res) && (uint32_t)k < d->nzones; k++) {
        uint32_t i = (uint32_t)(pl_i64(res, k, 0) - 1);
        const char *v = d->zones[i];
        if (!PQgetisnull(res, k, 1))
            zid[i] = pl_i64(res, k, 1);
        else if (pl_i64(res, k, 2) == 1)
            zid[i] = pl_i64(res, k, 3);
        else if (pl_i64(res, k, 2) > 1)
            dcsv_error(d, d->zone_line[i], "zone \"%.60s\": %" PRId64
                       " zones have this name; use the code", v,
                       pl_i64(res, k, 2));
        else if (!create)
            dcsv_error(d, d->zone_line[i], "zone \"%.60s\": unknown (create "
                       "it first, or import with ?create_zones=1)", v);
        else if (strlen(v) > 40)
            dcsv_error(d, d->zone_line[i], "zone \"%.60s\": a new zone's "
                       "code is at most 40 characters", v);
        else {
            zid[i] = 0;
            (*ncreate)++;
        }
    }
    PQclear(res);
    return 0;
}

/* The file's period names as the plan's period ids (pid[1 + i] for
 * d->periods[i]; pid[0] = 0, no period): 0, or the status sent. An
 * unknown name is a row error on the first line naming it (periods are
 * the plan's own: POST /api/v1/plans/{id}/periods). */
static int dk_periods(http_req_t *r, const char *ids, dcsv_t *d,
                      int64_t *pid)
{
    pid[0] = 0;
    for (uint32_t i = 0; i < d->nperiods; i++) {
        const char *p[2] = { ids, d->periods[i] };
        PGresult *res = http_exec(r, "SELECT id FROM rate_periods WHERE "
                                "plan_id = $1 AND name = $2", 2, p);
        if (!http_res_ok(res))
            return http_db_fail(r, res, "resolve periods");
        if (PQntuples(res) == 1)
            pid[1 + i] = pl_i64(res, 0, 0);
        else
            dcsv_error(d, d->period_line[i], "period \"%.64s\": the plan "
                       "has no such period", d->periods[i]);
        PQclear(res);
    }
    return 0;
}

static int dk_bad_rows(http_req_t *r, dcsv_t *d)
{
    json_t *rows = json_array();
    for (size_t i = 0; i < d->nerrs; i++)
        json_array_append_new(rows, json_pack("{s:i,s:s}", "line",
                              (int)d->errs[i].line, "error", d->errs[i].msg));
    char msg[64];
    snprintf(msg, sizeof msg, "%zu bad rows", d->nbad);
    return http_json(r, 422, json_pack("{s:{s:s,s:s,s:I,s:o}}", "error",
                     "code", "validation", "message", msg, "bad_rows",
                     (json_int_t)d->nbad, "rows", rows));
}

static void dk_time(char *buf, size_t cap, int64_t t)
{
    if (t == 0) {
        snprintf(buf, cap, "\\N");
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, cap, "%Y-%m-%d %H:%M:%S+00", &tm);
}

/* COPY the valid rows into deck_in: 0, or status sent. */
static int dk_copy(http_req_t *r, const dcsv_t *d, const int64_t *zid,
                   const int64_t *pid)
{
    PGresult *res = PQexec(r->db, "COPY deck_in FROM STDIN");
    if (PQresultStatus(res) != PGRES_COPY_IN)
        return http_db_fail(r, res, "copy deck");
    PQclear(res);
    char *buf = malloc(PL_CHUNK * 4);
    if (buf == NULL)
        return http_error(r, 500, "internal", "out of memory");
    size_t len = 0;
    int bad = 0;
    for (size_t i = 0; i < d->nrows && !bad; i++) {
        const dcsv_row_t *w = &d->rows[i];
        char f[40], t[40], pe[24];
        dk_time(f, sizeof f, w->from);
        dk_time(t, sizeof t, w->to);
        if (w->period == 0)
            snprintf(pe, sizeof pe, "\\N");
        else
            snprintf(pe, sizeof pe, "%" PRId64, pid[w->period]);
        len += (size_t)snprintf(buf + len, PL_CHUNK * 4 - len,
            "%s\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%u\t%u\t%s\t%s\t%c\t"
            "%u\t%s\n", w->prefix, zid[w->zone], w->rate, w->fee, w->first,
            w->next, f, t, w->closed ? 't' : 'f', w->line, pe);
        if (len > PL_CHUNK * 3 || i + 1 == d->nrows) {
            bad = PQputCopyData(r->db, buf, (int)len) != 1;
            len = 0;
        }
    }
    free(buf);
    if (PQputCopyEnd(r->db, bad ? "aborted" : NULL) != 1)
        bad = 1;
    res = PQgetResult(r->db);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return http_db_fail(r, res, "copy deck");
    PQclear(res);
    while ((res = PQgetResult(r->db)) != NULL)
        PQclear(res);
    return bad ? http_error(r, 500, "internal", "copy deck failed") : 0;
}

#define DK_NOW "date_trunc('second', now())"

static const char dk_classify[] =
    "CREATE TEMP TABLE deck_cls ON COMMIT DROP AS "
    "SELECT s.*, c.id AS cur_id, h.prefix IS NOT NULL AS hist, "
    "CASE WHEN s.closed THEN CASE WHEN c.id IS NULL THEN 'n' ELSE 'x' END "
    "     WHEN c.id IS NULL THEN 'a' "
    "     WHEN c.zone_id = s.zone_id AND c.rate_per_minute = s.rate "
    "      AND c.connection_fee = s.fee AND c.first_increment = s.fi "
    "      AND c.next_increment = s.ni "
    "      AND (s.eff_from IS NULL OR s.eff_from = c.effective_from) "
    "      AND c.effective_to IS NOT DISTINCT FROM s.eff_to THEN 'u' "
    "     ELSE 'c' END AS action, "
    "CASE WHEN h.prefix IS NULL THEN coalesce(s.eff_from, " DK_NOW ") "
    "     ELSE greatest(coalesce(s.eff_from, " DK_NOW "), " DK_NOW ") "
    "END AS t "
    "FROM deck_in s "
    "LEFT JOIN rates c ON c.plan_id = $1 "
    " AND c.period_id IS NOT DISTINCT FROM s.period_id "
    " AND c.prefix = s.prefix AND c.effective_from <= " DK_NOW
    " AND (c.effective_to IS NULL OR c.effective_to > " DK_NOW ") "
    "LEFT JOIN (SELECT DISTINCT prefix, period_id FROM rates "
    " WHERE plan_id = $1) h ON h.prefix = s.prefix "
    " AND h.period_id IS NOT DISTINCT FROM s.period_id";

/* Creates the zones of zid 0 (code = name = the file's value). */
static int dk_make_zones(http_req_t *r, const dcsv_t *d, int64_t *zid,
                           json_t *made)
{
    for (uint32_t i = 0; i < d->nzones; i++) {
        if (zid[i] != 0)
            continue;
        char nm[PL_ZNAME_MAX + 1];
        snprintf(nm, sizeof nm, "%s", d->zones[i]);
        const char *p[2] = { d->zones[i], nm };
        PGresult *res = http_exec(r, "INSERT INTO zones (code, name) VALUES "
                                "($1, $2) RETURNING id", 2, p);
        if (!http_res_ok(res))
            return pl_write_fail(r, res, "create zone");
        zid[i] = pl_i64(res, 0, 0);
        PQclear(res);
        json_array_append_new(made, json_string(d->zones[i]));
    }
    return 0;
}

/* Step 4 (see the top): 0 never; the status sent. */
static int dk_write(http_req_t *r, const char *ids, const dcsv_t *d,
                      int64_t *zid, const int64_t *pid, uint32_t ncreate,
                      int dry, double t_parse)
{
    double t1 = pl_now();
    const char *q[1] = { ids };
    int st = pl_run(r, "BEGIN", "begin");
    if (st)
        return st;
    PGresult *res = http_exec(r, "SELECT 1 FROM rate_plans WHERE id = $1 "
                            "FOR UPDATE", 1, q);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "lock plan");
    PQclear(res);
    json_t *made = json_array();
    if (ncreate > 0 && (st = dk_make_zones(r, d, zid, made)) != 0) {
        json_decref(made);
        return st;
    }
    if ((st = pl_run(r, "CREATE TEMP TABLE deck_in (prefix text COLLATE "
            "\"C\", zone_id bigint, rate bigint, fee bigint, fi int, ni int, "
            "eff_from timestamptz, eff_to timestamptz, closed bool, line int, "
            "period_id bigint) ON COMMIT DROP", "create deck_in")) != 0
        || (st = dk_copy(r, d, zid, pid)) != 0) {
        json_decref(made);
        return st;
    }
    res = http_exec(r, dk_classify, 1, q);
    if (!http_res_ok(res)) {
        json_decref(made);
        return http_db_fail(r, res, "classify deck");
    }
    PQclear(res);
    /* A change whose end is not after its start (a past effective_to on
     * a prefix with history): a row error, found only now. */
    res = http_exec(r, "SELECT line FROM deck_cls WHERE action IN ('a','c') "
                  "AND eff_to IS NOT NULL AND eff_to <= t ORDER BY line", 0,
                  NULL);
    if (!http_res_ok(res)) {
        json_decref(made);
        return http_db_fail(r, res, "check deck");
    }
    if (PQntuples(res) > 0) {
        dcsv_t *e = dcsv_new();
        for (int i = 0; e != NULL && i < PQntuples(res); i++)
            dcsv_error(e, (uint32_t)pl_i64(res, i, 0), "effective_to: not "
                       "after the time the change applies (the import)");
        PQclear(res);
        http_rollback(r);
        json_decref(made);
        st = e ? dk_bad_rows(r, e) : http_error(r, 500, "internal", "oom");
        dcsv_free(e);
        return st;
    }
    PQclear(res);
    res = http_exec(r, "SELECT count(*) FILTER (WHERE action = 'a'), "
        "count(*) FILTER (WHERE action = 'c'), count(*) FILTER (WHERE "
        "action = 'x'), count(*) FILTER (WHERE action IN ('u','n')) "
        "FROM deck_cls", 0, NULL);
    if (!http_res_ok(res)) {
        json_decref(made);
        return http_db_fail(r, res, "count deck");
    }
    json_t *out = json_pack("{s:I,s:I,s:I,s:I,s:I,s:o}",
        "rows", (json_int_t)d->nrows, "new", (json_int_t)pl_i64(res, 0, 0),
        "changed", (json_int_t)pl_i64(res, 0, 1),
        "closed", (json_int_t)pl_i64(res, 0, 2),
        "unchanged", (json_int_t)pl_i64(res, 0, 3), "zones_created", made);
    PQclear(res);
    if (dry) {
        res = http_exec(r, "SELECT line, prefix, CASE action WHEN 'a' THEN "
            "'new' WHEN 'c' THEN 'changed' ELSE 'closed' END FROM deck_cls "
            "WHERE action IN ('a','c','x') ORDER BY line LIMIT 20", 0, NULL);
        if (!http_res_ok(res)) {
            json_decref(out);
            return http_db_fail(r, res, "sample deck");
        }
        json_t *sample = json_array();
        for (int i = 0; i < PQntuples(res); i++)
            json_array_append_new(sample, json_pack("{s:I,s:s,s:s}", "line",
                (json_int_t)pl_i64(res, i, 0), "prefix",
                PQgetvalue(res, i, 1), "action", PQgetvalue(res, i, 2)));
        PQclear(res);
        http_rollback(r);
        json_object_set_new(out, "dry_run", json_true());
        json_object_set_new(out, "sample", sample);
        json_object_set_new(out, "seconds_parse", json_real(t_parse));
        return http_json(r, 200, out);
    }
    char nrows[24];
    snprintf(nrows, sizeof nrows, "%zu", d->nrows);
    const char *pv[3] = { ids, r->user, nrows };
    res = http_exec(r, "INSERT INTO deck_versions (plan_id, actor, rows, note) "
        "VALUES ($1, $2, $3, 'API import') RETURNING version", 3, pv);
    if (!http_res_ok(res)) {
        json_decref(out);
        return pl_write_fail(r, res, "new deck version");
    }
    char ver[24];
    snprintf(ver, sizeof ver, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    const char *p2[2] = { ids, ver };
    static const char *const steps[3] = {
        /* rates only scheduled (never applied) for a touched prefix */
        "DELETE FROM rates r USING deck_cls s WHERE r.plan_id = $1 "
        "AND r.period_id IS NOT DISTINCT FROM s.period_id "
        "AND r.prefix = s.prefix AND s.hist "
        "AND s.action IN ('a','c','x') AND r.effective_from >= s.t "
        "AND $2::bigint > 0",
        "UPDATE rates r SET effective_to = s.t FROM deck_cls s "
        "WHERE r.id = s.cur_id AND s.action IN ('c','x') "
        "AND (r.effective_to IS NULL OR r.effective_to > s.t) "
        "AND r.plan_id = $1 AND $2::bigint > 0",
        "INSERT INTO rates (plan_id, prefix, zone_id, rate_per_minute, "
        "connection_fee, first_increment, next_increment, effective_from, "
        "effective_to, deck_version, period_id) SELECT $1, prefix, zone_id, "
        "rate, fee, fi, ni, t, eff_to, $2, period_id FROM deck_cls "
        "WHERE action IN ('a','c')" };
    for (int k = 0; k < 3; k++) {
        res = http_exec(r, steps[k], 2, p2);
        if (!http_res_ok(res)) {
            json_decref(out);
            return pl_write_fail(r, res, "write deck");
        }
        PQclear(res);
    }
    char obj[40];
    snprintf(obj, sizeof obj, "plan:%s", ids);
    json_t *det = json_deep_copy(out);
    json_object_set_new(det, "deck_version", json_integer(strtoll(ver, NULL,
                                                                  10)));
    if ((st = pl_audit_commit(r, "deck.import", obj, det)) != 0) {
        json_decref(out);
        return st;
    }
    double t2 = pl_now();
    char err[200];
    int rl = pl_reload(r, err, sizeof err);
    double t3 = pl_now();
    json_object_set_new(out, "deck_version", json_integer(strtoll(ver, NULL,
                                                                  10)));
    json_object_set_new(out, "seconds_parse", json_real(t_parse));
    json_object_set_new(out, "seconds_copy", json_real(t2 - t1));
    json_object_set_new(out, "seconds_reload", json_real(t3 - t2));
    if (rl != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "saved in PostgreSQL, but not yet live in "
                 "the region (%s); the next reload publishes it", err);
        json_object_set_new(out, "warning", json_string(msg));
    }
    LOG_INFO("api", "plan %s: deck version %s imported, %zu rows, %.2f s "
             "parse, %.2f s write, %.2f s reload", ids, ver, d->nrows,
             t_parse, t2 - t1, t3 - t2);
    return http_json(r, 201, out);
}

static int dk_import(http_req_t *r, const char *ids)
{
    double t0 = pl_now();
    int dry = pl_flag(r, "dry_run"), create = pl_flag(r, "create_zones");
    const char *q[1] = { ids };
    PGresult *res = http_exec(r, "SELECT 1 FROM rate_plans WHERE id = $1", 1,
                            q);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "read plan");
    int found = PQntuples(res) > 0;
    PQclear(res);
    if (!found)
        return http_error(r, 404, "not_found", "no plan %s", ids);
    long long clen = r->ri->content_length;
    unsigned long long max = (unsigned long long)r->ctx->conf
                                 ->admin_max_deck_mb * 1024 * 1024;
    if (clen < 0)
        return http_error(r, 411, "length_required", "a deck needs a "
                          "Content-Length");
    if ((unsigned long long)clen > max)
        return http_error(r, 413, "too_large", "the deck is over %llu MB "
                          "(admin.max_deck_mb)", max >> 20);
    dcsv_t *d = dcsv_new();
    char *buf = malloc(PL_CHUNK);
    if (d == NULL || buf == NULL) {
        dcsv_free(d);
        free(buf);
        return http_error(r, 500, "internal", "out of memory");
    }
    long long got = 0;
    while (got < clen) {
        size_t want = (size_t)(clen - got) < PL_CHUNK ? (size_t)(clen - got)
                                                      : PL_CHUNK;
        int n = mg_read(r->conn, buf, want);
        if (n <= 0)
            break;
        got += n;
        dcsv_feed(d, buf, (size_t)n);
    }
    free(buf);
    if (got < clen) {
        dcsv_free(d);
        return http_error(r, 400, "validation", "the body ended after %lld "
                          "of %lld bytes", got, clen);
    }
    dcsv_finish(d);
    double t_parse = pl_now() - t0;
    int64_t *zid = calloc(d->nzones + 1, sizeof *zid);
    int64_t pid[DCSV_PERIODS + 1];
    uint32_t ncreate = 0;
    int st = 0;
    if (zid == NULL)
        st = http_error(r, 500, "internal", "out of memory");
    else if (!d->fatal
             && (st = dk_zones(r, d, zid, create, &ncreate)) == 0)
        st = dk_periods(r, ids, d, pid);
    if (st == 0 && d->nbad > 0) {
        dcsv_sort_errors(d);
        st = dk_bad_rows(r, d);
    }
    if (st == 0)
        st = dk_write(r, ids, d, zid, pid, ncreate, dry, t_parse);
    dcsv_free(d);
    free(zid);
    return st;
}

/* ---- deck export ------------------------------------------------------------- */

static int chunk_flush(http_req_t *r, char *buf, size_t *len)
{
    int rc = *len > 0 ? mg_send_chunk(r->conn, buf, (unsigned)*len) : 1;
    *len = 0;
    return rc > 0 ? 0 : -1;
}

static int dk_export(http_req_t *r, const char *ids)
{
    const char *q[1] = { ids };
    PGresult *res = http_exec(r, "SELECT 1 FROM rate_plans WHERE id = $1", 1,
                            q);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "read plan");
    int found = PQntuples(res) > 0;
    PQclear(res);
    if (!found)
        return http_error(r, 404, "not_found", "no plan %s", ids);
    /* COPY takes no parameters: ids is digits only (http_subpath_id). */
    char sql[2048];
    snprintf(sql, sizeof sql, "COPY (SELECT r.prefix, z.code AS zone, "
        "(r.rate_per_minute / 1000000)::text || '.' || "
        "lpad((r.rate_per_minute %% 1000000)::text, 6, '0') AS "
        "rate_per_minute, (r.connection_fee / 1000000)::text || '.' || "
        "lpad((r.connection_fee %% 1000000)::text, 6, '0') AS "
        "connection_fee, r.first_increment, r.next_increment, "
        "to_char(r.effective_from AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD HH24:MI:SS') AS effective_from, "
        "to_char(r.effective_to AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') "
        "AS effective_to, pe.name AS period FROM rates r "
        "JOIN zones z ON z.id = r.zone_id "
        "LEFT JOIN rate_periods pe ON pe.id = r.period_id "
        "WHERE r.plan_id = %s "
        "AND r.effective_from <= now() AND (r.effective_to IS NULL OR "
        "r.effective_to > now()) ORDER BY r.prefix, pe.name NULLS FIRST) "
        "TO STDOUT WITH (FORMAT csv, HEADER)", ids);
    res = PQexec(r->db, sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT)
        return http_db_fail(r, res, "export deck");
    PQclear(res);
    r->status = 200;
    struct mg_connection *c = r->conn;
    char disp[80];
    snprintf(disp, sizeof disp, "attachment; filename=\"plan-%s.csv\"", ids);
    mg_response_header_start(c, 200);
    mg_response_header_add(c, "Content-Type", "text/csv; charset=utf-8", -1);
    mg_response_header_add(c, "Transfer-Encoding", "chunked", -1);
    mg_response_header_add(c, "Content-Disposition", disp, -1);
    mg_response_header_add(c, "X-Content-Type-Options", "nosniff", -1);
    mg_response_header_add(c, "Cache-Control", "no-store", -1);
    mg_response_header_send(c);
    char *buf = malloc(PL_CHUNK);
    size_t len = 0;
    int broken = buf == NULL;
    for (;;) {
        char *line;
        int n = PQgetCopyData(r->db, &line, 0);
        if (n < 0)
            break;
        if (!broken && len + (size_t)n > PL_CHUNK)
            broken = chunk_flush(r, buf, &len) != 0;
        if (!broken && (size_t)n <= PL_CHUNK) {
            memcpy(buf + len, line, (size_t)n);
            len += (size_t)n;
        }
        PQfreemem(line);
    }
    if (!broken)
        broken = chunk_flush(r, buf, &len) != 0;
    free(buf);
    while ((res = PQgetResult(r->db)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            LOG_ERROR("api", 0, "export deck of plan %s: %s", ids,
                      PQerrorMessage(r->db));
            broken = 1;
        }
        PQclear(res);
    }
    if (!broken)
        mg_send_chunk(c, "", 0);          /* the last chunk */
    return 200;
}

/* ---- dispatch ------------------------------------------------------------------ */

static int plans_sub_get(http_req_t *r)
{
    int st = http_pg_start(r);
    if (st)
        return st;
    char ids[24];
    int64_t id;
    if ((id = http_subpath_id(r, "")) != 0) {
        snprintf(ids, sizeof ids, "%" PRId64, id);
        json_t *o = plan_fetch(r, ids, &st);
        return o ? http_json(r, 200, o) : st;
    }
    if ((id = http_subpath_id(r, "/rates")) != 0) {
        snprintf(ids, sizeof ids, "%" PRId64, id);
        return rates_list(r, ids);
    }
    if ((id = http_subpath_id(r, "/deck.csv")) != 0) {
        snprintf(ids, sizeof ids, "%" PRId64, id);
        return dk_export(r, ids);
    }
    return http_error(r, 404, "not_found", "no such resource");
}

static int plans_sub_patch(http_req_t *r)
{
    int st = http_pg_start(r);
    if (st)
        return st;
    int64_t id = http_subpath_id(r, "");
    if (id == 0)
        return http_error(r, 404, "not_found", "no such plan");
    char ids[24];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    return plans_patch(r, ids);
}

static int plans_sub_post(http_req_t *r)
{
    int st = http_pg_start(r);
    if (st)
        return st;
    int64_t id = http_subpath_id(r, "/deck");
    if (id == 0)
        return http_error(r, 404, "not_found", "no such resource");
    char ids[24];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    return dk_import(r, ids);
}

const http_route_t api_plans_routes[] = {
    { "GET",   "/api/v1/plans",  HTTP_ROLE_VIEWER, plans_list },
    { "POST",  "/api/v1/plans",  HTTP_ROLE_ADMIN,  plans_create },
    { "GET",   "/api/v1/plans/", HTTP_ROLE_VIEWER, plans_sub_get },
    { "PATCH", "/api/v1/plans/", HTTP_ROLE_ADMIN,  plans_sub_patch },
    { "POST",  "/api/v1/plans/", HTTP_ROLE_ADMIN,  plans_sub_post },
    { "GET",   "/api/v1/zones",  HTTP_ROLE_VIEWER, zones_list },
    { "POST",  "/api/v1/zones",  HTTP_ROLE_ADMIN,  zones_create },
    { "PATCH", "/api/v1/zones/", HTTP_ROLE_ADMIN,  zones_patch },
    { NULL, NULL, HTTP_ROLE_NONE, NULL }
};
