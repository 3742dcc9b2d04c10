/*
 * fuzz_esl.c -- the FreeSWITCH Event Socket codec (workers/esl_proto.h):
 * the frame reader over a byte stream, text/event-plain bodies, and the
 * JSON bodies the worker reads with jansson (text/event-json events,
 * `show channels as json` / `uuid_dump json` api responses).
 *
 * The input is the byte stream FreeSWITCH would send (the seeds are real
 * captures). Beyond "no crash":
 *   - split invariance: the stream committed whole and committed in
 *     pseudo-random pieces (1 byte to 4 KiB; derived from the input, so a
 *     saved crash replays) must give the same frames (type, content type,
 *     Reply-Text, Job-UUID, body), the same final state (EAGAIN with the
 *     same pending bytes, or EPROTO after the same frames with the same
 *     message), and an EPROTO reader stays in error;
 *   - each frame: its strings NUL-terminated, type == its Content-Type;
 *   - each event-plain body is parsed by esl_event_parse, in a block of
 *     exactly len + 1 bytes (ASan: "touches nothing outside
 *     body[0..len]"), with the worker's table of names and with a second
 *     table that also wants Content-Length and short names; the result
 *     must equal a reference parse written here from the contract in
 *     esl_proto.h (first value wins, %XX decoding, '+' kept, a NUL is an
 *     error, inner body by Content-Length);
 *   - a JSON body that jansson accepts dumps and loads back equal.
 */
#include "fuzz.h"

#include "workers/esl_proto.h"

#include <jansson.h>
#include <strings.h>

/* The names the ESL worker reads (workers/esl_conn.c, esl_wanted). */
static const char *const worker_names[] = {
    "Event-Name", "Unique-ID", "Call-Direction", "Answer-State",
    "Caller-Caller-ID-Number", "Caller-Orig-Caller-ID-Number",
    "Caller-Destination-Number", "Caller-Context",
    "Caller-Channel-Created-Time", "Caller-Channel-Answered-Time",
    "Caller-Channel-Hangup-Time", "Hangup-Cause", "variable_billsec",
    "variable_billmsec", "variable_duration", "Event-Date-Timestamp",
    "variable_apolo_account",
};
/* Content-Length wanted as a value too, names under 8 bytes (the hash's
 * short path) and names that share the hash's windows. */
static const char *const other_names[] = {
    "Content-Length", "Job-UUID", "A", "Event-Name", "Unique-ID",
    "Core-UUID", "variable_sip_from_user", "variable_sip_to_user",
    "Reply-Text", "X", "Hangup-Cause", "Channel-State",
    "Event-Calling-Function",
};

static esl_want_t want_worker, want_other;

/* ---- one frame, kept for the comparison of the two passes ---------------- */

typedef struct frame {
    esl_type_t type;
    char      *ct, *rt, *job, *body;    /* copies; rt/job NULL when absent */
    size_t     body_len;
} frame_t;

typedef struct run {
    frame_t *f;
    size_t   n, cap;
    int      rc;                        /* ESL_EAGAIN or ESL_EPROTO */
    size_t   pending;
    char     err[160];
} run_t;

static char *dupz(const char *s)
{
    return s != NULL ? fuzz_dup(s, strlen(s) + 1, 0) : NULL;
}

static void run_free(run_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->f[i].ct);
        free(r->f[i].rt);
        free(r->f[i].job);
        free(r->f[i].body);
    }
    free(r->f);
}

