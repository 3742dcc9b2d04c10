/*
 * calls.c -- the active calls table (see calls.h).
 *
 * NOTES
 * - The seqlock is the kernel's pattern on shared memory: the owner makes
 *   the counter odd, writes, makes it even; a reader that saw the same
 *   even value before and after its copy has a consistent copy. The copy
 *   may race with the writer (it is thrown away when it did): it is a byte
 *   copy of plain data, never dereferenced before the check.
 * - A writer that dies mid-write leaves the counter odd. Readers give up
 *   after CALLS_READ_TRIES instead of spinning; the supervisor (reaping)
 *   makes the counter even again, since nobody writes that slot any more.
 */
#include "shm/calls.h"
#include "shm/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <urcu/arch.h>
#include <urcu/uatomic.h>

/* The file records slot_size and calls_open refuses another: a field
 * added must fit the padding (failsafe_sec did) or the table changes. */
_Static_assert(sizeof(call_slot_t) == 512, "a call slot is 8 cache lines");

#define CALLS_READ_TRIES 64

uint64_t calls_shm_size(uint32_t nslots)
{
    return sizeof(calls_shm_t) + (uint64_t)nslots * sizeof(call_slot_t);
}

void calls_shm_init(calls_shm_t *c, uint32_t nslots)
{
    memset(c, 0, calls_shm_size(nslots));
    c->magic = CALLS_MAGIC;
    c->version = CALLS_VERSION;
    c->nslots = nslots;
    c->slot_size = sizeof(call_slot_t);
}

int calls_open(const char *path, uint32_t nslots, calls_shm_t **out)
{
    uint64_t size = calls_shm_size(nslots);
    struct stat st;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || fstat(fd, &st) != 0) {
        LOG_ERROR("calls", errno, "cannot open %s", path);
        if (fd >= 0)
            close(fd);
        return CALLS_ERROR;
    }
    int fresh = st.st_size == 0;
    if (fresh && ftruncate(fd, (off_t)size) != 0) {
        LOG_ERROR("calls", errno, "cannot size %s to %llu bytes", path,
                  (unsigned long long)size);
        close(fd);
        return CALLS_ERROR;
    }
    if (!fresh && (uint64_t)st.st_size != size) {
        LOG_ERROR("calls", 0, "%s holds %llu bytes, calls.max = %u needs "
                  "%llu: it was written with another calls.max; stop the "
                  "calls (or restore the setting) before changing it", path,
                  (unsigned long long)st.st_size, nslots,
                  (unsigned long long)size);
        close(fd);
        return CALLS_EMISMATCH;
    }
    /* All blocks now (journal.c says why: no SIGBUS on a full disk). */
    int err = posix_fallocate(fd, 0, (off_t)size);
    if (err != 0) {
        LOG_ERROR("calls", err, "cannot allocate the %llu bytes of %s (is "
                  "its disk full?)", (unsigned long long)size, path);
        close(fd);
        return CALLS_ERROR;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);                       /* the mapping keeps the file */
    if (p == MAP_FAILED) {
        LOG_ERROR("calls", errno, "cannot map %s", path);
        return CALLS_ERROR;
    }
    calls_shm_t *c = p;
    if (fresh) {
        calls_shm_init(c, nslots);
    } else if (c->magic != CALLS_MAGIC || c->version != CALLS_VERSION
               || c->nslots != nslots || c->slot_size != sizeof(call_slot_t)) {
        LOG_ERROR("calls", 0, "%s is not a calls table of this layout "
                  "(version %u, %u slots of %u bytes)", path, c->version,
                  c->nslots, c->slot_size);
        munmap(p, size);
        return CALLS_EMISMATCH;
    }
    *out = c;
    return CALLS_OK;
}

void calls_close(calls_shm_t *c)
{
    if (c != NULL)
        munmap(c, calls_shm_size(c->nslots));
}

int32_t calls_claim(calls_shm_t *c, uint32_t tag, pid_t pid, uint32_t *hint)
{
    uint32_t n = c->nslots, start = *hint < n ? *hint : 0;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = start + k < n ? start + k : start + k - n;
        call_slot_t *s = &c->slots[i];
        if (CMM_LOAD_SHARED(s->owner) != 0
            || uatomic_cmpxchg(&s->owner, 0, tag) != 0)
            continue;
        /* Ours. Keep the seqlock counter: a reader mid-copy of the last
         * call in this slot must still see it move. */
        calls_write_begin(s);
        uint32_t seq = s->seq;
        memset((uint8_t *)s + offsetof(call_slot_t, state), 0,
               sizeof *s - offsetof(call_slot_t, state));
        s->seq = seq;
        s->pid = (int32_t)pid;
        s->acct_slot = UINT32_MAX;
        calls_write_end(s);
        *hint = i + 1 < n ? i + 1 : 0;
        return (int32_t)i;
    }
    return -1;
}

