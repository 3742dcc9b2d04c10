/*
 * journal.c -- per-producer rings in a shared file (see journal.h).
 *
 * Each ring has one producer and one consumer, so publication is a plain
 * release store of head (producer) or tail (flusher); the record's state
 * byte, written last, tells the flusher and the recovery code how far a
 * movement got.
 *
 * NOTES
 * - The record is published PENDING *before* the balance moves. A crash
 *   after that point leaves evidence (the record, the account lock owned by
 *   a dead pid) from which jrn_recover_pid decides; a crash before it
 *   leaves nothing to decide.
 * - Only balance tells whether the pair swap happened: under the movement
 *   lock nothing else changes balance, while headroom moves with every
 *   reservation. That is why a movement with delta_balance 0 is refused:
 *   it would be undecidable (and it is not money that moved).
 * - msync needs page-aligned ranges: the sync rounds down to the page,
 *   which may flush a neighbour's bytes early; harmless.
 */
#include "shm/clock.h"
#include "shm/journal.h"
#include "shm/log.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <urcu/uatomic.h>

#define JRN_FILE_HDR  4096

int jrn_test_crash_point;
#define JRN_RING_HDR  ((size_t)sizeof(jrn_ring_t))

_Static_assert(sizeof(jrn_rec_t) == JRN_SLOT_SIZE, "record is one slot");
_Static_assert(offsetof(jrn_rec_t, payload) == JRN_HDR_SIZE, "header size");

static size_t jrn_ring_bytes(uint32_t nslots)
{
    return JRN_RING_HDR + (size_t)nslots * JRN_SLOT_SIZE;
}

jrn_ring_t *jrn_ring(const jrn_t *j, uint32_t i)
{
    return (jrn_ring_t *)(j->base + JRN_FILE_HDR
                          + (size_t)i * jrn_ring_bytes(j->hdr->nslots));
}

static jrn_rec_t *jrn_slot(const jrn_t *j, uint32_t ring, uint64_t seq)
{
    uint8_t *slots = (uint8_t *)jrn_ring(j, ring) + JRN_RING_HDR;
    return (jrn_rec_t *)(slots + (seq & (j->hdr->nslots - 1)) * JRN_SLOT_SIZE);
}

const jrn_rec_t *jrn_rec(const jrn_t *j, uint32_t ring, uint64_t seq)
{
    return jrn_slot(j, ring, seq);
}

static uint64_t jrn_me(void)
{
    return (uint64_t)(uint32_t)getpid() << 32 | (uint32_t)gettid();
}

static int64_t jrn_now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* ---- opening ----------------------------------------------------------- */

static int jrn_init_file(jrn_t *j, uint32_t nrings, uint32_t nslots)
{
    jrn_file_hdr_t *h = j->hdr;
    memset(h, 0, sizeof *h);
    h->version = JRN_VERSION;
    h->nrings = nrings;
    h->nslots = nslots;
    h->slot_size = JRN_SLOT_SIZE;
    h->file_size = j->size;
    cmm_smp_wmb();
    h->magic = JRN_MAGIC;             /* last: a torn init is not a journal */
    if (msync(j->base, j->size, MS_SYNC) != 0) {
        LOG_ERROR("journal", errno, "msync() of a new journal failed");
        return JRN_ERROR;
    }
    return JRN_OK;
}

static int jrn_check_file(const jrn_t *j, uint32_t nrings, uint32_t nslots)
{
    const jrn_file_hdr_t *h = j->hdr;
    if (h->magic != JRN_MAGIC || h->version != JRN_VERSION
        || h->slot_size != JRN_SLOT_SIZE || h->file_size != j->size
        || h->nrings != nrings || h->nslots != nslots) {
        LOG_ERROR("journal", 0, "journal file does not match this layout "
                  "(rings %u/%u, slots %u/%u): drain it with the settings "
                  "that wrote it", h->nrings, nrings, h->nslots, nslots);
        return JRN_ECORRUPT;
    }
    return JRN_OK;
}

