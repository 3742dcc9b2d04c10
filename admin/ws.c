/*
 * ws.c -- GET /ws: the active calls and their live events (see ws.h).
 *
 *   broadcaster thread                       civetweb worker of a client
 *   every WS_SCAN_MS, under hub->mu, while   connect: http_authenticate_conn
 *   a client listens:                        ready:   under hub->mu, the
 *     scan calls.max slots: seq unchanged             private copy brought
 *     -> skip; else calls_read, compare               up to date if nobody
 *     with the private copy (seq, state,              listened, snapshot
 *     flags, call id) -> events                       from the calls table
 *     queue each event on every client                queued first; client
 *   every second: tick                                added; sender started
 *                                            close:   unlinked, sender told
 *                                                     to stop and joined
 *
 *   sender thread, one per client: pops its queue and writes each message
 *   with mg_websocket_write (which takes the connection's own lock,
 *   mg_lock_connection, as civetweb requires of a connection written by
 *   another thread than its worker).
 *
 * Messages are built once and shared by the clients' queues (refcounted).
 * A queue over WS_QUEUE_MAX (the client does not read) or a failed write
 * marks the client dead: its queue is dropped, it is sent a close frame
 * (1008) and gets nothing more; civetweb ends the connection when the
 * close is answered or the socket fails.
 *
 * NOTES
 * - The calls table is a plain file mapping, not RCU-published: no QSBR
 *   here. A slot is read only when its seqlock counter moved since the
 *   last scan (calls_read gives a consistent copy); an unchanged counter
 *   costs one load.
 * - hub->mu is held during a scan and while queueing, never while writing
 *   to a socket (only senders write, without it). A snapshot is taken
 *   under hub->mu too, so a client sees the table as of its snapshot, then
 *   every change the scans found after it; a change a scan found just
 *   before may come again (a call_start of a call already in the
 *   snapshot): the dashboard keys calls by call_id.
 * - A call whose slot lives less than a scan (a refusal answered within
 *   a few ms) may never be seen: the events are a view of the table every
 *   WS_SCAN_MS, not a log (the CDRs are). What a call went through between
 *   two scans is told in order all the same: a call found final that the
 *   last scan saw ringing gets its call_answer (when it answered), and one
 *   whose shown flags changed its call_update, before its call_end.
 * - Nobody listening, nothing is scanned: at 131072 slots a scan touches
 *   8 MB of the table's cache lines, 8-12 % of a core every 20 ms for
 *   nobody. The first client's ready handler runs one scan, with nobody
 *   to send it to, to bring the private copy up to date before its
 *   snapshot, so that it is not sent a call_start for every live call.
 * - The close handler joins the sender before returning: civetweb reuses
 *   the connection structure afterwards, so no write may be in flight.
 */
#include "shm/clock.h"
#include "admin/ws.h"

#include "shm/calls.h"
#include "shm/log.h"
#include "shm/money.h"

#include <civetweb.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WS_SCAN_MS    20
#define WS_TICK_MS    1000
#define WS_QUEUE_MAX  4096      /* messages queued for one client */
#define WS_CLIENTS_MAX 64
#define WS_PATH       "/ws"

#define WS_FLAGS_SHOWN (CALL_F_LOW | CALL_F_CUT | CALL_F_ESTIMATED)

typedef struct ws_msg {
    atomic_uint refs;
    size_t      len;
    char        text[];
} ws_msg_t;

typedef struct ws_client {
    struct ws_client     *next;          /* hub->clients, under hub->mu */
    struct mg_connection *conn;
    pthread_mutex_t       mu;            /* the fields below */
    pthread_cond_t        cv;
    ws_msg_t             *q[WS_QUEUE_MAX];
    uint32_t              qhead, qlen;
    int                   dead;          /* overflow or write failure */
    int                   closing;       /* close handler: sender exits */
    pthread_t             tid;
    char                  user[65];
} ws_client_t;

/* The broadcaster's private copy of a slot. */
typedef struct ws_seen {
    uint32_t seq;
    uint8_t  phase;                      /* 0 none, 1 started, 2 ended */
    uint8_t  state;
    uint16_t flags;
    money_t  reserved;
    money_t  rate;                       /* answered and charged: per min */
    char     call_id[JREC_CALL_ID_MAX + 1];
} ws_seen_t;

