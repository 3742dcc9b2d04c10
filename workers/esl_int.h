/*
 * esl_int.h -- what the ESL worker's two halves share: the connection
 * (esl_conn.c: socket, framing, commands and their replies, the loop) and
 * the calls (esl_call.c: authorize, meter, cut, record, resynchronise).
 * Private to workers/esl*.c.
 *
 * One thread does everything, so nothing here is locked. A call's private
 * state (esl_call_t) sits at the index of its region slot (calls.h): the
 * slot is what others may see, the private part is what only we need
 * (hash chain, timer, generation).
 */
#ifndef APOLO_ESL_INT_H
#define APOLO_ESL_INT_H

#include "shm/account.h"
#include "shm/calls.h"
#include "shm/journal.h"
#include "shm/proc.h"
#include "shm/qsbr.h"
#include "shm/stats.h"
#include "workers/esl.h"
#include "workers/esl_proto.h"

#include <stdint.h>

#define ESL_NONE UINT32_MAX

/* The headers the worker reads from events (esl_want_t order). */
enum {
    EH_NAME, EH_UUID, EH_DIRECTION, EH_ANSWER_STATE, EH_CID, EH_ORIG_CID,
    EH_DEST, EH_CONTEXT, EH_CREATED, EH_ANSWERED, EH_HUNGUP, EH_CAUSE,
    EH_BILLSEC, EH_BILLMSEC, EH_DURATION, EH_EVENT_TS, EH_ACCOUNT,
    EH_NWANT
};

/* What a command's reply is for. */
typedef enum {
    EC_IGNORE = 0,      /* +OK expected; -ERR only logged */
    EC_AUTH,            /* auth <password> */
    EC_SUBSCRIBE,       /* event plain ... */
    EC_TRANSFER,        /* uuid_transfer of an authorized call */
    EC_KILL,            /* uuid_kill */
    EC_CHANNELS,        /* show channels as json (resync) */
    EC_EXISTS,          /* uuid_exists (resync) */
    EC_DUMP,            /* uuid_dump json (resync: missed answer?) */
    EC_RING,            /* uuid_dump json (ringing: missed answer?) */
    EC_ORPHAN,          /* uuid_dump json (resync: parked while away) */
    EC_REARM            /* sched_hangup after the answer: arg = its paid
                           seconds from the answer */
} esl_cmd_kind_t;

typedef struct esl_pending {
    uint8_t  kind;      /* esl_cmd_kind_t */
    uint32_t call;      /* call index or ESL_NONE */
    uint32_t gen;       /* the call's generation when sent */
    uint32_t arg;       /* what the kind needs to know (EC_REARM) */
} esl_pending_t;

/* Timer actions. */
enum { ET_NONE = 0, ET_EXTEND, ET_CUT, ET_AUDIT, ET_RING };

typedef struct esl_call {
    uint32_t gen;         /* bumped each time the index is reused */
    uint32_t hnext;       /* uuid hash chain */
    uint64_t hash;        /* of the uuid */
    int64_t  due_ms;      /* monotonic ms of the timer action, 0: none */
    uint32_t conn_gen;    /* connection it was authorized on */
    uint8_t  action;      /* ET_* */
    uint8_t  live;
    uint8_t  cut_sent;
    uint8_t  resync_seen; /* present in the last `show channels` */
} esl_call_t;

typedef struct esl_timer {
    int64_t  due_ms;
    uint32_t call, gen;
} esl_timer_t;

typedef enum {
    ES_DOWN = 0,          /* waiting to (re)connect */
    ES_CONNECTING,        /* non-blocking connect in flight */
    ES_AUTH,              /* waiting for auth/request, then +OK accepted */
    ES_LIVE               /* subscribed */
} esl_state_t;

