/*
 * http_stub.c -- admin/http.c with a fake civetweb connection (see
 * http_stub.h).
 *
 * admin/http.c is included rather than linked so that stub_req_init can
 * make a real struct http_server (private to http.c) for r->srv: then
 * http_read_body's limit is read exactly as the server reads it.
 *
 * NOTES
 * - The mg_* functions below replace libcivetweb's for the whole program
 *   (a definition in the executable wins over the shared library's). Only
 *   those http.c calls on a request are defined; the server's (mg_start,
 *   ...) stay civetweb's and are never called by the fuzz targets.
 */
#include "admin/http.c"

#include "http_stub.h"
#include "fuzz.h"

#include <jansson.h>

static struct {
    const uint8_t *body;
    size_t         len, pos;
    const char    *ctype;
    uint64_t       seed;
    char          *out;            /* the answer's body */
    size_t         out_len, out_cap;
    int            header_started, header_sent, answers;
} stub;

static struct http_server stub_srv;
static struct mg_request_info stub_ri;
static char stub_conn_token;       /* r->conn points here: never read */

static void stub_out(const void *p, size_t n)
{
    if (stub.out_len + n + 1 > stub.out_cap) {
        size_t cap = (stub.out_len + n + 1) * 2;
        char *o = realloc(stub.out, cap);
        if (o == NULL)
            abort();
        stub.out = o;
        stub.out_cap = cap;
    }
    memcpy(stub.out + stub.out_len, p, n);
    stub.out_len += n;
    stub.out[stub.out_len] = '\0';
}

void stub_req_init(http_req_t *r, const void *body, size_t len,
                   long long content_length, const char *ctype,
                   size_t max_body, uint64_t seed)
{
    memset(r, 0, sizeof *r);
    memset(&stub_ri, 0, sizeof stub_ri);
    stub.body = body;
    stub.len = len;
    stub.pos = 0;
    stub.ctype = ctype;
    stub.seed = seed;
    stub.out_len = 0;
    stub.header_started = stub.header_sent = stub.answers = 0;
    if (stub.out != NULL)
        stub.out[0] = '\0';
    stub_ri.request_method = "POST";
    stub_ri.request_uri = stub_ri.local_uri = "/fuzz";
    stub_ri.http_version = "1.1";
    stub_ri.content_length = content_length;
    snprintf(stub_ri.remote_addr, sizeof stub_ri.remote_addr, "127.0.0.1");
    stub_srv.max_body = max_body;
    r->conn = (struct mg_connection *)(void *)&stub_conn_token;
    r->ri = &stub_ri;
    r->method = "POST";
    r->path = "/fuzz";
    r->srv = &stub_srv;
    snprintf(r->user, sizeof r->user, "fuzz");
}

const char *stub_answer(size_t *len)
{
    *len = stub.out_len;
    return stub.out != NULL ? stub.out : "";
}

void stub_check_error(const http_req_t *r, const int *statuses,
                      const char *const *codes)
{
    int ok = 0;
    for (const int *s = statuses; *s != 0; s++)
        ok |= r->status == *s;
    FUZZ_CHECK(ok, "answered status %d (%s)", r->status,
               stub.out != NULL ? stub.out : "");
    FUZZ_CHECK(stub.answers == 1, "%d answers sent", stub.answers);
    json_error_t je;
    json_t *j = json_loadb(stub.out != NULL ? stub.out : "", stub.out_len,
                           0, &je);
    FUZZ_CHECK(j != NULL, "the error answer is not JSON: %s", je.text);
    const char *code = json_string_value(
        json_object_get(json_object_get(j, "error"), "code"));
    const json_t *msg = json_object_get(json_object_get(j, "error"),
                                        "message");
    FUZZ_CHECK(code != NULL && json_is_string(msg),
               "not an API error: %s", stub.out);
    if (codes != NULL) {
        int known = 0;
        for (const char *const *c = codes; *c != NULL; c++)
            known |= strcmp(code, *c) == 0;
        FUZZ_CHECK(known, "error code \"%s\" (%s)", code, stub.out);
    }
    json_decref(j);
}

void stub_req_done(http_req_t *r)
{
    (void)r;
    stub.body = NULL;
    stub.len = stub.pos = 0;
}

/* ---- civetweb, as http.c uses it on a connection ---------------------------- */

int mg_read(struct mg_connection *conn, void *buf, size_t len)
{
    (void)conn;
    size_t left = stub.len - stub.pos;
    if (left == 0 || len == 0)
        return 0;
    size_t n = fuzz_chunk(&stub.seed, 4096);
    if (n > len)
        n = len;
    if (n > left)
        n = left;
    memcpy(buf, stub.body + stub.pos, n);
    stub.pos += n;
    return (int)n;
}

int mg_write(struct mg_connection *conn, const void *buf, size_t len)
{
    (void)conn;
    stub_out(buf, len);
    return (int)len;
}

int mg_printf(struct mg_connection *conn, const char *fmt, ...)
{
    (void)conn;
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    /* the raw answer's header block is not part of the body */
    free(s);
    stub.answers++;
    return n;
}

int mg_response_header_start(struct mg_connection *conn, int status)
{
    (void)conn;
    (void)status;
    FUZZ_CHECK(!stub.header_started, "a second response header");
    stub.header_started = 1;
    stub.answers++;
    return 0;
}

int mg_response_header_add(struct mg_connection *conn, const char *header,
                           const char *value, int value_len)
{
    (void)conn;
    FUZZ_CHECK(stub.header_started && !stub.header_sent, "header %s added "
               "outside a response", header);
    FUZZ_CHECK(strpbrk(header, "\r\n") == NULL, "CR/LF in a header name");
    size_t n = value_len < 0 ? strlen(value) : (size_t)value_len;
    FUZZ_CHECK(memchr(value, '\r', n) == NULL && memchr(value, '\n', n)
               == NULL, "CR/LF in the value of %s", header);
    return 0;
}

int mg_response_header_add_lines(struct mg_connection *conn,
                                 const char *http1_headers)
{
    (void)conn;
    (void)http1_headers;
    return 0;
}

int mg_response_header_send(struct mg_connection *conn)
{
    (void)conn;
    FUZZ_CHECK(stub.header_started && !stub.header_sent, "header sent twice");
    stub.header_sent = 1;
    return 0;
}

const char *mg_get_response_code_text(const struct mg_connection *conn,
                                      int response_code)
{
    (void)conn;
    (void)response_code;
    return "Fuzz";
}

const char *mg_get_header(const struct mg_connection *conn, const char *name)
{
    (void)conn;
    if (name != NULL && strcasecmp(name, "Content-Type") == 0)
        return stub.ctype;
    return NULL;
}
