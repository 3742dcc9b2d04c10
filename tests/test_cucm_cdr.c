/*
 * test_cucm_cdr.c -- workers/cucm_cdr.h against the CUCM files of
 * tests/fixtures/cucm (README.md there: four real samples, two hand-made
 * FAC files).
 *
 * Values checked here were read off the files by hand (line numbers
 * count the two header lines). Then the same files reshaped in memory
 * (CRLF, BOM, final newline, quotes stripped, columns moved or added, cut
 * to CUCM 11.x's 129 columns) must give the same records; bad headers are
 * file errors; bad values are record errors that do not stop the next
 * record; a file cut at every byte gives exactly the complete records;
 * 20000 random mutations never crash, and a mutation confined to one
 * line changes only that line's record; random garbage after (or
 * instead of) a header yields nothing; a last line ending exactly at the
 * end of a mapped page is read without reading past it. Last, a
 * generated file of 100 MB through cucm_cdr_map (one bad line in it).
 * Debug builds also assert, on every line, that the fast splitter agrees
 * with the byte-wise one (workers/cucm_cdr.c).
 *
 * CUCM_TEST_QUICK=1: fewer mutations and no 100 MB file (for valgrind).
 */
#include "workers/cucm_cdr.h"
#include "shm/jrec.h"
#include "tests/testhelp.h"

#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char fixdir[4096];
static int quick;

typedef struct {
    char  *data;
    size_t len;
} blob_t;

/* ---- Utilities ---- */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "test_cucm_cdr: out of memory\n");
        exit(2);
    }
    return p;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static blob_t load(const char *name)
{
    char path[8192];
    blob_t b = { NULL, 0 };
    cucm_cdr_map_t m;

    snprintf(path, sizeof path, "%s/%s", fixdir, name);
    if (cucm_cdr_map(path, &m) != CUCM_CDR_OK) {
        TEST_FAIL_AT("cannot map %s", path);
        return b;
    }
    b.data = xmalloc(m.len);
    memcpy(b.data, m.data, m.len);
    b.len = m.len;
    cucm_cdr_unmap(&m);
    return b;
}

