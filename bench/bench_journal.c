/*
 * bench_journal.c -- the money path after rating: journal appends, and the
 * flusher draining the journal into PostgreSQL, against the naive way.
 *
 * Figures ("BENCH <name> <value> <unit>" on stdout):
 *   BENCH journal_append_per_sec        jrn_move (a call debit with its
 *                                       msgpack CDR, ~150 bytes) on 4
 *                                       accounts, 1 producer process
 *   BENCH journal_append_2proc_per_sec  the same from 2 processes at once
 *                                       (same 4 accounts: their movement
 *                                       locks are contended), total
 *   BENCH jrec_encode_cdr_per_sec       msgpack payload of a full CDR
 *   BENCH jrec_decode_cdr_per_sec
 *   BENCH flush_rows_per_sec            journal -> PostgreSQL, flusher.c:
 *                                       COPY binary, batches of 5000
 *                                       records, 1000 accounts; rows =
 *                                       ledger rows + cdrs rows
 *   BENCH flush_naive_rows_per_sec      the same rows the naive way: one
 *                                       INSERT per row (and one UPDATE of
 *                                       accounts per movement), autocommit
 *                                       off, one transaction per 5000
 *                                       records, position stored in it
 *   BENCH flush_ratio_vs_naive <x> x
 *
 * Appends run with journal.sync_ms = 10: a syncer thread calls jrn_sync()
 * every 10 ms as the supervisor does, and a drainer thread releases what
 * was appended (no PostgreSQL in that figure).
 *
 * The flush figures use 200k records (BENCH_QUICK=1: 50k): 60 % call
 * debits (a ledger row and a CDR), 20 % free calls (a CDR), 20 %
 * recharges (a ledger row): 1.4 rows per record. The naive run replays the
 * first 40k records (15k quick) of the same journal into the emptied
 * tables, so both figures are rows per second of the same rows; the naive
 * way is too slow to replay all of them within the time budget.
 * Needs DATABASE_URL and APOLO_TOP (bench/run.sh sets both).
 */
#include "admin/flusher.h"
#include "shm/account.h"
#include "shm/journal.h"
#include "shm/jrec.h"
#include "shm/region.h"
#include "tests/testdb.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <urcu/uatomic.h>

#define NACCTS_FLUSH 1000
#define FLUSH_BATCH  5000

static region_t region;
static acct_shm_t *accts;
static jrn_t jrn;
static char dir[] = "/tmp/apolo-bench-jrn-XXXXXX";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void bench(const char *name, double value, const char *unit)
{
    printf("BENCH %s %.*f %s\n", name, value >= 100 ? 0 : 3, value, unit);
    fflush(stdout);
}

static void die(const char *what)
{
    fprintf(stderr, "bench_journal: %s\n", what);
    exit(1);
}

static jrec_cdr_t sample_cdr(uint64_t i, int64_t acct, money_t cost)
{
    jrec_cdr_t c;
    int64_t t = 1772643600000000LL + (int64_t)i * 1000;
    memset(&c, 0, sizeof c);
    snprintf(c.call_id, sizeof c.call_id, "%08" PRIx64 "-5b1d-4c2e-9a8f-"
             "1d2e3f4a5b6c", i);
    snprintf(c.extension, sizeof c.extension, "%d", 2000 + (int)acct);
    snprintf(c.caller, sizeof c.caller, "%d", 2000 + (int)acct);
    snprintf(c.callee, sizeof c.callee, "549115555%04d", (int)(i % 10000));
    snprintf(c.dialed, sizeof c.dialed, "0 9 11-5555-%04d", (int)(i % 10000));
    c.source = JREC_SRC_FREESWITCH;
    c.direction = JREC_DIR_OUTBOUND;
    c.account_id = acct;
    c.start_us = t;
    c.answer_us = cost ? t + 4000000 : 0;
    c.end_us = t + 60000000;
    c.duration = 60;
    c.billsec = cost ? 56 : 0;
    c.cost = cost;
    if (cost) {
        c.plan_id = 1;
        c.deck_version = 3;
        c.zone_id = 2;
        strcpy(c.prefix, "549");
        c.rate_per_minute = 120000;
        c.first_inc = 30;
        c.next_inc = 6;
        c.rounding = JREC_ROUND_UP;
    }
    strcpy(c.hangup_cause, "NORMAL_CLEARING");
    return c;
}

