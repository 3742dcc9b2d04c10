/*
 * test_account.c -- balances in the region: the rules of reserve, commit,
 * release and credit, and the no-overspend invariant under 8 processes
 * hammering one prepaid account.
 */
#include "shm/account.h"
#include "shm/region.h"
#include "tests/testhelp.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <urcu/uatomic.h>

#define NPROC 8

static region_t region;

static acct_shm_t *accts(void)
{
    return region_area(&region, REGION_AREA_ACCOUNTS);
}

static uint32_t new_account(int64_t id, acct_type_t type, money_t opening,
                            money_t credit)
{
    uint32_t slot;
    TEST_EQ_I64(acct_alloc_slot(accts(), &slot), ACCT_OK);
    TEST_EQ_I64(acct_configure(accts(), slot, id, type, ACCT_ACTIVE, credit,
                               0, 1, opening), ACCT_OK);
    return slot;
}

static void test_rules(void)
{
    acct_view_t v;
    money_t got;
    uint32_t s = new_account(1, ACCT_PREPAID, 10000000, 0);   /* 10.00 */

    TEST_EQ_I64(acct_reserve(accts(), s, 4000000), ACCT_OK);
    TEST_EQ_I64(acct_reserve(accts(), s, 6000001), ACCT_ENOFUNDS);
    TEST_EQ_I64(acct_reserve(accts(), s, 6000000), ACCT_OK);
    TEST_EQ_I64(acct_reserve(accts(), s, 1), ACCT_ENOFUNDS);
    TEST_EQ_I64(acct_reserve(accts(), s, -5), ACCT_EINVAL);
    TEST_EQ_I64(acct_commit(accts(), s, 3500000, 4000000), ACCT_OK);
    TEST_EQ_I64(acct_release(accts(), s, 6000000), ACCT_OK);
    acct_view(accts(), s, &v);
    TEST_EQ_I64(v.balance, 6500000);
    TEST_EQ_I64(v.reserved, 0);
    TEST_EQ_I64(v.headroom, 6500000);

    /* reserve_upto takes what fits, and nothing when nothing does */
    TEST_EQ_I64(acct_reserve_upto(accts(), s, 9000000, &got), ACCT_OK);
    TEST_EQ_I64(got, 6500000);
    TEST_EQ_I64(acct_reserve_upto(accts(), s, 1, &got), ACCT_ENOFUNDS);
    TEST_EQ_I64(got, 0);
    /* a call rated over its reservation is debited in full */
    TEST_EQ_I64(acct_commit(accts(), s, 7000000, 6500000), ACCT_OK);
    acct_view(accts(), s, &v);
    TEST_EQ_I64(v.balance, -500000);
    TEST_EQ_I64(v.headroom, -500000);
    /* over its limit, not even a free call may start */
    TEST_EQ_I64(acct_reserve(accts(), s, 0), ACCT_ENOFUNDS);
    TEST_EQ_I64(acct_reserve(accts(), s, 1), ACCT_ENOFUNDS);
    TEST_EQ_I64(acct_credit(accts(), s, 1500000), ACCT_OK);
    TEST_EQ_I64(acct_reserve(accts(), s, 1000000), ACCT_OK);
    TEST_EQ_I64(acct_release(accts(), s, 1000000), ACCT_OK);

    /* postpaid lives on its credit limit; raising the limit adds headroom */
    uint32_t p = new_account(2, ACCT_POSTPAID, 0, 5000000);
    TEST_EQ_I64(acct_reserve(accts(), p, 5000000), ACCT_OK);
    TEST_EQ_I64(acct_reserve(accts(), p, 1), ACCT_ENOFUNDS);
    TEST_EQ_I64(acct_configure(accts(), p, 2, ACCT_POSTPAID, ACCT_ACTIVE,
                               8000000, 0, 1, 0), ACCT_OK);
    TEST_EQ_I64(acct_reserve(accts(), p, 3000000), ACCT_OK);
    TEST_EQ_I64(acct_reserve(accts(), p, 1), ACCT_ENOFUNDS);
    acct_view(accts(), p, &v);
    TEST_EQ_I64(v.balance, 0);
    TEST_EQ_I64(v.reserved, 8000000);

    /* blocked accounts cannot reserve, but calls in progress still commit */
    TEST_EQ_I64(acct_configure(accts(), p, 2, ACCT_POSTPAID, ACCT_BLOCKED,
                               8000000, 0, 1, 0), ACCT_OK);
    TEST_EQ_I64(acct_reserve(accts(), p, 0), ACCT_EBLOCKED);
    TEST_EQ_I64(acct_commit(accts(), p, 8000000, 8000000), ACCT_OK);
    acct_view(accts(), p, &v);
    TEST_EQ_I64(v.balance, -8000000);
    TEST_EQ_I64(v.reserved, 0);

    /* bad input changes nothing */
    TEST_EQ_I64(acct_credit(accts(), s, (money_t)1 << 55), ACCT_EINVAL);
    TEST_EQ_I64(acct_credit(accts(), s, INT64_MIN), ACCT_EINVAL);
    TEST_EQ_I64(acct_reserve(accts(), 99999, 1), ACCT_EINVAL);
    TEST_EQ_I64(acct_configure(accts(), s, 77, ACCT_PREPAID, ACCT_ACTIVE, 0,
                               0, 1, 0), ACCT_EINVAL);       /* slot taken */
    acct_view(accts(), s, &v);
    TEST_EQ_I64(v.balance, 1000000);
    TEST_EQ_I64(v.id, 1);
}

