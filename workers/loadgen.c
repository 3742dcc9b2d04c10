/*
 * loadgen.c -- the synthetic movement producer (see loadgen.h). Tests and
 * benchmarks only.
 *
 * One iteration = at most one movement, then a quiescent point: the
 * catalog is only read inside an iteration, and what survives it (account
 * slot and id) is copied out, which is safe because account slots are
 * never reused (account.h).
 *
 * NOTES
 * - A movement's number n is taken only when it succeeds, so a retried
 *   movement keeps its reference and the references of one run are
 *   exactly lg...-1 .. lg...-N: a test can count them and find no gap.
 * - Pacing is against the start time (movement n is due at t0 + n/rate),
 *   so a slow iteration is caught up instead of lowering the rate.
 * - While sleeping the generator is offline (qsbr.h): an idle generator
 *   must never hold a retired catalog and get itself killed as stuck.
 */
#include "workers/loadgen.h"
#include "shm/account.h"
#include "shm/catalog.h"
#include "shm/jrec.h"
#include "shm/log.h"
#include "shm/qsbr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LG_TIMEOUT_MS   100
#define LG_IDLE_NS      (10 * 1000000L)
#define LG_COST_UNIT    10000          /* 0.01 in micro-units */

/* What one attempt came to (lg_call / lg_recharge). */
enum { LG_DONE, LG_RETRY, LG_NOFUNDS, LG_SKIP };

typedef struct lg_acct {
    uint32_t slot;
    int64_t  id;
} lg_acct_t;

typedef struct lg {
    proc_ctx_t   *ctx;
    acct_shm_t   *accts;
    qsbr_reader_t rd;
    jrn_writer_t  w;
    lg_acct_t    *pick;
    uint32_t      npick, cap, next;
    uint64_t      cat_version;
    uint64_t      n, debits, recharges, retries, skipped;
    int64_t       t0_ns, done_ns;     /* done_ns: loadgen.total reached */
    long          epoch_s;
    int           done_logged, empty_logged;
} lg_t;

static int64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t lg_wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Sleeps offline for ns (at most LG_IDLE_NS, so a stop is seen quickly). */
static void lg_sleep(lg_t *g, int64_t ns)
{
    if (ns > LG_IDLE_NS)
        ns = LG_IDLE_NS;
    struct timespec ts = { 0, (long)ns };
    qsbr_offline(&g->rd);
    nanosleep(&ts, NULL);
    qsbr_online(&g->rd);
}

/* ---- the accounts -------------------------------------------------------- */

/* Copies the accounts to spread over out of catalog c. */
static int lg_take_accounts(lg_t *g, const cat_hdr_t *c)
{
    const cat_acct_t *a = (const cat_acct_t *)((const uint8_t *)c
                                               + c->accts_off);
    uint32_t n = c->naccts;
    if (g->ctx->conf->loadgen_accounts > 0
        && (uint64_t)g->ctx->conf->loadgen_accounts < n)
        n = (uint32_t)g->ctx->conf->loadgen_accounts;
    if (n > g->cap) {
        lg_acct_t *v = realloc(g->pick, n * sizeof *v);
        if (v == NULL)
            return -1;
        g->pick = v;
        g->cap = n;
    }
    for (uint32_t i = 0; i < n; i++)
        g->pick[i] = (lg_acct_t){ a[i].slot, a[i].id };
    g->npick = n;
    g->next = n ? (uint32_t)(g->ctx->index * 7919u) % n : 0;
    g->cat_version = c->version;
    LOG_INFO("loadgen", "catalog %" PRIu64 " seen: %u accounts, using %u",
             c->version, c->naccts, n);
    return 0;
}

/* Follows the current catalog; 0, or -1 out of memory. */
static int lg_refresh(lg_t *g)
{
    const cat_hdr_t *c = cat_current(g->ctx->region);
    if (c == NULL || c->version == g->cat_version)
        return 0;
    return lg_take_accounts(g, c);
}

/* ---- one movement -------------------------------------------------------- */

static void lg_reference(const lg_t *g, char *out, size_t cap)
{
    snprintf(out, cap, "lg%d-%d-%ld-%" PRIu64, g->ctx->index, (int)getpid(),
             g->epoch_s, g->n + 1);
}

