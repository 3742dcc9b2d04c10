/*
 * test_seen.c -- the set of calls billed from CDR files (shm/seen.h), the
 * specification of its exactly-once protocol:
 *   - claim: NEW once, then DUP once done; BUSY while another process has
 *     it pending; abandon gives it back; keys of different ids differ;
 *   - expiry: a bucket full of live calls is FULL, entries of calls older
 *     than the horizon are reused; load skips calls older than it;
 *   - recovery across real processes killed by SIGKILL: claimed and the
 *     record published -> billed (DUP afterwards); claimed, nothing
 *     published -> free (NEW again); claimed, its debit VOID and the
 *     unbilled CDR not yet written -> free; a dead lock holder's lock is
 *     freed; two processes claiming the same ids at once never both win;
 *   - start: the journal's CUCM CDRs are loaded, the others are not.
 */
#include "shm/account.h"
#include "shm/journal.h"
#include "shm/jrec.h"
#include "shm/seen.h"
#include "tests/testhelp.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static seen_key_t key_of(const char *id)
{
    seen_key_t k;
    seen_key(id, strlen(id), &k);
    return k;
}

static void test_claim(void)
{
    seen_shm_t *s;
    uint32_t idx, idx2;
    int64_t now = time(NULL);
    TEST_EQ_I64(seen_open(1024, &s), 0);
    seen_key_t a = key_of("cucm:C:1:100:1:2"), b = key_of("cucm:C:1:100:1:3");
    TEST_CHECK(a.k0 != b.k0 || a.k1 != b.k1);

    TEST_EQ_I64(seen_claim(s, &a, getpid(), 0, 7, now - 86400, &idx), SEEN_NEW);
    TEST_EQ_I64(s->npending, 1);
    /* Pending: anybody else (or a second look) is told to wait. */
    TEST_EQ_I64(seen_claim(s, &a, 4242, 1, 9, now - 86400, &idx2), SEEN_BUSY);
    TEST_EQ_I64(seen_has(s, &a), 0);
    TEST_EQ_I64(seen_done(s, idx, getpid(), now), 0);
    TEST_EQ_I64(s->npending, 0);
    TEST_EQ_I64(seen_has(s, &a), 1);
    TEST_EQ_I64(seen_claim(s, &a, getpid(), 0, 8, now - 86400, &idx2), SEEN_DUP);
    /* Only the claimer may finish an entry, and only a pending one. */
    TEST_CHECK(seen_done(s, idx, getpid(), now) != 0);

    TEST_EQ_I64(seen_claim(s, &b, getpid(), 0, 8, now - 86400, &idx), SEEN_NEW);
    TEST_CHECK(seen_abandon(s, idx, 4242) != 0);
    TEST_EQ_I64(seen_abandon(s, idx, getpid()), 0);
    TEST_EQ_I64(seen_claim(s, &b, getpid(), 0, 8, now - 86400, &idx), SEEN_NEW);
    TEST_EQ_I64(seen_done(s, idx, getpid(), now), 0);
    TEST_EQ_I64(s->used, 2);
    seen_close(s);
}

/* Keys that share a bucket: k1's low bits pick it. */
static seen_key_t bucket_key(const seen_shm_t *s, uint64_t bucket, uint64_t n)
{
    seen_key_t k = { n + 1, ((n + 1) * (uint64_t)s->nbuckets) | bucket };
    return k;
}

