/*
 * rate.c -- the cost rules (see rate.h) and their inverse.
 *
 * Design: the one-tariff cost is a closed form over money_muldiv. With
 * periods, the rounded seconds are walked segment by segment: from an
 * instant we compute its local weekday and minute (tz.h, no libc), find its
 * tariff, and jump to the nearest of: the next window edge of that local
 * day, local midnight, the next UTC offset change, the end of the layout.
 * The sum of per_minute * seconds is exact in 128 bits and divided by 60
 * once. The inverses (max seconds for an amount) search the monotone cost
 * with galloping then bisection, so their cost depends on the answer, not
 * on the cap.
 *
 * NOTES (traps):
 * - Monotonicity is what makes the search exact: it holds because
 *   per_minute >= 0, connect_fee >= 0, rounded seconds never decrease with
 *   billsec and every rounding mode is monotone. A negative per_minute
 *   anywhere would break it, so pricing refuses one (RATE_EINVAL).
 * - A free call (billsec below grace) is free of the connect fee too; the
 *   cost jumps at billsec = grace, which the search handles as any step.
 * - Window edges are local minutes, but offsets need not be whole minutes
 *   and DST moves local time: a segment never crosses an offset change,
 *   and each segment's local position is recomputed from its UTC start.
 * - Adjacent segments with the same tariff (split only at midnight or at
 *   an offset change) are merged in the trace: a CDR lists period changes.
 * - The 128-bit division here must round exactly as money_muldiv does;
 *   test_rate checks rate_cost_at against rate_cost for flat schedules.
 */
#include "shm/rate.h"

#include <string.h>

#define RATE_SECS_PER_MIN 60

const char *rate_strerror(int err)
{
    switch (err) {
    case RATE_OK:      return "success";
    case RATE_EINVAL:  return "invalid tariff, schedule or argument";
    case RATE_ERANGE:  return "amount or duration out of range";
    case RATE_ENORATE: return "no tariff for this time period";
    case RATE_ETZ:     return "instant outside the time zone table";
    default:           return "unknown rating error";
    }
}

static int rate_mode_valid(money_round_t mode)
{
    return mode == MONEY_ROUND_UP || mode == MONEY_ROUND_DOWN ||
           mode == MONEY_ROUND_HALF_UP;
}

static int rate_from_money(int rc)
{
    return rc == MONEY_OK ? RATE_OK
         : rc == MONEY_ERANGE ? RATE_ERANGE : RATE_EINVAL;
}

int rate_tariff_check(const rate_tariff_t *t)
{
    if (t == NULL || t->per_minute < 0 || t->connect_fee < 0 ||
        t->first_inc < 1 || t->first_inc > RATE_SEC_MAX ||
        t->next_inc < 1 || t->next_inc > RATE_SEC_MAX ||
        t->min_sec > RATE_SEC_MAX || t->grace_sec > RATE_SEC_MAX)
        return RATE_EINVAL;
    return RATE_OK;
}

/* The rounding rule for a valid tariff and billsec <= RATE_SEC_MAX. */
static uint32_t rate_rounded(const rate_tariff_t *t, uint32_t billsec)
{
    uint64_t billable, blocks;

    if (billsec == 0 || billsec < t->grace_sec)
        return 0;
    billable = billsec > t->min_sec ? billsec : t->min_sec;
    if (billable <= t->first_inc)
        return t->first_inc;
    blocks = (billable - t->first_inc + t->next_inc - 1) / t->next_inc;
    /* < billable + next_inc <= 2 * RATE_SEC_MAX: fits */
    return (uint32_t)(t->first_inc + blocks * t->next_inc);
}

uint32_t rate_rounded_seconds(const rate_tariff_t *t, uint32_t billsec)
{
    if (rate_tariff_check(t) != RATE_OK || billsec > RATE_SEC_MAX)
        return RATE_ROUNDED_INVALID;
    return rate_rounded(t, billsec);
}