void calls_write_begin(call_slot_t *s)
{
    CMM_STORE_SHARED(s->seq, s->seq + 1);
    cmm_smp_wmb();
}

void calls_write_end(call_slot_t *s)
{
    cmm_smp_wmb();
    CMM_STORE_SHARED(s->seq, s->seq + 1);
}

void calls_free(call_slot_t *s)
{
    calls_write_begin(s);
    s->state = CALL_FREE;
    calls_write_end(s);
    uatomic_set(&s->owner, 0);
}

int calls_read(const calls_shm_t *c, uint32_t i, call_slot_t *out)
{
    if (i >= c->nslots)
        return 0;
    const call_slot_t *s = &c->slots[i];
    for (int t = 0; t < CALLS_READ_TRIES; t++) {
        if (CMM_LOAD_SHARED(s->owner) == 0)
            return 0;
        uint32_t s1 = CMM_LOAD_SHARED(s->seq);
        if (s1 & 1) {
            sched_yield();
            continue;
        }
        cmm_smp_rmb();
        memcpy(out, (const void *)s, sizeof *out);
        cmm_smp_rmb();
        if (CMM_LOAD_SHARED(s->seq) == s1)
            return out->state != CALL_FREE;
    }
    return 0;
}

uint32_t calls_count(const calls_shm_t *c)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->nslots; i++)
        n += CMM_LOAD_SHARED(c->slots[i].owner) != 0;
    return n;
}

/* A FINAL slot whose owner is gone: freed when its record was published
 * (the ring's head passed fin_seq; the ring is still the dead owner's, so
 * nobody else appended at fin_seq), else marked to be journaled again.
 * Returns 1 when freed. */
static int calls_settle(call_slot_t *s, const jrn_t *j, const char *who)
{
    const jrn_ring_t *r = s->fin_ring < j->hdr->nrings
                              ? jrn_ring(j, s->fin_ring) : NULL;
    int published = r != NULL && CMM_LOAD_SHARED(r->head) > s->fin_seq;
    LOG_INFO("calls", "call %s of %s: its record %s", s->cdr.call_id, who,
             published ? "was journaled" : "is journaled again by the "
                                           "adopter");
    if (published) {
        calls_free(s);
        return 1;
    }
    calls_write_begin(s);
    s->fin_seq = CALLS_FIN_REDO;
    calls_write_end(s);
    return 0;
}

int calls_recover_pid(calls_shm_t *c, const jrn_t *j, pid_t pid)
{
    int settled = 0;
    char who[32];
    snprintf(who, sizeof who, "dead pid %d", (int)pid);
    for (uint32_t i = 0; i < c->nslots; i++) {
        call_slot_t *s = &c->slots[i];
        if (CMM_LOAD_SHARED(s->owner) == 0 || s->pid != (int32_t)pid)
            continue;
        if (s->seq & 1)
            s->seq++;           /* died mid-write: nobody writes it now */
        if (s->state != CALL_FINAL || s->fin_seq == CALLS_FIN_REDO)
            continue;
        calls_settle(s, j, who);
        settled++;
    }
    return settled;
}

int calls_restore(calls_shm_t *c, const jrn_t *j, acct_shm_t *a,
                  const cat_hdr_t *cat)
{
    int kept = 0;
    for (uint32_t i = 0; i < c->nslots; i++) {
        call_slot_t *s = &c->slots[i];
        if (s->owner == 0)
            continue;
        if (s->seq & 1)
            s->seq++;
        s->pid = 0;
        if (s->state == CALL_FREE) {          /* died inside calls_free */
            s->owner = 0;
            continue;
        }
        if (s->state == CALL_FINAL && s->fin_seq != CALLS_FIN_REDO
            && calls_settle(s, j, "the previous apolod"))
            continue;
        const cat_acct_t *ca = s->acct_slot != UINT32_MAX && cat != NULL
                                   ? cat_account(cat, s->cdr.account_id) : NULL;
        s->acct_slot = ca ? ca->slot : UINT32_MAX;
        if (s->reserved > 0 && (ca == NULL
            || acct_move(a, ca->slot, 0, -s->reserved) != ACCT_OK)) {
            LOG_ERROR("calls", 0, "call %s: account %" PRId64 " is gone or "
                      "out of range: its reservation of %" PRId64 " is not "
                      "restored", s->cdr.call_id, s->cdr.account_id,
                      s->reserved);
            s->reserved = 0;
        }
        kept++;
    }
    if (kept > 0)
        LOG_INFO("calls", "%d call(s) of the previous apolod kept for their "
                 "workers, reservations restored", kept);
    return kept;
}
