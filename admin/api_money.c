/*
 * api_money.c -- recharges, adjustments and refunds through the API,
 * exactly once, and an account's ledger (see admin/README.md).
 *
 *   POST /api/v1/accounts/{id}/recharges    amount > 0, reason optional
 *   POST /api/v1/accounts/{id}/adjustments  amount != 0, reason required
 *   POST /api/v1/accounts/{id}/refunds      amount > 0, reason required,
 *                                           call_id optional
 *   GET  /api/v1/ledger?account=<id>[&before=<ledger id>][&limit=]
 *
 * The money moves in the region and the journal together (jrn_move); the
 * journal record's reference is the request's Idempotency-Key, which is
 * what makes the movement findable after a crash. One request on a key:
 *
 *   catalog: account -> slot (QSBR online), then offline
 *   pg_try_advisory_lock(hashtextextended(key, 0))   busy 5 s -> 409
 *   SELECT the key's row
 *     done, same request      -> 200 the stored response, replayed
 *     other request           -> 422
 *     pending, same request   -> abandoned (its session, and its lock, are
 *                                gone): look for the reference in the
 *                                journal, then ledger, then journal_rejects;
 *                                found -> done, 200 replayed; else move
 *     none                    -> INSERT pending (committed)
 *   jrn_move                  (refused: the claim is deleted, nothing moved)
 *   UPDATE done + response, audit_log            -> 201
 *   pg_advisory_unlock
 *
 * Why a session advisory lock rather than the claimer's pid: a lock dies
 * with the session that holds it, so "somebody is working on this key" is
 * exact. A pid is not: a restarted admin process may get the dead one's
 * pid back, and a request of this very process that failed after its
 * claim (PostgreSQL lost while marking done) would leave its key "ours"
 * and answer 409 for ever. owner_pid is kept as information only.
 *
 * Order of the recovery search: journal first, then PostgreSQL. The flusher
 * commits a record's ledger row (or its journal_rejects row) before it
 * releases the slot, so a record gone from the journal when the scan
 * passes is already committed when the SELECT runs; the other order could
 * miss a record drained between the two looks.
 *
 * Each civetweb thread appends with its own journal writer (one ring),
 * opened by its first movement and closed by a pthread key destructor when
 * the thread ends: journal.rings must cover admin.threads plus the workers.
 * The writer, the key lock and the statement helpers are shared with
 * api_ingest.c (money_common.h): one ring per thread whatever it posts.
 *
 * NOTES
 * - APOLO_TEST_CRASH_MONEY=after_claim|after_move makes the handler
 *   _exit(137) right after the claim is committed or right after the money
 *   moved: the tests' way to prove exactly-once across a crash. Test-only;
 *   it does nothing when unset.
 * - The journal's actor holds at most JREC_ACTOR_MAX (32) bytes: a longer
 *   user name is cut at a character boundary there (audit_log keeps it
 *   whole).
 * - A record that is still PENDING during the search belongs to a process
 *   the supervisor is recovering: 409, retry.
 */
#include "admin/api.h"

#include "admin/http.h"
#include "admin/money_common.h"
#include "shm/account.h"
#include "shm/catalog.h"
#include "shm/journal.h"
#include "shm/jrec.h"
#include "shm/log.h"
#include "shm/money.h"

#include <civetweb.h>
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MONEY_KEY_MAX       64          /* = JREC_REFERENCE_MAX */
#define MONEY_AMOUNT_MAX    ((money_t)1 << 50)   /* account.h's bound */
#define MONEY_MOVE_WAIT_MS  2000        /* jrn_move: room and account lock */
#define MONEY_LEDGER_LIMIT  50
#define MONEY_LEDGER_MAX    500

typedef struct money_kind {
    const char *path;       /* subpath after "{id}/" */
    const char *name;       /* ledger.kind, idempotency_keys.kind */
    jrn_kind_t  jkind;
    int         sign;       /* 1: > 0, 0: != 0 */
    int         need_reason;
    int         call_id;    /* accepts call_id */
} money_kind_t;

static const money_kind_t money_kinds[] = {
    { "recharges", "recharge", JRN_RECHARGE, 1, 0, 0 },
    { "adjustments", "adjustment", JRN_ADJUSTMENT, 0, 1, 0 },
    { "refunds", "refund", JRN_REFUND, 1, 1, 1 },
};

