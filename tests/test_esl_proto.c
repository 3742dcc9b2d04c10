/*
 * test_esl_proto.c -- esl_proto.h against the real FreeSWITCH captures of
 * tests/fixtures/freeswitch (README.md there says what each one holds).
 *
 * Every X.raw is cut into frames: whole, a byte at a time, at random split
 * sizes and (for a small one) at every split point, always with the same
 * frames as the result. What the frames hold is checked against what the
 * capture's other files say, never against numbers typed in here:
 *   - X.summary.json: counts of channels, hangups, heartbeats; the order
 *     and Event-Sequence of every event; every command's reply;
 *   - X.sent.raw: one reply frame per command sent, one api/response per
 *     `api` and one BACKGROUND_JOB per `bgapi` sent after `auth`;
 *   - README.md: the values quoted there (-ERR invalid, -ERR USER_BUSY,
 *     uuid_exists true / false without newline, ...).
 * Then malformed input, and 20000 random mutations of a capture, which
 * must give the same frames and the same error however they are split.
 */
#include "workers/esl_proto.h"
#include "tests/testhelp.h"

#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#define NTYPES (ESL_T_DISCONNECT_NOTICE + 1)

static char fixdir[4096];
static int verbose;                      /* ESL_TEST_VERBOSE=1 */

/* ---- Small utilities ---- */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "test_esl_proto: out of memory\n");
        exit(2);
    }
    return p;
}

static char *xstrndup(const char *s, size_t n)
{
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

typedef struct {
    char  *data;
    size_t len;
} blob_t;

/* A fixture file; data NULL (and a failed check) when it cannot be read. */
static blob_t load(const char *name)
{
    char path[8192];
    blob_t b = { NULL, 0 };
    FILE *fp;
    long n;

    snprintf(path, sizeof path, "%s/%s", fixdir, name);
    fp = fopen(path, "rb");
    if (fp == NULL) {
        TEST_FAIL_AT("cannot open %s", path);
        return b;
    }
    if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 &&
        fseek(fp, 0, SEEK_SET) == 0) {
        b.data = xmalloc((size_t)n + 1);
        b.len = fread(b.data, 1, (size_t)n, fp);
        b.data[b.len] = '\0';
    }
    fclose(fp);
    return b;
}

static int file_exists(const char *name)
{
    char path[8192];
    FILE *fp;

    snprintf(path, sizeof path, "%s/%s", fixdir, name);
    fp = fopen(path, "rb");
    if (fp != NULL)
        fclose(fp);
    return fp != NULL;
}

/* ---- Feeding bytes to a reader, keeping copies of the frames ---- */

typedef struct {
    esl_type_t type;
    char      *ct, *rt, *job;     /* rt and job NULL when absent */
    char      *body;
    size_t     body_len;
} fcopy_t;

typedef struct {
    fcopy_t *v;
    size_t   n, cap;
    int      rc;                  /* the last esl_reader_next result */
    size_t   pending;             /* bytes left in the reader at the end */
    char     err[160];
} flist_t;

enum { CH_WHOLE, CH_FIXED, CH_RANDOM, CH_AT };

typedef struct {
    int      mode;
    size_t   size;                /* CH_FIXED: chunk size; CH_RANDOM: max */
    size_t   at;                  /* CH_AT: the one split point */
    uint64_t rng;
    size_t   pos;
} chunker_t;

static size_t chunk_next(chunker_t *c, size_t left)
{
    size_t n = left;

    switch (c->mode) {
    case CH_FIXED:
        n = c->size;
        break;
    case CH_RANDOM:
        n = 1 + (size_t)(rng_next(&c->rng) % c->size);
        break;
    case CH_AT:
        n = c->pos < c->at ? c->at - c->pos : left;
        break;
    }
    if (n > left)
        n = left;
    if (n == 0)
        n = left;
    c->pos += n;
    return n;
}

static void flist_add(flist_t *l, const esl_frame_t *f)
{
    fcopy_t *c;

    /* What esl_proto.h promises of every frame. */
    TEST_CHECK(f->content_type != NULL && f->body != NULL);
    if (f->body == NULL || f->content_type == NULL)
        return;
    TEST_CHECK(f->body[f->body_len] == '\0');
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        fcopy_t *nv = realloc(l->v, l->cap * sizeof *l->v);
        if (nv == NULL)
            exit(2);
        l->v = nv;
    }
    c = &l->v[l->n++];
    c->type = f->type;
    c->ct = xstrndup(f->content_type, strlen(f->content_type));
    c->rt = f->reply_text ? xstrndup(f->reply_text, strlen(f->reply_text))
                          : NULL;
    c->job = f->job_uuid ? xstrndup(f->job_uuid, strlen(f->job_uuid)) : NULL;
    c->body = xstrndup(f->body, f->body_len);
    c->body_len = f->body_len;
}

static void flist_free(flist_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].ct);
        free(l->v[i].rt);
        free(l->v[i].job);
        free(l->v[i].body);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Feeds data[0..len) in the chunks c gives, taking frames out after each
 * commit, until the end or ESL_EPROTO. */
static void feed(const char *data, size_t len, chunker_t *c, size_t max_body,
                 flist_t *out)
{
    esl_reader_t r;
    esl_frame_t f;
    size_t pos = 0;

    memset(out, 0, sizeof *out);
    out->rc = ESL_EAGAIN;
    if (esl_reader_init(&r, max_body) != ESL_OK) {
        TEST_FAIL_AT("esl_reader_init failed");
        return;
    }
    while (pos < len && out->rc != ESL_EPROTO) {
        size_t n = chunk_next(c, len - pos), avail;
        char *dst = esl_reader_space(&r, n, &avail);
        if (dst == NULL || avail < n) {
            TEST_FAIL_AT("esl_reader_space(%zu) gave %zu", n, avail);
            break;
        }
        memcpy(dst, data + pos, n);
        esl_reader_commit(&r, n);
        pos += n;
        while ((out->rc = esl_reader_next(&r, &f)) == ESL_OK)
            flist_add(out, &f);
        if (out->rc != ESL_EAGAIN && out->rc != ESL_EPROTO)
            TEST_FAIL_AT("esl_reader_next returned %d", out->rc);
    }
    out->pending = esl_reader_pending(&r);
    memcpy(out->err, r.err, sizeof out->err);
    if (out->rc == ESL_EPROTO) {
        /* The reader stays in error. */
        TEST_EQ_I64(esl_reader_next(&r, &f), ESL_EPROTO);
        size_t avail = 1;
        TEST_CHECK(esl_reader_space(&r, 1, &avail) == NULL && avail == 0);
    }
    esl_reader_free(&r);
}

static void feed_whole(const char *data, size_t len, size_t max_body,
                       flist_t *out)
{
    chunker_t c = { CH_WHOLE, 0, 0, 0, 0 };
    feed(data, len, &c, max_body, out);
}

