/*
 * test_trie.c -- the LPM trie against a naive reference (scan every prefix,
 * the longest match wins), on random decks of 1 to 50,000 prefixes.
 *
 * Decks mix random prefixes of 1..20 digits with extensions of earlier
 * prefixes (so that long chains of nested prefixes exist), and some seeds
 * use only the digits 0..2 (dense sharing). Numbers are random, equal to a
 * prefix, cut shorter than a prefix, extended beyond one, or empty; some
 * carry a non-digit byte, where the number must be read as ending.
 */
#include "shm/trie.h"
#include "tests/testhelp.h"

#include <stdlib.h>
#include <string.h>

#define MAXNUM 32

typedef struct { uint64_t s; } rng_t;

static uint64_t rng_next(rng_t *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

static unsigned rng_below(rng_t *r, unsigned n)
{
    return (unsigned)((rng_next(r) >> 33) % n);
}

typedef struct {
    char    d[TRIE_MAX_PREFIX + 1];
    uint8_t len;
} prefix_t;

typedef struct {
    prefix_t *p;           /* p[v] carries value v */
    size_t    n;
    unsigned  alphabet;    /* digits drawn from '0'..'0'+alphabet-1 */
} deck_t;

static void rand_digits(rng_t *r, char *dst, size_t len, unsigned alphabet)
{
    for (size_t i = 0; i < len; i++)
        dst[i] = (char)('0' + rng_below(r, alphabet));
}

/* Adds n distinct prefixes to b and to the deck, values 0..n-1. */
static void make_deck(trie_builder_t *b, deck_t *dk, size_t n, rng_t *r)
{
    dk->p = calloc(n ? n : 1, sizeof *dk->p);
    dk->n = 0;
    while (dk->n < n) {
        prefix_t x;
        if (dk->n > 0 && rng_below(r, 2) == 0) {
            const prefix_t *base = &dk->p[rng_below(r, (unsigned)dk->n)];
            size_t add = 1 + rng_below(r, 3);
            if (base->len + add > TRIE_MAX_PREFIX)
                continue;
            memcpy(x.d, base->d, base->len);
            rand_digits(r, x.d + base->len, add, dk->alphabet);
            x.len = (uint8_t)(base->len + add);
        } else {
            x.len = (uint8_t)(1 + rng_below(r, TRIE_MAX_PREFIX));
            rand_digits(r, x.d, x.len, dk->alphabet);
        }
        int rc = trie_builder_add(b, x.d, x.len, (uint32_t)dk->n);
        if (rc == TRIE_EEXIST)
            continue;
        TEST_EQ_I64(rc, TRIE_OK);
        dk->p[dk->n++] = x;
    }
}

/* The reference: every prefix of the deck, longest match wins; the number
 * ends at its first non-digit. */
static uint32_t naive_lookup(const deck_t *dk, const char *num, size_t len,
                             uint8_t *match_len)
{
    for (size_t i = 0; i < len; i++)
        if (num[i] < '0' || num[i] > '9')
            len = i;
    uint32_t best = TRIE_NONE;
    uint8_t blen = 0;
    for (size_t v = 0; v < dk->n; v++) {
        const prefix_t *x = &dk->p[v];
        if (x->len <= len && x->len > blen && memcmp(x->d, num, x->len) == 0) {
            best = (uint32_t)v;
            blen = x->len;
        }
    }
    *match_len = blen;
    return best;
}

/* A number of one of the kinds in the file comment. */
static size_t make_digits(const deck_t *dk, rng_t *r, char *num)
{
    const prefix_t *x = dk->n ? &dk->p[rng_below(r, (unsigned)dk->n)] : NULL;
    size_t len;
    switch (x ? rng_below(r, 5) : 0) {
    case 0:                                       /* random, 0..32 digits */
        len = rng_below(r, MAXNUM + 1);
        rand_digits(r, num, len, rng_below(r, 2) ? 10 : dk->alphabet);
        return len;
    case 1:                                       /* equal to a prefix */
        memcpy(num, x->d, x->len);
        return x->len;
    case 2:                                       /* shorter than a prefix */
        len = rng_below(r, x->len);
        memcpy(num, x->d, len);
        return len;
    default:                                      /* a prefix, extended */
        memcpy(num, x->d, x->len);
        len = x->len + rng_below(r, MAXNUM - x->len + 1);
        rand_digits(r, num + x->len, len - x->len, dk->alphabet);
        return len;
    }
}

/* A number of one of the kinds in the file comment; one in eight gets a
 * byte that is not a digit (any of the other 246) somewhere. */
static size_t make_number(const deck_t *dk, rng_t *r, char *num)
{
    size_t len = make_digits(dk, r, num);
    if (len > 0 && rng_below(r, 8) == 0) {
        unsigned char c;
        do
            c = (unsigned char)rng_below(r, 256);
        while (c >= '0' && c <= '9');
        num[rng_below(r, (unsigned)len)] = (char)c;
    }
    return len;
}

static void *emit_image(const trie_builder_t *b)
{
    size_t size = trie_builder_image_size(b);
    void *img = aligned_alloc(TRIE_ALIGN, size);
    TEST_CHECK(img != NULL);
    TEST_EQ_I64(trie_builder_emit(b, img, size), TRIE_OK);
    return img;
}

/* Single and batched lookups of nnum numbers agree with the reference. */
static void check_lookups(const void *img, const deck_t *dk, rng_t *r,
                          size_t nnum)
{
    char (*nums)[MAXNUM] = malloc(nnum * sizeof *nums);
    const char **ptrs = calloc(nnum, sizeof *ptrs);
    uint8_t *lens = calloc(nnum, 1), *blens = calloc(nnum, 1);
    uint32_t *bvals = malloc(nnum * sizeof *bvals);
    long bad = 0, badbatch = 0;

    for (size_t i = 0; i < nnum; i++) {
        lens[i] = (uint8_t)make_number(dk, r, nums[i]);
        ptrs[i] = nums[i];
    }
    trie_lookup_batch(img, ptrs, lens, nnum, bvals, blens);
    for (size_t i = 0; i < nnum; i++) {
        uint8_t wl = 0xff, gl = 0xff;
        uint32_t want = naive_lookup(dk, nums[i], lens[i], &wl);
        uint32_t got = trie_lookup(img, nums[i], lens[i], &gl);
        if (got != want || gl != wl) {
            if (bad++ < 5)
                fprintf(stderr, "number %.*s: got %u/%u, want %u/%u\n",
                        (int)lens[i], nums[i], got, gl, want, wl);
        }
        if (bvals[i] != got || blens[i] != gl)
            badbatch++;
    }
    TEST_EQ_I64(bad, 0);
    TEST_EQ_I64(badbatch, 0);

    /* Odd batch sizes and no match_lens give the same values. */
    size_t part = nnum < 37 ? nnum : 37;
    memset(bvals, 0xee, nnum * sizeof *bvals);
    trie_lookup_batch(img, ptrs, lens, part, bvals, NULL);
    for (size_t i = 0; i < part; i++)
        TEST_EQ_I64(bvals[i], trie_lookup(img, ptrs[i], lens[i], NULL));
    TEST_EQ_I64(bvals[part], 0xeeeeeeee);          /* nothing beyond n */

    free(nums);
    free(ptrs);
    free(lens);
    free(blens);
    free(bvals);
}

/* parents() against its definition: the longest proper prefix in the deck
 * (every value of a small deck, about 2,000 of a large one: the reference
 * is quadratic). */
static void check_parents(const trie_builder_t *b, const deck_t *dk)
{
    uint32_t *par = malloc((dk->n + 1) * sizeof *par);
    size_t stride = dk->n / 2000 + 1;
    long bad = 0;
    TEST_EQ_I64(trie_builder_parents(b, par, dk->n + 1), TRIE_OK);
    for (size_t v = 0; v < dk->n; v += stride) {
        uint8_t ml;
        const prefix_t *x = &dk->p[v];
        uint32_t want = naive_lookup(dk, x->d, x->len - 1u, &ml);
        if (par[v] != want)
            bad++;
    }
    TEST_EQ_I64(bad, 0);
    TEST_EQ_I64(par[dk->n], TRIE_NONE);      /* a value nobody carries */
    if (dk->n > 0) {
        par[0] = 12345;
        TEST_EQ_I64(trie_builder_parents(b, par, dk->n - 1), TRIE_ERANGE);
        TEST_EQ_I64(par[0], 12345);          /* untouched on error */
    }
    free(par);
}

/* The image copied to another address, the original wiped and freed,
 * answers the same. */
static void check_copy(void *img, const deck_t *dk, uint64_t seed)
{
    size_t size = trie_image_size(img);
    void *copy = aligned_alloc(TRIE_ALIGN, size + TRIE_ALIGN);
    void *moved = (char *)copy + TRIE_ALIGN;   /* not where emit wrote */
    memcpy(moved, img, size);
    memset(img, 0xa5, size);
    free(img);
    TEST_EQ_I64(trie_image_check(moved, size), TRIE_OK);
    TEST_EQ_I64(trie_image_count(moved), dk->n);
    rng_t r = { seed };
    check_lookups(moved, dk, &r, 500);
    free(copy);
}

static void test_random_deck(size_t n, uint64_t seed, unsigned alphabet)
{
    rng_t r = { seed };
    deck_t dk = { .alphabet = alphabet };
    trie_builder_t *b = trie_builder_new();
    TEST_CHECK(b != NULL);
    make_deck(b, &dk, n, &r);
    TEST_EQ_I64(trie_builder_count(b), n);

    void *img = emit_image(b);
    TEST_EQ_I64(trie_image_check(img, trie_image_size(img)), TRIE_OK);
    check_lookups(img, &dk, &r, n >= 10000 ? 1500 : 3000);
    check_parents(b, &dk);
    check_copy(img, &dk, seed + 1);
    trie_builder_free(b);
    free(dk.p);
}

static void test_errors(void)
{
    trie_builder_t *b = trie_builder_new();
    TEST_EQ_I64(trie_builder_add(b, "4420", 4, 7), TRIE_OK);
    size_t size = trie_builder_image_size(b);

    TEST_EQ_I64(trie_builder_add(b, "4420", 4, 8), TRIE_EEXIST);
    TEST_EQ_I64(trie_builder_add(b, "44a0", 4, 8), TRIE_EINVAL);
    TEST_EQ_I64(trie_builder_add(b, "44/0", 4, 8), TRIE_EINVAL);
    TEST_EQ_I64(trie_builder_add(b, "", 0, 8), TRIE_EINVAL);
    TEST_EQ_I64(trie_builder_add(b, "123456789012345678901", 21, 8),
                TRIE_EINVAL);
    TEST_EQ_I64(trie_builder_add(b, "5", 1, TRIE_NONE), TRIE_EINVAL);
    TEST_EQ_I64(trie_builder_count(b), 1);
    TEST_EQ_I64(trie_builder_image_size(b), size);   /* builder unchanged */
    TEST_EQ_I64(trie_builder_add(b, "12345678901234567890", 20, 8), TRIE_OK);

    void *img = emit_image(b);
    uint8_t ml = 99;
    TEST_EQ_I64(trie_lookup(img, "442071", 6, &ml), 7);
    TEST_EQ_I64(ml, 4);
    TEST_EQ_I64(trie_lookup(img, "44207", 5, NULL), 7);
    TEST_EQ_I64(trie_lookup(img, "442", 3, &ml), TRIE_NONE);
    TEST_EQ_I64(ml, 0);
    TEST_EQ_I64(trie_lookup(img, "", 0, &ml), TRIE_NONE);
    TEST_EQ_I64(trie_lookup(img, "123456789012345678901", 21, &ml), 8);
    TEST_EQ_I64(ml, 20);
    /* Reading stops at a non-digit, as if the number ended there. */
    TEST_EQ_I64(trie_lookup(img, "4420#1", 6, &ml), 7);
    TEST_EQ_I64(trie_lookup(img, "44#20", 5, &ml), TRIE_NONE);
    TEST_EQ_I64(trie_lookup(img, "4\xff" "20", 4, &ml), TRIE_NONE);

    /* Emit refuses a small or misaligned buffer and writes nothing. */
    size = trie_builder_image_size(b);
    char *buf = aligned_alloc(TRIE_ALIGN, size + TRIE_ALIGN);
    memset(buf, 0x5a, size + TRIE_ALIGN);
    TEST_EQ_I64(trie_builder_emit(b, buf, size - 1), TRIE_ERANGE);
    TEST_EQ_I64(trie_builder_emit(b, buf + 8, size), TRIE_EINVAL);
    TEST_EQ_I64(buf[0], 0x5a);
    TEST_EQ_I64(trie_builder_emit(b, buf, size), TRIE_OK);
    TEST_EQ_I64(memcmp(buf, img, size), 0);          /* deterministic */
    free(buf);
    free(img);
    trie_builder_free(b);

    /* An empty deck matches nothing. */
    b = trie_builder_new();
    img = emit_image(b);
    TEST_EQ_I64(trie_image_check(img, trie_image_size(img)), TRIE_OK);
    TEST_EQ_I64(trie_lookup(img, "123456", 6, &ml), TRIE_NONE);
    TEST_EQ_I64(ml, 0);
    free(img);
    trie_builder_free(b);
}

/* One corruption applied to a fresh copy; returns what check says. */
typedef void corrupt_fn(trie_image_hdr_t *h, trie_node_t *nodes);

static int check_corrupted(const void *img, corrupt_fn *fn)
{
    size_t size = trie_image_size(img);
    trie_image_hdr_t *h = aligned_alloc(TRIE_ALIGN, size);
    memcpy(h, img, size);
    fn(h, (trie_node_t *)(h + 1));
    int rc = trie_image_check(h, size);
    free(h);
    return rc;
}

/* The first node with children at or after `from`. */
static trie_node_t *inner_node(trie_image_hdr_t *h, trie_node_t *nodes,
                               uint32_t from)
{
    for (uint32_t i = from; i < h->nnodes; i++)
        if (nodes[i].bitmap != 0)
            return &nodes[i];
    return NULL;
}

static void child_out_of_range(trie_image_hdr_t *h, trie_node_t *nodes)
{
    inner_node(h, nodes, h->tail_base)->child = h->nnodes + 5;
}

static void child_cycle(trie_image_hdr_t *h, trie_node_t *nodes)
{
    inner_node(h, nodes, h->tail_base)->child = h->table_base;
}

static void head_child_into_table(trie_image_hdr_t *h, trie_node_t *nodes)
{
    nodes[0].child = h->table_base - 1;
}

static void bitmap_bit_12(trie_image_hdr_t *h, trie_node_t *nodes)
{
    nodes[h->table_base].bitmap |= 1u << 12;
}

static void vlen_too_long(trie_image_hdr_t *h, trie_node_t *nodes)
{
    nodes[h->table_base].vlen = (uint8_t)(h->k + 1);
    nodes[h->table_base].value = 1;
}

static void bad_magic(trie_image_hdr_t *h, trie_node_t *nodes)
{
    (void)nodes;
    h->magic ^= 1;
}

static void table_too_big(trie_image_hdr_t *h, trie_node_t *nodes)
{
    (void)nodes;
    h->tail_base += 10;
}

static void value_changed(trie_image_hdr_t *h, trie_node_t *nodes)
{
    nodes[h->nnodes - 1].value ^= 0x10;    /* structure stays valid */
}

static void test_check(void)
{
    rng_t r = { 77 };
    deck_t dk = { .alphabet = 10 };
    trie_builder_t *b = trie_builder_new();
    make_deck(b, &dk, 1000, &r);
    void *img = emit_image(b);
    size_t size = trie_image_size(img);

    TEST_EQ_I64(trie_image_check(img, size), TRIE_OK);
    TEST_EQ_I64(trie_image_check(img, size - TRIE_ALIGN), TRIE_ECORRUPT);
    TEST_EQ_I64(trie_image_check(img, 10), TRIE_ECORRUPT);
    TEST_EQ_I64(check_corrupted(img, child_out_of_range), TRIE_ECORRUPT);
    TEST_EQ_I64(check_corrupted(img, child_cycle), TRIE_ECORRUPT);
    TEST_EQ_I64(check_corrupted(img, head_child_into_table), TRIE_ECORRUPT);
    TEST_EQ_I64(check_corrupted(img, bitmap_bit_12), TRIE_ECORRUPT);
    TEST_EQ_I64(check_corrupted(img, vlen_too_long), TRIE_ECORRUPT);
    TEST_EQ_I64(check_corrupted(img, bad_magic), TRIE_ECORRUPT);
    TEST_EQ_I64(check_corrupted(img, table_too_big), TRIE_ECORRUPT);
    TEST_EQ_I64(check_corrupted(img, value_changed), TRIE_ECHECKSUM);
    TEST_EQ_I64(trie_image_check(img, size), TRIE_OK);
    free(img);
    trie_builder_free(b);
    free(dk.p);
}

typedef struct {
    prefix_t p;
    uint32_t value;
} keyed_t;

/* Sorted by (length, digits), for the bsearch reference below. */
static int keyed_cmp(const void *a, const void *b)
{
    const prefix_t *x = &((const keyed_t *)a)->p;
    const prefix_t *y = &((const keyed_t *)b)->p;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->d, y->d, x->len);
}

