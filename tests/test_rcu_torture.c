/*
 * test_rcu_torture.c -- forked readers rate continuously while the
 * supervisor-side publisher swaps 200 versions of a deck.
 *
 * Every entry of version v carries per_minute = v * 1000 + rate_id and a
 * check word over its fields and v (deck.h). A reader that sees a torn
 * entry, a freed (poisoned) block, a block reused by a later version under
 * it, or a version going backwards counts a bad read. Expected: 0 bad
 * reads, the heap bounded (it is sized so that 200 unreclaimed versions
 * could never fit), and a reader that stops is named and, once killed and
 * reaped, no longer holds reclamation back.
 *
 * The control run reclaims without a grace period (PUB_NO_GRACE) and must
 * find bad reads: it proves the checker can see what it looks for.
 */
#include "shm/catalog.h"
#include "shm/log.h"
#include "shm/publish.h"
#include "shm/qsbr.h"
#include "tests/testhelp.h"

#include <glob.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <urcu/uatomic.h>

#define NREADERS  4
#define NPREFIX   4000
#define VERSIONS  200

typedef struct counters {
    int      stop;
    uint64_t reads[NREADERS];
    uint64_t bad[NREADERS];
    uint64_t versions_seen[NREADERS];
} counters_t;

static region_t   region;
static counters_t *ctr;

static void build_deck(deck_builder_t *b, uint64_t v)
{
    deck_builder_zone(b, 1, "Zone", 0);
    for (int i = 0; i < NPREFIX; i++) {
        char p[16];
        /* the prefix set changes with the version too */
        snprintf(p, sizeof p, "%d", 100 + i * 7 + (int)(v % 3));
        deck_row_t row = {
            .prefix = p, .rate_id = i, .zone_id = 1, .period = 0,
            .tariff = { .per_minute = (money_t)v * 1000 + i, .connect_fee = 0,
                        .first_inc = 60, .next_inc = 6 },
            .eff_from = 0, .eff_to = DECK_EFF_OPEN
        };
        if (deck_builder_row(b, &row) != DECK_OK)
            abort();
    }
    if (deck_builder_finish(b) != DECK_OK)
        abort();
}

/* Publishes version v of plan 1; returns the new deck's offset. */
static uint64_t publish_version(pub_t *pub, uint64_t v)
{
    deck_builder_t *db = deck_builder_new(1, v);
    uint64_t off;
    build_deck(db, v);
    TEST_EQ_I64(pub_deck(pub, db, &off), PUB_OK);
    deck_builder_free(db);

    cat_builder_t *cb = cat_builder_new(v);
    cat_plan_in_t plan = { .id = 1, .name = "torture", .currency = "USD",
                           .time_zone = "UTC", .rounding = MONEY_ROUND_UP,
                           .deck_off = off, .deck_version = v };
    TEST_EQ_I64(cat_builder_plan(cb, &plan), CAT_OK);
    TEST_EQ_I64(pub_catalog(pub, cb), PUB_OK);
    cat_builder_free(cb);
    return off;
}

static int read_once(const region_t *r, uint64_t *x, uint64_t *last_version)
{
    const cat_hdr_t *c = cat_current(r);
    if (c == NULL)
        return 0;
    if (c->magic != CAT_MAGIC)
        return 1;
    const cat_plan_t *p = cat_plan(c, 1);
    if (p == NULL)
        return 1;
    const deck_hdr_t *d = cat_deck(r, p);
    if (d->magic != DECK_MAGIC || d->version != p->deck_version
        || d->version < *last_version)
        return 1;
    *last_version = d->version;
    int bad = 0;
    for (int k = 0; k < 32; k++) {
        char num[16];
        *x ^= *x << 13; *x ^= *x >> 7; *x ^= *x << 17;
        int len = snprintf(num, sizeof num, "%llu",
                           (unsigned long long)(*x % 100000000000ULL));
        deck_match_t m;
        if (deck_lookup(d, num, (size_t)len, 0, &m) != DECK_OK)
            continue;
        const deck_entry_t *e = m.rows[0];
        if (!deck_entry_verify(d, e)
            || e->tariff.per_minute != (money_t)d->version * 1000 + e->rate_id
            || m.group->len == 0 || memcmp(m.group->prefix, num, m.group->len))
            bad = 1;
    }
    return bad;
}

