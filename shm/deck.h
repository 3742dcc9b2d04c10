/*
 * deck.h -- one published version of one rate plan's deck.
 *
 * A deck is one contiguous, position-independent block in the region heap:
 *
 *   +--------+--------+-----------------------------------+-------------+
 *   | header | zones  | records: one per prefix, 64-byte  | trie image  |
 *   |        |        | aligned: group header + its rows  | (trie.h)    |
 *   +--------+--------+-----------------------------------+-------------+
 *
 * The trie maps a normalised number to the record of its longest prefix
 * (its value is the record's offset in 64-byte units), and the record holds
 * the prefix and its rows side by side, so that a lookup past the trie
 * touches one pair of adjacent cache lines, not a group here and its rows
 * there. A record holds every rate row of that prefix: one per time-of-day
 * period
 * (period 0 = all times) and effective range. Rating uses the rows in force
 * at the call's start; when the longest prefix has none (closed, or not yet
 * in force), the lookup falls back to the next shorter prefix of the deck
 * (group.parent), as a carrier expects of a prefix that was closed.
 *
 * The supervisor builds a deck in private memory (deck_builder_*), copies it
 * into a heap block and publishes it through the catalog (catalog.h). Once
 * published a block never changes until it is reclaimed. Every entry
 * carries a check word derived from the deck version and its own fields,
 * so a reader can verify that what it read is whole and current
 * (deck_entry_verify): the torture tests do, and a debug build could.
 */
#ifndef APOLO_DECK_H
#define APOLO_DECK_H

#include "shm/money.h"
#include "shm/rate.h"

#include <stddef.h>
#include <stdint.h>

#define DECK_MAGIC        0x4b45444f4c4f5041ULL   /* "APOLODEK" */
#define DECK_MAX_PREFIX   20
#define DECK_ZONE_NAME    48
#define DECK_EFF_OPEN     INT64_MAX               /* effective_to unset */
#define DECK_MAX_PERIODS  8      /* distinct periods one prefix may price */

enum {
    DECK_OK = 0,
    DECK_ENOMATCH = -1,      /* no prefix with a rate in force */
    DECK_EINVAL = -2,        /* bad row: prefix, tariff, dates, zone */
    DECK_ENOMEM = -3,
    DECK_EOVERLAP = -4,      /* two rows of a prefix and period overlap */
    DECK_ECORRUPT = -5       /* an image fails its checks */
};

typedef struct deck_hdr {
    uint64_t magic;
    uint64_t size;            /* bytes of the whole block */
    int64_t  plan_id;
    uint64_t version;         /* deck_versions.version */
    uint32_t ngroups, nentries, nzones, pad;
    uint64_t zones_off, recs_off, recs_units, trie_off;  /* from block */
} deck_hdr_t;

#define DECK_REC_UNIT 64          /* records are aligned to and sized in */

typedef struct deck_zone {
    int64_t id;
    int32_t min_auth_level;
    char    name[DECK_ZONE_NAME + 4];
} deck_zone_t;

/* The head of a record; its n rows follow it directly. */
typedef struct deck_group {
    uint32_t n;               /* rows of this prefix, >= 1 */
    uint32_t parent;          /* record (unit) of the next shorter prefix
                                 of the deck, or TRIE_NONE */
    uint8_t  len;
    char     prefix[DECK_MAX_PREFIX + 1];
    uint8_t  pad[2];
} deck_group_t;

typedef struct deck_entry {
    int64_t       eff_from;   /* UTC epoch seconds, in force from */
    int64_t       eff_to;     /* until (exclusive), DECK_EFF_OPEN if open */
    int64_t       rate_id;    /* rates.id */
    rate_tariff_t tariff;
    uint32_t      zone;       /* index into the zones */
    uint16_t      period;     /* rate_periods.id, 0 = all times */
    uint16_t      pad;
    uint64_t      check;      /* deck_entry_verify */
} deck_entry_t;

/* A row as the loader hands it to the builder. */
typedef struct deck_row {
    const char   *prefix;     /* digits only */
    int64_t       rate_id;
    int64_t       zone_id;
    uint16_t      period;
    rate_tariff_t tariff;
    int64_t       eff_from, eff_to;
} deck_row_t;

/* What a lookup found: the group and the rows in force at the given time,
 * one per period. Pointers into the deck: valid until the reader's next
 * quiescent point. */
typedef struct deck_match {
    const deck_hdr_t   *deck;
    const deck_group_t *group;
    const deck_zone_t  *zone;    /* zone of the first row in force */
    const deck_entry_t *rows[DECK_MAX_PERIODS];
    uint32_t            nrows;
} deck_match_t;

/* ---- builder: supervisor only, private memory ------------------------- */

typedef struct deck_builder deck_builder_t;

deck_builder_t *deck_builder_new(int64_t plan_id, uint64_t version);
void deck_builder_free(deck_builder_t *b);

/* Zones first (any order); a row naming an unknown zone is DECK_EINVAL. */
int deck_builder_zone(deck_builder_t *b, int64_t id, const char *name,
                      int32_t min_auth_level);
/* Adds a row. DECK_EINVAL (bad prefix, tariff, eff_from >= eff_to, unknown
 * zone), DECK_ENOMEM. The builder is unchanged on error. */
int deck_builder_row(deck_builder_t *b, const deck_row_t *row);
/* Sorts, checks overlaps (DECK_EOVERLAP names nothing: the loader has the
 * rows), builds the trie; then deck_builder_size() is final. */
int deck_builder_finish(deck_builder_t *b);
size_t deck_builder_size(const deck_builder_t *b);
/* Writes the block (64-byte aligned dst of at least size bytes). */
int deck_builder_emit(const deck_builder_t *b, void *dst, size_t size);

/* ---- readers: any process, lock-free, pure ---------------------------- */

/* Longest prefix of digits[0..len) with a row in force at `at` (UTC). */
int deck_lookup(const deck_hdr_t *d, const char *digits, size_t len,
                int64_t at, deck_match_t *m);

/* 1 if the entry is whole and belongs to deck d's version. */
int deck_entry_verify(const deck_hdr_t *d, const deck_entry_t *e);

/* Full structural check of a block (header, bounds, trie): DECK_OK or
 * DECK_ECORRUPT. Linear in the deck; for adoption and tests. */
int deck_check(const deck_hdr_t *d, size_t size);

static inline const deck_group_t *deck_record(const deck_hdr_t *d,
                                              uint32_t unit)
{
    return (const deck_group_t *)((const uint8_t *)d + d->recs_off
                                  + (uint64_t)unit * DECK_REC_UNIT);
}

static inline const deck_entry_t *deck_rows(const deck_group_t *g)
{
    return (const deck_entry_t *)(g + 1);
}

static inline const deck_zone_t *deck_zones(const deck_hdr_t *d)
{
    return (const deck_zone_t *)((const uint8_t *)d + d->zones_off);
}

#endif