/* A growable output buffer for reshaped files. */
typedef struct {
    char  *p;
    size_t len, cap;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL)
            exit(2);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void sb_str(sbuf_t *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* Every result of a whole file. */
#define MAXREC 64

typedef struct {
    int        open_rc;
    cucm_cdr_kind_t kind;
    unsigned   nfields;
    size_t     n, bad, skipped;
    cucm_cdr_t rec[MAXREC];
    uint64_t   bad_line[MAXREC];
    char       err[MAXREC][224];
    const char *bad_field[MAXREC];
} result_t;

static result_t res;            /* large: one, static */

static void parse(const char *data, size_t len, result_t *out)
{
    cucm_cdr_reader_t *r = xmalloc(sizeof *r);
    cucm_cdr_t c;
    int rc, guard = 0;

    memset(out, 0, sizeof *out);
    out->open_rc = cucm_cdr_open(r, data, len);
    out->kind = r->kind;
    out->nfields = r->nfields;
    if (out->open_rc != CUCM_CDR_OK) {
        snprintf(out->err[0], sizeof out->err[0], "%s", r->err);
        out->bad_line[0] = r->err_line;
        out->bad_field[0] = r->err_field;
        free(r);
        return;
    }
    while ((rc = cucm_cdr_next(r, &c)) != CUCM_CDR_EOF && guard++ < 100000) {
        if (rc == CUCM_CDR_OK && out->n < MAXREC)
            out->rec[out->n] = c;
        if (rc == CUCM_CDR_OK)
            out->n++;
        else if (out->bad < MAXREC) {
            out->bad_line[out->bad] = r->err_line;
            out->bad_field[out->bad] = r->err_field;
            snprintf(out->err[out->bad], sizeof out->err[0], "%s", r->err);
            out->bad++;
        } else {
            out->bad++;
        }
    }
    TEST_CHECK(rc == CUCM_CDR_EOF);
    TEST_CHECK(cucm_cdr_next(r, &c) == CUCM_CDR_EOF);
    TEST_EQ_I64(r->records, out->n);
    TEST_EQ_I64(r->bad, out->bad);
    out->skipped = r->skipped;
    free(r);
}

static void parse_file(const char *name, result_t *out)
{
    blob_t b = load(name);
    parse(b.data, b.len, out);
    free(b.data);
}

/* Records of a and b are the same (line numbers included). */
static int same_records(const result_t *a, const result_t *b)
{
    return a->n == b->n && a->bad == b->bad &&
           memcmp(a->rec, b->rec, sizeof a->rec[0] * (a->n < MAXREC ?
                  a->n : MAXREC)) == 0;
}

/* ---- The real samples, values read by hand ---- */

static void test_cdr_txt(void)
{
    result_t *r = &res;
    const cucm_cdr_t *c;

    parse_file("cdr.txt", r);
    TEST_EQ_I64(r->open_rc, CUCM_CDR_OK);
    TEST_EQ_I64(r->kind, CUCM_CDR_KIND_CDR);
    TEST_EQ_I64(r->nfields, 133);
    TEST_EQ_I64(r->n, 3);
    TEST_EQ_I64(r->bad, 0);
    c = &r->rec[0];
    TEST_EQ_I64(c->line, 3);
    TEST_EQ_I64(c->record_type, 1);
    TEST_EQ_I64(c->cm_id, 2);
    TEST_EQ_I64(c->call_id, 25449);
    TEST_EQ_I64(c->orig_leg, 47874246);
    TEST_EQ_I64(c->dest_leg, 47874248);
    TEST_EQ_I64(c->t_origination, 1744993930);
    TEST_EQ_I64(c->t_connect, 0);
    TEST_EQ_I64(c->t_disconnect, 1744993930);
    TEST_EQ_I64(c->duration, 0);
    TEST_EQ_I64(c->dest_cause, 1459617833);
    TEST_EQ_I64(c->orig_cause, 0);
    TEST_EQ_STR(c->calling, "b002179144511001");
    TEST_EQ_STR(c->final_called, "5030079981");
    TEST_EQ_STR(c->orig_called, "5030079981");
    TEST_EQ_STR(c->cluster_id, "cucmOHSUtest");
    TEST_EQ_STR(c->pkid, "bde20536-1250-4382-af5b-3107ef569ae3");
    TEST_EQ_STR(c->orig_device, "SEPCC7F750586B7");
    TEST_EQ_STR(c->dest_device, "");
    TEST_EQ_I64(r->rec[1].dest_cause, 1459617833);
    c = &r->rec[2];                       /* the answered call, last line */
    TEST_EQ_I64(c->line, 5);
    TEST_EQ_I64(c->call_id, 25447);
    TEST_EQ_I64(c->t_origination, 1744993928);
    TEST_EQ_I64(c->t_connect, 1744993930);
    TEST_EQ_I64(c->t_disconnect, 1744993941);
    TEST_EQ_I64(c->duration, 11);
    TEST_EQ_I64(c->orig_cause, 16);
    TEST_EQ_STR(c->calling, "5033466594");
    TEST_EQ_STR(c->final_called, "5033466593");
    TEST_EQ_STR(c->last_redirect, "5033466593");
    TEST_EQ_STR(c->dest_device, "SEPCC8E7148AD29");
    TEST_EQ_STR(c->auth_desc, "");
    TEST_EQ_I64(c->auth_level, 0);
}

static void test_remote_cluster(void)
{
    result_t *r = &res;
    const cucm_cdr_t *c;
    size_t i, unanswered = 0;

    parse_file("cdr_RemoteCluster_02_202306030358_120", r);
    TEST_EQ_I64(r->open_rc, CUCM_CDR_OK);
    TEST_EQ_I64(r->n, 18);
    TEST_EQ_I64(r->bad, 0);
    c = &r->rec[0];
    TEST_EQ_I64(c->line, 3);
    TEST_EQ_I64(c->call_id, 27065);
    TEST_EQ_I64(c->orig_leg, 42420836);
    TEST_EQ_I64(c->dest_leg, 42420837);
    TEST_EQ_I64(c->t_origination, 1685764618);
    TEST_EQ_I64(c->t_connect, 1685764619);
    TEST_EQ_I64(c->t_disconnect, 1685764620);
    TEST_EQ_I64(c->duration, 1);
    TEST_EQ_STR(c->calling, "4925010000");
    TEST_EQ_STR(c->final_called, "2999903");
    TEST_EQ_STR(c->cluster_id, "RemoteCluster");
    TEST_EQ_STR(c->pkid, "26bde12a-d136-4bab-81c3-bf6d91f61df5");
    TEST_EQ_STR(c->orig_device, "SEP3C5EC30C08EE");
    TEST_EQ_STR(c->dest_device, "SEP74A02FC0AA56");
    for (i = 0; i < r->n; i++) {
        c = &r->rec[i];
        TEST_EQ_I64(c->call_id, 27065 + i);
        TEST_EQ_I64(c->line, 3 + i);
        if (c->t_connect == 0) {
            unanswered++;
            TEST_EQ_I64(c->duration, 0);
            TEST_CHECK(c->call_id == 27074 || c->call_id == 27080);
        }
    }
    TEST_EQ_I64(unanswered, 2);
    c = &r->rec[27079 - 27065];           /* answered, 0 seconds */
    TEST_EQ_I64(c->t_connect, 1685764663);
    TEST_EQ_I64(c->t_disconnect, 1685764663);
    TEST_EQ_I64(c->duration, 0);
    c = &r->rec[17];
    TEST_EQ_I64(c->line, 20);
    TEST_EQ_STR(c->pkid, "e1af456e-d871-47f3-99d8-5f4b7c5ac9d3");
}

static void test_standalone_118(void)
{
    result_t *r = &res;
    const cucm_cdr_t *c;
    cucm_cdr_reader_t *rd = xmalloc(sizeof *rd);
    blob_t b = load("cdr_StandAloneCluster_02_201510091036_254831");

    parse(b.data, b.len, r);
    TEST_EQ_I64(r->open_rc, CUCM_CDR_OK);
    TEST_EQ_I64(r->nfields, 118);
    TEST_EQ_I64(r->n, 3);
    TEST_EQ_I64(r->bad, 0);
    c = &r->rec[0];
    TEST_EQ_I64(c->call_id, 1202772);
    TEST_EQ_I64(c->t_connect, 1444381924);
    TEST_EQ_I64(c->duration, 20);
    TEST_EQ_STR(c->cluster_id, "StandAloneCluster");
    TEST_EQ_STR(c->orig_device, "SEP123456798");
    c = &r->rec[1];
    TEST_EQ_STR(c->orig_called, "123456");
    TEST_EQ_STR(c->final_called, "132456");
    TEST_EQ_I64(c->duration, 26);
    c = &r->rec[2];
    TEST_EQ_I64(c->call_id, 1202212);
    TEST_EQ_I64(c->orig_leg, 41530485);
    TEST_EQ_I64(c->dest_leg, 41530502);
    TEST_EQ_I64(c->duration, 3974);
    TEST_EQ_STR(c->last_redirect, "132465");
    TEST_EQ_STR(c->pkid, "d79df41d-c4b2-49be-a2c3-3ec78db28a45");
    TEST_EQ_I64(cucm_cdr_open(rd, b.data, b.len), CUCM_CDR_OK);
    TEST_EQ_I64(rd->have, CUCM_CDR_HAVE_LAST_REDIRECT | CUCM_CDR_HAVE_DEVICES
                | CUCM_CDR_HAVE_FAC | CUCM_CDR_HAVE_CLIENT_MATTER |
                CUCM_CDR_HAVE_AUTH_CODE | CUCM_CDR_HAVE_HUNT_PILOT);
    free(rd);
    free(b.data);
}

static void test_cmr(void)
{
    result_t *r = &res;

    parse_file("cmr.txt", r);
    TEST_EQ_I64(r->open_rc, CUCM_CDR_OK);
    TEST_EQ_I64(r->kind, CUCM_CDR_KIND_CMR);
    TEST_EQ_I64(r->n, 0);
    TEST_EQ_I64(r->bad, 0);
}

static void test_fac(void)
{
    result_t *r = &res;
    const cucm_cdr_t *c;

    parse_file("cdr_fac_ApoloLab_01_202511251830_1", r);
    TEST_EQ_I64(r->n, 3);
    TEST_EQ_I64(r->bad, 0);
    c = &r->rec[0];
    TEST_EQ_I64(c->call_id, 310001);
    TEST_EQ_I64(c->cm_id, 1);
    TEST_EQ_STR(c->calling, "1001");
    TEST_EQ_STR(c->final_called, "9011541155551234");
    TEST_EQ_I64(c->duration, 125);
    TEST_EQ_STR(c->auth_desc, "Legal");
    TEST_EQ_I64(c->auth_level, 10);
    TEST_EQ_STR(c->auth_code, "4711");
    TEST_EQ_STR(c->client_matter, "");
    TEST_EQ_STR(c->dest_device, "BR-GW-01");
    c = &r->rec[1];
    TEST_EQ_STR(c->auth_desc, "Gerencia T\xc3\xa9" "cnica");
    TEST_EQ_I64(c->auth_level, 20);
    TEST_EQ_STR(c->auth_code, "90210");
    TEST_EQ_STR(c->client_matter, "77123");
    TEST_EQ_I64(c->duration, 60);
    c = &r->rec[2];
    TEST_EQ_I64(c->t_connect, 0);
    TEST_EQ_I64(c->duration, 0);
    TEST_EQ_STR(c->auth_code, "4711");

    parse_file("cdr_fac_ApoloLab_01_202511251840_2", r);
    TEST_EQ_I64(r->n, 2);
    TEST_EQ_I64(r->bad, 0);
    TEST_EQ_STR(r->rec[0].auth_desc, "Sales Intl");
    TEST_EQ_I64(r->rec[0].auth_level, 30);
    TEST_EQ_STR(r->rec[0].auth_code, "");
    TEST_EQ_I64(r->rec[0].duration, 300);
    TEST_EQ_STR(r->rec[1].auth_desc, "");
    TEST_EQ_STR(r->rec[1].final_called, "2001");
}

/* ---- Call ids and names ---- */

static void test_call_id(void)
{
    cucm_cdr_t c;
    char id[CUCM_CDR_CALL_ID_MAX + 1], id2[sizeof id];
    int n;

    TEST_EQ_I64(CUCM_CDR_CALL_ID_MAX, JREC_CALL_ID_MAX);
    memset(&c, 0, sizeof c);
    strcpy(c.cluster_id, "StandAloneCluster");
    c.cm_id = 2;
    c.call_id = 1202772;
    c.orig_leg = 41537292;
    c.dest_leg = 41537293;
    n = cucm_cdr_call_id(&c, id, sizeof id);
    TEST_EQ_STR(id, "cucm:StandAloneCluster:2:1202772:41537292:41537293");
    TEST_EQ_I64(n, (long long)strlen(id));
    c.dest_leg++;                        /* another CDR of the same call */
    cucm_cdr_call_id(&c, id2, sizeof id2);
    TEST_CHECK(strcmp(id, id2) != 0);
    TEST_EQ_I64(cucm_cdr_call_id(&c, id, CUCM_CDR_CALL_ID_MAX), -1);
    /* worst case: a 50-byte cluster and four 10-digit numbers */
    memset(c.cluster_id, 'x', CUCM_CDR_NUM_MAX);
    c.cluster_id[CUCM_CDR_NUM_MAX] = '\0';
    c.cm_id = c.call_id = c.orig_leg = c.dest_leg = UINT32_MAX;
    n = cucm_cdr_call_id(&c, id, sizeof id);
    TEST_CHECK(n > 0 && n <= CUCM_CDR_CALL_ID_MAX);
    TEST_EQ_I64(n, (long long)strlen(id));
    TEST_CHECK(strncmp(id, "cucm:#", 6) == 0);
    c.cluster_id[3] = 'y';
    cucm_cdr_call_id(&c, id2, sizeof id2);
    TEST_CHECK(strcmp(id, id2) != 0);
    strcpy(c.cluster_id, "a:b");         /* not in the literal alphabet */
    c.cm_id = 1;
    cucm_cdr_call_id(&c, id, sizeof id);
    TEST_CHECK(strncmp(id, "cucm:#", 6) == 0);

    TEST_EQ_I64(cucm_cdr_name_kind("_cdr_x_01_2023"), CUCM_NAME_PARTIAL);
    TEST_EQ_I64(cucm_cdr_name_kind(".tmp"), CUCM_NAME_PARTIAL);
    TEST_EQ_I64(cucm_cdr_name_kind("cdr_RemoteCluster_02_202306030358_120"),
                CUCM_NAME_CDR);
    TEST_EQ_I64(cucm_cdr_name_kind("cmr_RemoteCluster_02_2023"),
                CUCM_NAME_CMR);
    TEST_EQ_I64(cucm_cdr_name_kind("notes.txt"), CUCM_NAME_OTHER);
}

/* ---- The same files reshaped ---- */

enum {
    SH_CRLF, SH_BOM, SH_FINAL_NL, SH_NO_QUOTES, SH_EXTRA_COL, SH_ROTATE,
    SH_129                     /* the CUCM 11.x layout: the first 129 */
};

/* Line k (0-based) of b into *s, *n (without '\n'); 0 past the end. */
static int nth_line(const blob_t *b, size_t k, const char **s, size_t *n)
{
    const char *p = b->data, *end = b->data + b->len;

    *s = end;                  /* past the end: an empty line */
    *n = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl != NULL ? nl : end;
        if (k-- == 0) {
            *s = p;
            *n = (size_t)(e - p);
            return 1;
        }
        p = nl != NULL ? nl + 1 : end;
    }
    return 0;
}

