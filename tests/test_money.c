/*
 * test_money.c -- money.h: parsing, printing, checked arithmetic, rounding.
 *
 * Expected values are computed by hand (see the comments); muldiv is also
 * compared, over a grid of small values, with floor/ceiling/half-up written
 * independently of money.c.
 */
#include "shm/money.h"
#include "tests/testhelp.h"

#include <stdlib.h>
#include <time.h>

static int parse(const char *s, money_t *out)
{
    return money_parse(s, strlen(s), out);
}

static money_t parsed(const char *s)
{
    money_t m = 777;
    int rc = parse(s, &m);

    if (rc != MONEY_OK)
        TEST_FAIL_AT("money_parse(\"%s\") failed: %d", s, rc);
    return m;
}

static void test_parse_valid(void)
{
    TEST_EQ_I64(parsed("12"), 12000000);
    TEST_EQ_I64(parsed("-0.5"), -500000);
    TEST_EQ_I64(parsed("0.0125"), 12500);
    TEST_EQ_I64(parsed(".5"), 500000);
    TEST_EQ_I64(parsed("5."), 5000000);
    TEST_EQ_I64(parsed("+3"), 3000000);
    TEST_EQ_I64(parsed("0"), 0);
    TEST_EQ_I64(parsed("-0"), 0);
    TEST_EQ_I64(parsed("0.000001"), 1);
    TEST_EQ_I64(parsed("0.1250000"), 125000);      /* extra zeros ok */
    TEST_EQ_I64(parsed("000000000000000000000001.5"), 1500000);
    TEST_EQ_I64(parsed("9223372036854.775807"), INT64_MAX);
    TEST_EQ_I64(parsed("-9223372036854.775808"), INT64_MIN);
    /* only len bytes are read */
    {
        money_t m = 0;
        TEST_EQ_I64(money_parse("12.5xyz", 4, &m), MONEY_OK);
        TEST_EQ_I64(m, 12500000);
    }
}

static void test_parse_rejected(void)
{
    static const char *const einval[] = {
        "", "-", "+", ".", "-.", "1e3", "1,5", " 1", "1 ", " ", "1.2.3",
        "--1", "0x10", "1.5a", "١", "1\n", "99999999999999999999999x",
        "0.0000001x",
    };
    static const char *const erange[] = {
        "0.0000001", "1.0000005", "9223372036854.775808",
        "-9223372036854.775809", "99999999999999999999999",
        "18446744073709.551616",
    };
    size_t i;

    for (i = 0; i < sizeof einval / sizeof einval[0]; i++) {
        money_t m = 777;
        int rc = parse(einval[i], &m);
        test_checks++;
        if (rc != MONEY_EINVAL)
            TEST_FAIL_AT("\"%s\": rc %d, expected EINVAL", einval[i], rc);
        TEST_EQ_I64(m, 777);                       /* untouched */
    }
    for (i = 0; i < sizeof erange / sizeof erange[0]; i++) {
        money_t m = 777;
        int rc = parse(erange[i], &m);
        test_checks++;
        if (rc != MONEY_ERANGE)
            TEST_FAIL_AT("\"%s\": rc %d, expected ERANGE", erange[i], rc);
        TEST_EQ_I64(m, 777);
    }
    {
        money_t m = 777;
        TEST_EQ_I64(money_parse("1\0" "2", 3, &m), MONEY_EINVAL);
        TEST_EQ_I64(money_parse(NULL, 0, &m), MONEY_EINVAL);
    }
}

static const char *fmt(money_t m, char *buf)
{
    money_format(m, buf);
    return buf;
}

static void test_format(void)
{
    char b[MONEY_STRLEN];

    TEST_EQ_STR(fmt(0, b), "0.000000");
    TEST_EQ_STR(fmt(1, b), "0.000001");
    TEST_EQ_STR(fmt(-1, b), "-0.000001");
    TEST_EQ_STR(fmt(-12500000, b), "-12.500000");
    TEST_EQ_STR(fmt(12500, b), "0.012500");
    TEST_EQ_STR(fmt(INT64_MAX, b), "9223372036854.775807");
    TEST_EQ_STR(fmt(INT64_MIN, b), "-9223372036854.775808");
    TEST_EQ_I64(money_format(INT64_MIN, b), 21);
}

