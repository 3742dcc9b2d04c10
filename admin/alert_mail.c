/*
 * alert_mail.c -- what a notification looks like on the wire: the webhook
 * body and its signature, the email message (RFC 5322). No I/O here
 * (alert_deliver.c sends them), so tests/test_alert.c checks them as is.
 *
 * The email:
 *
 *   Date: Wed, 25 Nov 2026 17:40:00 +0000       the row's created_at
 *   From: ApoloBilling <alert.smtp_from>
 *   To: <the row's recipients>
 *   Subject: [ApoloBilling] Low balance: C1 (Name)   RFC 2047 when not ASCII
 *   Message-ID: <apolo-alert-ID@domain of From>  the outbox id: receivers
 *   MIME-Version: 1.0                            drop repeats by it
 *   Content-Type: text/plain; charset=UTF-8
 *   Content-Transfer-Encoding: 8bit
 *   X-Apolo-Event / X-Apolo-Delivery
 *
 *   a summary for the known kinds, then the payload as indented JSON
 *
 * NOTES
 * - Every line ends in CRLF and none is longer than 998 bytes (cut at a
 *   UTF-8 character boundary). Dot-stuffing ('.' at the start of a line)
 *   is libcurl's job: it escapes the upload itself.
 * - Header injection: names and codes come from accounts; CR, LF and other
 *   control characters in them become spaces before they reach a header.
 *   Recipients were checked when queued (alert.smtp_to at start,
 *   accounts.notify_email by its CHECK).
 * - Dates are formatted by hand: strftime's %a and %b follow the locale.
 */
#include "admin/alert_int.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAIL_LINE_MAX 998

/* ---- the webhook ----------------------------------------------------------- */

char *alert_webhook_body(const alert_msg_t *m)
{
    json_t *o = json_loads(m->payload, 0, NULL);
    char *body = NULL;
    if (json_is_object(o)) {
        json_object_set_new(o, "id", json_integer(m->id));
        body = json_dumps(o, JSON_COMPACT);
    }
    json_decref(o);
    return body;
}

void alert_signature(const char *key, const char *body, size_t len,
                     char *out)
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(out, "sha256=", 7);
    sodium_bin2hex(out + 7, 2 * sizeof mac + 1, mac, sizeof mac);
    sodium_memzero(&st, sizeof st);
}

/* ---- pieces of the email ------------------------------------------------- */

static void mail_date(FILE *f, long t)
{
    static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
                                      "Fri", "Sat" };
    static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May",
        "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    fprintf(f, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n",
            wd[tm.tm_wday], tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900,
            tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* s with control characters made blanks (header values). */
