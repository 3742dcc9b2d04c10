/*
 * tz.c -- build a time zone's offset table with glibc, look it up without.
 *
 * Design: we do not parse TZif ourselves. The builder points TZ at the
 * zone's file, then walks the span a day at a time asking localtime_r for
 * the offset (tm_gmtoff); where two probes differ, a binary search finds
 * the exact first second of the new offset. The result is a sorted array
 * of { utc_from, offset } that lookups binary-search with no libc call.
 *
 * NOTES (traps):
 * - glibc treats an unknown TZ name as UTC without any error, so the zone
 *   file is checked first (it must exist and start with the "TZif" magic);
 *   TZ is set to ":<absolute path>" so glibc loads exactly that file.
 * - localtime_r does not re-read TZ (only localtime and tzset do): tzset()
 *   is called after every change of TZ, including the restore.
 * - A day step can miss an offset change that is undone within the same
 *   day (A -> B -> A). No zone of tzdata 2025b does that between 1900 and
 *   2100 (the closest offset changes of any zone are 3.9 days apart); an
 *   A -> B -> C day is handled (the scan restarts at each change found).
 *   test_tz cross-checks the table against localtime_r at random instants.
 * - Offsets are not always whole minutes (LMT of Buenos Aires was -4:16:48):
 *   local time is computed in seconds, never in minutes.
 * - Floor division for instants before 1970 (local_day and weekday).
 */
#include "shm/tz.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(time_t) == 8, "64-bit time_t required");

#define TZ_DAY          86400
#define TZ_SCAN_STEP    TZ_DAY
#define TZ_DEFAULT_DIR  "/usr/share/zoneinfo"

typedef struct tz_scan {
    tz_transition_t *out;     /* NULL: count only */
    uint32_t cap;             /* room in out[] */
    uint32_t count;           /* transitions found (may exceed cap) */
} tz_scan_t;

/* Days from 1970-01-01 to January 1st of year y (proleptic Gregorian). */
static int64_t tz_days_to_jan1(int64_t y)
{
    int64_t yy = y - 1;          /* January counts in the previous March-year */
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = 306;           /* March 1st to January 1st */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}

/* A zone name is a relative path of [A-Za-z0-9_+-] parts without "..". */
static int tz_name_valid(const char *name)
{
    size_t i, len = strlen(name);

    if (len == 0 || len >= TZ_NAMELEN || name[0] == '/' ||
        strstr(name, "..") != NULL)
        return 0;
    for (i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '+' || c == '-' ||
              c == '/'))
            return 0;
    }
    return 1;
}

