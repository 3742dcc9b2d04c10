/*
 * publish.c -- RCU-style publication into the region (see publish.h).
 *
 * The retired list is a FIFO of (block, target): targets only grow, so
 * reclaiming stops at the first block whose grace period has not passed.
 *
 * NOTES: the root store is preceded by a write barrier so that the block's
 * contents are visible before its offset (cat_current pairs it with a read
 * barrier); qsbr_advance after the store is a full barrier, so a reader
 * that comes online after it can only see the new root.
 */
#include "shm/publish.h"
#include "shm/heap.h"
#include "shm/log.h"
#include "shm/qsbr.h"

#include <stdlib.h>
#include <urcu/arch.h>
#include <urcu/system.h>

typedef struct pub_retired {
    uint64_t off, target;
} pub_retired_t;

struct pub {
    region_t      *r;
    heap_t        *heap;
    pub_retired_t *ret;
    size_t         head, n, cap;   /* FIFO: ret[head .. head+n) mod cap */
    unsigned       flags;
};

pub_t *pub_new(region_t *r, unsigned flags)
{
    pub_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->r = r;
    p->flags = flags;
    p->heap = heap_new(region_area(r, REGION_AREA_HEAP),
                       r->hdr->area_off[REGION_AREA_HEAP],
                       r->hdr->area_len[REGION_AREA_HEAP],
                       (flags & PUB_POISON) != 0);
    if (p->heap == NULL) {
        free(p);
        return NULL;
    }
    return p;
}

void pub_delete(pub_t *p)
{
    if (p == NULL)
        return;
    heap_delete(p->heap);
    free(p->ret);
    free(p);
}

/* Allocates, reclaiming what it can first if the heap is full. */
static int pub_alloc(pub_t *p, size_t size, uint64_t *off)
{
    if (heap_alloc(p->heap, size, off) == HEAP_OK)
        return PUB_OK;
    pub_reclaim(p, NULL);
    if (heap_alloc(p->heap, size, off) == HEAP_OK)
        return PUB_OK;
    LOG_ERROR("publish", 0, "region heap full: %zu bytes wanted, %llu of "
              "%llu used, %zu blocks awaiting reclamation", size,
              (unsigned long long)heap_used(p->heap),
              (unsigned long long)heap_capacity(p->heap), p->n);
    return PUB_ENOMEM;
}

int pub_deck(pub_t *p, const deck_builder_t *b, uint64_t *off)
{
    size_t size = deck_builder_size(b);
    if (size == 0)
        return PUB_EINVAL;
    if (pub_alloc(p, size, off) != PUB_OK)
        return PUB_ENOMEM;
    if (deck_builder_emit(b, region_at(p->r, *off), size) != DECK_OK) {
        heap_free(p->heap, *off);
        return PUB_EINVAL;
    }
    return PUB_OK;
}

static int pub_push(pub_t *p, uint64_t off, uint64_t target)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        pub_retired_t *v = malloc(cap * sizeof *v);
        if (v == NULL)
            return PUB_ENOMEM;
        for (size_t i = 0; i < p->n; i++)
            v[i] = p->ret[(p->head + i) % p->cap];
        free(p->ret);
        p->ret = v;
        p->head = 0;
        p->cap = cap;
    }
    p->ret[(p->head + p->n) % p->cap] = (pub_retired_t){ off, target };
    p->n++;
    return PUB_OK;
}

void pub_retire(pub_t *p, uint64_t off)
{
    qsbr_shm_t *q = region_area(p->r, REGION_AREA_QSBR);
    if (off == 0)
        return;
    if (pub_push(p, off, qsbr_advance(q)) != PUB_OK)
        LOG_ERROR("publish", 0, "cannot queue block %llu for reclamation: "
                  "out of memory, the block is leaked",
                  (unsigned long long)off);
}

int pub_catalog(pub_t *p, cat_builder_t *b)
{
    cat_root_shm_t *root = region_area(p->r, REGION_AREA_ROOT);
    size_t size = cat_builder_size(b);
    uint64_t off;

    if (pub_alloc(p, size, &off) != PUB_OK)
        return PUB_ENOMEM;
    if (cat_builder_emit(b, region_at(p->r, off), size) != CAT_OK) {
        heap_free(p->heap, off);
        return PUB_EINVAL;
    }
    uint64_t old = root->cur;
    cmm_smp_wmb();
    CMM_STORE_SHARED(root->cur, off);
    pub_retire(p, old);
    return PUB_OK;
}

size_t pub_reclaim(pub_t *p, pid_t *holder)
{
    qsbr_shm_t *q = region_area(p->r, REGION_AREA_QSBR);
    while (p->n > 0) {
        pub_retired_t *r = &p->ret[p->head];
        if (!(p->flags & PUB_NO_GRACE) && !qsbr_poll(q, r->target, holder))
            break;
        if (heap_free(p->heap, r->off) != HEAP_OK)
            LOG_ERROR("publish", 0, "heap_free(%llu) refused",
                      (unsigned long long)r->off);
        p->head = (p->head + 1) % p->cap;
        p->n--;
    }
    return p->n;
}

uint64_t pub_heap_used(const pub_t *p)
{
    return heap_used(p->heap);
}
