/*
 * bulk_csv.h -- a small RFC 4180 CSV reader for files people make with a
 * spreadsheet (bulk recharges, admin/api_bulk.c). The whole file is in
 * memory; each record is handed to a callback.
 *
 *   - UTF-8, an optional BOM; a NUL byte or invalid UTF-8 is an error (the
 *     file is not text)
 *   - separator ',' or ';', chosen from the first line that is not blank
 *     (Excel in Spanish locales writes ';'): the one that occurs more often
 *     there outside quotes; ',' when neither does
 *   - fields may be double-quoted ("" is a quote inside), and a quoted
 *     field may span lines; CRLF, LF (and a lone CR) end a record
 *   - a quote inside an unquoted field is kept as a character (lenient,
 *     as spreadsheets read it); text after a closing quote is an error
 *
 * Not deck_csv.h: that reader streams and knows the rate deck's columns;
 * this one knows no column and keeps quoted line breaks.
 * Thread safe: no state outside the call.
 */
#ifndef APOLO_BULK_CSV_H
#define APOLO_BULK_CSV_H

#include <stddef.h>
#include <stdint.h>

#define BCSV_ERR_MAX   160           /* error messages, with the NUL */
#define BCSV_MAX_FIELDS 256          /* fields of one record */

/* Called once per record, blank ones included (one empty unquoted field):
 * line is the file line the record starts on (1-based), fields[0..n-1]
 * NUL-terminated and unquoted (valid until the callback returns). Returns
 * 0 to go on, anything else to stop (bcsv_parse then returns it). */
typedef int (*bcsv_record_fn)(void *arg, uint32_t line, char **fields,
                              uint32_t n);

/*
 * Parses buf (len bytes). Returns 0 after every record, the callback's
 * non-zero value when it stopped, or -1 with err (cap bytes) telling the
 * line and what is wrong: not UTF-8, a NUL byte, an unclosed quote, text
 * after a closing quote, more than BCSV_MAX_FIELDS fields, out of memory.
 * *sep (may be NULL) gets the separator used.
 */
int bcsv_parse(const char *buf, size_t len, bcsv_record_fn fn, void *arg,
               char *sep, char *err, size_t cap);

/* 1 when buf[0..len) is valid UTF-8 (no overlongs, no surrogates), else 0
 * and *bad (may be NULL) the offset of the first bad byte. */
int bcsv_utf8_ok(const char *buf, size_t len, size_t *bad);

#endif