struct ws_hub {
    proc_ctx_t      *ctx;
    http_server_t   *http;
    pthread_mutex_t  mu;                 /* clients, nclients, scans */
    ws_client_t     *clients;
    uint32_t         nclients;
    ws_seen_t       *seen;               /* calls->nslots */
    pthread_t        tid;
    atomic_int       stop;
    uint32_t         starts;             /* call_starts since the tick */
};

static int64_t ws_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- messages ---------------------------------------------------------- */

/* j stolen. NULL when out of memory (logged by the caller: dropped). */
static ws_msg_t *ws_msg_new(json_t *j)
{
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text == NULL)
        return NULL;
    size_t len = strlen(text);
    ws_msg_t *m = malloc(sizeof *m + len + 1);
    if (m != NULL) {
        atomic_init(&m->refs, 1);
        m->len = len;
        memcpy(m->text, text, len + 1);
    }
    free(text);
    return m;
}

static void ws_msg_unref(ws_msg_t *m)
{
    if (m != NULL && atomic_fetch_sub(&m->refs, 1) == 1)
        free(m);
}

static const char *ws_state_name(unsigned state)
{
    switch (state) {
    case CALL_AUTHORIZED: return "authorized";
    case CALL_ANSWERED: return "answered";
    case CALL_FINAL: return "final";
    default: return "free";
    }
}

static json_t *ws_call_json(const call_slot_t *s, int64_t now_us)
{
    char reserved[MONEY_STRLEN];
    money_format(s->reserved, reserved);
    const jrec_cdr_t *c = &s->cdr;
    int64_t talk = 0;
    if (s->state == CALL_ANSWERED && c->answer_us > 0 && now_us > c->answer_us)
        talk = (now_us - c->answer_us) / 1000000;
    else if (s->state == CALL_FINAL)
        talk = c->billsec;
    json_t *j = json_pack(
        "{s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:I,s:o,s:I,s:i,s:i,s:s,"
        "s:{s:b,s:b,s:b}}",
        "call_id", c->call_id, "caller", c->caller, "callee", c->callee,
        "extension", c->extension, "account_id", (json_int_t)c->account_id,
        "zone", s->zone, "state", ws_state_name(s->state),
        "start", (json_int_t)c->start_us,
        "answer", c->answer_us > 0 ? json_integer(c->answer_us) : json_null(),
        "seconds", (json_int_t)talk, "max_seconds", (int)s->max_sec,
        "covered_seconds", (int)s->covered_sec, "reserved", reserved,
        "flags", "low_balance", (s->flags & CALL_F_LOW) != 0,
        "cut_scheduled", (s->flags & CALL_F_CUT) != 0,
        "estimated", (s->flags & CALL_F_ESTIMATED) != 0);
    if (j != NULL && s->state == CALL_FINAL) {
        char cost[MONEY_STRLEN];
        money_format(c->cost, cost);
        json_object_set_new(j, "cost", json_string(cost));
        json_object_set_new(j, "hangup_cause", json_string(c->hangup_cause));
    }
    return j;
}

/* ---- clients ----------------------------------------------------------- */

