/*
 * fssim.c -- a FreeSWITCH simulator: an Event Socket server that speaks
 * like FreeSWITCH 1.11 and runs calls parked for a billing engine.
 *
 *   fssim [--listen HOST:PORT] [--password PW] [--script FILE | --calls N
 *         --cps R ...] [--report FILE] [--quiet]      (fssim --help)
 *
 * This file: options, the loop, signals, the small helpers everything
 * uses. One thread, one epoll: sockets are non-blocking, output is
 * buffered per client and written once per loop turn, timers live in a
 * heap (call.c). See README.md.
 *
 * Exit status: 0 when every expectation of the script held, 1 when one
 * did not, 2 for a usage or setup error.
 */
#include "tests/fssim/fssim.h"

#include "shm/log.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

fs_global_t G;

/* ---- buffers ------------------------------------------------------------- */

void buf_grow(buf_t *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return;
    size_t nc = b->cap ? b->cap : 256;
    while (nc - b->len < extra)
        nc *= 2;
    char *np = realloc(b->p, nc);
    if (!np) {
        fprintf(stderr, "fssim: out of memory (%zu bytes)\n", nc);
        abort();
    }
    b->p = np;
    b->cap = nc;
}

void buf_free(buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = b->off = 0;
}

void buf_vprintf(buf_t *b, const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    buf_grow(b, 64);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    if (n < 0) {
        va_end(aq);
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        buf_grow(b, (size_t)n + 1);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, aq);
    }
    va_end(aq);
    b->len += (size_t)n;
}

void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void buf_u64(buf_t *b, uint64_t v)
{
    char tmp[24];
    int i = (int)sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_put(b, tmp + i, sizeof tmp - (size_t)i);
}

void buf_i64(buf_t *b, int64_t v)
{
    if (v < 0) {
        buf_putc(b, '-');
        buf_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        buf_u64(b, (uint64_t)v);
    }
}

void buf_compact(buf_t *b)
{
    if (b->off == 0)
        return;
    if (b->off == b->len) {
        b->off = b->len = 0;
        return;
    }
    if (b->off > 65536 && b->off * 2 > b->len) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
}

/* ---- clocks, randomness, strings ----------------------------------------- */

int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* xorshift64* */
uint64_t rnd_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void uuid_v4(char out[FS_UUID_STR])
{
    static const char hx[] = "0123456789abcdef";
    uint64_t a = rnd_next(&G.rnd_uuid), b = rnd_next(&G.rnd_uuid);
    unsigned char x[16];
    for (int i = 0; i < 8; i++) {
        x[i] = (unsigned char)(a >> (8 * i));
        x[8 + i] = (unsigned char)(b >> (8 * i));
    }
    x[6] = (unsigned char)((x[6] & 0x0f) | 0x40);
    x[8] = (unsigned char)((x[8] & 0x3f) | 0x80);
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hx[x[i] >> 4];
        out[o++] = hx[x[i] & 15];
    }
    out[o] = '\0';
}

int str_copy(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n >= cap)
        return -1;
    memcpy(dst, s, n + 1);
    return 0;
}

int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

void fmt_uptime(buf_t *b, int64_t us)
{
    if (us < 0)
        us = 0;
    unsigned mms = (unsigned)(us % 1000), ms = (unsigned)(us / 1000 % 1000);
    int64_t s = us / 1000000;
    unsigned sec = (unsigned)(s % 60), min = (unsigned)(s / 60 % 60);
    unsigned hr = (unsigned)(s / 3600 % 24), day = (unsigned)(s / 86400 % 365);
    unsigned yr = (unsigned)(s / (86400 * 365));
    buf_printf(b, "%u year%s, %u day%s, %u hour%s, %u minute%s, %u second%s, "
               "%u millisecond%s, %u microsecond%s",
               yr, yr == 1 ? "" : "s", day, day == 1 ? "" : "s",
               hr, hr == 1 ? "" : "s", min, min == 1 ? "" : "s",
               sec, sec == 1 ? "" : "s", ms, ms == 1 ? "" : "s",
               mms, mms == 1 ? "" : "s");
}

