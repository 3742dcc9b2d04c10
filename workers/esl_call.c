/*
 * esl_call.c -- the life of a FreeSWITCH call in the ESL worker (esl.h):
 * authorize at park, meter from answer, cut when the money ends, record at
 * hangup, and resynchronise after a lost connection.
 *
 * NOTES
 * - Money rules. A call reserves one debit interval at a time. At park the
 *   balance must pay for at least the first billable block (rating.h's
 *   inverse), or the call is refused. From answer the reservation is
 *   extended one interval before it runs out; when the account cannot
 *   cover the next interval, what it can cover (to the second, with the
 *   plan's increments) is reserved and the call is cut exactly when that
 *   ends. Concurrent calls of one account therefore never hold more than
 *   the account's headroom (account.h) and never overspend.
 * - What is billed. FreeSWITCH's billsec is the difference of whole-second
 *   epochs (3180 ms gave 3 in one run, 4 in another); we bill billmsec
 *   rounded half up to whole seconds, then the plan's increments. A call
 *   we cut at N paid seconds hangs up a few milliseconds later and bills N.
 * - Fail-safe. Every authorized call carries a sched_hangup in FreeSWITCH
 *   at the end of its paid time plus one second (the engine's own cut is
 *   the precise one), so a call stays bounded if this worker, or all of
 *   apolod, dies. At park it also allows esl.ring_allowance_sec of ringing;
 *   it is re-armed when the call rang longer, and at every extension
 *   (sched_del <uuid>: FreeSWITCH files a call's scheduled hangups under
 *   the group named by its uuid, as ADD_SCHEDULE's Task-Group shows).
 * - Duplicates and order. A call is known by its Unique-ID from park to
 *   the journaling of its CDR; after that its hash stays in a recently-
 *   ended table, so a repeated CHANNEL_PARK or HANGUP_COMPLETE changes
 *   nothing. A HANGUP_COMPLETE before its ANSWER is priced from its own
 *   answered time and billmsec; the late ANSWER then finds no call.
 * - Audit. A call that should be over by now (its cut was sent, its
 *   fail-safe has fired, it was refused) and whose HANGUP_COMPLETE has not
 *   come is asked about (uuid_exists) ESL_AUDIT_MS later: FreeSWITCH drops
 *   events for a listener that falls behind, and a call must not hold its
 *   reservation, or go unrecorded, forever.
 * - Ring poll. A dropped CHANNEL_ANSWER would let a charged call talk
 *   unmetered until its park-time fail-safe (its paid time plus the ring
 *   allowance: 30 s unpaid by default). So a charged call that still rings
 *   is asked about (uuid_dump) before the reservation it holds could run
 *   out had it answered right after the last look; an answer found that way
 *   is metered from its real answer time (apolo_esl_answers_missed_total).
 * - Parked while away. In park mode a call waits, parked, for our
 *   verdict: one parked while the connection was down (or before apolod
 *   started) would wait in silence until FreeSWITCH's park timer. Every
 *   (re)connection lists the channels; one unanswered, inbound, running
 *   `park` and unknown to us is authorized from its uuid_dump as its
 *   CHANNEL_PARK would have been.
 * - Resync never kills what it does not know: channels that are not ours
 *   are left alone, ours are hung up only when their paid time is over,
 *   and at most esl.max_resync_kills per resynchronisation.
 */
#include "workers/esl_int.h"
#include "shm/catalog.h"
#include "shm/clock.h"
#include "shm/jrec.h"
#include "shm/log.h"
#include "shm/rating.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ESL_DONE_BITS    17
#define ESL_JRN_WAIT_MS  20
#define ESL_RETRY_MS     100
#define ESL_AUDIT_MS     5000       /* after the end we expect */
#define ESL_AUDIT_AGAIN_MS 30000    /* still there: ask again */
#define ESL_RING_POLL_MIN_MS 1000   /* see esl_ring_poll_ms */

/* Why a call is refused, as the hangup cause FreeSWITCH is given. */
#define CAUSE_NO_MONEY   "CALL_REJECTED"
#define CAUSE_NO_ROUTE   "NO_ROUTE_DESTINATION"
#define CAUSE_BARRED     "OUTGOING_CALL_BARRED"
#define CAUSE_CONGESTION "SWITCH_CONGESTION"
#define CAUSE_CUT        "ALLOTTED_TIMEOUT"

#define CALL_F_REFUSED   0x10     /* slot flag: killed at park */
#define CALL_F_PENDING_CUT 0x20   /* cut due while disconnected */
#define CALL_F_UNBILLED  0x40     /* CDR: its debit was refused, cost 0 */

static inline call_slot_t *slot_of(esl_worker_t *w, uint32_t i)
{
    return &w->cs->slots[i];
}

/* ---- small helpers --------------------------------------------------------- */

static uint64_t esl_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;          /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
    return h | 1;                                 /* 0 = empty */
}

static int esl_token_ok(const char *s, size_t n, size_t max, int digits_only)
{
    if (s == NULL || n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int ok = (ch >= '0' && ch <= '9')
                 || (!digits_only && ((ch >= 'a' && ch <= 'z')
                                      || (ch >= 'A' && ch <= 'Z') || ch == '-'
                                      || ch == '+' || ch == '*' || ch == '#'
                                      || ch == '_' || ch == '.'));
        if (!ok)
            return 0;
    }
    return 1;
}

