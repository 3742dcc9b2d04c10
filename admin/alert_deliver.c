/*
 * alert_deliver.c -- one delivery with libcurl (alert_int.h): a webhook
 * POST or an SMTP session. The sender thread calls it with no transaction
 * open; nothing here touches PostgreSQL.
 *
 *   webhook  POST alert.webhook_url, Content-Type application/json, body
 *            = payload + "id"; headers X-Apolo-Event (kind),
 *            X-Apolo-Delivery (outbox id), X-Apolo-Signature
 *            (sha256=HMAC-SHA256(alert.webhook_secret, body) in hex, when
 *            a secret is set). Success: any 2xx; redirects are not followed.
 *   email    alert.smtp_url, MAIL FROM alert.smtp_from, RCPT TO each
 *            recipient of the row, the message of alert_mail_text. With
 *            smtp:// the session upgrades with STARTTLS when the relay
 *            offers it, and must when a password is set (a password never
 *            travels in clear).
 *
 * NOTES
 * - Each delivery is bounded by alert.timeout_ms, and aborted at once when
 *   the module stops (progress callback), so alert_stop never waits for a
 *   slow receiver.
 * - Only http/https, smtp/smtps are allowed (CURLOPT_PROTOCOLS_STR): a URL
 *   typo cannot turn into file:// or a redirect elsewhere.
 * - Error texts come from libcurl (host and port, never the URL's path or
 *   credentials) or the status code; they go to last_error and the API.
 * - CURLOPT_NOSIGNAL: threads; name resolution cannot use SIGALRM.
 */
#include "admin/alert_int.h"

#include "shm/log.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dlv_src {         /* the upload of an email */
    const char *p;
    size_t      left;
} dlv_src_t;

static size_t dlv_discard(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n;
}

static size_t dlv_read(char *buf, size_t size, size_t n, void *u)
{
    dlv_src_t *s = u;
    size_t k = size * n < s->left ? size * n : s->left;
    memcpy(buf, s->p, k);
    s->p += k;
    s->left -= k;
    return k;
}

static int dlv_progress(void *u, curl_off_t a, curl_off_t b, curl_off_t c,
                        curl_off_t d)
{
    (void)u; (void)a; (void)b; (void)c; (void)d;
    return alert_stopping();             /* non-zero aborts the transfer */
}

/* A handle with what both channels share. */
static CURL *dlv_easy(const char *url, const char *protocols, char *errbuf)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return NULL;
    long ms = (long)alert_cfg()->timeout_ms;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, dlv_progress);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dlv_discard);
    return c;
}

/* The reason of a failed transfer into err. */
static void dlv_reason(CURLcode rc, const char *errbuf, char *err, size_t cap)
{
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        snprintf(err, cap, "interrupted: the admin process stopped");
    else
        snprintf(err, cap, "%s", *errbuf ? errbuf : curl_easy_strerror(rc));
}

static struct curl_slist *dlv_webhook_headers(const alert_msg_t *m,
                                              const char *body)
{
    const alert_cfg_t *k = alert_cfg();
    char h[128];
    struct curl_slist *l = curl_slist_append(NULL,
                                             "Content-Type: application/json");
    l = curl_slist_append(l, "Expect:");
    l = curl_slist_append(l, "User-Agent: ApoloBilling-alert/1");
    snprintf(h, sizeof h, "X-Apolo-Event: %s", m->kind);
    l = curl_slist_append(l, h);
    snprintf(h, sizeof h, "X-Apolo-Delivery: %lld", (long long)m->id);
    l = curl_slist_append(l, h);
    if (*k->webhook_secret) {
        char sig[80];
        alert_signature(k->webhook_secret, body, strlen(body), sig);
        snprintf(h, sizeof h, "X-Apolo-Signature: %s", sig);
        l = curl_slist_append(l, h);
    }
    return l;
}

static int dlv_webhook(const alert_msg_t *m, char *err, size_t cap)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    char *body = alert_webhook_body(m);
    CURL *c = body != NULL ? dlv_easy(alert_cfg()->webhook_url,
                                      "http,https", errbuf) : NULL;
    if (c == NULL) {
        free(body);
        snprintf(err, cap, "out of memory, or a payload that is not JSON");
        return -1;
    }
    struct curl_slist *hdr = dlv_webhook_headers(m, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdr);
    free(body);
    if (rc != CURLE_OK) {
        dlv_reason(rc, errbuf, err, cap);
        return -1;
    }
    if (status < 200 || status > 299) {
        snprintf(err, cap, "HTTP %ld from the webhook", status);
        return -1;
    }
    return 0;
}

/* RCPT TO of each comma-separated address of list. */
static struct curl_slist *dlv_rcpts(const char *list)
{
    struct curl_slist *l = NULL;
    while (*list) {
        size_t n = strcspn(list, ",");
        const char *s = list;
        size_t len = n;
        while (len > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            len--;
        }
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        char a[320];
        if (len > 0 && len < sizeof a - 2) {
            snprintf(a, sizeof a, "<%.*s>", (int)len, s);
            l = curl_slist_append(l, a);
        }
        list += n + (list[n] == ',');
    }
    return l;
}

static void dlv_smtp_auth(CURL *c, const alert_cfg_t *k)
{
    int password = *k->smtp_password != '\0';
    curl_easy_setopt(c, CURLOPT_USE_SSL, password ? (long)CURLUSESSL_ALL
                                                  : (long)CURLUSESSL_TRY);
    if (*k->smtp_user) {
        curl_easy_setopt(c, CURLOPT_USERNAME, k->smtp_user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, k->smtp_password);
    }
}

static int dlv_email(const alert_msg_t *m, char *err, size_t cap)
{
    const alert_cfg_t *k = alert_cfg();
    char errbuf[CURL_ERROR_SIZE] = "", from[330];
    char *text = alert_mail_text(m, k->smtp_from);
    struct curl_slist *rcpt = dlv_rcpts(m->recipient);
    CURL *c = text != NULL && rcpt != NULL
        ? dlv_easy(k->smtp_url, "smtp,smtps", errbuf) : NULL;
    if (c == NULL) {
        snprintf(err, cap, rcpt == NULL ? "no recipient"
                 : "out of memory, or a payload that is not JSON");
        free(text);
        curl_slist_free_all(rcpt);
        return -1;
    }
    dlv_src_t src = { text, strlen(text) };
    snprintf(from, sizeof from, "<%s>", k->smtp_from);
    dlv_smtp_auth(c, k);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, dlv_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    curl_slist_free_all(rcpt);
    free(text);
    if (rc != CURLE_OK) {
        dlv_reason(rc, errbuf, err, cap);
        return -1;
    }
    return 0;
}

int alert_deliver(const alert_msg_t *m, char *err, size_t cap)
{
    const alert_cfg_t *k = alert_cfg();
    int webhook = strcmp(m->channel, "webhook") == 0;
    if (webhook ? *k->webhook_url == '\0' : *k->smtp_url == '\0') {
        snprintf(err, cap, "channel %s not configured any more", m->channel);
        return -1;
    }
    return webhook ? dlv_webhook(m, err, cap) : dlv_email(m, err, cap);
}
