/*
 * seen.c -- the set of calls billed from CDR files (see seen.h).
 */
#include "shm/clock.h"
#include "shm/seen.h"
#include "shm/jrec.h"
#include "shm/log.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <urcu/uatomic.h>

#define SEEN_MAGIC        0x4e4545534f4c4f50ULL   /* "POLOSEEN" */
#define SEEN_LOCK_WAIT_MS 2000

/* A fixed SipHash key: the hash only spreads ids over buckets and names
 * them in 128 bits; nobody outside chooses what it is compared with. */
static const unsigned char seen_sipkey[crypto_shorthash_siphashx24_KEYBYTES] =
    "apolo-cucm-seen!";

static size_t seen_bytes(uint32_t nbuckets)
{
    return sizeof(seen_shm_t)
           + (size_t)nbuckets * SEEN_WAYS * sizeof(seen_ent_t);
}

int seen_open(uint64_t entries, seen_shm_t **out)
{
    uint64_t nb = 1;
    while (nb * SEEN_WAYS < entries && nb < (1ull << 28))
        nb <<= 1;
    if (nb * SEEN_WAYS < entries) {
        LOG_ERROR("seen", 0, "%llu entries is too many",
                  (unsigned long long)entries);
        return SEEN_ERROR;
    }
    size_t len = seen_bytes((uint32_t)nb);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        LOG_ERROR("seen", errno, "mmap(%zu) of the CDR dedupe set failed",
                  len);
        return SEEN_ERROR;
    }
    seen_shm_t *s = p;                 /* pages come zeroed: all EMPTY */
    s->magic = SEEN_MAGIC;
    s->nbuckets = (uint32_t)nb;
    *out = s;
    return 0;
}

void seen_close(seen_shm_t *s)
{
    if (s != NULL)
        munmap(s, seen_bytes(s->nbuckets));
}

void seen_key(const char *call_id, size_t len, seen_key_t *out)
{
    unsigned char h[crypto_shorthash_siphashx24_BYTES];
    crypto_shorthash_siphashx24(h, (const unsigned char *)call_id, len,
                                seen_sipkey);
    memcpy(&out->k0, h, 8);
    memcpy(&out->k1, h + 8, 8);
    if (out->k0 == 0)
        out->k0 = 1;                   /* 0 marks nothing; costs 2^-64 */
}

/* ---- the lock --------------------------------------------------------------- */

static int seen_lock(seen_shm_t *s, pid_t pid)
{
    uint64_t me = (uint64_t)(uint32_t)pid;
    int64_t t0 = 0;
    for (unsigned spin = 0;; spin++) {
        if (uatomic_cmpxchg(&s->lock, 0, me) == 0)
            return 0;
        if (spin < 64)
            continue;
        if (t0 == 0)
            t0 = clock_mono_ms();
        else if (clock_mono_ms() - t0 > SEEN_LOCK_WAIT_MS)
            return SEEN_ELOCK;
        usleep(100);
    }
}

static void seen_unlock(seen_shm_t *s)
{
    uatomic_set(&s->lock, 0);          /* release: stores before are seen */
}

/* ---- entries ----------------------------------------------------------------- */

static seen_ent_t *seen_bucket(seen_shm_t *s, const seen_key_t *k)
{
    return &s->ent[(k->k1 & (s->nbuckets - 1)) * SEEN_WAYS];
}

static int seen_match(const seen_ent_t *e, const seen_key_t *k)
{
    return e->state != SEEN_EMPTY && e->k0 == k->k0 && e->k1 == k->k1;
}

static int seen_reusable(const seen_ent_t *e, int64_t horizon_s)
{
    return e->state == SEEN_EMPTY
           || (e->state == SEEN_DONE && (int64_t)e->val < horizon_s);
}

