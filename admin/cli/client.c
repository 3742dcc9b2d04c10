/*
 * client.c -- apolo-ctl's HTTP layer (libcurl), the token file, helpers.
 *
 * One curl easy handle per request (a CLI sends one or two). Errors are
 * printed here, once, and mapped to the exit codes of cli.h:
 *
 *   no HTTP status at all (refused, DNS, timeout)  -> CLI_ECONNECT
 *   401                                            -> CLI_EAUTH
 *   other 4xx/5xx, or a transfer cut mid-body      -> CLI_EAPI
 *
 * NOTES
 * - A sunk body (exports) is written to the sink only for a 2xx status: the
 *   write callback asks curl for the status, known once the headers are in.
 *   An error body always stays in memory so that its message can be shown.
 * - An export the server cuts (it ends without the last chunk) is a curl
 *   error after a 200: CLI_EAPI, and the caller removes the partial file.
 * - For long transfers (rq->streaming) --timeout is a stall limit (no byte
 *   for that long), not a limit on the whole transfer.
 */
#include "admin/cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

void *cli_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fputs("apolo-ctl: out of memory\n", stderr);
        exit(CLI_EAPI);
    }
    return p;
}

char *cli_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fputs("apolo-ctl: out of memory\n", stderr);
        exit(CLI_EAPI);
    }
    return s;
}

bool cli_decimal(const char *s, bool allow_neg)
{
    if (allow_neg && *s == '-')
        s++;
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 18)
        return false;
    s += n;
    if (*s == '\0')
        return true;
    if (*s++ != '.')
        return false;
    n = strspn(s, "0123456789");
    return n >= 1 && n <= 6 && s[n] == '\0';
}

bool cli_id(const char *s)
{
    size_t n = strspn(s, "0123456789");
    return n > 0 && n <= 18 && s[n] == '\0' && !(n == 1 && s[0] == '0');
}

void cli_query(char **q, const char *name, const char *value)
{
    if (value == NULL)
        return;
    char *e = curl_easy_escape(NULL, value, 0);
    if (e == NULL) {
        fputs("apolo-ctl: out of memory\n", stderr);
        exit(CLI_EAPI);
    }
    char *n = cli_xasprintf("%s%c%s=%s", *q, strchr(*q, '?') ? '&' : '?',
                            name, e);
    curl_free(e);
    free(*q);
    *q = n;
}

/* ---- the token file ------------------------------------------------------ */

static char *config_dir(void)
{
    const char *x = getenv("XDG_CONFIG_HOME");
    if (x != NULL && *x == '/')
        return cli_xasprintf("%s/apolo", x);
    const char *h = getenv("HOME");
    if (h == NULL || *h == '\0')
        return NULL;
    return cli_xasprintf("%s/.config/apolo", h);
}

char *cli_token_path(void)
{
    char *d = config_dir();
    if (d == NULL)
        return NULL;
    char *p = cli_xasprintf("%s/token", d);
    free(d);
    return p;
}

char *cli_token_read(void)
{
    char *p = cli_token_path();
    if (p == NULL)
        return NULL;
    FILE *f = fopen(p, "r");
    free(p);
    if (f == NULL)
        return NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    fclose(f);
    if (n <= 0) {
        free(line);
        return NULL;
    }
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0') {
        free(line);
        return NULL;
    }
    return line;
}

