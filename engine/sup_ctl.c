/*
 * sup_ctl.c -- the supervisor's side of the control channel (shm/ctl.h):
 * the ctl.socket listener and its clients, the admin's socketpair, and the
 * requests that wait for a reload.
 *
 * A "reload" is answered when a reload that *started after the request*
 * ends: a request that arrives while one runs waits for the next one, since
 * the running one's snapshot may predate the change the requester just
 * committed. Many requests during one reload share the next one.
 *
 * Besides reload, status and ping (shm/ctl.h), one read-only command:
 *
 *   account <id>   the live balance of accounts.id <id> in the region:
 *                  "ok id=<id> balance=<b> reserved=<r> headroom=<h>"
 *                  (micro-units; balance and headroom are one atomic
 *                  snapshot, reserved = balance + credit_limit - headroom),
 *                  or "error unknown account <id>" (not in the current
 *                  catalog), "error usage: account <id>", "error busy: a
 *                  reload is running, retry" (see NOTES).
 *                  Once the journal is drained, balance equals
 *                  accounts.balance in PostgreSQL (tests/t_crash.sh
 *                  checks exactly that).
 *
 * NOTES
 * - A waiter names an fd; whoever closes that fd (a client leaving, a
 *   child reaped) drops its waiters first, so a reply never goes to a new
 *   connection that reused the number.
 * - `account` looks the id up in the current catalog from the main thread,
 *   which is not a QSBR reader. That is safe only while no job runs: retired
 *   catalogs are reclaimed by the main loop itself (sup_reclaim, which runs
 *   between requests, never during one), except by a reload job that runs
 *   out of heap (pub_deck reclaims) -- so the command is refused while a
 *   job runs. The slot itself is never reused (account.h).
 */
#include "engine/sup_int.h"
#include "shm/account.h"
#include "shm/calls.h"
#include "shm/catalog.h"
#include "shm/log.h"

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUP_CLIENT_IDLE_MS 30000

static void sup_client_close(sup_t *s, int i)
{
    sup_ctl_drop_fd(s, s->ctl.client[i]);
    close(s->ctl.client[i]);
    s->ctl.client[i] = -1;
}

