/*
 * money.c -- fixed-point money: int64 micro-units, explicit rounding.
 *
 * Design: an amount is a plain int64_t count of micro-units; every operation
 * that can leave that range is checked and reports MONEY_ERANGE instead of
 * wrapping. Products are formed in 128 bits (a * b of two int64 always fits:
 * |a * b| <= 2^126), then divided once with the caller's rounding mode, so
 * "rate * seconds / 60" is exact before its single rounding.
 *
 * NOTES (traps):
 * - C division truncates toward zero. Floor, ceiling and half-up are derived
 *   from the truncated quotient and the sign of the remainder; a negative
 *   remainder means the exact quotient lies below the truncated one.
 * - |INT64_MIN| does not fit in int64_t: parsing accumulates the magnitude in
 *   uint64_t and formatting negates into uint64_t.
 * - Parsing accepts extra fractional digits only when they are zeros, so
 *   "0.1250000" is 125000 but "0.0000001" is an error, never silently lost.
 */
#include "shm/money.h"

#include <string.h>

/* 10^k for k = 0..6: the unit of a rounding to 6 - k decimals. */
static const int64_t money_pow10[MONEY_DECIMALS + 1] = {
    1, 10, 100, 1000, 10000, 100000, 1000000
};

static int money_mode_valid(money_round_t mode)
{
    return mode == MONEY_ROUND_UP || mode == MONEY_ROUND_DOWN ||
           mode == MONEY_ROUND_HALF_UP;
}

/*
 * num / den rounded with mode, den > 0. The quotient of two 128-bit values
 * with den <= 2^63 cannot overflow __int128, only the final int64 range.
 */
static int money_div_round(__int128 num, __int128 den, money_round_t mode,
                           money_t *out)
{
    __int128 q = num / den;
    __int128 r = num % den;              /* same sign as num, |r| < den */

    switch (mode) {
    case MONEY_ROUND_UP:
        if (r > 0)
            q++;
        break;
    case MONEY_ROUND_DOWN:
        if (r < 0)
            q--;
        break;
    case MONEY_ROUND_HALF_UP: {
        __int128 twice = (r < 0 ? -r : r) * 2;   /* < 2^65: fits */
        if (twice >= den)
            q += (r < 0) ? -1 : 1;
        break;
    }
    default:
        return MONEY_EINVAL;
    }
    if (q > (__int128)INT64_MAX || q < (__int128)INT64_MIN)
        return MONEY_ERANGE;
    *out = (money_t)q;
    return MONEY_OK;
}

/* Appends digits of v (at least `width` of them, zero-padded) at p. */
static char *money_put_uint(char *p, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n < width)
        tmp[n++] = '0';
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

/*
 * Scans digits into *mag (decimal), setting *ovf instead of stopping when
 * the value no longer fits, so that the caller still sees the whole token
 * and reports bad syntax before range.
 */
static const char *money_scan_int(const char *p, const char *end,
                                  uint64_t *mag, int *ndigits, int *ovf)
{
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (*mag > (UINT64_MAX - d) / 10)
            *ovf = 1;
        else
            *mag = *mag * 10 + d;
        (*ndigits)++;
    }
    return p;
}

/* Scans fractional digits: the first 6 into *frac (scaled to 6 places),
 * any further non-zero digit sets *ovf (finer than a micro-unit). */
static const char *money_scan_frac(const char *p, const char *end,
                                   uint64_t *frac, int *ndigits, int *ovf)
{
    int n = 0;

    for (; p < end && *p >= '0' && *p <= '9'; p++, n++) {
        if (n < MONEY_DECIMALS)
            *frac = *frac * 10 + (uint64_t)(*p - '0');
        else if (*p != '0')
            *ovf = 1;
    }
    *ndigits += n;
    for (; n < MONEY_DECIMALS; n++)
        *frac *= 10;
    return p;
}

