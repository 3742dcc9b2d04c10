/*
 * money_common.h -- what the API's money paths share (api_money.c,
 * api_ingest.c, api_bulk.c): the thread's journal writer, the per-key
 * advisory lock, small PostgreSQL helpers, and the exactly-once movement
 * itself (money_apply_locked). Any civetweb worker thread; r->db must be
 * set for the PostgreSQL ones.
 */
#ifndef APOLO_MONEY_COMMON_H
#define APOLO_MONEY_COMMON_H

#include "admin/http.h"
#include "shm/journal.h"
#include "shm/jrec.h"

#define MONEY_LOCK_WAIT_MS  5000        /* a duplicate waits this long */

/* This thread's journal writer, opened on first use and closed by a
 * pthread key destructor when the thread ends: NULL when every ring is
 * taken (logged). One per thread, shared by every module. */
jrn_writer_t *money_writer(jrn_t *j);

/* Runs a statement whose result is not needed: 0 or -1 (logged). */
int money_run(http_req_t *r, const char *what, const char *sql, int n,
              const char *const *p);

/* The session advisory lock on hashtextextended(key, 0), retried every
 * 20 ms: 1 locked, 0 still busy after MONEY_LOCK_WAIT_MS, -1 PostgreSQL
 * error (logged). money_unlock releases it (a broken connection took it
 * along already). */
int  money_lock(http_req_t *r, const char *key);
void money_unlock(http_req_t *r, const char *key);

/* Looks for a record a request may have written among the undrained
 * records of every ring: match is asked about a copy of each (never a
 * torn or reused slot's; it may fill arg). 1 found DONE (*out the copy,
 * *ring its ring), 2 found PENDING (a crash the supervisor is completing:
 * the caller answers "retry"), 0 not there (VOID records moved nothing and
 * are passed over). Search the journal before PostgreSQL: the flusher
 * commits a record's rows before it frees the slot, so a record drained
 * meanwhile is then found there; the other order could miss it. */
typedef int (*money_rec_match_fn)(const jrn_rec_t *rec, void *arg);
int money_journal_find(jrn_t *j, money_rec_match_fn match, void *arg,
                       jrn_rec_t *out, uint32_t *ring);

/* A money amount as its JSON decimal string. */
json_t *money_amount_json(money_t m);

/* ---- the exactly-once movement ----------------------------------------
 *
 * What a single recharge (api_money.c) and every row of a bulk recharge
 * (api_bulk.c) do, without writing an HTTP response: with the key's lock
 * held, look the key up in idempotency_keys and claim, replay, recover or
 * refuse; move the money with jrn_move (the record's reference is the key);
 * mark the key done with its response and audit. api_money.c's header
 * comment tells the protocol and why it is exactly once across crashes.
 */

#define MONEY_KEY_MAX     64                   /* = JREC_REFERENCE_MAX */
#define MONEY_AMOUNT_MAX  ((money_t)1 << 50)   /* account.h's bound */
#define MONEY_ACTOR_MAX   64                   /* users.username */

/* One movement to make. */
typedef struct money_req {
    const char *kind;          /* ledger.kind: recharge, adjustment, refund */
    jrn_kind_t  jkind;
    int64_t     acct_id;
    uint32_t    slot;          /* the account's region slot (the catalog) */
    money_t     amount;
    int64_t     batch_id;      /* > 0: a bulk row (named in the audit) */
    char        key[MONEY_KEY_MAX + 1];
    char        actor[MONEY_ACTOR_MAX + 1];  /* who asked (journal: cut) */
    char        reason[JREC_REASON_MAX + 1];
    char        call_id[JREC_CALL_ID_MAX + 1];
    char        hash[65];      /* money_req_hash() */
} money_req_t;

/* Where it landed. */
typedef struct money_done {
    money_t     balance_after;
    uint32_t    ring;
    uint64_t    seq;
    json_t     *body;          /* successes: the response (caller decrefs) */
    const char *what;          /* MONEY_R_EDB: what failed */
} money_done_t;

typedef enum {
    MONEY_R_MOVED = 0,         /* moved now; key done, audited */
    MONEY_R_REPLAYED = 1,      /* the key was done: its stored response */
    MONEY_R_RECOVERED = 2,     /* an abandoned claim whose money had moved:
                                  completed now, nothing moved again */
    MONEY_R_EREUSED = -1,      /* the key is another request's */
    MONEY_R_EINPROGRESS = -2,  /* claimed meanwhile by a request without
                                  the lock */
    MONEY_R_ERECOVERING = -3,  /* its record is PENDING: the supervisor is
                                  completing a dead producer's movement */
    MONEY_R_ECLOSED = -4,      /* the account is closed */
    MONEY_R_ENORING = -5,      /* no journal ring for this thread */
    MONEY_R_EFULL = -6,        /* the journal is full */
    MONEY_R_EACCTBUSY = -7,    /* the account's movement lock stayed taken */
    MONEY_R_ERANGE = -8,       /* the balance would leave its bounds */
    MONEY_R_EDB = -9           /* PostgreSQL failed (logged; d->what) */
} money_result_t;

/* BLAKE2b-256 (hex) of what q asks (kind, account, amount, reason, call
 * id) into q->hash: a key sent again must ask the same. */
void money_req_hash(money_req_t *q);

/* The movement of q, with the lock on q->key held by the caller
 * (money_lock, or a lock that covers the key: a bulk batch's). r supplies
 * the PostgreSQL connection, the region and the journal; nothing is
 * written on r->conn. Returns a money_result_t; *d is filled for the
 * successes (d->body set) and d->what for MONEY_R_EDB. On every error
 * nothing moved and no claim of this call is left behind. */
int money_apply_locked(http_req_t *r, const money_req_t *q, money_done_t *d);

/* money_lock without waiting: 1 locked, 0 busy, -1 PostgreSQL error. */
int money_trylock(http_req_t *r, const char *key);

/* Copies s into dst (cap bytes) cut at a UTF-8 character boundary. */
void money_copy_utf8(char *dst, size_t cap, const char *s);

#endif
