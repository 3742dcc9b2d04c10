/*
 * heap.c -- first-fit extent allocator for the region heap (see heap.h).
 *
 * Two small sorted arrays: free extents by offset (coalesced on free) and
 * live blocks by offset (to know a block's size at free and to reject a
 * double free). Both stay tiny: one block per published catalog or deck
 * plus the versions waiting for their grace period.
 *
 * NOTES: poisoning writes the whole block; the supervisor does it outside
 * any reader's path, and it is what turns a reclamation bug into a failed
 * checksum instead of a silently wrong rate.
 */
#include "shm/heap.h"
#include "shm/region.h"

#include <stdlib.h>
#include <string.h>

typedef struct heap_ext {
    uint64_t off, len;
} heap_ext_t;

typedef struct heap_vec {
    heap_ext_t *v;
    uint32_t    n, cap;
} heap_vec_t;

struct heap {
    uint8_t   *base;
    uint64_t   off, len, used;
    int        poison;
    heap_vec_t free, live;
};

static int heap_vec_insert(heap_vec_t *a, uint32_t at, heap_ext_t e)
{
    if (a->n == a->cap) {
        uint32_t cap = a->cap ? a->cap * 2 : 16;
        heap_ext_t *v = realloc(a->v, cap * sizeof *v);
        if (v == NULL)
            return HEAP_ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    memmove(&a->v[at + 1], &a->v[at], (a->n - at) * sizeof *a->v);
    a->v[at] = e;
    a->n++;
    return HEAP_OK;
}

static void heap_vec_remove(heap_vec_t *a, uint32_t at)
{
    memmove(&a->v[at], &a->v[at + 1], (a->n - at - 1) * sizeof *a->v);
    a->n--;
}

/* First index whose offset is >= off. */
static uint32_t heap_vec_find(const heap_vec_t *a, uint64_t off)
{
    uint32_t lo = 0, hi = a->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (a->v[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

heap_t *heap_new(void *base, uint64_t off, uint64_t len, int poison)
{
    heap_t *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->base = base;
    h->off = off;
    h->len = len;
    h->poison = poison;
    if (len > 0 && heap_vec_insert(&h->free, 0, (heap_ext_t){ off, len })) {
        free(h);
        return NULL;
    }
    return h;
}

void heap_delete(heap_t *h)
{
    if (h == NULL)
        return;
    free(h->free.v);
    free(h->live.v);
    free(h);
}

int heap_alloc(heap_t *h, uint64_t size, uint64_t *off)
{
    size = region_align(size);
    if (size == 0)
        return HEAP_EINVAL;
    for (uint32_t i = 0; i < h->free.n; i++) {
        heap_ext_t *e = &h->free.v[i];
        if (e->len < size)
            continue;
        heap_ext_t blk = { e->off, size };
        uint32_t at = heap_vec_find(&h->live, blk.off);
        if (heap_vec_insert(&h->live, at, blk) != HEAP_OK)
            return HEAP_ENOMEM;
        e->off += size;
        e->len -= size;
        if (e->len == 0)
            heap_vec_remove(&h->free, i);
        h->used += size;
        *off = blk.off;
        return HEAP_OK;
    }
    return HEAP_ENOMEM;
}

int heap_free(heap_t *h, uint64_t off)
{
    uint32_t at = heap_vec_find(&h->live, off);
    if (at == h->live.n || h->live.v[at].off != off)
        return HEAP_EINVAL;
    heap_ext_t blk = h->live.v[at];
    heap_vec_remove(&h->live, at);
    h->used -= blk.len;
    if (h->poison)
        memset(h->base + (blk.off - h->off), HEAP_POISON, blk.len);

    uint32_t i = heap_vec_find(&h->free, blk.off);
    if (i > 0 && h->free.v[i - 1].off + h->free.v[i - 1].len == blk.off) {
        h->free.v[i - 1].len += blk.len;          /* merge with previous */
        if (i < h->free.n
            && h->free.v[i - 1].off + h->free.v[i - 1].len == h->free.v[i].off) {
            h->free.v[i - 1].len += h->free.v[i].len;
            heap_vec_remove(&h->free, i);
        }
        return HEAP_OK;
    }
    if (i < h->free.n && blk.off + blk.len == h->free.v[i].off) {
        h->free.v[i].off = blk.off;               /* merge with next */
        h->free.v[i].len += blk.len;
        return HEAP_OK;
    }
    /* Fails only when realloc does: the block is then leaked (never handed
     * out twice) and the caller logs it. */
    return heap_vec_insert(&h->free, i, blk);
}

uint64_t heap_used(const heap_t *h)
{
    return h->used;
}

uint64_t heap_capacity(const heap_t *h)
{
    return h->len;
}
