/*
 * xlsx.c -- the first worksheet of an XLSX file (see xlsx.h).
 *
 *   zip (libzip, from memory)
 *    |-- xl/workbook.xml             the first <sheet>: name, r:id
 *    |-- xl/_rels/workbook.xml.rels  r:id -> Target (the worksheet part)
 *    |-- xl/sharedStrings.xml        <si> strings, by index
 *    `-- the worksheet               <row>/<c> -> cells
 *
 * Each part is streamed from the zip into expat in 64 KiB chunks, so a
 * part's size limit is enforced on the bytes really inflated, whatever the
 * zip's directory claims (zip bombs), and no part is held whole in memory.
 * Expat runs with namespace processing: element and attribute names come
 * as "namespace|local", and only local names are compared (transitional
 * and strict OOXML use different namespaces). The r:id attribute is the
 * one whose namespace ends in "relationships".
 *
 * Strings live in an arena of large blocks freed at once with the sheet;
 * a shared string is stored once and pointed to by every cell using it.
 *
 * NOTES
 * - A DTD (<!DOCTYPE) stops the parse: OOXML parts have none, and refusing
 *   it leaves no room for entity expansion tricks.
 * - Cells are collected in file order and sorted at the end; a cell given
 *   twice keeps the later one (the sort is stable on the input order).
 */
#include "admin/xlsx.h"

#include <expat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#define XLSX_CHUNK     65536
#define XLSX_ARENA     65536
#define XLSX_MAX_ROW   1048576u
#define XLSX_MAX_COL   16384u
#define XLSX_TEXT_MAX  (1u << 20)    /* one cell's or string's bytes */

/* ---- arena -------------------------------------------------------------- */

typedef struct xlsx_block {
    struct xlsx_block *next;
    size_t used, cap;
    char   data[];
} xlsx_block_t;

struct xlsx_sheet {
    xlsx_block_t *blocks;
    xlsx_cell_t  *cells;
    size_t        ncells, capcells;
    char          name[128];
};

/* A copy of s[0..n) with a NUL, in the sheet's arena; NULL out of memory. */
static char *xlsx_strdup(xlsx_sheet_t *sh, const char *s, size_t n)
{
    xlsx_block_t *b = sh->blocks;
    if (b == NULL || b->cap - b->used < n + 1) {
        size_t cap = n + 1 > XLSX_ARENA ? n + 1 : XLSX_ARENA;
        b = malloc(sizeof *b + cap);
        if (b == NULL)
            return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = sh->blocks;
        sh->blocks = b;
    }
    char *p = b->data + b->used;
    memcpy(p, s, n);
    p[n] = '\0';
    b->used += n + 1;
    return p;
}

void xlsx_free(xlsx_sheet_t *s)
{
    if (s == NULL)
        return;
    while (s->blocks != NULL) {
        xlsx_block_t *n = s->blocks->next;
        free(s->blocks);
        s->blocks = n;
    }
    free(s->cells);
    free(s);
}

const xlsx_cell_t *xlsx_cells(const xlsx_sheet_t *s, size_t *n)
{
    *n = s->ncells;
    return s->cells;
}

const char *xlsx_sheet_name(const xlsx_sheet_t *s)
{
    return s->name;
}

int xlsx_is_zip(const void *buf, size_t len)
{
    return len >= 4 && memcmp(buf, "PK\003\004", 4) == 0;
}

int xlsx_ref(const char *ref, uint32_t *row, uint32_t *col)
{
    uint32_t c = 0, r = 0;
    size_t i = 0;
    for (; ref[i] >= 'A' && ref[i] <= 'Z' && i < 3; i++)
        c = c * 26 + (uint32_t)(ref[i] - 'A' + 1);
    if (i == 0 || c > XLSX_MAX_COL || ref[i] < '1' || ref[i] > '9')
        return -1;
    for (; ref[i] >= '0' && ref[i] <= '9'; i++) {
        r = r * 10 + (uint32_t)(ref[i] - '0');
        if (r > XLSX_MAX_ROW)
            return -1;
    }
    if (ref[i] != '\0')
        return -1;
    *row = r;
    *col = c - 1;
    return 0;
}

