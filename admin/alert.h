/*
 * alert.h -- notifications: low balance, balance exhausted, bulk-recharge
 * reports and test messages, by webhook and by email, through an outbox in
 * PostgreSQL (sql/008_alerts.sql).
 *
 *   producers                      alert_outbox (one row per message and
 *   - the detector (below)   --->  channel: pending -> sent | failed)
 *   - alert_enqueue() callers               |
 *     (bulk recharges, the API)             v
 *                                  the sender: webhook POST / SMTP (libcurl)
 *
 * Two threads of the admin process, started by alert_start():
 *
 *   detector  every alert.poll_ms reads the live account slots of the
 *             region (under its own QSBR reader, offline between scans) and
 *             compares what each account can spend (slot headroom = balance
 *             + credit_limit - reserved, what acct_reserve checks) with its
 *             low_balance_threshold (in the slot; NULL/0: not watched).
 *             Edge triggered, state persisted in alert_state: one
 *             low_balance when it goes below the threshold, one
 *             balance_exhausted when nothing is left; re-armed when money
 *             comes in (recharge, refund, a raised credit limit) and the
 *             account is back above.
 *   sender    takes due pending rows, delivers them, marks them sent or
 *             schedules the next attempt (exponential backoff from
 *             alert.retry_base_ms to alert.retry_max_ms); after
 *             alert.max_attempts the row is failed (logged once).
 *
 * Delivery is at-least-once: a process killed between the receiver's
 * success and the UPDATE that records it sends that message again after
 * the restart. Every delivery carries its outbox id (webhook header
 * X-Apolo-Delivery and body "id"; email Message-ID
 * <apolo-alert-ID@domain>) so that receivers can drop duplicates.
 *
 * Configuration: the alert.* keys (shm/conf.c). Neither alert.webhook_url
 * nor alert.smtp_url set: notifications are off (alert_start returns NULL,
 * alert_enqueue queues nothing).
 */
#ifndef APOLO_ALERT_H
#define APOLO_ALERT_H

#include "shm/proc.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

typedef struct alert alert_t;

/*
 * Starts the detector and the sender (threads of the admin process). Main
 * thread of the admin process, once, before the HTTP server serves. NULL
 * when notifications are off or on failure (logged: a bad alert.* value, a
 * thread that cannot start); the process goes on without them. PostgreSQL
 * being down is not a failure: each thread reconnects on its own.
 */
alert_t *alert_start(proc_ctx_t *ctx);

/* Stops and joins both threads (an SMTP session or POST in progress is
 * aborted; its attempt counts) and frees a. NULL: nothing. */
void     alert_stop(alert_t *a);

/*
 * Queues one message of kind (1..32 of a-z and '_': "bulk_report",
 * "test", ...) about account_id (0: none) with payload (a JSON object,
 * borrowed: the caller keeps its reference) for every configured channel:
 * the webhook, and email to accounts.notify_email when the account has one,
 * else to alert.smtp_to. Any thread of the admin process, on the caller's
 * connection: inside the caller's open transaction the rows commit or roll
 * back with it (and a failure aborts that transaction, as any failed
 * statement does); outside one they commit at once. The sender finds them
 * within alert.poll_ms of the commit (alert_kick() wakes it at once).
 *
 * Returns the number of rows queued (0: no channel configured, or email
 * only and no recipient), or -1 (bad kind or payload, PostgreSQL error:
 * logged). Never logs the payload.
 */
int alert_enqueue(PGconn *db, const char *kind, int64_t account_id,
                  json_t *payload);

/* alert_enqueue that also appends the new outbox ids (JSON integers) to
 * ids (an array; NULL: not wanted). */
int alert_enqueue_ids(PGconn *db, const char *kind, int64_t account_id,
                      json_t *payload, json_t *ids);

/* Wakes the sender now (call after committing rows you queued). Safe from
 * any thread, also when notifications are off or stopped. */
void alert_kick(void);

/* The configured channels: 1 webhook, 2 email, 3 both, 0 none (before
 * alert_start: 0). */
int alert_channels(void);

#endif
