/*
 * trie.h -- longest-prefix match of a dialled number against a rate deck.
 *
 * Two halves with two owners:
 *
 *   builder   private memory of the one writer (the supervisor): add the
 *             prefixes of a deck, ask for the image size, emit the image
 *             into memory the caller provides (normally the shared region)
 *   image     an immutable, self-contained block: a header and an array of
 *             nodes that refer to each other by index only, never by
 *             pointer. It answers identically at any address, in any
 *             process, after a memcpy. Readers never write to it.
 *
 * A prefix is 1..TRIE_MAX_PREFIX ASCII digits and carries a uint32 value
 * (below TRIE_NONE; in practice the index of its rate row, dense 0..n-1).
 * A lookup returns the value of the longest prefix of the number that is in
 * the deck, or TRIE_NONE.
 *
 * Publication (the caller's job, see qsbr.h): emit the image completely,
 * then publish its offset with a release store (rcu_assign_pointer style);
 * readers load it with an acquire (rcu_dereference) and may then read the
 * image without any further barrier, because it never changes afterwards.
 * The memory is reused only after a grace period.
 *
 * Return codes: TRIE_OK (0) or one of the negative TRIE_E* below.
 */
#ifndef APOLO_TRIE_H
#define APOLO_TRIE_H

#include <stddef.h>
#include <stdint.h>

#define TRIE_NONE        UINT32_MAX  /* "no prefix matched" */
#define TRIE_MAX_PREFIX  20          /* longest prefix a deck may hold */
#define TRIE_ALIGN       64          /* alignment emit() requires of dst */

enum {
    TRIE_OK        = 0,
    TRIE_EINVAL    = -1,   /* bad argument: non-digit, length, value, align */
    TRIE_EEXIST    = -2,   /* the prefix is already in the deck */
    TRIE_ENOMEM    = -3,   /* malloc/realloc failed */
    TRIE_ERANGE    = -4,   /* a buffer or an index space is too small */
    TRIE_ECORRUPT  = -5,   /* image structure invalid (bad magic, index out
                              of range, malformed tree) */
    TRIE_ECHECKSUM = -6    /* structure valid but the bytes were altered */
};

typedef struct trie_builder trie_builder_t;

/*
 * Image format, shown for tests and tools only: readers go through the
 * functions below. After the header come nnodes nodes:
 *   [0, table_base)          depth 0..k-1, the tree from the root (node 0)
 *   [table_base, tail_base)  10^k nodes of depth k, slot = first k digits
 *   [tail_base, nnodes)      depth > k, the subtrees of the table slots
 * Children of a node are one block from `child`, in digit order; the
 * child for digit d is child + popcount(bitmap & ((1 << d) - 1)). Blocks
 * follow each other in depth-first order (a node's block, then its
 * children's subtrees), the head from node 0, the tail slot by slot.
 * value/vlen are the best match on the path down to the node, itself
 * included. All indices count nodes from the first node after the header.
 */
typedef struct trie_node {
    uint32_t value;    /* best match on the path, or TRIE_NONE */
    uint32_t child;    /* index of the first child, 0 if none */
    uint16_t bitmap;   /* bit d: child for digit d exists (bits 0..9) */
    uint8_t  vlen;     /* length of the prefix of `value`, 0 if none */
    uint8_t  depth;    /* digits from the root to this node */
} trie_node_t;

typedef struct trie_image_hdr {
    uint32_t magic;        /* TRIE_MAGIC */
    uint16_t version;      /* TRIE_VERSION */
    uint8_t  k;            /* depth of the table, 1..6 */
    uint8_t  node_size;    /* sizeof(trie_node_t) */
    uint64_t size;         /* bytes of the whole image */
    uint64_t count;        /* prefixes */
    uint64_t checksum;     /* of the whole image with this field zero */
    uint32_t nnodes;
    uint32_t table_base;   /* first table node; also the head's size */
    uint32_t tail_base;    /* table_base + 10^k */
    uint8_t  reserved[20];
} trie_image_hdr_t;

#define TRIE_MAGIC       0x54504c41u /* "ALPT" */
#define TRIE_VERSION     1

/* ---- Builder: the writer process only, private memory, one thread ---- */

