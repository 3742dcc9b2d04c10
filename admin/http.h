/*
 * http.h -- the admin process's HTTP API: a civetweb server, a table of
 * routes, sessions and roles, JSON in and out (jansson).
 *
 * Every module of the API (admin/api_*.c) exports one route table; the
 * server (admin/http.c) takes the list of tables at start. A request is
 * matched on method and path, authenticated (session cookie `apolo_session`
 * for the dashboard, `Authorization: Bearer <token>` for scripts), checked
 * against the route's role (and, for the cookie, against CSRF: the header
 * X-Apolo-CSRF on unsafe methods, Origin = Host; http.c), and handed to
 * the handler with a per-thread
 * PostgreSQL connection and a per-thread QSBR reader that is online for the
 * handler's duration only (catalog and decks may be read, lock-free).
 *
 * Errors are JSON: {"error": {"code": "validation", "message": "..."}}
 * with the status the issue names (400, 401, 403, 404, 409, 413, 422, 500).
 * Amounts are decimal strings ("12.500000"), never JSON numbers.
 *
 * Threads: civetweb's workers call handlers concurrently; everything a
 * handler touches is either its own (http_req_t, the thread's connection
 * and reader) or lock-free shared memory.
 */
#ifndef APOLO_HTTP_H
#define APOLO_HTTP_H

#include "shm/money.h"
#include "shm/proc.h"
#include "shm/qsbr.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

struct mg_connection;
struct mg_request_info;

typedef enum {
    HTTP_ROLE_NONE = 0,        /* no session needed (login, healthz) */
    HTTP_ROLE_VIEWER = 1,      /* read only */
    HTTP_ROLE_OPERATOR = 2,    /* recharges, accounts, reports */
    HTTP_ROLE_ADMIN = 3        /* everything */
} http_role_t;

typedef struct http_req {
    struct mg_connection         *conn;
    const struct mg_request_info *ri;
    const char   *method;
    const char   *path;        /* without the query string */
    const char   *query;       /* after '?', or NULL */
    const char   *subpath;     /* prefix routes: the rest after the prefix */
    proc_ctx_t   *ctx;
    PGconn       *db;          /* this thread's; NULL if PostgreSQL is down */
    qsbr_reader_t *rd;         /* this thread's, online during the handler */
    /* after authentication (role HTTP_ROLE_NONE and user_id 0 otherwise) */
    int64_t       user_id;
    char          user[65];
    http_role_t   role;
    int           status;      /* the status sent, for the access log */
    /* ---- added with admin/http.c ---------------------------------------- */
    struct http_server *srv;
    char          session[65]; /* token hash of the session authenticated
                                  by, "" otherwise (logout deletes it) */
    char          headers[512];/* extra header lines of the response
                                  (http_header), "Name: value\r\n"... */
    size_t        headers_len;
} http_req_t;

/* "admin", "operator", "viewer" (users.role) <-> http_role_t; an unknown
 * name is HTTP_ROLE_NONE, an unknown role "none". */
http_role_t http_role_parse(const char *s);
const char *http_role_name(http_role_t role);

/* Returns the status it sent (http_json / http_error return it). */
typedef int (*http_handler_fn)(http_req_t *r);

typedef struct http_route {
    const char      *method;   /* "GET", "POST", ... */
    const char      *path;     /* exact, or a prefix ending in '/' */
    http_role_t      role;     /* least role allowed */
    http_handler_fn  fn;
} http_route_t;               /* a table ends with { NULL } */

/* ---- responses ------------------------------------------------------------ */

/* Sends body (stolen: decref'd here) as JSON with status. */
int http_json(http_req_t *r, int status, json_t *body);