/* ---- HEARTBEAT ----------------------------------------------------------- */

void heartbeat_fire(void)
{
    int64_t now = wall_us();
    if (server_subscribers(EV_HEARTBEAT) == 0) {
        G.st.events_created++;
        return;
    }
    static buf_t up;
    up.len = 0;
    fmt_uptime(&up, mono_us() - G.start_mono);
    buf_putc(&up, '\0');
    evb_t *e = &EVB;
    evb_begin(e, EV_HEARTBEAT, now, "switch_core.c", "send_heartbeat", 95);
    evb_add(e, "Event-Info", "System Ready");
    evb_add(e, "Up-Time", up.p);
    evb_add(e, "FreeSWITCH-Version", "1.11.0-release~64bit");
    evb_addi(e, "Uptime-msec", (mono_us() - G.start_mono) / 1000);
    evb_addu(e, "Session-Count", G.st.live);
    evb_add(e, "Max-Sessions", "1000");
    evb_add(e, "Session-Per-Sec", "30");
    evb_addu(e, "Session-Per-Sec-Last", G.st.sps_last);
    evb_addu(e, "Session-Per-Sec-Max", G.st.sps_max);
    evb_addu(e, "Session-Per-Sec-FiveMin", G.st.sps_max);
    evb_addu(e, "Session-Since-Startup", G.st.calls_created);
    evb_addu(e, "Session-Peak-Max", G.st.peak_live);
    evb_addu(e, "Session-Peak-FiveMin", G.st.peak_live);
    evb_add(e, "Idle-CPU", "96.000000");
    ev_emit(e, 1);
}