/* Moves the first `by` comma-separated fields of an unquoted line to its
 * end. */
static void rotate_line(sbuf_t *o, const char *s, size_t n, int by)
{
    size_t i = 0;
    int k = 0;

    while (i < n && k < by)
        if (s[i++] == ',')
            k++;
    sb_put(o, s + i, n - i);
    sb_str(o, ",");
    sb_put(o, s, i - 1);
}

static void reshape_line(sbuf_t *o, const char *s, size_t n, size_t k,
                         int how)
{
    size_t i, commas;

    switch (how) {
    case SH_NO_QUOTES:
        for (i = 0; i < n; i++)
            if (s[i] != '"')
                sb_put(o, s + i, 1);
        break;
    case SH_EXTRA_COL:
        sb_put(o, s, n);
        sb_str(o, k == 0 ? ",\"someFutureField\"" : k == 1 ? ",VARCHAR(9)"
               : ",\"a,\"\"b\"");
        break;
    case SH_ROTATE:
        rotate_line(o, s, n, 7);
        break;
    case SH_129:                          /* up to the 129th comma */
        for (i = 0, commas = 0; i < n && commas < 129; i++)
            commas += s[i] == ',';
        sb_put(o, s, commas == 129 ? i - 1 : n);
        break;
    default:
        sb_put(o, s, n);
    }
}

