/*
 * money_common.c -- what api_money.c, api_ingest.c and api_bulk.c share
 * (see money_common.h): the thread's journal writer, the key lock, and the
 * exactly-once movement core (claim, recover, move, finish) that
 * api_money.c's header comment describes. The core answers with a result
 * code, never on the connection, so that a bulk batch can run it per row.
 *
 * NOTES
 * - APOLO_TEST_CRASH_MONEY=after_claim|after_move makes the core
 *   _exit(137) right after the claim is committed or right after the money
 *   moved: the tests' way to prove exactly-once across a crash. Test-only;
 *   it does nothing when unset.
 * - The journal's actor holds at most JREC_ACTOR_MAX (32) bytes: a longer
 *   user name is cut at a character boundary there (audit_log keeps it
 *   whole).
 */
#include "admin/money_common.h"

#include "shm/account.h"
#include "shm/log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MONEY_MOVE_WAIT_MS  2000        /* jrn_move: room and account lock */

static pthread_key_t  money_wkey;
static pthread_once_t money_wonce = PTHREAD_ONCE_INIT;

static void money_writer_free(void *p)
{
    jrn_writer_t *w = p;
    jrn_writer_close(w);
    free(w);
}

static void money_wkey_make(void)
{
    if (pthread_key_create(&money_wkey, money_writer_free) != 0)
        LOG_ERROR("api", errno, "pthread_key_create() failed");
}

/* This thread's writer, opened on first use: NULL when every ring is
 * taken (logged). */
jrn_writer_t *money_writer(jrn_t *j)
{
    pthread_once(&money_wonce, money_wkey_make);
    jrn_writer_t *w = pthread_getspecific(money_wkey);
    if (w != NULL)
        return w;
    w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    if (jrn_writer_open(j, w) != JRN_OK) {
        LOG_ERROR("api", 0, "no free journal ring for an HTTP thread: "
                  "journal.rings must be >= admin.threads + workers");
        free(w);
        return NULL;
    }
    if (pthread_setspecific(money_wkey, w) != 0) {
        jrn_writer_close(w);
        free(w);
        return NULL;
    }
    return w;
}

/* Logs a failed statement and answers 503 (connection gone) or 500. */
/* Runs a statement whose result is not needed: 0 or -1 (logged). */
int money_run(http_req_t *r, const char *what, const char *sql, int n,
                     const char *const *p)
{
    PGresult *res = http_exec(r, sql, n, p);
    int ok = http_res_ok(res);
    if (!ok)
        LOG_ERROR("api", 0, "%s: %s", what, PQerrorMessage(r->db));
    PQclear(res);
    return ok ? 0 : -1;
}

json_t *money_amount_json(money_t m)
{
    char buf[MONEY_STRLEN];
    money_format(m, buf);
    return json_string(buf);
}

/* 1 locked, 0 still busy after MONEY_LOCK_WAIT_MS, -1 PostgreSQL error
 * (logged). */
int money_lock(http_req_t *r, const char *key)
{
    struct timespec pause = { 0, 20 * 1000000L };
    for (int waited = 0; ; waited += 20) {
        int got = money_trylock(r, key);
        if (got != 0)
            return got;
        if (waited >= MONEY_LOCK_WAIT_MS)
            return 0;
        nanosleep(&pause, NULL);
    }
}

void money_unlock(http_req_t *r, const char *key)
{
    const char *p[1] = { key };
    /* if this fails the connection is broken, and the lock went with it */
    money_run(r, "key unlock",
              "SELECT pg_advisory_unlock(hashtextextended($1, 0))", 1, p);
}


/* 1 locked, 0 busy, -1 PostgreSQL error (logged): one attempt. */
int money_trylock(http_req_t *r, const char *key)
{
    const char *p[1] = { key };
    PGresult *res = http_exec(r,
        "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", 1, p);
    if (!http_res_ok(res) || PQntuples(res) != 1) {
        LOG_ERROR("api", 0, "key lock: %s", PQerrorMessage(r->db));
        PQclear(res);
        return -1;
    }
    int got = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return got;
}

void money_copy_utf8(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

void money_req_hash(money_req_t *q)
{
    char text[256];
    unsigned char h[crypto_generichash_BYTES];
    int n = snprintf(text, sizeof text, "%s\n%" PRId64 "\n%" PRId64 "\n",
                     q->kind, q->acct_id, q->amount);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const unsigned char *)text, (size_t)n);
    crypto_generichash_update(&st, (const unsigned char *)q->reason,
                              strlen(q->reason) + 1);
    crypto_generichash_update(&st, (const unsigned char *)q->call_id,
                              strlen(q->call_id) + 1);
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(q->hash, sizeof q->hash, h, sizeof h);
}

