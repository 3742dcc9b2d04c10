/*
 * alert.c -- notifications: start and stop, the process-wide configuration
 * and wake-up, and alert_enqueue (see alert.h). The detector is in
 * alert_detect.c, the sender in alert_send.c, one delivery (libcurl) in
 * alert_deliver.c, the messages' format in alert_mail.c; what they share
 * in alert_int.h.
 *
 * NOTES
 * - The wake-up (mutex, condition variable, kick counter, stop flag) is
 *   static, not part of alert_t: HTTP handlers may call alert_kick() while
 *   alert_stop runs (admin.c stops the module before the HTTP server), and
 *   static storage is never freed under them.
 * - alert_enqueue reads only the static configuration and the caller's
 *   connection, so other modules may call it whether or not the threads
 *   run; rows queued while they do not are sent after the next start.
 * - curl_global_init runs once here, in the admin process's main thread
 *   before the threads start (libcurl 7.88 would tolerate it later too).
 */
#include "admin/alert_int.h"

#include "shm/conf.h"
#include "shm/log.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static alert_cfg_t     alert_conf;
static pthread_mutex_t alert_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  alert_cv;
static pthread_once_t  alert_cv_once = PTHREAD_ONCE_INIT;
static uint64_t        alert_kicks;          /* under alert_mu */
static int             alert_stop_flag;      /* atomic */

const alert_cfg_t *alert_cfg(void)
{
    return &alert_conf;
}

int alert_channels(void)
{
    return __atomic_load_n(&alert_conf.channels, __ATOMIC_ACQUIRE);
}

int alert_stopping(void)
{
    return __atomic_load_n(&alert_stop_flag, __ATOMIC_ACQUIRE);
}

/* ---- waiting and waking ------------------------------------------------ */

static void alert_cv_init(void)
{
    pthread_condattr_t at;
    pthread_condattr_init(&at);
    pthread_condattr_setclock(&at, CLOCK_MONOTONIC);
    pthread_cond_init(&alert_cv, &at);
    pthread_condattr_destroy(&at);
}

void alert_kick(void)
{
    pthread_once(&alert_cv_once, alert_cv_init);
    pthread_mutex_lock(&alert_mu);
    alert_kicks++;
    pthread_cond_broadcast(&alert_cv);
    pthread_mutex_unlock(&alert_mu);
}

int alert_wait(int64_t ms, uint64_t *kicks)
{
    struct timespec until;
    pthread_once(&alert_cv_once, alert_cv_init);
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&alert_mu);
    while (!alert_stopping() && (kicks == NULL || alert_kicks == *kicks))
        if (pthread_cond_timedwait(&alert_cv, &alert_mu, &until) != 0)
            break;                      /* ETIMEDOUT */
    if (kicks != NULL)
        *kicks = alert_kicks;
    pthread_mutex_unlock(&alert_mu);
    return alert_stopping();
}

/* ---- PostgreSQL helpers ------------------------------------------------- */

PGconn *alert_connect(const char *app, int *was_down)
{
    const char *keys[3] = { "application_name", NULL, NULL };
    const char *vals[3] = { app, NULL, NULL };
    if (alert_conf.conninfo != NULL && alert_conf.conninfo[0] != '\0') {
        keys[1] = "dbname";             /* expanded: URL or "k=v ..." */
        vals[1] = alert_conf.conninfo;
    }
    PGconn *db = PQconnectdbParams(keys, vals, 1);
    if (db != NULL && PQstatus(db) == CONNECTION_OK) {
        if (*was_down)
            LOG_INFO("alert", "%s: PostgreSQL reachable again", app);
        *was_down = 0;
        return db;
    }
    if (!*was_down)                     /* once per outage; no conninfo */
        LOG_WARN("alert", 0, "%s: PostgreSQL connection failed: %s", app,
                 db != NULL ? PQerrorMessage(db) : "out of memory");
    *was_down = 1;
    PQfinish(db);
    return NULL;
}

