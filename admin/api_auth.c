/*
 * api_auth.c -- login, logout, the current user, users, and /healthz (see
 * admin/README.md for the rules of the API).
 *
 * Login: the user is looked up case-insensitively (users_username_key is on
 * lower(username)); the password is verified with argon2id against the
 * stored hash, or against a dummy hash when there is no such active user,
 * so both failures cost the same time and get the same answer. A success
 * makes a 32-byte random token, stores only its hash in sessions, and
 * returns the token twice: in the body (scripts: Authorization: Bearer)
 * and as the cookie apolo_session (the dashboard; HttpOnly, SameSite=
 * Strict).
 *
 * Throttling, in this process's memory (a restart of the admin process
 * forgets it): failures are counted per user name (case-insensitive) and
 * per client address over a window of LOGIN_WINDOW_S from the first one;
 * once a key has LOGIN_MAX_FAILS, every attempt on it is refused with 429,
 * without checking the password, until the window ends. Each failure also
 * sleeps LOGIN_FAIL_DELAY_MS before answering. The table has LOGIN_SLOTS
 * entries; when full, the entry whose window started first is replaced.
 *
 * NOTES
 * - Behind a proxy every client has the proxy's address: the per-address
 *   limit then counts all clients together (X-Forwarded-For is not
 *   trusted: anyone can send it).
 * - The sleep holds a civetweb worker thread: 8 threads answer at most
 *   ~26 failed logins a second, whatever the attacker sends.
 * - A user may not deactivate or demote themselves (an admin locking the
 *   last admin out is the usual way to lose the API).
 */
#include "admin/api.h"

#include "admin/auth_hash.h"
#include "admin/http.h"
#include "shm/catalog.h"
#include "shm/log.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOGIN_MAX_FAILS      5
#define LOGIN_WINDOW_S       (15 * 60)
#define LOGIN_FAIL_DELAY_MS  300
#define LOGIN_SLOTS          4096
#define LOGIN_KEY            80

/* ---- failed logins ----------------------------------------------------- */

typedef struct login_fail {
    char     key[LOGIN_KEY];    /* "u:<lower name>" or "ip:<address>" */
    int64_t  first_s;           /* monotonic second of the first failure */
    uint32_t count;
} login_fail_t;

static login_fail_t login_tab[LOGIN_SLOTS];
static pthread_mutex_t login_mu = PTHREAD_MUTEX_INITIALIZER;

static int64_t login_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

/* The entry of key, or NULL. Caller holds login_mu. */
static login_fail_t *login_find_locked(const char *key, int64_t now)
{
    for (size_t i = 0; i < LOGIN_SLOTS; i++) {
        login_fail_t *e = &login_tab[i];
        if (e->count == 0 || strcmp(e->key, key) != 0)
            continue;
        if (now - e->first_s >= LOGIN_WINDOW_S) {
            e->count = 0;              /* window over: forget it */
            return NULL;
        }
        return e;
    }
    return NULL;
}

static int login_blocked(const char *key)
{
    pthread_mutex_lock(&login_mu);
    login_fail_t *e = login_find_locked(key, login_now_s());
    int blocked = e != NULL && e->count >= LOGIN_MAX_FAILS;
    pthread_mutex_unlock(&login_mu);
    return blocked;
}

static void login_failed(const char *key)
{
    int64_t now = login_now_s();
    pthread_mutex_lock(&login_mu);
    login_fail_t *e = login_find_locked(key, now);
    if (e == NULL) {
        login_fail_t *victim = &login_tab[0];
        for (size_t i = 0; i < LOGIN_SLOTS; i++) {
            login_fail_t *c = &login_tab[i];
            if (c->count == 0 || now - c->first_s >= LOGIN_WINDOW_S) {
                victim = c;
                break;
            }
            if (c->first_s < victim->first_s)
                victim = c;
        }
        e = victim;
        snprintf(e->key, sizeof e->key, "%s", key);
        e->first_s = now;
        e->count = 0;
    }
    e->count++;
    pthread_mutex_unlock(&login_mu);
}

