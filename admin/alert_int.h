/*
 * alert_int.h -- what the files of the notifications module share
 * (admin/alert.c, alert_detect.c, alert_send.c, alert_deliver.c,
 * alert_mail.c) and its unit test; not for other modules: they use
 * admin/alert.h.
 */
#ifndef APOLO_ALERT_INT_H
#define APOLO_ALERT_INT_H

#include "admin/alert.h"
#include "shm/money.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define ALERT_CH_WEBHOOK 1
#define ALERT_CH_EMAIL   2

/* The alert.* configuration: strings point into the process's conf_t,
 * which lives as long as the process. Set once by alert_start before any
 * thread of the module runs, read-only after. */
typedef struct alert_cfg {
    const char *conninfo;
    const char *webhook_url, *webhook_secret;
    const char *smtp_url, *smtp_from, *smtp_to, *smtp_user, *smtp_password;
    int64_t     poll_ms, max_attempts, timeout_ms;
    int64_t     retry_base_ms, retry_max_ms;
    int         channels;           /* ALERT_CH_* bits */
} alert_cfg_t;

struct alert {
    proc_ctx_t  *ctx;
    pthread_t    detector, sender;
    int          detector_up, sender_up;
};

/* The process's configuration (alert.c); zeroed before alert_start. */
const alert_cfg_t *alert_cfg(void);

/* 1 once alert_stop has begun: loops end, transfers abort. */
int alert_stopping(void);

/* Sleeps up to ms; returns early when stopping, and, when kicks is not
 * NULL, as soon as alert_kick() has been called since *kicks was taken
 * (*kicks is then updated: a kick during the caller's work is not lost).
 * Returns alert_stopping(). */
int alert_wait(int64_t ms, uint64_t *kicks);

/* A PostgreSQL connection named app (application_name), or NULL (logged
 * once per outage by the caller through *was_down). */
PGconn *alert_connect(const char *app, int *was_down);

/* Runs sql with text parameters; 0, or -1 with the error logged naming
 * what (res cleared). */
int alert_run(PGconn *db, const char *what, const char *sql, int n,
              const char *const *p);

/* ---- alert_detect.c: the edge of one account ---------------------------- */

enum { ALERT_LVL_OK = 0, ALERT_LVL_LOW = 1, ALERT_LVL_EMPTY = 2 };

typedef struct alert_edge {
    int64_t id;                  /* the account; 0: not known yet */
    money_t low_funds;           /* least funds seen since the last change */
    money_t threshold;           /* at the last change */
    int     level;               /* ALERT_LVL_*, -1: first sight */
} alert_edge_t;

/* The level of an account that can spend available. */
int alert_level(money_t available, money_t threshold);

/* Whether e must change for an account now at level now with funds
 * (balance + credit_limit) and threshold: 1 (and *fire = the level whose
 * event to send, 0 none) or 0. First sight is recorded silently; a level
 * going up fires; going down re-arms only when funds rose above
 * e->low_funds or the threshold changed. */
int alert_decide(const alert_edge_t *e, int now, money_t funds,
                 money_t threshold, int *fire);

/* The thread bodies (arg: the alert_t). */
void *alert_detector_main(void *arg);
void *alert_sender_main(void *arg);

/* ---- alert_deliver.c, alert_mail.c: one delivery, no PostgreSQL -------- */

/* One outbox row as the sender read it. */
typedef struct alert_msg {
    int64_t     id;
    const char *kind, *channel;
    const char *recipient;       /* email: comma-separated addresses */
    const char *payload;         /* a JSON object's text */
    long        created;         /* unix time the row was queued */
} alert_msg_t;

/* Delivers m on its channel. 0, or -1 with a reason in err (no secret in
 * it: never a URL, a password or a header). */
int alert_deliver(const alert_msg_t *m, char *err, size_t cap);

/* The email as sent (headers, empty line, body; CRLF line ends, no line
 * over 998 bytes): malloc'd, NULL if out of memory or the payload is not a
 * JSON object. Date: is m->created. For alert_deliver and the tests. */
char *alert_mail_text(const alert_msg_t *m, const char *from);

/* The webhook's body: the payload with "id" added; malloc'd, or NULL. */
char *alert_webhook_body(const alert_msg_t *m);

/* sha256=<hex HMAC-SHA256 of body with key> into out (at least 72 bytes). */
void alert_signature(const char *key, const char *body, size_t len,
                     char *out);

#endif
