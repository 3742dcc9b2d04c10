/*
 * supervisor.c -- apolod's supervisor: start-up, the main loop, reload and
 * stop (see supervisor.h).
 *
 * The supervisor touches rating data as little as it can (PostgreSQL's
 * postmaster rule): it builds and publishes versions, recovers what dead
 * children left, and otherwise only syncs the journal and watches.
 *
 * Signals: SIGTERM, SIGINT, SIGHUP and SIGCHLD stay blocked except inside
 * ppoll(), whose mask unblocks them, and their handlers only set flags
 * (nginx's master cycle). So every reaction happens in the loop, at one
 * known point, never in the middle of a load or a fork.
 *
 * NOTES
 * - The initial load runs in the main thread, before anything is forked;
 *   later reloads run in the job thread (sup_job.h) so that the journal
 *   keeps being synced meanwhile. pub_reclaim is skipped while a job runs:
 *   the job owns the pub_t.
 * - The journal is flock()ed for the lifetime of the supervisor *and* of
 *   its children (they inherit the fd): a new apolod cannot start on the
 *   same journal while orphans of a killed one still write into it.
 * - A stuck reader is measured from the first tick it was seen blocking
 *   reclamation, killed once, and reclaimed only after it is reaped
 *   (qsbr.h: only reaping proves it will not read again).
 */
#include "engine/supervisor.h"
#include "engine/db.h"
#include "engine/load.h"
#include "engine/migrate.h"
#include "engine/notify.h"
#include "engine/sup_int.h"
#include "shm/account.h"
#include "shm/calls.h"
#include "shm/catalog.h"
#include "shm/log.h"
#include "shm/qsbr.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SUP_DAY_MS          (24LL * 3600 * 1000)
#define SUP_LOCK_WAIT_MS    5000
#define SUP_MAX_POLL        (1 + 1 + SUP_CLIENTS + 64)

static volatile sig_atomic_t sig_stop, sig_hup, sig_chld;

static void sup_on_signal(int sig)
{
    if (sig == SIGHUP)
        sig_hup = 1;
    else if (sig == SIGCHLD)
        sig_chld = 1;
    else
        sig_stop = sig;
}

/* Blocks the loop's signals, installs their flag handlers; *wait_mask gets
 * the mask ppoll runs with (the same signals unblocked). */
static void sup_signals(sigset_t *wait_mask)
{
    static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
    struct sigaction sa;
    sigset_t block;

    sigemptyset(&block);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&block, sigs[i]);
    sigprocmask(SIG_BLOCK, &block, wait_mask);
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = sup_on_signal;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        sigaction(sigs[i], &sa, NULL);
        sigdelset(wait_mask, sigs[i]);
    }
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

/* mkdir -p of the folder that holds file. */
static void sup_mkdirs_for(const char *file)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", file);
    char *slash = strrchr(buf, '/');
    if (slash == NULL || slash == buf)
        return;
    *slash = '\0';
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    mkdir(buf, 0755);
}

const char *sup_sql_dir(const conf_t *c, const char *datadir, char *buf,
                        size_t cap)
{
    const char *d = conf_str(c, "sql_dir");
    struct stat st;
    if (strcmp(d, "sql") == 0 && datadir != NULL
        && (stat(d, &st) != 0 || !S_ISDIR(st.st_mode)))
        snprintf(buf, cap, "%s/sql", datadir);
    else
        snprintf(buf, cap, "%s", d);
    return buf;
}

/* ---- start-up ---------------------------------------------------------- */

static int sup_database(sup_t *s, const char *sql_dir)
{
    int applied = 0;
    s->db = db_connect(conf_str(&s->conf, "database_url"), "apolod");
    if (s->db == NULL)
        return 1;
    int rc = migrate_apply(s->db, sql_dir, &applied);
    if (rc != MIGRATE_OK)
        return rc == MIGRATE_ERROR ? 1 : 2;
    LOG_INFO("supervisor", "schema up to date (%s, %d migration(s) applied)",
             sql_dir, applied);
    if (job_housekeeping(s->db, s->conf.admin_idempotency_days) != 0)
        return 1;
    return 0;
}