static int str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) ||
           (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Same frames and the same outcome; names the first difference. */
static int flist_same(const flist_t *a, const flist_t *b, const char *what)
{
    size_t i;

    if (a->n != b->n || a->rc != b->rc ||
        (a->rc == ESL_EPROTO && strcmp(a->err, b->err) != 0) ||
        (a->rc != ESL_EPROTO && a->pending != b->pending)) {
        TEST_FAIL_AT("%s: %zu frames rc %d \"%s\" vs %zu frames rc %d \"%s\"",
                     what, a->n, a->rc, a->err, b->n, b->rc, b->err);
        return 0;
    }
    for (i = 0; i < a->n; i++) {
        const fcopy_t *x = &a->v[i], *y = &b->v[i];
        if (x->type != y->type || !str_eq(x->ct, y->ct) ||
            !str_eq(x->rt, y->rt) || !str_eq(x->job, y->job) ||
            x->body_len != y->body_len ||
            memcmp(x->body, y->body, x->body_len) != 0) {
            TEST_FAIL_AT("%s: frame %zu differs", what, i);
            return 0;
        }
    }
    return 1;
}

/* ---- What a capture holds ---- */

typedef struct {
    char  name[48], seq[24], uuid[48], job[48];
    char *body;                   /* BACKGROUND_JOB output, or NULL */
} evrec_t;

typedef struct {
    size_t          by_type[NTYPES];
    evrec_t        *ev;
    size_t          nev;
    const fcopy_t **rep;          /* command/reply and api/response frames */
    size_t          nrep;
} analysis_t;

static const char *const ana_names[] = {
    "Event-Name", "Event-Sequence", "Unique-ID", "Job-UUID",
};

static void copy_field(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static void analyse_plain(const esl_want_t *w, const fcopy_t *f, evrec_t *e)
{
    char *body = xstrndup(f->body, f->body_len);
    esl_event_t ev;
    int rc = esl_event_parse(w, body, f->body_len, &ev);

    TEST_EQ_I64(rc, ESL_OK);
    if (rc == ESL_OK) {
        TEST_CHECK(ev.val[0] != NULL);   /* every event has a name */
        copy_field(e->name, sizeof e->name, ev.val[0]);
        copy_field(e->seq, sizeof e->seq, ev.val[1]);
        copy_field(e->uuid, sizeof e->uuid, ev.val[2]);
        copy_field(e->job, sizeof e->job, ev.val[3]);
        if (ev.body != NULL)
            e->body = xstrndup(ev.body, ev.body_len);
    }
    free(body);
}

static void analyse_json(const fcopy_t *f, evrec_t *e)
{
    json_error_t jerr;
    json_t *o = json_loadb(f->body, f->body_len, 0, &jerr);

    if (o == NULL || !json_is_object(o)) {
        TEST_FAIL_AT("event-json body is not a JSON object: %s", jerr.text);
        json_decref(o);
        return;
    }
    TEST_CHECK(json_is_string(json_object_get(o, "Event-Name")));
    copy_field(e->name, sizeof e->name,
               json_string_value(json_object_get(o, "Event-Name")));
    copy_field(e->seq, sizeof e->seq,
               json_string_value(json_object_get(o, "Event-Sequence")));
    copy_field(e->uuid, sizeof e->uuid,
               json_string_value(json_object_get(o, "Unique-ID")));
    copy_field(e->job, sizeof e->job,
               json_string_value(json_object_get(o, "Job-UUID")));
    if (json_is_string(json_object_get(o, "_body"))) {
        json_t *b = json_object_get(o, "_body");
        e->body = xstrndup(json_string_value(b), json_string_length(b));
    }
    json_decref(o);
}

static void analyse(const flist_t *l, analysis_t *a)
{
    esl_want_t w;

    memset(a, 0, sizeof *a);
    a->ev = xmalloc(l->n * sizeof *a->ev);
    a->rep = xmalloc(l->n * sizeof *a->rep);
    TEST_EQ_I64(esl_want_init(&w, ana_names, 4), ESL_OK);
    for (size_t i = 0; i < l->n; i++) {
        const fcopy_t *f = &l->v[i];
        a->by_type[f->type]++;
        if (f->type == ESL_T_COMMAND_REPLY || f->type == ESL_T_API_RESPONSE)
            a->rep[a->nrep++] = f;
        if (f->type == ESL_T_EVENT_PLAIN || f->type == ESL_T_EVENT_JSON) {
            evrec_t *e = &a->ev[a->nev++];
            memset(e, 0, sizeof *e);
            if (f->type == ESL_T_EVENT_PLAIN)
                analyse_plain(&w, f, e);
            else
                analyse_json(f, e);
        }
    }
    esl_want_free(&w);
}

static void analysis_free(analysis_t *a)
{
    for (size_t i = 0; i < a->nev; i++)
        free(a->ev[i].body);
    free(a->ev);
    free(a->rep);
}

static size_t count_events(const analysis_t *a, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nev; i++)
        n += strcmp(a->ev[i].name, name) == 0;
    return n;
}

static const evrec_t *find_event(const analysis_t *a, const char *name,
                                 const char *uuid, const char *job)
{
    for (size_t i = 0; i < a->nev; i++)
        if (strcmp(a->ev[i].name, name) == 0 &&
            (uuid == NULL || strcmp(a->ev[i].uuid, uuid) == 0) &&
            (job == NULL || strcmp(a->ev[i].job, job) == 0))
            return &a->ev[i];
    return NULL;
}

/* ---- The capture's summary ---- */

/* A summary reply is the text, or its first part followed by
 * "...(N bytes, see .raw)" when long. */
static int reply_matches(const char *got, size_t got_len, const char *want)
{
    const char *cut = strstr(want, "...(");
    size_t n;

    if (cut != NULL && sscanf(cut, "...(%zu bytes, see .raw)", &n) == 1)
        return got_len == n && memcmp(got, want, (size_t)(cut - want)) == 0;
    return got_len == strlen(want) && memcmp(got, want, got_len) == 0;
}

static void check_count(const char *fx, json_t *s, const char *key,
                        size_t got)
{
    json_t *v = json_object_get(s, key);

    if (v == NULL)
        return;
    test_checks++;
    if (!json_is_integer(v) || (size_t)json_integer_value(v) != got)
        TEST_FAIL_AT("%s: %s is %zu, the summary says %lld", fx, key, got,
                     (long long)json_integer_value(v));
}

static void check_event_order(const char *fx, json_t *order,
                              const analysis_t *a)
{
    size_t k, j = 0;
    json_t *e;

    json_array_foreach(order, k, e) {
        const char *frame = json_string_value(json_object_get(e, "frame"));
        const char *name = json_string_value(json_object_get(e, "event"));
        const char *seq = json_string_value(json_object_get(e, "seq"));
        const char *uuid = json_string_value(json_object_get(e, "uuid"));
        const char *body = json_string_value(json_object_get(e, "body"));

        if (frame != NULL) {
            TEST_CHECK(strcmp(frame, "text/disconnect-notice") != 0 ||
                       a->by_type[ESL_T_DISCONNECT_NOTICE] > 0);
            continue;
        }
        if (j >= a->nev) {
            TEST_FAIL_AT("%s: event_order has more events than the capture",
                         fx);
            return;
        }
        const evrec_t *g = &a->ev[j++];
        test_checks++;
        if (name == NULL || strcmp(g->name, name) != 0 ||
            (seq != NULL && strcmp(g->seq, seq) != 0) ||
            (uuid != NULL && strcmp(g->uuid, uuid) != 0) ||
            (body != NULL && !str_eq(g->body, body)))
            TEST_FAIL_AT("%s: event %zu is %s seq %s, the summary says %s "
                         "seq %s", fx, j - 1, g->name, g->seq,
                         name ? name : "?", seq ? seq : "?");
    }
    TEST_EQ_I64(j, a->nev);
}

static void check_commands(const char *fx, json_t *cmds, const analysis_t *a)
{
    size_t k;
    json_t *c;

    TEST_EQ_I64(json_array_size(cmds), a->nrep);
    json_array_foreach(cmds, k, c) {
        const char *type = json_string_value(json_object_get(c, "reply_type"));
        const char *reply = json_string_value(json_object_get(c, "reply"));
        if (k >= a->nrep || type == NULL || reply == NULL)
            break;
        const fcopy_t *f = a->rep[k];
        const char *got = f->type == ESL_T_COMMAND_REPLY ? f->rt : f->body;
        size_t got_len = f->type == ESL_T_COMMAND_REPLY
                       ? (got ? strlen(got) : 0) : f->body_len;
        test_checks++;
        if (strcmp(type, f->ct) != 0 || got == NULL ||
            !reply_matches(got, got_len, reply))
            TEST_FAIL_AT("%s: reply %zu (%s) is %s \"%.60s\", the summary "
                         "says %s \"%.60s\"", fx, k,
                         json_string_value(json_object_get(c, "command")),
                         f->ct, got ? got : "(null)", type, reply);
    }
}

/* X.summary.json, when the capture has one. */
static void check_summary(const char *fx, const analysis_t *a)
{
    char name[512], path[8192];
    json_error_t jerr;
    json_t *s, *v;
    size_t len = strlen(fx) - 4;         /* without ".raw" */

    snprintf(name, sizeof name, "%.*s.summary.json", (int)len, fx);
    if (!file_exists(name))
        return;
    snprintf(path, sizeof path, "%s/%s", fixdir, name);
    s = json_load_file(path, 0, &jerr);
    if (s == NULL) {
        TEST_FAIL_AT("%s: %s", name, jerr.text);
        return;
    }
    check_count(fx, s, "channels_created", count_events(a, "CHANNEL_CREATE"));
    check_count(fx, s, "channels_hangup_complete",
                count_events(a, "CHANNEL_HANGUP_COMPLETE"));
    check_count(fx, s, "channels_destroyed",
                count_events(a, "CHANNEL_DESTROY"));
    check_count(fx, s, "heartbeats", count_events(a, "HEARTBEAT"));
    if ((v = json_object_get(s, "heartbeat_seen")) != NULL)
        TEST_EQ_I64(json_is_true(v), count_events(a, "HEARTBEAT") > 0);
    /* No hangup missing: every scenario's channel has its
     * CHANNEL_HANGUP_COMPLETE. */
    if (json_array_size(json_object_get(s, "missing_hangup_complete")) == 0 &&
        (v = json_object_get(s, "uuids")) != NULL) {
        const char *key;
        json_t *u;
        json_object_foreach(v, key, u) {
            test_checks++;
            if (find_event(a, "CHANNEL_HANGUP_COMPLETE",
                           json_string_value(u), NULL) == NULL)
                TEST_FAIL_AT("%s: no CHANNEL_HANGUP_COMPLETE for %s", fx,
                             key);
        }
    }
    if ((v = json_object_get(s, "event_order")) != NULL)
        check_event_order(fx, v, a);
    if ((v = json_object_get(s, "commands")) != NULL)
        check_commands(fx, v, a);
    json_decref(s);
}

/* ---- What the client sent ---- */

typedef struct {
    char  *cmd[128];              /* each command block, NUL-terminated */
    size_t n;
} sent_t;

static void sent_load(const char *fx, sent_t *s)
{
    char name[512];
    size_t len = strlen(fx) - 4;
    blob_t b;
    char *p, *e;

    memset(s, 0, sizeof *s);
    snprintf(name, sizeof name, "%.*s.sent.raw", (int)len, fx);
    b = load(name);
    p = b.data;
    while (p != NULL && *p != '\0' && s->n < 128) {
        e = strstr(p, "\n\n");
        s->cmd[s->n++] = xstrndup(p, e ? (size_t)(e - p) : strlen(p));
        if (e == NULL)
            break;
        p = e + 2;
    }
    free(b.data);
}

static void sent_free(sent_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->cmd[i]);
}

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* FreeSWITCH answers every command with one command/reply or one
 * api/response, in order; before `auth` every command gets "-ERR command
 * not found" (probe_api_before_auth), so api and bgapi count after it. */
