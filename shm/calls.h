/*
 * calls.h -- the active calls, in the region: every call a worker has
 * authorized and not yet recorded, with the money it holds.
 *
 * Three readers need them and none may ask the worker: the dashboard (live
 * calls, from the admin process), the supervisor (a worker died: what did
 * it leave half done?) and the worker that replaces a dead one (which calls
 * must I go on metering?). So the worker keeps, in one fixed slot per call,
 * everything the call's CDR will need (the jrec_cdr_t itself, filled as
 * the call goes) plus the reservation it holds on the account.
 *
 * The table is a file (calls.path, beside the journal), mapped MAP_SHARED
 * by the supervisor before it forks, for the same reason as the journal:
 * if apolod itself dies, the next one finds the calls that were live,
 * puts their reservations back on the balances it rebuilt (calls_restore)
 * and its workers adopt them; FreeSWITCH kept talking meanwhile, and each
 * call still gets its one CDR. Slots refer to accounts by slot number, so
 * the restore re-resolves them by account id in the new catalog.
 *
 * Ownership. A slot is claimed with a compare-and-swap of its owner word
 * (0 -> the worker's tag: kind and instance, not pid, so that the worker
 * restarted in the same place adopts what its predecessor left). Only the
 * owner writes a claimed slot; anybody reads it under the slot's seqlock
 * (odd while the owner writes; a reader copies, then checks the counter
 * did not move). The owner frees the slot by storing state FREE, then owner
 * 0.
 *
 * The life of a slot and what a crash at each point leaves:
 *
 *   FREE -> AUTHORIZED -> ANSWERED -> FINAL -> FREE
 *
 *   AUTHORIZED, ANSWERED  `reserved` is held on the account. The adopter
 *                          resynchronises with FreeSWITCH and goes on.
 *   FINAL                  the CDR in the slot is complete (cost, billsec,
 *                          cause) and is being journaled: fin_ring/fin_seq
 *                          name the journal record it will be. Published
 *                          (the ring's head passed fin_seq) means done;
 *                          the supervisor checks that when it reaps the
 *                          worker, before the ring can be reused, and
 *                          either frees the slot (done) or marks it
 *                          CALLS_FIN_REDO so the adopter journals it again.
 *
 * The order of each step leans the same way: a crash may leak a
 * reservation (headroom that comes back when apolod restarts) but never
 * releases one twice or journals a call twice: the slot's `reserved` is
 * lowered before the account's reservation is, and a debit releases its
 * reservation inside the same journaled movement (journal.h).
 */
#ifndef APOLO_CALLS_H
#define APOLO_CALLS_H

#include "shm/catalog.h"
#include "shm/journal.h"
#include "shm/jrec.h"
#include "shm/money.h"

#include <stdint.h>
#include <sys/types.h>

#define CALLS_ZONE_MAX  31
#define CALLS_FIN_REDO  UINT64_MAX      /* fin_seq: journal it again */

typedef enum {
    CALL_FREE = 0,
    CALL_AUTHORIZED = 1,      /* reserved, not answered */
    CALL_ANSWERED = 2,        /* metering */
    CALL_FINAL = 3            /* CDR complete, being journaled */
} call_state_t;

/* flags, for the dashboard and the CDR */
#define CALL_F_UNCHARGED  0x1     /* inbound/internal: nothing reserved */
#define CALL_F_LOW        0x2     /* low-balance warning given */
#define CALL_F_CUT        0x4     /* the cut is scheduled: no more money */
#define CALL_F_ESTIMATED  0x8     /* ended unseen (connection lost) */

