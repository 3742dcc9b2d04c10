/*
 * test_supervisor_conf.c -- the supervisor's configuration parser and its
 * control channel framing, without a supervisor:
 *   - file syntax: comments, quotes, escapes, inline comments; unknown and
 *     duplicate keys refused with the file and line; types and ranges
 *     checked with the key named; powers of two;
 *   - environment over file (APOLO_<KEY>, DATABASE_URL);
 *   - SIGHUP semantics: only live keys change, the others are listed;
 *   - ctl: request/reply over a socketpair, a late reply to a timed-out
 *     request is not taken for the next one's, a closed peer is reported,
 *     ctl_listen refuses a live socket and replaces a stale one.
 */
#include "shm/conf.h"
#include "shm/ctl.h"
#include "shm/log.h"
#include "tests/testhelp.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/apolo-conf-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

/* Loads text; returns the conf_load code, err->msg filled. */
static int load_text(conf_t *c, const char *text, conf_err_t *err)
{
    return conf_load(c, write_file("t.conf", text), err);
}

static void clear_env(void)
{
    unsetenv("DATABASE_URL");
    unsetenv("APOLO_DATABASE_URL");
    unsetenv("APOLO_JOURNAL_SYNC_MS");
    unsetenv("APOLO_LOG_LEVEL");
}

static void test_defaults(void)
{
    conf_t c;
    conf_err_t err;
    clear_env();
    TEST_EQ_I64(conf_load(&c, NULL, &err), CONF_OK);
    TEST_EQ_I64(c.region_max_accounts, 100000);
    TEST_EQ_I64(c.region_max_readers, 64);
    TEST_EQ_I64(c.region_heap_mb, 1024);
    TEST_EQ_I64(c.journal_rings, 16);
    TEST_EQ_I64(c.journal_slots, 65536);
    TEST_EQ_I64(c.journal_sync_ms, 10);
    TEST_EQ_I64(c.flush_batch, 5000);
    TEST_EQ_I64(c.loadgen_count, 0);
    TEST_EQ_I64(c.stuck_reader_ms, 5000);
    TEST_EQ_I64(c.restart_backoff_max_ms, 30000);
    TEST_EQ_I64(c.log_level, LOG_LVL_INFO);
    TEST_EQ_STR(conf_str(&c, "journal.path"), "var/journal");
    TEST_EQ_STR(conf_str(&c, "admin.listen"), "127.0.0.1:8080");
    TEST_CHECK(conf_str(&c, "no.such.key") == NULL);
    conf_free(&c);
}

