/*
 * test_flusher.c -- the journal drains into PostgreSQL exactly once.
 *
 * A real region (accounts loaded from PostgreSQL with load_all), a real
 * journal file, forked producer processes moving money with jrn_move and
 * writing CDRs with jrn_append, and a real server. After each phase:
 * every record is in ledger/cdrs once (no duplicate journal_seq, no
 * missing or repeated reference), accounts.balance in PostgreSQL equals
 * the region's balance (plus the unresolved rejects), each account's
 * ledger sums to its balance, and every ring's drained position is its
 * head.
 *
 * Phases: a plain drain; a restart after COMMIT without jrn_release; a
 * flusher process SIGKILLed at random times during a big drain while
 * producers keep writing; two flushers at once; the flusher's backend
 * terminated under it; PostgreSQL unreachable (a port where nothing
 * listens) then reachable; poison records.
 */
#include "admin/flusher.h"
#include "engine/load.h"
#include "shm/account.h"
#include "shm/catalog.h"
#include "shm/journal.h"
#include "shm/jrec.h"
#include "shm/log.h"
#include "shm/publish.h"
#include "tests/testdb.h"
#include "tests/testhelp.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <urcu/uatomic.h>

#define NACCTS   40
#define NRINGS   8
#define NSLOTS   4096
#define TIMEOUT  20000

static region_t region;
static acct_shm_t *accts;
static jrn_t jrn;
static uint32_t slot_of[NACCTS + 1];
static char conninfo[1024], badinfo[1024];
static long exp_ledger, exp_cdrs;

static const char *setup_sql =
    "INSERT INTO rate_plans (id, name, currency, time_zone, number_rules) "
    "  VALUES (1, 'Plan', 'USD', 'UTC', '');"
    "INSERT INTO accounts (id, code, name, type, balance, credit_limit, "
    "  currency, plan_id) "
    "SELECT g, 'A' || g, 'Account ' || g, "
    "  CASE WHEN g % 2 = 0 THEN 'postpaid' ELSE 'prepaid' END, "
    "  g * 1000000, CASE WHEN g % 2 = 0 THEN 50000000 ELSE 0 END, 'USD', 1 "
    "  FROM generate_series(1, 40) g;"
    "CREATE TABLE test_initial AS SELECT id, balance FROM accounts;";

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ---- producers ----------------------------------------------------------- */

/* What op i of a producer is: 0 free call (JRN_CDR), 1 call debit (ledger
 * + CDR), 2 recharge, 3 adjustment, 4 refund. */
static int op_of(int i)
{
    return i % 5;
}

static void count_expected(int nprod, int n)
{
    for (int i = 0; i < n; i++) {
        int op = op_of(i);
        exp_cdrs += nprod * (op <= 1);
        exp_ledger += nprod * (op >= 1);
    }
}

static jrec_cdr_t make_cdr(const char *tag, int prod, int i, int64_t acct,
                           money_t cost)
{
    jrec_cdr_t c;
    int64_t t = now_us();
    memset(&c, 0, sizeof c);
    snprintf(c.call_id, sizeof c.call_id, "%s-%d-%d", tag, prod, i);
    snprintf(c.extension, sizeof c.extension, "%d", 2000 + (int)acct);
    snprintf(c.caller, sizeof c.caller, "%d", 2000 + (int)acct);
    snprintf(c.callee, sizeof c.callee, "54911%08d", i);
    c.source = (uint8_t)(i % 2);
    c.direction = JREC_DIR_OUTBOUND;
    c.account_id = acct;
    c.start_us = t - 60000000;
    c.answer_us = cost ? t - 50000000 : 0;
    c.end_us = t;
    c.duration = 60;
    c.billsec = cost ? 50 : 0;
    c.cost = cost;
    if (cost) {
        c.plan_id = 1;
        c.deck_version = 1;
        c.zone_id = 7;
        strcpy(c.prefix, "549");
        c.rate_per_minute = 120000;
        c.first_inc = 30;
        c.next_inc = 6;
        c.rounding = JREC_ROUND_UP;
    }
    strcpy(c.hangup_cause, "NORMAL_CLEARING");
    return c;
}

/* In a child: n operations on a ring of its own, then exit; pauses 1 ms
 * every `pace` operations (0: never) so that it runs for a while. */
