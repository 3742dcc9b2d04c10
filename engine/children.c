/*
 * children.c -- fork, reap and restart the supervisor's children (see
 * children.h).
 *
 * NOTES
 * - Signals: the supervisor keeps SIGTERM/SIGINT/SIGHUP/SIGCHLD blocked
 *   except inside ppoll, so a fork never lands in the middle of one of its
 *   handlers, and the child installs its own handlers while they are still
 *   blocked, then unblocks: no window in which a SIGTERM meant for the
 *   child runs the supervisor's handler in the child.
 * - The getppid() check after PR_SET_PDEATHSIG closes the race in which the
 *   supervisor dies between fork() and prctl(): the child would then never
 *   get the signal. Reparented means orphaned: exit at once.
 * - Live log level: children cannot see the supervisor's new conf_t after
 *   SIGHUP, so the level travels through one shared word (child_shared),
 *   and the supervisor sends SIGHUP to its children; their handler copies
 *   the word into log_level. Two aligned int accesses: safe in a handler.
 * - APOLO_TEST_CRASH=<kind or name>[:<code>|:abort|:kill][,...] makes the
 *   matching child fail right after this setup, before its main: the
 *   tests' way to prove the restart backoff. Test-only; it does nothing
 *   when unset.
 */
#include "engine/children.h"
#include "shm/log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/ctl.h"

static volatile sig_atomic_t child_stop;
static volatile int *child_shared_level;

static void child_on_term(int sig)
{
    (void)sig;
    child_stop = 1;
}

static void child_on_hup(int sig)
{
    (void)sig;
    if (child_shared_level != NULL)
        log_level = (log_level_t)*child_shared_level;
}

/* ---- the table --------------------------------------------------------- */

static int children_count(const child_kind_t *k, const conf_t *conf,
                          int64_t *n)
{
    conf_err_t err;
    if (k->count != NULL) {
        int c = k->count(conf);
        if (c < 0)
            return -1;
        *n = c;
        return 0;
    }
    if (k->count_key == NULL) {
        *n = 1;
        return 0;
    }
    if (conf_int(conf, k->count_key, 0, 1024, 0, n, &err) != CONF_OK) {
        LOG_ERROR("children", 0, "%s", err.msg);
        return -1;
    }
    return 0;
}

static void child_setup(child_t *c, const child_kind_t *k, int index,
                        int numbered)
{
    memset(c, 0, sizeof *c);
    c->kind = k;
    c->index = index;
    c->ctl_fd = -1;
    c->backoff_ms = CHILD_BACKOFF_MIN_MS;
    if (numbered)
        snprintf(c->name, sizeof c->name, "%s-%d", k->name, index);
    else
        snprintf(c->name, sizeof c->name, "%s", k->name);
}

int children_init(children_t *cs, const child_kind_t *kinds, size_t nkinds,
                  const child_env_t *env)
{
    size_t total = 0;
    int64_t n;

    memset(cs, 0, sizeof *cs);
    cs->env = *env;
    for (size_t k = 0; k < nkinds; k++) {
        if (children_count(&kinds[k], env->conf, &n) != 0)
            return -1;
        total += (size_t)n;
    }
    cs->v = calloc(total + 1, sizeof *cs->v);
    void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (cs->v == NULL || page == MAP_FAILED) {
        LOG_ERROR("children", errno, "cannot allocate the child table");
        free(cs->v);
        return -1;
    }
    child_shared_level = page;
    *child_shared_level = (int)log_level;
    for (size_t k = 0; k < nkinds; k++) {
        children_count(&kinds[k], env->conf, &n);
        for (int i = 1; i <= n; i++)
            child_setup(&cs->v[cs->n++], &kinds[k], i,
                        kinds[k].count_key != NULL
                        || kinds[k].count != NULL);
    }
    return 0;
}

void children_free(children_t *cs)
{
    for (size_t i = 0; i < cs->n; i++)
        if (cs->v[i].ctl_fd >= 0)
            close(cs->v[i].ctl_fd);
    free(cs->v);
    memset(cs, 0, sizeof *cs);
}

