/*
 * main.c -- apolo-ctl: global options, the command table, dispatch.
 *
 *   apolo-ctl [--url URL] [--token T] [--json] [--timeout S] COMMAND ...
 *
 * Global options may appear anywhere; a command's options come after its
 * name. "--opt=value" and "--opt value" are both accepted; "--" ends the
 * options; an argument such as "-3.00" is a positional (negative amounts).
 * Anything wrong on the command line is exit 2 before any request.
 */
#include "admin/cli/cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

typedef struct cli_cmd {
    const char *name;
    const char *sub;            /* second word ("deck import"), or NULL */
    int min_pos, max_pos;
    const cli_optspec_t *opts;
    int (*run)(cli_t *, const cli_args_t *);
    const char *usage;
} cli_cmd_t;

static const cli_optspec_t o_none[] = { { NULL, false } };
static const cli_optspec_t o_accounts[] = {
    { "q", true }, { "status", true }, { "limit", true }, { NULL, false } };
static const cli_optspec_t o_money[] = {
    { "reason", true }, { "key", true }, { NULL, false } };
static const cli_optspec_t o_quote[] = {
    { "caller", true }, { "account", true }, { "plan", true },
    { "at", true }, { NULL, false } };
static const cli_optspec_t o_import[] = {
    { "dry-run", false }, { "create-zones", false }, { NULL, false } };
static const cli_optspec_t o_output[] = { { "o", true }, { NULL, false } };
static const cli_optspec_t o_cdrs[] = {
    { "o", true }, { "from", true }, { "to", true }, { "account", true },
    { "extension", true }, { "caller", true }, { "callee", true },
    { "zone", true }, { "direction", true }, { "status", true },
    { "cost-min", true }, { "cost-max", true }, { NULL, false } };

static const cli_cmd_t cmds[] = {
    { "login", NULL, 1, 1, o_none, cmd_login,
      "login USER            password from the terminal, or stdin" },
    { "logout", NULL, 0, 0, o_none, cmd_logout,
      "logout                ends the session, removes the token file" },
    { "whoami", NULL, 0, 0, o_none, cmd_whoami,
      "whoami" },
    { "accounts", NULL, 0, 0, o_accounts, cmd_accounts,
      "accounts [--q TEXT] [--status S] [--limit N]" },
    { "account", NULL, 1, 1, o_none, cmd_account,
      "account ID" },
    { "recharge", NULL, 2, 2, o_money, cmd_recharge,
      "recharge ID AMOUNT [--reason R] [--key K]" },
    { "adjust", NULL, 2, 2, o_money, cmd_adjust,
      "adjust ID AMOUNT --reason R [--key K]" },
    { "quote", NULL, 2, 2, o_quote, cmd_quote,
      "quote NUMBER SECONDS (--caller C | --account ID | --plan ID) [--at T]" },
    { "authorize", NULL, 2, 2, o_none, cmd_authorize,
      "authorize CALLER CALLEE" },
    { "deck", "import", 2, 2, o_import, cmd_deck_import,
      "deck import PLAN FILE.csv [--dry-run] [--create-zones]" },
    { "deck", "export", 1, 1, o_output, cmd_deck_export,
      "deck export PLAN [-o FILE]" },
    { "cdrs", "export", 0, 0, o_cdrs, cmd_cdrs_export,
      "cdrs export --from T --to T [--account ID --extension E --caller C\n"
      "                      --callee C --zone Z --direction D --status S\n"
      "                      --cost-min A --cost-max A] [-o FILE]" },
    { "calls", NULL, 0, 0, o_none, cmd_calls,
      "calls                 calls in progress (from /metrics)" },
    { "health", NULL, 0, 0, o_none, cmd_health,
      "health" },
};
#define NCMDS (sizeof cmds / sizeof cmds[0])

static void usage(FILE *f)
{
    fputs("usage: apolo-ctl [--url URL] [--token T] [--json] [--timeout S] "
          "COMMAND ...\n\ncommands:\n", f);
    for (size_t i = 0; i < NCMDS; i++)
        fprintf(f, "  %s\n", cmds[i].usage);
    fputs("\n--url      default $APOLO_URL, else http://127.0.0.1:8080\n"
          "--token    default $APOLO_TOKEN, else the file written by login\n"
          "           ($XDG_CONFIG_HOME or ~/.config, apolo/token)\n"
          "--json     the API's JSON on stdout (for scripts)\n"
          "--timeout  seconds (default 30; 0 none); for exports and imports\n"
          "           the longest stall\n"
          "\nexit: 0 ok, 1 API error, 2 usage, 3 cannot connect, "
          "4 not logged in\n", f);
}

int cli_usage(const char *fmt, ...)
{
    va_list ap;
    fputs("apolo-ctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (apolo-ctl --help)\n", stderr);
    return CLI_EUSAGE;
}

const char *cli_opt(const cli_args_t *a, const char *name)
{
    for (int i = 0; i < a->nopt; i++)
        if (strcmp(a->key[i], name) == 0)
            return a->val[i];
    return NULL;
}

typedef struct globals {
    const char *url, *token, *timeout;
    bool json, help;
} globals_t;

/* A global option at argv[*i]: 1 consumed (and *i advanced past a value),
 * 0 not a global, -1 usage error. */