static void check_sent(const char *fx, const analysis_t *a, const sent_t *s)
{
    size_t api = 0, bgapi = 0, i;
    int authed = 0;

    test_checks++;
    if (s->n != a->nrep)
        TEST_FAIL_AT("%s: %zu commands sent, %zu replies", fx, s->n,
                     a->nrep);
    for (i = 0; i < s->n; i++) {
        if (starts(s->cmd[i], "auth "))
            authed = 1;
        else if (authed && starts(s->cmd[i], "api "))
            api++;
        else if (authed && starts(s->cmd[i], "bgapi "))
            bgapi++;
    }
    test_checks += 2;
    if (api != a->by_type[ESL_T_API_RESPONSE])
        TEST_FAIL_AT("%s: %zu api sent, %zu api/response", fx, api,
                     a->by_type[ESL_T_API_RESPONSE]);
    if (bgapi != count_events(a, "BACKGROUND_JOB"))
        TEST_FAIL_AT("%s: %zu bgapi sent, %zu BACKGROUND_JOB", fx, bgapi,
                     count_events(a, "BACKGROUND_JOB"));
    /* The reply paired with uuid_exists is a bare "true" or "false". */
    for (i = 0; i < s->n && i < a->nrep; i++)
        if (starts(s->cmd[i], "api uuid_exists ")) {
            const fcopy_t *f = a->rep[i];
            TEST_CHECK(f->type == ESL_T_API_RESPONSE &&
                       (strcmp(f->body, "true") == 0 ||
                        strcmp(f->body, "false") == 0));
            if (strstr(s->cmd[i], "deadbeef-") != NULL)
                TEST_EQ_STR(f->body, "false");
        }
}

