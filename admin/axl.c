/*
 * axl.c -- the AXL client of axl.h: builds a SOAP envelope, POSTs it with
 * libcurl, reads the answer with libexpat.
 *
 * One request = one easy handle: no connection reuse (FAC changes are
 * rare, an import is a few pages), nothing shared between threads.
 *
 * The answer is read into one event-driven pass that keeps only what FAC
 * operations need, by local name (namespaces stripped: CUCM prefixes its
 * response elements with ns: and the envelope's with soapenv:):
 *   faultstring                     -> the error text
 *   return (text only)              -> the uuid of add
 *   return/facInfo[@uuid]/{name, code, authorizationLevel} -> list entries
 *
 * NOTES
 * - AXL request children are unqualified (<ns:addFacInfo><facInfo>...):
 *   the schema's elementFormDefault is unqualified; only the operation
 *   element carries the namespace.
 * - Values are XML-escaped (& < > " '); the callers validate them first
 *   (digits for codes, no control characters in names).
 * - A DOCTYPE in an answer stops the parser (no entity expansion from a
 *   rogue endpoint); answers are capped at AXL_BODY_MAX.
 * - Only http and https (CURLOPT_PROTOCOLS_STR); redirects are not
 *   followed, so the password is never sent elsewhere.
 */
#include "admin/axl.h"

#include "shm/log.h"

#include <curl/curl.h>
#include <expat.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AXL_BODY_MAX   (16u << 20)
#define AXL_PAGE       500
#define AXL_PAGES_MAX  200          /* 100000 FACs */
#define AXL_TEXT_CAP   1024

/* ---- a growing string ------------------------------------------------------ */

typedef struct axl_buf {
    char  *p;
    size_t len, cap;
    int    oom;
} axl_buf_t;

static void buf_put(axl_buf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(axl_buf_t *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

static void buf_fmt(axl_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void buf_fmt(axl_buf_t *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        buf_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* s, XML-escaped. */
static void buf_xml(axl_buf_t *b, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&':  buf_str(b, "&amp;"); break;
        case '<':  buf_str(b, "&lt;"); break;
        case '>':  buf_str(b, "&gt;"); break;
        case '"':  buf_str(b, "&quot;"); break;
        case '\'': buf_str(b, "&apos;"); break;
        default:   buf_put(b, s, 1);
        }
    }
}

/* <tag>value</tag>, value escaped. */
static void buf_elem(axl_buf_t *b, const char *tag, const char *value)
{
    buf_fmt(b, "<%s>", tag);
    buf_xml(b, value);
    buf_fmt(b, "</%s>", tag);
}

/* ---- configuration ------------------------------------------------------------ */

static int axl_version_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || v[0] == '.' || v[n - 1] == '.')
        return 0;
    return strspn(v, "0123456789.") == n;
}

static int axl_copy(char *dst, size_t cap, const char *src, const char *key,
                    char *err, size_t ecap)
{
    if (strlen(src) >= cap) {
        snprintf(err, ecap, "%s: at most %zu characters", key, cap - 1);
        return -1;
    }
    snprintf(dst, cap, "%s", src);
    return 0;
}

int axl_configure(const conf_t *c, axl_cfg_t *out, char *err, size_t cap)
{
    static int warned;
    int64_t v;
    memset(out, 0, sizeof *out);
    const char *url = conf_str(c, "axl.url");
    if (url == NULL || *url == '\0')
        return 0;
    if (axl_copy(out->url, sizeof out->url, url, "axl.url", err, cap) != 0
        || axl_copy(out->user, sizeof out->user, conf_str(c, "axl.user"),
                    "axl.user", err, cap) != 0
        || axl_copy(out->password, sizeof out->password,
                    conf_str(c, "axl.password"), "axl.password", err, cap) != 0
        || axl_copy(out->version, sizeof out->version,
                    conf_str(c, "axl.version"), "axl.version", err, cap) != 0)
        return AXL_ECONF;
    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
        snprintf(err, cap, "axl.url: an http:// or https:// URL");
        return AXL_ECONF;
    }
    if (!axl_version_ok(out->version)) {
        snprintf(err, cap, "axl.version: digits and dots, like \"14.0\"");
        return AXL_ECONF;
    }
    out->timeout_ms = conf_int(c, "axl.timeout_ms", 100, 600000, 10000, &v,
                               NULL) == CONF_OK ? (long)v : 10000;
    out->verify_tls = conf_int(c, "axl.verify_tls", 0, 1, 1, &v, NULL)
                      == CONF_OK ? (int)v : 1;
    if (!out->verify_tls && !__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
        LOG_WARN("axl", 0, "axl.verify_tls = 0: CUCM's certificate is NOT "
                 "checked (lab use only: anyone in the path can read the "
                 "AXL password and the FAC codes)");
    return 1;
}

