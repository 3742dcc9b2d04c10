/*
 * esl_conn.c -- the ESL worker's connection to its FreeSWITCH node and its
 * loop (see esl.h; the calls are in esl_call.c).
 *
 *   DOWN --connect--> CONNECTING --> AUTH (auth/request; auth; +OK
 *   accepted; event plain ...; +OK) --> LIVE (resync, then events)
 *     ^                                                        |
 *     +------ lost, refused, bad frame: backoff 100 ms .. max ---+
 *
 * Commands are written without waiting for their replies (pipelined);
 * FreeSWITCH answers them in order, between events, so a FIFO of what each
 * command was for (esl_pending_t) is all the matching needs. A reply with
 * no command waiting is a protocol error and drops the connection.
 *
 * NOTES
 * - The loop is online in QSBR (qsbr.h) only while it handles what one
 *   read brought; it waits offline, so an idle worker never holds a
 *   retired catalog.
 * - Output is gathered and written once per loop turn: a park costs three
 *   commands, and one write for all of them.
 * - A half-open connection (FreeSWITCH's host gone without a FIN) would
 *   look like a quiet node forever; FreeSWITCH sends a HEARTBEAT every 20
 *   s, so nothing for esl.idle_timeout_sec means the link is dead (TCP
 *   keepalive as well, for the kernel's view).
 * - A wrong password is logged as an error and retried at the longest
 *   backoff: the node's password may be fixed without restarting apolod.
 */
#include "shm/clock.h"
#include "workers/esl_int.h"
#include "shm/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define ESL_BACKOFF_MIN_MS 100
#define ESL_READ_MAX       (256 * 1024)
#define ESL_SUBSCRIBE \
    "event plain CHANNEL_CREATE CHANNEL_PARK CHANNEL_ANSWER " \
    "CHANNEL_HANGUP_COMPLETE HEARTBEAT BACKGROUND_JOB"

static const char *const esl_wanted[EH_NWANT] = {
    [EH_NAME] = "Event-Name",
    [EH_UUID] = "Unique-ID",
    [EH_DIRECTION] = "Call-Direction",
    [EH_ANSWER_STATE] = "Answer-State",
    [EH_CID] = "Caller-Caller-ID-Number",
    [EH_ORIG_CID] = "Caller-Orig-Caller-ID-Number",
    [EH_DEST] = "Caller-Destination-Number",
    [EH_CONTEXT] = "Caller-Context",
    [EH_CREATED] = "Caller-Channel-Created-Time",
    [EH_ANSWERED] = "Caller-Channel-Answered-Time",
    [EH_HUNGUP] = "Caller-Channel-Hangup-Time",
    [EH_CAUSE] = "Hangup-Cause",
    [EH_BILLSEC] = "variable_billsec",
    [EH_BILLMSEC] = "variable_billmsec",
    [EH_DURATION] = "variable_duration",
    [EH_EVENT_TS] = "Event-Date-Timestamp",
    [EH_ACCOUNT] = "variable_apolo_account",
};

const char *esl_header_name(int h)
{
    return h >= 0 && h < EH_NWANT ? esl_wanted[h] : NULL;
}

int64_t esl_mono_ms(void)
{
    return clock_mono_ms();
}

int64_t esl_wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* ---- nodes ------------------------------------------------------------------- */