int alert_run(PGconn *db, const char *what, const char *sql, int n,
              const char *const *p)
{
    PGresult *res = PQexecParams(db, sql, n, NULL, p, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        LOG_ERROR("alert", 0, "%s: %s", what, PQerrorMessage(db));
    PQclear(res);
    return ok ? 0 : -1;
}

/* ---- alert_enqueue ------------------------------------------------------ */

static int alert_kind_ok(const char *kind)
{
    size_t n = kind != NULL ? strlen(kind) : 0;
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((kind[i] < 'a' || kind[i] > 'z') && kind[i] != '_')
            return 0;
    return 1;
}

/* "{webhook,email}" for the configured channels. */
static const char *alert_channel_array(int ch)
{
    switch (ch) {
    case ALERT_CH_WEBHOOK:                    return "{webhook}";
    case ALERT_CH_EMAIL:                      return "{email}";
    case ALERT_CH_WEBHOOK | ALERT_CH_EMAIL:   return "{webhook,email}";
    default:                                  return NULL;
    }
}

/* One statement: the email row goes to the account's notify_email, else
 * alert.smtp_to, and is skipped when both are empty. */
#define ALERT_ENQUEUE_SQL \
    "INSERT INTO alert_outbox (kind, channel, account_id, recipient, " \
    "payload) " \
    "SELECT $1, c.ch, $2::bigint, c.rcpt, $3::jsonb FROM (" \
    "  SELECT ch, CASE WHEN ch = 'email' THEN nullif(coalesce((" \
    "    SELECT nullif(notify_email, '') FROM accounts WHERE id = $2), " \
    "    $5), '') END AS rcpt" \
    "  FROM unnest($4::text[]) AS u(ch)) c " \
    "WHERE c.ch <> 'email' OR c.rcpt IS NOT NULL " \
    "ORDER BY c.ch DESC RETURNING id"

int alert_enqueue_ids(PGconn *db, const char *kind, int64_t account_id,
                      json_t *payload, json_t *ids)
{
    const char *chans = alert_channel_array(alert_channels());
    if (!alert_kind_ok(kind) || !json_is_object(payload) || db == NULL) {
        LOG_ERROR("alert", 0, "alert_enqueue(%s): bad kind, payload or "
                  "connection", alert_kind_ok(kind) ? kind : "?");
        return -1;
    }
    if (chans == NULL)
        return 0;
    char *text = json_dumps(payload, JSON_COMPACT);
    char acct[24];
    snprintf(acct, sizeof acct, "%" PRId64, account_id);
    const char *p[5] = { kind, account_id > 0 ? acct : NULL, text, chans,
                         alert_conf.smtp_to };
    PGresult *res = text != NULL
        ? PQexecParams(db, ALERT_ENQUEUE_SQL, 5, NULL, p, NULL, NULL, 0)
        : NULL;
    free(text);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        LOG_ERROR("alert", 0, "alert_enqueue(%s, account %" PRId64 "): %s",
                  kind, account_id, res != NULL ? PQerrorMessage(db)
                                                : "out of memory");
        PQclear(res);
        return -1;
    }
    int n = PQntuples(res);
    for (int i = 0; ids != NULL && i < n; i++)
        json_array_append_new(ids, json_integer(
            strtoll(PQgetvalue(res, i, 0), NULL, 10)));
    PQclear(res);
    return n;
}

int alert_enqueue(PGconn *db, const char *kind, int64_t account_id,
                  json_t *payload)
{
    return alert_enqueue_ids(db, kind, account_id, payload, NULL);
}

/* ---- start and stop ----------------------------------------------------- */

/* An address as SMTP and the From: header take it: no blanks, no <>, one
 * '@' with text on both sides. */
static int alert_addr_ok(const char *a)
{
    const char *at = strchr(a, '@');
    return at != NULL && at > a && at[1] != '\0' && strchr(at + 1, '@') == NULL
           && strpbrk(a, " \t\r\n<>,;\"()") == NULL;
}

