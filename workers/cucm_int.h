/*
 * cucm_int.h -- what the CUCM worker's two halves share: the folder and
 * its files (cucm.c) and the billing of one record (cucm_bill.c).
 * Private to workers/cucm*.c.
 */
#ifndef APOLO_CUCM_INT_H
#define APOLO_CUCM_INT_H

#include "shm/account.h"
#include "shm/journal.h"
#include "shm/proc.h"
#include "shm/qsbr.h"
#include "shm/seen.h"
#include "shm/stats.h"
#include "workers/cucm.h"
#include "workers/cucm_cdr.h"

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#define CUCM_JRN_WAIT_MS 50

typedef struct cucm_worker {
    proc_ctx_t   *ctx;
    region_t     *region;
    acct_shm_t   *accts;
    seen_shm_t   *seen;
    jrn_writer_t  w;
    int           have_writer;
    qsbr_reader_t rd;
    stats_slot_t *st, st_local;
    pid_t         pid;
    uint32_t      tag;
    int           original;        /* cucm.called = original */
    int           charge_in, charge_int;
    int64_t       horizon_sec;     /* cucm.dedupe_days in seconds */
    const char   *fac_secret;      /* "" = codes cannot be looked up */
    uint64_t      last_seq;        /* our last journal record + 1 */
    char          dir[PATH_MAX / 2];
} cucm_worker_t;

/* What became of one record (cucm_bill). */
typedef enum {
    CUCM_B_BILLED = 0,   /* journaled, with or without money */
    CUCM_B_DUP,          /* billed before: nothing done */
    CUCM_B_SKIP,         /* not billed, for the reason given: report it */
    CUCM_B_RETRY,        /* journal full or busy: try the record again */
    CUCM_B_FULL          /* the exactly-once set is full: stop here */
} cucm_bill_rc_t;

/* Per-file tallies, for the report and the log. */
typedef struct cucm_tally {
    uint64_t billed, charged, dup, skipped;
} cucm_tally_t;

/* Bills record c (its call, its CDR). why gets the reason of a SKIP. The
 * caller is online in QSBR. */
cucm_bill_rc_t cucm_bill(cucm_worker_t *w, const cucm_cdr_t *c,
                         cucm_tally_t *t, char *why, size_t cap);

#endif