int esl_node_parse(const char *list, int i, esl_node_t *out, char *why,
                   size_t cap)
{
    const char *p = list;
    for (int k = 0; k < i && p != NULL; k++) {
        p = strchr(p, ',');
        p = p ? p + 1 : NULL;
    }
    if (p == NULL) {
        snprintf(why, cap, "no node %d", i + 1);
        return -1;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strcspn(p, ",");
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    const char *at = memrchr(p, '@', n);
    if (at == NULL || at == p) {
        snprintf(why, cap, "node %d: expected password@host:port", i + 1);
        return -1;
    }
    const char *hp = at + 1, *end = p + n, *colon;
    size_t hlen;
    if (*hp == '[') {
        const char *rb = memchr(hp, ']', (size_t)(end - hp));
        if (rb == NULL || rb + 1 >= end || rb[1] != ':')
            goto bad;
        hp++;
        hlen = (size_t)(rb - hp);
        colon = rb + 1;
    } else {
        colon = memrchr(hp, ':', (size_t)(end - hp));
        if (colon == NULL)
            goto bad;
        hlen = (size_t)(colon - hp);
    }
    size_t plen = (size_t)(end - colon - 1), pwlen = (size_t)(at - p);
    if (hlen == 0 || hlen >= ESL_HOST_MAX || plen == 0 || plen >= 6
        || strspn(colon + 1, "0123456789") < plen || pwlen >= ESL_PASS_MAX
        || memchr(p, '\n', pwlen) != NULL)
        goto bad;
    memcpy(out->host, hp, hlen);
    out->host[hlen] = '\0';
    memcpy(out->port, colon + 1, plen);
    out->port[plen] = '\0';
    memcpy(out->password, p, pwlen);
    out->password[pwlen] = '\0';
    return 0;
bad:
    snprintf(why, cap, "node %d: expected password@host:port (IPv6 in "
             "brackets)", i + 1);
    return -1;
}

int esl_node_count(const conf_t *conf)
{
    const char *list = conf_str(conf, "esl.nodes");
    char why[128];
    esl_node_t node;
    if (list == NULL || strspn(list, " \t") == strlen(list))
        return 0;
    int n = 1;
    for (const char *p = list; (p = strchr(p, ',')) != NULL; p++)
        n++;
    for (int i = 0; i < n; i++)
        if (esl_node_parse(list, i, &node, why, sizeof why) != 0) {
            LOG_ERROR("esl", 0, "esl.nodes: %s", why);
            return -1;
        }
    return n;
}

/* ---- output ------------------------------------------------------------------ */

static int esl_out_reserve(esl_worker_t *w, size_t n)
{
    if (w->out_len + n <= w->out_cap)
        return 0;
    if (w->out_off > 0) {
        memmove(w->out, w->out + w->out_off, w->out_len - w->out_off);
        w->out_len -= w->out_off;
        w->out_off = 0;
        if (w->out_len + n <= w->out_cap)
            return 0;
    }
    size_t cap = w->out_cap ? w->out_cap : 64 * 1024;
    while (cap < w->out_len + n)
        cap *= 2;
    char *v = realloc(w->out, cap);
    if (v == NULL)
        return -1;
    w->out = v;
    w->out_cap = cap;
    return 0;
}

static int esl_pend_push(esl_worker_t *w, esl_cmd_kind_t kind, uint32_t call,
                         uint32_t arg)
{
    if (w->pend_n == w->pend_cap) {
        uint32_t cap = w->pend_cap ? w->pend_cap * 2 : 1024;
        esl_pending_t *v = malloc(cap * sizeof *v);
        if (v == NULL)
            return -1;
        for (uint32_t k = 0; k < w->pend_n; k++)
            v[k] = w->pend[(w->pend_head + k) % w->pend_cap];
        free(w->pend);
        w->pend = v;
        w->pend_cap = cap;
        w->pend_head = 0;
    }
    w->pend[(w->pend_head + w->pend_n++) % w->pend_cap] = (esl_pending_t){
        (uint8_t)kind, call, call == ESL_NONE ? 0 : w->calls[call].gen, arg };
    return 0;
}

/* Appends "<text>\n\n" and what its reply is for. */
static int esl_send(esl_worker_t *w, esl_cmd_kind_t kind, uint32_t call,
                    uint32_t arg, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

static int esl_send(esl_worker_t *w, esl_cmd_kind_t kind, uint32_t call,
                    uint32_t arg, const char *fmt, va_list ap)
{
    char line[1024];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    if (n < 0 || (size_t)n >= sizeof line - 2
        || esl_out_reserve(w, (size_t)n + 2) != 0
        || esl_pend_push(w, kind, call, arg) != 0) {
        LOG_ERROR("esl", 0, "command not sent (too long or out of memory)");
        return -1;
    }
    memcpy(w->out + w->out_len, line, (size_t)n);
    memcpy(w->out + w->out_len + n, "\n\n", 2);
    w->out_len += (size_t)n + 2;
    return 0;
}

static int esl_raw(esl_worker_t *w, esl_cmd_kind_t kind, uint32_t call,
                   uint32_t arg, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int esl_raw(esl_worker_t *w, esl_cmd_kind_t kind, uint32_t call,
                   uint32_t arg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = esl_send(w, kind, call, arg, fmt, ap);
    va_end(ap);
    return rc;
}

int esl_api_arg(esl_worker_t *w, esl_cmd_kind_t kind, uint32_t call,
                uint32_t arg, const char *fmt, ...)
{
    char cmd[960];
    va_list ap;
    if (w->state != ES_LIVE)
        return -1;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd)
        return -1;
    return esl_raw(w, kind, call, arg, "api %s", cmd) == 0 ? 0 : -1;
}

void esl_verdict_queued(esl_worker_t *w)
{
    if (w->nvq > 0 && (w->vq[w->nvq - 1].rx_us == w->rx_us
                       || w->nvq == sizeof w->vq / sizeof w->vq[0])) {
        w->vq[w->nvq - 1].n++;           /* full: counted with the last */
        return;
    }
    w->vq[w->nvq].rx_us = w->rx_us;
    w->vq[w->nvq].n = 1;
    w->nvq++;
}

/* Everything queued is written: the verdicts in it are given. */
static void esl_verdicts_written(esl_worker_t *w)
{
    int64_t now = clock_mono_us();
    for (uint32_t k = 0; k < w->nvq; k++)
        stats_verdicts(w->st, now - w->vq[k].rx_us, w->vq[k].n);
    w->nvq = 0;
}

/* When the bytes recvmsg just read reached the socket, on our monotonic
 * clock: the kernel's timestamp (the last segment read) is wall clock. */
static int64_t esl_rx_time(struct msghdr *mh)
{
    int64_t now = clock_mono_us();
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL;
         c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS)
            continue;
        struct timespec ts;
        memcpy(&ts, CMSG_DATA(c), sizeof ts);
        int64_t age = clock_wall_us()
                      - ((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
        return age > 0 ? now - age : now;
    }
    return now;
}

/* Writes what is queued; -1 when the connection failed. */
static int esl_flush(esl_worker_t *w)
{
    while (w->out_off < w->out_len) {
        ssize_t n = send(w->fd, w->out + w->out_off, w->out_len - w->out_off,
                         MSG_NOSIGNAL);
        if (n > 0) {
            w->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct epoll_event e = { .events = EPOLLIN | EPOLLOUT,
                                     .data.fd = w->fd };
            epoll_ctl(w->ep, EPOLL_CTL_MOD, w->fd, &e);
            return 0;
        }
        LOG_WARN("esl", errno, "write to %s:%s failed", w->node.host,
                 w->node.port);
        return -1;
    }
    w->out_off = w->out_len = 0;
    esl_verdicts_written(w);
    return 0;
}

/* ---- connection state ------------------------------------------------------- */

static void esl_drop(esl_worker_t *w, const char *why)
{
    if (w->fd >= 0 && w->state == ES_CONNECTING) {
        /* An attempt that never connected: nothing was lost, and a node
         * that stays down must not fill the log (one line a backoff). */
        LOG_DEBUG("esl", "connect to %s:%s failed: %s; again in %" PRId64
                  " ms", w->node.host, w->node.port, why, w->backoff_ms);
        epoll_ctl(w->ep, EPOLL_CTL_DEL, w->fd, NULL);
        close(w->fd);
        w->fd = -1;
    } else if (w->fd >= 0) {
        w->nvq = 0;                     /* those verdicts were never given */
        LOG_WARN("esl", 0, "connection to %s:%s lost: %s; %u commands "
                 "unanswered, reconnecting in %" PRId64 " ms", w->node.host,
                 w->node.port, why, w->pend_n, w->backoff_ms);
        epoll_ctl(w->ep, EPOLL_CTL_DEL, w->fd, NULL);
        close(w->fd);
        w->fd = -1;
        esl_call_lost(w);
        STATS_INC(w->st, reconnects);
    }
    STATS_SET(w->st, connected, 0);
    w->state = ES_DOWN;
    w->pend_n = 0;
    w->out_len = w->out_off = 0;
    esl_reader_free(&w->in);
    w->retry_at_ms = esl_mono_ms() + w->backoff_ms;
    w->backoff_ms = w->backoff_ms * 2 > w->backoff_max_ms
                        ? w->backoff_max_ms : w->backoff_ms * 2;
}

static void esl_connect(esl_worker_t *w)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM }, *ai = NULL;
    int rc = getaddrinfo(w->node.host, w->node.port, &hints, &ai);
    if (rc != 0) {
        LOG_ERROR("esl", 0, "%s:%s: %s", w->node.host, w->node.port,
                  gai_strerror(rc));
        esl_drop(w, "address does not resolve");
        return;
    }
    w->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   0);
    if (w->fd < 0 || (connect(w->fd, ai->ai_addr, ai->ai_addrlen) != 0
                      && errno != EINPROGRESS)) {
        int e = errno;
        freeaddrinfo(ai);
        if (w->fd >= 0)
            close(w->fd);
        w->fd = -1;
        LOG_DEBUG("esl", "connect %s:%s: %s", w->node.host, w->node.port,
                  strerror(e));
        esl_drop(w, "connect failed");
        return;
    }
    freeaddrinfo(ai);
    int one = 1;
    setsockopt(w->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(w->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(w->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    w->last_rx_ms = esl_mono_ms();
    if (esl_reader_init(&w->in, (size_t)w->ctx->conf->esl_max_frame_kb * 1024)
        != ESL_OK) {
        close(w->fd);
        w->fd = -1;
        esl_drop(w, "out of memory");
        return;
    }
    struct epoll_event e = { .events = EPOLLIN | EPOLLOUT, .data.fd = w->fd };
    epoll_ctl(w->ep, EPOLL_CTL_ADD, w->fd, &e);
    w->state = ES_CONNECTING;
}

static int esl_connected(esl_worker_t *w)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) {
        LOG_DEBUG("esl", "connect %s:%s: %s", w->node.host, w->node.port,
                  strerror(err));
        return -1;
    }
    struct epoll_event e = { .events = EPOLLIN, .data.fd = w->fd };
    epoll_ctl(w->ep, EPOLL_CTL_MOD, w->fd, &e);
    w->state = ES_AUTH;
    return 0;
}