static void login_clear(const char *key)
{
    pthread_mutex_lock(&login_mu);
    login_fail_t *e = login_find_locked(key, login_now_s());
    if (e != NULL)
        e->count = 0;
    pthread_mutex_unlock(&login_mu);
}

/* ---- helpers ----------------------------------------------------------- */

/* users.username: 1..64 bytes, no blank or control character. */
static int auth_username_ok(const char *s, size_t len)
{
    if (len == 0 || len > 64)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c == 0x7f)
            return 0;
    }
    return 1;
}

static json_t *auth_user_json(const PGresult *res, int row)
{
    return json_pack("{s:I,s:s,s:s}", "id",
                     (json_int_t)strtoll(PQgetvalue(res, row, 0), NULL, 10),
                     "username", PQgetvalue(res, row, 1),
                     "role", PQgetvalue(res, row, 2));
}

static int auth_need_db(http_req_t *r)
{
    return r->db == NULL ? http_unavailable(r) : 0;
}

/* ---- login, logout, me ------------------------------------------------- */

static int auth_fail(http_req_t *r, const char *ukey, const char *ikey,
                     const char *name)
{
    login_failed(ukey);
    login_failed(ikey);
    http_audit_as(r, name, "login_failed", NULL,
                  json_pack("{s:s}", "ip", http_client_ip(r)));
    struct timespec ts = { 0, LOGIN_FAIL_DELAY_MS * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return http_error(r, 401, "unauthorized", "wrong username or password");
}

static int auth_login(http_req_t *r)
{
    json_t *body;
    char name[65], ukey[LOGIN_KEY], ikey[LOGIN_KEY];

    if (http_read_json(r, 0, &body) != 0)
        return r->status;
    json_t *ju = json_object_get(body, "username");
    json_t *jp = json_object_get(body, "password");
    if (!json_is_string(ju) || !json_is_string(jp)) {
        json_decref(body);
        return http_error(r, 400, "validation", "username and password "
                          "(strings) are required");
    }
    if (json_string_length(jp) > AUTH_PW_MAX) {
        json_decref(body);
        return http_error(r, 400, "validation", "password too long");
    }
    const char *user = json_string_value(ju), *pw = json_string_value(jp);
    snprintf(name, sizeof name, "%s", user);
    int n = snprintf(ukey, sizeof ukey, "u:");
    for (const char *p = name; *p && n < LOGIN_KEY - 1; p++)
        ukey[n++] = (char)tolower((unsigned char)*p);
    ukey[n] = '\0';
    snprintf(ikey, sizeof ikey, "ip:%s", http_client_ip(r));

    if (login_blocked(ukey) || login_blocked(ikey)) {
        json_decref(body);
        return http_error(r, 429, "too_many_attempts", "too many failed "
                          "logins; try again later");
    }
    if (auth_need_db(r)) {
        json_decref(body);
        return r->status;
    }
    const char *p1[1] = { user };
    PGresult *res = http_exec(r,
        "SELECT id, username, role, password_hash FROM users "
        "WHERE lower(username) = lower($1) AND active", 1, p1);
    if (!http_res_ok(res)) {
        json_decref(body);
        return http_db_fail(r, res, "login lookup");
    }
    int found = PQntuples(res) == 1;
    const char *hash = found ? PQgetvalue(res, 0, 3) : auth_dummy_hash();
    int good = auth_verify_password(pw, hash) && found;
    json_decref(body);                 /* the password goes with it */
    if (!good) {
        PQclear(res);
        return auth_fail(r, ukey, ikey, name);
    }
    login_clear(ukey);
    r->user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    snprintf(r->user, sizeof r->user, "%s", PQgetvalue(res, 0, 1));
    r->role = http_role_parse(PQgetvalue(res, 0, 2));
    json_t *ujson = auth_user_json(res, 0);
    PQclear(res);

    char tok[AUTH_TOKEN_LEN + 1], th[AUTH_TOKEN_LEN + 1], uid[24], hours[24];
    auth_new_token(tok);
    auth_token_hash(tok, th);
    snprintf(uid, sizeof uid, "%" PRId64, r->user_id);
    snprintf(hours, sizeof hours, "%" PRId64,
             r->ctx->conf->admin_session_hours);
    const char *p3[3] = { th, uid, hours };
    res = http_exec(r,
        "INSERT INTO sessions (token_hash, user_id, expires_at) "
        "VALUES ($1, $2, now() + make_interval(hours => $3::int)) "
        "RETURNING to_char(expires_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')", 3, p3);
    if (!http_res_ok(res) || PQntuples(res) != 1) {
        json_decref(ujson);
        return http_db_fail(r, res, "session insert");
    }
    json_t *out = json_pack("{s:s,s:o,s:s,s:s}", "token", tok, "user", ujson,
                            "role", http_role_name(r->role), "expires_at",
                            PQgetvalue(res, 0, 0));
    PQclear(res);
    http_audit(r, "login", NULL, json_pack("{s:s}", "ip",
                                           http_client_ip(r)));
    char cookie[160];
    snprintf(cookie, sizeof cookie, "apolo_session=%s; HttpOnly; "
             "SameSite=Strict; Path=/; Max-Age=%" PRId64, tok,
             r->ctx->conf->admin_session_hours * 3600);
    http_header(r, "Set-Cookie", cookie);
    return http_json(r, 200, out);
}

static int auth_logout(http_req_t *r)
{
    const char *p[1] = { r->session };
    http_session_forget(r->session);
    PGresult *res = http_exec(r, "DELETE FROM sessions WHERE token_hash = $1",
                              1, p);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "logout");
    PQclear(res);
    http_audit(r, "logout", NULL, NULL);
    http_header(r, "Set-Cookie", "apolo_session=; HttpOnly; SameSite=Strict; "
                "Path=/; Max-Age=0");
    return http_send(r, 204, "application/json", "", 0);
}

