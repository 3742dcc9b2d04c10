/*
 * out.c -- apolo-ctl's human-readable output: aligned tables and
 * "key  value" lines. --json bypasses all of it (out_raw).
 *
 * NOTES
 * - Widths count bytes, not display columns: a name with accents is a
 *   little off in a table. Good enough for operators; scripts use --json.
 */
#include "admin/cli/cli.h"

#include <stdlib.h>
#include <string.h>

void out_raw(const cli_resp_t *rs)
{
    if (rs->len == 0)
        return;
    fwrite(rs->body, 1, rs->len, stdout);
    if (rs->body[rs->len - 1] != '\n')
        putchar('\n');
}

const char *str_or(json_t *v, const char *dflt)
{
    const char *s = json_string_value(v);
    return s ? s : dflt;
}

char *out_str(json_t *v)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING:
        return cli_xasprintf("%s", json_string_value(v));
    case JSON_INTEGER:
        return cli_xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return cli_xasprintf("%g", json_real_value(v));
    case JSON_TRUE:
        return cli_xasprintf("true");
    case JSON_FALSE:
        return cli_xasprintf("false");
    case JSON_ARRAY: {
        char *s = cli_xasprintf("%s", "");
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            char *x = out_str(e);
            char *n = cli_xasprintf("%s%s%s", s, i ? "," : "", x);
            free(x);
            free(s);
            s = n;
        }
        return s;
    }
    case JSON_OBJECT:
        return cli_xasprintf("{...}");
    default:
        return cli_xasprintf("-");
    }
}

/* Collects the flattened pairs of O under PREFIX into T (2 columns). */
static void kv_collect(out_table_t *t, json_t *o, const char *prefix)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        char *name = prefix ? cli_xasprintf("%s.%s", prefix, k)
                            : cli_xasprintf("%s", k);
        if (json_is_object(v)) {
            kv_collect(t, v, name);
            free(name);
            continue;
        }
        if (json_is_array(v) && json_array_size(v) > 0 &&
            !json_is_object(json_array_get(v, 0)) &&
            !json_is_array(json_array_get(v, 0))) {
            /* scalars: joined */
        } else if (json_is_array(v)) {
            free(name);
            continue;
        }
        char *row[2] = { name, out_str(v) };
        out_table_row(t, row);
    }
}

void out_kv(json_t *o)
{
    out_table_t t;
    out_table_init(&t, 2, NULL, NULL);
    kv_collect(&t, o, NULL);
    out_table_print(&t, stdout);
}

void out_table_init(out_table_t *t, int ncols, const char *const *head,
                    const bool *right)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->head = head;
    t->right = right;
}

void out_table_row(out_table_t *t, char **values)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, (size_t)t->cap * (size_t)t->ncols *
                           sizeof *c);
        if (c == NULL) {
            fputs("apolo-ctl: out of memory\n", stderr);
            exit(CLI_EAPI);
        }
        t->cells = c;
    }
    memcpy(t->cells + (size_t)t->nrows * (size_t)t->ncols, values,
           (size_t)t->ncols * sizeof *values);
    t->nrows++;
}

static void print_row(const out_table_t *t, const int *w,
                      const char *const *cells, FILE *f)
{
    for (int i = 0; i < t->ncols; i++) {
        bool last = i == t->ncols - 1;
        bool right = t->right != NULL && t->right[i];
        if (right)
            fprintf(f, "%*s", w[i], cells[i]);
        else if (last)
            fputs(cells[i], f);
        else
            fprintf(f, "%-*s", w[i], cells[i]);
        fputs(last ? "\n" : "  ", f);
    }
}

void out_table_print(out_table_t *t, FILE *f)
{
    int *w = cli_xmalloc((size_t)t->ncols * sizeof *w);
    for (int i = 0; i < t->ncols; i++)
        w[i] = t->head ? (int)strlen(t->head[i]) : 0;
    for (int r = 0; r < t->nrows; r++)
        for (int i = 0; i < t->ncols; i++) {
            int n = (int)strlen(t->cells[r * t->ncols + i]);
            if (n > w[i])
                w[i] = n;
        }
    if (t->head)
        print_row(t, w, t->head, f);
    for (int r = 0; r < t->nrows; r++)
        print_row(t, w, (const char *const *)t->cells + r * t->ncols, f);
    for (int r = 0; r < t->nrows * t->ncols; r++)
        free(t->cells[r]);
    free(t->cells);
    free(w);
    t->cells = NULL;
    t->nrows = t->cap = 0;
}
