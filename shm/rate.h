/*
 * rate.h -- what a call costs, and how long an amount of money lasts.
 *
 * These are the cost rules every part of ApoloBilling must agree on
 * (authorisation, metering, final rating, CDR audit, SQL reports).
 *
 * One tariff (rate_tariff_t), billsec = answered seconds:
 *   billsec == 0 or billsec < grace_sec     -> costs 0 (no connect fee)
 *   billable = max(billsec, min_sec)
 *   rounded  = first_inc                                 if billable <= first_inc
 *            = first_inc + ceil((billable - first_inc) / next_inc) * next_inc
 *   cost     = connect_fee + per_minute * rounded / 60, rounded ONCE to the
 *              micro-unit with the plan's money_round_t (default UP)
 * e.g. 0.0125/min on 1/1 for 1 s = 0.000209 (UP); 7 s on 60/6 = 60 s;
 * 61 s on 60/6 = 66 s; 61 s on 30/6 = 66 s.
 *
 * Time periods (peak/offpeak). A plan has windows in its time zone; a
 * prefix has one tariff per period id (rate_period_tariff_t) and optionally
 * a default (period 0). The tariff of a UTC second is:
 *   local = its local weekday and minute of day in the plan's zone;
 *   w     = the FIRST window, in array order, whose wday_mask has the
 *           weekday and start_min <= minute < end_min (so put the more
 *           specific windows first);
 *   the prefix's tariff for w's period, else its default, else none
 *   (RATE_ENORATE: the second cannot be priced).
 * A call answered at utc A with billsec b:
 *   T      = the tariff of second A: its grace, min, increments and
 *            connect fee apply to the whole call;
 *   rounded seconds are computed with T and laid out from A: seconds
 *   A .. A+rounded-1, the rounding-up tail included;
 *   cost   = T.connect_fee + round(sum over those seconds of
 *            per_minute(tariff of the second) / 60), ONE rounding at the end.
 * Computed by segments (window edges, local midnight, offset changes), not
 * second by second; a call that crosses a DST change is priced by the local
 * time of each second.
 *
 * Errors: RATE_OK (0) or a negative RATE_* code; on error every output is
 * left untouched, except a trace, which is zeroed. All functions are pure:
 * they read only their arguments (which may live in shared memory and must
 * not change during the call), take no lock, allocate nothing; safe in any
 * process and thread.
 *
 * Shared memory: rate_tariff_t, rate_window_t, rate_period_tariff_t and
 * rate_trace_t are POD without pointers and may be stored in the region or
 * a journal record. rate_schedule_t holds pointers: it is a per-process
 * view built on the stack from region offsets, never stored.
 */
#ifndef APOLO_RATE_H
#define APOLO_RATE_H

#include <stdint.h>

#include "shm/money.h"
#include "shm/tz.h"

enum {
    RATE_OK = 0,
    RATE_EINVAL = -1,   /* bad argument: invalid tariff/window, NULL, mode */
    RATE_ERANGE = -2,   /* overflow, or billsec > RATE_SEC_MAX */
    RATE_ENORATE = -3,  /* a second falls in no priced period */
    RATE_ETZ = -4       /* an instant outside the time zone table's span */
};

/* Upper bound of billsec, increments, minimum and grace: 31.7 years. It
 * keeps rounded seconds below 2^31, so they always fit a uint32_t. */
#define RATE_SEC_MAX         1000000000u
/* rate_rounded_seconds() for an invalid tariff or billsec > RATE_SEC_MAX. */
#define RATE_ROUNDED_INVALID UINT32_MAX
/* Segments a rate_trace_t records one by one; the rest are summed. */
#define RATE_TRACE_MAX       4
#define RATE_MINUTES_PER_DAY 1440

typedef struct rate_tariff {
    money_t  per_minute;   /* >= 0, micro-units per 60 seconds */
    money_t  connect_fee;  /* >= 0, charged once when the call costs */
    uint32_t first_inc;    /* 1..RATE_SEC_MAX: first billing block */
    uint32_t next_inc;     /* 1..RATE_SEC_MAX: each following block */
    uint32_t min_sec;      /* 0..RATE_SEC_MAX: minimum billable */
    uint32_t grace_sec;    /* 0..RATE_SEC_MAX: shorter calls are free */
} rate_tariff_t;

typedef struct rate_window {
    uint8_t  wday_mask;    /* bit0 = Sunday .. bit6 = Saturday, != 0 */
    uint16_t start_min;    /* local minutes of day, [start, end), */
    uint16_t end_min;      /*   0 <= start < end <= 1440 */
    uint16_t period;       /* period id >= 1 */
} rate_window_t;

/* A prefix's tariff for one period; period 0 is the default. */
typedef struct rate_period_tariff {
    uint16_t      period;
    uint16_t      reserved[3];   /* 0 */
    rate_tariff_t t;
} rate_period_tariff_t;

/* Per-process view of a plan's periods. nwindows 0: only the default
 * applies. tz NULL: the plan's time zone is UTC. */
