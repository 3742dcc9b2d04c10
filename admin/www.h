/*
 * www.h -- the embedded web dashboard (placeholder; being written).
 */
#ifndef APOLO_WWW_H
#define APOLO_WWW_H

#include "admin/http.h"

/* Registers the dashboard's handlers on the server (every asset is in the
 * binary). 0, or -1 (logged; the API goes on without a dashboard). */
int www_start(http_server_t *s);

#endif
