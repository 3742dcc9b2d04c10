/*
 * trie.c -- longest-prefix match on a position-independent image (trie.h).
 *
 * Image: a 64-byte header, then one array of 12-byte nodes in three parts:
 *
 *   [hdr][ head: depth 0..K-1 ][ table: 10^K nodes, depth K ][ tail      ]
 *         from the root, only    slot = the first K digits     depth > K,
 *         for numbers < K digits                               per slot
 *
 * Bit d of a node's bitmap says the child for digit d exists; the children
 * of a node are one block, in digit order, from index `child`, so the child
 * for d is child + popcount(bitmap & ((1 << d) - 1)). value/vlen are the
 * best match on the path down to the node, itself included (emit pushes
 * the values of shorter prefixes down), so a walk only follows children
 * and answers with the last node it reached: no "best so far" bookkeeping.
 *
 * Why this shape (figures in bench/README.md): memory latency is the whole
 * cost. A number of at least K digits starts at table[first K digits],
 * which already holds the best match of length <= K. On a 1M-prefix deck
 * (K = 6, a 12 MB table) a random 11..15 digit number costs one cache miss,
 * and one more only in the ~4% of cases where its 7th digit continues in
 * the deck. Child blocks are laid out depth first, so the few nodes under
 * one table slot (3.5 on average on that deck, 42 bytes) sit side by side:
 * a deep match costs one or two further misses, not one per digit. K
 * grows with the deck (largest K <= 6 with 10^K <= 2 * prefixes) so that
 * a small deck does not carry a 12 MB table.
 *
 * trie_lookup_batch keeps TRIE_BATCH_WAYS lookups in flight (AMAC style):
 * each turn advances one lookup by one node and prefetches the next node,
 * which is read only after the other lookups have had their turn, so the
 * misses of different lookups overlap instead of queuing. 32 ways measured
 * better than 8, 16 or 24 on deep lookups and no worse than 48.
 *
 * NOTES
 * - No pointer is ever stored in the image: node indices only; the header
 *   holds counts. memcpy the image anywhere and it answers the same.
 * - Lookups do not bounds-check. Safety comes from trie_image_check(),
 *   which walks the tree in the order emit() writes it and requires each
 *   child block to start exactly where the previous one ended, so the
 *   nodes form one tree, every index is in range, and no walk can leave
 *   the image. Depths grow by one per level and are capped, which bounds
 *   the check's recursion and every lookup's match length.
 * - A node is 12 bytes, so one in eight straddles two cache lines; the
 *   batched lookup prefetches both ends of a node. 16-byte nodes would
 *   cost a third more memory for the same number of misses.
 * - Non-digits end a number: '0' - 1 wraps to a huge unsigned digit, so
 *   one "d > 9" test covers every byte, and bitmap >> d is never shifted
 *   by 10 or more.
 * - The builder keeps 10 child slots per node (44 B) for simple adds with
 *   O(len) duplicate detection; it lives only in the writer and is freed
 *   after emit (about 120 MB for 1M prefixes). Emit uses no heap: while
 *   the image is laid out, a node's `child` field parks its builder index.
 * - The checksum only detects accidental change (bit rot, a stray write);
 *   it is not a MAC.
 */
#include "shm/trie.h"

#include <stdlib.h>
#include <string.h>

#define TRIE_KMAX        6           /* table of at most 10^6 nodes, 12 MB */
#define TRIE_TABLE_MAX   1000000u    /* 10^TRIE_KMAX */
#define TRIE_BITMAP_ALL  0x3ffu
/* Image node indices stay below this, so counts never overflow uint32. */
#define TRIE_MAX_NODES   (UINT32_MAX / 16)
#define TRIE_BATCH_WAYS  32

_Static_assert(sizeof(trie_node_t) == 12, "node layout");
_Static_assert(sizeof(trie_image_hdr_t) == TRIE_ALIGN, "header is one line");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "trie_swar_digits reads the first digit in the lowest byte");

/* ------------------------------------------------------------------ */
/* Builder                                                             */
/* ------------------------------------------------------------------ */

typedef struct trie_bnode {
    uint32_t child[10];    /* builder index; 0 = none (root is no child) */
    uint32_t value;
} trie_bnode_t;

