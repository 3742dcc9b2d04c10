/*
 * event.c -- events as FreeSWITCH 1.11 writes them on the Event Socket.
 *
 * An event is a list of headers in wire order (evb_t). It is serialised at
 * most once per format (text/event-plain: "Name: value\n" with the value
 * URL-encoded the way switch_url_encode does it; text/event-json: one
 * object, every value a string, "ARRAY::a|:b" values as arrays), then the
 * same bytes are copied to every subscribed client. Nothing here allocates
 * per event once the buffers have grown to their working size.
 *
 * NOTES
 * - Outer frame of an event: Content-Length first, then Content-Type (the
 *   captures); replies put Content-Type first (server.c).
 * - The inner body of BACKGROUND_JOB: plain "Content-Length: N\n\n" + body
 *   after the headers (no final blank line), json "Content-Length":"N",
 *   "_body":"...". A channel event's plain body ends with "\n\n".
 */
#include "tests/fssim/fssim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

evb_t EVB;

/* ---- names --------------------------------------------------------------- */

static const char *const ev_names[EV_NTYPES] = {
    "CHANNEL_CREATE", "CHANNEL_PARK", "CHANNEL_ANSWER", "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY", "HEARTBEAT",
    "BACKGROUND_JOB", "CHANNEL_DATA",
};

const char *ev_name(ev_t t)
{
    return (unsigned)t < EV_NTYPES ? ev_names[t] : "UNKNOWN";
}

/* Every event name FreeSWITCH knows (switch_event_types_t), so that a
 * subscription to one the simulator never fires is accepted as FreeSWITCH
 * accepts it. */
static const char *const fs_event_names[] = {
    "CUSTOM", "CLONE", "CHANNEL_CREATE", "CHANNEL_DESTROY", "CHANNEL_STATE",
    "CHANNEL_CALLSTATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HOLD", "CHANNEL_UNHOLD", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE",
    "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_OUTGOING",
    "CHANNEL_PARK", "CHANNEL_UNPARK", "CHANNEL_APPLICATION",
    "CHANNEL_ORIGINATE", "CHANNEL_UUID", "API", "LOG", "INBOUND_CHAN",
    "OUTBOUND_CHAN", "STARTUP", "SHUTDOWN", "PUBLISH", "UNPUBLISH", "TALK",
    "NOTALK", "SESSION_CRASH", "MODULE_LOAD", "MODULE_UNLOAD", "DTMF",
    "MESSAGE", "PRESENCE_IN", "NOTIFY_IN", "PRESENCE_OUT", "PRESENCE_PROBE",
    "MESSAGE_WAITING", "MESSAGE_QUERY", "ROSTER", "CODEC", "BACKGROUND_JOB",
    "DETECTED_SPEECH", "DETECTED_TONE", "PRIVATE_COMMAND", "HEARTBEAT",
    "TRAP", "ADD_SCHEDULE", "DEL_SCHEDULE", "EXE_SCHEDULE", "RE_SCHEDULE",
    "RELOADXML", "NOTIFY", "PHONE_FEATURE", "PHONE_FEATURE_SUBSCRIBE",
    "SEND_MESSAGE", "RECV_MESSAGE", "REQUEST_PARAMS", "CHANNEL_DATA",
    "GENERAL", "COMMAND", "SESSION_HEARTBEAT", "CLIENT_DISCONNECTED",
    "SERVER_DISCONNECTED", "SEND_INFO", "RECV_INFO", "RECV_RTCP_MESSAGE",
    "SEND_RTCP_MESSAGE", "CALL_SECURE", "NAT", "RECORD_START", "RECORD_STOP",
    "PLAYBACK_START", "PLAYBACK_STOP", "CALL_UPDATE", "FAILURE",
    "SOCKET_DATA", "MEDIA_BUG_START", "MEDIA_BUG_STOP",
    "CONFERENCE_DATA_QUERY", "CONFERENCE_DATA", "CALL_SETUP_REQ",
    "CALL_SETUP_RESULT", "CALL_DETAIL", "DEVICE_STATE", "TEXT",
    "SHUTDOWN_REQUESTED", "ALL",
};

int ev_lookup(const char *name, uint32_t *bits)
{
    *bits = 0;
    if (strcasecmp(name, "ALL") == 0) {
        *bits = EV_ALL_MASK;
        return 1;
    }
    for (int t = 0; t < EV_CHANNEL_DATA; t++)
        if (strcasecmp(name, ev_names[t]) == 0) {
            *bits = 1u << t;
            return 1;
        }
    for (size_t i = 0; i < sizeof fs_event_names / sizeof *fs_event_names; i++)
        if (strcasecmp(name, fs_event_names[i]) == 0)
            return 1;
    return 0;
}

/* ---- dates --------------------------------------------------------------- */

static int64_t date_sec = -1;
static char    date_l[32], date_g[48];