int jrn_open(jrn_t *j, const char *path, uint32_t nrings, uint32_t nslots,
             int sync_ms)
{
    struct stat st;
    memset(j, 0, sizeof *j);
    j->fd = -1;
    if (nrings == 0 || nslots < 2 || (nslots & (nslots - 1)) != 0
        || sync_ms < 0)
        return JRN_EINVAL;
    size_t size = JRN_FILE_HDR + (size_t)nrings * jrn_ring_bytes(nslots);
    j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (j->fd < 0 || fstat(j->fd, &st) != 0) {
        LOG_ERROR("journal", errno, "open(%s) failed", path);
        jrn_close(j);
        return JRN_ERROR;
    }
    int fresh = st.st_size == 0;
    if (fresh && ftruncate(j->fd, (off_t)size) != 0) {
        LOG_ERROR("journal", errno, "ftruncate(%s, %zu) failed", path, size);
        jrn_close(j);
        return JRN_ERROR;
    }
    if (!fresh && (size_t)st.st_size != size) {
        LOG_ERROR("journal", 0, "%s is %lld bytes, this layout needs %zu",
                  path, (long long)st.st_size, size);
        jrn_close(j);
        return JRN_ECORRUPT;
    }
    /* Every block of the file allocated now: a store into a hole of a
     * mapped file on a full disk is a SIGBUS in whichever process makes
     * it, in the middle of a movement. A full disk is refused here, at
     * start, instead. */
    int err = posix_fallocate(j->fd, 0, (off_t)size);
    if (err != 0) {
        LOG_ERROR("journal", err, "cannot allocate the %zu bytes of %s "
                  "(is its disk full?)", size, path);
        jrn_close(j);
        return JRN_ERROR;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, j->fd, 0);
    if (p == MAP_FAILED) {
        LOG_ERROR("journal", errno, "mmap(%s) failed", path);
        jrn_close(j);
        return JRN_ERROR;
    }
    j->base = p;
    j->size = size;
    j->hdr = p;
    j->sync_ms = sync_ms;
    int rc = fresh ? jrn_init_file(j, nrings, nslots)
                   : jrn_check_file(j, nrings, nslots);
    if (rc != JRN_OK)
        jrn_close(j);
    return rc;
}

void jrn_close(jrn_t *j)
{
    if (j->base != NULL)
        munmap(j->base, j->size);
    if (j->fd >= 0)
        close(j->fd);
    memset(j, 0, sizeof *j);
    j->fd = -1;
}

/* ---- producers --------------------------------------------------------- */

int jrn_writer_open(jrn_t *j, jrn_writer_t *w)
{
    uint64_t me = jrn_me();
    for (uint32_t i = 0; i < j->hdr->nrings; i++) {
        jrn_ring_t *r = jrn_ring(j, i);
        if (uatomic_cmpxchg(&r->owner, 0, me) == 0) {
            w->j = j;
            w->ring = r;
            w->index = i;
            w->owner = me;      /* getpid/gettid once, not per movement */
            return JRN_OK;
        }
    }
    return JRN_ENORING;
}

void jrn_writer_close(jrn_writer_t *w)
{
    if (w->ring != NULL)
        uatomic_set(&w->ring->owner, 0);
    w->ring = NULL;
}

/* Waits until the ring has a free slot: JRN_OK or JRN_EFULL. */
static int jrn_wait_room(jrn_writer_t *w, int timeout_ms)
{
    jrn_ring_t *r = w->ring;
    uint64_t cap = w->j->hdr->nslots;
    if (r->head - uatomic_read(&r->tail) < cap)
        return JRN_OK;
    int64_t deadline = clock_mono_ms() + timeout_ms;
    struct timespec pause = { 0, 200 * 1000 };
    while (r->head - uatomic_read(&r->tail) >= cap) {
        if (clock_mono_ms() >= deadline)
            return JRN_EFULL;
        nanosleep(&pause, NULL);
    }
    return JRN_OK;
}

