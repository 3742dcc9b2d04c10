/*
 * fuzz_cucm.c -- Cisco CUCM CDR flat files (workers/cucm_cdr.h):
 * cucm_cdr_open / cucm_cdr_next over a buffer that is not NUL-terminated
 * (an mmap), in a block of exactly its size (ASan sees any read past it).
 *
 * Beyond "no crash" (debug asserts are on: cucm_cdr.c checks that its
 * SSE2 splitter agrees with the byte-wise one on every line):
 *   - open: OK, or EFILE with a message, kind 0 and nothing yielded;
 *   - every record: cdrRecordType 1, lines increasing and past the two
 *     header lines, every string within its VARCHAR size, strict UTF-8
 *     without control bytes; an optional column missing from the header
 *     (a one-column CUCM_CDR_HAVE_* bit unset) leaves its value empty;
 *     the call id has the documented form and fits CUCM_CDR_CALL_ID_MAX;
 *     records/bad count what was returned; EOF stays EOF; every EREC
 *     names its line;
 *   - metamorphic: the same file with CRLF line ends, and with a UTF-8 BOM
 *     in front, must give exactly the same records and errors.
 */
#include "fuzz.h"

#include "workers/cucm_cdr.h"

#include <stddef.h>

/* What one pass yields, for the metamorphic comparisons. */
typedef struct pass {
    int       open_rc;
    char      open_err[224];
    unsigned  nfields, have;
    int       kind;
    size_t    n;                 /* results */
    int      *rc;
    cucm_cdr_t *rec;             /* rec[i] valid when rc[i] == OK */
    char    (*err)[224];
    uint64_t  records, bad, skipped;
} pass_t;

static cucm_cdr_reader_t reader;   /* ~37 KB: not on the stack */

static void check_str(const char *s, size_t max, const char *what)
{
    size_t n = strnlen(s, max + 1);
    FUZZ_CHECK(n <= max, "%s longer than %zu", what, max);
    FUZZ_CHECK(fuzz_utf8_ok((const uint8_t *)s, n), "%s: bad UTF-8", what);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f,
                   "%s: control byte", what);
}

static void check_record(const cucm_cdr_reader_t *r, const cucm_cdr_t *c,
                         uint64_t prev_line)
{
    FUZZ_CHECK(c->record_type == 1, "record type %u", c->record_type);
    FUZZ_CHECK(c->line > prev_line && c->line >= 3, "line %llu after %llu",
               (unsigned long long)c->line, (unsigned long long)prev_line);
    check_str(c->cluster_id, CUCM_CDR_NUM_MAX, "cluster_id");
    check_str(c->pkid, CUCM_CDR_PKID_MAX, "pkid");
    check_str(c->calling, CUCM_CDR_NUM_MAX, "calling");
    check_str(c->orig_called, CUCM_CDR_NUM_MAX, "orig_called");
    check_str(c->final_called, CUCM_CDR_NUM_MAX, "final_called");
    check_str(c->last_redirect, CUCM_CDR_NUM_MAX, "last_redirect");
    check_str(c->orig_device, CUCM_CDR_DEVICE_MAX, "orig_device");
    check_str(c->dest_device, CUCM_CDR_DEVICE_MAX, "dest_device");
    check_str(c->auth_desc, CUCM_CDR_NUM_MAX, "auth_desc");
    check_str(c->client_matter, CUCM_CDR_CODE_MAX, "client_matter");
    check_str(c->auth_code, CUCM_CDR_CODE_MAX, "auth_code");
    check_str(c->hunt_pilot, CUCM_CDR_NUM_MAX, "hunt_pilot");
    FUZZ_CHECK(c->t_origination >= 0 && c->t_origination <= UINT32_MAX
               && c->t_connect >= 0 && c->t_connect <= UINT32_MAX
               && c->t_disconnect >= 0 && c->t_disconnect <= UINT32_MAX,
               "a time outside 0..UINT32_MAX");
    if (!(r->have & CUCM_CDR_HAVE_LAST_REDIRECT))
        FUZZ_CHECK(c->last_redirect[0] == '\0', "lastRedirectDn invented");
    /* HAVE_DEVICES and HAVE_FAC stand for two columns each: without the
     * bit one of the two may still be there (and filled) */
    if (!(r->have & CUCM_CDR_HAVE_CLIENT_MATTER))
        FUZZ_CHECK(!c->client_matter[0], "clientMatterCode invented");
    if (!(r->have & CUCM_CDR_HAVE_AUTH_CODE))
        FUZZ_CHECK(!c->auth_code[0], "authorizationCodeValue invented");
    if (!(r->have & CUCM_CDR_HAVE_HUNT_PILOT))
        FUZZ_CHECK(!c->hunt_pilot[0], "huntPilotDN invented");

    char id[CUCM_CDR_CALL_ID_MAX + 1], small[CUCM_CDR_CALL_ID_MAX];
    int n = cucm_cdr_call_id(c, id, sizeof id);
    FUZZ_CHECK(n > 0 && n <= CUCM_CDR_CALL_ID_MAX && strlen(id) == (size_t)n,
               "call id of %d bytes: %s", n, id);
    FUZZ_CHECK(strncmp(id, "cucm:", 5) == 0, "call id %s", id);
    FUZZ_CHECK(cucm_cdr_call_id(c, small, sizeof small) == -1,
               "call id into a too small buffer");
    /* the literal form only when the cluster id is plain */
    if (id[5] != '#') {
        size_t cl = strlen(c->cluster_id);
        FUZZ_CHECK(strncmp(id + 5, c->cluster_id, cl) == 0 && id[5 + cl]
                   == ':', "call id %s for cluster %s", id, c->cluster_id);
        for (size_t i = 0; i < cl; i++)
            FUZZ_CHECK(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQR"
                              "STUVWXYZ0123456789._-", c->cluster_id[i])
                       != NULL, "literal cluster id with '%c'",
                       c->cluster_id[i]);
    }
}

