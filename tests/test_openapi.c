/*
 * test_openapi.c -- the OpenAPI document embedded in apolod
 * (admin/openapi.json, api_openapi_doc()) describes exactly the routes of
 * the API's tables (admin/api.h), with their roles.
 *
 * The rule that maps routes to documented paths:
 *   - an exact route "/a/b" is the path "/a/b" with the same method;
 *   - a prefix route "/a/b/" (the handler parses the rest) is covered by
 *     every documented path that starts with "/a/b/{" with that method
 *     ("/api/v1/accounts/{id}", "/api/v1/accounts/{id}/recharges"), and
 *     there must be at least one.
 * Both ways: a route without its path fails, and so does a documented
 * operation that no route serves (a path with "{" is served by the prefix
 * route ending just before its first "{"). Each operation's x-apolo-role
 * must be its route's role ("none", "viewer", "operator", "admin"), and an
 * operation of role none must say `security: []`.
 *
 * A new route table must be added to `tables` below as it is to admin.c.
 */
#include "admin/api.h"
#include "tests/testhelp.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char         *name;
    const http_route_t *routes;
} tables[] = {
    { "api_auth_routes", api_auth_routes },
    { "api_rating_routes", api_rating_routes },
    { "api_accounts_routes", api_accounts_routes },
    { "api_money_routes", api_money_routes },
    { "api_plans_routes", api_plans_routes },
    { "api_cdrs_routes", api_cdrs_routes },
    { "api_metrics_routes", api_metrics_routes },
    { "api_ingest_routes", api_ingest_routes },
    { "api_bulk_routes", api_bulk_routes },
    { "api_alerts_routes", api_alerts_routes },
    { "api_fac_routes", api_fac_routes },
    { "api_periods_routes", api_periods_routes },
};
#define NTABLES (sizeof tables / sizeof tables[0])

static void lower(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] && i + 1 < cap; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

/* Checks op's role against the route's. */
static void check_role(const char *path, const char *m, json_t *op,
                       const http_route_t *rt)
{
    const char *want = rt->role == HTTP_ROLE_NONE ? "none"
                                                   : http_role_name(rt->role);
    const char *got = json_string_value(json_object_get(op, "x-apolo-role"));
    test_checks++;
    if (got == NULL || strcmp(got, want) != 0)
        TEST_FAIL_AT("%s %s: x-apolo-role is %s, the route's role is %s", m,
                     path, got ? got : "(none)", want);
    if (rt->role == HTTP_ROLE_NONE) {
        json_t *sec = json_object_get(op, "security");
        test_checks++;
        if (!json_is_array(sec) || json_array_size(sec) != 0)
            TEST_FAIL_AT("%s %s: no session needed, but no `security: []`",
                         m, path);
    }
    test_checks++;
    if (!json_is_object(json_object_get(op, "responses")))
        TEST_FAIL_AT("%s %s: no responses", m, path);
}

/* Route -> document. */
static void check_route(json_t *paths, const char *table,
                        const http_route_t *rt)
{
    char m[16];
    lower(rt->method, m, sizeof m);
    size_t len = strlen(rt->path);
    test_checks++;
    if (len > 0 && rt->path[len - 1] == '/') {
        int found = 0;
        const char *p;
        json_t *item;
        json_object_foreach(paths, p, item) {
            json_t *op = json_object_get(item, m);
            if (strncmp(p, rt->path, len) == 0 && p[len] == '{' && op) {
                found++;
                check_role(p, rt->method, op, rt);
            }
        }
        if (!found)
            TEST_FAIL_AT("%s: %s %s (prefix) has no %s{...} path in "
                         "admin/openapi.json", table, rt->method, rt->path,
                         rt->path);
        return;
    }
    json_t *op = json_object_get(json_object_get(paths, rt->path), m);
    if (op == NULL) {
        TEST_FAIL_AT("%s: %s %s is not in admin/openapi.json", table,
                     rt->method, rt->path);
        return;
    }
    check_role(rt->path, rt->method, op, rt);
}

/* Document -> a route that serves it. */
static const http_route_t *route_for(const char *path, const char *m)
{
    const char *brace = strchr(path, '{');
    size_t plen = brace ? (size_t)(brace - path) : strlen(path);
    for (size_t t = 0; t < NTABLES; t++)
        for (const http_route_t *rt = tables[t].routes; rt->method; rt++) {
            char rm[16];
            lower(rt->method, rm, sizeof rm);
            if (strcmp(rm, m) != 0)
                continue;
            if (brace == NULL && strcmp(rt->path, path) == 0)
                return rt;
            if (brace != NULL && strlen(rt->path) == plen
                && strncmp(rt->path, path, plen) == 0)
                return rt;
        }
    return NULL;
}

int main(void)
{
    size_t len;
    const char *doc = api_openapi_doc(&len);
    TEST_CHECK(len > 0 && doc[len] == '\0');

    json_error_t e;
    json_t *root = json_loadb(doc, len, 0, &e);
    if (root == NULL) {
        TEST_FAIL_AT("admin/openapi.json is not JSON: line %d: %s", e.line,
                     e.text);
        return TEST_REPORT();
    }
    const char *ver = json_string_value(json_object_get(root, "openapi"));
    TEST_CHECK(ver != NULL && strncmp(ver, "3.0.", 4) == 0);
    json_t *paths = json_object_get(root, "paths");
    TEST_CHECK(json_is_object(paths));
    json_t *schemes = json_object_get(json_object_get(root, "components"),
                                      "securitySchemes");
    TEST_CHECK(json_object_get(schemes, "bearer") != NULL);
    TEST_CHECK(json_object_get(schemes, "cookie") != NULL);
    TEST_CHECK(json_object_get(json_object_get(json_object_get(root,
               "components"), "schemas"), "Error") != NULL);

    int nroutes = 0;
    for (size_t t = 0; t < NTABLES; t++)
        for (const http_route_t *rt = tables[t].routes; rt->method; rt++) {
            check_route(paths, tables[t].name, rt);
            nroutes++;
        }

    int nops = 0;
    const char *p;
    json_t *item;
    json_object_foreach(paths, p, item) {
        const char *m;
        json_t *op;
        json_object_foreach(item, m, op) {
            if (strcmp(m, "parameters") == 0)
                continue;
            nops++;
            test_checks++;
            /* /ws is civetweb's websocket handler (admin/ws.c), not a
             * route: the document marks it so */
            if (json_is_true(json_object_get(op, "x-apolo-websocket")))
                continue;
            if (route_for(p, m) == NULL)
                TEST_FAIL_AT("admin/openapi.json: %s %s is served by no "
                             "route", m, p);
        }
    }
    fprintf(stderr, "test_openapi: %d routes, %d documented operations\n",
            nroutes, nops);
    json_decref(root);
    return TEST_REPORT();
}
