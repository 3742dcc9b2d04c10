/*
 * api_alerts.c -- notifications through the HTTP API (admin/alert.h):
 *
 *   GET  /api/v1/notifications[?state=&kind=&account=&before=&limit=]
 *                                     operator: the outbox, newest first
 *   POST /api/v1/notifications/test   admin: a "test" message on every
 *                                     configured channel
 *
 * The listing is keyset paginated by id (rows with id < before, newest
 * first; "next_before" is the last id of a full page, else null); limit
 * 1..500 (50). Each row comes with its payload, recipients (email), state,
 * attempts, next attempt and last error; a secret never: the webhook's URL
 * and key, the SMTP credentials are configuration, not rows.
 *
 * The test message is queued with the audit row in one transaction
 * (`notification.test`), then the sender is woken: 201 with the new outbox
 * ids (their state tells the outcome a moment later). No channel
 * configured: 422.
 *
 * NOTES
 * - PostgreSQL only: the handlers leave QSBR at once (http.c brought the
 *   thread's reader online for them).
 * - Parameters: a malformed value is 422 validation naming the parameter
 *   (as GET /api/v1/ledger does).
 */
#include "admin/alert.h"
#include "admin/api.h"

#include "shm/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOTIF_LIMIT_DEF 50
#define NOTIF_LIMIT_MAX 500

#define NOTIF_TS(col) "to_char(" col " AT TIME ZONE 'UTC', " \
                      "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* ---- GET /api/v1/notifications ------------------------------------------- */

typedef struct notif_q {
    char state[16], kind[40], account[24], before[24], limit[16];
    int  has_state, has_kind, has_account, has_before;
    long long lim;
} notif_q_t;

/* A positive int64 parameter: 1 present and valid, 0 absent, -1 bad. */
static int notif_id_param(http_req_t *r, const char *name, char *buf,
                          size_t cap)
{
    if (http_query(r, name, buf, cap) == NULL)
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    return errno == 0 && end != buf && *end == '\0' && v > 0 ? 1 : -1;
}

static int notif_kind_ok(const char *k)
{
    size_t n = strlen(k);
    return n >= 1 && n <= 32 && strspn(k, "abcdefghijklmnopqrstuvwxyz_") == n;
}

/* Parses the query: 0, or the status sent (422). */
static int notif_parse(http_req_t *r, notif_q_t *q)
{
    memset(q, 0, sizeof *q);
    q->lim = NOTIF_LIMIT_DEF;
    if (http_query(r, "state", q->state, sizeof q->state) != NULL) {
        if (strcmp(q->state, "pending") && strcmp(q->state, "sent")
            && strcmp(q->state, "failed"))
            return http_error(r, 422, "validation",
                              "state: pending, sent or failed");
        q->has_state = 1;
    }
    if (http_query(r, "kind", q->kind, sizeof q->kind) != NULL) {
        if (!notif_kind_ok(q->kind))
            return http_error(r, 422, "validation", "kind: 1 to 32 of a-z _");
        q->has_kind = 1;
    }
    if ((q->has_account = notif_id_param(r, "account", q->account,
                                         sizeof q->account)) < 0)
        return http_error(r, 422, "validation", "account: an account id");
    if ((q->has_before = notif_id_param(r, "before", q->before,
                                        sizeof q->before)) < 0)
        return http_error(r, 422, "validation", "before: a notification id");
    if (http_query(r, "limit", q->limit, sizeof q->limit) != NULL) {
        char *end;
        errno = 0;
        q->lim = strtoll(q->limit, &end, 10);
        if (errno != 0 || end == q->limit || *end != '\0' || q->lim < 1
            || q->lim > NOTIF_LIMIT_MAX)
            return http_error(r, 422, "validation", "limit: 1 to %d",
                              NOTIF_LIMIT_MAX);
    }
    snprintf(q->limit, sizeof q->limit, "%lld", q->lim);
    return 0;
}

static json_t *notif_col(const PGresult *res, int i, int col)
{
    return PQgetisnull(res, i, col) ? json_null()
                                    : json_string(PQgetvalue(res, i, col));
}

static json_t *notif_i64(const PGresult *res, int i, int col)
{
    return PQgetisnull(res, i, col) ? json_null()
        : json_integer(strtoll(PQgetvalue(res, i, col), NULL, 10));
}

