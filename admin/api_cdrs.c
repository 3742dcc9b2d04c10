/*
 * api_cdrs.c -- call records, exports and statistics, read from
 * PostgreSQL only (see admin/README.md).
 *
 *   GET /api/v1/cdrs                  filters, keyset pages (JSON)
 *   GET /api/v1/cdrs.csv              the same filters, every row, streamed
 *   GET /api/v1/ledger.csv            an account's ledger, streamed
 *   GET /api/v1/audit                 audit_log, keyset by id (admin)
 *   GET /api/v1/stats/revenue         group=day|zone|account
 *   GET /api/v1/stats/quality         ASR and ACD, [group=day|zone]
 *   GET /api/v1/stats/top-destinations by=prefix|zone, limit
 *
 * Every query is one fixed text with $n parameters: a filter adds a fixed
 * fragment ("account_id = $3") to the WHERE clause and its value to the
 * parameter array, never the value to the text; sort, group and by pick
 * one of a few fixed fragments. Every CDR query is bounded by a start_at
 * range [from, to) of at most 31 days, so that PostgreSQL prunes the
 * monthly partitions (sql/004).
 *
 * Call status (status=, and the "status" field), from billsec, the
 * hangup cause and the flags:
 *   answered    billsec > 0
 *   refused     billsec = 0 and the engine refused the call at park: flag
 *               0x10, or one of the causes the ESL worker kills with
 *               (CALL_REJECTED, NO_ROUTE_DESTINATION, OUTGOING_CALL_BARRED,
 *               SWITCH_CONGESTION)
 *   unanswered  billsec = 0 otherwise (busy, no answer, cancelled)
 *
 * Every query runs in a read-only transaction under
 * admin.report_timeout_ms (SET LOCAL statement_timeout): a report that
 * would take longer is cancelled and answered 503 "timeout", instead of
 * holding a worker thread and a PostgreSQL backend for as long as it
 * likes. An export's limit is per FETCH of 10000 rows, not for the whole
 * file.
 *
 * Exports: BEGIN READ ONLY, DECLARE a cursor, FETCH 10000 rows at a time,
 * each batch formatted into a 64 KiB buffer sent as HTTP chunks: memory
 * stays flat whatever the row count. The response is chunked with
 * "Connection: close": an export that fails half-way ends without the
 * final empty chunk, so a client sees a truncated transfer, never a short
 * file that looks complete.
 *
 * NOTES
 * - Cursors are opaque to clients: URL-safe base64 (no padding) of
 *   "s|<start_at>|<call_id>" or "c|<cost>|<start_at>|<call_id>"; a cursor
 *   of the other sort is refused (400). call_id is last: it may hold '|'.
 * - Times in: ISO 8601 ("2024-05-01", "2024-05-01T10:00:00Z",
 *   "...T10:00:00.5-03:00"; no zone means UTC) or unix seconds; out: UTC,
 *   "YYYY-MM-DDTHH:MM:SS.uuuuuuZ".
 * - The QSBR reader goes offline first thing: nothing here reads shared
 *   memory.
 */
#include "admin/api.h"

#include "admin/http.h"
#include "shm/log.h"
#include "shm/money.h"

#include <civetweb.h>
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CDRS_LIMIT        100
#define CDRS_LIMIT_MAX    1000
#define CDRS_RANGE_MAX    (31 * 86400LL)
#define CDRS_RANGE_DEF    86400LL
#define CDRS_FETCH        "10000"
#define CDRS_CHUNK        65536
#define CDRS_MAXP         24
#define CDRS_VAL          256       /* longest query value */
#define CDRS_TS           64        /* "YYYY-MM-DD HH:MM:SS.uuuuuu+00" */
#define AUDIT_LIMIT       100
#define AUDIT_LIMIT_MAX   1000
#define TOP_LIMIT         20

#define TS_SQL(col) "to_char(" col " AT TIME ZONE 'UTC', " \
                    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

#define STATUS_SQL \
    "CASE WHEN billsec > 0 THEN 'answered' " \
    "WHEN flags & 16 <> 0 OR hangup_cause IN ('CALL_REJECTED', " \
    "'NO_ROUTE_DESTINATION', 'OUTGOING_CALL_BARRED', 'SWITCH_CONGESTION') " \
    "THEN 'refused' ELSE 'unanswered' END"

/* ---- a query under construction ------------------------------------------ */

typedef struct cdrq {
    char        where[2048];
    size_t      wlen;
    int         np;
    const char *p[CDRS_MAXP];
    char        val[CDRS_MAXP][CDRS_VAL];
    char        from[CDRS_TS], to[CDRS_TS];
} cdrq_t;

/* Adds a parameter: its number ($n). */
static int q_param(cdrq_t *q, const char *v)
{
    snprintf(q->val[q->np], CDRS_VAL, "%s", v);
    q->p[q->np] = q->val[q->np];
    return ++q->np;
}

/* Appends " AND <frag>"; a "$?" in frag becomes the number of the
 * parameter v (v NULL: frag has none). */
static void q_where(cdrq_t *q, const char *frag, const char *v)
{
    int n = v != NULL ? q_param(q, v) : 0;
    char *w = q->where + q->wlen, *end = q->where + sizeof q->where - 1;
    int k;
    if (end - w < 5)
        return;
    memcpy(w, " AND ", 5);
    w += 5;
    for (const char *f = frag; *f != '\0' && w < end; f++) {
        if (f[0] == '$' && f[1] == '?' && (k = snprintf(w, (size_t)(end - w),
                                                        "$%d", n)) > 0) {
            w += k < end - w ? k : end - w;
            f++;
        } else {
            *w++ = *f;
        }
    }
    *w = '\0';
    q->wlen = (size_t)(w - q->where);
}

