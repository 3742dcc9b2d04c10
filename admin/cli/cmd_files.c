/*
 * cmd_files.c -- apolo-ctl deck import, deck export, cdrs export: the
 * commands that move files, streamed both ways (flat memory).
 *
 * - import sends the file as it is read, with its Content-Length (the API
 *   requires one: 411 without); on 422 the per-line errors of the answer
 *   ("rows": [{"line","error"}]) are printed on stderr, one a line.
 * - export with -o FILE writes FILE.part, renamed to FILE only when the
 *   transfer ended well; a cut or refused export leaves no FILE (and
 *   removes the .part). Without -o, stdout (a cut export still exits 1).
 */
#include "admin/cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cmd_deck_import(cli_t *c, const cli_args_t *a)
{
    if (!cli_id(a->pos[0]))
        return cli_usage("deck import: PLAN must be a positive number");
    FILE *f = fopen(a->pos[1], "rb");
    if (f == NULL)
        return cli_usage("deck import: %s: %s", a->pos[1], strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return cli_usage("deck import: %s is not a regular file", a->pos[1]);
    }
    char *path = cli_xasprintf("/api/v1/plans/%s/deck", a->pos[0]);
    if (cli_opt(a, "dry-run"))
        cli_query(&path, "dry_run", "1");
    if (cli_opt(a, "create-zones"))
        cli_query(&path, "create_zones", "1");
    cli_resp_t rs;
    cli_req_t rq = { .method = "POST", .path = path, .auth = true,
                     .upload = f, .upload_len = st.st_size,
                     .content_type = "text/csv", .streaming = true };
    int rc = cli_do(c, &rq, &rs);
    fclose(f);
    free(path);
    if (rc == CLI_OK && c->json) {
        out_raw(&rs);
    } else if (rc == CLI_OK) {
        json_t *j = cli_resp_json(&rs);
        if (j != NULL)
            out_kv(j);
        json_decref(j);
    } else if (rs.status == 422) {
        json_error_t e;
        json_t *j = rs.body ? json_loadb(rs.body, rs.len, 0, &e) : NULL;
        json_t *rows = json_object_get(json_object_get(j, "error"), "rows");
        size_t i;
        json_t *r;
        json_array_foreach(rows, i, r) {
            fprintf(stderr, "%s: line %" JSON_INTEGER_FORMAT ": %s\n",
                    a->pos[1], json_integer_value(json_object_get(r, "line")),
                    str_or(json_object_get(r, "error"), "?"));
        }
        json_decref(j);
    }
    cli_resp_free(&rs);
    return rc;
}

/* GET PATH into -o FILE (via FILE.part) or stdout. */
static int download(cli_t *c, const cli_args_t *a, const char *path)
{
    const char *out = cli_opt(a, "o");
    if (out != NULL && *out == '\0')
        return cli_usage("-o needs a file name");
    char *part = NULL;
    FILE *f = stdout;
    if (out != NULL && strcmp(out, "-") != 0) {
        part = cli_xasprintf("%s.part", out);
        f = fopen(part, "wb");
        if (f == NULL) {
            fprintf(stderr, "apolo-ctl: %s: %s\n", part, strerror(errno));
            free(part);
            return CLI_EUSAGE;
        }
    }
    cli_resp_t rs;
    cli_req_t rq = { .method = "GET", .path = path, .auth = true, .sink = f,
                     .streaming = true };
    int rc = cli_do(c, &rq, &rs);
    if (f != stdout) {
        if (fclose(f) != 0 && rc == CLI_OK) {
            fprintf(stderr, "apolo-ctl: %s: %s\n", part, strerror(errno));
            rc = CLI_EAPI;
        }
        if (rc == CLI_OK && rename(part, out) != 0) {
            fprintf(stderr, "apolo-ctl: rename to %s: %s\n", out,
                    strerror(errno));
            rc = CLI_EAPI;
        }
        if (rc != CLI_OK)
            unlink(part);
        else if (!c->json)
            fprintf(stderr, "wrote %s\n", out);
    } else if (fflush(stdout) != 0 && rc == CLI_OK) {
        rc = CLI_EAPI;
    }
    cli_resp_free(&rs);
    free(part);
    return rc;
}

int cmd_deck_export(cli_t *c, const cli_args_t *a)
{
    if (!cli_id(a->pos[0]))
        return cli_usage("deck export: PLAN must be a positive number");
    char *path = cli_xasprintf("/api/v1/plans/%s/deck.csv", a->pos[0]);
    int rc = download(c, a, path);
    free(path);
    return rc;
}

int cmd_cdrs_export(cli_t *c, const cli_args_t *a)
{
    static const char *const filters[][2] = {
        { "from", "from" }, { "to", "to" }, { "account", "account" },
        { "extension", "extension" }, { "caller", "caller" },
        { "callee", "callee" }, { "zone", "zone" },
        { "direction", "direction" }, { "status", "status" },
        { "cost-min", "cost_min" }, { "cost-max", "cost_max" },
    };
    if (cli_opt(a, "from") == NULL || cli_opt(a, "to") == NULL)
        return cli_usage("cdrs export needs --from and --to");
    char *path = cli_xasprintf("/api/v1/cdrs.csv");
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
        cli_query(&path, filters[i][1], cli_opt(a, filters[i][0]));
    int rc = download(c, a, path);
    free(path);
    return rc;
}