/* ---- Every capture ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the X.raw files (not X.sent.raw), sorted. */
static size_t list_captures(char **out, size_t cap)
{
    DIR *d = opendir(fixdir);
    struct dirent *de;
    size_t n = 0;

    if (d == NULL) {
        TEST_FAIL_AT("cannot open %s", fixdir);
        return 0;
    }
    while ((de = readdir(d)) != NULL && n < cap) {
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".raw") == 0 &&
            (len < 9 || strcmp(de->d_name + len - 9, ".sent.raw") != 0))
            out[n++] = xstrndup(de->d_name, len);
    }
    closedir(d);
    qsort(out, n, sizeof *out, cmp_str);
    return n;
}

/* ESL_TEST_VERBOSE=1: frames by type and events by name, per capture. */
static void print_counts(const char *fx, const analysis_t *a)
{
    fprintf(stderr, "%s:", fx);
    for (int t = 0; t < NTYPES; t++)
        if (a->by_type[t] > 0)
            fprintf(stderr, " %s %zu", esl_type_name((esl_type_t)t),
                    a->by_type[t]);
    fputc('\n', stderr);
    for (size_t i = 0; i < a->nev; i++) {
        size_t j;
        for (j = 0; j < i && strcmp(a->ev[j].name, a->ev[i].name) != 0; j++)
            ;
        if (j == i)
            fprintf(stderr, "    %s %zu\n", a->ev[i].name,
                    count_events(a, a->ev[i].name));
    }
}

/* One capture: whole, one byte at a time, random splits; then its
 * content against the summary and the sent bytes. */
static void test_capture(const char *fx)
{
    blob_t b = load(fx);
    flist_t whole, other;
    analysis_t a;
    sent_t s;
    uint64_t seeds[] = { 0x9e3779b97f4a7c15ULL, 12345, 777 };
    size_t maxes[] = { 7, 300, 5000 };

    if (b.data == NULL)
        return;
    feed_whole(b.data, b.len, 0, &whole);
    TEST_EQ_I64(whole.rc, ESL_EAGAIN);
    TEST_EQ_I64(whole.pending, 0);       /* whole frames, nothing left */
    if (whole.rc != ESL_EAGAIN)
        fprintf(stderr, "  %s: %s\n", fx, whole.err);
    TEST_CHECK(whole.n > 0);

    chunker_t one = { CH_FIXED, 1, 0, 0, 0 };
    feed(b.data, b.len, &one, 0, &other);
    flist_same(&whole, &other, "one byte at a time");
    flist_free(&other);
    for (size_t k = 0; k < 3; k++) {
        chunker_t rnd = { CH_RANDOM, maxes[k], 0, seeds[k], 0 };
        feed(b.data, b.len, &rnd, 0, &other);
        flist_same(&whole, &other, "random splits");
        flist_free(&other);
    }

    analyse(&whole, &a);
    check_summary(fx, &a);
    sent_load(fx, &s);
    check_sent(fx, &a, &s);
    /* Each frame type FreeSWITCH sent is one we know, and every session
     * begins with auth/request. */
    TEST_EQ_I64(a.by_type[ESL_T_UNKNOWN], 0);
    TEST_CHECK(whole.n > 0 && whole.v[0].type == ESL_T_AUTH_REQUEST);
    if (verbose)
        print_counts(fx, &a);
    sent_free(&s);
    analysis_free(&a);
    flist_free(&whole);
    free(b.data);
}

static void test_all_captures(void)
{
    char *names[64];
    size_t n = list_captures(names, 64);

    TEST_CHECK(n >= 10);                 /* the folder is really there */
    for (size_t i = 0; i < n; i++) {
        test_capture(names[i]);
        free(names[i]);
    }
}

/* A small capture cut in two at every point. */
static void test_every_split(void)
{
    blob_t b = load("probe_bgapi_status_plain.raw");
    flist_t whole, other;

    if (b.data == NULL)
        return;
    feed_whole(b.data, b.len, 0, &whole);
    for (size_t k = 1; k < b.len; k++) {
        chunker_t at = { CH_AT, 0, k, 0, 0 };
        feed(b.data, b.len, &at, 0, &other);
        int same = flist_same(&whole, &other, "split point");
        flist_free(&other);
        if (!same) {
            fprintf(stderr, "  at byte %zu\n", k);
            break;
        }
    }
    flist_free(&whole);
    free(b.data);
}

/* ---- Specific values the README quotes ---- */

static void capture_frames(const char *fx, flist_t *l)
{
    blob_t b = load(fx);

    memset(l, 0, sizeof *l);
    if (b.data != NULL)
        feed_whole(b.data, b.len, 0, l);
    free(b.data);
}

static void test_auth_replies(void)
{
    flist_t l;

    capture_frames("probe_auth_ok.raw", &l);
    TEST_EQ_I64(l.n, 4);                 /* auth, +OK accepted, bye, notice */
    if (l.n == 4) {
        TEST_EQ_I64(l.v[0].type, ESL_T_AUTH_REQUEST);
        TEST_EQ_STR(l.v[0].body, "");
        TEST_EQ_I64(l.v[0].body_len, 0);
        TEST_EQ_I64(l.v[1].type, ESL_T_COMMAND_REPLY);
        TEST_EQ_STR(l.v[1].rt, "+OK accepted");
        TEST_EQ_STR(l.v[2].rt, "+OK bye");
        TEST_EQ_I64(l.v[3].type, ESL_T_DISCONNECT_NOTICE);
        TEST_CHECK(starts(l.v[3].body, "Disconnected, goodbye.\n"));
    }
    flist_free(&l);

    capture_frames("probe_auth_wrong_password.raw", &l);
    TEST_EQ_I64(l.n, 3);
    if (l.n == 3) {
        TEST_EQ_STR(l.v[1].rt, "-ERR invalid");
        TEST_EQ_STR(l.v[1].ct, "command/reply");
        TEST_EQ_I64(l.v[2].type, ESL_T_DISCONNECT_NOTICE);
    }
    flist_free(&l);

    capture_frames("probe_uuid_kill_nonexistent.raw", &l);
    TEST_CHECK(l.n > 2 && l.v[2].type == ESL_T_API_RESPONSE);
    if (l.n > 2)
        TEST_EQ_STR(l.v[2].body, "-ERR No such channel!\n");
    flist_free(&l);
}

