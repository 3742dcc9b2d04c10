/*
 * api_ingest.c -- CDRs posted by PBXs, rated and journaled exactly once
 * per call id (see admin/README.md).
 *
 *   POST /api/v1/cdrs/ingest/json             {"call_id","caller","callee",
 *                                              "start","answer","end",
 *                                              "billsec"[,"hangup_cause"]}
 *   POST /api/v1/cdrs/ingest/freeswitch-json  mod_json_cdr's body
 *   POST /api/v1/cdrs/ingest/freeswitch-xml   mod_xml_cdr's body
 *
 * FreeSWITCH's bodies come in the forms of the modules' `encode` setting
 * (admin/xml_cdr.h); an XML CDR is turned into mod_json_cdr's shape first,
 * so one reader (ingest_parse_fs) takes both.
 *
 * A posted CDR is rated as the ESL worker rates a call it saw
 * (workers/esl_call.c): the payer is the caller's extension (outbound, or
 * internal when the callee is one too), else the callee's (inbound, free
 * unless esl.charge_inbound); a FreeSWITCH variable apolo_account names
 * the account directly. billmsec is rounded half up to whole seconds, then
 * priced by rating_price() at the call's start.
 *
 * Exactly once, per call id:
 *
 *   catalog: payer, rating (QSBR online), then offline
 *   pg_try_advisory_lock(hashtextextended(call_id, 0))    busy 5 s -> 409
 *   is the call known? in the order a record moves, so that none is missed:
 *     1. a live slot of the calls table        -> 409 in_progress
 *     2. an undrained journal record (its CDR)
 *     3. PostgreSQL: cdr_ids/cdrs, then journal_rejects
 *   known              -> 200 duplicate (nothing moves), or, when the known
 *                         CDR is an estimate (flags & 8), one journaled
 *                         adjustment of the difference (reference
 *                         "cdrfix:<call_id>", itself looked up in the same
 *                         order first) -> 200 corrected
 *   unknown            -> jrn_move JRN_CALL_DEBIT (cost > 0; no
 *                         reservation: headroom moves with the balance)
 *                         or jrn_append JRN_CDR            -> 201 recorded
 *   pg_advisory_unlock
 *
 * Why this order: the ESL worker frees a call's slot only after its record
 * is published in the journal, and the flusher commits a record's rows
 * before it releases the journal slot. A record moving while we look is
 * therefore found at its next place; the reverse order could miss it.
 *
 * NOTES
 * - The ESL worker does not take the advisory lock: a CDR posted for a
 *   call FreeSWITCH has not reported yet (park) is recorded, and the
 *   worker's own CDR of it would then be refused by cdr_ids at the
 *   flusher (journal_rejects). A PBX posts its CDR after the hangup.
 * - jrec knows two sources; a CDR posted to /json is recorded with source
 *   "freeswitch" and the flag INGEST_F_POSTED like every posted CDR (see
 *   README: a source of its own needs a migration of cdrs' CHECK).
 * - The CDR row of a corrected estimate stays as it was (cdrs rows are
 *   append-only): the ledger carries the fix.
 */
#include "admin/api.h"

#include "admin/http.h"
#include "admin/money_common.h"
#include "admin/xml_cdr.h"
#include "shm/account.h"
#include "shm/calls.h"
#include "shm/catalog.h"
#include "shm/journal.h"
#include "shm/jrec.h"
#include "shm/log.h"
#include "shm/money.h"
#include "shm/rating.h"

#include <civetweb.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INGEST_F_UNCHARGED 0x1       /* = CALL_F_UNCHARGED */
#define INGEST_F_ESTIMATED 0x8       /* = CALL_F_ESTIMATED */
#define INGEST_F_POSTED    0x100     /* the CDR came over HTTP */
#define INGEST_MOVE_WAIT_MS 2000
#define INGEST_FIX_PREFIX  "cdrfix:"

/* The call as posted, before rating. */
typedef struct ingest_raw {
    char    call_id[JREC_CALL_ID_MAX + 1];
    char    caller[JREC_NUMBER_MAX + 1];
    char    callee[JREC_NUMBER_MAX + 1];
    char    account[64];                /* apolo_account: a code, or "" */
    char    cause[JREC_CAUSE_MAX + 1];
    int64_t start_us, answer_us, end_us;
    int64_t billmsec;                   /* -1: from answer and end */
    int64_t duration;                   /* -1: from start and end */
} ingest_raw_t;

/* The CDR to record, with who pays. */
typedef struct ingest {
    jrec_cdr_t cdr;
    int        charged;
    uint32_t   slot;                    /* the payer's account slot */
    int        closed;
} ingest_t;

/* What is known of a call already. */
typedef struct known {
    uint32_t flags, billsec;
    money_t  cost;
    int64_t  account_id;
} known_t;

/* Copies src into dst (cap bytes), cut to fit. */
static void ingest_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- parsing ------------------------------------------------------------------ */

