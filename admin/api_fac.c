/*
 * api_fac.c -- Forced Authorization Codes (FAC) through the API, and their
 * push to CUCM by AXL (admin/axl.h).
 *
 *   GET    /api/v1/facs[?q=&account=&active=&after=&limit=]  viewer
 *   GET    /api/v1/facs/{id}                 viewer
 *   POST   /api/v1/facs                      admin
 *   PATCH  /api/v1/facs/{id}                 admin
 *   DELETE /api/v1/facs/{id}                 admin: active false, removed
 *                                            from CUCM
 *   POST   /api/v1/facs/{id}/push            admin: retry the AXL push
 *   POST   /api/v1/facs/push                 admin: retry every pending or
 *                                            failed push
 *   POST   /api/v1/facs/import               admin: listFacInfo -> FACs
 *   GET    /api/v1/facs/report?from=&to=     viewer: calls, minutes, cost
 *
 * The code is never stored nor returned in clear. code_hash =
 * HMAC-SHA256(fac.secret, code) in hex (cat_fac_code_hash): deterministic,
 * so that the CUCM worker finds the FAC of a CDR's authorizationCodeValue
 * by value, and UNIQUE can refuse a code twice. Not argon2 like the PINs:
 * a PIN is checked against the one row of its extension, but a FAC is
 * found by its code alone, among all FACs, and a salted hash cannot be
 * looked up by value (it would take one ~0.1 s argon2 per row per call).
 * The secret is what protects the codes: without it the hashes cannot be
 * tested; with it, every code of up to 16 digits can, so keep it out of
 * the database and its backups.
 *
 * A change is one transaction (validate, write, audit, COMMIT), then the
 * push to CUCM, outside any transaction:
 *
 *   COMMIT (axl_state pending, change_seq + 1[, pending_code sealed])
 *   pg_advisory_lock(hash of the FAC id)      -- one push of a FAC at a time
 *   read the row: what CUCM must look like now
 *     inactive, in CUCM       removeFacInfo(cucm_name)
 *     active, not in CUCM     addFacInfo(name, code, level)  (needs the code)
 *     active, in CUCM         updateFacInfo(cucm_name, newName, [code], level)
 *   record: synced (when change_seq did not move meanwhile) and
 *           pending_code NULL, or failed + push_error
 *   pg_advisory_unlock
 *
 * The operation comes from the row, not from the request, so a retry
 * (POST .../push, or the next change) always sends the newest state and
 * no outbox can replay a stale one. A failed push leaves the local change
 * in place: the answer is still 2xx, with "axl": {"state": "failed",
 * "error": ...}. Retries are asked for, not timed: POST .../{id}/push for
 * one FAC, POST /api/v1/facs/push for every pending or failed one (a cron
 * job or the dashboard after an outage), and any later change of the FAC
 * pushes its whole state. No background thread: a push that CUCM refused
 * (a name taken there) fails again until someone changes something, and
 * the admin process's thread set is admin.c's, not this module's.
 *
 * pending_code: an add or a code change must carry the code to CUCM, also
 * when retried later, so until that push succeeds the code is kept sealed
 * (crypto_secretbox, key = HMAC-SHA256(fac.secret, a fixed label)), never
 * in clear, and wiped by the successful push. It exposes nothing the hash
 * does not: whoever has fac.secret can test every code against code_hash.
 *
 * NOTES
 * - A FAC deactivated (removed from CUCM) and activated again must be
 *   given its code again: it is not kept once CUCM has it.
 * - An imported FAC whose code CUCM did not return (or fac.secret empty)
 *   has no code_hash ("has_code": false) until a PATCH sets it.
 * - Never logged nor audited: the code. Fault texts that echo it have it
 *   replaced by "***" (axl.c).
 * - Import (listFacInfo) makes the FACs CUCM lists match CUCM: name case,
 *   level, active, synced, and the code's hash when CUCM returns the code;
 *   unpushed local changes of those FACs are overwritten, FACs CUCM does
 *   not list are left alone. One transaction; a row PostgreSQL refuses
 *   (its code is another FAC's) is skipped in its savepoint.
 * - The QSBR reader goes offline first: nothing here reads the region.
 */
#include "admin/api.h"
#include "admin/axl.h"
#include "admin/http.h"
#include "admin/reload.h"

#include "shm/conf.h"
#include "shm/log.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAC_LIMIT_DEF   100
#define FAC_LIMIT_MAX   500
#define FAC_PARAM_CAP   256
#define FAC_RANGE_MAX   (31 * 86400LL)
#define FAC_RANGE_DEF   86400LL
#define FAC_BOX_HEX     ((crypto_secretbox_NONCEBYTES \
                          + crypto_secretbox_MACBYTES + AXL_CODE_MAX) * 2 + 1)

#define FAC_TS(col) "to_char(" col " AT TIME ZONE 'UTC', " \
                    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define FAC_COLS "id, name, authorization_level, account_id, active, " \
    "code_hash IS NOT NULL, " FAC_TS("created_at") ", " \
    FAC_TS("updated_at") ", axl_state, push_error, " FAC_TS("pushed_at") \
    ", cucm_uuid, push_attempts"

static const char *const fac_diff_skip[] = { "axl", "updated_at", NULL };

/* ---- small helpers --------------------------------------------------------- */

static int fac_simple(http_req_t *r, const char *sql, const char *what)
{
    PGresult *res = PQexec(r->db, sql);
    if (!http_res_ok(res))
        return http_db_fail(r, res, what);
    PQclear(res);
    return 0;
}

