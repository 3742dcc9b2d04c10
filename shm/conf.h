/*
 * conf.h -- apolod's configuration: a file of `key = value` lines, with
 * the environment overriding the file.
 *
 *   # a comment (a line whose first non-blank character is '#')
 *   journal.sync_ms = 10          # also after an unquoted value + blank
 *   admin.listen    = "127.0.0.1:8080"
 *
 * Values may be quoted with "..." (\" and \\ escapes) or '...' (literal);
 * quote a value that contains " #" or leading/trailing blanks. Every key is
 * declared once, with its type, range, default and documentation, in the
 * table of conf.c (`apolod --keys` prints it); a key the table does not
 * know is an error, so a typo never silently falls back to a default.
 *
 * Precedence: default < file < environment. The environment name of a key
 * is APOLO_ + the key upper-cased with '.' -> '_' (journal.sync_ms ->
 * APOLO_JOURNAL_SYNC_MS); database_url is also read from DATABASE_URL
 * (APOLO_DATABASE_URL wins when both are set). Other APOLO_* variables are
 * not configuration and are ignored (the tests use APOLO_TOP, ...).
 *
 * Lifetime: the supervisor parses the configuration once before it forks;
 * children inherit their copy and only read it. On SIGHUP the supervisor
 * parses a new one and copies only the keys marked live (conf_apply_live);
 * every other key keeps the value the running region and journal were
 * built with, so a child restarted later still agrees with them.
 *
 * Not thread-safe for writers; readers of a conf_t nobody changes need no
 * lock.
 */
#ifndef APOLO_CONF_H
#define APOLO_CONF_H

#include <stddef.h>
#include <stdint.h>

enum {
    CONF_OK = 0,
    CONF_ERROR = -1,      /* the file cannot be read (errno in the message) */
    CONF_EINVAL = -2,     /* syntax, unknown key, bad type, out of range */
    CONF_ENOKEY = -3      /* a getter was asked for a key the table lacks */
};

#define CONF_ERR_MAX 320

/* Where each key's value came from (for `apolod --keys` and reload logs). */
typedef enum { CONF_SRC_DEFAULT = 0, CONF_SRC_FILE, CONF_SRC_ENV }
    conf_src_t;

#define CONF_NKEYS 71         /* entries of the table in conf.c */

/*
 * The parsed configuration. String values are owned (conf_free). The typed
 * fields are filled by conf_load from the same table, already range-checked,
 * so code that runs after a successful conf_load reads them directly.
 */
typedef struct conf {
    char       *val[CONF_NKEYS];   /* text as given; NULL = default */
    uint8_t     src[CONF_NKEYS];   /* conf_src_t */
    uint32_t    line[CONF_NKEYS];  /* CONF_SRC_FILE: its line number */
    char        path[512];         /* the file read, "" = none */

    int64_t     log_level;         /* log_level_t */
    int64_t     region_max_accounts, region_max_readers, region_heap_mb;
    int64_t     journal_rings, journal_slots, journal_sync_ms;
    int64_t     flush_batch;
    int64_t     flush_linger_ms;
    int64_t     loadgen_count, loadgen_rate, loadgen_accounts, loadgen_total;
    int64_t     stuck_reader_ms, restart_backoff_max_ms;
    int64_t     calls_max;
    int64_t     esl_debit_interval_sec, esl_max_call_sec, esl_ring_allowance_sec;
    int64_t     esl_charge_inbound, esl_charge_internal, esl_max_resync_kills;
    int64_t     esl_reconnect_max_ms, esl_max_frame_kb, esl_idle_timeout_sec;
    int64_t     cucm_rescan_ms, cucm_stable_ms, cucm_charge_inbound;
    int64_t     cucm_charge_internal, cucm_dedupe_entries, cucm_dedupe_days;
    int64_t     admin_threads, admin_request_timeout_ms, admin_max_body_kb;
    int64_t     admin_session_hours, admin_max_deck_mb;
    int64_t     admin_idempotency_days, admin_report_timeout_ms;
    int64_t     alert_poll_ms, alert_max_attempts, alert_timeout_ms;
    int64_t     alert_retry_base_ms, alert_retry_max_ms;
} conf_t;

/* A getter's or the parser's error: names the key and, when it has one,
 * the file line or environment variable. */
typedef struct conf_err {
    char msg[CONF_ERR_MAX];
} conf_err_t;

/*
 * Reads path (NULL: no file, defaults and environment only; a path that
 * cannot be opened is an error), then the environment, then checks and
 * converts every key. CONF_OK, or CONF_ERROR / CONF_EINVAL with err->msg
 * set ("apolod.conf:12: unknown key \"journal.sinc_ms\""); on failure *c is
 * left empty (conf_free is still safe). Nothing is logged here.
 */
int conf_load(conf_t *c, const char *path, conf_err_t *err);

/* Frees the strings; *c becomes empty. Safe on an empty or failed conf. */
void conf_free(conf_t *c);

/*
 * The text of key: its value, else its default from the table. NULL (and
 * nothing else) for a key the table lacks: a programming error, which
 * the callers' tests catch. The pointer lives as long as *c is unchanged.
 */
const char *conf_str(const conf_t *c, const char *key);

/*
 * key's value as an integer in [min, max]; def when the key is unset (not
 * in the file nor in the environment). CONF_OK with *out set, or
 * CONF_EINVAL (not an integer, out of range: err->msg names the key, the
 * value and where it came from) or CONF_ENOKEY; *out unchanged on error.
 */
int conf_int(const conf_t *c, const char *key, int64_t min, int64_t max,
             int64_t def, int64_t *out, conf_err_t *err);

/*
 * SIGHUP: copies into cur the keys of next marked live in the table (today
 * log_level, supervisor.stuck_reader_ms, supervisor.restart_backoff_max_ms)
 * and lists in restart (space separated, cut to cap) the other keys whose
 * value differs: those need a restart of apolod and keep their old value.
 * Returns how many keys need a restart, or CONF_ERROR (out of memory: cur
 * unchanged).
 */
int conf_apply_live(conf_t *cur, const conf_t *next, char *restart,
                    size_t cap);

/* Writes the key table as Markdown (key, default, env, range, live, doc)
 * to fd: the README's table comes from the code. */
void conf_print_keys(int fd);

/* Writes the effective configuration, one `key = value` per line, with the
 * source of each; database_url is masked. */
void conf_print(const conf_t *c, int fd);

#endif