/* ---- frames ---------------------------------------------------------------- */

static int esl_pend_pop(esl_worker_t *w, esl_pending_t *p)
{
    if (w->pend_n == 0)
        return -1;
    *p = w->pend[w->pend_head];
    w->pend_head = (w->pend_head + 1) % w->pend_cap;
    w->pend_n--;
    return 0;
}

static int esl_on_reply(esl_worker_t *w, const esl_frame_t *f)
{
    esl_pending_t p;
    const char *text = f->reply_text ? f->reply_text : "";
    int ok = strncmp(text, "+OK", 3) == 0;
    if (esl_pend_pop(w, &p) != 0) {
        esl_drop(w, "a reply to no command");
        return -1;
    }
    if (p.kind == EC_AUTH) {
        if (!ok) {
            LOG_ERROR("esl", 0, "%s:%s refused our password (%s): check "
                      "esl.nodes", w->node.host, w->node.port, text);
            w->auth_failed = 1;
            w->backoff_ms = w->backoff_max_ms;
            esl_drop(w, "authentication failed");
            return -1;
        }
        return esl_raw(w, EC_SUBSCRIBE, ESL_NONE, 0, ESL_SUBSCRIBE);
    }
    if (p.kind == EC_SUBSCRIBE) {
        if (!ok) {
            esl_drop(w, "event subscription refused");
            return -1;
        }
        w->state = ES_LIVE;
        STATS_SET(w->st, connected, 1);
        w->conn_gen++;
        w->backoff_ms = ESL_BACKOFF_MIN_MS;
        w->auth_failed = 0;
        LOG_INFO("esl", "connected to %s:%s", w->node.host, w->node.port);
        esl_call_resync(w);
        return 0;
    }
    esl_call_reply(w, &p, ok, text, strlen(text));
    return 0;
}

