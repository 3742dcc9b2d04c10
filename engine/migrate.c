/*
 * migrate.c -- applies the numbered SQL files of sql/ in order, once each.
 *
 * Design: one run = scan the folder (parse, sort, read every file), take
 * the session advisory lock, make sure schema_migrations exists, compare
 * what the database recorded with the folder, and only when everything
 * agrees apply the pending files, each as
 *
 *     BEGIN; SET LOCAL client_min_messages = warning;
 *     <file text>;
 *     INSERT INTO schema_migrations (version, name, checksum) ...;
 *     COMMIT;
 *
 * then release the lock. Validating before applying anything means a
 * tampered or missing file refuses the run without half-upgrading.
 *
 * NOTES
 * - The checksum is md5() computed by the server on the exact file text
 *   sent, so the C side needs no hash code and the two can never disagree
 *   on encoding. It detects edits, it is not a security measure.
 * - The advisory lock is a session lock (pg_advisory_lock), not a
 *   transaction one: it must span the per-file transactions. It is taken
 *   before CREATE TABLE IF NOT EXISTS schema_migrations, which is not
 *   itself safe against a concurrent creator.
 * - A file is sent with PQexec (several statements, no parameters); only
 *   the bookkeeping row uses parameters. A file that ends the transaction
 *   itself (COMMIT inside) is detected from the transaction status and
 *   refused, since its statements would escape the recorded transaction.
 * - The folder listing is sorted by the numeric version, not by name, so
 *   "10_x.sql" comes after "9_y.sql".
 */
#include "engine/migrate.h"

#include "engine/db.h"
#include "shm/log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "Apol" and 1: the key pair of the migration lock (2 is partitions). */
#define MIGRATE_LOCK_SQL   "SELECT pg_advisory_lock(1097887596, 1)"
#define MIGRATE_UNLOCK_SQL "SELECT pg_advisory_unlock(1097887596, 1)"

typedef struct {
    long long version;
    char *file;                  /* "002_rating.sql" */
    char *text;                  /* whole file, NUL-terminated */
    char md5[33];
    int applied;                 /* recorded in schema_migrations */
} migrate_file_t;

typedef struct {
    migrate_file_t *v;
    size_t n, cap;
} migrate_set_t;

static void migrate_set_free(migrate_set_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].file);
        free(s->v[i].text);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* Returns 1 and the version when name is NNN_name.sql, else 0. */
static int migrate_parse_name(const char *name, long long *version)
{
    const char *p = name;
    long long v = 0;

    if (!isdigit((unsigned char)*p))
        return 0;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > (LLONG_MAX - 9) / 10)
            return 0;                   /* absurdly long number */
        v = v * 10 + (*p - '0');
    }
    if (*p++ != '_')
        return 0;
    size_t len = strlen(p);
    if (len <= 4 || strcmp(p + len - 4, ".sql") != 0)
        return 0;
    for (size_t i = 0; i < len - 4; i++)
        if (!isalnum((unsigned char)p[i]) && p[i] != '_' && p[i] != '-')
            return 0;
    *version = v;
    return 1;
}

/* Reads dir/name into a new NUL-terminated buffer. */
static int migrate_read_file(const char *dir, const char *name, char **out)
{
    char *path = NULL, *buf = NULL;
    int fd = -1, rc = MIGRATE_ERROR;
    struct stat st;

    if (asprintf(&path, "%s/%s", dir, name) < 0) {
        path = NULL;
        LOG_ERROR("migrate", 0, "%s: out of memory", name);
        goto done;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        LOG_ERROR("migrate", errno, "open(%s) failed", path);
        goto done;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        LOG_ERROR("migrate", 0, "%s: out of memory", path);
        goto done;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            LOG_ERROR("migrate", r < 0 ? errno : 0, "read(%s) failed%s",
                      path, r < 0 ? "" : ": the file shrank");
            goto done;
        }
        got += (size_t)r;
    }
    buf[got] = '\0';
    if (strlen(buf) != got) {
        /* PQexec would silently stop at the NUL. */
        LOG_ERROR("migrate", 0, "%s: contains a NUL byte", path);
        goto done;
    }
    *out = buf;
    buf = NULL;
    rc = MIGRATE_OK;
done:
    if (fd >= 0)
        close(fd);
    free(buf);
    free(path);
    return rc;
}