/* ---- a parse: the zip, the errors, the text being gathered -------------- */

typedef struct xlsx_parse {
    zip_t          *zip;
    xlsx_sheet_t   *sh;
    xlsx_limits_t   lim;
    size_t          total;            /* bytes inflated so far */
    const char     *part;             /* the part being parsed */
    XML_Parser      xp;
    int             rc;               /* first error */
    char           *err;
    size_t          errcap;
    /* text gathered inside the element of interest */
    char           *text;
    size_t          ntext, captext;
    int             gather;
} xlsx_parse_t;

static int xlsx_fail(xlsx_parse_t *p, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first error (and stops the XML parser, if one runs). */
static int xlsx_fail(xlsx_parse_t *p, int rc, const char *fmt, ...)
{
    if (p->rc != XLSX_OK)
        return p->rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errcap, fmt, ap);
    va_end(ap);
    p->rc = rc;
    if (p->xp != NULL)
        XML_StopParser(p->xp, XML_FALSE);
    return rc;
}

static void xlsx_text_reset(xlsx_parse_t *p)
{
    p->ntext = 0;
}

/* Every part's handler context starts with its xlsx_parse_t pointer, so
 * the shared handlers below find the parse from any of them. */
static xlsx_parse_t *xlsx_of(void *ud)
{
    return *(xlsx_parse_t **)ud;
}

static void XMLCALL xlsx_on_text(void *ud, const XML_Char *s, int len)
{
    xlsx_parse_t *p = xlsx_of(ud);
    if (!p->gather || p->rc != XLSX_OK)
        return;
    if (p->ntext + (size_t)len > XLSX_TEXT_MAX) {
        xlsx_fail(p, XLSX_ELIMIT, "%s: a text over %u bytes", p->part,
                  XLSX_TEXT_MAX);
        return;
    }
    if (p->ntext + (size_t)len + 1 > p->captext) {
        size_t cap = (p->ntext + (size_t)len + 1) * 2;
        char *t = realloc(p->text, cap);
        if (t == NULL) {
            xlsx_fail(p, XLSX_ENOMEM, "out of memory");
            return;
        }
        p->text = t;
        p->captext = cap;
    }
    memcpy(p->text + p->ntext, s, (size_t)len);
    p->ntext += (size_t)len;
}

static void XMLCALL xlsx_on_doctype(void *ud, const XML_Char *name,
                                    const XML_Char *sysid,
                                    const XML_Char *pubid, int internal)
{
    (void)name, (void)sysid, (void)pubid, (void)internal;
    xlsx_parse_t *p = xlsx_of(ud);
    xlsx_fail(p, XLSX_EXML, "%s: a DTD, which OOXML never has", p->part);
}

/* The local part of an expat "namespace|local" name. */
static const char *xlsx_local(const char *name)
{
    const char *bar = strrchr(name, '|');
    return bar != NULL ? bar + 1 : name;
}

/* The value of the attribute with this local name (any namespace when ns
 * is NULL, else one whose namespace ends with ns), or NULL. */
static const char *xlsx_attr(const XML_Char **atts, const char *local,
                             const char *ns)
{
    for (size_t i = 0; atts[i] != NULL; i += 2) {
        const char *bar = strrchr(atts[i], '|');
        const char *l = bar != NULL ? bar + 1 : atts[i];
        if (strcmp(l, local) != 0)
            continue;
        if (ns == NULL && bar == NULL)
            return atts[i + 1];
        size_t nl = ns != NULL ? strlen(ns) : 0;
        if (ns != NULL && bar != NULL && (size_t)(bar - atts[i]) >= nl
            && memcmp(bar - nl, ns, nl) == 0)
            return atts[i + 1];
    }
    return NULL;
}

/* Streams the part `name` through a new expat parser with these handlers:
 * XLSX_OK, ENOTXLSX when missing and required, EXML, ELIMIT, ENOMEM. *found
 * (may be NULL) tells whether the part exists. */