/* One request to move money. */
typedef struct money_req {
    const money_kind_t *k;
    int64_t  acct_id;
    uint32_t slot;
    money_t  amount;
    char     key[MONEY_KEY_MAX + 1];
    char     reason[JREC_REASON_MAX + 1];
    char     call_id[JREC_CALL_ID_MAX + 1];
    char     hash[crypto_generichash_BYTES * 2 + 1];
} money_req_t;

/* Where a movement landed. */
typedef struct money_done {
    money_t  balance_after;
    uint32_t ring;
    uint64_t seq;
} money_done_t;

/* ---- helpers ---------------------------------------------------------------- */

/* "/api/v1/accounts/" subpath "<id>/<what>": the id (> 0) and what, or 0. */
static int64_t money_path(const http_req_t *r, const char **what)
{
    const char *s = r->subpath, *slash = strchr(s, '/');
    if (slash == NULL || slash == s || slash - s > 18)
        return 0;
    int64_t id = 0;
    for (const char *p = s; p < slash; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        id = id * 10 + (*p - '0');
    }
    *what = slash + 1;
    return id;
}

/* The key: 1..64 of [A-Za-z0-9_.:-]. */
static int money_key_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MONEY_KEY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':'
              || c == '-'))
            return 0;
    }
    return 1;
}

/* At most MONEY_DECIMALS digits after the point (money_parse would also
 * accept trailing zeros beyond them). */
static int money_decimals_ok(const char *s)
{
    const char *dot = strchr(s, '.');
    return dot == NULL || strlen(dot + 1) <= MONEY_DECIMALS;
}

/* Copies s into dst (cap bytes) cut at a UTF-8 character boundary. */
static void money_copy_utf8(char *dst, size_t cap, const char *s)
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

/* The 201 body (also stored as the key's response). */
static json_t *money_response(const money_req_t *q, const money_done_t *d)
{
    return json_pack("{s:I,s:s,s:o,s:o,s:s,s:{s:I,s:I}}",
                     "account_id", (json_int_t)q->acct_id,
                     "kind", q->k->name,
                     "amount", money_amount_json(q->amount),
                     "balance_after", money_amount_json(d->balance_after),
                     "reference", q->key,
                     "journal", "ring", (json_int_t)d->ring,
                     "seq", (json_int_t)d->seq);
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

/* ---- recovery: did the movement of an abandoned claim happen? --------------- */

/* Whether the movement record rec (a copy) is q's: 1 yes, 0 no. */
static int money_rec_is(const jrn_rec_t *rec, const money_req_t *q)
{
    jrec_move_t mv;
    if (rec->kind != (uint8_t)q->k->jkind || rec->acct_id != q->acct_id
        || rec->len > JRN_PAYLOAD_MAX)
        return 0;
    if (jrec_decode_move(rec->payload, rec->len, &mv, NULL) != JREC_OK)
        return 0;
    return strcmp(mv.reference, q->key) == 0;
}

/* Scans the undrained records of every ring: 1 found DONE (*d filled),
 * 2 found PENDING (a crash the supervisor is completing), 0 not there. */
static int money_find_journal(jrn_t *j, const money_req_t *q, money_done_t *d)
{
    jrn_rec_t rec;
    for (uint32_t i = 0; i < j->hdr->nrings; i++) {
        jrn_ring_t *ring = jrn_ring(j, i);
        uint64_t tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
        uint64_t head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE);
        for (uint64_t seq = tail; seq < head; seq++) {
            const jrn_rec_t *p = jrn_rec(j, i, seq);
            uint8_t st = __atomic_load_n(&p->state, __ATOMIC_ACQUIRE);
            memcpy(&rec, p, sizeof rec);
            /* a slot reused since the tail was read: that record was
             * drained, and the ledger search finds it */
            if (rec.seq != seq || !money_rec_is(&rec, q))
                continue;
            if (st == JRN_REC_PENDING)
                return 2;
            if (st != JRN_REC_DONE)
                continue;                  /* VOID: moved nothing */
            d->balance_after = rec.balance_after;
            d->ring = i;
            d->seq = seq;
            return 1;
        }
    }
    return 0;
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

/* The drained side: ledger, then the rejected records (their money moved
 * in the region too). 1 found (*d filled), 0 not, -1 PostgreSQL error
 * (answered). */
static int money_find_pg(http_req_t *r, const money_req_t *q, money_done_t *d)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%" PRId64, q->acct_id);
    const char *p[3] = { q->key, ids, q->k->name };
    PGresult *res = money_exec(r,
        "SELECT balance_after, journal, journal_seq FROM ledger "
        "WHERE reference = $1 AND kind IN ('recharge', 'adjustment', "
        "'refund') AND account_id = $2 AND kind = $3", 3, p);
    if (!money_ok(res))
        return money_db_fail(r, res, "ledger search"), -1;
    if (PQntuples(res) > 0) {
        money_done_from(d, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
                        PQgetvalue(res, 0, 2));
        PQclear(res);
        return 1;
    }
    PQclear(res);

    char kind[8];
    snprintf(kind, sizeof kind, "%d", (int)q->k->jkind);
    const char *p2[2] = { ids, kind };
    res = PQexecParams(r->db,
        "SELECT record, coalesce(balance_after, 0)::text, journal, "
        "journal_seq::text FROM journal_rejects WHERE account_id = $1 "
        "AND kind = $2::smallint AND state = 2", 2, NULL, p2, NULL, NULL, 1);
    if (!money_ok(res))
        return money_db_fail(r, res, "journal_rejects search"), -1;
    for (int i = 0; i < PQntuples(res); i++) {
        jrn_rec_t rec;
        int n = PQgetlength(res, i, 0);
        memset(&rec, 0, sizeof rec);
        memcpy(&rec, PQgetvalue(res, i, 0),
               (size_t)n < sizeof rec ? (size_t)n : sizeof rec);
        if (money_rec_is(&rec, q)) {
            money_done_from(d, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                            PQgetvalue(res, i, 3));
            PQclear(res);
            return 1;
        }
    }
    PQclear(res);
    return 0;
}