child_t *children_find(children_t *cs, pid_t pid)
{
    for (size_t i = 0; i < cs->n; i++)
        if (cs->v[i].pid == pid)
            return &cs->v[i];
    return NULL;
}

int children_running_group(const children_t *cs, int last)
{
    int n = 0;
    for (size_t i = 0; i < cs->n; i++)
        n += cs->v[i].pid > 0 && (last < 0 || cs->v[i].kind->stop_last == last);
    return n;
}

int children_running(const children_t *cs)
{
    return children_running_group(cs, -1);
}

int children_signal_group(children_t *cs, int sig, int last)
{
    int n = 0;
    if (sig == SIGHUP && child_shared_level != NULL)
        *child_shared_level = (int)log_level;
    for (size_t i = 0; i < cs->n; i++) {
        child_t *c = &cs->v[i];
        if (c->pid > 0 && (last < 0 || c->kind->stop_last == last)
            && kill(c->pid, sig) == 0)
            n++;
    }
    return n;
}

int children_signal(children_t *cs, int sig)
{
    return children_signal_group(cs, sig, -1);
}

/* ---- in the child ------------------------------------------------------ */

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* Closes every fd >= 3 except the ones in keep[0..n). */
static void child_close_fds(int *keep, int n)
{
    int first = 3;
    qsort(keep, (size_t)n, sizeof *keep, cmp_int);
    for (int i = 0; i < n; i++) {
        if (keep[i] < first)
            continue;
        if (keep[i] > first)
            close_range((unsigned)first, (unsigned)keep[i] - 1, 0);
        first = keep[i] + 1;
    }
    close_range((unsigned)first, ~0U, 0);
}

static void child_signals(void)
{
    struct sigaction sa;
    sigset_t none;

    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = child_on_term;
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = child_on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Test hook (see NOTES): returns normally when c is not named. */
static void child_test_crash(const child_t *c)
{
    const char *spec = getenv("APOLO_TEST_CRASH");
    char buf[256];
    if (spec == NULL)
        return;
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save, *t = strtok_r(buf, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        char *how = strchr(t, ':');
        if (how != NULL)
            *how++ = '\0';
        if (strcmp(t, c->kind->name) != 0 && strcmp(t, c->name) != 0)
            continue;
        LOG_WARN("children", 0, "APOLO_TEST_CRASH: failing at start (%s)",
                 how ? how : "1");
        if (how != NULL && strcmp(how, "abort") == 0)
            abort();
        if (how != NULL && strcmp(how, "kill") == 0)
            raise(SIGKILL);
        _exit(how != NULL ? atoi(how) : PROC_EXIT_FATAL);
    }
}

static void child_enter(children_t *cs, child_t *c, int ctl_child_fd)
{
    int keep[4], n = 0;
    proc_ctx_t ctx;

    log_set_process(c->name);
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 ||
        getppid() != cs->env.supervisor)
        _exit(PROC_EXIT_OK);            /* orphaned already: nothing to do */
    child_signals();
    unsetenv("NOTIFY_SOCKET");          /* systemd hears the main pid only */
    keep[n++] = cs->env.region->fd;
    keep[n++] = cs->env.jrn->fd;
    if (cs->env.keep_fd >= 0)
        keep[n++] = cs->env.keep_fd;
    if (ctl_child_fd >= 0)
        keep[n++] = ctl_child_fd;
    child_close_fds(keep, n);
    child_test_crash(c);

    ctx = (proc_ctx_t){ .region = cs->env.region, .jrn = cs->env.jrn,
                       .calls = cs->env.calls,
                       .seen = cs->env.seen,
                        .conf = cs->env.conf, .name = c->name,
                        .index = c->index, .stop = &child_stop,
                        .ctl_fd = ctl_child_fd };
    int rc = c->kind->main(&ctx);
    exit(rc & 0xff);
}

/* ---- in the supervisor ------------------------------------------------- */

static void child_schedule(child_t *c, int64_t now_ms, int64_t max_ms)
{
    c->restart_at_ms = now_ms + c->backoff_ms;
    c->backoff_ms = c->backoff_ms * 2 > max_ms ? max_ms : c->backoff_ms * 2;
}