static void mail_clean(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

static int mail_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

/* Subject: as is when ASCII, else RFC 2047 encoded words of at most 45
 * bytes of text each (75 characters encoded), cut between characters and
 * folded. */
static void mail_subject(FILE *f, const char *s)
{
    if (mail_ascii(s)) {
        fprintf(f, "Subject: %s\r\n", s);
        return;
    }
    fputs("Subject:", f);
    for (size_t len = strlen(s); len > 0;) {
        size_t n = len > 45 ? 45 : len;
        while (n < len && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;                        /* not inside a character */
        char b64[sodium_base64_ENCODED_LEN(45,
                                           sodium_base64_VARIANT_ORIGINAL)];
        sodium_bin2base64(b64, sizeof b64, (const unsigned char *)s, n,
                          sodium_base64_VARIANT_ORIGINAL);
        fprintf(f, " =?UTF-8?B?%s?=\r\n", b64);
        s += n;
        len -= n;
    }
}

static const char *mail_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

/* The subject line's text (control characters removed), malloc'd. */
static char *mail_subject_text(const alert_msg_t *m, json_t *p)
{
    json_t *acct = json_object_get(p, "account");
    const char *code = mail_str(acct, "code"), *name = mail_str(acct, "name");
    const char *what = strcmp(m->kind, "low_balance") == 0 ? "Low balance"
        : strcmp(m->kind, "balance_exhausted") == 0 ? "Balance exhausted"
        : strcmp(m->kind, "bulk_report") == 0 ? "Bulk recharge report"
        : strcmp(m->kind, "test") == 0 ? "Test notification"
        : m->kind;
    char *s = NULL;
    int n;
    if (*code && *name)
        n = asprintf(&s, "[ApoloBilling] %s: %s (%s)", what, code, name);
    else if (*code)
        n = asprintf(&s, "[ApoloBilling] %s: %s", what, code);
    else
        n = asprintf(&s, "[ApoloBilling] %s", what);
    if (n < 0)
        return NULL;
    mail_clean(s);
    return s;
}

static void mail_headers(FILE *f, const alert_msg_t *m, const char *from,
                         const char *subject)
{
    const char *at = strchr(from, '@');
    mail_date(f, m->created);
    fprintf(f, "From: ApoloBilling <%s>\r\n", from);
    fprintf(f, "To: %s\r\n", m->recipient);
    mail_subject(f, subject);
    fprintf(f, "Message-ID: <apolo-alert-%lld@%s>\r\n", (long long)m->id,
            at != NULL ? at + 1 : "localhost");
    fputs("MIME-Version: 1.0\r\n"
          "Content-Type: text/plain; charset=UTF-8\r\n"
          "Content-Transfer-Encoding: 8bit\r\n", f);
    fprintf(f, "X-Apolo-Event: %s\r\nX-Apolo-Delivery: %lld\r\n\r\n",
            m->kind, (long long)m->id);
}

/* The human part of a balance event (LF line ends: see mail_lines). */
static void mail_balance_summary(FILE *f, const alert_msg_t *m, json_t *p)
{
    json_t *acct = json_object_get(p, "account");
    const char *cur = mail_str(p, "currency");
    fprintf(f, "The account %s (%s) %s.\n\n", mail_str(acct, "code"),
            mail_str(acct, "name"),
            strcmp(m->kind, "balance_exhausted") == 0
                ? "has nothing left to spend"
                : "is below its low-balance threshold");
    fprintf(f, "Available:  %s %s\n", mail_str(p, "available"), cur);
    fprintf(f, "Balance:    %s %s\n", mail_str(p, "balance"), cur);
    fprintf(f, "Threshold:  %s %s\n", mail_str(p, "threshold"), cur);
    fprintf(f, "Time:       %s\n\n", mail_str(p, "at"));
}

static void mail_body(FILE *f, const alert_msg_t *m, json_t *p)
{
    if (strcmp(m->kind, "low_balance") == 0
        || strcmp(m->kind, "balance_exhausted") == 0)
        mail_balance_summary(f, m, p);
    char *js = json_dumps(p, JSON_INDENT(2) | JSON_SORT_KEYS);
    fprintf(f, "Details:\n%s\n\n", js != NULL ? js : "{}");
    free(js);
    fprintf(f, "-- \nNotification %lld (%s) from ApoloBilling. It may be "
            "delivered more than once:\nits Message-ID identifies "
            "repeats.\n", (long long)m->id, m->kind);
}

/* Copies text to f with CRLF line ends (CR alone dropped) and no line
 * longer than MAIL_LINE_MAX bytes. */
static void mail_lines(FILE *f, const char *text)
{
    size_t col = 0;
    for (const char *s = text; *s; s++) {
        if (*s == '\r')
            continue;
        if (*s == '\n') {
            fputs("\r\n", f);
            col = 0;
            continue;
        }
        /* cut before a character that would not fit, not inside one */
        if (col >= MAIL_LINE_MAX - 4 && ((unsigned char)*s & 0xc0) != 0x80) {
            fputs("\r\n", f);
            col = 0;
        }
        fputc(*s, f);
        col++;
    }
    if (col > 0)
        fputs("\r\n", f);
}

char *alert_mail_text(const alert_msg_t *m, const char *from)
{
    json_t *p = json_loads(m->payload, 0, NULL);
    char *subject = json_is_object(p) ? mail_subject_text(m, p) : NULL;
    char *body = NULL, *out = NULL;
    size_t blen = 0, olen = 0;
    FILE *bf = subject != NULL ? open_memstream(&body, &blen) : NULL;
    if (bf != NULL) {
        mail_body(bf, m, p);
        fclose(bf);
    }
    FILE *of = body != NULL ? open_memstream(&out, &olen) : NULL;
    if (of != NULL) {
        mail_headers(of, m, from, subject);
        mail_lines(of, body);
        if (fclose(of) != 0) {
            free(out);
            out = NULL;
        }
    }
    free(body);
    free(subject);
    json_decref(p);
    return out;
}
