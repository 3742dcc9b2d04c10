/*
 * call.c -- the call model: each call is one inbound sofia channel that
 * the dialplan parks for the billing engine.
 *
 *   start         CHANNEL_CREATE (CS_INIT, DOWN, ringing)
 *                 CHANNEL_PARK   (CS_EXECUTE, RINGING, ringing)
 *   uuid_transfer  -> routing; ring ms later CHANNEL_ANSWER, talk ms later
 *                 hangup NORMAL_CLEARING (answer=no: hangup with the
 *                 script's cause after ring ms, no answer)
 *   uuid_kill     hangup now (the cause given, else NORMAL_CLEARING)
 *   sched_hangup  hangup N s later unless the call ended first
 *   no verdict    after --park-timeout: hangup RECOVERY_ON_TIMER_EXPIRE
 *   hangup        CHANNEL_HANGUP, CHANNEL_HANGUP_COMPLETE (the CDR
 *                 variables), CHANNEL_DESTROY
 *
 * Header sets follow the captures of a real sofia inbound leg (fs_events
 * _plain.raw, the "sip" scenario) and of the billing flow's parked leg:
 * FreeSWITCH's own quirks are kept (Caller-Channel-Hangup-Time is 0 in
 * CHANNEL_HANGUP, CHANNEL_ANSWER still says Channel-Call-State RINGING,
 * Hangup-Cause twice in CHANNEL_HANGUP_COMPLETE, billsec = difference of
 * the whole-second epochs, a set variable moves to the end of the list).
 *
 * Calls live in a pool (slots reused; `inc` tells a timer whether its call
 * is still the one it was armed for), in a uuid hash table (open
 * addressing) and in a list in creation order (show channels). Timers are
 * one binary heap; cancelled timers are skipped when they come due.
 */
#include "tests/fssim/fssim.h"

#include "shm/log.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

call_t *live_head, *live_tail;

/* ---- causes -------------------------------------------------------------- */

static const struct { const char *name; int code; } cause_tab[] = {
    { "NONE", 0 }, { "UNALLOCATED_NUMBER", 1 }, { "NO_ROUTE_TRANSIT_NET", 2 },
    { "NO_ROUTE_DESTINATION", 3 }, { "CHANNEL_UNACCEPTABLE", 6 },
    { "CALL_AWARDED_DELIVERED", 7 }, { "NORMAL_CLEARING", 16 },
    { "USER_BUSY", 17 }, { "NO_USER_RESPONSE", 18 }, { "NO_ANSWER", 19 },
    { "SUBSCRIBER_ABSENT", 20 }, { "CALL_REJECTED", 21 },
    { "NUMBER_CHANGED", 22 }, { "REDIRECTION_TO_NEW_DESTINATION", 23 },
    { "EXCHANGE_ROUTING_ERROR", 25 }, { "DESTINATION_OUT_OF_ORDER", 27 },
    { "INVALID_NUMBER_FORMAT", 28 }, { "FACILITY_REJECTED", 29 },
    { "RESPONSE_TO_STATUS_ENQUIRY", 30 }, { "NORMAL_UNSPECIFIED", 31 },
    { "NORMAL_CIRCUIT_CONGESTION", 34 }, { "NETWORK_OUT_OF_ORDER", 38 },
    { "NORMAL_TEMPORARY_FAILURE", 41 }, { "SWITCH_CONGESTION", 42 },
    { "ACCESS_INFO_DISCARDED", 43 }, { "REQUESTED_CHAN_UNAVAIL", 44 },
    { "PRE_EMPTED", 45 }, { "FACILITY_NOT_SUBSCRIBED", 50 },
    { "OUTGOING_CALL_BARRED", 52 }, { "INCOMING_CALL_BARRED", 54 },
    { "BEARERCAPABILITY_NOTAUTH", 57 }, { "BEARERCAPABILITY_NOTAVAIL", 58 },
    { "SERVICE_UNAVAILABLE", 63 }, { "BEARERCAPABILITY_NOTIMPL", 65 },
    { "CHAN_NOT_IMPLEMENTED", 66 }, { "FACILITY_NOT_IMPLEMENTED", 69 },
    { "SERVICE_NOT_IMPLEMENTED", 79 }, { "INVALID_CALL_REFERENCE", 81 },
    { "INCOMPATIBLE_DESTINATION", 88 }, { "INVALID_MSG_UNSPECIFIED", 95 },
    { "MANDATORY_IE_MISSING", 96 }, { "MESSAGE_TYPE_NONEXIST", 97 },
    { "WRONG_MESSAGE", 98 }, { "IE_NONEXIST", 99 },
    { "INVALID_IE_CONTENTS", 100 }, { "WRONG_CALL_STATE", 101 },
    { "RECOVERY_ON_TIMER_EXPIRE", 102 }, { "MANDATORY_IE_LENGTH_ERROR", 103 },
    { "PROTOCOL_ERROR", 111 }, { "INTERWORKING", 127 }, { "SUCCESS", 142 },
    { "ORIGINATOR_CANCEL", 487 }, { "CRASH", 700 }, { "SYSTEM_SHUTDOWN", 701 },
    { "LOSE_RACE", 702 }, { "MANAGER_REQUEST", 703 }, { "BLIND_TRANSFER", 800 },
    { "ATTENDED_TRANSFER", 801 }, { "ALLOTTED_TIMEOUT", 802 },
    { "USER_CHALLENGE", 803 }, { "MEDIA_TIMEOUT", 804 }, { "PICKED_OFF", 805 },
    { "USER_NOT_REGISTERED", 806 }, { "PROGRESS_TIMEOUT", 807 },
    { "INVALID_GATEWAY", 808 }, { "GATEWAY_DOWN", 809 }, { "INVALID_URL", 810 },
    { "INVALID_PROFILE", 811 }, { "NO_PICKUP", 812 }, { "SRTP_READ_ERROR", 813 },
};
#define NCAUSE_KNOWN ((int)(sizeof cause_tab / sizeof *cause_tab))

static char **cause_extra;          /* interned unknown names */
static int    ncause_extra;

int cause_known(const char *s)
{
    uint64_t v;
    if (parse_u64(s, &v) == 0) {
        for (int i = 0; i < NCAUSE_KNOWN; i++)
            if ((uint64_t)cause_tab[i].code == v)
                return 1;
        return 0;
    }
    for (int i = 0; i < NCAUSE_KNOWN; i++)
        if (strcasecmp(cause_tab[i].name, s) == 0)
            return 1;
    return 0;
}

