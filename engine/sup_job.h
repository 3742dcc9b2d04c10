/*
 * sup_job.h -- the supervisor's one background job at a time: a reload of
 * the configuration from PostgreSQL (load_all), or the daily creation of
 * partitions.
 *
 * Why a thread: load_all of a million-prefix deck takes seconds, and the
 * main loop must keep syncing the journal every journal.sync_ms (the power
 * loss window), reaping children (a dead worker's account locks block
 * others until it is recovered) and answering requests meanwhile.
 *
 *   main thread                          job thread
 *   job_start(RELOAD) ---- creates ----> load_all(db, region, pub)
 *   ... ticks: jrn_sync, reap, ctl ...   (owns db and pub until done)
 *   efd readable <----- eventfd write --- done: rc, stats
 *   job_finish(): join, read the result
 *
 * Ownership while a job runs: the PGconn and the pub_t (heap, retired
 * list) belong to the job thread; the main thread must not call pub_* (in
 * particular pub_reclaim) nor use the connection until job_finish. Account
 * balances stay shared as always (account.h is lock-free). One job at a
 * time: that is also what makes "one reload at a time" hold.
 */
#ifndef APOLO_SUP_JOB_H
#define APOLO_SUP_JOB_H

#include "engine/load.h"
#include "shm/publish.h"
#include "shm/region.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>

typedef enum { JOB_NONE = 0, JOB_RELOAD, JOB_PARTITIONS } job_kind_t;

typedef struct sup_job {
    PGconn         *db;
    region_t       *region;
    pub_t          *pub;
    int             efd;            /* eventfd: readable when a job is done */
    int             running;        /* main thread's view */
    job_kind_t      kind;
    pthread_t       thread;
    pthread_mutex_t mu;             /* guards cancel */
    PGcancel       *cancel;
    /* result, valid after job_finish */
    int             rc;             /* 0 ok, -1 failed (logged) */
    load_stats_t    stats;
    int64_t         started_ms, took_ms;
    /* set by the supervisor after job_init */
    int64_t         keep_keys_days; /* admin.idempotency_days */
} sup_job_t;

/*
 * The daily housekeeping, also run once at start (supervisor.c): the
 * months of partitions ahead (apolo_ensure_partitions), then what only
 * ages: finished idempotency keys older than keep_days (a retry after
 * that is a new request: admin/README.md) and expired sessions. Pending
 * keys are never deleted: they are a crashed request's recovery claim.
 * 0, or -1 (logged; retried at the next run).
 */
int  job_housekeeping(PGconn *db, int64_t keep_days);

/* 0, or -1 (eventfd failed, logged). */
int  job_init(sup_job_t *j, PGconn *db, region_t *r, pub_t *pub);
void job_destroy(sup_job_t *j);       /* after the last job_finish */

/* Starts kind in the background. 0, or -1: already running, or
 * pthread_create failed (logged). */
int  job_start(sup_job_t *j, job_kind_t kind);

/* Call when efd is readable (or to poll): 1 when a job finished and was
 * joined (result fields valid), 0 when none finished. */
int  job_finish(sup_job_t *j);

/* Asks PostgreSQL to cancel the job's running statement (shutdown): the
 * job then fails and publishes nothing. */
void job_cancel(sup_job_t *j);

#endif
