/*
 * deck.c -- building and reading a plan's deck block (see deck.h).
 *
 * The builder keeps the rows in one array, sorts them by (prefix, period,
 * eff_from) at finish, and turns each run of one prefix into a group whose
 * index is the trie value. Overlapping effective ranges of one prefix and
 * period are refused: two rates in force at once would make rating depend
 * on row order.
 *
 * NOTES
 * - The check word of an entry mixes the deck version in, so an entry read
 *   from a reclaimed and reused block (a newer version) fails verification
 *   just like one read from poisoned memory.
 * - Lookups read the group's rows linearly: a prefix has a handful of rows
 *   (periods times future-dated changes), far fewer than a cache line's
 *   worth of binary search would save.
 */
#include "shm/deck.h"
#include "shm/trie.h"

#include <stdlib.h>
#include <string.h>

typedef struct deck_brow {
    char          prefix[DECK_MAX_PREFIX + 1];
    uint8_t       len;
    uint16_t      period;
    uint32_t      zone;
    int64_t       rate_id, eff_from, eff_to;
    rate_tariff_t tariff;
} deck_brow_t;

/* A prefix while building: its rows and where its record goes. */
typedef struct deck_bgroup {
    uint32_t first, n;             /* rows[first .. first+n) */
    uint32_t unit, parent;         /* record unit, parent's unit */
} deck_bgroup_t;

struct deck_builder {
    int64_t        plan_id;
    uint64_t       version;
    deck_zone_t   *zones;
    uint32_t       nzones, capzones;
    int            zones_sorted;
    deck_brow_t   *rows;
    size_t         nrows, caprows;
    uint32_t       ngroups;
    deck_bgroup_t *groups;         /* built at finish */
    uint64_t       units;          /* record units in all */
    trie_builder_t *trie;
    size_t         size;           /* final block size, 0 until finish */
};

/* Units of a record of n rows. */
static uint64_t deck_rec_units(uint64_t n)
{
    return (sizeof(deck_group_t) + n * sizeof(deck_entry_t)
            + DECK_REC_UNIT - 1) / DECK_REC_UNIT;
}

static uint64_t deck_mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 29);
}

static uint64_t deck_entry_sum(uint64_t version, const deck_entry_t *e)
{
    uint64_t h = deck_mix(0x41504f4c4f, version);
    h = deck_mix(h, (uint64_t)e->eff_from);
    h = deck_mix(h, (uint64_t)e->eff_to);
    h = deck_mix(h, (uint64_t)e->rate_id);
    h = deck_mix(h, (uint64_t)e->tariff.per_minute);
    h = deck_mix(h, (uint64_t)e->tariff.connect_fee);
    h = deck_mix(h, (uint64_t)e->tariff.first_inc << 32 | e->tariff.next_inc);
    h = deck_mix(h, (uint64_t)e->tariff.min_sec << 32 | e->tariff.grace_sec);
    return deck_mix(h, (uint64_t)e->zone << 16 | e->period);
}

deck_builder_t *deck_builder_new(int64_t plan_id, uint64_t version)
{
    deck_builder_t *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->plan_id = plan_id;
    b->version = version;
    b->trie = trie_builder_new();
    if (b->trie == NULL) {
        free(b);
        return NULL;
    }
    return b;
}

void deck_builder_free(deck_builder_t *b)
{
    if (b == NULL)
        return;
    trie_builder_free(b->trie);
    free(b->zones);
    free(b->rows);
    free(b->groups);
    free(b);
}

static int deck_zone_cmp(const void *a, const void *b)
{
    int64_t x = ((const deck_zone_t *)a)->id, y = ((const deck_zone_t *)b)->id;
    return (x > y) - (x < y);
}

int deck_builder_zone(deck_builder_t *b, int64_t id, const char *name,
                      int32_t min_auth_level)
{
    if (b->size != 0 || name == NULL)
        return DECK_EINVAL;
    if (b->nzones == b->capzones) {
        uint32_t cap = b->capzones ? b->capzones * 2 : 64;
        deck_zone_t *z = realloc(b->zones, cap * sizeof *z);
        if (z == NULL)
            return DECK_ENOMEM;
        b->zones = z;
        b->capzones = cap;
    }
    deck_zone_t *z = &b->zones[b->nzones++];
    memset(z, 0, sizeof *z);
    z->id = id;
    z->min_auth_level = min_auth_level;
    strncpy(z->name, name, DECK_ZONE_NAME);
    b->zones_sorted = 0;
    return DECK_OK;
}

