/*
 * journal.h -- the money journal: every balance movement and every CDR, on
 * disk before anyone relies on it, drained into PostgreSQL exactly once.
 *
 * A file (jrn.path, default var/journal) mapped MAP_SHARED by the
 * supervisor before it forks, so every process writes into the same page
 * cache and a crash of any process loses nothing that was written:
 *
 *   +--------+---------------------+---------------------+-----
 *   | header | ring 0              | ring 1              | ...
 *   |        | hdr | slot slot ... | hdr | slot slot ... |
 *   +--------+---------------------+---------------------+-----
 *
 * One ring per producer (a worker process, an admin thread): appending
 * never contends with another producer, so there is no global lock on the
 * rating path. A ring is a single-producer, single-consumer queue of fixed
 * JRN_SLOT_SIZE records numbered by seq (0, 1, 2 ... forever); the consumer
 * is the flusher in the admin process.
 *
 *   tail  <= synced <= head        records [tail, head) are not drained;
 *                                   [tail, synced) are on disk too
 *
 * A movement and its journal record change together (jrn_move):
 *   1. wait for room (back-pressure: JRN_EFULL after the caller's timeout)
 *   2. take the account's movement lock (shm/account.h; owner = pid/tid)
 *   3. write the record PENDING with balance before/after, publish head
 *   4. apply (balance, headroom) with one 16-byte compare-and-swap
 *   5. mark the record DONE, release the lock
 * A producer that dies anywhere in 2..5 leaves the lock owned by a dead
 * process; the supervisor, when it reaps it, calls jrn_recover_pid(): under
 * that lock nobody else changed the balance, so balance == before means the
 * swap did not happen (apply it now), == after means it did. Either way the
 * record ends DONE and applied: recovery rolls forward, and balance and
 * journal agree. A record never published (died in 2) moved nothing.
 *
 * Reservations are not journaled: they are not money that moved, only
 * headroom; acct_reserve stays a lock-free CAS (account.h).
 *
 * Durability: jrn_sync() msyncs what producers appended since the last sync
 * and advances `synced`; the supervisor calls it every jrn.sync_ms (default
 * 10 ms: a power loss loses at most that window). With sync_ms = 0 every
 * append syncs its own record before returning.
 *
 * On supervisor start, jrn_open() maps the existing file, and
 * jrn_replay() rolls PENDING records forward and adds every undrained
 * movement to the balances just loaded from PostgreSQL (which already
 * include everything drained).
 */
#ifndef APOLO_JOURNAL_H
#define APOLO_JOURNAL_H

#include "shm/account.h"
#include "shm/catalog.h"
#include "shm/money.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define JRN_MAGIC       0x4e524a4f4c4f5041ULL   /* "APOLOJRN" */
#define JRN_VERSION     1
#define JRN_SLOT_SIZE   512
#define JRN_HDR_SIZE    64                       /* record header */
#define JRN_PAYLOAD_MAX (JRN_SLOT_SIZE - JRN_HDR_SIZE)

enum {
    JRN_OK = 0,
    JRN_ERROR = -1,      /* system call failed (logged) */
    JRN_EINVAL = -2,     /* bad argument, payload too large, overflow */
    JRN_EFULL = -3,      /* no room in the ring within the timeout */
    JRN_EBUSY = -4,      /* the account's movement lock stayed taken */
    JRN_ENORING = -5,    /* every ring has a live owner */
    JRN_ECORRUPT = -6    /* the file is not a journal of this layout */
};

typedef enum {
    JRN_REC_EMPTY = 0,
    JRN_REC_PENDING = 1,
    JRN_REC_DONE = 2,
    JRN_REC_VOID = 3     /* published, but the movement was refused (a
                            bound would overflow): moved nothing, the
                            flusher skips it */
} jrn_state_t;

/* What a record is. Movements carry an account and deltas; the payload
 * (msgpack, see jrec.h) carries the rest (the CDR, the reference). */
typedef enum {
    JRN_CDR = 1,          /* a CDR that moved no money (unanswered, free) */
    JRN_CALL_DEBIT = 2,   /* a call's cost, with its CDR */
    JRN_RECHARGE = 3,
    JRN_ADJUSTMENT = 4,
    JRN_REFUND = 5
} jrn_kind_t;

typedef struct jrn_rec {
    uint64_t seq;
    uint8_t  state;            /* jrn_state_t, written last */
    uint8_t  kind;             /* jrn_kind_t */
    uint16_t len;              /* payload bytes */
    uint32_t acct_slot;        /* movement: account slot; else UINT32_MAX */
    int64_t  acct_id;          /* movement: accounts.id; else 0 */
    money_t  delta_balance;    /* movement: != 0 */
    money_t  delta_headroom;
    money_t  balance_before, balance_after;
    int64_t  at_us;            /* UTC microseconds, when appended */
    uint8_t  payload[JRN_PAYLOAD_MAX];
} jrn_rec_t;