/* flock(journal.path), waiting a little for the orphans of a killed
 * supervisor to finish exiting. */
static int sup_lock_journal(sup_t *s)
{
    const char *path = conf_str(&s->conf, "journal.path");
    sup_mkdirs_for(path);
    s->jrn_lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->jrn_lock_fd < 0) {
        LOG_ERROR("supervisor", errno, "open(%s) failed", path);
        return 1;
    }
    for (int64_t t0 = mono_ms();;) {
        if (flock(s->jrn_lock_fd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK || mono_ms() - t0 > SUP_LOCK_WAIT_MS) {
            LOG_ERROR("supervisor", errno, "journal %s is locked by another "
                      "apolod (or by the children of one still exiting)",
                      path);
            return 1;
        }
        usleep(100 * 1000);
    }
}

static int sup_region(sup_t *s)
{
    load_stats_t st;
    region_config_t cfg = {
        .max_readers = (uint32_t)s->conf.region_max_readers,
        .max_accounts = (uint32_t)s->conf.region_max_accounts,
        .heap_bytes = (uint64_t)s->conf.region_heap_mb << 20 };
    int rc = region_create(&s->region, &cfg);
    if (rc != REGION_OK)
        return rc == REGION_EINVAL ? 2 : 1;
#ifdef NDEBUG
    s->pub = pub_new(&s->region, 0);
#else
    s->pub = pub_new(&s->region, PUB_POISON);   /* catch use-after-reclaim */
#endif
    if (s->pub == NULL) {
        LOG_ERROR("supervisor", 0, "pub_new() failed: out of memory");
        return 1;
    }
    if (load_all(s->db, &s->region, s->pub, &st) != LOAD_OK)
        return 1;
    s->catalog_version = st.catalog_version;
    return 0;
}

/* drained[i] from journal_position rows 'ring:<i>'. 0 or an exit code. */
static int sup_positions(sup_t *s, uint64_t *drained, uint32_t nrings)
{
    PGresult *r = db_query(s->db, "read journal positions",
                           "SELECT name, drained_seq FROM journal_position "
                           "WHERE name LIKE 'ring:%'", 0, NULL);
    if (r == NULL)
        return 1;
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        const char *name = PQgetvalue(r, i, 0);
        unsigned long long seq = strtoull(PQgetvalue(r, i, 1), NULL, 10);
        unsigned ring;
        char extra;
        if (sscanf(name, "ring:%u%c", &ring, &extra) != 1) {
            LOG_WARN("supervisor", 0, "journal_position \"%s\" ignored: not "
                     "ring:<n>", name);
        } else if (ring < nrings) {
            drained[ring] = seq;
        } else if (seq > 0) {
            LOG_ERROR("supervisor", 0, "journal_position %s = %llu: beyond "
                      "journal.rings = %u (the journal was written with "
                      "more rings)", name, seq, nrings);
            rc = 2;
        }
    }
    PQclear(r);
    return rc;
}

static int sup_journal(sup_t *s)
{
    uint32_t nrings = (uint32_t)s->conf.journal_rings;
    uint64_t replayed = 0, *drained = calloc(nrings, sizeof *drained);
    if (drained == NULL)
        return 1;
    int rc = jrn_open(&s->jrn, conf_str(&s->conf, "journal.path"), nrings,
                      (uint32_t)s->conf.journal_slots,
                      (int)s->conf.journal_sync_ms);
    if (rc != JRN_OK) {
        free(drained);
        return rc == JRN_ECORRUPT || rc == JRN_EINVAL ? 2 : 1;
    }
    rc = sup_positions(s, drained, nrings);
    if (rc == 0) {
        int jr = jrn_replay(&s->jrn, region_area(&s->region,
                            REGION_AREA_ACCOUNTS), cat_current(&s->region),
                            drained, &replayed);
        rc = jr == JRN_OK ? 0 : jr == JRN_ECORRUPT ? 2 : 1;
    }
    free(drained);
    if (rc == 0)
        LOG_INFO("supervisor", "journal %s: %llu undrained movement(s) "
                 "replayed onto the balances", conf_str(&s->conf,
                 "journal.path"), (unsigned long long)replayed);
    return rc;
}

