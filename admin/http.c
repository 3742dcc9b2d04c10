/*
 * http.c -- the admin API's HTTP server on civetweb (see http.h).
 *
 * One catch-all civetweb handler ("/") does everything in one place:
 *
 *   match route (exact path, else the longest prefix ending in '/')
 *     -> 404 no such path / 405 + Allow: the path exists, not the method
 *   thread state: PostgreSQL connection (reconnected when bad, at most
 *     every 2 s), QSBR reader (registered once per thread)
 *   role > NONE: no connection -> 503; session -> 401; role -> 403;
 *     cookie session: CSRF (X-Apolo-CSRF on unsafe methods, Origin =
 *     Host) -> 403
 *   role NONE, unsafe method (login): Origin != Host -> 403
 *   qsbr_online; handler; qsbr_offline
 *   a transaction the handler left open is rolled back
 *   access log line: method path status time user
 *
 * Per-thread state lives in civetweb's thread pointer (init_thread makes
 * an empty one for each worker thread, exit_thread frees it): it is
 * filled lazily by the first request a thread serves, so an idle server
 * holds no connection.
 *
 * NOTES
 * - A civetweb worker waiting for a request is offline in QSBR: the reader
 *   is online only around the handler, so an idle server never holds a
 *   retired catalog. A handler that waits long while online (a slow query)
 *   holds the catalog it saw; past supervisor.stuck_reader_ms the
 *   supervisor kills the whole admin process. Handlers read the catalog
 *   first, then talk to PostgreSQL.
 * - Nothing secret is logged: no header, cookie, body or query string;
 *   only method, path, status, time and the authenticated user name.
 * - A body over the limit is answered 413 without being read; civetweb
 *   then closes the connection (the unread bytes cannot start a request).
 * - CSRF: see http_csrf_check (why a custom header suffices).
 */
#include "admin/http.h"

#include <arpa/inet.h>

#include "admin/auth_hash.h"
#include "shm/log.h"

#include <civetweb.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTP_RECONNECT_MS 2000     /* between connection attempts */
#define HTTP_SCACHE_SLOTS 4096     /* sessions cache, a power of two */
#define HTTP_SCACHE_TTL_MS 5000
/* the Content-Security-Policy of every answer: nothing may run or frame it */
#define HTTP_API_CSP "default-src 'none'; frame-ancestors 'none'"

struct http_server {
    struct mg_context         *mg;
    proc_ctx_t                *ctx;
    const http_route_t *const *tables;   /* copied list, NULL-terminated */
    size_t                     max_body;
};

/* One per civetweb worker thread (its thread pointer). */
typedef struct http_thread {
    PGconn        *db;
    qsbr_reader_t  rd;
    int            rd_state;     /* 0 not yet, 1 registered, -1 no slot */
    int64_t        next_connect_ms;
} http_thread_t;

static int64_t http_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- roles ------------------------------------------------------------- */

http_role_t http_role_parse(const char *s)
{
    if (s == NULL)
        return HTTP_ROLE_NONE;
    if (strcmp(s, "admin") == 0)
        return HTTP_ROLE_ADMIN;
    if (strcmp(s, "operator") == 0)
        return HTTP_ROLE_OPERATOR;
    if (strcmp(s, "viewer") == 0)
        return HTTP_ROLE_VIEWER;
    return HTTP_ROLE_NONE;
}

const char *http_role_name(http_role_t role)
{
    switch (role) {
    case HTTP_ROLE_ADMIN: return "admin";
    case HTTP_ROLE_OPERATOR: return "operator";
    case HTTP_ROLE_VIEWER: return "viewer";
    default: return "none";
    }
}

/* ---- responses --------------------------------------------------------- */

int http_header(http_req_t *r, const char *name, const char *value)
{
    if (strpbrk(name, "\r\n:") != NULL || strpbrk(value, "\r\n") != NULL)
        return -1;
    size_t cap = sizeof r->headers - r->headers_len;
    int n = snprintf(r->headers + r->headers_len, cap, "%s: %s\r\n", name,
                     value);
    if (n < 0 || (size_t)n >= cap) {
        r->headers[r->headers_len] = '\0';
        return -1;
    }
    r->headers_len += (size_t)n;
    return 0;
}