/* Counters the hammering processes share, apart from the region. */
typedef struct shared {
    money_t net;               /* spent + reservations held - recharged:
                                  it follows the account's own changes,
                                  never leads them, so it never overstates */
    money_t worst;             /* the largest `net` seen */
    money_t spent_by[NPROC];   /* exact, per process */
    money_t credited_by[NPROC];
} shared_t;

static void note_worst(shared_t *sh, money_t seen)
{
    money_t w = uatomic_read(&sh->worst);
    while (seen > w && uatomic_cmpxchg(&sh->worst, w, seen) != w)
        w = uatomic_read(&sh->worst);
}

/*
 * Keeps the account near empty on purpose: reservations of up to 5000 are
 * held briefly and mostly released, one in eight is spent, and a process
 * that finds no funds recharges a little. Reservations then race for the
 * last micro-units all the time, which is where a check-then-act reserve
 * would overspend.
 */
static void hammer(uint32_t slot, shared_t *sh, int me, int iterations)
{
    uint64_t x = 0x9E3779B97F4A7C15ULL * (uint64_t)(me + 1);
    for (int i = 0; i < iterations; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        money_t amount = 1 + (money_t)(x % 5000);
        if (acct_reserve(accts(), slot, amount) != ACCT_OK) {
            if ((x >> 40) % 4 == 0) {
                uatomic_add(&sh->net, -3000);
                TEST_EQ_I64(acct_credit(accts(), slot, 3000), ACCT_OK);
                sh->credited_by[me] += 3000;
            }
            continue;
        }
        note_worst(sh, uatomic_add_return(&sh->net, amount));
        for (volatile int k = 0; k < (int)((x >> 50) % 64); k++)
            ;
        money_t cost = (x >> 20) % 8 == 0 ? amount : 0;
        uatomic_add(&sh->net, cost - amount);
        TEST_EQ_I64(acct_commit(accts(), slot, cost, amount), ACCT_OK);
        sh->spent_by[me] += cost;
    }
}

static void test_no_overspend(money_t opening, money_t credit, int64_t id)
{
    shared_t *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    TEST_CHECK(sh != MAP_FAILED);
    memset(sh, 0, sizeof *sh);
    uint32_t slot = new_account(id, ACCT_PREPAID, opening, credit);

    for (int i = 0; i < NPROC; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            hammer(slot, sh, i, 300000);
            _exit(test_failures ? 1 : 0);
        }
        TEST_CHECK(pid > 0);
    }
    for (int i = 0; i < NPROC; i++) {
        int st;
        TEST_CHECK(wait(&st) > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    acct_view_t v;
    acct_view(accts(), slot, &v);
    money_t spent = 0, credited = 0;
    for (int i = 0; i < NPROC; i++) {
        spent += sh->spent_by[i];
        credited += sh->credited_by[i];
    }
    fprintf(stderr, "opening %lld credit %lld recharged %lld spent %lld "
            "worst %lld\n", (long long)opening, (long long)credit,
            (long long)credited, (long long)spent, (long long)sh->worst);
    TEST_CHECK(sh->worst <= opening + credit);     /* never over-reserved */
    TEST_EQ_I64(v.balance, opening + credited - spent);  /* conservation */
    TEST_CHECK(v.balance >= -credit);              /* no overspend */
    TEST_EQ_I64(v.reserved, 0);
    TEST_EQ_I64(v.headroom, v.balance + credit);
    TEST_CHECK(spent > 1000000);                   /* it really ran */
    munmap(sh, sizeof *sh);
}

int main(void)
{
    region_config_t cfg = { .max_readers = 8, .max_accounts = 64,
                            .heap_bytes = 1 << 20 };
    TEST_EQ_I64(region_create(&region, &cfg), REGION_OK);
    TEST_EQ_I64(region_check(&region), REGION_OK);
    test_rules();
    test_no_overspend(20000, 0, 10);               /* 0.02 prepaid */
    test_no_overspend(10000, 15000, 11);           /* with a credit limit */
    region_destroy(&region);
    return TEST_REPORT();
}