/* ---- options ------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
"usage: fssim [options]   (a FreeSWITCH Event Socket simulator)\n"
"  --listen HOST:PORT   listen address (127.0.0.1:8021; port 0: ephemeral,\n"
"                       prints \"FSSIM listening <port>\")\n"
"  --password PW        ESL password (ClueCon)\n"
"  --heartbeat-sec N    HEARTBEAT period (20; 0: none)\n"
"  --park-timeout MS    verdict deadline of a parked call (10000)\n"
"  --context CTX        Caller-Context of the parked leg (billing)\n"
"  --script FILE        scripted calls and checks (README.md)\n"
"  --report FILE        one JSON line per call\n"
"  --max-outbuf-mb N    drop a client with more queued output (512)\n"
"  --quiet              only warnings and failures on stderr\n"
" random load (instead of --script):\n"
"  --calls N --cps R --concurrency C --ring-ms A --talk-ms MIN[:MAX]\n"
"  --answer-pct P --callers LIST|@FILE --dests LIST|@FILE --seed S\n");
}

static int opt_u64(const char *name, const char *s, uint64_t min,
                   uint64_t max, uint64_t *out)
{
    if (parse_u64(s, out) != 0 || *out < min || *out > max) {
        fprintf(stderr, "fssim: --%s: expected an integer in %llu..%llu, "
                "got \"%s\"\n", name, (unsigned long long)min,
                (unsigned long long)max, s);
        return -1;
    }
    return 0;
}

static int parse_listen(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1]) {
        fprintf(stderr, "fssim: --listen: expected HOST:PORT, got \"%s\"\n", s);
        return -1;
    }
    size_t hl = (size_t)(colon - s);
    if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
        s++;
        hl -= 2;
    }
    if (hl >= sizeof G.o.listen_host || strlen(colon + 1) >= sizeof G.o.listen_port) {
        fprintf(stderr, "fssim: --listen: too long\n");
        return -1;
    }
    memcpy(G.o.listen_host, s, hl);
    G.o.listen_host[hl] = '\0';
    strcpy(G.o.listen_port, colon + 1);
    return 0;
}

static int parse_opts(int argc, char **argv)
{
    enum { O_LISTEN = 256, O_PASSWORD, O_HB, O_PARK, O_SCRIPT, O_REPORT,
           O_QUIET, O_CALLS, O_CPS, O_CONC, O_RING, O_TALK, O_ANSWER,
           O_CALLERS, O_DESTS, O_SEED, O_CONTEXT, O_MAXOUT, O_HELP };
    static const struct option lo[] = {
        { "listen", required_argument, 0, O_LISTEN },
        { "password", required_argument, 0, O_PASSWORD },
        { "heartbeat-sec", required_argument, 0, O_HB },
        { "park-timeout", required_argument, 0, O_PARK },
        { "script", required_argument, 0, O_SCRIPT },
        { "report", required_argument, 0, O_REPORT },
        { "quiet", no_argument, 0, O_QUIET },
        { "calls", required_argument, 0, O_CALLS },
        { "cps", required_argument, 0, O_CPS },
        { "concurrency", required_argument, 0, O_CONC },
        { "ring-ms", required_argument, 0, O_RING },
        { "talk-ms", required_argument, 0, O_TALK },
        { "answer-pct", required_argument, 0, O_ANSWER },
        { "callers", required_argument, 0, O_CALLERS },
        { "dests", required_argument, 0, O_DESTS },
        { "seed", required_argument, 0, O_SEED },
        { "context", required_argument, 0, O_CONTEXT },
        { "max-outbuf-mb", required_argument, 0, O_MAXOUT },
        { "help", no_argument, 0, O_HELP },
        { 0, 0, 0, 0 }
    };
    fs_opts_t *o = &G.o;
    uint64_t v;

    strcpy(o->listen_host, "127.0.0.1");
    strcpy(o->listen_port, "8021");
    o->password = "ClueCon";
    o->heartbeat_us = 20 * 1000000LL;
    o->park_timeout_us = 10000 * 1000LL;
    o->max_outbuf = (size_t)512 << 20;
    o->context = "billing";
    o->cps = 100;
    o->concurrency = 10000;
    o->seed = 1;
    o->ring_ms = 100;
    o->talk_min_ms = o->talk_max_ms = 1000;
    o->answer_pct = 100;
    o->callers = "15550001001";
    o->dests = "5000001";

    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_LISTEN:
            if (parse_listen(optarg) != 0)
                return -1;
            break;
        case O_PASSWORD: o->password = optarg; break;
        case O_HB:
            if (opt_u64("heartbeat-sec", optarg, 0, 86400, &v) != 0)
                return -1;
            o->heartbeat_us = (int64_t)v * 1000000;
            break;
        case O_PARK:
            if (opt_u64("park-timeout", optarg, 1, 86400000, &v) != 0)
                return -1;
            o->park_timeout_us = (int64_t)v * 1000;
            break;
        case O_SCRIPT: o->script = optarg; break;
        case O_REPORT: o->report = optarg; break;
        case O_QUIET: o->quiet = 1; break;
        case O_CALLS:
            if (opt_u64("calls", optarg, 1, 1000000000, &o->calls) != 0)
                return -1;
            break;
        case O_CPS:
            if (opt_u64("cps", optarg, 1, 10000000, &o->cps) != 0)
                return -1;
            break;
        case O_CONC:
            if (opt_u64("concurrency", optarg, 1, 10000000, &o->concurrency) != 0)
                return -1;
            break;
        case O_RING:
            if (opt_u64("ring-ms", optarg, 0, 86400000, &v) != 0)
                return -1;
            o->ring_ms = (uint32_t)v;
            break;
        case O_TALK: {
            char tmp[64];
            if (str_copy(tmp, sizeof tmp, optarg) != 0)
                return fprintf(stderr, "fssim: --talk-ms: too long\n"), -1;
            char *colon = strchr(tmp, ':');
            if (colon)
                *colon = '\0';
            if (opt_u64("talk-ms", tmp, 0, 86400000, &v) != 0)
                return -1;
            o->talk_min_ms = o->talk_max_ms = (uint32_t)v;
            if (colon) {
                if (opt_u64("talk-ms", colon + 1, v, 86400000, &v) != 0)
                    return -1;
                o->talk_max_ms = (uint32_t)v;
            }
            break;
        }
        case O_ANSWER:
            if (opt_u64("answer-pct", optarg, 0, 100, &v) != 0)
                return -1;
            o->answer_pct = (uint32_t)v;
            break;
        case O_CALLERS: o->callers = optarg; break;
        case O_DESTS: o->dests = optarg; break;
        case O_SEED:
            if (opt_u64("seed", optarg, 0, UINT64_MAX - 1, &o->seed) != 0)
                return -1;
            break;
        case O_CONTEXT:
            if (strlen(optarg) == 0 || strlen(optarg) >= FS_STR)
                return fprintf(stderr, "fssim: --context: 1..%d bytes\n",
                               FS_STR - 1), -1;
            o->context = optarg;
            break;
        case O_MAXOUT:
            if (opt_u64("max-outbuf-mb", optarg, 1, 65536, &v) != 0)
                return -1;
            o->max_outbuf = (size_t)v << 20;
            break;
        case O_HELP:
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fssim: unexpected argument \"%s\"\n", argv[optind]);
        return -1;
    }
    if (o->script && o->calls) {
        fprintf(stderr, "fssim: --script and --calls exclude each other\n");
        return -1;
    }
    return 0;
}

/* ---- main ---------------------------------------------------------------- */

