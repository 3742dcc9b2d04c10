/*
 * catalog.h -- the published view of the configuration: rate plans and
 * their decks, and the indexes that map accounts and extensions to their
 * balance slots.
 *
 * One root word in the region holds the offset of the current catalog
 * block. The supervisor builds a complete new catalog beside the old one,
 * stores the new offset (release), and retires the old block after a grace
 * period (publish.h). Decks are separate blocks that catalogs refer to by
 * offset, so changing one account does not copy a million-prefix deck, and
 * publishing a new deck copies only the small catalog.
 *
 *   root --> catalog v7 --+--> plan 1 --> deck block (plan 1, deck v3)
 *                         +--> plan 2 --> deck block (plan 2, deck v9)
 *                         +--> account index (id, code -> slot)
 *                         +--> extension index (number -> slot, ext id)
 *                         `--> FAC index (name, code hash -> FAC)
 *
 * Readers: cat_current() inside a QSBR critical section (qsbr.h) gives a
 * snapshot that stays whole until the reader's next quiescent point; every
 * pointer derived from it has the same lifetime. Lookups are lock-free and
 * allocate nothing.
 */
#ifndef APOLO_CATALOG_H
#define APOLO_CATALOG_H

#include "shm/deck.h"
#include "shm/money.h"
#include "shm/number.h"
#include "shm/rate.h"
#include "shm/region.h"
#include "shm/tz.h"

#include <stddef.h>
#include <stdint.h>

#define CAT_MAGIC      0x5441434f4c4f5041ULL   /* "APOLOCAT" */
#define CAT_NAME       48
#define CAT_KEY        40       /* account codes and extension numbers */
#define CAT_MAX_RULES  16
#define CAT_MAX_WINDOWS 64

enum {
    CAT_OK = 0,
    CAT_ENOTFOUND = -1,
    CAT_EINVAL = -2,
    CAT_ENOMEM = -3,
    CAT_EEXIST = -4
};

/* The root area: the current catalog. */
typedef struct cat_root_shm {
    uint64_t cur;             /* region offset of the catalog, 0 = none */
    uint8_t  pad[56];
} cat_root_shm_t;

typedef struct cat_plan {
    int64_t       id;
    uint64_t      deck_off;       /* region offset of its deck, 0 = none */
    uint64_t      deck_version;
    uint64_t      tz_off;         /* catalog-relative tz_table_t */
    uint64_t      windows_off;    /* catalog-relative rate_window_t[] */
    uint32_t      nwindows;
    uint32_t      nrules;
    number_rule_t rules[CAT_MAX_RULES];
    uint8_t       rounding;       /* money_round_t */
    char          currency[4];
    char          name[CAT_NAME];
} cat_plan_t;

typedef struct cat_ext {
    char     number[CAT_KEY];
    int64_t  id;                  /* extensions.id */
    uint32_t acct_slot;
    uint8_t  active;
    uint8_t  pad[3];
} cat_ext_t;

typedef struct cat_acct {
    char     code[CAT_KEY];
    int64_t  id;
    uint32_t slot;
    uint32_t pad;
} cat_acct_t;

/* A Forced Authorization Code (fac_codes): found by its name as CUCM
 * writes it in a CDR (authCodeDescription; names are unique whatever
 * their case, so the index is of the lower-cased name) or by the hash of
 * the code dialled (HMAC-SHA256 with fac.secret, hex: the database never
 * holds the code). */
#define CAT_FAC_NAME   51       /* CUCM's 50, NUL */
#define CAT_FAC_HASH   65       /* 64 hex digits, NUL */

typedef struct cat_fac {
    char     name[CAT_FAC_NAME + 1];   /* lower case */
    char     code_hash[CAT_FAC_HASH];  /* "" when the code is unknown */
    uint8_t  active;
    uint8_t  pad[2];
    int32_t  level;                    /* authorization_level */
    uint32_t acct_slot;                /* UINT32_MAX: the caller's account */
    int64_t  id;
} cat_fac_t;

