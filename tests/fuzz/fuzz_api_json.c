/*
 * fuzz_api_json.c -- the JSON bodies of the admin API (admin/http.h):
 * http_read_body / http_read_json as every POST/PUT/PATCH handler calls
 * them (admin/http.c itself, with the fake civetweb connection of
 * http_stub.h: the body arrives in pseudo-random pieces), and what the
 * handlers apply to the object without PostgreSQL: http_money on string
 * members, http_diff for the audit of an update.
 *
 * The input is the body. Beyond "no crash":
 *   - read: 0 with a JSON object and nothing answered, or -1 with one
 *     answer 400 {"error": {"code": "invalid_json", "message": ...}}
 *     (valid JSON even when jansson's message quotes the input: never a
 *     500 from an unencodable message); the same body with no
 *     Content-Length is 411, over the size limit 413 (not read), cut
 *     short 400 "truncated";
 *   - the object dumps and loads back equal (JSON_REJECT_DUPLICATES);
 *   - http_money: only strings; what it accepts prints canonically
 *     (money_format) and parses back to the same amount, and equals
 *     money_parse of the text; no number is ever taken as money;
 *   - http_diff(o, o) is {"before": {}, "after": {}}; http_diff({}, o)
 *     lists every key of o with before null; a key in the skip list is
 *     never listed.
 */
#include "fuzz.h"
#include "http_stub.h"

#include "shm/money.h"

#include <jansson.h>

#define MAX_BODY (1u << 20)

static void check_money(const json_t *o)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        money_t m = 0, back = 0, direct = 0;
        int rc = http_money(v, &m);
        if (!json_is_string(v)) {
            FUZZ_CHECK(rc == -1, "%s: a %d taken as money", k,
                       (int)json_typeof(v));
            if (json_is_object(v))
                check_money(v);
            continue;
        }
        int prc = money_parse(json_string_value(v), json_string_length(v),
                              &direct);
        FUZZ_CHECK((rc == 0) == (prc == MONEY_OK), "%s: http_money %d, "
                   "money_parse %d", k, rc, prc);
        if (rc != 0)
            continue;
        FUZZ_CHECK(m == direct, "%s: %lld vs %lld", k, (long long)m,
                   (long long)direct);
        char buf[MONEY_STRLEN];
        size_t n = money_format(m, buf);
        FUZZ_CHECK(money_parse(buf, n, &back) == MONEY_OK && back == m,
                   "%s: %lld prints as %s", k, (long long)m, buf);
    }
}

static void check_diff(json_t *o)
{
    json_t *d = http_diff(o, o, NULL);
    FUZZ_CHECK(d != NULL, "http_diff(o, o) failed");
    FUZZ_CHECK(json_object_size(json_object_get(d, "before")) == 0
               && json_object_size(json_object_get(d, "after")) == 0,
               "an object differs from itself");
    json_decref(d);

    json_t *empty = json_object();
    const char *first = NULL;
    void *it = json_object_iter(o);
    if (it != NULL)
        first = json_object_iter_key(it);
    const char *skip[] = { first, NULL };
    d = http_diff(empty, o, skip);
    FUZZ_CHECK(d != NULL, "http_diff({}, o) failed");
    const json_t *before = json_object_get(d, "before");
    const json_t *after = json_object_get(d, "after");
    size_t want = json_object_size(o) - (first != NULL);
    FUZZ_CHECK(json_object_size(before) == want
               && json_object_size(after) == want,
               "%zu keys listed, %zu expected", json_object_size(after),
               want);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (first != NULL && strcmp(k, first) == 0) {
            FUZZ_CHECK(json_object_get(after, k) == NULL, "skipped key %s "
                       "listed", k);
            continue;
        }
        FUZZ_CHECK(json_is_null(json_object_get(before, k))
                   && json_equal(json_object_get(after, k), v),
                   "key %s not listed as new", k);
    }
    json_decref(d);
    json_decref(empty);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int st400[] = { 400, 0 }, st411[] = { 411, 0 },
                     st413[] = { 413, 0 };
    static const char *const invalid[] = { "invalid_json", NULL };
    static const char *const trunc[] = { "truncated", NULL };
    static const char *const len_req[] = { "length_required", NULL };
    static const char *const big[] = { "too_large", NULL };
    uint64_t seed = fuzz_hash(data, size);
    http_req_t r;
    json_t *o = NULL;
    char *raw = NULL;
    size_t rawlen = 0;

    /* no Content-Length: 411, nothing read */
    stub_req_init(&r, data, size, -1, "application/json", MAX_BODY, seed);
    FUZZ_CHECK(http_read_json(&r, 0, &o) == -1 && o == NULL, "no length");
    stub_check_error(&r, st411, len_req);
    stub_req_done(&r);

    /* over the limit: 413 */
    if (size > 1) {
        stub_req_init(&r, data, size, (long long)size, NULL, size - 1, seed);
        FUZZ_CHECK(http_read_json(&r, 0, &o) == -1, "over the limit");
        stub_check_error(&r, st413, big);
        stub_req_done(&r);
    }

    /* the body ends early: 400 truncated */
    stub_req_init(&r, data, size, (long long)size + 1, NULL, MAX_BODY, seed);
    FUZZ_CHECK(http_read_body(&r, 0, &raw, &rawlen) == -1 && raw == NULL,
               "a short body read");
    stub_check_error(&r, st400, trunc);
    stub_req_done(&r);

    /* the body as is */
    stub_req_init(&r, data, size, (long long)size, "application/json",
                  MAX_BODY, seed);
    FUZZ_CHECK(http_read_body(&r, 0, &raw, &rawlen) == 0, "read_body");
    FUZZ_CHECK(rawlen == size && memcmp(raw, data, size) == 0
               && raw[size] == '\0', "the body read is not the body sent");
    free(raw);
    stub_req_done(&r);

    stub_req_init(&r, data, size, (long long)size, "application/json",
                  MAX_BODY, seed);
    int rc = http_read_json(&r, 0, &o);
    if (rc != 0) {
        FUZZ_CHECK(rc == -1 && o == NULL, "read_json = %d", rc);
        stub_check_error(&r, st400, invalid);
        stub_req_done(&r);
        return 0;
    }
    FUZZ_CHECK(r.status == 0 && json_is_object(o), "accepted: status %d",
               r.status);
    stub_req_done(&r);

    char *text = json_dumps(o, JSON_COMPACT);
    FUZZ_CHECK(text != NULL, "json_dumps");
    json_t *back = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_CHECK(back != NULL && json_equal(o, back), "JSON round trip: %.200s",
               text);
    json_decref(back);
    free(text);

    check_money(o);
    check_diff(o);
    json_decref(o);
    return 0;
}
