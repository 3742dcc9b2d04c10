/*
 * api_periods.c -- a rate plan's time-of-day periods ("peak", "night")
 * and the windows that say when each applies (see admin/README.md).
 *
 *   GET    /api/v1/periods?plan_id=            viewer
 *   POST   /api/v1/periods                     admin
 *          {"plan_id", "name", "windows": [{"days", "start", "end"}]}
 *   PUT    /api/v1/periods/{id}                admin  {"windows": [...]}
 *   DELETE /api/v1/periods/{id}                admin
 *
 * A window is days + local times of the plan's time zone: "days" is
 * "mon-fri", "sat,sun", "all", or a list ["mon", "tue"]; "start" and
 * "end" are "HH:MM", end "24:00" allowed. A window whose end is not after
 * its start crosses midnight ("22:00" to "06:00" on mon-fri): it is stored
 * as two, [22:00, 24:00) on the days given and [00:00, 06:00) on the
 * following days, the shape sql/002 keeps (one moment, one period: the
 * overlap trigger answers 422 for a window that takes another period's
 * time).
 *
 * Every change is one transaction (period, windows, audit), then the
 * region is reloaded, so the engine rates with the new windows at once; a
 * rate deck names periods by name (deck_csv.h, column `period`). A period
 * that any rate refers to, even a closed one, cannot be deleted (409):
 * its rates are the history past calls were rated by.
 */
#include "admin/api.h"

#include "admin/http.h"
#include "admin/reload.h"
#include "shm/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PER_NAME_MAX    64          /* = DCSV_PERIOD_MAX */
#define PER_WINDOWS_MAX 32          /* windows of one period, as given */

typedef struct per_window {
    int mask;                       /* bit 0 = Sunday .. bit 6 = Saturday */
    int start, end;                 /* minutes, [start, end) */
} per_window_t;

static const char *const per_days[7] = {
    "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

/* ---- parsing --------------------------------------------------------------- */

static int per_day(const char *s, size_t n)
{
    for (int d = 0; d < 7; d++)
        if (n == 3 && strncasecmp(s, per_days[d], 3) == 0)
            return d;
    return -1;
}

/* "mon", "mon-fri" (wrapping: "fri-mon"), into *mask: 0 or -1. */
static int per_day_item(const char *s, size_t n, int *mask)
{
    const char *dash = memchr(s, '-', n);
    int a = per_day(s, dash ? (size_t)(dash - s) : n);
    int b = dash ? per_day(dash + 1, n - (size_t)(dash - s) - 1) : a;
    if (a < 0 || b < 0)
        return -1;
    for (int d = a; ; d = (d + 1) % 7) {
        *mask |= 1 << d;
        if (d == b)
            break;
    }
    return 0;
}

/* "days": a string ("mon-fri,sat", "all") or an array of such strings. */
static int per_days_mask(const json_t *v, int *mask)
{
    *mask = 0;
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) {
            int m;
            if (!json_is_string(e) || per_days_mask(e, &m) != 0)
                return -1;
            *mask |= m;
        }
        return *mask != 0 ? 0 : -1;
    }
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    if (strcasecmp(s, "all") == 0) {
        *mask = 0x7f;
        return 0;
    }
    while (*s != '\0') {
        size_t n = strcspn(s, ",");
        while (n > 0 && s[0] == ' ') {
            s++;
            n--;
        }
        if (per_day_item(s, n, mask) != 0)
            return -1;
        s += n;
        if (*s == ',')
            s++;
    }
    return *mask != 0 ? 0 : -1;
}

