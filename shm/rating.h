/*
 * rating.h -- rating a call against the published catalog: normalise the
 * dialled number with the plan's rules, find the longest prefix with a rate
 * in force at the call's start, and price it (rate.h) with the plan's
 * periods, time zone and rounding.
 *
 * Any process, lock-free, no allocation; the caller is online in QSBR and
 * passes the catalog it got from cat_current(). The quote copies what a CDR
 * must record (plan, deck version, prefix, zone, rate id, tariff), so it
 * stays valid after the reader's next quiescent point.
 */
#ifndef APOLO_RATING_H
#define APOLO_RATING_H

#include "shm/catalog.h"
#include "shm/deck.h"
#include "shm/number.h"
#include "shm/rate.h"

enum {
    RATING_OK = 0,
    RATING_ENOPLAN = -1,     /* no such plan, or a plan without a deck */
    RATING_ENUMBER = -2,     /* the number does not normalise */
    RATING_ENORATE = -3,     /* no prefix with a rate in force */
    RATING_EPRICE = -4       /* the tariff cannot price it (rate.h error) */
};

typedef struct rating_quote {
    int64_t       plan_id;
    uint64_t      deck_version;
    int64_t       rate_id;
    int64_t       zone_id;
    char          number[NUMBER_MAXLEN + 1];   /* normalised */
    char          prefix[DECK_MAX_PREFIX + 1];
    char          zone[DECK_ZONE_NAME + 1];
    rate_tariff_t tariff;                      /* the one at answer */
    money_round_t rounding;
    money_t       cost;
    uint32_t      rounded_sec;
    rate_trace_t  trace;
} rating_quote_t;

/* The rows in force for a number at `start`: fills the identity fields of
 * q (plan, deck version, number, prefix, zone, rate id, tariff of the first
 * row) and pt[0..*n) for pricing. */
int rating_lookup(const region_t *r, const cat_hdr_t *c, int64_t plan_id,
                  const char *dialled, size_t len, int64_t start,
                  rating_quote_t *q, rate_period_tariff_t *pt, uint32_t *n);

/* Cost of a call answered at `answer` lasting billsec (0: unanswered). */
int rating_price(const region_t *r, const cat_hdr_t *c, int64_t plan_id,
                 const char *dialled, size_t len, int64_t start,
                 int64_t answer, uint32_t billsec, rating_quote_t *q);

/* Authorisation: how many seconds `available` pays for, from `start`, at
 * most cap. q gets the identity fields and q->cost the cost of *max_sec. */
int rating_authorize(const region_t *r, const cat_hdr_t *c, int64_t plan_id,
                     const char *dialled, size_t len, int64_t start,
                     money_t available, uint32_t cap, uint32_t *max_sec,
                     rating_quote_t *q);

/* The same for a call rated at `start` (the rate in force then) and
 * answered at `answer` (time-of-day periods count from there): metering
 * a call in progress. */
int rating_authorize_at(const region_t *r, const cat_hdr_t *c,
                        int64_t plan_id, const char *dialled, size_t len,
                        int64_t start, int64_t answer, money_t available,
                        uint32_t cap, uint32_t *max_sec, rating_quote_t *q);

const char *rating_strerror(int err);

#endif