static int auth_me(http_req_t *r)
{
    return http_json(r, 200, json_pack("{s:I,s:s,s:s}", "id",
                                       (json_int_t)r->user_id, "username",
                                       r->user, "role",
                                       http_role_name(r->role)));
}

static int auth_healthz(http_req_t *r)
{
    uint64_t version = 0;
    if (r->rd != NULL) {
        const cat_hdr_t *c = cat_current(r->ctx->region);
        if (c != NULL)
            version = c->version;
    }
    int up = r->db != NULL && PQstatus(r->db) == CONNECTION_OK;
    char body[96];
    int n = snprintf(body, sizeof body, "{\"status\":\"ok\",\"catalog\":%"
                     PRIu64 ",\"postgres\":\"%s\"}", version,
                     up ? "up" : "down");
    return http_send(r, 200, "application/json", body, (size_t)n);
}

/* ---- users ------------------------------------------------------------- */

static int users_create(http_req_t *r)
{
    json_t *body;
    char hash[AUTH_HASH_MAX];

    if (http_read_json(r, 0, &body) != 0)
        return r->status;
    json_t *ju = json_object_get(body, "username");
    json_t *jp = json_object_get(body, "password");
    json_t *jr = json_object_get(body, "role");
    if (!json_is_string(ju) || !json_is_string(jp) || !json_is_string(jr)) {
        json_decref(body);
        return http_error(r, 400, "validation", "username, password and role "
                          "(strings) are required");
    }
    const char *user = json_string_value(ju), *role = json_string_value(jr);
    size_t pwlen = json_string_length(jp);
    int bad = 0;
    if (!auth_username_ok(user, json_string_length(ju)))
        bad = http_error(r, 422, "validation", "username: 1 to 64 "
                         "characters, no blanks");
    else if (http_role_parse(role) == HTTP_ROLE_NONE)
        bad = http_error(r, 422, "validation", "role: admin, operator or "
                         "viewer");
    else if (pwlen < AUTH_PW_MIN || pwlen > AUTH_PW_MAX)
        bad = http_error(r, 422, "validation", "password: %d to %d "
                         "characters", AUTH_PW_MIN, AUTH_PW_MAX);
    else if (auth_hash_password(json_string_value(jp), hash) != 0)
        bad = http_error(r, 500, "internal", "password hashing failed");
    if (bad) {
        json_decref(body);
        return bad;
    }
    const char *p[3] = { user, hash, role };
    PQclear(PQexec(r->db, "BEGIN"));
    PGresult *res = http_exec(r,
        "INSERT INTO users (username, password_hash, role) "
        "VALUES ($1, $2, $3) RETURNING id, username, role", 3, p);
    if (!http_res_ok(res)) {
        json_decref(body);
        if (http_sqlstate_is(res, "23505") || http_sqlstate_is(res, "23514")) {
            int dup = http_sqlstate_is(res, "23505");
            PQclear(res);
            PQclear(PQexec(r->db, "ROLLBACK"));
            return dup ? http_error(r, 409, "conflict", "username already "
                                    "taken")
                       : http_error(r, 422, "validation", "username refused");
        }
        return http_db_fail(r, res, "user insert");
    }
    json_t *u = auth_user_json(res, 0);
    char object[40];
    snprintf(object, sizeof object, "user:%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    int audited = http_audit(r, "user_create", object,
                             json_pack("{s:s,s:s}", "username", user, "role",
                                       role));
    json_decref(body);                 /* user and role point into it */
    if (audited != 0) {
        json_decref(u);
        PQclear(PQexec(r->db, "ROLLBACK"));
        return http_error(r, 500, "internal", "audit failed");
    }
    res = PQexec(r->db, "COMMIT");
    if (!http_res_ok(res)) {
        json_decref(u);
        return http_db_fail(r, res, "user commit");
    }
    PQclear(res);
    json_object_set_new(u, "active", json_true());
    return http_json(r, 201, u);
}

