/*
 * test_calls.c -- the active calls table (shm/calls.h), across real
 * processes:
 *   - claim: every slot once, none twice, a freed slot comes back;
 *     two processes claiming at once never get the same slot;
 *   - seqlock: a reader never gets a torn copy while another process
 *     rewrites the slot as fast as it can;
 *   - recovery: a worker killed between "FINAL" and its journal record is
 *     told to journal again; one killed after it is freed; one killed in
 *     the middle of a write leaves a readable slot.
 */
#include "shm/calls.h"
#include "shm/journal.h"
#include "shm/jrec.h"
#include "shm/region.h"
#include "tests/testhelp.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TAG_A calls_tag(CALLS_KIND_ESL, 1)
#define TAG_B calls_tag(CALLS_KIND_ESL, 2)

static calls_shm_t *new_table(uint32_t n)
{
    void *p = mmap(NULL, calls_shm_size(n), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        abort();
    calls_shm_init(p, n);
    return p;
}

static void test_claim(void)
{
    calls_shm_t *c = new_table(64);
    uint32_t hint = 0, seen[64] = { 0 };
    for (int k = 0; k < 64; k++) {
        int32_t i = calls_claim(c, TAG_A, getpid(), &hint);
        TEST_CHECK(i >= 0 && i < 64);
        if (i >= 0 && i < 64)
            seen[i]++;
    }
    for (int k = 0; k < 64; k++)
        TEST_EQ_I64(seen[k], 1);
    TEST_EQ_I64(calls_claim(c, TAG_A, getpid(), &hint), -1);
    TEST_EQ_I64(calls_count(c), 64);
    calls_free(&c->slots[17]);
    TEST_EQ_I64(calls_claim(c, TAG_B, getpid(), &hint), 17);
    TEST_EQ_I64(c->slots[17].owner, TAG_B);
    munmap(c, calls_shm_size(64));
}

/* Two processes claim 2000 slots each out of 4000 at once: each slot ends
 * with exactly one owner, and each process got exactly what it asked. */
static void test_claim_race(void)
{
    enum { N = 4000 };
    calls_shm_t *c = new_table(N);
    pid_t kid = fork();
    if (kid == 0) {
        uint32_t hint = 0;
        int got = 0;
        for (int k = 0; k < N / 2; k++)
            got += calls_claim(c, TAG_B, getpid(), &hint) >= 0;
        _exit(got == N / 2 ? 0 : 1);
    }
    uint32_t hint = 0;
    int got = 0;
    for (int k = 0; k < N / 2; k++)
        got += calls_claim(c, TAG_A, getpid(), &hint) >= 0;
    int st;
    waitpid(kid, &st, 0);
    TEST_EQ_I64(got, N / 2);
    TEST_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int a = 0, b = 0;
    for (int i = 0; i < N; i++) {
        a += c->slots[i].owner == TAG_A;
        b += c->slots[i].owner == TAG_B;
    }
    TEST_EQ_I64(a, N / 2);
    TEST_EQ_I64(b, N / 2);
    munmap(c, calls_shm_size(N));
}

/* The writer keeps every byte of caller[] equal to cost % 26 + 'a'. */
static void write_pattern(call_slot_t *s, int64_t v)
{
    calls_write_begin(s);
    s->cdr.cost = v;
    memset(s->cdr.caller, 'a' + (int)(v % 26), JREC_NUMBER_MAX);
    s->cdr.caller[JREC_NUMBER_MAX] = '\0';
    s->reserved = v;
    calls_write_end(s);
}

static void test_seqlock(void)
{
    calls_shm_t *c = new_table(4);
    uint32_t hint = 0;
    int32_t i = calls_claim(c, TAG_A, getpid(), &hint);
    c->slots[i].state = CALL_ANSWERED;
    write_pattern(&c->slots[i], 0);
    pid_t kid = fork();
    if (kid == 0) {
        for (int64_t v = 1;; v++)
            write_pattern(&c->slots[i], v);
    }
    long reads = 0, torn = 0, moved = 0;
    int64_t last = -1;
    /* 300k reads at least, and on until the writer was seen writing (a
     * loaded machine may not schedule it at once), within 10 s. */
    time_t until = time(NULL) + 10;
    for (int k = 0; k < 300000 || (moved <= 10 && time(NULL) < until);
         k++) {
        call_slot_t s;
        if (!calls_read(c, (uint32_t)i, &s))
            continue;
        reads++;
        char want = (char)('a' + (int)(s.cdr.cost % 26));
        for (int b = 0; b < JREC_NUMBER_MAX; b++)
            if (s.cdr.caller[b] != want) {
                torn++;
                break;
            }
        torn += s.reserved != s.cdr.cost;
        moved += s.cdr.cost != last;
        last = s.cdr.cost;
    }
    kill(kid, SIGKILL);
    waitpid(kid, NULL, 0);
    fprintf(stderr, "seqlock: %ld consistent reads of %ld, %ld distinct\n",
            reads - torn, reads, moved);
    TEST_EQ_I64(torn, 0);
    TEST_CHECK(reads > 1000);
    TEST_CHECK(moved > 10);          /* the writer really was writing */
    munmap(c, calls_shm_size(4));
}

/* A child claims a slot, makes it FINAL for the record its ring will get
 * next, appends it (or not), and dies by SIGKILL. */
static pid_t final_and_die(calls_shm_t *c, jrn_t *j, int append,
                           int mid_write, int32_t *slot)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        abort();
    pid_t kid = fork();
    if (kid == 0) {
        jrn_writer_t w;
        uint32_t hint = 0;
        int32_t i = calls_claim(c, TAG_A, getpid(), &hint);
        if (i < 0 || jrn_writer_open(j, &w) != JRN_OK)
            _exit(3);
        call_slot_t *s = &c->slots[i];
        calls_write_begin(s);
        s->state = CALL_FINAL;
        snprintf(s->cdr.call_id, sizeof s->cdr.call_id, "call-%d",
                 (int)getpid());
        s->fin_ring = w.index;
        s->fin_seq = w.ring->head;
        calls_write_end(s);
        if (append) {
            uint8_t buf[JRN_PAYLOAD_MAX];
            size_t len;
            if (jrec_encode_cdr(&s->cdr, buf, sizeof buf, &len) != JREC_OK
                || jrn_append(&w, JRN_CDR, buf, len, 100, NULL) != JRN_OK)
                _exit(4);
        }
        if (mid_write)
            calls_write_begin(s);
        if (write(pfd[1], &i, sizeof i) != sizeof i)
            _exit(5);
        pause();
        _exit(0);
    }
    close(pfd[1]);
    if (read(pfd[0], slot, sizeof *slot) != sizeof *slot)
        *slot = -1;
    close(pfd[0]);
    kill(kid, SIGKILL);
    waitpid(kid, NULL, 0);
    return kid;
}