/* ---- parameters ------------------------------------------------------------ */

/* Query value: 1 present (buf), 0 absent, -1 answered 400 (too long). */
static int arg(http_req_t *r, const char *name, char *buf, size_t cap)
{
    if (r->query == NULL)
        return 0;
    int n = mg_get_var(r->query, strlen(r->query), name, buf, cap);
    if (n == -1)
        return 0;
    if (n < 0) {
        http_error(r, 400, "validation", "%s: too long", name);
        return -1;
    }
    return 1;
}

static int bad(http_req_t *r, const char *name, const char *what)
{
    http_error(r, 400, "validation", "%s: %s", name, what);
    return -1;
}

static int parse_i64(const char *s, int64_t *out)
{
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (errno != 0 || e == s || *e != '\0' || s[0] == '+' || s[0] == ' ')
        return -1;
    *out = v;
    return 0;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* ISO 8601 or unix seconds -> epoch seconds and microseconds. 0 or -1. */
static int parse_time(const char *s, int64_t *sec, int *usec)
{
    *usec = 0;
    if (*s != '\0' && strspn(s, "0123456789") == strlen(s)) {
        if (strlen(s) > 12)
            return -1;
        *sec = strtoll(s, NULL, 10);
        return 0;
    }
    struct tm tm = { 0 };
    int y, mo, d, h = 0, mi = 0, se = 0;
    if (strlen(s) < 10 || digits(s, 4, &y) || s[4] != '-'
        || digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d))
        return -1;
    const char *p = s + 10;
    int off = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(p, 2, &h) || p[2] != ':' || digits(p + 3, 2, &mi))
            return -1;
        p += 5;
        if (*p == ':') {
            if (digits(p + 1, 2, &se))
                return -1;
            p += 3;
            if (*p == '.') {
                int k = 0, u = 0;
                for (p++; *p >= '0' && *p <= '9'; p++, k++)
                    if (k < 6)
                        u = u * 10 + (*p - '0');
                if (k == 0 || k > 9)
                    return -1;
                for (; k < 6; k++)
                    u *= 10;
                *usec = u;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om;
            if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om)
                || oh > 23 || om > 59)
                return -1;
            off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
            p += 6;
        }
    }
    if (*p != '\0' || y < 1970 || y > 9999 || h > 23 || mi > 59 || se > 59)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    time_t t = timegm(&tm);
    struct tm chk;
    if (gmtime_r(&t, &chk) == NULL || chk.tm_mday != d || chk.tm_mon != mo - 1)
        return -1;                       /* 2024-02-30 */
    *sec = (int64_t)t - off;
    return 0;
}

static void fmt_time(int64_t sec, int usec, char out[CDRS_TS])
{
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, CDRS_TS, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, usec);
}

/* from= / to= into q->from, q->to: [from, to). Defaults: to now, from 24 h
 * before to. max_sec 0: no bound on the length; need 0: both may be
 * absent (q->from, q->to ""). 0, or -1 answered. */
static int parse_range(http_req_t *r, cdrq_t *q, int64_t max_sec, int need)
{
    char a[64], b[64];
    int64_t fs = 0, ts = 0;
    int fu = 0, tu = 0;
    int hf = arg(r, "from", a, sizeof a);
    if (hf < 0)
        return -1;
    int ht = arg(r, "to", b, sizeof b);
    if (ht < 0)
        return -1;
    if (hf && parse_time(a, &fs, &fu) != 0)
        return bad(r, "from", "an ISO 8601 time or unix seconds");
    if (ht && parse_time(b, &ts, &tu) != 0)
        return bad(r, "to", "an ISO 8601 time or unix seconds");
    q->from[0] = q->to[0] = '\0';
    if (!need && !hf && !ht)
        return 0;
    if (!ht) {
        ts = hf ? fs + CDRS_RANGE_DEF : (int64_t)time(NULL);
        tu = hf ? fu : 0;
        if (!hf)
            ts += 1;                         /* include this second */
    }
    if (!hf) {
        fs = ts - CDRS_RANGE_DEF;
        fu = tu;
    }
    if (ts < fs || (ts == fs && tu <= fu))
        return bad(r, "to", "must be after from");
    if (max_sec > 0 && (ts - fs > max_sec || (ts - fs == max_sec && tu > fu)))
        return bad(r, "to", "the range from..to is at most 31 days");
    fmt_time(fs, fu, q->from);
    fmt_time(ts, tu, q->to);
    return 0;
}

/* A number filter: exact, or a prefix with a trailing '*'; [0-9+*#A-Za-z
 * ._@-] only. */
static int filter_text(http_req_t *r, cdrq_t *q, const char *name,
                       const char *col)
{
    char v[130], pat[CDRS_VAL], frag[128];
    int h = arg(r, name, v, sizeof v);
    if (h <= 0)
        return h;
    size_t n = strlen(v);
    if (n == 0 || n > 64)
        return bad(r, name, "1 to 64 characters, a trailing * for a prefix");
    int prefix = v[n - 1] == '*';
    if (prefix)
        v[--n] = '\0';
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == 0x7f || c == '*')
            return bad(r, name, "only a trailing * is a wildcard");
        if (c == '%' || c == '_' || c == '\\')
            pat[k++] = '\\';
        pat[k++] = (char)c;
    }
    pat[k] = '\0';
    if (prefix) {
        pat[k++] = '%';
        pat[k] = '\0';
        snprintf(frag, sizeof frag, "%s LIKE $?", col);
        q_where(q, frag, pat);
    } else {
        snprintf(frag, sizeof frag, "%s = $?", col);
        q_where(q, frag, v);
    }
    return 0;
}

