/*
 * heap.h -- the supervisor's allocator for the region's heap area.
 *
 * Published versions (catalogs, rate decks) are built in private memory and
 * copied into one contiguous block each, so the heap only ever hands out a
 * few dozen large blocks: a first-fit list of free extents with coalescing
 * is all it needs, and its bookkeeping lives in the supervisor's private
 * memory (a restarted supervisor creates a new region anyway). Readers never
 * call it.
 *
 * The contract of every function: supervisor only, single-threaded.
 * Offsets are region offsets, REGION_ALIGN aligned. With poisoning on
 * (tests, debug), heap_free() fills the block with HEAP_POISON first, so a
 * reader that touches reclaimed memory reads garbage its checksums catch.
 */
#ifndef APOLO_HEAP_H
#define APOLO_HEAP_H

#include <stdint.h>

#define HEAP_POISON 0xdb

enum { HEAP_OK = 0, HEAP_ENOMEM = -1, HEAP_EINVAL = -2 };

typedef struct heap heap_t;

/* base points to the area's memory, whose first byte is region offset off. */
heap_t *heap_new(void *base, uint64_t off, uint64_t len, int poison);
void    heap_delete(heap_t *h);

/* HEAP_ENOMEM when no free extent is large enough (nothing changes). */
int  heap_alloc(heap_t *h, uint64_t size, uint64_t *off);
/* off must come from heap_alloc and not be freed yet: HEAP_EINVAL if not. */
int  heap_free(heap_t *h, uint64_t off);

uint64_t heap_used(const heap_t *h);        /* bytes in live blocks */
uint64_t heap_capacity(const heap_t *h);

#endif
