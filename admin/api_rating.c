/*
 * api_rating.c -- the rating endpoints of the HTTP API: may this call go
 * ahead, and what would a call cost.
 *
 *   GET /api/v1/authorize?caller=&callee=[&at=]            viewer and above
 *   GET /api/v1/quote?number=&seconds=&(caller=|account=|plan=)[&at=]
 *
 * Both read the shared region only (catalog, decks, balance slots): no
 * PostgreSQL, no lock, no allocation besides the JSON answer, so a
 * dialplan may ask before every call. `at` is the call's start in unix
 * seconds (default: now); it picks the rate rows in force and the
 * time-of-day period.
 *
 * Authorize answers what the ESL worker would decide at park
 * (workers/esl_call.c, esl_payer and esl_reserve_first) with the same
 * rules: the caller's extension pays an outbound call; the called
 * extension an inbound one, and the caller's an internal one, but those
 * are free unless esl.charge_inbound / esl.charge_internal; an active
 * account; the plan's longest prefix with a rate in force; and at least
 * one second (the first billable block) paid by the headroom (balance +
 * credit limit - reserved), at most esl.max_call_sec. It reserves nothing:
 * the answer is a forecast, and the worker decides again at park.
 *
 * A refusal is still 200: {"can_call": false, "reason": code, "message":
 * text}; the reasons are unknown_caller, inactive_extension, no_account,
 * blocked, closed, no_plan, invalid_number, no_rate, no_credit.
 *
 * Quote prices `seconds` of talk answered at `at` for the plan of an
 * extension (caller), of an account (account: an id, or a code when no
 * account has that id) or a plan, and answers the whole trace: tariff at
 * answer, rounding, rounded seconds, and the periods crossed (rate.h's
 * rate_trace_t: the first RATE_TRACE_MAX segments one by one, the seconds
 * of the others summed in rest_seconds).
 *
 * NOTES
 * - The handler is online in QSBR (http.c sets r->rd online around it):
 *   every pointer from cat_current() dies with the handler. Each endpoint
 *   therefore copies what it answers into a struct of its own first
 *   (rating_quote_t already is a copy), then builds the JSON from that.
 * - '+' in a query string decodes to a space (form encoding); a number
 *   parameter that starts with a space is read as starting with '+', so
 *   `caller=+5491...` works unencoded as well as `caller=%2B5491...`.
 * - Amounts are decimal strings (money_format), never JSON numbers.
 */
#include "admin/api.h"
#include "admin/http.h"

#include "shm/account.h"
#include "shm/catalog.h"
#include "shm/rating.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define API_NUMBER_MAX   40             /* digits, with an optional '+' */
#define API_PARAM_CAP    256            /* buffer of one query parameter */
#define API_QUOTE_MAX_SEC 86400
#define API_AT_MAX       253402300799LL /* 9999-12-31T23:59:59Z */

/* ---- parameters ------------------------------------------------------------ */

/* Number parameter `name` into buf[API_PARAM_CAP]: digits with an optional
 * leading '+', 1..API_NUMBER_MAX characters. 0 with *present set (buf ""
 * when absent), or the status sent (400). */
static int api_param_number(http_req_t *r, const char *name, char *buf,
                            int *present)
{
    if (http_query(r, name, buf, API_PARAM_CAP) == NULL) {
        buf[0] = '\0';
        *present = 0;
        return 0;
    }
    if (buf[0] == ' ')
        buf[0] = '+';                   /* an unencoded '+' (see NOTES) */
    size_t n = strlen(buf), i = buf[0] == '+';
    if (n == i || n > API_NUMBER_MAX) {
        return http_error(r, 400, "validation", "%s: 1 to %d digits, with "
                          "an optional leading '+'", name, API_NUMBER_MAX);
    }
    for (; i < n; i++)
        if (buf[i] < '0' || buf[i] > '9')
            return http_error(r, 400, "validation", "%s: digits only, with "
                              "an optional leading '+'", name);
    *present = 1;
    return 0;
}