/* Copies s (n bytes) percent-decoded (mod_json_cdr's encode-values) into
 * dst: 0, or -1 when it does not fit, is malformed or holds a NUL. */
static int ingest_unescape(char *dst, size_t cap, const char *s, size_t n,
                           int decode)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i];
        if (decode && c == '%') {
            if (i + 2 >= n)
                return -1;
            if (!isxdigit((unsigned char)s[i + 1])
                || !isxdigit((unsigned char)s[i + 2]))
                return -1;
            char hex[3] = { s[i + 1], s[i + 2], '\0' };
            c = (unsigned)strtoul(hex, NULL, 16);
            i += 2;
        }
        if (c == 0 || k + 1 >= cap)
            return -1;
        dst[k++] = (char)c;
    }
    dst[k] = '\0';
    return 0;
}

/* A string member into dst: 1 copied, 0 absent (or null/""), -1 bad. */
static int ingest_str(const json_t *o, const char *name, char *dst,
                      size_t cap, int decode)
{
    const json_t *v = json_object_get(o, name);
    dst[0] = '\0';
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    if (ingest_unescape(dst, cap, json_string_value(v), json_string_length(v),
                        decode) != 0)
        return -1;
    return dst[0] != '\0';
}

/* Decimal digits only (with an optional '-') into *out: 0 or -1. */
static int ingest_i64(const char *s, int64_t *out)
{
    char *end;
    if (*s == '\0')
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* "YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|+HH:MM|-HH:MM|+HHMM]" (no zone = UTC),
 * or unix seconds with an optional fraction: 0 and *us, or -1. */
static int ingest_time_text(const char *s, int64_t *us)
{
    int y, mo, d, h, mi, sec, n = 0;
    const char *p = s;
    if (*p >= '0' && *p <= '9' && strchr(s, '-') == NULL) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno != 0 || *end != '\0' || v < 0 || v > 4e9)
            return -1;
        *us = (int64_t)llround(v * 1e6);
        return 0;
    }
    if (sscanf(p, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return -1;
    p += n;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (sscanf(p, "%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3 || n != 8)
        return -1;
    p += n;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 6)
                frac = frac * 10 + (*p - '0');
        if (digits == 0)
            return -1;
        for (; digits < 6; digits++)
            frac *= 10;
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        int sign = *p == '-' ? -1 : 1;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) == 2 && n == 5)
            p += 6;
        else if (sscanf(p + 1, "%2d%2d%n", &oh, &om, &n) == 2 && n == 4)
            p += 5;
        else
            return -1;
        if (oh > 23 || om > 59)
            return -1;
        off = sign * (oh * 3600 + om * 60);
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23
        || mi > 59 || sec > 60 || y < 1970)
        return -1;
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                     .tm_hour = h, .tm_min = mi, .tm_sec = sec };
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != d)
        return -1;
    *us = ((int64_t)t - off) * 1000000 + frac;
    return *us >= 0 ? 0 : -1;
}

/* A time member of a plain JSON CDR: 1 set, 0 absent/null/0, -1 bad. */
static int ingest_time(const json_t *o, const char *name, int64_t *us)
{
    const json_t *v = json_object_get(o, name);
    *us = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        json_int_t s = json_integer_value(v);
        if (s < 0 || s > 4000000000LL)
            return -1;
        *us = (int64_t)s * 1000000;
    } else if (json_is_real(v)) {
        double s = json_real_value(v);
        if (!(s >= 0 && s <= 4e9))
            return -1;
        *us = (int64_t)llround(s * 1e6);
    } else if (json_is_string(v)) {
        if (ingest_time_text(json_string_value(v), us) != 0)
            return -1;
    } else {
        return -1;
    }
    return *us > 0;
}

/* The plain JSON CDR: 0, or the status answered. */
static int ingest_parse_plain(http_req_t *r, const json_t *b, ingest_raw_t *x)
{
    int rc;
    if ((rc = ingest_str(b, "call_id", x->call_id, sizeof x->call_id, 0)) <= 0)
        return http_error(r, rc < 0 ? 400 : 422, "validation", "call_id: a "
                          "string of 1 to %d bytes is required",
                          JREC_CALL_ID_MAX);
    if (ingest_str(b, "caller", x->caller, sizeof x->caller, 0) < 0
        || ingest_str(b, "callee", x->callee, sizeof x->callee, 0) <= 0)
        return http_error(r, 422, "validation", "caller and callee: strings "
                          "of at most %d bytes (callee required)",
                          JREC_NUMBER_MAX);
    if (ingest_str(b, "hangup_cause", x->cause, sizeof x->cause, 0) < 0)
        return http_error(r, 422, "validation", "hangup_cause: at most %d "
                          "bytes", JREC_CAUSE_MAX);
    if (ingest_time(b, "start", &x->start_us) <= 0
        || ingest_time(b, "end", &x->end_us) <= 0
        || ingest_time(b, "answer", &x->answer_us) < 0)
        return http_error(r, 422, "validation", "start and end (required), "
                          "answer: ISO 8601 or unix seconds");
    const json_t *bs = json_object_get(b, "billsec");
    x->billmsec = -1;
    x->duration = -1;
    if (bs != NULL && !json_is_null(bs)) {
        if (!json_is_integer(bs) || json_integer_value(bs) < 0
            || json_integer_value(bs) > INT32_MAX)
            return http_error(r, 422, "validation", "billsec: an integer "
                              ">= 0");
        x->billmsec = (int64_t)json_integer_value(bs) * 1000;
    }
    return 0;
}