static int xlsx_parse_part(xlsx_parse_t *p, const char *name, void *ud,
                           XML_StartElementHandler on_start,
                           XML_EndElementHandler on_end, int required,
                           int *found)
{
    zip_file_t *zf = zip_fopen(p->zip, name, ZIP_FL_NOCASE);
    if (found != NULL)
        *found = zf != NULL;
    if (zf == NULL)
        return required ? xlsx_fail(p, XLSX_ENOTXLSX, "not an XLSX file: "
                                    "no %s in the zip", name) : XLSX_OK;
    char *buf = malloc(XLSX_CHUNK);
    p->xp = XML_ParserCreateNS(NULL, '|');
    if (buf == NULL || p->xp == NULL) {
        free(buf);
        if (p->xp != NULL)
            XML_ParserFree(p->xp);
        p->xp = NULL;
        zip_fclose(zf);
        return xlsx_fail(p, XLSX_ENOMEM, "out of memory");
    }
    p->part = name;
    XML_SetUserData(p->xp, ud);
    XML_SetElementHandler(p->xp, on_start, on_end);
    XML_SetCharacterDataHandler(p->xp, xlsx_on_text);
    XML_SetStartDoctypeDeclHandler(p->xp, xlsx_on_doctype);
    size_t part = 0;
    for (;;) {
        zip_int64_t n = zip_fread(zf, buf, XLSX_CHUNK);
        if (n < 0) {
            xlsx_fail(p, XLSX_ENOTZIP, "%s: the zip is damaged (%s)", name,
                      zip_strerror(p->zip));
            break;
        }
        part += (size_t)n;
        p->total += (size_t)n;
        if (part > p->lim.max_part || p->total > p->lim.max_total) {
            xlsx_fail(p, XLSX_ELIMIT, "%s: more than %zu bytes uncompressed",
                      name, part > p->lim.max_part ? p->lim.max_part
                                                   : p->lim.max_total);
            break;
        }
        if (XML_Parse(p->xp, buf, (int)n, n == 0) != XML_STATUS_OK) {
            xlsx_fail(p, XLSX_EXML, "%s line %lu: %s", name,
                      (unsigned long)XML_GetCurrentLineNumber(p->xp),
                      XML_ErrorString(XML_GetErrorCode(p->xp)));
            break;
        }
        if (n == 0 || p->rc != XLSX_OK)
            break;
    }
    XML_ParserFree(p->xp);
    p->xp = NULL;
    free(buf);
    zip_fclose(zf);
    return p->rc;
}

/* ---- workbook and relationships: which part is the first sheet ---------- */

typedef struct xlsx_wb {
    xlsx_parse_t *p;              /* first: xlsx_of() */
    char rid[128];
    char target[256];
    int  done;
} xlsx_wb_t;

static void XMLCALL xlsx_wb_start(void *ud, const XML_Char *name,
                                  const XML_Char **atts)
{
    xlsx_wb_t *w = ud;
    if (w->done || strcmp(xlsx_local(name), "sheet") != 0)
        return;
    const char *rid = xlsx_attr(atts, "id", "relationships");
    const char *nm = xlsx_attr(atts, "name", NULL);
    snprintf(w->rid, sizeof w->rid, "%s", rid != NULL ? rid : "");
    snprintf(w->p->sh->name, sizeof w->p->sh->name, "%s",
             nm != NULL ? nm : "");
    w->done = 1;
}

static void XMLCALL xlsx_rels_start(void *ud, const XML_Char *name,
                                    const XML_Char **atts)
{
    xlsx_wb_t *w = ud;
    if (w->done || strcmp(xlsx_local(name), "Relationship") != 0)
        return;
    const char *id = xlsx_attr(atts, "Id", NULL);
    const char *t = xlsx_attr(atts, "Target", NULL);
    if (id == NULL || t == NULL || strcmp(id, w->rid) != 0)
        return;
    /* relative to xl/, or absolute from the package root */
    if (t[0] == '/')
        snprintf(w->target, sizeof w->target, "%s", t + 1);
    else
        snprintf(w->target, sizeof w->target, "xl/%s", t);
    w->done = 1;
}

static void XMLCALL xlsx_no_end(void *ud, const XML_Char *name)
{
    (void)ud, (void)name;
}

