/*
 * seen.h -- the calls already billed from CDR files: the set that makes a
 * CUCM call exactly once whatever is delivered twice, replayed after a
 * crash or found in two files.
 *
 * A CDR file arrives after its calls ended, possibly again (CUCM resends
 * what it thinks was not received; an operator copies a file back), and
 * the worker billing it can die anywhere in it. Its records carry their
 * identity (the call id of workers/cucm_cdr.h), and PostgreSQL refuses a
 * second CDR of one id (cdr_ids), but only when the flusher drains it,
 * long after the worker moved the balance. So the worker asks this set
 * BEFORE it moves money, and the set and the journal change together:
 *
 *   1. seen_claim(key)   DUP: billed before, skip it.  NEW: the entry is
 *                        PENDING with (pid, ring, seq), seq being the one
 *                        the worker's next journal record will take
 *   2. jrn_move / jrn_append of the CDR (journal.h)
 *   3. seen_done         DONE, with the call's start time
 *      or seen_abandon   nothing was published (journal full, lock busy)
 *
 * A worker that dies between 1 and 3 leaves a PENDING entry. The
 * supervisor, when it reaps it and before the journal ring is freed,
 * settles it from the ring (seen_recover_pid): record seq published and
 * not VOID means the call is billed (DONE); otherwise it never was and the
 * entry is freed, so the restarted worker bills it when it reads the file
 * again. A record refused by a balance bound (VOID) is followed by the
 * same call as an unbilled CDR at a new seq: seen_set_seq names it first.
 *
 * The set lives in an anonymous shared mapping made by the supervisor
 * before it forks. It need not survive apolod: at start the supervisor
 * fills it from what is durable, PostgreSQL's cdr_ids of CUCM (within the
 * horizon) plus the journal's undrained CDR records (seen_load_journal),
 * which together are every call ever journaled.
 *
 * Keys are the 128-bit SipHash of the call id (collisions: about 2^-64 at
 * four billion calls; PostgreSQL's unique call ids are the backstop). The
 * table is buckets of SEEN_WAYS entries, an entry never leaves its bucket
 * and nothing chains, so an entry can be freed or reused on its own:
 * DONE entries of calls that started before the caller's horizon
 * (now - cucm.dedupe_days) are reused. A call older than the horizon
 * cannot be proven new and is not billed by the worker (it says so).
 *
 * Writers (workers and the supervisor) serialise on one lock word that
 * holds the owner's pid; each step is a few loads and stores under it.
 * An entry is written in an order a crash cannot tear: state EMPTY
 * first, the fields, the state last. The supervisor frees the lock of a
 * dead owner when it reaps it. Nothing here is on the FreeSWITCH rating
 * path.
 */
#ifndef APOLO_SEEN_H
#define APOLO_SEEN_H

#include "shm/journal.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SEEN_WAYS 16              /* entries of a bucket: 512 bytes */

enum {
    SEEN_NEW = 0,        /* claim: it is ours to bill (PENDING) */
    SEEN_DUP = 1,        /* claim: billed before */
    SEEN_BUSY = 2,       /* claim: another process is billing it now */
    SEEN_EFULL = -1,     /* its bucket holds no free or expired entry */
    SEEN_ELOCK = -2,     /* the lock stayed taken past the wait */
    SEEN_ERROR = -3      /* mapping failed, bad size (logged) */
};

typedef enum {
    SEEN_EMPTY = 0,
    SEEN_PENDING = 1,
    SEEN_DONE = 2
} seen_state_t;

typedef struct seen_key {
    uint64_t k0, k1;              /* k0 != 0 */
} seen_key_t;

typedef struct seen_ent {
    uint64_t k0, k1;
    uint64_t val;                 /* PENDING: journal seq; DONE: the call's
                                     start, UTC epoch seconds */
    int32_t  pid;                 /* PENDING: the claimer */
    uint16_t ring;                /* PENDING: its journal ring */
    uint8_t  state;               /* seen_state_t, written last */
    uint8_t  pad;
} seen_ent_t;

typedef struct seen_shm {
    uint64_t   magic;
    uint32_t   nbuckets, pad0;
    uint64_t   lock;              /* pid of the writer, 0 = free */
    uint64_t   npending;          /* PENDING entries (recovery skips the
                                     scan when 0) */
    uint64_t   used;              /* entries not EMPTY (for status) */
    uint8_t    pad[24];
    seen_ent_t ent[];
} seen_shm_t;

/* ---- the supervisor ------------------------------------------------------ */

/* Maps a set of at least `entries` entries (rounded up to a power of two
 * of buckets) shared with the children to come. */
int  seen_open(uint64_t entries, seen_shm_t **out);
void seen_close(seen_shm_t *s);

/* Start, before forking: a call known to be billed (DONE). Calls that
 * started before horizon_s are not kept. SEEN_OK-like 0, or SEEN_EFULL. */
int  seen_load(seen_shm_t *s, const seen_key_t *k, int64_t start_s,
               int64_t horizon_s);

/* Start: every CDR record of CUCM still in the journal (undrained or not
 * yet overwritten) is loaded as billed. Returns how many, or SEEN_EFULL. */
int64_t seen_load_journal(seen_shm_t *s, const jrn_t *j, int64_t horizon_s);

/* After reaping pid, BEFORE jrn_recover_pid frees its ring: settles its
 * PENDING entries (above) and frees the lock if it held it. Returns how
 * many entries it settled as billed. */
int  seen_recover_pid(seen_shm_t *s, const jrn_t *j, pid_t pid);

/* ---- workers ------------------------------------------------------------- */

void seen_key(const char *call_id, size_t len, seen_key_t *out);

/* Step 1 above. horizon_s: DONE entries of calls that started before it
 * may be reused. *idx gets the entry (NEW only). */
int  seen_claim(seen_shm_t *s, const seen_key_t *k, pid_t pid,
                uint32_t ring, uint64_t seq, int64_t horizon_s,
                uint32_t *idx);
/* The claimer's record moved to another seq (a VOID debit, then the CDR
 * without money). */
int  seen_set_seq(seen_shm_t *s, uint32_t idx, pid_t pid, uint64_t seq);
int  seen_done(seen_shm_t *s, uint32_t idx, pid_t pid, int64_t start_s);
int  seen_abandon(seen_shm_t *s, uint32_t idx, pid_t pid);

/* A DONE entry for k (tests and tools). 1 yes, 0 no. Takes the lock. */
int  seen_has(seen_shm_t *s, const seen_key_t *k);

#endif