static int users_list(http_req_t *r)
{
    PGresult *res = http_exec(r,
        "SELECT id, username, role, active, "
        "to_char(created_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM users ORDER BY id", 0, NULL);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "user list");
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *u = auth_user_json(res, i);
        json_object_set_new(u, "active",
                            json_boolean(PQgetvalue(res, i, 3)[0] == 't'));
        json_object_set_new(u, "created_at",
                            json_string(PQgetvalue(res, i, 4)));
        json_array_append_new(arr, u);
    }
    PQclear(res);
    return http_json(r, 200, json_pack("{s:o}", "users", arr));
}

/* The id of /api/v1/users/<id>: > 0, or 0. */
static int64_t users_id(const http_req_t *r)
{
    char *end;
    errno = 0;
    long long v = strtoll(r->subpath, &end, 10);
    if (errno != 0 || end == r->subpath || *end != '\0' || v <= 0)
        return 0;
    return v;
}

/* Applies role / password / active (NULL: unchanged) to user id, ends the
 * user's sessions when deactivated or given a new password, audits. */
static int users_change(http_req_t *r, int64_t id, const char *role,
                        const char *hash, const char *active,
                        const char *action, json_t *details)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    const char *p[4] = { ids, role, hash, active };
    PQclear(PQexec(r->db, "BEGIN"));
    PGresult *res = http_exec(r,
        "UPDATE users SET role = coalesce($2, role), "
        "password_hash = coalesce($3, password_hash), "
        "active = coalesce($4::boolean, active) WHERE id = $1 "
        "RETURNING id, username, role, active", 4, p);
    if (!http_res_ok(res)) {
        json_decref(details);
        return http_db_fail(r, res, "user update");
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        json_decref(details);
        PQclear(PQexec(r->db, "ROLLBACK"));
        return http_error(r, 404, "not_found", "no user %s", ids);
    }
    json_t *u = auth_user_json(res, 0);
    json_object_set_new(u, "active", json_boolean(PQgetvalue(res, 0, 3)[0]
                                                  == 't'));
    PQclear(res);
    if (hash != NULL || (active != NULL && active[0] == 'f')) {
        const char *p1[1] = { ids };
        http_session_forget_all();
        res = http_exec(r, "DELETE FROM sessions WHERE user_id = $1", 1, p1);
        if (!http_res_ok(res)) {
            json_decref(u);
            json_decref(details);
            return http_db_fail(r, res, "user sessions");
        }
        PQclear(res);
    }
    char object[40];
    snprintf(object, sizeof object, "user:%s", ids);
    if (http_audit(r, action, object, details) != 0) {
        json_decref(u);
        PQclear(PQexec(r->db, "ROLLBACK"));
        return http_error(r, 500, "internal", "audit failed");
    }
    res = PQexec(r->db, "COMMIT");
    if (!http_res_ok(res)) {
        json_decref(u);
        return http_db_fail(r, res, "user commit");
    }
    PQclear(res);
    return http_json(r, 200, u);
}

