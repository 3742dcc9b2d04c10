/*
 * fuzz.h -- what the libFuzzer targets of tests/fuzz/ share: the entry
 * point's prototype, an invariant check that crashes (so that libFuzzer
 * keeps the input), a deterministic generator of split points and small
 * reference checks written independently of the code under test.
 *
 * Header-only (static inline): every fuzz_<name>.c is one program.
 */
#ifndef APOLO_FUZZ_H
#define APOLO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant that must hold: otherwise say which and abort(), which
 * libFuzzer reports as a crash and saves the input of. */
#define FUZZ_CHECK(cond, ...)                                                 \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "\nINVARIANT BROKEN %s:%d: %s\n  ", __FILE__,     \
                    __LINE__, #cond);                                         \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
            abort();                                                          \
        }                                                                     \
    } while (0)

/* FNV-1a of the input: seeds the split points, so that one input always
 * splits the same way (a saved crash replays) while mutations vary it. */
static inline uint64_t fuzz_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

/* xorshift64*: the next pseudo-random number of *s (s != 0). */
static inline uint64_t fuzz_rand(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* A chunk size in 1..max for splitting a stream: mostly small (1..16),
 * sometimes anything up to max. */
static inline size_t fuzz_chunk(uint64_t *s, size_t max)
{
    uint64_t r = fuzz_rand(s);
    size_t n = (r & 3) ? 1 + (size_t)(r >> 8) % 16 : 1 + (size_t)(r >> 8) % max;
    return n < max ? n : max;
}

/* A malloc'd copy of p[0..n) in a block of exactly n (+ extra) bytes, so
 * that AddressSanitizer sees any read past the end. */
static inline char *fuzz_dup(const void *p, size_t n, size_t extra)
{
    char *d = malloc(n + extra + (n + extra == 0));
    if (d == NULL)
        abort();
    if (n > 0)
        memcpy(d, p, n);
    return d;
}

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF), written here
 * from RFC 3629's table, independently of the parsers' own checks. */
static inline int fuzz_utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
        } else if (c == 0xe0) {
            k = 2; lo = 0xa0;
        } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
            k = 2;
        } else if (c == 0xed) {
            k = 2; hi = 0x9f;
        } else if (c == 0xf0) {
            k = 3; lo = 0x90;
        } else if (c >= 0xf1 && c <= 0xf3) {
            k = 3;
        } else if (c == 0xf4) {
            k = 3; hi = 0x8f;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t j = 2; j <= k; j++)
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
        i += k + 1;
    }
    return 1;
}

#endif
