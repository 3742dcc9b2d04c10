/*
 * www.h -- the embedded web dashboard: every file of admin/www/ compiled
 * into the binary and served by the admin process under /ui/.
 *
 * The files are embedded at build time by admin/www/embed.sh, which writes
 * build/<mode>/admin/www_assets.c: one www_asset_t per file (the path
 * relative to admin/www/, its Content-Type, its bytes through the
 * assembler's .incbin, its length and a strong ETag = the first 16 hex
 * digits of its SHA-256). Nothing is read from disk at run time, and no
 * asset comes from the network (no CDN, no external font): the dashboard
 * works on an isolated management network.
 *
 * URLs: GET/HEAD /ui and /ui/ -> index.html; /ui/<path> -> that file; any
 * other name under /ui/ is 404 (only embedded names exist: no traversal).
 * "/" itself belongs to the API's dispatcher (admin/http.c registers it
 * for every path it serves), so the dashboard cannot take it.
 */
#ifndef APOLO_WWW_H
#define APOLO_WWW_H

#include "admin/http.h"

#include <stddef.h>

typedef struct www_asset {
    const char          *path;   /* "index.html", "js/app.js" */
    const char          *type;   /* Content-Type */
    const unsigned char *data;
    size_t               len;
    const char          *etag;   /* "\"0123456789abcdef\"" (with quotes) */
} www_asset_t;

/* The generated table (build/<mode>/admin/www_assets.c), sorted by path. */
extern const www_asset_t www_assets[];
extern const size_t      www_nassets;

/* The asset at path (relative to admin/www/, no leading '/'), or NULL. */
const www_asset_t *www_find(const char *path);

/* Registers the dashboard's handler for /ui on the server (every asset is
 * in the binary). 0, or -1 (logged; the API goes on without a dashboard).
 * Call it once, after http_start, from the admin process's main thread. */
int www_start(http_server_t *s);

#endif