/* Queues m on c (a reference taken). Under hub->mu or not: c->mu only. */
static void ws_queue(ws_client_t *c, ws_msg_t *m)
{
    pthread_mutex_lock(&c->mu);
    if (!c->dead && !c->closing) {
        if (c->qlen == WS_QUEUE_MAX) {
            c->dead = 1;                 /* the sender drops the queue */
            LOG_WARN("ws", 0, "client of %s does not keep up (%u messages "
                     "queued): closed", c->user, (unsigned)c->qlen);
        } else {
            atomic_fetch_add(&m->refs, 1);
            c->q[(c->qhead + c->qlen) % WS_QUEUE_MAX] = m;
            c->qlen++;
        }
        pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

/* Under hub->mu: m to every client, then our reference dropped. */
static void ws_broadcast_locked(ws_hub_t *h, ws_msg_t *m)
{
    if (m == NULL) {
        LOG_ERROR("ws", 0, "an event could not be built (out of memory): "
                  "dropped");
        return;
    }
    for (ws_client_t *c = h->clients; c != NULL; c = c->next)
        ws_queue(c, m);
    ws_msg_unref(m);
}

static void ws_drop_queue_locked(ws_client_t *c)
{
    while (c->qlen > 0) {
        ws_msg_unref(c->q[c->qhead]);
        c->qhead = (c->qhead + 1) % WS_QUEUE_MAX;
        c->qlen--;
    }
}

static void *ws_sender(void *p)
{
    ws_client_t *c = p;
    int closed_sent = 0;

    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (c->qlen == 0 && !c->closing && (!c->dead || closed_sent))
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->closing)
            break;
        if (c->dead) {
            ws_drop_queue_locked(c);
            pthread_mutex_unlock(&c->mu);
            /* 1008 policy violation: "too slow" */
            static const char bye[] = "\x03\xf0too slow";
            mg_websocket_write(c->conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE,
                               bye, sizeof bye - 1);
            closed_sent = 1;
            pthread_mutex_lock(&c->mu);
            continue;
        }
        ws_msg_t *m = c->q[c->qhead];
        c->qhead = (c->qhead + 1) % WS_QUEUE_MAX;
        c->qlen--;
        pthread_mutex_unlock(&c->mu);
        int n = mg_websocket_write(c->conn, MG_WEBSOCKET_OPCODE_TEXT, m->text,
                                   m->len);
        ws_msg_unref(m);
        pthread_mutex_lock(&c->mu);
        if (n <= 0 && !c->dead && !c->closing) {
            LOG_INFO("ws", "client of %s: write failed: closed", c->user);
            c->dead = 1;
            closed_sent = 1;             /* the socket is gone */
            ws_drop_queue_locked(c);
        }
    }
    ws_drop_queue_locked(c);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Under hub->mu: {"type":"snapshot","at","calls":[...]} of the table now. */
static ws_msg_t *ws_snapshot_locked(ws_hub_t *h)
{
    const calls_shm_t *t = h->ctx->calls;
    int64_t now = ws_wall_us();
    json_t *calls = json_array();
    call_slot_t s;
    for (uint32_t i = 0; t != NULL && i < t->nslots; i++)
        if (calls_read(t, i, &s) == 1 && s.state != CALL_FINAL)
            json_array_append_new(calls, ws_call_json(&s, now));
    return ws_msg_new(json_pack("{s:s,s:I,s:o}", "type", "snapshot",
                                "at", (json_int_t)now, "calls", calls));
}

/* ---- civetweb handlers --------------------------------------------------- */

static int ws_connect(const struct mg_connection *cconn, void *cbdata)
{
    ws_hub_t *h = cbdata;
    struct mg_connection *conn = (struct mg_connection *)cconn;
    http_req_t r;

    int rc = http_authenticate_conn(h->http, conn, HTTP_ROLE_VIEWER, &r);
    if (rc != 0) {
        /* http_send wrote the refusal raw (before the handshake) */
        LOG_INFO("ws", "GET %s %d (upgrade refused) user=%s", WS_PATH, rc,
                 r.user[0] != '\0' ? r.user : "-");
        return 1;
    }
    ws_client_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        LOG_ERROR("ws", errno, "calloc() failed");
        return 1;
    }
    memcpy(c->user, r.user, sizeof c->user);
    mg_set_user_connection_data(cconn, c);
    return 0;
}

static void ws_scan_locked(ws_hub_t *h);

static void ws_ready(struct mg_connection *conn, void *cbdata)
{
    ws_hub_t *h = cbdata;
    ws_client_t *c = mg_get_user_connection_data(conn);
    if (c == NULL)
        return;
    c->conn = conn;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);

    pthread_mutex_lock(&h->mu);
    int full = h->nclients >= WS_CLIENTS_MAX;
    if (h->clients == NULL) {            /* nobody listened: catch up */
        ws_scan_locked(h);
        h->starts = 0;
    }
    ws_msg_t *snap = full ? NULL : ws_snapshot_locked(h);
    int err = snap == NULL ? ENOMEM
                           : pthread_create(&c->tid, NULL, ws_sender, c);
    if (err == 0) {
        ws_queue(c, snap);
        c->next = h->clients;
        h->clients = c;
        h->nclients++;
    }
    uint32_t n = h->nclients;
    pthread_mutex_unlock(&h->mu);
    ws_msg_unref(snap);

    if (err != 0) {
        LOG_ERROR("ws", full ? 0 : err, "client of %s refused: %s", c->user,
                  full ? "too many clients" : "no snapshot or no sender");
        mg_set_user_connection_data(conn, NULL);
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        free(c);
        static const char bye[] = "\x03\xf3" "busy";   /* 1011 */
        mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, bye,
                           sizeof bye - 1);
        return;
    }
    LOG_INFO("ws", "GET %s 101 user=%s (%u clients)", WS_PATH, c->user, n);
}

