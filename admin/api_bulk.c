/*
 * api_bulk.c -- bulk recharges from CSV and XLSX files (placeholder; being
 * written).
 */
#include "admin/api.h"

const http_route_t api_bulk_routes[] = {
    { NULL, NULL, HTTP_ROLE_NONE, NULL }
};
