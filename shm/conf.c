/*
 * conf.c -- the configuration table, the file parser and the typed getters
 * (see conf.h).
 *
 * Every key is one row of conf_keys[]: name, default, type, range, whether
 * SIGHUP may change it, where conf_load stores its typed value, and its
 * documentation. Adding a key is adding a row (and bumping CONF_NKEYS, which
 * a static assertion checks); `apolod --keys` prints the table, so the
 * README cannot drift from the code.
 *
 * NOTES
 * - A '#' ends an unquoted value only when a blank precedes it, so a URL
 *   fragment or a password with '#' inside survives; quote anything else.
 * - A key set twice in the file is an error, like an unknown key: both are
 *   usually an edit gone wrong, and silently taking the last one hides it.
 * - Unknown APOLO_* environment variables are not errors: the same prefix
 *   names test and build settings (APOLO_TOP, APOLO_BUILD, APOLO_PGPORT).
 */
#include "shm/conf.h"
#include "shm/log.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { CONF_T_STR, CONF_T_INT, CONF_T_LEVEL } conf_type_t;

#define CONF_F_LIVE   0x1      /* SIGHUP applies it without a restart */
#define CONF_F_POW2   0x2      /* integer must be a power of two */
#define CONF_F_SECRET 0x4      /* never printed */
#define CONF_NOFIELD  SIZE_MAX

typedef struct conf_key {
    const char *name;
    const char *def;
    uint8_t     type, flags;
    int64_t     min, max;
    size_t      field;         /* offsetof(conf_t, typed field) */
    const char *doc;
} conf_key_t;

#define CONF_FIELD(f) offsetof(conf_t, f)