static int esl_on_frame(esl_worker_t *w, esl_frame_t *f)
{
    switch (f->type) {
    case ESL_T_AUTH_REQUEST:
        return esl_raw(w, EC_AUTH, ESL_NONE, 0, "auth %s", w->node.password);
    case ESL_T_COMMAND_REPLY:
        return esl_on_reply(w, f);
    case ESL_T_API_RESPONSE: {
        esl_pending_t p;
        if (esl_pend_pop(w, &p) != 0) {
            esl_drop(w, "a reply to no command");
            return -1;
        }
        int ok = strncmp(f->body, "-ERR", 4) != 0;
        esl_call_reply(w, &p, ok, f->body, f->body_len);
        return 0;
    }
    case ESL_T_EVENT_PLAIN: {
        esl_event_t ev;
        STATS_INC(w->st, events);
        STATS_SET(w->st, last_event_us, esl_wall_us());
        if (esl_event_parse(&w->want, f->body, f->body_len, &ev) != ESL_OK) {
            STATS_INC(w->st, bad_events);
            LOG_WARN("esl", 0, "malformed event from %s:%s ignored",
                     w->node.host, w->node.port);
            return 0;
        }
        if (ev.val[EH_EVENT_TS] != NULL)
            esl_clock_sample(w, strtoll(ev.val[EH_EVENT_TS], NULL, 10));
        esl_call_event(w, &ev);
        return 0;
    }
    case ESL_T_DISCONNECT_NOTICE:
        esl_drop(w, "FreeSWITCH said goodbye (disconnect notice)");
        return -1;
    default:
        return 0;                 /* event-json and others: not asked for */
    }
}