static int ws_data(struct mg_connection *conn, int bits, char *data,
                   size_t len, void *cbdata)
{
    (void)conn;
    (void)data;
    (void)len;
    (void)cbdata;
    /* The dashboard only listens; a close from it ends the connection. */
    return (bits & 0x0f) != MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE;
}

static void ws_close(const struct mg_connection *conn, void *cbdata)
{
    ws_hub_t *h = cbdata;
    ws_client_t *c = mg_get_user_connection_data(conn);
    if (c == NULL)
        return;
    mg_set_user_connection_data(conn, NULL);
    if (c->conn == NULL) {           /* connected, never ready */
        free(c);
        return;
    }
    pthread_mutex_lock(&h->mu);
    for (ws_client_t **pp = &h->clients; *pp != NULL; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            h->nclients--;
            break;
        }
    pthread_mutex_unlock(&h->mu);
    pthread_mutex_lock(&c->mu);
    c->closing = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->tid, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    LOG_INFO("ws", "client of %s gone", c->user);
    free(c);
}

/* ---- the broadcaster ------------------------------------------------------- */

static json_t *ws_event(const char *type, int64_t at)
{
    return json_pack("{s:s,s:I}", "type", type, "at", (json_int_t)at);
}

static void ws_emit_call_locked(ws_hub_t *h, const char *type,
                                const call_slot_t *s, int64_t at)
{
    if (h->clients == NULL)
        return;
    json_t *j = ws_event(type, at);
    if (j != NULL)
        json_object_set_new(j, "call", ws_call_json(s, at));
    ws_broadcast_locked(h, ws_msg_new(j));
}

static void ws_emit_end_locked(ws_hub_t *h, const char *call_id,
                               const call_slot_t *s, int64_t at)
{
    if (h->clients == NULL)
        return;
    json_t *j = ws_event("call_end", at);
    if (j != NULL) {
        json_object_set_new(j, "call_id", json_string(call_id));
        if (s != NULL)
            json_object_set_new(j, "call", ws_call_json(s, at));
    }
    ws_broadcast_locked(h, ws_msg_new(j));
}

static void ws_remember(ws_seen_t *p, const call_slot_t *s)
{
    p->state = s->state;
    p->flags = s->flags;
    p->reserved = s->reserved;
    p->rate = s->state == CALL_ANSWERED && !(s->flags & CALL_F_UNCHARGED)
                  ? s->cdr.rate_per_minute : 0;
}

/* Under hub->mu: one pass over the table, events for what changed. */
static void ws_scan_locked(ws_hub_t *h)
{
    const calls_shm_t *t = h->ctx->calls;
    call_slot_t s;

    for (uint32_t i = 0; i < t->nslots; i++) {
        ws_seen_t *p = &h->seen[i];
        uint32_t seq = __atomic_load_n(&t->slots[i].seq, __ATOMIC_ACQUIRE);
        if (seq == p->seq)
            continue;
        int ok = calls_read(t, i, &s) == 1;
        if (!ok && __atomic_load_n(&t->slots[i].owner, __ATOMIC_ACQUIRE) != 0
            && (__atomic_load_n(&t->slots[i].seq, __ATOMIC_ACQUIRE) & 1))
            continue;                    /* mid-write: next scan */
        int64_t at = ws_wall_us();
        p->seq = ok ? s.seq : seq;
        int same = ok && strcmp(s.cdr.call_id, p->call_id) == 0;
        if (ok && s.cdr.call_id[0] == '\0') {
            ok = 0;                      /* claimed, not filled yet */
            p->seq = seq - 1;            /* look again */
        }
        if (p->phase != 0 && !same) {
            if (p->phase == 1)
                ws_emit_end_locked(h, p->call_id, NULL, at);
            p->phase = 0;
            p->rate = 0;
            p->call_id[0] = '\0';
        }
        if (!ok)
            continue;
        if (p->phase == 0) {
            memcpy(p->call_id, s.cdr.call_id, sizeof p->call_id);
            p->phase = 1;
            h->starts++;
            ws_emit_call_locked(h, "call_start", &s, at);
        } else if (p->phase == 1) {
            if (s.state == CALL_ANSWERED && p->state == CALL_AUTHORIZED)
                ws_emit_call_locked(h, "call_answer", &s, at);
            else if (s.state != CALL_FINAL
                     && ((s.flags ^ p->flags) & WS_FLAGS_SHOWN
                         || s.reserved != p->reserved))
                ws_emit_call_locked(h, "call_update", &s, at);
        }
        if (p->phase == 1 && s.state == CALL_FINAL) {
            /* ended since the last scan: what it went through first */
            if (p->state == CALL_AUTHORIZED && s.cdr.answer_us > 0)
                ws_emit_call_locked(h, "call_answer", &s, at);
            if ((s.flags ^ p->flags) & WS_FLAGS_SHOWN)
                ws_emit_call_locked(h, "call_update", &s, at);
        }
        ws_remember(p, &s);
        if (p->phase == 1 && s.state == CALL_FINAL) {
            ws_emit_end_locked(h, p->call_id, &s, at);
            p->phase = 2;
            p->rate = 0;
        }
    }
}

