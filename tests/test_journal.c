/*
 * test_journal.c -- the journal's promises, with real processes and a real
 * file: a movement and its record change together even when the producer
 * is killed at any point; a full ring pushes back and loses nothing; a
 * restart replays exactly what was not drained.
 *
 * The invariant checked after every scenario, per account:
 *   region balance == opening + sum(delta_balance of DONE records)
 * with no PENDING record, no account lock and no ring owned by the dead.
 */
#include "shm/catalog.h"
#include "shm/journal.h"
#include "shm/publish.h"
#include "tests/testhelp.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NACCT   4
#define OPENING 1000000000LL

static region_t region;
static char path[256];
static uint32_t slots[NACCT];
/* What the "flusher" took out of the rings so far, per account. */
static money_t drained_sum[NACCT];

static acct_shm_t *accts(void)
{
    return region_area(&region, REGION_AREA_ACCOUNTS);
}

/* A region with NACCT accounts (ids 1..NACCT) and a catalog naming them. */
static void fresh_region(void)
{
    memset(drained_sum, 0, sizeof drained_sum);
    region_config_t cfg = { .max_readers = 8, .max_accounts = 64,
                            .heap_bytes = 1 << 20 };
    TEST_EQ_I64(region_create(&region, &cfg), REGION_OK);
    pub_t *pub = pub_new(&region, 0);
    cat_builder_t *cb = cat_builder_new(1);
    for (int i = 0; i < NACCT; i++) {
        char code[16];
        snprintf(code, sizeof code, "A%d", i + 1);
        acct_alloc_slot(accts(), &slots[i]);
        acct_configure(accts(), slots[i], i + 1, ACCT_PREPAID, ACCT_ACTIVE,
                       0, 0, 1, OPENING);
        cat_builder_account(cb, i + 1, code, slots[i]);
    }
    TEST_EQ_I64(pub_catalog(pub, cb), PUB_OK);
    cat_builder_free(cb);
    pub_delete(pub);
}


static void sum_records(jrn_t *j, uint32_t i, uint64_t from, uint64_t to,
                        money_t *sum)
{
    for (uint64_t s = from; s < to; s++) {
        const jrn_rec_t *rec = jrn_rec(j, i, s);
        if (rec->state != JRN_REC_DONE && rec->state != JRN_REC_VOID)
            TEST_FAIL_AT("ring %u record %llu (seq %llu): state %d "
                         "tail %llu head %llu", i,
                         (unsigned long long)s, (unsigned long long)rec->seq,
                         rec->state, (unsigned long long)jrn_ring(j, i)->tail,
                         (unsigned long long)jrn_ring(j, i)->head);
        if (rec->state == JRN_REC_DONE && rec->kind != JRN_CDR)
            sum[rec->acct_id - 1] += rec->delta_balance;
    }
}

/* The flusher's part: count what is drained, free the slots. */
static void drain(jrn_t *j, uint32_t i, uint64_t upto)
{
    sum_records(j, i, jrn_ring(j, i)->tail, upto, drained_sum);
    jrn_release(j, i, upto);
}

/* balance == opening + drained + undrained DONE movements, no lock held. */
static void check_agree(jrn_t *j)
{
    money_t sum[NACCT];
    memcpy(sum, drained_sum, sizeof sum);
    for (uint32_t i = 0; i < j->hdr->nrings; i++)
        sum_records(j, i, jrn_ring(j, i)->tail, jrn_ring(j, i)->head, sum);
    for (int a = 0; a < NACCT; a++) {
        acct_view_t v;
        acct_view(accts(), slots[a], &v);
        TEST_EQ_I64(v.balance, OPENING + sum[a]);
        TEST_EQ_I64(accts()->slots[slots[a]].mlock, 0);
    }
}

static void check_no_owner(jrn_t *j)
{
    for (uint32_t i = 0; i < j->hdr->nrings; i++)
        TEST_EQ_I64(jrn_ring(j, i)->owner, 0);
}

/* One producer's loop: debits and credits spread over the accounts. */
static void produce(jrn_t *j, int n, uint64_t seed)
{
    jrn_writer_t w;
    if (jrn_writer_open(j, &w) != JRN_OK)
        _exit(3);
    for (int k = 0; k < n; k++) {
        seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
        int a = (int)(seed % NACCT);
        money_t amt = 1 + (money_t)(seed >> 40) % 100000;
        int credit = (seed >> 20) % 3 == 0;
        char ref[32];
        int len = snprintf(ref, sizeof ref, "m%d", k);
        if (jrn_move(&w, accts(), slots[a], credit ? JRN_RECHARGE
                     : JRN_CALL_DEBIT, credit ? amt : -amt,
                     credit ? amt : -amt, ref, (size_t)len, 5000, NULL,
                     NULL) != JRN_OK)
            _exit(4);
    }
    jrn_writer_close(&w);
}