struct trie_builder {
    trie_bnode_t *nodes;
    uint32_t      nnodes, cap;
    size_t        count;
    uint32_t      max_value;
    uint32_t      per_depth[TRIE_MAX_PREFIX + 1];
};

static uint32_t trie_pow10(unsigned k)
{
    uint32_t p = 1;
    while (k--)
        p *= 10;
    return p;
}

static void trie_bnode_init(trie_bnode_t *n)
{
    memset(n->child, 0, sizeof n->child);
    n->value = TRIE_NONE;
}

trie_builder_t *trie_builder_new(void)
{
    trie_builder_t *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->cap = 1024;
    b->nodes = malloc(b->cap * sizeof *b->nodes);
    if (b->nodes == NULL) {
        free(b);
        return NULL;
    }
    trie_bnode_init(&b->nodes[0]);
    b->nnodes = 1;
    b->per_depth[0] = 1;
    return b;
}

void trie_builder_free(trie_builder_t *b)
{
    if (b == NULL)
        return;
    free(b->nodes);
    free(b);
}

size_t trie_builder_count(const trie_builder_t *b)
{
    return b->count;
}

/* Room for `need` nodes, so that an add never fails half way. */
static int trie_builder_reserve(trie_builder_t *b, uint32_t need)
{
    if (need <= b->cap)
        return TRIE_OK;
    uint32_t cap = b->cap;
    while (cap < need)
        cap = cap > TRIE_MAX_NODES / 2 ? TRIE_MAX_NODES : cap * 2;
    trie_bnode_t *n = realloc(b->nodes, (size_t)cap * sizeof *n);
    if (n == NULL)
        return TRIE_ENOMEM;
    b->nodes = n;
    b->cap = cap;
    return TRIE_OK;
}

int trie_builder_add(trie_builder_t *b, const char *digits, size_t len,
                     uint32_t value)
{
    if (len == 0 || len > TRIE_MAX_PREFIX || value >= TRIE_NONE)
        return TRIE_EINVAL;
    for (size_t i = 0; i < len; i++)
        if (digits[i] < '0' || digits[i] > '9')
            return TRIE_EINVAL;
    /* The image may add up to TRIE_TABLE_MAX nodes to the builder's. */
    if (b->nnodes > TRIE_MAX_NODES - TRIE_TABLE_MAX - len)
        return TRIE_ERANGE;
    int rc = trie_builder_reserve(b, b->nnodes + (uint32_t)len);
    if (rc != TRIE_OK)
        return rc;

    /* A duplicate walks existing nodes only, so EEXIST changes nothing. */
    uint32_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned)(digits[i] - '0');
        uint32_t c = b->nodes[n].child[d];
        if (c == 0) {
            c = b->nnodes++;
            trie_bnode_init(&b->nodes[c]);
            b->nodes[n].child[d] = c;
            b->per_depth[i + 1]++;
        }
        n = c;
    }
    if (b->nodes[n].value != TRIE_NONE)
        return TRIE_EEXIST;
    b->nodes[n].value = value;
    if (b->count == 0 || value > b->max_value)
        b->max_value = value;
    b->count++;
    return TRIE_OK;
}

int trie_builder_parents(const trie_builder_t *b, uint32_t *parent,
                         size_t nvalues)
{
    if (b->count > 0 && b->max_value >= nvalues)
        return TRIE_ERANGE;
    for (size_t v = 0; v < nvalues; v++)
        parent[v] = TRIE_NONE;

    /* Depth-first, with the best value of the node and its ancestors. */
    struct { uint32_t node, best; unsigned next; } st[TRIE_MAX_PREFIX + 1];
    int top = 0;
    st[0].node = 0;
    st[0].best = TRIE_NONE;
    st[0].next = 0;
    while (top >= 0) {
        if (st[top].next == 10) {
            top--;
            continue;
        }
        uint32_t c = b->nodes[st[top].node].child[st[top].next++];
        if (c == 0)
            continue;
        uint32_t v = b->nodes[c].value, best = st[top].best;
        if (v != TRIE_NONE)
            parent[v] = best;
        top++;
        st[top].node = c;
        st[top].best = v != TRIE_NONE ? v : best;
        st[top].next = 0;
    }
    return TRIE_OK;
}

