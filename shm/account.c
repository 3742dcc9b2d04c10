/*
 * account.c -- lock-free balances (see account.h).
 *
 * Reservations are one compare-and-swap on headroom: they must not take
 * money the account does not have. Movements (debit, credit) are one
 * cmpxchg16b on the (balance, headroom) pair: they must happen whatever
 * the other processes are doing, and never half.
 *
 * NOTES
 * - gcc inlines __sync_bool_compare_and_swap on unsigned __int128 as
 *   "lock cmpxchg16b" with -mcx16 (the GNUmakefile sets it). The __atomic
 *   16-byte builtins would call libatomic, whose fallback is a process-
 *   private lock: worthless in shared memory. Do not switch.
 * - An 8-byte atomic on headroom and a 16-byte swap on the pair are both
 *   locked operations on one cache line; a swap that raced a reservation
 *   compares unequal and retries with the new value.
 * - Bounds: every field stays within +-ACCT_LIMIT (2^62) and every single
 *   amount within ACCT_MAX_AMOUNT (2^50); the checks sit inside the CAS
 *   loops, so they hold exactly, not just approximately.
 */
#include "shm/account.h"

#include <sched.h>
#include <string.h>
#include <time.h>
#include <urcu/uatomic.h>

#define ACCT_MAX_AMOUNT ((money_t)1 << 50)
#define ACCT_LIMIT      ((money_t)1 << 62)

typedef unsigned __int128 acct_u128;

uint64_t acct_shm_size(uint32_t nslots)
{
    return sizeof(acct_shm_t) + (uint64_t)nslots * sizeof(acct_slot_t);
}

void acct_shm_init(acct_shm_t *a, uint32_t nslots)
{
    memset(a, 0, acct_shm_size(nslots));
    a->nslots = nslots;
}

int acct_alloc_slot(acct_shm_t *a, uint32_t *slot)
{
    if (a->used >= a->nslots)
        return ACCT_EFULL;
    *slot = a->used++;
    return ACCT_OK;
}

static acct_slot_t *acct_get(const acct_shm_t *a, uint32_t slot)
{
    if (slot >= a->nslots)
        return NULL;
    acct_slot_t *s = (acct_slot_t *)&a->slots[slot];
    return uatomic_read(&s->id) != 0 ? s : NULL;
}

static int acct_amount_ok(money_t amount)
{
    return amount >= -ACCT_MAX_AMOUNT && amount <= ACCT_MAX_AMOUNT;
}

static int acct_in_limits(money_t v)
{
    return v > -ACCT_LIMIT && v < ACCT_LIMIT;
}

static acct_u128 acct_pack(money_t balance, money_t headroom)
{
    acct_u128 v;
    money_t p[2] = { balance, headroom };
    memcpy(&v, p, sizeof v);
    return v;
}

static void acct_unpack(acct_u128 v, money_t *balance, money_t *headroom)
{
    money_t p[2];
    memcpy(p, &v, sizeof p);
    *balance = p[0];
    *headroom = p[1];
}

/* The pair, read atomically: a swap of 0 for 0 returns the current value
 * and writes nothing new. */
static acct_u128 acct_load_pair(acct_slot_t *s)
{
    return __sync_val_compare_and_swap((acct_u128 *)&s->balance, 0, 0);
}

int acct_configure(acct_shm_t *a, uint32_t slot, int64_t id, acct_type_t type,
                   acct_status_t status, money_t credit_limit,
                   money_t low_balance, int64_t plan_id, money_t opening)
{
    if (slot >= a->nslots || id <= 0 || credit_limit < 0
        || !acct_amount_ok(credit_limit) || !acct_in_limits(opening))
        return ACCT_EINVAL;
    acct_slot_t *s = &a->slots[slot];
    int64_t old_id = uatomic_read(&s->id);
    if (old_id != 0 && old_id != id)
        return ACCT_EINVAL;

    s->type = (uint8_t)type;
    uatomic_set(&s->plan_id, plan_id);
    uatomic_set(&s->low_balance, low_balance);
    if (old_id == 0) {
        s->balance = opening;
        s->headroom = opening + credit_limit;
        s->mlock = 0;
        uatomic_set(&s->credit_limit, credit_limit);
    } else {
        money_t old_limit = uatomic_xchg(&s->credit_limit, credit_limit);
        uatomic_add(&s->headroom, credit_limit - old_limit);
    }
    uatomic_set(&s->status, (uint8_t)status);
    /* id last: a slot is visible to acct_get only once it is complete. */
    cmm_smp_wmb();
    uatomic_set(&s->id, id);
    return ACCT_OK;
}

/* Takes up to `want` (all of it if !partial) from headroom. */
static int acct_take(acct_slot_t *s, money_t want, int partial, money_t *got)
{
    money_t old = uatomic_read(&s->headroom), take;
    for (;;) {
        take = old < want ? (partial ? old : -1) : want;
        if (take < 0 || (partial && take == 0) || old < 0)
            return ACCT_ENOFUNDS;
        money_t seen = uatomic_cmpxchg(&s->headroom, old, old - take);
        if (seen == old)
            break;
        old = seen;
    }
    *got = take;
    return ACCT_OK;
}