/* The worksheet part's name into out (cap bytes). */
static int xlsx_find_sheet(xlsx_parse_t *p, char *out, size_t cap)
{
    xlsx_wb_t w;
    int found = 0;
    memset(&w, 0, sizeof w);
    w.p = p;
    snprintf(out, cap, "xl/worksheets/sheet1.xml");
    if (xlsx_parse_part(p, "xl/workbook.xml", &w, xlsx_wb_start,
                        xlsx_no_end, 0, &found) != XLSX_OK)
        return p->rc;
    if (!found || w.rid[0] == '\0') {
        p->sh->name[0] = '\0';
        return XLSX_OK;
    }
    w.done = 0;
    if (xlsx_parse_part(p, "xl/_rels/workbook.xml.rels", &w, xlsx_rels_start,
                        xlsx_no_end, 0, &found) != XLSX_OK)
        return p->rc;
    if (w.done)
        snprintf(out, cap, "%s", w.target);
    return XLSX_OK;
}

/* ---- shared strings ----------------------------------------------------- */

typedef struct xlsx_sst {
    xlsx_parse_t *p;              /* first: xlsx_of() */
    char   **str;
    size_t   n, cap;
    int      in_si, in_rph;
} xlsx_sst_t;

static void XMLCALL xlsx_sst_start(void *ud, const XML_Char *name,
                                   const XML_Char **atts)
{
    xlsx_sst_t *s = ud;
    const char *l = xlsx_local(name);
    (void)atts;
    if (strcmp(l, "si") == 0) {
        s->in_si = 1;
        xlsx_text_reset(s->p);
    } else if (strcmp(l, "rPh") == 0) {
        s->in_rph = 1;
    } else if (strcmp(l, "t") == 0 && s->in_si && !s->in_rph) {
        s->p->gather = 1;
    }
}

static void XMLCALL xlsx_sst_end(void *ud, const XML_Char *name)
{
    xlsx_sst_t *s = ud;
    xlsx_parse_t *p = s->p;
    const char *l = xlsx_local(name);
    if (strcmp(l, "t") == 0) {
        p->gather = 0;
    } else if (strcmp(l, "rPh") == 0) {
        s->in_rph = 0;
    } else if (strcmp(l, "si") == 0 && s->in_si) {
        s->in_si = 0;
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 256;
            char **t = cap > p->lim.max_cells ? NULL
                     : realloc(s->str, cap * sizeof *t);
            if (t == NULL) {
                xlsx_fail(p, cap > p->lim.max_cells ? XLSX_ELIMIT
                          : XLSX_ENOMEM, "%s: too many strings", p->part);
                return;
            }
            s->str = t;
            s->cap = cap;
        }
        s->str[s->n] = xlsx_strdup(p->sh, p->text ? p->text : "", p->ntext);
        if (s->str[s->n] == NULL)
            xlsx_fail(p, XLSX_ENOMEM, "out of memory");
        else
            s->n++;
    }
}

/* ---- the worksheet ------------------------------------------------------ */

typedef struct xlsx_ws {
    xlsx_parse_t *p;              /* first: xlsx_of() */
    const xlsx_sst_t *sst;
    uint32_t row, col;            /* the current row, the next column */
    int      in_c, in_v, in_is;
    uint8_t  ctype;               /* of the current cell */
    char     t[16];               /* its t attribute */
} xlsx_ws_t;

static void xlsx_ws_row(xlsx_ws_t *w, const XML_Char **atts)
{
    const char *r = xlsx_attr(atts, "r", NULL);
    char *end = NULL;
    unsigned long n = r != NULL ? strtoul(r, &end, 10) : 0;
    if (r == NULL && w->row >= XLSX_MAX_ROW)
        xlsx_fail(w->p, XLSX_EXML, "%s: a row past row %d", w->p->part,
                  XLSX_MAX_ROW);
    else if (r == NULL)
        w->row++;
    else if (end == r || *end != '\0' || n < 1 || n > XLSX_MAX_ROW)
        xlsx_fail(w->p, XLSX_EXML, "%s: a row numbered \"%.20s\"",
                  w->p->part, r);
    else
        w->row = (uint32_t)n;
    w->col = 0;
}