static void produce(const char *tag, int prod, int n, int pace, int ready)
{
    jrn_writer_t w;
    char one = 1;
    if (jrn_writer_open(&jrn, &w) != JRN_OK)
        _exit(3);
    /* Ring claimed: the parent may reap the others now (reaping frees a
     * ring, which a producer not yet started would otherwise take over,
     * records undrained and all). */
    if (write(ready, &one, 1) != 1)
        _exit(7);
    close(ready);
    for (int i = 0; i < n; i++) {
        uint8_t p[JRN_PAYLOAD_MAX];
        size_t len = 0;
        int op = op_of(i), rc;
        int64_t acct = 1 + (prod * 7 + i) % NACCTS;
        uint32_t slot = slot_of[acct];
        if (op <= 1) {
            money_t cost = op == 1 ? 1 + (i * 37) % 100000 : 0;
            jrec_cdr_t c = make_cdr(tag, prod, i, acct, cost);
            if (jrec_encode_cdr(&c, p, sizeof p, &len) != JREC_OK)
                _exit(6);
            rc = op == 0
                ? jrn_append(&w, JRN_CDR, p, len, TIMEOUT, NULL)
                : jrn_move(&w, accts, slot, JRN_CALL_DEBIT, -cost, -cost, p,
                           len, TIMEOUT, NULL, NULL);
        } else {
            jrec_move_t m;
            memset(&m, 0, sizeof m);
            snprintf(m.reference, sizeof m.reference, "%s-%d-%d", tag, prod,
                     i);
            strcpy(m.actor, "test");
            strcpy(m.reason, op == 3 ? "correction" : "");
            money_t d = op == 3 ? (i % 2 ? -1234 : 4321) : 1000 + i;
            jrn_kind_t k = op == 2 ? JRN_RECHARGE
                         : op == 3 ? JRN_ADJUSTMENT : JRN_REFUND;
            if (jrec_encode_move(&m, p, sizeof p, &len) != JREC_OK)
                _exit(6);
            rc = jrn_move(&w, accts, slot, k, d, d, p, len, TIMEOUT, NULL,
                          NULL);
        }
        if (rc != JRN_OK) {
            fprintf(stderr, "producer %d op %d: %d (ring %u head %llu tail "
                    "%llu)\n", prod, i, rc, w.index,
                    (unsigned long long)w.ring->head,
                    (unsigned long long)uatomic_read(&w.ring->tail));
            _exit(4);
        }
        if (pace > 0 && i % pace == 0)
            sleep_ms(1);
    }
    /* the ring stays ours until the parent reaps us (jrn_recover_pid, as
     * the supervisor does): no later producer of the phase reuses it */
    _exit(0);
}

static int fork_producers(const char *tag, int nprod, int n, int pace,
                          pid_t *pids)
{
    int pfd[2];
    char got;
    if (pipe(pfd) != 0)
        return -1;
    for (int k = 0; k < nprod; k++) {
        pids[k] = fork();
        if (pids[k] == 0) {
            close(pfd[0]);
            produce(tag, k, n, pace, pfd[1]);
        }
        if (pids[k] < 0)
            return -1;
    }
    close(pfd[1]);
    /* every producer on a ring of its own before anyone is reaped */
    for (int k = 0; k < nprod; k++)
        if (read(pfd[0], &got, 1) != 1)
            break;
    close(pfd[0]);
    count_expected(nprod, n);
    return 0;
}

/* 0 when every child exited 0. */
static int wait_all(pid_t *pids, int n)
{
    int bad = 0;
    for (int k = 0; k < n; k++) {
        int st;
        if (waitpid(pids[k], &st, 0) != pids[k] || !WIFEXITED(st)
            || WEXITSTATUS(st) != 0)
            bad++;
        jrn_recover_pid(&jrn, accts, pids[k]);
    }
    return bad;
}

/* ---- flusher processes and threads --------------------------------------- */

static volatile sig_atomic_t child_stop;

static void on_term(int sig)
{
    (void)sig;
    child_stop = 1;
}

static pid_t fork_flusher(uint32_t batch)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    log_set_process("flusher-child");
    flusher_config_t fc = { .conninfo = conninfo, .batch = batch };
    flusher_t *f = flusher_new(&jrn, &fc);
    int rc = f ? flusher_run(f, &child_stop) : -1;
    flusher_free(f);
    _exit(rc == FLUSHER_OK ? 0 : 5);
}

