/*
 * http_stub.h -- one fake HTTP request for the fuzz targets that reach the
 * admin API's body readers (admin/http.h) without civetweb.
 *
 * http_stub.c compiles admin/http.c itself (so that its private struct
 * http_server is the real one) and defines the civetweb calls http.c
 * makes on a connection (mg_read, mg_write, mg_printf, the response
 * header calls, mg_get_header): being in the program, they take
 * precedence over libcivetweb's. The body is handed to mg_read in
 * pseudo-random pieces; what the handler answers is captured.
 *
 * One request at a time (libFuzzer runs one input at a time).
 */
#ifndef APOLO_HTTP_STUB_H
#define APOLO_HTTP_STUB_H

#include "admin/http.h"

#include <stddef.h>
#include <stdint.h>

/* Prepares r for a POST whose body is body[0..len) (kept by pointer until
 * stub_req_done). content_length: what the request claims (-1: none; may
 * differ from len to simulate a body that ends early). ctype: the
 * Content-Type header or NULL. max_body: the server's admin.max_body_kb in
 * bytes (what http_read_body(r, 0, ...) allows). seed: how mg_read splits
 * the body. */
void stub_req_init(http_req_t *r, const void *body, size_t len,
                   long long content_length, const char *ctype,
                   size_t max_body, uint64_t seed);

/* The answer sent so far: its body (NUL-terminated, "" when none) and
 * length. r->status says its status (0: nothing sent). */
const char *stub_answer(size_t *len);

/* Checks that exactly one answer was sent, that its status is one of the
 * given ones (a list ended by 0), and that its body is the API's JSON
 * error {"error": {"code": <code>, "message": <string>}} with code one of
 * codes (NULL-terminated list; NULL: any). abort()s otherwise. */
void stub_check_error(const http_req_t *r, const int *statuses,
                      const char *const *codes);

/* Releases what stub_req_init made. */
void stub_req_done(http_req_t *r);

#endif
