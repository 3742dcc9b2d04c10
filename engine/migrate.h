/*
 * migrate.h -- brings a PostgreSQL database to the schema of sql/.
 *
 * A migration is a file NNN_name.sql of the folder (NNN: decimal version,
 * any number of digits; name: letters, digits, '_' or '-'). Other files
 * (README.md) are ignored. Files are applied in increasing version order,
 * each in its own transaction together with its row in schema_migrations
 * (version, name, checksum = md5 of the file text, applied_at), so a
 * migration is either entirely applied and recorded or not at all.
 * A migration file must not contain BEGIN/COMMIT/ROLLBACK.
 *
 * Safe to run again: recorded versions are skipped. Safe to run from
 * several processes at once: the whole run holds the session advisory lock
 * (1097887596, 1); a second runner waits, then finds everything applied.
 *
 * Refusals (ECHANGED and EMISSING apply nothing, the database is left
 * as it was):
 *   MIGRATE_ECHANGED  a recorded version's file no longer has the recorded
 *                     checksum (applied migrations are immutable: add a new
 *                     one instead of editing an old one)
 *   MIGRATE_EMISSING  the database has a version the folder lacks (an older
 *                     release against a newer database), or a pending
 *                     version is lower than one already applied
 *   MIGRATE_ERROR     the folder cannot be read, two files share a version,
 *                     or PostgreSQL failed (connection, a statement of a
 *                     migration: that migration is rolled back, those before
 *                     it stay applied; a file that commits by itself is
 *                     refused and not recorded, but what followed its
 *                     COMMIT cannot be undone)
 * A runner waits as long as another holds the lock (no timeout: set
 * lock_timeout on the connection to bound it).
 * Every failure is logged once (shm/log.h, mod=migrate or mod=db) with the
 * file and the cause; each applied file is logged at level info.
 */
#ifndef APOLO_MIGRATE_H
#define APOLO_MIGRATE_H

#include <libpq-fe.h>

enum {
    MIGRATE_OK = 0,
    MIGRATE_ERROR = -1,
    MIGRATE_ECHANGED = -2,
    MIGRATE_EMISSING = -3
};

/*
 * Applies the pending migrations of sql_dir on conn, which must be idle
 * (not inside a transaction). *applied_count (may be NULL) receives how
 * many migrations this call applied and committed, also on failure.
 * Returns MIGRATE_OK or one of the errors above. conn stays open and idle,
 * and its advisory lock is released, whatever the outcome (unless the
 * connection itself was lost).
 */
int migrate_apply(PGconn *conn, const char *sql_dir, int *applied_count);

#endif