typedef struct run_arg {
    flusher_t             *f;
    volatile sig_atomic_t  stop;
    int                    rc;
} run_arg_t;

static void *run_thread(void *p)
{
    run_arg_t *a = p;
    a->rc = flusher_run(a->f, &a->stop);
    return NULL;
}

/* A fresh flusher (a "restart") drains everything in this process. */
static uint64_t final_drain(void)
{
    flusher_config_t fc = { .conninfo = conninfo, .batch = 3000 };
    flusher_t *f = flusher_new(&jrn, &fc);
    uint64_t n = 0;
    TEST_CHECK(f != NULL);
    TEST_EQ_I64(flusher_drain_once(f, &n), FLUSHER_OK);
    flusher_free(f);
    return n;
}

/* ---- checks ---------------------------------------------------------------- */

static int64_t q_i64(PGconn *c, const char *sql)
{
    PGresult *r = db_query(c, "check", sql, 0, NULL);
    int64_t v = -1;
    if (r != NULL && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

static uint64_t total_head(void)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < NRINGS; i++)
        n += uatomic_read(&jrn_ring(&jrn, i)->head);
    return n;
}

static uint64_t total_tail(void)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < NRINGS; i++)
        n += uatomic_read(&jrn_ring(&jrn, i)->tail);
    return n;
}

static void check_all(PGconn *c, const char *phase)
{
    fprintf(stderr, "check %s: ledger %ld, cdrs %ld\n", phase, exp_ledger,
            exp_cdrs);
    /* exactly once, by journal position and by business key */
    TEST_EQ_I64(q_i64(c, "SELECT count(*) FROM ledger"), exp_ledger);
    TEST_EQ_I64(q_i64(c, "SELECT count(DISTINCT (journal, journal_seq)) "
                      "FROM ledger"), exp_ledger);
    TEST_EQ_I64(q_i64(c, "SELECT count(DISTINCT reference) FROM ledger"),
                exp_ledger);
    TEST_EQ_I64(q_i64(c, "SELECT count(*) FROM cdrs"), exp_cdrs);
    TEST_EQ_I64(q_i64(c, "SELECT count(DISTINCT (journal, journal_seq)) "
                      "FROM cdrs"), exp_cdrs);
    TEST_EQ_I64(q_i64(c, "SELECT count(*) FROM cdr_ids"), exp_cdrs);
    /* a call debit's ledger row and its CDR agree */
    TEST_EQ_I64(q_i64(c, "SELECT count(*) FROM ledger l JOIN cdrs d ON "
                      "d.journal = l.journal AND d.journal_seq = "
                      "l.journal_seq WHERE l.kind = 'call_debit' AND "
                      "(d.call_id <> l.reference OR d.cost <> -l.amount OR "
                      "d.account_id <> l.account_id)"), 0);

    /* balances: PostgreSQL (+ money of unresolved rejects) == region, and
     * every account's ledger sums to its balance */
    PGresult *r = db_query(c, "balances",
        "SELECT a.id, a.balance + coalesce((SELECT sum(amount) FROM "
        "  journal_rejects j WHERE j.account_id = a.id AND j.state = 2 AND "
        "  j.resolved_at IS NULL), 0), "
        "  a.balance - t.balance - coalesce((SELECT sum(amount) FROM ledger "
        "  l WHERE l.account_id = a.id), 0) "
        "FROM accounts a JOIN test_initial t USING (id) ORDER BY a.id", 0,
        NULL);
    TEST_CHECK(r != NULL && PQntuples(r) == NACCTS);
    int bad = 0;
    for (int i = 0; r != NULL && i < PQntuples(r); i++) {
        int64_t id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        int64_t pg = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        int64_t drift = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        acct_view_t v;
        acct_view(accts, slot_of[id], &v);
        if (pg != v.balance || drift != 0) {
            if (bad++ < 5)
                fprintf(stderr, "account %lld: pg %lld region %lld ledger "
                        "drift %lld\n", (long long)id, (long long)pg,
                        (long long)v.balance, (long long)drift);
        }
    }
    TEST_EQ_I64(bad, 0);
    PQclear(r);

    /* every ring drained to its head, and released */
    for (uint32_t i = 0; i < NRINGS; i++) {
        char sql[128];
        jrn_ring_t *ring = jrn_ring(&jrn, i);
        snprintf(sql, sizeof sql, "SELECT drained_seq FROM journal_position "
                 "WHERE name = 'ring:%u'", i);
        int64_t pos = q_i64(c, sql);
        TEST_EQ_I64(pos, (int64_t)uatomic_read(&ring->head));
        TEST_EQ_I64(uatomic_read(&ring->tail), uatomic_read(&ring->head));
    }
}

