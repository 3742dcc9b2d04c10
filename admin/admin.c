/*
 * admin.c -- the admin process's main (see admin.h).
 *
 * Threads:
 *   main       starts the HTTP server (http_start: civetweb, admin.threads
 *              workers serving the route tables of admin/api.h), then
 *              waits for *ctx->stop
 *   flusher    flusher_run(): journal -> PostgreSQL, its own connection
 *   civetweb   its master thread and admin.threads workers (admin/http.c)
 *   ws         the /ws broadcaster and one sender per WebSocket client
 *              (admin/ws.c), started with the HTTP server
 *
 * Order at stop: the HTTP server stops first (mg_stop joins its workers, so
 * no request is half done), then the flusher is told to stop: its final
 * drain sees everything the API wrote to the journal.
 *
 * NOTES
 * - The flusher is this process's first duty: when the HTTP server cannot
 *   start (port taken, bad admin.listen), that is logged loudly and
 *   retried every HTTP_RETRY_MS while the flusher keeps draining; the
 *   process does not exit for it.
 * - *ctx->stop is set by the process's signal handler; main reads it and
 *   passes it on to the flusher through its own flag (flusher_stop). The
 *   flusher finishes its batch, drains once more and returns; main joins
 *   it before returning, so the process never exits in the middle of a
 *   transaction it could have finished.
 * - The HTTP API may read the flusher's counters with flusher_stats(),
 *   which is safe from any thread; handlers find the flusher with
 *   admin_flusher() (GET /metrics).
 */
#include "admin/admin.h"

#include "admin/api.h"
#include "admin/alert.h"
#include "admin/flusher.h"
#include "admin/http.h"
#include "admin/ws.h"
#include "admin/www.h"
#include "shm/conf.h"
#include "shm/log.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#define HTTP_RETRY_MS 5000

typedef struct admin_flusher_arg {
    flusher_t             *f;
    volatile sig_atomic_t *stop;
    int                    rc;
} admin_flusher_arg_t;

static flusher_t *admin_cur_flusher;   /* admin_flusher(); see admin.h */

const struct flusher *admin_flusher(void)
{
    return __atomic_load_n(&admin_cur_flusher, __ATOMIC_ACQUIRE);
}

static void *admin_flusher_thread(void *p)
{
    admin_flusher_arg_t *a = p;
    a->rc = flusher_run(a->f, a->stop);
    return NULL;
}

int admin_main(proc_ctx_t *ctx)
{
    flusher_config_t fc = {
        .conninfo = conf_str(ctx->conf, "database_url"),
        .batch = (uint32_t)ctx->conf->flush_batch,
        .linger_ms = (int)ctx->conf->flush_linger_ms,
    };
    pid_t supervisor = getppid();       /* see the fast exit below */
    flusher_t *f = flusher_new(ctx->jrn, &fc);
    if (f == NULL)
        return PROC_EXIT_FATAL;

    volatile sig_atomic_t flusher_stop = 0;
    admin_flusher_arg_t arg = { f, &flusher_stop, 0 };
    pthread_t tid;
    int err = pthread_create(&tid, NULL, admin_flusher_thread, &arg);
    if (err != 0) {
        LOG_ERROR("admin", err, "pthread_create() of the flusher failed");
        flusher_free(f);
        return PROC_EXIT_FATAL;
    }
    LOG_INFO("admin", "flusher started: %u rings, batch %lld",
             ctx->jrn->hdr->nrings, (long long)ctx->conf->flush_batch);

    __atomic_store_n(&admin_cur_flusher, f, __ATOMIC_RELEASE);
    static const http_route_t *const tables[] = {
        api_auth_routes, api_rating_routes, api_accounts_routes,
        api_money_routes, api_plans_routes, api_cdrs_routes,
        api_metrics_routes, api_ingest_routes, api_bulk_routes,
        api_alerts_routes, api_fac_routes, api_periods_routes, NULL };
    http_server_t *http = NULL;
    ws_hub_t *ws = NULL;
    alert_t *alerts = alert_start(ctx);     /* NULL: none, logged */
    int waited_ms = HTTP_RETRY_MS;     /* try at once */
    while (!*ctx->stop) {
        if (http == NULL && waited_ms >= HTTP_RETRY_MS) {
            http = http_start(ctx, tables);
            if (http == NULL)
                LOG_ERROR("admin", 0, "the HTTP API is DOWN (admin.listen "
                          "= %s): retrying every %d s; the flusher goes on",
                          conf_str(ctx->conf, "admin.listen"),
                          HTTP_RETRY_MS / 1000);
            else {
                ws = ws_start(http, ctx);    /* NULL: no /ws, logged */
                www_start(http);             /* -1: no dashboard, logged */
            }
            waited_ms = 0;
        }
        struct timespec ts = { 0, 50 * 1000000L };
        nanosleep(&ts, NULL);
        waited_ms += 50;
    }

    if (getppid() != supervisor) {
        /* The supervisor died (PR_SET_PDEATHSIG sent the SIGTERM): nobody
         * waits for a clean stop, and a restarted supervisor waits for us
         * to be gone before it takes the journal. A clean stop costs over
         * a second (civetweb's stop alone); leaving now is what kill -9
         * would do, which this process is built to survive: the journal
         * keeps every record for the next flusher, a half-done request is
         * completed by its retry or by the supervisor's recovery. */
        LOG_WARN("admin", 0, "the supervisor is gone: exiting at once (the "
                 "next admin process drains the journal)");
        _exit(PROC_EXIT_OK);
    }
    alert_stop(alerts);
    ws_stop(ws);                       /* no more events queued */
    http_stop(http);                   /* closes the /ws clients */
    ws_free(ws);
    __atomic_store_n(&admin_cur_flusher, NULL, __ATOMIC_RELEASE);
    flusher_stop = 1;
    pthread_join(tid, NULL);
    flusher_stats_t st;
    flusher_stats(f, &st);
    LOG_INFO("admin", "flusher stopped: %llu records, %llu batches, "
             "%llu rejected, %llu left in the journal%s",
             (unsigned long long)st.records, (unsigned long long)st.batches,
             (unsigned long long)st.rejected, (unsigned long long)st.lag,
             arg.rc == FLUSHER_OK ? "" : " (PostgreSQL unreachable)");
    flusher_free(f);
    return PROC_EXIT_OK;
}