/* APOLO_TEST_CRASH_MONEY: dies here when it names this point. */
static void money_test_crash(const char *point)
{
    const char *spec = getenv("APOLO_TEST_CRASH_MONEY");
    if (spec != NULL && strcmp(spec, point) == 0) {
        LOG_WARN("api", 0, "APOLO_TEST_CRASH_MONEY: dying %s", point);
        _exit(137);
    }
}

/* The success body (also stored as the key's response). */
static json_t *money_response(const money_req_t *q, const money_done_t *d)
{
    return json_pack("{s:I,s:s,s:o,s:o,s:s,s:{s:I,s:I}}",
                     "account_id", (json_int_t)q->acct_id,
                     "kind", q->kind,
                     "amount", money_amount_json(q->amount),
                     "balance_after", money_amount_json(d->balance_after),
                     "reference", q->key,
                     "journal", "ring", (json_int_t)d->ring,
                     "seq", (json_int_t)d->seq);
}

/* ---- recovery: did the movement of an abandoned claim happen? ----------- */

int money_journal_find(jrn_t *j, money_rec_match_fn match, void *arg,
                       jrn_rec_t *out, uint32_t *ring_out)
{
    for (uint32_t i = 0; i < j->hdr->nrings; i++) {
        jrn_ring_t *ring = jrn_ring(j, i);
        uint64_t tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
        uint64_t head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE);
        for (uint64_t seq = tail; seq < head; seq++) {
            const jrn_rec_t *p = jrn_rec(j, i, seq);
            uint8_t st = __atomic_load_n(&p->state, __ATOMIC_ACQUIRE);
            memcpy(out, p, sizeof *out);
            /* a slot reused since the tail was read: that record was
             * drained, and the caller's PostgreSQL search finds it */
            if (out->seq != seq || out->len > JRN_PAYLOAD_MAX
                || !match(out, arg))
                continue;
            if (st == JRN_REC_PENDING)
                return 2;
            if (st != JRN_REC_DONE)
                continue;                  /* VOID: moved nothing */
            *ring_out = i;
            return 1;
        }
    }
    return 0;
}

/* Whether the movement record rec (a copy) is q's: 1 yes, 0 no. */
static int money_rec_is(const jrn_rec_t *rec, void *arg)
{
    const money_req_t *q = arg;
    jrec_move_t mv;
    if (rec->kind != (uint8_t)q->jkind || rec->acct_id != q->acct_id)
        return 0;
    if (jrec_decode_move(rec->payload, rec->len, &mv, NULL) != JREC_OK)
        return 0;
    return strcmp(mv.reference, q->key) == 0;
}

/* q's movement among the undrained records: 1 found DONE (*d filled), 2
 * found PENDING, 0 not there. */
static int money_find_journal(jrn_t *j, const money_req_t *q, money_done_t *d)
{
    jrn_rec_t rec;
    uint32_t ring = 0;
    int found = money_journal_find(j, money_rec_is, (void *)q, &rec, &ring);
    if (found == 1) {
        d->balance_after = rec.balance_after;
        d->ring = ring;
        d->seq = rec.seq;
    }
    return found;
}

/* Parses "ring:<i>" and a seq into d. */
static void money_done_from(money_done_t *d, const char *bal, const char *ring,
                            const char *seq)
{
    unsigned i = 0;
    d->balance_after = strtoll(bal, NULL, 10);
    d->ring = sscanf(ring, "ring:%u", &i) == 1 ? i : 0;
    d->seq = strtoull(seq, NULL, 10);
}

/* Logs a failed statement (res cleared): MONEY_R_EDB with d->what. */
static int money_core_fail(http_req_t *r, PGresult *res, money_done_t *d,
                           const char *what)
{
    LOG_ERROR("api", 0, "%s: %s", what, PQerrorMessage(r->db));
    PQclear(res);
    d->what = what;
    return MONEY_R_EDB;
}

/* The drained side: ledger, then the rejected records (their money moved
 * in the region too). 1 found (*d filled), 0 not, MONEY_R_EDB. */