int cause_id(const char *s)
{
    uint64_t v;
    if (!s || !*s)
        return -1;
    if (parse_u64(s, &v) == 0) {
        for (int i = 0; i < NCAUSE_KNOWN; i++)
            if ((uint64_t)cause_tab[i].code == v)
                return i;
    }
    for (int i = 0; i < NCAUSE_KNOWN; i++)
        if (strcasecmp(cause_tab[i].name, s) == 0)
            return i;
    for (int i = 0; i < ncause_extra; i++)
        if (strcasecmp(cause_extra[i], s) == 0)
            return NCAUSE_KNOWN + i;
    char **nx = realloc(cause_extra, (size_t)(ncause_extra + 1) * sizeof *nx);
    char *dup = strdup(s);
    if (!nx || !dup) {
        fprintf(stderr, "fssim: out of memory\n");
        abort();
    }
    for (char *p = dup; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 32);
    cause_extra = nx;
    cause_extra[ncause_extra++] = dup;
    return NCAUSE_KNOWN + ncause_extra - 1;
}

int cause_by_name(const char *canonical)
{
    for (int i = 0; i < NCAUSE_KNOWN; i++)
        if (strcmp(cause_tab[i].name, canonical) == 0)
            return i;
    return cause_id(canonical);
}

const char *cause_name(int id)
{
    if (id < 0)
        return "";
    if (id < NCAUSE_KNOWN)
        return cause_tab[id].name;
    if (id - NCAUSE_KNOWN < ncause_extra)
        return cause_extra[id - NCAUSE_KNOWN];
    return "NONE";
}

/* switch_channel_cause_q850: causes above INTERWORKING report 16. */
int cause_q850(int id)
{
    if (id < 0 || id >= NCAUSE_KNOWN)
        return 0;
    int code = cause_tab[id].code;
    return code <= 127 ? code : 16;
}

/* ---- pool, hash, list ---------------------------------------------------- */

static call_t  **slots;
static uint32_t  nslots, capslots;
static uint32_t *freelist;
static uint32_t  nfree;

static uint32_t *htab;              /* slot + 1; 0: empty */
static uint32_t  hmask, hcount;

static uint64_t  session_ids;

static uint64_t uuid_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static void hash_insert_raw(uint32_t slot)
{
    uint32_t i = (uint32_t)uuid_hash(slots[slot]->uuid) & hmask;
    while (htab[i])
        i = (i + 1) & hmask;
    htab[i] = slot + 1;
}

static void hash_grow(void)
{
    uint32_t *old = htab, oldn = hmask + 1;
    uint32_t n = oldn * 2;
    htab = calloc(n, sizeof *htab);
    if (!htab) {
        fprintf(stderr, "fssim: out of memory\n");
        abort();
    }
    hmask = n - 1;
    for (uint32_t i = 0; i < oldn; i++)
        if (old[i])
            hash_insert_raw(old[i] - 1);
    free(old);
}

static void hash_insert(call_t *c)
{
    if ((hcount + 1) * 2 > hmask + 1)
        hash_grow();
    hash_insert_raw(c->slot);
    hcount++;
}

static void hash_remove(call_t *c)
{
    uint32_t i = (uint32_t)uuid_hash(c->uuid) & hmask;
    while (htab[i] && htab[i] != c->slot + 1)
        i = (i + 1) & hmask;
    if (!htab[i])
        return;
    htab[i] = 0;
    hcount--;
    /* backward shift: re-place the rest of the cluster */
    for (uint32_t j = (i + 1) & hmask; htab[j]; j = (j + 1) & hmask) {
        uint32_t s = htab[j] - 1;
        htab[j] = 0;
        hash_insert_raw(s);
    }
}

call_t *call_find(const char *uuid)
{
    uint32_t i = (uint32_t)uuid_hash(uuid) & hmask;
    while (htab[i]) {
        call_t *c = slots[htab[i] - 1];
        if (strcmp(c->uuid, uuid) == 0)
            return c;
        i = (i + 1) & hmask;
    }
    return NULL;
}

static void bv_init(void);

void calls_init(void)
{
    bv_init();
    hmask = 1023;
    htab = calloc(hmask + 1, sizeof *htab);
    if (!htab) {
        fprintf(stderr, "fssim: out of memory\n");
        abort();
    }
}

static call_t *slot_alloc(void)
{
    call_t *c;
    if (nfree) {
        c = slots[freelist[--nfree]];
    } else {
        if (nslots == capslots) {
            uint32_t nc = capslots ? capslots * 2 : 1024;
            call_t **ns = realloc(slots, nc * sizeof *ns);
            uint32_t *nf = realloc(freelist, nc * sizeof *nf);
            if (!ns || !nf) {
                fprintf(stderr, "fssim: out of memory\n");
                abort();
            }
            slots = ns;
            freelist = nf;
            capslots = nc;
        }
        c = calloc(1, sizeof *c);
        if (!c) {
            fprintf(stderr, "fssim: out of memory\n");
            abort();
        }
        c->slot = nslots;
        slots[nslots++] = c;
    }
    /* reset everything but the slot, its generation and its buffers */
    uint32_t slot = c->slot, inc = c->inc;
    buf_t vars = c->vars, setvars = c->setvars, sched = c->sched;
    ev_held_t held = c->held_answer;
    memset(c, 0, sizeof *c);
    c->slot = slot;
    c->inc = inc;
    c->vars = vars;
    c->vars.len = 0;
    c->setvars = setvars;
    c->setvars.len = 0;
    c->sched = sched;
    c->sched.len = 0;
    c->held_answer = held;
    c->kill_cause = -1;
    c->cause = -1;
    return c;
}

static void slot_free(call_t *c)
{
    c->inc++;
    c->st = CST_NEW;
    freelist[nfree++] = c->slot;
}

/* ---- channel variables --------------------------------------------------- */

/* A channel's variables: records [u16 nlen][u16 vlen]"variable_<name>\0"
 * "<value>\0", nlen counting "variable_"; the header name is used in
 * place. (setvars, the report's record, is plain "name\0value\0".) */
#define VPFX "variable_"
#define VPFX_LEN 9

static inline void var_lens(const char *rec, size_t *nl, size_t *vl)
{
    uint16_t a, b;
    memcpy(&a, rec, 2);
    memcpy(&b, rec + 2, 2);
    *nl = a;
    *vl = b;
}

/* Offset of the record of name (without the prefix), or -1. */
static long vars_find(const buf_t *v, const char *name, size_t len)
{
    size_t i = 0, nl, vl;
    while (i < v->len) {
        var_lens(v->p + i, &nl, &vl);
        if (nl == len + VPFX_LEN && memcmp(v->p + i + 4 + VPFX_LEN, name, len) == 0)
            return (long)i;
        i += 4 + nl + 1 + vl + 1;
    }
    return -1;
}

/* FreeSWITCH's switch_channel_set_variable: the old value goes, the new
 * one is appended (so it moves to the end); NULL unsets. */
