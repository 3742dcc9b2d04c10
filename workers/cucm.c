/*
 * cucm.c -- the CUCM worker process: its folder, the files in it, and
 * what happens to each (see cucm.h). The billing of one record is
 * cucm_bill.c.
 *
 * The folder is watched with inotify (IN_CLOSE_WRITE, IN_MOVED_TO: a file
 * is complete) and scanned every cucm.rescan_ms anyway, because inotify
 * can overflow and does not work on every file system. A file is taken
 * when an event said it was closed after writing and its size has not
 * changed since, or when its size and time held for cucm.stable_ms.
 */
#include "shm/clock.h"
#include "shm/log.h"
#include "workers/cucm_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CUCM_MAX_FILES    4096       /* tracked at once; more wait a scan */
#define CUCM_REPORT_LINES 1000       /* lines named in a report; then a
                                        count */
#define CUCM_QUIESCE_EVERY 256       /* records between QSBR quiescent
                                        points and stop checks */
#define CUCM_SYNC_WAIT_MS 10000

typedef struct cucm_file {
    char     name[NAME_MAX + 1];
    off_t    size;
    int64_t  mtime_ns;
    int64_t  since_ms;               /* size and time unchanged since */
    uint8_t  closed;                 /* inotify: closed after writing */
    uint8_t  seen;                   /* present in the last scan */
} cucm_file_t;

typedef struct cucm_dir {
    cucm_file_t *f;
    size_t       n;
    int          ino;                /* inotify fd, -1: scans only */
} cucm_dir_t;

/* A report being written for one file. */
typedef struct cucm_report {
    FILE    *fp;
    char     path[PATH_MAX];
    uint64_t lines;
} cucm_report_t;

/* ---- configuration ----------------------------------------------------------- */

int cucm_dir(const conf_t *conf, int i, char *out, size_t cap)
{
    const char *p = conf_str(conf, "cucm.dirs");
    for (int k = 1; p != NULL && *p; k++) {
        size_t n = strcspn(p, ",");
        const char *s = p, *e = p + n;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (k == i) {
            if (e == s || (size_t)(e - s) >= cap)
                return -1;
            memcpy(out, s, (size_t)(e - s));
            out[e - s] = '\0';
            return 0;
        }
        p += n + (p[n] == ',');
    }
    return -1;
}

int cucm_dir_count(const conf_t *conf)
{
    const char *list = conf_str(conf, "cucm.dirs");
    char d[PATH_MAX / 2];
    if (list == NULL || strspn(list, " \t") == strlen(list))
        return 0;
    int n = 1;
    for (const char *p = list; (p = strchr(p, ',')) != NULL; p++)
        n++;
    for (int i = 1; i <= n; i++)
        if (cucm_dir(conf, i, d, sizeof d) != 0) {
            LOG_ERROR("cucm", 0, "cucm.dirs: folder %d is empty or longer "
                      "than %zu bytes", i, sizeof d - 1);
            return -1;
        }
    return n;
}

/* ---- files ---------------------------------------------------------------------- */

static cucm_file_t *cucm_track(cucm_dir_t *d, const char *name)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->f[i].name, name) == 0)
            return &d->f[i];
    if (d->n == CUCM_MAX_FILES || strlen(name) > NAME_MAX)
        return NULL;
    cucm_file_t *f = &d->f[d->n++];
    memset(f, 0, sizeof *f);
    strcpy(f->name, name);
    f->size = -1;
    return f;
}

static void cucm_untrack(cucm_dir_t *d, cucm_file_t *f)
{
    *f = d->f[--d->n];
}

/* Reads the inotify events: marks files closed after writing. */
static void cucm_events(cucm_worker_t *w, cucm_dir_t *d)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    while ((n = read(d->ino, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (ev->mask & IN_Q_OVERFLOW)
                LOG_WARN("cucm", 0, "%s: inotify overflow; the next scan "
                         "finds what was missed", w->dir);
            if (ev->len == 0 || !(ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)))
                continue;
            if (ev->name[0] == '_' || ev->name[0] == '.')
                continue;
            cucm_file_t *f = cucm_track(d, ev->name);
            if (f != NULL)
                f->closed = 1;
        }
    }
}

