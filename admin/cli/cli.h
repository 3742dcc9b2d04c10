/*
 * cli.h -- apolo-ctl, the command-line client of the HTTP API.
 *
 * One program (build/<mode>/apolo-ctl) made of every .c of admin/cli/; it
 * talks only HTTP (libcurl) to admin/http.c and links nothing of the
 * server. admin/cli/README.md documents the commands.
 *
 * Exit codes (the contract scripts rely on):
 *
 *   0  ok
 *   1  the API answered an error (4xx/5xx except 401; code and message on
 *      stderr), or a transfer was cut after the answer began
 *   2  usage error: nothing was sent
 *   3  cannot connect (no answer at all: refused, DNS, timeout)
 *   4  not logged in: no token, or the API answered 401
 */
#ifndef APOLO_CLI_H
#define APOLO_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

enum {
    CLI_OK = 0,
    CLI_EAPI = 1,
    CLI_EUSAGE = 2,
    CLI_ECONNECT = 3,
    CLI_EAUTH = 4,
};

/* The session of one invocation: global options, resolved once. */
typedef struct cli {
    const char *url;        /* base URL, no trailing '/' */
    char *token;            /* NULL: not logged in (malloc'd) */
    long timeout_s;         /* connect + whole request; 0 = none */
    bool json;              /* raw JSON on stdout */
} cli_t;

/* ---- arguments (main.c) ----------------------------------------------- */

#define CLI_MAXPOS 6
#define CLI_MAXOPT 16

typedef struct cli_optspec {
    const char *name;       /* long name without "--" */
    bool has_value;
} cli_optspec_t;

typedef struct cli_args {
    const char *pos[CLI_MAXPOS];
    int npos;
    const char *key[CLI_MAXOPT];   /* the spec's name */
    const char *val[CLI_MAXOPT];   /* "" for a flag */
    int nopt;
} cli_args_t;

/* The value of option NAME, "" for a flag given, NULL when absent. */
const char *cli_opt(const cli_args_t *a, const char *name);

/* Prints "apolo-ctl: <msg>" on stderr and returns CLI_EUSAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- HTTP (client.c) ---------------------------------------------------- */

typedef struct cli_req {
    const char *method;     /* "GET", "POST" */
    const char *path;       /* "/api/v1/..." with its query, escaped */
    bool auth;              /* send the token; without one: CLI_EAUTH, unsent */
    const char *json;       /* a JSON body, or NULL */
    FILE *upload;           /* a streamed body of upload_len bytes, or NULL */
    int64_t upload_len;
    const char *content_type;   /* of the upload */
    const char *idem_key;   /* Idempotency-Key header, or NULL */
    FILE *sink;             /* a 2xx body is written here, not kept */
    bool streaming;         /* long transfer: timeout_s is a stall limit */
} cli_req_t;

typedef struct cli_resp {
    long status;            /* 0: no answer */
    char *body;             /* NUL-terminated; not filled when sunk */
    size_t len, cap;
    bool replayed;          /* Idempotent-Replayed: true */
    FILE *sink;             /* internal */
    bool sink_error;
} cli_resp_t;

/*
 * Sends RQ. Returns CLI_OK for a 2xx; otherwise prints the error on stderr
 * (the API's code and message) and returns CLI_EAPI, CLI_ECONNECT or
 * CLI_EAUTH. RS is filled either way (the body of an error stays in it);
 * cli_resp_free releases it.
 */
int cli_do(cli_t *c, const cli_req_t *rq, cli_resp_t *rs);
void cli_resp_free(cli_resp_t *rs);

/* RS's body as JSON, or NULL (message on stderr). */
json_t *cli_resp_json(const cli_resp_t *rs);

/* Appends "&NAME=VALUE" (or "?..." first) to the malloc'd *Q, escaped;
 * nothing when VALUE is NULL. */
void cli_query(char **q, const char *name, const char *value);

/* The token file: $XDG_CONFIG_HOME/apolo/token, else ~/.config/apolo/token.
 * Returns a malloc'd path, NULL without HOME. */
char *cli_token_path(void);
char *cli_token_read(void);              /* NULL: none */
int cli_token_write(const char *token);  /* 0600; 0 or -1 (message) */

/* malloc that exits on failure; asprintf likewise. */
void *cli_xmalloc(size_t n);
char *cli_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A decimal amount: [-]digits[.1..6 digits]; the sign only if ALLOW_NEG. */
bool cli_decimal(const char *s, bool allow_neg);
/* A positive integer id. */
bool cli_id(const char *s);

/* ---- output (out.c) ----------------------------------------------------- */

/* The body as received, with a final newline. */
void out_raw(const cli_resp_t *rs);
/* "key   value" lines of an object, nested objects as "a.b"; arrays of
 * objects are skipped (the caller prints them as tables). */
void out_kv(json_t *o);
/* V's string, or DFLT when V is not a string. */
const char *str_or(json_t *v, const char *dflt);
/* A value as text ("-" for null/absent); malloc'd. */
char *out_str(json_t *v);

typedef struct out_table {
    int ncols, nrows, cap;
    const char *const *head;
    const bool *right;      /* right-aligned columns, or NULL */
    char **cells;           /* nrows * ncols, malloc'd */
} out_table_t;

void out_table_init(out_table_t *t, int ncols, const char *const *head,
                    const bool *right);
/* Adds a row of ncols values (taken: malloc'd strings). */
void out_table_row(out_table_t *t, char **values);
void out_table_print(out_table_t *t, FILE *f);   /* and frees */

/* ---- commands ------------------------------------------------------------- */

int cmd_login(cli_t *c, const cli_args_t *a);
int cmd_logout(cli_t *c, const cli_args_t *a);
int cmd_whoami(cli_t *c, const cli_args_t *a);
int cmd_quote(cli_t *c, const cli_args_t *a);
int cmd_authorize(cli_t *c, const cli_args_t *a);
int cmd_calls(cli_t *c, const cli_args_t *a);
int cmd_health(cli_t *c, const cli_args_t *a);

int cmd_accounts(cli_t *c, const cli_args_t *a);
int cmd_account(cli_t *c, const cli_args_t *a);
int cmd_recharge(cli_t *c, const cli_args_t *a);
int cmd_adjust(cli_t *c, const cli_args_t *a);

int cmd_deck_import(cli_t *c, const cli_args_t *a);
int cmd_deck_export(cli_t *c, const cli_args_t *a);
int cmd_cdrs_export(cli_t *c, const cli_args_t *a);

#endif