static int64_t fac_i64(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static json_t *fac_text(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null()
           : json_string(PQgetvalue(res, row, col));
}

static const char *fac_secret(const http_req_t *r)
{
    const char *s = conf_str(r->ctx->conf, "fac.secret");
    return s != NULL ? s : "";
}

/* A row of FAC_COLS: never the code nor its hash. */
static json_t *fac_json(const PGresult *res, int i)
{
    json_t *axl = json_object();
    json_object_set_new(axl, "state", fac_text(res, i, 8));
    json_object_set_new(axl, "error", fac_text(res, i, 9));
    json_object_set_new(axl, "pushed_at", fac_text(res, i, 10));
    json_object_set_new(axl, "uuid", fac_text(res, i, 11));
    json_object_set_new(axl, "attempts", json_integer(fac_i64(res, i, 12)));
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(fac_i64(res, i, 0)));
    json_object_set_new(o, "name", fac_text(res, i, 1));
    json_object_set_new(o, "authorization_level",
                        json_integer(fac_i64(res, i, 2)));
    json_object_set_new(o, "account_id", PQgetisnull(res, i, 3) ? json_null()
                        : json_integer(fac_i64(res, i, 3)));
    json_object_set_new(o, "active",
                        json_boolean(PQgetvalue(res, i, 4)[0] == 't'));
    json_object_set_new(o, "has_code",
                        json_boolean(PQgetvalue(res, i, 5)[0] == 't'));
    json_object_set_new(o, "created_at", fac_text(res, i, 6));
    json_object_set_new(o, "updated_at", fac_text(res, i, 7));
    json_object_set_new(o, "axl", axl);
    return o;
}

/* After a committed change: the region's catalog follows (the workers
 * look FACs up there, shm/catalog.h). A failure is logged by
 * admin_reload and left to the next reload: the change itself stands. */
static void fac_republish(http_req_t *r)
{
    char err[160];
    if (r->rd != NULL)
        qsbr_offline(r->rd);
    admin_reload(r->ctx, NULL, err, sizeof err);
}

/* One FAC as JSON, or NULL with *st (404 or failure sent). */
static json_t *fac_fetch(http_req_t *r, const char *ids, int lock, int *st)
{
    return http_fetch_row(r, lock
        ? "SELECT " FAC_COLS " FROM fac_codes WHERE id = $1 FOR UPDATE"
        : "SELECT " FAC_COLS " FROM fac_codes WHERE id = $1", ids, fac_json,
        "FAC", st);
}

/* ---- the sealed pending code ---------------------------------------------- */

static void fac_box_key(const char *secret,
                        unsigned char key[crypto_secretbox_KEYBYTES])
{
    static const char label[] = "apolo fac pending code v1";
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret,
                                strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)label,
                                  sizeof label - 1);
    crypto_auth_hmacsha256_final(&st, key);
    sodium_memzero(&st, sizeof st);
}