static int deck_zone_index(deck_builder_t *b, int64_t id, uint32_t *idx)
{
    if (!b->zones_sorted) {
        qsort(b->zones, b->nzones, sizeof *b->zones, deck_zone_cmp);
        for (uint32_t i = 1; i < b->nzones; i++)
            if (b->zones[i].id == b->zones[i - 1].id)
                return DECK_EINVAL;
        b->zones_sorted = 1;
    }
    deck_zone_t key = { .id = id };
    deck_zone_t *z = bsearch(&key, b->zones, b->nzones, sizeof key,
                             deck_zone_cmp);
    if (z == NULL)
        return DECK_EINVAL;
    *idx = (uint32_t)(z - b->zones);
    return DECK_OK;
}

static int deck_prefix_ok(const char *p, size_t *len)
{
    size_t n = 0;
    for (; p[n] != '\0'; n++)
        if (p[n] < '0' || p[n] > '9' || n >= DECK_MAX_PREFIX)
            return 0;
    *len = n;
    return n > 0;
}

int deck_builder_row(deck_builder_t *b, const deck_row_t *row)
{
    size_t len;
    uint32_t zone;

    if (b->size != 0 || row->prefix == NULL || !deck_prefix_ok(row->prefix, &len)
        || rate_tariff_check(&row->tariff) != RATE_OK
        || row->eff_from >= row->eff_to
        || deck_zone_index(b, row->zone_id, &zone) != DECK_OK)
        return DECK_EINVAL;
    if (b->nrows == b->caprows) {
        size_t cap = b->caprows ? b->caprows * 2 : 1024;
        deck_brow_t *r = realloc(b->rows, cap * sizeof *r);
        if (r == NULL)
            return DECK_ENOMEM;
        b->rows = r;
        b->caprows = cap;
    }
    deck_brow_t *r = &b->rows[b->nrows++];
    memset(r, 0, sizeof *r);
    memcpy(r->prefix, row->prefix, len);
    r->len = (uint8_t)len;
    r->period = row->period;
    r->zone = zone;
    r->rate_id = row->rate_id;
    r->eff_from = row->eff_from;
    r->eff_to = row->eff_to;
    r->tariff = row->tariff;
    return DECK_OK;
}

static int deck_brow_cmp(const void *a, const void *b)
{
    const deck_brow_t *x = a, *y = b;
    int c = strcmp(x->prefix, y->prefix);
    if (c != 0)
        return c;
    if (x->period != y->period)
        return x->period < y->period ? -1 : 1;
    return (x->eff_from > y->eff_from) - (x->eff_from < y->eff_from);
}

/* Counts the groups and checks the rows of each: no overlap in a period,
 * no more periods than a match can carry. */
static int deck_scan_groups(deck_builder_t *b)
{
    uint32_t nper = 0;
    b->ngroups = 0;
    for (size_t i = 0; i < b->nrows; i++) {
        const deck_brow_t *r = &b->rows[i], *p = i ? &b->rows[i - 1] : NULL;
        int same_prefix = p != NULL && strcmp(p->prefix, r->prefix) == 0;
        if (!same_prefix) {
            b->ngroups++;
            nper = 1;
        } else if (p->period != r->period) {
            if (++nper > DECK_MAX_PERIODS)
                return DECK_EINVAL;
        } else if (p->eff_to > r->eff_from) {
            return DECK_EOVERLAP;
        }
    }
    return DECK_OK;
}

/* Groups the sorted rows by prefix, places each record, and fills the
 * trie (value = record unit) and the parent links. */
