/*
 * rating.c -- catalog + deck + rate arithmetic (see rating.h).
 *
 * NOTES: a plan with no windows prices every second with the row of period
 * 0; the rows given to rate.h are exactly the deck rows in force at the
 * call's start, so a rate that changes during a call does not change the
 * call's price (the rule: the rate in force at the start).
 */
#include "shm/rating.h"

#include <string.h>

static void rating_schedule(const cat_hdr_t *c, const cat_plan_t *p,
                            rate_schedule_t *s)
{
    s->windows = cat_plan_windows(c, p);
    s->nwindows = p->nwindows;
    s->tz = cat_plan_tz(c, p);
}

int rating_lookup(const region_t *r, const cat_hdr_t *c, int64_t plan_id,
                  const char *dialled, size_t len, int64_t start,
                  rating_quote_t *q, rate_period_tariff_t *pt, uint32_t *n)
{
    const cat_plan_t *p = cat_plan(c, plan_id);
    const deck_hdr_t *d = p ? cat_deck(r, p) : NULL;
    size_t nlen;
    deck_match_t m;

    if (d == NULL)
        return RATING_ENOPLAN;
    if (number_normalize(dialled, len, p->rules, p->nrules, q->number,
                         sizeof q->number, &nlen) != NUMBER_OK)
        return RATING_ENUMBER;
    if (deck_lookup(d, q->number, nlen, start, &m) != DECK_OK)
        return RATING_ENORATE;
    q->plan_id = plan_id;
    q->deck_version = d->version;
    q->rounding = (money_round_t)p->rounding;
    memcpy(q->prefix, m.group->prefix, m.group->len);
    q->prefix[m.group->len] = '\0';
    q->zone_id = m.zone->id;
    strncpy(q->zone, m.zone->name, DECK_ZONE_NAME);
    q->zone[DECK_ZONE_NAME] = '\0';
    q->rate_id = m.rows[0]->rate_id;
    q->tariff = m.rows[0]->tariff;
    for (uint32_t i = 0; i < m.nrows; i++) {
        memset(&pt[i], 0, sizeof pt[i]);
        pt[i].period = m.rows[i]->period;
        pt[i].t = m.rows[i]->tariff;
    }
    *n = m.nrows;
    return RATING_OK;
}

/* Fills q->tariff/rate_id with the row in force at `at` when periods
 * apply, so the CDR names the tariff the call was answered under. */
static void rating_answer_row(const rate_schedule_t *s,
                              const rate_period_tariff_t *pt, uint32_t n,
                              int64_t at, rating_quote_t *q)
{
    const rate_period_tariff_t *t;
    if (n > 1 && rate_tariff_at(s, pt, n, at, &t) == RATE_OK)
        q->tariff = t->t;
}

int rating_price(const region_t *r, const cat_hdr_t *c, int64_t plan_id,
                 const char *dialled, size_t len, int64_t start,
                 int64_t answer, uint32_t billsec, rating_quote_t *q)
{
    rate_period_tariff_t pt[DECK_MAX_PERIODS];
    rate_schedule_t s;
    uint32_t n;
    int rc = rating_lookup(r, c, plan_id, dialled, len, start, q, pt, &n);
    if (rc != RATING_OK)
        return rc;
    rating_schedule(c, cat_plan(c, plan_id), &s);
    rating_answer_row(&s, pt, n, answer, q);
    if (rate_cost_at(&s, pt, n, answer, billsec, q->rounding, &q->cost,
                     &q->trace) != RATE_OK)
        return RATING_EPRICE;
    q->rounded_sec = q->trace.rounded_sec;
    return RATING_OK;
}

int rating_authorize(const region_t *r, const cat_hdr_t *c, int64_t plan_id,
                     const char *dialled, size_t len, int64_t start,
                     money_t available, uint32_t cap, uint32_t *max_sec,
                     rating_quote_t *q)
{
    return rating_authorize_at(r, c, plan_id, dialled, len, start, start,
                               available, cap, max_sec, q);
}

int rating_authorize_at(const region_t *r, const cat_hdr_t *c,
                        int64_t plan_id, const char *dialled, size_t len,
                        int64_t start, int64_t answer, money_t available,
                        uint32_t cap, uint32_t *max_sec, rating_quote_t *q)
{
    rate_period_tariff_t pt[DECK_MAX_PERIODS];
    rate_schedule_t s;
    uint32_t n;
    int rc = rating_lookup(r, c, plan_id, dialled, len, start, q, pt, &n);
    if (rc != RATING_OK)
        return rc;
    rating_schedule(c, cat_plan(c, plan_id), &s);
    rating_answer_row(&s, pt, n, answer, q);
    if (rate_max_seconds_at(&s, pt, n, answer, available, q->rounding, cap,
                            max_sec) != RATE_OK
        || rate_cost_at(&s, pt, n, answer, *max_sec, q->rounding, &q->cost,
                        &q->trace) != RATE_OK)
        return RATING_EPRICE;
    q->rounded_sec = q->trace.rounded_sec;
    return RATING_OK;
}

const char *rating_strerror(int err)
{
    switch (err) {
    case RATING_OK:      return "ok";
    case RATING_ENOPLAN: return "no such rate plan, or the plan has no deck";
    case RATING_ENUMBER: return "the number does not normalise";
    case RATING_ENORATE: return "no rate in force for the number";
    case RATING_EPRICE:  return "the rate cannot price the call";
    default:             return "unknown rating error";
    }
}