/* Scans the folder: every regular file not being written, with its size
 * and time; a change resets its stability clock. */
static int cucm_scan(cucm_worker_t *w, cucm_dir_t *d, int64_t now)
{
    DIR *dp = opendir(w->dir);
    struct dirent *de;
    if (dp == NULL) {
        LOG_ERROR("cucm", errno, "cannot read folder %s", w->dir);
        return -1;
    }
    for (size_t i = 0; i < d->n; i++)
        d->f[i].seen = 0;
    while ((de = readdir(dp)) != NULL) {
        struct stat st;
        if (de->d_name[0] == '_' || de->d_name[0] == '.')
            continue;                /* CUCM still writing; hidden */
        if (fstatat(dirfd(dp), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0
            || !S_ISREG(st.st_mode))
            continue;
        cucm_file_t *f = cucm_track(d, de->d_name);
        if (f == NULL)
            continue;
        int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000
                     + st.st_mtim.tv_nsec;
        if (f->size != st.st_size || f->mtime_ns != mt) {
            if (f->size >= 0)
                f->closed = 0;       /* written again since the event */
            f->size = st.st_size;
            f->mtime_ns = mt;
            f->since_ms = now;
        }
        f->seen = 1;
    }
    closedir(dp);
    for (size_t i = 0; i < d->n;)
        if (!d->f[i].seen)
            cucm_untrack(d, &d->f[i]);
        else
            i++;
    return 0;
}

/* The next file ready to bill (the first by name), or NULL. */
static cucm_file_t *cucm_ready(const cucm_worker_t *w, cucm_dir_t *d,
                               int64_t now)
{
    cucm_file_t *best = NULL;
    int64_t stable = w->ctx->conf->cucm_stable_ms;
    for (size_t i = 0; i < d->n; i++) {
        cucm_file_t *f = &d->f[i];
        if (!f->seen || (!f->closed && now - f->since_ms < stable))
            continue;
        if (best == NULL || strcmp(f->name, best->name) < 0)
            best = f;
    }
    return best;
}

/* ---- reports and moves ------------------------------------------------------ */

static void cucm_report_line(cucm_report_t *rp, const char *dir,
                             const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void cucm_report_line(cucm_report_t *rp, const char *dir,
                             const char *name, const char *fmt, ...)
{
    va_list ap;
    if (rp->fp == NULL) {
        /* hidden: the scan skips it */
        snprintf(rp->path, sizeof rp->path, "%s/.%s.report", dir, name);
        if ((rp->fp = fopen(rp->path, "w")) == NULL) {
            LOG_ERROR("cucm", errno, "cannot write %s", rp->path);
            return;
        }
        fprintf(rp->fp, "file: %s\n", name);
    }
    if (++rp->lines > CUCM_REPORT_LINES)
        return;
    va_start(ap, fmt);
    vfprintf(rp->fp, fmt, ap);
    va_end(ap);
    fputc('\n', rp->fp);
}

/* Moves dir/name into dir/sub/ under the same name, or name.1, name.2 ...
 * when one is there already (a file delivered twice). The final name goes
 * to out. 0 or -1 (logged). */
static int cucm_move(const char *dir, const char *name, const char *sub,
                     char *out, size_t cap)
{
    char from[PATH_MAX], to[PATH_MAX];
    snprintf(from, sizeof from, "%s/%s", dir, name);
    for (unsigned k = 0; k < 1000; k++) {
        int n = k == 0 ? snprintf(to, sizeof to, "%s/%s/%s", dir, sub, name)
                       : snprintf(to, sizeof to, "%s/%s/%s.%u", dir, sub,
                                  name, k);
        if (n < 0 || (size_t)n >= sizeof to)
            break;
        if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) {
            snprintf(out, cap, "%s", strrchr(to, '/') + 1);
            return 0;
        }
        if (errno != EEXIST) {
            LOG_ERROR("cucm", errno, "cannot move %s to %s/", from, sub);
            return -1;
        }
    }
    LOG_ERROR("cucm", 0, "cannot move %s: %s/ holds 1000 files of its name",
              from, sub);
    return -1;
}

/* Closes the report and names it after the file's final name in sub/. */
static void cucm_report_close(cucm_report_t *rp, const char *dir,
                              const char *sub, const char *final,
                              const char *summary)
{
    char to[PATH_MAX];
    if (rp->fp == NULL)
        return;
    if (rp->lines > CUCM_REPORT_LINES)
        fprintf(rp->fp, "... and %" PRIu64 " more\n",
                rp->lines - CUCM_REPORT_LINES);
    fprintf(rp->fp, "%s\n", summary);
    int bad = fflush(rp->fp) != 0 || fsync(fileno(rp->fp)) != 0;
    fclose(rp->fp);
    rp->fp = NULL;
    snprintf(to, sizeof to, "%s/%s/%s.report", dir, sub, final);
    if (bad || rename(rp->path, to) != 0) {
        /* The file is billed and moved already: the report is lost, said
         * here with the summary, and its partial copy removed. */
        LOG_ERROR("cucm", errno, "cannot write the report %s (%s)", to,
                  summary);
        unlink(rp->path);
    }
}

/* Waits until the journal holds our records on disk: a file leaves the
 * folder only then (a power loss must not lose calls of a done file). */
static int cucm_synced(cucm_worker_t *w)
{
    int64_t t0 = clock_mono_ms();
    while (*(volatile uint64_t *)&w->w.ring->synced < w->last_seq) {
        if (*w->ctx->stop || clock_mono_ms() - t0 > CUCM_SYNC_WAIT_MS)
            return -1;
        qsbr_quiescent(&w->rd);
        usleep(1000);
    }
    return 0;
}

/* ---- one file ----------------------------------------------------------------- */

typedef enum { CF_DONE, CF_QUARANTINED, CF_LATER } cucm_file_rc_t;

static cucm_file_rc_t cucm_quarantine(cucm_worker_t *w, const char *name,
                                      const char *why, uint64_t line)
{
    cucm_report_t rp = { 0 };
    char final[NAME_MAX + 16];
    LOG_ERROR("cucm", 0, "%s/%s quarantined: %s", w->dir, name, why);
    cucm_report_line(&rp, w->dir, name, "error: %s", why);
    if (line > 0)
        cucm_report_line(&rp, w->dir, name, "line: %" PRIu64, line);
    if (cucm_move(w->dir, name, "quarantine", final, sizeof final) != 0) {
        if (rp.fp)
            fclose(rp.fp);
        unlink(rp.path);
        return CF_LATER;
    }
    cucm_report_close(&rp, w->dir, "quarantine", final,
                      "result: quarantined, nothing billed");
    return CF_QUARANTINED;
}

/* Bills every record of r: CF_DONE, or CF_LATER (stopped, or the set is
 * full: the file stays and is read again). */
static cucm_file_rc_t cucm_records(cucm_worker_t *w, cucm_cdr_reader_t *r,
                                   const char *name, cucm_report_t *rp,
                                   cucm_tally_t *t)
{
    cucm_cdr_t c;
    char why[256];
    int rc;
    uint64_t n = 0;

    while ((rc = cucm_cdr_next(r, &c)) != CUCM_CDR_EOF) {
        if (++n % CUCM_QUIESCE_EVERY == 0) {
            qsbr_quiescent(&w->rd);
            if (*w->ctx->stop)
                return CF_LATER;
        }
        STATS_INC(w->st, events);
        if (rc == CUCM_CDR_EREC) {
            STATS_INC(w->st, bad_events);
            cucm_report_line(rp, w->dir, name, "%s", r->err);
            continue;
        }
        cucm_bill_rc_t b;
        why[0] = '\0';
        while ((b = cucm_bill(w, &c, t, why, sizeof why)) == CUCM_B_RETRY) {
            if (*w->ctx->stop)
                return CF_LATER;
            qsbr_quiescent(&w->rd);
            usleep(10 * 1000);
        }
        if (b == CUCM_B_FULL) {
            LOG_ERROR("cucm", 0, "%s/%s line %" PRIu64 ": the exactly-once "
                      "set is full (cucm.dedupe_entries): billing stops "
                      "until it is raised or old calls age out", w->dir,
                      name, c.line);
            return CF_LATER;
        }
        if (why[0] != '\0')
            cucm_report_line(rp, w->dir, name, "line %" PRIu64 ": %s",
                             c.line, why);
    }
    return CF_DONE;
}

static cucm_file_rc_t cucm_file(cucm_worker_t *w, const char *name)
{
    char path[PATH_MAX], final[NAME_MAX + 16], summary[320];
    cucm_cdr_map_t m;
    cucm_cdr_reader_t *r = malloc(sizeof *r);   /* about 21 KB */
    cucm_report_t rp = { 0 };
    cucm_tally_t t = { 0 };
    cucm_file_rc_t rc;

    if (r == NULL)
        return CF_LATER;
    snprintf(path, sizeof path, "%s/%s", w->dir, name);
    if (cucm_cdr_map(path, &m) != CUCM_CDR_OK) {
        free(r);
        if (errno == ENOENT)
            return CF_LATER;                    /* gone meanwhile */
        char why[128];
        snprintf(why, sizeof why, "cannot read it: %s", strerror(errno));
        return cucm_quarantine(w, name, why, 0);
    }
    if (cucm_cdr_open(r, m.data, m.len) != CUCM_CDR_OK) {
        rc = cucm_quarantine(w, name, r->err, r->err_line);
    } else {
        rc = cucm_records(w, r, name, &rp, &t);
        if (rc == CF_DONE && cucm_synced(w) != 0)
            rc = CF_LATER;
    }
    cucm_cdr_unmap(&m);
    if (rc == CF_LATER) {
        if (rp.fp != NULL) {
            fclose(rp.fp);
            unlink(rp.path);
        }
    } else if (rc == CF_DONE) {
        snprintf(summary, sizeof summary, "result: done; %" PRIu64 " call "
                 "record(s): %" PRIu64 " billed (%" PRIu64 " with a charge), "
                 "%" PRIu64 " billed before, %" PRIu64 " not billed; %"
                 PRIu64 " bad line(s); %" PRIu64 " CMR/start record(s) "
                 "skipped", r->records, t.billed, t.charged, t.dup,
                 t.skipped, r->bad, r->skipped);
        if (cucm_move(w->dir, name, "done", final, sizeof final) != 0)
            rc = CF_LATER;
        else
            cucm_report_close(&rp, w->dir, "done", final, summary);
        LOG_INFO("cucm", "%s/%s: %s", w->dir, name, summary + 8);
    }
    free(r);
    return rc;
}

/* ---- the process -------------------------------------------------------------- */

static int cucm_subdirs(const char *dir)
{
    char p[PATH_MAX];
    const char *sub[] = { "done", "quarantine" };
    for (size_t i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, sub[i]);
        if (mkdir(p, 0750) != 0 && errno != EEXIST) {
            LOG_ERROR("cucm", errno, "cannot create %s", p);
            return -1;
        }
    }
    return 0;
}