/* Region with n accounts, ids 1..n, balance 0, slot = id - 1. */
static void make_region(uint32_t n)
{
    region_config_t cfg = { .max_readers = 4, .max_accounts = n,
                            .heap_bytes = 1 << 20 };
    if (region_create(&region, &cfg) != REGION_OK)
        die("region_create failed");
    accts = region_area(&region, REGION_AREA_ACCOUNTS);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t slot;
        if (acct_alloc_slot(accts, &slot) != ACCT_OK
            || acct_configure(accts, slot, (int64_t)slot + 1, ACCT_POSTPAID,
                              ACCT_ACTIVE, (money_t)1 << 40, 0, 1, 0)
               != ACCT_OK)
            die("account setup failed");
    }
}

/* ---- appends ---------------------------------------------------------------- */

static volatile int helpers_stop;

/* The supervisor's group commit, and a consumer that keeps room. */
static void *syncer(void *p)
{
    (void)p;
    while (!uatomic_read(&helpers_stop)) {
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
        jrn_sync(&jrn);
    }
    return NULL;
}

static void *drainer(void *p)
{
    (void)p;
    while (!uatomic_read(&helpers_stop)) {
        for (uint32_t i = 0; i < jrn.hdr->nrings; i++)
            jrn_release(&jrn, i, uatomic_read(&jrn_ring(&jrn, i)->head));
        struct timespec ts = { 0, 200 * 1000L };
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* In a child: call debits on 4 accounts until the deadline. */
static void appender(double deadline, uint64_t *count)
{
    jrn_writer_t w;
    uint8_t p[JRN_PAYLOAD_MAX];
    size_t len;
    uint64_t n = 0;
    jrec_cdr_t c = sample_cdr(1, 1, 1000);
    if (jrn_writer_open(&jrn, &w) != JRN_OK
        || jrec_encode_cdr(&c, p, sizeof p, &len) != JREC_OK)
        _exit(2);
    while (now() < deadline) {
        for (int k = 0; k < 256; k++, n++)
            if (jrn_move(&w, accts, (uint32_t)(n & 3), JRN_CALL_DEBIT, -1000,
                         -1000, p, len, 1000, NULL, NULL) != JRN_OK)
                _exit(3);
    }
    jrn_writer_close(&w);
    *count = n;
    _exit(0);
}

static double append_rate(int nproc, double secs)
{
    uint64_t *counts = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t pids[8];
    double t0 = now(), deadline = t0 + secs;
    if (counts == MAP_FAILED)
        die("mmap failed");
    for (int k = 0; k < nproc; k++) {
        pids[k] = fork();
        if (pids[k] == 0)
            appender(deadline, &counts[k]);
    }
    uint64_t total = 0;
    for (int k = 0; k < nproc; k++) {
        int st;
        waitpid(pids[k], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            die("appender failed");
        total += counts[k];
    }
    double t = now() - t0;
    munmap(counts, 4096);
    return (double)total / t;
}

static void bench_appends(int quick)
{
    char path[64];
    pthread_t ts, td;
    snprintf(path, sizeof path, "%s/append", dir);
    make_region(4);
    if (jrn_open(&jrn, path, 4, 65536, 10) != JRN_OK)
        die("jrn_open failed");
    helpers_stop = 0;
    pthread_create(&ts, NULL, syncer, NULL);
    pthread_create(&td, NULL, drainer, NULL);
    double secs = quick ? 0.7 : 2.0;
    bench("journal_append_per_sec", append_rate(1, secs), "ops/s");
    bench("journal_append_2proc_per_sec", append_rate(2, secs), "ops/s");
    uatomic_set(&helpers_stop, 1);
    pthread_join(ts, NULL);
    pthread_join(td, NULL);
    jrn_close(&jrn);
    unlink(path);
    region_destroy(&region);

    /* the payload itself */
    uint8_t p[JRN_PAYLOAD_MAX];
    size_t len = 0;
    jrec_cdr_t c = sample_cdr(7, 7, 1234), d;
    long n = quick ? 300000 : 1000000;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        c.billsec = (uint32_t)i;
        if (jrec_encode_cdr(&c, p, sizeof p, &len) != JREC_OK)
            die("encode failed");
    }
    bench("jrec_encode_cdr_per_sec", (double)n / (now() - t0), "ops/s");
    t0 = now();
    for (long i = 0; i < n; i++)
        if (jrec_decode_cdr(p, len, &d, NULL) != JREC_OK)
            die("decode failed");
    bench("jrec_decode_cdr_per_sec", (double)n / (now() - t0), "ops/s");
}

/* ---- flush ----------------------------------------------------------------- */

/* n records over 2 rings: 60 % call debits, 20 % free calls, 20 %
 * recharges. Returns the rows they make. */
static uint64_t fill(uint64_t n)
{
    jrn_writer_t w[2];
    uint8_t p[JRN_PAYLOAD_MAX];
    size_t len;
    uint64_t rows = 0;
    if (jrn_writer_open(&jrn, &w[0]) != JRN_OK
        || jrn_writer_open(&jrn, &w[1]) != JRN_OK)
        die("jrn_writer_open failed");
    for (uint64_t i = 0; i < n; i++) {
        int64_t acct = 1 + (int64_t)(i * 7919 % NACCTS_FLUSH);
        uint32_t slot = (uint32_t)acct - 1;
        int kind = (int)(i % 10), rc;
        if (kind < 8) {
            money_t cost = kind < 6 ? 1000 + (money_t)(i % 90000) : 0;
            jrec_cdr_t c = sample_cdr(i, acct, cost);
            jrec_encode_cdr(&c, p, sizeof p, &len);
            rc = cost ? jrn_move(&w[i & 1], accts, slot, JRN_CALL_DEBIT,
                                 -cost, -cost, p, len, 0, NULL, NULL)
                      : jrn_append(&w[i & 1], JRN_CDR, p, len, 0, NULL);
            rows += cost ? 2 : 1;
        } else {
            jrec_move_t m;
            memset(&m, 0, sizeof m);
            snprintf(m.reference, sizeof m.reference, "rcpt-%" PRIu64, i);
            strcpy(m.actor, "bench");
            if (jrec_encode_move(&m, p, sizeof p, &len) != JREC_OK)
                die("encode failed");
            rc = jrn_move(&w[i & 1], accts, slot, JRN_RECHARGE, 5000000,
                          5000000, p, len, 0, NULL, NULL);
            rows += 1;
        }
        if (rc != JRN_OK)
            die("append failed (journal too small?)");
    }
    jrn_writer_close(&w[0]);
    jrn_writer_close(&w[1]);
    return rows;
}

static void exec_or_die(PGconn *c, const char *sql)
{
    if (testdb_exec(c, sql) != 0)
        die(sql);
}

/* The naive flusher: one statement per row. Returns rows written. */
static uint64_t naive_flush(PGconn *c, uint64_t nrec)
{
    static const char *ins_ledger =
        "INSERT INTO ledger (account_id, kind, amount, balance_after, "
        "reference, extension, journal, journal_seq, at, actor, reason) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'epoch'::timestamptz + "
        "$9 * interval '1 microsecond', $10, $11)";
    static const char *ins_cdr =
        "INSERT INTO cdrs (call_id, source, account_id, extension, caller, "
        "callee, dialed, direction, start_at, answer_at, end_at, duration, "
        "billsec, cost, zone_id, prefix, plan_id, deck_version, "
        "rate_per_minute, connection_fee, first_increment, next_increment, "
        "min_seconds, grace_seconds, rounding, hangup_cause, flags, journal, "
        "journal_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
        "'epoch'::timestamptz + $9 * interval '1 microsecond', "
        "'epoch'::timestamptz + $10 * interval '1 microsecond', "
        "'epoch'::timestamptz + $11 * interval '1 microsecond', $12, $13, "
        "$14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, "
        "$27, $28, $29)";
    static const char *upd =
        "UPDATE accounts SET balance = balance + $1 WHERE id = $2";
    static const char *pos =
        "INSERT INTO journal_position (name, drained_seq) VALUES ($1, $2) "
        "ON CONFLICT (name) DO UPDATE SET drained_seq = EXCLUDED.drained_seq";
    uint64_t rows = 0, seq[2] = { 0, 0 };
    char v[32][48];
    const char *pv[32];

    for (uint64_t done = 0; done < nrec;) {
        exec_or_die(c, "BEGIN");
        for (uint64_t k = 0; k < FLUSH_BATCH && done < nrec; k++, done++) {
            uint32_t ring = (uint32_t)(done & 1);
            const jrn_rec_t *r = jrn_rec(&jrn, ring, seq[ring]);
            snprintf(v[30], 48, "ring:%u", ring);
            snprintf(v[31], 48, "%" PRIu64, seq[ring]);
            seq[ring]++;
            jrec_cdr_t cd;
            jrec_move_t mv;
            int is_cdr = r->kind == JRN_CDR || r->kind == JRN_CALL_DEBIT;
            if (is_cdr ? jrec_decode_cdr(r->payload, r->len, &cd, NULL)
                       : jrec_decode_move(r->payload, r->len, &mv, NULL))
                die("decode failed");
            if (r->kind != JRN_CDR) {
                snprintf(v[0], 48, "%" PRId64, r->acct_id);
                snprintf(v[2], 48, "%" PRId64, r->delta_balance);
                snprintf(v[3], 48, "%" PRId64, r->balance_after);
                snprintf(v[8], 48, "%" PRId64, r->at_us);
                const char *p[11] = {
                    v[0], is_cdr ? "call_debit" : "recharge", v[2], v[3],
                    is_cdr ? cd.call_id : mv.reference,
                    is_cdr ? cd.extension : NULL, v[30], v[31], v[8],
                    is_cdr ? "freeswitch" : mv.actor, NULL };
                if (db_exec(c, "ledger", ins_ledger, 11, p) != DB_OK)
                    die("naive INSERT ledger failed");
                const char *u[2] = { v[2], v[0] };
                if (db_exec(c, "accounts", upd, 2, u) != DB_OK)
                    die("naive UPDATE failed");
                rows++;
            }
            if (is_cdr) {
                int rated = cd.plan_id != 0;
                snprintf(v[0], 48, "%" PRId64, cd.account_id);
                snprintf(v[1], 48, "%" PRId64, cd.start_us);
                snprintf(v[2], 48, "%" PRId64, cd.answer_us);
                snprintf(v[3], 48, "%" PRId64, cd.end_us);
                snprintf(v[4], 48, "%u", cd.duration);
                snprintf(v[5], 48, "%u", cd.billsec);
                snprintf(v[6], 48, "%" PRId64, cd.cost);
                snprintf(v[7], 48, "%" PRId64, cd.zone_id);
                snprintf(v[9], 48, "%" PRId64, cd.plan_id);
                snprintf(v[10], 48, "%" PRId64, cd.deck_version);
                snprintf(v[11], 48, "%" PRId64, cd.rate_per_minute);
                snprintf(v[12], 48, "%" PRId64, cd.connection_fee);
                snprintf(v[13], 48, "%u", cd.first_inc);
                snprintf(v[14], 48, "%u", cd.next_inc);
                snprintf(v[15], 48, "%u", cd.min_sec);
                snprintf(v[16], 48, "%u", cd.grace_sec);
                snprintf(v[17], 48, "%u", cd.flags);
                for (int i = 0; i < 29; i++)
                    pv[i] = NULL;
                pv[0] = cd.call_id;
                pv[1] = jrec_source_name(cd.source);
                pv[2] = cd.account_id ? v[0] : NULL;
                pv[3] = cd.extension[0] ? cd.extension : NULL;
                pv[4] = cd.caller[0] ? cd.caller : NULL;
                pv[5] = cd.callee[0] ? cd.callee : NULL;
                pv[6] = cd.dialed[0] ? cd.dialed : NULL;
                pv[7] = jrec_direction_name(cd.direction);
                pv[8] = v[1];
                pv[9] = cd.answer_us ? v[2] : NULL;
                pv[10] = v[3];
                pv[11] = v[4];
                pv[12] = v[5];
                pv[13] = v[6];
                pv[14] = cd.zone_id ? v[7] : NULL;
                pv[15] = cd.prefix[0] ? cd.prefix : NULL;
                if (rated) {
                    pv[16] = v[9];
                    pv[17] = v[10];
                    pv[18] = v[11];
                    pv[19] = v[12];
                    pv[20] = v[13];
                    pv[21] = v[14];
                    pv[22] = v[15];
                    pv[23] = v[16];
                    pv[24] = jrec_rounding_name(cd.rounding);
                }
                pv[25] = cd.hangup_cause[0] ? cd.hangup_cause : NULL;
                pv[26] = v[17];
                pv[27] = v[30];
                pv[28] = v[31];
                if (db_exec(c, "cdrs", ins_cdr, 29, pv) != DB_OK)
                    die("naive INSERT cdrs failed");
                rows++;
            }
        }
        for (uint32_t ring = 0; ring < 2; ring++) {
            snprintf(v[30], 48, "ring:%u", ring);
            snprintf(v[31], 48, "%" PRIu64, seq[ring]);
            const char *p[2] = { v[30], v[31] };
            if (db_exec(c, "position", pos, 2, p) != DB_OK)
                die("naive position failed");
        }
        exec_or_die(c, "COMMIT");
    }
    return rows;
}

static int64_t q_i64(PGconn *c, const char *sql)
{
    PGresult *r = db_query(c, "bench", sql, 0, NULL);
    int64_t v = r && PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL,
                                                 10) : -1;
    PQclear(r);
    return v;
}

static void bench_flush(int quick)
{
    uint64_t nrec = quick ? 50000 : 200000;
    uint64_t nnaive = quick ? 15000 : 40000;
    char path[64], ci[1024];
    PGconn *c = testdb_open("bench_journal");
    if (c == NULL)
        die("no database (DATABASE_URL, APOLO_TOP)");
    snprintf(ci, sizeof ci, "host=%s port=%s user=%s dbname=%s", PQhost(c),
             PQport(c), PQuser(c), PQdb(c));
    exec_or_die(c,
        "INSERT INTO rate_plans (id, name, currency, time_zone, "
        "  number_rules) VALUES (1, 'Plan', 'USD', 'UTC', '');"
        "INSERT INTO accounts (id, code, name, type, balance, credit_limit, "
        "  currency, plan_id) SELECT g, 'A' || g, 'Account ' || g, "
        "  'postpaid', 0, 1099511627776, 'USD', 1 "
        "  FROM generate_series(1, 1000) g;");

    make_region(NACCTS_FLUSH);
    snprintf(path, sizeof path, "%s/flush", dir);
    if (jrn_open(&jrn, path, 2, 131072, 10) != JRN_OK)
        die("jrn_open failed");
    uint64_t rows = fill(nrec);

    flusher_config_t fc = { .conninfo = ci, .batch = FLUSH_BATCH };
    flusher_t *f = flusher_new(&jrn, &fc);
    flusher_stats_t st;
    uint64_t n = 0;
    double t0 = now();
    if (f == NULL || flusher_drain_once(f, &n) != FLUSHER_OK || n != nrec)
        die("flush failed");
    double t_copy = now() - t0;
    flusher_stats(f, &st);
    flusher_free(f);
    if (st.ledger_rows + st.cdr_rows != rows)
        die("flush wrote the wrong number of rows");
    double copy_rate = (double)rows / t_copy;
    bench("flush_rows_per_sec", copy_rate, "rows/s");
    bench("flush_records_per_sec", (double)nrec / t_copy, "records/s");

    /* the same rows again, the naive way, into emptied tables */
    exec_or_die(c, "TRUNCATE ledger, cdrs, cdr_ids, journal_position;"
                   "UPDATE accounts SET balance = 0;");
    t0 = now();
    uint64_t nrows = naive_flush(c, nnaive);
    double t_naive = now() - t0;
    if ((int64_t)nrows != q_i64(c, "SELECT (SELECT count(*) FROM ledger) + "
                                   "(SELECT count(*) FROM cdrs)"))
        die("naive flush row count differs");
    double naive_rate = (double)nrows / t_naive;
    bench("flush_naive_rows_per_sec", naive_rate, "rows/s");
    printf("BENCH flush_ratio_vs_naive %.2f x\n", copy_rate / naive_rate);
    fflush(stdout);

    jrn_close(&jrn);
    unlink(path);
    region_destroy(&region);
    testdb_close(c);
}

int main(void)
{
    int quick = getenv("BENCH_QUICK") != NULL
                && strcmp(getenv("BENCH_QUICK"), "0") != 0;
    if (mkdtemp(dir) == NULL)
        die("mkdtemp failed");
    bench_appends(quick);
    bench_flush(quick);
    rmdir(dir);
    return 0;
}