/* code sealed into out[FAC_BOX_HEX] (hex of nonce | box). */
static void fac_seal(const char *secret, const char *code, char *out)
{
    unsigned char key[crypto_secretbox_KEYBYTES];
    unsigned char buf[crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES
                      + AXL_CODE_MAX];
    size_t n = strlen(code);
    fac_box_key(secret, key);
    randombytes_buf(buf, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(buf + crypto_secretbox_NONCEBYTES,
                          (const unsigned char *)code, n, buf, key);
    sodium_bin2hex(out, FAC_BOX_HEX, buf,
                   crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + n);
    sodium_memzero(key, sizeof key);
}

/* The code of a sealed box into code[AXL_CODE_MAX + 1]: 0, or -1 (not a
 * box of this secret). */
static int fac_unseal(const char *secret, const char *hex, char *code)
{
    unsigned char key[crypto_secretbox_KEYBYTES];
    unsigned char buf[crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES
                      + AXL_CODE_MAX];
    size_t len;
    if (sodium_hex2bin(buf, sizeof buf, hex, strlen(hex), NULL, &len, NULL)
        != 0 || len <= crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
        return -1;
    size_t n = len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    fac_box_key(secret, key);
    int rc = crypto_secretbox_open_easy((unsigned char *)code,
                                        buf + crypto_secretbox_NONCEBYTES,
                                        len - crypto_secretbox_NONCEBYTES,
                                        buf, key);
    sodium_memzero(key, sizeof key);
    code[rc == 0 ? n : 0] = '\0';
    return rc == 0 && axl_code_ok(code) ? 0 : -1;
}

/* ---- the push --------------------------------------------------------------- */

/* What the row says CUCM must look like. */
typedef struct fac_target {
    char    name[4 * AXL_NAME_MAX + 1];
    char    cucm_name[4 * AXL_NAME_MAX + 1];
    char    code[AXL_CODE_MAX + 1];        /* "" none pending */
    char    seq[24];
    int     level, active, in_cucm, has_box;
} fac_target_t;

#define FAC_LOCK_SQL "SELECT pg_advisory_lock(hashtextextended(" \
                     "'apolo.fac_push:' || $1, 0))"
#define FAC_UNLOCK_SQL "SELECT pg_advisory_unlock(hashtextextended(" \
                       "'apolo.fac_push:' || $1, 0))"

/* Reads the row under the push lock: 1 to push, 0 nothing to do (synced
 * or gone), -1 PostgreSQL failed (logged). */
static int fac_target(http_req_t *r, const char *ids, fac_target_t *t)
{
    const char *p[1] = { ids };
    PGresult *res = http_exec(r, "SELECT name, authorization_level, active, "
        "cucm_name, pending_code, change_seq, axl_state = 'synced' "
        "FROM fac_codes WHERE id = $1", 1, p);
    if (!http_res_ok(res)) {
        LOG_ERROR("fac", 0, "FAC %s: push read: %s", ids,
                  PQerrorMessage(r->db));
        PQclear(res);
        return -1;
    }
    int go = PQntuples(res) == 1 && PQgetvalue(res, 0, 6)[0] != 't';
    memset(t, 0, sizeof *t);
    if (go) {
        snprintf(t->name, sizeof t->name, "%s", PQgetvalue(res, 0, 0));
        t->level = atoi(PQgetvalue(res, 0, 1));
        t->active = PQgetvalue(res, 0, 2)[0] == 't';
        t->in_cucm = !PQgetisnull(res, 0, 3);
        snprintf(t->cucm_name, sizeof t->cucm_name, "%s",
                 PQgetvalue(res, 0, 3));
        t->has_box = !PQgetisnull(res, 0, 4);
        if (t->has_box && fac_unseal(fac_secret(r), PQgetvalue(res, 0, 4),
                                     t->code) != 0)
            t->code[0] = '\0';
        snprintf(t->seq, sizeof t->seq, "%s", PQgetvalue(res, 0, 5));
    }
    PQclear(res);
    return go;
}

/* Sends what t asks for. AXL_OK with *cucm_name_out (NULL: no longer in
 * CUCM) and uuid, or an error with err. */
static int fac_send(const axl_cfg_t *k, const fac_target_t *t,
                    const char **cucm_name_out, char uuid[AXL_UUID_CAP],
                    char *err, size_t cap)
{
    uuid[0] = '\0';
    *cucm_name_out = t->in_cucm ? t->cucm_name : NULL;
    if (!t->active) {
        *cucm_name_out = NULL;
        return t->in_cucm ? axl_fac_remove(k, t->cucm_name, err, cap)
                          : AXL_OK;
    }
    *cucm_name_out = t->name;
    if (t->in_cucm)
        return axl_fac_update(k, t->cucm_name, t->name,
                              *t->code ? t->code : NULL, t->level, err, cap);
    if (*t->code == '\0') {
        snprintf(err, cap, t->has_box ? "the pending code cannot be opened "
                 "(fac.secret changed?): set the code again (PATCH)"
                 : "no code to add the FAC to CUCM with: set its code "
                   "(PATCH)");
        return AXL_ECONF;
    }
    return axl_fac_add(k, t->name, t->code, t->level, uuid, err, cap);
}

static void fac_record_ok(http_req_t *r, const char *ids,
                          const fac_target_t *t, const char *cucm_name,
                          const char *uuid)
{
    const char *p[5] = { ids, cucm_name, uuid, t->seq,
                         cucm_name == NULL || *uuid ? "t" : "f" };
    PGresult *res = http_exec(r, "UPDATE fac_codes SET cucm_name = $2, "
        "cucm_uuid = CASE WHEN $5::boolean THEN nullif($3, '') "
        "ELSE cucm_uuid END, pushed_at = now(), push_error = NULL, "
        "push_attempts = push_attempts + 1, "
        "axl_state = CASE WHEN change_seq = $4::bigint THEN 'synced' "
        "ELSE axl_state END, "
        "pending_code = CASE WHEN change_seq = $4::bigint THEN NULL "
        "ELSE pending_code END WHERE id = $1", 5, p);
    if (!http_res_ok(res))
        LOG_ERROR("fac", 0, "FAC %s: recording the push: %s", ids,
                  PQerrorMessage(r->db));
    PQclear(res);
}

static void fac_record_fail(http_req_t *r, const char *ids,
                            const fac_target_t *t, const char *err)
{
    const char *p[3] = { ids, err, t->seq };
    PGresult *res = http_exec(r, "UPDATE fac_codes SET axl_state = 'failed', "
        "push_error = $2, push_attempts = push_attempts + 1 "
        "WHERE id = $1 AND change_seq = $3::bigint", 3, p);
    if (!http_res_ok(res))
        LOG_ERROR("fac", 0, "FAC %s: recording the failed push: %s", ids,
                  PQerrorMessage(r->db));
    PQclear(res);
}

#define FAC_EDB (-9)          /* fac_push: PostgreSQL failed */

/* Pushes FAC ids to CUCM (see the top of the file). No transaction may be
 * open. The outcome is in the row (axl_state, push_error); returns AXL_OK
 * (pushed, or nothing to do), an AXL_E* error (logged, recorded), or
 * FAC_EDB. */
static int fac_push(http_req_t *r, const char *ids)
{
    axl_cfg_t k;
    fac_target_t t;
    char err[AXL_ERR_CAP] = "", uuid[AXL_UUID_CAP];
    const char *cucm_name, *p[1] = { ids };
    int cf = axl_configure(r->ctx->conf, &k, err, sizeof err);
    if (cf == 0)
        return 0;
    PGresult *res = http_exec(r, FAC_LOCK_SQL, 1, p);
    int locked = http_res_ok(res);
    if (!locked)
        LOG_ERROR("fac", 0, "FAC %s: push lock: %s", ids,
                  PQerrorMessage(r->db));
    PQclear(res);
    int go = locked ? fac_target(r, ids, &t) : -1;
    int rc = go > 0 ? (cf < 0 ? AXL_ECONF
                       : fac_send(&k, &t, &cucm_name, uuid, err, sizeof err))
                    : AXL_OK;
    if (go > 0 && rc == AXL_OK) {
        fac_record_ok(r, ids, &t, cucm_name, uuid);
        LOG_INFO("fac", "FAC %s pushed to CUCM (%s)", ids, !t.active
                 ? "removed" : t.in_cucm ? "updated" : "added");
    } else if (go > 0) {
        fac_record_fail(r, ids, &t, err);
        LOG_WARN("fac", 0, "FAC %s: AXL push failed: %s", ids, err);
    }
    sodium_memzero(t.code, sizeof t.code);
    sodium_memzero(&k, sizeof k);
    if (locked)
        PQclear(http_exec(r, FAC_UNLOCK_SQL, 1, p));
    return go < 0 ? FAC_EDB : rc;
}

static json_t *fac_import_rows(http_req_t *r, json_t *ids);

/* Pushes, then answers status with the FAC as it is now. */
static int fac_push_answer(http_req_t *r, const char *ids, int status)
{
    int st;
    fac_push(r, ids);
    json_t *o = fac_fetch(r, ids, 0, &st);
    return o != NULL ? http_json(r, status, o) : st;
}

/* ---- body fields -------------------------------------------------------------- */

typedef struct fac_in {
    const char *name, *code, *account, *active;
    int         level, account_null;        /* level -1: absent */
    char        accb[24], hash[65], box[FAC_BOX_HEX], levelb[16];
} fac_in_t;

static const char *const fac_keys[] = { "name", "code", "authorization_level",
    "account_id", "active", NULL };

/* 1..50 characters (UTF-8), no control characters. */
static int fac_name_ok(const char *s)
{
    size_t chars = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c < 0x20 || *c == 0x7f)
            return 0;
        chars += (*c & 0xC0) != 0x80;
    }
    return chars >= 1 && chars <= AXL_NAME_MAX && s[0] != ' '
           && s[strlen(s) - 1] != ' ';
}

