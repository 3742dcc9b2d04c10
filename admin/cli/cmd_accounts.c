/*
 * cmd_accounts.c -- apolo-ctl accounts, account, recharge, adjust.
 *
 * Money is never a number here: the amount is checked locally as a decimal
 * string (exit 2, nothing sent, when it is not one) and sent as a JSON
 * string; the API enforces the rest (positive, bounds, closed accounts).
 *
 * recharge and adjust send an Idempotency-Key: --key, else a random
 * "ctl-<24 hex>", printed on stderr BEFORE the request, so that a script
 * that saw a timeout or a connection error can retry with --key and be
 * sure the money moves once.
 */
#include "admin/cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* The balance of the region (live) when there is one, else PostgreSQL's. */
static json_t *live_or(json_t *acc, const char *live_field,
                       const char *pg_field)
{
    json_t *live = json_object_get(acc, "live");
    if (json_is_object(live))
        return json_object_get(live, live_field);
    return pg_field ? json_object_get(acc, pg_field) : NULL;
}

int cmd_accounts(cli_t *c, const cli_args_t *a)
{
    const char *lim = cli_opt(a, "limit");
    if (lim != NULL && !cli_id(lim))
        return cli_usage("accounts: --limit must be a positive number");
    char *q = cli_xasprintf("/api/v1/accounts");
    cli_query(&q, "q", cli_opt(a, "q"));
    cli_query(&q, "status", cli_opt(a, "status"));
    cli_query(&q, "limit", lim);
    cli_resp_t rs;
    cli_req_t rq = { .method = "GET", .path = q, .auth = true };
    int rc = cli_do(c, &rq, &rs);
    free(q);
    if (rc == CLI_OK && c->json) {
        out_raw(&rs);
    } else if (rc == CLI_OK) {
        json_t *j = cli_resp_json(&rs);
        json_t *list = json_object_get(j, "accounts");
        if (!json_is_array(list)) {
            rc = CLI_EAPI;
        } else {
            static const char *const head[] = { "id", "code", "name", "type",
                "status", "balance", "available" };
            static const bool right[] = { true, false, false, false, false,
                true, true };
            out_table_t t;
            out_table_init(&t, 7, head, right);
            size_t i;
            json_t *acc;
            json_array_foreach(list, i, acc) {
                char *row[7] = {
                    out_str(json_object_get(acc, "id")),
                    out_str(json_object_get(acc, "code")),
                    out_str(json_object_get(acc, "name")),
                    out_str(json_object_get(acc, "type")),
                    out_str(json_object_get(acc, "status")),
                    out_str(live_or(acc, "balance", "balance")),
                    out_str(live_or(acc, "available", NULL)),
                };
                out_table_row(&t, row);
            }
            out_table_print(&t, stdout);
            if (!json_is_null(json_object_get(j, "next")) &&
                json_object_get(j, "next") != NULL)
                fputs("(more: raise --limit)\n", stderr);
        }
        json_decref(j);
    }
    cli_resp_free(&rs);
    return rc;
}

int cmd_account(cli_t *c, const cli_args_t *a)
{
    if (!cli_id(a->pos[0]))
        return cli_usage("account: ID must be a positive number");
    char *path = cli_xasprintf("/api/v1/accounts/%s", a->pos[0]);
    cli_resp_t rs;
    cli_req_t rq = { .method = "GET", .path = path, .auth = true };
    int rc = cli_do(c, &rq, &rs);
    free(path);
    if (rc == CLI_OK && c->json) {
        out_raw(&rs);
    } else if (rc == CLI_OK) {
        json_t *j = cli_resp_json(&rs);
        if (j == NULL) {
            rc = CLI_EAPI;
        } else {
            out_kv(j);
            json_t *ext = json_object_get(j, "extensions");
            if (json_array_size(ext) > 0) {
                static const char *const head[] = { "extension", "number",
                    "user_name", "active" };
                out_table_t t;
                out_table_init(&t, 4, head, NULL);
                size_t i;
                json_t *e;
                json_array_foreach(ext, i, e) {
                    char *row[4] = {
                        out_str(json_object_get(e, "id")),
                        out_str(json_object_get(e, "number")),
                        out_str(json_object_get(e, "user_name")),
                        out_str(json_object_get(e, "active")),
                    };
                    out_table_row(&t, row);
                }
                putchar('\n');
                out_table_print(&t, stdout);
            }
        }
        json_decref(j);
    }
    cli_resp_free(&rs);
    return rc;
}

static char *new_key(void)
{
    unsigned char r[12];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n <= 0) {
            fputs("apolo-ctl: getrandom() failed\n", stderr);
            exit(CLI_EAPI);
        }
        got += (size_t)n;
    }
    char *k = cli_xmalloc(4 + 2 * sizeof r + 1);
    memcpy(k, "ctl-", 4);
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(k + 4 + 2 * i, 3, "%02x", r[i]);
    return k;
}

/* KIND "recharges" or "adjustments". */
static int money(cli_t *c, const cli_args_t *a, const char *kind,
                 bool allow_neg)
{
    const char *id = a->pos[0], *amount = a->pos[1];
    const char *reason = cli_opt(a, "reason");
    if (!cli_id(id))
        return cli_usage("ID must be a positive number");
    if (!cli_decimal(amount, allow_neg))
        return cli_usage("AMOUNT %s is not a decimal such as 10.50%s "
                         "(at most 6 decimals)", amount,
                         allow_neg ? " or -3.00" : "");
    if (!allow_neg && strspn(amount, "0.") == strlen(amount))
        return cli_usage("AMOUNT must be more than 0");
    if (allow_neg && reason == NULL)
        return cli_usage("adjust needs --reason");
    const char *given = cli_opt(a, "key");
    char *key = given ? cli_xasprintf("%s", given) : new_key();
    if (*key == '\0') {
        free(key);
        return cli_usage("--key is empty");
    }
    if (given == NULL)
        fprintf(stderr, "Idempotency-Key: %s\n", key);

    json_t *b = json_pack("{s:s}", "amount", amount);
    if (reason != NULL)
        json_object_set_new(b, "reason", json_string(reason));
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    char *path = cli_xasprintf("/api/v1/accounts/%s/%s", id, kind);
    cli_resp_t rs;
    cli_req_t rq = { .method = "POST", .path = path, .auth = true,
                     .json = body, .idem_key = key };
    int rc = cli_do(c, &rq, &rs);
    if (rc == CLI_OK && c->json) {
        out_raw(&rs);
    } else if (rc == CLI_OK) {
        json_t *j = cli_resp_json(&rs);
        char *amt = out_str(json_object_get(j, "amount"));
        char *bal = out_str(json_object_get(j, "balance_after"));
        printf("%s %s on account %s: balance %s, key %s%s\n",
               str_or(json_object_get(j, "kind"), kind),
               amt, id, bal, key,
               rs.replayed ? " (replayed: already done, no money moved)"
                           : "");
        free(amt);
        free(bal);
        json_decref(j);
    }
    cli_resp_free(&rs);
    free(path);
    free(body);
    free(key);
    return rc;
}

int cmd_recharge(cli_t *c, const cli_args_t *a)
{
    return money(c, a, "recharges", false);
}

int cmd_adjust(cli_t *c, const cli_args_t *a)
{
    return money(c, a, "adjustments", true);
}