/* Sends {"error": {"code": code, "message": ...}} with status. */
int http_error(http_req_t *r, int status, const char *code,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Sends a body as is (CSV, text) with its content type. */
int http_send(http_req_t *r, int status, const char *content_type,
              const char *body, size_t len);

/* Adds a header (name: value) to the response the handler sends next
 * (Set-Cookie, Location). 0, or -1 when it does not fit the 512 bytes of
 * r->headers or contains CR/LF (nothing added). */
int http_header(http_req_t *r, const char *name, const char *value);

/* The id of a prefix route's subpath "<id><rest>" (rest "" or "/pin",
 * say): the id (> 0, no leading zero, no overflow), or 0 when the subpath
 * is anything else (the caller answers 404). */
int64_t http_subpath_id(const http_req_t *r, const char *rest);

/* Whether the query string names name at all, with or without a value
 * (a parameter given but unreadable must not pass for absent). */
int http_query_named(const http_req_t *r, const char *name);

/* Query parameter name as an integer in [min, max]: 0 and *out (def when
 * absent), or 400 sent (not an integer, out of range, too long): returns
 * the status. */
int http_query_int(http_req_t *r, const char *name, int64_t min,
                   int64_t max, int64_t def, int64_t *out);

/* {"before": {...}, "after": {...}} of the keys of after whose value
 * differs from before's (audit details of an update); keys listed in skip
 * (NULL-terminated, may be NULL) are left out. A new object. */
json_t *http_diff(const json_t *before, const json_t *after,
                  const char *const *skip);

/* http_audit (details stolen), then COMMIT: 0, or the status sent (500
 * "audit failed", the transaction rolled back: a change that cannot be
 * audited does not happen; or the COMMIT's failure). */
int http_audit_commit(http_req_t *r, const char *action, const char *object,
                      json_t *details);

/* ---- the thread's PostgreSQL connection (r->db) --------------------------- */

/* Starts a handler that needs only PostgreSQL: the QSBR reader offline
 * (nothing of the region is read), then 0, or 503 sent when r->db is NULL
 * (PostgreSQL down): returns the status. */
int http_pg_start(http_req_t *r);

/* PQexecParams on r->db with text parameters and results. */
PGresult *http_exec(http_req_t *r, const char *sql, int n,
                    const char *const *p);

/* 1 when res is COMMAND_OK or TUPLES_OK (NULL: 0). */
int http_res_ok(const PGresult *res);

/* ROLLBACK when a transaction is open (else nothing). */
void http_rollback(http_req_t *r);

/* One row by id as JSON: sql selects it with $1 = id (FOR UPDATE or not,
 * the caller's choice), row turns row 0 into an object. The object, or
 * NULL with *st the status sent: 404 "no <noun> <id>" (an open
 * transaction rolled back), or the statement's failure. */
json_t *http_fetch_row(http_req_t *r, const char *sql, const char *id,
                       json_t *(*row)(const PGresult *res, int i),
                       const char *noun, int *st);

/* Whether a failed res carries that SQLSTATE ("23505"), that constraint. */
int http_sqlstate_is(const PGresult *res, const char *state);
int http_constraint_is(const PGresult *res, const char *name);

/* A failed PostgreSQL statement (res, cleared here; may be NULL): logged
 * once with what and PostgreSQL's message, an open transaction rolled
 * back, then 503 when the connection is gone (the server reconnects), else
 * 500. Returns the status sent. */
int http_db_fail(http_req_t *r, PGresult *res, const char *what);

/* 503 {"error": {"code": "unavailable"}}: for handlers that find
 * r->db == NULL (PostgreSQL down; the server retries the connection). */
int http_unavailable(http_req_t *r);

/* ---- requests --------------------------------------------------------------- */

/* The request body parsed as one JSON object, at most max bytes (0:
 * admin.max_body_kb): 0 and *out (the caller decrefs it), or -1 after
 * answering 411 (no Content-Length), 413 (too large: the body is not
 * read), 400 (not JSON, not an object, the connection failed). */
int http_read_json(http_req_t *r, size_t max, json_t **out);

/* The request body as is, at most max bytes (0: admin.max_body_kb): 0,
 * *out (malloc'd, NUL-terminated after *len bytes; the caller frees it)
 * and *len, or -1 after answering 411, 413 or 400 (the body ended early). */
int http_read_body(http_req_t *r, size_t max, char **out, size_t *len);

/* The client's address as civetweb saw it ("127.0.0.1", "::1"); when that
 * is a proxy named in admin.trusted_proxies, the address its X-Real-IP
 * header gives (the login throttling counts clients, not the proxy). */
const char *http_client_ip(const http_req_t *r);

/* Query parameter name, URL-decoded into buf: buf, or NULL if absent or
 * longer than cap - 1. */
const char *http_query(const http_req_t *r, const char *name, char *buf,
                       size_t cap);

/* A money amount: JSON string "12.5" / "12.500000" (numbers are refused:
 * floats lose money). 0 and *out, or -1. */
int http_money(const json_t *v, money_t *out);

/* Appends to audit_log (who = r->user, what, which object, details stolen).
 * Returns 0, or -1 (logged; the caller decides whether that fails the
 * request: a change that cannot be audited is rolled back). */
int http_audit(http_req_t *r, const char *action, const char *object,
               json_t *details);

/* http_audit with another actor than r->user (login attempts: the name
 * given). */
int http_audit_as(http_req_t *r, const char *actor, const char *action,
                  const char *object, json_t *details);

/* The sessions cache (http.c): a logout drops its session at once, a user
 * change (role, password, deactivation) every cached session. */
void http_session_forget(const char *hash);
void http_session_forget_all(void);

/* ---- the server --------------------------------------------------------------- */

typedef struct http_server http_server_t;

/* Starts civetweb on admin.listen with the route tables (NULL-terminated
 * list). NULL on failure (logged). */
http_server_t *http_start(proc_ctx_t *ctx, const http_route_t *const *tables);
void           http_stop(http_server_t *s);

/* For handlers registered beside the route tables (admin/ws.c): the
 * server's civetweb context (valid until http_stop). */
struct mg_context *http_civetweb(http_server_t *s);

/* Authenticates the request on conn exactly as a route of role need (the
 * worker thread's PostgreSQL connection, the sessions cache; a cookie
 * session from another Origin than Host is refused, as for any route): 0
 * and r filled (user_id, user, role), or the status of the refusal already
 * sent on conn (401, 403, 503). Call it from a civetweb worker thread of s (a
 * websocket connect handler), before anything else is written on conn. */
int http_authenticate_conn(http_server_t *s, struct mg_connection *conn,
                           http_role_t need, http_req_t *r);

#endif