int http_send(http_req_t *r, int status, const char *content_type,
              const char *body, size_t len)
{
    struct mg_connection *c = r->conn;
    char cl[24];

    if (r->status != 0) {
        LOG_ERROR("http", 0, "%s %s: a second response (%d after %d) "
                  "dropped", r->method, r->path, status, r->status);
        return r->status;
    }
    r->status = status;
    if (mg_response_header_start(c, status) != 0) {
        /* A websocket upgrade refused in its connect handler: civetweb's
         * response API is not available before the handshake; written
         * raw, and the connection is closed after it. */
        mg_printf(c, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                  "Content-Length: %zu\r\nX-Content-Type-Options: nosniff\r\n"
                  "X-Frame-Options: DENY\r\nContent-Security-Policy: "
                  HTTP_API_CSP "\r\nCache-Control: no-store\r\n"
                  "Connection: close\r\n%s\r\n",
                  status, mg_get_response_code_text(c, status), content_type,
                  len, r->headers);
        if (len > 0)
            mg_write(c, body, len);
        return status;
    }
    if (status != 204 && status != 304) {
        mg_response_header_add(c, "Content-Type", content_type, -1);
        snprintf(cl, sizeof cl, "%zu", len);
        mg_response_header_add(c, "Content-Length", cl, -1);
    }
    /* The security headers of every answer of the API (the dashboard's
     * files have their own, www.c): JSON is never to be sniffed into a
     * document (nosniff), framed (DENY, frame-ancestors), run anything
     * (default-src 'none') nor kept by a browser or a proxy cache: answers
     * carry balances, users and tokens (no-store). */
    mg_response_header_add(c, "X-Content-Type-Options", "nosniff", -1);
    mg_response_header_add(c, "X-Frame-Options", "DENY", -1);
    mg_response_header_add(c, "Content-Security-Policy", HTTP_API_CSP, -1);
    mg_response_header_add(c, "Cache-Control", "no-store", -1);
    if (r->headers_len > 0)
        mg_response_header_add_lines(c, r->headers);
    mg_response_header_send(c);
    if (len > 0 && status != 204 && strcmp(r->method, "HEAD") != 0)
        mg_write(c, body, len);
    return status;
}

int http_json(http_req_t *r, int status, json_t *body)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL)
        return http_send(r, 500, "application/json",
                         "{\"error\":{\"code\":\"internal\"}}", 29);
    int rc = http_send(r, status, "application/json", text, strlen(text));
    free(text);
    return rc;
}

/* Replaces every byte of s that is not part of valid UTF-8 with '?': a
 * message may quote the client's bytes (jansson's "invalid escape near
 * '...'" keeps half a character; a cut at the buffer's end may too), and
 * a JSON string must be UTF-8, else the answer would become a 500. */
static void http_utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 && *p >= 0xc2 ? 2
                   : (*p & 0xf0) == 0xe0 ? 3
                   : (*p & 0xf8) == 0xf0 && *p <= 0xf4 ? 4 : 0;
        size_t k = 1;
        while (k < n && (p[k] & 0xc0) == 0x80)
            k++;
        if (n == 0 || k < n || (n == 3 && ((*p == 0xe0 && p[1] < 0xa0)
                                           || (*p == 0xed && p[1] > 0x9f)))
            || (n == 4 && ((*p == 0xf0 && p[1] < 0x90)
                           || (*p == 0xf4 && p[1] > 0x8f)))) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

int http_error(http_req_t *r, int status, const char *code,
               const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_utf8_scrub(msg);
    return http_json(r, status, json_pack("{s:{s:s,s:s}}", "error", "code",
                                          code, "message", msg));
}

int64_t http_subpath_id(const http_req_t *r, const char *rest)
{
    const char *s = r->subpath != NULL ? r->subpath : "";
    char *end;
    if (s[0] < '1' || s[0] > '9')
        return 0;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || v <= 0 || strcmp(end, rest) != 0)
        return 0;
    return v;
}

int http_query_named(const http_req_t *r, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = r->query; p != NULL && *p != '\0';) {
        if (strncmp(p, name, n) == 0 && (p[n] == '=' || p[n] == '&'
                                         || p[n] == '\0'))
            return 1;
        p = strchr(p, '&');
        if (p != NULL)
            p++;
    }
    return 0;
}

int http_query_int(http_req_t *r, const char *name, int64_t min,
                   int64_t max, int64_t def, int64_t *out)
{
    char buf[32];
    if (http_query(r, name, buf, sizeof buf) == NULL) {
        if (http_query_named(r, name))
            return http_error(r, 400, "validation", "%s: an integer from "
                              "%" PRId64 " to %" PRId64, name, min, max);
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (buf[0] < '0' || buf[0] > '9' || *end != '\0' || errno != 0
        || v < min || v > max)
        return http_error(r, 400, "validation", "%s: an integer from "
                          "%" PRId64 " to %" PRId64, name, min, max);
    *out = v;
    return 0;
}

json_t *http_diff(const json_t *before, const json_t *after,
                  const char *const *skip)
{
    json_t *b = json_object(), *a = json_object();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)after, key, v) {
        int skipped = 0;
        for (size_t i = 0; skip != NULL && skip[i] != NULL; i++)
            skipped |= strcmp(skip[i], key) == 0;
        json_t *old = json_object_get(before, key);
        if (skipped || (old != NULL && json_equal(old, v)))
            continue;
        json_object_set(b, key, old != NULL ? old : json_null());
        json_object_set(a, key, v);
    }
    return json_pack("{s:o,s:o}", "before", b, "after", a);
}