static int cucm_setup(cucm_worker_t *w, proc_ctx_t *ctx)
{
    const conf_t *cf = ctx->conf;
    const char *called = conf_str(cf, "cucm.called");

    memset(w, 0, sizeof *w);
    w->ctx = ctx;
    if (cucm_dir(cf, ctx->index, w->dir, sizeof w->dir) != 0) {
        LOG_ERROR("cucm", 0, "cucm.dirs has no folder %d", ctx->index);
        return PROC_EXIT_NORESTART;
    }
    if (strcmp(called, "final") != 0 && strcmp(called, "original") != 0) {
        LOG_ERROR("cucm", 0, "cucm.called = \"%s\": final or original",
                  called);
        return PROC_EXIT_NORESTART;
    }
    if (ctx->seen == NULL) {
        LOG_ERROR("cucm", 0, "no exactly-once set");
        return PROC_EXIT_NORESTART;
    }
    w->original = strcmp(called, "original") == 0;
    w->charge_in = (int)cf->cucm_charge_inbound;
    w->charge_int = (int)cf->cucm_charge_internal;
    w->horizon_sec = cf->cucm_dedupe_days * 86400;
    w->fac_secret = conf_str(cf, "fac.secret");
    if (w->fac_secret == NULL)
        w->fac_secret = "";
    w->region = ctx->region;
    w->accts = region_area(ctx->region, REGION_AREA_ACCOUNTS);
    w->seen = ctx->seen;
    w->pid = getpid();
    w->tag = calls_tag(CALLS_KIND_CUCM, (unsigned)ctx->index);
    w->st = stats_claim(region_area(ctx->region, REGION_AREA_STATS), w->tag);
    if (w->st == NULL)
        w->st = &w->st_local;
    if (cucm_subdirs(w->dir) != 0)
        return PROC_EXIT_FATAL;
    if (qsbr_register(region_area(ctx->region, REGION_AREA_QSBR), &w->rd)
        != QSBR_OK) {
        LOG_ERROR("cucm", 0, "no free QSBR slot (region.max_readers)");
        return PROC_EXIT_FATAL;
    }
    if (jrn_writer_open(ctx->jrn, &w->w) != JRN_OK) {
        LOG_ERROR("cucm", 0, "no free journal ring (journal.rings)");
        qsbr_unregister(&w->rd);
        return PROC_EXIT_FATAL;
    }
    w->have_writer = 1;
    return PROC_EXIT_OK;
}

