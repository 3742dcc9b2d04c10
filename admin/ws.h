/*
 * ws.h -- the live calls over a WebSocket (GET /ws) for the dashboard.
 *
 * A client that upgrades /ws with a session (cookie apolo_session or
 * Authorization: Bearer, viewer role or above; else 401/403 and no
 * upgrade) gets one text message {"type":"snapshot",...} with every active
 * call of the calls table (shm/calls.h), then the live events as one
 * broadcaster thread finds them (a scan every WS_SCAN_MS):
 *
 *   call_start  a call appeared in a slot         {"call": {...}}
 *   call_answer authorized -> answered             {"call": {...}}
 *   call_update flags or the reservation changed   {"call": {...}}
 *   call_end    the call is FINAL or its slot free {"call_id", ...}
 *   tick        every second                        {"active","cps",
 *                                                    "revenue_per_min"}
 *
 * Every message has "type" and "at" (wall-clock µs when it was detected:
 * the dashboard measures its latency against it). Format of a call and
 * the order guarantees: admin/README.md and ws.c.
 *
 * Lifetime, in the admin process:
 *
 *   http_start -> ws_start (registers /ws, starts the broadcaster)
 *   ws_stop (joins the broadcaster) -> http_stop (civetweb closes the
 *   sockets: each close handler joins its client's sender) -> ws_free
 */
#ifndef APOLO_WS_H
#define APOLO_WS_H

#include "admin/http.h"
#include "shm/proc.h"

typedef struct ws_hub ws_hub_t;

/* Registers /ws on the server and starts the broadcaster over ctx->calls.
 * NULL on failure (logged; the HTTP API goes on without /ws). */
ws_hub_t *ws_start(http_server_t *http, proc_ctx_t *ctx);

/* Stops and joins the broadcaster: no event is queued afterwards. Clients
 * stay connected until http_stop. NULL is a no-op. */
void ws_stop(ws_hub_t *h);

/* After http_stop (every client closed): frees the hub. NULL: no-op. */
void ws_free(ws_hub_t *h);

#endif