/* "HH:MM" (00:00..24:00) into minutes: 0 or -1. */
static int per_time(const json_t *v, int *min)
{
    const char *s = json_string_value(v);
    if (s == NULL || strlen(s) != 5 || s[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + s[1] - '0', m = (s[3] - '0') * 10 + s[4] - '0';
    if (h > 24 || m > 59 || (h == 24 && m != 0))
        return -1;
    *min = h * 60 + m;
    return 0;
}

/* The days after those of mask (a window's part past midnight). */
static int per_next_days(int mask)
{
    return ((mask << 1) | (mask >> 6)) & 0x7f;
}

/* "windows" into w[] (midnight crossings split): the count, or the status
 * sent (negative). */
static int per_windows(http_req_t *r, const json_t *v, per_window_t *w)
{
    if (!json_is_array(v) || json_array_size(v) == 0
        || json_array_size(v) > PER_WINDOWS_MAX)
        return -http_error(r, 400, "validation", "windows: an array of 1 to "
                           "%d {\"days\", \"start\", \"end\"}",
                           PER_WINDOWS_MAX);
    int n = 0;
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e) {
        int mask, a, b;
        if (!json_is_object(e) || json_object_size(e) != 3
            || per_days_mask(json_object_get(e, "days"), &mask) != 0
            || per_time(json_object_get(e, "start"), &a) != 0
            || per_time(json_object_get(e, "end"), &b) != 0 || a == 1440)
            return -http_error(r, 422, "validation", "windows[%zu]: "
                               "{\"days\": \"mon-fri\", \"start\": \"08:00\", "
                               "\"end\": \"20:00\"} (24:00 as an end only)",
                               i);
        if (b == 0)
            b = 1440;                   /* "until midnight" */
        if (b > a) {
            w[n++] = (per_window_t){ mask, a, b };
            continue;
        }
        w[n++] = (per_window_t){ mask, a, 1440 };
        if (b > 0)
            w[n++] = (per_window_t){ per_next_days(mask), 0, b };
    }
    return n;
}

/* ---- PostgreSQL ---------------------------------------------------------------- */

/* A statement refused for its values: 409 (unique, in use) or 422 (the
 * overlap trigger, a check) with PostgreSQL's message; else 500/503. */
static int per_refused(http_req_t *r, PGresult *res, const char *what)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (state == NULL || strncmp(state, "23", 2) != 0)
        return http_db_fail(r, res, what);
    int conflict = strcmp(state, "23505") == 0 || strcmp(state, "23503") == 0;
    char msg[200];
    snprintf(msg, sizeof msg, "%s", PQresultErrorField(res,
             PG_DIAG_MESSAGE_PRIMARY));
    PQclear(res);
    PQclear(PQexec(r->db, "ROLLBACK"));
    return http_error(r, conflict ? 409 : 422, conflict ? "conflict"
                      : "validation", "%s: %s", what, msg);
}

/* Replaces the windows of period ids with w[0..n). 0 or the status. */
static int per_put_windows(http_req_t *r, const char *ids,
                           const per_window_t *w, int n)
{
    const char *p[1] = { ids };
    PGresult *res = http_exec(r, "DELETE FROM rate_period_windows WHERE "
                             "period_id = $1", 1, p);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "clear windows");
    PQclear(res);
    for (int i = 0; i < n; i++) {
        char m[8], a[8], b[8];
        snprintf(m, sizeof m, "%d", w[i].mask);
        snprintf(a, sizeof a, "%d", w[i].start);
        snprintf(b, sizeof b, "%d", w[i].end);
        const char *q[4] = { ids, m, a, b };
        res = http_exec(r, "INSERT INTO rate_period_windows (period_id, "
                       "wday_mask, start_min, end_min) VALUES ($1, $2, $3, "
                       "$4)", 4, q);
        if (!http_res_ok(res))
            return per_refused(r, res, "window");
        PQclear(res);
    }
    return 0;
}

/* The period ids with its windows as JSON, or NULL (404 sent; *st). */
static json_t *per_fetch(http_req_t *r, const char *ids, int *st)
{
    const char *p[1] = { ids };
    PGresult *res = http_exec(r, "SELECT p.id, p.plan_id, p.name, w.wday_mask, "
        "w.start_min, w.end_min FROM rate_periods p LEFT JOIN "
        "rate_period_windows w ON w.period_id = p.id WHERE p.id = $1 "
        "ORDER BY w.start_min, w.wday_mask", 1, p);
    if (!http_res_ok(res)) {
        *st = http_db_fail(r, res, "read period");
        return NULL;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        *st = http_error(r, 404, "not_found", "no period %s", ids);
        return NULL;
    }
    json_t *win = json_array();
    for (int i = 0; i < PQntuples(res) && !PQgetisnull(res, i, 3); i++)
        json_array_append_new(win, json_pack("{s:i,s:i,s:i}", "wday_mask",
            atoi(PQgetvalue(res, i, 3)), "start_min",
            atoi(PQgetvalue(res, i, 4)), "end_min",
            atoi(PQgetvalue(res, i, 5))));
    json_t *o = json_pack("{s:I,s:I,s:s,s:o}",
        "id", (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10),
        "plan_id", (json_int_t)strtoll(PQgetvalue(res, 0, 1), NULL, 10),
        "name", PQgetvalue(res, 0, 2), "windows", win);
    PQclear(res);
    return o;
}

