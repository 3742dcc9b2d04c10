/*
 * fuzz_xml_cdr.c -- the bodies FreeSWITCH's mod_xml_cdr / mod_json_cdr
 * post (admin/xml_cdr.h): xcdr_unwrap (the "cdr=" forms: percent, base64,
 * plain) and xcdr_to_json (the XML document in mod_json_cdr's shape).
 *
 * Input: the first byte picks the Content-Type (the table below), the
 * rest is the body. Beyond "no crash":
 *   - unwrap: 0 with the document inside the body, NUL-terminated, not
 *     empty, never longer than the body; or -1 with a message;
 *   - unwrap round trips: the document percent-encoded (every byte) and
 *     base64-encoded (with line breaks) behind "cdr=" unwraps, with the
 *     matching Content-Type, to the same bytes;
 *   - to_json: NULL with a message, or exactly {"variables": {...},
 *     "callflow": [{"caller_profile": {...}}]} whose values are strings
 *     of at most XCDR_MAX_VALUE bytes, at most XCDR_MAX_VARS variables,
 *     names shorter than 128 bytes;
 *   - to_json round trip: that object written back as a mod_xml_cdr
 *     document (names as elements, text escaped) converts to an equal
 *     object; and its JSON text loads back equal.
 */
#include "fuzz.h"

#include "admin/xml_cdr.h"

#include <sodium.h>

static const char *const ctypes[] = {
    NULL,
    "application/x-www-form-urlencoded",
    "application/x-www-form-base64-encoded",
    "application/x-www-form-plaintext",
    "text/xml",
    "application/json",
    "application/x-www-form-urlencoded; charset=utf-8",
    "APPLICATION/X-WWW-FORM-BASE64-ENCODED",
};
#define NCTYPES (sizeof ctypes / sizeof ctypes[0])

/* A growing output buffer. */
typedef struct buf {
    char  *p;
    size_t n, cap;
} buf_t;

static void put(buf_t *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL)
            abort();
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

/* Unwraps a copy of body with ctype: 0 and a malloc'd copy of the doc. */
static int unwrap_copy(const char *body, size_t len, const char *ctype,
                       char **doc, size_t *doclen)
{
    char *b = fuzz_dup(body, len, 1), *d = NULL, err[XCDR_ERR_MAX];
    b[len] = '\0';
    err[0] = '\0';
    int rc = xcdr_unwrap(b, len, ctype, &d, doclen, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "xcdr_unwrap = %d", rc);
    if (rc == 0) {
        FUZZ_CHECK(d >= b && *doclen > 0 && d + *doclen <= b + len,
                   "document [%td, +%zu) outside the body of %zu bytes",
                   d - b, *doclen, len);
        FUZZ_CHECK(d[*doclen] == '\0', "document not NUL-terminated");
        *doc = fuzz_dup(d, *doclen, 0);
    } else {
        FUZZ_CHECK(err[0] != '\0', "-1 without a message");
    }
    free(b);
    return rc;
}

static void unwrap_roundtrips(const char *doc, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    buf_t b = { 0 };
    char *back = NULL;
    size_t blen = 0;

    puts_(&b, "cdr=");
    for (size_t i = 0; i < n; i++) {
        char e[3] = { '%', hex[(unsigned char)doc[i] >> 4],
                      hex[(unsigned char)doc[i] & 15] };
        put(&b, e, 3);
    }
    FUZZ_CHECK(unwrap_copy(b.p, b.n, ctypes[1], &back, &blen) == 0,
               "a percent-encoded document does not unwrap");
    FUZZ_CHECK(blen == n && memcmp(back, doc, n) == 0,
               "percent round trip: %zu bytes back for %zu", blen, n);
    free(back);

    b.n = 0;
    puts_(&b, "cdr=");
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = fuzz_dup("", 0, cap);
    sodium_bin2base64(b64, cap, (const unsigned char *)doc, n,
                      sodium_base64_VARIANT_ORIGINAL);
    for (size_t i = 0, l = strlen(b64); i < l; i += 76) {
        put(&b, b64 + i, l - i < 76 ? l - i : 76);
        puts_(&b, "\r\n");                      /* as `base64 -w 76` */
    }
    free(b64);
    FUZZ_CHECK(unwrap_copy(b.p, b.n, ctypes[2], &back, &blen) == 0,
               "a base64 document does not unwrap");
    FUZZ_CHECK(blen == n && memcmp(back, doc, n) == 0,
               "base64 round trip: %zu bytes back for %zu", blen, n);
    free(back);
    free(b.p);
}

