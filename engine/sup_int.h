/*
 * sup_int.h -- the supervisor's state, shared by supervisor.c (start, loop,
 * stop) and sup_ctl.c (control requests). Private to engine/.
 */
#ifndef APOLO_SUP_INT_H
#define APOLO_SUP_INT_H

#include "engine/children.h"
#include "engine/sup_job.h"
#include "shm/conf.h"
#include "shm/ctl.h"
#include "shm/journal.h"
#include "shm/publish.h"
#include "shm/region.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdint.h>
#include <sys/types.h>

#define SUP_CLIENTS  16      /* `apolod ctl` connections at once */
#define SUP_WAITERS  64      /* reload requests waiting for one reload */

/* A request whose reply waits for a reload. */
typedef struct sup_waiter {
    int      fd;
    uint64_t id;
} sup_waiter_t;

typedef struct sup_ctl {
    int          lfd;                    /* ctl.socket, -1 none */
    char         path[108];
    int          client[SUP_CLIENTS];    /* accepted, -1 free */
    int64_t      client_ms[SUP_CLIENTS]; /* last activity */
    sup_waiter_t cur[SUP_WAITERS];       /* answered by the running reload */
    sup_waiter_t next[SUP_WAITERS];      /* by the one after it */
    int          ncur, nnext;
} sup_ctl_t;

typedef struct sup {
    conf_t      conf;
    const char *conf_path;
    PGconn     *db;
    region_t    region;
    pub_t      *pub;
    jrn_t       jrn;
    calls_shm_t *calls;       /* active calls table (calls.path) */
    seen_shm_t  *seen;        /* CUCM calls billed (shm/seen.h) */
    int         jrn_lock_fd;
    children_t  kids;
    sup_job_t   job;
    int         job_ok;                  /* job_init succeeded */
    sup_ctl_t   ctl;

    int         ready, stopping, killed, last_signalled;
    int64_t     stop_deadline_ms, last_sync_ms, next_partitions_ms;
    int         reload_pending;          /* a reload must follow the job */

    pid_t       stuck_pid, stuck_killed;
    int64_t     stuck_since_ms;

    uint64_t    catalog_version, reloads, reload_failures;
} sup_t;

/* ---- sup_ctl.c --------------------------------------------------------- */

/* Opens ctl.socket (conf); 0, or the exit code to fail with (logged). */
int  sup_ctl_open(sup_t *s);
void sup_ctl_close(sup_t *s);
/* Adds the fds to watch (listener, clients, children's channels). */
int  sup_ctl_pollfds(sup_t *s, struct pollfd *p, int max);
/* Serves whatever is readable among them. */
void sup_ctl_serve(sup_t *s, const struct pollfd *p, int n, int64_t now_ms);
/* Forgets the waiters of fd (closed by its owner). */
void sup_ctl_drop_fd(sup_t *s, int fd);
/* A job ended: answers the waiters of the reload that ran with text
 * (NULL: the job was not a reload, there are none), then moves the
 * waiters of the next reload up. */
void sup_ctl_job_done(sup_t *s, const char *text);
/* Answers every waiter with "error <why>" (shutdown). */
void sup_ctl_fail_all(sup_t *s, const char *why);

/* ---- supervisor.c ------------------------------------------------------ */

/* Starts a reload now, or after the running job (waiter may be NULL). */
void sup_reload_request(sup_t *s, const sup_waiter_t *w);

#endif
