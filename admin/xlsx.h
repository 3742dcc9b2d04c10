/*
 * xlsx.h -- reads the first worksheet of an XLSX file (Office Open XML
 * spreadsheet) from memory: libzip for the container, expat for the XML.
 * For bulk recharges (admin/api_bulk.c); knows nothing of their columns.
 *
 *   xlsx_read(buf, len, limits) -> xlsx_sheet_t: cells sorted by (row, col)
 *
 * The first sheet is the first <sheet> of xl/workbook.xml, found through
 * its relationship in xl/_rels/workbook.xml.rels (falling back to
 * xl/worksheets/sheet1.xml when either is missing). Cell values:
 *
 *   shared string (t="s")       the string of xl/sharedStrings.xml; rich
 *                               text runs concatenated, phonetic runs
 *                               (<rPh>) left out
 *   inline string (inlineStr)   its <is> text, the same way
 *   formula string (t="str")    the cached value
 *   number (no t, t="n")        the <v> text exactly as stored ("10.5",
 *                               "1.0000000000000001E-2"): never a double
 *   boolean (t="b")             "1" / "0" (type XLSX_BOOL)
 *   error (t="e")               "#N/A" ... (type XLSX_ERROR)
 *   date (t="d")                its ISO 8601 text (type XLSX_STRING)
 *
 * Cell references ("A1", "AA10") place a cell; a cell or row without one
 * follows the previous. Rows and cells may come in any order and with
 * gaps; a cell given twice keeps the last. Cells with no value are left
 * out.
 *
 * Limits (zip bombs, huge sheets): each part's uncompressed size, the sum
 * of the parts read, the number of cells. A DTD is refused (OOXML has
 * none; no entity expansion). Thread safe: no state outside the call.
 */
#ifndef APOLO_XLSX_H
#define APOLO_XLSX_H

#include <stddef.h>
#include <stdint.h>

enum {
    XLSX_OK = 0,
    XLSX_ENOTZIP = -1,         /* not a zip archive (or a broken one) */
    XLSX_ENOTXLSX = -2,        /* a zip, but no workbook / worksheet */
    XLSX_EXML = -3,            /* a part is not well-formed XML */
    XLSX_ELIMIT = -4,          /* a limit was passed */
    XLSX_ENOMEM = -5
};

typedef enum {
    XLSX_STRING = 0,
    XLSX_NUMBER = 1,
    XLSX_BOOL = 2,
    XLSX_ERROR = 3
} xlsx_type_t;

typedef struct xlsx_cell {
    uint32_t    row;           /* 1-based, as the sheet numbers it */
    uint32_t    col;           /* 0-based: A = 0, Z = 25, AA = 26 */
    uint8_t     type;          /* xlsx_type_t */
    uint32_t    order;         /* its position in the file (private) */
    const char *text;          /* NUL-terminated UTF-8, owned by the sheet */
} xlsx_cell_t;

typedef struct xlsx_limits {
    size_t max_part;           /* bytes of one uncompressed part */
    size_t max_total;          /* bytes of all the parts read */
    size_t max_cells;          /* cells with a value */
} xlsx_limits_t;

/* 64 MB a part, 128 MB in all, 2,000,000 cells. */
#define XLSX_LIMITS_DEFAULT { 64u << 20, 128u << 20, 2000000u }

typedef struct xlsx_sheet xlsx_sheet_t;

/*
 * Reads buf[0..len). limits NULL: XLSX_LIMITS_DEFAULT. XLSX_OK and *out
 * (free with xlsx_free), or an error code and err (cap bytes: what and
 * where, e.g. "xl/worksheets/sheet1.xml line 3: mismatched tag"); *out is
 * NULL then. buf is not kept.
 */
int xlsx_read(const void *buf, size_t len, const xlsx_limits_t *limits,
              xlsx_sheet_t **out, char *err, size_t cap);
void xlsx_free(xlsx_sheet_t *s);

/* The cells, sorted by row then column; valid until xlsx_free. */
const xlsx_cell_t *xlsx_cells(const xlsx_sheet_t *s, size_t *n);
/* The sheet's name in the workbook ("" when the fallback was used). */
const char *xlsx_sheet_name(const xlsx_sheet_t *s);

/* 1 when buf starts like a zip archive ("PK\3\4"). */
int xlsx_is_zip(const void *buf, size_t len);

/* "B7" -> row 7, col 1; 0, or -1 when ref is not a cell reference
 * (letters A..XFD then a row 1..1048576, nothing else). */
int xlsx_ref(const char *ref, uint32_t *row, uint32_t *col);

#endif
