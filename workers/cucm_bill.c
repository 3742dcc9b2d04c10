/*
 * cucm_bill.c -- one CUCM call record into one CDR and its debit, exactly
 * once (workers/cucm.h says what is billed to whom; shm/seen.h how a call
 * is never billed twice).
 */
#include "shm/catalog.h"
#include "shm/deck.h"
#include "shm/jrec.h"
#include "shm/log.h"
#include "shm/rating.h"
#include "workers/cucm_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Who pays and how the call goes. */
typedef struct cucm_payer {
    uint32_t         slot;         /* UINT32_MAX: nobody */
    int              charged;
    int32_t          level;        /* authorization level the call had */
    const cat_ext_t *ext;
} cucm_payer_t;

/* Copies src into dst[cap] whole, or cut at a UTF-8 boundary: 1 if cut. */
static int cucm_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    int cut = n >= cap;
    if (cut) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
            n--;                   /* never half a character */
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
    return cut;
}

/* The FAC the record names: by its description (the FAC's name), else by
 * the hash of its code when CUCM writes codes. */
static const cat_fac_t *cucm_fac(const cucm_worker_t *w, const cat_hdr_t *cat,
                                 const cucm_cdr_t *c)
{
    const cat_fac_t *f = NULL;
    if (c->auth_desc[0] != '\0')
        f = cat_fac_by_name(cat, c->auth_desc);
    if (f == NULL && c->auth_code[0] != '\0' && *w->fac_secret) {
        char hex[CAT_FAC_HASH];
        if (cat_fac_code_hash(w->fac_secret, c->auth_code, hex) == 0)
            f = cat_fac_by_code_hash(cat, hex);
    }
    return f;
}

static void cucm_payer(const cucm_worker_t *w, const cat_hdr_t *cat,
                       const cucm_cdr_t *c, const char *called,
                       jrec_cdr_t *cdr, cucm_payer_t *p)
{
    const cat_ext_t *from = cat_extension(cat, c->calling, strlen(c->calling));
    const cat_ext_t *to = cat_extension(cat, called, strlen(called));
    const cat_fac_t *fac = cucm_fac(w, cat, c);

    p->slot = UINT32_MAX;
    p->charged = 0;
    p->ext = NULL;
    p->level = (int32_t)(c->auth_level > INT32_MAX ? INT32_MAX
                                                   : c->auth_level);
    if (c->auth_desc[0] != '\0' || c->auth_code[0] != '\0') {
        if (fac == NULL || !fac->active) {
            cdr->flags |= JREC_F_FAC_UNKNOWN;
            fac = NULL;
        } else {
            cdr->fac_id = fac->id;
            p->level = fac->level;
        }
    }
    cdr->direction = from && to ? JREC_DIR_INTERNAL
                     : from ? JREC_DIR_OUTBOUND
                     : to ? JREC_DIR_INBOUND : JREC_DIR_OUTBOUND;
    if (fac != NULL && fac->acct_slot != UINT32_MAX) {
        p->slot = fac->acct_slot;          /* the FAC's account pays */
        p->charged = 1;
        p->ext = from;
    } else if (from != NULL) {
        p->slot = from->acct_slot;
        p->charged = to ? w->charge_int : 1;
        p->ext = from;
    } else if (to != NULL) {
        p->slot = to->acct_slot;
        p->charged = w->charge_in;
        p->ext = to;
    }
    if (p->ext != NULL)
        cucm_copy(cdr->extension, sizeof cdr->extension, p->ext->number);
    if (p->slot != UINT32_MAX && !p->charged)
        cdr->flags |= JREC_F_UNCHARGED;
}

/* The minimum authorization level of zone_id in plan's deck (0: none). */
static int32_t cucm_zone_level(const region_t *r, const cat_hdr_t *cat,
                               int64_t plan_id, int64_t zone_id)
{
    const cat_plan_t *pl = cat_plan(cat, plan_id);
    const deck_hdr_t *d = pl ? cat_deck(r, pl) : NULL;
    if (d == NULL)
        return 0;
    const deck_zone_t *z = deck_zones(d);
    for (uint32_t i = 0; i < d->nzones; i++)
        if (z[i].id == zone_id)
            return z[i].min_auth_level;
    return 0;
}