typedef struct call_slot {
    uint32_t   seq;               /* seqlock, odd while written */
    uint32_t   owner;             /* claim word: worker tag, 0 = free */
    uint8_t    state;             /* call_state_t */
    uint8_t    pad0;
    uint16_t   flags;             /* CALL_F_* */
    int32_t    pid;               /* the process that writes it now */
    uint32_t   acct_slot;         /* UINT32_MAX: nobody pays */
    uint32_t   max_sec;           /* what the balance paid for at park */
    uint32_t   covered_sec;       /* seconds after answer reserved for */
    uint32_t   fin_ring;
    money_t    reserved;          /* held on the account for this call */
    uint64_t   fin_seq;           /* FINAL: the journal record's seq */
    int64_t    event_us;          /* last event seen for it */
    char       zone[CALLS_ZONE_MAX + 1];
    jrec_cdr_t cdr;               /* the CDR so far (call_id = Unique-ID) */
    uint32_t   failsafe_sec;      /* answered: seconds from the answer at
                                     which FreeSWITCH acknowledged it will
                                     hang the call up (its sched_hangup
                                     answered +OK); 0: not known. In the
                                     padding of the 512-byte slot, so a
                                     table written before it reads 0. */
} __attribute__((aligned(64))) call_slot_t;

#define CALLS_MAGIC   0x534c4c41434f5041ULL   /* "APOCALLS" */
#define CALLS_VERSION 1

enum { CALLS_OK = 0, CALLS_ERROR = -1, CALLS_EMISMATCH = -2 };

typedef struct calls_shm {
    uint64_t    magic;
    uint32_t    version, nslots;
    uint32_t    slot_size, pad0;
    uint8_t     pad[40];
    call_slot_t slots[];
} calls_shm_t;

uint64_t calls_shm_size(uint32_t nslots);
void     calls_shm_init(calls_shm_t *c, uint32_t nslots);

/* Supervisor, before forking: maps the file at path (created for nslots
 * if absent). CALLS_EMISMATCH (logged) when it was written for another
 * size or layout: an existing table is never silently dropped. */
int  calls_open(const char *path, uint32_t nslots, calls_shm_t **out);
void calls_close(calls_shm_t *c);

/* The tag of worker `index` of kind `kind` (1..255): never 0. */
static inline uint32_t calls_tag(unsigned kind, unsigned index)
{
    return (kind & 0xffu) << 24 | (index & 0xffffffu);
}
#define CALLS_KIND_ESL 1
#define CALLS_KIND_CUCM 2         /* holds no call slot; names its stats */

/* ---- the owner ---------------------------------------------------------- */

/* Claims a free slot for tag (process pid), starting the search at *hint
 * (updated): its index, or -1 when every slot is taken. The slot comes
 * zeroed, with state FREE, owner tag and pid set. */
int32_t calls_claim(calls_shm_t *c, uint32_t tag, pid_t pid, uint32_t *hint);

/* Brackets of every change the owner makes to a claimed slot. */
void calls_write_begin(call_slot_t *s);
void calls_write_end(call_slot_t *s);

/* Gives the slot back (its owner only). */
void calls_free(call_slot_t *s);

/* ---- anybody -------------------------------------------------------------- */

/* A consistent copy of slot i: 1 copied (a call), 0 free or unreadable
 * (its writer died mid-write or it kept changing). Never blocks. */
int calls_read(const calls_shm_t *c, uint32_t i, call_slot_t *out);

/* How many slots are claimed (a scan: for status lines and tests). */
uint32_t calls_count(const calls_shm_t *c);

/* ---- the supervisor -------------------------------------------------------- */

/* After reaping pid and BEFORE jrn_recover_pid frees its journal ring:
 * settles its FINAL slots (freed when their record was published, else
 * marked CALLS_FIN_REDO) and closes a write it died in. The other slots
 * stay claimed by their tag for the adopter. Returns how many FINAL slots
 * it settled. */
int calls_recover_pid(calls_shm_t *c, const jrn_t *j, pid_t pid);

/* Supervisor start, after the balances are rebuilt (load + journal
 * replay) and before any child runs: settles FINAL slots as
 * calls_recover_pid does, re-resolves each call's account by id in cat,
 * and reserves again what each live call held. Returns the calls kept for
 * their workers to adopt. */
int calls_restore(calls_shm_t *c, const jrn_t *j, acct_shm_t *a,
                  const cat_hdr_t *cat);

#endif