/* Validates what every cost function needs. */
static int rate_cost_args(const rate_tariff_t *t, uint32_t billsec,
                          money_round_t mode)
{
    if (rate_tariff_check(t) != RATE_OK || !rate_mode_valid(mode))
        return RATE_EINVAL;
    if (billsec > RATE_SEC_MAX)
        return RATE_ERANGE;
    return RATE_OK;
}

/* rate_cost for arguments already validated. */
static int rate_cost_flat(const rate_tariff_t *t, uint32_t billsec,
                          money_round_t mode, money_t *out)
{
    uint32_t rounded = rate_rounded(t, billsec);
    money_t usage, cost;
    int rc;

    if (rounded == 0) {
        *out = 0;
        return RATE_OK;
    }
    rc = money_muldiv(t->per_minute, rounded, RATE_SECS_PER_MIN, mode,
                      &usage);
    if (rc == MONEY_OK)
        rc = money_add(t->connect_fee, usage, &cost);
    if (rc != MONEY_OK)
        return rate_from_money(rc);
    *out = cost;
    return RATE_OK;
}

int rate_cost(const rate_tariff_t *t, uint32_t billsec, money_round_t mode,
              money_t *out)
{
    int rc = rate_cost_args(t, billsec, mode);

    if (rc != RATE_OK)
        return rc;
    if (out == NULL)
        return RATE_EINVAL;
    return rate_cost_flat(t, billsec, mode, out);
}

/*
 * The search behind both inverses. cost(ctx, d, &c) prices d seconds;
 * "affordable" means it succeeded and c <= available. Unpriceable
 * (RATE_ERANGE, RATE_ENORATE, RATE_ETZ) is "not affordable": these grow
 * with d like the cost does. Other errors abort. Needs cost(0) == 0 and
 * available >= 0, so that d = 0 is affordable.
 */
typedef int (*rate_cost_fn)(const void *ctx, uint32_t d, money_t *c);

static int rate_affordable(rate_cost_fn cost, const void *ctx, uint32_t d,
                           money_t available, int *yes)
{
    money_t c;
    int rc = cost(ctx, d, &c);

    if (rc == RATE_OK) {
        *yes = (c <= available);
        return RATE_OK;
    }
    if (rc == RATE_ERANGE || rc == RATE_ENORATE || rc == RATE_ETZ) {
        *yes = 0;
        return RATE_OK;
    }
    return rc;
}

/* Galloping (64, 128, ...) until unaffordable or cap, then bisection:
 * about 2 * log2(answer) evaluations. */
static int rate_search(rate_cost_fn cost, const void *ctx, money_t available,
                       uint32_t cap, uint32_t *out)
{
    uint32_t lo = 0, hi, probe = 64;     /* cost(lo) <= available always */
    int yes, rc;

    if (cap > RATE_SEC_MAX)
        cap = RATE_SEC_MAX;
    for (;;) {
        if (probe >= cap)
            probe = cap;
        rc = rate_affordable(cost, ctx, probe, available, &yes);
        if (rc != RATE_OK)
            return rc;
        if (!yes)
            break;
        lo = probe;
        if (probe == cap) {
            *out = cap;
            return RATE_OK;
        }
        probe *= 2;                      /* <= 2 * RATE_SEC_MAX: no wrap */
    }
    hi = probe;                          /* unaffordable */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        rc = rate_affordable(cost, ctx, mid, available, &yes);
        if (rc != RATE_OK)
            return rc;
        if (yes)
            lo = mid;
        else
            hi = mid;
    }
    *out = lo;
    return RATE_OK;
}

typedef struct rate_flat_ctx {
    const rate_tariff_t *t;
    money_round_t        mode;
} rate_flat_ctx_t;

static int rate_flat_cost_fn(const void *ctx, uint32_t d, money_t *c)
{
    const rate_flat_ctx_t *f = ctx;

    return rate_cost_flat(f->t, d, f->mode, c);
}

int rate_max_seconds(const rate_tariff_t *t, money_t available,
                     money_round_t mode, uint32_t cap, uint32_t *out)
{
    rate_flat_ctx_t ctx = { t, mode };

    if (rate_cost_args(t, 0, mode) != RATE_OK || out == NULL)
        return RATE_EINVAL;
    if (available < 0) {
        *out = 0;
        return RATE_OK;
    }
    return rate_search(rate_flat_cost_fn, &ctx, available, cap, out);
}