/* The control without grace reads freed memory on purpose: under the
 * sanitizers (make check's asan build) its reports are expected, so its
 * readers write them aside (wild_path), away from the reports that fail
 * the suite. */
#if defined(__SANITIZE_ADDRESS__)
#define RCU_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RCU_SANITIZED 1
#endif
#endif
#ifdef RCU_SANITIZED
#include <sanitizer/common_interface_defs.h>
#endif
static int wild_run;
static char wild_path[64];

static void reader(int me)
{
    qsbr_reader_t qr;
#ifdef RCU_SANITIZED
    if (wild_run)
        __sanitizer_set_report_path(wild_path);
#endif
    uint64_t x = 88172645463325252ULL + (uint64_t)me, last = 0, seen = 0;
    prctl(PR_SET_PDEATHSIG, SIGKILL);      /* never outlive a failed test */
    if (getppid() == 1)
        _exit(4);
    if (qsbr_register(region_area(&region, REGION_AREA_QSBR), &qr) != QSBR_OK)
        _exit(3);
    qsbr_online(&qr);
    while (!uatomic_read(&ctr->stop)) {
        uint64_t before = last;
        int bad = read_once(&region, &x, &last);
        seen += last != before;
        qsbr_quiescent(&qr);
        ctr->reads[me]++;
        ctr->bad[me] += (uint64_t)bad;
    }
    ctr->versions_seen[me] = seen;
    qsbr_unregister(&qr);
    _exit(0);
}

static void spawn_readers(pid_t *pids)
{
    memset(ctr, 0, sizeof *ctr);
    for (int i = 0; i < NREADERS; i++) {
        pids[i] = fork();
        if (pids[i] == 0)
            reader(i);
    }
}

/* Returns how many readers died of a signal (a wild read of reclaimed
 * memory can fault before its checks see it) or, when the run is the
 * control without grace (wild), of a sanitizer's report (UBSan stops at
 * the first bad pointer the garbage yields: exit status 1). */
static int stop_readers(pid_t *pids, int wild)
{
    int crashed = 0;
    uatomic_set(&ctr->stop, 1);
    for (int i = 0; i < NREADERS; i++) {
        int st;
        TEST_CHECK(waitpid(pids[i], &st, 0) == pids[i]);
        if (WIFSIGNALED(st) || (wild && WIFEXITED(st) && WEXITSTATUS(st)))
            crashed++;
        else
            TEST_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        qsbr_forget_pid(region_area(&region, REGION_AREA_QSBR), pids[i]);
    }
    return crashed;
}