static void test_recover(void)
{
    char path[] = "/tmp/apolo-test-calls.XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    unlink(path);
    jrn_t j;
    calls_shm_t *c = new_table(8);
    acct_shm_t *a = mmap(NULL, acct_shm_size(4), PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED)
        abort();
    acct_shm_init(a, 4);
    TEST_EQ_I64(jrn_open(&j, path, 2, 16, 0), JRN_OK);

    int32_t i;
    pid_t pid = final_and_die(c, &j, 1, 0, &i);
    TEST_CHECK(i >= 0);
    TEST_EQ_I64(calls_recover_pid(c, &j, pid), 1);
    TEST_EQ_I64(c->slots[i].owner, 0);            /* journaled: freed */
    jrn_recover_pid(&j, a, pid);

    pid = final_and_die(c, &j, 0, 1, &i);
    TEST_CHECK(i >= 0);
    TEST_CHECK(c->slots[i].seq & 1);              /* died mid-write */
    TEST_EQ_I64(calls_recover_pid(c, &j, pid), 1);
    TEST_EQ_I64(c->slots[i].owner, TAG_A);        /* kept for the adopter */
    TEST_CHECK(c->slots[i].fin_seq == CALLS_FIN_REDO);
    TEST_EQ_I64(c->slots[i].seq & 1, 0);
    call_slot_t copy;
    TEST_EQ_I64(calls_read(c, (uint32_t)i, &copy), 1);
    /* A second reaping of the same pid changes nothing. */
    TEST_EQ_I64(calls_recover_pid(c, &j, pid), 0);
    jrn_recover_pid(&j, a, pid);

    jrn_close(&j);
    unlink(path);
    munmap(c, calls_shm_size(8));
    munmap(a, acct_shm_size(4));
}

int main(void)
{
    test_claim();
    test_claim_race();
    test_seqlock();
    test_recover();
    return TEST_REPORT();
}