static void test_basic(void)
{
    jrn_t j;
    jrn_writer_t w;
    uint64_t seq;
    money_t after;
    TEST_EQ_I64(jrn_open(&j, path, 2, 8, 10), JRN_OK);
    TEST_EQ_I64(jrn_writer_open(&j, &w), JRN_OK);
    TEST_EQ_I64(jrn_move(&w, accts(), slots[0], JRN_RECHARGE, 2500000,
                         2500000, "r1", 2, 100, &seq, &after), JRN_OK);
    TEST_EQ_I64(seq, 0);
    TEST_EQ_I64(after, OPENING + 2500000);
    const jrn_rec_t *rec = jrn_rec(&j, w.index, 0);
    TEST_EQ_I64(rec->state, JRN_REC_DONE);
    TEST_EQ_I64(rec->acct_id, 1);
    TEST_EQ_I64(rec->balance_before, OPENING);
    TEST_EQ_I64(rec->balance_after, OPENING + 2500000);
    TEST_CHECK(memcmp(rec->payload, "r1", 2) == 0);
    /* bad input changes nothing */
    TEST_EQ_I64(jrn_move(&w, accts(), slots[0], JRN_ADJUSTMENT, 0, 0, NULL, 0,
                         100, NULL, NULL), JRN_EINVAL);
    TEST_EQ_I64(jrn_move(&w, accts(), slots[0], JRN_ADJUSTMENT, 1, 1, "x",
                         JRN_PAYLOAD_MAX + 1, 100, NULL, NULL), JRN_EINVAL);
    TEST_EQ_I64(jrn_move(&w, accts(), 999, JRN_ADJUSTMENT, 1, 1, NULL, 0, 100,
                         NULL, NULL), JRN_EINVAL);
    TEST_EQ_I64(jrn_append(&w, JRN_CDR, "cdr", 3, 100, &seq), JRN_OK);
    TEST_EQ_I64(seq, 1);

    /* back-pressure: 8 slots, 2 used; 6 more fit, the 9th waits, fails */
    for (int k = 0; k < 6; k++)
        TEST_EQ_I64(jrn_append(&w, JRN_CDR, "c", 1, 100, NULL), JRN_OK);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    TEST_EQ_I64(jrn_move(&w, accts(), slots[1], JRN_RECHARGE, 5, 5, NULL, 0,
                         50, NULL, NULL), JRN_EFULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long waited = (t1.tv_sec - t0.tv_sec) * 1000
                  + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    TEST_CHECK(waited >= 49);
    TEST_EQ_I64(jrn_ring(&j, w.index)->head, 8);
    check_agree(&j);                           /* account 2 did not move */
    drain(&j, w.index, 3);                     /* the flusher drained 3 */
    TEST_EQ_I64(jrn_move(&w, accts(), slots[1], JRN_RECHARGE, 5, 5, NULL, 0,
                         50, NULL, NULL), JRN_OK);
    TEST_EQ_I64(jrn_sync(&j), JRN_OK);
    TEST_EQ_I64(jrn_ring(&j, w.index)->synced, 9);
    jrn_writer_close(&w);
    check_agree(&j);
    check_no_owner(&j);
    jrn_close(&j);
    /* a file of another layout is refused, not reinterpreted */
    TEST_EQ_I64(jrn_open(&j, path, 2, 16, 10), JRN_ECORRUPT);
    unlink(path);
}

/* Kills a producer exactly inside the critical window, both ways. */
static void test_crash_points(void)
{
    jrn_t j;
    TEST_EQ_I64(jrn_open(&j, path, 4, 64, 10), JRN_OK);
    for (int point = 1; point <= 2; point++) {
        acct_view_t before, after;
        acct_view(accts(), slots[2], &before);
        pid_t pid = fork();
        if (pid == 0) {
            jrn_writer_t w;
            jrn_writer_open(&j, &w);
            jrn_test_crash_point = point;
            jrn_move(&w, accts(), slots[2], JRN_CALL_DEBIT, -700, -700, NULL,
                     0, 100, NULL, NULL);
            _exit(0);                          /* not reached */
        }
        int st;
        waitpid(pid, &st, 0);
        TEST_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        TEST_CHECK(accts()->slots[slots[2]].mlock != 0);   /* left held */
        TEST_EQ_I64(jrn_recover_pid(&j, accts(), pid), 1);
        acct_view(accts(), slots[2], &after);
        TEST_EQ_I64(after.balance, before.balance - 700);  /* exactly once */
        check_agree(&j);
        check_no_owner(&j);
    }
    jrn_close(&j);
    unlink(path);
}

/* Random SIGKILLs of busy producers, recovered each time. */
static void test_random_kills(void)
{
    jrn_t j;
    TEST_EQ_I64(jrn_open(&j, path, 8, 1 << 16, 10), JRN_OK);
    uint64_t x = (uint64_t)time(NULL) | 1;
    fprintf(stderr, "random kills, seed %llu\n", (unsigned long long)x);
    int recovered = 0;
    for (int round = 0; round < 60; round++) {
        pid_t pid[3];
        for (int p = 0; p < 3; p++) {
            pid[p] = fork();
            if (pid[p] == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                produce(&j, 1 << 30, x + (uint64_t)p * 7919 + (uint64_t)round);
                _exit(0);
            }
        }
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        struct timespec d = { 0, 200000 + (long)(x % 3000000) };
        nanosleep(&d, NULL);
        for (int p = 0; p < 3; p++) {
            kill(pid[p], SIGKILL);
            waitpid(pid[p], NULL, 0);
            recovered += jrn_recover_pid(&j, accts(), pid[p]);
        }
        check_agree(&j);
        check_no_owner(&j);
        for (uint32_t i = 0; i < j.hdr->nrings; i++)
            drain(&j, i, jrn_ring(&j, i)->head);
    }
    fprintf(stderr, "random kills: %d half-done movements completed\n",
            recovered);
    jrn_close(&j);
    unlink(path);
}

/* A restart: a new region at the "PostgreSQL" balances plus the replay of
 * what was not drained gives the balances of the old region. */
static void test_replay(void)
{
    jrn_t j;
    TEST_EQ_I64(jrn_open(&j, path, 3, 1024, 10), JRN_OK);
    for (int p = 0; p < 3; p++) {
        pid_t pid = fork();
        if (pid == 0) {
            produce(&j, 300, 12345 + (uint64_t)p);
            _exit(0);
        }
        waitpid(pid, NULL, 0);
    }
    /* leave one PENDING record behind, then crash */
    pid_t pid = fork();
    if (pid == 0) {
        jrn_writer_t w;
        jrn_writer_open(&j, &w);
        jrn_test_crash_point = 1;
        jrn_move(&w, accts(), slots[3], JRN_RECHARGE, 4242, 4242, NULL, 0, 100,
                 NULL, NULL);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    money_t old[NACCT], pg[NACCT] = { 0 };
    for (int a = 0; a < NACCT; a++) {
        acct_view_t v;
        acct_view(accts(), slots[a], &v);
        old[a] = v.balance + (a == 3 ? 4242 : 0);  /* rolled forward */
    }
    /* "PostgreSQL" drained the first 100 records of each ring (or all) */
    uint64_t drained[3], undrained = 0;
    for (uint32_t i = 0; i < 3; i++) {
        uint64_t head = jrn_ring(&j, i)->head;
        drained[i] = head < 100 ? head : 100;
        undrained += head - drained[i];
        sum_records(&j, i, 0, drained[i], pg);
    }
    TEST_CHECK(undrained > 300);
    jrn_close(&j);
    region_destroy(&region);

    fresh_region();                             /* the supervisor restarts */
    for (int a = 0; a < NACCT; a++) {           /* PG = opening + drained */
        acct_credit(accts(), slots[a], pg[a]);
        drained_sum[a] = pg[a];
    }
    TEST_EQ_I64(jrn_open(&j, path, 3, 1024, 10), JRN_OK);
    uint64_t too_far[3] = { drained[0], drained[1], 100000 };
    TEST_EQ_I64(jrn_replay(&j, accts(), cat_current(&region), too_far, NULL),
                JRN_ECORRUPT);
    uint64_t n = 0;
    TEST_EQ_I64(jrn_replay(&j, accts(), cat_current(&region), drained, &n),
                JRN_OK);
    TEST_EQ_I64(n, undrained);          /* the PENDING one included */
    for (int a = 0; a < NACCT; a++) {
        acct_view_t v;
        acct_view(accts(), slots[a], &v);
        TEST_EQ_I64(v.balance, old[a]);
        TEST_EQ_I64(v.headroom, v.balance);
    }
    for (uint32_t i = 0; i < 3; i++)
        TEST_EQ_I64(jrn_ring(&j, i)->tail, drained[i]);
    check_agree(&j);
    check_no_owner(&j);
    jrn_close(&j);
    unlink(path);
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/apolo-test-journal.%d", (int)getpid());
    unlink(path);
    void (*tests[])(void) = { test_basic, test_crash_points,
                              test_random_kills, test_replay };
    for (size_t t = 0; t < sizeof tests / sizeof *tests; t++) {
        fresh_region();
        tests[t]();
        region_destroy(&region);
    }
    return TEST_REPORT();
}
