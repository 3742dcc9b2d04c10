/*
 * stats.h -- per-process counters in the region, so that the admin process
 * can export every worker's figures (GET /metrics, admin/api_metrics.c)
 * without asking the worker.
 *
 * One cache line (or two) per worker process, claimed by the worker's tag
 * (calls_tag(kind, index), shm/calls.h), never given back: a worker that
 * is restarted in the same place (same kind and index) claims the slot its
 * predecessor held and goes on counting from there, so every counter is
 * monotonic for the lifetime of the region (one apolod run), as Prometheus
 * counters must be. A new apolod starts from zero (a counter reset, which
 * Prometheus handles).
 *
 *   area: | hdr | slot 0 (tag esl-1) | slot 1 (tag esl-2) | free ... |
 *
 * Writers: only the process holding the tag writes its slot's counters, with
 * relaxed atomic adds (STATS_INC/STATS_ADD: no fence, no lock: a few ns on
 * the rating path). Readers (any process) read each field atomically and
 * lock-free; a snapshot of a slot is not a consistent cut across fields
 * (authorized may already count a call whose CDR is not yet counted), each
 * field is exact on its own.
 */
#ifndef APOLO_STATS_H
#define APOLO_STATS_H

#include <stdint.h>
#include <urcu/uatomic.h>

#define STATS_MAGIC 0x5453544154534f50ULL   /* "POSTATST" */

/* Upper bounds (us) of the verdict latency histogram's buckets; the last
 * bucket, past them, counts the rest (Prometheus' le="+Inf"). */
#define STATS_VERDICT_BOUNDS_US \
    50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, \
    10000, 20000, 50000, 100000
#define STATS_VERDICT_NB 17          /* the bounds above + 1 */
extern const uint32_t stats_verdict_bounds_us[STATS_VERDICT_NB - 1];

typedef struct stats_slot {
    uint32_t tag;              /* claim word: calls_tag(), 0 = free */
    uint32_t pad0;
    /* counters: only ever grow */
    uint64_t events;           /* ESL events received */
    uint64_t calls_authorized;
    uint64_t calls_refused;
    uint64_t calls_cut;        /* cut when their paid time ended */
    uint64_t cdrs;             /* CDRs journaled */
    uint64_t bad_events;       /* malformed or unusable events */
    uint64_t reconnects;       /* connections lost (then retried) */
    uint64_t resyncs;          /* resynchronisations of live calls */
    uint64_t ratings;          /* rating lookups: authorizations at park
                                  and final pricings at hangup */
    uint64_t rating_errors;    /* lookups that found no price (no rate,
                                  no plan, overflow) */
    uint64_t reservations_extended;  /* a live call's reservation grown
                                        by a debit interval (metering) */
    uint64_t answers_missed;   /* answered calls whose CHANNEL_ANSWER never
                                  came: found by asking (uuid_dump) */
    /* verdicts (uuid_transfer, uuid_kill at park): from the kernel's
     * receipt of the CHANNEL_PARK to the verdict written to the socket,
     * per bucket of stats_verdict_bounds_us (not cumulative), and their
     * sum */
    uint64_t verdict_us[STATS_VERDICT_NB];
    uint64_t verdict_sum_us;
    /* gauges */
    uint64_t connected;        /* 1 while subscribed to its node */
    int64_t  last_event_us;    /* wall clock of the last event, 0: none */
} __attribute__((aligned(64))) stats_slot_t;

typedef struct stats_shm {
    uint64_t     magic;
    uint32_t     nslots, pad0;
    uint8_t      pad[48];
    stats_slot_t slots[];
} stats_shm_t;

/* ---- the region (region.c) ------------------------------------------------ */

/* Bytes for nslots slots (the region gives it region.max_readers: every
 * worker process holds a QSBR slot, so there cannot be more workers). */
uint64_t stats_shm_size(uint32_t nslots);
/* Supervisor, in region_create only: all slots free and zero. */
void     stats_shm_init(stats_shm_t *s, uint32_t nslots);

/* ---- the owner ------------------------------------------------------------- */

/* The slot of tag (non-zero): the one already claimed by tag (a restarted
 * worker's predecessor: its counters go on), else a free one claimed now
 * (compare-and-swap of the tag word). NULL when every slot is taken by
 * other tags. Call it from the one process that owns the tag. */
stats_slot_t *stats_claim(stats_shm_t *s, uint32_t tag);

/* Relaxed atomic updates of one field by its owner. */
#define STATS_ADD(slot, field, n) uatomic_add(&(slot)->field, (n))
#define STATS_INC(slot, field)    uatomic_add(&(slot)->field, 1)

/* Counts n verdicts that took us microseconds each. */
void stats_verdicts(stats_slot_t *slot, int64_t us, uint32_t n);
#define STATS_SET(slot, field, v) uatomic_set(&(slot)->field, (v))

/* ---- anybody ----------------------------------------------------------------- */

/* A copy of slot i, each field read atomically: 1 when the slot is claimed
 * (out filled), 0 when free or out of range. Never blocks. */
int stats_read(const stats_shm_t *s, uint32_t i, stats_slot_t *out);

#endif
