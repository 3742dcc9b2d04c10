/*
 * money_common.h -- what the API's money paths share (api_money.c,
 * api_ingest.c): the thread's journal writer, the per-key advisory lock and
 * small PostgreSQL helpers. Any civetweb worker thread; r->db must be set
 * for the PostgreSQL ones.
 */
#ifndef APOLO_MONEY_COMMON_H
#define APOLO_MONEY_COMMON_H

#include "admin/http.h"
#include "shm/journal.h"

#define MONEY_LOCK_WAIT_MS  5000        /* a duplicate waits this long */

/* This thread's journal writer, opened on first use and closed by a
 * pthread key destructor when the thread ends: NULL when every ring is
 * taken (logged). One per thread, shared by every module. */
jrn_writer_t *money_writer(jrn_t *j);

/* PQexecParams with text parameters and results. */
PGresult *money_exec(http_req_t *r, const char *sql, int n,
                     const char *const *p);

/* 1 when res is COMMAND_OK or TUPLES_OK. */
int money_ok(const PGresult *res);

/* Logs a failed statement (res cleared, may be NULL) and answers 503
 * (connection gone) or 500: returns the status sent. */
int money_db_fail(http_req_t *r, PGresult *res, const char *what);

/* Runs a statement whose result is not needed: 0 or -1 (logged). */
int money_run(http_req_t *r, const char *what, const char *sql, int n,
              const char *const *p);

/* The session advisory lock on hashtextextended(key, 0), retried every
 * 20 ms: 1 locked, 0 still busy after MONEY_LOCK_WAIT_MS, -1 PostgreSQL
 * error (logged). money_unlock releases it (a broken connection took it
 * along already). */
int  money_lock(http_req_t *r, const char *key);
void money_unlock(http_req_t *r, const char *key);

/* A money amount as its JSON decimal string. */
json_t *money_amount_json(money_t m);

#endif
