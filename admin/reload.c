/*
 * reload.c -- the admin API's "reload" request to the supervisor (see
 * reload.h and shm/ctl.h).
 *
 * NOTES
 * - ctl_request() already serialises the requests of one process; the
 *   mutex here also makes "send, wait, read the version" one step per
 *   caller, so that the version a caller gets is its own reload's.
 * - The supervisor answers a reload with the first reload that *starts*
 *   after the request (engine/sup_ctl.c), so a change committed before
 *   admin_reload() is in the version it returns.
 */
#include "admin/reload.h"

#include "shm/ctl.h"
#include "shm/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t reload_mu = PTHREAD_MUTEX_INITIALIZER;

int admin_reload(proc_ctx_t *ctx, uint64_t *catalog_version, char *err,
                 size_t cap)
{
    char reply[CTL_MSG_MAX];
    int rc;

    if (ctx == NULL || ctx->ctl_fd < 0) {
        snprintf(err, cap, "no control channel to the supervisor");
        return -1;
    }
    pthread_mutex_lock(&reload_mu);
    rc = ctl_request(ctx->ctl_fd, "reload", reply, sizeof reply,
                     ADMIN_RELOAD_TIMEOUT_MS);
    pthread_mutex_unlock(&reload_mu);

    if (rc != CTL_OK) {
        snprintf(err, cap, "%s", rc == CTL_ETIMEDOUT
                 ? "the supervisor did not answer the reload in time"
                 : rc == CTL_ECLOSED ? "the supervisor is gone"
                 : "the control channel failed");
        LOG_ERROR("api", rc == CTL_ERROR ? errno : 0, "reload: %s", err);
        return -1;
    }
    if (strncmp(reply, "ok ", 3) != 0) {
        snprintf(err, cap, "reload refused: %s", reply);
        LOG_ERROR("api", 0, "%s", err);
        return -1;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(reply + 3, &end, 10);
    if (errno != 0 || end == reply + 3) {
        snprintf(err, cap, "unexpected reload reply: %s", reply);
        LOG_ERROR("api", 0, "%s", err);
        return -1;
    }
    if (catalog_version != NULL)
        *catalog_version = (uint64_t)v;
    return 0;
}
