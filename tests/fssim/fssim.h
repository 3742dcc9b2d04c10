/*
 * fssim.h -- what the parts of the FreeSWITCH simulator share.
 *
 *   fssim.c    options, the epoll loop, signals, the end of the run
 *   server.c   Event Socket server: clients, framing, commands, api
 *   event.c    event header lists, text/event-plain and -json bodies,
 *              fan-out to the subscribed clients
 *   call.c     the call model: one parked inbound channel per call, its
 *              timers (timer heap), its uuid table, its events
 *   script.c   --script parsing, random load, expectations, the report
 *
 * One thread does everything; nothing is locked. Times: "mono" is
 * CLOCK_MONOTONIC microseconds (timers), "wall" is CLOCK_REALTIME
 * microseconds (every timestamp that goes on the wire or in the report).
 * See README.md for the behaviour.
 */
#ifndef FSSIM_H
#define FSSIM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define FS_STR      64          /* caller, dest, context, names (with NUL) */
#define FS_UUID_STR 37          /* 36 characters and a NUL */

/* ---- growable byte buffer (aborts on out of memory) ---------------------- */

typedef struct buf {
    char  *p;
    size_t len;                 /* bytes used */
    size_t cap;
    size_t off;                 /* consumer position (output buffers) */
} buf_t;