static int money_find_pg(http_req_t *r, const money_req_t *q, money_done_t *d)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%" PRId64, q->acct_id);
    const char *p[3] = { q->key, ids, q->kind };
    PGresult *res = http_exec(r,
        "SELECT balance_after, journal, journal_seq FROM ledger "
        "WHERE reference = $1 AND kind IN ('recharge', 'adjustment', "
        "'refund') AND account_id = $2 AND kind = $3", 3, p);
    if (!http_res_ok(res))
        return money_core_fail(r, res, d, "ledger search");
    if (PQntuples(res) > 0) {
        money_done_from(d, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
                        PQgetvalue(res, 0, 2));
        PQclear(res);
        return 1;
    }
    PQclear(res);

    char kind[8];
    snprintf(kind, sizeof kind, "%d", (int)q->jkind);
    const char *p2[2] = { ids, kind };
    res = PQexecParams(r->db,
        "SELECT record, coalesce(balance_after, 0)::text, journal, "
        "journal_seq::text FROM journal_rejects WHERE account_id = $1 "
        "AND kind = $2::smallint AND state = 2", 2, NULL, p2, NULL, NULL, 1);
    if (!http_res_ok(res))
        return money_core_fail(r, res, d, "journal_rejects search");
    for (int i = 0; i < PQntuples(res); i++) {
        jrn_rec_t rec;
        int n = PQgetlength(res, i, 0);
        memset(&rec, 0, sizeof rec);
        memcpy(&rec, PQgetvalue(res, i, 0),
               (size_t)n < sizeof rec ? (size_t)n : sizeof rec);
        if (rec.len <= JRN_PAYLOAD_MAX && money_rec_is(&rec, (void *)q)) {
            money_done_from(d, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                            PQgetvalue(res, i, 3));
            PQclear(res);
            return 1;
        }
    }
    PQclear(res);
    return 0;
}

/* ---- the movement ------------------------------------------------------- */

/* Marks the key done with its response (d->body, built here) and audits.
 * Failures are logged only: the money moved, the response stands (a retry
 * finds the claim pending and completes it from the journal or the
 * ledger). */
static void money_finish(http_req_t *r, const money_req_t *q, money_done_t *d)
{
    d->body = money_response(q, d);
    char *text = json_dumps(d->body, JSON_COMPACT);
    const char *p[2] = { q->key, text };
    if (text == NULL
        || money_run(r, "key done", "UPDATE idempotency_keys SET "
                     "state = 'done', response = $2::jsonb, done_at = now() "
                     "WHERE key = $1", 2, p) != 0)
        LOG_ERROR("api", 0, "%s %s of account %" PRId64 " moved (ring %u "
                  "seq %" PRIu64 ") but its key stays pending", q->kind,
                  q->key, q->acct_id, d->ring, d->seq);
    free(text);
    char object[40];
    snprintf(object, sizeof object, "account:%" PRId64, q->acct_id);
    json_t *det = json_pack("{s:s,s:o,s:o,s:s,s:I,s:I}", "key", q->key,
                            "amount", money_amount_json(q->amount),
                            "balance_after",
                            money_amount_json(d->balance_after),
                            "reason", q->reason, "ring", (json_int_t)d->ring,
                            "seq", (json_int_t)d->seq);
    if (q->call_id[0] != '\0')
        json_object_set_new(det, "call_id", json_string(q->call_id));
    if (q->batch_id > 0)
        json_object_set_new(det, "batch", json_integer(q->batch_id));
    if (http_audit_as(r, q->actor, q->kind, object, det) != 0)
        LOG_ERROR("api", 0, "%s %s of account %" PRId64 " moved but is not "
                  "in audit_log", q->kind, q->key, q->acct_id);
}

/* jrn_move's refusal as a result code. */
static int money_move_error(int rc)
{
    if (rc == JRN_EFULL)
        return MONEY_R_EFULL;
    if (rc == JRN_EBUSY)
        return MONEY_R_EACCTBUSY;
    return MONEY_R_ERANGE;
}

/* Moves the money of the claimed key q: MONEY_R_MOVED, or an error after
 * deleting the claim (nothing moved). */
static int money_move(http_req_t *r, const money_req_t *q, money_done_t *d)
{
    acct_shm_t *a = region_area(r->ctx->region, REGION_AREA_ACCOUNTS);
    const char *pk[1] = { q->key };
    jrec_move_t mv;
    uint8_t payload[JRN_PAYLOAD_MAX];
    size_t len = 0;
    int rc = JRN_EINVAL;

    memset(&mv, 0, sizeof mv);
    snprintf(mv.reference, sizeof mv.reference, "%s", q->key);
    money_copy_utf8(mv.actor, sizeof mv.actor, q->actor);
    snprintf(mv.reason, sizeof mv.reason, "%s", q->reason);

    jrn_writer_t *w = money_writer(r->ctx->jrn);
    int closed = __atomic_load_n(&a->slots[q->slot].status, __ATOMIC_RELAXED)
                 == ACCT_CLOSED;
    if (w != NULL && !closed
        && jrec_encode_move(&mv, payload, sizeof payload, &len) == JREC_OK) {
        uint64_t seq = 0;
        rc = jrn_move(w, a, q->slot, q->jkind, q->amount, q->amount,
                      payload, len, MONEY_MOVE_WAIT_MS, &seq,
                      &d->balance_after);
        d->ring = w->index;
        d->seq = seq;
    }
    if (w == NULL || closed || rc != JRN_OK) {
        money_run(r, "claim release", "DELETE FROM idempotency_keys "
                  "WHERE key = $1 AND state = 'pending'", 1, pk);
        return w == NULL ? MONEY_R_ENORING
             : closed ? MONEY_R_ECLOSED : money_move_error(rc);
    }
    money_test_crash("after_move");
    money_finish(r, q, d);
    return MONEY_R_MOVED;
}