/* Publishes `versions` versions under load; returns total bad reads. */
static uint64_t run(unsigned flags, int versions, uint64_t *max_used,
                    uint64_t *final_used, uint64_t *reads)
{
    pid_t pids[NREADERS];
    pub_t *pub = pub_new(&region, flags);
    uint64_t deck = publish_version(pub, 1);
    wild_run = (flags & PUB_NO_GRACE) != 0;
    snprintf(wild_path, sizeof wild_path, "/tmp/apolo-rcu-wild.%d",
             (int)getpid());
    spawn_readers(pids);
    *max_used = 0;
    for (int v = 2; v <= versions; v++) {
        uint64_t next = publish_version(pub, (uint64_t)v);
        pub_retire(pub, deck);
        deck = next;
        struct timespec ts = { 0, 2 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        pub_reclaim(pub, NULL);
        if (pub_heap_used(pub) > *max_used)
            *max_used = pub_heap_used(pub);
    }
    uint64_t bad = (uint64_t)stop_readers(pids, (flags & PUB_NO_GRACE) != 0);
    pub_reclaim(pub, NULL);
    *final_used = pub_heap_used(pub);
    *reads = 0;
    for (int i = 0; i < NREADERS; i++) {
        bad += ctr->bad[i];
        *reads += ctr->reads[i];
        if (!(flags & PUB_NO_GRACE))
            TEST_CHECK(ctr->versions_seen[i] > 10);  /* readers kept up */
    }
    /* leave the region empty for the next run */
    cat_root_shm_t *root = region_area(&region, REGION_AREA_ROOT);
    uint64_t cat = root->cur;
    root->cur = 0;
    pub_retire(pub, cat);
    pub_retire(pub, deck);
    TEST_EQ_I64(pub_reclaim(pub, NULL), 0);
    TEST_EQ_I64(pub_heap_used(pub), 0);
    pub_delete(pub);
    return bad;
}

/* A reader that stops inside its critical section holds reclamation, is
 * named, and once killed and reaped lets it proceed. */
static void test_stuck_reader(void)
{
    pub_t *pub = pub_new(&region, PUB_POISON);
    uint64_t deck = publish_version(pub, 1);
    int pfd[2];
    TEST_CHECK(pipe(pfd) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        qsbr_reader_t qr;
        qsbr_register(region_area(&region, REGION_AREA_QSBR), &qr);
        qsbr_online(&qr);
        (void)cat_current(&region);
        if (write(pfd[1], "x", 1) != 1)
            _exit(1);
        pause();                         /* stuck, online */
        _exit(0);
    }
    char c;
    TEST_CHECK(read(pfd[0], &c, 1) == 1);
    uint64_t next = publish_version(pub, 2);
    pub_retire(pub, deck);
    pid_t holder = 0;
    TEST_CHECK(pub_reclaim(pub, &holder) > 0);
    TEST_EQ_I64(holder, pid);
    kill(pid, SIGKILL);
    TEST_CHECK(waitpid(pid, NULL, 0) == pid);
    qsbr_forget_pid(region_area(&region, REGION_AREA_QSBR), pid);
    TEST_EQ_I64(pub_reclaim(pub, NULL), 0);
    cat_root_shm_t *root = region_area(&region, REGION_AREA_ROOT);
    uint64_t cat = root->cur;
    root->cur = 0;
    pub_retire(pub, cat);
    pub_retire(pub, next);
    TEST_EQ_I64(pub_reclaim(pub, NULL), 0);
    pub_delete(pub);
    close(pfd[0]);
    close(pfd[1]);
}

int main(void)
{
    /* One version is about NPREFIX * (trie + group + entry) bytes; the heap
     * holds about 24 versions, so 200 fit only if reclamation works. */
    deck_builder_t *probe = deck_builder_new(1, 1);
    build_deck(probe, 1);
    uint64_t vsize = deck_builder_size(probe);
    deck_builder_free(probe);
    region_config_t cfg = { .max_readers = 16, .max_accounts = 16,
                            .heap_bytes = vsize * 24 };
    TEST_EQ_I64(region_create(&region, &cfg), REGION_OK);
    ctr = mmap(NULL, sizeof *ctr, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    uint64_t max_used, final_used, reads;
    uint64_t bad = run(PUB_POISON, VERSIONS, &max_used, &final_used, &reads);
    fprintf(stderr, "grace: %d versions, %llu reads, %llu bad, heap max "
            "%llu (%.1f versions), after %llu\n", VERSIONS,
            (unsigned long long)reads, (unsigned long long)bad,
            (unsigned long long)max_used, (double)max_used / (double)vsize,
            (unsigned long long)final_used);
    TEST_EQ_I64(bad, 0);
    TEST_CHECK(reads > 10000);
    TEST_CHECK(max_used < vsize * 24);

    bad = run(PUB_POISON | PUB_NO_GRACE, 60, &max_used, &final_used, &reads);
    fprintf(stderr, "control without grace: %llu reads, %llu bad or "
            "crashed\n",
            (unsigned long long)reads, (unsigned long long)bad);
    TEST_CHECK(bad > 0);

    test_stuck_reader();
    region_destroy(&region);
    char pat[80];
    glob_t g;
    snprintf(pat, sizeof pat, "%s.*", wild_path);   /* the expected reports */
    if (glob(pat, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            unlink(g.gl_pathv[i]);
        globfree(&g);
    }
    return TEST_REPORT();
}