static void esl_copy(char *dst, size_t cap, const char *src, size_t n)
{
    if (src == NULL)
        n = 0;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

static int64_t ev_i64(const esl_event_t *ev, int h)
{
    const char *v = ev->val[h];
    if (v == NULL || *v == '\0')
        return 0;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    return errno || *end != '\0' || x < 0 ? 0 : (int64_t)x;
}

static int ev_is(const esl_event_t *ev, int h, const char *s)
{
    return ev->val[h] != NULL && strcmp(ev->val[h], s) == 0;
}

/*
 * Deadlines are FreeSWITCH times (its answer time + the seconds paid), but
 * our timers run on our monotonic clock. FreeSWITCH's time is mapped onto
 * it directly, never through our wall clock: the two wall clocks may
 * differ (another host) and either may step (NTP, an operator), and a cut
 * computed across them would come an hour early or late. Every event
 * carries FreeSWITCH's time of it: our monotonic time at arrival minus it
 * is the offset between the two plus the delivery lag (never negative), so
 * the smallest difference seen over a couple of seconds is the offset. A
 * smaller one is taken at once (a better bound, or FreeSWITCH's clock
 * stepped forward); a larger one only as the smallest of a whole window (a
 * lag spike must not move the deadlines later). A step of our own wall
 * clock changes nothing.
 */
#define ESL_SKEW_WINDOW_MS 2000

void esl_clock_sample(esl_worker_t *w, int64_t fs_us)
{
    int64_t now = clock_mono_us(), d = now - fs_us;
    if (fs_us <= 0)
        return;
    if (!w->skew_known || d < w->skew_us) {
        w->skew_us = d;
        w->skew_known = 1;
        w->skew_win_min = d;
        w->skew_win_ms = now / 1000;
        return;
    }
    if (d < w->skew_win_min)
        w->skew_win_min = d;
    if (now / 1000 - w->skew_win_ms >= ESL_SKEW_WINDOW_MS) {
        w->skew_us = w->skew_win_min;
        w->skew_win_min = d;
        w->skew_win_ms = now / 1000;
    }
}

/* FreeSWITCH's wall-clock us as our monotonic us (before any event: as if
 * its clock were ours). */
static int64_t esl_fs_to_mono_us(const esl_worker_t *w, int64_t fs_us)
{
    if (w->skew_known)
        return fs_us + w->skew_us;
    return fs_us - esl_wall_us() + clock_mono_us();
}

/* The monotonic ms at which FreeSWITCH's wall-clock us `at` happens. */
static int64_t esl_mono_at(const esl_worker_t *w, int64_t at_us)
{
    return esl_fs_to_mono_us(w, at_us) / 1000;
}

/* ---- the uuid index and the recently-ended table ---------------------- */

static uint32_t esl_find(esl_worker_t *w, const char *uuid, size_t n)
{
    uint64_t h = esl_hash(uuid, n);
    for (uint32_t i = w->buckets[h & w->bmask]; i != ESL_NONE;
         i = w->calls[i].hnext)
        if (w->calls[i].hash == h
            && strncmp(slot_of(w, i)->cdr.call_id, uuid, n) == 0
            && slot_of(w, i)->cdr.call_id[n] == '\0')
            return i;
    return ESL_NONE;
}

static void esl_index(esl_worker_t *w, uint32_t i)
{
    const char *u = slot_of(w, i)->cdr.call_id;
    esl_call_t *c = &w->calls[i];
    c->hash = esl_hash(u, strlen(u));
    c->hnext = w->buckets[c->hash & w->bmask];
    w->buckets[c->hash & w->bmask] = i;
}

static void esl_unindex(esl_worker_t *w, uint32_t i)
{
    uint32_t *p = &w->buckets[w->calls[i].hash & w->bmask];
    while (*p != ESL_NONE && *p != i)
        p = &w->calls[*p].hnext;
    if (*p == i)
        *p = w->calls[i].hnext;
}

static int esl_ended(const esl_worker_t *w, const char *uuid, size_t n)
{
    uint64_t h = esl_hash(uuid, n);
    return w->done[h & w->done_mask] == h;
}

/* ---- timers: a binary heap, stale entries skipped when popped ------------ */

static void heap_swap(esl_timer_t *a, esl_timer_t *b)
{
    esl_timer_t t = *a;
    *a = *b;
    *b = t;
}

static int heap_push(esl_worker_t *w, esl_timer_t t)
{
    if (w->nheap == w->heap_cap) {
        uint32_t cap = w->heap_cap ? w->heap_cap * 2 : 1024;
        esl_timer_t *v = realloc(w->heap, cap * sizeof *v);
        if (v == NULL)
            return -1;
        w->heap = v;
        w->heap_cap = cap;
    }
    uint32_t i = w->nheap++;
    w->heap[i] = t;
    while (i > 0 && w->heap[(i - 1) / 2].due_ms > w->heap[i].due_ms) {
        heap_swap(&w->heap[(i - 1) / 2], &w->heap[i]);
        i = (i - 1) / 2;
    }
    return 0;
}

static esl_timer_t heap_pop(esl_worker_t *w)
{
    esl_timer_t top = w->heap[0];
    w->heap[0] = w->heap[--w->nheap];
    for (uint32_t i = 0;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < w->nheap && w->heap[l].due_ms < w->heap[m].due_ms)
            m = l;
        if (r < w->nheap && w->heap[r].due_ms < w->heap[m].due_ms)
            m = r;
        if (m == i)
            break;
        heap_swap(&w->heap[i], &w->heap[m]);
        i = m;
    }
    return top;
}

static void esl_due(esl_worker_t *w, uint32_t i, int action, int64_t at_ms)
{
    esl_call_t *c = &w->calls[i];
    c->action = (uint8_t)action;
    c->due_ms = at_ms > 0 ? at_ms : 1;
    if (heap_push(w, (esl_timer_t){ c->due_ms, i, c->gen }) != 0)
        LOG_ERROR("esl", ENOMEM, "timer of call %s lost",
                  slot_of(w, i)->cdr.call_id);
}

/* How long before the end of its paid time a call's reservation is
 * extended: half an interval, at most 5 s. */
static int64_t esl_lead_ms(const esl_worker_t *w)
{
    int64_t ms = (int64_t)w->interval * 500;
    return ms < 5000 ? ms : 5000;
}

/* The period of a charged ringing call's poll: an answer it finds is found
 * before the reservation the call holds (covered_sec from the answer)
 * needs extending, however soon after the last look the call answered;
 * at least ESL_RING_POLL_MIN_MS (with a 1 s debit interval that is up to
 * half a second later than that). */
static int64_t esl_ring_poll_ms(const esl_worker_t *w, const call_slot_t *s)
{
    int64_t ms = (int64_t)s->covered_sec * 1000 - esl_lead_ms(w);
    return ms > ESL_RING_POLL_MIN_MS ? ms : ESL_RING_POLL_MIN_MS;
}

/* ---- set up and tear down -------------------------------------------------- */

int esl_calls_init(esl_worker_t *w)
{
    uint32_t n = w->cs->nslots, b = 1024;
    while (b < 2 * n)
        b <<= 1;
    w->calls = calloc(n ? n : 1, sizeof *w->calls);
    w->buckets = malloc(b * sizeof *w->buckets);
    w->done = calloc((size_t)1 << ESL_DONE_BITS, sizeof *w->done);
    if (w->calls == NULL || w->buckets == NULL || w->done == NULL)
        return -1;
    memset(w->buckets, 0xff, b * sizeof *w->buckets);
    w->bmask = b - 1;
    w->done_mask = (1u << ESL_DONE_BITS) - 1;
    return 0;
}

void esl_calls_free(esl_worker_t *w)
{
    free(w->calls);
    free(w->buckets);
    free(w->done);
    free(w->heap);
}

/* Forgets call i: it is journaled (or was never ours to journal). */
static void esl_forget(esl_worker_t *w, uint32_t i)
{
    esl_call_t *c = &w->calls[i];
    call_slot_t *s = slot_of(w, i);
    uint64_t h = c->hash;
    esl_unindex(w, i);
    w->done[h & w->done_mask] = h;
    c->live = 0;
    c->due_ms = 0;
    c->gen++;
    calls_free(s);
}

/* ---- journaling a finished call ------------------------------------------- */

static int esl_payload(const call_slot_t *s, uint8_t *buf, size_t *len)
{
    int rc = jrec_encode_cdr(&s->cdr, buf, JRN_PAYLOAD_MAX, len);
    if (rc != JREC_OK)
        LOG_ERROR("esl", 0, "CDR of %s does not encode (%d): a field out of "
                  "range", s->cdr.call_id, rc);
    return rc;
}

/* APOLO_TEST_REFUSE_DEBIT set: every debit is refused as a balance bound
 * would refuse it (tests/t_esl.sh, run 6). Test-only; nothing when unset. */
