/*
 * api_fac.c -- Forced Authorization Codes through the API (placeholder;
 * being written).
 */
#include "admin/api.h"

const http_route_t api_fac_routes[] = {
    { NULL, NULL, HTTP_ROLE_NONE, NULL }
};