static void ws_tick_locked(ws_hub_t *h, int64_t elapsed_ms)
{
    const calls_shm_t *t = h->ctx->calls;
    uint32_t active = 0;
    money_t rev = 0;
    for (uint32_t i = 0; i < t->nslots; i++) {
        active += h->seen[i].phase == 1;
        if (money_add(rev, h->seen[i].rate, &rev) != MONEY_OK)
            rev = MONEY_MAX;
    }
    char revs[MONEY_STRLEN];
    money_format(rev, revs);
    double cps = elapsed_ms > 0 ? h->starts * 1000.0 / (double)elapsed_ms : 0;
    h->starts = 0;
    json_t *j = ws_event("tick", ws_wall_us());
    if (j != NULL) {
        json_object_set_new(j, "active", json_integer(active));
        json_object_set_new(j, "cps", json_real((double)(int64_t)(cps * 10)
                                                / 10));
        json_object_set_new(j, "revenue_per_min", json_string(revs));
        json_object_set_new(j, "clients", json_integer(h->nclients));
    }
    ws_broadcast_locked(h, ws_msg_new(j));
}

static void *ws_broadcaster(void *p)
{
    ws_hub_t *h = p;
    int64_t last_tick = clock_mono_ms();

    while (!atomic_load(&h->stop)) {
        pthread_mutex_lock(&h->mu);
        int64_t now = clock_mono_ms();
        if (h->clients == NULL) {
            last_tick = now;
        } else {
            ws_scan_locked(h);
            if (now - last_tick >= WS_TICK_MS) {
                ws_tick_locked(h, now - last_tick);
                last_tick = now;
            }
        }
        pthread_mutex_unlock(&h->mu);
        struct timespec ts = { 0, WS_SCAN_MS * 1000000L };
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* ---- the hub --------------------------------------------------------------- */

ws_hub_t *ws_start(http_server_t *http, proc_ctx_t *ctx)
{
    if (ctx->calls == NULL) {
        LOG_ERROR("ws", 0, "no calls table: %s is not served", WS_PATH);
        return NULL;
    }
    ws_hub_t *h = calloc(1, sizeof *h);
    ws_seen_t *seen = calloc(ctx->calls->nslots ? ctx->calls->nslots : 1,
                             sizeof *seen);
    if (h == NULL || seen == NULL) {
        LOG_ERROR("ws", errno, "calloc() failed");
        free(h);
        free(seen);
        return NULL;
    }
    h->ctx = ctx;
    h->http = http;
    h->seen = seen;
    pthread_mutex_init(&h->mu, NULL);
    atomic_init(&h->stop, 0);
    /* The first scan sees every live call as new: nobody listens yet. */
    int err = pthread_create(&h->tid, NULL, ws_broadcaster, h);
    if (err != 0) {
        LOG_ERROR("ws", err, "pthread_create() of the broadcaster failed");
        pthread_mutex_destroy(&h->mu);
        free(seen);
        free(h);
        return NULL;
    }
    mg_set_websocket_handler(http_civetweb(http), WS_PATH, ws_connect,
                             ws_ready, ws_data, ws_close, h);
    LOG_INFO("ws", "%s: %u slots scanned every %d ms", WS_PATH,
             ctx->calls->nslots, WS_SCAN_MS);
    return h;
}

void ws_stop(ws_hub_t *h)
{
    if (h == NULL)
        return;
    atomic_store(&h->stop, 1);
    pthread_join(h->tid, NULL);
}

void ws_free(ws_hub_t *h)
{
    if (h == NULL)
        return;
    pthread_mutex_destroy(&h->mu);
    free(h->seen);
    free(h);
}
