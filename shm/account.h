/*
 * account.h -- account balances in the region, changed lock-free by any
 * process.
 *
 * One cache line per account, at a fixed slot the supervisor assigns when
 * it first loads or creates the account; slots are never reused, so a slot
 * number held by a worker always names the same account.
 *
 * The money fields and who changes them:
 *
 *   balance     money the account has (prepaid) or owes (postpaid, < 0)
 *   headroom    balance + credit_limit - reserved: the one word
 *               acct_reserve() checks and decrements with a compare-and-swap,
 *               which is what makes "concurrent reservations can never
 *               together exceed what the account has" hold without a lock
 *   reserved    derived: balance + credit_limit - headroom
 *
 * balance and headroom form one 16-byte pair that money movements (debit,
 * credit) change with a single cmpxchg16b: a movement is never half
 * applied, even when its process is killed in the middle, which is what
 * lets the journal (journal.h) tell after a crash whether it happened.
 * Reservations and releases touch headroom alone (8-byte atomics on the
 * same cache line; a concurrent pair swap simply retries).
 *
 * The movement lock (mlock) serialises journaled movements of one account
 * (journal.h); reservations never take it. Its owner is a pid/tid word so
 * that the supervisor can complete and release what a dead process held.
 *
 * A commit whose cost exceeds its reservation (a call rated over what was
 * reserved) is applied in full: money is never dropped, the headroom may go
 * negative, and no new reservation succeeds until a credit covers it.
 *
 * Every change is overflow-checked: fields stay within +-2^62 and single
 * amounts within 2^50 micro-units (about a billion currency units).
 *
 * Configuration fields (id, type, status, plan, credit_limit) are written by
 * the supervisor only, with acct_configure().
 */
#ifndef APOLO_ACCOUNT_H
#define APOLO_ACCOUNT_H

#include "shm/money.h"

#include <stdint.h>

typedef enum { ACCT_PREPAID = 0, ACCT_POSTPAID = 1 } acct_type_t;
typedef enum { ACCT_ACTIVE = 0, ACCT_BLOCKED = 1, ACCT_CLOSED = 2 }
    acct_status_t;

enum {
    ACCT_OK = 0,
    ACCT_ENOFUNDS = -1,      /* the reservation does not fit the headroom */
    ACCT_EINVAL = -2,        /* negative amount, bad slot */
    ACCT_ERANGE = -3,        /* the change would overflow a field */
    ACCT_EBLOCKED = -4,      /* account blocked or closed */
    ACCT_EFULL = -5,         /* no free slot */
    ACCT_EBUSY = -6          /* the movement lock stayed taken */
};

typedef struct acct_slot {
    money_t  balance;         /* balance and headroom: one 16-byte pair */
    money_t  headroom;
    uint64_t mlock;           /* movement lock: owner pid << 32 | tid */
    money_t  credit_limit;    /* >= 0; postpaid accounts live on it */
    int64_t  id;              /* accounts.id in PostgreSQL, 0 = free slot */
    money_t  low_balance;     /* warning threshold */
    int64_t  plan_id;         /* rate_plans.id; the catalog maps it */
    uint8_t  type;            /* acct_type_t */
    uint8_t  status;          /* acct_status_t */
    uint8_t  pad[6];
} __attribute__((aligned(64))) acct_slot_t;

typedef struct acct_shm {
    uint32_t    nslots;
    uint32_t    used;         /* slots handed out; supervisor only */
    uint8_t     pad[56];
    acct_slot_t slots[];
} acct_shm_t;

uint64_t acct_shm_size(uint32_t nslots);
void     acct_shm_init(acct_shm_t *a, uint32_t nslots);

/* Supervisor only: the next free slot for a new account (ACCT_EFULL). */
int  acct_alloc_slot(acct_shm_t *a, uint32_t *slot);

/* Supervisor only: sets or changes an account's configuration. The first
 * call (id was 0) also sets the opening balance; later calls leave the
 * balance alone and move headroom by the change of credit limit. */
int  acct_configure(acct_shm_t *a, uint32_t slot, int64_t id, acct_type_t type,
                    acct_status_t status, money_t credit_limit,
                    money_t low_balance, int64_t plan_id, money_t opening);

/* Reserves amount (>= 0) if the headroom allows (an account whose headroom
 * is negative cannot reserve even 0: it may not start a free call either): ACCT_OK, ACCT_ENOFUNDS,
 * ACCT_EBLOCKED (status not active), ACCT_EINVAL. Nothing changes on error.
 * Lock-free: one CAS loop on headroom. */
int  acct_reserve(acct_shm_t *a, uint32_t slot, money_t amount);

/* Grows a reservation by as much of `want` as fits (0 if nothing does);
 * *got receives the amount reserved. For metering a call in progress. */
int  acct_reserve_upto(acct_shm_t *a, uint32_t slot, money_t want,
                       money_t *got);

/* Moves balance and headroom together by (db, dh), one atomic step.
 * ACCT_ERANGE (nothing changes) if a field would leave its bounds. Not
 * journaled by itself: money movements go through jrn_move(). */
int  acct_move(acct_shm_t *a, uint32_t slot, money_t db, money_t dh);

/* Debits cost and releases the reservation res that covered it (either
 * may be 0; both >= 0): acct_move(-cost, res - cost). Never refused for
 * lack of funds: the call happened. */
int  acct_commit(acct_shm_t *a, uint32_t slot, money_t cost, money_t res);

/* Releases a reservation without debit (unanswered call, refused call). */
int  acct_release(acct_shm_t *a, uint32_t slot, money_t res);

/* Adds amount to the balance (recharge, refund; negative for an adjustment
 * that takes money away). ACCT_ERANGE if the balance would overflow. */
int  acct_credit(acct_shm_t *a, uint32_t slot, money_t amount);

/* The movement lock. acct_mlock spins (yielding) up to timeout_ms:
 * ACCT_OK or ACCT_EBUSY. owner is the caller's pid << 32 | tid. */
int  acct_mlock(acct_shm_t *a, uint32_t slot, uint64_t owner, int timeout_ms);
void acct_munlock(acct_shm_t *a, uint32_t slot, uint64_t owner);

/* The balance/headroom pair read atomically. */
int  acct_pair(const acct_shm_t *a, uint32_t slot, money_t *balance,
               money_t *headroom);

/* A copy for display and tests: balance and headroom are one atomic
 * snapshot; the configuration fields may be newer. */
typedef struct acct_view {
    int64_t id;
    money_t balance, reserved, headroom, credit_limit, low_balance;
    acct_type_t type;
    acct_status_t status;
    int64_t plan_id;
} acct_view_t;

int  acct_view(const acct_shm_t *a, uint32_t slot, acct_view_t *out);

#endif