int money_parse(const char *s, size_t len, money_t *out)
{
    if (s == NULL)
        return MONEY_EINVAL;           /* s + 0 would be undefined too */
    const char *p = s, *end = s + len;
    uint64_t units = 0, frac = 0, limit = (uint64_t)INT64_MAX;
    int digits = 0, neg = 0, ovf = 0;

    if (s == NULL || out == NULL)
        return MONEY_EINVAL;
    if (p < end && (*p == '-' || *p == '+')) {
        neg = (*p == '-');
        p++;
    }
    p = money_scan_int(p, end, &units, &digits, &ovf);
    if (p < end && *p == '.')
        p = money_scan_frac(p + 1, end, &frac, &digits, &ovf);
    if (p != end || digits == 0)
        return MONEY_EINVAL;             /* junk, or no digit at all */
    if (ovf || units > (UINT64_MAX - frac) / (uint64_t)MONEY_SCALE)
        return MONEY_ERANGE;
    units = units * (uint64_t)MONEY_SCALE + frac;
    if (neg)
        limit += 1;                      /* |INT64_MIN| */
    if (units > limit)
        return MONEY_ERANGE;
    *out = neg ? (money_t)(0 - units) : (money_t)units;
    return MONEY_OK;
}

size_t money_format(money_t m, char *buf)
{
    uint64_t mag = m < 0 ? 0 - (uint64_t)m : (uint64_t)m;
    char *p = buf;

    if (m < 0)
        *p++ = '-';
    p = money_put_uint(p, mag / MONEY_SCALE, 1);
    *p++ = '.';
    p = money_put_uint(p, mag % MONEY_SCALE, MONEY_DECIMALS);
    *p = '\0';
    return (size_t)(p - buf);
}

int money_format_dec(money_t m, int decimals, money_round_t mode, char *buf)
{
    money_t r;
    uint64_t mag, unit;
    char *p = buf;
    int rc;

    rc = money_round(m, decimals, mode, &r);
    if (rc != MONEY_OK)
        return rc;
    unit = (uint64_t)money_pow10[MONEY_DECIMALS - decimals];
    mag = r < 0 ? 0 - (uint64_t)r : (uint64_t)r;
    if (r < 0)
        *p++ = '-';
    p = money_put_uint(p, mag / MONEY_SCALE, 1);
    if (decimals > 0) {
        *p++ = '.';
        p = money_put_uint(p, (mag % MONEY_SCALE) / unit, decimals);
    }
    *p = '\0';
    return (int)(p - buf);
}

int money_add(money_t a, money_t b, money_t *out)
{
    money_t r;

    if (__builtin_add_overflow(a, b, &r))
        return MONEY_ERANGE;
    *out = r;
    return MONEY_OK;
}

int money_sub(money_t a, money_t b, money_t *out)
{
    money_t r;

    if (__builtin_sub_overflow(a, b, &r))
        return MONEY_ERANGE;
    *out = r;
    return MONEY_OK;
}

int money_muldiv(int64_t a, int64_t b, int64_t c, money_round_t mode,
                 money_t *out)
{
    if (!money_mode_valid(mode))
        return MONEY_EINVAL;
    if (c <= 0)
        return MONEY_ERANGE;
    return money_div_round((__int128)a * b, c, mode, out);
}

int money_round(money_t m, int decimals, money_round_t mode, money_t *out)
{
    money_t q, r;
    int64_t unit;

    if (decimals < 0 || decimals > MONEY_DECIMALS || !money_mode_valid(mode))
        return MONEY_EINVAL;
    unit = money_pow10[MONEY_DECIMALS - decimals];
    if (money_div_round(m, unit, mode, &q) != MONEY_OK)
        return MONEY_ERANGE;
    if (__builtin_mul_overflow(q, unit, &r))
        return MONEY_ERANGE;             /* e.g. INT64_MAX rounded up */
    *out = r;
    return MONEY_OK;
}

int money_round_parse(const char *s, money_round_t *out)
{
    if (s == NULL || out == NULL)
        return MONEY_EINVAL;
    if (strcmp(s, "up") == 0)
        *out = MONEY_ROUND_UP;
    else if (strcmp(s, "down") == 0)
        *out = MONEY_ROUND_DOWN;
    else if (strcmp(s, "half_up") == 0)
        *out = MONEY_ROUND_HALF_UP;
    else
        return MONEY_EINVAL;
    return MONEY_OK;
}