/* Fills the record of the producer's next seq (not yet published). */
static jrn_rec_t *jrn_fill(jrn_writer_t *w, jrn_kind_t kind,
                           const void *payload, size_t len)
{
    uint64_t seq = w->ring->head;
    jrn_rec_t *rec = jrn_slot(w->j, w->index, seq);
    memset(rec, 0, JRN_HDR_SIZE);
    rec->seq = seq;
    rec->kind = (uint8_t)kind;
    rec->len = (uint16_t)len;
    rec->acct_slot = UINT32_MAX;
    rec->at_us = jrn_now_us();
    if (len > 0)                       /* payload may be NULL then */
        memcpy(rec->payload, payload, len);
    return rec;
}

/* Publishes rec with state st: the state first, then head (release). */
static void jrn_publish(jrn_writer_t *w, jrn_rec_t *rec, jrn_state_t st)
{
    cmm_smp_wmb();
    uatomic_set(&rec->state, (uint8_t)st);
    cmm_smp_wmb();
    uatomic_set(&w->ring->head, rec->seq + 1);
}

static void jrn_sync_rec(const jrn_rec_t *rec)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t at = (uintptr_t)rec & ~(uintptr_t)(page - 1);
    size_t len = (size_t)((uintptr_t)rec + JRN_SLOT_SIZE - at);
    if (msync((void *)at, len, MS_SYNC) != 0)
        LOG_ERROR("journal", errno, "msync() of record %llu failed",
                  (unsigned long long)rec->seq);
}

int jrn_append(jrn_writer_t *w, jrn_kind_t kind, const void *payload,
               size_t len, int timeout_ms, uint64_t *seq)
{
    if (len > JRN_PAYLOAD_MAX || (len > 0 && payload == NULL))
        return JRN_EINVAL;
    if (jrn_wait_room(w, timeout_ms) != JRN_OK)
        return JRN_EFULL;
    jrn_rec_t *rec = jrn_fill(w, kind, payload, len);
    jrn_publish(w, rec, JRN_REC_DONE);
    if (w->j->sync_ms == 0)
        jrn_sync_rec(rec);
    if (seq != NULL)
        *seq = rec->seq;
    return JRN_OK;
}

int jrn_move(jrn_writer_t *w, acct_shm_t *a, uint32_t slot, jrn_kind_t kind,
             money_t delta_balance, money_t delta_headroom,
             const void *payload, size_t len, int timeout_ms,
             uint64_t *seq, money_t *balance_after)
{
    money_t b, h, after;
    uint64_t me = w->owner;

    if (delta_balance == 0 || len > JRN_PAYLOAD_MAX
        || (len > 0 && payload == NULL) || slot >= a->nslots)
        return JRN_EINVAL;
    if (jrn_wait_room(w, timeout_ms) != JRN_OK)
        return JRN_EFULL;
    if (acct_mlock(a, slot, me, timeout_ms) != ACCT_OK)
        return JRN_EBUSY;
    if (acct_pair(a, slot, &b, &h) != ACCT_OK
        || __builtin_add_overflow(b, delta_balance, &after)) {
        acct_munlock(a, slot, me);
        return JRN_EINVAL;
    }
    jrn_rec_t *rec = jrn_fill(w, kind, payload, len);
    rec->acct_slot = slot;
    rec->acct_id = uatomic_read(&a->slots[slot].id);
    rec->delta_balance = delta_balance;
    rec->delta_headroom = delta_headroom;
    rec->balance_before = b;
    rec->balance_after = after;
    jrn_publish(w, rec, JRN_REC_PENDING);
    if (jrn_test_crash_point == 1)
        raise(SIGKILL);

    int moved = acct_move(a, slot, delta_balance, delta_headroom) == ACCT_OK;
    if (jrn_test_crash_point == 2)
        raise(SIGKILL);
    cmm_smp_wmb();
    uatomic_set(&rec->state, (uint8_t)(moved ? JRN_REC_DONE : JRN_REC_VOID));
    acct_munlock(a, slot, me);
    if (w->j->sync_ms == 0)
        jrn_sync_rec(rec);
    if (!moved)
        return JRN_EINVAL;
    if (seq != NULL)
        *seq = rec->seq;
    if (balance_after != NULL)
        *balance_after = rec->balance_after;
    return JRN_OK;
}