/* A variable of mod_json_cdr (strings, percent-encoded) as an integer: 1
 * set, 0 absent or empty, -1 bad. */
static int ingest_var_i64(const json_t *vars, const char *name, int64_t *out)
{
    char buf[32];
    int rc = ingest_str(vars, name, buf, sizeof buf, 1);
    if (rc <= 0)
        return rc;
    return ingest_i64(buf, out) == 0 && *out >= 0 ? 1 : -1;
}

/* A time variable: name_uepoch (microseconds) else name_epoch (seconds). */
static int ingest_var_time(const json_t *vars, const char *name, int64_t *us)
{
    char key[32];
    snprintf(key, sizeof key, "%s_uepoch", name);
    int rc = ingest_var_i64(vars, key, us);
    if (rc != 0)
        return rc;
    snprintf(key, sizeof key, "%s_epoch", name);
    rc = ingest_var_i64(vars, key, us);
    if (rc > 0 && __builtin_mul_overflow(*us, 1000000, us))
        return -1;                     /* not a time: refused as malformed */
    return rc;
}

/* mod_json_cdr's body: 0, or the status answered. */
static int ingest_parse_fs(http_req_t *r, const json_t *b, ingest_raw_t *x)
{
    const json_t *vars = json_object_get(b, "variables");
    if (!json_is_object(vars))
        return http_error(r, 400, "validation", "variables: an object is "
                          "required (mod_json_cdr)");
    /* the caller profile of the first callflow, for what variables lack */
    const json_t *cf = json_object_get(b, "callflow");
    if (json_is_array(cf))
        cf = json_array_get(cf, 0);
    const json_t *prof = json_is_object(cf)
                         ? json_object_get(cf, "caller_profile") : NULL;
    int rc;
    if ((rc = ingest_str(vars, "uuid", x->call_id, sizeof x->call_id, 1)) <= 0)
        return http_error(r, 422, "validation", "variables.uuid: 1 to %d "
                          "bytes required", JREC_CALL_ID_MAX);
    if (ingest_str(vars, "caller_id_number", x->caller, sizeof x->caller,
                   1) < 0
        || (x->caller[0] == '\0'
            && ingest_str(vars, "sip_from_user", x->caller, sizeof x->caller,
                          1) < 0)
        || (x->caller[0] == '\0' && prof != NULL
            && ingest_str(prof, "caller_id_number", x->caller,
                          sizeof x->caller, 1) < 0))
        return http_error(r, 422, "validation", "caller: at most %d bytes",
                          JREC_NUMBER_MAX);
    if (ingest_str(vars, "destination_number", x->callee, sizeof x->callee,
                   1) < 0
        || (x->callee[0] == '\0' && prof != NULL
            && ingest_str(prof, "destination_number", x->callee,
                          sizeof x->callee, 1) < 0)
        || x->callee[0] == '\0')
        return http_error(r, 422, "validation", "destination_number: 1 to %d "
                          "bytes required", JREC_NUMBER_MAX);
    if (ingest_str(vars, "apolo_account", x->account, sizeof x->account,
                   1) < 0)
        return http_error(r, 422, "validation", "apolo_account: too long");
    if (ingest_str(vars, "hangup_cause", x->cause, sizeof x->cause, 1) < 0)
        return http_error(r, 422, "validation", "hangup_cause: at most %d "
                          "bytes", JREC_CAUSE_MAX);
    if (ingest_var_time(vars, "start", &x->start_us) <= 0
        || ingest_var_time(vars, "end", &x->end_us) <= 0
        || ingest_var_time(vars, "answer", &x->answer_us) < 0)
        return http_error(r, 422, "validation", "start_uepoch and end_uepoch "
                          "(or _epoch) required, answer_uepoch: integers");
    int64_t v;
    x->billmsec = -1;
    x->duration = -1;
    if ((rc = ingest_var_i64(vars, "billmsec", &v)) < 0)
        return http_error(r, 422, "validation", "billmsec: an integer");
    if (rc > 0) {
        x->billmsec = v;
    } else if ((rc = ingest_var_i64(vars, "billsec", &v)) != 0) {
        if (rc < 0 || __builtin_mul_overflow(v, 1000, &x->billmsec))
            return http_error(r, 422, "validation", "billsec: an integer "
                              "of seconds");
    }
    if ((rc = ingest_var_i64(vars, "duration", &v)) < 0)
        return http_error(r, 422, "validation", "duration: an integer");
    if (rc > 0)
        x->duration = v;
    return 0;
}