static int esl_test_refuse_debit(void)
{
    static int refuse = -1;
    if (refuse < 0)
        refuse = getenv("APOLO_TEST_REFUSE_DEBIT") != NULL;
    return refuse;
}

/* Journals the CDR of FINAL slot i, with its debit; frees the slot. On a
 * full journal or a busy account it retries from a timer. */
static void esl_journal(esl_worker_t *w, uint32_t i)
{
    call_slot_t *s = slot_of(w, i);
    uint8_t buf[JRN_PAYLOAD_MAX];
    size_t len;
    int rc;

    if (esl_payload(s, buf, &len) != JREC_OK) {
        /* Cannot happen with the bounds kept at every copy; keep the money
         * right at least: release and forget, loudly. */
        if (s->reserved > 0 && s->acct_slot != UINT32_MAX)
            acct_release(w->accts, s->acct_slot, s->reserved);
        esl_forget(w, i);
        return;
    }
    calls_write_begin(s);
    s->fin_ring = w->w.index;
    s->fin_seq = w->w.ring->head;     /* the seq the record will get */
    calls_write_end(s);
    if (s->cdr.cost > 0) {
        rc = esl_test_refuse_debit() ? JRN_EINVAL
             : jrn_move(&w->w, w->accts, s->acct_slot, JRN_CALL_DEBIT,
                        -s->cdr.cost, s->reserved - s->cdr.cost, buf, len,
                        ESL_JRN_WAIT_MS, NULL, NULL);
    } else {
        money_t res = s->reserved;
        if (res > 0) {
            calls_write_begin(s);       /* lowered first: a crash leaks */
            s->reserved = 0;
            calls_write_end(s);
            acct_release(w->accts, s->acct_slot, res);
        }
        rc = jrn_append(&w->w, JRN_CDR, buf, len, ESL_JRN_WAIT_MS, NULL);
    }
    if (rc == JRN_EFULL || rc == JRN_EBUSY) {
        esl_due(w, i, ET_EXTEND, esl_mono_ms() + ESL_RETRY_MS);
        return;
    }
    if (rc != JRN_OK && s->cdr.cost > 0) {
        /* The debit is refused for good (a balance bound; nothing moved):
         * the call record must not go with it. It is journaled as a CDR
         * without money, cost 0 and CALL_F_UNBILLED, and the reservation
         * released (the else branch above), so that the revenue reports
         * stay true and somebody can bill it by hand. */
        LOG_ERROR("esl", 0, "CDR of %s: the journal refused its debit of %"
                  PRId64 " (%d): recorded UNBILLED (flags & 0x40)",
                  s->cdr.call_id, s->cdr.cost, rc);
        calls_write_begin(s);
        s->cdr.cost = 0;
        s->cdr.flags |= CALL_F_UNBILLED;
        calls_write_end(s);
        esl_journal(w, i);
        return;
    }
    if (rc != JRN_OK)
        LOG_ERROR("esl", 0, "CDR of %s: journal refused it (%d): LOST",
                  s->cdr.call_id, rc);
    STATS_INC(w->st, cdrs);
    esl_forget(w, i);
}

/* Prices call i from its answer and billmsec, fills the CDR, journals. */
static void esl_finish(esl_worker_t *w, uint32_t i, int64_t answer_us,
                       int64_t end_us, int64_t billmsec, uint32_t duration,
                       const char *cause, size_t cause_len, uint16_t flags)
{
    call_slot_t *s = slot_of(w, i);
    uint32_t billsec = answer_us > 0 && billmsec > 0
                           ? (uint32_t)((billmsec + 500) / 1000) : 0;
    rating_quote_t q;
    money_t cost = 0;
    int rated = 0;

    if (billsec > 0 && !(s->flags & (CALL_F_UNCHARGED | CALL_F_REFUSED))) {
        const cat_hdr_t *c = cat_current(w->region);
        int rc = c ? rating_price(w->region, c, s->cdr.plan_id,
                                  s->cdr.dialed, strlen(s->cdr.dialed),
                                  s->cdr.start_us / 1000000, answer_us / 1000000,
                                  billsec, &q) : RATING_ENOPLAN;
        STATS_INC(w->st, ratings);
        if (rc == RATING_OK) {
            cost = q.cost;
            rated = 1;
        } else {
            STATS_INC(w->st, rating_errors);
            /* The plan changed under the call: bill what was set aside. */
            LOG_ERROR("esl", 0, "call %s: cannot price at hangup (%s); "
                      "billing its reservation %" PRId64, s->cdr.call_id,
                      rating_strerror(rc), s->reserved);
            cost = s->reserved;
            flags |= CALL_F_ESTIMATED;
        }
    }
    calls_write_begin(s);
    s->state = CALL_FINAL;
    s->flags |= flags;
    s->cdr.answer_us = answer_us;
    s->cdr.end_us = end_us;
    s->cdr.duration = duration;
    s->cdr.billsec = billsec;
    s->cdr.cost = cost;
    if (rated) {
        s->cdr.deck_version = (int64_t)q.deck_version;
        s->cdr.zone_id = q.zone_id;
        esl_copy(s->cdr.prefix, sizeof s->cdr.prefix, q.prefix,
                 strlen(q.prefix));
        s->cdr.period_id = q.trace.answer_period;
        s->cdr.rate_per_minute = q.tariff.per_minute;
        s->cdr.connection_fee = q.tariff.connect_fee;
    }
    esl_copy(s->cdr.hangup_cause, sizeof s->cdr.hangup_cause, cause,
             cause_len);
    s->cdr.flags = s->flags;
    calls_write_end(s);
    esl_journal(w, i);
}

/* ---- authorization ----------------------------------------------------------- */

typedef struct esl_auth {
    const char *uuid, *caller, *dest;
    size_t      uuid_len, caller_len, dest_len;
    int64_t     created_us;
} esl_auth_t;

static void esl_refuse(esl_worker_t *w, int32_t i, const esl_auth_t *a,
                       const char *cause, const char *why)
{
    STATS_INC(w->st, calls_refused);
    LOG_INFO("esl", "call %.*s from %.*s to %.*s refused (%s): %s",
             (int)a->uuid_len, a->uuid, (int)a->caller_len, a->caller,
             (int)a->dest_len, a->dest, cause, why);
    if (i >= 0) {
        call_slot_t *s = slot_of(w, (uint32_t)i);
        calls_write_begin(s);
        s->flags |= CALL_F_REFUSED;
        calls_write_end(s);
        esl_due(w, (uint32_t)i, ET_AUDIT, esl_mono_ms() + ESL_AUDIT_MS);
    }
    if (esl_api(w, EC_KILL, i >= 0 ? (uint32_t)i : ESL_NONE,
                "uuid_kill %.*s %s", (int)a->uuid_len, a->uuid, cause) == 0)
        esl_verdict_queued(w);
}

