/*
 * db.h -- the few libpq helpers every PostgreSQL user of the engine shares:
 * connect with a clear error, run a statement and report its failure once,
 * with the caller's context.
 *
 * Only the supervisor and the admin process talk to PostgreSQL (workers
 * never do). A PGconn is not thread safe: one thread at a time per
 * connection, and a forked child must open its own.
 *
 * Errors are logged here, once (shm/log.h, mod=db, "<what>: <message>"),
 * where `what` is the caller's description of the step ("migration
 * 002_rating.sql", "flush cdrs"); callers pass the status up without logging
 * it again. Values always travel as parameters (PQexecParams), never
 * spliced into SQL text.
 */
#ifndef APOLO_DB_H
#define APOLO_DB_H

#include <libpq-fe.h>

enum { DB_OK = 0, DB_ERROR = -1 };

/*
 * Opens a connection from a conninfo string or URL ("postgresql:///apolo?
 * host=/run/pg", "host=... dbname=..."); NULL or "" means libpq's defaults
 * (PGHOST, PGDATABASE, ...). app_name (may be NULL) is shown in
 * pg_stat_activity. Returns the connection, or NULL after logging why
 * (the conninfo itself is not logged: it may hold a password).
 * The caller owns the connection and closes it with PQfinish().
 */
PGconn *db_connect(const char *conninfo, const char *app_name);

/*
 * Runs one statement with nparams text parameters ($1..$n; a NULL entry is
 * SQL NULL). Returns DB_OK when the server reports success (a command or
 * rows, which are discarded), else DB_ERROR after logging `what` and the
 * server's message. A failure inside a transaction block leaves it aborted:
 * the caller rolls back.
 */
int db_exec(PGconn *conn, const char *what, const char *sql, int nparams,
            const char *const *params);

/*
 * Like db_exec, but returns the result for the caller to read and
 * PQclear(), or NULL after logging the failure.
 */
PGresult *db_query(PGconn *conn, const char *what, const char *sql,
                   int nparams, const char *const *params);

/*
 * Runs a script of several statements without parameters (a migration
 * file: trusted text from the installation, never built from values).
 * Returns DB_OK or DB_ERROR after logging `what`, the message and, when
 * the server gives it, the line of the script that failed.
 */
int db_exec_script(PGconn *conn, const char *what, const char *script);

#endif