static int mkdir_p(char *path)    /* modifies then restores PATH */
{
    for (char *s = path + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        int rc = mkdir(path, 0700);
        *s = '/';
        if (rc != 0 && errno != EEXIST)
            return -1;
    }
    return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

int cli_token_write(const char *token)
{
    char *d = config_dir();
    if (d == NULL) {
        fputs("apolo-ctl: no HOME: cannot store the token\n", stderr);
        return -1;
    }
    char *p = cli_xasprintf("%s/token", d);
    char *tmp = cli_xasprintf("%s/token.%ld", d, (long)getpid());
    int rc = -1;
    if (mkdir_p(d) != 0) {
        fprintf(stderr, "apolo-ctl: mkdir %s: %s\n", d, strerror(errno));
        goto out;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "apolo-ctl: open %s: %s\n", tmp, strerror(errno));
        goto out;
    }
    size_t n = strlen(token);
    bool good = fchmod(fd, 0600) == 0 && write(fd, token, n) == (ssize_t)n &&
                write(fd, "\n", 1) == 1;
    if (close(fd) != 0)
        good = false;
    if (!good || rename(tmp, p) != 0) {
        fprintf(stderr, "apolo-ctl: writing %s: %s\n", p, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    free(p);
    free(d);
    return rc;
}

/* ---- requests ------------------------------------------------------------- */

static void resp_append(cli_resp_t *rs, const char *p, size_t n)
{
    if (rs->len + n + 1 > rs->cap) {
        size_t cap = rs->cap ? rs->cap : 4096;
        while (cap < rs->len + n + 1)
            cap *= 2;
        char *b = realloc(rs->body, cap);
        if (b == NULL) {
            fputs("apolo-ctl: out of memory\n", stderr);
            exit(CLI_EAPI);
        }
        rs->body = b;
        rs->cap = cap;
    }
    memcpy(rs->body + rs->len, p, n);
    rs->len += n;
    rs->body[rs->len] = '\0';
}

typedef struct write_ctx {
    CURL *h;
    cli_resp_t *rs;
} write_ctx_t;

static size_t on_write(char *p, size_t size, size_t nmemb, void *arg)
{
    write_ctx_t *w = arg;
    size_t n = size * nmemb;
    long st = 0;
    curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &st);
    if (w->rs->sink != NULL && st >= 200 && st < 300) {
        if (fwrite(p, 1, n, w->rs->sink) != n) {
            w->rs->sink_error = true;
            return 0;                   /* aborts the transfer */
        }
        return n;
    }
    if (w->rs->len + n > 16u << 20)     /* a JSON answer is never this big */
        return 0;
    resp_append(w->rs, p, n);
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    cli_resp_t *rs = arg;
    size_t n = size * nmemb;
    static const char h[] = "Idempotent-Replayed:";
    if (n >= sizeof h - 1 && strncasecmp(p, h, sizeof h - 1) == 0) {
        const char *v = p + sizeof h - 1;
        while (*v == ' ')
            v++;
        if (strncasecmp(v, "true", 4) == 0)
            rs->replayed = true;
    }
    return n;
}

json_t *cli_resp_json(const cli_resp_t *rs)
{
    json_error_t e;
    json_t *j = rs->body ? json_loadb(rs->body, rs->len, 0, &e) : NULL;
    if (j == NULL)
        fprintf(stderr, "apolo-ctl: the answer is not JSON (HTTP %ld)\n",
                rs->status);
    return j;
}

static int api_error(const cli_resp_t *rs, bool authed)
{
    json_error_t e;
    json_t *j = rs->body ? json_loadb(rs->body, rs->len, 0, &e) : NULL;
    json_t *err = json_object_get(j, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    fprintf(stderr, "apolo-ctl: HTTP %ld %s: %s\n", rs->status,
            code ? code : "error",
            msg ? msg : (rs->body && rs->len < 300 ? rs->body : "(no message)"));
    if (rs->status == 401 && authed)
        fputs("apolo-ctl: not logged in (or the session expired): "
              "apolo-ctl login USER\n", stderr);
    json_decref(j);
    return rs->status == 401 ? CLI_EAUTH : CLI_EAPI;
}

int cli_do(cli_t *c, const cli_req_t *rq, cli_resp_t *rs)
{
    memset(rs, 0, sizeof *rs);
    rs->sink = rq->sink;
    if (rq->auth && c->token == NULL) {
        fputs("apolo-ctl: not logged in: apolo-ctl login USER, "
              "or --token / APOLO_TOKEN\n", stderr);
        return CLI_EAUTH;
    }
    CURL *h = curl_easy_init();
    if (h == NULL) {
        fputs("apolo-ctl: curl_easy_init() failed\n", stderr);
        return CLI_EAPI;
    }
    char *url = cli_xasprintf("%s%s", c->url, rq->path);
    struct curl_slist *hd = NULL;
    char *auth = NULL, *key = NULL, *ct = NULL;
    if (rq->auth) {
        auth = cli_xasprintf("Authorization: Bearer %s", c->token);
        hd = curl_slist_append(hd, auth);
    }
    if (rq->idem_key != NULL) {
        key = cli_xasprintf("Idempotency-Key: %s", rq->idem_key);
        hd = curl_slist_append(hd, key);
    }
    hd = curl_slist_append(hd, "Accept: application/json");
    write_ctx_t w = { h, rs };

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "apolo-ctl");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, rs);
    if (c->timeout_s > 0) {
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->timeout_s);
        if (rq->streaming) {
            curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
            curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->timeout_s);
        } else {
            curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_s);
        }
    }
    if (rq->json != NULL) {
        hd = curl_slist_append(hd, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->json);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)strlen(rq->json));
    } else if (rq->upload != NULL) {
        ct = cli_xasprintf("Content-Type: %s", rq->content_type
                           ? rq->content_type : "application/octet-stream");
        hd = curl_slist_append(hd, ct);
        hd = curl_slist_append(hd, "Expect:");   /* no 100-continue wait */
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_READDATA, rq->upload);  /* fread */
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)rq->upload_len);
    } else if (strcmp(rq->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    }
    if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "POST") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);

    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
    int rc;
    if (cc != CURLE_OK && rs->status == 0) {
        fprintf(stderr, "apolo-ctl: cannot connect to %s: %s\n", c->url,
                curl_easy_strerror(cc));
        rc = CLI_ECONNECT;
    } else if (rs->sink_error) {
        fprintf(stderr, "apolo-ctl: writing the output: %s\n",
                strerror(errno));
        rc = CLI_EAPI;
    } else if (cc != CURLE_OK && rs->status >= 200 && rs->status < 300) {
        fprintf(stderr, "apolo-ctl: the transfer was cut (HTTP %ld): %s\n",
                rs->status, curl_easy_strerror(cc));
        rc = CLI_EAPI;
    } else if (rs->status < 200 || rs->status >= 300) {
        rc = api_error(rs, rq->auth);
    } else {
        rc = CLI_OK;
    }
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    free(url);
    free(auth);
    free(key);
    free(ct);
    return rc;
}

void cli_resp_free(cli_resp_t *rs)
{
    free(rs->body);
    rs->body = NULL;
    rs->len = rs->cap = 0;
}