static void vars_set(buf_t *v, const char *name, const char *value)
{
    size_t len = strlen(name), nl, vl;
    long at = vars_find(v, name, len);
    if (at >= 0) {
        var_lens(v->p + at, &nl, &vl);
        size_t rl = 4 + nl + 1 + vl + 1;
        memmove(v->p + at, v->p + at + rl, v->len - (size_t)at - rl);
        v->len -= rl;
    }
    if (!value)
        return;
    size_t vlen = strlen(value);
    if (len + VPFX_LEN > 65535 || vlen > 65535)
        return;
    uint16_t a = (uint16_t)(len + VPFX_LEN), b = (uint16_t)vlen;
    buf_put(v, &a, 2);
    buf_put(v, &b, 2);
    buf_put(v, VPFX, VPFX_LEN);
    buf_put(v, name, len + 1);
    buf_put(v, value, vlen + 1);
}

/* The report's record of uuid_setvar: "name\0value\0", last value kept. */
static void setvars_put(buf_t *v, const char *name, const char *value)
{
    size_t i = 0;
    while (i < v->len) {
        size_t nl = strlen(v->p + i), vl = strlen(v->p + i + nl + 1);
        size_t rl = nl + 1 + vl + 1;
        if (strcmp(v->p + i, name) == 0) {
            memmove(v->p + i, v->p + i + rl, v->len - i - rl);
            v->len -= rl;
            break;
        }
        i += rl;
    }
    buf_put(v, name, strlen(name) + 1);
    buf_put(v, value, strlen(value) + 1);
}

static int bv_index(const char *name);

/* Sets a channel variable of c, keeping bv_override in step. */
static void cvar_set(call_t *c, const char *name, const char *value)
{
    vars_set(&c->vars, name, value);
    int i = bv_index(name);
    if (i >= 0) {
        if (value)
            c->bv_override |= 1ULL << i;
        else
            c->bv_override &= ~(1ULL << i);
    }
}

const char *call_getvar(const call_t *c, const char *name)
{
    size_t nl, vl;
    long at = vars_find(&c->vars, name, strlen(name));
    if (at < 0)
        return NULL;
    var_lens(c->vars.p + at, &nl, &vl);
    return c->vars.p + at + 4 + nl + 1;
}

void call_setvar(call_t *c, const char *name, const char *value)
{
    cvar_set(c, name, value);
    setvars_put(&c->setvars, name, value ? value : "");
}

/* ---- events -------------------------------------------------------------- */

/* Channel variables every event of a sofia inbound leg carries, in the
 * order FreeSWITCH lists them. A variable the script or uuid_setvar sets
 * with the same name replaces it (and is listed among the set ones). */
enum {
    BV_DIRECTION, BV_UUID, BV_CALL_UUID, BV_SESSION_ID, BV_SIP_FROM_USER,
    BV_SIP_FROM_URI, BV_SIP_FROM_HOST, BV_AUDIO_MEDIA_FLOW, BV_CHANNEL_NAME,
    BV_SIP_CALL_ID, BV_SIP_LOCAL_NETWORK_ADDR, BV_SIP_NETWORK_IP,
    BV_SIP_NETWORK_PORT, BV_SIP_INVITE_STAMP, BV_SIP_VIA_PROTOCOL,
    BV_SIP_AUTHORIZED, BV_SIP_FROM_TAG, BV_SOFIA_PROFILE_NAME,
    BV_SOFIA_PROFILE_URL, BV_SIP_FULL_VIA, BV_SIP_FULL_FROM, BV_SIP_FULL_TO,
    BV_SIP_REQ_USER, BV_SIP_REQ_PORT, BV_SIP_REQ_URI, BV_SIP_REQ_HOST,
    BV_SIP_CONTACT_URI, BV_SIP_USER_AGENT, BV_MAX_FORWARDS, BV_PRESENCE_ID,
    BV_READ_CODEC, BV_READ_RATE, BV_WRITE_CODEC, BV_WRITE_RATE, BV_N
};

static const char *const bv_names[BV_N] = {
    "variable_direction", "variable_uuid", "variable_call_uuid",
    "variable_session_id", "variable_sip_from_user", "variable_sip_from_uri",
    "variable_sip_from_host", "variable_audio_media_flow",
    "variable_channel_name", "variable_sip_call_id",
    "variable_sip_local_network_addr", "variable_sip_network_ip",
    "variable_sip_network_port", "variable_sip_invite_stamp",
    "variable_sip_via_protocol", "variable_sip_authorized",
    "variable_sip_from_tag", "variable_sofia_profile_name",
    "variable_sofia_profile_url", "variable_sip_full_via",
    "variable_sip_full_from", "variable_sip_full_to", "variable_sip_req_user",
    "variable_sip_req_port", "variable_sip_req_uri", "variable_sip_req_host",
    "variable_sip_contact_uri", "variable_sip_user_agent",
    "variable_max_forwards", "variable_presence_id", "variable_read_codec",
    "variable_read_rate", "variable_write_codec", "variable_write_rate",
};

_Static_assert(BV_N <= 64, "bv_override is a 64-bit mask");

static uint8_t bv_lens[BV_N];

static void bv_init(void)
{
    for (int i = 0; i < BV_N; i++)
        bv_lens[i] = (uint8_t)strlen(bv_names[i]);
}

static int bv_index(const char *name)
{
    size_t l = strlen(name) + VPFX_LEN;
    for (int i = 0; i < BV_N; i++)
        if (bv_lens[i] == l && strcmp(bv_names[i] + VPFX_LEN, name) == 0)
            return i;
    return -1;
}