static int lg_cdr(const lg_t *g, const lg_acct_t *a, money_t cost,
                  uint8_t *buf, size_t *len)
{
    jrec_cdr_t c;
    int64_t now = lg_wall_us();
    memset(&c, 0, sizeof c);
    lg_reference(g, c.call_id, sizeof c.call_id);
    snprintf(c.caller, sizeof c.caller, "%d", 1000 + g->ctx->index);
    snprintf(c.callee, sizeof c.callee, "54911%08" PRIu64, g->n % 100000000);
    snprintf(c.dialed, sizeof c.dialed, "%s", c.callee);
    snprintf(c.hangup_cause, sizeof c.hangup_cause, "NORMAL_CLEARING");
    c.source = JREC_SRC_FREESWITCH;
    c.direction = JREC_DIR_OUTBOUND;
    c.rounding = JREC_ROUND_NONE;
    c.account_id = a->id;
    c.end_us = now;
    c.answer_us = now - 60 * 1000000LL;
    c.start_us = c.answer_us - 5 * 1000000LL;
    c.duration = 65;
    c.billsec = 60;
    c.cost = cost;
    return jrec_encode_cdr(&c, buf, JRN_PAYLOAD_MAX, len);
}

static int lg_move_payload(const lg_t *g, uint8_t *buf, size_t *len)
{
    jrec_move_t m;
    memset(&m, 0, sizeof m);
    lg_reference(g, m.reference, sizeof m.reference);
    snprintf(m.actor, sizeof m.actor, "%s", g->ctx->name);
    snprintf(m.reason, sizeof m.reason, "loadgen");
    return jrec_encode_move(&m, buf, JRN_PAYLOAD_MAX, len);
}

/* jrn_move's result as an LG_* outcome: a full ring or a busy account
 * lock is worth retrying, anything else is not. */
static int lg_outcome(int jrn_rc)
{
    return jrn_rc == JRN_OK ? LG_DONE
         : jrn_rc == JRN_EFULL || jrn_rc == JRN_EBUSY ? LG_RETRY : LG_SKIP;
}

/* A recharge of amount. */
static int lg_recharge(lg_t *g, const lg_acct_t *a, money_t amount)
{
    uint8_t buf[JRN_PAYLOAD_MAX];
    size_t len = 0;
    if (lg_move_payload(g, buf, &len) != JREC_OK)
        return LG_SKIP;
    int rc = lg_outcome(jrn_move(&g->w, g->accts, a->slot, JRN_RECHARGE,
                                 amount, amount, buf, len, LG_TIMEOUT_MS,
                                 NULL, NULL));
    g->recharges += rc == LG_DONE;
    return rc;
}

/* A call: reserve its cost, then debit it with its CDR. */
static int lg_call(lg_t *g, const lg_acct_t *a, money_t cost)
{
    uint8_t buf[JRN_PAYLOAD_MAX];
    size_t len = 0;
    int rc = acct_reserve(g->accts, a->slot, cost);
    if (rc != ACCT_OK)
        return rc == ACCT_ENOFUNDS ? LG_NOFUNDS : LG_SKIP;
    if (lg_cdr(g, a, cost, buf, &len) != JREC_OK) {
        acct_release(g->accts, a->slot, cost);
        return LG_SKIP;
    }
    rc = lg_outcome(jrn_move(&g->w, g->accts, a->slot, JRN_CALL_DEBIT, -cost,
                             0, buf, len, LG_TIMEOUT_MS, NULL, NULL));
    if (rc != LG_DONE)
        acct_release(g->accts, a->slot, cost);
    g->debits += rc == LG_DONE;
    return rc;
}

/* One movement on the next account: debits on even n, recharges of the
 * same amount on odd n, so each pair nets to zero. */