static int deck_build_groups(deck_builder_t *b)
{
    b->groups = calloc(b->ngroups ? b->ngroups : 1, sizeof *b->groups);
    if (b->groups == NULL)
        return DECK_ENOMEM;
    uint32_t g = UINT32_MAX;
    for (size_t i = 0; i < b->nrows; i++) {
        if (g == UINT32_MAX
            || strcmp(b->rows[b->groups[g].first].prefix, b->rows[i].prefix)) {
            g = g == UINT32_MAX ? 0 : g + 1;
            b->groups[g].first = (uint32_t)i;
        }
        b->groups[g].n++;
    }
    b->units = 0;
    for (g = 0; g < b->ngroups; g++) {
        const deck_brow_t *r = &b->rows[b->groups[g].first];
        b->groups[g].unit = (uint32_t)b->units;
        b->units += deck_rec_units(b->groups[g].n);
        if (b->units >= TRIE_NONE)
            return DECK_EINVAL;
        int rc = trie_builder_add(b->trie, r->prefix, r->len,
                                  b->groups[g].unit);
        if (rc != TRIE_OK)
            return rc == TRIE_ENOMEM ? DECK_ENOMEM : DECK_EINVAL;
    }
    uint32_t *parent = malloc((b->units ? b->units : 1) * sizeof *parent);
    if (parent == NULL)
        return DECK_ENOMEM;
    int rc = trie_builder_parents(b->trie, parent, b->units);
    for (g = 0; rc == TRIE_OK && g < b->ngroups; g++)
        b->groups[g].parent = parent[b->groups[g].unit];
    free(parent);
    return rc == TRIE_OK ? DECK_OK : DECK_EINVAL;
}

static size_t deck_layout(const deck_builder_t *b, deck_hdr_t *h)
{
    size_t off = (sizeof(deck_hdr_t) + 63) & ~(size_t)63;
    h->zones_off = off;
    off += ((size_t)b->nzones * sizeof(deck_zone_t) + 63) & ~(size_t)63;
    h->recs_off = off;
    h->recs_units = b->units;
    off += b->units * DECK_REC_UNIT;
    h->trie_off = off;
    return off + trie_builder_image_size(b->trie);
}

int deck_builder_finish(deck_builder_t *b)
{
    deck_hdr_t h;
    uint32_t z;
    int rc;

    if (b->size != 0 || b->nrows > UINT32_MAX)
        return DECK_EINVAL;
    if (b->nzones > 0 && (rc = deck_zone_index(b, b->zones[0].id, &z)))
        return rc;                     /* sorts, refuses duplicate zone ids */
    if (b->nrows > 0)                  /* an empty deck has no array */
        qsort(b->rows, b->nrows, sizeof *b->rows, deck_brow_cmp);
    if ((rc = deck_scan_groups(b)) != DECK_OK
        || (rc = deck_build_groups(b)) != DECK_OK)
        return rc;
    memset(&h, 0, sizeof h);
    b->size = deck_layout(b, &h);
    return DECK_OK;
}

size_t deck_builder_size(const deck_builder_t *b)
{
    return b->size;
}

static void deck_emit_record(const deck_builder_t *b, const deck_bgroup_t *bg,
                             uint8_t *recs)
{
    deck_group_t *g = (deck_group_t *)(recs + (uint64_t)bg->unit
                                       * DECK_REC_UNIT);
    deck_entry_t *e = (deck_entry_t *)(g + 1);
    const deck_brow_t *r = &b->rows[bg->first];
    memset(g, 0, deck_rec_units(bg->n) * DECK_REC_UNIT);
    g->n = bg->n;
    g->parent = bg->parent;
    g->len = r->len;
    memcpy(g->prefix, r->prefix, r->len);
    for (uint32_t i = 0; i < bg->n; i++, r++) {
        e[i].eff_from = r->eff_from;
        e[i].eff_to = r->eff_to;
        e[i].rate_id = r->rate_id;
        e[i].tariff = r->tariff;
        e[i].zone = r->zone;
        e[i].period = r->period;
        e[i].check = deck_entry_sum(b->version, &e[i]);
    }
}

int deck_builder_emit(const deck_builder_t *b, void *dst, size_t size)
{
    deck_hdr_t *h = dst;
    if (b->size == 0 || size < b->size || ((uintptr_t)dst & 63) != 0)
        return DECK_EINVAL;
    memset(h, 0, sizeof *h);
    deck_layout(b, h);
    h->magic = DECK_MAGIC;
    h->size = b->size;
    h->plan_id = b->plan_id;
    h->version = b->version;
    h->ngroups = b->ngroups;
    h->nentries = (uint32_t)b->nrows;
    h->nzones = b->nzones;
    if (b->nzones > 0)          /* memcpy from NULL is undefined, even of 0 */
        memcpy((uint8_t *)dst + h->zones_off, b->zones,
               b->nzones * sizeof *b->zones);
    for (uint32_t g = 0; g < b->ngroups; g++)
        deck_emit_record(b, &b->groups[g], (uint8_t *)dst + h->recs_off);
    return trie_builder_emit(b->trie, (uint8_t *)dst + h->trie_off,
                             b->size - h->trie_off) == TRIE_OK
               ? DECK_OK : DECK_EINVAL;
}