/* Audit, COMMIT, reload; answers status with the period (or 204 when
 * gone is set). */
static int per_finish(http_req_t *r, const char *ids, const char *action,
                      int status, int gone)
{
    int st = 0;
    json_t *o = gone ? NULL : per_fetch(r, ids, &st);
    if (!gone && o == NULL)
        return st;
    char object[40];
    snprintf(object, sizeof object, "period:%s", ids);
    if (http_audit(r, action, object, o ? json_deep_copy(o) : NULL) != 0) {
        json_decref(o);
        return http_db_fail(r, NULL, "audit");
    }
    PGresult *res = PQexec(r->db, "COMMIT");
    if (!http_res_ok(res)) {
        json_decref(o);
        return http_db_fail(r, res, "commit");
    }
    PQclear(res);
    char err[160];
    if (r->rd != NULL)
        qsbr_offline(r->rd);
    if (admin_reload(r->ctx, NULL, err, sizeof err) != 0 && o != NULL)
        json_object_set_new(o, "warning", json_sprintf("saved, but the "
                            "region was not republished: %s", err));
    if (gone)
        return http_send(r, 204, "text/plain", "", 0);
    return http_json(r, status, o);
}

/* ---- handlers ------------------------------------------------------------------ */

static int per_begin(http_req_t *r)
{
    if (r->rd != NULL)
        qsbr_offline(r->rd);
    if (r->db == NULL)
        return http_unavailable(r);
    PGresult *res = PQexec(r->db, "BEGIN");
    if (!http_res_ok(res))
        return http_db_fail(r, res, "begin");
    PQclear(res);
    return 0;
}

static int periods_list(http_req_t *r)
{
    char plan[24];
    if (r->rd != NULL)
        qsbr_offline(r->rd);
    if (http_query(r, "plan_id", plan, sizeof plan) == NULL
        || plan[0] == '\0' || strspn(plan, "0123456789") != strlen(plan))
        return http_error(r, 400, "validation", "plan_id: a plan id");
    if (r->db == NULL)
        return http_unavailable(r);
    const char *p[1] = { plan };
    PGresult *res = http_exec(r, "SELECT id FROM rate_periods WHERE plan_id = "
                             "$1 ORDER BY name", 1, p);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "list periods");
    json_t *a = json_array();
    int st = 0;
    for (int i = 0; i < PQntuples(res) && st == 0; i++) {
        json_t *o = per_fetch(r, PQgetvalue(res, i, 0), &st);
        if (o != NULL)
            json_array_append_new(a, o);
    }
    PQclear(res);
    if (st != 0) {
        json_decref(a);
        return st;
    }
    return http_json(r, 200, json_pack("{s:o}", "periods", a));
}

static int periods_create(http_req_t *r)
{
    json_t *body;
    per_window_t w[PER_WINDOWS_MAX * 2];
    if (http_read_json(r, 0, &body) != 0)
        return r->status;
    const json_t *plan = json_object_get(body, "plan_id");
    const char *name = json_string_value(json_object_get(body, "name"));
    int st = 0, n = 0;
    if (!json_is_integer(plan) || json_integer_value(plan) <= 0
        || name == NULL || name[0] == '\0' || strlen(name) > PER_NAME_MAX
        || json_object_size(body) != 3)
        st = http_error(r, 400, "validation", "{\"plan_id\", \"name\" (1 to "
                        "%d characters), \"windows\"}", PER_NAME_MAX);
    else if ((n = per_windows(r, json_object_get(body, "windows"), w)) < 0)
        st = -n;
    if (st == 0 && (st = per_begin(r)) == 0) {
        char pid[24];
        snprintf(pid, sizeof pid, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(plan));
        const char *p[2] = { pid, name };
        PGresult *res = http_exec(r, "INSERT INTO rate_periods (plan_id, "
                                 "name) VALUES ($1, $2) RETURNING id", 2, p);
        if (!http_res_ok(res)) {
            st = per_refused(r, res, "period");
        } else {
            char ids[24];
            snprintf(ids, sizeof ids, "%s", PQgetvalue(res, 0, 0));
            PQclear(res);
            st = per_put_windows(r, ids, w, n);
            if (st == 0)
                st = per_finish(r, ids, "period_create", 201, 0);
        }
    }
    json_decref(body);
    return st;
}