static int filter_id(http_req_t *r, cdrq_t *q, const char *name,
                     const char *frag)
{
    char v[32];
    int64_t id;
    int h = arg(r, name, v, sizeof v);
    if (h <= 0)
        return h;
    if (parse_i64(v, &id) != 0 || id <= 0)
        return bad(r, name, "a positive id");
    q_where(q, frag, v);
    return 0;
}

static int filter_cost(http_req_t *r, cdrq_t *q, const char *name,
                       const char *frag)
{
    char v[48], m[24];
    money_t c;
    int h = arg(r, name, v, sizeof v);
    if (h <= 0)
        return h;
    if (money_parse(v, strlen(v), &c) != MONEY_OK || c < 0)
        return bad(r, name, "a decimal string >= 0, at most 6 decimals");
    snprintf(m, sizeof m, "%" PRId64, c);
    q_where(q, frag, m);
    return 0;
}

/* Every CDR filter, the range first ($1, $2). 0, or -1 answered. */
static int cdr_filters(http_req_t *r, cdrq_t *q)
{
    char v[32];
    memset(q, 0, sizeof *q);
    if (parse_range(r, q, CDRS_RANGE_MAX, 1) != 0)
        return -1;
    q_param(q, q->from);
    q_param(q, q->to);
    snprintf(q->where, sizeof q->where,
             "start_at >= $1::timestamptz AND start_at < $2::timestamptz");
    q->wlen = strlen(q->where);
    if (filter_id(r, q, "account", "account_id = $?::bigint") != 0
        || filter_id(r, q, "zone", "zone_id = $?::bigint") != 0
        || filter_text(r, q, "extension", "extension") != 0
        || filter_text(r, q, "caller", "caller") != 0
        || filter_text(r, q, "callee", "callee") != 0
        || filter_cost(r, q, "cost_min", "cost >= $?::bigint") != 0
        || filter_cost(r, q, "cost_max", "cost <= $?::bigint") != 0)
        return -1;
    int h = arg(r, "direction", v, sizeof v);
    if (h < 0)
        return -1;
    if (h) {
        if (strcmp(v, "outbound") && strcmp(v, "inbound")
            && strcmp(v, "internal"))
            return bad(r, "direction", "outbound, inbound or internal");
        q_where(q, "direction = $?", v);
    }
    h = arg(r, "status", v, sizeof v);
    if (h < 0)
        return -1;
    if (h) {
        if (strcmp(v, "answered") && strcmp(v, "unanswered")
            && strcmp(v, "refused"))
            return bad(r, "status", "answered, unanswered or refused");
        q_where(q, "(" STATUS_SQL ") = $?", v);
    }
    return 0;
}

/* ---- PostgreSQL --------------------------------------------------------------- */

static int db_fail(http_req_t *r, PGresult *res, const char *what)
{
    const char *state = res != NULL
        ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state != NULL && strcmp(state, "57014") == 0) {   /* query_canceled */
        PQclear(res);
        LOG_WARN("api", 0, "%s: over admin.report_timeout_ms (%lld ms), "
                 "cancelled", what,
                 (long long)r->ctx->conf->admin_report_timeout_ms);
        return http_error(r, 503, "timeout", "%s took over %lld ms: narrow "
                          "the filters (date range, account)", what,
                          (long long)r->ctx->conf->admin_report_timeout_ms);
    }
    LOG_ERROR("api", 0, "%s: %s", what, PQerrorMessage(r->db));
    PQclear(res);
    if (PQstatus(r->db) != CONNECTION_OK)
        return http_unavailable(r);
    return http_error(r, 500, "internal", "%s failed", what);
}

static int res_ok(const PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* Opens a read-only transaction whose statements may each run at most
 * admin.report_timeout_ms. SET LOCAL, not SET: the connection is this
 * thread's for every handler, the money paths included, and they must not
 * inherit a report's limit. One round trip (an integer of the checked
 * configuration in the text, nothing of the request). */
static PGresult *report_begin(http_req_t *r)
{
    char sql[96];
    snprintf(sql, sizeof sql, "BEGIN READ ONLY; SET LOCAL statement_timeout "
             "= %lld", (long long)r->ctx->conf->admin_report_timeout_ms);
    return PQexec(r->db, sql);
}

/* One report query inside report_begin's transaction: its result (the
 * transaction is over either way). */
static PGresult *report_exec(http_req_t *r, const char *sql, int np,
                             const char *const *p)
{
    PGresult *res = report_begin(r);
    if (!res_ok(res))
        return res;
    PQclear(res);
    res = PQexecParams(r->db, sql, np, NULL, p, NULL, NULL, 0);
    PQclear(PQexec(r->db, res_ok(res) ? "COMMIT" : "ROLLBACK"));
    return res;
}

/* Common start: reader offline, database there. 0 or -1 answered. */
static int begin(http_req_t *r)
{
    if (r->rd != NULL)
        qsbr_offline(r->rd);
    if (r->db == NULL) {
        http_unavailable(r);
        return -1;
    }
    return 0;
}

/* ---- columns ---------------------------------------------------------------- */

typedef enum { C_TEXT, C_INT, C_MONEY, C_JSON } ckind_t;