static blob_t reshape(const blob_t *in, int how)
{
    sbuf_t o = { NULL, 0, 0 };
    const char *s;
    size_t n, k;

    if (how == SH_BOM)
        sb_str(&o, "\xef\xbb\xbf");
    for (k = 0; nth_line(in, k, &s, &n); k++) {
        reshape_line(&o, s, n, k, how);
        if (how == SH_CRLF)
            sb_str(&o, "\r\n");
        else if (s + n < in->data + in->len || how == SH_FINAL_NL)
            sb_str(&o, "\n");
    }
    return (blob_t){ o.p, o.len };
}

static void test_reshaped(void)
{
    static const char *const files[] = {
        "cdr.txt", "cdr_RemoteCluster_02_202306030358_120",
        "cdr_StandAloneCluster_02_201510091036_254831",
        "cdr_fac_ApoloLab_01_202511251830_1",
    };
    static result_t want, got;
    int checked_129 = 0;

    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        blob_t b = load(files[f]);
        parse(b.data, b.len, &want);
        TEST_CHECK(want.n > 0 && want.bad == 0);
        for (int how = SH_CRLF; how <= SH_129; how++) {
            blob_t v;
            if (how == SH_ROTATE && memchr(b.data, '"', b.len) != NULL)
                continue;                /* rotate: unquoted files only */
            if (how == SH_129 && want.nfields != 133)
                continue;
            if (how == SH_129)
                checked_129++;
            v = reshape(&b, how);
            parse(v.data, v.len, &got);
            if (how == SH_129)
                TEST_EQ_I64(got.nfields, 129);
            if (!same_records(&want, &got))
                TEST_FAIL_AT("%s reshaped %d: %zu records, %zu bad (%s)",
                             files[f], how, got.n, got.bad, got.err[0]);
            test_checks++;
            free(v.data);
        }
        free(b.data);
    }
    TEST_EQ_I64(checked_129, 3);
}

/* ---- Bad headers: file errors ---- */

static int open_rc(const char *data, size_t len, cucm_cdr_reader_t *r)
{
    return cucm_cdr_open(r, data, len);
}

/* The 2015 file with the name `from` in its header replaced by `to`. */
static blob_t rename_col(const char *from, const char *to)
{
    blob_t b = load("cdr_StandAloneCluster_02_201510091036_254831");
    sbuf_t o = { NULL, 0, 0 };
    char *hit = memmem(b.data, b.len, from, strlen(from));
    size_t at = hit != NULL ? (size_t)(hit - b.data) : 0;

    TEST_CHECK(hit != NULL);
    sb_put(&o, b.data, at);
    sb_str(&o, to);
    sb_put(&o, b.data + at + strlen(from), b.len - at - strlen(from));
    free(b.data);
    return (blob_t){ o.p, o.len };
}

static void expect_file_error(const char *what, const char *data,
                              size_t len, uint64_t line, const char *field)
{
    cucm_cdr_reader_t *r = xmalloc(sizeof *r);
    cucm_cdr_t c;
    int rc = open_rc(data, len, r);

    if (rc != CUCM_CDR_EFILE)
        TEST_FAIL_AT("%s: open returned %d, expected EFILE", what, rc);
    test_checks++;
    TEST_EQ_I64(r->err_line, line);
    if (field != NULL)
        TEST_EQ_STR(r->err_field, field);
    TEST_CHECK(r->err[0] != '\0');
    TEST_EQ_I64(cucm_cdr_next(r, &c), CUCM_CDR_EOF);
    free(r);
}

