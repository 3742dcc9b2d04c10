/*
 * bench_lpm.c -- longest-prefix match throughput of the trie image, one
 * thread, against a plain pointer trie measured in the same run.
 *
 * Decks of 1k, 100k and 1M prefixes and the numbers come from lpm_gen.h
 * (the same data the PostgreSQL figures use). The image is emitted into a
 * MAP_SHARED anonymous mapping, like the shared region (4 KiB pages, no
 * transparent huge pages). Each figure is the best of `reps` passes over
 * the whole number set; every pass sums the results into a checksum that
 * is printed, so the compiler cannot drop the work. The program exits 1 if
 * the trie (single or batched) and the pointer trie ever disagree.
 *
 * Output: lines "BENCH <name> <value> <unit>" on stdout.
 * BENCH_QUICK=1: fewer numbers and passes (under 20 s).
 */
#include "bench/lpm_gen.h"
#include "shm/trie.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define BATCH 1024           /* numbers per trie_lookup_batch call */

typedef struct {
    char      (*nums)[LPM_GEN_MAXLEN];
    const char **ptrs;
    uint8_t    *lens;
    size_t      n;
} numset_t;

typedef struct {
    char (*deck)[LPM_GEN_MAXLEN];
    size_t n;
} deck_t;

static uint64_t checksum;    /* printed at the end: results are used */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        fprintf(stderr, "bench_lpm: malloc(%zu) failed\n", n);
        exit(2);
    }
    return p;
}

static void bench(const char *name, double value, const char *unit)
{
    printf("BENCH %s %.*f %s\n", name, value >= 100 ? 0 : 3, value, unit);
    fflush(stdout);
}

/* ---- The baseline: malloc'd nodes with 10 child pointers ---- */

typedef struct ptr_node {
    struct ptr_node *child[10];
    uint32_t         value;
} ptr_node_t;

static ptr_node_t *ptr_node_new(void)
{
    ptr_node_t *n = xmalloc(sizeof *n);
    for (int d = 0; d < 10; d++)
        n->child[d] = NULL;
    n->value = TRIE_NONE;
    return n;
}

static void ptr_add(ptr_node_t *root, const char *p, uint32_t value)
{
    ptr_node_t *n = root;
    for (; *p; p++) {
        int d = *p - '0';
        if (n->child[d] == NULL)
            n->child[d] = ptr_node_new();
        n = n->child[d];
    }
    n->value = value;
}

/* Value of the longest match; its length in *match_len. */
static uint32_t ptr_lookup(const ptr_node_t *n, const char *s, size_t len,
                           uint8_t *match_len)
{
    uint32_t best = n->value;
    uint8_t blen = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9 || (n = n->child[d]) == NULL)
            break;
        if (n->value != TRIE_NONE) {
            best = n->value;
            blen = (uint8_t)(i + 1);
        }
    }
    *match_len = blen;
    return best;
}

static void ptr_free(ptr_node_t *n)
{
    for (int d = 0; d < 10; d++)
        if (n->child[d] != NULL)
            ptr_free(n->child[d]);
    free(n);
}

/* ---- Data ---- */

static deck_t make_deck(size_t n)
{
    deck_t d = { xmalloc(n * sizeof *d.deck), n };
    if (lpm_gen_deck(d.deck, n) != 0) {
        fprintf(stderr, "bench_lpm: lpm_gen_deck failed\n");
        exit(2);
    }
    return d;
}

static numset_t make_numbers(size_t n, const deck_t *hits_from,
                             uint64_t seed)
{
    numset_t s = { xmalloc(n * sizeof *s.nums), xmalloc(n * sizeof *s.ptrs),
                   xmalloc(n), n };
    if (hits_from != NULL)
        lpm_gen_hits(s.nums, n, hits_from->deck, hits_from->n, seed);
    else
        lpm_gen_numbers(s.nums, n, seed);
    for (size_t i = 0; i < n; i++) {
        s.ptrs[i] = s.nums[i];
        s.lens[i] = (uint8_t)strlen(s.nums[i]);
    }
    return s;
}

static void free_numbers(numset_t *s)
{
    free(s->nums);
    free(s->ptrs);
    free(s->lens);
}

/* The image in a shared mapping, as in the region. Exits on failure. */
static void *build_image(const deck_t *d, double *secs)
{
    double t0 = now();
    trie_builder_t *b = trie_builder_new();
    if (b == NULL)
        exit(2);
    for (size_t i = 0; i < d->n; i++) {
        int rc = trie_builder_add(b, d->deck[i], strlen(d->deck[i]),
                                  (uint32_t)i);
        if (rc != TRIE_OK) {
            fprintf(stderr, "bench_lpm: trie_builder_add: %d\n", rc);
            exit(2);
        }
    }
    size_t size = trie_builder_image_size(b);
    void *img = mmap(NULL, size, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (img == MAP_FAILED) {
        perror("bench_lpm: mmap");
        exit(2);
    }
    if (trie_builder_emit(b, img, size) != TRIE_OK)
        exit(2);
    trie_builder_free(b);
    if (secs != NULL)
        *secs = now() - t0;
    if (trie_image_check(img, size) != TRIE_OK) {
        fprintf(stderr, "bench_lpm: emitted image fails its check\n");
        exit(1);
    }
    return img;
}

static ptr_node_t *build_ptr(const deck_t *d)
{
    ptr_node_t *root = ptr_node_new();
    for (size_t i = 0; i < d->n; i++)
        ptr_add(root, d->deck[i], (uint32_t)i);
    return root;
}

/* ---- Timed passes: each returns lookups per second of the best pass ---- */

static double run_single(const void *img, const numset_t *s, int reps)
{
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        uint64_t sum = 0;
        double t0 = now();
        for (size_t i = 0; i < s->n; i++) {
            uint8_t ml;
            sum += trie_lookup(img, s->ptrs[i], s->lens[i], &ml) + ml;
        }
        double t = now() - t0;
        best = t < best ? t : best;
        checksum += sum;
    }
    return (double)s->n / best;
}

