/*
 * test_xlsx.c -- admin/xlsx.c and admin/bulk_csv.c against files written
 * by an independent writer (openpyxl) and by hand, well-formed and broken.
 *
 * The fixtures are the .xlsx files of tests/fixtures/xlsx, made by
 * make_fixtures.py
 * there (run with /usr/bin/python3: it needs Debian's python3-openpyxl);
 * found through APOLO_TOP (tests/run.sh sets it), else ".".
 */
#include "admin/bulk_csv.h"
#include "admin/xlsx.h"
#include "tests/testhelp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char fixdir[512];

/* The whole file into a malloc'd buffer (*len), or NULL. */
static char *slurp(const char *name, size_t *len)
{
    char path[768];
    snprintf(path, sizeof path, "%s/%s", fixdir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Reads a fixture: the result code; *out the sheet (or NULL). */
static int read_fixture(const char *name, const xlsx_limits_t *lim,
                        xlsx_sheet_t **out, char *err, size_t cap)
{
    size_t len = 0;
    char *buf = slurp(name, &len);
    *out = NULL;
    err[0] = '\0';
    if (buf == NULL)
        return 99;
    int rc = xlsx_read(buf, len, lim, out, err, cap);
    free(buf);
    return rc;
}

/* The text of cell (row, col), or NULL; *type its type. */
static const char *cell(const xlsx_sheet_t *s, uint32_t row, uint32_t col,
                        int *type)
{
    size_t n = 0;
    const xlsx_cell_t *c = xlsx_cells(s, &n);
    for (size_t i = 0; i < n; i++)
        if (c[i].row == row && c[i].col == col) {
            if (type != NULL)
                *type = c[i].type;
            return c[i].text;
        }
    return NULL;
}

static void test_refs(void)
{
    uint32_t r = 0, c = 0;
    TEST_EQ_I64(xlsx_ref("A1", &r, &c), 0);
    TEST_EQ_I64(r, 1);
    TEST_EQ_I64(c, 0);
    TEST_EQ_I64(xlsx_ref("AA10", &r, &c), 0);
    TEST_EQ_I64(r, 10);
    TEST_EQ_I64(c, 26);
    TEST_EQ_I64(xlsx_ref("XFD1048576", &r, &c), 0);
    TEST_EQ_I64(c, 16383);
    TEST_EQ_I64(xlsx_ref("XFE1", &r, &c), -1);
    TEST_EQ_I64(xlsx_ref("A1048577", &r, &c), -1);
    TEST_EQ_I64(xlsx_ref("A0", &r, &c), -1);
    TEST_EQ_I64(xlsx_ref("1A", &r, &c), -1);
    TEST_EQ_I64(xlsx_ref("a1", &r, &c), -1);
    TEST_EQ_I64(xlsx_ref("A1 ", &r, &c), -1);
    TEST_EQ_I64(xlsx_ref("", &r, &c), -1);
}

/* openpyxl: header, inline strings, numbers, a blank row, a boolean. */
static void test_basic(void)
{
    xlsx_sheet_t *s;
    char err[200];
    int t = -1;
    TEST_EQ_I64(read_fixture("basic.xlsx", NULL, &s, err, sizeof err),
                XLSX_OK);
    if (s == NULL)
        return;
    TEST_EQ_STR(xlsx_sheet_name(s), "Recargas");
    TEST_EQ_STR(cell(s, 1, 0, NULL), "Account");
    TEST_EQ_STR(cell(s, 1, 2, NULL), "Reason");
    TEST_EQ_STR(cell(s, 2, 1, &t), "10.5");
    TEST_EQ_I64(t, XLSX_NUMBER);
    TEST_EQ_STR(cell(s, 3, 1, &t), "20.25");
    TEST_EQ_I64(t, XLSX_STRING);
    TEST_CHECK(cell(s, 4, 0, NULL) == NULL);          /* the blank row */
    TEST_EQ_STR(cell(s, 6, 0, &t), "3");
    TEST_EQ_I64(t, XLSX_NUMBER);
    TEST_EQ_STR(cell(s, 6, 1, NULL), "1e-07");
    TEST_EQ_STR(cell(s, 7, 1, &t), "1");
    TEST_EQ_I64(t, XLSX_BOOL);
    TEST_EQ_STR(cell(s, 8, 1, NULL), "1234567.1234565");
    size_t n = 0;
    xlsx_cells(s, &n);
    TEST_EQ_I64(n, 21);
    xlsx_free(s);
}

/* openpyxl: cells placed by reference with gaps, far columns. */
static void test_gaps(void)
{
    xlsx_sheet_t *s;
    char err[200];
    TEST_EQ_I64(read_fixture("spanish.xlsx", NULL, &s, err, sizeof err),
                XLSX_OK);
    if (s == NULL)
        return;
    TEST_EQ_STR(cell(s, 2, 1, NULL), "Importe");
    TEST_EQ_STR(cell(s, 2, 3, NULL), "Cuenta");
    TEST_EQ_STR(cell(s, 5, 1, NULL), "1.000001");
    TEST_EQ_STR(cell(s, 10, 26, NULL), "far away");
    size_t n = 0;
    const xlsx_cell_t *c = xlsx_cells(s, &n);
    int sorted = 1;
    for (size_t i = 1; i < n; i++)
        sorted = sorted && (c[i - 1].row < c[i].row
                            || (c[i - 1].row == c[i].row
                                && c[i - 1].col < c[i].col));
    TEST_CHECK(sorted);
    xlsx_free(s);
}

/* openpyxl: the first sheet of the workbook is the one read. */
static void test_two_sheets(void)
{
    xlsx_sheet_t *s;
    char err[200];
    TEST_EQ_I64(read_fixture("two_sheets.xlsx", NULL, &s, err, sizeof err),
                XLSX_OK);
    if (s == NULL)
        return;
    TEST_EQ_STR(xlsx_sheet_name(s), "Primera");
    TEST_EQ_STR(cell(s, 2, 0, NULL), "M1");
    TEST_EQ_STR(cell(s, 2, 1, NULL), "1");
    xlsx_free(s);
}

/* By hand: shared strings with rich text and phonetic runs, inline rich
 * text, cells and rows without references, rows out of order, a cell
 * given twice, error and formula cells, a sheet found through the rels. */
static void test_handmade(void)
{
    xlsx_sheet_t *s;
    char err[200];
    int t = -1;
    TEST_EQ_I64(read_fixture("handmade.xlsx", NULL, &s, err, sizeof err),
                XLSX_OK);
    if (s == NULL) {
        fprintf(stderr, "handmade: %s\n", err);
        return;
    }
    TEST_EQ_STR(xlsx_sheet_name(s), "Datos");
    TEST_EQ_STR(cell(s, 1, 0, NULL), "account");
    TEST_EQ_STR(cell(s, 1, 1, NULL), "amount");
    TEST_EQ_STR(cell(s, 1, 2, NULL), "Rich text");     /* no PHONETIC */
    TEST_EQ_STR(cell(s, 2, 0, NULL), "M1");             /* no r: A2 */
    TEST_EQ_STR(cell(s, 2, 1, &t), "4");
    TEST_EQ_I64(t, XLSX_NUMBER);
    TEST_EQ_STR(cell(s, 2, 2, &t), "#N/A");
    TEST_EQ_I64(t, XLSX_ERROR);
    TEST_EQ_STR(cell(s, 4, 0, NULL), "M2");             /* first in file */
    TEST_EQ_STR(cell(s, 4, 1, &t), "2.5");              /* inline runs */
    TEST_EQ_I64(t, XLSX_STRING);
    TEST_EQ_STR(cell(s, 3, 0, &t), "M1");   /* no r: after the row 2 */
    TEST_EQ_I64(t, XLSX_STRING);
    TEST_EQ_STR(cell(s, 3, 1, &t), "1");
    TEST_EQ_I64(t, XLSX_BOOL);
    TEST_EQ_STR(cell(s, 3, 2, NULL), "second");         /* the later one */
    TEST_CHECK(cell(s, 6, 0, NULL) == NULL);            /* no value */
    size_t n = 0;
    const xlsx_cell_t *c = xlsx_cells(s, &n);
    TEST_EQ_I64(n, 11);
    TEST_CHECK(n > 0 && c[0].row == 1 && c[n - 1].row == 4);
    xlsx_free(s);
}

/* Numbers keep the text the file has: the caller rounds it. */
static void test_numbers(void)
{
    xlsx_sheet_t *s;
    char err[200];
    TEST_EQ_I64(read_fixture("numbers.xlsx", NULL, &s, err, sizeof err),
                XLSX_OK);
    if (s == NULL)
        return;
    TEST_EQ_STR(cell(s, 1, 0, NULL), "0.30000000000000004");
    TEST_EQ_STR(cell(s, 1, 1, NULL), "1.0000000000000001E-2");
    TEST_EQ_STR(cell(s, 1, 2, NULL), "-3E+2");
    xlsx_free(s);
}

static void test_fallback(void)
{
    xlsx_sheet_t *s;
    char err[200];
    TEST_EQ_I64(read_fixture("no_workbook.xlsx", NULL, &s, err, sizeof err),
                XLSX_OK);
    if (s == NULL)
        return;
    TEST_EQ_STR(xlsx_sheet_name(s), "");
    TEST_EQ_STR(cell(s, 1, 0, NULL), "x");
    xlsx_free(s);
}

/* Broken files: the code and a message that says what is wrong. */
static void expect_error(const char *name, const xlsx_limits_t *lim,
                         int want, const char *words)
{
    xlsx_sheet_t *s = (xlsx_sheet_t *)1;
    char err[200];
    int rc = read_fixture(name, lim, &s, err, sizeof err);
    TEST_EQ_I64(rc, want);
    TEST_CHECK(s == NULL);
    if (strstr(err, words) == NULL)
        TEST_FAIL_AT("%s: \"%s\" does not say \"%s\"", name, err, words);
}

static void test_broken(void)
{
    xlsx_limits_t small = { 1 << 20, 2 << 20, 1000000 };
    expect_error("truncated.xlsx", NULL, XLSX_ENOTZIP, "damaged");
    expect_error("not_xlsx.xlsx", NULL, XLSX_ENOTXLSX, "no xl/worksheets");
    expect_error("broken_xml.xlsx", NULL, XLSX_EXML, "mismatched tag");
    expect_error("dtd.xlsx", NULL, XLSX_EXML, "DTD");
    expect_error("bad_index.xlsx", NULL, XLSX_EXML, "shared string index");
    expect_error("bad_ref.xlsx", NULL, XLSX_EXML, "cell reference");
    expect_error("bomb.xlsx", &small, XLSX_ELIMIT, "uncompressed");
    xlsx_limits_t few = { 64 << 20, 64 << 20, 1000 };
    expect_error("bomb.xlsx", &few, XLSX_ELIMIT, "more than 1000 cells");

    /* the bomb within the default limits: 100000 cells */
    xlsx_sheet_t *s;
    char err[200];
    TEST_EQ_I64(read_fixture("bomb.xlsx", NULL, &s, err, sizeof err),
                XLSX_OK);
    size_t n = 0;
    if (s != NULL)
        xlsx_cells(s, &n);
    TEST_EQ_I64(n, 100000);
    xlsx_free(s);

    /* not a zip at all, and nothing */
    s = (xlsx_sheet_t *)1;
    TEST_EQ_I64(xlsx_read("account,amount\n", 15, NULL, &s, err, sizeof err),
                XLSX_ENOTZIP);
    TEST_CHECK(s == NULL);
    TEST_EQ_I64(xlsx_read("", 0, NULL, &s, err, sizeof err), XLSX_ENOTZIP);
    TEST_EQ_I64(xlsx_read("PK\3\4garbage", 11, NULL, &s, err, sizeof err),
                XLSX_ENOTZIP);
    TEST_EQ_I64(xlsx_read("\320\317\021\340\241\261\032\341", 8, NULL, &s,
                          err, sizeof err), XLSX_ENOTZIP);
    TEST_CHECK(strstr(err, ".xls") != NULL);
}

/* ---- bulk_csv ----------------------------------------------------------- */

typedef struct rec_log {
    char text[2048];
    int  stop_at;
    int  calls;
} rec_log_t;

/* Logs records as "line:f1|f2;" */
static int log_rec(void *arg, uint32_t line, char **f, uint32_t n)
{
    rec_log_t *l = arg;
    size_t len = strlen(l->text);       /* < sizeof: snprintf ends it */
    len += (size_t)snprintf(l->text + len, sizeof l->text - len, "%u:", line);
    for (uint32_t i = 0; i < n && len < sizeof l->text; i++)
        len += (size_t)snprintf(l->text + len, sizeof l->text - len, "%s%s",
                                i ? "|" : "", f[i]);
    if (len < sizeof l->text)
        snprintf(l->text + len, sizeof l->text - len, ";");
    return ++l->calls == l->stop_at ? 7 : 0;
}

static const char *csv(const char *s, size_t len, char *sep, int *rc)
{
    static rec_log_t l;
    char err[BCSV_ERR_MAX];
    memset(&l, 0, sizeof l);
    *rc = bcsv_parse(s, len, log_rec, &l, sep, err, sizeof err);
    if (*rc == -1)
        snprintf(l.text, sizeof l.text, "ERR %s", err);
    return l.text;
}

#define CSV(s, want)                                                          \
    do {                                                                      \
        char sep_;                                                            \
        int rc_;                                                              \
        TEST_EQ_STR(csv(s, sizeof(s) - 1, &sep_, &rc_), want);                \
    } while (0)

static void test_csv(void)
{
    CSV("a,b\n1,2\n", "1:a|b;2:1|2;");
    CSV("a,b\r\n1,2", "1:a|b;2:1|2;");                  /* CRLF, no EOL */
    CSV("\xef\xbb\xbf" "a;b\n1,5;2\n", "1:a|b;2:1,5|2;"); /* BOM, ';' */
    CSV("a,b\n\n1,2\n", "1:a|b;2:;3:1|2;");             /* blank line */
    CSV("a,b\n\"x,\"\"y\"\"\",2\n", "1:a|b;2:x,\"y\"|2;");
    CSV("a,b\n\"two\nlines\",2\n3,4\n", "1:a|b;2:two\nlines|2;4:3|4;");
    CSV("a,b\n1,\n", "1:a|b;2:1|;");
    CSV("a\rb\r", "1:a;2:b;");                          /* lone CR */
    CSV("a,b\nx\"y,2\n", "1:a|b;2:x\"y|2;");            /* lenient */
    CSV("a,b\n\"x\"y,2\n", "ERR line 2: text after a closing quote (a "
        "field is quoted whole: \"a \"\"b\"\" c\")");
    CSV("a,b\n\"open,2\n3,4\n", "ERR line 2: a quoted field is not closed");
    CSV("a,b\n1,\0002\n", "ERR line 2: a NUL byte: this is not a text file");
    CSV("a,b\n\xff\xfe,2\n", "ERR line 2: not UTF-8 text (byte 5); save "
        "the file as \"CSV UTF-8\"");
    CSV("a,b\n\xc0\xaf,2\n", "ERR line 2: not UTF-8 text (byte 5); save "
        "the file as \"CSV UTF-8\"");                   /* overlong */
    CSV("", "");
    char sep = 0;
    int rc = 0;
    csv("x;y,z;w\n", 8, &sep, &rc);
    TEST_EQ_I64(sep, ';');
    csv("\n\nx,y;z\n", 8, &sep, &rc);
    TEST_EQ_I64(sep, ',');
    /* the callback stops the parse */
    rec_log_t l;
    char err[BCSV_ERR_MAX];
    memset(&l, 0, sizeof l);
    l.stop_at = 2;
    TEST_EQ_I64(bcsv_parse("a\nb\nc\n", 6, log_rec, &l, NULL, err,
                           sizeof err), 7);
    TEST_EQ_I64(l.calls, 2);
    /* UTF-8 */
    size_t bad = 0;
    TEST_CHECK(bcsv_utf8_ok("a\xc3\xb1o \xe2\x82\xac \xf0\x9f\x98\x80", 13,
                            &bad));
    TEST_CHECK(!bcsv_utf8_ok("\xed\xa0\x80", 3, &bad));  /* surrogate */
    TEST_CHECK(!bcsv_utf8_ok("ab\xe2\x82", 4, &bad));    /* cut */
    TEST_EQ_I64(bad, 2);
}

/* Random damage to real files and random bytes: an error code or a sheet,
 * never a crash (run it under valgrind or ASan for more). */
static void test_fuzz(void)
{
    static const char *const names[] = { "basic.xlsx", "handmade.xlsx" };
    unsigned seed = 12345;
    int odd = 0;
    for (size_t f = 0; f < 2; f++) {
        size_t len = 0;
        char *orig = slurp(names[f], &len), err[200];
        char *buf = orig != NULL ? malloc(len) : NULL;
        for (int round = 0; buf != NULL && round < 400; round++) {
            memcpy(buf, orig, len);
            for (int k = 0; k < 1 + round % 8; k++) {
                seed = seed * 1103515245u + 12345u;
                buf[(seed >> 8) % len] = (char)(seed >> 24);
            }
            xlsx_sheet_t *s = NULL;
            int rc = xlsx_read(buf, len, NULL, &s, err, sizeof err);
            odd += (rc == XLSX_OK) != (s != NULL) || rc > 0 || rc < -5;
            xlsx_free(s);
        }
        free(buf);
        free(orig);
    }
    char junk[512];
    rec_log_t l;
    for (int round = 0; round < 400; round++) {
        for (size_t i = 0; i < sizeof junk; i++) {
            seed = seed * 1103515245u + 12345u;
            junk[i] = (char)"a,;\"\r\n\xc3\xa9 x"[(seed >> 16) % 11];
        }
        memset(&l, 0, sizeof l);
        char err[BCSV_ERR_MAX];
        int rc = bcsv_parse(junk, sizeof junk, log_rec, &l, NULL, err,
                            sizeof err);
        odd += rc != 0 && rc != -1;
    }
    TEST_EQ_I64(odd, 0);
}

int main(void)
{
    const char *top = getenv("APOLO_TOP");
    snprintf(fixdir, sizeof fixdir, "%s/tests/fixtures/xlsx",
             top && *top ? top : ".");
    test_refs();
    test_basic();
    test_gaps();
    test_two_sheets();
    test_handmade();
    test_numbers();
    test_fallback();
    test_broken();
    test_csv();
    test_fuzz();
    return TEST_REPORT();
}
