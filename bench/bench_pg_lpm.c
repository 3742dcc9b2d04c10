/*
 * bench_pg_lpm.c -- longest-prefix match done by PostgreSQL, the two ways
 * the product could have used instead of the shared-memory trie, on the
 * deck and numbers of bench_lpm.c (bench/lpm_gen.h):
 *
 *   seed:   a btree on prefix text; the query passes every prefix of the
 *           number as one text[] parameter:
 *             WHERE prefix = ANY($1) ORDER BY length(prefix) DESC LIMIT 1
 *   prefix: the prefix extension's prefix_range with a GiST index:
 *             WHERE p @> $1 ORDER BY length(p::text) DESC LIMIT 1
 *
 * Both run as prepared statements from one connection, one lookup per
 * round trip, for a fixed time each, over the random numbers (seed 42, the
 * trie bench's figure) and the deck hits (seed 43). Before timing, a sample
 * of numbers is answered by every way and by a C reference (binary search
 * of the sorted deck); any disagreement fails the program (exit 1).
 *
 * The tables are loaded in prefix order, as an import would ORDER BY
 * prefix: the prefix_range GiST index is built by insertion and its quality
 * depends on that order. Loaded in the deck's random order it answered
 * about 5 times slower here, so that case is measured too (prefix_unsorted,
 * random numbers only) to show what an unsorted import costs.
 *
 * Everything lives in a scratch schema of the database in DATABASE_URL,
 * dropped at the end (the extension too, when this program created it).
 *
 * Output: "BENCH <name> <value> <unit>" lines on stdout:
 *   pg_deck_load_<n>_sec          COPY + btree + ANALYZE of the seed table
 *   pg_prefix_deck_load_<n>_sec   the same for the prefix_range table
 *   pg_seed_lpm_<n>_per_sec, pg_prefix_lpm_<n>_per_sec      random numbers
 *   pg_seed_lpm_<n>_hit_per_sec, pg_prefix_lpm_<n>_hit_per_sec  deck hits
 *   pg_prefix_unsorted_lpm_<n>_per_sec    GiST built from unsorted rows
 * with <n> = 1m, or 100k when BENCH_QUICK=1 (2 s per figure instead of 5).
 */
#include "bench/lpm_gen.h"
#include "engine/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NNUM     100000      /* numbers per set (the first of bench_lpm's) */
#define NCHECK   2000        /* numbers per set checked three ways */
#define COPY_BUF 65536

typedef char num_t[LPM_GEN_MAXLEN];

typedef struct {
    PGconn *conn;
    char schema[64];
    int schema_made;
    num_t *sorted;           /* the deck, sorted: the C reference */
    size_t ndeck;
} bench_t;

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *bench_alloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "bench_pg_lpm: malloc(%zu) failed\n", n);
        exit(2);
    }
    return p;
}

/* "BENCH <head>_<size><tail> <v> <unit>" */
static void bench_print(const char *head, const char *size, const char *tail,
                        double v, const char *unit)
{
    printf("BENCH %s_%s%s %.*f %s\n", head, size, tail, v >= 100 ? 0 : 3, v,
           unit);
    fflush(stdout);
}

/* ---- Schema, extension, tables ---- */

static int bench_setup(bench_t *b)
{
    char sql[256], path[200];
    const char *ext_schema;

    snprintf(b->schema, sizeof b->schema, "apolo_bench_lpm_%d", (int)getpid());
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", b->schema);
    if (db_exec(b->conn, "create scratch schema", sql, 0, NULL) != DB_OK)
        return -1;
    b->schema_made = 1;

    /* The extension may be installed already (in some schema); if not it
     * goes into the scratch schema and is dropped with it. */
    PGresult *r = db_query(b->conn, "find extension prefix",
                           "SELECT n.nspname FROM pg_extension e "
                           "JOIN pg_namespace n ON n.oid = e.extnamespace "
                           "WHERE e.extname = 'prefix'", 0, NULL);
    if (r == NULL)
        return -1;
    if (PQntuples(r) == 0) {
        snprintf(sql, sizeof sql, "CREATE EXTENSION prefix SCHEMA %s",
                 b->schema);
        if (db_exec(b->conn, "create extension prefix (Debian package "
                    "postgresql-15-prefix)", sql, 0, NULL) != DB_OK) {
            PQclear(r);
            return -1;
        }
        ext_schema = b->schema;
    } else {
        ext_schema = PQgetvalue(r, 0, 0);
    }
    snprintf(path, sizeof path, "%s, \"%s\"", b->schema, ext_schema);
    PQclear(r);
    const char *params[1] = { path };
    return db_exec(b->conn, "set search_path",
                   "SELECT set_config('search_path', $1, false)", 1, params)
           == DB_OK ? 0 : -1;
}

static void bench_teardown(bench_t *b)
{
    char sql[128];
    if (!b->schema_made)
        return;
    /* CASCADE also drops the extension when it was created in there. */
    snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", b->schema);
    PQclear(PQexec(b->conn, "SET client_min_messages = warning"));
    (void)db_exec(b->conn, "drop scratch schema", sql, 0, NULL);
}

