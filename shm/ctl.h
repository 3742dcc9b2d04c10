/*
 * ctl.h -- the supervisor's control channel: small text requests, one text
 * reply each.
 *
 * Two ways in, one protocol:
 *
 *   admin process --socketpair (made before the admin is forked)--+
 *                                                                  +--> supervisor
 *   `apolod ctl reload` --unix socket ctl.socket (var/apolod.sock)-+     main loop
 *
 * Both are SOCK_SEQPACKET, so a message is never split or merged. A request
 * is "<id> <command>", its reply "<id> <text>"; the id lets a requester that
 * timed out discard the late reply to its previous request instead of
 * taking it for the answer to the next one.
 *
 * Commands (the supervisor's side is engine/supervisor.c):
 *   reload   re-read configuration from PostgreSQL (load_all) and publish
 *            it; the reply comes once the new catalog is the region's
 *            current one: "ok <catalog_version>" or "error <reason>".
 *            Requests that arrive while a reload runs are answered by the
 *            next reload, which starts after it (one reload at a time).
 *   status   "ok ready=<0|1> catalog=<version> reloads=<n> children=<n>"
 *   ping     "ok pong"
 *   account <id>
 *            "ok id=<id> balance=<b> reserved=<r> headroom=<h>" (micro-
 *            units; balance and headroom one atomic snapshot), or "error
 *            unknown account <id>", or "error busy: a reload is running,
 *            retry" (a reload may free the catalog being read)
 * Unknown commands get "error unknown command".
 *
 * This is how a configuration change committed in PostgreSQL by the admin
 * API becomes visible to the workers: the admin commits, calls
 * ctl_request(ctx->ctl_fd, "reload", ...), and when "ok <v>" comes back
 * every worker's next lookup sees catalog v.
 */
#ifndef APOLO_CTL_H
#define APOLO_CTL_H

#include <stddef.h>
#include <stdint.h>

#define CTL_MSG_MAX 1024        /* one request or reply, bytes with id */

enum {
    CTL_OK = 0,
    CTL_ERROR = -1,             /* a system call failed (errno kept) */
    CTL_ETIMEDOUT = -2,         /* no reply within the timeout */
    CTL_ECLOSED = -3,           /* the other end is gone */
    CTL_EAGAIN = -4,            /* nothing to read now (non-blocking) */
    CTL_EINVAL = -5             /* malformed message or too long */
};

/* ---- requester side (admin process, `apolod ctl`) ---------------------- */

/*
 * Sends cmd and waits up to timeout_ms for its reply, copied NUL-terminated
 * into reply[cap] (without the id). CTL_OK whatever the reply says ("ok ..."
 * or "error ..."), else CTL_ETIMEDOUT, CTL_ECLOSED, CTL_ERROR, CTL_EINVAL.
 * Thread-safe: requests of one process are serialised by a process-private
 * mutex (the admin's HTTP threads may share one fd). Logs nothing.
 */
int ctl_request(int fd, const char *cmd, char *reply, size_t cap,
                int timeout_ms);

/* Connects to the supervisor's unix socket: the fd, or -1 (errno set). */
int ctl_connect(const char *path);

/* ---- supervisor side --------------------------------------------------- */

/* A connected pair for a child: fds[0] the supervisor keeps (non-blocking),
 * fds[1] the child's. CTL_OK or CTL_ERROR (errno). */
int ctl_pair(int fds[2]);

/*
 * Binds and listens on path (non-blocking, mode 0600). A socket file left
 * by a dead supervisor is replaced; one a live process answers on is not
 * (CTL_EINVAL: another apolod runs there). Returns the fd, or a negative
 * CTL_* (errno kept for CTL_ERROR).
 */
int ctl_listen(const char *path);

/*
 * Receives one request from fd without blocking: CTL_OK with the command in
 * cmd[cap] and its id in *id, CTL_EAGAIN (none waiting), CTL_ECLOSED (the
 * peer closed), CTL_EINVAL (malformed: dropped), CTL_ERROR.
 */
int ctl_recv(int fd, char *cmd, size_t cap, uint64_t *id);

/* Sends "<id> <text>" without blocking. CTL_OK, or CTL_ERROR / CTL_ECLOSED
 * (the requester is gone: nothing to do but drop it). */
int ctl_reply(int fd, uint64_t id, const char *text);

#endif