/* Writes ":<dir>/<name>" into tzval if that file is a TZif file. */
static int tz_zone_value(const char *name, char *tzval, size_t cap)
{
    const char *dir = getenv("TZDIR");
    char magic[4];
    int fd, n;
    ssize_t got;

    if (!tz_name_valid(name))
        return TZ_ENOZONE;
    if (dir == NULL || dir[0] == '\0')
        dir = TZ_DEFAULT_DIR;
    n = snprintf(tzval, cap, ":%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return TZ_ENOZONE;
    fd = open(tzval + 1, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return TZ_ENOZONE;
    got = read(fd, magic, sizeof magic);     /* EISDIR for "America" */
    close(fd);
    if (got != (ssize_t)sizeof magic || memcmp(magic, "TZif", 4) != 0)
        return TZ_ENOZONE;
    return TZ_OK;
}

static int tz_sys_offset(int64_t utc, int32_t *off)
{
    time_t t = (time_t)utc;
    struct tm tm;

    if (localtime_r(&t, &tm) == NULL)
        return TZ_ESYS;
    *off = (int32_t)tm.tm_gmtoff;
    return TZ_OK;
}

static void tz_emit(tz_scan_t *sc, int64_t utc, int32_t off)
{
    if (sc->out != NULL && sc->count < sc->cap) {
        sc->out[sc->count].utc_from = utc;
        sc->out[sc->count].offset_sec = off;
        sc->out[sc->count].reserved = 0;
    }
    sc->count++;
}

/* First second in (lo, hi] whose offset differs from cur (off(hi) does). */
static int tz_bisect(int64_t lo, int64_t hi, int32_t cur, int64_t *first)
{
    int32_t o;
    int rc;

    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if ((rc = tz_sys_offset(mid, &o)) != TZ_OK)
            return rc;
        if (o == cur)
            lo = mid;
        else
            hi = mid;
    }
    *first = hi;
    return TZ_OK;
}

/* Records the offset at `from` and every change in (from, to). */
static int tz_scan_span(int64_t from, int64_t to, tz_scan_t *sc)
{
    int64_t t = from, last = to - 1, tn, x;
    int32_t cur, o;
    int rc;

    if ((rc = tz_sys_offset(from, &cur)) != TZ_OK)
        return rc;
    tz_emit(sc, from, cur);
    while (t < last) {
        tn = (last - t > TZ_SCAN_STEP) ? t + TZ_SCAN_STEP : last;
        if ((rc = tz_sys_offset(tn, &o)) != TZ_OK)
            return rc;
        if (o == cur) {
            t = tn;
            continue;
        }
        if ((rc = tz_bisect(t, tn, cur, &x)) != TZ_OK ||
            (rc = tz_sys_offset(x, &cur)) != TZ_OK)
            return rc;
        tz_emit(sc, x, cur);
        t = x;                   /* rescan from the change: A -> B -> C */
    }
    return TZ_OK;
}

static void tz_span(int from_year, int to_year, int64_t *from, int64_t *to)
{
    *from = tz_days_to_jan1(from_year) * TZ_DAY - TZ_DAY;
    *to = tz_days_to_jan1((int64_t)to_year + 1) * TZ_DAY + TZ_DAY;
}

/* Points TZ at the zone, scans, and restores TZ whatever happened. */
static int tz_scan_zone(const char *name, int from_year, int to_year,
                        tz_scan_t *sc)
{
    char tzval[PATH_MAX + 2];
    const char *old;
    char *saved = NULL;
    int64_t from, to;
    int rc;

    if (name == NULL || from_year < TZ_YEAR_MIN || to_year > TZ_YEAR_MAX ||
        from_year > to_year)
        return TZ_EINVAL;
    if ((rc = tz_zone_value(name, tzval, sizeof tzval)) != TZ_OK)
        return rc;
    old = getenv("TZ");
    if (old != NULL && (saved = strdup(old)) == NULL)
        return TZ_ESYS;
    if (setenv("TZ", tzval, 1) != 0) {
        free(saved);
        return TZ_ESYS;
    }
    tzset();
    tz_span(from_year, to_year, &from, &to);
    rc = tz_scan_span(from, to, sc);
    if (saved != NULL)
        setenv("TZ", saved, 1);  /* cannot fail: the variable exists */
    else
        unsetenv("TZ");
    tzset();
    free(saved);
    return rc;
}

int tz_build_size(const char *name, int from_year, int to_year, size_t *size)
{
    tz_scan_t sc = { NULL, 0, 0 };
    int rc;

    if (size == NULL)
        return TZ_EINVAL;
    rc = tz_scan_zone(name, from_year, to_year, &sc);
    if (rc != TZ_OK)
        return rc;
    *size = sizeof(tz_table_t) + (size_t)sc.count * sizeof(tz_transition_t);
    return TZ_OK;
}

int tz_build(const char *name, int from_year, int to_year, void *buf,
             size_t bufsize, size_t *used)
{
    tz_table_t *tab = buf;
    tz_scan_t sc;
    size_t room;
    int rc;

    if (buf == NULL || (uintptr_t)buf % _Alignof(tz_table_t) != 0)
        return TZ_EINVAL;
    if (bufsize < sizeof(tz_table_t))
        return TZ_ENOSPC;
    memset(tab, 0, sizeof *tab);
    sc.out = tab->trans;
    room = (bufsize - sizeof(tz_table_t)) / sizeof(tz_transition_t);
    sc.cap = room > UINT32_MAX ? UINT32_MAX : (uint32_t)room;
    sc.count = 0;
    rc = tz_scan_zone(name, from_year, to_year, &sc);
    if (rc != TZ_OK)
        return rc;
    if (sc.count > sc.cap)
        return TZ_ENOSPC;
    strcpy(tab->name, name);     /* length checked by tz_name_valid */
    tz_span(from_year, to_year, &tab->span_from, &tab->span_to);
    tab->from_year = from_year;
    tab->to_year = to_year;
    tab->count = sc.count;
    if (used != NULL)
        *used = tz_table_bytes(tab);
    return TZ_OK;
}

size_t tz_table_bytes(const tz_table_t *tab)
{
    return sizeof(tz_table_t) + (size_t)tab->count * sizeof(tz_transition_t);
}

/* Index of the last transition with utc_from <= utc (0 before the first). */
static uint32_t tz_find(const tz_table_t *tab, int64_t utc)
{
    uint32_t lo = 0, hi = tab->count;

    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (tab->trans[mid].utc_from <= utc)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int32_t tz_offset(const tz_table_t *tab, int64_t utc)
{
    if (tab == NULL || tab->count == 0)
        return 0;                /* not a built table: behave as UTC */
    return tab->trans[tz_find(tab, utc)].offset_sec;
}

int64_t tz_next_change(const tz_table_t *tab, int64_t utc)
{
    uint32_t i;

    if (tab == NULL || tab->count == 0)
        return INT64_MAX;
    i = tz_find(tab, utc);       /* 0 also before the span: same offset */
    return i + 1 < tab->count ? tab->trans[i + 1].utc_from : INT64_MAX;
}

int tz_covers(const tz_table_t *tab, int64_t utc)
{
    return tab == NULL || (utc >= tab->span_from && utc < tab->span_to);
}

int tz_local(const tz_table_t *tab, int64_t utc, tz_local_t *out)
{
    int32_t off = tz_offset(tab, utc);
    int64_t local, day, sod;

    if (__builtin_add_overflow(utc, (int64_t)off, &local))
        return TZ_ERANGE;
    day = local / TZ_DAY;
    sod = local % TZ_DAY;
    if (sod < 0) {               /* floor, not truncation, before 1970 */
        sod += TZ_DAY;
        day--;
    }
    out->local_day = day;
    out->offset_sec = off;
    out->sec_of_day = (uint32_t)sod;
    out->min_of_day = (uint16_t)(sod / 60);
    out->wday = (uint8_t)(((day % 7) + 7 + 4) % 7);   /* 1970-01-01: Thu */
    out->reserved = 0;
    return TZ_OK;
}

const char *tz_strerror(int err)
{
    switch (err) {
    case TZ_OK:      return "success";
    case TZ_EINVAL:  return "invalid argument";
    case TZ_ENOZONE: return "unknown time zone";
    case TZ_ENOSPC:  return "buffer too small for the time zone table";
    case TZ_ESYS:    return "system error while reading the time zone";
    case TZ_ERANGE:  return "instant out of range";
    default:         return "unknown time zone error";
    }
}