static void run_pass(const char *buf, size_t len, pass_t *p)
{
    cucm_cdr_reader_t *r = &reader;
    memset(p, 0, sizeof *p);
    p->open_rc = cucm_cdr_open(r, buf, len);
    snprintf(p->open_err, sizeof p->open_err, "%s", r->err);
    if (p->open_rc != CUCM_CDR_OK) {
        FUZZ_CHECK(p->open_rc == CUCM_CDR_EFILE, "open = %d", p->open_rc);
        FUZZ_CHECK(r->err[0] != '\0', "EFILE without a message");
        FUZZ_CHECK(r->kind == 0, "kind %d after EFILE", (int)r->kind);
        cucm_cdr_t c;
        FUZZ_CHECK(cucm_cdr_next(r, &c) == CUCM_CDR_EOF,
                   "a record after EFILE");
        return;
    }
    FUZZ_CHECK(r->kind == CUCM_CDR_KIND_CDR || r->kind == CUCM_CDR_KIND_CMR,
               "kind %d", (int)r->kind);
    FUZZ_CHECK(r->nfields >= 1 && r->nfields <= CUCM_CDR_FIELDS_MAX,
               "%u fields", r->nfields);
    p->nfields = r->nfields;
    p->have = r->have;
    p->kind = (int)r->kind;

    size_t lines = 1, cap = 0;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    uint64_t prev = 0, nok = 0, nbad = 0;
    for (;;) {
        cucm_cdr_t c;
        int rc = cucm_cdr_next(r, &c);
        FUZZ_CHECK(rc == CUCM_CDR_OK || rc == CUCM_CDR_EOF
                   || rc == CUCM_CDR_EREC, "next = %d", rc);
        FUZZ_CHECK(p->n <= lines, "more results than lines");
        if (rc == CUCM_CDR_EOF)
            break;
        if (p->n == cap) {
            cap = cap ? cap * 2 : 16;
            p->rc = realloc(p->rc, cap * sizeof *p->rc);
            p->rec = realloc(p->rec, cap * sizeof *p->rec);
            p->err = realloc(p->err, cap * sizeof *p->err);
            if (p->rc == NULL || p->rec == NULL || p->err == NULL)
                abort();
        }
        p->rc[p->n] = rc;
        p->err[p->n][0] = '\0';
        if (rc == CUCM_CDR_OK) {
            FUZZ_CHECK(r->kind == CUCM_CDR_KIND_CDR, "a record from a CMR");
            check_record(r, &c, prev);
            prev = c.line;
            p->rec[p->n] = c;
            nok++;
        } else {
            FUZZ_CHECK(r->err_line > prev && r->err_line >= 3,
                       "EREC on line %llu", (unsigned long long)r->err_line);
            FUZZ_CHECK(strncmp(r->err, "line ", 5) == 0, "EREC: \"%s\"",
                       r->err);
            prev = r->err_line;
            snprintf(p->err[p->n], sizeof p->err[p->n], "%s", r->err);
            nbad++;
        }
        p->n++;
    }
    cucm_cdr_t c;
    FUZZ_CHECK(cucm_cdr_next(r, &c) == CUCM_CDR_EOF, "EOF not sticky");
    FUZZ_CHECK(r->records == nok && r->bad == nbad, "counts %llu/%llu, "
               "returned %llu/%llu", (unsigned long long)r->records,
               (unsigned long long)r->bad, (unsigned long long)nok,
               (unsigned long long)nbad);
    p->records = r->records;
    p->bad = r->bad;
    p->skipped = r->skipped;
}