typedef struct col {
    const char *name;
    ckind_t     kind;
} col_t;

/* The CDR select list and its columns, in the same order. */
#define CDR_SELECT \
    "call_id, source, account_id, extension, caller, callee, dialed, " \
    "direction, " TS_SQL("start_at") ", " TS_SQL("answer_at") ", " \
    TS_SQL("end_at") ", duration, billsec, cost, " STATUS_SQL ", " \
    "zone_id, zone_name, prefix, plan_id, deck_version, period_id, " \
    "rate_per_minute, connection_fee, first_increment, next_increment, " \
    "min_seconds, grace_seconds, rounding, segments, hangup_cause, fac_id, " \
    "flags, journal, journal_seq, " TS_SQL("inserted_at")

static const col_t cdr_cols[] = {
    { "call_id", C_TEXT }, { "source", C_TEXT }, { "account_id", C_INT },
    { "extension", C_TEXT }, { "caller", C_TEXT }, { "callee", C_TEXT },
    { "dialed", C_TEXT }, { "direction", C_TEXT }, { "start_at", C_TEXT },
    { "answer_at", C_TEXT }, { "end_at", C_TEXT }, { "duration", C_INT },
    { "billsec", C_INT }, { "cost", C_MONEY }, { "status", C_TEXT },
    { "zone_id", C_INT }, { "zone_name", C_TEXT }, { "prefix", C_TEXT },
    { "plan_id", C_INT }, { "deck_version", C_INT }, { "period_id", C_INT },
    { "rate_per_minute", C_MONEY }, { "connection_fee", C_MONEY },
    { "first_increment", C_INT }, { "next_increment", C_INT },
    { "min_seconds", C_INT }, { "grace_seconds", C_INT },
    { "rounding", C_TEXT }, { "segments", C_JSON },
    { "hangup_cause", C_TEXT }, { "fac_id", C_INT }, { "flags", C_INT },
    { "journal", C_TEXT }, { "journal_seq", C_INT },
    { "inserted_at", C_TEXT },
};
#define CDR_NCOLS   (int)(sizeof cdr_cols / sizeof cdr_cols[0])
#define CDR_COL_COST    13
#define CDR_COL_FLAGS   31

#define LEDGER_SELECT \
    "id, " TS_SQL("at") ", account_id, kind, amount, balance_after, " \
    "reference, extension, journal, journal_seq, actor, reason"

static const col_t ledger_cols[] = {
    { "id", C_INT }, { "at", C_TEXT }, { "account_id", C_INT },
    { "kind", C_TEXT }, { "amount", C_MONEY }, { "balance_after", C_MONEY },
    { "reference", C_TEXT }, { "extension", C_TEXT }, { "journal", C_TEXT },
    { "journal_seq", C_INT }, { "actor", C_TEXT }, { "reason", C_TEXT },
};
#define LEDGER_NCOLS (int)(sizeof ledger_cols / sizeof ledger_cols[0])

static json_t *money_json(const char *s)
{
    char buf[MONEY_STRLEN];
    money_format(strtoll(s, NULL, 10), buf);
    return json_string(buf);
}

/* One row as a JSON object. */
static json_t *row_json(const PGresult *res, int i, const col_t *cols, int n)
{
    json_t *o = json_object();
    for (int c = 0; c < n; c++) {
        json_t *v;
        const char *s = PQgetvalue(res, i, c);
        if (PQgetisnull(res, i, c))
            v = json_null();
        else if (cols[c].kind == C_INT)
            v = json_integer(strtoll(s, NULL, 10));
        else if (cols[c].kind == C_MONEY)
            v = money_json(s);
        else if (cols[c].kind == C_JSON)
            v = json_loads(s, JSON_DECODE_ANY, NULL);
        else
            v = json_string(s);
        json_object_set_new(o, cols[c].name, v != NULL ? v : json_null());
    }
    return o;
}

/* ---- cursors ---------------------------------------------------------------------- */