typedef struct rate_schedule {
    const rate_window_t *windows;
    uint32_t             nwindows;
    const tz_table_t    *tz;
} rate_schedule_t;

/* One run of consecutive seconds priced by the same tariff. */
typedef struct rate_segment {
    money_t  per_minute;
    uint32_t seconds;
    uint16_t period;       /* period of the tariff used (0 = default) */
    uint16_t reserved;
} rate_segment_t;

/* How a call was priced, for the CDR. All zero for a free call. */
typedef struct rate_trace {
    money_t        connect_fee;    /* of the tariff at answer */
    uint32_t       rounded_sec;    /* seconds laid out = sum of segments */
    uint32_t       nsegments;      /* segments crossed, recorded or not */
    uint32_t       rest_seconds;   /* seconds of segments past seg[] */
    uint16_t       answer_period;  /* period of the tariff at answer */
    uint16_t       nrecorded;      /* entries used in seg[] */
    rate_segment_t seg[RATE_TRACE_MAX];
} rate_trace_t;

/* Static English text for a RATE_* code. */
const char *rate_strerror(int err);

/* RATE_OK if t obeys the field ranges above, else RATE_EINVAL. */
int rate_tariff_check(const rate_tariff_t *t);

/* Seconds billed for billsec under t's grace, minimum and increments (0 for
 * a free call); RATE_ROUNDED_INVALID for an invalid t or billsec >
 * RATE_SEC_MAX. A valid result is < 2 * RATE_SEC_MAX. */
uint32_t rate_rounded_seconds(const rate_tariff_t *t, uint32_t billsec);

/* Cost of billsec under one tariff. RATE_EINVAL (invalid t or mode),
 * RATE_ERANGE (billsec > RATE_SEC_MAX or the cost overflows). */
int rate_cost(const rate_tariff_t *t, uint32_t billsec, money_round_t mode,
              money_t *out);

/*
 * Authorisation: the longest duration d <= cap, in whole seconds, with
 * rate_cost(d) <= available; never a second more. Free seconds count:
 * with grace g > 0, available 0 still allows g - 1 seconds (and more if
 * per_minute and connect_fee are 0: then cap). available < 0 gives 0
 * (the caller refuses the call). cap is clamped to RATE_SEC_MAX.
 * Property: cost(*out) <= available, and cost(*out + 1) > available (or
 * overflows) whenever *out < cap and available >= 0.
 * Exact search over the monotone cost: O(log d) evaluations.
 * Errors: RATE_EINVAL.
 */
int rate_max_seconds(const rate_tariff_t *t, money_t available,
                     money_round_t mode, uint32_t cap, uint32_t *out);

/* RATE_OK if every window obeys its field ranges and tz, when present,
 * has transitions; else RATE_EINVAL. */
int rate_schedule_check(const rate_schedule_t *s);

/*
 * Checks a prefix's tariffs against its plan's schedule, for load time:
 * RATE_EINVAL for an invalid tariff, a duplicate period or pt NULL with
 * n > 0; RATE_ENORATE when some minute of the week has no tariff (no
 * default and a window-less minute, or a window whose period has none).
 * Cost O(7 * nwindows^2 + n^2).
 */
int rate_period_tariffs_check(const rate_schedule_t *s,
                              const rate_period_tariff_t *pt, uint32_t n);

/* The tariff (an element of pt[0..n)) in force at second utc.
 * Errors: RATE_EINVAL, RATE_ENORATE, RATE_ETZ (utc not covered by s->tz). */
int rate_tariff_at(const rate_schedule_t *s, const rate_period_tariff_t *pt,
                   uint32_t n, int64_t utc, const rate_period_tariff_t **out);

/*
 * Cost of a call answered at answer_utc lasting billsec, by the period
 * rules above; *trace (may be NULL) records how. billsec 0 costs 0 without
 * any lookup. s must pass rate_schedule_check; tariffs must be valid.
 * Errors: RATE_EINVAL, RATE_ERANGE, RATE_ENORATE (a laid-out second has no
 * tariff), RATE_ETZ (the laid-out seconds leave the tz table's span).
 * Cost O(segments * (nwindows + log transitions) + n * segments).
 */
int rate_cost_at(const rate_schedule_t *s, const rate_period_tariff_t *pt,
                 uint32_t n, int64_t answer_utc, uint32_t billsec,
                 money_round_t mode, money_t *out, rate_trace_t *trace);

/*
 * rate_max_seconds with periods: the longest d <= cap whose rate_cost_at
 * from answer_utc is <= available. Seconds that cannot be priced
 * (RATE_ENORATE, RATE_ETZ, overflow) are never authorised: d stops before
 * them. available < 0 gives 0. Errors: RATE_EINVAL, RATE_ENORATE or
 * RATE_ETZ at answer_utc itself (nothing can be authorised).
 * O(log d) rate_cost_at evaluations, each over the segments of d seconds.
 */
int rate_max_seconds_at(const rate_schedule_t *s,
                        const rate_period_tariff_t *pt, uint32_t n,
                        int64_t answer_utc, money_t available,
                        money_round_t mode, uint32_t cap, uint32_t *out);

#endif
