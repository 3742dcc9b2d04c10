/*
 * log.h -- structured log lines to stderr, shared by every process.
 *
 *   2026-11-25T12:00:00.123Z level=error pid=123 proc=esl mod=region msg="..."
 *
 * One line per event, written with a single write(2) so that lines of
 * different processes never interleave. Log an error once, where it is
 * handled, naming the failed call; pass errno as err (0 = none) and it is
 * appended as err="...". LOG_DEBUG costs one comparison when off.
 */
#ifndef APOLO_LOG_H
#define APOLO_LOG_H

#include <stdarg.h>

typedef enum { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG }
    log_level_t;

extern log_level_t log_level;

/* Names this process in every line ("supervisor", "esl-1", ...). */
void log_set_process(const char *name);
/* Parses "error", "warn", "info", "debug"; -1 if unknown. */
int log_level_parse(const char *s);

void log_write(log_level_t lvl, const char *mod, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define LOG_ERROR(mod, err, ...) log_write(LOG_LVL_ERROR, mod, err, __VA_ARGS__)
#define LOG_WARN(mod, err, ...)  log_write(LOG_LVL_WARN, mod, err, __VA_ARGS__)
#define LOG_INFO(mod, ...)       log_write(LOG_LVL_INFO, mod, 0, __VA_ARGS__)
#define LOG_DEBUG(mod, ...)                                                   \
    do {                                                                      \
        if (log_level >= LOG_LVL_DEBUG)                                       \
            log_write(LOG_LVL_DEBUG, mod, 0, __VA_ARGS__);                    \
    } while (0)

#endif
