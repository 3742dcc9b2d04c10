/*
 * flusher.c -- journal -> PostgreSQL, exactly once (see flusher.h).
 *
 * A batch, step by step (fl_batch):
 *
 *   1. idle check, no SQL: does any ring hold a DONE or VOID record at
 *      max(known position, tail)? If not, return 0.
 *   2. BEGIN; SELECT name, drained_seq FROM journal_position WHERE name
 *      LIKE 'ring:%' ORDER BY name FOR UPDATE. The lock serialises
 *      flushers; the positions read here, not the ones in memory, say where
 *      each ring starts.
 *   3. copy up to `batch` records out of the rings (round robin over the
 *      rings, seq order within one, stopping at the first record not DONE
 *      or VOID) and build their rows: binary COPY tuples for ledger and
 *      cdrs, appended to two buffers, each record's bytes contiguous. A
 *      record that does not decode is marked reject here.
 *   4. SAVEPOINT; COPY ledger; COPY cdrs; RELEASE. On a data error
 *      (22xxx, 23xxx, P0001) roll back to the savepoint and bisect the
 *      record range, each half under its own savepoint, down to the single
 *      records PostgreSQL refuses; those become rejects.
 *   5. INSERT INTO journal_rejects, one row per reject (rare).
 *   6. UPDATE accounts SET balance = balance + d.delta FROM unnest(ids,
 *      deltas): one statement, accounts in id order (lock order).
 *   7. INSERT INTO journal_position ... ON CONFLICT DO UPDATE: the new
 *      position of every ring the batch took records from.
 *   8. COMMIT (its command tag checked), then jrn_release() per ring.
 *   Any other failure: ROLLBACK (or drop the connection), nothing released.
 *
 * NOTES
 * - Records are copied out of the ring before anything is sent: the slots
 *   stay valid until jrn_release anyway, but a copy makes a damaged or
 *   racing slot a local problem.
 * - A COMMIT whose answer is lost (connection dropped) may or may not have
 *   happened; nothing is released, and the next batch reads the position
 *   under the lock, which settles it either way.
 * - The session forces synchronous_commit = on: the flusher releases
 *   journal slots because of the COMMIT, so the COMMIT must be durable
 *   whatever the server's default is.
 * - db.h's helpers log every failure; during an outage that would be one
 *   line per retry, so this file talks to libpq directly and logs the first
 *   failure of a run and the recovery.
 * - Binary COPY: int8/int4 big-endian, text as UTF-8 bytes (the session's
 *   client_encoding is UTF8), timestamptz as int64 microseconds since
 *   2000-01-01 UTC. A jrec string is already checked to be UTF-8 without
 *   NUL, so text never needs escaping.
 */
#include "admin/flusher.h"

#include "shm/jrec.h"
#include "shm/log.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <urcu/arch.h>
#include <urcu/uatomic.h>

#define FL_BATCH_DEFAULT  5000
#define FL_BATCH_MAX      1000000
#define FL_ERR_MAX        240
#define FL_ROW_MAX        1024          /* bytes one COPY tuple can take */
#define FL_PG_EPOCH_US    946684800000000LL   /* 2000-01-01 in Unix us */
#define FL_NAME_MAX       24

typedef struct fl_buf {
    uint8_t *p;
    size_t   len, cap;
    int      oom;
} fl_buf_t;

typedef struct fl_rec {
    jrn_rec_t rec;                  /* the slot, copied */
    uint64_t  seq;                  /* where it was found */
    uint32_t  ring;
    uint8_t   state;
    uint8_t   reject;
    uint8_t   nledger, ncdr;        /* rows it contributes */
    size_t    led_off, led_end, cdr_off, cdr_end;
    char      err[FL_ERR_MAX];
} fl_rec_t;

typedef struct fl_sum {
    int64_t id;
    money_t delta;
} fl_sum_t;

struct flusher {
    jrn_t          *j;
    uint32_t        nrings, batch;
    int             idle_ms, linger_ms, backoff_min, backoff_max;

    pthread_mutex_t mu;             /* conninfo and gen */
    char           *conninfo;
    uint64_t        gen;            /* bumped by flusher_set_conninfo */

    PGconn         *conn;
    uint64_t        conn_gen;
    char            sqlstate[6];
    char            errmsg[FL_ERR_MAX];
    uint32_t        fails;          /* consecutive failed attempts */

    char          (*names)[FL_NAME_MAX];   /* "ring:<i>" */
    uint64_t       *pos;            /* per ring: last position seen in PG */
    uint64_t       *start, *end;    /* per ring: this batch */
    uint8_t        *skip;           /* per ring: PG is ahead of the file */
    uint8_t        *warned;
    uint32_t        rr;

    fl_rec_t       *recs;
    uint32_t        nrecs;
    fl_buf_t        led, cdr, txt, txt2;
    fl_sum_t       *sums;

    flusher_stats_t st;             /* fields written with uatomic_set */
};

int flusher_test_fault;