int acct_reserve(acct_shm_t *a, uint32_t slot, money_t amount)
{
    acct_slot_t *s = acct_get(a, slot);
    money_t got;
    if (s == NULL || amount < 0 || !acct_amount_ok(amount))
        return ACCT_EINVAL;
    if (uatomic_read(&s->status) != ACCT_ACTIVE)
        return ACCT_EBLOCKED;
    return acct_take(s, amount, 0, &got);
}

int acct_reserve_upto(acct_shm_t *a, uint32_t slot, money_t want, money_t *got)
{
    acct_slot_t *s = acct_get(a, slot);
    *got = 0;
    if (s == NULL || want < 0 || !acct_amount_ok(want))
        return ACCT_EINVAL;
    if (uatomic_read(&s->status) != ACCT_ACTIVE)
        return ACCT_EBLOCKED;
    return acct_take(s, want, 1, got);
}

int acct_move(acct_shm_t *a, uint32_t slot, money_t db, money_t dh)
{
    acct_slot_t *s = acct_get(a, slot);
    if (s == NULL || !acct_amount_ok(db) || !acct_amount_ok(dh))
        return ACCT_EINVAL;
    acct_u128 old = acct_pack(s->balance, s->headroom);   /* a guess */
    for (;;) {
        money_t b, h;
        acct_unpack(old, &b, &h);
        if (!acct_in_limits(b + db) || !acct_in_limits(h + dh))
            return ACCT_ERANGE;
        acct_u128 seen = __sync_val_compare_and_swap(
            (acct_u128 *)&s->balance, old, acct_pack(b + db, h + dh));
        if (seen == old)
            return ACCT_OK;
        old = seen;
    }
}

int acct_commit(acct_shm_t *a, uint32_t slot, money_t cost, money_t res)
{
    if (cost < 0 || res < 0 || !acct_amount_ok(cost) || !acct_amount_ok(res))
        return ACCT_EINVAL;
    return acct_move(a, slot, -cost, res - cost);
}

int acct_release(acct_shm_t *a, uint32_t slot, money_t res)
{
    acct_slot_t *s = acct_get(a, slot);
    if (s == NULL || res < 0 || !acct_amount_ok(res))
        return ACCT_EINVAL;
    money_t old = uatomic_read(&s->headroom);
    for (;;) {
        if (!acct_in_limits(old + res))
            return ACCT_ERANGE;
        money_t seen = uatomic_cmpxchg(&s->headroom, old, old + res);
        if (seen == old)
            return ACCT_OK;
        old = seen;
    }
}

int acct_credit(acct_shm_t *a, uint32_t slot, money_t amount)
{
    return acct_move(a, slot, amount, amount);
}

int acct_mlock(acct_shm_t *a, uint32_t slot, uint64_t owner, int timeout_ms)
{
    acct_slot_t *s = acct_get(a, slot);
    struct timespec t0, t;
    if (s == NULL || owner == 0)
        return ACCT_EINVAL;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned spins = 0;; spins++) {
        if (uatomic_cmpxchg(&s->mlock, 0, owner) == 0)
            return ACCT_OK;
        if (spins < 64) {
            caa_cpu_relax();
            continue;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000
            + (t.tv_nsec - t0.tv_nsec) / 1000000 >= timeout_ms)
            return ACCT_EBUSY;
        sched_yield();
    }
}

void acct_munlock(acct_shm_t *a, uint32_t slot, uint64_t owner)
{
    if (slot < a->nslots)
        uatomic_cmpxchg(&a->slots[slot].mlock, owner, 0);
}

int acct_pair(const acct_shm_t *a, uint32_t slot, money_t *balance,
              money_t *headroom)
{
    acct_slot_t *s = acct_get(a, slot);
    if (s == NULL)
        return ACCT_EINVAL;
    acct_unpack(acct_load_pair(s), balance, headroom);
    return ACCT_OK;
}

int acct_view(const acct_shm_t *a, uint32_t slot, acct_view_t *out)
{
    acct_slot_t *s = acct_get(a, slot);
    if (s == NULL)
        return ACCT_EINVAL;
    acct_unpack(acct_load_pair(s), &out->balance, &out->headroom);
    out->id = uatomic_read(&s->id);
    out->credit_limit = uatomic_read(&s->credit_limit);
    out->reserved = out->balance + out->credit_limit - out->headroom;
    out->low_balance = uatomic_read(&s->low_balance);
    out->type = (acct_type_t)uatomic_read(&s->type);
    out->status = (acct_status_t)uatomic_read(&s->status);
    out->plan_id = uatomic_read(&s->plan_id);
    return ACCT_OK;
}
