/*
 * stats.c -- per-process counters in the region (see stats.h).
 *
 * NOTES
 * - Claiming scans for the tag first, then for a free slot: a restarted
 *   worker must find its predecessor's slot even when a free one comes
 *   before it. Two processes never claim the same tag at once (one worker
 *   per kind and index), so the scan-then-CAS needs no lock; different
 *   tags racing for one free slot are settled by the CAS.
 * - Slots are never freed: a worker that stops for good leaves its last
 *   figures (connected is set to 0 by the worker on a clean stop; after a
 *   crash it stays as it was until the replacement starts).
 */
#include "shm/stats.h"

#include <string.h>
#include <urcu/system.h>

const uint32_t stats_verdict_bounds_us[STATS_VERDICT_NB - 1] = {
    STATS_VERDICT_BOUNDS_US
};

void stats_verdicts(stats_slot_t *slot, int64_t us, uint32_t n)
{
    int b = 0;
    if (us < 0)
        us = 0;
    while (b < STATS_VERDICT_NB - 1 && us > stats_verdict_bounds_us[b])
        b++;
    uatomic_add(&slot->verdict_us[b], n);
    uatomic_add(&slot->verdict_sum_us, (uint64_t)us * n);
}

uint64_t stats_shm_size(uint32_t nslots)
{
    return sizeof(stats_shm_t) + (uint64_t)nslots * sizeof(stats_slot_t);
}

void stats_shm_init(stats_shm_t *s, uint32_t nslots)
{
    memset(s, 0, stats_shm_size(nslots));
    s->magic = STATS_MAGIC;
    s->nslots = nslots;
}

stats_slot_t *stats_claim(stats_shm_t *s, uint32_t tag)
{
    if (tag == 0)
        return NULL;
    for (uint32_t i = 0; i < s->nslots; i++)
        if (CMM_LOAD_SHARED(s->slots[i].tag) == tag)
            return &s->slots[i];
    for (uint32_t i = 0; i < s->nslots; i++)
        if (CMM_LOAD_SHARED(s->slots[i].tag) == 0
            && uatomic_cmpxchg(&s->slots[i].tag, 0, tag) == 0)
            return &s->slots[i];
    return NULL;
}

int stats_read(const stats_shm_t *s, uint32_t i, stats_slot_t *out)
{
    if (i >= s->nslots)
        return 0;
    const stats_slot_t *p = &s->slots[i];
    memset(out, 0, sizeof *out);
    out->tag = CMM_LOAD_SHARED(p->tag);
    if (out->tag == 0)
        return 0;
    out->events = uatomic_read(&p->events);
    out->calls_authorized = uatomic_read(&p->calls_authorized);
    out->calls_refused = uatomic_read(&p->calls_refused);
    out->calls_cut = uatomic_read(&p->calls_cut);
    out->cdrs = uatomic_read(&p->cdrs);
    out->bad_events = uatomic_read(&p->bad_events);
    out->reconnects = uatomic_read(&p->reconnects);
    out->resyncs = uatomic_read(&p->resyncs);
    out->ratings = uatomic_read(&p->ratings);
    out->rating_errors = uatomic_read(&p->rating_errors);
    out->reservations_extended = uatomic_read(&p->reservations_extended);
    out->answers_missed = uatomic_read(&p->answers_missed);
    for (int b = 0; b < STATS_VERDICT_NB; b++)
        out->verdict_us[b] = uatomic_read(&p->verdict_us[b]);
    out->verdict_sum_us = uatomic_read(&p->verdict_sum_us);
    out->connected = uatomic_read(&p->connected);
    out->last_event_us = uatomic_read(&p->last_event_us);
    return 1;
}