static int users_patch(http_req_t *r)
{
    json_t *body;
    char hash[AUTH_HASH_MAX];
    const char *role = NULL, *active = NULL, *hp = NULL;
    int64_t id = users_id(r);

    if (id == 0)
        return http_error(r, 404, "not_found", "no such user");
    if (http_read_json(r, 0, &body) != 0)
        return r->status;
    json_t *jr = json_object_get(body, "role");
    json_t *jp = json_object_get(body, "password");
    json_t *ja = json_object_get(body, "active");
    json_t *details = json_object();
    int bad = 0;
    if ((jr != NULL && !json_is_string(jr)) || (jp != NULL
        && !json_is_string(jp)) || (ja != NULL && !json_is_boolean(ja)))
        bad = http_error(r, 400, "validation", "role and password are "
                         "strings, active a boolean");
    else if (jr != NULL && http_role_parse(json_string_value(jr))
             == HTTP_ROLE_NONE)
        bad = http_error(r, 422, "validation", "role: admin, operator or "
                         "viewer");
    else if (id == r->user_id && (jr != NULL || (ja != NULL
             && !json_is_true(ja))))
        bad = http_error(r, 422, "validation", "you cannot change your own "
                         "role or deactivate yourself");
    else if (jp != NULL && (json_string_length(jp) < AUTH_PW_MIN
             || json_string_length(jp) > AUTH_PW_MAX))
        bad = http_error(r, 422, "validation", "password: %d to %d "
                         "characters", AUTH_PW_MIN, AUTH_PW_MAX);
    else if (jp != NULL && auth_hash_password(json_string_value(jp), hash)
             != 0)
        bad = http_error(r, 500, "internal", "password hashing failed");
    if (bad) {
        json_decref(details);
        json_decref(body);
        return bad;
    }
    if (jr != NULL) {
        role = json_string_value(jr);
        json_object_set_new(details, "role", json_string(role));
    }
    if (jp != NULL) {
        hp = hash;
        json_object_set_new(details, "password", json_string("changed"));
    }
    if (ja != NULL) {
        active = json_is_true(ja) ? "true" : "false";
        json_object_set_new(details, "active", json_boolean(json_is_true(ja)));
    }
    int rc = users_change(r, id, role, hp, active, "user_update", details);
    json_decref(body);
    return rc;
}

static int users_delete(http_req_t *r)
{
    int64_t id = users_id(r);
    if (id == 0)
        return http_error(r, 404, "not_found", "no such user");
    if (id == r->user_id)
        return http_error(r, 422, "validation", "you cannot deactivate "
                          "yourself");
    return users_change(r, id, NULL, NULL, "false", "user_deactivate",
                        NULL);
}

const http_route_t api_auth_routes[] = {
    { "GET", "/healthz", HTTP_ROLE_NONE, auth_healthz },
    { "POST", "/api/v1/login", HTTP_ROLE_NONE, auth_login },
    { "POST", "/api/v1/logout", HTTP_ROLE_VIEWER, auth_logout },
    { "GET", "/api/v1/me", HTTP_ROLE_VIEWER, auth_me },
    { "GET", "/api/v1/users", HTTP_ROLE_ADMIN, users_list },
    { "POST", "/api/v1/users", HTTP_ROLE_ADMIN, users_create },
    { "PATCH", "/api/v1/users/", HTTP_ROLE_ADMIN, users_patch },
    { "DELETE", "/api/v1/users/", HTTP_ROLE_ADMIN, users_delete },
    { NULL, NULL, HTTP_ROLE_NONE, NULL }
};