static const conf_key_t conf_keys[] = {
    { "database_url", "", CONF_T_STR, CONF_F_SECRET, 0, 0, CONF_NOFIELD,
      "PostgreSQL conninfo or URL (empty: libpq defaults PGHOST, PGDATABASE"
      ", ...). Also read from DATABASE_URL." },
    { "log_level", "info", CONF_T_LEVEL, CONF_F_LIVE, 0, 0,
      CONF_FIELD(log_level), "error, warn, info or debug." },
    { "sql_dir", "sql", CONF_T_STR, 0, 0, 0, CONF_NOFIELD,
      "Folder of the NNN_*.sql migrations applied at start. When the "
      "default \"sql\" is not a folder of the working directory, the "
      "installed share/apolo/sql is used." },
    { "region.max_accounts", "100000", CONF_T_INT, 0, 1, 100000000,
      CONF_FIELD(region_max_accounts),
      "Account slots of the shared region (64 bytes each; never reused)." },
    { "region.max_readers", "64", CONF_T_INT, 0, 2, 4096,
      CONF_FIELD(region_max_readers),
      "QSBR reader slots: one per worker process and per reader thread of "
      "the admin process." },
    { "region.heap_mb", "1024", CONF_T_INT, 0, 1, 1048576,
      CONF_FIELD(region_heap_mb),
      "Heap of the region for published catalogs and decks, MiB (touched "
      "pages only; a reload needs room for old and new decks)." },
    { "journal.path", "var/journal", CONF_T_STR, 0, 0, 0, CONF_NOFIELD,
      "The journal file (created if absent)." },
    { "journal.rings", "16", CONF_T_INT, 0, 1, 1024,
      CONF_FIELD(journal_rings),
      "Journal rings: one per producer (worker process, admin thread)." },
    { "journal.slots", "65536", CONF_T_INT, CONF_F_POW2, 16, 16777216,
      CONF_FIELD(journal_slots),
      "Records per ring (512 bytes each), a power of two. An existing "
      "journal must be drained before rings or slots change." },
    { "journal.sync_ms", "10", CONF_T_INT, 0, 0, 1000,
      CONF_FIELD(journal_sync_ms),
      "Group commit period: a power loss loses at most this window. 0: "
      "every append syncs itself (slow)." },
    { "admin.listen", "127.0.0.1:8080", CONF_T_STR, 0, 0, 0, CONF_NOFIELD,
      "Address:port of the HTTP API (plain HTTP: put TLS in front)." },
    { "admin.trusted_proxies", "", CONF_T_STR, 0, 0, 0, CONF_NOFIELD,
      "Addresses of the TLS proxies in front (nginx: 127.0.0.1), comma "
      "separated: for their requests the client is the one X-Real-IP names "
      "(login throttling per client). Empty: X-Real-IP is never trusted." },
    { "admin.threads", "8", CONF_T_INT, 0, 1, 256,
      CONF_FIELD(admin_threads),
      "HTTP worker threads of the admin process; each holds one PostgreSQL "
      "connection and one QSBR reader slot (region.max_readers)." },
    { "admin.request_timeout_ms", "30000", CONF_T_INT, 0, 100, 3600000,
      CONF_FIELD(admin_request_timeout_ms),
      "Longest time the HTTP server waits for one request's data." },
    { "admin.max_body_kb", "1024", CONF_T_INT, 0, 1, 1048576,
      CONF_FIELD(admin_max_body_kb),
      "Largest request body the API reads (Content-Length); larger: 413." },
    { "admin.max_deck_mb", "256", CONF_T_INT, 0, 1, 65536,
      CONF_FIELD(admin_max_deck_mb),
      "Largest rate deck CSV the API imports (POST /api/v1/plans/{id}/deck, "
      "read streaming); larger: 413." },
    { "admin.session_hours", "12", CONF_T_INT, 0, 1, 8760,
      CONF_FIELD(admin_session_hours),
      "Lifetime of a login session (cookie apolo_session or bearer "
      "token)." },
    { "admin.idempotency_days", "30", CONF_T_INT, 0, 1, 3650,
      CONF_FIELD(admin_idempotency_days),
      "Idempotency keys of finished money requests are kept this many "
      "days (a retry within it is replayed), then deleted." },
    { "admin.report_timeout_ms", "60000", CONF_T_INT, 0, 100, 3600000,
      CONF_FIELD(admin_report_timeout_ms),
      "PostgreSQL statement_timeout of report queries (CDRs, statistics, "
      "ledger, audit); an export streams within it. Longer: 503." },
    /* alert.*: notifications (admin/alert.h). The URLs may carry tokens
     * (a chat webhook's path is its credential): secret like passwords. */
    { "alert.webhook_url", "", CONF_T_STR, CONF_F_SECRET, 0, 0, CONF_NOFIELD,
      "Notifications by webhook: HTTP(S) URL that receives a JSON POST per "
      "event (low_balance, balance_exhausted, bulk_report, test); empty: "
      "no webhook." },
    { "alert.webhook_secret", "", CONF_T_STR, CONF_F_SECRET, 0, 0,
      CONF_NOFIELD,
      "Key of the X-Apolo-Signature header (sha256=HMAC-SHA256 of the body, "
      "hex); empty: webhooks are sent unsigned." },
    { "alert.smtp_url", "", CONF_T_STR, CONF_F_SECRET, 0, 0, CONF_NOFIELD,
      "Notifications by email: the SMTP relay, smtp://host:25 (STARTTLS "
      "when offered; required when a password is set) or smtps://host:465; "
      "empty: no email." },
    { "alert.smtp_from", "", CONF_T_STR, 0, 0, 0, CONF_NOFIELD,
      "Sender address of notification emails (MAIL FROM and From:); "
      "required with alert.smtp_url." },
    { "alert.smtp_to", "", CONF_T_STR, 0, 0, 0, CONF_NOFIELD,
      "Recipients of notification emails, comma separated, for accounts "
      "without accounts.notify_email and for reports and tests." },
    { "alert.smtp_user", "", CONF_T_STR, 0, 0, 0, CONF_NOFIELD,
      "SMTP AUTH user name; empty: no authentication." },
    { "alert.smtp_password", "", CONF_T_STR, CONF_F_SECRET, 0, 0,
      CONF_NOFIELD, "SMTP AUTH password (never logged nor shown)." },
    { "alert.poll_ms", "2000", CONF_T_INT, 0, 50, 3600000,
      CONF_FIELD(alert_poll_ms),
      "Period of the balance scan for low_balance / balance_exhausted, and "
      "longest wait of the sender for new messages." },
    { "alert.max_attempts", "10", CONF_T_INT, 0, 1, 1000,
      CONF_FIELD(alert_max_attempts),
      "Delivery attempts of one message before it is marked failed." },
    { "alert.retry_base_ms", "30000", CONF_T_INT, 0, 10, 86400000,
      CONF_FIELD(alert_retry_base_ms),
      "Delay after a first failed attempt; doubled after each next one." },
    { "alert.retry_max_ms", "3600000", CONF_T_INT, 0, 10, 86400000,
      CONF_FIELD(alert_retry_max_ms),
      "Longest delay between two attempts of one message." },
    { "alert.timeout_ms", "10000", CONF_T_INT, 0, 100, 600000,
      CONF_FIELD(alert_timeout_ms),
      "Longest time one webhook POST or SMTP session may take." },
    /* axl.*: the AXL (SOAP) endpoint of CUCM that FAC changes are pushed
     * to (admin/axl.h); fac.*: Forced Authorization Codes (api_fac.c). */
    { "axl.url", "", CONF_T_STR, 0, 0, 0, CONF_NOFIELD,
      "AXL endpoint of the CUCM publisher, the full URL "
      "(https://cucm.example:8443/axl/); FAC changes made in the API are "
      "pushed there. Empty: no AXL, FACs stay local." },
    { "axl.user", "", CONF_T_STR, 0, 0, 0, CONF_NOFIELD,
      "AXL user (an application user with the Standard AXL API Access "
      "role), HTTP basic authentication." },
    { "axl.password", "", CONF_T_STR, CONF_F_SECRET, 0, 0, CONF_NOFIELD,
      "Password of axl.user (never logged nor shown)." },
    { "axl.version", "14.0", CONF_T_STR, 0, 0, 0, CONF_NOFIELD,
      "AXL schema version of the cluster (\"12.5\", \"14.0\"): the "
      "namespace and the SOAPAction header name it." },
    { "axl.timeout_ms", "10000", CONF_T_INT, 0, 100, 600000, CONF_NOFIELD,
      "Longest time one AXL request may take." },
    { "axl.verify_tls", "1", CONF_T_INT, 0, 0, 1, CONF_NOFIELD,
      "1: check CUCM's certificate and host name. 0 only for a lab CUCM "
      "with a self-signed certificate (logged as a warning)." },
    { "fac.secret", "", CONF_T_STR, CONF_F_SECRET, 0, 0, CONF_NOFIELD,
      "Key of the FAC code hashes (HMAC-SHA256(fac.secret, code), hex): "
      "required to give a FAC a code; the CUCM worker matches CDR codes "
      "with it. Changing it orphans every stored hash." },
    { "flush.batch", "5000", CONF_T_INT, 0, 1, 1000000,
      CONF_FIELD(flush_batch),
      "Most journal records the flusher drains into PostgreSQL per "
      "transaction." },
    { "flush.linger_ms", "20", CONF_T_INT, 0, 0, 1000,
      CONF_FIELD(flush_linger_ms),
      "After a transaction of fewer than flush.batch records, wait this "
      "long before the next, so that under load each carries more: fewer "
      "commits, less PostgreSQL CPU a record, for up to this much more "
      "delay of a CDR into PostgreSQL (bench/README.md: 20 ms took the "
      "charged ramp from 6,000-8,000 to 8,000-10,000 calls a second). 0: "
      "the next starts at once." },
    { "ctl.socket", "var/apolod.sock", CONF_T_STR, 0, 0, 0, CONF_NOFIELD,
      "Unix socket of `apolod ctl` (reload, status); empty: none." },
    { "loadgen.count", "0", CONF_T_INT, 0, 0, 64,
      CONF_FIELD(loadgen_count),
      "Synthetic load generators to fork (tests and benchmarks only, never "
      "in production: they move real balances). 0: none." },
    { "loadgen.rate", "0", CONF_T_INT, 0, 0, 10000000,
      CONF_FIELD(loadgen_rate),
      "Movements per second of each load generator; 0: as fast as it can." },
    { "loadgen.accounts", "0", CONF_T_INT, 0, 0, 100000000,
      CONF_FIELD(loadgen_accounts),
      "How many accounts of the catalog the generators spread over; 0: "
      "all." },
    { "loadgen.total", "0", CONF_T_INT, 0, 0, INT64_C(1) << 50,
      CONF_FIELD(loadgen_total),
      "Movements each generator makes before it idles; 0: no limit." },
    { "calls.path", "var/calls", CONF_T_STR, 0, 0, 0, CONF_NOFIELD,
      "The active calls table (created if absent): kept across restarts "
      "of apolod, like the journal." },
    { "calls.max", "32768", CONF_T_INT, 0, 16, 16777216,
      CONF_FIELD(calls_max),
      "Active call slots (576 bytes each): the most calls all ESL workers "
      "together may have live at once. Change it only with no call live." },
    { "esl.nodes", "", CONF_T_STR, CONF_F_SECRET, 0, 0, CONF_NOFIELD,
      "FreeSWITCH Event Socket nodes, comma separated, each "
      "password@host:port; one ESL worker per node. Empty: no ESL worker." },
    { "esl.authorize_on", "park", CONF_T_STR, 0, 0, 0, CONF_NOFIELD,
      "park: authorize unanswered legs on CHANNEL_PARK and transfer them "
      "to esl.transfer_context; create: on CHANNEL_CREATE of inbound legs, "
      "without transfer (the dialplan goes on by itself)." },
    { "esl.transfer_context", "billing_ok", CONF_T_STR, 0, 0, 0,
      CONF_NOFIELD,
      "Dialplan context an authorized parked call is transferred to "
      "(uuid_transfer <uuid> <destination> XML <context>)." },
    { "esl.debit_interval_sec", "60", CONF_T_INT, 0, 1, 3600,
      CONF_FIELD(esl_debit_interval_sec),
      "Seconds of talk each reservation covers; a call's reservation is "
      "extended by this much before it runs out." },
    { "esl.max_call_sec", "14400", CONF_T_INT, 0, 1, 604800,
      CONF_FIELD(esl_max_call_sec),
      "Longest call authorized, whatever the balance." },
    { "esl.ring_allowance_sec", "30", CONF_T_INT, 0, 0, 3600,
      CONF_FIELD(esl_ring_allowance_sec),
      "Ringing time the fail-safe sched_hangup set at park allows for "
      "before the paid seconds start (re-armed at answer when exceeded)." },
    { "esl.charge_inbound", "0", CONF_T_INT, 0, 0, 1,
      CONF_FIELD(esl_charge_inbound),
      "1: inbound calls (from outside to an extension) are rated and "
      "charged to the called extension's account." },
    { "esl.charge_internal", "0", CONF_T_INT, 0, 0, 1,
      CONF_FIELD(esl_charge_internal),
      "1: calls between two extensions are rated and charged." },
    { "esl.max_resync_kills", "10", CONF_T_INT, 0, 0, 1000000,
      CONF_FIELD(esl_max_resync_kills),
      "Most calls one resynchronisation may hang up (calls past their paid "
      "time); the rest are logged and left to their fail-safe." },
    { "esl.low_balance_sound", "", CONF_T_STR, 0, 0, 0, CONF_NOFIELD,
      "Played to the caller (uuid_broadcast) when a call's account falls "
      "below its low-balance threshold; empty: only the warning event." },
    { "esl.reconnect_max_ms", "5000", CONF_T_INT, 0, 100, 600000,
      CONF_FIELD(esl_reconnect_max_ms),
      "Longest delay between reconnection attempts (from 100 ms, "
      "doubling)." },
    { "esl.idle_timeout_sec", "60", CONF_T_INT, 0, 0, 3600,
      CONF_FIELD(esl_idle_timeout_sec),
      "A connection that brings nothing this long (FreeSWITCH sends a "
      "HEARTBEAT every 20 s) is presumed dead and reconnected; 0: never." },
    { "esl.max_frame_kb", "65536", CONF_T_INT, 0, 64, 1048576,
      CONF_FIELD(esl_max_frame_kb),
      "Largest Content-Length accepted from FreeSWITCH; a larger frame "
      "drops the connection." },
    /* cucm.*: the CUCM CDR file workers (workers/cucm.h). */
    { "cucm.dirs", "", CONF_T_STR, 0, 0, 0, CONF_NOFIELD,
      "Folders CUCM's billing-server push writes CDR files into, comma "
      "separated; one CUCM worker per folder, which keeps done/ and "
      "quarantine/ inside it. Empty: no CUCM worker." },
    { "cucm.called", "final", CONF_T_STR, 0, 0, 0, CONF_NOFIELD,
      "Number a CUCM call is rated on: final (finalCalledPartyNumber, "
      "after forwarding) or original (originalCalledPartyNumber)." },
    { "cucm.rescan_ms", "5000", CONF_T_INT, 0, 100, 600000,
      CONF_FIELD(cucm_rescan_ms),
      "Period of the full folder scan that backs up inotify (a missed "
      "event, a file system without inotify such as NFS)." },
    { "cucm.stable_ms", "2000", CONF_T_INT, 0, 0, 600000,
      CONF_FIELD(cucm_stable_ms),
      "A file not seen closed after writing is taken once its size and "
      "time stayed the same this long." },
    { "cucm.charge_inbound", "0", CONF_T_INT, 0, 0, 1,
      CONF_FIELD(cucm_charge_inbound),
      "1: CUCM calls from outside to an extension are rated and charged "
      "to the called extension's account." },
    { "cucm.charge_internal", "0", CONF_T_INT, 0, 0, 1,
      CONF_FIELD(cucm_charge_internal),
      "1: CUCM calls between two extensions are rated and charged." },
    { "cucm.dedupe_entries", "1048576", CONF_T_INT, 0, 1024, 268435456,
      CONF_FIELD(cucm_dedupe_entries),
      "Calls the exactly-once set of CUCM remembers (32 bytes each, "
      "shared memory): at least the calls of cucm.dedupe_days, twice that "
      "for headroom." },
    { "cucm.dedupe_days", "7", CONF_T_INT, 0, 1, 36500,
      CONF_FIELD(cucm_dedupe_days),
      "How old a CUCM call may be and still be billed: older ones cannot "
      "be told from calls billed before and are only reported." },
    { "supervisor.stuck_reader_ms", "5000", CONF_T_INT, CONF_F_LIVE, 100,
      3600000, CONF_FIELD(stuck_reader_ms),
      "A reader that holds a retired version this long is killed (then "
      "reaped, restarted, and the version reclaimed)." },
    { "supervisor.restart_backoff_max_ms", "30000", CONF_T_INT, CONF_F_LIVE,
      100, 3600000, CONF_FIELD(restart_backoff_max_ms),
      "Longest delay before restarting a failing child (the delay starts "
      "at 100 ms and doubles; it resets after 10 s of running)." },
    { "supervisor.notify", "1", CONF_T_INT, 0, 0, 1, CONF_NOFIELD,
      "1: tell systemd READY=1 / STOPPING=1 through $NOTIFY_SOCKET." },
};