static void xlsx_ws_cell(xlsx_ws_t *w, const XML_Char **atts)
{
    const char *r = xlsx_attr(atts, "r", NULL);
    const char *t = xlsx_attr(atts, "t", NULL);
    uint32_t row, col;
    if (r != NULL && xlsx_ref(r, &row, &col) != 0) {
        xlsx_fail(w->p, XLSX_EXML, "%s: a cell reference \"%.20s\"",
                  w->p->part, r);
        return;
    }
    if (r != NULL) {
        w->row = row;                /* a cell's own reference wins */
        w->col = col;
    }
    if (w->row == 0 || w->col >= XLSX_MAX_COL) {
        xlsx_fail(w->p, XLSX_EXML, "%s: a cell outside the sheet",
                  w->p->part);
        return;
    }
    snprintf(w->t, sizeof w->t, "%s", t != NULL ? t : "n");
    w->in_c = 1;
    xlsx_text_reset(w->p);
}

static void XMLCALL xlsx_ws_start(void *ud, const XML_Char *name,
                                  const XML_Char **atts)
{
    xlsx_ws_t *w = ud;
    const char *l = xlsx_local(name);
    if (strcmp(l, "row") == 0)
        xlsx_ws_row(w, atts);
    else if (strcmp(l, "c") == 0)
        xlsx_ws_cell(w, atts);
    else if (w->in_c && strcmp(l, "v") == 0)
        w->in_v = w->p->gather = 1;
    else if (w->in_c && strcmp(l, "is") == 0)
        w->in_is = 1;
    else if (w->in_is && strcmp(l, "rPh") == 0)
        w->in_is = 2;                  /* phonetic: not the value */
    else if (w->in_is == 1 && strcmp(l, "t") == 0)
        w->p->gather = 1;
}

static int xlsx_add_cell(xlsx_parse_t *p, uint32_t row, uint32_t col,
                         uint8_t type, const char *text)
{
    xlsx_sheet_t *sh = p->sh;
    if (sh->ncells == p->lim.max_cells)
        return xlsx_fail(p, XLSX_ELIMIT, "%s: more than %zu cells", p->part,
                         p->lim.max_cells);
    if (sh->ncells == sh->capcells) {
        size_t cap = sh->capcells ? sh->capcells * 2 : 1024;
        xlsx_cell_t *c = realloc(sh->cells, cap * sizeof *c);
        if (c == NULL)
            return xlsx_fail(p, XLSX_ENOMEM, "out of memory");
        sh->cells = c;
        sh->capcells = cap;
    }
    sh->cells[sh->ncells] = (xlsx_cell_t){ row, col, type,
                                           (uint32_t)sh->ncells, text };
    sh->ncells++;
    return XLSX_OK;
}

/* The value of the cell that just ended. */
static void xlsx_ws_value(xlsx_ws_t *w)
{
    xlsx_parse_t *p = w->p;
    const char *text = NULL;
    uint8_t type = XLSX_STRING;
    if (strcmp(w->t, "s") == 0) {
        char *end = NULL;
        const char *v = p->text != NULL ? p->text : "";
        unsigned long i = strtoul(v, &end, 10);
        if (end == v || *end != '\0' || i >= w->sst->n) {
            xlsx_fail(p, XLSX_EXML, "%s: a shared string index \"%.20s\" "
                      "(the file has %zu strings)", p->part, v, w->sst->n);
            return;
        }
        text = w->sst->str[i];
    } else {
        if (strcmp(w->t, "b") == 0)
            type = XLSX_BOOL;
        else if (strcmp(w->t, "e") == 0)
            type = XLSX_ERROR;
        else if (strcmp(w->t, "n") == 0)
            type = XLSX_NUMBER;
        text = xlsx_strdup(p->sh, p->text != NULL ? p->text : "", p->ntext);
        if (text == NULL) {
            xlsx_fail(p, XLSX_ENOMEM, "out of memory");
            return;
        }
    }
    xlsx_add_cell(p, w->row, w->col, type, text);
}