static void cursor_make(const char *plain, char *out, size_t cap)
{
    sodium_bin2base64(out, cap, (const unsigned char *)plain, strlen(plain),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* Decodes after= into its fields (n of them, the last takes the rest):
 * 0, or -1 answered 400. */
static int cursor_read(http_req_t *r, const char *in, char kind,
                       char f[][CDRS_VAL], int n)
{
    unsigned char raw[400];
    size_t len = 0;
    if (sodium_base642bin(raw, sizeof raw - 1, in, strlen(in), NULL, &len,
                          NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0
        || len < 2 || raw[0] != (unsigned char)kind || raw[1] != '|')
        return bad(r, "after", "not a cursor of this query (and sort)");
    raw[len] = '\0';
    char *p = (char *)raw + 2;
    for (int k = 0; k < n; k++) {
        char *bar = k < n - 1 ? strchr(p, '|') : NULL;
        if (k < n - 1 && bar == NULL)
            return bad(r, "after", "not a cursor of this query");
        if (bar != NULL)
            *bar = '\0';
        size_t pl = strlen(p);
        if (pl >= CDRS_VAL)
            return bad(r, "after", "not a cursor of this query");
        memcpy(f[k], p, pl + 1);
        p = bar != NULL ? bar + 1 : p + strlen(p);
    }
    int64_t x;
    int us;
    /* the start time is ours (ISO), the cost an integer */
    if (parse_time(f[n - 2], &x, &us) != 0
        || (n == 3 && parse_i64(f[0], &x) != 0) || f[n - 1][0] == '\0')
        return bad(r, "after", "not a cursor of this query");
    return 0;
}

/* ---- GET /api/v1/cdrs ---------------------------------------------------------------- */

static int cdrs_list(http_req_t *r)
{
    cdrq_t q;
    char v[400];
    if (begin(r) != 0 || cdr_filters(r, &q) != 0)
        return r->status;
    int by_cost = 0;
    int h = arg(r, "sort", v, sizeof v);
    if (h < 0)
        return r->status;
    if (h) {
        if (strcmp(v, "cost") == 0)
            by_cost = 1;
        else if (strcmp(v, "start_at") != 0)
            return bad(r, "sort", "start_at or cost"), r->status;
    }
    long long lim = CDRS_LIMIT;
    h = arg(r, "limit", v, sizeof v);
    if (h < 0)
        return r->status;
    if (h) {
        int64_t x;
        if (parse_i64(v, &x) != 0 || x < 1 || x > CDRS_LIMIT_MAX)
            return bad(r, "limit", "1 to 1000"), r->status;
        lim = x;
    }
    h = arg(r, "after", v, sizeof v);
    if (h < 0)
        return r->status;
    if (h) {
        char f[3][CDRS_VAL];
        if (by_cost) {
            if (cursor_read(r, v, 'c', f, 3) != 0)
                return r->status;
            int a = q_param(&q, f[0]);
            int b = q_param(&q, f[1]);
            int c = q_param(&q, f[2]);
            char frag[200];
            snprintf(frag, sizeof frag, "(cost, start_at, call_id COLLATE "
                     "\"C\") < ($%d::bigint, $%d::timestamptz, $%d::text "
                     "COLLATE \"C\")", a, b, c);
            q_where(&q, frag, NULL);
        } else {
            if (cursor_read(r, v, 's', f, 2) != 0)
                return r->status;
            int a = q_param(&q, f[0]);
            int b = q_param(&q, f[1]);
            char frag[200];
            snprintf(frag, sizeof frag, "(start_at, call_id COLLATE \"C\") < "
                     "($%d::timestamptz, $%d::text COLLATE \"C\")", a, b);
            q_where(&q, frag, NULL);
        }
    }
    char ls[24];
    snprintf(ls, sizeof ls, "%lld", lim);
    int nl = q_param(&q, ls);
    char sql[6144];
    snprintf(sql, sizeof sql, "SELECT " CDR_SELECT " FROM cdrs WHERE %s "
             "ORDER BY %s LIMIT $%d", q.where,
             by_cost ? "cost DESC, start_at DESC, call_id COLLATE \"C\" DESC"
                     : "start_at DESC, call_id COLLATE \"C\" DESC", nl);
    PGresult *res = report_exec(r, sql, q.np, q.p);
    if (!res_ok(res))
        return db_fail(r, res, "cdrs list");
    json_t *arr = json_array();
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        json_t *o = row_json(res, i, cdr_cols, CDR_NCOLS);
        long flags = strtol(PQgetvalue(res, i, CDR_COL_FLAGS), NULL, 10);
        json_object_set_new(o, "estimated", json_boolean(flags & 8));
        json_object_set_new(o, "unbilled", json_boolean(flags & 0x40));
        json_object_set_new(o, "fac_level_low", json_boolean(flags & 0x80));
        json_object_set_new(o, "fac_unknown", json_boolean(flags & 0x100));
        json_object_set_new(o, "number_cut", json_boolean(flags & 0x200));
        json_array_append_new(arr, o);
    }
    json_t *next = json_null();
    if (n == lim && n > 0) {
        char plain[400], cur[560];
        if (by_cost)
            snprintf(plain, sizeof plain, "c|%s|%s|%s",
                     PQgetvalue(res, n - 1, CDR_COL_COST),
                     PQgetvalue(res, n - 1, 8), PQgetvalue(res, n - 1, 0));
        else
            snprintf(plain, sizeof plain, "s|%s|%s",
                     PQgetvalue(res, n - 1, 8), PQgetvalue(res, n - 1, 0));
        cursor_make(plain, cur, sizeof cur);
        json_decref(next);
        next = json_string(cur);
    }
    PQclear(res);
    return http_json(r, 200, json_pack("{s:o,s:o}", "cdrs", arr,
                                       "next", next));
}

/* ---- CSV exports ----------------------------------------------------------------------- */

typedef struct csv_out {
    http_req_t *r;
    char        buf[CDRS_CHUNK];
    size_t      len;
    int         broken;
} csv_out_t;

static void csv_flush(csv_out_t *o)
{
    if (o->len > 0 && !o->broken
        && mg_send_chunk(o->r->conn, o->buf, (unsigned)o->len) <= 0)
        o->broken = 1;
    o->len = 0;
}

static void csv_put(csv_out_t *o, const char *s, size_t n)
{
    while (n > 0 && !o->broken) {
        size_t room = sizeof o->buf - o->len;
        size_t k = n < room ? n : room;
        memcpy(o->buf + o->len, s, k);
        o->len += k;
        s += k;
        n -= k;
        if (o->len == sizeof o->buf)
            csv_flush(o);
    }
}

/* One field, RFC 4180: quoted when it holds , " CR or LF. */
static void csv_field(csv_out_t *o, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        csv_put(o, s, strlen(s));
        return;
    }
    csv_put(o, "\"", 1);
    for (const char *q; (q = strchr(s, '"')) != NULL; s = q + 1) {
        csv_put(o, s, (size_t)(q - s) + 1);
        csv_put(o, "\"", 1);
    }
    csv_put(o, s, strlen(s));
    csv_put(o, "\"", 1);
}

/* Sends the response head of a chunked CSV download. */
static void csv_head(http_req_t *r, const char *filename)
{
    struct mg_connection *c = r->conn;
    char disp[96];
    r->status = 200;
    mg_response_header_start(c, 200);
    mg_response_header_add(c, "Content-Type", "text/csv; charset=utf-8", -1);
    mg_response_header_add(c, "Transfer-Encoding", "chunked", -1);
    mg_response_header_add(c, "Connection", "close", -1);
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", filename);
    mg_response_header_add(c, "Content-Disposition", disp, -1);
    mg_response_header_add(c, "X-Content-Type-Options", "nosniff", -1);
    mg_response_header_add(c, "Cache-Control", "no-store", -1);
    mg_response_header_send(c);
}

/* Streams sql (a SELECT with params) as CSV: the cursor is declared
 * before the head is sent, so a bad query is still a JSON 500. */
static int csv_stream(http_req_t *r, const char *sql, int np,
                      const char *const *p, const col_t *cols, int ncols,
                      const char *filename, int estimated_col)
{
    PGresult *res = report_begin(r);
    if (!res_ok(res))
        return db_fail(r, res, "export begin");
    PQclear(res);
    char decl[8192];
    snprintf(decl, sizeof decl, "DECLARE apolo_export NO SCROLL CURSOR FOR %s",
             sql);
    res = PQexecParams(r->db, decl, np, NULL, p, NULL, NULL, 0);
    if (!res_ok(res)) {
        int rc = db_fail(r, res, "export declare");
        PQclear(PQexec(r->db, "ROLLBACK"));
        return rc;
    }
    PQclear(res);

    csv_out_t *o = malloc(sizeof *o);
    if (o == NULL) {
        PQclear(PQexec(r->db, "ROLLBACK"));
        return http_error(r, 500, "internal", "out of memory");
    }
    o->r = r;
    o->len = 0;
    o->broken = 0;
    csv_head(r, filename);
    for (int c = 0; c < ncols; c++) {
        if (c > 0)
            csv_put(o, ",", 1);
        csv_field(o, cols[c].name);
    }
    if (estimated_col >= 0)
        csv_put(o, ",estimated", 10);
    csv_put(o, "\r\n", 2);

    int failed = 0;
    long long rows = 0;
    while (!o->broken) {
        res = PQexec(r->db, "FETCH " CDRS_FETCH " FROM apolo_export");
        if (!res_ok(res)) {
            LOG_ERROR("api", 0, "export fetch: %s", PQerrorMessage(r->db));
            PQclear(res);
            failed = 1;
            break;
        }
        int n = PQntuples(res);
        for (int i = 0; i < n && !o->broken; i++) {
            for (int c = 0; c < ncols; c++) {
                if (c > 0)
                    csv_put(o, ",", 1);
                if (PQgetisnull(res, i, c))
                    continue;
                const char *s = PQgetvalue(res, i, c);
                if (cols[c].kind == C_MONEY) {
                    char m[MONEY_STRLEN];
                    size_t k = money_format(strtoll(s, NULL, 10), m);
                    csv_put(o, m, k);
                } else {
                    csv_field(o, s);
                }
            }
            if (estimated_col >= 0) {
                long f = strtol(PQgetvalue(res, i, estimated_col), NULL, 10);
                csv_put(o, (f & 8) ? ",true" : ",false", (f & 8) ? 5 : 6);
            }
            csv_put(o, "\r\n", 2);
            rows++;
        }
        PQclear(res);
        if (n == 0)
            break;
    }
    PQclear(PQexec(r->db, "ROLLBACK"));
    if (!failed && !o->broken) {
        csv_flush(o);
        if (!o->broken)
            mg_send_chunk(r->conn, "", 0);   /* the end */
    }
    if (failed || o->broken)
        LOG_WARN("api", 0, "%s: export cut after %lld rows (%s)", r->path,
                 rows, failed ? "PostgreSQL" : "client gone");
    free(o);
    return 200;
}

static int cdrs_csv(http_req_t *r)
{
    cdrq_t q;
    if (begin(r) != 0 || cdr_filters(r, &q) != 0)
        return r->status;
    char sql[6144];
    snprintf(sql, sizeof sql, "SELECT " CDR_SELECT " FROM cdrs WHERE %s "
             "ORDER BY start_at, call_id COLLATE \"C\"", q.where);
    return csv_stream(r, sql, q.np, q.p, cdr_cols, CDR_NCOLS, "cdrs.csv",
                      CDR_COL_FLAGS);
}

static int ledger_csv(http_req_t *r)
{
    cdrq_t q;
    char v[32];
    int64_t id;
    if (begin(r) != 0)
        return r->status;
    memset(&q, 0, sizeof q);
    int h = arg(r, "account", v, sizeof v);
    if (h < 0)
        return r->status;
    if (!h || parse_i64(v, &id) != 0 || id <= 0)
        return bad(r, "account", "an account id (required)"), r->status;
    if (parse_range(r, &q, CDRS_RANGE_MAX, 1) != 0)
        return r->status;
    q_param(&q, q.from);
    q_param(&q, q.to);
    q_param(&q, v);
    return csv_stream(r, "SELECT " LEDGER_SELECT " FROM ledger WHERE "
                      "at >= $1::timestamptz AND at < $2::timestamptz AND "
                      "account_id = $3::bigint ORDER BY at, id",
                      q.np, q.p, ledger_cols, LEDGER_NCOLS, "ledger.csv", -1);
}

/* ---- GET /api/v1/audit ------------------------------------------------------------------ */

static int audit_list(http_req_t *r)
{
    cdrq_t q;
    char v[CDRS_VAL];
    if (begin(r) != 0)
        return r->status;
    memset(&q, 0, sizeof q);
    if (parse_range(r, &q, 0, 0) != 0)
        return r->status;
    snprintf(q.where, sizeof q.where, "true");
    q.wlen = 4;
    if (q.from[0] != '\0') {
        q_where(&q, "at >= $?::timestamptz", q.from);
        q_where(&q, "at < $?::timestamptz", q.to);
    }
    static const char *const text[] = { "actor", "action", "object" };
    for (size_t k = 0; k < 3; k++) {
        int h = arg(r, text[k], v, sizeof v);
        if (h < 0)
            return r->status;
        if (h) {
            char frag[48];
            snprintf(frag, sizeof frag, "%s = $?", text[k]);
            q_where(&q, frag, v);
        }
    }
    long long lim = AUDIT_LIMIT;
    int64_t x;
    int h = arg(r, "limit", v, sizeof v);
    if (h < 0)
        return r->status;
    if (h) {
        if (parse_i64(v, &x) != 0 || x < 1 || x > AUDIT_LIMIT_MAX)
            return bad(r, "limit", "1 to 1000"), r->status;
        lim = x;
    }
    h = arg(r, "before", v, sizeof v);
    if (h < 0)
        return r->status;
    if (h) {
        if (parse_i64(v, &x) != 0 || x < 1)
            return bad(r, "before", "an audit id"), r->status;
        q_where(&q, "id < $?::bigint", v);
    }
    char ls[24], sql[3072];
    snprintf(ls, sizeof ls, "%lld", lim);
    int nl = q_param(&q, ls);
    snprintf(sql, sizeof sql, "SELECT id, " TS_SQL("at") ", actor, action, "
             "object, details::text FROM audit_log WHERE %s ORDER BY id DESC "
             "LIMIT $%d", q.where, nl);
    PGresult *res = report_exec(r, sql, q.np, q.p);
    if (!res_ok(res))
        return db_fail(r, res, "audit list");
    static const col_t cols[] = { { "id", C_INT }, { "at", C_TEXT },
        { "actor", C_TEXT }, { "action", C_TEXT }, { "object", C_TEXT },
        { "details", C_JSON } };
    json_t *arr = json_array();
    int n = PQntuples(res);
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, row_json(res, i, cols, 6));
    json_t *next = n == lim && n > 0
        ? json_integer(strtoll(PQgetvalue(res, n - 1, 0), NULL, 10))
        : json_null();
    PQclear(res);
    return http_json(r, 200, json_pack("{s:o,s:o}", "entries", arr,
                                       "next_before", next));
}

