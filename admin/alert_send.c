/*
 * alert_send.c -- the sender thread of the notifications (alert.h): the
 * outbox rows that are due, one at a time, each in three steps that each
 * commit on their own:
 *
 *   1 claim    attempts + 1, next_attempt_at = now + backoff(attempts)
 *   2 deliver  webhook POST or SMTP session (alert_deliver.c), no
 *              transaction open meanwhile
 *   3 record   success: state sent (the same step that learns it);
 *              failure: last_error, or state failed after max_attempts
 *
 * Backoff after the k-th failed attempt: alert.retry_base_ms * 2^(k-1),
 * at most alert.retry_max_ms.
 *
 * NOTES
 * - Claiming before delivering makes a crash during a delivery count as
 *   an attempt: a message that kills the process cannot loop forever, and
 *   the restarted sender takes it again once its backoff has passed.
 * - The window of at-least-once: the receiver has answered 2xx (or the
 *   relay 250) but step 3 did not commit (process killed, PostgreSQL
 *   gone). The row is still pending and is sent again after its backoff,
 *   with the same outbox id (X-Apolo-Delivery, Message-ID) for the
 *   receiver to drop.
 * - A pending row whose attempts reached alert.max_attempts (the process
 *   died during its last attempt, or the key was lowered) is failed by the
 *   sweep at the start of each round.
 * - Only one admin process runs at a time, so rows are not locked against
 *   another sender; the claim's "AND state = 'pending'" still keeps a row
 *   another session marked meanwhile from being sent again.
 */
#include "admin/alert_int.h"

#include "shm/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SND_BATCH 32
#define SND_BACKOFF_MAX_MS 60000  /* longest pause after failures */

typedef struct snd {
    PGconn *db;
    int     down;
} snd_t;

static int64_t snd_backoff_ms(int64_t attempt)
{
    const alert_cfg_t *k = alert_cfg();
    int64_t d = k->retry_base_ms;
    for (int64_t i = 1; i < attempt && d < k->retry_max_ms; i++)
        d *= 2;
    return d < k->retry_max_ms ? d : k->retry_max_ms;
}

/* Fails the rows left pending at their last attempt. */
static void snd_sweep(snd_t *s)
{
    char max[24];
    snprintf(max, sizeof max, "%" PRId64, alert_cfg()->max_attempts);
    const char *p[1] = { max };
    PGresult *res = PQexecParams(s->db,
        "UPDATE alert_outbox SET state = 'failed', "
        "last_error = coalesce(last_error || '; ', '') || 'gave up after ' "
        "|| attempts || ' attempts' WHERE state = 'pending' "
        "AND attempts >= $1::int AND next_attempt_at <= now()",
        1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        LOG_ERROR("alert", 0, "outbox sweep: %s", PQerrorMessage(s->db));
    else if (atoi(PQcmdTuples(res)) > 0)
        LOG_WARN("alert", 0, "%s notification(s) failed: out of attempts "
                 "(alert.max_attempts = %s)", PQcmdTuples(res), max);
    PQclear(res);
}

/* Step 1. 1 claimed (*attempt: its number), 0 not pending any more, -1
 * PostgreSQL error (logged). */
static int snd_claim(snd_t *s, const alert_msg_t *m, int64_t *attempt)
{
    char id[24], ms[24];
    snprintf(id, sizeof id, "%" PRId64, m->id);
    snprintf(ms, sizeof ms, "%" PRId64, snd_backoff_ms(*attempt));
    const char *p[2] = { id, ms };
    PGresult *res = PQexecParams(s->db,
        "UPDATE alert_outbox SET attempts = attempts + 1, "
        "next_attempt_at = now() + $2::bigint * interval '1 millisecond' "
        "WHERE id = $1 AND state = 'pending' RETURNING attempts",
        2, NULL, p, NULL, NULL, 0);
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : -1;
    if (rc < 0)
        LOG_ERROR("alert", 0, "outbox claim %" PRId64 ": %s", m->id,
                  PQerrorMessage(s->db));
    else if (rc == 1)
        *attempt = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return rc;
}

/* Step 3. */
static void snd_record(snd_t *s, const alert_msg_t *m, int64_t attempt,
                       int ok, const char *err)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, m->id);
    int final = !ok && attempt >= alert_cfg()->max_attempts;
    const char *p[2] = { id, err };
    const char *sql = ok
        ? "UPDATE alert_outbox SET state = 'sent', sent_at = now(), "
          "last_error = NULL WHERE id = $1"
        : final
        ? "UPDATE alert_outbox SET state = 'failed', last_error = $2 "
          "WHERE id = $1"
        : "UPDATE alert_outbox SET last_error = $2 WHERE id = $1";
    if (alert_run(s->db, "outbox update", sql, ok ? 1 : 2, p) != 0)
        return;     /* still pending: sent again after its backoff */
    if (ok)
        LOG_INFO("alert", "notification %" PRId64 " (%s) sent by %s, "
                 "attempt %" PRId64, m->id, m->kind, m->channel, attempt);
    else if (final)
        LOG_WARN("alert", 0, "notification %" PRId64 " (%s) by %s FAILED "
                 "after %" PRId64 " attempts: %s", m->id, m->kind,
                 m->channel, attempt, err);
    else
        LOG_DEBUG("alert", "notification %" PRId64 " by %s: attempt %"
                  PRId64 " failed: %s", m->id, m->channel, attempt, err);
}