static void add_base_vars(evb_t *e, call_t *c, ev_t t)
{
    for (int i = 0; i < BV_N; i++) {
        const char *n = bv_names[i];
        size_t nl = bv_lens[i];
#define evb_add(e, n, v) evb_addn((e), (n), nl, (v), strlen(v))
        if (i == BV_CALL_UUID && t != EV_CHANNEL_CREATE)
            continue;               /* re-set at park: listed later */
        if ((i >= BV_READ_CODEC) && t == EV_CHANNEL_CREATE)
            continue;               /* no codec negotiated yet */
        if (c->bv_override & (1ULL << i))
            continue;
        switch (i) {
        case BV_DIRECTION: evb_add(e, n, "inbound"); break;
        case BV_UUID: case BV_CALL_UUID: case BV_SIP_CALL_ID:
            evb_add(e, n, c->uuid);
            break;
        case BV_SESSION_ID: evb_addu(e, n, c->session_id); break;
        case BV_SIP_FROM_USER: evb_add(e, n, c->caller); break;
        case BV_SIP_FROM_URI: case BV_PRESENCE_ID:
            evb_add(e, n, c->presence);
            break;
        case BV_SIP_FROM_HOST: case BV_SIP_LOCAL_NETWORK_ADDR:
        case BV_SIP_NETWORK_IP: case BV_SIP_REQ_HOST:
            evb_add(e, n, "127.0.0.1");
            break;
        case BV_AUDIO_MEDIA_FLOW:
            evb_add(e, n, t == EV_CHANNEL_CREATE || t == EV_CHANNEL_PARK
                          ? "disabled" : "sendrecv");
            break;
        case BV_CHANNEL_NAME: evb_add(e, n, c->chan_name); break;
        case BV_SIP_NETWORK_PORT: evb_add(e, n, "5080"); break;
        case BV_SIP_INVITE_STAMP: evb_addi(e, n, c->created_us); break;
        case BV_SIP_VIA_PROTOCOL: evb_add(e, n, "udp"); break;
        case BV_SIP_AUTHORIZED: evb_add(e, n, "true"); break;
        case BV_SIP_FROM_TAG: evb_add(e, n, c->from_tag); break;
        case BV_SOFIA_PROFILE_NAME: evb_add(e, n, "internal"); break;
        case BV_SOFIA_PROFILE_URL:
            evb_add(e, n, "sip:mod_sofia@127.0.0.1:5060");
            break;
        case BV_SIP_FULL_VIA: evb_add(e, n, c->full_via); break;
        case BV_SIP_FULL_FROM: evb_add(e, n, c->full_from); break;
        case BV_SIP_FULL_TO: evb_add(e, n, c->full_to); break;
        case BV_SIP_REQ_USER: evb_add(e, n, c->init_dest); break;
        case BV_SIP_REQ_PORT: evb_add(e, n, "5060"); break;
        case BV_SIP_REQ_URI: evb_add(e, n, c->req_uri); break;
        case BV_SIP_CONTACT_URI: evb_add(e, n, c->contact_uri); break;
        case BV_SIP_USER_AGENT: evb_add(e, n, "fssim/1.11.0"); break;
        case BV_MAX_FORWARDS: evb_add(e, n, "70"); break;
        case BV_READ_CODEC: case BV_WRITE_CODEC: evb_add(e, n, "PCMU"); break;
        case BV_READ_RATE: case BV_WRITE_RATE: evb_add(e, n, "8000"); break;
        }
#undef evb_add
    }
    /* the set variables, in the order they were (last) set */
    size_t i = 0, nl, vl;
    const buf_t *v = &c->vars;
    while (i < v->len) {
        var_lens(v->p + i, &nl, &vl);
        const char *n = v->p + i + 4;
        evb_addn(e, n, nl, n + nl + 1, vl);
        i += 4 + nl + 1 + vl + 1;
    }
}

static void evb_add_stamp(evb_t *e, const char *n, int64_t us)
{
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    char tmp[32];
    localtime_r(&s, &tm);
    size_t l = strftime(tmp, sizeof tmp, "%Y-%m-%d %H:%M:%S", &tm);
    evb_addcopy(e, n, tmp, l);
}

/* The CDR variables of CHANNEL_HANGUP_COMPLETE (and CHANNEL_DESTROY). */
static void add_cdr_vars(evb_t *e, call_t *c)
{
    int ans = c->answered_us > 0;
    int64_t s_us = c->created_us, a_us = c->answered_us, e_us = c->hangup_us;
    int64_t p_us = c->profile_us;
    int64_t s_ep = s_us / 1000000, a_ep = a_us / 1000000, e_ep = e_us / 1000000;
    int64_t s_ms = s_us / 1000, a_ms = a_us / 1000, e_ms = e_us / 1000;

    evb_add(e, "variable_hangup_cause", cause_name(c->cause));
    evb_addi(e, "variable_hangup_cause_q850", cause_q850(c->cause));
    evb_add(e, "variable_digits_dialed", "none");
    evb_add_stamp(e, "variable_start_stamp", s_us);
    evb_add_stamp(e, "variable_profile_start_stamp", p_us);
    if (ans)
        evb_add_stamp(e, "variable_answer_stamp", a_us);
    evb_add_stamp(e, "variable_end_stamp", e_us);
    evb_addi(e, "variable_start_epoch", s_ep);
    evb_addi(e, "variable_start_uepoch", s_us);
    evb_addi(e, "variable_profile_start_epoch", p_us / 1000000);
    evb_addi(e, "variable_profile_start_uepoch", p_us);
    evb_addi(e, "variable_answer_epoch", a_ep);
    evb_addi(e, "variable_answer_uepoch", a_us);
    static const char *const zeros[] = {
        "variable_bridge_epoch", "variable_bridge_uepoch",
        "variable_last_hold_epoch", "variable_last_hold_uepoch",
        "variable_hold_accum_seconds", "variable_hold_accum_usec",
        "variable_hold_accum_ms", "variable_resurrect_epoch",
        "variable_resurrect_uepoch", "variable_progress_epoch",
        "variable_progress_uepoch", "variable_progress_media_epoch",
        "variable_progress_media_uepoch",
    };
    for (size_t i = 0; i < sizeof zeros / sizeof *zeros; i++)
        evb_add(e, zeros[i], "0");
    evb_addi(e, "variable_end_epoch", e_ep);
    evb_addi(e, "variable_end_uepoch", e_us);
    if (c->profile_index > 1) {
        evb_add(e, "variable_last_app", "bridge");
        evb_addf(e, "variable_last_arg", "sofia/external/%s@127.0.0.1",
                 c->dest);
    } else {
        evb_add(e, "variable_last_app", "park");
    }
    evb_add(e, "variable_caller_id", c->caller);
    evb_addi(e, "variable_duration", e_ep - s_ep);
    evb_addi(e, "variable_billsec", ans ? e_ep - a_ep : 0);
    evb_add(e, "variable_progresssec", "0");
    evb_addi(e, "variable_answersec", ans ? a_ep - s_ep : 0);
    evb_add(e, "variable_waitsec", "0");
    evb_add(e, "variable_progress_mediasec", "0");
    evb_addi(e, "variable_flow_billsec", ans ? e_ep - s_ep : 0);
    evb_addi(e, "variable_mduration", e_ms - s_ms);
    evb_addi(e, "variable_billmsec", ans ? e_ms - a_ms : 0);
    evb_add(e, "variable_progressmsec", "0");
    evb_addi(e, "variable_answermsec", ans ? a_ms - s_ms : 0);
    evb_add(e, "variable_waitmsec", "0");
    evb_add(e, "variable_progress_mediamsec", "0");
    evb_addi(e, "variable_flow_billmsec", ans ? e_ms - s_ms : 0);
    evb_addi(e, "variable_uduration", e_us - s_us);
    evb_addi(e, "variable_billusec", ans ? e_us - a_us : 0);
    evb_add(e, "variable_progressusec", "0");
    evb_addi(e, "variable_answerusec", ans ? a_us - s_us : 0);
    evb_add(e, "variable_waitusec", "0");
    evb_add(e, "variable_progress_mediausec", "0");
    evb_addi(e, "variable_flow_billusec", ans ? e_us - s_us : 0);
    const char *disp;
    if (c->ended_by == END_SCRIPT)
        disp = ans ? "recv_bye" : "recv_cancel";
    else
        disp = ans ? "send_bye" : "send_refuse";
    evb_add(e, "variable_sip_hangup_disposition", disp);
}

