/*
 * qsbr.h -- quiescent-state-based reclamation across processes.
 *
 * liburcu's flavours only see the reader threads of their own process
 * (DESIGN.md), so the grace period across the forked workers is built here
 * on liburcu's portable primitives, on the urcu-qsbr pattern:
 *
 *   gp         one global counter in the region, advanced by the writer
 *   slot[i]    one cache line per reader (a process, or a thread of the
 *              admin process): its owner and the last gp value it has seen
 *              at a quiescent point; 0 means offline (holds nothing)
 *
 * A reader may dereference the published root only between qsbr_online()
 * and its next qsbr_quiescent()/qsbr_offline(); it must not keep a pointer
 * into a published version across those calls. A worker calls
 * qsbr_quiescent() between events and qsbr_offline() before it blocks.
 *
 * The writer (the supervisor, alone) publishes a new root, then calls
 * qsbr_advance() and gets a target; the old version may be reused once
 * qsbr_poll(target) says that every slot is offline, has seen the target,
 * or belongs to a process or thread that no longer exists. qsbr_poll never
 * blocks: the supervisor keeps retired versions on a list and polls from its
 * main loop. A reader that is alive but stuck holds its old version; poll
 * names it, and the supervisor's policy is to kill it and reclaim after
 * reaping it (a killed process reads nothing more).
 *
 * Memory ordering: qsbr_quiescent/online/offline contain full barriers
 * (cmm_smp_mb), so every read of the previous critical section is complete
 * before the slot says so; qsbr_advance is a full barrier after the root
 * store. Readers never block, never loop, never take a lock.
 */
#ifndef APOLO_QSBR_H
#define APOLO_QSBR_H

#include <stdint.h>
#include <sys/types.h>

typedef struct qsbr_slot {
    uint64_t owner;           /* pid << 32 | tid of the owner, 0 = free */
    uint64_t ctr;             /* last gp seen at a quiescent point, 0 offline */
    uint8_t  pad[48];
} qsbr_slot_t;

typedef struct qsbr_shm {
    uint64_t    gp;           /* starts at 1; 0 is reserved for "offline" */
    uint32_t    nslots;
    uint8_t     pad[52];
    qsbr_slot_t slots[];
} qsbr_shm_t;

/* A reader's handle: which slot it owns. Private to the owning thread. */
typedef struct qsbr_reader {
    qsbr_shm_t  *q;
    qsbr_slot_t *slot;
} qsbr_reader_t;

enum { QSBR_OK = 0, QSBR_EFULL = -1 };

uint64_t qsbr_shm_size(uint32_t nslots);
void     qsbr_shm_init(qsbr_shm_t *q, uint32_t nslots);

/* Claims a free slot for the calling thread, initially offline. QSBR_EFULL
 * when every slot is taken by a live owner (a dead owner's slot is reused). */
int  qsbr_register(qsbr_shm_t *q, qsbr_reader_t *r);
/* Goes offline and frees the slot. */
void qsbr_unregister(qsbr_reader_t *r);

static inline void qsbr_quiescent(qsbr_reader_t *r);
static inline void qsbr_online(qsbr_reader_t *r);
static inline void qsbr_offline(qsbr_reader_t *r);

/* Writer only: a full barrier, then gp += 1; returns the new gp (the target
 * for versions unpublished before this call). */
uint64_t qsbr_advance(qsbr_shm_t *q);

/* Writer only: 1 when no reader can still hold a version retired before
 * target was taken, else 0 and *holder (may be NULL) gets the pid of one
 * reader that still does. Slots of dead owners are freed on the way. */
int qsbr_poll(qsbr_shm_t *q, uint64_t target, pid_t *holder);

/* Supervisor: frees every slot of a reaped process. */
void qsbr_forget_pid(qsbr_shm_t *q, pid_t pid);

/* ---- inline reader side ------------------------------------------------ */

#include <urcu/arch.h>
#include <urcu/system.h>

static inline void qsbr_quiescent(qsbr_reader_t *r)
{
    cmm_smp_mb();
    CMM_STORE_SHARED(r->slot->ctr, CMM_LOAD_SHARED(r->q->gp));
    cmm_smp_mb();
}

static inline void qsbr_online(qsbr_reader_t *r)
{
    CMM_STORE_SHARED(r->slot->ctr, CMM_LOAD_SHARED(r->q->gp));
    cmm_smp_mb();
}

static inline void qsbr_offline(qsbr_reader_t *r)
{
    cmm_smp_mb();
    CMM_STORE_SHARED(r->slot->ctr, 0);
}

#endif