/* ---- reading the answer ---------------------------------------------------------- */

typedef struct axl_rd {
    XML_Parser p;
    char       text[AXL_TEXT_CAP];
    size_t     tlen;
    char       fault[AXL_TEXT_CAP];
    char       ret[AXL_UUID_CAP];
    int        has_fault, in_return, in_fac, ret_children, doctype;
    axl_fac_t *facs;
    size_t     nfacs, capfacs;
    int        oom;
} axl_rd_t;

/* "uri|local" or "prefix:local" or "local" -> "local". */
static const char *axl_local(const char *name)
{
    const char *s = strrchr(name, '|');
    if (s == NULL)
        s = strrchr(name, ':');
    return s != NULL ? s + 1 : name;
}

/* Copies src into dst[cap], cut to cap - 1 bytes. */
static void axl_cpy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void rd_fac_begin(axl_rd_t *d, const char **attr)
{
    if (d->nfacs == d->capfacs) {
        size_t cap = d->capfacs ? d->capfacs * 2 : 64;
        axl_fac_t *f = realloc(d->facs, cap * sizeof *f);
        if (f == NULL) {
            d->oom = 1;
            XML_StopParser(d->p, XML_FALSE);
            return;
        }
        d->facs = f;
        d->capfacs = cap;
    }
    axl_fac_t *f = &d->facs[d->nfacs++];
    memset(f, 0, sizeof *f);
    f->level = -1;
    for (int i = 0; attr[i] != NULL; i += 2)
        if (strcmp(axl_local(attr[i]), "uuid") == 0)
            axl_cpy(f->uuid, sizeof f->uuid, attr[i + 1]);
    d->in_fac = 1;
}

static void XMLCALL rd_start(void *u, const char *name, const char **attr)
{
    axl_rd_t *d = u;
    const char *l = axl_local(name);
    d->tlen = 0;
    d->text[0] = '\0';
    if (strcmp(l, "return") == 0) {
        d->in_return = 1;
        d->ret_children = 0;
    } else if (d->in_return) {
        d->ret_children = 1;
        if (strcmp(l, "facInfo") == 0)
            rd_fac_begin(d, attr);
    } else if (strcmp(l, "Fault") == 0) {
        d->has_fault = 1;
    }
}

static int rd_level(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0 || v > AXL_LEVEL_MAX)
        return -1;
    return (int)v;
}

static void rd_fac_field(axl_rd_t *d, const char *l)
{
    axl_fac_t *f = &d->facs[d->nfacs - 1];
    if (strcmp(l, "name") == 0)
        axl_cpy(f->name, sizeof f->name, d->text);
    else if (strcmp(l, "code") == 0 && axl_code_ok(d->text))
        axl_cpy(f->code, sizeof f->code, d->text);
    else if (strcmp(l, "authorizationLevel") == 0)
        f->level = rd_level(d->text);
}

static void XMLCALL rd_end(void *u, const char *name)
{
    axl_rd_t *d = u;
    const char *l = axl_local(name);
    if (strcmp(l, "faultstring") == 0) {
        axl_cpy(d->fault, sizeof d->fault, d->text);
    } else if (strcmp(l, "return") == 0) {
        if (!d->ret_children)
            axl_cpy(d->ret, sizeof d->ret, d->text);
        d->in_return = 0;
    } else if (strcmp(l, "facInfo") == 0) {
        d->in_fac = 0;
    } else if (d->in_fac && d->nfacs > 0) {
        rd_fac_field(d, l);
    }
    d->tlen = 0;
    d->text[0] = '\0';
}

static void XMLCALL rd_text(void *u, const char *s, int len)
{
    axl_rd_t *d = u;
    size_t n = (size_t)len;
    if (d->tlen + n >= sizeof d->text)
        n = sizeof d->text - 1 - d->tlen;
    memcpy(d->text + d->tlen, s, n);
    d->tlen += n;
    d->text[d->tlen] = '\0';
}

static void XMLCALL rd_doctype(void *u, const char *name, const char *sys,
                               const char *pub, int internal)
{
    (void)name; (void)sys; (void)pub; (void)internal;
    axl_rd_t *d = u;
    d->doctype = 1;
    XML_StopParser(d->p, XML_FALSE);
}

/* Parses body into d: 0, or -1 with err set. */
static int axl_parse(const char *body, size_t len, axl_rd_t *d, char *err,
                     size_t cap)
{
    d->p = XML_ParserCreateNS(NULL, '|');
    if (d->p == NULL) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    XML_SetUserData(d->p, d);
    XML_SetElementHandler(d->p, rd_start, rd_end);
    XML_SetCharacterDataHandler(d->p, rd_text);
    XML_SetStartDoctypeDeclHandler(d->p, rd_doctype);
    int ok = XML_Parse(d->p, body, (int)len, 1) == XML_STATUS_OK;
    if (!ok)
        snprintf(err, cap, d->doctype ? "AXL answer refused: it has a DOCTYPE"
                 : d->oom ? "out of memory" : "AXL answer is not XML: %s",
                 XML_ErrorString(XML_GetErrorCode(d->p)));
    XML_ParserFree(d->p);
    d->p = NULL;
    return ok ? 0 : -1;
}