static int fac_f_keys(http_req_t *r, json_t *body)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        int known = 0;
        for (int i = 0; fac_keys[i] != NULL; i++)
            known |= strcmp(key, fac_keys[i]) == 0;
        if (!known)
            return http_error(r, 400, "validation", "unknown field \"%s\"",
                              key);
    }
    return 0;
}

/* A string field (NULL when absent): 0, or 400 sent. */
static int fac_f_str(http_req_t *r, json_t *body, const char *k,
                     const char **out)
{
    json_t *v = json_object_get(body, k);
    *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v))
                              != json_string_length(v))
        return http_error(r, 400, "validation", "%s: a string", k);
    *out = json_string_value(v);
    return 0;
}

static int fac_f_level(http_req_t *r, json_t *body, fac_in_t *f)
{
    json_t *v = json_object_get(body, "authorization_level");
    f->level = -1;
    if (v == NULL)
        return 0;
    if (!json_is_integer(v))
        return http_error(r, 400, "validation", "authorization_level: an "
                          "integer");
    if (json_integer_value(v) < 0 || json_integer_value(v) > AXL_LEVEL_MAX)
        return http_error(r, 422, "validation", "authorization_level: 0 to "
                          "%d (CUCM's range)", AXL_LEVEL_MAX);
    f->level = (int)json_integer_value(v);
    snprintf(f->levelb, sizeof f->levelb, "%d", f->level);
    return 0;
}

static int fac_f_other(http_req_t *r, json_t *body, fac_in_t *f)
{
    json_t *a = json_object_get(body, "account_id");
    json_t *act = json_object_get(body, "active");
    if (a != NULL && json_is_null(a)) {
        f->account_null = 1;
    } else if (a != NULL) {
        if (!json_is_integer(a))
            return http_error(r, 400, "validation", "account_id: an integer "
                              "or null");
        if (json_integer_value(a) <= 0)
            return http_error(r, 422, "validation", "account_id: a positive "
                              "id");
        snprintf(f->accb, sizeof f->accb, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(a));
        f->account = f->accb;
    }
    if (act != NULL && !json_is_boolean(act))
        return http_error(r, 400, "validation", "active: true or false");
    if (act != NULL)
        f->active = json_is_true(act) ? "true" : "false";
    return 0;
}

/* Hashes (and, with AXL, seals) a given code. 0, or 422 sent. */
static int fac_f_code(http_req_t *r, fac_in_t *f)
{
    if (f->code == NULL)
        return 0;
    if (!axl_code_ok(f->code))
        return http_error(r, 422, "validation", "code: 1 to %d digits "
                          "(CUCM's limit)", AXL_CODE_MAX);
    const char *secret = fac_secret(r);
    if (cat_fac_code_hash(secret, f->code, f->hash) != 0)
        return http_error(r, 422, "validation", "fac.secret is not "
                          "configured: a FAC code is stored only as an HMAC "
                          "keyed with it; set fac.secret and restart apolod");
    const char *url = conf_str(r->ctx->conf, "axl.url");
    if (url != NULL && *url != '\0')
        fac_seal(secret, f->code, f->box);
    return 0;
}

/* Reads and checks a body (create: name and code required). 0, or the
 * status sent. */
static int fac_read(http_req_t *r, json_t *body, int create, fac_in_t *f)
{
    int st;
    memset(f, 0, sizeof *f);
    if ((st = fac_f_keys(r, body)) != 0
        || (st = fac_f_str(r, body, "name", &f->name)) != 0
        || (st = fac_f_str(r, body, "code", &f->code)) != 0
        || (st = fac_f_level(r, body, f)) != 0
        || (st = fac_f_other(r, body, f)) != 0)
        return st;
    if (create && (f->name == NULL || f->code == NULL))
        return http_error(r, 400, "validation", "%s is required",
                          f->name == NULL ? "name" : "code");
    if (!create && json_object_size(body) == 0)
        return http_error(r, 400, "validation", "nothing to change");
    if (f->name != NULL && !fac_name_ok(f->name))
        return http_error(r, 422, "validation", "name: 1 to %d characters, "
                          "no control characters nor edge blanks",
                          AXL_NAME_MAX);
    return fac_f_code(r, f);
}

/* 409 taken name or code, 422 unknown account or refused value; else the
 * database failure. Consumes res. */
static int fac_write_fail(http_req_t *r, PGresult *res, const char *what)
{
    int st = 0;
    if (http_sqlstate_is(res, "23505")
        && http_constraint_is(res, "fac_codes_name_lower_key"))
        st = http_error(r, 409, "conflict", "the FAC name is taken (names "
                        "are unique whatever their case)");
    else if (http_sqlstate_is(res, "23505")
             && http_constraint_is(res, "fac_codes_code_hash_key"))
        st = http_error(r, 409, "conflict", "another FAC has this code");
    else if (http_sqlstate_is(res, "23503"))
        st = http_error(r, 422, "validation", "account_id: no such account");
    else if (http_sqlstate_is(res, "23514"))
        st = http_error(r, 422, "validation", "refused by the database's "
                        "checks");
    if (st == 0)
        return http_db_fail(r, res, what);
    PQclear(res);
    http_rollback(r);
    return st;
}