static void XMLCALL xlsx_ws_end(void *ud, const XML_Char *name)
{
    xlsx_ws_t *w = ud;
    xlsx_parse_t *p = w->p;
    const char *l = xlsx_local(name);
    if (strcmp(l, "c") == 0 && w->in_c) {
        /* text: NUL-terminate what was gathered (captext > ntext) */
        if (p->text != NULL)
            p->text[p->ntext] = '\0';
        if (p->ntext > 0)
            xlsx_ws_value(w);
        w->in_c = w->in_v = w->in_is = 0;
        p->gather = 0;
        w->col++;
    } else if (strcmp(l, "v") == 0 || strcmp(l, "t") == 0) {
        p->gather = 0;
    } else if (strcmp(l, "rPh") == 0 && w->in_is == 2) {
        w->in_is = 1;
    } else if (strcmp(l, "is") == 0) {
        w->in_is = 0;
    }
}

/* Sorts by (row, col, position in the file): of a cell given twice the
 * later one is kept. */
static int xlsx_cell_cmp(const void *a, const void *b)
{
    const xlsx_cell_t *x = a, *y = b;
    if (x->row != y->row)
        return x->row < y->row ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void xlsx_sort(xlsx_sheet_t *sh)
{
    if (sh->ncells > 1)                /* an empty sheet has no array */
        qsort(sh->cells, sh->ncells, sizeof *sh->cells, xlsx_cell_cmp);
    size_t k = 0;
    for (size_t i = 0; i < sh->ncells; i++) {
        if (k > 0 && sh->cells[k - 1].row == sh->cells[i].row
            && sh->cells[k - 1].col == sh->cells[i].col)
            k--;                              /* the later one replaces */
        sh->cells[k++] = sh->cells[i];
    }
    sh->ncells = k;
}

/* ---- xlsx_read ---------------------------------------------------------- */

/* With the zip open: the sheet's part, the strings, the cells. */
static int xlsx_read_zip(xlsx_parse_t *p)
{
    char part[256];
    xlsx_sst_t sst;
    xlsx_ws_t ws;
    memset(&sst, 0, sizeof sst);
    memset(&ws, 0, sizeof ws);
    sst.p = ws.p = p;
    ws.sst = &sst;
    if (xlsx_find_sheet(p, part, sizeof part) == XLSX_OK
        && xlsx_parse_part(p, "xl/sharedStrings.xml", &sst, xlsx_sst_start,
                           xlsx_sst_end, 0, NULL) == XLSX_OK)
        xlsx_parse_part(p, part, &ws, xlsx_ws_start, xlsx_ws_end, 1, NULL);
    free(sst.str);
    if (p->rc == XLSX_OK)
        xlsx_sort(p->sh);
    return p->rc;
}

int xlsx_read(const void *buf, size_t len, const xlsx_limits_t *limits,
              xlsx_sheet_t **out, char *err, size_t cap)
{
    static const xlsx_limits_t dflt = XLSX_LIMITS_DEFAULT;
    xlsx_parse_t p;
    zip_error_t ze;
    memset(&p, 0, sizeof p);
    p.lim = limits != NULL ? *limits : dflt;
    p.err = err;
    p.errcap = cap;
    *out = NULL;
    if (len >= 4 && memcmp(buf, "\320\317\021\340", 4) == 0)
        return xlsx_fail(&p, XLSX_ENOTZIP, "not an XLSX file: an .xls "
                         "(Excel 97-2003) or a password-protected workbook; "
                         "save it as .xlsx without a password");
    if (!xlsx_is_zip(buf, len))
        return xlsx_fail(&p, XLSX_ENOTZIP, "not an XLSX file (not a zip "
                         "archive)");
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(buf, len, 0, &ze);
    p.zip = src != NULL ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
    if (p.zip == NULL) {
        xlsx_fail(&p, XLSX_ENOTZIP, "not an XLSX file: the zip archive is "
                  "damaged (%s)", zip_error_strerror(&ze));
        if (src != NULL)
            zip_source_free(src);
        zip_error_fini(&ze);
        return p.rc;
    }
    zip_error_fini(&ze);
    p.sh = calloc(1, sizeof *p.sh);
    if (p.sh == NULL)
        xlsx_fail(&p, XLSX_ENOMEM, "out of memory");
    else
        xlsx_read_zip(&p);
    zip_discard(p.zip);                     /* frees src too */
    free(p.text);
    if (p.rc != XLSX_OK) {
        xlsx_free(p.sh);
        return p.rc;
    }
    *out = p.sh;
    return XLSX_OK;
}