static void test_round_trip(void)
{
    const char *env = getenv("APOLO_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 10)
                        : (unsigned)time(NULL);
    char b[MONEY_STRLEN];
    int i, bad = 0;

    fprintf(stderr, "test_money: round trip seed %u (APOLO_SEED to replay)\n",
            seed);
    srand(seed);
    for (i = 0; i < 100000; i++) {
        /* magnitudes from 1 micro-unit to the whole range */
        uint64_t r = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^
                     (uint64_t)rand();
        money_t m = (money_t)(r >> (rand() % 64)), back = 0;
        size_t n;
        if (rand() & 1)
            m = -m;
        n = money_format(m, b);
        if (money_parse(b, n, &back) != MONEY_OK || back != m) {
            if (bad++ < 5)
                TEST_FAIL_AT("round trip of %lld via \"%s\"", (long long)m,
                             b);
        }
    }
    TEST_EQ_I64(bad, 0);
}

static const char *fmtd(money_t m, int dec, money_round_t mode, char *buf)
{
    int n = money_format_dec(m, dec, mode, buf);
    return n < 0 ? "(error)" : buf;
}

static void test_format_dec(void)
{
    char b[MONEY_STRLEN];

    TEST_EQ_STR(fmtd(12500000, 2, MONEY_ROUND_UP, b), "12.50");
    TEST_EQ_STR(fmtd(12345678, 2, MONEY_ROUND_UP, b), "12.35");
    TEST_EQ_STR(fmtd(12345678, 2, MONEY_ROUND_DOWN, b), "12.34");
    TEST_EQ_STR(fmtd(-12345678, 2, MONEY_ROUND_UP, b), "-12.34");
    TEST_EQ_STR(fmtd(-12345678, 2, MONEY_ROUND_DOWN, b), "-12.35");
    TEST_EQ_STR(fmtd(12345000, 2, MONEY_ROUND_HALF_UP, b), "12.35");
    TEST_EQ_STR(fmtd(-12345000, 2, MONEY_ROUND_HALF_UP, b), "-12.35");
    TEST_EQ_STR(fmtd(12344999, 2, MONEY_ROUND_HALF_UP, b), "12.34");
    TEST_EQ_STR(fmtd(12500000, 0, MONEY_ROUND_HALF_UP, b), "13");
    TEST_EQ_STR(fmtd(-500000, 0, MONEY_ROUND_HALF_UP, b), "-1");
    TEST_EQ_STR(fmtd(-400000, 0, MONEY_ROUND_UP, b), "0");   /* not "-0" */
    TEST_EQ_STR(fmtd(1, 6, MONEY_ROUND_UP, b), "0.000001");
    TEST_EQ_STR(fmtd(1, 5, MONEY_ROUND_UP, b), "0.00001");
    TEST_EQ_STR(fmtd(50000, 1, MONEY_ROUND_HALF_UP, b), "0.1");
    TEST_EQ_I64(money_format_dec(INT64_MAX, 0, MONEY_ROUND_UP, b),
                MONEY_ERANGE);
    TEST_EQ_I64(money_format_dec(1, 7, MONEY_ROUND_UP, b), MONEY_EINVAL);
    TEST_EQ_I64(money_format_dec(1, -1, MONEY_ROUND_UP, b), MONEY_EINVAL);
}

static void test_add_sub(void)
{
    money_t r = 777;

    TEST_EQ_I64(money_add(INT64_MAX, 1, &r), MONEY_ERANGE);
    TEST_EQ_I64(money_add(INT64_MIN, -1, &r), MONEY_ERANGE);
    TEST_EQ_I64(money_sub(INT64_MIN, 1, &r), MONEY_ERANGE);
    TEST_EQ_I64(money_sub(0, INT64_MIN, &r), MONEY_ERANGE);
    TEST_EQ_I64(money_sub(-1, INT64_MAX, &r), MONEY_OK);
    TEST_EQ_I64(r, INT64_MIN);
    TEST_EQ_I64(money_add(INT64_MAX, INT64_MIN, &r), MONEY_OK);
    TEST_EQ_I64(r, -1);
    TEST_EQ_I64(money_add(12500, 209, &r), MONEY_OK);
    TEST_EQ_I64(r, 12709);
    r = 777;
    TEST_EQ_I64(money_add(INT64_MAX, INT64_MAX, &r), MONEY_ERANGE);
    TEST_EQ_I64(r, 777);
}

static money_t md(int64_t a, int64_t b, int64_t c, money_round_t mode)
{
    money_t r = 777;
    int rc = money_muldiv(a, b, c, mode, &r);

    return rc == MONEY_OK ? r : 1000000000 + rc;    /* visible error */
}

static void test_muldiv_cases(void)
{
    money_t r = 777;

    /* 0.0125/min for 1 s: 12500 / 60 = 208.33 */
    TEST_EQ_I64(md(12500, 1, 60, MONEY_ROUND_UP), 209);
    TEST_EQ_I64(md(12500, 1, 60, MONEY_ROUND_DOWN), 208);
    TEST_EQ_I64(md(12500, 1, 60, MONEY_ROUND_HALF_UP), 208);
    TEST_EQ_I64(md(-12500, 1, 60, MONEY_ROUND_UP), -208);
    TEST_EQ_I64(md(-12500, 1, 60, MONEY_ROUND_DOWN), -209);
    TEST_EQ_I64(md(-12500, 1, 60, MONEY_ROUND_HALF_UP), -208);
    /* ties: 0.5 and -0.5 go away from zero with HALF_UP */
    TEST_EQ_I64(md(30, 1, 60, MONEY_ROUND_HALF_UP), 1);
    TEST_EQ_I64(md(-30, 1, 60, MONEY_ROUND_HALF_UP), -1);
    TEST_EQ_I64(md(29, 1, 60, MONEY_ROUND_HALF_UP), 0);
    TEST_EQ_I64(md(-29, 1, 60, MONEY_ROUND_HALF_UP), 0);
    TEST_EQ_I64(md(30, 1, 60, MONEY_ROUND_UP), 1);
    TEST_EQ_I64(md(30, 1, 60, MONEY_ROUND_DOWN), 0);
    TEST_EQ_I64(md(-30, 1, 60, MONEY_ROUND_UP), 0);
    TEST_EQ_I64(md(-30, 1, 60, MONEY_ROUND_DOWN), -1);
    TEST_EQ_I64(md(120, 1, 60, MONEY_ROUND_UP), 2);          /* exact */
    /* the product is exact in 128 bits */
    TEST_EQ_I64(md(INT64_MAX, INT64_MAX, INT64_MAX, MONEY_ROUND_UP),
                INT64_MAX);
    TEST_EQ_I64(md(INT64_MIN, 1, 1, MONEY_ROUND_DOWN), INT64_MIN);
    TEST_EQ_I64(md(INT64_MIN, 3, 3, MONEY_ROUND_HALF_UP), INT64_MIN);
    /* overflow of the quotient */
    TEST_EQ_I64(money_muldiv(INT64_MAX, 2, 1, MONEY_ROUND_UP, &r),
                MONEY_ERANGE);
    TEST_EQ_I64(money_muldiv(INT64_MIN, -1, 1, MONEY_ROUND_UP, &r),
                MONEY_ERANGE);
    TEST_EQ_I64(money_muldiv(INT64_MIN, INT64_MIN, INT64_MAX,
                             MONEY_ROUND_DOWN, &r), MONEY_ERANGE);
    /* (2^64 - 1) / 2 = INT64_MAX + 0.5: only DOWN fits the range */
    TEST_EQ_I64(md(6148914691236517205, 3, 2, MONEY_ROUND_DOWN), INT64_MAX);
    TEST_EQ_I64(money_muldiv(6148914691236517205, 3, 2, MONEY_ROUND_UP, &r),
                MONEY_ERANGE);
    TEST_EQ_I64(money_muldiv(6148914691236517205, 3, 2, MONEY_ROUND_HALF_UP,
                             &r), MONEY_ERANGE);
    TEST_EQ_I64(md(INT64_MAX, 2, 2, MONEY_ROUND_UP), INT64_MAX);
    /* bad divisor, bad mode; r untouched */
    r = 777;
    TEST_EQ_I64(money_muldiv(1, 1, 0, MONEY_ROUND_UP, &r), MONEY_ERANGE);
    TEST_EQ_I64(money_muldiv(1, 1, -5, MONEY_ROUND_UP, &r), MONEY_ERANGE);
    TEST_EQ_I64(money_muldiv(1, 1, 1, (money_round_t)7, &r), MONEY_EINVAL);
    TEST_EQ_I64(r, 777);
}

/* Reference roundings of a / c, c > 0, written from the definitions. */
static int64_t ref_floor(int64_t a, int64_t c)
{
    int64_t m = ((a % c) + c) % c;      /* mathematical modulo */
    return (a - m) / c;
}

static int64_t ref_ceil(int64_t a, int64_t c)
{
    return -ref_floor(-a, c);
}

static int64_t ref_half_up(int64_t a, int64_t c)
{
    return a >= 0 ? ref_floor(2 * a + c, 2 * c) : -ref_floor(-2 * a + c, 2 * c);
}

static void test_muldiv_grid(void)
{
    int64_t a, b, c;
    long bad = 0;

    for (a = -130; a <= 130; a++)
        for (b = -3; b <= 3; b++)
            for (c = 1; c <= 13; c++) {
                int64_t p = a * b;
                if (md(a, b, c, MONEY_ROUND_UP) != ref_ceil(p, c) ||
                    md(a, b, c, MONEY_ROUND_DOWN) != ref_floor(p, c) ||
                    md(a, b, c, MONEY_ROUND_HALF_UP) != ref_half_up(p, c)) {
                    if (bad++ < 5)
                        TEST_FAIL_AT("muldiv(%lld,%lld,%lld)",
                                     (long long)a, (long long)b,
                                     (long long)c);
                }
            }
    TEST_EQ_I64(bad, 0);
}

static money_t rnd(money_t m, int dec, money_round_t mode)
{
    money_t r = 777;
    int rc = money_round(m, dec, mode, &r);

    return rc == MONEY_OK ? r : 1000000000 + rc;
}

static void test_round(void)
{
    money_t r = 777;

    TEST_EQ_I64(rnd(12345678, 2, MONEY_ROUND_UP), 12350000);
    TEST_EQ_I64(rnd(12345678, 2, MONEY_ROUND_DOWN), 12340000);
    TEST_EQ_I64(rnd(-12345678, 2, MONEY_ROUND_UP), -12340000);
    TEST_EQ_I64(rnd(-12345678, 2, MONEY_ROUND_DOWN), -12350000);
    TEST_EQ_I64(rnd(12345000, 2, MONEY_ROUND_HALF_UP), 12350000);
    TEST_EQ_I64(rnd(-12345000, 2, MONEY_ROUND_HALF_UP), -12350000);
    TEST_EQ_I64(rnd(12344999, 2, MONEY_ROUND_HALF_UP), 12340000);
    TEST_EQ_I64(rnd(-2500000, 0, MONEY_ROUND_HALF_UP), -3000000);
    TEST_EQ_I64(rnd(209, 6, MONEY_ROUND_DOWN), 209);           /* no-op */
    TEST_EQ_I64(rnd(INT64_MAX, 6, MONEY_ROUND_UP), INT64_MAX);
    TEST_EQ_I64(rnd(INT64_MIN, 0, MONEY_ROUND_UP), -9223372036854000000);
    TEST_EQ_I64(money_round(INT64_MAX, 0, MONEY_ROUND_UP, &r), MONEY_ERANGE);
    TEST_EQ_I64(money_round(INT64_MIN, 0, MONEY_ROUND_DOWN, &r),
                MONEY_ERANGE);
    TEST_EQ_I64(money_round(1, 7, MONEY_ROUND_UP, &r), MONEY_EINVAL);
    TEST_EQ_I64(money_round(1, 2, (money_round_t)-1, &r), MONEY_EINVAL);
    TEST_EQ_I64(r, 777);
}

static void test_round_parse(void)
{
    money_round_t m = MONEY_ROUND_DOWN;

    TEST_EQ_I64(money_round_parse("up", &m), MONEY_OK);
    TEST_EQ_I64(m, MONEY_ROUND_UP);
    TEST_EQ_I64(money_round_parse("down", &m), MONEY_OK);
    TEST_EQ_I64(m, MONEY_ROUND_DOWN);
    TEST_EQ_I64(money_round_parse("half_up", &m), MONEY_OK);
    TEST_EQ_I64(m, MONEY_ROUND_HALF_UP);
    TEST_EQ_I64(money_round_parse("UP", &m), MONEY_EINVAL);
    TEST_EQ_I64(money_round_parse("", &m), MONEY_EINVAL);
    TEST_EQ_I64(money_round_parse("half_even", &m), MONEY_EINVAL);
    TEST_EQ_I64(money_round_parse(NULL, &m), MONEY_EINVAL);
    TEST_EQ_I64(m, MONEY_ROUND_HALF_UP);
}

int main(void)
{
    test_parse_valid();
    test_parse_rejected();
    test_format();
    test_round_trip();
    test_format_dec();
    test_add_sub();
    test_muldiv_cases();
    test_muldiv_grid();
    test_round();
    test_round_parse();
    return TEST_REPORT();
}