static esl_type_t type_of(const char *ct)
{
    static const struct { const char *s; esl_type_t t; } m[] = {
        { "auth/request", ESL_T_AUTH_REQUEST },
        { "command/reply", ESL_T_COMMAND_REPLY },
        { "api/response", ESL_T_API_RESPONSE },
        { "text/event-plain", ESL_T_EVENT_PLAIN },
        { "text/event-json", ESL_T_EVENT_JSON },
        { "text/disconnect-notice", ESL_T_DISCONNECT_NOTICE },
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (strcasecmp(ct, m[i].s) == 0)
            return m[i].t;
    return ESL_T_UNKNOWN;
}

static void keep_frame(run_t *r, const esl_frame_t *f)
{
    FUZZ_CHECK(f->content_type != NULL && f->body != NULL, "NULL field");
    FUZZ_CHECK(f->body[f->body_len] == '\0', "body not NUL-terminated");
    FUZZ_CHECK(f->type == type_of(f->content_type), "type %d for \"%s\"",
               (int)f->type, f->content_type);
    FUZZ_CHECK(strchr(f->content_type, '\n') == NULL
               && (f->reply_text == NULL || !strchr(f->reply_text, '\n'))
               && (f->job_uuid == NULL || !strchr(f->job_uuid, '\n')),
               "a header value holds a newline");
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->f = realloc(r->f, r->cap * sizeof *r->f);
        if (r->f == NULL)
            abort();
    }
    frame_t *k = &r->f[r->n++];
    k->type = f->type;
    k->ct = dupz(f->content_type);
    k->rt = dupz(f->reply_text);
    k->job = dupz(f->job_uuid);
    k->body = fuzz_dup(f->body, f->body_len, 0);
    k->body_len = f->body_len;
}

/* Takes every complete frame out of rd; 1 when it is in error. */
static int drain(esl_reader_t *rd, run_t *r)
{
    esl_frame_t f;
    int rc;
    while ((rc = esl_reader_next(rd, &f)) == ESL_OK)
        keep_frame(r, &f);
    FUZZ_CHECK(rc == ESL_EAGAIN || rc == ESL_EPROTO, "next() = %d", rc);
    if (rc == ESL_EPROTO) {
        r->rc = rc;
        snprintf(r->err, sizeof r->err, "%s", rd->err);
        FUZZ_CHECK(rd->err[0] != '\0', "EPROTO without a message");
        FUZZ_CHECK(esl_reader_next(rd, &f) == ESL_EPROTO, "EPROTO forgotten");
        size_t avail = 1;
        FUZZ_CHECK(esl_reader_space(rd, 1, &avail) == NULL && avail == 0,
                   "space after EPROTO");
        return 1;
    }
    return 0;
}

/* Feeds data in pieces of at most `piece` bytes (piece 0: pseudo-random
 * sizes from *seed). */
static void feed(const uint8_t *data, size_t size, size_t piece,
                 uint64_t *seed, run_t *r)
{
    esl_reader_t rd;
    size_t off = 0;
    memset(r, 0, sizeof *r);
    r->rc = ESL_EAGAIN;
    /* a small max_body, so that the limit is reached too */
    FUZZ_CHECK(esl_reader_init(&rd, 1 << 16) == ESL_OK, "init");
    while (off < size) {
        size_t n = piece ? piece : fuzz_chunk(seed, 4096), avail = 0;
        if (n > size - off)
            n = size - off;
        char *p = esl_reader_space(&rd, n, &avail);
        FUZZ_CHECK(p != NULL && avail >= n, "no space for %zu bytes", n);
        memcpy(p, data + off, n);
        esl_reader_commit(&rd, n);
        off += n;
        if (drain(&rd, r))
            break;
    }
    if (r->rc != ESL_EPROTO)
        r->pending = esl_reader_pending(&rd);
    esl_reader_free(&rd);
}

static void same_runs(const run_t *a, const run_t *b)
{
    FUZZ_CHECK(a->n == b->n, "%zu frames whole, %zu in pieces", a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const frame_t *x = &a->f[i], *y = &b->f[i];
        FUZZ_CHECK(x->type == y->type && strcmp(x->ct, y->ct) == 0,
                   "frame %zu: type", i);
        FUZZ_CHECK((x->rt == NULL) == (y->rt == NULL)
                   && (x->rt == NULL || strcmp(x->rt, y->rt) == 0),
                   "frame %zu: Reply-Text", i);
        FUZZ_CHECK((x->job == NULL) == (y->job == NULL)
                   && (x->job == NULL || strcmp(x->job, y->job) == 0),
                   "frame %zu: Job-UUID", i);
        FUZZ_CHECK(x->body_len == y->body_len
                   && memcmp(x->body, y->body, x->body_len) == 0,
                   "frame %zu: body", i);
    }
    FUZZ_CHECK(a->rc == b->rc, "ended %d whole, %d in pieces", a->rc, b->rc);
    FUZZ_CHECK(a->rc != ESL_EPROTO || strcmp(a->err, b->err) == 0,
               "EPROTO \"%s\" whole, \"%s\" in pieces", a->err, b->err);
    FUZZ_CHECK(a->pending == b->pending, "pending %zu vs %zu", a->pending,
               b->pending);
}

