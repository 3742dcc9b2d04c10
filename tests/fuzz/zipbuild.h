/*
 * zipbuild.h -- an XLSX-shaped zip archive made in memory from parts, for
 * the fuzz targets that read XLSX (fuzz_xlsx.c, fuzz_bulk_file.c).
 *
 * Mutating a real .xlsx mostly breaks its CRCs and compressed streams, so
 * the XML inside is rarely reached. These targets therefore also take an
 * input made of XML parts separated by ZB_SEP; zb_from_parts stores each
 * part (uncompressed) under the name of its position:
 *
 *   0 xl/worksheets/sheet1.xml   2 xl/workbook.xml
 *   1 xl/sharedStrings.xml       3 xl/_rels/workbook.xml.rels
 *   4 xl/worksheets/sheet2.xml   (more parts are ignored)
 *
 * tests/fuzz/seeds.py writes the fixtures' parts in this form.
 */
#ifndef APOLO_ZIPBUILD_H
#define APOLO_ZIPBUILD_H

#include <stddef.h>

#define ZB_SEP     "\n@@PART@@\n"
#define ZB_PARTS   5

/* The zip of the parts of in[0..len): a malloc'd buffer and its length in
 * *outlen, or NULL (libzip failed: a bug here, not in the input). */
void *zb_from_parts(const void *in, size_t len, size_t *outlen);

#endif