static void test_expiry(void)
{
    seen_shm_t *s;
    uint32_t idx;
    int64_t now = time(NULL), day = 86400;
    TEST_EQ_I64(seen_open(64, &s), 0);
    /* Loaded before the horizon: not kept, so 12 of these 16 are. */
    for (uint64_t n = 0; n < SEEN_WAYS; n++) {
        seen_key_t k = bucket_key(s, 3, n);
        TEST_EQ_I64(seen_load(s, &k, n < 4 ? now - 30 * day : now,
                              now - 7 * day), 0);
    }
    TEST_EQ_I64(s->used, SEEN_WAYS - 4);
    /* Four calls of ten days ago fill the bucket. */
    for (uint64_t n = 100; n < 104; n++) {
        seen_key_t k = bucket_key(s, 3, n);
        TEST_EQ_I64(seen_claim(s, &k, getpid(), 0, n, now - 20 * day,
                               &idx), SEEN_NEW);
        TEST_EQ_I64(seen_done(s, idx, getpid(), now - 10 * day), 0);
    }
    seen_key_t k = bucket_key(s, 3, 200);
    /* Every entry is live for a 20-day horizon: no room. */
    TEST_EQ_I64(seen_claim(s, &k, getpid(), 0, 1, now - 20 * day, &idx),
                SEEN_EFULL);
    /* For a 7-day one the ten-day-old calls are reusable. */
    TEST_EQ_I64(seen_claim(s, &k, getpid(), 0, 1, now - 7 * day, &idx),
                SEEN_NEW);
    TEST_EQ_I64(seen_done(s, idx, getpid(), now), 0);
    /* Expiry never makes a billed call look new by itself: the three old
     * entries not reused still answer DUP. */
    int dups = 0;
    for (uint64_t n = 100; n < 104; n++) {
        k = bucket_key(s, 3, n);
        dups += seen_has(s, &k);
    }
    TEST_EQ_I64(dups, 3);
    k = bucket_key(s, 3, 101);
    if (seen_has(s, &k))
        TEST_EQ_I64(seen_claim(s, &k, getpid(), 0, 1, now - 7 * day, &idx),
                    SEEN_DUP);
    seen_close(s);
}

/* ---- recovery across processes ------------------------------------------------- */

typedef struct fixture {
    char        path[64];
    jrn_t       j;
    acct_shm_t *a;
    seen_shm_t *s;
    uint32_t    slot;
} fixture_t;

static void fx_open(fixture_t *f)
{
    snprintf(f->path, sizeof f->path, "/tmp/apolo-test-seen.%d", (int)getpid());
    unlink(f->path);
    f->a = mmap(NULL, acct_shm_size(4), PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (f->a == MAP_FAILED)
        abort();
    acct_shm_init(f->a, 4);
    if (acct_alloc_slot(f->a, &f->slot) != ACCT_OK
        || acct_configure(f->a, f->slot, 1, ACCT_PREPAID, ACCT_ACTIVE,
                          0, 0, 1, 1000000000) != ACCT_OK)
        abort();
    TEST_EQ_I64(jrn_open(&f->j, f->path, 2, 16, 0), JRN_OK);
    TEST_EQ_I64(seen_open(1024, &f->s), 0);
}

static void fx_close(fixture_t *f)
{
    seen_close(f->s);
    jrn_close(&f->j);
    unlink(f->path);
    munmap(f->a, acct_shm_size(4));
}

static void cdr_of(jrec_cdr_t *c, const char *id, money_t cost)
{
    memset(c, 0, sizeof *c);
    snprintf(c->call_id, sizeof c->call_id, "%s", id);
    c->source = JREC_SRC_CUCM;
    c->start_us = (int64_t)time(NULL) * 1000000;
    c->end_us = c->start_us;
    c->cost = cost;
}

enum { DIE_CLAIMED, DIE_PUBLISHED, DIE_VOID, DIE_HOLDING_LOCK };

/* A child claims id and dies (SIGKILL from us) at point `at`. */
static pid_t claim_and_die(fixture_t *f, const char *id, int at)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        abort();
    pid_t kid = fork();
    if (kid == 0) {
        jrn_writer_t w;
        uint32_t idx;
        uint8_t buf[JRN_PAYLOAD_MAX];
        size_t len;
        jrec_cdr_t c;
        seen_key_t k = key_of(id);
        char one = 1;
        if (jrn_writer_open(&f->j, &w) != JRN_OK)
            _exit(3);
        if (at == DIE_HOLDING_LOCK) {
            f->s->lock = (uint64_t)getpid();
        } else {
            if (seen_claim(f->s, &k, getpid(), w.index, w.ring->head,
                           0, &idx) != SEEN_NEW)
                _exit(4);
            cdr_of(&c, id, at == DIE_VOID ? 1000 : 0);
            if (jrec_encode_cdr(&c, buf, sizeof buf, &len) != JREC_OK)
                _exit(5);
            if (at == DIE_PUBLISHED
                && jrn_append(&w, JRN_CDR, buf, len, 100, NULL) != JRN_OK)
                _exit(6);
            /* A debit the balance cannot take: published VOID. */
            if (at == DIE_VOID
                && jrn_move(&w, f->a, f->slot, JRN_CALL_DEBIT, INT64_MIN,
                            0, buf, len, 100, NULL, NULL) != JRN_EINVAL)
                _exit(7);
        }
        if (write(pfd[1], &one, 1) != 1)
            _exit(8);
        pause();
        _exit(0);
    }
    char got;
    close(pfd[1]);
    int n = (int)read(pfd[0], &got, 1);
    close(pfd[0]);
    kill(kid, SIGKILL);
    int st;
    waitpid(kid, &st, 0);
    TEST_EQ_I64(n, 1);                  /* it reached the point */
    return kid;
}