int http_audit_commit(http_req_t *r, const char *action, const char *object,
                      json_t *details)
{
    if (http_audit(r, action, object, details) != 0) {
        http_rollback(r);
        return http_error(r, 500, "internal", "audit failed: nothing "
                          "changed");
    }
    PGresult *res = PQexec(r->db, "COMMIT");
    if (!http_res_ok(res))
        return http_db_fail(r, res, "commit");
    PQclear(res);
    return 0;
}

int http_pg_start(http_req_t *r)
{
    if (r->rd != NULL)
        qsbr_offline(r->rd);
    return r->db == NULL ? http_unavailable(r) : 0;
}

PGresult *http_exec(http_req_t *r, const char *sql, int n,
                    const char *const *p)
{
    return PQexecParams(r->db, sql, n, NULL, p, NULL, NULL, 0);
}

int http_res_ok(const PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

void http_rollback(http_req_t *r)
{
    if (PQtransactionStatus(r->db) != PQTRANS_IDLE)
        PQclear(PQexec(r->db, "ROLLBACK"));
}

json_t *http_fetch_row(http_req_t *r, const char *sql, const char *id,
                       json_t *(*row)(const PGresult *res, int i),
                       const char *noun, int *st)
{
    const char *p[1] = { id };
    PGresult *res = http_exec(r, sql, 1, p);
    if (!http_res_ok(res)) {
        char what[64];
        snprintf(what, sizeof what, "%s lookup", noun);
        *st = http_db_fail(r, res, what);
        return NULL;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        http_rollback(r);
        *st = http_error(r, 404, "not_found", "no %s %s", noun, id);
        return NULL;
    }
    json_t *o = row(res, 0);
    PQclear(res);
    return o;
}

int http_sqlstate_is(const PGresult *res, const char *state)
{
    const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return s != NULL && strcmp(s, state) == 0;
}

int http_constraint_is(const PGresult *res, const char *name)
{
    const char *s = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    return s != NULL && strcmp(s, name) == 0;
}

int http_db_fail(http_req_t *r, PGresult *res, const char *what)
{
    LOG_ERROR("api", 0, "%s: %s", what, PQerrorMessage(r->db));
    PQclear(res);
    if (PQstatus(r->db) != CONNECTION_OK)
        return http_unavailable(r);
    if (PQtransactionStatus(r->db) != PQTRANS_IDLE)
        PQclear(PQexec(r->db, "ROLLBACK"));
    return http_error(r, 500, "internal", "%s failed", what);
}

int http_unavailable(http_req_t *r)
{
    return http_error(r, 503, "unavailable", "the database is unreachable; "
                      "try again");
}

/* ---- requests ---------------------------------------------------------- */

int http_read_body(http_req_t *r, size_t max, char **out, size_t *outlen)
{
    long long len = r->ri->content_length;
    *out = NULL;
    *outlen = 0;
    if (max == 0)
        max = r->srv->max_body;
    if (len < 0) {
        http_error(r, 411, "length_required", "a request body needs a "
                   "Content-Length");
        return -1;
    }
    if ((unsigned long long)len > max) {
        http_error(r, 413, "too_large", "the body is over %zu bytes", max);
        return -1;
    }
    char *buf = malloc((size_t)len + 1);
    if (buf == NULL) {
        http_error(r, 500, "internal", "out of memory");
        return -1;
    }
    size_t got = 0;
    while (got < (size_t)len) {
        int n = mg_read(r->conn, buf + got, (size_t)len - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < (size_t)len) {
        free(buf);
        http_error(r, 400, "truncated", "the body ended after %zu of %lld "
                   "bytes", got, len);
        return -1;
    }
    buf[got] = '\0';
    *out = buf;
    *outlen = got;
    return 0;
}

int http_read_json(http_req_t *r, size_t max, json_t **out)
{
    char *buf;
    size_t len;
    *out = NULL;
    if (http_read_body(r, max, &buf, &len) != 0)
        return -1;
    json_error_t je;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (j == NULL) {
        http_error(r, 400, "invalid_json", "%s (line %d)", je.text, je.line);
        return -1;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        http_error(r, 400, "invalid_json", "the body must be a JSON object");
        return -1;
    }
    *out = j;
    return 0;
}

/* 1 when addr is one of the comma-separated addresses of list. */
static int http_addr_listed(const char *list, const char *addr)
{
    size_t n = strlen(addr);
    for (const char *p = list; p != NULL && *p;) {
        p += strspn(p, " \t,");
        size_t k = strcspn(p, " \t,");
        if (k == n && k > 0 && memcmp(p, addr, n) == 0)
            return 1;
        p += k;
    }
    return 0;
}

const char *http_client_ip(const http_req_t *r)
{
    /* Only a proxy named in admin.trusted_proxies may say who its client
     * is: anybody else could send X-Real-IP to spread its failed logins
     * over invented addresses. The value must be an address. */
    const char *peer = r->ri->remote_addr;
    const char *list = conf_str(r->ctx->conf, "admin.trusted_proxies");
    if (list == NULL || *list == '\0' || !http_addr_listed(list, peer))
        return peer;
    const char *real = mg_get_header(r->conn, "X-Real-IP");
    unsigned char bin[sizeof(struct in6_addr)];
    if (real != NULL && (inet_pton(AF_INET, real, bin) == 1
                         || inet_pton(AF_INET6, real, bin) == 1))
        return real;
    return peer;
}

const char *http_query(const http_req_t *r, const char *name, char *buf,
                       size_t cap)
{
    if (r->query == NULL || cap == 0)
        return NULL;
    int n = mg_get_var(r->query, strlen(r->query), name, buf, cap);
    return n >= 0 ? buf : NULL;
}

int http_money(const json_t *v, money_t *out)
{
    if (!json_is_string(v))
        return -1;
    return money_parse(json_string_value(v), json_string_length(v), out)
               == MONEY_OK ? 0 : -1;
}

int http_audit_as(http_req_t *r, const char *actor, const char *action,
                  const char *object, json_t *details)
{
    char *text = details != NULL ? json_dumps(details, JSON_COMPACT)
                                 : strdup("{}");
    json_decref(details);
    if (r->db == NULL || text == NULL) {
        LOG_ERROR("http", 0, "audit %s by %s: %s", action, actor,
                  r->db == NULL ? "no database" : "out of memory");
        free(text);
        return -1;
    }
    const char *p[4] = { actor, action, object, text };
    PGresult *res = PQexecParams(r->db,
        "INSERT INTO audit_log (actor, action, object, details) "
        "VALUES ($1, $2, $3, $4::jsonb)", 4, NULL, p, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        LOG_ERROR("http", 0, "audit %s by %s: %s", action, actor,
                  PQerrorMessage(r->db));
    PQclear(res);
    free(text);
    return ok ? 0 : -1;
}

int http_audit(http_req_t *r, const char *action, const char *object,
               json_t *details)
{
    return http_audit_as(r, r->user, action, object, details);
}

/* ---- per-thread state -------------------------------------------------- */

static void *http_init_thread(const struct mg_context *mg, int type)
{
    (void)mg;
    if (type != 1)                 /* workers only: not master, not timer */
        return NULL;
    return calloc(1, sizeof(http_thread_t));
}

static void http_exit_thread(const struct mg_context *mg, int type, void *p)
{
    http_thread_t *t = p;
    (void)mg;
    (void)type;
    if (t == NULL)
        return;
    if (t->rd_state == 1)
        qsbr_unregister(&t->rd);
    if (t->db != NULL)
        PQfinish(t->db);
    free(t);
}

static PGconn *http_connect(const char *conninfo)
{
    const char *keys[3] = { "application_name", NULL, NULL };
    const char *vals[3] = { "apolo-admin-http", NULL, NULL };
    if (conninfo != NULL && conninfo[0] != '\0') {
        keys[1] = "dbname";             /* expanded: URL or "k=v ..." */
        vals[1] = conninfo;
    }
    PGconn *db = PQconnectdbParams(keys, vals, 1);
    if (db != NULL && PQstatus(db) == CONNECTION_OK)
        return db;
    /* the conninfo is not logged: it may hold a password */
    LOG_WARN("http", 0, "PostgreSQL connection failed: %s",
             db != NULL ? PQerrorMessage(db) : "out of memory");
    PQfinish(db);
    return NULL;
}

static void http_thread_prepare(http_server_t *s, http_thread_t *t,
                                http_req_t *r)
{
    if (t == NULL)
        return;
    if (t->db != NULL && PQstatus(t->db) != CONNECTION_OK) {
        PQfinish(t->db);
        t->db = NULL;
    }
    if (t->db == NULL) {
        int64_t now = http_mono_ns() / 1000000;
        if (now >= t->next_connect_ms) {
            t->db = http_connect(conf_str(s->ctx->conf, "database_url"));
            if (t->db == NULL)
                t->next_connect_ms = now + HTTP_RECONNECT_MS;
        }
    }
    if (t->rd_state == 0) {
        if (qsbr_register(region_area(s->ctx->region, REGION_AREA_QSBR),
                          &t->rd) == QSBR_OK) {
            t->rd_state = 1;
        } else {
            t->rd_state = -1;
            LOG_ERROR("http", 0, "no free QSBR slot for an HTTP thread "
                      "(raise region.max_readers): it serves without the "
                      "catalog");
        }
    }
    r->db = t->db;
    r->rd = t->rd_state == 1 ? &t->rd : NULL;
}

/* ---- authentication ---------------------------------------------------- */

#define HTTP_TOKEN_BEARER 1
#define HTTP_TOKEN_COOKIE 2

/* The token of the request (bearer first, then the cookie) into tok:
 * HTTP_TOKEN_BEARER or HTTP_TOKEN_COOKIE (where it came from: only the
 * cookie needs the CSRF checks), or -1. */
static int http_token(const http_req_t *r, char *tok, size_t cap)
{
    const char *h = mg_get_header(r->conn, "Authorization");
    if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0) {
        h += 7;
        while (*h == ' ')
            h++;
        size_t n = strcspn(h, " \t");
        if (n == 0 || n >= cap)
            return -1;
        memcpy(tok, h, n);
        tok[n] = '\0';
        return HTTP_TOKEN_BEARER;
    }
    const char *c = mg_get_header(r->conn, "Cookie");
    if (c != NULL && mg_get_cookie(c, "apolo_session", tok, cap) > 0)
        return HTTP_TOKEN_COOKIE;
    return -1;
}

/*
 * CSRF. A browser attaches the cookie apolo_session by itself, so a
 * request that comes with it may have been sent by another site's page;
 * a bearer token is attached by its owner only (scripts), so bearer
 * requests are not concerned. Two checks, on cookie sessions:
 *
 * 1. POST, PUT, PATCH, DELETE (every method but GET, HEAD, OPTIONS) must
 *    carry the header HTTP_CSRF_HEADER (any value; the dashboard's api.js
 *    sends "1"). That suffices because a cross-site page cannot send it:
 *    an HTML form or a "simple" fetch cannot set custom headers, and a
 *    fetch/XHR that sets one is first asked of the server by a CORS
 *    preflight (OPTIONS), which apolod never grants (civetweb's own CORS
 *    answers are turned off in http_start; OPTIONS is 405, with no
 *    Access-Control-Allow-* header): the browser then never sends the
 *    request. It covers what SameSite=Strict does not:
 *    a sibling subdomain is the "same site", and old browsers ignore
 *    SameSite. (Adding CORS to apolod would void this argument.)
 * 2. When the request has an Origin header (browsers send it on every
 *    cross-origin request, on POSTs and on WebSocket upgrades), it must
 *    name the host the request was sent to (Host): otherwise 403 whatever
 *    the method, which also stops another site's page from opening /ws
 *    with the user's cookie (a WebSocket is not bound by the same-origin
 *    policy and cannot carry custom headers). The scheme is not compared:
 *    behind the TLS proxy the browser's https://host reaches apolod as
 *    plain HTTP (the proxy must pass the client's Host on: nginx
 *    "proxy_set_header Host $http_host").
 *
 * Login has no session to protect, but a cross-site form could log the
 * victim into the attacker's account (login CSRF): an unsafe request to a
 * route of role none is refused too when its Origin names another host.
 */
#define HTTP_CSRF_HEADER "X-Apolo-CSRF"

static int http_unsafe_method(const char *m)
{
    return strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0
           && strcmp(m, "OPTIONS") != 0;
}

/* The length of host[:port] s (n bytes) without a trailing ":port" equal
 * to port (the scheme's default, which either side may leave out). */
static size_t http_hostport_len(const char *s, size_t n, const char *port)
{
    size_t p = strlen(port);
    if (n > p + 1 && s[n - p - 1] == ':' && memcmp(s + n - p, port, p) == 0)
        return n - p - 1;
    return n;
}

/* 1 when the request has no Origin, or an Origin "scheme://host[:port]"
 * whose host[:port] is the request's Host (case-insensitive, the default
 * port of the scheme optional); 0 otherwise ("null", another host, no
 * Host header). */
static int http_origin_ok(struct mg_connection *conn)
{
    const char *o = mg_get_header(conn, "Origin");
    if (o == NULL)
        return 1;
    const char *host = mg_get_header(conn, "Host");
    const char *sep = strstr(o, "://");
    if (host == NULL || sep == NULL)
        return 0;
    const char *port;
    if (sep - o == 5 && strncasecmp(o, "https", 5) == 0)
        port = "443";
    else if (sep - o == 4 && strncasecmp(o, "http", 4) == 0)
        port = "80";
    else
        return 0;
    const char *oh = sep + 3;
    size_t on = strlen(oh), hn = strlen(host);
    if (on == 0 || strpbrk(oh, "/?#@ ") != NULL)
        return 0;
    on = http_hostport_len(oh, on, port);
    hn = http_hostport_len(host, hn, port);
    return on == hn && strncasecmp(oh, host, on) == 0;
}

/* The CSRF checks of a request authenticated by the cookie: 0, or 403
 * sent. */
static int http_csrf_check(http_req_t *r)
{
    if (!http_origin_ok(r->conn))
        return http_error(r, 403, "forbidden", "CSRF check failed: the "
                          "Origin header names another site than the Host "
                          "this request was sent to");
    if (http_unsafe_method(r->method)
        && mg_get_header(r->conn, HTTP_CSRF_HEADER) == NULL)
        return http_error(r, 403, "forbidden", "CSRF check failed: a "
                          "request with the session cookie and method %s "
                          "needs the header " HTTP_CSRF_HEADER ": 1 (the "
                          "dashboard sends it; scripts use Authorization: "
                          "Bearer)", r->method);
    return 0;
}

/*
 * Sessions seen valid, for HTTP_SCACHE_TTL_MS: a dialplan asking
 * /api/v1/authorize thousands of times a second must not cost a
 * PostgreSQL query each (the answer itself comes from shared memory).
 * Logout and user changes go through this process and drop entries at
 * once; a session deleted by hand in SQL lives on here for the TTL at
 * most. Direct-mapped by the token hash: a collision only costs a query.
 */
typedef struct http_scache_ent {
    char        hash[AUTH_TOKEN_LEN + 1];
    char        user[65];
    int64_t     user_id;
    int64_t     until_ms;
    http_role_t role;
} http_scache_ent_t;

static http_scache_ent_t http_scache[HTTP_SCACHE_SLOTS];
static pthread_mutex_t   http_scache_mu = PTHREAD_MUTEX_INITIALIZER;

static http_scache_ent_t *http_scache_slot(const char *hash)
{
    return &http_scache[strtoul((char[9]){ hash[0], hash[1], hash[2],
                                           hash[3], hash[4], hash[5],
                                           hash[6], hash[7], 0 },
                                NULL, 16) & (HTTP_SCACHE_SLOTS - 1)];
}

static int http_scache_get(const char *hash, http_req_t *r)
{
    int hit = 0;
    pthread_mutex_lock(&http_scache_mu);
    http_scache_ent_t *e = http_scache_slot(hash);
    if (strcmp(e->hash, hash) == 0 && e->until_ms > http_mono_ns() / 1000000) {
        r->user_id = e->user_id;
        memcpy(r->user, e->user, sizeof r->user);
        r->role = e->role;
        hit = 1;
    }
    pthread_mutex_unlock(&http_scache_mu);
    return hit;
}

/* Kept for the TTL, never past the session's own expiry. */
static void http_scache_put(const char *hash, const http_req_t *r,
                            int64_t left_ms)
{
    pthread_mutex_lock(&http_scache_mu);
    http_scache_ent_t *e = http_scache_slot(hash);
    memcpy(e->hash, hash, sizeof e->hash);
    memcpy(e->user, r->user, sizeof e->user);
    e->user_id = r->user_id;
    e->role = r->role;
    e->until_ms = http_mono_ns() / 1000000
                  + (left_ms < HTTP_SCACHE_TTL_MS ? left_ms : HTTP_SCACHE_TTL_MS);
    pthread_mutex_unlock(&http_scache_mu);
}

void http_session_forget(const char *hash)
{
    pthread_mutex_lock(&http_scache_mu);
    http_scache_ent_t *e = http_scache_slot(hash);
    if (strcmp(e->hash, hash) == 0)
        memset(e, 0, sizeof *e);
    pthread_mutex_unlock(&http_scache_mu);
}

void http_session_forget_all(void)
{
    pthread_mutex_lock(&http_scache_mu);
    memset(http_scache, 0, sizeof http_scache);
    pthread_mutex_unlock(&http_scache_mu);
}

/* 0 when the request carries a live session of a role >= need (r->user_id,
 * user, role, session filled); else the status sent. */
static int http_authenticate(http_req_t *r, http_role_t need)
{
    char tok[AUTH_TOKEN_LEN + 2], hash[AUTH_TOKEN_LEN + 1];

    int from = http_token(r, tok, sizeof tok);
    if (from < 0 || !auth_token_valid(tok))
        return http_error(r, 401, "unauthorized", "log in first");
    auth_token_hash(tok, hash);
    if (http_scache_get(hash, r)) {
        memcpy(r->session, hash, sizeof r->session);
        goto role;
    }
    if (r->db == NULL)
        return http_unavailable(r);
    const char *p[1] = { hash };
    PGresult *res = PQexecParams(r->db,
        "SELECT u.id, u.username, u.role, "
        "       s.last_seen_at < now() - interval '1 minute', "
        "       (extract(epoch FROM s.expires_at - now()) * 1000)::bigint "
        "FROM sessions s JOIN users u ON u.id = s.user_id "
        "WHERE s.token_hash = $1 AND s.expires_at > now() AND u.active",
        1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        LOG_ERROR("http", 0, "session lookup: %s", PQerrorMessage(r->db));
        PQclear(res);
        return PQstatus(r->db) != CONNECTION_OK
                   ? http_unavailable(r)
                   : http_error(r, 500, "internal", "session lookup failed");
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        return http_error(r, 401, "unauthorized", "invalid or expired "
                          "session");
    }
    r->user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    snprintf(r->user, sizeof r->user, "%s", PQgetvalue(res, 0, 1));
    r->role = http_role_parse(PQgetvalue(res, 0, 2));
    int stale = PQgetvalue(res, 0, 3)[0] == 't';
    int64_t left_ms = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
    PQclear(res);
    memcpy(r->session, hash, sizeof r->session);
    if (stale) {
        res = PQexecParams(r->db, "UPDATE sessions SET last_seen_at = now() "
                           "WHERE token_hash = $1", 1, NULL, p, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            LOG_WARN("http", 0, "session last_seen_at: %s",
                     PQerrorMessage(r->db));
        PQclear(res);
    }
    http_scache_put(hash, r, left_ms);
role:
    if (r->role < need)
        return http_error(r, 403, "forbidden", "this needs the %s role",
                          http_role_name(need));
    /* once the session and its role are known good: a bad or expired
     * cookie stays a 401 (the dashboard goes back to its login page), a
     * role too low a plain 403 */
    if (from == HTTP_TOKEN_COOKIE)
        return http_csrf_check(r);
    return 0;
}

/* ---- dispatch ---------------------------------------------------------- */

/* The route for method and path: 0 and *out, or 404, or 405 with the
 * methods of the path in allow. Exact paths win over prefixes, longer
 * prefixes over shorter. */
static int http_match(const http_server_t *s, const char *method,
                      const char *path, const http_route_t **out,
                      const char **subpath, char *allow, size_t cap)
{
    const char *best = NULL;
    size_t bestlen = 0;
    int exact = 0;

    for (size_t t = 0; s->tables[t] != NULL; t++)
        for (const http_route_t *rt = s->tables[t]; rt->method != NULL;
             rt++) {
            size_t n = strlen(rt->path);
            if (strcmp(rt->path, path) == 0) {
                if (!exact) {
                    best = rt->path;
                    exact = 1;
                }
            } else if (!exact && n > 0 && rt->path[n - 1] == '/'
                       && strncmp(path, rt->path, n) == 0 && n > bestlen) {
                best = rt->path;
                bestlen = n;
            }
        }
    if (best == NULL)
        return 404;
    size_t used = 0;
    allow[0] = '\0';
    for (size_t t = 0; s->tables[t] != NULL; t++)
        for (const http_route_t *rt = s->tables[t]; rt->method != NULL;
             rt++) {
            if (strcmp(rt->path, best) != 0)
                continue;
            if (strcmp(rt->method, method) == 0) {
                *out = rt;
                *subpath = path + strlen(best);
                return 0;
            }
            int n = snprintf(allow + used, cap - used, "%s%s",
                             used ? ", " : "", rt->method);
            if (n > 0 && (size_t)n < cap - used)
                used += (size_t)n;
        }
    return 405;
}

static int http_dispatch(struct mg_connection *conn, void *cbdata)
{
    http_server_t *s = cbdata;
    http_thread_t *t = mg_get_thread_pointer(conn);
    const struct mg_request_info *ri = mg_get_request_info(conn);
    int64_t t0 = http_mono_ns();
    const http_route_t *rt = NULL;
    char allow[128];
    http_req_t r;

    memset(&r, 0, sizeof r);
    r.conn = conn;
    r.ri = ri;
    r.method = ri->request_method;
    r.path = ri->local_uri != NULL ? ri->local_uri : "/";
    r.query = ri->query_string;
    r.ctx = s->ctx;
    r.srv = s;

    /* "/" is the dashboard's (admin/www.c serves it under /ui/, since
     * civetweb gives this dispatcher the whole tree) */
    int m = strcmp(r.path, "/") == 0 ? 302
            : http_match(s, r.method, r.path, &rt, &r.subpath, allow,
                         sizeof allow);
    if (m == 302) {
        http_header(&r, "Location", "/ui/");
        http_send(&r, 302, "text/plain; charset=utf-8", "/ui/\n", 5);
    } else if (m == 404) {
        http_error(&r, 404, "not_found", "no such path");
    } else if (m == 405) {
        http_header(&r, "Allow", allow);
        http_error(&r, 405, "method_not_allowed", "allowed: %s", allow);
    } else {
        http_thread_prepare(s, t, &r);
        int denied = 0;
        if (rt->role > HTTP_ROLE_NONE)
            denied = http_authenticate(&r, rt->role);
        else if (http_unsafe_method(r.method) && !http_origin_ok(conn))
            /* login CSRF (see http_csrf_check) */
            denied = http_error(&r, 403, "forbidden", "CSRF check failed: "
                                "the Origin header names another site than "
                                "the Host this request was sent to");
        if (!denied) {
            if (r.rd != NULL)
                qsbr_online(r.rd);
            rt->fn(&r);
            if (r.rd != NULL)
                qsbr_offline(r.rd);
            if (r.status == 0) {
                LOG_ERROR("http", 0, "%s %s: the handler sent nothing",
                          r.method, r.path);
                http_error(&r, 500, "internal", "no response");
            }
        }
        if (r.db != NULL && PQstatus(r.db) == CONNECTION_OK
            && PQtransactionStatus(r.db) != PQTRANS_IDLE) {
            LOG_ERROR("http", 0, "%s %s: the handler left a transaction "
                      "open: rolled back", r.method, r.path);
            PQclear(PQexec(r.db, "ROLLBACK"));
        }
    }
    double ms = (double)(http_mono_ns() - t0) / 1e6;
    /* Reads that succeed are the bulk (a dialplan's authorize): debug.
     * Changes and failures: info (changes are also in audit_log). */
    log_write(r.status < 400 && strcmp(r.method, "GET") == 0
                  ? LOG_LVL_DEBUG : LOG_LVL_INFO, "http", 0,
              "%s %.200s %d %.1f ms user=%s", r.method, r.path, r.status, ms,
              r.user[0] != '\0' ? r.user : "-");
    return r.status;
}

/* ---- the server -------------------------------------------------------- */

static int http_log_message(const struct mg_connection *conn,
                            const char *msg)
{
    (void)conn;
    LOG_WARN("http", 0, "civetweb: %s", msg);
    return 1;
}

static int http_log_access(const struct mg_connection *conn,
                           const char *msg)
{
    (void)conn;
    (void)msg;
    return 1;                      /* http_dispatch writes our own */
}

http_server_t *http_start(proc_ctx_t *ctx, const http_route_t *const *tables)
{
    const char *listen = conf_str(ctx->conf, "admin.listen");
    char threads[24], timeout[24];
    size_t n = 0;

    if (auth_init() != 0) {
        LOG_ERROR("http", 0, "libsodium initialisation failed");
        return NULL;
    }
    while (tables[n] != NULL)
        n++;
    http_server_t *s = calloc(1, sizeof *s);
    const http_route_t **copy = calloc(n + 1, sizeof *copy);
    if (s == NULL || copy == NULL) {
        LOG_ERROR("http", errno, "calloc() failed");
        free(s);
        free(copy);
        return NULL;
    }
    memcpy(copy, tables, n * sizeof *copy);
    s->tables = copy;
    s->ctx = ctx;
    s->max_body = (size_t)ctx->conf->admin_max_body_kb * 1024;

    snprintf(threads, sizeof threads, "%" PRId64, ctx->conf->admin_threads);
    snprintf(timeout, sizeof timeout, "%" PRId64,
             ctx->conf->admin_request_timeout_ms);
    const char *opts[] = {
        "listening_ports", listen,
        "num_threads", threads,
        "request_timeout_ms", timeout,
        "enable_keep_alive", "yes",
        /* civetweb writes headers and body separately: without this the
         * body waits for the client's delayed ACK, 40 ms a request. */
        "tcp_nodelay", "1",
        /* No CORS: civetweb answers preflights (OPTIONS with Origin and
         * Access-Control-Request-Method) itself by default, granting any
         * origin, method and header. Empty: they reach http_dispatch (405),
         * so a foreign page can never send X-Apolo-CSRF (http_csrf_check). */
        "access_control_allow_origin", "",
        "access_control_allow_methods", "",
        "access_control_allow_headers", "",
        NULL };
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.log_message = http_log_message;
    cb.log_access = http_log_access;
    cb.init_thread = http_init_thread;
    cb.exit_thread = http_exit_thread;

    mg_init_library(0);
    s->mg = mg_start(&cb, s, opts);
    if (s->mg == NULL) {
        LOG_ERROR("http", 0, "mg_start() on %s failed", listen);
        mg_exit_library();
        free(copy);
        free(s);
        return NULL;
    }
    mg_set_request_handler(s->mg, "/", http_dispatch, s);
    LOG_INFO("http", "listening on %s, %s threads", listen, threads);
    return s;
}

struct mg_context *http_civetweb(http_server_t *s)
{
    return s->mg;
}

int http_authenticate_conn(http_server_t *s, struct mg_connection *conn,
                           http_role_t need, http_req_t *r)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);

    memset(r, 0, sizeof *r);
    r->conn = conn;
    r->ri = ri;
    r->method = ri->request_method;
    r->path = ri->local_uri != NULL ? ri->local_uri : "/";
    r->query = ri->query_string;
    r->ctx = s->ctx;
    r->srv = s;
    http_thread_prepare(s, mg_get_thread_pointer(conn), r);
    int rc = http_authenticate(r, need);
    r->db = NULL;                  /* the thread's: not the caller's */
    r->rd = NULL;
    return rc;
}

void http_stop(http_server_t *s)
{
    if (s == NULL)
        return;
    mg_stop(s->mg);                /* joins every worker (exit_thread) */
    mg_exit_library();
    free((void *)s->tables);
    free(s);
    LOG_INFO("http", "stopped");
}