/* Who pays: fills the slot's payer and direction. NULL, or why not. */
static const char *esl_payer(esl_worker_t *w, const cat_hdr_t *c,
                             const esl_event_t *ev, const esl_auth_t *a,
                             call_slot_t *s, int *charged)
{
    const cat_ext_t *from = cat_extension(c, a->caller, a->caller_len);
    const cat_ext_t *to = cat_extension(c, a->dest, a->dest_len);
    const cat_ext_t *payer = NULL;
    const char *code = ev->val[EH_ACCOUNT];

    if (code != NULL && *code != '\0') {
        const cat_acct_t *acct = cat_account_by_code(c, code);
        if (acct == NULL)
            return "unknown account code in apolo_account";
        s->acct_slot = acct->slot;
        s->cdr.account_id = acct->id;
        s->cdr.direction = to ? JREC_DIR_INTERNAL : JREC_DIR_OUTBOUND;
        *charged = 1;
        return NULL;
    }
    if (from && to) {
        s->cdr.direction = JREC_DIR_INTERNAL;
        payer = from;
        *charged = w->charge_int;
    } else if (from) {
        s->cdr.direction = JREC_DIR_OUTBOUND;
        payer = from;
        *charged = 1;
    } else if (to) {
        s->cdr.direction = JREC_DIR_INBOUND;
        payer = to;
        *charged = w->charge_in;
    } else {
        return "neither caller nor destination is a known extension";
    }
    if (!payer->active && *charged)
        return "the extension is not active";
    s->acct_slot = payer->acct_slot;
    esl_copy(s->cdr.extension, sizeof s->cdr.extension, payer->number,
             strlen(payer->number));
    acct_view_t v;
    if (acct_view(w->accts, payer->acct_slot, &v) == ACCT_OK)
        s->cdr.account_id = v.id;
    return NULL;
}

/* Rates and reserves the first interval. 0, or the refusal's cause. */
static const char *esl_reserve_first(esl_worker_t *w, const cat_hdr_t *c,
                                     call_slot_t *s, const esl_auth_t *a,
                                     const char **why)
{
    acct_view_t v;
    rating_quote_t q;
    uint32_t max_sec;
    int64_t start = a->created_us / 1000000;

    if (acct_view(w->accts, s->acct_slot, &v) != ACCT_OK) {
        *why = "the account has no balance slot";
        return CAUSE_NO_MONEY;
    }
    if (v.status != ACCT_ACTIVE) {
        *why = "the account is blocked or closed";
        return CAUSE_BARRED;
    }
    int rc = rating_authorize(w->region, c, v.plan_id, a->dest, a->dest_len,
                              start, v.headroom > 0 ? v.headroom : 0,
                              w->max_call, &max_sec, &q);
    STATS_INC(w->st, ratings);
    if (rc != RATING_OK) {
        STATS_INC(w->st, rating_errors);
        *why = rating_strerror(rc);
        return rc == RATING_ENOPLAN ? CAUSE_NO_MONEY : CAUSE_NO_ROUTE;
    }
    if (max_sec == 0 || v.headroom < 0) {
        *why = "no credit for the first billable block";
        return CAUSE_NO_MONEY;
    }
    uint32_t chunk = max_sec < w->interval ? max_sec : w->interval;
    rating_quote_t qc;
    if (rating_price(w->region, c, v.plan_id, a->dest, a->dest_len, start,
                     start, chunk, &qc) != RATING_OK
        || acct_reserve(w->accts, s->acct_slot, qc.cost) != ACCT_OK) {
        *why = "the credit went to another call meanwhile";
        return CAUSE_NO_MONEY;
    }
    calls_write_begin(s);
    s->reserved = qc.cost;
    s->max_sec = max_sec;
    s->covered_sec = chunk;
    s->cdr.plan_id = q.plan_id;
    s->cdr.deck_version = (int64_t)q.deck_version;
    s->cdr.zone_id = q.zone_id;
    s->cdr.rate_per_minute = q.tariff.per_minute;
    s->cdr.connection_fee = q.tariff.connect_fee;
    s->cdr.first_inc = q.tariff.first_inc;
    s->cdr.next_inc = q.tariff.next_inc;
    s->cdr.min_sec = q.tariff.min_sec;
    s->cdr.grace_sec = q.tariff.grace_sec;
    s->cdr.rounding = (uint8_t)(q.rounding + 1);   /* jrec_rounding_t */
    esl_copy(s->cdr.prefix, sizeof s->cdr.prefix, q.prefix, strlen(q.prefix));
    esl_copy(s->cdr.callee, sizeof s->cdr.callee, q.number, strlen(q.number));
    esl_copy(s->zone, sizeof s->zone, q.zone, strlen(q.zone));
    calls_write_end(s);
    return NULL;
}

/* Claims and fills a slot for a new call: its index, or -1 (full). */
static int32_t esl_new_call(esl_worker_t *w, const esl_auth_t *a)
{
    int32_t i = calls_claim(w->cs, w->tag, w->pid, &w->hint);
    if (i < 0)
        return -1;
    call_slot_t *s = slot_of(w, (uint32_t)i);
    esl_call_t *c = &w->calls[i];
    calls_write_begin(s);
    s->state = CALL_AUTHORIZED;
    s->event_us = esl_wall_us();
    s->cdr.source = JREC_SRC_FREESWITCH;
    s->cdr.start_us = a->created_us;
    esl_copy(s->cdr.call_id, sizeof s->cdr.call_id, a->uuid, a->uuid_len);
    esl_copy(s->cdr.caller, sizeof s->cdr.caller, a->caller, a->caller_len);
    esl_copy(s->cdr.dialed, sizeof s->cdr.dialed, a->dest, a->dest_len);
    esl_copy(s->cdr.callee, sizeof s->cdr.callee, a->dest, a->dest_len);
    calls_write_end(s);
    c->live = 1;
    c->cut_sent = 0;
    c->due_ms = 0;
    c->conn_gen = w->conn_gen;
    esl_index(w, (uint32_t)i);
    return i;
}