static json_t *notif_row(const PGresult *res, int i)
{
    json_t *payload = json_loads(PQgetvalue(res, i, 11), 0, NULL);
    return json_pack("{s:o,s:s,s:s,s:o,s:o,s:s,s:o,s:o,s:o,s:o,s:o,s:o}",
        "id", notif_i64(res, i, 0), "kind", PQgetvalue(res, i, 1),
        "channel", PQgetvalue(res, i, 2), "account_id", notif_i64(res, i, 3),
        "recipient", notif_col(res, i, 4), "state", PQgetvalue(res, i, 5),
        "attempts", notif_i64(res, i, 6),
        "next_attempt_at", notif_col(res, i, 7),
        "last_error", notif_col(res, i, 8),
        "created_at", notif_col(res, i, 9), "sent_at", notif_col(res, i, 10),
        "payload", payload != NULL ? payload : json_null());
}

static int notif_list(http_req_t *r)
{
    notif_q_t q;
    int st = notif_parse(r, &q);
    if (st != 0 || (st = http_pg_start(r)) != 0)
        return st;
    const char *p[5] = { q.has_state ? q.state : NULL,
                         q.has_kind ? q.kind : NULL,
                         q.has_account ? q.account : NULL,
                         q.has_before ? q.before : NULL, q.limit };
    PGresult *res = PQexecParams(r->db,
        "SELECT id, kind, channel, account_id, recipient, state, attempts, "
        NOTIF_TS("next_attempt_at") ", last_error, " NOTIF_TS("created_at")
        ", " NOTIF_TS("sent_at") ", payload::text FROM alert_outbox "
        "WHERE ($1::text IS NULL OR state = $1) "
        "AND ($2::text IS NULL OR kind = $2) "
        "AND ($3::bigint IS NULL OR account_id = $3) "
        "AND ($4::bigint IS NULL OR id < $4) ORDER BY id DESC LIMIT $5",
        5, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return http_db_fail(r, res, "notifications list");
    json_t *arr = json_array();
    int n = PQntuples(res);
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, notif_row(res, i));
    json_t *next = n == q.lim ? notif_i64(res, n - 1, 0) : json_null();
    PQclear(res);
    return http_json(r, 200, json_pack("{s:o,s:o}", "notifications", arr,
                                       "next_before", next));
}

/* ---- POST /api/v1/notifications/test ------------------------------------ */

static json_t *notif_channels(int ch)
{
    json_t *a = json_array();
    if (ch & 1)
        json_array_append_new(a, json_string("webhook"));
    if (ch & 2)
        json_array_append_new(a, json_string("email"));
    return a;
}

static json_t *notif_test_payload(const http_req_t *r)
{
    char at[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_pack("{s:s,s:s,s:s,s:s}", "kind", "test",
                     "message", "Test notification from ApoloBilling: "
                     "this channel works.", "actor", r->user, "at", at);
}

static int notif_test(http_req_t *r)
{
    int st = http_pg_start(r);
    if (st != 0)
        return st;
    int ch = alert_channels();
    if (ch == 0)
        return http_error(r, 422, "validation", "no notification channel "
                          "configured (alert.webhook_url, alert.smtp_url)");
    PGresult *res = PQexec(r->db, "BEGIN");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return http_db_fail(r, res, "begin");
    PQclear(res);
    json_t *ids = json_array(), *payload = notif_test_payload(r);
    int n = alert_enqueue_ids(r->db, "test", 0, payload, ids);
    json_decref(payload);
    if (n < 0) {                        /* logged by alert_enqueue */
        json_decref(ids);
        if (PQstatus(r->db) != CONNECTION_OK)
            return http_unavailable(r);
        PQclear(PQexec(r->db, "ROLLBACK"));
        return http_error(r, 500, "internal", "notification enqueue failed");
    }
    if (n == 0) {           /* email only, and alert.smtp_to is empty */
        json_decref(ids);
        PQclear(PQexec(r->db, "ROLLBACK"));
        return http_error(r, 422, "validation", "no recipient: set "
                          "alert.smtp_to");
    }
    if (http_audit(r, "notification.test", "notifications",
                   json_pack("{s:O}", "ids", ids)) != 0) {
        json_decref(ids);
        PQclear(PQexec(r->db, "ROLLBACK"));
        return http_error(r, 500, "internal", "audit failed: nothing "
                          "queued");
    }
    res = PQexec(r->db, "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        json_decref(ids);
        return http_db_fail(r, res, "commit");
    }
    PQclear(res);
    alert_kick();
    return http_json(r, 201, json_pack("{s:o,s:o}", "ids", ids, "channels",
                                       notif_channels(ch)));
}

const http_route_t api_alerts_routes[] = {
    { "GET", "/api/v1/notifications", HTTP_ROLE_OPERATOR, notif_list },
    { "POST", "/api/v1/notifications/test", HTTP_ROLE_ADMIN, notif_test },
    { NULL, NULL, HTTP_ROLE_NONE, NULL }
};