static void cucm_loop(cucm_worker_t *w, cucm_dir_t *d)
{
    int64_t next_scan = 0;
    while (!*w->ctx->stop) {
        int64_t now = clock_mono_ms();
        if (now >= next_scan) {
            cucm_scan(w, d, now);
            next_scan = now + w->ctx->conf->cucm_rescan_ms;
        }
        cucm_file_t *f = cucm_ready(w, d, now);
        if (f != NULL) {
            char name[NAME_MAX + 1];
            strcpy(name, f->name);
            if (cucm_file(w, name) != CF_LATER) {
                cucm_untrack(d, f);
                continue;
            }
            f->since_ms = now;               /* not again at once */
            f->closed = 0;
        }
        /* Sleep until an event, the next scan, or a file turning stable. */
        int64_t wake = next_scan;
        for (size_t i = 0; i < d->n; i++) {
            int64_t at = d->f[i].since_ms + w->ctx->conf->cucm_stable_ms;
            if (at < wake)
                wake = at;
        }
        int ms = wake > now ? (int)(wake - now) : 0;
        qsbr_offline(&w->rd);
        struct pollfd p = { .fd = d->ino, .events = POLLIN };
        if (d->ino >= 0 ? poll(&p, 1, ms) > 0 : (usleep((unsigned)ms * 1000), 0))
            cucm_events(w, d);
        qsbr_online(&w->rd);
        if (d->ino >= 0 && p.revents)
            next_scan = 0;                   /* sizes of what was named */
    }
}