/* The decoded headers of a plain BACKGROUND_JOB and its inner body. */
static void test_event_values(void)
{
    static const char *const names[] = {
        "Event-Name", "Event-Date-GMT", "Event-Date-Local", "FreeSWITCH-IPv6",
        "Job-UUID", "Job-Command", "Content-Length", "No-Such-Header",
    };
    esl_want_t w;
    esl_event_t ev;
    flist_t l;
    size_t i;
    int seen = 0;

    TEST_EQ_I64(esl_want_init(&w, names, 8), ESL_OK);
    capture_frames("probe_bgapi_status_plain.raw", &l);
    for (i = 0; i < l.n; i++) {
        if (l.v[i].type != ESL_T_EVENT_PLAIN)
            continue;
        seen++;
        TEST_EQ_I64(esl_event_parse(&w, l.v[i].body, l.v[i].body_len, &ev),
                    ESL_OK);
        TEST_EQ_STR(ev.val[0], "BACKGROUND_JOB");
        TEST_EQ_STR(ev.val[1], "Wed, 25 Nov 2026 12:20:19 GMT");
        TEST_EQ_I64(ev.len[1], strlen("Wed, 25 Nov 2026 12:20:19 GMT"));
        TEST_EQ_STR(ev.val[2], "2026-11-25 12:20:19");
        TEST_EQ_STR(ev.val[3], "fd00::2");
        TEST_EQ_STR(ev.val[5], "status");
        TEST_CHECK(ev.val[7] == NULL && ev.len[7] == 0);
        /* The inner body is what the inner Content-Length says. */
        TEST_CHECK(ev.val[6] != NULL && ev.body != NULL);
        if (ev.val[6] != NULL && ev.body != NULL) {
            TEST_EQ_I64(ev.body_len, strtoul(ev.val[6], NULL, 10));
            TEST_CHECK(starts(ev.body, "UP 0 years"));
            TEST_CHECK(ev.body[ev.body_len - 1] == '\n');
            TEST_CHECK(ev.body + ev.body_len ==
                       l.v[i].body + l.v[i].body_len);
        }
        /* Job-UUID of the event is the one in bgapi's reply. */
        TEST_CHECK(i > 0 && str_eq(l.v[i - 1].job, ev.val[4]));
    }
    TEST_EQ_I64(seen, 1);
    flist_free(&l);

    /* The client's own Job-UUID comes back on the reply and the event. */
    capture_frames("probe_bgapi_with_job_uuid.raw", &l);
    for (i = 0; i < l.n; i++)
        if (l.v[i].type == ESL_T_EVENT_PLAIN) {
            TEST_EQ_I64(esl_event_parse(&w, l.v[i].body, l.v[i].body_len,
                                        &ev), ESL_OK);
            TEST_EQ_STR(ev.val[4], "11111111-2222-3333-4444-555555555555");
            TEST_EQ_STR(l.v[i - 1].job,
                        "11111111-2222-3333-4444-555555555555");
            TEST_CHECK(ev.body != NULL && starts(ev.body,
                                                 "FreeSWITCH Version"));
        }
    flist_free(&l);
    esl_want_free(&w);
}

/* fs_events_plain: each bgapi originate (origination_uuid in .sent.raw)
 * gets a command/reply with its Job-UUID, then a BACKGROUND_JOB with that
 * Job-UUID whose body is "+OK <uuid>\n" for the answered scenarios and
 * "-ERR USER_BUSY\n" for busy (README's table). Also a decoded value. */
static void test_background_jobs(void)
{
    const char *fx = "fs_events_plain.raw";
    static const char *const answered[] = {
        "normal", "kill", "sched", "bridge", "sip",
    };
    char path[8192];
    json_error_t jerr;
    json_t *sum, *uuids;
    flist_t l;
    analysis_t a;
    sent_t s;
    size_t i, matched = 0;

    snprintf(path, sizeof path, "%s/fs_events_plain.summary.json", fixdir);
    sum = json_load_file(path, 0, &jerr);
    uuids = json_object_get(sum, "uuids");
    TEST_CHECK(json_is_object(uuids));
    capture_frames(fx, &l);
    analyse(&l, &a);
    sent_load(fx, &s);
    for (i = 0; i < s.n && i < a.nrep; i++) {
        const char *o = strstr(s.cmd[i], "origination_uuid=");
        char uuid[48];
        if (!starts(s.cmd[i], "bgapi originate ") || o == NULL)
            continue;
        snprintf(uuid, sizeof uuid, "%.36s", o + strlen("origination_uuid="));
        const char *job = a.rep[i]->job;
        TEST_CHECK(job != NULL && a.rep[i]->rt != NULL &&
                   strstr(a.rep[i]->rt, job) != NULL);
        const evrec_t *e = find_event(&a, "BACKGROUND_JOB", NULL,
                                      job ? job : "?");
        TEST_CHECK(e != NULL && e->body != NULL);
        if (e == NULL || e->body == NULL)
            continue;
        matched++;
        for (size_t k = 0; k < 5; k++)
            if (str_eq(json_string_value(json_object_get(uuids, answered[k])),
                       uuid)) {
                char want[64];
                snprintf(want, sizeof want, "+OK %s\n", uuid);
                TEST_EQ_STR(e->body, want);
            }
        if (str_eq(json_string_value(json_object_get(uuids, "busy")), uuid))
            TEST_EQ_STR(e->body, "-ERR USER_BUSY\n");
        TEST_CHECK(starts(e->body, "+OK ") || starts(e->body, "-ERR "));
    }
    TEST_EQ_I64(matched, json_object_size(uuids));

    /* Caller-Caller-ID-Name "Billing%20Test" decoded. */
    static const char *const names[] = { "Caller-Caller-ID-Name" };
    esl_want_t w;
    esl_event_t ev;
    TEST_EQ_I64(esl_want_init(&w, names, 1), ESL_OK);
    for (i = 0; i < l.n; i++)
        if (l.v[i].type == ESL_T_EVENT_PLAIN &&
            strstr(l.v[i].body, "Event-Name: CHANNEL_CREATE\n") != NULL) {
            TEST_EQ_I64(esl_event_parse(&w, l.v[i].body, l.v[i].body_len,
                                        &ev), ESL_OK);
            TEST_EQ_STR(ev.val[0], "Billing Test");
            break;
        }
    sent_free(&s);
    analysis_free(&a);
    flist_free(&l);
    json_decref(sum);
}

/* event-json frames: the type, and the body intact: valid JSON, and the
 * same events, name by name, as the plain capture of the same scenarios
 * (README: "_json" is the same flow with `event json`). */