/* ------------------------------------------------------------------ */
/* Emit                                                                */
/* ------------------------------------------------------------------ */

/* The largest K <= TRIE_KMAX with 10^K <= 2 * count (at least 1). */
static unsigned trie_choose_k(size_t count)
{
    unsigned k = 1;
    uint64_t span = 10;
    while (k < TRIE_KMAX && span * 10 <= 2 * (uint64_t)count) {
        k++;
        span *= 10;
    }
    return k;
}

typedef struct trie_shape {
    unsigned k;
    uint32_t head, table, tail, nnodes;
    size_t   size;
} trie_shape_t;

static trie_shape_t trie_builder_shape(const trie_builder_t *b)
{
    trie_shape_t s = { .k = trie_choose_k(b->count) };
    for (unsigned d = 0; d <= TRIE_MAX_PREFIX; d++) {
        if (d < s.k)
            s.head += b->per_depth[d];
        else if (d > s.k)
            s.tail += b->per_depth[d];
    }
    s.table = trie_pow10(s.k);
    s.nnodes = s.head + s.table + s.tail;
    size_t bytes = sizeof(trie_image_hdr_t) +
                   (size_t)s.nnodes * sizeof(trie_node_t);
    s.size = (bytes + TRIE_ALIGN - 1) & ~(size_t)(TRIE_ALIGN - 1);
    return s;
}

size_t trie_builder_image_size(const trie_builder_t *b)
{
    return trie_builder_shape(b).size;
}

/* Sets the fields a node gets when its parent places it; `bidx` parks in
 * child until trie_emit_subtree lays out the node's own children. */
static void trie_emit_place(trie_node_t *n, uint32_t bidx, unsigned depth,
                              uint32_t own, uint32_t best, uint8_t vlen)
{
    n->child = bidx;
    n->bitmap = 0;
    n->depth = (uint8_t)depth;
    if (own != TRIE_NONE) {
        n->value = own;
        n->vlen = (uint8_t)depth;
    } else {
        n->value = best;
        n->vlen = vlen;
    }
}

/*
 * Lays out the subtree under image node i, whose builder index parks in
 * its child field (TRIE_NONE: a table slot whose path is not in the deck):
 * its child block at *next, then each child's subtree, depth first. So the
 * few nodes under one table slot end up side by side, usually in one or two
 * cache lines. Nodes at leaf_depth get no children (the head stops above
 * the table). Recursion depth <= TRIE_MAX_PREFIX.
 */
static void trie_emit_subtree(const trie_builder_t *b, trie_node_t *nodes,
                              uint32_t i, uint32_t *next, unsigned leaf_depth)
{
    trie_node_t *n = &nodes[i];
    uint32_t bidx = n->child;
    n->child = 0;
    if (bidx == TRIE_NONE || n->depth == leaf_depth)
        return;
    const trie_bnode_t *bn = &b->nodes[bidx];
    uint32_t first = *next, end = first;
    for (unsigned d = 0; d < 10; d++) {
        uint32_t c = bn->child[d];
        if (c == 0)
            continue;
        trie_emit_place(&nodes[end++], c, n->depth + 1u, b->nodes[c].value,
                          n->value, n->vlen);
        n->bitmap |= (uint16_t)(1u << d);
    }
    if (end == first)
        return;
    n->child = first;
    *next = end;
    for (uint32_t c = first; c < end; c++)
        trie_emit_subtree(b, nodes, c, next, leaf_depth);
}

/* Fills the table slots under builder node `bidx` (TRIE_NONE: absent) at
 * `depth`, whose digits so far read as `num`, with the best match so far. */
static void trie_emit_table(const trie_builder_t *b, trie_node_t *table,
                            unsigned k, uint32_t bidx, unsigned depth,
                            uint32_t num, uint32_t best, uint8_t vlen)
{
    if (depth == k) {
        trie_emit_place(&table[num], bidx, k, TRIE_NONE, best, vlen);
        return;
    }
    for (unsigned d = 0; d < 10; d++) {
        uint32_t c = TRIE_NONE, cbest = best;
        uint8_t cvlen = vlen;
        if (bidx != TRIE_NONE && b->nodes[bidx].child[d] != 0) {
            c = b->nodes[bidx].child[d];
            if (b->nodes[c].value != TRIE_NONE) {
                cbest = b->nodes[c].value;
                cvlen = (uint8_t)(depth + 1);
            }
        }
        trie_emit_table(b, table, k, c, depth + 1, num * 10 + d, cbest,
                        cvlen);
    }
}

