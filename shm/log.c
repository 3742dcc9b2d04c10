/*
 * log.c -- see log.h.
 *
 * NOTES: the message is escaped (quotes, backslashes, control characters) so
 * that a hostile value (a dialled "number" from FreeSWITCH, a CSV cell) can
 * never forge a second log line. Lines longer than the buffer are cut, not
 * split.
 */
#include "shm/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

log_level_t log_level = LOG_LVL_INFO;
static char log_proc[32] = "apolo";

static const char *const log_names[] = { "error", "warn", "info", "debug" };

void log_set_process(const char *name)
{
    snprintf(log_proc, sizeof log_proc, "%s", name);
}

int log_level_parse(const char *s)
{
    for (int i = 0; i <= LOG_LVL_DEBUG; i++)
        if (strcmp(s, log_names[i]) == 0)
            return i;
    return -1;
}

/* Appends src to buf[*n..cap) escaped for a double-quoted value. */
static void log_escape(char *buf, size_t *n, size_t cap, const char *src)
{
    for (; *src && *n + 4 < cap; src++) {
        unsigned char c = (unsigned char)*src;
        if (c == '"' || c == '\\') {
            buf[(*n)++] = '\\';
            buf[(*n)++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            *n += (size_t)snprintf(buf + *n, cap - *n, "\\x%02x", c);
        } else {
            buf[(*n)++] = (char)c;
        }
    }
}

void log_write(log_level_t lvl, const char *mod, int err, const char *fmt, ...)
{
    char msg[1024], line[2048];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    int saved = errno;

    if (lvl > log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n,
                          ".%03ldZ level=%s pid=%d proc=%s mod=%s msg=\"",
                          (long)(tv.tv_usec / 1000), log_names[lvl],
                          (int)getpid(), log_proc, mod);
    log_escape(line, &n, sizeof line - 64, msg);
    line[n++] = '"';
    if (err != 0) {
        n += (size_t)snprintf(line + n, sizeof line - n, " err=\"");
        log_escape(line, &n, sizeof line - 4, strerror(err));
        line[n++] = '"';
    }
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
    errno = saved;
}
