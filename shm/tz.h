/*
 * tz.h -- UTC offsets of one IANA time zone, as a flat table that can live
 * in shared memory.
 *
 * Rate periods ("peak 08:00-20:00 Mon-Fri") are in the plan's time zone,
 * while every instant in the product is UTC epoch seconds (int64). A
 * tz_table_t answers "what is the local offset / weekday / minute of day at
 * this UTC second" with a binary search over the zone's offset changes,
 * without any libc call, lock or allocation.
 *
 *   tz_table_t (POD, position-independent: no pointers, only the array)
 *   +----------------------------------------------------------------+
 *   | name | span_from span_to | from_year to_year | count | trans[] |
 *   +----------------------------------------------------------------+
 *   trans[i] = { utc_from, offset_sec }: from utc_from (inclusive) until
 *   trans[i+1].utc_from the local time is utc + offset_sec.
 *   trans[0].utc_from == span_from; utc_from strictly ascending; two
 *   neighbours never have the same offset.
 *
 * Building (supervisor only): tz_build_size() then tz_build() into a caller
 * buffer (private or in the shared region; copy it anywhere with memcpy of
 * tz_table_bytes()). Building uses glibc (TZ environment variable, tzset,
 * localtime_r): it changes the process environment while it runs and
 * restores TZ before returning. setenv/tzset are not thread-safe, so build
 * only from a single-threaded process (the supervisor at load/reload), never
 * in a worker or in the threaded admin process.
 *
 * Lookups (any process, any thread): tz_offset, tz_next_change, tz_covers,
 * tz_local are pure functions of an immutable table; they are lock-free
 * and safe on a table in shared memory as long as it is not rewritten
 * under the reader (the publisher's job). A NULL table means UTC (offset 0,
 * no change, covers everything), so callers need no special case.
 */
#ifndef APOLO_TZ_H
#define APOLO_TZ_H

#include <stddef.h>
#include <stdint.h>

#define TZ_NAMELEN   64          /* IANA name with its NUL */
#define TZ_YEAR_MIN  1900
#define TZ_YEAR_MAX  2200

enum {
    TZ_OK = 0,
    TZ_EINVAL = -1,   /* bad argument: years, NULL, unaligned buffer */
    TZ_ENOZONE = -2,  /* no such zone (no TZif file under the zoneinfo dir) */
    TZ_ENOSPC = -3,   /* the caller's buffer is too small */
    TZ_ESYS = -4,     /* libc failure (allocation, localtime_r) */
    TZ_ERANGE = -5    /* instant too far from the epoch to convert */
};

typedef struct tz_transition {
    int64_t utc_from;      /* first UTC second of this offset */
    int32_t offset_sec;    /* local = utc + offset_sec */
    int32_t reserved;      /* 0 */
} tz_transition_t;

typedef struct tz_table {
    char     name[TZ_NAMELEN];  /* IANA name, NUL-terminated */
    int64_t  span_from;         /* the table is exact for UTC [from, to) */
    int64_t  span_to;
    int32_t  from_year;         /* as asked of tz_build */
    int32_t  to_year;
    uint32_t count;             /* entries in trans[], >= 1 */
    uint32_t reserved;          /* 0 */
    tz_transition_t trans[];    /* sorted by utc_from */
} tz_table_t;

/* Local calendar position of a UTC second. */
typedef struct tz_local {
    int64_t  local_day;     /* days since 1970-01-01 in local time */
    int32_t  offset_sec;    /* the offset in force */
    uint32_t sec_of_day;    /* 0..86399 */
    uint16_t min_of_day;    /* 0..1439 */
    uint8_t  wday;          /* 0 = Sunday .. 6 = Saturday */
    uint8_t  reserved;
} tz_local_t;

/*
 * Scans zone `name` (e.g. "America/New_York", "UTC") over the years
 * [from_year, to_year] (TZ_YEAR_MIN..TZ_YEAR_MAX) and stores in *size the
 * bytes tz_build needs. The span covered is UTC [Jan 1 of from_year - 1 day,
 * Jan 1 of to_year+1 + 1 day), so every instant whose UTC or local date lies
 * in those years is exact.
 *
 * The zone must be a TZif file under $TZDIR (default /usr/share/zoneinfo):
 * glibc silently treats an unknown name as UTC, so the file is checked
 * first (TZ_ENOZONE); names with "..", a leading '/', or characters outside
 * [A-Za-z0-9_+-/] are TZ_ENOZONE too.
 * Supervisor only, single-threaded (see above). Errors: TZ_EINVAL,
 * TZ_ENOZONE, TZ_ESYS; *size untouched on error; TZ is restored.
 */
int tz_build_size(const char *name, int from_year, int to_year, size_t *size);

/*
 * Builds the table into buf (bufsize bytes, aligned for int64_t) and stores
 * the bytes used in *used (may be NULL). Errors: as tz_build_size, plus
 * TZ_ENOSPC when bufsize is too small (tzdata may have changed since
 * tz_build_size: ask again) and TZ_EINVAL for an unaligned buf. On error the
 * buffer's content is unspecified and must not be published.
 * Supervisor only, single-threaded.
 */
int tz_build(const char *name, int from_year, int to_year, void *buf,
             size_t bufsize, size_t *used);

/* Total bytes of a built table (header and transitions). */
size_t tz_table_bytes(const tz_table_t *tab);

/* Offset (seconds east of UTC) in force at utc. Outside the span the
 * nearest known offset is extrapolated (check tz_covers when it matters). */
int32_t tz_offset(const tz_table_t *tab, int64_t utc);

/* The first UTC second > utc at which the offset changes, or INT64_MAX if
 * none is known (beyond the last transition of the table). */
int64_t tz_next_change(const tz_table_t *tab, int64_t utc);

/* 1 if utc lies inside the span the table is exact for, else 0. */
int tz_covers(const tz_table_t *tab, int64_t utc);

/* Local day, weekday, second and minute of day at utc. TZ_ERANGE (and *out
 * untouched) when utc + offset overflows int64. */
int tz_local(const tz_table_t *tab, int64_t utc, tz_local_t *out);

/* Static English text for a TZ_* code. */
const char *tz_strerror(int err);

#endif