/* Text escaped for XML: & < > and CR (a literal CR would become LF). */
static void put_text(buf_t *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':  puts_(b, "&amp;"); break;
        case '<':  puts_(b, "&lt;"); break;
        case '>':  puts_(b, "&gt;"); break;
        case '\r': puts_(b, "&#13;"); break;
        default:   put(b, s, 1);
        }
    }
}

static void put_object(buf_t *b, const json_t *o)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        puts_(b, "<");
        puts_(b, k);
        puts_(b, ">");
        put_text(b, json_string_value(v));
        puts_(b, "</");
        puts_(b, k);
        puts_(b, ">");
    }
}

static void check_strings(const json_t *o, const char *what)
{
    const char *k;
    json_t *v;
    FUZZ_CHECK(json_is_object(o), "%s: not an object", what);
    json_object_foreach((json_t *)o, k, v) {
        FUZZ_CHECK(strlen(k) > 0 && strlen(k) < 128, "%s: name of %zu "
                   "bytes", what, strlen(k));
        FUZZ_CHECK(json_is_string(v), "%s.%s: not a string", what, k);
        FUZZ_CHECK(json_string_length(v) <= XCDR_MAX_VALUE, "%s.%s: %zu "
                   "bytes", what, k, json_string_length(v));
        FUZZ_CHECK(strlen(json_string_value(v)) == json_string_length(v),
                   "%s.%s: a NUL inside", what, k);
    }
}

static void check_json(const char *doc, size_t n)
{
    char err[XCDR_ERR_MAX];
    err[0] = '\0';
    json_t *j = xcdr_to_json(doc, n, err, sizeof err);
    if (j == NULL) {
        FUZZ_CHECK(err[0] != '\0', "NULL without a message");
        return;
    }
    FUZZ_CHECK(json_is_object(j) && json_object_size(j) == 2,
               "not {variables, callflow}");
    const json_t *vars = json_object_get(j, "variables");
    const json_t *flow = json_object_get(j, "callflow");
    FUZZ_CHECK(json_is_array(flow) && json_array_size(flow) == 1
               && json_is_object(json_array_get(flow, 0))
               && json_object_size(json_array_get(flow, 0)) == 1,
               "callflow is not [{caller_profile}]");
    const json_t *prof = json_object_get(json_array_get(flow, 0),
                                         "caller_profile");
    check_strings(vars, "variables");
    check_strings(prof, "caller_profile");
    FUZZ_CHECK(json_object_size(vars) >= 1
               && json_object_size(vars) <= XCDR_MAX_VARS,
               "%zu variables", json_object_size(vars));

    /* written back as mod_xml_cdr writes it */
    buf_t b = { 0 };
    puts_(&b, "<?xml version=\"1.0\"?>\n<cdr><variables>");
    put_object(&b, vars);
    puts_(&b, "</variables><callflow><caller_profile>");
    put_object(&b, prof);
    puts_(&b, "</caller_profile></callflow></cdr>");
    json_t *k = xcdr_to_json(b.p, b.n, err, sizeof err);
    FUZZ_CHECK(k != NULL, "the written-back document fails: %s", err);
    FUZZ_CHECK(json_equal(j, k), "written back and read again, the CDR "
               "differs");
    json_decref(k);
    free(b.p);

    char *text = json_dumps(j, JSON_COMPACT);
    FUZZ_CHECK(text != NULL, "json_dumps");
    json_t *l = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    FUZZ_CHECK(l != NULL && json_equal(j, l), "JSON round trip");
    json_decref(l);
    free(text);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *ctype = ctypes[data[0] % NCTYPES];
    char *doc = NULL;
    size_t n = 0;
    if (sodium_init() < 0)
        abort();
    if (unwrap_copy((const char *)data + 1, size - 1, ctype, &doc, &n) != 0)
        return 0;
    unwrap_roundtrips(doc, n);
    check_json(doc, n);
    free(doc);
    return 0;
}
