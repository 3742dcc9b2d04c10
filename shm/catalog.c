/*
 * catalog.c -- the published configuration block (see catalog.h).
 *
 * The block is a header, the arrays (plans, accounts, extensions), their
 * open-addressing hash indexes (uint32 "index + 1", 0 = empty, linear
 * probing, load <= 1/2) and the per-plan time-zone tables and windows, all
 * addressed by offsets from the block start.
 *
 * NOTES
 * - The root is read with rcu_dereference semantics (a load that orders the
 *   dependent reads after it) and written by the supervisor with a release
 *   store after the block is complete: a reader either sees the old catalog
 *   or the whole new one.
 * - The builder validates everything (zone names, rules, key lengths) so a
 *   bad configuration row fails the build, and the old catalog stays.
 */
#include "shm/catalog.h"

#include <ctype.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/pointer.h>

typedef struct cat_bplan {
    cat_plan_t     p;
    void          *tz;            /* built table, private */
    size_t         tz_len;
    rate_window_t *windows;
} cat_bplan_t;

struct cat_builder {
    uint64_t     version;
    cat_bplan_t *plans;
    cat_acct_t  *accts;
    cat_ext_t   *exts;
    cat_fac_t   *facs;
    uint32_t     nplans, capplans, naccts, capaccts, nexts, capexts;
    uint32_t     nfacs, capfacs;
};

uint64_t cat_root_shm_size(void)
{
    return sizeof(cat_root_shm_t);
}

void cat_root_shm_init(cat_root_shm_t *root)
{
    memset(root, 0, sizeof *root);
}

/* ---- hashing ----------------------------------------------------------- */

static uint64_t cat_hash_str(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ULL;
    return h ^ (h >> 32);
}

static uint64_t cat_hash_id(int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 29);
}

static uint32_t cat_mask_for(uint32_t n)
{
    uint32_t cap = 2;
    while (cap < 2 * (uint64_t)n)
        cap <<= 1;
    return cap - 1;
}

static const void *cat_at(const cat_hdr_t *c, uint64_t off)
{
    return (const uint8_t *)c + off;
}

/* ---- readers ----------------------------------------------------------- */

const cat_hdr_t *cat_current(const region_t *r)
{
    cat_root_shm_t *root = region_area(r, REGION_AREA_ROOT);
    uint64_t off = CMM_LOAD_SHARED(root->cur);
    cmm_smp_rmb();   /* pairs with the supervisor's wmb before the store */
    return off == 0 ? NULL : region_at(r, off);
}

const cat_plan_t *cat_plan(const cat_hdr_t *c, int64_t plan_id)
{
    const uint32_t *h = cat_at(c, c->plan_hash_off);
    const cat_plan_t *plans = cat_at(c, c->plans_off);
    for (uint64_t i = cat_hash_id(plan_id);; i++) {
        uint32_t v = h[i & c->plan_mask];
        if (v == 0)
            return NULL;
        if (plans[v - 1].id == plan_id)
            return &plans[v - 1];
    }
}

const deck_hdr_t *cat_deck(const region_t *r, const cat_plan_t *p)
{
    return p->deck_off == 0 ? NULL : region_at(r, p->deck_off);
}

const tz_table_t *cat_plan_tz(const cat_hdr_t *c, const cat_plan_t *p)
{
    return cat_at(c, p->tz_off);
}

const rate_window_t *cat_plan_windows(const cat_hdr_t *c, const cat_plan_t *p)
{
    return cat_at(c, p->windows_off);
}

const cat_acct_t *cat_account(const cat_hdr_t *c, int64_t id)
{
    const uint32_t *h = cat_at(c, c->acct_hash_off);
    const cat_acct_t *a = cat_at(c, c->accts_off);
    for (uint64_t i = cat_hash_id(id);; i++) {
        uint32_t v = h[i & c->acct_mask];
        if (v == 0)
            return NULL;
        if (a[v - 1].id == id)
            return &a[v - 1];
    }
}

static int cat_key_eq(const char *key, const char *s, size_t len)
{
    return len < CAT_KEY && memcmp(key, s, len) == 0 && key[len] == '\0';
}