static const char fl_copy_hdr[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
static const char fl_copy_trailer[2] = { '\377', '\377' };

static const char *const fl_sql_lock =
    "BEGIN; SELECT name, drained_seq FROM journal_position "
    "WHERE name LIKE 'ring:%' ORDER BY name FOR UPDATE";
static const char *const fl_sql_copy_ledger =
    "COPY ledger (account_id, kind, amount, balance_after, reference, "
    "extension, journal, journal_seq, at, actor, reason) "
    "FROM STDIN (FORMAT binary)";
static const char *const fl_sql_copy_cdrs =
    "COPY cdrs (call_id, source, account_id, extension, caller, callee, "
    "dialed, direction, start_at, answer_at, end_at, duration, billsec, "
    "cost, zone_id, prefix, plan_id, deck_version, period_id, "
    "rate_per_minute, connection_fee, first_increment, next_increment, "
    "min_seconds, grace_seconds, rounding, hangup_cause, fac_id, flags, "
    "journal, journal_seq) FROM STDIN (FORMAT binary)";
static const char *const fl_sql_reject =
    "INSERT INTO journal_rejects (journal, journal_seq, kind, state, "
    "account_id, amount, balance_after, at_us, record, error) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
static const char *const fl_sql_balances =
    "UPDATE accounts AS a SET balance = a.balance + d.delta "
    "FROM unnest($1::bigint[], $2::bigint[]) AS d(id, delta) "
    "WHERE a.id = d.id";
static const char *const fl_sql_positions =
    "INSERT INTO journal_position (name, drained_seq) "
    "SELECT * FROM unnest($1::text[], $2::bigint[]) "
    "ON CONFLICT (name) DO UPDATE SET drained_seq = EXCLUDED.drained_seq";

static int64_t fl_now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* ---- byte buffers and COPY tuples -------------------------------------- */

static void fb_reserve(fl_buf_t *b, size_t n)
{
    if (b->oom || b->cap - b->len >= n)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
}

/* Writers below assume fb_reserve(b, FL_ROW_MAX) was called for the row
 * and did not fail (checked by the caller through b->oom). */
static void fb_be(fl_buf_t *b, uint64_t v, int n)
{
    if (b->oom)
        return;
    for (int i = n - 1; i >= 0; i--)
        b->p[b->len++] = (uint8_t)(v >> (8 * i));
}

static void fb_null(fl_buf_t *b)
{
    fb_be(b, UINT32_MAX, 4);                  /* length -1 */
}

static void fb_int8(fl_buf_t *b, int64_t v)
{
    fb_be(b, 8, 4);
    fb_be(b, (uint64_t)v, 8);
}

static void fb_int8_or_null(fl_buf_t *b, int64_t v, int present)
{
    if (present)
        fb_int8(b, v);
    else
        fb_null(b);
}

static void fb_int4(fl_buf_t *b, int32_t v)
{
    fb_be(b, 4, 4);
    fb_be(b, (uint32_t)v, 4);
}

static void fb_int4_or_null(fl_buf_t *b, uint32_t v, int present)
{
    if (present)
        fb_int4(b, (int32_t)v);
    else
        fb_null(b);
}

/* Text; "" (or NULL) is SQL NULL. */
static void fb_text(fl_buf_t *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0) {
        fb_null(b);
        return;
    }
    fb_be(b, n, 4);
    if (!b->oom) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
    }
}

static void fb_ts(fl_buf_t *b, int64_t unix_us)
{
    fb_int8(b, unix_us - FL_PG_EPOCH_US);     /* callers keep it in range */
}

static void fb_text_append(fl_buf_t *b, const char *s)
{
    size_t n = strlen(s);
    fb_reserve(b, n + 1);
    if (b->oom)
        return;
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;                              /* NUL kept, not counted */
}

/* ---- errors ------------------------------------------------------------- */

/* Keeps the first line of msg as the current error. */
static void fl_set_err(flusher_t *f, const char *sqlstate, const char *msg)
{
    snprintf(f->sqlstate, sizeof f->sqlstate, "%s", sqlstate ? sqlstate : "");
    if (msg == NULL || *msg == '\0')
        msg = "unknown error";
    size_t n = strcspn(msg, "\n");
    if (n >= sizeof f->errmsg)
        n = sizeof f->errmsg - 1;
    memcpy(f->errmsg, msg, n);
    f->errmsg[n] = '\0';
}

static void fl_set_res_err(flusher_t *f, const PGresult *res)
{
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    if (msg == NULL || *msg == '\0')
        msg = PQerrorMessage(f->conn);
    fl_set_err(f, res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL,
               msg);
}

/* A row PostgreSQL refuses for its content, on a healthy connection. */
static int fl_data_error(const flusher_t *f)
{
    if (f->conn == NULL || PQstatus(f->conn) != CONNECTION_OK)
        return 0;
    return strncmp(f->sqlstate, "22", 2) == 0
           || strncmp(f->sqlstate, "23", 2) == 0
           || strcmp(f->sqlstate, "P0001") == 0;
}

/* A failed attempt: logged when it starts a run of failures. */
static void fl_failed(flusher_t *f, const char *what)
{
    uatomic_add(&f->st.retries, 1);
    uatomic_set(&f->st.failing, 1);
    if (f->fails++ == 0)
        LOG_ERROR("flusher", 0, "%s failed, rolled back, will retry with "
                  "backoff: %s%s%s", what, f->errmsg,
                  f->sqlstate[0] ? " sqlstate=" : "", f->sqlstate);
    else
        LOG_DEBUG("flusher", "%s failed again (%u): %s", what, f->fails,
                  f->errmsg);
}

static void fl_succeeded(flusher_t *f)
{
    if (f->fails > 0)
        LOG_INFO("flusher", "PostgreSQL writes resumed after %u failed "
                 "attempt(s)", f->fails);
    f->fails = 0;
    uatomic_set(&f->st.failing, 0);
}

/* ---- libpq -------------------------------------------------------------- */