_Static_assert(sizeof conf_keys / sizeof conf_keys[0] == CONF_NKEYS,
               "CONF_NKEYS must match the rows of conf_keys[]");

static int conf_index(const char *key)
{
    for (int i = 0; i < CONF_NKEYS; i++)
        if (strcmp(conf_keys[i].name, key) == 0)
            return i;
    return -1;
}

static void conf_seterr(conf_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void conf_seterr(conf_err_t *err, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

/* "journal.sync_ms" -> "APOLO_JOURNAL_SYNC_MS" */
static void conf_env_name(const char *key, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "APOLO_");
    for (; *key && n + 1 < cap; key++)
        out[n++] = *key == '.' ? '_' : (char)toupper((unsigned char)*key);
    out[n] = '\0';
}

/* Where key i's value came from, for messages. */
static void conf_where(const conf_t *c, int i, char *out, size_t cap)
{
    char env[64];
    switch (c->src[i]) {
    case CONF_SRC_FILE:
        snprintf(out, cap, "%s:%u", c->path, c->line[i]);
        break;
    case CONF_SRC_ENV:
        conf_env_name(conf_keys[i].name, env, sizeof env);
        if (i == conf_index("database_url") && getenv(env) == NULL)
            snprintf(env, sizeof env, "DATABASE_URL");
        snprintf(out, cap, "environment %s", env);
        break;
    default:
        snprintf(out, cap, "default");
    }
}

void conf_free(conf_t *c)
{
    for (int i = 0; i < CONF_NKEYS; i++)
        free(c->val[i]);
    memset(c, 0, sizeof *c);
}

const char *conf_str(const conf_t *c, const char *key)
{
    int i = conf_index(key);
    if (i < 0)
        return NULL;
    return c->val[i] != NULL ? c->val[i] : conf_keys[i].def;
}

static int conf_parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int conf_int(const conf_t *c, const char *key, int64_t min, int64_t max,
             int64_t def, int64_t *out, conf_err_t *err)
{
    char where[600];
    int64_t v;
    int i = conf_index(key);

    if (i < 0) {
        conf_seterr(err, "unknown configuration key \"%s\"", key);
        return CONF_ENOKEY;
    }
    if (c->val[i] == NULL) {
        *out = def;
        return CONF_OK;
    }
    conf_where(c, i, where, sizeof where);
    if (conf_parse_i64(c->val[i], &v) != 0) {
        conf_seterr(err, "%s = \"%s\" (%s): not an integer", key, c->val[i],
                    where);
        return CONF_EINVAL;
    }
    if (v < min || v > max) {
        conf_seterr(err, "%s = %" PRId64 " (%s): out of range [%" PRId64
                    ", %" PRId64 "]", key, v, where, min, max);
        return CONF_EINVAL;
    }
    *out = v;
    return CONF_OK;
}

/* ---- the file ---------------------------------------------------------- */

static char *conf_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'
                     || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* After a closing quote only blanks or a comment may follow. */
static int conf_rest_blank(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    return *s == '\0' || *s == '#';
}

/* Unquotes v in place. 0, or -1 with *why set. */
static int conf_value(char *v, const char **why)
{
    char q = *v;
    if (q != '"' && q != '\'') {
        for (char *p = v; *p; p++)
            if (*p == '#' && p > v && (p[-1] == ' ' || p[-1] == '\t')) {
                *p = '\0';
                break;
            }
        conf_trim(v);
        return 0;
    }
    char *r = v + 1, *w = v;
    for (; *r && *r != q; r++) {
        if (q == '"' && *r == '\\' && (r[1] == '"' || r[1] == '\\'))
            r++;
        *w++ = *r;
    }
    if (*r != q) {
        *why = "unterminated quoted value";
        return -1;
    }
    if (!conf_rest_blank(r + 1)) {
        *why = "text after the closing quote";
        return -1;
    }
    *w = '\0';
    return 0;
}

static int conf_key_ok(const char *k)
{
    if (*k == '\0')
        return 0;
    for (; *k; k++)
        if (!islower((unsigned char)*k) && !isdigit((unsigned char)*k)
            && *k != '.' && *k != '_')
            return 0;
    return 1;
}

static int conf_set(conf_t *c, int i, const char *v, conf_src_t src,
                    uint32_t line)
{
    char *dup = strdup(v);
    if (dup == NULL)
        return -1;
    free(c->val[i]);
    c->val[i] = dup;
    c->src[i] = (uint8_t)src;
    c->line[i] = line;
    return 0;
}

static int conf_line(conf_t *c, char *s, uint32_t no, conf_err_t *err)
{
    const char *why = NULL;
    s = conf_trim(s);
    if (*s == '\0' || *s == '#')
        return CONF_OK;
    char *eq = strchr(s, '=');
    if (eq == NULL) {
        conf_seterr(err, "%s:%u: expected key = value", c->path, no);
        return CONF_EINVAL;
    }
    *eq = '\0';
    char *key = conf_trim(s), *val = conf_trim(eq + 1);
    int i = conf_key_ok(key) ? conf_index(key) : -1;
    if (i < 0) {
        conf_seterr(err, "%s:%u: unknown key \"%s\" (apolod --keys lists "
                    "them)", c->path, no, key);
        return CONF_EINVAL;
    }
    if (c->src[i] == CONF_SRC_FILE) {
        conf_seterr(err, "%s:%u: %s already set on line %u", c->path, no, key,
                    c->line[i]);
        return CONF_EINVAL;
    }
    if (conf_value(val, &why) != 0) {
        conf_seterr(err, "%s:%u: %s: %s", c->path, no, key, why);
        return CONF_EINVAL;
    }
    if (conf_set(c, i, val, CONF_SRC_FILE, no) != 0) {
        conf_seterr(err, "%s:%u: out of memory", c->path, no);
        return CONF_ERROR;
    }
    return CONF_OK;
}

static int conf_read_file(conf_t *c, const char *path, conf_err_t *err)
{
    char *line = NULL;
    size_t cap = 0;
    uint32_t no = 0;
    int rc = CONF_OK;

    snprintf(c->path, sizeof c->path, "%s", path);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        conf_seterr(err, "%s: cannot open: %s", path, strerror(errno));
        return CONF_ERROR;
    }
    while (rc == CONF_OK && getline(&line, &cap, f) >= 0)
        rc = conf_line(c, line, ++no, err);
    if (rc == CONF_OK && ferror(f)) {
        conf_seterr(err, "%s: read failed: %s", path, strerror(errno));
        rc = CONF_ERROR;
    }
    free(line);
    fclose(f);
    return rc;
}

