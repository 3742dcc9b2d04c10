/*
 * sup_job.c -- the supervisor's background job (see sup_job.h).
 *
 * NOTES
 * - The thread is created from the main thread while the supervisor's
 *   signals are blocked, so it inherits the blocked mask and every signal
 *   goes to the main thread's ppoll.
 * - A connection that died since the last job (PostgreSQL restarted) is
 *   reset once and the job retried: load_all is all or nothing, so a
 *   retry can never apply anything twice.
 * - The PGcancel object is made by the job thread, which owns the
 *   connection, and handed to the main thread under a mutex.
 */
#include "engine/sup_job.h"
#include "engine/children.h"
#include "engine/db.h"
#include "shm/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int job_init(sup_job_t *j, PGconn *db, region_t *r, pub_t *pub)
{
    memset(j, 0, sizeof *j);
    j->db = db;
    j->region = r;
    j->pub = pub;
    pthread_mutex_init(&j->mu, NULL);
    j->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (j->efd < 0) {
        LOG_ERROR("supervisor", errno, "eventfd() failed");
        return -1;
    }
    return 0;
}

void job_destroy(sup_job_t *j)
{
    if (j->efd >= 0)
        close(j->efd);
    j->efd = -1;
    pthread_mutex_destroy(&j->mu);
}

static void job_set_cancel(sup_job_t *j, PGcancel *c)
{
    pthread_mutex_lock(&j->mu);
    if (j->cancel != NULL)
        PQfreeCancel(j->cancel);
    j->cancel = c;
    pthread_mutex_unlock(&j->mu);
}

/* Makes sure the connection is usable; 0 or -1 (logged). */
static int job_connection(sup_job_t *j)
{
    if (PQstatus(j->db) != CONNECTION_OK) {
        LOG_WARN("supervisor", 0, "PostgreSQL connection lost: reconnecting");
        PQreset(j->db);
        if (PQstatus(j->db) != CONNECTION_OK) {
            LOG_ERROR("db", 0, "reconnect failed: %s", PQerrorMessage(j->db));
            return -1;
        }
    }
    job_set_cancel(j, PQgetCancel(j->db));
    return 0;
}

int job_housekeeping(PGconn *db, int64_t keep_days)
{
    char days[24];
    snprintf(days, sizeof days, "%lld", (long long)keep_days);
    const char *p[1] = { days };
    if (db_exec(db, "create partitions", "SELECT apolo_ensure_partitions(3)",
                0, NULL) != DB_OK)
        return -1;
    PGresult *res = db_query(db, "expire idempotency keys",
                             "DELETE FROM idempotency_keys WHERE state = "
                             "'done' AND done_at < now() - make_interval("
                             "days => $1::int)", 1, p);
    if (res == NULL)
        return -1;
    const char *keys = PQcmdTuples(res);
    if (strcmp(keys, "0") != 0)
        LOG_INFO("supervisor", "housekeeping: %s idempotency key(s) older "
                 "than %s days deleted", keys, days);
    PQclear(res);
    return db_exec(db, "expire sessions", "DELETE FROM sessions WHERE "
                   "expires_at < now()", 0, NULL) == DB_OK ? 0 : -1;
}

static int job_run_once(sup_job_t *j)
{
    if (job_connection(j) != 0)
        return -1;
    if (j->kind == JOB_RELOAD)
        return load_all(j->db, j->region, j->pub, &j->stats) == LOAD_OK
                   ? 0 : -1;
    return job_housekeeping(j->db, j->keep_keys_days);
}

static void *job_thread(void *arg)
{
    sup_job_t *j = arg;
    uint64_t one = 1;
    j->rc = job_run_once(j);
    if (j->rc != 0 && PQstatus(j->db) != CONNECTION_OK)
        j->rc = job_run_once(j);
    job_set_cancel(j, NULL);
    j->took_ms = mono_ms() - j->started_ms;
    if (write(j->efd, &one, sizeof one) != sizeof one)
        LOG_ERROR("supervisor", errno, "eventfd write failed");
    return NULL;
}

int job_start(sup_job_t *j, job_kind_t kind)
{
    if (j->running)
        return -1;
    j->kind = kind;
    j->rc = -1;
    memset(&j->stats, 0, sizeof j->stats);
    j->started_ms = mono_ms();
    int e = pthread_create(&j->thread, NULL, job_thread, j);
    if (e != 0) {
        LOG_ERROR("supervisor", e, "pthread_create() of the reload job "
                  "failed");
        return -1;
    }
    j->running = 1;
    return 0;
}

int job_finish(sup_job_t *j)
{
    uint64_t n;
    if (!j->running || read(j->efd, &n, sizeof n) != sizeof n)
        return 0;
    pthread_join(j->thread, NULL);
    j->running = 0;
    return 1;
}

void job_cancel(sup_job_t *j)
{
    char err[256];
    pthread_mutex_lock(&j->mu);
    if (j->cancel != NULL && !PQcancel(j->cancel, err, sizeof err))
        LOG_WARN("supervisor", 0, "cannot cancel the running job: %s", err);
    pthread_mutex_unlock(&j->mu);
}