typedef struct esl_worker {
    proc_ctx_t    *ctx;
    esl_node_t     node;
    region_t      *region;
    acct_shm_t    *accts;
    calls_shm_t   *cs;
    qsbr_reader_t  rd;
    jrn_writer_t   w;
    int            have_writer;
    uint32_t       tag, hint;
    pid_t          pid;

    /* configuration */
    int            park_mode;            /* 1: CHANNEL_PARK, 0: CREATE */
    const char    *transfer_ctx, *low_sound;
    uint32_t       interval, max_call, ring_allow;
    int            charge_in, charge_int;
    int64_t        max_kills, backoff_max_ms;

    /* calls */
    esl_call_t    *calls;                /* [cs->nslots] */
    uint32_t      *buckets, bmask;
    uint64_t      *done;                 /* hashes of recently ended uuids */
    uint32_t       done_mask, done_next;
    esl_timer_t   *heap;
    uint32_t       nheap, heap_cap;

    /* connection */
    esl_state_t    state;
    int            fd, ep, tfd;
    esl_reader_t   in;
    /* The engine's share of a verdict's latency (stats verdict_us): when
     * the bytes being parsed reached our socket (the kernel's receive
     * timestamp, on our monotonic clock), and the verdicts queued since
     * the output was last written in full, grouped by that time. */
    int64_t        rx_us;
    struct { int64_t rx_us; uint32_t n; } vq[64];
    uint32_t       nvq;
    esl_want_t     want;
    char          *out;
    size_t         out_len, out_off, out_cap;
    esl_pending_t *pend;                 /* FIFO ring */
    uint32_t       pend_head, pend_n, pend_cap;
    uint32_t       conn_gen;
    int64_t        backoff_ms, retry_at_ms, lost_us;
    int64_t        last_rx_ms, idle_ms;   /* watchdog (0: off) */
    int            auth_failed;
    int64_t        resync_kills;          /* budget left in this resync */
    int64_t        resync_late;           /* cuts put off past the budget */
    /* FreeSWITCH's wall clock against ours (esl_clock_sample) */
    int64_t        skew_us;               /* our time - FreeSWITCH's */
    int64_t        skew_win_min, skew_win_ms;
    int            skew_known;

    /* counters: the region's slot of our tag (shm/stats.h, exported by
     * GET /metrics; they go on across restarts of this worker), or
     * st_local when every slot is taken */
    stats_slot_t  *st;
    stats_slot_t   st_local;
} esl_worker_t;

/* ---- esl_conn.c ---------------------------------------------------------- */

/* Queues an `api` command (printf-style); its reply goes to
 * esl_call_reply() with kind/call/gen and arg. -1 when not connected
 * (dropped). esl_api: arg 0. */
int esl_api_arg(esl_worker_t *w, esl_cmd_kind_t kind, uint32_t call,
                uint32_t arg, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define esl_api(w, kind, call, ...) esl_api_arg(w, kind, call, 0, __VA_ARGS__)

int64_t esl_mono_ms(void);
int64_t esl_wall_us(void);
/* A verdict (uuid_transfer or uuid_kill at park) was queued for the
 * event being handled: its latency is counted once it is written. */
void esl_verdict_queued(esl_worker_t *w);
/* The name of header EH_* h, as events and uuid_dump spell it. */
const char *esl_header_name(int h);

/* ---- esl_call.c ---------------------------------------------------------- */

int  esl_calls_init(esl_worker_t *w);
void esl_calls_free(esl_worker_t *w);
/* Takes over the slots our tag holds (a predecessor's calls). */
void esl_calls_adopt(esl_worker_t *w);
void esl_call_event(esl_worker_t *w, const esl_event_t *ev);

/* An event's own time (Event-Date-Timestamp, FreeSWITCH's wall clock, us)
 * as it arrives: keeps the estimate of the two clocks' offset. */
void esl_clock_sample(esl_worker_t *w, int64_t fs_us);
void esl_call_reply(esl_worker_t *w, const esl_pending_t *p, int ok,
                    const char *body, size_t len);
/* Runs the timers due; returns ms until the next (-1: none). */
int  esl_call_timers(esl_worker_t *w);
/* Connection up: start a resynchronisation. */
void esl_call_resync(esl_worker_t *w);
/* Connection lost at wall time us. */
void esl_call_lost(esl_worker_t *w);

#endif