const cat_acct_t *cat_account_by_code(const cat_hdr_t *c, const char *code)
{
    const uint32_t *h = cat_at(c, c->code_hash_off);
    const cat_acct_t *a = cat_at(c, c->accts_off);
    size_t len = strlen(code);
    for (uint64_t i = cat_hash_str(code, len);; i++) {
        uint32_t v = h[i & c->code_mask];
        if (v == 0)
            return NULL;
        if (cat_key_eq(a[v - 1].code, code, len))
            return &a[v - 1];
    }
}

const cat_ext_t *cat_extension(const cat_hdr_t *c, const char *number,
                               size_t len)
{
    const uint32_t *h = cat_at(c, c->ext_hash_off);
    const cat_ext_t *e = cat_at(c, c->exts_off);
    for (uint64_t i = cat_hash_str(number, len);; i++) {
        uint32_t v = h[i & c->ext_mask];
        if (v == 0)
            return NULL;
        if (cat_key_eq(e[v - 1].number, number, len))
            return &e[v - 1];
    }
}

/* name lower-cased into out[CAT_FAC_NAME + 1]: its length, or -1 (too
 * long or empty). ASCII only: CUCM's FAC names are. */
static int cat_fac_key(const char *name, char *out)
{
    size_t n = strlen(name);
    if (n == 0 || n > CAT_FAC_NAME)
        return -1;
    for (size_t i = 0; i <= n; i++)
        out[i] = (char)tolower((unsigned char)name[i]);
    return (int)n;
}

const cat_fac_t *cat_fac_by_name(const cat_hdr_t *c, const char *name)
{
    char key[CAT_FAC_NAME + 1];
    int n = cat_fac_key(name, key);
    if (n < 0 || c->nfacs == 0)
        return NULL;
    const uint32_t *h = cat_at(c, c->fac_name_hash_off);
    const cat_fac_t *f = cat_at(c, c->facs_off);
    for (uint64_t i = cat_hash_str(key, (size_t)n);; i++) {
        uint32_t v = h[i & c->fac_mask];
        if (v == 0)
            return NULL;
        if (strcmp(f[v - 1].name, key) == 0)
            return &f[v - 1];
    }
}

const cat_fac_t *cat_fac_by_code_hash(const cat_hdr_t *c, const char *hex)
{
    size_t n = strlen(hex);
    if (n == 0 || n >= CAT_FAC_HASH || c->nfacs == 0)
        return NULL;
    const uint32_t *h = cat_at(c, c->fac_code_hash_off);
    const cat_fac_t *f = cat_at(c, c->facs_off);
    for (uint64_t i = cat_hash_str(hex, n);; i++) {
        uint32_t v = h[i & c->fac_mask];
        if (v == 0)
            return NULL;
        if (strcmp(f[v - 1].code_hash, hex) == 0)
            return &f[v - 1];
    }
}

/* ---- builder ----------------------------------------------------------- */

cat_builder_t *cat_builder_new(uint64_t version)
{
    cat_builder_t *b = calloc(1, sizeof *b);
    if (b != NULL)
        b->version = version;
    return b;
}

void cat_builder_free(cat_builder_t *b)
{
    if (b == NULL)
        return;
    for (uint32_t i = 0; i < b->nplans; i++) {
        free(b->plans[i].tz);
        free(b->plans[i].windows);
    }
    free(b->plans);
    free(b->accts);
    free(b->exts);
    free(b->facs);
    free(b);
}

/* Makes room for one more element of size sz in *v (n used, *cap). */
static int cat_grow(void **v, uint32_t n, uint32_t *cap, size_t sz)
{
    if (n < *cap)
        return CAT_OK;
    uint32_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*v, (size_t)ncap * sz);
    if (p == NULL)
        return CAT_ENOMEM;
    *v = p;
    *cap = ncap;
    return CAT_OK;
}

static int cat_key_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n < CAT_KEY;
}

static int cat_build_tz(cat_bplan_t *bp, const char *zone)
{
    size_t size;
    if (tz_build_size(zone, 2000, 2100, &size) != TZ_OK)
        return CAT_EINVAL;
    bp->tz = aligned_alloc(64, (size + 63) & ~(size_t)63);
    if (bp->tz == NULL)
        return CAT_ENOMEM;
    if (tz_build(zone, 2000, 2100, bp->tz, size, &bp->tz_len) != TZ_OK)
        return CAT_EINVAL;
    return CAT_OK;
}

