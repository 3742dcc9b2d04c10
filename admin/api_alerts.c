/*
 * api_alerts.c -- notifications through the API (placeholder; being
 * written).
 */
#include "admin/api.h"

const http_route_t api_alerts_routes[] = {
    { NULL, NULL, HTTP_ROLE_NONE, NULL }
};
