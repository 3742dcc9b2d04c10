/*
 * region.h -- the shared-memory region every ApoloBilling process maps.
 *
 * The supervisor creates the region once, before it forks anything; every
 * child inherits the mapping at the same address. Its layout is decided in
 * one place, region_create(), from the sizes the modules that live in it
 * declare (X_shm_size / X_shm_init, as PostgreSQL's ipci.c does):
 *
 *   +--------+--------+-----------------+--------+-------+----------------------+
 *   | header |  qsbr  | accounts        | root   | stats | heap                 |
 *   |        | slots  | (fixed slots)   | (cat.) |       | (published versions) |
 *   +--------+--------+-----------------+--------+-------+----------------------+
 *
 * Everything stored in the region refers to other parts of it by offset
 * from the base, never by pointer, so that a process that maps it at another
 * address (a tool, a future exec'd worker) reads it correctly.
 *
 * Who writes what:
 *   header, layout      the supervisor, in region_create(), before any fork
 *   qsbr slots          each reader its own slot; the supervisor reads them
 *   account slots       balances: any process, lock-free (account.h);
 *                       configuration fields: the supervisor only
 *   root and heap       the supervisor only (catalog.h, heap.h)
 *   stats slots         each worker process its own slot (stats.h);
 *                       the admin process reads them
 */
#ifndef APOLO_REGION_H
#define APOLO_REGION_H

#include <stddef.h>
#include <stdint.h>

#define REGION_MAGIC          0x4d48534f4c4f5041ULL   /* "APOLOSHM" */
#define REGION_LAYOUT_VERSION 2                       /* 2: stats area */
#define REGION_ALIGN          64                      /* one cache line */

enum { REGION_OK = 0, REGION_ERROR = -1, REGION_EINVAL = -2 };

typedef enum {
    REGION_AREA_QSBR = 0,
    REGION_AREA_ACCOUNTS,
    REGION_AREA_ROOT,
    REGION_AREA_STATS,        /* per-worker counters (stats.h) */
    REGION_AREA_HEAP,
    REGION_NAREAS
} region_area_t;

typedef struct region_config {
    uint32_t max_readers;     /* QSBR slots: worker processes and threads;
                                 also the number of stats slots */
    uint32_t max_accounts;    /* account slots, never reused */
    uint64_t heap_bytes;      /* room for published catalogs and decks */
} region_config_t;

/* The header, at offset 0 of the region. Written once before any fork. */
typedef struct region_hdr {
    uint64_t        magic;
    uint32_t        layout_version;
    uint32_t        hdr_size;
    uint64_t        size;                     /* whole region, bytes */
    region_config_t cfg;
    uint64_t        area_off[REGION_NAREAS];
    uint64_t        area_len[REGION_NAREAS];
} region_hdr_t;

/* Per-process handle. Copied into children by fork(). */
typedef struct region {
    uint8_t      *base;
    size_t        size;
    int           fd;
    region_hdr_t *hdr;
} region_t;

/*
 * Creates the region (an anonymous memfd, MAP_SHARED) sized for cfg and
 * initialises every area. Only the supervisor calls it, before forking.
 * On error nothing is left mapped or open, the reason is logged, and
 * REGION_ERROR or REGION_EINVAL (config out of range / size overflow) is
 * returned.
 */
int region_create(region_t *r, const region_config_t *cfg);

/* Unmaps and closes. The memory lives on while another process maps it. */
void region_destroy(region_t *r);

/* Checks a mapping's header (magic, layout version, sizes): REGION_OK or
 * REGION_EINVAL. For processes that attach rather than inherit. */
int region_check(const region_t *r);

static inline void *region_area(const region_t *r, region_area_t a)
{
    return r->base + r->hdr->area_off[a];
}

static inline void *region_at(const region_t *r, uint64_t off)
{
    return r->base + off;
}

static inline uint64_t region_off(const region_t *r, const void *p)
{
    return (uint64_t)((const uint8_t *)p - r->base);
}

/* size rounded up to REGION_ALIGN; 0 on overflow. */
static inline uint64_t region_align(uint64_t size)
{
    return size > UINT64_MAX - (REGION_ALIGN - 1)
               ? 0 : (size + REGION_ALIGN - 1) & ~(uint64_t)(REGION_ALIGN - 1);
}

#endif