static void test_bad_headers(void)
{
    blob_t b = load("cdr_StandAloneCluster_02_201510091036_254831"), v;
    cucm_cdr_reader_t *r = xmalloc(sizeof *r);
    const char *l1;
    size_t n1;
    char *many;
    result_t *out = &res;

    expect_file_error("empty", "", 0, 0, NULL);
    expect_file_error("NULL", NULL, 0, 0, NULL);
    expect_file_error("BOM only", "\xef\xbb\xbf", 3, 0, NULL);
    expect_file_error("blank first line", "\n\n", 2, 1, NULL);
    expect_file_error("words", "hello,world\n1,2\n", 16, 1, NULL);
    expect_file_error("binary", "\x00\x01\xff,\x80\n", 6, 1, NULL);
    v = rename_col("finalCalledPartyNumber", "finalCalledPartyNumbr");
    expect_file_error("missing required", v.data, v.len, 1,
                      "finalCalledPartyNumber");
    free(v.data);
    v = rename_col("origNodeId", "duration");
    expect_file_error("twice", v.data, v.len, 1, "duration");
    free(v.data);
    nth_line(&b, 0, &l1, &n1);           /* header alone */
    expect_file_error("no types line", l1, n1 + 1, 2, NULL);
    expect_file_error("no types line, no newline", l1, n1, 2, NULL);
    v = rename_col("INTEGER,INTEGER,INTEGER,INTEGER,INTEGER",
                   "INTEGER,INTEGER,INTEGER,VARCHAR(50),INTEGER");
    expect_file_error("type", v.data, v.len, 2, "origLegCallIdentifier");
    free(v.data);
    {                                     /* data where types should be */
        sbuf_t o = { NULL, 0, 0 };
        const char *l3;
        size_t n3;
        nth_line(&b, 2, &l3, &n3);
        sb_put(&o, l1, n1 + 1);
        sb_put(&o, l3, n3 + 1);
        expect_file_error("types = data", o.p, o.len, 2, "cdrRecordType");
        free(o.p);
    }
    many = xmalloc(2 * 1100 + 32);        /* 1100 columns */
    strcpy(many, "cdrRecordType");
    for (int i = 1; i < 1100; i++)
        strcat(many, ",x");
    expect_file_error("too many", many, strlen(many), 1, NULL);
    /* 1024 columns (the most), then records of 1024, 1025, 1026 fields */
    {
        sbuf_t o = { NULL, 0, 0 };
        many[strlen("cdrRecordType") + 2 * 1023] = '\0';
        sb_str(&o, "globalCallID_callManagerId,globalCallID_callId,"
               "globalCallId_ClusterID,origLegCallIdentifier,"
               "destLegIdentifier,dateTimeOrigination,dateTimeConnect,"
               "dateTimeDisconnect,duration,callingPartyNumber,"
               "originalCalledPartyNumber,finalCalledPartyNumber,pkid,"
               "origCause_value,destCause_value,");
        sb_put(&o, many, strlen(many) - 2 * 15);
        sb_str(&o, "\n");
        for (int i = 0; i < 1024; i++)
            sb_str(&o, i ? ",INTEGER" : "INTEGER");
        for (int extra = 0; extra < 3; extra++) {
            sb_str(&o, "\n1,2,C,4,5,6,7,8,9,10,11,12,13,14,15,1");
            for (int i = 16; i < 1024 + extra; i++)
                sb_str(&o, ",1");
        }
        parse(o.p, o.len, out);
        TEST_EQ_I64(out->open_rc, CUCM_CDR_OK);
        TEST_EQ_I64(out->nfields, 1024);
        TEST_EQ_I64(out->n, 1);
        TEST_EQ_I64(out->bad, 2);
        TEST_EQ_STR(out->rec[0].cluster_id, "C");
        TEST_EQ_I64(out->rec[0].dest_cause, 15);
        free(o.p);
    }
    free(many);

    /* optional columns may be missing */
    v = rename_col("huntPilotDN", "huntPilotDNx");
    TEST_EQ_I64(open_rc(v.data, v.len, r), CUCM_CDR_OK);
    TEST_CHECK((r->have & CUCM_CDR_HAVE_HUNT_PILOT) == 0);
    TEST_CHECK((r->have & CUCM_CDR_HAVE_FAC) != 0);
    parse(v.data, v.len, out);
    TEST_EQ_I64(out->n, 3);
    free(v.data);
    free(r);
    free(b.data);
}

/* ---- Bad records: reported, the next record is fine ---- */

/* Column of `name` in the 2015 header, or -1. */
static int col_of(const blob_t *b, const char *name)
{
    const char *s;
    size_t n, i, start = 0;
    int k = 0;

    nth_line(b, 0, &s, &n);
    for (i = 0; i <= n; i++) {
        if (i < n && s[i] != ',')
            continue;
        if (i - start == strlen(name) && memcmp(s + start, name, i - start)
            == 0)
            return k;
        k++;
        start = i + 1;
    }
    return -1;
}

/* The first record of the 2015 file with column `col` set to val (NULL:
 * the column removed), as a line with its '\n'. */
static void with_value(sbuf_t *o, const blob_t *b, int col, const char *val)
{
    const char *s;
    size_t n, i, start = 0;
    int k = 0;

    nth_line(b, 2, &s, &n);
    for (i = 0; i <= n; i++) {
        if (i < n && s[i] != ',')
            continue;
        if (k == col && val != NULL)
            sb_str(o, val);
        else if (k != col)
            sb_put(o, s + start, i - start);
        if (i < n && (k != col || val != NULL))
            sb_str(o, ",");
        k++;
        start = i + 1;
    }
    sb_str(o, "\n");
}

typedef struct {
    const char *col, *val;
    const char *bad_field;     /* NULL: the record is fine; "-": an error
                                * of the line, no field; "skip": skipped */
} case_t;