void  buf_grow(buf_t *b, size_t extra);
void  buf_free(buf_t *b);
void  buf_printf(buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void  buf_vprintf(buf_t *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
void  buf_u64(buf_t *b, uint64_t v);
void  buf_i64(buf_t *b, int64_t v);
/* Drops consumed bytes [0, off) when that is worth a memmove. */
void  buf_compact(buf_t *b);

static inline void buf_put(buf_t *b, const void *s, size_t n)
{
    if (b->cap - b->len < n + 1)
        buf_grow(b, n + 1);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static inline void buf_putc(buf_t *b, char c)
{
    if (b->cap - b->len < 2)
        buf_grow(b, 2);
    b->p[b->len++] = c;
}

#define BUF_LIT(b, s) buf_put((b), (s), sizeof(s) - 1)

/* ---- clocks, randomness, small helpers (fssim.c) ------------------------- */

int64_t  mono_us(void);
int64_t  wall_us(void);
/* Fast generator for uuids (seeded from getrandom) and one seeded by
 * --seed for the random load. */
uint64_t rnd_next(uint64_t *state);
void     uuid_v4(char out[FS_UUID_STR]);
/* Copies s into dst (cap bytes): 0, or -1 when it does not fit. */
int      str_copy(char *dst, size_t cap, const char *s);
/* Parses a non-negative decimal integer (whole string): 0 or -1. */
int      parse_u64(const char *s, uint64_t *out);
/* The duration "0 years, 0 days, 0 hours, 3 minutes, 9 seconds, 126
 * milliseconds, 792 microseconds" FreeSWITCH prints for uptimes. */
void     fmt_uptime(buf_t *b, int64_t us);

/* ---- global state -------------------------------------------------------- */

typedef struct fs_opts {
    char        listen_host[256];
    char        listen_port[16];
    const char *password;
    int64_t     heartbeat_us;
    int64_t     park_timeout_us;
    const char *script;
    const char *report;
    int         quiet;
    size_t      max_outbuf;         /* bytes a slow client may have queued */
    const char *context;            /* default Caller-Context */
    /* random load */
    uint64_t    calls, cps, concurrency, seed;
    uint32_t    ring_ms, talk_min_ms, talk_max_ms, answer_pct;
    const char *callers, *dests;
} fs_opts_t;

typedef struct fs_stats {
    uint64_t events_created;        /* Event-Sequence source */
    uint64_t events_sent;           /* event frames queued to clients */
    uint64_t calls_created, calls_ended, answered;
    uint64_t verdict_transfer, verdict_kill, verdict_none;
    uint64_t live, peak_live;
    int64_t  first_create_us, last_create_us;   /* monotonic */
    int64_t  refuse_until_us;       /* drop down=: no client until then */
    uint64_t commands;
    int64_t  sps_sec;               /* second of sps_cur */
    uint64_t sps_cur, sps_last, sps_max;
} fs_stats_t;

typedef struct fs_global {
    fs_opts_t  o;
    fs_stats_t st;
    int        ep;                  /* epoll */
    char       core_uuid[FS_UUID_STR];
    char       hostname[128];
    int64_t    start_mono, start_wall;
    int64_t    t0_mono;             /* first subscription; -1 before */
    int        stopping;            /* the run is over: flush, then exit */
    int        failures;            /* expectations that did not hold */
    uint64_t   rnd_uuid;            /* state of the uuid generator */
} fs_global_t;

extern fs_global_t G;

/* ---- events (event.c) ---------------------------------------------------- */

typedef enum {
    EV_CHANNEL_CREATE = 0,
    EV_CHANNEL_PARK,
    EV_CHANNEL_ANSWER,
    EV_CHANNEL_HANGUP,
    EV_CHANNEL_HANGUP_COMPLETE,
    EV_CHANNEL_DESTROY,
    EV_HEARTBEAT,
    EV_BACKGROUND_JOB,
    EV_CHANNEL_DATA,                /* uuid_dump only: never sent as event */
    EV_NTYPES
} ev_t;

#define EV_ALL_MASK ((1u << EV_CHANNEL_DATA) - 1u)

const char *ev_name(ev_t t);
/* FreeSWITCH's event names (for `event plain ...`): 1 and *bit (0 for
 * names this simulator never fires) for a known name, 0 for an unknown
 * one. "ALL" gives every bit. Case-insensitive, like FreeSWITCH. */
int ev_lookup(const char *name, uint32_t *bits);

/* One event under construction: a list of headers in wire order. Values
 * live in the event's arena or in constant storage. */
typedef struct hdr {
    const char *name;
    uint32_t    nlen;
    uint32_t    vlen;
    const char *val;                /* NULL: arena + voff */
    size_t      voff;
} hdr_t;

typedef struct evb {
    ev_t    type;
    uint64_t gen;                   /* bumped by evb_begin (frame cache) */
    hdr_t  *h;
    size_t  nh, caph;
    buf_t   arena;
    const char *body;               /* BACKGROUND_JOB's inner body */
    size_t  body_len;
} evb_t;

/* Starts e: clears it and adds the common headers (Event-Name ...
 * Event-Sequence) with the given Event-Calling-* triple. */
void evb_begin(evb_t *e, ev_t t, int64_t now_wall, const char *file,
               const char *func, int line);
/* evb_add/evb_addn keep the value by pointer: it must stay valid until
 * the event is sent. The others format into the event's arena. */
void evb_addn(evb_t *e, const char *n, size_t nl, const char *v, size_t vl);
/* inline: the lengths of literals fold at compile time */
static inline void evb_add(evb_t *e, const char *n, const char *v)
{
    evb_addn(e, n, strlen(n), v, strlen(v));
}
void evb_addcopy(evb_t *e, const char *n, const char *v, size_t vl);
void evb_addu(evb_t *e, const char *n, uint64_t v);
void evb_addi(evb_t *e, const char *n, int64_t v);
void evb_addf(evb_t *e, const char *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The date headers' values for a wall time: "2026-11-25 12:28:08" (local)
 * and "Wed, 25 Nov 2026 12:28:08 GMT". */
const char *date_local(int64_t wall);
const char *date_gmt(int64_t wall);

/* Serialisations of an event body. plain: "Name: url-encoded\n"... then
 * "\n" (or the inner Content-Length and body); json: one object. */
void ev_plain(const evb_t *e, buf_t *out, int encode);
/* A JSON string literal (cJSON's escaping). */
void json_str(buf_t *b, const char *v, size_t n);
void ev_json(const evb_t *e, buf_t *out);

/* The whole frame (outer headers and body) of e in format f, built once
 * per event (evb_begin forgets it). */
typedef enum { FMT_PLAIN = 0, FMT_JSON = 1 } fmt_t;
const buf_t *ev_frame(const evb_t *e, fmt_t f);

/* Sends e to every client subscribed to its type, times (1, or 2 for a
 * duplicated call) times. */
void ev_emit(const evb_t *e, int times);

/* Both frames of an event kept for a later delivery (reorder=1). */
typedef struct ev_held {
    ev_t   type;
    buf_t  plain, json;
} ev_held_t;
void ev_hold(const evb_t *e, ev_held_t *h);
void ev_held_emit(const ev_held_t *h, int times);
void ev_held_free(ev_held_t *h);

/* The reusable event under construction (one at a time). */
extern evb_t EVB;

/* ---- clients (server.c) -------------------------------------------------- */

int  server_listen(void);           /* prints FSSIM listening <port> if 0 */
void server_on_epoll(void *tag, uint32_t events);
void server_flush_all(void);
int  server_pending(void);          /* clients still holding output */
void server_close_all(int abrupt);
/* Raw bytes to every connected client (script `raw`). */
void server_raw_all(const char *p, size_t n);
/* Delivers an event (from e, or the frames of h) to every client
 * subscribed to t. */
void server_deliver(ev_t t, const evb_t *e, const ev_held_t *h, int times);
/* How many authenticated clients are subscribed to t. */
int  server_subscribers(ev_t t);

/* ---- causes (call.c) ----------------------------------------------------- */

/* Canonical id for a cause name or number (case-insensitive); unknown
 * names are interned as given (upper-cased). -1 for an empty string. */
int         cause_id(const char *s);
int         cause_known(const char *s);     /* 1 if FreeSWITCH knows it */
const char *cause_name(int id);
int         cause_q850(int id);
int         cause_by_name(const char *canonical);  /* constant ids below */

/* ---- calls (call.c) ------------------------------------------------------ */

typedef enum { CST_NEW = 0, CST_PARKED, CST_ROUTING, CST_ANSWERED,
               CST_ENDED } call_state_t;
typedef enum { V_NONE = 0, V_TRANSFER, V_KILL } verdict_t;
typedef enum { END_NONE = 0, END_SCRIPT, END_KILL, END_SCHED,
               END_PARK_TIMEOUT, END_END } ended_by_t;

typedef struct call {
    uint32_t slot, inc;             /* pool index; bumped on reuse */
    int      spec;                  /* script call index, -1: random */
    call_state_t st;
    char     name[FS_STR];
    char     uuid[FS_UUID_STR];
    char     caller[FS_STR], dest[FS_STR], context[FS_STR];
    char     init_dest[FS_STR], init_context[FS_STR];
    char     xfer_dest[FS_STR], xfer_context[FS_STR];
    char     xfer_source[FS_STR * 3];
    uint32_t profile_index;
    uint64_t session_id;
    int64_t  created_us, parked_us, verdict_us, answered_us, hangup_us;
    int64_t  profile_us;            /* Caller-Profile-Created-Time */
    verdict_t verdict;
    int      kill_cause;            /* -1: no uuid_kill */
    int      cause;                 /* final hangup cause, -1 while live */
    ended_by_t ended_by;
    uint32_t ring_ms, talk_ms;
    int      answer;                /* 0: the far end never answers */
    int      noanswer_cause;
    int      dup, reorder;
    int      lose_hangup;           /* never send its HANGUP_COMPLETE */
    int      lose_answer;           /* never send its CHANNEL_ANSWER */
    int      ignore_sched;          /* its sched_hangup never fires */
    uint32_t sched_gen;             /* bumped by sched_del */
    uint32_t nsched_pending;
    buf_t    sched;                 /* uint32_t seconds of each sched_hangup */
    uint32_t broadcasts;
    buf_t    vars;                  /* channel variables "name\0value\0"... */
    uint64_t bv_override;           /* built-in variables set in vars */
    buf_t    setvars;               /* uuid_setvar record, same layout */
    /* strings every event repeats, built once at the start */
    char     chan_name[FS_STR + 32];    /* sofia/internal/<caller>@127.0.0.1 */
    char     presence[FS_STR + 16];     /* <caller>@127.0.0.1 */
    char     from_tag[16];
    char     full_via[128];
    char     full_from[FS_STR + 48];
    char     full_to[FS_STR + 32];
    char     req_uri[FS_STR + 24];      /* <dest>@127.0.0.1:5060 */
    char     contact_uri[FS_STR + 24];
    ev_held_t held_answer;          /* reorder=1 */
    int      has_held;
    struct call *prev, *next;       /* live calls, in creation order */
} call_t;

extern call_t *live_head, *live_tail;

/* A call to start: everything the script or the random load decides. */
typedef struct call_params {
    const char *name, *caller, *dest, *context, *uuid;
    uint32_t    ring_ms, talk_ms;
    int         answer, noanswer_cause, dup, reorder, spec;
    int         lose_hangup, lose_answer, ignore_sched;
    const char *vars;               /* "name\0value\0"..., vars_len bytes */
    size_t      vars_len;
} call_params_t;

void    calls_init(void);
call_t *call_start(const call_params_t *p);
call_t *call_find(const char *uuid);
/* The api actions on a live call. */
void    call_transfer(call_t *c, const char *dest, const char *dialplan,
                      const char *context);
void    call_hangup(call_t *c, int cause, ended_by_t by);
void    call_sched_hangup(call_t *c, uint32_t secs, int cause);
uint32_t sched_del_group(const char *group);
void    call_setvar(call_t *c, const char *name, const char *value);
const char *call_getvar(const call_t *c, const char *name);
/* uuid_dump: the CHANNEL_DATA event of c, json or plain (encode: 1 for
 * url-encoded values). */
void    call_dump(call_t *c, int json, int encode, buf_t *out);
/* Rows of `show channels` / `show calls`: as json (calls: 1 for the
 * `show calls` columns) or as CSV. */
void    calls_show(buf_t *out, int json, int calls_table);
/* Hangs up every live call (cause, END_END). */
void    calls_hangup_all(int cause);

/* Timers (call.c holds the heap). */
typedef enum {
    T_PARK_TIMEOUT = 1, T_RING, T_TALK, T_SCHED,     /* a call's */
    T_SPEC_START, T_DIRECTIVE, T_SPAWN, T_HEARTBEAT  /* the run's */
} tkind_t;
void    timer_add(int64_t when_mono, tkind_t k, uint32_t slot, uint32_t inc,
                  uint32_t arg, uint32_t gen);
int64_t timers_next(void);          /* mono us of the earliest, -1: none */
void    timers_run(int64_t now_mono);
void    heartbeat_fire(void);

/* ---- the run (script.c) -------------------------------------------------- */

int  run_load(void);                /* --script or the random options */
void run_begin(int64_t now_mono);   /* first subscription */
void run_timer(tkind_t k, uint32_t arg);
void run_call_ended(call_t *c);     /* report line, expectations, stats */
int  run_finished(void);
void run_stop(void);                /* `end` or a signal: stop now */
int  run_finish(void);              /* report, summary; exit status */
void run_note_verdict(call_t *c);

#endif