/* COPY table FROM STDIN of "prefix\tindex" lines; returns 0 or -1. */
static int bench_copy(PGconn *conn, const char *table, num_t *deck, size_t n)
{
    char sql[128], buf[COPY_BUF];
    size_t used = 0;
    int ok = 1;

    snprintf(sql, sizeof sql, "COPY %s FROM STDIN", table);
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        fprintf(stderr, "bench_pg_lpm: %s: %s", sql, PQerrorMessage(conn));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    for (size_t i = 0; i < n && ok; i++) {
        if (used + 64 > sizeof buf) {
            ok = PQputCopyData(conn, buf, (int)used) == 1;
            used = 0;
        }
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s\t%zu\n",
                                 deck[i], i);
    }
    if (ok && used > 0)
        ok = PQputCopyData(conn, buf, (int)used) == 1;
    ok = PQputCopyEnd(conn, ok ? NULL : "client failed") == 1 && ok;
    while ((r = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "bench_pg_lpm: %s: %s", sql,
                    PQresultErrorMessage(r));
            ok = 0;
        }
        PQclear(r);
    }
    return ok ? 0 : -1;
}

/* Creates, fills and indexes one table; returns seconds or -1. */
static double bench_load(PGconn *conn, const char *create, const char *table,
                         const char *index, num_t *deck, size_t n)
{
    double t0 = bench_now();
    char what[64];
    snprintf(what, sizeof what, "load %s", table);
    if (db_exec(conn, what, create, 0, NULL) != DB_OK ||
        bench_copy(conn, table, deck, n) != 0 ||
        db_exec(conn, what, index, 0, NULL) != DB_OK)
        return -1;
    char analyze[64];
    snprintf(analyze, sizeof analyze, "ANALYZE %s", table);
    if (db_exec(conn, what, analyze, 0, NULL) != DB_OK)
        return -1;
    return bench_now() - t0;
}

/* ---- Lookups ---- */

enum { WAY_SEED = 0, WAY_PREFIX, WAY_PREFIX_UNSORTED, NWAYS };
static const char *const way_stmt[NWAYS] = {
    "lpm_seed", "lpm_prefix", "lpm_prefix_unsorted"
};

static int bench_prepare(PGconn *conn)
{
    static const char *const sql[NWAYS] = {
        "SELECT prefix FROM seed_rates WHERE prefix = ANY($1::text[]) "
        "ORDER BY length(prefix) DESC LIMIT 1",
        "SELECT p::text FROM pfx_rates WHERE p @> $1::prefix_range "
        "ORDER BY length(p::text) DESC LIMIT 1",
        "SELECT p::text FROM pfx_unsorted WHERE p @> $1::prefix_range "
        "ORDER BY length(p::text) DESC LIMIT 1",
    };
    for (int w = 0; w < NWAYS; w++) {
        PGresult *r = PQprepare(conn, way_stmt[w], sql[w], 1, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "bench_pg_lpm: prepare %s: %s", way_stmt[w],
                    PQresultErrorMessage(r));
            PQclear(r);
            return -1;
        }
        PQclear(r);
    }
    return 0;
}

/* "{5,54,541,...}": every prefix of num, the seed's IN list. */
static void bench_prefix_array(const char *num, char *out)
{
    size_t len = strlen(num), o = 0;
    out[o++] = '{';
    for (size_t l = 1; l <= len; l++) {
        if (l > 1)
            out[o++] = ',';
        memcpy(out + o, num, l);
        o += l;
    }
    out[o++] = '}';
    out[o] = '\0';
}

/* One lookup; copies the matched prefix ("" for none) into match when not
 * NULL. Returns 0, or -1 after printing the error. */