/* The calls table, after the balances are whole again: what the previous
 * apolod left live gets its reservation back before any worker runs. */
static int sup_calls(sup_t *s)
{
    int rc = calls_open(conf_str(&s->conf, "calls.path"),
                        (uint32_t)s->conf.calls_max, &s->calls);
    if (rc != CALLS_OK)
        return rc == CALLS_EMISMATCH ? 2 : 1;
    calls_restore(s->calls, &s->jrn,
                  region_area(&s->region, REGION_AREA_ACCOUNTS),
                  cat_current(&s->region));
    return 0;
}

/* The CUCM calls billed, from what is durable: PostgreSQL's and the
 * journal's (shm/seen.h). Before any child runs. */
static int sup_seen(sup_t *s)
{
    uint64_t from_db = 0;
    int64_t horizon = (int64_t)time(NULL) - s->conf.cucm_dedupe_days * 86400;
    if (seen_open((uint64_t)s->conf.cucm_dedupe_entries, &s->seen) != 0)
        return 1;
    if (load_seen(s->db, s->seen, horizon, &from_db) != LOAD_OK)
        return 1;
    int64_t from_jrn = seen_load_journal(s->seen, &s->jrn, horizon);
    if (from_jrn < 0) {
        LOG_ERROR("supervisor", 0, "cucm.dedupe_entries is too small for "
                  "the CUCM calls of cucm.dedupe_days");
        return 1;
    }
    if (from_db + (uint64_t)from_jrn > 0)
        LOG_INFO("supervisor", "CUCM calls billed: %llu from PostgreSQL, "
                 "%lld from the journal", (unsigned long long)from_db,
                 (long long)from_jrn);
    return 0;
}

/* Warnings for sizes that will bite later, not errors. */
static void sup_check_sizes(const sup_t *s)
{
    int64_t producers = s->conf.loadgen_count + 2;
    if (s->conf.journal_rings < producers)
        LOG_WARN("supervisor", 0, "journal.rings = %lld for about %lld "
                 "producers: some may find no ring",
                 (long long)s->conf.journal_rings, (long long)producers);
    if (s->conf.region_max_readers < producers + 8)
        LOG_WARN("supervisor", 0, "region.max_readers = %lld is tight for "
                 "%lld worker(s) and the admin's threads",
                 (long long)s->conf.region_max_readers,
                 (long long)producers);
}

static int sup_start(sup_t *s, const char *sql_dir,
                     const child_kind_t *kinds, size_t nkinds)
{
    int64_t notify = 1;
    int rc;
    conf_int(&s->conf, "supervisor.notify", 0, 1, 1, &notify, NULL);
    if (!notify)
        unsetenv("NOTIFY_SOCKET");      /* sup_notify then does nothing */
    sup_check_sizes(s);
    if ((rc = sup_database(s, sql_dir)) || (rc = sup_lock_journal(s))
        || (rc = sup_region(s)) || (rc = sup_journal(s))
        || (rc = sup_calls(s)) || (rc = sup_seen(s))
        || (rc = sup_ctl_open(s)))
        return rc;
    if (job_init(&s->job, s->db, &s->region, s->pub) != 0)
        return 1;
    s->job.keep_keys_days = s->conf.admin_idempotency_days;
    s->job_ok = 1;
    child_env_t env = { .region = &s->region, .jrn = &s->jrn,
                        .calls = s->calls, .seen = s->seen,
                        .conf = &s->conf, .keep_fd = s->jrn_lock_fd,
                        .supervisor = getpid() };
    if (children_init(&s->kids, kinds, nkinds, &env) != 0)
        return 1;
    s->last_sync_ms = mono_ms();
    s->next_partitions_ms = s->last_sync_ms + SUP_DAY_MS;
    children_start_due(&s->kids, s->last_sync_ms);
    s->ready = 1;
    sup_notify("READY=1");
    LOG_INFO("supervisor", "ready: catalog %llu, %zu child(ren), ctl %s",
             (unsigned long long)s->catalog_version, s->kids.n,
             s->ctl.lfd >= 0 ? s->ctl.path : "(none)");
    return 0;
}