int cucm_main(proc_ctx_t *ctx)
{
    cucm_worker_t w;
    cucm_dir_t d = { 0 };
    int rc = cucm_setup(&w, ctx);
    if (rc != PROC_EXIT_OK)
        return rc;
    d.f = calloc(CUCM_MAX_FILES, sizeof *d.f);
    if (d.f == NULL) {
        LOG_ERROR("cucm", errno, "out of memory");
        return PROC_EXIT_FATAL;
    }
    d.ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (d.ino < 0 || inotify_add_watch(d.ino, w.dir, IN_CLOSE_WRITE
                                       | IN_MOVED_TO) < 0) {
        LOG_WARN("cucm", errno, "no inotify on %s: scanning every %" PRId64
                 " ms only", w.dir, ctx->conf->cucm_rescan_ms);
        if (d.ino >= 0)
            close(d.ino);
        d.ino = -1;
    }
    LOG_INFO("cucm", "started for %s (ring %u, rated on the %s called "
             "number)", w.dir, w.w.index, w.original ? "original" : "final");
    qsbr_online(&w.rd);
    cucm_loop(&w, &d);
    LOG_INFO("cucm", "stopping: %" PRIu64 " records read, %" PRIu64
             " CDRs journaled, %" PRIu64 " bad lines", w.st->events,
             w.st->cdrs, w.st->bad_events);
    if (d.ino >= 0)
        close(d.ino);
    free(d.f);
    qsbr_unregister(&w.rd);
    jrn_writer_close(&w.w);
    return PROC_EXIT_OK;
}