/* Collects the rows of record g in force at `at`, one per period. */
static uint32_t deck_in_force(const deck_group_t *g, int64_t at,
                              deck_match_t *m)
{
    const deck_entry_t *e = deck_rows(g);
    uint32_t n = 0;
    for (uint32_t i = 0; i < g->n && n < DECK_MAX_PERIODS; i++)
        if (e[i].eff_from <= at && at < e[i].eff_to)
            m->rows[n++] = &e[i];
    return n;
}

int deck_lookup(const deck_hdr_t *d, const char *digits, size_t len,
                int64_t at, deck_match_t *m)
{
    uint32_t u = trie_lookup((const uint8_t *)d + d->trie_off, digits, len,
                             NULL);
    m->deck = d;
    m->nrows = 0;
    while (u != TRIE_NONE) {
        const deck_group_t *g = deck_record(d, u);
        m->nrows = deck_in_force(g, at, m);
        if (m->nrows > 0) {
            m->group = g;
            m->zone = &deck_zones(d)[m->rows[0]->zone];
            return DECK_OK;
        }
        u = g->parent;
    }
    m->group = NULL;
    m->zone = NULL;
    return DECK_ENOMATCH;
}

int deck_entry_verify(const deck_hdr_t *d, const deck_entry_t *e)
{
    return e->check == deck_entry_sum(d->version, e);
}

/* Walks the records in order: each whole, its rows verified; marks where
 * records start so that parent links can be checked. */
static int deck_check_records(const deck_hdr_t *d, uint8_t *start)
{
    uint64_t ngroups = 0, nentries = 0;
    for (uint64_t u = 0; u < d->recs_units;) {
        const deck_group_t *g = deck_record(d, (uint32_t)u);
        if (g->n == 0 || g->len == 0 || g->len > DECK_MAX_PREFIX
            || deck_rec_units(g->n) > d->recs_units - u)
            return DECK_ECORRUPT;
        const deck_entry_t *e = deck_rows(g);
        for (uint32_t i = 0; i < g->n; i++)
            if (e[i].zone >= d->nzones || !deck_entry_verify(d, &e[i]))
                return DECK_ECORRUPT;
        start[u] = 1;
        ngroups++;
        nentries += g->n;
        u += deck_rec_units(g->n);
    }
    return ngroups == d->ngroups && nentries == d->nentries ? DECK_OK
                                                           : DECK_ECORRUPT;
}

int deck_check(const deck_hdr_t *d, size_t size)
{
    if (size < sizeof *d || d->magic != DECK_MAGIC || d->size > size
        || d->zones_off > d->size || d->recs_off > d->size
        || d->trie_off > d->size
        || (d->size - d->zones_off) / sizeof(deck_zone_t) < d->nzones
        || (d->size - d->recs_off) / DECK_REC_UNIT < d->recs_units
        || d->recs_units >= TRIE_NONE)
        return DECK_ECORRUPT;
    uint8_t *start = calloc(d->recs_units + 1, 1);
    if (start == NULL)
        return DECK_ENOMEM;
    int rc = deck_check_records(d, start);
    for (uint64_t u = 0; rc == DECK_OK && u < d->recs_units; u++) {
        uint32_t p = start[u] ? deck_record(d, (uint32_t)u)->parent : TRIE_NONE;
        if (p != TRIE_NONE && (p >= d->recs_units || !start[p]))
            rc = DECK_ECORRUPT;
    }
    free(start);
    if (rc == DECK_OK
        && (trie_image_check((const uint8_t *)d + d->trie_off,
                             d->size - d->trie_off) != TRIE_OK
            || trie_image_count((const uint8_t *)d + d->trie_off)
               != d->ngroups))
        rc = DECK_ECORRUPT;
    return rc;
}