typedef struct jrn_ring {
    uint64_t owner;            /* pid << 32 | tid, 0 = free */
    uint8_t  pad0[56];
    uint64_t head;             /* producer: next seq */
    uint8_t  pad1[56];
    uint64_t tail;             /* flusher: first seq not drained */
    uint8_t  pad2[56];
    uint64_t synced;           /* syncer: first seq not known on disk */
    uint8_t  pad3[56];
} jrn_ring_t;

typedef struct jrn_file_hdr {
    uint64_t magic;
    uint32_t version, nrings;
    uint32_t nslots, slot_size;
    uint64_t file_size;
    uint8_t  pad[32];
} jrn_file_hdr_t;

/* Per-process handle (inherited through fork). */
typedef struct jrn {
    uint8_t        *base;
    size_t          size;
    int             fd;
    jrn_file_hdr_t *hdr;
    int             sync_ms;
} jrn_t;

/* A producer's claim on one ring. Private to its thread. */
typedef struct jrn_writer {
    jrn_t      *j;
    jrn_ring_t *ring;
    uint32_t    index;
    uint64_t    owner;    /* pid << 32 | tid of the thread that opened it */
} jrn_writer_t;

/* ---- supervisor ------------------------------------------------------- */

/* Opens (creating if absent) the journal file with nrings rings of nslots
 * slots (nslots a power of two). An existing file must have the same
 * geometry: JRN_ECORRUPT otherwise (drain it with the old settings first). */
int  jrn_open(jrn_t *j, const char *path, uint32_t nrings, uint32_t nslots,
              int sync_ms);
void jrn_close(jrn_t *j);

/* Start-up: drained[i] is ring i's position stored in PostgreSQL (0 if
 * none). Frees every ring (their owners belong to the previous run), sets
 * tail = max(tail, drained), rolls PENDING records forward and applies
 * every undrained movement to its account (found by id in cat; the region
 * must hold the PostgreSQL balances, no reservation yet). Checks first,
 * applies after: an unknown account, a drained position beyond the head or
 * a record out of sequence is JRN_ECORRUPT with nothing applied.
 * *replayed (may be NULL) receives the number of movements applied. */
int  jrn_replay(jrn_t *j, acct_shm_t *a, const cat_hdr_t *cat,
                const uint64_t *drained, uint64_t *replayed);

/* After reaping pid: completes its half-done movements, releases the
 * account locks and rings it held. Returns how many records it rolled
 * forward. */
int  jrn_recover_pid(jrn_t *j, acct_shm_t *a, pid_t pid);

/* Group commit: msync everything appended since the last call. */
int  jrn_sync(jrn_t *j);

/* ---- producers (any process, one writer per thread) -------------------- */

int  jrn_writer_open(jrn_t *j, jrn_writer_t *w);
void jrn_writer_close(jrn_writer_t *w);

/* Moves money: balance += delta_balance, headroom += delta_headroom, and
 * journals it with the payload, as one recoverable step (see above).
 * delta_balance != 0. Waits up to timeout_ms for room and for the lock.
 * *seq (may be NULL) gets the record's seq; *balance_after (may be NULL)
 * the balance it left. Errors leave balance and journal unchanged. */
int  jrn_move(jrn_writer_t *w, acct_shm_t *a, uint32_t slot, jrn_kind_t kind,
              money_t delta_balance, money_t delta_headroom,
              const void *payload, size_t len, int timeout_ms,
              uint64_t *seq, money_t *balance_after);

/* Fault injection for the tests only: when set to 1 (after the PENDING
 * record is published) or 2 (after the balance moved, before DONE), the
 * next jrn_move kills its own process with SIGKILL right there. */
extern int jrn_test_crash_point;

/* Appends a record that moves no money (a CDR of a free call). */
int  jrn_append(jrn_writer_t *w, jrn_kind_t kind, const void *payload,
                size_t len, int timeout_ms, uint64_t *seq);

/* ---- the flusher (one consumer) ---------------------------------------- */

jrn_ring_t      *jrn_ring(const jrn_t *j, uint32_t i);
const jrn_rec_t *jrn_rec(const jrn_t *j, uint32_t ring, uint64_t seq);
/* Marks [tail, upto) drained: slots become reusable. Call only after the
 * records are committed in PostgreSQL with upto as the ring's position. */
void jrn_release(jrn_t *j, uint32_t ring, uint64_t upto);

#endif
