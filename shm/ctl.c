/*
 * ctl.c -- the control channel's framing (see ctl.h).
 *
 * SOCK_SEQPACKET keeps message boundaries, so framing is only the id in
 * front of the text. The supervisor's ends are non-blocking: a requester
 * that never reads its reply can fill nothing but its own socket buffer,
 * and the supervisor's loop never waits on it.
 *
 * NOTES
 * - Ids are (pid << 32 | counter): unique per process and across a
 *   restarted admin, so a reply meant for a dead requester can never match.
 * - ctl_listen probes an existing socket file by connecting to it before
 *   unlinking it: unlinking the socket of a live supervisor would silently
 *   cut `apolod ctl` off from it.
 */
#include "shm/ctl.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t ctl_mutex = PTHREAD_MUTEX_INITIALIZER;
static uint32_t ctl_counter;

static int64_t ctl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Splits "<id> <text>": 0, or -1 when malformed. */
static int ctl_parse(char *msg, uint64_t *id, char **text)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(msg, &end, 10);
    if (errno != 0 || end == msg || (*end != ' ' && *end != '\0'))
        return -1;
    *id = v;
    *text = *end ? end + 1 : end;
    return 0;
}

/* One message into buf (NUL-terminated): its length, or a CTL_* error. */
static ssize_t ctl_recv_msg(int fd, char *buf, size_t cap, int flags)
{
    ssize_t n = recv(fd, buf, cap - 1, flags | MSG_TRUNC);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? CTL_EAGAIN
                                                       : CTL_ERROR;
    if (n == 0)
        return CTL_ECLOSED;
    if ((size_t)n >= cap - 1)
        return CTL_EINVAL;               /* truncated: drop it */
    buf[n] = '\0';
    return n;
}

static int ctl_send(int fd, uint64_t id, const char *text, int flags)
{
    char msg[CTL_MSG_MAX];
    int n = snprintf(msg, sizeof msg, "%" PRIu64 " %s", id, text);
    if (n < 0 || (size_t)n >= sizeof msg)
        return CTL_EINVAL;
    if (send(fd, msg, (size_t)n, flags | MSG_NOSIGNAL) == n)
        return CTL_OK;
    return errno == EPIPE || errno == ECONNRESET ? CTL_ECLOSED : CTL_ERROR;
}

/* Waits for the reply to id until deadline; other ids are stale: skipped. */
static int ctl_wait_reply(int fd, uint64_t id, char *reply, size_t cap,
                          int64_t deadline)
{
    char msg[CTL_MSG_MAX];
    for (;;) {
        int left = (int)(deadline - ctl_now_ms());
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (left <= 0)
            return CTL_ETIMEDOUT;
        int r = poll(&p, 1, left);
        if (r < 0 && errno != EINTR)
            return CTL_ERROR;
        if (r <= 0)
            continue;
        ssize_t n = ctl_recv_msg(fd, msg, sizeof msg, MSG_DONTWAIT);
        if (n == CTL_EAGAIN || n == CTL_EINVAL)
            continue;
        if (n < 0)
            return (int)n;
        uint64_t got;
        char *text;
        if (ctl_parse(msg, &got, &text) != 0 || got != id)
            continue;
        snprintf(reply, cap, "%s", text);
        return CTL_OK;
    }
}

int ctl_request(int fd, const char *cmd, char *reply, size_t cap,
                int timeout_ms)
{
    int64_t deadline = ctl_now_ms() + timeout_ms;
    pthread_mutex_lock(&ctl_mutex);
    uint64_t id = (uint64_t)getpid() << 32 | ++ctl_counter;
    int rc = ctl_send(fd, id, cmd, 0);
    if (rc == CTL_OK)
        rc = ctl_wait_reply(fd, id, reply, cap, deadline);
    pthread_mutex_unlock(&ctl_mutex);
    return rc;
}

static int ctl_addr(const char *path, struct sockaddr_un *a)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a->sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(a->sun_path, path);
    return 0;
}

int ctl_connect(const char *path)
{
    struct sockaddr_un a;
    if (ctl_addr(path, &a) != 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int ctl_pair(int fds[2])
{
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
        return CTL_ERROR;
    return CTL_OK;
}

int ctl_listen(const char *path)
{
    struct sockaddr_un a;
    if (ctl_addr(path, &a) != 0)
        return CTL_ERROR;
    int probe = ctl_connect(path);
    if (probe >= 0) {
        close(probe);
        return CTL_EINVAL;               /* a live supervisor owns it */
    }
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    0);
    if (fd < 0)
        return CTL_ERROR;
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    umask(old);
    if (rc != 0 || listen(fd, 16) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return CTL_ERROR;
    }
    return fd;
}

int ctl_recv(int fd, char *cmd, size_t cap, uint64_t *id)
{
    char msg[CTL_MSG_MAX];
    char *text;
    ssize_t n = ctl_recv_msg(fd, msg, sizeof msg, MSG_DONTWAIT);
    if (n < 0)
        return (int)n;
    if (ctl_parse(msg, id, &text) != 0 || strlen(text) >= cap)
        return CTL_EINVAL;
    strcpy(cmd, text);
    return CTL_OK;
}

int ctl_reply(int fd, uint64_t id, const char *text)
{
    return ctl_send(fd, id, text, MSG_DONTWAIT);
}