static int cat_plan_fill(cat_bplan_t *bp, const cat_plan_in_t *in)
{
    uint32_t nrules = 0;
    int rc;

    memset(bp, 0, sizeof *bp);
    if (in->id <= 0 || in->name == NULL || strlen(in->name) >= CAT_NAME
        || in->currency == NULL || strlen(in->currency) > 3
        || in->nwindows > CAT_MAX_WINDOWS)
        return CAT_EINVAL;
    bp->p.id = in->id;
    bp->p.deck_off = in->deck_off;
    bp->p.deck_version = in->deck_version;
    bp->p.rounding = (uint8_t)in->rounding;
    strcpy(bp->p.currency, in->currency);
    strcpy(bp->p.name, in->name);
    if (in->number_rules != NULL && in->number_rules[0] != '\0'
        && number_rules_parse(in->number_rules, strlen(in->number_rules),
                              bp->p.rules, CAT_MAX_RULES, &nrules,
                              NULL) != NUMBER_OK)
        return CAT_EINVAL;
    bp->p.nrules = nrules;
    bp->p.nwindows = in->nwindows;
    bp->windows = malloc((in->nwindows + 1) * sizeof *bp->windows);
    if (bp->windows == NULL)
        return CAT_ENOMEM;
    if (in->nwindows > 0)
        memcpy(bp->windows, in->windows, in->nwindows * sizeof *in->windows);
    rc = cat_build_tz(bp, in->time_zone ? in->time_zone : "UTC");
    return rc;
}

int cat_builder_plan(cat_builder_t *b, const cat_plan_in_t *in)
{
    for (uint32_t i = 0; i < b->nplans; i++)
        if (b->plans[i].p.id == in->id)
            return CAT_EEXIST;
    if (cat_grow((void **)&b->plans, b->nplans, &b->capplans,
                 sizeof *b->plans) != CAT_OK)
        return CAT_ENOMEM;
    cat_bplan_t *bp = &b->plans[b->nplans];
    int rc = cat_plan_fill(bp, in);
    if (rc != CAT_OK) {
        free(bp->tz);
        free(bp->windows);
        return rc;
    }
    b->nplans++;
    return CAT_OK;
}

int cat_builder_account(cat_builder_t *b, int64_t id, const char *code,
                        uint32_t slot)
{
    if (id <= 0 || !cat_key_ok(code))
        return CAT_EINVAL;
    if (cat_grow((void **)&b->accts, b->naccts, &b->capaccts,
                 sizeof *b->accts) != CAT_OK)
        return CAT_ENOMEM;
    cat_acct_t *a = &b->accts[b->naccts++];
    memset(a, 0, sizeof *a);
    strcpy(a->code, code);
    a->id = id;
    a->slot = slot;
    return CAT_OK;
}

int cat_builder_extension(cat_builder_t *b, const char *number, int64_t id,
                          uint32_t acct_slot, int active)
{
    if (!cat_key_ok(number))
        return CAT_EINVAL;
    if (cat_grow((void **)&b->exts, b->nexts, &b->capexts,
                 sizeof *b->exts) != CAT_OK)
        return CAT_ENOMEM;
    cat_ext_t *e = &b->exts[b->nexts++];
    memset(e, 0, sizeof *e);
    strcpy(e->number, number);
    e->id = id;
    e->acct_slot = acct_slot;
    e->active = active != 0;
    return CAT_OK;
}

int cat_builder_fac(cat_builder_t *b, int64_t id, const char *name,
                    const char *code_hash, int32_t level, uint32_t acct_slot,
                    int active)
{
    char key[CAT_FAC_NAME + 1];
    if (cat_fac_key(name, key) < 0 || level < 0
        || (code_hash != NULL && strlen(code_hash) >= CAT_FAC_HASH))
        return CAT_EINVAL;
    if (cat_grow((void **)&b->facs, b->nfacs, &b->capfacs,
                 sizeof *b->facs) != CAT_OK)
        return CAT_ENOMEM;
    cat_fac_t *f = &b->facs[b->nfacs++];
    memset(f, 0, sizeof *f);
    memcpy(f->name, key, sizeof f->name);
    if (code_hash != NULL)
        strcpy(f->code_hash, code_hash);
    f->id = id;
    f->level = level;
    f->acct_slot = acct_slot;
    f->active = active != 0;
    return CAT_OK;
}