typedef struct cat_hdr {
    uint64_t magic;
    uint64_t size;
    uint64_t version;             /* grows with every publication */
    uint32_t nplans, nexts, naccts, pad;
    uint32_t plan_mask, ext_mask, acct_mask, code_mask;   /* hash sizes - 1 */
    uint64_t plans_off;           /* cat_plan_t[nplans] */
    uint64_t plan_hash_off;       /* uint32 index+1 by plan id */
    uint64_t exts_off, ext_hash_off;
    uint64_t accts_off, acct_hash_off, code_hash_off;
    uint32_t nfacs, fac_mask;     /* both FAC indexes share the mask */
    uint64_t facs_off, fac_name_hash_off, fac_code_hash_off;
} cat_hdr_t;

uint64_t cat_root_shm_size(void);
void     cat_root_shm_init(cat_root_shm_t *root);

/* ---- readers ----------------------------------------------------------- */

/* The current catalog or NULL; the caller is online (qsbr.h). */
const cat_hdr_t *cat_current(const region_t *r);

const cat_plan_t *cat_plan(const cat_hdr_t *c, int64_t plan_id);
const deck_hdr_t *cat_deck(const region_t *r, const cat_plan_t *p);
const tz_table_t *cat_plan_tz(const cat_hdr_t *c, const cat_plan_t *p);
const rate_window_t *cat_plan_windows(const cat_hdr_t *c, const cat_plan_t *p);

const cat_acct_t *cat_account(const cat_hdr_t *c, int64_t id);
const cat_acct_t *cat_account_by_code(const cat_hdr_t *c, const char *code);
const cat_ext_t  *cat_extension(const cat_hdr_t *c, const char *number,
                                size_t len);
/* By name, in any case; by the hex hash of its code. NULL: none. */
const cat_fac_t  *cat_fac_by_name(const cat_hdr_t *c, const char *name);
const cat_fac_t  *cat_fac_by_code_hash(const cat_hdr_t *c, const char *hex);

/* The stored form of a FAC code, the key of that index: HMAC-SHA256 keyed
 * with the bytes of secret (fac.secret), over the code's digits, lowercase
 * hex. Deterministic, so that the admin API storing a code and the CUCM
 * worker finding one in a CDR (authorizationCodeValue) meet on the same
 * value. 0, or -1 (secret empty). */
int cat_fac_code_hash(const char *secret, const char *code,
                      char out[CAT_FAC_HASH]);

/* ---- builder: supervisor only, private memory -------------------------- */

typedef struct cat_builder cat_builder_t;

typedef struct cat_plan_in {
    int64_t              id;
    const char          *name, *currency, *time_zone, *number_rules;
    money_round_t        rounding;
    const rate_window_t *windows;
    uint32_t             nwindows;
    uint64_t             deck_off, deck_version;
} cat_plan_in_t;

cat_builder_t *cat_builder_new(uint64_t version);
void cat_builder_free(cat_builder_t *b);

/* Each returns CAT_EINVAL for bad input (unknown time zone, bad rules, key
 * too long, too many windows) or CAT_EEXIST for a duplicate key, leaving
 * the builder as it was. */
int cat_builder_plan(cat_builder_t *b, const cat_plan_in_t *p);
int cat_builder_account(cat_builder_t *b, int64_t id, const char *code,
                        uint32_t slot);
int cat_builder_extension(cat_builder_t *b, const char *number, int64_t id,
                          uint32_t acct_slot, int active);
/* code_hash NULL or "": no code known (an import from CUCM). A name or a
 * code hash twice: CAT_EEXIST at emit. */
int cat_builder_fac(cat_builder_t *b, int64_t id, const char *name,
                    const char *code_hash, int32_t level, uint32_t acct_slot,
                    int active);

/* Block size, then emit into 64-aligned dst (catalog-relative offsets). */
size_t cat_builder_size(cat_builder_t *b);
int    cat_builder_emit(cat_builder_t *b, void *dst, size_t size);

#endif