/* ---- periods ---------------------------------------------------------- */

static int rate_window_valid(const rate_window_t *w)
{
    return w->wday_mask != 0 && (w->wday_mask & 0x80) == 0 &&
           w->start_min < w->end_min && w->end_min <= RATE_MINUTES_PER_DAY &&
           w->period >= 1;
}

int rate_schedule_check(const rate_schedule_t *s)
{
    uint32_t i;

    if (s == NULL || (s->windows == NULL && s->nwindows > 0) ||
        (s->tz != NULL && s->tz->count == 0))
        return RATE_EINVAL;
    for (i = 0; i < s->nwindows; i++)
        if (!rate_window_valid(&s->windows[i]))
            return RATE_EINVAL;
    return RATE_OK;
}

/* Period in force at local (wday, minute): the first window containing
 * it, or 0 when none does. */
static uint16_t rate_period_of(const rate_schedule_t *s, unsigned wday,
                               unsigned minute)
{
    uint32_t i;

    for (i = 0; i < s->nwindows; i++) {
        const rate_window_t *w = &s->windows[i];
        if ((w->wday_mask >> wday & 1) && w->start_min <= minute &&
            minute < w->end_min)
            return w->period;
    }
    return 0;
}

/* The first window edge of weekday wday after `minute`, or 1440. */
static unsigned rate_next_edge(const rate_schedule_t *s, unsigned wday,
                               unsigned minute)
{
    unsigned edge = RATE_MINUTES_PER_DAY;
    uint32_t i;

    for (i = 0; i < s->nwindows; i++) {
        const rate_window_t *w = &s->windows[i];
        if (!(w->wday_mask >> wday & 1))
            continue;
        if (w->start_min > minute && w->start_min < edge)
            edge = w->start_min;
        if (w->end_min > minute && w->end_min < edge)
            edge = w->end_min;
    }
    return edge;
}

/* The tariff of `period`, else the default, else NULL. */
static const rate_period_tariff_t *
rate_tariff_for(const rate_period_tariff_t *pt, uint32_t n, uint16_t period)
{
    const rate_period_tariff_t *def = NULL;
    uint32_t i;

    for (i = 0; i < n; i++) {
        if (pt[i].period == period)
            return &pt[i];
        if (pt[i].period == 0)
            def = &pt[i];
    }
    return def;
}

int rate_period_tariffs_check(const rate_schedule_t *s,
                              const rate_period_tariff_t *pt, uint32_t n)
{
    uint32_t i, j;
    unsigned d;

    if (rate_schedule_check(s) != RATE_OK || (pt == NULL && n > 0))
        return RATE_EINVAL;
    for (i = 0; i < n; i++) {
        if (rate_tariff_check(&pt[i].t) != RATE_OK)
            return RATE_EINVAL;
        for (j = 0; j < i; j++)
            if (pt[j].period == pt[i].period)
                return RATE_EINVAL;
    }
    /* The period is constant between a day's edges, and every such run
     * starts at minute 0 or at an edge: checking those minutes suffices. */
    for (d = 0; d < 7; d++) {
        unsigned m = 0;
        while (m < RATE_MINUTES_PER_DAY) {
            if (rate_tariff_for(pt, n, rate_period_of(s, d, m)) == NULL)
                return RATE_ENORATE;
            m = rate_next_edge(s, d, m);
        }
    }
    return RATE_OK;
}

/* The tariff of second utc and the local position it was found at. */
static int rate_lookup(const rate_schedule_t *s,
                       const rate_period_tariff_t *pt, uint32_t n,
                       int64_t utc, const rate_period_tariff_t **out,
                       tz_local_t *loc)
{
    if (!tz_covers(s->tz, utc))
        return RATE_ETZ;
    if (tz_local(s->tz, utc, loc) != TZ_OK)
        return RATE_ERANGE;
    *out = rate_tariff_for(pt, n, rate_period_of(s, loc->wday,
                                                 loc->min_of_day));
    return *out == NULL ? RATE_ENORATE : RATE_OK;
}