static int sig_tag = 0;     /* epoll tag of the signalfd (its address) */

int main(int argc, char **argv)
{
    memset(&G, 0, sizeof G);
    G.start_mono = mono_us();
    G.start_wall = wall_us();
    G.t0_mono = -1;
    if (getrandom(&G.rnd_uuid, sizeof G.rnd_uuid, 0) != sizeof G.rnd_uuid)
        G.rnd_uuid = (uint64_t)G.start_wall ^ ((uint64_t)getpid() << 32);
    G.rnd_uuid |= 1;
    uuid_v4(G.core_uuid);
    if (gethostname(G.hostname, sizeof G.hostname - 1) != 0 || !G.hostname[0])
        strcpy(G.hostname, "localhost");

    if (parse_opts(argc, argv) != 0)
        return 2;
    log_set_process("fssim");
    if (G.o.quiet)
        log_level = LOG_LVL_WARN;

    calls_init();
    if (run_load() != 0)
        return 2;

    G.ep = epoll_create1(EPOLL_CLOEXEC);
    if (G.ep < 0) {
        LOG_ERROR("main", errno, "epoll_create1 failed");
        return 2;
    }
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    sigprocmask(SIG_BLOCK, &ss, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
        LOG_ERROR("main", errno, "signalfd failed");
        return 2;
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &sig_tag };
    epoll_ctl(G.ep, EPOLL_CTL_ADD, sfd, &ev);

    if (server_listen() != 0)
        return 2;
    if (G.o.heartbeat_us > 0)
        timer_add(G.start_mono + G.o.heartbeat_us, T_HEARTBEAT, 0, 0, 0, 0);

    struct epoll_event evs[256];
    int64_t stop_deadline = 0;
    for (;;) {
        int64_t now = mono_us(), next = timers_next();
        int timeout = -1;
        if (next >= 0)
            timeout = next <= now ? 0 : (int)((next - now + 999) / 1000);
        if (G.stopping && (timeout < 0 || timeout > 10))
            timeout = 10;
        int n = epoll_wait(G.ep, evs, 256, timeout);
        if (n < 0 && errno != EINTR) {
            LOG_ERROR("main", errno, "epoll_wait failed");
            break;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &sig_tag) {
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof si) == sizeof si)
                    LOG_INFO("main", "signal %u: stopping", si.ssi_signo);
                run_stop();
            } else {
                server_on_epoll(evs[i].data.ptr, evs[i].events);
            }
        }
        now = mono_us();
        timers_run(now);
        if (!G.stopping && run_finished()) {
            G.stopping = 1;
            stop_deadline = now + 2000000;
        }
        server_flush_all();
        if (G.stopping && (!server_pending() || mono_us() > stop_deadline))
            break;
    }
    server_close_all(0);
    close(sfd);
    close(G.ep);
    return run_finish();
}