static const char *fac_axl_start_state(http_req_t *r)
{
    const char *url = conf_str(r->ctx->conf, "axl.url");
    return url != NULL && *url != '\0' ? "pending" : "local";
}

/* ---- create, change, deactivate, push ------------------------------------------ */

static int facs_insert(http_req_t *r, fac_in_t *f)
{
    int st;
    if ((st = fac_simple(r, "BEGIN", "begin")) != 0)
        return st;
    const char *p[7] = { f->name, f->hash, f->level >= 0 ? f->levelb : "0",
                         f->account, f->active ? f->active : "true",
                         *f->box ? f->box : NULL, fac_axl_start_state(r) };
    PGresult *res = http_exec(r, "INSERT INTO fac_codes (name, code_hash, "
        "authorization_level, account_id, active, pending_code, axl_state) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING " FAC_COLS, 7, p);
    if (!http_res_ok(res))
        return fac_write_fail(r, res, "FAC insert");
    json_t *o = fac_json(res, 0);
    PQclear(res);
    char object[40], ids[24];
    snprintf(ids, sizeof ids, "%" JSON_INTEGER_FORMAT,
             json_integer_value(json_object_get(o, "id")));
    snprintf(object, sizeof object, "fac:%s", ids);
    json_object_del(o, "axl");
    if ((st = http_audit_commit(r, "fac_create", object, o)) != 0)
        return st;
    fac_republish(r);
    return fac_push_answer(r, ids, 201);
}

static int facs_create(http_req_t *r)
{
    json_t *body;
    fac_in_t f;
    int st;
    if ((st = http_pg_start(r)) != 0)
        return st;
    if (http_read_json(r, 0, &body) != 0)
        return r->status;
    if ((st = fac_read(r, body, 1, &f)) == 0)
        st = facs_insert(r, &f);
    sodium_memzero(f.box, sizeof f.box);
    json_decref(body);                 /* the code goes with it */
    return st;
}

/* Applies f to FAC ids (NULL fields unchanged), audits, commits, pushes
 * when CUCM's view changed. */
static int facs_apply(http_req_t *r, const char *ids, const fac_in_t *f,
                      const char *action)
{
    int st;
    if ((st = fac_simple(r, "BEGIN", "begin")) != 0)
        return st;
    json_t *before = fac_fetch(r, ids, 1, &st);
    if (before == NULL)
        return st;
    int cucm = f->name != NULL || f->code != NULL || f->level >= 0
               || f->active != NULL;
    const char *p[9] = { ids, f->name, f->code ? f->hash : NULL,
        f->level >= 0 ? f->levelb : NULL, f->account,
        (f->account || f->account_null) ? "true" : "false", f->active,
        *f->box ? f->box : NULL, cucm ? fac_axl_start_state(r) : NULL };
    PGresult *res = http_exec(r, "UPDATE fac_codes SET "
        "name = coalesce($2, name), code_hash = coalesce($3, code_hash), "
        "authorization_level = coalesce($4::int, authorization_level), "
        "account_id = CASE WHEN $6::boolean THEN $5::bigint "
        "ELSE account_id END, active = coalesce($7::boolean, active), "
        "pending_code = coalesce($8, pending_code), "
        "axl_state = coalesce($9, axl_state), "
        "change_seq = change_seq + CASE WHEN $9 IS NULL THEN 0 ELSE 1 END "
        "WHERE id = $1 RETURNING " FAC_COLS, 9, p);
    if (!http_res_ok(res)) {
        json_decref(before);
        return fac_write_fail(r, res, "FAC update");
    }
    json_t *o = fac_json(res, 0);
    PQclear(res);
    json_t *details = http_diff(before, o, fac_diff_skip);
    if (f->code != NULL)
        json_object_set_new(details, "code_changed", json_true());
    json_decref(before);
    json_decref(o);
    char object[40];
    snprintf(object, sizeof object, "fac:%s", ids);
    if ((st = http_audit_commit(r, action, object, details)) != 0)
        return st;
    fac_republish(r);
    return fac_push_answer(r, ids, 200);
}

static int facs_patch(http_req_t *r)
{
    json_t *body;
    fac_in_t f;
    char ids[24];
    int st;
    int64_t id = http_subpath_id(r, "");
    if ((st = http_pg_start(r)) != 0)
        return st;
    if (id == 0)
        return http_error(r, 404, "not_found", "no such FAC");
    if (http_read_json(r, 0, &body) != 0)
        return r->status;
    snprintf(ids, sizeof ids, "%" PRId64, id);
    if ((st = fac_read(r, body, 0, &f)) == 0)
        st = facs_apply(r, ids, &f, "fac_update");
    sodium_memzero(f.box, sizeof f.box);
    json_decref(body);
    return st;
}

static int facs_delete(http_req_t *r)
{
    fac_in_t f;
    char ids[24];
    int st;
    int64_t id = http_subpath_id(r, "");
    if ((st = http_pg_start(r)) != 0)
        return st;
    if (id == 0)
        return http_error(r, 404, "not_found", "no such FAC");
    memset(&f, 0, sizeof f);
    f.level = -1;
    f.active = "false";
    snprintf(ids, sizeof ids, "%" PRId64, id);
    return facs_apply(r, ids, &f, "fac_deactivate");
}

/* POST /api/v1/facs/{id}/push: the push again (a failed or pending one);
 * audited as fac_push. */
