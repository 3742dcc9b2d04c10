/*
 * lpm_gen.h -- the synthetic decks and dialled numbers every LPM figure uses,
 * so that the in-memory trie and PostgreSQL are measured on the same data.
 *
 * Deterministic (xorshift64*, fixed seeds): two programs that ask for the
 * deck of n prefixes get the same prefixes in the same order.
 *
 *   deck:    n distinct prefixes, lengths uniform in 2..10 digits
 *   random:  numbers of 11..15 uniformly random digits (the figure:
 *            most match only a short prefix, so lookups are shallow)
 *   hit:     a deck prefix extended with random digits to 11..15 digits
 *            (every lookup matches, and goes deep)
 */
#ifndef APOLO_BENCH_LPM_GEN_H
#define APOLO_BENCH_LPM_GEN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LPM_GEN_MAXLEN 16            /* 15 digits and the NUL */

typedef struct { uint64_t s; } lpm_rng_t;

static inline uint64_t lpm_rng_next(lpm_rng_t *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

static inline uint32_t lpm_rng_below(lpm_rng_t *r, uint32_t n)
{
    return (uint32_t)((lpm_rng_next(r) >> 32) * n >> 32);
}

static inline void lpm_rng_digits(lpm_rng_t *r, char *dst, int len)
{
    for (int i = 0; i < len; i++)
        dst[i] = (char)('0' + lpm_rng_below(r, 10));
    dst[len] = '\0';
}

/* Open-addressing set of prefixes, only to keep the deck distinct. */
static inline uint64_t lpm_gen_key(const char *p)
{
    uint64_t k = 1;                      /* leading 1 keeps "01" != "1" */
    for (; *p; p++)
        k = k * 10 + (uint64_t)(*p - '0');
    return k;
}

/* Fills deck[n][LPM_GEN_MAXLEN]; returns 0, or -1 when out of memory. */
static inline int lpm_gen_deck(char (*deck)[LPM_GEN_MAXLEN], size_t n)
{
    size_t cap = 1;
    while (cap < n * 2)
        cap <<= 1;
    uint64_t *set = calloc(cap, sizeof *set);
    if (set == NULL)
        return -1;
    lpm_rng_t r = { 0x9E3779B97F4A7C15ULL };
    for (size_t i = 0; i < n;) {
        lpm_rng_digits(&r, deck[i], 2 + (int)lpm_rng_below(&r, 9));
        uint64_t k = lpm_gen_key(deck[i]);
        size_t h = (size_t)(k * 0x9E3779B97F4A7C15ULL) & (cap - 1);
        while (set[h] != 0 && set[h] != k)
            h = (h + 1) & (cap - 1);
        if (set[h] == k)
            continue;                    /* duplicate: draw again */
        set[h] = k;
        i++;
    }
    free(set);
    return 0;
}

/* Fills nums[n][LPM_GEN_MAXLEN] with random 11..15 digit numbers. */
static inline void lpm_gen_numbers(char (*nums)[LPM_GEN_MAXLEN], size_t n,
                                   uint64_t seed)
{
    lpm_rng_t r = { seed | 1 };
    for (size_t i = 0; i < n; i++)
        lpm_rng_digits(&r, nums[i], 11 + (int)lpm_rng_below(&r, 5));
}

/* Fills nums with deck prefixes extended to 11..15 digits. */
static inline void lpm_gen_hits(char (*nums)[LPM_GEN_MAXLEN], size_t n,
                                char (*deck)[LPM_GEN_MAXLEN], size_t ndeck,
                                uint64_t seed)
{
    lpm_rng_t r = { seed | 1 };
    for (size_t i = 0; i < n; i++) {
        const char *p = deck[lpm_rng_below(&r, (uint32_t)ndeck)];
        int plen = (int)strlen(p), len = 11 + (int)lpm_rng_below(&r, 5);
        memcpy(nums[i], p, (size_t)plen);
        lpm_rng_digits(&r, nums[i] + plen, len - plen);
    }
}

#endif