/* ---- statistics ------------------------------------------------------------------------- */

/* A keyword from a fixed list: its index, -1 absent (def), -2 answered. */
static int keyword(http_req_t *r, const char *name,
                   const char *const *words, int n, int def)
{
    char v[32];
    int h = arg(r, name, v, sizeof v);
    if (h < 0)
        return -2;
    if (!h)
        return def;
    for (int i = 0; i < n; i++)
        if (strcmp(v, words[i]) == 0)
            return i;
    char msg[128];
    size_t len = 0;
    msg[0] = '\0';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s",
                                i ? " or " : "one of ", words[i]);
    bad(r, name, msg);
    return -2;
}

static const char *const group_words[] = { "day", "zone", "account", "none" };
static const char *const group_sql[] = {
    "to_char(start_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    "zone_id::text",
    "account_id::text",
    "'all'",
};

static int stats_revenue(http_req_t *r)
{
    cdrq_t q;
    if (begin(r) != 0 || cdr_filters(r, &q) != 0)
        return r->status;
    int g = keyword(r, "group", group_words, 3, 0);
    if (g == -2)
        return r->status;
    char sql[6144];
    snprintf(sql, sizeof sql, "SELECT %s AS k, %s, count(*), "
             "count(*) FILTER (WHERE billsec > 0), sum(billsec), "
             "round(sum(billsec)::numeric / 60, 4)::text, sum(cost)::text "
             "FROM cdrs WHERE %s GROUP BY 1 ORDER BY 1 NULLS LAST",
             group_sql[g], g == 1 ? "max(zone_name)" : "NULL::text",
             q.where);
    PGresult *res = report_exec(r, sql, q.np, q.p);
    if (!res_ok(res))
        return db_fail(r, res, "revenue");
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *o = json_pack("{s:o,s:I,s:I,s:I,s:s,s:o}",
            "key", PQgetisnull(res, i, 0) ? json_null()
                                          : json_string(PQgetvalue(res, i, 0)),
            "calls", (json_int_t)strtoll(PQgetvalue(res, i, 2), NULL, 10),
            "answered", (json_int_t)strtoll(PQgetvalue(res, i, 3), NULL, 10),
            "seconds", (json_int_t)strtoll(PQgetvalue(res, i, 4), NULL, 10),
            "minutes", PQgetvalue(res, i, 5),
            "revenue", money_json(PQgetvalue(res, i, 6)));
        if (g == 1)
            json_object_set_new(o, "name", PQgetisnull(res, i, 1)
                                ? json_null()
                                : json_string(PQgetvalue(res, i, 1)));
        json_array_append_new(arr, o);
    }
    PQclear(res);
    return http_json(r, 200, json_pack("{s:s,s:s,s:s,s:o}",
                                       "group", group_words[g],
                                       "from", q.from, "to", q.to,
                                       "rows", arr));
}