/* ---- the flusher --------------------------------------------------------- */

void jrn_release(jrn_t *j, uint32_t ring, uint64_t upto)
{
    jrn_ring_t *r = jrn_ring(j, ring);
    if (upto > uatomic_read(&r->head))
        upto = uatomic_read(&r->head);
    cmm_smp_mb();           /* the records are read before slots reopen */
    if (upto > r->tail)
        uatomic_set(&r->tail, upto);
}

/* ---- the supervisor ------------------------------------------------------ */

/* msyncs the slots of seqs [from, to) of ring i (at most one lap). */
static int jrn_sync_range(jrn_t *j, uint32_t i, uint64_t from, uint64_t to)
{
    long page = sysconf(_SC_PAGESIZE);
    uint64_t cap = j->hdr->nslots;
    if (to - from > cap)
        from = to - cap;
    while (from < to) {
        uint64_t first = from & (cap - 1);
        uint64_t n = cap - first < to - from ? cap - first : to - from;
        uintptr_t lo = (uintptr_t)jrn_slot(j, i, from);
        uintptr_t hi = lo + n * JRN_SLOT_SIZE;
        lo &= ~(uintptr_t)(page - 1);
        if (msync((void *)lo, hi - lo, MS_SYNC) != 0) {
            LOG_ERROR("journal", errno, "msync() of ring %u failed", i);
            return JRN_ERROR;
        }
        from += n;
    }
    return JRN_OK;
}

int jrn_sync(jrn_t *j)
{
    int rc = JRN_OK;
    for (uint32_t i = 0; i < j->hdr->nrings; i++) {
        jrn_ring_t *r = jrn_ring(j, i);
        uint64_t head = uatomic_read(&r->head);
        if (head == r->synced)
            continue;
        cmm_smp_rmb();
        if (jrn_sync_range(j, i, r->synced, head) != JRN_OK)
            rc = JRN_ERROR;
        else
            uatomic_set(&r->synced, head);
    }
    return rc;
}

/* Checks ring i for replay: positions and sequence numbers, accounts. */
static int jrn_replay_check(jrn_t *j, uint32_t i, const cat_hdr_t *cat,
                            uint64_t tail)
{
    jrn_ring_t *r = jrn_ring(j, i);
    if (tail > r->head || r->head - tail > j->hdr->nslots) {
        LOG_ERROR("journal", 0, "ring %u: drained position %llu does not fit "
                  "the file (head %llu)", i, (unsigned long long)tail,
                  (unsigned long long)r->head);
        return JRN_ECORRUPT;
    }
    for (uint64_t s = tail; s < r->head; s++) {
        const jrn_rec_t *rec = jrn_slot(j, i, s);
        int movement = rec->state != JRN_REC_VOID && rec->kind != JRN_CDR;
        if (rec->seq != s || rec->state == JRN_REC_EMPTY
            || (movement && (cat == NULL
                             || cat_account(cat, rec->acct_id) == NULL))) {
            LOG_ERROR("journal", 0, "ring %u record %llu: out of sequence, "
                      "empty, or for an unknown account %lld", i,
                      (unsigned long long)s, (long long)rec->acct_id);
            return JRN_ECORRUPT;
        }
    }
    return JRN_OK;
}

/* Applies the undrained movements of ring i to the freshly loaded region:
 * no reservation exists yet, so headroom moves with balance. */
