/*
 * qsbr.c -- cross-process quiescent-state-based reclamation (see qsbr.h).
 *
 * A slot is claimed with a compare-and-swap on its pid, so processes and
 * threads can register concurrently without a lock. A slot whose owner is
 * gone (tgkill(pid, tid, 0) fails with ESRCH) is treated as offline and
 * freed, so a worker killed by SIGKILL in the middle of a lookup never
 * blocks reclamation.
 *
 * NOTES
 * - Only a slot's owner writes its ctr. A free slot keeps a stale ctr, which
 *   poll ignores (owner 0); the next owner zeroes it right after claiming.
 *   A reaper that zeroed ctr itself could hit a slot just claimed by a live
 *   reader and make it look offline.
 * - A zombie still answers tgkill, so a dead child holds its slot until the
 *   supervisor reaps it and calls qsbr_forget_pid(). That is the right
 *   order: the zombie cannot read, but a process that is merely stopped can
 *   resume, and only reaping proves it will not.
 * - The counter comparison is "ctr >= target": gp only grows (64 bits will
 *   not wrap), so a reader that has seen any later gp has also passed a
 *   quiescent point after the retirement.
 */
#include "shm/qsbr.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <urcu/uatomic.h>

uint64_t qsbr_shm_size(uint32_t nslots)
{
    return sizeof(qsbr_shm_t) + (uint64_t)nslots * sizeof(qsbr_slot_t);
}

void qsbr_shm_init(qsbr_shm_t *q, uint32_t nslots)
{
    memset(q, 0, qsbr_shm_size(nslots));
    q->gp = 1;
    q->nslots = nslots;
}

/* One word, so that a slot can never be seen with the pid of one owner
 * and the thread id of another. */
static uint64_t qsbr_owner_word(int32_t pid, int32_t tid)
{
    return (uint64_t)(uint32_t)pid << 32 | (uint32_t)tid;
}

static pid_t qsbr_owner_pid(uint64_t owner)
{
    return (pid_t)(owner >> 32);
}

static int qsbr_owner_alive(uint64_t owner)
{
    if (syscall(SYS_tgkill, (pid_t)(owner >> 32), (pid_t)(uint32_t)owner, 0)
        == 0)
        return 1;
    return errno != ESRCH;
}

/* Frees slot s if its owner is gone; never frees a slot that changed hands
 * meanwhile (the CAS compares the owner word it checked). */
static void qsbr_reap_slot(qsbr_slot_t *s, uint64_t owner)
{
    if (owner != 0 && !qsbr_owner_alive(owner))
        uatomic_cmpxchg(&s->owner, owner, 0);
}

int qsbr_register(qsbr_shm_t *q, qsbr_reader_t *r)
{
    uint64_t me = qsbr_owner_word((int32_t)getpid(), (int32_t)gettid());

    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < q->nslots; i++) {
            qsbr_slot_t *s = &q->slots[i];
            uint64_t owner = uatomic_read(&s->owner);
            if (owner != 0) {
                if (pass == 1)
                    qsbr_reap_slot(s, owner);
                continue;
            }
            if (uatomic_cmpxchg(&s->owner, 0, me) != 0)
                continue;
            CMM_STORE_SHARED(s->ctr, 0);
            cmm_smp_mb();
            r->q = q;
            r->slot = s;
            return QSBR_OK;
        }
    }
    return QSBR_EFULL;
}

void qsbr_unregister(qsbr_reader_t *r)
{
    qsbr_offline(r);
    uatomic_set(&r->slot->owner, 0);
    r->slot = NULL;
}

uint64_t qsbr_advance(qsbr_shm_t *q)
{
    cmm_smp_mb();
    uint64_t gp = uatomic_add_return(&q->gp, 1);
    cmm_smp_mb();
    return gp;
}

int qsbr_poll(qsbr_shm_t *q, uint64_t target, pid_t *holder)
{
    cmm_smp_mb();
    for (uint32_t i = 0; i < q->nslots; i++) {
        qsbr_slot_t *s = &q->slots[i];
        uint64_t owner = uatomic_read(&s->owner);
        uint64_t ctr = CMM_LOAD_SHARED(s->ctr);
        if (owner == 0 || ctr == 0 || ctr >= target)
            continue;
        if (!qsbr_owner_alive(owner)) {
            qsbr_reap_slot(s, owner);
            continue;
        }
        if (holder != NULL)
            *holder = qsbr_owner_pid(owner);
        return 0;
    }
    cmm_smp_mb();
    return 1;
}

void qsbr_forget_pid(qsbr_shm_t *q, pid_t pid)
{
    for (uint32_t i = 0; i < q->nslots; i++) {
        qsbr_slot_t *s = &q->slots[i];
        uint64_t owner = uatomic_read(&s->owner);
        if (owner != 0 && qsbr_owner_pid(owner) == pid)
            uatomic_cmpxchg(&s->owner, owner, 0);
    }
}