/* ---- phases ---------------------------------------------------------------- */

static void phase_plain(PGconn *c)
{
    pid_t pids[4];
    TEST_EQ_I64(fork_producers("p1", 4, 3000, 0, pids), 0);
    TEST_EQ_I64(wait_all(pids, 4), 0);
    TEST_EQ_I64(total_head(), 12000);

    flusher_config_t fc = { .conninfo = conninfo, .batch = 1000 };
    flusher_t *f = flusher_new(&jrn, &fc);
    uint64_t n = 0;
    flusher_stats_t st;
    TEST_CHECK(f != NULL);
    TEST_EQ_I64(flusher_drain_once(f, &n), FLUSHER_OK);
    TEST_EQ_I64(n, 12000);
    flusher_stats(f, &st);
    TEST_EQ_I64(st.records, 12000);
    TEST_EQ_I64(st.ledger_rows, exp_ledger);
    TEST_EQ_I64(st.cdr_rows, exp_cdrs);
    TEST_EQ_I64(st.rejected, 0);
    TEST_EQ_I64(st.retries, 0);
    TEST_EQ_I64(st.lag, 0);
    TEST_CHECK(st.batches >= 12);
    TEST_EQ_I64(st.connected, 1);
    /* nothing left: a second drain does nothing */
    TEST_EQ_I64(flusher_drain_once(f, &n), FLUSHER_OK);
    TEST_EQ_I64(n, 0);
    flusher_free(f);
    check_all(c, "plain");

    /* a CDR row carries the rating; an unrated one has NULLs */
    TEST_EQ_I64(q_i64(c, "SELECT count(*) FROM cdrs WHERE call_id = 'p1-0-1' "
                      "AND plan_id = 1 AND rate_per_minute = 120000 AND "
                      "rounding = 'up' AND prefix = '549' AND source = 'cucm' "
                      "AND answer_at IS NOT NULL AND journal LIKE 'ring:%'"), 1);
    TEST_EQ_I64(q_i64(c, "SELECT count(*) FROM cdrs WHERE call_id = 'p1-0-0' "
                      "AND plan_id IS NULL AND rounding IS NULL AND "
                      "answer_at IS NULL AND cost = 0"), 1);
    TEST_EQ_I64(q_i64(c, "SELECT count(*) FROM ledger WHERE kind = "
                      "'adjustment' AND reason = 'correction' AND actor = "
                      "'test'"), 4 * 600);
}

/* Killed after COMMIT, before jrn_release: the restart must skip. */
static void phase_commit_no_release(PGconn *c)
{
    uint64_t tails[NRINGS];
    pid_t pids[2];
    for (uint32_t i = 0; i < NRINGS; i++)
        tails[i] = uatomic_read(&jrn_ring(&jrn, i)->tail);
    TEST_EQ_I64(fork_producers("cr", 2, 1000, 0, pids), 0);
    TEST_EQ_I64(wait_all(pids, 2), 0);
    TEST_EQ_I64(final_drain(), 2000);
    check_all(c, "committed");
    /* the slots still hold the records: pretend nothing was released */
    for (uint32_t i = 0; i < NRINGS; i++)
        uatomic_set(&jrn_ring(&jrn, i)->tail, tails[i]);
    TEST_EQ_I64(total_head() - total_tail(), 2000);
    TEST_EQ_I64(final_drain(), 0);
    check_all(c, "restart after commit");
}

/* The two dangerous moments, made to happen: a COMMIT whose answer is
 * lost (nothing may be released), and a kill between COMMIT and
 * jrn_release (the restart must skip what committed). */