static uint64_t cat_take(uint64_t *off, uint64_t len)
{
    uint64_t at = *off;
    *off += (len + 63) & ~(uint64_t)63;
    return at;
}

/* Computes every offset of the block into h; returns the block size. */
static size_t cat_layout(const cat_builder_t *b, cat_hdr_t *h)
{
    uint64_t off = sizeof(cat_hdr_t);
    memset(h, 0, sizeof *h);
    h->nplans = b->nplans;
    h->naccts = b->naccts;
    h->nexts = b->nexts;
    h->plan_mask = cat_mask_for(b->nplans);
    h->acct_mask = h->code_mask = cat_mask_for(b->naccts);
    h->ext_mask = cat_mask_for(b->nexts);
    h->plans_off = cat_take(&off, (uint64_t)b->nplans * sizeof(cat_plan_t));
    h->plan_hash_off = cat_take(&off, (h->plan_mask + 1ULL) * 4);
    h->accts_off = cat_take(&off, (uint64_t)b->naccts * sizeof(cat_acct_t));
    h->acct_hash_off = cat_take(&off, (h->acct_mask + 1ULL) * 4);
    h->code_hash_off = cat_take(&off, (h->code_mask + 1ULL) * 4);
    h->exts_off = cat_take(&off, (uint64_t)b->nexts * sizeof(cat_ext_t));
    h->ext_hash_off = cat_take(&off, (h->ext_mask + 1ULL) * 4);
    h->nfacs = b->nfacs;
    h->fac_mask = cat_mask_for(b->nfacs);
    h->facs_off = cat_take(&off, (uint64_t)b->nfacs * sizeof(cat_fac_t));
    h->fac_name_hash_off = cat_take(&off, (h->fac_mask + 1ULL) * 4);
    h->fac_code_hash_off = cat_take(&off, (h->fac_mask + 1ULL) * 4);
    for (uint32_t i = 0; i < b->nplans; i++) {
        off += b->plans[i].tz_len + 63 + b->plans[i].p.nwindows
               * sizeof(rate_window_t) + 63;
    }
    return off;
}

size_t cat_builder_size(cat_builder_t *b)
{
    cat_hdr_t h;
    return cat_layout(b, &h);
}

/* Inserts index i under hash hv into table t (mask); CAT_EEXIST if an equal
 * key is there (eq compares the candidate index with i). */
static int cat_hash_put(uint32_t *t, uint32_t mask, uint64_t hv, uint32_t i,
                        int (*eq)(const void *, uint32_t, uint32_t),
                        const void *arr)
{
    for (uint64_t k = hv;; k++) {
        uint32_t *s = &t[k & mask];
        if (*s == 0) {
            *s = i + 1;
            return CAT_OK;
        }
        if (eq(arr, *s - 1, i))
            return CAT_EEXIST;
    }
}

static int cat_eq_plan(const void *a, uint32_t x, uint32_t y)
{
    return ((const cat_plan_t *)a)[x].id == ((const cat_plan_t *)a)[y].id;
}

static int cat_eq_acct(const void *a, uint32_t x, uint32_t y)
{
    return ((const cat_acct_t *)a)[x].id == ((const cat_acct_t *)a)[y].id;
}

static int cat_eq_code(const void *a, uint32_t x, uint32_t y)
{
    return strcmp(((const cat_acct_t *)a)[x].code,
                  ((const cat_acct_t *)a)[y].code) == 0;
}

static int cat_eq_ext(const void *a, uint32_t x, uint32_t y)
{
    return strcmp(((const cat_ext_t *)a)[x].number,
                  ((const cat_ext_t *)a)[y].number) == 0;
}

static int cat_eq_fac_name(const void *a, uint32_t x, uint32_t y)
{
    return strcmp(((const cat_fac_t *)a)[x].name,
                  ((const cat_fac_t *)a)[y].name) == 0;
}

static int cat_eq_fac_code(const void *a, uint32_t x, uint32_t y)
{
    return strcmp(((const cat_fac_t *)a)[x].code_hash,
                  ((const cat_fac_t *)a)[y].code_hash) == 0;
}