static int stats_quality(http_req_t *r)
{
    cdrq_t q;
    if (begin(r) != 0 || cdr_filters(r, &q) != 0)
        return r->status;
    static const char *const words[] = { "day", "zone" };
    int g = keyword(r, "group", words, 2, 3);
    if (g == -2)
        return r->status;
    char sql[6144];
    snprintf(sql, sizeof sql, "SELECT %s AS k, count(*), "
             "count(*) FILTER (WHERE billsec > 0), "
             "round(count(*) FILTER (WHERE billsec > 0)::numeric "
             "/ count(*), 4)::text, "
             "coalesce(round(avg(billsec) FILTER (WHERE billsec > 0), 2), 0)"
             "::text FROM cdrs WHERE %s GROUP BY 1 ORDER BY 1 NULLS LAST",
             group_sql[g], q.where);
    PGresult *res = report_exec(r, sql, q.np, q.p);
    if (!res_ok(res))
        return db_fail(r, res, "quality");
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(arr, json_pack("{s:o,s:I,s:I,s:s,s:s}",
            "key", PQgetisnull(res, i, 0) ? json_null()
                                          : json_string(PQgetvalue(res, i, 0)),
            "calls", (json_int_t)strtoll(PQgetvalue(res, i, 1), NULL, 10),
            "answered", (json_int_t)strtoll(PQgetvalue(res, i, 2), NULL, 10),
            "asr", PQgetvalue(res, i, 3),
            "acd_seconds", PQgetvalue(res, i, 4)));
    PQclear(res);
    return http_json(r, 200, json_pack("{s:s,s:s,s:s,s:o}",
                                       "group", group_words[g],
                                       "from", q.from, "to", q.to,
                                       "rows", arr));
}