static int fl_res_ok(const PGresult *res)
{
    ExecStatusType s = PQresultStatus(res);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

/* Keeps a failed result's error, or hands a good one to *out (NULL:
 * cleared). 0, or -1 with the error kept. */
static int fl_result(flusher_t *f, PGresult *res, PGresult **out)
{
    if (res == NULL || !fl_res_ok(res)) {
        fl_set_res_err(f, res);
        PQclear(res);
        return -1;
    }
    if (out != NULL)
        *out = res;
    else
        PQclear(res);
    return 0;
}

/* Runs sql (no parameters; several statements allowed). */
static int fl_exec(flusher_t *f, const char *sql, PGresult **out)
{
    return fl_result(f, PQexec(f->conn, sql), out);
}

static int fl_params(flusher_t *f, const char *sql, int n,
                     const char *const *vals, const int *lens,
                     const int *fmts, PGresult **out)
{
    return fl_result(f, PQexecParams(f->conn, sql, n, NULL, vals, lens, fmts,
                                     0), out);
}

static void fl_disconnect(flusher_t *f)
{
    if (f->conn != NULL)
        PQfinish(f->conn);
    f->conn = NULL;
    uatomic_set(&f->st.connected, 0);
}

/* Ends a failed transaction: ROLLBACK, or drop a broken connection. */
static void fl_abort(flusher_t *f)
{
    if (f->conn == NULL)
        return;
    if (PQstatus(f->conn) != CONNECTION_OK) {
        fl_disconnect(f);
        return;
    }
    PGresult *res = PQexec(f->conn, "ROLLBACK");
    if (res == NULL || !fl_res_ok(res))
        fl_disconnect(f);
    PQclear(res);
}

/* Server notices (WARNING, NOTICE) of the flusher's session. */
static void fl_notice(void *arg, const char *msg)
{
    (void)arg;
    LOG_DEBUG("flusher", "server notice: %.*s", (int)strcspn(msg, "\n"),
              msg);
}

/* Makes sure a connection with the current conninfo is up, the position
 * rows exist and pos[] holds what PostgreSQL says. 0 or -1 (logged by
 * the caller through fl_failed). */
static int fl_connect(flusher_t *f)
{
    pthread_mutex_lock(&f->mu);
    uint64_t gen = f->gen;
    char *ci = f->conninfo ? strdup(f->conninfo) : NULL;
    int have_ci = f->conninfo != NULL && f->conninfo[0] != '\0';
    pthread_mutex_unlock(&f->mu);

    if (f->conn != NULL && f->conn_gen == gen
        && PQstatus(f->conn) == CONNECTION_OK) {
        free(ci);
        return 0;
    }
    fl_disconnect(f);
    if (have_ci && ci == NULL) {
        fl_set_err(f, NULL, "out of memory");
        return -1;
    }
    const char *keys[3] = { "application_name", NULL, NULL };
    const char *vals[3] = { "apolo-flusher", NULL, NULL };
    if (have_ci) {
        keys[1] = "dbname";                    /* expanded: URL or k=v */
        vals[1] = ci;
    }
    f->conn = PQconnectdbParams(keys, vals, 1);
    free(ci);
    if (f->conn == NULL || PQstatus(f->conn) != CONNECTION_OK) {
        fl_set_err(f, NULL, f->conn ? PQerrorMessage(f->conn)
                                    : "out of memory");
        fl_disconnect(f);
        return -1;
    }
    f->conn_gen = gen;
    PQsetNoticeProcessor(f->conn, fl_notice, NULL);

    char sql[256];
    PGresult *res = NULL;
    snprintf(sql, sizeof sql,
             "SET synchronous_commit = on; SET client_encoding = 'UTF8'; "
             "INSERT INTO journal_position (name) SELECT 'ring:' || g "
             "FROM generate_series(0, %u) g ON CONFLICT (name) DO NOTHING",
             f->nrings - 1);
    if (fl_exec(f, sql, NULL) != 0
        || fl_exec(f, "SELECT name, drained_seq FROM journal_position "
                   "WHERE name LIKE 'ring:%'", &res) != 0) {
        fl_disconnect(f);
        return -1;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        unsigned i;
        if (sscanf(PQgetvalue(res, r, 0), "ring:%u", &i) == 1
            && i < f->nrings)
            f->pos[i] = strtoull(PQgetvalue(res, r, 1), NULL, 10);
    }
    PQclear(res);
    uatomic_add(&f->st.connects, 1);
    uatomic_set(&f->st.connected, 1);
    return 0;
}

/* ---- records -> rows ---------------------------------------------------- */

/* Marks fr reject with the error text what + detail (detail may be NULL). */
static void fl_reject(fl_rec_t *fr, const char *what, const char *detail)
{
    size_t n = strlen(what), room = sizeof fr->err - 1;
    fr->reject = 1;
    if (n > room)
        n = room;
    memcpy(fr->err, what, n);
    if (detail != NULL) {
        size_t d = strlen(detail);
        if (d > room - n)
            d = room - n;
        memcpy(fr->err + n, detail, d);
        n += d;
    }
    fr->err[n] = '\0';
}

static const char *fl_ledger_kind(uint8_t kind)
{
    switch (kind) {
    case JRN_CALL_DEBIT: return "call_debit";
    case JRN_RECHARGE:   return "recharge";
    case JRN_ADJUSTMENT: return "adjustment";
    case JRN_REFUND:     return "refund";
    default:             return NULL;
    }
}

/* The header of a movement, as jrn_move writes it. */
static const char *fl_check_movement(const jrn_rec_t *r)
{
    money_t after;
    if (r->acct_id <= 0)
        return "movement without an account id";
    if (r->delta_balance == 0)
        return "movement of 0";
    if (__builtin_add_overflow(r->balance_before, r->delta_balance, &after)
        || after != r->balance_after)
        return "balance_before + delta_balance != balance_after";
    return NULL;
}

/* at_us is a plain int64 from the file: keep it where timestamptz is. */
static int fl_ts_ok(int64_t unix_us)
{
    /* 1900-01-01 .. 9999-12-31 */
    return unix_us >= -2208988800000000LL && unix_us < 253402300800000000LL;
}

static void fl_ledger_row(flusher_t *f, const fl_rec_t *fr,
                          const char *kind, const char *reference,
                          const char *extension, const char *actor,
                          const char *reason)
{
    fl_buf_t *b = &f->led;
    fb_reserve(b, FL_ROW_MAX);
    fb_be(b, 11, 2);
    fb_int8(b, fr->rec.acct_id);
    fb_text(b, kind);
    fb_int8(b, fr->rec.delta_balance);
    fb_int8(b, fr->rec.balance_after);
    fb_text(b, reference);
    fb_text(b, extension);
    fb_text(b, f->names[fr->ring]);
    fb_int8(b, (int64_t)fr->seq);
    fb_ts(b, fr->rec.at_us);
    fb_text(b, actor);
    fb_text(b, reason);
}

static void fl_cdr_row(flusher_t *f, const fl_rec_t *fr, const jrec_cdr_t *c,
                       int64_t account_id)
{
    fl_buf_t *b = &f->cdr;
    int rated = c->plan_id != 0;
    fb_reserve(b, FL_ROW_MAX);
    fb_be(b, 31, 2);
    fb_text(b, c->call_id);
    fb_text(b, jrec_source_name(c->source));
    fb_int8_or_null(b, account_id, account_id != 0);
    fb_text(b, c->extension);
    fb_text(b, c->caller);
    fb_text(b, c->callee);
    fb_text(b, c->dialed);
    fb_text(b, jrec_direction_name(c->direction));
    fb_ts(b, c->start_us);
    if (c->answer_us != 0)
        fb_ts(b, c->answer_us);
    else
        fb_null(b);
    fb_ts(b, c->end_us);
    fb_int4(b, (int32_t)c->duration);
    fb_int4(b, (int32_t)c->billsec);
    fb_int8(b, c->cost);
    fb_int8_or_null(b, c->zone_id, c->zone_id != 0);
    fb_text(b, c->prefix);
    fb_int8_or_null(b, c->plan_id, rated);
    fb_int8_or_null(b, c->deck_version, rated);
    fb_int8_or_null(b, c->period_id, rated && c->period_id != 0);
    fb_int8_or_null(b, c->rate_per_minute, rated);
    fb_int8_or_null(b, c->connection_fee, rated);
    fb_int4_or_null(b, c->first_inc, rated);
    fb_int4_or_null(b, c->next_inc, rated);
    fb_int4_or_null(b, c->min_sec, rated);
    fb_int4_or_null(b, c->grace_sec, rated);
    fb_text(b, rated ? jrec_rounding_name(c->rounding) : NULL);
    fb_text(b, c->hangup_cause);
    fb_int8_or_null(b, c->fac_id, c->fac_id != 0);
    fb_int4(b, (int32_t)c->flags);
    fb_text(b, f->names[fr->ring]);
    fb_int8(b, (int64_t)fr->seq);
}

/* Decodes fr and appends its rows, or marks it reject (no rows). */
static void fl_build(flusher_t *f, fl_rec_t *fr)
{
    const jrn_rec_t *r = &fr->rec;
    const char *why = NULL;
    jrec_cdr_t cdr;
    jrec_move_t mv;

    fr->reject = 0;
    fr->nledger = fr->ncdr = 0;
    fr->err[0] = '\0';
    fr->led_off = fr->led_end = f->led.len;
    fr->cdr_off = fr->cdr_end = f->cdr.len;

    if (fr->state == JRN_REC_VOID) {
        fl_reject(fr, "VOID: the movement was refused in shared memory",
                  NULL);
        return;
    }
    if (r->seq != fr->seq) {
        fl_reject(fr, "slot holds another seq", NULL);
        return;
    }
    if (r->len > JRN_PAYLOAD_MAX) {
        fl_reject(fr, "payload length beyond the slot", NULL);
        return;
    }
    if (r->kind == JRN_CDR || r->kind == JRN_CALL_DEBIT) {
        if (jrec_decode_cdr(r->payload, r->len, &cdr, &why) != JREC_OK) {
            fl_reject(fr, "payload: ", why);
            return;
        }
    } else if (r->kind >= JRN_RECHARGE && r->kind <= JRN_REFUND) {
        if (jrec_decode_move(r->payload, r->len, &mv, &why) != JREC_OK) {
            fl_reject(fr, "payload: ", why);
            return;
        }
    } else {
        fl_reject(fr, "unknown record kind", NULL);
        return;
    }
    if (r->kind != JRN_CDR && (why = fl_check_movement(r)) != NULL) {
        fl_reject(fr, why, NULL);
        return;
    }
    if (r->kind != JRN_CDR && !fl_ts_ok(r->at_us)) {
        fl_reject(fr, "record time out of range", NULL);
        return;
    }

    switch (r->kind) {
    case JRN_CDR:
        fl_cdr_row(f, fr, &cdr, cdr.account_id);
        fr->ncdr = 1;
        break;
    case JRN_CALL_DEBIT:
        /* the account that paid is the one the movement debited */
        fl_ledger_row(f, fr, "call_debit", cdr.call_id, cdr.extension,
                      jrec_source_name(cdr.source), NULL);
        fl_cdr_row(f, fr, &cdr, r->acct_id);
        fr->nledger = fr->ncdr = 1;
        break;
    default:
        fl_ledger_row(f, fr, fl_ledger_kind(r->kind), mv.reference, NULL,
                      mv.actor, mv.reason);
        fr->nledger = 1;
        break;
    }
    fr->led_end = f->led.len;
    fr->cdr_end = f->cdr.len;
}

/* ---- COPY and the bisection ---------------------------------------------- */

/* COPY sql with the tuples buf[from, to). 0 or -1 (error kept). */
static int fl_copy(flusher_t *f, const char *sql, const fl_buf_t *buf,
                   size_t from, size_t to)
{
    PGresult *res = PQexec(f->conn, sql);
    int ok = res != NULL && PQresultStatus(res) == PGRES_COPY_IN;
    if (!ok)
        fl_set_res_err(f, res);
    PQclear(res);
    if (!ok)
        return -1;
    int sent = PQputCopyData(f->conn, fl_copy_hdr, sizeof fl_copy_hdr) == 1
        && PQputCopyData(f->conn, (const char *)buf->p + from,
                         (int)(to - from)) == 1
        && PQputCopyData(f->conn, fl_copy_trailer,
                         sizeof fl_copy_trailer) == 1;
    if (PQputCopyEnd(f->conn, sent ? NULL : "flusher: send failed") != 1)
        sent = 0;
    int rc = sent ? 0 : -1;
    if (!sent)
        fl_set_err(f, NULL, PQerrorMessage(f->conn));
    while ((res = PQgetResult(f->conn)) != NULL) {
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
            fl_set_res_err(f, res);
            rc = -1;
        }
        PQclear(res);
    }
    return rc;
}

