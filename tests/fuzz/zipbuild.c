/*
 * zipbuild.c -- see zipbuild.h. libzip writes the archive into a memory
 * source that is kept past zip_close and read back.
 */
#include "zipbuild.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

static const char *const zb_names[ZB_PARTS] = {
    "xl/worksheets/sheet1.xml", "xl/sharedStrings.xml", "xl/workbook.xml",
    "xl/_rels/workbook.xml.rels", "xl/worksheets/sheet2.xml",
};

void *zb_from_parts(const void *in, size_t len, size_t *outlen)
{
    const char *p = in, *end = p + len;
    const size_t seplen = strlen(ZB_SEP);
    zip_error_t ze;
    void *out = NULL;

    zip_error_init(&ze);
    zip_source_t *mem = zip_source_buffer_create(NULL, 0, 0, &ze);
    if (mem == NULL)
        goto done;
    zip_source_keep(mem);
    zip_t *za = zip_open_from_source(mem, ZIP_TRUNCATE, &ze);
    if (za == NULL)
        goto done;
    for (int i = 0; i < ZB_PARTS && p <= end; i++) {
        const char *sep = memmem(p, (size_t)(end - p), ZB_SEP, seplen);
        const char *stop = sep != NULL ? sep : end;
        zip_source_t *s = zip_source_buffer(za, p, (zip_uint64_t)(stop - p),
                                            0);
        zip_int64_t idx = s != NULL ? zip_file_add(za, zb_names[i], s, 0)
                                    : -1;
        if (idx < 0) {
            zip_source_free(s);
            zip_discard(za);
            goto done;
        }
        zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
        if (sep == NULL)
            break;
        p = sep + seplen;
    }
    if (zip_close(za) != 0) {
        zip_discard(za);
        goto done;
    }
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_source_stat(mem, &st) != 0 || zip_source_open(mem) != 0)
        goto done;
    out = malloc(st.size + 1);
    if (out != NULL
        && zip_source_read(mem, out, st.size) != (zip_int64_t)st.size) {
        free(out);
        out = NULL;
    }
    zip_source_close(mem);
    *outlen = (size_t)st.size;
done:
    if (mem != NULL)
        zip_source_free(mem);
    zip_error_fini(&ze);
    return out;
}
