/*
 * cmd_session.c -- apolo-ctl login, logout, whoami, and the commands that
 * only read: quote, authorize, calls, health.
 *
 * NOTES
 * - login reads the password without echo when stdin is a terminal (the
 *   terminal's settings are restored before any exit path), else one line
 *   of stdin, for scripts: `echo "$PW" | apolo-ctl login ops`.
 * - calls: there is no REST endpoint for the calls in progress (the
 *   dashboard's live view is the WebSocket); the count comes from GET
 *   /metrics (apolo_calls_active), which needs no session.
 */
#include "admin/cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static char *read_password(void)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fputs("Password: ", stderr);
        fflush(stderr);
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (n <= 0) {
        free(line);
        return NULL;
    }
    line[strcspn(line, "\r\n")] = '\0';
    return line;
}

int cmd_login(cli_t *c, const cli_args_t *a)
{
    char *pw = read_password();
    if (pw == NULL || *pw == '\0') {
        free(pw);
        return cli_usage("login: no password given");
    }
    json_t *b = json_pack("{s:s, s:s}", "username", a->pos[0],
                          "password", pw);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    explicit_bzero(pw, strlen(pw));
    free(pw);
    cli_resp_t rs;
    cli_req_t rq = { .method = "POST", .path = "/api/v1/login",
                     .json = body };
    int rc = cli_do(c, &rq, &rs);
    explicit_bzero(body, strlen(body));
    free(body);
    if (rc == CLI_OK) {
        json_t *j = cli_resp_json(&rs);
        const char *tok = json_string_value(json_object_get(j, "token"));
        if (tok == NULL) {
            fputs("apolo-ctl: login: no token in the answer\n", stderr);
            rc = CLI_EAPI;
        } else if (cli_token_write(tok) != 0) {
            rc = CLI_EAPI;
        } else if (!c->json) {
            char *p = cli_token_path();
            printf("logged in as %s (%s) until %s; token in %s\n",
                   a->pos[0],
                   str_or(json_object_get(j, "role"), "?"),
                   str_or(json_object_get(j, "expires_at"), "?"),
                   p);
            free(p);
        } else {
            out_raw(&rs);
        }
        json_decref(j);
    }
    cli_resp_free(&rs);
    return rc;
}

int cmd_logout(cli_t *c, const cli_args_t *a)
{
    (void)a;
    cli_resp_t rs;
    cli_req_t rq = { .method = "POST", .path = "/api/v1/logout",
                     .auth = true };
    int rc = cli_do(c, &rq, &rs);
    cli_resp_free(&rs);
    char *p = cli_token_path();
    if (p != NULL && unlink(p) != 0 && errno != ENOENT)
        fprintf(stderr, "apolo-ctl: unlink %s: %s\n", p, strerror(errno));
    free(p);
    if (rc == CLI_EAUTH)        /* the session was already gone */
        rc = CLI_OK;
    if (rc == CLI_OK && !c->json)
        puts("logged out");
    return rc;
}

/* GET PATH (with the token when AUTH); prints the answer as "key value"
 * lines, or raw with --json. */
static int get_kv(cli_t *c, const char *path, bool auth)
{
    cli_resp_t rs;
    cli_req_t rq = { .method = "GET", .path = path, .auth = auth };
    int rc = cli_do(c, &rq, &rs);
    if (rc == CLI_OK) {
        if (c->json) {
            out_raw(&rs);
        } else {
            json_t *j = cli_resp_json(&rs);
            if (j == NULL)
                rc = CLI_EAPI;
            else
                out_kv(j);
            json_decref(j);
        }
    }
    cli_resp_free(&rs);
    return rc;
}

int cmd_whoami(cli_t *c, const cli_args_t *a)
{
    (void)a;
    return get_kv(c, "/api/v1/me", true);
}

int cmd_quote(cli_t *c, const cli_args_t *a)
{
    const char *by[3] = { "caller", "account", "plan" };
    int nby = 0;
    for (int i = 0; i < 3; i++)
        nby += cli_opt(a, by[i]) != NULL;
    if (nby != 1)
        return cli_usage("quote: exactly one of --caller, --account, --plan");
    char *end;
    long s = strtol(a->pos[1], &end, 10);
    if (*a->pos[1] == '\0' || *end != '\0' || s < 0)
        return cli_usage("quote: SECONDS must be a whole number");
    char *q = cli_xasprintf("/api/v1/quote");
    cli_query(&q, "number", a->pos[0]);
    cli_query(&q, "seconds", a->pos[1]);
    for (int i = 0; i < 3; i++)
        cli_query(&q, by[i], cli_opt(a, by[i]));
    cli_query(&q, "at", cli_opt(a, "at"));
    int rc = get_kv(c, q, true);
    free(q);
    return rc;
}

int cmd_authorize(cli_t *c, const cli_args_t *a)
{
    char *q = cli_xasprintf("/api/v1/authorize");
    cli_query(&q, "caller", a->pos[0]);
    cli_query(&q, "callee", a->pos[1]);
    int rc = get_kv(c, q, true);
    free(q);
    return rc;
}

int cmd_health(cli_t *c, const cli_args_t *a)
{
    (void)a;
    return get_kv(c, "/healthz", false);
}

int cmd_calls(cli_t *c, const cli_args_t *a)
{
    (void)a;
    cli_resp_t rs;
    cli_req_t rq = { .method = "GET", .path = "/metrics" };
    int rc = cli_do(c, &rq, &rs);
    if (rc == CLI_OK) {
        static const char m[] = "\napolo_calls_active ";
        const char *p = rs.body ? strstr(rs.body, m) : NULL;
        if (p == NULL) {
            fputs("apolo-ctl: no apolo_calls_active in /metrics\n", stderr);
            rc = CLI_EAPI;
        } else {
            long n = strtol(p + sizeof m - 1, NULL, 10);
            if (c->json)
                printf("{\"calls_active\": %ld}\n", n);
            else
                printf("calls in progress: %ld\n", n);
        }
    }
    cli_resp_free(&rs);
    return rc;
}
