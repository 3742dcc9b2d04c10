/*
 * test_migrate.c -- engine/migrate.c against the real private PostgreSQL.
 *
 * Each scenario runs in a database of its own, created here
 * (apolo_test_migrate_<pid>_<n>) and dropped at the end:
 *   - sql/ on an empty database applies every file; a second run applies 0
 *   - an edited applied file is refused (MIGRATE_ECHANGED), a folder that
 *     lacks an applied version is refused (MIGRATE_EMISSING), and neither
 *     changes the database
 *   - a failing new migration is rolled back entirely and not recorded; one
 *     that commits by itself is refused; a good new one is applied alone
 *   - three runners forked at once all succeed and every version is
 *     applied exactly once
 * Needs DATABASE_URL (tests/run.sh sets it): without it the test fails.
 */
#include "engine/db.h"
#include "engine/migrate.h"
#include "tests/testhelp.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NRUNNERS 3

static const char *url;
static char sql_dir[4096];

/* Connects to database `name` of the server in DATABASE_URL. */
static PGconn *connect_to(const char *name)
{
    const char *keys[] = { "dbname", "dbname", NULL };
    const char *vals[] = { url, name, NULL };
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "connect to %s: %s", name, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* CREATE or DROP DATABASE name (identifiers cannot be parameters). */
static int admin_db(PGconn *admin, const char *verb, const char *name)
{
    char *id = PQescapeIdentifier(admin, name, strlen(name));
    char sql[256];
    snprintf(sql, sizeof sql, "%s DATABASE %s%s", verb, id,
             strcmp(verb, "DROP") == 0 ? " WITH (FORCE)" : "");
    PQfreemem(id);
    return db_exec(admin, verb, sql, 0, NULL);
}

static long long query_ll(PGconn *c, const char *sql)
{
    PGresult *r = db_query(c, "test query", sql, 0, NULL);
    long long v = -1;
    if (r != NULL && PQntuples(r) == 1)
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* Number of NNN_*.sql files in dir. */
static int count_migrations(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && len > 4 &&
            strcmp(e->d_name + len - 4, ".sql") == 0)
            n++;
    }
    closedir(d);
    return n;
}

static int write_file(const char *dir, const char *name, const char *text,
                      const char *mode)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, mode);
    if (f == NULL)
        return -1;
    fputs(text, f);
    return fclose(f);
}

/* Copies src/name to dst/name, bytes as they are. */
static int copy_file(const char *src, const char *dst, const char *name)
{
    char in_path[4200], out_path[4200], buf[8192];
    snprintf(in_path, sizeof in_path, "%s/%s", src, name);
    snprintf(out_path, sizeof out_path, "%s/%s", dst, name);
    FILE *in = fopen(in_path, "rb"), *out = fopen(out_path, "wb");
    int rc = in && out ? 0 : -1;
    size_t n;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0)
        rc = fwrite(buf, 1, n, out) == n ? 0 : -1;
    if (in != NULL && ferror(in))
        rc = -1;
    if (in != NULL)
        fclose(in);
    if (out != NULL && fclose(out) != 0)
        rc = -1;
    return rc;
}