static uint64_t jrn_replay_ring(jrn_t *j, uint32_t i, acct_shm_t *a,
                                const cat_hdr_t *cat)
{
    jrn_ring_t *r = jrn_ring(j, i);
    uint64_t n = 0;
    for (uint64_t s = r->tail; s < r->head; s++) {
        jrn_rec_t *rec = jrn_slot(j, i, s);
        if (rec->state == JRN_REC_VOID || rec->kind == JRN_CDR)
            continue;
        rec->acct_slot = cat_account(cat, rec->acct_id)->slot;
        if (acct_move(a, rec->acct_slot, rec->delta_balance,
                      rec->delta_balance) != ACCT_OK)
            LOG_ERROR("journal", 0, "ring %u record %llu: account %lld "
                      "refused %lld", i, (unsigned long long)s,
                      (long long)rec->acct_id, (long long)rec->delta_balance);
        rec->state = JRN_REC_DONE;        /* a PENDING one rolls forward */
        n++;
    }
    return n;
}

int jrn_replay(jrn_t *j, acct_shm_t *a, const cat_hdr_t *cat,
               const uint64_t *drained, uint64_t *replayed)
{
    uint32_t nr = j->hdr->nrings;
    uint64_t n = 0;
    for (uint32_t i = 0; i < nr; i++) {
        jrn_ring_t *r = jrn_ring(j, i);
        uint64_t tail = drained[i] > r->tail ? drained[i] : r->tail;
        int rc = jrn_replay_check(j, i, cat, tail);
        if (rc != JRN_OK)
            return rc;
    }
    for (uint32_t i = 0; i < nr; i++) {
        jrn_ring_t *r = jrn_ring(j, i);
        r->owner = 0;
        if (drained[i] > r->tail)
            r->tail = drained[i];
        if (r->synced < r->tail)
            r->synced = r->tail;
        n += jrn_replay_ring(j, i, a, cat);
    }
    if (replayed != NULL)
        *replayed = n;
    return jrn_sync(j);
}

/* Completes one PENDING record of a dead producer: under the account lock
 * it held, balance tells whether its swap happened. */
static void jrn_complete(jrn_rec_t *rec, acct_shm_t *a, uint32_t ring)
{
    money_t b, h;
    if (acct_pair(a, rec->acct_slot, &b, &h) != ACCT_OK) {
        LOG_ERROR("journal", 0, "ring %u record %llu: account slot %u gone",
                  ring, (unsigned long long)rec->seq, rec->acct_slot);
        return;
    }
    if (b == rec->balance_before) {
        if (acct_move(a, rec->acct_slot, rec->delta_balance,
                      rec->delta_headroom) != ACCT_OK) {
            rec->state = JRN_REC_VOID;
            return;
        }
    } else if (b != rec->balance_after) {
        LOG_ERROR("journal", 0, "ring %u record %llu: balance %lld is neither "
                  "%lld nor %lld under the dead owner's lock; counted as "
                  "applied", ring, (unsigned long long)rec->seq, (long long)b,
                  (long long)rec->balance_before,
                  (long long)rec->balance_after);
    }
    cmm_smp_wmb();
    uatomic_set(&rec->state, (uint8_t)JRN_REC_DONE);
}

int jrn_recover_pid(jrn_t *j, acct_shm_t *a, pid_t pid)
{
    int n = 0;
    for (uint32_t i = 0; i < j->hdr->nrings; i++) {
        jrn_ring_t *r = jrn_ring(j, i);
        uint64_t owner = uatomic_read(&r->owner);
        if (owner == 0 || (pid_t)(owner >> 32) != pid)
            continue;
        for (uint64_t s = r->tail; s < r->head; s++) {
            jrn_rec_t *rec = jrn_slot(j, i, s);
            if (rec->state == JRN_REC_PENDING) {
                jrn_complete(rec, a, i);
                n++;
            }
        }
        uatomic_set(&r->owner, 0);
    }
    for (uint32_t s = 0; s < a->used; s++) {
        uint64_t owner = uatomic_read(&a->slots[s].mlock);
        if (owner != 0 && (pid_t)(owner >> 32) == pid)
            acct_munlock(a, s, owner);
    }
    if (n > 0)
        LOG_WARN("journal", 0, "completed %d movement(s) left half done by "
                 "pid %d", n, (int)pid);
    return n;
}