/* ---- the movement ------------------------------------------------------------ */

/* Marks the key done with body (not stolen) and audits. Failures are
 * logged only: the money moved, the response stands (a retry finds the
 * claim pending and completes it from the journal or the ledger). */
static void money_finish(http_req_t *r, const money_req_t *q,
                         const json_t *body, const money_done_t *d)
{
    char *text = json_dumps(body, JSON_COMPACT);
    const char *p[2] = { q->key, text };
    if (text == NULL
        || money_run(r, "key done", "UPDATE idempotency_keys SET "
                     "state = 'done', response = $2::jsonb, done_at = now() "
                     "WHERE key = $1", 2, p) != 0)
        LOG_ERROR("api", 0, "%s %s of account %" PRId64 " moved (ring %u "
                  "seq %" PRIu64 ") but its key stays pending", q->k->name,
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
    if (http_audit(r, q->k->name, object, det) != 0)
        LOG_ERROR("api", 0, "%s %s of account %" PRId64 " moved but is not "
                  "in audit_log", q->k->name, q->key, q->acct_id);
}

/* Moves the money of the claimed key q: answers 201, or an error after
 * deleting the claim (nothing moved). */
static int money_move(http_req_t *r, money_req_t *q)
{
    acct_shm_t *a = region_area(r->ctx->region, REGION_AREA_ACCOUNTS);
    const char *pk[1] = { q->key };
    money_done_t d = { 0, 0, 0 };
    jrec_move_t mv;
    uint8_t payload[JRN_PAYLOAD_MAX];
    size_t len = 0;
    int rc = JRN_EINVAL;

    memset(&mv, 0, sizeof mv);
    snprintf(mv.reference, sizeof mv.reference, "%s", q->key);
    money_copy_utf8(mv.actor, sizeof mv.actor, r->user);
    snprintf(mv.reason, sizeof mv.reason, "%s", q->reason);

    jrn_writer_t *w = money_writer(r->ctx->jrn);
    int closed = __atomic_load_n(&a->slots[q->slot].status, __ATOMIC_RELAXED)
                 == ACCT_CLOSED;
    if (w != NULL && !closed
        && jrec_encode_move(&mv, payload, sizeof payload, &len) == JREC_OK) {
        uint64_t seq = 0;
        rc = jrn_move(w, a, q->slot, q->k->jkind, q->amount, q->amount,
                      payload, len, MONEY_MOVE_WAIT_MS, &seq,
                      &d.balance_after);
        d.ring = w->index;
        d.seq = seq;
    }
    if (w == NULL || closed || rc != JRN_OK) {
        money_run(r, "claim release", "DELETE FROM idempotency_keys "
                  "WHERE key = $1 AND state = 'pending'", 1, pk);
        if (w == NULL)
            return http_error(r, 503, "unavailable", "no journal ring for "
                              "this thread");
        if (closed)
            return http_error(r, 422, "validation", "account %" PRId64
                              " is closed", q->acct_id);
        if (rc == JRN_EFULL)
            return http_error(r, 503, "unavailable", "the journal is full; "
                              "retry");
        if (rc == JRN_EBUSY)
            return http_error(r, 409, "conflict", "the account is busy; "
                              "retry");
        return http_error(r, 422, "validation", "the balance would leave "
                          "its bounds");
    }
    money_test_crash("after_move");
    json_t *body = money_response(q, &d);
    money_finish(r, q, body, &d);
    return http_json(r, 201, body);
}

/* Answers a stored or recovered response as a replay. */
static int money_replay(http_req_t *r, json_t *body)
{
    http_header(r, "Idempotent-Replayed", "true");
    return http_json(r, 200, body);
}

/* With the key's lock held: claim, recover or replay, then move. */
static int money_locked(http_req_t *r, money_req_t *q)
{
    char ids[24], amt[24], pid[16];
    snprintf(ids, sizeof ids, "%" PRId64, q->acct_id);
    snprintf(amt, sizeof amt, "%" PRId64, q->amount);
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    const char *pk[1] = { q->key };

    PGresult *res = money_exec(r, "SELECT state, request_hash, response "
                               "FROM idempotency_keys WHERE key = $1", 1, pk);
    if (!money_ok(res))
        return money_db_fail(r, res, "key lookup");
    if (PQntuples(res) == 0) {
        PQclear(res);
        const char *p[8] = { q->key, q->k->name, ids, amt, q->hash, pid,
                             r->user, q->call_id[0] ? q->call_id : NULL };
        res = money_exec(r, "INSERT INTO idempotency_keys (key, kind, "
                         "account_id, amount, request_hash, state, owner_pid, "
                         "actor, call_id) VALUES ($1, $2, $3, $4, $5, "
                         "'pending', $6, $7, $8) ON CONFLICT (key) DO NOTHING",
                         8, p);
        if (!money_ok(res))
            return money_db_fail(r, res, "key claim");
        int claimed = strcmp(PQcmdTuples(res), "1") == 0;
        PQclear(res);
        if (!claimed)                      /* only without the lock */
            return http_error(r, 409, "conflict", "idempotency key in "
                              "progress; retry");
        money_test_crash("after_claim");
        return money_move(r, q);
    }
    int same = strcmp(PQgetvalue(res, 0, 1), q->hash) == 0;
    int done = strcmp(PQgetvalue(res, 0, 0), "done") == 0;
    if (!same) {
        PQclear(res);
        return http_error(r, 422, "validation", "idempotency key reused for "
                          "another request");
    }
    if (done) {
        json_t *body = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
        PQclear(res);
        if (body == NULL)
            return http_error(r, 500, "internal", "stored response");
        return money_replay(r, body);
    }
    PQclear(res);

    /* pending, and we hold its lock: whoever claimed it is gone */
    money_done_t d;
    int found = money_find_journal(r->ctx->jrn, q, &d);
    if (found == 2)
        return http_error(r, 409, "conflict", "the movement is being "
                          "recovered; retry");
    if (found == 0 && (found = money_find_pg(r, q, &d)) < 0)
        return r->status;
    if (found == 1) {
        LOG_INFO("api", "%s %s of account %" PRId64 ": an abandoned claim "
                 "whose money moved (ring %u seq %" PRIu64 "): completed",
                 q->k->name, q->key, q->acct_id, d.ring, d.seq);
        json_t *body = money_response(q, &d);
        money_finish(r, q, body, &d);
        return money_replay(r, body);
    }
    LOG_INFO("api", "%s %s of account %" PRId64 ": an abandoned claim whose "
             "money never moved: taken over", q->k->name, q->key, q->acct_id);
    const char *p2[2] = { q->key, pid };
    if (money_run(r, "key takeover", "UPDATE idempotency_keys SET "
                  "owner_pid = $2 WHERE key = $1", 2, p2) != 0)
        return http_unavailable(r);
    return money_move(r, q);
}

/* Validates the body into q: 0, or the status answered. */
static int money_parse_body(http_req_t *r, money_req_t *q)
{
    json_t *body;
    money_t m;
    if (http_read_json(r, 0, &body) != 0)
        return r->status;
    json_t *ja = json_object_get(body, "amount");
    json_t *jr = json_object_get(body, "reason");
    json_t *jc = json_object_get(body, "call_id");
    int bad = 0;
    if (!json_is_string(ja) || (jr != NULL && !json_is_string(jr))
        || (jc != NULL && !json_is_string(jc)))
        bad = http_error(r, 400, "validation", "amount is a decimal string "
                         "(\"10.50\"); reason and call_id are strings");
    else if (jc != NULL && !q->k->call_id)
        bad = http_error(r, 422, "validation", "call_id: only for refunds");
    else if (!money_decimals_ok(json_string_value(ja))
             || http_money(ja, &m) != 0)
        bad = http_error(r, 422, "validation", "amount: a decimal with at "
                         "most %d decimals", MONEY_DECIMALS);
    else if (m > MONEY_AMOUNT_MAX || m < -MONEY_AMOUNT_MAX)
        bad = http_error(r, 422, "validation", "amount: out of bounds");
    else if (q->k->sign ? m <= 0 : m == 0)
        bad = http_error(r, 422, "validation", "amount: must be %s",
                         q->k->sign ? "> 0" : "!= 0");
    else if (jr != NULL && (json_string_length(jr) > JREC_REASON_MAX
             || strlen(json_string_value(jr)) != json_string_length(jr)))
        bad = http_error(r, 422, "validation", "reason: at most %d bytes",
                         JREC_REASON_MAX);
    else if (q->k->need_reason && (jr == NULL || json_string_length(jr) == 0))
        bad = http_error(r, 422, "validation", "reason is required");
    else if (jc != NULL && (json_string_length(jc) == 0
             || json_string_length(jc) > JREC_CALL_ID_MAX
             || strlen(json_string_value(jc)) != json_string_length(jc)))
        bad = http_error(r, 422, "validation", "call_id: 1 to %d bytes",
                         JREC_CALL_ID_MAX);
    if (!bad) {
        q->amount = m;
        snprintf(q->reason, sizeof q->reason, "%s",
                 jr != NULL ? json_string_value(jr) : "");
        snprintf(q->call_id, sizeof q->call_id, "%s",
                 jc != NULL ? json_string_value(jc) : "");
    }
    json_decref(body);
    return bad;
}

/* BLAKE2b-256 (hex) of what the request asks: a replay must ask the same. */
static void money_hash(money_req_t *q)
{
    char text[256];
    unsigned char h[crypto_generichash_BYTES];
    int n = snprintf(text, sizeof text, "%s\n%" PRId64 "\n%" PRId64 "\n",
                     q->k->name, q->acct_id, q->amount);
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

static int money_post(http_req_t *r)
{
    money_req_t q;
    const char *what = NULL;

    memset(&q, 0, sizeof q);
    q.acct_id = money_path(r, &what);
    for (size_t i = 0; q.acct_id > 0
         && i < sizeof money_kinds / sizeof money_kinds[0]; i++)
        if (strcmp(what, money_kinds[i].path) == 0)
            q.k = &money_kinds[i];
    if (q.k == NULL)
        return http_error(r, 404, "not_found", "no such path");
    const char *key = mg_get_header(r->conn, "Idempotency-Key");
    if (key == NULL || !money_key_ok(key))
        return http_error(r, 400, "validation", "header Idempotency-Key: 1 "
                          "to 64 of A-Z a-z 0-9 _ . : - is required");
    snprintf(q.key, sizeof q.key, "%s", key);
    if (money_parse_body(r, &q) != 0)
        return r->status;

    /* the catalog, while online; the slot is never reused afterwards */
    const cat_hdr_t *c = r->rd != NULL ? cat_current(r->ctx->region) : NULL;
    const cat_acct_t *ca = c != NULL ? cat_account(c, q.acct_id) : NULL;
    if (ca != NULL)
        q.slot = ca->slot;
    if (r->rd != NULL)
        qsbr_offline(r->rd);
    if (ca == NULL)
        return http_error(r, 404, "not_found", "no account %" PRId64,
                          q.acct_id);
    const acct_shm_t *a = region_area(r->ctx->region, REGION_AREA_ACCOUNTS);
    if (__atomic_load_n(&a->slots[q.slot].status, __ATOMIC_RELAXED)
        == ACCT_CLOSED)
        return http_error(r, 422, "validation", "account %" PRId64
                          " is closed", q.acct_id);
    if (r->db == NULL)
        return http_unavailable(r);

    money_hash(&q);
    int locked = money_lock(r, q.key);
    if (locked < 0)
        return money_db_fail(r, NULL, "key lock");
    if (locked == 0)
        return http_error(r, 409, "conflict", "idempotency key in progress; "
                          "retry");
    int rc = money_locked(r, &q);
    money_unlock(r, q.key);
    return rc;
}

/* ---- the ledger ----------------------------------------------------------------- */

static int money_ledger(http_req_t *r)
{
    char before[24], limit[24], ids[24];
    int64_t id = 0;
    if (http_query(r, "account", ids, sizeof ids) != NULL) {
        char *e;
        errno = 0;
        id = strtoll(ids, &e, 10);
        if (errno != 0 || e == ids || *e != '\0' || id <= 0)
            id = 0;
    }
    if (id <= 0)
        return http_error(r, 422, "validation", "account: an account id");
    if (r->rd != NULL)
        qsbr_offline(r->rd);            /* PostgreSQL only */
    if (r->db == NULL)
        return http_unavailable(r);

    long long lim = MONEY_LEDGER_LIMIT, bef = 0;
    char *end;
    if (http_query(r, "limit", limit, sizeof limit) != NULL) {
        errno = 0;
        lim = strtoll(limit, &end, 10);
        if (errno != 0 || end == limit || *end != '\0' || lim < 1
            || lim > MONEY_LEDGER_MAX)
            return http_error(r, 422, "validation", "limit: 1 to %d",
                              MONEY_LEDGER_MAX);
    }
    if (http_query(r, "before", before, sizeof before) != NULL) {
        errno = 0;
        bef = strtoll(before, &end, 10);
        if (errno != 0 || end == before || *end != '\0' || bef < 1)
            return http_error(r, 422, "validation", "before: a ledger id");
    }
    snprintf(ids, sizeof ids, "%" PRId64, id);
    snprintf(limit, sizeof limit, "%lld", lim);
    snprintf(before, sizeof before, "%lld", bef);

    const char *p1[1] = { ids };
    PGresult *res = money_exec(r, "SELECT 1 FROM accounts WHERE id = $1",
                               1, p1);
    if (!money_ok(res))
        return money_db_fail(r, res, "account lookup");
    int known = PQntuples(res) == 1;
    PQclear(res);
    if (!known)
        return http_error(r, 404, "not_found", "no account %" PRId64, id);

    const char *p[3] = { ids, bef > 0 ? before : NULL, limit };
    res = money_exec(r,
        "SELECT id, kind, amount, balance_after, reference, extension, "
        "journal, journal_seq, to_char(at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), actor, reason FROM ledger "
        "WHERE account_id = $1 AND ($2::bigint IS NULL OR id < $2) "
        "ORDER BY id DESC LIMIT $3", 3, p);
    if (!money_ok(res))
        return money_db_fail(r, res, "ledger list");
    json_t *arr = json_array();
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        json_t *e = json_pack("{s:I,s:s,s:o,s:o,s:s}",
            "id", (json_int_t)strtoll(PQgetvalue(res, i, 0), NULL, 10),
            "kind", PQgetvalue(res, i, 1),
            "amount", money_amount_json(strtoll(PQgetvalue(res, i, 2),
                                                NULL, 10)),
            "balance_after", money_amount_json(strtoll(PQgetvalue(res, i, 3),
                                                       NULL, 10)),
            "at", PQgetvalue(res, i, 8));
        static const struct { int col; const char *name; } opt[] = {
            { 4, "reference" }, { 5, "extension" }, { 6, "journal" },
            { 9, "actor" }, { 10, "reason" } };
        for (size_t o = 0; o < sizeof opt / sizeof opt[0]; o++)
            json_object_set_new(e, opt[o].name,
                                PQgetisnull(res, i, opt[o].col) ? json_null()
                                : json_string(PQgetvalue(res, i,
                                                         opt[o].col)));
        json_object_set_new(e, "journal_seq", PQgetisnull(res, i, 7)
                            ? json_null()
                            : json_integer(strtoll(PQgetvalue(res, i, 7),
                                                   NULL, 10)));
        json_array_append_new(arr, e);
    }
    json_t *next = n == lim ? json_integer(strtoll(PQgetvalue(res, n - 1, 0),
                                                   NULL, 10))
                            : json_null();
    PQclear(res);
    return http_json(r, 200, json_pack("{s:I,s:o,s:o}", "account_id",
                                       (json_int_t)id, "entries", arr,
                                       "next_before", next));
}

const http_route_t api_money_routes[] = {
    { "POST", "/api/v1/accounts/", HTTP_ROLE_OPERATOR, money_post },
    /* /api/v1/accounts/{id}/ledger is shadowed by api_accounts.c's GET
     * prefix (http.c routes on the prefix, then the first table): */
    { "GET", "/api/v1/ledger", HTTP_ROLE_VIEWER, money_ledger },
    { NULL, NULL, HTTP_ROLE_NONE, NULL }
};