static void test_syntax(void)
{
    conf_t c;
    conf_err_t err;
    clear_env();
    int rc = load_text(&c,
        "# comment\n"
        "\n"
        "   # indented comment\n"
        "journal.sync_ms = 25   # trailing comment\n"
        "journal.path=\"/var/lib/apolo/j # not a comment\"\n"
        "admin.listen = '0.0.0.0:9090'\n"
        "database_url = postgresql:///apolo?password=a#b\n"
        "ctl.socket = \"a \\\"quoted\\\" \\\\ path\"\n"
        "log_level = debug\r\n", &err);
    TEST_EQ_I64(rc, CONF_OK);
    if (rc != CONF_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    TEST_EQ_I64(c.journal_sync_ms, 25);
    TEST_EQ_STR(conf_str(&c, "journal.path"), "/var/lib/apolo/j # not a comment");
    TEST_EQ_STR(conf_str(&c, "admin.listen"), "0.0.0.0:9090");
    TEST_EQ_STR(conf_str(&c, "database_url"),
                "postgresql:///apolo?password=a#b");
    TEST_EQ_STR(conf_str(&c, "ctl.socket"), "a \"quoted\" \\ path");
    TEST_EQ_I64(c.log_level, LOG_LVL_DEBUG);
    conf_free(&c);
}

/* Each bad file is refused, and the message says what to look for. */
static void test_errors(void)
{
    static const struct { const char *text, *want; } bad[] = {
        { "journal.sinc_ms = 5\n", "t.conf:1: unknown key \"journal.sinc_ms\"" },
        { "# x\nlog_level = info\nlog_level = debug\n",
          "t.conf:3: log_level already set on line 2" },
        { "journal.slots\n", "t.conf:1: expected key = value" },
        { "journal.slots = 1000\n", "journal.slots = 1000" },
        { "journal.slots = 1000\n", "not a power of two" },
        { "journal.rings = 0\n", "journal.rings = 0" },
        { "journal.rings = 0\n", "out of range [1, 1024]" },
        { "journal.rings = 12x\n", "not an integer" },
        { "log_level = loud\n", "log_level = \"loud\"" },
        { "admin.listen = \"open\n", "unterminated quoted value" },
        { "admin.listen = \"a\" b\n", "text after the closing quote" },
        { "Journal.Path = x\n", "unknown key" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        conf_t c;
        conf_err_t err;
        int rc = load_text(&c, bad[i].text, &err);
        TEST_CHECK(rc == CONF_EINVAL);
        if (strstr(err.msg, bad[i].want) == NULL)
            TEST_FAIL_AT("case %zu: \"%s\" lacks \"%s\"", i, err.msg,
                         bad[i].want);
        conf_free(&c);
    }
    conf_t c;
    conf_err_t err;
    TEST_EQ_I64(conf_load(&c, "/nonexistent/apolod.conf", &err), CONF_ERROR);
    TEST_CHECK(strstr(err.msg, "cannot open") != NULL);
}

static void test_environment(void)
{
    conf_t c;
    conf_err_t err;
    clear_env();
    setenv("APOLO_JOURNAL_SYNC_MS", "3", 1);
    setenv("DATABASE_URL", "dbname=from_env", 1);
    setenv("APOLO_TOP", "/ignored", 1);          /* not a key: no error */
    TEST_EQ_I64(load_text(&c, "journal.sync_ms = 50\n", &err), CONF_OK);
    TEST_EQ_I64(c.journal_sync_ms, 3);
    TEST_EQ_STR(conf_str(&c, "database_url"), "dbname=from_env");
    conf_free(&c);

    setenv("APOLO_DATABASE_URL", "dbname=apolo_wins", 1);
    TEST_EQ_I64(conf_load(&c, NULL, &err), CONF_OK);
    TEST_EQ_STR(conf_str(&c, "database_url"), "dbname=apolo_wins");
    conf_free(&c);

    setenv("APOLO_JOURNAL_SYNC_MS", "5000", 1);
    TEST_EQ_I64(conf_load(&c, NULL, &err), CONF_EINVAL);
    TEST_CHECK(strstr(err.msg, "APOLO_JOURNAL_SYNC_MS") != NULL);
    TEST_CHECK(strstr(err.msg, "journal.sync_ms = 5000") != NULL);
    clear_env();
}

static void test_getters(void)
{
    conf_t c;
    conf_err_t err;
    int64_t v = -1;
    clear_env();
    TEST_EQ_I64(load_text(&c, "flush.batch = 700\n", &err), CONF_OK);
    TEST_EQ_I64(conf_int(&c, "flush.batch", 1, 1000, 5, &v, &err), CONF_OK);
    TEST_EQ_I64(v, 700);
    TEST_EQ_I64(conf_int(&c, "flush.batch", 1, 500, 5, &v, &err),
                CONF_EINVAL);
    TEST_EQ_I64(v, 700);                       /* unchanged on error */
    TEST_CHECK(strstr(err.msg, "flush.batch") != NULL);
    TEST_CHECK(strstr(err.msg, "t.conf:1") != NULL);
    TEST_EQ_I64(conf_int(&c, "loadgen.rate", 0, 10, 7, &v, &err), CONF_OK);
    TEST_EQ_I64(v, 7);                         /* unset: the caller's def */
    TEST_EQ_I64(conf_int(&c, "nope", 0, 1, 0, &v, &err), CONF_ENOKEY);
    conf_free(&c);
}

static void test_apply_live(void)
{
    conf_t cur, next;
    conf_err_t err;
    char restart[256];
    clear_env();
    TEST_EQ_I64(load_text(&cur, "log_level = info\njournal.slots = 1024\n",
                          &err), CONF_OK);
    TEST_EQ_I64(load_text(&next, "log_level = debug\njournal.slots = 2048\n"
                          "supervisor.stuck_reader_ms = 700\n"
                          "flush.batch = 9\n", &err), CONF_OK);
    TEST_EQ_I64(conf_apply_live(&cur, &next, restart, sizeof restart), 2);
    TEST_EQ_STR(restart, "journal.slots flush.batch");
    TEST_EQ_I64(cur.log_level, LOG_LVL_DEBUG);
    TEST_EQ_STR(conf_str(&cur, "log_level"), "debug");
    TEST_EQ_I64(cur.stuck_reader_ms, 700);
    TEST_EQ_I64(cur.journal_slots, 1024);      /* needs a restart: kept */
    TEST_EQ_I64(cur.flush_batch, 5000);
    conf_free(&next);
    TEST_EQ_I64(conf_load(&next, NULL, &err), CONF_OK);   /* back to defaults */
    conf_apply_live(&cur, &next, restart, sizeof restart);
    TEST_EQ_I64(cur.stuck_reader_ms, 5000);
    TEST_EQ_I64(cur.log_level, LOG_LVL_INFO);
    conf_free(&next);
    conf_free(&cur);
}

/* ---- ctl ----------------------------------------------------------------- */

typedef struct server_arg {
    int fd, delay_first_ms, requests;
} server_arg_t;

/* Answers requests on fd: "echo <cmd>"; the first one late if asked. */
static void *server(void *p)
{
    server_arg_t *a = p;
    char cmd[CTL_MSG_MAX / 2];
    uint64_t id;
    for (int n = 0; n < a->requests;) {
        int rc = ctl_recv(a->fd, cmd, sizeof cmd, &id);
        if (rc == CTL_EAGAIN) {
            usleep(1000);
            continue;
        }
        if (rc != CTL_OK)
            break;
        if (n++ == 0 && a->delay_first_ms)
            usleep((useconds_t)a->delay_first_ms * 1000);
        char reply[CTL_MSG_MAX];
        snprintf(reply, sizeof reply, "ok echo %s", cmd);
        ctl_reply(a->fd, id, reply);
    }
    return NULL;
}

static void test_ctl_pair(void)
{
    int fds[2];
    char reply[128];
    pthread_t t;
    TEST_EQ_I64(ctl_pair(fds), CTL_OK);
    server_arg_t a = { fds[0], 150, 3 };
    pthread_create(&t, NULL, server, &a);
    /* the first reply comes after our timeout ... */
    TEST_EQ_I64(ctl_request(fds[1], "slow", reply, sizeof reply, 50),
                CTL_ETIMEDOUT);
    /* ... and must not be taken for the answer to the next request */
    TEST_EQ_I64(ctl_request(fds[1], "status", reply, sizeof reply, 2000),
                CTL_OK);
    TEST_EQ_STR(reply, "ok echo status");
    TEST_EQ_I64(ctl_request(fds[1], "reload", reply, 8, 2000), CTL_OK);
    TEST_EQ_STR(reply, "ok echo");             /* cut to cap, NUL-ended */
    pthread_join(t, NULL);
    close(fds[0]);
    TEST_EQ_I64(ctl_request(fds[1], "ping", reply, sizeof reply, 500),
                CTL_ECLOSED);
    close(fds[1]);
}

static void test_ctl_listen(void)
{
    char path[200], reply[64], cmd[64];
    uint64_t id;
    snprintf(path, sizeof path, "%s/ctl.sock", tmpdir);
    int l = ctl_listen(path);
    TEST_CHECK(l >= 0);
    struct stat st;
    TEST_CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    TEST_EQ_I64(ctl_listen(path), CTL_EINVAL);   /* live: not stolen */
    int probe = accept(l, NULL, NULL);        /* ctl_listen's probe ... */
    TEST_CHECK(probe >= 0);
    TEST_EQ_I64(ctl_recv(probe, cmd, sizeof cmd, &id), CTL_ECLOSED);
    close(probe);                               /* ... hung up at once */
    int c = ctl_connect(path);
    TEST_CHECK(c >= 0);
    int s = -1;
    for (int i = 0; i < 100 && s < 0; i++, usleep(1000))
        s = accept(l, NULL, NULL);
    TEST_CHECK(s >= 0);
    if (s < 0)
        return;
    send(c, "7 ping", 6, 0);
    usleep(10000);
    TEST_EQ_I64(ctl_recv(s, cmd, sizeof cmd, &id), CTL_OK);
    TEST_EQ_STR(cmd, "ping");
    TEST_EQ_I64(id, 7);
    TEST_EQ_I64(ctl_recv(s, cmd, sizeof cmd, &id), CTL_EAGAIN);
    send(c, "garbage", 7, 0);
    usleep(10000);
    TEST_EQ_I64(ctl_recv(s, cmd, sizeof cmd, &id), CTL_EINVAL);
    ctl_reply(s, 7, "ok pong");
    TEST_EQ_I64(recv(c, reply, sizeof reply - 1, MSG_DONTWAIT), 9);
    close(c);
    close(s);
    close(l);                                   /* stale file stays ... */
    l = ctl_listen(path);                       /* ... and is replaced */
    TEST_CHECK(l >= 0);
    close(l);
    unlink(path);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    test_defaults();
    test_syntax();
    test_errors();
    test_environment();
    test_getters();
    test_apply_live();
    test_ctl_pair();
    test_ctl_listen();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
    return TEST_REPORT();
}