static int facs_push(http_req_t *r)
{
    char ids[24], object[40];
    int st;
    int64_t id = http_subpath_id(r, "/push");
    if ((st = http_pg_start(r)) != 0)
        return st;
    if (id == 0)
        return http_error(r, 404, "not_found", "no such path");
    const char *url = conf_str(r->ctx->conf, "axl.url");
    if (url == NULL || *url == '\0')
        return http_error(r, 422, "validation", "axl.url is not set: there "
                          "is no CUCM to push to");
    snprintf(ids, sizeof ids, "%" PRId64, id);
    json_t *o = fac_fetch(r, ids, 0, &st);
    if (o == NULL)
        return st;
    json_decref(o);
    /* a local FAC (changed while AXL was off) becomes pending: pushed now */
    const char *p[1] = { ids };
    PGresult *res = http_exec(r, "UPDATE fac_codes SET axl_state = 'pending' "
                             "WHERE id = $1 AND axl_state = 'local'", 1, p);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "FAC push state");
    PQclear(res);
    snprintf(object, sizeof object, "fac:%s", ids);
    http_audit(r, "fac_push", object, NULL);
    return fac_push_answer(r, ids, 200);
}

#define FAC_PUSH_BATCH "1000"

/* POST /api/v1/facs/push: every FAC whose push is pending (a process that
 * died before pushing) or failed, in id order, at most FAC_PUSH_BATCH. It
 * stops at the first transport failure (CUCM unreachable: the others would
 * only wait for their timeouts), not at a FAC CUCM refuses. */
static int facs_push_all(http_req_t *r)
{
    int st, synced = 0, failed = 0, stopped = 0;
    if ((st = http_pg_start(r)) != 0)
        return st;
    const char *url = conf_str(r->ctx->conf, "axl.url");
    if (url == NULL || *url == '\0')
        return http_error(r, 422, "validation", "axl.url is not set: there "
                          "is no CUCM to push to");
    const char *p[1] = { FAC_PUSH_BATCH };
    PGresult *res = http_exec(r, "SELECT id FROM fac_codes WHERE axl_state "
        "IN ('pending', 'failed') ORDER BY id LIMIT $1::int", 1, p);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "FAC push list");
    json_t *ids = json_array();
    for (int i = 0; i < PQntuples(res) && !stopped; i++) {
        int rc = fac_push(r, PQgetvalue(res, i, 0));
        synced += rc == AXL_OK;
        failed += rc != AXL_OK;
        stopped = rc == AXL_ENET || rc == FAC_EDB;
        json_array_append_new(ids, json_integer(fac_i64(res, i, 0)));
    }
    PQclear(res);
    json_t *sum = json_pack("{s:i,s:i,s:i,s:b}", "attempted", synced + failed,
                            "synced", synced, "failed", failed, "stopped",
                            stopped);
    http_audit(r, "fac_push", "fac:*", json_deep_copy(sum));
    json_object_set_new(sum, "facs", fac_import_rows(r, ids));
    json_decref(ids);
    return http_json(r, 200, sum);
}

/* ---- reads --------------------------------------------------------------------- */

static int facs_list(http_req_t *r)
{
    char qb[FAC_PARAM_CAP], actb[8], accb[24], ab[24], lb[24];
    int64_t acc, after, limit;
    int st;
    if ((st = http_pg_start(r)) != 0
        || (st = http_query_int(r, "account", 1, INT64_MAX, 0, &acc)) != 0
        || (st = http_query_int(r, "after", 0, INT64_MAX, 0, &after)) != 0
        || (st = http_query_int(r, "limit", 1, FAC_LIMIT_MAX, FAC_LIMIT_DEF,
                               &limit)) != 0)
        return st;
    const char *q = http_query(r, "q", qb, sizeof qb);
    if (q == NULL && r->query != NULL && (strncmp(r->query, "q=", 2) == 0
                                          || strstr(r->query, "&q=") != NULL))
        return http_error(r, 400, "validation", "q: at most %d characters",
                          FAC_PARAM_CAP - 1);
    const char *act = http_query(r, "active", actb, sizeof actb);
    if (act != NULL && strcmp(act, "true") != 0 && strcmp(act, "false") != 0)
        return http_error(r, 400, "validation", "active: true or false");
    snprintf(accb, sizeof accb, "%" PRId64, acc);
    snprintf(ab, sizeof ab, "%" PRId64, after);
    snprintf(lb, sizeof lb, "%" PRId64, limit + 1);
    const char *p[5] = { q != NULL && *q ? q : NULL, acc > 0 ? accb : NULL,
                         act, ab, lb };
    PGresult *res = http_exec(r, "SELECT " FAC_COLS " FROM fac_codes "
        "WHERE ($1::text IS NULL OR position(lower($1) IN lower(name)) > 0) "
        "AND ($2::bigint IS NULL OR account_id = $2) "
        "AND ($3::boolean IS NULL OR active = $3) "
        "AND id > $4::bigint ORDER BY id LIMIT $5::bigint", 5, p);
    if (!http_res_ok(res))
        return http_db_fail(r, res, "FAC list");
    int n = PQntuples(res), more = n > limit;
    if (more)
        n = (int)limit;
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, fac_json(res, i));
    json_t *o = json_pack("{s:o,s:o}", "facs", arr, "next", more && n > 0
                          ? json_integer(fac_i64(res, n - 1, 0))
                          : json_null());
    PQclear(res);
    return http_json(r, 200, o);
}

static int facs_get(http_req_t *r)
{
    char ids[24];
    int st;
    int64_t id = http_subpath_id(r, "");
    if ((st = http_pg_start(r)) != 0)
        return st;
    if (id == 0)
        return http_error(r, 404, "not_found", "no such FAC");
    snprintf(ids, sizeof ids, "%" PRId64, id);
    json_t *o = fac_fetch(r, ids, 0, &st);
    return o != NULL ? http_json(r, 200, o) : st;
}

/* ---- import -------------------------------------------------------------------- */

typedef struct fac_import {
    int     created, updated, skipped, without_code;
    json_t *ids;
} fac_import_t;