static void test_json_events(const char *json_fx, const char *plain_fx)
{
    flist_t l, lp;
    analysis_t a, ap;
    size_t i, n = 0;

    capture_frames(json_fx, &l);
    for (i = 0; i < l.n; i++)
        if (l.v[i].type == ESL_T_EVENT_JSON) {
            json_error_t jerr;
            json_t *o = json_loadb(l.v[i].body, l.v[i].body_len, 0, &jerr);
            TEST_CHECK(json_is_object(o));
            TEST_EQ_STR(l.v[i].ct, "text/event-json");
            TEST_EQ_I64(l.v[i].body[0], '{');
            TEST_EQ_I64(l.v[i].body[l.v[i].body_len - 1], '}');
            json_decref(o);
            n++;
        }
    TEST_CHECK(n > 0);
    analyse(&l, &a);
    capture_frames(plain_fx, &lp);
    analyse(&lp, &ap);
    TEST_EQ_I64(a.by_type[ESL_T_EVENT_JSON], n);
    TEST_EQ_I64(a.by_type[ESL_T_EVENT_PLAIN], 0);
    TEST_EQ_I64(ap.by_type[ESL_T_EVENT_PLAIN], n);
    for (i = 0; i < a.nev; i++) {
        test_checks++;
        if (count_events(&a, a.ev[i].name) != count_events(&ap, a.ev[i].name))
            TEST_FAIL_AT("%s: %zu %s, %s: %zu", json_fx,
                         count_events(&a, a.ev[i].name), a.ev[i].name,
                         plain_fx, count_events(&ap, a.ev[i].name));
    }
    analysis_free(&ap);
    flist_free(&lp);
    analysis_free(&a);
    flist_free(&l);
}

/* ---- Malformed input ---- */

/* `in` must give ESL_EPROTO with `msg` in r->err, whole and a byte at a
 * time, after `frames` good frames. */
static void expect_proto(const char *in, size_t len, size_t max_body,
                         size_t frames, const char *msg)
{
    flist_t a, b;
    chunker_t one = { CH_FIXED, 1, 0, 0, 0 };

    feed_whole(in, len, max_body, &a);
    feed(in, len, &one, max_body, &b);
    test_checks++;
    if (a.rc != ESL_EPROTO || strstr(a.err, msg) == NULL || a.n != frames)
        TEST_FAIL_AT("\"%.40s\": rc %d err \"%s\" after %zu frames, expected "
                     "\"%s\" after %zu", in, a.rc, a.err, a.n, msg, frames);
    flist_same(&a, &b, msg);
    flist_free(&a);
    flist_free(&b);
}

#define EXPECT_PROTO(lit, frames, msg) \
    expect_proto(lit, sizeof lit - 1, 0, frames, msg)

static void test_malformed(void)
{
    EXPECT_PROTO("Content-Length: 99999999999\nContent-Type: api/response"
                 "\n\n", 0, "Content-Length 99999999999 exceeds 4194304");
    EXPECT_PROTO("Content-Length: 99999999999999999999999999\n\n", 0,
                 "exceeds 4194304");
    EXPECT_PROTO("Content-Type: api/response\nContent-Length: 12x\n\n", 0,
                 "bad Content-Length \"12x\"");
    EXPECT_PROTO("Content-Length: -5\n\n", 0, "bad Content-Length \"-5\"");
    EXPECT_PROTO("Content-Length: \n\n", 0, "bad Content-Length \"\"");
    EXPECT_PROTO("Content-Length: 1 2\n\n", 0, "bad Content-Length \"1 2\"");
    EXPECT_PROTO("Content-Length: 2\nContent-Length: 2\n\nab", 0,
                 "Content-Length: repeated");
    EXPECT_PROTO("Content-Type: auth/request\n\ngarbage\n\n", 1,
                 "header line without ':'");
    EXPECT_PROTO(": value\n\n", 0, "empty name");
    EXPECT_PROTO("Content-Type: a\0b\n\n", 0, "NUL byte");
    EXPECT_PROTO("\0: x\n\n", 0, "NUL byte");
    EXPECT_PROTO("\n", 0, "empty header block");
    EXPECT_PROTO("\n\n\n\n", 0, "empty header block");
    EXPECT_PROTO("Content-Type: auth/request\n\n\n", 1,
                 "empty header block");
    /* The error names the value even when it is not printable. */
    EXPECT_PROTO("Content-Length: 1\x01\n\n", 0,
                 "bad Content-Length \"1?\"");

    /* max_body is inclusive. */
    expect_proto("Content-Length: 17\n\n", 20, 16, 0,
                 "Content-Length 17 exceeds 16");
    flist_t l;
    feed_whole("Content-Length: 16\n\n0123456789abcdef", 36, 16, &l);
    TEST_EQ_I64(l.rc, ESL_EAGAIN);
    TEST_EQ_I64(l.n, 1);
    if (l.n == 1) {
        TEST_EQ_STR(l.v[0].body, "0123456789abcdef");
        TEST_EQ_I64(l.v[0].type, ESL_T_UNKNOWN);
        TEST_EQ_STR(l.v[0].ct, "");
    }
    flist_free(&l);

    /* A header block of exactly ESL_HEADER_MAX bytes passes, one more
     * byte fails; so does a block that never ends, as soon as the limit
     * is reached. */
    size_t cap = ESL_HEADER_MAX + 64;
    char *big = xmalloc(cap + 1);
    const char *head = "Content-Type: log/data\nX-Pad: ";
    size_t hl = strlen(head);
    for (int extra = 0; extra < 2; extra++) {
        size_t total = ESL_HEADER_MAX + (size_t)extra;
        memcpy(big, head, hl);
        memset(big + hl, 'a', total - hl - 2);
        memcpy(big + total - 2, "\n\n", 2);
        if (extra == 0) {
            feed_whole(big, total, 0, &l);
            TEST_EQ_I64(l.rc, ESL_EAGAIN);
            TEST_EQ_I64(l.n, 1);
            TEST_CHECK(l.n == 1 && strcmp(l.v[0].ct, "log/data") == 0);
            flist_free(&l);
        } else {
            expect_proto(big, total, 0, 0, "header block exceeds 65536 bytes");
        }
    }
    for (size_t i = 0; i + 12 <= cap; i += 12)
        memcpy(big + i, "X-Pad: abcd\n", 12);
    expect_proto(big, cap - cap % 12, 0, 0,
                 "header block exceeds 65536 bytes");
    memset(big, 'z', cap);               /* one line that never ends */
    expect_proto(big, cap, 0, 0, "header block exceeds 65536 bytes");
    free(big);
}

/* Forms FreeSWITCH does not send but that are harmless. */
static void test_lenient(void)
{
    flist_t l;
    const char *in = "content-type:api/response\ncontent-length:   3\n"
                     "X-Other: y\n\nabc"
                     "Content-Type: log/data\nContent-Length: 0\n\n"
                     "Content-Type: command/reply\nReply-Text: +OK\n"
                     "Reply-Text: second\n\n"
                     "Content-Length: 4\n\n";
    feed_whole(in, strlen(in), 0, &l);
    TEST_EQ_I64(l.rc, ESL_EAGAIN);
    TEST_EQ_I64(l.n, 3);
    TEST_EQ_I64(l.pending, strlen("Content-Length: 4\n\n"));
    if (l.n == 3) {
        TEST_EQ_I64(l.v[0].type, ESL_T_API_RESPONSE);
        TEST_EQ_STR(l.v[0].body, "abc");
        TEST_EQ_I64(l.v[1].type, ESL_T_UNKNOWN);
        TEST_EQ_STR(l.v[1].ct, "log/data");
        TEST_EQ_I64(l.v[1].body_len, 0);
        TEST_EQ_STR(l.v[2].rt, "+OK");  /* the first one */
        TEST_CHECK(l.v[2].job == NULL);
    }
    flist_free(&l);
    TEST_EQ_STR(esl_type_name(ESL_T_EVENT_JSON), "text/event-json");
    TEST_EQ_STR(esl_type_name((esl_type_t)99), "unknown");
}

