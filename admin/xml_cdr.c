/*
 * xml_cdr.c -- see xml_cdr.h.
 *
 * The XML walk keeps a depth and two flags, not a tree: a CDR has a few
 * hundred variables and the text of one element is all that is ever held.
 *
 *   depth 1  <cdr>
 *   depth 2    <variables>            <callflow> (the first only)
 *   depth 3      <name>text</name>      <caller_profile>
 *   depth 4                               <name>text</name>
 *
 * An element at a leaf depth that turns out to have children (the
 * caller profile's <originatee>, say) is not a value: it is dropped.
 */
#include "admin/xml_cdr.h"

#include <expat.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the outer layer ------------------------------------------------------- */

static int xcdr_fail(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int xcdr_fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

static int xcdr_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..len) in place: the new length, or -1. A '+' stays a
 * '+': FreeSWITCH's encoder writes a space as %20, and "+5491..." must
 * survive as a number. */
static long xcdr_percent(char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            s[o++] = s[i];
            continue;
        }
        int hi = i + 2 < len ? xcdr_hex(s[i + 1]) : -1;
        int lo = hi >= 0 ? xcdr_hex(s[i + 2]) : -1;
        if (lo < 0)
            return -1;
        s[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    return (long)o;
}

/* Base64 (with or without padding, line breaks ignored) in place. */
static long xcdr_base64(char *s, size_t len)
{
    unsigned char *bin = malloc(len + 1);
    size_t n = 0;
    if (bin == NULL)
        return -1;
    int rc = sodium_base642bin(bin, len + 1, s, len, "\r\n", &n, NULL,
                               sodium_base64_VARIANT_ORIGINAL);
    if (rc != 0)
        rc = sodium_base642bin(bin, len + 1, s, len, "\r\n", &n, NULL,
                               sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    if (rc == 0)
        memcpy(s, bin, n);
    free(bin);
    return rc == 0 ? (long)n : -1;
}

static int xcdr_type_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    return ct != NULL && strncasecmp(ct, want, n) == 0
           && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

int xcdr_unwrap(char *body, size_t len, const char *content_type,
                char **doc, size_t *doclen, char *err, size_t errcap)
{
    char *s = body;
    while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++;
        len--;
    }
    if (len >= 4 && memcmp(s, "cdr=", 4) == 0) {
        s += 4;
        len -= 4;
        long n = (long)len;
        if (xcdr_type_is(content_type, "application/x-www-form-base64-encoded"))
            n = xcdr_base64(s, len);
        else if (xcdr_type_is(content_type,
                              "application/x-www-form-urlencoded"))
            n = xcdr_percent(s, len);
        if (n < 0)
            return xcdr_fail(err, errcap, "cdr=: not valid %s", content_type);
        len = (size_t)n;
    }
    if (len == 0)
        return xcdr_fail(err, errcap, "the CDR document is empty");
    s[len] = '\0';
    *doc = s;
    *doclen = len;
    return 0;
}

/* ---- the XML document ------------------------------------------------------ */

typedef struct xcdr_walk {
    XML_Parser p;
    json_t    *vars;
    json_t    *prof;
    int        depth;
    int        in_vars;        /* inside <variables> (depth 2) */
    int        in_flow;        /* inside the first <callflow> */
    int        in_prof;        /* inside its <caller_profile> */
    int        flows;          /* <callflow> elements seen */
    int        leaf;           /* collecting the current element's text */
    int        had_child;      /* the leaf turned out to have children */
    char       name[128];
    char      *text;
    size_t     tlen;
    char       err[XCDR_ERR_MAX];
} xcdr_walk_t;

static void xcdr_stop(xcdr_walk_t *w, const char *msg)
{
    if (w->err[0] == '\0')
        snprintf(w->err, sizeof w->err, "%s", msg);
    XML_StopParser(w->p, XML_FALSE);
}