static int conf_read_env(conf_t *c, conf_err_t *err)
{
    char name[64];
    for (int i = 0; i < CONF_NKEYS; i++) {
        conf_env_name(conf_keys[i].name, name, sizeof name);
        const char *v = getenv(name);
        if (v == NULL && strcmp(conf_keys[i].name, "database_url") == 0)
            v = getenv("DATABASE_URL");
        if (v != NULL && conf_set(c, i, v, CONF_SRC_ENV, 0) != 0) {
            conf_seterr(err, "%s: out of memory", name);
            return CONF_ERROR;
        }
    }
    return CONF_OK;
}

/* ---- checking and typed values ------------------------------------------ */

static int conf_check_key(conf_t *c, int i, conf_err_t *err)
{
    const conf_key_t *k = &conf_keys[i];
    char where[600];
    int64_t v = 0;

    conf_where(c, i, where, sizeof where);
    if (k->type == CONF_T_LEVEL) {
        int lvl = log_level_parse(conf_str(c, k->name));
        if (lvl < 0) {
            conf_seterr(err, "%s = \"%s\" (%s): not one of error, warn, info,"
                        " debug", k->name, conf_str(c, k->name), where);
            return CONF_EINVAL;
        }
        v = lvl;
    } else if (k->type == CONF_T_INT) {
        int64_t def;
        if (conf_parse_i64(k->def, &def) != 0)
            abort();                      /* the table itself is wrong */
        int rc = conf_int(c, k->name, k->min, k->max, def, &v, err);
        if (rc != CONF_OK)
            return rc;
        if ((k->flags & CONF_F_POW2) && (v & (v - 1)) != 0) {
            conf_seterr(err, "%s = %" PRId64 " (%s): not a power of two",
                        k->name, v, where);
            return CONF_EINVAL;
        }
    }
    if (k->field != CONF_NOFIELD)
        *(int64_t *)(void *)((char *)c + k->field) = v;
    return CONF_OK;
}