/* Builds the channel event t of c into EVB (dump: CHANNEL_DATA). */
static void build_channel_event(call_t *c, ev_t t, int64_t now)
{
    evb_t *e = &EVB;
    static const char *const where[EV_NTYPES][3] = {
        [EV_CHANNEL_CREATE] = { "switch_core_state_machine.c",
                                "switch_core_session_run", "626" },
        [EV_CHANNEL_PARK] = { "switch_ivr.c", "switch_ivr_park", "1002" },
        [EV_CHANNEL_ANSWER] = { "switch_channel.c",
                                "switch_channel_perform_mark_answered", "3848" },
        [EV_CHANNEL_HANGUP] = { "switch_channel.c",
                                "switch_channel_perform_hangup", "3447" },
        [EV_CHANNEL_HANGUP_COMPLETE] = { "switch_core_state_machine.c",
                                         "switch_core_session_reporting_state",
                                         "943" },
        [EV_CHANNEL_DESTROY] = { "switch_core_session.c",
                                 "switch_core_session_perform_destroy", "1588" },
        [EV_CHANNEL_DATA] = { "mod_commands.c", "uuid_dump_function", "6479" },
    };
    evb_begin(e, t, now, where[t][0], where[t][1], atoi(where[t][2]));

    int ans = c->answered_us > 0;
    const char *state = "CS_EXECUTE", *callstate, *answer_state, *num;
    switch (t) {
    case EV_CHANNEL_CREATE:
        state = "CS_INIT"; callstate = "DOWN"; num = "2";
        answer_state = "ringing";
        break;
    case EV_CHANNEL_PARK:
        callstate = "RINGING"; num = "4"; answer_state = "ringing";
        break;
    case EV_CHANNEL_ANSWER:
        callstate = "RINGING"; num = "4"; answer_state = "answered";
        break;
    case EV_CHANNEL_HANGUP:
        callstate = ans ? "ACTIVE" : "RINGING"; num = "10";
        answer_state = "hangup";
        break;
    case EV_CHANNEL_HANGUP_COMPLETE:
        state = "CS_REPORTING"; callstate = "HANGUP"; num = "11";
        answer_state = "hangup";
        evb_add(e, "Hangup-Cause", cause_name(c->cause));
        break;
    case EV_CHANNEL_DESTROY:
        state = "CS_REPORTING"; callstate = "HANGUP"; num = "12";
        answer_state = "hangup";
        break;
    default:
        callstate = ans ? "ACTIVE" : "RINGING"; num = "4";
        answer_state = ans ? "answered" : "ringing";
        break;
    }
    evb_add(e, "Channel-State", state);
    evb_add(e, "Channel-Call-State", callstate);
    evb_add(e, "Channel-State-Number", num);
    evb_add(e, "Channel-Name", c->chan_name);
    evb_add(e, "Unique-ID", c->uuid);
    evb_add(e, "Call-Direction", "inbound");
    evb_add(e, "Presence-Call-Direction", "inbound");
    evb_add(e, "Channel-HIT-Dialplan", "true");
    evb_add(e, "Channel-Presence-ID", c->presence);
    evb_add(e, "Channel-Call-UUID", c->uuid);
    evb_add(e, "Answer-State", answer_state);
    if (t == EV_CHANNEL_HANGUP || t == EV_CHANNEL_HANGUP_COMPLETE ||
        t == EV_CHANNEL_DESTROY)
        evb_add(e, "Hangup-Cause", cause_name(c->cause));
    if (t != EV_CHANNEL_CREATE) {
        evb_add(e, "Channel-Read-Codec-Name", "PCMU");
        evb_add(e, "Channel-Read-Codec-Rate", "8000");
        evb_add(e, "Channel-Read-Codec-Bit-Rate", "64000");
        evb_add(e, "Channel-Write-Codec-Name", "PCMU");
        evb_add(e, "Channel-Write-Codec-Rate", "8000");
        evb_add(e, "Channel-Write-Codec-Bit-Rate", "64000");
    }
    evb_add(e, "Caller-Direction", "inbound");
    evb_add(e, "Caller-Logical-Direction", "inbound");
    evb_add(e, "Caller-Username", c->caller);
    evb_add(e, "Caller-Dialplan", "XML");
    evb_add(e, "Caller-Caller-ID-Name", c->caller);
    evb_add(e, "Caller-Caller-ID-Number", c->caller);
    evb_add(e, "Caller-Orig-Caller-ID-Name", c->caller);
    evb_add(e, "Caller-Orig-Caller-ID-Number", c->caller);
    evb_add(e, "Caller-Network-Addr", "127.0.0.1");
    evb_add(e, "Caller-ANI", c->caller);
    evb_add(e, "Caller-Destination-Number", c->dest);
    evb_add(e, "Caller-Unique-ID", c->uuid);
    evb_add(e, "Caller-Source", "mod_sofia");
    if (c->profile_index > 1)
        evb_add(e, "Caller-Transfer-Source", c->xfer_source);
    evb_add(e, "Caller-Context", c->context);
    if (c->profile_index > 1)
        evb_add(e, "Caller-RDNIS", c->init_dest);
    evb_add(e, "Caller-Channel-Name", c->chan_name);
    evb_addu(e, "Caller-Profile-Index", c->profile_index);
    evb_addi(e, "Caller-Profile-Created-Time", c->profile_us);
    evb_addi(e, "Caller-Channel-Created-Time", c->created_us);
    evb_addi(e, "Caller-Channel-Answered-Time", c->answered_us);
    evb_add(e, "Caller-Channel-Progress-Time", "0");
    evb_add(e, "Caller-Channel-Progress-Media-Time", "0");
    if (t == EV_CHANNEL_HANGUP_COMPLETE || t == EV_CHANNEL_DESTROY)
        evb_addi(e, "Caller-Channel-Hangup-Time", c->hangup_us);
    else
        evb_add(e, "Caller-Channel-Hangup-Time", "0");
    evb_add(e, "Caller-Channel-Transfer-Time", "0");
    evb_add(e, "Caller-Channel-Resurrect-Time", "0");
    evb_add(e, "Caller-Channel-Bridged-Time", "0");
    evb_add(e, "Caller-Channel-Last-Hold", "0");
    evb_add(e, "Caller-Channel-Hold-Accum", "0");
    evb_add(e, "Caller-Screen-Bit", "true");
    evb_add(e, "Caller-Privacy-Hide-Name", "false");
    evb_add(e, "Caller-Privacy-Hide-Number", "false");
    add_base_vars(e, c, t);
    if (t == EV_CHANNEL_HANGUP_COMPLETE || t == EV_CHANNEL_DESTROY)
        add_cdr_vars(e, c);
}

/* Fires event t of c (twice for dup=1); nothing is formatted when no
 * client listens, but Event-Sequence still advances. */