static void phase_faults(PGconn *c)
{
    pid_t pids[2];
    int64_t ledger0 = q_i64(c, "SELECT count(*) FROM ledger");
    TEST_EQ_I64(fork_producers("fault", 2, 1500, 0, pids), 0);
    TEST_EQ_I64(wait_all(pids, 2), 0);
    uint64_t backlog = total_head() - total_tail();
    TEST_EQ_I64(backlog, 3000);

    flusher_config_t fc = { .conninfo = conninfo, .batch = 5000 };
    flusher_t *f = flusher_new(&jrn, &fc);
    uint64_t n = 1;
    flusher_test_fault = FLUSHER_FAULT_COMMIT_LOST;
    TEST_EQ_I64(flusher_drain_once(f, &n), FLUSHER_EDB);
    TEST_EQ_I64(n, 0);
    TEST_EQ_I64(flusher_test_fault, 0);
    TEST_EQ_I64(total_head() - total_tail(), backlog);      /* held */
    TEST_EQ_I64(q_i64(c, "SELECT count(*) FROM ledger"), ledger0);
    flusher_free(f);

    pid_t fl = fork();
    if (fl == 0) {
        flusher_test_fault = FLUSHER_FAULT_KILL_AFTER_COMMIT;
        f = flusher_new(&jrn, &fc);
        flusher_drain_once(f, &n);
        _exit(0);
    }
    int st;
    TEST_EQ_I64(waitpid(fl, &st, 0), fl);
    TEST_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    /* committed, not released */
    TEST_EQ_I64(q_i64(c, "SELECT count(*) FROM ledger"), exp_ledger);
    TEST_EQ_I64(total_head() - total_tail(), backlog);
    TEST_EQ_I64(final_drain(), 0);
    check_all(c, "faults");
}

static void phase_kill(PGconn *c)
{
    pid_t pids[4];
    int kills = 0, progressed = 0;
    unsigned seed = (unsigned)getpid();
    TEST_EQ_I64(fork_producers("k", 4, 20000, 10, pids), 0);
    for (int k = 0; k < 12; k++) {
        int64_t before = q_i64(c, "SELECT sum(drained_seq) FROM "
                               "journal_position");
        pid_t fl = fork_flusher(200 + 300 * (k % 3));
        /* once it committed something, kill it at a random moment */
        for (int w = 0; w < 300; w++) {
            if (q_i64(c, "SELECT sum(drained_seq) FROM journal_position")
                > before) {
                progressed++;
                break;
            }
            sleep_ms(10);
        }
        sleep_ms(rand_r(&seed) % 120);
        kill(fl, SIGKILL);
        int st;
        TEST_EQ_I64(waitpid(fl, &st, 0), fl);
        TEST_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        kills++;
    }
    /* the producers may be waiting for room: let one flusher finish */
    pid_t last = fork_flusher(1000);
    TEST_EQ_I64(wait_all(pids, 4), 0);
    kill(last, SIGTERM);
    int lst;
    TEST_EQ_I64(waitpid(last, &lst, 0), last);
    TEST_CHECK(WIFEXITED(lst) && WEXITSTATUS(lst) == 0);
    fprintf(stderr, "kill: %d SIGKILLs, %d after progress, %" PRIu64
            " records left\n", kills, progressed,
            total_head() - total_tail());
    TEST_EQ_I64(progressed, 12);
    final_drain();
    check_all(c, "kill -9");
}