int conf_load(conf_t *c, const char *path, conf_err_t *err)
{
    int rc = CONF_OK;
    memset(c, 0, sizeof *c);
    if (err != NULL)
        err->msg[0] = '\0';
    if (path != NULL)
        rc = conf_read_file(c, path, err);
    if (rc == CONF_OK)
        rc = conf_read_env(c, err);
    for (int i = 0; rc == CONF_OK && i < CONF_NKEYS; i++)
        rc = conf_check_key(c, i, err);
    if (rc != CONF_OK)
        conf_free(c);
    return rc;
}

/* ---- reload ------------------------------------------------------------ */

static int conf_same(const conf_t *a, const conf_t *b, int i)
{
    return strcmp(conf_str(a, conf_keys[i].name),
                  conf_str(b, conf_keys[i].name)) == 0;
}

int conf_apply_live(conf_t *cur, const conf_t *next, char *restart,
                    size_t cap)
{
    int nrestart = 0;
    size_t n = 0;

    if (cap > 0)
        restart[0] = '\0';
    for (int i = 0; i < CONF_NKEYS; i++) {
        const conf_key_t *k = &conf_keys[i];
        if (conf_same(cur, next, i))
            continue;
        if (!(k->flags & CONF_F_LIVE)) {
            nrestart++;
            if (n < cap)
                n += (size_t)snprintf(restart + n, cap - n, "%s%s",
                                      n ? " " : "", k->name);
            continue;
        }
        if (next->val[i] == NULL) {
            free(cur->val[i]);
            cur->val[i] = NULL;
            cur->src[i] = CONF_SRC_DEFAULT;
        } else if (conf_set(cur, i, next->val[i], next->src[i],
                            next->line[i]) != 0) {
            return CONF_ERROR;
        }
        if (k->field != CONF_NOFIELD)
            *(int64_t *)(void *)((char *)cur + k->field) =
                *(const int64_t *)(const void *)((const char *)next + k->field);
    }
    return nrestart;
}

