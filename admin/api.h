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

#endif
