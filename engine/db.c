/*
 * db.c -- libpq helpers: connect, run a statement, run a script; each
 * failure logged once with the caller's context.
 *
 * Design: thin wrappers, no state of their own. They exist so that every
 * PostgreSQL error of the engine reads the same way (mod=db msg="<what>:
 * <server message>", through shm/log.h) and so that no caller forgets to
 * check a result's status or to clear it.
 *
 * NOTES
 * - libpq messages end with a newline and may hold DETAIL/HINT/CONTEXT
 *   lines; the trailing newline is cut, the inner ones are escaped by the
 *   logger, so one error stays one log line.
 * - PG_DIAG_STATEMENT_POSITION counts characters, not bytes; the line
 *   number of a script error is found by counting characters the same way
 *   (UTF-8 continuation bytes skipped).
 * - The conninfo is never logged: a URL may carry a password.
 */
#include "engine/db.h"

#include "shm/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of msg without its trailing newlines. */
static int db_msg_len(const char *msg)
{
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        n--;
    return (int)n;
}

static void db_log_conn(PGconn *conn, const char *what)
{
    const char *msg = conn ? PQerrorMessage(conn) : "out of memory";
    LOG_ERROR("db", 0, "%s: %.*s", what, db_msg_len(msg), msg);
}

static void db_log_result(const PGresult *res, const char *what)
{
    const char *msg = PQresultErrorMessage(res);
    if (msg == NULL || msg[0] == '\0')
        msg = PQresStatus(PQresultStatus(res));
    LOG_ERROR("db", 0, "%s: %.*s", what, db_msg_len(msg), msg);
}

PGconn *db_connect(const char *conninfo, const char *app_name)
{
    const char *keys[3], *vals[3];
    int n = 0;

    /* application_name first: one given in the conninfo still wins. */
    if (app_name != NULL && app_name[0] != '\0') {
        keys[n] = "application_name";
        vals[n++] = app_name;
    }
    if (conninfo != NULL && conninfo[0] != '\0') {
        keys[n] = "dbname";             /* expanded: a URL or "k=v ..." */
        vals[n++] = conninfo;
    }
    keys[n] = NULL;
    vals[n] = NULL;

    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        db_log_conn(conn, "connect");
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

/* True when the result is a success of any kind that carries no error. */
static int db_result_ok(const PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

PGresult *db_query(PGconn *conn, const char *what, const char *sql,
                   int nparams, const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL,
                                 NULL, 0);
    if (res == NULL) {
        db_log_conn(conn, what);
        return NULL;
    }
    if (!db_result_ok(res)) {
        db_log_result(res, what);
        PQclear(res);
        return NULL;
    }
    return res;
}

int db_exec(PGconn *conn, const char *what, const char *sql, int nparams,
            const char *const *params)
{
    PGresult *res = db_query(conn, what, sql, nparams, params);
    if (res == NULL)
        return DB_ERROR;
    PQclear(res);
    return DB_OK;
}

/* 1-based line of the pos-th character (1-based) of script, 0 if unknown. */
static int db_script_line(const char *script, const char *pos_text)
{
    long pos = pos_text ? strtol(pos_text, NULL, 10) : 0;
    int line = 1;
    if (pos <= 0)
        return 0;
    for (const char *p = script; *p != '\0' && pos > 1; p++) {
        if (((unsigned char)*p & 0xC0) == 0x80)
            continue;                   /* not the start of a character */
        if (*p == '\n')
            line++;
        pos--;
    }
    return line;
}

int db_exec_script(PGconn *conn, const char *what, const char *script)
{
    PGresult *res = PQexec(conn, script);
    if (res == NULL) {
        db_log_conn(conn, what);
        return DB_ERROR;
    }
    if (db_result_ok(res)) {
        PQclear(res);
        return DB_OK;
    }
    int line = db_script_line(
        script, PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION));
    if (line > 0) {
        char ctx[512];
        snprintf(ctx, sizeof ctx, "%s, line %d", what, line);
        db_log_result(res, ctx);
    } else {
        db_log_result(res, what);
    }
    PQclear(res);
    return DB_ERROR;
}