/* Detects accidental change; any single changed word changes the result
 * because each step is a bijection of the running hash. */
static uint64_t trie_checksum(const void *image, size_t size)
{
    const unsigned char *p = image;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t off = 0; off < size; off += 8) {
        uint64_t w;
        memcpy(&w, p + off, sizeof w);
        if (off == offsetof(trie_image_hdr_t, checksum))
            w = 0;
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return h;
}

int trie_builder_emit(const trie_builder_t *b, void *dst, size_t size)
{
    if (((uintptr_t)dst & (TRIE_ALIGN - 1)) != 0)
        return TRIE_EINVAL;
    trie_shape_t s = trie_builder_shape(b);
    if (size < s.size)
        return TRIE_ERANGE;

    memset(dst, 0, s.size);
    trie_image_hdr_t *h = dst;
    trie_node_t *nodes = (trie_node_t *)(h + 1);
    uint32_t table_base = s.head, tail_base = s.head + s.table;

    trie_emit_place(&nodes[0], 0, 0, TRIE_NONE, TRIE_NONE, 0);
    uint32_t next = 1;
    trie_emit_subtree(b, nodes, 0, &next, s.k - 1);
    trie_emit_table(b, nodes + table_base, s.k, 0, 0, 0, TRIE_NONE, 0);
    next = tail_base;
    for (uint32_t i = table_base; i < tail_base; i++)
        trie_emit_subtree(b, nodes, i, &next, TRIE_MAX_PREFIX);

    h->magic = TRIE_MAGIC;
    h->version = TRIE_VERSION;
    h->k = (uint8_t)s.k;
    h->node_size = sizeof(trie_node_t);
    h->size = s.size;
    h->count = b->count;
    h->nnodes = s.nnodes;
    h->table_base = table_base;
    h->tail_base = tail_base;
    h->checksum = trie_checksum(dst, s.size);
    return TRIE_OK;
}

/* ------------------------------------------------------------------ */
/* Lookup                                                              */
/* ------------------------------------------------------------------ */

static inline const trie_node_t *trie_nodes(const trie_image_hdr_t *h)
{
    return (const trie_node_t *)(h + 1);
}

/* The value of the first k (1..8) bytes of w as decimal digits, or
 * UINT32_MAX if one of them is not '0'..'9'. All at once (SWAR): check
 * every byte, then combine digit pairs, quads and the octet with one
 * multiply each. Far fewer instructions than a digit loop, which lets the
 * core keep more lookups, and so more cache misses, in flight. */
static inline uint32_t trie_swar_digits(uint64_t w, unsigned k)
{
    const uint64_t ones = 0x0101010101010101ULL;
    uint64_t keep = ~0ULL >> (64 - 8 * k);
    uint64_t c = w ^ (ones * '0');      /* a digit byte becomes 0..9 */

    /* A byte is bad if its top bit is set, or if adding 0x76 sets it
     * (it was above 9). Carries only leave bad bytes. */
    if (((c | (c + ones * 0x76)) & (ones * 0x80) & keep) != 0)
        return UINT32_MAX;
    c = (c & keep) << (64 - 8 * k);     /* first digit ends up highest */
    c = (c * 10 + (c >> 8)) & 0x00ff00ff00ff00ffULL;
    c = (c * 100 + (c >> 16)) & 0x0000ffff0000ffffULL;
    return (uint32_t)(c * 10000 + (c >> 32));
}

/* The node a lookup starts from, and how many digits that consumed: the
 * table slot of the first K digits, or the root for a shorter number or
 * one with a non-digit among its first K bytes. */