static void esl_authorize(esl_worker_t *w, const esl_event_t *ev)
{
    esl_auth_t a = {
        .uuid = ev->val[EH_UUID], .uuid_len = ev->len[EH_UUID],
        .dest = ev->val[EH_DEST], .dest_len = ev->len[EH_DEST] };
    int orig = ev->val[EH_ORIG_CID] && ev->len[EH_ORIG_CID] > 0;
    a.caller = ev->val[orig ? EH_ORIG_CID : EH_CID];
    a.caller_len = ev->len[orig ? EH_ORIG_CID : EH_CID];
    a.created_us = ev_i64(ev, EH_CREATED);
    if (a.created_us == 0)
        a.created_us = ev_i64(ev, EH_EVENT_TS);
    if (a.created_us == 0)
        a.created_us = esl_wall_us();

    if (!esl_token_ok(a.uuid, a.uuid_len, JREC_CALL_ID_MAX, 0)
        || !esl_token_ok(a.dest, a.dest_len, JREC_NUMBER_MAX, 0)
        || !esl_token_ok(a.caller, a.caller_len, JREC_NUMBER_MAX, 0)) {
        STATS_INC(w->st, bad_events);
        LOG_WARN("esl", 0, "park event with an unusable Unique-ID, caller or "
                 "destination: ignored");
        return;
    }
    if (esl_find(w, a.uuid, a.uuid_len) != ESL_NONE
        || esl_ended(w, a.uuid, a.uuid_len))
        return;                               /* a duplicate event */

    int32_t i = esl_new_call(w, &a);
    if (i < 0) {
        LOG_ERROR("esl", 0, "calls.max slots are all taken");
        esl_refuse(w, -1, &a, CAUSE_CONGESTION, "no free call slot");
        return;
    }
    call_slot_t *s = slot_of(w, (uint32_t)i);
    const cat_hdr_t *c = cat_current(w->region);
    const char *why = NULL, *cause = NULL;
    int charged = 0;
    if (c == NULL) {
        why = "no catalog published yet";
        cause = CAUSE_CONGESTION;
    } else if ((why = esl_payer(w, c, ev, &a, s, &charged)) != NULL) {
        cause = CAUSE_BARRED;
    } else if (charged) {
        cause = esl_reserve_first(w, c, s, &a, &why);
    }
    if (cause != NULL) {
        esl_refuse(w, i, &a, cause, why);
        return;
    }
    uint32_t paid = charged ? s->covered_sec : w->max_call;
    if (!charged) {
        calls_write_begin(s);
        s->flags |= CALL_F_UNCHARGED;
        s->max_sec = s->covered_sec = w->max_call;
        calls_write_end(s);
    }
    STATS_INC(w->st, calls_authorized);
    esl_api(w, EC_IGNORE, (uint32_t)i, "uuid_setvar %s apolo_max_seconds %u",
            s->cdr.call_id, s->max_sec);
    esl_api(w, EC_IGNORE, (uint32_t)i, "sched_hangup +%u %s " CAUSE_CUT,
            paid + w->ring_allow + 1, s->cdr.call_id);
    if (w->park_mode
        && esl_api(w, EC_TRANSFER, (uint32_t)i, "uuid_transfer %s %s XML %s",
                   s->cdr.call_id, s->cdr.dialed, w->transfer_ctx) == 0)
        esl_verdict_queued(w);
    /* Until the answer replaces it: a charged call is polled while it
     * rings; a free one, which risks no money, is audited after its
     * fail-safe's time. */
    if (charged)
        esl_due(w, (uint32_t)i, ET_RING, esl_mono_ms()
                + esl_ring_poll_ms(w, s));
    else
        esl_due(w, (uint32_t)i, ET_AUDIT, esl_mono_ms()
                + ((int64_t)paid + w->ring_allow + 1) * 1000 + ESL_AUDIT_MS);
}

/* ---- metering ------------------------------------------------------------------ */

/* Replaces the call's fail-safe with one near wall time end_us.
 * sched_hangup counts whole seconds: the delay is rounded so that the
 * hangup falls between 0.6 s before and 0.4 s after end_us, and a call
 * it hangs up because this worker is stalled is billed (billmsec rounded
 * half up) no more than what was reserved; at least 1 s while some paid
 * time is left, so that it never hangs up a call the worker is about to
 * extend. (A later fail-safe, the paid end + 1 s, let a stalled worker's
 * calls talk 1.5 s unpaid: bench_overspend's stall probe.) */
static void esl_rearm(esl_worker_t *w, uint32_t i, int64_t end_us)
{
    const char *u = slot_of(w, i)->cdr.call_id;
    int64_t us = esl_fs_to_mono_us(w, end_us) - clock_mono_us();
    int64_t left = us > 0 ? (us + 400000) / 1000000 : 0;
    if (us > 0 && left == 0)
        left = 1;
    int64_t paid = (end_us - slot_of(w, i)->cdr.answer_us) / 1000000;
    esl_api(w, EC_IGNORE, i, "sched_del %s", u);
    esl_api_arg(w, EC_REARM, i, paid > 0 ? (uint32_t)paid : 0,
                "sched_hangup +%" PRId64 " %s " CAUSE_CUT, left, u);
}

static void esl_low_balance(esl_worker_t *w, uint32_t i)
{
    call_slot_t *s = slot_of(w, i);
    acct_view_t v;
    if ((s->flags & CALL_F_LOW) || acct_view(w->accts, s->acct_slot, &v)
        != ACCT_OK || v.low_balance <= 0 || v.headroom >= v.low_balance)
        return;
    calls_write_begin(s);
    s->flags |= CALL_F_LOW;
    calls_write_end(s);
    LOG_WARN("esl", 0, "low balance: account %" PRId64 " has %" PRId64
             " left (threshold %" PRId64 ") during call %s", v.id, v.headroom,
             v.low_balance, s->cdr.call_id);
    if (*w->low_sound)
        esl_api(w, EC_IGNORE, i, "uuid_broadcast %s %s aleg", s->cdr.call_id,
                w->low_sound);
}

/* Seconds from answer that `reserved` pays for. */
static uint32_t esl_covered(esl_worker_t *w, const call_slot_t *s)
{
    const cat_hdr_t *c = cat_current(w->region);
    rating_quote_t q;
    uint32_t sec = 0;
    if (c == NULL || rating_authorize_at(w->region, c, s->cdr.plan_id,
                                         s->cdr.dialed, strlen(s->cdr.dialed),
                                         s->cdr.start_us / 1000000,
                                         s->cdr.answer_us / 1000000,
                                         s->reserved, w->max_call, &sec, &q)
                         != RATING_OK)
        return s->covered_sec;           /* keep what was computed at park */
    return sec;
}

static void esl_next_step(esl_worker_t *w, uint32_t i)
{
    call_slot_t *s = slot_of(w, i);
    int64_t end_us = s->cdr.answer_us + (int64_t)s->covered_sec * 1000000;
    if (s->flags & CALL_F_CUT) {
        esl_due(w, i, ET_CUT, esl_mono_at(w, end_us));
        return;
    }
    esl_due(w, i, ET_EXTEND, esl_mono_at(w, end_us) - esl_lead_ms(w));
}

static void esl_answered(esl_worker_t *w, uint32_t i, int64_t answer_us)
{
    call_slot_t *s = slot_of(w, i);
    calls_write_begin(s);
    s->state = CALL_ANSWERED;
    s->cdr.answer_us = answer_us;
    s->event_us = esl_wall_us();
    calls_write_end(s);
    if (s->flags & CALL_F_UNCHARGED)
        return;
    uint32_t sec = esl_covered(w, s);
    calls_write_begin(s);
    s->covered_sec = sec;
    calls_write_end(s);
    /* The park's fail-safe counted the ring allowance: from the answer on
     * it must count the paid seconds only. */
    esl_rearm(w, i, answer_us + (int64_t)sec * 1000000);
    esl_low_balance(w, i);
    esl_next_step(w, i);
}