static int global_opt(int argc, char **argv, int *i, globals_t *g)
{
    static const char *const names[] = { "url", "token", "timeout" };
    const char *s = argv[*i];
    if (strcmp(s, "--json") == 0) {
        g->json = true;
        return 1;
    }
    if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
        g->help = true;
        return 1;
    }
    if (strncmp(s, "--", 2) != 0)
        return 0;
    for (int k = 0; k < 3; k++) {
        size_t n = strlen(names[k]);
        if (strncmp(s + 2, names[k], n) != 0 ||
            (s[2 + n] != '\0' && s[2 + n] != '='))
            continue;
        const char *v;
        if (s[2 + n] == '=') {
            v = s + 3 + n;
        } else if (*i + 1 < argc) {
            v = argv[++*i];
        } else {
            cli_usage("--%s needs a value", names[k]);
            return -1;
        }
        const char **dst = k == 0 ? &g->url : k == 1 ? &g->token : &g->timeout;
        *dst = v;
        return 1;
    }
    return 0;
}

static int parse_cmd_opt(int argc, char **argv, int *i, const cli_cmd_t *cmd,
                         cli_args_t *a)
{
    const char *s = argv[*i];
    const char *name = s[1] == '-' ? s + 2 : s + 1;
    size_t n = strcspn(name, "=");
    for (const cli_optspec_t *o = cmd->opts; o->name; o++) {
        if (strlen(o->name) != n || strncmp(o->name, name, n) != 0)
            continue;
        if (s[1] != '-' && n != 1)
            break;
        const char *v = "";
        if (o->has_value) {
            if (name[n] == '=')
                v = name + n + 1;
            else if (*i + 1 < argc)
                v = argv[++*i];
            else
                return cli_usage("%s needs a value", s);
        } else if (name[n] == '=') {
            return cli_usage("%.*s takes no value", (int)(n + 2), s);
        }
        if (a->nopt == CLI_MAXOPT)
            return cli_usage("too many options");
        a->key[a->nopt] = o->name;
        a->val[a->nopt++] = v;
        return CLI_OK;
    }
    return cli_usage("unknown option %s for %s%s%s", s, cmd->name,
                     cmd->sub ? " " : "", cmd->sub ? cmd->sub : "");
}

int main(int argc, char **argv)
{
    globals_t g = { 0 };
    const char *words[2] = { NULL, NULL };
    int nwords = 0;
    const cli_cmd_t *cmd = NULL;
    cli_args_t a;
    memset(&a, 0, sizeof a);
    bool dashdash = false;

    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        bool optlike = !dashdash && s[0] == '-' && s[1] != '\0' &&
                       !(s[1] >= '0' && s[1] <= '9');
        if (optlike && strcmp(s, "--") == 0) {
            dashdash = true;
            continue;
        }
        if (optlike) {
            int r = global_opt(argc, argv, &i, &g);
            if (r < 0)
                return CLI_EUSAGE;
            if (r > 0)
                continue;
            if (cmd == NULL)
                return cli_usage("unknown option %s", s);
            if (parse_cmd_opt(argc, argv, &i, cmd, &a) != CLI_OK)
                return CLI_EUSAGE;
            continue;
        }
        if (cmd == NULL) {
            words[nwords++] = s;
            for (size_t k = 0; k < NCMDS; k++) {
                if (strcmp(cmds[k].name, words[0]) != 0)
                    continue;
                if (cmds[k].sub == NULL ||
                    (nwords == 2 && strcmp(cmds[k].sub, words[1]) == 0)) {
                    cmd = &cmds[k];
                    break;
                }
            }
            if (cmd == NULL && nwords == 2)
                return cli_usage("unknown command %s %s", words[0], words[1]);
            if (cmd == NULL && nwords == 1) {
                bool prefix = false;
                for (size_t k = 0; k < NCMDS; k++)
                    prefix |= cmds[k].sub && strcmp(cmds[k].name, s) == 0;
                if (!prefix)
                    return cli_usage("unknown command %s", s);
            }
            continue;
        }
        if (a.npos == CLI_MAXPOS)
            return cli_usage("too many arguments");
        a.pos[a.npos++] = s;
    }
    if (g.help) {
        usage(stdout);
        return CLI_OK;
    }
    if (cmd == NULL) {
        if (nwords == 1)
            return cli_usage("%s needs a subcommand (import, export)",
                             words[0]);
        usage(stderr);
        return CLI_EUSAGE;
    }
    if (a.npos < cmd->min_pos || a.npos > cmd->max_pos)
        return cli_usage("usage: apolo-ctl %s", cmd->usage);

    cli_t c = { 0 };
    c.json = g.json;
    c.timeout_s = 30;
    if (g.timeout != NULL) {
        char *end;
        long t = strtol(g.timeout, &end, 10);
        if (*g.timeout == '\0' || *end != '\0' || t < 0 || t > 86400)
            return cli_usage("--timeout: seconds, 0..86400");
        c.timeout_s = t;
    }
    const char *url = g.url ? g.url : getenv("APOLO_URL");
    if (url == NULL || *url == '\0')
        url = "http://127.0.0.1:8080";
    char *u = cli_xasprintf("%s", url);
    size_t n = strlen(u);
    while (n > 0 && u[n - 1] == '/')
        u[--n] = '\0';
    c.url = u;
    const char *tok = g.token ? g.token : getenv("APOLO_TOKEN");
    c.token = tok && *tok ? cli_xasprintf("%s", tok) : cli_token_read();

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fputs("apolo-ctl: curl_global_init() failed\n", stderr);
        return CLI_EAPI;
    }
    int rc = cmd->run(&c, &a);
    curl_global_cleanup();
    free(c.token);
    free(u);
    return rc;
}