static const case_t cases[] = {
    { "destCause_value", "99999999999", "destCause_value" },
    { "destCause_value", "4294967295", NULL },
    { "destCause_value", "4294967296", "destCause_value" },
    { "destCause_value", "1459617833", NULL },
    { "duration", "-1", "duration" },
    { "duration", "00000000000042", NULL },
    { "duration", "000000000004294967296", "duration" },
    { "duration", "12a", "duration" },
    { "duration", "", NULL },
    { "duration", "\"42\"", NULL },
    { "globalCallID_callId", "", "globalCallID_callId" },
    { "dateTimeOrigination", "", "dateTimeOrigination" },
    { "callingPartyNumber",
      "12345678901234567890123456789012345678901234567890", NULL },
    { "callingPartyNumber",
      "123456789012345678901234567890123456789012345678901",
      "callingPartyNumber" },
    { "callingPartyNumber", "12\x01" "3", "callingPartyNumber" },
    { "callingPartyNumber", "\"12\"\"34\"", NULL },
    { "authCodeDescription", "bad\xc3\x28", "authCodeDescription" },
    { "authCodeDescription", "\xed\xa0\x80", "authCodeDescription" },
    { "authCodeDescription", "\"Gerencia T\xc3\xa9" "cnica\"", NULL },
    { "authCodeDescription", "\"no closing quote", "-" },
    { "cdrRecordType", "7", "cdrRecordType" },
    { "cdrRecordType", "2", "skip" },
    { "cdrRecordType", "0", "skip" },
    { "origIpAddr", NULL, "-" },          /* one field short */
    { "origIpAddr", "-1139627840", NULL },  /* not ours: signed is fine */
};
#define NCASES (sizeof cases / sizeof cases[0])

/* The record of line `line` in r (a zeroed one when there is none). */
static const cucm_cdr_t *rec_at(const result_t *r, uint64_t line)
{
    static const cucm_cdr_t none;

    for (size_t i = 0; i < r->n && i < MAXREC; i++)
        if (r->rec[i].line == line)
            return &r->rec[i];
    TEST_FAIL_AT("no record on line %llu", (unsigned long long)line);
    return &none;
}

static void test_bad_records(void)
{
    blob_t b = load("cdr_StandAloneCluster_02_201510091036_254831");
    sbuf_t o = { NULL, 0, 0 };
    const char *s;
    size_t n, i, good = 0, bad = 0, ib = 0;
    result_t *r = &res;
    char *longline;

    nth_line(&b, 0, &s, &n);
    sb_put(&o, s, n + 1);
    nth_line(&b, 1, &s, &n);
    sb_put(&o, s, n + 1);
    for (i = 0; i < NCASES; i++) {        /* line 3 + 2i: case, then good */
        int col = col_of(&b, cases[i].col);
        TEST_CHECK(col >= 0);
        with_value(&o, &b, col, cases[i].val);
        nth_line(&b, 3, &s, &n);
        sb_put(&o, s, n + 1);
    }
    sb_str(&o, "\n");                     /* an empty line: skipped */
    longline = xmalloc(CUCM_CDR_LINE_MAX + 10);
    memset(longline, '7', CUCM_CDR_LINE_MAX + 9);
    longline[CUCM_CDR_LINE_MAX + 9] = '\n';
    sb_put(&o, longline, CUCM_CDR_LINE_MAX + 10);
    free(longline);
    nth_line(&b, 4, &s, &n);
    sb_put(&o, s, n);                     /* last, without newline */

    parse(o.p, o.len, r);
    for (i = 0; i < NCASES; i++) {
        const char *bf = cases[i].bad_field;
        if (bf == NULL) {
            good++;
        } else if (strcmp(bf, "skip") == 0) {
            continue;
        } else if (ib < r->bad) {
            TEST_EQ_I64(r->bad_line[ib], 3 + 2 * i);
            if (strcmp(bf, "-") == 0)
                TEST_CHECK(r->bad_field[ib] == NULL);
            else
                TEST_EQ_STR(r->bad_field[ib], bf);
            ib++;
            bad++;
        }
    }
    TEST_EQ_I64(r->bad, bad + 1);         /* + the long line */
    TEST_EQ_I64(r->skipped, 2);           /* types 2 and 0 */
    TEST_EQ_I64(r->bad_line[bad], 3 + 2 * NCASES + 1);
    TEST_EQ_I64(r->n, good + NCASES + 1);
    TEST_EQ_I64(r->rec[r->n - 1].call_id, 1202212);
    TEST_EQ_I64(r->rec[r->n - 1].line, 3 + 2 * NCASES + 2);
    for (i = 0; i < r->n; i++)
        if (r->rec[i].line % 2 == 0)      /* the good line after each */
            TEST_EQ_I64(r->rec[i].call_id, 1202773);
    /* values of the accepted cases (case i is on line 3 + 2i) */
    TEST_EQ_I64(rec_at(r, 3 + 2 * 1)->dest_cause, 4294967295u);
    TEST_EQ_I64(rec_at(r, 3 + 2 * 3)->dest_cause, 1459617833);
    TEST_EQ_I64(rec_at(r, 3 + 2 * 5)->duration, 42);
    TEST_EQ_I64(rec_at(r, 3 + 2 * 8)->duration, 0);
    TEST_EQ_I64(rec_at(r, 3 + 2 * 9)->duration, 42);
    TEST_EQ_I64(strlen(rec_at(r, 3 + 2 * 12)->calling), 50);
    TEST_EQ_STR(rec_at(r, 3 + 2 * 15)->calling, "12\"34");
    TEST_EQ_STR(rec_at(r, 3 + 2 * 18)->auth_desc, "Gerencia T\xc3\xa9" "cnica");
    TEST_EQ_I64(rec_at(r, 3 + 2 * 24)->call_id, 1202772);
    if (r->bad > 0)
        fprintf(stderr, "test_cucm_cdr: e.g. \"%s\"\n", r->err[0]);
    free(o.p);
    free(b.data);
}

/* ---- A file cut anywhere ---- */