static void xcdr_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    xcdr_walk_t *w = ud;
    (void)atts;
    w->depth++;
    if (w->leaf) {                      /* a child of a would-be value */
        w->had_child = 1;
        return;
    }
    if (w->depth == 1) {
        if (strcmp(name, "cdr") != 0)
            xcdr_stop(w, "the root element is not <cdr> (mod_xml_cdr)");
        return;
    }
    if (w->depth == 2) {
        w->in_vars = strcmp(name, "variables") == 0;
        w->in_flow = strcmp(name, "callflow") == 0 && w->flows++ == 0;
        return;
    }
    if (w->depth == 3 && w->in_flow)
        w->in_prof = strcmp(name, "caller_profile") == 0;
    if ((w->depth == 3 && w->in_vars) || (w->depth == 4 && w->in_prof)) {
        if (strlen(name) >= sizeof w->name) {
            xcdr_stop(w, "an element name is too long");
            return;
        }
        snprintf(w->name, sizeof w->name, "%s", name);
        w->leaf = w->depth;
        w->had_child = 0;
        w->tlen = 0;
    }
}

static void xcdr_text(void *ud, const XML_Char *s, int len)
{
    xcdr_walk_t *w = ud;
    if (!w->leaf || w->had_child || len <= 0)
        return;
    if (w->tlen + (size_t)len > XCDR_MAX_VALUE) {
        xcdr_stop(w, "a value is over 64 KiB");
        return;
    }
    memcpy(w->text + w->tlen, s, (size_t)len);
    w->tlen += (size_t)len;
}

/* A finished leaf: into variables or the profile; the first value of a
 * name wins (FreeSWITCH writes each once). */
static void xcdr_keep(xcdr_walk_t *w)
{
    json_t *into = w->leaf == 3 ? w->vars : w->prof;
    if (json_object_get(into, w->name) != NULL)
        return;
    if (w->leaf == 3 && json_object_size(into) >= XCDR_MAX_VARS) {
        xcdr_stop(w, "over 4096 variables");
        return;
    }
    json_t *v = json_stringn(w->text, w->tlen);
    if (v == NULL) {                    /* not UTF-8: Expat gave us UTF-8 */
        xcdr_stop(w, "a value is not text");
        return;
    }
    json_object_set_new(into, w->name, v);
}

static void xcdr_end(void *ud, const XML_Char *name)
{
    xcdr_walk_t *w = ud;
    (void)name;
    if (w->leaf == w->depth) {
        if (!w->had_child)
            xcdr_keep(w);
        w->leaf = 0;
    } else if (w->depth == 3 && w->in_prof) {
        w->in_prof = 0;
    } else if (w->depth == 2) {
        w->in_vars = 0;
        w->in_flow = 0;
    }
    w->depth--;
}

static void xcdr_doctype(void *ud, const XML_Char *name, const XML_Char *sys,
                         const XML_Char *pub, int internal)
{
    (void)name; (void)sys; (void)pub; (void)internal;
    xcdr_stop(ud, "a DOCTYPE is not allowed in a CDR");
}

json_t *xcdr_to_json(const char *xml, size_t len, char *err, size_t errcap)
{
    xcdr_walk_t w;
    memset(&w, 0, sizeof w);
    w.vars = json_object();
    w.prof = json_object();
    w.text = malloc(XCDR_MAX_VALUE);
    w.p = XML_ParserCreate("UTF-8");
    json_t *out = NULL;
    if (w.vars == NULL || w.prof == NULL || w.text == NULL || w.p == NULL
        || len > (size_t)0x7fffffff) {
        xcdr_fail(err, errcap, "out of memory or over 2 GiB");
        goto done;
    }
    XML_SetUserData(w.p, &w);
    XML_SetElementHandler(w.p, xcdr_start, xcdr_end);
    XML_SetCharacterDataHandler(w.p, xcdr_text);
    XML_SetStartDoctypeDeclHandler(w.p, xcdr_doctype);
    if (XML_Parse(w.p, xml, (int)len, XML_TRUE) != XML_STATUS_OK) {
        if (w.err[0] != '\0')
            xcdr_fail(err, errcap, "%s", w.err);
        else
            xcdr_fail(err, errcap, "not well-formed XML: %s (line %lu)",
                      XML_ErrorString(XML_GetErrorCode(w.p)),
                      (unsigned long)XML_GetCurrentLineNumber(w.p));
        goto done;
    }
    if (json_object_size(w.vars) == 0) {
        xcdr_fail(err, errcap, "no <variables> in the CDR");
        goto done;
    }
    out = json_pack("{s:O,s:[{s:O}]}", "variables", w.vars, "callflow",
                    "caller_profile", w.prof);
    if (out == NULL)
        xcdr_fail(err, errcap, "out of memory");
done:
    if (w.p != NULL)
        XML_ParserFree(w.p);
    free(w.text);
    json_decref(w.vars);
    json_decref(w.prof);
    return out;
}