/* Grows the reservation one interval ahead; the cut when it cannot. */
static void esl_extend(esl_worker_t *w, uint32_t i)
{
    call_slot_t *s = slot_of(w, i);
    const cat_hdr_t *c = cat_current(w->region);
    uint32_t target = s->covered_sec + w->interval;
    rating_quote_t q;
    money_t got = 0;

    if (target > w->max_call)
        target = w->max_call;
    if (target <= s->covered_sec || c == NULL
        || rating_price(w->region, c, s->cdr.plan_id, s->cdr.dialed,
                        strlen(s->cdr.dialed), s->cdr.start_us / 1000000,
                        s->cdr.answer_us / 1000000, target, &q) != RATING_OK) {
        calls_write_begin(s);
        s->flags |= CALL_F_CUT;
        calls_write_end(s);
        esl_next_step(w, i);
        return;
    }
    money_t extra = q.cost - s->reserved;
    if (extra > 0)
        acct_reserve_upto(w->accts, s->acct_slot, extra, &got);
    calls_write_begin(s);
    s->reserved += got;
    calls_write_end(s);
    if (got > 0)
        STATS_INC(w->st, reservations_extended);
    uint32_t sec = got >= extra ? target : esl_covered(w, s);
    calls_write_begin(s);
    if (got < extra || sec < target)
        s->flags |= CALL_F_CUT;
    s->covered_sec = sec;
    calls_write_end(s);
    esl_rearm(w, i, s->cdr.answer_us + (int64_t)sec * 1000000);
    esl_low_balance(w, i);
    esl_next_step(w, i);
}

static void esl_cut(esl_worker_t *w, uint32_t i)
{
    call_slot_t *s = slot_of(w, i);
    esl_call_t *c = &w->calls[i];
    if (c->cut_sent)
        return;
    esl_due(w, i, ET_AUDIT, esl_mono_ms() + ESL_AUDIT_MS);
    if (esl_api(w, EC_KILL, i, "uuid_kill %s " CAUSE_CUT, s->cdr.call_id)
        == 0) {
        c->cut_sent = 1;
        STATS_INC(w->st, calls_cut);
        LOG_INFO("esl", "call %s cut: its %u paid seconds are over",
                 s->cdr.call_id, s->covered_sec);
        return;
    }
    calls_write_begin(s);
    s->flags |= CALL_F_PENDING_CUT;      /* resync will do it */
    calls_write_end(s);
}

/* The call should be over and no HANGUP_COMPLETE came: ask. */
static void esl_audit(esl_worker_t *w, uint32_t i)
{
    if (esl_api(w, EC_EXISTS, i, "uuid_exists %s", slot_of(w, i)->cdr.call_id)
        != 0)
        esl_due(w, i, ET_AUDIT, esl_mono_ms() + ESL_AUDIT_MS);
}

/* Whether call i is polled while it rings (esl_ring_poll). */
static int esl_rings_charged(const call_slot_t *s)
{
    return s->state == CALL_AUTHORIZED
           && !(s->flags & (CALL_F_REFUSED | CALL_F_UNCHARGED));
}

/* A charged call that, as far as we know, still rings: did it answer
 * (its CHANNEL_ANSWER dropped) or end (its HANGUP_COMPLETE dropped)?
 * The reply goes to esl_dump_answered, or to an audit when the channel
 * is gone. Asked again every poll period until the answer or the hangup
 * replaces the timer. */
static void esl_ring_poll(esl_worker_t *w, uint32_t i)
{
    call_slot_t *s = slot_of(w, i);
    if (!esl_rings_charged(s)) {
        esl_audit(w, i);
        return;
    }
    esl_due(w, i, ET_RING, esl_mono_ms() + esl_ring_poll_ms(w, s));
    esl_api(w, EC_RING, i, "uuid_dump %s json", s->cdr.call_id);
}

int esl_call_timers(esl_worker_t *w)
{
    int64_t now = esl_mono_ms();
    while (w->nheap > 0 && w->heap[0].due_ms <= now) {
        esl_timer_t t = heap_pop(w);
        esl_call_t *c = &w->calls[t.call];
        if (!c->live || c->gen != t.gen || c->due_ms != t.due_ms)
            continue;                           /* superseded */
        c->due_ms = 0;
        call_slot_t *s = slot_of(w, t.call);
        if (s->state == CALL_FINAL)
            esl_journal(w, t.call);             /* a retry */
        else if (c->action == ET_EXTEND)
            esl_extend(w, t.call);
        else if (c->action == ET_CUT)
            esl_cut(w, t.call);
        else if (c->action == ET_AUDIT)
            esl_audit(w, t.call);
        else if (c->action == ET_RING)
            esl_ring_poll(w, t.call);
    }
    if (w->nheap == 0)
        return -1;
    int64_t d = w->heap[0].due_ms - now;
    return d > 1000 ? 1000 : (int)(d > 0 ? d : 0);
}

/* ---- events ---------------------------------------------------------------------- */

static uint32_t esl_event_call(esl_worker_t *w, const esl_event_t *ev)
{
    if (ev->val[EH_UUID] == NULL || ev->len[EH_UUID] == 0
        || ev->len[EH_UUID] > JREC_CALL_ID_MAX)
        return ESL_NONE;
    return esl_find(w, ev->val[EH_UUID], ev->len[EH_UUID]);
}

static void esl_on_answer(esl_worker_t *w, const esl_event_t *ev)
{
    uint32_t i = esl_event_call(w, ev);
    if (i == ESL_NONE || slot_of(w, i)->state != CALL_AUTHORIZED
        || (slot_of(w, i)->flags & CALL_F_REFUSED))
        return;
    int64_t at = ev_i64(ev, EH_ANSWERED);
    esl_answered(w, i, at ? at : ev_i64(ev, EH_EVENT_TS));
}

static void esl_on_hangup(esl_worker_t *w, const esl_event_t *ev)
{
    uint32_t i = esl_event_call(w, ev);
    if (i == ESL_NONE || slot_of(w, i)->state == CALL_FINAL)
        return;
    call_slot_t *s = slot_of(w, i);
    int64_t answer = ev_i64(ev, EH_ANSWERED), end = ev_i64(ev, EH_HUNGUP);
    int64_t billmsec = ev_i64(ev, EH_BILLMSEC);
    if (ev->val[EH_BILLMSEC] == NULL && answer > 0 && end > answer)
        billmsec = (end - answer) / 1000;
    if (end == 0)
        end = ev_i64(ev, EH_EVENT_TS);
    int64_t dur = ev_i64(ev, EH_DURATION);
    if (ev->val[EH_DURATION] == NULL && end > s->cdr.start_us)
        dur = (end - s->cdr.start_us) / 1000000;
    const char *cause = ev->val[EH_CAUSE] ? ev->val[EH_CAUSE] : "UNKNOWN";
    esl_finish(w, i, answer, end, billmsec,
               (uint32_t)(dur > INT32_MAX ? INT32_MAX : dur), cause,
               strlen(cause), 0);
}

void esl_call_event(esl_worker_t *w, const esl_event_t *ev)
{
    const char *name = ev->val[EH_NAME];
    if (name == NULL)
        return;
    int answered = ev_is(ev, EH_ANSWER_STATE, "answered");
    if (strcmp(name, "CHANNEL_PARK") == 0) {
        if (w->park_mode && !answered)
            esl_authorize(w, ev);
    } else if (strcmp(name, "CHANNEL_CREATE") == 0) {
        if (!w->park_mode && !answered
            && ev_is(ev, EH_DIRECTION, "inbound"))
            esl_authorize(w, ev);
    } else if (strcmp(name, "CHANNEL_ANSWER") == 0) {
        esl_on_answer(w, ev);
    } else if (strcmp(name, "CHANNEL_HANGUP_COMPLETE") == 0) {
        esl_on_hangup(w, ev);
    }
}