static void test_truncated(void)
{
    blob_t b = load("cdr_RemoteCluster_02_202306030358_120");
    static result_t r;
    size_t cut, errors = 0;

    for (cut = 0; cut <= b.len; cut++) {
        size_t lines = 0, i;
        int partial = cut > 0 && b.data[cut - 1] != '\n';
        for (i = 0; i < cut; i++)
            lines += b.data[i] == '\n';
        parse(b.data, cut, &r);
        if (lines == 0) {                 /* the header is not complete */
            errors += r.open_rc != CUCM_CDR_EFILE;
        } else if (lines == 1) {          /* nor the types line: EFILE, */
            errors += r.open_rc == CUCM_CDR_OK && (r.n || r.bad);
        } else {                          /* or OK when it can't tell */
            size_t full = lines - 2;
            int whole = partial && (cut == b.len || b.data[cut] == '\n');
            errors += r.open_rc != CUCM_CDR_OK ||
                      r.n + r.bad != full + (size_t)partial ||
                      r.n != full + (size_t)whole;
            if (getenv("CUCM_TEST_VERBOSE") && (r.open_rc != CUCM_CDR_OK ||
                r.n + r.bad != full + (size_t)partial ||
                r.n != full + (size_t)whole))
                fprintf(stderr, "cut %zu: rc %d n %zu bad %zu full %zu "
                        "partial %d whole %d %s\n", cut, r.open_rc, r.n,
                        r.bad, full, partial, whole, r.err[0]);
        }
    }
    TEST_EQ_I64(errors, 0);
    /* the classic case: the last record cut in the middle */
    parse(b.data, b.len - 200, &r);
    TEST_EQ_I64(r.n, 17);
    TEST_EQ_I64(r.bad, 1);
    TEST_EQ_I64(r.bad_line[0], 20);
    fprintf(stderr, "test_cucm_cdr: truncated: \"%s\"\n", r.err[0]);
    free(b.data);
}

/* ---- Random mutations ---- */

static char mutant_byte(uint64_t *rng, int allow_nl)
{
    static const char pick[] = ",\",\"\r\n\0\xff\xc3\x80" "0123456789a ";
    uint64_t x = rng_next(rng);
    char ch = x & 1 ? (char)(x >> 8) : pick[(x >> 8) % (sizeof pick - 1)];
    return !allow_nl && ch == '\n' ? ',' : ch;
}

static void mutate(blob_t *m, uint64_t *rng)
{
    int ops = 1 + (int)(rng_next(rng) % 4);

    while (ops-- > 0 && m->len > 0) {
        size_t at = rng_next(rng) % m->len;
        switch (rng_next(rng) % 4) {
        case 0:
            m->data[at] = mutant_byte(rng, 1);
            break;
        case 1:                           /* insert (room was reserved) */
            memmove(m->data + at + 1, m->data + at, m->len - at);
            m->data[at] = mutant_byte(rng, 1);
            m->len++;
            break;
        case 2:
            memmove(m->data + at, m->data + at + 1, m->len - at - 1);
            m->len--;
            break;
        default:
            m->len = at;
        }
    }
}

/* Bytes changed only inside data line `line` (1-based), no '\n' added:
 * every other record is unchanged and no other line is an error. */
static void mutate_one_line(const blob_t *b, const result_t *want,
                            uint64_t *rng, size_t *errors)
{
    static result_t got;
    blob_t m = { xmalloc(b->len), b->len };
    size_t line = 3 + rng_next(rng) % want->n, i, j;
    const char *s;
    size_t n;

    memcpy(m.data, b->data, b->len);
    nth_line(b, line - 1, &s, &n);
    for (int k = 1 + (int)(rng_next(rng) % 3); k > 0 && n > 0; k--)
        m.data[(size_t)(s - b->data) + rng_next(rng) % n] =
            mutant_byte(rng, 0);
    parse(m.data, m.len, &got);
    for (i = 0; i < got.bad; i++)
        if (got.bad_line[i] != line)
            (*errors)++;
    for (i = j = 0; i < want->n; i++) {
        if (want->rec[i].line == line)
            continue;
        while (j < got.n && got.rec[j].line == line)
            j++;
        if (j >= got.n || memcmp(&got.rec[j], &want->rec[i],
                                 sizeof got.rec[j]) != 0)
            (*errors)++;
        j++;
    }
    free(m.data);
}

static void test_mutations(void)
{
    static const char *const files[] = {
        "cdr.txt", "cdr_RemoteCluster_02_202306030358_120",
        "cdr_StandAloneCluster_02_201510091036_254831", "cmr.txt",
        "cdr_fac_ApoloLab_01_202511251830_1",
    };
    static result_t want, got;
    uint64_t rng = 0x2545f4914f6cdd1dULL;
    size_t per = quick ? 200 : 2000, errors = 0, total = 0;

    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        blob_t b = load(files[f]);
        parse(b.data, b.len, &want);
        for (size_t it = 0; it < per; it++) {
            blob_t m = { xmalloc(b.len + 8), b.len };
            memcpy(m.data, b.data, b.len);
            mutate(&m, &rng);
            parse(m.data, m.len, &got);
            if (got.open_rc == CUCM_CDR_OK && got.n > want.n + 4)
                errors++;                 /* an insert adds one line */
            free(m.data);
            if (want.n > 0)
                mutate_one_line(&b, &want, &rng, &errors);
            total += 2;
        }
        free(b.data);
    }
    TEST_EQ_I64(errors, 0);
    fprintf(stderr, "test_cucm_cdr: %zu mutated files parsed\n", total);
}