/* Common checks of the times: 0, or the status answered. */
static int ingest_check_times(http_req_t *r, ingest_raw_t *x)
{
    if (x->end_us < x->start_us
        || (x->answer_us > 0 && (x->answer_us < x->start_us
                                 || x->answer_us > x->end_us)))
        return http_error(r, 422, "validation", "times: start <= answer <= "
                          "end");
    if (x->billmsec < 0)
        x->billmsec = x->answer_us > 0 ? (x->end_us - x->answer_us) / 1000 : 0;
    if (x->answer_us == 0 && x->billmsec > 0)
        return http_error(r, 422, "validation", "billsec > 0 without an "
                          "answer time");
    if (x->billmsec > (int64_t)INT32_MAX * 1000)
        return http_error(r, 422, "validation", "billsec: too large");
    if (x->duration < 0)
        x->duration = (x->end_us - x->start_us) / 1000000;
    if (x->duration > INT32_MAX)
        return http_error(r, 422, "validation", "duration: too large");
    if (x->cause[0] == '\0')
        snprintf(x->cause, sizeof x->cause, "%s", "UNKNOWN");
    return 0;
}

/* ---- payer and rating (QSBR online) ------------------------------------------ */

/* Fills g from x: 0, or the status answered. */
static int ingest_rate(http_req_t *r, const cat_hdr_t *c,
                       const ingest_raw_t *x, ingest_t *g)
{
    const acct_shm_t *a = region_area(r->ctx->region, REGION_AREA_ACCOUNTS);
    const cat_ext_t *from = x->caller[0]
        ? cat_extension(c, x->caller, strlen(x->caller)) : NULL;
    const cat_ext_t *to = cat_extension(c, x->callee, strlen(x->callee));
    const cat_ext_t *payer = NULL;
    jrec_cdr_t *d = &g->cdr;

    snprintf(d->call_id, sizeof d->call_id, "%s", x->call_id);
    snprintf(d->caller, sizeof d->caller, "%s", x->caller);
    snprintf(d->callee, sizeof d->callee, "%s", x->callee);
    snprintf(d->dialed, sizeof d->dialed, "%s", x->callee);
    snprintf(d->hangup_cause, sizeof d->hangup_cause, "%s", x->cause);
    d->source = JREC_SRC_FREESWITCH;
    d->start_us = x->start_us;
    d->answer_us = x->answer_us;
    d->end_us = x->end_us;
    d->duration = (uint32_t)x->duration;
    d->billsec = x->answer_us > 0 && x->billmsec > 0
                 ? (uint32_t)((x->billmsec + 500) / 1000) : 0;
    d->flags = INGEST_F_POSTED;

    if (x->account[0] != '\0') {
        const cat_acct_t *ca = cat_account_by_code(c, x->account);
        if (ca == NULL)
            return http_error(r, 422, "no_payer", "unknown account code %s "
                              "in apolo_account", x->account);
        g->slot = ca->slot;
        d->account_id = ca->id;
        d->direction = to ? JREC_DIR_INTERNAL : JREC_DIR_OUTBOUND;
        g->charged = 1;
    } else {
        if (from && to) {
            d->direction = JREC_DIR_INTERNAL;
            payer = from;
            g->charged = (int)r->ctx->conf->esl_charge_internal;
        } else if (from) {
            d->direction = JREC_DIR_OUTBOUND;
            payer = from;
            g->charged = 1;
        } else if (to) {
            d->direction = JREC_DIR_INBOUND;
            payer = to;
            g->charged = (int)r->ctx->conf->esl_charge_inbound;
        } else {
            return http_error(r, 422, "no_payer", "neither caller nor callee "
                              "is a known extension");
        }
        if (!payer->active && g->charged)
            return http_error(r, 422, "no_payer", "extension %s is not "
                              "active", payer->number);
        g->slot = payer->acct_slot;
        ingest_copy(d->extension, sizeof d->extension, payer->number);
    }
    acct_view_t v;
    if (acct_view(a, g->slot, &v) != ACCT_OK)
        return http_error(r, 422, "no_payer", "the account has no balance "
                          "slot");
    d->account_id = v.id;
    g->closed = v.status == ACCT_CLOSED;
    if (!g->charged) {
        d->flags |= INGEST_F_UNCHARGED;
        return 0;
    }
    rating_quote_t q;
    int rc = rating_price(r->ctx->region, c, v.plan_id, x->callee,
                          strlen(x->callee), x->start_us / 1000000,
                          x->answer_us / 1000000, d->billsec, &q);
    if (rc != RATING_OK) {
        if (d->billsec == 0)
            return 0;                 /* unanswered: recorded unrated */
        return http_error(r, 422, "no_rate", "cannot rate %s: %s", x->callee,
                          rating_strerror(rc));
    }
    d->cost = d->billsec > 0 ? q.cost : 0;
    d->plan_id = q.plan_id;
    d->deck_version = (int64_t)q.deck_version;
    d->zone_id = q.zone_id;
    d->period_id = q.trace.answer_period;
    d->rate_per_minute = q.tariff.per_minute;
    d->connection_fee = q.tariff.connect_fee;
    d->first_inc = q.tariff.first_inc;
    d->next_inc = q.tariff.next_inc;
    d->min_sec = q.tariff.min_sec;
    d->grace_sec = q.tariff.grace_sec;
    d->rounding = (uint8_t)(q.rounding + 1);       /* jrec_rounding_t */
    snprintf(d->prefix, sizeof d->prefix, "%s", q.prefix);
    snprintf(d->callee, sizeof d->callee, "%s", q.number);
    return 0;
}

