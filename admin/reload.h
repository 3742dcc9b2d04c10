/*
 * reload.h -- asks the supervisor to republish the region after the admin
 * API committed a configuration change in PostgreSQL (shm/ctl.h "reload").
 *
 *   handler: COMMIT -> admin_reload() -> "ok <v>" -> catalog v is current
 *
 * The caller must NOT be online in QSBR (qsbr_offline first): the reload
 * retires the catalog a reader could hold, and a reader online for the
 * whole reload would be taken for a stuck one (supervisor.stuck_reader_ms).
 */
#ifndef APOLO_ADMIN_RELOAD_H
#define APOLO_ADMIN_RELOAD_H

#include "shm/proc.h"

#include <stddef.h>
#include <stdint.h>

#define ADMIN_RELOAD_TIMEOUT_MS 20000

/*
 * Sends "reload" over ctx->ctl_fd and waits (at most
 * ADMIN_RELOAD_TIMEOUT_MS) for "ok <version>". 0 with *catalog_version set
 * (catalog_version may be NULL), or -1 with a reason in err[cap] (no
 * control channel, timeout, the supervisor's "error ..." text). Thread
 * safe: calls are serialised by a process-private mutex, so civetweb's
 * threads take turns on the shared socket; a caller may wait for the
 * reloads of the callers before it. Logs a failure once (mod=api).
 */
int admin_reload(proc_ctx_t *ctx, uint64_t *catalog_version, char *err,
                 size_t cap);

#endif