/* Copies the files of src (not its dot files) into dst. */
static int copy_dir(const char *src, const char *dst)
{
    DIR *d = opendir(src);
    struct dirent *e;
    int rc = 0;
    if (d == NULL)
        return -1;
    while (rc == 0 && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            rc = copy_file(src, dst, e->d_name);
    closedir(d);
    return rc;
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4200];
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* A scratch copy of sql/ under /tmp; returns 0 and the path in dir. */
static int scratch_copy(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/apolo_test_migrate_XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    return copy_dir(sql_dir, dir);
}

static void test_fresh_and_again(PGconn *c, int nfiles)
{
    int applied = -1;
    TEST_EQ_I64(migrate_apply(c, sql_dir, &applied), MIGRATE_OK);
    TEST_EQ_I64(applied, nfiles);
    TEST_EQ_I64(query_ll(c, "SELECT count(*) FROM schema_migrations"), nfiles);
    TEST_EQ_I64(query_ll(c, "SELECT count(*) FROM schema_migrations "
                            "WHERE checksum ~ '^[0-9a-f]{32}$'"), nfiles);
    TEST_EQ_I64(query_ll(c, "SELECT count(*) FROM (VALUES ('rates'), "
                            "('accounts'), ('cdrs'), ('ledger'), "
                            "('cdr_ids'), ('journal_position')) t(n) "
                            "WHERE to_regclass(n) IS NOT NULL"), 6);

    applied = -1;
    TEST_EQ_I64(migrate_apply(c, sql_dir, &applied), MIGRATE_OK);
    TEST_EQ_I64(applied, 0);
    TEST_EQ_I64(query_ll(c, "SELECT count(*) FROM schema_migrations"), nfiles);
    TEST_EQ_I64(PQtransactionStatus(c), PQTRANS_IDLE);
}

static void test_tampered(PGconn *c, int nfiles)
{
    char dir[64];
    int applied = -1;

    TEST_EQ_I64(scratch_copy(dir, sizeof dir), 0);
    TEST_EQ_I64(write_file(dir, "002_rating.sql", "\n-- edited\n", "a"), 0);
    TEST_EQ_I64(write_file(dir, "9000_new.sql",
                           "CREATE TABLE t_should_not_exist (x int);", "w"),
                0);
    TEST_EQ_I64(migrate_apply(c, dir, &applied), MIGRATE_ECHANGED);
    TEST_EQ_I64(applied, 0);
    /* Refused before anything ran, also the pending file. */
    TEST_EQ_I64(query_ll(c, "SELECT count(*) FROM schema_migrations"), nfiles);
    TEST_EQ_I64(query_ll(c, "SELECT count(*) FROM pg_class "
                            "WHERE relname = 't_should_not_exist'"), 0);
    TEST_EQ_I64(PQtransactionStatus(c), PQTRANS_IDLE);
    rm_dir(dir);

    /* The folder of an older release: 004 is applied but missing. */
    TEST_EQ_I64(scratch_copy(dir, sizeof dir), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/004_ledger_cdrs.sql", dir);
    TEST_EQ_I64(unlink(path), 0);
    TEST_EQ_I64(migrate_apply(c, dir, &applied), MIGRATE_EMISSING);
    TEST_EQ_I64(applied, 0);
    rm_dir(dir);

    /* Two files with one version. */
    TEST_EQ_I64(scratch_copy(dir, sizeof dir), 0);
    TEST_EQ_I64(write_file(dir, "0002_dup.sql", "SELECT 1;", "w"), 0);
    TEST_EQ_I64(migrate_apply(c, dir, &applied), MIGRATE_ERROR);
    TEST_EQ_I64(applied, 0);
    rm_dir(dir);

    TEST_EQ_I64(migrate_apply(c, "/nonexistent/apolo/sql", &applied),
                MIGRATE_ERROR);
}

static void test_new_migrations(PGconn *c, int nfiles)
{
    char dir[64];
    int applied = -1;

    /* Fails half-way: the table of its first statement must not stay. */
    TEST_EQ_I64(scratch_copy(dir, sizeof dir), 0);
    TEST_EQ_I64(write_file(dir, "9001_broken.sql",
                           "CREATE TABLE t_half (x int);\n"
                           "INSERT INTO t_half VALUES (1);\n"
                           "SELECT 1/0;\n", "w"), 0);
    TEST_EQ_I64(migrate_apply(c, dir, &applied), MIGRATE_ERROR);
    TEST_EQ_I64(applied, 0);
    TEST_EQ_I64(query_ll(c, "SELECT count(*) FROM pg_class "
                            "WHERE relname = 't_half'"), 0);
    TEST_EQ_I64(query_ll(c, "SELECT count(*) FROM schema_migrations"), nfiles);
    TEST_EQ_I64(PQtransactionStatus(c), PQTRANS_IDLE);
    rm_dir(dir);

    /* Commits by itself: refused, and its statements rolled back as far
     * as they can be (what ran before its COMMIT did commit: the runner
     * reports it instead of recording the version). */
    TEST_EQ_I64(scratch_copy(dir, sizeof dir), 0);
    TEST_EQ_I64(write_file(dir, "9002_commits.sql",
                           "COMMIT; CREATE TABLE t_after_commit (x int);",
                           "w"), 0);
    TEST_EQ_I64(migrate_apply(c, dir, &applied), MIGRATE_ERROR);
    TEST_EQ_I64(query_ll(c, "SELECT count(*) FROM schema_migrations"), nfiles);
    TEST_EQ_I64(PQtransactionStatus(c), PQTRANS_IDLE);
    rm_dir(dir);

    /* A good new one: applied alone, then skipped. */
    TEST_EQ_I64(scratch_copy(dir, sizeof dir), 0);
    TEST_EQ_I64(write_file(dir, "9003_extra.sql",
                           "CREATE TABLE t_extra (x int);", "w"), 0);
    TEST_EQ_I64(migrate_apply(c, dir, &applied), MIGRATE_OK);
    TEST_EQ_I64(applied, 1);
    TEST_EQ_I64(migrate_apply(c, dir, &applied), MIGRATE_OK);
    TEST_EQ_I64(applied, 0);
    TEST_EQ_I64(query_ll(c, "SELECT count(*) FROM schema_migrations "
                            "WHERE version = 9003 AND name = '9003_extra.sql' "
                            "AND checksum = "
                            "md5('CREATE TABLE t_extra (x int);')"),
                1);

    /* A pending version below an applied one (a merged late branch). */
    TEST_EQ_I64(write_file(dir, "9000_late.sql", "SELECT 1;", "w"), 0);
    TEST_EQ_I64(migrate_apply(c, dir, &applied), MIGRATE_EMISSING);
    TEST_EQ_I64(applied, 0);
    rm_dir(dir);
}

/* Child: wait for the go, migrate, exit 100 + applied (or 1 on error). */
static void runner(const char *dbname, int go_fd)
{
    char b;
    PGconn *c = connect_to(dbname);
    if (c == NULL)
        _exit(1);
    if (read(go_fd, &b, 1) != 1)
        _exit(1);
    int applied = -1;
    int rc = migrate_apply(c, sql_dir, &applied);
    PQfinish(c);
    fflush(NULL);
    _exit(rc == MIGRATE_OK ? 100 + applied : 1);
}

static void test_concurrent(PGconn *admin, const char *dbname, int nfiles)
{
    int go[2];
    pid_t pids[NRUNNERS];
    int sum = 0, ok = 0;

    TEST_EQ_I64(pipe(go), 0);
    fflush(NULL);
    for (int i = 0; i < NRUNNERS; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            close(go[1]);
            runner(dbname, go[0]);
        }
    }
    close(go[0]);
    /* Let them all connect, then release them together. */
    usleep(300 * 1000);
    TEST_EQ_I64(write(go[1], "xxxxxxxx", NRUNNERS), NRUNNERS);
    close(go[1]);
    for (int i = 0; i < NRUNNERS; i++) {
        int st = 0;
        TEST_EQ_I64(waitpid(pids[i], &st, 0), pids[i]);
        if (WIFEXITED(st) && WEXITSTATUS(st) >= 100) {
            ok++;
            sum += WEXITSTATUS(st) - 100;
        }
    }
    TEST_EQ_I64(ok, NRUNNERS);
    TEST_EQ_I64(sum, nfiles);           /* each applied by exactly one */

    PGconn *c = connect_to(dbname);
    TEST_CHECK(c != NULL);
    if (c != NULL) {
        TEST_EQ_I64(query_ll(c, "SELECT count(DISTINCT version) FROM "
                                "schema_migrations"), nfiles);
        TEST_EQ_I64(query_ll(c, "SELECT count(*) FROM schema_migrations"),
                    nfiles);
        PQfinish(c);
    }
    (void)admin;
}

int main(void)
{
    const char *top = getenv("APOLO_TOP");
    url = getenv("DATABASE_URL");
    if (url == NULL || url[0] == '\0') {
        TEST_FAIL_AT("DATABASE_URL is not set: this test needs PostgreSQL");
        return TEST_REPORT();
    }
    snprintf(sql_dir, sizeof sql_dir, "%s/sql", top ? top : ".");
    int nfiles = count_migrations(sql_dir);
    TEST_CHECK(nfiles >= 4);

    PGconn *admin = db_connect(url, "test_migrate");
    TEST_CHECK(admin != NULL);
    if (admin == NULL)
        return TEST_REPORT();

    char db1[64], db2[64];
    snprintf(db1, sizeof db1, "apolo_test_migrate_%d_1", (int)getpid());
    snprintf(db2, sizeof db2, "apolo_test_migrate_%d_2", (int)getpid());
    TEST_EQ_I64(admin_db(admin, "CREATE", db1), DB_OK);
    TEST_EQ_I64(admin_db(admin, "CREATE", db2), DB_OK);

    PGconn *c = connect_to(db1);
    TEST_CHECK(c != NULL);
    if (c != NULL) {
        test_fresh_and_again(c, nfiles);
        test_tampered(c, nfiles);
        test_new_migrations(c, nfiles);
        PQfinish(c);
    }
    test_concurrent(admin, db2, nfiles);

    TEST_EQ_I64(admin_db(admin, "DROP", db1), DB_OK);
    TEST_EQ_I64(admin_db(admin, "DROP", db2), DB_OK);
    PQfinish(admin);
    return TEST_REPORT();
}
