/*
 * test_alert.c -- the notifications' pure parts (admin/alert_int.h), no
 * server, no PostgreSQL (tests/t_alerts.sh runs the real thing):
 *   - the edge of one account: first sight silent, one event per level
 *     going up, re-armed only by money coming in or a new threshold, not
 *     by a call's reservation being released;
 *   - the webhook signature against RFC 4231 test case 2, the body's "id";
 *   - the email: CRLF only, no line over 998 bytes, RFC 5322 Date,
 *     Message-ID from the outbox id, RFC 2047 subject for UTF-8 names,
 *     header injection through an account name defused.
 */
#include "admin/alert_int.h"
#include "tests/testhelp.h"

#include <stdlib.h>
#include <string.h>

#define U 1000000            /* one currency unit in micro-units */

static int step(alert_edge_t *e, money_t avail, money_t funds, money_t thr)
{
    int fire, now = alert_level(avail, thr);
    if (alert_decide(e, now, funds, thr, &fire))
        *e = (alert_edge_t){ e->id, funds, thr, now };
    else if (funds < e->low_funds)
        e->low_funds = funds;
    return fire;
}

static void test_edges(void)
{
    alert_edge_t e = { 1, 0, 0, -1 };
    TEST_EQ_I64(step(&e, 0, 0, 10 * U), 0);            /* first sight */
    TEST_EQ_I64(e.level, ALERT_LVL_EMPTY);
    TEST_EQ_I64(step(&e, 20 * U, 20 * U, 10 * U), 0);  /* recharge */
    TEST_EQ_I64(e.level, ALERT_LVL_OK);
    TEST_EQ_I64(step(&e, 8 * U, 8 * U, 10 * U), ALERT_LVL_LOW);
    TEST_EQ_I64(step(&e, 7 * U, 7 * U, 10 * U), 0);    /* still low */
    TEST_EQ_I64(step(&e, 0, 0, 10 * U), ALERT_LVL_EMPTY);
    TEST_EQ_I64(step(&e, 0, 0, 10 * U), 0);

    /* a call reserves the last 11 of 11.5 and ends costing 0.2: the
     * headroom goes back up, the funds down: not re-armed */
    e = (alert_edge_t){ 1, 0, 0, -1 };
    step(&e, 12 * U, 12 * U, 10 * U);
    TEST_EQ_I64(step(&e, U / 2, 23 * U / 2, 10 * U), ALERT_LVL_LOW);
    TEST_EQ_I64(step(&e, 113 * U / 10, 113 * U / 10, 10 * U), 0);
    TEST_EQ_I64(e.level, ALERT_LVL_LOW);
    TEST_EQ_I64(step(&e, U / 2, 113 * U / 10, 10 * U), 0);   /* next call */
    /* a recharge re-arms, the next crossing fires again */
    TEST_EQ_I64(step(&e, 30 * U, 30 * U, 10 * U), 0);
    TEST_EQ_I64(e.level, ALERT_LVL_OK);
    TEST_EQ_I64(step(&e, 5 * U, 5 * U, 10 * U), ALERT_LVL_LOW);
    /* from above straight to nothing: one balance_exhausted */
    step(&e, 30 * U, 40 * U, 10 * U);
    TEST_EQ_I64(step(&e, -1, 40 * U, 10 * U), ALERT_LVL_EMPTY);
    /* a lowered threshold re-arms */
    TEST_EQ_I64(step(&e, 5 * U, 40 * U, 4 * U), 0);
    TEST_EQ_I64(e.level, ALERT_LVL_OK);
}

static void test_webhook(void)
{
    char sig[80];
    const char *data = "what do ya want for nothing?";
    alert_signature("Jefe", data, strlen(data), sig);
    TEST_EQ_STR(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d"
                     "2739839dec58b964ec3843");
    alert_msg_t m = { .id = 42, .kind = "test", .channel = "webhook",
                      .recipient = "", .payload = "{\"kind\":\"test\"}" };
    char *b = alert_webhook_body(&m);
    TEST_EQ_STR(b, "{\"kind\":\"test\",\"id\":42}");
    free(b);
    m.payload = "[1]";
    TEST_CHECK(alert_webhook_body(&m) == NULL);
}

/* 1 when every line of t ends in CRLF, no bare CR or LF, none > 998. */
static int crlf_ok(const char *t)
{
    size_t col = 0;
    for (const char *s = t; *s; s++) {
        if (*s == '\r' && s[1] != '\n')
            return 0;
        if (*s == '\n' && (s == t || s[-1] != '\r'))
            return 0;
        col = *s == '\n' ? 0 : col + 1;
        if (col > 999)              /* 998 + the CR */
            return 0;
    }
    return col == 0;
}

static void test_mail(void)
{
    char payload[4096];
    char longv[2100];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    snprintf(payload, sizeof payload,
             "{\"kind\":\"low_balance\",\"account\":{\"id\":7,\"code\":\"C7\","
             "\"name\":\"\\u00d1and\\u00fa\\r\\nBcc: evil@x\"},"
             "\"available\":\"8.000000\",\"balance\":\"8.000000\","
             "\"threshold\":\"10.000000\",\"currency\":\"ARS\","
             "\"at\":\"2026-11-25T17:40:00Z\",\"note\":\"%s\"}", longv);
    alert_msg_t m = { .id = 99, .kind = "low_balance", .channel = "email",
                      .recipient = "a@b.test", .payload = payload,
                      .created = 1795628400 };   /* 2026-11-25 17:40 UTC */
    char *t = alert_mail_text(&m, "billing@apolo.test");
    TEST_CHECK(t != NULL);
    if (t == NULL)
        return;
    TEST_CHECK(crlf_ok(t));
    TEST_CHECK(strstr(t, "Date: Wed, 25 Nov 2026 17:40:00 +0000\r\n") != NULL);
    TEST_CHECK(strstr(t, "Message-ID: <apolo-alert-99@apolo.test>\r\n")
               != NULL);
    TEST_CHECK(strstr(t, "From: ApoloBilling <billing@apolo.test>\r\n")
               != NULL);
    TEST_CHECK(strstr(t, "Subject: =?UTF-8?B?") != NULL);
    TEST_CHECK(strstr(t, "Available:  8.000000 ARS\r\n") != NULL);
    char *sep = strstr(t, "\r\n\r\n"), *bcc = strstr(t, "\r\nBcc:");
    TEST_CHECK(bcc == NULL || bcc > sep);        /* not a header */
    TEST_CHECK(sep != NULL && strstr(t, "Content-Type: text/plain; "
                                     "charset=UTF-8\r\n") < sep);
    free(t);

    m.payload = "{\"kind\":\"test\"}";
    m.kind = "test";
    t = alert_mail_text(&m, "billing@apolo.test");
    TEST_CHECK(t != NULL && strstr(t, "Subject: [ApoloBilling] Test "
                                   "notification\r\n") != NULL);
    free(t);
}

int main(void)
{
    test_edges();
    test_webhook();
    test_mail();
    return TEST_REPORT();
}