/* ---- replies to our commands ------------------------------------------------------ */

/* The call ended unseen (connection lost, event dropped): bill what it
 * can have had. */
static void esl_finish_unseen(esl_worker_t *w, uint32_t i)
{
    call_slot_t *s = slot_of(w, i);
    int64_t now = esl_wall_us(), answer = 0, billmsec = 0;
    if (s->state == CALL_ANSWERED && !(s->flags & CALL_F_REFUSED)) {
        /* Between the answer and now, and never past what it paid for:
         * the fail-safe hangs it up there. */
        answer = s->cdr.answer_us;
        int64_t paid = (int64_t)s->covered_sec * 1000;
        /* A re-arm lost with the connection left FreeSWITCH an earlier
         * fail-safe than the reservation: the call ended there. */
        if (s->failsafe_sec > 0 && s->failsafe_sec < s->covered_sec)
            paid = (int64_t)s->failsafe_sec * 1000;
        billmsec = (clock_mono_us() - esl_fs_to_mono_us(w, answer)) / 1000;
        if (!(s->flags & CALL_F_UNCHARGED) && billmsec > paid)
            billmsec = paid;
        if (billmsec < 0)
            billmsec = 0;
    }
    LOG_WARN("esl", 0, "call %s ended unseen (no HANGUP_COMPLETE: connection "
             "down or event dropped): billed %" PRId64 " ms, flagged "
             "estimated", s->cdr.call_id, billmsec);
    int64_t end = answer ? answer + billmsec * 1000 : now;
    int64_t dur = (end - s->cdr.start_us) / 1000000;
    esl_finish(w, i, answer, end, billmsec,
               (uint32_t)(dur > 0 ? dur : 0), "UNKNOWN", 7, CALL_F_ESTIMATED);
}

/* A call of ours past its paid time that FreeSWITCH still has: cut now
 * while this resync's budget lasts, the rest esl.max_resync_kills a second
 * after it (0: never; the fail-safe is left to do it). */
static void esl_resync_cut(esl_worker_t *w, uint32_t i)
{
    call_slot_t *s = slot_of(w, i);
    if (w->resync_kills > 0) {
        w->resync_kills--;
        esl_cut(w, i);
        return;
    }
    w->resync_late++;
    if (w->max_kills == 0) {
        LOG_WARN("esl", 0, "call %s is past its paid time; esl.max_resync_"
                 "kills = 0: left to its fail-safe", s->cdr.call_id);
        return;
    }
    int64_t round = 1 + (w->resync_late - 1) / w->max_kills;
    LOG_WARN("esl", 0, "call %s is past its paid time; this resync's kill "
             "budget (esl.max_resync_kills = %" PRId64 ") is spent: cut in %"
             PRId64 " s", s->cdr.call_id, w->max_kills, round);
    esl_due(w, i, ET_CUT, esl_mono_ms() + round * 1000);
}

/* A uuid_dump in json (a flat object of the channel's headers) as the
 * event our parser would have made of them: ev's strings point into the
 * returned object, which the caller frees (json_decref; NULL when the
 * reply is not JSON: ev then has no header). */
static json_t *esl_dump_event(const char *body, size_t len, esl_event_t *ev)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    memset(ev, 0, sizeof *ev);
    for (int h = 0; root != NULL && h < EH_NWANT; h++) {
        const json_t *v = json_object_get(root, esl_header_name(h));
        if (json_is_string(v)) {
            ev->val[h] = json_string_value(v);
            ev->len[h] = json_string_length(v);
        }
    }
    return root;
}

/* A row of `show channels` that waits for a verdict nobody gave: parked
 * while we were away (park mode only: otherwise calls do not wait). */
static int esl_row_orphan(const esl_worker_t *w, const json_t *row)
{
    const char *dir = json_string_value(json_object_get(row, "direction"));
    const char *app = json_string_value(json_object_get(row, "application"));
    const char *st = json_string_value(json_object_get(row, "callstate"));
    return w->park_mode && dir && strcmp(dir, "inbound") == 0
           && app && strcmp(app, "park") == 0
           && st && (strcmp(st, "RINGING") == 0 || strcmp(st, "EARLY") == 0
                     || strcmp(st, "DOWN") == 0);
}

/* The uuid_dump of an orphan (esl_row_orphan): authorized as its
 * CHANNEL_PARK would have been, unless it answered meanwhile or is known
 * by now (its CHANNEL_PARK came after all: esl_authorize sees the
 * duplicate). */
static void esl_orphan_dump(esl_worker_t *w, const char *body, size_t len)
{
    esl_event_t ev;
    json_t *root = esl_dump_event(body, len, &ev);
    if (ev.val[EH_UUID] != NULL && !ev_is(&ev, EH_ANSWER_STATE, "answered")
        && ev.len[EH_UUID] <= JREC_CALL_ID_MAX
        && esl_find(w, ev.val[EH_UUID], ev.len[EH_UUID]) == ESL_NONE) {
        LOG_WARN("esl", 0, "call %s was parked while the connection was "
                 "down (no verdict yet): authorized now", ev.val[EH_UUID]);
        esl_authorize(w, &ev);
    }
    json_decref(root);
}

static void esl_resync_channels(esl_worker_t *w, const char *body, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    json_t *rows = root ? json_object_get(root, "rows") : NULL;
    if (root != NULL && rows == NULL && json_integer_value(
            json_object_get(root, "row_count")) == 0)
        rows = json_array();                /* FreeSWITCH omits "rows" */
    else if (rows != NULL)
        json_incref(rows);
    if (!json_is_array(rows)) {
        LOG_ERROR("esl", 0, "show channels: unreadable reply (%s): no call "
                  "is touched", root ? "no rows" : jerr.text);
        json_decref(rows);
        json_decref(root);
        return;
    }
    size_t k;
    json_t *row;
    json_array_foreach(rows, k, row) {
        const char *u = json_string_value(json_object_get(row, "uuid"));
        uint32_t i = u ? esl_find(w, u, strlen(u)) : ESL_NONE;
        if (i == ESL_NONE) {                 /* not ours: never touched */
            if (u != NULL && esl_row_orphan(w, row)
                && !esl_ended(w, u, strlen(u)))
                esl_api(w, EC_ORPHAN, ESL_NONE, "uuid_dump %s json", u);
            continue;
        }
        w->calls[i].resync_seen = 1;
        const char *st = json_string_value(json_object_get(row, "callstate"));
        if (slot_of(w, i)->state == CALL_AUTHORIZED
            && !(slot_of(w, i)->flags & CALL_F_REFUSED)
            && st && strcmp(st, "ACTIVE") == 0)
            esl_api(w, EC_DUMP, i, "uuid_dump %s json", u);
    }
    json_decref(rows);
    json_decref(root);
    for (uint32_t i = 0; i < w->cs->nslots; i++) {
        esl_call_t *c = &w->calls[i];
        if (!c->live || c->conn_gen >= w->conn_gen
            || slot_of(w, i)->state == CALL_FINAL)
            continue;
        if (!c->resync_seen) {
            esl_api(w, EC_EXISTS, i, "uuid_exists %s",
                    slot_of(w, i)->cdr.call_id);
            continue;
        }
        call_slot_t *s = slot_of(w, i);
        if (!(s->flags & CALL_F_PENDING_CUT)) {
            /* A re-arm sent while we were away was lost with the
             * connection: the fail-safe FreeSWITCH holds may be an older,
             * earlier one that would cut a call still paid for. */
            if (s->state == CALL_ANSWERED && !(s->flags & CALL_F_UNCHARGED))
                esl_rearm(w, i, s->cdr.answer_us
                                    + (int64_t)s->covered_sec * 1000000);
            continue;
        }
        calls_write_begin(s);
        s->flags &= (uint16_t)~CALL_F_PENDING_CUT;
        calls_write_end(s);
        esl_resync_cut(w, i);
    }
}

