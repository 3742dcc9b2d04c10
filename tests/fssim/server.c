/*
 * server.c -- the Event Socket server: inbound clients, their commands,
 * the api commands a billing engine sends.
 *
 * Framing, as FreeSWITCH 1.11 (tests/fixtures/freeswitch):
 *   on connect    Content-Type: auth/request\n\n
 *   command/reply Content-Type: command/reply\nReply-Text: +OK accepted\n\n
 *   api/response  Content-Type: api/response\nContent-Length: N\n\n<body>
 *   events        Content-Length: N\nContent-Type: text/event-plain\n\n...
 *   goodbye       Content-Type: text/disconnect-notice\nContent-Length: 67
 * A command is a header block: its first line, optional "Name: value"
 * lines (bgapi's Job-UUID), a blank line; a Content-Length header makes a
 * body follow. Commands are executed and answered strictly in order, as
 * many as one read brought. Replies of api commands precede the events
 * the command causes (a uuid_kill's CHANNEL_HANGUP comes after its +OK).
 *
 * Output is appended to a per-client buffer and written once per loop
 * turn (server_flush_all); a client that lets more than --max-outbuf-mb
 * pile up is dropped, as FreeSWITCH drops a listener whose queue is full.
 */
#include "tests/fssim/fssim.h"

#include "shm/log.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { TAG_LISTEN = 1, TAG_CLIENT = 2 };

typedef struct client client_t;

struct client {
    int      tag;                   /* TAG_CLIENT: first, the epoll tag */
    int      fd;
    uint32_t id;
    int      authed;
    int      closing;               /* close once the output is written */
    int      dead;                  /* closed; reaped by server_flush_all */
    int      pollout;               /* EPOLLOUT registered */
    fmt_t    fmt;
    uint32_t sub;                   /* bit per ev_t */
    buf_t    in, out;
    client_t *next;
};

static struct { int tag; int fd; } lsn = { TAG_LISTEN, -1 };
static client_t *clients;
static uint32_t  client_ids;
static int       nsub[EV_NTYPES];

#define HEADER_MAX 65536u           /* a command's header block */
#define BODY_MAX   (1u << 20)       /* a command's body (sendmsg) */

static const char disconnect_notice[] =
    "Content-Type: text/disconnect-notice\nContent-Length: 67\n\n"
    "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";

/* ---- bookkeeping --------------------------------------------------------- */

static void recount_subs(void)
{
    memset(nsub, 0, sizeof nsub);
    for (client_t *c = clients; c; c = c->next)
        if (!c->dead && c->authed)
            for (int t = 0; t < EV_NTYPES; t++)
                if (c->sub & (1u << t))
                    nsub[t]++;
}

int server_subscribers(ev_t t)
{
    return nsub[t];
}

