/*
 * fuzz_bulk_file.c -- a bulk recharge file as admin/api_bulk.c reads it
 * before any account is looked up: bulk_read_file (CSV through
 * bulk_csv.h, or XLSX through xlsx.h, chosen by the zip magic or the
 * Content-Type), then each row's amount (bulk_amount: money_parse, the
 * decimal comma of ';' files, and bulk_num_money for XLSX numbers: text
 * like "1.0000000000000001E-2" rounded half-up in decimal) and reason.
 *
 * bulk_read_file and bulk_amount are static and take no request, so this
 * file includes admin/api_bulk.c (linked with http_stub.c's admin/http.c
 * for the rest of it, never called). Moving the "file and rows" part
 * (bulk_row_t, bulk_file_t, bulk_read_file, bulk_amount, bulk_num_money)
 * into admin/bulk_file.{h,c} would make it callable on its own.
 *
 * Input: byte 0 picks the Content-Type and whether the rest is the file
 * as is (CSV, or XLSX when it starts with PK) or XML parts to be zipped
 * (zipbuild.h). Beyond "no crash" (UBSan: no overflow in the decimal
 * arithmetic):
 *   - the file: read (0) with a header, 1..BULK_MAX_ROWS rows in strictly
 *     increasing lines, every value trimmed of blanks; or refused (-1)
 *     with status 400, 413 or 422 and a message;
 *   - an amount: valid rows have 0 < amount <= MONEY_AMOUNT_MAX, invalid
 *     ones a message; a text amount (CSV, XLSX string cell) is what
 *     money_parse says of the text (its decimal comma made a point in a
 *     ';' file); an XLSX number written as a plain decimal of at most 6
 *     decimals is exactly money_parse's value too (the rounding path must
 *     agree with the exact one where no rounding is due).
 */
#include "admin/api_bulk.c"

#include "fuzz.h"
#include "zipbuild.h"

static const char *const ctypes[] = {
    NULL, "text/csv", BULK_XLSX_TYPE, "application/octet-stream",
};
#define NCTYPES (sizeof ctypes / sizeof ctypes[0])

static int trimmed(const char *s)
{
    size_t n = strlen(s);
    return n == 0 || (s[0] != ' ' && s[0] != '\t' && s[n - 1] != ' '
                      && s[n - 1] != '\t');
}

/* s is "-?digits[.digits]" with at most 6 decimals: 1. */
static int plain_decimal(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    size_t d = strspn(s, "0123456789");
    if (d == 0)
        return 0;
    s += d;
    if (*s == '\0')
        return 1;
    if (*s != '.')
        return 0;
    size_t f = strspn(s + 1, "0123456789");
    return f <= MONEY_DECIMALS && s[1 + f] == '\0';
}

static void check_row(bulk_row_t *row, char sep)
{
    FUZZ_CHECK(trimmed(row->account) && trimmed(row->amount_text)
               && trimmed(row->reason), "line %u: a value not trimmed",
               row->line);
    int rc = bulk_amount(row, sep);
    if (rc != 0) {
        FUZZ_CHECK(row->status == BR_INVALID && row->error[0] != '\0',
                   "line %u: refused without a message", row->line);
        return;
    }
    FUZZ_CHECK(row->status == BR_VALID, "line %u: status %u", row->line,
               row->status);
    FUZZ_CHECK(row->amount > 0 && row->amount <= MONEY_AMOUNT_MAX,
               "line %u: amount %lld", row->line, (long long)row->amount);

    char t[64];
    money_t m = 0;
    snprintf(t, sizeof t, "%s", row->amount_text);
    char *comma = strchr(t, ',');
    if (!row->numeric) {
        if (sep == ';' && comma != NULL && strchr(comma + 1, ',') == NULL
            && strchr(t, '.') == NULL)
            *comma = '.';
        FUZZ_CHECK(money_parse(t, strlen(t), &m) == MONEY_OK
                   && m == row->amount, "line %u: \"%s\" is %lld, "
                   "money_parse says %lld", row->line, row->amount_text,
                   (long long)row->amount, (long long)m);
    } else if (plain_decimal(row->amount_text)) {
        FUZZ_CHECK(money_parse(t, strlen(t), &m) == MONEY_OK
                   && m == row->amount, "line %u: XLSX number \"%s\" is "
                   "%lld, money_parse says %lld", row->line,
                   row->amount_text, (long long)row->amount, (long long)m);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *ctype = ctypes[data[0] % NCTYPES];
    int parts = (data[0] >> 4) & 1;
    char *buf;
    size_t len;
    if (parts) {
        buf = zb_from_parts(data + 1, size - 1, &len);
        FUZZ_CHECK(buf != NULL, "zipbuild failed");
    } else {
        len = size - 1;
        buf = fuzz_dup(data + 1, len, 0);
    }

    bulk_file_t f;
    memset(&f, 0, sizeof f);
    int rc = bulk_read_file(&f, ctype, buf, len);
    if (rc != 0) {
        FUZZ_CHECK(rc == -1 && (f.status == 400 || f.status == 413
                                || f.status == 422) && f.err[0] != '\0',
                   "refused: rc %d status %d \"%s\"", rc, f.status, f.err);
    } else {
        FUZZ_CHECK(f.status == 0 && f.header && f.n >= 1
                   && f.n <= BULK_MAX_ROWS, "read: status %d, %zu rows",
                   f.status, f.n);
        FUZZ_CHECK(f.col[COL_ACCOUNT] >= 0 && f.col[COL_AMOUNT] >= 0,
                   "read without the required columns");
        FUZZ_CHECK(f.xlsx || f.sep == ',' || f.sep == ';', "separator");
        for (size_t i = 0; i < f.n; i++) {
            FUZZ_CHECK(i == 0 || f.rows[i - 1].line < f.rows[i].line,
                       "row %zu: line %u after %u", i, f.rows[i].line,
                       f.rows[i - 1].line);
            check_row(&f.rows[i], f.sep);
        }
    }
    bulk_file_free(&f);
    free(buf);
    return 0;
}