/* Rates the call for payer p: the zone (and its level check) for every
 * call, the price for a charged answered one. *why gets the reason when a
 * charged answered call cannot be priced (it is then recorded unbilled). */
static void cucm_rate(cucm_worker_t *w, const cat_hdr_t *cat,
                      const cucm_cdr_t *c, const char *called,
                      const cucm_payer_t *p, jrec_cdr_t *cdr,
                      const char **why)
{
    acct_view_t v;
    rating_quote_t q;
    rate_period_tariff_t pt[8];
    uint32_t npt = 8;
    size_t len = strlen(called);

    *why = NULL;
    if (p->slot == UINT32_MAX || acct_view(w->accts, p->slot, &v) != ACCT_OK)
        return;
    cdr->account_id = v.id;
    int answered = c->t_connect > 0;
    int rc = rating_lookup(w->region, cat, v.plan_id, called, len,
                           c->t_origination, &q, pt, &npt);
    if (rc == RATING_OK) {
        cdr->zone_id = q.zone_id;
        cucm_copy(cdr->prefix, sizeof cdr->prefix, q.prefix);
        cucm_copy(cdr->callee, sizeof cdr->callee, q.number);
        int32_t min = cucm_zone_level(w->region, cat, v.plan_id, q.zone_id);
        if (min > 0 && p->level < min)
            cdr->flags |= JREC_F_FAC_LEVEL;
    }
    if (!p->charged || !answered)
        return;
    STATS_INC(w->st, ratings);
    if (rc == RATING_OK)
        rc = rating_price(w->region, cat, v.plan_id, called, len,
                          c->t_origination, c->t_connect, c->duration, &q);
    if (rc != RATING_OK) {
        STATS_INC(w->st, rating_errors);
        cdr->flags |= JREC_F_UNBILLED;
        *why = rating_strerror(rc);
        return;
    }
    cdr->cost = q.cost;
    cdr->plan_id = q.plan_id;
    cdr->deck_version = (int64_t)q.deck_version;
    cdr->period_id = q.trace.answer_period;
    cdr->rate_per_minute = q.tariff.per_minute;
    cdr->connection_fee = q.tariff.connect_fee;
    cdr->first_inc = q.tariff.first_inc;
    cdr->next_inc = q.tariff.next_inc;
    cdr->min_sec = q.tariff.min_sec;
    cdr->grace_sec = q.tariff.grace_sec;
    cdr->rounding = (uint8_t)(q.rounding + 1);     /* jrec_rounding_t */
}

/* The CDR of record c, priced. */
static void cucm_cdr(cucm_worker_t *w, const cat_hdr_t *cat,
                     const cucm_cdr_t *c, jrec_cdr_t *cdr, cucm_payer_t *p,
                     const char **unpriced)
{
    const char *called = w->original && c->orig_called[0]
                             ? c->orig_called
                             : c->final_called[0] ? c->final_called
                                                  : c->orig_called;
    memset(cdr, 0, sizeof *cdr);
    cucm_cdr_call_id(c, cdr->call_id, sizeof cdr->call_id);
    cdr->source = JREC_SRC_CUCM;
    cdr->start_us = c->t_origination * 1000000;
    cdr->answer_us = c->t_connect * 1000000;
    cdr->end_us = (c->t_disconnect ? c->t_disconnect : c->t_origination)
                  * 1000000;
    cdr->duration = c->t_disconnect > c->t_origination
                        ? (uint32_t)(c->t_disconnect - c->t_origination)
                        : c->duration;
    cdr->billsec = c->t_connect > 0 ? c->duration : 0;
    if (cucm_copy(cdr->caller, sizeof cdr->caller, c->calling)
        | cucm_copy(cdr->dialed, sizeof cdr->dialed, called)
        | cucm_copy(cdr->callee, sizeof cdr->callee, called))
        cdr->flags |= JREC_F_NUMBER_CUT;
    snprintf(cdr->hangup_cause, sizeof cdr->hangup_cause, "%" PRIu32,
             c->dest_cause ? c->dest_cause : c->orig_cause);
    cucm_payer(w, cat, c, called, cdr, p);
    cucm_rate(w, cat, c, called, p, cdr, unpriced);
}