static void phase_two_flushers(PGconn *c)
{
    pid_t pids[3], fl[2];
    TEST_EQ_I64(fork_producers("two", 3, 8000, 20, pids), 0);
    fl[0] = fork_flusher(250);
    fl[1] = fork_flusher(400);
    TEST_EQ_I64(wait_all(pids, 3), 0);
    sleep_ms(200);
    kill(fl[0], SIGTERM);
    kill(fl[1], SIGTERM);
    for (int k = 0; k < 2; k++) {
        int st;
        TEST_EQ_I64(waitpid(fl[k], &st, 0), fl[k]);
        TEST_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    final_drain();
    check_all(c, "two flushers");
}

/* The flusher's backend killed under it, repeatedly. */
static void phase_terminate(PGconn *c)
{
    pid_t pids[2];
    flusher_config_t fc = { .conninfo = conninfo, .batch = 500,
                            .backoff_min_ms = 20 };
    run_arg_t a = { flusher_new(&jrn, &fc), 0, -1 };
    pthread_t t;
    int terminated = 0;
    TEST_EQ_I64(fork_producers("term", 2, 12000, 10, pids), 0);
    TEST_EQ_I64(pthread_create(&t, NULL, run_thread, &a), 0);
    /* while the producers run, kill the flusher's backend ten times,
     * each time after it committed again (mostly in the middle of a
     * batch: COPY, UPDATE or COMMIT) */
    unsigned seed = 7;
    for (int k = 0; k < 10; k++) {
        flusher_stats_t s0, s1;
        flusher_stats(a.f, &s0);
        for (int w = 0; w < 1000; w++) {
            flusher_stats(a.f, &s1);
            if (s1.batches > s0.batches)
                break;
            sleep_ms(5);
        }
        sleep_ms(rand_r(&seed) % 15);
        terminated += (int)q_i64(c, "SELECT count(*) FILTER (WHERE "
            "pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
            "application_name = 'apolo-flusher' AND datname = "
            "current_database()");
    }
    TEST_EQ_I64(wait_all(pids, 2), 0);
    a.stop = 1;
    pthread_join(t, NULL);
    TEST_EQ_I64(a.rc, FLUSHER_OK);
    flusher_stats_t st;
    flusher_stats(a.f, &st);
    fprintf(stderr, "terminate: %d backends terminated, %" PRIu64
            " connects, %" PRIu64 " retries\n", terminated, st.connects,
            st.retries);
    TEST_CHECK(terminated >= 7);      /* one may land between connections */
    TEST_CHECK(st.connects >= (uint64_t)terminated);
    flusher_free(a.f);
    final_drain();
    check_all(c, "terminated backend");
}

static void phase_unreachable(PGconn *c)
{
    pid_t pids[2];
    int64_t ledger0 = q_i64(c, "SELECT count(*) FROM ledger");
    TEST_EQ_I64(fork_producers("off", 2, 1000, 0, pids), 0);
    TEST_EQ_I64(wait_all(pids, 2), 0);

    flusher_config_t fc = { .conninfo = badinfo, .batch = 700 };
    run_arg_t a = { flusher_new(&jrn, &fc), 0, -1 };
    flusher_stats_t st;
    uint64_t n = 99;
    TEST_EQ_I64(flusher_drain_once(a.f, &n), FLUSHER_EDB);
    TEST_EQ_I64(n, 0);
    flusher_stats(a.f, &st);
    TEST_EQ_I64(st.failing, 1);
    TEST_EQ_I64(st.connected, 0);
    TEST_EQ_I64(st.lag, 2000);
    TEST_EQ_I64(total_head() - total_tail(), 2000);

    /* run against nothing for a while: backoff 100, 200, 400, 800 ms */
    pthread_t t;
    TEST_EQ_I64(pthread_create(&t, NULL, run_thread, &a), 0);
    sleep_ms(1300);
    flusher_stats(a.f, &st);
    fprintf(stderr, "unreachable: %" PRIu64 " attempts in 1.3 s\n",
            st.retries);
    TEST_CHECK(st.retries >= 4 && st.retries <= 7);
    TEST_EQ_I64(q_i64(c, "SELECT count(*) FROM ledger"), ledger0);
    TEST_EQ_I64(total_head() - total_tail(), 2000);   /* backlog held */

    /* now the right server */
    TEST_EQ_I64(flusher_set_conninfo(a.f, conninfo), FLUSHER_OK);
    for (int k = 0; k < 200; k++) {
        flusher_stats(a.f, &st);
        if (st.lag == 0 && st.failing == 0)
            break;
        sleep_ms(50);
    }
    a.stop = 1;
    pthread_join(t, NULL);
    TEST_EQ_I64(a.rc, FLUSHER_OK);
    flusher_stats(a.f, &st);
    TEST_EQ_I64(st.failing, 0);
    TEST_EQ_I64(st.lag, 0);
    TEST_EQ_I64(st.records, 2000);
    flusher_free(a.f);
    check_all(c, "unreachable then reachable");
}

/* One record of each poison kind among good ones, all in one batch. */
static void phase_poison(PGconn *c)
{
    jrn_writer_t w;
    uint8_t p[JRN_PAYLOAD_MAX];
    size_t len;
    jrec_move_t m;
    jrec_cdr_t cdr;
    uint64_t seq[11];
    TEST_EQ_I64(jrn_writer_open(&jrn, &w), JRN_OK);
    uint32_t ring = w.index;
    uint32_t s1 = slot_of[1], s2 = slot_of[2];

    memset(&m, 0, sizeof m);
    strcpy(m.actor, "test");
    /* 0: good recharge */
    strcpy(m.reference, "poison-ok-1");
    jrec_encode_move(&m, p, sizeof p, &len);
    TEST_EQ_I64(jrn_move(&w, accts, s1, JRN_RECHARGE, 500, 500, p, len,
                         TIMEOUT, &seq[0], NULL), JRN_OK);
    /* 1: a CDR that does not decode */
    static const uint8_t garbage[] = { 0xc1, 0x00, 0xff };
    TEST_EQ_I64(jrn_append(&w, JRN_CDR, garbage, sizeof garbage, TIMEOUT,
                           &seq[1]), JRN_OK);
    /* 2: a call debit whose call id was flushed already */
    cdr = make_cdr("p1", 0, 1, 2, 777);
    jrec_encode_cdr(&cdr, p, sizeof p, &len);
    TEST_EQ_I64(jrn_move(&w, accts, s2, JRN_CALL_DEBIT, -777, -777, p, len,
                         TIMEOUT, &seq[2], NULL), JRN_OK);
    /* 3: a refund without its required reference */
    m.reference[0] = '\0';
    jrec_encode_move(&m, p, sizeof p, &len);
    TEST_EQ_I64(jrn_move(&w, accts, s1, JRN_REFUND, 300, 300, p, len,
                         TIMEOUT, &seq[3], NULL), JRN_OK);
    /* 4: good free call (its call id comes again in 9) */
    cdr = make_cdr("poison-dup", 0, 4, 1, 0);
    jrec_encode_cdr(&cdr, p, sizeof p, &len);
    TEST_EQ_I64(jrn_append(&w, JRN_CDR, p, len, TIMEOUT, &seq[4]), JRN_OK);
    /* 5: a "recharge" that takes money (ledger sign check) */
    strcpy(m.reference, "poison-negative");
    jrec_encode_move(&m, p, sizeof p, &len);
    TEST_EQ_I64(jrn_move(&w, accts, s2, JRN_RECHARGE, -900, -900, p, len,
                         TIMEOUT, &seq[5], NULL), JRN_OK);
    /* 6: good free call */
    cdr = make_cdr("poison-ok", 0, 6, 1, 0);
    jrec_encode_cdr(&cdr, p, sizeof p, &len);
    TEST_EQ_I64(jrn_append(&w, JRN_CDR, p, len, TIMEOUT, &seq[6]), JRN_OK);
    /* 7: an adjustment whose payload has an empty actor (hand-made) */
    static const uint8_t no_actor[] = { 0x94, 0x11, 0xa1, 'x', 0xa0, 0xa0 };
    TEST_EQ_I64(jrn_move(&w, accts, s1, JRN_ADJUSTMENT, -100, -100, no_actor,
                         sizeof no_actor, TIMEOUT, &seq[7], NULL), JRN_OK);
    /* 8: good adjustment */
    strcpy(m.reference, "poison-ok-8");
    strcpy(m.reason, "after the poison");
    jrec_encode_move(&m, p, sizeof p, &len);
    TEST_EQ_I64(jrn_move(&w, accts, s2, JRN_ADJUSTMENT, 250, 250, p, len,
                         TIMEOUT, &seq[8], NULL), JRN_OK);
    /* 9: the call id of 4 again, in the same batch */
    cdr = make_cdr("poison-dup", 0, 4, 1, 0);
    jrec_encode_cdr(&cdr, p, sizeof p, &len);
    TEST_EQ_I64(jrn_append(&w, JRN_CDR, p, len, TIMEOUT, &seq[9]), JRN_OK);
    /* 10: an account the region has and PostgreSQL does not (foreign
     * key of ledger) */
    uint32_t ghost;
    TEST_EQ_I64(acct_alloc_slot(accts, &ghost), ACCT_OK);
    TEST_EQ_I64(acct_configure(accts, ghost, 9999, ACCT_PREPAID, ACCT_ACTIVE,
                               0, 0, 1, 0), ACCT_OK);
    strcpy(m.reference, "poison-ghost");
    jrec_encode_move(&m, p, sizeof p, &len);
    TEST_EQ_I64(jrn_move(&w, accts, ghost, JRN_RECHARGE, 4000, 4000, p, len,
                         TIMEOUT, &seq[10], NULL), JRN_OK);
    /* and 300 good ones after them in the same batch */
    for (int i = 0; i < 300; i++) {
        snprintf(m.reference, sizeof m.reference, "poison-tail-%d", i);
        jrec_encode_move(&m, p, sizeof p, &len);
        TEST_EQ_I64(jrn_move(&w, accts, slot_of[1 + i % NACCTS],
                             JRN_RECHARGE, 10 + i, 10 + i, p, len, TIMEOUT,
                             NULL, NULL), JRN_OK);
    }
    jrn_writer_close(&w);
    exp_ledger += 2 + 300;
    exp_cdrs += 2;

    flusher_config_t fc = { .conninfo = conninfo, .batch = 5000 };
    flusher_t *f = flusher_new(&jrn, &fc);
    flusher_stats_t st;
    uint64_t n = 0;
    TEST_EQ_I64(flusher_drain_once(f, &n), FLUSHER_OK);
    TEST_EQ_I64(n, 311);
    flusher_stats(f, &st);
    TEST_EQ_I64(st.rejected, 7);
    TEST_EQ_I64(st.batches, 1);
    flusher_free(f);

    static const struct { int k; const char *err; } want[] = {
        { 1, "payload: %" }, { 2, "%duplicate call id p1-0-1%" },
        { 3, "%ledger_reference_required%" },
        { 5, "%ledger_amount_sign%" }, { 7, "payload: actor%" },
        { 9, "%duplicate call id poison-dup-0-4%" },
        { 10, "%ledger_account_id_fkey%" } };
    TEST_EQ_I64(q_i64(c, "SELECT count(*) FROM journal_rejects"), 7);
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        char sql[512];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM journal_rejects "
                 "WHERE journal = 'ring:%u' AND journal_seq = %" PRIu64
                 " AND error LIKE '%s' AND length(record) = %d", ring,
                 seq[want[k].k], want[k].err, JRN_SLOT_SIZE);
        int64_t got = q_i64(c, sql);
        if (got != 1)
            fprintf(stderr, "reject %d missing: %s\n", want[k].k, sql);
        TEST_EQ_I64(got, 1);
    }
    TEST_EQ_I64(q_i64(c, "SELECT sum(amount) FROM journal_rejects"),
                -777 + 300 - 900 - 100 + 4000);
    check_all(c, "poison");
}

