/*
 * api_metrics.c -- GET /metrics (Prometheus text exposition, version
 * 0.0.4) and GET /api/v1/openapi.json (the API's OpenAPI 3.0 document).
 * Both need no session, like /healthz.
 *
 * /metrics reads shared memory only, never PostgreSQL, so a scrape every
 * few seconds costs a few microseconds per worker and ring:
 *
 *   apolo_calls_active            calls.h: claimed call slots (a scan)
 *   apolo_accounts, apolo_catalog_version
 *                                 the current catalog (QSBR reader online)
 *   apolo_esl_*{worker="esl-N"}   stats.h: each ESL worker's slot
 *   apolo_cucm_*{worker="cucm-N"} the same slots of the CUCM workers
 *   apolo_journal_*               journal.h: each ring's head/synced/tail
 *   apolo_flusher_*               flusher_stats() of this process's flusher
 *                                 (admin_flusher(), admin.h)
 *
 * The OpenAPI document is admin/openapi.json, embedded into this object at
 * build time with the assembler's .incbin (below), so it cannot go
 * missing at run time; tests/test_openapi.c fails when a route of any
 * table is not described in it.
 *
 * NOTES
 * - Every family's # HELP and # TYPE come once, before its samples; all
 *   samples of a family are consecutive (the format requires it), so the
 *   loops go family by family, then worker by worker.
 * - Counters come from the region's stats slots, which outlive worker
 *   restarts: they never go backwards within one apolod run.
 * - .incbin resolves the path against the assembler's working directory:
 *   the build runs from the top of the tree (GNUmakefile), and the
 *   GNUmakefile makes this object depend on admin/openapi.json.
 */
#include "admin/admin.h"
#include "admin/api.h"
#include "admin/flusher.h"
#include "shm/calls.h"
#include "shm/catalog.h"
#include "shm/journal.h"
#include "shm/stats.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/uatomic.h>

/* ---- the OpenAPI document ------------------------------------------------ */

__asm__(".pushsection .rodata\n"
        ".balign 16\n"
        ".globl apolo_openapi_json\n"
        ".hidden apolo_openapi_json\n"
        ".type apolo_openapi_json, @object\n"
        "apolo_openapi_json:\n"
        ".incbin \"admin/openapi.json\"\n"
        ".globl apolo_openapi_json_end\n"
        ".hidden apolo_openapi_json_end\n"
        "apolo_openapi_json_end:\n"
        ".byte 0\n"
        ".popsection\n");
extern const char apolo_openapi_json[];
extern const char apolo_openapi_json_end[];

const char *api_openapi_doc(size_t *len)
{
    *len = (size_t)(apolo_openapi_json_end - apolo_openapi_json);
    return apolo_openapi_json;
}

static int openapi_get(http_req_t *r)
{
    size_t len;
    const char *doc = api_openapi_doc(&len);
    return http_send(r, 200, "application/json", doc, len);
}

/* ---- a growing text buffer --------------------------------------------------- */

typedef struct mbuf {
    char  *p;
    size_t len, cap;
    int    oom;
} mbuf_t;