static inline uint32_t trie_start(const trie_image_hdr_t *h,
                                  const unsigned char *s, size_t len,
                                  size_t *pos)
{
    unsigned k = h->k;
    uint32_t idx = UINT32_MAX;
    if (len >= 8) {
        uint64_t w;
        memcpy(&w, s, sizeof w);
        idx = trie_swar_digits(w, k);
    } else if (len >= k) {
        uint32_t bad = 0;
        idx = 0;
        for (unsigned i = 0; i < k; i++) {
            uint32_t d = (uint32_t)s[i] - '0';
            bad |= d > 9;
            idx = idx * 10 + d;
        }
        if (bad)
            idx = UINT32_MAX;
    }
    if (idx == UINT32_MAX) {
        *pos = 0;
        return 0;
    }
    *pos = k;
    return h->table_base + idx;
}

/* The child of n for the digit at pos, or TRIE_NONE when the walk ends
 * (end of number, a non-digit, or no such child). */
static inline uint32_t trie_step(const trie_node_t *n,
                                 const unsigned char *s, size_t len,
                                 size_t pos)
{
    if (pos >= len)
        return TRIE_NONE;
    uint32_t d = (uint32_t)s[pos] - '0';
    if (d > 9 || !((n->bitmap >> d) & 1u))
        return TRIE_NONE;
    return n->child +
           (uint32_t)__builtin_popcount(n->bitmap & ((1u << d) - 1u));
}

uint32_t trie_lookup(const void *image, const char *digits, size_t len,
                     uint8_t *match_len)
{
    const trie_image_hdr_t *h = image;
    const trie_node_t *nodes = trie_nodes(h);
    const unsigned char *s = (const unsigned char *)digits;
    size_t pos;
    uint32_t i = trie_start(h, s, len, &pos), c;

    while ((c = trie_step(&nodes[i], s, len, pos)) != TRIE_NONE) {
        i = c;
        pos++;
    }
    if (match_len != NULL)
        *match_len = nodes[i].vlen;
    return nodes[i].value;
}

typedef struct trie_job {
    const unsigned char *s;
    size_t   len, pos, out;    /* out: index of the lookup in the batch */
    uint32_t node;
} trie_job_t;

static inline void trie_prefetch(const trie_node_t *n)
{
    __builtin_prefetch(n);
    __builtin_prefetch((const char *)n + sizeof *n - 1);
}

static inline void trie_job_start(trie_job_t *j, const trie_image_hdr_t *h,
                                  const char *digits, uint8_t len,
                                  size_t out)
{
    j->s = (const unsigned char *)digits;
    j->len = len;
    j->out = out;
    j->node = trie_start(h, j->s, len, &j->pos);
    trie_prefetch(&trie_nodes(h)[j->node]);
}

void trie_lookup_batch(const void *image, const char *const digits[],
                       const uint8_t lens[], size_t n, uint32_t values[],
                       uint8_t match_lens[])
{
    const trie_image_hdr_t *h = image;
    const trie_node_t *nodes = trie_nodes(h);
    trie_job_t jobs[TRIE_BATCH_WAYS];
    size_t next = 0, active = 0;

    while (active < TRIE_BATCH_WAYS && next < n) {
        trie_job_start(&jobs[active], h, digits[next], lens[next], next);
        next++;
        active++;
    }
    /* jobs[0..active) are live. A finished job takes the next lookup; when
     * none is left, the last live job moves into its place and has its
     * turn at the same w. */
    while (active > 0) {
        size_t w = 0;
        while (w < active) {
            trie_job_t *j = &jobs[w];
            const trie_node_t *nd = &nodes[j->node];
            uint32_t c = trie_step(nd, j->s, j->len, j->pos);
            if (c != TRIE_NONE) {
                j->node = c;
                j->pos++;
                trie_prefetch(&nodes[c]);
                w++;
                continue;
            }
            values[j->out] = nd->value;
            if (match_lens != NULL)
                match_lens[j->out] = nd->vlen;
            if (next < n) {
                trie_job_start(j, h, digits[next], lens[next], next);
                next++;
                w++;
            } else {
                *j = jobs[--active];
            }
        }
    }
}

size_t trie_image_size(const void *image)
{
    return (size_t)((const trie_image_hdr_t *)image)->size;
}

size_t trie_image_count(const void *image)
{
    return (size_t)((const trie_image_hdr_t *)image)->count;
}

/* ------------------------------------------------------------------ */
/* Check                                                               */
/* ------------------------------------------------------------------ */