/* The frame stays valid while nothing else is called, and the reader's
 * buffer survives a frame whose body ends exactly at the committed end. */
static void test_reader_api(void)
{
    esl_reader_t r;
    esl_frame_t f;
    size_t avail;
    char *p;
    const char *a = "Content-Type: api/response\nContent-Length: 4\n\ntrue";

    TEST_EQ_I64(esl_reader_init(&r, 0), ESL_OK);
    TEST_EQ_I64(esl_reader_next(&r, &f), ESL_EAGAIN);
    p = esl_reader_space(&r, 0, &avail);
    TEST_CHECK(p != NULL && avail >= 1);
    memcpy(p, a, strlen(a));
    esl_reader_commit(&r, strlen(a));
    TEST_EQ_I64(esl_reader_pending(&r), strlen(a));
    TEST_EQ_I64(esl_reader_next(&r, &f), ESL_OK);
    TEST_EQ_STR(f.body, "true");
    TEST_EQ_STR(f.content_type, "api/response");
    TEST_EQ_I64(esl_reader_pending(&r), 0);
    TEST_EQ_I64(esl_reader_next(&r, &f), ESL_EAGAIN);
    /* A request for more than the buffer holds grows it. */
    p = esl_reader_space(&r, 1u << 20, &avail);
    TEST_CHECK(p != NULL && avail >= (1u << 20));
    esl_reader_free(&r);
    esl_reader_free(&r);                 /* harmless twice */
}

/* ---- The event parser ---- */

static int parse_str(const esl_want_t *w, const char *text, esl_event_t *ev,
                     char **keep)
{
    size_t len = strlen(text);
    *keep = xstrndup(text, len);
    return esl_event_parse(w, *keep, len, ev);
}

static void test_event_parse(void)
{
    static const char *const names[] = { "A", "B", "C", "D", "E", "F" };
    esl_want_t w;
    esl_event_t ev;
    char *buf;

    TEST_EQ_I64(esl_want_init(&w, names, 6), ESL_OK);
    /* switch_url_decode: %XX only, '+' stays, a bad % is copied. */
    TEST_EQ_I64(parse_str(&w, "A: 100%25\nB: a+b c\nC: %zz%4\nD: 50%\n"
                          "E: %41%62%2b\nF:\nG: %00\n\n", &ev, &buf), ESL_OK);
    TEST_EQ_STR(ev.val[0], "100%");
    TEST_EQ_STR(ev.val[1], "a+b c");
    TEST_EQ_STR(ev.val[2], "%zz%4");
    TEST_EQ_STR(ev.val[3], "50%");
    TEST_EQ_STR(ev.val[4], "Ab+");
    TEST_EQ_I64(ev.len[4], 3);
    TEST_EQ_STR(ev.val[5], "");         /* present and empty: not NULL */
    TEST_CHECK(ev.body == NULL);        /* no inner Content-Length */
    free(buf);

    /* A repeated header keeps its first value; a last line without '\n'
     * still counts; an unwanted %00 is never decoded. */
    TEST_EQ_I64(parse_str(&w, "A: 1\nA: 2\nX: %00\nB: end", &ev, &buf),
                ESL_OK);
    TEST_EQ_STR(ev.val[0], "1");
    TEST_EQ_STR(ev.val[1], "end");
    TEST_CHECK(ev.val[2] == NULL);
    free(buf);

    /* Errors concern the event. */
    TEST_EQ_I64(parse_str(&w, "A: x%00y\n\n", &ev, &buf), ESL_EPROTO);
    free(buf);
    TEST_EQ_I64(parse_str(&w, "A: x\nno colon here\n\n", &ev, &buf),
                ESL_EPROTO);
    free(buf);
    TEST_EQ_I64(parse_str(&w, "Content-Length: 6\n\n12345", &ev, &buf),
                ESL_EPROTO);
    free(buf);
    TEST_EQ_I64(parse_str(&w, "Content-Length: 4x\n\n12345", &ev, &buf),
                ESL_EPROTO);
    free(buf);
    TEST_EQ_I64(parse_str(&w, "Content-Length: 99999999999999999999999\n\n1",
                          &ev, &buf), ESL_EPROTO);
    free(buf);
    TEST_EQ_I64(parse_str(&w, "Content-Length: 5\n\n12345", &ev, &buf),
                ESL_OK);
    TEST_EQ_STR(ev.body, "12345");
    free(buf);
    TEST_EQ_I64(parse_str(&w, "Content-Length: 0\n\n", &ev, &buf), ESL_OK);
    TEST_CHECK(ev.body != NULL && ev.body_len == 0 && ev.body[0] == '\0');
    free(buf);
    /* A shorter inner body is cut where it ends. */
    TEST_EQ_I64(parse_str(&w, "A: a\nContent-Length: 2\n\n12345", &ev, &buf),
                ESL_OK);
    TEST_EQ_STR(ev.body, "12");
    TEST_EQ_STR(ev.val[0], "a");
    free(buf);
    /* Empty body, and one empty line. */
    TEST_EQ_I64(parse_str(&w, "", &ev, &buf), ESL_OK);
    TEST_CHECK(ev.val[0] == NULL && ev.body == NULL);
    free(buf);
    TEST_EQ_I64(parse_str(&w, "\nA: not a header\n", &ev, &buf), ESL_OK);
    TEST_CHECK(ev.val[0] == NULL && ev.body == NULL);
    free(buf);
    esl_want_free(&w);
}