/* A uuid_dump of call i (json): when FreeSWITCH says it answered and we
 * did not know, it is metered from its real answer time. `how` says why
 * we did not know, for the log. */
static void esl_dump_answered(esl_worker_t *w, uint32_t i, const char *body,
                              size_t len, const char *how)
{
    esl_event_t ev;
    json_t *root = esl_dump_event(body, len, &ev);
    int64_t at = ev_i64(&ev, EH_ANSWERED);
    json_decref(root);
    call_slot_t *s = slot_of(w, i);
    if (at > 0 && s->state == CALL_AUTHORIZED
        && !(s->flags & CALL_F_REFUSED)) {
        STATS_INC(w->st, answers_missed);
        LOG_WARN("esl", 0, "call %s answered %lld ms ago, %s: metered from "
                 "its answer", s->cdr.call_id,
                 (long long)(esl_wall_us() - at) / 1000, how);
        esl_answered(w, i, at);
    }
}

void esl_call_reply(esl_worker_t *w, const esl_pending_t *p, int ok,
                    const char *body, size_t len)
{
    if (p->kind == EC_CHANNELS) {
        if (ok)
            esl_resync_channels(w, body, len);
        else
            LOG_ERROR("esl", 0, "show channels failed: %.*s", (int)len, body);
        return;
    }
    if (p->kind == EC_ORPHAN) {
        if (ok)
            esl_orphan_dump(w, body, len);
        return;
    }
    if (p->call == ESL_NONE || !w->calls[p->call].live
        || w->calls[p->call].gen != p->gen)
        return;                                 /* the call is gone */
    call_slot_t *s = slot_of(w, p->call);
    switch (p->kind) {
    case EC_TRANSFER:
    case EC_KILL:
        if (!ok && s->state == CALL_AUTHORIZED) {
            /* No such channel: it hung up before our verdict, and we may
             * never see its HANGUP_COMPLETE (it may have come first). */
            LOG_INFO("esl", "call %s: %s refused (%.*s): recorded as ended",
                     s->cdr.call_id, p->kind == EC_KILL ? "uuid_kill"
                                                        : "uuid_transfer",
                     (int)len, body);
            esl_finish(w, p->call, 0, esl_wall_us(), 0,
                       (uint32_t)((esl_wall_us() - s->cdr.start_us) / 1000000),
                       "ORIGINATOR_CANCEL", 17, CALL_F_ESTIMATED);
        }
        break;
    case EC_EXISTS:
        if (ok && len >= 5 && memcmp(body, "false", 5) == 0)
            esl_finish_unseen(w, p->call);
        else if (w->calls[p->call].due_ms == 0 && esl_rings_charged(s))
            esl_due(w, p->call, ET_RING, esl_mono_ms()
                    + esl_ring_poll_ms(w, s));
        else if (w->calls[p->call].due_ms == 0)
            esl_due(w, p->call, ET_AUDIT, esl_mono_ms() + ESL_AUDIT_AGAIN_MS);
        break;
    case EC_DUMP:
        if (ok)
            esl_dump_answered(w, p->call, body, len,
                              "while the connection was down");
        break;
    case EC_REARM:
        if (ok) {
            calls_write_begin(s);
            s->failsafe_sec = p->arg;
            calls_write_end(s);
        } else {
            LOG_WARN("esl", 0, "call %s: sched_hangup failed: %.*s",
                     s->cdr.call_id, (int)len, body);
        }
        break;
    case EC_RING:
        if (ok)
            esl_dump_answered(w, p->call, body, len,
                              "its CHANNEL_ANSWER never came (dropped?)");
        else    /* gone? Its HANGUP_COMPLETE may be on its way: audit */
            esl_due(w, p->call, ET_AUDIT, esl_mono_ms() + ESL_AUDIT_MS);
        break;
    default:
        if (!ok)
            LOG_WARN("esl", 0, "call %s: command failed: %.*s",
                     s->cdr.call_id, (int)len, body);
        break;
    }
}

void esl_call_resync(esl_worker_t *w)
{
    uint32_t n = 0;
    w->resync_kills = w->max_kills;
    w->resync_late = 0;
    for (uint32_t i = 0; i < w->cs->nslots; i++) {
        w->calls[i].resync_seen = 0;
        n += w->calls[i].live && w->calls[i].conn_gen < w->conn_gen;
    }
    if (n == 0 && !w->park_mode)
        return;
    if (n > 0) {
        STATS_INC(w->st, resyncs);
        LOG_INFO("esl", "resynchronising %u calls with %s:%s", n,
                 w->node.host, w->node.port);
    }
    /* In park mode even with no call of ours: calls parked while we were
     * away wait for a verdict (esl_row_orphan). */
    esl_api(w, EC_CHANNELS, ESL_NONE, "show channels as json");
}

void esl_call_lost(esl_worker_t *w)
{
    w->lost_us = esl_wall_us();
}

/* ---- adoption ------------------------------------------------------------------------ */

void esl_calls_adopt(esl_worker_t *w)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < w->cs->nslots; i++) {
        call_slot_t *s = slot_of(w, i);
        if (s->owner != w->tag)
            continue;
        esl_call_t *c = &w->calls[i];
        calls_write_begin(s);
        s->pid = (int32_t)getpid();
        calls_write_end(s);
        c->live = 1;
        c->gen++;
        c->conn_gen = 0;
        esl_index(w, i);
        n++;
        if (s->state == CALL_FINAL)
            esl_journal(w, i);            /* it died before journaling */
        else if (s->state == CALL_ANSWERED)
            esl_next_step(w, i);
        else if (esl_rings_charged(s))    /* the resync asks first */
            esl_due(w, i, ET_RING, esl_mono_ms() + esl_ring_poll_ms(w, s));
        else
            esl_due(w, i, ET_AUDIT, esl_mono_ms() + ESL_AUDIT_AGAIN_MS);
    }
    if (n > 0)
        LOG_INFO("esl", "adopted %u calls of the previous worker", n);
}