static void test_recover(void)
{
    fixture_t f;
    uint32_t idx;
    fx_open(&f);
    int64_t h = 0;

    pid_t pid = claim_and_die(&f, "cucm:R:1:1:1:1", DIE_PUBLISHED);
    seen_key_t k = key_of("cucm:R:1:1:1:1");
    TEST_EQ_I64(seen_recover_pid(f.s, &f.j, pid), 1);
    jrn_recover_pid(&f.j, f.a, pid);
    TEST_EQ_I64(seen_claim(f.s, &k, getpid(), 0, 0, h, &idx), SEEN_DUP);

    pid = claim_and_die(&f, "cucm:R:1:2:1:1", DIE_CLAIMED);
    k = key_of("cucm:R:1:2:1:1");
    TEST_EQ_I64(seen_recover_pid(f.s, &f.j, pid), 0);
    jrn_recover_pid(&f.j, f.a, pid);
    TEST_EQ_I64(seen_claim(f.s, &k, getpid(), 0, 0, h, &idx), SEEN_NEW);
    TEST_EQ_I64(seen_abandon(f.s, idx, getpid()), 0);

    pid = claim_and_die(&f, "cucm:R:1:3:1:1", DIE_VOID);
    k = key_of("cucm:R:1:3:1:1");
    TEST_EQ_I64(seen_recover_pid(f.s, &f.j, pid), 0);
    jrn_recover_pid(&f.j, f.a, pid);
    TEST_EQ_I64(seen_claim(f.s, &k, getpid(), 0, 0, h, &idx), SEEN_NEW);
    TEST_EQ_I64(seen_abandon(f.s, idx, getpid()), 0);
    TEST_EQ_I64(f.s->npending, 0);

    /* A lock left by the dead is freed with its reaping; a second reaping
     * changes nothing. */
    pid = claim_and_die(&f, "", DIE_HOLDING_LOCK);
    TEST_EQ_I64(f.s->lock, (uint64_t)pid);
    TEST_EQ_I64(seen_recover_pid(f.s, &f.j, pid), 0);
    TEST_EQ_I64(f.s->lock, 0);
    TEST_EQ_I64(seen_recover_pid(f.s, &f.j, pid), 0);
    jrn_recover_pid(&f.j, f.a, pid);
    fx_close(&f);
}

