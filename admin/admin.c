/*
 * admin.c -- the admin process's main (see admin.h).
 *
 * Threads:
 *   main       waits for *ctx->stop (later: runs civetweb's mg_start and
 *              serves the API from its worker threads)
 *   flusher    flusher_run(): journal -> PostgreSQL, its own connection
 *
 * NOTES
 * - *ctx->stop is set by the process's signal handler; both threads read
 *   it. The flusher thread finishes its batch, drains once more and
 *   returns; main joins it before returning, so the process never exits
 *   in the middle of a transaction it could have finished.
 * - The HTTP API will read the flusher's counters with flusher_stats(),
 *   which is safe from any thread.
 */
#include "admin/admin.h"

#include "admin/flusher.h"
#include "shm/conf.h"
#include "shm/log.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

typedef struct admin_flusher_arg {
    flusher_t             *f;
    volatile sig_atomic_t *stop;
    int                    rc;
} admin_flusher_arg_t;

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
    };
    flusher_t *f = flusher_new(ctx->jrn, &fc);
    if (f == NULL)
        return PROC_EXIT_FATAL;

    admin_flusher_arg_t arg = { f, ctx->stop, 0 };
    pthread_t tid;
    int err = pthread_create(&tid, NULL, admin_flusher_thread, &arg);
    if (err != 0) {
        LOG_ERROR("admin", err, "pthread_create() of the flusher failed");
        flusher_free(f);
        return PROC_EXIT_FATAL;
    }
    LOG_INFO("admin", "flusher started: %u rings, batch %lld",
             ctx->jrn->hdr->nrings, (long long)ctx->conf->flush_batch);

    /* ---- HTTP API (civetweb): a later issue starts it here, with
     * mg_start(), gives its handlers `f` for /api/v1/flusher (see
     * flusher_stats) and calls mg_stop() after the loop below. ---- */

    while (!*ctx->stop) {
        struct timespec ts = { 0, 50 * 1000000L };
        nanosleep(&ts, NULL);
    }

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
