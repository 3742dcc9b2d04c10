/*
 * money_common.c -- what api_money.c and api_ingest.c share (see
 * money_common.h).
 */
#include "admin/money_common.h"

#include "shm/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static pthread_key_t  money_wkey;
static pthread_once_t money_wonce = PTHREAD_ONCE_INIT;

static void money_writer_free(void *p)
{
    jrn_writer_t *w = p;
    jrn_writer_close(w);
    free(w);
}

static void money_wkey_make(void)
{
    if (pthread_key_create(&money_wkey, money_writer_free) != 0)
        LOG_ERROR("api", errno, "pthread_key_create() failed");
}

/* This thread's writer, opened on first use: NULL when every ring is
 * taken (logged). */
jrn_writer_t *money_writer(jrn_t *j)
{
    pthread_once(&money_wonce, money_wkey_make);
    jrn_writer_t *w = pthread_getspecific(money_wkey);
    if (w != NULL)
        return w;
    w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    if (jrn_writer_open(j, w) != JRN_OK) {
        LOG_ERROR("api", 0, "no free journal ring for an HTTP thread: "
                  "journal.rings must be >= admin.threads + workers");
        free(w);
        return NULL;
    }
    if (pthread_setspecific(money_wkey, w) != 0) {
        jrn_writer_close(w);
        free(w);
        return NULL;
    }
    return w;
}

PGresult *money_exec(http_req_t *r, const char *sql, int n,
                            const char *const *p)
{
    return PQexecParams(r->db, sql, n, NULL, p, NULL, NULL, 0);
}

int money_ok(const PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* Logs a failed statement and answers 503 (connection gone) or 500. */
int money_db_fail(http_req_t *r, PGresult *res, const char *what)
{
    LOG_ERROR("api", 0, "%s: %s", what, PQerrorMessage(r->db));
    PQclear(res);
    if (PQstatus(r->db) != CONNECTION_OK)
        return http_unavailable(r);
    return http_error(r, 500, "internal", "%s failed", what);
}

/* Runs a statement whose result is not needed: 0 or -1 (logged). */
int money_run(http_req_t *r, const char *what, const char *sql, int n,
                     const char *const *p)
{
    PGresult *res = money_exec(r, sql, n, p);
    int ok = money_ok(res);
    if (!ok)
        LOG_ERROR("api", 0, "%s: %s", what, PQerrorMessage(r->db));
    PQclear(res);
    return ok ? 0 : -1;
}

json_t *money_amount_json(money_t m)
{
    char buf[MONEY_STRLEN];
    money_format(m, buf);
    return json_string(buf);
}

/* 1 locked, 0 still busy after MONEY_LOCK_WAIT_MS, -1 PostgreSQL error
 * (logged). */
int money_lock(http_req_t *r, const char *key)
{
    const char *p[1] = { key };
    struct timespec pause = { 0, 20 * 1000000L };
    for (int waited = 0; ; waited += 20) {
        PGresult *res = money_exec(r,
            "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", 1, p);
        if (!money_ok(res) || PQntuples(res) != 1) {
            LOG_ERROR("api", 0, "key lock: %s", PQerrorMessage(r->db));
            PQclear(res);
            return -1;
        }
        int got = PQgetvalue(res, 0, 0)[0] == 't';
        PQclear(res);
        if (got)
            return 1;
        if (waited >= MONEY_LOCK_WAIT_MS)
            return 0;
        nanosleep(&pause, NULL);
    }
}

void money_unlock(http_req_t *r, const char *key)
{
    const char *p[1] = { key };
    /* if this fails the connection is broken, and the lock went with it */
    money_run(r, "key unlock",
              "SELECT pg_advisory_unlock(hashtextextended($1, 0))", 1, p);
}