/* ---- is the call known? ----------------------------------------------------------- */

/* 1 when a live slot of the calls table holds call_id. */
static int ingest_find_live(const calls_shm_t *cs, const char *call_id)
{
    call_slot_t s;
    for (uint32_t i = 0; cs != NULL && i < cs->nslots; i++)
        if (calls_read(cs, i, &s) && s.state != CALL_FREE
            && strcmp(s.cdr.call_id, call_id) == 0)
            return 1;
    return 0;
}

/* What ingest_rec_is looks for: the CDR of call_id (k filled from it) or
 * the fix with reference ref. */
typedef struct ingest_match {
    const char *call_id;
    const char *ref;
    known_t    *k;
} ingest_match_t;

/* Whether a record (a copy) is the one m looks for. */
static int ingest_rec_is(const jrn_rec_t *rec, void *arg)
{
    ingest_match_t *m = arg;
    if (m->call_id != NULL
        && (rec->kind == JRN_CDR || rec->kind == JRN_CALL_DEBIT)) {
        jrec_cdr_t c;
        if (jrec_decode_cdr(rec->payload, rec->len, &c, NULL) != JREC_OK
            || strcmp(c.call_id, m->call_id) != 0)
            return 0;
        m->k->flags = c.flags;
        m->k->billsec = c.billsec;
        m->k->cost = c.cost;
        m->k->account_id = c.account_id;
        return 1;
    }
    if (m->ref != NULL && rec->kind == JRN_ADJUSTMENT) {
        jrec_move_t mv;
        return jrec_decode_move(rec->payload, rec->len, &mv, NULL) == JREC_OK
               && strcmp(mv.reference, m->ref) == 0;
    }
    return 0;
}

/* The undrained records of every ring: 1 found DONE, 2 found PENDING
 * (a crash the supervisor is completing), 0 not there. */
static int ingest_find_journal(jrn_t *j, const char *call_id, const char *ref,
                               known_t *k)
{
    ingest_match_t m = { call_id, ref, k };
    jrn_rec_t rec;
    uint32_t ring;
    return money_journal_find(j, ingest_rec_is, &m, &rec, &ring);
}

/* journal_rejects of the given kinds ("1,2" or "4"): 1 found, 0 not, -1
 * PostgreSQL error (logged). */
static int ingest_find_rejects(http_req_t *r, const char *kinds,
                               const char *call_id, const char *ref,
                               known_t *k)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT record FROM journal_rejects WHERE "
             "kind IN (%s) AND state = 2", kinds);
    PGresult *res = PQexecParams(r->db, sql, 0, NULL, NULL, NULL, NULL, 1);
    if (!http_res_ok(res)) {
        LOG_ERROR("api", 0, "journal_rejects search: %s",
                  PQerrorMessage(r->db));
        PQclear(res);
        return -1;
    }
    int found = 0;
    ingest_match_t m = { call_id, ref, k };
    for (int i = 0; i < PQntuples(res) && !found; i++) {
        jrn_rec_t rec;
        int n = PQgetlength(res, i, 0);
        memset(&rec, 0, sizeof rec);
        memcpy(&rec, PQgetvalue(res, i, 0),
               (size_t)n < sizeof rec ? (size_t)n : sizeof rec);
        found = rec.len <= JRN_PAYLOAD_MAX && ingest_rec_is(&rec, &m);
    }
    PQclear(res);
    return found;
}

