/*
 * fuzz_ingest.c -- the CDR ingest parsers of admin/api_ingest.c: a posted
 * body (plain JSON CDR, mod_json_cdr, mod_xml_cdr in every `encode`
 * form) up to the raw call that is then rated. This is exactly what
 * ingest_post does before it looks at the catalog: http_read_json or
 * ingest_read_fs (xcdr_unwrap, json_loadb / xcdr_to_json), then
 * ingest_parse_plain or ingest_parse_fs, then ingest_check_times.
 *
 * Those functions are static and answer through http_error on the
 * request, so this file includes admin/api_ingest.c and drives them with
 * the fake request of http_stub.h (admin/http.c itself, a fake civetweb
 * connection). The refactor that would make them callable on their own:
 * have ingest_parse_* and ingest_check_times return a status with a
 * message (struct { int status; const char *code; char msg[160]; })
 * instead of calling http_error, and move them with ingest_raw_t into
 * admin/ingest_parse.{h,c}; ingest_post then answers http_error(r,
 * e.status, e.code, "%s", e.msg).
 *
 * Input: byte 0 picks the format (plain, mod_json_cdr, mod_xml_cdr) and
 * the Content-Type; the rest is the body. Beyond "no crash" (UBSan: no
 * signed overflow in the time and billsec arithmetic):
 *   - every refusal is one answer, 400 or 422, with the API's JSON error
 *     body ({"error": {"code", "message"}}), never a 500;
 *   - an accepted CDR: call id 1..64 bytes, callee non-empty, strings
 *     within their jrec.h sizes and without NUL, a hangup cause, 0 <=
 *     start <= end, start <= answer <= end when answered, billsec 0 when not
 *     answered, billmsec and duration within INT32_MAX seconds, and
 *     nothing answered on the request.
 */
#include "admin/api_ingest.c"

#include "fuzz.h"
#include "http_stub.h"

static const char *const ctypes[] = {
    NULL,
    "application/json",
    "application/x-www-form-urlencoded",
    "application/x-www-form-base64-encoded",
    "application/x-www-form-plaintext",
    "text/xml",
};
#define NCTYPES (sizeof ctypes / sizeof ctypes[0])

static void check_raw(const ingest_raw_t *x)
{
    size_t n = strnlen(x->call_id, sizeof x->call_id);
    FUZZ_CHECK(n >= 1 && n <= JREC_CALL_ID_MAX, "call_id of %zu bytes", n);
    FUZZ_CHECK(strnlen(x->caller, sizeof x->caller) <= JREC_NUMBER_MAX,
               "caller");
    n = strnlen(x->callee, sizeof x->callee);
    FUZZ_CHECK(n >= 1 && n <= JREC_NUMBER_MAX, "callee of %zu bytes", n);
    n = strnlen(x->cause, sizeof x->cause);
    FUZZ_CHECK(n >= 1 && n <= JREC_CAUSE_MAX, "cause of %zu bytes", n);
    FUZZ_CHECK(strnlen(x->account, sizeof x->account) < sizeof x->account,
               "account");
    /* >= 0, not > 0: mod_json_cdr's start_uepoch "0" is accepted (the
     * plain JSON CDR refuses a zero start) */
    FUZZ_CHECK(x->start_us >= 0 && x->end_us >= x->start_us,
               "start %lld end %lld", (long long)x->start_us,
               (long long)x->end_us);
    FUZZ_CHECK(x->answer_us == 0 || (x->answer_us >= x->start_us
                                     && x->answer_us <= x->end_us),
               "answer %lld outside [%lld, %lld]", (long long)x->answer_us,
               (long long)x->start_us, (long long)x->end_us);
    FUZZ_CHECK(x->billmsec >= 0 && x->billmsec <= (int64_t)INT32_MAX * 1000,
               "billmsec %lld", (long long)x->billmsec);
    FUZZ_CHECK(x->answer_us > 0 || x->billmsec == 0,
               "billmsec %lld without an answer", (long long)x->billmsec);
    FUZZ_CHECK(x->duration >= 0 && x->duration <= INT32_MAX,
               "duration %lld", (long long)x->duration);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int refused[] = { 400, 422, 0 };
    static const int read_refused[] = { 400, 0 };
    static const char *const read_codes[] = { "invalid_json", "invalid_xml",
                                              NULL };
    if (size == 0)
        return 0;
    ingest_fmt_t fmt = (ingest_fmt_t)(data[0] % 3);
    const char *ctype = ctypes[(data[0] / 3) % NCTYPES];
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    http_req_t r;
    json_t *b = NULL;
    ingest_raw_t x;

    stub_req_init(&r, body, len, (long long)len, ctype, 1u << 20,
                  fuzz_hash(data, size));
    int rc = fmt == INGEST_PLAIN ? http_read_json(&r, 0, &b)
                                 : ingest_read_fs(&r, fmt, &b);
    if (rc != 0) {
        FUZZ_CHECK(b == NULL, "a body and an error");
        stub_check_error(&r, read_refused, read_codes);
        stub_req_done(&r);
        return 0;
    }
    FUZZ_CHECK(json_is_object(b) && r.status == 0, "read: status %d",
               r.status);
    memset(&x, 0, sizeof x);
    rc = fmt != INGEST_PLAIN ? ingest_parse_fs(&r, b, &x)
                             : ingest_parse_plain(&r, b, &x);
    json_decref(b);
    if (rc == 0)
        rc = ingest_check_times(&r, &x);
    if (rc != 0) {
        FUZZ_CHECK(rc == r.status, "returned %d, answered %d", rc, r.status);
        stub_check_error(&r, refused, NULL);
    } else {
        FUZZ_CHECK(r.status == 0, "accepted but answered %d", r.status);
        check_raw(&x);
    }
    stub_req_done(&r);
    return 0;
}
