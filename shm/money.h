/*
 * money.h -- the one money type of ApoloBilling.
 *
 * An amount is a signed 64-bit count of micro-units: 1 unit of the account's
 * currency = 1,000,000 micro-units, so 0.0125 is 12500. No floating point
 * touches money anywhere in the product; SQL stores the same integer (BIGINT).
 * The range is +-9,223,372,036,854.775807 units.
 *
 * Every function that can overflow or meet bad input returns an int status:
 * MONEY_OK (0), MONEY_EINVAL (malformed text, NULL argument, unknown
 * rounding mode, decimals outside 0..6), MONEY_ERANGE (does not fit, or more
 * fractional digits than the scale keeps). On error *out is left untouched.
 * All functions are pure and thread/process safe (no state, no locale).
 *
 * Rounding is always explicit (money_round_t): UP and DOWN are toward +inf
 * and -inf (ceiling and floor), HALF_UP rounds ties away from zero. Costs
 * are non-negative, where UP means "the carrier never undercharges".
 */
#ifndef APOLO_MONEY_H
#define APOLO_MONEY_H

#include <stddef.h>
#include <stdint.h>

typedef int64_t money_t;

#define MONEY_SCALE    1000000LL   /* micro-units per unit */
#define MONEY_DECIMALS 6
#define MONEY_MAX      INT64_MAX
#define MONEY_MIN      INT64_MIN
/* Longest text money_format() writes, with the sign and the NUL. */
#define MONEY_STRLEN   32

enum { MONEY_OK = 0, MONEY_EINVAL = -1, MONEY_ERANGE = -2 };

typedef enum {
    MONEY_ROUND_UP = 0,      /* ceiling: the default for costs */
    MONEY_ROUND_DOWN,        /* floor */
    MONEY_ROUND_HALF_UP      /* nearest, ties away from zero */
} money_round_t;

/*
 * Parses a decimal string of exactly len bytes: optional sign ('-' or '+'),
 * digits, optional '.' and up to 6 fractional digits (more are accepted
 * only when the extra ones are zeros). No exponent, no spaces, no thousands
 * separators. "12", "-0.5", "0.0125", ".5" and "5." are valid; "", "-",
 * ".", "1e3", "1,5", "0.0000001" are not (the last is MONEY_ERANGE).
 * Syntax is checked before range: "99999999999999x" is MONEY_EINVAL.
 * The full range is accepted, "-9223372036854.775808" included.
 */
int money_parse(const char *s, size_t len, money_t *out);

/* Writes the canonical text, always 6 decimals ("-12.500000"), into buf
 * (at least MONEY_STRLEN bytes). Returns the length written. */
size_t money_format(money_t m, char *buf);

/* Writes m rounded to `decimals` (0..6) with `mode`, e.g. "12.50" for
 * (12500000, 2) and "13" for (12500000, 0, UP), into buf (at least
 * MONEY_STRLEN bytes). Returns the length, MONEY_ERANGE if rounding
 * overflows, MONEY_EINVAL for bad decimals or mode (buf untouched). */
int money_format_dec(money_t m, int decimals, money_round_t mode, char *buf);

int money_add(money_t a, money_t b, money_t *out);
int money_sub(money_t a, money_t b, money_t *out);

/* a * b / c rounded with mode; c > 0. The product is exact (128 bits) and
 * rounded once; MONEY_ERANGE when the result does not fit or c <= 0,
 * MONEY_EINVAL for an unknown mode. This is the one primitive behind "rate
 * per minute * seconds / 60". */
int money_muldiv(int64_t a, int64_t b, int64_t c, money_round_t mode,
                 money_t *out);

/* m rounded to `decimals` (0..6) fractional digits, with mode; the result
 * is still in micro-units (12.345678 to 2 decimals UP is 12350000).
 * MONEY_ERANGE when the rounded value does not fit (INT64_MAX rounded UP). */
int money_round(money_t m, int decimals, money_round_t mode, money_t *out);

/* Parses "up", "down", "half_up" (the SQL spelling: exact, lower case,
 * NUL-terminated); anything else is MONEY_EINVAL. */
int money_round_parse(const char *s, money_round_t *out);

#endif