/* ---- reload ------------------------------------------------------------ */

static int sup_wait_add(sup_waiter_t *v, int *n, const sup_waiter_t *w)
{
    if (w == NULL)
        return 0;
    if (*n == SUP_WAITERS) {
        ctl_reply(w->fd, w->id, "error busy: too many reload requests");
        return -1;
    }
    v[(*n)++] = *w;
    return 0;
}

static void sup_start_reload(sup_t *s)
{
    if (job_start(&s->job, JOB_RELOAD) != 0) {
        sup_ctl_job_done(s, "error cannot start a reload");
        return;
    }
    sup_notify("RELOADING=1");
}

void sup_reload_request(sup_t *s, const sup_waiter_t *w)
{
    if (!s->job.running) {
        if (sup_wait_add(s->ctl.cur, &s->ctl.ncur, w) == 0)
            sup_start_reload(s);
        return;
    }
    if (sup_wait_add(s->ctl.next, &s->ctl.nnext, w) == 0)
        s->reload_pending = 1;
}

static void sup_reload_result(sup_t *s)
{
    char text[128];
    if (s->job.rc == 0) {
        s->catalog_version = s->job.stats.catalog_version;
        s->reloads++;
        LOG_INFO("supervisor", "reload done in %lld ms: catalog %llu",
                 (long long)s->job.took_ms,
                 (unsigned long long)s->catalog_version);
        snprintf(text, sizeof text, "ok %llu",
                 (unsigned long long)s->catalog_version);
    } else {
        s->reload_failures++;
        LOG_ERROR("supervisor", 0, "reload failed after %lld ms: catalog %llu"
                  " stays current", (long long)s->job.took_ms,
                  (unsigned long long)s->catalog_version);
        snprintf(text, sizeof text, "error reload failed, catalog %llu stays "
                 "current (see the supervisor's log)",
                 (unsigned long long)s->catalog_version);
    }
    sup_ctl_job_done(s, text);
    sup_notify("READY=1");
}

static void sup_job_done(sup_t *s)
{
    if (!job_finish(&s->job))
        return;
    if (s->job.kind == JOB_RELOAD) {
        sup_reload_result(s);
    } else {
        if (s->job.rc != 0)
            LOG_WARN("supervisor", 0, "daily housekeeping failed: "
                     "retried tomorrow (rows land in the default partition)");
        sup_ctl_job_done(s, NULL);
    }
    if (s->stopping) {
        sup_ctl_fail_all(s, "stopping");
    } else if (s->reload_pending) {
        s->reload_pending = 0;
        sup_start_reload(s);
    }
}

/* SIGHUP: the file again (live keys now, others at restart), then the
 * configuration in PostgreSQL. A file that does not parse changes nothing. */
static void sup_hup(sup_t *s)
{
    conf_t next;
    conf_err_t err;
    char restart[512];

    if (conf_load(&next, s->conf_path, &err) != CONF_OK) {
        LOG_ERROR("supervisor", 0, "SIGHUP: configuration refused, the "
                  "running one stays: %s", err.msg);
        return;
    }
    int n = conf_apply_live(&s->conf, &next, restart, sizeof restart);
    conf_free(&next);
    if (n < 0) {
        LOG_ERROR("supervisor", 0, "SIGHUP: out of memory applying the "
                  "configuration");
        return;
    }
    log_level = (log_level_t)s->conf.log_level;
    children_signal(&s->kids, SIGHUP);
    if (n > 0)
        LOG_WARN("supervisor", 0, "SIGHUP: %d changed key(s) take effect at "
                 "the next restart of apolod: %s", n, restart);
    LOG_INFO("supervisor", "SIGHUP: configuration re-read (log_level %s); "
             "reloading from PostgreSQL", conf_str(&s->conf, "log_level"));
    sup_reload_request(s, NULL);
}

/* ---- the tick ---------------------------------------------------------- */