static void snd_one(snd_t *s, const alert_msg_t *m, int64_t attempts)
{
    char err[256] = "";
    int64_t attempt = attempts + 1;
    if (snd_claim(s, m, &attempt) != 1)
        return;
    int ok = alert_deliver(m, err, sizeof err) == 0;
    snd_record(s, m, attempt, ok, err);
}

/* One round: the sweep, then up to SND_BATCH due rows. Returns how many
 * rows were due (SND_BATCH: maybe more), or -1 (PostgreSQL error). */
static int snd_round(snd_t *s)
{
    char max[24], lim[8];
    snprintf(max, sizeof max, "%" PRId64, alert_cfg()->max_attempts);
    snprintf(lim, sizeof lim, "%d", SND_BATCH);
    snd_sweep(s);
    const char *p[2] = { max, lim };
    PGresult *res = PQexecParams(s->db,
        "SELECT id, kind, channel, coalesce(recipient, ''), payload::text, "
        "extract(epoch FROM created_at)::bigint, attempts FROM alert_outbox "
        "WHERE state = 'pending' AND attempts < $1::int "
        "AND next_attempt_at <= now() ORDER BY next_attempt_at, id LIMIT $2",
        2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        LOG_ERROR("alert", 0, "outbox read: %s", PQerrorMessage(s->db));
        PQclear(res);
        return -1;
    }
    int n = PQntuples(res);
    for (int i = 0; i < n && !alert_stopping(); i++) {
        alert_msg_t m = {
            .id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
            .kind = PQgetvalue(res, i, 1), .channel = PQgetvalue(res, i, 2),
            .recipient = PQgetvalue(res, i, 3),
            .payload = PQgetvalue(res, i, 4),
            .created = strtoll(PQgetvalue(res, i, 5), NULL, 10) };
        snd_one(s, &m, strtoll(PQgetvalue(res, i, 6), NULL, 10));
    }
    PQclear(res);
    return n;
}

void *alert_sender_main(void *arg)
{
    snd_t s = { NULL, 0 };
    int64_t poll = alert_cfg()->poll_ms, wait = poll;
    uint64_t kicks = 0;
    (void)arg;
    while (!alert_stopping()) {
        if (s.db != NULL && PQstatus(s.db) != CONNECTION_OK) {
            PQfinish(s.db);
            s.db = NULL;
        }
        if (s.db == NULL)
            s.db = alert_connect("apolo-alert-sender", &s.down);
        int n = s.db != NULL ? snd_round(&s) : -1;
        /* PostgreSQL failing: retried (and logged) less and less often */
        wait = n >= 0 ? poll : wait * 2 < SND_BACKOFF_MAX_MS ? wait * 2
             : poll > SND_BACKOFF_MAX_MS ? poll : SND_BACKOFF_MAX_MS;
        if (n < SND_BATCH)
            alert_wait(wait, n >= 0 ? &kicks : NULL);
    }
    PQfinish(s.db);
    return NULL;
}
