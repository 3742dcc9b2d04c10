/*
 * region.c -- creation and layout of the shared region (see region.h).
 *
 * The layout is computed in one function from the sizes each module
 * declares, every step overflow-checked, then each area is initialised in
 * order. The memory is a memfd rather than a named POSIX object: nothing
 * is left behind in /dev/shm when the supervisor dies, and the fd can be
 * handed to a tool that wants to inspect a live region.
 *
 * NOTES: the pages of an anonymous memfd are allocated on first touch, so a
 * large heap costs nothing until versions are published into it.
 */
#include "shm/region.h"
#include "shm/account.h"
#include "shm/catalog.h"
#include "shm/log.h"
#include "shm/qsbr.h"
#include "shm/stats.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Adds an area of len bytes at the aligned end of *size. 0 on overflow. */
static int region_place(uint64_t *size, uint64_t len, uint64_t *off,
                        uint64_t *area_len)
{
    uint64_t at = region_align(*size), alen = region_align(len);
    if (at == 0 || alen == 0 || at > UINT64_MAX - alen)
        return 0;
    *off = at;
    *area_len = alen;
    *size = at + alen;
    return 1;
}

static int region_layout(region_hdr_t *h, const region_config_t *cfg)
{
    uint64_t len[REGION_NAREAS], size = sizeof(region_hdr_t);

    len[REGION_AREA_QSBR] = qsbr_shm_size(cfg->max_readers);
    len[REGION_AREA_ACCOUNTS] = acct_shm_size(cfg->max_accounts);
    len[REGION_AREA_ROOT] = cat_root_shm_size();
    len[REGION_AREA_STATS] = stats_shm_size(cfg->max_readers);
    len[REGION_AREA_HEAP] = cfg->heap_bytes;
    for (int a = 0; a < REGION_NAREAS; a++)
        if (!region_place(&size, len[a], &h->area_off[a], &h->area_len[a]))
            return REGION_EINVAL;
    h->size = size;
    return REGION_OK;
}

int region_create(region_t *r, const region_config_t *cfg)
{
    region_hdr_t h;

    memset(r, 0, sizeof *r);
    r->fd = -1;
    if (cfg->max_readers == 0 || cfg->max_accounts == 0
        || cfg->heap_bytes < REGION_ALIGN) {
        LOG_ERROR("region", 0, "invalid configuration: readers=%u accounts=%u "
                  "heap=%llu", cfg->max_readers, cfg->max_accounts,
                  (unsigned long long)cfg->heap_bytes);
        return REGION_EINVAL;
    }
    memset(&h, 0, sizeof h);
    if (region_layout(&h, cfg) != REGION_OK || h.size > (uint64_t)SIZE_MAX) {
        LOG_ERROR("region", 0, "region size overflows");
        return REGION_EINVAL;
    }
    h.magic = REGION_MAGIC;
    h.layout_version = REGION_LAYOUT_VERSION;
    h.hdr_size = sizeof h;
    h.cfg = *cfg;

    r->fd = memfd_create("apolo-region", MFD_CLOEXEC);
    if (r->fd < 0) {
        LOG_ERROR("region", errno, "memfd_create() failed");
        return REGION_ERROR;
    }
    if (ftruncate(r->fd, (off_t)h.size) != 0) {
        LOG_ERROR("region", errno, "ftruncate(%llu) failed",
                  (unsigned long long)h.size);
        close(r->fd);
        return REGION_ERROR;
    }
    void *p = mmap(NULL, h.size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
    if (p == MAP_FAILED) {
        LOG_ERROR("region", errno, "mmap(%llu) failed",
                  (unsigned long long)h.size);
        close(r->fd);
        return REGION_ERROR;
    }
    /* Decks are read at random: 2 MB pages save a page walk per lookup
     * (about 1.6x here). Takes effect where the administrator allows huge
     * pages on shared memory (transparent_hugepage/shmem_enabled=advise);
     * elsewhere it is a no-op, so its failure is not an error. */
    (void)madvise(p, h.size, MADV_HUGEPAGE);
    r->base = p;
    r->size = h.size;
    r->hdr = p;
    *r->hdr = h;
    qsbr_shm_init(region_area(r, REGION_AREA_QSBR), cfg->max_readers);
    acct_shm_init(region_area(r, REGION_AREA_ACCOUNTS), cfg->max_accounts);
    cat_root_shm_init(region_area(r, REGION_AREA_ROOT));
    stats_shm_init(region_area(r, REGION_AREA_STATS), cfg->max_readers);
    return REGION_OK;
}

void region_destroy(region_t *r)
{
    if (r->base != NULL)
        munmap(r->base, r->size);
    if (r->fd >= 0)
        close(r->fd);
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

int region_check(const region_t *r)
{
    const region_hdr_t *h = r->hdr;
    if (r->size < sizeof *h || h->magic != REGION_MAGIC
        || h->layout_version != REGION_LAYOUT_VERSION
        || h->hdr_size != sizeof *h || h->size != r->size)
        return REGION_EINVAL;
    for (int a = 0; a < REGION_NAREAS; a++)
        if (h->area_off[a] > h->size || h->area_len[a] > h->size - h->area_off[a])
            return REGION_EINVAL;
    return REGION_OK;
}