static int migrate_add(migrate_set_t *s, long long version, const char *file)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        migrate_file_t *v = realloc(s->v, cap * sizeof *v);
        if (v == NULL)
            return MIGRATE_ERROR;
        s->v = v;
        s->cap = cap;
    }
    migrate_file_t *f = &s->v[s->n];
    memset(f, 0, sizeof *f);
    f->version = version;
    f->file = strdup(file);
    if (f->file == NULL)
        return MIGRATE_ERROR;
    s->n++;
    return MIGRATE_OK;
}

static int migrate_cmp(const void *a, const void *b)
{
    const migrate_file_t *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

/* Lists, sorts and reads the migration files of dir. */
static int migrate_scan(const char *dir, migrate_set_t *s)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    long long version;

    if (d == NULL) {
        LOG_ERROR("migrate", errno, "opendir(%s) failed", dir);
        return MIGRATE_ERROR;
    }
    while ((e = readdir(d)) != NULL) {
        if (!migrate_parse_name(e->d_name, &version))
            continue;
        if (migrate_add(s, version, e->d_name) != MIGRATE_OK) {
            closedir(d);
            LOG_ERROR("migrate", 0, "%s: out of memory", dir);
            return MIGRATE_ERROR;
        }
    }
    closedir(d);
    qsort(s->v, s->n, sizeof *s->v, migrate_cmp);
    for (size_t i = 0; i < s->n; i++) {
        if (i > 0 && s->v[i].version == s->v[i - 1].version) {
            LOG_ERROR("migrate", 0, "%s: %s and %s have the same version "
                      "%lld", dir, s->v[i - 1].file, s->v[i].file,
                      s->v[i].version);
            return MIGRATE_ERROR;
        }
        if (migrate_read_file(dir, s->v[i].file, &s->v[i].text) != MIGRATE_OK)
            return MIGRATE_ERROR;
    }
    return MIGRATE_OK;
}