/* The pointers a lookup follows (the full checks are for load time). */
static int rate_view_valid(const rate_schedule_t *s,
                           const rate_period_tariff_t *pt, uint32_t n)
{
    return s != NULL && (s->windows != NULL || s->nwindows == 0) &&
           (pt != NULL || n == 0);
}

int rate_tariff_at(const rate_schedule_t *s, const rate_period_tariff_t *pt,
                   uint32_t n, int64_t utc, const rate_period_tariff_t **out)
{
    const rate_period_tariff_t *found;
    tz_local_t loc;
    int rc;

    if (!rate_view_valid(s, pt, n) || out == NULL)
        return RATE_EINVAL;
    rc = rate_lookup(s, pt, n, utc, &found, &loc);
    if (rc == RATE_OK)
        *out = found;
    return rc;
}

/* One pricing question with periods. */
typedef struct rate_at_ctx {
    const rate_schedule_t      *s;
    const rate_period_tariff_t *pt;
    uint32_t                    n;
    int64_t                     answer;
    const rate_period_tariff_t *first;   /* tariff at answer */
    money_round_t               mode;
} rate_at_ctx_t;

static void rate_trace_add(rate_trace_t *tr, const rate_period_tariff_t *pt,
                           uint32_t secs, int merge)
{
    if (tr == NULL)
        return;
    tr->rounded_sec += secs;
    if (merge) {
        if (tr->nrecorded == tr->nsegments)
            tr->seg[tr->nrecorded - 1].seconds += secs;
        else
            tr->rest_seconds += secs;
        return;
    }
    tr->nsegments++;
    if (tr->nrecorded < RATE_TRACE_MAX) {
        rate_segment_t *g = &tr->seg[tr->nrecorded++];
        g->per_minute = pt->t.per_minute;
        g->seconds = secs;
        g->period = pt->period;
        g->reserved = 0;
    } else {
        tr->rest_seconds += secs;
    }
}

/* Length of the segment starting at utc (local position loc), <= left. */
static int64_t rate_segment_len(const rate_schedule_t *s, int64_t utc,
                                const tz_local_t *loc, int64_t left)
{
    unsigned edge = rate_next_edge(s, loc->wday, loc->min_of_day);
    int64_t len = (int64_t)edge * RATE_SECS_PER_MIN - loc->sec_of_day;
    int64_t to_change;

    /* INT64_MAX (no change known) minus a negative utc would overflow */
    if (!__builtin_sub_overflow(tz_next_change(s->tz, utc), utc, &to_change)
        && to_change < len)
        len = to_change;
    return len < left ? len : left;
}

/* Sum of per_minute * seconds over [answer, answer + rounded). */
static int rate_sum_span(const rate_at_ctx_t *c, uint32_t rounded,
                         __int128 *sum, rate_trace_t *tr)
{
    const rate_period_tariff_t *prev = NULL, *cur;
    int64_t t = c->answer, end;
    tz_local_t loc;
    int rc;

    if (__builtin_add_overflow(c->answer, (int64_t)rounded, &end))
        return RATE_ERANGE;
    if (!tz_covers(c->s->tz, end - 1))
        return RATE_ETZ;                 /* span is an interval: ends do */
    *sum = 0;
    while (t < end) {
        int64_t len;
        rc = rate_lookup(c->s, c->pt, c->n, t, &cur, &loc);
        if (rc != RATE_OK)
            return rc;
        if (cur->t.per_minute < 0)
            return RATE_EINVAL;          /* would break monotonicity */
        len = rate_segment_len(c->s, t, &loc, end - t);
        *sum += (__int128)cur->t.per_minute * len;
        rate_trace_add(tr, cur, (uint32_t)len, cur == prev);
        prev = cur;
        t += len;
    }
    return RATE_OK;
}