/* No row for the key: claim it (committed), then move. */
static int money_claim(http_req_t *r, const money_req_t *q, money_done_t *d)
{
    char ids[24], amt[24], pid[16];
    snprintf(ids, sizeof ids, "%" PRId64, q->acct_id);
    snprintf(amt, sizeof amt, "%" PRId64, q->amount);
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    const char *p[8] = { q->key, q->kind, ids, amt, q->hash, pid, q->actor,
                         q->call_id[0] ? q->call_id : NULL };
    PGresult *res = http_exec(r, "INSERT INTO idempotency_keys (key, kind, "
                               "account_id, amount, request_hash, state, "
                               "owner_pid, actor, call_id) VALUES ($1, $2, "
                               "$3, $4, $5, 'pending', $6, $7, $8) "
                               "ON CONFLICT (key) DO NOTHING", 8, p);
    if (!http_res_ok(res))
        return money_core_fail(r, res, d, "key claim");
    int claimed = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    if (!claimed)                      /* only without the lock */
        return MONEY_R_EINPROGRESS;
    money_test_crash("after_claim");
    return money_move(r, q, d);
}

/* The stored response of a done key into *d. */
static int money_stored(const char *text, money_done_t *d)
{
    d->body = json_loads(text, 0, NULL);
    json_t *jn = json_object_get(d->body, "journal");
    const char *bal = json_string_value(json_object_get(d->body,
                                                        "balance_after"));
    if (d->body == NULL || bal == NULL
        || money_parse(bal, strlen(bal), &d->balance_after) != MONEY_OK) {
        LOG_ERROR("api", 0, "a stored response does not parse: %.80s", text);
        json_decref(d->body);
        d->body = NULL;
        d->what = "stored response";
        return MONEY_R_EDB;
    }
    d->ring = (uint32_t)json_integer_value(json_object_get(jn, "ring"));
    d->seq = (uint64_t)json_integer_value(json_object_get(jn, "seq"));
    return MONEY_R_REPLAYED;
}

/* A pending claim whose lock we hold: whoever claimed it is gone. */
static int money_recover(http_req_t *r, const money_req_t *q, money_done_t *d)
{
    int found = money_find_journal(r->ctx->jrn, q, d);
    if (found == 2)
        return MONEY_R_ERECOVERING;
    if (found == 0 && (found = money_find_pg(r, q, d)) < 0)
        return found;
    if (found == 1) {
        LOG_INFO("api", "%s %s of account %" PRId64 ": an abandoned claim "
                 "whose money moved (ring %u seq %" PRIu64 "): completed",
                 q->kind, q->key, q->acct_id, d->ring, d->seq);
        money_finish(r, q, d);
        return MONEY_R_RECOVERED;
    }
    LOG_INFO("api", "%s %s of account %" PRId64 ": an abandoned claim whose "
             "money never moved: taken over", q->kind, q->key, q->acct_id);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    const char *p2[2] = { q->key, pid };
    if (money_run(r, "key takeover", "UPDATE idempotency_keys SET "
                  "owner_pid = $2 WHERE key = $1", 2, p2) != 0) {
        d->what = "key takeover";
        return MONEY_R_EDB;
    }
    return money_move(r, q, d);
}

int money_apply_locked(http_req_t *r, const money_req_t *q, money_done_t *d)
{
    const char *pk[1] = { q->key };
    memset(d, 0, sizeof *d);
    PGresult *res = http_exec(r, "SELECT state, request_hash, response "
                               "FROM idempotency_keys WHERE key = $1", 1, pk);
    if (!http_res_ok(res))
        return money_core_fail(r, res, d, "key lookup");
    if (PQntuples(res) == 0) {
        PQclear(res);
        return money_claim(r, q, d);
    }
    int same = strcmp(PQgetvalue(res, 0, 1), q->hash) == 0;
    int done = strcmp(PQgetvalue(res, 0, 0), "done") == 0;
    int pending = same && !done;
    int rc = !same ? MONEY_R_EREUSED
           : done ? money_stored(PQgetvalue(res, 0, 2), d) : MONEY_R_EDB;
    PQclear(res);
    return pending ? money_recover(r, q, d) : rc;
}