static int child_spawn(children_t *cs, child_t *c, int64_t now_ms)
{
    int fds[2] = { -1, -1 };
    if (c->kind->ctl && ctl_pair(fds) != CTL_OK) {
        LOG_ERROR("children", errno, "socketpair() for %s failed", c->name);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        LOG_ERROR("children", errno, "fork() of %s failed", c->name);
        if (fds[0] >= 0) {
            close(fds[0]);
            close(fds[1]);
        }
        return -1;
    }
    if (pid == 0)
        child_enter(cs, c, fds[1]);     /* never returns */
    if (fds[1] >= 0)
        close(fds[1]);
    c->ctl_fd = fds[0];
    c->pid = pid;
    c->started_ms = now_ms;
    c->restart_at_ms = 0;
    c->starts++;
    LOG_INFO("children", "%s started, pid %d%s", c->name, (int)pid,
             c->starts > 1 ? " (restart)" : "");
    return 0;
}

void children_start_due(children_t *cs, int64_t now_ms)
{
    for (size_t i = 0; i < cs->n; i++) {
        child_t *c = &cs->v[i];
        if (c->pid > 0 || c->down || now_ms < c->restart_at_ms)
            continue;
        if (child_spawn(cs, c, now_ms) != 0)
            child_schedule(c, now_ms, CHILD_BACKOFF_MIN_MS * 10);
    }
}

/* "exit code 1" or "signal SIGSEGV (core dumped)" */
static child_end_t child_describe(int st, char *out, size_t cap)
{
    if (WIFEXITED(st)) {
        int code = WEXITSTATUS(st);
        snprintf(out, cap, "exit code %d", code);
        return code == PROC_EXIT_OK      ? CHILD_END_STOPPED
             : code == PROC_EXIT_FATAL   ? CHILD_END_FATAL
             : code == PROC_EXIT_NORESTART ? CHILD_END_NORESTART
                                         : CHILD_END_CRASH;
    }
    int sig = WTERMSIG(st);
    const char *abbrev = sigabbrev_np(sig);
    snprintf(out, cap, "signal %s%s%s", abbrev ? "SIG" : "",
             abbrev ? abbrev : "unknown", WCOREDUMP(st) ? " (core dumped)"
                                                        : "");
    return CHILD_END_CRASH;
}

child_end_t children_ended(children_t *cs, child_t *c, int st, int stopping,
                           int64_t now_ms, int64_t backoff_max_ms)
{
    char why[96];
    (void)cs;
    child_end_t end = child_describe(st, why, sizeof why);
    int64_t ran = now_ms - c->started_ms;
    pid_t pid = c->pid;

    c->pid = 0;
    if (c->ctl_fd >= 0)
        close(c->ctl_fd);
    c->ctl_fd = -1;
    if (stopping) {
        LOG_INFO("children", "%s (pid %d) ended: %s", c->name, (int)pid, why);
        return end;
    }
    if (end == CHILD_END_STOPPED || end == CHILD_END_NORESTART) {
        c->down = 1;
        if (end == CHILD_END_STOPPED)
            LOG_WARN("children", 0, "%s (pid %d) exited cleanly without being "
                     "asked to after %.1f s: not restarted", c->name, (int)pid,
                     (double)ran / 1000);
        else
            LOG_ERROR("children", 0, "%s (pid %d) failed with %s (cannot be "
                      "fixed by a restart): NOT RESTARTED; fix the cause and "
                      "restart apolod", c->name, (int)pid, why);
        return end;
    }
    if (ran >= CHILD_STABLE_MS)
        c->backoff_ms = CHILD_BACKOFF_MIN_MS;
    child_schedule(c, now_ms, backoff_max_ms);
    LOG_ERROR("children", 0, "%s (pid %d) %s with %s after %.1f s; restart in "
              "%lld ms", c->name, (int)pid, end == CHILD_END_CRASH ? "crashed"
              : "failed", why, (double)ran / 1000,
              (long long)(c->restart_at_ms - now_ms));
    return end;
}