/* ---- printing ---------------------------------------------------------- */

void conf_print_keys(int fd)
{
    char env[64];
    dprintf(fd, "| key | default | environment | range | SIGHUP | meaning |\n"
                "| --- | --- | --- | --- | --- | --- |\n");
    for (int i = 0; i < CONF_NKEYS; i++) {
        const conf_key_t *k = &conf_keys[i];
        char range[64] = "";
        conf_env_name(k->name, env, sizeof env);
        if (k->type == CONF_T_INT)
            snprintf(range, sizeof range, "%" PRId64 "..%" PRId64 "%s",
                     k->min, k->max, k->flags & CONF_F_POW2 ? ", 2^n" : "");
        dprintf(fd, "| `%s` | %s%s%s | `%s`%s | %s | %s | %s |\n", k->name,
                *k->def ? "`" : "", *k->def ? k->def : "(empty)",
                *k->def ? "`" : "", env, strcmp(k->name, "database_url") == 0
                ? ", `DATABASE_URL`" : "", range,
                k->flags & CONF_F_LIVE ? "live" : "restart", k->doc);
    }
}

void conf_print(const conf_t *c, int fd)
{
    static const char *const src[] = { "default", "file", "env" };
    for (int i = 0; i < CONF_NKEYS; i++) {
        const conf_key_t *k = &conf_keys[i];
        const char *v = conf_str(c, k->name);
        if ((k->flags & CONF_F_SECRET) && *v != '\0')
            v = "(set, not shown)";
        dprintf(fd, "%s = \"%s\"  # %s\n", k->name, v, src[c->src[i]]);
    }
}
