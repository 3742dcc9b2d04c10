/*
 * account.c -- lock-free balances (see account.h).
 *
 * Only acct_reserve needs a compare-and-swap loop: it must not take money
 * the account does not have. Every other change is an atomic add, because
 * it must happen whatever the other processes are doing (a call that
 * happened is debited, a recharge is credited).
 *
 * NOTES on overflow. Atomic adds cannot be checked after the fact, so the
 * bound is kept by construction: every amount is at most ACCT_MAX_AMOUNT
 * (2^50 micro-units, about a billion currency units) and every operation
 * refuses to start when a field it moves is already beyond ACCT_LIMIT
 * (2^62). Concurrent operations can overshoot that check by at most one
 * amount each, and it would take 4096 of them at the maximum amount at the
 * same instant to get from 2^62 to 2^63: the fields cannot wrap.
 */
#include "shm/account.h"

#include <string.h>
#include <urcu/uatomic.h>

#define ACCT_MAX_AMOUNT ((money_t)1 << 50)
#define ACCT_LIMIT      ((money_t)1 << 62)

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
    return amount >= 0 && amount <= ACCT_MAX_AMOUNT;
}

static int acct_in_limits(money_t v)
{
    return v > -ACCT_LIMIT && v < ACCT_LIMIT;
}

int acct_configure(acct_shm_t *a, uint32_t slot, int64_t id, acct_type_t type,
                   acct_status_t status, money_t credit_limit,
                   money_t low_balance, int64_t plan_id, money_t opening)
{
    if (slot >= a->nslots || id <= 0 || !acct_amount_ok(credit_limit)
        || !acct_in_limits(opening))
        return ACCT_EINVAL;
    acct_slot_t *s = &a->slots[slot];
    int64_t old_id = uatomic_read(&s->id);
    if (old_id != 0 && old_id != id)
        return ACCT_EINVAL;

    s->type = (uint8_t)type;
    uatomic_set(&s->plan_id, plan_id);
    uatomic_set(&s->low_balance, low_balance);
    if (old_id == 0) {
        uatomic_set(&s->balance, opening);
        uatomic_set(&s->reserved, 0);
        uatomic_set(&s->credit_limit, credit_limit);
        uatomic_set(&s->headroom, opening + credit_limit);
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

int acct_reserve(acct_shm_t *a, uint32_t slot, money_t amount)
{
    acct_slot_t *s = acct_get(a, slot);
    if (s == NULL || !acct_amount_ok(amount))
        return ACCT_EINVAL;
    if (uatomic_read(&s->status) != ACCT_ACTIVE)
        return ACCT_EBLOCKED;
    money_t old = uatomic_read(&s->headroom);
    for (;;) {
        if (old < amount)
            return ACCT_ENOFUNDS;
        money_t seen = uatomic_cmpxchg(&s->headroom, old, old - amount);
        if (seen == old)
            break;
        old = seen;
    }
    uatomic_add(&s->reserved, amount);
    return ACCT_OK;
}

int acct_reserve_upto(acct_shm_t *a, uint32_t slot, money_t want, money_t *got)
{
    acct_slot_t *s = acct_get(a, slot);
    *got = 0;
    if (s == NULL || !acct_amount_ok(want))
        return ACCT_EINVAL;
    if (uatomic_read(&s->status) != ACCT_ACTIVE)
        return ACCT_EBLOCKED;
    money_t old = uatomic_read(&s->headroom), take;
    for (;;) {
        take = old < want ? old : want;
        if (take <= 0)
            return ACCT_ENOFUNDS;
        money_t seen = uatomic_cmpxchg(&s->headroom, old, old - take);
        if (seen == old)
            break;
        old = seen;
    }
    uatomic_add(&s->reserved, take);
    *got = take;
    return ACCT_OK;
}

int acct_commit(acct_shm_t *a, uint32_t slot, money_t cost, money_t res)
{
    acct_slot_t *s = acct_get(a, slot);
    if (s == NULL || !acct_amount_ok(cost) || !acct_amount_ok(res))
        return ACCT_EINVAL;
    if (!acct_in_limits(uatomic_read(&s->balance))
        || !acct_in_limits(uatomic_read(&s->headroom)))
        return ACCT_ERANGE;
    uatomic_add(&s->headroom, res - cost);
    uatomic_add(&s->reserved, -res);
    uatomic_add(&s->balance, -cost);
    return ACCT_OK;
}

int acct_release(acct_shm_t *a, uint32_t slot, money_t res)
{
    return acct_commit(a, slot, 0, res);
}

int acct_credit(acct_shm_t *a, uint32_t slot, money_t amount)
{
    acct_slot_t *s = acct_get(a, slot);
    money_t mag = amount < 0 ? -amount : amount;
    if (s == NULL || amount == MONEY_MIN || !acct_amount_ok(mag))
        return ACCT_EINVAL;
    if (!acct_in_limits(uatomic_read(&s->balance))
        || !acct_in_limits(uatomic_read(&s->headroom)))
        return ACCT_ERANGE;
    uatomic_add(&s->headroom, amount);
    uatomic_add(&s->balance, amount);
    return ACCT_OK;
}

int acct_view(const acct_shm_t *a, uint32_t slot, acct_view_t *out)
{
    acct_slot_t *s = acct_get(a, slot);
    if (s == NULL)
        return ACCT_EINVAL;
    out->id = uatomic_read(&s->id);
    out->balance = uatomic_read(&s->balance);
    out->reserved = uatomic_read(&s->reserved);
    out->headroom = uatomic_read(&s->headroom);
    out->credit_limit = uatomic_read(&s->credit_limit);
    out->low_balance = uatomic_read(&s->low_balance);
    out->type = (acct_type_t)uatomic_read(&s->type);
    out->status = (acct_status_t)uatomic_read(&s->status);
    out->plan_id = uatomic_read(&s->plan_id);
    return ACCT_OK;
}