static void pass_free(pass_t *p)
{
    free(p->rc);
    free(p->rec);
    free(p->err);
}

/* b is a with other line ends or a BOM: same results (lines included). */
static void same_pass(const pass_t *a, const pass_t *b, const char *how)
{
    FUZZ_CHECK(a->open_rc == b->open_rc && strcmp(a->open_err, b->open_err)
               == 0, "%s: open %d \"%s\" vs %d \"%s\"", how, a->open_rc,
               a->open_err, b->open_rc, b->open_err);
    FUZZ_CHECK(a->nfields == b->nfields && a->have == b->have
               && a->kind == b->kind, "%s: header", how);
    FUZZ_CHECK(a->n == b->n && a->records == b->records && a->bad == b->bad
               && a->skipped == b->skipped, "%s: %zu results vs %zu", how,
               a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        FUZZ_CHECK(a->rc[i] == b->rc[i], "%s: result %zu", how, i);
        if (a->rc[i] != CUCM_CDR_OK) {
            FUZZ_CHECK(strcmp(a->err[i], b->err[i]) == 0,
                       "%s: \"%s\" vs \"%s\"", how, a->err[i], b->err[i]);
            continue;
        }
        const cucm_cdr_t *x = &a->rec[i], *y = &b->rec[i];
        FUZZ_CHECK(x->line == y->line && x->cm_id == y->cm_id
                   && x->call_id == y->call_id && x->orig_leg == y->orig_leg
                   && x->dest_leg == y->dest_leg
                   && x->t_origination == y->t_origination
                   && x->t_connect == y->t_connect
                   && x->t_disconnect == y->t_disconnect
                   && x->duration == y->duration
                   && x->orig_cause == y->orig_cause
                   && x->dest_cause == y->dest_cause
                   && x->auth_level == y->auth_level, "%s: record %zu "
                   "integers", how, i);
        FUZZ_CHECK(!strcmp(x->cluster_id, y->cluster_id)
                   && !strcmp(x->pkid, y->pkid)
                   && !strcmp(x->calling, y->calling)
                   && !strcmp(x->orig_called, y->orig_called)
                   && !strcmp(x->final_called, y->final_called)
                   && !strcmp(x->last_redirect, y->last_redirect)
                   && !strcmp(x->orig_device, y->orig_device)
                   && !strcmp(x->dest_device, y->dest_device)
                   && !strcmp(x->auth_desc, y->auth_desc)
                   && !strcmp(x->client_matter, y->client_matter)
                   && !strcmp(x->auth_code, y->auth_code)
                   && !strcmp(x->hunt_pilot, y->hunt_pilot),
                   "%s: record %zu strings", how, i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_dup(data, size, 0);
    pass_t a, b;
    run_pass(buf, size, &a);

    /* CRLF: every LF not already after a CR (the content of lines stays) */
    char *crlf = fuzz_dup("", 0, 2 * size);
    size_t k = 0;
    for (size_t i = 0; i < size; i++) {
        if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r'))
            crlf[k++] = '\r';
        crlf[k++] = buf[i];
    }
    char *exact = fuzz_dup(crlf, k, 0);
    int has_bom = size >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0;
    run_pass(exact, k, &b);
    same_pass(&a, &b, "CRLF");
    pass_free(&b);
    free(exact);
    free(crlf);

    if (!has_bom) {
        char *bom = fuzz_dup("\xef\xbb\xbf", 3, size);
        if (size > 0)
            memcpy(bom + 3, buf, size);
        run_pass(bom, size + 3, &b);
        same_pass(&a, &b, "BOM");
        pass_free(&b);
        free(bom);
    }
    pass_free(&a);
    free(buf);
    return 0;
}