int sup_ctl_open(sup_t *s)
{
    const char *path = conf_str(&s->conf, "ctl.socket");
    char dir[sizeof s->ctl.path];

    for (int i = 0; i < SUP_CLIENTS; i++)
        s->ctl.client[i] = -1;
    s->ctl.lfd = -1;
    if (*path == '\0')
        return 0;
    if (strlen(path) >= sizeof s->ctl.path) {
        LOG_ERROR("ctl", 0, "ctl.socket \"%s\" is longer than %zu bytes",
                  path, sizeof s->ctl.path - 1);
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", path);
    mkdir(dirname(dir), 0755);
    int fd = ctl_listen(path);
    if (fd == CTL_EINVAL) {
        LOG_ERROR("ctl", 0, "%s answers: another apolod runs there", path);
        return 1;
    }
    if (fd < 0) {
        LOG_ERROR("ctl", errno, "cannot listen on %s", path);
        return 1;
    }
    s->ctl.lfd = fd;
    snprintf(s->ctl.path, sizeof s->ctl.path, "%s", path);
    return 0;
}

void sup_ctl_close(sup_t *s)
{
    for (int i = 0; i < SUP_CLIENTS; i++)
        if (s->ctl.client[i] >= 0)
            sup_client_close(s, i);
    if (s->ctl.lfd >= 0) {
        close(s->ctl.lfd);
        unlink(s->ctl.path);
    }
    s->ctl.lfd = -1;
}

int sup_ctl_pollfds(sup_t *s, struct pollfd *p, int max)
{
    int n = 0;
    if (s->ctl.lfd >= 0 && n < max)
        p[n++] = (struct pollfd){ .fd = s->ctl.lfd, .events = POLLIN };
    for (int i = 0; i < SUP_CLIENTS && n < max; i++)
        if (s->ctl.client[i] >= 0)
            p[n++] = (struct pollfd){ .fd = s->ctl.client[i],
                                      .events = POLLIN };
    for (size_t i = 0; i < s->kids.n && n < max; i++)
        if (s->kids.v[i].ctl_fd >= 0)
            p[n++] = (struct pollfd){ .fd = s->kids.v[i].ctl_fd,
                                      .events = POLLIN };
    return n;
}

static void sup_accept(sup_t *s, int64_t now_ms)
{
    int fd;
    while ((fd = accept4(s->ctl.lfd, NULL, NULL,
                         SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        int i = 0;
        while (i < SUP_CLIENTS && s->ctl.client[i] >= 0)
            i++;
        if (i == SUP_CLIENTS) {
            LOG_WARN("ctl", 0, "more than %d control connections: refused",
                     SUP_CLIENTS);
            close(fd);
            continue;
        }
        s->ctl.client[i] = fd;
        s->ctl.client_ms[i] = now_ms;
    }
}

static void sup_status(sup_t *s, char *out, size_t cap)
{
    snprintf(out, cap, "ok ready=%d catalog=%llu reloads=%llu "
             "reload_failures=%llu children=%d calls=%u pid=%d", s->ready,
             (unsigned long long)s->catalog_version,
             (unsigned long long)s->reloads,
             (unsigned long long)s->reload_failures,
             children_running(&s->kids),
             s->calls ? calls_count(s->calls) : 0,
             (int)getpid());
}

/* "account <id>": the region's view of one account (see the top). */
static void sup_account(sup_t *s, const char *arg, char *out, size_t cap)
{
    char *end;
    errno = 0;
    long long id = strtoll(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || errno != 0 || id <= 0) {
        snprintf(out, cap, "error usage: account <id>");
        return;
    }
    if (s->job.running) {
        snprintf(out, cap, "error busy: a reload is running, retry");
        return;
    }
    const cat_hdr_t *cat = cat_current(&s->region);
    const cat_acct_t *ca = cat ? cat_account(cat, (int64_t)id) : NULL;
    acct_view_t v;
    if (ca == NULL || acct_view(region_area(&s->region, REGION_AREA_ACCOUNTS),
                                ca->slot, &v) != ACCT_OK || v.id != id) {
        snprintf(out, cap, "error unknown account %lld", id);
        return;
    }
    snprintf(out, cap, "ok id=%lld balance=%" PRId64 " reserved=%" PRId64
             " headroom=%" PRId64, id, (int64_t)v.balance,
             (int64_t)v.reserved, (int64_t)v.headroom);
}

/* Handles one request; replies now unless it waits for a reload. */
static void sup_request(sup_t *s, int fd, uint64_t id, const char *cmd)
{
    char reply[CTL_MSG_MAX - 32];
    LOG_DEBUG("ctl", "request \"%s\"", cmd);
    if (strcmp(cmd, "reload") == 0) {
        if (s->stopping) {
            ctl_reply(fd, id, "error stopping");
            return;
        }
        LOG_INFO("ctl", "reload requested%s", s->job.running
                 ? " (runs after the current job)" : "");
        sup_reload_request(s, &(sup_waiter_t){ fd, id });
        return;
    }
    if (strcmp(cmd, "status") == 0)
        sup_status(s, reply, sizeof reply);
    else if (strcmp(cmd, "ping") == 0)
        snprintf(reply, sizeof reply, "ok pong");
    else if (strncmp(cmd, "account ", 8) == 0 || strcmp(cmd, "account") == 0)
        sup_account(s, cmd[7] ? cmd + 8 : "", reply, sizeof reply);
    else
        snprintf(reply, sizeof reply, "error unknown command");
    ctl_reply(fd, id, reply);
}

/* Reads what fd has; -1 when it is closed or broken. */
static int sup_read(sup_t *s, int fd)
{
    char cmd[CTL_MSG_MAX];
    uint64_t id;
    for (;;) {
        int rc = ctl_recv(fd, cmd, sizeof cmd, &id);
        if (rc == CTL_EAGAIN)
            return 0;
        if (rc == CTL_EINVAL) {
            LOG_WARN("ctl", 0, "malformed control request dropped");
            continue;
        }
        if (rc != CTL_OK)
            return -1;
        sup_request(s, fd, id, cmd);
    }
}

void sup_ctl_serve(sup_t *s, const struct pollfd *p, int n, int64_t now_ms)
{
    for (int k = 0; k < n; k++) {
        if (p[k].revents == 0)
            continue;
        if (p[k].fd == s->ctl.lfd) {
            sup_accept(s, now_ms);
            continue;
        }
        for (int i = 0; i < SUP_CLIENTS; i++)
            if (s->ctl.client[i] == p[k].fd) {
                s->ctl.client_ms[i] = now_ms;
                if (sup_read(s, p[k].fd) != 0)
                    sup_client_close(s, i);
            }
        for (size_t i = 0; i < s->kids.n; i++) {
            child_t *c = &s->kids.v[i];
            if (c->ctl_fd != p[k].fd || sup_read(s, c->ctl_fd) == 0)
                continue;
            sup_ctl_drop_fd(s, c->ctl_fd);   /* the child closed its end: */
            close(c->ctl_fd);                /* stop polling a dead fd */
            c->ctl_fd = -1;
        }
    }
    for (int i = 0; i < SUP_CLIENTS; i++)
        if (s->ctl.client[i] >= 0
            && now_ms - s->ctl.client_ms[i] > SUP_CLIENT_IDLE_MS)
            sup_client_close(s, i);
}

static void sup_drop(sup_waiter_t *w, int *n, int fd)
{
    int k = 0;
    for (int i = 0; i < *n; i++)
        if (w[i].fd != fd)
            w[k++] = w[i];
    *n = k;
}

void sup_ctl_drop_fd(sup_t *s, int fd)
{
    sup_drop(s->ctl.cur, &s->ctl.ncur, fd);
    sup_drop(s->ctl.next, &s->ctl.nnext, fd);
}

void sup_ctl_job_done(sup_t *s, const char *text)
{
    for (int i = 0; text != NULL && i < s->ctl.ncur; i++)
        ctl_reply(s->ctl.cur[i].fd, s->ctl.cur[i].id, text);
    memcpy(s->ctl.cur, s->ctl.next, (size_t)s->ctl.nnext * sizeof *s->ctl.cur);
    s->ctl.ncur = s->ctl.nnext;
    s->ctl.nnext = 0;
}

void sup_ctl_fail_all(sup_t *s, const char *why)
{
    char text[128];
    snprintf(text, sizeof text, "error %s", why);
    sup_ctl_job_done(s, text);
    sup_ctl_job_done(s, text);
}
