/*
 * children.h -- the supervisor's child processes: the table of who should
 * run, forking one into its kind's main, reaping, and restarting with
 * backoff (engine/supervisor.c drives it from its main loop).
 *
 *        spawn ----> running ----(exit/signal)----> reaped
 *          ^                                          |
 *          |     exit 0 (asked to stop), exit 2, or   |
 *          |     the supervisor stopping: stays down  |
 *          +---- restart_at = now + backoff <---------+  exit 1 / crash
 *
 * Backoff: 100 ms, doubling up to supervisor.restart_backoff_max_ms; back
 * to 100 ms for a child that ran at least CHILD_STABLE_MS before dying. A
 * child that fails at start therefore costs the supervisor a fork every
 * max-backoff, not a busy loop.
 *
 * In the child, before its kind's main runs (children.c, child_enter):
 * log_set_process(name); PR_SET_PDEATHSIG = SIGTERM and a getppid() check
 * right after (if the supervisor died before prctl, nobody would tell us);
 * every signal back to its default, SIGTERM sets the child's own stop flag,
 * SIGINT and SIGPIPE ignored (a terminal's Ctrl-C goes to the supervisor,
 * which stops the children in order); every inherited fd closed except the
 * region's, the journal's, the journal lock and its own control channel
 * (the supervisor's PostgreSQL socket in particular: a child must never
 * speak on it).
 *
 * Supervisor only, main thread only (PR_SET_PDEATHSIG fires when the
 * *thread* that forked exits, so forking from a helper thread would kill
 * the children when that thread ends).
 */
#ifndef APOLO_CHILDREN_H
#define APOLO_CHILDREN_H

#include "shm/conf.h"
#include "shm/journal.h"
#include "shm/proc.h"
#include "shm/region.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CHILD_BACKOFF_MIN_MS 100
#define CHILD_STABLE_MS      10000
#define CHILD_NAME_MAX       32

typedef int (*child_main_fn)(proc_ctx_t *ctx);

/* A kind of child, as engine/main.c declares them. */
typedef struct child_kind {
    const char   *name;        /* "admin", "loadgen", later "esl", "cucm" */
    child_main_fn main;
    const char   *count_key;   /* configuration key of its count; NULL: 1 */
    int         (*count)(const conf_t *conf);   /* or this (esl: one per
                                                   node); -1: bad config */
    int           ctl;         /* 1: gets a control channel (ctl.h) */
    int           stop_last;   /* 1: stopped after all the others (the
                                  admin: its flusher's last drain must see
                                  the producers' last records) */
} child_kind_t;

typedef struct child {
    const child_kind_t *kind;
    int       index;                 /* 1.. within its kind */
    char      name[CHILD_NAME_MAX];  /* "admin", "loadgen-2" */
    pid_t     pid;                   /* 0: not running */
    int64_t   started_ms;            /* monotonic */
    int64_t   restart_at_ms;         /* 0: no restart scheduled */
    int64_t   backoff_ms;            /* the next delay */
    int       ctl_fd;                /* supervisor's end, -1 */
    int       down;                  /* 1: stays down (exit 0 or 2) */
    unsigned  starts;                /* forks so far */
} child_t;

/* What every child inherits (the mappings, fds to keep). */
typedef struct child_env {
    region_t     *region;
    jrn_t        *jrn;
    calls_shm_t  *calls;
    seen_shm_t   *seen;
    const conf_t *conf;
    int           keep_fd;           /* journal lock, or -1 */
    pid_t         supervisor;
} child_env_t;

typedef struct children {
    child_t    *v;
    size_t      n;
    child_env_t env;
} children_t;

/* Why a reaped child ended, for the supervisor's decisions. */
typedef enum {
    CHILD_END_STOPPED,     /* exit 0 */
    CHILD_END_FATAL,       /* exit 1: restart with backoff */
    CHILD_END_NORESTART,   /* exit 2 */
    CHILD_END_CRASH        /* other code or a signal: restart with backoff */
} child_end_t;

/*
 * Builds the table from kinds and the configuration (count_key values).
 * 0, or -1 (out of memory, or a count key that conf_int refuses: logged).
 * Nothing is started: the supervisor calls children_start_due.
 */
int  children_init(children_t *cs, const child_kind_t *kinds, size_t nkinds,
                   const child_env_t *env);
void children_free(children_t *cs);

/* Forks every child that is down, not marked down for good, and whose
 * restart time has come (now_ms, monotonic). A failed fork is logged and
 * retried after the backoff. */
void children_start_due(children_t *cs, int64_t now_ms);

/* The child with that pid, or NULL. */
child_t *children_find(children_t *cs, pid_t pid);

/*
 * Records that c ended with wait status st: logs it (exit code or signal
 * name, how long it ran), closes its control channel and schedules a
 * restart per the exit-code contract (proc.h) unless stopping. Returns
 * the classification. Recovery of what it left in the region (journal,
 * QSBR) is the caller's: it happens for every reaped pid.
 */
child_end_t children_ended(children_t *cs, child_t *c, int st, int stopping,
                           int64_t now_ms, int64_t backoff_max_ms);

/* Sends sig to every running child; returns how many. */
int  children_signal(children_t *cs, int sig);
/* The same, only to the children whose kind has stop_last == last. */
int  children_signal_group(children_t *cs, int sig, int last);
/* Running children (of the group, for children_running_group). */
int  children_running(const children_t *cs);
int  children_running_group(const children_t *cs, int last);

static inline int64_t mono_ms(void);

#include <time.h>

static inline int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