static int trie_check_header(const trie_image_hdr_t *h, size_t size)
{
    if (size < sizeof *h || ((uintptr_t)h & (TRIE_ALIGN - 1)) != 0)
        return TRIE_ECORRUPT;
    if (h->magic != TRIE_MAGIC || h->version != TRIE_VERSION ||
        h->node_size != sizeof(trie_node_t) || h->k < 1 || h->k > TRIE_KMAX)
        return TRIE_ECORRUPT;
    if (h->size > size || h->size % TRIE_ALIGN != 0 ||
        h->nnodes > TRIE_MAX_NODES ||
        h->size < sizeof *h + (uint64_t)h->nnodes * sizeof(trie_node_t))
        return TRIE_ECORRUPT;
    if (h->table_base < 1 ||
        h->tail_base != (uint64_t)h->table_base + trie_pow10(h->k) ||
        h->tail_base > h->nnodes)
        return TRIE_ECORRUPT;
    return TRIE_OK;
}

/* The node's own fields, and that its children are the block at *next,
 * below `limit`, one level deeper. */
static int trie_check_node(const trie_node_t *nodes, uint32_t i,
                           uint32_t *next, uint32_t limit)
{
    const trie_node_t *n = &nodes[i];
    if ((n->bitmap & ~TRIE_BITMAP_ALL) != 0 || n->depth > TRIE_MAX_PREFIX ||
        n->vlen > n->depth || (n->value == TRIE_NONE) != (n->vlen == 0))
        return TRIE_ECORRUPT;
    if (n->bitmap == 0)
        return n->child == 0 ? TRIE_OK : TRIE_ECORRUPT;
    uint32_t pc = (uint32_t)__builtin_popcount(n->bitmap);
    if (n->child != *next || n->child > limit || pc > limit - n->child)
        return TRIE_ECORRUPT;
    for (uint32_t c = n->child; c < n->child + pc; c++)
        if (nodes[c].depth != n->depth + 1)
            return TRIE_ECORRUPT;
    *next += pc;
    return TRIE_OK;
}

/*
 * The subtree under node i, in the order emit writes it: each child block
 * starts where the previous one (depth first) ended, so blocks are disjoint
 * and every node is reached at most once. Depth grows by one per level and
 * is capped, which bounds the recursion.
 */
static int trie_check_subtree(const trie_node_t *nodes, uint32_t i,
                              uint32_t *next, uint32_t limit,
                              unsigned max_depth)
{
    if (nodes[i].depth > max_depth ||
        trie_check_node(nodes, i, next, limit) != TRIE_OK)
        return TRIE_ECORRUPT;
    if (nodes[i].bitmap == 0)
        return TRIE_OK;
    uint32_t first = nodes[i].child;
    uint32_t end = first + (uint32_t)__builtin_popcount(nodes[i].bitmap);
    for (uint32_t c = first; c < end; c++)
        if (trie_check_subtree(nodes, c, next, limit, max_depth) != TRIE_OK)
            return TRIE_ECORRUPT;
    return TRIE_OK;
}

int trie_image_check(const void *image, size_t size)
{
    const trie_image_hdr_t *h = image;
    int rc = trie_check_header(h, size);
    if (rc != TRIE_OK)
        return rc;
    const trie_node_t *nodes = trie_nodes(h);
    unsigned k = h->k;

    /* Head: one tree from node 0 above depth k, filling [0, table_base). */
    uint32_t next = 1;
    if (nodes[0].depth != 0 ||
        trie_check_subtree(nodes, 0, &next, h->table_base, k - 1) != TRIE_OK ||
        next != h->table_base)
        return TRIE_ECORRUPT;

    /* Table slots at depth k, their subtrees filling [tail_base, nnodes). */
    next = h->tail_base;
    for (uint32_t i = h->table_base; i < h->tail_base; i++)
        if (nodes[i].depth != k ||
            trie_check_subtree(nodes, i, &next, h->nnodes, TRIE_MAX_PREFIX)
                != TRIE_OK)
            return TRIE_ECORRUPT;
    if (next != h->nnodes)
        return TRIE_ECORRUPT;

    if (trie_checksum(image, (size_t)h->size) != h->checksum)
        return TRIE_ECHECKSUM;
    return TRIE_OK;
}