static double run_batch(const void *img, const numset_t *s, int reps)
{
    static uint32_t vals[BATCH];
    static uint8_t mls[BATCH];
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        uint64_t sum = 0;
        double t0 = now();
        for (size_t i = 0; i < s->n; i += BATCH) {
            size_t m = s->n - i < BATCH ? s->n - i : BATCH;
            trie_lookup_batch(img, s->ptrs + i, s->lens + i, m, vals, mls);
            for (size_t j = 0; j < m; j++)
                sum += vals[j] + mls[j];
        }
        double t = now() - t0;
        best = t < best ? t : best;
        checksum += sum;
    }
    return (double)s->n / best;
}

static double run_ptr(const ptr_node_t *root, const numset_t *s, int reps)
{
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        uint64_t sum = 0;
        double t0 = now();
        for (size_t i = 0; i < s->n; i++) {
            uint8_t ml;
            sum += ptr_lookup(root, s->ptrs[i], s->lens[i], &ml) + ml;
        }
        double t = now() - t0;
        best = t < best ? t : best;
        checksum += sum;
    }
    return (double)s->n / best;
}

/* Trie single, trie batched and the pointer trie give the same values and
 * match lengths; says so on stderr and returns false when they do not. */
static bool agree(const void *img, const ptr_node_t *root, const numset_t *s,
                  const char *what)
{
    uint32_t vals[BATCH];
    uint8_t mls[BATCH];
    size_t bad = 0;
    for (size_t i = 0; i < s->n; i += BATCH) {
        size_t m = s->n - i < BATCH ? s->n - i : BATCH;
        trie_lookup_batch(img, s->ptrs + i, s->lens + i, m, vals, mls);
        for (size_t j = 0; j < m; j++) {
            const char *num = s->ptrs[i + j];
            uint8_t ml, pml;
            uint32_t v = trie_lookup(img, num, s->lens[i + j], &ml);
            uint32_t want = ptr_lookup(root, num, s->lens[i + j], &pml);
            if (v != want || ml != pml || vals[j] != v || mls[j] != ml)
                bad++;
        }
    }
    if (bad != 0)
        fprintf(stderr, "bench_lpm: %s: %zu answers differ from the pointer "
                "trie\n", what, bad);
    return bad == 0;
}

static double best_of(double a, double b)
{
    return a > b ? a : b;
}

int main(void)
{
    const char *q = getenv("BENCH_QUICK");
    int quick = q != NULL && q[0] == '1';
    size_t nnum = quick ? 2000000 : 4000000;
    int reps = quick ? 2 : 5;
    static const struct { size_t n; const char *name; } small[] = {
        { 1000, "lpm_1k_per_sec" }, { 100000, "lpm_100k_per_sec" },
    };
    bool ok = true;

    numset_t rnd = make_numbers(nnum, NULL, 42);

    for (size_t k = 0; k < 2; k++) {
        deck_t d = make_deck(small[k].n);
        void *img = build_image(&d, NULL);
        ptr_node_t *root = build_ptr(&d);
        ok &= agree(img, root, &rnd, small[k].name);
        bench(small[k].name, best_of(run_single(img, &rnd, reps),
                                     run_batch(img, &rnd, reps)),
              "lookups/s");
        ptr_free(root);
        munmap(img, trie_image_size(img));
        free(d.deck);
    }

    deck_t d = make_deck(1000000);
    double build_secs;
    void *img = build_image(&d, &build_secs);
    ptr_node_t *root = build_ptr(&d);
    numset_t hit = make_numbers(nnum, &d, 43);
    ok &= agree(img, root, &rnd, "1m random");
    ok &= agree(img, root, &hit, "1m hits");

    double s1 = run_single(img, &rnd, reps), sb = run_batch(img, &rnd, reps);
    double h1 = run_single(img, &hit, reps), hb = run_batch(img, &hit, reps);
    double p1 = run_ptr(root, &rnd, reps), ph = run_ptr(root, &hit, reps);
    bench("lpm_1m_per_sec", best_of(s1, sb), "lookups/s");
    bench("lpm_1m_single_per_sec", s1, "lookups/s");
    bench("lpm_1m_batch_per_sec", sb, "lookups/s");
    bench("lpm_1m_hit_per_sec", best_of(h1, hb), "lookups/s");
    bench("lpm_1m_hit_single_per_sec", h1, "lookups/s");
    bench("lpm_1m_hit_batch_per_sec", hb, "lookups/s");
    bench("lpm_pointer_trie_1m_per_sec", p1, "lookups/s");
    bench("lpm_pointer_trie_1m_hit_per_sec", ph, "lookups/s");
    bench("trie_bytes_per_prefix_1m", (double)trie_image_size(img) / 1e6,
          "bytes");
    bench("trie_build_1m_sec", build_secs, "s");
    fprintf(stderr, "bench_lpm: checksum %016llx\n",
            (unsigned long long)checksum);

    ptr_free(root);
    munmap(img, trie_image_size(img));
    free_numbers(&rnd);
    free_numbers(&hit);
    free(d.deck);
    return ok ? 0 : 1;
}