/* The call's CDR in PostgreSQL: 1 found (*k), 0 not, -1 error (logged). */
static int ingest_find_pg(http_req_t *r, const char *call_id, known_t *k)
{
    const char *p[1] = { call_id };
    PGresult *res = http_exec(r,
        "SELECT coalesce(c.flags, 0), coalesce(c.billsec, 0), "
        "coalesce(c.cost, 0), coalesce(c.account_id, 0) FROM cdr_ids i "
        "LEFT JOIN cdrs c ON c.call_id = i.call_id AND c.start_at = "
        "i.start_at WHERE i.call_id = $1", 1, p);
    if (!http_res_ok(res)) {
        LOG_ERROR("api", 0, "cdr_ids search: %s", PQerrorMessage(r->db));
        PQclear(res);
        return -1;
    }
    if (PQntuples(res) > 0) {
        k->flags = (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
        k->billsec = (uint32_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
        k->cost = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        k->account_id = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
        PQclear(res);
        return 1;
    }
    PQclear(res);
    return ingest_find_rejects(r, "1, 2", call_id, NULL, k);
}

/* The fix's adjustment in PostgreSQL: 1, 0, -1 (logged). */
static int ingest_find_fix_pg(http_req_t *r, const char *ref)
{
    const char *p[1] = { ref };
    known_t k;
    PGresult *res = http_exec(r, "SELECT 1 FROM ledger WHERE reference = $1 "
                               "AND kind = 'adjustment'", 1, p);
    if (!http_res_ok(res)) {
        LOG_ERROR("api", 0, "ledger search: %s", PQerrorMessage(r->db));
        PQclear(res);
        return -1;
    }
    int n = PQntuples(res);
    PQclear(res);
    return n > 0 ? 1 : ingest_find_rejects(r, "4", NULL, ref, &k);
}

/* ---- recording --------------------------------------------------------------------- */

static json_t *ingest_journal_json(uint32_t ring, uint64_t seq)
{
    return json_pack("{s:I,s:I}", "ring", (json_int_t)ring,
                     "seq", (json_int_t)seq);
}

/* Journals the unknown call: the status answered. */
static int ingest_record(http_req_t *r, const ingest_t *g)
{
    acct_shm_t *a = region_area(r->ctx->region, REGION_AREA_ACCOUNTS);
    uint8_t payload[JRN_PAYLOAD_MAX];
    size_t len = 0;
    uint64_t seq = 0;
    int rc;

    if (jrec_encode_cdr(&g->cdr, payload, sizeof payload, &len) != JREC_OK)
        return http_error(r, 422, "validation", "the CDR does not encode "
                          "(a field out of range)");
    jrn_writer_t *w = money_writer(r->ctx->jrn);
    if (w == NULL)
        return http_error(r, 503, "unavailable", "no journal ring for this "
                          "thread");
    if (g->cdr.cost > 0) {
        if (g->closed)
            return http_error(r, 422, "validation", "account %" PRId64
                              " is closed", g->cdr.account_id);
        rc = jrn_move(w, a, g->slot, JRN_CALL_DEBIT, -g->cdr.cost,
                      -g->cdr.cost, payload, len, INGEST_MOVE_WAIT_MS, &seq,
                      NULL);
    } else {
        rc = jrn_append(w, JRN_CDR, payload, len, INGEST_MOVE_WAIT_MS, &seq);
    }
    if (rc == JRN_EFULL)
        return http_error(r, 503, "unavailable", "the journal is full; retry");
    if (rc == JRN_EBUSY)
        return http_error(r, 409, "conflict", "the account is busy; retry");
    if (rc != JRN_OK)
        return http_error(r, 422, "validation", "the balance would leave its "
                          "bounds");
    LOG_INFO("api", "CDR %s posted by %s: %s, cost %" PRId64 " (ring %u seq %"
             PRIu64 ")", g->cdr.call_id, r->user,
             g->cdr.cost > 0 ? "charged" : "recorded", g->cdr.cost, w->index,
             seq);
    return http_json(r, 201, json_pack("{s:s,s:s,s:o,s:b,s:o,s:i,s:o}",
        "status", "recorded", "call_id", g->cdr.call_id,
        "cost", money_amount_json(g->cdr.cost),
        "charged", g->cdr.cost > 0,
        "account_id", g->cdr.account_id > 0
                      ? json_integer(g->cdr.account_id) : json_null(),
        "billsec", (int)g->cdr.billsec,
        "journal", ingest_journal_json(w->index, seq)));
}

static int ingest_duplicate(http_req_t *r, const char *call_id)
{
    return http_json(r, 200, json_pack("{s:s,s:s,s:b}", "status", "duplicate",
                                       "call_id", call_id, "charged", 0));
}

/* "cdrfix:<call_id>", hashed when the call id is too long for a
 * reference. */
static void ingest_fix_ref(const char *call_id, char *ref, size_t cap)
{
    size_t pre = strlen(INGEST_FIX_PREFIX);
    if (pre + strlen(call_id) <= JREC_REFERENCE_MAX) {
        memcpy(ref, INGEST_FIX_PREFIX, pre);
        ingest_copy(ref + pre, cap - pre, call_id);
        return;
    }
    unsigned char h[16];
    char hex[33];
    crypto_generichash(h, sizeof h, (const unsigned char *)call_id,
                       strlen(call_id), NULL, 0);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    snprintf(ref, cap, "%s%s", INGEST_FIX_PREFIX, hex);
}

/* The known CDR is an estimate and g the exact one: the difference as one
 * adjustment, once. The status answered. */
static int ingest_correct(http_req_t *r, const ingest_t *g, const known_t *k)
{
    money_t delta = k->cost - (g->charged ? g->cdr.cost : 0);
    if (k->account_id <= 0 || delta == 0)
        return ingest_duplicate(r, g->cdr.call_id);
    char ref[JREC_REFERENCE_MAX + 1];
    known_t kk;
    ingest_fix_ref(g->cdr.call_id, ref, sizeof ref);
    int found = ingest_find_journal(r->ctx->jrn, NULL, ref, &kk);
    if (found == 2)
        return http_error(r, 409, "conflict", "the correction is being "
                          "recovered; retry");
    if (found == 0 && (found = ingest_find_fix_pg(r, ref)) < 0)
        return http_db_fail(r, NULL, "correction search");
    if (found == 1)
        return ingest_duplicate(r, g->cdr.call_id);

    /* the estimate's account, by id (the catalog again, briefly) */
    uint32_t slot = UINT32_MAX;
    if (r->rd != NULL) {
        qsbr_online(r->rd);
        const cat_hdr_t *c = cat_current(r->ctx->region);
        const cat_acct_t *ca = c != NULL ? cat_account(c, k->account_id)
                                         : NULL;
        if (ca != NULL)
            slot = ca->slot;
        qsbr_offline(r->rd);
    }
    if (slot == UINT32_MAX)
        return http_error(r, 422, "no_payer", "account %" PRId64 " of the "
                          "estimate is not in the catalog", k->account_id);
    jrec_move_t mv;
    uint8_t payload[JRN_PAYLOAD_MAX];
    size_t len = 0;
    memset(&mv, 0, sizeof mv);
    snprintf(mv.reference, sizeof mv.reference, "%s", ref);
    snprintf(mv.actor, sizeof mv.actor, "%.*s", JREC_ACTOR_MAX, r->user);
    while (mv.actor[0] && (mv.actor[strlen(mv.actor) - 1] & 0xc0) == 0x80)
        mv.actor[strlen(mv.actor) - 1] = '\0';    /* cut whole characters */
    snprintf(mv.reason, sizeof mv.reason, "exact CDR replaces an estimate: "
             "billsec %" PRIu32 " -> %" PRIu32, k->billsec, g->cdr.billsec);
    jrn_writer_t *w = money_writer(r->ctx->jrn);
    if (w == NULL)
        return http_error(r, 503, "unavailable", "no journal ring for this "
                          "thread");
    if (jrec_encode_move(&mv, payload, sizeof payload, &len) != JREC_OK)
        return http_error(r, 500, "internal", "correction encoding");
    uint64_t seq = 0;
    money_t after = 0;
    acct_shm_t *a = region_area(r->ctx->region, REGION_AREA_ACCOUNTS);
    int rc = jrn_move(w, a, slot, JRN_ADJUSTMENT, delta, delta, payload, len,
                      INGEST_MOVE_WAIT_MS, &seq, &after);
    if (rc == JRN_EFULL)
        return http_error(r, 503, "unavailable", "the journal is full; retry");
    if (rc == JRN_EBUSY)
        return http_error(r, 409, "conflict", "the account is busy; retry");
    if (rc != JRN_OK)
        return http_error(r, 422, "validation", "the balance would leave its "
                          "bounds");
    LOG_INFO("api", "CDR %s: exact CDR replaces an estimate (billsec %" PRIu32
             " -> %" PRIu32 "): adjustment %" PRId64 " on account %" PRId64,
             g->cdr.call_id, k->billsec, g->cdr.billsec, delta, k->account_id);
    json_t *details = json_pack("{s:s,s:I,s:I,s:I}", "call_id",
                                g->cdr.call_id, "delta", (json_int_t)delta,
                                "billsec_before", (json_int_t)k->billsec,
                                "billsec", (json_int_t)g->cdr.billsec);
    char obj[40];
    snprintf(obj, sizeof obj, "account:%" PRId64, k->account_id);
    http_audit(r, "cdr.correct", obj, details);   /* the money moved */
    return http_json(r, 200, json_pack("{s:s,s:s,s:o,s:I,s:o,s:o}",
        "status", "corrected", "call_id", g->cdr.call_id,
        "delta", money_amount_json(delta),
        "account_id", (json_int_t)k->account_id,
        "balance_after", money_amount_json(after),
        "journal", ingest_journal_json(w->index, seq)));
}

/* With the call id's lock held. */
static int ingest_locked(http_req_t *r, const ingest_t *g)
{
    known_t k;
    memset(&k, 0, sizeof k);
    if (ingest_find_live(r->ctx->calls, g->cdr.call_id))
        return http_error(r, 409, "in_progress", "call %s is live in the ESL "
                          "worker, which will record it", g->cdr.call_id);
    int found = ingest_find_journal(r->ctx->jrn, g->cdr.call_id, NULL, &k);
    if (found == 2)
        return http_error(r, 409, "conflict", "the call's record is being "
                          "recovered; retry");
    if (found == 0 && (found = ingest_find_pg(r, g->cdr.call_id, &k)) < 0)
        return http_db_fail(r, NULL, "CDR search");
    if (found == 0)
        return ingest_record(r, g);
    if ((k.flags & INGEST_F_ESTIMATED) && !(g->cdr.flags & INGEST_F_ESTIMATED))
        return ingest_correct(r, g, &k);
    return ingest_duplicate(r, g->cdr.call_id);
}

typedef enum { INGEST_PLAIN, INGEST_FS_JSON, INGEST_FS_XML } ingest_fmt_t;

/* A FreeSWITCH module's body (xml_cdr.h: "cdr=" forms or the document) as
 * mod_json_cdr's JSON object: 0 and *out, or the status answered. */
static int ingest_read_fs(http_req_t *r, ingest_fmt_t fmt, json_t **out)
{
    char *body, *doc, err[XCDR_ERR_MAX];
    size_t len, doclen;
    *out = NULL;
    if (http_read_body(r, 0, &body, &len) != 0)
        return r->status;
    int rc = xcdr_unwrap(body, len, mg_get_header(r->conn, "Content-Type"),
                         &doc, &doclen, err, sizeof err);
    if (rc == 0 && fmt == INGEST_FS_XML) {
        *out = xcdr_to_json(doc, doclen, err, sizeof err);
    } else if (rc == 0) {
        json_error_t je;
        *out = json_loadb(doc, doclen, JSON_REJECT_DUPLICATES, &je);
        if (*out != NULL && !json_is_object(*out)) {
            json_decref(*out);
            *out = NULL;
            snprintf(err, sizeof err, "the CDR must be a JSON object");
        } else if (*out == NULL) {
            snprintf(err, sizeof err, "%.120s (line %d)", je.text, je.line);
        }
    }
    free(body);
    if (*out == NULL)
        return http_error(r, 400, fmt == INGEST_FS_XML ? "invalid_xml"
                          : "invalid_json", "%s", err);
    return 0;
}

static int ingest_post(http_req_t *r, ingest_fmt_t fmt)
{
    json_t *body;
    ingest_raw_t x;
    ingest_t g;

    if (r->rd != NULL)
        qsbr_offline(r->rd);            /* online again below, briefly */
    if (fmt == INGEST_PLAIN ? http_read_json(r, 0, &body) != 0
                            : ingest_read_fs(r, fmt, &body) != 0)
        return r->status;
    memset(&x, 0, sizeof x);
    memset(&g, 0, sizeof g);
    int rc = fmt != INGEST_PLAIN ? ingest_parse_fs(r, body, &x)
                                 : ingest_parse_plain(r, body, &x);
    json_decref(body);
    if (rc != 0 || ingest_check_times(r, &x) != 0)
        return r->status;

    if (r->rd == NULL)
        return http_unavailable(r);
    qsbr_online(r->rd);
    const cat_hdr_t *c = cat_current(r->ctx->region);
    rc = c != NULL ? ingest_rate(r, c, &x, &g)
                   : http_error(r, 503, "unavailable", "no catalog yet");
    qsbr_offline(r->rd);
    if (rc != 0)
        return r->status;
    if (r->db == NULL)
        return http_unavailable(r);

    int locked = money_lock(r, g.cdr.call_id);
    if (locked < 0)
        return http_db_fail(r, NULL, "call id lock");
    if (locked == 0)
        return http_error(r, 409, "conflict", "call %s is being posted; "
                          "retry", g.cdr.call_id);
    rc = ingest_locked(r, &g);
    money_unlock(r, g.cdr.call_id);
    return rc;
}

static int ingest_json(http_req_t *r)
{
    return ingest_post(r, INGEST_PLAIN);
}

static int ingest_freeswitch(http_req_t *r)
{
    return ingest_post(r, INGEST_FS_JSON);
}

static int ingest_freeswitch_xml(http_req_t *r)
{
    return ingest_post(r, INGEST_FS_XML);
}

const http_route_t api_ingest_routes[] = {
    { "POST", "/api/v1/cdrs/ingest/json", HTTP_ROLE_OPERATOR, ingest_json },
    { "POST", "/api/v1/cdrs/ingest/freeswitch-json", HTTP_ROLE_OPERATOR,
      ingest_freeswitch },
    { "POST", "/api/v1/cdrs/ingest/freeswitch-xml", HTTP_ROLE_OPERATOR,
      ingest_freeswitch_xml },
    { NULL, NULL, HTTP_ROLE_NONE, NULL }
};