/* Journals cdr (a debit when it costs money) as the claimed entry idx.
 * JRN_OK, or the journal's error with the entry given back. */
static int cucm_journal(cucm_worker_t *w, uint32_t idx, uint32_t slot,
                        jrec_cdr_t *cdr)
{
    uint8_t buf[JRN_PAYLOAD_MAX];
    size_t len;
    int rc;

    if (jrec_encode_cdr(cdr, buf, sizeof buf, &len) != JREC_OK) {
        seen_abandon(w->seen, idx, w->pid);
        return JRN_EINVAL;
    }
    if (cdr->cost > 0) {
        rc = jrn_move(&w->w, w->accts, slot, JRN_CALL_DEBIT, -cdr->cost,
                      -cdr->cost, buf, len, CUCM_JRN_WAIT_MS, NULL, NULL);
        if (rc != JRN_EINVAL) {
            if (rc != JRN_OK)
                seen_abandon(w->seen, idx, w->pid);
            return rc;
        }
        /* Refused for good by a balance bound (VOID, or nothing
         * published): the call is recorded without money, not lost. */
        LOG_ERROR("cucm", 0, "CDR of %s: the journal refused its debit of %"
                  PRId64 ": recorded UNBILLED (flags & 0x40)", cdr->call_id,
                  cdr->cost);
        cdr->cost = 0;
        cdr->flags |= JREC_F_UNBILLED;
        if (jrec_encode_cdr(cdr, buf, sizeof buf, &len) != JREC_OK
            || seen_set_seq(w->seen, idx, w->pid, w->w.ring->head) != 0) {
            seen_abandon(w->seen, idx, w->pid);
            return JRN_EINVAL;
        }
    }
    rc = jrn_append(&w->w, JRN_CDR, buf, len, CUCM_JRN_WAIT_MS, NULL);
    if (rc != JRN_OK)
        seen_abandon(w->seen, idx, w->pid);
    return rc;
}

cucm_bill_rc_t cucm_bill(cucm_worker_t *w, const cucm_cdr_t *c,
                         cucm_tally_t *t, char *why, size_t cap)
{
    jrec_cdr_t cdr;
    cucm_payer_t p;
    seen_key_t k;
    uint32_t idx;
    const char *unpriced = NULL;
    int64_t horizon = (int64_t)time(NULL) - w->horizon_sec;

    if (c->t_origination < horizon) {
        snprintf(why, cap, "started %" PRId64 ", before the exactly-once "
                 "horizon (cucm.dedupe_days): not billed", c->t_origination);
        t->skipped++;
        return CUCM_B_SKIP;
    }
    const cat_hdr_t *cat = cat_current(w->region);
    if (cat == NULL)
        return CUCM_B_RETRY;                 /* no catalog yet */
    cucm_cdr(w, cat, c, &cdr, &p, &unpriced);
    seen_key(cdr.call_id, strlen(cdr.call_id), &k);
    switch (seen_claim(w->seen, &k, w->pid, w->w.index, w->w.ring->head,
                       horizon, &idx)) {
    case SEEN_NEW:
        break;
    case SEEN_DUP:
        t->dup++;
        return CUCM_B_DUP;
    case SEEN_EFULL:
        return CUCM_B_FULL;
    default:                                 /* BUSY, ELOCK */
        return CUCM_B_RETRY;
    }
    int rc = cucm_journal(w, idx, p.slot, &cdr);
    if (rc == JRN_EFULL || rc == JRN_EBUSY)
        return CUCM_B_RETRY;
    if (rc != JRN_OK) {
        snprintf(why, cap, "%s: the journal refused its CDR (%d): not "
                 "billed", cdr.call_id, rc);
        t->skipped++;
        return CUCM_B_SKIP;
    }
    w->last_seq = w->w.ring->head;
    seen_done(w->seen, idx, w->pid, c->t_origination);
    STATS_INC(w->st, cdrs);
    t->billed++;
    if (cdr.cost > 0)
        t->charged++;
    if (unpriced != NULL)
        snprintf(why, cap, "%s: not priced (%s): recorded unbilled",
                 cdr.call_id, unpriced);
    return CUCM_B_BILLED;
}