/*
 * Writes the rows of records [lo, hi) under a savepoint. A data error
 * narrows down by halves to the records PostgreSQL refuses, which are
 * marked reject. 0, or -1 on any other failure (the batch is lost).
 */
static int fl_copy_range(flusher_t *f, uint32_t lo, uint32_t hi)
{
    uint32_t with_rows = 0, last = lo;
    size_t led_from = 0, led_to = 0, cdr_from = 0, cdr_to = 0;
    int first = 1;

    for (uint32_t k = lo; k < hi; k++) {
        const fl_rec_t *fr = &f->recs[k];
        if (fr->reject || fr->nledger + fr->ncdr == 0)
            continue;
        if (first) {
            led_from = fr->led_off;
            cdr_from = fr->cdr_off;
            first = 0;
        }
        led_to = fr->led_end;
        cdr_to = fr->cdr_end;
        with_rows++;
        last = k;
    }
    if (with_rows == 0)
        return 0;
    if (fl_exec(f, "SAVEPOINT fl", NULL) != 0)
        return -1;
    int rc = 0;
    if (led_to > led_from)
        rc = fl_copy(f, fl_sql_copy_ledger, &f->led, led_from, led_to);
    if (rc == 0 && cdr_to > cdr_from)
        rc = fl_copy(f, fl_sql_copy_cdrs, &f->cdr, cdr_from, cdr_to);
    if (rc == 0)
        return fl_exec(f, "RELEASE SAVEPOINT fl", NULL);
    if (!fl_data_error(f))
        return -1;

    char msg[FL_ERR_MAX + 24];
    snprintf(msg, sizeof msg, "%s (sqlstate %s)", f->errmsg, f->sqlstate);
    if (fl_exec(f, "ROLLBACK TO SAVEPOINT fl; RELEASE SAVEPOINT fl",
                NULL) != 0)
        return -1;
    if (with_rows == 1) {
        fl_reject(&f->recs[last], msg, NULL);
        return 0;
    }
    uint32_t mid = lo + (hi - lo) / 2;
    if (fl_copy_range(f, lo, mid) != 0)
        return -1;
    return fl_copy_range(f, mid, hi);
}

