/*
 * www.c -- the dashboard's static files, from the binary (see www.h).
 *
 *   civetweb worker: /ui[/...] -> www_handler
 *     method not GET/HEAD  -> 405, Allow: GET, HEAD
 *     name not embedded    -> 404 (text)
 *     If-None-Match = ETag -> 304, no body
 *     else                 -> 200, Content-Type, Content-Length, ETag, body
 *
 * Every answer carries the security headers (WWW_SECURITY): a Content-
 * Security-Policy that allows only this origin (scripts, styles, images;
 * WebSocket to this host), no framing, no sniffing, no referrer leaving
 * the site. Cache-Control is no-cache: the browser keeps the files and
 * revalidates them with If-None-Match (a 304 costs one round trip); the
 * names carry no hash, so a new binary's files are seen at once.
 *
 * NOTES
 * - The handler is registered on "/ui", not "/": http.c's dispatcher
 *   holds "/" (civetweb keeps one handler per URI, a second registration
 *   would replace it) and matches /api, /healthz, /metrics there.
 *   civetweb prefers "/ui" for /ui/... (a "uri/something" match comes
 *   before the pattern match of "/").
 * - No PostgreSQL, no session, no QSBR: the files are public (the login
 *   page is one of them); every datum comes from the API, which checks
 *   the session and the role itself.
 */
#include "admin/www.h"

#include "shm/log.h"

#include <civetweb.h>
#include <string.h>

#define WWW_PREFIX "/ui"

#define WWW_SECURITY                                                       \
    "Content-Security-Policy: default-src 'self'; connect-src 'self' ws: " \
    "wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; "    \
    "object-src 'none'; base-uri 'none'; form-action 'self'; "            \
    "frame-ancestors 'none'\r\n"                                           \
    "X-Content-Type-Options: nosniff\r\n"                                  \
    "X-Frame-Options: DENY\r\n"                                            \
    "Referrer-Policy: same-origin\r\n"

const www_asset_t *www_find(const char *path)
{
    size_t lo = 0, hi = www_nassets;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(path, www_assets[mid].path);
        if (c == 0)
            return &www_assets[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Does the If-None-Match header (a list, or "*") name etag? */
static int www_etag_matches(const char *inm, const char *etag)
{
    if (inm == NULL)
        return 0;
    if (strcmp(inm, "*") == 0)
        return 1;
    size_t n = strlen(etag);
    for (const char *p = strstr(inm, etag); p != NULL; p = strstr(p + 1, etag)) {
        char after = p[n];
        if (after == '\0' || after == ',' || after == ' ')
            return 1;
    }
    return 0;
}

static int www_plain(struct mg_connection *conn, int status,
                     const char *reason, const char *extra, const char *msg,
                     int head)
{
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\n"
              "Content-Type: text/plain; charset=utf-8\r\n"
              "Content-Length: %zu\r\n"
              "Cache-Control: no-store\r\n"
              WWW_SECURITY
              "%s"
              "\r\n",
              status, reason, strlen(msg), extra);
    if (!head)
        mg_write(conn, msg, strlen(msg));
    return status;
}

static int www_handler(struct mg_connection *conn, void *cbdata)
{
    (void)cbdata;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *m = ri->request_method;
    const char *uri = ri->local_uri != NULL ? ri->local_uri : WWW_PREFIX;
    int head = strcmp(m, "HEAD") == 0;

    if (!head && strcmp(m, "GET") != 0)
        return www_plain(conn, 405, "Method Not Allowed",
                         "Allow: GET, HEAD\r\n", "method not allowed\n", 0);

    /* uri is "/ui", "/ui/" or "/ui/<name>" (civetweb's match, see NOTES) */
    const char *name = uri + strlen(WWW_PREFIX);
    if (*name == '/')
        name++;
    if (*name == '\0')
        name = "index.html";
    const www_asset_t *a = www_find(name);
    if (a == NULL)
        return www_plain(conn, 404, "Not Found", "", "not found\n", head);

    if (www_etag_matches(mg_get_header(conn, "If-None-Match"), a->etag)) {
        mg_printf(conn,
                  "HTTP/1.1 304 Not Modified\r\n"
                  "ETag: %s\r\n"
                  "Cache-Control: no-cache\r\n"
                  WWW_SECURITY
                  "\r\n",
                  a->etag);
        return 304;
    }
    mg_printf(conn,
              "HTTP/1.1 200 OK\r\n"
              "Content-Type: %s\r\n"
              "Content-Length: %zu\r\n"
              "ETag: %s\r\n"
              "Cache-Control: no-cache\r\n"
              WWW_SECURITY
              "\r\n",
              a->type, a->len, a->etag);
    if (!head && a->len > 0)
        mg_write(conn, a->data, a->len);
    return 200;
}

int www_start(http_server_t *s)
{
    struct mg_context *mg = s != NULL ? http_civetweb(s) : NULL;
    if (mg == NULL) {
        LOG_ERROR("www", 0, "no HTTP server: the dashboard is not served");
        return -1;
    }
    mg_set_request_handler(mg, WWW_PREFIX, www_handler, NULL);
    size_t bytes = 0;
    for (size_t i = 0; i < www_nassets; i++)
        bytes += www_assets[i].len;
    LOG_INFO("www", "dashboard at %s/: %zu files, %zu bytes", WWW_PREFIX,
             www_nassets, bytes);
    return 0;
}