static void date_fill(int64_t wall)
{
    time_t s = (time_t)(wall / 1000000);
    struct tm tm;
    if (s == date_sec)
        return;
    date_sec = s;
    localtime_r(&s, &tm);
    strftime(date_l, sizeof date_l, "%Y-%m-%d %H:%M:%S", &tm);
    gmtime_r(&s, &tm);
    strftime(date_g, sizeof date_g, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

const char *date_local(int64_t wall)
{
    date_fill(wall);
    return date_l;
}

const char *date_gmt(int64_t wall)
{
    date_fill(wall);
    return date_g;
}

/* ---- building ------------------------------------------------------------ */

static hdr_t *evb_slot(evb_t *e)
{
    if (e->nh == e->caph) {
        size_t nc = e->caph ? e->caph * 2 : 256;
        hdr_t *nh = realloc(e->h, nc * sizeof *nh);
        if (!nh) {
            fprintf(stderr, "fssim: out of memory\n");
            abort();
        }
        e->h = nh;
        e->caph = nc;
    }
    return &e->h[e->nh++];
}

void evb_addn(evb_t *e, const char *n, size_t nl, const char *v, size_t vl)
{
    hdr_t *h = evb_slot(e);
    h->name = n;
    h->nlen = (uint32_t)nl;
    h->val = v;
    h->vlen = (uint32_t)vl;
    h->voff = 0;
}

void evb_addcopy(evb_t *e, const char *n, const char *v, size_t vl)
{
    size_t off = e->arena.len;
    buf_put(&e->arena, v, vl);
    hdr_t *h = evb_slot(e);
    h->name = n;
    h->nlen = (uint32_t)strlen(n);
    h->val = NULL;
    h->voff = off;
    h->vlen = (uint32_t)vl;
}

void evb_addu(evb_t *e, const char *n, uint64_t v)
{
    size_t off = e->arena.len;
    buf_u64(&e->arena, v);
    hdr_t *h = evb_slot(e);
    h->name = n;
    h->nlen = (uint32_t)strlen(n);
    h->val = NULL;
    h->voff = off;
    h->vlen = (uint32_t)(e->arena.len - off);
}

void evb_addi(evb_t *e, const char *n, int64_t v)
{
    size_t off = e->arena.len;
    buf_i64(&e->arena, v);
    hdr_t *h = evb_slot(e);
    h->name = n;
    h->nlen = (uint32_t)strlen(n);
    h->val = NULL;
    h->voff = off;
    h->vlen = (uint32_t)(e->arena.len - off);
}

void evb_addf(evb_t *e, const char *n, const char *fmt, ...)
{
    size_t off = e->arena.len;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&e->arena, fmt, ap);
    va_end(ap);
    hdr_t *h = evb_slot(e);
    h->name = n;
    h->nlen = (uint32_t)strlen(n);
    h->val = NULL;
    h->voff = off;
    h->vlen = (uint32_t)(e->arena.len - off);
}

void evb_begin(evb_t *e, ev_t t, int64_t now_wall, const char *file,
               const char *func, int line)
{
    static uint64_t gens;
    e->type = t;
    e->gen = ++gens;
    e->nh = 0;
    e->arena.len = 0;
    e->body = NULL;
    e->body_len = 0;
    uint64_t seq = ++G.st.events_created;

    evb_add(e, "Event-Name", ev_name(t));
    evb_add(e, "Core-UUID", G.core_uuid);
    evb_add(e, "FreeSWITCH-Hostname", G.hostname);
    evb_add(e, "FreeSWITCH-Switchname", G.hostname);
    evb_add(e, "FreeSWITCH-IPv4", "127.0.0.1");
    evb_add(e, "FreeSWITCH-IPv6", "::1");
    evb_add(e, "Event-Date-Local", date_local(now_wall));
    evb_add(e, "Event-Date-GMT", date_gmt(now_wall));
    evb_addi(e, "Event-Date-Timestamp", now_wall);
    evb_add(e, "Event-Calling-File", file);
    evb_add(e, "Event-Calling-Function", func);
    evb_addi(e, "Event-Calling-Line-Number", line);
    evb_addu(e, "Event-Sequence", seq);
}

/* ---- serialising --------------------------------------------------------- */

static uint8_t url_unsafe[256];
static uint8_t json_esc[256];
static const char hexd[] = "0123456789ABCDEF";

static void tables_init(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    for (int c = 0; c < 256; c++) {
        url_unsafe[c] = (c < 0x20 || c > 0x7e);
        json_esc[c] = (c < 0x20 || c == '"' || c == '\\');
    }
    for (const char *p = " \"#%&+:;<=>?@[\\]^`{|}"; *p; p++)
        url_unsafe[(unsigned char)*p] = 1;
}

static void put_json_str(buf_t *b, const char *v, size_t n);

static inline const char *hval(const evb_t *e, const hdr_t *h)
{
    return h->val ? h->val : e->arena.p + h->voff;
}

static void put_url(buf_t *b, const char *v, size_t n)
{
    if (b->cap - b->len < n * 3 + 2)
        buf_grow(b, n * 3 + 2);
    char *d = b->p + b->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (!url_unsafe[c]) {
            *d++ = (char)c;
        } else {
            *d++ = '%';
            *d++ = hexd[c >> 4];
            *d++ = hexd[c & 15];
        }
    }
    b->len = (size_t)(d - b->p);
}

