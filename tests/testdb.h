/*
 * testdb.h -- a fresh, migrated database for a test, on the private server
 * tests/run.sh started (DATABASE_URL). A test that needs PostgreSQL and
 * finds no DATABASE_URL fails: it does not skip.
 *
 *   PGconn *c = testdb_open("load");   creates apolo_test_load_<pid>,
 *                                      applies sql/ (APOLO_TOP or ".")
 *   testdb_close(c);                   closes and drops it
 */
#ifndef APOLO_TESTDB_H
#define APOLO_TESTDB_H

#include "engine/db.h"
#include "engine/migrate.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char testdb_name[64];

static PGconn *testdb_connect(const char *dbname)
{
    const char *url = getenv("DATABASE_URL");
    if (url == NULL || *url == '\0') {
        fprintf(stderr, "DATABASE_URL is not set: run through tests/run.sh\n");
        return NULL;
    }
    const char *keys[] = { "dbname", "dbname", NULL };
    const char *vals[] = { url, dbname, NULL };
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "connect to %s: %s", dbname, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

static int testdb_admin(const char *verb)
{
    PGconn *admin = testdb_connect("postgres");
    if (admin == NULL)
        return -1;
    char sql[160];
    snprintf(sql, sizeof sql, "%s DATABASE %s%s", verb, testdb_name,
             verb[0] == 'D' ? " WITH (FORCE)" : "");
    int rc = db_exec(admin, verb, sql, 0, NULL);
    PQfinish(admin);
    return rc;
}

static PGconn *testdb_open(const char *tag)
{
    char dir[4096];
    const char *top = getenv("APOLO_TOP");
    int applied = 0;
    snprintf(testdb_name, sizeof testdb_name, "apolo_test_%s_%d", tag,
             (int)getpid());
    if (testdb_admin("CREATE") != 0)
        return NULL;
    PGconn *c = testdb_connect(testdb_name);
    snprintf(dir, sizeof dir, "%s/sql", top ? top : ".");
    if (c != NULL && migrate_apply(c, dir, &applied) != 0) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

static void testdb_close(PGconn *c)
{
    PQfinish(c);
    testdb_admin("DROP");
}

/* Runs SQL that must succeed; returns 0 or -1 (already logged). */
static int testdb_exec(PGconn *c, const char *sql)
{
    return db_exec_script(c, "test setup", sql);
}

#endif