/* ---- the request ---------------------------------------------------------------- */

static size_t axl_collect(char *p, size_t size, size_t n, void *u)
{
    axl_buf_t *b = u;
    if (b->len + size * n > AXL_BODY_MAX)
        return 0;                      /* aborts the transfer */
    buf_put(b, p, size * n);
    return b->oom ? 0 : size * n;
}

static CURL *axl_easy(const axl_cfg_t *k, char *errbuf, axl_buf_t *resp)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return NULL;
    curl_easy_setopt(c, CURLOPT_URL, k->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, k->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, k->timeout_ms);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, k->user);
    curl_easy_setopt(c, CURLOPT_PASSWORD, k->password);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, k->verify_tls ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, k->verify_tls ? 2L : 0L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, axl_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    return c;
}

static struct curl_slist *axl_headers(const axl_cfg_t *k, const char *op)
{
    char h[128];
    struct curl_slist *l = curl_slist_append(NULL,
                                "Content-Type: text/xml; charset=utf-8");
    l = curl_slist_append(l, "Expect:");
    l = curl_slist_append(l, "User-Agent: ApoloBilling-axl/1");
    snprintf(h, sizeof h, "SOAPAction: \"CUCM:DB ver=%s %s\"", k->version, op);
    return curl_slist_append(l, h);
}

/* The envelope around the operation op whose children are inner. */
static void axl_envelope(axl_buf_t *b, const axl_cfg_t *k, const char *op,
                         const char *inner)
{
    buf_str(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/"
            "soap/envelope/\" xmlns:ns=\"http://www.cisco.com/AXL/API/");
    buf_xml(b, k->version);
    buf_fmt(b, "\"><soapenv:Header/><soapenv:Body><ns:%s>", op);
    buf_str(b, inner);
    buf_fmt(b, "</ns:%s></soapenv:Body></soapenv:Envelope>", op);
}

/* Replaces every occurrence of secret (not empty) in s by "***". */
static void axl_redact(char *s, size_t cap, const char *secret)
{
    size_t n = secret != NULL ? strlen(secret) : 0;
    char *at;
    if (n == 0)
        return;
    while ((at = strstr(s, secret)) != NULL) {
        size_t rest = strlen(at + n);
        if ((size_t)(at - s) + 3 + rest + 1 > cap)
            rest = cap - (size_t)(at - s) - 4;
        memmove(at + 3, at + n, rest);
        at[3 + rest] = '\0';
        memcpy(at, "***", 3);
    }
}

/* What a finished transfer means: AXL_OK, AXL_EFAULT or AXL_ENET. */
static int axl_outcome(long status, const char *body, size_t len,
                       axl_rd_t *d, char *err, size_t cap)
{
    char perr[160];
    int parsed = len > 0 && axl_parse(body, len, d, perr, sizeof perr) == 0;
    if (parsed && d->has_fault) {
        snprintf(err, cap, "AXL fault: %s", *d->fault ? d->fault
                 : "(no faultstring)");
        return AXL_EFAULT;
    }
    if (status != 200) {
        snprintf(err, cap, "HTTP %ld from AXL%s", status, status == 401
                 ? " (check axl.user and axl.password)" : "");
        return AXL_ENET;
    }
    if (!parsed) {
        snprintf(err, cap, "%s", len == 0 ? "empty AXL answer" : perr);
        return AXL_ENET;
    }
    return AXL_OK;
}

/* POSTs op with inner as its children; the answer read into d. */
static int axl_call(const axl_cfg_t *k, const char *op, const char *inner,
                    axl_rd_t *d, char *err, size_t cap)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    axl_buf_t req = { 0 }, resp = { 0 };
    memset(d, 0, sizeof *d);
    axl_envelope(&req, k, op, inner);
    CURL *c = req.oom ? NULL : axl_easy(k, errbuf, &resp);
    if (c == NULL) {
        free(req.p);
        snprintf(err, cap, "out of memory");
        return AXL_ENET;
    }
    struct curl_slist *hdr = axl_headers(k, op);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.p);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)req.len);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdr);
    sodium_memzero(req.p, req.len);    /* it may hold a code */
    free(req.p);
    int out;
    if (rc != CURLE_OK) {
        snprintf(err, cap, "AXL %s: %s", op, *errbuf ? errbuf
                 : curl_easy_strerror(rc));
        out = AXL_ENET;
    } else {
        out = axl_outcome(status, resp.p, resp.len, d, err, cap);
    }
    free(resp.p);
    return out;
}