#define FAC_UPSERT_SQL \
    "INSERT INTO fac_codes AS f (name, code_hash, authorization_level, " \
    "active, cucm_name, cucm_uuid, axl_state, pushed_at) " \
    "VALUES ($1, $2, $3, true, $1, nullif($4, ''), 'synced', now()) " \
    "ON CONFLICT ((lower(name))) DO UPDATE SET name = EXCLUDED.name, " \
    "code_hash = coalesce(EXCLUDED.code_hash, f.code_hash), " \
    "authorization_level = EXCLUDED.authorization_level, active = true, " \
    "cucm_name = EXCLUDED.name, cucm_uuid = EXCLUDED.cucm_uuid, " \
    "axl_state = 'synced', push_error = NULL, pending_code = NULL, " \
    "pushed_at = now(), change_seq = f.change_seq + 1 " \
    "RETURNING id, xmax = 0"

/* One listed FAC into the open transaction, in a savepoint: a row that
 * PostgreSQL refuses (its code taken by another FAC) is skipped. 0, or -1
 * (the connection failed: the status sent). */
static int fac_import_one(http_req_t *r, const axl_fac_t *a, fac_import_t *m)
{
    char hash[65], lv[16];
    int hashed = *a->code && cat_fac_code_hash(fac_secret(r), a->code,
                                               hash) == 0;
    if (!fac_name_ok(a->name) || a->level < 0) {
        m->skipped++;
        return 0;
    }
    snprintf(lv, sizeof lv, "%d", a->level);
    const char *p[4] = { a->name, hashed ? hash : NULL, lv, a->uuid };
    PQclear(PQexec(r->db, "SAVEPOINT fac_row"));
    PGresult *res = http_exec(r, FAC_UPSERT_SQL, 4, p);
    if (!http_res_ok(res)) {
        LOG_INFO("fac", "import: FAC \"%s\" skipped: %s", a->name,
                 PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
        PQclear(res);
        m->skipped++;
        res = PQexec(r->db, "ROLLBACK TO SAVEPOINT fac_row");
        int ok = http_res_ok(res);
        return ok ? (PQclear(res), 0) : http_db_fail(r, res, "FAC import");
    }
    json_array_append_new(m->ids, json_integer(fac_i64(res, 0, 0)));
    if (PQgetvalue(res, 0, 1)[0] == 't')
        m->created++;
    else
        m->updated++;
    m->without_code += !hashed;
    PQclear(res);
    return 0;
}

/* The rows of ids (a JSON array of integers) as JSON, by id. */
static json_t *fac_import_rows(http_req_t *r, json_t *ids)
{
    json_t *arr = json_array();
    char *list = json_dumps(ids, JSON_COMPACT);
    if (list == NULL)
        return arr;
    list[0] = '{';
    list[strlen(list) - 1] = '}';
    const char *p[1] = { list };
    PGresult *res = http_exec(r, "SELECT " FAC_COLS " FROM fac_codes "
                             "WHERE id = ANY($1::bigint[]) ORDER BY id", 1, p);
    for (int i = 0; http_res_ok(res) && i < PQntuples(res); i++)
        json_array_append_new(arr, fac_json(res, i));
    PQclear(res);
    free(list);
    return arr;
}

static int facs_import_write(http_req_t *r, axl_fac_t *list, size_t n)
{
    fac_import_t m = { 0, 0, 0, 0, json_array() };
    int st;
    if ((st = fac_simple(r, "BEGIN", "begin")) != 0) {
        json_decref(m.ids);
        return st;
    }
    for (size_t i = 0; i < n; i++)
        if ((st = fac_import_one(r, &list[i], &m)) != 0) {
            json_decref(m.ids);
            return st;
        }
    json_t *sum = json_pack("{s:i,s:i,s:i,s:i,s:i}", "listed", (int)n,
                            "created", m.created, "updated", m.updated,
                            "skipped", m.skipped, "without_code",
                            m.without_code);
    if ((st = http_audit_commit(r, "fac_import", "fac:*",
                               json_deep_copy(sum))) != 0) {
        json_decref(sum);
        json_decref(m.ids);
        return st;
    }
    fac_republish(r);
    json_object_set_new(sum, "facs", fac_import_rows(r, m.ids));
    json_decref(m.ids);
    return http_json(r, 200, sum);
}

static int facs_import(http_req_t *r)
{
    axl_cfg_t k;
    axl_fac_t *list;
    size_t n;
    char err[AXL_ERR_CAP] = "";
    int st;
    if ((st = http_pg_start(r)) != 0)
        return st;
    int cf = axl_configure(r->ctx->conf, &k, err, sizeof err);
    if (cf == 0)
        return http_error(r, 422, "validation", "axl.url is not set: there "
                          "is no CUCM to import from");
    if (cf < 0)
        return http_error(r, 422, "validation", "%s", err);
    int rc = axl_fac_list(&k, &list, &n, err, sizeof err);
    sodium_memzero(&k, sizeof k);
    if (rc != AXL_OK) {
        LOG_WARN("fac", 0, "import: listFacInfo failed: %s", err);
        return http_error(r, 502, "axl", "listFacInfo failed: %s", err);
    }
    st = facs_import_write(r, list, n);
    if (list != NULL)
        sodium_memzero(list, n * sizeof *list);
    free(list);
    return st;
}

/* ---- report -------------------------------------------------------------------- */

/* Unix seconds, or YYYY-MM-DD[THH:MM[:SS]][Z] in UTC. 0 or -1. */
static int fac_time(const char *s, int64_t *out)
{
    struct tm tm = { 0 };
    int y, mo, d, h = 0, mi = 0, se = 0, k = 0;
    size_t n = strlen(s);
    if (n > 0 && n <= 12 && strspn(s, "0123456789") == n) {
        *out = strtoll(s, NULL, 10);
        return 0;
    }
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &k) != 3 || k != 10)
        return -1;
    const char *p = s + 10;
    if ((*p == 'T' || *p == ' ') && sscanf(p + 1, "%2d:%2d%n", &h, &mi, &k)
        == 2 && k == 5) {
        p += 6;
        if (*p == ':' && sscanf(p + 1, "%2d%n", &se, &k) == 1 && k == 2)
            p += 3;
    }
    if (*p == 'Z')
        p++;
    if (*p != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31
        || h > 23 || mi > 59 || se > 59)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    *out = (int64_t)timegm(&tm);
    return 0;
}