/* ---- event-plain bodies: the reference parse ------------------------------ */

typedef struct ref {
    int    rc;
    char  *val[ESL_WANT_MAX];
    size_t len[ESL_WANT_MAX];
    const char *inner;                  /* into the pristine copy */
    size_t inner_len;
} ref_t;

static int hexv(int c)
{
    return c >= '0' && c <= '9' ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes s[0..n) into a new string: 0, or -1 when it holds or decodes to
 * a NUL byte. */
static int ref_decode(const char *s, size_t n, char **out, size_t *olen)
{
    char *d = fuzz_dup("", 0, n + 1);
    size_t k = 0;
    if (memchr(s, '\0', n) != NULL) {
        free(d);
        return -1;
    }
    for (size_t i = 0; i < n;) {
        if (s[i] == '%' && n - i >= 3 && hexv((unsigned char)s[i + 1]) >= 0
            && hexv((unsigned char)s[i + 2]) >= 0) {
            d[k] = (char)(hexv((unsigned char)s[i + 1]) << 4
                          | hexv((unsigned char)s[i + 2]));
            if (d[k] == '\0') {
                free(d);
                return -1;
            }
            k++;
            i += 3;
        } else {
            d[k++] = s[i++];
        }
    }
    d[k] = '\0';
    *out = d;
    *olen = k;
    return 0;
}

static void ref_parse(const char *const *names, unsigned nn, const char *b,
                      size_t len, ref_t *r)
{
    size_t p = 0;
    const char *cl = NULL;
    size_t cl_len = 0;
    memset(r, 0, sizeof *r);
    while (p < len && b[p] != '\n') {
        const char *nlp = memchr(b + p, '\n', len - p);
        size_t nl = nlp != NULL ? (size_t)(nlp - b) : len;
        const char *colon = memchr(b + p, ':', nl - p);
        if (colon == NULL) {
            r->rc = ESL_EPROTO;
            return;
        }
        size_t nlen = (size_t)(colon - (b + p));
        const char *name = b + p;
        p = nl < len ? nl + 1 : len;
        int idx = -1, is_cl = nlen == 14 && memcmp(name, "Content-Length",
                                                    14) == 0;
        for (unsigned i = 0; i < nn && idx < 0; i++)
            if (strlen(names[i]) == nlen && memcmp(names[i], name, nlen) == 0)
                idx = (int)i;
        if (idx < 0 && !is_cl)
            continue;
        const char *v = colon + 1;
        while (v < b + nl && *v == ' ')
            v++;
        if (is_cl && cl == NULL) {
            cl = v;
            cl_len = (size_t)(b + nl - v);
        }
        if (idx < 0 || r->val[idx] != NULL)
            continue;
        if (ref_decode(v, (size_t)(b + nl - v), &r->val[idx],
                       &r->len[idx]) != 0) {
            r->rc = ESL_EPROTO;
            return;
        }
    }
    if (p < len)
        p++;
    if (cl != NULL) {
        size_t val = 0;
        if (cl_len == 0) {
            r->rc = ESL_EPROTO;
            return;
        }
        for (size_t i = 0; i < cl_len; i++) {
            if (cl[i] < '0' || cl[i] > '9' || val > (len - p) / 10) {
                r->rc = ESL_EPROTO;
                return;
            }
            val = val * 10 + (size_t)(cl[i] - '0');
        }
        if (val > len - p) {
            r->rc = ESL_EPROTO;
            return;
        }
        r->inner = b + p;
        r->inner_len = val;
    }
    r->rc = ESL_OK;
}

static void ref_free(ref_t *r)
{
    for (unsigned i = 0; i < ESL_WANT_MAX; i++)
        free(r->val[i]);
}

static void check_event(const esl_want_t *w, const char *const *names,
                        unsigned nn, const char *body, size_t len)
{
    char *b = fuzz_dup(body, len, 1);      /* body[len] writable, no more */
    b[len] = '\0';
    esl_event_t ev;
    ref_t ref;
    int rc = esl_event_parse(w, b, len, &ev);
    ref_parse(names, nn, body, len, &ref);
    FUZZ_CHECK(rc == ref.rc, "esl_event_parse = %d, the contract says %d",
               rc, ref.rc);
    if (rc == ESL_OK) {
        for (unsigned i = 0; i < nn; i++) {
            FUZZ_CHECK((ev.val[i] == NULL) == (ref.val[i] == NULL),
                       "%s: present %d, expected %d", names[i],
                       ev.val[i] != NULL, ref.val[i] != NULL);
            if (ev.val[i] == NULL)
                continue;
            FUZZ_CHECK(ev.val[i] >= b && ev.val[i] + ev.len[i] <= b + len,
                       "%s: value outside the body", names[i]);
            FUZZ_CHECK(ev.val[i][ev.len[i]] == '\0'
                       && strlen(ev.val[i]) == ev.len[i],
                       "%s: not NUL-terminated at its length", names[i]);
            FUZZ_CHECK(ev.len[i] == ref.len[i]
                       && memcmp(ev.val[i], ref.val[i], ref.len[i]) == 0,
                       "%s: \"%s\", expected \"%s\"", names[i], ev.val[i],
                       ref.val[i]);
        }
        FUZZ_CHECK((ev.body == NULL) == (ref.inner == NULL),
                   "inner body present %d, expected %d", ev.body != NULL,
                   ref.inner != NULL);
        if (ev.body != NULL) {
            FUZZ_CHECK(ev.body_len == ref.inner_len
                       && ev.body - b == ref.inner - body
                       && ev.body[ev.body_len] == '\0',
                       "inner body at %td+%zu, expected %td+%zu",
                       ev.body - b, ev.body_len, ref.inner - body,
                       ref.inner_len);
            FUZZ_CHECK(memcmp(ev.body, ref.inner, ev.body_len) == 0,
                       "inner body bytes");
        }
    }
    ref_free(&ref);
    free(b);
}

static void check_json(const char *body, size_t len)
{
    json_t *j = json_loadb(body, len, 0, NULL);   /* as esl_call.c does */
    if (j == NULL)
        return;
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    FUZZ_CHECK(s != NULL, "json_dumps failed on what json_loadb made");
    json_t *k = json_loads(s, JSON_DECODE_ANY, NULL);
    FUZZ_CHECK(k != NULL && json_equal(j, k), "JSON round trip: %.200s", s);
    free(s);
    json_decref(k);
    json_decref(j);
}

static int init_done;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!init_done) {
        FUZZ_CHECK(esl_want_init(&want_worker, worker_names,
                   sizeof worker_names / sizeof worker_names[0]) == ESL_OK,
                   "want init");
        FUZZ_CHECK(esl_want_init(&want_other, other_names,
                   sizeof other_names / sizeof other_names[0]) == ESL_OK,
                   "want init");
        init_done = 1;
    }
    uint64_t seed = fuzz_hash(data, size);
    run_t whole, pieces;
    feed(data, size, size ? size : 1, &seed, &whole);
    feed(data, size, 0, &seed, &pieces);
    same_runs(&whole, &pieces);
    for (size_t i = 0; i < whole.n; i++) {
        const frame_t *f = &whole.f[i];
        if (f->type == ESL_T_EVENT_PLAIN) {
            check_event(&want_worker, worker_names,
                        sizeof worker_names / sizeof worker_names[0],
                        f->body, f->body_len);
            check_event(&want_other, other_names,
                        sizeof other_names / sizeof other_names[0],
                        f->body, f->body_len);
        } else if (f->type == ESL_T_EVENT_JSON
                   || f->type == ESL_T_API_RESPONSE) {
            check_json(f->body, f->body_len);
        }
    }
    run_free(&whole);
    run_free(&pieces);
    return 0;
}
