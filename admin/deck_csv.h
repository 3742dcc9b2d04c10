/*
 * deck_csv.h -- parses and validates a carrier's rate deck CSV, streaming,
 * without PostgreSQL (admin/api_plans.c imports what it produced).
 *
 *   dcsv_new -> dcsv_feed(chunk)... -> dcsv_finish -> rows[], zones[], errs[]
 *
 * Shape: a header line, then one rate per line; columns found by header
 * name (any case, surrounding spaces ignored, unknown columns ignored):
 *
 *   prefix                       required, 1..20 digits
 *   destination | zone           required, the zone's code or name
 *   rate_per_minute | rate       required, decimal (money_parse: exact)
 *   connection_fee               optional decimal, default 0
 *   first_increment, next_increment | increment ("60/6")   default 60/60
 *   effective_from               optional UTC date or date-time, default:
 *                                the import (dcsv_row_t.from = 0)
 *   effective_to                 optional, after effective_from
 *   closed                       optional 1/0, true/false, yes/no: the
 *                                prefix closes at effective_from
 *   period                       optional, the name of one of the plan's
 *                                time-of-day periods ("peak"); empty: the
 *                                rate without a period
 *
 * Fields may be double-quoted ("" inside for a quote); a quoted field
 * cannot span lines. Empty lines are skipped (but counted).
 *
 * Every bad row is recorded (dcsv_t.errs, sorted by line by dcsv_finish),
 * not only the first: an import is all or nothing, and the carrier wants
 * the whole list at once. A prefix twice in one file is an error on each
 * later line (a prefix with several periods is one rate per period: the
 * pair (prefix, period) is what must be unique). Memory: about 80 bytes per row (80 MB for a million).
 * Not thread safe per object; objects are independent.
 */
#ifndef APOLO_DECK_CSV_H
#define APOLO_DECK_CSV_H

#include "shm/money.h"

#include <stddef.h>
#include <stdint.h>

#define DCSV_PREFIX_MAX 20
#define DCSV_ZONE_MAX   200
#define DCSV_MSG        120
#define DCSV_LINE_MAX   4096
#define DCSV_PERIOD_MAX 64      /* bytes of a period's name */
#define DCSV_PERIODS    32      /* distinct period names in one file */

typedef struct dcsv_row {
    char     prefix[DCSV_PREFIX_MAX + 1];
    uint8_t  closed;
    uint8_t  period;        /* 0: none; else 1 + index into dcsv_t.periods */
    uint32_t zone;          /* index into dcsv_t.zones */
    uint32_t line;
    uint32_t first, next;   /* increments, seconds */
    money_t  rate, fee;     /* micro-units */
    int64_t  from, to;      /* unix seconds; 0 = not given */
} dcsv_row_t;

typedef struct dcsv_err {
    uint32_t line;
    char     msg[DCSV_MSG];
} dcsv_err_t;

typedef struct dcsv {
    dcsv_row_t *rows;
    size_t      nrows, caprows;
    char      **zones;      /* distinct zone values, in first-seen order */
    uint32_t   *zone_line;  /* the first line naming each */
    uint32_t    nzones, capzones;
    char       *periods[DCSV_PERIODS];  /* distinct period names, in ... */
    uint32_t    period_line[DCSV_PERIODS];  /* ... first-seen order */
    uint32_t    nperiods;
    dcsv_err_t *errs;       /* at most DCSV_ERRS_KEPT kept ... */
    size_t      nerrs, caperrs;
    size_t      nbad;       /* ... and the count of all of them */
    int         fatal;      /* header unusable, out of memory */
    /* private */
    uint32_t   *zhash;
    uint32_t    zhash_cap;
    int         col[12];     /* header index of each known column, -1 */
    int         ncols;
    uint32_t    line;
    char       *carry;
    size_t      ncarry;
} dcsv_t;

#define DCSV_ERRS_KEPT 1000

/* NULL when out of memory. */
dcsv_t *dcsv_new(void);
void    dcsv_free(dcsv_t *d);

/* Parses the complete lines of buf (a line split across calls is kept).
 * 0, or -1 when d->fatal (stop feeding; errs says why). */
int dcsv_feed(dcsv_t *d, const char *buf, size_t len);

/* The last line, duplicates, errors sorted by line. 0, or -1 (fatal). */
int dcsv_finish(dcsv_t *d);

/* Records an error of a line (also used by the importer for zones). */
void dcsv_error(dcsv_t *d, uint32_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sorts the kept errors by line (after dcsv_error calls past finish). */
void dcsv_sort_errors(dcsv_t *d);

/* "YYYY-MM-DD[( |T)HH:MM[:SS]][Z]" in UTC to unix seconds: 0, or -1. */
int dcsv_parse_time(const char *s, int64_t *out);

#endif