/* Reads what is there and handles every complete frame. */
static void esl_on_readable(esl_worker_t *w)
{
    size_t total = 0;
    while (total < ESL_READ_MAX) {
        size_t avail;
        char *buf = esl_reader_space(&w->in, 16384, &avail);
        if (buf == NULL) {
            esl_drop(w, "out of memory");
            return;
        }
        struct iovec iov = { buf, avail };
        union {
            char buf[CMSG_SPACE(sizeof(struct timespec))];
            struct cmsghdr align;
        } ctl;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                             .msg_control = ctl.buf,
                             .msg_controllen = sizeof ctl.buf };
        ssize_t n = recvmsg(w->fd, &mh, 0);
        if (n == 0) {
            esl_drop(w, "closed by the peer");
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            esl_drop(w, strerror(errno));
            return;
        }
        esl_reader_commit(&w->in, (size_t)n);
        w->rx_us = esl_rx_time(&mh);
        total += (size_t)n;
        w->last_rx_ms = esl_mono_ms();
        esl_frame_t f;
        int rc;
        while ((rc = esl_reader_next(&w->in, &f)) == ESL_OK) {
            if (esl_on_frame(w, &f) != 0)
                return;
            qsbr_quiescent(&w->rd);
        }
        if (rc != ESL_EAGAIN) {
            LOG_ERROR("esl", 0, "%s:%s sent a malformed frame: %s",
                      w->node.host, w->node.port, w->in.err);
            esl_drop(w, "malformed frame");
            return;
        }
        /* Verdicts go out with the read that asked for them, not after
         * the rest of the backlog (up to ESL_READ_MAX) is parsed. */
        if (w->nvq > 0 && esl_flush(w) != 0) {
            esl_drop(w, "write failed");
            return;
        }
    }
}

/* ---- the loop --------------------------------------------------------------- */