/* Both FAC indexes (a FAC without a code is in the name index only). */
static int cat_emit_facs(cat_hdr_t *h, uint8_t *base)
{
    cat_fac_t *facs = (cat_fac_t *)(base + h->facs_off);
    int rc = CAT_OK;
    for (uint32_t i = 0; rc == CAT_OK && i < h->nfacs; i++) {
        rc = cat_hash_put((uint32_t *)(base + h->fac_name_hash_off),
                          h->fac_mask, cat_hash_str(facs[i].name,
                          strlen(facs[i].name)), i, cat_eq_fac_name, facs);
        if (rc == CAT_OK && facs[i].code_hash[0] != '\0')
            rc = cat_hash_put((uint32_t *)(base + h->fac_code_hash_off),
                              h->fac_mask, cat_hash_str(facs[i].code_hash,
                              strlen(facs[i].code_hash)), i,
                              cat_eq_fac_code, facs);
    }
    return rc;
}

static int cat_emit_indexes(cat_hdr_t *h, uint8_t *base)
{
    cat_plan_t *plans = (cat_plan_t *)(base + h->plans_off);
    cat_acct_t *accts = (cat_acct_t *)(base + h->accts_off);
    cat_ext_t *exts = (cat_ext_t *)(base + h->exts_off);
    int rc = CAT_OK;

    for (uint32_t i = 0; rc == CAT_OK && i < h->nplans; i++)
        rc = cat_hash_put((uint32_t *)(base + h->plan_hash_off), h->plan_mask,
                          cat_hash_id(plans[i].id), i, cat_eq_plan, plans);
    for (uint32_t i = 0; rc == CAT_OK && i < h->naccts; i++) {
        rc = cat_hash_put((uint32_t *)(base + h->acct_hash_off), h->acct_mask,
                          cat_hash_id(accts[i].id), i, cat_eq_acct, accts);
        if (rc == CAT_OK)
            rc = cat_hash_put((uint32_t *)(base + h->code_hash_off),
                              h->code_mask, cat_hash_str(accts[i].code,
                              strlen(accts[i].code)), i, cat_eq_code, accts);
    }
    for (uint32_t i = 0; rc == CAT_OK && i < h->nexts; i++)
        rc = cat_hash_put((uint32_t *)(base + h->ext_hash_off), h->ext_mask,
                          cat_hash_str(exts[i].number, strlen(exts[i].number)),
                          i, cat_eq_ext, exts);
    return rc == CAT_OK ? cat_emit_facs(h, base) : rc;
}

int cat_builder_emit(cat_builder_t *b, void *dst, size_t size)
{
    uint8_t *base = dst;
    cat_hdr_t h;
    size_t need = cat_layout(b, &h);

    if (size < need || ((uintptr_t)dst & 63) != 0)
        return CAT_EINVAL;
    memset(dst, 0, need);
    h.magic = CAT_MAGIC;
    h.size = need;
    h.version = b->version;
    uint64_t off = h.fac_code_hash_off
                   + (((h.fac_mask + 1ULL) * 4 + 63) & ~63ULL);
    cat_plan_t *plans = (cat_plan_t *)(base + h.plans_off);
    for (uint32_t i = 0; i < b->nplans; i++) {
        const cat_bplan_t *bp = &b->plans[i];
        plans[i] = bp->p;
        plans[i].tz_off = cat_take(&off, bp->tz_len);
        memcpy(base + plans[i].tz_off, bp->tz, bp->tz_len);
        plans[i].windows_off = cat_take(&off, bp->p.nwindows
                                        * sizeof(rate_window_t));
        memcpy(base + plans[i].windows_off, bp->windows,
               bp->p.nwindows * sizeof(rate_window_t));
    }
    if (b->naccts > 0)          /* memcpy from NULL is undefined, even of 0 */
        memcpy(base + h.accts_off, b->accts, b->naccts * sizeof *b->accts);
    if (b->nexts > 0)
        memcpy(base + h.exts_off, b->exts, b->nexts * sizeof *b->exts);
    if (b->nfacs > 0)
        memcpy(base + h.facs_off, b->facs, b->nfacs * sizeof *b->facs);
    memcpy(base, &h, sizeof h);
    return cat_emit_indexes((cat_hdr_t *)base, base);
}

int cat_fac_code_hash(const char *secret, const char *code,
                      char out[CAT_FAC_HASH])
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    if (secret == NULL || *secret == '\0')
        return -1;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret,
                                strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)code,
                                  strlen(code));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(out, CAT_FAC_HASH, mac, sizeof mac);
    sodium_memzero(&st, sizeof st);
    return 0;
}