/* alert.smtp_to: comma-separated addresses (blanks around them allowed). */
static int alert_addr_list_ok(const char *list)
{
    char buf[1024];
    if (strlen(list) >= sizeof buf)
        return 0;
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    int n = 0;
    for (char *t = strtok_r(buf, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        t += strspn(t, " \t");
        size_t len = strlen(t);
        while (len > 0 && (t[len - 1] == ' ' || t[len - 1] == '\t'))
            t[--len] = '\0';
        if (!alert_addr_ok(t))
            return 0;
        n++;
    }
    return n > 0;
}

static int alert_url_ok(const char *url, const char *a, const char *b)
{
    return strncmp(url, a, strlen(a)) == 0 || strncmp(url, b, strlen(b)) == 0;
}

/* Reads and checks the alert.* keys into alert_conf. 0, or -1 (logged). */
static int alert_configure(const conf_t *c)
{
    alert_cfg_t *k = &alert_conf;
    k->conninfo = conf_str(c, "database_url");
    k->webhook_url = conf_str(c, "alert.webhook_url");
    k->webhook_secret = conf_str(c, "alert.webhook_secret");
    k->smtp_url = conf_str(c, "alert.smtp_url");
    k->smtp_from = conf_str(c, "alert.smtp_from");
    k->smtp_to = conf_str(c, "alert.smtp_to");
    k->smtp_user = conf_str(c, "alert.smtp_user");
    k->smtp_password = conf_str(c, "alert.smtp_password");
    k->poll_ms = c->alert_poll_ms;
    k->max_attempts = c->alert_max_attempts;
    k->timeout_ms = c->alert_timeout_ms;
    k->retry_base_ms = c->alert_retry_base_ms;
    k->retry_max_ms = c->alert_retry_max_ms;
    const char *why = NULL;
    if (*k->webhook_url && !alert_url_ok(k->webhook_url, "http://",
                                         "https://"))
        why = "alert.webhook_url must start with http:// or https://";
    else if (*k->smtp_url && !alert_url_ok(k->smtp_url, "smtp://",
                                           "smtps://"))
        why = "alert.smtp_url must start with smtp:// or smtps://";
    else if (*k->smtp_url && !alert_addr_ok(k->smtp_from))
        why = "alert.smtp_from must be one address (user@domain)";
    else if (*k->smtp_to && !alert_addr_list_ok(k->smtp_to))
        why = "alert.smtp_to must be addresses separated by commas";
    if (why != NULL) {
        LOG_ERROR("alert", 0, "notifications are OFF: %s", why);
        return -1;
    }
    return 0;
}

static int alert_spawn(alert_t *a, pthread_t *t, void *(*fn)(void *),
                       const char *what)
{
    int err = pthread_create(t, NULL, fn, a);
    if (err != 0)
        LOG_ERROR("alert", err, "pthread_create() of the %s failed", what);
    return err == 0;
}

alert_t *alert_start(proc_ctx_t *ctx)
{
    memset(&alert_conf, 0, sizeof alert_conf);
    __atomic_store_n(&alert_stop_flag, 0, __ATOMIC_RELEASE);
    if (alert_configure(ctx->conf) != 0)
        return NULL;
    int ch = (*alert_conf.webhook_url ? ALERT_CH_WEBHOOK : 0)
             | (*alert_conf.smtp_url ? ALERT_CH_EMAIL : 0);
    if (ch == 0) {
        LOG_INFO("alert", "notifications off (no alert.webhook_url nor "
                 "alert.smtp_url)");
        return NULL;
    }
    if ((ch & ALERT_CH_WEBHOOK) && *alert_conf.webhook_secret == '\0')
        LOG_WARN("alert", 0, "alert.webhook_secret is empty: webhooks are "
                 "sent unsigned");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        LOG_ERROR("alert", 0, "curl_global_init() failed: notifications "
                  "are OFF");
        return NULL;
    }
    alert_t *a = calloc(1, sizeof *a);
    if (a == NULL) {
        LOG_ERROR("alert", 0, "out of memory: notifications are OFF");
        return NULL;
    }
    a->ctx = ctx;
    __atomic_store_n(&alert_conf.channels, ch, __ATOMIC_RELEASE);
    a->sender_up = alert_spawn(a, &a->sender, alert_sender_main, "sender");
    a->detector_up = alert_spawn(a, &a->detector, alert_detector_main,
                                 "detector");
    LOG_INFO("alert", "notifications on:%s%s, scan every %" PRId64 " ms, "
             "%" PRId64 " attempts", ch & ALERT_CH_WEBHOOK ? " webhook" : "",
             ch & ALERT_CH_EMAIL ? " email" : "", alert_conf.poll_ms,
             alert_conf.max_attempts);
    return a;
}

void alert_stop(alert_t *a)
{
    if (a == NULL)
        return;
    __atomic_store_n(&alert_stop_flag, 1, __ATOMIC_RELEASE);
    alert_kick();                       /* wakes both out of alert_wait */
    if (a->detector_up)
        pthread_join(a->detector, NULL);
    if (a->sender_up)
        pthread_join(a->sender, NULL);
    free(a);
    LOG_INFO("alert", "notifications stopped");
}
