/*
 * admin.h -- the admin process: the flusher (journal -> PostgreSQL) and,
 * in a later issue, the civetweb HTTP API, dashboard and WebSocket.
 *
 * Forked by the supervisor after the region and the journal are mapped
 * (shm/proc.h). Only this process and the supervisor talk to PostgreSQL.
 */
#ifndef APOLO_ADMIN_H
#define APOLO_ADMIN_H

#include "shm/proc.h"

/*
 * Runs until *ctx->stop: starts the flusher thread (database_url,
 * flush.batch from ctx->conf), waits, then stops it, which drains what the
 * journal holds once more. Returns a PROC_EXIT_* code: OK after a clean
 * stop (even if the last drain failed: the journal keeps the records for
 * the next run), FATAL if the flusher could not be started.
 */
int admin_main(proc_ctx_t *ctx);

/*
 * The running flusher of this process, for the HTTP API's handlers (GET
 * /metrics reads its counters with flusher_stats(), which any thread may
 * call). Set by admin_main before the HTTP server starts and cleared after
 * the server stopped (its workers joined), so a handler never sees a freed
 * one; NULL outside admin_main (unit tests).
 */
struct flusher;
const struct flusher *admin_flusher(void);

#endif