/* Fills f->md5 with the server's md5() of the file text. */
static int migrate_checksum(PGconn *conn, migrate_file_t *f)
{
    const char *params[1] = { f->text };
    char what[300];
    snprintf(what, sizeof what, "checksum of %s", f->file);
    PGresult *res = db_query(conn, what, "SELECT md5($1)", 1, params);
    if (res == NULL)
        return MIGRATE_ERROR;
    snprintf(f->md5, sizeof f->md5, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return MIGRATE_OK;
}

static int migrate_create_table(PGconn *conn)
{
    /* A script so that the "already exists" NOTICE stays quiet. */
    static const char sql[] =
        "BEGIN;"
        "SET LOCAL client_min_messages = warning;"
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "  version    bigint PRIMARY KEY,"
        "  name       text NOT NULL,"
        "  checksum   text NOT NULL,"
        "  applied_at timestamptz NOT NULL DEFAULT now());"
        "COMMIT;";
    if (db_exec_script(conn, "create schema_migrations", sql) != DB_OK) {
        if (PQtransactionStatus(conn) != PQTRANS_IDLE)
            PQclear(PQexec(conn, "ROLLBACK"));
        return MIGRATE_ERROR;
    }
    return MIGRATE_OK;
}

static migrate_file_t *migrate_find(migrate_set_t *s, long long version)
{
    migrate_file_t key = { .version = version };
    return bsearch(&key, s->v, s->n, sizeof *s->v, migrate_cmp);
}

/* Matches one recorded row against the folder. */
static int migrate_check_row(migrate_set_t *s, long long version,
                             const char *name, const char *checksum)
{
    migrate_file_t *f = migrate_find(s, version);
    if (f == NULL) {
        LOG_ERROR("migrate", 0, "the database has migration %lld (%s) that "
                  "the folder lacks: is this an older release?", version,
                  name);
        return MIGRATE_EMISSING;
    }
    if (strcmp(f->md5, checksum) != 0) {
        LOG_ERROR("migrate", 0, "%s was applied with checksum %s but now "
                  "has %s: an applied migration must not change, add a new "
                  "one", f->file, checksum, f->md5);
        return MIGRATE_ECHANGED;
    }
    f->applied = 1;
    return MIGRATE_OK;
}

/* Compares schema_migrations with the folder; marks the applied files. */
static int migrate_check_recorded(PGconn *conn, migrate_set_t *s)
{
    PGresult *res = db_query(conn, "read schema_migrations",
                             "SELECT version, name, checksum "
                             "FROM schema_migrations ORDER BY version",
                             0, NULL);
    if (res == NULL)
        return MIGRATE_ERROR;
    int rc = MIGRATE_OK;
    for (int i = 0; i < PQntuples(res) && rc == MIGRATE_OK; i++)
        rc = migrate_check_row(s, strtoll(PQgetvalue(res, i, 0), NULL, 10),
                               PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
    PQclear(res);
    if (rc != MIGRATE_OK)
        return rc;

    /* A pending file below an applied one was written for a schema that
     * no longer exists (typically a merge of two branches): renumber it. */
    for (size_t i = 0; i + 1 < s->n; i++) {
        if (!s->v[i].applied && s->v[i + 1].applied) {
            LOG_ERROR("migrate", 0, "%s is not applied but %s is: renumber "
                      "it above the last applied version", s->v[i].file,
                      s->v[i + 1].file);
            return MIGRATE_EMISSING;
        }
    }
    return MIGRATE_OK;
}

/* Applies one file and records it, in one transaction. */
static int migrate_apply_one(PGconn *conn, const migrate_file_t *f)
{
    char version[24];
    const char *params[3] = { version, f->file, f->md5 };
    char what[300];

    snprintf(version, sizeof version, "%lld", f->version);
    snprintf(what, sizeof what, "migration %s", f->file);
    if (db_exec_script(conn, what,
                       "BEGIN; SET LOCAL client_min_messages = warning")
        != DB_OK)
        return MIGRATE_ERROR;
    if (db_exec_script(conn, what, f->text) != DB_OK)
        goto rollback;
    if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
        LOG_ERROR("migrate", 0, "%s ends the transaction itself "
                  "(COMMIT/ROLLBACK): remove it, the runner wraps each file",
                  f->file);
        goto rollback;
    }
    if (db_exec(conn, what,
                "INSERT INTO schema_migrations (version, name, checksum) "
                "VALUES ($1, $2, $3)", 3, params) != DB_OK)
        goto rollback;
    if (db_exec(conn, what, "COMMIT", 0, NULL) != DB_OK)
        return MIGRATE_ERROR;
    LOG_INFO("migrate", "applied %s", f->file);
    return MIGRATE_OK;
rollback:
    /* Not when the file's own COMMIT already ended it: that would only
     * draw a "no transaction in progress" warning. */
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
    return MIGRATE_ERROR;
}

/* Everything done under the lock. */
static int migrate_locked(PGconn *conn, migrate_set_t *s, int *applied)
{
    int rc = migrate_create_table(conn);
    for (size_t i = 0; i < s->n && rc == MIGRATE_OK; i++)
        rc = migrate_checksum(conn, &s->v[i]);
    if (rc == MIGRATE_OK)
        rc = migrate_check_recorded(conn, s);
    for (size_t i = 0; i < s->n && rc == MIGRATE_OK; i++) {
        if (s->v[i].applied)
            continue;
        rc = migrate_apply_one(conn, &s->v[i]);
        if (rc == MIGRATE_OK)
            (*applied)++;
    }
    return rc;
}

int migrate_apply(PGconn *conn, const char *sql_dir, int *applied_count)
{
    migrate_set_t set = { 0 };
    int applied = 0;
    int rc = migrate_scan(sql_dir, &set);

    if (rc == MIGRATE_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        LOG_ERROR("migrate", 0, "the connection is not idle (inside a "
                  "transaction?)");
        rc = MIGRATE_ERROR;
    }
    if (rc == MIGRATE_OK) {
        if (db_exec(conn, "take the migration lock", MIGRATE_LOCK_SQL, 0,
                    NULL) != DB_OK) {
            rc = MIGRATE_ERROR;
        } else {
            rc = migrate_locked(conn, &set, &applied);
            /* A failed unlock only matters if the session goes on; the
             * lock dies with the connection anyway. */
            (void)db_exec(conn, "release the migration lock",
                          MIGRATE_UNLOCK_SQL, 0, NULL);
        }
    }
    migrate_set_free(&set);
    if (applied_count != NULL)
        *applied_count = applied;
    return rc;
}
