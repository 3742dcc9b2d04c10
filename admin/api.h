/*
 * api.h -- the route tables of the admin API, one per module
 * (admin/api_*.c); admin.c hands them to http_start (admin/http.h).
 */
#ifndef APOLO_API_H
#define APOLO_API_H

#include "admin/http.h"

/* api_auth.c: /healthz, login, logout, me, users */
extern const http_route_t api_auth_routes[];
/* api_rating.c: authorize, quote (shared memory only) */
extern const http_route_t api_rating_routes[];
/* api_accounts.c: accounts and extensions */
extern const http_route_t api_accounts_routes[];
/* api_money.c: recharges, adjustments, refunds (journaled, idempotent) */
extern const http_route_t api_money_routes[];
/* api_plans.c: rate plans, zones, rates, deck import and export */
extern const http_route_t api_plans_routes[];
/* api_cdrs.c: CDR queries and export, statistics */
extern const http_route_t api_cdrs_routes[];
/* api_ingest.c: CDRs posted by PBXs (mod_json_cdr, plain JSON) */
extern const http_route_t api_ingest_routes[];
/* api_bulk.c: bulk recharges from CSV and XLSX files */
extern const http_route_t api_bulk_routes[];
/* api_alerts.c: notifications (outbox, test messages) */
extern const http_route_t api_alerts_routes[];
/* api_periods.c: a plan's time-of-day periods and their windows */
extern const http_route_t api_periods_routes[];
/* api_fac.c: Forced Authorization Codes (and their push to CUCM by AXL) */
extern const http_route_t api_fac_routes[];
/* api_metrics.c: /metrics (Prometheus), /api/v1/openapi.json */
extern const http_route_t api_metrics_routes[];
/* The OpenAPI document (admin/openapi.json, embedded at build time): its
 * bytes (NUL-terminated) and length in *len. tests/test_openapi.c checks
 * that it describes every route of every table above. */
const char *api_openapi_doc(size_t *len);

#endif