static void sup_sync(sup_t *s, int64_t now)
{
    if (s->conf.journal_sync_ms > 0
        && now - s->last_sync_ms < s->conf.journal_sync_ms)
        return;
    jrn_sync(&s->jrn);
    s->last_sync_ms = now;
}

static void sup_kill_stuck(sup_t *s, pid_t holder, int64_t held_ms)
{
    child_t *c = children_find(&s->kids, holder);
    s->stuck_killed = holder;
    if (c == NULL) {
        LOG_ERROR("supervisor", 0, "pid %d (not a child of this supervisor) "
                  "has held a retired version for %lld ms: memory cannot be "
                  "reclaimed until it exits", (int)holder, (long long)held_ms);
        return;
    }
    LOG_ERROR("supervisor", 0, "%s (pid %d) has held a retired version for "
              "%lld ms without a quiescent point: killing it", c->name,
              (int)holder, (long long)held_ms);
    kill(holder, SIGKILL);
}

static void sup_reclaim(sup_t *s, int64_t now)
{
    pid_t holder = 0;
    if (s->job.running)
        return;
    if (pub_reclaim(s->pub, &holder) == 0 || holder <= 0) {
        s->stuck_pid = 0;
        return;
    }
    if (holder != s->stuck_pid) {
        s->stuck_pid = holder;
        s->stuck_since_ms = now;
        return;
    }
    int64_t held = now - s->stuck_since_ms;
    if (held >= s->conf.stuck_reader_ms && holder != s->stuck_killed)
        sup_kill_stuck(s, holder, held);
}

static void sup_reap(sup_t *s, int64_t now)
{
    acct_shm_t *a = region_area(&s->region, REGION_AREA_ACCOUNTS);
    qsbr_shm_t *q = region_area(&s->region, REGION_AREA_QSBR);
    int st;
    pid_t pid;

    sig_chld = 0;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        /* The calls first: they read the dead worker's journal ring, which
         * jrn_recover_pid then frees for others (calls.h). */
        calls_recover_pid(s->calls, &s->jrn, pid);
        seen_recover_pid(s->seen, &s->jrn, pid);
        jrn_recover_pid(&s->jrn, a, pid);
        qsbr_forget_pid(q, pid);
        if (pid == s->stuck_pid)
            s->stuck_pid = 0;
        if (pid == s->stuck_killed)
            s->stuck_killed = 0;
        child_t *c = children_find(&s->kids, pid);
        if (c == NULL)
            continue;
        if (c->ctl_fd >= 0)
            sup_ctl_drop_fd(s, c->ctl_fd);
        children_ended(&s->kids, c, st, s->stopping, now,
                       s->conf.restart_backoff_max_ms);
    }
}

static void sup_partitions(sup_t *s, int64_t now)
{
    if (s->job.running || s->stopping || now < s->next_partitions_ms)
        return;
    s->next_partitions_ms = now + SUP_DAY_MS;
    job_start(&s->job, JOB_PARTITIONS);
}

/* ---- stop -------------------------------------------------------------- */

static void sup_begin_stop(sup_t *s, int64_t now)
{
    s->stopping = 1;
    s->stop_deadline_ms = now + SUP_STOP_TIMEOUT_MS;
    sup_notify("STOPPING=1");
    int n = children_signal_group(&s->kids, SIGTERM, 0);
    LOG_INFO("supervisor", "SIG%s: stopping, SIGTERM sent to %d worker(s); "
             "the admin process follows once they are gone",
             sigabbrev_np(sig_stop) ? sigabbrev_np(sig_stop) : "?", n);
    if (s->job.running)
        job_cancel(&s->job);
    sup_ctl_fail_all(s, "stopping");
}

/* 1 when everything has ended (or must be abandoned). Producers stop
 * first; the stop_last group (the admin, whose flusher drains once more on
 * its way out) only when they are gone, so that last drain misses nothing. */
