/*
 * proc.h -- what every child of the supervisor receives, and the exit-code
 * contract between them (PostgreSQL's postmaster and nginx's master do the
 * same).
 *
 * The supervisor maps the region and the journal, then forks; the child
 * gets a proc_ctx_t that points at the inherited mappings and calls its
 * kind's main (admin_main, loadgen_main, later esl_main, cucm_main).
 *
 * Exit codes:
 *   PROC_EXIT_OK     0  clean stop (asked to stop): not restarted
 *   PROC_EXIT_FATAL  1  failed, shared state consistent: restarted (backoff)
 *   PROC_EXIT_NORESTART 2  failed in a way a restart cannot fix (bad
 *                       configuration): not restarted, logged loudly
 *   anything else, or a signal: a crash; the supervisor completes what the
 *                       child left half done in the region (journal.h,
 *                       jrn_recover_pid) before restarting it
 *
 * A child checks *ctx->stop between units of work; the supervisor sets it
 * (SIGTERM) to ask for a clean stop. A child also exits when the supervisor
 * dies (PR_SET_PDEATHSIG), so a restarted supervisor starts clean.
 */
#ifndef APOLO_PROC_H
#define APOLO_PROC_H

#include "shm/calls.h"
#include "shm/conf.h"
#include "shm/journal.h"
#include "shm/region.h"
#include "shm/seen.h"

#include <signal.h>

enum {
    PROC_EXIT_OK = 0,
    PROC_EXIT_FATAL = 1,
    PROC_EXIT_NORESTART = 2
};

typedef struct proc_ctx {
    region_t                    *region;
    jrn_t                       *jrn;
    calls_shm_t                 *calls;    /* active calls (calls.h) */
    seen_shm_t                  *seen;     /* CDR calls billed (seen.h) */
    const conf_t                *conf;
    const char                  *name;     /* "admin", "loadgen-1", ... */
    int                          index;    /* instance of its kind, 1.. */
    volatile sig_atomic_t       *stop;     /* set when asked to stop */
    int                          ctl_fd;   /* admin: control channel, else -1 */
} proc_ctx_t;

#endif
