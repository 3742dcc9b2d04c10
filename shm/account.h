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
 *   balance     money the account has (prepaid) or owes (postpaid, < 0);
 *               changed by commit (debit) and credit
 *   reserved    sum of the reservations of calls in progress
 *   headroom    balance + credit_limit - reserved: the one word reserve()
 *               checks and decrements with a compare-and-swap, which is
 *               what makes "concurrent reservations can never together
 *               exceed what the account has" hold without a lock
 *
 * balance and reserved are kept beside headroom so that readers can show
 * them; a reader that loads them one after the other may see a commit half
 * done (one updated, not the other), which is fine for display and never
 * for a decision: decisions use headroom only.
 *
 * A commit whose cost exceeds its reservation (a call rated over what was
 * reserved) is applied in full: money is never dropped, the headroom may go
 * negative, and no new reservation succeeds until a credit covers it.
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
    ACCT_EFULL = -5          /* no free slot */
};

typedef struct acct_slot {
    money_t  balance;
    money_t  reserved;
    money_t  headroom;
    money_t  credit_limit;    /* >= 0; postpaid accounts live on it */
    int64_t  id;              /* accounts.id in PostgreSQL, 0 = free slot */
    money_t  low_balance;     /* warning threshold */
    int64_t  plan_id;         /* rate_plans.id; the catalog maps it */
    uint8_t  type;            /* acct_type_t */
    uint8_t  status;          /* acct_status_t */
    uint8_t  pad[6];
} acct_slot_t;

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

/* Debits cost and releases the reservation res that covered it (either
 * may be 0; both >= 0). Never refused for lack of funds: the call happened. */
int  acct_commit(acct_shm_t *a, uint32_t slot, money_t cost, money_t res);

/* Releases a reservation without debit (unanswered call, refused call). */
int  acct_release(acct_shm_t *a, uint32_t slot, money_t res);

/* Adds amount to the balance (recharge, refund; negative for an adjustment
 * that takes money away). ACCT_ERANGE if the balance would overflow. */
int  acct_credit(acct_shm_t *a, uint32_t slot, money_t amount);

/* A consistent-enough copy for display and tests (see the header note). */
typedef struct acct_view {
    int64_t id;
    money_t balance, reserved, headroom, credit_limit, low_balance;
    acct_type_t type;
    acct_status_t status;
    int64_t plan_id;
} acct_view_t;

int  acct_view(const acct_shm_t *a, uint32_t slot, acct_view_t *out);

#endif
