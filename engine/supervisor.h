/*
 * supervisor.h -- apolod's supervisor: the process that maps the shared
 * region and the journal, loads them, forks the children and keeps them
 * running (DESIGN.md "Processes"; nginx's master and PostgreSQL's
 * postmaster are the models).
 *
 * Start-up, in this order (each step's failure is logged once and ends
 * the run with the exit code given):
 *
 *   configuration (conf.h)                                      2
 *   PostgreSQL: connect, migrations of sql_dir, partitions       1 (2: a
 *                                          migration refused as changed)
 *   journal lock: flock(journal.path) -- one apolod per journal  1
 *   region_create (region.*), pub_new, load_all                   1 (2: bad sizes)
 *   jrn_open, journal_position ('ring:<i>' -> drained_seq),
 *   jrn_replay (undrained movements onto the loaded balances)     2 corrupt, else 1
 *   ctl.socket (ctl.h), children forked, READY=1 (sd_notify), log "ready"
 *
 * Main loop (signal handlers only set flags; ppoll with a 10 ms tick):
 * jrn_sync every journal.sync_ms; pub_reclaim, killing a reader that holds
 * a retired version longer than supervisor.stuck_reader_ms; reap children
 * (jrn_recover_pid, qsbr_forget_pid, restart per proc.h with backoff);
 * answer control requests; SIGHUP re-reads the file (live keys applied,
 * others reported as needing a restart) and reloads from PostgreSQL (a
 * file that does not parse changes nothing, and nothing is reloaded);
 * SIGTERM/SIGINT stop: SIGTERM to the workers, then (once they are gone)
 * to the admin process, whose flusher drains the journal a last time; up
 * to 10 s in all, then SIGKILL; a last jrn_sync; exit 0.
 */
#ifndef APOLO_SUPERVISOR_H
#define APOLO_SUPERVISOR_H

#include "engine/children.h"
#include "shm/conf.h"

#include <stddef.h>

#define SUP_TICK_MS          10
#define SUP_STOP_TIMEOUT_MS  10000

/*
 * Runs the supervisor with the configuration c (taken over: freed at the
 * end) read from conf_path (NULL: none; SIGHUP re-reads the same), the
 * migrations of sql_dir (sup_sql_dir), and kinds: the children to fork, in
 * order. Returns the process exit code: 0 after a clean stop, 1 for a
 * failure a restart may fix, 2 for one it cannot (configuration, a
 * changed migration, a corrupt journal).
 */
int sup_run(conf_t *c, const char *conf_path, const char *sql_dir,
            const child_kind_t *kinds, size_t nkinds);

/* The migrations folder: sql_dir, or datadir/sql when sql_dir is the
 * default "sql" and no such folder exists here. Writes into buf. */
const char *sup_sql_dir(const conf_t *c, const char *datadir, char *buf,
                        size_t cap);

/* `apolod migrate`: connect, apply the migrations, create partitions.
 * Exit code as above. */
int sup_migrate(const conf_t *c, const char *sql_dir);

#endif