static int bench_lookup(PGconn *conn, int way, const char *num, char *match)
{
    char arr[LPM_GEN_MAXLEN * LPM_GEN_MAXLEN + 4];
    const char *param = num;
    if (way == WAY_SEED) {
        bench_prefix_array(num, arr);
        param = arr;
    }
    PGresult *r = PQexecPrepared(conn, way_stmt[way], 1, &param, NULL, NULL,
                                 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench_pg_lpm: %s(%s): %s", way_stmt[way], num,
                PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    if (match != NULL)
        snprintf(match, LPM_GEN_MAXLEN, "%s",
                 PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return 0;
}

static int bench_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The C reference: the longest prefix of num that is in the sorted deck. */
static void bench_reference(const bench_t *b, const char *num, char *match)
{
    num_t key;
    for (size_t l = strlen(num); l > 0; l--) {
        memcpy(key, num, l);
        key[l] = '\0';
        if (bsearch(key, b->sorted, b->ndeck, sizeof *b->sorted, bench_cmp)) {
            memcpy(match, key, l + 1);
            return;
        }
    }
    match[0] = '\0';
}

/* Every way and the reference agree on the first NCHECK numbers. */
static int bench_verify(bench_t *b, num_t *nums, const char *label)
{
    num_t got[NWAYS], ref;
    size_t bad = 0, matched = 0;
    for (size_t i = 0; i < NCHECK; i++) {
        int differ = 0;
        bench_reference(b, nums[i], ref);
        matched += ref[0] != '\0';
        for (int w = 0; w < NWAYS; w++) {
            if (bench_lookup(b->conn, w, nums[i], got[w]) != 0)
                return -1;
            differ |= strcmp(got[w], ref) != 0;
        }
        if (differ && bad++ < 5)
            fprintf(stderr, "bench_pg_lpm: %s %s: seed '%s' prefix '%s' "
                    "unsorted '%s' reference '%s'\n", label, nums[i],
                    got[WAY_SEED], got[WAY_PREFIX], got[WAY_PREFIX_UNSORTED],
                    ref);
    }
    fprintf(stderr, "bench_pg_lpm: %s: %d numbers checked, %zu matched a "
            "prefix, %zu disagreements\n", label, NCHECK, matched, bad);
    return bad == 0 ? 0 : -1;
}

/* Lookups per second of one way over nums for about secs seconds. */
static double bench_run(PGconn *conn, int way, num_t *nums, double secs)
{
    size_t count = 0;
    double t0 = bench_now(), t = t0;
    while (t - t0 < secs) {
        for (int k = 0; k < 64; k++, count++)
            if (bench_lookup(conn, way, nums[count % NNUM], NULL) != 0)
                return -1;
        t = bench_now();
    }
    return (double)count / (t - t0);
}

/* ---- Main ---- */

static int bench_main(bench_t *b, size_t n, const char *size, double secs)
{
    num_t *deck = bench_alloc(n * sizeof *deck);
    num_t *rnd = bench_alloc(NNUM * sizeof *rnd);
    num_t *hit = bench_alloc(NNUM * sizeof *hit);
    int rc = -1;

    if (lpm_gen_deck(deck, n) != 0)
        goto out;
    lpm_gen_numbers(rnd, NNUM, 42);
    lpm_gen_hits(hit, NNUM, deck, n, 43);
    b->sorted = bench_alloc(n * sizeof *deck);
    memcpy(b->sorted, deck, n * sizeof *deck);
    b->ndeck = n;
    qsort(b->sorted, n, sizeof *deck, bench_cmp);

    if (bench_setup(b) != 0)
        goto out;
    double load = bench_load(b->conn,
        "CREATE TABLE seed_rates (prefix text COLLATE \"C\" NOT NULL, "
        "rate_id int NOT NULL)", "seed_rates",
        "CREATE INDEX seed_rates_prefix_idx ON seed_rates (prefix)",
        b->sorted, n);
    if (load < 0)
        goto out;
    bench_print("pg_deck_load", size, "_sec", load, "s");
    load = bench_load(b->conn,
        "CREATE TABLE pfx_rates (p prefix_range NOT NULL, "
        "rate_id int NOT NULL)", "pfx_rates",
        "CREATE INDEX pfx_rates_p_idx ON pfx_rates USING gist (p)",
        b->sorted, n);
    if (load < 0)
        goto out;
    bench_print("pg_prefix_deck_load", size, "_sec", load, "s");
    if (bench_load(b->conn,
            "CREATE TABLE pfx_unsorted (p prefix_range NOT NULL, "
            "rate_id int NOT NULL)", "pfx_unsorted",
            "CREATE INDEX pfx_unsorted_p_idx ON pfx_unsorted USING gist (p)",
            deck, n) < 0)
        goto out;

    if (bench_prepare(b->conn) != 0 ||
        bench_verify(b, rnd, "random") != 0 ||
        bench_verify(b, hit, "hits") != 0)
        goto out;

    static const char *const head[NWAYS] = {
        "pg_seed_lpm", "pg_prefix_lpm", "pg_prefix_unsorted_lpm"
    };
    for (int w = 0; w < NWAYS; w++) {
        for (int h = 0; h < (w == WAY_PREFIX_UNSORTED ? 1 : 2); h++) {
            double v = bench_run(b->conn, w, h ? hit : rnd, secs);
            if (v < 0)
                goto out;
            bench_print(head[w], size, h ? "_hit_per_sec" : "_per_sec", v,
                        "lookups/s");
        }
    }
    rc = 0;
out:
    free(deck);
    free(rnd);
    free(hit);
    return rc;
}

int main(void)
{
    const char *url = getenv("DATABASE_URL");
    const char *q = getenv("BENCH_QUICK");
    int quick = q != NULL && q[0] == '1';
    bench_t b = { 0 };

    if (url == NULL || url[0] == '\0') {
        fprintf(stderr, "bench_pg_lpm: DATABASE_URL is not set\n");
        return 2;
    }
    b.conn = db_connect(url, "bench_pg_lpm");
    if (b.conn == NULL)
        return 2;
    int rc = bench_main(&b, quick ? 100000 : 1000000, quick ? "100k" : "1m",
                        quick ? 2.0 : 5.0);
    bench_teardown(&b);
    PQfinish(b.conn);
    free(b.sorted);
    return rc == 0 ? 0 : 1;
}