/* Writes e whole, in an order a crash cannot tear (seen.h). */
static void seen_write(seen_shm_t *s, seen_ent_t *e, const seen_key_t *k,
                       uint8_t state, uint64_t val, pid_t pid, uint32_t ring)
{
    if (e->state == SEEN_EMPTY)
        s->used++;
    uatomic_set(&e->state, SEEN_EMPTY);
    cmm_smp_wmb();
    e->k0 = k->k0;
    e->k1 = k->k1;
    e->val = val;
    e->pid = pid;
    e->ring = (uint16_t)ring;
    cmm_smp_wmb();
    uatomic_set(&e->state, state);
    if (state == SEEN_PENDING)
        s->npending++;
}

/* Looks k up in its bucket: the matching entry, else (in *free_e) a
 * reusable one. */
static seen_ent_t *seen_find(seen_shm_t *s, const seen_key_t *k,
                             int64_t horizon_s, seen_ent_t **free_e)
{
    seen_ent_t *b = seen_bucket(s, k);
    *free_e = NULL;
    for (unsigned i = 0; i < SEEN_WAYS; i++) {
        if (seen_match(&b[i], k))
            return &b[i];
        if (*free_e == NULL && seen_reusable(&b[i], horizon_s))
            *free_e = &b[i];
    }
    return NULL;
}

int seen_load(seen_shm_t *s, const seen_key_t *k, int64_t start_s,
              int64_t horizon_s)
{
    seen_ent_t *fe, *e;
    if (start_s < horizon_s)
        return 0;
    if ((e = seen_find(s, k, horizon_s, &fe)) != NULL) {
        if (e->state == SEEN_DONE && (int64_t)e->val < start_s)
            e->val = (uint64_t)start_s;
        return 0;
    }
    if (fe == NULL)
        return SEEN_EFULL;
    seen_write(s, fe, k, SEEN_DONE, (uint64_t)start_s, 0, 0);
    return 0;
}

int seen_claim(seen_shm_t *s, const seen_key_t *k, pid_t pid, uint32_t ring,
               uint64_t seq, int64_t horizon_s, uint32_t *idx)
{
    seen_ent_t *fe, *e;
    int rc = seen_lock(s, pid);
    if (rc != 0)
        return rc;
    if ((e = seen_find(s, k, horizon_s, &fe)) != NULL) {
        rc = e->state == SEEN_DONE ? SEEN_DUP : SEEN_BUSY;
    } else if (fe == NULL) {
        rc = SEEN_EFULL;
    } else {
        seen_write(s, fe, k, SEEN_PENDING, seq, pid, ring);
        *idx = (uint32_t)(fe - s->ent);
        rc = SEEN_NEW;
    }
    seen_unlock(s);
    return rc;
}

/* The claimer's own PENDING entry idx, locked; NULL (unlocked) if it is
 * not (a bug of the caller: logged). */
static seen_ent_t *seen_own(seen_shm_t *s, uint32_t idx, pid_t pid)
{
    if (idx >= s->nbuckets * SEEN_WAYS || seen_lock(s, pid) != 0)
        return NULL;
    seen_ent_t *e = &s->ent[idx];
    if (e->state != SEEN_PENDING || e->pid != pid) {
        seen_unlock(s);
        LOG_ERROR("seen", 0, "entry %u is not pending for pid %d", idx,
                  (int)pid);
        return NULL;
    }
    return e;
}

int seen_set_seq(seen_shm_t *s, uint32_t idx, pid_t pid, uint64_t seq)
{
    seen_ent_t *e = seen_own(s, idx, pid);
    if (e == NULL)
        return SEEN_ERROR;
    e->val = seq;                      /* still PENDING: one word */
    seen_unlock(s);
    return 0;
}

int seen_done(seen_shm_t *s, uint32_t idx, pid_t pid, int64_t start_s)
{
    seen_ent_t *e = seen_own(s, idx, pid);
    if (e == NULL)
        return SEEN_ERROR;
    seen_key_t k = { e->k0, e->k1 };
    s->npending--;
    seen_write(s, e, &k, SEEN_DONE, (uint64_t)start_s, 0, 0);
    seen_unlock(s);
    return 0;
}

int seen_abandon(seen_shm_t *s, uint32_t idx, pid_t pid)
{
    seen_ent_t *e = seen_own(s, idx, pid);
    if (e == NULL)
        return SEEN_ERROR;
    uatomic_set(&e->state, SEEN_EMPTY);
    s->npending--;
    s->used--;
    seen_unlock(s);
    return 0;
}

