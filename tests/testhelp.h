/*
 * testhelp.h -- the smallest test harness that does the job.
 *
 * A test program is a main() calling test functions; each check prints the
 * failing expression with its file and line and counts the failure. The
 * program's exit status is the verdict (tests/run.sh counts programs).
 *
 *   TEST_CHECK(cond)            boolean
 *   TEST_EQ_I64(got, want)      integers, both printed on failure
 *   TEST_EQ_STR(got, want)      strings
 *   TEST_REPORT()               prints "name: N checks, M failed", returns
 *                               the exit status
 */
#ifndef APOLO_TESTHELP_H
#define APOLO_TESTHELP_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static long test_checks, test_failures;

#define TEST_FAIL_AT(...)                                                     \
    do {                                                                      \
        test_failures++;                                                      \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                       \
        fprintf(stderr, __VA_ARGS__);                                         \
        fputc('\n', stderr);                                                  \
    } while (0)

#define TEST_CHECK(cond)                                                      \
    do {                                                                      \
        test_checks++;                                                        \
        if (!(cond))                                                          \
            TEST_FAIL_AT("check failed: %s", #cond);                          \
    } while (0)

#define TEST_EQ_I64(got, want)                                                \
    do {                                                                      \
        long long g_ = (long long)(got), w_ = (long long)(want);              \
        test_checks++;                                                        \
        if (g_ != w_)                                                         \
            TEST_FAIL_AT("%s == %lld, expected %s == %lld", #got, g_, #want,  \
                         w_);                                                 \
    } while (0)

#define TEST_EQ_STR(got, want)                                                \
    do {                                                                      \
        const char *g_ = (got), *w_ = (want);                                 \
        test_checks++;                                                        \
        if (g_ == NULL || strcmp(g_, w_) != 0)                                \
            TEST_FAIL_AT("%s == \"%s\", expected \"%s\"", #got,               \
                         g_ ? g_ : "(null)", w_);                             \
    } while (0)

#define TEST_REPORT()                                                         \
    (fprintf(stderr, "%s: %ld checks, %ld failed\n", __FILE__, test_checks,   \
             test_failures),                                                  \
     test_failures ? 1 : 0)

#endif