void json_str(buf_t *b, const char *v, size_t n)
{
    tables_init();
    put_json_str(b, v, n);
}

static void put_json_str(buf_t *b, const char *v, size_t n)
{
    if (b->cap - b->len < n * 6 + 4)
        buf_grow(b, n * 6 + 4);
    char *d = b->p + b->len;
    *d++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (!json_esc[c]) {
            *d++ = (char)c;
            continue;
        }
        *d++ = '\\';
        switch (c) {
        case '"':  *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '\b': *d++ = 'b'; break;
        case '\f': *d++ = 'f'; break;
        case '\n': *d++ = 'n'; break;
        case '\r': *d++ = 'r'; break;
        case '\t': *d++ = 't'; break;
        default:
            *d++ = 'u';
            *d++ = '0';
            *d++ = '0';
            *d++ = hexd[c >> 4];
            *d++ = (char)(hexd[c & 15] | 0x20);  /* cJSON: lower case */
            break;
        }
    }
    *d++ = '"';
    b->len = (size_t)(d - b->p);
}

void ev_plain(const evb_t *e, buf_t *out, int encode)
{
    tables_init();
    for (size_t i = 0; i < e->nh; i++) {
        const hdr_t *h = &e->h[i];
        buf_put(out, h->name, h->nlen);
        BUF_LIT(out, ": ");
        if (encode)
            put_url(out, hval(e, h), h->vlen);
        else
            buf_put(out, hval(e, h), h->vlen);
        buf_putc(out, '\n');
    }
    if (e->body) {
        BUF_LIT(out, "Content-Length: ");
        buf_u64(out, e->body_len);
        BUF_LIT(out, "\n\n");
        buf_put(out, e->body, e->body_len);
    } else {
        buf_putc(out, '\n');
    }
}

/* "ARRAY::a|:b" -> ["a","b"] as switch_event_serialize_json writes it. */
static void put_json_value(buf_t *b, const char *v, size_t n)
{
    if (n < 7 || memcmp(v, "ARRAY::", 7) != 0) {
        put_json_str(b, v, n);
        return;
    }
    const char *p = v + 7, *end = v + n;
    buf_putc(b, '[');
    for (int first = 1;; first = 0) {
        const char *q = p;
        while (q + 1 < end && !(q[0] == '|' && q[1] == ':'))
            q++;
        if (q + 1 >= end)
            q = end;
        if (!first)
            buf_putc(b, ',');
        put_json_str(b, p, (size_t)(q - p));
        if (q == end)
            break;
        p = q + 2;
    }
    buf_putc(b, ']');
}

void ev_json(const evb_t *e, buf_t *out)
{
    tables_init();
    buf_putc(out, '{');
    for (size_t i = 0; i < e->nh; i++) {
        const hdr_t *h = &e->h[i];
        if (i)
            buf_putc(out, ',');
        put_json_str(out, h->name, h->nlen);
        buf_putc(out, ':');
        put_json_value(out, hval(e, h), h->vlen);
    }
    if (e->body) {
        BUF_LIT(out, ",\"Content-Length\":\"");
        buf_u64(out, e->body_len);
        BUF_LIT(out, "\",\"_body\":");
        put_json_str(out, e->body, e->body_len);
    }
    buf_putc(out, '}');
}

/* ---- frames and delivery ------------------------------------------------- */

static buf_t    frame_body;
static buf_t    frames[2];
static uint64_t frame_gen[2];

static void frame_build(const evb_t *e, fmt_t f, buf_t *out)
{
    frame_body.len = 0;
    if (f == FMT_JSON)
        ev_json(e, &frame_body);
    else
        ev_plain(e, &frame_body, 1);
    out->len = 0;
    out->off = 0;
    BUF_LIT(out, "Content-Length: ");
    buf_u64(out, frame_body.len);
    if (f == FMT_JSON)
        BUF_LIT(out, "\nContent-Type: text/event-json\n\n");
    else
        BUF_LIT(out, "\nContent-Type: text/event-plain\n\n");
    buf_put(out, frame_body.p, frame_body.len);
}

const buf_t *ev_frame(const evb_t *e, fmt_t f)
{
    if (frame_gen[f] != e->gen) {
        frame_build(e, f, &frames[f]);
        frame_gen[f] = e->gen;
    }
    return &frames[f];
}

void ev_emit(const evb_t *e, int times)
{
    server_deliver(e->type, e, NULL, times);
}

void ev_hold(const evb_t *e, ev_held_t *h)
{
    h->type = e->type;
    h->plain.len = h->json.len = 0;
    frame_build(e, FMT_PLAIN, &h->plain);
    frame_build(e, FMT_JSON, &h->json);
}

void ev_held_emit(const ev_held_t *h, int times)
{
    server_deliver(h->type, NULL, h, times);
}

void ev_held_free(ev_held_t *h)
{
    buf_free(&h->plain);
    buf_free(&h->json);
}