static int stats_top(http_req_t *r)
{
    cdrq_t q;
    char v[32];
    if (begin(r) != 0 || cdr_filters(r, &q) != 0)
        return r->status;
    static const char *const words[] = { "prefix", "zone" };
    int by = keyword(r, "by", words, 2, 0);
    if (by == -2)
        return r->status;
    long long lim = TOP_LIMIT;
    int h = arg(r, "limit", v, sizeof v);
    if (h < 0)
        return r->status;
    if (h) {
        int64_t x;
        if (parse_i64(v, &x) != 0 || x < 1 || x > CDRS_LIMIT_MAX)
            return bad(r, "limit", "1 to 1000"), r->status;
        lim = x;
    }
    char ls[24], sql[6144];
    snprintf(ls, sizeof ls, "%lld", lim);
    int nl = q_param(&q, ls);
    snprintf(sql, sizeof sql, "SELECT %s, zone_id, max(zone_name), count(*), "
             "count(*) FILTER (WHERE billsec > 0), sum(billsec), "
             "round(sum(billsec)::numeric / 60, 4)::text, sum(cost)::text "
             "FROM cdrs WHERE %s AND zone_id IS NOT NULL GROUP BY %s "
             "ORDER BY sum(cost) DESC, count(*) DESC, 1, 2 LIMIT $%d",
             by == 0 ? "prefix" : "NULL::text", q.where,
             by == 0 ? "prefix, zone_id" : "zone_id", nl);
    PGresult *res = report_exec(r, sql, q.np, q.p);
    if (!res_ok(res))
        return db_fail(r, res, "top destinations");
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *o = json_pack("{s:I,s:o,s:I,s:I,s:I,s:s,s:o}",
            "zone_id", (json_int_t)strtoll(PQgetvalue(res, i, 1), NULL, 10),
            "zone_name", PQgetisnull(res, i, 2) ? json_null()
                                    : json_string(PQgetvalue(res, i, 2)),
            "calls", (json_int_t)strtoll(PQgetvalue(res, i, 3), NULL, 10),
            "answered", (json_int_t)strtoll(PQgetvalue(res, i, 4), NULL, 10),
            "seconds", (json_int_t)strtoll(PQgetvalue(res, i, 5), NULL, 10),
            "minutes", PQgetvalue(res, i, 6),
            "revenue", money_json(PQgetvalue(res, i, 7)));
        if (by == 0)
            json_object_set_new(o, "prefix", PQgetisnull(res, i, 0)
                                ? json_null()
                                : json_string(PQgetvalue(res, i, 0)));
        json_array_append_new(arr, o);
    }
    PQclear(res);
    return http_json(r, 200, json_pack("{s:s,s:s,s:s,s:o}",
                                       "by", words[by], "from", q.from,
                                       "to", q.to, "rows", arr));
}

const http_route_t api_cdrs_routes[] = {
    { "GET", "/api/v1/cdrs", HTTP_ROLE_VIEWER, cdrs_list },
    { "GET", "/api/v1/cdrs.csv", HTTP_ROLE_VIEWER, cdrs_csv },
    { "GET", "/api/v1/ledger.csv", HTTP_ROLE_VIEWER, ledger_csv },
    { "GET", "/api/v1/audit", HTTP_ROLE_ADMIN, audit_list },
    { "GET", "/api/v1/stats/revenue", HTTP_ROLE_VIEWER, stats_revenue },
    { "GET", "/api/v1/stats/quality", HTTP_ROLE_VIEWER, stats_quality },
    { "GET", "/api/v1/stats/top-destinations", HTTP_ROLE_VIEWER, stats_top },
    { NULL, NULL, HTTP_ROLE_NONE, NULL }
};