int main(void)
{
    region_config_t cfg = { .max_readers = 8, .max_accounts = 256,
                            .heap_bytes = 16 << 20 };
    load_stats_t ls;
    char dir[] = "/tmp/apolo-flusher-XXXXXX", path[64];

    PGconn *c = testdb_open("flusher");
    TEST_CHECK(c != NULL);
    if (c == NULL)
        return TEST_REPORT();
    snprintf(conninfo, sizeof conninfo, "host=%s port=%s user=%s dbname=%s",
             PQhost(c), PQport(c), PQuser(c), PQdb(c));
    snprintf(badinfo, sizeof badinfo, "host=%s port=1 user=%s dbname=%s "
             "connect_timeout=2", PQhost(c), PQuser(c), PQdb(c));
    TEST_EQ_I64(testdb_exec(c, setup_sql), 0);
    TEST_EQ_I64(region_create(&region, &cfg), REGION_OK);
    pub_t *pub = pub_new(&region, PUB_POISON);
    TEST_EQ_I64(load_all(c, &region, pub, &ls), LOAD_OK);
    TEST_EQ_I64(ls.accounts, NACCTS);
    accts = region_area(&region, REGION_AREA_ACCOUNTS);
    const cat_hdr_t *cat = cat_current(&region);
    for (int64_t id = 1; id <= NACCTS; id++)
        slot_of[id] = cat_account(cat, id)->slot;

    TEST_CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/journal", dir);
    TEST_EQ_I64(jrn_open(&jrn, path, NRINGS, NSLOTS, 10), JRN_OK);

    if (test_failures == 0) {
        phase_plain(c);
        phase_commit_no_release(c);
        phase_faults(c);
        phase_kill(c);
        phase_two_flushers(c);
        phase_terminate(c);
        phase_unreachable(c);
        phase_poison(c);
    }

    jrn_close(&jrn);
    unlink(path);
    rmdir(dir);
    pub_reclaim(pub, NULL);
    pub_delete(pub);
    region_destroy(&region);
    testdb_close(c);
    return TEST_REPORT();
}
