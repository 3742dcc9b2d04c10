/*
 * esl.h -- the FreeSWITCH worker: one process per Event Socket node
 * (esl.nodes), an inbound ESL client that authorizes, meters, cuts off and
 * records every call the node parks for billing.
 *
 *   CHANNEL_PARK (unanswered leg)   payer, direction, rate, reserve one
 *                                   debit interval; uuid_setvar
 *                                   apolo_max_seconds, a fail-safe
 *                                   sched_hangup, uuid_transfer -- or
 *                                   uuid_kill with the reason as cause
 *   CHANNEL_ANSWER                  metering starts: the reservation is
 *                                   extended one interval ahead; when it
 *                                   cannot be, uuid_kill at the second the
 *                                   money ends
 *   CHANNEL_HANGUP_COMPLETE         final cost, debit and release in one
 *                                   journaled movement with the CDR
 *
 * What the worker holds lives in the region (calls.h), so that the
 * dashboard sees it and a restarted worker adopts it. The worker never
 * talks to PostgreSQL: CDRs and debits go through the journal.
 *
 * Exit codes follow proc.h: 2 for a configuration error (a node that does
 * not parse, a wrong password: restarting cannot fix it), 1 otherwise.
 */
#ifndef APOLO_ESL_H
#define APOLO_ESL_H

#include "shm/conf.h"
#include "shm/proc.h"

#define ESL_HOST_MAX 256
#define ESL_PASS_MAX 128

typedef struct esl_node {
    char host[ESL_HOST_MAX];
    char port[8];
    char password[ESL_PASS_MAX];
} esl_node_t;

/* How many nodes esl.nodes names (the count of ESL workers), -1 if it does
 * not parse (logged). */
int esl_node_count(const conf_t *conf);

/* Node i (0-based) of a list "password@host:port, ...": 0, or -1 with the
 * reason in why (cap bytes). IPv6 hosts go in brackets: pw@[::1]:8021. */
int esl_node_parse(const char *list, int i, esl_node_t *out, char *why,
                   size_t cap);

int esl_main(proc_ctx_t *ctx);

#endif