static void call_event(call_t *c, ev_t t, int64_t now)
{
    if ((c->lose_hangup && t == EV_CHANNEL_HANGUP_COMPLETE)
        || (c->lose_answer && t == EV_CHANNEL_ANSWER)
        || (server_subscribers(t) == 0
            && !(c->reorder && t == EV_CHANNEL_ANSWER))) {
        G.st.events_created++;
        return;
    }
    build_channel_event(c, t, now);
    if (c->reorder && t == EV_CHANNEL_ANSWER) {
        ev_hold(&EVB, &c->held_answer);
        c->has_held = 1;
        return;
    }
    ev_emit(&EVB, c->dup ? 2 : 1);
}

void call_dump(call_t *c, int json, int encode, buf_t *out)
{
    build_channel_event(c, EV_CHANNEL_DATA, wall_us());
    if (json)
        ev_json(&EVB, out);
    else
        ev_plain(&EVB, out, encode);
}

/* ---- lifecycle ----------------------------------------------------------- */

static void live_link(call_t *c)
{
    c->prev = live_tail;
    c->next = NULL;
    if (live_tail)
        live_tail->next = c;
    else
        live_head = c;
    live_tail = c;
}

static void live_unlink(call_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        live_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        live_tail = c->prev;
    c->prev = c->next = NULL;
}

static void set_internal(call_t *c, const char *name, const char *value)
{
    cvar_set(c, name, value);
}

call_t *call_start(const call_params_t *p)
{
    call_t *c = slot_alloc();
    c->spec = p->spec;
    snprintf(c->name, sizeof c->name, "%s", p->name);
    snprintf(c->caller, sizeof c->caller, "%s", p->caller);
    snprintf(c->dest, sizeof c->dest, "%s", p->dest);
    snprintf(c->init_dest, sizeof c->init_dest, "%s", p->dest);
    snprintf(c->context, sizeof c->context, "%s", p->context);
    snprintf(c->init_context, sizeof c->init_context, "%s", p->context);
    if (p->uuid && *p->uuid)
        snprintf(c->uuid, sizeof c->uuid, "%s", p->uuid);
    else
        uuid_v4(c->uuid);
    if (call_find(c->uuid)) {
        LOG_WARN("call", 0, "call %s: uuid %s is live already: a new one is "
                 "drawn", c->name, c->uuid);
        uuid_v4(c->uuid);
    }
    c->ring_ms = p->ring_ms;
    c->talk_ms = p->talk_ms;
    c->answer = p->answer;
    c->noanswer_cause = p->noanswer_cause;
    c->dup = p->dup;
    c->reorder = p->reorder;
    c->lose_hangup = p->lose_hangup;
    c->lose_answer = p->lose_answer;
    c->ignore_sched = p->ignore_sched;
    c->profile_index = 1;
    c->session_id = ++session_ids;
    snprintf(c->chan_name, sizeof c->chan_name, "sofia/internal/%s@127.0.0.1",
             c->caller);
    snprintf(c->presence, sizeof c->presence, "%s@127.0.0.1", c->caller);
    memcpy(c->from_tag, c->uuid + 24, 12);
    c->from_tag[12] = '\0';
    snprintf(c->full_via, sizeof c->full_via,
             "SIP/2.0/UDP 127.0.0.1:5080;rport=5080;branch=z9hG4bK%.8s%.4s",
             c->uuid, c->uuid + 9);
    snprintf(c->full_from, sizeof c->full_from, "<sip:%s@127.0.0.1>;tag=%s",
             c->caller, c->from_tag);
    snprintf(c->full_to, sizeof c->full_to, "<sip:%s@127.0.0.1:5060>",
             c->dest);
    snprintf(c->req_uri, sizeof c->req_uri, "%s@127.0.0.1:5060", c->dest);
    snprintf(c->contact_uri, sizeof c->contact_uri, "%s@127.0.0.1:5080",
             c->caller);
    for (size_t i = 0; i < p->vars_len;) {
        const char *n = p->vars + i, *v = n + strlen(n) + 1;
        cvar_set(c, n, v);
        i += strlen(n) + 1 + strlen(v) + 1;
    }
    set_internal(c, "endpoint_disposition", "DELAYED NEGOTIATION");

    hash_insert(c);
    live_link(c);
    G.st.calls_created++;
    G.st.last_create_us = mono_us();
    if (G.st.calls_created == 1)
        G.st.first_create_us = G.st.last_create_us;
    G.st.live++;
    if (G.st.live > G.st.peak_live)
        G.st.peak_live = G.st.live;
    int64_t sec = mono_us() / 1000000;
    if (sec != G.st.sps_sec) {
        G.st.sps_last = sec == G.st.sps_sec + 1 ? G.st.sps_cur : 0;
        G.st.sps_sec = sec;
        G.st.sps_cur = 0;
    }
    if (++G.st.sps_cur > G.st.sps_max)
        G.st.sps_max = G.st.sps_cur;

    c->created_us = wall_us();
    c->profile_us = c->created_us;
    c->st = CST_PARKED;
    call_event(c, EV_CHANNEL_CREATE, c->created_us);
    char dp[2 * FS_STR + 16];
    snprintf(dp, sizeof dp, "ARRAY::%s|:%s", c->dest, c->dest);
    set_internal(c, "DP_MATCH", dp);
    set_internal(c, "call_uuid", c->uuid);
    set_internal(c, "current_application", "park");
    c->parked_us = wall_us();
    call_event(c, EV_CHANNEL_PARK, c->parked_us);
    timer_add(mono_us() + G.o.park_timeout_us, T_PARK_TIMEOUT, c->slot, c->inc,
              0, 0);
    return c;
}

void call_transfer(call_t *c, const char *dest, const char *dialplan,
                   const char *context)
{
    if (!dialplan || !*dialplan)
        dialplan = "XML";
    if (!context || !*context)
        context = "default";
    int64_t now = wall_us();
    if (c->verdict == V_NONE) {
        c->verdict = V_TRANSFER;
        c->verdict_us = now;
        run_note_verdict(c);
    }
    snprintf(c->xfer_dest, sizeof c->xfer_dest, "%s", dest);
    snprintf(c->xfer_context, sizeof c->xfer_context, "%s", context);
    snprintf(c->dest, sizeof c->dest, "%s", dest);
    snprintf(c->context, sizeof c->context, "%s", context);
    char xid[FS_UUID_STR];
    uuid_v4(xid);
    snprintf(c->xfer_source, sizeof c->xfer_source, "%lld:%s:bl_xfer:%s/%s/%s",
             (long long)(now / 1000000), xid, c->dest, c->context, dialplan);
    c->profile_index++;
    c->profile_us = now;
    set_internal(c, "max_forwards", "70");
    set_internal(c, "transfer_history", c->xfer_source);
    set_internal(c, "transfer_source", c->xfer_source);
    char dp[2 * FS_STR + 16];
    snprintf(dp, sizeof dp, "ARRAY::%s|:%s", c->dest, c->dest);
    set_internal(c, "DP_MATCH", dp);
    set_internal(c, "call_uuid", c->uuid);
    char arg[FS_STR + 32];
    snprintf(arg, sizeof arg, "sofia/external/%s@127.0.0.1", c->dest);
    set_internal(c, "current_application_data", arg);
    set_internal(c, "current_application", "bridge");
    if (c->st == CST_PARKED) {
        c->st = CST_ROUTING;
        timer_add(mono_us() + (int64_t)c->ring_ms * 1000, T_RING, c->slot,
                  c->inc, 0, 0);
    }
}

