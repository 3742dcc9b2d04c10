/*
 * xml_cdr.h -- the bodies FreeSWITCH's CDR modules post (mod_xml_cdr,
 * mod_json_cdr), taken apart for admin/api_ingest.c.
 *
 * How the modules post (their `encode` parameter):
 *
 *   encode    Content-Type                        body
 *   true      application/x-www-form-urlencoded   "cdr=" percent-encoded doc
 *   base64    application/x-www-form-base64-encoded  "cdr=" base64 doc
 *   false     application/x-www-form-plaintext    "cdr=" doc as is
 *   textxml / application/json (newer releases)   the doc as is
 *
 * Inside the document, every channel variable's value is percent-encoded
 * by FreeSWITCH itself (both modules); that layer is left for the caller,
 * which decodes the values it uses.
 *
 * Pure functions of their input; no allocation survives an error.
 */
#ifndef APOLO_XML_CDR_H
#define APOLO_XML_CDR_H

#include <jansson.h>
#include <stddef.h>

#define XCDR_ERR_MAX      160
#define XCDR_MAX_VARS     4096      /* variables kept of one CDR */
#define XCDR_MAX_VALUE    65536     /* bytes of one element's text */

/*
 * Unwraps body (len bytes, NUL-terminated; modified in place) as the table
 * above says, choosing by content_type (may be NULL) and by the "cdr="
 * prefix: 0 and [*doc, *doclen) inside body, or -1 with err set (bad
 * base64, bad percent escape, empty document).
 */
int xcdr_unwrap(char *body, size_t len, const char *content_type,
                char **doc, size_t *doclen, char *err, size_t errcap);

/*
 * mod_xml_cdr's document in mod_json_cdr's shape, so that one reader takes
 * both: {"variables": {name: text...}, "callflow": [{"caller_profile":
 * {name: text...}}]} (the first callflow only: the one the call began
 * with). Texts are XML-unescaped, not percent-decoded. A DOCTYPE is
 * refused (no entity tricks); Expat's own limits stop entity expansion.
 * The new object, or NULL with err set (not well-formed, root is not
 * <cdr>, no <variables>, over the limits above).
 */
json_t *xcdr_to_json(const char *xml, size_t len, char *err, size_t errcap);

#endif