static void esl_turn(esl_worker_t *w)
{
    int64_t now = esl_mono_ms();
    if (w->state == ES_DOWN && now >= w->retry_at_ms)
        esl_connect(w);
    int wait = esl_call_timers(w);
    if (w->state == ES_DOWN) {
        int64_t d = w->retry_at_ms - esl_mono_ms();
        if (wait < 0 || d < wait)
            wait = d < 0 ? 0 : (int)d;
    }
    if (wait < 0 || wait > 1000)
        wait = 1000;
    if (w->fd >= 0 && w->out_off < w->out_len && esl_flush(w) != 0)
        esl_drop(w, "write failed");
    if (w->fd >= 0 && w->idle_ms > 0 && now - w->last_rx_ms > w->idle_ms)
        esl_drop(w, "no data, not even a HEARTBEAT, for esl.idle_timeout_sec");

    struct epoll_event ev[4];
    qsbr_offline(&w->rd);
    int n = epoll_wait(w->ep, ev, 4, wait);
    qsbr_online(&w->rd);
    for (int k = 0; k < n && w->fd >= 0; k++) {
        if (w->state == ES_CONNECTING) {
            if (esl_connected(w) != 0) {
                esl_drop(w, "connect failed");
                break;
            }
            continue;
        }
        if (ev[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            esl_on_readable(w);
        if (w->fd >= 0 && (ev[k].events & EPOLLOUT)) {
            struct epoll_event e = { .events = EPOLLIN, .data.fd = w->fd };
            epoll_ctl(w->ep, EPOLL_CTL_MOD, w->fd, &e);
        }
    }
    if (w->fd >= 0 && w->out_off < w->out_len && esl_flush(w) != 0)
        esl_drop(w, "write failed");
    qsbr_quiescent(&w->rd);
}

static int esl_setup(esl_worker_t *w, proc_ctx_t *ctx)
{
    const conf_t *cf = ctx->conf;
    char why[160];
    memset(w, 0, sizeof *w);
    w->ctx = ctx;
    w->fd = w->ep = w->tfd = -1;
    if (esl_node_parse(conf_str(cf, "esl.nodes"), ctx->index - 1, &w->node,
                       why, sizeof why) != 0) {
        LOG_ERROR("esl", 0, "esl.nodes: %s", why);
        return PROC_EXIT_NORESTART;
    }
    const char *mode = conf_str(cf, "esl.authorize_on");
    if (strcmp(mode, "park") != 0 && strcmp(mode, "create") != 0) {
        LOG_ERROR("esl", 0, "esl.authorize_on: \"%s\" is neither park nor "
                  "create", mode);
        return PROC_EXIT_NORESTART;
    }
    w->park_mode = strcmp(mode, "park") == 0;
    w->transfer_ctx = conf_str(cf, "esl.transfer_context");
    w->low_sound = conf_str(cf, "esl.low_balance_sound");
    if (!*w->transfer_ctx || strpbrk(w->transfer_ctx, " \r\n")
        || strpbrk(w->low_sound, " \r\n")) {
        LOG_ERROR("esl", 0, "esl.transfer_context and esl.low_balance_sound "
                  "must be one word");
        return PROC_EXIT_NORESTART;
    }
    w->interval = (uint32_t)cf->esl_debit_interval_sec;
    w->max_call = (uint32_t)cf->esl_max_call_sec;
    w->ring_allow = (uint32_t)cf->esl_ring_allowance_sec;
    w->charge_in = (int)cf->esl_charge_inbound;
    w->charge_int = (int)cf->esl_charge_internal;
    w->max_kills = cf->esl_max_resync_kills;
    w->backoff_max_ms = cf->esl_reconnect_max_ms;
    w->idle_ms = cf->esl_idle_timeout_sec * 1000;
    w->backoff_ms = ESL_BACKOFF_MIN_MS;
    w->region = ctx->region;
    w->accts = region_area(ctx->region, REGION_AREA_ACCOUNTS);
    w->cs = ctx->calls;
    w->tag = calls_tag(CALLS_KIND_ESL, (unsigned)ctx->index);
    w->st = stats_claim(region_area(ctx->region, REGION_AREA_STATS), w->tag);
    if (w->st == NULL) {
        LOG_WARN("esl", 0, "no free stats slot (region.max_readers): this "
                 "worker's counters are not exported");
        w->st = &w->st_local;
    }
    STATS_SET(w->st, connected, 0);
    w->pid = getpid();
    if (w->cs == NULL) {
        LOG_ERROR("esl", 0, "no calls table");
        return PROC_EXIT_NORESTART;
    }
    if (esl_want_init(&w->want, esl_wanted, EH_NWANT) != ESL_OK
        || esl_calls_init(w) != 0
        || (w->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        LOG_ERROR("esl", errno, "cannot set up the worker");
        return PROC_EXIT_FATAL;
    }
    if (qsbr_register(region_area(ctx->region, REGION_AREA_QSBR), &w->rd)
        != QSBR_OK) {
        LOG_ERROR("esl", 0, "no free QSBR slot (region.max_readers)");
        return PROC_EXIT_FATAL;
    }
    if (jrn_writer_open(ctx->jrn, &w->w) != JRN_OK) {
        LOG_ERROR("esl", 0, "no free journal ring (journal.rings)");
        qsbr_unregister(&w->rd);
        return PROC_EXIT_FATAL;
    }
    w->have_writer = 1;
    return PROC_EXIT_OK;
}

int esl_main(proc_ctx_t *ctx)
{
    esl_worker_t w;
    int rc = esl_setup(&w, ctx);
    if (rc != PROC_EXIT_OK)
        return rc;
    qsbr_online(&w.rd);
    esl_calls_adopt(&w);
    LOG_INFO("esl", "started for %s:%s (ring %u, authorize on %s)",
             w.node.host, w.node.port, w.w.index,
             w.park_mode ? "park" : "create");
    while (!*ctx->stop)
        esl_turn(&w);
    /* Calls still live stay in the region for the next worker. The
     * counters are this worker slot's since apolod started. */
    const stats_slot_t *st = w.st;      /* only we write it */
    STATS_SET(w.st, connected, 0);
    LOG_INFO("esl", "stopping: %" PRIu64 " events, %" PRIu64 " authorized, %"
             PRIu64 " refused, %" PRIu64 " cut, %" PRIu64 " CDRs, %" PRIu64
             " bad events; %u calls left live", st->events,
             st->calls_authorized, st->calls_refused, st->calls_cut,
             st->cdrs, st->bad_events, calls_count(w.cs));
    if (w.fd >= 0)
        close(w.fd);
    esl_reader_free(&w.in);
    esl_want_free(&w.want);
    esl_calls_free(&w);
    free(w.out);
    free(w.pend);
    close(w.ep);
    qsbr_unregister(&w.rd);
    jrn_writer_close(&w.w);
    return PROC_EXIT_OK;
}