void call_hangup(call_t *c, int cause, ended_by_t by)
{
    if (c->st == CST_ENDED || c->st == CST_NEW)
        return;
    c->hangup_us = wall_us();
    c->cause = cause;
    c->ended_by = by;
    call_event(c, EV_CHANNEL_HANGUP, c->hangup_us);
    call_event(c, EV_CHANNEL_HANGUP_COMPLETE, c->hangup_us);
    if (c->has_held) {
        ev_held_emit(&c->held_answer, c->dup ? 2 : 1);
        c->has_held = 0;
    }
    call_event(c, EV_CHANNEL_DESTROY, wall_us());
    c->st = CST_ENDED;
    hash_remove(c);
    live_unlink(c);
    G.st.live--;
    G.st.calls_ended++;
    run_call_ended(c);
    slot_free(c);
}

void call_sched_hangup(call_t *c, uint32_t secs, int cause)
{
    buf_put(&c->sched, &secs, sizeof secs);
    if (c->ignore_sched)
        return;                 /* recorded, never fires (ignore_sched=1) */
    c->nsched_pending++;
    timer_add(mono_us() + (int64_t)secs * 1000000, T_SCHED, c->slot, c->inc,
              (uint32_t)cause, c->sched_gen);
}

uint32_t sched_del_group(const char *group)
{
    call_t *c = call_find(group);
    if (!c)
        return 0;
    uint32_t n = c->nsched_pending;
    c->nsched_pending = 0;
    c->sched_gen++;
    return n;
}

void calls_hangup_all(int cause)
{
    call_t *last = live_tail;
    for (call_t *c = live_head, *n; c; c = n) {
        int was_last = c == last;
        n = c->next;
        call_hangup(c, cause, END_END);
        if (was_last)
            break;
    }
}

/* ---- show channels / show calls ------------------------------------------ */

static const char *const chan_cols[] = {
    "uuid", "direction", "created", "created_epoch", "name", "state",
    "cid_name", "cid_num", "ip_addr", "dest", "application",
    "application_data", "dialplan", "context", "read_codec", "read_rate",
    "read_bit_rate", "write_codec", "write_rate", "write_bit_rate", "secure",
    "hostname", "presence_id", "presence_data", "accountcode", "callstate",
    "callee_name", "callee_num", "callee_direction", "call_uuid",
    "sent_callee_name", "sent_callee_num", "initial_cid_name",
    "initial_cid_num", "initial_ip_addr", "initial_dest", "initial_dialplan",
    "initial_context", NULL
};

static const char *const calls_cols[] = {
    "uuid", "direction", "created", "created_epoch", "name", "state",
    "cid_name", "cid_num", "ip_addr", "dest", "presence_id", "presence_data",
    "accountcode", "callstate", "callee_name", "callee_num",
    "callee_direction", "call_uuid", "hostname", "sent_callee_name",
    "sent_callee_num", "b_uuid", "b_direction", "b_created",
    "b_created_epoch", "b_name", "b_state", "b_cid_name", "b_cid_num",
    "b_ip_addr", "b_dest", "b_presence_id", "b_presence_data",
    "b_accountcode", "b_callstate", "b_callee_name", "b_callee_num",
    "b_callee_direction", "b_sent_callee_name", "b_sent_callee_num",
    "call_created_epoch", NULL
};

static void col_value(const call_t *c, const char *col, char *tmp, size_t cap,
                      const char **out)
{
    const char *v = "";
    if (strcmp(col, "uuid") == 0 || strcmp(col, "call_uuid") == 0) {
        v = c->uuid;
    } else if (strcmp(col, "direction") == 0) {
        v = "inbound";
    } else if (strcmp(col, "created") == 0) {
        time_t s = (time_t)(c->created_us / 1000000);
        struct tm tm;
        localtime_r(&s, &tm);
        strftime(tmp, cap, "%Y-%m-%d %H:%M:%S", &tm);
        v = tmp;
    } else if (strcmp(col, "created_epoch") == 0 ||
               strcmp(col, "call_created_epoch") == 0) {
        snprintf(tmp, cap, "%lld", (long long)(c->created_us / 1000000));
        v = tmp;
    } else if (strcmp(col, "name") == 0) {
        v = c->chan_name;
    } else if (strcmp(col, "state") == 0) {
        v = "CS_EXECUTE";
    } else if (strcmp(col, "cid_name") == 0 || strcmp(col, "cid_num") == 0 ||
               strcmp(col, "initial_cid_name") == 0 ||
               strcmp(col, "initial_cid_num") == 0) {
        v = c->caller;
    } else if (strcmp(col, "ip_addr") == 0 ||
               strcmp(col, "initial_ip_addr") == 0) {
        v = "127.0.0.1";
    } else if (strcmp(col, "dest") == 0) {
        v = c->dest;
    } else if (strcmp(col, "application") == 0) {
        v = c->profile_index > 1 ? "bridge" : "park";
    } else if (strcmp(col, "application_data") == 0) {
        if (c->profile_index > 1) {
            snprintf(tmp, cap, "sofia/external/%s@127.0.0.1", c->dest);
            v = tmp;
        }
    } else if (strcmp(col, "dialplan") == 0 ||
               strcmp(col, "initial_dialplan") == 0) {
        v = "XML";
    } else if (strcmp(col, "context") == 0) {
        v = c->context;
    } else if (strcmp(col, "read_codec") == 0 ||
               strcmp(col, "write_codec") == 0) {
        v = "PCMU";
    } else if (strcmp(col, "read_rate") == 0 ||
               strcmp(col, "write_rate") == 0) {
        v = "8000";
    } else if (strcmp(col, "read_bit_rate") == 0 ||
               strcmp(col, "write_bit_rate") == 0) {
        v = "64000";
    } else if (strcmp(col, "hostname") == 0) {
        v = G.hostname;
    } else if (strcmp(col, "presence_id") == 0) {
        v = c->presence;
    } else if (strcmp(col, "callstate") == 0) {
        v = c->st == CST_ANSWERED ? "ACTIVE" : "RINGING";
    } else if (strcmp(col, "initial_dest") == 0) {
        v = c->init_dest;
    } else if (strcmp(col, "initial_context") == 0) {
        v = c->init_context;
    }
    *out = v;
}

