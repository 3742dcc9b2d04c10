/*
 * fuzz_xlsx.c -- the XLSX reader of bulk recharges (admin/xlsx.h): libzip
 * for the container, expat for the parts.
 *
 * The input is either a whole file (it starts with "PK": the fixtures, a
 * zip bomb among them) or XML parts separated by ZB_SEP, stored into a
 * fresh zip (zipbuild.h) so that the mutations reach the XML handling.
 * Limits are small here (1 MiB a part, 4 MiB in all, 5000 cells) so that
 * they are reached.
 *
 * Beyond "no crash":
 *   - the result: XLSX_OK with a sheet, or an error code (never ENOMEM)
 *     with a message and no sheet; xlsx_is_zip agrees with the magic;
 *   - the cells: sorted by (row, col) without duplicates; rows 1..1048576
 *     and columns 0..16383 (Excel's grid, xlsx_ref's bounds); at most
 *     max_cells; a known type; text strict UTF-8 (expat's output) of at
 *     most 1 MiB; the sheet name shorter than 128 bytes;
 *   - xlsx_ref: the reference of every cell ("AB12") printed here parses
 *     back to the same row and column;
 *   - determinism: reading the same bytes twice gives the same cells.
 */
#include "fuzz.h"
#include "zipbuild.h"

#include "admin/xlsx.h"

static const xlsx_limits_t limits = { 1u << 20, 4u << 20, 5000 };

static void ref_of(uint32_t row, uint32_t col, char *out)
{
    char letters[8];
    int n = 0;
    uint32_t c = col + 1;
    while (c > 0) {
        letters[n++] = (char)('A' + (c - 1) % 26);
        c = (c - 1) / 26;
    }
    int k = 0;
    while (n > 0)
        out[k++] = letters[--n];
    sprintf(out + k, "%u", row);
}

static void check_sheet(const xlsx_sheet_t *sh, const xlsx_sheet_t *again)
{
    size_t n = 0, n2 = 0;
    const xlsx_cell_t *c = xlsx_cells(sh, &n);
    const xlsx_cell_t *c2 = xlsx_cells(again, &n2);
    FUZZ_CHECK(n <= limits.max_cells, "%zu cells", n);
    FUZZ_CHECK(n == n2, "%zu cells, then %zu", n, n2);
    FUZZ_CHECK(strlen(xlsx_sheet_name(sh)) < 128, "sheet name");
    FUZZ_CHECK(strcmp(xlsx_sheet_name(sh), xlsx_sheet_name(again)) == 0,
               "sheet name differs");
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(c[i].row >= 1 && c[i].row <= 1048576, "cell %zu: row %u",
                   i, c[i].row);
        FUZZ_CHECK(c[i].col < 16384, "cell %zu: column %u", i, c[i].col);
        FUZZ_CHECK(c[i].type <= XLSX_ERROR, "cell %zu: type %u", i,
                   c[i].type);
        FUZZ_CHECK(c[i].text != NULL, "cell %zu: no text", i);
        size_t len = strlen(c[i].text);
        FUZZ_CHECK(len <= (1u << 20), "cell %zu: %zu bytes", i, len);
        FUZZ_CHECK(fuzz_utf8_ok((const uint8_t *)c[i].text, len),
                   "cell %zu: not UTF-8", i);
        if (i > 0)
            FUZZ_CHECK(c[i - 1].row < c[i].row
                       || (c[i - 1].row == c[i].row
                           && c[i - 1].col < c[i].col),
                       "cells %zu (%u,%u) and %zu (%u,%u) out of order",
                       i - 1, c[i - 1].row, c[i - 1].col, i, c[i].row,
                       c[i].col);
        char ref[24];
        uint32_t r = 0, k = 0;
        ref_of(c[i].row, c[i].col, ref);
        FUZZ_CHECK(xlsx_ref(ref, &r, &k) == 0 && r == c[i].row
                   && k == c[i].col, "xlsx_ref(\"%s\") = %u,%u", ref, r, k);
        FUZZ_CHECK(c2[i].row == c[i].row && c2[i].col == c[i].col
                   && c2[i].type == c[i].type
                   && strcmp(c2[i].text, c[i].text) == 0,
                   "cell %zu differs on the second read", i);
    }
}

static void read_zip(const void *zip, size_t len)
{
    xlsx_sheet_t *sh = (xlsx_sheet_t *)1, *again = NULL;
    char err[200];
    err[0] = '\0';
    FUZZ_CHECK(xlsx_is_zip(zip, len) == (len >= 4 && !memcmp(zip, "PK\3\4",
               4)), "xlsx_is_zip");
    int rc = xlsx_read(zip, len, &limits, &sh, err, sizeof err);
    FUZZ_CHECK(rc == XLSX_OK || rc == XLSX_ENOTZIP || rc == XLSX_ENOTXLSX
               || rc == XLSX_EXML || rc == XLSX_ELIMIT, "xlsx_read = %d (%s)",
               rc, err);
    if (rc != XLSX_OK) {
        FUZZ_CHECK(sh == NULL && err[0] != '\0', "error %d: sheet %p, "
                   "message \"%s\"", rc, (void *)sh, err);
        return;
    }
    FUZZ_CHECK(sh != NULL, "XLSX_OK without a sheet");
    FUZZ_CHECK(xlsx_read(zip, len, &limits, &again, err, sizeof err)
               == XLSX_OK, "the second read fails: %s", err);
    check_sheet(sh, again);
    xlsx_free(again);
    xlsx_free(sh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* xlsx_ref on the raw bytes too (a C string: up to the first NUL) */
    char *s = fuzz_dup(data, size < 32 ? size : 32, 1);
    s[size < 32 ? size : 32] = '\0';
    uint32_t r = 0, c = 0;
    if (xlsx_ref(s, &r, &c) == 0)
        FUZZ_CHECK(r >= 1 && r <= 1048576 && c < 16384, "xlsx_ref(\"%s\") = "
                   "%u,%u", s, r, c);
    free(s);

    if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
        char *raw = fuzz_dup(data, size, 0);
        read_zip(raw, size);
        free(raw);
        return 0;
    }
    size_t zlen = 0;
    void *zip = zb_from_parts(data, size, &zlen);
    FUZZ_CHECK(zip != NULL, "zipbuild failed");
    read_zip(zip, zlen);
    free(zip);
    return 0;
}