/* num / 60 for num >= 0, rounded with mode as money_muldiv does. */
static int rate_div_minute(__int128 num, money_round_t mode, money_t *out)
{
    __int128 q = num / RATE_SECS_PER_MIN;
    __int128 r = num % RATE_SECS_PER_MIN;

    if (num < 0)
        return RATE_EINVAL;
    if ((mode == MONEY_ROUND_UP && r > 0) ||
        (mode == MONEY_ROUND_HALF_UP && 2 * r >= RATE_SECS_PER_MIN))
        q++;
    if (q > INT64_MAX)
        return RATE_ERANGE;
    *out = (money_t)q;
    return RATE_OK;
}

/* Cost of billsec from the answer; fills tr (zeroed by the caller). */
static int rate_cost_at_ctx(const rate_at_ctx_t *c, uint32_t billsec,
                            money_t *out, rate_trace_t *tr)
{
    uint32_t rounded;
    __int128 sum;
    money_t usage;
    int rc;

    if (billsec > RATE_SEC_MAX)
        return RATE_ERANGE;
    rounded = rate_rounded(&c->first->t, billsec);
    if (rounded == 0) {
        *out = 0;
        return RATE_OK;
    }
    if ((rc = rate_sum_span(c, rounded, &sum, tr)) != RATE_OK ||
        (rc = rate_div_minute(sum, c->mode, &usage)) != RATE_OK)
        return rc;
    if (money_add(c->first->t.connect_fee, usage, out) != MONEY_OK)
        return RATE_ERANGE;
    if (tr != NULL) {
        tr->connect_fee = c->first->t.connect_fee;
        tr->answer_period = c->first->period;
    }
    return RATE_OK;
}

/* Validates the arguments and finds the tariff at answer. */
static int rate_at_prepare(rate_at_ctx_t *c, const rate_schedule_t *s,
                           const rate_period_tariff_t *pt, uint32_t n,
                           int64_t answer_utc, money_round_t mode)
{
    tz_local_t loc;
    int rc;

    if (!rate_view_valid(s, pt, n) || !rate_mode_valid(mode))
        return RATE_EINVAL;
    c->s = s;
    c->pt = pt;
    c->n = n;
    c->answer = answer_utc;
    c->mode = mode;
    rc = rate_lookup(s, pt, n, answer_utc, &c->first, &loc);
    if (rc == RATE_OK && rate_tariff_check(&c->first->t) != RATE_OK)
        rc = RATE_EINVAL;
    return rc;
}

int rate_cost_at(const rate_schedule_t *s, const rate_period_tariff_t *pt,
                 uint32_t n, int64_t answer_utc, uint32_t billsec,
                 money_round_t mode, money_t *out, rate_trace_t *trace)
{
    rate_trace_t tr;
    rate_at_ctx_t c;
    money_t cost;
    int rc;

    if (trace != NULL)
        memset(trace, 0, sizeof *trace);
    if (out == NULL || !rate_view_valid(s, pt, n) || !rate_mode_valid(mode))
        return RATE_EINVAL;
    if (billsec == 0) {
        *out = 0;                        /* unanswered: no lookup at all */
        return RATE_OK;
    }
    memset(&tr, 0, sizeof tr);
    rc = rate_at_prepare(&c, s, pt, n, answer_utc, mode);
    if (rc == RATE_OK)
        rc = rate_cost_at_ctx(&c, billsec, &cost, &tr);
    if (rc != RATE_OK)
        return rc;
    *out = cost;
    if (trace != NULL)
        *trace = tr;
    return RATE_OK;
}

static int rate_at_cost_fn(const void *ctx, uint32_t d, money_t *c)
{
    return rate_cost_at_ctx(ctx, d, c, NULL);
}

int rate_max_seconds_at(const rate_schedule_t *s,
                        const rate_period_tariff_t *pt, uint32_t n,
                        int64_t answer_utc, money_t available,
                        money_round_t mode, uint32_t cap, uint32_t *out)
{
    rate_at_ctx_t c;
    int rc;

    if (out == NULL)
        return RATE_EINVAL;
    rc = rate_at_prepare(&c, s, pt, n, answer_utc, mode);
    if (rc != RATE_OK)
        return rc;
    if (available < 0) {
        *out = 0;
        return RATE_OK;
    }
    return rate_search(rate_at_cost_fn, &c, available, cap, out);
}