/* A new, empty builder, or NULL when out of memory. */
trie_builder_t *trie_builder_new(void);

/* Frees the builder (NULL is allowed). Images already emitted stay valid:
 * they do not refer to the builder. */
void trie_builder_free(trie_builder_t *b);

/*
 * Adds the prefix digits[0..len) with its value.
 * Errors, the builder unchanged in every case:
 *   TRIE_EINVAL   len is 0 or above TRIE_MAX_PREFIX, a byte is not '0'..'9',
 *                 or value >= TRIE_NONE
 *   TRIE_EEXIST   the same prefix was added before (its value is kept)
 *   TRIE_ENOMEM   out of memory
 *   TRIE_ERANGE   the deck would need more nodes than the image format
 *                 allows (about 268 million)
 */
int trie_builder_add(trie_builder_t *b, const char *digits, size_t len,
                     uint32_t value);

/* Number of prefixes added so far. */
size_t trie_builder_count(const trie_builder_t *b);

/* Bytes the image of the current deck needs (a multiple of TRIE_ALIGN). */
size_t trie_builder_image_size(const trie_builder_t *b);

/*
 * Writes the image of the current deck into dst[0..trie_builder_image_size).
 * dst must be TRIE_ALIGN-aligned; size is the room available. Uses no heap.
 * Errors: TRIE_EINVAL (dst misaligned), TRIE_ERANGE (size too small); dst is
 * not written on error. The builder is not modified and may keep growing
 * for a later emit.
 */
int trie_builder_emit(const trie_builder_t *b, void *dst, size_t size);

/*
 * For every value v in 0..nvalues-1: parent[v] = the value of the longest
 * proper prefix of v's prefix that is in the deck, or TRIE_NONE if it has
 * none or if no prefix carries v. (Rating falls back to it when the longest
 * match has no rate in force at the call time.) If several prefixes carry
 * the same value, the one visited last in digit order wins.
 * Errors: TRIE_ERANGE if some added value is >= nvalues; parent is not
 * written then.
 */
int trie_builder_parents(const trie_builder_t *b, uint32_t *parent,
                         size_t nvalues);

/* ---- Image: any process, any thread, lock-free, read only ---- */

/*
 * Longest-prefix match of digits[0..len) in the image at `image` (any
 * TRIE_ALIGN-aligned address it was emitted or copied to; it may read
 * digits[0..8) at once when len >= 8). Reading stops at len or at the
 * first byte that is not '0'..'9' (normalise numbers before). Returns the
 * value of the longest matching prefix, or TRIE_NONE; *match_len (if not
 * NULL) gets its length, 0 when nothing matched.
 * Pure: no writes to the image, no locks, no allocation, no system calls.
 * Trust: lookups follow indices without bounds checks; the image must be
 * one that trie_builder_emit() wrote, or that trie_image_check() accepted.
 */
uint32_t trie_lookup(const void *image, const char *digits, size_t len,
                     uint8_t *match_len);

/*
 * n lookups at once: values[i] (and match_lens[i], if match_lens is not
 * NULL) are exactly what trie_lookup(image, digits[i], lens[i], ...) gives.
 * It keeps several lookups in flight and prefetches the next node of each,
 * so their cache misses overlap; use it when a batch of numbers is at hand
 * (CDR files, bursts of events). Same purity and trust as trie_lookup.
 */
void trie_lookup_batch(const void *image, const char *const digits[],
                       const uint8_t lens[], size_t n, uint32_t values[],
                       uint8_t match_lens[]);

/* Size in bytes of an image, as written in its header. */
size_t trie_image_size(const void *image);

/* Number of prefixes in an image. */
size_t trie_image_count(const void *image);

/*
 * Verifies an image that lies in size readable bytes (image TRIE_ALIGN
 * aligned): the header, that every child index is in range and that the
 * nodes form one tree in the order emit() writes it (so no lookup can leave
 * the image or loop), that match lengths fit their depth, and last the
 * checksum of the whole image. Returns TRIE_OK, TRIE_ECORRUPT or
 * TRIE_ECHECKSUM. Reads only; cost is linear in the image (about 35 ms
 * for a million prefixes here): run it when an image is adopted, not per
 * lookup.
 */
int trie_image_check(const void *image, size_t size);

#endif