/* A good header, then random bytes: opens, yields no call, no crash. */
static void test_garbage(void)
{
    blob_t b = load("cdr_RemoteCluster_02_202306030358_120");
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    const char *l2;
    size_t n2, head, i, it;
    size_t len = 1u << 16;
    char *g = xmalloc(b.len + len);
    static result_t r;

    nth_line(&b, 1, &l2, &n2);
    head = (size_t)(l2 - b.data) + n2 + 1;
    memcpy(g, b.data, head);
    for (it = 0; it < (quick ? 20u : 200u); it++) {
        for (i = 0; i < len; i++)
            g[head + i] = mutant_byte(&rng, 1);
        parse(g, head + len, &r);
        TEST_EQ_I64(r.open_rc, CUCM_CDR_OK);
        TEST_EQ_I64(r.n, 0);
        TEST_CHECK(r.bad > 0);
        parse(g + head, len, &r);        /* garbage where the header is */
        TEST_EQ_I64(r.n, 0);
    }
    free(g);
    free(b.data);
}

/* ---- 100 MB ---- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Writes a file of about `bytes` from the first record of the 2023
 * sample, callId and origLegCallIdentifier counting up; one bad line
 * (a callId of "x") after record `bad_at`. Returns the records written. */
static size_t write_big(FILE *fp, size_t bytes, size_t bad_at)
{
    blob_t b = load("cdr_RemoteCluster_02_202306030358_120");
    const char *s, *rest;
    size_t n, i, k = 0, total = 0;

    for (i = 0; i < 2; i++) {
        nth_line(&b, i, &s, &n);
        fwrite(s, 1, n + 1, fp);
        total += n + 1;
    }
    nth_line(&b, 2, &s, &n);
    for (rest = s, i = 0; i < 4; rest++)  /* after "1,2,27065,42420836," */
        i += *rest == ',';
    n -= (size_t)(rest - s);
    while (total < bytes) {
        int w = fprintf(fp, "1,2,%zu,%zu,", 100000 + k, 50000000 + 2 * k);
        fwrite(rest, 1, n, fp);
        fputc('\n', fp);
        total += (size_t)w + n + 1;
        if (++k == bad_at)
            total += (size_t)fprintf(fp, "1,2,x,%.*s\n", (int)n, rest);
    }
    free(b.data);
    return k;
}

static void test_100mb(void)
{
    char path[] = "/tmp/test_cucm_cdr.XXXXXX";
    int fd = mkstemp(path);
    FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
    size_t written, got = 0, sum_ok = 1;
    cucm_cdr_reader_t *r = xmalloc(sizeof *r);
    cucm_cdr_map_t m;
    cucm_cdr_t c;
    double t0;
    int rc;

    if (fp == NULL) {
        TEST_FAIL_AT("cannot create %s", path);
        free(r);
        return;
    }
    written = write_big(fp, 100u << 20, 50000);
    fclose(fp);
    t0 = now();
    TEST_EQ_I64(cucm_cdr_map(path, &m), CUCM_CDR_OK);
    TEST_CHECK(m.len >= 100u << 20);
    TEST_EQ_I64(cucm_cdr_open(r, m.data, m.len), CUCM_CDR_OK);
    while ((rc = cucm_cdr_next(r, &c)) != CUCM_CDR_EOF) {
        if (rc != CUCM_CDR_OK)
            continue;
        if (c.call_id != 100000 + got || c.orig_leg != 50000000 + 2 * got ||
            c.duration != 1 || strcmp(c.final_called, "2999903") != 0)
            sum_ok = 0;
        got++;
    }
    t0 = now() - t0;
    TEST_EQ_I64(got, written);
    TEST_EQ_I64(r->bad, 1);
    TEST_EQ_I64(r->err_line, 2 + 50000 + 1);
    TEST_CHECK(sum_ok);
    fprintf(stderr, "test_cucm_cdr: 100 MB: %zu records in %.2f s "
            "(%.0f records/s, this build)\n", got, t0, (double)got / t0);
    cucm_cdr_unmap(&m);
    unlink(path);
    free(r);
}

/* A file whose last line ends exactly at the end of a page, without a
 * newline: nothing may be read past the mapping. */
static void test_page_end(void)
{
    char path[] = "/tmp/test_cucm_cdr_page.XXXXXX";
    blob_t b = load("cdr.txt");
    long page = sysconf(_SC_PAGESIZE);
    const char *l3;
    size_t n3, size, k;
    int fd = mkstemp(path);
    FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
    cucm_cdr_map_t m;
    result_t *r = &res;

    nth_line(&b, 2, &l3, &n3);
    for (size = (size_t)page; size < b.len + 1 + n3; size += (size_t)page)
        ;
    TEST_CHECK(fp != NULL);
    if (fp == NULL)
        return;
    fwrite(b.data, 1, b.len, fp);
    for (k = b.len; k < size - n3; k++)
        fputc('\n', fp);                 /* empty lines are skipped */
    fwrite(l3, 1, n3, fp);
    fclose(fp);
    TEST_EQ_I64(cucm_cdr_map(path, &m), CUCM_CDR_OK);
    TEST_EQ_I64(m.len, size);
    parse(m.data, m.len, r);
    TEST_EQ_I64(r->n, 4);
    TEST_EQ_I64(r->bad, 0);
    TEST_EQ_I64(r->rec[3].call_id, 25449);
    cucm_cdr_unmap(&m);
    TEST_EQ_I64(cucm_cdr_map("/nonexistent/cdr_x", &m), CUCM_CDR_ESYS);
    unlink(path);
    free(b.data);
}

int main(void)
{
    const char *top = getenv("APOLO_TOP"), *q = getenv("CUCM_TEST_QUICK");

    quick = q != NULL && q[0] == '1';
    snprintf(fixdir, sizeof fixdir, "%s/tests/fixtures/cucm",
             top && *top ? top : ".");
    test_cdr_txt();
    test_remote_cluster();
    test_standalone_118();
    test_cmr();
    test_fac();
    test_call_id();
    test_reshaped();
    test_bad_headers();
    test_bad_records();
    test_truncated();
    test_mutations();
    test_garbage();
    test_page_end();
    if (!quick)
        test_100mb();
    return TEST_REPORT();
}