void calls_show(buf_t *out, int json, int calls_table)
{
    const char *const *cols = calls_table ? calls_cols : chan_cols;
    uint64_t n = 0;
    char tmp[128];
    const char *v;
    if (json) {
        if (!live_head) {
            BUF_LIT(out, "{\"row_count\": 0}\n");
            return;
        }
        for (call_t *c = live_head; c; c = c->next)
            n++;
        buf_printf(out, "{\"row_count\":%llu,\"rows\":[", (unsigned long long)n);
        for (call_t *c = live_head; c; c = c->next) {
            buf_putc(out, '{');
            for (int i = 0; cols[i]; i++) {
                if (i)
                    buf_putc(out, ',');
                json_str(out, cols[i], strlen(cols[i]));
                buf_putc(out, ':');
                col_value(c, cols[i], tmp, sizeof tmp, &v);
                json_str(out, v, strlen(v));
            }
            buf_putc(out, '}');
            if (c->next)
                buf_putc(out, ',');
        }
        BUF_LIT(out, "]}");
        return;
    }
    for (call_t *c = live_head; c; c = c->next) {
        if (n++ == 0) {
            for (int i = 0; cols[i]; i++) {
                buf_put(out, cols[i], strlen(cols[i]));
                buf_putc(out, cols[i + 1] ? ',' : '\n');
            }
        }
        for (int i = 0; cols[i]; i++) {
            col_value(c, cols[i], tmp, sizeof tmp, &v);
            buf_put(out, v, strlen(v));
            buf_putc(out, cols[i + 1] ? ',' : '\n');
        }
    }
    buf_printf(out, "\n%llu total.\n", (unsigned long long)n);
}

/* ---- timers -------------------------------------------------------------- */

typedef struct tmr {
    int64_t  when;
    uint64_t seq;
    uint32_t slot, inc, arg, gen;
    uint8_t  kind;
} tmr_t;

static inline int tmr_less(const tmr_t *a, const tmr_t *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static tmr_t   *heap;
static size_t   nheap, capheap;
static uint64_t tseq;
static size_t   compact_at = 65536;

/* Whether a call timer can still do something (cancelled ones stay in the
 * heap until they come due, or until a compaction drops them). */
static int timer_live(const tmr_t *t)
{
    if (t->kind < T_PARK_TIMEOUT || t->kind > T_SCHED)
        return 1;
    if (t->slot >= nslots)
        return 0;
    const call_t *c = slots[t->slot];
    if (c->inc != t->inc)
        return 0;
    switch (t->kind) {
    case T_PARK_TIMEOUT: return c->st == CST_PARKED;
    case T_RING: return c->st == CST_ROUTING;
    case T_TALK: return c->st == CST_ANSWERED;
    default: return c->st != CST_ENDED && c->st != CST_NEW &&
                    t->gen == c->sched_gen;
    }
}

static void sift_down(size_t i)
{
    tmr_t x = heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const tmr_t *mv = &x;
        if (l < nheap && tmr_less(&heap[l], mv)) {
            m = l;
            mv = &heap[l];
        }
        if (r < nheap && tmr_less(&heap[r], mv))
            m = r;
        if (m == i)
            break;
        heap[i] = heap[m];
        i = m;
    }
    heap[i] = x;
}

/* Drops cancelled timers (a sched_hangup +3600 of every call that ended
 * long ago) so that the heap stays near the number of live timers. */
static void timers_compact(void)
{
    size_t n = 0;
    for (size_t i = 0; i < nheap; i++)
        if (timer_live(&heap[i]))
            heap[n++] = heap[i];
    nheap = n;
    for (size_t i = nheap / 2; i-- > 0;)
        sift_down(i);
    compact_at = nheap * 2 > 65536 ? nheap * 2 : 65536;
}


void timer_add(int64_t when, tkind_t k, uint32_t slot, uint32_t inc,
               uint32_t arg, uint32_t gen)
{
    if (nheap >= compact_at)
        timers_compact();
    if (nheap == capheap) {
        size_t nc = capheap ? capheap * 2 : 4096;
        tmr_t *nh = realloc(heap, nc * sizeof *nh);
        if (!nh) {
            fprintf(stderr, "fssim: out of memory\n");
            abort();
        }
        heap = nh;
        capheap = nc;
    }
    tmr_t t = { when, ++tseq, slot, inc, arg, gen, (uint8_t)k };
    size_t i = nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!tmr_less(&t, &heap[p]))
            break;
        heap[i] = heap[p];
        i = p;
    }
    heap[i] = t;
}

static tmr_t timer_pop(void)
{
    tmr_t top = heap[0], last = heap[--nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const tmr_t *mv = &last;
        if (l < nheap && tmr_less(&heap[l], mv)) {
            m = l;
            mv = &heap[l];
        }
        if (r < nheap && tmr_less(&heap[r], mv))
            m = r;
        if (m == i)
            break;
        heap[i] = heap[m];
        i = m;
    }
    if (nheap)
        heap[i] = last;
    return top;
}

int64_t timers_next(void)
{
    return nheap ? heap[0].when : -1;
}

static void call_timer(const tmr_t *t)
{
    if (t->slot >= nslots)
        return;
    call_t *c = slots[t->slot];
    if (c->inc != t->inc || c->st == CST_ENDED || c->st == CST_NEW)
        return;
    switch (t->kind) {
    case T_PARK_TIMEOUT:
        if (c->st == CST_PARKED && c->verdict == V_NONE)
            call_hangup(c, cause_by_name("RECOVERY_ON_TIMER_EXPIRE"),
                        END_PARK_TIMEOUT);
        break;
    case T_RING:
        if (c->st != CST_ROUTING)
            break;
        if (!c->answer) {
            call_hangup(c, c->noanswer_cause, END_SCRIPT);
            break;
        }
        c->answered_us = wall_us();
        c->st = CST_ANSWERED;
        G.st.answered++;
        set_internal(c, "endpoint_disposition", "ANSWER");
        call_event(c, EV_CHANNEL_ANSWER, c->answered_us);
        timer_add(mono_us() + (int64_t)c->talk_ms * 1000, T_TALK, c->slot,
                  c->inc, 0, 0);
        break;
    case T_TALK:
        if (c->st == CST_ANSWERED)
            call_hangup(c, cause_by_name("NORMAL_CLEARING"), END_SCRIPT);
        break;
    case T_SCHED:
        if (t->gen != c->sched_gen)
            break;
        if (c->nsched_pending)
            c->nsched_pending--;
        call_hangup(c, (int)t->arg, END_SCHED);
        break;
    default:
        break;
    }
}

void timers_run(int64_t now)
{
    while (nheap && heap[0].when <= now) {
        tmr_t t = timer_pop();
        switch (t.kind) {
        case T_PARK_TIMEOUT: case T_RING: case T_TALK: case T_SCHED:
            call_timer(&t);
            break;
        case T_HEARTBEAT:
            heartbeat_fire();
            if (G.o.heartbeat_us > 0)
                timer_add(t.when + G.o.heartbeat_us, T_HEARTBEAT, 0, 0, 0, 0);
            break;
        default:
            run_timer((tkind_t)t.kind, t.arg);
            break;
        }
    }
}