/* ---- the other statements of a batch ----------------------------------- */

static int fl_insert_rejects(flusher_t *f)
{
    for (uint32_t k = 0; k < f->nrecs; k++) {
        fl_rec_t *fr = &f->recs[k];
        if (!fr->reject)
            continue;
        char seq[24], kind[8], state[8], acct[24], amt[24], after[24], at[24];
        snprintf(seq, sizeof seq, "%" PRIu64, fr->seq);
        snprintf(kind, sizeof kind, "%u", fr->rec.kind);
        snprintf(state, sizeof state, "%u", fr->state);
        snprintf(acct, sizeof acct, "%" PRId64, fr->rec.acct_id);
        snprintf(amt, sizeof amt, "%" PRId64, fr->rec.delta_balance);
        snprintf(after, sizeof after, "%" PRId64, fr->rec.balance_after);
        snprintf(at, sizeof at, "%" PRId64, fr->rec.at_us);
        const char *vals[10] = { f->names[fr->ring], seq, kind, state, acct,
                                 amt, after, at, (const char *)&fr->rec,
                                 fr->err };
        int lens[10] = { 0, 0, 0, 0, 0, 0, 0, 0, (int)sizeof fr->rec, 0 };
        int fmts[10] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
        if (fl_params(f, fl_sql_reject, 10, vals, lens, fmts, NULL) != 0)
            return -1;
    }
    return 0;
}