/* from= / to= (default: the 24 h before now), [from, to), 31 days at
 * most, as "YYYY-MM-DD HH:MM:SS+00" into f and t. 0, or 400 sent. */
static int fac_range(http_req_t *r, char f[40], char t[40])
{
    char a[64], b[64];
    int64_t fs, ts;
    int hf = http_query(r, "from", a, sizeof a) != NULL;
    int ht = http_query(r, "to", b, sizeof b) != NULL;
    if ((hf && fac_time(a, &fs) != 0) || (ht && fac_time(b, &ts) != 0))
        return http_error(r, 400, "validation", "%s: an ISO 8601 UTC time "
                          "or unix seconds", hf && fac_time(a, &fs) != 0
                          ? "from" : "to");
    if (!ht)
        ts = hf ? fs + FAC_RANGE_DEF : (int64_t)time(NULL) + 1;
    if (!hf)
        fs = ts - FAC_RANGE_DEF;
    if (ts <= fs)
        return http_error(r, 400, "validation", "to: must be after from");
    if (ts - fs > FAC_RANGE_MAX)
        return http_error(r, 400, "validation", "to: the range from..to is "
                          "at most 31 days");
    struct tm tf, tt;
    time_t xf = (time_t)fs, xt = (time_t)ts;
    gmtime_r(&xf, &tf);
    gmtime_r(&xt, &tt);
    strftime(f, 40, "%Y-%m-%d %H:%M:%S+00", &tf);
    strftime(t, 40, "%Y-%m-%d %H:%M:%S+00", &tt);
    return 0;
}

#define FAC_REPORT_SQL \
    "SELECT c.fac_id, f.name, f.account_id, count(*), " \
    "count(*) FILTER (WHERE c.billsec > 0), coalesce(sum(c.billsec), 0), " \
    "round(coalesce(sum(c.billsec), 0) / 60.0, 4)::text, " \
    "coalesce(sum(c.cost), 0) " \
    "FROM cdrs c LEFT JOIN fac_codes f ON f.id = c.fac_id " \
    "WHERE c.start_at >= $1::timestamptz AND c.start_at < $2::timestamptz " \
    "AND c.fac_id IS NOT NULL " \
    "GROUP BY c.fac_id, f.name, f.account_id " \
    "ORDER BY sum(c.cost) DESC, c.fac_id"

static json_t *fac_report_row(const PGresult *res, int i)
{
    char cost[MONEY_STRLEN];
    money_format(fac_i64(res, i, 7), cost);
    return json_pack("{s:I,s:o,s:o,s:I,s:I,s:I,s:s,s:s}",
        "fac_id", (json_int_t)fac_i64(res, i, 0),
        "name", fac_text(res, i, 1),
        "account_id", PQgetisnull(res, i, 2) ? json_null()
                      : json_integer(fac_i64(res, i, 2)),
        "calls", (json_int_t)fac_i64(res, i, 3),
        "answered", (json_int_t)fac_i64(res, i, 4),
        "seconds", (json_int_t)fac_i64(res, i, 5),
        "minutes", PQgetvalue(res, i, 6), "cost", cost);
}

/* A cancelled report (statement_timeout) is 503 timeout; else as usual. */
static int fac_report_fail(http_req_t *r, PGresult *res)
{
    if (http_sqlstate_is(res, "57014")) {
        PQclear(res);
        http_rollback(r);
        return http_error(r, 503, "timeout", "the FAC report took over "
                          "%lld ms: narrow the range", (long long)
                          r->ctx->conf->admin_report_timeout_ms);
    }
    return http_db_fail(r, res, "FAC report");
}

static int facs_report(http_req_t *r)
{
    char from[40], to[40], sql[96];
    int st;
    if ((st = http_pg_start(r)) != 0 || (st = fac_range(r, from, to)) != 0)
        return st;
    snprintf(sql, sizeof sql, "BEGIN READ ONLY; SET LOCAL statement_timeout "
             "= %lld", (long long)r->ctx->conf->admin_report_timeout_ms);
    if ((st = fac_simple(r, sql, "FAC report begin")) != 0)
        return st;
    const char *p[2] = { from, to };
    PGresult *res = http_exec(r, FAC_REPORT_SQL, 2, p);
    if (!http_res_ok(res))
        return fac_report_fail(r, res);
    PQclear(PQexec(r->db, "COMMIT"));
    json_t *rows = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(rows, fac_report_row(res, i));
    PQclear(res);
    return http_json(r, 200, json_pack("{s:s,s:s,s:o}", "from", from,
                                       "to", to, "rows", rows));
}

const http_route_t api_fac_routes[] = {
    { "GET", "/api/v1/facs", HTTP_ROLE_VIEWER, facs_list },
    { "POST", "/api/v1/facs", HTTP_ROLE_ADMIN, facs_create },
    { "GET", "/api/v1/facs/report", HTTP_ROLE_VIEWER, facs_report },
    { "POST", "/api/v1/facs/import", HTTP_ROLE_ADMIN, facs_import },
    { "POST", "/api/v1/facs/push", HTTP_ROLE_ADMIN, facs_push_all },
    { "GET", "/api/v1/facs/", HTTP_ROLE_VIEWER, facs_get },
    { "PATCH", "/api/v1/facs/", HTTP_ROLE_ADMIN, facs_patch },
    { "DELETE", "/api/v1/facs/", HTTP_ROLE_ADMIN, facs_delete },
    { "POST", "/api/v1/facs/", HTTP_ROLE_ADMIN, facs_push },
    { NULL, NULL, HTTP_ROLE_NONE, NULL }
};