/*
 * A deck large enough for the largest table (K = 6 needs 500,000
 * prefixes), where the quadratic reference is too slow: every prefix of
 * the number, longest first, looked up in a sorted copy of the deck.
 */
static void test_large_deck(void)
{
    rng_t r = { 4242 };
    deck_t dk = { .alphabet = 10 };
    trie_builder_t *b = trie_builder_new();
    make_deck(b, &dk, 600000, &r);
    void *img = emit_image(b);
    TEST_EQ_I64(((const trie_image_hdr_t *)img)->k, 6);
    TEST_EQ_I64(trie_image_check(img, trie_image_size(img)), TRIE_OK);

    keyed_t *sorted = malloc(dk.n * sizeof *sorted);
    for (size_t v = 0; v < dk.n; v++) {
        sorted[v].p = dk.p[v];
        sorted[v].value = (uint32_t)v;
    }
    qsort(sorted, dk.n, sizeof *sorted, keyed_cmp);

    enum { NNUM = 20000 };
    static char nums[NNUM][MAXNUM];
    static const char *ptrs[NNUM];
    static uint8_t lens[NNUM], blens[NNUM];
    static uint32_t bvals[NNUM];
    long bad = 0;
    for (size_t i = 0; i < NNUM; i++) {
        lens[i] = (uint8_t)make_number(&dk, &r, nums[i]);
        ptrs[i] = nums[i];
    }
    trie_lookup_batch(img, ptrs, lens, NNUM, bvals, blens);
    for (size_t i = 0; i < NNUM; i++) {
        size_t len = 0;
        while (len < lens[i] && nums[i][len] >= '0' && nums[i][len] <= '9')
            len++;
        uint32_t want = TRIE_NONE;
        uint8_t wl = 0, gl;
        for (size_t l = len < TRIE_MAX_PREFIX ? len : TRIE_MAX_PREFIX; l > 0;
             l--) {
            keyed_t key = { .p.len = (uint8_t)l };
            memcpy(key.p.d, nums[i], l);
            const keyed_t *hit = bsearch(&key, sorted, dk.n, sizeof *sorted,
                                         keyed_cmp);
            if (hit != NULL) {
                want = hit->value;
                wl = (uint8_t)l;
                break;
            }
        }
        uint32_t got = trie_lookup(img, nums[i], lens[i], &gl);
        if (got != want || gl != wl || bvals[i] != got || blens[i] != gl)
            bad++;
    }
    TEST_EQ_I64(bad, 0);
    free(sorted);
    free(img);
    trie_builder_free(b);
    free(dk.p);
}

int main(void)
{
    static const size_t sizes[] = { 1, 10, 50, 1000, 5000, 50000 };
    test_errors();
    test_check();
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (uint64_t seed = 1; seed <= 3; seed++)
            test_random_deck(sizes[i], seed * 1000003 + i,
                             seed == 2 ? 3 : 10);
    test_large_deck();
    return TEST_REPORT();
}