static int sup_stopped(sup_t *s, int64_t now)
{
    if (!s->last_signalled && children_running_group(&s->kids, 0) == 0) {
        children_signal_group(&s->kids, SIGTERM, 1);
        s->last_signalled = 1;
    }
    int running = children_running(&s->kids);
    if (running == 0 && !s->job.running)
        return 1;
    if (!s->killed && now >= s->stop_deadline_ms && running > 0) {
        LOG_WARN("supervisor", 0, "%d child(ren) still running after %d ms: "
                 "SIGKILL", running, SUP_STOP_TIMEOUT_MS);
        children_signal(&s->kids, SIGKILL);
        s->killed = 1;
    }
    if (now >= s->stop_deadline_ms + 5000 && running == 0) {
        LOG_ERROR("supervisor", 0, "the reload job does not end: exiting "
                  "without it (nothing was published)");
        return 1;
    }
    return 0;
}

static void sup_cleanup(sup_t *s)
{
    if (s->jrn.base != NULL) {
        jrn_sync(&s->jrn);
        jrn_close(&s->jrn);
    }
    calls_close(s->calls);
    s->calls = NULL;
    seen_close(s->seen);
    s->seen = NULL;
    sup_ctl_close(s);
    children_free(&s->kids);
    if (s->job.running)
        return;              /* abandoned: the thread may still use them */
    if (s->job_ok)
        job_destroy(&s->job);
    pub_delete(s->pub);
    if (s->region.base != NULL)
        region_destroy(&s->region);
    if (s->db != NULL)
        PQfinish(s->db);
    if (s->jrn_lock_fd >= 0)
        close(s->jrn_lock_fd);
    conf_free(&s->conf);
}

/* ---- the loop ---------------------------------------------------------- */

static void sup_loop(sup_t *s, const sigset_t *wait_mask)
{
    struct pollfd p[SUP_MAX_POLL];
    const struct timespec tick = { 0, SUP_TICK_MS * 1000000L };

    for (;;) {
        memset(p, 0, sizeof p);
        int n = sup_ctl_pollfds(s, p + 1, SUP_MAX_POLL - 1) + 1;
        p[0] = (struct pollfd){ .fd = s->job.efd, .events = POLLIN };
        int r = ppoll(p, (nfds_t)n, &tick, wait_mask);
        int64_t now = mono_ms();
        if (sig_stop && !s->stopping)
            sup_begin_stop(s, now);
        if (sig_hup) {
            sig_hup = 0;
            if (!s->stopping)
                sup_hup(s);
        }
        sup_reap(s, now);
        sup_job_done(s);
        if (r > 0)
            sup_ctl_serve(s, p + 1, n - 1, now);
        sup_sync(s, now);
        sup_reclaim(s, now);
        sup_partitions(s, now);
        if (!s->stopping)
            children_start_due(&s->kids, now);
        else if (sup_stopped(s, now))
            return;
    }
}

int sup_run(conf_t *c, const char *conf_path, const char *sql_dir,
            const child_kind_t *kinds, size_t nkinds)
{
    static sup_t sup;               /* one per process; big, not on stack */
    sup_t *s = &sup;
    sigset_t wait_mask;

    memset(s, 0, sizeof *s);
    s->conf = *c;
    s->conf_path = conf_path;
    s->jrn_lock_fd = -1;
    s->jrn.fd = -1;
    s->ctl.lfd = -1;
    log_level = (log_level_t)s->conf.log_level;
    sup_signals(&wait_mask);
    LOG_INFO("supervisor", "starting (pid %d, config %s)", (int)getpid(),
             conf_path ? conf_path : "(none: defaults and environment)");
    int rc = sup_start(s, sql_dir, kinds, nkinds);
    if (rc == 0) {
        sup_loop(s, &wait_mask);
        LOG_INFO("supervisor", "stopped cleanly");
    } else {
        LOG_ERROR("supervisor", 0, "start-up failed: exit %d", rc);
    }
    sup_cleanup(s);
    return rc;
}

int sup_migrate(const conf_t *c, const char *sql_dir)
{
    sup_t s;
    memset(&s, 0, sizeof s);
    s.conf = *c;
    int rc = sup_database(&s, sql_dir);
    if (s.db != NULL)
        PQfinish(s.db);
    return rc;
}