/* Integer parameter `name` in [min, max], def when absent (or 400 if
 * required). 0, or the status sent (400). */
static int api_param_int(http_req_t *r, const char *name, int64_t min,
                         int64_t max, int64_t def, int required, int64_t *out)
{
    char buf[API_PARAM_CAP];
    if (http_query(r, name, buf, sizeof buf) == NULL) {
        if (required)
            return http_error(r, 400, "validation", "%s is required", name);
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (buf[0] < '0' || buf[0] > '9' || *end != '\0' || errno != 0
        || v < min || v > max)
        return http_error(r, 400, "validation",
                          "%s: an integer from %lld to %lld", name,
                          (long long)min, (long long)max);
    *out = v;
    return 0;
}

/* ---- JSON helpers -------------------------------------------------------------- */

static void j_money(json_t *o, const char *key, money_t m)
{
    char b[MONEY_STRLEN];
    money_format(m, b);
    json_object_set_new(o, key, json_string(b));
}

static void j_int(json_t *o, const char *key, int64_t v)
{
    json_object_set_new(o, key, json_integer((json_int_t)v));
}

static void j_str(json_t *o, const char *key, const char *s)
{
    json_object_set_new(o, key, json_string(s));
}

static const char *api_rounding(money_round_t m)
{
    switch (m) {
    case MONEY_ROUND_UP:      return "up";
    case MONEY_ROUND_DOWN:    return "down";
    case MONEY_ROUND_HALF_UP: return "half_up";
    default:                  return "unknown";
    }
}

static void j_account(json_t *o, const acct_view_t *v)
{
    j_int(o, "account_id", v->id);
    j_str(o, "account_type", v->type == ACCT_POSTPAID ? "postpaid" : "prepaid");
    j_str(o, "account_status", v->status == ACCT_ACTIVE ? "active"
                               : v->status == ACCT_BLOCKED ? "blocked"
                                                           : "closed");
    j_money(o, "balance", v->balance);
    j_money(o, "credit_limit", v->credit_limit);
    j_money(o, "reserved", v->reserved);
    j_money(o, "available", v->headroom);
}

/* The identity and tariff of a quote, flat (authorize) or nested. */
static void j_rate(json_t *o, const rating_quote_t *q)
{
    j_int(o, "plan_id", q->plan_id);
    j_int(o, "deck_version", (int64_t)q->deck_version);
    j_str(o, "number", q->number);
    j_str(o, "prefix", q->prefix);
    j_str(o, "zone", q->zone);
    j_int(o, "zone_id", q->zone_id);
    j_int(o, "rate_id", q->rate_id);
}

static void j_tariff(json_t *o, const rate_tariff_t *t)
{
    j_money(o, "rate_per_minute", t->per_minute);
    j_money(o, "connection_fee", t->connect_fee);
    j_int(o, "first_increment", t->first_inc);
    j_int(o, "next_increment", t->next_inc);
    j_int(o, "min_seconds", t->min_sec);
    j_int(o, "grace_seconds", t->grace_sec);
}

/* ---- GET /api/v1/authorize --------------------------------------------------- */

/* What the handler copies out of the catalog and the account slot. */
typedef struct api_auth {
    const char     *reason;       /* NULL: the call may go ahead */
    const char     *message;
    const char     *direction;
    int             charged;
    int             have_acct, have_rate;
    acct_view_t     v;
    char            extension[CAT_KEY];
    uint32_t        max_sec;
    rating_quote_t  q;
    uint64_t        cat_version;
} api_auth_t;

static void api_refuse(api_auth_t *a, const char *reason, const char *message)
{
    a->reason = reason;
    a->message = message;
    a->max_sec = 0;
}

/* The payer of caller -> callee, as esl_payer() finds it without an
 * apolo_account variable: the extension, or NULL (a->reason set). */
static const cat_ext_t *api_payer(const cat_hdr_t *c, const conf_t *cf,
                                  const char *caller, const char *callee,
                                  api_auth_t *a)
{
    const cat_ext_t *from = cat_extension(c, caller, strlen(caller));
    const cat_ext_t *to = cat_extension(c, callee, strlen(callee));
    const cat_ext_t *payer;

    if (from && to) {
        a->direction = "internal";
        payer = from;
        a->charged = cf->esl_charge_internal != 0;
    } else if (from) {
        a->direction = "outbound";
        payer = from;
        a->charged = 1;
    } else if (to) {
        a->direction = "inbound";
        payer = to;
        a->charged = cf->esl_charge_inbound != 0;
    } else {
        a->direction = "unknown";
        api_refuse(a, "unknown_caller",
                   "neither caller nor callee is a known extension");
        return NULL;
    }
    size_t n = strlen(payer->number);
    memcpy(a->extension, payer->number, n < CAT_KEY ? n : CAT_KEY - 1);
    if (!payer->active && a->charged) {
        api_refuse(a, "inactive_extension", "the extension is not active");
        return NULL;
    }
    return payer;
}

/* The decision, read from the region (r->rd is online). */
static void api_authorize_decide(http_req_t *r, const cat_hdr_t *c,
                                 const char *caller, const char *callee,
                                 int64_t at, api_auth_t *a)
{
    const conf_t *cf = r->ctx->conf;
    const acct_shm_t *accts = region_area(r->ctx->region,
                                          REGION_AREA_ACCOUNTS);
    uint32_t cap = (uint32_t)cf->esl_max_call_sec;

    a->cat_version = c->version;
    const cat_ext_t *payer = api_payer(c, cf, caller, callee, a);
    if (payer == NULL)
        return;
    if (acct_view(accts, payer->acct_slot, &a->v) != ACCT_OK) {
        api_refuse(a, "no_account", "the account has no balance slot");
        return;
    }
    a->have_acct = 1;
    if (!a->charged) {
        a->max_sec = cap;               /* free: bounded by the cap only */
        return;
    }
    if (a->v.status != ACCT_ACTIVE) {
        api_refuse(a, a->v.status == ACCT_BLOCKED ? "blocked" : "closed",
                   "the account is blocked or closed");
        return;
    }
    money_t avail = a->v.headroom > 0 ? a->v.headroom : 0;
    int rc = rating_authorize(r->ctx->region, c, a->v.plan_id, callee,
                              strlen(callee), at, avail, cap, &a->max_sec,
                              &a->q);
    switch (rc) {
    case RATING_OK:
        a->have_rate = 1;
        if (a->max_sec == 0 || a->v.headroom < 0)
            api_refuse(a, "no_credit",
                       "no credit for the first billable block");
        break;
    case RATING_ENOPLAN:
        api_refuse(a, "no_plan", rating_strerror(rc));
        break;
    case RATING_ENUMBER:
        api_refuse(a, "invalid_number", rating_strerror(rc));
        break;
    default:                            /* ENORATE, EPRICE: no route */
        api_refuse(a, "no_rate", rating_strerror(rc));
        break;
    }
}

static int api_authorize(http_req_t *r)
{
    char caller[API_PARAM_CAP], callee[API_PARAM_CAP];
    int has_caller, has_callee;
    int64_t at;

    int st;

    if ((st = api_param_number(r, "caller", caller, &has_caller)) != 0
        || (st = api_param_number(r, "callee", callee, &has_callee)) != 0)
        return st;
    if (!has_caller || !has_callee)
        return http_error(r, 400, "validation",
                          "caller and callee are required");
    if ((st = api_param_int(r, "at", 0, API_AT_MAX, (int64_t)time(NULL), 0,
                            &at)) != 0)
        return st;

    api_auth_t a;
    memset(&a, 0, sizeof a);
    const cat_hdr_t *c = cat_current(r->ctx->region);
    if (c == NULL)
        return http_error(r, 503, "unavailable", "no catalog published yet");
    api_authorize_decide(r, c, caller, callee, at, &a);
    c = NULL;                           /* nothing of it past this point */

    json_t *o = json_object();
    json_object_set_new(o, "can_call", json_boolean(a.reason == NULL));
    if (a.reason != NULL) {
        j_str(o, "reason", a.reason);
        j_str(o, "message", a.message);
    }
    j_int(o, "max_seconds", a.max_sec);
    j_str(o, "direction", a.direction);
    json_object_set_new(o, "charged", json_boolean(a.charged));
    if (a.extension[0] != '\0')
        j_str(o, "extension", a.extension);
    if (a.have_acct) {
        j_account(o, &a.v);
        j_int(o, "plan_id", a.v.plan_id);
    }
    if (a.have_rate) {
        j_rate(o, &a.q);
        j_tariff(o, &a.q.tariff);
        j_str(o, "rounding", api_rounding(a.q.rounding));
        if (a.reason == NULL)
            j_money(o, "max_cost", a.q.cost);
    }
    j_int(o, "at", at);
    j_int(o, "catalog_version", (int64_t)a.cat_version);
    return http_json(r, 200, o);
}

/* ---- GET /api/v1/quote ------------------------------------------------------------- */

typedef struct api_quote {
    int64_t         account_id;   /* 0: priced for a plan */
    char            plan_name[CAT_NAME];
    char            currency[4];
    rating_quote_t  q;
    uint64_t        cat_version;
} api_quote_t;

/* The plan to price with, from caller=, account= or plan=. 0 and *plan_id,
 * or the status sent (404, 422). */
static int api_quote_plan(http_req_t *r, const cat_hdr_t *c,
                          const char *caller, const char *account,
                          int64_t plan, api_quote_t *out, int64_t *plan_id)
{
    const acct_shm_t *accts = region_area(r->ctx->region,
                                          REGION_AREA_ACCOUNTS);
    uint32_t slot;
    acct_view_t v;

    if (plan > 0) {
        if (cat_plan(c, plan) == NULL)
            return http_error(r, 404, "not_found", "no rate plan %lld",
                              (long long)plan);
        *plan_id = plan;
        return 0;
    }
    if (caller[0] != '\0') {
        const cat_ext_t *e = cat_extension(c, caller, strlen(caller));
        if (e == NULL)
            return http_error(r, 404, "not_found", "no extension %s", caller);
        slot = e->acct_slot;
    } else {
        const cat_acct_t *ca = NULL;
        char *end;
        errno = 0;
        long long id = strtoll(account, &end, 10);
        if (account[0] >= '0' && account[0] <= '9' && *end == '\0'
            && errno == 0)
            ca = cat_account(c, id);
        if (ca == NULL)
            ca = cat_account_by_code(c, account);
        if (ca == NULL)
            return http_error(r, 404, "not_found", "no account %s", account);
        slot = ca->slot;
    }
    if (acct_view(accts, slot, &v) != ACCT_OK)
        return http_error(r, 404, "not_found",
                          "the account has no balance slot");
    if (v.plan_id <= 0 || cat_plan(c, v.plan_id) == NULL)
        return http_error(r, 422, "no_plan", "account %lld has no rate plan",
                          (long long)v.id);
    out->account_id = v.id;
    *plan_id = v.plan_id;
    return 0;
}

static int api_quote(http_req_t *r)
{
    char number[API_PARAM_CAP], caller[API_PARAM_CAP];
    char account[API_PARAM_CAP];
    int has_number, has_caller;
    int64_t seconds, plan, at;

    int st;

    if ((st = api_param_number(r, "number", number, &has_number)) != 0
        || (st = api_param_number(r, "caller", caller, &has_caller)) != 0
        || (st = api_param_int(r, "seconds", 0, API_QUOTE_MAX_SEC, 0, 1,
                               &seconds)) != 0
        || (st = api_param_int(r, "plan", 1, INT64_MAX, 0, 0, &plan)) != 0
        || (st = api_param_int(r, "at", 0, API_AT_MAX, (int64_t)time(NULL),
                               0, &at)) != 0)
        return st;
    if (!has_number)
        return http_error(r, 400, "validation", "number is required");
    if (http_query(r, "account", account, sizeof account) == NULL)
        account[0] = '\0';
    else if (account[0] == '\0' || strlen(account) >= CAT_KEY)
        return http_error(r, 400, "validation",
                          "account: an id or a code of 1 to %d characters",
                          CAT_KEY - 1);
    if ((plan > 0) + has_caller + (account[0] != '\0') != 1)
        return http_error(r, 400, "validation",
                          "exactly one of caller, account or plan");

    api_quote_t out;
    int64_t plan_id = 0;
    memset(&out, 0, sizeof out);
    const cat_hdr_t *c = cat_current(r->ctx->region);
    if (c == NULL)
        return http_error(r, 503, "unavailable", "no catalog published yet");
    if ((st = api_quote_plan(r, c, caller, account, plan, &out, &plan_id))
        != 0)
        return st;
    const cat_plan_t *p = cat_plan(c, plan_id);
    memcpy(out.plan_name, p->name, sizeof out.plan_name);
    out.plan_name[sizeof out.plan_name - 1] = '\0';
    memcpy(out.currency, p->currency, sizeof out.currency);
    out.currency[sizeof out.currency - 1] = '\0';
    out.cat_version = c->version;
    int rc = rating_price(r->ctx->region, c, plan_id, number, strlen(number),
                          at, at, (uint32_t)seconds, &out.q);
    c = NULL;
    p = NULL;                           /* nothing of them past this point */
    switch (rc) {
    case RATING_OK:
        break;
    case RATING_ENOPLAN:
        return http_error(r, 422, "no_deck", "plan %lld has no deck",
                          (long long)plan_id);
    case RATING_ENUMBER:
        return http_error(r, 422, "invalid_number", "%s does not normalise "
                          "with the plan's rules", number);
    case RATING_ENORATE:
        return http_error(r, 422, "no_rate", "no rate in force for %s",
                          number);
    default:
        return http_error(r, 422, "unpriceable", "%s: %s", number,
                          rating_strerror(rc));
    }

    const rating_quote_t *q = &out.q;
    json_t *o = json_object();
    if (out.account_id > 0)
        j_int(o, "account_id", out.account_id);
    j_str(o, "plan_name", out.plan_name);
    j_str(o, "currency", out.currency);
    j_rate(o, q);
    j_str(o, "dialled", number);
    json_t *t = json_object();
    j_tariff(t, &q->tariff);
    json_object_set_new(o, "tariff", t);
    j_str(o, "rounding", api_rounding(q->rounding));
    j_int(o, "at", at);
    j_int(o, "seconds", seconds);
    j_int(o, "rounded_seconds", q->rounded_sec);
    j_money(o, "cost", q->cost);
    j_money(o, "connection_fee_charged", q->trace.connect_fee);
    j_int(o, "answer_period", q->trace.answer_period);
    json_t *segs = json_array();
    for (uint32_t i = 0; i < q->trace.nrecorded && i < RATE_TRACE_MAX; i++) {
        json_t *s = json_object();
        j_int(s, "seconds", q->trace.seg[i].seconds);
        j_money(s, "rate_per_minute", q->trace.seg[i].per_minute);
        j_int(s, "period", q->trace.seg[i].period);
        json_array_append_new(segs, s);
    }
    json_object_set_new(o, "periods", segs);
    j_int(o, "segments", q->trace.nsegments);
    j_int(o, "rest_seconds", q->trace.rest_seconds);
    j_int(o, "catalog_version", (int64_t)out.cat_version);
    return http_json(r, 200, o);
}

const http_route_t api_rating_routes[] = {
    { "GET", "/api/v1/authorize", HTTP_ROLE_VIEWER, api_authorize },
    { "GET", "/api/v1/quote",     HTTP_ROLE_VIEWER, api_quote },
    { NULL, NULL, HTTP_ROLE_NONE, NULL }
};
