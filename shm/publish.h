/*
 * publish.h -- how the supervisor puts a new version in the region and
 * gets the old one's memory back.
 *
 *   build (private) --> pub_deck: copy into a heap block (invisible)
 *                   --> pub_catalog: copy the catalog, store the root
 *                       (release), retire the old catalog
 *                   --> pub_retire: decks no longer referred to
 *   main loop       --> pub_reclaim: free every retired block whose grace
 *                       period has passed (qsbr.h); never waits
 *
 * Supervisor only, single-threaded: it is the only writer of the root and
 * the heap. Readers are never blocked by any of this; the cost of a reader
 * that does not reach a quiescent point is memory, and pub_reclaim names it
 * (so the supervisor can kill it and reclaim after reaping it).
 */
#ifndef APOLO_PUBLISH_H
#define APOLO_PUBLISH_H

#include "shm/catalog.h"
#include "shm/deck.h"
#include "shm/region.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum { PUB_OK = 0, PUB_ENOMEM = -1, PUB_EINVAL = -2 };

/* pub_new flags */
#define PUB_POISON   0x1   /* fill reclaimed blocks with HEAP_POISON */
#define PUB_NO_GRACE 0x2   /* TESTS ONLY: reclaim without waiting for the
                              grace period, to prove the torture test
                              catches use-after-reclaim */

typedef struct pub pub_t;

/* flags: PUB_POISON, PUB_NO_GRACE. NULL when out of memory. */
pub_t *pub_new(region_t *r, unsigned flags);
void   pub_delete(pub_t *p);

/* Copies a finished deck into a new heap block, *off = its region offset.
 * PUB_ENOMEM when the heap is full even after reclaiming what it can. */
int pub_deck(pub_t *p, const deck_builder_t *b, uint64_t *off);

/* Emits the catalog into a new block, makes it current, retires the old
 * one. On error the current catalog is unchanged. */
int pub_catalog(pub_t *p, cat_builder_t *b);

/* Retires a block the current catalog no longer refers to (an old deck),
 * or one that was never published (a deck whose catalog failed). */
void pub_retire(pub_t *p, uint64_t off);

/* Frees what is past its grace period; returns how many blocks still wait.
 * *holder (may be NULL) gets a reader pid that holds the oldest one. */
size_t pub_reclaim(pub_t *p, pid_t *holder);

uint64_t pub_heap_used(const pub_t *p);

#endif