static void client_kill(client_t *c, const char *why)
{
    if (c->dead)
        return;
    LOG_INFO("esl", "client %u closed: %s", c->id, why);
    epoll_ctl(G.ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->dead = 1;
    c->in.len = c->in.off = 0;
    c->out.len = c->out.off = 0;
    recount_subs();
}

static void client_reap(void)
{
    client_t **pp = &clients;
    while (*pp) {
        client_t *c = *pp;
        if (c->dead) {
            *pp = c->next;
            buf_free(&c->in);
            buf_free(&c->out);
            free(c);
        } else {
            pp = &c->next;
        }
    }
}

static inline void out_put(client_t *c, const void *p, size_t n)
{
    if (c->dead)
        return;
    buf_put(&c->out, p, n);
}

static void check_backlog(client_t *c)
{
    if (!c->dead && c->out.len - c->out.off > G.o.max_outbuf) {
        LOG_WARN("esl", 0, "client %u: %zu bytes of output queued (more "
                 "than --max-outbuf-mb): dropped", c->id,
                 c->out.len - c->out.off);
        client_kill(c, "too slow");
    }
}

static void reply_cmd(client_t *c, const char *text)
{
    BUF_LIT(&c->out, "Content-Type: command/reply\nReply-Text: ");
    buf_put(&c->out, text, strlen(text));
    BUF_LIT(&c->out, "\n\n");
}

static void reply_api(client_t *c, const char *body, size_t n)
{
    BUF_LIT(&c->out, "Content-Type: api/response\nContent-Length: ");
    buf_u64(&c->out, n);
    BUF_LIT(&c->out, "\n\n");
    buf_put(&c->out, body, n);
}

/* ---- delivery ------------------------------------------------------------ */

void server_deliver(ev_t t, const evb_t *e, const ev_held_t *h, int times)
{
    uint32_t bit = 1u << t;
    for (client_t *c = clients; c; c = c->next) {
        if (c->dead || !c->authed || !(c->sub & bit))
            continue;
        const buf_t *f = h ? (c->fmt == FMT_JSON ? &h->json : &h->plain)
                           : ev_frame(e, c->fmt);
        for (int i = 0; i < times; i++) {
            buf_put(&c->out, f->p, f->len);
            G.st.events_sent++;
        }
        check_backlog(c);
    }
}

void server_raw_all(const char *p, size_t n)
{
    for (client_t *c = clients; c; c = c->next)
        out_put(c, p, n);
}

/* ---- api commands -------------------------------------------------------- */

/* What an api command does after its reply is written. */
typedef struct deferred {
    call_t    *call;
    uint32_t   inc;
    int        cause;
    ended_by_t by;
    int        hupall;
} deferred_t;

/* Splits s in place at spaces into at most max words; the last word takes
 * the rest of the line (switch_separate_string does the same). */
static int split_args(char *s, char **argv, int max)
{
    int n = 0;
    while (*s == ' ')
        s++;
    while (*s && n < max) {
        if (n == max - 1) {
            size_t l = strlen(s);
            while (l && s[l - 1] == ' ')
                s[--l] = '\0';
            argv[n++] = s;
            break;
        }
        argv[n++] = s;
        while (*s && *s != ' ')
            s++;
        if (!*s)
            break;
        *s++ = '\0';
        while (*s == ' ')
            s++;
    }
    for (int i = n; i < max; i++)
        argv[i] = NULL;
    return n;
}

#define NO_CHANNEL "-ERR No such channel!\n"

static void api_status(buf_t *r)
{
    BUF_LIT(r, "UP ");
    fmt_uptime(r, mono_us() - G.start_mono);
    buf_printf(r, "\nFreeSWITCH (Version 1.11.0-release  64bit) is ready\n"
               "%llu session(s) since startup\n"
               "%llu session(s) - peak %llu, last 5min %llu \n"
               "%llu session(s) per Sec out of max 30, peak %llu, "
               "last 5min %llu \n"
               "1000 session(s) max\n"
               "min idle cpu 0.00/96.00\n"
               "Current Stack Size/Max 240K/8192K\n",
               (unsigned long long)G.st.calls_created,
               (unsigned long long)G.st.live,
               (unsigned long long)G.st.peak_live,
               (unsigned long long)G.st.peak_live,
               (unsigned long long)G.st.sps_last,
               (unsigned long long)G.st.sps_max,
               (unsigned long long)G.st.sps_max);
}

#define SHOW_SYNTAX "codec|endpoint|application|api|dialplan|file|timer|" \
    "calls [count]|channels [count|like <match string>]|calls|"            \
    "detailed_calls|bridged_calls|detailed_bridged_calls|aliases|"         \
    "complete|chat|management|modules|nat_map|say|interfaces|"             \
    "interface_types|tasks|limits|status"

static void api_show(char *args, buf_t *r)
{
    char *argv[6] = { 0 };
    int argc = split_args(args, argv, 6);
    int json = 0, count = 0, calls;
    if (argc < 1) {
        buf_printf(r, "-USAGE: %s\n", SHOW_SYNTAX);
        return;
    }
    if (strcasecmp(argv[0], "channels") == 0)
        calls = 0;
    else if (strcasecmp(argv[0], "calls") == 0)
        calls = 1;
    else {
        buf_printf(r, "-USAGE: %s\n", SHOW_SYNTAX);
        return;
    }
    int i = 1;
    if (argv[i] && strcasecmp(argv[i], "count") == 0) {
        count = 1;
        i++;
    }
    if (argv[i] && argv[i + 1] && strcasecmp(argv[i], "as") == 0) {
        if (strcasecmp(argv[i + 1], "json") == 0)
            json = 1;
        else if (strcasecmp(argv[i + 1], "delim") != 0 &&
                 strcasecmp(argv[i + 1], "csv") != 0) {
            buf_printf(r, "-ERR Cannot find format %s\n", argv[i + 1]);
            return;
        }
    }
    if (count) {
        uint64_t n = 0;
        for (call_t *c = live_head; c; c = c->next)
            n++;
        if (json)
            buf_printf(r, "{\"row_count\":%llu}", (unsigned long long)n);
        else
            buf_printf(r, "\n%llu total.\n", (unsigned long long)n);
        return;
    }
    calls_show(r, json, calls);
}

/* Runs one api command: its output into r, what must happen after the
 * reply into d. cmd and args are modified. */
static void api_exec(char *cmd, char *args, buf_t *r, deferred_t *d)
{
    char *argv[6] = { 0 };
    int argc;
    call_t *c;

    memset(d, 0, sizeof *d);
    if (strcasecmp(cmd, "status") == 0) {
        api_status(r);
    } else if (strcasecmp(cmd, "version") == 0) {
        BUF_LIT(r, "FreeSWITCH Version 1.11.0-release~64bit ( 64bit)\n");
    } else if (strcasecmp(cmd, "uuid_exists") == 0) {
        argc = split_args(args, argv, 1);
        if (argc == 1 && call_find(argv[0]))
            BUF_LIT(r, "true");
        else
            BUF_LIT(r, "false");
    } else if (strcasecmp(cmd, "uuid_kill") == 0) {
        argc = split_args(args, argv, 2);
        if (argc < 1) {
            BUF_LIT(r, "-USAGE: <uuid> [cause]\n");
        } else if (!(c = call_find(argv[0]))) {
            BUF_LIT(r, NO_CHANNEL);
        } else {
            int cause = argc > 1 ? cause_id(argv[1]) : -1;
            if (cause < 0)
                cause = cause_by_name("NORMAL_CLEARING");
            c->kill_cause = cause;
            if (c->verdict == V_NONE) {
                c->verdict = V_KILL;
                c->verdict_us = wall_us();
                run_note_verdict(c);
            }
            d->call = c;
            d->inc = c->inc;
            d->cause = cause;
            d->by = END_KILL;
            BUF_LIT(r, "+OK\n");
        }
    } else if (strcasecmp(cmd, "uuid_transfer") == 0) {
        argc = split_args(args, argv, 5);
        if (argc < 2) {
            BUF_LIT(r, "-USAGE: <uuid> [-bleg|-both] <dest-exten> "
                       "[<dialplan>] [<context>]\n");
        } else if (!(c = call_find(argv[0]))) {
            BUF_LIT(r, NO_CHANNEL);
        } else {
            int a = argv[1][0] == '-' ? 2 : 1;
            if (!argv[a]) {
                BUF_LIT(r, "-ERR\n");
            } else {
                call_transfer(c, argv[a], argv[a + 1],
                              a + 2 < 6 ? argv[a + 2] : NULL);
                BUF_LIT(r, "+OK\n");
            }
        }
    } else if (strcasecmp(cmd, "sched_hangup") == 0) {
        argc = split_args(args, argv, 3);
        if (argc < 1 || !argv[0][0]) {
            BUF_LIT(r, "-USAGE: [+]<time> <uuid> [<cause>]\n");
        } else if (!argv[1] || !(c = call_find(argv[1]))) {
            BUF_LIT(r, NO_CHANNEL);
        } else {
            int64_t secs;
            if (argv[0][0] == '+') {
                secs = atol(argv[0] + 1);
            } else {
                secs = atol(argv[0]) - wall_us() / 1000000;
            }
            if (secs < 0)
                secs = 0;
            int cause = argv[2] ? cause_id(argv[2]) : -1;
            if (cause < 0)
                cause = cause_by_name("ALLOTTED_TIMEOUT");
            if (secs == 0 && argv[0][0] == '+') {
                uint32_t z = 0;
                buf_put(&c->sched, &z, sizeof z);
                d->call = c;
                d->inc = c->inc;
                d->cause = cause;
                d->by = END_SCHED;
            } else {
                call_sched_hangup(c, (uint32_t)secs, cause);
            }
            BUF_LIT(r, "+OK\n");
        }
    } else if (strcasecmp(cmd, "sched_del") == 0) {
        argc = split_args(args, argv, 1);
        if (argc < 1) {
            BUF_LIT(r, "-ERR Invalid syntax\n");
        } else {
            uint64_t id;
            uint32_t n = parse_u64(argv[0], &id) == 0 ? 0
                                                      : sched_del_group(argv[0]);
            buf_printf(r, "+OK Deleted: %u\n", n);
        }
    } else if (strcasecmp(cmd, "uuid_setvar") == 0) {
        argc = split_args(args, argv, 3);
        if (argc < 2) {
            BUF_LIT(r, "-USAGE: <uuid> <var> [value]\n");
        } else if (!(c = call_find(argv[0]))) {
            BUF_LIT(r, NO_CHANNEL);
        } else {
            call_setvar(c, argv[1], argv[2]);
            BUF_LIT(r, "+OK\n");
        }
    } else if (strcasecmp(cmd, "uuid_getvar") == 0) {
        argc = split_args(args, argv, 2);
        if (argc < 2) {
            BUF_LIT(r, "-USAGE: <uuid> <var>\n");
        } else if (!(c = call_find(argv[0]))) {
            BUF_LIT(r, NO_CHANNEL);
        } else {
            const char *v = call_getvar(c, argv[1]);
            if (v)
                buf_put(r, v, strlen(v));
            else
                BUF_LIT(r, "_undef_");
        }
    } else if (strcasecmp(cmd, "uuid_broadcast") == 0) {
        argc = split_args(args, argv, 3);
        if (argc < 2) {
            BUF_LIT(r, "-USAGE: <uuid> <path> [aleg|bleg|holdb|both]\n");
        } else {
            if ((c = call_find(argv[0])))
                c->broadcasts++;
            BUF_LIT(r, "+OK Message sent\n");
        }
    } else if (strcasecmp(cmd, "uuid_dump") == 0) {
        argc = split_args(args, argv, 2);
        if (argc < 1) {
            BUF_LIT(r, "-USAGE: <uuid> [format]\n");
        } else if (!(c = call_find(argv[0]))) {
            BUF_LIT(r, NO_CHANNEL);
        } else {
            const char *f = argv[1] ? argv[1] : "txt";
            call_dump(c, strcasecmp(f, "json") == 0,
                      strcasecmp(f, "plain") != 0, r);
        }
    } else if (strcasecmp(cmd, "show") == 0) {
        api_show(args, r);
    } else if (strcasecmp(cmd, "hupall") == 0) {
        argc = split_args(args, argv, 1);
        int cause = argc ? cause_id(argv[0]) : -1;
        if (cause < 0 || !cause_known(argv[0]))
            cause = cause_by_name("MANAGER_REQUEST");
        d->hupall = 1;
        d->cause = cause;
        buf_printf(r, "+OK hangup all channels with cause %s\n",
                   cause_name(cause));
    } else {
        buf_printf(r, "-ERR %s Command not found!\n", cmd);
    }
}

static void deferred_run(const deferred_t *d)
{
    if (d->hupall) {
        for (call_t *c = live_head, *n; c; c = n) {
            n = c->next;
            call_hangup(c, d->cause, END_KILL);
        }
    } else if (d->call && d->call->inc == d->inc && d->call->st != CST_ENDED
               && d->call->st != CST_NEW) {
        call_hangup(d->call, d->cause, d->by);
    }
}

/* ---- ESL commands -------------------------------------------------------- */

static void subscribed(void)
{
    if (G.t0_mono < 0) {
        G.t0_mono = mono_us();
        LOG_INFO("esl", "first subscription: the run starts");
        run_begin(G.t0_mono);
    }
}

static void cmd_event(client_t *c, char *args)
{
    char *w, *save = NULL;
    int keys = 0, custom = 0, fmt = -1;
    uint32_t sub = 0;
    for (w = strtok_r(args, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        uint32_t bits;
        if (custom) {
            continue;               /* CUSTOM subclasses: never fired here */
        } else if (strcasecmp(w, "plain") == 0) {
            fmt = FMT_PLAIN;
        } else if (strcasecmp(w, "json") == 0) {
            fmt = FMT_JSON;
        } else if (strcasecmp(w, "xml") == 0) {
            fmt = 2;
        } else if (strcasecmp(w, "CUSTOM") == 0) {
            custom = 1;
            keys++;
        } else if (ev_lookup(w, &bits)) {
            sub |= bits;
            keys++;
        }
    }
    if (fmt == 2) {
        reply_cmd(c, "-ERR fssim: only plain and json events are simulated");
        return;
    }
    if (!keys) {
        reply_cmd(c, "-ERR no keywords supplied");
        return;
    }
    if (fmt >= 0)
        c->fmt = (fmt_t)fmt;
    c->sub |= sub;
    recount_subs();
    reply_cmd(c, c->fmt == FMT_JSON ? "+OK event listener enabled json"
                                    : "+OK event listener enabled plain");
    subscribed();
}

static void cmd_nixevent(client_t *c, char *args)
{
    char *w, *save = NULL;
    int keys = 0;
    for (w = strtok_r(args, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        uint32_t bits;
        if (ev_lookup(w, &bits)) {
            c->sub &= ~bits;
            keys++;
        }
    }
    recount_subs();
    reply_cmd(c, keys ? "+OK events nixed" : "-ERR no keywords supplied");
}

static buf_t api_out;

static void cmd_api(client_t *c, char *line, int bg, const char *job_hdr)
{
    char *cmd = line, *args;
    while (*cmd == ' ')
        cmd++;
    args = cmd;
    while (*args && *args != ' ')
        args++;
    if (*args)
        *args++ = '\0';
    while (*args == ' ')
        args++;
    size_t al = strlen(args);
    while (al && args[al - 1] == ' ')
        args[--al] = '\0';

    char job[FS_UUID_STR + 64];
    char *job_cmd = NULL, *job_arg = NULL;
    if (bg) {
        if (job_hdr && *job_hdr && strlen(job_hdr) < sizeof job)
            strcpy(job, job_hdr);
        else
            uuid_v4(job);
        char reply[sizeof job + 32];
        snprintf(reply, sizeof reply, "+OK Job-UUID: %s", job);
        BUF_LIT(&c->out, "Content-Type: command/reply\nReply-Text: ");
        buf_put(&c->out, reply, strlen(reply));
        BUF_LIT(&c->out, "\nJob-UUID: ");
        buf_put(&c->out, job, strlen(job));
        BUF_LIT(&c->out, "\n\n");
        job_cmd = strdup(cmd);
        job_arg = strdup(args);
        if (!job_cmd || !job_arg) {
            fprintf(stderr, "fssim: out of memory\n");
            abort();
        }
    }

    deferred_t d;
    api_out.len = 0;
    api_exec(cmd, args, &api_out, &d);
    if (!bg)
        reply_api(c, api_out.p ? api_out.p : "", api_out.len);
    deferred_run(&d);
    if (bg) {
        if (server_subscribers(EV_BACKGROUND_JOB) == 0) {
            G.st.events_created++;
        } else {
            evb_t *e = &EVB;
            evb_begin(e, EV_BACKGROUND_JOB, wall_us(), "mod_event_socket.c",
                      "api_exec", 1569);
            evb_add(e, "Job-UUID", job);
            evb_add(e, "Job-Command", job_cmd);
            if (*job_arg)
                evb_add(e, "Job-Command-Arg", job_arg);
            e->body = api_out.p ? api_out.p : "";
            e->body_len = api_out.len;
            ev_emit(e, 1);
        }
        free(job_cmd);
        free(job_arg);
    }
}

/* One command: line is its first line, hdrs the "Name: value" lines that
 * followed (NUL-separated, nhdr of them). */
static void client_command(client_t *c, char *line, char **hdrs, int nhdr)
{
    G.st.commands++;
    size_t l = strlen(line);
    while (l && (line[l - 1] == ' ' || line[l - 1] == '\t'))
        line[--l] = '\0';

    if (strncasecmp(line, "exit", 4) == 0 && (line[4] == '\0' || line[4] == ' ')) {
        reply_cmd(c, "+OK bye");
        out_put(c, disconnect_notice, sizeof disconnect_notice - 1);
        c->closing = 1;
        return;
    }
    if (!c->authed) {
        if (strncasecmp(line, "auth ", 5) == 0) {
            const char *pw = line + 5;
            while (*pw == ' ')
                pw++;
            if (strcmp(pw, G.o.password) == 0) {
                c->authed = 1;
                reply_cmd(c, "+OK accepted");
                LOG_INFO("esl", "client %u authenticated", c->id);
            } else {
                reply_cmd(c, "-ERR invalid");
                out_put(c, disconnect_notice, sizeof disconnect_notice - 1);
                c->closing = 1;
                LOG_INFO("esl", "client %u: wrong password", c->id);
            }
        } else {
            reply_cmd(c, "-ERR command not found");
        }
        return;
    }
    if (strncasecmp(line, "event ", 6) == 0 || strcasecmp(line, "event") == 0) {
        cmd_event(c, line + 5);
    } else if (strcasecmp(line, "noevents") == 0) {
        c->sub = 0;
        recount_subs();
        reply_cmd(c, "+OK no longer listening for events");
    } else if (strncasecmp(line, "nixevent ", 9) == 0) {
        cmd_nixevent(c, line + 9);
    } else if (strncasecmp(line, "api ", 4) == 0) {
        cmd_api(c, line + 4, 0, NULL);
    } else if (strncasecmp(line, "bgapi ", 6) == 0) {
        const char *job = NULL;
        for (int i = 0; i < nhdr; i++)
            if (strncasecmp(hdrs[i], "Job-UUID:", 9) == 0) {
                job = hdrs[i] + 9;
                while (*job == ' ')
                    job++;
            }
        cmd_api(c, line + 6, 1, job);
    } else {
        reply_cmd(c, "-ERR command not found");
    }
}

/* Takes every complete command out of c->in. */
static void client_process(client_t *c)
{
    char *hdrs[64];
    while (!c->dead && !c->closing) {
        char *p = c->in.p + c->in.off;
        size_t n = c->in.len - c->in.off;
        /* skip blank lines between commands */
        while (n && (*p == '\n' || *p == '\r')) {
            p++;
            n--;
            c->in.off++;
        }
        if (!n)
            break;
        /* the header block: lines up to an empty one ("\r" tolerated) */
        size_t i = 0, end = 0;
        int found = 0;
        while (i < n) {
            char *nl = memchr(p + i, '\n', n - i);
            if (!nl)
                break;
            size_t ll = (size_t)(nl - (p + i));
            if (ll == 0 || (ll == 1 && p[i] == '\r')) {
                end = (size_t)(nl - p) + 1;
                found = 1;
                break;
            }
            i = (size_t)(nl - p) + 1;
        }
        if (!found) {
            if (n > HEADER_MAX)
                client_kill(c, "command header block too long");
            break;
        }
        /* its lines: the first is the command, the others headers; a
         * Content-Length header means a body follows the block */
        char *first = NULL;
        int nhdr = 0;
        size_t body_len = 0;
        for (char *q = p; q < p + end;) {
            char *nl = memchr(q, '\n', (size_t)(p + end - q));
            size_t ll = (size_t)(nl - q);
            if (ll && q[ll - 1] == '\r')
                ll--;
            if (ll && !first) {
                first = q;
            } else if (ll && nhdr < 64) {
                if (ll > 15 && strncasecmp(q, "Content-Length:", 15) == 0) {
                    uint64_t v = 0;
                    size_t k = 15;
                    while (k < ll && q[k] == ' ')
                        k++;
                    int bad = k == ll;
                    for (; k < ll && !bad; k++) {
                        if (q[k] < '0' || q[k] > '9' || v > BODY_MAX)
                            bad = 1;
                        else
                            v = v * 10 + (uint64_t)(q[k] - '0');
                    }
                    if (bad || v > BODY_MAX) {
                        client_kill(c, "bad Content-Length in a command");
                        return;
                    }
                    body_len = (size_t)v;
                }
                hdrs[nhdr++] = q;
            }
            q = nl + 1;
        }
        if (n - end < body_len)
            break;                  /* wait for the body */
        for (char *q = p; q < p + end;) {
            char *nl = memchr(q, '\n', (size_t)(p + end - q));
            *nl = '\0';
            if (nl > q && nl[-1] == '\r')
                nl[-1] = '\0';
            q = nl + 1;
        }
        c->in.off += end + body_len;
        client_command(c, first ? first : p, hdrs, nhdr);
    }
    if (c->in.off == c->in.len)
        c->in.off = c->in.len = 0;
    else if (c->in.off > 65536) {
        memmove(c->in.p, c->in.p + c->in.off, c->in.len - c->in.off);
        c->in.len -= c->in.off;
        c->in.off = 0;
    }
}

static void client_read(client_t *c)
{
    size_t total = 0;
    while (!c->dead && total < (4u << 20)) {
        buf_grow(&c->in, 65536);
        ssize_t r = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len - 1);
        if (r > 0) {
            c->in.len += (size_t)r;
            total += (size_t)r;
            if (!c->closing)
                client_process(c);
            else
                c->in.len = c->in.off = 0;   /* after exit: ignored */
            continue;
        }
        if (r == 0) {
            client_kill(c, "peer closed");
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            client_kill(c, strerror(errno));
        return;
    }
}

static void client_write(client_t *c)
{
    while (!c->dead && c->out.off < c->out.len) {
        ssize_t w = write(c->fd, c->out.p + c->out.off, c->out.len - c->out.off);
        if (w > 0) {
            c->out.off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->pollout) {
                struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT,
                                          .data.ptr = c };
                epoll_ctl(G.ep, EPOLL_CTL_MOD, c->fd, &ev);
                c->pollout = 1;
            }
            buf_compact(&c->out);
            return;
        }
        client_kill(c, w < 0 ? strerror(errno) : "write returned 0");
        return;
    }
    if (c->dead)
        return;
    c->out.off = c->out.len = 0;
    if (c->pollout) {
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        epoll_ctl(G.ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->pollout = 0;
    }
    if (c->closing)
        client_kill(c, "disconnected");
}

/* ---- listening ----------------------------------------------------------- */

static void accept_all(void)
{
    for (;;) {
        int fd = accept4(lsn.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                LOG_WARN("esl", errno, "accept4 failed");
            return;
        }
        if (mono_us() < G.st.refuse_until_us) {
            close(fd);              /* "FreeSWITCH" is unreachable */
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        client_t *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->tag = TAG_CLIENT;
        c->fd = fd;
        c->id = ++client_ids;
        c->fmt = FMT_PLAIN;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(G.ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            LOG_WARN("esl", errno, "epoll_ctl failed");
            close(fd);
            free(c);
            continue;
        }
        c->next = clients;
        clients = c;
        LOG_INFO("esl", "client %u connected", c->id);
        BUF_LIT(&c->out, "Content-Type: auth/request\n\n");
    }
}

int server_listen(void)
{
    struct addrinfo hints = { 0 }, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    const char *host = G.o.listen_host[0] ? G.o.listen_host : NULL;
    int rc = getaddrinfo(host, G.o.listen_port, &hints, &res);
    if (rc != 0) {
        LOG_ERROR("esl", 0, "cannot resolve %s:%s: %s", G.o.listen_host,
                  G.o.listen_port, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    a->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 128) == 0)
            break;
        LOG_ERROR("esl", errno, "cannot listen on %s:%s", G.o.listen_host,
                  G.o.listen_port);
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    lsn.fd = fd;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &lsn };
    epoll_ctl(G.ep, EPOLL_CTL_ADD, fd, &ev);

    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    unsigned port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    if (strcmp(G.o.listen_port, "0") == 0) {
        printf("FSSIM listening %u\n", port);
        fflush(stdout);
    }
    LOG_INFO("esl", "listening on %s port %u", G.o.listen_host, port);
    return 0;
}

void server_on_epoll(void *tag, uint32_t events)
{
    if (*(int *)tag == TAG_LISTEN) {
        accept_all();
        return;
    }
    client_t *c = tag;
    if (c->dead)
        return;
    if (events & EPOLLOUT)
        client_write(c);
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        client_read(c);
}

void server_flush_all(void)
{
    for (client_t *c = clients; c; c = c->next)
        if (!c->dead && !c->pollout && (c->out.len > c->out.off || c->closing))
            client_write(c);
    client_reap();
}

int server_pending(void)
{
    int n = 0;
    for (client_t *c = clients; c; c = c->next)
        if (!c->dead && c->out.len > c->out.off)
            n++;
    return n;
}

void server_close_all(int abrupt)
{
    for (client_t *c = clients; c; c = c->next)
        client_kill(c, abrupt ? "dropped by the script" : "fssim exits");
    client_reap();
}