static int fl_sum_cmp(const void *a, const void *b)
{
    const fl_sum_t *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static int fl_update_balances(flusher_t *f)
{
    uint32_t n = 0;
    for (uint32_t k = 0; k < f->nrecs; k++) {
        const fl_rec_t *fr = &f->recs[k];
        if (!fr->reject && fr->nledger)
            f->sums[n++] = (fl_sum_t){ fr->rec.acct_id,
                                       fr->rec.delta_balance };
    }
    if (n == 0)
        return 0;
    qsort(f->sums, n, sizeof *f->sums, fl_sum_cmp);
    uint32_t m = 0;
    for (uint32_t k = 0; k < n; k++) {
        if (m > 0 && f->sums[m - 1].id == f->sums[k].id) {
            if (__builtin_add_overflow(f->sums[m - 1].delta,
                                       f->sums[k].delta,
                                       &f->sums[m - 1].delta)) {
                fl_set_err(f, NULL, "balance sum overflows");
                return -1;
            }
        } else {
            f->sums[m++] = f->sums[k];
        }
    }
    f->txt.len = f->txt2.len = 0;
    fb_text_append(&f->txt, "{");
    fb_text_append(&f->txt2, "{");
    for (uint32_t k = 0; k < m; k++) {
        char v[32];
        snprintf(v, sizeof v, "%s%" PRId64, k ? "," : "", f->sums[k].id);
        fb_text_append(&f->txt, v);
        snprintf(v, sizeof v, "%s%" PRId64, k ? "," : "", f->sums[k].delta);
        fb_text_append(&f->txt2, v);
    }
    fb_text_append(&f->txt, "}");
    fb_text_append(&f->txt2, "}");
    if (f->txt.oom || f->txt2.oom) {
        fl_set_err(f, NULL, "out of memory");
        return -1;
    }
    const char *vals[2] = { (const char *)f->txt.p, (const char *)f->txt2.p };
    PGresult *res = NULL;
    if (fl_params(f, fl_sql_balances, 2, vals, NULL, NULL, &res) != 0)
        return -1;
    long updated = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    if (updated != (long)m) {
        /* ledger's foreign key makes this unreachable; refuse anyway */
        char msg[96];
        snprintf(msg, sizeof msg, "accounts: %ld of %u rows updated",
                 updated, m);
        fl_set_err(f, NULL, msg);
        return -1;
    }
    return 0;
}

static int fl_save_positions(flusher_t *f)
{
    int any = 0;
    f->txt.len = f->txt2.len = 0;
    fb_text_append(&f->txt, "{");
    fb_text_append(&f->txt2, "{");
    for (uint32_t i = 0; i < f->nrings; i++) {
        if (f->end[i] == f->start[i])
            continue;
        char v[48];
        snprintf(v, sizeof v, "%s%s", any ? "," : "", f->names[i]);
        fb_text_append(&f->txt, v);
        snprintf(v, sizeof v, "%s%" PRIu64, any ? "," : "", f->end[i]);
        fb_text_append(&f->txt2, v);
        any = 1;
    }
    fb_text_append(&f->txt, "}");
    fb_text_append(&f->txt2, "}");
    if (!any)
        return 0;
    if (f->txt.oom || f->txt2.oom) {
        fl_set_err(f, NULL, "out of memory");
        return -1;
    }
    const char *vals[2] = { (const char *)f->txt.p, (const char *)f->txt2.p };
    return fl_params(f, fl_sql_positions, 2, vals, NULL, NULL, NULL);
}

/* ---- one batch ----------------------------------------------------------- */

/* Step 1: is there a record to take? Also refreshes the lag gauge. */
static int fl_has_work(flusher_t *f)
{
    uint64_t lag = 0;
    int work = 0;
    for (uint32_t i = 0; i < f->nrings; i++) {
        jrn_ring_t *r = jrn_ring(f->j, i);
        uint64_t head = uatomic_read(&r->head);
        uint64_t tail = uatomic_read(&r->tail);
        uint64_t s = f->pos[i] > tail ? f->pos[i] : tail;
        cmm_smp_rmb();
        if (head <= s)
            continue;
        lag += head - s;
        uint8_t st = uatomic_read(&jrn_rec(f->j, i, s)->state);
        if (st == JRN_REC_DONE || st == JRN_REC_VOID || tail < f->pos[i])
            work = 1;
    }
    uatomic_set(&f->st.lag, lag);
    return work;
}

/* Step 2: lock and read the positions; start[] and skip[] from them. */
static int fl_lock_positions(flusher_t *f)
{
    PGresult *res = NULL;
    if (fl_exec(f, fl_sql_lock, &res) != 0)
        return -1;
    for (int row = 0; row < PQntuples(res); row++) {
        unsigned i;
        if (sscanf(PQgetvalue(res, row, 0), "ring:%u", &i) == 1
            && i < f->nrings)
            f->pos[i] = strtoull(PQgetvalue(res, row, 1), NULL, 10);
    }
    PQclear(res);
    for (uint32_t i = 0; i < f->nrings; i++) {
        jrn_ring_t *r = jrn_ring(f->j, i);
        uint64_t head = uatomic_read(&r->head);
        uint64_t tail = uatomic_read(&r->tail);
        f->skip[i] = 0;
        if (f->pos[i] > head) {
            f->skip[i] = 1;
            if (!f->warned[i])
                LOG_ERROR("flusher", 0, "%s: PostgreSQL says drained up to "
                          "%" PRIu64 " but the journal file ends at %" PRIu64
                          ": not draining this ring (a new journal file "
                          "with an old database?)", f->names[i], f->pos[i],
                          head);
            f->warned[i] = 1;
            f->start[i] = f->end[i] = head;
            continue;
        }
        if (tail > f->pos[i]) {
            if (!f->warned[i])
                LOG_ERROR("flusher", 0, "%s: records %" PRIu64 "..%" PRIu64
                          " were released from the journal but are not in "
                          "this database (restored from a backup?)",
                          f->names[i], f->pos[i], tail);
            f->warned[i] = 1;
            f->start[i] = tail;
        } else {
            f->start[i] = f->pos[i];
        }
        f->end[i] = f->start[i];
    }
    return 0;
}

/* Step 3: copy the records out and build their rows. */
static void fl_collect(flusher_t *f)
{
    f->nrecs = 0;
    f->led.len = f->cdr.len = 0;
    f->led.oom = f->cdr.oom = 0;
    for (uint32_t k = 0; k < f->nrings && f->nrecs < f->batch; k++) {
        uint32_t i = (f->rr + k) % f->nrings;
        if (f->skip[i])
            continue;
        jrn_ring_t *r = jrn_ring(f->j, i);
        uint64_t head = uatomic_read(&r->head);
        uint64_t s = f->start[i];
        cmm_smp_rmb();
        while (s < head && f->nrecs < f->batch) {
            const jrn_rec_t *src = jrn_rec(f->j, i, s);
            uint8_t st = uatomic_read(&src->state);
            if (st != JRN_REC_DONE && st != JRN_REC_VOID)
                break;
            cmm_smp_rmb();            /* the record before its state */
            fl_rec_t *fr = &f->recs[f->nrecs++];
            memcpy(&fr->rec, src, sizeof fr->rec);
            fr->seq = s;
            fr->ring = i;
            fr->state = st;
            fl_build(f, fr);
            s++;
        }
        f->end[i] = s;
    }
    f->rr++;
}

static void fl_release(flusher_t *f)
{
    for (uint32_t i = 0; i < f->nrings; i++)
        if (!f->skip[i])
            jrn_release(f->j, i, f->pos[i]);
}

/* One transaction. Returns the records committed (>= 0) or -1. */
static int64_t fl_batch(flusher_t *f)
{
    if (!fl_has_work(f))
        return 0;
    if (fl_connect(f) != 0) {
        fl_failed(f, "connect to PostgreSQL");
        return -1;
    }
    const char *step = "lock journal_position";
    if (fl_lock_positions(f) != 0)
        goto fail;
    fl_collect(f);
    if (f->nrecs == 0) {
        /* another flusher (or our previous life) took them: let go */
        step = "rollback";
        if (fl_exec(f, "ROLLBACK", NULL) != 0)
            goto fail;
        fl_release(f);
        fl_has_work(f);
        fl_succeeded(f);
        return 0;
    }
    step = "build rows";
    if (f->led.oom || f->cdr.oom) {
        fl_set_err(f, NULL, "out of memory");
        goto fail;
    }
    step = "COPY ledger/cdrs";
    if (fl_copy_range(f, 0, f->nrecs) != 0)
        goto fail;
    step = "INSERT journal_rejects";
    if (fl_insert_rejects(f) != 0)
        goto fail;
    step = "UPDATE accounts";
    if (fl_update_balances(f) != 0)
        goto fail;
    step = "UPSERT journal_position";
    if (fl_save_positions(f) != 0)
        goto fail;
    step = "COMMIT";
    PGresult *res = NULL;
    int lost = flusher_test_fault == FLUSHER_FAULT_COMMIT_LOST;
    if (fl_exec(f, lost ? "ROLLBACK" : "COMMIT", &res) != 0)
        goto fail;
    int committed = strcmp(PQcmdStatus(res), "COMMIT") == 0;
    PQclear(res);
    if (lost) {
        flusher_test_fault = 0;
        fl_set_err(f, NULL, "test fault: the COMMIT's answer was lost");
        goto fail;
    }
    if (!committed) {
        fl_set_err(f, NULL, "COMMIT answered ROLLBACK");
        goto fail;
    }
    if (flusher_test_fault == FLUSHER_FAULT_KILL_AFTER_COMMIT)
        raise(SIGKILL);

    uint64_t nled = 0, ncdr = 0, nrej = 0;
    for (uint32_t k = 0; k < f->nrecs; k++) {
        const fl_rec_t *fr = &f->recs[k];
        if (fr->reject) {
            nrej++;
            LOG_ERROR("flusher", 0, "%s record %" PRIu64 " (kind %u, "
                      "account %" PRId64 ", amount %" PRId64 ") moved to "
                      "journal_rejects: %s", f->names[fr->ring], fr->seq,
                      fr->rec.kind, fr->rec.acct_id, fr->rec.delta_balance,
                      fr->err);
        } else {
            nled += fr->nledger;
            ncdr += fr->ncdr;
        }
    }
    for (uint32_t i = 0; i < f->nrings; i++)
        if (!f->skip[i])
            f->pos[i] = f->end[i];
    fl_release(f);
    uatomic_add(&f->st.records, f->nrecs);
    uatomic_add(&f->st.ledger_rows, nled);
    uatomic_add(&f->st.cdr_rows, ncdr);
    uatomic_add(&f->st.rejected, nrej);
    uatomic_add(&f->st.batches, 1);
    uatomic_set(&f->st.last_commit_us, fl_now_us());
    fl_has_work(f);
    fl_succeeded(f);
    return f->nrecs;

fail:
    fl_abort(f);
    fl_failed(f, step);
    return -1;
}

/* ---- public ---------------------------------------------------------------- */

flusher_t *flusher_new(jrn_t *j, const flusher_config_t *cfg)
{
    uint32_t batch = cfg->batch ? cfg->batch : FL_BATCH_DEFAULT;
    if (batch > FL_BATCH_MAX || cfg->idle_ms < 0 || cfg->linger_ms < 0
        || cfg->backoff_min_ms < 0
        || cfg->backoff_max_ms < 0) {
        LOG_ERROR("flusher", 0, "bad configuration (batch %u)", batch);
        return NULL;
    }
    flusher_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        goto oom;
    f->j = j;
    f->nrings = j->hdr->nrings;
    f->batch = batch;
    f->idle_ms = cfg->idle_ms ? cfg->idle_ms : 5;
    f->linger_ms = cfg->linger_ms;
    f->backoff_min = cfg->backoff_min_ms ? cfg->backoff_min_ms : 100;
    f->backoff_max = cfg->backoff_max_ms ? cfg->backoff_max_ms : 5000;
    if (f->backoff_max < f->backoff_min)
        f->backoff_max = f->backoff_min;
    pthread_mutex_init(&f->mu, NULL);
    f->conninfo = strdup(cfg->conninfo ? cfg->conninfo : "");
    f->names = calloc(f->nrings, sizeof *f->names);
    f->pos = calloc(f->nrings, sizeof *f->pos);
    f->start = calloc(f->nrings, sizeof *f->start);
    f->end = calloc(f->nrings, sizeof *f->end);
    f->skip = calloc(f->nrings, 1);
    f->warned = calloc(f->nrings, 1);
    f->recs = malloc((size_t)batch * sizeof *f->recs);
    f->sums = malloc((size_t)batch * sizeof *f->sums);
    if (f->conninfo == NULL || f->names == NULL || f->pos == NULL
        || f->start == NULL || f->end == NULL || f->skip == NULL
        || f->warned == NULL || f->recs == NULL || f->sums == NULL) {
        flusher_free(f);
        goto oom;
    }
    for (uint32_t i = 0; i < f->nrings; i++)
        snprintf(f->names[i], FL_NAME_MAX, "ring:%u", i);
    return f;
oom:
    LOG_ERROR("flusher", 0, "out of memory creating the flusher");
    return NULL;
}

void flusher_free(flusher_t *f)
{
    if (f == NULL)
        return;
    fl_disconnect(f);
    pthread_mutex_destroy(&f->mu);
    free(f->conninfo);
    free(f->names);
    free(f->pos);
    free(f->start);
    free(f->end);
    free(f->skip);
    free(f->warned);
    free(f->recs);
    free(f->sums);
    free(f->led.p);
    free(f->cdr.p);
    free(f->txt.p);
    free(f->txt2.p);
    free(f);
}

int flusher_set_conninfo(flusher_t *f, const char *conninfo)
{
    char *c = strdup(conninfo ? conninfo : "");
    if (c == NULL)
        return FLUSHER_EINVAL;
    pthread_mutex_lock(&f->mu);
    free(f->conninfo);
    f->conninfo = c;
    f->gen++;
    pthread_mutex_unlock(&f->mu);
    return FLUSHER_OK;
}

/* Batches until one takes nothing, at most as many as the records
 * published now need: producers that keep appending cannot keep it here
 * forever. */
static int fl_drain(flusher_t *f, uint64_t *records)
{
    uint64_t total = 0;
    int rc = FLUSHER_OK;
    fl_has_work(f);
    uint64_t max = uatomic_read(&f->st.lag) / f->batch + 2;
    for (uint64_t k = 0; k < max; k++) {
        int64_t n = fl_batch(f);
        if (n < 0) {
            rc = FLUSHER_EDB;
            break;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
    }
    if (records != NULL)
        *records = total;
    return rc;
}

int flusher_drain_once(flusher_t *f, uint64_t *records)
{
    return fl_drain(f, records);
}

/* Sleeps ms, waking every 10 ms to look at *stop. */
static void fl_sleep(int ms, volatile sig_atomic_t *stop)
{
    while (ms > 0 && !*stop) {
        int step = ms < 10 ? ms : 10;
        struct timespec ts = { 0, (long)step * 1000000L };
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

int flusher_run(flusher_t *f, volatile sig_atomic_t *stop)
{
    int backoff = f->backoff_min;
    while (!*stop) {
        int64_t n = fl_batch(f);
        if (n < 0) {
            fl_sleep(backoff, stop);
            backoff = backoff > f->backoff_max / 2 ? f->backoff_max
                                                   : backoff * 2;
            continue;
        }
        backoff = f->backoff_min;
        if (n == 0)
            fl_sleep(f->idle_ms, stop);
        else if (n < f->batch)       /* caught up: let the next grow */
            fl_sleep(f->linger_ms, stop);
    }
    return fl_drain(f, NULL);
}

void flusher_stats(const flusher_t *f, flusher_stats_t *out)
{
    const flusher_stats_t *s = &f->st;
    out->records = uatomic_read(&s->records);
    out->ledger_rows = uatomic_read(&s->ledger_rows);
    out->cdr_rows = uatomic_read(&s->cdr_rows);
    out->batches = uatomic_read(&s->batches);
    out->retries = uatomic_read(&s->retries);
    out->rejected = uatomic_read(&s->rejected);
    out->connects = uatomic_read(&s->connects);
    out->lag = uatomic_read(&s->lag);
    out->last_commit_us = uatomic_read(&s->last_commit_us);
    out->connected = uatomic_read(&s->connected);
    out->failing = uatomic_read(&s->failing);
}