static void lg_step(lg_t *g)
{
    const lg_acct_t *a = &g->pick[g->next];
    money_t cost = LG_COST_UNIT * (money_t)(1 + (g->n / 2) % 5);
    int rc = g->n % 2 == 0 ? lg_call(g, a, cost) : lg_recharge(g, a, cost);
    if (rc == LG_NOFUNDS)
        rc = lg_recharge(g, a, cost);      /* no funds: its recharge first */
    if (rc == LG_DONE) {
        g->n++;
        if (g->n % 2 == 0)
            g->next = (g->next + 1) % g->npick;
    } else if (rc == LG_RETRY) {
        g->retries++;                      /* same reference next time */
        lg_sleep(g, 1000000);
    } else {
        g->skipped++;                      /* blocked, or refused */
        g->next = (g->next + 1) % g->npick;
        if (g->skipped % 1000 == 1)
            LOG_WARN("loadgen", 0, "account %lld skipped (not active, or "
                     "the movement was refused); %" PRIu64 " skips so far",
                     (long long)a->id, g->skipped);
    }
}

/* ---- the loop ------------------------------------------------------------ */

static void lg_summary(const lg_t *g, const char *why)
{
    double secs = (double)((g->done_ns ? g->done_ns : lg_now_ns())
                           - g->t0_ns) / 1e9;
    LOG_INFO("loadgen", "%s: %" PRIu64 " movements (%" PRIu64 " debits, %"
             PRIu64 " recharges) in %.2f s = %.0f/s; %" PRIu64 " retries, %"
             PRIu64 " skips", why, g->n, g->debits, g->recharges, secs,
             secs > 0 ? (double)g->n / secs : 0.0, g->retries, g->skipped);
}

/* Waits until movement n+1 is due; 1 if it may go now. */
static int lg_paced(lg_t *g)
{
    int64_t rate = g->ctx->conf->loadgen_rate;
    if (rate <= 0)
        return 1;
    int64_t due = g->t0_ns + (int64_t)((double)g->n * 1e9 / (double)rate);
    int64_t wait = due - lg_now_ns();
    if (wait <= 0)
        return 1;
    lg_sleep(g, wait);
    return 0;
}

static int lg_iteration(lg_t *g)
{
    int64_t total = g->ctx->conf->loadgen_total;
    if (lg_refresh(g) != 0) {
        LOG_ERROR("loadgen", ENOMEM, "cannot copy the account list");
        return PROC_EXIT_FATAL;
    }
    if (total > 0 && g->n >= (uint64_t)total) {
        if (!g->done_logged++) {
            g->done_ns = lg_now_ns();
            lg_summary(g, "done");
        }
        lg_sleep(g, LG_IDLE_NS);
    } else if (g->npick == 0) {
        if (!g->empty_logged++)
            LOG_WARN("loadgen", 0, "no accounts in the catalog: idle");
        lg_sleep(g, LG_IDLE_NS);
    } else if (lg_paced(g)) {
        lg_step(g);
    }
    qsbr_quiescent(&g->rd);
    return PROC_EXIT_OK;
}

int loadgen_main(proc_ctx_t *ctx)
{
    lg_t g;
    memset(&g, 0, sizeof g);
    g.ctx = ctx;
    g.accts = region_area(ctx->region, REGION_AREA_ACCOUNTS);
    g.t0_ns = lg_now_ns();
    g.epoch_s = (long)time(NULL);
    if (qsbr_register(region_area(ctx->region, REGION_AREA_QSBR), &g.rd)
        != QSBR_OK) {
        LOG_ERROR("loadgen", 0, "no free QSBR slot (region.max_readers)");
        return PROC_EXIT_FATAL;
    }
    if (jrn_writer_open(ctx->jrn, &g.w) != JRN_OK) {
        LOG_ERROR("loadgen", 0, "no free journal ring (journal.rings)");
        qsbr_unregister(&g.rd);
        return PROC_EXIT_FATAL;
    }
    LOG_INFO("loadgen", "started: ring %u, rate %lld/s, total %lld "
             "(synthetic load: not for production)", g.w.index,
             (long long)ctx->conf->loadgen_rate,
             (long long)ctx->conf->loadgen_total);
    int rc = PROC_EXIT_OK;
    qsbr_online(&g.rd);
    while (!*ctx->stop && rc == PROC_EXIT_OK)
        rc = lg_iteration(&g);
    lg_summary(&g, "stopped");
    qsbr_unregister(&g.rd);
    jrn_writer_close(&g.w);
    free(g.pick);
    return rc;
}