static void mb_printf(mbuf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void mb_printf(mbuf_t *b, const char *fmt, ...)
{
    for (;;) {
        if (b->oom)
            return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL,
                          b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p != NULL && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 8192;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static void mb_family(mbuf_t *b, const char *name, const char *type,
                      const char *help)
{
    mb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ---- /metrics ----------------------------------------------------------------- */

/* Worker families: one per stats_slot_t field. */
typedef struct wfam {
    const char *name;          /* after apolo_<kind>_ */
    const char *type;
    const char *help;
    size_t      off;           /* of the uint64_t field in stats_slot_t */
} wfam_t;

static const wfam_t wfams[] = {
    { "events_total", "counter", "Events received from the node.",
      offsetof(stats_slot_t, events) },
    { "calls_authorized_total", "counter", "Calls authorized.",
      offsetof(stats_slot_t, calls_authorized) },
    { "calls_refused_total", "counter", "Calls refused (no credit, no rate, "
      "blocked, unknown caller, no slot).",
      offsetof(stats_slot_t, calls_refused) },
    { "calls_cut_total", "counter", "Calls cut when their paid time ended.",
      offsetof(stats_slot_t, calls_cut) },
    { "cdrs_total", "counter", "CDRs written to the journal.",
      offsetof(stats_slot_t, cdrs) },
    { "bad_events_total", "counter", "Malformed or unusable events ignored.",
      offsetof(stats_slot_t, bad_events) },
    { "reconnects_total", "counter", "Connections to the node lost (each "
      "followed by reconnection attempts).",
      offsetof(stats_slot_t, reconnects) },
    { "resyncs_total", "counter", "Resynchronisations of live calls after "
      "a reconnection.", offsetof(stats_slot_t, resyncs) },
    { "ratings_total", "counter", "Rating lookups (authorization at park, "
      "pricing at hangup).", offsetof(stats_slot_t, ratings) },
    { "rating_errors_total", "counter", "Rating lookups that found no price.",
      offsetof(stats_slot_t, rating_errors) },
    { "reservations_extended_total", "counter", "Reservations of live "
      "calls grown by a debit interval (metering).",
      offsetof(stats_slot_t, reservations_extended) },
    { "answers_missed_total", "counter", "Answered calls whose "
      "CHANNEL_ANSWER never came (dropped by FreeSWITCH or lost with the "
      "connection), found by asking and metered from their answer.",
      offsetof(stats_slot_t, answers_missed) },
    { "connected", "gauge", "1 while subscribed to the node's events.",
      offsetof(stats_slot_t, connected) },
};

static const char *worker_kind(uint32_t tag)
{
    return tag >> 24 == CALLS_KIND_ESL ? "esl" : NULL;
}

/* The CUCM workers' slots (workers/cucm.h) use these fields. */
static const wfam_t cfams[] = {
    { "records_total", "counter", "CDR file lines read (call records and "
      "bad lines).", offsetof(stats_slot_t, events) },
    { "bad_records_total", "counter", "Lines of CDR files that were not a "
      "valid record (named in the file's report).",
      offsetof(stats_slot_t, bad_events) },
    { "cdrs_total", "counter", "CDRs journaled (calls billed, with or "
      "without money).", offsetof(stats_slot_t, cdrs) },
    { "ratings_total", "counter", "Charged answered calls priced.",
      offsetof(stats_slot_t, ratings) },
    { "rating_errors_total", "counter", "Calls that found no price "
      "(recorded unbilled).", offsetof(stats_slot_t, rating_errors) },
};

static void metrics_cucm(mbuf_t *b, const stats_shm_t *st)
{
    char name[96];
    for (size_t f = 0; f < sizeof cfams / sizeof cfams[0]; f++) {
        snprintf(name, sizeof name, "apolo_cucm_%s", cfams[f].name);
        mb_family(b, name, cfams[f].type, cfams[f].help);
        for (uint32_t i = 0; i < st->nslots; i++) {
            stats_slot_t sl;
            uint64_t v;
            if (!stats_read(st, i, &sl) || sl.tag >> 24 != CALLS_KIND_CUCM)
                continue;
            memcpy(&v, (const uint8_t *)&sl + cfams[f].off, sizeof v);
            mb_printf(b, "%s{worker=\"cucm-%u\"} %" PRIu64 "\n", name,
                      sl.tag & 0xffffffu, v);
        }
    }
}

/* The verdict latency histogram (stats.h verdict_us), Prometheus' way:
 * cumulative buckets, le in seconds. */
static void metrics_verdicts(mbuf_t *b, const stats_slot_t *slots, uint32_t n)
{
    mb_family(b, "apolo_esl_verdict_seconds", "histogram",
              "From the kernel's receipt of a CHANNEL_PARK to its verdict "
              "(uuid_transfer, uuid_kill) written to the socket: the "
              "engine's share of park-to-verdict.");
    for (uint32_t i = 0; i < n; i++) {
        const char *k = worker_kind(slots[i].tag);
        unsigned idx = slots[i].tag & 0xffffffu;
        uint64_t cum = 0;
        for (int j = 0; j < STATS_VERDICT_NB; j++) {
            cum += slots[i].verdict_us[j];
            if (j == STATS_VERDICT_NB - 1) {
                mb_printf(b, "apolo_esl_verdict_seconds_bucket{worker=\"%s-%u\","
                          "le=\"+Inf\"} %" PRIu64 "\n", k, idx, cum);
                break;
            }
            uint32_t us = stats_verdict_bounds_us[j];
            mb_printf(b, "apolo_esl_verdict_seconds_bucket{worker=\"%s-%u\","
                      "le=\"%u.%06u\"} %" PRIu64 "\n", k, idx, us / 1000000,
                      us % 1000000, cum);
        }
        uint64_t sum = slots[i].verdict_sum_us;
        mb_printf(b, "apolo_esl_verdict_seconds_sum{worker=\"%s-%u\"} %" PRIu64
                  ".%06" PRIu64 "\n", k, idx, sum / 1000000, sum % 1000000);
        mb_printf(b, "apolo_esl_verdict_seconds_count{worker=\"%s-%u\"} %"
                  PRIu64 "\n", k, idx, cum);
    }
}

static void metrics_workers(mbuf_t *b, const stats_shm_t *st)
{
    /* Copy the claimed slots once: every family then reads the same
     * figures. */
    uint32_t n = 0;
    stats_slot_t *slots = calloc(st->nslots ? st->nslots : 1, sizeof *slots);
    if (slots == NULL) {
        b->oom = 1;
        return;
    }
    for (uint32_t i = 0; i < st->nslots; i++)
        if (stats_read(st, i, &slots[n]) && worker_kind(slots[n].tag) != NULL)
            n++;
    char name[96];
    for (size_t f = 0; f < sizeof wfams / sizeof wfams[0]; f++) {
        snprintf(name, sizeof name, "apolo_esl_%s", wfams[f].name);
        mb_family(b, name, wfams[f].type, wfams[f].help);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t v;
            memcpy(&v, (const uint8_t *)&slots[i] + wfams[f].off, sizeof v);
            mb_printf(b, "%s{worker=\"%s-%u\"} %" PRIu64 "\n", name,
                      worker_kind(slots[i].tag), slots[i].tag & 0xffffffu, v);
        }
    }
    mb_family(b, "apolo_esl_last_event_timestamp_seconds", "gauge",
              "Wall clock of the last event received (0: none yet).");
    for (uint32_t i = 0; i < n; i++) {
        int64_t us = slots[i].last_event_us > 0 ? slots[i].last_event_us : 0;
        mb_printf(b, "apolo_esl_last_event_timestamp_seconds{worker=\"%s-%u\"}"
                  " %" PRId64 ".%06" PRId64 "\n", worker_kind(slots[i].tag),
                  slots[i].tag & 0xffffffu, us / 1000000, us % 1000000);
    }
    metrics_verdicts(b, slots, n);
    free(slots);
}

static void metrics_journal(mbuf_t *b, const jrn_t *j)
{
    uint32_t n = j->hdr->nrings;
    uint64_t unsynced = 0, records = 0;
    mb_family(b, "apolo_journal_depth", "gauge",
              "Records of the ring not yet drained into PostgreSQL.");
    for (uint32_t i = 0; i < n; i++) {
        jrn_ring_t *rg = jrn_ring(j, i);
        /* tail <= synced <= head: read the lower bounds first, so that a
         * concurrent producer can only make the difference larger. */
        uint64_t tail = uatomic_read(&rg->tail);
        uint64_t synced = uatomic_read(&rg->synced);
        uint64_t head = uatomic_read(&rg->head);
        mb_printf(b, "apolo_journal_depth{ring=\"%u\"} %" PRIu64 "\n", i,
                  head > tail ? head - tail : 0);
        unsynced += head > synced ? head - synced : 0;
        records += head;
    }
    mb_family(b, "apolo_journal_unsynced", "gauge",
              "Records appended and not yet known to be on disk (all rings).");
    mb_printf(b, "apolo_journal_unsynced %" PRIu64 "\n", unsynced);
    mb_family(b, "apolo_journal_records_total", "counter",
              "Records ever appended to the journal (sum of the rings' heads).");
    mb_printf(b, "apolo_journal_records_total %" PRIu64 "\n", records);
}

static void metrics_flusher(mbuf_t *b)
{
    const flusher_t *f = admin_flusher();
    if (f == NULL)
        return;
    flusher_stats_t s;
    flusher_stats(f, &s);
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } ff[] = {
        { "apolo_flusher_records_total", "counter", "Journal records drained "
          "into PostgreSQL (rejects included).",
          offsetof(flusher_stats_t, records) },
        { "apolo_flusher_batches_total", "counter", "Flusher transactions "
          "committed.", offsetof(flusher_stats_t, batches) },
        { "apolo_flusher_rejected_total", "counter", "Poison records moved to "
          "journal_rejects.", offsetof(flusher_stats_t, rejected) },
        { "apolo_flusher_retries_total", "counter", "Batches rolled back for "
          "a transient failure.", offsetof(flusher_stats_t, retries) },
        { "apolo_flusher_lag", "gauge", "Records published, not yet drained.",
          offsetof(flusher_stats_t, lag) },
    };
    for (size_t i = 0; i < sizeof ff / sizeof ff[0]; i++) {
        uint64_t v;
        memcpy(&v, (const uint8_t *)&s + ff[i].off, sizeof v);
        mb_family(b, ff[i].name, ff[i].type, ff[i].help);
        mb_printf(b, "%s %" PRIu64 "\n", ff[i].name, v);
    }
    mb_family(b, "apolo_flusher_connected", "gauge",
              "1 while the flusher's PostgreSQL connection is up.");
    mb_printf(b, "apolo_flusher_connected %d\n", s.connected ? 1 : 0);
}

static int metrics_get(http_req_t *r)
{
    mbuf_t b = { 0 };
    const proc_ctx_t *ctx = r->ctx;

    mb_family(&b, "apolo_calls_active", "gauge",
              "Calls in progress (authorized, not yet recorded).");
    mb_printf(&b, "apolo_calls_active %u\n",
              ctx->calls != NULL ? calls_count(ctx->calls) : 0);
    const cat_hdr_t *c = r->rd != NULL ? cat_current(ctx->region) : NULL;
    mb_family(&b, "apolo_accounts", "gauge",
              "Accounts in the published catalog.");
    mb_printf(&b, "apolo_accounts %u\n", c != NULL ? c->naccts : 0);
    mb_family(&b, "apolo_catalog_version", "gauge",
              "Version of the published catalog (0: none yet).");
    mb_printf(&b, "apolo_catalog_version %" PRIu64 "\n",
              c != NULL ? c->version : 0);
    metrics_workers(&b, region_area(ctx->region, REGION_AREA_STATS));
    metrics_cucm(&b, region_area(ctx->region, REGION_AREA_STATS));
    if (ctx->jrn != NULL && ctx->jrn->hdr != NULL)
        metrics_journal(&b, ctx->jrn);
    metrics_flusher(&b);

    int status;
    if (b.oom)
        status = http_error(r, 500, "internal", "out of memory");
    else
        status = http_send(r, 200, "text/plain; version=0.0.4; charset=utf-8",
                           b.p, b.len);
    free(b.p);
    return status;
}

const http_route_t api_metrics_routes[] = {
    { "GET", "/metrics", HTTP_ROLE_NONE, metrics_get },
    { "GET", "/api/v1/openapi.json", HTTP_ROLE_NONE, openapi_get },
    { NULL, NULL, HTTP_ROLE_NONE, NULL }
};