static int periods_put(http_req_t *r)
{
    char ids[24];
    json_t *body;
    per_window_t w[PER_WINDOWS_MAX * 2];
    int64_t id = http_subpath_id(r, "");
    snprintf(ids, sizeof ids, "%" PRId64, id);
    if (id == 0)
        return http_error(r, 404, "not_found", "no such period");
    if (http_read_json(r, 0, &body) != 0)
        return r->status;
    int st = 0, n = 0;
    if (json_object_size(body) != 1)
        st = http_error(r, 400, "validation", "{\"windows\": [...]} only "
                        "(a period is renamed by deleting it)");
    else if ((n = per_windows(r, json_object_get(body, "windows"), w)) < 0)
        st = -n;
    json_decref(body);
    if (st != 0 || (st = per_begin(r)) != 0)
        return st;
    const char *p[1] = { ids };
    PGresult *res = http_exec(r, "SELECT 1 FROM rate_periods WHERE id = $1 "
                             "FOR UPDATE", 1, p);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "lock period");
    int found = PQntuples(res) == 1;
    PQclear(res);
    if (!found) {
        PQclear(PQexec(r->db, "ROLLBACK"));
        return http_error(r, 404, "not_found", "no period %s", ids);
    }
    if ((st = per_put_windows(r, ids, w, n)) != 0)
        return st;
    return per_finish(r, ids, "period_update", 200, 0);
}

static int periods_delete(http_req_t *r)
{
    char ids[24];
    int64_t id = http_subpath_id(r, "");
    snprintf(ids, sizeof ids, "%" PRId64, id);
    if (id == 0)
        return http_error(r, 404, "not_found", "no such period");
    int st = per_begin(r);
    if (st != 0)
        return st;
    const char *p[1] = { ids };
    /* rates reference their period ON DELETE CASCADE (sql/002): deleting
     * a used period would take its rates, closed ones too, with it: the
     * history that past CDRs were rated by. Refused instead. */
    PGresult *res = http_exec(r, "SELECT count(*), (SELECT name FROM "
                              "rate_periods WHERE id = $1) FROM rates WHERE "
                              "period_id = $1", 1, p);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "period rates");
    long used = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    char name[PER_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    if (used > 0) {
        PQclear(PQexec(r->db, "ROLLBACK"));
        return http_error(r, 409, "conflict", "period %s (%s): %ld rates "
                          "(closed ones too: the rating history) use it",
                          ids, name, used);
    }
    res = http_exec(r, "DELETE FROM rate_periods WHERE id = $1", 1, p);
    if (!http_res_ok(res))
        return per_refused(r, res, "period");
    int found = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    if (!found) {
        PQclear(PQexec(r->db, "ROLLBACK"));
        return http_error(r, 404, "not_found", "no period %s", ids);
    }
    return per_finish(r, ids, "period_delete", 204, 1);
}

const http_route_t api_periods_routes[] = {
    { "GET", "/api/v1/periods", HTTP_ROLE_VIEWER, periods_list },
    { "POST", "/api/v1/periods", HTTP_ROLE_ADMIN, periods_create },
    { "PUT", "/api/v1/periods/", HTTP_ROLE_ADMIN, periods_put },
    { "DELETE", "/api/v1/periods/", HTTP_ROLE_ADMIN, periods_delete },
    { NULL, NULL, HTTP_ROLE_NONE, NULL }
};
