/*
 * load.h -- the supervisor loads the configuration from PostgreSQL into the
 * shared region: rate plans with their periods and decks, accounts and
 * their balances, extensions.
 *
 * Everything is read in one REPEATABLE READ, READ ONLY transaction, so the
 * region reflects one consistent snapshot of the database. Decks are read
 * through a cursor in batches, so a million-row deck never sits in memory
 * twice. Then every deck is built and copied into the heap, one catalog
 * that refers to them all is published, and the decks of the previous
 * catalog are retired.
 *
 * Account slots: an account already in the region (a reload) keeps its slot
 * and its live balance; only its configuration changes. A new account gets
 * a new slot with its PostgreSQL balance as opening balance.
 *
 * All or nothing: on any error (a row the region refuses, PostgreSQL gone,
 * heap full) nothing is published and the previous catalog stays current;
 * the error is logged once with the plan or row that caused it.
 *
 * Supervisor only (it is the single writer of the region).
 */
#ifndef APOLO_LOAD_H
#define APOLO_LOAD_H

#include "shm/publish.h"
#include "shm/region.h"
#include "shm/seen.h"

#include <libpq-fe.h>
#include <stdint.h>

enum { LOAD_OK = 0, LOAD_ERROR = -1 };

typedef struct load_stats {
    uint32_t plans, accounts, extensions, facs;
    uint64_t rates;
    uint64_t catalog_version;
} load_stats_t;

int load_all(PGconn *conn, region_t *r, pub_t *pub, load_stats_t *stats);

/*
 * The CUCM calls PostgreSQL holds (cdr_ids, source cucm) that started at
 * or after horizon_s, into the exactly-once set as billed (shm/seen.h),
 * streamed with COPY so that a million ids cost no more memory than one
 * line. *n gets how many. LOAD_ERROR (logged) when PostgreSQL fails or
 * the set is too small for them (cucm.dedupe_entries).
 */
int load_seen(PGconn *conn, seen_shm_t *s, int64_t horizon_s, uint64_t *n);

#endif