int seen_has(seen_shm_t *s, const seen_key_t *k)
{
    seen_ent_t *fe, *e;
    if (seen_lock(s, getpid()) != 0)
        return 0;
    e = seen_find(s, k, INT64_MIN, &fe);
    int yes = e != NULL && e->state == SEEN_DONE;
    seen_unlock(s);
    return yes;
}

/* ---- the supervisor ------------------------------------------------------------ */

/* Whether the record (ring, seq) is published and moved or recorded
 * something: the call it carries is billed. */
static int seen_published(const jrn_t *j, uint32_t ring, uint64_t seq)
{
    if (ring >= j->hdr->nrings)
        return 0;
    const jrn_ring_t *r = jrn_ring(j, ring);
    if (uatomic_read(&r->head) <= seq)
        return 0;
    const jrn_rec_t *rec = jrn_rec(j, ring, seq);
    return rec->seq == seq && rec->state != JRN_REC_VOID
           && rec->state != JRN_REC_EMPTY;
}

int seen_recover_pid(seen_shm_t *s, const jrn_t *j, pid_t pid)
{
    int billed = 0;
    pid_t me = getpid();
    if (s == NULL)
        return 0;
    /* Its lock is ours now; anybody else's we wait for (microseconds). */
    if (uatomic_cmpxchg(&s->lock, (uint64_t)(uint32_t)pid,
                        (uint64_t)(uint32_t)me) != (uint64_t)(uint32_t)pid
        && seen_lock(s, me) != 0) {
        LOG_ERROR("seen", 0, "the dedupe set stayed locked: pid %d's "
                  "pending calls are settled at the next reap", (int)pid);
        return 0;
    }
    uint64_t n = s->npending > 0 ? (uint64_t)s->nbuckets * SEEN_WAYS : 0;
    for (uint64_t i = 0; i < n; i++) {
        seen_ent_t *e = &s->ent[i];
        if (e->state != SEEN_PENDING || e->pid != pid)
            continue;
        seen_key_t k = { e->k0, e->k1 };
        s->npending--;
        if (seen_published(j, e->ring, e->val)) {
            /* Its start is not known here: now keeps it a full horizon. */
            seen_write(s, e, &k, SEEN_DONE, (uint64_t)time(NULL), 0, 0);
            billed++;
        } else {
            uatomic_set(&e->state, SEEN_EMPTY);
            s->used--;
        }
    }
    seen_unlock(s);
    if (billed > 0)
        LOG_INFO("seen", "pid %d died billing %d CDR call(s) whose records "
                 "were published: kept as billed", (int)pid, billed);
    return billed;
}

int64_t seen_load_journal(seen_shm_t *s, const jrn_t *j, int64_t horizon_s)
{
    int64_t n = 0;
    uint32_t nslots = j->hdr->nslots;
    for (uint32_t ri = 0; ri < j->hdr->nrings; ri++) {
        const jrn_ring_t *r = jrn_ring(j, ri);
        uint64_t head = r->head;
        uint64_t from = head > nslots ? head - nslots : 0;
        for (uint64_t seq = from; seq < head; seq++) {
            const jrn_rec_t *rec = jrn_rec(j, ri, seq);
            jrec_cdr_t c;
            const char *why;
            if (rec->seq != seq || rec->state == JRN_REC_VOID
                || rec->state == JRN_REC_EMPTY
                || (rec->kind != JRN_CDR && rec->kind != JRN_CALL_DEBIT)
                || rec->len > JRN_PAYLOAD_MAX
                || jrec_decode_cdr(rec->payload, rec->len, &c, &why)
                       != JREC_OK
                || c.source != JREC_SRC_CUCM
                || c.start_us / 1000000 < horizon_s)
                continue;
            seen_key_t k;
            seen_key(c.call_id, strlen(c.call_id), &k);
            if (seen_load(s, &k, c.start_us / 1000000, horizon_s) != 0)
                return SEEN_EFULL;
            n++;
        }
    }
    return n;
}