static void test_want(void)
{
    static const char *const dup[] = { "Event-Name", "Event-Name" };
    static const char *const bad1[] = { "" };
    static const char *const bad2[] = { "A:B" };
    static const char *const bad3[] = { "A\nB" };
    /* Same length, same first and last 8 bytes. */
    static const char *const near[] = {
        "Caller-Caller-ID-Number", "Caller-Callee-ID-Number",
        "variable_billsec", "variable_billmsec", "Content-Length", "Z",
    };
    static const char *many[ESL_WANT_MAX + 1];
    static char store[ESL_WANT_MAX + 1][24];
    esl_want_t w;
    esl_event_t ev;
    char *buf;
    unsigned i;

    TEST_EQ_I64(esl_want_init(&w, dup, 2), ESL_EINVAL);
    TEST_EQ_I64(esl_want_init(&w, bad1, 1), ESL_EINVAL);
    TEST_EQ_I64(esl_want_init(&w, bad2, 1), ESL_EINVAL);
    TEST_EQ_I64(esl_want_init(&w, bad3, 1), ESL_EINVAL);
    TEST_EQ_I64(esl_want_init(&w, NULL, 0), ESL_OK);
    TEST_EQ_I64(parse_str(&w, "A: b\nContent-Length: 1\n\nx", &ev, &buf),
                ESL_OK);
    TEST_EQ_STR(ev.body, "x");
    free(buf);

    TEST_EQ_I64(esl_want_init(&w, near, 6), ESL_OK);
    TEST_EQ_I64(parse_str(&w, "Caller-Callee-ID-Number: 2\n"
                          "Caller-Caller-ID-Number: 1\nvariable_billmsec: 4\n"
                          "variable_billsec: 3\nZ: 6\nZZ: 7\n"
                          "Content-Length: 2\n\nok", &ev, &buf), ESL_OK);
    TEST_EQ_STR(ev.val[0], "1");
    TEST_EQ_STR(ev.val[1], "2");
    TEST_EQ_STR(ev.val[2], "3");
    TEST_EQ_STR(ev.val[3], "4");
    TEST_EQ_STR(ev.val[4], "2");        /* wanted and still the inner length */
    TEST_EQ_STR(ev.val[5], "6");
    TEST_EQ_STR(ev.body, "ok");
    free(buf);

    /* ESL_WANT_MAX names work, one more is refused. */
    for (i = 0; i <= ESL_WANT_MAX; i++) {
        snprintf(store[i], sizeof store[i], "%s-%u",
                 i % 2 ? "variable_x" : "H", i);
        many[i] = store[i];
    }
    TEST_EQ_I64(esl_want_init(&w, many, ESL_WANT_MAX + 1), ESL_EINVAL);
    TEST_EQ_I64(esl_want_init(&w, many, ESL_WANT_MAX), ESL_OK);
    char text[4096];
    size_t off = 0;
    for (i = ESL_WANT_MAX + 1; i-- > 0;)     /* backwards, and one unknown */
        off += (size_t)snprintf(text + off, sizeof text - off, "%s: v%u\n",
                                many[i], i);
    TEST_EQ_I64(parse_str(&w, text, &ev, &buf), ESL_OK);
    for (i = 0; i < ESL_WANT_MAX; i++) {
        char want[16];
        snprintf(want, sizeof want, "v%u", i);
        TEST_EQ_STR(ev.val[i], want);
    }
    free(buf);
    esl_want_free(&w);
}

/* ---- Random mutations ---- */

static size_t mutate(const char *src, size_t len, char *dst, size_t cap,
                     uint64_t *rng)
{
    static const char special[] = "\n\n:%0 9-\0Content-Length: ";
    size_t n = len < cap ? len : cap, ops = 1 + rng_next(rng) % 4;

    memcpy(dst, src, n);
    while (ops-- > 0 && n > 0) {
        size_t at = (size_t)(rng_next(rng) % n);
        size_t span = 1 + (size_t)(rng_next(rng) % 64);
        switch (rng_next(rng) % 6) {
        case 0:                          /* a random byte */
            dst[at] = (char)rng_next(rng);
            break;
        case 1:                          /* a byte that matters */
            dst[at] = special[rng_next(rng) % (sizeof special - 1)];
            break;
        case 2:                          /* delete a span */
            if (span > n - at)
                span = n - at;
            memmove(dst + at, dst + at + span, n - at - span);
            n -= span;
            break;
        case 3:                          /* duplicate a span */
            if (span > n - at)
                span = n - at;
            if (n + span <= cap) {
                memmove(dst + at + span, dst + at, n - at);
                n += span;
            }
            break;
        case 4:                          /* truncate */
            n = at;
            break;
        default:                         /* a digit of a length */
            dst[at] = (char)('0' + rng_next(rng) % 10);
            break;
        }
    }
    return n;
}

static void test_mutations(void)
{
    static const char *const names[] = {
        "Event-Name", "Job-UUID", "Unique-ID", "Content-Length",
        "Event-Date-GMT",
    };
    blob_t b = load("probe_uuid_kill_nonexistent.raw");
    esl_want_t w;
    uint64_t rng = 0x5eed5eed5eedULL;
    size_t cap, i, counts[3] = { 0, 0, 0 };

    if (b.data == NULL)
        return;
    TEST_EQ_I64(esl_want_init(&w, names, 5), ESL_OK);
    cap = b.len * 2;
    char *m = xmalloc(cap);
    for (i = 0; i < 20000; i++) {
        size_t n = mutate(b.data, b.len, m, cap, &rng);
        flist_t whole, split;
        chunker_t rnd = { CH_RANDOM, 1 + i % 97, 0, rng | 1, 0 };

        feed_whole(m, n, i % 3 ? 0 : 512, &whole);
        feed(m, n, &rnd, i % 3 ? 0 : 512, &split);
        if (!flist_same(&whole, &split, "mutation")) {
            fprintf(stderr, "  mutation %zu\n", i);
            flist_free(&whole);
            flist_free(&split);
            break;
        }
        counts[whole.rc == ESL_OK ? 0 : whole.rc == ESL_EAGAIN ? 1 : 2]++;
        for (size_t k = 0; k < whole.n; k++) {
            esl_event_t ev;
            if (whole.v[k].type != ESL_T_EVENT_PLAIN)
                continue;
            int rc = esl_event_parse(&w, whole.v[k].body,
                                     whole.v[k].body_len, &ev);
            TEST_CHECK(rc == ESL_OK || rc == ESL_EPROTO);
            if (rc == ESL_OK && ev.body != NULL)
                TEST_CHECK(ev.body >= whole.v[k].body &&
                           ev.body + ev.body_len <=
                           whole.v[k].body + whole.v[k].body_len);
        }
        flist_free(&whole);
        flist_free(&split);
    }
    if (verbose)
        fprintf(stderr, "mutations: %zu incomplete at the end, %zu "
                "malformed\n", counts[1], counts[2]);
    /* Both outcomes happen: the mutations reach the checks. */
    TEST_CHECK(counts[1] > 1000 && counts[2] > 1000);
    free(m);
    free(b.data);
    esl_want_free(&w);
}

int main(void)
{
    const char *top = getenv("APOLO_TOP");

    snprintf(fixdir, sizeof fixdir, "%s/tests/fixtures/freeswitch",
             top && *top ? top : ".");
    verbose = getenv("ESL_TEST_VERBOSE") != NULL;
    test_all_captures();
    test_every_split();
    test_auth_replies();
    test_event_values();
    test_background_jobs();
    test_json_events("fs_billing_flow_json.raw", "fs_billing_flow_plain.raw");
    test_json_events("fs_events_json.raw", "fs_events_plain.raw");
    test_malformed();
    test_lenient();
    test_reader_api();
    test_event_parse();
    test_want();
    test_mutations();
    return TEST_REPORT();
}
