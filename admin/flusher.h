/*
 * flusher.h -- drains the journal rings (shm/journal.h) into PostgreSQL,
 * exactly once: ledger rows, CDRs, account balances, and each ring's
 * drained position, in one transaction per batch.
 *
 * One batch (flusher.c has the details):
 *
 *   BEGIN; lock every 'ring:<i>' row of journal_position (FOR UPDATE) and
 *          read the drained positions: the records to take start there
 *   take up to `batch` DONE records, in seq order per ring, stopping at the
 *          first one not DONE (VOID records are taken as rejects)
 *   SAVEPOINT; COPY ledger; COPY cdrs (binary)    -- on a data error: find
 *          the poison record(s) by bisection under savepoints
 *   INSERT journal_rejects (poison records: raw bytes + error)
 *   UPDATE accounts SET balance = balance + sum(delta) per account
 *   UPSERT journal_position (name, drained_seq) per ring drained
 *   COMMIT; then jrn_release(ring, new position)
 *
 * Exactly once: the position moves in the transaction that writes the rows
 * it covers, and every batch starts from the position it read under the
 * row lock, never from memory. A flusher killed after COMMIT and before
 * jrn_release re-reads the position and skips what committed; a second
 * flusher waits on the lock and then starts after the first one's rows.
 *
 * Poison records (see sql/005_journal_rejects.sql): a record that does not
 * decode, is VOID, or whose rows PostgreSQL refuses with a data error
 * (SQLSTATE class 22 or 23, or a trigger's P0001) goes whole into
 * journal_rejects, in the same transaction: no ledger row, no CDR, no
 * balance change in PostgreSQL; counted (stats.rejected) and logged once.
 * Any other failure (connection lost, server down, a lock timeout) rolls
 * the batch back and is retried unchanged: nothing is lost or doubled,
 * and the journal holds the backlog.
 *
 * Threads: a flusher_t is used by one thread at a time (its PGconn is not
 * thread safe), except flusher_stats() and flusher_set_conninfo(), which
 * any thread may call. It consumes the journal: run one per journal (a
 * second one is safe, never useful).
 */
#ifndef APOLO_FLUSHER_H
#define APOLO_FLUSHER_H

#include "shm/journal.h"

#include <signal.h>
#include <stdint.h>

enum {
    FLUSHER_OK = 0,
    FLUSHER_EDB = -1,      /* PostgreSQL failed: rolled back, retry later */
    FLUSHER_EINVAL = -2    /* bad configuration */
};

typedef struct flusher_config {
    const char *conninfo;       /* URL or "k=v ..."; NULL/"" = libpq env */
    uint32_t    batch;          /* records per transaction; 0 = 5000 */
    int         idle_ms;        /* sleep when nothing to drain; 0 = 5 */
    int         linger_ms;      /* sleep after a batch under `batch`
                                   records: larger batches under load */
    int         backoff_min_ms; /* retry delay after a failure; 0 = 100 */
    int         backoff_max_ms; /* doubling up to this; 0 = 5000 */
} flusher_config_t;

/* Counters for the API and the tests. Monotonic unless noted. */
typedef struct flusher_stats {
    uint64_t records;      /* journal records drained (rejects included) */
    uint64_t ledger_rows;  /* ledger rows committed */
    uint64_t cdr_rows;     /* cdrs rows committed */
    uint64_t batches;      /* transactions committed */
    uint64_t retries;      /* batches rolled back for a transient failure */
    uint64_t rejected;     /* records moved to journal_rejects */
    uint64_t connects;     /* successful connections */
    uint64_t lag;          /* gauge: records published, not yet drained */
    int64_t  last_commit_us;  /* gauge: wall clock of the last commit */
    int      connected;    /* gauge: 1 while a connection is up */
    int      failing;      /* gauge: 1 between a failure and a success */
} flusher_stats_t;

typedef struct flusher flusher_t;

/*
 * A flusher for journal j (which must outlive it). Copies cfg (conninfo
 * included). Does not connect yet. Returns NULL if out of memory or cfg
 * is out of range (batch > 1,000,000), after logging.
 */
flusher_t *flusher_new(jrn_t *j, const flusher_config_t *cfg);
void       flusher_free(flusher_t *f);

/* Replaces the conninfo; the connection is reopened with it before the
 * next batch. FLUSHER_OK or FLUSHER_EINVAL (out of memory). */
int flusher_set_conninfo(flusher_t *f, const char *conninfo);

/*
 * Drains what is in the journal now, batch after batch, until a batch
 * finds nothing (or, while producers keep appending, after as many batches
 * as the records published at the call need); no sleeping, no retry. *records (may be NULL) receives
 * how many records committed (rejects included). FLUSHER_OK, or
 * FLUSHER_EDB after the failed batch was rolled back (what committed
 * before it stays committed and released).
 */
int flusher_drain_once(flusher_t *f, uint64_t *records);

/*
 * Loops until *stop: drains, sleeps idle_ms when there is nothing and
 * linger_ms after a batch short of `batch` records, backs
 * off (backoff_min_ms doubling to backoff_max_ms, reconnecting) while
 * PostgreSQL fails, logging the first failure of a run of failures and
 * the recovery. When *stop is seen, drains what is there once more (one
 * attempt) and returns FLUSHER_OK, or FLUSHER_EDB if that last drain
 * failed (the journal keeps the records).
 */
int flusher_run(flusher_t *f, volatile sig_atomic_t *stop);

/* A snapshot of the counters (fields read one by one, each atomically). */
void flusher_stats(const flusher_t *f, flusher_stats_t *out);

/* Fault injection for the tests only (0 = off). COMMIT_LOST: the next
 * batch sends ROLLBACK instead of COMMIT and takes it as a lost answer
 * (then the switch resets itself). KILL_AFTER_COMMIT: the next batch
 * SIGKILLs its own process after COMMIT, before jrn_release. */
enum { FLUSHER_FAULT_COMMIT_LOST = 1, FLUSHER_FAULT_KILL_AFTER_COMMIT = 2 };
extern int flusher_test_fault;

#endif