/* ---- the operations --------------------------------------------------------------- */

int axl_fac_add(const axl_cfg_t *k, const char *name, const char *code,
                int level, char uuid[AXL_UUID_CAP], char *err, size_t cap)
{
    axl_buf_t in = { 0 };
    axl_rd_t d;
    memset(&d, 0, sizeof d);
    char lv[16];
    snprintf(lv, sizeof lv, "%d", level);
    buf_str(&in, "<facInfo>");
    buf_elem(&in, "name", name);
    buf_elem(&in, "code", code);
    buf_elem(&in, "authorizationLevel", lv);
    buf_str(&in, "</facInfo>");
    int rc = in.oom ? AXL_ENET
             : axl_call(k, "addFacInfo", in.p, &d, err, cap);
    if (in.oom)
        snprintf(err, cap, "out of memory");
    if (in.p != NULL)
        sodium_memzero(in.p, in.len);
    free(in.p);
    free(d.facs);
    uuid[0] = '\0';
    if (rc == AXL_OK)
        axl_cpy(uuid, AXL_UUID_CAP, d.ret);
    else if (rc == AXL_EFAULT)
        axl_redact(err, cap, code);
    return rc;
}

int axl_fac_update(const axl_cfg_t *k, const char *name,
                   const char *new_name, const char *code, int level,
                   char *err, size_t cap)
{
    axl_buf_t in = { 0 };
    axl_rd_t d;
    memset(&d, 0, sizeof d);
    char lv[16];
    snprintf(lv, sizeof lv, "%d", level);
    buf_elem(&in, "name", name);
    if (new_name != NULL && strcmp(new_name, name) != 0)
        buf_elem(&in, "newName", new_name);
    if (code != NULL)
        buf_elem(&in, "code", code);
    buf_elem(&in, "authorizationLevel", lv);
    int rc = in.oom ? AXL_ENET
             : axl_call(k, "updateFacInfo", in.p, &d, err, cap);
    if (in.oom)
        snprintf(err, cap, "out of memory");
    if (in.p != NULL)
        sodium_memzero(in.p, in.len);
    free(in.p);
    free(d.facs);
    if (rc == AXL_EFAULT)
        axl_redact(err, cap, code);
    return rc;
}

int axl_fac_remove(const axl_cfg_t *k, const char *name, char *err,
                   size_t cap)
{
    axl_buf_t in = { 0 };
    axl_rd_t d;
    memset(&d, 0, sizeof d);
    buf_elem(&in, "name", name);
    int rc = in.oom ? AXL_ENET
             : axl_call(k, "removeFacInfo", in.p, &d, err, cap);
    if (in.oom)
        snprintf(err, cap, "out of memory");
    free(in.p);
    free(d.facs);
    return rc;
}

/* One page of listFacInfo appended to *all. */
static int axl_list_page(const axl_cfg_t *k, size_t skip, axl_rd_t *d,
                         char *err, size_t cap)
{
    char inner[512];
    snprintf(inner, sizeof inner, "<searchCriteria><name>%%</name>"
             "</searchCriteria><returnedTags><name/><code/>"
             "<authorizationLevel/></returnedTags><skip>%zu</skip>"
             "<first>%d</first>", skip, AXL_PAGE);
    return axl_call(k, "listFacInfo", inner, d, err, cap);
}

int axl_fac_list(const axl_cfg_t *k, axl_fac_t **out, size_t *n, char *err,
                 size_t cap)
{
    axl_fac_t *all = NULL;
    size_t len = 0;
    *out = NULL;
    *n = 0;
    for (int page = 0; page < AXL_PAGES_MAX; page++) {
        axl_rd_t d;
        int rc = axl_list_page(k, len, &d, err, cap);
        axl_fac_t *grown = rc == AXL_OK && d.nfacs > 0
            ? realloc(all, (len + d.nfacs) * sizeof *all) : all;
        if (rc != AXL_OK || grown == NULL) {
            if (rc == AXL_OK)
                snprintf(err, cap, "out of memory");
            free(d.facs);
            free(all);
            return rc != AXL_OK ? rc : AXL_ENET;
        }
        all = grown;
        if (d.nfacs > 0)
            memcpy(all + len, d.facs, d.nfacs * sizeof *all);
        len += d.nfacs;
        free(d.facs);
        if (d.nfacs < AXL_PAGE)
            break;
    }
    *out = all;
    *n = len;
    return AXL_OK;
}

/* ---- codes ------------------------------------------------------------------------ */

int axl_code_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= AXL_CODE_MAX && strspn(s, "0123456789") == n;
}

