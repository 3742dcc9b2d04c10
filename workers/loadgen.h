/*
 * loadgen.h -- a synthetic producer of money movements, for tests and
 * benchmarks. NOT FOR PRODUCTION: it moves real balances of real accounts
 * (debits and recharges that net to zero per pair, but every one of them
 * is journaled and lands in the ledger and cdrs).
 *
 * The supervisor forks loadgen.count of them (loadgen-1, loadgen-2, ...).
 * Each one:
 *   - claims a journal ring (jrn_writer_open) and a QSBR slot;
 *   - spreads over the first loadgen.accounts accounts of the current
 *     catalog (0: all), round robin from an offset of its own, skipping
 *     accounts that are not active;
 *   - alternates a call debit (acct_reserve the cost, then jrn_move
 *     JRN_CALL_DEBIT -cost with a CDR payload, jrec.h) and a recharge of
 *     the same amount (jrn_move JRN_RECHARGE +x, movement payload); a
 *     prepaid account without funds gets its recharge first;
 *   - names every movement uniquely: reference / call id
 *     "lg<index>-<pid>-<start epoch s>-<n>", n = 1, 2, ... (so the tests
 *     count them in PostgreSQL with LIKE 'lg%');
 *   - paces itself to loadgen.rate movements/s (0: flat out), stops after
 *     loadgen.total movements (0: never) and then idles until stopped;
 *   - passes a quiescent point every iteration, goes offline while it
 *     sleeps, logs "catalog <v> seen: <n> accounts" when a new catalog
 *     appears (the tests time reload visibility with it) and a summary
 *     with its rate when done or stopped.
 * A movement refused for a full ring (the flusher behind) is retried with
 * the same reference until it succeeds or the generator is stopped.
 *
 * Exit codes (proc.h): 0 when stopped, 1 when it cannot get a ring or a
 * QSBR slot (retry later), 2 for a configuration it cannot use.
 */
#ifndef APOLO_LOADGEN_H
#define APOLO_LOADGEN_H

#include "shm/proc.h"

int loadgen_main(proc_ctx_t *ctx);

#endif