/* Two processes bill the same 20000 ids at once: each id is won once. */
static void test_race(void)
{
    enum { N = 20000 };
    seen_shm_t *s;
    int *wins = mmap(NULL, 2 * N * sizeof *wins, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    TEST_EQ_I64(seen_open(4 * N, &s), 0);
    pid_t kids[2];
    for (int p = 0; p < 2; p++) {
        if ((kids[p] = fork()) == 0) {
            for (int i = 0; i < N; i++) {
                char id[40];
                uint32_t idx;
                snprintf(id, sizeof id, "cucm:race:1:%d:0:0", i);
                seen_key_t k = key_of(id);
                int rc;
                while ((rc = seen_claim(s, &k, getpid(), 0, 0, 0, &idx))
                       == SEEN_BUSY)
                    ;
                if (rc == SEEN_NEW) {
                    wins[p * N + i] = 1;
                    if (seen_done(s, idx, getpid(), time(NULL)) != 0)
                        _exit(2);
                } else if (rc != SEEN_DUP) {
                    _exit(3);
                }
            }
            _exit(0);
        }
    }
    int bad = 0;
    for (int p = 0; p < 2; p++) {
        int st;
        waitpid(kids[p], &st, 0);
        TEST_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    for (int i = 0; i < N; i++)
        bad += wins[i] + wins[N + i] != 1;
    TEST_EQ_I64(bad, 0);
    TEST_EQ_I64(s->used, N);
    seen_close(s);
    munmap(wins, 2 * N * sizeof *wins);
}

/* At start: the CUCM CDRs of the journal are billed calls; FreeSWITCH's
 * and VOID records are not. */
static void test_load_journal(void)
{
    fixture_t f;
    jrn_writer_t w;
    jrec_cdr_t c;
    uint8_t buf[JRN_PAYLOAD_MAX];
    size_t len;
    fx_open(&f);
    TEST_EQ_I64(jrn_writer_open(&f.j, &w), JRN_OK);
    cdr_of(&c, "cucm:J:1:1:0:0", 0);
    jrec_encode_cdr(&c, buf, sizeof buf, &len);
    TEST_EQ_I64(jrn_append(&w, JRN_CDR, buf, len, 100, NULL), JRN_OK);
    cdr_of(&c, "cucm:J:1:2:0:0", 500);
    jrec_encode_cdr(&c, buf, sizeof buf, &len);
    TEST_EQ_I64(jrn_move(&w, f.a, f.slot, JRN_CALL_DEBIT, -500, -500, buf,
                         len, 100, NULL, NULL), JRN_OK);
    cdr_of(&c, "cucm:J:1:3:0:0", 500);
    jrec_encode_cdr(&c, buf, sizeof buf, &len);
    TEST_EQ_I64(jrn_move(&w, f.a, f.slot, JRN_CALL_DEBIT, INT64_MIN, 0, buf,
                         len, 100, NULL, NULL), JRN_EINVAL);     /* VOID */
    cdr_of(&c, "0b6a0c6e-1111-4c1e-9a5e-000000000001", 0);
    c.source = JREC_SRC_FREESWITCH;
    jrec_encode_cdr(&c, buf, sizeof buf, &len);
    TEST_EQ_I64(jrn_append(&w, JRN_CDR, buf, len, 100, NULL), JRN_OK);

    TEST_EQ_I64(seen_load_journal(f.s, &f.j, 0), 2);
    seen_key_t k1 = key_of("cucm:J:1:1:0:0"), k2 = key_of("cucm:J:1:2:0:0"),
               k3 = key_of("cucm:J:1:3:0:0"),
               k4 = key_of("0b6a0c6e-1111-4c1e-9a5e-000000000001");
    TEST_EQ_I64(seen_has(f.s, &k1), 1);
    TEST_EQ_I64(seen_has(f.s, &k2), 1);
    TEST_EQ_I64(seen_has(f.s, &k3), 0);
    TEST_EQ_I64(seen_has(f.s, &k4), 0);
    /* Past the horizon: not loaded. */
    seen_close(f.s);
    TEST_EQ_I64(seen_open(1024, &f.s), 0);
    TEST_EQ_I64(seen_load_journal(f.s, &f.j, time(NULL) + 3600), 0);
    jrn_writer_close(&w);
    fx_close(&f);
}

int main(void)
{
    test_claim();
    test_expiry();
    test_recover();
    test_race();
    test_load_journal();
    return TEST_REPORT();
}
